//! `grpc-bench load`: a closed-loop load generator on our client or on tonic's, against any
//! BenchmarkService server, printing one JSON result line.
//!
//! The scenarios:
//!
//! - `unary`: `connections` channels, `in_flight` tasks spread over them, each calling
//!   `UnaryCall` back to back with a `size`-octet payload and `response_size = size`;
//! - `pingpong`: one `StreamingCall`, one request and its response at a time;
//! - `stream`: one `StreamingFromServer` asking for `size`-octet responses, read as fast as
//!   they come (MB/s of payload);
//! - `large`: `UnaryCall` with a `size`-octet payload each way, one call at a time.
//!
//! Timed runs last `warmup + duration`; only calls that start after the warm-up count.
//! `--calls N` instead runs exactly N calls after a short warm-up (for allocation and
//! syscall counts), with the counting allocator on for those N when `--count-allocs`.
//!
//! The runtime is tokio's multi-thread one with its default worker count: one under
//! `taskset -c N`, as the suite runs it.

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::mpsc;
use tonic::codegen::tokio_stream::Stream;

use crate::alloc;
use crate::pb::{Payload, SimpleRequest};
use crate::server::{MAX_MESSAGE, Stack};
use crate::{BoxError, Flags};

/// The generated client of either stack.
type OurClient = crate::pb::benchmark_service_client::BenchmarkServiceClient;
type TonicClient =
    crate::tonic_pb::benchmark_service_client::BenchmarkServiceClient<tonic::transport::Channel>;

/// What to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scenario {
    Unary,
    PingPong,
    Stream,
    Large,
}

impl Scenario {
    fn parse(name: &str) -> Result<Scenario, BoxError> {
        Ok(match name {
            "unary" => Scenario::Unary,
            "pingpong" => Scenario::PingPong,
            "stream" => Scenario::Stream,
            "large" => Scenario::Large,
            other => {
                return Err(
                    format!("unknown scenario {other:?} (unary, pingpong, stream, large)").into(),
                );
            }
        })
    }
}

/// The load generator's settings (`grpc-bench load --help`).
#[derive(Clone, Debug)]
pub(crate) struct LoadArgs {
    pub(crate) stack: Stack,
    pub(crate) target: SocketAddr,
    pub(crate) scenario: Scenario,
    pub(crate) size: usize,
    pub(crate) connections: usize,
    pub(crate) in_flight: usize,
    pub(crate) warmup: Duration,
    pub(crate) duration: Duration,
    pub(crate) calls: Option<u64>,
    pub(crate) count_allocs: bool,
}

impl LoadArgs {
    pub(crate) fn parse(flags: &mut Flags) -> Result<LoadArgs, BoxError> {
        Ok(LoadArgs {
            stack: Stack::parse(&flags.required("--stack")?)?,
            target: flags.required("--target")?.parse()?,
            scenario: Scenario::parse(
                &flags.value("--scenario")?.unwrap_or_else(|| "unary".into()),
            )?,
            size: flags.parsed("--size")?.unwrap_or(180),
            connections: flags.parsed("--connections")?.unwrap_or(1),
            in_flight: flags.parsed("--in-flight")?.unwrap_or(1),
            warmup: Duration::from_secs_f64(flags.parsed("--warmup")?.unwrap_or(1.0)),
            duration: Duration::from_secs_f64(flags.parsed("--duration")?.unwrap_or(3.0)),
            calls: flags.parsed("--calls")?,
            count_allocs: flags.switch("--count-allocs"),
        })
    }
}

/// One run's result, printed as a JSON line.
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize)]
pub(crate) struct LoadResult {
    /// Calls (or round trips, or streamed messages) counted.
    pub(crate) calls: u64,
    /// Measured seconds.
    pub(crate) seconds: f64,
    /// `calls / seconds`.
    pub(crate) rate: f64,
    /// Latency percentiles of one call, in microseconds (0 for `stream`).
    pub(crate) p50_us: f64,
    pub(crate) p90_us: f64,
    pub(crate) p99_us: f64,
    /// Payload octets moved per second, in MB/s (10^6), both directions together.
    pub(crate) mb_per_s: f64,
    /// Client allocations per call (with `--count-allocs`).
    pub(crate) allocations_per_call: Option<f64>,
    pub(crate) allocated_bytes_per_call: Option<f64>,
    /// Calls that failed, and the first failure.
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
}

/// Runs the load and prints its result.
pub(crate) fn run(args: LoadArgs) -> Result<(), BoxError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(drive(args))?;
    println!("{}", serde_json::to_string(&result)?);
    Ok(())
}

/// Either stack's client on one connection.
#[derive(Clone)]
enum Client {
    Ours(OurClient),
    Tonic(TonicClient),
}

impl Client {
    async fn connect(stack: Stack, target: SocketAddr) -> Result<Client, BoxError> {
        let uri = format!("http://{target}");
        Ok(match stack {
            Stack::Ours => {
                let channel = grpc_client::Channel::builder(&uri)
                    .max_decoding_message_size(MAX_MESSAGE)
                    .max_encoding_message_size(MAX_MESSAGE)
                    .connect()
                    .await?;
                Client::Ours(OurClient::new(channel))
            }
            Stack::Tcp => return Err("the TCP baseline has no gRPC client".into()),
            Stack::Tonic => {
                let channel = tonic::transport::Endpoint::from_shared(uri)?
                    .tcp_nodelay(true)
                    .connect()
                    .await?;
                Client::Tonic(
                    TonicClient::new(channel)
                        .max_decoding_message_size(MAX_MESSAGE)
                        .max_encoding_message_size(MAX_MESSAGE),
                )
            }
        })
    }

    /// One `UnaryCall`; returns the response's payload length.
    async fn unary(&self, request: SimpleRequest) -> Result<usize, BoxError> {
        let response = match self {
            Client::Ours(client) => client.unary_call(request).await?.into_inner(),
            Client::Tonic(client) => client.clone().unary_call(request).await?.into_inner(),
        };
        Ok(response.payload.map_or(0, |payload| payload.body.len()))
    }
}

/// A request with a `size`-octet payload asking for a `size`-octet response.
pub(crate) fn request_of(size: usize) -> Result<SimpleRequest, BoxError> {
    Ok(SimpleRequest {
        response_size: i32::try_from(size)?,
        payload: Some(Payload {
            r#type: 0,
            body: Bytes::from(vec![0x5a; size]),
        }),
        ..SimpleRequest::default()
    })
}

/// When the measured window opens and closes, or how many calls to make.
#[derive(Clone, Copy, Debug)]
struct Window {
    measure_from: Instant,
    end: Instant,
}

async fn drive(args: LoadArgs) -> Result<LoadResult, BoxError> {
    if args.stack == Stack::Tcp {
        if args.scenario != Scenario::Unary || args.in_flight != 1 {
            return Err(
                "the TCP baseline runs the unary scenario with one call in flight only".into(),
            );
        }
        return crate::baseline::round_trips(&args, args.target).await;
    }
    let mut clients = Vec::with_capacity(args.connections.max(1));
    for _ in 0..args.connections.max(1) {
        clients.push(Client::connect(args.stack, args.target).await?);
    }
    let request = request_of(args.size)?;
    // Every scenario warms its connections up with a few calls first.
    for client in &clients {
        for _ in 0..10 {
            client.unary(request_of(args.size.min(1024))?).await?;
        }
    }
    if let Some(calls) = args.calls {
        return fixed_count(&args, &clients, request, calls).await;
    }
    let start = Instant::now();
    let window = Window {
        measure_from: start + args.warmup,
        end: start + args.warmup + args.duration,
    };
    match args.scenario {
        Scenario::Unary => unary_load(&args, &clients, request, window).await,
        Scenario::PingPong => pingpong(&clients[0], request, window).await,
        Scenario::Stream => download(&clients[0], request, args.size, window).await,
        Scenario::Large => large(&clients[0], request, args.size, window).await,
    }
}

/// What one unary task measured.
#[derive(Default)]
struct TaskTally {
    latencies_ns: Vec<u64>,
    errors: u64,
    first_error: Option<String>,
}

impl TaskTally {
    fn failed(&mut self, error: BoxError) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(error.to_string());
        }
    }
}

async fn unary_load(
    args: &LoadArgs,
    clients: &[Client],
    request: SimpleRequest,
    window: Window,
) -> Result<LoadResult, BoxError> {
    let expected = args.size;
    let mut tasks = Vec::with_capacity(args.in_flight);
    for task in 0..args.in_flight.max(1) {
        let client = clients[task % clients.len()].clone();
        let request = request.clone();
        tasks.push(tokio::spawn(async move {
            let mut tally = TaskTally::default();
            loop {
                let started = Instant::now();
                if started >= window.end {
                    break;
                }
                match client.unary(request.clone()).await {
                    Ok(len) if len == expected => {
                        if started >= window.measure_from {
                            tally.latencies_ns.push(nanos(started.elapsed()));
                        }
                    }
                    Ok(len) => {
                        tally.failed(format!("response payload {len}, not {expected}").into())
                    }
                    Err(error) => tally.failed(error),
                }
            }
            tally
        }));
    }
    let mut latencies = Vec::new();
    let mut result = LoadResult::default();
    for task in tasks {
        let tally = task.await?;
        latencies.extend(tally.latencies_ns);
        result.errors += tally.errors;
        if result.first_error.is_none() {
            result.first_error = tally.first_error;
        }
    }
    let seconds = (window.end - window.measure_from).as_secs_f64();
    Ok(finish(result, latencies, seconds, 2 * args.size as u64))
}

/// Fills in rate, percentiles and MB/s from the latencies of the counted calls.
pub(crate) fn finish(
    mut result: LoadResult,
    mut latencies: Vec<u64>,
    seconds: f64,
    octets_per_call: u64,
) -> LoadResult {
    latencies.sort_unstable();
    result.calls = latencies.len() as u64;
    result.seconds = seconds;
    result.rate = result.calls as f64 / seconds;
    result.p50_us = percentile_us(&latencies, 0.50);
    result.p90_us = percentile_us(&latencies, 0.90);
    result.p99_us = percentile_us(&latencies, 0.99);
    result.mb_per_s = result.rate * octets_per_call as f64 / 1e6;
    result
}

/// The `q` quantile of sorted nanoseconds, in microseconds (nearest rank).
pub(crate) fn percentile_us(sorted_ns: &[u64], q: f64) -> f64 {
    if sorted_ns.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted_ns.len() as f64).ceil() as usize).clamp(1, sorted_ns.len());
    sorted_ns[rank - 1] as f64 / 1000.0
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// A request stream for tonic's streaming calls, fed from a channel.
struct Requests(mpsc::Receiver<SimpleRequest>);

impl Stream for Requests {
    type Item = SimpleRequest;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<SimpleRequest>> {
        self.0.poll_recv(cx)
    }
}

/// One open `StreamingCall` on either stack (one per run, so the variants' sizes do not
/// matter).
#[allow(clippy::large_enum_variant)]
enum PingPong {
    Ours(grpc_client::BidiStreamingCall<SimpleRequest, crate::pb::SimpleResponse>),
    Tonic {
        requests: mpsc::Sender<SimpleRequest>,
        responses: tonic::Streaming<crate::pb::SimpleResponse>,
        /// The first request went out with the call (see [`PingPong::open`]).
        primed: bool,
    },
}

impl PingPong {
    /// Opens the call. tonic's client returns the call only once the response headers have
    /// arrived, and servers that send headers with their first response (ours, grpc-go)
    /// wait for a request first, so tonic's call starts with the first request queued, as
    /// a tonic user would write it.
    async fn open(client: &Client, first: SimpleRequest) -> Result<PingPong, BoxError> {
        Ok(match client {
            Client::Ours(client) => PingPong::Ours(client.streaming_call(()).await?),
            Client::Tonic(client) => {
                let (requests, receiver) = mpsc::channel(1);
                requests
                    .send(first)
                    .await
                    .map_err(|_| "the request stream closed")?;
                let responses = client
                    .clone()
                    .streaming_call(Requests(receiver))
                    .await?
                    .into_inner();
                PingPong::Tonic {
                    requests,
                    responses,
                    primed: true,
                }
            }
        })
    }

    async fn round_trip(&mut self, request: SimpleRequest) -> Result<usize, BoxError> {
        let response = match self {
            PingPong::Ours(call) => {
                call.send(request).await?;
                call.message().await?
            }
            PingPong::Tonic {
                requests,
                responses,
                primed,
            } => {
                if !std::mem::take(primed) {
                    requests
                        .send(request)
                        .await
                        .map_err(|_| "the request stream closed")?;
                }
                responses.message().await?
            }
        };
        let response = response.ok_or("the response stream ended")?;
        Ok(response.payload.map_or(0, |payload| payload.body.len()))
    }
}

async fn pingpong(
    client: &Client,
    request: SimpleRequest,
    window: Window,
) -> Result<LoadResult, BoxError> {
    let size = request
        .payload
        .as_ref()
        .map_or(0, |payload| payload.body.len());
    let mut call = PingPong::open(client, request.clone()).await?;
    let mut latencies = Vec::new();
    loop {
        let started = Instant::now();
        if started >= window.end {
            break;
        }
        let len = call.round_trip(request.clone()).await?;
        if len != size {
            return Err(format!("ping-pong response payload {len}, not {size}").into());
        }
        if started >= window.measure_from {
            latencies.push(nanos(started.elapsed()));
        }
    }
    let seconds = (window.end - window.measure_from).as_secs_f64();
    Ok(finish(
        LoadResult::default(),
        latencies,
        seconds,
        2 * size as u64,
    ))
}

/// Reads a `StreamingFromServer` until the window closes, then cancels it (drops it).
async fn download(
    client: &Client,
    mut request: SimpleRequest,
    size: usize,
    window: Window,
) -> Result<LoadResult, BoxError> {
    // The request itself carries no payload: only the responses are measured.
    request.payload = None;
    let mut measured_messages = 0u64;
    let mut measured_octets = 0u64;
    let mut measuring_since = None;
    let mut count = |len: usize| -> Result<bool, BoxError> {
        if len != size {
            return Err(format!("streamed payload {len}, not {size}").into());
        }
        let now = Instant::now();
        if now >= window.end {
            return Ok(false);
        }
        if now >= window.measure_from {
            measuring_since.get_or_insert(now);
            measured_messages += 1;
            measured_octets += len as u64;
        }
        Ok(true)
    };
    match client {
        Client::Ours(client) => {
            let mut responses = client.streaming_from_server(request).await?.into_inner();
            while let Some(response) = responses.message().await? {
                if !count(response.payload.map_or(0, |payload| payload.body.len()))? {
                    break;
                }
            }
        }
        Client::Tonic(client) => {
            let mut responses = client
                .clone()
                .streaming_from_server(request)
                .await?
                .into_inner();
            while let Some(response) = responses.message().await? {
                if !count(response.payload.map_or(0, |payload| payload.body.len()))? {
                    break;
                }
            }
        }
    }
    let seconds = measuring_since
        .map_or(0.0, |since| since.elapsed().as_secs_f64())
        .max(1e-9);
    Ok(LoadResult {
        calls: measured_messages,
        seconds,
        rate: measured_messages as f64 / seconds,
        mb_per_s: measured_octets as f64 / seconds / 1e6,
        ..LoadResult::default()
    })
}

/// Large unary calls one at a time; at least one measured call even if it outlasts the window.
async fn large(
    client: &Client,
    request: SimpleRequest,
    size: usize,
    window: Window,
) -> Result<LoadResult, BoxError> {
    let mut latencies = Vec::new();
    let mut spent = Duration::ZERO;
    loop {
        let started = Instant::now();
        if started >= window.end && !latencies.is_empty() {
            break;
        }
        let len = client.unary(request.clone()).await?;
        if len != size {
            return Err(format!("large response payload {len}, not {size}").into());
        }
        if started >= window.measure_from || Instant::now() >= window.end {
            let took = started.elapsed();
            spent += took;
            latencies.push(nanos(took));
        }
    }
    Ok(finish(
        LoadResult::default(),
        latencies,
        spent.as_secs_f64(),
        2 * size as u64,
    ))
}

/// Exactly `calls` unary calls (or round trips) after the connections' warm-up, with the
/// allocator counting them when asked.
async fn fixed_count(
    args: &LoadArgs,
    clients: &[Client],
    request: SimpleRequest,
    calls: u64,
) -> Result<LoadResult, BoxError> {
    let tasks = args.in_flight.max(1) as u64;
    let started = Instant::now();
    if args.count_allocs {
        alloc::set_counting(true);
    }
    let before = alloc::counts();
    let mut handles = Vec::new();
    for task in 0..tasks {
        let client = clients[task as usize % clients.len()].clone();
        let request = request.clone();
        // Spread the calls evenly; the first tasks take the remainder.
        let share = calls / tasks + u64::from(task < calls % tasks);
        handles.push(tokio::spawn(async move {
            for _ in 0..share {
                client.unary(request.clone()).await?;
            }
            Ok::<(), BoxError>(())
        }));
    }
    let mut result = LoadResult::default();
    for handle in handles {
        if let Err(error) = handle.await? {
            result.errors += 1;
            result.first_error.get_or_insert_with(|| error.to_string());
        }
    }
    let after = alloc::counts();
    alloc::set_counting(false);
    result.calls = calls;
    result.seconds = started.elapsed().as_secs_f64();
    result.rate = calls as f64 / result.seconds;
    if args.count_allocs {
        result.allocations_per_call = Some((after.0 - before.0) as f64 / calls as f64);
        result.allocated_bytes_per_call = Some((after.1 - before.1) as f64 / calls as f64);
    }
    Ok(result)
}

/// `grpc-bench idle`: opens `connections` channels with our client, makes one call on each
/// (so every connection is fully set up on the server), prints `ready`, and holds them until
/// stdin ends.
pub(crate) fn idle(target: SocketAddr, connections: usize) -> Result<(), BoxError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let request = request_of(16)?;
        let mut clients = Vec::with_capacity(connections);
        for _ in 0..connections {
            let client = Client::connect(Stack::Ours, target).await?;
            client.unary(request.clone()).await?;
            clients.push(client);
        }
        println!("ready");
        let mut line = String::new();
        // Blocks this runtime's thread only; the connections need nothing while idle.
        let _ = tokio::task::spawn_blocking(move || std::io::stdin().read_line(&mut line)).await;
        drop(clients);
        Ok::<(), BoxError>(())
    })
}
