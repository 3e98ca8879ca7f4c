//! HEADERS frames (RFC 9113 §6.2).

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::head::{DEFAULT_MAX_FRAME_SIZE, FRAME_HEADER_LEN, MAX_FRAME_SIZE_LIMIT};
use super::{Flags, FrameError, FrameHeader, FrameType, PrioritySpec, Reason, StreamId, pad};

/// A HEADERS frame (RFC 9113 §6.2): opens a stream and carries the first fragment of a
/// field block (§4.3), which HPACK decodes once the block is complete.
///
/// ```text
/// Pad Length (8) if PADDED,
/// Exclusive (1), Stream Dependency (31), Weight (8) if PRIORITY,
/// Field Block Fragment (..), Padding (..)
/// ```
///
/// Parsing strips the padding; the fragment is a slice of the read buffer. If END_HEADERS
/// is clear, CONTINUATION frames on the same stream follow (§6.10).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Headers {
    stream_id: StreamId,
    fragment: Bytes,
    end_stream: bool,
    end_headers: bool,
    priority: Option<PrioritySpec>,
    pad_len: Option<u8>,
}

impl Headers {
    /// The longest fragment a `Headers` value can hold: the 24-bit Length field less the
    /// largest padding (1 + 255) and priority (5) overhead (§4.1). A fragment that is
    /// longer than the peer's SETTINGS_MAX_FRAME_SIZE allows can be sent with
    /// [`Headers::encode_split`].
    pub const MAX_FRAGMENT_LEN: usize = MAX_FRAME_SIZE_LIMIT as usize - 256 - PrioritySpec::LEN;

    /// A HEADERS frame on `stream_id` carrying `fragment`, with END_HEADERS set and no
    /// END_STREAM, priority or padding.
    ///
    /// Fails with the error a receiver would report: connection PROTOCOL_ERROR on stream 0
    /// ([`Reason::StreamIdZero`]), FRAME_SIZE_ERROR ([`Reason::FrameTooLarge`]) if the
    /// fragment is longer than [`Headers::MAX_FRAGMENT_LEN`].
    pub fn new(stream_id: StreamId, fragment: Bytes) -> Result<Headers, FrameError> {
        if stream_id.is_zero() {
            return Err(FrameError::protocol(Reason::StreamIdZero));
        }
        if fragment.len() > Self::MAX_FRAGMENT_LEN {
            return Err(FrameError::frame_size(Reason::FrameTooLarge));
        }
        Ok(Headers {
            stream_id,
            fragment,
            end_stream: false,
            end_headers: true,
            priority: None,
            pad_len: None,
        })
    }

    /// Sets or clears END_STREAM: no DATA follows (e.g. gRPC trailers, §8.1).
    pub fn with_end_stream(mut self, end_stream: bool) -> Headers {
        self.end_stream = end_stream;
        self
    }

    /// Sets or clears END_HEADERS: clear it when CONTINUATION frames will follow.
    pub fn with_end_headers(mut self, end_headers: bool) -> Headers {
        self.end_headers = end_headers;
        self
    }

    /// Adds `pad_len` octets of zero padding (plus the Pad Length field).
    pub fn with_padding(mut self, pad_len: u8) -> Headers {
        self.pad_len = Some(pad_len);
        self
    }

    /// Adds priority fields (sets the PRIORITY flag).
    ///
    /// Fails with a stream PROTOCOL_ERROR ([`Reason::SelfDependency`]) if `spec` names this
    /// frame's own stream (§5.3.1).
    pub fn with_priority(mut self, spec: PrioritySpec) -> Result<Headers, FrameError> {
        spec.check_dependency(self.stream_id)?;
        self.priority = Some(spec);
        Ok(self)
    }

    /// The stream (never 0).
    pub fn stream_id(&self) -> StreamId {
        self.stream_id
    }

    /// The field block fragment, without padding or priority fields.
    pub fn fragment(&self) -> &Bytes {
        &self.fragment
    }

    /// Takes the field block fragment out of the frame.
    pub fn into_fragment(self) -> Bytes {
        self.fragment
    }

    /// Whether END_STREAM is set.
    pub fn is_end_stream(&self) -> bool {
        self.end_stream
    }

    /// Whether END_HEADERS is set (no CONTINUATION follows).
    pub fn is_end_headers(&self) -> bool {
        self.end_headers
    }

    /// The priority fields, if the PRIORITY flag is set.
    pub fn priority(&self) -> Option<PrioritySpec> {
        self.priority
    }

    /// The Pad Length field, if the frame is PADDED.
    pub fn pad_len(&self) -> Option<u8> {
        self.pad_len
    }

    /// A stream error the connection must raise *after* decoding this frame's field block.
    ///
    /// A HEADERS frame whose priority names its own stream is a stream PROTOCOL_ERROR
    /// (§5.3.1, [`Reason::SelfDependency`]), but its field block still has to go through
    /// HPACK: the decompression context is shared by the whole connection (§4.3) and
    /// skipping a block would desynchronise it. So the parser returns such a frame as `Ok`
    /// and reports the error here; the connection decodes the block (and any CONTINUATION
    /// frames) as usual, then resets the stream.
    pub fn stream_error(&self) -> Option<FrameError> {
        self.priority
            .and_then(|spec| spec.check_dependency(self.stream_id).err())
    }

    /// Length of the encoded frame, header included, when sent with [`Headers::encode`].
    pub fn encoded_len(&self) -> usize {
        FRAME_HEADER_LEN + self.payload_overhead() + self.fragment.len()
    }

    fn payload_overhead(&self) -> usize {
        let priority = if self.priority.is_some() {
            PrioritySpec::LEN
        } else {
            0
        };
        pad::overhead(self.pad_len) + priority
    }

    /// Parses a HEADERS payload (§6.2).
    pub(super) fn decode(head: &FrameHeader, mut payload: Bytes) -> Result<Headers, FrameError> {
        // §6.2: "If a HEADERS frame is received whose Stream Identifier field is 0x00, the
        // recipient MUST respond with a connection error of type PROTOCOL_ERROR."
        if head.stream_id.is_zero() {
            return Err(FrameError::protocol(Reason::StreamIdZero));
        }
        let pad_len = pad::take_pad_len(head.flags, &mut payload)?;
        let priority = if head.flags.contains(Flags::PRIORITY) {
            // §4.2: too small for mandatory fields is FRAME_SIZE_ERROR, and a connection
            // error because HEADERS carries a field block.
            let Some(fields) = payload.first_chunk::<5>() else {
                return Err(FrameError::frame_size(Reason::MissingPriorityFields));
            };
            let spec = PrioritySpec::parse(fields);
            payload.advance(PrioritySpec::LEN);
            Some(spec)
        } else {
            None
        };
        // §6.2: "Padding that exceeds the size remaining for the field block fragment MUST
        // be treated as a PROTOCOL_ERROR."
        pad::strip_padding(pad_len, &mut payload)?;
        Ok(Headers {
            stream_id: head.stream_id,
            fragment: payload,
            end_stream: head.flags.contains(Flags::END_STREAM),
            end_headers: head.flags.contains(Flags::END_HEADERS),
            priority,
            pad_len,
        })
    }

    /// Appends the frame to `dst` as one HEADERS frame, whatever the fragment's length.
    /// Keeping within the peer's SETTINGS_MAX_FRAME_SIZE is the caller's job; see
    /// [`Headers::encode_split`].
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.reserve(self.encoded_len());
        self.encode_first(&self.fragment, self.end_headers, dst);
    }

    /// Appends the frame to `dst` split into a HEADERS frame and as many CONTINUATION
    /// frames (§6.10) as needed for no frame to exceed `max_frame_size`, the peer's
    /// SETTINGS_MAX_FRAME_SIZE. END_HEADERS, if set on `self`, goes on the last frame.
    /// Returns the number of frames written.
    ///
    /// `max_frame_size` is clamped to the legal range 2^14..=2^24-1 (§6.5.2).
    pub fn encode_split(&self, max_frame_size: u32, dst: &mut BytesMut) -> usize {
        let max = max_frame_size.clamp(DEFAULT_MAX_FRAME_SIZE, MAX_FRAME_SIZE_LIMIT) as usize;
        // Cannot underflow: the overhead is at most 261 octets and `max` at least 16,384.
        let first_room = max - self.payload_overhead();
        if self.fragment.len() <= first_room {
            self.encode(dst);
            return 1;
        }
        let rest = self.fragment.len() - first_room;
        let continuations = rest.div_ceil(max);
        dst.reserve(self.encoded_len() + continuations * FRAME_HEADER_LEN);

        let (first, mut rest) = self.fragment.split_at(first_room);
        self.encode_first(first, false, dst);
        while !rest.is_empty() {
            let (chunk, tail) = rest.split_at(rest.len().min(max));
            rest = tail;
            let end_headers = rest.is_empty() && self.end_headers;
            FrameHeader {
                // Cannot truncate: a chunk is at most `max` <= 2^24-1 octets.
                length: chunk.len() as u32,
                kind: FrameType::CONTINUATION,
                flags: Flags::when(end_headers, Flags::END_HEADERS),
                stream_id: self.stream_id,
            }
            .encode(dst);
            dst.put_slice(chunk);
        }
        1 + continuations
    }

    /// Writes a HEADERS frame with this frame's flags and fields but the given fragment.
    fn encode_first(&self, fragment: &[u8], end_headers: bool, dst: &mut BytesMut) {
        let flags = Flags::when(self.end_stream, Flags::END_STREAM)
            | Flags::when(end_headers, Flags::END_HEADERS)
            | Flags::when(self.pad_len.is_some(), Flags::PADDED)
            | Flags::when(self.priority.is_some(), Flags::PRIORITY);
        FrameHeader {
            // Cannot truncate: `new` bounds the fragment so that fragment plus the largest
            // overhead fits in 24 bits.
            length: (self.payload_overhead() + fragment.len()) as u32,
            kind: FrameType::HEADERS,
            flags,
            stream_id: self.stream_id,
        }
        .encode(dst);
        if let Some(pad_len) = self.pad_len {
            dst.put_u8(pad_len);
        }
        if let Some(spec) = &self.priority {
            spec.encode(dst);
        }
        dst.put_slice(fragment);
        pad::put_padding(self.pad_len, dst);
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
            kind: FrameType::HEADERS,
            flags,
            stream_id: id(stream),
        }
    }

    #[test]
    fn decode_plain_headers() {
        let flags = Flags::END_HEADERS | Flags::END_STREAM;
        let frame =
            Headers::decode(&head(flags, 1, 3), Bytes::from_static(b"\x82\x86\x84")).unwrap();
        assert_eq!(frame.fragment(), &b"\x82\x86\x84"[..]);
        assert!(frame.is_end_headers());
        assert!(frame.is_end_stream());
        assert_eq!(frame.priority(), None);
        assert_eq!(frame.stream_error(), None);
    }

    #[test]
    fn decode_strips_pad_length_priority_and_padding() {
        let payload = Bytes::from_static(b"\x02\x80\0\0\x03\x10abc\0\0");
        let flags = Flags::PADDED | Flags::PRIORITY;
        let frame = Headers::decode(&head(flags, 5, payload.len()), payload).unwrap();
        assert_eq!(frame.fragment(), &b"abc"[..]);
        assert_eq!(frame.pad_len(), Some(2));
        assert_eq!(
            frame.priority(),
            Some(PrioritySpec {
                exclusive: true,
                dependency: id(3),
                weight: 0x10
            })
        );
        assert!(!frame.is_end_headers());
    }

    #[test]
    fn priority_flag_without_five_octets_is_a_connection_frame_size_error() {
        let payload = Bytes::from_static(b"\0\0\0\x01");
        let err = Headers::decode(&head(Flags::PRIORITY, 3, 4), payload).unwrap_err();
        assert_eq!(err, FrameError::frame_size(Reason::MissingPriorityFields));
    }

    #[test]
    fn padding_must_leave_room_for_the_priority_fields() {
        // Pad Length 1, then only 5 octets: priority fits, padding does not.
        let payload = Bytes::from_static(b"\x01\0\0\0\x01\x10");
        let err =
            Headers::decode(&head(Flags::PADDED | Flags::PRIORITY, 3, 6), payload).unwrap_err();
        assert_eq!(err, FrameError::protocol(Reason::PaddingTooLong));
    }

    #[test]
    fn self_dependency_is_returned_with_a_deferred_stream_error() {
        let payload = Bytes::from_static(b"\0\0\0\x03\x10\x82");
        let frame =
            Headers::decode(&head(Flags::PRIORITY | Flags::END_HEADERS, 3, 6), payload).unwrap();
        assert_eq!(frame.fragment(), &b"\x82"[..]);
        assert_eq!(
            frame.stream_error(),
            Some(FrameError::stream(
                id(3),
                ErrorCode::PROTOCOL_ERROR,
                Reason::SelfDependency
            ))
        );
    }

    #[test]
    fn with_priority_refuses_a_self_dependency() {
        let spec = PrioritySpec {
            exclusive: false,
            dependency: id(7),
            weight: 3,
        };
        let err = Headers::new(id(7), Bytes::new())
            .unwrap()
            .with_priority(spec)
            .unwrap_err();
        assert_eq!(err.reason(), Reason::SelfDependency);
    }

    #[test]
    fn stream_zero_is_a_connection_protocol_error() {
        let err = Headers::decode(&head(Flags::END_HEADERS, 0, 0), Bytes::new()).unwrap_err();
        assert_eq!(err, FrameError::protocol(Reason::StreamIdZero));
    }

    #[test]
    fn encode_writes_fields_in_wire_order() {
        let frame = Headers::new(id(1), Bytes::from_static(b"ab"))
            .unwrap()
            .with_end_stream(true)
            .with_padding(1)
            .with_priority(PrioritySpec {
                exclusive: false,
                dependency: id(0),
                weight: 7,
            })
            .unwrap();
        let mut dst = BytesMut::new();
        frame.encode(&mut dst);
        assert_eq!(&dst[..], b"\0\0\x09\x01\x2d\0\0\0\x01\x01\0\0\0\0\x07ab\0");
        assert_eq!(dst.len(), frame.encoded_len());
    }

    #[test]
    fn encode_split_leaves_a_small_block_in_one_frame() {
        let frame = Headers::new(id(1), Bytes::from_static(b"abc")).unwrap();
        let mut split = BytesMut::new();
        assert_eq!(frame.encode_split(16_384, &mut split), 1);
        let mut whole = BytesMut::new();
        frame.encode(&mut whole);
        assert_eq!(split, whole);
    }

    #[test]
    fn encode_split_puts_end_headers_on_the_last_continuation_only() {
        let fragment = Bytes::from((0..40_000u32).map(|i| i as u8).collect::<Vec<_>>());
        let frame = Headers::new(id(9), fragment.clone())
            .unwrap()
            .with_end_stream(true);
        let mut dst = BytesMut::new();
        // 16,384 + 16,384 + 7,232 octets.
        assert_eq!(frame.encode_split(1, &mut dst), 3);
        let mut frames = Vec::new();
        let mut reassembled = Vec::new();
        while !dst.is_empty() {
            let head = FrameHeader::parse(dst[..9].try_into().unwrap());
            assert!(head.length <= 16_384);
            let _ = dst.split_to(9);
            reassembled.extend_from_slice(&dst.split_to(head.length as usize));
            frames.push(head);
        }
        assert_eq!(reassembled, fragment);
        let kinds: Vec<_> = frames.iter().map(|h| h.kind).collect();
        assert_eq!(
            kinds,
            [
                FrameType::HEADERS,
                FrameType::CONTINUATION,
                FrameType::CONTINUATION
            ]
        );
        let end_headers: Vec<_> = frames
            .iter()
            .map(|h| h.flags.contains(Flags::END_HEADERS))
            .collect();
        assert_eq!(end_headers, [false, false, true]);
        assert!(frames[0].flags.contains(Flags::END_STREAM));
        assert!(frames.iter().all(|h| h.stream_id == id(9)));
    }
}
