//! Property tests: framing, percent-encoding, timeouts, binary metadata.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use grpc_core::framing::{FrameDecoder, encode_header};
use grpc_core::percent::{decode_grpc_message, encode_grpc_message};
use grpc_core::timeout::{decode_timeout, encode_timeout};
use grpc_core::{Metadata, Status};
use proptest::prelude::*;

fn wire(messages: &[(bool, Vec<u8>)]) -> Vec<u8> {
    let mut out = BytesMut::new();
    for (c, m) in messages {
        encode_header(*c, u32::try_from(m.len()).unwrap(), &mut out);
        out.extend_from_slice(m);
    }
    out.to_vec()
}

fn decode_all(chunks: impl IntoIterator<Item = Bytes>) -> Vec<(bool, Vec<u8>)> {
    let mut d = FrameDecoder::new(1 << 20);
    let mut out = Vec::new();
    for c in chunks {
        d.push(c);
        while let Some(f) = d.next_frame().unwrap() {
            out.push((f.compressed, f.data.to_vec()));
        }
    }
    d.finish().unwrap();
    out
}

/// The unit `encode_timeout` chose, in nanoseconds.
fn unit_nanos(encoded: &[u8]) -> u128 {
    match encoded.last() {
        Some(b'n') => 1,
        Some(b'u') => 1_000,
        Some(b'm') => 1_000_000,
        Some(b'S') => 1_000_000_000,
        Some(b'M') => 60_000_000_000,
        Some(b'H') => 3_600_000_000_000,
        _ => panic!("bad unit"),
    }
}

proptest! {
    #[test]
    fn framing_chunked_equals_whole(
        messages in prop::collection::vec((any::<bool>(), prop::collection::vec(any::<u8>(), 0..300)), 0..12),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..20),
    ) {
        let w = wire(&messages);
        let whole = decode_all([Bytes::from(w.clone())]);
        prop_assert_eq!(&whole, &messages);
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(w.len() + 1)).collect();
        points.push(0);
        points.push(w.len());
        points.sort_unstable();
        let w = Bytes::from(w);
        let chunks: Vec<Bytes> = points.windows(2).map(|p| w.slice(p[0]..p[1])).collect();
        prop_assert_eq!(decode_all(chunks), messages);
    }

    #[test]
    fn framing_never_panics_on_garbage(
        data in prop::collection::vec(any::<u8>(), 0..200),
        step in 1usize..20,
        max in 0usize..100,
    ) {
        let mut d = FrameDecoder::new(max);
        for chunk in data.chunks(step) {
            d.push(Bytes::copy_from_slice(chunk));
            while let Ok(Some(f)) = d.next_frame() {
                prop_assert!(f.data.len() <= max);
            }
        }
        let _ = d.finish();
    }

    #[test]
    fn percent_round_trip(s in any::<String>()) {
        let e = encode_grpc_message(&s);
        prop_assert!(e.bytes().all(|b| (0x20..=0x7e).contains(&b)));
        prop_assert_eq!(decode_grpc_message(e.as_bytes()), s);
    }

    #[test]
    fn percent_decode_never_fails(v in prop::collection::vec(any::<u8>(), 0..100)) {
        let _ = decode_grpc_message(&v);
    }

    #[test]
    fn timeout_round_trip(nanos in any::<u64>(), secs in any::<u64>(), pick in any::<bool>()) {
        let d = if pick { Duration::from_nanos(nanos) } else { Duration::from_secs(secs) };
        let e = encode_timeout(d);
        prop_assert!(e.len() <= 9);
        let back = decode_timeout(&e).unwrap();
        prop_assert!(back >= d || e == "99999999H", "{:?} -> {:?} -> {:?}", d, e, back);
        if e != "99999999H" {
            prop_assert!(back.as_nanos() - d.as_nanos() < unit_nanos(&e), "{:?} -> {:?}", d, e);
        }
    }

    #[test]
    fn timeout_decode_never_panics(v in prop::collection::vec(any::<u8>(), 0..12)) {
        let _ = decode_timeout(&v);
    }

    #[test]
    fn metadata_bin_round_trip(values in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 1..5)) {
        let mut md = Metadata::new();
        for v in &values {
            md.append_bin("data-bin", v.clone()).unwrap();
        }
        let mut fields = Vec::new();
        md.encode_header_fields(|n, v| fields.push((n, v)));
        prop_assert!(fields.iter().all(|(_, v)| !v.contains(&b'=')));
        let back = Metadata::from_header_fields(fields.iter().map(|(n, v)| (n, v))).unwrap();
        prop_assert_eq!(&back, &md);
        // Joined into one field with commas, padded: same values.
        use base64::Engine as _;
        let joined: Vec<String> = values.iter().map(|v| base64::engine::general_purpose::STANDARD.encode(v)).collect();
        let name = Bytes::from_static(b"data-bin");
        let value = Bytes::from(joined.join(","));
        let back = Metadata::from_header_fields([(&name, &value)]).unwrap();
        let got: Vec<&Bytes> = back.get_all_bin("data-bin").collect();
        prop_assert_eq!(got.len(), values.len());
        for (g, v) in got.iter().zip(&values) {
            prop_assert_eq!(&g[..], &v[..]);
        }
    }

    #[test]
    fn status_from_arbitrary_fields_never_panics(
        fields in prop::collection::vec((prop::sample::select(vec![
            "grpc-status", "grpc-message", "grpc-status-details-bin", "x-bin", "x", ":status", "Bad"
        ]), prop::collection::vec(any::<u8>(), 0..20)), 0..8)
    ) {
        let s = Status::from_header_fields(fields.iter().map(|(n, v)| (n.as_bytes(), &v[..])));
        let has = fields.iter().any(|(n, _)| *n == "grpc-status");
        prop_assert_eq!(s.is_some(), has);
    }
}
