//! Graceful shutdown with calls in flight, immediate stop, TLS and Unix sockets.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use grpc_core::Code;
use grpc_e2e::pb::EchoRequest;
use grpc_e2e::pb::echo_client::EchoClient;
use grpc_e2e::{
    EchoService, certs, client, echo, slow, spawn_slow_call, start_default_server, start_server,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_calls_in_flight_and_refuses_new_ones() {
    let server = start_default_server().await;
    let client = client(&server).await;
    let in_flight: Vec<_> = (0..5)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.unary(slow(300)).await })
        })
        .collect();
    server.probe.wait_started(5).await;
    server.handle.shutdown_graceful(Duration::from_secs(30));

    // New calls fail with UNAVAILABLE once the client has seen the GOAWAY (a call racing it
    // may still be taken).
    let refused = async {
        loop {
            match client.unary(echo("late")).await {
                Ok(_) => tokio::task::yield_now().await,
                Err(status) => return status,
            }
        }
    };
    let status = tokio::time::timeout(Duration::from_secs(10), refused)
        .await
        .unwrap();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");

    for call in in_flight {
        call.await.unwrap().unwrap();
    }
    let url = server.url();
    server.wait_stopped().await;
    // And nobody listens any more.
    let status = grpc_client::Channel::builder(&url)
        .connect()
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
}

#[tokio::test]
async fn graceful_shutdown_cuts_calls_that_outlive_its_deadline() {
    let server = start_default_server().await;
    let client = client(&server).await;
    let call = spawn_slow_call(&server, &client).await;
    server.handle.shutdown_graceful(Duration::from_millis(100));
    let status = call.await.unwrap().unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    server.wait_stopped().await;
}

#[tokio::test]
async fn stop_ends_everything_at_once() {
    let server = start_default_server().await;
    let client = client(&server).await;
    let call = spawn_slow_call(&server, &client).await;
    server.handle.stop();
    let status = call.await.unwrap().unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    server.probe.wait_cancelled(1).await;
}

#[tokio::test]
async fn tls_carries_all_four_kinds() {
    let server = start_server(|builder| {
        builder
            .tls_pem(certs::SERVER_CERT, certs::SERVER_KEY)
            .unwrap()
    })
    .await;
    let channel = grpc_client::Channel::builder(&server.tls_url())
        .tls_ca_pem(certs::CA)
        .unwrap()
        .connect()
        .await
        .unwrap();
    exercise_all_kinds(&EchoClient::new(channel)).await;

    // A client that does not trust the CA cannot connect.
    let status = grpc_client::Channel::builder(&server.tls_url())
        .tls_ca_pem(certs::SERVER_CERT)
        .unwrap()
        .connect()
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
}

#[tokio::test]
async fn unix_sockets_carry_all_four_kinds() {
    let dir = std::env::temp_dir().join(format!("grpc-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("echo.sock");
    let _ = std::fs::remove_file(&path);
    let server = grpc_server::Server::builder().add_service(
        grpc_e2e::pb::echo_server::EchoServer::new(EchoService::default()),
    );
    let serving = tokio::spawn({
        let path = path.clone();
        async move { server.serve_unix(path).await }
    });
    for _ in 0..500 {
        if path.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let channel = grpc_client::Channel::builder(&format!("unix:{}", path.display()))
        .connect()
        .await
        .unwrap();
    exercise_all_kinds(&EchoClient::new(channel)).await;
    serving.abort();
    let _ = std::fs::remove_dir_all(&dir);
}

async fn exercise_all_kinds(client: &EchoClient) {
    let response = client.unary(echo("one")).await.unwrap();
    assert_eq!(&response.get_ref().payload[..], b"one");

    let mut stream = client
        .server_stream(EchoRequest {
            response_count: 3,
            ..echo("many")
        })
        .await
        .unwrap()
        .into_inner();
    let mut count = 0;
    while stream.message().await.unwrap().is_some() {
        count += 1;
    }
    assert_eq!(count, 3);

    let mut call = client.client_stream(()).await.unwrap();
    for _ in 0..3 {
        call.send(echo("in")).await.unwrap();
    }
    assert_eq!(call.finish().await.unwrap().get_ref().requests_received, 3);

    let mut call = client.bidi(()).await.unwrap();
    call.send(echo("ping")).await.unwrap();
    assert_eq!(&call.message().await.unwrap().unwrap().payload[..], b"ping");
    call.close_send().await.unwrap();
    assert!(call.message().await.unwrap().is_none());
}
