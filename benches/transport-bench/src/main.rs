//! `transport-bench`: grpc-transport's HTTP/2 against the `h2` crate, side by side in one
//! process, over 127.0.0.1 TCP with TCP_NODELAY on both ends.
//!
//! Scenarios (each runs on our stack, then on h2, each on a fresh tokio runtime with the
//! same number of workers and a fresh connection):
//!
//! - `unary_rtt`: sequential unary exchanges, a new stream each (64-byte request body,
//!   200 + 64-byte body + `grpc-status: 0` trailers): exchanges/s, p50/p99 latency,
//!   socket reads and writes per exchange at each end, allocations per exchange.
//! - `stream_pingpong`: one stream, 64 octets echoed back and forth: round trips/s.
//! - `stream_throughput`: one stream moving N MiB in 64 KiB chunks, upload and download:
//!   MB/s, against h2 with default windows and with 16 MiB windows.
//!
//! gRPC scenarios (`grpc-client` against `grpc-server` on our transport, raw bytes with
//! `BytesCodec`; see `grpc.rs`), compared with our raw HTTP/2 numbers of the same run:
//!
//! - `grpc_unary`: sequential unary echo calls of 180 bytes, one in flight.
//! - `grpc_unary_concurrent`: the same with 64 calls in flight on one channel.
//! - `grpc_pingpong`: one bidi call, 180-byte messages echoed back and forth.
//! - `grpc_server_streaming`: N MiB of 64 KiB messages, then of 1 MiB messages.
//!
//! The unary, concurrent and ping-pong gRPC scenarios also run a tonic 0.14 client against
//! a tonic server (`peer_tonic.rs`) in the same rotation, for the tonic column.
//!
//! A gRPC scenario with a raw counterpart (`unary_rtt`, `stream_pingpong`, the download
//! of `stream_throughput`) runs in the same interleaved rotation as the counterpart's
//! stacks, so the gRPC/raw ratio compares runs taken side by side.
//!
//! Prints the tables and writes them to `target/bench/transport.{json,md}`. See
//! `benches/README.md` for the method and its caveats.

mod counting;
mod grpc;
mod ours;
mod peer_h2;
mod peer_tonic;
mod report;
mod scenario;

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use counting::CountingAlloc;
use peer_h2::Windows;
use report::{GRPC, H2, H2_LARGE, Report, Settings, TONIC};
use scenario::{BoxError, Direction, RateResult, Timing, TransferResult, run_rate, run_transfer};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

const USAGE: &str = "usage: transport-bench [options]
  --duration SECS   measured seconds per rate scenario and stack (default 3)
  --warmup SECS     warm-up seconds before each rate measurement (default 0.5)
  --size MIB        MiB per timed transfer (default 256)
  --scenario NAME   unary_rtt | stream_pingpong | stream_throughput | grpc_unary |
                    grpc_unary_concurrent | grpc_pingpong | grpc_server_streaming
                    (repeatable; default all)
  --only STACK      ours | h2 | grpc | tonic: run one stack only (for profilers and
                    strace); ours is our raw HTTP/2 transport, grpc is grpc-client +
                    grpc-server, tonic is tonic's client + server
  --workers N       tokio worker threads shared by client and server (default 2)
  --repeat N        runs per scenario and stack, interleaved; the median run is reported
                    (default 3; 1 with --quick)
  --quick           short smoke run: 0.2 s, 0.05 s warm-up, 16 MiB transfers, one run
  --out DIR         where transport.json and transport.md go (default <workspace>/target/bench)";

/// The scenarios.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scenario {
    Unary,
    PingPong,
    Throughput,
    GrpcUnary,
    GrpcConcurrent,
    GrpcPingPong,
    GrpcStreaming,
}

impl Scenario {
    const ALL: [Scenario; 7] = [
        Scenario::Unary,
        Scenario::PingPong,
        Scenario::Throughput,
        Scenario::GrpcUnary,
        Scenario::GrpcConcurrent,
        Scenario::GrpcPingPong,
        Scenario::GrpcStreaming,
    ];

    fn parse(name: &str) -> Result<Scenario, String> {
        match name {
            "unary_rtt" | "unary" => Ok(Scenario::Unary),
            "stream_pingpong" | "pingpong" => Ok(Scenario::PingPong),
            "stream_throughput" | "throughput" => Ok(Scenario::Throughput),
            "grpc_unary" => Ok(Scenario::GrpcUnary),
            "grpc_unary_concurrent" => Ok(Scenario::GrpcConcurrent),
            "grpc_pingpong" => Ok(Scenario::GrpcPingPong),
            "grpc_server_streaming" | "grpc_streaming" => Ok(Scenario::GrpcStreaming),
            other => Err(format!(
                "unknown scenario {other:?} (unary_rtt, stream_pingpong, stream_throughput, \
                 grpc_unary, grpc_unary_concurrent, grpc_pingpong, grpc_server_streaming)"
            )),
        }
    }

    /// The scenarios measured in one interleaved rotation: a gRPC scenario and its raw
    /// HTTP/2 counterpart (the gRPC/raw ratio needs both, side by side).
    fn family(self) -> Family {
        match self {
            Scenario::Unary | Scenario::GrpcUnary => Family::Unary,
            Scenario::PingPong | Scenario::GrpcPingPong => Family::PingPong,
            Scenario::Throughput | Scenario::GrpcStreaming => Family::Throughput,
            Scenario::GrpcConcurrent => Family::Concurrent,
        }
    }
}

/// Scenarios that share one rotation of stacks (see [`Scenario::family`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Unary,
    PingPong,
    Throughput,
    Concurrent,
}

impl Family {
    /// The transport scenario (ours vs h2) of the family, if it has one.
    fn raw(self) -> Option<Scenario> {
        match self {
            Family::Unary => Some(Scenario::Unary),
            Family::PingPong => Some(Scenario::PingPong),
            Family::Throughput => Some(Scenario::Throughput),
            Family::Concurrent => None,
        }
    }

    /// The gRPC scenario of the family.
    fn grpc(self) -> Scenario {
        match self {
            Family::Unary => Scenario::GrpcUnary,
            Family::PingPong => Scenario::GrpcPingPong,
            Family::Throughput => Scenario::GrpcStreaming,
            Family::Concurrent => Scenario::GrpcConcurrent,
        }
    }
}

/// Command-line options.
#[derive(Debug)]
struct Options {
    duration: Duration,
    warmup: Duration,
    size_mib: u64,
    scenarios: Vec<Scenario>,
    run_ours: bool,
    run_h2: bool,
    run_grpc: bool,
    run_tonic: bool,
    workers: usize,
    repeat: usize,
    quick: bool,
    out: PathBuf,
    alloc_samples: u32,
}

fn seconds(flag: &str, value: &str) -> Result<Duration, String> {
    value
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{flag}: expected seconds, got {value:?}"))
}

impl Options {
    fn parse(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
        let mut duration = None;
        let mut warmup = None;
        let mut size_mib = None;
        let mut scenarios = Vec::new();
        let mut only = None;
        let mut workers = 2;
        let mut repeat = None;
        let mut quick = false;
        let mut out = None;
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
            match arg.as_str() {
                "--duration" => duration = Some(seconds(&arg, &value()?)?),
                "--warmup" => warmup = Some(seconds(&arg, &value()?)?),
                "--size" => {
                    let v = value()?;
                    size_mib = Some(
                        v.parse::<u64>()
                            .ok()
                            .filter(|&n| n > 0)
                            .ok_or_else(|| format!("--size: expected MiB > 0, got {v:?}"))?,
                    );
                }
                "--scenario" => scenarios.push(Scenario::parse(&value()?)?),
                "--only" => {
                    only = Some(match value()?.as_str() {
                        "ours" => "ours",
                        "h2" => "h2",
                        "grpc" => "grpc",
                        "tonic" => "tonic",
                        other => {
                            return Err(format!("--only: ours, h2, grpc or tonic, got {other:?}"));
                        }
                    })
                }
                "--workers" => {
                    let v = value()?;
                    workers = v
                        .parse::<usize>()
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or_else(|| format!("--workers: expected a count > 0, got {v:?}"))?;
                }
                "--repeat" => {
                    let v = value()?;
                    repeat = Some(
                        v.parse::<usize>()
                            .ok()
                            .filter(|&n| n > 0)
                            .ok_or_else(|| format!("--repeat: expected a count > 0, got {v:?}"))?,
                    );
                }
                "--quick" => quick = true,
                "--out" => out = Some(PathBuf::from(value()?)),
                "-h" | "--help" => return Err(String::new()),
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        if scenarios.is_empty() {
            scenarios = Scenario::ALL.to_vec();
        }
        scenarios.dedup();
        let (d, w, s, samples, runs) = if quick {
            (0.2, 0.05, 16, 200, 1)
        } else {
            (3.0, 0.5, 256, 2000, 3)
        };
        Ok(Options {
            duration: duration.unwrap_or(Duration::from_secs_f64(d)),
            warmup: warmup.unwrap_or(Duration::from_secs_f64(w)),
            size_mib: size_mib.unwrap_or(s),
            scenarios,
            run_ours: only.is_none_or(|o| o == "ours"),
            run_h2: only.is_none_or(|o| o == "h2"),
            run_grpc: only.is_none_or(|o| o == "grpc"),
            run_tonic: only.is_none_or(|o| o == "tonic"),
            workers,
            repeat: repeat.unwrap_or(runs),
            quick,
            out: out.unwrap_or_else(default_out),
            alloc_samples: samples,
        })
    }

    fn timing(&self) -> Timing {
        Timing {
            warmup: self.warmup,
            duration: self.duration,
            alloc_samples: self.alloc_samples,
        }
    }

    fn transfer_bytes(&self) -> u64 {
        self.size_mib * 1024 * 1024
    }

    /// Untimed transfer before the timed one: a quarter of it, between 1 and 32 MiB.
    fn transfer_warmup(&self) -> u64 {
        (self.transfer_bytes() / 4).clamp(1 << 20, 32 << 20)
    }
}

/// `<workspace>/target/bench`, found from this crate's manifest directory.
fn default_out() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let root = manifest
        .parent()
        .and_then(|p| p.parent())
        .map_or_else(|| PathBuf::from("."), PathBuf::from);
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), PathBuf::from)
        .join("bench")
}

/// Runs `future` as a task on a fresh multi-threaded runtime with `workers` workers, so
/// client and server tasks share the same threads for both stacks and nothing is left
/// over from the previous run.
fn on_runtime<F, T>(workers: usize, future: F) -> Result<T, BoxError>
where
    F: Future<Output = Result<T, BoxError>> + Send + 'static,
    T: Send + 'static,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?;
    let result = runtime.block_on(async { tokio::spawn(future).await });
    runtime.shutdown_timeout(Duration::from_secs(1));
    result?
}

async fn ours_unary(timing: Timing) -> Result<RateResult, BoxError> {
    let conn = ours::Conn::open().await?;
    let mut op = conn.unary();
    let result = run_rate(&mut op, &conn.sides, timing).await?;
    drop(op);
    conn.close().await?;
    Ok(result)
}

async fn h2_unary(timing: Timing) -> Result<RateResult, BoxError> {
    let conn = peer_h2::Conn::open(Windows::Default).await?;
    let mut op = conn.unary()?;
    let result = run_rate(&mut op, &conn.sides, timing).await?;
    drop(op);
    conn.close().await?;
    Ok(result)
}

async fn ours_pingpong(timing: Timing) -> Result<RateResult, BoxError> {
    let conn = ours::Conn::open().await?;
    let mut op = conn.pingpong().await?;
    let result = run_rate(&mut op, &conn.sides, timing).await?;
    op.finish().await?;
    conn.close().await?;
    Ok(result)
}

async fn h2_pingpong(timing: Timing) -> Result<RateResult, BoxError> {
    let conn = peer_h2::Conn::open(Windows::Default).await?;
    let mut op = conn.pingpong().await?;
    let result = run_rate(&mut op, &conn.sides, timing).await?;
    op.finish().await?;
    conn.close().await?;
    Ok(result)
}

async fn ours_transfer(
    direction: Direction,
    warmup: u64,
    bytes: u64,
) -> Result<TransferResult, BoxError> {
    let conn = ours::Conn::open().await?;
    let mut client = conn.transfers();
    let result = run_transfer(&mut client, &conn.sides, direction, warmup, bytes).await?;
    drop(client);
    conn.close().await?;
    Ok(result)
}

async fn h2_transfer(
    windows: Windows,
    direction: Direction,
    warmup: u64,
    bytes: u64,
) -> Result<TransferResult, BoxError> {
    let conn = peer_h2::Conn::open(windows).await?;
    let mut client = conn.transfers()?;
    let result = run_transfer(&mut client, &conn.sides, direction, warmup, bytes).await?;
    drop(client);
    conn.close().await?;
    Ok(result)
}

async fn grpc_unary(timing: Timing) -> Result<RateResult, BoxError> {
    let conn = grpc::Conn::open().await?;
    let mut op = conn.unary();
    let result = run_rate(&mut op, &conn.sides, timing).await?;
    drop(op);
    conn.close().await?;
    Ok(result)
}

async fn grpc_concurrent(timing: Timing) -> Result<RateResult, BoxError> {
    let conn = grpc::Conn::open().await?;
    let op = conn.unary();
    let result = grpc::run_concurrent(&op, &conn.sides, timing).await?;
    drop(op);
    conn.close().await?;
    Ok(result)
}

async fn grpc_pingpong(timing: Timing) -> Result<RateResult, BoxError> {
    let conn = grpc::Conn::open().await?;
    let mut op = conn.pingpong().await?;
    let result = run_rate(&mut op, &conn.sides, timing).await?;
    op.finish().await?;
    conn.close().await?;
    Ok(result)
}

async fn tonic_unary(timing: Timing) -> Result<RateResult, BoxError> {
    let conn = peer_tonic::Conn::open().await?;
    let mut op = conn.unary();
    let result = run_rate(&mut op, &conn.sides, timing).await?;
    drop(op);
    conn.close().await?;
    Ok(result)
}

async fn tonic_concurrent(timing: Timing) -> Result<RateResult, BoxError> {
    let conn = peer_tonic::Conn::open().await?;
    let op = conn.unary();
    let result = grpc::run_concurrent(&op, &conn.sides, timing).await?;
    drop(op);
    conn.close().await?;
    Ok(result)
}

async fn tonic_pingpong(timing: Timing) -> Result<RateResult, BoxError> {
    let conn = peer_tonic::Conn::open().await?;
    let mut op = conn.pingpong().await?;
    let result = run_rate(&mut op, &conn.sides, timing).await?;
    op.finish().await?;
    conn.close().await?;
    Ok(result)
}

async fn grpc_download(
    message_len: usize,
    warmup: u64,
    bytes: u64,
) -> Result<TransferResult, BoxError> {
    let conn = grpc::Conn::open().await?;
    let mut client = conn.downloads(message_len);
    let result = run_transfer(&mut client, &conn.sides, Direction::Download, warmup, bytes).await?;
    drop(client);
    conn.close().await?;
    Ok(result)
}

fn progress(what: &str, value: String) {
    eprintln!("  {what:<40} {value}");
}

/// Which stack a run is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stack {
    /// Our raw HTTP/2 transport.
    Ours,
    H2(Windows),
    /// grpc-client against grpc-server (rate scenarios).
    Grpc,
    /// A grpc-server streaming download in messages of this many octets.
    GrpcStream(usize),
    /// tonic's client against tonic's server (unary, concurrent and ping-pong).
    Tonic,
}

impl Stack {
    fn label(self) -> String {
        match self {
            Stack::Ours => "ours".to_owned(),
            Stack::H2(Windows::Default) => H2.to_owned(),
            Stack::H2(Windows::Large) => H2_LARGE.to_owned(),
            Stack::Grpc => GRPC.to_owned(),
            Stack::GrpcStream(len) => format!("{GRPC}, {} messages", size_label(len)),
            Stack::Tonic => TONIC.to_owned(),
        }
    }
}

/// `64 KiB`, `1 MiB`, `180 B`.
fn size_label(len: usize) -> String {
    if len >= 1 << 20 && len % (1 << 20) == 0 {
        format!("{} MiB", len >> 20)
    } else if len >= 1 << 10 && len % (1 << 10) == 0 {
        format!("{} KiB", len >> 10)
    } else {
        format!("{len} B")
    }
}

/// The stacks to run, rotated by one place per repetition so that neither always runs
/// first (background load and thermal drift then hit both alike).
fn rotation(stacks: &[Stack], repetition: usize) -> Vec<Stack> {
    let mut order = stacks.to_vec();
    if !order.is_empty() {
        let n = repetition % order.len();
        order.rotate_left(n);
    }
    order
}

fn run_rate_scenario(opts: &Options, family: Family, stack: Stack) -> Result<RateResult, BoxError> {
    let (w, timing) = (opts.workers, opts.timing());
    match (family, stack) {
        (Family::Concurrent, Stack::Tonic) => on_runtime(w, tonic_concurrent(timing)),
        (Family::Concurrent, _) => on_runtime(w, grpc_concurrent(timing)),
        (Family::Unary, Stack::Tonic) => on_runtime(w, tonic_unary(timing)),
        (_, Stack::Tonic) => on_runtime(w, tonic_pingpong(timing)),
        (Family::Unary, Stack::Ours) => on_runtime(w, ours_unary(timing)),
        (Family::Unary, Stack::H2(_)) => on_runtime(w, h2_unary(timing)),
        (Family::Unary, _) => on_runtime(w, grpc_unary(timing)),
        (_, Stack::Ours) => on_runtime(w, ours_pingpong(timing)),
        (_, Stack::H2(_)) => on_runtime(w, h2_pingpong(timing)),
        (_, _) => on_runtime(w, grpc_pingpong(timing)),
    }
}

/// The stacks of a family's rotation: ours and h2 for the transport scenario; gRPC and
/// tonic (except for server streaming) for the gRPC scenario, with ours beside them as the
/// raw baseline (unless `--only grpc` or `--only tonic`).
fn family_stacks(opts: &Options, family: Family) -> (bool, bool, Vec<Stack>) {
    let raw = family.raw().is_some_and(|s| opts.scenarios.contains(&s));
    let asked = opts.scenarios.contains(&family.grpc());
    let tonic = asked && opts.run_tonic && family != Family::Throughput;
    let grpc = asked && opts.run_grpc;
    let mut stacks = Vec::new();
    if opts.run_ours && (raw || (grpc && family.raw().is_some())) {
        stacks.push(Stack::Ours);
    }
    if raw && opts.run_h2 {
        stacks.push(Stack::H2(Windows::Default));
        if family == Family::Throughput {
            stacks.push(Stack::H2(Windows::Large));
        }
    }
    if grpc {
        stacks.push(Stack::Grpc);
    }
    if tonic {
        stacks.push(Stack::Tonic);
    }
    (raw, grpc || tonic, stacks)
}

fn run_rate_family(opts: &Options, family: Family, report: &mut Report) -> Result<(), BoxError> {
    let (raw, grpc, stacks) = family_stacks(opts, family);
    let (name, grpc_name, unit, grpc_unit) = match family {
        Family::Unary => ("unary_rtt", "grpc_unary", "exchange", "call"),
        Family::PingPong => (
            "stream_pingpong",
            "grpc_pingpong",
            "round trip",
            "round trip",
        ),
        _ => ("", "grpc_unary_concurrent", "", "call"),
    };
    let title = match (raw, grpc) {
        (true, true) => format!("{name} + {grpc_name}"),
        (true, false) => name.to_owned(),
        _ => grpc_name.to_owned(),
    };
    eprintln!("{title}:");
    let (mut ours, mut h2, mut grpc_runs) = (Vec::new(), Vec::new(), Vec::new());
    let mut tonic_runs = Vec::new();
    for repetition in 0..opts.repeat {
        for stack in rotation(&stacks, repetition) {
            let r = run_rate_scenario(opts, family, stack)?;
            let unit = if matches!(stack, Stack::Grpc | Stack::Tonic) {
                grpc_unit
            } else {
                unit
            };
            progress(
                &stack.label(),
                format!("{:.0} {unit}s/s, p50 {:.1} µs", r.rate(), r.latency_us(0.5)),
            );
            match stack {
                Stack::Ours => ours.push(r),
                Stack::H2(_) => h2.push(r),
                Stack::Tonic => tonic_runs.push(r),
                _ => grpc_runs.push(r),
            }
        }
    }
    if raw {
        report.add_rate(name, unit, &ours, &h2);
    }
    if grpc {
        let baseline = family.raw().map(|_| (name, unit, &ours[..]));
        report.add_grpc_rate(grpc_name, grpc_unit, &grpc_runs, &tonic_runs, baseline);
    }
    Ok(())
}

fn run_throughput(opts: &Options, report: &mut Report) -> Result<(), BoxError> {
    let (raw, grpc, stacks) = family_stacks(opts, Family::Throughput);
    let (w, warm, bytes) = (opts.workers, opts.transfer_warmup(), opts.transfer_bytes());
    let grpc_stacks = [
        Stack::GrpcStream(64 * 1024),
        Stack::GrpcStream(grpc::MAX_STREAM_MESSAGE),
    ];
    for (direction, name) in [
        (Direction::Upload, "upload"),
        (Direction::Download, "download"),
    ] {
        // gRPC has a download only (server streaming), in two message sizes.
        let stacks: Vec<Stack> = stacks
            .iter()
            .flat_map(|&s| match s {
                Stack::Grpc if direction == Direction::Download => grpc_stacks.to_vec(),
                Stack::Grpc => Vec::new(),
                s => vec![s],
            })
            .filter(|&s| raw || direction == Direction::Download || s != Stack::Ours)
            .collect();
        if stacks.is_empty() {
            continue;
        }
        let what = match (raw, grpc && direction == Direction::Download) {
            (true, true) => "stream_throughput + grpc_server_streaming",
            (true, false) => "stream_throughput",
            _ => "grpc_server_streaming",
        };
        eprintln!("{what} {name} ({} MiB):", opts.size_mib);
        let (mut ours, mut h2, mut h2_large) = (Vec::new(), Vec::new(), Vec::new());
        let mut grpc_runs = vec![Vec::new(); grpc_stacks.len()];
        for repetition in 0..opts.repeat {
            for stack in rotation(&stacks, repetition) {
                let r = match stack {
                    Stack::Ours => on_runtime(w, ours_transfer(direction, warm, bytes))?,
                    Stack::H2(windows) => {
                        on_runtime(w, h2_transfer(windows, direction, warm, bytes))?
                    }
                    Stack::GrpcStream(len) => on_runtime(w, grpc_download(len, warm, bytes))?,
                    Stack::Grpc | Stack::Tonic => continue,
                };
                progress(
                    &format!("{name} {}", stack.label()),
                    format!("{:.0} MB/s", r.mb_per_s()),
                );
                match stack {
                    Stack::Ours => ours.push(r),
                    Stack::H2(Windows::Default) => h2.push(r),
                    Stack::H2(Windows::Large) => h2_large.push(r),
                    Stack::GrpcStream(len) => {
                        let i = grpc_stacks
                            .iter()
                            .position(|&s| s == Stack::GrpcStream(len))
                            .unwrap_or(0);
                        grpc_runs[i].push(r);
                    }
                    Stack::Grpc | Stack::Tonic => {}
                }
            }
        }
        if raw {
            report.add_transfer(name, &ours, H2, &h2, true);
            report.add_transfer(name, &ours, H2_LARGE, &h2_large, false);
        }
        if grpc && direction == Direction::Download {
            for (stack, runs) in grpc_stacks.iter().zip(&grpc_runs) {
                let Stack::GrpcStream(len) = *stack else {
                    continue;
                };
                report.add_grpc_transfer(
                    "grpc_server_streaming",
                    &format!("{} messages", size_label(len)),
                    runs,
                    &ours,
                );
            }
        }
    }
    Ok(())
}

fn run(opts: &Options) -> Result<Report, BoxError> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let mut report = Report::new(Settings {
        duration_s: opts.duration.as_secs_f64(),
        warmup_s: opts.warmup.as_secs_f64(),
        transfer_mib: opts.size_mib,
        workers: opts.workers,
        repeat: opts.repeat,
        quick: opts.quick,
        cores,
        grpc_message_len: grpc::MESSAGE_LEN,
        grpc_in_flight: grpc::CONCURRENCY,
    });
    // Each family once, in the order its first scenario was asked for.
    let mut done = Vec::new();
    for &scenario in &opts.scenarios {
        let family = scenario.family();
        if done.contains(&family) {
            continue;
        }
        done.push(family);
        match family {
            Family::Throughput => run_throughput(opts, &mut report)?,
            _ => run_rate_family(opts, family, &mut report)?,
        }
    }
    Ok(report)
}

fn main() -> ExitCode {
    let opts = match Options::parse(std::env::args().skip(1)) {
        Ok(opts) => opts,
        Err(message) if message.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("transport-bench: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let report = match run(&opts) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("transport-bench: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!();
    print!("{}", report.text());
    match report.write(&opts.out) {
        Ok(()) => {
            eprintln!(
                "\nwrote {} and transport.md",
                opts.out.join("transport.json").display()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("transport-bench: writing {}: {error}", opts.out.display());
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, String> {
        Options::parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn defaults_and_quick() {
        let full = parse(&[]).unwrap();
        assert_eq!(full.duration, Duration::from_secs(3));
        assert_eq!(full.size_mib, 256);
        assert_eq!(full.scenarios, Scenario::ALL);
        assert_eq!(full.repeat, 3);
        let quick = parse(&["--quick", "--duration", "1"]).unwrap();
        assert_eq!(quick.duration, Duration::from_secs(1));
        assert_eq!(quick.size_mib, 16);
        assert_eq!(quick.repeat, 1);
    }

    #[test]
    fn scenario_and_stack_selection() {
        let o = parse(&["--scenario", "unary_rtt", "--only", "ours"]).unwrap();
        assert_eq!(o.scenarios, [Scenario::Unary]);
        assert!(o.run_ours && !o.run_h2);
        assert!(parse(&["--scenario", "nope"]).is_err());
        assert!(parse(&["--duration"]).is_err());
        assert!(parse(&["--size", "0"]).is_err());
        assert_eq!(parse(&["--repeat", "3"]).unwrap().repeat, 3);
        assert!(parse(&["--repeat", "0"]).is_err());
        let o = parse(&["--only", "grpc"]).unwrap();
        assert!(o.run_grpc && !o.run_ours && !o.run_h2);
        let o = parse(&["--only", "tonic"]).unwrap();
        assert!(o.run_tonic && !o.run_grpc && !o.run_ours && !o.run_h2);
        assert!(parse(&["--only", "grpc"]).is_ok_and(|o| !o.run_tonic));
        assert!(parse(&["--only", "nope"]).is_err());
    }

    #[test]
    fn grpc_scenarios_share_their_counterparts_rotation() {
        let stacks = |args: &[&str], family| family_stacks(&parse(args).unwrap(), family);
        let (ours, h2, h2_large) = (
            Stack::Ours,
            Stack::H2(Windows::Default),
            Stack::H2(Windows::Large),
        );
        // Everything: gRPC joins the transport scenario's rotation.
        let (grpc, tonic) = (Stack::Grpc, Stack::Tonic);
        assert_eq!(
            stacks(&[], Family::Unary),
            (true, true, vec![ours, h2, grpc, tonic])
        );
        assert_eq!(
            stacks(&[], Family::Throughput),
            (true, true, vec![ours, h2, h2_large, Stack::Grpc])
        );
        // A gRPC scenario alone brings our raw baseline, not h2.
        let grpc_unary = ["--scenario", "grpc_unary"];
        assert_eq!(
            stacks(&grpc_unary, Family::Unary),
            (false, true, vec![ours, grpc, tonic])
        );
        assert_eq!(
            stacks(&grpc_unary, Family::PingPong),
            (false, false, vec![])
        );
        // No raw counterpart, or --only grpc: no baseline.
        assert_eq!(
            stacks(&[], Family::Concurrent),
            (false, true, vec![grpc, tonic])
        );
        assert_eq!(
            stacks(&["--only", "grpc"], Family::PingPong),
            (true, true, vec![grpc])
        );
        assert_eq!(
            stacks(&["--only", "tonic"], Family::Concurrent),
            (false, true, vec![tonic])
        );
        // tonic has no server-streaming row.
        assert_eq!(
            stacks(&["--only", "tonic"], Family::Throughput),
            (true, false, vec![])
        );
        assert_eq!(
            stacks(&["--only", "h2"], Family::Unary),
            (true, false, vec![h2])
        );
    }

    /// The gRPC scenarios run end to end (briefly: this is `cargo test`, in debug) and
    /// fill their rows, with tonic and the raw baseline beside them.
    #[test]
    fn grpc_scenarios_smoke() {
        let mut args = vec![
            "--quick",
            "--duration",
            "0.05",
            "--warmup",
            "0.01",
            "--size",
            "2",
        ];
        for name in [
            "grpc_unary",
            "grpc_unary_concurrent",
            "grpc_pingpong",
            "grpc_server_streaming",
        ] {
            args.extend(["--scenario", name]);
        }
        let opts = parse(&args).unwrap();
        let report = run(&opts).unwrap();
        assert!(
            report.rows.is_empty(),
            "no transport rows without their scenarios"
        );
        let row = |scenario: &str, metric: &str| {
            report
                .grpc_rows
                .iter()
                .find(|r| r.scenario == scenario && r.metric == metric)
                .unwrap_or_else(|| panic!("no row {scenario} {metric}"))
        };
        for (scenario, metric, baseline, tonic) in [
            ("grpc_unary", "calls/s", true, true),
            ("grpc_unary_concurrent", "calls/s", false, true),
            ("grpc_pingpong", "round trips/s", true, true),
            (
                "grpc_server_streaming",
                "64 KiB messages: MB/s",
                true,
                false,
            ),
            ("grpc_server_streaming", "1 MiB messages: MB/s", true, false),
        ] {
            let r = row(scenario, metric);
            assert!(r.grpc.is_some_and(|v| v > 0.0), "{scenario} {metric}");
            assert_eq!(r.grpc_over_raw.is_some(), baseline, "{scenario} {metric}");
            assert_eq!(
                r.tonic.is_some_and(|v| v > 0.0),
                tonic,
                "{scenario} {metric}"
            );
            assert_eq!(r.vs_tonic.is_some(), tonic, "{scenario} {metric}");
        }
        let allocs = row("grpc_unary", "allocations/call (client+server)");
        assert!(allocs.grpc.is_some_and(|v| v > 0.0));
        assert!(allocs.tonic.is_some_and(|v| v > 0.0));
        assert!(report.text().contains("gRPC/raw"));
    }

    #[test]
    fn rotation_changes_who_goes_first() {
        let stacks = [
            Stack::Ours,
            Stack::H2(Windows::Default),
            Stack::H2(Windows::Large),
        ];
        assert_eq!(rotation(&stacks, 0), stacks);
        assert_eq!(rotation(&stacks, 1)[0], Stack::H2(Windows::Default));
        assert_eq!(rotation(&stacks, 3), stacks);
        assert!(rotation(&[], 1).is_empty());
    }
}
