//! Stream life cycles (RFC 9113 §5.1), stream identifiers (§5.1.1), concurrency (§5.1.2),
//! header blocks and HTTP message rules (§6.10, §8.1–§8.3).

mod support;

use bytes::Bytes;
use grpc_transport::ErrorCode;
use grpc_transport::connection::{Config, Event, OpenError, StreamState};
use grpc_transport::frame::{self, Continuation, Flags, Frame, FrameType, Ping};
use grpc_transport::hpack::HeaderField;
use support::{
    Pair, RawPeer, closed, data_frames, field, has_goaway, headers_events, headers_streams, id,
    incompressible, request, request_with, resets, response, stream_resets,
};

fn trailers() -> Vec<HeaderField> {
    vec![HeaderField::new("grpc-status", "0")]
}

// ---- §5.1 states ----------------------------------------------------------------------

#[test]
fn response_ending_first_half_closes_remote_side_then_request_end_closes_both() {
    let mut pair = Pair::connected();
    let stream = pair.client.open_stream(request("/"), false).unwrap();
    pair.drive();
    pair.server
        .send_headers(stream, response("200"), true)
        .unwrap();
    pair.drive();
    assert_eq!(
        pair.client.stream_state(stream),
        Some(StreamState::HalfClosedRemote)
    );
    assert_eq!(
        pair.server.stream_state(stream),
        Some(StreamState::HalfClosedLocal)
    );
    assert!(!pair.client_events.contains(&Event::StreamClosed { stream }));

    pair.client
        .send_data(stream, Bytes::from_static(b"late body"), true)
        .unwrap();
    pair.drive();
    assert_eq!(pair.server_data(stream), b"late body");
    assert_eq!(
        pair.client.stream_state(stream),
        None,
        "closed and released"
    );
    assert_eq!(pair.server.stream_state(stream), None);
    assert!(pair.client_events.contains(&Event::StreamClosed { stream }));
    assert!(pair.server_events.contains(&Event::StreamClosed { stream }));
    assert_eq!(
        pair.client.send_data(stream, Bytes::new(), true),
        Err(grpc_transport::connection::StreamError::Unknown)
    );
}

#[test]
fn request_ending_first_half_closes_local_side_then_response_end_closes_both() {
    let mut pair = Pair::connected();
    let stream = pair.client.open_stream(request("/"), true).unwrap();
    assert_eq!(pair.client.stream_state(stream), Some(StreamState::Idle));
    pair.drive();
    assert_eq!(
        pair.client.stream_state(stream),
        Some(StreamState::HalfClosedLocal)
    );
    assert_eq!(
        pair.server.stream_state(stream),
        Some(StreamState::HalfClosedRemote)
    );
    pair.server
        .send_headers(stream, response("200"), false)
        .unwrap();
    pair.drive();
    assert_eq!(
        pair.client.stream_state(stream),
        Some(StreamState::HalfClosedLocal),
        "headers alone do not close it"
    );
    pair.server.send_trailers(stream, trailers()).unwrap();
    pair.drive();
    assert_eq!(pair.client.stream_state(stream), None);
    assert_eq!(pair.server.stream_state(stream), None);
    assert_eq!(pair.client.open_streams(), 0);
    assert_eq!(pair.server.open_streams(), 0);
}

#[test]
fn push_promise_is_a_connection_protocol_error_reserved_states_never_occur() {
    let mut peer = RawPeer::client(Config::client());
    peer.conn.open_stream(request("/"), true).unwrap();
    peer.read_frames();
    let mut block = bytes::BytesMut::new();
    peer.encoder.encode(&request("/pushed"), &mut block);
    let promise = frame::PushPromise::new(id(1), id(2), block.freeze()).unwrap();
    peer.send([promise.into()]);
    assert!(has_goaway(&peer.read_frames(), ErrorCode::PROTOCOL_ERROR));
    assert_eq!(peer.conn.stream_state(id(2)), None);
    assert!(peer.conn.is_closed());
}

// ---- §5.1.1 stream identifiers ----------------------------------------------------------

#[test]
fn server_rejects_a_client_stream_with_an_even_id() {
    let mut peer = RawPeer::server(Config::server());
    let headers = peer.headers(2, &request("/"), true);
    peer.send([headers]);
    assert!(has_goaway(&peer.read_frames(), ErrorCode::PROTOCOL_ERROR));
    assert!(headers_events(&peer.events).is_empty());
}

#[test]
fn new_stream_with_an_id_lower_than_an_opened_one_is_a_protocol_error() {
    let mut peer = RawPeer::server(Config::server());
    let five = peer.headers(5, &request("/5"), false);
    let three = peer.headers(3, &request("/3"), false);
    peer.send([five, three]);
    let frames = peer.read_frames();
    let goaway = RawPeer::goaway(&frames).expect("GOAWAY");
    assert_eq!(goaway.error_code(), ErrorCode::PROTOCOL_ERROR, "§5.1.1");
    assert_eq!(goaway.last_stream_id(), id(5));
    assert_eq!(headers_events(&peer.events), vec![5]);
}

#[test]
fn headers_on_a_stream_the_client_opened_and_closed_is_a_connection_error() {
    let mut peer = RawPeer::client(Config::client());
    let stream = peer.conn.open_stream(request("/"), true).unwrap();
    peer.read_frames();
    let done = peer.headers(1, &response("200"), true);
    peer.send([done]);
    assert_eq!(peer.conn.stream_state(stream), None, "closed");
    let again = peer.headers(1, &response("204"), true);
    peer.send([again]);
    assert!(
        has_goaway(&peer.read_frames(), ErrorCode::STREAM_CLOSED),
        "§5.1 closed"
    );
}

#[test]
fn data_on_an_idle_stream_is_a_protocol_error() {
    let mut peer = RawPeer::server(Config::server());
    peer.send([RawPeer::data(1, b"x", false)]);
    assert!(has_goaway(&peer.read_frames(), ErrorCode::PROTOCOL_ERROR));
}

#[test]
fn rst_stream_on_an_idle_stream_is_a_protocol_error() {
    let mut peer = RawPeer::server(Config::server());
    peer.send([RawPeer::reset(1, ErrorCode::CANCEL)]);
    assert!(has_goaway(&peer.read_frames(), ErrorCode::PROTOCOL_ERROR));
}

#[test]
fn window_update_on_an_idle_stream_is_a_protocol_error() {
    let mut peer = RawPeer::server(Config::server());
    peer.send([RawPeer::window_update(1, 10)]);
    assert!(has_goaway(&peer.read_frames(), ErrorCode::PROTOCOL_ERROR));

    // A client's own stream still waiting for a concurrency slot is idle on the wire too.
    let mut peer = RawPeer::client(Config::client());
    peer.send([frame::Settings::new().with_max_concurrent_streams(0).into()]);
    peer.conn.open_stream(request("/"), true).unwrap();
    assert!(headers_streams(&peer.read_frames()).is_empty());
    peer.send([RawPeer::window_update(1, 10)]);
    assert!(has_goaway(&peer.read_frames(), ErrorCode::PROTOCOL_ERROR));
}

#[test]
fn data_after_end_stream_gets_rst_stream_closed() {
    let mut peer = RawPeer::server(Config::server());
    let headers = peer.headers(1, &request("/"), true);
    peer.send([headers]);
    assert_eq!(
        peer.conn.stream_state(id(1)),
        Some(StreamState::HalfClosedRemote)
    );
    // Half-closed (remote): a stream error STREAM_CLOSED (§5.1).
    peer.send([RawPeer::data(1, b"x", false)]);
    assert_eq!(
        resets(&peer.read_frames()),
        vec![(1, ErrorCode::STREAM_CLOSED)]
    );
    assert!(!peer.conn.is_closed());

    // Closed after a complete exchange: still only the stream is refused.
    let headers = peer.headers(3, &request("/"), true);
    peer.send([headers]);
    peer.conn
        .send_headers(id(3), response("200"), true)
        .unwrap();
    peer.read_frames();
    assert_eq!(peer.conn.stream_state(id(3)), None);
    peer.send([RawPeer::data(3, b"x", true)]);
    assert_eq!(
        resets(&peer.read_frames()),
        vec![(3, ErrorCode::STREAM_CLOSED)]
    );
    assert!(!peer.conn.is_closed());
}

#[test]
fn frames_arriving_after_our_reset_are_ignored() {
    let mut pair = Pair::connected();
    let stream = pair.client.open_stream(request("/"), false).unwrap();
    pair.drive();
    pair.server
        .send_headers(stream, response("200"), false)
        .unwrap();
    pair.server
        .send_data(stream, Bytes::from_static(b"in flight"), false)
        .unwrap();
    pair.server.send_trailers(stream, trailers()).unwrap();
    // The client resets before the server's frames arrive.
    pair.client.reset_stream(stream, ErrorCode::CANCEL).unwrap();
    pair.server_to_client();
    pair.drive();
    assert_eq!(resets(&pair.to_server), vec![(1, ErrorCode::CANCEL)]);
    assert!(pair.client_data(stream).is_empty());
    assert!(headers_events(&pair.client_events).is_empty());
    assert!(!pair.client.is_closed());
    assert_eq!(pair.client.open_streams(), 0);
}

// ---- §5.1.2 concurrency ---------------------------------------------------------------

#[test]
fn server_refuses_streams_beyond_its_limit_and_the_app_never_sees_them() {
    let mut config = Config::server();
    config.max_concurrent_streams = Some(1);
    let mut peer = RawPeer::server(config);
    let one = peer.headers(1, &request("/1"), false);
    let three = peer.headers(3, &request("/3"), false);
    peer.send([one, three]);
    assert_eq!(
        resets(&peer.read_frames()),
        vec![(3, ErrorCode::REFUSED_STREAM)]
    );
    assert_eq!(headers_events(&peer.events), vec![1]);

    // Once stream 1 ends, a new stream fits again.
    peer.send([RawPeer::data(1, b"", true)]);
    peer.conn
        .send_headers(id(1), response("200"), true)
        .unwrap();
    peer.read_frames();
    let five = peer.headers(5, &request("/5"), false);
    peer.send([five]);
    assert!(resets(&peer.read_frames()).is_empty());
    assert_eq!(headers_events(&peer.events), vec![1, 5]);
}

#[test]
fn client_queues_streams_beyond_the_peer_limit_and_sends_them_in_id_order() {
    let mut server = Config::server();
    server.max_concurrent_streams = Some(2);
    let mut pair = Pair::connected_with(Config::client(), server);
    let streams: Vec<_> = (0..5)
        .map(|i| {
            pair.client
                .open_stream(request_with("/", "x-i", i.to_string()), true)
                .unwrap()
        })
        .collect();
    assert_eq!(pair.client.pending_open_streams(), 5);
    pair.drive();
    assert_eq!(headers_streams(&pair.to_server), vec![1, 3]);
    assert_eq!(pair.client.pending_open_streams(), 3);
    assert!(!pair.client.can_open_stream());
    assert!(resets(&pair.to_client).is_empty());

    pair.server
        .send_headers(streams[1], response("200"), true)
        .unwrap();
    pair.drive();
    assert_eq!(headers_streams(&pair.to_server), vec![1, 3, 5]);
    for &s in &[streams[0], streams[2]] {
        pair.server.send_headers(s, response("200"), true).unwrap();
    }
    pair.drive();
    assert_eq!(headers_streams(&pair.to_server), vec![1, 3, 5, 7, 9]);
    assert_eq!(pair.client.pending_open_streams(), 0);
    assert!(resets(&pair.to_client).is_empty(), "nothing was refused");
}

#[test]
fn client_assumes_100_streams_until_settings_then_the_peer_limit() {
    let mut pair = Pair::new(Config::client(), Config::server());
    for _ in 0..101 {
        pair.client.open_stream(request("/"), true).unwrap();
    }
    pair.client_to_server();
    assert_eq!(headers_streams(&pair.to_server).len(), 100);
    assert_eq!(pair.client.pending_open_streams(), 1);

    // The server's SETTINGS carry no MAX_CONCURRENT_STREAMS: no limit (§6.5.2 "initially,
    // there is no limit").
    pair.drive();
    assert_eq!(pair.client.pending_open_streams(), 0);
    assert_eq!(headers_streams(&pair.to_server).len(), 101);
    assert_eq!(pair.server_streams().len(), 101);
}

#[test]
fn client_applies_a_lower_limit_from_the_first_settings() {
    let mut server = Config::server();
    server.max_concurrent_streams = Some(3);
    let mut pair = Pair::connected_with(Config::client(), server);
    for _ in 0..5 {
        pair.client.open_stream(request("/"), true).unwrap();
    }
    pair.drive();
    assert_eq!(headers_streams(&pair.to_server), vec![1, 3, 5]);
    assert_eq!(pair.client.pending_open_streams(), 2);
}

// ---- header blocks --------------------------------------------------------------------

#[test]
fn large_header_block_is_split_over_continuation_frames_and_reassembled() {
    let mut pair = Pair::connected();
    let big = incompressible(40_000);
    let stream = pair
        .client
        .open_stream(request_with("/", "x-big", big.clone()), true)
        .unwrap();
    pair.drive();
    let kinds: Vec<FrameType> = pair.to_server.iter().map(Frame::kind).collect();
    assert_eq!(
        kinds,
        vec![
            FrameType::HEADERS,
            FrameType::CONTINUATION,
            FrameType::CONTINUATION
        ]
    );
    let fields = pair.server_events.iter().find_map(|e| match e {
        Event::Headers {
            stream: s, fields, ..
        } if *s == stream => Some(fields.clone()),
        _ => None,
    });
    assert_eq!(field(&fields.unwrap(), "x-big"), Some(&big[..]));
}

#[test]
fn another_frame_inside_a_header_block_is_a_protocol_error() {
    let mut peer = RawPeer::server(Config::server());
    let Frame::Headers(headers) = peer.headers(1, &request("/"), true) else {
        unreachable!()
    };
    let open = headers.with_end_headers(false);
    peer.send([open.into(), Ping::new([1; 8]).into()]);
    assert!(has_goaway(&peer.read_frames(), ErrorCode::PROTOCOL_ERROR));
    assert!(headers_events(&peer.events).is_empty());
}

#[test]
fn continuation_on_another_stream_or_without_headers_is_a_protocol_error() {
    let mut peer = RawPeer::server(Config::server());
    let Frame::Headers(headers) = peer.headers(1, &request("/"), true) else {
        unreachable!()
    };
    let other = Continuation::new(id(3), Bytes::new())
        .unwrap()
        .with_end_headers(true);
    peer.send([headers.with_end_headers(false).into(), other.into()]);
    assert!(has_goaway(&peer.read_frames(), ErrorCode::PROTOCOL_ERROR));

    let mut peer = RawPeer::server(Config::server());
    let stray = Continuation::new(id(1), Bytes::new())
        .unwrap()
        .with_end_headers(true);
    peer.send([stray.into()]);
    assert!(has_goaway(&peer.read_frames(), ErrorCode::PROTOCOL_ERROR));
}

#[test]
fn raw_header_block_split_by_hand_is_reassembled() {
    let mut peer = RawPeer::server(Config::server());
    let mut block = bytes::BytesMut::new();
    peer.encoder.encode(&request("/split"), &mut block);
    let block = block.freeze();
    let (a, rest) = block.split_at(3);
    let (b, c) = rest.split_at(4);
    let first = frame::Headers::new(id(1), Bytes::copy_from_slice(a))
        .unwrap()
        .with_end_stream(true)
        .with_end_headers(false);
    let second = Continuation::new(id(1), Bytes::copy_from_slice(b))
        .unwrap()
        .with_end_headers(false);
    let third = Continuation::new(id(1), Bytes::copy_from_slice(c))
        .unwrap()
        .with_end_headers(true);
    peer.send([first.into(), second.into(), third.into()]);
    let fields = peer.events.iter().find_map(|e| match e {
        Event::Headers {
            fields, end_stream, ..
        } => Some((fields.clone(), *end_stream)),
        _ => None,
    });
    assert_eq!(fields, Some((request("/split"), true)));
}

// ---- trailers and HTTP message rules --------------------------------------------------

#[test]
fn server_receives_request_trailers() {
    let mut pair = Pair::connected();
    let stream = pair.client.open_stream(request("/"), false).unwrap();
    pair.client
        .send_data(stream, Bytes::from_static(b"body"), false)
        .unwrap();
    pair.client
        .send_trailers(stream, vec![HeaderField::new("x-checksum", "abc")])
        .unwrap();
    pair.drive();
    assert_eq!(pair.server_data(stream), b"body");
    assert!(pair.server_events.contains(&Event::Trailers {
        stream,
        fields: vec![HeaderField::new("x-checksum", "abc")],
    }));
    assert_eq!(
        pair.server.stream_state(stream),
        Some(StreamState::HalfClosedRemote)
    );
}

#[test]
fn client_receives_response_trailers() {
    let mut pair = Pair::connected();
    let stream = pair.client.open_stream(request("/"), true).unwrap();
    pair.drive();
    pair.server
        .send_headers(stream, response("200"), false)
        .unwrap();
    pair.server.send_trailers(stream, trailers()).unwrap();
    pair.drive();
    assert!(pair.client_events.contains(&Event::Trailers {
        stream,
        fields: trailers(),
    }));
    assert!(pair.client_events.contains(&Event::StreamClosed { stream }));
}

#[test]
fn trailers_without_end_stream_are_a_stream_protocol_error() {
    let mut peer = RawPeer::server(Config::server());
    let request = peer.headers(1, &request("/"), false);
    let not_last = peer.headers(1, &trailers(), false);
    peer.send([request, RawPeer::data(1, b"x", false), not_last]);
    assert_eq!(
        resets(&peer.read_frames()),
        vec![(1, ErrorCode::PROTOCOL_ERROR)]
    );
    assert!(!peer.conn.is_closed());
    assert!(
        !peer
            .events
            .iter()
            .any(|e| matches!(e, Event::Trailers { .. }))
    );
}

#[test]
fn malformed_requests_are_reset_and_other_streams_keep_working() {
    let mut peer = RawPeer::server(Config::server());
    let good = peer.headers(1, &request("/good"), false);
    let upper = peer.headers(3, &request_with("/", "X-Upper", "v"), true);
    let no_path = peer.headers(
        5,
        &[
            HeaderField::new(":method", "POST"),
            HeaderField::new(":scheme", "http"),
            HeaderField::new(":authority", "localhost"),
        ],
        true,
    );
    let connection = peer.headers(7, &request_with("/", "connection", "close"), true);
    let te = peer.headers(9, &request_with("/", "te", "gzip"), true);
    let length = peer.headers(11, &request_with("/", "content-length", "10"), false);
    peer.send([
        good,
        upper,
        no_path,
        connection,
        te,
        length,
        RawPeer::data(11, b"short", true),
    ]);
    let frames = peer.read_frames();
    let mut codes = resets(&frames);
    codes.sort_unstable();
    assert_eq!(
        codes,
        [3, 5, 7, 9, 11].map(|s| (s, ErrorCode::PROTOCOL_ERROR))
    );
    assert!(!peer.conn.is_closed());
    // Stream 11's headers were valid and reached the app; the others never did.
    assert_eq!(headers_events(&peer.events), vec![1, 11]);
    assert!(stream_resets(&peer.events).contains(&(11, ErrorCode::PROTOCOL_ERROR, false, false)));

    peer.send([RawPeer::data(1, b"hi", true)]);
    assert_eq!(support::data_of(&peer.events, id(1)), b"hi");
    peer.conn
        .send_headers(id(1), response("200"), true)
        .unwrap();
    let frames = peer.read_frames();
    assert_eq!(headers_streams(&frames), vec![1]);
    assert_eq!(peer.decode_headers(&frames)[0].1, response("200"));
}

#[test]
fn informational_responses_come_before_the_final_response() {
    let mut peer = RawPeer::client(Config::client());
    let stream = peer.conn.open_stream(request("/"), true).unwrap();
    peer.read_frames();
    let continue_ = peer.headers(1, &response("100"), false);
    let early_hints = peer.headers(1, &response("103"), false);
    let final_ = peer.headers(1, &response("200"), false);
    let trailers_ = peer.headers(1, &trailers(), true);
    peer.send([
        continue_,
        early_hints,
        final_,
        RawPeer::data(1, b"ok", false),
        trailers_,
    ]);
    let statuses: Vec<Vec<u8>> = peer
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Headers { fields, .. } => field(fields, ":status").map(<[u8]>::to_vec),
            _ => None,
        })
        .collect();
    assert_eq!(
        statuses,
        vec![b"100".to_vec(), b"103".to_vec(), b"200".to_vec()]
    );
    assert_eq!(support::data_of(&peer.events, stream), b"ok");
    assert!(peer.events.contains(&Event::Trailers {
        stream,
        fields: trailers()
    }));
    assert!(peer.events.contains(&Event::StreamClosed { stream }));
    assert!(resets(&peer.read_frames()).is_empty());
}

#[test]
fn data_before_the_final_response_or_an_informational_end_stream_is_malformed() {
    let mut peer = RawPeer::client(Config::client());
    peer.conn.open_stream(request("/"), true).unwrap();
    peer.conn.open_stream(request("/"), true).unwrap();
    peer.read_frames();
    let informational = peer.headers(1, &response("100"), false);
    let ending_1xx = peer.headers(3, &response("100"), true);
    peer.send([informational, RawPeer::data(1, b"x", false), ending_1xx]);
    assert_eq!(
        resets(&peer.read_frames()),
        vec![
            (1, ErrorCode::PROTOCOL_ERROR),
            (3, ErrorCode::PROTOCOL_ERROR)
        ]
    );
}

#[test]
fn reset_stream_sends_rst_stream_with_the_code() {
    let mut pair = Pair::connected();
    let stream = pair.client.open_stream(request("/"), false).unwrap();
    pair.drive();
    pair.server
        .reset_stream(stream, ErrorCode::INTERNAL_ERROR)
        .unwrap();
    pair.drive();
    assert_eq!(
        resets(&pair.to_client),
        vec![(1, ErrorCode::INTERNAL_ERROR)]
    );
    assert_eq!(
        stream_resets(&pair.client_events),
        vec![(1, ErrorCode::INTERNAL_ERROR, true, false)]
    );
    assert!(pair.client_events.contains(&Event::StreamClosed { stream }));
    assert!(pair.server_events.contains(&Event::StreamClosed { stream }));
    assert_eq!(pair.client.open_streams(), 0);
    assert_eq!(pair.server.open_streams(), 0);
}

#[test]
fn a_server_that_stops_receiving_resets_with_no_error_right_behind_its_response() {
    let mut pair = Pair::connected();
    let stream = pair.client.open_stream(request("/"), false).unwrap();
    pair.client
        .send_data(stream, Bytes::from_static(b"first part"), false)
        .unwrap();
    pair.drive();
    // The whole response is queued, then the server stops reading the request: the reset
    // must not overtake (or drop) the queued response (RFC 9113 §8.1).
    pair.server
        .send_headers(stream, response("200"), false)
        .unwrap();
    pair.server
        .send_data(stream, Bytes::from_static(b"answer"), false)
        .unwrap();
    pair.server.send_trailers(stream, trailers()).unwrap();
    pair.server.stop_receiving(stream).unwrap();
    pair.to_client.clear();
    pair.drive();
    let kinds: Vec<&str> = pair
        .to_client
        .iter()
        .filter(|f| f.stream_id() == stream)
        .map(|f| match f {
            Frame::Headers(h) if h.is_end_stream() => "trailers",
            Frame::Headers(_) => "headers",
            Frame::Data(_) => "data",
            Frame::Reset(_) => "reset",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["headers", "data", "trailers", "reset"]);
    assert_eq!(resets(&pair.to_client), vec![(1, ErrorCode::NO_ERROR)]);
    assert_eq!(pair.client_data(stream), b"answer");
    assert_eq!(pair.server.open_streams(), 0);
}

#[test]
fn a_server_that_stops_receiving_before_answering_cancels() {
    let mut pair = Pair::connected();
    let stream = pair.client.open_stream(request("/"), false).unwrap();
    pair.drive();
    pair.server.stop_receiving(stream).unwrap();
    pair.drive();
    assert_eq!(resets(&pair.to_client), vec![(1, ErrorCode::CANCEL)]);
}

#[test]
fn a_client_that_stops_receiving_cancels_even_after_its_request_ended() {
    let mut pair = Pair::connected();
    let stream = pair.client.open_stream(request("/"), true).unwrap();
    pair.drive();
    pair.client.stop_receiving(stream).unwrap();
    pair.drive();
    assert_eq!(resets(&pair.to_server), vec![(1, ErrorCode::CANCEL)]);
    assert_eq!(pair.client.open_streams(), 0);
}

#[test]
fn resetting_a_stream_that_never_left_sends_nothing() {
    let mut server = Config::server();
    server.max_concurrent_streams = Some(1);
    let mut pair = Pair::connected_with(Config::client(), server);
    pair.client.open_stream(request("/"), false).unwrap();
    let waiting = pair.client.open_stream(request("/"), false).unwrap();
    pair.drive();
    pair.client
        .reset_stream(waiting, ErrorCode::CANCEL)
        .unwrap();
    pair.drive();
    assert!(resets(&pair.to_server).is_empty());
    assert_eq!(pair.client.pending_open_streams(), 0);
}

#[test]
fn client_out_of_stream_ids_refuses_new_streams_and_closes_after_the_last_one() {
    let mut client = Config::client();
    client.max_stream_id = 5;
    let mut pair = Pair::connected_with(client, Config::server());
    let streams: Vec<_> = (0..3)
        .map(|_| pair.client.open_stream(request("/"), true).unwrap())
        .collect();
    assert_eq!(streams, vec![id(1), id(3), id(5)]);
    assert_eq!(
        pair.client.open_stream(request("/"), true),
        Err(OpenError::StreamIdsExhausted)
    );
    assert!(!pair.client.can_open_stream());
    pair.drive();
    for &s in &streams[..2] {
        pair.server.send_headers(s, response("200"), true).unwrap();
    }
    pair.drive();
    assert!(!pair.client.is_closed(), "stream 5 still open");
    assert_eq!(closed(&pair.client_events), None);

    pair.server
        .send_headers(streams[2], response("200"), true)
        .unwrap();
    pair.drive();
    assert_eq!(closed(&pair.client_events), Some(&None));
    let goaway = RawPeer::goaway(&pair.to_server).expect("client says goodbye");
    assert_eq!(goaway.error_code(), ErrorCode::NO_ERROR);
    assert_eq!(closed(&pair.server_events), Some(&None));
    assert_eq!(data_frames(&pair.to_server), vec![]);
}

#[test]
fn response_headers_on_a_stream_never_opened_is_a_protocol_error() {
    let mut peer = RawPeer::client(Config::client());
    let headers = peer.headers(1, &response("200"), true);
    peer.send([headers]);
    assert!(has_goaway(&peer.read_frames(), ErrorCode::PROTOCOL_ERROR));

    // A server cannot open streams either (no push).
    let mut peer = RawPeer::client(Config::client());
    let headers = peer.headers(2, &request("/"), true);
    peer.send([headers]);
    assert!(has_goaway(&peer.read_frames(), ErrorCode::PROTOCOL_ERROR));
}

#[test]
fn stream_ids_are_odd_and_increase_for_the_client() {
    let mut pair = Pair::connected();
    let ids: Vec<u32> = (0..4)
        .map(|_| pair.client.open_stream(request("/"), true).unwrap().get())
        .collect();
    assert_eq!(ids, vec![1, 3, 5, 7]);
    pair.drive();
    assert_eq!(pair.server_streams(), [1, 3, 5, 7].map(id).to_vec());
}

#[test]
fn headers_depending_on_their_own_stream_reset_it_and_keep_hpack_in_sync() {
    let mut peer = RawPeer::server(Config::server());
    let fields = request_with("/", "x-indexed", "remember-me");
    let mut block = bytes::BytesMut::new();
    peer.encoder.encode(&fields, &mut block);
    let mut payload = vec![0, 0, 0, 1, 16]; // priority: depends on stream 1 itself
    payload.extend_from_slice(&block);
    peer.send_raw(
        FrameType::HEADERS,
        Flags::END_HEADERS | Flags::END_STREAM | Flags::PRIORITY,
        1,
        &payload,
    );
    assert_eq!(
        resets(&peer.read_frames()),
        vec![(1, ErrorCode::PROTOCOL_ERROR)],
        "§5.3.1: a stream error"
    );
    assert!(headers_events(&peer.events).is_empty());
    // The block was decoded anyway: the next one refers to its table entries.
    let next = peer.headers(3, &fields, true);
    peer.send([next]);
    assert_eq!(headers_events(&peer.events), vec![3]);
    assert!(!peer.conn.is_closed());
}

// ---- two compliant peers never break a rule ------------------------------------------

/// xorshift64*: deterministic pseudo-random numbers without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        (!items.is_empty()).then(|| items[self.below(items.len() as u64) as usize])
    }
}

/// Every RST_STREAM and GOAWAY between two of our connections driven through the public
/// API: only the codes the applications chose (CANCEL) or graceful ones may appear.
fn rule_breaks(frames: &[Frame]) -> Vec<String> {
    let mut found = Vec::new();
    for (stream, code) in resets(frames) {
        if code != ErrorCode::CANCEL {
            found.push(format!("RST_STREAM {stream} {code:?}"));
        }
    }
    for goaway in support::goaways(frames) {
        if goaway.error_code() != ErrorCode::NO_ERROR {
            found.push(format!("{goaway:?}"));
        }
    }
    found
}

#[test]
fn random_application_traffic_between_two_connections_never_breaks_a_rule() {
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    for round in 0..60 {
        let mut server = Config::server();
        if round % 3 == 0 {
            server.max_concurrent_streams = Some(3);
        }
        if round % 4 == 1 {
            server.initial_stream_window = Some(20_000);
        }
        let mut pair = Pair::connected_with(Config::client(), server);
        let mut client_streams = Vec::new();
        for _ in 0..300 {
            let server_streams: Vec<_> = pair.server_streams();
            match rng.below(12) {
                0 => {
                    if let Ok(s) = pair.client.open_stream(request("/"), rng.below(4) == 0) {
                        client_streams.push(s);
                    }
                }
                1 => {
                    if let Some(s) = rng.pick(&server_streams) {
                        let _ = pair
                            .server
                            .send_headers(s, response("200"), rng.below(5) == 0);
                    }
                }
                2 | 3 => {
                    let len = rng.below(40_000) as usize;
                    let end = rng.below(4) == 0;
                    let data = Bytes::from(vec![1u8; len]);
                    if rng.below(2) == 0 {
                        if let Some(s) = rng.pick(&client_streams) {
                            let _ = pair.client.send_data(s, data, end);
                        }
                    } else if let Some(s) = rng.pick(&server_streams) {
                        let _ = pair.server.send_data(s, data, end);
                    }
                }
                4 => {
                    if let Some(s) = rng.pick(&server_streams) {
                        let _ = pair.server.send_trailers(s, trailers());
                    } else if let Some(s) = rng.pick(&client_streams) {
                        let _ = pair.client.send_trailers(s, trailers());
                    }
                }
                5 => {
                    if rng.below(3) == 0 {
                        if let Some(s) = rng.pick(&client_streams) {
                            let _ = pair.client.reset_stream(s, ErrorCode::CANCEL);
                        }
                    } else if rng.below(6) == 0 {
                        if let Some(s) = rng.pick(&server_streams) {
                            let _ = pair.server.reset_stream(s, ErrorCode::CANCEL);
                        }
                    }
                }
                6 | 7 => {
                    pair.release_client_data();
                    pair.release_server_data();
                }
                8 => {
                    pair.client_to_server();
                }
                9 => {
                    pair.server_to_client();
                }
                10 => pair.now += std::time::Duration::from_millis(rng.below(50)),
                _ => {
                    pair.drive();
                }
            }
            let broken = rule_breaks(&pair.to_server)
                .into_iter()
                .chain(rule_breaks(&pair.to_client))
                .collect::<Vec<_>>();
            assert!(broken.is_empty(), "round {round}: {broken:?}");
            assert!(!pair.client.is_closed() && !pair.server.is_closed());
        }
        // Both applications finish every stream: everything must drain (no flow-control
        // deadlock, no stream left behind).
        for &s in &client_streams {
            let _ = pair.client.send_data(s, Bytes::new(), true);
        }
        for _ in 0..100 {
            pair.drive();
            for s in pair.server_streams() {
                let _ = pair.server.send_headers(s, response("200"), false);
                let _ = pair.server.send_trailers(s, trailers());
            }
            pair.release_client_data();
            pair.release_server_data();
        }
        assert_eq!(pair.client.pending_open_streams(), 0, "round {round}");
        assert_eq!(pair.client.open_streams(), 0, "round {round}");
        assert_eq!(pair.server.open_streams(), 0, "round {round}");
        let broken = rule_breaks(&pair.to_server)
            .into_iter()
            .chain(rule_breaks(&pair.to_client))
            .collect::<Vec<_>>();
        assert!(broken.is_empty(), "round {round}: {broken:?}");
    }
}
