//! Connection backoff, as gRPC's `connection-backoff.md` specifies it:
//!
//! ```text
//! ConnectWithBackoff()
//!   current_backoff = INITIAL_BACKOFF
//!   current_deadline = now() + INITIAL_BACKOFF
//!   while (TryConnect(Max(current_deadline, now() + MIN_CONNECT_TIMEOUT)) != SUCCESS)
//!     SleepUntil(current_deadline)
//!     current_backoff = Min(current_backoff * MULTIPLIER, MAX_BACKOFF)
//!     current_deadline = now() + current_backoff +
//!       UniformRandom(-JITTER * current_backoff, JITTER * current_backoff)
//! ```
//!
//! The time an attempt takes counts towards the wait before the next one.

use std::time::Duration;

/// How long to wait between connection attempts. The defaults are gRPC's: 1 s, x1.6 per
/// attempt, ±20 % jitter, at most 120 s.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConnectBackoff {
    /// The wait after the first failed attempt. Default 1 s.
    pub base_delay: Duration,
    /// Each further wait is this many times the previous one. Default 1.6.
    pub multiplier: f64,
    /// Each wait is randomised by up to this fraction either way. Default 0.2.
    pub jitter: f64,
    /// The longest wait. Default 120 s.
    pub max_delay: Duration,
}

impl ConnectBackoff {
    /// Default [`ConnectBackoff::base_delay`].
    pub const DEFAULT_BASE_DELAY: Duration = Duration::from_secs(1);
    /// Default [`ConnectBackoff::multiplier`].
    pub const DEFAULT_MULTIPLIER: f64 = 1.6;
    /// Default [`ConnectBackoff::jitter`].
    pub const DEFAULT_JITTER: f64 = 0.2;
    /// Default [`ConnectBackoff::max_delay`].
    pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(120);
}

impl Default for ConnectBackoff {
    fn default() -> ConnectBackoff {
        ConnectBackoff {
            base_delay: ConnectBackoff::DEFAULT_BASE_DELAY,
            multiplier: ConnectBackoff::DEFAULT_MULTIPLIER,
            jitter: ConnectBackoff::DEFAULT_JITTER,
            max_delay: ConnectBackoff::DEFAULT_MAX_DELAY,
        }
    }
}

/// The backoff of one run of connection attempts.
#[derive(Debug)]
pub(crate) struct BackoffState {
    config: ConnectBackoff,
    current: Duration,
    rng: Rng,
}

impl BackoffState {
    pub(crate) fn new(config: ConnectBackoff) -> BackoffState {
        BackoffState {
            config,
            current: config.base_delay,
            rng: Rng::seeded(),
        }
    }

    /// The wait before the first retry: the initial backoff, without jitter.
    pub(crate) fn first(&self) -> Duration {
        self.config.base_delay
    }

    /// The wait before the next retry: grows the backoff and applies jitter.
    pub(crate) fn next(&mut self) -> Duration {
        let grown = self.current.mul_f64(self.config.multiplier.max(1.0));
        self.current = grown.min(self.config.max_delay);
        let jitter = self.config.jitter.clamp(0.0, 1.0);
        // A factor uniformly distributed in [1 - jitter, 1 + jitter].
        let factor = 1.0 + jitter * (2.0 * self.rng.next_unit() - 1.0);
        self.current.mul_f64(factor)
    }
}

/// A uniformly distributed value in [0, 1) from a per-thread generator (retry jitter).
pub(crate) fn random_unit() -> f64 {
    use std::cell::RefCell;
    thread_local! {
        static RNG: RefCell<Rng> = RefCell::new(Rng::seeded());
    }
    RNG.with(|rng| rng.borrow_mut().next_unit())
}

/// A small xorshift generator: jitter needs no cryptographic randomness, and a dependency
/// for it would be heavier than these lines. Seeded from std's per-process random hasher keys.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(0x9e37_79b9_7f4a_7c15);
        Rng(hasher.finish() | 1)
    }

    /// A value in [0, 1).
    fn next_unit(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        // The top 53 bits make a uniformly spaced double in [0, 1).
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_by_the_multiplier_within_jitter_up_to_the_cap() {
        let mut backoff = BackoffState::new(ConnectBackoff::default());
        assert_eq!(backoff.first(), Duration::from_secs(1));
        let mut expected = 1.0f64;
        for _ in 0..20 {
            expected = (expected * 1.6).min(120.0);
            let wait = backoff.next().as_secs_f64();
            assert!(
                wait >= expected * 0.8 - 1e-9 && wait <= expected * 1.2 + 1e-9,
                "{wait} outside {expected} ± 20%"
            );
        }
        assert!(backoff.next() <= Duration::from_secs(144));
    }

    #[test]
    fn zero_jitter_is_exact() {
        let mut backoff = BackoffState::new(ConnectBackoff {
            jitter: 0.0,
            base_delay: Duration::from_millis(100),
            multiplier: 2.0,
            max_delay: Duration::from_millis(500),
        });
        let waits: Vec<_> = (0..4).map(|_| backoff.next().as_millis()).collect();
        assert_eq!(waits, [200, 400, 500, 500]);
    }
}
