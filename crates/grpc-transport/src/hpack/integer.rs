//! Integer representation (RFC 7541 §5.1).
//!
//! An integer starts in the low `N` bits (the prefix, 1 ≤ N ≤ 8) of an octet whose high bits
//! belong to the representation around it. Values below `2^N - 1` fit in the prefix; larger
//! values set the prefix to all ones and continue in 7-bit groups, least significant first,
//! with the high bit of each continuation octet set while more follow.
//!
//! §5.1 lets a decoder reject "integer encodings that exceed implementation limits — in value
//! or octet length". Every HPACK integer is an index, a string length or a table size, so we
//! cap values at [`MAX_VALUE`] (`u32::MAX`) and allow at most [`MAX_CONTINUATION_OCTETS`]
//! continuation octets (enough for any value up to the cap, even after a 1-bit prefix). A
//! "huge integer" made of endless continuation octets therefore fails after 6 octets, however
//! long the input.

use bytes::{BufMut, BytesMut};

/// The largest value the decoder accepts.
pub const MAX_VALUE: u64 = u32::MAX as u64;

/// The most continuation octets the decoder reads before giving up: 5 × 7 = 35 bits, more than
/// [`MAX_VALUE`] needs.
pub const MAX_CONTINUATION_OCTETS: usize = 5;

/// Why an integer could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntegerError {
    /// The input ended before the integer did.
    Truncated,
    /// The value exceeds [`MAX_VALUE`], or it used more than [`MAX_CONTINUATION_OCTETS`]
    /// continuation octets.
    Overflow,
}

/// The all-ones prefix value for a prefix of `prefix_bits` bits, clamped to 1..=8.
#[inline]
fn prefix_mask(prefix_bits: u8) -> u8 {
    // 0xff >> (8 - n) for n in 1..=8.
    0xff >> (8 - prefix_bits.clamp(1, 8))
}

/// Appends `value` with an `prefix_bits`-bit prefix. The bits of `flags` above the prefix are
/// written into the first octet (they select the representation, e.g. `0x80` for an indexed
/// field). `prefix_bits` outside 1..=8 is clamped.
#[inline]
pub fn encode(value: usize, prefix_bits: u8, flags: u8, dst: &mut BytesMut) {
    let mask = prefix_mask(prefix_bits);
    let flags = flags & !mask;
    if value < usize::from(mask) {
        // value < mask ≤ 255: the cast cannot truncate.
        dst.put_u8(flags | value as u8);
        return;
    }
    dst.put_u8(flags | mask);
    let mut rest = value - usize::from(mask);
    while rest >= 0x80 {
        dst.put_u8(0x80 | (rest & 0x7f) as u8);
        rest >>= 7;
    }
    // rest < 0x80: the cast cannot truncate.
    dst.put_u8(rest as u8);
}

/// Decodes an integer with a `prefix_bits`-bit prefix from the start of `src` (the first
/// octet's bits above the prefix are ignored). Returns the value and the number of octets it
/// took. `prefix_bits` outside 1..=8 is clamped.
#[inline]
pub fn decode(src: &[u8], prefix_bits: u8) -> Result<(usize, usize), IntegerError> {
    let mask = prefix_mask(prefix_bits);
    let Some((&first, rest)) = src.split_first() else {
        return Err(IntegerError::Truncated);
    };
    let prefix = first & mask;
    if prefix < mask {
        return Ok((usize::from(prefix), 1));
    }
    let mut value = u64::from(mask);
    for (position, &octet) in rest.iter().enumerate() {
        if position >= MAX_CONTINUATION_OCTETS {
            return Err(IntegerError::Overflow);
        }
        // position < 5, so the shift is at most 28 and the sum stays below 2^36.
        value += u64::from(octet & 0x7f) << (7 * position);
        if value > MAX_VALUE {
            return Err(IntegerError::Overflow);
        }
        if octet & 0x80 == 0 {
            let value = usize::try_from(value).map_err(|_| IntegerError::Overflow)?;
            return Ok((value, position + 2));
        }
    }
    if rest.len() >= MAX_CONTINUATION_OCTETS {
        return Err(IntegerError::Overflow);
    }
    Err(IntegerError::Truncated)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode_to_vec(value: usize, prefix_bits: u8, flags: u8) -> Vec<u8> {
        let mut dst = BytesMut::new();
        encode(value, prefix_bits, flags, &mut dst);
        dst.to_vec()
    }

    #[test]
    fn rfc_c_1_1_ten_with_a_5_bit_prefix_is_one_octet() {
        assert_eq!(encode_to_vec(10, 5, 0), [0b0000_1010]);
        assert_eq!(decode(&[0b0000_1010], 5), Ok((10, 1)));
    }

    #[test]
    fn rfc_c_1_2_1337_with_a_5_bit_prefix_takes_three_octets() {
        assert_eq!(
            encode_to_vec(1337, 5, 0),
            [0b0001_1111, 0b1001_1010, 0b0000_1010]
        );
        assert_eq!(decode(&[0x1f, 0x9a, 0x0a], 5), Ok((1337, 3)));
    }

    #[test]
    fn rfc_c_1_3_42_at_an_octet_boundary_uses_the_whole_octet() {
        assert_eq!(encode_to_vec(42, 8, 0), [42]);
        assert_eq!(decode(&[42], 8), Ok((42, 1)));
    }

    #[test]
    fn every_prefix_size_round_trips_boundary_values() {
        for prefix_bits in 1..=8u8 {
            let mask = (1usize << prefix_bits) - 1;
            let values = [
                0,
                1,
                mask - 1,
                mask,
                mask + 1,
                mask + 127,
                mask + 128,
                16_383,
                16_384,
                1 << 20,
                u32::MAX as usize - 1,
                u32::MAX as usize,
            ];
            for value in values {
                let encoded = encode_to_vec(value, prefix_bits, 0);
                assert_eq!(
                    decode(&encoded, prefix_bits),
                    Ok((value, encoded.len())),
                    "value {value} prefix {prefix_bits}"
                );
            }
        }
    }

    #[test]
    fn flags_above_the_prefix_are_kept_and_ignored_by_the_decoder() {
        let encoded = encode_to_vec(3, 6, 0b0100_0000);
        assert_eq!(encoded, [0b0100_0011]);
        assert_eq!(decode(&encoded, 6), Ok((3, 1)));
        // Flags that overlap the prefix are masked off instead of corrupting the value.
        assert_eq!(encode_to_vec(3, 6, 0xff), [0b1100_0011]);
    }

    #[test]
    fn trailing_octets_after_the_integer_are_not_consumed() {
        assert_eq!(decode(&[0x1f, 0x9a, 0x0a, 0xff, 0xff], 5), Ok((1337, 3)));
    }

    #[test]
    fn empty_input_is_truncated() {
        assert_eq!(decode(&[], 5), Err(IntegerError::Truncated));
    }

    #[test]
    fn missing_continuation_octet_is_truncated() {
        assert_eq!(decode(&[0x1f], 5), Err(IntegerError::Truncated));
        assert_eq!(decode(&[0x1f, 0x9a], 5), Err(IntegerError::Truncated));
    }

    #[test]
    fn values_above_u32_max_overflow() {
        let encoded = encode_to_vec(u32::MAX as usize + 1, 5, 0);
        assert_eq!(decode(&encoded, 5), Err(IntegerError::Overflow));
    }

    #[test]
    fn more_than_five_continuation_octets_overflow_even_if_zero_padded() {
        // 31 + 0 with five redundant continuation octets and a final zero: value fits, but the
        // encoding is longer than the limit.
        let encoded = [0x1f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00];
        assert_eq!(decode(&encoded, 5), Err(IntegerError::Overflow));
    }

    #[test]
    fn endless_continuation_octets_fail_fast_as_overflow() {
        let mut encoded = vec![0x7f];
        encoded.extend(std::iter::repeat_n(0x80, 1_000_000));
        assert_eq!(decode(&encoded, 7), Err(IntegerError::Overflow));
        // Six continuation octets with the input ending there: over the limit, not truncated.
        assert_eq!(
            decode(&[0x7f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80], 7),
            Err(IntegerError::Overflow)
        );
    }

    #[test]
    fn out_of_range_prefix_sizes_are_clamped() {
        assert_eq!(encode_to_vec(300, 0, 0), encode_to_vec(300, 1, 0));
        assert_eq!(encode_to_vec(300, 9, 0), encode_to_vec(300, 8, 0));
        assert_eq!(decode(&[0x05], 0), decode(&[0x05], 1));
    }
}
