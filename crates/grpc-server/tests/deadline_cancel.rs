//! Deadlines from grpc-timeout and cancellation by the client: the handler's future is
//! dropped (observed with a drop guard) and the client gets DEADLINE_EXCEEDED.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use grpc_core::Code;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_drops_the_handler_and_answers_deadline_exceeded() {
    let (addr, _handle, mut events) = start().await;
    let client = TestClient::connect(addr).await;
    let reply = client
        .unary_with(with(grpc_headers(SLEEP), "grpc-timeout", "50m"), b"zz")
        .await;
    assert_eq!(reply.code(), Code::DeadlineExceeded, "{reply:?}");
    assert!(reply.trailers_only);
    expect_event(&mut events, "sleep dropped").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_while_the_client_is_still_sending() {
    // The request half is still open when the deadline passes: the client still gets the
    // DEADLINE_EXCEEDED trailers (they must not be lost to a reset).
    let (addr, _handle, mut events) = start().await;
    let client = TestClient::connect(addr).await;
    let mut call = client.open(with(
        with(grpc_headers(BIDI), "x-sleep", "1"),
        "grpc-timeout",
        "30m",
    ));
    call.send(b"first").await;
    expect_event(&mut events, "bidi started").await;
    let headers = call.response_headers().await;
    assert_eq!(find(&headers, "grpc-status"), Some("4"), "{headers:?}");
    expect_event(&mut events, "bidi dropped").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_timeout_is_visible_to_the_handler() {
    let (addr, _handle, _events) = start().await;
    let client = TestClient::connect(addr).await;
    let reply = client
        .unary_with(with(grpc_headers(UNARY), "grpc-timeout", "5S"), b"x")
        .await;
    reply.assert_ok();
    assert_eq!(reply.header("x-timeout-ms"), Some("5000"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_reset_drops_a_unary_handler() {
    let (addr, _handle, mut events) = start().await;
    let client = TestClient::connect(addr).await;
    let call = client.sleeping_call(&mut events).await;
    // Dropping an unfinished call sends RST_STREAM(CANCEL).
    drop(call);
    expect_event(&mut events, "sleep dropped").await;
    // The connection is fine afterwards.
    client.unary(UNARY, b"still here").await.assert_ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_reset_drops_a_streaming_handler() {
    let (addr, _handle, mut events) = start().await;
    let client = TestClient::connect(addr).await;
    let mut call = client.open(with(grpc_headers(BIDI), "x-sleep", "1"));
    call.send(b"x").await;
    expect_event(&mut events, "bidi started").await;
    drop(call);
    expect_event(&mut events, "bidi dropped").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_connection_drops_handlers() {
    let (addr, _handle, mut events) = start().await;
    // Run the client connection's task ourselves so we can kill the socket under a live
    // call (no RST_STREAM is sent: the connection just goes away).
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (client, task) = grpc_transport::driver::Client::with_task(
        tcp,
        grpc_transport::connection::Config::client(),
    );
    let task = tokio::spawn(task);
    let client = TestClient { client };
    let call = client.sleeping_call(&mut events).await;
    task.abort();
    expect_event(&mut events, "sleep dropped").await;
    drop(call);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_timeouts_are_fine() {
    let (addr, _handle, _events) = start().await;
    let client = TestClient::connect(addr).await;
    let reply = client
        .unary_with(with(grpc_headers(UNARY), "grpc-timeout", "99999999H"), b"x")
        .await;
    reply.assert_ok();
}
