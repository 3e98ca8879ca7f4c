//! Generates grpc.testing.BenchmarkService twice from the same .proto, both without protoc:
//!
//! - ours with grpc-codegen (messages, the server trait and the client), into `OUT_DIR`;
//! - tonic's with tonic-prost-build fed the file descriptors protox parses, into
//!   `OUT_DIR/tonic`. Its messages are mapped onto ours (`extern_path`), so both stacks
//!   encode the same Rust values and the load generator builds one request for either.
//!
//! `bytes` fields become `bytes::Bytes` in both, so payloads are shared rather than copied.

use std::path::PathBuf;

const PROTO: &str = "proto/grpc/testing/benchmark_service.proto";
const INCLUDES: &[&str] = &["proto", "../../interop/proto"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    grpc_codegen::configure()
        .prost_config(|config| {
            config.bytes(["."]);
        })
        .compile(&[PROTO], INCLUDES)?;

    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?).join("tonic");
    std::fs::create_dir_all(&out_dir)?;
    let descriptors = protox::compile([PROTO], INCLUDES)?;
    tonic_prost_build::configure()
        .build_transport(false)
        .extern_path(".grpc.testing", "crate::pb")
        .out_dir(&out_dir)
        .compile_fds(descriptors)?;
    Ok(())
}
