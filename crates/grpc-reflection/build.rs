//! Generates the `grpc.reflection.v1` and `grpc.reflection.v1alpha` servers (trait and
//! `ServerReflectionServer` adapter) and the v1 messages from the reflection protos, with no
//! protoc: grpc-codegen parses them with protox. Also writes the protos' own encoded
//! `FileDescriptorSet`, so the reflection service can describe itself.
//!
//! The v1alpha messages are not generated: they are field for field the v1 ones (same
//! names, numbers and types, so the same bytes on the wire), and extern paths map them onto
//! the v1 types. One set of message types serves both versions.

use std::path::{Path, PathBuf};

/// The messages of the reflection protos (the same in both versions).
const MESSAGES: &[&str] = &[
    "ServerReflectionRequest",
    "ExtensionRequest",
    "ServerReflectionResponse",
    "FileDescriptorResponse",
    "ExtensionNumberResponse",
    "ListServiceResponse",
    "ServiceResponse",
    "ErrorResponse",
];

fn main() -> std::io::Result<()> {
    // In the workspace the protos live in the top-level `proto/` directory; `proto/` in this
    // crate links to those two files so that a packaged crate carries them too.
    let local = Path::new("proto");
    let includes = if local.join("grpc/reflection/v1/reflection.proto").exists() {
        local
    } else {
        Path::new("../../proto")
    };
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").ok_or_else(|| {
        std::io::Error::other("OUT_DIR is not set: run this build script through cargo")
    })?);
    grpc_codegen::configure()
        .build_client(false)
        .file_descriptor_set_path(out_dir.join("reflection_descriptor.bin"))
        .prost_config(|config| {
            // Encoded files are kept as `Bytes` and sent without a copy.
            config.bytes([".grpc.reflection.v1.FileDescriptorResponse.file_descriptor_proto"]);
            for message in MESSAGES {
                config.extern_path(
                    format!(".grpc.reflection.v1alpha.{message}"),
                    format!("crate::pb::v1::{message}"),
                );
            }
        })
        .compile(
            &[
                includes.join("grpc/reflection/v1/reflection.proto"),
                includes.join("grpc/reflection/v1alpha/reflection.proto"),
            ],
            &[includes],
        )
}
