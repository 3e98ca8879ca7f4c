//! PUSH_PROMISE frames (RFC 9113 §6.6).
//!
//! gRPC never enables server push, and the connection rejects PUSH_PROMISE when push is
//! disabled (§8.4). The frame is still parsed and validated here so that the rejection is
//! precise and the field block can be accounted for.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::head::{FRAME_HEADER_LEN, MAX_FRAME_SIZE_LIMIT};
use super::{Flags, FrameError, FrameHeader, FrameType, Reason, StreamId, pad};

/// A PUSH_PROMISE frame (RFC 9113 §6.6): the server reserves a stream for a response it
/// will push.
///
/// ```text
/// Pad Length (8) if PADDED, Reserved (1), Promised Stream ID (31),
/// Field Block Fragment (..), Padding (..)
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PushPromise {
    stream_id: StreamId,
    promised_id: StreamId,
    fragment: Bytes,
    end_headers: bool,
    pad_len: Option<u8>,
}

impl PushPromise {
    /// Length of the Promised Stream ID field.
    const PROMISED_ID_LEN: usize = 4;

    /// The longest fragment a `PushPromise` can hold: the 24-bit Length field less the
    /// promised stream id and the largest padding.
    pub const MAX_FRAGMENT_LEN: usize = MAX_FRAME_SIZE_LIMIT as usize - 256 - Self::PROMISED_ID_LEN;

    /// A PUSH_PROMISE on `stream_id` reserving `promised_id`, with END_HEADERS set.
    ///
    /// Fails as a receiver would: connection PROTOCOL_ERROR on stream 0, FRAME_SIZE_ERROR
    /// for a fragment longer than [`PushPromise::MAX_FRAGMENT_LEN`]. Whether
    /// `promised_id` is a valid new stream is the connection's business (§5.1.1).
    pub fn new(
        stream_id: StreamId,
        promised_id: StreamId,
        fragment: Bytes,
    ) -> Result<PushPromise, FrameError> {
        if stream_id.is_zero() {
            return Err(FrameError::protocol(Reason::StreamIdZero));
        }
        if fragment.len() > Self::MAX_FRAGMENT_LEN {
            return Err(FrameError::frame_size(Reason::FrameTooLarge));
        }
        Ok(PushPromise {
            stream_id,
            promised_id,
            fragment,
            end_headers: true,
            pad_len: None,
        })
    }

    /// Sets or clears END_HEADERS.
    pub fn with_end_headers(mut self, end_headers: bool) -> PushPromise {
        self.end_headers = end_headers;
        self
    }

    /// Adds `pad_len` octets of zero padding (plus the Pad Length field).
    pub fn with_padding(mut self, pad_len: u8) -> PushPromise {
        self.pad_len = Some(pad_len);
        self
    }

    /// The stream the promise is made on (never 0).
    pub fn stream_id(&self) -> StreamId {
        self.stream_id
    }

    /// The stream being reserved.
    pub fn promised_id(&self) -> StreamId {
        self.promised_id
    }

    /// The field block fragment of the promised request.
    pub fn fragment(&self) -> &Bytes {
        &self.fragment
    }

    /// Whether END_HEADERS is set.
    pub fn is_end_headers(&self) -> bool {
        self.end_headers
    }

    /// The Pad Length field, if the frame is PADDED.
    pub fn pad_len(&self) -> Option<u8> {
        self.pad_len
    }

    fn payload_len(&self) -> usize {
        pad::overhead(self.pad_len) + Self::PROMISED_ID_LEN + self.fragment.len()
    }

    /// Length of the encoded frame, header included.
    pub fn encoded_len(&self) -> usize {
        FRAME_HEADER_LEN + self.payload_len()
    }

    /// Parses a PUSH_PROMISE payload (§6.6).
    pub(super) fn decode(
        head: &FrameHeader,
        mut payload: Bytes,
    ) -> Result<PushPromise, FrameError> {
        // §6.6: "If the Stream Identifier field specifies the value 0x00, a recipient MUST
        // respond with a connection error of type PROTOCOL_ERROR."
        if head.stream_id.is_zero() {
            return Err(FrameError::protocol(Reason::StreamIdZero));
        }
        let pad_len = pad::take_pad_len(head.flags, &mut payload)?;
        // §4.2: too small for the mandatory Promised Stream ID; a connection error because
        // PUSH_PROMISE carries a field block.
        let Some(&raw) = payload.first_chunk::<4>() else {
            return Err(FrameError::frame_size(Reason::MissingPromisedStreamId));
        };
        let promised_id = StreamId::from_wire(u32::from_be_bytes(raw));
        payload.advance(Self::PROMISED_ID_LEN);
        pad::strip_padding(pad_len, &mut payload)?;
        Ok(PushPromise {
            stream_id: head.stream_id,
            promised_id,
            fragment: payload,
            end_headers: head.flags.contains(Flags::END_HEADERS),
            pad_len,
        })
    }

    /// Appends the frame to `dst`. Keeping within the peer's SETTINGS_MAX_FRAME_SIZE is the
    /// caller's job.
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.reserve(self.encoded_len());
        FrameHeader {
            // Cannot truncate: `new` bounds the fragment so the payload fits in 24 bits.
            length: self.payload_len() as u32,
            kind: FrameType::PUSH_PROMISE,
            flags: Flags::when(self.end_headers, Flags::END_HEADERS)
                | Flags::when(self.pad_len.is_some(), Flags::PADDED),
            stream_id: self.stream_id,
        }
        .encode(dst);
        if let Some(pad_len) = self.pad_len {
            dst.put_u8(pad_len);
        }
        dst.put_u32(self.promised_id.get());
        dst.put_slice(&self.fragment);
        pad::put_padding(self.pad_len, dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> StreamId {
        StreamId::new(n).unwrap()
    }

    fn head(flags: Flags, stream: u32, len: usize) -> FrameHeader {
        FrameHeader {
            length: len as u32,
            kind: FrameType::PUSH_PROMISE,
            flags,
            stream_id: id(stream),
        }
    }

    #[test]
    fn decode_reads_promised_id_and_strips_padding() {
        let payload = Bytes::from_static(b"\x01\x80\0\0\x02\x82\0");
        let frame =
            PushPromise::decode(&head(Flags::PADDED | Flags::END_HEADERS, 1, 7), payload).unwrap();
        assert_eq!(frame.promised_id(), id(2), "reserved bit ignored");
        assert_eq!(frame.fragment(), &b"\x82"[..]);
        assert!(frame.is_end_headers());
        assert_eq!(frame.pad_len(), Some(1));
    }

    #[test]
    fn too_short_for_the_promised_id_is_a_connection_frame_size_error() {
        let err = PushPromise::decode(&head(Flags::EMPTY, 1, 3), Bytes::from_static(b"\0\0\0"))
            .unwrap_err();
        assert_eq!(err, FrameError::frame_size(Reason::MissingPromisedStreamId));
    }

    #[test]
    fn padding_beyond_the_fragment_is_a_connection_protocol_error() {
        let payload = Bytes::from_static(b"\x02\0\0\0\x02\0");
        let err = PushPromise::decode(&head(Flags::PADDED, 1, 6), payload).unwrap_err();
        assert_eq!(err, FrameError::protocol(Reason::PaddingTooLong));
    }

    #[test]
    fn stream_zero_is_a_connection_protocol_error() {
        let err = PushPromise::decode(&head(Flags::EMPTY, 0, 4), Bytes::from_static(b"\0\0\0\x02"))
            .unwrap_err();
        assert_eq!(err, FrameError::protocol(Reason::StreamIdZero));
    }

    #[test]
    fn encode_round_trips() {
        let frame = PushPromise::new(id(1), id(4), Bytes::from_static(b"abc"))
            .unwrap()
            .with_padding(2)
            .with_end_headers(false);
        let mut dst = BytesMut::new();
        frame.encode(&mut dst);
        assert_eq!(dst.len(), frame.encoded_len());
        let head = FrameHeader::parse(dst[..9].try_into().unwrap());
        let payload = dst.split_off(9).freeze();
        assert_eq!(PushPromise::decode(&head, payload).unwrap(), frame);
    }
}
