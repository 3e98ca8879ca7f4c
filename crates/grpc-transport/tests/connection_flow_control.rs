//! Flow control (RFC 9113 §5.2, §6.9): both levels, both directions, window updates,
//! padding, violations, fairness between streams, and BDP-driven window growth.

mod support;

use bytes::{Bytes, BytesMut};
use grpc_transport::ErrorCode;
use grpc_transport::connection::{BDP_WINDOW_LIMIT, Config, Event};
use grpc_transport::frame::{self, Flags, FrameType, MAX_WINDOW_SIZE, Settings};
use support::{
    Pair, RawPeer, data_frames, has_goaway, id, request, resets, response, settings, window_updates,
};

fn sent_on(frames: &[frame::Frame], stream: u32) -> usize {
    data_frames(frames)
        .iter()
        .filter(|&&(s, _, _)| s == stream)
        .map(|&(_, len, _)| len)
        .sum()
}

#[test]
fn sending_stops_at_the_stream_window_and_resumes_on_window_update() {
    let (mut peer, frames) = RawPeer::client_with_queued_stream(100_000);
    assert_eq!(sent_on(&frames, 1), 65_535);
    assert_eq!(peer.conn.stream_send_window(id(1)), Some(0));
    assert_eq!(peer.conn.buffered_send(id(1)), Some(100_000 - 65_535));
    assert!(peer.read_frames().is_empty(), "nothing more without credit");

    peer.send([RawPeer::window_update(1, 10_000)]);
    assert_eq!(sent_on(&peer.read_frames(), 1), 10_000);
    assert_eq!(peer.conn.buffered_send(id(1)), Some(100_000 - 75_535));
}

#[test]
fn connection_window_is_shared_across_streams_and_resumes_them_all() {
    let mut peer = RawPeer::client(Config::client());
    peer.send([Settings::new()
        .with_initial_window_size(1 << 20)
        .unwrap()
        .into()]);
    let a = peer.conn.open_stream(request("/a"), false).unwrap();
    let b = peer.conn.open_stream(request("/b"), false).unwrap();
    for s in [a, b] {
        peer.conn
            .send_data(s, Bytes::from(vec![1u8; 50_000]), true)
            .unwrap();
    }
    let frames = peer.read_frames();
    assert_eq!(sent_on(&frames, 1) + sent_on(&frames, 3), 65_535);
    assert_eq!(peer.conn.connection_send_window(), 0);
    assert!(sent_on(&frames, 1) > 0 && sent_on(&frames, 3) > 0);

    peer.send([RawPeer::window_update(0, 100_000 - 65_535)]);
    let more = peer.read_frames();
    assert_eq!(
        sent_on(&frames, 1) + sent_on(&more, 1),
        50_000,
        "stream 1 finished"
    );
    assert_eq!(
        sent_on(&frames, 3) + sent_on(&more, 3),
        50_000,
        "stream 3 finished"
    );
    assert_eq!(peer.conn.connection_send_window(), 0);
}

#[test]
fn receiver_sends_window_update_once_a_quarter_is_consumed_and_not_before() {
    let mut peer = RawPeer::server_with_fixed_windows();
    peer.send([support::data_frame(1, 16_382)]);
    peer.conn.release_capacity(id(1), 16_382);
    assert_eq!(
        window_updates(&peer.read_frames()),
        vec![],
        "below 65,535 / 4"
    );

    peer.send([support::data_frame(1, 1)]);
    assert_eq!(window_updates(&peer.read_frames()), vec![(0, 16_383)]);
    peer.conn.release_capacity(id(1), 1);
    assert_eq!(window_updates(&peer.read_frames()), vec![(1, 16_383)]);
}

#[test]
fn connection_window_is_credited_on_receipt_even_if_the_app_never_releases() {
    let mut peer = RawPeer::server_with_fixed_windows();
    peer.send([
        support::data_frame(1, 16_384),
        support::data_frame(1, 16_384),
        support::data_frame(1, 16_384),
    ]);
    assert_eq!(
        window_updates(&peer.read_frames()),
        vec![(0, 16_384), (0, 16_384), (0, 16_384)]
    );
    assert_eq!(peer.conn.stream_recv_window(id(1)), Some(65_535 - 49_152));
}

#[test]
fn stream_window_is_credited_only_as_the_app_releases_capacity() {
    let mut client = Config::client();
    client.initial_stream_window = Some(65_535); // fixed windows: no BDP growth
    let mut pair = Pair::connected_with(client, Config::server());
    let stream = pair.client.open_stream(request("/"), true).unwrap();
    pair.drive();
    pair.server
        .send_headers(stream, response("200"), false)
        .unwrap();
    pair.server
        .send_data(stream, Bytes::from(vec![3u8; 200_000]), true)
        .unwrap();
    pair.drive();
    assert_eq!(
        pair.client_data(stream).len(),
        65_535,
        "peer stops at the window"
    );
    assert_eq!(pair.server.buffered_send(stream), Some(200_000 - 65_535));
    assert!(!window_updates(&pair.to_server).iter().any(|&(s, _)| s == 1));

    let mut received = pair.release_client_data();
    for _ in 0..20 {
        pair.drive();
        let released = pair.release_client_data();
        if released == 0 {
            break;
        }
        received += released;
    }
    assert_eq!(received, 200_000);
    assert!(pair.client_events.contains(&Event::StreamClosed { stream }));
}

#[test]
fn padding_is_credited_back_without_the_app_releasing_it() {
    let mut peer = RawPeer::server_with_fixed_windows();
    let padded = |_: u32| -> frame::Frame {
        frame::Data::new(id(1), Bytes::from_static(b"x"))
            .unwrap()
            .with_padding(255)
            .into()
    };
    // Each frame is 257 flow-controlled octets, 256 of them padding (§6.9.1).
    peer.send((0..63).map(padded));
    assert_eq!(
        window_updates(&peer.read_frames())
            .iter()
            .filter(|&&(s, _)| s == 1)
            .count(),
        0
    );
    peer.send([padded(63)]);
    let updates = window_updates(&peer.read_frames());
    assert!(
        updates.contains(&(1, 64 * 256)),
        "padding only: {updates:?}"
    );
    assert!(updates.contains(&(0, 64 * 257)), "connection: everything");
    assert_eq!(support::data_of(&peer.events, id(1)), vec![b'x'; 64]);
}

#[test]
fn peer_exceeding_the_stream_window_gets_rst_flow_control_error() {
    let mut peer = RawPeer::server_with_fixed_windows();
    let other = peer.headers(3, &request("/other"), false);
    peer.send([other]);
    peer.send([
        support::data_frame(1, 16_384),
        support::data_frame(1, 16_384),
        support::data_frame(1, 16_384),
        support::data_frame(1, 16_383),
    ]);
    assert!(resets(&peer.read_frames()).is_empty(), "exactly the window");
    peer.send([support::data_frame(1, 1)]);
    assert_eq!(
        resets(&peer.read_frames()),
        vec![(1, ErrorCode::FLOW_CONTROL_ERROR)]
    );
    assert!(!peer.conn.is_closed());
    peer.send([RawPeer::data(3, b"still fine", true)]);
    assert_eq!(support::data_of(&peer.events, id(3)), b"still fine");
}

#[test]
fn peer_exceeding_the_connection_window_gets_goaway_flow_control_error() {
    let mut config = Config::server();
    config.max_frame_size = 1 << 20;
    config.initial_stream_window = Some(1 << 20);
    let mut peer = RawPeer::server(config);
    let headers = peer.headers(1, &request("/"), false);
    peer.send([headers, support::data_frame(1, 65_536)]);
    assert!(has_goaway(
        &peer.read_frames(),
        ErrorCode::FLOW_CONTROL_ERROR
    ));
    assert!(peer.conn.is_closed());
}

#[test]
fn window_update_beyond_the_maximum_on_a_stream_is_rst_flow_control_error() {
    let mut peer = RawPeer::client(Config::client());
    peer.conn.open_stream(request("/"), false).unwrap();
    peer.conn.open_stream(request("/"), false).unwrap();
    peer.read_frames();
    peer.send([RawPeer::window_update(1, MAX_WINDOW_SIZE - 65_535)]);
    assert!(
        resets(&peer.read_frames()).is_empty(),
        "exactly 2^31-1 is fine"
    );
    peer.send([RawPeer::window_update(1, 1)]);
    assert_eq!(
        resets(&peer.read_frames()),
        vec![(1, ErrorCode::FLOW_CONTROL_ERROR)]
    );
    assert!(!peer.conn.is_closed());
    assert!(peer.conn.stream_state(id(3)).is_some());
}

#[test]
fn window_update_beyond_the_maximum_on_the_connection_is_goaway_flow_control_error() {
    let mut peer = RawPeer::client(Config::client());
    peer.send([RawPeer::window_update(0, MAX_WINDOW_SIZE - 65_535)]);
    assert!(!peer.conn.is_closed());
    peer.send([RawPeer::window_update(0, 1)]);
    assert!(has_goaway(
        &peer.read_frames(),
        ErrorCode::FLOW_CONTROL_ERROR
    ));
}

#[test]
fn window_update_with_zero_increment_is_a_stream_or_connection_protocol_error() {
    let mut peer = RawPeer::server_with_fixed_windows();
    peer.send_raw(
        FrameType::WINDOW_UPDATE,
        Flags::EMPTY,
        1,
        &0u32.to_be_bytes(),
    );
    assert_eq!(
        resets(&peer.read_frames()),
        vec![(1, ErrorCode::PROTOCOL_ERROR)]
    );
    assert!(!peer.conn.is_closed());

    peer.send_raw(
        FrameType::WINDOW_UPDATE,
        Flags::EMPTY,
        0,
        &0u32.to_be_bytes(),
    );
    assert!(has_goaway(&peer.read_frames(), ErrorCode::PROTOCOL_ERROR));
}

#[test]
fn send_buffer_released_events_report_the_octets_written() {
    let (mut peer, _) = RawPeer::client_with_queued_stream(100_000);
    let released = |events: &[Event]| -> usize {
        events
            .iter()
            .filter_map(|e| match e {
                Event::SendBufferReleased { stream, bytes } if stream.get() == 1 => Some(*bytes),
                _ => None,
            })
            .sum()
    };
    assert_eq!(released(&peer.events), 65_535);
    peer.events.clear();
    peer.send([RawPeer::window_update(1, 5_000)]);
    peer.read_frames();
    assert_eq!(released(&peer.events), 5_000);
}

#[test]
fn two_streams_with_queued_data_take_turns_frame_by_frame() {
    let mut peer = RawPeer::client(Config::client());
    peer.send([
        Settings::new()
            .with_initial_window_size(1 << 20)
            .unwrap()
            .into(),
        RawPeer::window_update(0, 1 << 20),
    ]);
    for path in ["/a", "/b"] {
        let s = peer.conn.open_stream(request(path), false).unwrap();
        peer.conn
            .send_data(s, Bytes::from(vec![0u8; 100_000]), true)
            .unwrap();
    }
    let order: Vec<u32> = data_frames(&peer.read_frames())
        .iter()
        .map(|&(s, _, _)| s)
        .collect();
    assert_eq!(order.len(), 14, "7 frames each: {order:?}");
    for pair in order.chunks(2) {
        assert_eq!(pair, [1, 3], "{order:?}");
    }
}

#[test]
fn bdp_estimation_grows_the_receive_windows_on_a_bulk_transfer() {
    let mut pair = Pair::connected();
    let rounds = pair.download(8 << 20);
    let conn = pair.client.connection_recv_window_target();
    let stream = pair.client.stream_recv_window_target();
    assert!(conn > 65_535 && conn <= BDP_WINDOW_LIMIT, "{conn}");
    assert!(stream > 65_535 && stream <= BDP_WINDOW_LIMIT, "{stream}");
    let announced: Vec<u32> = settings(&pair.to_server)
        .iter()
        .filter_map(|s| s.initial_window_size())
        .collect();
    assert!(
        !announced.is_empty(),
        "SETTINGS with the new INITIAL_WINDOW_SIZE"
    );
    assert!(announced.windows(2).all(|w| w[0] < w[1]), "{announced:?}");
    assert_eq!(announced.last(), Some(&stream));
    assert!(
        window_updates(&pair.to_server)
            .iter()
            .any(|&(s, inc)| s == 0 && inc > 65_535)
    );
    // With the window stuck at 64 KiB, 8 MiB would take at least 128 round trips.
    assert!(rounds < 100, "{rounds} round trips");
}

#[test]
fn bdp_growth_stops_at_16_mib() {
    let mut pair = Pair::connected();
    pair.download(96 << 20);
    assert_eq!(
        pair.client.connection_recv_window_target(),
        BDP_WINDOW_LIMIT
    );
    assert_eq!(pair.client.stream_recv_window_target(), BDP_WINDOW_LIMIT);
}

#[test]
fn bdp_is_off_when_a_window_is_configured() {
    for fixed in [
        |c: &mut Config| c.initial_stream_window = Some(65_535),
        |c: &mut Config| c.initial_connection_window = Some(65_535),
    ] {
        let mut client = Config::client();
        fixed(&mut client);
        assert!(!client.bdp_enabled());
        let mut pair = Pair::connected_with(client, Config::server());
        pair.download(1 << 20);
        assert_eq!(pair.client.connection_recv_window_target(), 65_535);
        assert_eq!(pair.client.stream_recv_window_target(), 65_535);
        assert!(support::pings(&pair.to_server).is_empty(), "no BDP pings");
    }
}

#[test]
fn smaller_configured_stream_window_is_enforced_only_once_acknowledged() {
    let mut config = Config::server();
    config.initial_stream_window = Some(16_384);
    let mut peer = RawPeer::bare(config);
    peer.read_frames();
    // The client has not seen our SETTINGS yet: it may use the default 65,535 (§6.9.3).
    let mut wire = BytesMut::from(&frame::PREFACE[..]);
    Settings::new().encode(&mut wire);
    peer.send_bytes(&mut wire);
    let headers = peer.headers(1, &request("/"), false);
    peer.send([headers]);
    for _ in 0..3 {
        peer.send([support::data_frame(1, 16_384)]);
    }
    assert!(
        resets(&peer.read_frames()).is_empty(),
        "49,152 > 16,384 is fine for now"
    );

    // Once acknowledged, the smaller window holds, counting what was already sent.
    peer.send([Settings::ack().into()]);
    let headers = peer.headers(3, &request("/"), false);
    peer.send([headers, support::data_frame(3, 16_384)]);
    assert!(resets(&peer.read_frames()).is_empty());
    peer.send([RawPeer::data(3, b"x", false), RawPeer::data(1, b"x", false)]);
    assert_eq!(
        resets(&peer.read_frames()),
        vec![
            (3, ErrorCode::FLOW_CONTROL_ERROR),
            (1, ErrorCode::FLOW_CONTROL_ERROR)
        ]
    );
}

#[test]
fn configured_connection_window_is_announced_right_after_settings() {
    let mut config = Config::server();
    config.initial_connection_window = Some(1 << 20);
    config.initial_stream_window = Some(256 << 10);
    let mut peer = RawPeer::bare(config);
    let frames = peer.read_frames();
    assert!(matches!(&frames[0], frame::Frame::Settings(s)
        if s.initial_window_size() == Some(256 << 10)));
    assert_eq!(window_updates(&frames[1..2]), vec![(0, (1 << 20) - 65_535)]);
    assert_eq!(peer.conn.connection_recv_window_target(), 1 << 20);
}
