//! A small hand-written gRPC server for the client tests, built from grpc-transport's
//! `Incoming` and grpc-core's framing. Handlers get the raw stream and decide every frame, so
//! tests can make the server misbehave on purpose.

// Helpers panic on broken test setup on purpose; not every test file uses every helper.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, unreachable_pub)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{BufMut, Bytes, BytesMut};
use grpc_core::Code;
use grpc_core::compression::{Compressor, compressor_for};
use grpc_core::message::MessageDecoder;
use grpc_transport::ErrorCode;
use grpc_transport::connection::Config;
use grpc_transport::driver::{Error, Incoming, IncomingRequest, RecvStream, SendStream};
use grpc_transport::hpack::HeaderField;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::task::AbortHandle;

pub const MIB: usize = 1024 * 1024;

/// The test certificates of grpc-transport (for `localhost` and `127.0.0.1`).
pub fn ca_pem() -> Vec<u8> {
    std::fs::read(data_dir().join("ca.pem")).unwrap()
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../grpc-transport/tests/data")
}

/// One request as the server sees it.
pub struct ServerCall {
    pub headers: Vec<HeaderField>,
    pub body: RecvStream,
    pub respond: SendStream,
    decoder: Option<MessageDecoder>,
}

impl ServerCall {
    fn new(request: IncomingRequest) -> ServerCall {
        ServerCall {
            headers: request.headers,
            body: request.body,
            respond: request.respond,
            decoder: None,
        }
    }

    pub fn path(&self) -> &str {
        self.header(":path").unwrap_or_default()
    }

    /// The first value of a request header, as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|f| &f.name[..] == name.as_bytes())
            .map(|f| std::str::from_utf8(&f.value).unwrap())
    }

    pub fn header_field(&self, name: &str) -> Option<&HeaderField> {
        self.headers.iter().find(|f| &f.name[..] == name.as_bytes())
    }

    /// The next request message (decompressed per `grpc-encoding`), or `None` at the end
    /// of the request stream (or if the client reset it).
    pub async fn message(&mut self) -> Option<Bytes> {
        if self.decoder.is_none() {
            let encoding = self.header("grpc-encoding").and_then(compressor_for);
            self.decoder = Some(MessageDecoder::new(encoding, usize::MAX));
        }
        let decoder = self.decoder.as_mut().unwrap();
        loop {
            if let Some(message) = decoder.next_message().unwrap() {
                return Some(message);
            }
            match self.body.data().await {
                Some(Ok(chunk)) => decoder.push(chunk),
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// Every remaining request message.
    pub async fn messages(&mut self) -> Vec<Bytes> {
        let mut messages = Vec::new();
        while let Some(message) = self.message().await {
            messages.push(message);
        }
        messages
    }

    /// `:status 200`, `content-type: application/grpc` and `extra`.
    pub fn send_headers_with(&mut self, extra: &[(&str, &str)]) {
        let mut fields = ok_headers();
        for (name, value) in extra {
            fields.push(HeaderField::new(name.to_string(), value.to_string()));
        }
        self.respond.send_headers(fields, false).unwrap();
    }

    pub fn send_headers(&mut self) {
        self.send_headers_with(&[]);
    }

    /// Any header block.
    pub fn send_raw_headers(&mut self, fields: Vec<HeaderField>, end_stream: bool) {
        self.respond.send_headers(fields, end_stream).unwrap();
    }

    /// One uncompressed Length-Prefixed-Message.
    pub async fn send_message(&mut self, payload: &[u8]) {
        self.send_raw_data(frame(false, payload), false).await;
    }

    /// One message compressed with `compressor`, flag set.
    pub async fn send_compressed_message(&mut self, compressor: &dyn Compressor, payload: &[u8]) {
        let mut compressed = BytesMut::new();
        compressor.compress(payload, &mut compressed).unwrap();
        self.send_raw_data(frame(true, &compressed), false).await;
    }

    pub async fn send_raw_data(&mut self, data: Bytes, end_stream: bool) {
        let _ = self.respond.send_data(data, end_stream).await;
    }

    /// Trailers with `grpc-status` (and `grpc-message` if not empty) and `extra`.
    pub fn send_status_with(&mut self, code: Code, message: &str, extra: &[(&str, &str)]) {
        let mut fields = status_fields(code, message);
        for (name, value) in extra {
            fields.push(HeaderField::new(name.to_string(), value.to_string()));
        }
        let _ = self.respond.send_trailers(fields);
    }

    pub fn send_status(&mut self, code: Code, message: &str) {
        self.send_status_with(code, message, &[]);
    }

    /// A Trailers-Only response: one HEADERS block with END_STREAM.
    pub fn send_trailers_only(&mut self, code: Code, message: &str) {
        let mut fields = ok_headers();
        fields.extend(status_fields(code, message));
        self.respond.send_headers(fields, true).unwrap();
    }

    /// Headers, one message, OK.
    pub async fn reply(&mut self, payload: &[u8]) {
        self.send_headers();
        self.send_message(payload).await;
        self.send_status(Code::Ok, "");
    }

    /// Waits until the client resets the stream; returns the RST_STREAM code.
    pub async fn reset_code(&self) -> Option<ErrorCode> {
        match self.respond.stop_signal().stopped().await {
            Error::Reset { code, .. } => Some(code),
            _ => None,
        }
    }
}

pub fn ok_headers() -> Vec<HeaderField> {
    vec![
        HeaderField::new(":status", "200"),
        HeaderField::new("content-type", "application/grpc"),
    ]
}

fn status_fields(code: Code, message: &str) -> Vec<HeaderField> {
    let mut fields = vec![HeaderField::new("grpc-status", code.as_i32().to_string())];
    if !message.is_empty() {
        fields.push(HeaderField::new("grpc-message", message.to_string()));
    }
    fields
}

/// A Length-Prefixed-Message.
pub fn frame(compressed: bool, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(5 + payload.len());
    out.put_u8(u8::from(compressed));
    out.put_u32(payload.len() as u32);
    out.put_slice(payload);
    out.freeze()
}

/// A running test server.
pub struct TestServer {
    pub addr: SocketAddr,
    tasks: Arc<Mutex<Vec<AbortHandle>>>,
    /// Requests accepted so far.
    pub requests: Arc<AtomicUsize>,
    /// Connections accepted so far.
    pub connections: Arc<AtomicUsize>,
    /// Notified to send GOAWAY (graceful shutdown) on every connection.
    go_away: Arc<tokio::sync::Notify>,
}

/// What every connection of a server shares.
#[derive(Clone)]
struct ServerShared {
    tasks: Arc<Mutex<Vec<AbortHandle>>>,
    requests: Arc<AtomicUsize>,
    connections: Arc<AtomicUsize>,
    go_away: Arc<tokio::sync::Notify>,
}

impl ServerShared {
    fn new() -> ServerShared {
        ServerShared {
            tasks: Arc::new(Mutex::new(Vec::new())),
            requests: Arc::new(AtomicUsize::new(0)),
            connections: Arc::new(AtomicUsize::new(0)),
            go_away: Arc::new(tokio::sync::Notify::new()),
        }
    }

    fn server(self, addr: SocketAddr, accept: AbortHandle) -> TestServer {
        self.tasks.lock().unwrap().push(accept);
        TestServer {
            addr,
            tasks: self.tasks,
            requests: self.requests,
            connections: self.connections,
            go_away: self.go_away,
        }
    }
}

impl TestServer {
    /// Serves plaintext HTTP/2 on 127.0.0.1 (a free port), one task per request.
    pub async fn start<H, F>(handler: H) -> TestServer
    where
        H: Fn(ServerCall) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        TestServer::serve_tcp(listener, None, handler)
    }

    /// Serves TLS (the grpc-transport test certificate) on 127.0.0.1.
    pub async fn start_tls<H, F>(handler: H) -> TestServer
    where
        H: Fn(ServerCall) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let config = grpc_transport::driver::tls::server_config(
            &std::fs::read(data_dir().join("server.pem")).unwrap(),
            &std::fs::read(data_dir().join("server.key")).unwrap(),
        )
        .unwrap();
        TestServer::serve_tcp(
            listener,
            Some(tokio_rustls::TlsAcceptor::from(config)),
            handler,
        )
    }

    /// Serves plaintext on an already bound listener (to restart on a known port).
    pub fn serve_tcp<H, F>(
        listener: TcpListener,
        tls: Option<tokio_rustls::TlsAcceptor>,
        handler: H,
    ) -> TestServer
    where
        H: Fn(ServerCall) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let addr = listener.local_addr().unwrap();
        let shared = ServerShared::new();
        let accept = {
            let shared = shared.clone();
            tokio::spawn(async move {
                while let Ok((tcp, _)) = listener.accept().await {
                    tcp.set_nodelay(true).unwrap();
                    match &tls {
                        None => serve_connection(tcp, &shared, handler.clone()),
                        Some(acceptor) => {
                            let Ok(stream) =
                                grpc_transport::driver::tls::accept(tcp, acceptor).await
                            else {
                                continue;
                            };
                            serve_connection(stream, &shared, handler.clone());
                        }
                    }
                }
            })
        };
        shared.server(addr, accept.abort_handle())
    }

    /// Serves plaintext on a Unix socket at `path`.
    pub fn start_unix<H, F>(path: &Path, handler: H) -> TestServer
    where
        H: Fn(ServerCall) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let listener = tokio::net::UnixListener::bind(path).unwrap();
        let shared = ServerShared::new();
        let accept = {
            let shared = shared.clone();
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    serve_connection(stream, &shared, handler.clone());
                }
            })
        };
        shared.server("127.0.0.1:0".parse().unwrap(), accept.abort_handle())
    }

    pub fn target(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops listening and kills every connection (their sockets close).
    pub fn stop(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    pub fn request_count(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    pub fn connection_count(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Starts a graceful shutdown (GOAWAY) of every open connection; the listener keeps
    /// accepting new ones.
    pub fn go_away(&self) {
        self.go_away.notify_waiters();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve_connection<T, H, F>(io: T, shared: &ServerShared, handler: H)
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(ServerCall) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    shared.connections.fetch_add(1, Ordering::SeqCst);
    let (mut incoming, task) = Incoming::with_task(io, Config::server());
    let connection = tokio::spawn(async move {
        let _ = task.await;
    });
    let dispatch = {
        let shared = shared.clone();
        tokio::spawn(async move {
            let go_away = shared.go_away.clone();
            loop {
                let request = tokio::select! {
                    request = incoming.accept() => request,
                    () = go_away.notified() => {
                        incoming.shutdown();
                        continue;
                    }
                };
                let Some(request) = request else { break };
                shared.requests.fetch_add(1, Ordering::SeqCst);
                let handle = tokio::spawn(handler.clone()(ServerCall::new(request)));
                shared.tasks.lock().unwrap().push(handle.abort_handle());
            }
        })
    };
    let mut tasks = shared.tasks.lock().unwrap();
    tasks.push(connection.abort_handle());
    tasks.push(dispatch.abort_handle());
}

/// A channel to `server`, connected.
pub async fn channel(server: &TestServer) -> grpc_client::Channel {
    grpc_client::Channel::builder(&server.target())
        .connect()
        .await
        .unwrap()
}

/// A fresh path for a Unix socket in the temp directory.
pub fn unix_socket_path() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let path =
        std::env::temp_dir().join(format!("grpc-client-test-{}-{n}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// An echo handler: every request message comes back, then OK. Request metadata
/// `x-echo-*` is echoed in the response headers.
pub async fn echo(mut call: ServerCall) {
    let echoed: Vec<(String, String)> = call
        .headers
        .iter()
        .filter(|f| f.name.starts_with(b"x-echo"))
        .map(|f| {
            (
                String::from_utf8(f.name.to_vec()).unwrap(),
                String::from_utf8(f.value.to_vec()).unwrap(),
            )
        })
        .collect();
    let extra: Vec<(&str, &str)> = echoed
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    call.send_headers_with(&extra);
    while let Some(message) = call.message().await {
        call.send_message(&message).await;
    }
    call.send_status(Code::Ok, "");
}
