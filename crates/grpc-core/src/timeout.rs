//! The `grpc-timeout` request header (`PROTOCOL-HTTP2.md`, "Requests"):
//!
//! ```text
//! Timeout      → "grpc-timeout" TimeoutValue TimeoutUnit
//! TimeoutValue → {positive integer as ASCII string of at most 8 digits}
//! TimeoutUnit  → Hour / Minute / Second / Millisecond / Microsecond / Nanosecond
//!                 "H"    "M"      "S"      "m"           "u"           "n"
//! ```

use std::fmt;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};

/// The largest TimeoutValue: eight digits.
const MAX_VALUE: u64 = 99_999_999;

/// Units, finest first, with their length in nanoseconds.
const UNITS: [(u8, u64); 6] = [
    (b'n', 1),
    (b'u', 1_000),
    (b'm', 1_000_000),
    (b'S', 1_000_000_000),
    (b'M', 60_000_000_000),
    (b'H', 3_600_000_000_000),
];

/// Encodes `timeout` as a `grpc-timeout` value: the finest unit in which the value fits in
/// eight digits, rounded up so the peer never sees a shorter timeout than ours and a non-zero
/// timeout never becomes `0`. Durations beyond `99999999H` (about 11,400 years) are sent as
/// `99999999H`; a zero duration is `0n`.
pub fn encode_timeout(timeout: Duration) -> Bytes {
    let nanos = timeout.as_nanos();
    let (value, unit) = UNITS
        .iter()
        .find_map(|&(unit, len)| {
            let value = nanos.div_ceil(u128::from(len));
            (value <= u128::from(MAX_VALUE)).then_some((value, unit))
        })
        .unwrap_or((u128::from(MAX_VALUE), b'H'));
    let mut out = BytesMut::with_capacity(9);
    // `value` has at most eight digits here.
    let digits = value.to_string();
    out.put_slice(digits.as_bytes());
    out.put_u8(unit);
    out.freeze()
}

/// Decodes a `grpc-timeout` value. Accepts 1 to 8 ASCII digits followed by one of the units
/// `H M S m u n`; `0` is accepted (a deadline already passed). Anything else is an
/// [`InvalidTimeout`]. Never overflows: the largest value, `99999999H`, fits in a [`Duration`].
pub fn decode_timeout(value: &[u8]) -> Result<Duration, InvalidTimeout> {
    let Some((&unit, digits)) = value.split_last() else {
        return Err(InvalidTimeout);
    };
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(InvalidTimeout);
    }
    let n = digits
        .iter()
        .fold(0u64, |acc, &d| acc * 10 + u64::from(d - b'0'));
    let duration = match unit {
        b'H' => Duration::from_secs(n.saturating_mul(3600)),
        b'M' => Duration::from_secs(n.saturating_mul(60)),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return Err(InvalidTimeout),
    };
    Ok(duration)
}

/// A `grpc-timeout` value that does not follow the grammar (`PROTOCOL-HTTP2.md`, "Requests").
/// A server answers it with INTERNAL or treats the call as having no usable timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct InvalidTimeout;

impl fmt::Display for InvalidTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid grpc-timeout value (expected 1 to 8 digits and a unit: H M S m u n)")
    }
}

impl std::error::Error for InvalidTimeout {}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(d: Duration) -> String {
        String::from_utf8(encode_timeout(d).to_vec()).unwrap_or_default()
    }

    #[test]
    fn encode_units() {
        assert_eq!(enc(Duration::ZERO), "0n");
        assert_eq!(enc(Duration::from_nanos(1)), "1n");
        assert_eq!(enc(Duration::from_nanos(99_999_999)), "99999999n");
        assert_eq!(enc(Duration::from_millis(100)), "100000u");
        assert_eq!(enc(Duration::from_nanos(100_000_001)), "100001u");
        assert_eq!(enc(Duration::from_secs(1)), "1000000u");
        assert_eq!(enc(Duration::from_secs(100)), "100000m");
        assert_eq!(enc(Duration::from_secs(100_000)), "100000S");
        assert_eq!(enc(Duration::from_secs(100_000_000)), "1666667M");
        assert_eq!(enc(Duration::MAX), "99999999H");
    }

    #[test]
    fn decode_units() {
        assert_eq!(decode_timeout(b"1H"), Ok(Duration::from_secs(3600)));
        assert_eq!(decode_timeout(b"2M"), Ok(Duration::from_secs(120)));
        assert_eq!(decode_timeout(b"3S"), Ok(Duration::from_secs(3)));
        assert_eq!(decode_timeout(b"4m"), Ok(Duration::from_millis(4)));
        assert_eq!(decode_timeout(b"5u"), Ok(Duration::from_micros(5)));
        assert_eq!(decode_timeout(b"6n"), Ok(Duration::from_nanos(6)));
        assert_eq!(
            decode_timeout(b"99999999H"),
            Ok(Duration::from_secs(99_999_999 * 3600))
        );
        assert_eq!(decode_timeout(b"00000001S"), Ok(Duration::from_secs(1)));
        for bad in [
            &b""[..],
            b"S",
            b"1",
            b"123456789S",
            b"1x",
            b"1s",
            b"-1S",
            b"+1S",
            b" 1S",
            b"1 S",
            b"1.5S",
        ] {
            assert_eq!(decode_timeout(bad), Err(InvalidTimeout), "{bad:?}");
        }
    }
}
