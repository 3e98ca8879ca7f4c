//! `grpc-codegen`: generate gRPC code from `.proto` files into a directory, for code that is
//! checked in rather than built by `build.rs`. No protoc needed.
//!
//! ```text
//! grpc-codegen --out DIR [-I DIR]... [options] FILE.proto...
//! ```
//!
//! Run `grpc-codegen --help` for the options. `cargo xtask codegen` runs this for every
//! checked-in output directory of the workspace.

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: grpc-codegen --out DIR [-I DIR]... [options] FILE.proto...

Generates prost messages plus gRPC servers and clients for FILE.proto (and what it imports),
one Rust file per protobuf package, into DIR. Parses with protox: no protoc needed.

options:
  -o, --out DIR             output directory (created if missing); required
  -I, --include DIR         import search path, repeatable (default: the current directory)
      --no-client           do not generate clients
      --no-server           do not generate servers
      --include-file NAME   also write NAME, nesting every package's file in modules
      --descriptor-set PATH also write the encoded FileDescriptorSet to PATH
      --server-path PATH    path of the grpc-server crate (::grpc_server)
      --client-path PATH    path of the grpc-client crate (::grpc_client)
  -h, --help                this text";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("grpc-codegen: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<(), String> {
    let mut builder = grpc_codegen::configure().emit_rerun_if_changed(false);
    let mut out: Option<PathBuf> = None;
    let mut includes: Vec<PathBuf> = Vec::new();
    let mut protos: Vec<PathBuf> = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or_else(|| format!("{name} needs a value\n\n{USAGE}"))
        };
        match arg.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            "-o" | "--out" => out = Some(value(&arg)?.into()),
            "-I" | "--include" => includes.push(value(&arg)?.into()),
            "--no-client" => builder = builder.build_client(false),
            "--no-server" => builder = builder.build_server(false),
            "--include-file" => builder = builder.include_file(value(&arg)?),
            "--descriptor-set" => builder = builder.file_descriptor_set_path(value(&arg)?),
            "--server-path" => builder = builder.server_path(value(&arg)?),
            "--client-path" => builder = builder.client_path(value(&arg)?),
            "--" => protos.extend(args.by_ref().map(PathBuf::from)),
            flag if flag.starts_with('-') && flag.len() > 1 => {
                return Err(format!("unknown option {flag}\n\n{USAGE}"));
            }
            _ => protos.push(arg.into()),
        }
    }
    let out = out.ok_or_else(|| format!("--out is required\n\n{USAGE}"))?;
    if protos.is_empty() {
        return Err(format!("no .proto files given\n\n{USAGE}"));
    }
    builder
        .out_dir(out)
        .compile(&protos, &includes)
        .map_err(|err| err.to_string())
}
