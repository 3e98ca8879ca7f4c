//! HTTP/2 for the grpc-rust stack, written from RFC 9113 and RFC 7541.
//!
//! This crate knows HTTP/2, not gRPC. It is layered bottom-up:
//!
//! - [`frame`]: every HTTP/2 frame type, parsed from a buffer without copying payloads and
//!   encoded into a reusable buffer, with every RFC 9113 §4 and §6 validation rule. Each
//!   violation is a typed error that says whether it is a connection or a stream error and
//!   which [`ErrorCode`] it carries.
//! - [`hpack`]: header compression (RFC 7541): integers, strings, Huffman coding, the static
//!   and dynamic tables, and a decoder that enforces a header list size limit while decoding.
//!
//! The connection state machine and the tokio driver build on these.

mod error;
pub mod frame;
pub mod hpack;

pub use error::ErrorCode;
