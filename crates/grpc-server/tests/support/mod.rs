//! Test support: a minimal gRPC client made of `grpc-transport`'s HTTP/2 client and
//! `grpc-core`'s framing (grpc-client is written in parallel), and a hand-written test
//! service covering the four RPC kinds.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use grpc_core::codec::{BytesCodec, ProstCodec};
use grpc_core::compression::compressor_for;
use grpc_core::message::{MessageDecoder, MessageEncoder};
use grpc_server::{
    BoundServer, Code, GrpcService, RemoteAddr, Request, Response, ResponseSink, Routes,
    ServerHandle, Status, Streaming,
};
use grpc_transport::connection::Config;
use grpc_transport::driver::{Client, RecvStream, SendStream};
use grpc_transport::hpack::HeaderField;
use tokio::sync::mpsc;

/// How long a test waits for something that should happen promptly before failing (a
/// safety net against hangs, never a timing assertion).
pub const PATIENCE: Duration = Duration::from_secs(20);

pub const MIB: usize = 1024 * 1024;

pub fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Serves `bound` in the background.
pub fn spawn(bound: BoundServer) -> (SocketAddr, ServerHandle) {
    let addr = bound.local_addr();
    let handle = bound.handle();
    tokio::spawn(bound.serve());
    (addr, handle)
}

/// Awaits `future` for at most [`PATIENCE`].
pub async fn patiently<F: std::future::Future>(future: F) -> F::Output {
    tokio::time::timeout(PATIENCE, future)
        .await
        .expect("timed out waiting")
}

// ---------------------------------------------------------------------------------------
// The client side.

/// The request headers of a gRPC call to `path`.
pub fn grpc_headers(path: &str) -> Vec<HeaderField> {
    vec![
        HeaderField::new(":method", "POST"),
        HeaderField::new(":scheme", "http"),
        HeaderField::new(":path", Bytes::copy_from_slice(path.as_bytes())),
        HeaderField::new(":authority", "localhost"),
        HeaderField::new("content-type", "application/grpc"),
        HeaderField::new("te", "trailers"),
    ]
}

/// Adds a header field.
pub fn with(mut headers: Vec<HeaderField>, name: &str, value: &str) -> Vec<HeaderField> {
    headers.push(HeaderField::new(
        Bytes::copy_from_slice(name.as_bytes()),
        Bytes::copy_from_slice(value.as_bytes()),
    ));
    headers
}

pub struct TestClient {
    pub client: Client,
}

impl TestClient {
    pub async fn connect(addr: SocketAddr) -> TestClient {
        TestClient {
            client: Client::connect_tcp(addr, Config::client()).await.unwrap(),
        }
    }

    /// Opens a call with these request headers.
    pub fn open(&self, headers: Vec<HeaderField>) -> Call {
        let (send, recv) = self.client.send_request(headers, false).unwrap();
        Call::new(send, recv)
    }

    /// Starts a call to the test service's `Sleep` method, whose handler never answers, and
    /// waits until the handler runs.
    pub async fn sleeping_call(&self, events: &mut mpsc::UnboundedReceiver<&'static str>) -> Call {
        let mut call = self.open(grpc_headers(SLEEP));
        call.send_last(b"z").await;
        expect_event(events, "sleep started").await;
        call
    }

    /// One unary call with the standard headers.
    pub async fn unary(&self, path: &str, payload: &[u8]) -> Reply {
        self.unary_with(grpc_headers(path), payload).await
    }

    /// One unary call with these headers.
    pub async fn unary_with(&self, headers: Vec<HeaderField>, payload: &[u8]) -> Reply {
        let mut call = self.open(headers);
        // A server that rejects the call from its headers may answer and reset the stream
        // (NO_ERROR, RFC 9113 §8.1) before the body goes out: sending can fail, and the reply
        // is what counts.
        let frame = call.frame(payload);
        let _ = call.send.send_data(frame, true).await;
        patiently(call.finish()).await
    }
}

/// One call in progress.
pub struct Call {
    pub send: SendStream,
    pub recv: RecvStream,
    encoder: MessageEncoder,
    decoder: Option<MessageDecoder>,
    headers: Option<Vec<HeaderField>>,
    max_recv: usize,
}

impl Call {
    pub fn new(send: SendStream, recv: RecvStream) -> Call {
        Call {
            send,
            recv,
            encoder: MessageEncoder::new(None, usize::MAX),
            decoder: None,
            headers: None,
            max_recv: 64 * MIB,
        }
    }

    /// Compresses the messages this call sends (the headers must say so too).
    pub fn compress_with(&mut self, name: &str) {
        self.encoder = MessageEncoder::new(compressor_for(name), usize::MAX);
    }

    /// Compresses the following messages or not (with a compressor set by `compress_with`).
    pub fn set_compression(&mut self, enabled: bool) {
        self.encoder.set_compression(enabled);
    }

    pub fn frame(&mut self, payload: &[u8]) -> Bytes {
        let mut out = BytesMut::new();
        self.encoder
            .encode(&BytesCodec, Bytes::copy_from_slice(payload), &mut out)
            .unwrap();
        out.freeze()
    }

    /// Sends one message.
    pub async fn send(&mut self, payload: &[u8]) {
        let frame = self.frame(payload);
        self.send.send_data(frame, false).await.unwrap();
    }

    /// Sends one message and ends the request.
    pub async fn send_last(&mut self, payload: &[u8]) {
        let frame = self.frame(payload);
        self.send.send_data(frame, true).await.unwrap();
    }

    /// Sends raw DATA.
    pub async fn send_raw(&mut self, data: &[u8], end_stream: bool) {
        self.send
            .send_data(Bytes::copy_from_slice(data), end_stream)
            .await
            .unwrap();
    }

    /// Ends the request (empty DATA with END_STREAM).
    pub async fn close(&mut self) {
        self.send.send_data(Bytes::new(), true).await.unwrap();
    }

    /// The response headers (for a Trailers-Only response, the whole response).
    pub async fn response_headers(&mut self) -> Vec<HeaderField> {
        if self.headers.is_none() {
            let headers = match patiently(self.recv.headers()).await {
                Ok(headers) => headers,
                Err(error) => panic!("no response headers: {error:?}"),
            };
            let encoding = find(&headers, "grpc-encoding").and_then(compressor_for);
            self.decoder = Some(MessageDecoder::new(encoding, self.max_recv));
            self.headers = Some(headers);
        }
        self.headers.clone().unwrap()
    }

    /// The next response message, or `None` at the end of the response body.
    pub async fn message(&mut self) -> Option<Bytes> {
        self.response_headers().await;
        loop {
            let decoder = self.decoder.as_mut().unwrap();
            if let Some(message) = decoder.next_message().unwrap() {
                return Some(message);
            }
            match patiently(self.recv.data()).await {
                Some(chunk) => decoder.push(chunk.unwrap()),
                None => return None,
            }
        }
    }

    /// Reads the rest of the response.
    pub async fn finish(mut self) -> Reply {
        let headers = self.response_headers().await;
        let http_status = find(&headers, ":status").unwrap_or_default().to_owned();
        let trailers_only = self.recv.is_end_stream();
        let mut messages = Vec::new();
        let trailers = if trailers_only {
            Vec::new()
        } else {
            while let Some(message) = self.message().await {
                messages.push(message);
            }
            self.recv.trailers().await.unwrap().unwrap_or_default()
        };
        let status_fields = if trailers_only { &headers } else { &trailers };
        let status =
            Status::from_header_field_bytes(status_fields.iter().map(|f| (&f.name, &f.value)))
                .unwrap_or_else(|| Status::new(Code::Unknown, "no grpc-status"));
        Reply {
            headers,
            messages,
            trailers,
            status,
            trailers_only,
            http_status,
        }
    }
}

/// A whole response.
#[derive(Debug)]
pub struct Reply {
    pub headers: Vec<HeaderField>,
    pub messages: Vec<Bytes>,
    pub trailers: Vec<HeaderField>,
    pub status: Status,
    pub trailers_only: bool,
    pub http_status: String,
}

impl Reply {
    pub fn code(&self) -> Code {
        self.status.code()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        find(&self.headers, name)
    }

    pub fn trailer(&self, name: &str) -> Option<&str> {
        find(&self.trailers, name)
    }

    /// The one response message.
    pub fn message(&self) -> &Bytes {
        assert_eq!(self.messages.len(), 1, "expected one message: {self:?}");
        &self.messages[0]
    }

    #[track_caller]
    pub fn assert_ok(&self) {
        assert_eq!(self.code(), Code::Ok, "{:?}", self.status);
    }
}

pub fn find<'a>(fields: &'a [HeaderField], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|f| &f.name[..] == name.as_bytes())
        .and_then(|f| std::str::from_utf8(&f.value).ok())
}

// ---------------------------------------------------------------------------------------
// The test service.

/// A protobuf message for the codec tests.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Note {
    #[prost(string, tag = "1")]
    pub text: String,
    #[prost(uint64, tag = "2")]
    pub number: u64,
}

/// Tells the test what happened inside handlers.
#[derive(Clone)]
pub struct Probes {
    events: mpsc::UnboundedSender<&'static str>,
}

impl Probes {
    pub fn new() -> (Probes, mpsc::UnboundedReceiver<&'static str>) {
        let (events, rx) = mpsc::unbounded_channel();
        (Probes { events }, rx)
    }

    pub fn event(&self, event: &'static str) {
        let _ = self.events.send(event);
    }

    /// Reports `event` when dropped (a handler future being dropped).
    pub fn guard(&self, event: &'static str) -> DropGuard {
        DropGuard {
            probes: self.clone(),
            event,
        }
    }
}

pub struct DropGuard {
    probes: Probes,
    event: &'static str,
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.probes.event(self.event);
    }
}

/// Waits for `expected` among the events.
pub async fn expect_event(rx: &mut mpsc::UnboundedReceiver<&'static str>, expected: &str) {
    patiently(async {
        loop {
            match rx.recv().await {
                Some(event) if event == expected => return,
                Some(_) => {}
                None => panic!("event channel closed before {expected:?}"),
            }
        }
    })
    .await
}

/// A tag interceptors put in extensions.
#[derive(Clone, Debug)]
pub struct Tag(pub String);

/// `test.Echo`: messages are raw bytes.
pub struct Echo {
    pub probes: Probes,
}

pub const UNARY: &str = "/test.Echo/Unary";
pub const SLEEP: &str = "/test.Echo/Sleep";
pub const CLIENT_STREAM: &str = "/test.Echo/ClientStream";
pub const SERVER_STREAM: &str = "/test.Echo/ServerStream";
pub const BIDI: &str = "/test.Echo/Bidi";
pub const PROTO: &str = "/test.Echo/Proto";
pub const LENIENT: &str = "/test.Echo/Lenient";

/// Parses "count,size" from a server-streaming request.
fn parse_pair(payload: &[u8]) -> Result<(usize, usize), Status> {
    let text = std::str::from_utf8(payload).map_err(|_| Status::invalid_argument("utf-8"))?;
    let (a, b) = text
        .split_once(',')
        .ok_or_else(|| Status::invalid_argument("want count,size"))?;
    let parse = |s: &str| {
        s.parse::<usize>()
            .map_err(|_| Status::invalid_argument("not a number"))
    };
    Ok((parse(a)?, parse(b)?))
}

fn pattern(len: usize, seed: usize) -> Bytes {
    Bytes::from(
        (0..len)
            .map(|i| ((i + seed) % 251) as u8)
            .collect::<Vec<_>>(),
    )
}

pub fn expected_pattern(len: usize, seed: usize) -> Bytes {
    pattern(len, seed)
}

impl GrpcService for Echo {
    const NAME: &'static str = "test.Echo";

    fn register(self, routes: &mut Routes) {
        let probes = self.probes;

        // Echoes the payload. Request metadata steers it:
        //   x-fail-code: N        → fail with that code (and a details payload)
        //   x-response-size: N    → answer N bytes instead of the echo
        //   x-*                   → echoed as response headers
        routes.unary(UNARY, BytesCodec, |request: Request<Bytes>| async move {
            if let Some(code) = request.metadata().get("x-fail-code") {
                let code = Code::from_i32(code.parse().unwrap_or(2));
                let mut status = Status::with_details(
                    code,
                    "requested failure: 100% ✓",
                    Bytes::from_static(b"\x00\x01details"),
                );
                status
                    .metadata_mut()
                    .insert("x-status-md", "present")
                    .unwrap();
                return Err(status);
            }
            let mut response = match request.metadata().get("x-response-size") {
                Some(size) => Response::new(pattern(size.parse().unwrap(), 7)),
                None => Response::new(request.get_ref().clone()),
            };
            for (key, value) in request.metadata().iter() {
                if !key.starts_with("x-") {
                    continue;
                }
                match value {
                    grpc_core::MetadataValue::Ascii(v) => {
                        response.metadata_mut().append(key, v).unwrap()
                    }
                    grpc_core::MetadataValue::Binary(v) => response
                        .metadata_mut()
                        .append_bin(key, Bytes::copy_from_slice(v))
                        .unwrap(),
                }
            }
            response.trailers_mut().insert("x-trailer", "done").unwrap();
            response
                .trailers_mut()
                .insert_bin("x-trailer-bin", Bytes::from_static(&[0, 1, 2, 255]))
                .unwrap();
            if let Some(tag) = request.extensions().get::<Tag>() {
                response.metadata_mut().insert("x-tag", &tag.0).unwrap();
            }
            if request.extensions().get::<RemoteAddr>().is_some() {
                response
                    .metadata_mut()
                    .insert("x-has-remote-addr", "1")
                    .unwrap();
            }
            if let Some(timeout) = request.timeout() {
                response
                    .metadata_mut()
                    .insert("x-timeout-ms", &timeout.as_millis().to_string())
                    .unwrap();
            }
            Ok(response)
        });

        // Never answers; reports when its future is dropped.
        let p = probes.clone();
        routes.unary(SLEEP, BytesCodec, move |_request: Request<Bytes>| {
            let guard = p.guard("sleep dropped");
            let p = p.clone();
            async move {
                p.event("sleep started");
                let _guard = guard;
                std::future::pending::<()>().await;
                Ok(Response::new(Bytes::new()))
            }
        });

        // Counts messages and octets; answers "count,total".
        // x-stop-after: N → answers after N messages without reading the rest.
        routes.client_streaming(
            CLIENT_STREAM,
            BytesCodec,
            |request: Request<Streaming<Bytes>>| async move {
                let stop_after = request
                    .metadata()
                    .get("x-stop-after")
                    .map(|n| n.parse::<usize>().unwrap());
                let mut messages = request.into_inner();
                let (mut count, mut total) = (0usize, 0usize);
                while let Some(message) = messages.message().await? {
                    count += 1;
                    total += message.len();
                    if stop_after == Some(count) {
                        break;
                    }
                }
                let mut response = Response::new(Bytes::from(format!("{count},{total}")));
                response
                    .trailers_mut()
                    .insert("x-count", &count.to_string())
                    .unwrap();
                Ok(response)
            },
        );

        // "count,size" → count messages of size octets; header and trailer metadata.
        routes.server_streaming(
            SERVER_STREAM,
            BytesCodec,
            |request: Request<Bytes>, sink: &mut ResponseSink<Bytes>| {
                Box::pin(async move {
                    let (count, size) = parse_pair(request.get_ref())?;
                    sink.metadata_mut().insert("x-stream", "yes").unwrap();
                    if request.metadata().get("x-early-headers").is_some() {
                        sink.send_headers().await?;
                    }
                    for i in 0..count {
                        sink.send(pattern(size, i)).await?;
                    }
                    sink.trailers_mut()
                        .insert("x-sent", &count.to_string())
                        .unwrap();
                    if let Some(code) = request.metadata().get("x-fail-code") {
                        return Err(Status::new(
                            Code::from_i32(code.parse().unwrap()),
                            "failed after sending",
                        ));
                    }
                    Ok(())
                })
            },
        );

        // Echoes every message; x-sleep → never reads or answers, reports its drop.
        let p = probes.clone();
        routes.streaming(
            BIDI,
            BytesCodec,
            move |request: Request<Streaming<Bytes>>, sink| {
                let p = p.clone();
                Box::pin(async move {
                    if request.metadata().get("x-sleep").is_some() {
                        let _guard = p.guard("bidi dropped");
                        p.event("bidi started");
                        std::future::pending::<()>().await;
                    }
                    let mut messages = request.into_inner();
                    while let Some(message) = messages.message().await? {
                        sink.send(message).await?;
                    }
                    Ok(())
                })
            },
        );

        // Protobuf: echoes the note with number + 1.
        routes.unary(
            PROTO,
            ProstCodec::<Note, Note>::default(),
            |request: Request<Note>| async move {
                let mut note = request.into_inner();
                note.number += 1;
                Ok(Response::new(note))
            },
        );

        // Client streaming that ignores read errors and claims success: the server must
        // still report the stream's error.
        routes.client_streaming(
            LENIENT,
            BytesCodec,
            |request: Request<Streaming<Bytes>>| async move {
                let mut messages = request.into_inner();
                let mut count = 0;
                while let Ok(Some(_)) = messages.message().await {
                    count += 1;
                }
                Ok(Response::new(Bytes::from(count.to_string())))
            },
        );
    }
}

/// A server with the test service and default options.
pub async fn start() -> (
    SocketAddr,
    ServerHandle,
    mpsc::UnboundedReceiver<&'static str>,
) {
    start_with(|builder| builder).await
}

/// A server with the test service and the options `configure` sets, serving in the
/// background; with the test service's events.
pub async fn start_with<L>(
    configure: impl FnOnce(grpc_server::ServerBuilder) -> grpc_server::ServerBuilder<L>,
) -> (
    SocketAddr,
    ServerHandle,
    mpsc::UnboundedReceiver<&'static str>,
)
where
    L: tower_layer::Layer<grpc_server::Router>,
    L::Service:
        tower_service::Service<grpc_server::ServerCall, Response = ()> + Clone + Send + 'static,
    <L::Service as tower_service::Service<grpc_server::ServerCall>>::Error:
        Into<grpc_core::BoxError>,
    <L::Service as tower_service::Service<grpc_server::ServerCall>>::Future: Send + 'static,
{
    let (builder, events) = builder();
    let bound = configure(builder).bind(localhost()).await.unwrap();
    let (addr, handle) = spawn(bound);
    (addr, handle, events)
}

/// The test service's probes and a builder with it.
pub fn builder() -> (
    grpc_server::ServerBuilder,
    mpsc::UnboundedReceiver<&'static str>,
) {
    let (probes, events) = Probes::new();
    (
        grpc_server::Server::builder().add_service(Echo { probes }),
        events,
    )
}

/// Shares a value between a test and handlers.
pub type Shared<T> = Arc<std::sync::Mutex<T>>;
