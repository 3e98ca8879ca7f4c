//! grpc-message percent-encoding (PROTOCOL-HTTP2.md, "Responses").
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::borrow::Cow;

use grpc_core::percent::{decode_grpc_message, encode_grpc_message};

#[test]
fn round_trips() {
    for s in [
        "",
        "simple",
        "with space and ~ symbols !\"#$&'()*+,-./:;<=>?@[\\]^_`{|}",
        "percent % and %% and %41",
        "\u{0}\u{1}\u{1f}\u{7f}\u{80}\u{ff}",
        "\u{1F4A9} \u{e9}t\u{e9}",
        "newline\nreturn\rtab\t",
    ] {
        let e = encode_grpc_message(s);
        assert!(e.bytes().all(|b| (0x20..=0x7e).contains(&b)), "{e}");
        assert_eq!(decode_grpc_message(e.as_bytes()), s);
    }
}

#[test]
fn encoding_is_upper_hex_and_minimal() {
    assert_eq!(encode_grpc_message("a%b"), "a%25b");
    assert_eq!(encode_grpc_message("\u{ff}"), "%C3%BF");
    assert_eq!(encode_grpc_message("\n"), "%0A");
    assert!(matches!(
        encode_grpc_message("no escapes"),
        Cow::Borrowed(_)
    ));
}

#[test]
fn decode_never_fails() {
    assert_eq!(decode_grpc_message(b"%"), "%");
    assert_eq!(decode_grpc_message(b"%G1"), "%G1");
    assert_eq!(decode_grpc_message(b"%4"), "%4");
    assert_eq!(decode_grpc_message(b"abc%"), "abc%");
    assert_eq!(decode_grpc_message(b"%%"), "%%");
    assert_eq!(decode_grpc_message(b"%2"), "%2");
    assert_eq!(decode_grpc_message(b"%e9"), "\u{fffd}");
    assert_eq!(decode_grpc_message(b"%c3%a9"), "\u{e9}");
    assert_eq!(decode_grpc_message(b"\x80raw"), "\u{fffd}raw");
}
