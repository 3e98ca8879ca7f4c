//! PRIORITY frames (RFC 9113 §6.3) and the priority fields HEADERS may carry (§6.2).
//!
//! RFC 9113 deprecates this priority scheme (§5.3.2) but frames carrying it must still be
//! parsed and validated; the connection is free to ignore what they say.

use bytes::{BufMut, BytesMut};

use super::head::FRAME_HEADER_LEN;
use super::{Flags, FrameError, FrameHeader, FrameType, Reason, StreamId};
use crate::ErrorCode;

/// The RFC 7540 priority fields: exclusive flag, stream dependency and weight (§6.3).
///
/// ```text
/// Exclusive (1), Stream Dependency (31), Weight (8)
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct PrioritySpec {
    /// Whether the dependency is exclusive.
    pub exclusive: bool,
    /// The stream this one depends on.
    pub dependency: StreamId,
    /// The Weight field as sent: the priority weight minus one (0 means weight 1, 255
    /// means weight 256).
    pub weight: u8,
}

impl PrioritySpec {
    /// Length of the fields on the wire.
    pub const LEN: usize = 5;

    /// Reads the 5 octets of priority fields.
    pub fn parse(bytes: &[u8; 5]) -> PrioritySpec {
        let [d0, d1, d2, d3, weight] = *bytes;
        let raw = u32::from_be_bytes([d0, d1, d2, d3]);
        PrioritySpec {
            exclusive: raw & 0x8000_0000 != 0,
            dependency: StreamId::from_wire(raw),
            weight,
        }
    }

    /// Appends the 5 octets of priority fields to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        let exclusive = if self.exclusive { 0x8000_0000 } else { 0 };
        dst.put_u32(exclusive | self.dependency.get());
        dst.put_u8(self.weight);
    }

    /// The priority weight, 1..=256 (§5.3.1 of RFC 7540, referenced by RFC 9113 §6.3).
    pub fn weight_value(&self) -> u16 {
        u16::from(self.weight) + 1
    }

    /// The stream error a stream with this priority must get, if it names itself as its
    /// dependency: RFC 9113 §5.3.1, "A stream cannot depend on itself. An endpoint MUST
    /// treat this as a stream error ... of type PROTOCOL_ERROR."
    pub(super) fn check_dependency(&self, stream_id: StreamId) -> Result<(), FrameError> {
        if self.dependency == stream_id {
            Err(FrameError::stream(
                stream_id,
                ErrorCode::PROTOCOL_ERROR,
                Reason::SelfDependency,
            ))
        } else {
            Ok(())
        }
    }
}

/// A PRIORITY frame (RFC 9113 §6.3): the sender's advice on a stream's priority.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Priority {
    stream_id: StreamId,
    spec: PrioritySpec,
}

impl Priority {
    /// A PRIORITY frame for `stream_id`.
    ///
    /// Fails with the error a receiver would report: connection PROTOCOL_ERROR on stream 0
    /// ([`Reason::StreamIdZero`]), stream PROTOCOL_ERROR if the stream depends on itself
    /// ([`Reason::SelfDependency`]).
    pub fn new(stream_id: StreamId, spec: PrioritySpec) -> Result<Priority, FrameError> {
        if stream_id.is_zero() {
            return Err(FrameError::protocol(Reason::StreamIdZero));
        }
        spec.check_dependency(stream_id)?;
        Ok(Priority { stream_id, spec })
    }

    /// The stream whose priority this is (never 0).
    pub fn stream_id(&self) -> StreamId {
        self.stream_id
    }

    /// The priority fields (never naming the frame's own stream).
    pub fn spec(&self) -> PrioritySpec {
        self.spec
    }

    /// Length of the encoded frame, header included.
    pub fn encoded_len(&self) -> usize {
        FRAME_HEADER_LEN + PrioritySpec::LEN
    }

    /// Parses a PRIORITY payload (§6.3).
    pub(super) fn decode(head: &FrameHeader, payload: &[u8]) -> Result<Priority, FrameError> {
        // §6.3: "If a PRIORITY frame is received with a stream identifier of 0x00, the
        // recipient MUST respond with a connection error of type PROTOCOL_ERROR."
        if head.stream_id.is_zero() {
            return Err(FrameError::protocol(Reason::StreamIdZero));
        }
        // §6.3: "A PRIORITY frame with a length other than 5 octets MUST be treated as a
        // stream error of type FRAME_SIZE_ERROR."
        let Ok(fields) = <&[u8; 5]>::try_from(payload) else {
            return Err(FrameError::stream(
                head.stream_id,
                ErrorCode::FRAME_SIZE_ERROR,
                Reason::PriorityLength,
            ));
        };
        let spec = PrioritySpec::parse(fields);
        spec.check_dependency(head.stream_id)?;
        Ok(Priority {
            stream_id: head.stream_id,
            spec,
        })
    }

    /// Appends the frame to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.reserve(self.encoded_len());
        FrameHeader {
            length: PrioritySpec::LEN as u32,
            kind: FrameType::PRIORITY,
            flags: Flags::EMPTY,
            stream_id: self.stream_id,
        }
        .encode(dst);
        self.spec.encode(dst);
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
            kind: FrameType::PRIORITY,
            flags: Flags::EMPTY,
            stream_id: id(stream),
        }
    }

    #[test]
    fn spec_reads_exclusive_bit_dependency_and_weight() {
        let spec = PrioritySpec::parse(&[0x80, 0, 0, 0x07, 0xff]);
        assert!(spec.exclusive);
        assert_eq!(spec.dependency, id(7));
        assert_eq!(spec.weight, 255);
        assert_eq!(spec.weight_value(), 256);
        let spec = PrioritySpec::parse(&[0x00, 0, 0, 0x03, 0]);
        assert!(!spec.exclusive);
        assert_eq!(spec.weight_value(), 1);
    }

    #[test]
    fn decode_and_encode_round_trip() {
        let frame = Priority::decode(&head(3, 5), &[0x80, 0, 0, 1, 15]).unwrap();
        assert_eq!(frame.stream_id(), id(3));
        assert_eq!(
            frame.spec(),
            PrioritySpec {
                exclusive: true,
                dependency: id(1),
                weight: 15
            }
        );
        let mut dst = BytesMut::new();
        frame.encode(&mut dst);
        assert_eq!(&dst[..], b"\0\0\x05\x02\0\0\0\0\x03\x80\0\0\x01\x0f");
        assert_eq!(dst.len(), frame.encoded_len());
    }

    #[test]
    fn wrong_length_is_a_stream_frame_size_error() {
        for len in [0, 4, 6] {
            let err = Priority::decode(&head(3, len), &vec![0; len]).unwrap_err();
            assert_eq!(err.stream_id(), Some(id(3)));
            assert_eq!(err.code(), ErrorCode::FRAME_SIZE_ERROR);
            assert_eq!(err.reason(), Reason::PriorityLength);
        }
    }

    #[test]
    fn depending_on_itself_is_a_stream_protocol_error() {
        let err = Priority::decode(&head(5, 5), &[0, 0, 0, 5, 0]).unwrap_err();
        assert_eq!(
            err,
            FrameError::stream(id(5), ErrorCode::PROTOCOL_ERROR, Reason::SelfDependency)
        );
        let spec = PrioritySpec {
            exclusive: false,
            dependency: id(5),
            weight: 0,
        };
        assert_eq!(Priority::new(id(5), spec).unwrap_err(), err);
    }

    #[test]
    fn stream_zero_is_a_connection_error_even_with_a_bad_length() {
        let err = Priority::decode(&head(0, 4), &[0; 4]).unwrap_err();
        assert_eq!(err, FrameError::protocol(Reason::StreamIdZero));
    }
}
