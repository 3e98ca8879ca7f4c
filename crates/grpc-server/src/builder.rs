//! [`Server`] and [`ServerBuilder`]: options, services, interceptors, layers, and the serve
//! entry points.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use grpc_core::BoxError;
use grpc_core::compression::{Compressor, Encodings, compressor_for};
use grpc_core::stats::StatsHandler;
use grpc_transport::connection::Config;
use tokio::io::{AsyncRead, AsyncWrite};
use tower_layer::{Identity, Layer, Stack};
use tower_service::Service;

use crate::call::ServerCall;
use crate::dispatch::ServerShared;
use crate::interceptor::Interceptor;
use crate::layer::{CallService, Erased};
use crate::routes::{GrpcService, Router, RouterInner, Routes};
use crate::serve::{self, ConnConfig, Prepared, StreamListener};
use crate::shutdown::ServerHandle;

/// Default [`ServerBuilder::max_decoding_message_size`]: 4 MiB, as gRPC-Go.
pub const DEFAULT_MAX_DECODING_MESSAGE_SIZE: usize = 4 * 1024 * 1024;

/// Default [`ServerBuilder::max_header_list_size`]: 16 KiB.
///
/// PROTOCOL-HTTP2 suggests servers limit request headers to 8 KiB; gRPC-Go advertises 16 MiB,
/// which lets every client make us buffer and decode 16 MiB of headers per request. 16 KiB
/// leaves room for tokens and tracing metadata while keeping that cost small.
pub const DEFAULT_MAX_HEADER_LIST_SIZE: u32 = 16 * 1024;

/// Default [`ServerBuilder::tls_handshake_timeout`]: 120 s, gRPC-Go's `ConnectionTimeout`.
pub const DEFAULT_TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(120);

/// Entry point: `Server::builder()`.
#[derive(Debug)]
pub struct Server {
    _private: (),
}

impl Server {
    /// A builder with gRPC-Go's defaults.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::new()
    }
}

/// Configures and starts a server. Every option has gRPC-Go's default unless its doc says
/// otherwise.
///
/// `L` is the stack of [tower layers](ServerBuilder::layer) (none by default).
pub struct ServerBuilder<L = Identity> {
    transport: Config,
    max_recv: usize,
    max_send: usize,
    accept: Encodings,
    send_compressed: Option<&'static str>,
    tls: Option<Arc<rustls::ServerConfig>>,
    tls_handshake_timeout: Duration,
    tcp_nodelay: bool,
    remote_addr_extension: bool,
    orca_reporting: bool,
    stats: Option<Arc<dyn StatsHandler>>,
    routes: Routes,
    interceptors: Vec<Arc<dyn Interceptor>>,
    layer: L,
    layered: bool,
    handle: ServerHandle,
}

impl Default for ServerBuilder {
    fn default() -> Self {
        ServerBuilder::new()
    }
}

impl ServerBuilder {
    /// A builder with the defaults (see [`Server::builder`]).
    pub fn new() -> ServerBuilder {
        let mut transport = Config::server();
        transport.max_header_list_size = DEFAULT_MAX_HEADER_LIST_SIZE;
        ServerBuilder {
            transport,
            max_recv: DEFAULT_MAX_DECODING_MESSAGE_SIZE,
            max_send: usize::MAX,
            accept: Encodings::all(),
            send_compressed: None,
            tls: None,
            tls_handshake_timeout: DEFAULT_TLS_HANDSHAKE_TIMEOUT,
            tcp_nodelay: true,
            remote_addr_extension: true,
            orca_reporting: false,
            stats: None,
            routes: Routes::new(),
            interceptors: Vec::new(),
            layer: Identity::new(),
            layered: false,
            handle: ServerHandle::new(),
        }
    }
}

impl<L> ServerBuilder<L> {
    /// The largest request message accepted, after decompression (default 4 MiB). Larger
    /// messages end the call with RESOURCE_EXHAUSTED, on every kind of call.
    pub fn max_decoding_message_size(mut self, limit: usize) -> Self {
        self.max_recv = limit;
        self
    }

    /// The largest response message sent, after compression (default unlimited). Larger
    /// messages fail with RESOURCE_EXHAUSTED, which also ends the call.
    pub fn max_encoding_message_size(mut self, limit: usize) -> Self {
        self.max_send = limit;
        self
    }

    /// SETTINGS_MAX_CONCURRENT_STREAMS: calls one connection may have open at once (default
    /// unlimited). Streams over the limit are refused (REFUSED_STREAM, safe to retry).
    pub fn max_concurrent_streams(mut self, limit: u32) -> Self {
        self.transport.max_concurrent_streams = Some(limit);
        self
    }

    /// Send a keepalive PING after this long without reading anything (default 2 hours);
    /// `None` turns server keepalive off.
    pub fn keepalive_time(mut self, time: impl Into<Option<Duration>>) -> Self {
        self.transport.keepalive.time = time.into();
        self
    }

    /// Close the connection if nothing arrives this long after a keepalive PING (default
    /// 20 s).
    pub fn keepalive_timeout(mut self, timeout: Duration) -> Self {
        self.transport.keepalive.timeout = timeout;
        self
    }

    /// Keepalive enforcement (gRPC-Go's `EnforcementPolicy`): client pings closer together
    /// than `min_time` (default 5 minutes), or any pings while no call is open unless
    /// `permit_without_stream` (default `false`), earn strikes; the third closes the
    /// connection with GOAWAY ENHANCE_YOUR_CALM "too_many_pings".
    pub fn keepalive_enforcement(
        mut self,
        min_time: Duration,
        permit_without_stream: bool,
    ) -> Self {
        self.transport.ping_policy.min_time = min_time;
        self.transport.ping_policy.permit_without_stream = permit_without_stream;
        self
    }

    /// Gracefully close connections that had no open call for this long (default never).
    pub fn max_connection_idle(mut self, idle: Duration) -> Self {
        self.transport.max_connection_idle = Some(idle);
        self
    }

    /// Gracefully close connections this long after they were established (default never),
    /// so clients reconnect and rebalance.
    pub fn max_connection_age(mut self, age: Duration) -> Self {
        self.transport.max_connection_age = Some(age);
        self
    }

    /// After [`max_connection_age`](ServerBuilder::max_connection_age), how long calls may
    /// still run before the connection is closed (default unlimited).
    pub fn max_connection_age_grace(mut self, grace: Duration) -> Self {
        self.transport.max_connection_age_grace = Some(grace);
        self
    }

    /// SETTINGS_MAX_HEADER_LIST_SIZE: the largest request header block (metadata included)
    /// accepted, counted as HTTP/2 does (name + value + 32 per field). Default 16 KiB (see
    /// [`DEFAULT_MAX_HEADER_LIST_SIZE`]). Larger requests get HTTP 431 and the connection
    /// lives on.
    pub fn max_header_list_size(mut self, limit: u32) -> Self {
        self.transport.max_header_list_size = limit;
        self
    }

    /// A fixed stream-level receive window (SETTINGS_INITIAL_WINDOW_SIZE). Setting a window
    /// turns off BDP estimation, which otherwise grows the windows from 64 KiB up to 16 MiB.
    pub fn initial_stream_window_size(mut self, window: u32) -> Self {
        self.transport.initial_stream_window = Some(window);
        self
    }

    /// A fixed connection-level receive window (turns off BDP estimation too).
    pub fn initial_connection_window_size(mut self, window: u32) -> Self {
        self.transport.initial_connection_window = Some(window);
        self
    }

    /// TCP_NODELAY on accepted TCP connections (default on).
    pub fn tcp_nodelay(mut self, enabled: bool) -> Self {
        self.tcp_nodelay = enabled;
        self
    }

    /// Put the peer's [`RemoteAddr`](crate::RemoteAddr) in every request's extensions
    /// (default on). The extensions map costs a few allocations per call; servers that do not
    /// need the address in handlers can turn it off (interceptors and layers still have
    /// [`ServerCall::remote_addr`]).
    pub fn remote_addr_extension(mut self, enabled: bool) -> Self {
        self.remote_addr_extension = enabled;
        self
    }

    /// Per-call ORCA load reports (gRFC A51; default off): every request's extensions get a
    /// [`CallMetricsRecorder`](crate::CallMetricsRecorder), and whatever the handler records
    /// goes back in the `endpoint-load-metrics-bin` trailer, where client balancers such as
    /// `weighted_round_robin` read it. Calls that record nothing send no report.
    pub fn orca_reporting(mut self, enabled: bool) -> Self {
        self.orca_reporting = enabled;
        self
    }

    /// Receives the events of every call (headers, messages with sizes, trailers, the end
    /// with status and duration): metrics, logs. Default: none (one branch per event).
    pub fn stats_handler(mut self, handler: Arc<dyn StatsHandler>) -> Self {
        self.stats = Some(handler);
        self
    }

    /// Serve over TLS with this rustls configuration. ALPN "h2" is added to it if missing;
    /// clients that do not negotiate "h2" are refused (RFC 9113 §3.2).
    pub fn tls(mut self, config: Arc<rustls::ServerConfig>) -> Self {
        let h2 = grpc_transport::driver::tls::ALPN_H2;
        let config = if config.alpn_protocols.iter().any(|p| p == h2) {
            config
        } else {
            let mut config = (*config).clone();
            config.alpn_protocols.insert(0, h2.to_vec());
            Arc::new(config)
        };
        self.tls = Some(config);
        self
    }

    /// Serve over TLS with a certificate chain and private key in PEM (ring provider, TLS
    /// 1.2 and 1.3, no client authentication).
    pub fn tls_pem(self, cert_chain_pem: &[u8], key_pem: &[u8]) -> io::Result<Self> {
        let config = grpc_transport::driver::tls::server_config(cert_chain_pem, key_pem)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(self.tls(config))
    }

    /// How long a TLS handshake may take (default 120 s).
    pub fn tls_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.tls_handshake_timeout = timeout;
        self
    }

    /// Compress responses with this algorithm (`"gzip"`, `"deflate"`, `"zstd"`, or a
    /// compressor added with [`accept_compressed`](ServerBuilder::accept_compressed)) when
    /// the client's `grpc-accept-encoding` lists it; otherwise responses go uncompressed
    /// (compression.md). Default: no compression.
    pub fn send_compressed(mut self, name: &'static str) -> Self {
        self.send_compressed = Some(name);
        self
    }

    /// The compressors accepted on requests (default: every one compiled in). A request
    /// compressed otherwise gets UNIMPLEMENTED with our `grpc-accept-encoding`.
    pub fn accept_compressed(mut self, encodings: Encodings) -> Self {
        self.accept = encodings;
        self
    }

    /// Adds an interceptor; they run in the order added (the first is the outermost).
    pub fn interceptor(mut self, interceptor: impl Interceptor) -> Self {
        self.interceptors.push(Arc::new(interceptor));
        self
    }

    /// Adds a service's methods.
    ///
    /// # Panics
    ///
    /// If a method path is registered twice or malformed.
    pub fn add_service<S: GrpcService>(mut self, service: S) -> Self {
        self.routes.add_service(service);
        self
    }

    /// Lets `f` register methods directly (hand-written routes without a service type).
    pub fn add_routes(mut self, f: impl FnOnce(&mut Routes)) -> Self {
        f(&mut self.routes);
        self
    }

    /// Runs `hook` once when a graceful shutdown starts
    /// ([`ServerHandle::shutdown_graceful`], or the signal of a `serve_with_shutdown`
    /// method), before any connection is sent GOAWAY and while every call in flight still
    /// runs: the moment to tell clients to go elsewhere, for example by flipping a health
    /// service to NOT_SERVING so its `Watch` streams deliver that first. Hooks run in the
    /// order added, on the thread that starts the shutdown, so they should be quick and must
    /// not block; a hook that panics is logged and skipped. [`ServerHandle::stop`] runs no
    /// hooks.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicBool, Ordering};
    ///
    /// let draining = Arc::new(AtomicBool::new(false));
    /// let flag = draining.clone();
    /// let builder = grpc_server::Server::builder()
    ///     .on_graceful_shutdown(move || flag.store(true, Ordering::Release));
    /// builder.handle().shutdown_graceful(std::time::Duration::from_secs(1));
    /// assert!(draining.load(Ordering::Acquire));
    /// ```
    pub fn on_graceful_shutdown(self, hook: impl FnOnce() + Send + 'static) -> Self {
        self.handle.on_graceful_shutdown(Box::new(hook));
        self
    }

    /// The handle that stops this server once it runs (see [`ServerHandle`]).
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// Wraps a tower layer around the server's calls. The layers see every call as a
    /// [`ServerCall`], before interceptors run (calls to unknown methods too: their
    /// [`kind`](ServerCall::kind) is `None`), and the service they wrap resolves to the
    /// call's final status (`Err(Status)` for an error).
    ///
    /// The first layer added is the outermost. The layered service must be `Clone + Send`;
    /// each connection keeps a clone and clones it again per call (tower's
    /// `ConcurrencyLimitLayer` shares its limit between clones, so it limits the server).
    /// An error from the stack becomes the call's status: a [`Status`](crate::Status) is used
    /// as it is, other errors become UNKNOWN with their message.
    pub fn layer<N>(self, layer: N) -> ServerBuilder<Stack<N, L>> {
        ServerBuilder {
            transport: self.transport,
            max_recv: self.max_recv,
            max_send: self.max_send,
            accept: self.accept,
            send_compressed: self.send_compressed,
            tls: self.tls,
            tls_handshake_timeout: self.tls_handshake_timeout,
            tcp_nodelay: self.tcp_nodelay,
            remote_addr_extension: self.remote_addr_extension,
            orca_reporting: self.orca_reporting,
            stats: self.stats,
            routes: self.routes,
            interceptors: self.interceptors,
            layer: Stack::new(layer, self.layer),
            layered: true,
            handle: self.handle,
        }
    }
}

impl<L> ServerBuilder<L>
where
    L: Layer<Router>,
    L::Service: Service<ServerCall, Response = ()> + Clone + Send + 'static,
    <L::Service as Service<ServerCall>>::Error: Into<BoxError>,
    <L::Service as Service<ServerCall>>::Future: Send + 'static,
{
    fn prepare(self) -> Prepared {
        let send_compressed: Option<Arc<dyn Compressor>> = self.send_compressed.and_then(|name| {
            let found = self
                .accept
                .get(name.as_bytes())
                .cloned()
                .or_else(|| compressor_for(name));
            if found.is_none() {
                tracing::warn!(
                    name,
                    "send_compressed: unknown compressor; responses go uncompressed"
                );
            }
            found
        });
        let router = Router {
            inner: Arc::new(RouterInner {
                routes: self.routes,
                interceptors: self.interceptors.into(),
            }),
        };
        let service: Option<Box<dyn CallService>> = if self.layered {
            Some(Box::new(Erased(self.layer.layer(router.clone()))))
        } else {
            None
        };
        let server = Arc::new(ServerShared {
            router: router.inner,
            max_recv: self.max_recv,
            max_send: self.max_send,
            accept: self.accept,
            send_compressed,
            orca_reporting: self.orca_reporting,
            stats: self.stats,
        });
        let conn = Arc::new(ConnConfig {
            remote_addr_extension: self.remote_addr_extension,
            transport: self.transport,
            tls: self.tls.map(tokio_rustls::TlsAcceptor::from),
            tls_handshake_timeout: self.tls_handshake_timeout,
            tcp_nodelay: self.tcp_nodelay,
        });
        Prepared {
            server,
            service,
            conn,
            handle: self.handle,
        }
    }

    /// Binds a TCP listener without serving yet, so the address and a handle are known
    /// before the server runs (port 0 picks a free port).
    ///
    /// If binding fails, the server's handle reports it stopped.
    pub async fn bind(self, addr: SocketAddr) -> io::Result<BoundServer> {
        let bound = async {
            let listener = tokio::net::TcpListener::bind(addr).await?;
            let local_addr = listener.local_addr()?;
            Ok::<_, io::Error>((listener, local_addr))
        };
        let (listener, local_addr) = match bound.await {
            Ok(bound) => bound,
            Err(error) => {
                self.handle.set_done();
                return Err(error);
            }
        };
        Ok(BoundServer {
            listener,
            local_addr,
            prepared: self.prepare(),
        })
    }

    /// Serves on a TCP address until the server is stopped through its
    /// [handle](ServerBuilder::handle).
    pub async fn serve(self, addr: SocketAddr) -> io::Result<()> {
        self.bind(addr).await?.serve().await
    }

    /// Serves on a TCP address until `signal` completes, then shuts down gracefully: no new
    /// connections or calls, calls in flight finish (the [handle](ServerBuilder::handle) can
    /// still force a stop).
    pub async fn serve_with_shutdown<F: Future<Output = ()>>(
        self,
        addr: SocketAddr,
        signal: F,
    ) -> io::Result<()> {
        self.bind(addr).await?.serve_with_shutdown(signal).await
    }

    /// Serves on a Unix domain socket at `path` (which must not exist yet) until stopped.
    #[cfg(unix)]
    pub async fn serve_unix(self, path: impl AsRef<std::path::Path>) -> io::Result<()> {
        self.serve_unix_with_shutdown(path, std::future::pending())
            .await
    }

    /// Serves on a Unix domain socket until `signal` completes, then shuts down gracefully.
    #[cfg(unix)]
    pub async fn serve_unix_with_shutdown<F: Future<Output = ()>>(
        self,
        path: impl AsRef<std::path::Path>,
        signal: F,
    ) -> io::Result<()> {
        let listener = match tokio::net::UnixListener::bind(path) {
            Ok(listener) => listener,
            Err(error) => {
                self.handle.set_done();
                return Err(error);
            }
        };
        serve::run(self.prepare(), listener, signal).await;
        Ok(())
    }

    /// Serves connections from any stream of transports (TLS is applied if configured).
    /// When the stream ends, the server stops accepting and serves the connections it has
    /// until they close. Errors from the stream are logged and skipped.
    pub async fn serve_incoming<S, IO>(self, incoming: S) -> io::Result<()>
    where
        S: futures_core::Stream<Item = io::Result<IO>> + Send + 'static,
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        self.serve_incoming_with_shutdown(incoming, std::future::pending())
            .await
    }

    /// As [`serve_incoming`](ServerBuilder::serve_incoming), shutting down gracefully when
    /// `signal` completes.
    pub async fn serve_incoming_with_shutdown<S, IO, F>(
        self,
        incoming: S,
        signal: F,
    ) -> io::Result<()>
    where
        S: futures_core::Stream<Item = io::Result<IO>> + Send + 'static,
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        F: Future<Output = ()>,
    {
        serve::run(self.prepare(), StreamListener(Box::pin(incoming)), signal).await;
        Ok(())
    }
}

impl<L> fmt::Debug for ServerBuilder<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("transport", &self.transport)
            .field("max_decoding_message_size", &self.max_recv)
            .field("max_encoding_message_size", &self.max_send)
            .field("accept_compressed", &self.accept)
            .field("send_compressed", &self.send_compressed)
            .field("tls", &self.tls.is_some())
            .field("orca_reporting", &self.orca_reporting)
            .field("stats_handler", &self.stats.is_some())
            .field("routes", &self.routes)
            .field("interceptors", &self.interceptors.len())
            .field("layered", &self.layered)
            .finish_non_exhaustive()
    }
}

/// A server bound to a TCP address, not serving yet.
pub struct BoundServer {
    listener: tokio::net::TcpListener,
    local_addr: SocketAddr,
    prepared: Prepared,
}

impl BoundServer {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The handle that stops the server.
    pub fn handle(&self) -> ServerHandle {
        self.prepared.handle.clone()
    }

    /// Serves until stopped through the handle.
    pub async fn serve(self) -> io::Result<()> {
        self.serve_with_shutdown(std::future::pending()).await
    }

    /// Serves until `signal` completes, then shuts down gracefully.
    pub async fn serve_with_shutdown<F: Future<Output = ()>>(self, signal: F) -> io::Result<()> {
        serve::run(self.prepared, self.listener, signal).await;
        Ok(())
    }
}

impl fmt::Debug for BoundServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundServer")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}
