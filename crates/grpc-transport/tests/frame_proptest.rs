//! Property tests for the frame layer: encoding and parsing agree for every frame type,
//! arbitrary input never panics, and parsing does not depend on how bytes are chunked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::{BufMut, Bytes, BytesMut};
use grpc_transport::ErrorCode;
use grpc_transport::frame::{
    Continuation, DEFAULT_MAX_FRAME_SIZE, Data, FRAME_HEADER_LEN, Flags, Frame, FrameHeader,
    FrameType, GoAway, Headers, MAX_FRAME_SIZE_LIMIT, MAX_WINDOW_SIZE, Ping, Priority,
    PrioritySpec, PushPromise, Reset, Settings, StreamId, Unknown, WindowUpdate, parse_frame,
};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

fn any_stream_id() -> impl Strategy<Value = StreamId> {
    (0..=StreamId::MAX.get()).prop_map(|n| StreamId::new(n).unwrap())
}

fn stream_id() -> impl Strategy<Value = StreamId> {
    (1..=StreamId::MAX.get()).prop_map(|n| StreamId::new(n).unwrap())
}

fn payload() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..200).prop_map(Bytes::from)
}

fn error_code() -> impl Strategy<Value = ErrorCode> {
    prop_oneof![
        (0u32..=0xd).prop_map(ErrorCode),
        any::<u32>().prop_map(ErrorCode)
    ]
}

fn priority_spec() -> impl Strategy<Value = PrioritySpec> {
    (any::<bool>(), any_stream_id(), any::<u8>()).prop_map(|(exclusive, dependency, weight)| {
        PrioritySpec {
            exclusive,
            dependency,
            weight,
        }
    })
}

fn data() -> impl Strategy<Value = Data> {
    (
        stream_id(),
        payload(),
        any::<bool>(),
        option::of(any::<u8>()),
    )
        .prop_map(|(id, bytes, end_stream, pad)| {
            let frame = Data::new(id, bytes).unwrap().with_end_stream(end_stream);
            match pad {
                Some(pad) => frame.with_padding(pad),
                None => frame,
            }
        })
}

fn headers() -> impl Strategy<Value = Headers> {
    (
        stream_id(),
        payload(),
        any::<bool>(),
        any::<bool>(),
        option::of(any::<u8>()),
        option::of(priority_spec()),
    )
        .prop_filter_map(
            "self-dependency",
            |(id, fragment, end_stream, end_headers, pad, priority)| {
                let mut frame = Headers::new(id, fragment)
                    .unwrap()
                    .with_end_stream(end_stream)
                    .with_end_headers(end_headers);
                if let Some(pad) = pad {
                    frame = frame.with_padding(pad);
                }
                match priority {
                    Some(spec) => frame.with_priority(spec).ok(),
                    None => Some(frame),
                }
            },
        )
}

fn priority() -> impl Strategy<Value = Priority> {
    (stream_id(), priority_spec())
        .prop_filter_map("self-dependency", |(id, spec)| Priority::new(id, spec).ok())
}

fn reset() -> impl Strategy<Value = Reset> {
    (stream_id(), error_code()).prop_map(|(id, code)| Reset::new(id, code).unwrap())
}

fn settings() -> impl Strategy<Value = Settings> {
    let values = (
        option::of(any::<u32>()),
        option::of(any::<bool>()),
        option::of(any::<u32>()),
        option::of(0..=MAX_WINDOW_SIZE),
        option::of(DEFAULT_MAX_FRAME_SIZE..=MAX_FRAME_SIZE_LIMIT),
        option::of(any::<u32>()),
        option::of(any::<bool>()),
        option::of(any::<bool>()),
    );
    prop_oneof![
        Just(Settings::ack()),
        values.prop_map(
            |(table, push, streams, window, frame, list, connect, no_prio)| {
                let mut s = Settings::new();
                if let Some(v) = table {
                    s = s.with_header_table_size(v);
                }
                if let Some(v) = push {
                    s = s.with_enable_push(v);
                }
                if let Some(v) = streams {
                    s = s.with_max_concurrent_streams(v);
                }
                if let Some(v) = window {
                    s = s.with_initial_window_size(v).unwrap();
                }
                if let Some(v) = frame {
                    s = s.with_max_frame_size(v).unwrap();
                }
                if let Some(v) = list {
                    s = s.with_max_header_list_size(v);
                }
                if let Some(v) = connect {
                    s = s.with_enable_connect_protocol(v);
                }
                if let Some(v) = no_prio {
                    s = s.with_no_rfc7540_priorities(v);
                }
                s
            }
        ),
    ]
}

fn push_promise() -> impl Strategy<Value = PushPromise> {
    (
        stream_id(),
        any_stream_id(),
        payload(),
        any::<bool>(),
        option::of(any::<u8>()),
    )
        .prop_map(|(id, promised, fragment, end_headers, pad)| {
            let frame = PushPromise::new(id, promised, fragment)
                .unwrap()
                .with_end_headers(end_headers);
            match pad {
                Some(pad) => frame.with_padding(pad),
                None => frame,
            }
        })
}

fn ping() -> impl Strategy<Value = Ping> {
    (any::<bool>(), any::<[u8; 8]>()).prop_map(|(ack, payload)| {
        if ack {
            Ping::pong(payload)
        } else {
            Ping::new(payload)
        }
    })
}

fn go_away() -> impl Strategy<Value = GoAway> {
    (any_stream_id(), error_code(), payload())
        .prop_map(|(last, code, debug)| GoAway::new(last, code).with_debug_data(debug))
}

fn window_update() -> impl Strategy<Value = WindowUpdate> {
    (any_stream_id(), 1..=MAX_WINDOW_SIZE).prop_map(|(id, inc)| WindowUpdate::new(id, inc).unwrap())
}

fn continuation() -> impl Strategy<Value = Continuation> {
    (stream_id(), payload(), any::<bool>()).prop_map(|(id, fragment, end)| {
        Continuation::new(id, fragment)
            .unwrap()
            .with_end_headers(end)
    })
}

fn unknown() -> impl Strategy<Value = Unknown> {
    (10u8..=255, any::<u8>(), any_stream_id(), payload()).prop_map(|(kind, flags, id, payload)| {
        Unknown::new(FrameType(kind), Flags(flags), id, payload).unwrap()
    })
}

fn frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        data().prop_map(Frame::from),
        headers().prop_map(Frame::from),
        priority().prop_map(Frame::from),
        reset().prop_map(Frame::from),
        settings().prop_map(Frame::from),
        push_promise().prop_map(Frame::from),
        ping().prop_map(Frame::from),
        go_away().prop_map(Frame::from),
        window_update().prop_map(Frame::from),
        continuation().prop_map(Frame::from),
        unknown().prop_map(Frame::from),
    ]
}

/// Parses everything in `buf`, continuing after stream errors, stopping at the first
/// connection error. Asserts that every step makes progress.
fn parse_until_stuck(buf: &mut BytesMut, max_frame_size: u32) -> Vec<Result<Frame, ()>> {
    let mut out = Vec::new();
    loop {
        let before = buf.len();
        match parse_frame(buf, max_frame_size) {
            Ok(None) => return out,
            Ok(Some(frame)) => out.push(Ok(frame)),
            Err(err) if err.is_connection_error() => {
                out.push(Err(()));
                return out;
            }
            Err(_) => out.push(Err(())),
        }
        assert!(
            buf.len() < before,
            "a parsed frame or stream error must consume input"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_frame_round_trips_through_encode_and_parse(frame in frame()) {
        let mut buf = BytesMut::new();
        frame.encode(&mut buf);
        prop_assert_eq!(buf.len(), frame.encoded_len());
        // Our encoder never produces a frame our parser rejects, even at the smallest
        // max frame size (the generated frames are all under 2^14 octets).
        let parsed = parse_frame(&mut buf, DEFAULT_MAX_FRAME_SIZE);
        prop_assert_eq!(parsed, Ok(Some(frame)));
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn frame_decode_agrees_with_parse_frame(frame in frame()) {
        let mut buf = BytesMut::new();
        frame.encode(&mut buf);
        let head = FrameHeader::parse(buf[..FRAME_HEADER_LEN].try_into().unwrap());
        let payload = Bytes::copy_from_slice(&buf[FRAME_HEADER_LEN..]);
        prop_assert_eq!(Frame::decode(head, payload), Ok(frame));
    }

    #[test]
    fn data_head_payload_and_padding_equal_the_whole_frame(frame in data()) {
        let mut whole = BytesMut::new();
        frame.encode(&mut whole);
        let mut pieces = BytesMut::new();
        frame.encode_head(&mut pieces);
        pieces.put_slice(frame.data());
        frame.encode_padding(&mut pieces);
        prop_assert_eq!(pieces, whole);
        prop_assert_eq!(frame.flow_controlled_len() as usize + FRAME_HEADER_LEN, frame.encoded_len());
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in vec(any::<u8>(), 0..600),
        max_frame_size in prop_oneof![Just(DEFAULT_MAX_FRAME_SIZE), 0..=MAX_FRAME_SIZE_LIMIT],
    ) {
        let mut buf = BytesMut::from(&bytes[..]);
        parse_until_stuck(&mut buf, max_frame_size);
    }

    #[test]
    fn arbitrary_payloads_under_every_frame_type_never_panic(
        kind in 0u8..=12,
        flags in any::<u8>(),
        stream in any::<u32>(),
        payload in vec(any::<u8>(), 0..80),
    ) {
        // Random bytes rarely form a plausible header; this aims at each type's payload rules.
        let mut buf = BytesMut::new();
        FrameHeader {
            length: payload.len() as u32,
            kind: FrameType(kind),
            flags: Flags(flags),
            stream_id: StreamId::from_wire(stream),
        }
        .encode(&mut buf);
        buf.put_slice(&payload);
        if let Ok(Some(frame)) = parse_frame(&mut buf, DEFAULT_MAX_FRAME_SIZE) {
            // Whatever parses re-encodes to something that parses to the same frame.
            let mut again = BytesMut::new();
            frame.encode(&mut again);
            prop_assert_eq!(parse_frame(&mut again, MAX_FRAME_SIZE_LIMIT), Ok(Some(frame)));
        }
    }

    #[test]
    fn frames_fed_in_random_chunks_parse_like_frames_fed_at_once(
        frames in vec(frame(), 1..8),
        cuts in vec(1usize..64, 0..40),
    ) {
        let mut wire = BytesMut::new();
        for frame in &frames {
            frame.encode(&mut wire);
        }
        let wire = wire.freeze();

        let mut buf = BytesMut::new();
        let mut parsed = Vec::new();
        let mut rest = &wire[..];
        let mut cuts = cuts.into_iter();
        while !rest.is_empty() {
            let n = cuts.next().unwrap_or(rest.len()).min(rest.len());
            buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            while let Some(frame) = parse_frame(&mut buf, DEFAULT_MAX_FRAME_SIZE).unwrap() {
                parsed.push(frame);
            }
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(parsed, frames);
    }

    #[test]
    fn encode_split_fragments_fit_and_reassemble(
        len in 0usize..70_000,
        max_frame_size in prop_oneof![Just(DEFAULT_MAX_FRAME_SIZE), DEFAULT_MAX_FRAME_SIZE..40_000],
        pad in option::of(any::<u8>()),
        end_stream in any::<bool>(),
        end_headers in any::<bool>(),
    ) {
        let fragment = Bytes::from((0..len).map(|i| (i % 251) as u8).collect::<Vec<_>>());
        let id = StreamId::new(1).unwrap();
        let mut headers = Headers::new(id, fragment.clone())
            .unwrap()
            .with_end_stream(end_stream)
            .with_end_headers(end_headers);
        if let Some(pad) = pad {
            headers = headers.with_padding(pad);
        }
        let mut buf = BytesMut::new();
        let count = headers.encode_split(max_frame_size, &mut buf);

        let mut frames = Vec::new();
        while let Some(frame) = parse_frame(&mut buf, max_frame_size).unwrap() {
            frames.push(frame);
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(frames.len(), count);
        let mut block = Vec::new();
        for (i, frame) in frames.iter().enumerate() {
            let last = i + 1 == frames.len();
            match (i, frame) {
                (0, Frame::Headers(h)) => {
                    prop_assert_eq!(h.is_end_headers(), last && end_headers);
                    prop_assert_eq!(h.is_end_stream(), end_stream);
                    block.extend_from_slice(h.fragment());
                }
                (_, Frame::Continuation(c)) if i > 0 => {
                    prop_assert_eq!(c.is_end_headers(), last && end_headers);
                    block.extend_from_slice(c.fragment());
                }
                _ => prop_assert!(false, "unexpected frame {:?} at {}", frame, i),
            }
        }
        prop_assert_eq!(block, fragment.to_vec());
    }
}
