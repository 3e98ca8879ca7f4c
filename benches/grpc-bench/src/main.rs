//! `grpc-bench`: the side-by-side gRPC benchmark (`benches/README.md`, `docs/BENCHMARKS.md`).
//!
//! Our server and client against tonic 0.14's and grpc-go 1.33's on
//! grpc.testing.BenchmarkService, each server pinned to one core and the load generator
//! (h2load, our client or tonic's) on another. Subcommands:
//!
//! - `suite`: runs everything and writes `target/bench/grpc.{json,md}` (what `cargo xtask
//!   bench` runs);
//! - `server --stack ours|tonic [--addr ADDR]`: one server, controlled over stdin;
//! - `load --stack ours|tonic --target ADDR [--scenario ...]`: one load run, a JSON line out;
//! - `idle --target ADDR --connections N`: holds N idle connections until stdin ends.

mod alloc;
mod baseline;
mod h2load;
mod load;
mod report;
mod server;
mod service;
mod suite;

/// The benchmark's error type: every failure is reported and ends the run.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[global_allocator]
static GLOBAL: alloc::CountingAlloc = alloc::CountingAlloc;

/// grpc.testing messages, our BenchmarkService server trait and client (grpc-codegen).
// Generated code: not every message and method is used by the benchmark.
#[allow(missing_docs, unreachable_pub, dead_code)]
pub(crate) mod pb {
    include!(concat!(env!("OUT_DIR"), "/grpc.testing.rs"));
}

/// tonic's BenchmarkService server and client (tonic-prost-build), over the messages in [`pb`].
#[allow(
    missing_docs,
    unreachable_pub,
    dead_code,
    clippy::all,
    clippy::pedantic
)]
pub(crate) mod tonic_pb {
    include!(concat!(env!("OUT_DIR"), "/tonic/grpc.testing.rs"));
}

const USAGE: &str = "\
usage: grpc-bench suite [--quick] [--duration SECS] [--warmup SECS] [--out DIR]
                        [--go-server PATH] [--h2load PATH] [--only NAME]...
       grpc-bench server --stack ours|tonic|tcp [--addr ADDR]
       grpc-bench load --stack ours|tonic|tcp --target ADDR [--scenario unary|pingpong|stream|large]
                       [--size OCTETS] [--connections N] [--in-flight N] [--warmup SECS]
                       [--duration SECS] [--calls N [--count-allocs]]
       grpc-bench idle --target ADDR --connections N";

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || args.iter().any(|arg| arg == "--help" || arg == "-h") {
        println!("{USAGE}");
        return;
    }
    let command = args.remove(0);
    let mut flags = Flags(args);
    let outcome = match command.as_str() {
        "suite" => suite::SuiteArgs::parse(&mut flags).and_then(|args| {
            flags.finish()?;
            suite::run(args)
        }),
        "server" => (|| {
            let stack = server::Stack::parse(&flags.required("--stack")?)?;
            let addr = flags
                .value("--addr")?
                .unwrap_or_else(|| "127.0.0.1:0".into())
                .parse()?;
            flags.finish()?;
            server::run(stack, addr)
        })(),
        "load" => load::LoadArgs::parse(&mut flags).and_then(|args| {
            flags.finish()?;
            load::run(args)
        }),
        "idle" => (|| {
            let target = flags.required("--target")?.parse()?;
            let connections = flags.parsed("--connections")?.unwrap_or(1000);
            flags.finish()?;
            load::idle(target, connections)
        })(),
        other => Err(format!("unknown command {other:?}\n{USAGE}").into()),
    };
    if let Err(error) = outcome {
        eprintln!("grpc-bench {command}: {error}");
        std::process::exit(1);
    }
}

/// Command-line flags still to be read (`--name value` pairs and switches).
pub(crate) struct Flags(Vec<String>);

impl Flags {
    /// Removes `name` and its value; `None` when absent.
    pub(crate) fn value(&mut self, name: &str) -> Result<Option<String>, BoxError> {
        let Some(at) = self.0.iter().position(|arg| arg == name) else {
            return Ok(None);
        };
        if at + 1 >= self.0.len() {
            return Err(format!("{name} needs a value").into());
        }
        let value = self.0.remove(at + 1);
        self.0.remove(at);
        Ok(Some(value))
    }

    /// Every value of a repeatable flag.
    pub(crate) fn values(&mut self, name: &str) -> Result<Vec<String>, BoxError> {
        let mut values = Vec::new();
        while let Some(value) = self.value(name)? {
            values.push(value);
        }
        Ok(values)
    }

    /// A flag that must be present.
    pub(crate) fn required(&mut self, name: &str) -> Result<String, BoxError> {
        self.value(name)?
            .ok_or_else(|| format!("{name} is required").into())
    }

    /// A flag's value parsed, when present.
    pub(crate) fn parsed<T>(&mut self, name: &str) -> Result<Option<T>, BoxError>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        match self.value(name)? {
            None => Ok(None),
            Some(text) => text
                .parse()
                .map(Some)
                .map_err(|error| format!("{name} {text:?}: {error}").into()),
        }
    }

    /// Removes a switch; true when it was given.
    pub(crate) fn switch(&mut self, name: &str) -> bool {
        let before = self.0.len();
        self.0.retain(|arg| arg != name);
        self.0.len() != before
    }

    /// Fails on anything not read.
    pub(crate) fn finish(&self) -> Result<(), BoxError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(format!("unexpected arguments: {}\n{USAGE}", self.0.join(" ")).into())
        }
    }
}
