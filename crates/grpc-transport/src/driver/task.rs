//! The connection task: one tokio task per connection that owns the sans-IO
//! [`Connection`], the transport, and the map from stream ids to handles.
//!
//! Each wake-up runs one pass:
//!
//! 1. apply every queued command from the handles;
//! 2. read what the transport has (while the connection wants input) and feed it in;
//! 3. hand the resulting events to the stream handles and the accept queue;
//! 4. fire due timers;
//! 5. collect everything the connection wants to send into one buffer and write it, so a
//!    burst of frames costs one `write` (and one flush);
//!
//! and repeats until a pass makes no progress. Every command queued by the time a pass
//! starts joins that pass's write, which is how a handler's headers, data and trailers
//! leave in one `write`. Unlike gRPC-Go's loopy writer, the task does not yield before every
//! small write (on loopback that cost 40% of one-stream ping-pong and saved no syscalls); it
//! gives way once only when a handle's command woke it with more than one stream open, so
//! the responses of call tasks queued behind it share the write (see step 5 of `poll_pass`
//! and docs/ARCHITECTURE.md).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::BuildHasherDefault;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Sleep;

use super::error::Error;
use super::stream::{Command, RecvItem, RecvStream, SendStream, StreamShared};
use crate::ErrorCode;
use crate::connection::{Connection, Event, OpenError, Role, StreamIdHasher};
use crate::frame::StreamId;
use crate::hpack::HeaderField;

/// Read at most this much per pass; it bounds the work done before writing.
const READ_CHUNK: usize = 64 * 1024;
/// What the read buffer starts with after it was given back (an idle connection's next
/// message is usually small); a read that finds less than a quarter of it spare grows it by
/// `READ_CHUNK`.
const FIRST_READ: usize = 4 * 1024;
/// What the write buffer starts with once output is pending (it grows if a batch needs more).
const FIRST_WRITE: usize = 4 * 1024;
/// Commands applied per pass at most, so a flood of commands cannot starve reads.
const MAX_COMMANDS_PER_PASS: usize = 1024;

/// Where a server connection delivers the requests its peer opens.
pub(crate) enum Acceptor {
    /// Into a queue that [`Incoming`](super::Incoming) reads.
    Queue(mpsc::UnboundedSender<IncomingRequest>),
    /// Straight to a function, called from the connection task as each request arrives
    /// ([`ServerConnection`](super::ServerConnection)).
    Handler(Box<dyn FnMut(IncomingRequest) + Send>),
}

impl fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Acceptor::Queue(_) => f.write_str("Acceptor::Queue"),
            Acceptor::Handler(_) => f.write_str("Acceptor::Handler"),
        }
    }
}

/// A request the server side accepted: its headers and the two halves of its stream.
#[derive(Debug)]
pub struct IncomingRequest {
    /// The request's header fields (pseudo-header fields first).
    pub headers: Vec<HeaderField>,
    /// Whether the request has no body (END_STREAM on the headers).
    pub end_stream: bool,
    /// The request body and trailers.
    pub body: RecvStream,
    /// Where the response goes.
    pub respond: SendStream,
}

/// A snapshot of a connection's state, for monitoring and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionStats {
    /// Streams open or half-closed, plus streams waiting for a concurrency slot.
    pub open_streams: usize,
    /// Streams we opened that wait for the peer's MAX_CONCURRENT_STREAMS.
    pub pending_open_streams: usize,
    /// The receive window each stream gets (grown by BDP estimation).
    pub stream_recv_window_target: u32,
    /// The connection-level receive window (grown by BDP estimation).
    pub connection_recv_window_target: u32,
    /// What we may still send on the connection.
    pub connection_send_window: i64,
    /// The peer's settings.
    pub peer_settings: crate::connection::PeerSettings,
    /// Octets allocated for the read and write buffers (both zero while the connection is
    /// idle: they are given back when no stream is open and nothing is buffered).
    pub buffer_capacity: usize,
}

struct StreamEntry {
    shared: Arc<StreamShared>,
    recv: mpsc::UnboundedSender<RecvItem>,
}

/// What the connection's handles share with the task (read rarely, off the data path).
#[derive(Debug, Default)]
pub(crate) struct ConnectionShared {
    pub(crate) closed: std::sync::atomic::AtomicBool,
    pub(crate) error: std::sync::Mutex<Option<Error>>,
    pub(crate) closed_notify: tokio::sync::Notify,
}

impl ConnectionShared {
    pub(crate) fn error(&self) -> Option<Error> {
        self.error.lock().ok().and_then(|e| e.clone())
    }
}

/// How long a finished connection keeps reading (and dropping) input after shutting its
/// write side, waiting for the peer to close (see [`ConnectionTask::poll`]).
const LINGER: std::time::Duration = std::time::Duration::from_secs(1);

/// The future that runs one connection. The connect and accept functions spawn it on
/// tokio; [`super::client::Client::with_task`] and friends return it for callers that
/// want to run it themselves.
pub struct ConnectionTask<T> {
    io: T,
    conn: Connection,
    commands: mpsc::UnboundedReceiver<Command>,
    /// Server: a sender kept so streams opened by the peer can get handles. A client keeps
    /// none, so the queue closes when the application drops every handle.
    command_tx: Option<mpsc::UnboundedSender<Command>>,
    read_buf: BytesMut,
    write_buf: BytesMut,
    /// Keyed by stream id with the connection's cheap id hasher (no SipHash per frame).
    streams: HashMap<u32, StreamEntry, BuildHasherDefault<StreamIdHasher>>,
    accept: Option<Acceptor>,
    pings: Vec<([u8; 8], oneshot::Sender<()>)>,
    timer: Pin<Box<Sleep>>,
    timer_deadline: Option<tokio::time::Instant>,
    read_closed: bool,
    write_failed: bool,
    /// Bytes written since the last flush.
    unflushed: bool,
    /// The task gave way once before gathering its next batch (see step 5 of `poll_pass`).
    yielded_for_batch: bool,
    commands_closed: bool,
    /// The client shut down because every handle was dropped.
    abandoned: bool,
    /// The connection is over and its write side shut: input is read and dropped until
    /// the peer closes too (or [`LINGER`] passes).
    lingering: bool,
    shared: Arc<ConnectionShared>,
    buffer_limit: usize,
    span: tracing::Span,
}

impl<T> std::fmt::Debug for ConnectionTask<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionTask")
            .field("role", &self.conn.role())
            .field("streams", &self.streams.len())
            .finish_non_exhaustive()
    }
}

fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// The application's end of a connection task: its command queue and closing state, shared
/// by [`super::Client`] and [`super::Incoming`].
#[derive(Clone, Debug)]
pub(crate) struct ConnectionHandle {
    pub(crate) commands: mpsc::UnboundedSender<Command>,
    pub(crate) shared: Arc<ConnectionShared>,
}

impl ConnectionHandle {
    pub(crate) async fn stats(&self) -> Result<ConnectionStats, Error> {
        let (reply, stats) = oneshot::channel();
        self.commands
            .send(Command::Stats { reply })
            .map_err(|_| Error::ConnectionClosed)?;
        stats.await.map_err(|_| Error::ConnectionClosed)
    }

    pub(crate) fn shutdown(&self) {
        let _ = self.commands.send(Command::Shutdown);
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }
}

/// Runs a connection task on the current tokio runtime, logging how it ended.
pub(crate) fn spawn<T>(task: ConnectionTask<T>)
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(error) = task.await {
            tracing::debug!(%error, "connection ended with an error");
        }
    });
}

impl<T> ConnectionTask<T>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    /// Creates the connection for `config.role` over `io`, its command queue and shared
    /// state. A server passes `accept`, where requests the peer opens are delivered.
    pub(crate) fn start(
        io: T,
        config: crate::connection::Config,
        accept: Option<Acceptor>,
    ) -> (ConnectionHandle, ConnectionTask<T>) {
        let conn = Connection::new(config, now());
        let (command_tx, commands) = mpsc::unbounded_channel();
        let shared = Arc::new(ConnectionShared::default());
        let handle = ConnectionHandle {
            commands: command_tx.clone(),
            shared: shared.clone(),
        };
        // Only a server needs a sender of its own (for handles of peer-opened streams).
        let command_tx = accept.is_some().then_some(command_tx);
        let task = ConnectionTask::new(io, conn, commands, command_tx, accept, shared);
        (handle, task)
    }

    fn new(
        io: T,
        conn: Connection,
        commands: mpsc::UnboundedReceiver<Command>,
        command_tx: Option<mpsc::UnboundedSender<Command>>,
        accept: Option<Acceptor>,
        shared: Arc<ConnectionShared>,
    ) -> ConnectionTask<T> {
        let span = tracing::debug_span!("h2", role = ?conn.role());
        let buffer_limit = conn.config().max_send_buffer_per_stream;
        ConnectionTask {
            io,
            conn,
            commands,
            command_tx,
            // Both buffers are allocated on first use and given back whenever the connection
            // goes idle (`release_idle_buffers`).
            read_buf: BytesMut::new(),
            write_buf: BytesMut::new(),
            streams: HashMap::default(),
            accept,
            pings: Vec::new(),
            timer: Box::pin(tokio::time::sleep_until(tokio::time::Instant::now())),
            timer_deadline: None,
            read_closed: false,
            write_failed: false,
            unflushed: false,
            yielded_for_batch: false,
            commands_closed: false,
            abandoned: false,
            lingering: false,
            shared,
            buffer_limit,
            span,
        }
    }

    fn apply(&mut self, command: Command) {
        match command {
            Command::Open {
                stream,
                recv,
                fields,
                end_stream,
            } => match self.conn.open_stream(fields, end_stream) {
                Ok(id) => {
                    stream.id.store(id.get(), Ordering::Release);
                    self.streams.insert(
                        id.get(),
                        StreamEntry {
                            shared: stream,
                            recv,
                        },
                    );
                }
                Err(error) => {
                    let error = Error::Open(error);
                    stream.fail(error.clone());
                    let _ = recv.send(RecvItem::Error(error));
                }
            },
            Command::Headers {
                stream,
                fields,
                end_stream,
            } => {
                if let Some(id) = self.id_of(&stream) {
                    if let Err(error) = self.conn.send_headers(id, fields, end_stream) {
                        stream.fail(Error::Stream(error));
                    }
                }
            }
            Command::Data {
                stream,
                data,
                end_stream,
            } => {
                if let Some(id) = self.id_of(&stream) {
                    let len = data.len();
                    if let Err(error) = self.conn.send_data(id, data, end_stream) {
                        stream.release(len);
                        stream.fail(Error::Stream(error));
                    }
                } else {
                    stream.release(data.len());
                }
            }
            Command::Trailers { stream, fields } => {
                if let Some(id) = self.id_of(&stream) {
                    if let Err(error) = self.conn.send_trailers(id, fields) {
                        stream.fail(Error::Stream(error));
                    }
                }
            }
            Command::Reset { stream, code } => {
                if let Some(id) = self.id_of(&stream) {
                    let _ = self.conn.reset_stream(id, code);
                    stream.fail(Error::Reset {
                        code,
                        remote: false,
                        never_processed: false,
                    });
                }
            }
            Command::Release { stream, len } => {
                if let Some(id) = self.id_of(&stream) {
                    self.conn.release_capacity(id, len);
                }
            }
            Command::StopReceiving { stream } => {
                if let Some(id) = self.id_of(&stream) {
                    // NO_ERROR behind a complete response (server), CANCEL otherwise.
                    let _ = self.conn.stop_receiving(id);
                }
            }
            Command::Ping { payload, reply } => {
                self.conn.ping(payload);
                self.pings.push((payload, reply));
            }
            Command::Shutdown => self.conn.shutdown(),
            Command::Stats { reply } => {
                let _ = reply.send(ConnectionStats {
                    open_streams: self.conn.open_streams(),
                    pending_open_streams: self.conn.pending_open_streams(),
                    stream_recv_window_target: self.conn.stream_recv_window_target(),
                    connection_recv_window_target: self.conn.connection_recv_window_target(),
                    connection_send_window: self.conn.connection_send_window(),
                    peer_settings: *self.conn.peer_settings(),
                    buffer_capacity: self.read_buf.capacity() + self.write_buf.capacity(),
                });
            }
        }
    }

    /// The stream's id if it is still live on this connection.
    fn id_of(&self, stream: &StreamShared) -> Option<StreamId> {
        let id = stream.id.load(Ordering::Acquire);
        self.streams
            .contains_key(&id)
            .then(|| StreamId::from_wire(id))
    }

    fn dispatch_events(&mut self) {
        while let Some(event) = self.conn.poll_event() {
            match event {
                Event::Connected => tracing::trace!("peer settings received"),
                Event::Headers {
                    stream,
                    fields,
                    end_stream,
                } => {
                    if let Some(entry) = self.streams.get(&stream.get()) {
                        let _ = entry.recv.send(RecvItem::Headers { fields, end_stream });
                    } else if self.conn.role() == Role::Server {
                        self.accept_stream(stream, fields, end_stream);
                    }
                }
                Event::Data {
                    stream,
                    data,
                    end_stream,
                } => {
                    if let Some(entry) = self.streams.get(&stream.get()) {
                        let _ = entry.recv.send(RecvItem::Data { data, end_stream });
                    }
                }
                Event::Trailers { stream, fields } => {
                    if let Some(entry) = self.streams.get(&stream.get()) {
                        let _ = entry.recv.send(RecvItem::Trailers(fields));
                    }
                }
                Event::StreamReset {
                    stream,
                    code,
                    remote,
                    never_processed,
                } => {
                    if let Some(entry) = self.streams.get(&stream.get()) {
                        let error = Error::Reset {
                            code,
                            remote,
                            never_processed,
                        };
                        entry.shared.fail(error.clone());
                        let _ = entry.recv.send(RecvItem::Error(error));
                    }
                }
                Event::StreamClosed { stream } => {
                    if let Some(entry) = self.streams.remove(&stream.get()) {
                        // Wake a sender still waiting for capacity on a finished stream.
                        entry.shared.send_ready.notify_waiters();
                    }
                }
                Event::SendBufferReleased { stream, bytes } => {
                    if let Some(entry) = self.streams.get(&stream.get()) {
                        entry.shared.release(bytes);
                    }
                }
                Event::GoAway {
                    last_stream_id,
                    code,
                    ..
                } => {
                    tracing::debug!(%last_stream_id, %code, "GOAWAY received");
                }
                Event::PingAck { payload } => {
                    if let Some(pos) = self.pings.iter().position(|(p, _)| *p == payload) {
                        let (_, reply) = self.pings.swap_remove(pos);
                        let _ = reply.send(());
                    }
                }
                Event::Closed { error } => {
                    if let Some(error) = &error {
                        tracing::debug!(%error, "connection closed with an error");
                    }
                    self.record_close(error.map(Error::Connection));
                }
            }
        }
    }

    fn accept_stream(&mut self, stream: StreamId, headers: Vec<HeaderField>, end_stream: bool) {
        let Some(command_tx) = self.command_tx.clone() else {
            return;
        };
        let shared = StreamShared::new();
        shared.id.store(stream.get(), Ordering::Release);
        let (recv_tx, recv_rx) = mpsc::unbounded_channel();
        let mut body = RecvStream::new(shared.clone(), command_tx.clone(), recv_rx);
        body.ended = end_stream;
        let respond = SendStream {
            shared: shared.clone(),
            commands: command_tx,
            buffer_limit: self.buffer_limit,
            finished: false,
        };
        self.streams.insert(
            stream.get(),
            StreamEntry {
                shared,
                recv: recv_tx,
            },
        );
        let request = IncomingRequest {
            headers,
            end_stream,
            body,
            respond,
        };
        let delivered = match self.accept.as_mut() {
            Some(Acceptor::Queue(queue)) => queue.send(request).is_ok(),
            Some(Acceptor::Handler(handler)) => {
                handler(request);
                true
            }
            None => false,
        };
        if !delivered {
            // Nobody accepts streams any more: refuse this one (it may be retried) and
            // wind the connection down.
            self.streams.remove(&stream.get());
            let _ = self.conn.reset_stream(stream, ErrorCode::REFUSED_STREAM);
            self.conn.shutdown();
        }
    }

    fn record_close(&mut self, error: Option<Error>) {
        if let Some(error) = error {
            if let Ok(mut slot) = self.shared.error.lock() {
                slot.get_or_insert(error);
            }
        }
    }

    fn poll_pass(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        // Whether any handle sent a command during this poll.
        let mut commanded = false;
        loop {
            let mut progress = false;

            // 1. Commands from the handles.
            let mut applied = 0;
            while applied < MAX_COMMANDS_PER_PASS && !self.commands_closed {
                match self.commands.poll_recv(cx) {
                    Poll::Ready(Some(command)) => {
                        self.apply(command);
                        applied += 1;
                    }
                    Poll::Ready(None) => {
                        self.commands_closed = true;
                    }
                    Poll::Pending => break,
                }
            }
            if applied == MAX_COMMANDS_PER_PASS {
                progress = true;
            }
            progress |= applied > 0;
            commanded |= applied > 0;

            // 2. Input.
            if !self.read_closed && self.conn.wants_read() {
                let capacity = self.read_buf.capacity();
                if capacity == 0 {
                    self.read_buf.reserve(FIRST_READ);
                } else if capacity - self.read_buf.len() < capacity.min(READ_CHUNK) / 4 {
                    // Nearly full: grow to a full chunk (a small buffer grows only once the
                    // peer sends more than it holds).
                    self.read_buf.reserve(READ_CHUNK);
                }
                match tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.read_buf)
                {
                    Poll::Ready(Ok(0)) => {
                        self.read_closed = true;
                        self.conn.recv(&mut self.read_buf, now());
                        self.conn.recv_eof();
                        progress = true;
                    }
                    Poll::Ready(Ok(_)) => {
                        self.conn.recv(&mut self.read_buf, now());
                        progress = true;
                    }
                    Poll::Ready(Err(error)) => {
                        tracing::debug!(%error, "read failed");
                        self.record_close(Some(error.into()));
                        self.read_closed = true;
                        self.conn.recv_eof();
                        progress = true;
                    }
                    Poll::Pending => {}
                }
            } else if !self.read_buf.is_empty() && self.conn.wants_read() {
                // Input left over from a pass that stopped reading (control-frame flood).
                self.conn.recv(&mut self.read_buf, now());
                progress = true;
            }

            // 3. Events.
            self.dispatch_events();

            // 4. Timers.
            match self.conn.poll_timeout() {
                Some(deadline) => {
                    let deadline = tokio::time::Instant::from_std(deadline);
                    if self.timer_deadline != Some(deadline) {
                        self.timer.as_mut().reset(deadline);
                        self.timer_deadline = Some(deadline);
                    }
                    if self.timer.as_mut().poll(cx).is_ready() {
                        self.timer_deadline = None;
                        self.conn.handle_timeout(now());
                        self.dispatch_events();
                        progress = true;
                    }
                }
                None => self.timer_deadline = None,
            }

            // 5. Output: gather one batch, write it, flush once.
            if !self.write_failed {
                if self.write_buf.is_empty() {
                    if self.write_buf.capacity() == 0 && self.conn.has_pending_transmit() {
                        self.write_buf.reserve(FIRST_WRITE);
                    }
                    if commanded && !self.yielded_for_batch && self.streams.len() > 1 {
                        // A handle's command woke us, typically one call task's response
                        // while other call tasks are queued behind it with theirs. Give way
                        // once (a self-wake sends this task to the back of the run queue,
                        // where tokio's LIFO slot would otherwise have put it first), so one
                        // write carries all of them rather than one write per response.
                        // Only with more than one stream open: with one, nothing else will
                        // join the batch, and on a multi-thread runtime the yielded task may
                        // be stolen by another worker (a cross-thread hop that halved
                        // one-stream ping-pong in transport-bench).
                        self.yielded_for_batch = true;
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    self.yielded_for_batch = false;
                    self.conn.poll_transmit(now(), &mut self.write_buf);
                    self.dispatch_events();
                }
                while !self.write_buf.is_empty() {
                    match Pin::new(&mut self.io).poll_write(cx, &self.write_buf) {
                        Poll::Ready(Ok(0)) => {
                            self.write_error(std::io::ErrorKind::WriteZero.into());
                            break;
                        }
                        Poll::Ready(Ok(n)) => {
                            self.write_buf.advance(n);
                            self.unflushed = true;
                            progress = true;
                        }
                        Poll::Ready(Err(error)) => {
                            self.write_error(error);
                            break;
                        }
                        Poll::Pending => break,
                    }
                }
                if self.write_buf.is_empty() && self.unflushed {
                    match Pin::new(&mut self.io).poll_flush(cx) {
                        Poll::Ready(Ok(())) => self.unflushed = false,
                        Poll::Ready(Err(error)) => self.write_error(error),
                        Poll::Pending => {}
                    }
                }
            }

            // Done?
            let drained = self.write_buf.is_empty() && !self.conn.has_pending_transmit();
            if (self.conn.is_closed() && (drained || self.write_failed))
                || (self.read_closed && self.write_failed)
            {
                return Poll::Ready(());
            }
            if self.commands_closed && !self.abandoned {
                // Every handle is gone: nobody can use the connection any more.
                self.abandoned = true;
                self.conn.shutdown();
                progress = true;
            }
            if !progress {
                self.release_idle_buffers();
                return Poll::Pending;
            }
        }
    }

    /// Gives the read and write buffers back when nothing is in them and no stream is open,
    /// so an idle connection holds no buffer memory (a server's thousand idle connections
    /// would otherwise keep 80 KiB of buffers each, a few pages of it resident). The next
    /// read or write allocates again; under load some stream is always open and the buffers
    /// stay.
    fn release_idle_buffers(&mut self) {
        if self.streams.is_empty()
            && self.conn.open_streams() == 0
            && self.read_buf.is_empty()
            && self.write_buf.is_empty()
        {
            if self.read_buf.capacity() > 0 {
                self.read_buf = BytesMut::new();
            }
            if self.write_buf.capacity() > 0 {
                self.write_buf = BytesMut::new();
            }
        }
    }

    fn write_error(&mut self, error: std::io::Error) {
        tracing::debug!(%error, "write failed");
        self.write_failed = true;
        self.write_buf.clear();
        self.record_close(Some(error.into()));
        self.conn.recv_eof();
        self.dispatch_events();
    }
}

impl<T> ConnectionTask<T> {
    /// Ends every stream still known with the connection's error.
    fn fail_all_streams(&mut self) {
        let error = self.shared.error().unwrap_or(Error::ConnectionClosed);
        for (_, entry) in self.streams.drain() {
            entry.shared.fail(error.clone());
            let _ = entry.recv.send(RecvItem::Error(error.clone()));
        }
        self.accept = None;
    }

    /// Ends the connection for its handles: fails every stream still known, marks the
    /// connection closed and wakes whoever waits for that. Runs once, when the task finishes
    /// or is dropped, whichever comes first.
    fn close_out(&mut self) {
        if self.shared.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        self.fail_all_streams();
        // Streams still waiting in the command queue never reached the wire: say so, so a
        // client can retry them elsewhere (gRFC A6 transparent retry) instead of reporting
        // a lost connection.
        self.commands.close();
        while let Ok(command) = self.commands.try_recv() {
            if let Command::Open { stream, recv, .. } = command {
                let error = Error::Open(OpenError::GoingAway);
                stream.fail(error.clone());
                let _ = recv.send(RecvItem::Error(error));
            }
        }
        self.shared.closed_notify.notify_waiters();
    }
}

impl<T> Drop for ConnectionTask<T> {
    /// A connection task dropped before it finished (its runtime shut down, or its owner
    /// aborted it) fails every stream it still had, so their handles see the connection
    /// gone (and `StopSignal`s fire) instead of waiting for frames that will never come.
    fn drop(&mut self) {
        self.close_out();
    }
}

impl<T> Future for ConnectionTask<T>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    type Output = Result<(), Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let span = this.span.clone();
        let _entered = span.enter();
        if !this.lingering {
            if this.poll_pass(cx).is_pending() {
                return Poll::Pending;
            }
            // Close our side (FIN; errors here change nothing), and let the handles know.
            let _ = Pin::new(&mut this.io).poll_shutdown(cx);
            this.close_out();
            this.lingering = true;
            if !this.read_closed {
                let deadline = tokio::time::Instant::now() + LINGER;
                this.timer.as_mut().reset(deadline);
            }
        }
        // Closing a socket with unread input makes the kernel send RST, and a peer that
        // receives RST may lose frames it had not read yet — our GOAWAY among them, so it
        // would take streams we refused for lost ones. Read and drop until the peer closes.
        while !this.read_closed {
            this.read_buf.clear();
            this.read_buf.reserve(4096);
            match tokio_util::io::poll_read_buf(Pin::new(&mut this.io), cx, &mut this.read_buf) {
                Poll::Ready(Ok(0) | Err(_)) => this.read_closed = true,
                Poll::Ready(Ok(_)) => {}
                Poll::Pending => {
                    if this.timer.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    this.read_closed = true;
                }
            }
        }
        match this.shared.error() {
            Some(error) => Poll::Ready(Err(error)),
            None => Poll::Ready(Ok(())),
        }
    }
}
