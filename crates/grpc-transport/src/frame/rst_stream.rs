//! RST_STREAM frames (RFC 9113 §6.4).

use bytes::{BufMut, BytesMut};

use super::head::FRAME_HEADER_LEN;
use super::{Flags, FrameError, FrameHeader, FrameType, Reason, StreamId};
use crate::ErrorCode;

/// An RST_STREAM frame (RFC 9113 §6.4): ends a stream at once, with an error code.
///
/// ```text
/// Error Code (32)
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Reset {
    stream_id: StreamId,
    error_code: ErrorCode,
}

impl Reset {
    /// Length of the payload.
    const LEN: usize = 4;

    /// An RST_STREAM frame for `stream_id`.
    ///
    /// Fails with connection PROTOCOL_ERROR ([`Reason::StreamIdZero`]) on stream 0, as a
    /// receiver would (§6.4).
    pub fn new(stream_id: StreamId, error_code: ErrorCode) -> Result<Reset, FrameError> {
        if stream_id.is_zero() {
            return Err(FrameError::protocol(Reason::StreamIdZero));
        }
        Ok(Reset {
            stream_id,
            error_code,
        })
    }

    /// The RST_STREAM that answers a stream error (§5.4.2), or `None` for a connection
    /// error (which calls for GOAWAY instead).
    pub fn for_error(error: &FrameError) -> Option<Reset> {
        let stream_id = error.stream_id()?;
        Reset::new(stream_id, error.code()).ok()
    }

    /// The stream being reset (never 0).
    pub fn stream_id(&self) -> StreamId {
        self.stream_id
    }

    /// Why the stream is being reset.
    pub fn error_code(&self) -> ErrorCode {
        self.error_code
    }

    /// Length of the encoded frame, header included.
    pub fn encoded_len(&self) -> usize {
        FRAME_HEADER_LEN + Self::LEN
    }

    /// Parses an RST_STREAM payload (§6.4).
    pub(super) fn decode(head: &FrameHeader, payload: &[u8]) -> Result<Reset, FrameError> {
        // §6.4: "If an RST_STREAM frame is received with a stream identifier of 0x00, the
        // recipient MUST treat this as a connection error of type PROTOCOL_ERROR."
        if head.stream_id.is_zero() {
            return Err(FrameError::protocol(Reason::StreamIdZero));
        }
        // §6.4: "An RST_STREAM frame with a length other than 4 octets MUST be treated as a
        // connection error of type FRAME_SIZE_ERROR."
        let Ok(code) = <[u8; 4]>::try_from(payload) else {
            return Err(FrameError::frame_size(Reason::ResetLength));
        };
        Ok(Reset {
            stream_id: head.stream_id,
            error_code: ErrorCode(u32::from_be_bytes(code)),
        })
    }

    /// Appends the frame to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.reserve(self.encoded_len());
        FrameHeader {
            length: Self::LEN as u32,
            kind: FrameType::RST_STREAM,
            flags: Flags::EMPTY,
            stream_id: self.stream_id,
        }
        .encode(dst);
        dst.put_u32(self.error_code.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(stream: u32, len: usize) -> FrameHeader {
        FrameHeader {
            length: len as u32,
            kind: FrameType::RST_STREAM,
            flags: Flags::EMPTY,
            stream_id: StreamId::new(stream).unwrap(),
        }
    }

    #[test]
    fn decode_keeps_unknown_error_codes() {
        let frame = Reset::decode(&head(1, 4), &[0, 0, 0xbe, 0xef]).unwrap();
        assert_eq!(frame.error_code(), ErrorCode(0xbeef));
        assert_eq!(frame.stream_id().get(), 1);
    }

    #[test]
    fn wrong_length_is_a_connection_frame_size_error() {
        for len in [0, 3, 5] {
            let err = Reset::decode(&head(1, len), &vec![0; len]).unwrap_err();
            assert_eq!(err, FrameError::frame_size(Reason::ResetLength));
        }
    }

    #[test]
    fn stream_zero_is_a_connection_protocol_error() {
        let err = Reset::decode(&head(0, 4), &[0; 4]).unwrap_err();
        assert_eq!(err, FrameError::protocol(Reason::StreamIdZero));
    }

    #[test]
    fn encode_writes_the_error_code() {
        let frame = Reset::new(StreamId::new(3).unwrap(), ErrorCode::CANCEL).unwrap();
        let mut dst = BytesMut::new();
        frame.encode(&mut dst);
        assert_eq!(&dst[..], b"\0\0\x04\x03\0\0\0\0\x03\0\0\0\x08");
    }

    #[test]
    fn for_error_answers_stream_errors_only() {
        let id = StreamId::new(9).unwrap();
        let stream_err = FrameError::stream(id, ErrorCode::PROTOCOL_ERROR, Reason::SelfDependency);
        assert_eq!(
            Reset::for_error(&stream_err),
            Some(Reset::new(id, ErrorCode::PROTOCOL_ERROR).unwrap())
        );
        assert_eq!(
            Reset::for_error(&FrameError::frame_size(Reason::PingLength)),
            None
        );
    }
}
