//! The tokio driver over real sockets on 127.0.0.1 (and a Unix socket): large transfers
//! with flow control and BDP growth, concurrency limits, cancellation, shutdown.

// Helpers outside #[test] functions panic on broken setup on purpose.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bytes::Bytes;
use grpc_transport::ErrorCode;
use grpc_transport::connection::Config;
use grpc_transport::driver::{Client, Error, Incoming, IncomingRequest};
use grpc_transport::hpack::HeaderField;
use tokio::net::TcpListener;

fn request(path: &'static str) -> Vec<HeaderField> {
    vec![
        HeaderField::new(":method", "POST"),
        HeaderField::new(":scheme", "http"),
        HeaderField::new(":path", path),
        HeaderField::new(":authority", "localhost"),
    ]
}

fn ok() -> Vec<HeaderField> {
    vec![HeaderField::new(":status", "200")]
}

/// Serves every connection on the listener with `handler`, one task per request.
async fn serve<F, Fut>(listener: TcpListener, config: Config, handler: F)
where
    F: Fn(IncomingRequest) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    while let Ok((tcp, _)) = listener.accept().await {
        tcp.set_nodelay(true).unwrap();
        let mut incoming = Incoming::serve(tcp, config.clone());
        let handler = handler.clone();
        tokio::spawn(async move {
            while let Some(request) = incoming.accept().await {
                tokio::spawn(handler.clone()(request));
            }
        });
    }
}

async fn server<F, Fut>(config: Config, handler: F) -> std::net::SocketAddr
where
    F: Fn(IncomingRequest) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, config, handler));
    addr
}

const MIB: usize = 1024 * 1024;

/// Sends `total` bytes in 64 KiB chunks.
async fn send_bulk(
    send: &mut grpc_transport::driver::SendStream,
    total: usize,
) -> Result<(), Error> {
    let chunk = Bytes::from(vec![0x5a; 64 * 1024]);
    let mut sent = 0;
    while sent < total {
        let len = chunk.len().min(total - sent);
        sent += len;
        send.send_data(chunk.slice(..len), sent == total).await?;
    }
    Ok(())
}

async fn count_bulk(recv: &mut grpc_transport::driver::RecvStream) -> Result<usize, Error> {
    let mut total = 0;
    while let Some(chunk) = recv.data().await {
        total += chunk?.len();
    }
    Ok(total)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_256_mib_each_way_on_one_stream_and_bdp_grows_the_windows() {
    const TOTAL: usize = 256 * MIB;
    let addr = server(
        Config::server(),
        |mut request: IncomingRequest| async move {
            // Echo side: read the whole upload, then send the same amount back.
            let received = count_bulk(&mut request.body).await.unwrap();
            request.respond.send_headers(ok(), false).unwrap();
            send_bulk(&mut request.respond, received).await.unwrap();
        },
    )
    .await;
    let client = Client::connect_tcp(addr, Config::client()).await.unwrap();
    let before = client.stats().await.unwrap();
    assert_eq!(before.stream_recv_window_target, 65_535);

    let (mut send, mut recv) = client.send_request(request("/bulk"), false).unwrap();
    send_bulk(&mut send, TOTAL).await.unwrap();
    recv.headers().await.unwrap();
    assert_eq!(count_bulk(&mut recv).await.unwrap(), TOTAL);

    // The client received 256 MiB: its BDP estimator must have grown its windows.
    let after = client.stats().await.unwrap();
    assert!(
        after.stream_recv_window_target > 65_535 && after.connection_recv_window_target > 65_535,
        "windows did not grow: {after:?}"
    );
    assert!(after.connection_recv_window_target <= 16 * MIB as u32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_windows_turn_bdp_off() {
    let addr = server(
        Config::server(),
        |mut request: IncomingRequest| async move {
            request.respond.send_headers(ok(), false).unwrap();
            send_bulk(&mut request.respond, 8 * MIB).await.unwrap();
        },
    )
    .await;
    let mut config = Config::client();
    config.initial_stream_window = Some(1 << 20);
    let client = Client::connect_tcp(addr, config).await.unwrap();
    let (_send, mut recv) = client.send_request(request("/bulk"), true).unwrap();
    recv.headers().await.unwrap();
    assert_eq!(count_bulk(&mut recv).await.unwrap(), 8 * MIB);
    let stats = client.stats().await.unwrap();
    assert_eq!(stats.stream_recv_window_target, 1 << 20);
    assert_eq!(stats.connection_recv_window_target, 65_535);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_max_concurrent_streams_wait_for_a_slot() {
    let mut config = Config::server();
    config.max_concurrent_streams = Some(2);
    let addr = server(config, |mut request: IncomingRequest| async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        count_bulk(&mut request.body).await.unwrap();
        request.respond.send_headers(ok(), true).unwrap();
    })
    .await;
    let client = Client::connect_tcp(addr, Config::client()).await.unwrap();
    // Let the server's SETTINGS arrive so the client knows the limit.
    client.ping(*b"settings").await.unwrap();
    let mut calls = Vec::new();
    for _ in 0..10 {
        let (_send, mut recv) = client.send_request(request("/slow"), true).unwrap();
        calls.push(tokio::spawn(async move { recv.headers().await }));
    }
    let stats = client.stats().await.unwrap();
    assert!(stats.pending_open_streams >= 7, "{stats:?}");
    for call in calls {
        let headers = call.await.unwrap().unwrap();
        assert_eq!(headers, ok());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_request_cancels_the_server_side() {
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let (outcome_tx, outcome_rx) = tokio::sync::oneshot::channel();
    let channels = std::sync::Arc::new(std::sync::Mutex::new(Some((started_tx, outcome_tx))));
    let addr = server(Config::server(), move |request: IncomingRequest| {
        let channels = channels.clone();
        async move {
            // Hold the whole request: dropping its response half would cancel the stream.
            let mut request = request;
            let Some((started, outcome)) = channels.lock().unwrap().take() else {
                return;
            };
            let first = request.body.data().await;
            let _ = started.send(());
            let rest = count_bulk(&mut request.body).await;
            let _ = outcome.send((first, rest));
        }
    })
    .await;
    let client = Client::connect_tcp(addr, Config::client()).await.unwrap();
    let (mut send, recv) = client.send_request(request("/cancel"), false).unwrap();
    send.send_data(Bytes::from_static(b"partial"), false)
        .await
        .unwrap();
    // Cancel only once the server is handling the call.
    tokio::time::timeout(Duration::from_secs(10), started_rx)
        .await
        .unwrap()
        .unwrap();
    drop(send);
    drop(recv);
    let (first, rest) = tokio::time::timeout(Duration::from_secs(10), outcome_rx)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.unwrap().unwrap(), Bytes::from_static(b"partial"));
    match rest {
        Err(Error::Reset {
            code, remote: true, ..
        }) => assert_eq!(code, ErrorCode::CANCEL),
        other => panic!("expected a CANCEL reset, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_signal_fires_when_the_client_cancels_an_idle_handler() {
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let (outcome_tx, outcome_rx) = tokio::sync::oneshot::channel();
    let channels = std::sync::Arc::new(std::sync::Mutex::new(Some((started_tx, outcome_tx))));
    let addr = server(Config::server(), move |request: IncomingRequest| {
        let channels = channels.clone();
        async move {
            let Some((started, outcome)) = channels.lock().unwrap().take() else {
                return;
            };
            // The handler neither reads nor writes: only the signal can tell it to stop.
            let signal = request.respond.stop_signal();
            assert!(signal.failure().is_none());
            let _ = started.send(());
            let error = signal.stopped().await;
            let _ = outcome.send(error);
            drop(request);
        }
    })
    .await;
    let client = Client::connect_tcp(addr, Config::client()).await.unwrap();
    let (send, recv) = client.send_request(request("/idle"), false).unwrap();
    tokio::time::timeout(Duration::from_secs(10), started_rx)
        .await
        .unwrap()
        .unwrap();
    drop(send);
    drop(recv);
    let error = tokio::time::timeout(Duration::from_secs(10), outcome_rx)
        .await
        .unwrap()
        .unwrap();
    match error {
        Error::Reset {
            code, remote: true, ..
        } => assert_eq!(code, ErrorCode::CANCEL),
        other => panic!("expected a CANCEL reset, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_requests_share_one_connection() {
    let addr = server(
        Config::server(),
        |mut request: IncomingRequest| async move {
            let body = count_bulk(&mut request.body).await.unwrap();
            request.respond.send_headers(ok(), false).unwrap();
            request
                .respond
                .send_data(Bytes::from(body.to_string()), false)
                .await
                .unwrap();
            request
                .respond
                .send_trailers(vec![HeaderField::new("grpc-status", "0")])
                .unwrap();
        },
    )
    .await;
    let client = Client::connect_tcp(addr, Config::client()).await.unwrap();
    let mut calls = Vec::new();
    for i in 0..200usize {
        let client = client.clone();
        calls.push(tokio::spawn(async move {
            let (mut send, mut recv) = client.send_request(request("/n"), false).unwrap();
            send.send_data(Bytes::from(vec![1u8; i]), true)
                .await
                .unwrap();
            recv.headers().await.unwrap();
            let mut body = Vec::new();
            while let Some(chunk) = recv.data().await {
                body.extend_from_slice(&chunk.unwrap());
            }
            let trailers = recv.trailers().await.unwrap().unwrap();
            (String::from_utf8(body).unwrap(), trailers)
        }));
    }
    for (i, call) in calls.into_iter().enumerate() {
        let (body, trailers) = call.await.unwrap();
        assert_eq!(body, i.to_string());
        assert_eq!(trailers, vec![HeaderField::new("grpc-status", "0")]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_lets_open_streams_finish_and_closes() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut incoming = Incoming::serve(tcp, Config::server());
        let mut request = incoming.accept().await.unwrap();
        incoming.shutdown();
        release_rx.await.unwrap();
        request.respond.send_headers(ok(), true).unwrap();
        // No more requests arrive; the queue ends when the connection closes.
        assert!(incoming.accept().await.is_none());
    });
    let client = Client::connect_tcp(addr, Config::client()).await.unwrap();
    let (_send, mut recv) = client.send_request(request("/slow"), true).unwrap();
    // Give the GOAWAY time to arrive, then complete the in-flight stream.
    tokio::time::sleep(Duration::from_millis(50)).await;
    release_tx.send(()).unwrap();
    assert_eq!(recv.headers().await.unwrap(), ok());
    let error = tokio::time::timeout(Duration::from_secs(10), client.closed())
        .await
        .unwrap();
    assert!(error.is_none(), "closed with {error:?}");
    assert!(matches!(
        client.send_request(request("/late"), true),
        Err(Error::ConnectionClosed)
    ));
    server.await.unwrap();
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_over_a_unix_socket() {
    let dir = std::env::temp_dir().join(format!("grpc-transport-uds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("h2.sock");
    let _ = std::fs::remove_file(&path);
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut incoming = Incoming::serve(stream, Config::server());
        while let Some(mut request) = incoming.accept().await {
            request.respond.send_headers(ok(), false).unwrap();
            request
                .respond
                .send_data(Bytes::from_static(b"over uds"), true)
                .await
                .unwrap();
        }
    });
    let client = Client::connect_unix(&path, Config::client()).await.unwrap();
    let (_send, mut recv) = client.send_request(request("/uds"), true).unwrap();
    assert_eq!(recv.headers().await.unwrap(), ok());
    assert_eq!(
        recv.data().await.unwrap().unwrap(),
        Bytes::from_static(b"over uds")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn test_data(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name),
    )
    .unwrap()
}

/// A TLS server on 127.0.0.1 with the test certificate; answers "over tls".
async fn tls_server() -> std::net::SocketAddr {
    use grpc_transport::driver::tls;
    let config = tls::server_config(&test_data("server.pem"), &test_data("server.key")).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(stream) = tls::accept(tcp, &acceptor).await else {
                    return;
                };
                let mut incoming = Incoming::serve(stream, Config::server());
                while let Some(mut request) = incoming.accept().await {
                    request.respond.send_headers(ok(), false).unwrap();
                    let _ = request
                        .respond
                        .send_data(Bytes::from_static(b"over tls"), true)
                        .await;
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_over_tls_with_alpn_h2() {
    use grpc_transport::driver::tls;
    let addr = tls_server().await;
    let config = tls::client_config(&test_data("ca.pem")).unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let client = Client::connect_tls(addr, name, config, Config::client())
        .await
        .unwrap();
    let (_send, mut recv) = client.send_request(request("/tls"), true).unwrap();
    assert_eq!(recv.headers().await.unwrap(), ok());
    assert_eq!(
        recv.data().await.unwrap().unwrap(),
        Bytes::from_static(b"over tls")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_server_refuses_a_client_that_does_not_offer_h2() {
    use grpc_transport::driver::tls;
    let addr = tls_server().await;
    let mut config = (*tls::client_config(&test_data("ca.pem")).unwrap()).clone();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    // Either the handshake fails (no common protocol) or the server hangs up at once.
    if let Ok(mut stream) = connector.connect(name, tcp).await {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .unwrap();
        assert!(
            matches!(read, Ok(0) | Err(_)),
            "server kept talking: {read:?}"
        );
    }
}
