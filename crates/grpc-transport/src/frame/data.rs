//! DATA frames (RFC 9113 §6.1).

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use super::head::{FRAME_HEADER_LEN, MAX_FRAME_SIZE_LIMIT};
use super::{Flags, FrameError, FrameHeader, FrameType, Reason, StreamId, pad};

/// A DATA frame (RFC 9113 §6.1): a piece of a stream's content.
///
/// ```text
/// Pad Length (8) if PADDED, Data (..), Padding (..)
/// ```
///
/// Parsing strips the padding; [`Data::data`] is a slice of the read buffer, not a copy.
/// The frame's whole payload, padding included, counts against flow control (§6.9.1): use
/// [`Data::flow_controlled_len`], not `data().len()`, when accounting windows.
#[derive(Clone, PartialEq, Eq)]
pub struct Data {
    stream_id: StreamId,
    data: Bytes,
    end_stream: bool,
    pad_len: Option<u8>,
}

impl Data {
    /// The most data one frame can carry in any padding configuration: the 24-bit Length
    /// field less the Pad Length field and 255 octets of padding (§4.1).
    pub const MAX_LEN: usize = MAX_FRAME_SIZE_LIMIT as usize - 256;

    /// A DATA frame carrying `data` on `stream_id`, without END_STREAM or padding.
    ///
    /// Fails with the error a receiver would report: connection PROTOCOL_ERROR
    /// ([`Reason::StreamIdZero`]) on stream 0, FRAME_SIZE_ERROR ([`Reason::FrameTooLarge`])
    /// if `data` is longer than [`Data::MAX_LEN`]. Staying within the peer's
    /// SETTINGS_MAX_FRAME_SIZE (and the flow-control windows) is the caller's job: split
    /// the payload with [`Bytes::split_to`], which does not copy.
    pub fn new(stream_id: StreamId, data: Bytes) -> Result<Data, FrameError> {
        if stream_id.is_zero() {
            return Err(FrameError::protocol(Reason::StreamIdZero));
        }
        if data.len() > Self::MAX_LEN {
            return Err(FrameError::frame_size(Reason::FrameTooLarge));
        }
        Ok(Data {
            stream_id,
            data,
            end_stream: false,
            pad_len: None,
        })
    }

    /// Sets or clears END_STREAM: this is the last frame the sender sends on the stream.
    pub fn with_end_stream(mut self, end_stream: bool) -> Data {
        self.end_stream = end_stream;
        self
    }

    /// Adds `pad_len` octets of zero padding (plus the 1-octet Pad Length field).
    pub fn with_padding(mut self, pad_len: u8) -> Data {
        self.pad_len = Some(pad_len);
        self
    }

    /// The stream the data belongs to (never 0).
    pub fn stream_id(&self) -> StreamId {
        self.stream_id
    }

    /// The application data, without padding.
    pub fn data(&self) -> &Bytes {
        &self.data
    }

    /// Takes the application data out of the frame.
    pub fn into_data(self) -> Bytes {
        self.data
    }

    /// Whether END_STREAM is set.
    pub fn is_end_stream(&self) -> bool {
        self.end_stream
    }

    /// The Pad Length field, if the frame is PADDED.
    pub fn pad_len(&self) -> Option<u8> {
        self.pad_len
    }

    /// The octets this frame takes from the stream and connection flow-control windows:
    /// the whole payload, Pad Length field and padding included (§6.9.1).
    pub fn flow_controlled_len(&self) -> u32 {
        // Cannot truncate: the payload is at most 2^24-1 octets (MAX_LEN plus 256), as `new`
        // checks and as a parsed 24-bit Length guarantees.
        self.payload_len() as u32
    }

    /// Length of the encoded frame, header included.
    pub fn encoded_len(&self) -> usize {
        FRAME_HEADER_LEN + self.payload_len()
    }

    fn payload_len(&self) -> usize {
        self.data.len() + pad::overhead(self.pad_len)
    }

    fn head(&self) -> FrameHeader {
        FrameHeader {
            length: self.flow_controlled_len(),
            kind: FrameType::DATA,
            flags: Flags::when(self.end_stream, Flags::END_STREAM)
                | Flags::when(self.pad_len.is_some(), Flags::PADDED),
            stream_id: self.stream_id,
        }
    }

    /// Parses a DATA payload (§6.1).
    pub(super) fn decode(head: &FrameHeader, mut payload: Bytes) -> Result<Data, FrameError> {
        // §6.1: "If a DATA frame is received whose Stream Identifier field is 0x00, the
        // recipient MUST respond with a connection error of type PROTOCOL_ERROR."
        if head.stream_id.is_zero() {
            return Err(FrameError::protocol(Reason::StreamIdZero));
        }
        let pad_len = pad::take_pad_len(head.flags, &mut payload)?;
        pad::strip_padding(pad_len, &mut payload)?;
        Ok(Data {
            stream_id: head.stream_id,
            data: payload,
            end_stream: head.flags.contains(Flags::END_STREAM),
            pad_len,
        })
    }

    /// Appends the whole frame (header, data, padding) to `dst`. This copies the data; to
    /// send it without copying use [`Data::encode_head`], the data `Bytes`, then
    /// [`Data::encode_padding`] in one vectored write.
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.reserve(self.encoded_len());
        self.encode_head(dst);
        dst.put_slice(&self.data);
        self.encode_padding(dst);
    }

    /// Appends what goes before the data: the 9-octet frame header and, if PADDED, the Pad
    /// Length field.
    pub fn encode_head(&self, dst: &mut BytesMut) {
        self.head().encode(dst);
        if let Some(pad_len) = self.pad_len {
            dst.put_u8(pad_len);
        }
    }

    /// Appends what goes after the data: the zero padding, if any.
    pub fn encode_padding(&self, dst: &mut BytesMut) {
        pad::put_padding(self.pad_len, dst);
    }
}

impl fmt::Debug for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The payload can be 16 MiB: show its length, not its bytes.
        f.debug_struct("Data")
            .field("stream_id", &self.stream_id)
            .field("data_len", &self.data.len())
            .field("end_stream", &self.end_stream)
            .field("pad_len", &self.pad_len)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    fn id(n: u32) -> StreamId {
        StreamId::new(n).unwrap()
    }

    fn head(flags: Flags, stream: u32, len: usize) -> FrameHeader {
        FrameHeader {
            length: len as u32,
            kind: FrameType::DATA,
            flags,
            stream_id: id(stream),
        }
    }

    #[test]
    fn decode_returns_the_data_and_end_stream() {
        let data =
            Data::decode(&head(Flags::END_STREAM, 1, 5), Bytes::from_static(b"hello")).unwrap();
        assert_eq!(data.stream_id(), id(1));
        assert_eq!(data.data(), &b"hello"[..]);
        assert!(data.is_end_stream());
        assert_eq!(data.pad_len(), None);
        assert_eq!(data.flow_controlled_len(), 5);
    }

    #[test]
    fn decode_strips_padding_but_counts_it_for_flow_control() {
        let payload = Bytes::from_static(b"\x03abc\0\0\0");
        let data = Data::decode(&head(Flags::PADDED, 3, payload.len()), payload).unwrap();
        assert_eq!(data.data(), &b"abc"[..]);
        assert_eq!(data.pad_len(), Some(3));
        assert_eq!(data.flow_controlled_len(), 7);
    }

    #[test]
    fn padding_may_fill_everything_after_the_pad_length() {
        let payload = Bytes::from_static(b"\x02\0\0");
        let data = Data::decode(&head(Flags::PADDED, 1, 3), payload).unwrap();
        assert!(data.data().is_empty());
        assert_eq!(data.flow_controlled_len(), 3);
    }

    #[test]
    fn padding_as_long_as_the_payload_is_a_connection_protocol_error() {
        let payload = Bytes::from_static(b"\x03\0\0");
        let err = Data::decode(&head(Flags::PADDED, 1, 3), payload).unwrap_err();
        assert!(err.is_connection_error());
        assert_eq!(err.code(), ErrorCode::PROTOCOL_ERROR);
        assert_eq!(err.reason(), Reason::PaddingTooLong);
    }

    #[test]
    fn padded_flag_on_an_empty_payload_is_a_frame_size_error() {
        let err = Data::decode(&head(Flags::PADDED, 1, 0), Bytes::new()).unwrap_err();
        assert_eq!(err, FrameError::frame_size(Reason::MissingPadLength));
    }

    #[test]
    fn stream_zero_is_a_connection_protocol_error() {
        let err = Data::decode(&head(Flags::EMPTY, 0, 0), Bytes::new()).unwrap_err();
        assert_eq!(err, FrameError::protocol(Reason::StreamIdZero));
        assert_eq!(Data::new(StreamId::ZERO, Bytes::new()).unwrap_err(), err);
    }

    #[test]
    fn new_rejects_data_that_cannot_fit_in_one_frame() {
        let too_big = Bytes::from(vec![0; Data::MAX_LEN + 1]);
        let err = Data::new(id(1), too_big).unwrap_err();
        assert_eq!(err.reason(), Reason::FrameTooLarge);
        assert!(Data::new(id(1), Bytes::from(vec![0; Data::MAX_LEN])).is_ok());
    }

    #[test]
    fn encode_writes_header_pad_length_data_and_zero_padding() {
        let data = Data::new(id(1), Bytes::from_static(b"hi"))
            .unwrap()
            .with_end_stream(true)
            .with_padding(2);
        let mut dst = BytesMut::new();
        data.encode(&mut dst);
        assert_eq!(&dst[..], b"\0\0\x05\x00\x09\0\0\0\x01\x02hi\0\0");
        assert_eq!(dst.len(), data.encoded_len());
    }

    #[test]
    fn encode_head_and_padding_surround_the_data_for_vectored_writes() {
        let data = Data::new(id(5), Bytes::from_static(b"xyz"))
            .unwrap()
            .with_padding(1);
        let mut whole = BytesMut::new();
        data.encode(&mut whole);
        let mut pieces = BytesMut::new();
        data.encode_head(&mut pieces);
        assert_eq!(pieces.len(), FRAME_HEADER_LEN + 1);
        pieces.put_slice(data.data());
        data.encode_padding(&mut pieces);
        assert_eq!(pieces, whole);
    }

    #[test]
    fn debug_shows_length_not_bytes() {
        let data = Data::new(id(1), Bytes::from_static(b"secret")).unwrap();
        let shown = format!("{data:?}");
        assert!(shown.contains("data_len: 6"), "{shown}");
        assert!(!shown.contains("secret"), "{shown}");
    }
}
