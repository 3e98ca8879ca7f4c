//! The client connection preface (RFC 9113 §3.4).

/// The first 24 octets a client sends on an HTTP/2 connection, before its SETTINGS frame
/// (RFC 9113 §3.4): `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`.
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What the start of a server's read buffer says about the client preface.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum PrefaceCheck {
    /// The buffer is a proper prefix of [`PREFACE`]: read more.
    Incomplete,
    /// The buffer starts with the whole preface: consume `PREFACE.len()` octets; a SETTINGS
    /// frame must follow (§3.4).
    Valid,
    /// The buffer cannot be the start of the preface: a connection error of type
    /// PROTOCOL_ERROR (§3.4). The variant guesses what the peer is speaking, for the log.
    Invalid(InvalidPreface),
}

/// What a client that did not send the HTTP/2 preface seems to be speaking.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum InvalidPreface {
    /// The bytes look like an HTTP/1.x request line (`GET / HTTP/1.1`...): probably an
    /// HTTP/1.1 client, or a proxy that does not speak HTTP/2 to its upstream.
    Http1,
    /// The bytes look like a TLS record (handshake content type 0x16): a TLS client talking
    /// to a plaintext port.
    Tls,
    /// Anything else.
    Other,
}

/// Checks whether `buf` starts with the client preface (RFC 9113 §3.4). Decides as soon as
/// the first wrong octet arrives, without waiting for 24 octets.
pub fn check_preface(buf: &[u8]) -> PrefaceCheck {
    let seen = buf.len().min(PREFACE.len());
    let (head, expected) = (&buf[..seen], &PREFACE[..seen]); // cannot fail: seen <= both lengths
    if head != expected {
        return PrefaceCheck::Invalid(guess_protocol(head));
    }
    if seen == PREFACE.len() {
        PrefaceCheck::Valid
    } else {
        PrefaceCheck::Incomplete
    }
}

/// Longest HTTP method token we look for before the space (e.g. "PROPFIND", "OPTIONS").
const MAX_METHOD_LEN: usize = 16;

fn guess_protocol(head: &[u8]) -> InvalidPreface {
    if head.first() == Some(&0x16) {
        return InvalidPreface::Tls;
    }
    // An HTTP/1.x request line starts with a method token of upper-case letters followed
    // by a space. What has arrived so far only needs to be consistent with that.
    let method_len = head.iter().take_while(|b| b.is_ascii_uppercase()).count();
    let consistent = match head.get(method_len) {
        None => method_len <= MAX_METHOD_LEN,
        Some(&b' ') => (1..=MAX_METHOD_LEN).contains(&method_len),
        Some(_) => false,
    };
    if consistent && method_len > 0 {
        InvalidPreface::Http1
    } else {
        InvalidPreface::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_whole_preface_is_valid_even_with_more_bytes_after_it() {
        assert_eq!(check_preface(PREFACE), PrefaceCheck::Valid);
        let mut more = PREFACE.to_vec();
        more.extend_from_slice(b"\0\0\0\x04\0\0\0\0\0");
        assert_eq!(check_preface(&more), PrefaceCheck::Valid);
    }

    #[test]
    fn every_proper_prefix_is_incomplete() {
        for len in 0..PREFACE.len() {
            assert_eq!(
                check_preface(&PREFACE[..len]),
                PrefaceCheck::Incomplete,
                "len {len}"
            );
        }
    }

    #[test]
    fn an_http1_request_is_invalid_with_an_http1_hint() {
        let check = check_preface(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(check, PrefaceCheck::Invalid(InvalidPreface::Http1));
        // Decided on the first wrong octet.
        assert_eq!(
            check_preface(b"PO"),
            PrefaceCheck::Invalid(InvalidPreface::Http1)
        );
        assert_eq!(
            check_preface(b"OPTIONS * HTTP/1.1\r\n"),
            PrefaceCheck::Invalid(InvalidPreface::Http1)
        );
        // Same method as the preface, older version: an HTTP/1.1 request line all the same.
        assert_eq!(
            check_preface(b"PRI * HTTP/1.1\r\n"),
            PrefaceCheck::Invalid(InvalidPreface::Http1)
        );
    }

    #[test]
    fn a_tls_client_hello_is_invalid_with_a_tls_hint() {
        assert_eq!(
            check_preface(b"\x16\x03\x01\x02\x00"),
            PrefaceCheck::Invalid(InvalidPreface::Tls)
        );
    }

    #[test]
    fn other_garbage_is_invalid_without_a_hint() {
        assert_eq!(
            check_preface(b"\0\0\0\x04"),
            PrefaceCheck::Invalid(InvalidPreface::Other)
        );
        assert_eq!(
            check_preface(b"hello"),
            PrefaceCheck::Invalid(InvalidPreface::Other)
        );
    }
}
