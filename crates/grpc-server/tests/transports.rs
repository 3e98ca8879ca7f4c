//! Serving over TLS, a Unix socket and any stream of connections.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use grpc_transport::connection::Config;
use grpc_transport::driver::Client;
use support::*;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../grpc-transport/tests/data");

fn read(name: &str) -> Vec<u8> {
    std::fs::read(format!("{DATA}/{name}")).unwrap()
}

/// A server with the test service over TLS (the grpc-transport test certificate).
async fn start_tls() -> (std::net::SocketAddr, grpc_server::ServerHandle) {
    let (addr, handle, _events) = start_with(|builder| {
        builder
            .tls_pem(&read("server.pem"), &read("server.key"))
            .unwrap()
    })
    .await;
    (addr, handle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_alpn_h2() {
    let (addr, _handle) = start_tls().await;

    let tls = grpc_transport::driver::tls::client_config(&read("ca.pem")).unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let client = Client::connect_tls(addr, name, tls, Config::client())
        .await
        .unwrap();
    let client = TestClient { client };
    let reply = client.unary(UNARY, b"secret").await;
    reply.assert_ok();
    assert_eq!(reply.message(), &Bytes::from_static(b"secret"));
    assert_eq!(reply.header("x-has-remote-addr"), Some("1"));
    let reply = client.unary(SERVER_STREAM, b"3,10").await;
    reply.assert_ok();
    assert_eq!(reply.messages.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_without_alpn_h2_is_refused() {
    use tokio::io::AsyncReadExt;
    let (addr, _handle) = start_tls().await;

    // A TLS client offering no ALPN: the handshake succeeds, then the server hangs up.
    let mut config =
        (*grpc_transport::driver::tls::client_config(&read("ca.pem")).unwrap()).clone();
    config.alpn_protocols.clear();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut stream = connector.connect(name, tcp).await.unwrap();
    let mut buf = [0u8; 64];
    let read = patiently(stream.read(&mut buf)).await;
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unix_socket() {
    let dir = std::env::temp_dir().join(format!("grpc-server-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("server.sock");

    let (builder, _events) = builder();
    let handle = builder.handle();
    let server = tokio::spawn(builder.serve_unix(path.clone()));
    let client = patiently(async {
        loop {
            match Client::connect_unix(&path, Config::client()).await {
                Ok(client) => return client,
                Err(_) => tokio::task::yield_now().await,
            }
        }
    })
    .await;
    let client = TestClient { client };
    let reply = client.unary(UNARY, b"over a unix socket").await;
    reply.assert_ok();
    // No peer address for Unix sockets.
    assert_eq!(reply.header("x-has-remote-addr"), None);
    let mut call = client.open(grpc_headers(BIDI));
    call.send(b"ping").await;
    assert_eq!(&call.message().await.unwrap()[..], b"ping");
    call.close().await;
    patiently(call.finish()).await.assert_ok();

    handle.stop();
    patiently(server).await.unwrap().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A stream of in-memory connections.
struct Connections(tokio::sync::mpsc::UnboundedReceiver<std::io::Result<tokio::io::DuplexStream>>);

impl futures_core::Stream for Connections {
    type Item = std::io::Result<tokio::io::DuplexStream>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_incoming_in_memory_connections() {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let (builder, _events) = builder();
    let handle = builder.handle();
    let server = tokio::spawn(builder.serve_incoming(Connections(rx)));

    let mut clients = Vec::new();
    for i in 0..3 {
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        tx.send(Ok(theirs)).unwrap();
        if i == 1 {
            // Errors from the stream are skipped.
            tx.send(Err(std::io::Error::other("flaky"))).unwrap();
        }
        clients.push(TestClient {
            client: Client::handshake(ours, Config::client()),
        });
    }
    for (i, client) in clients.iter().enumerate() {
        let payload = format!("connection {i}");
        let reply = client.unary(UNARY, payload.as_bytes()).await;
        reply.assert_ok();
        assert_eq!(reply.message(), &Bytes::from(payload));
    }
    // The stream ends: the server keeps serving the connections it has...
    drop(tx);
    clients[0].unary(UNARY, b"still").await.assert_ok();
    assert!(!handle.is_stopped());
    // ...until they close.
    drop(clients);
    patiently(server).await.unwrap().unwrap();
    assert!(handle.is_stopped());
}
