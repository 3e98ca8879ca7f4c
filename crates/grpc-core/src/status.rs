//! The result of a call: a [`Code`], a message, optional details and trailing metadata
//! (`PROTOCOL-HTTP2.md`, "Responses": Status, Status-Message, and `grpc-status-details-bin`
//! from the gRPC error model).
//!
//! On the wire a status travels in trailers (or in a Trailers-Only HEADERS block):
//!
//! ```text
//! Status  → "grpc-status" 1*DIGIT ; 0-9
//! Status-Message → "grpc-message" Percent-Encoded
//! ```

use std::error::Error;
use std::fmt;
use std::io;

use bytes::Bytes;

use crate::code::Code;
use crate::headers;
use crate::metadata::{self, FieldOctets, Metadata};
use crate::percent::{decode_grpc_message, encode_grpc_message};

/// A gRPC status: the outcome of a call, and the error type of every fallible call API.
///
/// It is returned by value; it holds a code, a UTF-8 message, opaque `details` (by convention a
/// serialized `google.rpc.Status`, sent as `grpc-status-details-bin`) and metadata that travels
/// with it in the trailers.
#[derive(Clone)]
pub struct Status {
    code: Code,
    message: String,
    details: Bytes,
    metadata: Metadata,
}

macro_rules! constructors {
    ($($(#[$doc:meta])* $name:ident => $code:ident,)*) => {
        $(
            $(#[$doc])*
            pub fn $name(message: impl Into<String>) -> Status {
                Status::new(Code::$code, message)
            }
        )*
    };
}

impl Status {
    /// A status with `code` and `message`, no details and no metadata.
    pub fn new(code: Code, message: impl Into<String>) -> Status {
        Status {
            code,
            message: message.into(),
            details: Bytes::new(),
            metadata: Metadata::new(),
        }
    }

    /// OK, without a message.
    pub fn ok() -> Status {
        Status::new(Code::Ok, String::new())
    }

    constructors! {
        /// CANCELLED with `message`.
        cancelled => Cancelled,
        /// UNKNOWN with `message`.
        unknown => Unknown,
        /// INVALID_ARGUMENT with `message`.
        invalid_argument => InvalidArgument,
        /// DEADLINE_EXCEEDED with `message`.
        deadline_exceeded => DeadlineExceeded,
        /// NOT_FOUND with `message`.
        not_found => NotFound,
        /// ALREADY_EXISTS with `message`.
        already_exists => AlreadyExists,
        /// PERMISSION_DENIED with `message`.
        permission_denied => PermissionDenied,
        /// RESOURCE_EXHAUSTED with `message`.
        resource_exhausted => ResourceExhausted,
        /// FAILED_PRECONDITION with `message`.
        failed_precondition => FailedPrecondition,
        /// ABORTED with `message`.
        aborted => Aborted,
        /// OUT_OF_RANGE with `message`.
        out_of_range => OutOfRange,
        /// UNIMPLEMENTED with `message`.
        unimplemented => Unimplemented,
        /// INTERNAL with `message`.
        internal => Internal,
        /// UNAVAILABLE with `message`.
        unavailable => Unavailable,
        /// DATA_LOSS with `message`.
        data_loss => DataLoss,
        /// UNAUTHENTICATED with `message`.
        unauthenticated => Unauthenticated,
    }

    /// A status with `details`, sent as `grpc-status-details-bin` (by convention a serialized
    /// `google.rpc.Status` whose code and message match this status).
    pub fn with_details(code: Code, message: impl Into<String>, details: Bytes) -> Status {
        Status {
            details,
            ..Status::new(code, message)
        }
    }

    /// The code.
    pub fn code(&self) -> Code {
        self.code
    }

    /// The message (may be empty).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The details (empty when there are none).
    pub fn details(&self) -> &Bytes {
        &self.details
    }

    /// The metadata sent or received with the status (trailers).
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// Mutable access to the metadata sent with the status.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.metadata
    }

    /// Is the code OK?
    pub fn is_ok(&self) -> bool {
        self.code == Code::Ok
    }

    /// Parses trailers, or a Trailers-Only HEADERS block.
    ///
    /// Returns `None` when there is no `grpc-status` field. Otherwise: `grpc-status` must be a
    /// decimal number (an unparsable one gives UNKNOWN with a message saying so, and a number
    /// outside 0..=16 gives UNKNOWN); `grpc-message` is percent-decoded and never fails;
    /// `grpc-status-details-bin` is base64, padded or not (a bad value is ignored). The other
    /// fields become the status's metadata by the rules of [`Metadata::from_header_fields`],
    /// except that invalid entries are skipped instead of failing.
    ///
    /// The fields are borrowed, so kept values are copied; see
    /// [`from_header_field_bytes`](Self::from_header_field_bytes) to share them instead.
    pub fn from_header_fields<'a>(
        fields: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
    ) -> Option<Status> {
        Self::parse_fields(fields)
    }

    /// As [`from_header_fields`](Self::from_header_fields), from `Bytes` fields: metadata values
    /// are kept as slices of them instead of copies. (Added to the shared API for the hot path.)
    pub fn from_header_field_bytes<'a>(
        fields: impl IntoIterator<Item = (&'a Bytes, &'a Bytes)>,
    ) -> Option<Status> {
        Self::parse_fields(fields)
    }

    fn parse_fields<N: FieldOctets, V: FieldOctets>(
        fields: impl IntoIterator<Item = (N, V)>,
    ) -> Option<Status> {
        // `Err` holds the text of an unparsable grpc-status.
        let mut code: Option<Result<Code, String>> = None;
        let mut message: Option<String> = None;
        let mut details = Bytes::new();
        let mut md = Metadata::new();
        for (name, value) in fields {
            match name.octets() {
                n if n == headers::GRPC_STATUS.as_bytes() => {
                    if code.is_none() {
                        code = Some(parse_code(value.octets()));
                    }
                }
                n if n == headers::GRPC_MESSAGE.as_bytes() => {
                    if message.is_none() {
                        message = Some(decode_grpc_message(value.octets()));
                    }
                }
                n if n == headers::GRPC_STATUS_DETAILS_BIN.as_bytes() => {
                    if let Some(d) = metadata::decode_bin(value.octets().trim_ascii()) {
                        details = d;
                    }
                }
                _ => {
                    // Invalid entries are skipped: a bad trailer must not hide the status.
                    let _ = md.add_received(name, value);
                }
            }
        }
        let message = message.unwrap_or_default();
        let (code, message) = match code? {
            Ok(code) => (code, message),
            Err(raw) if message.is_empty() => {
                (Code::Unknown, format!("invalid grpc-status {raw:?}"))
            }
            Err(raw) => (
                Code::Unknown,
                format!("invalid grpc-status {raw:?}: {message}"),
            ),
        };
        Some(Status {
            code,
            message,
            details,
            metadata: md,
        })
    }

    /// Emits the status as header fields: `grpc-status`, `grpc-message` (percent-encoded,
    /// omitted when empty), `grpc-status-details-bin` (unpadded base64, omitted when empty),
    /// then the metadata entries.
    pub fn encode_header_fields(&self, mut push: impl FnMut(Bytes, Bytes)) {
        push(
            Bytes::from_static(headers::GRPC_STATUS.as_bytes()),
            Bytes::from_static(self.code.as_decimal_str().as_bytes()),
        );
        if !self.message.is_empty() {
            let value = match encode_grpc_message(&self.message) {
                std::borrow::Cow::Borrowed(s) => Bytes::copy_from_slice(s.as_bytes()),
                std::borrow::Cow::Owned(s) => Bytes::from(s),
            };
            push(Bytes::from_static(headers::GRPC_MESSAGE.as_bytes()), value);
        }
        if !self.details.is_empty() {
            push(
                Bytes::from_static(headers::GRPC_STATUS_DETAILS_BIN.as_bytes()),
                metadata::encode_bin(&self.details),
            );
        }
        self.metadata.encode_header_fields(&mut push);
    }

    /// Converts any error into a status.
    ///
    /// Walks `err` and its [`source`](Error::source) chain (looking inside `io::Error`s too)
    /// for a `Status` and returns a copy of the first one. Failing that, the first
    /// `io::Error` in the chain decides the code: `TimedOut` → DEADLINE_EXCEEDED;
    /// `ConnectionRefused`, `ConnectionReset`, `ConnectionAborted`, `BrokenPipe`,
    /// `NotConnected` → UNAVAILABLE; other kinds → UNKNOWN. Otherwise UNKNOWN. The message is
    /// `err`'s `Display`.
    pub fn from_error(err: &(dyn Error + 'static)) -> Status {
        if let Some(status) = find_status(err, 0) {
            return status.clone();
        }
        let mut cur = Some(err);
        while let Some(e) = cur {
            if let Some(io) = e.downcast_ref::<io::Error>() {
                return Status::new(code_for_io(io.kind()), err.to_string());
            }
            cur = e.source();
        }
        Status::unknown(err.to_string())
    }
}

/// Depth limit for the search of [`find_status`], against pathological (cyclic) chains.
const MAX_CHAIN: usize = 32;

fn find_status<'e>(err: &'e (dyn Error + 'static), depth: usize) -> Option<&'e Status> {
    let mut cur = Some(err);
    let mut depth = depth;
    while let Some(e) = cur {
        if depth >= MAX_CHAIN {
            return None;
        }
        depth += 1;
        if let Some(status) = e.downcast_ref::<Status>() {
            return Some(status);
        }
        // `io::Error::source` skips the wrapped error itself, so look at it here.
        if let Some(inner) = e.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
            let inner: &(dyn Error + 'static) = inner;
            if let Some(status) = find_status(inner, depth) {
                return Some(status);
            }
        }
        cur = e.source();
    }
    None
}

fn code_for_io(kind: io::ErrorKind) -> Code {
    use io::ErrorKind::*;
    match kind {
        TimedOut => Code::DeadlineExceeded,
        ConnectionRefused | ConnectionReset | ConnectionAborted | BrokenPipe | NotConnected => {
            Code::Unavailable
        }
        _ => Code::Unknown,
    }
}

fn parse_code(value: &[u8]) -> Result<Code, String> {
    let parsed = if !value.is_empty() && value.len() <= 9 && value.iter().all(u8::is_ascii_digit) {
        Some(
            value
                .iter()
                .fold(0i32, |acc, &d| acc * 10 + i32::from(d - b'0')),
        )
    } else {
        None
    };
    parsed
        .map(Code::from_i32)
        .ok_or_else(|| String::from_utf8_lossy(value).into_owned())
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            f.write_str(self.code.as_str())
        } else {
            write!(f, "{}: {}", self.code, self.message)
        }
    }
}

impl fmt::Debug for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Status");
        s.field("code", &self.code).field("message", &self.message);
        if !self.details.is_empty() {
            s.field("details", &self.details);
        }
        if !self.metadata.is_empty() {
            s.field("metadata", &self.metadata);
        }
        s.finish()
    }
}

impl Error for Status {}

impl From<io::Error> for Status {
    fn from(err: io::Error) -> Status {
        Status::from_error(&err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_is_reasonable() {
        assert!(std::mem::size_of::<Status>() <= 96);
    }

    #[test]
    fn parse_code_rules() {
        assert_eq!(parse_code(b"0"), Ok(Code::Ok));
        assert_eq!(parse_code(b"16"), Ok(Code::Unauthenticated));
        assert_eq!(parse_code(b"17"), Ok(Code::Unknown));
        assert_eq!(parse_code(b"999999999"), Ok(Code::Unknown));
        assert!(parse_code(b"9999999999").is_err());
        assert!(parse_code(b"").is_err());
        assert!(parse_code(b"-1").is_err());
        assert!(parse_code(b"ok").is_err());
    }
}
