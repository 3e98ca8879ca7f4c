//! Retries of client-streaming and bidi calls (gRFC A6): request messages are kept until
//! the call commits, and a failed attempt is replaced by a new stream that replays them.
//!
//! The two halves of such a call share a [`StreamRetry`]:
//!
//! - the [`RequestSink`](crate::RequestSink) sends each message on the current attempt's
//!   stream and, until the call commits, also keeps it (`Bytes`, no copy) in the retry
//!   buffer; a send that fails before the commit is not an error for the caller, since the
//!   message will be replayed if the call is retried (and the call's status comes from the
//!   receiving side if it is not);
//! - the receiving side ([`Streaming`](crate::Streaming)) decides: an attempt that fails
//!   before its response headers, with a retryable status and attempts left (and the
//!   channel's throttle allowing), is replaced after the backoff: pick, open a new stream
//!   with `grpc-previous-rpc-attempts`, replay the buffer (and END_STREAM if the sink had
//!   half-closed), read the new response.
//!
//! The call commits when response headers arrive or when the buffer would exceed the
//! per-call limit ([`ChannelBuilder::retry_buffer_size`](crate::ChannelBuilder::retry_buffer_size),
//! 256 KiB by default, as gRPC-Go's per-RPC buffer); after that it is never retried and the
//! buffer is freed. The current attempt's `SendStream` lives behind an async mutex that the
//! sink holds while sending and the retry holds while replaying, so replayed messages go
//! out before new ones, in order. Hedging applies to unary and server-streaming calls only.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use grpc_core::Status;
use grpc_transport::ErrorCode;
use grpc_transport::driver::SendStream;

use crate::backoff::random_unit;
use crate::call::{OpenedStream, PreparedCall, status_from_transport, within};
use crate::cancel::Canceller;
use crate::channel::{AttemptFailure, ChannelInner, MAX_LOCAL_RETRIES};
use crate::response::{ReaderParts, ResponseReader};
use crate::retry_policy::{
    AttemptOutcome, RetryBackoff, RetryDecision, RetryPolicy, RetryThrottle, should_retry,
};
use crate::subchannel::ConnectionLease;

/// What the sink and the retrying side of one call share.
pub(crate) struct StreamRetry {
    channel: Arc<ChannelInner>,
    call: Arc<PreparedCall>,
    span: tracing::Span,
    limit: usize,
    attempt: tokio::sync::Mutex<Attempt>,
    /// Response headers arrived, or the buffer overflowed: no more retries.
    committed: AtomicBool,
    /// The receiving side gave up (dropped early, deadline, local error).
    receiver_gone: AtomicBool,
    /// The sink was dropped before half-closing: it cancelled the call.
    sender_gone: AtomicBool,
    /// The call failed for good: the sink reports this.
    failed: Mutex<Option<Status>>,
}

impl std::fmt::Debug for StreamRetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamRetry")
            .field("committed", &self.is_committed())
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

/// The current attempt's sending side and the replay buffer.
struct Attempt {
    send: Option<SendStream>,
    lease: ConnectionLease,
    buffer: Vec<Bytes>,
    buffered: usize,
    half_closed: bool,
}

impl StreamRetry {
    pub(crate) fn new(
        channel: Arc<ChannelInner>,
        call: Arc<PreparedCall>,
        span: tracing::Span,
        first: SendStream,
        lease: ConnectionLease,
    ) -> Arc<StreamRetry> {
        Arc::new(StreamRetry {
            limit: channel.retry_buffer_size,
            channel,
            call,
            span,
            attempt: tokio::sync::Mutex::new(Attempt {
                send: Some(first),
                lease,
                buffer: Vec::new(),
                buffered: 0,
                half_closed: false,
            }),
            committed: AtomicBool::new(false),
            receiver_gone: AtomicBool::new(false),
            sender_gone: AtomicBool::new(false),
            failed: Mutex::new(None),
        })
    }

    pub(crate) fn is_committed(&self) -> bool {
        self.committed.load(Ordering::Acquire)
    }

    /// No more retries (response headers arrived, or the buffer is full).
    pub(crate) fn commit(&self) {
        self.committed.store(true, Ordering::Release);
        // Free the buffer now if nobody is sending; otherwise the sink does on its next send.
        if let Ok(mut attempt) = self.attempt.try_lock() {
            attempt.buffer = Vec::new();
            attempt.buffered = 0;
        }
    }

    /// The call ended for good with `status` (the sink's later sends fail with it).
    pub(crate) fn fail(&self, status: &Status) {
        let mut failed = self.failed.lock().unwrap_or_else(PoisonError::into_inner);
        failed.get_or_insert_with(|| status.clone());
    }

    fn failure(&self) -> Option<Status> {
        self.failed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn cancelled_by_sender(&self) -> bool {
        self.sender_gone.load(Ordering::Acquire) || self.receiver_gone.load(Ordering::Acquire)
    }

    /// The receiving side gives up: reset the current attempt with CANCEL. If the sink is
    /// sending right now it resets the stream itself when its send returns.
    pub(crate) fn receiver_gone(&self) {
        self.receiver_gone.store(true, Ordering::Release);
        if let Ok(mut attempt) = self.attempt.try_lock() {
            if let Some(send) = attempt.send.as_mut() {
                send.reset(ErrorCode::CANCEL);
            }
        }
    }

    /// The sink is dropped before half-closing: cancel the call.
    pub(crate) fn sender_gone(&self) {
        self.sender_gone.store(true, Ordering::Release);
        if let Ok(mut attempt) = self.attempt.try_lock() {
            if let Some(send) = attempt.send.as_mut() {
                send.reset(ErrorCode::CANCEL);
            }
        }
    }

    /// Sends one encoded request message (or END_STREAM when `data` is `None`) on the
    /// current attempt, keeping it for replay until the call commits.
    pub(crate) async fn send(&self, data: Option<Bytes>) -> Result<(), Status> {
        let result = within(self.call.deadline, self.call.timeout(), async {
            let mut attempt = self.attempt.lock().await;
            if let Some(status) = self.failure() {
                return Err(status);
            }
            if self.is_committed() {
                attempt.buffer = Vec::new();
                attempt.buffered = 0;
            } else {
                match &data {
                    Some(data) if attempt.buffered + data.len() > self.limit => {
                        // gRFC A6: a request too large to keep commits the call.
                        tracing::debug!(parent: &self.span, limit = self.limit, "retry buffer full: call committed");
                        self.commit_locked(&mut attempt);
                    }
                    Some(data) => {
                        attempt.buffered += data.len();
                        attempt.buffer.push(data.clone());
                    }
                    None => attempt.half_closed = true,
                }
            }
            let committed = self.is_committed();
            let Some(send) = attempt.send.as_mut() else {
                return Ok(());
            };
            let (payload, end) = match data {
                Some(data) => (data, false),
                None => (Bytes::new(), true),
            };
            let result = send.send_data(payload, end).await;
            if self.receiver_gone.load(Ordering::Acquire) {
                send.reset(ErrorCode::CANCEL);
                return Err(Status::cancelled("call was cancelled"));
            }
            match result {
                Ok(()) => Ok(()),
                // Before the commit a failed attempt may be retried with this message
                // replayed; the receiving side decides and reports the call's status.
                Err(_) if !committed => Ok(()),
                Err(error) => {
                    if crate::call::connection_unusable(&error) {
                        attempt.lease.connection_unusable();
                    }
                    Err(status_from_transport(&error))
                }
            }
        })
        .await;
        if let Err(status) = &result {
            if status.code() == grpc_core::Code::DeadlineExceeded {
                self.receiver_gone();
            }
        }
        result
    }

    fn commit_locked(&self, attempt: &mut Attempt) {
        self.committed.store(true, Ordering::Release);
        attempt.buffer = Vec::new();
        attempt.buffered = 0;
    }

    /// Replaces the failed attempt: waits `delay`, opens a new stream, replays the buffer,
    /// and returns the new attempt's reader.
    async fn next_attempt(
        self: Arc<StreamRetry>,
        delay: Duration,
        previous_attempts: u32,
    ) -> Result<ResponseReader, AttemptFailure> {
        let this = self.clone();
        within(self.call.deadline, self.call.timeout(), async move {
            tokio::time::sleep(delay).await;
            let opened = this
                .channel
                .open_stream(&this.call, previous_attempts)
                .await?;
            opened.record_peer(&this.span);
            let OpenedStream {
                mut send,
                recv,
                lease,
                completion,
                ..
            } = opened;
            let mut attempt = this.attempt.lock().await;
            if this.cancelled_by_sender() {
                send.reset(ErrorCode::CANCEL);
                return Err(Status::cancelled("call was cancelled"));
            }
            if this.is_committed() {
                // The buffer overflowed while we waited: nothing to replay from.
                send.reset(ErrorCode::CANCEL);
                return Err(Status::unavailable(
                    "call committed (retry buffer full) before its retry could start",
                ));
            }
            for message in &attempt.buffer {
                if let Err(error) = send.send_data(message.clone(), false).await {
                    return Err(status_from_transport(&error));
                }
            }
            if attempt.half_closed {
                if let Err(error) = send.send_data(Bytes::new(), true).await {
                    return Err(status_from_transport(&error));
                }
            }
            attempt.send = Some(send);
            attempt.lease = lease.clone();
            drop(attempt);
            Ok(ResponseReader::new(ReaderParts {
                recv,
                canceller: Canceller::Retry(this.clone()),
                settings: this.channel.read_settings(&this.call, true),
                lease,
                completion,
                stats: this.call.stats.clone(),
                span: this.span.clone(),
            }))
        })
        .await
        .map_err(AttemptFailure::from)
    }
}

/// The receiving side's retry decisions for one call.
pub(crate) struct RetryDriver {
    state: Arc<StreamRetry>,
    policy: RetryPolicy,
    throttle: Option<Arc<RetryThrottle>>,
    backoff: RetryBackoff,
    /// Attempts counted against `maxAttempts`.
    attempts: u32,
    /// Attempts sent, transparent ones included (`grpc-previous-rpc-attempts`).
    sent: u32,
    transparent_used: bool,
    local_retries: u32,
    /// `headers_arrived` ran.
    committed_seen: bool,
    /// The call failed for good: no more decisions.
    done: bool,
    pub(crate) pending:
        Option<grpc_core::BoxFuture<'static, Result<ResponseReader, AttemptFailure>>>,
}

impl RetryDriver {
    pub(crate) fn new(
        state: Arc<StreamRetry>,
        policy: RetryPolicy,
        throttle: Option<Arc<RetryThrottle>>,
    ) -> RetryDriver {
        RetryDriver {
            backoff: RetryBackoff::new(&policy),
            state,
            policy,
            throttle,
            attempts: 1,
            sent: 1,
            transparent_used: false,
            local_retries: 0,
            committed_seen: false,
            done: false,
            pending: None,
        }
    }

    /// Response headers arrived on `reader`: the call is committed, and its final status
    /// will count for the throttle.
    pub(crate) fn headers_arrived(&mut self, reader: &mut ResponseReader) {
        if !self.committed_seen {
            self.committed_seen = true;
            self.state.commit();
            if let Some(throttle) = self.throttle.clone() {
                reader.track_throttle(throttle, self.policy.retryable_status_codes);
            }
        }
    }

    /// An attempt failed before its response headers: starts a new one (returns `true`)
    /// or gives up (the call fails with `status`).
    pub(crate) fn attempt_failed(
        &mut self,
        status: &Status,
        pushback: Option<&str>,
        never_processed: bool,
        never_sent: bool,
    ) -> bool {
        if self.done {
            return false;
        }
        let retry = if self.state.is_committed() || self.state.cancelled_by_sender() {
            None
        } else if never_sent && self.local_retries < MAX_LOCAL_RETRIES {
            // Never left the client (its connection was going away): not an attempt.
            self.local_retries += 1;
            Some(Duration::ZERO)
        } else if never_processed && !self.transparent_used {
            // gRFC A6, "Transparent retries": the server never saw it; not counted.
            self.transparent_used = true;
            Some(Duration::ZERO)
        } else {
            let outcome = AttemptOutcome::uncommitted(status.code(), pushback);
            match should_retry(
                &self.policy,
                &mut self.backoff,
                self.attempts,
                &outcome,
                self.throttle.as_deref(),
                random_unit(),
            ) {
                RetryDecision::Retry(delay) => {
                    self.attempts += 1;
                    Some(delay)
                }
                RetryDecision::Commit => None,
            }
        };
        match retry {
            Some(delay) => {
                tracing::debug!(parent: &self.state.span, attempt = self.sent + 1, code = %status.code(), ?delay, "retrying streaming call");
                self.pending = Some(Box::pin(self.state.clone().next_attempt(delay, self.sent)));
                self.sent += 1;
                true
            }
            None => {
                self.done = true;
                self.state.fail(status);
                false
            }
        }
    }
}
