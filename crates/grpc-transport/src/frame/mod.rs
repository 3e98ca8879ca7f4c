//! HTTP/2 frames (RFC 9113 §4 and §6): parsing, validation and encoding.
//!
//! This layer turns bytes into [`Frame`] values and back. It is sans-IO and stateless: it
//! knows the wire format and every rule that can be checked on one frame in isolation,
//! and nothing about streams or flow-control windows, which belong to the connection.
//!
//! # Parsing
//!
//! [`parse_frame`] takes whole frames off the front of a read buffer. Payloads (DATA
//! content, field block fragments, GOAWAY debug data) come out as [`Bytes`] slices of
//! that buffer: nothing is copied and nothing is allocated per frame. Padding is stripped,
//! reserved bits are dropped (§4.1), flags a frame type does not define are ignored
//! (§4.1), and frames of unknown types come back as [`Frame::Unknown`] for the connection
//! to discard (§5.5).
//!
//! A frame that breaks a rule yields a [`FrameError`] that says which rule ([`Reason`]),
//! which [`ErrorCode`](crate::ErrorCode) to send, and whether it is a connection error
//! (send GOAWAY, stop reading) or a stream error (send RST_STREAM on
//! [`FrameError::stream_id`], keep reading: the bad frame has already been consumed).
//!
//! # Encoding
//!
//! Every frame type has an `encode(&self, dst: &mut BytesMut)` that appends the frame to
//! a reusable buffer, reserving space once. Constructors refuse values a receiver would
//! reject, so anything built with them encodes to a frame [`parse_frame`] accepts. The
//! one thing they cannot know is the peer's SETTINGS_MAX_FRAME_SIZE: splitting DATA and
//! field blocks to fit it is the caller's job ([`Headers::encode_split`] does it for field
//! blocks). To send DATA without copying its payload, write [`Data::encode_head`], the
//! payload itself and [`Data::encode_padding`] with one vectored write.
//!
//! # What the connection still checks
//!
//! Rules that need connection state are not checked here: which stream states allow which
//! frames (§5.1), that CONTINUATION frames follow their HEADERS with nothing in between
//! (§6.10), window overflow (§6.9.1), PUSH_PROMISE when push is disabled (§8.4), SETTINGS
//! acknowledgement and PING answering, and the self-dependent HEADERS case described at
//! [`Headers::stream_error`].
//!
//! # Example
//!
//! ```
//! use bytes::BytesMut;
//! use grpc_transport::frame::{parse_frame, Frame, Ping, DEFAULT_MAX_FRAME_SIZE};
//!
//! # fn main() -> Result<(), grpc_transport::frame::FrameError> {
//! // Bytes as they might arrive from the peer: one PING, and half of a second frame.
//! let mut read_buf = BytesMut::new();
//! Ping::new(*b"rtt-0001").encode(&mut read_buf);
//! read_buf.extend_from_slice(&[0, 0, 8, 6]);
//!
//! let mut write_buf = BytesMut::new();
//! while let Some(frame) = parse_frame(&mut read_buf, DEFAULT_MAX_FRAME_SIZE)? {
//!     if let Frame::Ping(ping) = frame {
//!         if !ping.is_ack() {
//!             // RFC 9113 §6.7: answer with the same payload and the ACK flag.
//!             Ping::pong(ping.payload()).encode(&mut write_buf);
//!         }
//!     }
//! }
//! assert_eq!(read_buf.len(), 4, "the incomplete frame waits for more bytes");
//! assert_eq!(&write_buf[..9], &[0, 0, 8, 6, 1, 0, 0, 0, 0]);
//! # Ok(())
//! # }
//! ```

use bytes::{Buf, Bytes, BytesMut};

mod continuation;
mod data;
mod error;
mod go_away;
mod head;
mod headers;
mod pad;
mod ping;
mod preface;
mod priority;
mod push_promise;
mod rst_stream;
mod settings;
mod stream_id;
mod unknown;
mod window_update;

pub use continuation::Continuation;
pub use data::Data;
pub use error::{ErrorScope, FrameError, Reason};
pub use go_away::GoAway;
pub use head::{
    DEFAULT_MAX_FRAME_SIZE, FRAME_HEADER_LEN, Flags, FrameHeader, FrameType, MAX_FRAME_SIZE_LIMIT,
};
pub use headers::Headers;
pub use ping::Ping;
pub use preface::{InvalidPreface, PREFACE, PrefaceCheck, check_preface};
pub use priority::{Priority, PrioritySpec};
pub use push_promise::PushPromise;
pub use rst_stream::Reset;
pub use settings::{
    DEFAULT_HEADER_TABLE_SIZE, DEFAULT_INITIAL_WINDOW_SIZE, MAX_WINDOW_SIZE, SettingId, Settings,
};
pub use stream_id::StreamId;
pub use unknown::Unknown;
pub use window_update::WindowUpdate;

/// Any HTTP/2 frame.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Frame {
    /// DATA (§6.1).
    Data(Data),
    /// HEADERS (§6.2).
    Headers(Headers),
    /// PRIORITY (§6.3).
    Priority(Priority),
    /// RST_STREAM (§6.4).
    Reset(Reset),
    /// SETTINGS (§6.5).
    Settings(Settings),
    /// PUSH_PROMISE (§6.6).
    PushPromise(PushPromise),
    /// PING (§6.7).
    Ping(Ping),
    /// GOAWAY (§6.8).
    GoAway(GoAway),
    /// WINDOW_UPDATE (§6.9).
    WindowUpdate(WindowUpdate),
    /// CONTINUATION (§6.10).
    Continuation(Continuation),
    /// A frame of a type RFC 9113 does not define (§5.5).
    Unknown(Unknown),
}

macro_rules! from_frame_types {
    ($($variant:ident),*) => {$(
        impl From<$variant> for Frame {
            fn from(frame: $variant) -> Frame {
                Frame::$variant(frame)
            }
        }
    )*};
}

from_frame_types!(
    Data,
    Headers,
    Priority,
    Reset,
    Settings,
    PushPromise,
    Ping,
    GoAway,
    WindowUpdate,
    Continuation,
    Unknown
);

/// Whether a frame type's payload is read in place rather than kept as `Bytes`: these
/// types have small fixed-layout payloads and keep no slice of the buffer.
fn is_fixed_layout(kind: FrameType) -> bool {
    matches!(
        kind,
        FrameType::PRIORITY
            | FrameType::RST_STREAM
            | FrameType::SETTINGS
            | FrameType::PING
            | FrameType::WINDOW_UPDATE
    )
}

impl Frame {
    /// Decodes and validates a frame from its header and exactly `head.length` octets of
    /// payload.
    ///
    /// Does not check the length against a maximum frame size; [`parse_frame`] does. A
    /// payload whose length differs from `head.length` is a connection FRAME_SIZE_ERROR
    /// ([`Reason::LengthMismatch`]).
    pub fn decode(head: FrameHeader, payload: Bytes) -> Result<Frame, FrameError> {
        if payload.len() != head.length as usize {
            return Err(FrameError::frame_size(Reason::LengthMismatch));
        }
        if is_fixed_layout(head.kind) {
            Self::decode_fixed(&head, &payload)
        } else {
            Self::decode_shared(&head, payload)
        }
    }

    /// Decodes the types for which [`is_fixed_layout`] holds.
    #[inline]
    fn decode_fixed(head: &FrameHeader, payload: &[u8]) -> Result<Frame, FrameError> {
        match head.kind {
            FrameType::PRIORITY => Priority::decode(head, payload).map(Frame::Priority),
            FrameType::RST_STREAM => Reset::decode(head, payload).map(Frame::Reset),
            FrameType::SETTINGS => Settings::decode(head, payload).map(Frame::Settings),
            FrameType::PING => Ping::decode(head, payload).map(Frame::Ping),
            FrameType::WINDOW_UPDATE => {
                WindowUpdate::decode(head, payload).map(Frame::WindowUpdate)
            }
            // Not reached (callers check `is_fixed_layout`); kept total without a panic.
            _ => Self::decode_shared(head, Bytes::copy_from_slice(payload)),
        }
    }

    /// Decodes the types whose frames keep a slice of the payload.
    #[inline]
    fn decode_shared(head: &FrameHeader, payload: Bytes) -> Result<Frame, FrameError> {
        match head.kind {
            FrameType::DATA => Data::decode(head, payload).map(Frame::Data),
            FrameType::HEADERS => Headers::decode(head, payload).map(Frame::Headers),
            FrameType::PUSH_PROMISE => PushPromise::decode(head, payload).map(Frame::PushPromise),
            FrameType::GOAWAY => GoAway::decode(head, payload).map(Frame::GoAway),
            FrameType::CONTINUATION => Continuation::decode(head, payload).map(Frame::Continuation),
            kind if is_fixed_layout(kind) => Self::decode_fixed(head, &payload),
            _ => Ok(Frame::Unknown(Unknown::decode(head, payload))),
        }
    }

    /// Appends the frame to `dst`, reserving space once.
    pub fn encode(&self, dst: &mut BytesMut) {
        match self {
            Frame::Data(frame) => frame.encode(dst),
            Frame::Headers(frame) => frame.encode(dst),
            Frame::Priority(frame) => frame.encode(dst),
            Frame::Reset(frame) => frame.encode(dst),
            Frame::Settings(frame) => frame.encode(dst),
            Frame::PushPromise(frame) => frame.encode(dst),
            Frame::Ping(frame) => frame.encode(dst),
            Frame::GoAway(frame) => frame.encode(dst),
            Frame::WindowUpdate(frame) => frame.encode(dst),
            Frame::Continuation(frame) => frame.encode(dst),
            Frame::Unknown(frame) => frame.encode(dst),
        }
    }

    /// Length of the encoded frame, header included.
    pub fn encoded_len(&self) -> usize {
        match self {
            Frame::Data(frame) => frame.encoded_len(),
            Frame::Headers(frame) => frame.encoded_len(),
            Frame::Priority(frame) => frame.encoded_len(),
            Frame::Reset(frame) => frame.encoded_len(),
            Frame::Settings(frame) => frame.encoded_len(),
            Frame::PushPromise(frame) => frame.encoded_len(),
            Frame::Ping(frame) => frame.encoded_len(),
            Frame::GoAway(frame) => frame.encoded_len(),
            Frame::WindowUpdate(frame) => frame.encoded_len(),
            Frame::Continuation(frame) => frame.encoded_len(),
            Frame::Unknown(frame) => frame.encoded_len(),
        }
    }

    /// The frame's stream; [`StreamId::ZERO`] for connection-level frames.
    pub fn stream_id(&self) -> StreamId {
        match self {
            Frame::Data(frame) => frame.stream_id(),
            Frame::Headers(frame) => frame.stream_id(),
            Frame::Priority(frame) => frame.stream_id(),
            Frame::Reset(frame) => frame.stream_id(),
            Frame::PushPromise(frame) => frame.stream_id(),
            Frame::WindowUpdate(frame) => frame.stream_id(),
            Frame::Continuation(frame) => frame.stream_id(),
            Frame::Unknown(frame) => frame.stream_id(),
            Frame::Settings(_) | Frame::Ping(_) | Frame::GoAway(_) => StreamId::ZERO,
        }
    }

    /// The frame's type.
    pub fn kind(&self) -> FrameType {
        match self {
            Frame::Data(_) => FrameType::DATA,
            Frame::Headers(_) => FrameType::HEADERS,
            Frame::Priority(_) => FrameType::PRIORITY,
            Frame::Reset(_) => FrameType::RST_STREAM,
            Frame::Settings(_) => FrameType::SETTINGS,
            Frame::PushPromise(_) => FrameType::PUSH_PROMISE,
            Frame::Ping(_) => FrameType::PING,
            Frame::GoAway(_) => FrameType::GOAWAY,
            Frame::WindowUpdate(_) => FrameType::WINDOW_UPDATE,
            Frame::Continuation(_) => FrameType::CONTINUATION,
            Frame::Unknown(frame) => frame.kind(),
        }
    }
}

/// Takes one frame off the front of `buf`, the connection's read buffer.
///
/// - `Ok(None)`: `buf` does not hold a whole frame yet; nothing was consumed. Read more
///   and call again.
/// - `Ok(Some(frame))`: the frame's octets were split off `buf`; its payload is a slice
///   of them, not a copy.
/// - `Err(error)` with a stream scope: the frame was consumed. Reset the stream and keep
///   parsing.
/// - `Err(error)` with connection scope: send GOAWAY and close. `buf` is left in an
///   unspecified state.
///
/// `max_frame_size` is the SETTINGS_MAX_FRAME_SIZE *we* advertised
/// ([`DEFAULT_MAX_FRAME_SIZE`] until the peer acknowledges ours). A longer frame is a
/// FRAME_SIZE_ERROR (§4.2), reported as soon as its header arrives. §4.2 requires a
/// connection error for frame types that can change connection state and lets others be
/// stream errors; this function makes every oversized frame a connection error, because
/// skipping the rest of it would mean buffering or tracking up to 16 MiB of a frame that
/// the peer had no right to send, and because an oversized DATA frame would still have to
/// be charged to the connection's flow-control window (§6.9).
pub fn parse_frame(buf: &mut BytesMut, max_frame_size: u32) -> Result<Option<Frame>, FrameError> {
    let Some(head_bytes) = buf.first_chunk::<FRAME_HEADER_LEN>() else {
        return Ok(None);
    };
    let head = FrameHeader::parse(head_bytes);
    if head.length > max_frame_size {
        return Err(FrameError::frame_size(Reason::FrameTooLarge));
    }
    let len = head.length as usize;
    let total = FRAME_HEADER_LEN + len;
    if buf.len() < total {
        return Ok(None);
    }
    if is_fixed_layout(head.kind) {
        // Read the small payload in place: no reference count traffic on the buffer.
        let result = match buf.get(FRAME_HEADER_LEN..total) {
            Some(payload) => Frame::decode_fixed(&head, payload),
            None => return Ok(None), // cannot happen: buf.len() >= total was checked above
        };
        buf.advance(total); // cannot fail: buf.len() >= total
        result.map(Some)
    } else {
        buf.advance(FRAME_HEADER_LEN); // cannot fail: buf.len() >= total >= 9
        let payload = buf.split_to(len).freeze(); // cannot fail: invariant buf.len() >= len
        Frame::decode_shared(&head, payload).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> StreamId {
        StreamId::new(n).unwrap()
    }

    #[test]
    fn parse_frame_waits_for_a_whole_header_then_a_whole_payload() {
        let mut encoded = BytesMut::new();
        Data::new(id(1), Bytes::from_static(b"abc"))
            .unwrap()
            .encode(&mut encoded);
        let mut buf = BytesMut::new();
        for (i, &byte) in encoded.iter().enumerate() {
            assert_eq!(
                parse_frame(&mut buf, DEFAULT_MAX_FRAME_SIZE),
                Ok(None),
                "after {i} octets"
            );
            assert_eq!(buf.len(), i, "nothing consumed");
            buf.extend_from_slice(&[byte]);
        }
        let frame = parse_frame(&mut buf, DEFAULT_MAX_FRAME_SIZE)
            .unwrap()
            .unwrap();
        assert_eq!(
            frame,
            Frame::Data(Data::new(id(1), Bytes::from_static(b"abc")).unwrap())
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn an_oversized_frame_is_rejected_from_its_header_alone() {
        let mut buf = BytesMut::from(&[0x00, 0x40, 0x01, 0x00, 0x00, 0, 0, 0, 1][..]);
        let err = parse_frame(&mut buf, DEFAULT_MAX_FRAME_SIZE).unwrap_err();
        assert_eq!(err, FrameError::frame_size(Reason::FrameTooLarge));
        // The same frame is fine under a larger advertised limit (it is just incomplete).
        assert_eq!(parse_frame(&mut buf, 1 << 20), Ok(None));
    }

    #[test]
    fn a_stream_error_consumes_the_frame_so_parsing_can_continue() {
        let mut buf = BytesMut::new();
        // PRIORITY with a 4-octet payload (stream FRAME_SIZE_ERROR), then a PING.
        buf.extend_from_slice(&[0, 0, 4, 2, 0, 0, 0, 0, 3, 0, 0, 0, 1]);
        Ping::new([7; 8]).encode(&mut buf);
        let err = parse_frame(&mut buf, DEFAULT_MAX_FRAME_SIZE).unwrap_err();
        assert_eq!(err.stream_id(), Some(id(3)));
        let next = parse_frame(&mut buf, DEFAULT_MAX_FRAME_SIZE).unwrap();
        assert_eq!(next, Some(Frame::Ping(Ping::new([7; 8]))));
    }

    #[test]
    fn decode_rejects_a_payload_of_the_wrong_length() {
        let head = FrameHeader {
            length: 8,
            kind: FrameType::PING,
            flags: Flags::EMPTY,
            stream_id: StreamId::ZERO,
        };
        let err = Frame::decode(head, Bytes::from_static(&[0; 7])).unwrap_err();
        assert_eq!(err, FrameError::frame_size(Reason::LengthMismatch));
        assert!(Frame::decode(head, Bytes::from_static(&[0; 8])).is_ok());
    }

    #[test]
    fn frame_accessors_match_the_wrapped_frame() {
        let frames: Vec<Frame> = vec![
            Data::new(id(1), Bytes::new()).unwrap().into(),
            Settings::ack().into(),
            WindowUpdate::new(id(5), 10).unwrap().into(),
            Unknown::new(FrameType(0x42), Flags::EMPTY, id(9), Bytes::new())
                .unwrap()
                .into(),
        ];
        let kinds: Vec<_> = frames.iter().map(Frame::kind).collect();
        assert_eq!(
            kinds,
            [
                FrameType::DATA,
                FrameType::SETTINGS,
                FrameType::WINDOW_UPDATE,
                FrameType(0x42)
            ]
        );
        let ids: Vec<_> = frames.iter().map(|f| f.stream_id().get()).collect();
        assert_eq!(ids, [1, 0, 5, 9]);
        for frame in &frames {
            let mut dst = BytesMut::new();
            frame.encode(&mut dst);
            assert_eq!(dst.len(), frame.encoded_len());
        }
    }

    #[test]
    fn frames_stay_small() {
        // Returned by value from every parse call.
        assert!(
            std::mem::size_of::<Frame>() <= 64,
            "{}",
            std::mem::size_of::<Frame>()
        );
    }
}
