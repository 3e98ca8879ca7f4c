//! The channel's connection: lazy and eager connect, wait-for-ready versus fail-fast,
//! reconnecting after the server restarts, GOAWAY, Unix sockets, target errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use grpc_client::{CallOptions, Channel, Code, ConnectBackoff, ConnectivityState, Request};
use grpc_core::codec::BytesCodec;
use support::{ServerCall, TestServer, channel};
use tokio::net::TcpListener;

/// A port that nothing listens on (bound, then released).
async fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

/// Backoff short enough for tests that wait for a reconnect.
fn fast_backoff() -> ConnectBackoff {
    ConnectBackoff {
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(100),
        ..ConnectBackoff::default()
    }
}

async fn echo_once(channel: &Channel, options: CallOptions) -> Result<Bytes, grpc_client::Status> {
    let mut request = Request::new(Bytes::from_static(b"ping"));
    request.extensions_mut().insert(options);
    channel
        .unary(request, "/test.Echo/Unary", BytesCodec)
        .await
        .map(|r| r.into_inner())
}

async fn reply_server(listener: TcpListener) -> TestServer {
    TestServer::serve_tcp(listener, None, |mut call: ServerCall| async move {
        let request = call.message().await.unwrap();
        call.reply(&request).await;
    })
}

/// Polls until the channel reaches `state` (bounded).
async fn wait_for_state(channel: &Channel, state: ConnectivityState) {
    for _ in 0..500 {
        if channel.connectivity_state() == state {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "channel never reached {state:?}: {:?}",
        channel.connectivity_state()
    );
}

#[tokio::test]
async fn a_lazy_channel_connects_on_its_first_call() {
    let server = TestServer::start(support::echo).await;
    let channel = Channel::builder(&server.target()).connect_lazy().unwrap();
    assert_eq!(channel.connectivity_state(), ConnectivityState::Idle);
    assert_eq!(server.connection_count(), 0);
    assert_eq!(
        echo_once(&channel, CallOptions::new()).await.unwrap(),
        "ping"
    );
    assert_eq!(channel.connectivity_state(), ConnectivityState::Ready);
    // Every later call, from any clone, shares the connection.
    for _ in 0..5 {
        echo_once(&channel.clone(), CallOptions::new())
            .await
            .unwrap();
    }
    assert_eq!(server.connection_count(), 1);
}

#[tokio::test]
async fn eager_connect_fails_with_unavailable_when_nothing_listens() {
    let addr = free_port().await;
    let err = Channel::builder(&format!("http://{addr}"))
        .connect()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err}");
}

#[tokio::test]
async fn without_wait_for_ready_a_call_fails_fast_while_the_server_is_down() {
    let addr = free_port().await;
    let channel = Channel::builder(&format!("http://{addr}"))
        .connect_lazy()
        .unwrap();
    let err = echo_once(&channel, CallOptions::new()).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err}");
    assert_eq!(
        channel.connectivity_state(),
        ConnectivityState::TransientFailure
    );
    // Still in transient failure (retrying in the background): fails at once again.
    let err = echo_once(&channel, CallOptions::new()).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err}");
}

#[tokio::test]
async fn a_wait_for_ready_call_started_before_the_server_listens_succeeds_once_it_does() {
    let addr = free_port().await;
    let channel = Channel::builder(&format!("http://{addr}"))
        .connect_backoff(fast_backoff())
        .connect_lazy()
        .unwrap();
    let call = {
        let channel = channel.clone();
        tokio::spawn(async move {
            echo_once(
                &channel,
                CallOptions::new()
                    .wait_for_ready(true)
                    .timeout(Duration::from_secs(30)),
            )
            .await
        })
    };
    // The call is waiting through at least one failed attempt before the server starts.
    wait_for_state(&channel, ConnectivityState::TransientFailure).await;
    assert!(!call.is_finished());
    let _server = reply_server(TcpListener::bind(addr).await.unwrap()).await;
    assert_eq!(call.await.unwrap().unwrap(), "ping");
    assert_eq!(channel.connectivity_state(), ConnectivityState::Ready);
}

#[tokio::test]
async fn a_wait_for_ready_call_still_honours_its_deadline() {
    let addr = free_port().await;
    let channel = Channel::builder(&format!("http://{addr}"))
        .connect_backoff(fast_backoff())
        .connect_lazy()
        .unwrap();
    let err = echo_once(
        &channel,
        CallOptions::new()
            .wait_for_ready(true)
            .timeout(Duration::from_millis(200)),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err}");
}

#[tokio::test]
async fn the_channel_reconnects_after_the_server_restarts() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = reply_server(listener).await;
    let channel = Channel::builder(&format!("http://{addr}"))
        .connect_backoff(fast_backoff())
        .connect()
        .await
        .unwrap();
    echo_once(&channel, CallOptions::new()).await.unwrap();

    server.stop();
    drop(server);
    wait_for_state(&channel, ConnectivityState::Idle).await;
    let err = echo_once(&channel, CallOptions::new()).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err}");

    let server = reply_server(TcpListener::bind(addr).await.unwrap()).await;
    let options = CallOptions::new()
        .wait_for_ready(true)
        .timeout(Duration::from_secs(30));
    assert_eq!(echo_once(&channel, options).await.unwrap(), "ping");
    assert_eq!(server.connection_count(), 1);
}

#[tokio::test]
async fn a_call_in_flight_when_the_connection_dies_fails_with_unavailable() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let server = TestServer::start(move |mut call: ServerCall| {
        let tx = tx.clone();
        async move {
            call.message().await;
            tx.send(()).unwrap();
            std::future::pending::<()>().await;
        }
    })
    .await;
    let channel = channel(&server).await;
    let unary = {
        let channel = channel.clone();
        tokio::spawn(async move { echo_once(&channel, CallOptions::new()).await })
    };
    rx.recv().await.unwrap();
    server.stop();
    let err = unary.await.unwrap().unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err}");
}

#[tokio::test]
async fn new_calls_move_to_a_new_connection_after_goaway() {
    let (release_tx, release_rx) = tokio::sync::watch::channel(false);
    let server = TestServer::start(move |mut call: ServerCall| {
        let mut release = release_rx.clone();
        async move {
            let request = call.message().await.unwrap();
            if call.path() == "/test.Echo/Slow" {
                let _ = release.wait_for(|released| *released).await;
            }
            call.reply(&request).await;
        }
    })
    .await;
    let channel = channel(&server).await;
    let slow = {
        let channel = channel.clone();
        tokio::spawn(async move {
            channel
                .unary(
                    Request::new(Bytes::from_static(b"slow")),
                    "/test.Echo/Slow",
                    BytesCodec,
                )
                .await
        })
    };
    while server.request_count() == 0 {
        tokio::task::yield_now().await;
    }
    server.go_away();
    // Calls keep working: the old connection refuses new streams, so they go to a new one.
    for _ in 0..5 {
        assert_eq!(
            echo_once(&channel, CallOptions::new()).await.unwrap(),
            "ping"
        );
    }
    assert_eq!(server.connection_count(), 2);
    // The call in flight on the old connection completes there.
    release_tx.send(true).unwrap();
    assert_eq!(slow.await.unwrap().unwrap().into_inner(), "slow");
}

#[tokio::test]
async fn calls_over_a_unix_socket() {
    let path = support::unix_socket_path();
    let server = TestServer::start_unix(&path, |mut call: ServerCall| async move {
        let authority = call.header(":authority").unwrap().to_owned();
        call.message().await;
        call.reply(authority.as_bytes()).await;
    });
    for target in [
        format!("unix:{}", path.display()),
        format!("unix://{}", path.display()),
    ] {
        let channel = Channel::builder(&target).connect().await.unwrap();
        assert_eq!(channel.authority(), "localhost");
        assert_eq!(
            echo_once(&channel, CallOptions::new()).await.unwrap(),
            "localhost"
        );
        let mut call = channel
            .streaming(Request::new(()), "/test.Echo/Chat", BytesCodec)
            .await
            .unwrap();
        call.close_send().await.unwrap();
        assert_eq!(call.message().await.unwrap().unwrap(), "localhost");
    }
    drop(server);
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn bad_targets_and_settings_are_invalid_argument() {
    for target in [
        "",
        "ftp://h:1",
        "h:notaport",
        "::1:50051",
        "http://h:1/path",
        "dns:///h:1/x y",
    ] {
        let err = Channel::builder(target).connect_lazy().unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{target:?}: {err}");
    }
    let err = Channel::builder("https://localhost:1")
        .connect_lazy()
        .unwrap_err();
    assert_eq!(
        err.code(),
        Code::InvalidArgument,
        "https needs a TLS config: {err}"
    );
    let ca = support::ca_pem();
    let err = Channel::builder("http://localhost:1")
        .tls_ca_pem(&ca)
        .unwrap()
        .connect_lazy()
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "http:// with TLS: {err}");
    let err = Channel::builder("unix:/tmp/x.sock")
        .tls_ca_pem(&ca)
        .unwrap()
        .connect_lazy()
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        Channel::builder("h:1")
            .tls_ca_pem(b"not a pem")
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );
}

#[tokio::test]
async fn a_dropped_channel_closes_its_connection() {
    let server = TestServer::start(support::echo).await;
    let channel = channel(&server).await;
    echo_once(&channel, CallOptions::new()).await.unwrap();
    let clone = channel.clone();
    drop(channel);
    echo_once(&clone, CallOptions::new()).await.unwrap();
    drop(clone);
    // With the last handle gone the client shuts the connection down; a new channel makes a
    // new one.
    let channel = support::channel(&server).await;
    echo_once(&channel, CallOptions::new()).await.unwrap();
    assert_eq!(server.connection_count(), 2);
}
