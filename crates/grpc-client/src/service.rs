//! tower [`Service`] implementations, so tower middleware (timeouts, rate limits, retries,
//! load shedding, ...) can wrap calls.
//!
//! - [`UnaryService`]: unary calls to one method with one codec, typed messages.
//! - [`Channel`] itself: unary calls to any method with raw (already serialized) messages,
//!   [`RawRequest`] in, `Response<Bytes>` out.
//!
//! Readiness is honest: `poll_ready` is ready when the channel is connected, pending while
//! it connects (starting a connection if it is idle), and fails with UNAVAILABLE while it is
//! in transient failure, which is when a call would fail fast anyway. A failed channel keeps
//! reconnecting in the background, so a later `poll_ready` can succeed again.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use grpc_core::codec::BytesCodec;
use grpc_core::{BoxFuture, Codec, Request, Response, Status};
use tower_service::Service;

use crate::channel::Channel;

/// Unary calls to one method as a tower [`Service`]. Made by [`Channel::unary_service`].
///
/// ```no_run
/// use bytes::Bytes;
/// use grpc_client::{Channel, Request};
/// use grpc_core::codec::BytesCodec;
/// use tower::ServiceExt;
///
/// # async fn example() -> Result<(), grpc_client::Status> {
/// let channel = Channel::builder("http://127.0.0.1:50051").connect_lazy()?;
/// let say_hello = channel.unary_service("/helloworld.Greeter/SayHello", BytesCodec);
/// let response = say_hello.oneshot(Request::new(Bytes::new())).await?;
/// # let _ = response;
/// # Ok(())
/// # }
/// ```
pub struct UnaryService<C> {
    channel: Channel,
    path: &'static str,
    codec: Arc<C>,
}

impl<C> UnaryService<C> {
    pub(crate) fn new(channel: Channel, path: &'static str, codec: C) -> UnaryService<C> {
        UnaryService {
            channel,
            path,
            codec: Arc::new(codec),
        }
    }

    /// The method path this service calls.
    pub fn path(&self) -> &'static str {
        self.path
    }
}

impl<C> Clone for UnaryService<C> {
    fn clone(&self) -> Self {
        UnaryService {
            channel: self.channel.clone(),
            path: self.path,
            codec: self.codec.clone(),
        }
    }
}

impl<C> fmt::Debug for UnaryService<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnaryService")
            .field("channel", &self.channel)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl<C: Codec> Service<Request<C::Encode>> for UnaryService<C> {
    type Response = Response<C::Decode>;
    type Error = Status;
    type Future = BoxFuture<'static, Result<Response<C::Decode>, Status>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        self.channel.inner.balancer.poll_ready(cx)
    }

    fn call(&mut self, request: Request<C::Encode>) -> Self::Future {
        let channel = self.channel.clone();
        let codec = self.codec.clone();
        let path = self.path;
        Box::pin(async move {
            channel
                .unary_call(request, Cow::Borrowed(path), &*codec)
                .await
        })
    }
}

/// A unary call with a serialized request message, for [`Channel`]'s tower
/// [`Service`] impl (proxies, gateways, generic tooling).
#[derive(Debug)]
pub struct RawRequest {
    path: Cow<'static, str>,
    request: Request<Bytes>,
}

impl RawRequest {
    /// A call to `path` (`/package.Service/Method`) with the serialized message in `request`.
    pub fn new(path: impl Into<Cow<'static, str>>, request: Request<Bytes>) -> RawRequest {
        RawRequest {
            path: path.into(),
            request,
        }
    }

    /// The method path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The request.
    pub fn request(&self) -> &Request<Bytes> {
        &self.request
    }

    /// The request, mutably (metadata, extensions, message).
    pub fn request_mut(&mut self) -> &mut Request<Bytes> {
        &mut self.request
    }
}

impl Service<RawRequest> for Channel {
    type Response = Response<Bytes>;
    type Error = Status;
    type Future = BoxFuture<'static, Result<Response<Bytes>, Status>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        self.inner.balancer.poll_ready(cx)
    }

    fn call(&mut self, raw: RawRequest) -> Self::Future {
        let channel = self.clone();
        Box::pin(async move {
            if !is_method_path(&raw.path) {
                return Err(Status::invalid_argument(format!(
                    "invalid method path {:?} (expected /package.Service/Method)",
                    raw.path
                )));
            }
            channel.unary_call(raw.request, raw.path, &BytesCodec).await
        })
    }
}

/// `/service/method`, both parts non-empty, printable ASCII without spaces.
fn is_method_path(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    let Some((service, method)) = rest.split_once('/') else {
        return false;
    };
    !service.is_empty()
        && !method.is_empty()
        && !method.contains('/')
        && path.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_paths_need_a_service_and_a_method() {
        assert!(is_method_path("/helloworld.Greeter/SayHello"));
        assert!(!is_method_path("helloworld.Greeter/SayHello"));
        assert!(!is_method_path("/helloworld.Greeter"));
        assert!(!is_method_path("/a/b/c"));
        assert!(!is_method_path("//b"));
        assert!(!is_method_path("/a b/c"));
    }
}
