//! Connection options: the settings we advertise, keepalive, connection lifetime and the
//! limits that protect us from abusive peers.
//!
//! Defaults follow `shared/design.md` (which follows gRPC-Go) unless a comment says otherwise.

use std::time::Duration;

use crate::frame::{DEFAULT_INITIAL_WINDOW_SIZE, DEFAULT_MAX_FRAME_SIZE};
use crate::hpack;

/// Which end of the connection we are. Decides stream-id parity (RFC 9113 §5.1.1), who sends
/// the preface (§3.4), and which keepalive rules apply.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Role {
    /// We open streams with odd ids and send the connection preface.
    Client,
    /// We accept streams and answer them.
    Server,
}

/// The largest window the BDP estimator grows to (gRPC-Go's `bdpLimit`).
pub const BDP_WINDOW_LIMIT: u32 = 16 * 1024 * 1024;

/// Default for [`Config::max_header_list_size`]: what the codec accepts (16 MiB).
pub const DEFAULT_MAX_HEADER_LIST_SIZE: u32 = hpack::DEFAULT_MAX_HEADER_LIST_SIZE as u32;

/// Default for [`Config::settings_ack_timeout`].
pub const DEFAULT_SETTINGS_ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// Default for [`Config::max_queued_control_frames`] (gRPC-Go's
/// `maxQueuedTransportResponseFrames`).
pub const DEFAULT_MAX_QUEUED_CONTROL_FRAMES: usize = 50;

/// Default for [`Config::max_send_buffer_per_stream`] (gRPC-Go's per-stream write quota).
pub const DEFAULT_MAX_SEND_BUFFER_PER_STREAM: usize = 64 * 1024;

/// The client assumes the peer allows this many concurrent streams until its SETTINGS arrive
/// (RFC 9113 §5.1.2 recommends at least 100).
pub const ASSUMED_MAX_CONCURRENT_STREAMS: u32 = 100;

/// Options for one HTTP/2 connection. Build with [`Config::client`] or [`Config::server`]
/// and adjust fields.
///
/// ```
/// use std::time::Duration;
/// use grpc_transport::connection::Config;
///
/// let mut config = Config::server();
/// config.max_concurrent_streams = Some(256);
/// config.keepalive.time = Some(Duration::from_secs(60));
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// Client or server.
    pub role: Role,
    /// SETTINGS_HEADER_TABLE_SIZE we advertise: how large a dynamic table the peer's encoder
    /// may use for headers it sends us (RFC 9113 §6.5.2). Default 4,096.
    pub header_table_size: u32,
    /// SETTINGS_MAX_CONCURRENT_STREAMS we advertise: how many streams the peer may open.
    /// `None` sends no value (unlimited). Default: `None`. A client never accepts streams
    /// (we refuse server push), so it advertises nothing.
    pub max_concurrent_streams: Option<u32>,
    /// SETTINGS_INITIAL_WINDOW_SIZE we advertise (stream-level receive window). `None` means
    /// 65,535 and lets the BDP estimator grow it; `Some` fixes it and turns BDP off.
    pub initial_stream_window: Option<u32>,
    /// Our connection-level receive window. `None` means 65,535 grown by the BDP estimator;
    /// `Some` fixes it (announced with a WINDOW_UPDATE on stream 0) and turns BDP off. The
    /// connection window starts at 65,535 and can only grow (RFC 9113 §6.9.2), so values
    /// below that leave it at 65,535.
    pub initial_connection_window: Option<u32>,
    /// SETTINGS_MAX_FRAME_SIZE we advertise. Default 16,384.
    pub max_frame_size: u32,
    /// SETTINGS_MAX_HEADER_LIST_SIZE we advertise and enforce while decoding (§6.5.2,
    /// §10.5.1). Default 16 MiB; a gRPC server should set a smaller value.
    pub max_header_list_size: u32,
    /// How long the peer has to acknowledge our SETTINGS before the connection is closed with
    /// SETTINGS_TIMEOUT (§6.5.3). Default 10 s.
    pub settings_ack_timeout: Duration,
    /// Keepalive pings we send.
    pub keepalive: KeepaliveConfig,
    /// Server only: how we police the peer's pings.
    pub ping_policy: PingPolicy,
    /// Server only: close a connection that has had no open stream for this long (graceful
    /// GOAWAY). Default: never.
    pub max_connection_idle: Option<Duration>,
    /// Server only: gracefully close a connection this long after it was established.
    /// Default: never.
    pub max_connection_age: Option<Duration>,
    /// Server only: after [`Config::max_connection_age`], how long streams may still run
    /// before the connection is closed forcibly. Default: unlimited.
    pub max_connection_age_grace: Option<Duration>,
    /// While this many control responses (SETTINGS ACK, PING ACK, RST_STREAM) are queued
    /// unwritten, the connection stops reading: a peer that floods us without reading our
    /// answers cannot grow our memory. Default 50.
    pub max_queued_control_frames: usize,
    /// Data the application may queue on one stream beyond what flow control lets out;
    /// the driver applies backpressure above it. Default 64 KiB.
    pub max_send_buffer_per_stream: usize,
    /// Streams the peer may reset (or make us reset) in a burst, and how fast that budget
    /// refills. Protects against rapid reset (CVE-2023-44487).
    pub reset_flood: FloodLimit,
    /// Frames that carry no work (empty DATA without END_STREAM, empty CONTINUATION,
    /// PRIORITY, unknown types): burst and refill rate.
    pub empty_frame_flood: FloodLimit,
    /// A client stops opening streams on a connection once its next stream id would exceed
    /// this value, so a long-lived connection is replaced before the id space runs out.
    /// Default 2^31 - 1 (the protocol maximum); tests lower it.
    pub max_stream_id: u32,
}

/// Keepalive pings we send (gRPC-Go's `keepalive.ClientParameters` and the server's
/// `Time`/`Timeout`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeepaliveConfig {
    /// Send a PING after this long without reading anything. `None` disables keepalive
    /// (the client default). Clients are floored at [`KeepaliveConfig::MIN_CLIENT_TIME`].
    pub time: Option<Duration>,
    /// Close the connection if nothing arrives this long after a keepalive PING. Default 20 s.
    pub timeout: Duration,
    /// Ping even while no stream is open. Default `false`.
    pub permit_without_stream: bool,
}

impl KeepaliveConfig {
    /// The shortest client keepalive time we use (gRPC-Go floors it at 10 s).
    pub const MIN_CLIENT_TIME: Duration = Duration::from_secs(10);
    /// Default [`KeepaliveConfig::timeout`].
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);
    /// The server's default keepalive time: 2 hours.
    pub const DEFAULT_SERVER_TIME: Duration = Duration::from_secs(2 * 60 * 60);
}

/// Server-side keepalive enforcement (gRPC-Go's `keepalive.EnforcementPolicy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PingPolicy {
    /// Pings closer together than this earn a strike. Default 5 minutes.
    pub min_time: Duration,
    /// Allow pings while no stream is open. Default `false` (such pings earn a strike).
    pub permit_without_stream: bool,
    /// Strikes tolerated; one more closes the connection with GOAWAY ENHANCE_YOUR_CALM and
    /// debug data "too_many_pings". Default 2.
    pub max_strikes: u32,
}

impl PingPolicy {
    /// Default [`PingPolicy::min_time`].
    pub const DEFAULT_MIN_TIME: Duration = Duration::from_secs(5 * 60);
}

impl Default for PingPolicy {
    fn default() -> PingPolicy {
        PingPolicy {
            min_time: PingPolicy::DEFAULT_MIN_TIME,
            permit_without_stream: false,
            max_strikes: 2,
        }
    }
}

/// A token bucket: `burst` events at once, refilled at `per_second`. Exceeding it closes the
/// connection with GOAWAY ENHANCE_YOUR_CALM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FloodLimit {
    /// Events allowed back to back.
    pub burst: u32,
    /// Tokens regained per second.
    pub per_second: u32,
}

impl Config {
    /// Client defaults: keepalive off, BDP on, no push.
    pub fn client() -> Config {
        Config::new(Role::Client)
    }

    /// Server defaults: keepalive after 2 h idle, ping enforcement on, BDP on.
    pub fn server() -> Config {
        let mut config = Config::new(Role::Server);
        config.keepalive.time = Some(KeepaliveConfig::DEFAULT_SERVER_TIME);
        config
    }

    fn new(role: Role) -> Config {
        Config {
            role,
            header_table_size: hpack::DEFAULT_HEADER_TABLE_SIZE as u32,
            max_concurrent_streams: None,
            initial_stream_window: None,
            initial_connection_window: None,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            max_header_list_size: DEFAULT_MAX_HEADER_LIST_SIZE,
            settings_ack_timeout: DEFAULT_SETTINGS_ACK_TIMEOUT,
            keepalive: KeepaliveConfig {
                time: None,
                timeout: KeepaliveConfig::DEFAULT_TIMEOUT,
                permit_without_stream: false,
            },
            ping_policy: PingPolicy::default(),
            max_connection_idle: None,
            max_connection_age: None,
            max_connection_age_grace: None,
            max_queued_control_frames: DEFAULT_MAX_QUEUED_CONTROL_FRAMES,
            max_send_buffer_per_stream: DEFAULT_MAX_SEND_BUFFER_PER_STREAM,
            // Netty allows 200 resets per 30 s; we allow a larger burst because gRPC clients
            // cancel calls legitimately, and refill fast enough for heavy cancellation.
            reset_flood: FloodLimit {
                burst: 1000,
                per_second: 100,
            },
            empty_frame_flood: FloodLimit {
                burst: 1000,
                per_second: 100,
            },
            max_stream_id: crate::frame::StreamId::MAX.get(),
        }
    }

    /// Whether the BDP estimator runs: only when neither window was set explicitly.
    pub fn bdp_enabled(&self) -> bool {
        self.initial_stream_window.is_none() && self.initial_connection_window.is_none()
    }

    /// The stream window we start with.
    pub(crate) fn stream_window(&self) -> u32 {
        self.initial_stream_window
            .unwrap_or(DEFAULT_INITIAL_WINDOW_SIZE)
    }

    /// The connection window we start with.
    pub(crate) fn connection_window(&self) -> u32 {
        self.initial_connection_window
            .unwrap_or(DEFAULT_INITIAL_WINDOW_SIZE)
    }
}
