//! Token buckets that bound how much pointless or abusive work a peer can make us do.

use std::time::Instant;

use super::config::FloodLimit;

/// A token bucket refilled continuously at `per_second`, holding at most `burst` tokens.
#[derive(Clone, Debug)]
pub(crate) struct FloodBudget {
    limit: FloodLimit,
    /// Tokens, scaled by 1,000 so refills of less than one token per call are not lost.
    milli_tokens: u64,
    refilled_at: Instant,
}

impl FloodBudget {
    pub(crate) fn new(limit: FloodLimit, now: Instant) -> FloodBudget {
        FloodBudget {
            limit,
            milli_tokens: u64::from(limit.burst) * 1000,
            refilled_at: now,
        }
    }

    /// Spends one token. Returns `false` once the budget is exhausted.
    pub(crate) fn spend(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.refilled_at);
        let refill = elapsed.as_millis() as u64 * u64::from(self.limit.per_second);
        if refill > 0 {
            self.milli_tokens =
                (self.milli_tokens + refill).min(u64::from(self.limit.burst) * 1000);
            self.refilled_at = now;
        }
        if self.milli_tokens >= 1000 {
            self.milli_tokens -= 1000;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn budget_allows_a_burst_then_refills_over_time() {
        let start = Instant::now();
        let mut budget = FloodBudget::new(
            FloodLimit {
                burst: 3,
                per_second: 10,
            },
            start,
        );
        assert!((0..3).all(|_| budget.spend(start)));
        assert!(!budget.spend(start));
        assert!(budget.spend(start + Duration::from_millis(100)));
        assert!(!budget.spend(start + Duration::from_millis(100)));
    }
}
