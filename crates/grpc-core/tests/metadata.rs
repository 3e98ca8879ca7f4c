//! Metadata: validation, multimap behaviour, wire form.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use grpc_core::{Code, Metadata, MetadataValue};

fn from_fields(fields: &[(&'static str, &'static str)]) -> Result<Metadata, grpc_core::Status> {
    let owned: Vec<(Bytes, Bytes)> = fields
        .iter()
        .map(|(n, v)| {
            (
                Bytes::from_static(n.as_bytes()),
                Bytes::from_static(v.as_bytes()),
            )
        })
        .collect();
    Metadata::from_header_fields(owned.iter().map(|(n, v)| (n, v)))
}

fn wire(md: &Metadata) -> Vec<(String, String)> {
    let mut out = Vec::new();
    md.encode_header_fields(|n, v| {
        out.push((
            String::from_utf8(n.to_vec()).unwrap(),
            String::from_utf8(v.to_vec()).unwrap(),
        ))
    });
    out
}

#[test]
fn valid_keys_and_values() {
    let mut md = Metadata::new();
    md.insert("x-request-id", "abc 123 ~!").unwrap();
    md.insert("a.b_c-9", "").unwrap();
    md.insert("user-agent", "me/1.0").unwrap();
    md.insert("authorization", "Bearer t").unwrap();
    md.insert_bin("blob-bin", vec![0u8, 255]).unwrap();
    assert_eq!(md.len(), 5);
}

#[test]
fn invalid_keys_are_rejected_with_reason() {
    let mut md = Metadata::new();
    let err = md.insert("X-Upper", "v").unwrap_err();
    assert_eq!(err.key(), "X-Upper");
    assert!(err.to_string().contains("lowercase"), "{err}");
    for key in ["", "sp ace", "semi;", "ümlaut", "a/b", "a:b", "tab\t"] {
        assert!(md.insert(key, "v").is_err(), "{key:?}");
    }
    for key in [
        ":path",
        ":authority",
        "grpc-status",
        "grpc-timeout",
        "grpc-custom",
        "te",
        "content-type",
        "connection",
        "transfer-encoding",
        "upgrade",
        "keep-alive",
        "proxy-connection",
    ] {
        let err = md.insert(key, "v").unwrap_err();
        assert!(err.reason().contains("reserved"), "{key}: {err}");
        assert!(md.append(key, "v").is_err());
    }
    assert!(md.insert_bin("grpc-x-bin", vec![1]).is_err());
    // -bin keys take binary values only, and binary values need -bin keys.
    assert!(
        md.insert("data-bin", "v")
            .unwrap_err()
            .to_string()
            .contains("-bin")
    );
    assert!(md.append("data-bin", "v").is_err());
    assert!(md.insert_bin("data", vec![1]).is_err());
    assert!(md.append_bin("data", vec![1]).is_err());
    assert!(md.is_empty());
}

#[test]
fn invalid_values_are_rejected() {
    let mut md = Metadata::new();
    for value in [
        "a\nb",
        "tab\there",
        "\u{7f}",
        "caf\u{e9}",
        " lead",
        "trail ",
        "\0",
    ] {
        assert!(md.insert("k", value).is_err(), "{value:?}");
        assert!(md.append("k", value).is_err(), "{value:?}");
    }
    assert!(md.is_empty());
}

#[test]
fn multimap_behaviour() {
    let mut md = Metadata::new();
    md.append("k", "1").unwrap();
    md.append("other", "x").unwrap();
    md.append("k", "2").unwrap();
    assert_eq!(md.get("k"), Some("1"));
    assert_eq!(md.get_all("k").collect::<Vec<_>>(), ["1", "2"]);
    assert_eq!(md.get("K"), Some("1"), "lookups ignore case");
    assert!(md.contains_key("other"));
    assert!(!md.contains_key("missing"));
    md.insert("k", "3").unwrap();
    assert_eq!(md.get_all("k").collect::<Vec<_>>(), ["3"]);
    assert_eq!(md.len(), 2);
    md.append_bin("b-bin", Bytes::from_static(b"one")).unwrap();
    md.append_bin("b-bin", Bytes::from_static(b"two")).unwrap();
    assert_eq!(md.get_bin("b-bin").unwrap(), "one");
    assert_eq!(md.get_all_bin("b-bin").count(), 2);
    assert_eq!(
        md.get("b-bin"),
        None,
        "binary values are not returned by get"
    );
    assert_eq!(md.get_bin("k"), None);
    md.insert_bin("b-bin", Bytes::from_static(b"three"))
        .unwrap();
    assert_eq!(md.get_all_bin("b-bin").collect::<Vec<_>>(), ["three"]);
    let order: Vec<_> = md.iter().map(|(k, _)| k).collect();
    assert_eq!(order, ["other", "k", "b-bin"]);
    assert_eq!(
        md.iter().last().unwrap().1,
        MetadataValue::Binary(&b"three"[..])
    );
    assert_eq!(md.remove("k"), 1);
    assert_eq!(md.remove("k"), 0);

    let mut more = Metadata::new();
    more.append("z", "last").unwrap();
    md.extend(more);
    assert_eq!(
        md.iter().last().unwrap(),
        ("z", MetadataValue::Ascii("last"))
    );
    let dbg = format!("{md:?}");
    assert!(dbg.contains("\"z\": \"last\""), "{dbg}");
}

#[test]
fn received_fields_skip_reserved() {
    let md = from_fields(&[
        (":path", "/a/b"),
        (":authority", "h"),
        ("te", "trailers"),
        ("content-type", "application/grpc"),
        ("grpc-timeout", "1S"),
        ("grpc-encoding", "gzip"),
        ("grpc-accept-encoding", "gzip"),
        ("user-agent", "grpc-go/1.0"),
        ("x-custom", "v"),
        ("Bad Name", "skipped"),
    ])
    .unwrap();
    let keys: Vec<_> = md.iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["user-agent", "x-custom"]);
}

#[test]
fn received_bin_padded_unpadded_and_joined() {
    // "hello" = aGVsbG8= ; "\x00\x01" = AAE= ; "ab" = YWI=
    let md = from_fields(&[
        ("a-bin", "aGVsbG8="),
        ("b-bin", "aGVsbG8"),
        ("c-bin", "AAE=,YWI"),
        ("d-bin", "AAE= , YWI="),
        ("e-bin", ""),
    ])
    .unwrap();
    assert_eq!(md.get_bin("a-bin").unwrap(), "hello");
    assert_eq!(md.get_bin("b-bin").unwrap(), "hello");
    assert_eq!(
        md.get_all_bin("c-bin").collect::<Vec<_>>(),
        [&b"\x00\x01"[..], b"ab"]
    );
    assert_eq!(md.get_all_bin("d-bin").count(), 2);
    assert_eq!(md.get_bin("e-bin").unwrap(), "");
}

#[test]
fn received_bad_values_are_internal() {
    for fields in [
        &[("x-bin", "not base64!")][..],
        &[("x-bin", "aGVsbG8=,***")],
        &[("x-bin", "a")],
        &[("x", "line\nbreak")],
        &[("x", "\u{e9}")],
        &[("x", "tab\t")],
    ] {
        let err = from_fields(fields).unwrap_err();
        assert_eq!(err.code(), Code::Internal, "{fields:?}");
        assert!(err.message().contains('x'), "{}", err.message());
    }
}

#[test]
fn received_values_are_not_copied() {
    let name = Bytes::from(b"x-id".to_vec());
    let value = Bytes::from(b"some value".to_vec());
    let md = Metadata::from_header_fields([(&name, &value)]).unwrap();
    assert_eq!(md.get("x-id").unwrap().as_ptr(), value.as_ptr());
}

#[test]
fn sent_bin_values_are_unpadded() {
    let mut md = Metadata::new();
    md.insert_bin("a-bin", Bytes::from_static(b"hello"))
        .unwrap();
    md.insert_bin("b-bin", Bytes::from_static(b"\x00\x01"))
        .unwrap();
    md.insert("plain", "as is").unwrap();
    assert_eq!(
        wire(&md),
        [
            ("a-bin".to_owned(), "aGVsbG8".to_owned()),
            ("b-bin".to_owned(), "AAE".to_owned()),
            ("plain".to_owned(), "as is".to_owned()),
        ]
    );
}

#[test]
fn header_list_size_counts_wire_octets() {
    let mut md = Metadata::new();
    assert_eq!(md.header_list_size(), 0);
    md.insert("ab", "cde").unwrap();
    assert_eq!(md.header_list_size(), 2 + 3 + 32);
    md.insert_bin("k-bin", Bytes::from_static(b"hello"))
        .unwrap();
    assert_eq!(md.header_list_size(), 37 + 5 + 7 + 32);
    let total: usize = wire(&md).iter().map(|(n, v)| n.len() + v.len() + 32).sum();
    assert_eq!(md.header_list_size(), total);
}

#[test]
fn wire_round_trip() {
    let mut md = Metadata::new();
    md.append("k", "v1").unwrap();
    md.append("k", "v2").unwrap();
    md.append_bin("k-bin", Bytes::from_static(&[1, 2, 3, 4]))
        .unwrap();
    let mut fields = Vec::new();
    md.encode_header_fields(|n, v| fields.push((n, v)));
    let back = Metadata::from_header_fields(fields.iter().map(|(n, v)| (n, v))).unwrap();
    assert_eq!(back, md);
}
