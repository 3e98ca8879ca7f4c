//! Starting a call: interceptors, deadline, credentials, request headers, opening the stream.
//!
//! Request headers follow PROTOCOL-HTTP2.md, "Requests":
//!
//! ```text
//! :method POST              :scheme http|https        :path /pkg.Service/Method
//! :authority host:port      content-type application/grpc     te trailers
//! user-agent grpc-rust/<version>    grpc-timeout <deadline>    grpc-encoding <name>
//! grpc-accept-encoding <names>      custom metadata, then credentials' metadata
//! ```

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use grpc_balancer_api::{CallOutcome, OnComplete, PickInfo};
use grpc_core::compression::{self, Compressor};
use grpc_core::credentials::{AuthContext, CallCredentials};
use grpc_core::stats::CallEvent;
use grpc_core::{Code, Extensions, Metadata, Status, headers};
use grpc_transport::ErrorCode;
use grpc_transport::connection::OpenError;
use grpc_transport::driver::{Error, RecvStream, SendStream};
use grpc_transport::hpack::HeaderField;
use tokio::time::Instant;

use crate::channel::ChannelInner;
use crate::interceptor::{CallContext, split_path};
use crate::options::CallOptions;
use crate::retry_policy::PREVIOUS_ATTEMPTS_HEADER;
use crate::service_config::MethodConfig;
use crate::stats::CallStats;
use crate::subchannel::ConnectionLease;

/// The `user-agent` this crate sends (after any prefix set with
/// [`ChannelBuilder::user_agent`](crate::ChannelBuilder::user_agent)).
pub(crate) const USER_AGENT: &str = concat!("grpc-rust/", env!("CARGO_PKG_VERSION"));

/// A call that passed its interceptors: everything needed to send its headers.
pub(crate) struct PreparedCall {
    pub(crate) context: CallContext,
    pub(crate) deadline: Option<Instant>,
    /// The call's timeout as configured (for error messages).
    timeout: Option<Duration>,
    /// Metadata from call credentials (sent as sensitive, never indexed by HPACK).
    credentials: Metadata,
    pub(crate) compressor: Option<Arc<dyn Compressor>>,
    pub(crate) max_decoding: usize,
    pub(crate) max_encoding: usize,
    wait_for_ready: bool,
    /// The service config's settings for this method (retries, hedging).
    pub(crate) method: Option<Arc<MethodConfig>>,
    /// The call's statistics (the channel's stats handler).
    pub(crate) stats: CallStats,
    /// When the call started.
    pub(crate) started: Instant,
}

impl PreparedCall {
    pub(crate) fn wait_for_ready(&self) -> bool {
        self.wait_for_ready
    }

    pub(crate) fn deadline_exceeded(&self) -> Status {
        deadline_exceeded(self.timeout)
    }

    /// The call's timeout as configured.
    pub(crate) fn timeout(&self) -> Option<Duration> {
        self.timeout
    }
}

pub(crate) fn deadline_exceeded(timeout: Option<Duration>) -> Status {
    match timeout {
        Some(timeout) => Status::deadline_exceeded(format!("deadline exceeded after {timeout:?}")),
        None => Status::deadline_exceeded("deadline exceeded"),
    }
}

/// Runs `future` until `deadline`; after it, drops the future (cancelling whatever stream it
/// holds) and fails with DEADLINE_EXCEEDED.
pub(crate) async fn within<T>(
    deadline: Option<Instant>,
    timeout: Option<Duration>,
    future: impl Future<Output = Result<T, Status>>,
) -> Result<T, Status> {
    match deadline {
        None => future.await,
        Some(deadline) => match tokio::time::timeout_at(deadline, future).await {
            Ok(result) => result,
            Err(_) => Err(deadline_exceeded(timeout)),
        },
    }
}

/// The earliest of the timeouts that are set, or the channel default if none is.
fn effective_timeout(
    request: Option<Duration>,
    options: Option<Duration>,
    default: Option<Duration>,
) -> Option<Duration> {
    match (request, options) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (Some(a), None) | (None, Some(a)) => Some(a),
        (None, None) => default,
    }
}

fn deadline_from(started: Instant, timeout: Option<Duration>) -> Option<Instant> {
    // A timeout too large to add is no deadline at all.
    timeout.and_then(|t| started.checked_add(t))
}

impl ChannelInner {
    /// Runs the interceptors and resolves the call's settings. `started` is when the call
    /// began: timeouts count from there.
    pub(crate) async fn prepare(
        &self,
        path: Cow<'static, str>,
        metadata: Metadata,
        mut extensions: Extensions,
        request_timeout: Option<Duration>,
        started: Instant,
        stats: CallStats,
    ) -> Result<PreparedCall, Status> {
        let options = extensions.remove::<CallOptions>().unwrap_or_default();
        let timeout = effective_timeout(request_timeout, options.timeout, self.default_timeout);
        let mut context = CallContext::new(path, metadata, options, extensions);
        if !self.interceptors.is_empty() {
            within(deadline_from(started, timeout), timeout, async {
                for interceptor in &self.interceptors {
                    interceptor.intercept(&mut context).await?;
                }
                Ok(())
            })
            .await?;
        }
        // Interceptors may have changed the options.
        let options = context.options();
        let mut timeout = effective_timeout(request_timeout, options.timeout, self.default_timeout);
        // The service config's method settings need the resolver's first answer (which may
        // carry the config): wait for it, within the call's deadline.
        within(deadline_from(started, timeout), timeout, async {
            self.balancer.wait_resolved().await;
            Ok(())
        })
        .await?;
        let config = self.balancer.service_config();
        let method = config
            .as_deref()
            .and_then(|config| config.method_config(context.path()))
            .cloned();
        if let Some(method_timeout) = method.as_ref().and_then(|m| m.timeout) {
            // The service config's timeout caps the call's (service_config.md, "timeout").
            timeout = Some(timeout.map_or(method_timeout, |t| t.min(method_timeout)));
        }
        let options = context.options();
        let wait_for_ready = options
            .wait_for_ready
            .or_else(|| method.as_ref().and_then(|m| m.wait_for_ready))
            .unwrap_or(false);
        let compressor = match options.compression {
            None => self.send_compressed.clone(),
            Some(name) => self.compressor(name).map_err(Status::internal)?,
        };
        let limit = |call: Option<usize>, channel: usize, method: Option<usize>| {
            let limit = call.unwrap_or(channel);
            method.map_or(limit, |m| limit.min(m))
        };
        Ok(PreparedCall {
            deadline: deadline_from(started, timeout),
            timeout,
            credentials: Metadata::new(),
            compressor,
            max_decoding: limit(
                options.max_decoding_message_size,
                self.max_decoding,
                method.as_ref().and_then(|m| m.max_response_message_bytes),
            ),
            max_encoding: limit(
                options.max_encoding_message_size,
                self.max_encoding,
                method.as_ref().and_then(|m| m.max_request_message_bytes),
            ),
            wait_for_ready,
            method,
            context,
            stats,
            started,
        })
    }

    /// The compressor for `name`: a custom one from `accept_compressed`, else a built-in one;
    /// `identity` is none.
    pub(crate) fn compressor(&self, name: &str) -> Result<Option<Arc<dyn Compressor>>, String> {
        if name == "identity" {
            return Ok(None);
        }
        match self
            .accept
            .get(name.as_bytes())
            .cloned()
            .or_else(|| compression::compressor_for(name))
        {
            Some(compressor) => Ok(Some(compressor)),
            None => Err(format!("compressor {name:?} is not installed")),
        }
    }

    /// Collects the metadata of the channel's and the call's credentials. Credentials that
    /// require transport security fail the call with UNAUTHENTICATED on a plaintext channel
    /// (unless allowed), before anything is sent.
    pub(crate) async fn authorize(&self, call: &mut PreparedCall) -> Result<(), Status> {
        let call_credentials = call.context.options().credentials.clone();
        let all = self.credentials.iter().chain(call_credentials.iter());
        let mut context: Option<AuthContext> = None;
        for credentials in all {
            self.check_security(credentials.as_ref())?;
            let context = context.get_or_insert_with(|| self.auth_context(call.context.path()));
            let metadata = credentials.metadata(context).await?;
            call.credentials.extend(metadata);
        }
        Ok(())
    }

    fn check_security(&self, credentials: &dyn CallCredentials) -> Result<(), Status> {
        if credentials.requires_transport_security()
            && !self.secure
            && !self.allow_insecure_credentials
        {
            return Err(Status::unauthenticated(
                "refusing to send call credentials over a plaintext connection \
                 (use TLS, or ChannelBuilder::allow_insecure_credentials)",
            ));
        }
        Ok(())
    }

    /// The credentials' view of a call: `service_url` is `scheme://authority/Service` with a
    /// default port left out (as gRPC-Go builds the JWT audience).
    fn auth_context(&self, path: &str) -> AuthContext {
        let scheme = if self.secure { "https" } else { "http" };
        let authority = self.authority_str();
        let default_port = if self.secure { ":443" } else { ":80" };
        let host = authority.strip_suffix(default_port).unwrap_or(authority);
        AuthContext {
            service_url: format!("{scheme}://{host}/{}", split_path(path).0),
            method: path.to_owned(),
            secure: self.secure,
        }
    }

    /// The request's header block.
    pub(crate) fn request_headers(
        &self,
        call: &PreparedCall,
        previous_attempts: u32,
    ) -> Result<Vec<HeaderField>, Status> {
        let metadata = call.context.metadata();
        let mut fields = Vec::with_capacity(10 + metadata.len() + call.credentials.len());
        let path = match call.context.path_cow() {
            Cow::Borrowed(path) => Bytes::from_static(path.as_bytes()),
            Cow::Owned(path) => Bytes::copy_from_slice(path.as_bytes()),
        };
        fields.push(field(":method", Bytes::from_static(b"POST")));
        fields.push(field(":scheme", self.scheme.clone()));
        fields.push(field(":path", path));
        fields.push(field(":authority", self.authority.clone()));
        fields.push(field(
            headers::CONTENT_TYPE,
            Bytes::from_static(headers::APPLICATION_GRPC.as_bytes()),
        ));
        fields.push(field(
            headers::TE,
            Bytes::from_static(headers::TRAILERS.as_bytes()),
        ));
        fields.push(field(headers::USER_AGENT, self.user_agent.clone()));
        if previous_attempts > 0 {
            // gRFC A6: a retried or hedged attempt says how many went before it.
            fields.push(field(
                PREVIOUS_ATTEMPTS_HEADER,
                Bytes::from(previous_attempts.to_string()),
            ));
        }
        if let Some(deadline) = call.deadline {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(call.deadline_exceeded());
            }
            fields.push(field(
                headers::GRPC_TIMEOUT,
                grpc_core::timeout::encode_timeout(remaining),
            ));
        }
        if let Some(compressor) = &call.compressor {
            fields.push(field(
                headers::GRPC_ENCODING,
                Bytes::from_static(compressor.name().as_bytes()),
            ));
        }
        if !self.accept_header.is_empty() {
            fields.push(field(
                headers::GRPC_ACCEPT_ENCODING,
                self.accept_header.clone(),
            ));
        }
        metadata.encode_header_fields(|name, value| {
            // A token put in metadata by hand is as secret as one from credentials.
            let sensitive = &name[..] == headers::AUTHORIZATION.as_bytes();
            fields.push(HeaderField {
                name,
                value,
                sensitive,
            });
        });
        call.credentials.encode_header_fields(|name, value| {
            fields.push(HeaderField::sensitive(name, value));
        });
        Ok(fields)
    }

    /// Picks a connection and opens the call's stream (HEADERS queued, not yet flushed). A
    /// connection that closed under us is replaced once: nothing was sent on it.
    pub(crate) async fn open_stream(
        &self,
        call: &PreparedCall,
        previous_attempts: u32,
    ) -> Result<OpenedStream, Status> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let info = PickInfo {
                path: call.context.path(),
                metadata: call.context.metadata(),
                extensions: call.context.extensions(),
            };
            let picked = self.balancer.pick(&info, call.wait_for_ready()).await?;
            let headers = self.request_headers(call, previous_attempts)?;
            match picked.client.send_request(headers, false) {
                Ok((send, recv)) => {
                    call.stats.event(&CallEvent::HeadersOut {
                        metadata: call.context.metadata(),
                    });
                    return Ok(OpenedStream {
                        address: picked.address,
                        send,
                        recv,
                        lease: picked.lease,
                        completion: Completion::new(picked.on_complete),
                    });
                }
                Err(error) => {
                    picked.lease.connection_unusable();
                    let status = status_from_transport(&error);
                    Completion::new(picked.on_complete).complete(&status, &Metadata::new());
                    if attempts >= 2 {
                        return Err(status);
                    }
                }
            }
        }
    }
}

/// A stream opened for a call on a picked connection.
pub(crate) struct OpenedStream {
    /// The backend the stream goes to.
    pub(crate) address: grpc_resolver_api::Addr,
    pub(crate) send: SendStream,
    pub(crate) recv: RecvStream,
    pub(crate) lease: ConnectionLease,
    /// Tells the picker how the call ended.
    pub(crate) completion: Completion,
}

impl OpenedStream {
    /// Records the backend on the call's span (the last attempt's, for retried calls).
    pub(crate) fn record_peer(&self, span: &tracing::Span) {
        span.record(
            "network.peer.address",
            tracing::field::display(&self.address),
        );
    }
}

/// The picker's completion callback of one call, called at most once (with CANCELLED if
/// the call is dropped before its outcome is known).
#[derive(Default)]
pub(crate) struct Completion(Option<OnComplete>);

impl Completion {
    pub(crate) fn new(on_complete: Option<OnComplete>) -> Completion {
        Completion(on_complete)
    }

    /// Reports the call's outcome (once; later reports are ignored).
    pub(crate) fn complete(&mut self, status: &Status, trailers: &Metadata) {
        if let Some(on_complete) = self.0.take() {
            on_complete(&CallOutcome { status, trailers });
        }
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        if self.0.is_some() {
            self.complete(&Status::cancelled("call dropped"), &Metadata::new());
        }
    }
}

impl std::fmt::Debug for Completion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Completion")
            .field(&self.0.is_some())
            .finish()
    }
}

fn field(name: &'static str, value: Bytes) -> HeaderField {
    HeaderField::new(Bytes::from_static(name.as_bytes()), value)
}

/// Maps a transport error to the status a caller sees (PROTOCOL-HTTP2.md, "Errors"): resets
/// by their HTTP/2 code, refused or never-processed streams and lost connections as
/// UNAVAILABLE.
pub(crate) fn status_from_transport(error: &Error) -> Status {
    match error {
        Error::Reset {
            never_processed: true,
            ..
        } => Status::unavailable(format!("stream refused by the server: {error}")),
        // The transport resets every stream of a connection that ends with CANCEL "from
        // us"; a reset of our own never gets here (the call's outcome is decided first).
        Error::Reset {
            code: ErrorCode::CANCEL,
            remote: false,
            ..
        } => Status::unavailable("connection lost"),
        Error::Reset { code, .. } => Status::new(Code::from_h2_error(code.0), error.to_string()),
        Error::Open(OpenError::InvalidHeaders(_)) | Error::Stream(_) => {
            Status::internal(error.to_string())
        }
        Error::Open(_)
        | Error::Io(_)
        | Error::Tls(_)
        | Error::Connection(_)
        | Error::ConnectionClosed => Status::unavailable(error.to_string()),
        _ => Status::unknown(error.to_string()),
    }
}

/// Whether the error means the connection cannot take new streams (it is going away).
pub(crate) fn connection_unusable(error: &Error) -> bool {
    matches!(
        error,
        Error::Open(OpenError::GoingAway | OpenError::StreamIdsExhausted)
            | Error::Connection(_)
            | Error::ConnectionClosed
            | Error::Io(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_timeout_wins_and_the_default_fills_in() {
        let s = Duration::from_secs;
        assert_eq!(
            effective_timeout(Some(s(5)), Some(s(3)), Some(s(1))),
            Some(s(3))
        );
        assert_eq!(effective_timeout(Some(s(2)), None, Some(s(9))), Some(s(2)));
        assert_eq!(effective_timeout(None, None, Some(s(9))), Some(s(9)));
        assert_eq!(effective_timeout(None, None, None), None);
    }

    #[test]
    fn transport_errors_map_to_grpc_codes() {
        let reset = |code, never_processed| Error::Reset {
            code,
            remote: true,
            never_processed,
        };
        assert_eq!(
            status_from_transport(&reset(ErrorCode::CANCEL, false)).code(),
            Code::Cancelled
        );
        assert_eq!(
            status_from_transport(&reset(ErrorCode::REFUSED_STREAM, true)).code(),
            Code::Unavailable
        );
        assert_eq!(
            status_from_transport(&reset(ErrorCode::PROTOCOL_ERROR, false)).code(),
            Code::Internal
        );
        assert_eq!(
            status_from_transport(&Error::Open(OpenError::GoingAway)).code(),
            Code::Unavailable
        );
        assert_eq!(
            status_from_transport(&Error::ConnectionClosed).code(),
            Code::Unavailable
        );
    }
}
