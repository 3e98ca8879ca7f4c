//! What the generator writes, checked as text (fast; `compile_generated.rs` compiles it).
//!
//! The protos in `tests/protos` cover imports from another package, the well-known types,
//! nested packages, a file without a package, all four RPC shapes, comments that rustdoc
//! would misread, and names that clash with Rust keywords or the client's own methods.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ALL_PROTOS: &[&str] = &[
    "demo/v1/greeter.proto",
    "demo/v1/toolbox.proto",
    "demo/v1/inner/inner.proto",
    "nopkg.proto",
];

fn protos_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/protos")
}

/// A fresh directory for one test's output.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("grpc-codegen-generate")
        .join(name);
    if dir.exists() {
        fs::remove_dir_all(&dir).unwrap();
    }
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs the `grpc-codegen` binary where no protoc can be found: PATH holds only an empty
/// directory and PROTOC names a file that does not exist.
fn run_cli(dir: &Path, args: &[&str]) -> Output {
    let empty = dir.join("empty-path");
    fs::create_dir_all(&empty).unwrap();
    Command::new(env!("CARGO_BIN_EXE_grpc-codegen"))
        .env("PATH", &empty)
        .env("PROTOC", dir.join("no-such-protoc"))
        .env_remove("PROTOC_INCLUDE")
        .current_dir(protos_dir())
        .args(args)
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn read(dir: &Path, file: &str) -> String {
    fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// Generates all the fixture protos with the CLI, without protoc.
fn generate_all(name: &str) -> PathBuf {
    let dir = scratch(name);
    let out = dir.join("out");
    let mut args = vec![
        "--out",
        out.to_str().unwrap(),
        "-I",
        ".",
        "--include-file",
        "mod.rs",
    ];
    args.extend(ALL_PROTOS);
    let output = run_cli(&dir, &args);
    assert!(output.status.success(), "{}", stderr(&output));
    out
}

fn assert_contains(text: &str, needle: &str) {
    assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
}

#[test]
fn generates_every_package_without_protoc() {
    let out = generate_all("every-package");
    let mut files: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    // One file per package with code; the well-known types come from prost-types, so there
    // is no google.protobuf.rs.
    assert_eq!(
        files,
        [
            "_.rs",
            "demo.common.v1.rs",
            "demo.v1.inner.rs",
            "demo.v1.rs",
            "mod.rs"
        ]
    );

    let include = read(&out, "mod.rs");
    assert_contains(&include, "/// Protobuf package `demo.v1.inner`.\n");
    assert_contains(&include, "include!(\"demo.v1.inner.rs\");");

    let common = read(&out, "demo.common.v1.rs");
    assert!(!common.contains("_server"), "no services there:\n{common}");
}

#[test]
fn greeter_has_the_contract_shapes() {
    let out = generate_all("greeter");
    let v1 = read(&out, "demo.v1.rs");

    // Server: module, name, trait with the four shapes, adapter, registration.
    assert_contains(&v1, "pub mod greeter_server {");
    assert_contains(&v1, "pub const SERVICE_NAME: &str = \"demo.v1.Greeter\";");
    assert_contains(
        &v1,
        "pub trait Greeter: ::core::marker::Send + ::core::marker::Sync + 'static {",
    );
    assert_contains(
        &v1,
        "fn say_hello(\n            &self,\n            request: ::grpc_server::Request<super::HelloRequest>,\n        ) -> impl ::core::future::Future<",
    );
    assert_contains(
        &v1,
        "request: ::grpc_server::Request<\n                ::grpc_server::Streaming<super::HelloRequest>,\n            >,",
    );
    assert_contains(
        &v1,
        "responses: &mut ::grpc_server::ResponseSink<super::HelloReply>,",
    );
    assert_contains(&v1, "> + ::core::marker::Send;");
    assert_contains(&v1, "pub struct GreeterServer<T> {");
    assert_contains(&v1, "pub fn new(inner: T) -> Self {");
    assert_contains(&v1, "pub fn from_arc(inner: ::std::sync::Arc<T>) -> Self {");
    assert_contains(&v1, "impl<T> ::core::clone::Clone for GreeterServer<T> {");
    assert_contains(
        &v1,
        "impl<T: Greeter> ::grpc_server::GrpcService for GreeterServer<T> {",
    );
    assert_contains(&v1, "const NAME: &'static str = SERVICE_NAME;");
    for (route, path) in [
        ("unary", "/demo.v1.Greeter/SayHello"),
        ("client_streaming", "/demo.v1.Greeter/LotsOfGreetings"),
        ("server_streaming", "/demo.v1.Greeter/LotsOfReplies"),
        ("streaming", "/demo.v1.Greeter/BidiHello"),
    ] {
        assert_contains(
            &v1,
            &format!(".{route}(\n                        \"{path}\","),
        );
    }
    // Server codec: Encode = response, Decode = request.
    assert_contains(
        &v1,
        "<::grpc_server::codec::ProstCodec<\n                            super::HelloReply,\n                            super::HelloRequest,\n                        > as ::core::default::Default>::default(),",
    );
    assert_contains(&v1, "::std::boxed::Box::pin(async move {");

    // Client: struct, constructors, the four shapes.
    assert_contains(&v1, "pub mod greeter_client {");
    assert_contains(
        &v1,
        "#[derive(Clone, Debug)]\n    pub struct GreeterClient {",
    );
    assert_contains(&v1, "pub fn new(channel: ::grpc_client::Channel) -> Self {");
    assert_contains(
        &v1,
        "::grpc_client::Channel::builder(target).connect().await.map(Self::new)",
    );
    assert_contains(&v1, "pub fn channel(&self) -> &::grpc_client::Channel {");
    assert_contains(
        &v1,
        "impl ::core::convert::From<::grpc_client::Channel> for GreeterClient {",
    );
    assert_contains(
        &v1,
        "pub async fn say_hello(\n            &self,\n            request: impl ::grpc_client::IntoRequest<super::HelloRequest>,\n        ) -> ::core::result::Result<\n            ::grpc_client::Response<super::HelloReply>,",
    );
    assert_contains(
        &v1,
        "::grpc_client::Response<::grpc_client::Streaming<super::HelloReply>>",
    );
    assert_contains(
        &v1,
        "::grpc_client::ClientStreamingCall<super::HelloRequest, super::HelloReply>",
    );
    assert_contains(
        &v1,
        "::grpc_client::BidiStreamingCall<super::HelloRequest, super::HelloReply>",
    );
    assert_contains(&v1, "request: impl ::grpc_client::IntoRequest<()>,");
    // Client codec: Encode = request, Decode = response.
    assert_contains(
        &v1,
        "<::grpc_client::codec::ProstCodec<\n                        super::HelloRequest,\n                        super::HelloReply,\n                    > as ::core::default::Default>::default(),",
    );
}

#[test]
fn comments_become_safe_docs() {
    let out = generate_all("docs");
    let v1 = read(&out, "demo.v1.rs");
    // Service and method comments, on the trait and the client.
    assert_eq!(
        v1.matches("    /// Greets people, in all four RPC shapes.\n")
            .count(),
        2
    );
    assert_eq!(v1.matches("        /// Says hello once.\n").count(), 2);
    assert_contains(&v1, "/// Returns `INVALID_ARGUMENT` when `name` is empty.");
    // Rustdoc hazards, defused.
    assert_contains(&v1, "a generic `Vec<T>` in");
    assert_contains(&v1, "a bare map&lt;string, Greeting>");
    assert_contains(&v1, "the end of a C comment */, \\[brackets\\] and a URL,");
    assert_contains(&v1, "<https://grpc.io/docs/what-is-grpc/core-concepts/>.");
    assert_contains(
        &v1,
        "/// ```text\n    /// let greeter = Greeter::connect(\"nowhere\").unwrap_or_else(|| panic!());\n    /// ```",
    );
    assert_contains(&v1, "/// ```text\n    /// this is not Rust {\n    /// ```");
    assert!(!v1.contains("///     let"), "an indented block survived");
    // Every code block is text.
    for line in v1.lines() {
        let doc = line.trim_start().strip_prefix("///").unwrap_or("").trim();
        if doc.starts_with("```") && doc.len() > 3 {
            assert_eq!(doc, "```text", "{line}");
        }
    }
    // Generated docs where the .proto has none.
    assert_contains(
        &v1,
        "/// The `demo.v1.Toolbox` service. Implement this trait and register the implementation with a server through [`ToolboxServer`].",
    );
    assert_contains(&v1, "/// Unary RPC `/demo.v1.Toolbox/Undocumented`.");
}

#[test]
fn names_types_and_options() {
    let out = generate_all("names");
    let v1 = read(&out, "demo.v1.rs");
    // Well-known types: Empty is (), Timestamp comes from prost-types, wrappers are
    // primitives.
    assert_contains(&v1, "request: ::grpc_server::Request<()>,");
    assert_contains(&v1, "::grpc_server::Response<::prost_types::Timestamp>");
    assert_contains(
        &v1,
        "::grpc_server::Streaming<::prost::alloc::string::String>",
    );
    assert_contains(&v1, "responses: &mut ::grpc_server::ResponseSink<bool>,");
    // Imported package and nested message types.
    assert_contains(
        &v1,
        "::grpc_server::Request<super::super::common::v1::Token>",
    );
    assert_contains(&v1, "::grpc_server::Request<super::outer::Inner>");
    // Keyword method name, client names that clash with the client's own methods.
    assert_contains(&v1, "fn r#type(");
    assert_contains(&v1, "pub async fn r#type(");
    assert_contains(&v1, "<T as Toolbox>::r#type(&inner, request)");
    for name in ["connect", "new", "channel"] {
        assert_contains(&v1, &format!("        fn {name}(\n"));
        assert_contains(&v1, &format!("pub async fn {name}_rpc(\n"));
    }
    // Deprecation, on the server trait method and the client method.
    assert_eq!(v1.matches("#[deprecated]\n").count(), 2);
    assert_contains(&v1, "#[deprecated]\n        fn clock(");
    assert_contains(&v1, "#[deprecated]\n        pub async fn clock(");

    // A nested package reaches its parent's messages.
    let inner = read(&out, "demo.v1.inner.rs");
    assert_contains(&inner, "pub mod inner_service_server {");
    assert_contains(&inner, "\"/demo.v1.inner.InnerService/Echo\"");
    assert_contains(
        &inner,
        "request: ::grpc_server::Request<super::super::HelloRequest>,",
    );
    assert_contains(&inner, "::grpc_server::Request<super::Local>");

    // No package: paths without a package, keyword-named services.
    let root = read(&out, "_.rs");
    assert_contains(&root, "pub const SERVICE_NAME: &str = \"Echo\";");
    assert_contains(&root, "\"/Echo/Echo\"");
    assert_contains(&root, "pub trait Type:");
    assert_contains(&root, "fn r#match(");
    assert_contains(&root, "\"/Type/Match\"");
    assert_contains(&root, "pub trait Default:");
    assert_contains(&root, "pub struct DefaultServer<T>");
    assert_contains(&root, "pub trait Self_:");
    assert_contains(&root, "pub struct SelfServer<T>");
    assert_contains(&root, "pub struct SelfClient {");
    assert_contains(
        &root,
        "fn register(self, _routes: &mut ::grpc_server::Routes) {}",
    );
}

#[test]
fn builder_options() {
    let dir = scratch("builder");
    let protos = protos_dir();
    let descriptor_path = dir.join("descriptor.bin");
    grpc_codegen::configure()
        .emit_rerun_if_changed(false)
        .build_client(false)
        .server_path("crate::rt::server")
        .out_dir(dir.join("server-only"))
        .file_descriptor_set_path(&descriptor_path)
        .prost_config(|config| {
            config.type_attribute(".demo.v1.HelloReply", "#[non_exhaustive]");
        })
        .compile(&[protos.join("demo/v1/greeter.proto")], &[&protos])
        .unwrap();
    let v1 = read(&dir.join("server-only"), "demo.v1.rs");
    assert_contains(&v1, "pub mod greeter_server {");
    assert!(!v1.contains("_client"), "clients were off:\n{v1}");
    assert_contains(
        &v1,
        "request: crate::rt::server::Request<super::HelloRequest>,",
    );
    assert_contains(&v1, "<crate::rt::server::codec::ProstCodec<");
    assert_contains(
        &v1,
        "#[non_exhaustive]\n#[derive(Clone, PartialEq, Eq, Hash, ::prost::Message)]\npub struct HelloReply {",
    );

    // The descriptor set: the input, its imports and the well-known types, with comments.
    let bytes = fs::read(&descriptor_path).unwrap();
    let set: prost_types::FileDescriptorSet = prost::Message::decode(bytes.as_slice()).unwrap();
    let names: Vec<&str> = set.file.iter().map(|f| f.name()).collect();
    assert!(names.contains(&"demo/v1/greeter.proto"), "{names:?}");
    assert!(names.contains(&"demo/common/v1/common.proto"), "{names:?}");
    assert!(
        names.contains(&"google/protobuf/timestamp.proto"),
        "{names:?}"
    );
    assert!(
        set.file
            .iter()
            .filter(|f| f.name().starts_with("demo/"))
            .all(|f| f.source_code_info.is_some())
    );

    // The same set, compiled again from descriptors: clients only, same client code.
    grpc_codegen::configure()
        .build_server(false)
        .out_dir(dir.join("client-only"))
        .compile_fds(set)
        .unwrap();
    let clients = read(&dir.join("client-only"), "demo.v1.rs");
    assert!(!clients.contains("_server"), "servers were off:\n{clients}");
    assert_contains(&clients, "pub mod greeter_client {");
    assert_contains(&clients, "/// Says hello once.");
}

#[test]
fn descriptors_without_comments_still_get_docs() {
    let dir = scratch("no-source-info");
    let protos = protos_dir();
    let mut set = protox::compile([protos.join("nopkg.proto")], [&protos]).unwrap();
    for file in &mut set.file {
        file.source_code_info = None;
    }
    grpc_codegen::configure()
        .out_dir(&dir)
        .compile_fds(set)
        .unwrap();
    let root = read(&dir, "_.rs");
    assert_contains(&root, "/// The `Echo` service. Implement this trait");
    assert_contains(&root, "/// Unary RPC `/Echo/Echo`.");
    assert!(!root.contains("Echoes one message."));
}

#[test]
fn errors_name_the_place() {
    let dir = scratch("errors");
    let broken = dir.join("protos");
    fs::create_dir_all(&broken).unwrap();
    fs::write(
        broken.join("broken.proto"),
        "syntax = \"proto3\";\nmessage A {\n  strin name = 1;\n}\n",
    )
    .unwrap();
    fs::write(
        broken.join("imports.proto"),
        "syntax = \"proto3\";\nimport \"missing.proto\";\n",
    )
    .unwrap();

    let err = grpc_codegen::configure()
        .emit_rerun_if_changed(false)
        .out_dir(dir.join("out"))
        .compile(&[broken.join("broken.proto")], &[&broken])
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert_eq!(
        err.to_string(),
        "broken.proto:3:3: name 'strin' is not defined"
    );

    let out = dir.join("out");
    let out = out.to_str().unwrap();
    let include = broken.to_str().unwrap();
    let output = run_cli(&dir, &["--out", out, "-I", include, "imports.proto"]);
    assert!(!output.status.success());
    assert_eq!(
        stderr(&output),
        "grpc-codegen: imports.proto:2:1: import 'missing.proto' not found\n"
    );
}

#[test]
fn cli_usage() {
    let dir = scratch("cli");
    let help = run_cli(&dir, &["--help"]);
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).starts_with("usage: grpc-codegen"));

    let no_out = run_cli(&dir, &["nopkg.proto"]);
    assert!(!no_out.status.success());
    assert!(stderr(&no_out).starts_with("grpc-codegen: --out is required"));

    let unknown = run_cli(&dir, &["--out", "x", "--frobnicate", "nopkg.proto"]);
    assert!(!unknown.status.success());
    assert!(stderr(&unknown).starts_with("grpc-codegen: unknown option --frobnicate"));
}

/// The complete output for the four-method Greeter, compared with `tests/golden/`. After an
/// intended change, regenerate with `GRPC_CODEGEN_BLESS=1 cargo test -p grpc-codegen --test
/// generate golden` and review the diff.
#[test]
fn golden_greeter() {
    let dir = scratch("golden");
    let out = dir.join("out");
    let output = run_cli(
        &dir,
        &[
            "--out",
            out.to_str().unwrap(),
            "-I",
            ".",
            "demo/v1/greeter.proto",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let golden_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    for file in ["demo.v1.rs", "demo.common.v1.rs"] {
        let actual = read(&out, file);
        let golden = golden_dir.join(file);
        if std::env::var_os("GRPC_CODEGEN_BLESS").is_some() {
            fs::create_dir_all(&golden_dir).unwrap();
            fs::write(&golden, &actual).unwrap();
            continue;
        }
        let expected = fs::read_to_string(&golden).unwrap_or_default();
        assert!(
            actual == expected,
            "{file} differs from tests/golden/{file} (GRPC_CODEGEN_BLESS=1 to update):\n{actual}"
        );
    }
}
