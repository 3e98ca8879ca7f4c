//! Reading a response: headers, messages, trailers, and the status they end with.
//!
//! PROTOCOL-HTTP2.md, "Responses": `Response → (Response-Headers *Length-Prefixed-Message
//! Trailers) / Trailers-Only`. How each deviation is reported (following gRPC-Go and
//! `http-grpc-status-mapping.md`, which says a `grpc-status` that is present must be used):
//!
//! | received | status |
//! |---|---|
//! | Trailers-Only (HEADERS with END_STREAM) with `grpc-status` | that status |
//! | Trailers-Only without `grpc-status`, `:status` not 200 | mapped from the HTTP status (503 → UNAVAILABLE, 404 → UNIMPLEMENTED, ...) |
//! | Trailers-Only without `grpc-status`, `:status` 200 | UNKNOWN |
//! | headers with `:status` not 200 | mapped from the HTTP status |
//! | headers without `:status` | INTERNAL |
//! | headers with a content-type that is not `application/grpc[+...]` | UNKNOWN (200 has no row in the mapping table) |
//! | `grpc-encoding` we do not accept | INTERNAL |
//! | trailers without `grpc-status` | UNKNOWN |
//! | body ends without trailers | INTERNAL |
//! | body ends inside a message (length prefix longer than the data) | INTERNAL |
//! | Compressed-Flag set without `grpc-encoding` | INTERNAL |
//! | message over the receive limit | RESOURCE_EXHAUSTED |
//! | stream reset by the server | mapped from the RST_STREAM code (CANCEL → CANCELLED, REFUSED_STREAM → UNAVAILABLE, ...) |
//!
//! Every failure we detect ourselves cancels the stream (RST_STREAM CANCEL), so the server
//! stops sending.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use grpc_core::message::{MessageDecoder, ReceivedCompressed};
use grpc_core::{Code, Encodings, Metadata, Status, headers};
use grpc_transport::connection::OpenError;
use grpc_transport::driver::{Error, RecvStream};
use grpc_transport::hpack::HeaderField;
use tokio::time::{Instant, Sleep};

use crate::call::Completion;
use crate::call::{connection_unusable, deadline_exceeded, status_from_transport};
use crate::cancel::Canceller;
use crate::retry_policy::{CodeSet, PUSHBACK_HEADER, RetryThrottle};
use crate::stats::CallStats;
use crate::subchannel::ConnectionLease;
use grpc_core::stats::CallEvent;

type HeadersFuture =
    Pin<Box<dyn Future<Output = (RecvStream, Result<Vec<HeaderField>, Error>)> + Send>>;

/// What the reader is waiting for.
enum Phase {
    /// Response headers (or Trailers-Only).
    Headers,
    /// Response headers, through a boxed future that owns the `RecvStream` for a while
    /// (the polling path, used by `Stream` impls before headers arrived).
    HeadersPolling(HeadersFuture),
    /// Messages, then trailers.
    Body,
    /// The call is over: `outcome` is set.
    Done,
}

/// Settings of the receiving side of a call.
#[derive(Clone, Debug)]
pub(crate) struct ReadSettings {
    pub(crate) accept: Arc<Encodings>,
    pub(crate) max_decoding: usize,
    /// The deadline to enforce while reading; `None` when the caller enforces it around the
    /// whole call (unary).
    pub(crate) deadline: Option<Instant>,
    pub(crate) timeout: Option<std::time::Duration>,
    /// When the call started (the span's `grpc.duration_ms` counts from here).
    pub(crate) started: Instant,
}

/// Reads one call's response off its `RecvStream`.
pub(crate) struct ResponseReader {
    recv: Option<RecvStream>,
    canceller: Canceller,
    phase: Phase,
    settings: ReadSettings,
    sleep: Option<Pin<Box<Sleep>>>,
    decoder: Option<MessageDecoder>,
    headers: Metadata,
    trailers: Metadata,
    /// The call's final status, once known (OK included).
    outcome: Option<Status>,
    /// The failure was a refused or never-processed stream: safe to retry.
    never_processed: bool,
    /// The stream never left this client (its connection refused to open it).
    never_sent: bool,
    lease: ConnectionLease,
    /// Tells the picker how the call ended (load reports, in-flight counts).
    completion: Completion,
    /// `grpc-retry-pushback-ms` of a Trailers-Only response.
    retry_pushback: Option<String>,
    /// The call's statistics: headers, messages and trailers in; the end is reported by
    /// whoever knows the call's final status (see `stats.rs`).
    stats: CallStats,
    /// Response headers (not Trailers-Only) arrived: a retried call is committed.
    headers_received: bool,
    /// A committed retried call's throttle: its final status counts (gRFC A6).
    throttle: Option<(Arc<RetryThrottle>, CodeSet)>,
    span: tracing::Span,
}

/// Where a response is read from: the stream, and what came with its pick.
pub(crate) struct ReaderParts {
    pub(crate) recv: RecvStream,
    pub(crate) canceller: Canceller,
    pub(crate) settings: ReadSettings,
    pub(crate) lease: ConnectionLease,
    pub(crate) completion: Completion,
    pub(crate) stats: CallStats,
    pub(crate) span: tracing::Span,
}

impl ResponseReader {
    pub(crate) fn new(parts: ReaderParts) -> ResponseReader {
        let ReaderParts {
            recv,
            canceller,
            settings,
            lease,
            completion,
            stats,
            span,
        } = parts;
        ResponseReader {
            recv: Some(recv),
            canceller,
            phase: Phase::Headers,
            settings,
            sleep: None,
            decoder: None,
            headers: Metadata::new(),
            trailers: Metadata::new(),
            outcome: None,
            never_processed: false,
            never_sent: false,
            lease,
            completion,
            retry_pushback: None,
            stats,
            headers_received: false,
            throttle: None,
            span,
        }
    }

    /// The response headers (empty before they arrive, and for Trailers-Only responses).
    pub(crate) fn headers(&self) -> &Metadata {
        &self.headers
    }

    pub(crate) fn take_headers(&mut self) -> Metadata {
        std::mem::take(&mut self.headers)
    }

    /// The trailers' custom metadata after an OK end.
    pub(crate) fn trailers(&self) -> &Metadata {
        &self.trailers
    }

    pub(crate) fn take_trailers(&mut self) -> Metadata {
        std::mem::take(&mut self.trailers)
    }

    /// The final status, if the call is over.
    pub(crate) fn outcome(&self) -> Option<&Status> {
        self.outcome.as_ref()
    }

    /// Whether the message returned last arrived compressed (`false` before the first).
    pub(crate) fn last_message_compressed(&self) -> bool {
        self.decoder
            .as_ref()
            .is_some_and(MessageDecoder::last_message_compressed)
    }

    /// How the message returned last arrived, as the marker for a single response: `None`
    /// when the response has no `grpc-encoding` (see [`ReceivedCompressed`]).
    pub(crate) fn received_compressed(&self) -> Option<ReceivedCompressed> {
        let decoder = self.decoder.as_ref()?;
        decoder.encoding()?;
        Some(ReceivedCompressed(decoder.last_message_compressed()))
    }

    pub(crate) fn never_processed(&self) -> bool {
        self.never_processed
    }

    /// Whether the stream never left this client: its connection was going away when the
    /// stream reached it. Such streams may be retried as often as the deadline allows.
    pub(crate) fn never_sent(&self) -> bool {
        self.never_sent
    }

    /// Reports the call's final status to `throttle` when it is known: a success for OK, a
    /// failure for a status in `failures` (the retryable or non-fatal codes), else nothing.
    pub(crate) fn track_throttle(&mut self, throttle: Arc<RetryThrottle>, failures: CodeSet) {
        match &self.outcome {
            Some(status) => throttle_outcome(&throttle, failures, status),
            None => self.throttle = Some((throttle, failures)),
        }
    }

    /// The call's statistics.
    pub(crate) fn stats(&self) -> &CallStats {
        &self.stats
    }

    /// Whether response headers (not a Trailers-Only response) arrived.
    pub(crate) fn headers_received(&self) -> bool {
        self.headers_received
    }

    /// The server's `grpc-retry-pushback-ms`, if a Trailers-Only response carried one.
    pub(crate) fn retry_pushback(&self) -> Option<&str> {
        self.retry_pushback.as_deref()
    }

    /// Waits for the response headers. Fails with the call's status if the response is a
    /// Trailers-Only error (or anything else ended the call).
    pub(crate) async fn read_headers(&mut self) -> Result<(), Status> {
        if matches!(self.phase, Phase::Headers) {
            let Some(recv) = self.recv.as_mut() else {
                return Err(self.fail_local(Status::internal("response stream lost")));
            };
            let result = match self.settings.deadline {
                None => recv.headers().await,
                Some(deadline) => match tokio::time::timeout_at(deadline, recv.headers()).await {
                    Ok(result) => result,
                    Err(_) => {
                        let status = deadline_exceeded(self.settings.timeout);
                        return Err(self.fail_local(status));
                    }
                },
            };
            let end_stream = recv.is_end_stream();
            self.on_headers(result, end_stream);
        } else if matches!(self.phase, Phase::HeadersPolling(_)) {
            std::future::poll_fn(|cx| self.poll_headers(cx)).await?;
        }
        self.check_headers_outcome()
    }

    /// The polling form of [`read_headers`](Self::read_headers).
    pub(crate) fn poll_headers(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        if matches!(self.phase, Phase::Headers) {
            let Some(mut recv) = self.recv.take() else {
                return Poll::Ready(Err(
                    self.fail_local(Status::internal("response stream lost"))
                ));
            };
            self.phase = Phase::HeadersPolling(Box::pin(async move {
                let result = recv.headers().await;
                (recv, result)
            }));
        }
        if let Phase::HeadersPolling(future) = &mut self.phase {
            let Poll::Ready((recv, result)) = future.as_mut().poll(cx) else {
                if self.deadline_passed(cx) {
                    // The `RecvStream` inside the future is dropped only after the reset
                    // went out, so the server sees CANCEL, not NO_ERROR.
                    let future = std::mem::replace(&mut self.phase, Phase::Headers);
                    let status = self.fail_local(deadline_exceeded(self.settings.timeout));
                    drop(future);
                    return Poll::Ready(Err(status));
                }
                return Poll::Pending;
            };
            let end_stream = recv.is_end_stream();
            self.recv = Some(recv);
            self.phase = Phase::Headers;
            self.on_headers(result, end_stream);
        }
        Poll::Ready(self.check_headers_outcome())
    }

    fn check_headers_outcome(&self) -> Result<(), Status> {
        match &self.outcome {
            Some(status) if !status.is_ok() => Err(status.clone()),
            _ => Ok(()),
        }
    }

    /// Takes the response headers (or a Trailers-Only block) apart.
    fn on_headers(&mut self, result: Result<Vec<HeaderField>, Error>, end_stream: bool) {
        let fields = match result {
            Ok(fields) => fields,
            Err(error) => {
                self.fail_transport(&error);
                return;
            }
        };
        let http_status = http_status(&fields);
        if end_stream {
            // Trailers-Only: a grpc-status present decides, whatever the HTTP status.
            // gRFC A6: the server may tell a retrying client when (or whether) to retry.
            self.retry_pushback = fields
                .iter()
                .find(|f| &f.name[..] == PUSHBACK_HEADER.as_bytes())
                .map(|f| String::from_utf8_lossy(&f.value).into_owned());
            let status =
                match Status::from_header_field_bytes(fields.iter().map(|f| (&f.name, &f.value))) {
                    Some(status) => status,
                    None => status_without_grpc_status(http_status),
                };
            self.finish(status);
            return;
        }
        let status = match http_status {
            None => {
                self.fail_local(Status::internal("malformed response: missing :status"));
                return;
            }
            Some(200) => None,
            Some(code) => Some(Status::new(
                Code::from_http_status(code),
                format!("unexpected HTTP status code {code}"),
            )),
        };
        if let Some(status) = status {
            self.fail_local(status);
            return;
        }
        let mut encoding = None;
        let mut content_type = None;
        for field in &fields {
            match &field.name[..] {
                name if name == headers::CONTENT_TYPE.as_bytes() => {
                    content_type = Some(&field.value)
                }
                name if name == headers::GRPC_ENCODING.as_bytes() => encoding = Some(&field.value),
                _ => {}
            }
        }
        match content_type {
            None => {
                self.fail_local(Status::unknown("missing content-type in response"));
                return;
            }
            Some(value) if !headers::is_grpc_content_type(value) => {
                let status = Status::unknown(format!(
                    "unexpected content-type {:?}",
                    String::from_utf8_lossy(value)
                ));
                self.fail_local(status);
                return;
            }
            Some(_) => {}
        }
        let compressor = match encoding {
            None => None,
            Some(name) if &name[..] == b"identity" => None,
            Some(name) => match self.settings.accept.get(name) {
                Some(compressor) => Some(compressor.clone()),
                None => {
                    let status = Status::internal(format!(
                        "response compressed with unsupported grpc-encoding {:?}",
                        String::from_utf8_lossy(name)
                    ));
                    self.fail_local(status);
                    return;
                }
            },
        };
        match Metadata::from_header_fields(fields.iter().map(|f| (&f.name, &f.value))) {
            Ok(metadata) => self.headers = metadata,
            Err(status) => {
                self.fail_local(status);
                return;
            }
        }
        self.decoder = Some(MessageDecoder::new(compressor, self.settings.max_decoding));
        self.stats.event(&CallEvent::HeadersIn {
            metadata: &self.headers,
        });
        self.headers_received = true;
        self.phase = Phase::Body;
    }

    /// The next message payload; `Ok(None)` once the call ended with OK; the call's status
    /// if it ended otherwise. Call after the headers were read.
    pub(crate) fn poll_message(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Bytes>, Status>> {
        loop {
            if let Some(status) = &self.outcome {
                return Poll::Ready(if status.is_ok() {
                    Ok(None)
                } else {
                    Err(status.clone())
                });
            }
            if !matches!(self.phase, Phase::Body) {
                ready!(self.poll_headers(cx))?;
                continue;
            }
            let Some(decoder) = self.decoder.as_mut() else {
                return Poll::Ready(Err(
                    self.fail_local(Status::internal("response stream lost"))
                ));
            };
            match decoder.next_message() {
                Ok(Some(message)) => {
                    self.stats.event(&CallEvent::MessageIn {
                        size: message.len(),
                    });
                    return Poll::Ready(Ok(Some(message)));
                }
                Ok(None) => {}
                Err(status) => return Poll::Ready(Err(self.fail_local(status))),
            }
            if self.settings.deadline.is_some() && self.deadline_passed(cx) {
                let status = deadline_exceeded(self.settings.timeout);
                return Poll::Ready(Err(self.fail_local(status)));
            }
            let Some(recv) = self.recv.as_mut() else {
                return Poll::Ready(Err(
                    self.fail_local(Status::internal("response stream lost"))
                ));
            };
            let Some(decoder) = self.decoder.as_mut() else {
                return Poll::Ready(Err(
                    self.fail_local(Status::internal("response stream lost"))
                ));
            };
            match recv.poll_data(cx) {
                Poll::Ready(Some(Ok(chunk))) => decoder.push(chunk),
                Poll::Ready(Some(Err(error))) => {
                    self.fail_transport(&error);
                }
                Poll::Ready(None) => {
                    if let Err(status) = decoder.finish() {
                        self.fail_local(status);
                        continue;
                    }
                    // The body ended; the trailers (if any) are in hand already, so the
                    // future below is ready at once.
                    let trailers = {
                        let future = std::pin::pin!(recv.trailers());
                        ready!(future.poll(cx))
                    };
                    self.on_trailers(trailers);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn on_trailers(&mut self, trailers: Result<Option<Vec<HeaderField>>, Error>) {
        let status = match trailers {
            Err(error) => {
                self.fail_transport(&error);
                return;
            }
            Ok(None) => Status::internal("server closed the stream without sending trailers"),
            Ok(Some(fields)) => {
                match Status::from_header_field_bytes(fields.iter().map(|f| (&f.name, &f.value))) {
                    Some(status) => status,
                    None => Status::unknown("missing grpc-status in response trailers"),
                }
            }
        };
        self.finish(status);
    }

    /// The server ended the call with `status` (no cancellation needed).
    fn finish(&mut self, mut status: Status) {
        if status.is_ok() {
            self.trailers = std::mem::take(status.metadata_mut());
        }
        self.record(&status);
        self.outcome = Some(status);
        self.phase = Phase::Done;
    }

    /// We end the call with `status`: cancel the stream. Returns the status for the caller.
    pub(crate) fn fail_local(&mut self, status: Status) -> Status {
        if let Some(outcome) = &self.outcome {
            return outcome.clone();
        }
        self.canceller.cancel(self.recv.take());
        self.record(&status);
        self.outcome = Some(status.clone());
        self.phase = Phase::Done;
        status
    }

    /// The stream failed underneath us.
    fn fail_transport(&mut self, error: &Error) {
        if connection_unusable(error) {
            self.lease.connection_unusable();
        }
        self.never_processed = error.is_never_processed();
        self.never_sent = matches!(
            error,
            Error::Open(OpenError::GoingAway | OpenError::StreamIdsExhausted)
        );
        let status = if self.settings.deadline.is_some_and(|d| d <= Instant::now()) {
            // Our own reset after the deadline shows up here as CANCEL.
            deadline_exceeded(self.settings.timeout)
        } else if self.canceller.cancelled_by_sender() {
            Status::cancelled("call cancelled: its request sink was dropped")
        } else {
            status_from_transport(error)
        };
        self.record(&status);
        self.outcome = Some(status);
        self.phase = Phase::Done;
    }

    fn record(&mut self, status: &Status) {
        // An OK status's trailers were moved to `self.trailers`; an error keeps its own.
        let trailers = if status.is_ok() {
            &self.trailers
        } else {
            status.metadata()
        };
        self.completion.complete(status, trailers);
        self.stats
            .event(&CallEvent::Trailers { metadata: trailers });
        if let Some((throttle, failures)) = self.throttle.take() {
            throttle_outcome(&throttle, failures, status);
        }
        self.span.record("grpc.status_code", status.code().as_i32());
        self.span.record(
            "grpc.duration_ms",
            crate::channel::elapsed_ms(self.settings.started),
        );
        if !status.is_ok() {
            tracing::debug!(parent: &self.span, code = %status.code(), message = status.message(), "call failed");
        }
    }

    /// Whether the deadline passed; registers the timer with `cx` otherwise.
    fn deadline_passed(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(deadline) = self.settings.deadline else {
            return false;
        };
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        sleep.as_mut().poll(cx).is_ready()
    }
}

impl Drop for ResponseReader {
    fn drop(&mut self) {
        if self.outcome.is_none() {
            // Dropped before the server finished: cancel (the caller gave up).
            if let Phase::HeadersPolling(future) = std::mem::replace(&mut self.phase, Phase::Done) {
                // The `RecvStream` is inside the future; dropping it after the reset below
                // is what we want, and the reset needs no `RecvStream`.
                self.canceller.cancel(None);
                drop(future);
                return;
            }
            self.record(&Status::cancelled("call dropped"));
            self.canceller.cancel(self.recv.take());
        }
    }
}

impl std::fmt::Debug for ResponseReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseReader")
            .field("headers", &self.headers)
            .field("outcome", &self.outcome)
            .finish_non_exhaustive()
    }
}

fn throttle_outcome(throttle: &RetryThrottle, failures: CodeSet, status: &Status) {
    if status.is_ok() {
        throttle.record_success();
    } else if failures.contains(status.code()) {
        throttle.record_failure();
    }
}

/// The `:status` of a header block, if present and numeric.
fn http_status(fields: &[HeaderField]) -> Option<u16> {
    let field = fields.iter().find(|f| &f.name[..] == b":status")?;
    std::str::from_utf8(&field.value).ok()?.parse().ok()
}

/// The status of a Trailers-Only response without `grpc-status` (gRPC-Java's rule): the
/// HTTP status decides when it is not 200 (`http-grpc-status-mapping.md`).
fn status_without_grpc_status(http_status: Option<u16>) -> Status {
    match http_status {
        None => Status::internal("malformed response: missing :status and grpc-status"),
        Some(200) => Status::unknown("missing grpc-status in response"),
        Some(code) => Status::new(
            Code::from_http_status(code),
            format!("unexpected HTTP status code {code} (no grpc-status)"),
        ),
    }
}
