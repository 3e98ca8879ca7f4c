//! Generates the Greeter's messages, server trait and client from the .proto, with no protoc:
//! grpc-codegen parses the file with protox.

fn main() -> std::io::Result<()> {
    grpc_codegen::compile_protos(&["../../proto/greeter/v1/greeter.proto"], &["../../proto"])
}
