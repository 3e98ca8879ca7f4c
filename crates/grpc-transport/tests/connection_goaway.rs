//! GOAWAY and graceful shutdown (RFC 9113 §6.8, gRPC-Go's two-phase drain), connection
//! idleness and age.

mod support;

use std::time::Duration;

use bytes::Bytes;
use grpc_transport::ErrorCode;
use grpc_transport::connection::{Config, ConnectionError, Event, OpenError};
use grpc_transport::frame::{Flags, FrameType, GoAway, StreamId};
use support::{
    Pair, RawPeer, closed, goaways, headers_events, id, pings, request, resets, response,
    stream_resets,
};

const SECOND: Duration = Duration::from_secs(1);

fn goaway_ids(frames: &[grpc_transport::frame::Frame]) -> Vec<(u32, ErrorCode)> {
    goaways(frames)
        .iter()
        .map(|g| (g.last_stream_id().get(), g.error_code()))
        .collect()
}

#[test]
fn graceful_server_shutdown_sends_goaway_max_and_ping_then_the_real_last_stream_id() {
    let mut pair = Pair::connected();
    let stream = pair.client.open_stream(request("/"), false).unwrap();
    pair.drive();
    pair.clear();

    pair.server.shutdown();
    pair.server_to_client();
    assert_eq!(
        goaway_ids(&pair.to_client),
        vec![(StreamId::MAX.get(), ErrorCode::NO_ERROR)],
        "phase one: every stream in flight may still arrive"
    );
    let ping = pings(&pair.to_client);
    assert_eq!(ping.len(), 1);
    assert!(!ping[0].is_ack());
    assert_eq!(
        pair.client.open_stream(request("/"), true),
        Err(OpenError::GoingAway)
    );

    pair.client_to_server(); // the PING ACK
    pair.server_to_client();
    assert_eq!(
        goaway_ids(&pair.to_client),
        vec![
            (StreamId::MAX.get(), ErrorCode::NO_ERROR),
            (1, ErrorCode::NO_ERROR)
        ],
        "phase two: the real last stream id"
    );
    assert_eq!(closed(&pair.server_events), None, "stream 1 still runs");

    // Stream 1 is at or below the last stream id: it completes.
    pair.client
        .send_data(stream, Bytes::from_static(b"request"), true)
        .unwrap();
    pair.drive();
    pair.server
        .send_headers(stream, response("200"), false)
        .unwrap();
    pair.server
        .send_data(stream, Bytes::from_static(b"response"), true)
        .unwrap();
    pair.drive();
    assert_eq!(pair.server_data(stream), b"request");
    assert_eq!(pair.client_data(stream), b"response");
    assert!(stream_resets(&pair.client_events).is_empty());
    assert_eq!(closed(&pair.server_events), Some(&None));
    assert_eq!(closed(&pair.client_events), Some(&None));
    assert!(pair.client.is_closed() && pair.server.is_closed());
}

#[test]
fn streams_the_client_opened_above_the_final_last_stream_id_are_never_processed() {
    let mut pair = Pair::connected();
    let kept = pair.client.open_stream(request("/kept"), false).unwrap();
    pair.drive();

    pair.server.shutdown();
    // The client opens a stream before it sees the first GOAWAY; it goes out after the
    // client's PING ACK, so the server has already drawn the line at stream 1.
    let late = pair.client.open_stream(request("/late"), false).unwrap();
    pair.client
        .send_data(late, Bytes::from_static(b"body"), false)
        .unwrap();
    pair.server_to_client();
    pair.client_to_server();
    pair.drive();

    assert_eq!(
        headers_events(&pair.server_events),
        vec![1],
        "3 never reached the app"
    );
    assert!(
        stream_resets(&pair.client_events).contains(&(3, ErrorCode::REFUSED_STREAM, true, true)),
        "{:?}",
        pair.client_events
    );
    assert_eq!(
        resets(&pair.to_client),
        vec![(3, ErrorCode::REFUSED_STREAM)],
        "late DATA on the refused stream is ignored, not reset again (§6.8)"
    );
    assert!(pair.client.stream_state(kept).is_some());
    assert!(!pair.client.is_closed() && !pair.server.is_closed());
}

#[test]
fn goaway_last_stream_id_never_increases() {
    let mut peer = RawPeer::server(Config::server());
    let one = peer.headers(1, &request("/"), false);
    peer.send([one]);
    peer.conn.shutdown();
    let frames = peer.read_frames();
    let ping = pings(&frames)[0];
    peer.send([grpc_transport::frame::Ping::pong(ping.payload()).into()]);
    assert_eq!(
        goaway_ids(&peer.read_frames()),
        vec![(1, ErrorCode::NO_ERROR)]
    );
    // Stream 3 is refused (above the line), then the peer breaks a rule.
    let three = peer.headers(3, &request("/"), false);
    peer.send([three]);
    peer.send_raw(FrameType::DATA, Flags::EMPTY, 0, b"x");
    let frames = peer.read_frames();
    assert_eq!(resets(&frames), vec![(3, ErrorCode::REFUSED_STREAM)]);
    assert_eq!(
        goaway_ids(&frames),
        vec![(1, ErrorCode::PROTOCOL_ERROR)],
        "§6.8: MUST NOT increase the last stream id"
    );
}

#[test]
fn shutdown_goes_on_without_the_ping_ack_after_five_seconds() {
    let mut peer = RawPeer::server(Config::server());
    let one = peer.headers(1, &request("/"), true);
    peer.send([one]);
    peer.conn.shutdown();
    peer.read_frames();
    peer.advance(5 * SECOND - Duration::from_millis(1));
    assert_eq!(goaway_ids(&peer.read_frames()), vec![]);
    peer.advance(Duration::from_millis(1));
    assert_eq!(
        goaway_ids(&peer.read_frames()),
        vec![(1, ErrorCode::NO_ERROR)]
    );
    peer.conn
        .send_headers(id(1), response("200"), true)
        .unwrap();
    peer.read_frames();
    assert_eq!(peer.closed(), Some(&None));
}

#[test]
fn open_stream_after_a_goaway_is_refused_with_going_away() {
    let mut peer = RawPeer::client(Config::client());
    peer.conn.open_stream(request("/"), false).unwrap();
    peer.read_frames();
    peer.send([GoAway::new(id(1), ErrorCode::NO_ERROR).into()]);
    assert_eq!(
        peer.conn.open_stream(request("/"), true),
        Err(OpenError::GoingAway)
    );
    assert!(!peer.conn.can_open_stream());
    assert!(peer.events.contains(&Event::GoAway {
        last_stream_id: id(1),
        code: ErrorCode::NO_ERROR,
        debug_data: Bytes::new(),
    }));
}

#[test]
fn goaway_with_an_error_code_closes_with_a_remote_error_once_streams_end() {
    let mut peer = RawPeer::client(Config::client());
    let one = peer.conn.open_stream(request("/"), true).unwrap();
    let three = peer.conn.open_stream(request("/"), true).unwrap();
    peer.read_frames();
    peer.send([GoAway::new(id(1), ErrorCode::INTERNAL_ERROR)
        .with_debug_data(Bytes::from_static(b"boom"))
        .into()]);
    assert_eq!(
        stream_resets(&peer.events),
        vec![(3, ErrorCode::REFUSED_STREAM, true, true)]
    );
    assert!(peer.conn.stream_state(three).is_none());
    assert_eq!(peer.closed(), None, "stream 1 may still complete");

    let done = peer.headers(1, &response("200"), true);
    peer.send([done]);
    assert!(peer.events.contains(&Event::StreamClosed { stream: one }));
    assert_eq!(
        peer.closed(),
        Some(&Some(ConnectionError::Remote {
            code: ErrorCode::INTERNAL_ERROR,
            debug_data: Bytes::from_static(b"boom"),
        }))
    );
}

#[test]
fn client_graceful_shutdown_finishes_its_streams_then_both_sides_close() {
    let mut pair = Pair::connected();
    let stream = pair.client.open_stream(request("/"), true).unwrap();
    pair.drive();
    pair.client.shutdown();
    assert_eq!(
        pair.client.open_stream(request("/"), true),
        Err(OpenError::GoingAway)
    );
    pair.drive();
    assert_eq!(goaway_ids(&pair.to_server), vec![(0, ErrorCode::NO_ERROR)]);
    assert!(
        pair.server_events
            .iter()
            .any(|e| matches!(e, Event::GoAway { .. }))
    );
    assert!(!pair.client.is_closed() && !pair.server.is_closed());

    pair.server
        .send_headers(stream, response("200"), true)
        .unwrap();
    pair.drive();
    assert!(pair.client_events.contains(&Event::StreamClosed { stream }));
    assert_eq!(closed(&pair.client_events), Some(&None));
    assert_eq!(closed(&pair.server_events), Some(&None));
}

#[test]
fn max_connection_idle_shuts_down_a_server_connection_idle_that_long() {
    let mut server = Config::server();
    server.max_connection_idle = Some(60 * SECOND);
    let mut pair = Pair::connected_with(Config::client(), server);

    // A stream from 0 s to 30 s: idleness counts from its end.
    let stream = pair.client.open_stream(request("/"), true).unwrap();
    pair.drive();
    pair.advance(30 * SECOND);
    pair.server
        .send_headers(stream, response("200"), true)
        .unwrap();
    pair.drive();
    pair.advance(60 * SECOND - Duration::from_millis(1));
    assert!(goaways(&pair.to_client).is_empty(), "idle only 59.999 s");

    pair.advance(Duration::from_millis(1));
    assert_eq!(
        goaway_ids(&pair.to_client),
        vec![(StreamId::MAX.get(), ErrorCode::NO_ERROR)]
    );
    // The client had nothing open: it closes at once.
    assert_eq!(closed(&pair.client_events), Some(&None));
    pair.advance(5 * SECOND);
    assert_eq!(closed(&pair.server_events), Some(&None));
}

#[test]
fn max_connection_age_starts_a_graceful_shutdown_and_the_grace_period_ends_it() {
    let mut server = Config::server();
    server.max_connection_age = Some(60 * SECOND);
    server.max_connection_age_grace = Some(10 * SECOND);
    let mut pair = Pair::connected_with(Config::client(), server);
    let stream = pair.client.open_stream(request("/long"), false).unwrap();
    pair.drive();

    pair.advance(60 * SECOND);
    assert_eq!(
        goaway_ids(&pair.to_client),
        vec![
            (StreamId::MAX.get(), ErrorCode::NO_ERROR),
            (1, ErrorCode::NO_ERROR)
        ]
    );
    assert!(!pair.server.is_closed(), "the stream has its grace period");

    pair.advance(10 * SECOND);
    assert!(pair.server.is_closed());
    assert!(
        pair.server_events
            .iter()
            .any(|e| matches!(e, Event::StreamReset { stream: s, .. } if *s == stream)),
        "the remaining stream is cut off"
    );
    assert_eq!(closed(&pair.server_events), Some(&None));

    // The driver closes the socket; the client sees its stream fail.
    pair.client.recv_eof();
    pair.client_events
        .extend(std::iter::from_fn(|| pair.client.poll_event()));
    assert!(
        stream_resets(&pair.client_events)
            .iter()
            .any(|&(s, _, _, _)| s == stream.get())
    );
    assert_eq!(
        closed(&pair.client_events),
        Some(&Some(ConnectionError::TransportClosed))
    );
}

#[test]
fn max_connection_age_closes_at_once_when_nothing_is_open() {
    let mut server = Config::server();
    server.max_connection_age = Some(60 * SECOND);
    let mut pair = Pair::connected_with(Config::client(), server);
    pair.advance(60 * SECOND);
    assert_eq!(closed(&pair.client_events), Some(&None));
    pair.advance(5 * SECOND);
    assert_eq!(closed(&pair.server_events), Some(&None));
}

#[test]
fn close_sends_goaway_with_the_code_and_resets_every_stream() {
    let mut pair = Pair::connected();
    pair.client.open_stream(request("/"), false).unwrap();
    pair.drive();
    pair.server
        .close(ErrorCode::INTERNAL_ERROR, "shutting down hard");
    pair.drive();
    let goaway = RawPeer::goaway(&pair.to_client).expect("GOAWAY");
    assert_eq!(goaway.error_code(), ErrorCode::INTERNAL_ERROR);
    assert_eq!(goaway.last_stream_id(), id(1));
    assert_eq!(goaway.debug_data().as_ref(), b"shutting down hard");
    assert!(matches!(
        closed(&pair.server_events),
        Some(Some(ConnectionError::Local {
            code: ErrorCode::INTERNAL_ERROR,
            ..
        }))
    ));
    assert!(pair.client_events.iter().any(|e| matches!(
        e,
        Event::GoAway {
            code: ErrorCode::INTERNAL_ERROR,
            ..
        }
    )));
}

#[test]
fn peer_closing_after_an_error_goaway_is_reported_as_that_remote_error() {
    let mut peer = RawPeer::client(Config::client());
    peer.conn.open_stream(request("/"), false).unwrap();
    peer.read_frames();
    // §5.4.1: after a GOAWAY for an error, the peer closes the connection.
    peer.send([GoAway::new(id(1), ErrorCode::PROTOCOL_ERROR)
        .with_debug_data(Bytes::from_static(b"bad frame"))
        .into()]);
    assert_eq!(peer.closed(), None);
    peer.conn.recv_eof();
    peer.collect_events();
    assert_eq!(
        peer.closed(),
        Some(&Some(ConnectionError::Remote {
            code: ErrorCode::PROTOCOL_ERROR,
            debug_data: Bytes::from_static(b"bad frame"),
        }))
    );
    assert_eq!(stream_resets(&peer.events).len(), 1, "stream 1 fails");
}

#[test]
fn transport_ending_without_goaway_while_streams_are_open_is_transport_closed() {
    let mut peer = RawPeer::client(Config::client());
    peer.conn.open_stream(request("/"), false).unwrap();
    peer.read_frames();
    peer.conn.recv_eof();
    peer.collect_events();
    assert_eq!(peer.closed(), Some(&Some(ConnectionError::TransportClosed)));

    // A client hanging up between calls is a clean close for the server.
    let mut peer = RawPeer::server(Config::server());
    peer.conn.recv_eof();
    peer.collect_events();
    assert_eq!(peer.closed(), Some(&None));
}
