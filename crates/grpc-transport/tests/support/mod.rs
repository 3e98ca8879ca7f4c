//! Test harness for the sans-IO connection: two state machines wired back to back with a
//! fake clock, and a raw peer that speaks frames directly.

// Test support code: panicking on a broken invariant is the point.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use grpc_transport::ErrorCode;
use grpc_transport::connection::{Config, Connection, ConnectionError, Event};
use grpc_transport::frame::{self, Flags, Frame, FrameHeader, FrameType, StreamId};
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
        let moved = shuttle(
            &mut self.client,
            &mut self.server,
            self.now,
            true,
            &mut self.to_server,
        );
        self.collect_events();
        moved
    }

    /// One transmit from the server, delivered to the client.
    pub fn server_to_client(&mut self) -> bool {
        let moved = shuttle(
            &mut self.server,
            &mut self.client,
            self.now,
            false,
            &mut self.to_client,
        );
        self.collect_events();
        moved
    }

    fn collect_events(&mut self) {
        self.client_events
            .extend(std::iter::from_fn(|| self.client.poll_event()));
        self.server_events
            .extend(std::iter::from_fn(|| self.server.poll_event()));
    }

    /// Advances the fake clock, firing due timers on both sides, then drives.
    pub fn advance(&mut self, by: Duration) {
        let target = self.now + by;
        let mut last_fired = None;
        loop {
            let next = [self.client.poll_timeout(), self.server.poll_timeout()]
                .into_iter()
                .flatten()
                .filter(|&t| t <= target)
                .min();
            let Some(next) = next else { break };
            assert!(
                last_fired != Some(next),
                "a timer due at {next:?} did not fire"
            );
            last_fired = Some(next);
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

/// Everything `from` writes now, recorded into `seen` and delivered to `to`. Returns whether
/// bytes moved.
fn shuttle(
    from: &mut Connection,
    to: &mut Connection,
    now: Instant,
    from_client: bool,
    seen: &mut Vec<Frame>,
) -> bool {
    let mut wire = BytesMut::new();
    while from.poll_transmit(now, &mut wire) {}
    let moved = !wire.is_empty();
    record_frames(&wire, from_client, seen);
    to.recv(&mut wire, now);
    moved
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
        let mut peer = RawPeer::bare(config);
        let mut wire = BytesMut::from(&frame::PREFACE[..]);
        peer.handshake(&mut wire);
        peer
    }

    /// A client under test, with the server's SETTINGS sent and the client's acknowledged.
    pub fn client(config: Config) -> RawPeer {
        let mut peer = RawPeer::bare(config);
        peer.handshake(&mut BytesMut::new());
        peer
    }

    /// Appends an empty SETTINGS and an ACK of the connection's SETTINGS to `wire` (which
    /// may hold a preface), delivers it, and discards what the connection says back.
    fn handshake(&mut self, wire: &mut BytesMut) {
        frame::Settings::new().encode(wire);
        frame::Settings::ack().encode(wire);
        self.conn.recv(wire, self.now);
        self.read_frames();
        self.collect_events();
        self.events.clear();
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

// ---- Helpers added for the connection test suites ---------------------------------------

/// The bytes of one frame with any header and payload, including frames the typed
/// constructors refuse to build (stream 0 DATA, zero WINDOW_UPDATE increments, ...).
pub fn raw_frame(kind: FrameType, flags: Flags, stream: u32, payload: &[u8]) -> BytesMut {
    let mut wire = BytesMut::new();
    FrameHeader {
        length: u32::try_from(payload.len()).unwrap(),
        kind,
        flags,
        stream_id: StreamId::from_wire(stream),
    }
    .encode(&mut wire);
    wire.extend_from_slice(payload);
    wire
}

/// A request with one extra regular field.
pub fn request_with(
    path: &'static str,
    name: &'static str,
    value: impl Into<Bytes>,
) -> Vec<HeaderField> {
    let mut fields = request(path);
    fields.push(HeaderField::new(name, value.into()));
    fields
}

/// A header value of `len` octets that Huffman coding cannot shrink much.
pub fn incompressible(len: usize) -> Bytes {
    let mut state = 0x2545_f491_u32;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            // Printable, no leading/trailing whitespace issue: '!'..='~'.
            b'!' + (state % 94) as u8
        })
        .collect::<Vec<u8>>()
        .into()
}

/// `(stream, code)` of every RST_STREAM among `frames`.
pub fn resets(frames: &[Frame]) -> Vec<(u32, ErrorCode)> {
    RawPeer::resets(frames)
}

/// Every GOAWAY among `frames`.
pub fn goaways(frames: &[Frame]) -> Vec<&frame::GoAway> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::GoAway(g) => Some(g),
            _ => None,
        })
        .collect()
}

/// `(stream, increment)` of every WINDOW_UPDATE among `frames`.
pub fn window_updates(frames: &[Frame]) -> Vec<(u32, u32)> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::WindowUpdate(w) => Some((w.stream_id().get(), w.increment())),
            _ => None,
        })
        .collect()
}

/// `(stream, payload length, end_stream)` of every DATA frame among `frames`.
pub fn data_frames(frames: &[Frame]) -> Vec<(u32, usize, bool)> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::Data(d) => Some((d.stream_id().get(), d.data().len(), d.is_end_stream())),
            _ => None,
        })
        .collect()
}

/// Every PING among `frames` (ACKs included).
pub fn pings(frames: &[Frame]) -> Vec<frame::Ping> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::Ping(p) => Some(*p),
            _ => None,
        })
        .collect()
}

/// Every SETTINGS frame among `frames` that is not an ACK.
pub fn settings(frames: &[Frame]) -> Vec<frame::Settings> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::Settings(s) if !s.is_ack() => Some(*s),
            _ => None,
        })
        .collect()
}

/// How many SETTINGS ACKs are among `frames`.
pub fn settings_acks(frames: &[Frame]) -> usize {
    frames
        .iter()
        .filter(|f| matches!(f, Frame::Settings(s) if s.is_ack()))
        .count()
}

/// Stream ids of every HEADERS frame among `frames`, in order.
pub fn headers_streams(frames: &[Frame]) -> Vec<u32> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::Headers(h) => Some(h.stream_id().get()),
            _ => None,
        })
        .collect()
}

/// The `Closed` event among `events`, if any.
pub fn closed(events: &[Event]) -> Option<&Option<ConnectionError>> {
    events.iter().find_map(|e| match e {
        Event::Closed { error } => Some(error),
        _ => None,
    })
}

/// `(stream, code, remote, never_processed)` of every `StreamReset` event.
pub fn stream_resets(events: &[Event]) -> Vec<(u32, ErrorCode, bool, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::StreamReset {
                stream,
                code,
                remote,
                never_processed,
            } => Some((stream.get(), *code, *remote, *never_processed)),
            _ => None,
        })
        .collect()
}

/// Streams that got a `Headers` event, in order.
pub fn headers_events(events: &[Event]) -> Vec<u32> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Headers { stream, .. } => Some(stream.get()),
            _ => None,
        })
        .collect()
}

/// The value of `name` in `fields`.
pub fn field<'a>(fields: &'a [HeaderField], name: &str) -> Option<&'a [u8]> {
    fields
        .iter()
        .find(|f| f.name.as_ref() == name.as_bytes())
        .map(|f| f.value.as_ref())
}

/// Whether a connection error GOAWAY with `code` is among `frames`.
pub fn has_goaway(frames: &[Frame], code: ErrorCode) -> bool {
    goaways(frames).iter().any(|g| g.error_code() == code)
}

/// A DATA frame of `len` zero octets.
pub fn data_frame(stream: u32, len: usize) -> Frame {
    frame::Data::new(id(stream), Bytes::from(vec![0u8; len]))
        .unwrap()
        .into()
}

impl Pair {
    /// Transfers `total` octets from server to client on a new stream, the client
    /// releasing capacity at once and the fake clock advancing 1 ms each way. Returns the
    /// round trips taken.
    pub fn download(&mut self, total: usize) -> usize {
        let stream = self.client.open_stream(request("/"), true).unwrap();
        self.drive();
        self.server
            .send_headers(stream, response("200"), false)
            .unwrap();
        self.server
            .send_data(stream, Bytes::from(vec![9u8; total]), true)
            .unwrap();
        let mut received = 0;
        for round in 1..10_000 {
            self.server_to_client();
            self.now += Duration::from_millis(1);
            received += self.release_client_data();
            self.client_to_server();
            self.now += Duration::from_millis(1);
            if received == total {
                return round;
            }
        }
        panic!("transfer stalled at {received} of {total}");
    }

    /// Hands every DATA octet the client received back to its connection, as an
    /// application that consumes data promptly would. Returns how many octets.
    pub fn release_client_data(&mut self) -> usize {
        release_all(&mut self.client, &mut self.client_events)
    }

    /// The same on the server side.
    pub fn release_server_data(&mut self) -> usize {
        release_all(&mut self.server, &mut self.server_events)
    }
}

/// Releases the data of every not yet released `Data` event (events are replaced by
/// zero-length markers so a second call does not release twice).
fn release_all(conn: &mut Connection, events: &mut [Event]) -> usize {
    let mut total = 0;
    for event in events.iter_mut() {
        if let Event::Data { stream, data, .. } = event {
            if !data.is_empty() {
                conn.release_capacity(*stream, data.len());
                total += data.len();
                *data = Bytes::new();
            }
        }
    }
    total
}

impl RawPeer {
    /// A server under test with fixed 65,535-octet windows (so no BDP), stream 1 open.
    pub fn server_with_fixed_windows() -> RawPeer {
        let mut config = Config::server();
        config.initial_stream_window = Some(65_535);
        config.initial_connection_window = Some(65_535);
        let mut peer = RawPeer::server(config);
        let headers = peer.headers(1, &request("/"), false);
        peer.send([headers]);
        peer.read_frames();
        peer
    }

    /// A client under test whose stream 1 has `queued` octets waiting, after the raw server
    /// opened the connection window wide so only the stream window limits what it sends.
    /// Returns the peer and the frames the client wrote.
    pub fn client_with_queued_stream(queued: usize) -> (RawPeer, Vec<Frame>) {
        let mut peer = RawPeer::client(Config::client());
        peer.send([RawPeer::window_update(0, 1 << 30)]);
        let stream = peer.conn.open_stream(request("/up"), false).unwrap();
        peer.conn
            .send_data(stream, Bytes::from(vec![7u8; queued]), false)
            .unwrap();
        let frames = peer.read_frames();
        (peer, frames)
    }

    /// A connection under test with nothing exchanged yet: no preface, no SETTINGS.
    pub fn bare(config: Config) -> RawPeer {
        let now = Instant::now();
        RawPeer {
            conn: Connection::new(config, now),
            now,
            encoder: hpack::Encoder::new(),
            decoder: hpack::Decoder::new(),
            events: Vec::new(),
        }
    }

    /// Sends one raw frame (see [`raw_frame`]).
    pub fn send_raw(&mut self, kind: FrameType, flags: Flags, stream: u32, payload: &[u8]) {
        let mut wire = raw_frame(kind, flags, stream, payload);
        self.send_bytes(&mut wire);
    }

    /// Advances the fake clock by `by`, firing the connection's timers on the way (the
    /// peer stays silent: nothing is read back).
    pub fn advance(&mut self, by: Duration) {
        let target = self.now + by;
        let mut last_fired = None;
        while let Some(next) = self.conn.poll_timeout().filter(|&t| t <= target) {
            assert!(
                last_fired != Some(next),
                "a timer due at {next:?} did not fire"
            );
            last_fired = Some(next);
            self.now = self.now.max(next);
            self.conn.handle_timeout(self.now);
            self.collect_events();
        }
        self.now = target;
        self.conn.handle_timeout(self.now);
        self.collect_events();
    }

    /// Decodes the header blocks among `frames` (HEADERS plus CONTINUATION) with this
    /// peer's decoder: `(stream, fields, end_stream)`.
    pub fn decode_headers(&mut self, frames: &[Frame]) -> Vec<(u32, Vec<HeaderField>, bool)> {
        let mut blocks = Vec::new();
        let mut partial: Option<(u32, BytesMut, bool)> = None;
        for frame in frames {
            match frame {
                Frame::Headers(h) => {
                    let mut block = BytesMut::from(&h.fragment()[..]);
                    if h.is_end_headers() {
                        blocks.push((
                            h.stream_id().get(),
                            block.split().freeze(),
                            h.is_end_stream(),
                        ));
                    } else {
                        partial = Some((h.stream_id().get(), block, h.is_end_stream()));
                    }
                }
                Frame::Continuation(c) => {
                    let (stream, mut block, end) = partial.take().expect("CONTINUATION alone");
                    block.extend_from_slice(c.fragment());
                    if c.is_end_headers() {
                        blocks.push((stream, block.freeze(), end));
                    } else {
                        partial = Some((stream, block, end));
                    }
                }
                _ => {}
            }
        }
        blocks
            .into_iter()
            .map(|(stream, block, end)| {
                let mut fields = Vec::new();
                self.decoder
                    .decode(&block, |f| fields.push(f))
                    .expect("header block decodes");
                (stream, fields, end)
            })
            .collect()
    }

    /// The `Closed` event, if the connection under test reported one.
    pub fn closed(&self) -> Option<&Option<ConnectionError>> {
        closed(&self.events)
    }

    /// A WINDOW_UPDATE frame.
    pub fn window_update(stream: u32, increment: u32) -> Frame {
        frame::WindowUpdate::new(StreamId::from_wire(stream), increment)
            .unwrap()
            .into()
    }

    /// An RST_STREAM frame.
    pub fn reset(stream: u32, code: ErrorCode) -> Frame {
        frame::Reset::new(id(stream), code).unwrap().into()
    }
}
