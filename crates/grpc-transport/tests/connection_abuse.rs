//! Abusive peers: each limit that protects the connection, with the error code it produces
//! and what keeps working afterwards (RFC 9113 §10.5, CVE-2023-44487 and friends).

mod support;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use grpc_transport::ErrorCode;
use grpc_transport::connection::{Config, ConnectionError, Event};
use grpc_transport::frame::{
    self, Continuation, Flags, Frame, FrameType, MAX_WINDOW_SIZE, Ping, Priority, PrioritySpec,
    Settings,
};
use grpc_transport::hpack::HeaderField;
use support::{
    RawPeer, field, goaways, has_goaway, headers_events, id, incompressible, pings, raw_frame,
    request, request_with, resets, response, settings_acks,
};

fn enhance_your_calm(peer: &mut RawPeer) -> bool {
    let frames = peer.read_frames();
    has_goaway(&frames, ErrorCode::ENHANCE_YOUR_CALM)
        && matches!(
            peer.closed(),
            Some(Some(ConnectionError::Local {
                code: ErrorCode::ENHANCE_YOUR_CALM,
                ..
            }))
        )
}

// ---- rapid reset (CVE-2023-44487) -----------------------------------------------------

#[test]
fn rapid_reset_is_stopped_with_enhance_your_calm_within_the_burst_budget() {
    let mut peer = RawPeer::server(Config::server());
    let burst = peer.conn.config().reset_flood.burst as usize;
    let mut wire = BytesMut::new();
    for n in 0..3_000u32 {
        let stream = 2 * n + 1;
        peer.headers(stream, &request("/"), false).encode(&mut wire);
        RawPeer::reset(stream, ErrorCode::CANCEL).encode(&mut wire);
    }
    peer.send_bytes(&mut wire);
    assert!(enhance_your_calm(&mut peer));
    let accepted = headers_events(&peer.events).len();
    assert!(
        (burst..=burst + 1).contains(&accepted),
        "{accepted} streams reached the app"
    );
}

#[test]
fn modest_reset_rate_over_time_is_tolerated() {
    let mut peer = RawPeer::server(Config::server());
    let mut stream = 1;
    // 50 cancelled calls a second for a minute: 3,000 resets, more than the burst.
    for _ in 0..60 {
        let mut wire = BytesMut::new();
        for _ in 0..50 {
            peer.headers(stream, &request("/"), false).encode(&mut wire);
            RawPeer::reset(stream, ErrorCode::CANCEL).encode(&mut wire);
            stream += 2;
        }
        peer.send_bytes(&mut wire);
        peer.advance(Duration::from_secs(1));
    }
    assert!(goaways(&peer.read_frames()).is_empty());
    assert!(!peer.conn.is_closed());
    assert_eq!(headers_events(&peer.events).len(), 3_000);
}

#[test]
fn provoking_stream_errors_counts_like_resets() {
    let mut peer = RawPeer::server(Config::server());
    let mut wire = BytesMut::new();
    for n in 0..3_000u32 {
        // Each request is malformed: the server resets it with PROTOCOL_ERROR.
        peer.headers(2 * n + 1, &request_with("/", "connection", "close"), true)
            .encode(&mut wire);
    }
    // Each reset is an answer the peer must read: it is read in batches of 50.
    let mut frames = Vec::new();
    while !wire.is_empty() && !peer.conn.is_closed() {
        peer.send_bytes(&mut wire);
        frames.extend(peer.read_frames());
    }
    assert!(has_goaway(&frames, ErrorCode::ENHANCE_YOUR_CALM));
    let burst = peer.conn.config().reset_flood.burst as usize;
    assert_eq!(resets(&frames).len(), burst);
}

// ---- CONTINUATION flood -------------------------------------------------------------

#[test]
fn flood_of_empty_continuation_frames_gets_enhance_your_calm() {
    let mut peer = RawPeer::server(Config::server());
    let Frame::Headers(headers) = peer.headers(1, &request("/"), true) else {
        unreachable!()
    };
    let mut wire = BytesMut::new();
    headers.with_end_headers(false).encode(&mut wire);
    let empty = Continuation::new(id(1), Bytes::new())
        .unwrap()
        .with_end_headers(false);
    for _ in 0..5_000 {
        empty.encode(&mut wire);
    }
    peer.send_bytes(&mut wire);
    assert!(enhance_your_calm(&mut peer));
    assert!(headers_events(&peer.events).is_empty());
}

#[test]
fn header_block_growing_past_the_limit_gets_enhance_your_calm_before_it_is_buffered() {
    let mut config = Config::server();
    config.max_header_list_size = 4_096;
    let mut peer = RawPeer::server(config);
    let chunk = Bytes::from(vec![0x80u8; 8_192]);
    let first = frame::Headers::new(id(1), chunk.clone())
        .unwrap()
        .with_end_headers(false);
    peer.send([first.into()]);
    let mut buffered = 8_192;
    while !peer.conn.is_closed() {
        assert!(buffered <= 4_096 + 16_384, "buffered {buffered} octets");
        let more = Continuation::new(id(1), chunk.clone())
            .unwrap()
            .with_end_headers(false);
        peer.send([more.into()]);
        buffered += chunk.len();
    }
    assert!(enhance_your_calm(&mut peer));
}

#[test]
fn header_block_is_bounded_by_the_default_limit_too() {
    let mut peer = RawPeer::server(Config::server());
    let chunk = Bytes::from(vec![0x80u8; 16_384]);
    let first = frame::Headers::new(id(1), chunk.clone())
        .unwrap()
        .with_end_headers(false);
    peer.send([first.into()]);
    let mut frames = 1;
    while !peer.conn.is_closed() {
        let more = Continuation::new(id(1), chunk.clone())
            .unwrap()
            .with_end_headers(false);
        peer.send([more.into()]);
        frames += 1;
        assert!(frames <= 1_026, "16 MiB header list + 16 KiB of slack");
    }
    assert!(enhance_your_calm(&mut peer));
}

// ---- floods of frames that need an answer -------------------------------------------

#[test]
fn settings_flood_without_reading_stops_consumption_until_answers_are_written() {
    let mut peer = RawPeer::server(Config::server());
    let limit = peer.conn.config().max_queued_control_frames;
    let mut wire = BytesMut::new();
    for _ in 0..200 {
        Settings::new().encode(&mut wire);
    }
    peer.send_bytes(&mut wire);
    assert!(!peer.conn.wants_read());
    assert_eq!(
        wire.len(),
        (200 - limit) * 9,
        "the rest stays in the buffer"
    );

    assert_eq!(settings_acks(&peer.read_frames()), limit);
    assert!(peer.conn.wants_read());
    peer.send_bytes(&mut wire);
    assert_eq!(wire.len(), (200 - 2 * limit) * 9);
    assert!(!peer.conn.is_closed());
}

#[test]
fn ping_flood_without_reading_stops_consumption_until_answers_are_written() {
    let mut peer = RawPeer::client(Config::client());
    let limit = peer.conn.config().max_queued_control_frames;
    let mut wire = BytesMut::new();
    for n in 0..120u8 {
        Ping::new([n; 8]).encode(&mut wire);
    }
    peer.send_bytes(&mut wire);
    assert!(!peer.conn.wants_read());
    assert_eq!(wire.len(), (120 - limit) * 17);

    let answers = pings(&peer.read_frames());
    assert_eq!(answers.len(), limit);
    assert!(answers.iter().all(Ping::is_ack));
    assert!(peer.conn.wants_read());
    peer.send_bytes(&mut wire);
    assert_eq!(wire.len(), (120 - 2 * limit) * 17);
}

#[test]
fn flood_of_empty_data_frames_gets_enhance_your_calm() {
    let mut peer = RawPeer::server(Config::server());
    let headers = peer.headers(1, &request("/"), false);
    peer.send([headers]);
    let mut wire = BytesMut::new();
    for _ in 0..2_000 {
        RawPeer::data(1, b"", false).encode(&mut wire);
    }
    peer.send_bytes(&mut wire);
    assert!(enhance_your_calm(&mut peer));
}

#[test]
fn flood_of_priority_or_unknown_frames_gets_enhance_your_calm() {
    let mut peer = RawPeer::server(Config::server());
    let mut wire = BytesMut::new();
    for n in 0..2_000u32 {
        Priority::new(id(2 * n + 1), PrioritySpec::default())
            .unwrap()
            .encode(&mut wire);
    }
    peer.send_bytes(&mut wire);
    assert!(enhance_your_calm(&mut peer));

    let mut peer = RawPeer::server(Config::server());
    let mut wire = BytesMut::new();
    for _ in 0..2_000 {
        wire.extend_from_slice(&raw_frame(FrameType(0xfa), Flags::EMPTY, 0, b""));
    }
    peer.send_bytes(&mut wire);
    assert!(enhance_your_calm(&mut peer));
}

#[test]
fn a_few_unknown_frames_are_ignored() {
    let mut peer = RawPeer::server(Config::server());
    for _ in 0..10 {
        peer.send_raw(FrameType(0xfa), Flags::EMPTY, 0, b"extension");
    }
    assert!(peer.read_frames().is_empty());
    assert!(!peer.conn.is_closed());
}

// ---- flow control abuse ---------------------------------------------------------------

#[test]
fn window_update_overflow_is_a_flow_control_error() {
    let mut peer = RawPeer::client(Config::client());
    peer.conn.open_stream(request("/"), false).unwrap();
    peer.read_frames();
    peer.send([RawPeer::window_update(1, MAX_WINDOW_SIZE)]);
    assert_eq!(
        resets(&peer.read_frames()),
        vec![(1, ErrorCode::FLOW_CONTROL_ERROR)]
    );
    peer.send([RawPeer::window_update(0, MAX_WINDOW_SIZE)]);
    assert!(has_goaway(
        &peer.read_frames(),
        ErrorCode::FLOW_CONTROL_ERROR
    ));
    assert!(peer.conn.is_closed());
}

// ---- frames on the wrong stream -------------------------------------------------------

#[test]
fn stream_frames_on_stream_zero_are_protocol_errors() {
    let block = {
        let mut block = BytesMut::new();
        grpc_transport::hpack::Encoder::new().encode(&request("/"), &mut block);
        block
    };
    let cases: [(FrameType, Flags, &[u8]); 4] = [
        (FrameType::DATA, Flags::EMPTY, b"x"),
        (FrameType::HEADERS, Flags::END_HEADERS, &block),
        (FrameType::RST_STREAM, Flags::EMPTY, &[0, 0, 0, 8]),
        (FrameType::PRIORITY, Flags::EMPTY, &[0, 0, 0, 1, 16]),
    ];
    for (kind, flags, payload) in cases {
        let mut peer = RawPeer::server(Config::server());
        peer.send_raw(kind, flags, 0, payload);
        assert!(
            has_goaway(&peer.read_frames(), ErrorCode::PROTOCOL_ERROR),
            "{kind:?} on stream 0"
        );
        assert!(peer.conn.is_closed());
    }
}

#[test]
fn connection_frames_on_a_stream_are_protocol_errors() {
    let cases: [(FrameType, &[u8]); 3] = [
        (FrameType::SETTINGS, b""),
        (FrameType::PING, &[0; 8]),
        (FrameType::GOAWAY, &[0; 8]),
    ];
    for (kind, payload) in cases {
        let mut peer = RawPeer::server(Config::server());
        let headers = peer.headers(1, &request("/"), false);
        peer.send([headers]);
        peer.send_raw(kind, Flags::EMPTY, 1, payload);
        assert!(
            has_goaway(&peer.read_frames(), ErrorCode::PROTOCOL_ERROR),
            "{kind:?} on stream 1"
        );
    }
}

// ---- header lists and HPACK -----------------------------------------------------------

#[test]
fn header_list_larger_than_advertised_gets_431_and_hpack_stays_in_sync() {
    let mut config = Config::server();
    config.max_header_list_size = 1_024;
    let mut peer = RawPeer::server(config);
    // Both values get indexed by the peer's encoder; the list as a whole is too large.
    let a = incompressible(600);
    let b = incompressible(700);
    let mut fields = request_with("/big", "x-a", a.clone());
    fields.push(HeaderField::new("x-b", b));
    let too_large = peer.headers(1, &fields, true);
    peer.send([too_large]);
    assert!(
        headers_events(&peer.events).is_empty(),
        "the app never sees it"
    );
    let frames = peer.read_frames();
    assert!(resets(&frames).is_empty());
    let answers = peer.decode_headers(&frames);
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].0, 1);
    assert_eq!(field(&answers[0].1, ":status"), Some(&b"431"[..]));
    assert!(answers[0].2, "the response ends the stream");

    // The next request refers to the dynamic table entries the large block created.
    let next = peer.headers(3, &request_with("/next", "x-a", a.clone()), true);
    let Frame::Headers(h) = &next else {
        unreachable!()
    };
    assert!(h.fragment().len() < 100, "x-a is sent as an index");
    peer.send([next]);
    let fields = peer.events.iter().find_map(|e| match e {
        Event::Headers { stream, fields, .. } if *stream == id(3) => Some(fields.clone()),
        _ => None,
    });
    assert_eq!(field(&fields.unwrap(), "x-a"), Some(&a[..]));
    assert!(!peer.conn.is_closed());
}

#[test]
fn response_header_list_larger_than_advertised_resets_only_that_stream() {
    let mut config = Config::client();
    config.max_header_list_size = 1_024;
    let mut peer = RawPeer::client(config);
    peer.conn.open_stream(request("/"), true).unwrap();
    peer.conn.open_stream(request("/"), true).unwrap();
    peer.read_frames();
    let mut big = response("200");
    big.push(HeaderField::new("x-big", incompressible(2_000)));
    let too_large = peer.headers(1, &big, true);
    peer.send([too_large]);
    let frames = peer.read_frames();
    assert_eq!(resets(&frames).len(), 1);
    assert_eq!(resets(&frames)[0].0, 1);
    assert!(goaways(&frames).is_empty());
    let fine = peer.headers(3, &response("200"), true);
    peer.send([fine]);
    assert_eq!(headers_events(&peer.events), vec![3]);
}

#[test]
fn malformed_hpack_is_a_compression_error() {
    let blocks: [&[u8]; 3] = [
        &[0x80],             // index 0 (RFC 7541 §6.1)
        &[0xff, 0xff, 0xff], // truncated integer
        &[0x40, 0x05, b'a'], // literal name longer than the block
    ];
    for block in blocks {
        let mut peer = RawPeer::server(Config::server());
        let headers = frame::Headers::new(id(1), Bytes::copy_from_slice(block))
            .unwrap()
            .with_end_stream(true);
        peer.send([headers.into()]);
        assert!(
            has_goaway(&peer.read_frames(), ErrorCode::COMPRESSION_ERROR),
            "{block:?}"
        );
        assert!(peer.conn.is_closed());
    }
}

// ---- nothing the peer sends makes us panic -------------------------------------------

/// xorshift64*: deterministic pseudo-random numbers without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Frames with valid headers but arbitrary types, flags, streams and payloads, plus a
/// few well-formed frames so deeper states are reached.
fn random_traffic(rng: &mut Rng, peer: &mut RawPeer) -> BytesMut {
    let mut wire = BytesMut::new();
    for _ in 0..rng.below(40) + 1 {
        let stream = match rng.below(4) {
            0 => 0,
            1 => 1,
            _ => rng.below(12) as u32,
        };
        match rng.below(6) {
            0 => peer
                .headers(stream.max(1), &request("/"), rng.below(2) == 0)
                .encode(&mut wire),
            1 => RawPeer::data(stream.max(1), b"some data", rng.below(2) == 0).encode(&mut wire),
            _ => {
                let kind = FrameType(rng.below(12) as u8);
                let flags = Flags(rng.below(256) as u8);
                let len = rng.below(24) as usize;
                let payload: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
                wire.extend_from_slice(&raw_frame(kind, flags, stream, &payload));
            }
        }
    }
    wire
}

#[test]
fn random_and_hostile_input_never_panics() {
    let known = [
        ErrorCode::NO_ERROR,
        ErrorCode::PROTOCOL_ERROR,
        ErrorCode::FLOW_CONTROL_ERROR,
        ErrorCode::STREAM_CLOSED,
        ErrorCode::FRAME_SIZE_ERROR,
        ErrorCode::COMPRESSION_ERROR,
        ErrorCode::ENHANCE_YOUR_CALM,
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..400 {
        let mut peer = if round % 2 == 0 {
            RawPeer::server(Config::server())
        } else {
            let mut peer = RawPeer::client(Config::client());
            for _ in 0..3 {
                peer.conn.open_stream(request("/"), false).unwrap();
            }
            peer
        };
        for _ in 0..5 {
            let mut wire = random_traffic(&mut rng, &mut peer);
            // Deliver in random splits, as a socket would.
            while !wire.is_empty() {
                let cut = (rng.below(64) as usize + 1).min(wire.len());
                let mut piece = wire.split_to(cut);
                peer.send_bytes(&mut piece);
            }
            let frames = peer.read_frames();
            for goaway in goaways(&frames) {
                assert!(known.contains(&goaway.error_code()), "{goaway:?}");
            }
            for (_, code) in resets(&frames) {
                assert!(
                    known.contains(&code) || code == ErrorCode::REFUSED_STREAM,
                    "{code:?}"
                );
            }
            peer.advance(Duration::from_secs(7));
        }
        peer.conn.recv_eof();
        peer.collect_events();
        assert!(peer.conn.is_closed());
        assert!(peer.closed().is_some(), "round {round}: Closed is reported");
    }
}

#[test]
fn a_connection_error_resets_every_open_stream_and_stops_reading() {
    let mut peer = RawPeer::server(Config::server());
    for stream in [1, 3, 5] {
        let headers = peer.headers(stream, &request("/"), false);
        peer.send([headers]);
    }
    let mut wire = raw_frame(FrameType::DATA, Flags::EMPTY, 0, b"x");
    wire.extend_from_slice(&raw_frame(FrameType::PING, Flags::EMPTY, 0, &[0; 8]));
    peer.send_bytes(&mut wire);
    assert!(wire.is_empty(), "the rest of the input is discarded");
    let frames = peer.read_frames();
    assert!(has_goaway(&frames, ErrorCode::PROTOCOL_ERROR));
    assert!(
        pings(&frames).is_empty(),
        "nothing after the error is processed"
    );
    let mut reset: Vec<u32> = support::stream_resets(&peer.events)
        .iter()
        .map(|&(s, _, _, _)| s)
        .collect();
    reset.sort_unstable();
    assert_eq!(reset, vec![1, 3, 5]);
    assert!(!peer.conn.wants_read());
}
