//! `weighted_round_robin`: round robin weighted by the backends' own load reports (gRFC
//! A58), from per-call ORCA reports (gRFC A51).
//!
//! # Connections
//!
//! As `round_robin` (A58 "Handling Subchannel Connectivity State Notifications"): one
//! subchannel per unique address, all connected and reconnected at once when they go IDLE;
//! the policy is READY if any subchannel is, else CONNECTING if any is connecting, else
//! TRANSIENT_FAILURE (sticky per subchannel until READY).
//!
//! # Weights
//!
//! Every pick carries an `on_complete` callback. When the call ends the callback reads the
//! ORCA report in the `endpoint-load-metrics-bin` trailer (if any) and updates that
//! subchannel's weight (A58 "Subchannel Weights"):
//!
//! ```text
//! utilization = application_utilization if > 0, else cpu_utilization
//! weight      = qps / (utilization + eps / qps * errorUtilizationPenalty)
//! ```
//!
//! Reports with `qps <= 0` or `utilization <= 0` are ignored. A weight is used only after
//! the subchannel has reported for `blackoutPeriod` (counted from its first report, again
//! after it becomes READY, and again after its weight expired), and until it has not
//! reported for `weightExpirationPeriod`.
//!
//! Every `weightUpdatePeriod` a timer task asks for a [`LbPolicy::work`] callback, which
//! publishes a picker with the current weights. READY subchannels without a usable weight
//! get the mean of the others'; with fewer than two usable weights the picker is plain
//! round robin (A58 "Earliest Deadline First (EDF) Scheduler").
//!
//! # The picker
//!
//! A58 asks for a scheduler that is "cheap to create and allow[s] concurrent pick calls to
//! proceed with no or minimal contention". Ours is a static stride scheduler: weights are
//! scaled to integers up to 65535 once per picker, and picks only advance one shared atomic
//! sequence number (see [`Scheduler`]). No lock, no allocation beyond the completion
//! callback the API requires.
//!
//! # Out-of-band reports
//!
//! `enableOobLoadReport` and `oobReportingPeriod` are accepted and validated, but only
//! per-call reports are implemented: with OOB enabled the policy still learns from per-call
//! reports (where A58 would ignore them and watch an OOB stream instead), which is the
//! closest behaviour available without an OOB client.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use grpc_balancer_api::{
    CallOutcome, ChannelController, ConnectivityState, FailPicker, LbConfig, LbPolicy,
    LbPolicyBuilder, LbPolicyOptions, Metadata, Pick, PickInfo, PickResult, Picker, QueuePicker,
    ResolverState, Status, Subchannel, SubchannelState, WorkScheduler,
};
use grpc_core::orca::OrcaLoadReport;
use tokio::time::Instant;

use crate::rng;
use crate::subchannel_list::SubchannelList;

const DEFAULT_OOB_REPORTING_PERIOD: Duration = Duration::from_secs(10);
const DEFAULT_BLACKOUT_PERIOD: Duration = Duration::from_secs(10);
const DEFAULT_WEIGHT_EXPIRATION_PERIOD: Duration = Duration::from_secs(180);
const DEFAULT_WEIGHT_UPDATE_PERIOD: Duration = Duration::from_secs(1);
/// A58: "Values less than 100ms are capped at 100ms."
const MIN_WEIGHT_UPDATE_PERIOD: Duration = Duration::from_millis(100);

/// The parsed `weighted_round_robin` config (gRFC A58 "LB Policy Config and Parameters").
#[derive(Clone, Debug, PartialEq)]
pub struct WeightedRoundRobinConfig {
    /// `enableOobLoadReport` (default false). Accepted, but out-of-band reporting is not
    /// implemented: per-call reports are used either way (see the module docs).
    pub enable_oob_load_report: bool,
    /// `oobReportingPeriod` (default 10 s); unused, see above.
    pub oob_reporting_period: Duration,
    /// `blackoutPeriod` (default 10 s): how long a subchannel must report before its
    /// weight is used.
    pub blackout_period: Duration,
    /// `weightExpirationPeriod` (default 3 min): a weight without reports for this long is
    /// no longer used.
    pub weight_expiration_period: Duration,
    /// `weightUpdatePeriod` (default 1 s, at least 100 ms): how often pickers are rebuilt
    /// with fresh weights.
    pub weight_update_period: Duration,
    /// `errorUtilizationPenalty` (default 1.0, >= 0): how much the error rate `eps / qps`
    /// adds to the utilization.
    pub error_utilization_penalty: f64,
}

impl Default for WeightedRoundRobinConfig {
    fn default() -> Self {
        WeightedRoundRobinConfig {
            enable_oob_load_report: false,
            oob_reporting_period: DEFAULT_OOB_REPORTING_PERIOD,
            blackout_period: DEFAULT_BLACKOUT_PERIOD,
            weight_expiration_period: DEFAULT_WEIGHT_EXPIRATION_PERIOD,
            weight_update_period: DEFAULT_WEIGHT_UPDATE_PERIOD,
            error_utilization_penalty: 1.0,
        }
    }
}

impl WeightedRoundRobinConfig {
    /// Parses the JSON object under `weighted_round_robin` in `loadBalancingConfig`.
    ///
    /// Durations are protobuf-JSON strings (`"10s"`, `"0.5s"`, up to 9 fractional digits)
    /// and must not be negative; `weightUpdatePeriod` below 100 ms becomes 100 ms;
    /// `errorUtilizationPenalty` is a number (or numeric string) >= 0.
    pub fn from_json(json: &serde_json::Value) -> Result<WeightedRoundRobinConfig, String> {
        let object = json
            .as_object()
            .ok_or("weighted_round_robin: config must be a JSON object")?;
        let mut config = WeightedRoundRobinConfig::default();
        match object.get("enableOobLoadReport") {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::Bool(enabled)) => config.enable_oob_load_report = *enabled,
            Some(_) => {
                return Err("weighted_round_robin: enableOobLoadReport must be a boolean".into());
            }
        }
        let duration = |field: &str| -> Result<Option<Duration>, String> {
            match object.get(field) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(text)) => {
                    parse_duration(text).map(Some).ok_or_else(|| {
                        format!("weighted_round_robin: {field} {text:?} is not a valid duration")
                    })
                }
                Some(_) => Err(format!(
                    "weighted_round_robin: {field} must be a duration string like \"10s\""
                )),
            }
        };
        if let Some(period) = duration("oobReportingPeriod")? {
            config.oob_reporting_period = period;
        }
        if let Some(period) = duration("blackoutPeriod")? {
            config.blackout_period = period;
        }
        if let Some(period) = duration("weightExpirationPeriod")? {
            config.weight_expiration_period = period;
        }
        if let Some(period) = duration("weightUpdatePeriod")? {
            config.weight_update_period = period.max(MIN_WEIGHT_UPDATE_PERIOD);
        }
        let penalty = match object.get("errorUtilizationPenalty") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::Number(n)) => Some(n.as_f64()),
            Some(serde_json::Value::String(s)) => Some(s.parse::<f64>().ok()),
            Some(_) => Some(None),
        };
        match penalty {
            None => {}
            Some(Some(penalty)) if penalty.is_finite() && penalty >= 0.0 => {
                config.error_utilization_penalty = penalty;
            }
            Some(_) => {
                return Err(
                    "weighted_round_robin: errorUtilizationPenalty must be a number >= 0".into(),
                );
            }
        }
        Ok(config)
    }
}

/// Parses a protobuf-JSON duration that is not negative: decimal seconds with up to nine
/// fractional digits, then `s` (`"10s"`, `"0.5s"`, `"1.000000001s"`).
fn parse_duration(text: &str) -> Option<Duration> {
    let number = text.strip_suffix('s')?;
    let (seconds, fraction) = match number.split_once('.') {
        Some((seconds, fraction)) => (seconds, fraction),
        None => (number, ""),
    };
    if seconds.is_empty()
        || !seconds.bytes().all(|b| b.is_ascii_digit())
        || fraction.len() > 9
        || !fraction.bytes().all(|b| b.is_ascii_digit())
        || (number.contains('.') && fraction.is_empty())
    {
        return None;
    }
    let seconds: u64 = seconds.parse().ok()?;
    // protobuf's Duration range: up to 10,000 years.
    if seconds > 315_576_000_000 {
        return None;
    }
    let mut nanos: u32 = 0;
    for (i, digit) in fraction.bytes().enumerate() {
        nanos += u32::from(digit - b'0') * 10u32.pow(8 - i as u32);
    }
    Some(Duration::new(seconds, nanos))
}

/// Builds `weighted_round_robin` policies.
#[derive(Clone, Copy, Debug, Default)]
pub struct WeightedRoundRobinBuilder;

impl WeightedRoundRobinBuilder {
    /// A builder.
    pub fn new() -> WeightedRoundRobinBuilder {
        WeightedRoundRobinBuilder
    }
}

impl LbPolicyBuilder for WeightedRoundRobinBuilder {
    fn name(&self) -> &str {
        crate::WEIGHTED_ROUND_ROBIN
    }

    fn build(&self, options: LbPolicyOptions) -> Box<dyn LbPolicy> {
        Box::new(WeightedRoundRobin::new(options.work_scheduler))
    }

    fn parse_config(&self, config: &serde_json::Value) -> Result<Option<LbConfig>, String> {
        WeightedRoundRobinConfig::from_json(config).map(|config| Some(LbConfig::new(config)))
    }
}

// ---------------------------------------------------------------------------------------
// Per-subchannel weights.

/// A subchannel's weight and the times that decide whether it is usable, shared by the
/// policy and the completion callbacks of its picks. Times are nanoseconds since the
/// policy's epoch plus one, so that 0 can mean "never" / "unset".
#[derive(Debug)]
struct EndpointWeight {
    epoch: Instant,
    /// The last computed weight (`f64` bits).
    weight: AtomicU64,
    /// When the last usable report arrived (0: never).
    last_updated: AtomicU64,
    /// When the current run of usable reports began (0: not since the last reset).
    non_empty_since: AtomicU64,
}

impl EndpointWeight {
    fn new(epoch: Instant) -> EndpointWeight {
        EndpointWeight {
            epoch,
            weight: AtomicU64::new(0),
            last_updated: AtomicU64::new(0),
            non_empty_since: AtomicU64::new(0),
        }
    }

    fn stamp(&self, now: Instant) -> u64 {
        let nanos = now.saturating_duration_since(self.epoch).as_nanos();
        u64::try_from(nanos).unwrap_or(u64::MAX - 1) + 1
    }

    /// Takes one call's report (A58 `UpdateWeight`).
    fn record(&self, report: &OrcaLoadReport, penalty: f64, now: Instant) {
        let qps = report.rps_fractional;
        let utilization = if report.application_utilization > 0.0 {
            report.application_utilization
        } else {
            report.cpu_utilization
        };
        if !(qps > 0.0 && utilization > 0.0) {
            return;
        }
        let eps = if report.eps.is_finite() && report.eps > 0.0 {
            report.eps
        } else {
            0.0
        };
        let weight = qps / (utilization + eps / qps * penalty);
        if !(weight.is_finite() && weight > 0.0) {
            return;
        }
        let now = self.stamp(now);
        self.weight.store(weight.to_bits(), Ordering::Relaxed);
        let _ = self
            .non_empty_since
            .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
        self.last_updated.store(now, Ordering::Relaxed);
    }

    /// The subchannel (re)became READY: its blackout starts again with its next report.
    fn reset_blackout(&self) {
        self.non_empty_since.store(0, Ordering::Relaxed);
    }

    /// The weight to use at `now`, 0 if none (A58 `GetWeight`).
    fn weight_at(&self, now: Instant, config: &WeightedRoundRobinConfig) -> f64 {
        let last_updated = self.last_updated.load(Ordering::Relaxed);
        if last_updated == 0 {
            return 0.0;
        }
        let now = self.stamp(now);
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        if now.saturating_sub(last_updated) >= nanos(config.weight_expiration_period) {
            // Stale: stop using it, and make fresh reports sit out a blackout again.
            self.non_empty_since.store(0, Ordering::Relaxed);
            return 0.0;
        }
        let since = self.non_empty_since.load(Ordering::Relaxed);
        if !config.blackout_period.is_zero()
            && (since == 0 || now.saturating_sub(since) < nanos(config.blackout_period))
        {
            return 0.0;
        }
        f64::from_bits(self.weight.load(Ordering::Relaxed))
    }
}

/// Reads the ORCA report of a finished call, if it has one.
fn record_outcome(weight: &EndpointWeight, trailers: &Metadata, penalty: f64) {
    if let Some(report) = OrcaLoadReport::from_trailers(trailers) {
        weight.record(&report, penalty, Instant::now());
    }
}

// ---------------------------------------------------------------------------------------
// The scheduler.

/// The largest scaled weight.
const MAX_SCALED: u64 = u16::MAX as u64;
/// Scaled weights are at least this fraction of the largest, which bounds a pick to ten
/// sequence numbers on average however skewed the weights are (gRPC C-core clamps the
/// same way).
const MIN_RATIO: f64 = 0.1;

/// A static stride scheduler: picks backend `i` with probability proportional to its
/// weight, deterministically and evenly spread, using only an atomic counter.
///
/// Weights are scaled so the largest is [`MAX_SCALED`]. The shared sequence number `s`
/// visits backend `s % n` in "round" `s / n`. Each backend accumulates its scaled weight
/// once per round, modulo `MAX_SCALED`; it is chosen in the rounds where the accumulator
/// wraps, which happens exactly `w` times in every `MAX_SCALED` rounds, evenly spaced. A
/// visit that does not choose its backend moves on to the next sequence number; the
/// heaviest backend wraps every round, so a pick ends within `n` steps.
///
/// With no weights (fewer than two known, or all equal) it is plain round robin.
#[derive(Debug)]
struct Scheduler {
    /// Scaled weights, or empty for plain round robin.
    scaled: Box<[u16]>,
    len: usize,
    sequence: AtomicU64,
}

impl Scheduler {
    /// A scheduler over backends with these weights (0: unknown). Unknown weights get the
    /// mean of the known ones (A58).
    fn new(weights: &[f64]) -> Scheduler {
        let start = rng::next_u64();
        let round_robin = Scheduler {
            scaled: Box::new([]),
            len: weights.len(),
            sequence: AtomicU64::new(start),
        };
        let usable = |w: f64| w.is_finite() && w > 0.0;
        let known: Vec<f64> = weights.iter().copied().filter(|w| usable(*w)).collect();
        if known.len() < 2 {
            return round_robin;
        }
        let mean = known.iter().sum::<f64>() / known.len() as f64;
        let filled: Vec<f64> = weights
            .iter()
            .map(|w| if usable(*w) { *w } else { mean })
            .collect();
        // Every filled weight is positive and finite, so `max` is too.
        let max = filled.iter().copied().fold(0.0, f64::max);
        let min = filled.iter().copied().fold(f64::INFINITY, f64::min);
        if min == max {
            return round_robin;
        }
        let floor = (MAX_SCALED as f64 * MIN_RATIO).round();
        let scaled = filled
            .iter()
            .map(|w| {
                (w / max * MAX_SCALED as f64)
                    .round()
                    .clamp(floor, MAX_SCALED as f64) as u16
            })
            .collect();
        Scheduler {
            scaled,
            len: weights.len(),
            sequence: AtomicU64::new(start),
        }
    }

    /// The index of the next backend.
    fn pick(&self) -> usize {
        let n = self.len.max(1) as u64;
        if self.scaled.is_empty() {
            return (self.sequence.fetch_add(1, Ordering::Relaxed) % n) as usize;
        }
        loop {
            let sequence = self.sequence.fetch_add(1, Ordering::Relaxed);
            let index = (sequence % n) as usize;
            let round = (sequence / n) % MAX_SCALED;
            let weight = u64::from(self.scaled.get(index).copied().unwrap_or(u16::MAX));
            // Backends start at different phases so that they do not all wrap in the
            // same rounds.
            let phase = (index as u64).wrapping_mul(0x9E37_79B9) % MAX_SCALED;
            if (round * weight + phase) % MAX_SCALED >= MAX_SCALED - weight {
                return index;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The policy.

struct WeightedRoundRobin {
    config: WeightedRoundRobinConfig,
    list: SubchannelList<Arc<EndpointWeight>>,
    epoch: Instant,
    work_scheduler: WorkScheduler,
    /// The weight update timer and its period.
    timer: Option<(Duration, tokio::task::JoinHandle<()>)>,
}

impl WeightedRoundRobin {
    fn new(work_scheduler: WorkScheduler) -> WeightedRoundRobin {
        WeightedRoundRobin {
            config: WeightedRoundRobinConfig::default(),
            list: SubchannelList::new(),
            epoch: Instant::now(),
            work_scheduler,
            timer: None,
        }
    }

    /// Runs the weight update timer at the configured period: a task that asks for a
    /// `work` callback every `weightUpdatePeriod` (on tokio's clock, so paused-clock tests
    /// drive it). Without a tokio runtime there is no timer and pickers are rebuilt only
    /// on state changes.
    fn ensure_timer(&mut self) {
        let period = self.config.weight_update_period;
        if matches!(&self.timer, Some((running, _)) if *running == period) {
            return;
        }
        self.stop_timer();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::debug!(
                "weighted_round_robin: no tokio runtime; weights update only on state changes"
            );
            return;
        };
        let scheduler = self.work_scheduler.clone();
        let task = runtime.spawn(async move {
            let mut ticks = tokio::time::interval_at(Instant::now() + period, period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                scheduler.schedule_work();
            }
        });
        self.timer = Some((period, task));
    }

    fn stop_timer(&mut self) {
        if let Some((_, task)) = self.timer.take() {
            task.abort();
        }
    }

    fn failure_status(&self) -> Status {
        match self.list.last_error() {
            Some(error) => Status::unavailable(format!(
                "weighted_round_robin: no ready subchannel among {} addresses; last connection error: {error}",
                self.list.len()
            )),
            None => Status::unavailable("weighted_round_robin: no ready subchannel"),
        }
    }

    fn picker(&self, now: Instant) -> WeightedPicker {
        let backends: Box<[(Subchannel, Arc<EndpointWeight>)]> = self
            .list
            .ready()
            .map(|entry| (entry.subchannel().clone(), entry.data.clone()))
            .collect();
        let weights: Vec<f64> = backends
            .iter()
            .map(|(_, weight)| weight.weight_at(now, &self.config))
            .collect();
        WeightedPicker {
            scheduler: Scheduler::new(&weights),
            backends,
            penalty: self.config.error_utilization_penalty,
        }
    }

    fn publish(&self, channel: &mut dyn ChannelController) {
        let state = self.list.aggregate_state();
        let picker: Arc<dyn Picker> = match state {
            ConnectivityState::Ready => Arc::new(self.picker(Instant::now())),
            ConnectivityState::TransientFailure => Arc::new(FailPicker(self.failure_status())),
            _ => Arc::new(QueuePicker),
        };
        channel.update_picker(state, picker);
    }
}

impl Drop for WeightedRoundRobin {
    fn drop(&mut self) {
        self.stop_timer();
    }
}

impl LbPolicy for WeightedRoundRobin {
    fn resolver_update(
        &mut self,
        state: &ResolverState,
        config: Option<&LbConfig>,
        channel: &mut dyn ChannelController,
    ) -> Result<(), Status> {
        self.config = config
            .and_then(|c| c.downcast_ref::<WeightedRoundRobinConfig>())
            .cloned()
            .unwrap_or_default();
        if state.addresses.is_empty() {
            self.list.clear();
            let status =
                Status::unavailable("weighted_round_robin: resolver returned no addresses");
            channel.update_picker(
                ConnectivityState::TransientFailure,
                Arc::new(FailPicker(status.clone())),
            );
            return Err(status);
        }
        // A58: de-duplicated addresses; weights survive updates that keep an address.
        let epoch = self.epoch;
        drop(self.list.update(&state.addresses, channel, |_| {
            Arc::new(EndpointWeight::new(epoch))
        }));
        self.list.connect_idle();
        self.ensure_timer();
        self.publish(channel);
        Ok(())
    }

    fn resolver_error(&mut self, error: &Status, channel: &mut dyn ChannelController) {
        if self.list.is_empty()
            || self.list.aggregate_state() == ConnectivityState::TransientFailure
        {
            let status = Status::new(
                error.code(),
                format!(
                    "weighted_round_robin: name resolver error: {}",
                    error.message()
                ),
            );
            channel.update_picker(
                ConnectivityState::TransientFailure,
                Arc::new(FailPicker(status)),
            );
        }
    }

    fn subchannel_update(
        &mut self,
        subchannel: &Subchannel,
        state: &SubchannelState,
        channel: &mut dyn ChannelController,
    ) {
        let Some(transition) = self.list.update_state(subchannel, state) else {
            return;
        };
        if transition.current == ConnectivityState::Ready
            && transition.previous != ConnectivityState::Ready
        {
            // A58: `non_empty_since` resets when a subchannel comes back to READY.
            if let Some(entry) = self.list.get(transition.index) {
                entry.data.reset_blackout();
            }
        }
        if transition.current == ConnectivityState::Idle {
            // A58: an IDLE subchannel is reconnected at once.
            subchannel.connect();
        }
        if transition.failed() || transition.lost_ready() {
            channel.request_resolution();
        }
        self.publish(channel);
    }

    fn exit_idle(&mut self, _channel: &mut dyn ChannelController) {
        self.list.connect_idle();
    }

    fn work(&mut self, channel: &mut dyn ChannelController) {
        // The weight update timer: a fresh scheduler with the current weights.
        if self.list.aggregate_state() == ConnectivityState::Ready {
            self.publish(channel);
        }
    }
}

impl fmt::Debug for WeightedRoundRobin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeightedRoundRobin")
            .field("config", &self.config)
            .field("subchannels", &self.list.len())
            .finish_non_exhaustive()
    }
}

/// Picks among the READY subchannels by weight; every pick records the call's load report.
struct WeightedPicker {
    backends: Box<[(Subchannel, Arc<EndpointWeight>)]>,
    scheduler: Scheduler,
    penalty: f64,
}

impl Picker for WeightedPicker {
    fn pick(&self, _info: &PickInfo<'_>) -> PickResult {
        let Some((subchannel, weight)) = self.backends.get(self.scheduler.pick()) else {
            return PickResult::Queue;
        };
        let weight = weight.clone();
        let penalty = self.penalty;
        PickResult::Pick(Pick {
            subchannel: subchannel.clone(),
            on_complete: Some(Box::new(move |outcome: &CallOutcome<'_>| {
                record_outcome(&weight, outcome.trailers, penalty);
            })),
        })
    }
}

impl fmt::Debug for WeightedPicker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeightedPicker")
            .field("backends", &self.backends.len())
            .field("scheduler", &self.scheduler)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::atomic::AtomicUsize;

    use serde_json::json;

    use super::*;
    use crate::test_util::TestResult;
    use crate::test_util::{FakeController, addr, addresses, connects, pick};
    use ConnectivityState::*;

    fn parse(json: serde_json::Value) -> Result<WeightedRoundRobinConfig, String> {
        WeightedRoundRobinConfig::from_json(&json)
    }

    fn lb_config(json: serde_json::Value) -> TestResult<LbConfig> {
        match WeightedRoundRobinBuilder::new().parse_config(&json) {
            Ok(Some(config)) => Ok(config),
            other => Err(format!("{json} did not parse: {other:?}").into()),
        }
    }

    /// A policy whose work scheduler counts requests.
    fn policy() -> (WeightedRoundRobin, FakeController, Arc<AtomicUsize>) {
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        let scheduler = WorkScheduler::new(move || {
            counter.fetch_add(1, Ordering::Relaxed);
        });
        (
            WeightedRoundRobin::new(scheduler),
            FakeController::default(),
            requests,
        )
    }

    /// `policy` over `ports`, all READY, with `config`.
    fn ready(
        policy: &mut WeightedRoundRobin,
        channel: &mut FakeController,
        ports: &[u16],
        config: Option<&LbConfig>,
    ) -> TestResult {
        let state = ResolverState {
            addresses: addresses(ports),
            ..ResolverState::default()
        };
        assert!(policy.resolver_update(&state, config, channel).is_ok());
        for port in ports {
            channel.set_state(policy, &addr(*port), Ready)?;
        }
        assert_eq!(channel.state(), Some(Ready));
        Ok(())
    }

    fn trailers(report: &OrcaLoadReport) -> Metadata {
        let mut trailers = Metadata::new();
        report.to_trailer(&mut trailers);
        trailers
    }

    fn load(qps: f64, cpu: f64) -> OrcaLoadReport {
        OrcaLoadReport {
            rps_fractional: qps,
            cpu_utilization: cpu,
            ..OrcaLoadReport::default()
        }
    }

    /// Makes `calls` calls through the current picker; each ends with the report
    /// `reports` gives for its backend (none if `None`). Returns the calls per backend.
    fn serve(
        channel: &FakeController,
        calls: usize,
        reports: &dyn Fn(&str) -> Option<OrcaLoadReport>,
    ) -> TestResult<HashMap<String, usize>> {
        let picker = channel.picker()?;
        let ok = Status::ok();
        let mut counts = HashMap::new();
        for _ in 0..calls {
            let PickResult::Pick(pick) = pick(&*picker) else {
                return Err("expected a pick".into());
            };
            let address = pick.subchannel.address().to_string();
            let trailers = reports(&address).map_or_else(Metadata::new, |r| trailers(&r));
            if let Some(on_complete) = pick.on_complete {
                on_complete(&CallOutcome {
                    status: &ok,
                    trailers: &trailers,
                });
            }
            *counts.entry(address).or_insert(0) += 1;
        }
        Ok(counts)
    }

    fn ratio(counts: &HashMap<String, usize>, a: u16, b: u16) -> f64 {
        counts.get(&addr(a)).copied().unwrap_or(0) as f64
            / counts.get(&addr(b)).copied().unwrap_or(1).max(1) as f64
    }

    /// Backend 1 at 25% utilization, 2 at 75%, same qps: weights 3:1.
    fn skewed(address: &str) -> Option<OrcaLoadReport> {
        Some(if address == addr(1) {
            load(100.0, 0.25)
        } else {
            load(100.0, 0.75)
        })
    }

    #[test]
    fn config_defaults_and_durations() -> TestResult {
        assert_eq!(parse(json!({})), Ok(WeightedRoundRobinConfig::default()));
        let config = parse(json!({
            "enableOobLoadReport": true,
            "oobReportingPeriod": "5s",
            "blackoutPeriod": "0.5s",
            "weightExpirationPeriod": "60.000000001s",
            "weightUpdatePeriod": "0.25s",
            "errorUtilizationPenalty": 2.5,
        }));
        assert_eq!(
            config,
            Ok(WeightedRoundRobinConfig {
                enable_oob_load_report: true,
                oob_reporting_period: Duration::from_secs(5),
                blackout_period: Duration::from_millis(500),
                weight_expiration_period: Duration::new(60, 1),
                weight_update_period: Duration::from_millis(250),
                error_utilization_penalty: 2.5,
            })
        );
        // The update period has a 100 ms floor; zero blackout and penalty are allowed.
        let config = parse(json!({
            "weightUpdatePeriod": "0.01s", "blackoutPeriod": "0s", "errorUtilizationPenalty": "0"
        }));
        let config = config?;
        assert_eq!(config.weight_update_period, Duration::from_millis(100));
        assert_eq!(config.blackout_period, Duration::ZERO);
        assert_eq!(config.error_utilization_penalty, 0.0);
        Ok(())
    }

    #[test]
    fn config_errors() -> TestResult {
        for bad in [
            json!("weighted"),
            json!({"enableOobLoadReport": "yes"}),
            json!({"blackoutPeriod": 10}),
            json!({"blackoutPeriod": "10"}),
            json!({"blackoutPeriod": "-1s"}),
            json!({"blackoutPeriod": "1.s"}),
            json!({"blackoutPeriod": ".5s"}),
            json!({"blackoutPeriod": "1.0000000001s"}),
            json!({"blackoutPeriod": "1ms"}),
            json!({"weightExpirationPeriod": "1e3s"}),
            json!({"weightUpdatePeriod": " 1s"}),
            json!({"oobReportingPeriod": "315576000001s"}),
            json!({"errorUtilizationPenalty": -0.5}),
            json!({"errorUtilizationPenalty": "lots"}),
            json!({"errorUtilizationPenalty": true}),
        ] {
            assert!(parse(bad.clone()).is_err(), "{bad} was accepted");
        }
        Ok(())
    }

    #[test]
    fn scheduler_follows_weights() -> TestResult {
        let scheduler = Scheduler::new(&[1.0, 2.0, 3.0, 4.0]);
        let mut counts = [0usize; 4];
        for _ in 0..100_000 {
            counts[scheduler.pick()] += 1;
        }
        for (i, count) in counts.iter().enumerate() {
            let expected = 100_000.0 * (i + 1) as f64 / 10.0;
            let error = (*count as f64 - expected).abs() / expected;
            assert!(error < 0.02, "{counts:?}");
        }
        // Unknown (0) weights get the mean of the known ones: 1, 3 -> 2.
        let scheduler = Scheduler::new(&[1.0, 0.0, 3.0]);
        let mut counts = [0usize; 3];
        for _ in 0..60_000 {
            counts[scheduler.pick()] += 1;
        }
        let shares: Vec<f64> = counts.iter().map(|c| *c as f64 / 60_000.0).collect();
        for (share, expected) in shares.iter().zip([1.0 / 6.0, 2.0 / 6.0, 3.0 / 6.0]) {
            assert!((share - expected).abs() < 0.01, "{shares:?}");
        }
        // Fewer than two known weights, or all equal: plain round robin, exactly even.
        for weights in [&[0.0, 5.0, 0.0][..], &[0.0, 0.0, 0.0], &[2.0, 2.0, 2.0]] {
            let scheduler = Scheduler::new(weights);
            assert!(scheduler.scaled.is_empty());
            let mut counts = [0usize; 3];
            for _ in 0..300 {
                counts[scheduler.pick()] += 1;
            }
            assert_eq!(counts, [100, 100, 100]);
        }
        // Very skewed weights are clamped to a 10:1 ratio, so picks stay cheap.
        let scheduler = Scheduler::new(&[1.0, 1_000_000.0]);
        let mut counts = [0usize; 2];
        for _ in 0..11_000 {
            counts[scheduler.pick()] += 1;
        }
        assert!((900..1100).contains(&counts[0]), "{counts:?}");
        Ok(())
    }

    #[test]
    fn weight_formula() -> TestResult {
        let epoch = Instant::now();
        let config = WeightedRoundRobinConfig {
            blackout_period: Duration::ZERO,
            ..WeightedRoundRobinConfig::default()
        };
        let weight = EndpointWeight::new(epoch);
        // qps / utilization.
        weight.record(&load(100.0, 0.5), 1.0, epoch);
        assert_eq!(weight.weight_at(epoch, &config), 200.0);
        // Application utilization wins over CPU when set.
        let report = OrcaLoadReport {
            application_utilization: 0.25,
            ..load(100.0, 0.5)
        };
        weight.record(&report, 1.0, epoch);
        assert_eq!(weight.weight_at(epoch, &config), 400.0);
        // Errors add eps / qps * penalty to the utilization: 100 / (0.5 + 0.1 * 2).
        let report = OrcaLoadReport {
            eps: 10.0,
            ..load(100.0, 0.5)
        };
        weight.record(&report, 2.0, epoch);
        assert!((weight.weight_at(epoch, &config) - 100.0 / 0.7).abs() < 1e-9);
        // Reports without qps or utilization are ignored.
        for ignored in [
            load(0.0, 0.5),
            load(100.0, 0.0),
            load(-1.0, 0.5),
            load(f64::NAN, 0.5),
        ] {
            weight.record(&ignored, 1.0, epoch);
            assert!((weight.weight_at(epoch, &config) - 100.0 / 0.7).abs() < 1e-9);
        }
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn load_shifts_toward_lower_utilization() -> TestResult {
        let (mut policy, mut channel, _) = policy();
        ready(&mut policy, &mut channel, &[1, 2], None)?;
        // Reports for the whole blackout period, then a rebuilt picker uses the weights.
        serve(&channel, 100, &skewed)?;
        tokio::time::advance(Duration::from_secs(11)).await;
        serve(&channel, 100, &skewed)?;
        policy.work(&mut channel);
        let counts = serve(&channel, 10_000, &skewed)?;
        let ratio = ratio(&counts, 1, 2);
        assert!((2.8..3.2).contains(&ratio), "{counts:?}");
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn blackout_period_holds_weights_back() -> TestResult {
        let (mut policy, mut channel, _) = policy();
        ready(&mut policy, &mut channel, &[1, 2], None)?;
        serve(&channel, 100, &skewed)?;
        // 9 s after the first reports: still in blackout, so still even.
        tokio::time::advance(Duration::from_secs(9)).await;
        policy.work(&mut channel);
        let counts = serve(&channel, 1000, &skewed)?;
        assert_eq!(counts[&addr(1)], 500, "{counts:?}");
        // Past 10 s: weighted.
        tokio::time::advance(Duration::from_secs(2)).await;
        policy.work(&mut channel);
        let counts = serve(&channel, 4000, &skewed)?;
        assert!((2.8..3.2).contains(&ratio(&counts, 1, 2)), "{counts:?}");

        // A subchannel that reconnects (READY again) sits out a new blackout: with one
        // usable weight left the picker is even again.
        channel.set_state(&mut policy, &addr(1), Idle)?;
        channel.set_state(&mut policy, &addr(1), Ready)?;
        serve(&channel, 100, &skewed)?;
        policy.work(&mut channel);
        let counts = serve(&channel, 1000, &skewed)?;
        assert_eq!(counts[&addr(1)], 500, "{counts:?}");
        tokio::time::advance(Duration::from_secs(11)).await;
        serve(&channel, 100, &skewed)?;
        policy.work(&mut channel);
        let counts = serve(&channel, 4000, &skewed)?;
        assert!((2.8..3.2).contains(&ratio(&counts, 1, 2)), "{counts:?}");
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn blackout_can_be_turned_off() -> TestResult {
        let (mut policy, mut channel, _) = policy();
        let config = lb_config(json!({"blackoutPeriod": "0s"}))?;
        ready(&mut policy, &mut channel, &[1, 2], Some(&config))?;
        serve(&channel, 10, &skewed)?;
        policy.work(&mut channel);
        let counts = serve(&channel, 4000, &skewed)?;
        assert!((2.8..3.2).contains(&ratio(&counts, 1, 2)), "{counts:?}");
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn weights_expire_without_reports() -> TestResult {
        let (mut policy, mut channel, _) = policy();
        ready(&mut policy, &mut channel, &[1, 2], None)?;
        serve(&channel, 100, &skewed)?;
        tokio::time::advance(Duration::from_secs(11)).await;
        serve(&channel, 100, &skewed)?;
        policy.work(&mut channel);
        assert!((2.8..3.2).contains(&ratio(&serve(&channel, 4000, &|_| None)?, 1, 2)));
        // No reports for 3 minutes: back to even.
        tokio::time::advance(Duration::from_secs(180)).await;
        policy.work(&mut channel);
        let counts = serve(&channel, 1000, &|_| None)?;
        assert_eq!(counts[&addr(1)], 500, "{counts:?}");
        // Reports resume: a new blackout applies before they count.
        serve(&channel, 100, &skewed)?;
        tokio::time::advance(Duration::from_secs(5)).await;
        policy.work(&mut channel);
        assert_eq!(serve(&channel, 1000, &skewed)?[&addr(1)], 500);
        tokio::time::advance(Duration::from_secs(6)).await;
        policy.work(&mut channel);
        let counts = serve(&channel, 4000, &skewed)?;
        assert!((2.8..3.2).contains(&ratio(&counts, 1, 2)), "{counts:?}");
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn backends_without_weights_get_the_mean() -> TestResult {
        let (mut policy, mut channel, _) = policy();
        let config = lb_config(json!({"blackoutPeriod": "0s"}))?;
        ready(&mut policy, &mut channel, &[1, 2, 3], Some(&config))?;
        // 1: weight 100, 2: weight 300, 3: never reports -> mean 200.
        let reports = |address: &str| match address {
            a if a == addr(1) => Some(load(100.0, 1.0)),
            a if a == addr(2) => Some(load(300.0, 1.0)),
            _ => None,
        };
        serve(&channel, 30, &reports)?;
        policy.work(&mut channel);
        let counts = serve(&channel, 60_000, &reports)?;
        let share = |port| counts[&addr(port)] as f64 / 60_000.0;
        assert!((share(1) - 1.0 / 6.0).abs() < 0.01, "{counts:?}");
        assert!((share(2) - 3.0 / 6.0).abs() < 0.01, "{counts:?}");
        assert!((share(3) - 2.0 / 6.0).abs() < 0.01, "{counts:?}");
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn one_weighted_backend_is_plain_round_robin() -> TestResult {
        let (mut policy, mut channel, _) = policy();
        let config = lb_config(json!({"blackoutPeriod": "0s"}))?;
        ready(&mut policy, &mut channel, &[1, 2, 3], Some(&config))?;
        let reports = |address: &str| (address == addr(1)).then(|| load(1000.0, 0.1));
        serve(&channel, 30, &reports)?;
        policy.work(&mut channel);
        let counts = serve(&channel, 3000, &reports)?;
        assert!(counts.values().all(|&c| c == 1000), "{counts:?}");
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn the_timer_asks_for_work_every_period_and_stops_with_the_policy() -> TestResult {
        let (mut policy, mut channel, requests) = policy();
        let config = lb_config(json!({"weightUpdatePeriod": "0.5s"}))?;
        ready(&mut policy, &mut channel, &[1, 2], Some(&config))?;
        assert_eq!(requests.load(Ordering::Relaxed), 0);
        tokio::time::sleep(Duration::from_millis(2250)).await;
        assert_eq!(requests.load(Ordering::Relaxed), 4);
        // A new period restarts the timer.
        let config = lb_config(json!({"weightUpdatePeriod": "1s"}))?;
        ready(&mut policy, &mut channel, &[1, 2], Some(&config))?;
        tokio::time::sleep(Duration::from_millis(2100)).await;
        assert_eq!(requests.load(Ordering::Relaxed), 6);
        drop(policy);
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(requests.load(Ordering::Relaxed), 6, "the timer stopped");
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn connectivity_is_round_robins() -> TestResult {
        let (mut policy, mut channel, _) = policy();
        let state = ResolverState {
            addresses: addresses(&[1, 2, 1]),
            ..ResolverState::default()
        };
        assert!(policy.resolver_update(&state, None, &mut channel).is_ok());
        assert_eq!(channel.subchannels.len(), 2, "duplicates collapse");
        assert!(
            channel
                .subchannels
                .iter()
                .map(connects)
                .collect::<TestResult<Vec<_>>>()?
                .iter()
                .all(|&n| n == 1),
            "all connect"
        );
        assert_eq!(channel.state(), Some(Connecting));
        assert!(matches!(pick(&*channel.picker()?), PickResult::Queue));
        channel.set_state(&mut policy, &addr(1), TransientFailure)?;
        channel.set_state(&mut policy, &addr(2), TransientFailure)?;
        assert_eq!(channel.state(), Some(TransientFailure));
        assert!(matches!(pick(&*channel.picker()?), PickResult::Fail(_)));
        channel.set_state(&mut policy, &addr(2), Ready)?;
        assert_eq!(channel.state(), Some(Ready));
        // READY -> IDLE reconnects at once.
        channel.set_state(&mut policy, &addr(2), Idle)?;
        assert_eq!(connects(&channel.subchannel(&addr(2))?)?, 2);
        assert!(channel.resolution_requests >= 1);
        // No addresses: an error, and calls fail.
        let empty = ResolverState::default();
        assert!(policy.resolver_update(&empty, None, &mut channel).is_err());
        assert_eq!(channel.state(), Some(TransientFailure));
        Ok(())
    }
}
