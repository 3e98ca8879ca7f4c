//! HPACK header compression (RFC 7541), written for hostile input.
//!
//! # Pieces
//!
//! | file | concept | RFC 7541 |
//! |---|---|---|
//! | `field.rs` | [`HeaderField`]: name, value, never-indexed flag, size | §1.3, §4.1, §6.2.3 |
//! | `integer.rs` | prefix-coded integers, with a length and value cap | §5.1 |
//! | `string.rs` | string literals: locate, then decode lazily | §5.2 |
//! | `huffman.rs`, `huffman_code.rs` | the Huffman code and a byte-at-a-time decoding state machine built at compile time | §5.2, Appendix B |
//! | `static_table.rs` | the 61 static entries and a `match`-based lookup by name | Appendix A |
//! | `table.rs` | the dynamic table: FIFO, size accounting, eviction, absolute entry numbers | §2.3, §4 |
//! | `decoder.rs` | [`Decoder`]: header blocks to [`HeaderField`]s, limits enforced while decoding | §3, §6 |
//! | `encoder.rs` | [`Encoder`]: indexing policy, fast lookups, table size updates | §3, §6, §7.1 |
//!
//! # Design
//!
//! - **One encoder and one decoder per connection**, each owning its dynamic table. HTTP/2
//!   (RFC 9113 §4.3) requires header blocks to be processed in order and completely; the
//!   connection feeds whole blocks (HEADERS/PUSH_PROMISE plus CONTINUATION fragments).
//! - **`Bytes` everywhere.** Decoded raw strings are slices of the received block; Huffman
//!   strings go to a chunked arena; table references are reference-count clones; static table
//!   strings are `Bytes::from_static`. Steady-state decoding does not allocate per field.
//! - **Hostile input is an error, never a panic, never unbounded work or memory.** Lengths
//!   are checked before use, integers are capped, Huffman padding and EOS rules are enforced,
//!   the header list limit is applied before strings are decoded, and the dynamic table cannot
//!   be made to pin received blocks. See [`Decoder`] and [`DecoderError`].
//! - **Errors say what to do**: [`DecoderError::code`] and [`DecoderError::is_connection_error`]
//!   map each error to a GOAWAY (COMPRESSION_ERROR) or, for an oversized header list, a stream
//!   error that leaves the compression context intact.
//!
//! # Example
//!
//! ```
//! use bytes::BytesMut;
//! use grpc_transport::hpack::{Decoder, Encoder, HeaderField};
//!
//! let request = [
//!     HeaderField::new(":method", "POST"),
//!     HeaderField::new(":path", "/helloworld.Greeter/SayHello"),
//!     HeaderField::new("content-type", "application/grpc"),
//!     HeaderField::sensitive("authorization", "Bearer secret"),
//! ];
//!
//! let mut encoder = Encoder::new();
//! let mut block = BytesMut::new();
//! encoder.encode(&request, &mut block);
//!
//! let mut decoder = Decoder::new();
//! let mut decoded = Vec::new();
//! decoder.decode(&block.freeze(), |field| decoded.push(field))?;
//! assert_eq!(decoded, request);
//!
//! // The second time, fields already in the dynamic table are one octet each.
//! let mut block = BytesMut::new();
//! encoder.encode(&request[..3], &mut block);
//! assert_eq!(block.len(), 3);
//! # Ok::<(), grpc_transport::hpack::DecoderError>(())
//! ```

mod decoder;
mod encoder;
mod field;
pub mod huffman;
mod huffman_code;
pub mod integer;
mod static_table;
mod string;
mod table;

pub use decoder::{DEFAULT_HEADER_TABLE_SIZE, DEFAULT_MAX_HEADER_LIST_SIZE, Decoder, DecoderError};
pub use encoder::{DEFAULT_TABLE_SIZE_CAP, Encoder};
pub use field::HeaderField;
pub use huffman::HuffmanError;
