//! The `interop-server` and `interop-client` binaries: flags as the reference binaries take
//! them, the ready line, output lines and exit codes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

const SERVER: &str = env!("CARGO_BIN_EXE_interop-server");
const CLIENT: &str = env!("CARGO_BIN_EXE_interop-client");

/// A running `interop-server` process, killed when dropped.
struct ServerProcess {
    child: Child,
    port: u16,
}

impl ServerProcess {
    /// Starts the server with `args` and waits for its `listening on 127.0.0.1:PORT` line.
    fn start(args: &[&str]) -> ServerProcess {
        let mut child = Command::new(SERVER)
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("listening on 127.0.0.1:")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .unwrap();
        ServerProcess { child, port }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client(args: &[&str]) -> Output {
    Command::new(CLIENT).args(args).output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn plaintext_cases_through_the_binaries() {
    let server = ServerProcess::start(&["--port", "0"]);
    let port = server.port.to_string();

    let output = client(&["--server_port", &port, "--test_case", "large_unary"]);
    assert_eq!(stdout(&output), "PASS large_unary\n");
    assert!(output.status.success());

    let output = client(&[
        "--server_host=127.0.0.1",
        &format!("--server_port={port}"),
        "--test_case=cacheable_unary",
        "--use_tls=false",
    ]);
    assert!(
        stdout(&output).starts_with("SKIP cacheable_unary: needs a caching proxy"),
        "{}",
        stdout(&output)
    );
    assert!(output.status.success());

    let output = client(&["--server_port", &port, "--test_case", "bearer_token"]);
    assert!(stdout(&output).starts_with("SKIP bearer_token: needs --use_tls"));
    assert!(output.status.success());

    let output = client(&[
        "--server_port",
        &port,
        "--test_case",
        "client_compressed_streaming",
    ]);
    assert_eq!(stdout(&output), "PASS client_compressed_streaming\n");
    assert!(output.status.success());
}

#[test]
fn tls_cases_through_the_binaries() {
    let server = ServerProcess::start(&["--port=0", "--use_tls"]);
    let port = server.port.to_string();

    let output = client(&[
        "--server_host",
        "localhost",
        "--server_port",
        &port,
        "--use_tls",
        "--use_test_ca",
        "--test_case=bearer_token",
        "--bearer_token=t0ken",
    ]);
    assert_eq!(stdout(&output), "PASS bearer_token\n");
    assert!(output.status.success());

    let ca_file = format!("{}/ca.pem", grpc_interop::certs::DIR);
    let output = client(&[
        "--server_port",
        &port,
        "--server_host_override=localhost",
        "--use_tls=true",
        "--ca_file",
        &ca_file,
        "--test_case",
        "server_compressed_streaming",
    ]);
    assert_eq!(stdout(&output), "PASS server_compressed_streaming\n");

    // Plaintext against the TLS server fails, with exit code 1.
    let output = client(&["--server_port", &port, "--test_case", "empty_unary"]);
    assert!(
        stdout(&output).starts_with("FAIL empty_unary: "),
        "{}",
        stdout(&output)
    );
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn server_with_explicit_certificate_files() {
    let dir = grpc_interop::certs::DIR;
    let server = ServerProcess::start(&[
        "--port=0",
        "--use_tls=true",
        &format!("--tls_cert_file={dir}/server.pem"),
        "--tls_key_file",
        &format!("{dir}/server.key"),
    ]);
    let output = client(&[
        &format!("--server_port={}", server.port),
        "--use_tls",
        "--use_test_ca",
        "--test_case=empty_unary",
    ]);
    assert_eq!(stdout(&output), "PASS empty_unary\n");
}

#[test]
fn bad_flags_exit_2_with_usage() {
    for args in [
        &["--test_case=no_such_case"][..],
        &["--no_such_flag=1"],
        &["--use_tls"],
        &["--server_port=x"],
    ] {
        let output = client(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&output.stderr).contains("usage: interop-client"));
    }
    let output = Command::new(SERVER)
        .arg("--tls_key_file=x")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("usage: interop-server"));
}
