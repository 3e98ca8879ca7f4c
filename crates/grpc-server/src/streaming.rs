//! Request messages: [`MessageReader`] turns the request body into message payloads, and
//! [`Streaming`] is the stream of decoded messages a streaming handler reads.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use grpc_core::Status;
use grpc_core::codec::DecodeMessage;
use grpc_core::compression::Compressor;
use grpc_core::message::{MessageDecoder, ReceivedCompressed};
use grpc_core::stats::CallEvent;
use grpc_transport::driver;

use crate::call::RequestBody;

/// Reads Length-Prefixed-Messages off a request body (PROTOCOL-HTTP2 "Requests"),
/// decompressing and checking the size limit.
///
/// Protocol errors (a message over the limit, a compressed flag without `grpc-encoding`,
/// corrupt compressed data, a message cut off by the end of the stream) are sticky: every
/// later read returns the same error, nothing more is read, and the call ends with that
/// status whatever the handler returns.
pub(crate) struct MessageReader {
    body: RequestBody,
    decoder: MessageDecoder,
    error: Option<Status>,
    done: bool,
}

impl MessageReader {
    pub(crate) fn new(
        body: RequestBody,
        encoding: Option<Arc<dyn Compressor>>,
        max_message_size: usize,
    ) -> MessageReader {
        MessageReader {
            body,
            decoder: MessageDecoder::new(encoding, max_message_size),
            error: None,
            done: false,
        }
    }

    /// A protocol error: remembered, and made the call's status.
    fn fail(&mut self, status: Status) -> Status {
        tracing::debug!(%status, "bad request stream");
        self.body.shared.set_fatal(status.clone());
        self.error = Some(status.clone());
        status
    }

    /// The next message payload; `Ok(None)` at the end of the request stream.
    pub(crate) fn poll_payload(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Bytes>, Status>> {
        loop {
            if let Some(error) = &self.error {
                return Poll::Ready(Err(error.clone()));
            }
            match self.decoder.next_message() {
                Ok(Some(payload)) => {
                    self.body.shared.stats.event(&CallEvent::MessageIn {
                        size: payload.len(),
                    });
                    return Poll::Ready(Ok(Some(payload)));
                }
                Ok(None) => {}
                Err(status) => return Poll::Ready(Err(self.fail(status))),
            }
            if self.done {
                return Poll::Ready(Ok(None));
            }
            let Some(recv) = self.body.recv.as_mut() else {
                self.done = true;
                continue;
            };
            match ready!(recv.poll_data(cx)) {
                Some(Ok(chunk)) => self.decoder.push(chunk),
                Some(Err(error)) => {
                    // The client reset the stream or the connection is gone; the dispatcher
                    // sees the same thing and drops the handler.
                    let status = transport_status(&error);
                    self.error = Some(status.clone());
                    return Poll::Ready(Err(status));
                }
                None => {
                    self.done = true;
                    if let Err(status) = self.decoder.finish() {
                        return Poll::Ready(Err(self.fail(status)));
                    }
                }
            }
        }
    }

    /// How the message returned last arrived, as the marker for a handler's request: `None`
    /// when the stream has no `grpc-encoding` (nothing can arrive compressed then; see
    /// [`ReceivedCompressed`]).
    pub(crate) fn received_compressed(&self) -> Option<ReceivedCompressed> {
        self.decoder.encoding()?;
        Some(ReceivedCompressed(self.decoder.last_message_compressed()))
    }

    /// Reads the one request message of a unary or server-streaming call and the end of the
    /// stream after it. No message, or more than one, is INTERNAL.
    pub(crate) async fn single(&mut self) -> Result<Bytes, Status> {
        let first = std::future::poll_fn(|cx| self.poll_payload(cx)).await?;
        let Some(first) = first else {
            return Err(self.fail(Status::internal(
                "the request stream ended without a request message",
            )));
        };
        match std::future::poll_fn(|cx| self.poll_payload(cx)).await? {
            None => Ok(first),
            Some(_) => Err(self.fail(Status::internal(
                "received a second request message on a method that takes one",
            ))),
        }
    }
}

/// The status a handler sees when the transport fails under it.
pub(crate) fn transport_status(error: &driver::Error) -> Status {
    match error {
        driver::Error::Reset {
            remote: true, code, ..
        } => Status::cancelled(format!("the client reset the stream ({code})")),
        driver::Error::Reset { code, .. } => {
            Status::cancelled(format!("the stream was reset ({code})"))
        }
        other => Status::unavailable(format!("connection lost: {other}")),
    }
}

/// The request messages of a client-streaming or bidirectional-streaming call.
///
/// Read with [`message`](Streaming::message) or as a [`futures_core::Stream`]. Messages are
/// read from the connection as the handler asks for them, and the client's flow-control
/// window is only credited for what was read, so a slow handler slows the client down
/// (backpressure).
///
/// Errors: a message over the server's
/// [`max_decoding_message_size`](crate::ServerBuilder::max_decoding_message_size) gives
/// RESOURCE_EXHAUSTED; a malformed stream (bad compressed data, a compressed flag without
/// `grpc-encoding`, a message cut off by the end of the stream, a message the codec cannot
/// decode) gives INTERNAL. Those errors end the call with that status even if the handler
/// ignores them. A client that cancels gives CANCELLED (and the handler is dropped soon
/// after anyway).
pub struct Streaming<T> {
    reader: MessageReader,
    codec: Arc<dyn DecodeMessage<T>>,
}

impl<T> Streaming<T> {
    pub(crate) fn new(reader: MessageReader, codec: Arc<dyn DecodeMessage<T>>) -> Streaming<T> {
        Streaming { reader, codec }
    }

    /// The next message, or `None` once the client finished sending.
    pub async fn message(&mut self) -> Result<Option<T>, Status> {
        std::future::poll_fn(|cx| self.poll_message(cx)).await
    }

    /// Whether the message [`message`](Streaming::message) returned last arrived compressed
    /// (its Compressed-Flag was 1); `false` before the first message. A client may compress
    /// some messages of a call and not others (`compression.md`).
    pub fn last_message_compressed(&self) -> bool {
        self.reader.decoder.last_message_compressed()
    }

    /// The polling form of [`message`](Streaming::message).
    pub fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<T>, Status>> {
        match ready!(self.reader.poll_payload(cx)) {
            Ok(Some(payload)) => Poll::Ready(match self.codec.decode_message(payload) {
                Ok(message) => Ok(Some(message)),
                Err(status) => Err(self.reader.fail(status)),
            }),
            Ok(None) => Poll::Ready(Ok(None)),
            Err(status) => Poll::Ready(Err(status)),
        }
    }
}

impl<T> futures_core::Stream for Streaming<T> {
    type Item = Result<T, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.reader.error.is_some() && this.reader.done {
            return Poll::Ready(None);
        }
        match ready!(this.poll_message(cx)) {
            Ok(Some(message)) => Poll::Ready(Some(Ok(message))),
            Ok(None) => Poll::Ready(None),
            Err(status) => {
                // Report an error once, then end the stream.
                this.reader.done = true;
                Poll::Ready(Some(Err(status)))
            }
        }
    }
}

impl<T> fmt::Debug for Streaming<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Streaming")
            .field("decoder", &self.reader.decoder)
            .field("done", &self.reader.done)
            .field("error", &self.reader.error)
            .finish()
    }
}
