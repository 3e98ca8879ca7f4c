//! The gRPC scenarios: `grpc-client` against `grpc-server`, both with default settings
//! (the client's receive limit raised to 16 MiB), messages as raw bytes
//! ([`BytesCodec`]) on hand-registered routes, so no code generation is involved.
//!
//! The server runs on connections accepted by the benchmark and wrapped in
//! [`CountingIo`] (`serve_incoming`), so its socket calls are counted like the transport
//! scenarios'. `grpc-client` makes its own connections (it takes no custom transport), so
//! the client's socket calls are not counted here; `strace` gives them (see
//! `benches/README.md`).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use grpc_client::{BidiStreamingCall, Channel};
use grpc_server::codec::BytesCodec;
use grpc_server::{GrpcService, Request, Response, ResponseSink, Routes, Server, ServerHandle};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::counting::{self, CountingIo, IoCounters};
use crate::scenario::{BoxError, Direction, Exchange, RateResult, Sides, Timing, Transfer};

/// Path of the unary echo.
pub(crate) const PATH_UNARY: &str = "/bench.Echo/Unary";
/// Path of the bidirectional echo (ping-pong on one stream).
pub(crate) const PATH_PINGPONG: &str = "/bench.Echo/PingPong";
/// Path of the server-streaming download: the request says how much, in what messages.
pub(crate) const PATH_DOWNLOAD: &str = "/bench.Echo/Download";

/// Size of unary and ping-pong messages (before the 5-octet gRPC message prefix).
pub(crate) const MESSAGE_LEN: usize = 180;
/// Calls in flight in the concurrent unary scenario.
pub(crate) const CONCURRENCY: usize = 64;
/// The largest server-streaming message; the client's receive limit is above it.
pub(crate) const MAX_STREAM_MESSAGE: usize = 1024 * 1024;
/// The client's receive limit (grpc-client's default is 4 MiB).
const CLIENT_MAX_DECODING: usize = 16 * 1024 * 1024;

/// The 180-byte message of the unary and ping-pong scenarios.
pub(crate) fn message() -> Bytes {
    Bytes::from(vec![0x3c; MESSAGE_LEN])
}

/// `bench.Echo`: unary echo, bidi echo, and a server-streaming download.
struct Echo {
    /// The payload downloads send slices of (the codec copies each message into the
    /// sink's buffer, as any codec's encoder writes into it).
    payload: Bytes,
}

impl GrpcService for Echo {
    const NAME: &'static str = "bench.Echo";

    fn register(self, routes: &mut Routes) {
        routes.unary(
            PATH_UNARY,
            BytesCodec,
            |request: Request<Bytes>| async move { Ok(Response::new(request.into_inner())) },
        );
        routes.streaming(PATH_PINGPONG, BytesCodec, |request, sink| {
            Box::pin(async move {
                let mut messages = request.into_inner();
                while let Some(message) = messages.message().await? {
                    sink.send(message).await?;
                }
                Ok(())
            })
        });
        let payload = self.payload;
        routes.server_streaming(
            PATH_DOWNLOAD,
            BytesCodec,
            move |request: Request<Bytes>, sink: &mut ResponseSink<Bytes>| {
                let payload = payload.clone();
                Box::pin(async move {
                    let (total, size) = DownloadRequest::decode(request.get_ref())
                        .filter(|r| r.message_len > 0 && r.message_len <= payload.len() as u64)
                        .map(|r| (r.total, r.message_len as usize))
                        .ok_or_else(|| grpc_server::Status::invalid_argument("bad download"))?;
                    let mut left = total;
                    while left > 0 {
                        let n = left.min(size as u64) as usize;
                        left -= n as u64;
                        sink.send(payload.slice(..n)).await?;
                    }
                    Ok(())
                })
            },
        );
    }
}

/// What a download asks for: `total` octets of messages of `message_len` octets (the last
/// one shorter if need be). On the wire: two big-endian u64s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct DownloadRequest {
    total: u64,
    message_len: u64,
}

impl DownloadRequest {
    fn encode(self) -> Bytes {
        let mut out = Vec::with_capacity(16);
        out.extend_from_slice(&self.total.to_be_bytes());
        out.extend_from_slice(&self.message_len.to_be_bytes());
        Bytes::from(out)
    }

    fn decode(bytes: &[u8]) -> Option<DownloadRequest> {
        let total = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
        let message_len = u64::from_be_bytes(bytes.get(8..16)?.try_into().ok()?);
        Some(DownloadRequest { total, message_len })
    }
}

/// The benchmark's listener as the stream of connections `serve_incoming` takes: each
/// accepted socket gets TCP_NODELAY and a [`CountingIo`] counting into the server's
/// counters.
struct Accept {
    listener: TcpListener,
    counters: Arc<IoCounters>,
}

impl futures_core::Stream for Accept {
    type Item = io::Result<CountingIo<TcpStream>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        this.listener.poll_accept(cx).map(|accepted| {
            Some(accepted.and_then(|(tcp, _)| {
                tcp.set_nodelay(true)?;
                Ok(CountingIo::new(tcp, this.counters.clone()))
            }))
        })
    }
}

/// A gRPC server and a connected channel to it over loopback TCP.
pub(crate) struct Conn {
    /// The client.
    pub(crate) channel: Channel,
    /// Socket counters; only the server's count (see the module docs).
    pub(crate) sides: Sides,
    handle: ServerHandle,
    server: JoinHandle<io::Result<()>>,
}

impl Conn {
    /// Starts the server on 127.0.0.1 and connects a channel to it (the HTTP/2 connection
    /// is up when this returns).
    pub(crate) async fn open() -> Result<Conn, BoxError> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let sides = Sides::new();
        let builder = Server::builder().add_service(Echo {
            payload: Bytes::from(vec![0xa5; MAX_STREAM_MESSAGE]),
        });
        let handle = builder.handle();
        let accept = Accept {
            listener,
            counters: sides.server.clone(),
        };
        let server = tokio::spawn(builder.serve_incoming(accept));
        let channel = Channel::builder(&format!("http://{addr}"))
            .max_decoding_message_size(CLIENT_MAX_DECODING)
            .connect()
            .await?;
        Ok(Conn {
            channel,
            sides,
            handle,
            server,
        })
    }

    /// A unary client on this channel.
    pub(crate) fn unary(&self) -> Unary {
        Unary {
            channel: self.channel.clone(),
            message: message(),
        }
    }

    /// Opens the bidi ping-pong call.
    pub(crate) async fn pingpong(&self) -> Result<PingPong, BoxError> {
        let call = self
            .channel
            .streaming(Request::new(()), PATH_PINGPONG, BytesCodec)
            .await?;
        Ok(PingPong {
            call,
            message: message(),
        })
    }

    /// A server-streaming download client sending messages of `message_len` octets.
    pub(crate) fn downloads(&self, message_len: usize) -> Downloads {
        Downloads {
            channel: self.channel.clone(),
            message_len: message_len as u64,
        }
    }

    /// Drops the channel, shuts the server down gracefully and waits for it.
    pub(crate) async fn close(self) -> Result<(), BoxError> {
        drop(self.channel);
        self.handle.shutdown_graceful(Duration::from_secs(1));
        match tokio::time::timeout(Duration::from_secs(5), self.server).await {
            Ok(joined) => Ok(joined??),
            Err(_) => Err("grpc: server did not stop within 5 s of the shutdown".into()),
        }
    }
}

/// One unary echo call.
#[derive(Clone)]
pub(crate) struct Unary {
    channel: Channel,
    message: Bytes,
}

impl Exchange for Unary {
    async fn exchange(&mut self) -> Result<(), BoxError> {
        let response = self
            .channel
            .unary(Request::new(self.message.clone()), PATH_UNARY, BytesCodec)
            .await?;
        let len = response.get_ref().len();
        if len != MESSAGE_LEN {
            return Err(format!("grpc: unary response of {len} octets").into());
        }
        Ok(())
    }
}

/// One bidi call; each exchange sends a message and waits for its echo.
pub(crate) struct PingPong {
    call: BidiStreamingCall<Bytes, Bytes>,
    message: Bytes,
}

impl Exchange for PingPong {
    async fn exchange(&mut self) -> Result<(), BoxError> {
        self.call.send(self.message.clone()).await?;
        match self.call.message().await? {
            Some(echo) if echo.len() == MESSAGE_LEN => Ok(()),
            Some(echo) => Err(format!("grpc: ping-pong echo of {} octets", echo.len()).into()),
            None => Err("grpc: ping-pong call ended early".into()),
        }
    }
}

impl PingPong {
    /// Half-closes the call and reads it to its OK status.
    pub(crate) async fn finish(mut self) -> Result<(), BoxError> {
        self.call.close_send().await?;
        self.call.trailers().await?;
        Ok(())
    }
}

/// Server-streaming downloads, one call each.
pub(crate) struct Downloads {
    channel: Channel,
    message_len: u64,
}

impl Transfer for Downloads {
    async fn transfer(&mut self, direction: Direction, bytes: u64) -> Result<(), BoxError> {
        if direction != Direction::Download {
            return Err("grpc: only downloads (server streaming) are measured".into());
        }
        let request = DownloadRequest {
            total: bytes,
            message_len: self.message_len,
        };
        let mut messages = self
            .channel
            .server_streaming(Request::new(request.encode()), PATH_DOWNLOAD, BytesCodec)
            .await?
            .into_inner();
        let mut got = 0u64;
        while let Some(message) = messages.message().await? {
            got += message.len() as u64;
        }
        if got != bytes {
            return Err(format!("grpc: downloaded {got} of {bytes} octets").into());
        }
        Ok(())
    }
}

/// What one worker of the concurrent scenario did.
struct WorkerRun {
    calls: u64,
    latencies_ns: Vec<u64>,
}

/// Runs `calls` unary calls (our client's or tonic's) (or, with `until`, calls until that instant) on one task,
/// timing each one when `timed`.
async fn worker<E: Exchange>(
    mut op: E,
    until: Option<Instant>,
    calls: u64,
    timed: bool,
) -> Result<WorkerRun, BoxError> {
    let mut run = WorkerRun {
        calls: 0,
        latencies_ns: Vec::new(),
    };
    loop {
        match until {
            Some(until) if Instant::now() >= until => break,
            None if run.calls >= calls => break,
            _ => {}
        }
        let t = Instant::now();
        op.exchange().await?;
        if timed {
            let ns = u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX);
            run.latencies_ns.push(ns);
        }
        run.calls += 1;
    }
    Ok(run)
}

/// Runs [`CONCURRENCY`] workers (one task each, all on one channel) to completion.
async fn workers<E: Exchange + Clone + Send + 'static>(
    op: &E,
    until: Option<Instant>,
    calls_each: u64,
    timed: bool,
) -> Result<Vec<WorkerRun>, BoxError> {
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|_| tokio::spawn(worker(op.clone(), until, calls_each, timed)))
        .collect();
    let mut runs = Vec::with_capacity(CONCURRENCY);
    for task in tasks {
        runs.push(task.await??);
    }
    Ok(runs)
}

/// Unary calls with [`CONCURRENCY`] in flight on one channel: every worker loops for the
/// warm-up, then for the measured duration (each call timed); the elapsed time runs until
/// the last worker's last call returns. Allocations are counted over `alloc_samples`
/// further calls (rounded up to a multiple of the concurrency), spread over the workers.
pub(crate) async fn run_concurrent<E: Exchange + Clone + Send + 'static>(
    op: &E,
    sides: &Sides,
    timing: Timing,
) -> Result<RateResult, BoxError> {
    workers(op, Some(Instant::now() + timing.warmup), 0, false).await?;

    let (client0, server0) = (sides.client.snapshot(), sides.server.snapshot());
    let start = Instant::now();
    let runs = workers(op, Some(start + timing.duration), 0, true).await?;
    let elapsed = start.elapsed();
    let (client1, server1) = (sides.client.snapshot(), sides.server.snapshot());
    let exchanges = runs.iter().map(|r| r.calls).sum();
    let mut latencies: Vec<u64> = runs.into_iter().flat_map(|r| r.latencies_ns).collect();
    latencies.sort_unstable();

    let each = u64::from(timing.alloc_samples.max(1)).div_ceil(CONCURRENCY as u64);
    counting::alloc_counting(true);
    let counted = workers(op, None, each, false).await;
    let allocs = counting::alloc_counting(false);
    counted?;
    let samples = (each * CONCURRENCY as u64) as f64;

    Ok(RateResult {
        exchanges,
        elapsed,
        latencies_ns: latencies,
        client_io: client1.since(client0),
        server_io: server1.since(server0),
        allocs_per_exchange: allocs.allocations as f64 / samples,
        alloc_bytes_per_exchange: allocs.bytes as f64 / samples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_request_round_trips() {
        let r = DownloadRequest {
            total: 256 << 20,
            message_len: 64 << 10,
        };
        assert_eq!(DownloadRequest::decode(&r.encode()), Some(r));
        assert_eq!(DownloadRequest::decode(&[0; 15]), None);
    }
}
