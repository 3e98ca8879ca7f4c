//! WINDOW_UPDATE frames (RFC 9113 §6.9).

use bytes::{BufMut, BytesMut};

use super::head::FRAME_HEADER_LEN;
use super::settings::MAX_WINDOW_SIZE;
use super::{Flags, FrameError, FrameHeader, FrameType, Reason, StreamId};
use crate::ErrorCode;

/// A WINDOW_UPDATE frame (RFC 9113 §6.9): grows a flow-control window, of one stream or
/// (on stream 0) of the whole connection.
///
/// ```text
/// Reserved (1), Window Size Increment (31)
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct WindowUpdate {
    stream_id: StreamId,
    increment: u32,
}

impl WindowUpdate {
    /// Length of the payload.
    const LEN: usize = 4;

    /// A window update of `increment` octets for `stream_id` (0: the connection window).
    ///
    /// Fails as a receiver would for an increment of 0 ([`Reason::ZeroWindowIncrement`]),
    /// and with [`Reason::WindowIncrementTooLarge`] above 2^31-1 (§6.9: the increment is
    /// 1..=2^31-1).
    pub fn new(stream_id: StreamId, increment: u32) -> Result<WindowUpdate, FrameError> {
        if increment > MAX_WINDOW_SIZE {
            return Err(FrameError::connection(
                ErrorCode::FLOW_CONTROL_ERROR,
                Reason::WindowIncrementTooLarge,
            ));
        }
        check_increment(stream_id, increment)?;
        Ok(WindowUpdate {
            stream_id,
            increment,
        })
    }

    /// The stream whose window grows; 0 for the connection.
    pub fn stream_id(&self) -> StreamId {
        self.stream_id
    }

    /// The number of octets the window grows by, 1..=2^31-1. Whether the window then
    /// overflows 2^31-1 is for the connection to check (§6.9.1).
    pub fn increment(&self) -> u32 {
        self.increment
    }

    /// Length of the encoded frame, header included.
    pub fn encoded_len(&self) -> usize {
        FRAME_HEADER_LEN + Self::LEN
    }

    /// Parses a WINDOW_UPDATE payload (§6.9).
    pub(super) fn decode(head: &FrameHeader, payload: &[u8]) -> Result<WindowUpdate, FrameError> {
        // §6.9: "A WINDOW_UPDATE frame with a length other than 4 octets MUST be treated as
        // a connection error of type FRAME_SIZE_ERROR."
        let Ok(raw) = <[u8; 4]>::try_from(payload) else {
            return Err(FrameError::frame_size(Reason::WindowUpdateLength));
        };
        // The top bit is reserved (§6.9): dropping it leaves a 31-bit increment.
        let increment = u32::from_be_bytes(raw) & MAX_WINDOW_SIZE;
        check_increment(head.stream_id, increment)?;
        Ok(WindowUpdate {
            stream_id: head.stream_id,
            increment,
        })
    }

    /// Appends the frame to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.reserve(self.encoded_len());
        FrameHeader {
            length: Self::LEN as u32,
            kind: FrameType::WINDOW_UPDATE,
            flags: Flags::EMPTY,
            stream_id: self.stream_id,
        }
        .encode(dst);
        dst.put_u32(self.increment);
    }
}

/// §6.9: "A receiver MUST treat the receipt of a WINDOW_UPDATE frame with a flow-control
/// window increment of 0 as a stream error of type PROTOCOL_ERROR; errors on the
/// connection flow-control window MUST be treated as a connection error."
fn check_increment(stream_id: StreamId, increment: u32) -> Result<(), FrameError> {
    if increment != 0 {
        Ok(())
    } else if stream_id.is_zero() {
        Err(FrameError::protocol(Reason::ZeroWindowIncrement))
    } else {
        Err(FrameError::stream(
            stream_id,
            ErrorCode::PROTOCOL_ERROR,
            Reason::ZeroWindowIncrement,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> StreamId {
        StreamId::new(n).unwrap()
    }

    fn head(stream: u32, len: usize) -> FrameHeader {
        FrameHeader {
            length: len as u32,
            kind: FrameType::WINDOW_UPDATE,
            flags: Flags::EMPTY,
            stream_id: id(stream),
        }
    }

    #[test]
    fn decode_ignores_the_reserved_bit() {
        let frame = WindowUpdate::decode(&head(1, 4), &[0x80, 0, 0x01, 0]).unwrap();
        assert_eq!(frame.increment(), 256);
        assert_eq!(frame.stream_id(), id(1));
        let frame = WindowUpdate::decode(&head(0, 4), &[0xff; 4]).unwrap();
        assert_eq!(frame.increment(), MAX_WINDOW_SIZE);
    }

    #[test]
    fn zero_increment_on_a_stream_is_a_stream_error() {
        let err = WindowUpdate::decode(&head(3, 4), &[0; 4]).unwrap_err();
        assert_eq!(
            err,
            FrameError::stream(
                id(3),
                ErrorCode::PROTOCOL_ERROR,
                Reason::ZeroWindowIncrement
            )
        );
    }

    #[test]
    fn zero_increment_on_the_connection_is_a_connection_error() {
        // Only the reserved bit set: still an increment of 0.
        let err = WindowUpdate::decode(&head(0, 4), &[0x80, 0, 0, 0]).unwrap_err();
        assert_eq!(err, FrameError::protocol(Reason::ZeroWindowIncrement));
    }

    #[test]
    fn wrong_length_is_a_connection_frame_size_error_even_on_a_stream() {
        for len in [0, 3, 5] {
            let err = WindowUpdate::decode(&head(1, len), &vec![1; len]).unwrap_err();
            assert_eq!(err, FrameError::frame_size(Reason::WindowUpdateLength));
        }
    }

    #[test]
    fn new_accepts_exactly_one_to_two_to_the_31_minus_one() {
        assert!(WindowUpdate::new(id(1), 1).is_ok());
        assert!(WindowUpdate::new(StreamId::ZERO, MAX_WINDOW_SIZE).is_ok());
        assert_eq!(
            WindowUpdate::new(id(1), MAX_WINDOW_SIZE + 1)
                .unwrap_err()
                .reason(),
            Reason::WindowIncrementTooLarge
        );
        assert_eq!(
            WindowUpdate::new(StreamId::ZERO, 0).unwrap_err(),
            FrameError::protocol(Reason::ZeroWindowIncrement)
        );
    }

    #[test]
    fn encode_writes_the_increment() {
        let mut dst = BytesMut::new();
        WindowUpdate::new(id(1), 0x0102_0304)
            .unwrap()
            .encode(&mut dst);
        assert_eq!(&dst[..], b"\0\0\x04\x08\0\0\0\0\x01\x01\x02\x03\x04");
    }
}
