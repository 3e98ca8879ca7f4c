//! Generates the Echo service used by the end-to-end tests (protox, no protoc).

fn main() -> std::io::Result<()> {
    grpc_codegen::compile_protos(&["proto/e2e/v1/echo.proto"], &["proto"])
}
