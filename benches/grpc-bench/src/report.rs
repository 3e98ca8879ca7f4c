//! The suite's report: every row with each server's result, memory and per-call costs,
//! printed as Markdown and written to `grpc.md` and `grpc.json` in the output directory.
//!
//! Ratios are "above 1 means ours is better": ours/peer for rates, peer/ours for latencies,
//! memory and per-call costs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::BoxError;
use crate::load::LoadResult;
use crate::suite::PerServer;

/// How the suite ran.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Settings {
    pub(crate) warmup_secs: f64,
    pub(crate) duration_secs: f64,
    pub(crate) repeat: usize,
    pub(crate) pinned: bool,
    pub(crate) cpus: usize,
    pub(crate) servers: Vec<String>,
    pub(crate) notes: Vec<String>,
}

/// One server's outcome in a row.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub(crate) enum Cell {
    Measured {
        result: LoadResult,
        /// Server CPU time during the run, as a share of one core over the run's wall time.
        server_cpu: f64,
    },
    Skipped {
        why: String,
    },
    Failed {
        error: String,
    },
}

/// A scenario under one load generator, against every server.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Row {
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) generator: String,
    pub(crate) scenario: String,
    pub(crate) servers: BTreeMap<String, Cell>,
}

impl Row {
    pub(crate) fn new(id: &str, title: &str, generator: &str, scenario: &str) -> Row {
        Row {
            id: id.to_owned(),
            title: title.to_owned(),
            generator: generator.to_owned(),
            scenario: scenario.to_owned(),
            servers: BTreeMap::new(),
        }
    }

    pub(crate) fn measured(&mut self, server: &str, result: LoadResult, server_cpu: f64) {
        self.servers
            .insert(server.to_owned(), Cell::Measured { result, server_cpu });
    }

    pub(crate) fn skipped(&mut self, server: &str, why: &str) {
        self.servers.insert(
            server.to_owned(),
            Cell::Skipped {
                why: why.to_owned(),
            },
        );
    }

    pub(crate) fn failed(&mut self, server: &str, error: &str) {
        self.servers.insert(
            server.to_owned(),
            Cell::Failed {
                error: error.to_owned(),
            },
        );
    }

    fn result(&self, server: &str) -> Option<&LoadResult> {
        match self.servers.get(server)? {
            Cell::Measured { result, .. } => Some(result),
            _ => None,
        }
    }
}

/// Resident memory of one server.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub(crate) struct Memory {
    pub(crate) start_rss: u64,
    pub(crate) idle_connections: u64,
    pub(crate) idle_rss: u64,
    pub(crate) after_load_rss: u64,
    /// Live heap each idle connection added (our binaries: ours and tonic).
    pub(crate) idle_heap_per_connection: Option<f64>,
}

impl Memory {
    /// Resident octets each idle connection added.
    pub(crate) fn per_idle_connection(&self) -> f64 {
        self.idle_rss.saturating_sub(self.start_rss) as f64 / self.idle_connections.max(1) as f64
    }
}

/// Allocations and system calls per unary call, for one server, shape and client.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub(crate) struct Costs {
    pub(crate) server_allocations_per_call: f64,
    pub(crate) server_allocated_bytes_per_call: f64,
    pub(crate) server_syscalls_per_call: Option<f64>,
    pub(crate) client_allocations_per_call: f64,
    pub(crate) client_allocated_bytes_per_call: f64,
}

/// Everything the suite measured.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Report {
    pub(crate) settings: Settings,
    pub(crate) rows: Vec<Row>,
    pub(crate) memory: PerServer<Memory>,
    /// server -> "shape client" -> costs.
    pub(crate) costs: PerServer<BTreeMap<String, Costs>>,
    /// A plain TCP echo of 180 octets, one in flight, between the same CPUs: the floor
    /// under every 1x1 latency.
    pub(crate) tcp_floor: Option<LoadResult>,
}

const OURS: &str = "ours";

/// A column of a row: its name, how to read it from a result, and whether higher is better.
type Metric = (&'static str, fn(&LoadResult) -> f64, bool);
const PEERS: [&str; 2] = ["tonic", "grpc-go"];

impl Report {
    pub(crate) fn new(settings: Settings) -> Report {
        Report {
            settings,
            rows: Vec::new(),
            memory: BTreeMap::new(),
            costs: BTreeMap::new(),
            tcp_floor: None,
        }
    }

    pub(crate) fn push(&mut self, row: Row) {
        self.rows.push(row);
    }

    pub(crate) fn memory_mut(&mut self, server: &str) -> &mut Memory {
        self.memory.entry(server.to_owned()).or_default()
    }

    pub(crate) fn costs_mut(&mut self, server: &str, shape: &str, client: &str) -> &mut Costs {
        self.costs
            .entry(server.to_owned())
            .or_default()
            .entry(format!("{shape} {client} client"))
            .or_default()
    }

    fn row(&self, id: &str, generator: &str) -> Option<&Row> {
        self.rows
            .iter()
            .find(|row| row.id == id && row.generator == generator)
    }

    fn servers(&self) -> Vec<&str> {
        self.settings.servers.iter().map(String::as_str).collect()
    }

    /// The whole report as Markdown.
    pub(crate) fn markdown(&self) -> String {
        let mut md = String::new();
        let servers = self.servers();
        let peers: Vec<&str> = PEERS
            .iter()
            .copied()
            .filter(|peer| servers.contains(peer))
            .collect();
        let _ = writeln!(
            md,
            "# gRPC benchmark: our stack vs tonic 0.14 and grpc-go 1.33\n"
        );
        let _ = writeln!(
            md,
            "Servers pinned to one CPU and load generators to another: {}. {} s measured after {} s of warm-up per run{}. Ratios above 1 mean ours is better.\n",
            if self.settings.pinned { "yes" } else { "no" },
            self.settings.duration_secs,
            self.settings.warmup_secs,
            if self.settings.repeat > 1 {
                format!(", median of {} runs", self.settings.repeat)
            } else {
                String::new()
            },
        );
        for note in &self.settings.notes {
            let _ = writeln!(md, "- {note}");
        }
        if !self.settings.notes.is_empty() {
            md.push('\n');
        }
        self.acceptance(&mut md);
        if let Some(floor) = &self.tcp_floor {
            let _ = writeln!(
                md,
                "Latency floor: a plain TCP echo of 180 octets (no HTTP/2, no gRPC) between the same two CPUs makes {} round trips/s, p50 {} µs, p99 {} µs. Every 1x1 latency below includes it.\n",
                number(floor.rate),
                number(floor.p50_us),
                number(floor.p99_us)
            );
        }
        self.server_table(&mut md, &servers, &peers);
        self.client_table(&mut md, &servers);
        self.cost_table(&mut md, &servers);
        md
    }

    fn server_table(&self, md: &mut String, servers: &[&str], peers: &[&str]) {
        let _ = writeln!(md, "## Servers: each scenario against each server\n");
        let mut header = String::from("| scenario | load | metric |");
        let mut rule = String::from("|---|---|---|");
        for server in servers {
            let _ = write!(header, " {server} |");
            rule.push_str("---:|");
        }
        for peer in peers {
            let _ = write!(header, " vs {peer} |");
            rule.push_str("---:|");
        }
        let _ = writeln!(md, "{header}\n{rule}");
        for row in &self.rows {
            let streaming = row.scenario == "stream" || row.scenario == "large";
            let metrics: Vec<Metric> = if streaming {
                vec![("MB/s", |r| r.mb_per_s, true)]
            } else {
                vec![
                    ("calls/s", |r| r.rate, true),
                    ("p50 µs", |r| r.p50_us, false),
                    ("p99 µs", |r| r.p99_us, false),
                ]
            };
            for (index, (metric, value, higher_better)) in metrics.iter().enumerate() {
                let (title, generator) = if index == 0 {
                    (row.title.as_str(), row.generator.as_str())
                } else {
                    ("", "")
                };
                let _ = write!(md, "| {title} | {generator} | {metric} |");
                for server in servers {
                    match row.servers.get(*server) {
                        Some(Cell::Measured { result, .. }) => {
                            let _ = write!(md, " {} |", number(value(result)));
                        }
                        Some(Cell::Skipped { .. }) => md.push_str(" n/a |"),
                        Some(Cell::Failed { .. }) => md.push_str(" failed |"),
                        None => md.push_str(" |"),
                    }
                }
                for peer in peers {
                    let ratio = match (row.result(OURS), row.result(peer)) {
                        (Some(ours), Some(theirs)) => {
                            ratio(value(ours), value(theirs), *higher_better)
                        }
                        _ => String::new(),
                    };
                    let _ = write!(md, " {ratio} |");
                }
                md.push('\n');
            }
        }
        md.push('\n');
    }

    fn client_table(&self, md: &mut String, servers: &[&str]) {
        let _ = writeln!(
            md,
            "## Clients: our client and tonic's against the same server\n"
        );
        let _ = writeln!(
            md,
            "| scenario | server | our client | tonic client | ratio | p99 ours / tonic (µs) |"
        );
        let _ = writeln!(md, "|---|---|---:|---:|---:|---:|");
        let ids: Vec<&Row> = self
            .rows
            .iter()
            .filter(|row| row.generator == "our client")
            .collect();
        for ours_row in ids {
            let Some(tonic_row) = self.row(&ours_row.id, "tonic client") else {
                continue;
            };
            let streaming = ours_row.scenario == "stream" || ours_row.scenario == "large";
            for server in servers {
                let (Some(ours), Some(theirs)) =
                    (ours_row.result(server), tonic_row.result(server))
                else {
                    continue;
                };
                let value = |r: &LoadResult| if streaming { r.mb_per_s } else { r.rate };
                let unit = if streaming { "MB/s" } else { "/s" };
                let _ = writeln!(
                    md,
                    "| {} | {server} | {} {unit} | {} {unit} | {} | {} / {} |",
                    ours_row.title,
                    number(value(ours)),
                    number(value(theirs)),
                    ratio(value(ours), value(theirs), true),
                    number(ours.p99_us),
                    number(theirs.p99_us),
                );
            }
        }
        md.push('\n');
    }

    fn cost_table(&self, md: &mut String, servers: &[&str]) {
        let _ = writeln!(md, "## Memory and per-call costs\n");
        let _ = writeln!(
            md,
            "| server | RSS at start | RSS with idle connections | RSS per idle connection | heap per idle connection | RSS after the load runs |"
        );
        let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|");
        for server in servers {
            if let Some(memory) = self.memory.get(*server) {
                let _ = writeln!(
                    md,
                    "| {server} | {:.1} MiB | {:.1} MiB ({}) | {:.1} KiB | {} | {:.1} MiB |",
                    mib(memory.start_rss),
                    mib(memory.idle_rss),
                    memory.idle_connections,
                    memory.per_idle_connection() / 1024.0,
                    memory
                        .idle_heap_per_connection
                        .map_or("n/a".to_owned(), |heap| format!("{:.1} KiB", heap / 1024.0)),
                    mib(memory.after_load_rss)
                );
            }
        }
        let _ = writeln!(
            md,
            "\nPer unary call (180 B), counted over a fixed number of calls; grpc-go's allocations are Go's `runtime.MemStats.Mallocs`:\n"
        );
        let _ = writeln!(
            md,
            "| server | shape, client | server allocs | server bytes allocated | server syscalls | client allocs | client bytes allocated |"
        );
        let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|");
        for server in servers {
            let Some(costs) = self.costs.get(*server) else {
                continue;
            };
            for (shape, costs) in costs {
                let _ = writeln!(
                    md,
                    "| {server} | {shape} | {:.1} | {:.0} | {} | {:.1} | {:.0} |",
                    costs.server_allocations_per_call,
                    costs.server_allocated_bytes_per_call,
                    costs
                        .server_syscalls_per_call
                        .map_or("?".to_owned(), |count| format!("{count:.2}")),
                    costs.client_allocations_per_call,
                    costs.client_allocated_bytes_per_call,
                );
            }
        }
        md.push('\n');
    }

    /// The targets, each with the numbers it was judged on.
    fn acceptance(&self, md: &mut String) {
        let mut lines = Vec::new();
        let unary = |id: &str, generator: &str, server: &str| {
            self.row(id, generator)
                .and_then(|row| row.result(server))
                .cloned()
        };
        let mut check = |name: String, pass: Option<bool>, detail: String| {
            let mark = match pass {
                Some(true) => "met",
                Some(false) => "**missed**",
                None => "not measured",
            };
            lines.push(format!("| {name} | {mark} | {detail} |"));
        };
        // Unary small-message throughput under h2load (the neutral generator).
        if let (Some(ours), Some(tonic)) = (
            unary("unary_180B_50x1000", "h2load", OURS),
            unary("unary_180B_50x1000", "h2load", "tonic"),
        ) {
            let r = ours.rate / tonic.rate;
            check(
                "unary 180 B throughput >= 1.3x tonic (h2load, 50x1000)".into(),
                Some(r >= 1.3),
                format!(
                    "{} vs {} calls/s: {r:.2}x",
                    number(ours.rate),
                    number(tonic.rate)
                ),
            );
            check(
                "... with p99 no worse than tonic's".into(),
                Some(ours.p99_us <= tonic.p99_us),
                format!("{} vs {} µs", number(ours.p99_us), number(tonic.p99_us)),
            );
        } else {
            check(
                "unary 180 B throughput >= 1.3x tonic".into(),
                None,
                String::new(),
            );
        }
        if let (Some(ours), Some(go)) = (
            unary("unary_180B_50x1000", "h2load", OURS),
            unary("unary_180B_50x1000", "h2load", "grpc-go"),
        ) {
            let r = ours.rate / go.rate;
            check(
                "unary 180 B throughput >= 1.0x grpc-go (h2load, 50x1000)".into(),
                Some(r >= 1.0),
                format!(
                    "{} vs {} calls/s: {r:.2}x",
                    number(ours.rate),
                    number(go.rate)
                ),
            );
        } else {
            check(
                "unary 180 B throughput >= 1.0x grpc-go".into(),
                None,
                String::new(),
            );
        }
        for generator in ["h2load", "our client"] {
            let tonic_generator = if generator == "h2load" {
                "h2load"
            } else {
                "tonic client"
            };
            let who = if generator == "h2load" {
                "h2load against each server"
            } else {
                "each stack's own client and server"
            };
            if let (Some(ours), Some(tonic)) = (
                unary("unary_180B_1x1", generator, OURS),
                unary("unary_180B_1x1", tonic_generator, "tonic"),
            ) {
                let r = ours.p50_us / tonic.p50_us;
                check(
                    format!("1x1 p50 <= 0.8x tonic's ({who})"),
                    Some(r <= 0.8),
                    format!(
                        "{} vs {} µs: {r:.2}x",
                        number(ours.p50_us),
                        number(tonic.p50_us)
                    ),
                );
            }
        }
        if let (Some(ours), Some(tonic)) = (
            unary("stream_1MiB", "our client", OURS),
            unary("stream_1MiB", "tonic client", "tonic"),
        ) {
            let r = ours.mb_per_s / tonic.mb_per_s;
            check(
                "streaming 1 MiB >= 1.2x tonic (each stack's client and server)".into(),
                Some(r >= 1.2),
                format!(
                    "{} vs {} MB/s: {r:.2}x",
                    number(ours.mb_per_s),
                    number(tonic.mb_per_s)
                ),
            );
        }
        if let (Some(ours), Some(tonic)) = (self.memory.get(OURS), self.memory.get("tonic")) {
            let (o, t) = (ours.per_idle_connection(), tonic.per_idle_connection());
            check(
                "idle connection memory <= 0.5x tonic's".into(),
                Some(o <= 0.5 * t),
                format!(
                    "{:.1} vs {:.1} KiB per connection: {:.2}x",
                    o / 1024.0,
                    t / 1024.0,
                    o / t.max(1.0)
                ),
            );
        }
        let mut client_wins = Vec::new();
        let mut all = true;
        let mut any = false;
        for server in self.servers() {
            for id in ["unary_180B_1x1", "unary_180B_50x1000"] {
                if let (Some(ours), Some(tonic)) = (
                    unary(id, "our client", server),
                    unary(id, "tonic client", server),
                ) {
                    any = true;
                    let r = ours.rate / tonic.rate;
                    all &= r >= 1.0;
                    client_wins.push(format!(
                        "{server} {}: {r:.2}x",
                        id.trim_start_matches("unary_180B_")
                    ));
                }
            }
        }
        check(
            "our client >= tonic's client on every server (unary 180 B)".into(),
            any.then_some(all),
            client_wins.join(", "),
        );
        let _ = writeln!(
            md,
            "## Targets\n\n| target | result | numbers |\n|---|---|---|"
        );
        for line in lines {
            let _ = writeln!(md, "{line}");
        }
        md.push('\n');
    }

    /// Prints the Markdown and writes `grpc.md` and `grpc.json` into `out`.
    pub(crate) fn write(&self, out: &Path) -> Result<(), BoxError> {
        let md = self.markdown();
        println!("{md}");
        std::fs::write(out.join("grpc.md"), &md)?;
        std::fs::write(out.join("grpc.json"), serde_json::to_string_pretty(self)?)?;
        eprintln!(
            "wrote {} and {}",
            out.join("grpc.md").display(),
            out.join("grpc.json").display()
        );
        Ok(())
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// A number with few enough digits to read.
fn number(value: f64) -> String {
    if value >= 1000.0 {
        let whole = value.round() as u64;
        let digits = whole.to_string();
        let mut grouped = String::new();
        for (index, digit) in digits.chars().enumerate() {
            if index > 0 && (digits.len() - index) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(digit);
        }
        grouped
    } else if value >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

/// "1.23x", oriented so that above 1 means ours is better.
fn ratio(ours: f64, theirs: f64, higher_better: bool) -> String {
    if ours <= 0.0 || theirs <= 0.0 {
        return String::new();
    }
    let r = if higher_better {
        ours / theirs
    } else {
        theirs / ours
    };
    format!("{r:.2}x")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(number(1234567.4), "1,234,567");
        assert_eq!(number(123.4), "123");
        assert_eq!(number(12.34), "12.3");
        assert_eq!(ratio(2.0, 1.0, true), "2.00x");
        assert_eq!(ratio(10.0, 20.0, false), "2.00x");
        assert_eq!(ratio(0.0, 1.0, true), "");
    }
}
