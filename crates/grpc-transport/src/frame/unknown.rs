//! Frames of types RFC 9113 does not define (§5.5).

use bytes::{BufMut, Bytes, BytesMut};

use super::head::{FRAME_HEADER_LEN, MAX_FRAME_SIZE_LIMIT};
use super::{Flags, FrameHeader, FrameType, StreamId};

/// A frame of an extension type (RFC 9113 §5.5): "Implementations MUST ignore unknown or
/// unsupported values in all extensible protocol elements", so such frames are handed to
/// the connection, which discards them. The exception is an unknown frame in the middle of
/// a field block, which the connection must treat as a PROTOCOL_ERROR (§4.3, §6.10).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Unknown {
    kind: FrameType,
    flags: Flags,
    stream_id: StreamId,
    payload: Bytes,
}

impl Unknown {
    /// An extension frame, or `None` if `kind` is one of the ten types RFC 9113 defines or
    /// the payload does not fit in the 24-bit Length field.
    pub fn new(
        kind: FrameType,
        flags: Flags,
        stream_id: StreamId,
        payload: Bytes,
    ) -> Option<Unknown> {
        if kind.is_known() || payload.len() > MAX_FRAME_SIZE_LIMIT as usize {
            return None;
        }
        Some(Unknown {
            kind,
            flags,
            stream_id,
            payload,
        })
    }

    /// The frame type (never one RFC 9113 defines).
    pub fn kind(&self) -> FrameType {
        self.kind
    }

    /// The flags, as received: their meaning is the extension's.
    pub fn flags(&self) -> Flags {
        self.flags
    }

    /// The stream identifier field.
    pub fn stream_id(&self) -> StreamId {
        self.stream_id
    }

    /// The raw payload; a slice of the read buffer when parsed.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// Length of the encoded frame, header included.
    pub fn encoded_len(&self) -> usize {
        FRAME_HEADER_LEN + self.payload.len()
    }

    /// Wraps a frame whose type the parser does not know.
    pub(super) fn decode(head: &FrameHeader, payload: Bytes) -> Unknown {
        Unknown {
            kind: head.kind,
            flags: head.flags,
            stream_id: head.stream_id,
            payload,
        }
    }

    /// Appends the frame to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.reserve(self.encoded_len());
        FrameHeader {
            // Cannot truncate: `new` bounds the payload, and a parsed payload came from a
            // 24-bit Length.
            length: self.payload.len() as u32,
            kind: self.kind,
            flags: self.flags,
            stream_id: self.stream_id,
        }
        .encode(dst);
        dst.put_slice(&self.payload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_refuses_types_rfc_9113_defines() {
        for kind in 0..=9 {
            assert!(
                Unknown::new(FrameType(kind), Flags::EMPTY, StreamId::ZERO, Bytes::new()).is_none()
            );
        }
        assert!(Unknown::new(FrameType(0xa), Flags::EMPTY, StreamId::ZERO, Bytes::new()).is_some());
    }

    #[test]
    fn encode_keeps_type_flags_and_payload() {
        let frame = Unknown::new(
            FrameType(0xfa),
            Flags(0xff),
            StreamId::new(3).unwrap(),
            Bytes::from_static(b"x"),
        )
        .unwrap();
        let mut dst = BytesMut::new();
        frame.encode(&mut dst);
        assert_eq!(&dst[..], b"\0\0\x01\xfa\xff\0\0\0\x03x");
        let head = FrameHeader::parse(dst[..9].try_into().unwrap());
        assert_eq!(Unknown::decode(&head, Bytes::from_static(b"x")), frame);
    }
}
