//! String literal representation (RFC 7541 §5.2).
//!
//! ```text
//!   0   1   2   3   4   5   6   7
//! +---+---+---+---+---+---+---+---+
//! | H |    String Length (7+)     |
//! +---+---------------------------+
//! |  String Data (Length octets)  |
//! +-------------------------------+
//! ```
//!
//! Reading a string only locates it: [`read`] checks the length against what is left of the
//! block (before anything is allocated) and returns where the octets are and whether they are
//! Huffman-coded. The decoder then decides whether to slice, decode, only validate, or skip
//! them, depending on header list limits.

use std::ops::Range;

use bytes::{BufMut, BytesMut};

use super::decoder::DecoderError;
use super::{huffman, integer};

/// A string literal located in a header block, not yet decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RawString {
    /// The H bit: the octets are Huffman-coded.
    pub(crate) huffman: bool,
    /// Where the octets are in the block.
    pub(crate) range: Range<usize>,
}

impl RawString {
    /// The most octets this string can decode to.
    #[inline]
    pub(crate) fn max_decoded_len(&self) -> usize {
        if self.huffman {
            huffman::max_decoded_len(self.range.len())
        } else {
            self.range.len()
        }
    }

    /// The exact decoded length. For a Huffman string this runs the decoder without output,
    /// which also validates it.
    #[inline]
    pub(crate) fn exact_decoded_len(&self, block: &[u8]) -> Result<usize, DecoderError> {
        if self.huffman {
            Ok(huffman::decoded_len(self.octets(block))?)
        } else {
            Ok(self.range.len())
        }
    }

    /// The string's octets as they are on the wire (possibly Huffman-coded).
    #[inline]
    pub(crate) fn octets<'b>(&self, block: &'b [u8]) -> &'b [u8] {
        // `read` checked that the range lies inside the block, and the decoder only calls this
        // with the block the string was read from, so the fallback is never taken.
        block.get(self.range.clone()).unwrap_or_default()
    }
}

/// Reads the string literal starting at `*pos` in `block` and advances `*pos` past it.
#[inline]
pub(crate) fn read(block: &[u8], pos: &mut usize) -> Result<RawString, DecoderError> {
    let rest = block.get(*pos..).unwrap_or_default();
    let Some(&first) = rest.first() else {
        return Err(DecoderError::Truncated);
    };
    let (len, used) = integer::decode(rest, 7)?;
    let start = *pos + used;
    // `used` octets were read from `rest`, the block from `*pos` on: cannot underflow.
    let remaining = block.len() - start;
    if len > remaining {
        return Err(DecoderError::StringPastEnd {
            length: len,
            remaining,
        });
    }
    *pos = start + len;
    Ok(RawString {
        huffman: first & 0x80 != 0,
        range: start..start + len,
    })
}

/// Appends `src` as a string literal, Huffman-coded only if `allow_huffman` and that is
/// strictly shorter than the raw octets (on a tie raw wins: it is cheaper to decode).
pub(crate) fn encode(src: &[u8], allow_huffman: bool, dst: &mut BytesMut) {
    if allow_huffman {
        let huffman_len = huffman::encoded_len(src);
        if huffman_len < src.len() {
            integer::encode(huffman_len, 7, 0x80, dst);
            huffman::encode(src, dst);
            return;
        }
    }
    integer::encode(src.len(), 7, 0x00, dst);
    dst.put_slice(src);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(src: &[u8], allow_huffman: bool) -> Vec<u8> {
        let mut dst = BytesMut::new();
        encode(src, allow_huffman, &mut dst);
        dst.to_vec()
    }

    #[test]
    fn raw_string_is_located_after_its_length() {
        let block = [0x03, b'a', b'b', b'c', 0xff];
        let mut pos = 0;
        let raw = read(&block, &mut pos).unwrap();
        assert_eq!(
            raw,
            RawString {
                huffman: false,
                range: 1..4
            }
        );
        assert_eq!(pos, 4);
        assert_eq!(raw.octets(&block), b"abc");
        assert_eq!(raw.exact_decoded_len(&block), Ok(3));
    }

    #[test]
    fn huffman_flag_is_reported_and_length_bounds_are_right() {
        // "www.example.com", RFC 7541 C.4.1.
        let mut block = vec![0x8c];
        block.extend_from_slice(&[
            0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff,
        ]);
        let mut pos = 0;
        let raw = read(&block, &mut pos).unwrap();
        assert!(raw.huffman);
        assert_eq!(pos, 13);
        assert_eq!(raw.max_decoded_len(), 19);
        assert_eq!(raw.exact_decoded_len(&block), Ok(15));
    }

    #[test]
    fn length_past_the_end_of_the_block_is_rejected_before_reading() {
        let block = [0x05, b'a', b'b'];
        let mut pos = 0;
        assert_eq!(
            read(&block, &mut pos),
            Err(DecoderError::StringPastEnd {
                length: 5,
                remaining: 2
            })
        );
    }

    #[test]
    fn empty_input_and_cut_length_are_truncated() {
        let mut pos = 0;
        assert_eq!(read(&[], &mut pos), Err(DecoderError::Truncated));
        assert_eq!(read(&[0x7f], &mut pos), Err(DecoderError::Truncated));
    }

    #[test]
    fn empty_string_is_one_zero_octet() {
        assert_eq!(encoded(b"", true), [0x00]);
        let mut pos = 0;
        let raw = read(&[0x00], &mut pos).unwrap();
        assert_eq!(raw.range, 1..1);
    }

    #[test]
    fn huffman_is_used_only_when_strictly_shorter() {
        // "no-cache" is 8 octets raw, 6 Huffman-coded (RFC 7541 C.4.2).
        assert_eq!(
            encoded(b"no-cache", true),
            [0x86, 0xa8, 0xeb, 0x10, 0x64, 0x9c, 0xbf]
        );
        assert_eq!(encoded(b"no-cache", false)[0], 0x08);
        // Bytes with long codes grow under Huffman: sent raw.
        assert_eq!(encoded(&[0xff, 0xfe], true), [0x02, 0xff, 0xfe]);
        // '&' has an 8-bit code: same length, raw wins the tie.
        assert_eq!(encoded(b"&", true), [0x01, b'&']);
    }
}
