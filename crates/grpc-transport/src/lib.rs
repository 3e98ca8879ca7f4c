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
//!
//! # Example
//!
//! A request's headers encoded with HPACK, sent as a HEADERS frame, parsed back off a read
//! buffer and decoded:
//!
//! ```
//! use bytes::BytesMut;
//! use grpc_transport::frame::{self, Frame, Headers, StreamId};
//! use grpc_transport::hpack::{Decoder, Encoder, HeaderField};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let request = [
//!     HeaderField::new(":method", "POST"),
//!     HeaderField::new(":scheme", "http"),
//!     HeaderField::new(":path", "/helloworld.Greeter/SayHello"),
//!     HeaderField::new("content-type", "application/grpc"),
//!     HeaderField::new("te", "trailers"),
//! ];
//!
//! // Sender: one HPACK encoder per connection; the block goes out as HEADERS (+ CONTINUATION).
//! let mut encoder = Encoder::new();
//! let mut block = BytesMut::new();
//! encoder.encode(&request, &mut block);
//! let stream = StreamId::new(1).ok_or("stream id out of range")?;
//! let mut wire = BytesMut::new();
//! Headers::new(stream, block.freeze())?.encode_split(frame::DEFAULT_MAX_FRAME_SIZE, &mut wire);
//!
//! // Receiver: frames come off the read buffer; the field block is decoded in order.
//! let mut decoder = Decoder::new();
//! let Some(Frame::Headers(headers)) = frame::parse_frame(&mut wire, frame::DEFAULT_MAX_FRAME_SIZE)?
//! else {
//!     return Err("expected a HEADERS frame".into());
//! };
//! assert!(headers.is_end_headers());
//! let mut fields = Vec::new();
//! decoder.decode(headers.fragment(), |field| fields.push(field))?;
//! assert_eq!(fields, request);
//! # Ok(())
//! # }
//! ```

pub mod connection;
pub mod driver;
mod error;
pub mod frame;
pub mod hpack;

pub use error::ErrorCode;
