//! Header block encoding (RFC 7541 §3, §6) and the indexing policy.
//!
//! The details are documented on [`Encoder`].

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};

use bytes::BytesMut;

use super::decoder::DEFAULT_HEADER_TABLE_SIZE;
use super::field::HeaderField;
use super::static_table::{self, StaticMatch};
use super::table::{self, DynamicTable};
use super::{integer, string};

/// The encoder's own default ceiling on its dynamic table size.
pub const DEFAULT_TABLE_SIZE_CAP: usize = 4096;

/// Cookie values shorter than this are sent never-indexed (§7.1.3).
const SHORT_COOKIE: usize = 20;

/// Hashes of an entry, kept so eviction can clean the lookup maps without rehashing.
#[derive(Clone, Copy, Debug)]
struct EntryHashes {
    name: u64,
    field: u64,
}

/// A `Hasher` for keys that already are uniformly distributed 64-bit hashes.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

type HashToAbsolute = HashMap<u64, u64, BuildHasherDefault<PassThrough>>;

/// An HPACK encoder: one per connection, used for every header block we send, in order.
///
/// # Indexing policy
///
/// For each field, in this order:
///
/// 1. **Sensitive → literal never indexed (§6.2.3).** Fields marked
///    [`HeaderField::sensitive`], plus, automatically, `authorization`,
///    `proxy-authorization`, and `cookie` values shorter than 20 octets (§7.1.3: short cookie
///    values are guessable, so keeping them out of the table defeats probing of the compression
///    context). The name may still come from a table. Sensitive fields are never sent as an
///    index even when the table holds the same field, so the receiver always sees the
///    never-indexed flag.
/// 2. **Exact match → indexed (§6.1).** The static table first (a `match`), then the dynamic
///    table (a hash lookup).
/// 3. **Churning names → literal without indexing (§6.2.2)**, name from a table when
///    possible. Values of these fields differ on (almost) every message, so an entry would
///    only evict useful ones: `grpc-timeout` (remaining deadline), `content-length`,
///    `grpc-message` (free-form error text), `grpc-status-details-bin` (large, per-error),
///    `grpc-trace-bin`, `traceparent`, `x-request-id` (per-request identifiers). `date` is
///    deliberately *not* on the list: it repeats for every response within the same second,
///    and on the hpack-test-case web traffic indexing it compresses to 30.8% of the raw size
///    against 35.2% without.
/// 4. **Too large → literal without indexing.** Entries bigger than 3/4 of the table would
///    flush most of it for one field.
/// 5. **Otherwise literal with incremental indexing (§6.2.1)**, name from a table when
///    possible (static preferred: its indices are smaller).
///
/// String literals are Huffman-coded only when that is strictly shorter (§5.2).
///
/// # Lookups
///
/// The dynamic table is never scanned. Each entry's name and name+value are hashed once with a
/// randomly keyed SipHash (`RandomState`), and two maps point from those 64-bit hashes to the
/// entry's absolute number (its insertion count, which never changes while it lives; HPACK
/// index = 62 + newest absolute number − absolute number). A hit is confirmed by comparing the
/// octets, so a hash collision can only cost compression, never correctness. On eviction a map
/// entry is removed only if it still points at the evicted entry (a newer duplicate may have
/// taken the slot), so eviction is O(1) and nothing is renumbered.
///
/// # Table size (§4.2, §6.3)
///
/// The table's maximum size is `min(peer's SETTINGS_HEADER_TABLE_SIZE, own cap)`, the cap
/// defaulting to 4096. Changes between blocks are signalled at the start of the next block:
/// if the size went below the current maximum at any point, the smallest value is signalled
/// first (so the peer's table shrinks as far as ours did), then the final value if different:
/// "lowered then raised" produces two updates. When the peer lowers its setting we send an
/// update even if our size does not change (our cap was already below it): RFC 7541 is
/// ambiguous on whether that is required, and one octet is cheaper than a COMPRESSION_ERROR
/// from a strict decoder.
///
/// The encoder does not validate field names or values (lowercase names, no pseudo-headers
/// after regular ones, ...): that is the HTTP/2 layer's job (RFC 9113 §8.2).
#[derive(Debug)]
pub struct Encoder {
    table: DynamicTable<EntryHashes>,
    /// name+value hash → absolute number of the newest entry with that hash.
    by_field: HashToAbsolute,
    /// name hash → absolute number of the newest entry with that name hash.
    by_name: HashToAbsolute,
    hash_keys: RandomState,
    /// The peer's SETTINGS_HEADER_TABLE_SIZE.
    peer_setting: usize,
    /// Our own ceiling.
    cap: usize,
    /// Smallest target size since the last block, if any change happened.
    pending_smallest: Option<usize>,
    /// The peer lowered its setting since the last block: signal even if our size did not
    /// change, for decoders that expect it.
    peer_lowered: bool,
    use_huffman: bool,
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder::new()
    }
}

/// The literal representations of §6.2: (prefix bits, first-octet pattern).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Literal {
    IncrementalIndexing,
    WithoutIndexing,
    NeverIndexed,
}

impl Literal {
    fn prefix_and_flags(self) -> (u8, u8) {
        match self {
            Literal::IncrementalIndexing => (6, 0x40),
            Literal::WithoutIndexing => (4, 0x00),
            Literal::NeverIndexed => (4, 0x10),
        }
    }
}

impl Encoder {
    /// An encoder for a new connection: table size 4096 (the protocol's initial
    /// SETTINGS_HEADER_TABLE_SIZE, also the default cap), Huffman coding on.
    pub fn new() -> Encoder {
        Encoder {
            table: DynamicTable::new(DEFAULT_HEADER_TABLE_SIZE.min(DEFAULT_TABLE_SIZE_CAP)),
            by_field: HashToAbsolute::default(),
            by_name: HashToAbsolute::default(),
            hash_keys: RandomState::new(),
            peer_setting: DEFAULT_HEADER_TABLE_SIZE,
            cap: DEFAULT_TABLE_SIZE_CAP,
            pending_smallest: None,
            peer_lowered: false,
            use_huffman: true,
        }
    }

    /// Applies the peer's SETTINGS_HEADER_TABLE_SIZE. The table size becomes
    /// `min(size, cap)`; the change is signalled at the start of the next block.
    pub fn set_max_table_size(&mut self, size: usize) {
        if size < self.peer_setting {
            self.peer_lowered = true;
        }
        self.peer_setting = size;
        self.retarget();
    }

    /// Sets our own ceiling on the table size (default [`DEFAULT_TABLE_SIZE_CAP`]): the memory
    /// we are willing to spend per connection on the peer's behalf.
    pub fn set_table_size_cap(&mut self, cap: usize) {
        self.cap = cap;
        self.retarget();
    }

    /// Turns Huffman coding of string literals on or off (default on). Off trades a few
    /// percent of header bytes for less CPU on both sides.
    pub fn set_huffman(&mut self, enabled: bool) {
        self.use_huffman = enabled;
    }

    /// The dynamic table's entries as `(name, value)`, newest (HPACK index 62) first.
    pub fn dynamic_table(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.table.iter().map(|entry| (entry.name(), entry.value()))
    }

    /// The dynamic table's size: the sum of its entry sizes (§4.1).
    pub fn dynamic_table_size(&self) -> usize {
        self.table.size()
    }

    /// The dynamic table's maximum size as last signalled to the peer.
    pub fn dynamic_table_max_size(&self) -> usize {
        self.table.max_size()
    }

    /// The table size we want: the peer's limit capped by ours.
    fn target_size(&self) -> usize {
        self.peer_setting.min(self.cap)
    }

    fn retarget(&mut self) {
        let target = self.target_size();
        self.pending_smallest = Some(self.pending_smallest.map_or(target, |old| old.min(target)));
    }

    /// Encodes one header block: the pending table size updates, then every field in order.
    /// `dst` is appended to; the caller splits the result into HEADERS and CONTINUATION
    /// frames.
    pub fn encode<'a>(
        &mut self,
        fields: impl IntoIterator<Item = &'a HeaderField>,
        dst: &mut BytesMut,
    ) {
        self.encode_size_updates(dst);
        for field in fields {
            self.encode_field(field, dst);
        }
    }

    /// §4.2, §6.3: signal table size changes at the start of the block.
    fn encode_size_updates(&mut self, dst: &mut BytesMut) {
        let Some(smallest) = self.pending_smallest.take() else {
            return;
        };
        let target = self.target_size();
        let current = self.table.max_size();
        let peer_lowered = std::mem::take(&mut self.peer_lowered);
        if smallest < current || peer_lowered {
            self.signal_size(smallest, dst);
            if target != smallest {
                self.signal_size(target, dst);
            }
        } else if target != current {
            self.signal_size(target, dst);
        }
    }

    fn signal_size(&mut self, size: usize, dst: &mut BytesMut) {
        integer::encode(size, 5, 0x20, dst);
        let Encoder {
            table,
            by_field,
            by_name,
            ..
        } = self;
        table.set_max_size(size, |absolute, entry| {
            forget(by_field, by_name, absolute, entry.meta)
        });
    }

    fn encode_field(&mut self, field: &HeaderField, dst: &mut BytesMut) {
        let name = &field.name[..];
        let value = &field.value[..];
        let never_indexed = field.sensitive || is_sensitive_by_policy(name, value);
        let static_match = static_table::find(name, value);
        if !never_indexed {
            if let Some(StaticMatch::Field(index)) = static_match {
                integer::encode(index, 7, 0x80, dst);
                return;
            }
        }

        let hashes = self.hash(name, value);
        if !never_indexed {
            if let Some(index) = self.dynamic_field_index(hashes.field, name, value) {
                integer::encode(index, 7, 0x80, dst);
                return;
            }
        }

        let name_index = match static_match {
            Some(StaticMatch::Field(index) | StaticMatch::Name(index)) => Some(index),
            None => self.dynamic_name_index(hashes.name, name),
        };
        let kind = if never_indexed {
            Literal::NeverIndexed
        } else if is_churning(name)
            || table::entry_size(name.len(), value.len()) > self.table.max_size() / 4 * 3
        {
            Literal::WithoutIndexing
        } else {
            Literal::IncrementalIndexing
        };

        let (prefix_bits, flags) = kind.prefix_and_flags();
        integer::encode(name_index.unwrap_or(0), prefix_bits, flags, dst);
        if name_index.is_none() {
            string::encode(name, self.use_huffman, dst);
        }
        string::encode(value, self.use_huffman, dst);

        if kind == Literal::IncrementalIndexing {
            self.insert(name, value, hashes);
        }
    }

    /// Adds a field to the dynamic table and the lookup maps.
    fn insert(&mut self, name: &[u8], value: &[u8], hashes: EntryHashes) {
        let Encoder {
            table,
            by_field,
            by_name,
            ..
        } = self;
        let inserted = table
            .insert(name, value, hashes, |absolute, entry| {
                forget(by_field, by_name, absolute, entry.meta)
            })
            .is_some();
        if let (true, Some(absolute)) = (inserted, table.newest_absolute()) {
            by_field.insert(hashes.field, absolute);
            by_name.insert(hashes.name, absolute);
        }
    }

    fn hash(&self, name: &[u8], value: &[u8]) -> EntryHashes {
        let mut hasher = self.hash_keys.build_hasher();
        hasher.write_usize(name.len());
        hasher.write(name);
        let name_hash = hasher.finish();
        hasher.write(value);
        EntryHashes {
            name: name_hash,
            field: hasher.finish(),
        }
    }

    /// HPACK index of a dynamic entry equal to (name, value), if any.
    fn dynamic_field_index(&self, field_hash: u64, name: &[u8], value: &[u8]) -> Option<usize> {
        let absolute = *self.by_field.get(&field_hash)?;
        let entry = self.table.get_absolute(absolute)?;
        if entry.name() != name || entry.value() != value {
            return None;
        }
        Some(static_table::LEN + self.table.index_of_absolute(absolute)?)
    }

    /// HPACK index of a dynamic entry with this name, if any.
    fn dynamic_name_index(&self, name_hash: u64, name: &[u8]) -> Option<usize> {
        let absolute = *self.by_name.get(&name_hash)?;
        let entry = self.table.get_absolute(absolute)?;
        if entry.name() != name {
            return None;
        }
        Some(static_table::LEN + self.table.index_of_absolute(absolute)?)
    }
}

/// Removes an evicted entry from the lookup maps, unless a newer entry took its slot.
fn forget(
    by_field: &mut HashToAbsolute,
    by_name: &mut HashToAbsolute,
    absolute: u64,
    hashes: EntryHashes,
) {
    if by_field.get(&hashes.field) == Some(&absolute) {
        by_field.remove(&hashes.field);
    }
    if by_name.get(&hashes.name) == Some(&absolute) {
        by_name.remove(&hashes.name);
    }
}

/// Fields the policy always sends never-indexed (§7.1.3).
fn is_sensitive_by_policy(name: &[u8], value: &[u8]) -> bool {
    match name {
        b"authorization" | b"proxy-authorization" => true,
        b"cookie" => value.len() < SHORT_COOKIE,
        _ => false,
    }
}

/// Fields whose values change on nearly every message: not worth a table entry.
fn is_churning(name: &[u8]) -> bool {
    matches!(
        name,
        b"grpc-timeout"
            | b"content-length"
            | b"grpc-message"
            | b"grpc-status-details-bin"
            | b"grpc-trace-bin"
            | b"traceparent"
            | b"x-request-id"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(encoder: &mut Encoder, fields: &[HeaderField]) -> Vec<u8> {
        let mut dst = BytesMut::new();
        encoder.encode(fields, &mut dst);
        dst.to_vec()
    }

    #[test]
    fn static_exact_match_is_one_octet() {
        let mut encoder = Encoder::new();
        assert_eq!(
            encode(&mut encoder, &[HeaderField::new(":method", "POST")]),
            [0x83]
        );
    }

    #[test]
    fn second_occurrence_is_an_index_into_the_dynamic_table() {
        let mut encoder = Encoder::new();
        let fields = [HeaderField::new(":path", "/helloworld.Greeter/SayHello")];
        let first = encode(&mut encoder, &fields);
        assert_eq!(first[0], 0x44); // incremental indexing, static name 4
        assert_eq!(encode(&mut encoder, &fields), [0xbe]); // index 62
    }

    #[test]
    fn sensitive_fields_are_never_indexed_even_if_present_in_a_table() {
        let mut encoder = Encoder::new();
        let plain = HeaderField::new("x-key", "v");
        encode(&mut encoder, std::slice::from_ref(&plain));
        let secret = HeaderField::sensitive("x-key", "v");
        let bytes = encode(&mut encoder, &[secret]);
        // 0x1f 0x2f: never indexed, name index 62 (15 + 47); then raw "v".
        assert_eq!(bytes, [0x1f, 0x2f, 0x01, b'v']);
        // And a sensitive field with a static exact match is not sent as that index.
        let bytes = encode(&mut encoder, &[HeaderField::sensitive(":method", "GET")]);
        assert_eq!(bytes[0], 0x12);
    }

    #[test]
    fn authorization_and_short_cookies_are_never_indexed_automatically() {
        let mut encoder = Encoder::new();
        let bytes = encode(
            &mut encoder,
            &[HeaderField::new("authorization", "Bearer x")],
        );
        assert_eq!(bytes[0], 0x1f); // never indexed, name index 23 = 15 + 8
        assert_eq!(bytes[1], 0x08);
        let bytes = encode(&mut encoder, &[HeaderField::new("cookie", "id=1")]);
        assert_eq!(bytes[0] & 0xf0, 0x10);
        let long_cookie = HeaderField::new("cookie", "session=0123456789abcdefghij");
        let bytes = encode(&mut encoder, &[long_cookie]);
        assert_eq!(bytes[0] & 0xc0, 0x40);
        assert_eq!(encoder.dynamic_table().count(), 1);
    }

    #[test]
    fn churning_names_are_not_indexed() {
        let mut encoder = Encoder::new();
        let bytes = encode(&mut encoder, &[HeaderField::new("grpc-timeout", "1S")]);
        assert_eq!(bytes[0], 0x00);
        let bytes = encode(&mut encoder, &[HeaderField::new("content-length", "1234")]);
        assert_eq!(bytes[0], 0x0f); // without indexing, name index 28 = 15 + 13
        assert_eq!(bytes[1], 0x0d);
        assert_eq!(encoder.dynamic_table().count(), 0);
    }

    #[test]
    fn entries_larger_than_three_quarters_of_the_table_are_not_indexed() {
        let mut encoder = Encoder::new();
        let big = HeaderField::new("x-big", "v".repeat(3100));
        let bytes = encode(&mut encoder, &[big]);
        assert_eq!(bytes[0], 0x00);
        assert_eq!(encoder.dynamic_table().count(), 0);
    }

    #[test]
    fn lowered_size_is_signalled_once_at_the_start_of_the_next_block() {
        let mut encoder = Encoder::new();
        encoder.set_max_table_size(1000);
        let bytes = encode(&mut encoder, &[HeaderField::new(":method", "GET")]);
        // 1000 = 31 + 969 = 31 + 0x49 + (7 << 7)
        assert_eq!(bytes, [0x3f, 0xc9, 0x07, 0x82]);
        assert_eq!(encode(&mut encoder, &[]), Vec::<u8>::new());
        assert_eq!(encoder.dynamic_table_max_size(), 1000);
    }

    #[test]
    fn lowered_then_raised_size_is_signalled_as_two_updates() {
        let mut encoder = Encoder::new();
        encoder.set_max_table_size(0);
        encoder.set_max_table_size(4096);
        let bytes = encode(&mut encoder, &[]);
        assert_eq!(bytes, [0x20, 0x3f, 0xe1, 0x1f]);
        assert_eq!(encoder.dynamic_table_max_size(), 4096);
    }

    #[test]
    fn peer_size_above_the_cap_is_capped_and_raising_the_cap_is_signalled() {
        let mut encoder = Encoder::new();
        encoder.set_max_table_size(65536);
        assert_eq!(encode(&mut encoder, &[]), Vec::<u8>::new());
        assert_eq!(encoder.dynamic_table_max_size(), 4096);
        encoder.set_table_size_cap(8192);
        // 8192 = 31 + 0x61 + (0x3f << 7)
        assert_eq!(encode(&mut encoder, &[]), [0x3f, 0xe1, 0x3f]);
    }

    #[test]
    fn shrinking_evicts_and_forgets_entries() {
        let mut encoder = Encoder::new();
        let field = HeaderField::new("x-a", "1");
        encode(&mut encoder, std::slice::from_ref(&field));
        encoder.set_max_table_size(0);
        encoder.set_max_table_size(4096);
        let bytes = encode(&mut encoder, std::slice::from_ref(&field));
        // Two updates, then the field as a new literal again (not index 62).
        assert_eq!(&bytes[..4], [0x20, 0x3f, 0xe1, 0x1f]);
        assert_eq!(bytes[4], 0x40);
        assert!(encoder.by_field.len() == 1 && encoder.by_name.len() == 1);
    }

    #[test]
    fn eviction_keeps_the_maps_in_step_with_the_table() {
        let mut encoder = Encoder::new();
        encoder.set_table_size_cap(200);
        for round in 0..50 {
            let fields: Vec<_> = (0..4)
                .map(|i| HeaderField::new(format!("x-{}", (round + i) % 7), "value"))
                .collect();
            encode(&mut encoder, &fields);
            assert!(encoder.by_field.len() <= encoder.table.len());
            assert!(encoder.by_name.len() <= encoder.table.len());
        }
    }
}
