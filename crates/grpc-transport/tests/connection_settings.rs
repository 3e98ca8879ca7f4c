//! The connection preface and SETTINGS (RFC 9113 §3.4, §6.5): the exchange, its
//! acknowledgement and timeout, and each of the six settings.

mod support;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use grpc_transport::ErrorCode;
use grpc_transport::connection::{Config, ConnectionError, Event};
use grpc_transport::frame::{
    self, Flags, Frame, FrameType, InvalidPreface, MAX_WINDOW_SIZE, Settings,
};
use support::{
    Pair, RawPeer, closed, data_frames, field, has_goaway, id, incompressible, request,
    request_with, settings, settings_acks,
};

fn data_sent_on(frames: &[Frame], stream: u32) -> usize {
    data_frames(frames)
        .iter()
        .filter(|&&(s, _, _)| s == stream)
        .map(|&(_, len, _)| len)
        .sum()
}

#[test]
fn client_sends_preface_then_settings_and_both_sides_acknowledge() {
    let mut pair = Pair::new(Config::client(), Config::server());
    let mut wire = BytesMut::new();
    pair.client.poll_transmit(pair.now, &mut wire);
    assert!(wire.starts_with(frame::PREFACE), "preface first (§3.4)");
    let _ = wire.split_to(frame::PREFACE.len());
    let first = frame::parse_frame(&mut wire, frame::DEFAULT_MAX_FRAME_SIZE)
        .unwrap()
        .unwrap();
    assert!(
        matches!(first, Frame::Settings(s) if !s.is_ack()),
        "SETTINGS right after the preface: {first:?}"
    );
    pair.server
        .recv(&mut BytesMut::from(&frame::PREFACE[..]), pair.now);
    let mut settings_only = BytesMut::new();
    first.encode(&mut settings_only);
    pair.server.recv(&mut settings_only, pair.now);

    pair.drive();
    assert_eq!(settings_acks(&pair.to_server), 1, "client ACKs the server");
    assert_eq!(settings_acks(&pair.to_client), 1, "server ACKs the client");
    assert_eq!(settings(&pair.to_client).len(), 1);
    assert!(pair.client.is_connected() && pair.server.is_connected());
    assert!(pair.client_events.contains(&Event::Connected));
    assert!(pair.server_events.contains(&Event::Connected));
}

#[test]
fn settings_not_acknowledged_in_time_close_with_settings_timeout() {
    let mut peer = RawPeer::bare(Config::server());
    let mut wire = BytesMut::from(&frame::PREFACE[..]);
    Settings::new().encode(&mut wire);
    peer.send_bytes(&mut wire);
    let frames = peer.read_frames();
    assert_eq!(settings(&frames).len(), 1);
    assert_eq!(settings_acks(&frames), 1);

    peer.advance(Duration::from_millis(9_999));
    assert!(!peer.conn.is_closed());
    assert!(peer.read_frames().is_empty());

    peer.advance(Duration::from_millis(1));
    assert!(has_goaway(&peer.read_frames(), ErrorCode::SETTINGS_TIMEOUT));
    assert_eq!(peer.closed(), Some(&Some(ConnectionError::SettingsTimeout)));
}

#[test]
fn client_also_closes_when_its_settings_are_never_acknowledged() {
    let mut config = Config::client();
    config.settings_ack_timeout = Duration::from_secs(3);
    let mut peer = RawPeer::bare(config);
    peer.send([Settings::new().into()]);
    peer.read_frames();
    peer.advance(Duration::from_secs(3));
    assert!(has_goaway(&peer.read_frames(), ErrorCode::SETTINGS_TIMEOUT));
    assert_eq!(peer.closed(), Some(&Some(ConnectionError::SettingsTimeout)));
}

#[test]
fn peer_header_table_size_zero_makes_our_encoder_signal_and_stop_indexing() {
    let mut peer = RawPeer::client(Config::client());
    peer.send([Settings::new().with_header_table_size(0).into()]);
    assert_eq!(settings_acks(&peer.read_frames()), 1);
    // Our ACK went out: from now on the raw peer's decoder holds us to size 0.
    peer.decoder.set_max_table_size_setting(0);

    let fields = request_with("/a", "x-custom", "a-value-worth-indexing");
    peer.conn.open_stream(fields.clone(), true).unwrap();
    peer.conn.open_stream(fields.clone(), true).unwrap();
    let frames = peer.read_frames();
    // Decoding fails (MissingSizeUpdate) unless the first block starts with an update to 0.
    let blocks = peer.decode_headers(&frames);
    assert_eq!(blocks.len(), 2);
    assert!(blocks.iter().all(|(_, decoded, _)| decoded == &fields));
    assert_eq!(peer.decoder.dynamic_table_size(), 0, "nothing was indexed");
    let lens: Vec<usize> = frames
        .iter()
        .filter_map(|f| match f {
            Frame::Headers(h) => Some(h.fragment().len()),
            _ => None,
        })
        .collect();
    assert_eq!(
        lens[1] + 1,
        lens[0],
        "same block minus the one-octet size update: no indexed savings"
    );
}

#[test]
fn our_header_table_size_is_advertised_and_enforced_once_acknowledged() {
    let mut config = Config::server();
    config.header_table_size = 0;

    // A peer that honours the setting: its blocks start with a size update to 0.
    let mut good = RawPeer::bare(config.clone());
    let advertised = settings(&good.read_frames());
    assert_eq!(advertised[0].header_table_size(), Some(0));
    let mut wire = BytesMut::from(&frame::PREFACE[..]);
    Settings::new().encode(&mut wire);
    Settings::ack().encode(&mut wire);
    good.send_bytes(&mut wire);
    good.encoder.set_max_table_size(0);
    let headers = good.headers(1, &request("/"), true);
    good.send([headers]);
    assert!(
        good.events
            .iter()
            .any(|e| matches!(e, Event::Headers { .. }))
    );
    assert!(!good.conn.is_closed());

    // A peer that ignores it keeps a 4,096-octet table: COMPRESSION_ERROR (RFC 7541 §4.2).
    let mut bad = RawPeer::server(config);
    let headers = bad.headers(1, &request("/"), true);
    bad.send([headers]);
    assert!(has_goaway(&bad.read_frames(), ErrorCode::COMPRESSION_ERROR));
}

#[test]
fn client_advertises_enable_push_zero() {
    let mut peer = RawPeer::bare(Config::client());
    let sent = settings(&peer.read_frames());
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].enable_push(), Some(false));
}

#[test]
fn server_enabling_push_to_a_client_is_a_protocol_error() {
    let mut peer = RawPeer::bare(Config::client());
    peer.read_frames();
    peer.send([Settings::new().with_enable_push(true).into()]);
    assert!(has_goaway(&peer.read_frames(), ErrorCode::PROTOCOL_ERROR));
    assert!(matches!(
        peer.closed(),
        Some(Some(ConnectionError::Local {
            code: ErrorCode::PROTOCOL_ERROR,
            ..
        }))
    ));
}

#[test]
fn client_enabling_push_is_accepted_by_a_server() {
    let mut peer = RawPeer::bare(Config::server());
    let mut wire = BytesMut::from(&frame::PREFACE[..]);
    Settings::new().with_enable_push(true).encode(&mut wire);
    peer.send_bytes(&mut wire);
    assert_eq!(settings_acks(&peer.read_frames()), 1);
    assert!(!peer.conn.is_closed());
    assert!(peer.conn.peer_settings().enable_push);
}

#[test]
fn initial_window_size_increase_applies_to_every_open_stream() {
    let mut peer = RawPeer::client(Config::client());
    peer.send([RawPeer::window_update(0, 1 << 30)]);
    let a = peer.conn.open_stream(request("/a"), false).unwrap();
    let b = peer.conn.open_stream(request("/b"), false).unwrap();
    for s in [a, b] {
        peer.conn
            .send_data(s, Bytes::from(vec![1u8; 100_000]), false)
            .unwrap();
    }
    let frames = peer.read_frames();
    assert_eq!(data_sent_on(&frames, 1), 65_535);
    assert_eq!(data_sent_on(&frames, 3), 65_535);

    peer.send([Settings::new()
        .with_initial_window_size(65_535 + 1_000)
        .unwrap()
        .into()]);
    let frames = peer.read_frames();
    assert_eq!(settings_acks(&frames), 1);
    assert_eq!(
        data_sent_on(&frames, 1),
        1_000,
        "delta credited to stream 1"
    );
    assert_eq!(
        data_sent_on(&frames, 3),
        1_000,
        "delta credited to stream 3"
    );

    // A stream opened afterwards starts from the new value.
    let c = peer.conn.open_stream(request("/c"), false).unwrap();
    assert_eq!(peer.conn.stream_send_window(c), Some(66_535));
}

#[test]
fn initial_window_size_decrease_can_make_a_send_window_negative_until_credit_catches_up() {
    let (mut peer, frames) = RawPeer::client_with_queued_stream(100_000);
    assert_eq!(data_sent_on(&frames, 1), 65_535);

    // §6.9.2: the window becomes 16,384 - 65,535 = -49,151.
    peer.send([Settings::new()
        .with_initial_window_size(16_384)
        .unwrap()
        .into()]);
    let frames = peer.read_frames();
    assert_eq!(data_sent_on(&frames, 1), 0);
    assert_eq!(peer.conn.stream_send_window(id(1)), Some(0));

    peer.send([RawPeer::window_update(1, 49_151)]);
    assert_eq!(
        data_sent_on(&peer.read_frames(), 1),
        0,
        "back to exactly zero"
    );

    peer.send([RawPeer::window_update(1, 1_000)]);
    assert_eq!(data_sent_on(&peer.read_frames(), 1), 1_000, "recovered");
}

#[test]
fn initial_window_size_overflowing_an_open_stream_window_is_flow_control_error() {
    let mut peer = RawPeer::client(Config::client());
    let stream = peer.conn.open_stream(request("/"), false).unwrap();
    peer.read_frames();
    peer.send([RawPeer::window_update(1, MAX_WINDOW_SIZE - 65_535)]);
    assert_eq!(peer.conn.stream_send_window(stream), Some(MAX_WINDOW_SIZE));
    peer.send([Settings::new()
        .with_initial_window_size(65_536)
        .unwrap()
        .into()]);
    let frames = peer.read_frames();
    assert!(has_goaway(&frames, ErrorCode::FLOW_CONTROL_ERROR));
    assert_eq!(settings_acks(&frames), 0, "not acknowledged");
}

#[test]
fn initial_window_size_above_the_maximum_is_flow_control_error() {
    let mut peer = RawPeer::client(Config::client());
    let mut payload = Vec::new();
    payload.extend_from_slice(&4u16.to_be_bytes());
    payload.extend_from_slice(&(MAX_WINDOW_SIZE + 1).to_be_bytes());
    peer.send_raw(FrameType::SETTINGS, Flags::EMPTY, 0, &payload);
    assert!(has_goaway(
        &peer.read_frames(),
        ErrorCode::FLOW_CONTROL_ERROR
    ));
}

#[test]
fn peer_raising_max_frame_size_lets_us_send_larger_data_frames() {
    let mut server = Config::server();
    server.max_frame_size = 65_536;
    server.initial_stream_window = Some(1 << 20);
    server.initial_connection_window = Some(1 << 20);
    let mut pair = Pair::connected_with(Config::client(), server);
    let stream = pair.client.open_stream(request("/"), false).unwrap();
    pair.client
        .send_data(stream, Bytes::from(vec![0u8; 200_000]), true)
        .unwrap();
    pair.drive();
    let sizes: Vec<usize> = data_frames(&pair.to_server)
        .iter()
        .map(|&(_, len, _)| len)
        .collect();
    assert_eq!(sizes, vec![65_536, 65_536, 65_536, 3_392]);
    assert_eq!(pair.server_data(stream).len(), 200_000);
}

#[test]
fn data_frames_stay_within_the_default_max_frame_size() {
    let mut server = Config::server();
    server.initial_stream_window = Some(1 << 20);
    server.initial_connection_window = Some(1 << 20);
    let mut pair = Pair::connected_with(Config::client(), server);
    let stream = pair.client.open_stream(request("/"), false).unwrap();
    pair.client
        .send_data(stream, Bytes::from(vec![0u8; 50_000]), true)
        .unwrap();
    pair.drive();
    let sizes: Vec<usize> = data_frames(&pair.to_server)
        .iter()
        .map(|&(_, len, _)| len)
        .collect();
    assert_eq!(sizes, vec![16_384, 16_384, 16_384, 848]);
}

#[test]
fn frame_larger_than_our_max_frame_size_is_frame_size_error() {
    let mut peer = RawPeer::server(Config::server());
    let headers = peer.headers(1, &request("/"), false);
    peer.send([headers]);
    peer.send_raw(FrameType::DATA, Flags::EMPTY, 1, &[0u8; 16_385]);
    let frames = peer.read_frames();
    assert!(has_goaway(&frames, ErrorCode::FRAME_SIZE_ERROR));
    assert!(matches!(
        peer.closed(),
        Some(Some(ConnectionError::Local {
            code: ErrorCode::FRAME_SIZE_ERROR,
            ..
        }))
    ));
}

#[test]
fn our_max_header_list_size_is_advertised() {
    let mut config = Config::server();
    config.max_header_list_size = 8_192;
    let mut peer = RawPeer::bare(config);
    let sent = settings(&peer.read_frames());
    assert_eq!(sent[0].max_header_list_size(), Some(8_192));
}

#[test]
fn peer_max_header_list_size_is_recorded() {
    let mut peer = RawPeer::client(Config::client());
    peer.send([Settings::new().with_max_header_list_size(4_000).into()]);
    assert_eq!(peer.conn.peer_settings().max_header_list_size, Some(4_000));
}

#[test]
fn request_headers_larger_than_advertised_get_431_and_the_connection_survives() {
    let mut server = Config::server();
    server.max_header_list_size = 1_024;
    let mut pair = Pair::connected_with(Config::client(), server);
    let big = pair
        .client
        .open_stream(request_with("/big", "x-big", incompressible(2_000)), true)
        .unwrap();
    pair.drive();
    assert!(pair.server_streams().is_empty(), "the app never sees it");
    let status = pair.client_events.iter().find_map(|e| match e {
        Event::Headers {
            stream,
            fields,
            end_stream,
        } if *stream == big => Some((field(fields, ":status").map(<[u8]>::to_vec), *end_stream)),
        _ => None,
    });
    assert_eq!(status, Some((Some(b"431".to_vec()), true)));
    assert!(!has_goaway(&pair.to_client, ErrorCode::PROTOCOL_ERROR));
    assert!(!pair.client.is_closed() && !pair.server.is_closed());

    let next = pair.client.open_stream(request("/next"), true).unwrap();
    pair.drive();
    assert_eq!(pair.server_streams(), vec![next]);
}

#[test]
fn oversized_request_with_a_body_gets_431_then_rst_no_error_and_its_body_is_dropped() {
    let mut server = Config::server();
    server.max_header_list_size = 1_024;
    let mut pair = Pair::connected_with(Config::client(), server);
    // A gRPC call: HEADERS, then a message, the request not yet ended.
    let big = pair
        .client
        .open_stream(request_with("/big", "x-big", incompressible(2_000)), false)
        .unwrap();
    pair.client
        .send_data(big, Bytes::from_static(b"message"), false)
        .unwrap();
    pair.drive();
    assert!(pair.server_streams().is_empty());
    assert!(support::data_of(&pair.server_events, big).is_empty());
    let status = pair.client_events.iter().find_map(|e| match e {
        Event::Headers { fields, .. } => field(fields, ":status").map(<[u8]>::to_vec),
        _ => None,
    });
    assert_eq!(status, Some(b"431".to_vec()), "{:?}", pair.client_events);
    // §8.1: a complete response before the complete request, then RST_STREAM(NO_ERROR).
    assert_eq!(
        support::resets(&pair.to_client),
        vec![(1, ErrorCode::NO_ERROR)]
    );
    assert!(support::resets(&pair.to_server).is_empty());
    assert!(
        pair.client_events
            .contains(&Event::StreamClosed { stream: big })
    );

    // Late body frames are ignored, and the connection carries on.
    pair.client
        .send_data(big, Bytes::from_static(b"late"), true)
        .unwrap_err();
    let next = pair.client.open_stream(request("/next"), true).unwrap();
    pair.drive();
    assert_eq!(pair.server_streams(), vec![next]);
    assert_eq!(pair.server.open_streams(), 1);
}

#[test]
fn oversized_request_whose_body_ends_in_the_same_batch_gets_only_the_431() {
    let mut server = Config::server();
    server.max_header_list_size = 1_024;
    let mut pair = Pair::connected_with(Config::client(), server);
    let big = pair
        .client
        .open_stream(request_with("/big", "x-big", incompressible(2_000)), false)
        .unwrap();
    pair.client
        .send_data(big, Bytes::from_static(b"message"), true)
        .unwrap();
    pair.drive();
    assert!(support::resets(&pair.to_client).is_empty());
    assert!(support::resets(&pair.to_server).is_empty());
    assert!(
        pair.client_events
            .contains(&Event::StreamClosed { stream: big })
    );
    assert!(
        pair.server_events
            .contains(&Event::StreamClosed { stream: big })
    );
    assert!(
        !pair
            .server_events
            .iter()
            .any(|e| matches!(e, Event::Data { .. } | Event::StreamReset { .. }))
    );
}

#[test]
fn first_frame_other_than_settings_is_a_protocol_error() {
    let mut server = RawPeer::bare(Config::server());
    let mut wire = BytesMut::from(&frame::PREFACE[..]);
    frame::Ping::new([0; 8]).encode(&mut wire);
    server.send_bytes(&mut wire);
    assert!(has_goaway(&server.read_frames(), ErrorCode::PROTOCOL_ERROR));

    let mut client = RawPeer::bare(Config::client());
    client.send([RawPeer::window_update(0, 100)]);
    assert!(has_goaway(&client.read_frames(), ErrorCode::PROTOCOL_ERROR));

    // A SETTINGS ACK is not the peer's SETTINGS either.
    let mut client = RawPeer::bare(Config::client());
    client.send([Settings::ack().into()]);
    assert!(has_goaway(&client.read_frames(), ErrorCode::PROTOCOL_ERROR));
}

#[test]
fn invalid_preface_gets_goaway_protocol_error_and_closed_with_invalid_preface() {
    let mut peer = RawPeer::bare(Config::server());
    let mut wire = BytesMut::from(&b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..]);
    peer.send_bytes(&mut wire);
    let frames = peer.read_frames();
    assert!(has_goaway(&frames, ErrorCode::PROTOCOL_ERROR));
    assert_eq!(
        closed(&peer.events),
        Some(&Some(ConnectionError::InvalidPreface(
            InvalidPreface::Http1
        )))
    );
    assert!(peer.conn.is_closed());
}

#[test]
fn unknown_settings_are_ignored_and_acknowledged() {
    let mut peer = RawPeer::client(Config::client());
    let mut payload = Vec::new();
    payload.extend_from_slice(&0xf0f0u16.to_be_bytes());
    payload.extend_from_slice(&12_345u32.to_be_bytes());
    peer.send_raw(FrameType::SETTINGS, Flags::EMPTY, 0, &payload);
    assert_eq!(
        settings_acks(&peer.read_frames()),
        1,
        "§6.5.2: ignored, not an error"
    );
    assert!(!peer.conn.is_closed());
}

#[test]
fn settings_ack_with_a_payload_is_a_frame_size_error() {
    let mut peer = RawPeer::client(Config::client());
    peer.send_raw(FrameType::SETTINGS, Flags::ACK, 0, &[0, 4, 0, 0, 0, 1]);
    assert!(has_goaway(&peer.read_frames(), ErrorCode::FRAME_SIZE_ERROR));
}
