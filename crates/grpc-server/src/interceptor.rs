//! Interceptors: async code that runs around every routed call, in registration order.
//!
//! One trait covers gRPC-Go's two kinds. A `UnaryServerInterceptor` sees the decoded request
//! and the response; a `StreamServerInterceptor` sees the stream. Here an interceptor sees the
//! [`ServerCall`] before its messages are read (method, [`kind`](ServerCall::kind),
//! metadata, deadline, extensions) and the call's final status after
//! [`Next::run`]. That covers what interceptors are used for (authentication, metadata
//! rewriting, logging, metrics, rejecting calls, mapping errors) for all four kinds alike.
//! What it does not do is rewrite individual messages: wrap the handler for that.
//!
//! ```
//! use grpc_server::{Code, Next, ServerCall, Status, interceptor_fn};
//!
//! // Rejects calls without an API key, passes the caller's name to the handler, and logs
//! // each call's outcome.
//! #[derive(Clone, Debug)]
//! struct Caller(String);
//!
//! let auth = interceptor_fn(|mut call: ServerCall, next: Next| async move {
//!     let Some(key) = call.metadata().get("x-api-key") else {
//!         return Err(Status::unauthenticated("missing x-api-key"));
//!     };
//!     let caller = Caller(key.to_owned());
//!     call.extensions_mut().insert(caller);
//!     let method = call.path().to_owned();
//!     let result = next.run(call).await;
//!     let code = result.as_ref().err().map_or(Code::Ok, Status::code);
//!     println!("{method}: {code}");
//!     result
//! });
//! # let _ = grpc_server::Server::builder().interceptor(auth);
//! ```

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use grpc_core::{BoxFuture, Status};

use crate::call::ServerCall;
use crate::routes::Handler;

/// Code that runs around calls: reads and changes metadata and extensions, adds response
/// headers and trailers, rejects calls (return `Err` without calling `next`), or wraps them
/// (code before and after `next.run(call).await`, which returns the call's final status).
///
/// Interceptors run after routing (so [`ServerCall::kind`] is known; calls to unknown
/// methods never reach them) and inside the [tower layers](crate::ServerBuilder::layer), in
/// the order they were added: the first added is the outermost.
///
/// The status an interceptor returns is the one the client gets: an interceptor may replace
/// a handler's error, or turn success into an error (the response message is dropped then).
pub trait Interceptor: Send + Sync + 'static {
    /// Handles `call`, usually by passing it on with [`next.run(call)`](Next::run).
    fn intercept(&self, call: ServerCall, next: Next) -> BoxFuture<'static, Result<(), Status>>;
}

impl<I: Interceptor + ?Sized> Interceptor for Arc<I> {
    fn intercept(&self, call: ServerCall, next: Next) -> BoxFuture<'static, Result<(), Status>> {
        (**self).intercept(call, next)
    }
}

/// The rest of the chain after an interceptor: the next interceptors, then the handler.
pub struct Next {
    chain: Arc<[Arc<dyn Interceptor>]>,
    index: usize,
    handler: Arc<dyn Handler>,
}

impl Next {
    pub(crate) fn new(chain: Arc<[Arc<dyn Interceptor>]>, handler: Arc<dyn Handler>) -> Next {
        Next {
            chain,
            index: 0,
            handler,
        }
    }

    /// Passes the call on and resolves to its final status: `Ok(())` for OK, or the error
    /// the handler (or a later interceptor) returned.
    pub fn run(mut self, call: ServerCall) -> BoxFuture<'static, Result<(), Status>> {
        match self.chain.get(self.index).cloned() {
            Some(interceptor) => {
                self.index += 1;
                interceptor.intercept(call, self)
            }
            None => {
                call.responder.shared.set_reached_handler();
                self.handler.call(call)
            }
        }
    }
}

impl fmt::Debug for Next {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Next")
            .field("remaining_interceptors", &(self.chain.len() - self.index))
            .finish_non_exhaustive()
    }
}

/// An [`Interceptor`] from an async closure `Fn(ServerCall, Next) -> impl Future<Output =
/// Result<(), Status>>`.
pub fn interceptor_fn<F, Fut>(f: F) -> InterceptorFn<F>
where
    F: Fn(ServerCall, Next) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Status>> + Send + 'static,
{
    InterceptorFn { f }
}

/// The interceptor made by [`interceptor_fn`].
#[derive(Clone)]
pub struct InterceptorFn<F> {
    f: F,
}

impl<F> fmt::Debug for InterceptorFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InterceptorFn")
    }
}

impl<F, Fut> Interceptor for InterceptorFn<F>
where
    F: Fn(ServerCall, Next) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Status>> + Send + 'static,
{
    fn intercept(&self, call: ServerCall, next: Next) -> BoxFuture<'static, Result<(), Status>> {
        Box::pin((self.f)(call, next))
    }
}
