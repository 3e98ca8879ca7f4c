//! Generates the `grpc.health.v1.Health` server (trait and `HealthServer` adapter) from
//! `proto/grpc/health/v1/health.proto`, with no protoc: grpc-codegen parses it with protox.
//!
//! The messages are not generated: extern paths map them onto the hand-written ones in
//! `grpc_core::health`, so the workspace has one definition of each type (the client's
//! health checks use the same ones).

use std::path::Path;

fn main() -> std::io::Result<()> {
    // The proto lives in the workspace's top-level `proto/` directory. This crate's
    // `proto/` holds a symlink to that one file, which `cargo package` turns into a copy,
    // so a packaged crate (with no workspace around it) builds too.
    const FILE: &str = "grpc/health/v1/health.proto";
    let workspace = Path::new("../../proto");
    let includes = if workspace.join(FILE).is_file() {
        workspace
    } else {
        Path::new("proto")
    };
    grpc_codegen::configure()
        .build_client(false)
        .prost_config(|config| {
            for message in [
                "HealthCheckRequest",
                "HealthCheckResponse",
                "HealthListRequest",
                "HealthListResponse",
            ] {
                config.extern_path(
                    format!(".grpc.health.v1.{message}"),
                    format!("::grpc_core::health::{message}"),
                );
            }
        })
        .compile(&[includes.join(FILE)], &[includes])
}
