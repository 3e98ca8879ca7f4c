//! grpc-timeout values (PROTOCOL-HTTP2.md, "Requests").
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use grpc_core::timeout::{InvalidTimeout, decode_timeout, encode_timeout};

fn enc(d: Duration) -> String {
    String::from_utf8(encode_timeout(d).to_vec()).unwrap()
}

#[test]
fn encode_picks_the_finest_unit_that_fits() {
    let cases = [
        (Duration::from_nanos(1), "1n"),
        (Duration::from_nanos(999), "999n"),
        (Duration::from_micros(1), "1000n"),
        (Duration::from_millis(1), "1000000n"),
        (Duration::from_nanos(99_999_999), "99999999n"),
        (Duration::from_nanos(100_000_000), "100000u"),
        (Duration::from_millis(100), "100000u"),
        (Duration::from_nanos(100_000_001), "100001u"), // rounded up
        (Duration::from_secs(1), "1000000u"),
        (Duration::from_secs(99), "99000000u"),
        (Duration::from_secs(100), "100000m"),
        (Duration::from_secs(99_999), "99999000m"),
        (Duration::from_secs(100_000), "100000S"),
        (Duration::from_secs(99_999_999), "99999999S"),
        (Duration::from_secs(100_000_000), "1666667M"), // rounded up
        (Duration::from_secs(60 * 99_999_999), "99999999M"),
        (Duration::from_secs(60 * 99_999_999 + 1), "1666667H"),
        (Duration::from_secs(3600 * 99_999_999), "99999999H"),
        (Duration::MAX, "99999999H"),
        (Duration::ZERO, "0n"),
    ];
    for (d, s) in cases {
        assert_eq!(enc(d), s, "{d:?}");
    }
}

#[test]
fn encode_never_gives_zero_for_nonzero() {
    for nanos in [1u64, 2, 999, 100_000_001, u64::MAX] {
        let d = Duration::from_nanos(nanos);
        assert!(decode_timeout(&encode_timeout(d)).unwrap() >= d);
    }
}

#[test]
fn decode_accepts_every_unit() {
    let cases: [(&[u8], Duration); 8] = [
        (b"1H", Duration::from_secs(3600)),
        (b"1M", Duration::from_secs(60)),
        (b"1S", Duration::from_secs(1)),
        (b"1m", Duration::from_millis(1)),
        (b"1u", Duration::from_micros(1)),
        (b"1n", Duration::from_nanos(1)),
        (b"0S", Duration::ZERO),
        (b"12345678m", Duration::from_millis(12_345_678)),
    ];
    for (raw, d) in cases {
        assert_eq!(decode_timeout(raw), Ok(d), "{raw:?}");
    }
}

#[test]
fn decode_huge_values_do_not_overflow() {
    for unit in [b'H', b'M', b'S', b'm', b'u', b'n'] {
        let mut raw = b"99999999".to_vec();
        raw.push(unit);
        assert!(decode_timeout(&raw).is_ok());
    }
    assert_eq!(
        decode_timeout(b"99999999H").unwrap(),
        Duration::from_secs(99_999_999 * 3600)
    );
}

#[test]
fn decode_rejects_malformed() {
    let bad: [&[u8]; 14] = [
        b"",
        b"S",
        b"10",
        b"123456789S",
        b"000000001S",
        b"1h",
        b"1s",
        b"1x",
        b"1SS",
        b"a1S",
        b"1 S",
        b"-1S",
        b"\xff1S",
        b"1\xff",
    ];
    for raw in bad {
        assert_eq!(decode_timeout(raw), Err(InvalidTimeout), "{raw:?}");
    }
    assert!(InvalidTimeout.to_string().contains("grpc-timeout"));
}
