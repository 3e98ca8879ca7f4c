//! Message codecs: how a message becomes the octets of a Length-Prefixed-Message and back
//! (`PROTOCOL-HTTP2.md`: "Message → *{binary octet}"; the content type says which codec).

#[cfg(feature = "prost")]
use std::fmt;
#[cfg(feature = "prost")]
use std::marker::PhantomData;

use bytes::{Bytes, BytesMut};

use crate::Status;
use crate::message::MessageEncoder;

/// Serializes messages of one call direction and deserializes the other.
///
/// On a client `Encode` is the request type and `Decode` the response type; on a server the
/// other way round.
pub trait Codec: Send + Sync + 'static {
    /// The type this codec serializes.
    type Encode: Send + 'static;
    /// The type this codec deserializes.
    type Decode: Send + 'static;

    /// Appends the serialized `item` to `buf`.
    fn encode(&self, item: Self::Encode, buf: &mut BytesMut) -> Result<(), Status>;

    /// Deserializes one whole message. Truncated or invalid input gives INTERNAL.
    fn decode(&self, buf: Bytes) -> Result<Self::Decode, Status>;
}

/// The encoding half of a [`Codec`], with the codec type erased: what a handle that only
/// sends messages of type `T` keeps (`Arc<dyn EncodeMessage<T>>`), so that the handle is
/// generic over the message type alone.
///
/// Every [`Codec`] implements it for its `Encode` type.
pub trait EncodeMessage<T>: Send + Sync {
    /// Encodes `item` with this codec through `encoder` (compression, framing, the size
    /// limit; see [`MessageEncoder::encode`]), appending the Length-Prefixed-Message to `out`.
    fn encode_message(
        &self,
        encoder: &mut MessageEncoder,
        item: T,
        out: &mut BytesMut,
    ) -> Result<(), Status>;
}

impl<C: Codec> EncodeMessage<C::Encode> for C {
    fn encode_message(
        &self,
        encoder: &mut MessageEncoder,
        item: C::Encode,
        out: &mut BytesMut,
    ) -> Result<(), Status> {
        encoder.encode(self, item, out)
    }
}

/// The decoding half of a [`Codec`], with the codec type erased: what a handle that only
/// receives messages of type `T` keeps (`Arc<dyn DecodeMessage<T>>`).
///
/// Every [`Codec`] implements it for its `Decode` type.
pub trait DecodeMessage<T>: Send + Sync {
    /// Deserializes one whole message payload (as [`Codec::decode`]).
    fn decode_message(&self, payload: Bytes) -> Result<T, Status>;
}

impl<C: Codec> DecodeMessage<C::Decode> for C {
    fn decode_message(&self, payload: Bytes) -> Result<C::Decode, Status> {
        self.decode(payload)
    }
}

/// Protobuf codec using prost: `E` is encoded, `D` decoded.
#[cfg(feature = "prost")]
pub struct ProstCodec<E, D> {
    // `fn(E) -> D` keeps the codec Send + Sync whatever E and D are.
    _types: PhantomData<fn(E) -> D>,
}

#[cfg(feature = "prost")]
impl<E, D> ProstCodec<E, D> {
    /// The codec (it has no state).
    pub const fn new() -> Self {
        ProstCodec {
            _types: PhantomData,
        }
    }
}

#[cfg(feature = "prost")]
impl<E, D> Default for ProstCodec<E, D> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "prost")]
impl<E, D> Clone for ProstCodec<E, D> {
    fn clone(&self) -> Self {
        *self
    }
}

#[cfg(feature = "prost")]
impl<E, D> Copy for ProstCodec<E, D> {}

#[cfg(feature = "prost")]
impl<E, D> fmt::Debug for ProstCodec<E, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProstCodec")
    }
}

#[cfg(feature = "prost")]
impl<E, D> Codec for ProstCodec<E, D>
where
    E: prost::Message + Send + 'static,
    D: prost::Message + Default + Send + 'static,
{
    type Encode = E;
    type Decode = D;

    fn encode(&self, item: E, buf: &mut BytesMut) -> Result<(), Status> {
        buf.reserve(item.encoded_len());
        item.encode(buf)
            .map_err(|e| Status::internal(format!("failed to encode protobuf message: {e}")))
    }

    fn decode(&self, buf: Bytes) -> Result<D, Status> {
        D::decode(buf)
            .map_err(|e| Status::internal(format!("failed to decode protobuf message: {e}")))
    }
}

/// The identity codec: messages are raw payloads (tests, proxies, benchmarks).
#[derive(Clone, Copy, Debug, Default)]
pub struct BytesCodec;

impl Codec for BytesCodec {
    type Encode = Bytes;
    type Decode = Bytes;

    fn encode(&self, item: Bytes, buf: &mut BytesMut) -> Result<(), Status> {
        buf.extend_from_slice(&item);
        Ok(())
    }

    fn decode(&self, buf: Bytes) -> Result<Bytes, Status> {
        Ok(buf)
    }
}
