//! Names (and a few values) of the HTTP/2 header fields gRPC uses (`PROTOCOL-HTTP2.md`,
//! "Requests" and "Responses").
//!
//! All names are lowercase, as HTTP/2 requires on the wire (RFC 9113 §8.2.1).

/// `grpc-status`: the status code in trailers, as a decimal number.
pub const GRPC_STATUS: &str = "grpc-status";
/// `grpc-message`: the status message in trailers, percent-encoded.
pub const GRPC_MESSAGE: &str = "grpc-message";
/// `grpc-status-details-bin`: a serialized `google.rpc.Status`, base64 on the wire.
pub const GRPC_STATUS_DETAILS_BIN: &str = "grpc-status-details-bin";
/// `grpc-timeout`: the call's timeout (see [`crate::timeout`]).
pub const GRPC_TIMEOUT: &str = "grpc-timeout";
/// `grpc-encoding`: the compression applied to messages with the Compressed-Flag set.
pub const GRPC_ENCODING: &str = "grpc-encoding";
/// `grpc-accept-encoding`: the compressions the sender can decode (`compression.md`).
pub const GRPC_ACCEPT_ENCODING: &str = "grpc-accept-encoding";
/// `content-type`.
pub const CONTENT_TYPE: &str = "content-type";
/// `te`: a gRPC request carries `te: trailers`.
pub const TE: &str = "te";
/// `user-agent`.
pub const USER_AGENT: &str = "user-agent";
/// `authorization`, used by call credentials.
pub const AUTHORIZATION: &str = "authorization";

/// The value `application/grpc` (the plain protobuf gRPC content type).
pub const APPLICATION_GRPC: &str = "application/grpc";
/// The value `trailers`, for the `te` header.
pub const TRAILERS: &str = "trailers";

/// Is `value` a gRPC content type? That is `application/grpc` alone, or followed by `+subtype`
/// (`application/grpc+proto`) or by `;` parameters (`PROTOCOL-HTTP2.md`, "Content-Type").
/// The media type is compared ignoring ASCII case (RFC 9110 §8.3.1).
pub fn is_grpc_content_type(value: &[u8]) -> bool {
    let base = APPLICATION_GRPC.as_bytes();
    match value.get(..base.len()) {
        Some(prefix) if prefix.eq_ignore_ascii_case(base) => {
            matches!(value.get(base.len()), None | Some(b'+') | Some(b';'))
        }
        _ => false,
    }
}

/// Splits a gRPC `:path`, `/{service}/{method}` (PROTOCOL-HTTP2.md, "Path"), into the fully
/// qualified service name and the method name. `None` when the path is malformed: no leading
/// `/`, an empty service or method, or a method that contains another `/`.
///
/// ```
/// use grpc_core::headers::split_path;
///
/// assert_eq!(split_path("/helloworld.Greeter/SayHello"), Some(("helloworld.Greeter", "SayHello")));
/// assert_eq!(split_path("/helloworld.Greeter"), None);
/// ```
pub fn split_path(path: &str) -> Option<(&str, &str)> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    (!service.is_empty() && !method.is_empty() && !method.contains('/'))
        .then_some((service, method))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(split_path("/a.B/C"), Some(("a.B", "C")));
        for bad in ["a.B/C", "/a.B", "//C", "/a.B/", "/a/b/c", "", "/"] {
            assert_eq!(split_path(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn content_types() {
        assert!(is_grpc_content_type(b"application/grpc"));
        assert!(is_grpc_content_type(b"application/grpc+proto"));
        assert!(is_grpc_content_type(b"application/grpc+json"));
        assert!(is_grpc_content_type(b"application/grpc;charset=utf-8"));
        assert!(is_grpc_content_type(b"Application/GRPC"));
        assert!(!is_grpc_content_type(b"application/grpc-web"));
        assert!(!is_grpc_content_type(b"application/grp"));
        assert!(!is_grpc_content_type(b"application/json"));
        assert!(!is_grpc_content_type(b""));
    }
}
