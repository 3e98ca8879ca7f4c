//! Bandwidth-delay product estimation, to grow the receive windows on fast, long paths.
//!
//! The algorithm is gRPC-Go's: when DATA arrives and no measurement is running, send a PING
//! and count the octets received until its ACK. That count is one round trip's worth of
//! data (a BDP sample). If a sample fills most of the current window (at least `beta` of
//! it) while bandwidth is at its highest yet, the window is the bottleneck: grow it to
//! `gamma` times the sample, up to [`BDP_WINDOW_LIMIT`](super::BDP_WINDOW_LIMIT).

use std::time::{Duration, Instant};

use super::config::BDP_WINDOW_LIMIT;

/// The payload of BDP pings, so their ACKs are told apart from other pings (the value
/// gRPC-Go uses).
pub(crate) const BDP_PING_PAYLOAD: [u8; 8] = [2, 4, 16, 16, 9, 14, 7, 7];

/// Weight of the newest RTT sample once 10 samples were taken.
const ALPHA: f64 = 0.9;
/// Fraction of the current estimate a sample must reach for the window to grow.
const BETA: f64 = 0.66;
/// How much larger than the sample the new window is.
const GAMMA: f64 = 2.0;

#[derive(Debug)]
pub(crate) struct BdpEstimator {
    /// Current estimate, which is also the window size in use.
    bdp: u32,
    /// Octets received since the ping was sent.
    sample: u64,
    /// Highest bandwidth seen, in octets per second.
    bandwidth_max: f64,
    /// A ping is outstanding (queued or sent, not yet acknowledged).
    measuring: bool,
    /// When the ping went out on the wire.
    sent_at: Option<Instant>,
    /// Smoothed round trip time, in seconds.
    rtt: f64,
    samples: u32,
}

impl BdpEstimator {
    pub(crate) fn new(initial_window: u32) -> BdpEstimator {
        BdpEstimator {
            bdp: initial_window,
            sample: 0,
            bandwidth_max: 0.0,
            measuring: false,
            sent_at: None,
            rtt: 0.0,
            samples: 0,
        }
    }

    /// DATA of `len` octets arrived; `credit_due` says whether this DATA makes the
    /// connection return credit (a WINDOW_UPDATE on stream 0) now. Returns `true` if a BDP
    /// ping must be sent now.
    ///
    /// Unlike gRPC-Go, which starts a measurement on any DATA, a measurement starts only
    /// along with connection credit: the ping rides in the same write as the WINDOW_UPDATE,
    /// and a connection carrying small messages (far from its window) never pays a PING
    /// round trip per message. Whenever the window could be the bottleneck, credit flows
    /// (every quarter window), so measurements still start.
    pub(crate) fn on_data(&mut self, len: u32, credit_due: bool) -> bool {
        if self.bdp >= BDP_WINDOW_LIMIT {
            return false;
        }
        if !self.measuring {
            if !credit_due {
                return false;
            }
            self.measuring = true;
            self.sample = u64::from(len);
            self.sent_at = None;
            self.samples += 1;
            return true;
        }
        self.sample += u64::from(len);
        false
    }

    /// The BDP ping was written to the transport at `now`.
    pub(crate) fn on_ping_sent(&mut self, now: Instant) {
        if self.measuring && self.sent_at.is_none() {
            self.sent_at = Some(now);
        }
    }

    /// The BDP ping was acknowledged. Returns the new window size if it should grow.
    pub(crate) fn on_ping_ack(&mut self, now: Instant) -> Option<u32> {
        if !self.measuring {
            return None;
        }
        self.measuring = false;
        let sent_at = self.sent_at.take()?;
        let rtt_sample = now
            .saturating_duration_since(sent_at)
            .max(Duration::from_micros(1))
            .as_secs_f64();
        if self.samples < 10 {
            self.rtt += (rtt_sample - self.rtt) / f64::from(self.samples.max(1));
        } else {
            self.rtt += (rtt_sample - self.rtt) * ALPHA;
        }
        // gRPC-Go divides by 1.5 RTT: the sample covers a little more than one round trip.
        let bandwidth = self.sample as f64 / (self.rtt * 1.5);
        if bandwidth > self.bandwidth_max {
            self.bandwidth_max = bandwidth;
        }
        let sample = self.sample as f64;
        if sample >= BETA * f64::from(self.bdp) && bandwidth >= self.bandwidth_max {
            let grown = (GAMMA * sample).min(f64::from(BDP_WINDOW_LIMIT)) as u32;
            if grown > self.bdp {
                self.bdp = grown;
                return Some(grown);
            }
        }
        None
    }

    /// The current estimate (the window in use).
    #[cfg(test)]
    pub(crate) fn estimate(&self) -> u32 {
        self.bdp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_that_fills_the_window_doubles_it() {
        let start = Instant::now();
        let mut bdp = BdpEstimator::new(65_535);
        assert!(!bdp.on_data(16_384, false), "no credit due: no ping");
        assert!(bdp.on_data(16_384, true));
        assert!(!bdp.on_data(16_384, true), "one ping at a time");
        bdp.on_ping_sent(start);
        bdp.on_data(16_384, false);
        bdp.on_data(16_383, false);
        assert_eq!(
            bdp.on_ping_ack(start + Duration::from_millis(1)),
            Some(2 * 65_535)
        );
    }

    #[test]
    fn a_small_sample_leaves_the_window_alone() {
        let start = Instant::now();
        let mut bdp = BdpEstimator::new(65_535);
        assert!(bdp.on_data(100, true));
        bdp.on_ping_sent(start);
        assert_eq!(bdp.on_ping_ack(start + Duration::from_millis(1)), None);
        assert_eq!(bdp.estimate(), 65_535);
    }

    #[test]
    fn growth_stops_at_the_limit() {
        let mut now = Instant::now();
        let mut bdp = BdpEstimator::new(65_535);
        for _ in 0..40 {
            if bdp.on_data(BDP_WINDOW_LIMIT, true) {
                bdp.on_ping_sent(now);
                now += Duration::from_millis(1);
                bdp.on_ping_ack(now);
            }
        }
        assert_eq!(bdp.estimate(), BDP_WINDOW_LIMIT);
        assert!(!bdp.on_data(1, true), "no more pings once at the limit");
    }
}
