//! Core types of gRPC for Rust, shared by the client and the server: no I/O, no runtime.
//!
//! | module | what | spec |
//! |---|---|---|
//! | [`code`] | [`Code`], and mappings from HTTP status and HTTP/2 error codes | `statuscodes.md`, `http-grpc-status-mapping.md`, `PROTOCOL-HTTP2.md` "Errors" |
//! | [`status`] | [`Status`]: code, message, details, trailers | `PROTOCOL-HTTP2.md` "Responses" |
//! | [`metadata`] | [`Metadata`]: custom headers, ASCII and `-bin` | `PROTOCOL-HTTP2.md` "Custom-Metadata" |
//! | [`extensions`] | [`Extensions`]: typed values riding with a call | — |
//! | [`request`], [`response`] | [`Request`], [`Response`] | — |
//! | [`framing`] | Length-Prefixed-Message decoder | `PROTOCOL-HTTP2.md` "Length-Prefixed-Message" |
//! | [`codec`] | [`Codec`] and its type-erased halves, prost and raw-bytes codecs | — |
//! | [`compression`] | gzip, deflate (zlib), zstd; `grpc-accept-encoding` | `compression.md` |
//! | [`message`] | codec + compression + framing, both directions; the Compressed-Flag per message ([`message::ReceivedCompressed`]) | `compression.md` |
//! | [`timeout`] | `grpc-timeout` values | `PROTOCOL-HTTP2.md` "Requests" |
//! | [`percent`] | `grpc-message` percent-encoding | `PROTOCOL-HTTP2.md` "Responses" |
//! | [`credentials`] | per-call credentials | — |
//! | [`headers`] | well-known header names | `PROTOCOL-HTTP2.md` |
//!
//! # Example
//!
//! A status sent as trailers and read back, and a message framed, split across DATA frames
//! and decoded:
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use grpc_core::codec::BytesCodec;
//! use grpc_core::message::{MessageDecoder, MessageEncoder};
//! use grpc_core::{Code, Status};
//!
//! // Status → header fields → Status.
//! let mut status = Status::not_found("no such user: \u{e9}mile");
//! status.metadata_mut().insert("retry-after", "10").unwrap();
//! let mut fields = Vec::new();
//! status.encode_header_fields(|name, value| fields.push((name, value)));
//! assert_eq!(fields[0], (Bytes::from("grpc-status"), Bytes::from("5")));
//! assert_eq!(fields[1].1, "no such user: %C3%A9mile");
//! let back = Status::from_header_fields(fields.iter().map(|(n, v)| (&n[..], &v[..]))).unwrap();
//! assert_eq!(back.code(), Code::NotFound);
//! assert_eq!(back.message(), status.message());
//! assert_eq!(back.metadata().get("retry-after"), Some("10"));
//!
//! // Message → Length-Prefixed-Message → DATA payloads → message.
//! let gzip = grpc_core::compression::compressor_for("gzip");
//! let mut encoder = MessageEncoder::new(gzip.clone(), usize::MAX);
//! let mut wire = BytesMut::new();
//! encoder.encode(&BytesCodec, Bytes::from_static(b"hello, world"), &mut wire).unwrap();
//! let mut decoder = MessageDecoder::new(gzip, 4 * 1024 * 1024);
//! let wire = wire.freeze();
//! decoder.push(wire.slice(..3));
//! assert_eq!(decoder.next_message().unwrap(), None);
//! decoder.push(wire.slice(3..));
//! assert_eq!(decoder.next_message().unwrap().unwrap(), "hello, world");
//! decoder.finish().unwrap();
//! ```
//!
//! # Features
//!
//! `prost` (the protobuf codec), `gzip`, `deflate`, `zstd`; all on by default. With every
//! feature off the crate still builds, with identity compression and [`codec::BytesCodec`].

use std::pin::Pin;

pub mod code;
pub mod codec;
pub mod compression;
pub mod credentials;
pub mod extensions;
pub mod framing;
pub mod headers;
#[cfg(feature = "prost")]
pub mod health;
pub mod message;
pub mod metadata;
#[cfg(feature = "prost")]
pub mod orca;
pub mod percent;
pub mod request;
pub mod response;
pub mod stats;
pub mod status;
pub mod timeout;

pub use code::Code;
pub use codec::Codec;
pub use compression::{Compressor, Encodings};
pub use extensions::Extensions;
pub use metadata::{InvalidMetadata, Metadata, MetadataValue};
pub use request::{IntoRequest, Request};
pub use response::Response;
pub use status::Status;

/// The `bytes` crate, re-exported so generated and downstream code uses the same version.
pub use bytes;
/// The `prost` crate, re-exported for generated code (feature `prost`).
#[cfg(feature = "prost")]
pub use prost;

/// A boxed, sendable future (used by object-safe async traits such as
/// [`CallCredentials`](credentials::CallCredentials)).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A boxed, sendable error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
