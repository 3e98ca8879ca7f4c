//! Generates the Greeter's messages, server trait and client from the .proto, with no protoc:
//! grpc-codegen parses the file with protox. Also writes the encoded descriptor set that the
//! server's reflection service answers from (`greeter::FILE_DESCRIPTOR_SET`).

fn main() -> std::io::Result<()> {
    let out_dir = std::env::var("OUT_DIR").map_err(std::io::Error::other)?;
    grpc_codegen::configure()
        .file_descriptor_set_path(std::path::Path::new(&out_dir).join("greeter_descriptor.bin"))
        .compile(&["../../proto/greeter/v1/greeter.proto"], &["../../proto"])
}
