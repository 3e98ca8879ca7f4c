//! Seeing the Compressed-Flag of each received message.
//!
//! The compression cases need it on both sides: the server checks `expect_compressed`
//! against how each request message arrived (interop "CompressedRequest"), and the client
//! checks that the server compressed exactly the responses it asked for
//! (`server_compressed_unary`, `server_compressed_streaming`). grpc-core decodes a message's
//! payload (decompressing it when the flag is set) before the codec sees it, and tells
//! neither handlers nor callers what the flag was. So:
//!
//! - [`MarkDecompressed`] wraps a compressor and, after each successful decompression, appends
//!   [`MARKER`] to the payload: a protobuf field (number 536870911, the largest there is,
//!   length-delimited) that no interop message defines, so any protobuf decoder skips it as
//!   an unknown field.
//! - [`FlagCodec`] is a prost codec that looks for the marker at the end of each payload,
//!   strips it, and returns the message with the flag: [`Received`].
//!
//! Both ends register the wrapped compressors under the usual names ([`marked_encodings`]),
//! so nothing changes on the wire. The marker travels inside the payload itself, so calls
//! running at the same time on the same thread cannot mix up their flags.
//!
//! Limits: an empty message whose flag is set is not decompressed by grpc-core, so it reads
//! as uncompressed; and an uncompressed payload that happened to end with the marker's 29
//! octets would read as compressed (interop payloads are zeros).

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use grpc_core::Status;
use grpc_core::codec::{Codec, ProstCodec};
use grpc_core::compression::{Compressor, DecompressError, Encodings};

/// Appended to every payload [`MarkDecompressed`] decompressed: field 536870911 with wire
/// type 2 (tag varint `fa ff ff ff 0f`), length 23, then `grpc-interop:compressed`.
pub const MARKER: &[u8] = b"\xfa\xff\xff\xff\x0f\x17grpc-interop:compressed";

/// A compressor that marks what it decompressed (see the module docs). Compression is the
/// wrapped compressor's, unchanged.
pub struct MarkDecompressed {
    inner: Arc<dyn Compressor>,
}

impl MarkDecompressed {
    /// Wraps `inner`; the result has the same name.
    pub fn new(inner: Arc<dyn Compressor>) -> MarkDecompressed {
        MarkDecompressed { inner }
    }
}

impl fmt::Debug for MarkDecompressed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MarkDecompressed")
            .field(&self.inner.name())
            .finish()
    }
}

impl Compressor for MarkDecompressed {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn compress(&self, input: &[u8], out: &mut BytesMut) -> io::Result<()> {
        self.inner.compress(input, out)
    }

    fn decompress(
        &self,
        input: &[u8],
        out: &mut BytesMut,
        limit: usize,
    ) -> Result<(), DecompressError> {
        self.inner.decompress(input, out, limit)?;
        out.extend_from_slice(MARKER);
        Ok(())
    }
}

/// Every built-in compressor (gzip, deflate, zstd), each wrapped in [`MarkDecompressed`]: what
/// the interop server accepts and the interop client's channel accepts.
pub fn marked_encodings() -> Encodings {
    Encodings::all()
        .iter()
        .fold(Encodings::none(), |set, compressor| {
            set.with(Arc::new(MarkDecompressed::new(compressor.clone())))
        })
}

/// A received message and whether it came compressed (its Compressed-Flag was set).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Received<T> {
    /// The message.
    pub message: T,
    /// Whether the sender compressed it.
    pub compressed: bool,
}

/// Splits the marker off `payload`: the payload as sent, and whether it had been compressed.
pub fn strip_marker(payload: Bytes) -> (Bytes, bool) {
    if payload.ends_with(MARKER) {
        let len = payload.len() - MARKER.len();
        (payload.slice(..len), true)
    } else {
        (payload, false)
    }
}

/// The protobuf codec, encoding `E` and decoding `D` with its Compressed-Flag as a
/// [`Received<D>`].
pub struct FlagCodec<E, D> {
    // `fn(E) -> D` keeps the codec Send + Sync whatever E and D are.
    _types: PhantomData<fn(E) -> D>,
}

impl<E, D> FlagCodec<E, D> {
    /// The codec (it has no state).
    pub const fn new() -> Self {
        FlagCodec {
            _types: PhantomData,
        }
    }
}

impl<E, D> Default for FlagCodec<E, D> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E, D> Clone for FlagCodec<E, D> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E, D> Copy for FlagCodec<E, D> {}

impl<E, D> fmt::Debug for FlagCodec<E, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FlagCodec")
    }
}

impl<E, D> Codec for FlagCodec<E, D>
where
    E: prost::Message + Send + 'static,
    D: prost::Message + Default + Send + 'static,
{
    type Encode = E;
    type Decode = Received<D>;

    fn encode(&self, item: E, buf: &mut BytesMut) -> Result<(), Status> {
        ProstCodec::<E, D>::new().encode(item, buf)
    }

    fn decode(&self, buf: Bytes) -> Result<Received<D>, Status> {
        let (payload, compressed) = strip_marker(buf);
        let message = ProstCodec::<E, D>::new().decode(payload)?;
        Ok(Received {
            message,
            compressed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::{Payload, SimpleResponse};
    use grpc_core::message::{MessageDecoder, MessageEncoder};

    fn response() -> SimpleResponse {
        SimpleResponse {
            payload: Some(Payload {
                r#type: 0,
                body: Bytes::from(vec![0; 1000]),
            }),
            username: "someone".into(),
            ..SimpleResponse::default()
        }
    }

    /// Encodes `message` with `compressor` (or none) and decodes it through the marked gzip.
    fn round_trip(compressor: Option<&str>) -> Received<SimpleResponse> {
        let encodings = marked_encodings();
        let sender = compressor.map(|name| encodings.get(name.as_bytes()).unwrap().clone());
        let mut wire = BytesMut::new();
        MessageEncoder::new(sender, usize::MAX)
            .encode(
                &ProstCodec::<SimpleResponse, ()>::new(),
                response(),
                &mut wire,
            )
            .unwrap();
        let gzip = encodings.get(b"gzip").unwrap().clone();
        let mut decoder = MessageDecoder::new(Some(gzip), 1 << 20);
        decoder.push(wire.freeze());
        let payload = decoder.next_message().unwrap().unwrap();
        FlagCodec::<(), SimpleResponse>::new()
            .decode(payload)
            .unwrap()
    }

    #[test]
    fn the_flag_survives_decoding() {
        assert_eq!(
            round_trip(Some("gzip")),
            Received {
                message: response(),
                compressed: true
            }
        );
        assert_eq!(
            round_trip(None),
            Received {
                message: response(),
                compressed: false
            }
        );
    }

    #[test]
    fn the_marker_is_an_unknown_field_to_plain_prost() {
        let mut payload = BytesMut::new();
        ProstCodec::<SimpleResponse, ()>::new()
            .encode(response(), &mut payload)
            .unwrap();
        payload.extend_from_slice(MARKER);
        let plain = ProstCodec::<(), SimpleResponse>::new()
            .decode(payload.freeze())
            .unwrap();
        assert_eq!(plain, response());
    }

    #[test]
    fn every_builtin_name_is_marked() {
        let names: Vec<_> = marked_encodings().iter().map(|c| c.name()).collect();
        let builtin: Vec<_> = Encodings::all().iter().map(|c| c.name()).collect();
        assert_eq!(names, builtin);
    }
}
