//! `ServerConnection`: requests handed to a function from inside the connection task, what
//! dropping the connection task does to open streams, batching of responses into one write,
//! and buffers given back when the connection goes idle. Real sockets on 127.0.0.1.

// Helpers outside #[test] functions panic on broken setup on purpose.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use grpc_transport::connection::Config;
use grpc_transport::driver::{Client, IncomingRequest, ServerConnection, StopSignal};
use grpc_transport::hpack::HeaderField;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

mod support;
use support::{request, response};

fn ok() -> Vec<HeaderField> {
    response("200")
}

/// A socket that counts its completed writes.
struct CountingWrites {
    inner: TcpStream,
    writes: Arc<AtomicUsize>,
}

impl AsyncRead for CountingWrites {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for CountingWrites {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if polled.is_ready() {
            self.writes.fetch_add(1, Ordering::Relaxed);
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Accepts one connection and serves it with `on_request`, the connection task spawned.
/// Returns the server's handle, its write counter and the client.
async fn one_connection<F>(on_request: F) -> (ServerConnection, Arc<AtomicUsize>, Client)
where
    F: FnMut(IncomingRequest) + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = tokio::spawn(Client::connect_tcp(addr, Config::client()));
    let (tcp, _) = listener.accept().await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let writes = Arc::new(AtomicUsize::new(0));
    let io = CountingWrites {
        inner: tcp,
        writes: writes.clone(),
    };
    let (server, task) = ServerConnection::with_handler(io, Config::server(), on_request);
    tokio::spawn(task);
    let client = client.await.unwrap().unwrap();
    (server, writes, client)
}

/// Answers each request with 200, its body echoed, and trailers, from a task of its own.
fn echo(request: IncomingRequest) {
    tokio::spawn(async move {
        let IncomingRequest {
            mut body,
            mut respond,
            ..
        } = request;
        let mut received = Vec::new();
        while let Some(chunk) = body.data().await {
            received.extend_from_slice(&chunk.unwrap());
        }
        respond.send_headers(ok(), false).unwrap();
        respond
            .send_data(Bytes::from(received), false)
            .await
            .unwrap();
        respond
            .send_trailers(vec![HeaderField::new("grpc-status", "0")])
            .unwrap();
    });
}

async fn call(client: &Client, body: &'static [u8]) -> Vec<u8> {
    let (mut send, mut recv) = client.send_request(request("/echo"), false).unwrap();
    send.send_data(Bytes::from_static(body), true)
        .await
        .unwrap();
    let response = recv.headers().await.unwrap();
    assert_eq!(response[0].value, &b"200"[..]);
    let mut received = Vec::new();
    while let Some(chunk) = recv.data().await {
        received.extend_from_slice(&chunk.unwrap());
    }
    received
}

#[tokio::test]
async fn requests_go_to_the_handler_and_are_answered() {
    let (_server, _writes, client) = one_connection(echo).await;
    for round in 0..3 {
        let body: &'static [u8] = [b"one" as &[u8], b"two", b"three"][round];
        assert_eq!(call(&client, body).await, body);
    }
}

#[tokio::test]
async fn dropping_the_connection_task_fails_open_streams() {
    // The handler keeps each request's stop signal and never answers.
    let (signals_tx, mut signals) = mpsc::unbounded_channel::<StopSignal>();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = tokio::spawn(Client::connect_tcp(addr, Config::client()));
    let (tcp, _) = listener.accept().await.unwrap();
    let (_server, task) = ServerConnection::with_handler(tcp, Config::server(), move |request| {
        let _ = signals_tx.send(request.respond.stop_signal());
        // Keep the stream open: leak nothing, just hold both halves in a task that waits.
        tokio::spawn(async move {
            let IncomingRequest { body, respond, .. } = request;
            tokio::time::sleep(Duration::from_secs(3600)).await;
            drop((body, respond));
        });
    });
    let running = tokio::spawn(task);
    let client = client.await.unwrap().unwrap();
    let (_send, _recv) = client.send_request(request("/hang"), false).unwrap();
    let signal = tokio::time::timeout(Duration::from_secs(5), signals.recv())
        .await
        .expect("the handler saw the request")
        .unwrap();
    assert!(signal.failure().is_none(), "the stream is open");
    // Aborting the task drops the connection: the open stream must fail, not hang.
    running.abort();
    let error = tokio::time::timeout(Duration::from_secs(5), signal.stopped())
        .await
        .expect("the stop signal fires when the connection task is dropped");
    assert!(
        signal.failure().is_some(),
        "the stream records why: {error}"
    );
}

// One worker, as a server pinned to one core runs: the multi-thread scheduler's LIFO slot
// would run the connection task right after the first call task that wakes it, one write
// per response, unless the connection task gives way first.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn responses_of_calls_ready_together_share_one_write() {
    const CALLS: usize = 16;
    // Each request is answered from a task of its own, all of them at once: the handler
    // spawns the tasks as the connection decodes the requests of one burst.
    let (_server, writes, client) = one_connection(|request: IncomingRequest| {
        tokio::spawn(async move {
            let IncomingRequest { mut respond, .. } = request;
            respond.send_headers(ok(), false).unwrap();
            respond
                .send_data(Bytes::from_static(b"pong"), false)
                .await
                .unwrap();
            respond
                .send_trailers(vec![HeaderField::new("grpc-status", "0")])
                .unwrap();
        });
    })
    .await;
    // Warm up (SETTINGS and their ACKs), then count the writes of one burst.
    let (_send, mut recv) = client.send_request(request("/ping"), true).unwrap();
    recv.headers().await.unwrap();
    while recv.data().await.is_some() {}
    // A burst may be split by the scheduler when the machine is busy (CI runs many test
    // binaries at once); batching shows in the best of a few bursts, and without it every
    // burst takes about one write per response.
    let mut fewest = usize::MAX;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let before = writes.load(Ordering::Relaxed);
        let mut receivers = Vec::new();
        for _ in 0..CALLS {
            let (_send, recv) = client.send_request(request("/ping"), true).unwrap();
            receivers.push(recv);
        }
        for mut recv in receivers {
            recv.headers().await.unwrap();
            while recv.data().await.is_some() {}
        }
        fewest = fewest.min(writes.load(Ordering::Relaxed) - before);
        if fewest <= 4 {
            break;
        }
    }
    // One write per response would be 16; the requests may arrive in more than one read,
    // so allow a few batches, never one write per call.
    assert!(
        fewest <= 4,
        "{CALLS} responses ready together took {fewest} writes at best"
    );
}

#[tokio::test]
async fn an_idle_connection_holds_no_buffers() {
    let (server, _writes, client) = one_connection(echo).await;
    assert_eq!(call(&client, b"hello").await, b"hello");
    // The exchange is over on both sides: no stream is open, nothing is buffered.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let stats = server.stats().await.unwrap();
    assert_eq!(stats.open_streams, 0);
    assert_eq!(stats.buffer_capacity, 0, "idle buffers are given back");
    // And the connection still works afterwards.
    assert_eq!(call(&client, b"again").await, b"again");
}
