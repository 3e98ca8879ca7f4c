//! Per-call ORCA backend metrics (gRFC A51, "Per-Call Metrics"): [`CallMetricsRecorder`].
//!
//! With [`ServerBuilder::orca_reporting`](crate::ServerBuilder::orca_reporting) on, every
//! call gets a recorder in its request's extensions. Whatever the handler records is sent
//! when the call ends, serialized as an `xds.data.orca.v3.OrcaLoadReport` in the
//! `endpoint-load-metrics-bin` trailer, where client balancers (`weighted_round_robin`,
//! gRFC A58) read it. Calls that record nothing send no trailer.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

/// Re-exported from grpc-core: the report type and its trailer's name.
pub use grpc_core::orca::{ORCA_TRAILER, OrcaLoadReport};

/// Records one call's backend metrics; the server sends them as the call's
/// `endpoint-load-metrics-bin` trailer (gRFC A51).
///
/// Handlers find it in their request's extensions when the server was built with
/// [`orca_reporting(true)`](crate::ServerBuilder::orca_reporting):
///
/// ```
/// use grpc_server::{CallMetricsRecorder, Request};
///
/// fn handle(request: &Request<()>) {
///     if let Some(recorder) = request.extensions().get::<CallMetricsRecorder>() {
///         recorder.record_cpu_utilization(0.4);
///         recorder.record_qps(250.0);
///         recorder.record_named_metric("cache_hit_ratio", 0.9);
///     }
/// }
/// # let recorder = CallMetricsRecorder::new();
/// # let mut request = Request::new(());
/// # request.extensions_mut().insert(recorder.clone());
/// # handle(&request);
/// # assert_eq!(recorder.report().unwrap().rps_fractional, 250.0);
/// ```
///
/// Clones share one report, so a handler may hand a clone to a task of its own. Values
/// outside a metric's range (negative, not a number, a memory or named utilization above
/// 1.0) are ignored, as gRPC-Go's recorder does; a later value of the same metric replaces
/// an earlier one.
#[derive(Clone, Default)]
pub struct CallMetricsRecorder {
    inner: Arc<Mutex<Recorded>>,
}

#[derive(Default)]
struct Recorded {
    report: OrcaLoadReport,
    /// Something was recorded (a report of zeros is still a report).
    any: bool,
}

impl CallMetricsRecorder {
    /// An empty recorder (the server makes one per call; handlers need not).
    pub fn new() -> CallMetricsRecorder {
        CallMetricsRecorder::default()
    }

    fn update(&self, valid: bool, set: impl FnOnce(&mut OrcaLoadReport)) {
        if !valid {
            return;
        }
        let mut recorded = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        set(&mut recorded.report);
        recorded.any = true;
    }

    /// CPU utilization, a fraction of the available CPU (may exceed 1.0; must be >= 0).
    pub fn record_cpu_utilization(&self, value: f64) {
        self.update(non_negative(value), |r| r.cpu_utilization = value);
    }

    /// Application utilization, a fraction of the available resources (may exceed 1.0;
    /// must be >= 0). Balancers prefer it to CPU utilization when it is set.
    pub fn record_application_utilization(&self, value: f64) {
        self.update(non_negative(value), |r| r.application_utilization = value);
    }

    /// Memory utilization, a fraction in `[0, 1]`.
    pub fn record_memory_utilization(&self, value: f64) {
        self.update(fraction(value), |r| r.mem_utilization = value);
    }

    /// Queries per second served by this endpoint (>= 0); `rps_fractional` on the wire.
    pub fn record_qps(&self, value: f64) {
        self.update(non_negative(value), |r| r.rps_fractional = value);
    }

    /// Errors per second served by this endpoint (>= 0).
    pub fn record_eps(&self, value: f64) {
        self.update(non_negative(value), |r| r.eps = value);
    }

    /// An application-specific cost of this request (any finite value).
    pub fn record_request_cost(&self, name: &str, value: f64) {
        self.update(value.is_finite(), |r| {
            r.request_cost.insert(name.to_owned(), value);
        });
    }

    /// A named resource utilization, a fraction in `[0, 1]`.
    pub fn record_utilization(&self, name: &str, value: f64) {
        self.update(fraction(value), |r| {
            r.utilization.insert(name.to_owned(), value);
        });
    }

    /// An application-specific opaque metric (any finite value).
    pub fn record_named_metric(&self, name: &str, value: f64) {
        self.update(value.is_finite(), |r| {
            r.named_metrics.insert(name.to_owned(), value);
        });
    }

    /// The report so far; `None` if nothing was recorded.
    pub fn report(&self) -> Option<OrcaLoadReport> {
        let recorded = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        recorded.any.then(|| recorded.report.clone())
    }
}

impl fmt::Debug for CallMetricsRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CallMetricsRecorder")
            .field(&self.report())
            .finish()
    }
}

fn non_negative(value: f64) -> bool {
    value.is_finite() && value >= 0.0
}

fn fraction(value: f64) -> bool {
    (0.0..=1.0).contains(&value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_valid_values_and_ignores_the_rest() -> Result<(), Box<dyn std::error::Error>> {
        let recorder = CallMetricsRecorder::new();
        assert!(recorder.report().is_none());
        recorder.record_cpu_utilization(-1.0);
        recorder.record_memory_utilization(1.5);
        recorder.record_qps(f64::NAN);
        recorder.record_utilization("disk", 2.0);
        recorder.record_named_metric("x", f64::INFINITY);
        assert!(recorder.report().is_none(), "invalid values record nothing");

        let clone = recorder.clone();
        clone.record_cpu_utilization(1.25);
        recorder.record_application_utilization(0.5);
        recorder.record_memory_utilization(0.25);
        recorder.record_qps(10.0);
        recorder.record_eps(0.0);
        recorder.record_request_cost("db", -3.0);
        recorder.record_utilization("disk", 1.0);
        recorder.record_named_metric("queue", 4.0);
        recorder.record_named_metric("queue", 5.0);
        let report = recorder.report().ok_or("no report")?;
        assert_eq!(report.cpu_utilization, 1.25);
        assert_eq!(report.application_utilization, 0.5);
        assert_eq!(report.mem_utilization, 0.25);
        assert_eq!(report.rps_fractional, 10.0);
        assert_eq!(report.eps, 0.0);
        assert_eq!(report.request_cost["db"], -3.0);
        assert_eq!(report.utilization["disk"], 1.0);
        assert_eq!(report.named_metrics["queue"], 5.0);
        Ok(())
    }

    #[test]
    fn a_zero_value_still_makes_a_report() -> Result<(), Box<dyn std::error::Error>> {
        let recorder = CallMetricsRecorder::new();
        recorder.record_eps(0.0);
        assert_eq!(recorder.report(), Some(OrcaLoadReport::default()));
        Ok(())
    }
}
