//! Keepalive pings we send, and the policing of pings the peer sends (gRPC-Go's keepalive
//! and enforcement policy, gRFC A8).

use std::time::{Duration, Instant};

use super::config::{KeepaliveConfig, PingPolicy};

/// The payload of keepalive pings.
pub(crate) const KEEPALIVE_PING_PAYLOAD: [u8; 8] = *b"kpalive\0";

/// What the keepalive timer wants done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeepaliveAction {
    /// Nothing yet.
    None,
    /// Send a keepalive PING now.
    SendPing,
    /// The last PING went unanswered: close the connection.
    TimedOut,
}

/// Sends a PING after `time` without reading anything, and gives up `timeout` later.
#[derive(Debug)]
pub(crate) struct Keepalive {
    time: Option<Duration>,
    timeout: Duration,
    /// Ping even with no stream open (always true for the server side).
    permit_without_stream: bool,
    last_read: Instant,
    /// When our outstanding keepalive PING was sent.
    ping_sent_at: Option<Instant>,
}

impl Keepalive {
    /// Keepalive for a server (`server`: pings whether or not streams are open) or a client.
    pub(crate) fn new(config: &KeepaliveConfig, server: bool, now: Instant) -> Keepalive {
        // A client never pings more often than every 10 s, whatever it was configured with
        // (gRPC-Go raises shorter times the same way), so servers enforcing a minimum
        // interval do not close it.
        let time = if server {
            config.time
        } else {
            config
                .time
                .map(|time| time.max(KeepaliveConfig::MIN_CLIENT_TIME))
        };
        Keepalive {
            time,
            timeout: config.timeout,
            permit_without_stream: server || config.permit_without_stream,
            last_read: now,
            ping_sent_at: None,
        }
    }

    /// A frame arrived: the peer is alive.
    pub(crate) fn on_read(&mut self, now: Instant) {
        self.last_read = now;
        self.ping_sent_at = None;
    }

    /// The configured keepalive time, if keepalive is on.
    pub(crate) fn time(&self) -> Option<Duration> {
        self.time
    }

    /// Doubles the keepalive time, as a client must after GOAWAY "too_many_pings" (gRFC A8).
    pub(crate) fn back_off(&mut self) {
        self.time = self.time.map(|time| time.saturating_mul(2));
    }

    /// When [`Keepalive::poll`] has something to do, given whether streams are open.
    pub(crate) fn deadline(&self, has_streams: bool) -> Option<Instant> {
        let time = self.time?;
        if let Some(sent) = self.ping_sent_at {
            return Some(sent + self.timeout);
        }
        if !has_streams && !self.permit_without_stream {
            return None; // dormant until a stream opens
        }
        Some(self.last_read + time)
    }

    pub(crate) fn poll(&mut self, now: Instant, has_streams: bool) -> KeepaliveAction {
        let Some(deadline) = self.deadline(has_streams) else {
            return KeepaliveAction::None;
        };
        if now < deadline {
            return KeepaliveAction::None;
        }
        if self.ping_sent_at.is_some() {
            return KeepaliveAction::TimedOut;
        }
        self.ping_sent_at = Some(now);
        KeepaliveAction::SendPing
    }
}

/// Server side: counts pings that come too often. "Too often" is closer than
/// [`PingPolicy::min_time`] apart, or any ping while no stream is open unless permitted (then
/// the interval is 2 hours, as in gRPC-Go). Sending HEADERS or DATA forgives past strikes.
#[derive(Debug)]
pub(crate) struct PingEnforcer {
    policy: PingPolicy,
    last_ping: Option<Instant>,
    strikes: u32,
}

/// The interval gRPC-Go requires between pings on a connection with no streams when
/// `permit_without_stream` is false.
const IDLE_PING_INTERVAL: Duration = Duration::from_secs(2 * 60 * 60);

impl PingEnforcer {
    pub(crate) fn new(policy: PingPolicy) -> PingEnforcer {
        PingEnforcer {
            policy,
            last_ping: None,
            strikes: 0,
        }
    }

    /// A PING arrived. Returns `false` when the peer has run out of strikes.
    pub(crate) fn on_ping(&mut self, now: Instant, has_streams: bool) -> bool {
        let min = if has_streams || self.policy.permit_without_stream {
            self.policy.min_time
        } else {
            IDLE_PING_INTERVAL
        };
        if let Some(last) = self.last_ping {
            if now.saturating_duration_since(last) < min {
                self.strikes += 1;
            }
        }
        self.last_ping = Some(now);
        self.strikes <= self.policy.max_strikes
    }

    /// We sent HEADERS or DATA: pings in between are expected (e.g. BDP pings).
    pub(crate) fn on_send(&mut self) {
        self.strikes = 0;
        self.last_ping = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(time: u64) -> KeepaliveConfig {
        KeepaliveConfig {
            time: Some(Duration::from_secs(time)),
            timeout: Duration::from_secs(20),
            permit_without_stream: false,
        }
    }

    #[test]
    fn pings_after_idle_time_and_times_out_without_answer() {
        let start = Instant::now();
        let mut keepalive = Keepalive::new(&config(10), false, start);
        assert_eq!(keepalive.deadline(false), None, "dormant without streams");
        assert_eq!(
            keepalive.deadline(true),
            Some(start + Duration::from_secs(10))
        );
        assert_eq!(
            keepalive.poll(start + Duration::from_secs(10), true),
            KeepaliveAction::SendPing
        );
        assert_eq!(
            keepalive.poll(start + Duration::from_secs(29), true),
            KeepaliveAction::None
        );
        assert_eq!(
            keepalive.poll(start + Duration::from_secs(30), true),
            KeepaliveAction::TimedOut
        );
    }

    #[test]
    fn reading_anything_rearms_the_timer() {
        let start = Instant::now();
        let mut keepalive = Keepalive::new(&config(10), false, start);
        keepalive.poll(start + Duration::from_secs(10), true);
        keepalive.on_read(start + Duration::from_secs(11));
        assert_eq!(
            keepalive.deadline(true),
            Some(start + Duration::from_secs(21))
        );
    }

    #[test]
    fn third_early_ping_exhausts_two_strikes() {
        let start = Instant::now();
        let mut enforcer = PingEnforcer::new(PingPolicy::default());
        assert!(enforcer.on_ping(start, true));
        assert!(enforcer.on_ping(start, true));
        assert!(enforcer.on_ping(start, true));
        assert!(!enforcer.on_ping(start, true));
    }

    #[test]
    fn sending_data_forgives_strikes() {
        let start = Instant::now();
        let mut enforcer = PingEnforcer::new(PingPolicy::default());
        for _ in 0..10 {
            enforcer.on_send();
            assert!(enforcer.on_ping(start, true));
        }
    }
}
