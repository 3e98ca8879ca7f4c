//! Request/response exchanges between two connections, frame by frame.

mod support;

use bytes::Bytes;
use grpc_transport::connection::{Event, StreamState};
use grpc_transport::frame::Frame;
use support::{Pair, id, request, response};

#[test]
fn unary_exchange_completes_and_releases_both_streams() {
    let mut pair = Pair::connected();
    let stream = pair.client.open_stream(request("/echo"), false).unwrap();
    pair.client
        .send_data(stream, Bytes::from_static(b"ping"), true)
        .unwrap();
    pair.drive();
    assert_eq!(pair.server_streams(), vec![id(1)]);
    assert_eq!(pair.server_data(stream), b"ping");
    pair.server
        .send_headers(stream, response("200"), false)
        .unwrap();
    pair.server
        .send_data(stream, Bytes::from_static(b"pong"), false)
        .unwrap();
    pair.server
        .send_trailers(
            stream,
            vec![grpc_transport::hpack::HeaderField::new("grpc-status", "0")],
        )
        .unwrap();
    pair.drive();
    assert_eq!(pair.client_data(stream), b"pong");
    assert!(
        pair.client_events
            .iter()
            .any(|e| matches!(e, Event::Trailers { .. }))
    );
    assert!(pair.client_events.contains(&Event::StreamClosed { stream }));
    assert!(pair.server_events.contains(&Event::StreamClosed { stream }));
    assert_eq!(pair.client.open_streams(), 0);
    assert_eq!(pair.server.open_streams(), 0);
}

#[test]
fn unary_request_leaves_in_one_batch_as_headers_then_data() {
    let mut pair = Pair::connected();
    let stream = pair.client.open_stream(request("/echo"), false).unwrap();
    pair.client
        .send_data(stream, Bytes::from_static(b"ping"), true)
        .unwrap();
    pair.client_to_server();
    let kinds: Vec<_> = pair.to_server.iter().map(Frame::kind).collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert!(matches!(pair.to_server[0], Frame::Headers(_)));
    assert!(matches!(&pair.to_server[1], Frame::Data(d) if d.is_end_stream()));
}

#[test]
fn stream_states_follow_rfc_9113_section_5_1() {
    let mut pair = Pair::connected();
    let stream = pair.client.open_stream(request("/"), false).unwrap();
    assert_eq!(pair.client.stream_state(stream), Some(StreamState::Idle));
    pair.drive();
    assert_eq!(pair.client.stream_state(stream), Some(StreamState::Open));
    assert_eq!(pair.server.stream_state(stream), Some(StreamState::Open));
    pair.client.send_data(stream, Bytes::new(), true).unwrap();
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
        .send_headers(stream, response("204"), true)
        .unwrap();
    pair.drive();
    assert_eq!(
        pair.client.stream_state(stream),
        None,
        "closed and released"
    );
    assert_eq!(pair.server.stream_state(stream), None);
}
