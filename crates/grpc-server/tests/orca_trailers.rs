//! Per-call ORCA load reports (gRFC A51) end to end: a server on 127.0.0.1 with
//! `orca_reporting(true)`, handlers recording metrics through their `CallMetricsRecorder`,
//! and grpc-client's `Channel` reading the `endpoint-load-metrics-bin` trailer back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use grpc_client::Channel;
use grpc_core::codec::BytesCodec;
use grpc_server::{
    CallMetricsRecorder, ORCA_TRAILER, OrcaLoadReport, Request, Response, ResponseSink, Server,
    ServerHandle, Status,
};

/// A safety net against hangs, never a timing assertion.
const PATIENCE: Duration = Duration::from_secs(20);

async fn patiently<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(PATIENCE, future)
        .await
        .expect("timed out")
}

/// Records a report from the request's first byte: 0 records nothing, 1 records a full
/// report, 2 records a report and fails the call.
fn record(recorder: Option<&CallMetricsRecorder>, mode: u8) {
    if mode == 0 {
        return;
    }
    let recorder = recorder.expect("no CallMetricsRecorder in the request's extensions");
    recorder.record_cpu_utilization(0.5);
    recorder.record_application_utilization(0.75);
    recorder.record_memory_utilization(0.25);
    recorder.record_qps(100.0);
    recorder.record_eps(2.0);
    recorder.record_request_cost("db_reads", 3.0);
    recorder.record_utilization("disk", 0.125);
    recorder.record_named_metric("queue", 7.0);
}

fn expected_report() -> OrcaLoadReport {
    let mut report = OrcaLoadReport {
        cpu_utilization: 0.5,
        application_utilization: 0.75,
        mem_utilization: 0.25,
        rps_fractional: 100.0,
        eps: 2.0,
        ..OrcaLoadReport::default()
    };
    report.request_cost.insert("db_reads".into(), 3.0);
    report.utilization.insert("disk".into(), 0.125);
    report.named_metrics.insert("queue".into(), 7.0);
    report
}

async fn start(orca: bool) -> (SocketAddr, ServerHandle, Channel) {
    // Off is the default: the disabled case does not call the option at all.
    let builder = Server::builder();
    let builder = if orca {
        builder.orca_reporting(true)
    } else {
        builder
    };
    let bound = builder
        .add_routes(|routes| {
            routes.unary(
                "/orca.Test/Unary",
                BytesCodec,
                |request: Request<Bytes>| async move {
                    let mode = request.get_ref().first().copied().unwrap_or(0);
                    // Whether the recorder is there is part of the answer, for the disabled case.
                    let present = request.extensions().get::<CallMetricsRecorder>().is_some();
                    record(request.extensions().get::<CallMetricsRecorder>(), mode);
                    if mode == 2 {
                        return Err(Status::unavailable("overloaded"));
                    }
                    Ok(Response::new(Bytes::from(vec![u8::from(present)])))
                },
            );
            routes.server_streaming(
                "/orca.Test/Stream",
                BytesCodec,
                |request: Request<Bytes>, sink: &mut ResponseSink<Bytes>| {
                    Box::pin(async move {
                        let mode = request.get_ref().first().copied().unwrap_or(0);
                        for _ in 0..3 {
                            sink.send(Bytes::from_static(b"x")).await?;
                        }
                        // Recorded after the messages went out: the report still makes
                        // the trailers.
                        record(request.extensions().get::<CallMetricsRecorder>(), mode);
                        Ok(())
                    })
                },
            );
            routes.streaming("/orca.Test/Bidi", BytesCodec, |request, sink| {
                Box::pin(async move {
                    let recorder = request.extensions().get::<CallMetricsRecorder>().cloned();
                    let mut messages = request.into_inner();
                    while let Some(message) = messages.message().await? {
                        record(recorder.as_ref(), message.first().copied().unwrap_or(0));
                        sink.send(message).await?;
                    }
                    Ok(())
                })
            });
        })
        .bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = bound.local_addr();
    let handle = bound.handle();
    tokio::spawn(bound.serve());
    let channel = Channel::builder(&format!("http://{addr}"))
        .connect()
        .await
        .unwrap();
    (addr, handle, channel)
}

async fn unary(channel: &Channel, mode: u8) -> Result<Response<Bytes>, Status> {
    patiently(channel.unary(
        Request::new(Bytes::from(vec![mode])),
        "/orca.Test/Unary",
        BytesCodec,
    ))
    .await
}

#[tokio::test]
async fn unary_report_arrives_in_the_trailers() {
    let (_, handle, channel) = start(true).await;

    let response = unary(&channel, 1).await.unwrap();
    assert_eq!(&response.get_ref()[..], [1], "the handler saw a recorder");
    assert!(response.trailers().get_bin(ORCA_TRAILER).is_some());
    assert_eq!(
        OrcaLoadReport::from_trailers(response.trailers()),
        Some(expected_report())
    );

    // Nothing recorded: no trailer.
    let response = unary(&channel, 0).await.unwrap();
    assert_eq!(&response.get_ref()[..], [1]);
    assert!(!response.trailers().contains_key(ORCA_TRAILER));

    // A failed call carries its report too (the status's metadata holds the trailers).
    let status = unary(&channel, 2).await.unwrap_err();
    assert_eq!(status.message(), "overloaded");
    assert_eq!(
        OrcaLoadReport::from_trailers(status.metadata()),
        Some(expected_report())
    );
    handle.stop();
}

#[tokio::test]
async fn streaming_reports_arrive_in_the_trailers() {
    let (_, handle, channel) = start(true).await;

    for (mode, expected) in [(1u8, Some(expected_report())), (0, None)] {
        let response = patiently(channel.server_streaming(
            Request::new(Bytes::from(vec![mode])),
            "/orca.Test/Stream",
            BytesCodec,
        ))
        .await
        .unwrap();
        let mut stream = response.into_inner();
        let mut count = 0;
        while patiently(stream.message()).await.unwrap().is_some() {
            count += 1;
        }
        assert_eq!(count, 3);
        let trailers = patiently(stream.trailers()).await.unwrap();
        assert_eq!(OrcaLoadReport::from_trailers(&trailers), expected);
    }

    // Bidi: the report holds what was recorded by the time the call ended.
    let mut call = patiently(channel.streaming(Request::new(()), "/orca.Test/Bidi", BytesCodec))
        .await
        .unwrap();
    call.send(Bytes::from_static(&[0])).await.unwrap();
    assert!(patiently(call.message()).await.unwrap().is_some());
    call.send(Bytes::from_static(&[1])).await.unwrap();
    assert!(patiently(call.message()).await.unwrap().is_some());
    call.close_send().await.unwrap();
    let trailers = patiently(call.trailers()).await.unwrap();
    assert_eq!(
        OrcaLoadReport::from_trailers(&trailers),
        Some(expected_report())
    );
    handle.stop();
}

#[tokio::test]
async fn disabled_by_default_no_recorder_and_no_trailer() {
    let (_, handle, channel) = start(false).await;
    let response = unary(&channel, 0).await.unwrap();
    assert_eq!(
        &response.get_ref()[..],
        [0],
        "no recorder without orca_reporting"
    );
    assert!(!response.trailers().contains_key(ORCA_TRAILER));
    handle.stop();
}
