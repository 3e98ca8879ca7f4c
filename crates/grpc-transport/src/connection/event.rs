//! What the connection reports to the application, and the errors of its API.

use std::fmt;

use bytes::Bytes;

use crate::ErrorCode;
use crate::frame::StreamId;
use crate::hpack::HeaderField;

/// Something the application must know about, returned by
/// [`Connection::poll_event`](super::Connection::poll_event).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The peer's first SETTINGS arrived: the connection is established.
    Connected,
    /// A header block that opens a message: request headers on a server (the peer opened a
    /// stream), response headers on a client (informational 1xx responses included).
    Headers {
        /// The stream.
        stream: StreamId,
        /// The fields, pseudo-header fields first, validated per RFC 9113 §8.
        fields: Vec<HeaderField>,
        /// The peer will send nothing more on this stream.
        end_stream: bool,
    },
    /// Body data. Hand the length back with
    /// [`Connection::release_capacity`](super::Connection::release_capacity) once consumed,
    /// or the peer stops sending when the stream window is used up.
    Data {
        /// The stream.
        stream: StreamId,
        /// The bytes (padding already removed and credited).
        data: Bytes,
        /// The peer will send nothing more on this stream.
        end_stream: bool,
    },
    /// Trailers: a header block that ends the stream.
    Trailers {
        /// The stream.
        stream: StreamId,
        /// The fields.
        fields: Vec<HeaderField>,
    },
    /// The stream ended abnormally: the peer reset it, we reset it because the peer broke a
    /// rule, or the connection went away under it.
    StreamReset {
        /// The stream.
        stream: StreamId,
        /// The error code sent or received.
        code: ErrorCode,
        /// Whether the peer sent the reset (`true`) or we did (`false`).
        remote: bool,
        /// The peer never processed the stream, so the request may be retried elsewhere
        /// (REFUSED_STREAM, or above a GOAWAY's last stream id: RFC 9113 §8.7).
        never_processed: bool,
    },
    /// Both sides of the stream are done and its state was released. Always the last event
    /// of a stream.
    StreamClosed {
        /// The stream.
        stream: StreamId,
    },
    /// Queued data of a stream went out on the wire: `bytes` of buffer space are free again.
    SendBufferReleased {
        /// The stream.
        stream: StreamId,
        /// How many bytes left the stream's send buffer since the last such event.
        bytes: usize,
    },
    /// The peer sent GOAWAY. Streams above `last_stream_id` that we opened are reported as
    /// never processed; streams at or below it may complete.
    GoAway {
        /// The highest stream the peer may have processed.
        last_stream_id: StreamId,
        /// The peer's error code (NO_ERROR for a graceful shutdown).
        code: ErrorCode,
        /// The peer's debug data.
        debug_data: Bytes,
    },
    /// The acknowledgement of a PING sent with [`Connection::ping`](super::Connection::ping).
    PingAck {
        /// The payload echoed back.
        payload: [u8; 8],
    },
    /// The connection is finished: write out what [`Connection::poll_transmit`](
    /// super::Connection::poll_transmit) still yields, then close the transport. `None`
    /// means a clean close (graceful shutdown completed or the peer closed cleanly).
    Closed {
        /// Why the connection ended, if not cleanly.
        error: Option<ConnectionError>,
    },
}

/// Why a connection ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectionError {
    /// We detected a protocol violation (or an abuse limit) and sent GOAWAY with `code`.
    Local {
        /// The code sent.
        code: ErrorCode,
        /// What the peer did wrong; also sent as GOAWAY debug data.
        reason: &'static str,
    },
    /// The peer sent GOAWAY with an error code and then closed, or closed with streams open.
    Remote {
        /// The code received (NO_ERROR if the transport just ended).
        code: ErrorCode,
        /// The peer's debug data.
        debug_data: Bytes,
    },
    /// A keepalive PING went unanswered for [`KeepaliveConfig::timeout`](
    /// super::KeepaliveConfig::timeout).
    KeepaliveTimeout,
    /// The peer did not acknowledge our SETTINGS in time (§6.5.3).
    SettingsTimeout,
    /// The peer did not start with the HTTP/2 connection preface (§3.4).
    InvalidPreface(crate::frame::InvalidPreface),
    /// The transport closed in the middle of the connection.
    TransportClosed,
}

impl ConnectionError {
    /// The HTTP/2 error code that describes the failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            ConnectionError::Local { code, .. } | ConnectionError::Remote { code, .. } => *code,
            ConnectionError::KeepaliveTimeout | ConnectionError::TransportClosed => {
                ErrorCode::INTERNAL_ERROR
            }
            ConnectionError::SettingsTimeout => ErrorCode::SETTINGS_TIMEOUT,
            ConnectionError::InvalidPreface(_) => ErrorCode::PROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectionError::Local { code, reason } => {
                write!(f, "connection error {code} sent to peer: {reason}")
            }
            ConnectionError::Remote { code, debug_data } => {
                write!(f, "peer closed the connection with {code}")?;
                if !debug_data.is_empty() {
                    write!(f, ": {}", String::from_utf8_lossy(debug_data))?;
                }
                Ok(())
            }
            ConnectionError::KeepaliveTimeout => f.write_str("keepalive ping not acknowledged"),
            ConnectionError::SettingsTimeout => f.write_str("SETTINGS not acknowledged in time"),
            ConnectionError::InvalidPreface(kind) => {
                write!(f, "invalid HTTP/2 connection preface ({kind:?})")
            }
            ConnectionError::TransportClosed => f.write_str("transport closed unexpectedly"),
        }
    }
}

impl std::error::Error for ConnectionError {}

/// Why an application call on a stream was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamError {
    /// No such stream: never opened, or already closed and released.
    Unknown,
    /// Our side of the stream is already closed (END_STREAM or trailers were sent).
    SendClosed,
    /// The operation does not fit the stream's state (headers twice, data before headers).
    InvalidState,
    /// The stream was reset with this code.
    Reset(ErrorCode),
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamError::Unknown => f.write_str("unknown stream"),
            StreamError::SendClosed => f.write_str("stream already finished sending"),
            StreamError::InvalidState => f.write_str("operation invalid in the stream's state"),
            StreamError::Reset(code) => write!(f, "stream reset with {code}"),
        }
    }
}

impl std::error::Error for StreamError {}

/// Why [`Connection::open_stream`](super::Connection::open_stream) could not open a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// Only clients open streams (we never push).
    NotClient,
    /// The connection is going away (GOAWAY sent or received) or closed: open the stream on
    /// a new connection.
    GoingAway,
    /// The connection used up its stream ids (up to [`Config::max_stream_id`](
    /// super::Config::max_stream_id)): open the stream on a new connection.
    StreamIdsExhausted,
    /// The header fields are not a valid request (RFC 9113 §8.3.1).
    InvalidHeaders(&'static str),
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::NotClient => f.write_str("only a client opens streams"),
            OpenError::GoingAway => f.write_str("connection is going away"),
            OpenError::StreamIdsExhausted => f.write_str("connection has no stream ids left"),
            OpenError::InvalidHeaders(why) => write!(f, "invalid request headers: {why}"),
        }
    }
}

impl std::error::Error for OpenError {}
