//! The generated code compiles against the real grpc-core, grpc-server and grpc-client, with
//! no protoc anywhere.
//!
//! Generates code from `tests/protos` (imports, nested packages, every streaming kind,
//! hostile comments, keyword names) with the `grpc-codegen` binary (PATH emptied, PROTOC
//! pointing nowhere), drops it into `tests/fixtures/compile-check` (a user crate that
//! implements every generated trait with `async fn`s and calls every client method from
//! `Send + 'static` tasks), and builds that against this repository's crates: `cargo clippy`
//! with warnings denied, `cargo doc` with rustdoc warnings denied, and `cargo test --doc`,
//! which must find no doc tests (no .proto comment may turn into one). Offline: it only needs
//! crates the workspace already uses.
//!
//! The scratch workspace and its target directory live under this crate's
//! `CARGO_TARGET_TMPDIR`, so runs after the first reuse the compiled dependencies (the first
//! run compiles the stack once, about 40 s on two cores).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The fixture protos, relative to `tests/protos`.
const PROTOS: &[&str] = &[
    "demo/v1/greeter.proto",
    "demo/v1/toolbox.proto",
    "demo/v1/inner/inner.proto",
    "nopkg.proto",
];

const WORKSPACE_MANIFEST: &str = r#"# Scratch workspace written by grpc-codegen's tests/compile_generated.rs.
[workspace]
resolver = "3"
members = ["compile-check"]
"#;

/// The user crate's manifest: the real grpc-server and grpc-client of this repository, by
/// absolute path. No grpc-core: generated code reaches it through their re-exports.
fn user_manifest() -> String {
    let crates = manifest_dir().parent().unwrap();
    let path = |name: &str| {
        let dir = crates.join(name);
        format!("{{ path = {:?} }}", dir.to_str().unwrap())
    };
    format!(
        "[package]\nname = \"generated-code-check\"\nversion = \"0.0.0\"\nedition = \"2024\"\n\
         publish = false\n\n[dependencies]\nprost = \"0.14\"\nprost-types = \"0.14\"\n\
         grpc-server = {}\ngrpc-client = {}\n",
        path("grpc-server"),
        path("grpc-client"),
    )
}

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Runs the generator binary with no protoc to be found: an empty PATH and a PROTOC that
/// names a file that does not exist.
fn generate(out: &Path, scratch: &Path) {
    let empty_path = scratch.join("empty-path");
    fs::create_dir_all(&empty_path).unwrap();
    let protos = manifest_dir().join("tests/protos");
    let output = Command::new(env!("CARGO_BIN_EXE_grpc-codegen"))
        .env("PATH", &empty_path)
        .env("PROTOC", scratch.join("no-such-protoc"))
        .env_remove("PROTOC_INCLUDE")
        .arg("--out")
        .arg(out)
        .arg("--include")
        .arg(&protos)
        .args(["--include-file", "mod.rs"])
        .args(PROTOS.iter().map(|p| protos.join(p)))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "grpc-codegen failed: {}",
        text(&output)
    );
}

fn text(output: &Output) -> String {
    format!(
        "{}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn cargo(project: &Path, target_dir: &Path, args: &[&str]) -> Output {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(project)
        .args(args)
        .env("CARGO_TARGET_DIR", target_dir)
        .env("RUSTDOCFLAGS", "-D warnings")
        .env("CARGO_TERM_COLOR", "never")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "`cargo {}` failed: {}",
        args.join(" "),
        text(&output)
    );
    output
}

fn has_clippy() -> bool {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    Command::new(cargo)
        .args(["clippy", "--version"])
        .output()
        .is_ok_and(|out| out.status.success())
}

#[test]
fn generated_code_compiles_against_the_real_crates() {
    let scratch = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("grpc-codegen-compile");
    let project = scratch.join("project");
    let target_dir = scratch.join("target");
    if project.exists() {
        fs::remove_dir_all(&project).unwrap();
    }
    let fixtures = manifest_dir().join("tests/fixtures");
    copy_dir(
        &fixtures.join("compile-check"),
        &project.join("compile-check"),
    );
    fs::write(project.join("compile-check/Cargo.toml"), user_manifest()).unwrap();
    fs::write(project.join("Cargo.toml"), WORKSPACE_MANIFEST).unwrap();
    // Start from the workspace's lock file, so that offline resolution picks the versions
    // that are already downloaded.
    let workspace_lock = manifest_dir().join("../../Cargo.lock");
    if workspace_lock.exists() {
        fs::copy(&workspace_lock, project.join("Cargo.lock")).unwrap();
    }

    generate(&project.join("compile-check/src/generated"), &scratch);

    let package = ["--offline", "--package", "generated-code-check"];
    let check = if has_clippy() { "clippy" } else { "check" };
    cargo(&project, &target_dir, &[&[check][..], &package].concat());
    cargo(
        &project,
        &target_dir,
        &[&["doc", "--no-deps"][..], &package].concat(),
    );
    let doc_tests = cargo(
        &project,
        &target_dir,
        &[&["test", "--doc"][..], &package].concat(),
    );
    let stdout = String::from_utf8_lossy(&doc_tests.stdout);
    assert!(
        stdout.contains("running 0 tests"),
        "the generated code has doc tests: {}",
        text(&doc_tests)
    );
}
