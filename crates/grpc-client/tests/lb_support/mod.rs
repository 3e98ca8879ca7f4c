//! Shared helpers of the end-to-end load-balancing tests (`tests/lb_*.rs`): real grpc-server
//! backends on loopback that answer with their own name and count what they see (calls,
//! accepted and open connections), channels driven by a `ManualResolver`, bounded waits.
//!
//! Every wait here is bounded (a bug fails a test instead of hanging it); nothing asserts
//! on how fast anything happens.

// Helpers panic on broken test setup on purpose; not every test file uses every helper.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use grpc_client::grpc_balancer_api::RequestHash;
use grpc_client::grpc_resolver_api::{Address, ResolverState};
use grpc_client::{CallOptions, Channel, Code, ConnectBackoff, ConnectivityState, Request, Status};
use grpc_core::codec::BytesCodec;
use grpc_resolver::ManualResolver;
use grpc_server::{CallMetricsRecorder, Server, ServerHandle};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The method every backend answers with its name.
pub const WHO: &str = "/lb.Test/Who";
/// A method that holds the call open until the backend's [`Backend::release`].
pub const HOLD: &str = "/lb.Test/Hold";
/// The method whose service config marks which resolver update is in force (see
/// [`sync_update`]); calls to it never reach a picker.
pub const SYNC_PROBE: &str = "/lb.Sync/Probe";

/// The timeout every helper call gets unless it sets its own: long enough for any
/// reconnect in these tests, short enough that a lost call fails the test.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a condition may take to become true before a test gives up.
pub const PATIENCE: Duration = Duration::from_secs(20);

pub const PICK_FIRST: &str = r#"{"pick_first":{}}"#;
pub const ROUND_ROBIN: &str = r#"{"round_robin":{}}"#;

/// A service config selecting `lb` (one `loadBalancingConfig` entry, e.g. [`ROUND_ROBIN`])
/// and marking generation `generation` for [`sync_update`].
pub fn service_config(lb: &str, generation: u32) -> String {
    service_config_with(lb, generation, "")
}

/// As [`service_config`], with more `methodConfig` entries (`extra_methods` is either empty
/// or JSON objects separated by commas, without the surrounding brackets).
pub fn service_config_with(lb: &str, generation: u32, extra_methods: &str) -> String {
    let comma = if extra_methods.is_empty() { "" } else { "," };
    format!(
        r#"{{"loadBalancingConfig":[{lb}],"methodConfig":[{{"name":[{{"service":"lb.Sync"}}],"maxRequestMessageBytes":{generation}}}{comma}{extra_methods}]}}"#
    )
}

/// Backoff short enough for tests that wait for reconnects.
pub fn fast_backoff() -> ConnectBackoff {
    ConnectBackoff {
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(100),
        ..ConnectBackoff::default()
    }
}

// ---------------------------------------------------------------------------------------
// Backends.

/// What a backend saw. Shared across restarts.
#[derive(Debug, Default)]
pub struct Stats {
    /// `WHO` calls served.
    pub calls: AtomicUsize,
    /// `HOLD` calls received.
    pub hold_calls: AtomicUsize,
    /// `HOLD` calls waiting for their release now.
    pub held: AtomicUsize,
    /// TCP connections accepted.
    pub accepted: AtomicUsize,
    /// TCP connections open now (dropped by the server once closed).
    pub open: AtomicUsize,
}

/// Per-call ORCA metrics a backend records on every `WHO` call.
#[derive(Clone, Copy, Debug)]
pub struct Orca {
    pub application_utilization: f64,
    pub qps: f64,
}

struct Running {
    handle: ServerHandle,
    task: tokio::task::JoinHandle<()>,
}

/// A real grpc-server on 127.0.0.1 answering `WHO` with its name. It can be stopped
/// (abruptly or gracefully) and restarted on the same port.
pub struct Backend {
    pub name: String,
    addr: SocketAddr,
    pub stats: Arc<Stats>,
    release: watch::Sender<bool>,
    orca: Option<Orca>,
    running: Option<Running>,
}

impl Backend {
    /// A backend on a free port.
    pub async fn start(name: &str) -> Backend {
        Backend::start_with(name, None).await
    }

    /// A backend on a free port that reports ORCA metrics.
    pub async fn start_with(name: &str, orca: Option<Orca>) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Backend::from_listener(name, listener, orca)
    }

    /// A backend on `addr` (a port that was free a moment ago).
    pub async fn start_on(name: &str, addr: SocketAddr) -> Backend {
        let listener = bind_patiently(addr).await;
        Backend::from_listener(name, listener, None)
    }

    fn from_listener(name: &str, listener: TcpListener, orca: Option<Orca>) -> Backend {
        let addr = listener.local_addr().unwrap();
        let mut backend = Backend {
            name: name.to_owned(),
            addr,
            stats: Arc::new(Stats::default()),
            release: watch::Sender::new(false),
            orca,
            running: None,
        };
        backend.serve(listener);
        backend
    }

    fn serve(&mut self, listener: TcpListener) {
        let name = Bytes::from(self.name.clone());
        let stats = self.stats.clone();
        let orca = self.orca;
        let release = self.release.subscribe();
        let builder = Server::builder()
            .orca_reporting(orca.is_some())
            .add_routes(move |routes| {
                let (who_name, who_stats) = (name.clone(), stats.clone());
                routes.unary(
                    WHO,
                    BytesCodec,
                    move |request: grpc_server::Request<Bytes>| {
                        let name = who_name.clone();
                        let stats = who_stats.clone();
                        async move {
                            stats.calls.fetch_add(1, Ordering::SeqCst);
                            if let Some(orca) = orca {
                                let recorder = request
                                    .extensions()
                                    .get::<CallMetricsRecorder>()
                                    .expect("orca_reporting puts a recorder in every request");
                                recorder
                                    .record_application_utilization(orca.application_utilization);
                                recorder.record_qps(orca.qps);
                            }
                            Ok(grpc_server::Response::new(name))
                        }
                    },
                );
                routes.unary(
                    HOLD,
                    BytesCodec,
                    move |_request: grpc_server::Request<Bytes>| {
                        let name = name.clone();
                        let stats = stats.clone();
                        let mut release = release.clone();
                        async move {
                            stats.hold_calls.fetch_add(1, Ordering::SeqCst);
                            stats.held.fetch_add(1, Ordering::SeqCst);
                            let _held = Decrement(stats.clone());
                            let _ = release.wait_for(|released| *released).await;
                            Ok(grpc_server::Response::new(name))
                        }
                    },
                );
            });
        let handle = builder.handle();
        let incoming = Incoming {
            listener,
            stats: self.stats.clone(),
        };
        let task = tokio::spawn(async move {
            let _ = builder.serve_incoming(incoming).await;
        });
        self.running = Some(Running { handle, task });
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn address(&self) -> Address {
        Address::new(self.addr)
    }

    /// `WHO` calls served so far.
    pub fn calls(&self) -> usize {
        self.stats.calls.load(Ordering::SeqCst)
    }

    pub fn accepted(&self) -> usize {
        self.stats.accepted.load(Ordering::SeqCst)
    }

    pub fn open_connections(&self) -> usize {
        self.stats.open.load(Ordering::SeqCst)
    }

    pub fn held(&self) -> usize {
        self.stats.held.load(Ordering::SeqCst)
    }

    /// Lets every `HOLD` call (now and later) finish.
    pub fn release(&self) {
        self.release.send_replace(true);
    }

    /// Stops at once: listener and connections closed, handlers dropped (gRPC-Go's
    /// `Stop`). Returns once the server is gone and its port is free.
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.handle.stop();
            bounded("the server to stop", running.handle.wait()).await;
            let _ = bounded("the serve task to end", running.task).await;
        }
    }

    /// Graceful shutdown: GOAWAY, calls in flight finish (forced after `grace`).
    pub async fn shutdown_graceful(&mut self, grace: Duration) {
        if let Some(running) = self.running.take() {
            running.handle.shutdown_graceful(grace);
            bounded("the server to shut down", running.handle.wait()).await;
            let _ = bounded("the serve task to end", running.task).await;
        }
    }

    /// Serves again on the same port (after [`stop`](Backend::stop)).
    pub async fn restart(&mut self) {
        assert!(self.running.is_none(), "{} is still running", self.name);
        let listener = bind_patiently(self.addr).await;
        self.serve(listener);
    }

    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            running.handle.stop();
            running.task.abort();
        }
    }
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend")
            .field("name", &self.name)
            .field("addr", &self.addr)
            .field("stats", &self.stats)
            .finish()
    }
}

/// Binds `addr`, retrying briefly (the port was just released).
async fn bind_patiently(addr: SocketAddr) -> TcpListener {
    let mut last = None;
    for _ in 0..200 {
        match TcpListener::bind(addr).await {
            Ok(listener) => return listener,
            Err(error) => last = Some(error),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("cannot bind {addr} again: {last:?}");
}

/// A port nothing listens on (bound, then released).
pub async fn free_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

struct Decrement(Arc<Stats>);

impl Drop for Decrement {
    fn drop(&mut self) {
        self.0.held.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The backend's listener as a stream of connections that count themselves.
struct Incoming {
    listener: TcpListener,
    stats: Arc<Stats>,
}

impl futures_core::Stream for Incoming {
    type Item = io::Result<Counted>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        match this.listener.poll_accept(cx) {
            Poll::Ready(Ok((stream, _))) => {
                let _ = stream.set_nodelay(true);
                this.stats.accepted.fetch_add(1, Ordering::SeqCst);
                this.stats.open.fetch_add(1, Ordering::SeqCst);
                Poll::Ready(Some(Ok(Counted {
                    stream,
                    stats: this.stats.clone(),
                })))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Some(Err(error))),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A server-side connection; counts itself closed when the server drops it.
struct Counted {
    stream: TcpStream,
    stats: Arc<Stats>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.stats.open.fetch_sub(1, Ordering::SeqCst);
    }
}

impl AsyncRead for Counted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

// ---------------------------------------------------------------------------------------
// Channels and calls.

/// A resolver state with these backends' addresses, in this order.
pub fn addresses(backends: &[&Backend]) -> Vec<Address> {
    backends.iter().map(|b| b.address()).collect()
}

/// A lazy channel to `test:///svc` resolved by `manual`, with `config` as its default
/// service config and fast reconnects.
pub fn manual_channel(manual: &ManualResolver, config: &str) -> Channel {
    Channel::builder("test:///svc")
        .resolver(Arc::new(manual.clone()))
        .default_service_config(config)
        .connect_backoff(fast_backoff())
        .connect_lazy()
        .unwrap()
}

/// Pushes `addresses` with the service config selecting `lb`, and returns once the channel
/// has applied it: a second, identical update carries the next generation marker, and
/// the worker handles updates one at a time and in order, so once the channel uses the
/// second update's config the first one was handled completely. `generation` counts the
/// updates (start at 0, the generation of the channel's default config).
pub async fn sync_update(
    manual: &ManualResolver,
    channel: &Channel,
    addresses: Vec<Address>,
    lb: &str,
    generation: &mut u32,
) {
    for _ in 0..2 {
        *generation += 1;
        let state = ResolverState {
            service_config: Some(Ok(service_config(lb, *generation))),
            ..ResolverState::from_addresses(addresses.clone())
        };
        manual.update_state(state);
    }
    wait_for_generation(channel, *generation).await;
}

/// Waits until the channel's service config is the one marked `generation` (see
/// [`service_config`]). The probe fails before any pick: its message is larger than the
/// marker's limit, and the limit is in the error.
pub async fn wait_for_generation(channel: &Channel, generation: u32) {
    let suffix = format!("vs. {generation})");
    eventually(
        &format!("service config generation {generation}"),
        || async {
            let mut request = Request::new(Bytes::from(vec![0u8; 100_000]));
            request
                .extensions_mut()
                .insert(CallOptions::new().timeout(CALL_TIMEOUT));
            match channel.unary(request, SYNC_PROBE, BytesCodec).await {
                Err(status) if status.code() == Code::ResourceExhausted => {
                    status.message().ends_with(&suffix)
                }
                other => panic!("the sync probe must fail before any pick, got {other:?}"),
            }
        },
    )
    .await;
}

/// How a helper call is made.
#[derive(Clone, Copy, Debug, Default)]
pub struct CallSpec {
    pub wait_for_ready: bool,
    pub hash: Option<u64>,
    pub timeout: Option<Duration>,
}

impl CallSpec {
    pub fn wfr() -> CallSpec {
        CallSpec {
            wait_for_ready: true,
            ..CallSpec::default()
        }
    }

    pub fn hash(hash: u64) -> CallSpec {
        CallSpec {
            hash: Some(hash),
            ..CallSpec::default()
        }
    }
}

/// One call to `path`; the answer is the name of the backend that served it.
pub async fn call(channel: &Channel, path: &'static str, spec: CallSpec) -> Result<String, Status> {
    let mut request = Request::new(Bytes::from_static(b"who"));
    request.extensions_mut().insert(
        CallOptions::new()
            .timeout(spec.timeout.unwrap_or(CALL_TIMEOUT))
            .wait_for_ready(spec.wait_for_ready),
    );
    if let Some(hash) = spec.hash {
        request.extensions_mut().insert(RequestHash(hash));
    }
    let response = channel.unary(request, path, BytesCodec).await?;
    Ok(String::from_utf8(response.into_inner().to_vec()).unwrap())
}

/// A fail-fast `WHO` call.
pub async fn who(channel: &Channel) -> Result<String, Status> {
    call(channel, WHO, CallSpec::default()).await
}

/// A wait-for-ready `WHO` call.
pub async fn who_wfr(channel: &Channel) -> Result<String, Status> {
    call(channel, WHO, CallSpec::wfr()).await
}

/// Calls per backend name.
pub type Tally = BTreeMap<String, usize>;

/// `n` sequential `WHO` calls (each must succeed), counted by the backend that answered.
pub async fn tally(channel: &Channel, n: usize, spec: CallSpec) -> Tally {
    let mut tally = Tally::new();
    for i in 0..n {
        let name = call(channel, WHO, spec)
            .await
            .unwrap_or_else(|status| panic!("call {i} of {n} failed: {status:?}"));
        *tally.entry(name).or_default() += 1;
    }
    tally
}

/// Makes `WHO` calls until every one of `backends` has answered at least once (they are
/// all connected and in the picker).
pub async fn warm_up(channel: &Channel, backends: &[&Backend]) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut seen = Tally::new();
    while !backends.iter().all(|b| seen.contains_key(&b.name)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for every backend to answer; answers so far: {seen:?}"
        );
        match who(channel).await {
            Ok(name) => *seen.entry(name).or_default() += 1,
            Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

/// Waits until the channel is in `state`, following its state changes.
pub async fn wait_for_state(channel: &Channel, state: ConnectivityState) {
    let mut seen = vec![channel.connectivity_state()];
    let reached = tokio::time::timeout(PATIENCE, async {
        let mut current = channel.connectivity_state();
        while current != state {
            current = channel.wait_for_state_change(current).await;
            seen.push(current);
        }
    })
    .await;
    assert!(
        reached.is_ok(),
        "the channel never reached {state:?}; states seen: {seen:?}"
    );
}

/// Polls `condition` (every few milliseconds) until it holds; fails the test after
/// [`PATIENCE`].
pub async fn eventually<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if condition().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Runs `future`, failing the test if it takes longer than [`PATIENCE`].
pub async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(PATIENCE, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}
