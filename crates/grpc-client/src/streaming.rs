//! Streaming calls: the response stream ([`Streaming`]), the request sink ([`RequestSink`]),
//! and the client-streaming and bidi call handles built from them.
//!
//! Every handle enforces the call's deadline on each read and write. Dropping a handle before
//! the call is over cancels the call (RST_STREAM CANCEL, see `cancel.rs`).

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use grpc_core::codec::{DecodeMessage, EncodeMessage};
use grpc_core::message::MessageEncoder;
use grpc_core::{Extensions, Metadata, Response, Status};
use grpc_transport::ErrorCode;
use grpc_transport::driver::SendStream;
use tokio::time::Instant;

use crate::call::{connection_unusable, deadline_exceeded, status_from_transport, within};
use crate::cancel::SendSlot;
use crate::response::ResponseReader;
use crate::stats::CallStats;
use crate::stream_retry::{RetryDriver, StreamRetry};
use crate::subchannel::ConnectionLease;
use grpc_core::stats::CallEvent;

/// A stream of response messages.
///
/// Read with [`message`](Streaming::message), or as a [`futures_core::Stream`] of
/// `Result<T, Status>`. The stream ends (`Ok(None)`, or the `Stream` ends) when the server
/// finishes the call with OK; a call that ends with another status yields that status as an
/// error (once, for the `Stream`; every time, for `message`). The trailers' metadata is
/// available at the end ([`trailers`](Streaming::trailers)).
///
/// Dropping a `Streaming` before its end cancels the call (RST_STREAM CANCEL).
pub struct Streaming<T> {
    reader: ResponseReader,
    codec: Arc<dyn DecodeMessage<T>>,
    /// The `Stream` impl reported the error already.
    error_yielded: bool,
    /// A client-streaming or bidi call under a retry policy (`stream_retry.rs`).
    retry: Option<Box<RetryDriver>>,
}

impl<T> Streaming<T> {
    pub(crate) fn new(reader: ResponseReader, codec: Arc<dyn DecodeMessage<T>>) -> Streaming<T> {
        Streaming {
            reader,
            codec,
            error_yielded: false,
            retry: None,
        }
    }

    /// A response stream whose attempts `driver` retries until the call commits.
    pub(crate) fn with_retry(
        reader: ResponseReader,
        codec: Arc<dyn DecodeMessage<T>>,
        driver: RetryDriver,
    ) -> Streaming<T> {
        Streaming {
            reader,
            codec,
            error_yielded: false,
            retry: Some(Box::new(driver)),
        }
    }

    /// Runs `read` on the current attempt's reader; for a retried call, replaces an attempt
    /// that failed before its response headers with a new one (see `stream_retry.rs`).
    fn poll_reader<R>(
        &mut self,
        cx: &mut Context<'_>,
        mut read: impl FnMut(&mut ResponseReader, &mut Context<'_>) -> Poll<Result<R, Status>>,
    ) -> Poll<Result<R, Status>> {
        loop {
            if let Some(driver) = self.retry.as_deref_mut() {
                if let Some(pending) = driver.pending.as_mut() {
                    let next = ready!(pending.as_mut().poll(cx));
                    driver.pending = None;
                    match next {
                        Ok(reader) => self.reader = reader,
                        Err(failure) => {
                            if driver.attempt_failed(
                                &failure.status,
                                failure.pushback.as_deref(),
                                false,
                                false,
                            ) {
                                continue;
                            }
                            // Starting the retry failed for good: that is the call's status.
                            return Poll::Ready(Err(self.reader.fail_local(failure.status)));
                        }
                    }
                }
            }
            let result = ready!(read(&mut self.reader, cx));
            if let Some(driver) = self.retry.as_deref_mut() {
                if self.reader.headers_received() {
                    driver.headers_arrived(&mut self.reader);
                } else if let Err(status) = &result {
                    let retried = driver.attempt_failed(
                        status,
                        self.reader.retry_pushback(),
                        self.reader.never_processed(),
                        self.reader.never_sent(),
                    );
                    if retried {
                        continue;
                    }
                }
            }
            return Poll::Ready(result);
        }
    }

    /// The next message; `Ok(None)` once the call ended with OK.
    pub async fn message(&mut self) -> Result<Option<T>, Status> {
        std::future::poll_fn(|cx| self.poll_message(cx)).await
    }

    /// Reads to the end of the call (discarding messages not read yet) and returns the
    /// trailers' custom metadata, or the call's status if it did not end with OK.
    pub async fn trailers(&mut self) -> Result<Metadata, Status> {
        while self.message().await?.is_some() {}
        Ok(self.reader.trailers().clone())
    }

    /// The response headers' custom metadata; empty until they arrive (the first
    /// [`message`](Streaming::message) call waits for them).
    pub fn headers(&self) -> &Metadata {
        self.reader.headers()
    }

    /// Waits for the response headers and returns their custom metadata.
    pub async fn wait_headers(&mut self) -> Result<&Metadata, Status> {
        if self.retry.is_some() {
            std::future::poll_fn(|cx| self.poll_reader(cx, ResponseReader::poll_headers)).await?;
        } else {
            self.reader.read_headers().await?;
        }
        Ok(self.reader.headers())
    }

    /// The call's final status, once it is over.
    pub fn status(&self) -> Option<&Status> {
        self.reader.outcome()
    }

    /// Whether the message [`message`](Streaming::message) returned last arrived compressed
    /// (its Compressed-Flag was 1); `false` before the first message. A server may compress
    /// some messages of a call and not others (`compression.md`).
    pub fn last_message_compressed(&self) -> bool {
        self.reader.last_message_compressed()
    }

    fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<T>, Status>> {
        let payload = match ready!(self.poll_reader(cx, ResponseReader::poll_message)) {
            Ok(Some(payload)) => payload,
            Ok(None) => {
                self.reader.stats().end(&Status::ok());
                return Poll::Ready(Ok(None));
            }
            Err(status) => {
                self.reader.stats().end(&status);
                return Poll::Ready(Err(status));
            }
        };
        Poll::Ready(match self.codec.decode_message(payload) {
            Ok(message) => Ok(Some(message)),
            Err(status) => {
                let status = self.reader.fail_local(status);
                self.reader.stats().end(&status);
                Err(status)
            }
        })
    }

    pub(crate) fn reader_mut(&mut self) -> &mut ResponseReader {
        &mut self.reader
    }
}

impl<T> Drop for Streaming<T> {
    fn drop(&mut self) {
        // A stream dropped before its end cancels the call; one that ended already has
        // reported its status (this does nothing then).
        let status = match self.reader.outcome() {
            Some(status) => status.clone(),
            None => Status::cancelled("call dropped"),
        };
        self.reader.stats().end(&status);
    }
}

impl<T> futures_core::Stream for Streaming<T> {
    type Item = Result<T, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.error_yielded {
            return Poll::Ready(None);
        }
        match ready!(this.poll_message(cx)) {
            Ok(Some(message)) => Poll::Ready(Some(Ok(message))),
            Ok(None) => Poll::Ready(None),
            Err(status) => {
                this.error_yielded = true;
                Poll::Ready(Some(Err(status)))
            }
        }
    }
}

impl<T> fmt::Debug for Streaming<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Streaming")
            .field("reader", &self.reader)
            .finish_non_exhaustive()
    }
}

/// The sending half of a client-streaming or bidi call: request messages, then
/// [`close_send`](RequestSink::close_send) (END_STREAM).
///
/// Sending waits while the connection's send buffer for the stream is full (flow-control
/// backpressure). Dropping the sink before `close_send` cancels the call (RST_STREAM
/// CANCEL): half-closing is explicit.
///
/// When the call compresses ([`CallOptions::compression`](crate::CallOptions::compression)
/// or the channel's [`send_compressed`](crate::ChannelBuilder::send_compressed)), every
/// message is compressed unless [`set_compression`](RequestSink::set_compression) switched
/// that off for the messages that follow.
pub struct RequestSink<T> {
    send: Option<SendStream>,
    slot: Arc<SendSlot>,
    codec: Arc<dyn EncodeMessage<T>>,
    encoder: MessageEncoder,
    /// Reused for every message: after `split`, its capacity comes back once the transport
    /// wrote the previous message.
    buf: BytesMut,
    deadline: Option<Instant>,
    timeout: Option<std::time::Duration>,
    lease: ConnectionLease,
    /// END_STREAM is being sent (the close future may be dropped half-way).
    closing: bool,
    closed: bool,
    /// A call under a retry policy: messages go through the shared retry state (which
    /// holds the current attempt's `SendStream`; `send` is `None`).
    retry: Option<Arc<StreamRetry>>,
    stats: CallStats,
}

pub(crate) struct SinkParts<T> {
    pub(crate) send: Option<SendStream>,
    pub(crate) slot: Arc<SendSlot>,
    pub(crate) codec: Arc<dyn EncodeMessage<T>>,
    pub(crate) encoder: MessageEncoder,
    pub(crate) deadline: Option<Instant>,
    pub(crate) timeout: Option<std::time::Duration>,
    pub(crate) lease: ConnectionLease,
    pub(crate) retry: Option<Arc<StreamRetry>>,
    pub(crate) stats: CallStats,
}

impl<T> RequestSink<T> {
    pub(crate) fn new(parts: SinkParts<T>) -> RequestSink<T> {
        RequestSink {
            send: parts.send,
            slot: parts.slot,
            codec: parts.codec,
            encoder: parts.encoder,
            buf: BytesMut::new(),
            deadline: parts.deadline,
            timeout: parts.timeout,
            lease: parts.lease,
            closing: false,
            closed: false,
            retry: parts.retry,
            stats: parts.stats,
        }
    }

    /// Compresses the following messages (`true`, the default) or sends them uncompressed
    /// (`false`), for calls that compress (`compression.md`, "Specific Disabling of
    /// Compression": keep secrets apart from attacker-controlled data, against CRIME/BEAST-style
    /// attacks). An uncompressed message goes out with Compressed-Flag 0 on the same stream;
    /// the call's `grpc-encoding` does not change. On a call without compression this does
    /// nothing: `true` cannot turn compression on once the headers are out.
    pub fn set_compression(&mut self, enabled: bool) {
        self.encoder.set_compression(enabled);
    }

    /// Sends one request message. A message over the send limit fails with
    /// RESOURCE_EXHAUSTED and is not sent (the call goes on). If the call already ended, the
    /// error says how the stream ended; the call's status comes from the response side.
    pub async fn send(&mut self, message: T) -> Result<(), Status> {
        if self.closed || self.closing {
            return Err(Status::internal("send after close_send"));
        }
        if let Some(retry) = &self.retry {
            self.codec
                .encode_message(&mut self.encoder, message, &mut self.buf)?;
            let data = self.buf.split().freeze();
            self.stats.event(&CallEvent::MessageOut {
                size: self.encoder.last_message_size(),
                wire_size: data.len(),
            });
            return retry.send(Some(data)).await;
        }
        let Some(send) = self.send.as_mut() else {
            return Err(Status::internal("send after close_send"));
        };
        if self.deadline.is_some_and(|d| d <= Instant::now()) {
            send.reset(ErrorCode::CANCEL);
            return Err(deadline_exceeded(self.timeout));
        }
        if self.slot.is_cancelled() {
            return Err(Status::cancelled("call was cancelled"));
        }
        self.codec
            .encode_message(&mut self.encoder, message, &mut self.buf)?;
        let data = self.buf.split().freeze();
        self.stats.event(&CallEvent::MessageOut {
            size: self.encoder.last_message_size(),
            wire_size: data.len(),
        });
        let result = within(self.deadline, self.timeout, async {
            Ok(send.send_data(data, false).await)
        })
        .await;
        self.after_send(result)
    }

    /// Half-closes the call (END_STREAM): no more messages. Idempotent.
    pub async fn close_send(&mut self) -> Result<(), Status> {
        if self.closed {
            return Ok(());
        }
        if let Some(retry) = &self.retry {
            self.closed = true;
            return retry.send(None).await;
        }
        let Some(send) = self.send.as_mut() else {
            return Ok(());
        };
        if self.deadline.is_some_and(|d| d <= Instant::now()) {
            send.reset(ErrorCode::CANCEL);
            return Err(deadline_exceeded(self.timeout));
        }
        if !self.slot.begin_close() {
            return Err(Status::cancelled("call was cancelled"));
        }
        self.closing = true;
        let result = within(self.deadline, self.timeout, async {
            Ok(send.send_data(Bytes::new(), true).await)
        })
        .await;
        let result = self.after_send(result);
        self.closing = false;
        self.closed = true;
        if let Some(send) = self.send.take() {
            self.slot.end_close(send);
        }
        result
    }

    /// Maps the outcome of a send: a transport error to a status (reporting a connection
    /// that went away), the deadline to DEADLINE_EXCEEDED with the stream cancelled.
    fn after_send(
        &mut self,
        result: Result<Result<(), grpc_transport::driver::Error>, Status>,
    ) -> Result<(), Status> {
        let error = match result {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(error)) => error,
            Err(deadline) => {
                if let Some(send) = self.send.as_mut() {
                    send.reset(ErrorCode::CANCEL);
                }
                return Err(deadline);
            }
        };
        if connection_unusable(&error) {
            self.lease.connection_unusable();
        }
        if self.deadline.is_some_and(|d| d <= Instant::now()) {
            // Our own reset after the deadline shows up as CANCEL.
            return Err(deadline_exceeded(self.timeout));
        }
        if self.slot.is_cancelled() {
            return Err(Status::cancelled("call was cancelled"));
        }
        Err(status_from_transport(&error))
    }
}

impl<T> Drop for RequestSink<T> {
    fn drop(&mut self) {
        if let Some(retry) = &self.retry {
            if !self.closed {
                // Dropped without close_send: the call is cancelled.
                retry.sender_gone();
            }
            return;
        }
        if let Some(send) = self.send.take() {
            if self.closing {
                self.slot.abandon_close(send);
            } else {
                self.slot.sender_gone();
            }
            // Otherwise the unfinished `SendStream` resets the stream with CANCEL as it
            // drops (a sink dropped without close_send cancels the call).
        }
    }
}

impl<T> fmt::Debug for RequestSink<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestSink")
            .field("encoder", &self.encoder)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

/// The extensions of a response with one message: the
/// [`ReceivedCompressed`](crate::ReceivedCompressed) marker when the response had
/// a `grpc-encoding`, else none (empty extensions do not allocate).
pub(crate) fn single_response_extensions(reader: &ResponseReader) -> Extensions {
    let mut extensions = Extensions::new();
    if let Some(received) = reader.received_compressed() {
        extensions.insert(received);
    }
    extensions
}

/// A client-streaming call in progress: [`send`](ClientStreamingCall::send) request
/// messages, then [`finish`](ClientStreamingCall::finish) to half-close and get the
/// response. Dropping it before `finish` completes cancels the call.
pub struct ClientStreamingCall<Req, Resp> {
    sink: RequestSink<Req>,
    responses: Streaming<Resp>,
    /// A response message read while finding out why a send failed (a server may answer
    /// before the request stream ends); `finish` returns it.
    early_response: Option<Resp>,
    /// More than one response message arrived early (a cardinality violation).
    extra_responses: bool,
}

impl<Req, Resp> ClientStreamingCall<Req, Resp> {
    pub(crate) fn new(sink: RequestSink<Req>, responses: Streaming<Resp>) -> Self {
        ClientStreamingCall {
            sink,
            responses,
            early_response: None,
            extra_responses: false,
        }
    }

    /// Compresses the following request messages or not (see
    /// [`RequestSink::set_compression`]).
    pub fn set_compression(&mut self, enabled: bool) {
        self.sink.set_compression(enabled);
    }

    /// Sends one request message. If the server already ended the call with an error,
    /// fails with that status. If it ended the call with OK (it answered before reading
    /// every request), fails too, and [`finish`](ClientStreamingCall::finish) returns the
    /// response.
    pub async fn send(&mut self, message: Req) -> Result<(), Status> {
        match self.sink.send(message).await {
            Ok(()) => Ok(()),
            Err(status) => Err(self.status_after_send_error(status).await),
        }
    }

    /// Half-closes the call and waits for the response: headers, exactly one message,
    /// trailers. The response's extensions hold a
    /// [`ReceivedCompressed`](crate::ReceivedCompressed) marker when the
    /// response had a `grpc-encoding` (see [`Channel::unary`](crate::Channel::unary)).
    pub async fn finish(mut self) -> Result<Response<Resp>, Status> {
        if let Err(status) = self.sink.close_send().await {
            // A server that answered early may have closed the stream already: its
            // response decides, unless we ran out of time.
            if status.code() == grpc_core::Code::DeadlineExceeded {
                return Err(status);
            }
        }
        let responses = &mut self.responses;
        responses.wait_headers().await?;
        let message = match self.early_response.take() {
            Some(message) => message,
            None => match responses.message().await? {
                Some(message) => message,
                None => {
                    return Err(Status::internal(
                        "cardinality violation: no response message for a client-streaming call",
                    ));
                }
            },
        };
        if self.extra_responses || responses.message().await?.is_some() {
            let status = Status::internal(
                "cardinality violation: more than one response message for a client-streaming call",
            );
            return Err(responses.reader_mut().fail_local(status));
        }
        let reader = responses.reader_mut();
        Ok(Response::from_parts(
            reader.take_headers(),
            single_response_extensions(reader),
            message,
            reader.take_trailers(),
        ))
    }

    /// After a failed send: the server's status if the server ended the call (its trailers
    /// are already here), else the send error.
    async fn status_after_send_error(&mut self, send_error: Status) -> Status {
        use grpc_core::Code;
        // Failures of our own (deadline, message over the send limit) are the answer.
        if matches!(
            send_error.code(),
            Code::DeadlineExceeded | Code::ResourceExhausted
        ) {
            return send_error;
        }
        // The stream is over, so reading the rest of it does not block (and the deadline
        // bounds it anyway). A response that came early is kept for `finish`.
        loop {
            match self.responses.message().await {
                Ok(Some(message)) => {
                    if self.early_response.is_none() {
                        self.early_response = Some(message);
                    } else {
                        self.extra_responses = true;
                    }
                }
                Ok(None) => {
                    return Status::new(
                        send_error.code(),
                        format!(
                            "the server completed the call before the request stream ended \
                             (finish() returns its response): {}",
                            send_error.message()
                        ),
                    );
                }
                Err(status) => return status,
            }
        }
    }
}

impl<Req, Resp> fmt::Debug for ClientStreamingCall<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientStreamingCall")
            .field("sink", &self.sink)
            .field("responses", &self.responses)
            .finish()
    }
}

/// A bidirectional-streaming call in progress. Send and receive independently, or
/// [`split`](BidiStreamingCall::split) the call into a [`RequestSink`] and a [`Streaming`]
/// to use the halves from different tasks. Dropping it (or, after a split, the response
/// stream) before the call ends cancels the call.
pub struct BidiStreamingCall<Req, Resp> {
    sink: RequestSink<Req>,
    responses: Streaming<Resp>,
}

impl<Req, Resp> BidiStreamingCall<Req, Resp> {
    pub(crate) fn new(sink: RequestSink<Req>, responses: Streaming<Resp>) -> Self {
        BidiStreamingCall { sink, responses }
    }

    /// Compresses the following request messages or not (see
    /// [`RequestSink::set_compression`]).
    pub fn set_compression(&mut self, enabled: bool) {
        self.sink.set_compression(enabled);
    }

    /// Sends one request message (see [`RequestSink::send`]).
    pub async fn send(&mut self, message: Req) -> Result<(), Status> {
        self.sink.send(message).await
    }

    /// Half-closes the request stream (END_STREAM); responses keep coming.
    pub async fn close_send(&mut self) -> Result<(), Status> {
        self.sink.close_send().await
    }

    /// The next response message; `Ok(None)` once the call ended with OK.
    pub async fn message(&mut self) -> Result<Option<Resp>, Status> {
        self.responses.message().await
    }

    /// Whether the response message returned last arrived compressed (see
    /// [`Streaming::last_message_compressed`]).
    pub fn last_message_compressed(&self) -> bool {
        self.responses.last_message_compressed()
    }

    /// The response headers' custom metadata; empty until they arrive (after the first
    /// [`message`](BidiStreamingCall::message), or [`wait_headers`](BidiStreamingCall::wait_headers)).
    pub fn headers(&self) -> &Metadata {
        self.responses.headers()
    }

    /// Waits for the response headers and returns their custom metadata.
    pub async fn wait_headers(&mut self) -> Result<&Metadata, Status> {
        self.responses.wait_headers().await
    }

    /// Reads to the end of the call and returns the trailers' custom metadata (or the call's
    /// status if it did not end with OK).
    pub async fn trailers(&mut self) -> Result<Metadata, Status> {
        self.responses.trailers().await
    }

    /// Splits the call into its sending and receiving halves.
    pub fn split(self) -> (RequestSink<Req>, Streaming<Resp>) {
        (self.sink, self.responses)
    }
}

impl<Req, Resp> fmt::Debug for BidiStreamingCall<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BidiStreamingCall")
            .field("sink", &self.sink)
            .field("responses", &self.responses)
            .finish()
    }
}
