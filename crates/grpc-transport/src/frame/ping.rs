//! PING frames (RFC 9113 §6.7).

use bytes::{BufMut, BytesMut};

use super::head::FRAME_HEADER_LEN;
use super::{Flags, FrameError, FrameHeader, FrameType, Reason, StreamId};

/// A PING frame (RFC 9113 §6.7): measures round trips and checks the connection is alive.
///
/// ```text
/// Opaque Data (64)
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Ping {
    ack: bool,
    payload: [u8; 8],
}

impl Ping {
    /// Length of the payload.
    pub const LEN: usize = 8;

    /// A PING asking the peer to echo `payload`.
    pub fn new(payload: [u8; 8]) -> Ping {
        Ping {
            ack: false,
            payload,
        }
    }

    /// The response to a PING: the same payload with the ACK flag (§6.7: "Receivers of a
    /// PING frame that does not include an ACK flag MUST send a PING frame with the ACK
    /// flag set in response, with an identical frame payload").
    pub fn pong(payload: [u8; 8]) -> Ping {
        Ping { ack: true, payload }
    }

    /// Whether this is a response (ACK flag set).
    pub fn is_ack(&self) -> bool {
        self.ack
    }

    /// The opaque data.
    pub fn payload(&self) -> [u8; 8] {
        self.payload
    }

    /// Length of the encoded frame, header included.
    pub fn encoded_len(&self) -> usize {
        FRAME_HEADER_LEN + Self::LEN
    }

    /// Parses a PING payload (§6.7).
    pub(super) fn decode(head: &FrameHeader, payload: &[u8]) -> Result<Ping, FrameError> {
        // §6.7: "If a PING frame is received with a Stream Identifier field value other
        // than 0x00, the recipient MUST respond with a connection error of type
        // PROTOCOL_ERROR."
        if !head.stream_id.is_zero() {
            return Err(FrameError::protocol(Reason::StreamIdNotZero));
        }
        // §6.7: "Receipt of a PING frame with a length field value other than 8 MUST be
        // treated as a connection error of type FRAME_SIZE_ERROR."
        let Ok(payload) = <[u8; 8]>::try_from(payload) else {
            return Err(FrameError::frame_size(Reason::PingLength));
        };
        Ok(Ping {
            ack: head.flags.contains(Flags::ACK),
            payload,
        })
    }

    /// Appends the frame to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.reserve(self.encoded_len());
        FrameHeader {
            length: Self::LEN as u32,
            kind: FrameType::PING,
            flags: Flags::when(self.ack, Flags::ACK),
            stream_id: StreamId::ZERO,
        }
        .encode(dst);
        dst.put_slice(&self.payload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(flags: Flags, stream: u32, len: usize) -> FrameHeader {
        FrameHeader {
            length: len as u32,
            kind: FrameType::PING,
            flags,
            stream_id: StreamId::new(stream).unwrap(),
        }
    }

    #[test]
    fn decode_reads_ack_and_payload() {
        let ping = Ping::decode(&head(Flags::ACK, 0, 8), b"12345678").unwrap();
        assert_eq!(ping, Ping::pong(*b"12345678"));
        let ping = Ping::decode(&head(Flags::EMPTY, 0, 8), b"abcdefgh").unwrap();
        assert!(!ping.is_ack());
        assert_eq!(ping.payload(), *b"abcdefgh");
    }

    #[test]
    fn wrong_length_is_a_connection_frame_size_error() {
        for len in [0, 7, 9] {
            let err = Ping::decode(&head(Flags::EMPTY, 0, len), &vec![0; len]).unwrap_err();
            assert_eq!(err, FrameError::frame_size(Reason::PingLength));
        }
    }

    #[test]
    fn a_stream_id_is_a_connection_protocol_error() {
        let err = Ping::decode(&head(Flags::EMPTY, 1, 8), &[0; 8]).unwrap_err();
        assert_eq!(err, FrameError::protocol(Reason::StreamIdNotZero));
    }

    #[test]
    fn pong_echoes_the_payload_with_ack() {
        let mut dst = BytesMut::new();
        Ping::pong(*b"\x01\x02\x03\x04\x05\x06\x07\x08").encode(&mut dst);
        assert_eq!(
            &dst[..],
            b"\0\0\x08\x06\x01\0\0\0\0\x01\x02\x03\x04\x05\x06\x07\x08"
        );
    }
}
