//! A gRPC request as the application sees it, on either side of a call: custom metadata, the
//! message (or a message stream), extensions and the timeout.

use std::time::Duration;

use crate::extensions::Extensions;
use crate::metadata::Metadata;

/// The timeout of a request, kept in its extensions so that it survives
/// [`Request::into_parts`] / [`Request::from_parts`] (for example through an interceptor that
/// rebuilds the request).
#[derive(Clone, Copy, Debug)]
struct RequestTimeout(Duration);

/// A request: metadata (custom request headers), the message, extensions, and a timeout.
///
/// On the client the timeout is sent as `grpc-timeout`; on the server it is the timeout the
/// client sent.
#[derive(Debug)]
pub struct Request<T> {
    metadata: Metadata,
    message: T,
    extensions: Extensions,
}

impl<T> Request<T> {
    /// A request with `message`, empty metadata and no timeout.
    pub fn new(message: T) -> Self {
        Request {
            metadata: Metadata::new(),
            message,
            extensions: Extensions::new(),
        }
    }

    /// A request from its parts (the inverse of [`into_parts`](Self::into_parts)).
    pub fn from_parts(metadata: Metadata, extensions: Extensions, message: T) -> Self {
        Request {
            metadata,
            message,
            extensions,
        }
    }

    /// The message.
    pub fn get_ref(&self) -> &T {
        &self.message
    }

    /// The message, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.message
    }

    /// The message, dropping the rest.
    pub fn into_inner(self) -> T {
        self.message
    }

    /// Metadata, extensions (which carry the timeout) and message.
    pub fn into_parts(self) -> (Metadata, Extensions, T) {
        (self.metadata, self.extensions, self.message)
    }

    /// The custom metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The custom metadata, mutably.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.metadata
    }

    /// The extensions.
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// The extensions, mutably.
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        &mut self.extensions
    }

    /// Sets the timeout of the call (client: sent as `grpc-timeout`).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.extensions.insert(RequestTimeout(timeout));
    }

    /// The timeout, if one was set (server: the one the client sent).
    pub fn timeout(&self) -> Option<Duration> {
        self.extensions.get::<RequestTimeout>().map(|t| t.0)
    }

    /// Removes the timeout, returning it.
    pub fn clear_timeout(&mut self) -> Option<Duration> {
        self.extensions.remove::<RequestTimeout>().map(|t| t.0)
    }

    /// Replaces the message with `f(message)`, keeping metadata, extensions and timeout.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Request<U> {
        Request {
            metadata: self.metadata,
            message: f(self.message),
            extensions: self.extensions,
        }
    }
}

/// Anything that can become a [`Request`]: a message, or a request itself. Generated client
/// methods take `impl IntoRequest<Message>`.
pub trait IntoRequest<T> {
    /// Wraps `self` in a request (or returns the request as it is).
    fn into_request(self) -> Request<T>;
}

impl<T> IntoRequest<T> for T {
    fn into_request(self) -> Request<T> {
        Request::new(self)
    }
}

impl<T> IntoRequest<T> for Request<T> {
    fn into_request(self) -> Request<T> {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_survives_parts() {
        let mut req = Request::new(1u8);
        assert_eq!(req.timeout(), None);
        req.set_timeout(Duration::from_secs(3));
        let (md, ext, msg) = req.into_parts();
        let req = Request::from_parts(md, ext, msg).map(u16::from);
        assert_eq!(req.timeout(), Some(Duration::from_secs(3)));
        assert_eq!(*req.get_ref(), 1u16);
        let req: Request<u16> = 5u16.into_request();
        assert_eq!(req.into_inner(), 5);
    }
}
