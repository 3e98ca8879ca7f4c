//! The classic attacks on HPACK decoders, each as a block a hostile peer could send.
//!
//! Every connection-level failure must be a typed COMPRESSION_ERROR; the header list limit must
//! hold while decoding (not after), without buffering what will not be delivered, and without
//! desynchronising the dynamic table.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::{BufMut, Bytes, BytesMut};
use grpc_transport::ErrorCode;
use grpc_transport::hpack::{Decoder, DecoderError, HeaderField, HuffmanError, huffman, integer};

/// Decodes `block`, returning the fields delivered and the result.
fn decode(decoder: &mut Decoder, block: &[u8]) -> (Vec<HeaderField>, Result<(), DecoderError>) {
    let mut fields = Vec::new();
    let result = decoder.decode(&Bytes::copy_from_slice(block), |field| fields.push(field));
    (fields, result)
}

fn decode_err(block: &[u8]) -> DecoderError {
    let mut decoder = Decoder::new();
    let error = decode(&mut decoder, block).1.unwrap_err();
    assert!(error.is_connection_error(), "{error:?}");
    assert_eq!(error.code(), ErrorCode::COMPRESSION_ERROR);
    error
}

/// Appends a string literal, raw.
fn raw_string(dst: &mut BytesMut, octets: &[u8]) {
    integer::encode(octets.len(), 7, 0x00, dst);
    dst.put_slice(octets);
}

/// Appends a string literal, Huffman-coded.
fn huffman_string(dst: &mut BytesMut, octets: &[u8]) {
    let mut coded = BytesMut::new();
    huffman::encode(octets, &mut coded);
    integer::encode(coded.len(), 7, 0x80, dst);
    dst.put_slice(&coded);
}

/// A literal with incremental indexing and a new name.
fn incremental_literal(dst: &mut BytesMut, name: &[u8], value: &[u8]) {
    dst.put_u8(0x40);
    raw_string(dst, name);
    raw_string(dst, value);
}

fn delivered_size(fields: &[HeaderField]) -> usize {
    fields.iter().map(HeaderField::size).sum()
}

// Huge integers

#[test]
fn index_with_20_continuation_octets_is_an_integer_overflow() {
    let mut block = vec![0xff];
    block.extend([0x80; 19]);
    block.push(0x00);
    assert_eq!(decode_err(&block), DecoderError::IntegerOverflow);
}

#[test]
fn megabytes_of_continuation_octets_fail_without_reading_them() {
    // A 16 MiB "integer": rejected after its 6th continuation octet.
    let mut block = vec![0x3f];
    block.resize(16 << 20, 0x80);
    let started = std::time::Instant::now();
    assert_eq!(decode_err(&block), DecoderError::IntegerOverflow);
    // Generous bound: reading 16 MiB one octet at a time in a debug build takes far longer.
    assert!(started.elapsed() < std::time::Duration::from_millis(500));
}

#[test]
fn string_length_above_u32_max_is_an_integer_overflow() {
    let mut block = BytesMut::new();
    block.put_u8(0x00);
    integer::encode(1 << 33, 7, 0x00, &mut block);
    assert_eq!(decode_err(&block), DecoderError::IntegerOverflow);
}

// Oversized string lengths

#[test]
fn string_claiming_2_pow_31_octets_is_rejected_before_allocating() {
    for huffman_flag in [0x00, 0x80] {
        let mut block = BytesMut::new();
        block.put_u8(0x00); // literal without indexing, new name
        integer::encode(1 << 31, 7, huffman_flag, &mut block);
        block.put_slice(b"tiny");
        let mut decoder = Decoder::new();
        let (fields, result) = decode(&mut decoder, &block);
        assert!(fields.is_empty());
        assert_eq!(
            result,
            Err(DecoderError::StringPastEnd {
                length: 1 << 31,
                remaining: 4
            })
        );
        assert_eq!(decoder.buffered_capacity(), 0);
    }
}

#[test]
fn value_length_one_past_the_end_is_rejected() {
    // Incremental, indexed name 1, value of length 3 with only 2 octets present.
    assert_eq!(
        decode_err(&[0x41, 0x03, b'a', b'b']),
        DecoderError::StringPastEnd {
            length: 3,
            remaining: 2
        }
    );
}

#[test]
fn blocks_ending_inside_a_representation_are_truncated() {
    assert_eq!(decode_err(&[0xff]), DecoderError::Truncated); // index needs more octets
    assert_eq!(decode_err(&[0x41]), DecoderError::Truncated); // value length missing
    assert_eq!(decode_err(&[0x40]), DecoderError::Truncated); // name length missing
    assert_eq!(decode_err(&[0x3f]), DecoderError::Truncated); // size update cut short
}

// Invalid Huffman

fn literal_with_huffman_value(coded: &[u8]) -> Vec<u8> {
    let mut block = vec![0x01]; // without indexing, name index 1
    let mut length = BytesMut::new();
    integer::encode(coded.len(), 7, 0x80, &mut length);
    block.extend_from_slice(&length);
    block.extend_from_slice(coded);
    block
}

#[test]
fn huffman_string_containing_eos_is_rejected() {
    // '0' (00000) + EOS (30 ones) + 5 padding ones = 40 bits.
    let coded = [0x07, 0xff, 0xff, 0xff, 0xff];
    assert_eq!(
        decode_err(&literal_with_huffman_value(&coded)),
        DecoderError::InvalidHuffman(HuffmanError::EndOfString)
    );
}

#[test]
fn huffman_padding_longer_than_7_bits_is_rejected() {
    // 'a' (00011) + 3 ones, then a whole octet of ones: 11 bits of padding.
    assert_eq!(
        decode_err(&literal_with_huffman_value(&[0x1f, 0xff])),
        DecoderError::InvalidHuffman(HuffmanError::PaddingTooLong)
    );
}

#[test]
fn huffman_padding_of_zeros_is_rejected() {
    // 'a' (00011) + 000.
    assert_eq!(
        decode_err(&literal_with_huffman_value(&[0x18])),
        DecoderError::InvalidHuffman(HuffmanError::InvalidPadding)
    );
}

#[test]
fn invalid_huffman_is_detected_even_in_fields_past_the_limit() {
    // The limit is exceeded by the first field; the second is never delivered, but its
    // Huffman string is still validated, so a malformed one is still a connection error.
    let mut decoder = Decoder::new();
    decoder.set_max_header_list_size(10);
    let mut block = vec![0x82];
    block.extend(literal_with_huffman_value(&[0x18]));
    let (fields, result) = decode(&mut decoder, &block);
    assert!(fields.is_empty());
    assert_eq!(
        result,
        Err(DecoderError::InvalidHuffman(HuffmanError::InvalidPadding))
    );
}

// Table size updates

#[test]
fn size_update_above_the_setting_is_rejected() {
    // 0x3f 0xe2 0x1f = 31 + 0x62 + (0x1f << 7) = 4097.
    assert_eq!(
        decode_err(&[0x3f, 0xe2, 0x1f]),
        DecoderError::SizeUpdateTooLarge {
            requested: 4097,
            limit: 4096
        }
    );
}

#[test]
fn size_update_after_the_first_field_is_rejected() {
    assert_eq!(
        decode_err(&[0x82, 0x20]),
        DecoderError::SizeUpdateNotAtStart
    );
}

#[test]
fn missing_size_update_after_lowering_the_setting_is_rejected() {
    let mut decoder = Decoder::new();
    decoder.set_max_table_size_setting(0);
    let error = decode(&mut decoder, &[0x82]).1.unwrap_err();
    assert_eq!(
        error,
        DecoderError::MissingSizeUpdate {
            required_at_most: 0
        }
    );
    assert!(error.is_connection_error());
}

// Invalid indices

#[test]
fn index_zero_is_rejected() {
    assert_eq!(
        decode_err(&[0x80]),
        DecoderError::InvalidIndex { index: 0, max: 61 }
    );
}

#[test]
fn index_past_the_end_of_the_tables_is_rejected() {
    assert_eq!(
        decode_err(&[0xbe]),
        DecoderError::InvalidIndex { index: 62, max: 61 }
    );
    // As a literal's name index too (incremental indexing, name index 63).
    assert_eq!(
        decode_err(&[0x7f, 0x00, 0x01, b'v']),
        DecoderError::InvalidIndex { index: 63, max: 61 }
    );

    let mut decoder = Decoder::new();
    decode(&mut decoder, &[0x40, 0x01, b'a', 0x01, b'b'])
        .1
        .unwrap();
    assert_eq!(
        decode(&mut decoder, &[0xbe]).0,
        [HeaderField::new("a", "b")]
    );
    assert_eq!(
        decode(&mut decoder, &[0xbf]).1,
        Err(DecoderError::InvalidIndex { index: 63, max: 62 })
    );
}

// Header list bombs

#[test]
fn header_list_bomb_through_the_dynamic_table_stops_at_the_limit_and_keeps_the_table_in_sync() {
    const LIMIT: usize = 64 * 1024;
    let mut decoder = Decoder::new();
    decoder.set_max_header_list_size(LIMIT);

    // Block 1 inserts a 4 KiB entry (4038 octets with the overhead).
    let bomb_value = vec![b'a'; 4000];
    let mut block = BytesMut::new();
    incremental_literal(&mut block, b"x-bomb", &bomb_value);
    let (fields, result) = decode(&mut decoder, &block);
    result.unwrap();
    assert_eq!(fields[0].size(), 4038);

    // Block 2 references it 10,000 times: 10,000 octets that would expand to 40 MB.
    let block = vec![0xbe; 10_000];
    let (fields, result) = decode(&mut decoder, &block);
    let error = result.unwrap_err();
    assert_eq!(error, DecoderError::HeaderListTooLarge { limit: LIMIT });
    assert!(!error.is_connection_error());
    assert_eq!(error.code(), ErrorCode::REFUSED_STREAM);
    // Fields are delivered only while they fit: 16 × 4038 = 64,608 ≤ 65,536 < 17 × 4038.
    assert_eq!(fields.len(), LIMIT / 4038);
    assert!(delivered_size(&fields) <= LIMIT);
    // Delivered fields share the table's copy: nothing was duplicated.
    assert!(
        fields
            .iter()
            .all(|f| f.value.as_ptr() == fields[0].value.as_ptr())
    );

    // Block 3 is valid and still decodes against the same table.
    let (fields, result) = decode(&mut decoder, &[0xbe, 0x82]);
    result.unwrap();
    assert_eq!(fields.len(), 2);
    assert_eq!(&fields[0].value[..], &bomb_value[..]);
}

#[test]
fn table_updates_after_the_limit_is_exceeded_are_still_applied() {
    let mut decoder = Decoder::new();
    decoder.set_max_header_list_size(100);
    let mut block = BytesMut::new();
    // 1: an incremental literal too large for the limit (1 + 100 + 32 = 133): stored, not
    //    delivered.
    incremental_literal(&mut block, b"a", &[b'x'; 100]);
    // 2: a small incremental literal after the limit was hit: stored too.
    incremental_literal(&mut block, b"b", b"c");
    // 3: a large Huffman literal without indexing: only validated.
    block.put_u8(0x00);
    raw_string(&mut block, b"skipped");
    huffman_string(&mut block, &[b'e'; 5000]);
    // 4: an index: nothing to do.
    block.put_u8(0x82);
    let (fields, result) = decode(&mut decoder, &block);
    assert!(fields.is_empty());
    assert_eq!(result, Err(DecoderError::HeaderListTooLarge { limit: 100 }));
    let table: Vec<_> = decoder.dynamic_table().collect();
    assert_eq!(
        table,
        [(&b"b"[..], &b"c"[..]), (&b"a"[..], &[b'x'; 100][..])]
    );
    assert_eq!(decoder.dynamic_table_size(), 34 + 133);

    // The next block sees both entries, as the peer's encoder does.
    decoder.set_max_header_list_size(1000);
    let (fields, result) = decode(&mut decoder, &[0xbe, 0xbf]);
    result.unwrap();
    assert_eq!(fields[0], HeaderField::new("b", "c"));
    assert_eq!(&fields[1].value[..], &[b'x'; 100][..]);
}

#[test]
fn huffman_literal_past_the_limit_is_not_decoded_into_memory() {
    let mut decoder = Decoder::new();
    decoder.set_max_header_list_size(16 * 1024);
    // A never-indexed literal whose value decodes to 1.6 MB (5-bit codes): over the limit.
    let mut block = BytesMut::new();
    block.put_u8(0x10);
    raw_string(&mut block, b"x-huge");
    huffman_string(&mut block, &vec![b'a'; 1_600_000]);
    assert!(block.len() < 1_100_000);
    let (fields, result) = decode(&mut decoder, &block);
    assert!(fields.is_empty());
    assert_eq!(
        result,
        Err(DecoderError::HeaderListTooLarge { limit: 16 * 1024 })
    );
    assert_eq!(decoder.buffered_capacity(), 0);

    // The same with incremental indexing: larger than the table, so the table is emptied
    // (§4.4) and still nothing is buffered.
    let mut decoder = Decoder::new();
    decoder.set_max_header_list_size(16 * 1024);
    decode(&mut decoder, &[0x40, 0x01, b'k', 0x01, b'v'])
        .1
        .unwrap();
    let mut block = BytesMut::new();
    block.put_u8(0x40);
    raw_string(&mut block, b"x-huge");
    huffman_string(&mut block, &vec![b'a'; 1_600_000]);
    let (fields, result) = decode(&mut decoder, &block);
    assert!(fields.is_empty());
    assert!(result.is_err());
    assert_eq!(decoder.dynamic_table().count(), 0);
    assert_eq!(decoder.buffered_capacity(), 0);
}

#[test]
fn thousands_of_static_references_stop_at_the_limit() {
    let mut decoder = Decoder::new();
    decoder.set_max_header_list_size(4096);
    let (fields, result) = decode(&mut decoder, &vec![0x82; 10_000]);
    // ":method: GET" is 7 + 3 + 32 = 42 octets.
    assert_eq!(fields.len(), 4096 / 42);
    assert!(delivered_size(&fields) <= 4096);
    assert_eq!(
        result,
        Err(DecoderError::HeaderListTooLarge { limit: 4096 })
    );
}

#[test]
fn a_field_exactly_at_the_limit_is_delivered() {
    let mut decoder = Decoder::new();
    decoder.set_max_header_list_size(42);
    let (fields, result) = decode(&mut decoder, &[0x82]);
    result.unwrap();
    assert_eq!(fields.len(), 1);
    decoder.set_max_header_list_size(41);
    assert!(decode(&mut decoder, &[0x82]).1.is_err());
}

#[test]
fn long_huffman_strings_within_the_limit_do_not_leave_large_buffers_behind() {
    let mut decoder = Decoder::new();
    let mut block = BytesMut::new();
    block.put_u8(0x10);
    raw_string(&mut block, b"x-long");
    huffman_string(&mut block, &vec![b'a'; 200_000]);
    let (fields, result) = decode(&mut decoder, &block);
    result.unwrap();
    assert_eq!(fields[0].value.len(), 200_000);
    // The decoded string has its own allocation; the decoder's buffers stay chunk-sized.
    assert!(
        decoder.buffered_capacity() <= 8192,
        "{}",
        decoder.buffered_capacity()
    );
}
