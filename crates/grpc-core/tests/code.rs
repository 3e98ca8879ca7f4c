//! Status codes and the two mappings into them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use grpc_core::Code;

#[test]
fn every_code_number_and_name() {
    let table = [
        (0, Code::Ok, "OK"),
        (1, Code::Cancelled, "CANCELLED"),
        (2, Code::Unknown, "UNKNOWN"),
        (3, Code::InvalidArgument, "INVALID_ARGUMENT"),
        (4, Code::DeadlineExceeded, "DEADLINE_EXCEEDED"),
        (5, Code::NotFound, "NOT_FOUND"),
        (6, Code::AlreadyExists, "ALREADY_EXISTS"),
        (7, Code::PermissionDenied, "PERMISSION_DENIED"),
        (8, Code::ResourceExhausted, "RESOURCE_EXHAUSTED"),
        (9, Code::FailedPrecondition, "FAILED_PRECONDITION"),
        (10, Code::Aborted, "ABORTED"),
        (11, Code::OutOfRange, "OUT_OF_RANGE"),
        (12, Code::Unimplemented, "UNIMPLEMENTED"),
        (13, Code::Internal, "INTERNAL"),
        (14, Code::Unavailable, "UNAVAILABLE"),
        (15, Code::DataLoss, "DATA_LOSS"),
        (16, Code::Unauthenticated, "UNAUTHENTICATED"),
    ];
    for (n, code, name) in table {
        assert_eq!(code.as_i32(), n);
        assert_eq!(code as i32, n);
        assert_eq!(Code::from_i32(n), code);
        assert_eq!(Code::from(n), code);
        assert_eq!(i32::from(code), n);
        assert_eq!(code.as_str(), name);
        assert_eq!(code.to_string(), name);
        assert_eq!(code.as_decimal_str(), n.to_string());
    }
}

#[test]
fn unknown_numbers_are_unknown() {
    for n in [-1, 17, 100, i32::MIN, i32::MAX] {
        assert_eq!(Code::from_i32(n), Code::Unknown, "{n}");
    }
}

/// http-grpc-status-mapping.md: the table of HTTP statuses a client maps when a response has
/// no grpc-status.
#[test]
fn http_status_mapping() {
    let expect = |status: u16| match status {
        400 => Code::Internal,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::Unimplemented,
        429 | 502 | 503 | 504 => Code::Unavailable,
        _ => Code::Unknown,
    };
    assert_eq!(Code::from_http_status(400), Code::Internal);
    assert_eq!(Code::from_http_status(401), Code::Unauthenticated);
    assert_eq!(Code::from_http_status(403), Code::PermissionDenied);
    assert_eq!(Code::from_http_status(404), Code::Unimplemented);
    assert_eq!(Code::from_http_status(429), Code::Unavailable);
    assert_eq!(Code::from_http_status(502), Code::Unavailable);
    assert_eq!(Code::from_http_status(503), Code::Unavailable);
    assert_eq!(Code::from_http_status(504), Code::Unavailable);
    assert_eq!(Code::from_http_status(500), Code::Unknown);
    assert_eq!(Code::from_http_status(200), Code::Unknown);
    assert_eq!(Code::from_http_status(302), Code::Unknown);
    for status in 0..=u16::MAX {
        assert_eq!(Code::from_http_status(status), expect(status), "{status}");
    }
}

/// PROTOCOL-HTTP2.md, "Errors": RST_STREAM / GOAWAY error codes (RFC 9113 §7) to gRPC codes.
#[test]
fn h2_error_mapping() {
    let table = [
        (0x0, Code::Internal),          // NO_ERROR
        (0x1, Code::Internal),          // PROTOCOL_ERROR
        (0x2, Code::Internal),          // INTERNAL_ERROR
        (0x3, Code::Internal),          // FLOW_CONTROL_ERROR
        (0x4, Code::Internal),          // SETTINGS_TIMEOUT
        (0x5, Code::Internal),          // STREAM_CLOSED (not in the table)
        (0x6, Code::Internal),          // FRAME_SIZE_ERROR
        (0x7, Code::Unavailable),       // REFUSED_STREAM
        (0x8, Code::Cancelled),         // CANCEL
        (0x9, Code::Internal),          // COMPRESSION_ERROR
        (0xa, Code::Internal),          // CONNECT_ERROR
        (0xb, Code::ResourceExhausted), // ENHANCE_YOUR_CALM
        (0xc, Code::PermissionDenied),  // INADEQUATE_SECURITY
        (0xd, Code::Internal),          // HTTP_1_1_REQUIRED
        (0xe, Code::Internal),          // unknown
        (0x100, Code::Internal),        // unknown
        (u32::MAX, Code::Internal),     // unknown
    ];
    for (h2, code) in table {
        assert_eq!(Code::from_h2_error(h2), code, "{h2:#x}");
    }
}
