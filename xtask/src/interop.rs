//! `cargo xtask interop [--quick] [--case NAME]... [--pair CLIENT:SERVER]...`: the interop
//! matrix. Each row is a (client → server, security) pair, each column an interop test case
//! (grpc/doc/interop-test-descriptions.md); a cell is PASS, FAIL, SKIP (the client said it
//! cannot run the case) or — (one side of the pair does not implement the case).
//!
//! The peers: ours (`interop-server`, `interop-client` of the `grpc-interop` crate), grpc-go
//! 1.33's interop server and client, and our grpcio (Python) server and client in
//! `interop/python/`. `cargo xtask install-peers` installs them (cached under
//! `target/peers/`). Every server runs on its own free loopback port, one per row; every case
//! is one client process with a time limit. The table is printed and written to
//! `target/interop/matrix.md`, each run's output to `target/interop/logs/`. Any FAIL fails
//! the command.

use std::fmt::Write as _;
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::peers::{Peers, install_peers, mkdir};
use crate::{path_arg, run, target_dir, workspace_root};

/// The cases our client implements (`interop-client --test_case`); the matrix's columns, in
/// this order.
const OUR_CLIENT_CASES: &[&str] = &[
    "empty_unary",
    "cacheable_unary",
    "large_unary",
    "client_compressed_unary",
    "server_compressed_unary",
    "client_streaming",
    "client_compressed_streaming",
    "server_streaming",
    "server_compressed_streaming",
    "ping_pong",
    "empty_stream",
    "custom_metadata",
    "status_code_and_message",
    "special_status_message",
    "unimplemented_method",
    "unimplemented_service",
    "cancel_after_begin",
    "cancel_after_first_response",
    "timeout_on_sleeping_server",
    "concurrent_large_unary",
    "bearer_token",
];

/// The cases our server supports: all of them.
const OUR_SERVER_CASES: &[&str] = OUR_CLIENT_CASES;

/// grpc-go 1.33's interop client: the cases it passes against itself (the others it knows
/// need Google credentials or a load balancer).
const GO_CLIENT_CASES: &[&str] = &[
    "empty_unary",
    "large_unary",
    "client_streaming",
    "server_streaming",
    "ping_pong",
    "empty_stream",
    "timeout_on_sleeping_server",
    "cancel_after_begin",
    "cancel_after_first_response",
    "status_code_and_message",
    "special_status_message",
    "custom_metadata",
    "unimplemented_method",
    "unimplemented_service",
];

/// grpc-go 1.33's interop server ignores `expect_compressed` and `response_compressed`
/// (interop/test_utils.go) and registers no gzip codec, has no CacheableUnaryCall, and checks
/// no bearer token.
const GO_SERVER_CASES: &[&str] = &[
    "empty_unary",
    "large_unary",
    "client_streaming",
    "server_streaming",
    "ping_pong",
    "empty_stream",
    "custom_metadata",
    "status_code_and_message",
    "special_status_message",
    "unimplemented_method",
    "unimplemented_service",
    "cancel_after_begin",
    "cancel_after_first_response",
    "timeout_on_sleeping_server",
    "concurrent_large_unary",
];

/// `interop/python/interop_client.py`: what grpcio can express (it cannot send a GET, switch
/// compression per message, or see whether a response arrived compressed).
const PYTHON_CLIENT_CASES: &[&str] = &[
    "empty_unary",
    "large_unary",
    "client_compressed_unary",
    "client_streaming",
    "server_streaming",
    "ping_pong",
    "empty_stream",
    "custom_metadata",
    "status_code_and_message",
    "special_status_message",
    "unimplemented_method",
    "unimplemented_service",
    "cancel_after_begin",
    "cancel_after_first_response",
    "timeout_on_sleeping_server",
];

/// `interop/python/interop_server.py`: it cannot tell a compressed request from a plain one
/// (no client_compressed_*), and has no CacheableUnaryCall and no bearer token check.
const PYTHON_SERVER_CASES: &[&str] = &[
    "empty_unary",
    "large_unary",
    "server_compressed_unary",
    "client_streaming",
    "server_streaming",
    "server_compressed_streaming",
    "ping_pong",
    "empty_stream",
    "custom_metadata",
    "status_code_and_message",
    "special_status_message",
    "unimplemented_method",
    "unimplemented_service",
    "cancel_after_begin",
    "cancel_after_first_response",
    "timeout_on_sleeping_server",
    "concurrent_large_unary",
];

/// Cases that only make sense over TLS (a bearer token in the clear is refused).
const TLS_ONLY_CASES: &[&str] = &["bearer_token"];

/// The rows' (client, server) pairs, run plaintext and then over TLS.
const PAIRS: &[(Peer, Peer)] = &[
    (Peer::Ours, Peer::Ours),
    (Peer::Ours, Peer::Go),
    (Peer::Ours, Peer::Python),
    (Peer::Go, Peer::Ours),
    (Peer::Python, Peer::Ours),
];

/// How long one client run (one case) may take.
const CASE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a server may take to accept connections.
const SERVER_START_TIMEOUT: Duration = Duration::from_secs(30);

/// The repository's test TLS files (crates/grpc-transport/tests/data/README.md): `server.pem`
/// is valid for `localhost` and `127.0.0.1`, signed by `ca.pem`.
const TLS_DATA: &str = "crates/grpc-transport/tests/data";
/// The name clients check the server's certificate against.
const TLS_SERVER_NAME: &str = "localhost";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Peer {
    Ours,
    Go,
    Python,
}

impl Peer {
    const ALL: [Peer; 3] = [Peer::Ours, Peer::Go, Peer::Python];

    fn name(self) -> &'static str {
        match self {
            Peer::Ours => "ours",
            Peer::Go => "grpc-go",
            Peer::Python => "python",
        }
    }

    fn client_cases(self) -> &'static [&'static str] {
        match self {
            Peer::Ours => OUR_CLIENT_CASES,
            Peer::Go => GO_CLIENT_CASES,
            Peer::Python => PYTHON_CLIENT_CASES,
        }
    }

    fn server_cases(self) -> &'static [&'static str] {
        match self {
            Peer::Ours => OUR_SERVER_CASES,
            Peer::Go => GO_SERVER_CASES,
            Peer::Python => PYTHON_SERVER_CASES,
        }
    }

    fn parse(name: &str) -> Result<Peer, String> {
        Peer::ALL
            .into_iter()
            .find(|peer| peer.name() == name || (name == "go" && *peer == Peer::Go))
            .ok_or_else(|| format!("unknown peer {name:?} (ours, grpc-go, python)"))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Security {
    Plaintext,
    Tls,
}

impl Security {
    fn name(self) -> &'static str {
        match self {
            Security::Plaintext => "plaintext",
            Security::Tls => "tls",
        }
    }
}

/// One cell of the matrix.
enum Verdict {
    Pass,
    Fail(String),
    Skip(String),
    Unsupported,
}

impl Verdict {
    fn cell(&self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail(_) => "FAIL",
            Verdict::Skip(_) => "SKIP",
            Verdict::Unsupported => "—",
        }
    }
}

struct Row {
    client: Peer,
    server: Peer,
    security: Security,
    cells: Vec<Verdict>,
    logs: PathBuf,
}

impl Row {
    fn label(&self) -> String {
        format!("{} → {}", self.client.name(), self.server.name())
    }
}

struct Options {
    securities: Vec<Security>,
    cases: Vec<&'static str>,
    pairs: Vec<(Peer, Peer)>,
}

const USAGE: &str = "usage: cargo xtask interop [--quick] [--tls | --plaintext] [--case NAME]... \
                     [--pair CLIENT:SERVER]...
  --quick             plaintext rows only
  --tls, --plaintext  only those rows
  --case NAME         only this case (repeatable)
  --pair C:S          only this client → server pair (repeatable; peers: ours, grpc-go, python;
                      pairs outside the default five are allowed)";

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut securities = vec![Security::Plaintext, Security::Tls];
    let mut cases = Vec::new();
    let mut pairs = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag, Some(value.to_owned())),
            None => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next().cloned())
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag {
            "--quick" | "--plaintext" => securities = vec![Security::Plaintext],
            "--tls" => securities = vec![Security::Tls],
            "--case" => {
                for name in value()?.split(',') {
                    let case = all_cases()
                        .into_iter()
                        .find(|case| *case == name)
                        .ok_or_else(|| {
                            format!("unknown case {name:?}; cases: {}", all_cases().join(", "))
                        })?;
                    cases.push(case);
                }
            }
            "--pair" => {
                let pair = value()?;
                let (client, server) = pair
                    .split_once(':')
                    .ok_or_else(|| format!("--pair wants CLIENT:SERVER, got {pair:?}"))?;
                pairs.push((Peer::parse(client)?, Peer::parse(server)?));
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            _ => return Err(format!("unknown option {arg:?}\n{USAGE}")),
        }
    }
    if cases.is_empty() {
        cases = all_cases();
    } else {
        // The table's order, whatever the command line's.
        cases = all_cases()
            .into_iter()
            .filter(|case| cases.contains(case))
            .collect();
    }
    if pairs.is_empty() {
        pairs = PAIRS.to_vec();
    }
    Ok(Options {
        securities,
        cases,
        pairs,
    })
}

/// Every case any client runs, our client's first, in its order.
fn all_cases() -> Vec<&'static str> {
    let mut cases: Vec<&'static str> = Vec::new();
    for peer in Peer::ALL {
        for case in peer.client_cases() {
            if !cases.contains(case) {
                cases.push(case);
            }
        }
    }
    cases
}

fn supported(client: Peer, server: Peer, security: Security, case: &str) -> bool {
    client.client_cases().contains(&case)
        && server.server_cases().contains(&case)
        && (security == Security::Tls || !TLS_ONLY_CASES.contains(&case))
}

/// Where the programs are.
struct Programs {
    peers: Peers,
    our_server: PathBuf,
    our_client: PathBuf,
    python_server: PathBuf,
    python_client: PathBuf,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

pub fn interop(args: &[String]) -> Result<(), String> {
    let started = Instant::now();
    let options = parse_options(args)?;
    let peers = install_peers()?;
    let uses_ours = options
        .pairs
        .iter()
        .any(|(client, server)| *client == Peer::Ours || *server == Peer::Ours);
    if uses_ours {
        run(
            "cargo",
            &["build", "-p", "grpc-interop", "--bins", "--locked"],
        )?;
    }
    let root = workspace_root();
    let debug = target_dir().join("debug");
    let exe = std::env::consts::EXE_SUFFIX;
    let programs = Programs {
        peers,
        our_server: debug.join(format!("interop-server{exe}")),
        our_client: debug.join(format!("interop-client{exe}")),
        python_server: root.join("interop/python/interop_server.py"),
        python_client: root.join("interop/python/interop_client.py"),
        ca: root.join(TLS_DATA).join("ca.pem"),
        cert: root.join(TLS_DATA).join("server.pem"),
        key: root.join(TLS_DATA).join("server.key"),
    };

    let out_dir = target_dir().join("interop");
    let logs = out_dir.join("logs");
    if logs.exists() {
        std::fs::remove_dir_all(&logs)
            .map_err(|e| format!("cannot clear {}: {e}", logs.display()))?;
    }
    let mut rows = Vec::new();
    for &security in &options.securities {
        for &(client, server) in &options.pairs {
            let row_logs = logs.join(format!(
                "{}-{}-{}",
                client.name(),
                server.name(),
                security.name()
            ));
            mkdir(&row_logs)?;
            let row = run_row(
                &programs,
                client,
                server,
                security,
                &options.cases,
                &row_logs,
            )?;
            rows.push(row);
        }
    }

    let report = report(&rows, &options.cases);
    println!("{report}");
    mkdir(&out_dir)?;
    let matrix = out_dir.join("matrix.md");
    std::fs::write(&matrix, &report)
        .map_err(|e| format!("cannot write {}: {e}", matrix.display()))?;
    eprintln!(
        "xtask interop: matrix in {}, logs in {} ({:.0}s)",
        matrix.display(),
        logs.display(),
        started.elapsed().as_secs_f64()
    );
    let failed = rows
        .iter()
        .flat_map(|row| &row.cells)
        .filter(|cell| matches!(cell, Verdict::Fail(_)))
        .count();
    if failed == 0 {
        Ok(())
    } else {
        Err(format!("{failed} interop cases failed"))
    }
}

/// Runs one row: starts the server, runs the client once per case, stops the server.
fn run_row(
    programs: &Programs,
    client: Peer,
    server: Peer,
    security: Security,
    cases: &[&'static str],
    logs: &Path,
) -> Result<Row, String> {
    let mut row = Row {
        client,
        server,
        security,
        cells: Vec::new(),
        logs: logs.to_path_buf(),
    };
    let wanted: Vec<bool> = cases
        .iter()
        .map(|case| supported(client, server, security, case))
        .collect();
    if !wanted.contains(&true) {
        row.cells = cases.iter().map(|_| Verdict::Unsupported).collect();
        return Ok(row);
    }
    eprintln!("xtask interop: {} ({})", row.label(), security.name());
    let port = free_port()?;
    let mut running = start_server(programs, server, security, port, &logs.join("server.log"))?;
    let ready = running.wait_ready(port);
    for (case, wanted) in cases.iter().zip(wanted) {
        let verdict = if !wanted {
            Verdict::Unsupported
        } else if let Err(why) = &ready {
            Verdict::Fail(why.clone())
        } else {
            let verdict = run_case(programs, client, security, port, case, logs)?;
            if let Some(exit) = running.exited() {
                // The server died under this case: say so, and stop the row's other cases
                // from blaming the client.
                let why = format!(
                    "the {} server exited ({exit}) during this case",
                    server.name()
                );
                let verdict = Verdict::Fail(why.clone());
                eprintln!("  {case:<28} FAIL: {why}");
                row.cells.push(verdict);
                running = start_server(programs, server, security, port, &logs.join("server.log"))?;
                running.wait_ready(port)?;
                continue;
            }
            verdict
        };
        match &verdict {
            Verdict::Unsupported => {}
            Verdict::Pass => eprintln!("  {case:<28} PASS"),
            Verdict::Fail(why) | Verdict::Skip(why) => {
                eprintln!("  {case:<28} {}: {why}", verdict.cell());
            }
        }
        row.cells.push(verdict);
    }
    running.stop();
    Ok(row)
}

/// A server process, killed when dropped.
struct Server {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Server {
    /// Waits until `port` accepts a connection, failing if the server exits first.
    fn wait_ready(&mut self, port: u16) -> Result<(), String> {
        let deadline = Instant::now() + SERVER_START_TIMEOUT;
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        loop {
            if let Some(status) = self.exited() {
                return Err(format!(
                    "the {} server exited ({status}) before accepting connections: {}",
                    self.name,
                    last_line(&self.log)
                ));
            }
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the {} server did not accept connections on port {port} within {}s",
                    self.name,
                    SERVER_START_TIMEOUT.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    fn stop(self) {
        // Drop does it.
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(
    programs: &Programs,
    server: Peer,
    security: Security,
    port: u16,
    log: &Path,
) -> Result<Server, String> {
    let mut args = vec![format!("--port={port}")];
    if security == Security::Tls {
        args.extend([
            "--use_tls=true".to_owned(),
            format!("--tls_cert_file={}", path_arg(&programs.cert)?),
            format!("--tls_key_file={}", path_arg(&programs.key)?),
        ]);
    }
    let mut command = peer_command(programs, server, Role::Server)?;
    command.args(&args);
    // Appended to: a server restarted after a crash keeps the first one's output.
    let log_file = File::options()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
    let child = command
        .stdin(Stdio::null())
        .stdout(
            log_file
                .try_clone()
                .map_err(|e| format!("cannot open {}: {e}", log.display()))?,
        )
        .stderr(log_file)
        .spawn()
        .map_err(|e| format!("could not start the {} server: {e}", server.name()))?;
    Ok(Server {
        name: server.name(),
        child,
        log: log.to_path_buf(),
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Server,
    Client,
}

/// The command that starts a peer's server or client, before its flags.
fn peer_command(programs: &Programs, peer: Peer, role: Role) -> Result<Command, String> {
    let program = match (peer, role) {
        (Peer::Ours, Role::Server) => &programs.our_server,
        (Peer::Ours, Role::Client) => &programs.our_client,
        (Peer::Go, Role::Server) => &programs.peers.go_server,
        (Peer::Go, Role::Client) => &programs.peers.go_client,
        (Peer::Python, _) => &programs.peers.python,
    };
    if !program.is_file() {
        return Err(format!("{} is missing", program.display()));
    }
    let mut command = Command::new(program);
    if peer == Peer::Python {
        let script = match role {
            Role::Server => &programs.python_server,
            Role::Client => &programs.python_client,
        };
        command
            .arg(script)
            .env("GRPC_INTEROP_STUBS", &programs.peers.stubs)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONUNBUFFERED", "1");
    }
    Ok(command)
}

/// Runs `client` once for `case` and judges it: grpc-go's client says nothing useful and
/// exits non-zero (log.Fatal) on failure, so its exit status decides; ours and the Python
/// client print `PASS case`, `FAIL case: why` or `SKIP case: why`.
fn run_case(
    programs: &Programs,
    client: Peer,
    security: Security,
    port: u16,
    case: &str,
    logs: &Path,
) -> Result<Verdict, String> {
    let mut args = vec![
        "--server_host=127.0.0.1".to_owned(),
        format!("--server_port={port}"),
        format!("--test_case={case}"),
    ];
    if security == Security::Tls {
        args.extend([
            "--use_tls=true".to_owned(),
            "--use_test_ca=true".to_owned(),
            format!("--ca_file={}", path_arg(&programs.ca)?),
            format!("--server_host_override={TLS_SERVER_NAME}"),
        ]);
    }
    let log = logs.join(format!("{case}.log"));
    let log_file =
        File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let mut command = peer_command(programs, client, Role::Client)?;
    let mut child = command
        .args(&args)
        .stdin(Stdio::null())
        .stdout(
            log_file
                .try_clone()
                .map_err(|e| format!("cannot open {}: {e}", log.display()))?,
        )
        .stderr(log_file)
        .spawn()
        .map_err(|e| format!("could not start the {} client: {e}", client.name()))?;
    let deadline = Instant::now() + CASE_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Ok(Verdict::Fail(format!(
                    "timed out after {}s",
                    CASE_TIMEOUT.as_secs()
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("waiting for the {} client: {e}", client.name())),
        }
    };
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    if client == Peer::Go {
        return Ok(if status.success() {
            Verdict::Pass
        } else {
            Verdict::Fail(format!("{status}: {}", last_line(&log)))
        });
    }
    let verdict_line = |word: &str| {
        output.lines().find_map(|line| {
            let rest = line.trim().strip_prefix(word)?.strip_prefix(' ')?;
            let rest = rest.strip_prefix(case)?;
            if rest.is_empty() {
                Some(String::new())
            } else {
                rest.strip_prefix(':').map(|why| why.trim().to_owned())
            }
        })
    };
    Ok(if let Some(why) = verdict_line("FAIL") {
        Verdict::Fail(why)
    } else if !status.success() {
        Verdict::Fail(format!("{status}: {}", last_line(&log)))
    } else if let Some(why) = verdict_line("SKIP") {
        Verdict::Skip(why)
    } else if verdict_line("PASS").is_some() {
        Verdict::Pass
    } else {
        Verdict::Fail("exited 0 without a PASS line".to_owned())
    })
}

/// The last non-empty line of a log, shortened, for a one-line reason.
fn last_line(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let line = text
        .lines()
        .rev()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or("(no output)");
    if line.chars().count() > 200 {
        let short: String = line.chars().take(200).collect();
        format!("{short}…")
    } else {
        line.to_owned()
    }
}

/// A port that was free a moment ago: bound on 127.0.0.1 by the system, then released (the
/// grpc-go server takes a port number, not a listener).
fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| format!("cannot bind a loopback port: {e}"))?;
    listener
        .local_addr()
        .map(|address| address.port())
        .map_err(|e| format!("cannot read a bound port: {e}"))
}

/// The markdown table, the summary line and the failures.
fn report(rows: &[Row], cases: &[&str]) -> String {
    let mut out = String::new();
    let _ = write!(out, "| client → server | security |");
    for case in cases {
        let _ = write!(out, " {case} |");
    }
    out.push_str("\n|---|---|");
    for _ in cases {
        out.push_str(":-:|");
    }
    out.push('\n');
    for row in rows {
        let _ = write!(out, "| {} | {} |", row.label(), row.security.name());
        for cell in &row.cells {
            let _ = write!(out, " {} |", cell.cell());
        }
        out.push('\n');
    }
    let count = |wanted: fn(&Verdict) -> bool| {
        rows.iter()
            .flat_map(|row| &row.cells)
            .filter(|cell| wanted(cell))
            .count()
    };
    let passed = count(|cell| matches!(cell, Verdict::Pass));
    let failed = count(|cell| matches!(cell, Verdict::Fail(_)));
    let skipped = count(|cell| matches!(cell, Verdict::Skip(_)));
    let _ = writeln!(
        out,
        "\n— = not supported by that pair; SKIP = the client cannot express the case.\n"
    );
    let mut notes = Vec::new();
    for row in rows {
        for (case, cell) in cases.iter().zip(&row.cells) {
            match cell {
                Verdict::Fail(why) | Verdict::Skip(why) => notes.push(format!(
                    "- {} {} ({}) {case}: {why} (log: {}/{case}.log)",
                    cell.cell(),
                    row.label(),
                    row.security.name(),
                    row.logs.display()
                )),
                Verdict::Pass | Verdict::Unsupported => {}
            }
        }
    }
    if !notes.is_empty() {
        out.push_str(&notes.join("\n"));
        out.push_str("\n\n");
    }
    let _ = write!(
        out,
        "interop: {passed} passed, {failed} failed, {skipped} skipped"
    );
    out
}
