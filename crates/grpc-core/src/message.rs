//! The message pipeline both halves of a call use: codec, compression and framing together
//! (`PROTOCOL-HTTP2.md`, "Length-Prefixed-Message"; `compression.md`).
//!
//! Sending: message → [`Codec::encode`] → optional compression → 5-octet prefix + payload.
//! Receiving: DATA payloads → [`FrameDecoder`] → optional decompression → payload for
//! [`Codec::decode`].
//!
//! The Compressed-Flag is per message (`compression.md`): a call with an encoding may send
//! some messages uncompressed ([`MessageEncoder::set_compression`]), and a receiver can tell
//! how each one came ([`MessageDecoder::last_message_compressed`], and [`ReceivedCompressed`]
//! where the client and server hand out a single message).

use std::fmt;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};

use crate::Status;
use crate::codec::Codec;
use crate::compression::{Compressor, DecompressError};
use crate::extensions::Extensions;
use crate::framing::{FrameDecoder, HEADER_LEN};

/// Encodes outgoing messages into Length-Prefixed-Messages.
///
/// Keeps one scratch buffer for the uncompressed form when compressing, so in steady state a
/// message costs no allocation beyond what the codec and compressor need themselves.
pub struct MessageEncoder {
    compressor: Option<Arc<dyn Compressor>>,
    /// Compress the next messages (when there is a compressor).
    compress: bool,
    max_message_size: usize,
    scratch: BytesMut,
    /// The serialized size of the message encoded last, before compression.
    last_size: usize,
}

impl MessageEncoder {
    /// An encoder compressing with `compressor` (`None`: identity) and refusing payloads longer
    /// than `max_message_size` octets (`usize::MAX`: unlimited).
    pub fn new(compressor: Option<Arc<dyn Compressor>>, max_message_size: usize) -> Self {
        MessageEncoder {
            compressor,
            compress: true,
            max_message_size,
            scratch: BytesMut::new(),
            last_size: 0,
        }
    }

    /// The serialized size of the message [`encode`](Self::encode)d last, before
    /// compression and without the 5-octet prefix (for statistics).
    pub fn last_message_size(&self) -> usize {
        self.last_size
    }

    /// The compressor, if any (its name goes in `grpc-encoding`, whether or not a given
    /// message is compressed).
    pub fn compressor(&self) -> Option<&Arc<dyn Compressor>> {
        self.compressor.as_ref()
    }

    /// Compresses the following messages (`true`, the default) or sends them uncompressed
    /// with Compressed-Flag 0 (`compression.md`, "Specific Disabling of Compression"). Without
    /// a compressor every message is uncompressed whatever this says.
    pub fn set_compression(&mut self, enabled: bool) {
        self.compress = enabled;
    }

    /// Whether the next message will be compressed: there is a compressor and compression
    /// is not switched off.
    pub fn compresses(&self) -> bool {
        self.compress && self.compressor.is_some()
    }

    /// Encodes `item` with `codec`, compresses it if a compressor is set (and compression is
    /// not [switched off](Self::set_compression)), and appends prefix and payload to `out`. A
    /// payload (as sent, i.e. after compression) over the limit gives RESOURCE_EXHAUSTED
    /// ("trying to send message larger than max (N vs. M)") and leaves `out` as it was. Empty
    /// messages are sent uncompressed (the flag is per message).
    pub fn encode<C: Codec>(
        &mut self,
        codec: &C,
        item: C::Encode,
        out: &mut BytesMut,
    ) -> Result<(), Status> {
        let start = out.len();
        // The prefix is written now and its length filled in once the payload is known.
        out.put_bytes(0, HEADER_LEN);
        let result = self.encode_payload(codec, item, out, start);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    fn encode_payload<C: Codec>(
        &mut self,
        codec: &C,
        item: C::Encode,
        out: &mut BytesMut,
        start: usize,
    ) -> Result<(), Status> {
        let compressor = self.compressor.as_ref().filter(|_| self.compress);
        let compressed = match compressor {
            None => {
                codec.encode(item, out)?;
                self.last_size = out.len() - start - HEADER_LEN;
                false
            }
            Some(compressor) => {
                self.scratch.clear();
                let encoded = codec.encode(item, &mut self.scratch);
                self.last_size = self.scratch.len();
                let result = encoded.and_then(|()| {
                    if self.scratch.is_empty() {
                        return Ok(false);
                    }
                    compressor
                        .compress(&self.scratch, out)
                        .map(|()| true)
                        .map_err(|e| {
                            Status::internal(format!(
                                "failed to compress message with {}: {e}",
                                compressor.name()
                            ))
                        })
                });
                // Keep the scratch buffer small when one message was huge.
                if self.scratch.capacity() > SCRATCH_KEEP {
                    self.scratch = BytesMut::new();
                }
                result?
            }
        };
        let len = out.len() - start - HEADER_LEN;
        let len32 = u32::try_from(len)
            .ok()
            .filter(|_| len <= self.max_message_size);
        let Some(len32) = len32 else {
            return Err(Status::resource_exhausted(format!(
                "trying to send message larger than max ({len} vs. {})",
                self.max_message_size.min(u32::MAX as usize)
            )));
        };
        // `start..start + HEADER_LEN` was written above: the range is in bounds.
        let prefix = &mut out[start..start + HEADER_LEN];
        prefix[0] = u8::from(compressed);
        prefix[1..].copy_from_slice(&len32.to_be_bytes());
        Ok(())
    }
}

/// Scratch capacity kept between messages (larger buffers are dropped after use).
const SCRATCH_KEEP: usize = 1024 * 1024;

impl fmt::Debug for MessageEncoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageEncoder")
            .field("compressor", &self.compressor.as_ref().map(|c| c.name()))
            .field("compress", &self.compress)
            .field("max_message_size", &self.max_message_size)
            .finish()
    }
}

/// Decodes incoming DATA payloads into message payloads, decompressing as needed.
pub struct MessageDecoder {
    frames: FrameDecoder,
    encoding: Option<Arc<dyn Compressor>>,
    max_message_size: usize,
    scratch: BytesMut,
    /// The Compressed-Flag of the message `next_message` returned last.
    last_compressed: bool,
}

impl MessageDecoder {
    /// A decoder for a stream whose `grpc-encoding` named `encoding` (`None`: identity or no
    /// header). `max_message_size` bounds both the framed and the decompressed size.
    pub fn new(encoding: Option<Arc<dyn Compressor>>, max_message_size: usize) -> Self {
        MessageDecoder {
            frames: FrameDecoder::new(max_message_size),
            encoding,
            max_message_size,
            scratch: BytesMut::new(),
            last_compressed: false,
        }
    }

    /// The compressor named by the stream's `grpc-encoding`, if any.
    pub fn encoding(&self) -> Option<&Arc<dyn Compressor>> {
        self.encoding.as_ref()
    }

    /// Whether the message [`next_message`](Self::next_message) returned last arrived
    /// compressed (its Compressed-Flag was 1), including an empty one; `false` before the
    /// first message. Errors leave it as it was.
    pub fn last_message_compressed(&self) -> bool {
        self.last_compressed
    }

    /// Adds the next DATA payload of the stream.
    pub fn push(&mut self, chunk: Bytes) {
        self.frames.push(chunk);
    }

    /// Octets received but not yet returned.
    pub fn buffered(&self) -> usize {
        self.frames.buffered()
    }

    /// The next whole message payload, decompressed; `Ok(None)` when more input is needed.
    ///
    /// Errors: the framing errors of [`FrameDecoder::next_frame`]; a set Compressed-Flag on a
    /// stream without `grpc-encoding` gives INTERNAL (`PROTOCOL-HTTP2.md`: the flag "MUST be 0"
    /// then); a decompressed size over the limit gives RESOURCE_EXHAUSTED; corrupt compressed
    /// data gives INTERNAL. An empty payload with the flag set is an empty message.
    pub fn next_message(&mut self) -> Result<Option<Bytes>, Status> {
        let Some(frame) = self.frames.next_frame()? else {
            return Ok(None);
        };
        if !frame.compressed {
            self.last_compressed = false;
            return Ok(Some(frame.data));
        }
        let Some(compressor) = &self.encoding else {
            return Err(Status::internal(
                "compressed message received but the stream has no grpc-encoding \
                 (Compressed-Flag must be 0)",
            ));
        };
        if frame.data.is_empty() {
            self.last_compressed = true;
            return Ok(Some(Bytes::new()));
        }
        self.scratch.clear();
        match compressor.decompress(&frame.data, &mut self.scratch, self.max_message_size) {
            Ok(()) => {
                self.last_compressed = true;
                Ok(Some(self.scratch.split().freeze()))
            }
            Err(DecompressError::TooLarge) => {
                self.scratch = BytesMut::new();
                Err(Status::resource_exhausted(format!(
                    // Decompression stops at the limit, so the real size is not known.
                    "received message larger than max after decompression (limit {} octets)",
                    self.max_message_size
                )))
            }
            Err(DecompressError::Io(e)) => {
                self.scratch = BytesMut::new();
                Err(Status::internal(format!(
                    "failed to decompress message with {}: {e}",
                    compressor.name()
                )))
            }
        }
    }

    /// Checks that the stream ended between messages (see [`FrameDecoder::finish`]).
    pub fn finish(&self) -> Result<(), Status> {
        self.frames.finish()
    }
}

impl fmt::Debug for MessageDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageDecoder")
            .field("encoding", &self.encoding.as_ref().map(|c| c.name()))
            .field("max_message_size", &self.max_message_size)
            .field("buffered", &self.frames.buffered())
            .finish()
    }
}

/// Whether the one message of a call arrived compressed (its Compressed-Flag was 1): a marker
/// in the [`Extensions`] of what carries that message.
///
/// - grpc-server puts it in the handler's `Request` of unary and server-streaming methods
///   (streaming requests tell per message: `Streaming::last_message_compressed`).
/// - grpc-client puts it in the `Response` of unary and client-streaming calls (streamed
///   responses: `Streaming::last_message_compressed`).
///
/// It is there only when the stream had a `grpc-encoding`: without one a message cannot be
/// compressed (a set flag fails the call), and the marker is left out so that calls without
/// compression pay nothing for it. So read it with [`ReceivedCompressed::of`], which takes a
/// missing marker for "not compressed":
///
/// ```
/// use grpc_core::Request;
/// use grpc_core::message::ReceivedCompressed;
///
/// let mut request = Request::new(());
/// assert!(!ReceivedCompressed::of(request.extensions()));
/// request.extensions_mut().insert(ReceivedCompressed(true));
/// assert!(ReceivedCompressed::of(request.extensions()));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ReceivedCompressed(pub bool);

impl ReceivedCompressed {
    /// Whether `extensions` say the message arrived compressed: the marker's value, `false`
    /// without a marker.
    pub fn of(extensions: &Extensions) -> bool {
        extensions.get::<ReceivedCompressed>().is_some_and(|c| c.0)
    }
}
