//! Test harness for the sans-IO connection: two state machines wired back to back with a
//! fake clock, and a raw peer that speaks frames directly.

// Test support code: panicking on a broken invariant is the point.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use grpc_transport::connection::{Config, Connection, Event};
use grpc_transport::frame::{self, Frame, StreamId};
use grpc_transport::hpack::{self, HeaderField};

pub fn id(n: u32) -> StreamId {
    StreamId::new(n).unwrap()
}

pub fn request(path: &'static str) -> Vec<HeaderField> {
    vec![
        HeaderField::new(":method", "POST"),
        HeaderField::new(":scheme", "http"),
        HeaderField::new(":path", path),
        HeaderField::new(":authority", "localhost"),
    ]
}

pub fn response(status: &'static str) -> Vec<HeaderField> {
    vec![HeaderField::new(":status", status)]
}

/// A client and a server connection joined by in-memory buffers, with a fake clock.
pub struct Pair {
    pub client: Connection,
    pub server: Connection,
    pub now: Instant,
    pub client_events: Vec<Event>,
    pub server_events: Vec<Event>,
    /// Frames seen on the wire, in each direction, since the last `take_*` call.
    pub to_server: Vec<Frame>,
    pub to_client: Vec<Frame>,
}

impl Pair {
    pub fn new(client: Config, server: Config) -> Pair {
        let now = Instant::now();
        Pair {
            client: Connection::new(client, now),
            server: Connection::new(server, now),
            now,
            client_events: Vec::new(),
            server_events: Vec::new(),
            to_server: Vec::new(),
            to_client: Vec::new(),
        }
    }

    /// Default configs, handshake done, events cleared.
    pub fn connected() -> Pair {
        Pair::connected_with(Config::client(), Config::server())
    }

    pub fn connected_with(client: Config, server: Config) -> Pair {
        let mut pair = Pair::new(client, server);
        pair.drive();
        assert!(pair.client_events.contains(&Event::Connected));
        assert!(pair.server_events.contains(&Event::Connected));
        pair.clear();
        pair
    }

    pub fn clear(&mut self) {
        self.client_events.clear();
        self.server_events.clear();
        self.to_server.clear();
        self.to_client.clear();
    }

    /// Moves bytes both ways until neither side writes anything. Returns the rounds taken.
    pub fn drive(&mut self) -> usize {
        for round in 0..10_000 {
            let a = self.client_to_server();
            let b = self.server_to_client();
            if !a && !b {
                return round;
            }
        }
        panic!("connections never went quiet");
    }

    /// One transmit from the client, delivered to the server. Returns whether bytes moved.
    pub fn client_to_server(&mut self) -> bool {
        let mut wire = BytesMut::new();
        while self.client.poll_transmit(self.now, &mut wire) {}
        let moved = !wire.is_empty();
        record_frames(&wire, true, &mut self.to_server);
        self.server.recv(&mut wire, self.now);
        self.client_events
            .extend(std::iter::from_fn(|| self.client.poll_event()));
        self.server_events
            .extend(std::iter::from_fn(|| self.server.poll_event()));
        moved
    }

    /// One transmit from the server, delivered to the client.
    pub fn server_to_client(&mut self) -> bool {
        let mut wire = BytesMut::new();
        while self.server.poll_transmit(self.now, &mut wire) {}
        let moved = !wire.is_empty();
        record_frames(&wire, false, &mut self.to_client);
        self.client.recv(&mut wire, self.now);
        self.client_events
            .extend(std::iter::from_fn(|| self.client.poll_event()));
        self.server_events
            .extend(std::iter::from_fn(|| self.server.poll_event()));
        moved
    }

    /// Advances the fake clock, firing due timers on both sides, then drives.
    pub fn advance(&mut self, by: Duration) {
        let target = self.now + by;
        loop {
            let next = [self.client.poll_timeout(), self.server.poll_timeout()]
                .into_iter()
                .flatten()
                .filter(|&t| t <= target)
                .min();
            let Some(next) = next else { break };
            self.now = self.now.max(next);
            self.client.handle_timeout(self.now);
            self.server.handle_timeout(self.now);
            self.drive();
        }
        self.now = target;
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
        self.drive();
    }

    /// The server's view of new request streams (from `Headers` events).
    pub fn server_streams(&self) -> Vec<StreamId> {
        self.server_events
            .iter()
            .filter_map(|e| match e {
                Event::Headers { stream, .. } => Some(*stream),
                _ => None,
            })
            .collect()
    }

    /// All data received by the client on `stream`, concatenated.
    pub fn client_data(&self, stream: StreamId) -> Vec<u8> {
        data_of(&self.client_events, stream)
    }

    pub fn server_data(&self, stream: StreamId) -> Vec<u8> {
        data_of(&self.server_events, stream)
    }
}

pub fn data_of(events: &[Event], stream: StreamId) -> Vec<u8> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Data {
                stream: s, data, ..
            } if *s == stream => Some(&data[..]),
            _ => None,
        })
        .flatten()
        .copied()
        .collect()
}

fn record_frames(wire: &BytesMut, from_client: bool, out: &mut Vec<Frame>) {
    let mut copy = BytesMut::from(&wire[..]);
    if from_client && copy.starts_with(frame::PREFACE) {
        let _ = copy.split_to(frame::PREFACE.len());
    }
    while let Ok(Some(frame)) = frame::parse_frame(&mut copy, frame::MAX_FRAME_SIZE_LIMIT) {
        out.push(frame);
    }
}

/// A hand-driven peer: writes arbitrary frames to a connection under test and reads back
/// what it sends. Used for protocol violations and abuse.
pub struct RawPeer {
    pub conn: Connection,
    pub now: Instant,
    pub encoder: hpack::Encoder,
    pub decoder: hpack::Decoder,
    pub events: Vec<Event>,
}

impl RawPeer {
    /// A server under test, with the client preface and an empty SETTINGS already sent
    /// and the server's SETTINGS acknowledged.
    pub fn server(config: Config) -> RawPeer {
        let now = Instant::now();
        let mut peer = RawPeer {
            conn: Connection::new(config, now),
            now,
            encoder: hpack::Encoder::new(),
            decoder: hpack::Decoder::new(),
            events: Vec::new(),
        };
        let mut wire = BytesMut::from(&frame::PREFACE[..]);
        frame::Settings::new().encode(&mut wire);
        frame::Settings::ack().encode(&mut wire);
        peer.conn.recv(&mut wire, now);
        peer.read_frames();
        peer.collect_events();
        peer.events.clear();
        peer
    }

    /// A client under test, with the server's SETTINGS sent and the client's acknowledged.
    pub fn client(config: Config) -> RawPeer {
        let now = Instant::now();
        let mut peer = RawPeer {
            conn: Connection::new(config, now),
            now,
            encoder: hpack::Encoder::new(),
            decoder: hpack::Decoder::new(),
            events: Vec::new(),
        };
        let mut wire = BytesMut::new();
        frame::Settings::new().encode(&mut wire);
        frame::Settings::ack().encode(&mut wire);
        peer.conn.recv(&mut wire, now);
        peer.read_frames();
        peer.collect_events();
        peer.events.clear();
        peer
    }

    /// Sends frames to the connection under test.
    pub fn send(&mut self, frames: impl IntoIterator<Item = Frame>) {
        let mut wire = BytesMut::new();
        for frame in frames {
            frame.encode(&mut wire);
        }
        self.send_bytes(&mut wire);
    }

    pub fn send_bytes(&mut self, wire: &mut BytesMut) {
        self.conn.recv(wire, self.now);
        self.collect_events();
    }

    pub fn collect_events(&mut self) {
        self.events
            .extend(std::iter::from_fn(|| self.conn.poll_event()));
    }

    /// Everything the connection under test writes now, parsed (the client preface is
    /// skipped).
    pub fn read_frames(&mut self) -> Vec<Frame> {
        let mut wire = BytesMut::new();
        while self.conn.poll_transmit(self.now, &mut wire) {}
        self.collect_events();
        if wire.starts_with(frame::PREFACE) {
            let _ = wire.split_to(frame::PREFACE.len());
        }
        let mut frames = Vec::new();
        while let Some(frame) = frame::parse_frame(&mut wire, frame::MAX_FRAME_SIZE_LIMIT).unwrap()
        {
            frames.push(frame);
        }
        frames
    }

    /// A HEADERS frame with `fields` encoded by this peer's encoder.
    pub fn headers(&mut self, stream: u32, fields: &[HeaderField], end_stream: bool) -> Frame {
        let mut block = BytesMut::new();
        self.encoder.encode(fields, &mut block);
        frame::Headers::new(id(stream), block.freeze())
            .unwrap()
            .with_end_stream(end_stream)
            .into()
    }

    pub fn data(stream: u32, data: &'static [u8], end_stream: bool) -> Frame {
        frame::Data::new(id(stream), Bytes::from_static(data))
            .unwrap()
            .with_end_stream(end_stream)
            .into()
    }

    /// The GOAWAY among `frames`, if any.
    pub fn goaway(frames: &[Frame]) -> Option<&frame::GoAway> {
        frames.iter().find_map(|f| match f {
            Frame::GoAway(g) => Some(g),
            _ => None,
        })
    }

    pub fn resets(frames: &[Frame]) -> Vec<(u32, grpc_transport::ErrorCode)> {
        frames
            .iter()
            .filter_map(|f| match f {
                Frame::Reset(r) => Some((r.stream_id().get(), r.error_code())),
                _ => None,
            })
            .collect()
    }
}
