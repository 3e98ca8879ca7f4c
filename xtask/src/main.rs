//! `cargo xtask`: the project's automation, in Rust so it runs wherever cargo does.
//!
//! - `cargo xtask test`: everything CI checks (formatting, clippy with warnings denied, every
//!   test and doc test in the workspace). The README's test command.
//! - `cargo xtask fuzz <target> <seconds>`: run one cargo-fuzz target for a fixed time,
//!   installing cargo-fuzz first if it is missing (needs the nightly toolchain).
//! - `cargo xtask fuzz list`: the fuzz targets.
//! - `cargo xtask bench [--quick] [options]`: build `benches/transport-bench` in release and
//!   run it (our HTTP/2 against the h2 crate over loopback; `benches/README.md`). Not part of
//!   `cargo xtask test`.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("fuzz") => fuzz(&args[1..]),
        Some("bench") => bench(&args[1..]),
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
  cargo xtask bench [--quick] [opts]   transport benchmark vs h2, release build
                                       (opts: see `cargo xtask bench --help`)";

fn workspace_root() -> PathBuf {
    // xtask lives one level below the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Runs a command in the workspace root, echoing it, and fails if it fails.
fn run(program: &str, args: &[&str]) -> Result<(), String> {
    run_in(&workspace_root(), program, args)
}

fn run_in(dir: &Path, program: &str, args: &[&str]) -> Result<(), String> {
    eprintln!("+ {program} {}", args.join(" "));
    let start = Instant::now();
    let status = Command::new(program)
        .args(args)
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

fn test() -> Result<(), String> {
    let started = Instant::now();
    run("cargo", &["fmt", "--all", "--check"])?;
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
    run(
        "cargo",
        &["test", "--workspace", "--all-targets", "--locked"],
    )?;
    run("cargo", &["test", "--workspace", "--doc", "--locked"])?;
    eprintln!(
        "xtask test: all checks passed in {:.0}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Builds the transport benchmark in release and runs it with `args` (`--quick` for the
/// CI smoke mode). Results go to `target/bench/transport.{json,md}`.
fn bench(args: &[String]) -> Result<(), String> {
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
    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_absolute() {
                dir
            } else {
                workspace_root().join(dir)
            }
        })
        .unwrap_or_else(|| workspace_root().join("target"));
    let exe = target_dir
        .join("release")
        .join(format!("transport-bench{}", env::consts::EXE_SUFFIX));
    let exe = exe
        .to_str()
        .ok_or_else(|| format!("non-UTF-8 path {}", exe.display()))?;
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(exe, &args)
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
