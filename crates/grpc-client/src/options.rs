//! Per-call options: deadline, wait-for-ready, compression, message size limits, credentials.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use grpc_core::credentials::CallCredentials;

/// Options for one call. Attach them to a request's extensions; anything left `None` (or
/// `false`) falls back to the channel's setting.
///
/// ```
/// use std::time::Duration;
/// use grpc_client::{CallOptions, Request};
///
/// let mut request = Request::new(());
/// request.extensions_mut().insert(
///     CallOptions::new()
///         .timeout(Duration::from_secs(2))
///         .wait_for_ready(true)
///         .compression("gzip"),
/// );
/// ```
///
/// Interceptors see and may change the options of each call
/// ([`CallContext::options_mut`](crate::CallContext::options_mut)).
#[derive(Clone, Default)]
pub struct CallOptions {
    /// The call's timeout, counted from when the call starts. The deadline is the earliest of
    /// this, [`Request::set_timeout`](grpc_core::Request::set_timeout) and (when neither is
    /// set) the channel's default [`timeout`](crate::ChannelBuilder::timeout). It is sent as
    /// `grpc-timeout`; when it passes the call fails with DEADLINE_EXCEEDED and the stream is
    /// cancelled (RST_STREAM CANCEL).
    pub timeout: Option<Duration>,
    /// Wait for the channel to become ready instead of failing fast with UNAVAILABLE while it
    /// is in transient failure (gRPC's "wait for ready" semantics). The deadline still applies.
    /// `None`: the service config's `waitForReady` for the method, else `false`.
    pub wait_for_ready: Option<bool>,
    /// Compress request messages with this encoding (`"gzip"`, `"deflate"`, `"zstd"`, or a
    /// custom compressor registered with
    /// [`accept_compressed`](crate::ChannelBuilder::accept_compressed)); `"identity"` turns
    /// compression off for this call. `None`: the channel's
    /// [`send_compressed`](crate::ChannelBuilder::send_compressed).
    pub compression: Option<&'static str>,
    /// The largest response message accepted (after decompression); larger ones fail the call
    /// with RESOURCE_EXHAUSTED. `None`: the channel's limit (4 MiB by default).
    pub max_decoding_message_size: Option<usize>,
    /// The largest request message sent (after compression); larger ones fail with
    /// RESOURCE_EXHAUSTED without being sent. `None`: the channel's limit (unlimited by
    /// default).
    pub max_encoding_message_size: Option<usize>,
    /// Credentials for this call, used in addition to the channel's
    /// [`call_credentials`](crate::ChannelBuilder::call_credentials).
    pub credentials: Option<Arc<dyn CallCredentials>>,
}

impl CallOptions {
    /// Options that change nothing.
    pub fn new() -> CallOptions {
        CallOptions::default()
    }

    /// Sets [`timeout`](CallOptions#structfield.timeout).
    pub fn timeout(mut self, timeout: Duration) -> CallOptions {
        self.timeout = Some(timeout);
        self
    }

    /// Sets [`wait_for_ready`](CallOptions#structfield.wait_for_ready).
    pub fn wait_for_ready(mut self, wait_for_ready: bool) -> CallOptions {
        self.wait_for_ready = Some(wait_for_ready);
        self
    }

    /// Sets [`compression`](CallOptions#structfield.compression).
    pub fn compression(mut self, encoding: &'static str) -> CallOptions {
        self.compression = Some(encoding);
        self
    }

    /// Sets [`max_decoding_message_size`](CallOptions#structfield.max_decoding_message_size).
    pub fn max_decoding_message_size(mut self, limit: usize) -> CallOptions {
        self.max_decoding_message_size = Some(limit);
        self
    }

    /// Sets [`max_encoding_message_size`](CallOptions#structfield.max_encoding_message_size).
    pub fn max_encoding_message_size(mut self, limit: usize) -> CallOptions {
        self.max_encoding_message_size = Some(limit);
        self
    }

    /// Sets [`credentials`](CallOptions#structfield.credentials).
    pub fn credentials(mut self, credentials: Arc<dyn CallCredentials>) -> CallOptions {
        self.credentials = Some(credentials);
        self
    }
}

impl fmt::Debug for CallOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallOptions")
            .field("timeout", &self.timeout)
            .field("wait_for_ready", &self.wait_for_ready)
            .field("compression", &self.compression)
            .field("max_decoding_message_size", &self.max_decoding_message_size)
            .field("max_encoding_message_size", &self.max_encoding_message_size)
            .field("credentials", &self.credentials.as_ref().map(|_| "..."))
            .finish()
    }
}
