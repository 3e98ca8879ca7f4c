//! Interop of our HTTP/2 stack with nghttp2's tools, an implementation we did not write:
//!
//! - their clients against our server: `nghttp` (one request, every frame printed) and
//!   `h2load` (thousands of requests over several connections, many concurrent streams each),
//!   against the `h2_server` example, in h2c (prior knowledge) and in TLS with ALPN `h2`;
//! - our client against their server: the `h2_client` example against `nghttpd`.
//!
//! The examples are found beside this test binary (`target/<profile>/examples/`), where
//! `cargo test --workspace --all-targets` (so `cargo xtask test`) builds them. The nghttp2
//! tools come from Debian's `nghttp2-client` and `nghttp2-server`, which `cargo xtask test`
//! installs; if they are missing the tests fail rather than skip.
//!
//! Neither `nghttp` nor `h2load` reports a failed request in its exit status (both exit 0
//! after a refused connection or a 404), so every check here reads their output.
//!
//! The TLS files in `tests/data/` are a test CA and a server certificate for `localhost` and
//! `127.0.0.1` (see `tests/data/README.md`). Every server listens on 127.0.0.1 on a port of its
//! own, so the tests run in parallel.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long a server may take to start listening.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one client run (nghttp, h2load, h2_client) may take before it is killed.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);
/// Size of the larger bodies: above the 65,535-octet initial flow-control window and above
/// the 16,384-octet default maximum frame size, so WINDOW_UPDATE and several DATA frames are
/// needed. An odd number, so it cannot be mistaken for another number in the output.
const LARGE_BODY_LEN: usize = 100_003;

// ---------------------------------------------------------------------------------------------
// nghttp against our server

#[test]
fn nghttp_plaintext_get_returns_200_with_a_body() {
    let nghttp = tool("nghttp");
    let server = OurServer::start(Tls::No);
    let url = format!("http://127.0.0.1:{}/", server.port);
    // -n discards the body (it would be interleaved with the frame log), -v prints frames.
    // nghttp 1.52 first sends PRIORITY frames for the idle streams 3, 5, 7, 9 and 11 (RFC 7540
    // priority-tree anchors), then its request on stream 13 with the PRIORITY flag set: our
    // server must take both in its stride.
    let run = run_with_timeout(Command::new(nghttp).args(["-nv", &url]));
    let response = NghttpOutput::parse(&run);
    response.assert_ok(200, &server);
    assert!(
        response.data_bytes > 0,
        "expected a non-empty response body\n{run}\n{}",
        server.logs()
    );
}

#[test]
fn nghttp_plaintext_post_with_a_small_body_returns_200() {
    let nghttp = tool("nghttp");
    let server = OurServer::start(Tls::No);
    let body = write_scratch_file("post_small", "body.txt", b"hello from nghttp\n");
    let url = format!("http://127.0.0.1:{}/echo", server.port);
    let run = run_with_timeout(
        Command::new(&nghttp)
            .arg("-nv")
            .arg("-d")
            .arg(&body)
            .arg(&url),
    );
    let response = NghttpOutput::parse(&run);
    assert!(
        run.stdout.contains(":method: POST"),
        "nghttp did not send a POST\n{run}"
    );
    response.assert_ok(200, &server);
    assert!(
        response.data_bytes > 0,
        "expected a non-empty response body\n{run}"
    );
}

#[test]
fn nghttp_plaintext_post_larger_than_the_flow_control_window_returns_200() {
    // nghttp can send only 65,535 octets until our server sends WINDOW_UPDATE: a server that
    // forgets to replenish the window makes this test time out.
    let nghttp = tool("nghttp");
    let server = OurServer::start(Tls::No);
    let body = write_scratch_file("post_large", "body.bin", &large_body());
    let url = format!("http://127.0.0.1:{}/upload", server.port);
    let run = run_with_timeout(
        Command::new(&nghttp)
            .arg("-nv")
            .arg("-d")
            .arg(&body)
            .arg(&url),
    );
    let response = NghttpOutput::parse(&run);
    response.assert_ok(200, &server);
    assert_eq!(
        response.data_bytes_sent, LARGE_BODY_LEN,
        "nghttp did not send the whole request body\n{run}"
    );
}

#[test]
fn nghttp_tls_get_negotiates_h2_with_alpn_and_returns_200() {
    let nghttp = tool("nghttp");
    let server = OurServer::start(Tls::Yes);
    // nghttp does not verify the certificate unless told where the CA is (next test), and it
    // sends no SNI for an IP address.
    let url = format!("https://127.0.0.1:{}/", server.port);
    let run = run_with_timeout(Command::new(&nghttp).args(["-nv", &url]));
    let response = NghttpOutput::parse(&run);
    assert_eq!(
        response.negotiated_protocol.as_deref(),
        Some("h2"),
        "ALPN did not select h2\n{run}\n{}",
        server.logs()
    );
    response.assert_ok(200, &server);
    assert!(
        response.data_bytes > 0,
        "expected a non-empty response body\n{run}"
    );
}

#[test]
fn nghttp_tls_trusts_our_server_certificate_for_localhost() {
    let nghttp = tool("nghttp");
    let server = OurServer::start(Tls::Yes);
    // OpenSSL's default verify paths honour SSL_CERT_FILE: with our CA there, nghttp warns
    // only if the chain or the name is wrong. `localhost` also makes nghttp send SNI.
    let url = format!("https://localhost:{}/", server.port);
    let run = run_with_timeout(
        Command::new(&nghttp)
            .args(["-nv", &url])
            .env("SSL_CERT_FILE", test_data("ca.pem")),
    );
    assert!(
        !run.stdout.contains("Certificate verification failed")
            && !run.stderr.contains("Certificate verification failed"),
        "nghttp could not verify our server's certificate against tests/data/ca.pem\n{run}"
    );
    NghttpOutput::parse(&run).assert_ok(200, &server);
}

// ---------------------------------------------------------------------------------------------
// h2load against our server

#[test]
fn h2load_many_streams_plaintext_all_succeed() {
    let h2load = tool("h2load");
    let server = OurServer::start(Tls::No);
    let url = format!("http://127.0.0.1:{}/", server.port);
    let summary = run_h2load(&h2load, &url);
    summary.assert_all_succeeded(2000, &server);
    assert_eq!(summary.protocol.as_deref(), Some("h2c"), "{}", summary.run);
}

#[test]
fn h2load_many_streams_tls_all_succeed() {
    let h2load = tool("h2load");
    let server = OurServer::start(Tls::Yes);
    let url = format!("https://127.0.0.1:{}/", server.port);
    let summary = run_h2load(&h2load, &url);
    summary.assert_all_succeeded(2000, &server);
    assert_eq!(summary.protocol.as_deref(), Some("h2"), "{}", summary.run);
}

// ---------------------------------------------------------------------------------------------
// our client against nghttpd

#[test]
fn our_client_against_nghttpd_plaintext_fetches_files() {
    let h2_client = example("h2_client");
    let docroot = make_docroot("client_plaintext");
    let server = Nghttpd::start(&docroot, Tls::No);
    for (file, len) in [
        ("small.txt", SMALL_BODY.len()),
        ("large.bin", LARGE_BODY_LEN),
    ] {
        let url = format!("http://127.0.0.1:{}/{file}", server.port);
        let run = run_with_timeout(Command::new(&h2_client).arg(&url));
        assert_fetched(&run, &url, len, &server.guard);
    }
}

#[test]
fn our_client_against_nghttpd_tls_fetches_files() {
    let h2_client = example("h2_client");
    let docroot = make_docroot("client_tls");
    let server = Nghttpd::start(&docroot, Tls::Yes);
    for (file, len) in [
        ("small.txt", SMALL_BODY.len()),
        ("large.bin", LARGE_BODY_LEN),
    ] {
        // The certificate names localhost: our client must verify it against the test CA.
        let url = format!("https://localhost:{}/{file}", server.port);
        let run = run_with_timeout(
            Command::new(&h2_client)
                .arg(&url)
                .arg("--ca")
                .arg(test_data("ca.pem")),
        );
        assert_fetched(&run, &url, len, &server.guard);
    }
}

#[test]
fn our_client_against_nghttpd_plaintext_exits_nonzero_on_404() {
    let h2_client = example("h2_client");
    let docroot = make_docroot("client_404_plaintext");
    let server = Nghttpd::start(&docroot, Tls::No);
    let url = format!("http://127.0.0.1:{}/missing", server.port);
    let run = run_with_timeout(Command::new(&h2_client).arg(&url));
    assert_not_found(&run, &url);
}

#[test]
fn our_client_against_nghttpd_tls_exits_nonzero_on_404() {
    let h2_client = example("h2_client");
    let docroot = make_docroot("client_404_tls");
    let server = Nghttpd::start(&docroot, Tls::Yes);
    let url = format!("https://localhost:{}/missing", server.port);
    let run = run_with_timeout(
        Command::new(&h2_client)
            .arg(&url)
            .arg("--ca")
            .arg(test_data("ca.pem")),
    );
    assert_not_found(&run, &url);
}

/// `h2_client` prints the status and the body length: both must appear as numbers of their
/// own in its output, and it must exit 0.
fn assert_fetched(run: &RunOutput, url: &str, len: usize, server: &Guarded) {
    assert!(
        run.status.success(),
        "h2_client {url} failed\n{run}\n{}",
        server.logs()
    );
    let numbers = numbers_in(&run.stdout);
    assert!(
        numbers.contains(&200),
        "h2_client {url} did not print status 200\n{run}"
    );
    assert!(
        numbers.contains(&(len as u64)),
        "h2_client {url} did not print the body length {len}\n{run}"
    );
}

fn assert_not_found(run: &RunOutput, url: &str) {
    assert!(
        !run.status.success(),
        "h2_client {url} exited 0 although nghttpd answers 404\n{run}"
    );
    assert!(
        numbers_in(&run.stdout).contains(&404) || numbers_in(&run.stderr).contains(&404),
        "h2_client {url} did not print status 404\n{run}"
    );
}

/// Every run of ASCII digits in `text`, as a number.
fn numbers_in(text: &str) -> Vec<u64> {
    text.split(|c: char| !c.is_ascii_digit())
        .filter_map(|digits| digits.parse().ok())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Reading nghttp's and h2load's output

/// What `nghttp -nv` printed about one request. Lines it looks for (nghttp 1.52):
///
/// ```text
/// The negotiated protocol: h2
/// [  0.006] send DATA frame <length=16384, flags=0x00, stream_id=13>
/// [  0.006] recv (stream_id=13) :status: 200
/// [  0.006] recv DATA frame <length=26, flags=0x01, stream_id=13>
/// [  0.006] recv GOAWAY frame <length=8, flags=0x00, stream_id=0>
///           (last_stream_id=0, error_code=NO_ERROR(0x00), opaque_data(0)=[])
/// ```
///
/// and on stderr `[ERROR] ...` or `Some requests were not processed. total=1, processed=0`.
struct NghttpOutput<'a> {
    run: &'a RunOutput,
    statuses: Vec<u16>,
    data_bytes: usize,
    data_bytes_sent: usize,
    negotiated_protocol: Option<String>,
    /// RST_STREAM frames received, and GOAWAY frames received with an error code other than
    /// NO_ERROR: the frame line and the line after it.
    errors_received: Vec<String>,
}

impl<'a> NghttpOutput<'a> {
    fn parse(run: &'a RunOutput) -> Self {
        let mut parsed = NghttpOutput {
            run,
            statuses: Vec::new(),
            data_bytes: 0,
            data_bytes_sent: 0,
            negotiated_protocol: None,
            errors_received: Vec::new(),
        };
        let lines: Vec<&str> = run.stdout.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let next = lines.get(i + 1).copied().unwrap_or("");
            if let Some(protocol) = line.strip_prefix("The negotiated protocol: ") {
                parsed.negotiated_protocol = Some(protocol.trim().to_owned());
            } else if let Some(status) = after(line, ") :status: ") {
                parsed.statuses.push(status.trim().parse().unwrap_or(0));
            } else if let Some(length) = after(line, "recv DATA frame <length=") {
                parsed.data_bytes += leading_number(length);
            } else if let Some(length) = after(line, "send DATA frame <length=") {
                parsed.data_bytes_sent += leading_number(length);
            } else if line.contains("recv RST_STREAM frame")
                || (line.contains("recv GOAWAY frame") && !next.contains("error_code=NO_ERROR"))
            {
                parsed.errors_received.push(format!("{line}\n{next}"));
            }
        }
        parsed
    }

    /// One response with `status`, no error frame from the server, no error from nghttp.
    fn assert_ok(&self, status: u16, server: &OurServer) {
        let run = self.run;
        let logs = server.logs();
        assert!(
            !run.stderr.contains("[ERROR]") && !run.stderr.contains("not processed"),
            "nghttp reported an error\n{run}\n{logs}"
        );
        assert_eq!(
            self.statuses,
            [status],
            "expected exactly one response with :status {status}\n{run}\n{logs}"
        );
        assert!(
            self.errors_received.is_empty(),
            "our server sent error frames: {:?}\n{run}\n{logs}",
            self.errors_received
        );
    }
}

/// The text after the first occurrence of `marker` in `line`.
fn after<'l>(line: &'l str, marker: &str) -> Option<&'l str> {
    line.find(marker).map(|at| &line[at + marker.len()..])
}

/// The decimal number `text` starts with (0 if none).
fn leading_number(text: &str) -> usize {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    text[..end].parse().unwrap_or(0)
}

/// h2load's summary (nghttp2 1.52):
///
/// ```text
/// Application protocol: h2c
/// requests: 2000 total, 2000 started, 2000 done, 2000 succeeded, 0 failed, 0 errored, 0 timeout
/// status codes: 2000 2xx, 0 3xx, 0 4xx, 0 5xx
/// traffic: 107.83KB (110420) total, 21.80KB (22324) headers (space savings 93.66%), 50.78KB (52000) data
/// ```
struct H2loadSummary {
    run: RunOutput,
    protocol: Option<String>,
    /// "requests:" counts by their word: total, started, done, succeeded, failed, ...
    requests: HashMap<String, u64>,
    /// "status codes:" counts by class: 2xx, 3xx, 4xx, 5xx.
    status_codes: HashMap<String, u64>,
    /// Response body octets ("traffic: ... (N) data").
    data_bytes: u64,
}

/// Runs h2load: 2000 requests (-n) over 4 connections (-c) with up to 32 concurrent streams
/// each (-m), from one thread (-t); a connection silent for 10 s counts its requests as
/// timeouts (-N) instead of hanging.
fn run_h2load(h2load: &Path, url: &str) -> H2loadSummary {
    let run = run_with_timeout(Command::new(h2load).args([
        "-n", "2000", "-c", "4", "-m", "32", "-t", "1", "-N", "10s", url,
    ]));
    H2loadSummary::parse(run)
}

impl H2loadSummary {
    fn parse(run: RunOutput) -> Self {
        /// "N word, N word, ..." into word -> N.
        fn counts(list: &str) -> HashMap<String, u64> {
            list.split(',')
                .filter_map(|item| {
                    let (count, word) = item.trim().split_once(' ')?;
                    Some((word.to_owned(), count.parse().ok()?))
                })
                .collect()
        }
        let field = |prefix: &str| {
            run.stdout
                .lines()
                .find_map(|line| line.strip_prefix(prefix))
                .map(str::trim)
        };
        let protocol = field("Application protocol: ").map(str::to_owned);
        let requests = field("requests: ").map(counts).unwrap_or_default();
        let status_codes = field("status codes: ").map(counts).unwrap_or_default();
        // "traffic: ... 50.78KB (52000) data": the number in the parentheses before " data".
        let data_bytes = field("traffic: ")
            .and_then(|traffic| traffic.strip_suffix(") data"))
            .and_then(|before| before[before.rfind('(')? + 1..].parse().ok())
            .unwrap_or(0);
        H2loadSummary {
            run,
            protocol,
            requests,
            status_codes,
            data_bytes,
        }
    }

    fn assert_all_succeeded(&self, total: u64, server: &OurServer) {
        let run = &self.run;
        let logs = server.logs();
        let count = |map: &HashMap<String, u64>, key: &str| -> u64 {
            *map.get(key).unwrap_or_else(|| {
                panic!("h2load printed no {key:?} count: output format changed?\n{run}")
            })
        };
        for (key, expected) in [
            ("total", total),
            ("started", total),
            ("done", total),
            ("succeeded", total),
            ("failed", 0),
            ("errored", 0),
            ("timeout", 0),
        ] {
            assert_eq!(
                count(&self.requests, key),
                expected,
                "h2load requests {key}\n{run}\n{logs}"
            );
        }
        assert_eq!(
            count(&self.status_codes, "2xx"),
            total,
            "h2load 2xx responses\n{run}\n{logs}"
        );
        assert!(
            self.data_bytes >= total,
            "h2load received {} body octets for {total} responses, expected at least one each\n{run}",
            self.data_bytes
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Servers

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tls {
    No,
    Yes,
}

/// Our `h2_server` example, listening on 127.0.0.1 on a port it picked; killed on drop.
struct OurServer {
    guard: Guarded,
    port: u16,
}

impl OurServer {
    fn start(tls: Tls) -> Self {
        let mut command = Command::new(example("h2_server"));
        command.args(["--port", "0"]);
        if tls == Tls::Yes {
            command
                .arg("--tls-cert")
                .arg(test_data("server.pem"))
                .arg("--tls-key")
                .arg(test_data("server.key"));
        }
        let (guard, first_line) = Guarded::spawn_reading_first_line(&mut command, "h2_server");
        let port = first_line
            .strip_prefix("listening on 127.0.0.1:")
            .and_then(|port| port.trim().parse::<u16>().ok())
            .unwrap_or_else(|| {
                panic!(
                    "h2_server's first line should be `listening on 127.0.0.1:PORT`, \
                     got {first_line:?}\n{}",
                    guard.logs()
                )
            });
        OurServer { guard, port }
    }

    /// What the server printed so far, for failure messages.
    fn logs(&self) -> String {
        self.guard.logs()
    }
}

/// nghttpd serving `docroot` on 127.0.0.1; killed on drop.
struct Nghttpd {
    guard: Guarded,
    port: u16,
}

impl Nghttpd {
    /// nghttpd cannot pick its own port, so this picks a free one and retries with another if
    /// some other process takes it first.
    ///
    /// Flags: `-a 127.0.0.1` binds only loopback; `-d` is the document root; `--no-tls` makes
    /// it speak h2c with prior knowledge; for TLS the positional key and certificate follow
    /// the port.
    fn start(docroot: &Path, tls: Tls) -> Self {
        let mut last_failure = String::new();
        for _ in 0..5 {
            let port = free_port();
            let mut command = Command::new(tool("nghttpd"));
            command.arg("-a").arg("127.0.0.1").arg("-d").arg(docroot);
            match tls {
                Tls::No => {
                    command.arg("--no-tls").arg(port.to_string());
                }
                Tls::Yes => {
                    command
                        .arg(port.to_string())
                        .arg(test_data("server.key"))
                        .arg(test_data("server.pem"));
                }
            }
            let mut guard = Guarded::spawn(&mut command, "nghttpd");
            match wait_for_port(port, &mut guard) {
                Ok(()) => return Nghttpd { guard, port },
                Err(failure) => last_failure = failure,
            }
        }
        panic!("nghttpd did not start: {last_failure}");
    }
}

/// Waits until 127.0.0.1:`port` accepts connections, or `guard`'s process exits.
fn wait_for_port(port: u16, guard: &mut Guarded) -> Result<(), String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = guard.child.try_wait() {
            return Err(format!(
                "{} exited with {status} before listening on {addr}\n{}",
                guard.name,
                guard.logs()
            ));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{} did not listen on {addr} within {STARTUP_TIMEOUT:?}\n{}",
                guard.name,
                guard.logs()
            ));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("cannot bind a port on 127.0.0.1")
        .port()
}

// ---------------------------------------------------------------------------------------------
// Processes

/// A child process that is killed and reaped when dropped, so a failed assertion never
/// leaves a server running. Its stdout and stderr are collected for failure messages.
struct Guarded {
    child: Child,
    name: &'static str,
    output: Arc<Mutex<Vec<u8>>>,
}

impl Guarded {
    fn spawn(command: &mut Command, name: &'static str) -> Self {
        let mut child = spawn_piped(command);
        let output = Arc::new(Mutex::new(Vec::new()));
        collect(child.stdout.take(), &output);
        collect(child.stderr.take(), &output);
        Guarded {
            child,
            name,
            output,
        }
    }

    /// Starts the process and returns its first stdout line, read within `STARTUP_TIMEOUT`.
    /// The rest of its stdout is collected like its stderr.
    fn spawn_reading_first_line(command: &mut Command, name: &'static str) -> (Self, String) {
        let mut child = spawn_piped(command);
        let output = Arc::new(Mutex::new(Vec::new()));
        collect(child.stderr.take(), &output);
        let stdout: ChildStdout = child.stdout.take().expect("stdout is piped");
        let (sender, receiver) = mpsc::channel();
        let rest = Arc::clone(&output);
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let read = reader.read_line(&mut line);
            let _ = sender.send(read.map(|_| line));
            // Keep draining, so a chatty server never blocks on a full pipe.
            copy_into(reader, &rest);
        });
        let guard = Guarded {
            child,
            name,
            output,
        };
        let line = match receiver.recv_timeout(STARTUP_TIMEOUT) {
            Ok(Ok(line)) if !line.is_empty() => line,
            Ok(Ok(_)) => panic!(
                "{name} closed stdout without printing a line\n{}",
                guard.logs()
            ),
            Ok(Err(e)) => panic!("cannot read {name}'s stdout: {e}\n{}", guard.logs()),
            Err(_) => panic!(
                "{name} printed no line within {STARTUP_TIMEOUT:?}\n{}",
                guard.logs()
            ),
        };
        (guard, line.trim_end().to_owned())
    }

    /// What the process printed so far, for failure messages.
    fn logs(&self) -> String {
        let output = self.output.lock().unwrap_or_else(|e| e.into_inner());
        format!(
            "--- {} output ---\n{}",
            self.name,
            String::from_utf8_lossy(&output)
        )
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_piped(command: &mut Command) -> Child {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"))
}

/// Copies everything `source` yields into `sink` on a thread of its own, which ends when
/// `source` closes.
fn collect(
    source: Option<impl Read + Send + 'static>,
    sink: &Arc<Mutex<Vec<u8>>>,
) -> Option<thread::JoinHandle<()>> {
    let sink = Arc::clone(sink);
    source.map(|source| thread::spawn(move || copy_into(source, &sink)))
}

fn copy_into(mut source: impl Read, sink: &Mutex<Vec<u8>>) {
    let mut buf = [0u8; 8192];
    while let Ok(n @ 1..) = source.read(&mut buf) {
        sink.lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(&buf[..n]);
    }
}

/// How a client run ended, and what it printed.
struct RunOutput {
    command: String,
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for RunOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "--- {} ({}) ---\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command, self.status, self.stdout, self.stderr
        )
    }
}

/// Runs `command` to completion, killing it (and failing the test) after `CLIENT_TIMEOUT`.
fn run_with_timeout(command: &mut Command) -> RunOutput {
    let description = format!("{command:?}");
    let mut child = spawn_piped(command);
    let stdout = Arc::new(Mutex::new(Vec::new()));
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let readers = [
        collect(child.stdout.take(), &stdout),
        collect(child.stderr.take(), &stderr),
    ];
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    let (status, timed_out) = loop {
        if let Some(status) = child.try_wait().expect("cannot wait for a child process") {
            break (status, false);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break (child.wait().expect("cannot reap a killed child"), true);
        }
        thread::sleep(Duration::from_millis(10));
    };
    // The process is gone, so its pipes are closed and the readers finish.
    for reader in readers.into_iter().flatten() {
        let _ = reader.join();
    }
    let text = |buf: &Mutex<Vec<u8>>| {
        String::from_utf8_lossy(&buf.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    };
    let run = RunOutput {
        command: description,
        status,
        stdout: text(&stdout),
        stderr: text(&stderr),
    };
    assert!(
        !timed_out,
        "timed out after {CLIENT_TIMEOUT:?}, killed\n{run}"
    );
    run
}

// ---------------------------------------------------------------------------------------------
// Files

/// A tool from nghttp2, on PATH or in an sbin directory (Debian puts nghttpd in /usr/sbin,
/// which a non-root PATH may lack).
fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not installed: run `cargo xtask test`, which installs \
                 nghttp2-client and nghttp2-server (or `apt-get install nghttp2-client \
                 nghttp2-server`)"
            )
        })
}

/// One of grpc-transport's examples, built beside this test binary:
/// target/<profile>/deps/interop_nghttp2-HASH -> target/<profile>/examples/NAME.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("cannot find this test's executable");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable is not in target/<profile>/deps");
    let path = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "example `{name}` not found at {}: build it with `cargo build -p grpc-transport \
         --examples` (`cargo test --workspace --all-targets`, so `cargo xtask test`, builds it)",
        path.display()
    );
    path
}

fn test_data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

const SMALL_BODY: &[u8] = b"hello from nghttpd, served to grpc-rust's h2_client\n";

/// `LARGE_BODY_LEN` octets of printable text that does not repeat quickly.
fn large_body() -> Vec<u8> {
    (0..LARGE_BODY_LEN)
        .map(|i| b'a' + ((i * 7 + i / 251) % 26) as u8)
        .collect()
}

/// A fresh directory for one test, under cargo's scratch directory for integration tests.
fn scratch_dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("interop_nghttp2")
        .join(test);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

fn write_scratch_file(test: &str, name: &str, contents: &[u8]) -> PathBuf {
    let path = scratch_dir(test).join(name);
    fs::write(&path, contents).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    path
}

/// A document root with `small.txt` (`SMALL_BODY`) and `large.bin` (`large_body()`).
fn make_docroot(test: &str) -> PathBuf {
    let dir = scratch_dir(test);
    fs::write(dir.join("small.txt"), SMALL_BODY).expect("cannot write small.txt");
    fs::write(dir.join("large.bin"), large_body()).expect("cannot write large.bin");
    dir
}
