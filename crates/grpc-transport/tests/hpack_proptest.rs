//! Property tests: encoder → decoder round trips with a shared, changing context; Huffman and
//! integer round trips; arbitrary input never panics and never breaks the header list limit.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::{Bytes, BytesMut};
use grpc_transport::hpack::{Decoder, DecoderError, Encoder, HeaderField, huffman, integer};
use proptest::prelude::*;

/// Names: mostly ones the tables and the policy know about, plus arbitrary octets.
fn name() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        3 => prop::sample::select(vec![
            ":method", ":path", ":authority", ":status", "content-type", "te", "grpc-timeout",
            "grpc-status", "grpc-message", "user-agent", "authorization", "cookie",
            "x-custom", "date", "accept-encoding",
        ])
        .prop_map(|s: &'static str| Bytes::from_static(s.as_bytes())),
        2 => prop::collection::vec(any::<u8>(), 0..24).prop_map(Bytes::from),
    ]
}

fn value() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "", "GET", "POST", "/", "200", "application/grpc", "trailers", "0", "gzip, deflate",
            "a-value-that-repeats", "id=1",
        ])
        .prop_map(|s: &'static str| Bytes::from_static(s.as_bytes())),
        2 => prop::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from),
        // Occasionally large enough to be skipped by the 3/4 rule or evict everything.
        1 => prop::collection::vec(any::<u8>(), 0..3500).prop_map(Bytes::from),
    ]
}

fn field() -> impl Strategy<Value = HeaderField> {
    (name(), value(), prop::bool::weighted(0.15)).prop_map(|(name, value, sensitive)| HeaderField {
        name,
        value,
        sensitive,
    })
}

/// What happens between two blocks.
#[derive(Clone, Debug)]
enum Change {
    /// The peer (our decoder) changes SETTINGS_HEADER_TABLE_SIZE and the encoder applies it.
    Setting(usize),
    /// The encoder changes its own cap.
    Cap(usize),
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        3 => prop_oneof![Just(0usize), 0usize..300, 300usize..9000].prop_map(Change::Setting),
        1 => prop_oneof![Just(0usize), 0usize..8192].prop_map(Change::Cap),
    ]
}

/// The sensitivity a field has after a round trip: the encoder's policy adds it for
/// credentials and short cookies (see the encoder's documentation).
fn expected_sensitive(field: &HeaderField) -> bool {
    field.sensitive
        || &field.name[..] == b"authorization"
        || &field.name[..] == b"proxy-authorization"
        || (&field.name[..] == b"cookie" && field.value.len() < 20)
}

proptest! {
    // 512 cases by default; PROPTEST_CASES overrides (e.g. for a long run).
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(512),
        ..ProptestConfig::default()
    })]

    #[test]
    fn header_lists_round_trip_with_shared_context_and_table_size_changes(
        blocks in prop::collection::vec(
            (prop::collection::vec(change(), 0..3), prop::collection::vec(field(), 0..12)),
            1..10,
        )
    ) {
        let mut encoder = Encoder::new();
        let mut decoder = Decoder::new();
        for (changes, fields) in &blocks {
            for change in changes {
                match *change {
                    Change::Setting(size) => {
                        encoder.set_max_table_size(size);
                        decoder.set_max_table_size_setting(size);
                    }
                    Change::Cap(cap) => encoder.set_table_size_cap(cap),
                }
            }
            let mut block = BytesMut::new();
            encoder.encode(fields, &mut block);
            let mut decoded = Vec::new();
            decoder.decode(&block.freeze(), |f| decoded.push(f)).unwrap();
            prop_assert_eq!(decoded.len(), fields.len());
            for (got, sent) in decoded.iter().zip(fields) {
                prop_assert_eq!(&got.name, &sent.name);
                prop_assert_eq!(&got.value, &sent.value);
                prop_assert_eq!(got.sensitive, expected_sensitive(sent));
            }
            prop_assert!(encoder.dynamic_table().eq(decoder.dynamic_table()));
            prop_assert_eq!(encoder.dynamic_table_size(), decoder.dynamic_table_size());
            prop_assert_eq!(encoder.dynamic_table_max_size(), decoder.dynamic_table_max_size());
            prop_assert!(decoder.dynamic_table_size() <= decoder.dynamic_table_max_size());
        }
    }

    #[test]
    fn huffman_round_trips_any_octets(octets in prop::collection::vec(any::<u8>(), 0..600)) {
        let mut coded = BytesMut::new();
        huffman::encode(&octets, &mut coded);
        prop_assert_eq!(coded.len(), huffman::encoded_len(&octets));
        prop_assert_eq!(huffman::decoded_len(&coded), Ok(octets.len()));
        let mut decoded = BytesMut::new();
        huffman::decode(&coded, &mut decoded).unwrap();
        prop_assert_eq!(&decoded[..], &octets[..]);
    }

    #[test]
    fn huffman_decoding_of_arbitrary_octets_agrees_with_validation(
        octets in prop::collection::vec(any::<u8>(), 0..200)
    ) {
        let mut decoded = BytesMut::new();
        let result = huffman::decode(&octets, &mut decoded);
        match huffman::decoded_len(&octets) {
            Ok(len) => {
                prop_assert!(result.is_ok());
                prop_assert_eq!(decoded.len(), len);
                prop_assert!(len <= huffman::max_decoded_len(octets.len()));
                // A valid string re-encodes to the same octets: the code is a bijection
                // once padding is fixed to the EOS prefix.
                let mut coded = BytesMut::new();
                huffman::encode(&decoded, &mut coded);
                prop_assert_eq!(&coded[..], &octets[..]);
            }
            Err(error) => {
                prop_assert_eq!(result, Err(error));
                prop_assert!(decoded.is_empty());
            }
        }
    }

    #[test]
    fn integers_round_trip_for_every_prefix(
        value in prop_oneof![0usize..300, 0usize..=(u32::MAX as usize)],
        prefix_bits in 1u8..=8,
        flags in any::<u8>(),
        trailing in prop::collection::vec(any::<u8>(), 0..4),
    ) {
        let mut encoded = BytesMut::new();
        integer::encode(value, prefix_bits, flags, &mut encoded);
        let mask = (0xffu16 >> (8 - prefix_bits)) as u8;
        prop_assert_eq!(encoded[0] & !mask, flags & !mask);
        let length = encoded.len();
        encoded.extend_from_slice(&trailing);
        prop_assert_eq!(integer::decode(&encoded, prefix_bits), Ok((value, length)));
    }

    #[test]
    fn arbitrary_blocks_never_panic_and_respect_the_header_list_limit(
        setting in prop_oneof![Just(0usize), 0usize..512, Just(4096usize)],
        limit in prop_oneof![0usize..200, 200usize..5000],
        blocks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..120), 1..8),
    ) {
        let mut decoder = Decoder::new();
        decoder.set_max_table_size_setting(setting);
        decoder.set_max_header_list_size(limit);
        for block in &blocks {
            let mut delivered = 0usize;
            let result = decoder.decode(&Bytes::copy_from_slice(block), |f| delivered += f.size());
            prop_assert!(delivered <= limit);
            prop_assert!(decoder.dynamic_table_size() <= decoder.dynamic_table_max_size());
            prop_assert!(decoder.dynamic_table_max_size() <= 4096.max(setting));
            if let Err(error) = result {
                prop_assert_eq!(
                    error.is_connection_error(),
                    !matches!(error, DecoderError::HeaderListTooLarge { .. })
                );
                // Keep feeding blocks after a connection error: a misused decoder must not
                // panic either.
            }
        }
    }
}
