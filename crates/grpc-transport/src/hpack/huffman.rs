//! Huffman coding of string literals (RFC 7541 §5.2 and Appendix B).
//!
//! # Decoding: a byte-at-a-time state machine
//!
//! The Appendix B code is a complete binary tree with 257 leaves (the 256 octets and EOS), so it
//! has exactly 256 internal nodes. Between two input bytes the decoder is always at one of
//! those internal nodes (the root when the bits so far ended exactly on a code boundary), so
//! "the internal node we are at" is the whole decoder state and fits in a `u8`.
//!
//! For every `(state, input byte)` pair, `DECODE_TABLE` holds what walking the tree over those
//! 8 bits does: the state we end up at, the symbols completed on the way (at most two, because
//! the shortest code is 5 bits: a partial code can finish in the first bits and at most one
//! more code fits in what is left; the table builder asserts this) and whether EOS was
//! completed (always an error, §5.2). After the last byte, `PADDING` says whether the final
//! state is a valid place to stop: only if the bits since the last symbol are all ones and
//! there are at most 7 of them, i.e. they can be the padding §5.2 allows ("the most significant
//! bits of the code corresponding to the EOS symbol"; "strictly longer than 7 bits MUST be
//! treated as a decoding error"). The root counts as valid (no padding at all).
//!
//! The tables are computed by `const` evaluation at compile time (256 KiB of `u32` entries plus
//! a 64 KiB copy of just the next-state bytes, all read-only data): no runtime initialisation,
//! no lock, no `unsafe`. The hot loop does, per input byte, one load from each table, one
//! two-byte store and a few register operations; the EOS flag is ORed into an accumulator and
//! checked once at the end, so there is no data-dependent branch.
//!
//! Speed is bounded by the chain `state → table load → state`: the next byte cannot be looked
//! up before the previous lookup finished. Two choices keep that load in L1 cache: the state
//! comes from the separate byte-wide `NEXT_STATE` table (the wide entries with the symbols
//! are loaded off the critical path), and states are numbered breadth-first, so the shallow
//! tree nodes a decoder sits at most of the time have small numbers and their rows are
//! adjacent. (Measured on the benchmark machine: about 7 cycles per input byte, 420 to
//! 470 MB/s of Huffman-coded input.)
//!
//! # Encoding
//!
//! Codes are appended to a 64-bit accumulator and written out 32 bits at a time; the last byte
//! is padded with ones (the EOS prefix, §5.2). [`encoded_len`] computes the exact output size
//! first so callers can choose between Huffman and raw octets (§5.2 lets the encoder pick).

use std::fmt;

use bytes::{BufMut, BytesMut};

use super::huffman_code::{CODES, EOS};

/// Why a Huffman-coded string literal was rejected (RFC 7541 §5.2). Each is a decoding error,
/// which HTTP/2 turns into a connection error of type COMPRESSION_ERROR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HuffmanError {
    /// The string contained the EOS symbol ("A Huffman-encoded string literal containing the
    /// EOS symbol MUST be treated as a decoding error").
    EndOfString,
    /// The string ended with more than 7 bits of padding.
    PaddingTooLong,
    /// The string ended inside a code whose bits so far are not all ones, so the trailing bits
    /// are not a prefix of EOS (the padding must be).
    InvalidPadding,
}

impl fmt::Display for HuffmanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HuffmanError::EndOfString => "Huffman string contains the EOS symbol",
            HuffmanError::PaddingTooLong => "Huffman string has more than 7 bits of padding",
            HuffmanError::InvalidPadding => "Huffman string padding is not a prefix of EOS",
        })
    }
}

impl std::error::Error for HuffmanError {}

/// The most octets `encoded_len` Huffman-coded bytes can decode to: every code is at least 5
/// bits long, so `floor(8 * encoded_len / 5)` (saturating instead of overflowing).
#[inline]
pub fn max_decoded_len(encoded_len: usize) -> usize {
    (encoded_len / 5)
        .saturating_mul(8)
        .saturating_add(encoded_len % 5 * 8 / 5)
}

/// The exact number of octets `src` takes once Huffman-coded (including padding).
pub fn encoded_len(src: &[u8]) -> usize {
    let bits: u64 = src
        .iter()
        // A u8 index into a 256-entry table: cannot fail.
        .map(|&byte| u64::from(CODE_LENGTHS[usize::from(byte)]))
        .sum();
    // A slice holds at most isize::MAX bytes and each expands to at most 30 bits / 8 < 4
    // bytes, so on 64-bit targets this conversion cannot fail; elsewhere saturate.
    usize::try_from(bits.div_ceil(8)).unwrap_or(usize::MAX)
}

/// Appends the Huffman coding of `src` to `dst`, padded with ones to a whole octet (§5.2).
pub fn encode(src: &[u8], dst: &mut BytesMut) {
    dst.reserve(src.len());
    // `acc` holds `pending` not-yet-written bits in its low end. After every step
    // pending < 32 and each code adds at most 30 bits, so 62 bits are enough.
    let mut acc: u64 = 0;
    let mut pending: u32 = 0;
    for &byte in src {
        // A u8 index into the 257-entry table: cannot fail.
        let (code, len) = CODES[usize::from(byte)];
        acc = (acc << len) | u64::from(code);
        pending += u32::from(len);
        if pending >= 32 {
            pending -= 32;
            // Truncation keeps exactly the 32 oldest pending bits.
            dst.put_u32((acc >> pending) as u32);
        }
    }
    if pending > 0 {
        let pad = (8 - pending % 8) % 8;
        acc = (acc << pad) | ((1u64 << pad) - 1);
        pending += pad;
        while pending > 0 {
            pending -= 8;
            dst.put_u8((acc >> pending) as u8);
        }
    }
}

/// Appends the decoding of the Huffman-coded `src` to `dst`.
///
/// On error `dst` is left as it was. Allocates at most once (to make room for
/// [`max_decoded_len`] more octets), and not at all if `dst` already has that much spare
/// capacity.
pub fn decode(src: &[u8], dst: &mut BytesMut) -> Result<(), HuffmanError> {
    let start = dst.len();
    // Two octets of slack: the loop stores both symbol slots of every entry unconditionally
    // and only then advances by the number that were real.
    dst.resize(
        start
            .saturating_add(max_decoded_len(src.len()))
            .saturating_add(2),
        0,
    );
    // `start` was the length before growing: cannot fail.
    let (written, result) = decode_into(src, &mut dst[start..]);
    dst.truncate(start + written);
    match result {
        Ok(()) => Ok(()),
        Err(error) => {
            dst.truncate(start);
            Err(error)
        }
    }
}

/// Checks that `src` is a valid Huffman-coded string and returns its decoded length, without
/// writing the decoded octets anywhere. The decoder uses this for strings it must validate but
/// will neither deliver nor store (RFC 9113 §6.5.2 limits).
pub fn decoded_len(src: &[u8]) -> Result<usize, HuffmanError> {
    let mut state = 0usize;
    let mut seen = 0u32;
    let mut count = 0usize;
    for &byte in src {
        // `state` is masked to 8 bits, so the index is below 65,536: cannot fail.
        let entry = DECODE_TABLE[(state << 8) | usize::from(byte)];
        count += ((entry >> EMITTED_SHIFT) & 3) as usize;
        seen |= entry;
        state = (entry & STATE_MASK) as usize;
    }
    finish(state, seen).map(|()| count)
}

/// The decode loop. `out` must have room for `max_decoded_len(src.len()) + 2` octets.
/// Returns the number of octets decoded and whether the string was valid.
fn decode_into(src: &[u8], out: &mut [u8]) -> (usize, Result<(), HuffmanError>) {
    let mut state = 0usize;
    let mut seen = 0u32;
    let mut written = 0usize;
    for &byte in src {
        // `state` is a `u8` from NEXT_STATE, so the index is below 65,536: cannot fail.
        let index = (state << 8) | usize::from(byte);
        let entry = DECODE_TABLE[index]; // same index: cannot fail
        let symbols = ((entry >> SYMBOLS_SHIFT) as u16).to_le_bytes();
        // Invariant: `written` counts symbols decoded so far, at most
        // max_decoded_len(bytes consumed so far), and `out` has two octets more than
        // max_decoded_len(src.len()), so the two-octet window is always in bounds.
        if let Some(slot) = out.get_mut(written..written + 2) {
            slot.copy_from_slice(&symbols);
        }
        written += ((entry >> EMITTED_SHIFT) & 3) as usize;
        seen |= entry;
        state = usize::from(NEXT_STATE[index]); // same index: cannot fail
    }
    (written, finish(state, seen))
}

/// Checks the end-of-string rules: no EOS seen, and the final state is a valid padding state.
fn finish(state: usize, seen: u32) -> Result<(), HuffmanError> {
    if seen & FLAG_EOS != 0 {
        return Err(HuffmanError::EndOfString);
    }
    // `state` is below 256 (an 8-bit table value): cannot fail.
    match PADDING[state] {
        PAD_OK => Ok(()),
        PAD_TOO_LONG => Err(HuffmanError::PaddingTooLong),
        _ => Err(HuffmanError::InvalidPadding),
    }
}

// The tables below are built by const evaluation: an out-of-range index or a failed assert in
// them stops compilation, it cannot happen at run time.
//
// Layout of a DECODE_TABLE entry (u32):
//   bits  0..8   next state (internal node number in breadth-first order, root = 0)
//   bits  8..16  first symbol completed in this byte
//   bits 16..24  second symbol completed in this byte
//   bits 24..26  number of symbols completed (0, 1 or 2)
//   bit  26      EOS was completed (decoding error)
const STATE_MASK: u32 = 0xff;
const SYMBOLS_SHIFT: u32 = 8;
const EMITTED_SHIFT: u32 = 24;
const FLAG_EOS: u32 = 1 << 26;

/// Marks a child slot in the tree as a leaf; the low bits hold the symbol (0..=256).
const LEAF: u16 = 0x8000;

/// The code length in bits of each octet, for [`encoded_len`].
const CODE_LENGTHS: [u8; 256] = {
    let mut lengths = [0u8; 256];
    let mut symbol = 0;
    while symbol < 256 {
        lengths[symbol] = CODES[symbol].1;
        symbol += 1;
    }
    lengths
};

/// The decoding tree: `TREE[node][bit]` is the child reached from internal node `node` by
/// `bit`, either another internal node number or `LEAF | symbol`. Node 0 is the root.
/// Building it fails to compile (index out of bounds in const evaluation) if the code table
/// were not a prefix code with exactly 256 internal nodes.
const TREE: [[u16; 2]; 256] = {
    let mut tree = [[0u16; 2]; 256];
    let mut next_free = 1usize;
    let mut symbol = 0;
    while symbol < CODES.len() {
        let (code, len) = CODES[symbol];
        let mut node = 0usize;
        let mut bit = len as u32;
        // Walk (and create) the internal nodes for every bit but the last.
        while bit > 1 {
            bit -= 1;
            let branch = ((code >> bit) & 1) as usize;
            if tree[node][branch] == 0 {
                tree[node][branch] = next_free as u16;
                next_free += 1;
            }
            let child = tree[node][branch];
            assert!(child & LEAF == 0, "Huffman code is not prefix-free");
            node = child as usize;
        }
        let branch = (code & 1) as usize;
        assert!(tree[node][branch] == 0, "two symbols share a Huffman code");
        tree[node][branch] = LEAF | symbol as u16;
        symbol += 1;
    }
    assert!(
        next_free == 256,
        "a complete code for 257 symbols has 256 internal nodes"
    );
    tree
};

/// [`TREE`] with the internal nodes renumbered breadth-first. The decoder's state between two
/// input bytes is usually a shallow node (codes are mostly 5 to 8 bits), so giving shallow
/// nodes the smallest numbers packs the hot part of the decoding tables into few cache lines.
const BFS_TREE: [[u16; 2]; 256] = {
    // `order[rank]` is the old number of the node visited `rank`-th; `rank[old]` the inverse.
    let mut order = [0usize; 256];
    let mut rank = [0u16; 256];
    let mut head = 0;
    let mut tail = 1;
    while head < tail {
        let node = order[head];
        head += 1;
        let mut branch = 0;
        while branch < 2 {
            let child = TREE[node][branch];
            if child & LEAF == 0 {
                order[tail] = child as usize;
                rank[child as usize] = tail as u16;
                tail += 1;
            }
            branch += 1;
        }
    }
    let mut tree = [[0u16; 2]; 256];
    let mut node = 0;
    while node < 256 {
        let mut branch = 0;
        while branch < 2 {
            let child = TREE[order[node]][branch];
            tree[node][branch] = if child & LEAF != 0 {
                child
            } else {
                rank[child as usize]
            };
            branch += 1;
        }
        node += 1;
    }
    tree
};

const PAD_OK: u8 = 0;
const PAD_TOO_LONG: u8 = 1;
const PAD_NOT_ONES: u8 = 2;

/// For each state: may a string end here? Only the root and the internal nodes reached from
/// it by 1 to 7 one-bits (a prefix of EOS of at most 7 bits) are valid ends (§5.2).
const PADDING: [u8; 256] = {
    let mut padding = [PAD_NOT_ONES; 256];
    let mut node = 0usize;
    let mut depth = 0;
    // Follow the all-ones path (towards EOS) from the root until it reaches the EOS leaf.
    loop {
        padding[node] = if depth <= 7 { PAD_OK } else { PAD_TOO_LONG };
        let child = BFS_TREE[node][1];
        if child & LEAF != 0 {
            break;
        }
        node = child as usize;
        depth += 1;
    }
    padding
};

/// Just the next-state byte of each DECODE_TABLE entry.
static NEXT_STATE: [u8; 65536] = {
    let mut next = [0u8; 65536];
    let mut index = 0;
    while index < 65536 {
        next[index] = (DECODE_TABLE[index] & STATE_MASK) as u8;
        index += 1;
    }
    next
};

/// The state machine: entry `state * 256 + byte`, layout described above.
static DECODE_TABLE: [u32; 65536] = {
    let mut table = [0u32; 65536];
    let mut state = 0usize;
    while state < 256 {
        let mut byte = 0usize;
        while byte < 256 {
            let mut node = state;
            let mut emitted = 0u32;
            let mut symbols = 0u32;
            let mut eos = 0u32;
            let mut bit = 8;
            while bit > 0 {
                bit -= 1;
                let child = BFS_TREE[node][(byte >> bit) & 1];
                if child & LEAF != 0 {
                    let symbol = (child & !LEAF) as usize;
                    if symbol == EOS {
                        eos = FLAG_EOS;
                    } else {
                        // Compile-time proof of the "at most two symbols per byte" claim.
                        assert!(emitted < 2, "more than two symbols in one byte");
                        symbols |= (symbol as u32) << (8 * emitted);
                        emitted += 1;
                    }
                    node = 0;
                } else {
                    node = child as usize;
                }
            }
            table[(state << 8) | byte] =
                node as u32 | (symbols << SYMBOLS_SHIFT) | (emitted << EMITTED_SHIFT) | eos;
            byte += 1;
        }
        state += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    fn encode_to_vec(src: &[u8]) -> Vec<u8> {
        let mut dst = BytesMut::new();
        encode(src, &mut dst);
        dst.to_vec()
    }

    fn decode_to_vec(src: &[u8]) -> Result<Vec<u8>, HuffmanError> {
        let mut dst = BytesMut::new();
        decode(src, &mut dst).map(|()| dst.to_vec())
    }

    #[test]
    fn code_table_is_canonical_and_complete() {
        // Sort symbols by (length, symbol); canonical codes then count up by one, shifting
        // left whenever the length grows.
        let mut order: Vec<usize> = (0..CODES.len()).collect();
        order.sort_by_key(|&symbol| (CODES[symbol].1, symbol));
        let mut expected: u64 = 0;
        let mut previous_len = CODES[order[0]].1;
        for (position, &symbol) in order.iter().enumerate() {
            let (code, len) = CODES[symbol];
            if position > 0 {
                expected = (expected + 1) << (len - previous_len);
            }
            previous_len = len;
            assert_eq!(u64::from(code), expected, "symbol {symbol}");
        }
        // Kraft sum: sum of 2^(30 - len) must be exactly 2^30 for a complete code.
        let kraft: u64 = CODES.iter().map(|&(_, len)| 1u64 << (30 - len)).sum();
        assert_eq!(kraft, 1 << 30);
    }

    #[test]
    fn spot_checks_against_rfc_7541_appendix_b() {
        assert_eq!(CODES[usize::from(b'0')], (0x0, 5));
        assert_eq!(CODES[usize::from(b'a')], (0x3, 5));
        assert_eq!(CODES[usize::from(b' ')], (0x14, 6));
        assert_eq!(CODES[usize::from(b'A')], (0x21, 6));
        assert_eq!(CODES[usize::from(b'&')], (0xf8, 8));
        assert_eq!(CODES[0], (0x1ff8, 13));
        assert_eq!(CODES[255], (0x3ffffee, 26));
        assert_eq!(CODES[EOS], (0x3fff_ffff, 30));
    }

    #[test]
    fn every_symbol_round_trips_alone() {
        for byte in 0..=255u8 {
            let encoded = encode_to_vec(&[byte]);
            assert_eq!(encoded.len(), encoded_len(&[byte]));
            assert_eq!(decode_to_vec(&encoded), Ok(vec![byte]), "byte {byte:#04x}");
        }
    }

    #[test]
    fn every_symbol_round_trips_after_every_other_symbol() {
        // Exercises every symbol starting at many different bit offsets.
        for first in 0..=255u8 {
            let input: Vec<u8> = (0..=255u8).flat_map(|second| [first, second]).collect();
            let encoded = encode_to_vec(&input);
            assert_eq!(encoded.len(), encoded_len(&input));
            assert_eq!(decode_to_vec(&encoded).as_deref(), Ok(&input[..]));
            assert_eq!(decoded_len(&encoded), Ok(input.len()));
        }
    }

    #[test]
    fn empty_string_encodes_to_nothing_and_decodes_to_nothing() {
        assert_eq!(encoded_len(b""), 0);
        assert_eq!(encode_to_vec(b""), Vec::<u8>::new());
        assert_eq!(decode_to_vec(b""), Ok(vec![]));
    }

    #[test]
    fn rfc_example_www_example_com() {
        // RFC 7541 C.4.1
        let encoded = [
            0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff,
        ];
        assert_eq!(encode_to_vec(b"www.example.com"), encoded);
        assert_eq!(decode_to_vec(&encoded), Ok(b"www.example.com".to_vec()));
    }

    #[test]
    fn eos_inside_a_string_is_rejected() {
        // 'a' (00011) followed by the 30 one-bits of EOS and 5 padding ones: 40 bits.
        let bits: u64 = (0b00011 << 35) | (0x3fff_ffff << 5) | 0b11111;
        let encoded = &bits.to_be_bytes()[3..];
        assert_eq!(decode_to_vec(encoded), Err(HuffmanError::EndOfString));
        assert_eq!(decoded_len(encoded), Err(HuffmanError::EndOfString));
    }

    #[test]
    fn eos_alone_padded_to_32_bits_is_rejected() {
        assert_eq!(
            decode_to_vec(&[0xff, 0xff, 0xff, 0xff]),
            Err(HuffmanError::EndOfString)
        );
    }

    #[test]
    fn padding_of_eight_or_more_bits_is_rejected() {
        // 'a' = 00011 then 3 padding ones fills the first byte; a whole byte of ones is then
        // 8 bits of padding.
        assert_eq!(decode_to_vec(&[0x1f]), Ok(b"a".to_vec()));
        assert_eq!(
            decode_to_vec(&[0x1f, 0xff]),
            Err(HuffmanError::PaddingTooLong)
        );
        assert_eq!(decode_to_vec(&[0xff]), Err(HuffmanError::PaddingTooLong));
    }

    #[test]
    fn padding_that_is_not_all_ones_is_rejected() {
        // 'a' then padding 000 instead of 111.
        assert_eq!(decode_to_vec(&[0x18]), Err(HuffmanError::InvalidPadding));
        // 'a' then padding 110.
        assert_eq!(decode_to_vec(&[0x1e]), Err(HuffmanError::InvalidPadding));
        assert_eq!(decoded_len(&[0x1e]), Err(HuffmanError::InvalidPadding));
    }

    #[test]
    fn failed_decode_leaves_destination_unchanged() {
        let mut dst = BytesMut::from(&b"keep"[..]);
        assert!(decode(&[0x18], &mut dst).is_err());
        assert_eq!(&dst[..], b"keep");
    }

    #[test]
    fn decode_appends_after_existing_content() {
        let mut dst = BytesMut::from(&b"x:"[..]);
        decode(&[0x1f], &mut dst).unwrap();
        assert_eq!(&dst[..], b"x:a");
    }

    #[test]
    fn max_decoded_len_bounds_the_shortest_codes() {
        // Eight '0's (5-bit code) fill exactly five bytes.
        let encoded = encode_to_vec(b"00000000");
        assert_eq!(encoded.len(), 5);
        assert_eq!(max_decoded_len(5), 8);
        assert_eq!(max_decoded_len(usize::MAX), usize::MAX);
        assert_eq!(max_decoded_len(7), 11);
    }
}
