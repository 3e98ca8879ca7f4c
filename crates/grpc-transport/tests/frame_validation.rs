//! Every frame validation rule of RFC 9113 §4 and §6, one table row each: raw bytes in,
//! expected outcome out. Rows for valid edge cases show what must *not* be rejected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::{Bytes, BytesMut};
use grpc_transport::ErrorCode;
use grpc_transport::frame::{
    Continuation, DEFAULT_MAX_FRAME_SIZE, Data, Flags, Frame, FrameError, FrameType, GoAway,
    Headers, MAX_FRAME_SIZE_LIMIT, MAX_WINDOW_SIZE, Ping, Priority, PrioritySpec, PushPromise,
    Reason, Reset, SettingId, Settings, StreamId, Unknown, WindowUpdate, parse_frame,
};

// Frame types.
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const PRIORITY: u8 = 0x2;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PUSH_PROMISE: u8 = 0x5;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const WINDOW_UPDATE: u8 = 0x8;
const CONTINUATION: u8 = 0x9;

// Flags.
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY_FLAG: u8 = 0x20;

/// Raw frame bytes: a header with `payload.len()` as Length, then the payload.
fn raw(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// A header announcing `length` octets, with no payload after it.
fn raw_head(kind: u8, flags: u8, stream: u32, length: u32) -> Vec<u8> {
    let mut out = length.to_be_bytes()[1..].to_vec();
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out
}

fn setting(id: u16, value: u32) -> Vec<u8> {
    let mut out = id.to_be_bytes().to_vec();
    out.extend_from_slice(&value.to_be_bytes());
    out
}

fn id(n: u32) -> StreamId {
    StreamId::new(n).unwrap()
}

#[derive(Debug)]
enum Expect {
    /// Connection error (§5.4.1) with this code and reason.
    Connection(ErrorCode, Reason),
    /// Stream error (§5.4.2) on this stream with this code and reason.
    Stream(u32, ErrorCode, Reason),
    /// A valid frame, equal to this one.
    Frame(Frame),
    /// HEADERS accepted so its field block reaches HPACK, with a stream error to raise
    /// afterwards (see `Headers::stream_error`).
    DeferredStream(u32, ErrorCode, Reason),
}
use Expect::*;

struct Row {
    rule: &'static str,
    bytes: Vec<u8>,
    max_frame_size: u32,
    expect: Expect,
}

fn row(rule: &'static str, bytes: Vec<u8>, expect: Expect) -> Row {
    Row {
        rule,
        bytes,
        max_frame_size: DEFAULT_MAX_FRAME_SIZE,
        expect,
    }
}

const PROTOCOL: ErrorCode = ErrorCode::PROTOCOL_ERROR;
const FRAME_SIZE: ErrorCode = ErrorCode::FRAME_SIZE_ERROR;

fn violations() -> Vec<Row> {
    let spec_on = |dep: u32| -> Vec<u8> {
        let mut out = dep.to_be_bytes().to_vec();
        out.push(15);
        out
    };
    vec![
        // §4.2 frame size.
        Row {
            rule: "§4.2: DATA longer than the advertised max frame size",
            bytes: raw_head(DATA, 0, 1, 16_385),
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            expect: Connection(FRAME_SIZE, Reason::FrameTooLarge),
        },
        Row {
            rule: "§4.2: HEADERS longer than a raised max frame size",
            bytes: raw_head(HEADERS, END_HEADERS, 1, 100_001),
            max_frame_size: 100_000,
            expect: Connection(FRAME_SIZE, Reason::FrameTooLarge),
        },
        Row {
            rule: "§4.2: an unknown frame type is size-checked too",
            bytes: raw_head(0xfa, 0, 0, MAX_FRAME_SIZE_LIMIT),
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            expect: Connection(FRAME_SIZE, Reason::FrameTooLarge),
        },
        // §6.1 DATA.
        row(
            "§6.1: DATA on stream 0",
            raw(DATA, 0, 0, b"x"),
            Connection(PROTOCOL, Reason::StreamIdZero),
        ),
        row(
            "§6.1: DATA padding as long as the payload",
            raw(DATA, PADDED, 1, b"\x04ab\0"),
            Connection(PROTOCOL, Reason::PaddingTooLong),
        ),
        row(
            "§6.1: DATA padding longer than the payload",
            raw(DATA, PADDED, 1, b"\xff"),
            Connection(PROTOCOL, Reason::PaddingTooLong),
        ),
        row(
            "§4.2/§6.1: PADDED DATA without a Pad Length octet",
            raw(DATA, PADDED, 1, b""),
            Connection(FRAME_SIZE, Reason::MissingPadLength),
        ),
        // §6.2 HEADERS.
        row(
            "§6.2: HEADERS on stream 0",
            raw(HEADERS, END_HEADERS, 0, b"\x82"),
            Connection(PROTOCOL, Reason::StreamIdZero),
        ),
        row(
            "§6.2: HEADERS padding exceeds the fragment",
            raw(HEADERS, PADDED | END_HEADERS, 1, b"\x02\x82"),
            Connection(PROTOCOL, Reason::PaddingTooLong),
        ),
        row(
            "§6.2: HEADERS padding eats into the priority fields",
            raw(HEADERS, PADDED | PRIORITY_FLAG, 1, b"\x01\0\0\0\x03\x0f"),
            Connection(PROTOCOL, Reason::PaddingTooLong),
        ),
        row(
            "§4.2/§6.2: PADDED HEADERS without a Pad Length octet",
            raw(HEADERS, PADDED, 1, b""),
            Connection(FRAME_SIZE, Reason::MissingPadLength),
        ),
        row(
            "§4.2/§6.2: PRIORITY flag but only 4 octets",
            raw(HEADERS, PRIORITY_FLAG, 1, b"\0\0\0\x03"),
            Connection(FRAME_SIZE, Reason::MissingPriorityFields),
        ),
        row(
            "§5.3.1: HEADERS depending on its own stream",
            raw(
                HEADERS,
                PRIORITY_FLAG | END_HEADERS,
                3,
                &[spec_on(3), b"\x82".to_vec()].concat(),
            ),
            DeferredStream(3, PROTOCOL, Reason::SelfDependency),
        ),
        // §6.3 PRIORITY.
        row(
            "§6.3: PRIORITY on stream 0",
            raw(PRIORITY, 0, 0, &spec_on(1)),
            Connection(PROTOCOL, Reason::StreamIdZero),
        ),
        row(
            "§6.3: PRIORITY of 4 octets",
            raw(PRIORITY, 0, 3, b"\0\0\0\x01"),
            Stream(3, FRAME_SIZE, Reason::PriorityLength),
        ),
        row(
            "§6.3: PRIORITY of 6 octets",
            raw(PRIORITY, 0, 3, b"\0\0\0\x01\x0f\0"),
            Stream(3, FRAME_SIZE, Reason::PriorityLength),
        ),
        row(
            "§5.3.1: PRIORITY depending on its own stream",
            raw(PRIORITY, 0, 5, &spec_on(5)),
            Stream(5, PROTOCOL, Reason::SelfDependency),
        ),
        row(
            "§5.3.1: exclusive self-dependency is still a self-dependency",
            raw(PRIORITY, 0, 5, &spec_on(0x8000_0005)),
            Stream(5, PROTOCOL, Reason::SelfDependency),
        ),
        // §6.4 RST_STREAM.
        row(
            "§6.4: RST_STREAM on stream 0",
            raw(RST_STREAM, 0, 0, b"\0\0\0\x08"),
            Connection(PROTOCOL, Reason::StreamIdZero),
        ),
        row(
            "§6.4: RST_STREAM of 3 octets",
            raw(RST_STREAM, 0, 1, b"\0\0\x08"),
            Connection(FRAME_SIZE, Reason::ResetLength),
        ),
        row(
            "§6.4: RST_STREAM of 5 octets",
            raw(RST_STREAM, 0, 1, b"\0\0\0\x08\0"),
            Connection(FRAME_SIZE, Reason::ResetLength),
        ),
        // §6.5 SETTINGS.
        row(
            "§6.5: SETTINGS on a stream",
            raw(SETTINGS, 0, 1, b""),
            Connection(PROTOCOL, Reason::StreamIdNotZero),
        ),
        row(
            "§6.5: SETTINGS ACK with a payload",
            raw(SETTINGS, ACK, 0, &setting(1, 0)),
            Connection(FRAME_SIZE, Reason::SettingsAckWithPayload),
        ),
        row(
            "§6.5: SETTINGS length not a multiple of 6",
            raw(SETTINGS, 0, 0, &setting(1, 0)[..5]),
            Connection(FRAME_SIZE, Reason::SettingsLength),
        ),
        row(
            "§6.5.2: SETTINGS_ENABLE_PUSH of 2",
            raw(SETTINGS, 0, 0, &setting(2, 2)),
            Connection(PROTOCOL, Reason::InvalidEnablePush),
        ),
        row(
            "§6.5.2: SETTINGS_INITIAL_WINDOW_SIZE of 2^31",
            raw(SETTINGS, 0, 0, &setting(4, 1 << 31)),
            Connection(
                ErrorCode::FLOW_CONTROL_ERROR,
                Reason::InitialWindowSizeTooLarge,
            ),
        ),
        row(
            "§6.5.2: SETTINGS_MAX_FRAME_SIZE below 2^14",
            raw(SETTINGS, 0, 0, &setting(5, 16_383)),
            Connection(PROTOCOL, Reason::InvalidMaxFrameSize),
        ),
        row(
            "§6.5.2: SETTINGS_MAX_FRAME_SIZE above 2^24-1",
            raw(SETTINGS, 0, 0, &setting(5, 1 << 24)),
            Connection(PROTOCOL, Reason::InvalidMaxFrameSize),
        ),
        row(
            "RFC 8441 §3: SETTINGS_ENABLE_CONNECT_PROTOCOL of 2",
            raw(SETTINGS, 0, 0, &setting(8, 2)),
            Connection(PROTOCOL, Reason::InvalidEnableConnectProtocol),
        ),
        row(
            "RFC 9218 §2.1: SETTINGS_NO_RFC7540_PRIORITIES of 2",
            raw(SETTINGS, 0, 0, &setting(9, 2)),
            Connection(PROTOCOL, Reason::InvalidNoRfc7540Priorities),
        ),
        // §6.6 PUSH_PROMISE.
        row(
            "§6.6: PUSH_PROMISE on stream 0",
            raw(PUSH_PROMISE, END_HEADERS, 0, b"\0\0\0\x02"),
            Connection(PROTOCOL, Reason::StreamIdZero),
        ),
        row(
            "§4.2/§6.6: PUSH_PROMISE too short for the promised id",
            raw(PUSH_PROMISE, END_HEADERS, 1, b"\0\0\x02"),
            Connection(FRAME_SIZE, Reason::MissingPromisedStreamId),
        ),
        row(
            "§6.6: PUSH_PROMISE padding exceeds the fragment",
            raw(PUSH_PROMISE, PADDED | END_HEADERS, 1, b"\x02\0\0\0\x02\x82"),
            Connection(PROTOCOL, Reason::PaddingTooLong),
        ),
        row(
            "§4.2/§6.6: PADDED PUSH_PROMISE without a Pad Length octet",
            raw(PUSH_PROMISE, PADDED, 1, b""),
            Connection(FRAME_SIZE, Reason::MissingPadLength),
        ),
        // §6.7 PING.
        row(
            "§6.7: PING on a stream",
            raw(PING, 0, 1, &[0; 8]),
            Connection(PROTOCOL, Reason::StreamIdNotZero),
        ),
        row(
            "§6.7: PING of 7 octets",
            raw(PING, 0, 0, &[0; 7]),
            Connection(FRAME_SIZE, Reason::PingLength),
        ),
        row(
            "§6.7: PING of 9 octets",
            raw(PING, ACK, 0, &[0; 9]),
            Connection(FRAME_SIZE, Reason::PingLength),
        ),
        // §6.8 GOAWAY.
        row(
            "§6.8: GOAWAY on a stream",
            raw(GOAWAY, 0, 1, &[0; 8]),
            Connection(PROTOCOL, Reason::StreamIdNotZero),
        ),
        row(
            "§4.2/§6.8: GOAWAY of 7 octets",
            raw(GOAWAY, 0, 0, &[0; 7]),
            Connection(FRAME_SIZE, Reason::GoAwayTooShort),
        ),
        // §6.9 WINDOW_UPDATE.
        row(
            "§6.9: WINDOW_UPDATE of 3 octets on a stream is still a connection error",
            raw(WINDOW_UPDATE, 0, 1, b"\0\0\x01"),
            Connection(FRAME_SIZE, Reason::WindowUpdateLength),
        ),
        row(
            "§6.9: WINDOW_UPDATE of 5 octets",
            raw(WINDOW_UPDATE, 0, 0, b"\0\0\0\x01\0"),
            Connection(FRAME_SIZE, Reason::WindowUpdateLength),
        ),
        row(
            "§6.9: WINDOW_UPDATE increment 0 on a stream",
            raw(WINDOW_UPDATE, 0, 7, b"\0\0\0\0"),
            Stream(7, PROTOCOL, Reason::ZeroWindowIncrement),
        ),
        row(
            "§6.9: WINDOW_UPDATE increment 0 on the connection",
            raw(WINDOW_UPDATE, 0, 0, b"\0\0\0\0"),
            Connection(PROTOCOL, Reason::ZeroWindowIncrement),
        ),
        row(
            "§6.9: only the reserved bit set is an increment of 0",
            raw(WINDOW_UPDATE, 0, 7, b"\x80\0\0\0"),
            Stream(7, PROTOCOL, Reason::ZeroWindowIncrement),
        ),
        // §6.10 CONTINUATION.
        row(
            "§6.10: CONTINUATION on stream 0",
            raw(CONTINUATION, END_HEADERS, 0, b"\x82"),
            Connection(PROTOCOL, Reason::StreamIdZero),
        ),
    ]
}

fn valid_edge_cases() -> Vec<Row> {
    let data = |stream: u32, bytes: &'static [u8]| {
        Data::new(id(stream), Bytes::from_static(bytes)).unwrap()
    };
    vec![
        row(
            "§6.1: maximum padding (255) with no data",
            raw(DATA, PADDED, 1, &[&[255u8][..], &[0; 255]].concat()),
            Frame(data(1, b"").with_padding(255).into()),
        ),
        row(
            "§6.1: padding may fill all but the Pad Length octet",
            raw(DATA, PADDED, 1, b"\x02\0\0"),
            Frame(data(1, b"").with_padding(2).into()),
        ),
        row(
            "§6.1: Pad Length 0 is allowed",
            raw(DATA, PADDED, 1, b"\x00ok"),
            Frame(data(1, b"ok").with_padding(0).into()),
        ),
        row(
            "§6.1: empty DATA with END_STREAM",
            raw(DATA, END_STREAM, 1, b""),
            Frame(data(1, b"").with_end_stream(true).into()),
        ),
        row(
            "§4.1: flags a type does not define are ignored",
            raw(DATA, !PADDED, 1, b"abc"),
            Frame(data(1, b"abc").with_end_stream(true).into()),
        ),
        row(
            "§4.1: PADDED and PRIORITY mean nothing on PING",
            raw(PING, 0xfe, 0, b"12345678"),
            Frame(Ping::new(*b"12345678").into()),
        ),
        row(
            "§4.1: the reserved stream id bit is ignored",
            raw(DATA, 0, 0x8000_0003, b"x"),
            Frame(data(3, b"x").into()),
        ),
        row(
            "§4.1: the reserved bit on stream 0 leaves stream 0",
            raw(PING, ACK, 0x8000_0000, b"12345678"),
            Frame(Ping::pong(*b"12345678").into()),
        ),
        row(
            "§6.9: the reserved increment bit is ignored",
            raw(WINDOW_UPDATE, 0, 0, b"\xff\xff\xff\xff"),
            Frame(
                WindowUpdate::new(StreamId::ZERO, MAX_WINDOW_SIZE)
                    .unwrap()
                    .into(),
            ),
        ),
        row(
            "§6.5.2: unknown SETTINGS identifiers are ignored",
            raw(
                SETTINGS,
                0,
                0,
                &[setting(0x7, 9), setting(0xf00d, 1), setting(3, 100)].concat(),
            ),
            Frame(Settings::new().with_max_concurrent_streams(100).into()),
        ),
        row(
            "§6.5: an empty SETTINGS frame is valid",
            raw(SETTINGS, 0, 0, b""),
            Frame(Settings::new().into()),
        ),
        row(
            "§6.5.2: boundary values are accepted",
            raw(
                SETTINGS,
                0,
                0,
                &[
                    setting(4, MAX_WINDOW_SIZE),
                    setting(5, MAX_FRAME_SIZE_LIMIT),
                    setting(2, 1),
                ]
                .concat(),
            ),
            Frame(
                Settings::new()
                    .with_initial_window_size(MAX_WINDOW_SIZE)
                    .unwrap()
                    .with_max_frame_size(MAX_FRAME_SIZE_LIMIT)
                    .unwrap()
                    .with_enable_push(true)
                    .into(),
            ),
        ),
        row(
            "§5.5: unknown frame types are returned, flags and all",
            raw(0xfa, 0xff, 0x8000_0007, b"ext"),
            Frame(
                Unknown::new(
                    FrameType(0xfa),
                    Flags(0xff),
                    id(7),
                    Bytes::from_static(b"ext"),
                )
                .unwrap()
                .into(),
            ),
        ),
        row(
            "§4.2: a frame exactly at the max frame size",
            raw(DATA, 0, 1, &[7; 16_384]),
            Frame(
                Data::new(id(1), Bytes::from(vec![7; 16_384]))
                    .unwrap()
                    .into(),
            ),
        ),
        row(
            "§6.2: padding and priority may leave an empty fragment",
            raw(
                HEADERS,
                PADDED | PRIORITY_FLAG,
                1,
                b"\x01\x80\0\0\x03\x0f\0",
            ),
            Frame(
                Headers::new(id(1), Bytes::new())
                    .unwrap()
                    .with_end_headers(false)
                    .with_padding(1)
                    .with_priority(PrioritySpec {
                        exclusive: true,
                        dependency: id(3),
                        weight: 15,
                    })
                    .unwrap()
                    .into(),
            ),
        ),
        row(
            "§6.3: a valid PRIORITY frame",
            raw(PRIORITY, 0, 3, b"\0\0\0\x01\x0f"),
            Frame(
                Priority::new(
                    id(3),
                    PrioritySpec {
                        exclusive: false,
                        dependency: id(1),
                        weight: 15,
                    },
                )
                .unwrap()
                .into(),
            ),
        ),
        row(
            "§6.4: RST_STREAM keeps an unknown error code (§7)",
            raw(RST_STREAM, 0, 1, b"\xde\xad\xbe\xef"),
            Frame(Reset::new(id(1), ErrorCode(0xdead_beef)).unwrap().into()),
        ),
        row(
            "§6.6: PUSH_PROMISE with an empty fragment",
            raw(PUSH_PROMISE, END_HEADERS, 1, b"\0\0\0\x02"),
            Frame(PushPromise::new(id(1), id(2), Bytes::new()).unwrap().into()),
        ),
        row(
            "§6.8: GOAWAY without debug data",
            raw(GOAWAY, 0, 0, b"\0\0\0\x05\0\0\0\0"),
            Frame(GoAway::new(id(5), ErrorCode::NO_ERROR).into()),
        ),
        row(
            "§6.10: CONTINUATION with an empty fragment",
            raw(CONTINUATION, 0, 1, b""),
            Frame(
                Continuation::new(id(1), Bytes::new())
                    .unwrap()
                    .with_end_headers(false)
                    .into(),
            ),
        ),
    ]
}

fn check(row: Row) -> Result<(), String> {
    let Row {
        rule,
        bytes,
        max_frame_size,
        expect,
    } = row;
    let mut buf = BytesMut::from(&bytes[..]);
    let result = parse_frame(&mut buf, max_frame_size);
    let fail = |what: String| Err(format!("{rule}: {what}"));
    match (&expect, result) {
        (Connection(code, reason), Err(err)) => {
            if err != FrameError::connection(*code, *reason) {
                return fail(format!("expected {expect:?}, got {err:?}"));
            }
        }
        (Stream(stream, code, reason), Err(err)) => {
            if err != FrameError::stream(id(*stream), *code, *reason) {
                return fail(format!("expected {expect:?}, got {err:?}"));
            }
            if !buf.is_empty() {
                return fail("a stream error must consume the frame".into());
            }
        }
        (Frame(expected), Ok(Some(frame))) => {
            if &frame != expected {
                return fail(format!("expected {expected:?}, got {frame:?}"));
            }
            if !buf.is_empty() {
                return fail("the frame must be consumed".into());
            }
        }
        (
            DeferredStream(stream, code, reason),
            Ok(Some(grpc_transport::frame::Frame::Headers(h))),
        ) => {
            if h.stream_error() != Some(FrameError::stream(id(*stream), *code, *reason)) {
                return fail(format!(
                    "expected deferred {expect:?}, got {:?}",
                    h.stream_error()
                ));
            }
        }
        (_, other) => return fail(format!("expected {expect:?}, got {other:?}")),
    }
    Ok(())
}

#[test]
fn every_rule_violation_gets_its_scope_code_and_reason() {
    let failures: Vec<String> = violations()
        .into_iter()
        .filter_map(|r| check(r).err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn valid_edge_cases_parse_to_the_expected_frame() {
    let failures: Vec<String> = valid_edge_cases()
        .into_iter()
        .filter_map(|r| check(r).err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_reason_has_a_row() {
    // Reasons that only constructors or `Frame::decode` produce, not `parse_frame`.
    let not_from_parse_frame = [Reason::LengthMismatch, Reason::WindowIncrementTooLarge];
    let covered: Vec<Reason> = violations()
        .iter()
        .filter_map(|row| match row.expect {
            Connection(_, reason) | Stream(_, _, reason) | DeferredStream(_, _, reason) => {
                Some(reason)
            }
            Frame(_) => None,
        })
        .collect();
    let all = [
        Reason::FrameTooLarge,
        Reason::StreamIdZero,
        Reason::StreamIdNotZero,
        Reason::MissingPadLength,
        Reason::PaddingTooLong,
        Reason::MissingPriorityFields,
        Reason::MissingPromisedStreamId,
        Reason::SelfDependency,
        Reason::PriorityLength,
        Reason::ResetLength,
        Reason::SettingsAckWithPayload,
        Reason::SettingsLength,
        Reason::InvalidEnablePush,
        Reason::InitialWindowSizeTooLarge,
        Reason::InvalidMaxFrameSize,
        Reason::InvalidEnableConnectProtocol,
        Reason::InvalidNoRfc7540Priorities,
        Reason::PingLength,
        Reason::GoAwayTooShort,
        Reason::WindowUpdateLength,
        Reason::ZeroWindowIncrement,
    ];
    for reason in all {
        assert!(covered.contains(&reason), "no table row for {reason:?}");
    }
    for reason in not_from_parse_frame {
        assert!(!covered.contains(&reason));
    }
}

#[test]
fn a_rule_broken_on_the_wrong_stream_reports_the_stream_rule_first() {
    // PRIORITY on stream 0 *and* with a bad length: the connection error wins, since a
    // stream error on stream 0 would be meaningless.
    let mut buf = BytesMut::from(&raw(PRIORITY, 0, 0, b"\0")[..]);
    let err = parse_frame(&mut buf, DEFAULT_MAX_FRAME_SIZE).unwrap_err();
    assert_eq!(err, FrameError::connection(PROTOCOL, Reason::StreamIdZero));
}

#[test]
fn reasons_display_their_rfc_section() {
    let err = FrameError::connection(FRAME_SIZE, Reason::SettingsLength);
    assert!(err.to_string().contains("§6.5"), "{err}");
    let _: &dyn std::error::Error = &err;
    let _ = SettingId::MAX_FRAME_SIZE; // re-exported for the connection
}
