//! The gRPC client of the grpc-rust stack: a [`Channel`] to one server, the four kinds of
//! calls, per-call options, interceptors, call credentials and tower integration.
//!
//! A [`Channel`] holds one HTTP/2 connection (plaintext, TLS or a Unix socket) made by
//! `grpc-transport`, connects lazily or eagerly, and reconnects with gRPC's backoff when the
//! connection is lost. It is cheap to clone and safe to share across tasks; every clone
//! multiplexes its calls over the same connection. (Name resolution and load balancing over
//! several connections come later and slot in behind the same `Channel`.)
//!
//! | module | concern |
//! |---|---|
//! | `target.rs` | target strings → address, `:scheme`, `:authority` |
//! | `builder.rs` | [`ChannelBuilder`]: TLS, HTTP/2 settings, limits, compression, interceptors, credentials |
//! | `connection.rs` | the one connection: Idle / Connecting / Ready / TransientFailure, reconnect |
//! | `backoff.rs` | connection backoff (gRPC's `connection-backoff.md`) |
//! | `channel.rs` | [`Channel`] and the four call kinds |
//! | `call.rs` | starting a call: interceptors, deadline, credentials, request headers |
//! | `response.rs` | reading a response: headers, messages, trailers, status |
//! | `streaming.rs` | [`Streaming`], [`RequestSink`], [`ClientStreamingCall`], [`BidiStreamingCall`] |
//! | `cancel.rs` | cancellation: RST_STREAM CANCEL whenever a call ends early on our side |
//! | `interceptor.rs` | [`Interceptor`], [`CallContext`], [`interceptor_fn`] |
//! | `options.rs` | [`CallOptions`] |
//! | `service.rs` | tower: [`UnaryService`], `Service<RawRequest>` for [`Channel`] |
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use bytes::Bytes;
//! use grpc_client::{CallOptions, Channel, Request};
//! use grpc_core::codec::BytesCodec;
//!
//! # async fn example() -> Result<(), grpc_client::Status> {
//! // One channel per server, shared by every task.
//! let channel = Channel::builder("http://127.0.0.1:50051")
//!     .timeout(Duration::from_secs(5))
//!     .connect()
//!     .await?;
//!
//! // A unary call with metadata and per-call options. Generated clients make these calls
//! // with the protobuf codec; here the message is raw bytes.
//! let mut request = Request::new(Bytes::from_static(b"\x0a\x05world"));
//! request.metadata_mut().insert("x-request-id", "42").map_err(|e| grpc_client::Status::internal(e.to_string()))?;
//! request.extensions_mut().insert(CallOptions::new().wait_for_ready(true).compression("gzip"));
//! let response = channel.unary(request, "/helloworld.Greeter/SayHello", BytesCodec).await?;
//! println!("headers {:?}, trailers {:?}", response.metadata(), response.trailers());
//!
//! // A server-streaming call, read message by message.
//! let mut replies = channel
//!     .server_streaming(Request::new(Bytes::new()), "/helloworld.Greeter/LotsOfReplies", BytesCodec)
//!     .await?
//!     .into_inner();
//! while let Some(reply) = replies.message().await? {
//!     println!("{reply:?}");
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Deadlines and cancellation
//!
//! A call's deadline (from [`CallOptions::timeout`], [`Request::set_timeout`] or the
//! channel's default) is sent as `grpc-timeout` and enforced locally on every step: setup,
//! each read and each write. When it passes the call fails with DEADLINE_EXCEEDED and the
//! stream is reset with CANCEL. Dropping a call future or a call handle before the call is
//! over cancels it the same way.
//!
//! # Compression
//!
//! A call compresses its request messages with [`CallOptions::compression`] or the
//! channel's [`send_compressed`](ChannelBuilder::send_compressed) encoding, and accepts
//! responses in any encoding of [`accept_compressed`](ChannelBuilder::accept_compressed).
//! The Compressed-Flag is per message: [`RequestSink::set_compression`] (also on
//! [`ClientStreamingCall`] and [`BidiStreamingCall`]) sends the following messages of a
//! stream uncompressed or compressed again, and [`Streaming::last_message_compressed`] tells
//! how each response message arrived; for unary and client-streaming calls a
//! [`ReceivedCompressed`] marker in the [`Response`]'s extensions does.
//!
//! # Credentials
//!
//! [`ChannelBuilder::call_credentials`] and [`CallOptions::credentials`] add metadata (such
//! as `authorization: Bearer ...` from [`BearerToken`](grpc_core::credentials::BearerToken))
//! to calls. Credentials that require transport security are refused on a plaintext channel
//! with UNAUTHENTICATED, before anything is sent, unless
//! [`ChannelBuilder::allow_insecure_credentials`] says otherwise.

mod backoff;
mod builder;
mod call;
mod cancel;
mod channel;
mod connection;
mod interceptor;
mod options;
mod response;
mod service;
mod streaming;
mod target;

pub use backoff::ConnectBackoff;
pub use builder::{ChannelBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_DECODING_MESSAGE_SIZE};
pub use channel::Channel;
pub use connection::ConnectivityState;
/// Codecs ([`ProstCodec`](grpc_core::codec::ProstCodec), [`BytesCodec`](grpc_core::codec::BytesCodec)
/// and the [`Codec`](grpc_core::codec::Codec) trait), re-exported from grpc-core so generated
/// code and users need no direct dependency on it.
pub use grpc_core::codec;
/// Compression: the [`Encodings`](grpc_core::compression::Encodings) set and the compressors,
/// re-exported from grpc-core.
pub use grpc_core::compression;
pub use grpc_core::message::ReceivedCompressed;
pub use grpc_core::{Code, Extensions, IntoRequest, Metadata, Request, Response, Status};
pub use interceptor::{CallContext, Interceptor, InterceptorFn, interceptor_fn};
pub use options::CallOptions;
pub use service::{RawRequest, UnaryService};
pub use streaming::{BidiStreamingCall, ClientStreamingCall, RequestSink, Streaming};
