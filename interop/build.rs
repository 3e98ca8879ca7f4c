//! Generates the grpc.testing messages and the TestService and UnimplementedService clients
//! (protox, no protoc). `bytes` fields become `bytes::Bytes`, so payloads are shared rather
//! than copied.
//!
//! No server code: the interop server registers its routes by hand (see `src/server.rs`).

fn main() -> std::io::Result<()> {
    grpc_codegen::configure()
        .build_server(false)
        .prost_config(|config| {
            config.bytes(["."]);
        })
        .compile(&["proto/grpc/testing/test.proto"], &["proto"])
}
