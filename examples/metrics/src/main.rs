//! `cargo run -p metrics-example`: per-method gRPC metrics, served at `/metrics`.
//!
//! A server and a channel in one process, each with a `grpc_metrics::MetricsHandler`, record
//! into a Prometheus recorder (`metrics-exporter-prometheus` without its HTTP listener). A
//! dozen lines of tokio below answer `GET /metrics` with the rendered text on 127.0.0.1.
//!
//! The tour makes a few calls (some OK, some NOT_FOUND, one to a method the server does not
//! have), fetches its own `/metrics` over TCP, prints it, and checks the counts per method and
//! status: a mismatch ends the program with a non-zero exit status. `--serve` keeps serving
//! `/metrics` afterwards, for a look with `curl` or a Prometheus scrape.

use std::collections::BTreeMap;
use std::error::Error;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use grpc_client::{Channel, Code, Request, Status, codec::BytesCodec};
use grpc_metrics::{LATENCY_BUCKETS, MetricsHandler, SIZE_BUCKETS};
use grpc_server::{Response, Server};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Echoes its request.
const SAY: &str = "/demo.Echo/Say";
/// Answers `here` with OK and anything else with NOT_FOUND.
const FIND: &str = "/demo.Echo/Find";
/// Not served: UNIMPLEMENTED, and labelled `other` on the server side.
const MISSING: &str = "/demo.Echo/Missing";

type BoxError = Box<dyn Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // 1. The recorder, with gRFC A66's histogram buckets (summaries otherwise).
    let prometheus = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("duration".into()), LATENCY_BUCKETS)?
        .set_buckets_for_metric(Matcher::Suffix("message_size".into()), SIZE_BUCKETS)?
        .install_recorder()?;

    // 2. /metrics.
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let metrics_addr = listener.local_addr()?;
    tokio::spawn(serve_metrics(listener, prometheus));
    println!("metrics at http://{metrics_addr}/metrics");

    // 3. A server and a channel, both measured.
    let server = Server::builder()
        .stats_handler(Arc::new(MetricsHandler::new()))
        .add_routes(|routes| {
            routes.unary(SAY, BytesCodec, |request: Request<Bytes>| async move {
                Ok(Response::new(request.into_inner()))
            });
            routes.unary(FIND, BytesCodec, |request: Request<Bytes>| async move {
                match &request.get_ref()[..] {
                    b"here" => Ok(Response::new(Bytes::from_static(b"found"))),
                    _ => Err(Status::not_found("no such key")),
                }
            });
        })
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await?;
    let target = format!("http://{}", server.local_addr());
    let handle = server.handle();
    tokio::spawn(server.serve());
    let channel = Channel::builder(&target)
        .stats_handler(Arc::new(MetricsHandler::new().with_target(&target)))
        .connect()
        .await?;
    println!("server at {target}");

    // 4. Calls: Say OK x3, Find OK x1 and NOT_FOUND x2, Missing UNIMPLEMENTED x1.
    let calls: [(&'static str, &'static [u8], Code); 7] = [
        (SAY, b"hello", Code::Ok),
        (SAY, b"hello again", Code::Ok),
        (SAY, b"", Code::Ok),
        (FIND, b"here", Code::Ok),
        (FIND, b"there", Code::NotFound),
        (FIND, b"nowhere", Code::NotFound),
        (MISSING, b"?", Code::Unimplemented),
    ];
    for (path, body, expected) in calls {
        let request = Request::new(Bytes::from_static(body));
        let code = match channel.unary(request, path, BytesCodec).await {
            Ok(_) => Code::Ok,
            Err(status) => status.code(),
        };
        let shown = format!("{:?}", String::from_utf8_lossy(body));
        println!("{path:<20} {shown:<12} {}", code.as_str());
        if code != expected {
            return Err(format!("{path}: {code:?}, expected {expected:?}").into());
        }
    }

    // 5. Our own /metrics, until the server has recorded every call's end (it records after
    // the trailers are written, so possibly after the client has its answer).
    let expected = expected_counts(&target);
    let mut last = String::new();
    for _ in 0..100 {
        last = http_get(metrics_addr, "/metrics").await?;
        if mismatches(&last, &expected).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The buckets make for long reading: they are left out here (`--serve` and curl for all).
    let buckets = last.lines().filter(|l| l.contains("_bucket{")).count();
    println!("\n--- GET /metrics ({buckets} histogram bucket lines not shown) ---");
    for line in last.lines().filter(|l| !l.contains("_bucket{")) {
        println!("{line}");
    }
    println!("--- end ---\n");
    let wrong = mismatches(&last, &expected);
    if !wrong.is_empty() {
        return Err(format!("unexpected counts:\n{}", wrong.join("\n")).into());
    }
    println!("ok: {} counts as expected", expected.len());

    if std::env::args().any(|arg| arg == "--serve") {
        println!("serving http://{metrics_addr}/metrics until interrupted");
        std::future::pending::<()>().await;
    }
    handle.shutdown_graceful(Duration::from_secs(1));
    handle.wait().await;
    Ok(())
}

/// Answers `GET /metrics` with the rendered metrics and anything else with 404, one request
/// per connection.
async fn serve_metrics(listener: TcpListener, prometheus: PrometheusHandle) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let prometheus = prometheus.clone();
        tokio::spawn(async move {
            // The request head; we only need its first line.
            let mut head = Vec::with_capacity(1024);
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let request_line = head.split(|&b| b == b'\r').next().unwrap_or_default();
            let (status, content_type, body) = if request_line.starts_with(b"GET /metrics ") {
                ("200 OK", "text/plain; version=0.0.4", prometheus.render())
            } else {
                ("404 Not Found", "text/plain", "not found\n".to_owned())
            };
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
            // A client that went away is its own problem.
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

/// A plain HTTP/1.1 GET: the body of a 200 answer.
async fn http_get(addr: SocketAddr, path: &str) -> Result<String, BoxError> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or("no end of headers in the answer")?;
    if !head.starts_with("HTTP/1.1 200 ") {
        return Err(format!("GET {path}: {}", head.lines().next().unwrap_or("")).into());
    }
    Ok(body.to_owned())
}

/// One expected sample: metric name (as exported), labels, value.
type Expected = (&'static str, Vec<(&'static str, String)>, f64);

/// What the calls above must have produced. Calls finished per status are the sample counts
/// of the duration histograms.
fn expected_counts(target: &str) -> Vec<Expected> {
    let mut out: Vec<Expected> = Vec::new();
    let method = |path: &str| path.trim_start_matches('/').to_owned();
    for (path, started, statuses) in [
        (SAY, 3.0, &[("OK", 3.0)][..]),
        (FIND, 3.0, &[("OK", 1.0), ("NOT_FOUND", 2.0)][..]),
        (MISSING, 1.0, &[("UNIMPLEMENTED", 1.0)][..]),
    ] {
        let client = vec![
            ("grpc_method", method(path)),
            ("grpc_target", target.to_owned()),
        ];
        out.push(("grpc_client_attempt_started", client.clone(), started));
        // The server does not have MISSING: it is `other` there.
        let server_method = if path == MISSING {
            "other".to_owned()
        } else {
            method(path)
        };
        let server = vec![("grpc_method", server_method)];
        out.push(("grpc_server_call_started", server.clone(), started));
        for &(status, count) in statuses {
            let with_status = |mut labels: Vec<(&'static str, String)>| {
                labels.push(("grpc_status", status.to_owned()));
                labels
            };
            out.push((
                "grpc_client_call_duration_count",
                with_status(client.clone()),
                count,
            ));
            out.push((
                "grpc_client_attempt_duration_count",
                with_status(client.clone()),
                count,
            ));
            out.push((
                "grpc_server_call_duration_count",
                with_status(server.clone()),
                count,
            ));
        }
    }
    out
}

/// The expected samples that the exposition `text` does not have with the right value.
fn mismatches(text: &str, expected: &[Expected]) -> Vec<String> {
    let samples = parse(text);
    expected
        .iter()
        .filter_map(|(name, labels, value)| {
            let labels: BTreeMap<&str, &str> =
                labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let found = samples
                .iter()
                .find(|(n, l, _)| n == name && *l == labels)
                .map(|(_, _, v)| *v);
            (found != Some(*value))
                .then(|| format!("{name}{labels:?}: {found:?}, expected {value}"))
        })
        .collect()
}

/// The samples of a Prometheus text exposition: name, labels, value. Label values here never
/// hold quotes, so no unescaping.
fn parse(text: &str) -> Vec<(&str, BTreeMap<&str, &str>, f64)> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (head, value) = line.rsplit_once(' ')?;
            let value = value.parse().ok()?;
            let (name, mut rest) = match head.split_once('{') {
                Some((name, labels)) => (name, labels.strip_suffix('}')?),
                None => (head, ""),
            };
            let mut labels = BTreeMap::new();
            while !rest.is_empty() {
                let (key, after) = rest.split_once("=\"")?;
                let (value, after) = after.split_once('"')?;
                labels.insert(key, value);
                rest = after.strip_prefix(',').unwrap_or(after);
            }
            Some((name, labels, value))
        })
        .collect()
}
