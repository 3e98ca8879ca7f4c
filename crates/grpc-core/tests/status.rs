//! Status: trailers round trip, parsing rules, conversion from errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::error::Error;
use std::fmt;
use std::io;

use bytes::Bytes;
use grpc_core::{Code, Status};

fn encode(status: &Status) -> Vec<(Bytes, Bytes)> {
    let mut fields = Vec::new();
    status.encode_header_fields(|n, v| fields.push((n, v)));
    fields
}

fn decode(fields: &[(Bytes, Bytes)]) -> Option<Status> {
    Status::from_header_fields(fields.iter().map(|(n, v)| (&n[..], &v[..])))
}

fn field(n: &'static str, v: &'static [u8]) -> (Bytes, Bytes) {
    (Bytes::from_static(n.as_bytes()), Bytes::from_static(v))
}

#[test]
fn every_code_round_trips() {
    for n in 0..=16 {
        let code = Code::from_i32(n);
        let status = Status::new(code, format!("message {n}"));
        let fields = encode(&status);
        assert_eq!(fields[0].0, "grpc-status");
        assert_eq!(fields[0].1, n.to_string());
        let back = decode(&fields).unwrap();
        assert_eq!(back.code(), code);
        assert_eq!(back.message(), status.message());
    }
}

#[test]
fn constructors_set_codes() {
    let cases: [(Status, Code); 17] = [
        (Status::ok(), Code::Ok),
        (Status::cancelled("m"), Code::Cancelled),
        (Status::unknown("m"), Code::Unknown),
        (Status::invalid_argument("m"), Code::InvalidArgument),
        (Status::deadline_exceeded("m"), Code::DeadlineExceeded),
        (Status::not_found("m"), Code::NotFound),
        (Status::already_exists("m"), Code::AlreadyExists),
        (Status::permission_denied("m"), Code::PermissionDenied),
        (Status::resource_exhausted("m"), Code::ResourceExhausted),
        (Status::failed_precondition("m"), Code::FailedPrecondition),
        (Status::aborted("m"), Code::Aborted),
        (Status::out_of_range("m"), Code::OutOfRange),
        (Status::unimplemented("m"), Code::Unimplemented),
        (Status::internal("m"), Code::Internal),
        (Status::unavailable("m"), Code::Unavailable),
        (Status::data_loss("m"), Code::DataLoss),
        (Status::unauthenticated("m"), Code::Unauthenticated),
    ];
    for (status, code) in cases {
        assert_eq!(status.code(), code);
        assert_eq!(status.is_ok(), code == Code::Ok);
        if code != Code::Ok {
            assert_eq!(status.message(), "m");
        }
    }
    assert_eq!(Status::ok().message(), "");
}

#[test]
fn ok_without_message_emits_only_grpc_status() {
    let fields = encode(&Status::ok());
    assert_eq!(fields, vec![field("grpc-status", b"0")]);
}

#[test]
fn unicode_and_percent_messages_round_trip() {
    for msg in [
        "plain",
        "100% sure",
        "caf\u{e9} \u{1F600} \u{4e2d}\u{6587}",
        "line one\nline two\r\n\ttab",
        "%%%",
        "%41 is not A",
        "\u{0}\u{7f}",
        " leading and trailing ",
    ] {
        let status = Status::internal(msg);
        let fields = encode(&status);
        let wire = &fields[1].1;
        assert_eq!(fields[1].0, "grpc-message");
        assert!(
            wire.iter().all(|b| (0x20..=0x7e).contains(b)),
            "{msg:?} -> {wire:?}"
        );
        assert_eq!(decode(&fields).unwrap().message(), msg);
    }
    let fields = encode(&Status::internal("caf\u{e9} 50%"));
    assert_eq!(fields[1].1, "caf%C3%A9 50%25");
}

#[test]
fn details_bin_round_trip() {
    let details = Bytes::from_static(b"\x08\x05\x12\x03abc\xff\x00");
    let status = Status::with_details(Code::NotFound, "gone", details.clone());
    let fields = encode(&status);
    assert_eq!(fields[2].0, "grpc-status-details-bin");
    assert!(!fields[2].1.contains(&b'='), "unpadded on the wire");
    let back = decode(&fields).unwrap();
    assert_eq!(back.details(), &details);
    assert_eq!(back.code(), Code::NotFound);

    // Padded input is accepted too.
    let padded = decode(&[
        field("grpc-status", b"5"),
        field("grpc-status-details-bin", b"AQI="),
    ])
    .unwrap();
    assert_eq!(padded.details(), &Bytes::from_static(b"\x01\x02"));
    let unpadded = decode(&[
        field("grpc-status", b"5"),
        field("grpc-status-details-bin", b"AQI"),
    ])
    .unwrap();
    assert_eq!(unpadded.details(), &Bytes::from_static(b"\x01\x02"));
}

#[test]
fn empty_message_and_details_are_omitted() {
    let fields = encode(&Status::new(Code::Aborted, ""));
    assert_eq!(fields.len(), 1);
}

#[test]
fn metadata_rides_along() {
    let mut status = Status::unavailable("later");
    status.metadata_mut().insert("retry-after", "5").unwrap();
    status
        .metadata_mut()
        .insert_bin("trace-bin", Bytes::from_static(&[0, 1, 2, 250]))
        .unwrap();
    let fields = encode(&status);
    let back = decode(&fields).unwrap();
    assert_eq!(back.metadata(), status.metadata());
    assert_eq!(back.metadata().get("retry-after"), Some("5"));
}

#[test]
fn no_grpc_status_is_none() {
    assert!(decode(&[]).is_none());
    assert!(decode(&[field("grpc-message", b"hi"), field("x", b"y")]).is_none());
}

#[test]
fn unparsable_grpc_status_is_unknown() {
    for raw in [&b""[..], b"abc", b"-1", b"1.0", b" 1", b"99999999999999"] {
        let s = Status::from_header_fields([(&b"grpc-status"[..], raw)]).unwrap();
        assert_eq!(s.code(), Code::Unknown, "{raw:?}");
        assert!(s.message().contains("grpc-status"), "{}", s.message());
    }
    let s = decode(&[field("grpc-status", b"x"), field("grpc-message", b"boom")]).unwrap();
    assert_eq!(s.code(), Code::Unknown);
    assert!(s.message().contains("boom"));
    // A number outside 0..=16 is UNKNOWN, message kept.
    let s = decode(&[field("grpc-status", b"42"), field("grpc-message", b"odd")]).unwrap();
    assert_eq!(s.code(), Code::Unknown);
    assert_eq!(s.message(), "odd");
}

#[test]
fn bad_trailer_entries_are_skipped() {
    let s = decode(&[
        field("grpc-status", b"3"),
        field("grpc-message", b"%ZZ bad escape"),
        field("grpc-status-details-bin", b"!!!"),
        field("bad-bin", b"***"),
        field("ctl", b"a\x01b"),
        field("good", b"yes"),
        field(":status", b"200"),
        field("content-type", b"application/grpc"),
        field("grpc-foo", b"reserved"),
    ])
    .unwrap();
    assert_eq!(s.code(), Code::InvalidArgument);
    assert_eq!(s.message(), "%ZZ bad escape");
    assert!(s.details().is_empty());
    assert_eq!(s.metadata().len(), 1);
    assert_eq!(s.metadata().get("good"), Some("yes"));
}

#[test]
fn bytes_variant_shares_memory() {
    let name = Bytes::from_static(b"k");
    let value = Bytes::from(b"value".to_vec());
    let status_name = Bytes::from_static(b"grpc-status");
    let status_value = Bytes::from_static(b"0");
    let s =
        Status::from_header_field_bytes([(&status_name, &status_value), (&name, &value)]).unwrap();
    assert_eq!(s.metadata().get("k").unwrap().as_ptr(), value.as_ptr());
}

#[derive(Debug)]
struct Wrapper(Box<dyn Error + Send + Sync>);

impl fmt::Display for Wrapper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "wrapper: {}", self.0)
    }
}

impl Error for Wrapper {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.0)
    }
}

#[test]
fn from_error_finds_status_in_chain() {
    let inner = Status::permission_denied("nope");
    let err = Wrapper(Box::new(Wrapper(Box::new(inner))));
    let s = Status::from_error(&err);
    assert_eq!(s.code(), Code::PermissionDenied);
    assert_eq!(s.message(), "nope");

    // Inside an io::Error (whose source() skips the wrapped error).
    let io = io::Error::other(Status::aborted("conflict"));
    let s = Status::from_error(&Wrapper(Box::new(io)));
    assert_eq!(s.code(), Code::Aborted);
    let s: Status = io::Error::other(Status::data_loss("lost")).into();
    assert_eq!(s.code(), Code::DataLoss);
}

#[test]
fn from_error_maps_io_kinds() {
    use io::ErrorKind::*;
    let cases = [
        (TimedOut, Code::DeadlineExceeded),
        (ConnectionRefused, Code::Unavailable),
        (ConnectionReset, Code::Unavailable),
        (ConnectionAborted, Code::Unavailable),
        (BrokenPipe, Code::Unavailable),
        (NotConnected, Code::Unavailable),
        (NotFound, Code::Unknown),
        (Other, Code::Unknown),
    ];
    for (kind, code) in cases {
        let s = Status::from(io::Error::new(kind, "io trouble"));
        assert_eq!(s.code(), code, "{kind:?}");
        assert!(s.message().contains("io trouble"));
        let wrapped = Wrapper(Box::new(io::Error::new(kind, "deep")));
        let s = Status::from_error(&wrapped);
        assert_eq!(s.code(), code, "{kind:?}");
        assert_eq!(s.message(), "wrapper: deep");
    }
}

#[test]
fn from_error_other_is_unknown() {
    let err = Wrapper("plain failure".into());
    let s = Status::from_error(&err);
    assert_eq!(s.code(), Code::Unknown);
    assert_eq!(s.message(), "wrapper: plain failure");
}

#[test]
fn display_and_debug() {
    assert_eq!(Status::not_found("x").to_string(), "NOT_FOUND: x");
    assert_eq!(Status::ok().to_string(), "OK");
    let dbg = format!("{:?}", Status::internal("boom"));
    assert!(dbg.contains("Internal") && dbg.contains("boom"), "{dbg}");
    let err: Box<dyn Error + Send + Sync> = Box::new(Status::internal("e"));
    assert_eq!(err.to_string(), "INTERNAL: e");
}
