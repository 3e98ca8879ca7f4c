//! gRPC message framing (`PROTOCOL-HTTP2.md`, "Length-Prefixed-Message"):
//!
//! ```text
//! Length-Prefixed-Message → Compressed-Flag Message-Length Message
//! Compressed-Flag → 0 / 1   ; encoded as 1 byte unsigned integer
//! Message-Length  → {length of Message} ; encoded as 4 byte unsigned integer (big endian)
//! Message         → *{binary octet}
//! ```
//!
//! Messages are carried in the DATA frames of a stream with no relation to frame boundaries: a
//! DATA frame may hold many messages, or a slice of one. [`FrameDecoder`] takes the DATA
//! payloads in order and hands out whole messages. A message that lies inside one payload is
//! returned as a slice of it (no copy); a message split across payloads is assembled once in a
//! buffer sized from its prefix.

use std::collections::VecDeque;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::Status;

/// Length of the prefix: one flag octet and a four-octet big-endian length.
pub const HEADER_LEN: usize = 5;

/// One framed message, still compressed if `compressed` is set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawFrame {
    /// The Compressed-Flag: the payload is compressed with the stream's `grpc-encoding`.
    pub compressed: bool,
    /// The message payload (without the prefix).
    pub data: Bytes,
}

/// Writes the five-octet prefix for a message of `len` octets.
pub fn encode_header(compressed: bool, len: u32, out: &mut BytesMut) {
    out.put_u8(u8::from(compressed));
    out.put_u32(len);
}

/// A parsed prefix.
#[derive(Clone, Copy, Debug)]
struct Header {
    compressed: bool,
    /// Payload length, checked against the limit.
    len: usize,
}

/// Incremental decoder of Length-Prefixed-Messages.
///
/// Push DATA payloads in with [`push`](Self::push), take whole messages out with
/// [`next_frame`](Self::next_frame), and call [`finish`](Self::finish) when the stream ends.
/// The size limit is checked as soon as a prefix is complete, before any of the body is
/// buffered. After an error the decoder keeps returning it; the stream should be failed.
#[derive(Debug)]
pub struct FrameDecoder {
    max_message_size: usize,
    /// Payloads not yet looked at (the front one may be partly consumed).
    chunks: VecDeque<Bytes>,
    /// Octets in `chunks`.
    chunk_bytes: usize,
    /// The prefix and body gathered so far of a message that spans payloads.
    partial: BytesMut,
    /// The prefix of the message in `partial`, once all five octets are there.
    header: Option<Header>,
}

impl FrameDecoder {
    /// A decoder refusing messages longer than `max_message_size` octets (as framed, i.e.
    /// before decompression).
    pub fn new(max_message_size: usize) -> Self {
        FrameDecoder {
            max_message_size,
            chunks: VecDeque::new(),
            chunk_bytes: 0,
            partial: BytesMut::new(),
            header: None,
        }
    }

    /// The size limit.
    pub fn max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// Adds the next DATA payload of the stream.
    pub fn push(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
            self.chunk_bytes += chunk.len();
            self.chunks.push_back(chunk);
        }
    }

    /// Octets received but not yet returned as messages.
    pub fn buffered(&self) -> usize {
        self.chunk_bytes + self.partial.len()
    }

    /// Parses and checks a prefix.
    fn parse_header(max_message_size: usize, prefix: &[u8]) -> Result<Header, Status> {
        let (&flag, rest) = prefix
            .split_first()
            .ok_or_else(|| Status::internal("empty message prefix"))?;
        let compressed = match flag {
            0 => false,
            1 => true,
            other => {
                return Err(Status::internal(format!(
                    "invalid Compressed-Flag {other} in message prefix (must be 0 or 1)"
                )));
            }
        };
        let mut len_octets = [0u8; 4];
        if let Some(src) = rest.get(..4) {
            len_octets.copy_from_slice(src);
        }
        let len = u32::from_be_bytes(len_octets);
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len > max_message_size {
            return Err(Status::resource_exhausted(format!(
                "received message larger than max ({len} vs. {max_message_size})"
            )));
        }
        Ok(Header { compressed, len })
    }

    /// The next whole message, or `Ok(None)` when more input is needed.
    ///
    /// Errors: a length over the limit gives RESOURCE_EXHAUSTED ("received message larger than
    /// max (N vs. M)"); a flag other than 0 or 1 gives INTERNAL.
    pub fn next_frame(&mut self) -> Result<Option<RawFrame>, Status> {
        loop {
            if self.partial.is_empty() {
                // Fast path: a whole message in the front payload is sliced out of it.
                let Some(front) = self.chunks.front_mut() else {
                    return Ok(None);
                };
                if front.len() >= HEADER_LEN {
                    let header = Self::parse_header(self.max_message_size, &front[..HEADER_LEN])?;
                    let total = HEADER_LEN + header.len;
                    if front.len() >= total {
                        let data = front.slice(HEADER_LEN..total);
                        front.advance(total);
                        if front.is_empty() {
                            self.chunks.pop_front();
                        }
                        self.chunk_bytes -= total;
                        return Ok(Some(RawFrame {
                            compressed: header.compressed,
                            data,
                        }));
                    }
                    // The message continues in later payloads: gather it once it is all here.
                    self.header = Some(header);
                }
            }

            // Slow path: move octets into `partial` until the prefix, then the body, is whole.
            let needed = match self.header {
                Some(h) => HEADER_LEN + h.len,
                None => HEADER_LEN,
            };
            // Copy nothing until the whole prefix or body has arrived, then copy it once into
            // a buffer of exactly its size. Reserving the declared length up front would let a
            // peer make us allocate the maximum message size per stream with five octets.
            if self.partial.len() + self.chunk_bytes < needed {
                return Ok(None);
            }
            self.partial.reserve(needed - self.partial.len());
            while self.partial.len() < needed {
                let Some(front) = self.chunks.front_mut() else {
                    return Ok(None);
                };
                let n = (needed - self.partial.len()).min(front.len());
                self.partial.extend_from_slice(&front[..n]);
                front.advance(n);
                if front.is_empty() {
                    self.chunks.pop_front();
                }
                self.chunk_bytes -= n;
            }
            match self.header {
                None => {
                    // The prefix is whole; check it before gathering any of the body.
                    let header =
                        Self::parse_header(self.max_message_size, &self.partial[..HEADER_LEN])?;
                    self.header = Some(header);
                }
                Some(header) => {
                    self.header = None;
                    let mut whole = self.partial.split().freeze();
                    whole.advance(HEADER_LEN);
                    return Ok(Some(RawFrame {
                        compressed: header.compressed,
                        data: whole,
                    }));
                }
            }
        }
    }

    /// Checks that the stream ended between messages: INTERNAL if part of a message (prefix or
    /// body) is still buffered.
    pub fn finish(&self) -> Result<(), Status> {
        let buffered = self.buffered();
        if buffered == 0 {
            return Ok(());
        }
        let message = match self.header {
            Some(h) => format!(
                "stream ended with a truncated message: {} of {} octets received",
                buffered.saturating_sub(HEADER_LEN),
                h.len
            ),
            None if buffered < HEADER_LEN => format!(
                "stream ended with a truncated message: {buffered} octets of a 5-octet prefix"
            ),
            None => "stream ended with a truncated message: unread octets after the last message"
                .to_owned(),
        };
        Err(Status::internal(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(flag: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![flag];
        v.extend_from_slice(&u32::try_from(payload.len()).unwrap_or(0).to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn a_declared_length_allocates_nothing_until_the_message_arrives() {
        let mut decoder = FrameDecoder::new(4 << 20);
        // A prefix announcing 4 MiB, split so the slow path runs, and a few body octets.
        decoder.push(Bytes::from_static(&[0, 0, 0x40]));
        decoder.push(Bytes::from_static(&[0, 0, 1, 2, 3]));
        assert!(matches!(decoder.next_frame(), Ok(None)));
        assert!(
            decoder.partial.capacity() < 64,
            "{}",
            decoder.partial.capacity()
        );
        // The rest arrives: one exact-size copy.
        decoder.push(Bytes::from(vec![7u8; (4 << 20) - 3]));
        let frame = decoder.next_frame().ok().flatten().map(|f| f.data.len());
        assert_eq!(frame, Some(4 << 20));
        assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn whole_and_split() {
        let mut d = FrameDecoder::new(100);
        let mut wire = frame(0, b"hello");
        wire.extend(frame(1, b"world!"));
        d.push(Bytes::copy_from_slice(&wire[..7]));
        let f = d.next_frame();
        assert!(matches!(f, Ok(None)));
        d.push(Bytes::copy_from_slice(&wire[7..]));
        let a = d.next_frame().ok().flatten();
        assert_eq!(a.as_ref().map(|f| &f.data[..]), Some(&b"hello"[..]));
        let b = d.next_frame().ok().flatten();
        assert_eq!(b.as_ref().map(|f| f.compressed), Some(true));
        assert_eq!(b.as_ref().map(|f| &f.data[..]), Some(&b"world!"[..]));
        assert!(d.finish().is_ok());
        assert_eq!(d.buffered(), 0);
    }
}
