//! Errors seen by users of the driver's handles.

use std::fmt;
use std::io;
use std::sync::Arc;

use crate::ErrorCode;
use crate::connection::{ConnectionError, OpenError, StreamError};

/// An error from an HTTP/2 connection or one of its streams.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing the transport failed.
    Io(Arc<io::Error>),
    /// TLS setup failed, or the peer did not agree on ALPN "h2".
    Tls(String),
    /// The connection ended with this error.
    Connection(ConnectionError),
    /// The connection is closed (cleanly, or its task is gone).
    ConnectionClosed,
    /// The stream could not be opened.
    Open(OpenError),
    /// The stream was reset.
    Reset {
        /// The RST_STREAM code.
        code: ErrorCode,
        /// The peer reset it (rather than we, after a protocol error of the peer's).
        remote: bool,
        /// The peer never processed the stream: the request may be retried safely.
        never_processed: bool,
    },
    /// The operation does not fit the stream's state.
    Stream(StreamError),
}

impl Error {
    /// Whether the request certainly was not processed by the peer and may be retried on
    /// another connection (REFUSED_STREAM, above a GOAWAY's last stream id, or never sent).
    pub fn is_never_processed(&self) -> bool {
        match self {
            Error::Reset {
                never_processed, ..
            } => *never_processed,
            Error::Open(OpenError::GoingAway | OpenError::StreamIdsExhausted) => true,
            _ => false,
        }
    }

    /// The HTTP/2 error code behind the error, if there is one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Reset { code, .. } => Some(*code),
            Error::Connection(error) => Some(error.code()),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(error) => write!(f, "transport I/O error: {error}"),
            Error::Tls(message) => write!(f, "TLS error: {message}"),
            Error::Connection(error) => error.fmt(f),
            Error::ConnectionClosed => f.write_str("connection closed"),
            Error::Open(error) => write!(f, "could not open stream: {error}"),
            Error::Reset {
                code,
                remote,
                never_processed,
            } => {
                let by = if *remote { "peer" } else { "us" };
                write!(f, "stream reset by {by} with {code}")?;
                if *never_processed {
                    f.write_str(" (never processed)")?;
                }
                Ok(())
            }
            Error::Stream(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(error) => Some(error.as_ref()),
            Error::Connection(error) => Some(error),
            Error::Open(error) => Some(error),
            Error::Stream(error) => Some(error),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(error: io::Error) -> Error {
        Error::Io(Arc::new(error))
    }
}
