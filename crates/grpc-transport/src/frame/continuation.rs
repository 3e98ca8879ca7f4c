//! CONTINUATION frames (RFC 9113 §6.10).

use bytes::{BufMut, Bytes, BytesMut};

use super::head::{FRAME_HEADER_LEN, MAX_FRAME_SIZE_LIMIT};
use super::{Flags, FrameError, FrameHeader, FrameType, Reason, StreamId};

/// A CONTINUATION frame (RFC 9113 §6.10): the next fragment of a field block started by
/// HEADERS or PUSH_PROMISE.
///
/// That it follows a HEADERS, PUSH_PROMISE or CONTINUATION without END_HEADERS on the same
/// stream, and that nothing else comes in between, is connection state, checked by the
/// connection (§6.10, PROTOCOL_ERROR).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Continuation {
    stream_id: StreamId,
    fragment: Bytes,
    end_headers: bool,
}

impl Continuation {
    /// The longest fragment one frame can carry (the 24-bit Length field).
    pub const MAX_FRAGMENT_LEN: usize = MAX_FRAME_SIZE_LIMIT as usize;

    /// A CONTINUATION on `stream_id` carrying `fragment`, with END_HEADERS set.
    ///
    /// Fails as a receiver would: connection PROTOCOL_ERROR on stream 0, FRAME_SIZE_ERROR
    /// for a fragment longer than [`Continuation::MAX_FRAGMENT_LEN`].
    pub fn new(stream_id: StreamId, fragment: Bytes) -> Result<Continuation, FrameError> {
        if stream_id.is_zero() {
            return Err(FrameError::protocol(Reason::StreamIdZero));
        }
        if fragment.len() > Self::MAX_FRAGMENT_LEN {
            return Err(FrameError::frame_size(Reason::FrameTooLarge));
        }
        Ok(Continuation {
            stream_id,
            fragment,
            end_headers: true,
        })
    }

    /// Sets or clears END_HEADERS.
    pub fn with_end_headers(mut self, end_headers: bool) -> Continuation {
        self.end_headers = end_headers;
        self
    }

    /// The stream (never 0).
    pub fn stream_id(&self) -> StreamId {
        self.stream_id
    }

    /// The field block fragment; a slice of the read buffer when parsed.
    pub fn fragment(&self) -> &Bytes {
        &self.fragment
    }

    /// Takes the fragment out of the frame.
    pub fn into_fragment(self) -> Bytes {
        self.fragment
    }

    /// Whether END_HEADERS is set (the field block is complete).
    pub fn is_end_headers(&self) -> bool {
        self.end_headers
    }

    /// Length of the encoded frame, header included.
    pub fn encoded_len(&self) -> usize {
        FRAME_HEADER_LEN + self.fragment.len()
    }

    /// Parses a CONTINUATION payload (§6.10).
    pub(super) fn decode(head: &FrameHeader, payload: Bytes) -> Result<Continuation, FrameError> {
        // §6.10: "If a CONTINUATION frame is received with a Stream Identifier field of
        // 0x00, the recipient MUST respond with a connection error of type PROTOCOL_ERROR."
        if head.stream_id.is_zero() {
            return Err(FrameError::protocol(Reason::StreamIdZero));
        }
        Ok(Continuation {
            stream_id: head.stream_id,
            fragment: payload,
            end_headers: head.flags.contains(Flags::END_HEADERS),
        })
    }

    /// Appends the frame to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.reserve(self.encoded_len());
        FrameHeader {
            // Cannot truncate: the fragment is at most 2^24-1 octets (checked by `new`, or
            // parsed from a 24-bit Length).
            length: self.fragment.len() as u32,
            kind: FrameType::CONTINUATION,
            flags: Flags::when(self.end_headers, Flags::END_HEADERS),
            stream_id: self.stream_id,
        }
        .encode(dst);
        dst.put_slice(&self.fragment);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(flags: Flags, stream: u32) -> FrameHeader {
        FrameHeader {
            length: 2,
            kind: FrameType::CONTINUATION,
            flags,
            stream_id: StreamId::new(stream).unwrap(),
        }
    }

    #[test]
    fn decode_keeps_the_fragment_and_end_headers() {
        let frame = Continuation::decode(
            &head(Flags::END_HEADERS, 1),
            Bytes::from_static(b"\x82\x84"),
        )
        .unwrap();
        assert_eq!(frame.fragment(), &b"\x82\x84"[..]);
        assert!(frame.is_end_headers());
        // PADDED means nothing on CONTINUATION: the first octet is fragment, not a pad length.
        let frame =
            Continuation::decode(&head(Flags::PADDED, 1), Bytes::from_static(b"\x01\x84")).unwrap();
        assert_eq!(frame.fragment(), &b"\x01\x84"[..]);
        assert!(!frame.is_end_headers());
    }

    #[test]
    fn stream_zero_is_a_connection_protocol_error() {
        let err = Continuation::decode(&head(Flags::EMPTY, 0), Bytes::new()).unwrap_err();
        assert_eq!(err, FrameError::protocol(Reason::StreamIdZero));
    }

    #[test]
    fn encode_writes_flag_and_fragment() {
        let frame = Continuation::new(StreamId::new(3).unwrap(), Bytes::from_static(b"ab"))
            .unwrap()
            .with_end_headers(false);
        let mut dst = BytesMut::new();
        frame.encode(&mut dst);
        assert_eq!(&dst[..], b"\0\0\x02\x09\0\0\0\0\x03ab");
    }
}
