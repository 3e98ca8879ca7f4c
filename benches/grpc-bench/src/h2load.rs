//! h2load as a neutral load generator for `UnaryCall`: the same body file (one
//! length-prefixed SimpleRequest) sent to every server, with per-request times from its log
//! file for percentiles.
//!
//! h2load judges a request by `:status` alone, never `grpc-status`, so a wrong path or a
//! refused call would count as a success. Every run therefore checks that the DATA octets
//! received match one framed response per successful request; a mismatch fails the run.

use std::path::{Path, PathBuf};

use prost::Message;

use crate::BoxError;
use crate::load::{LoadResult, percentile_us, request_of};
use crate::pb::SimpleResponse;
use crate::service::response_of;

/// The path h2load posts to.
pub(crate) const UNARY_PATH: &str = "/grpc.testing.BenchmarkService/UnaryCall";

/// One h2load run's shape.
#[derive(Clone, Debug)]
pub(crate) struct H2loadRun {
    pub(crate) program: PathBuf,
    pub(crate) target: std::net::SocketAddr,
    pub(crate) size: usize,
    pub(crate) connections: usize,
    /// Streams per connection (`-m`).
    pub(crate) streams: usize,
    pub(crate) warmup_secs: f64,
    pub(crate) duration_secs: f64,
    /// Prefix for the run's body and log files.
    pub(crate) scratch: PathBuf,
    /// `taskset -c CPU` in front of h2load, when pinning.
    pub(crate) cpu: Option<usize>,
}

/// The framed request body: one uncompressed length-prefixed SimpleRequest.
fn framed_request(size: usize) -> Result<Vec<u8>, BoxError> {
    let message = request_of(size)?.encode_to_vec();
    let mut body = Vec::with_capacity(5 + message.len());
    body.push(0);
    body.extend_from_slice(&u32::try_from(message.len())?.to_be_bytes());
    body.extend_from_slice(&message);
    Ok(body)
}

/// Octets of DATA one successful response carries: the framed SimpleResponse.
fn framed_response_len(size: usize) -> Result<u64, BoxError> {
    let response: SimpleResponse =
        response_of(i32::try_from(size)?).map_err(|status| status.message().to_owned())?;
    Ok(5 + response.encoded_len() as u64)
}

impl H2loadRun {
    /// Runs h2load and reads its summary and log.
    pub(crate) fn run(&self) -> Result<LoadResult, BoxError> {
        let body_path = self.scratch.with_extension("body");
        let log_path = self.scratch.with_extension("log");
        std::fs::write(&body_path, framed_request(self.size)?)?;
        let _ = std::fs::remove_file(&log_path);
        let mut command = crate::suite::pinned(&self.program, self.cpu);
        command
            .arg("-c")
            .arg(self.connections.to_string())
            .arg("-m")
            .arg(self.streams.to_string())
            .arg("-t")
            .arg("1")
            // h2load takes whole units ("100ms"), not fractions of a second.
            .arg(format!(
                "--warm-up-time={}ms",
                (self.warmup_secs * 1000.0).round() as u64
            ))
            .arg(format!(
                "--duration={}ms",
                (self.duration_secs * 1000.0).round() as u64
            ))
            .arg("--data")
            .arg(&body_path)
            .arg("--log-file")
            .arg(&log_path)
            .args(["-H", "content-type: application/grpc", "-H", "te: trailers"])
            .arg(format!("http://{}{UNARY_PATH}", self.target));
        let output = command.output()?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            return Err(format!(
                "h2load failed ({}): {}{}",
                output.status,
                stdout,
                String::from_utf8_lossy(&output.stderr)
            )
            .into());
        }
        let summary = Summary::parse(&stdout)?;
        let per_response = framed_response_len(self.size)?;
        check_data(
            &summary,
            per_response,
            (self.warmup_secs + self.duration_secs) / self.duration_secs,
        )?;
        let latencies = read_log(&log_path)?;
        let mut result = LoadResult {
            calls: summary.succeeded,
            seconds: self.duration_secs,
            rate: summary.succeeded as f64 / self.duration_secs,
            p50_us: percentile_us(&latencies, 0.50),
            p90_us: percentile_us(&latencies, 0.90),
            p99_us: percentile_us(&latencies, 0.99),
            errors: summary.failed + summary.errored + summary.timeout,
            ..LoadResult::default()
        };
        result.mb_per_s = result.rate * 2.0 * self.size as f64 / 1e6;
        if result.errors > 0 {
            result.first_error = Some(format!(
                "h2load: {} failed, {} errored, {} timed out",
                summary.failed, summary.errored, summary.timeout
            ));
        }
        Ok(result)
    }
}

/// The numbers h2load prints that the benchmark uses.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Summary {
    pub(crate) succeeded: u64,
    pub(crate) failed: u64,
    pub(crate) errored: u64,
    pub(crate) timeout: u64,
    /// DATA octets received (the `traffic:` line's `data` figure).
    pub(crate) data_octets: u64,
}

impl Summary {
    /// Reads `requests: ... N succeeded, N failed, N errored, N timeout` and
    /// `traffic: ... (N) data`.
    pub(crate) fn parse(stdout: &str) -> Result<Summary, BoxError> {
        let mut summary = Summary::default();
        let mut saw_requests = false;
        let mut saw_traffic = false;
        for line in stdout.lines() {
            if let Some(rest) = line.strip_prefix("requests:") {
                saw_requests = true;
                for part in rest.split(',') {
                    let mut words = part.split_whitespace();
                    let (Some(count), Some(what)) = (words.next(), words.next()) else {
                        continue;
                    };
                    let count: u64 = count.parse()?;
                    match what {
                        "succeeded" => summary.succeeded = count,
                        "failed" => summary.failed = count,
                        "errored" => summary.errored = count,
                        "timeout" => summary.timeout = count,
                        _ => {}
                    }
                }
            } else if let Some(rest) = line.strip_prefix("traffic:") {
                saw_traffic = true;
                // "... , 1.00MB (1048576) data"
                let data_part = rest
                    .split(',')
                    .find(|part| part.trim_end().ends_with("data"))
                    .ok_or("h2load's traffic line has no data figure")?;
                let open = data_part.find('(').ok_or("no '(' in the data figure")?;
                let close = data_part.find(')').ok_or("no ')' in the data figure")?;
                summary.data_octets = data_part[open + 1..close].parse()?;
            }
        }
        if !saw_requests || !saw_traffic {
            return Err(format!("h2load printed no requests/traffic summary:\n{stdout}").into());
        }
        Ok(summary)
    }
}

/// Every successful request must have brought one framed response; a server that answered
/// with an error status (no DATA) or a smaller message fails the run.
///
/// h2load's traffic figures cover the warm-up too while its request counts do not, so the
/// data may exceed the counted responses by the warm-up's share (`warmup_share` is
/// `(warmup + duration) / duration`); half as much again is allowed for noise.
pub(crate) fn check_data(
    summary: &Summary,
    per_response: u64,
    warmup_share: f64,
) -> Result<(), BoxError> {
    let expected = summary.succeeded * per_response;
    let most = (expected as f64 * warmup_share * 1.5) as u64 + per_response * 2_000;
    if summary.succeeded == 0 || summary.data_octets < expected || summary.data_octets > most {
        return Err(format!(
            "h2load received {} DATA octets for {} successful requests; expected at least {} ({} per framed response): the server did not answer every call with the expected message",
            summary.data_octets, summary.succeeded, expected, per_response
        )
        .into());
    }
    Ok(())
}

/// Per-request durations (third column, microseconds) from h2load's log, in nanoseconds,
/// sorted; only requests that got `:status` 200.
fn read_log(path: &Path) -> Result<Vec<u64>, BoxError> {
    let text = std::fs::read_to_string(path)?;
    let mut latencies: Vec<u64> = text
        .lines()
        .filter_map(|line| {
            let mut columns = line.split('\t');
            let _start = columns.next()?;
            let status = columns.next()?;
            let micros: u64 = columns.next()?.trim().parse().ok()?;
            (status == "200").then_some(micros * 1000)
        })
        .collect();
    latencies.sort_unstable();
    Ok(latencies)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "finished in 3.00s, 31415.33 req/s, 7.43MB/s\n\
requests: 94246 total, 94247 started, 94246 done, 94246 succeeded, 0 failed, 0 errored, 0 timeout\n\
status codes: 94246 2xx, 0 3xx, 0 4xx, 0 5xx\n\
traffic: 22.28MB (23362176) total, 1.53MB (1602182) headers (space savings 94.31%), 17.62MB (18472216) data\n";

    #[test]
    fn parses_the_summary() -> Result<(), BoxError> {
        let summary = Summary::parse(OUTPUT)?;
        assert_eq!(
            summary,
            Summary {
                succeeded: 94246,
                failed: 0,
                errored: 0,
                timeout: 0,
                data_octets: 18472216,
            }
        );
        Ok(())
    }

    #[test]
    fn data_must_match_the_successful_responses() -> Result<(), BoxError> {
        let summary = Summary::parse(OUTPUT)?;
        // 18472216 / 94246 = 196 octets per response exactly.
        check_data(&summary, 196, 1.0)?;
        assert!(
            check_data(&summary, 200, 1.0).is_err(),
            "too little data must fail"
        );
        let no_data = Summary {
            data_octets: 0,
            ..summary
        };
        assert!(
            check_data(&no_data, 196, 1.0).is_err(),
            "error-only answers must fail"
        );
        // Warm-up traffic on top of the counted responses is expected.
        let with_warmup = Summary {
            data_octets: summary.data_octets * 4 / 3,
            ..summary
        };
        check_data(&with_warmup, 196, 4.0 / 3.0)?;
        Ok(())
    }

    #[test]
    fn frames_one_request() -> Result<(), BoxError> {
        let body = framed_request(180)?;
        let declared = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        assert_eq!(body[0], 0, "uncompressed");
        assert_eq!(declared, body.len() - 5);
        Ok(())
    }
}
