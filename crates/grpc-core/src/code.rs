//! gRPC status codes.
//!
//! The seventeen canonical codes of the gRPC "Status codes and their use in gRPC" document
//! (`statuscodes.md`), plus the two mappings a client needs when a call fails below gRPC:
//! from an HTTP status (`http-grpc-status-mapping.md`) and from an HTTP/2 RST_STREAM or GOAWAY
//! error code (`PROTOCOL-HTTP2.md`, section "Errors").

use std::fmt;

/// A gRPC status code (`statuscodes.md`).
///
/// The discriminants are the numbers sent in `grpc-status`. The enum is exhaustive: gRPC defines
/// exactly these seventeen codes, and a number we do not know is read as [`Code::Unknown`].
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    /// Not an error; returned on success.
    Ok = 0,
    /// The operation was cancelled, typically by the caller.
    Cancelled = 1,
    /// Unknown error, or an error from a space we cannot map.
    Unknown = 2,
    /// The client gave an invalid argument.
    InvalidArgument = 3,
    /// The deadline expired before the operation could complete.
    DeadlineExceeded = 4,
    /// A requested entity was not found.
    NotFound = 5,
    /// The entity a client tried to create already exists.
    AlreadyExists = 6,
    /// The caller does not have permission to execute the operation.
    PermissionDenied = 7,
    /// Some resource has been exhausted (quota, memory, message size, ...).
    ResourceExhausted = 8,
    /// The system is not in a state required for the operation.
    FailedPrecondition = 9,
    /// The operation was aborted, typically because of a concurrency issue.
    Aborted = 10,
    /// The operation was attempted past the valid range.
    OutOfRange = 11,
    /// The operation is not implemented or not supported.
    Unimplemented = 12,
    /// Internal error: an invariant expected by the system is broken.
    Internal = 13,
    /// The service is currently unavailable; retrying may help.
    Unavailable = 14,
    /// Unrecoverable data loss or corruption.
    DataLoss = 15,
    /// The request lacks valid authentication credentials.
    Unauthenticated = 16,
}

/// Every code, indexed by its number.
const ALL: [Code; 17] = [
    Code::Ok,
    Code::Cancelled,
    Code::Unknown,
    Code::InvalidArgument,
    Code::DeadlineExceeded,
    Code::NotFound,
    Code::AlreadyExists,
    Code::PermissionDenied,
    Code::ResourceExhausted,
    Code::FailedPrecondition,
    Code::Aborted,
    Code::OutOfRange,
    Code::Unimplemented,
    Code::Internal,
    Code::Unavailable,
    Code::DataLoss,
    Code::Unauthenticated,
];

impl Code {
    /// The code with number `v`; numbers gRPC does not define become [`Code::Unknown`].
    pub fn from_i32(v: i32) -> Code {
        usize::try_from(v)
            .ok()
            .and_then(|i| ALL.get(i).copied())
            .unwrap_or(Code::Unknown)
    }

    /// The code's number, as sent in `grpc-status`.
    pub fn as_i32(self) -> i32 {
        self as i32
    }

    /// The canonical name in upper snake case: `"OK"`, `"CANCELLED"`, `"DEADLINE_EXCEEDED"`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Ok => "OK",
            Code::Cancelled => "CANCELLED",
            Code::Unknown => "UNKNOWN",
            Code::InvalidArgument => "INVALID_ARGUMENT",
            Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Code::NotFound => "NOT_FOUND",
            Code::AlreadyExists => "ALREADY_EXISTS",
            Code::PermissionDenied => "PERMISSION_DENIED",
            Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
            Code::FailedPrecondition => "FAILED_PRECONDITION",
            Code::Aborted => "ABORTED",
            Code::OutOfRange => "OUT_OF_RANGE",
            Code::Unimplemented => "UNIMPLEMENTED",
            Code::Internal => "INTERNAL",
            Code::Unavailable => "UNAVAILABLE",
            Code::DataLoss => "DATA_LOSS",
            Code::Unauthenticated => "UNAUTHENTICATED",
        }
    }

    /// The decimal form of the number as a static string (`"0"` ..= `"16"`), for `grpc-status`.
    pub fn as_decimal_str(self) -> &'static str {
        const DECIMAL: [&str; 17] = [
            "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15",
            "16",
        ];
        // The discriminants are 0..=16, so the index is always in range.
        DECIMAL[self as usize]
    }

    /// The code a client reports when a response has no `grpc-status` and the HTTP status is
    /// not 200 (`http-grpc-status-mapping.md`): 400 → INTERNAL, 401 → UNAUTHENTICATED,
    /// 403 → PERMISSION_DENIED, 404 → UNIMPLEMENTED, 429, 502, 503, 504 → UNAVAILABLE, every
    /// other status → UNKNOWN.
    ///
    /// The table has no row for 200 (a 200 response is read through its trailers), so 200 also
    /// gives UNKNOWN here; 1xx responses are informational and should be skipped, not mapped.
    pub fn from_http_status(status: u16) -> Code {
        match status {
            400 => Code::Internal,
            401 => Code::Unauthenticated,
            403 => Code::PermissionDenied,
            404 => Code::Unimplemented,
            429 | 502 | 503 | 504 => Code::Unavailable,
            _ => Code::Unknown,
        }
    }

    /// The code a client reports when its stream is reset (RST_STREAM) or the connection goes
    /// away (GOAWAY) with the HTTP/2 error `code` (RFC 9113 §7), per the table in
    /// `PROTOCOL-HTTP2.md`, "Errors":
    ///
    /// | HTTP/2 error | gRPC code |
    /// |---|---|
    /// | NO_ERROR (0x0), PROTOCOL_ERROR (0x1), INTERNAL_ERROR (0x2), FLOW_CONTROL_ERROR (0x3), SETTINGS_TIMEOUT (0x4) | INTERNAL |
    /// | STREAM_CLOSED (0x5) | no row in the table ("N/A"); INTERNAL |
    /// | FRAME_SIZE_ERROR (0x6) | INTERNAL |
    /// | REFUSED_STREAM (0x7) | UNAVAILABLE (the request was not processed; safe to retry) |
    /// | CANCEL (0x8) | CANCELLED |
    /// | COMPRESSION_ERROR (0x9), CONNECT_ERROR (0xa) | INTERNAL |
    /// | ENHANCE_YOUR_CALM (0xb) | RESOURCE_EXHAUSTED |
    /// | INADEQUATE_SECURITY (0xc) | PERMISSION_DENIED |
    /// | HTTP_1_1_REQUIRED (0xd) and unknown codes | INTERNAL |
    pub fn from_h2_error(code: u32) -> Code {
        match code {
            0x7 => Code::Unavailable,
            0x8 => Code::Cancelled,
            0xb => Code::ResourceExhausted,
            0xc => Code::PermissionDenied,
            _ => Code::Internal,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<i32> for Code {
    fn from(v: i32) -> Code {
        Code::from_i32(v)
    }
}

impl From<Code> for i32 {
    fn from(code: Code) -> i32 {
        code.as_i32()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip() {
        for (i, code) in ALL.iter().enumerate() {
            let n = i32::try_from(i).unwrap_or(-1);
            assert_eq!(code.as_i32(), n);
            assert_eq!(Code::from_i32(n), *code);
            assert_eq!(code.as_decimal_str(), n.to_string());
        }
        assert_eq!(Code::from_i32(17), Code::Unknown);
        assert_eq!(Code::from_i32(-1), Code::Unknown);
        assert_eq!(Code::from_i32(i32::MAX), Code::Unknown);
        assert_eq!(Code::from(5), Code::NotFound);
    }
}
