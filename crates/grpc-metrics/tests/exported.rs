//! A real server and channel on 127.0.0.1, both with `MetricsHandler`, recording into a
//! Prometheus recorder installed once for this test binary; the tests read the exported
//! text and check the counts per method and status. Each test uses its own method names, so
//! the tests can share the recorder and run in parallel.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use grpc_client::{Channel, Code, Request, Status, codec::BytesCodec};
use grpc_metrics::{LATENCY_BUCKETS, MetricsHandler, SIZE_BUCKETS};
use grpc_server::{Response, Server, ServerHandle};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Echoes its request.
const COUNT_OK: &str = "/count.Svc/Ok";
/// Fails NOT_FOUND after reading its request.
const COUNT_FAIL: &str = "/count.Svc/Fail";
/// Three responses: its request, then 10 and 100 octets.
const SIZES_STREAM: &str = "/sizes.Svc/Stream";
/// Not served at all.
const UNKNOWN: &str = "/unknown.Svc/Whatever";

fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("duration".into()), LATENCY_BUCKETS)
            .unwrap()
            .set_buckets_for_metric(Matcher::Suffix("message_size".into()), SIZE_BUCKETS)
            .unwrap()
            .install_recorder()
            .unwrap()
    })
}

/// A measured server with every method above except UNKNOWN, and a measured channel to it
/// (target label: the target string).
async fn setup() -> (ServerHandle, Channel, String) {
    prometheus();
    let server = Server::builder()
        .stats_handler(Arc::new(MetricsHandler::new()))
        .add_routes(|routes| {
            routes.unary(COUNT_OK, BytesCodec, |request: Request<Bytes>| async move {
                Ok(Response::new(request.into_inner()))
            });
            routes.unary(COUNT_FAIL, BytesCodec, |_: Request<Bytes>| async move {
                Err::<Response<Bytes>, _>(Status::not_found("nothing here"))
            });
            routes.server_streaming(SIZES_STREAM, BytesCodec, |request, sink| {
                Box::pin(async move {
                    sink.send(request.into_inner()).await?;
                    sink.send(Bytes::from(vec![1; 10])).await?;
                    sink.send(Bytes::from(vec![2; 100])).await?;
                    Ok(())
                })
            });
        })
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let target = format!("http://{}", server.local_addr());
    let handle = server.handle();
    tokio::spawn(server.serve());
    let channel = Channel::builder(&target)
        .stats_handler(Arc::new(MetricsHandler::new().with_target(&target)))
        .connect()
        .await
        .unwrap();
    (handle, channel, target)
}

/// Samples of the exposition: (name, labels) -> value. Our label values hold no quotes.
fn parse(text: &str) -> BTreeMap<(String, BTreeMap<String, String>), f64> {
    let mut samples = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (head, value) = line.rsplit_once(' ').unwrap();
        let (name, mut rest) = match head.split_once('{') {
            Some((name, labels)) => (name, labels.strip_suffix('}').unwrap()),
            None => (head, ""),
        };
        let mut labels = BTreeMap::new();
        while !rest.is_empty() {
            let (key, after) = rest.split_once("=\"").unwrap();
            let (value, after) = after.split_once('"').unwrap();
            labels.insert(key.to_owned(), value.to_owned());
            rest = after.strip_prefix(',').unwrap_or(after);
        }
        samples.insert((name.to_owned(), labels), value.parse().unwrap());
    }
    samples
}

/// One expected sample.
struct Want(&'static str, Vec<(&'static str, String)>, f64);

impl Want {
    fn key(&self) -> (String, BTreeMap<String, String>) {
        let labels = self
            .1
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        (self.0.to_owned(), labels)
    }
}

/// Waits (bounded: servers record a call's end after its trailers, so maybe after the client
/// has its answer) until the exported text has every wanted sample, and fails with the
/// differences if it never does.
async fn assert_exported(wants: &[Want]) {
    let mut wrong = Vec::new();
    for _ in 0..250 {
        let samples = parse(&prometheus().render());
        wrong = wants
            .iter()
            .filter_map(|want| {
                let found = samples.get(&want.key()).copied();
                (found != Some(want.2))
                    .then(|| format!("{:?}: {found:?} != {}", want.key(), want.2))
            })
            .collect();
        if wrong.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "exported metrics differ:\n{}\n\n{}",
        wrong.join("\n"),
        prometheus().render()
    );
}

fn client(method: &str, target: &str) -> Vec<(&'static str, String)> {
    vec![
        ("grpc_method", method.to_owned()),
        ("grpc_target", target.to_owned()),
    ]
}

fn server(method: &str) -> Vec<(&'static str, String)> {
    vec![("grpc_method", method.to_owned())]
}

fn with_status(
    mut labels: Vec<(&'static str, String)>,
    status: &str,
) -> Vec<(&'static str, String)> {
    labels.push(("grpc_status", status.to_owned()));
    labels
}

#[tokio::test]
async fn counts_per_status_on_client_and_server() {
    let (handle, channel, target) = setup().await;
    const OK_CALLS: usize = 5;
    const FAILED_CALLS: usize = 3;
    for i in 0..OK_CALLS {
        let request = Request::new(Bytes::from(vec![b'x'; i]));
        channel.unary(request, COUNT_OK, BytesCodec).await.unwrap();
    }
    for _ in 0..FAILED_CALLS {
        let request = Request::new(Bytes::from_static(b"key"));
        let status = channel
            .unary(request, COUNT_FAIL, BytesCodec)
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::NotFound);
    }

    let (ok, fail) = ("count.Svc/Ok", "count.Svc/Fail");
    let (n, m) = (OK_CALLS as f64, FAILED_CALLS as f64);
    // 0 + 1 + 2 + 3 + 4 octets each way for the OK calls.
    let echoed = (0..OK_CALLS).sum::<usize>() as f64;
    assert_exported(&[
        // Started.
        Want("grpc_client_attempt_started", client(ok, &target), n),
        Want("grpc_client_attempt_started", client(fail, &target), m),
        Want("grpc_server_call_started", server(ok), n),
        Want("grpc_server_call_started", server(fail), m),
        // Finished, per status: the duration histograms' counts.
        Want(
            "grpc_client_call_duration_count",
            with_status(client(ok, &target), "OK"),
            n,
        ),
        Want(
            "grpc_client_attempt_duration_count",
            with_status(client(ok, &target), "OK"),
            n,
        ),
        Want(
            "grpc_client_call_duration_count",
            with_status(client(fail, &target), "NOT_FOUND"),
            m,
        ),
        Want(
            "grpc_client_attempt_duration_count",
            with_status(client(fail, &target), "NOT_FOUND"),
            m,
        ),
        Want(
            "grpc_server_call_duration_count",
            with_status(server(ok), "OK"),
            n,
        ),
        Want(
            "grpc_server_call_duration_count",
            with_status(server(fail), "NOT_FOUND"),
            m,
        ),
        // Sizes: one sample per call, summing payload octets (no compression, no prefix).
        Want(
            "grpc_client_attempt_sent_total_compressed_message_size_sum",
            with_status(client(ok, &target), "OK"),
            echoed,
        ),
        Want(
            "grpc_client_attempt_rcvd_total_compressed_message_size_sum",
            with_status(client(ok, &target), "OK"),
            echoed,
        ),
        Want(
            "grpc_server_call_rcvd_total_compressed_message_size_sum",
            with_status(server(ok), "OK"),
            echoed,
        ),
        Want(
            "grpc_server_call_sent_total_compressed_message_size_count",
            with_status(server(ok), "OK"),
            n,
        ),
        Want(
            "grpc_server_call_sent_total_compressed_message_size_sum",
            with_status(server(ok), "OK"),
            echoed,
        ),
        Want(
            "grpc_client_attempt_sent_total_compressed_message_size_sum",
            with_status(client(fail, &target), "NOT_FOUND"),
            3.0 * m,
        ),
        Want(
            "grpc_server_call_sent_total_compressed_message_size_sum",
            with_status(server(fail), "NOT_FOUND"),
            0.0,
        ),
    ])
    .await;
    // No OK series for the failing method, no NOT_FOUND for the other.
    let samples = parse(&prometheus().render());
    for (method, status) in [(fail, "OK"), (ok, "NOT_FOUND")] {
        let key = Want(
            "grpc_server_call_duration_count",
            with_status(server(method), status),
            0.0,
        )
        .key();
        assert_eq!(samples.get(&key), None, "{key:?}");
    }
    handle.shutdown_graceful(Duration::from_secs(1));
}

#[tokio::test]
async fn streamed_sizes_add_up() {
    let (handle, channel, target) = setup().await;
    let request = Request::new(Bytes::from_static(b"12345"));
    let mut stream = channel
        .server_streaming(request, SIZES_STREAM, BytesCodec)
        .await
        .unwrap()
        .into_inner();
    let mut received = 0;
    while let Some(message) = stream.message().await.unwrap() {
        received += message.len();
    }
    assert_eq!(received, 5 + 10 + 100);

    let method = "sizes.Svc/Stream";
    let client_ok = with_status(client(method, &target), "OK");
    let server_ok = with_status(server(method), "OK");
    assert_exported(&[
        Want(
            "grpc_client_attempt_sent_total_compressed_message_size_sum",
            client_ok.clone(),
            5.0,
        ),
        Want(
            "grpc_client_attempt_rcvd_total_compressed_message_size_sum",
            client_ok.clone(),
            115.0,
        ),
        Want(
            "grpc_client_attempt_rcvd_total_compressed_message_size_count",
            client_ok.clone(),
            1.0,
        ),
        Want(
            "grpc_server_call_rcvd_total_compressed_message_size_sum",
            server_ok.clone(),
            5.0,
        ),
        Want(
            "grpc_server_call_sent_total_compressed_message_size_sum",
            server_ok.clone(),
            115.0,
        ),
        // Size bucket boundaries from A66: 115 octets fall under le="1024", not le="0".
        Want(
            "grpc_server_call_sent_total_compressed_message_size_bucket",
            {
                let mut labels = server_ok.clone();
                labels.push(("le", "0".to_owned()));
                labels
            },
            0.0,
        ),
        Want(
            "grpc_server_call_sent_total_compressed_message_size_bucket",
            {
                let mut labels = server_ok;
                labels.push(("le", "1024".to_owned()));
                labels
            },
            1.0,
        ),
        Want("grpc_client_call_duration_count", client_ok, 1.0),
    ])
    .await;
    handle.shutdown_graceful(Duration::from_secs(1));
}

#[tokio::test]
async fn unknown_methods_are_other_on_the_server() {
    let (handle, channel, target) = setup().await;
    for _ in 0..2 {
        let request = Request::new(Bytes::new());
        let status = channel
            .unary(request, UNKNOWN, BytesCodec)
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unimplemented);
    }
    assert_exported(&[
        // The client knows the method it called.
        Want(
            "grpc_client_call_duration_count",
            with_status(client("unknown.Svc/Whatever", &target), "UNIMPLEMENTED"),
            2.0,
        ),
        // The server does not have it: `other`, whatever the path.
        Want("grpc_server_call_started", server("other"), 2.0),
        Want(
            "grpc_server_call_duration_count",
            with_status(server("other"), "UNIMPLEMENTED"),
            2.0,
        ),
    ])
    .await;
    let text = prometheus().render();
    assert!(
        !text.contains("grpc_server_call_started{grpc_method=\"unknown.Svc/Whatever\"}"),
        "{text}"
    );
    handle.shutdown_graceful(Duration::from_secs(1));
}
