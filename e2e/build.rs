//! Generates the Echo service used by the end-to-end tests (protox, no protoc). `bytes`
//! fields become `bytes::Bytes`, so large payloads are shared rather than copied.

fn main() -> std::io::Result<()> {
    grpc_codegen::configure()
        .prost_config(|config| {
            config.bytes(["."]);
        })
        .compile(&["proto/e2e/v1/echo.proto"], &["proto"])
}
