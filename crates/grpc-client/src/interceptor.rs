//! Interceptors: async hooks that see every call before it is sent, and may change its
//! metadata and options, or fail it.
//!
//! Interceptors run in the order they were added to the [`ChannelBuilder`](crate::ChannelBuilder),
//! before call credentials are applied and before a connection is picked, under the call's
//! deadline. An interceptor that returns an error fails the call with that status; nothing is
//! sent. For wrapping the whole exchange (responses included), use a tower layer around
//! [`UnaryService`](crate::UnaryService) instead.

use std::borrow::Cow;
use std::fmt;

use grpc_core::{BoxFuture, Extensions, Metadata, Status};

use crate::options::CallOptions;

/// A call as an interceptor sees it: method, request metadata, options and extensions.
pub struct CallContext {
    path: Cow<'static, str>,
    metadata: Metadata,
    options: CallOptions,
    extensions: Extensions,
}

impl CallContext {
    pub(crate) fn new(
        path: Cow<'static, str>,
        metadata: Metadata,
        options: CallOptions,
        extensions: Extensions,
    ) -> CallContext {
        CallContext {
            path,
            metadata,
            options,
            extensions,
        }
    }

    /// The full method path, `/package.Service/Method`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The service part of the path, `package.Service`.
    pub fn service(&self) -> &str {
        split_path(&self.path).0
    }

    /// The method part of the path, `Method`.
    pub fn method(&self) -> &str {
        split_path(&self.path).1
    }

    /// The request metadata (custom headers) to be sent.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The request metadata, to add or remove entries.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.metadata
    }

    /// The call's options.
    pub fn options(&self) -> &CallOptions {
        &self.options
    }

    /// The call's options, to change (a timeout set here still counts from the call's start).
    pub fn options_mut(&mut self) -> &mut CallOptions {
        &mut self.options
    }

    /// The request's extensions (values passed from the caller to interceptors).
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// The request's extensions, mutably.
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        &mut self.extensions
    }

    pub(crate) fn path_cow(&self) -> &Cow<'static, str> {
        &self.path
    }
}

impl fmt::Debug for CallContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallContext")
            .field("path", &self.path)
            .field("metadata", &self.metadata)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// The service and method of a call's path, as the server will see them: both empty when the
/// path is malformed (the server answers such a call UNIMPLEMENTED).
pub(crate) fn split_path(path: &str) -> (&str, &str) {
    grpc_core::headers::split_path(path).unwrap_or(("", ""))
}

/// A hook run before every call of a channel.
///
/// ```
/// use grpc_client::{CallContext, Interceptor, Status};
/// use grpc_core::BoxFuture;
///
/// /// Adds a request id to every call.
/// struct RequestId;
///
/// impl Interceptor for RequestId {
///     fn intercept<'a>(&'a self, call: &'a mut CallContext) -> BoxFuture<'a, Result<(), Status>> {
///         Box::pin(async move {
///             call.metadata_mut()
///                 .insert("x-request-id", "42")
///                 .map_err(|e| Status::internal(e.to_string()))
///         })
///     }
/// }
/// ```
pub trait Interceptor: Send + Sync + 'static {
    /// Inspects and changes the call; an error fails it with that status.
    fn intercept<'a>(&'a self, call: &'a mut CallContext) -> BoxFuture<'a, Result<(), Status>>;
}

/// Makes an [`Interceptor`] from a synchronous closure.
///
/// ```
/// use grpc_client::{Status, interceptor_fn};
///
/// let reject_admin = interceptor_fn(|call| {
///     if call.service() == "admin.Admin" {
///         return Err(Status::permission_denied("no admin calls from here"));
///     }
///     Ok(())
/// });
/// # let _ = reject_admin;
/// ```
pub fn interceptor_fn<F>(f: F) -> InterceptorFn<F>
where
    F: Fn(&mut CallContext) -> Result<(), Status> + Send + Sync + 'static,
{
    InterceptorFn { f }
}

/// An [`Interceptor`] made from a closure by [`interceptor_fn`].
#[derive(Clone)]
pub struct InterceptorFn<F> {
    f: F,
}

impl<F> fmt::Debug for InterceptorFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InterceptorFn").finish_non_exhaustive()
    }
}

impl<F> Interceptor for InterceptorFn<F>
where
    F: Fn(&mut CallContext) -> Result<(), Status> + Send + Sync + 'static,
{
    fn intercept<'a>(&'a self, call: &'a mut CallContext) -> BoxFuture<'a, Result<(), Status>> {
        let result = (self.f)(call);
        Box::pin(std::future::ready(result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_service_and_method() {
        assert_eq!(
            split_path("/helloworld.Greeter/SayHello"),
            ("helloworld.Greeter", "SayHello")
        );
        assert_eq!(split_path("/odd"), ("", ""));
        assert_eq!(split_path("/a/b/c"), ("", ""));
        assert_eq!(split_path(""), ("", ""));
    }
}
