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
//! Prints one table and writes it to `target/bench/transport.{json,md}`. See
//! `benches/README.md` for the method and its caveats.

mod counting;
mod ours;
mod peer_h2;
mod report;
mod scenario;

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use counting::CountingAlloc;
use peer_h2::Windows;
use report::{H2, H2_LARGE, Report, Settings};
use scenario::{BoxError, Direction, RateResult, Timing, TransferResult, run_rate, run_transfer};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

const USAGE: &str = "usage: transport-bench [options]
  --duration SECS   measured seconds per rate scenario and stack (default 3)
  --warmup SECS     warm-up seconds before each rate measurement (default 0.5)
  --size MIB        MiB per timed transfer (default 256)
  --scenario NAME   unary_rtt | stream_pingpong | stream_throughput (repeatable; default all)
  --only STACK      ours | h2: run one stack only (for profilers and strace)
  --workers N       tokio worker threads shared by client and server (default 2)
  --repeat N        runs per scenario and stack, interleaved; the median run is reported
                    (default 3; 1 with --quick)
  --quick           short smoke run: 0.3 s, 0.1 s warm-up, 16 MiB transfers, one run
  --out DIR         where transport.json and transport.md go (default <workspace>/target/bench)";

/// The scenarios.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scenario {
    Unary,
    PingPong,
    Throughput,
}

impl Scenario {
    const ALL: [Scenario; 3] = [Scenario::Unary, Scenario::PingPong, Scenario::Throughput];

    fn parse(name: &str) -> Result<Scenario, String> {
        match name {
            "unary_rtt" | "unary" => Ok(Scenario::Unary),
            "stream_pingpong" | "pingpong" => Ok(Scenario::PingPong),
            "stream_throughput" | "throughput" => Ok(Scenario::Throughput),
            other => Err(format!(
                "unknown scenario {other:?} (unary_rtt, stream_pingpong, stream_throughput)"
            )),
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
                        other => return Err(format!("--only: ours or h2, got {other:?}")),
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
            (0.3, 0.1, 16, 200, 1)
        } else {
            (3.0, 0.5, 256, 2000, 3)
        };
        Ok(Options {
            duration: duration.unwrap_or(Duration::from_secs_f64(d)),
            warmup: warmup.unwrap_or(Duration::from_secs_f64(w)),
            size_mib: size_mib.unwrap_or(s),
            scenarios,
            run_ours: only != Some("h2"),
            run_h2: only != Some("ours"),
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

fn progress(what: &str, value: String) {
    eprintln!("  {what:<40} {value}");
}

/// Which stack a run is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stack {
    Ours,
    H2(Windows),
}

impl Stack {
    fn label(self) -> &'static str {
        match self {
            Stack::Ours => "ours",
            Stack::H2(Windows::Default) => H2,
            Stack::H2(Windows::Large) => H2_LARGE,
        }
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

fn run_rate_scenario(
    opts: &Options,
    scenario: Scenario,
    stack: Stack,
) -> Result<RateResult, BoxError> {
    let (w, timing) = (opts.workers, opts.timing());
    match (scenario, stack) {
        (Scenario::Unary, Stack::Ours) => on_runtime(w, ours_unary(timing)),
        (Scenario::Unary, Stack::H2(_)) => on_runtime(w, h2_unary(timing)),
        (_, Stack::Ours) => on_runtime(w, ours_pingpong(timing)),
        (_, Stack::H2(_)) => on_runtime(w, h2_pingpong(timing)),
    }
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
    });
    let w = opts.workers;
    for &scenario in &opts.scenarios {
        match scenario {
            Scenario::Unary | Scenario::PingPong => {
                let (name, unit) = match scenario {
                    Scenario::Unary => ("unary_rtt", "exchange"),
                    _ => ("stream_pingpong", "round trip"),
                };
                eprintln!("{name}:");
                let mut stacks = Vec::new();
                if opts.run_ours {
                    stacks.push(Stack::Ours);
                }
                if opts.run_h2 {
                    stacks.push(Stack::H2(Windows::Default));
                }
                let (mut ours, mut h2) = (Vec::new(), Vec::new());
                for repetition in 0..opts.repeat {
                    for stack in rotation(&stacks, repetition) {
                        let r = run_rate_scenario(opts, scenario, stack)?;
                        progress(
                            stack.label(),
                            format!("{:.0} {unit}s/s, p50 {:.1} µs", r.rate(), r.latency_us(0.5)),
                        );
                        match stack {
                            Stack::Ours => ours.push(r),
                            Stack::H2(_) => h2.push(r),
                        }
                    }
                }
                report.add_rate(name, unit, &ours, &h2);
            }
            Scenario::Throughput => {
                eprintln!("stream_throughput ({} MiB):", opts.size_mib);
                let (warm, bytes) = (opts.transfer_warmup(), opts.transfer_bytes());
                let mut stacks = Vec::new();
                if opts.run_ours {
                    stacks.push(Stack::Ours);
                }
                if opts.run_h2 {
                    stacks.extend([Stack::H2(Windows::Default), Stack::H2(Windows::Large)]);
                }
                for (direction, name) in [
                    (Direction::Upload, "upload"),
                    (Direction::Download, "download"),
                ] {
                    let (mut ours, mut h2, mut h2_large) = (Vec::new(), Vec::new(), Vec::new());
                    for repetition in 0..opts.repeat {
                        for stack in rotation(&stacks, repetition) {
                            let r = match stack {
                                Stack::Ours => {
                                    on_runtime(w, ours_transfer(direction, warm, bytes))?
                                }
                                Stack::H2(windows) => {
                                    on_runtime(w, h2_transfer(windows, direction, warm, bytes))?
                                }
                            };
                            progress(
                                &format!("{name} {}", stack.label()),
                                format!("{:.0} MB/s", r.mb_per_s()),
                            );
                            match stack {
                                Stack::Ours => ours.push(r),
                                Stack::H2(Windows::Default) => h2.push(r),
                                Stack::H2(Windows::Large) => h2_large.push(r),
                            }
                        }
                    }
                    report.add_transfer(name, &ours, H2, &h2, true);
                    report.add_transfer(name, &ours, H2_LARGE, &h2_large, false);
                }
            }
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
