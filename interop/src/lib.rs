//! The gRPC interop suite for grpc-rust: `grpc.testing.TestService` served by grpc-server and
//! driven by grpc-client, as the interop test descriptions (`doc/interop-test-descriptions.md`
//! in the gRPC repository) define them, so our stack can be tested against other gRPC
//! implementations and theirs against ours.
//!
//! - [`server`]: the TestService implementation, [`server::bind`] / [`server::serve`];
//!   the `interop-server` binary (`--port`, `--use_tls`, `--tls_cert_file`,
//!   `--tls_key_file`).
//! - [`client`]: every test case that needs no cloud credentials, [`client::run_case`];
//!   the `interop-client` binary (`--server_host`, `--server_port`,
//!   `--server_host_override`, `--test_case`, `--use_tls`, `--use_test_ca`, `--ca_file`,
//!   `--bearer_token`), which prints `PASS case`, `SKIP case: why` or `FAIL case: why`.
//! - [`pb`]: the messages and clients generated from `proto/grpc/testing/*.proto` (same
//!   package, names and field numbers as the published definitions).
//! - [`flags`]: the reference binaries' flag syntax.
//! - [`certs`]: the repository's test CA and server certificate.

use std::future::Future;

pub mod client;
pub mod flags;
pub mod server;

/// The grpc.testing messages and the TestService and UnimplementedService clients, generated
/// by `build.rs`.
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/grpc.testing.rs"));
}

/// The test CA, server certificate and key of `crates/grpc-transport/tests/data` (found
/// from this crate's directory at compile time and built into the binaries). The
/// certificate names `localhost` and `127.0.0.1`.
pub mod certs {
    /// Where the files are.
    pub const DIR: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../crates/grpc-transport/tests/data"
    );
    /// The CA that signed [`SERVER_CERT`] (what `--use_test_ca` trusts).
    pub const CA: &[u8] = include_bytes!("../../crates/grpc-transport/tests/data/ca.pem");
    /// The server certificate, for `localhost` and `127.0.0.1`.
    pub const SERVER_CERT: &[u8] =
        include_bytes!("../../crates/grpc-transport/tests/data/server.pem");
    /// Its private key.
    pub const SERVER_KEY: &[u8] =
        include_bytes!("../../crates/grpc-transport/tests/data/server.key");
}

/// Runs `future` to completion on a new multi-threaded runtime (what the binaries do).
pub fn block_on<F: Future>(future: F) -> std::io::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    Ok(runtime.block_on(future))
}
