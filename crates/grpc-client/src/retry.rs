//! Retries and hedging of calls with a single request message (unary and server
//! streaming), as gRFC A6 describes them; the policy arithmetic is in `retry_policy.rs`.
//!
//! - **Retries**: an attempt that fails with a `retryableStatusCodes` code before the
//!   response headers arrive is tried again after `random(0, min(initialBackoff *
//!   multiplier^(n-1), maxBackoff))`, up to `maxAttempts` (at most 5), unless the server's
//!   `grpc-retry-pushback-ms` says otherwise or the channel's retry throttle is below half.
//! - **Hedging**: attempts start `hedgingDelay` apart (up to `maxAttempts`) without waiting
//!   for earlier ones; a `nonFatalStatusCodes` failure starts the next one at once; the first
//!   attempt that gets response headers (or a fatal status) wins, and the others are
//!   cancelled (RST_STREAM CANCEL). gRPC-Go and C-core do not implement hedging.
//! - **Commit**: once response headers arrive an attempt is committed and never retried
//!   (A6, "When Retries are Valid"); the request is one message kept as `Bytes`, so the
//!   per-call retry buffer is that message and no copy is made per attempt.
//! - Every retried or hedged attempt carries `grpc-previous-rpc-attempts`; streams the
//!   server never processed are retried transparently inside an attempt, without counting.
//!
//! The call's deadline bounds everything: it wraps the whole call (`within`).

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use bytes::Bytes;
use grpc_core::Status;
use tokio::time::Instant;

use crate::backoff::random_unit;
use crate::call::PreparedCall;
use crate::channel::{AttemptFailure, ChannelInner};
use crate::response::ResponseReader;
use crate::retry_policy::{
    AttemptOutcome, HedgeAction, HedgingPolicy, RetryBackoff, RetryDecision, RetryPolicy,
    hedge_allowed, hedge_on_attempt_end, should_retry,
};

type Attempt<'a> =
    Pin<Box<dyn Future<Output = Result<ResponseReader, AttemptFailure>> + Send + 'a>>;

impl ChannelInner {
    /// Sends a single-message call under its method's retry or hedging policy, and returns
    /// the reader of the committed attempt.
    pub(crate) async fn send_single(
        &self,
        call: &PreparedCall,
        body: Bytes,
        enforce_deadline: bool,
        span: &tracing::Span,
    ) -> Result<ResponseReader, Status> {
        let method = call.method.as_deref();
        if let Some(policy) = method.and_then(|m| m.retry_policy.as_ref()) {
            self.send_with_retries(call, body, enforce_deadline, span, policy)
                .await
        } else if let Some(policy) = method.and_then(|m| m.hedging_policy.as_ref()) {
            self.send_hedged(call, body, enforce_deadline, span, policy)
                .await
        } else {
            self.attempt_single(call, body, enforce_deadline, span, 0)
                .await
                .map_err(|failure| failure.status)
        }
    }

    async fn send_with_retries(
        &self,
        call: &PreparedCall,
        body: Bytes,
        enforce_deadline: bool,
        span: &tracing::Span,
        policy: &RetryPolicy,
    ) -> Result<ResponseReader, Status> {
        let throttle = self.balancer.retry_throttle();
        let mut backoff = RetryBackoff::new(policy);
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let failure = match self
                .attempt_single(call, body.clone(), enforce_deadline, span, attempts - 1)
                .await
            {
                Ok(mut reader) => {
                    // Committed: the call's final status (OK or not) counts for the
                    // throttle when it is known, not now.
                    if let Some(throttle) = throttle {
                        reader.track_throttle(throttle, policy.retryable_status_codes);
                    }
                    return Ok(reader);
                }
                Err(failure) => failure,
            };
            let status = failure.status;
            let outcome = AttemptOutcome::uncommitted(status.code(), failure.pushback.as_deref());
            match should_retry(
                policy,
                &mut backoff,
                attempts,
                &outcome,
                throttle.as_deref(),
                random_unit(),
            ) {
                RetryDecision::Commit => return Err(status),
                RetryDecision::Retry(delay) => {
                    tracing::debug!(parent: span, attempt = attempts, code = %status.code(), ?delay, "retrying call");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    async fn send_hedged(
        &self,
        call: &PreparedCall,
        body: Bytes,
        enforce_deadline: bool,
        span: &tracing::Span,
        policy: &HedgingPolicy,
    ) -> Result<ResponseReader, Status> {
        let throttle = self.balancer.retry_throttle();
        let mut running: Vec<Attempt<'_>> = Vec::new();
        let mut started = 0u32;
        let mut next_start = Some(Instant::now());
        let mut last_error = None;
        loop {
            if running.is_empty() && next_start.is_none() {
                return Err(last_error
                    .unwrap_or_else(|| Status::unavailable("no hedged attempt could start")));
            }
            let event = {
                let timer = sleep_until(next_start);
                tokio::pin!(timer);
                std::future::poll_fn(|cx| {
                    for (index, attempt) in running.iter_mut().enumerate() {
                        if let Poll::Ready(result) = attempt.as_mut().poll(cx) {
                            return Poll::Ready(Some((index, result)));
                        }
                    }
                    timer.as_mut().poll(cx).map(|()| None)
                })
                .await
            };
            let Some((index, result)) = event else {
                // Time for the next hedged attempt. gRFC A6: the first attempt is always
                // sent; throttling only stops the hedges after it.
                if started == 0 || hedge_allowed(policy, started, throttle.as_deref()) {
                    if started > 0 {
                        tracing::debug!(parent: span, attempt = started + 1, "hedging call");
                    }
                    running.push(Box::pin(self.attempt_single(
                        call,
                        body.clone(),
                        enforce_deadline,
                        span,
                        started,
                    )));
                    started += 1;
                    next_start = (started < policy.max_attempts)
                        .then(|| Instant::now() + policy.hedging_delay);
                } else {
                    next_start = None;
                }
                continue;
            };
            drop(running.swap_remove(index));
            let failure = match result {
                Ok(mut reader) => {
                    if let Some(throttle) = throttle {
                        reader.track_throttle(throttle, policy.non_fatal_status_codes);
                    }
                    // The winner: dropping the other attempts cancels their streams.
                    return Ok(reader);
                }
                Err(failure) => failure,
            };
            let status = failure.status;
            let outcome = AttemptOutcome::uncommitted(status.code(), failure.pushback.as_deref());
            match hedge_on_attempt_end(policy, started, &outcome, throttle.as_deref()) {
                HedgeAction::Commit => return Err(status),
                HedgeAction::HedgeAfter(delay) if delay.is_zero() => {
                    // A non-fatal failure starts the next attempt now, not after the rest
                    // of the hedging delay.
                    next_start = Some(Instant::now());
                }
                HedgeAction::HedgeAfter(pushback) => {
                    // gRFC A6, "Pushback": the server's delay replaces the schedule.
                    next_start = Some(Instant::now() + pushback);
                }
                HedgeAction::NoMoreHedges => next_start = None,
            }
            last_error = Some(status);
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
