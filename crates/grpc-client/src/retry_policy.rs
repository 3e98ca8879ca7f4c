//! The mechanics of configured retries and hedging (gRFC A6, "gRPC Retry Design").
//!
//! Everything here is pure and deterministic: no clock, no I/O, no random number generator.
//! Callers pass in the random draw (a number in `[0, 1)`) and the attempt outcome, and get back a
//! decision. The channel's call path owns the timers, the message buffer and the attempts
//! themselves; this module only answers "retry, and after how long?" or "hedge again?".
//!
//! The policy types ([`RetryPolicy`], [`HedgingPolicy`], [`RetryThrottling`]) are what the
//! service config parser (`service_config.rs`) produces from a `methodConfig` entry and from
//! `retryThrottling`.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use grpc_core::Code;

/// The trailer a server sets to push back on retries (A6, "Pushback").
pub(crate) const PUSHBACK_HEADER: &str = "grpc-retry-pushback-ms";

/// The request header that tells the server how many attempts preceded this one (A6, "Exposed
/// Retry Metadata"): absent on the first attempt, `1` on the second, and so on.
pub(crate) const PREVIOUS_ATTEMPTS_HEADER: &str = "grpc-previous-rpc-attempts";

/// The client-side ceiling on `maxAttempts` for both retry and hedging policies (A6, "Limits on
/// Retries and Hedges"): larger configured values are treated as this one.
pub(crate) const MAX_ATTEMPTS_LIMIT: u32 = 5;

/// Thousandths in one token: the throttle counts tokens in milli-tokens, which is exact for the
/// three decimal places of `tokenRatio` that A6 supports.
const MILLI: u32 = 1000;

/// A set of status codes, as a bit mask (one bit per code number). `Copy`, no allocation.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub(crate) struct CodeSet(u32);

impl CodeSet {
    /// The empty set.
    pub(crate) const EMPTY: CodeSet = CodeSet(0);

    /// Adds `code` to the set.
    pub(crate) fn insert(&mut self, code: Code) {
        self.0 |= Self::bit(code);
    }

    /// Whether `code` is in the set.
    pub(crate) fn contains(self, code: Code) -> bool {
        self.0 & Self::bit(code) != 0
    }

    /// Whether the set has no codes.
    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The codes in the set, in numeric order.
    pub(crate) fn iter(self) -> impl Iterator<Item = Code> {
        (0..17).filter_map(move |n| {
            let code = Code::from_i32(n);
            self.contains(code).then_some(code)
        })
    }

    fn bit(code: Code) -> u32 {
        // Code numbers are 0..=16, so the shift never overflows.
        1u32 << (code.as_i32() & 31)
    }
}

impl FromIterator<Code> for CodeSet {
    fn from_iter<I: IntoIterator<Item = Code>>(iter: I) -> CodeSet {
        let mut set = CodeSet::EMPTY;
        for code in iter {
            set.insert(code);
        }
        set
    }
}

impl fmt::Debug for CodeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// A method's retry policy (A6, "Retry Policy Capabilities"), already validated.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub(crate) struct RetryPolicy {
    /// Attempts allowed, the original included: at least 2, at most [`MAX_ATTEMPTS_LIMIT`].
    pub(crate) max_attempts: u32,
    /// Upper bound of the first retry's random delay; greater than zero.
    pub(crate) initial_backoff: Duration,
    /// Cap on every retry's delay bound; greater than zero.
    pub(crate) max_backoff: Duration,
    /// Growth of the delay bound from one retry to the next; greater than zero.
    pub(crate) backoff_multiplier: f64,
    /// Status codes that may be retried; not empty.
    pub(crate) retryable_status_codes: CodeSet,
}

/// A method's hedging policy (A6, "Hedging Policy"), already validated.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) struct HedgingPolicy {
    /// Attempts allowed, the original included: at least 2, at most [`MAX_ATTEMPTS_LIMIT`].
    pub(crate) max_attempts: u32,
    /// Time between the starts of consecutive hedged attempts; zero sends them all at once.
    pub(crate) hedging_delay: Duration,
    /// Codes after which the other attempts may still succeed; any other failure is fatal.
    pub(crate) non_fatal_status_codes: CodeSet,
}

impl HedgingPolicy {
    /// Whether a failed attempt with `code` lets the other attempts go on (A6: a non-fatal code
    /// sends the next hedge at once; any other code cancels everything and is returned).
    pub(crate) fn is_non_fatal(&self, code: Code) -> bool {
        code != Code::Ok && self.non_fatal_status_codes.contains(code)
    }

    #[cfg(test)]
    /// When each attempt starts, relative to the call, if nothing shortcuts the schedule:
    /// `0, d, 2d, ...` for `max_attempts` attempts, `d` being the hedging delay (A6, "Hedging
    /// Policy"). A non-fatal failure or a pushback moves the next start (see
    /// [`hedge_on_attempt_end`]); the ones after it keep the same spacing from there.
    pub(crate) fn start_offsets(&self) -> impl Iterator<Item = Duration> + '_ {
        (0..self.max_attempts).map(|i| self.hedging_delay.checked_mul(i).unwrap_or(Duration::MAX))
    }
}

/// Retry throttling parameters (A6, "Throttling Retry Attempts and Hedged RPCs"), in
/// thousandths of a token, already validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct RetryThrottling {
    max_milli: u32,
    ratio_milli: u32,
}

impl RetryThrottling {
    /// Validates `maxTokens` (greater than 0, at most 1000) and `tokenRatio` (greater than 0;
    /// only three decimal places count, as A6's config comment says). The error names the
    /// offending field.
    pub(crate) fn new(max_tokens: f64, token_ratio: f64) -> Result<RetryThrottling, String> {
        if !(max_tokens.is_finite() && max_tokens > 0.0 && max_tokens <= 1000.0) {
            return Err(format!(
                "maxTokens: must be greater than 0 and at most 1000, got {max_tokens}"
            ));
        }
        if !(token_ratio.is_finite() && token_ratio > 0.0) {
            return Err(format!(
                "tokenRatio: must be greater than 0, got {token_ratio}"
            ));
        }
        // The small epsilon absorbs binary representation error (0.29 * 1000 is
        // 289.99999999999997); digits past the third decimal are dropped.
        let max_milli = to_milli(max_tokens);
        let ratio_milli = to_milli(token_ratio);
        if max_milli == 0 {
            return Err(format!(
                "maxTokens: must be at least 0.001, got {max_tokens}"
            ));
        }
        if ratio_milli == 0 {
            return Err(format!(
                "tokenRatio: must be at least 0.001 (three decimal places), got {token_ratio}"
            ));
        }
        Ok(RetryThrottling {
            max_milli,
            ratio_milli,
        })
    }

    #[cfg(test)]
    /// `maxTokens`.
    pub(crate) fn max_tokens(&self) -> f64 {
        f64::from(self.max_milli) / f64::from(MILLI)
    }

    #[cfg(test)]
    /// `tokenRatio`, to three decimal places.
    pub(crate) fn token_ratio(&self) -> f64 {
        f64::from(self.ratio_milli) / f64::from(MILLI)
    }
}

/// `x` in thousandths, truncated, saturating at `u32::MAX`; `x` is finite and positive.
fn to_milli(x: f64) -> u32 {
    let milli = (x * f64::from(MILLI) + 1e-6).floor();
    if milli >= f64::from(u32::MAX) {
        u32::MAX
    } else {
        // In range and non-negative: the cast is exact.
        milli as u32
    }
}

/// The per-channel retry token bucket (A6, "Throttling Retry Attempts and Hedged RPCs").
///
/// Lock-free: one atomic counter of milli-tokens. It starts full; every failure costs one
/// token, every success adds `tokenRatio`, and the count stays within `0..=maxTokens`. Retries
/// and hedges are allowed only while the count is above `maxTokens / 2`.
#[derive(Debug)]
pub(crate) struct RetryThrottle {
    tokens: AtomicU32,
    config: RetryThrottling,
}

impl RetryThrottle {
    /// A full bucket for `config`.
    pub(crate) fn new(config: RetryThrottling) -> RetryThrottle {
        RetryThrottle {
            tokens: AtomicU32::new(config.max_milli),
            config,
        }
    }

    /// The parameters this bucket was made with (a channel keeps its bucket when a new service
    /// config carries the same parameters).
    pub(crate) fn config(&self) -> RetryThrottling {
        self.config
    }

    /// An attempt failed in a way A6 counts (a retryable or non-fatal code, or a pushback
    /// saying not to retry): one token less, never below zero.
    pub(crate) fn record_failure(&self) {
        // The closure always returns Some, so the update cannot fail.
        let _ = self
            .tokens
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                Some(t.saturating_sub(MILLI))
            });
    }

    /// An attempt succeeded: `tokenRatio` tokens more, never above `maxTokens`.
    pub(crate) fn record_success(&self) {
        let max = self.config.max_milli;
        let ratio = self.config.ratio_milli;
        let _ = self
            .tokens
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                Some(t.saturating_add(ratio).min(max))
            });
    }

    /// Whether a retry or a hedged attempt may be sent now: the count is above `maxTokens / 2`.
    pub(crate) fn allows_retry(&self) -> bool {
        let tokens = u64::from(self.tokens.load(Ordering::Relaxed));
        // Compared doubled, so an odd number of milli-tokens has no rounding.
        tokens * 2 > u64::from(self.config.max_milli)
    }

    #[cfg(test)]
    /// The current count in thousandths of a token (for tests and metrics).
    pub(crate) fn tokens_milli(&self) -> u32 {
        self.tokens.load(Ordering::Relaxed)
    }
}

/// What the server said in `grpc-retry-pushback-ms` (A6, "Pushback").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pushback {
    /// No pushback trailer.
    None,
    /// Retry (or send the next hedge) after exactly this delay instead of the computed backoff.
    RetryAfter(Duration),
    /// Do not retry, and send no further hedges.
    DoNotRetry,
}

/// Reads a `grpc-retry-pushback-ms` value (A6, "Pushback"): a non-negative decimal number of
/// milliseconds that fits a signed 32-bit integer is a delay; a negative, out-of-range or
/// unparsable value means "do not retry"; no value means no pushback.
///
/// If the trailer appears more than once, pass [`Pushback::DoNotRetry`] yourself (an ambiguous
/// answer is read as unparsable).
pub(crate) fn parse_pushback(value: Option<&str>) -> Pushback {
    let Some(value) = value else {
        return Pushback::None;
    };
    let digits = value.trim_matches(|c: char| c == ' ' || c == '\t');
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Pushback::DoNotRetry;
    }
    match digits.parse::<i32>() {
        Ok(ms) => Pushback::RetryAfter(Duration::from_millis(u64::from(ms.unsigned_abs()))),
        Err(_) => Pushback::DoNotRetry,
    }
}

/// Per-call exponential backoff between retries (A6, "Exponential Backoff"): the `n`-th retry
/// waits `random(0, min(initialBackoff * backoffMultiplier^(n-1), maxBackoff))`, and after a
/// retry that followed a server pushback the count starts again from `initialBackoff` (A6,
/// "Summary of Retry and Hedging Logic", case 5).
#[derive(Clone, Debug)]
pub(crate) struct RetryBackoff {
    initial_nanos: f64,
    max_nanos: f64,
    multiplier: f64,
    /// Retries computed from the backoff since the call started or since the last pushback.
    retries: u32,
}

impl RetryBackoff {
    /// Backoff state for a new call under `policy`.
    pub(crate) fn new(policy: &RetryPolicy) -> RetryBackoff {
        RetryBackoff {
            initial_nanos: policy.initial_backoff.as_nanos() as f64,
            max_nanos: policy.max_backoff.as_nanos() as f64,
            multiplier: policy.backoff_multiplier,
            retries: 0,
        }
    }

    #[cfg(test)]
    /// The upper bound of the `n`-th computed delay (`n` from 1):
    /// `min(initialBackoff * backoffMultiplier^(n-1), maxBackoff)`.
    pub(crate) fn ceiling(&self, n: u32) -> Duration {
        let exponent = i32::try_from(n.saturating_sub(1)).unwrap_or(i32::MAX);
        nanos_to_duration(self.ceiling_nanos(exponent))
    }

    fn ceiling_nanos(&self, exponent: i32) -> f64 {
        let grown = self.initial_nanos * self.multiplier.powi(exponent);
        // NaN (a hand-built policy with a bad multiplier) falls back to the cap.
        if grown.is_nan() {
            self.max_nanos
        } else {
            grown.min(self.max_nanos)
        }
    }

    /// The delay before the next retry when the server sent no pushback: `random` (a draw in
    /// `[0, 1)`; values outside are clamped) times the current ceiling. Advances the count.
    pub(crate) fn next_delay(&mut self, random: f64) -> Duration {
        let exponent = i32::try_from(self.retries).unwrap_or(i32::MAX);
        self.retries = self.retries.saturating_add(1);
        let random = if random.is_nan() {
            0.0
        } else {
            random.clamp(0.0, 1.0)
        };
        nanos_to_duration((self.ceiling_nanos(exponent) * random).floor())
    }

    /// The server pushed back with `delay`: that is the delay of this retry, and the next
    /// computed delay starts again from `initialBackoff`.
    pub(crate) fn after_pushback(&mut self, delay: Duration) -> Duration {
        self.retries = 0;
        delay
    }
}

/// Whole nanoseconds to a Duration, saturating; `nanos` is non-negative or NaN.
fn nanos_to_duration(nanos: f64) -> Duration {
    if nanos.is_nan() || nanos <= 0.0 {
        Duration::ZERO
    } else if nanos >= u64::MAX as f64 {
        Duration::from_nanos(u64::MAX)
    } else {
        // Non-negative and below u64::MAX: the cast cannot saturate.
        Duration::from_nanos(nanos as u64)
    }
}

/// How one attempt of a call ended, as far as retry and hedging decisions care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AttemptOutcome {
    /// The attempt's status code (`Ok` for success).
    pub(crate) code: Code,
    /// The server's `grpc-retry-pushback-ms`, read by [`parse_pushback`].
    pub(crate) pushback: Pushback,
    /// Whether the call was committed before this attempt ended (A6, "When Retries are Valid":
    /// response headers were received, or the sent messages outgrew the retry buffer).
    pub(crate) committed: bool,
}

impl AttemptOutcome {
    /// An attempt that failed with `code` before the call committed, with the server's
    /// `grpc-retry-pushback-ms` (if it sent one).
    pub(crate) fn uncommitted(code: Code, pushback: Option<&str>) -> AttemptOutcome {
        AttemptOutcome {
            code,
            pushback: parse_pushback(pushback),
            committed: false,
        }
    }
}

/// What to do after an attempt under a retry policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RetryDecision {
    /// Start a new attempt after this delay.
    Retry(Duration),
    /// Return this attempt's result to the application.
    Commit,
}

/// Decides whether to retry after an attempt ended (A6), and records the attempt in the
/// throttle.
///
/// `attempts_made` counts the attempts made so far, this one included (1 after the original
/// attempt; transparent retries do not count, A6 "Transparent Retries"). `random` is a draw in
/// `[0, 1)` for the backoff.
///
/// In order:
/// 1. `OK` is a success for the throttle and commits.
/// 2. A retryable code, or a pushback saying not to retry, is a failure for the throttle (A6:
///    the only failures it counts); any other code is neither.
/// 3. Commit if the call is already committed, the code is not retryable, the pushback says
///    not to retry, `max_attempts` is reached, or the throttle is at or below half its tokens.
/// 4. Otherwise retry after the pushback delay (which restarts the backoff sequence), or after
///    the next exponential backoff.
pub(crate) fn should_retry(
    policy: &RetryPolicy,
    backoff: &mut RetryBackoff,
    attempts_made: u32,
    outcome: &AttemptOutcome,
    throttle: Option<&RetryThrottle>,
    random: f64,
) -> RetryDecision {
    if outcome.code == Code::Ok {
        if let Some(throttle) = throttle {
            throttle.record_success();
        }
        return RetryDecision::Commit;
    }
    let retryable = policy.retryable_status_codes.contains(outcome.code);
    if let Some(throttle) = throttle {
        if retryable || outcome.pushback == Pushback::DoNotRetry {
            throttle.record_failure();
        }
    }
    if outcome.committed
        || !retryable
        || outcome.pushback == Pushback::DoNotRetry
        || attempts_made >= policy.max_attempts
        || throttle.is_some_and(|t| !t.allows_retry())
    {
        return RetryDecision::Commit;
    }
    match outcome.pushback {
        Pushback::RetryAfter(delay) => RetryDecision::Retry(backoff.after_pushback(delay)),
        Pushback::None | Pushback::DoNotRetry => RetryDecision::Retry(backoff.next_delay(random)),
    }
}

/// What to do after one attempt of a hedged call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HedgeAction {
    /// Return this attempt's result: it succeeded, failed fatally, or the call was committed to
    /// it. Cancel every other attempt and every pending hedge.
    Commit,
    /// A non-fatal failure: start the next hedged attempt after this delay (zero: now),
    /// replacing its scheduled start; the ones after it keep `hedgingDelay` spacing from then
    /// (A6, "Summary of Retry and Hedging Logic", cases 2 and 5).
    HedgeAfter(Duration),
    /// A non-fatal failure, but no further attempt may start (all started, throttled, or the
    /// server said not to retry). Cancel pending hedges; if other attempts are still in
    /// flight, wait for them, otherwise this failure is the call's result.
    NoMoreHedges,
}

/// Decides what follows when an attempt of a hedged call ends (A6, "Hedging Policy" and
/// "Summary of Retry and Hedging Logic"), and records the attempt in the throttle.
///
/// `attempts_started` counts the attempts started so far, this one included. `OK` is a success
/// for the throttle; a non-fatal code or a pushback saying not to retry is a failure.
pub(crate) fn hedge_on_attempt_end(
    policy: &HedgingPolicy,
    attempts_started: u32,
    outcome: &AttemptOutcome,
    throttle: Option<&RetryThrottle>,
) -> HedgeAction {
    if outcome.code == Code::Ok {
        if let Some(throttle) = throttle {
            throttle.record_success();
        }
        return HedgeAction::Commit;
    }
    let non_fatal = policy.is_non_fatal(outcome.code);
    if let Some(throttle) = throttle {
        if non_fatal || outcome.pushback == Pushback::DoNotRetry {
            throttle.record_failure();
        }
    }
    if outcome.committed || !non_fatal {
        return HedgeAction::Commit;
    }
    if outcome.pushback == Pushback::DoNotRetry
        || !hedge_allowed(policy, attempts_started, throttle)
    {
        return HedgeAction::NoMoreHedges;
    }
    match outcome.pushback {
        Pushback::RetryAfter(delay) => HedgeAction::HedgeAfter(delay),
        Pushback::None | Pushback::DoNotRetry => HedgeAction::HedgeAfter(Duration::ZERO),
    }
}

/// Whether another hedged attempt may start now, `attempts_started` having started already:
/// fewer than `max_attempts` so far, and the throttle above its threshold (A6: "The first
/// outgoing RPC will always be sent, but subsequent hedged RPCs will only be sent if token_count
/// is greater than the threshold"). Check this when a hedging-delay timer fires.
pub(crate) fn hedge_allowed(
    policy: &HedgingPolicy,
    attempts_started: u32,
    throttle: Option<&RetryThrottle>,
) -> bool {
    attempts_started < policy.max_attempts && throttle.is_none_or(RetryThrottle::allows_retry)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn retry_policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            initial_backoff: ms(100),
            max_backoff: ms(1000),
            backoff_multiplier: 2.0,
            retryable_status_codes: [Code::Unavailable].into_iter().collect(),
        }
    }

    fn hedging_policy(delay: Duration) -> HedgingPolicy {
        HedgingPolicy {
            max_attempts: 4,
            hedging_delay: delay,
            non_fatal_status_codes: [Code::Unavailable, Code::Internal, Code::Aborted]
                .into_iter()
                .collect(),
        }
    }

    fn outcome(code: Code, pushback: Pushback) -> AttemptOutcome {
        AttemptOutcome {
            code,
            pushback,
            committed: false,
        }
    }

    fn throttle(max: f64, ratio: f64) -> Result<RetryThrottle, Box<dyn std::error::Error>> {
        match RetryThrottling::new(max, ratio) {
            Ok(config) => Ok(RetryThrottle::new(config)),
            Err(e) => Err(e.into()),
        }
    }

    #[test]
    fn code_set_membership_and_debug() -> Result<(), Box<dyn std::error::Error>> {
        let set: CodeSet = [Code::Unavailable, Code::Ok, Code::Unauthenticated]
            .into_iter()
            .collect();
        assert!(set.contains(Code::Unavailable));
        assert!(set.contains(Code::Ok));
        assert!(set.contains(Code::Unauthenticated));
        assert!(!set.contains(Code::Internal));
        assert!(!set.is_empty());
        assert!(CodeSet::EMPTY.is_empty());
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            vec![Code::Ok, Code::Unavailable, Code::Unauthenticated]
        );
        assert_eq!(format!("{set:?}"), "{Ok, Unavailable, Unauthenticated}");
        Ok(())
    }

    #[test]
    fn backoff_ceilings_grow_by_the_multiplier_up_to_the_cap()
    -> Result<(), Box<dyn std::error::Error>> {
        let backoff = RetryBackoff::new(&retry_policy());
        assert_eq!(backoff.ceiling(1), ms(100));
        assert_eq!(backoff.ceiling(2), ms(200));
        assert_eq!(backoff.ceiling(3), ms(400));
        assert_eq!(backoff.ceiling(4), ms(800));
        assert_eq!(backoff.ceiling(5), ms(1000));
        assert_eq!(backoff.ceiling(1000), ms(1000));
        assert_eq!(backoff.ceiling(u32::MAX), ms(1000));
        Ok(())
    }

    #[test]
    fn backoff_delays_are_the_random_fraction_of_the_ceiling()
    -> Result<(), Box<dyn std::error::Error>> {
        let mut backoff = RetryBackoff::new(&retry_policy());
        assert_eq!(backoff.next_delay(0.5), ms(50));
        assert_eq!(backoff.next_delay(0.5), ms(100));
        assert_eq!(backoff.next_delay(0.25), ms(100));
        assert_eq!(backoff.next_delay(0.0), Duration::ZERO);
        // Fifth retry: the ceiling is capped at 1 s.
        assert_eq!(backoff.next_delay(0.75), ms(750));
        // The draw is below 1, so the delay is below the ceiling.
        let almost_one = 1.0 - f64::EPSILON;
        let delay = backoff.next_delay(almost_one);
        assert!(delay < ms(1000) && delay > ms(999), "{delay:?}");
        Ok(())
    }

    #[test]
    fn backoff_clamps_bad_random_inputs() -> Result<(), Box<dyn std::error::Error>> {
        let mut backoff = RetryBackoff::new(&retry_policy());
        assert_eq!(backoff.next_delay(f64::NAN), Duration::ZERO);
        assert_eq!(backoff.next_delay(-3.0), Duration::ZERO);
        assert_eq!(backoff.next_delay(7.0), ms(400));
        Ok(())
    }

    #[test]
    fn backoff_with_fractional_multiplier_and_odd_durations()
    -> Result<(), Box<dyn std::error::Error>> {
        let policy = RetryPolicy {
            initial_backoff: Duration::from_micros(1),
            max_backoff: Duration::from_secs(3600),
            backoff_multiplier: 1.5,
            ..retry_policy()
        };
        let backoff = RetryBackoff::new(&policy);
        assert_eq!(backoff.ceiling(1), Duration::from_nanos(1000));
        assert_eq!(backoff.ceiling(2), Duration::from_nanos(1500));
        assert_eq!(backoff.ceiling(3), Duration::from_nanos(2250));
        // A multiplier below one shrinks the bound; that is what the formula says.
        let shrinking = RetryBackoff::new(&RetryPolicy {
            backoff_multiplier: 0.5,
            ..retry_policy()
        });
        assert_eq!(shrinking.ceiling(2), ms(50));
        Ok(())
    }

    #[test]
    fn hand_built_policies_never_panic() -> Result<(), Box<dyn std::error::Error>> {
        let policy = RetryPolicy {
            initial_backoff: Duration::MAX,
            max_backoff: Duration::MAX,
            backoff_multiplier: f64::INFINITY,
            ..retry_policy()
        };
        let mut backoff = RetryBackoff::new(&policy);
        let _ = backoff.ceiling(u32::MAX);
        let _ = backoff.next_delay(0.9);
        let mut nan = RetryBackoff::new(&RetryPolicy {
            backoff_multiplier: f64::NAN,
            ..retry_policy()
        });
        assert_eq!(nan.ceiling(3), ms(1000));
        assert!(nan.next_delay(0.5) <= ms(1000));
        assert!(nan.next_delay(0.5) <= ms(1000));
        Ok(())
    }

    #[test]
    fn pushback_after_resets_the_backoff_to_initial() -> Result<(), Box<dyn std::error::Error>> {
        let mut backoff = RetryBackoff::new(&retry_policy());
        assert_eq!(backoff.next_delay(0.5), ms(50));
        assert_eq!(backoff.next_delay(0.5), ms(100));
        assert_eq!(backoff.after_pushback(ms(1234)), ms(1234));
        assert_eq!(backoff.next_delay(0.5), ms(50));
        Ok(())
    }

    #[test]
    fn pushback_parsing() -> Result<(), Box<dyn std::error::Error>> {
        let cases: &[(Option<&str>, Pushback)] = &[
            (None, Pushback::None),
            (Some("0"), Pushback::RetryAfter(Duration::ZERO)),
            (Some("1"), Pushback::RetryAfter(ms(1))),
            (Some("250"), Pushback::RetryAfter(ms(250))),
            (Some(" 250 "), Pushback::RetryAfter(ms(250))),
            (Some("007"), Pushback::RetryAfter(ms(7))),
            (Some("2147483647"), Pushback::RetryAfter(ms(2_147_483_647))),
            (Some("2147483648"), Pushback::DoNotRetry),
            (Some("99999999999999999999"), Pushback::DoNotRetry),
            (Some("-1"), Pushback::DoNotRetry),
            (Some("-0"), Pushback::DoNotRetry),
            (Some("+5"), Pushback::DoNotRetry),
            (Some(""), Pushback::DoNotRetry),
            (Some("  "), Pushback::DoNotRetry),
            (Some("1.5"), Pushback::DoNotRetry),
            (Some("1e3"), Pushback::DoNotRetry),
            (Some("abc"), Pushback::DoNotRetry),
            (Some("10ms"), Pushback::DoNotRetry),
            (Some("٣"), Pushback::DoNotRetry),
        ];
        for (input, want) in cases {
            assert_eq!(parse_pushback(*input), *want, "input {input:?}");
        }
        Ok(())
    }

    #[test]
    fn throttling_config_validation() -> Result<(), Box<dyn std::error::Error>> {
        assert!(RetryThrottling::new(10.0, 0.1).is_ok());
        assert!(RetryThrottling::new(1000.0, 1.0).is_ok());
        for (max, ratio, fragment) in [
            (0.0, 0.1, "maxTokens"),
            (-1.0, 0.1, "maxTokens"),
            (1000.5, 0.1, "maxTokens"),
            (f64::NAN, 0.1, "maxTokens"),
            (10.0, 0.0, "tokenRatio"),
            (10.0, -0.5, "tokenRatio"),
            (10.0, 0.0004, "tokenRatio"),
            (10.0, f64::INFINITY, "tokenRatio"),
        ] {
            match RetryThrottling::new(max, ratio) {
                Ok(c) => return Err(format!("({max}, {ratio}) accepted: {c:?}").into()),
                Err(e) => assert!(e.contains(fragment), "({max}, {ratio}): {e}"),
            }
        }
        let c = RetryThrottling::new(10.0, 0.29)?;
        assert_eq!(c.token_ratio(), 0.29);
        let c = RetryThrottling::new(10.0, 0.1239)?;
        assert_eq!(c.token_ratio(), 0.123);
        assert_eq!(c.max_tokens(), 10.0);
        Ok(())
    }

    #[test]
    fn throttle_stops_after_five_failures_of_ten_tokens() -> Result<(), Box<dyn std::error::Error>>
    {
        let t = throttle(10.0, 0.1)?;
        assert!(t.allows_retry());
        for i in 1..=4 {
            t.record_failure();
            assert!(t.allows_retry(), "after {i} failures");
        }
        t.record_failure();
        assert_eq!(t.tokens_milli(), 5000);
        // Exactly half is not above the threshold.
        assert!(!t.allows_retry());
        // One success lifts it to 5.1, above 5.
        t.record_success();
        assert_eq!(t.tokens_milli(), 5100);
        assert!(t.allows_retry());
        Ok(())
    }

    #[test]
    fn throttle_needs_twenty_one_successes_from_three_tokens()
    -> Result<(), Box<dyn std::error::Error>> {
        let t = throttle(10.0, 0.1)?;
        for _ in 0..7 {
            t.record_failure();
        }
        assert_eq!(t.tokens_milli(), 3000);
        let mut successes = 0;
        while !t.allows_retry() {
            t.record_success();
            successes += 1;
            assert!(successes < 1000, "never resumed");
        }
        assert_eq!(successes, 21);
        assert_eq!(t.tokens_milli(), 5100);
        Ok(())
    }

    #[test]
    fn throttle_stays_within_zero_and_max() -> Result<(), Box<dyn std::error::Error>> {
        let t = throttle(3.0, 0.5)?;
        for _ in 0..10 {
            t.record_failure();
        }
        assert_eq!(t.tokens_milli(), 0);
        assert!(!t.allows_retry());
        for _ in 0..100 {
            t.record_success();
        }
        assert_eq!(t.tokens_milli(), 3000);
        // An odd maximum (3 milli-tokens): 1 milli-token is below half of it, 2 above.
        let t = throttle(0.003, 0.001)?;
        assert!(t.allows_retry());
        t.record_failure();
        assert_eq!(t.tokens_milli(), 0);
        t.record_success();
        assert!(!t.allows_retry());
        t.record_success();
        assert!(t.allows_retry());
        Ok(())
    }

    #[test]
    fn throttle_is_shared_across_threads() -> Result<(), Box<dyn std::error::Error>> {
        let t = std::sync::Arc::new(throttle(1000.0, 0.001)?);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let t = t.clone();
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        t.record_failure();
                    }
                })
            })
            .collect();
        for th in threads {
            assert!(th.join().is_ok());
        }
        assert_eq!(t.tokens_milli(), 600_000);
        Ok(())
    }

    #[test]
    fn retries_until_max_attempts_with_growing_backoff() -> Result<(), Box<dyn std::error::Error>> {
        let policy = retry_policy();
        let mut backoff = RetryBackoff::new(&policy);
        let unavailable = outcome(Code::Unavailable, Pushback::None);
        let d1 = should_retry(&policy, &mut backoff, 1, &unavailable, None, 0.5);
        let d2 = should_retry(&policy, &mut backoff, 2, &unavailable, None, 0.5);
        let d3 = should_retry(&policy, &mut backoff, 3, &unavailable, None, 0.5);
        let d4 = should_retry(&policy, &mut backoff, 4, &unavailable, None, 0.5);
        assert_eq!(d1, RetryDecision::Retry(ms(50)));
        assert_eq!(d2, RetryDecision::Retry(ms(100)));
        assert_eq!(d3, RetryDecision::Retry(ms(200)));
        assert_eq!(d4, RetryDecision::Commit);
        Ok(())
    }

    #[test]
    fn commits_on_ok_fatal_codes_commit_and_pushback_stop() -> Result<(), Box<dyn std::error::Error>>
    {
        let policy = retry_policy();
        let mut backoff = RetryBackoff::new(&policy);
        let cases = [
            outcome(Code::Ok, Pushback::None),
            outcome(Code::Ok, Pushback::RetryAfter(ms(5))),
            outcome(Code::InvalidArgument, Pushback::None),
            // A pushback delay does not make a non-retryable code retryable.
            outcome(Code::Internal, Pushback::RetryAfter(ms(5))),
            outcome(Code::Unavailable, Pushback::DoNotRetry),
            AttemptOutcome {
                code: Code::Unavailable,
                pushback: Pushback::None,
                committed: true,
            },
        ];
        for case in cases {
            assert_eq!(
                should_retry(&policy, &mut backoff, 1, &case, None, 0.5),
                RetryDecision::Commit,
                "{case:?}"
            );
        }
        // A pushback delay past max attempts still commits (A6, "Pushback").
        let late = outcome(Code::Unavailable, Pushback::RetryAfter(ms(5)));
        assert_eq!(
            should_retry(&policy, &mut backoff, 4, &late, None, 0.5),
            RetryDecision::Commit
        );
        Ok(())
    }

    #[test]
    fn pushback_delay_replaces_backoff_and_restarts_it() -> Result<(), Box<dyn std::error::Error>> {
        let policy = retry_policy();
        let mut backoff = RetryBackoff::new(&policy);
        let plain = outcome(Code::Unavailable, Pushback::None);
        let pushed = outcome(Code::Unavailable, Pushback::RetryAfter(ms(3000)));
        assert_eq!(
            should_retry(&policy, &mut backoff, 1, &plain, None, 0.5),
            RetryDecision::Retry(ms(50))
        );
        assert_eq!(
            should_retry(&policy, &mut backoff, 2, &pushed, None, 0.5),
            RetryDecision::Retry(ms(3000))
        );
        assert_eq!(
            should_retry(&policy, &mut backoff, 3, &plain, None, 0.5),
            RetryDecision::Retry(ms(50))
        );
        Ok(())
    }

    #[test]
    fn retry_decisions_feed_and_obey_the_throttle() -> Result<(), Box<dyn std::error::Error>> {
        let policy = RetryPolicy {
            max_attempts: 5,
            ..retry_policy()
        };
        let t = throttle(4.0, 1.0)?;
        let unavailable = outcome(Code::Unavailable, Pushback::None);
        let mut backoff = RetryBackoff::new(&policy);
        // 4 -> 3 tokens: retry; 3 -> 2: at the threshold, commit.
        assert!(matches!(
            should_retry(&policy, &mut backoff, 1, &unavailable, Some(&t), 0.5),
            RetryDecision::Retry(_)
        ));
        assert_eq!(
            should_retry(&policy, &mut backoff, 2, &unavailable, Some(&t), 0.5),
            RetryDecision::Commit
        );
        assert_eq!(t.tokens_milli(), 2000);
        // Non-retryable failures do not count.
        let invalid = outcome(Code::InvalidArgument, Pushback::None);
        let _ = should_retry(&policy, &mut backoff, 1, &invalid, Some(&t), 0.5);
        assert_eq!(t.tokens_milli(), 2000);
        // A pushback saying stop counts even with a non-retryable code.
        let stop = outcome(Code::InvalidArgument, Pushback::DoNotRetry);
        let _ = should_retry(&policy, &mut backoff, 1, &stop, Some(&t), 0.5);
        assert_eq!(t.tokens_milli(), 1000);
        // Successes refill.
        let ok = outcome(Code::Ok, Pushback::None);
        let _ = should_retry(&policy, &mut backoff, 1, &ok, Some(&t), 0.5);
        let _ = should_retry(&policy, &mut backoff, 1, &ok, Some(&t), 0.5);
        assert_eq!(t.tokens_milli(), 3000);
        assert!(t.allows_retry());
        // A failure on a committed call still counts, but is not retried.
        let committed = AttemptOutcome {
            committed: true,
            ..unavailable
        };
        assert_eq!(
            should_retry(&policy, &mut backoff, 1, &committed, Some(&t), 0.5),
            RetryDecision::Commit
        );
        assert_eq!(t.tokens_milli(), 2000);
        Ok(())
    }

    #[test]
    fn hedge_schedule() -> Result<(), Box<dyn std::error::Error>> {
        let p = hedging_policy(ms(500));
        assert_eq!(
            p.start_offsets().collect::<Vec<_>>(),
            vec![ms(0), ms(500), ms(1000), ms(1500)]
        );
        let all_at_once = hedging_policy(Duration::ZERO);
        assert_eq!(
            all_at_once.start_offsets().collect::<Vec<_>>(),
            vec![Duration::ZERO; 4]
        );
        let huge = hedging_policy(Duration::MAX);
        assert_eq!(huge.start_offsets().nth(2), Some(Duration::MAX));
        Ok(())
    }

    #[test]
    fn hedge_fatal_and_non_fatal_codes() -> Result<(), Box<dyn std::error::Error>> {
        let p = hedging_policy(ms(500));
        assert!(p.is_non_fatal(Code::Unavailable));
        assert!(p.is_non_fatal(Code::Aborted));
        assert!(!p.is_non_fatal(Code::InvalidArgument));
        assert!(!p.is_non_fatal(Code::Ok));
        let none = HedgingPolicy {
            non_fatal_status_codes: CodeSet::EMPTY,
            ..p.clone()
        };
        assert!(!none.is_non_fatal(Code::Unavailable));
        Ok(())
    }

    #[test]
    fn hedge_actions() -> Result<(), Box<dyn std::error::Error>> {
        let p = hedging_policy(ms(500));
        let end = |started, code, pushback| {
            hedge_on_attempt_end(&p, started, &outcome(code, pushback), None)
        };
        assert_eq!(end(1, Code::Ok, Pushback::None), HedgeAction::Commit);
        assert_eq!(
            end(2, Code::InvalidArgument, Pushback::None),
            HedgeAction::Commit
        );
        assert_eq!(
            end(2, Code::Unavailable, Pushback::None),
            HedgeAction::HedgeAfter(Duration::ZERO)
        );
        assert_eq!(
            end(2, Code::Unavailable, Pushback::RetryAfter(ms(70))),
            HedgeAction::HedgeAfter(ms(70))
        );
        assert_eq!(
            end(2, Code::Unavailable, Pushback::DoNotRetry),
            HedgeAction::NoMoreHedges
        );
        assert_eq!(
            end(4, Code::Unavailable, Pushback::None),
            HedgeAction::NoMoreHedges
        );
        let committed = AttemptOutcome {
            code: Code::Unavailable,
            pushback: Pushback::None,
            committed: true,
        };
        assert_eq!(
            hedge_on_attempt_end(&p, 2, &committed, None),
            HedgeAction::Commit
        );
        Ok(())
    }

    #[test]
    fn hedging_obeys_and_feeds_the_throttle() -> Result<(), Box<dyn std::error::Error>> {
        let p = hedging_policy(ms(500));
        let t = throttle(2.0, 0.5)?;
        assert!(hedge_allowed(&p, 1, Some(&t)));
        assert!(!hedge_allowed(&p, 4, Some(&t)));
        // 2 -> 1 token: at the threshold, no more hedges.
        let unavailable = outcome(Code::Unavailable, Pushback::None);
        assert_eq!(
            hedge_on_attempt_end(&p, 1, &unavailable, Some(&t)),
            HedgeAction::NoMoreHedges
        );
        assert!(!hedge_allowed(&p, 1, Some(&t)));
        // Fatal codes do not count.
        let fatal = outcome(Code::NotFound, Pushback::None);
        assert_eq!(
            hedge_on_attempt_end(&p, 1, &fatal, Some(&t)),
            HedgeAction::Commit
        );
        assert_eq!(t.tokens_milli(), 1000);
        let ok = outcome(Code::Ok, Pushback::None);
        assert_eq!(
            hedge_on_attempt_end(&p, 1, &ok, Some(&t)),
            HedgeAction::Commit
        );
        assert_eq!(t.tokens_milli(), 1500);
        assert!(hedge_allowed(&p, 1, Some(&t)));
        assert!(hedge_allowed(&p, 3, None));
        Ok(())
    }
}
