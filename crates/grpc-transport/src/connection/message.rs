//! HTTP message rules for header blocks (RFC 9113 §8.1–§8.3).
//!
//! A header block that breaks these rules makes the request or response *malformed*
//! (§8.1.1): a stream error of type PROTOCOL_ERROR, never a connection error. The functions
//! return a short reason for logs.

use crate::hpack::HeaderField;

/// What the connection needs to remember from a valid header block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct MessageHead {
    /// The `content-length` value, checked against the DATA received (§8.1.1).
    pub(crate) content_length: Option<u64>,
    /// A 1xx response: more headers follow (§8.1).
    pub(crate) informational: bool,
}

/// Which kind of header block is being checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BlockKind {
    Request,
    Response,
    Trailers,
}

/// Checks a header block against the rules for its kind.
pub(crate) fn validate(
    fields: &[HeaderField],
    kind: BlockKind,
) -> Result<MessageHead, &'static str> {
    let mut head = MessageHead::default();
    let mut regular_seen = false;
    let mut method: Option<&[u8]> = None;
    let (mut scheme, mut path, mut authority, mut status, mut protocol) =
        (false, false, false, None, false);
    for field in fields {
        let name = &field.name[..];
        check_value(&field.value)?;
        if let Some(pseudo) = name.strip_prefix(b":") {
            // §8.3: pseudo-header fields come first, once each, only the defined ones, never
            // in trailers.
            if regular_seen {
                return Err("pseudo-header field after a regular field");
            }
            let slot_taken = match (kind, pseudo) {
                (BlockKind::Request, b"method") => method.replace(&field.value).is_some(),
                (BlockKind::Request, b"scheme") => std::mem::replace(&mut scheme, true),
                (BlockKind::Request, b"path") => {
                    if field.value.is_empty() {
                        return Err("empty :path");
                    }
                    std::mem::replace(&mut path, true)
                }
                (BlockKind::Request, b"authority") => std::mem::replace(&mut authority, true),
                // RFC 8441 extended CONNECT.
                (BlockKind::Request, b"protocol") => std::mem::replace(&mut protocol, true),
                (BlockKind::Response, b"status") => {
                    status.replace(parse_status(&field.value)?).is_some()
                }
                _ => return Err("unknown or misplaced pseudo-header field"),
            };
            if slot_taken {
                return Err("duplicate pseudo-header field");
            }
            continue;
        }
        regular_seen = true;
        check_name(name)?;
        match name {
            // §8.2.2: connection-specific fields are not used in HTTP/2.
            b"connection" | b"keep-alive" | b"proxy-connection" | b"transfer-encoding"
            | b"upgrade" => return Err("connection-specific header field"),
            b"te" if field.value.as_ref() != b"trailers" => {
                return Err("te header field other than \"trailers\"");
            }
            b"content-length" => {
                let value = parse_content_length(&field.value)?;
                if head.content_length.is_some_and(|seen| seen != value) {
                    return Err("conflicting content-length values");
                }
                head.content_length = Some(value);
            }
            _ => {}
        }
    }
    match kind {
        BlockKind::Request => {
            let Some(method) = method else {
                return Err("missing :method");
            };
            // §8.5: CONNECT carries only :method and :authority (unless extended CONNECT).
            if method == b"CONNECT" && !protocol {
                if scheme || path || !authority {
                    return Err("malformed CONNECT request");
                }
            } else if !scheme || !path {
                return Err("missing :scheme or :path");
            }
        }
        BlockKind::Response => {
            let Some(status) = status else {
                return Err("missing :status");
            };
            head.informational = (100..200).contains(&status);
        }
        BlockKind::Trailers => {}
    }
    Ok(head)
}

/// §8.2.1: field names are lowercase tokens.
fn check_name(name: &[u8]) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("empty field name");
    }
    let valid = name.iter().all(|&b| {
        matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'!' | b'#' | b'$' | b'%' | b'&' | b'\''
            | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~')
    });
    if valid {
        Ok(())
    } else {
        Err("field name with uppercase or invalid characters")
    }
}

/// §8.2.1: no NUL, CR or LF anywhere, no whitespace at either end.
fn check_value(value: &[u8]) -> Result<(), &'static str> {
    if value.iter().any(|&b| matches!(b, 0 | b'\r' | b'\n')) {
        return Err("field value with NUL, CR or LF");
    }
    let edge_ws = |b: Option<&u8>| matches!(b, Some(b' ' | b'\t'));
    if edge_ws(value.first()) || edge_ws(value.last()) {
        return Err("field value with leading or trailing whitespace");
    }
    Ok(())
}

fn parse_status(value: &[u8]) -> Result<u16, &'static str> {
    match value {
        [a @ b'1'..=b'9', b @ b'0'..=b'9', c @ b'0'..=b'9'] => {
            Ok(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => Err(":status is not a three-digit code"),
    }
}

fn parse_content_length(value: &[u8]) -> Result<u64, &'static str> {
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return Err("invalid content-length");
    }
    Ok(value
        .iter()
        .fold(0u64, |acc, &b| acc * 10 + u64::from(b - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&'static str, &'static str)]) -> Vec<HeaderField> {
        pairs
            .iter()
            .map(|&(name, value)| HeaderField::new(name, value))
            .collect()
    }

    fn request(extra: &[(&'static str, &'static str)]) -> Vec<HeaderField> {
        let mut all = fields(&[(":method", "POST"), (":scheme", "http"), (":path", "/a")]);
        all.extend(fields(extra));
        all
    }

    #[test]
    fn a_plain_request_and_response_are_valid() {
        assert!(validate(&request(&[("te", "trailers")]), BlockKind::Request).is_ok());
        let head = validate(&fields(&[(":status", "103")]), BlockKind::Response).unwrap();
        assert!(head.informational);
    }

    #[test]
    fn malformed_blocks_are_rejected() {
        let cases: &[(Vec<HeaderField>, BlockKind)] = &[
            (request(&[("Upper", "x")]), BlockKind::Request),
            (request(&[("connection", "close")]), BlockKind::Request),
            (request(&[("te", "gzip")]), BlockKind::Request),
            (request(&[("x", "a\nb")]), BlockKind::Request),
            (request(&[("x", " padded")]), BlockKind::Request),
            (request(&[(":path", "/b")]), BlockKind::Request),
            (
                fields(&[(":method", "GET"), (":path", "/")]),
                BlockKind::Request,
            ),
            (fields(&[(":status", "20")]), BlockKind::Response),
            (
                fields(&[("x", "y"), (":status", "200")]),
                BlockKind::Response,
            ),
            (fields(&[(":status", "200")]), BlockKind::Trailers),
            (
                request(&[("content-length", "1"), ("content-length", "2")]),
                BlockKind::Request,
            ),
        ];
        for (block, kind) in cases {
            assert!(validate(block, *kind).is_err(), "{block:?} as {kind:?}");
        }
    }

    #[test]
    fn content_length_is_remembered() {
        let head = validate(&request(&[("content-length", "42")]), BlockKind::Request).unwrap();
        assert_eq!(head.content_length, Some(42));
    }
}
