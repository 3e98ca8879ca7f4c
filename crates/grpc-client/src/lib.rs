//! The gRPC client of the grpc-rust stack: a [`Channel`] with name resolution, load
//! balancing, service config, retries and hedging; the four kinds of calls, per-call options,
//! interceptors, call credentials and tower integration.
//!
//! A [`Channel`] follows gRPC-Go's ClientConn. Its target names a resolver
//! (`dns:///host:port`, `unix:path`, `ipv4:a:p,b:p`, your own scheme; bare `host:port` is
//! dns), which produces addresses; a load-balancing policy (pick_first unless the service
//! config names another) makes one subchannel per address — an HTTP/2 connection made by
//! `grpc-transport` over TCP, TLS or a Unix socket, reconnected with gRPC's backoff — and
//! publishes a picker that places every call without a lock. The channel does no I/O until
//! its first call (or [`Channel::connect`]), goes idle after 30 minutes without calls, and
//! is cheap to clone and safe to share: every clone uses the same connections.
//!
//! The resolver and policy APIs are the small crates re-exported as [`grpc_resolver_api`]
//! and [`grpc_balancer_api`]; the built-in resolvers and policies come from `grpc-resolver`
//! and `grpc-balancer` through the default features `resolvers` and `balancers`.
//!
//! | module | concern |
//! |---|---|
//! | `target.rs` | target strings → the resolver's target, TLS or not |
//! | `builder.rs` | [`ChannelBuilder`]: TLS, HTTP/2 settings, limits, compression, interceptors, credentials, resolvers, policies, service config, idleness |
//! | `balancer.rs` | the worker that runs resolver and policy, the atomically swapped picker, picking, idleness |
//! | `subchannel.rs` | one connection per address: Idle / Connecting / Ready / TransientFailure, reconnect |
//! | `backoff.rs` | connection backoff (gRPC's `connection-backoff.md`) |
//! | `service_config.rs` | service config JSON (`service_config.md`, gRFC A6, A24) |
//! | `retry_policy.rs`, `retry.rs`, `stream_retry.rs` | retries and hedging (gRFC A6) |
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
//! # Load balancing and retries
//!
//! ```no_run
//! use grpc_client::Channel;
//!
//! # fn example() -> Result<(), grpc_client::Status> {
//! // Every address of the name, round robin; retry UNAVAILABLE up to 3 attempts.
//! let channel = Channel::builder("dns:///echo.internal:50051")
//!     .default_service_config(r#"{
//!         "loadBalancingConfig": [{"round_robin": {}}],
//!         "methodConfig": [{"name": [{"service": "echo.Echo"}],
//!             "retryPolicy": {"maxAttempts": 3, "initialBackoff": "0.1s", "maxBackoff": "1s",
//!                             "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}}]
//!     }"#)
//!     .connect_lazy()?;
//! # let _ = channel; Ok(()) }
//! ```
//!
//! Calls are retried before their response headers arrive, as the method's `retryPolicy`
//! says: unary and server-streaming calls resend their request, client-streaming and bidi
//! calls replay the request messages sent so far (kept up to
//! [`ChannelBuilder::retry_buffer_size`]). A `hedgingPolicy` sends unary and
//! server-streaming calls to several backends a delay apart and keeps the first answer.
//! Every kind of call is retried once, transparently, when the server never processed its
//! stream (REFUSED_STREAM, or above a GOAWAY's last stream id).
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
mod balancer;
mod builder;
mod call;
mod cancel;
mod channel;
#[cfg(test)]
mod fake_clock_tests;
mod health_check;
mod interceptor;
mod options;
mod response;
mod retry;
mod retry_policy;
mod service;
mod service_config;
mod stats;
mod stream_retry;
mod streaming;
mod subchannel;
mod target;

pub use backoff::ConnectBackoff;
pub use builder::{
    ChannelBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_DECODING_MESSAGE_SIZE, DEFAULT_RETRY_BUFFER_SIZE,
};
pub use channel::Channel;
/// The load-balancing API (policies, pickers, subchannels), re-exported.
pub use grpc_balancer_api;
pub use grpc_balancer_api::ConnectivityState;
/// Codecs ([`ProstCodec`](grpc_core::codec::ProstCodec), [`BytesCodec`](grpc_core::codec::BytesCodec)
/// and the [`Codec`](grpc_core::codec::Codec) trait), re-exported from grpc-core so generated
/// code and users need no direct dependency on it.
pub use grpc_core::codec;
/// Compression: the [`Encodings`](grpc_core::compression::Encodings) set and the compressors,
/// re-exported from grpc-core.
pub use grpc_core::compression;
pub use grpc_core::message::ReceivedCompressed;
pub use grpc_core::{Code, Extensions, IntoRequest, Metadata, Request, Response, Status};
/// The name-resolution API (targets, addresses, resolvers), re-exported.
pub use grpc_resolver_api;
pub use interceptor::{CallContext, Interceptor, InterceptorFn, interceptor_fn};
pub use options::CallOptions;
pub use service::{RawRequest, UnaryService};
pub use streaming::{BidiStreamingCall, ClientStreamingCall, RequestSink, Streaming};
