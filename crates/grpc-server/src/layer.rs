//! The tower hook: a server's layers wrap the [`Router`](crate::Router), and the resulting
//! service is erased here so the accept loop and the connections are not generic over it.
//!
//! Tower services take `&mut self` and are often not `Sync` (a `ConcurrencyLimit` holds a
//! pending permit future), so each connection keeps its own clone of the stack and clones it
//! again per call, waits for `poll_ready`, and calls it. Without layers the server skips all
//! of this and calls the router directly.

use grpc_core::{BoxError, BoxFuture, Status};
use tower_service::Service;

use crate::call::ServerCall;

/// A layered service stack, erased.
pub(crate) trait CallService: Send + 'static {
    fn clone_box(&self) -> Box<dyn CallService>;
    fn call(self: Box<Self>, call: ServerCall) -> BoxFuture<'static, Result<(), Status>>;
}

pub(crate) struct Erased<S>(pub(crate) S);

impl<S> CallService for Erased<S>
where
    S: Service<ServerCall, Response = ()> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    fn clone_box(&self) -> Box<dyn CallService> {
        Box::new(Erased(self.0.clone()))
    }

    fn call(self: Box<Self>, call: ServerCall) -> BoxFuture<'static, Result<(), Status>> {
        let mut service = self.0;
        Box::pin(async move {
            // An error here drops the call, which parks its stream halves; the dispatcher
            // answers with the status.
            std::future::poll_fn(|cx| service.poll_ready(cx))
                .await
                .map_err(error_to_status)?;
            service.call(call).await.map_err(error_to_status)
        })
    }
}

/// A layer's error as the status the client gets: a [`Status`] anywhere in the error's
/// source chain is used as it is; other errors map by [`Status::from_error`] (UNKNOWN with
/// the error's message, or the code an `io::Error` suggests).
pub(crate) fn error_to_status(error: impl Into<BoxError>) -> Status {
    let error: BoxError = error.into();
    match error.downcast::<Status>() {
        Ok(status) => *status,
        Err(error) => Status::from_error(&*error),
    }
}
