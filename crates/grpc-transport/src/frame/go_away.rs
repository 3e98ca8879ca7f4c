//! GOAWAY frames (RFC 9113 §6.8).

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::head::{DEFAULT_MAX_FRAME_SIZE, FRAME_HEADER_LEN};
use super::{Flags, FrameError, FrameHeader, FrameType, Reason, StreamId};
use crate::ErrorCode;

/// A GOAWAY frame (RFC 9113 §6.8): the sender is shutting the connection down and will
/// not process streams above `last_stream_id`.
///
/// ```text
/// Reserved (1), Last-Stream-ID (31), Error Code (32), Additional Debug Data (..)
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct GoAway {
    last_stream_id: StreamId,
    error_code: ErrorCode,
    debug_data: Bytes,
}

impl GoAway {
    /// Length of the fixed part of the payload.
    const FIXED_LEN: usize = 8;

    /// The most debug data [`GoAway::with_debug_data`] keeps: enough for the whole frame
    /// to fit in 2^14 octets, a size every peer accepts (§4.2).
    pub const MAX_DEBUG_DATA_LEN: usize = DEFAULT_MAX_FRAME_SIZE as usize - Self::FIXED_LEN;

    /// A GOAWAY saying streams up to `last_stream_id` may have been processed, with no
    /// debug data.
    pub fn new(last_stream_id: StreamId, error_code: ErrorCode) -> GoAway {
        GoAway {
            last_stream_id,
            error_code,
            debug_data: Bytes::new(),
        }
    }

    /// The GOAWAY that answers a connection error (§5.4.1), naming `last_stream_id` as the
    /// last stream processed and the violated rule as debug data.
    pub fn for_error(last_stream_id: StreamId, error: &FrameError) -> GoAway {
        GoAway::new(last_stream_id, error.code())
            .with_debug_data(Bytes::from_static(error.reason().description().as_bytes()))
    }

    /// Attaches diagnostic data (§6.8), truncated to [`GoAway::MAX_DEBUG_DATA_LEN`] so the
    /// frame fits any peer's maximum frame size.
    pub fn with_debug_data(mut self, mut debug_data: Bytes) -> GoAway {
        debug_data.truncate(Self::MAX_DEBUG_DATA_LEN);
        self.debug_data = debug_data;
        self
    }

    /// The highest stream the sender might have processed.
    pub fn last_stream_id(&self) -> StreamId {
        self.last_stream_id
    }

    /// Why the connection is closing.
    pub fn error_code(&self) -> ErrorCode {
        self.error_code
    }

    /// Opaque diagnostic data; a slice of the read buffer when parsed.
    pub fn debug_data(&self) -> &Bytes {
        &self.debug_data
    }

    /// Length of the encoded frame, header included.
    pub fn encoded_len(&self) -> usize {
        FRAME_HEADER_LEN + Self::FIXED_LEN + self.debug_data.len()
    }

    /// Parses a GOAWAY payload (§6.8).
    pub(super) fn decode(head: &FrameHeader, mut payload: Bytes) -> Result<GoAway, FrameError> {
        // §6.8: "An endpoint MUST treat a GOAWAY frame with a stream identifier other than
        // 0x00 as a connection error of type PROTOCOL_ERROR."
        if !head.stream_id.is_zero() {
            return Err(FrameError::protocol(Reason::StreamIdNotZero));
        }
        // §4.2: a payload too small for the mandatory fields is a FRAME_SIZE_ERROR, and a
        // connection error since GOAWAY is on stream 0.
        let Some(&[l0, l1, l2, l3, c0, c1, c2, c3]) = payload.first_chunk::<8>() else {
            return Err(FrameError::frame_size(Reason::GoAwayTooShort));
        };
        payload.advance(Self::FIXED_LEN);
        Ok(GoAway {
            last_stream_id: StreamId::from_wire(u32::from_be_bytes([l0, l1, l2, l3])),
            error_code: ErrorCode(u32::from_be_bytes([c0, c1, c2, c3])),
            debug_data: payload,
        })
    }

    /// Appends the frame to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.reserve(self.encoded_len());
        FrameHeader {
            // Cannot truncate: parsed debug data came from a 24-bit Length, and
            // `with_debug_data` truncates to less than 2^14.
            length: (Self::FIXED_LEN + self.debug_data.len()) as u32,
            kind: FrameType::GOAWAY,
            flags: Flags::EMPTY,
            stream_id: StreamId::ZERO,
        }
        .encode(dst);
        dst.put_u32(self.last_stream_id.get());
        dst.put_u32(self.error_code.0);
        dst.put_slice(&self.debug_data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(stream: u32, len: usize) -> FrameHeader {
        FrameHeader {
            length: len as u32,
            kind: FrameType::GOAWAY,
            flags: Flags::EMPTY,
            stream_id: StreamId::new(stream).unwrap(),
        }
    }

    #[test]
    fn decode_reads_fields_and_keeps_debug_data() {
        let payload = Bytes::from_static(b"\x80\0\0\x07\0\0\0\x0bcalm down");
        let frame = GoAway::decode(&head(0, payload.len()), payload).unwrap();
        assert_eq!(frame.last_stream_id().get(), 7, "reserved bit ignored");
        assert_eq!(frame.error_code(), ErrorCode::ENHANCE_YOUR_CALM);
        assert_eq!(frame.debug_data(), &b"calm down"[..]);
    }

    #[test]
    fn shorter_than_eight_octets_is_a_connection_frame_size_error() {
        let err = GoAway::decode(&head(0, 7), Bytes::from_static(&[0; 7])).unwrap_err();
        assert_eq!(err, FrameError::frame_size(Reason::GoAwayTooShort));
    }

    #[test]
    fn a_stream_id_is_a_connection_protocol_error() {
        let err = GoAway::decode(&head(3, 8), Bytes::from_static(&[0; 8])).unwrap_err();
        assert_eq!(err, FrameError::protocol(Reason::StreamIdNotZero));
    }

    #[test]
    fn encode_writes_fields_then_debug_data() {
        let frame = GoAway::new(StreamId::new(5).unwrap(), ErrorCode::NO_ERROR)
            .with_debug_data(Bytes::from_static(b"bye"));
        let mut dst = BytesMut::new();
        frame.encode(&mut dst);
        assert_eq!(&dst[..], b"\0\0\x0b\x07\0\0\0\0\0\0\0\0\x05\0\0\0\0bye");
        assert_eq!(dst.len(), frame.encoded_len());
    }

    #[test]
    fn debug_data_is_truncated_to_fit_the_smallest_max_frame_size() {
        let frame = GoAway::new(StreamId::ZERO, ErrorCode::NO_ERROR)
            .with_debug_data(Bytes::from(vec![b'x'; 20_000]));
        assert_eq!(frame.encoded_len(), FRAME_HEADER_LEN + 16_384);
    }

    #[test]
    fn for_error_carries_the_code_and_the_rule() {
        let err = FrameError::frame_size(Reason::PingLength);
        let frame = GoAway::for_error(StreamId::new(9).unwrap(), &err);
        assert_eq!(frame.error_code(), ErrorCode::FRAME_SIZE_ERROR);
        assert_eq!(frame.last_stream_id().get(), 9);
        assert!(frame.debug_data().starts_with(b"PING"));
    }
}
