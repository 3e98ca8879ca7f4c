//! Accept loops (TCP, Unix sockets, any stream of connections), TLS handshakes, one task per
//! connection with one task per call under it, and the shutdown paths.
//!
//! Task tree: the serve future owns a `JoinSet` of connection tasks; each connection task
//! runs its HTTP/2 connection inline, and the connection spawns one detached task per call
//! as each request arrives (counted, so a connection's future ends after its last call).
//! Aborting a connection task drops its HTTP/2 connection, which fails every open stream,
//! and each call's stop signal then cancels its handler; aborting the serve future stops
//! everything.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use grpc_transport::connection::Config;
use grpc_transport::driver::ServerConnection;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::dispatch::{ServerShared, dispatch};
use crate::layer::CallService;
use crate::shutdown::{Control, ServerHandle};

/// Connection-level settings.
pub(crate) struct ConnConfig {
    pub(crate) transport: Config,
    pub(crate) tls: Option<tokio_rustls::TlsAcceptor>,
    pub(crate) tls_handshake_timeout: Duration,
    pub(crate) tcp_nodelay: bool,
    pub(crate) remote_addr_extension: bool,
}

/// Everything a running server needs, built from a [`ServerBuilder`](crate::ServerBuilder).
pub(crate) struct Prepared {
    pub(crate) server: Arc<ServerShared>,
    pub(crate) service: Option<Box<dyn CallService>>,
    pub(crate) conn: Arc<ConnConfig>,
    pub(crate) handle: ServerHandle,
}

/// One accepted connection and its peer's address, if it has one.
type Accepted<Io> = io::Result<(Io, Option<SocketAddr>)>;

/// A source of connections.
pub(crate) trait Listen: Send {
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// The next connection and its peer's address; `None` when no more will come.
    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<Option<Accepted<Self::Io>>>;

    /// Socket options for an accepted connection.
    fn configure(&self, _io: &Self::Io, _conn: &ConnConfig) {}
}

impl Listen for tokio::net::TcpListener {
    type Io = tokio::net::TcpStream;

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<Option<Accepted<Self::Io>>> {
        tokio::net::TcpListener::poll_accept(self, cx)
            .map(|result| Some(result.map(|(stream, addr)| (stream, Some(addr)))))
    }

    fn configure(&self, io: &Self::Io, conn: &ConnConfig) {
        // Without TCP_NODELAY a unary exchange can stall 40 ms on delayed ACKs.
        if conn.tcp_nodelay {
            if let Err(error) = io.set_nodelay(true) {
                tracing::debug!(%error, "could not set TCP_NODELAY");
            }
        }
    }
}

#[cfg(unix)]
impl Listen for tokio::net::UnixListener {
    type Io = tokio::net::UnixStream;

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<Option<Accepted<Self::Io>>> {
        tokio::net::UnixListener::poll_accept(self, cx)
            .map(|result| Some(result.map(|(stream, _)| (stream, None))))
    }
}

/// Connections from a user's stream.
pub(crate) struct StreamListener<S>(pub(crate) Pin<Box<S>>);

impl<S, IO> Listen for StreamListener<S>
where
    S: futures_core::Stream<Item = io::Result<IO>> + Send + 'static,
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Io = IO;

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<Option<Accepted<Self::Io>>> {
        self.0
            .as_mut()
            .poll_next(cx)
            .map(|item| item.map(|result| result.map(|io| (io, None))))
    }
}

/// Marks the server stopped when the serve future ends, however it ends.
struct DoneGuard(ServerHandle);

impl Drop for DoneGuard {
    fn drop(&mut self) {
        self.0.set_done();
    }
}

/// Errors from `accept` that concern one connection only: try the next one at once.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

/// Backoff after other accept errors (gRPC-Go: 5 ms doubling to 1 s), e.g. out of file
/// descriptors.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(5);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Serves connections from `listener` until stopped. `signal` starts a graceful shutdown
/// without a deadline.
pub(crate) async fn run<L: Listen, F: Future<Output = ()>>(
    prepared: Prepared,
    mut listener: L,
    signal: F,
) {
    let Prepared {
        server,
        service,
        conn,
        handle,
    } = prepared;
    let _done = DoneGuard(handle.clone());
    let mut control = handle.subscribe();
    let mut connections = JoinSet::new();
    let mut signal = pin!(signal);
    let mut signalled = false;
    let mut backoff: Option<Duration> = None;

    // Accepting.
    loop {
        if *control.borrow_and_update() != Control::Running {
            break;
        }
        tokio::select! {
            accepted = std::future::poll_fn(|cx| listener.poll_accept(cx)) => match accepted {
                Some(Ok((io, remote_addr))) => {
                    backoff = None;
                    listener.configure(&io, &conn);
                    let service = service.as_ref().map(|s| s.clone_box());
                    connections.spawn(serve_connection(
                        server.clone(),
                        service,
                        conn.clone(),
                        io,
                        remote_addr,
                        handle.subscribe(),
                    ));
                }
                Some(Err(error)) if is_connection_error(&error) => {
                    tracing::debug!(%error, "accept failed for one connection");
                }
                Some(Err(error)) => {
                    let delay = backoff.map_or(ACCEPT_BACKOFF_MIN, |d| (d * 2).min(ACCEPT_BACKOFF_MAX));
                    backoff = Some(delay);
                    tracing::warn!(%error, ?delay, "accept failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = control.changed() => {}
                    }
                }
                None => {
                    tracing::debug!("no more incoming connections");
                    break;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = control.changed() => {}
            _ = &mut signal, if !signalled => {
                signalled = true;
                handle.begin_graceful(None);
            }
        }
    }
    drop(listener);

    // Draining: wait for the connections, as the control says.
    loop {
        let current = *control.borrow_and_update();
        match current {
            Control::Stop => break,
            Control::Graceful(deadline) => {
                let timer = async move {
                    match deadline {
                        Some(deadline) => tokio::time::sleep_until(deadline).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = join_all(&mut connections) => break,
                    _ = timer => {
                        tracing::debug!("graceful shutdown deadline passed; closing connections");
                        break;
                    }
                    _ = control.changed() => {}
                }
            }
            // The listener ended: serve the connections we have until they close.
            Control::Running => {
                tokio::select! {
                    _ = join_all(&mut connections) => break,
                    _ = control.changed() => {}
                    _ = &mut signal, if !signalled => {
                        signalled = true;
                        handle.begin_graceful(None);
                    }
                }
            }
        }
    }
    // Whatever is left is stopped: aborting a connection task closes its socket and drops
    // its calls.
    connections.shutdown().await;
}

async fn join_all(set: &mut JoinSet<()>) {
    while set.join_next().await.is_some() {}
}

/// Waits until the server is no longer running normally.
async fn not_running(control: &mut watch::Receiver<Control>) {
    let _ = control.wait_for(|c| *c != Control::Running).await;
}

async fn serve_connection<IO>(
    server: Arc<ServerShared>,
    service: Option<Box<dyn CallService>>,
    conn: Arc<ConnConfig>,
    io: IO,
    remote_addr: Option<SocketAddr>,
    control: watch::Receiver<Control>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Some(acceptor) = conn.tls.clone() else {
        return run_connection(server, service, &conn, io, remote_addr, control).await;
    };
    // Boxed: the TLS handshake and stream are large, and an unboxed branch would size every
    // plaintext connection's task for them (about 4 KiB more per connection).
    Box::pin(serve_tls_connection(
        server,
        service,
        &conn,
        acceptor,
        io,
        remote_addr,
        control,
    ))
    .await;
}

/// The TLS handshake (bounded by `tls_handshake_timeout`, refused without ALPN "h2"), then
/// the connection.
async fn serve_tls_connection<IO>(
    server: Arc<ServerShared>,
    service: Option<Box<dyn CallService>>,
    conn: &ConnConfig,
    acceptor: tokio_rustls::TlsAcceptor,
    io: IO,
    remote_addr: Option<SocketAddr>,
    mut control: watch::Receiver<Control>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let handshake = tokio::time::timeout(conn.tls_handshake_timeout, acceptor.accept(io));
    let stream = tokio::select! {
        result = handshake => match result {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => {
                tracing::debug!(%error, ?remote_addr, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(?remote_addr, "TLS handshake timed out");
                return;
            }
        },
        _ = not_running(&mut control) => return,
    };
    // RFC 9113 §3.2: HTTP/2 over TLS is negotiated with ALPN "h2".
    if stream.get_ref().1.alpn_protocol() != Some(grpc_transport::driver::tls::ALPN_H2) {
        tracing::debug!(?remote_addr, "client did not negotiate ALPN h2");
        return;
    }
    run_connection(server, service, conn, stream, remote_addr, control).await;
}

async fn run_connection<T>(
    server: Arc<ServerShared>,
    service: Option<Box<dyn CallService>>,
    conn: &ConnConfig,
    io: T,
    remote_addr: Option<SocketAddr>,
    mut control: watch::Receiver<Control>,
) where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let calls = Arc::new(CallTracker::default());
    // Each request is dispatched from inside the HTTP/2 connection task, the moment its
    // headers are decoded: no request queue, and no task of ours to wake per request.
    let on_request = {
        let calls = calls.clone();
        let expose_remote_addr = conn.remote_addr_extension;
        move |request| {
            let call = calls.start();
            let service = service.as_ref().map(|s| s.clone_box());
            let server = server.clone();
            // Detached: a finished call frees its task at once (a join handle would keep
            // its memory until joined). Calls end with the connection anyway: when the
            // connection task is dropped every stream fails and each call's stop signal
            // fires (see `dispatch::race`).
            tokio::spawn(async move {
                dispatch(server, service, request, remote_addr, expose_remote_addr).await;
                drop(call);
            });
        }
    };
    let (connection, task) = ServerConnection::with_handler(io, conn.transport.clone(), on_request);
    // The HTTP/2 connection runs inside this task: dropping this future (the server's
    // `stop`, or the serve future itself) closes the socket and fails the open streams.
    let mut task = pin!(task);
    let mut draining = false;
    loop {
        if !draining && *control.borrow_and_update() != Control::Running {
            // Two-phase GOAWAY; streams already open finish, later ones are refused.
            connection.shutdown();
            draining = true;
        }
        tokio::select! {
            ended = &mut task => {
                if let Err(error) = ended {
                    tracing::debug!(%error, "connection ended with an error");
                }
                break;
            }
            _ = control.changed(), if !draining => {}
        }
    }
    calls.wait_idle().await;
}

/// Counts a connection's calls in flight, so the connection's future ends only after its
/// last call has.
#[derive(Debug, Default)]
struct CallTracker {
    in_flight: AtomicUsize,
    idle: Notify,
}

/// One call in flight; dropping it ends the call's count.
struct CallGuard(Arc<CallTracker>);

impl CallTracker {
    fn start(self: &Arc<Self>) -> CallGuard {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        CallGuard(self.clone())
    }

    async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            let mut notified = pin!(notified);
            // Registered before the check, so a call ending in between still wakes us.
            notified.as_mut().enable();
            if self.in_flight.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}
