//! Builder options that reach the HTTP/2 connection: keepalive enforcement, connection
//! idle timeout, header list size, windows; and the remote-address extension switch.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use grpc_transport::ErrorCode;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_enforcement_closes_connections_that_ping_too_often() {
    let (addr, _handle, _events) =
        start_with(|builder| builder.keepalive_enforcement(Duration::from_secs(3600), false)).await;
    let client = TestClient::connect(addr).await;
    client.unary(UNARY, b"x").await.assert_ok();
    // Pings with no call open and far closer than an hour apart: strikes, then GOAWAY.
    for i in 0..10u8 {
        if client.client.ping([i; 8]).await.is_err() {
            break;
        }
    }
    let error = patiently(client.client.closed())
        .await
        .expect("closed with an error");
    assert_eq!(error.code(), Some(ErrorCode::ENHANCE_YOUR_CALM), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permitted_pings_are_fine() {
    let (addr, _handle, _events) = start_with(|builder| {
        builder
            .keepalive_enforcement(Duration::ZERO, true)
            .keepalive_time(Duration::from_secs(3600))
            .keepalive_timeout(Duration::from_secs(5))
    })
    .await;
    let client = TestClient::connect(addr).await;
    for i in 0..10u8 {
        client.client.ping([i; 8]).await.unwrap();
    }
    client.unary(UNARY, b"x").await.assert_ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed() {
    let (addr, _handle, _events) =
        start_with(|builder| builder.max_connection_idle(Duration::from_millis(30))).await;
    let client = TestClient::connect(addr).await;
    client.unary(UNARY, b"x").await.assert_ok();
    let error = patiently(client.client.closed()).await;
    assert!(error.is_none(), "graceful close expected: {error:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_list_size_can_be_raised() {
    let (addr, _handle, _events) =
        start_with(|builder| builder.max_header_list_size(64 * 1024)).await;
    let client = TestClient::connect(addr).await;
    let big = "v".repeat(40 * 1024);
    let reply = client
        .unary_with(with(grpc_headers(UNARY), "x-big", &big), b"x")
        .await;
    reply.assert_ok();
    assert_eq!(reply.header("x-big").map(str::len), Some(40 * 1024));
    let stats = client.client.stats().await.unwrap();
    assert_eq!(stats.peer_settings.max_header_list_size, Some(64 * 1024));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_windows_are_advertised() {
    let (addr, _handle, _events) = start_with(|builder| {
        builder
            .initial_stream_window_size(1024 * 1024)
            .initial_connection_window_size(4 * 1024 * 1024)
    })
    .await;
    let client = TestClient::connect(addr).await;
    let payload = vec![9u8; 3 * MIB];
    let reply = client.unary(UNARY, &payload).await;
    reply.assert_ok();
    assert_eq!(reply.message().len(), 3 * MIB);
    let stats = client.client.stats().await.unwrap();
    assert_eq!(stats.peer_settings.initial_window_size, 1024 * 1024);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_addr_extension_can_be_turned_off() {
    let (addr, _handle, _events) =
        start_with(|builder| builder.remote_addr_extension(false).tcp_nodelay(false)).await;
    let client = TestClient::connect(addr).await;
    let reply = client.unary(UNARY, b"x").await;
    reply.assert_ok();
    assert_eq!(reply.header("x-has-remote-addr"), None);
}
