//! The HTTP/2 connection as a sans-IO state machine (RFC 9113 §3–§8).
//!
//! [`Connection`] owns everything about one HTTP/2 connection except the socket and the
//! clock: stream states, both levels of flow control, settings, the HPACK contexts, pings,
//! keepalive, GOAWAY and the abuse limits. It is driven from outside:
//!
//! - bytes read from the transport go in through [`Connection::recv`];
//! - application calls ([`Connection::open_stream`], [`Connection::send_data`], ...) queue
//!   work;
//! - [`Connection::poll_transmit`] appends the frames to write, control frames first, then
//!   stream data round-robin across streams, within the flow-control windows;
//! - [`Connection::poll_event`] yields what the application must know ([`Event`]);
//! - [`Connection::poll_timeout`] says when [`Connection::handle_timeout`] must be called.
//!
//! Time is always an argument, never read from the OS, so tests drive two connections
//! against each other with a fake clock, frame by frame. The tokio driver in
//! [`crate::driver`] is a thin shell around this type.
//!
//! # Example
//!
//! A client and a server exchange a request and a response through in-memory buffers:
//!
//! ```
//! use std::time::Instant;
//! use bytes::{Bytes, BytesMut};
//! use grpc_transport::connection::{Config, Connection, Event};
//! use grpc_transport::hpack::HeaderField;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let now = Instant::now();
//! let mut client = Connection::new(Config::client(), now);
//! let mut server = Connection::new(Config::server(), now);
//!
//! let request = vec![
//!     HeaderField::new(":method", "GET"),
//!     HeaderField::new(":scheme", "http"),
//!     HeaderField::new(":path", "/"),
//!     HeaderField::new(":authority", "example.com"),
//! ];
//! let stream = client.open_stream(request, true)?;
//!
//! // Shuttle bytes both ways until neither side has anything left to say.
//! let mut wire = BytesMut::new();
//! let mut server_events = Vec::new();
//! let mut client_events = Vec::new();
//! for _ in 0..4 {
//!     client.poll_transmit(now, &mut wire);
//!     server.recv(&mut wire, now);
//!     while let Some(event) = server.poll_event() {
//!         if let Event::Headers { stream, .. } = event {
//!             server.send_headers(stream, vec![HeaderField::new(":status", "200")], false)?;
//!             server.send_data(stream, Bytes::from_static(b"hello"), true)?;
//!         }
//!         server_events.push(event);
//!     }
//!     server.poll_transmit(now, &mut wire);
//!     client.recv(&mut wire, now);
//!     client_events.extend(std::iter::from_fn(|| client.poll_event()));
//! }
//! assert!(client_events.contains(&Event::Data {
//!     stream,
//!     data: Bytes::from_static(b"hello"),
//!     end_stream: true,
//! }));
//! # Ok(())
//! # }
//! ```

mod bdp;
mod config;
mod event;
mod flood;
mod flow_control;
mod keepalive;
mod message;
mod recv;
mod send;
mod stream;

pub use config::{
    ASSUMED_MAX_CONCURRENT_STREAMS, BDP_WINDOW_LIMIT, Config, DEFAULT_MAX_HEADER_LIST_SIZE,
    DEFAULT_MAX_QUEUED_CONTROL_FRAMES, DEFAULT_MAX_SEND_BUFFER_PER_STREAM,
    DEFAULT_SETTINGS_ACK_TIMEOUT, FloodLimit, KeepaliveConfig, PingPolicy, Role,
};
pub use event::{ConnectionError, Event, OpenError, StreamError};
pub use send::TRANSMIT_BATCH_LIMIT;
pub use stream::State as StreamState;

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use self::bdp::BdpEstimator;
use self::flood::FloodBudget;
use self::flow_control::{RecvWindow, SendWindow};
use self::keepalive::{Keepalive, PingEnforcer};
use self::message::BlockKind;
use self::stream::{SendItem, Stream};
use crate::ErrorCode;
use crate::frame::{
    DEFAULT_INITIAL_WINDOW_SIZE, DEFAULT_MAX_FRAME_SIZE, Frame, GoAway, Ping, Reset, Settings,
    StreamId, WindowUpdate,
};
use crate::hpack::{self, HeaderField};

/// The payload of the PING that separates the two GOAWAYs of a graceful shutdown.
const SHUTDOWN_PING_PAYLOAD: [u8; 8] = *b"shutdown";

/// How long a graceful shutdown waits for the ACK of its PING before sending the final
/// GOAWAY anyway (gRPC-Go waits 5 s too): a peer that never answers must not keep the
/// connection open forever.
const SHUTDOWN_PING_TIMEOUT: Duration = Duration::from_secs(5);

/// How long frames on a stream we reset are silently ignored (§5.1 "closed": the peer may
/// have sent them before it saw our RST_STREAM).
const RESET_STREAM_MEMORY: Duration = Duration::from_secs(30);
/// How many recently reset streams we remember at most.
const RESET_STREAM_MEMORY_LEN: usize = 1024;

/// The settings the peer advertised (RFC 9113 §6.5.2), with defaults until its SETTINGS
/// arrive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerSettings {
    /// SETTINGS_HEADER_TABLE_SIZE: the dynamic table our encoder may use.
    pub header_table_size: u32,
    /// SETTINGS_ENABLE_PUSH.
    pub enable_push: bool,
    /// SETTINGS_MAX_CONCURRENT_STREAMS: streams we may open at once.
    pub max_concurrent_streams: u32,
    /// SETTINGS_INITIAL_WINDOW_SIZE: the send window of each new stream.
    pub initial_window_size: u32,
    /// SETTINGS_MAX_FRAME_SIZE: the largest frame payload we may send.
    pub max_frame_size: u32,
    /// SETTINGS_MAX_HEADER_LIST_SIZE: advisory limit on header lists we send.
    pub max_header_list_size: Option<u32>,
}

impl PeerSettings {
    fn initial(role: Role) -> PeerSettings {
        PeerSettings {
            header_table_size: hpack::DEFAULT_HEADER_TABLE_SIZE as u32,
            enable_push: role == Role::Server,
            max_concurrent_streams: match role {
                Role::Client => ASSUMED_MAX_CONCURRENT_STREAMS,
                Role::Server => u32::MAX,
            },
            initial_window_size: DEFAULT_INITIAL_WINDOW_SIZE,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            max_header_list_size: None,
        }
    }
}

/// A header block being assembled from HEADERS and CONTINUATION frames (§6.10).
#[derive(Debug)]
struct PartialBlock {
    stream: StreamId,
    end_stream: bool,
    fragments: BytesMut,
    /// The HEADERS frame's deferred stream error (self-dependent priority).
    stream_error: Option<crate::frame::FrameError>,
}

/// Where a graceful shutdown stands (gRPC-Go's two-phase GOAWAY).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shutdown {
    /// Nothing started.
    None,
    /// GOAWAY(2^31-1) and a PING are queued or sent: streams already in flight are still
    /// accepted. The real GOAWAY follows the PING's ACK.
    AwaitingPingAck,
    /// The final GOAWAY was sent: no new streams; close once the open ones finish.
    Draining,
}

/// Multiplicative hashing for stream ids: they are unique integers, so no keyed hash is
/// needed, and this is much cheaper than SipHash on the per-frame lookup.
#[derive(Default)]
pub(crate) struct StreamIdHasher(u64);

impl Hasher for StreamIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, id: u32) {
        self.0 = u64::from(id).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

pub(crate) type StreamMap = HashMap<u32, Stream, BuildHasherDefault<StreamIdHasher>>;

/// One HTTP/2 connection, client or server, without I/O. See the [module docs](self).
#[derive(Debug)]
pub struct Connection {
    config: Config,
    role: Role,

    // Handshake.
    /// Server: the client preface was received. Client: always true.
    preface_received: bool,
    /// Client: the preface and our SETTINGS were written. Server: our SETTINGS were written.
    preface_sent: bool,
    /// The peer's first SETTINGS arrived (it must be its first frame, §3.4).
    peer_settings_received: bool,
    /// Our SETTINGS frames not yet acknowledged, with their deadlines (§6.5.3).
    settings_in_flight: VecDeque<(Settings, Instant)>,
    /// SETTINGS_INITIAL_WINDOW_SIZE as we last advertised it.
    local_stream_window: u32,
    /// The stream receive window we enforce: `local_stream_window`, except that a decrease
    /// only takes effect once the peer acknowledges it, because "the sender might send data
    /// that exceeds the lower limit prior to processing the SETTINGS frame" (§6.9.3).
    recv_stream_window: u32,
    peer: PeerSettings,

    encoder: hpack::Encoder,
    decoder: hpack::Decoder,
    partial: Option<PartialBlock>,
    /// Reused buffer for encoding header blocks.
    block_buf: BytesMut,

    streams: StreamMap,
    /// Next id for a stream we open.
    next_stream_id: u32,
    /// Highest id of a stream the peer opened (or we refused).
    last_peer_stream_id: u32,
    /// Streams we opened that count against the peer's MAX_CONCURRENT_STREAMS.
    active_local: u32,
    /// Streams the peer opened that count against ours.
    active_peer: u32,
    /// Streams we opened, waiting for a concurrency slot, in id order.
    pending_open: VecDeque<StreamId>,
    /// Streams we reset recently: late frames on them are ignored.
    recently_reset: VecDeque<(u32, Instant)>,

    conn_recv: RecvWindow,
    conn_send: SendWindow,
    bdp: Option<BdpEstimator>,

    /// Control frames to write before any stream data.
    control: VecDeque<Frame>,
    /// How many of the queued control frames answer the peer (ACKs, resets).
    queued_responses: usize,
    /// Streams with something to write, in round-robin order.
    ready: VecDeque<StreamId>,

    keepalive: Keepalive,
    enforcer: Option<PingEnforcer>,

    shutdown: Shutdown,
    /// While [`Shutdown::AwaitingPingAck`]: when to stop waiting for the PING's ACK.
    shutdown_ping_deadline: Option<Instant>,
    /// The last-stream-id of the GOAWAY we sent, if any.
    goaway_sent: Option<StreamId>,
    /// The last-stream-id of the GOAWAY the peer sent, if any.
    goaway_received: Option<(StreamId, ErrorCode, Bytes)>,
    /// A client ran out of stream ids: it opens no more streams and closes when idle.
    ids_exhausted: bool,
    /// The latest time passed in: API calls that need a time use it.
    now: Instant,

    /// Server: when the connection last became idle (no open streams).
    idle_since: Option<Instant>,
    /// Server: when max connection age triggers a graceful shutdown.
    age_deadline: Option<Instant>,
    /// Server: when the age grace period ends and the connection is closed forcibly.
    grace_deadline: Option<Instant>,

    reset_budget: FloodBudget,
    empty_frame_budget: FloodBudget,

    events: VecDeque<Event>,
    /// Streams with `released` octets to report.
    released: Vec<StreamId>,
    /// The connection is finished; only queued control frames (GOAWAY) remain to write.
    closed: bool,
}

impl Connection {
    /// A new connection in the role given by `config`, established at `now`.
    pub fn new(config: Config, now: Instant) -> Connection {
        let role = config.role;
        let stream_window = config.stream_window();
        let mut decoder = hpack::Decoder::new();
        decoder.set_max_header_list_size(config.max_header_list_size as usize);
        let bdp = config
            .bdp_enabled()
            .then(|| BdpEstimator::new(DEFAULT_INITIAL_WINDOW_SIZE));
        let mut conn_recv = RecvWindow::new(DEFAULT_INITIAL_WINDOW_SIZE);
        let initial_conn_update = conn_recv.raise_target(config.connection_window());
        let enforcer = (role == Role::Server).then(|| PingEnforcer::new(config.ping_policy));
        let keepalive = Keepalive::new(&config.keepalive, role == Role::Server, now);
        let mut connection = Connection {
            role,
            preface_received: role == Role::Client,
            preface_sent: false,
            peer_settings_received: false,
            settings_in_flight: VecDeque::new(),
            local_stream_window: stream_window,
            recv_stream_window: stream_window.max(DEFAULT_INITIAL_WINDOW_SIZE),
            peer: PeerSettings::initial(role),
            encoder: hpack::Encoder::new(),
            decoder,
            partial: None,
            block_buf: BytesMut::new(),
            streams: StreamMap::default(),
            next_stream_id: match role {
                Role::Client => 1,
                Role::Server => 2,
            },
            last_peer_stream_id: 0,
            active_local: 0,
            active_peer: 0,
            pending_open: VecDeque::new(),
            recently_reset: VecDeque::new(),
            conn_recv,
            conn_send: SendWindow::new(DEFAULT_INITIAL_WINDOW_SIZE),
            bdp,
            control: VecDeque::new(),
            queued_responses: 0,
            ready: VecDeque::new(),
            keepalive,
            enforcer,
            shutdown: Shutdown::None,
            shutdown_ping_deadline: None,
            goaway_sent: None,
            goaway_received: None,
            ids_exhausted: false,
            now,
            idle_since: Some(now),
            age_deadline: config.max_connection_age.map(|age| now + age),
            grace_deadline: None,
            reset_budget: FloodBudget::new(config.reset_flood, now),
            empty_frame_budget: FloodBudget::new(config.empty_frame_flood, now),
            events: VecDeque::new(),
            released: Vec::new(),
            closed: false,
            config,
        };
        // Our SETTINGS go first (after the client preface), with the connection window
        // increase right behind them (§6.9.2: the connection window is not a setting).
        let settings = connection.local_settings();
        connection
            .settings_in_flight
            .push_back((settings, now + connection.config.settings_ack_timeout));
        connection.control.push_back(settings.into());
        if let Some(increment) = initial_conn_update {
            connection.push_window_update(StreamId::ZERO, increment);
        }
        connection
    }

    fn local_settings(&self) -> Settings {
        let config = &self.config;
        let mut settings = Settings::new();
        if config.header_table_size != hpack::DEFAULT_HEADER_TABLE_SIZE as u32 {
            settings = settings.with_header_table_size(config.header_table_size);
        }
        if self.role == Role::Client {
            // We never accept pushed streams (§8.4).
            settings = settings.with_enable_push(false);
        }
        if let Some(max) = config.max_concurrent_streams {
            settings = settings.with_max_concurrent_streams(max);
        }
        if self.local_stream_window != DEFAULT_INITIAL_WINDOW_SIZE {
            settings = settings
                .with_initial_window_size(self.local_stream_window)
                .unwrap_or(settings);
        }
        if config.max_frame_size != DEFAULT_MAX_FRAME_SIZE {
            settings = settings
                .with_max_frame_size(config.max_frame_size)
                .unwrap_or(settings);
        }
        settings.with_max_header_list_size(config.max_header_list_size)
    }

    /// Client or server.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The options this connection was created with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The peer's settings (defaults until its SETTINGS arrive).
    pub fn peer_settings(&self) -> &PeerSettings {
        &self.peer
    }

    /// Whether the peer's SETTINGS arrived.
    pub fn is_connected(&self) -> bool {
        self.peer_settings_received
    }

    /// Whether the connection is finished. Once true and [`Connection::poll_transmit`]
    /// writes nothing more, close the transport.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Whether the driver should read more bytes. `false` while too many control responses
    /// wait to be written (the peer is flooding us and not reading) or once closed.
    pub fn wants_read(&self) -> bool {
        !self.closed && self.queued_responses < self.config.max_queued_control_frames
    }

    /// Whether a new stream could be opened now without waiting: the connection is not
    /// going away and the peer's concurrency limit has room.
    pub fn can_open_stream(&self) -> bool {
        self.role == Role::Client
            && !self.closed
            && !self.is_going_away()
            && !self.ids_exhausted
            && self.pending_open.is_empty()
            && self.active_local < self.peer.max_concurrent_streams
    }

    fn is_going_away(&self) -> bool {
        self.goaway_received.is_some()
            || self.goaway_sent.is_some()
            || self.shutdown != Shutdown::None
    }

    /// Streams open (or half-closed) right now, both directions, plus streams waiting for a
    /// concurrency slot.
    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    /// Streams we opened that wait for the peer's MAX_CONCURRENT_STREAMS to allow them.
    pub fn pending_open_streams(&self) -> usize {
        self.pending_open.len()
    }

    /// The receive window size the connection currently aims for on each stream (grown by
    /// BDP estimation).
    pub fn stream_recv_window_target(&self) -> u32 {
        self.local_stream_window
    }

    /// The connection-level receive window size we aim for (grown by BDP estimation).
    pub fn connection_recv_window_target(&self) -> u32 {
        self.conn_recv.target()
    }

    /// What the peer may still send on `stream` before it must wait for credit.
    pub fn stream_recv_window(&self, stream: StreamId) -> Option<i64> {
        self.streams
            .get(&stream.get())
            .map(|s| s.recv_window.available())
    }

    /// What we may still send on `stream` (0 if exhausted).
    pub fn stream_send_window(&self, stream: StreamId) -> Option<u32> {
        self.streams
            .get(&stream.get())
            .map(|s| s.send_window.available())
    }

    /// What we may still send on the connection as a whole.
    pub fn connection_send_window(&self) -> i64 {
        self.conn_send.get()
    }

    /// Data queued on `stream` and not yet written.
    pub fn buffered_send(&self, stream: StreamId) -> Option<usize> {
        self.streams.get(&stream.get()).map(|s| s.buffered)
    }

    /// The current keepalive time (doubled after a "too_many_pings" GOAWAY).
    pub fn keepalive_time(&self) -> Option<Duration> {
        self.keepalive.time()
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    // ---- Application API -------------------------------------------------------------

    /// Opens a stream with request headers (client only). The stream id is allocated now;
    /// the HEADERS frame goes out as soon as the peer's MAX_CONCURRENT_STREAMS allows, in
    /// id order. With `end_stream` the request has no body.
    pub fn open_stream(
        &mut self,
        fields: Vec<HeaderField>,
        end_stream: bool,
    ) -> Result<StreamId, OpenError> {
        if self.role != Role::Client {
            return Err(OpenError::NotClient);
        }
        if self.closed || self.is_going_away() {
            return Err(OpenError::GoingAway);
        }
        if self.ids_exhausted {
            return Err(OpenError::StreamIdsExhausted);
        }
        message::validate(&fields, BlockKind::Request).map_err(OpenError::InvalidHeaders)?;
        let Some(id) =
            StreamId::new(self.next_stream_id).filter(|id| id.get() <= self.config.max_stream_id)
        else {
            self.ids_exhausted = true;
            self.maybe_finish_going_away();
            return Err(OpenError::StreamIdsExhausted);
        };
        self.next_stream_id += 2;
        if self.next_stream_id > self.config.max_stream_id {
            // This is the last stream: close the connection once it is done, so the
            // application moves to a fresh one (gRPC-Go does the same).
            self.ids_exhausted = true;
        }
        let mut stream = Stream::new(id, self.peer.initial_window_size, self.recv_stream_window);
        stream.headers_queued = true;
        stream.end_queued = end_stream;
        stream
            .queue
            .push_back(SendItem::Headers { fields, end_stream });
        self.streams.insert(id.get(), stream);
        self.pending_open.push_back(id);
        Ok(id)
    }

    /// Queues response headers (server) or, on either side, a first header block for a
    /// stream that has none yet.
    pub fn send_headers(
        &mut self,
        stream: StreamId,
        fields: Vec<HeaderField>,
        end_stream: bool,
    ) -> Result<(), StreamError> {
        let s = self.sendable_stream(stream)?;
        if s.headers_queued {
            return Err(StreamError::InvalidState);
        }
        s.headers_queued = true;
        s.end_queued = end_stream;
        s.queue.push_back(SendItem::Headers { fields, end_stream });
        self.schedule(stream);
        Ok(())
    }

    /// Queues body data. It goes out as the flow-control windows allow; the application
    /// should stop queueing while [`Connection::buffered_send`] exceeds
    /// [`Config::max_send_buffer_per_stream`] and resume on
    /// [`Event::SendBufferReleased`].
    pub fn send_data(
        &mut self,
        stream: StreamId,
        data: Bytes,
        end_stream: bool,
    ) -> Result<(), StreamError> {
        let s = self.sendable_stream(stream)?;
        if !s.headers_queued {
            return Err(StreamError::InvalidState);
        }
        s.end_queued = end_stream;
        s.buffered += data.len();
        s.queue.push_back(SendItem::Data { data, end_stream });
        self.schedule(stream);
        Ok(())
    }

    /// Queues trailers, ending the stream.
    pub fn send_trailers(
        &mut self,
        stream: StreamId,
        fields: Vec<HeaderField>,
    ) -> Result<(), StreamError> {
        let s = self.sendable_stream(stream)?;
        if !s.headers_queued {
            return Err(StreamError::InvalidState);
        }
        s.end_queued = true;
        s.queue.push_back(SendItem::Trailers { fields });
        self.schedule(stream);
        Ok(())
    }

    fn sendable_stream(&mut self, stream: StreamId) -> Result<&mut Stream, StreamError> {
        if self.closed {
            return Err(StreamError::Reset(ErrorCode::CANCEL));
        }
        let s = self
            .streams
            .get_mut(&stream.get())
            .ok_or(StreamError::Unknown)?;
        if s.end_queued {
            return Err(StreamError::SendClosed);
        }
        Ok(s)
    }

    /// Resets a stream (RST_STREAM with `code`), dropping whatever it still had queued. A
    /// stream whose HEADERS never went out is dropped without a frame.
    pub fn reset_stream(&mut self, stream: StreamId, code: ErrorCode) -> Result<(), StreamError> {
        let s = self
            .streams
            .get(&stream.get())
            .ok_or(StreamError::Unknown)?;
        let on_wire = s.headers_written || s.recv_headers != stream::RecvHeaders::None;
        if on_wire {
            self.push_reset(stream, code, false);
        }
        self.remember_reset(stream);
        self.remove_stream(stream);
        Ok(())
    }

    /// The application will not read the rest of what the peer sends on `stream`.
    ///
    /// - If the peer already finished sending, nothing happens.
    /// - A server whose response is complete (END_STREAM queued) asks the client to stop
    ///   sending with RST_STREAM NO_ERROR (RFC 9113 §8.1), sent right behind the last frame
    ///   of the response, never ahead of it; until then the rest of the request is dropped.
    /// - Otherwise the stream is cancelled (RST_STREAM CANCEL, §8.7): a client that no longer
    ///   wants the response, or a server that has not finished answering.
    pub fn stop_receiving(&mut self, stream: StreamId) -> Result<(), StreamError> {
        let role = self.role;
        let s = self
            .streams
            .get_mut(&stream.get())
            .ok_or(StreamError::Unknown)?;
        if s.recv_end {
            return Ok(());
        }
        if role == Role::Server && s.end_queued {
            if !(s.end_written && s.queue.is_empty()) {
                s.discard_recv = true;
                return Ok(());
            }
            return self.reset_stream(stream, ErrorCode::NO_ERROR);
        }
        self.reset_stream(stream, ErrorCode::CANCEL)
    }

    /// The application consumed `len` octets of data received on `stream`: credit them to
    /// the stream window (a WINDOW_UPDATE goes out once a quarter of the window is due).
    /// Unknown or closed streams are ignored.
    pub fn release_capacity(&mut self, stream: StreamId, len: usize) {
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        let Some(s) = self.streams.get_mut(&stream.get()) else {
            return;
        };
        if s.recv_end {
            return; // the peer sends nothing more: no point in crediting
        }
        if let Some(increment) = s.recv_window.consume(len) {
            self.push_window_update(stream, increment);
        }
    }

    /// Sends a PING; its ACK comes back as [`Event::PingAck`]. The payloads `b"kpalive\0"`,
    /// `b"shutdown"` and `[2, 4, 16, 16, 9, 14, 7, 7]` are used internally (keepalive,
    /// graceful shutdown, BDP estimation); their ACKs are not reported.
    pub fn ping(&mut self, payload: [u8; 8]) {
        if !self.closed {
            self.control.push_back(Ping::new(payload).into());
        }
    }

    /// Starts a graceful shutdown. A server sends GOAWAY with last-stream-id 2^31-1 and a
    /// PING, then the real last-stream-id when the PING is acknowledged; streams below it
    /// finish; then the connection closes. A client sends GOAWAY at once, opens no more
    /// streams, and closes once its streams finish.
    pub fn shutdown(&mut self) {
        if self.closed || self.shutdown != Shutdown::None {
            return;
        }
        match self.role {
            Role::Server => {
                self.shutdown = Shutdown::AwaitingPingAck;
                self.shutdown_ping_deadline = Some(self.now + SHUTDOWN_PING_TIMEOUT);
                self.control
                    .push_back(GoAway::new(StreamId::MAX, ErrorCode::NO_ERROR).into());
                self.control
                    .push_back(Ping::new(SHUTDOWN_PING_PAYLOAD).into());
            }
            Role::Client => {
                self.shutdown = Shutdown::Draining;
                self.send_final_goaway(ErrorCode::NO_ERROR);
            }
        }
        self.maybe_finish_going_away();
    }

    /// Closes the connection at once: GOAWAY with `code`, every stream reset.
    pub fn close(&mut self, code: ErrorCode, reason: &'static str) {
        self.fail(code, reason);
    }

    // ---- Timers ---------------------------------------------------------------------

    /// When [`Connection::handle_timeout`] must next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        let has_streams = !self.streams.is_empty();
        [
            self.settings_in_flight
                .front()
                .map(|&(_, deadline)| deadline),
            self.keepalive.deadline(has_streams),
            self.idle_deadline(),
            (self.shutdown == Shutdown::None)
                .then_some(self.age_deadline)
                .flatten(),
            self.grace_deadline,
            (self.shutdown == Shutdown::AwaitingPingAck)
                .then_some(self.shutdown_ping_deadline)
                .flatten(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn idle_deadline(&self) -> Option<Instant> {
        let idle = self.config.max_connection_idle?;
        if self.role != Role::Server || self.shutdown != Shutdown::None {
            return None;
        }
        self.idle_since.map(|since| since + idle)
    }

    /// Runs whatever timers expired by `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        if self.closed {
            return;
        }
        if self
            .settings_in_flight
            .front()
            .is_some_and(|&(_, deadline)| now >= deadline)
        {
            // §6.5.3: the peer did not acknowledge in time.
            self.fail_with(
                ErrorCode::SETTINGS_TIMEOUT,
                "SETTINGS not acknowledged in time",
                ConnectionError::SettingsTimeout,
            );
            return;
        }
        match self.keepalive.poll(now, !self.streams.is_empty()) {
            keepalive::KeepaliveAction::None => {}
            keepalive::KeepaliveAction::SendPing => {
                self.control
                    .push_back(Ping::new(keepalive::KEEPALIVE_PING_PAYLOAD).into());
            }
            keepalive::KeepaliveAction::TimedOut => {
                tracing::debug!("keepalive ping not acknowledged; closing the connection");
                self.abort(Some(ConnectionError::KeepaliveTimeout), ErrorCode::CANCEL);
                return;
            }
        }
        if self.idle_deadline().is_some_and(|deadline| now >= deadline) {
            tracing::debug!("max connection idle reached; shutting down gracefully");
            self.shutdown();
        }
        if self.shutdown == Shutdown::None && self.age_deadline.is_some_and(|d| now >= d) {
            tracing::debug!("max connection age reached; shutting down gracefully");
            self.grace_deadline = self
                .config
                .max_connection_age_grace
                .map(|grace| now + grace);
            self.shutdown();
        }
        if self.shutdown == Shutdown::AwaitingPingAck
            && self.shutdown_ping_deadline.is_some_and(|d| now >= d)
        {
            tracing::debug!("shutdown PING not acknowledged in time; sending the final GOAWAY");
            self.start_draining();
        }
        if self.grace_deadline.is_some_and(|d| now >= d) {
            tracing::debug!("max connection age grace over; closing the connection");
            self.abort(None, ErrorCode::CANCEL);
        }
    }

    // ---- Shared helpers ---------------------------------------------------------------

    fn push_window_update(&mut self, stream: StreamId, increment: u32) {
        if let Ok(frame) = WindowUpdate::new(stream, increment) {
            self.control.push_back(frame.into());
        }
    }

    /// Queues RST_STREAM. `response` marks resets caused by the peer's frames, which count
    /// toward the queued-response limit.
    fn push_reset(&mut self, stream: StreamId, code: ErrorCode, response: bool) {
        if let Ok(frame) = Reset::new(stream, code) {
            self.control.push_back(frame.into());
            if response {
                self.queued_responses += 1;
            }
        }
    }

    fn remember_reset(&mut self, stream: StreamId) {
        let now = self.now;
        while self
            .recently_reset
            .front()
            .is_some_and(|&(_, at)| now.saturating_duration_since(at) > RESET_STREAM_MEMORY)
            || self.recently_reset.len() >= RESET_STREAM_MEMORY_LEN
        {
            self.recently_reset.pop_front();
        }
        self.recently_reset.push_back((stream.get(), now));
    }

    fn was_reset_recently(&self, stream: StreamId) -> bool {
        self.recently_reset.iter().any(|&(id, at)| {
            id == stream.get() && self.now.saturating_duration_since(at) <= RESET_STREAM_MEMORY
        })
    }

    fn schedule(&mut self, stream: StreamId) {
        if let Some(s) = self.streams.get_mut(&stream.get()) {
            if !s.scheduled && s.state() != stream::State::Idle {
                s.scheduled = true;
                self.ready.push_back(stream);
            }
        }
    }

    /// Drops a stream's state. Emits [`Event::StreamClosed`].
    fn remove_stream(&mut self, stream: StreamId) {
        let Some(s) = self.streams.remove(&stream.get()) else {
            return;
        };
        if s.counted {
            if self.is_local(stream) {
                self.active_local -= 1;
            } else {
                self.active_peer -= 1;
            }
        }
        if !s.headers_written && self.is_local(stream) {
            self.pending_open.retain(|&id| id != stream);
        }
        self.events.push_back(Event::StreamClosed { stream });
        if self.streams.is_empty() {
            self.idle_since = Some(self.now);
        }
        self.maybe_finish_going_away();
    }

    fn is_local(&self, stream: StreamId) -> bool {
        match self.role {
            Role::Client => stream.is_client_initiated(),
            Role::Server => stream.is_server_initiated(),
        }
    }

    /// Removes the stream if both sides are done and nothing is left to write.
    fn close_if_done(&mut self, stream: StreamId) {
        if self
            .streams
            .get(&stream.get())
            .is_some_and(|s| s.state() == stream::State::Closed && s.queue.is_empty())
        {
            self.remove_stream(stream);
        }
    }

    /// Second phase of a graceful shutdown: the final GOAWAY with the real last-stream-id.
    /// From now on new streams are refused; the connection closes once the open ones end.
    fn start_draining(&mut self) {
        self.shutdown = Shutdown::Draining;
        self.send_final_goaway(ErrorCode::NO_ERROR);
        self.maybe_finish_going_away();
    }

    /// The last-stream-id for a GOAWAY we send: the highest stream the peer opened, but
    /// never above one we sent before (§6.8: "Endpoints MUST NOT increase the value they
    /// send in the last stream identifier"; streams refused while draining are above it).
    fn goaway_last_stream_id(&self) -> StreamId {
        let last = self.last_peer_stream_id;
        StreamId::from_wire(self.goaway_sent.map_or(last, |sent| sent.get().min(last)))
    }

    fn send_final_goaway(&mut self, code: ErrorCode) {
        let last = self.goaway_last_stream_id();
        self.goaway_sent = Some(last);
        self.control.push_back(GoAway::new(last, code).into());
    }

    /// Once going away with no stream left, the connection is done.
    fn maybe_finish_going_away(&mut self) {
        if self.closed || !self.streams.is_empty() {
            return;
        }
        let draining = match self.shutdown {
            Shutdown::AwaitingPingAck => false,
            Shutdown::Draining => true,
            Shutdown::None => self.goaway_sent.is_some() || self.goaway_received.is_some(),
        };
        let exhausted = self.ids_exhausted && self.next_stream_id > self.config.max_stream_id;
        if !(draining || exhausted) {
            return;
        }
        if exhausted && self.goaway_sent.is_none() && self.goaway_received.is_none() {
            self.send_final_goaway(ErrorCode::NO_ERROR);
        }
        let error = match &self.goaway_received {
            Some((_, code, debug_data)) if *code != ErrorCode::NO_ERROR => {
                Some(ConnectionError::Remote {
                    code: *code,
                    debug_data: debug_data.clone(),
                })
            }
            _ => None,
        };
        self.closed = true;
        self.events.push_back(Event::Closed { error });
    }

    /// A connection error (§5.4.1): GOAWAY with `code`, every stream reset, closed.
    fn fail(&mut self, code: ErrorCode, reason: &'static str) {
        self.fail_with(code, reason, ConnectionError::Local { code, reason });
    }

    fn fail_with(&mut self, code: ErrorCode, reason: &'static str, error: ConnectionError) {
        if self.closed {
            return;
        }
        tracing::debug!(%code, reason, "HTTP/2 connection error");
        let last = self.goaway_last_stream_id();
        self.goaway_sent = Some(last);
        self.control.push_back(
            GoAway::new(last, code)
                .with_debug_data(Bytes::from_static(reason.as_bytes()))
                .into(),
        );
        self.abort(Some(error), code);
    }

    /// Ends the connection now: every stream is reported reset, nothing but queued control
    /// frames is written any more.
    fn abort(&mut self, error: Option<ConnectionError>, code: ErrorCode) {
        if self.closed {
            return;
        }
        let mut ids: Vec<u32> = self.streams.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let stream = StreamId::from_wire(id);
            self.events.push_back(Event::StreamReset {
                stream,
                code,
                remote: false,
                never_processed: false,
            });
            self.events.push_back(Event::StreamClosed { stream });
        }
        self.streams.clear();
        self.ready.clear();
        self.pending_open.clear();
        self.closed = true;
        self.events.push_back(Event::Closed { error });
    }
}
