//! Stream handles: what the application holds for one HTTP/2 stream.
//!
//! A stream is split in two: [`SendStream`] (our headers, data with backpressure, trailers,
//! reset) and [`RecvStream`] (the peer's headers, data, trailers). Both talk to the
//! connection task through its command queue; no lock is shared with the task on the data
//! path. Received data is credited back to the peer's stream window as the application
//! takes it from [`RecvStream::data`], so a slow reader slows the sender (backpressure).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::sync::{Notify, mpsc};

use super::error::Error;
use crate::ErrorCode;
use crate::hpack::HeaderField;

/// State shared between a stream's handles and the connection task.
#[derive(Debug)]
pub(crate) struct StreamShared {
    /// The stream id, once the task assigned it (0 before).
    pub(crate) id: AtomicU32,
    /// Data queued by the application and not yet written by the task.
    pub(crate) buffered: AtomicUsize,
    /// Set (with `failure`) when the stream is reset or the connection is gone.
    pub(crate) failed: AtomicBool,
    pub(crate) failure: std::sync::Mutex<Option<Error>>,
    /// Woken when buffer space frees up or the stream fails.
    pub(crate) send_ready: Notify,
}

impl StreamShared {
    pub(crate) fn new() -> Arc<StreamShared> {
        Arc::new(StreamShared {
            id: AtomicU32::new(0),
            buffered: AtomicUsize::new(0),
            failed: AtomicBool::new(false),
            failure: std::sync::Mutex::new(None),
            send_ready: Notify::new(),
        })
    }

    /// Marks the stream failed (first error wins) and wakes a waiting sender.
    pub(crate) fn fail(&self, error: Error) {
        if let Ok(mut failure) = self.failure.lock() {
            if failure.is_none() {
                *failure = Some(error);
            }
        }
        self.failed.store(true, Ordering::Release);
        self.send_ready.notify_waiters();
    }

    pub(crate) fn failure(&self) -> Option<Error> {
        if !self.failed.load(Ordering::Acquire) {
            return None;
        }
        self.failure
            .lock()
            .ok()
            .and_then(|f| f.clone())
            .or(Some(Error::ConnectionClosed))
    }

    /// The task wrote `bytes` of this stream's data.
    pub(crate) fn release(&self, bytes: usize) {
        self.buffered.fetch_sub(bytes, Ordering::AcqRel);
        self.send_ready.notify_waiters();
    }
}

/// A request from a handle to the connection task.
#[derive(Debug)]
pub(crate) enum Command {
    /// Open a client stream.
    Open {
        stream: Arc<StreamShared>,
        recv: mpsc::UnboundedSender<RecvItem>,
        fields: Vec<HeaderField>,
        end_stream: bool,
    },
    Headers {
        stream: Arc<StreamShared>,
        fields: Vec<HeaderField>,
        end_stream: bool,
    },
    Data {
        stream: Arc<StreamShared>,
        data: Bytes,
        end_stream: bool,
    },
    Trailers {
        stream: Arc<StreamShared>,
        fields: Vec<HeaderField>,
    },
    Reset {
        stream: Arc<StreamShared>,
        code: ErrorCode,
    },
    /// The application read `len` octets: credit the stream window.
    Release {
        stream: Arc<StreamShared>,
        len: usize,
    },
    /// The receiving half was dropped before the peer finished sending.
    StopReceiving {
        stream: Arc<StreamShared>,
    },
    Ping {
        payload: [u8; 8],
        reply: tokio::sync::oneshot::Sender<()>,
    },
    Shutdown,
    Stats {
        reply: tokio::sync::oneshot::Sender<super::ConnectionStats>,
    },
}

/// What the task delivers to a [`RecvStream`].
#[derive(Debug)]
pub(crate) enum RecvItem {
    Headers {
        fields: Vec<HeaderField>,
        end_stream: bool,
    },
    Data {
        data: Bytes,
        end_stream: bool,
    },
    Trailers(Vec<HeaderField>),
    Error(Error),
}

/// The sending half of a stream.
#[derive(Debug)]
pub struct SendStream {
    pub(crate) shared: Arc<StreamShared>,
    pub(crate) commands: mpsc::UnboundedSender<Command>,
    pub(crate) buffer_limit: usize,
    /// Whether END_STREAM (or a reset) was sent: nothing more may be sent.
    pub(crate) finished: bool,
}

impl SendStream {
    /// The stream id, once the connection assigned it (a client stream waiting for a
    /// concurrency slot may not have one yet).
    pub fn id(&self) -> Option<crate::frame::StreamId> {
        crate::frame::StreamId::new(self.shared.id.load(Ordering::Acquire))
            .filter(|id| !id.is_zero())
    }

    fn command(&mut self, command: Command) -> Result<(), Error> {
        if let Some(error) = self.shared.failure() {
            return Err(error);
        }
        self.commands
            .send(command)
            .map_err(|_| Error::ConnectionClosed)
    }

    /// Sends response headers (server), or headers on a stream that has none yet.
    pub fn send_headers(
        &mut self,
        fields: Vec<HeaderField>,
        end_stream: bool,
    ) -> Result<(), Error> {
        self.ensure_open()?;
        self.finished = end_stream;
        let stream = self.shared.clone();
        self.command(Command::Headers {
            stream,
            fields,
            end_stream,
        })
    }

    /// Sends body data. Waits while more than the per-stream buffer limit is queued and
    /// not yet written (flow control or a slow network), so memory stays bounded.
    pub async fn send_data(&mut self, data: Bytes, end_stream: bool) -> Result<(), Error> {
        self.ensure_open()?;
        self.reserve_capacity().await?;
        self.shared.buffered.fetch_add(data.len(), Ordering::AcqRel);
        self.finished = end_stream;
        let stream = self.shared.clone();
        self.command(Command::Data {
            stream,
            data,
            end_stream,
        })
    }

    /// Waits until the stream's send buffer has room (below the limit), or fails if the
    /// stream was reset.
    pub async fn reserve_capacity(&mut self) -> Result<(), Error> {
        loop {
            let notified = self.shared.send_ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(error) = self.shared.failure() {
                return Err(error);
            }
            if self.shared.buffered.load(Ordering::Acquire) < self.buffer_limit {
                return Ok(());
            }
            notified.await;
        }
    }

    /// Sends trailers, ending the stream.
    pub fn send_trailers(&mut self, fields: Vec<HeaderField>) -> Result<(), Error> {
        self.ensure_open()?;
        self.finished = true;
        let stream = self.shared.clone();
        self.command(Command::Trailers { stream, fields })
    }

    /// Resets the stream with `code` (RST_STREAM).
    pub fn reset(&mut self, code: ErrorCode) {
        if self.finished && self.shared.failed.load(Ordering::Acquire) {
            return;
        }
        self.finished = true;
        let stream = self.shared.clone();
        let _ = self.commands.send(Command::Reset { stream, code });
    }

    /// Whether the stream failed (reset or connection lost).
    pub fn failure(&self) -> Option<Error> {
        self.shared.failure()
    }

    /// A handle that resolves when this stream fails: the peer reset it (a client cancelling
    /// its call), a protocol error reset it, or the connection was lost. A server selects on
    /// it to cancel a handler that is not reading or writing at that moment.
    pub fn stop_signal(&self) -> StopSignal {
        StopSignal {
            shared: self.shared.clone(),
        }
    }

    fn ensure_open(&self) -> Result<(), Error> {
        if self.finished {
            return Err(Error::Stream(crate::connection::StreamError::SendClosed));
        }
        Ok(())
    }
}

impl Drop for SendStream {
    fn drop(&mut self) {
        // Dropping an unfinished sending half cancels the stream (how a caller cancels).
        if !self.finished && !self.shared.failed.load(Ordering::Acquire) {
            let stream = self.shared.clone();
            let _ = self.commands.send(Command::Reset {
                stream,
                code: ErrorCode::CANCEL,
            });
        }
    }
}

/// Resolves when a stream fails (see [`SendStream::stop_signal`]). Cheap to clone; it does
/// not keep the stream open.
#[derive(Clone, Debug)]
pub struct StopSignal {
    shared: Arc<StreamShared>,
}

impl StopSignal {
    /// The failure, if the stream failed already.
    pub fn failure(&self) -> Option<Error> {
        self.shared.failure()
    }

    /// Waits until the stream fails and returns why. Never resolves for a stream that ends
    /// normally.
    pub async fn stopped(&self) -> Error {
        loop {
            let notified = self.shared.send_ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(error) = self.shared.failure() {
                return error;
            }
            notified.await;
        }
    }
}

/// The receiving half of a stream.
#[derive(Debug)]
pub struct RecvStream {
    pub(crate) shared: Arc<StreamShared>,
    pub(crate) commands: mpsc::UnboundedSender<Command>,
    pub(crate) items: mpsc::UnboundedReceiver<RecvItem>,
    /// An item read ahead (headers waiting while data was asked for, or vice versa).
    pub(crate) peeked: Option<RecvItem>,
    /// The peer finished sending (END_STREAM seen) or the stream failed.
    pub(crate) ended: bool,
    pub(crate) trailers: Option<Vec<HeaderField>>,
}

impl RecvStream {
    pub(crate) fn new(
        shared: Arc<StreamShared>,
        commands: mpsc::UnboundedSender<Command>,
        items: mpsc::UnboundedReceiver<RecvItem>,
    ) -> RecvStream {
        RecvStream {
            shared,
            commands,
            items,
            peeked: None,
            ended: false,
            trailers: None,
        }
    }

    async fn next_item(&mut self) -> RecvItem {
        std::future::poll_fn(|cx| self.poll_item(cx)).await
    }

    fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<RecvItem> {
        if let Some(item) = self.peeked.take() {
            return Poll::Ready(item);
        }
        self.items.poll_recv(cx).map(|item| match item {
            Some(item) => item,
            None => RecvItem::Error(self.shared.failure().unwrap_or(Error::ConnectionClosed)),
        })
    }

    /// The response headers (client side): the first non-informational header block.
    /// Informational (1xx) responses are skipped.
    pub async fn headers(&mut self) -> Result<Vec<HeaderField>, Error> {
        loop {
            match self.next_item().await {
                RecvItem::Headers { fields, end_stream } => {
                    let informational = fields.first().is_some_and(|f| {
                        &f.name[..] == b":status" && f.value.first() == Some(&b'1')
                    });
                    if informational {
                        continue;
                    }
                    self.ended |= end_stream;
                    return Ok(fields);
                }
                RecvItem::Error(error) => {
                    self.ended = true;
                    return Err(error);
                }
                other => {
                    // Data or trailers before headers cannot happen (the connection
                    // rejects them); keep the item for the caller anyway.
                    self.peeked = Some(other);
                    return Err(Error::Stream(crate::connection::StreamError::InvalidState));
                }
            }
        }
    }

    /// The next chunk of body data, or `None` at the end of the body. Taking a chunk
    /// credits its length back to the peer's stream window.
    pub async fn data(&mut self) -> Option<Result<Bytes, Error>> {
        std::future::poll_fn(|cx| self.poll_data(cx)).await
    }

    /// The polling form of [`data`](RecvStream::data), for `Stream` implementations.
    pub fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Error>>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let Poll::Ready(item) = self.poll_item(cx) else {
            return Poll::Pending;
        };
        Poll::Ready(match item {
            RecvItem::Data { data, end_stream } => {
                self.ended = end_stream;
                if !data.is_empty() && !end_stream {
                    let _ = self.commands.send(Command::Release {
                        stream: self.shared.clone(),
                        len: data.len(),
                    });
                }
                Some(Ok(data))
            }
            RecvItem::Trailers(fields) => {
                self.ended = true;
                self.trailers = Some(fields);
                None
            }
            RecvItem::Headers { end_stream, .. } => {
                // Headers are taken with `headers()`; a header block here is unexpected.
                self.ended |= end_stream;
                Some(Err(Error::Stream(
                    crate::connection::StreamError::InvalidState,
                )))
            }
            RecvItem::Error(error) => {
                self.ended = true;
                Some(Err(error))
            }
        })
    }

    /// The trailers, after the body was read to its end; `None` if the stream ended
    /// without them. Reads (and discards) any body data not read yet.
    pub async fn trailers(&mut self) -> Result<Option<Vec<HeaderField>>, Error> {
        while let Some(chunk) = self.data().await {
            chunk?;
        }
        Ok(self.trailers.take())
    }

    /// Whether the peer finished sending.
    pub fn is_end_stream(&self) -> bool {
        self.ended
    }
}

impl Drop for RecvStream {
    fn drop(&mut self) {
        if !self.ended {
            let _ = self.commands.send(Command::StopReceiving {
                stream: self.shared.clone(),
            });
        }
    }
}
