//! MetricsHandler driven by hand: events in, a DebuggingRecorder's snapshot out.

use std::time::Duration;

use grpc_core::{Code, Metadata, Status};
use metrics_util::MetricKind;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

use super::*;

/// One recorded metric: kind, name, labels sorted by key, value.
#[derive(Debug, PartialEq)]
struct Sample {
    kind: MetricKind,
    name: String,
    labels: Vec<(String, String)>,
    value: Value,
}

#[derive(Debug, PartialEq)]
enum Value {
    Counter(u64),
    Histogram(Vec<f64>),
}

/// Runs `f` with a fresh recorder and returns what it recorded, sorted by name then labels.
fn record(
    f: impl FnOnce() -> Result<(), Box<dyn std::error::Error>>,
) -> Result<Vec<Sample>, Box<dyn std::error::Error>> {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, f)?;
    let mut samples: Vec<Sample> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let (kind, key) = key.into_parts();
            let mut labels: Vec<(String, String)> = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            labels.sort();
            let value = match value {
                DebugValue::Counter(n) => Value::Counter(n),
                DebugValue::Histogram(values) => {
                    Value::Histogram(values.into_iter().map(|v| v.into_inner()).collect())
                }
                DebugValue::Gauge(_) => return Err("no gauges expected"),
            };
            Ok(Sample {
                kind,
                name: key.name().to_owned(),
                labels,
                value,
            })
        })
        .collect::<Result<_, &str>>()?;
    samples.sort_by(|a, b| (&a.name, &a.labels).cmp(&(&b.name, &b.labels)));
    Ok(samples)
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut labels: Vec<_> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    labels.sort();
    labels
}

fn start(side: Side, path: &str, kind: CallKind) -> CallStart<'_> {
    CallStart {
        side,
        path,
        kind,
        peer: None,
    }
}

/// Feeds a whole call: headers, the messages (size, wire size) out, the sizes in, trailers,
/// the end.
fn run_call(
    observer: &mut dyn CallObserver,
    out: &[(usize, usize)],
    incoming: &[usize],
    status: &Status,
    duration: Duration,
) {
    let metadata = Metadata::new();
    observer.event(&CallEvent::HeadersOut {
        metadata: &metadata,
    });
    for &(size, wire_size) in out {
        observer.event(&CallEvent::MessageOut { size, wire_size });
    }
    observer.event(&CallEvent::HeadersIn {
        metadata: &metadata,
    });
    for &size in incoming {
        observer.event(&CallEvent::MessageIn { size });
    }
    observer.event(&CallEvent::Trailers {
        metadata: &metadata,
    });
    observer.event(&CallEvent::End { status, duration });
}

#[test]
fn client_call_records_a66_metrics_with_target() -> Result<(), Box<dyn std::error::Error>> {
    let samples = record(|| {
        let handler = MetricsHandler::new().with_target("dns:///backend:50051");
        let call = start(Side::Client, "/demo.Echo/Say", CallKind::Unary);
        let mut observer = handler
            .call_started(&call)
            .ok_or("the handler observes every call")?;
        // Two messages out, the second compressed: 10 + 4 octets of payload.
        run_call(
            observer.as_mut(),
            &[(10, 15), (100, 9)],
            &[7, 3],
            &Status::ok(),
            Duration::from_millis(250),
        );
        Ok(())
    })?;
    let started = labels(&[
        ("grpc.method", "demo.Echo/Say"),
        ("grpc.target", "dns:///backend:50051"),
    ]);
    let finished = labels(&[
        ("grpc.method", "demo.Echo/Say"),
        ("grpc.target", "dns:///backend:50051"),
        ("grpc.status", "OK"),
    ]);
    let histogram = |name: &str, value: f64| Sample {
        kind: MetricKind::Histogram,
        name: name.to_owned(),
        labels: finished.clone(),
        value: Value::Histogram(vec![value]),
    };
    assert_eq!(
        samples,
        vec![
            histogram(CLIENT_ATTEMPT_DURATION, 0.25),
            histogram(CLIENT_ATTEMPT_RCVD_SIZE, 10.0),
            histogram(CLIENT_ATTEMPT_SENT_SIZE, 14.0),
            Sample {
                kind: MetricKind::Counter,
                name: CLIENT_ATTEMPT_STARTED.to_owned(),
                labels: started,
                value: Value::Counter(1),
            },
            histogram(CLIENT_CALL_DURATION, 0.25),
        ]
    );
    Ok(())
}

#[test]
fn server_calls_count_per_status() -> Result<(), Box<dyn std::error::Error>> {
    let samples = record(|| {
        let handler = MetricsHandler::new();
        let call = start(Side::Server, "/demo.Echo/Say", CallKind::ServerStreaming);
        for code in [Code::Ok, Code::NotFound, Code::Ok] {
            let mut observer = handler
                .call_started(&call)
                .ok_or("the handler observes every call")?;
            run_call(
                observer.as_mut(),
                &[(1, 6), (2, 7)],
                &[5],
                &Status::new(code, ""),
                Duration::from_secs(1),
            );
        }
        Ok(())
    })?;
    let ok = labels(&[("grpc.method", "demo.Echo/Say"), ("grpc.status", "OK")]);
    let not_found = labels(&[
        ("grpc.method", "demo.Echo/Say"),
        ("grpc.status", "NOT_FOUND"),
    ]);
    let histogram = |name: &str, labels: &Vec<(String, String)>, values: Vec<f64>| Sample {
        kind: MetricKind::Histogram,
        name: name.to_owned(),
        labels: labels.clone(),
        value: Value::Histogram(values),
    };
    assert_eq!(
        samples,
        vec![
            histogram(SERVER_CALL_DURATION, &not_found, vec![1.0]),
            histogram(SERVER_CALL_DURATION, &ok, vec![1.0, 1.0]),
            histogram(SERVER_CALL_RCVD_SIZE, &not_found, vec![5.0]),
            histogram(SERVER_CALL_RCVD_SIZE, &ok, vec![5.0, 5.0]),
            histogram(SERVER_CALL_SENT_SIZE, &not_found, vec![3.0]),
            histogram(SERVER_CALL_SENT_SIZE, &ok, vec![3.0, 3.0]),
            Sample {
                kind: MetricKind::Counter,
                name: SERVER_CALL_STARTED.to_owned(),
                labels: labels(&[("grpc.method", "demo.Echo/Say")]),
                value: Value::Counter(3),
            },
        ]
    );
    Ok(())
}

#[test]
fn unknown_server_methods_are_other() -> Result<(), Box<dyn std::error::Error>> {
    let samples = record(|| {
        let handler = MetricsHandler::new();
        for path in ["/evil.Service/a1", "/evil.Service/a2", "garbage"] {
            let call = start(Side::Server, path, CallKind::Unknown);
            let mut observer = handler
                .call_started(&call)
                .ok_or("the handler observes every call")?;
            run_call(
                observer.as_mut(),
                &[],
                &[],
                &Status::new(Code::Unimplemented, ""),
                Duration::ZERO,
            );
        }
        Ok(())
    })?;
    // Three calls, one series per metric.
    assert_eq!(samples.len(), 4);
    for sample in &samples {
        assert_eq!(sample.labels[0], ("grpc.method".into(), "other".into()));
    }
    let started = samples.iter().find(|s| s.name == SERVER_CALL_STARTED);
    assert_eq!(started.map(|s| &s.value), Some(&Value::Counter(3)));
    let duration = samples.iter().find(|s| s.name == SERVER_CALL_DURATION);
    assert_eq!(
        duration.map(|s| &s.labels),
        Some(&labels(&[
            ("grpc.method", "other"),
            ("grpc.status", "UNIMPLEMENTED")
        ]))
    );
    Ok(())
}

#[test]
fn generic_method_filter_lets_chosen_names_through() -> Result<(), Box<dyn std::error::Error>> {
    let samples = record(|| {
        let handler = MetricsHandler::new()
            .with_generic_method_filter(|path| path.starts_with("/proxy.Forward/"));
        for path in ["/proxy.Forward/Call", "/evil.Service/a1"] {
            let call = start(Side::Server, path, CallKind::Unknown);
            if let Some(mut observer) = handler.call_started(&call) {
                run_call(observer.as_mut(), &[], &[], &Status::ok(), Duration::ZERO);
            }
        }
        Ok(())
    })?;
    let methods: Vec<&str> = samples
        .iter()
        .filter(|s| s.name == SERVER_CALL_STARTED)
        .map(|s| s.labels[0].1.as_str())
        .collect();
    assert_eq!(methods, ["other", "proxy.Forward/Call"]);
    Ok(())
}

#[test]
fn client_without_target_has_no_target_label_and_server_ignores_target()
-> Result<(), Box<dyn std::error::Error>> {
    let samples = record(|| {
        for (handler, side) in [
            (MetricsHandler::new(), Side::Client),
            (MetricsHandler::new().with_target("dns:///x"), Side::Server),
        ] {
            let call = start(side, "/a.B/C", CallKind::BidiStreaming);
            if let Some(mut observer) = handler.call_started(&call) {
                run_call(
                    observer.as_mut(),
                    &[],
                    &[],
                    &Status::new(Code::Unavailable, ""),
                    Duration::ZERO,
                );
            }
        }
        Ok(())
    })?;
    assert_eq!(samples.len(), 5 + 4);
    for sample in &samples {
        assert!(
            sample.labels.iter().all(|(key, _)| key != "grpc.target"),
            "{sample:?}"
        );
        if sample.kind == MetricKind::Histogram {
            assert!(
                sample
                    .labels
                    .contains(&("grpc.status".into(), "UNAVAILABLE".into())),
                "{sample:?}"
            );
        }
    }
    Ok(())
}

#[test]
fn sizes_count_payload_only_and_never_underflow() -> Result<(), Box<dyn std::error::Error>> {
    let samples = record(|| {
        let handler = MetricsHandler::new();
        let call = start(Side::Client, "/a.B/C", CallKind::ClientStreaming);
        if let Some(mut observer) = handler.call_started(&call) {
            // A bogus wire size below the prefix length counts as zero.
            run_call(
                observer.as_mut(),
                &[(0, 5), (0, 2), (1000, 1005)],
                &[0],
                &Status::ok(),
                Duration::ZERO,
            );
        }
        Ok(())
    })?;
    let sent = samples.iter().find(|s| s.name == CLIENT_ATTEMPT_SENT_SIZE);
    assert_eq!(
        sent.map(|s| &s.value),
        Some(&Value::Histogram(vec![1000.0]))
    );
    Ok(())
}

#[test]
fn describe_gives_units() -> Result<(), Box<dyn std::error::Error>> {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let handler = MetricsHandler::new();
        if let Some(mut observer) =
            handler.call_started(&start(Side::Server, "/a.B/C", CallKind::Unary))
        {
            run_call(observer.as_mut(), &[], &[], &Status::ok(), Duration::ZERO);
        }
    });
    for (key, unit, help, _) in snapshotter.snapshot().into_vec() {
        let expected = match key.key().name() {
            SERVER_CALL_STARTED => Unit::Count,
            SERVER_CALL_DURATION => Unit::Seconds,
            _ => Unit::Bytes,
        };
        assert_eq!(unit, Some(expected), "{key:?}");
        assert!(help.is_some_and(|h| !h.is_empty()), "{key:?}");
    }
    Ok(())
}

#[test]
fn nothing_installed_is_fine() -> Result<(), Box<dyn std::error::Error>> {
    // No recorder: every record goes to the no-op recorder.
    let handler = MetricsHandler::new().with_target("t");
    let call = start(Side::Client, "/a.B/C", CallKind::Unary);
    if let Some(mut observer) = handler.call_started(&call) {
        run_call(
            observer.as_mut(),
            &[(1, 6)],
            &[1],
            &Status::ok(),
            Duration::ZERO,
        );
    }
    assert!(format!("{handler:?}").contains("\"t\""));
    Ok(())
}
