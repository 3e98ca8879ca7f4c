//! The results table: printed, and written as JSON and Markdown.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::counting::IoCounts;
use crate::scenario::{RateResult, TransferResult};

/// Which way a metric improves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Better {
    /// Rates: more is better; ratio = ours / h2.
    Higher,
    /// Latencies and costs: less is better; ratio = h2 / ours.
    Lower,
}

/// One line of the table.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Row {
    /// Scenario name (`unary_rtt`, ...).
    pub(crate) scenario: &'static str,
    /// What is measured, with its unit.
    pub(crate) metric: String,
    /// Our value.
    pub(crate) ours: Option<f64>,
    /// Which h2 configuration the peer column is.
    pub(crate) peer: &'static str,
    /// The h2 value.
    pub(crate) h2: Option<f64>,
    /// Which way is better.
    pub(crate) better: Better,
    /// Above 1 means we win, whatever the metric.
    pub(crate) ratio: Option<f64>,
    /// Extra detail for our cell (e.g. the read/write split).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ours_detail: Option<String>,
    /// Extra detail for the h2 cell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) h2_detail: Option<String>,
}

/// Raw numbers of one measured run, kept in the JSON for later analysis.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Raw {
    /// Scenario name.
    pub(crate) scenario: &'static str,
    /// `ours`, `h2`, `h2 (16 MiB windows)`, `grpc` or `grpc, <size> messages`.
    pub(crate) stack: String,
    /// Exchanges (rate scenarios) or octets (transfers).
    pub(crate) count: u64,
    /// Seconds measured.
    pub(crate) elapsed_s: f64,
    /// Client socket calls.
    pub(crate) client_io: IoCounts,
    /// Server socket calls.
    pub(crate) server_io: IoCounts,
}

/// Run settings recorded with the results.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Settings {
    /// Measured seconds per rate scenario and stack.
    pub(crate) duration_s: f64,
    /// Warm-up seconds before each rate measurement.
    pub(crate) warmup_s: f64,
    /// MiB moved by each timed transfer.
    pub(crate) transfer_mib: u64,
    /// Tokio worker threads (client and server share the runtime).
    pub(crate) workers: usize,
    /// Runs of each scenario and stack; the median run is reported.
    pub(crate) repeat: usize,
    /// Whether this was a `--quick` smoke run.
    pub(crate) quick: bool,
    /// Cores the OS reports.
    pub(crate) cores: usize,
    /// Message size of the gRPC unary and ping-pong scenarios.
    pub(crate) grpc_message_len: usize,
    /// Calls in flight in `grpc_unary_concurrent`.
    pub(crate) grpc_in_flight: usize,
}

/// The whole report.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    /// How it was run.
    pub(crate) settings: Settings,
    /// The table.
    pub(crate) rows: Vec<Row>,
    /// The gRPC table.
    pub(crate) grpc_rows: Vec<GrpcRow>,
    /// Raw per-stack numbers.
    pub(crate) raw: Vec<Raw>,
}

/// Label of the default h2 column.
pub(crate) const H2: &str = "h2";
/// Label of the h2 column with 16 MiB windows.
pub(crate) const H2_LARGE: &str = "h2 (16 MiB windows)";
/// Label of our gRPC stack (grpc-client against grpc-server).
pub(crate) const GRPC: &str = "grpc";
/// Label of the tonic stack (tonic client against tonic server).
pub(crate) const TONIC: &str = "tonic";

/// One line of the gRPC table: our gRPC stack, and our raw HTTP/2 transport doing the
/// same exchange shape in the same run when there is such a scenario.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct GrpcRow {
    /// gRPC scenario name (`grpc_unary`, ...).
    pub(crate) scenario: &'static str,
    /// What is measured, with its unit.
    pub(crate) metric: String,
    /// Our gRPC stack's value.
    pub(crate) grpc: Option<f64>,
    /// tonic's value (tonic client against tonic server), where tonic runs the scenario.
    pub(crate) tonic: Option<f64>,
    /// Which way is better.
    pub(crate) better: Better,
    /// Ours against tonic, above 1 when ours is better: grpc/tonic for rates,
    /// tonic/grpc for latencies and costs.
    pub(crate) vs_tonic: Option<f64>,
    /// The transport scenario the raw column comes from (`unary_rtt`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) raw_scenario: Option<&'static str>,
    /// Our raw HTTP/2 value.
    pub(crate) raw: Option<f64>,
    /// gRPC / raw, for every metric (below 1 for a rate, above 1 for a latency or a cost
    /// means gRPC costs more).
    pub(crate) grpc_over_raw: Option<f64>,
    /// Extra detail for the gRPC cell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) grpc_detail: Option<String>,
    /// Extra detail for the tonic cell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tonic_detail: Option<String>,
    /// Extra detail for the raw cell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) raw_detail: Option<String>,
}

/// The raw HTTP/2 counterpart of a gRPC rate scenario: its name, its unit and its runs.
pub(crate) type Baseline<'a> = (&'static str, &'static str, &'a [RateResult]);

fn ratio(ours: Option<f64>, h2: Option<f64>, better: Better) -> Option<f64> {
    let (ours, h2) = (ours?, h2?);
    let r = match better {
        Better::Higher => ours / h2,
        Better::Lower => h2 / ours,
    };
    r.is_finite().then_some(r)
}

fn rw(reads: f64, writes: f64) -> String {
    format!("{reads:.2} r + {writes:.2} w")
}

impl Report {
    /// An empty report.
    pub(crate) fn new(settings: Settings) -> Report {
        Report {
            settings,
            rows: Vec::new(),
            grpc_rows: Vec::new(),
            raw: Vec::new(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn row(
        &mut self,
        scenario: &'static str,
        metric: &str,
        peer: &'static str,
        better: Better,
        ours: Option<f64>,
        h2: Option<f64>,
        details: (Option<String>, Option<String>),
    ) {
        self.rows.push(Row {
            scenario,
            metric: metric.to_owned(),
            ours,
            peer,
            h2,
            better,
            ratio: ratio(ours, h2, better),
            ours_detail: details.0,
            h2_detail: details.1,
        });
    }

    /// Adds the rows of a rate scenario (unary or ping-pong) from every repetition of each
    /// stack: the repetition with the median rate stands for the stack (so all its
    /// numbers come from one run); the range of rates is shown beside it.
    pub(crate) fn add_rate(
        &mut self,
        scenario: &'static str,
        unit: &str,
        ours_runs: &[RateResult],
        h2_runs: &[RateResult],
    ) {
        for (stack, runs) in [("ours", ours_runs), (H2, h2_runs)] {
            for r in runs {
                self.raw.push(Raw {
                    scenario,
                    stack: stack.to_owned(),
                    count: r.exchanges,
                    elapsed_s: r.elapsed.as_secs_f64(),
                    client_io: r.client_io,
                    server_io: r.server_io,
                });
            }
        }
        let ours = median_run(ours_runs, RateResult::rate);
        let h2 = median_run(h2_runs, RateResult::rate);
        self.row(
            scenario,
            &format!("{unit}s/s"),
            H2,
            Better::Higher,
            ours.map(RateResult::rate),
            h2.map(RateResult::rate),
            (
                range(ours_runs, RateResult::rate),
                range(h2_runs, RateResult::rate),
            ),
        );
        let none = (None, None);
        for (name, q) in [("p50 latency (µs)", 0.5), ("p99 latency (µs)", 0.99)] {
            self.row(
                scenario,
                name,
                H2,
                Better::Lower,
                ours.map(|r| r.latency_us(q)),
                h2.map(|r| r.latency_us(q)),
                none.clone(),
            );
        }
        let client = |r: &RateResult| r.client_per_exchange();
        let server = |r: &RateResult| r.server_per_exchange();
        for (side, split) in [
            ("client", &client as &dyn Fn(&RateResult) -> (f64, f64)),
            ("server", &server),
        ] {
            let ours_rw = ours.map(split);
            let h2_rw = h2.map(split);
            self.row(
                scenario,
                &format!("{side} syscalls/{unit} (read+write)"),
                H2,
                Better::Lower,
                ours_rw.map(|(r, w)| r + w),
                h2_rw.map(|(r, w)| r + w),
                (ours_rw.map(|(r, w)| rw(r, w)), h2_rw.map(|(r, w)| rw(r, w))),
            );
        }
        self.row(
            scenario,
            &format!("allocations/{unit} (client+server)"),
            H2,
            Better::Lower,
            ours.map(|r| r.allocs_per_exchange),
            h2.map(|r| r.allocs_per_exchange),
            (
                ours.map(|r| format!("{:.0} B", r.alloc_bytes_per_exchange)),
                h2.map(|r| format!("{:.0} B", r.alloc_bytes_per_exchange)),
            ),
        );
    }

    /// Adds the rows of one transfer direction against one h2 configuration (median run
    /// of each stack by MB/s, range beside it).
    pub(crate) fn add_transfer(
        &mut self,
        direction: &'static str,
        ours_runs: &[TransferResult],
        peer: &'static str,
        h2_runs: &[TransferResult],
        with_ours_raw: bool,
    ) {
        let scenario = "stream_throughput";
        let ours_raw: &[TransferResult] = if with_ours_raw { ours_runs } else { &[] };
        for (stack, runs) in [("ours", ours_raw), (peer, h2_runs)] {
            for r in runs {
                self.raw.push(Raw {
                    scenario: direction,
                    stack: stack.to_owned(),
                    count: r.bytes,
                    elapsed_s: r.elapsed.as_secs_f64(),
                    client_io: r.client_io,
                    server_io: r.server_io,
                });
            }
        }
        let ours = median_run(ours_runs, TransferResult::mb_per_s);
        let h2 = median_run(h2_runs, TransferResult::mb_per_s);
        self.row(
            scenario,
            &format!("{direction} MB/s"),
            peer,
            Better::Higher,
            ours.map(TransferResult::mb_per_s),
            h2.map(TransferResult::mb_per_s),
            (
                range(ours_runs, TransferResult::mb_per_s),
                range(h2_runs, TransferResult::mb_per_s),
            ),
        );
        self.row(
            scenario,
            &format!("{direction} syscalls/MiB (both ends)"),
            peer,
            Better::Lower,
            ours.map(TransferResult::syscalls_per_mib),
            h2.map(TransferResult::syscalls_per_mib),
            (None, None),
        );
    }

    /// One gRPC row: `values` and `details` are (ours, tonic, raw).
    fn grpc_row(
        &mut self,
        scenario: &'static str,
        metric: &str,
        better: Better,
        raw_scenario: Option<&'static str>,
        values: (Option<f64>, Option<f64>, Option<f64>),
        details: (Option<String>, Option<String>, Option<String>),
    ) {
        let (grpc, tonic, raw) = values;
        let grpc_over_raw = match (grpc, raw) {
            (Some(g), Some(r)) => Some(g / r).filter(|x| x.is_finite()),
            _ => None,
        };
        self.grpc_rows.push(GrpcRow {
            scenario,
            metric: metric.to_owned(),
            grpc,
            tonic,
            better,
            vs_tonic: ratio(grpc, tonic, better),
            raw_scenario,
            raw,
            grpc_over_raw,
            grpc_detail: details.0,
            tonic_detail: details.1,
            raw_detail: details.2,
        });
    }

    /// Adds the rows of a gRPC rate scenario (median run by rate, range beside it), with
    /// tonic's runs and our raw HTTP/2 runs of the counterpart scenario beside them when
    /// there are some. Only the server's socket calls are known (both gRPC clients make
    /// their own sockets).
    pub(crate) fn add_grpc_rate(
        &mut self,
        scenario: &'static str,
        unit: &str,
        grpc_runs: &[RateResult],
        tonic_runs: &[RateResult],
        baseline: Option<Baseline<'_>>,
    ) {
        for (stack, runs) in [(GRPC, grpc_runs), (TONIC, tonic_runs)] {
            for r in runs {
                self.raw.push(Raw {
                    scenario,
                    stack: stack.to_owned(),
                    count: r.exchanges,
                    elapsed_s: r.elapsed.as_secs_f64(),
                    client_io: r.client_io,
                    server_io: r.server_io,
                });
            }
        }
        let (raw_scenario, raw_runs) = match baseline {
            Some((name, _, runs)) => (Some(name), runs),
            None => (None, &[][..]),
        };
        let grpc = median_run(grpc_runs, RateResult::rate);
        let tonic = median_run(tonic_runs, RateResult::rate);
        let raw = median_run(raw_runs, RateResult::rate);
        let values = |f: &dyn Fn(&RateResult) -> f64| (grpc.map(f), tonic.map(f), raw.map(f));
        self.grpc_row(
            scenario,
            &format!("{unit}s/s"),
            Better::Higher,
            raw_scenario,
            values(&RateResult::rate),
            (
                range(grpc_runs, RateResult::rate),
                range(tonic_runs, RateResult::rate),
                range(raw_runs, RateResult::rate),
            ),
        );
        for (name, q) in [
            ("p50 latency (µs)", 0.5),
            ("p90 latency (µs)", 0.9),
            ("p99 latency (µs)", 0.99),
        ] {
            self.grpc_row(
                scenario,
                name,
                Better::Lower,
                raw_scenario,
                values(&|r| r.latency_us(q)),
                (None, None, None),
            );
        }
        let split = |r: &RateResult| r.server_per_exchange();
        let detail = |r: Option<&RateResult>| r.map(split).map(|(r, w)| rw(r, w));
        self.grpc_row(
            scenario,
            &format!("server syscalls/{unit} (read+write)"),
            Better::Lower,
            raw_scenario,
            values(&|r| {
                let (r, w) = split(r);
                r + w
            }),
            (detail(grpc), detail(tonic), detail(raw)),
        );
        let bytes =
            |r: Option<&RateResult>| r.map(|r| format!("{:.0} B", r.alloc_bytes_per_exchange));
        self.grpc_row(
            scenario,
            &format!("allocations/{unit} (client+server)"),
            Better::Lower,
            raw_scenario,
            values(&|r| r.allocs_per_exchange),
            (bytes(grpc), bytes(tonic), bytes(raw)),
        );
    }

    /// Adds the rows of one gRPC server-streaming download (`what`: the message size), with
    /// our raw HTTP/2 download (64 KiB DATA chunks) of the same run beside it.
    pub(crate) fn add_grpc_transfer(
        &mut self,
        scenario: &'static str,
        what: &str,
        grpc_runs: &[TransferResult],
        raw_runs: &[TransferResult],
    ) {
        for r in grpc_runs {
            self.raw.push(Raw {
                scenario,
                stack: format!("{GRPC}, {what}"),
                count: r.bytes,
                elapsed_s: r.elapsed.as_secs_f64(),
                client_io: r.client_io,
                server_io: r.server_io,
            });
        }
        let raw_scenario = (!raw_runs.is_empty()).then_some("download");
        let grpc = median_run(grpc_runs, TransferResult::mb_per_s);
        let raw = median_run(raw_runs, TransferResult::mb_per_s);
        self.grpc_row(
            scenario,
            &format!("{what}: MB/s"),
            Better::Higher,
            raw_scenario,
            (
                grpc.map(TransferResult::mb_per_s),
                None,
                raw.map(TransferResult::mb_per_s),
            ),
            (
                range(grpc_runs, TransferResult::mb_per_s),
                None,
                range(raw_runs, TransferResult::mb_per_s),
            ),
        );
        let server_per_mib = |r: &TransferResult| {
            r.server_io.syscalls() as f64
                / (r.bytes as f64 / (1024.0 * 1024.0)).max(f64::MIN_POSITIVE)
        };
        self.grpc_row(
            scenario,
            &format!("{what}: server syscalls/MiB"),
            Better::Lower,
            raw_scenario,
            (grpc.map(server_per_mib), None, raw.map(server_per_mib)),
            (None, None, None),
        );
    }

    fn grpc_cells(&self) -> Vec<Vec<String>> {
        self.grpc_rows
            .iter()
            .map(|row| {
                let raw = match (row.raw, row.raw_scenario) {
                    (Some(_), Some(name)) => format!("{} [{name}]", cell(row.raw, &row.raw_detail)),
                    _ => cell(row.raw, &row.raw_detail),
                };
                vec![
                    row.scenario.to_owned(),
                    row.metric.clone(),
                    cell(row.grpc, &row.grpc_detail),
                    cell(row.tonic, &row.tonic_detail),
                    row.vs_tonic
                        .map_or_else(|| "-".to_owned(), |r| format!("{r:.2}x")),
                    raw,
                    row.grpc_over_raw
                        .map_or_else(|| "-".to_owned(), |r| format!("{r:.2}x")),
                ]
            })
            .collect()
    }

    fn cells(&self) -> Vec<Vec<String>> {
        self.rows
            .iter()
            .map(|row| {
                let peer = if row.peer == H2 {
                    cell(row.h2, &row.h2_detail)
                } else {
                    format!("{} [{}]", cell(row.h2, &row.h2_detail), row.peer)
                };
                vec![
                    row.scenario.to_owned(),
                    row.metric.clone(),
                    cell(row.ours, &row.ours_detail),
                    peer,
                    row.ratio
                        .map_or_else(|| "-".to_owned(), |r| format!("{r:.2}x")),
                ]
            })
            .collect()
    }

    /// The tables as aligned text.
    pub(crate) fn text(&self) -> String {
        let mut out = String::new();
        if !self.rows.is_empty() {
            let header = [
                "scenario",
                "metric",
                "ours",
                "h2",
                "ratio (>1: ours better)",
            ];
            out.push_str(&aligned(&header, &self.cells()));
            out.push('\n');
            out.push_str(&self.verdict());
            out.push('\n');
        }
        if !self.grpc_rows.is_empty() {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(GRPC_TITLE);
            out.push_str(":\n");
            let header = [
                "scenario",
                "metric",
                "gRPC (ours)",
                TONIC,
                "vs tonic (>1: ours better)",
                "raw HTTP/2 (ours)",
                "gRPC/raw",
            ];
            out.push_str(&aligned(&header, &self.grpc_cells()));
        }
        out
    }

    /// One line naming the latency and throughput rows where h2 did better (ratio below 1),
    /// which the project's goal says must not happen.
    pub(crate) fn verdict(&self) -> String {
        let losses: Vec<String> = self
            .rows
            .iter()
            .filter(|row| row.metric.ends_with("/s") || row.metric.contains("latency"))
            .filter_map(|row| {
                let ratio = row.ratio?;
                let peer = if row.peer == H2 {
                    String::new()
                } else {
                    format!(" vs {}", row.peer)
                };
                (ratio < 1.0)
                    .then(|| format!("{} {}{peer} ({ratio:.2}x)", row.scenario, row.metric))
            })
            .collect();
        if losses.is_empty() {
            "Latency and throughput: ours at least as good as h2 on every row.".to_owned()
        } else {
            format!("Worse than h2: {}.", losses.join("; "))
        }
    }

    /// The table as Markdown, with the settings above it.
    pub(crate) fn markdown(&self) -> String {
        let s = &self.settings;
        let mut out = String::from("# grpc-transport vs h2 over loopback TCP\n\n");
        let _ = writeln!(
            out,
            "{} s measured after {} s warm-up per rate scenario; {} MiB per transfer; \
             {} tokio workers shared by client and server; {} cores; median of {} run(s) \
             per stack (range in parentheses){}.\n",
            s.duration_s,
            s.warmup_s,
            s.transfer_mib,
            s.workers,
            s.cores,
            s.repeat,
            if s.quick { "; quick mode" } else { "" }
        );
        out.push_str("Ratio: ours/h2 for rates, h2/ours for latencies and costs; above 1 means ours is better.\n\n");
        if !self.rows.is_empty() {
            out.push_str("| scenario | metric | ours | h2 | ratio |\n|---|---|---:|---:|---:|\n");
            for row in self.cells() {
                let _ = writeln!(out, "| {} |", row.join(" | "));
            }
            let _ = writeln!(out, "\n{}", self.verdict());
        }
        if !self.grpc_rows.is_empty() {
            let _ = writeln!(out, "\n## {GRPC_TITLE}\n");
            let _ = writeln!(
                out,
                "{}-byte messages for unary and ping-pong ({} calls in flight for \
                 `grpc_unary_concurrent`); raw bytes (`BytesCodec`), no compression. The raw \
                 column is our HTTP/2 transport in the scenario named in brackets, run \
                 interleaved with the gRPC runs (64-byte bodies for unary_rtt and \
                 stream_pingpong, 64 KiB DATA chunks for the download). Ratio: gRPC/raw for \
                 every metric. The tonic column is a tonic 0.14 client against a tonic server \
                 (hand-written raw-bytes codec and service, TCP_NODELAY), interleaved too; \
                 \"vs tonic\" is ours/tonic for rates and tonic/ours for latencies and costs \
                 (above 1: ours better). Client socket calls are not counted (both clients \
                 open their own sockets); the server's are.\n",
                s.grpc_message_len, s.grpc_in_flight
            );
            out.push_str(
                "| scenario | metric | gRPC (ours) | tonic | vs tonic | raw HTTP/2 (ours) | gRPC/raw |\n\
                 |---|---|---:|---:|---:|---:|---:|\n",
            );
            for row in self.grpc_cells() {
                let _ = writeln!(out, "| {} |", row.join(" | "));
            }
        }
        out
    }

    /// Writes `transport.json` and `transport.md` into `dir`.
    pub(crate) fn write(&self, dir: &Path) -> Result<(), crate::scenario::BoxError> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(
            dir.join("transport.json"),
            serde_json::to_string_pretty(self)?,
        )?;
        std::fs::write(dir.join("transport.md"), self.markdown())?;
        Ok(())
    }
}

/// The run whose `key` is the median (the upper one for an even count).
pub(crate) fn median_run<T>(runs: &[T], key: impl Fn(&T) -> f64) -> Option<&T> {
    let mut order: Vec<&T> = runs.iter().collect();
    order.sort_by(|a, b| key(a).total_cmp(&key(b)));
    order.get(order.len() / 2).copied()
}

/// "lo–hi" of `key` over the runs, when there is more than one.
fn range<T>(runs: &[T], key: impl Fn(&T) -> f64) -> Option<String> {
    if runs.len() < 2 {
        return None;
    }
    let values: Vec<f64> = runs.iter().map(key).collect();
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some(format!("{}–{}", number(lo), number(hi)))
}

/// Title of the gRPC table.
const GRPC_TITLE: &str =
    "gRPC: grpc-client against grpc-server on our transport, and tonic against tonic";

/// A value with its detail in parentheses, or `-`.
fn cell(v: Option<f64>, detail: &Option<String>) -> String {
    match (v, detail) {
        (Some(v), Some(d)) => format!("{} ({d})", number(v)),
        (Some(v), None) => number(v),
        (None, _) => "-".to_owned(),
    }
}

/// `rows` under `header` as aligned text: the first two columns left-aligned, the others
/// right-aligned, a rule under the header.
fn aligned(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |out: &mut String, row: &mut dyn Iterator<Item = &str>| {
        for (i, (c, w)) in row.zip(&widths).enumerate() {
            let pad = " ".repeat(w.saturating_sub(c.chars().count()));
            if i >= 2 {
                let _ = write!(out, "{pad}{c}  ");
            } else {
                let _ = write!(out, "{c}{pad}  ");
            }
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
    };
    let mut out = String::new();
    line(&mut out, &mut header.iter().copied());
    let rule: usize = widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1);
    out.push_str(&"-".repeat(rule));
    out.push('\n');
    for row in rows {
        line(&mut out, &mut row.iter().map(String::as_str));
    }
    out
}

/// A number with precision suited to its size.
fn number(v: f64) -> String {
    if v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_above_one_means_ours_wins() {
        assert_eq!(ratio(Some(200.0), Some(100.0), Better::Higher), Some(2.0));
        assert_eq!(ratio(Some(50.0), Some(100.0), Better::Lower), Some(2.0));
        assert_eq!(ratio(None, Some(1.0), Better::Lower), None);
        assert_eq!(ratio(Some(0.0), Some(1.0), Better::Lower), None);
    }

    #[test]
    fn verdict_names_latency_and_rate_losses_only() {
        let mut report = Report::new(Settings {
            duration_s: 1.0,
            warmup_s: 0.1,
            transfer_mib: 1,
            workers: 2,
            repeat: 1,
            quick: true,
            cores: 2,
            grpc_message_len: 180,
            grpc_in_flight: 64,
        });
        let none = (None, None);
        report.row(
            "s",
            "exchanges/s",
            H2,
            Better::Higher,
            Some(1.0),
            Some(2.0),
            none.clone(),
        );
        report.row(
            "s",
            "p50 latency (µs)",
            H2,
            Better::Lower,
            Some(1.0),
            Some(2.0),
            none.clone(),
        );
        report.row(
            "s",
            "allocations/exchange",
            H2,
            Better::Lower,
            Some(9.0),
            Some(1.0),
            none,
        );
        assert_eq!(report.verdict(), "Worse than h2: s exchanges/s (0.50x).");
    }

    #[test]
    fn median_and_range() {
        let runs = [3.0, 1.0, 2.0];
        assert_eq!(median_run(&runs, |v| *v), Some(&2.0));
        assert_eq!(median_run(&runs[..0], |v| *v), None);
        assert_eq!(range(&runs, |v| *v).as_deref(), Some("1.00–3.00"));
        assert_eq!(range(&runs[..1], |v| *v), None);
    }
}
