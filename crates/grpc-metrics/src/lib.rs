//! Per-method gRPC metrics for the grpc-rust stack, recorded through the [`metrics`] facade.
//!
//! [`MetricsHandler`] is a [`StatsHandler`]: set it on a channel
//! (`ChannelBuilder::stats_handler`) and on a server (`ServerBuilder::stats_handler`) and every
//! call updates the instruments of gRFC A66 ("OpenTelemetry Metrics", section "Metrics
//! Schema"), under the same names and attributes (here: labels). The application installs
//! whichever `metrics` recorder it likes (Prometheus, OpenTelemetry, StatsD, ...); with none
//! installed, recording costs next to nothing.
//!
//! | name | kind | unit | labels |
//! |---|---|---|---|
//! | `grpc.client.attempt.started` | counter | attempts | `grpc.method`, `grpc.target` |
//! | `grpc.client.attempt.duration` | histogram | seconds | `grpc.method`, `grpc.target`, `grpc.status` |
//! | `grpc.client.attempt.sent_total_compressed_message_size` | histogram | bytes | `grpc.method`, `grpc.target`, `grpc.status` |
//! | `grpc.client.attempt.rcvd_total_compressed_message_size` | histogram | bytes | `grpc.method`, `grpc.target`, `grpc.status` |
//! | `grpc.client.call.duration` | histogram | seconds | `grpc.method`, `grpc.target`, `grpc.status` |
//! | `grpc.server.call.started` | counter | calls | `grpc.method` |
//! | `grpc.server.call.duration` | histogram | seconds | `grpc.method`, `grpc.status` |
//! | `grpc.server.call.sent_total_compressed_message_size` | histogram | bytes | `grpc.method`, `grpc.status` |
//! | `grpc.server.call.rcvd_total_compressed_message_size` | histogram | bytes | `grpc.method`, `grpc.status` |
//!
//! Labels (A66, "Attributes"):
//! - `grpc.method`: the full method without its leading slash, `package.Service/Method`. A
//!   server call for a method the server does not have (its [`CallKind`] is
//!   [`CallKind::Unknown`]) is labelled `other`, so that arbitrary paths sent by clients
//!   cannot create unbounded numbers of series; [`MetricsHandler::with_generic_method_filter`]
//!   lets chosen names through.
//! - `grpc.status`: the status code name, `OK`, `NOT_FOUND`, `UNAVAILABLE`, ...
//! - `grpc.target`: the channel's target, as given to [`MetricsHandler::with_target`]; left out
//!   when not set (a handler does not learn its channel's target by itself).
//!
//! # Counting calls per status
//!
//! As in A66 there is no separate "completed" counter: every finished call records exactly one
//! sample in each duration histogram, so the histogram's sample count *is* the number of
//! finished calls with those labels. In Prometheus, calls completed per status are
//! `grpc_server_call_duration_count{grpc_status="..."}` (or `..._seconds_count` with unit
//! suffixes on), and calls in flight are `grpc_server_call_started` minus the sum of those.
//!
//! # Attempts
//!
//! The channel reports one observed call per application call, retries included, so until it
//! reports attempts separately a retried call counts as one attempt: `attempt.started` is
//! recorded once per call, `attempt.duration` equals `call.duration`, and the size totals
//! cover every attempt.
//!
//! # Message sizes
//!
//! Sent sizes are what went on the wire without the 5-octet message prefix (compressed when
//! compression is on), as A66 asks. [`CallEvent::MessageIn`] carries only the decompressed
//! size, so received totals are decompressed sizes: the same as A66's unless the peer
//! compresses.
//!
//! # Cost
//!
//! Message events add to two integers in the call's observer. A call's start allocates the
//! observer and the method label (one shared string) and increments the started counter; its
//! end records three or four histogram samples with labels built once.
//!
//! ```
//! # fn main() -> Result<(), &'static str> {
//! use grpc_core::Status;
//! use grpc_core::stats::{CallEvent, CallKind, CallStart, Side, StatsHandler};
//! use grpc_metrics::MetricsHandler;
//! use metrics_util::debugging::DebuggingRecorder;
//!
//! let recorder = DebuggingRecorder::new();
//! let snapshotter = recorder.snapshotter();
//! metrics::with_local_recorder(&recorder, || {
//!     let handler = MetricsHandler::new();
//!     let call = CallStart {
//!         side: Side::Server,
//!         path: "/demo.Echo/Say",
//!         kind: CallKind::Unary,
//!         peer: None,
//!     };
//!     let mut observer = handler.call_started(&call).ok_or("the handler observes every call")?;
//!     observer.event(&CallEvent::MessageIn { size: 12 });
//!     observer.event(&CallEvent::MessageOut { size: 12, wire_size: 17 });
//!     let status = Status::ok();
//!     let duration = std::time::Duration::from_millis(3);
//!     observer.event(&CallEvent::End { status: &status, duration });
//!     Ok::<_, &str>(())
//! })?;
//! // grpc.server.call.started and three histograms, each labelled grpc.method = demo.Echo/Say.
//! assert_eq!(snapshotter.snapshot().into_vec().len(), 4);
//! # Ok(())
//! # }
//! ```
//!
//! Recorders render histograms as they see fit; [`LATENCY_BUCKETS`] and [`SIZE_BUCKETS`] are
//! A66's recommended bucket boundaries, for exporters that take them (for example
//! `metrics-exporter-prometheus`'s `PrometheusBuilder::set_buckets_for_metric`).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use grpc_core::Status;
use grpc_core::framing::HEADER_LEN;
use grpc_core::stats::{CallEvent, CallKind, CallObserver, CallStart, Side, StatsHandler};
use metrics::{Key, Label, Level, Metadata, Recorder, SharedString, Unit};

/// `grpc.client.attempt.started`: client call attempts started (counter).
pub const CLIENT_ATTEMPT_STARTED: &str = "grpc.client.attempt.started";
/// `grpc.client.attempt.duration`: seconds from an attempt's start to its end (histogram).
pub const CLIENT_ATTEMPT_DURATION: &str = "grpc.client.attempt.duration";
/// `grpc.client.attempt.sent_total_compressed_message_size`: request octets per attempt
/// (histogram).
pub const CLIENT_ATTEMPT_SENT_SIZE: &str = "grpc.client.attempt.sent_total_compressed_message_size";
/// `grpc.client.attempt.rcvd_total_compressed_message_size`: response octets per attempt
/// (histogram).
pub const CLIENT_ATTEMPT_RCVD_SIZE: &str = "grpc.client.attempt.rcvd_total_compressed_message_size";
/// `grpc.client.call.duration`: seconds from a call's start to its status reaching the
/// application (histogram).
pub const CLIENT_CALL_DURATION: &str = "grpc.client.call.duration";
/// `grpc.server.call.started`: server calls started (counter).
pub const SERVER_CALL_STARTED: &str = "grpc.server.call.started";
/// `grpc.server.call.duration`: seconds from a call's headers arriving to its end (histogram).
pub const SERVER_CALL_DURATION: &str = "grpc.server.call.duration";
/// `grpc.server.call.sent_total_compressed_message_size`: response octets per call
/// (histogram).
pub const SERVER_CALL_SENT_SIZE: &str = "grpc.server.call.sent_total_compressed_message_size";
/// `grpc.server.call.rcvd_total_compressed_message_size`: request octets per call
/// (histogram).
pub const SERVER_CALL_RCVD_SIZE: &str = "grpc.server.call.rcvd_total_compressed_message_size";

/// Label: the method, `package.Service/Method` (no leading slash), or [`OTHER_METHOD`].
pub const METHOD_LABEL: &str = "grpc.method";
/// Label: the status code name (`OK`, `NOT_FOUND`, ...), on the finished-call metrics.
pub const STATUS_LABEL: &str = "grpc.status";
/// Label: the channel target set with [`MetricsHandler::with_target`] (client metrics only).
pub const TARGET_LABEL: &str = "grpc.target";
/// The `grpc.method` value of calls to methods the server does not have (A66).
pub const OTHER_METHOD: &str = "other";

/// A66's latency bucket boundaries, in seconds ("Units").
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0, 0.00001, 0.00005, 0.0001, 0.0003, 0.0006, 0.0008, 0.001, 0.002, 0.003, 0.004, 0.005,
    0.006, 0.008, 0.01, 0.013, 0.016, 0.02, 0.025, 0.03, 0.04, 0.05, 0.065, 0.08, 0.1, 0.13, 0.16,
    0.2, 0.25, 0.3, 0.4, 0.5, 0.65, 0.8, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0,
];

/// A66's size bucket boundaries, in bytes ("Units").
pub const SIZE_BUCKETS: &[f64] = &[
    0.0,
    1024.0,
    2048.0,
    4096.0,
    16384.0,
    65536.0,
    262144.0,
    1048576.0,
    4194304.0,
    16777216.0,
    67108864.0,
    268435456.0,
    1073741824.0,
    4294967296.0,
];

/// Where our samples come from, for recorders that filter on it.
static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// Decides whether an unknown method's name may be used as a label.
type MethodFilter = dyn Fn(&str) -> bool + Send + Sync;

/// A [`StatsHandler`] recording gRFC A66's per-method metrics through the `metrics` facade
/// (see the [crate docs](crate) for the names and labels).
///
/// One handler serves clients and servers alike (each call says which side it is on); clone
/// it or share it in an `Arc`.
///
/// ```no_run
/// use std::sync::Arc;
/// use grpc_metrics::MetricsHandler;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// // Install a `metrics` recorder first (e.g. metrics-exporter-prometheus), then:
/// let target = "dns:///backend.example:50051";
/// let channel = grpc_client::Channel::builder(target)
///     .stats_handler(Arc::new(MetricsHandler::new().with_target(target)))
///     .connect_lazy()?;
/// let server = grpc_server::Server::builder()
///     .stats_handler(Arc::new(MetricsHandler::new()))
///     // .add_routes(...)
///     .bind("127.0.0.1:50051".parse()?)
///     .await?;
/// # let _ = (channel, server); Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct MetricsHandler {
    target: Option<SharedString>,
    generic_methods: Option<Arc<MethodFilter>>,
}

impl MetricsHandler {
    /// A handler with no target label and unknown methods recorded as `other`. Describes the
    /// metrics (units and help texts) to the recorder installed now; see [`describe`].
    pub fn new() -> MetricsHandler {
        describe();
        MetricsHandler::default()
    }

    /// Labels client metrics with `grpc.target` = `target` (A66 asks for the channel's
    /// canonical target, e.g. `dns:///example.com:443`; use `"other"` for targets that would
    /// create too many series, such as raw IP addresses).
    pub fn with_target(mut self, target: impl Into<String>) -> MetricsHandler {
        self.target = Some(SharedString::from_owned(target.into()));
        self
    }

    /// Records calls to methods of unknown kind (on a server: methods it does not have) under
    /// their own name when `filter` returns true for the path (`/package.Service/Method`),
    /// instead of `other` (A66, "Attributes": generic method names are opt-in). Paths come
    /// from the network: only let a bounded set through.
    pub fn with_generic_method_filter(
        mut self,
        filter: impl Fn(&str) -> bool + Send + Sync + 'static,
    ) -> MetricsHandler {
        self.generic_methods = Some(Arc::new(filter));
        self
    }

    /// The `grpc.method` label of a call.
    fn method_label(&self, call: &CallStart<'_>) -> SharedString {
        let known = call.kind != CallKind::Unknown
            || self
                .generic_methods
                .as_ref()
                .is_some_and(|keep| keep(call.path));
        if !known {
            return SharedString::const_str(OTHER_METHOD);
        }
        let method = call.path.strip_prefix('/').unwrap_or(call.path);
        SharedString::from_shared(Arc::<str>::from(method))
    }
}

impl fmt::Debug for MetricsHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsHandler")
            .field("target", &self.target.as_deref())
            .field("generic_method_filter", &self.generic_methods.is_some())
            .finish()
    }
}

impl StatsHandler for MetricsHandler {
    fn call_started(&self, call: &CallStart<'_>) -> Option<Box<dyn CallObserver>> {
        let method = self.method_label(call);
        let target = match call.side {
            Side::Client => self.target.clone(),
            Side::Server => None,
        };
        let started = match call.side {
            Side::Client => CLIENT_ATTEMPT_STARTED,
            Side::Server => SERVER_CALL_STARTED,
        };
        let mut labels = Vec::with_capacity(2);
        labels.push(Label::new(METHOD_LABEL, method.clone()));
        if let Some(target) = &target {
            labels.push(Label::new(TARGET_LABEL, target.clone()));
        }
        metrics::with_recorder(|recorder| {
            recorder
                .register_counter(&Key::from_parts(started, labels), &METADATA)
                .increment(1);
        });
        Some(Box::new(MetricsObserver {
            side: call.side,
            method,
            target,
            sent: 0,
            rcvd: 0,
        }))
    }
}

/// One call's totals, recorded when it ends.
struct MetricsObserver {
    side: Side,
    method: SharedString,
    target: Option<SharedString>,
    /// Octets of the messages sent, without their prefixes.
    sent: u64,
    /// Octets of the messages received.
    rcvd: u64,
}

impl CallObserver for MetricsObserver {
    fn event(&mut self, event: &CallEvent<'_>) {
        match event {
            // A66: "compressed but not encrypted ... does not include grpc or transport
            // framing bytes", so the message prefix comes off.
            CallEvent::MessageOut { wire_size, .. } => {
                self.sent = self
                    .sent
                    .saturating_add(wire_size.saturating_sub(HEADER_LEN) as u64);
            }
            CallEvent::MessageIn { size, .. } => {
                self.rcvd = self.rcvd.saturating_add(*size as u64);
            }
            CallEvent::End { status, duration } => self.finish(status, *duration),
            _ => {}
        }
    }
}

impl MetricsObserver {
    fn finish(&self, status: &Status, duration: Duration) {
        let mut labels = Vec::with_capacity(3);
        labels.push(Label::new(METHOD_LABEL, self.method.clone()));
        if let Some(target) = &self.target {
            labels.push(Label::new(TARGET_LABEL, target.clone()));
        }
        labels.push(Label::from_static_parts(
            STATUS_LABEL,
            status.code().as_str(),
        ));
        let seconds = duration.as_secs_f64();
        let (sent, rcvd) = (self.sent as f64, self.rcvd as f64);
        metrics::with_recorder(|recorder| {
            let record = |name: &'static str, value: f64| {
                recorder
                    .register_histogram(&Key::from_parts(name, labels.clone()), &METADATA)
                    .record(value);
            };
            match self.side {
                Side::Client => {
                    record(CLIENT_ATTEMPT_DURATION, seconds);
                    record(CLIENT_ATTEMPT_SENT_SIZE, sent);
                    record(CLIENT_ATTEMPT_RCVD_SIZE, rcvd);
                    record(CLIENT_CALL_DURATION, seconds);
                }
                Side::Server => {
                    record(SERVER_CALL_DURATION, seconds);
                    record(SERVER_CALL_SENT_SIZE, sent);
                    record(SERVER_CALL_RCVD_SIZE, rcvd);
                }
            }
        });
    }
}

/// Describes every metric (unit and help text) to the current recorder. [`MetricsHandler::new`]
/// calls it; call it again if the recorder is installed after the handler is made.
pub fn describe() {
    metrics::with_recorder(|recorder| describe_to(recorder));
}

fn describe_to(recorder: &dyn Recorder) {
    let counters: [(&'static str, &'static str); 2] = [
        (
            CLIENT_ATTEMPT_STARTED,
            "Client call attempts started, including those not finished.",
        ),
        (
            SERVER_CALL_STARTED,
            "Server calls started, including those not finished.",
        ),
    ];
    for (name, help) in counters {
        recorder.describe_counter(name.into(), Some(Unit::Count), help.into());
    }
    let histograms: [(&'static str, Unit, &'static str); 7] = [
        (
            CLIENT_ATTEMPT_DURATION,
            Unit::Seconds,
            "Client call attempt durations, from start to status, including the pick.",
        ),
        (
            CLIENT_ATTEMPT_SENT_SIZE,
            Unit::Bytes,
            "Request message bytes per client call attempt, compressed, without framing.",
        ),
        (
            CLIENT_ATTEMPT_RCVD_SIZE,
            Unit::Bytes,
            "Response message bytes per client call attempt, without framing.",
        ),
        (
            CLIENT_CALL_DURATION,
            Unit::Seconds,
            "Client call durations as the application sees them.",
        ),
        (
            SERVER_CALL_DURATION,
            Unit::Seconds,
            "Server call durations, from request headers to the end of the stream.",
        ),
        (
            SERVER_CALL_SENT_SIZE,
            Unit::Bytes,
            "Response message bytes per server call, compressed, without framing.",
        ),
        (
            SERVER_CALL_RCVD_SIZE,
            Unit::Bytes,
            "Request message bytes per server call, without framing.",
        ),
    ];
    for (name, unit, help) in histograms {
        recorder.describe_histogram(name.into(), Some(unit), help.into());
    }
}

#[cfg(test)]
mod tests;
