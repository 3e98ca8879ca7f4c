//! `grpc-bench server --stack ours|tonic [--addr ADDR]`: one BenchmarkService server in this
//! process, controlled over stdin so the suite can pin it to a core and measure it from
//! outside:
//!
//! - stdout gets one line `listening ADDR` once the socket is bound;
//! - stdin lines: `alloc on` / `alloc off` switch the counting allocator; `stats` prints one
//!   JSON line `{"allocations":N,"allocated_bytes":N,"rss_bytes":N,"live_heap_bytes":N}`
//!   (the live heap counts only what was allocated and freed while counting was on); end of input exits.
//!
//! grpc-go's peer (`benches/grpc-bench/go/bench_server.go`) speaks the same protocol.
//!
//! Both servers use a tokio multi-thread runtime with its default worker count, which is
//! the number of CPUs this process may run on: one under `taskset -c N`.

use std::io::{BufRead, Write};
use std::net::SocketAddr;

use crate::BoxError;
use crate::alloc;
use crate::service::{OurBench, TonicBench};

/// Largest message either server accepts or sends (the 64 MiB scenario, with room).
pub(crate) const MAX_MESSAGE: usize = 256 * 1024 * 1024;

/// Which stack serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stack {
    /// grpc-server (or grpc-client, for a load generator).
    Ours,
    /// tonic 0.14.
    Tonic,
    /// No gRPC: the plain TCP echo of `baseline.rs`, the floor under 1x1 latency.
    Tcp,
}

impl Stack {
    pub(crate) fn parse(name: &str) -> Result<Stack, BoxError> {
        match name {
            "ours" => Ok(Stack::Ours),
            "tonic" => Ok(Stack::Tonic),
            "tcp" => Ok(Stack::Tcp),
            other => Err(format!("unknown stack {other:?} (ours, tonic, tcp)").into()),
        }
    }
}

/// Runs the server until stdin ends.
pub(crate) fn run(stack: Stack, addr: SocketAddr) -> Result<(), BoxError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let (local, serving) = match stack {
            Stack::Ours => {
                let server = grpc_server::Server::builder()
                    .max_decoding_message_size(MAX_MESSAGE)
                    .max_encoding_message_size(MAX_MESSAGE)
                    .add_service(
                        crate::pb::benchmark_service_server::BenchmarkServiceServer::new(OurBench),
                    )
                    .bind(addr)
                    .await?;
                let local = server.local_addr();
                let serving =
                    tokio::spawn(async move { server.serve().await.map_err(BoxError::from) });
                (local, serving)
            }
            Stack::Tcp => {
                let listener = tokio::net::TcpListener::bind(addr).await?;
                let local = listener.local_addr()?;
                (local, tokio::spawn(crate::baseline::serve(listener)))
            }
            Stack::Tonic => {
                let listener = tokio::net::TcpListener::bind(addr).await?;
                let local = listener.local_addr()?;
                let service =
                    crate::tonic_pb::benchmark_service_server::BenchmarkServiceServer::new(
                        TonicBench,
                    )
                    .max_decoding_message_size(MAX_MESSAGE)
                    .max_encoding_message_size(MAX_MESSAGE);
                let incoming =
                    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
                // One service served directly, without tonic's router (axum): tonic at its
                // fastest, so the comparison errs in tonic's favour.
                let serving = tokio::spawn(async move {
                    tonic::transport::Server::builder()
                        .serve_with_incoming(service, incoming)
                        .await
                        .map_err(BoxError::from)
                });
                (local, serving)
            }
        };
        announce(&format!("listening {local}"))?;
        std::thread::spawn(control_loop);
        serving.await??;
        Ok(())
    })
}

/// Writes one line to stdout and flushes it (the suite reads line by line).
fn announce(line: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()
}

/// Answers the suite's stdin commands; exits the process when stdin ends.
fn control_loop() {
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let reply = match line.trim() {
            "alloc on" => {
                alloc::set_counting(true);
                "ok".to_owned()
            }
            "alloc off" => {
                alloc::set_counting(false);
                "ok".to_owned()
            }
            "stats" => {
                let (allocations, allocated_bytes) = alloc::counts();
                serde_json::json!({
                    "allocations": allocations,
                    "allocated_bytes": allocated_bytes,
                    "rss_bytes": alloc::rss_bytes(),
                    "live_heap_bytes": alloc::live_bytes(),
                })
                .to_string()
            }
            other => format!("error: unknown command {other:?}"),
        };
        if announce(&reply).is_err() {
            break;
        }
    }
    std::process::exit(0);
}
