//! The gRPC server of the grpc-rust stack, on our own HTTP/2 transport (`grpc-transport`).
//!
//! - [`Server::builder`] → [`ServerBuilder`]: message size limits, HTTP/2 and keepalive
//!   options, TLS, compression, [interceptors](Interceptor), [tower layers](ServerBuilder::layer),
//!   services; then serve on TCP, a Unix socket or any stream of connections.
//! - Services register their methods in [`Routes`] ([`GrpcService`]; generated code from
//!   `grpc-codegen` implements it). Calls are routed by `:path`; unknown services and
//!   methods get UNIMPLEMENTED.
//! - The four kinds of RPC: unary, client streaming ([`Streaming`] requests), server
//!   streaming ([`ResponseSink`] responses) and bidirectional streaming; streams have
//!   backpressure both ways.
//! - Deadlines from `grpc-timeout` (the handler is dropped and the client gets
//!   DEADLINE_EXCEEDED), cancellation by the client (RST_STREAM: the handler is dropped),
//!   response headers and trailers, trailers-only responses for immediate errors.
//! - Compression: request messages in any encoding the server
//!   [accepts](ServerBuilder::accept_compressed), responses in the
//!   [`send_compressed`](ServerBuilder::send_compressed) encoding when the client accepts it.
//!   Handlers decide per message: [`ResponseSink::set_compression`] for streamed responses,
//!   [`CompressResponse`] in the extensions of a unary or client-streaming handler's
//!   [`Response`]. They also see how each request message arrived:
//!   [`Streaming::last_message_compressed`], or a [`ReceivedCompressed`] marker in the
//!   extensions of a unary or server-streaming handler's [`Request`].
//! - Limits: 4 MiB per request message by default and an optional limit on response
//!   messages (RESOURCE_EXHAUSTED on every kind of call), a 16 KiB request header limit
//!   (HTTP 431 above it), max concurrent streams, connection idle and age limits.
//! - A `tracing` span per call (`grpc.request`, with `rpc.service`, `rpc.method` and the
//!   final `grpc.status_code`).
//! - [`ServerHandle`]: graceful shutdown with a deadline, or immediate stop.
//!
//! # Example
//!
//! A hand-written service (generated code registers its methods the same way), served on a
//! free port, and one unary call made with the raw HTTP/2 client of `grpc-transport` so the
//! wire format shows (applications use `grpc-client`).
//!
//! ```
//! use std::time::Duration;
//!
//! use bytes::{Bytes, BytesMut};
//! use grpc_core::codec::BytesCodec;
//! use grpc_core::message::{MessageDecoder, MessageEncoder};
//! use grpc_server::{GrpcService, Request, Response, ResponseSink, Routes, Server, Status};
//! use grpc_transport::connection::Config;
//! use grpc_transport::driver::Client;
//! use grpc_transport::hpack::HeaderField;
//!
//! /// `demo.Echo`: messages are raw bytes (`BytesCodec`); a `.proto` service would use
//! /// `ProstCodec<Response, Request>`.
//! struct Echo;
//!
//! impl GrpcService for Echo {
//!     const NAME: &'static str = "demo.Echo";
//!
//!     fn register(self, routes: &mut Routes) {
//!         // Unary: one request, one response, with a response header and trailer.
//!         routes.unary("/demo.Echo/Say", BytesCodec, |request: Request<Bytes>| async move {
//!             if request.get_ref().is_empty() {
//!                 return Err(Status::invalid_argument("say something"));
//!             }
//!             let mut response = Response::new(request.into_inner());
//!             response.metadata_mut().insert("x-echo", "yes").unwrap();
//!             response.trailers_mut().insert("x-done", "1").unwrap();
//!             Ok(response)
//!         });
//!         // Server streaming: the handler sends through a ResponseSink.
//!         routes.server_streaming(
//!             "/demo.Echo/Repeat",
//!             BytesCodec,
//!             |request: Request<Bytes>, sink: &mut ResponseSink<Bytes>| {
//!                 Box::pin(async move {
//!                     for _ in 0..3 {
//!                         sink.send(request.get_ref().clone()).await?;
//!                     }
//!                     Ok(())
//!                 })
//!             },
//!         );
//!         // Bidirectional streaming: echo every message as it comes.
//!         routes.streaming("/demo.Echo/Chat", BytesCodec, |request, sink| {
//!             Box::pin(async move {
//!                 let mut messages = request.into_inner();
//!                 while let Some(message) = messages.message().await? {
//!                     sink.send(message).await?;
//!                 }
//!                 Ok(())
//!             })
//!         });
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = Server::builder()
//!     .max_decoding_message_size(1024 * 1024)
//!     .add_service(Echo)
//!     .bind("127.0.0.1:0".parse()?)
//!     .await?;
//! let addr = server.local_addr();
//! let handle = server.handle();
//! tokio::spawn(server.serve());
//!
//! // One unary call: request headers, a Length-Prefixed-Message with END_STREAM, then
//! // response headers, the response message, and trailers with grpc-status.
//! let client = Client::connect_tcp(addr, Config::client()).await?;
//! let headers = vec![
//!     HeaderField::new(":method", "POST"),
//!     HeaderField::new(":scheme", "http"),
//!     HeaderField::new(":path", "/demo.Echo/Say"),
//!     HeaderField::new(":authority", "localhost"),
//!     HeaderField::new("content-type", "application/grpc"),
//!     HeaderField::new("te", "trailers"),
//! ];
//! let (mut send, mut recv) = client.send_request(headers, false)?;
//! let mut body = BytesMut::new();
//! MessageEncoder::new(None, usize::MAX).encode(&BytesCodec, Bytes::from("hi"), &mut body)?;
//! send.send_data(body.freeze(), true).await?;
//!
//! let response_headers = recv.headers().await?;
//! assert!(response_headers.contains(&HeaderField::new("x-echo", "yes")));
//! let mut decoder = MessageDecoder::new(None, usize::MAX);
//! while let Some(chunk) = recv.data().await {
//!     decoder.push(chunk?);
//! }
//! assert_eq!(decoder.next_message()?, Some(Bytes::from("hi")));
//! let trailers = recv.trailers().await?.unwrap_or_default();
//! let status = Status::from_header_field_bytes(trailers.iter().map(|f| (&f.name, &f.value)));
//! assert!(status.is_some_and(|s| s.is_ok() && s.metadata().get("x-done") == Some("1")));
//!
//! handle.shutdown_graceful(Duration::from_secs(5));
//! handle.wait().await;
//! # Ok(())
//! # }
//! ```
//!
//! # How a call runs
//!
//! Each connection runs in its own task, and each call in a task under it. A call's headers
//! are checked (content type, `:method`, `grpc-timeout`, `grpc-encoding`, metadata), routed,
//! and passed as a [`ServerCall`] through the layers, then the interceptors, then the
//! handler, while racing its deadline and the client's cancellation. The final status is
//! sent last, after the interceptors have seen it. See the module docs of the source for
//! the details.

mod builder;
mod call;
mod dispatch;
mod interceptor;
mod layer;
mod orca;
mod routes;
mod serve;
mod shutdown;
mod sink;
mod streaming;

pub use builder::{
    BoundServer, DEFAULT_MAX_DECODING_MESSAGE_SIZE, DEFAULT_MAX_HEADER_LIST_SIZE,
    DEFAULT_TLS_HANDSHAKE_TIMEOUT, Server, ServerBuilder,
};
pub use call::{RemoteAddr, RpcKind, ServerCall};
/// Codecs ([`ProstCodec`](grpc_core::codec::ProstCodec), [`BytesCodec`](grpc_core::codec::BytesCodec)
/// and the [`Codec`](grpc_core::codec::Codec) trait), re-exported from grpc-core so generated
/// code and users need no direct dependency on it.
pub use grpc_core::codec;
/// Compression: the [`Encodings`](grpc_core::compression::Encodings) set and the compressors,
/// re-exported from grpc-core.
pub use grpc_core::compression;
pub use grpc_core::message::ReceivedCompressed;
pub use grpc_core::{Code, Extensions, Metadata, Request, Response, Status};
pub use interceptor::{Interceptor, InterceptorFn, Next, interceptor_fn};
pub use orca::{CallMetricsRecorder, ORCA_TRAILER, OrcaLoadReport};
pub use routes::{CompressResponse, GrpcService, Router, Routes};
pub use shutdown::ServerHandle;
pub use sink::ResponseSink;
pub use streaming::Streaming;
