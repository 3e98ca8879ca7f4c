//! What both stacks run: the request shapes, the timed loop and the result types.
//!
//! Each stack (`ours.rs`, `peer_h2.rs`) provides a server that routes on `:path` and
//! clients that implement [`Exchange`] (one unary call, or one ping-pong round trip) and the
//! two bulk transfers. This module measures them the same way.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::counting::{self, IoCounters, IoCounts};

/// The error type of the whole benchmark.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `:path` of the unary exchange: 64-byte request body, 200 + 64-byte body + trailers.
pub(crate) const PATH_UNARY: &str = "/bench.Bench/Unary";
/// `:path` of the ping-pong stream: the server echoes every DATA frame.
pub(crate) const PATH_PINGPONG: &str = "/bench.Bench/PingPong";
/// `:path` of the upload: the server reads the whole body, then answers.
pub(crate) const PATH_UPLOAD: &str = "/bench.Bench/Upload";
/// `:path` of the download: the server sends [`SIZE_HEADER`] octets.
pub(crate) const PATH_DOWNLOAD: &str = "/bench.Bench/Download";
/// Request header carrying how many octets a download wants.
pub(crate) const SIZE_HEADER: &str = "bench-size";

/// Size of unary and ping-pong messages.
pub(crate) const MESSAGE_LEN: usize = 64;
/// Size of each `send_data` call in bulk transfers.
pub(crate) const CHUNK_LEN: usize = 64 * 1024;

/// The 64-byte message both stacks send.
pub(crate) fn message() -> bytes::Bytes {
    bytes::Bytes::from(vec![0x5a; MESSAGE_LEN])
}

/// One 64 KiB chunk; bulk transfers send (slices of) clones of it, so no stack copies on
/// the application side.
pub(crate) fn chunk() -> bytes::Bytes {
    bytes::Bytes::from(vec![0xa5; CHUNK_LEN])
}

/// The I/O counters of both ends of one connection.
#[derive(Clone, Debug)]
pub(crate) struct Sides {
    /// The client's socket.
    pub(crate) client: Arc<IoCounters>,
    /// The server's socket.
    pub(crate) server: Arc<IoCounters>,
}

impl Sides {
    /// Fresh counters for a new connection.
    pub(crate) fn new() -> Sides {
        Sides {
            client: IoCounters::new(),
            server: IoCounters::new(),
        }
    }

    fn snapshot(&self) -> (IoCounts, IoCounts) {
        (self.client.snapshot(), self.server.snapshot())
    }
}

/// One repeated operation on an established connection (a unary call, a round trip).
pub(crate) trait Exchange {
    /// Runs one operation to completion.
    fn exchange(&mut self) -> impl Future<Output = Result<(), BoxError>> + Send;
}

/// How long to run a rate scenario.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timing {
    /// Untimed run-in (connection set up, caches and allocator warm).
    pub(crate) warmup: Duration,
    /// The measured run.
    pub(crate) duration: Duration,
    /// Exchanges run with allocation counting on, after the measured run.
    pub(crate) alloc_samples: u32,
}

/// What a rate scenario measured.
#[derive(Clone, Debug)]
pub(crate) struct RateResult {
    /// Exchanges completed in the measured run.
    pub(crate) exchanges: u64,
    /// How long the measured run took.
    pub(crate) elapsed: Duration,
    /// Latency of each exchange, sorted, in nanoseconds.
    pub(crate) latencies_ns: Vec<u64>,
    /// Client socket calls in the measured run.
    pub(crate) client_io: IoCounts,
    /// Server socket calls in the measured run.
    pub(crate) server_io: IoCounts,
    /// Allocations per exchange in the whole process (client and server).
    pub(crate) allocs_per_exchange: f64,
    /// Octets requested from the allocator per exchange.
    pub(crate) alloc_bytes_per_exchange: f64,
}

impl RateResult {
    /// Exchanges per second.
    pub(crate) fn rate(&self) -> f64 {
        self.exchanges as f64 / self.elapsed.as_secs_f64()
    }

    /// The `q` quantile of latency in microseconds (nearest rank).
    pub(crate) fn latency_us(&self, q: f64) -> f64 {
        percentile(&self.latencies_ns, q) as f64 / 1000.0
    }

    /// Client (reads, writes) per exchange.
    pub(crate) fn client_per_exchange(&self) -> (f64, f64) {
        per(self.client_io, self.exchanges)
    }

    /// Server (reads, writes) per exchange.
    pub(crate) fn server_per_exchange(&self) -> (f64, f64) {
        per(self.server_io, self.exchanges)
    }
}

fn per(io: IoCounts, n: u64) -> (f64, f64) {
    let n = n.max(1) as f64;
    (io.reads as f64 / n, io.writes as f64 / n)
}

/// Nearest-rank percentile of sorted values (0 when empty).
pub(crate) fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Runs `op` for the warm-up, then for the measured duration (timing each exchange), then
/// `alloc_samples` more times with allocation counting on.
pub(crate) async fn run_rate<E: Exchange>(
    op: &mut E,
    sides: &Sides,
    timing: Timing,
) -> Result<RateResult, BoxError> {
    let warm_until = Instant::now() + timing.warmup;
    while Instant::now() < warm_until {
        op.exchange().await?;
    }

    let (client0, server0) = sides.snapshot();
    // Enough room for ~1 µs exchanges without growing inside the timed loop.
    let mut latencies = Vec::with_capacity(1 << 20);
    let start = Instant::now();
    let mut exchanges = 0u64;
    let elapsed = loop {
        let t = Instant::now();
        op.exchange().await?;
        let now = Instant::now();
        latencies.push(u64::try_from((now - t).as_nanos()).unwrap_or(u64::MAX));
        exchanges += 1;
        let elapsed = now - start;
        if elapsed >= timing.duration {
            break elapsed;
        }
    };
    let (client1, server1) = sides.snapshot();
    latencies.sort_unstable();

    let samples = timing.alloc_samples.max(1);
    counting::alloc_counting(true);
    let mut counted = Ok(());
    for _ in 0..samples {
        counted = op.exchange().await;
        if counted.is_err() {
            break;
        }
    }
    let allocs = counting::alloc_counting(false);
    counted?;

    Ok(RateResult {
        exchanges,
        elapsed,
        latencies_ns: latencies,
        client_io: client1.since(client0),
        server_io: server1.since(server0),
        allocs_per_exchange: allocs.allocations as f64 / f64::from(samples),
        alloc_bytes_per_exchange: allocs.bytes as f64 / f64::from(samples),
    })
}

/// Direction of a bulk transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Client to server (request body).
    Upload,
    /// Server to client (response body).
    Download,
}

/// What a bulk transfer measured.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TransferResult {
    /// Octets of body moved.
    pub(crate) bytes: u64,
    /// From the first request frame to the end of the response.
    pub(crate) elapsed: Duration,
    /// Client socket calls during the timed transfer.
    pub(crate) client_io: IoCounts,
    /// Server socket calls during the timed transfer.
    pub(crate) server_io: IoCounts,
}

impl TransferResult {
    /// Throughput in MB/s (10^6 octets per second).
    pub(crate) fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / self.elapsed.as_secs_f64() / 1e6
    }

    /// Socket calls (both ends, reads + writes) per MiB moved.
    pub(crate) fn syscalls_per_mib(&self) -> f64 {
        let mib = self.bytes as f64 / (1024.0 * 1024.0);
        (self.client_io.syscalls() + self.server_io.syscalls()) as f64 / mib.max(f64::MIN_POSITIVE)
    }
}

/// A client able to run bulk transfers on one connection.
pub(crate) trait Transfer {
    /// Moves `bytes` octets in `direction` on a new stream and waits for the response to
    /// end.
    fn transfer(
        &mut self,
        direction: Direction,
        bytes: u64,
    ) -> impl Future<Output = Result<(), BoxError>> + Send;
}

/// Runs an untimed warm-up transfer of `warmup` octets, then the timed one of `bytes`.
pub(crate) async fn run_transfer<T: Transfer>(
    client: &mut T,
    sides: &Sides,
    direction: Direction,
    warmup: u64,
    bytes: u64,
) -> Result<TransferResult, BoxError> {
    if warmup > 0 {
        client.transfer(direction, warmup).await?;
    }
    let (client0, server0) = sides.snapshot();
    let start = Instant::now();
    client.transfer(direction, bytes).await?;
    let elapsed = start.elapsed();
    let (client1, server1) = sides.snapshot();
    Ok(TransferResult {
        bytes,
        elapsed,
        client_io: client1.since(client0),
        server_io: server1.since(server0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.5), 50);
        assert_eq!(percentile(&v, 0.99), 99);
        assert_eq!(percentile(&v, 1.0), 100);
        assert_eq!(percentile(&v, 0.0), 1);
        assert_eq!(percentile(&[], 0.5), 0);
        assert_eq!(percentile(&[7], 0.99), 7);
    }
}
