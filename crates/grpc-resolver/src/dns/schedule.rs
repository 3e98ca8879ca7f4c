//! When the DNS resolver resolves: a sans-IO schedule with time passed in.
//!
//! The rules (gRPC-Go's dns resolver, plus a periodic refresh):
//! - resolve at once when built;
//! - after a success, resolve again after the refresh interval;
//! - after a failure, retry after an exponential backoff (1 s, x1.6, ±20 % jitter, as in
//!   gRPC's connection-backoff.md), capped at the refresh interval;
//! - `resolve_now` asks for a resolution, but no sooner than the minimum interval after the
//!   previous one finished; requests inside the interval are coalesced into one resolution
//!   when it elapses (not dropped). A request made while a resolution runs is served by the
//!   next one: the running one may have asked before the change that prompted the request.

use std::time::Duration;

use tokio::time::Instant;

/// The first retry delay after a failed resolution.
pub(crate) const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// Each further retry waits this many times longer.
pub(crate) const BACKOFF_MULTIPLIER: f64 = 1.6;
/// Retry delays vary by up to this fraction either way.
pub(crate) const BACKOFF_JITTER: f64 = 0.2;

/// The delay before retry number `retry` (0 for the first retry after a failure):
/// `1 s * 1.6^retry`, capped at `cap`, then jittered by ±20 % (`unit` is a uniform draw from
/// `[0, 1)`), and never above `cap`.
pub(crate) fn backoff_delay(retry: u32, cap: Duration, unit: f64) -> Duration {
    let cap_secs = cap.as_secs_f64();
    // Past 64 retries 1.6^n is astronomically above any cap; stop multiplying.
    let exponent = i32::try_from(retry.min(64)).unwrap_or(64);
    let unjittered = (BACKOFF_BASE.as_secs_f64() * BACKOFF_MULTIPLIER.powi(exponent)).min(cap_secs);
    let unit = if unit.is_finite() {
        unit.clamp(0.0, 1.0)
    } else {
        0.5
    };
    let jittered = unjittered * (1.0 + BACKOFF_JITTER * (2.0 * unit - 1.0));
    Duration::try_from_secs_f64(jittered.clamp(0.0, cap_secs)).unwrap_or(cap)
}

/// The resolution schedule of one DNS resolver.
#[derive(Debug)]
pub(crate) struct Schedule {
    min_interval: Duration,
    refresh_interval: Duration,
    /// When the next resolution is due on its own: the first one, a refresh or a retry.
    timer: Instant,
    /// When the previous resolution finished.
    last_finished: Option<Instant>,
    /// `resolve_now` was asked since the running or last resolution started.
    resolve_now_pending: bool,
    /// Consecutive failed resolutions.
    failures: u32,
}

impl Schedule {
    /// A schedule whose first resolution is due at `now`.
    pub(crate) fn new(now: Instant, min_interval: Duration, refresh_interval: Duration) -> Self {
        Schedule {
            min_interval,
            refresh_interval,
            timer: now,
            last_finished: None,
            resolve_now_pending: false,
            failures: 0,
        }
    }

    /// When the next resolution should start (it may be in the past: start at once).
    pub(crate) fn next_due(&self) -> Instant {
        match (self.resolve_now_pending, self.last_finished) {
            (true, Some(last)) => self.timer.min(last + self.min_interval),
            // Before the first resolution, the timer is already due.
            _ => self.timer,
        }
    }

    /// The channel asked for a re-resolution.
    pub(crate) fn resolve_now(&mut self) {
        self.resolve_now_pending = true;
    }

    /// A resolution starts: it serves every request made so far.
    pub(crate) fn started(&mut self) {
        self.resolve_now_pending = false;
    }

    /// The resolution that started last succeeded, finishing at `now`.
    pub(crate) fn succeeded(&mut self, now: Instant) {
        self.failures = 0;
        self.last_finished = Some(now);
        self.timer = now + self.refresh_interval;
    }

    /// The resolution that started last failed at `now`; `unit` is a uniform draw from
    /// `[0, 1)` for the jitter. Returns the delay until the retry.
    pub(crate) fn failed(&mut self, now: Instant, unit: f64) -> Duration {
        let delay = backoff_delay(self.failures, self.refresh_interval, unit);
        self.failures = self.failures.saturating_add(1);
        self.last_finished = Some(now);
        self.timer = now + delay;
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(30);
    const REFRESH: Duration = Duration::from_secs(300);

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn close(a: Duration, b: Duration) -> bool {
        a.abs_diff(b) < Duration::from_micros(10)
    }

    #[test]
    fn backoff_grows_by_1_6_with_20_percent_jitter_and_is_capped() {
        // unit 0.5 is no jitter.
        let expected = [1.0, 1.6, 2.56, 4.096, 6.5536];
        for (retry, want) in expected.into_iter().enumerate() {
            let got = backoff_delay(retry as u32, REFRESH, 0.5);
            assert!(close(got, secs(want)), "retry {retry}: {got:?}");
        }
        assert!(close(backoff_delay(0, REFRESH, 0.0), secs(0.8)));
        assert!(close(backoff_delay(1, REFRESH, 0.999_999_9), secs(1.92)));
        // The cap holds, jitter included, and huge retry counts neither overflow nor panic.
        assert_eq!(backoff_delay(20, REFRESH, 0.999), REFRESH);
        assert!(backoff_delay(u32::MAX, REFRESH, 0.0) <= REFRESH);
        assert!(close(
            backoff_delay(u32::MAX, REFRESH, 0.0),
            REFRESH.mul_f64(0.8)
        ));
        assert_eq!(backoff_delay(3, Duration::from_millis(100), 0.7), secs(0.1));
        assert!(backoff_delay(0, REFRESH, f64::NAN) <= REFRESH);
    }

    #[test]
    fn first_resolution_is_immediate_then_periodic() {
        let t0 = Instant::now();
        let mut s = Schedule::new(t0, MIN, REFRESH);
        assert_eq!(s.next_due(), t0);
        s.started();
        let t1 = t0 + secs(0.2);
        s.succeeded(t1);
        assert_eq!(s.next_due(), t1 + REFRESH);
    }

    #[test]
    fn resolve_now_is_rate_limited_and_coalesced() {
        let t0 = Instant::now();
        let mut s = Schedule::new(t0, MIN, REFRESH);
        s.started();
        s.succeeded(t0);
        // Many requests inside the interval: one resolution when it elapses.
        for _ in 0..10 {
            s.resolve_now();
        }
        assert_eq!(s.next_due(), t0 + MIN);
        s.started();
        let t1 = t0 + MIN + secs(0.1);
        s.succeeded(t1);
        // Served: nothing is due before the refresh.
        assert_eq!(s.next_due(), t1 + REFRESH);
        // A request long after the last resolution is due at once (a time in the past).
        s.resolve_now();
        assert_eq!(s.next_due(), t1 + MIN);
        assert!(s.next_due() < t1 + REFRESH);
    }

    #[test]
    fn a_request_during_a_resolution_waits_for_the_next_one() {
        let t0 = Instant::now();
        let mut s = Schedule::new(t0, MIN, REFRESH);
        s.started();
        s.resolve_now(); // arrives while the lookup runs
        let t1 = t0 + secs(1.0);
        s.succeeded(t1);
        assert_eq!(s.next_due(), t1 + MIN);
    }

    #[test]
    fn the_refresh_wins_when_it_comes_before_the_rate_limit() {
        let t0 = Instant::now();
        let mut s = Schedule::new(t0, secs(60.0), secs(10.0));
        s.started();
        s.succeeded(t0);
        s.resolve_now();
        assert_eq!(s.next_due(), t0 + secs(10.0));
    }

    #[test]
    fn failures_back_off_and_a_success_resets() {
        let t0 = Instant::now();
        let mut s = Schedule::new(t0, MIN, REFRESH);
        let mut now = t0;
        for want in [1.0, 1.6, 2.56] {
            s.started();
            let delay = s.failed(now, 0.5);
            assert!(close(delay, secs(want)), "{delay:?}");
            assert_eq!(s.next_due(), now + delay);
            now += delay;
        }
        s.started();
        s.succeeded(now);
        assert_eq!(s.next_due(), now + REFRESH);
        s.started();
        assert!(close(s.failed(now, 0.5), secs(1.0)), "backoff restarts");
    }

    #[test]
    fn backoff_is_capped_at_the_refresh_interval() {
        let t0 = Instant::now();
        let refresh = Duration::from_millis(200);
        let mut s = Schedule::new(t0, MIN, refresh);
        s.started();
        assert_eq!(s.failed(t0, 0.99), refresh);
        assert_eq!(s.next_due(), t0 + refresh);
    }

    #[test]
    fn resolve_now_can_cut_a_long_backoff_short_but_not_below_the_interval() {
        let t0 = Instant::now();
        let mut s = Schedule::new(t0, secs(30.0), REFRESH);
        let mut now = t0;
        // Fail until the backoff exceeds the minimum interval.
        let mut delay = Duration::ZERO;
        while delay <= secs(30.0) {
            s.started();
            delay = s.failed(now, 0.5);
            now += Duration::from_millis(1);
        }
        let finished = now - Duration::from_millis(1);
        s.resolve_now();
        assert_eq!(s.next_due(), finished + secs(30.0));
    }
}
