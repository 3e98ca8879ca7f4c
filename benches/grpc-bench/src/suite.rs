//! `grpc-bench suite`: every scenario against every server in one run.
//!
//! All servers start first, each pinned to CPU 0 (`taskset -c 0`); an idle server costs
//! nothing, so they can stay up while another is measured, and each scenario then runs
//! against the servers in turn (interleaved, so a slow minute of the shared machine hurts
//! all of them alike). Every load generator runs pinned to CPU 1. With fewer than two CPUs
//! or no `taskset`, nothing is pinned and the report says so.
//!
//! Per server: resident memory at start and with 1,000 idle connections (opened by our
//! client, one call each), the unary scenarios under h2load, our client and tonic's, the
//! streaming scenarios under both clients, allocations and system calls per unary call
//! (the counting allocator in our binaries, Go's `runtime.MemStats.Mallocs` in grpc-go's;
//! `perf stat -e raw_syscalls:sys_enter` attached to the server), and resident memory after
//! the throughput runs.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::h2load::H2loadRun;
use crate::load::LoadResult;
use crate::report::{Report, Row, Settings};
use crate::{BoxError, Flags};

/// CPU the servers are pinned to, and the one the load generators use.
const SERVER_CPU: usize = 0;
const LOAD_CPU: usize = 1;

/// The grpc_bench-style throughput shape: 50 connections, 1,000 calls in flight.
pub(crate) const THROUGHPUT_CONNECTIONS: usize = 50;
pub(crate) const THROUGHPUT_IN_FLIGHT: usize = 1000;
/// Idle connections for the memory measurement.
const IDLE_CONNECTIONS: usize = 1000;
/// Unary payload sizes: grpc_bench's small message, 1 KiB and 10 KiB.
pub(crate) const UNARY_SIZES: &[usize] = &[180, 1024, 10 * 1024];
/// Server-streaming message sizes.
const STREAM_SIZES: &[usize] = &[64 * 1024, 1024 * 1024];
/// The large unary message, each way.
const LARGE_SIZE: usize = 64 * 1024 * 1024;
/// `/proc/<pid>/stat` counts CPU time in these (USER_HZ, 100 on every Linux we run).
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;
/// Calls counted for allocations and system calls per call.
const COUNTED_CALLS: u64 = 20_000;

/// `grpc-bench suite` settings.
#[derive(Clone, Debug)]
pub(crate) struct SuiteArgs {
    quick: bool,
    warmup: f64,
    duration: f64,
    out: PathBuf,
    go_server: Option<PathBuf>,
    h2load: Option<PathBuf>,
    only: Vec<String>,
    no_pin: bool,
    repeat: usize,
}

impl SuiteArgs {
    pub(crate) fn parse(flags: &mut Flags) -> Result<SuiteArgs, BoxError> {
        let quick = flags.switch("--quick");
        Ok(SuiteArgs {
            quick,
            warmup: flags
                .parsed("--warmup")?
                .unwrap_or(if quick { 0.1 } else { 1.0 }),
            duration: flags
                .parsed("--duration")?
                .unwrap_or(if quick { 0.3 } else { 3.0 }),
            out: flags
                .value("--out")?
                .map_or_else(|| PathBuf::from("target/bench"), PathBuf::from),
            go_server: flags.value("--go-server")?.map(PathBuf::from),
            h2load: flags.value("--h2load")?.map(PathBuf::from),
            only: flags
                .values("--only")?
                .iter()
                .flat_map(|names| names.split(',').map(str::to_owned).collect::<Vec<_>>())
                .collect(),
            no_pin: flags.switch("--no-pin"),
            repeat: flags.parsed("--repeat")?.unwrap_or(1).max(1),
        })
    }
}

/// A server process speaking the stdin protocol of `server.rs`.
struct ServerProc {
    name: &'static str,
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    addr: SocketAddr,
    /// Whether it understands `alloc on` / `alloc off` (grpc-go's counts all the time).
    switchable_alloc: bool,
}

/// What a server reports on `stats`.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub(crate) struct ServerStats {
    pub(crate) allocations: u64,
    pub(crate) allocated_bytes: u64,
    pub(crate) rss_bytes: u64,
    /// Heap allocated and not freed while counting was on (our binaries only).
    #[serde(default)]
    pub(crate) live_heap_bytes: Option<i64>,
}

impl ServerProc {
    fn spawn(
        name: &'static str,
        program: &Path,
        args: &[&str],
        cpu: Option<usize>,
        switchable_alloc: bool,
    ) -> Result<ServerProc, BoxError> {
        let mut command = pinned(program, cpu);
        command
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn().map_err(|error| {
            format!(
                "starting the {name} server ({}): {error}",
                program.display()
            )
        })?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let mut stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let addr = line
            .trim()
            .strip_prefix("listening ")
            .ok_or_else(|| format!("the {name} server said {line:?}, not `listening ADDR`"))?
            .parse()?;
        Ok(ServerProc {
            name,
            child,
            stdin,
            stdout,
            addr,
            switchable_alloc,
        })
    }

    fn command(&mut self, command: &str) -> Result<String, BoxError> {
        writeln!(self.stdin, "{command}")?;
        self.stdin.flush()?;
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            return Err(format!("the {} server exited", self.name).into());
        }
        Ok(line.trim().to_owned())
    }

    fn stats(&mut self) -> Result<ServerStats, BoxError> {
        let line = self.command("stats")?;
        Ok(serde_json::from_str(&line)
            .map_err(|error| format!("{} stats {line:?}: {error}", self.name))?)
    }

    fn set_alloc_counting(&mut self, on: bool) -> Result<(), BoxError> {
        if self.switchable_alloc {
            self.command(if on { "alloc on" } else { "alloc off" })?;
        }
        Ok(())
    }

    /// User plus system CPU time the process has used, in clock ticks.
    fn cpu_ticks(&self) -> u64 {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())) else {
            return 0;
        };
        // Fields after the command name (which may hold spaces) start after the last ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
            return 0;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the whole line: 12 and 13 here.
        let ticks = |at: usize| {
            fields
                .get(at)
                .and_then(|field| field.parse::<u64>().ok())
                .unwrap_or(0)
        };
        ticks(11) + ticks(12)
    }

    fn stop(mut self) {
        drop(self.stdin);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `program` under `taskset -c CPU` when pinning.
pub(crate) fn pinned(program: &Path, cpu: Option<usize>) -> Command {
    match cpu {
        Some(cpu) => {
            let mut command = Command::new("taskset");
            command.arg("-c").arg(cpu.to_string()).arg(program);
            command
        }
        None => Command::new(program),
    }
}

/// Which load generator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Generator {
    H2load,
    Ours,
    Tonic,
}

impl Generator {
    fn name(self) -> &'static str {
        match self {
            Generator::H2load => "h2load",
            Generator::Ours => "our client",
            Generator::Tonic => "tonic client",
        }
    }
}

/// One row of the plan: a scenario under one generator, run against each server.
struct Planned {
    id: String,
    title: String,
    generator: Generator,
    scenario: &'static str,
    size: usize,
    connections: usize,
    in_flight: usize,
    /// Servers this cannot run against (grpc-go 1.33 has no StreamingFromServer).
    skip: &'static [&'static str],
}

fn plan(quick: bool) -> Vec<Planned> {
    let mut plan = Vec::new();
    for &size in UNARY_SIZES {
        let label = size_label(size);
        for (shape, connections, in_flight) in [
            ("1x1", 1, 1),
            ("50x1000", THROUGHPUT_CONNECTIONS, THROUGHPUT_IN_FLIGHT),
        ] {
            for generator in [Generator::H2load, Generator::Ours, Generator::Tonic] {
                plan.push(Planned {
                    id: format!("unary_{label}_{shape}"),
                    title: format!(
                        "unary {label}, {connections} conn x {} in flight",
                        in_flight / connections
                    ),
                    generator,
                    scenario: "unary",
                    size,
                    connections,
                    in_flight,
                    skip: &[],
                });
            }
        }
    }
    for generator in [Generator::Ours, Generator::Tonic] {
        plan.push(Planned {
            id: "pingpong_180B".into(),
            title: "bidi ping-pong 180 B, 1 stream".into(),
            generator,
            scenario: "pingpong",
            size: 180,
            connections: 1,
            in_flight: 1,
            skip: &[],
        });
    }
    for &size in STREAM_SIZES {
        for generator in [Generator::Ours, Generator::Tonic] {
            plan.push(Planned {
                id: format!("stream_{}", size_label(size)),
                title: format!("server streaming {} messages, 1 stream", size_label(size)),
                generator,
                scenario: "stream",
                size,
                connections: 1,
                in_flight: 1,
                skip: &["grpc-go"],
            });
        }
    }
    let large = if quick { 4 * 1024 * 1024 } else { LARGE_SIZE };
    for generator in [Generator::Ours, Generator::Tonic] {
        plan.push(Planned {
            id: format!("large_{}", size_label(large)),
            title: format!("unary {} each way, 1 at a time", size_label(large)),
            generator,
            scenario: "large",
            size: large,
            connections: 1,
            in_flight: 1,
            skip: &[],
        });
    }
    plan
}

/// `180B`, `1KiB`, `64MiB`.
pub(crate) fn size_label(size: usize) -> String {
    if size >= 1024 * 1024 && size % (1024 * 1024) == 0 {
        format!("{}MiB", size / (1024 * 1024))
    } else if size >= 1024 && size % 1024 == 0 {
        format!("{}KiB", size / 1024)
    } else {
        format!("{size}B")
    }
}

/// Runs the suite and writes the report.
pub(crate) fn run(args: SuiteArgs) -> Result<(), BoxError> {
    let exe = std::env::current_exe()?;
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let pin = !args.no_pin && cpus >= 2 && program_exists("taskset");
    let (server_cpu, load_cpu) = if pin {
        (Some(SERVER_CPU), Some(LOAD_CPU))
    } else {
        (None, None)
    };
    let h2load = args
        .h2load
        .clone()
        .or_else(|| program_exists("h2load").then(|| PathBuf::from("h2load")));
    std::fs::create_dir_all(&args.out)?;
    let scratch = args.out.join("scratch");
    std::fs::create_dir_all(&scratch)?;
    let wanted = |name: &str| args.only.is_empty() || args.only.iter().any(|only| only == name);

    let mut servers = Vec::new();
    let exe_str = exe.to_string_lossy().into_owned();
    if wanted("ours") {
        servers.push(ServerProc::spawn(
            "ours",
            &exe,
            &["server", "--stack", "ours"],
            server_cpu,
            true,
        )?);
    }
    if wanted("tonic") {
        servers.push(ServerProc::spawn(
            "tonic",
            &exe,
            &["server", "--stack", "tonic"],
            server_cpu,
            true,
        )?);
    }
    let mut notes = Vec::new();
    if wanted("grpc-go") {
        match &args.go_server {
            Some(go) if go.exists() => servers.push(ServerProc::spawn("grpc-go", go, &["-addr", "127.0.0.1:0"], server_cpu, false)?),
            _ => notes.push("grpc-go's server was not given (--go-server) or not built: its column is empty. `cargo xtask bench` builds it.".to_owned()),
        }
    }
    if h2load.is_none() {
        notes.push(
            "h2load is not installed: its rows are empty (`cargo xtask install-tools`).".to_owned(),
        );
    }
    if !pin {
        notes.push(format!(
            "Not pinned ({cpus} CPU(s) or no taskset): servers and load generators share the CPUs."
        ));
    }
    eprintln!(
        "grpc-bench suite: servers {} ({}), load generators {}",
        servers
            .iter()
            .map(|server| format!("{} on {}", server.name, server.addr))
            .collect::<Vec<_>>()
            .join(", "),
        server_cpu.map_or("unpinned".into(), |cpu| format!("CPU {cpu}")),
        load_cpu.map_or("unpinned".into(), |cpu| format!("CPU {cpu}"))
    );

    let mut report = Report::new(Settings {
        warmup_secs: args.warmup,
        duration_secs: args.duration,
        repeat: args.repeat,
        pinned: pin,
        cpus,
        servers: servers
            .iter()
            .map(|server| server.name.to_owned())
            .collect(),
        notes,
    });

    // Memory: at start, then holding 1,000 idle connections.
    for server in &mut servers {
        let idle = if args.quick { 50 } else { IDLE_CONNECTIONS };
        server.set_alloc_counting(true)?;
        let start = server.stats()?;
        let held = hold_idle(&exe_str, server.addr, idle, load_cpu)?;
        std::thread::sleep(Duration::from_millis(300));
        let with_idle = server.stats()?;
        server.set_alloc_counting(false)?;
        drop(held);
        let memory = report.memory_mut(server.name);
        memory.start_rss = start.rss_bytes;
        memory.idle_connections = idle as u64;
        memory.idle_rss = with_idle.rss_bytes;
        memory.idle_heap_per_connection = start
            .live_heap_bytes
            .zip(with_idle.live_heap_bytes)
            .map(|(before, after)| (after - before) as f64 / idle as f64);
        eprintln!(
            "  {:8} rss {:.1} MiB at start, {:.1} MiB with {idle} idle connections",
            server.name,
            start.rss_bytes as f64 / 1048576.0,
            with_idle.rss_bytes as f64 / 1048576.0
        );
    }

    for planned in plan(args.quick) {
        if planned.generator == Generator::H2load && h2load.is_none() {
            continue;
        }
        let mut row = Row::new(
            &planned.id,
            &planned.title,
            planned.generator.name(),
            planned.scenario,
        );
        for server in &mut servers {
            if planned.skip.contains(&server.name) {
                row.skipped(server.name, "not implemented by this server");
                continue;
            }
            let mut runs = Vec::new();
            for _ in 0..args.repeat {
                let ticks_before = server.cpu_ticks();
                let run_started = Instant::now();
                let outcome = match planned.generator {
                    Generator::H2load => H2loadRun {
                        program: h2load.clone().ok_or("no h2load")?,
                        target: server.addr,
                        size: planned.size,
                        connections: planned.connections,
                        streams: planned.in_flight / planned.connections,
                        warmup_secs: args.warmup,
                        duration_secs: args.duration,
                        scratch: scratch.join(format!("{}-{}", planned.id, server.name)),
                        cpu: load_cpu,
                    }
                    .run(),
                    Generator::Ours | Generator::Tonic => run_load(
                        &exe_str,
                        &LoadSpec {
                            stack: if planned.generator == Generator::Ours {
                                "ours"
                            } else {
                                "tonic"
                            },
                            target: server.addr,
                            scenario: planned.scenario,
                            size: planned.size,
                            connections: planned.connections,
                            in_flight: planned.in_flight,
                            warmup: args.warmup,
                            duration: args.duration,
                            calls: None,
                        },
                        load_cpu,
                    ),
                };
                // Server CPU over the whole run (connecting and warm-up included), as a
                // share of one core.
                let cpu = server.cpu_ticks().saturating_sub(ticks_before) as f64
                    / CLOCK_TICKS_PER_SECOND
                    / run_started.elapsed().as_secs_f64();
                match outcome {
                    Ok(result) => runs.push((result, cpu)),
                    Err(error) => {
                        eprintln!(
                            "  {} {} vs {}: FAILED: {error}",
                            planned.id,
                            planned.generator.name(),
                            server.name
                        );
                        row.failed(server.name, &error.to_string());
                    }
                }
            }
            if let Some((result, cpu)) = median_by_rate(runs) {
                eprintln!(
                    "  {:22} {:12} -> {:8}: {:>10.0}/s  p50 {:>8.1} µs  p99 {:>8.1} µs  {:>8.1} MB/s{}",
                    planned.id,
                    planned.generator.name(),
                    server.name,
                    result.rate,
                    result.p50_us,
                    result.p99_us,
                    result.mb_per_s,
                    if result.errors > 0 {
                        format!("  ({} errors)", result.errors)
                    } else {
                        String::new()
                    }
                );
                row.measured(server.name, result, cpu);
            }
        }
        report.push(row);
    }

    // The floor under the 1x1 latencies: a plain TCP echo between the same CPUs.
    let floor = ServerProc::spawn("tcp", &exe, &["server", "--stack", "tcp"], server_cpu, true)?;
    let spec = LoadSpec {
        stack: "tcp",
        target: floor.addr,
        scenario: "unary",
        size: 180,
        connections: 1,
        in_flight: 1,
        warmup: args.warmup,
        duration: args.duration,
        calls: None,
    };
    match run_load(&exe_str, &spec, load_cpu) {
        Ok(result) => {
            eprintln!(
                "  tcp echo floor 180 B 1x1: {:.0}/s  p50 {:.1} µs  p99 {:.1} µs",
                result.rate, result.p50_us, result.p99_us
            );
            report.tcp_floor = Some(result);
        }
        Err(error) => eprintln!("  tcp echo floor: FAILED: {error}"),
    }
    floor.stop();

    // After the throughput runs: resident memory, then allocations and syscalls per call.
    for server in &mut servers {
        let after = server.stats()?;
        report.memory_mut(server.name).after_load_rss = after.rss_bytes;
        let calls = if args.quick { 2_000 } else { COUNTED_CALLS };
        for (shape, connections, in_flight) in [
            ("1x1", 1, 1),
            ("50x1000", THROUGHPUT_CONNECTIONS, THROUGHPUT_IN_FLIGHT),
        ] {
            for stack in ["ours", "tonic"] {
                // A warm-up run first, so one-time costs stay out of the counts.
                let spec = LoadSpec {
                    stack,
                    target: server.addr,
                    scenario: "unary",
                    size: 180,
                    connections,
                    in_flight,
                    warmup: 0.0,
                    duration: 0.0,
                    calls: Some(calls / 10),
                };
                run_load(&exe_str, &spec, load_cpu)?;
                server.set_alloc_counting(true)?;
                let before = server.stats()?;
                let syscalls = SyscallCounter::attach(
                    server.child.id(),
                    &scratch.join(format!("perf-{}-{shape}-{stack}", server.name)),
                );
                let counted = run_load_counting(
                    &exe_str,
                    &LoadSpec {
                        calls: Some(calls),
                        ..spec
                    },
                    load_cpu,
                );
                let syscalls = syscalls.and_then(SyscallCounter::finish);
                let after = server.stats()?;
                server.set_alloc_counting(false)?;
                let client = counted?;
                // The load generator also makes 10 warm-up calls per connection (and sets
                // its connections up) while the server counts.
                let server_calls = calls + 10 * connections as u64;
                let costs = report.costs_mut(server.name, shape, stack);
                costs.server_allocations_per_call =
                    (after.allocations - before.allocations) as f64 / server_calls as f64;
                costs.server_allocated_bytes_per_call =
                    (after.allocated_bytes - before.allocated_bytes) as f64 / server_calls as f64;
                costs.server_syscalls_per_call = syscalls
                    .ok()
                    .map(|count| count as f64 / server_calls as f64);
                costs.client_allocations_per_call = client.allocations_per_call.unwrap_or(0.0);
                costs.client_allocated_bytes_per_call =
                    client.allocated_bytes_per_call.unwrap_or(0.0);
                eprintln!(
                    "  costs {:8} {shape:8} {stack:6} client: server {:.1} allocs {:.0} B, {} syscalls/call; client {:.1} allocs",
                    server.name,
                    costs.server_allocations_per_call,
                    costs.server_allocated_bytes_per_call,
                    costs
                        .server_syscalls_per_call
                        .map_or("?".into(), |count| format!("{count:.2}")),
                    costs.client_allocations_per_call
                );
            }
        }
    }
    for server in servers {
        server.stop();
    }
    report.write(&args.out)?;
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

/// The median run by rate (runs are repeated with `--repeat`).
fn median_by_rate(mut runs: Vec<(LoadResult, f64)>) -> Option<(LoadResult, f64)> {
    if runs.is_empty() {
        return None;
    }
    runs.sort_by(|a, b| a.0.rate.total_cmp(&b.0.rate));
    let middle = runs.len() / 2;
    Some(runs.swap_remove(middle))
}

fn program_exists(name: &str) -> bool {
    Command::new(name)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// One `grpc-bench load` invocation.
#[derive(Clone, Copy, Debug)]
struct LoadSpec<'a> {
    stack: &'a str,
    target: SocketAddr,
    scenario: &'a str,
    size: usize,
    connections: usize,
    in_flight: usize,
    warmup: f64,
    duration: f64,
    calls: Option<u64>,
}

fn load_command(exe: &str, spec: &LoadSpec<'_>, cpu: Option<usize>) -> Command {
    let mut command = pinned(Path::new(exe), cpu);
    command.args(["load", "--stack", spec.stack, "--scenario", spec.scenario]);
    command.arg("--target").arg(spec.target.to_string());
    command.arg("--size").arg(spec.size.to_string());
    command
        .arg("--connections")
        .arg(spec.connections.to_string());
    command.arg("--in-flight").arg(spec.in_flight.to_string());
    command.arg("--warmup").arg(spec.warmup.to_string());
    command.arg("--duration").arg(spec.duration.to_string());
    if let Some(calls) = spec.calls {
        command.arg("--calls").arg(calls.to_string());
    }
    command
}

fn run_load(exe: &str, spec: &LoadSpec<'_>, cpu: Option<usize>) -> Result<LoadResult, BoxError> {
    read_result(load_command(exe, spec, cpu))
}

fn run_load_counting(
    exe: &str,
    spec: &LoadSpec<'_>,
    cpu: Option<usize>,
) -> Result<LoadResult, BoxError> {
    let mut command = load_command(exe, spec, cpu);
    command.arg("--count-allocs");
    read_result(command)
}

fn read_result(mut command: Command) -> Result<LoadResult, BoxError> {
    let output = command.stderr(Stdio::piped()).output()?;
    if !output.status.success() {
        return Err(format!(
            "load generator failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )
        .into());
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .last()
        .ok_or("the load generator printed nothing")?;
    let result: LoadResult = serde_json::from_str(line)?;
    if result.errors > 0 && result.calls == 0 {
        return Err(format!(
            "every call failed: {}",
            result.first_error.unwrap_or_default()
        )
        .into());
    }
    Ok(result)
}

/// Holds idle connections (`grpc-bench idle`) until dropped.
struct IdleHolder(Child);

impl Drop for IdleHolder {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

fn hold_idle(
    exe: &str,
    target: SocketAddr,
    connections: usize,
    cpu: Option<usize>,
) -> Result<IdleHolder, BoxError> {
    let mut command = pinned(Path::new(exe), cpu);
    command
        .args([
            "idle",
            "--target",
            &target.to_string(),
            "--connections",
            &connections.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut child = command.spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let holder = IdleHolder(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    if line.trim() != "ready" {
        return Err(format!("the idle-connection holder said {line:?}").into());
    }
    Ok(holder)
}

/// `perf stat -e raw_syscalls:sys_enter` attached to a process, counting every system call
/// its threads make until stopped.
struct SyscallCounter {
    perf: Child,
    output: PathBuf,
}

impl SyscallCounter {
    fn attach(pid: u32, output: &Path) -> Result<SyscallCounter, BoxError> {
        let perf = Command::new("perf")
            .args(["stat", "-x", ",", "-e", "raw_syscalls:sys_enter", "-o"])
            .arg(output)
            .arg("-p")
            .arg(pid.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        // perf needs a moment to attach to every thread.
        std::thread::sleep(Duration::from_millis(300));
        Ok(SyscallCounter {
            perf,
            output: output.to_owned(),
        })
    }

    fn finish(mut self) -> Result<u64, BoxError> {
        Command::new("kill")
            .args(["-INT", &self.perf.id().to_string()])
            .status()?;
        self.perf.wait()?;
        let text = std::fs::read_to_string(&self.output)?;
        text.lines()
            .find(|line| line.contains("raw_syscalls:sys_enter"))
            .and_then(|line| line.split(',').next())
            .and_then(|count| count.trim().parse().ok())
            .ok_or_else(|| format!("no syscall count in perf's output: {text}").into())
    }
}

/// Per-server summaries the report keeps beside the rows.
pub(crate) type PerServer<T> = BTreeMap<String, T>;
