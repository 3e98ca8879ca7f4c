//! Percent-encoding of `grpc-message` (`PROTOCOL-HTTP2.md`, "Responses": Status-Message).
//!
//! The status message is UTF-8 text. On the wire every octet outside the printable ASCII range
//! `0x20..=0x7E`, and `%` itself, is written as `%XX` with upper-case hex digits. A receiver
//! must not fail a call because the message is badly encoded, so decoding never fails: bad
//! escapes are kept literally and invalid UTF-8 is replaced lossily.

use std::borrow::Cow;

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Does `b` need an escape in `grpc-message`?
fn needs_escape(b: u8) -> bool {
    !(0x20..=0x7E).contains(&b) || b == b'%'
}

/// Percent-encodes `message` for `grpc-message`. Borrows when nothing needs escaping (the
/// common case of a plain ASCII message).
pub fn encode_grpc_message(message: &str) -> Cow<'_, str> {
    let bytes = message.as_bytes();
    let Some(first) = bytes.iter().position(|&b| needs_escape(b)) else {
        return Cow::Borrowed(message);
    };
    let escapes = bytes[first..].iter().filter(|&&b| needs_escape(b)).count();
    let mut out = String::with_capacity(bytes.len() + 2 * escapes);
    out.push_str(&message[..first]);
    for &b in &bytes[first..] {
        if needs_escape(b) {
            out.push('%');
            out.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
            out.push(char::from(HEX_UPPER[usize::from(b & 0x0F)]));
        } else {
            out.push(char::from(b));
        }
    }
    Cow::Owned(out)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes a received `grpc-message` value. Never fails: a `%` not followed by two hex digits
/// is kept as it is, and octets that do not form UTF-8 become U+FFFD. Lower-case hex digits are
/// accepted too.
pub fn decode_grpc_message(value: &[u8]) -> String {
    if !value.contains(&b'%') {
        return String::from_utf8_lossy(value).into_owned();
    }
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while let Some(&b) = value.get(i) {
        if b == b'%' {
            let hi = value.get(i + 1).copied().and_then(hex_value);
            let lo = value.get(i + 2).copied().and_then(hex_value);
            if let (Some(hi), Some(lo)) = (hi, lo) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ascii_is_borrowed() {
        assert!(matches!(
            encode_grpc_message("hello world"),
            Cow::Borrowed(_)
        ));
        assert_eq!(decode_grpc_message(b"hello world"), "hello world");
    }

    #[test]
    fn escapes() {
        assert_eq!(encode_grpc_message("50%"), "50%25");
        assert_eq!(encode_grpc_message("a\nb"), "a%0Ab");
        assert_eq!(encode_grpc_message("\u{e9}"), "%C3%A9");
        assert_eq!(encode_grpc_message("\u{7f}~ "), "%7F~ ");
        assert_eq!(decode_grpc_message(b"%C3%a9"), "\u{e9}");
    }

    #[test]
    fn bad_escapes_are_kept() {
        assert_eq!(decode_grpc_message(b"%"), "%");
        assert_eq!(decode_grpc_message(b"%G1"), "%G1");
        assert_eq!(decode_grpc_message(b"%4"), "%4");
        assert_eq!(decode_grpc_message(b"100%%41"), "100%A");
        assert_eq!(decode_grpc_message(b"%FF"), "\u{fffd}");
        assert_eq!(decode_grpc_message(b"\xff"), "\u{fffd}");
    }
}
