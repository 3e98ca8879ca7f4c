//! PING (RFC 9113 §6.7), keepalive and ping enforcement (gRPC-Go's keepalive, gRFC A8).

mod support;

use std::time::Duration;

use bytes::Bytes;
use grpc_transport::ErrorCode;
use grpc_transport::connection::{Config, ConnectionError, Event};
use grpc_transport::frame::{GoAway, Ping, StreamId};
use support::{Pair, RawPeer, closed, goaways, has_goaway, id, pings, request, response};

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);

fn client_keepalive(time: Duration, permit_without_stream: bool) -> Config {
    let mut config = Config::client();
    config.keepalive.time = Some(time);
    config.keepalive.permit_without_stream = permit_without_stream;
    config
}

/// PINGs the connection under test sent (not ACKs).
fn sent_pings(peer: &mut RawPeer) -> Vec<[u8; 8]> {
    pings(&peer.read_frames())
        .iter()
        .filter(|p| !p.is_ack())
        .map(Ping::payload)
        .collect()
}

/// A server under test (default enforcement) with stream 1 open.
fn server_with_stream() -> RawPeer {
    let mut peer = RawPeer::server(Config::server());
    let headers = peer.headers(1, &request("/"), false);
    peer.send([headers]);
    peer.read_frames();
    peer
}

fn too_many_pings(peer: &mut RawPeer) -> bool {
    let frames = peer.read_frames();
    goaways(&frames).iter().any(|g| {
        g.error_code() == ErrorCode::ENHANCE_YOUR_CALM
            && g.debug_data().as_ref() == b"too_many_pings"
    })
}

#[test]
fn ping_is_acknowledged_with_the_same_payload() {
    for mut peer in [
        RawPeer::server(Config::server()),
        RawPeer::client(Config::client()),
    ] {
        peer.send([Ping::new(*b"payload!").into()]);
        let answers = pings(&peer.read_frames());
        assert_eq!(answers.len(), 1);
        assert!(answers[0].is_ack());
        assert_eq!(answers[0].payload(), *b"payload!");
    }
}

#[test]
fn user_ping_comes_back_as_a_ping_ack_event() {
    let mut pair = Pair::connected();
    pair.client.ping(*b"rtt-0001");
    pair.server.ping(*b"rtt-0002");
    pair.drive();
    assert!(pair.client_events.contains(&Event::PingAck {
        payload: *b"rtt-0001"
    }));
    assert!(pair.server_events.contains(&Event::PingAck {
        payload: *b"rtt-0002"
    }));
}

#[test]
fn client_keepalive_stays_dormant_without_streams() {
    let mut peer = RawPeer::client(client_keepalive(10 * SECOND, false));
    assert_eq!(peer.conn.poll_timeout(), None);
    peer.advance(60 * MINUTE);
    assert!(sent_pings(&mut peer).is_empty());
    assert!(!peer.conn.is_closed());
}

#[test]
fn client_keepalive_pings_without_streams_when_permitted() {
    let mut peer = RawPeer::client(client_keepalive(10 * SECOND, true));
    peer.advance(10 * SECOND);
    assert_eq!(sent_pings(&mut peer).len(), 1);
}

#[test]
fn client_keepalive_pings_after_time_idle_and_closes_when_the_ack_never_comes() {
    let mut peer = RawPeer::client(client_keepalive(10 * SECOND, false));
    peer.conn.open_stream(request("/"), false).unwrap();
    peer.read_frames();

    peer.advance(10 * SECOND - Duration::from_millis(1));
    assert!(sent_pings(&mut peer).is_empty());
    peer.advance(Duration::from_millis(1));
    assert_eq!(sent_pings(&mut peer).len(), 1);

    peer.advance(20 * SECOND - Duration::from_millis(1));
    assert!(!peer.conn.is_closed(), "timeout is 20 s");
    peer.advance(Duration::from_millis(1));
    assert!(peer.conn.is_closed());
    assert_eq!(
        peer.closed(),
        Some(&Some(ConnectionError::KeepaliveTimeout))
    );
    assert!(
        peer.events
            .iter()
            .any(|e| matches!(e, Event::StreamReset { stream, .. } if *stream == id(1))),
        "the open stream fails"
    );
}

#[test]
fn acknowledged_keepalive_ping_keeps_the_connection_and_pings_again_later() {
    let mut peer = RawPeer::client(client_keepalive(10 * SECOND, false));
    peer.conn.open_stream(request("/"), false).unwrap();
    peer.read_frames();
    peer.advance(10 * SECOND);
    let payload = sent_pings(&mut peer)[0];
    peer.advance(SECOND);
    peer.send([Ping::pong(payload).into()]);
    assert!(
        !peer
            .events
            .iter()
            .any(|e| matches!(e, Event::PingAck { .. })),
        "keepalive ACKs are internal"
    );
    peer.advance(29 * SECOND);
    assert!(!peer.conn.is_closed());
    assert_eq!(
        sent_pings(&mut peer).len(),
        1,
        "pinged again 10 s after the ACK"
    );
}

#[test]
fn reading_anything_rearms_the_keepalive_timer() {
    let mut peer = RawPeer::client(client_keepalive(10 * SECOND, false));
    peer.conn.open_stream(request("/"), false).unwrap();
    peer.read_frames();
    peer.advance(9 * SECOND);
    peer.send([RawPeer::window_update(0, 1)]);
    peer.advance(10 * SECOND - Duration::from_millis(1));
    assert!(sent_pings(&mut peer).is_empty());
    peer.advance(Duration::from_millis(1));
    assert_eq!(sent_pings(&mut peer).len(), 1);

    // Any frame also stands in for the ACK of an outstanding ping.
    peer.advance(15 * SECOND);
    peer.send([RawPeer::window_update(0, 1)]);
    peer.advance(15 * SECOND);
    assert!(!peer.conn.is_closed());
}

#[test]
fn client_keepalive_time_is_floored_at_10_seconds() {
    let mut peer = RawPeer::client(client_keepalive(SECOND, false));
    peer.conn.open_stream(request("/"), false).unwrap();
    peer.read_frames();
    peer.advance(9 * SECOND);
    assert!(sent_pings(&mut peer).is_empty(), "1 s is raised to 10 s");
    peer.advance(SECOND);
    assert_eq!(sent_pings(&mut peer).len(), 1);
    assert_eq!(peer.conn.keepalive_time(), Some(10 * SECOND));
}

#[test]
fn server_pings_after_two_hours_idle_by_default() {
    let mut peer = RawPeer::server(Config::server());
    peer.advance(120 * MINUTE - SECOND);
    assert!(sent_pings(&mut peer).is_empty());
    peer.advance(SECOND);
    assert_eq!(sent_pings(&mut peer).len(), 1);
    peer.advance(20 * SECOND);
    assert_eq!(
        peer.closed(),
        Some(&Some(ConnectionError::KeepaliveTimeout))
    );
}

#[test]
fn third_ping_offence_gets_goaway_enhance_your_calm_too_many_pings() {
    let mut peer = server_with_stream();
    for n in 0..3 {
        peer.send([Ping::new([n; 8]).into()]);
        let frames = peer.read_frames();
        assert!(pings(&frames)[0].is_ack(), "ping {n} answered");
        assert!(goaways(&frames).is_empty(), "ping {n}: at most 2 strikes");
    }
    peer.send([Ping::new([3; 8]).into()]);
    let frames = peer.read_frames();
    let goaway = RawPeer::goaway(&frames).expect("GOAWAY");
    assert_eq!(goaway.error_code(), ErrorCode::ENHANCE_YOUR_CALM);
    assert_eq!(goaway.debug_data().as_ref(), b"too_many_pings");
    assert!(
        pings(&frames).is_empty(),
        "the offending ping is not answered"
    );
    assert!(matches!(
        peer.closed(),
        Some(Some(ConnectionError::Local {
            code: ErrorCode::ENHANCE_YOUR_CALM,
            ..
        }))
    ));
}

#[test]
fn pings_at_least_min_time_apart_are_fine_while_streams_are_open() {
    let mut peer = server_with_stream();
    for _ in 0..10 {
        peer.send([Ping::new([0; 8]).into()]);
        assert!(!too_many_pings(&mut peer));
        peer.advance(5 * MINUTE);
    }
    assert!(!peer.conn.is_closed());
}

#[test]
fn pings_without_streams_must_be_two_hours_apart_unless_permitted() {
    let mut peer = RawPeer::server(Config::server());
    let mut offended = false;
    for _ in 0..4 {
        peer.send([Ping::new([0; 8]).into()]);
        offended |= too_many_pings(&mut peer);
        peer.advance(10 * MINUTE);
    }
    assert!(offended, "10 minutes apart with no stream: strikes");

    let mut peer = RawPeer::server(Config::server());
    for _ in 0..5 {
        peer.send([Ping::new([0; 8]).into()]);
        assert!(!too_many_pings(&mut peer), "2 hours apart is allowed");
        peer.advance(120 * MINUTE);
    }
    assert!(!peer.conn.is_closed());

    let mut config = Config::server();
    config.ping_policy.permit_without_stream = true;
    let mut peer = RawPeer::server(config);
    for _ in 0..10 {
        peer.send([Ping::new([0; 8]).into()]);
        assert!(!too_many_pings(&mut peer));
        peer.advance(10 * MINUTE);
    }
}

#[test]
fn sending_headers_or_data_forgives_ping_strikes() {
    let mut peer = server_with_stream();
    for _ in 0..3 {
        peer.send([Ping::new([0; 8]).into()]);
    }
    assert!(!too_many_pings(&mut peer), "two strikes so far");
    peer.conn
        .send_headers(id(1), response("200"), false)
        .unwrap();
    peer.read_frames();
    for _ in 0..3 {
        peer.send([Ping::new([0; 8]).into()]);
    }
    assert!(!too_many_pings(&mut peer), "HEADERS reset the strikes");
    peer.conn
        .send_data(id(1), Bytes::from_static(b"x"), false)
        .unwrap();
    peer.read_frames();
    for _ in 0..3 {
        peer.send([Ping::new([0; 8]).into()]);
    }
    assert!(!too_many_pings(&mut peer), "DATA reset the strikes");
    peer.send([Ping::new([0; 8]).into()]);
    assert!(too_many_pings(&mut peer));
}

#[test]
fn client_doubles_keepalive_time_after_too_many_pings_goaway() {
    let mut peer = RawPeer::client(client_keepalive(10 * SECOND, false));
    peer.send([GoAway::new(StreamId::ZERO, ErrorCode::ENHANCE_YOUR_CALM)
        .with_debug_data(Bytes::from_static(b"too_many_pings"))
        .into()]);
    assert_eq!(peer.conn.keepalive_time(), Some(20 * SECOND));

    // Other GOAWAYs leave it alone.
    let mut peer = RawPeer::client(client_keepalive(10 * SECOND, false));
    peer.send([GoAway::new(StreamId::ZERO, ErrorCode::ENHANCE_YOUR_CALM).into()]);
    assert_eq!(peer.conn.keepalive_time(), Some(10 * SECOND));
}

#[test]
fn aggressive_client_keepalive_is_stopped_by_server_enforcement_and_backs_off() {
    let mut pair = Pair::connected_with(client_keepalive(10 * SECOND, true), Config::server());
    pair.advance(60 * SECOND);
    assert!(has_goaway(&pair.to_client, ErrorCode::ENHANCE_YOUR_CALM));
    assert_eq!(pair.client.keepalive_time(), Some(20 * SECOND));
    assert!(pair.client.is_closed() && pair.server.is_closed());
    assert_eq!(
        closed(&pair.client_events),
        Some(&Some(ConnectionError::Remote {
            code: ErrorCode::ENHANCE_YOUR_CALM,
            debug_data: Bytes::from_static(b"too_many_pings"),
        }))
    );
}
