//! Deadlines on both sides and cancellation from both sides.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use grpc_core::{Code, Request};
use grpc_e2e::pb::EchoRequest;
use grpc_e2e::{client, client_with, echo, slow, spawn_slow_call, start_default_server};

#[tokio::test]
async fn a_unary_deadline_fails_the_call_and_cancels_the_handler() {
    let server = start_default_server().await;
    let client = client(&server).await;
    let mut request = Request::new(slow(30_000));
    request.set_timeout(Duration::from_millis(100));
    let status = client.unary(request).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    // The server learned the deadline from grpc-timeout and dropped the handler.
    let timeout = server.probe.last_timeout().unwrap();
    assert!(timeout <= Duration::from_millis(100) && timeout > Duration::ZERO);
    server.probe.wait_cancelled(1).await;
}

#[tokio::test]
async fn the_server_enforces_the_deadline_on_a_stream_the_client_keeps_reading() {
    let server = start_default_server().await;
    let client = client(&server).await;
    let mut request = Request::new(EchoRequest {
        response_count: 1000,
        delay_ms: 20,
        ..echo("tick")
    });
    request.set_timeout(Duration::from_millis(150));
    let mut responses = client.server_stream(request).await.unwrap().into_inner();
    let mut received = 0;
    let status = loop {
        match responses.message().await {
            Ok(Some(_)) => received += 1,
            Ok(None) => panic!("the stream ended without an error"),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(received < 1000);
    server.probe.wait_cancelled(1).await;
}

#[tokio::test]
async fn a_channel_default_timeout_applies_to_every_call() {
    let server = start_default_server().await;
    let client = client_with(&server, |b| b.timeout(Duration::from_millis(100))).await;
    let status = client.unary(slow(30_000)).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
    assert!(server.probe.last_timeout().is_some());
}

#[tokio::test]
async fn dropping_a_unary_call_cancels_the_handler() {
    let server = start_default_server().await;
    let client = client(&server).await;
    let call = spawn_slow_call(&server, &client).await;
    call.abort();
    server.probe.wait_cancelled(1).await;
    // The connection is still good for other calls.
    client.unary(echo("after")).await.unwrap();
}

#[tokio::test]
async fn dropping_a_response_stream_cancels_the_handler() {
    let server = start_default_server().await;
    let client = client(&server).await;
    let request = EchoRequest {
        response_count: 1_000_000,
        response_size: 1024,
        ..EchoRequest::default()
    };
    let mut responses = client.server_stream(request).await.unwrap().into_inner();
    responses.message().await.unwrap().unwrap();
    drop(responses);
    server.probe.wait_cancelled(1).await;
}

#[tokio::test]
async fn dropping_a_client_stream_cancels_the_handler() {
    let server = start_default_server().await;
    let client = client(&server).await;
    let mut call = client.client_stream(()).await.unwrap();
    call.send(echo("one")).await.unwrap();
    server.probe.wait_started(1).await;
    drop(call);
    server.probe.wait_cancelled(1).await;
}

#[tokio::test]
async fn dropping_a_bidi_call_cancels_the_handler() {
    let server = start_default_server().await;
    let client = client(&server).await;
    let mut call = client.bidi(()).await.unwrap();
    call.send(echo("one")).await.unwrap();
    call.message().await.unwrap().unwrap();
    drop(call);
    server.probe.wait_cancelled(1).await;
}

#[tokio::test]
async fn a_server_that_ends_a_bidi_call_early_stops_the_client() {
    let server = start_default_server().await;
    let client = client(&server).await;
    let mut call = client.bidi(()).await.unwrap();
    call.send(echo("fine")).await.unwrap();
    call.message().await.unwrap().unwrap();
    // The server answers, then ends the call with ABORTED while the client still sends.
    call.send(EchoRequest {
        status_code: Code::Aborted as i32,
        status_message: "enough".into(),
        ..echo("last")
    })
    .await
    .unwrap();
    call.message().await.unwrap().unwrap();
    let status = call.message().await.unwrap_err();
    assert_eq!(status.code(), Code::Aborted);
    assert_eq!(status.message(), "enough");
    assert_eq!(server.probe.finished(), 1);
}
