//! Graceful shutdown (calls in flight finish, new streams are refused, a deadline bounds the
//! wait), immediate stop, and serve_with_shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use grpc_core::Code;
use support::*;

/// Opens unary calls until one is refused because of the server's GOAWAY (calls opened
/// before the client saw it succeed normally).
async fn wait_until_refused(client: &TestClient) {
    patiently(async {
        loop {
            let Ok((mut send, mut recv)) = client.client.send_request(grpc_headers(UNARY), false)
            else {
                return; // the connection is closing: no new streams
            };
            let _ = send
                .send_data(bytes::Bytes::from_static(b"\0\0\0\0\0"), true)
                .await;
            match recv.headers().await {
                Err(error) => {
                    assert!(error.is_never_processed(), "{error}");
                    return;
                }
                Ok(_) => {
                    let _ = recv.trailers().await;
                    tokio::task::yield_now().await;
                }
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_lets_calls_in_flight_finish() {
    let (addr, handle, _events) = start().await;
    let client = TestClient::connect(addr).await;
    let mut call = client.open(grpc_headers(BIDI));
    call.send(b"before").await;
    assert_eq!(&call.message().await.unwrap()[..], b"before");

    handle.shutdown_graceful(Duration::from_secs(60));
    // GOAWAY: new streams are refused (safe to retry elsewhere)...
    wait_until_refused(&client).await;
    // ...new connections too, once the listener is closed...
    patiently(async {
        while let Ok(tcp) = tokio::net::TcpStream::connect(addr).await {
            drop(tcp);
            tokio::task::yield_now().await;
        }
    })
    .await;
    // ...while the call in flight goes on.
    call.send(b"during").await;
    assert_eq!(&call.message().await.unwrap()[..], b"during");
    assert!(!handle.is_stopped());
    call.close().await;
    patiently(call.finish()).await.assert_ok();
    patiently(handle.wait()).await;
    assert!(handle.is_stopped());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_deadline_stops_what_is_left() {
    let (addr, handle, mut events) = start().await;
    let client = TestClient::connect(addr).await;
    let mut call = client.sleeping_call(&mut events).await;
    handle.shutdown_graceful(Duration::from_millis(50));
    expect_event(&mut events, "sleep dropped").await;
    patiently(handle.wait()).await;
    // The call fails: the connection is gone.
    assert!(patiently(call.recv.headers()).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_closes_everything_at_once() {
    let (addr, handle, mut events) = start().await;
    let client = TestClient::connect(addr).await;
    let mut call = client.sleeping_call(&mut events).await;
    handle.stop();
    expect_event(&mut events, "sleep dropped").await;
    patiently(handle.wait()).await;
    assert!(patiently(call.recv.headers()).await.is_err());
    assert!(patiently(client.client.closed()).await.is_some() || client.client.is_closed());
    // Stopping again, or shutting down gracefully after, changes nothing.
    handle.stop();
    handle.shutdown_graceful(Duration::from_secs(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_during_a_graceful_shutdown() {
    let (addr, handle, mut events) = start().await;
    let client = TestClient::connect(addr).await;
    let _call = client.sleeping_call(&mut events).await;
    handle.shutdown_graceful(Duration::from_secs(3600));
    wait_until_refused(&client).await;
    handle.stop();
    expect_event(&mut events, "sleep dropped").await;
    patiently(handle.wait()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_shutdown_signal() {
    let (builder, _events) = builder();
    let bound = builder.bind(localhost()).await.unwrap();
    let addr = bound.local_addr();
    let handle = bound.handle();
    let (fire, signal) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(bound.serve_with_shutdown(async {
        let _ = signal.await;
    }));
    let client = TestClient::connect(addr).await;
    // A call the server is surely handling (its first message came back) ...
    let mut call = client.open(grpc_headers(BIDI));
    call.send(b"a").await;
    assert_eq!(&call.message().await.unwrap()[..], b"a");
    fire.send(()).unwrap();
    wait_until_refused(&client).await;
    // ... goes on after the signal.
    call.send(b"b").await;
    assert_eq!(&call.message().await.unwrap()[..], b"b");
    call.close().await;
    patiently(call.finish()).await.assert_ok();
    patiently(server).await.unwrap().unwrap();
    assert!(handle.is_stopped());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_server_shuts_down_at_once() {
    let (addr, handle, _events) = start().await;
    let client = TestClient::connect(addr).await;
    client.unary(UNARY, b"x").await.assert_ok();
    handle.shutdown_graceful(Duration::from_secs(3600));
    patiently(handle.wait()).await;
    let reply_error = client.client.send_request(grpc_headers(UNARY), true);
    if let Ok((_send, mut recv)) = reply_error {
        assert!(patiently(recv.headers()).await.is_err());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_connection_age_closes_connections_gracefully() {
    let (addr, _handle, _events) =
        start_with(|builder| builder.max_connection_age(Duration::from_millis(50))).await;
    let client = TestClient::connect(addr).await;
    client.unary(UNARY, b"x").await.assert_ok();
    // The server ends the connection on its own; the client sees it close cleanly.
    let error = patiently(client.client.closed()).await;
    assert!(error.is_none(), "{error:?}");
    let reply = TestClient::connect(addr).await.unary(UNARY, b"y").await;
    assert_eq!(reply.code(), Code::Ok);
}
