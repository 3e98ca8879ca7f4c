//! Fuzzes the HPACK decoder with a sequence of header blocks sharing one compression context.
//!
//! Input layout:
//! - byte 0: SETTINGS_HEADER_TABLE_SIZE. High bit set: 4096 + 64 × (low 7 bits) (raised, no
//!   size update required); clear: 32 × value (0..=4064, lowered, so the first block must start
//!   with a size update).
//! - bytes 1..3: the header list size limit, little-endian (0..=65535).
//! - then blocks, each a length octet followed by that many octets (cut short at the end).
//!
//! Checks: no panic; the fields delivered for a block never add up to more than the limit;
//! after a connection error the decoder is still fed (it must not panic, though a real
//! connection would be closed); and every successfully decoded block, re-encoded by an
//! `Encoder` and decoded by a second decoder sharing that encoder's context, gives the same
//! fields (sensitive ones staying sensitive), with both tables equal.

#![no_main]

use bytes::{Bytes, BytesMut};
use grpc_transport::hpack::{Decoder, Encoder, HeaderField};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [setting, limit_low, limit_high, rest @ ..] = data else {
        return;
    };
    let mut rest: &[u8] = rest;
    let setting = if setting & 0x80 != 0 {
        4096 + 64 * usize::from(setting & 0x7f)
    } else {
        32 * usize::from(*setting)
    };
    let limit = usize::from(u16::from_le_bytes([*limit_low, *limit_high]));

    let mut decoder = Decoder::new();
    decoder.set_max_table_size_setting(setting);
    decoder.set_max_header_list_size(limit);

    // The re-encoding side: its own context, shared across this input's blocks.
    let mut encoder = Encoder::new();
    let mut mirror = Decoder::new();

    while let [length, tail @ ..] = rest {
        let length = usize::from(*length).min(tail.len());
        let (block, tail) = tail.split_at(length);
        rest = tail;

        let mut fields = Vec::new();
        let mut delivered = 0usize;
        let result = decoder.decode(&Bytes::copy_from_slice(block), |field| {
            delivered += field.size();
            fields.push(field);
        });
        assert!(
            delivered <= limit,
            "delivered {delivered} octets, limit {limit}"
        );
        if result.is_ok() {
            round_trip(&mut encoder, &mut mirror, &fields);
        }
    }
});

fn round_trip(encoder: &mut Encoder, mirror: &mut Decoder, fields: &[HeaderField]) {
    let mut block = BytesMut::new();
    encoder.encode(fields, &mut block);
    let mut again = Vec::with_capacity(fields.len());
    mirror
        .decode(&block.freeze(), |field| again.push(field))
        .expect("our encoder's output must decode");
    assert_eq!(again.len(), fields.len());
    for (got, sent) in again.iter().zip(fields) {
        assert_eq!(got.name, sent.name);
        assert_eq!(got.value, sent.value);
        // The policy may add sensitivity (credentials), never remove it.
        assert!(got.sensitive || !sent.sensitive);
    }
    assert!(encoder.dynamic_table().eq(mirror.dynamic_table()));
}
