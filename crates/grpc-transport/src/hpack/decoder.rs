//! Header block decoding (RFC 7541 §3, §6), with the header list size limit enforced while
//! decoding (RFC 9113 §6.5.2).
//!
//! The details are documented on [`Decoder`].

use std::fmt;

use bytes::{Bytes, BytesMut};

use super::field::HeaderField;
use super::huffman::{self, HuffmanError};
use super::integer::{self, IntegerError};
use super::static_table;
use super::string::{self, RawString};
use super::table::{self, DynamicTable};
use crate::ErrorCode;

/// The initial SETTINGS_HEADER_TABLE_SIZE (RFC 9113 §6.5.2) and so the initial maximum size of
/// the dynamic table.
pub const DEFAULT_HEADER_TABLE_SIZE: usize = 4096;

/// The header list size limit a new [`Decoder`] enforces, in octets as RFC 9113 §6.5.2 counts
/// them (name + value + 32 per field). Matches gRPC-Go's default; servers should advertise and
/// set something smaller.
pub const DEFAULT_MAX_HEADER_LIST_SIZE: usize = 16 * 1024 * 1024;

/// Growth step of the arena Huffman-decoded strings are written to.
const ARENA_CHUNK: usize = 4096;

/// Why a header block could not be decoded.
///
/// Every variant except [`DecoderError::HeaderListTooLarge`] means the compression context is
/// lost: RFC 9113 §4.3 requires the connection to be closed with a COMPRESSION_ERROR
/// ([`DecoderError::code`], [`DecoderError::is_connection_error`]) and the decoder must not be
/// used again.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecoderError {
    /// An integer exceeded `u32::MAX` or used more than 5 continuation octets (§5.1 lets a
    /// decoder limit both).
    IntegerOverflow,
    /// The block ended in the middle of a representation.
    Truncated,
    /// A string literal's length runs past the end of the block (§5.2).
    StringPastEnd {
        /// The length the string claimed.
        length: usize,
        /// Octets left in the block after the length.
        remaining: usize,
    },
    /// A Huffman-coded string was malformed (§5.2).
    InvalidHuffman(HuffmanError),
    /// An index was 0 or beyond the static and dynamic tables (§2.3.3, §6.1).
    InvalidIndex {
        /// The index received.
        index: usize,
        /// The largest valid index at that point (61 + dynamic table entries).
        max: usize,
    },
    /// A dynamic table size update exceeded the SETTINGS_HEADER_TABLE_SIZE limit (§6.3).
    SizeUpdateTooLarge {
        /// The size the update asked for.
        requested: usize,
        /// The acknowledged setting.
        limit: usize,
    },
    /// A dynamic table size update came after a header field representation (§4.2: updates
    /// must be at the beginning of a block).
    SizeUpdateNotAtStart,
    /// We lowered SETTINGS_HEADER_TABLE_SIZE below the table's size, and this block did not
    /// begin with a size update to at most the smallest value set since the last block (§4.2).
    MissingSizeUpdate {
        /// The size the block had to signal, at most.
        required_at_most: usize,
    },
    /// The decoded header list exceeded the limit set with
    /// [`Decoder::set_max_header_list_size`]. The whole block was still processed, so the
    /// compression context is intact; only this header list is lost. See
    /// [`DecoderError::code`] for what to do with the stream.
    HeaderListTooLarge {
        /// The limit that was exceeded.
        limit: usize,
    },
}

impl DecoderError {
    /// The HTTP/2 error code to send.
    ///
    /// COMPRESSION_ERROR for everything except [`DecoderError::HeaderListTooLarge`]. For that
    /// one we suggest REFUSED_STREAM as a stream error (RST_STREAM): RFC 9113 §8.7 defines it as
    /// "closed before any processing", which is exactly the case (the application never saw
    /// the request), and RFC 9113 §10.5.1 only requires that the block was processed so the
    /// connection survives. A server that can still respond may instead answer with HTTP 431
    /// (Request Header Fields Too Large, RFC 6585) before resetting; a client that gets a
    /// too-large response should reset with CANCEL and fail the call locally.
    pub fn code(&self) -> ErrorCode {
        match self {
            DecoderError::HeaderListTooLarge { .. } => ErrorCode::REFUSED_STREAM,
            _ => ErrorCode::COMPRESSION_ERROR,
        }
    }

    /// Whether the connection must be closed (GOAWAY with [`DecoderError::code`]). `false`
    /// only for [`DecoderError::HeaderListTooLarge`], which is a stream error.
    pub fn is_connection_error(&self) -> bool {
        !matches!(self, DecoderError::HeaderListTooLarge { .. })
    }
}

impl fmt::Display for DecoderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecoderError::IntegerOverflow => f.write_str("HPACK integer too large"),
            DecoderError::Truncated => f.write_str("header block ends inside a representation"),
            DecoderError::StringPastEnd { length, remaining } => write!(
                f,
                "string literal of {length} octets but only {remaining} left in the header block"
            ),
            DecoderError::InvalidHuffman(error) => write!(f, "invalid Huffman string: {error}"),
            DecoderError::InvalidIndex { index, max } => {
                write!(f, "header table index {index} is not in 1..={max}")
            }
            DecoderError::SizeUpdateTooLarge { requested, limit } => write!(
                f,
                "dynamic table size update to {requested} exceeds SETTINGS_HEADER_TABLE_SIZE {limit}"
            ),
            DecoderError::SizeUpdateNotAtStart => {
                f.write_str("dynamic table size update after a header field")
            }
            DecoderError::MissingSizeUpdate { required_at_most } => write!(
                f,
                "header block must start with a dynamic table size update to at most {required_at_most}"
            ),
            DecoderError::HeaderListTooLarge { limit } => {
                write!(f, "header list larger than the limit of {limit} octets")
            }
        }
    }
}

impl std::error::Error for DecoderError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DecoderError::InvalidHuffman(error) => Some(error),
            _ => None,
        }
    }
}

impl From<IntegerError> for DecoderError {
    fn from(error: IntegerError) -> Self {
        match error {
            IntegerError::Truncated => DecoderError::Truncated,
            IntegerError::Overflow => DecoderError::IntegerOverflow,
        }
    }
}

impl From<HuffmanError> for DecoderError {
    fn from(error: HuffmanError) -> Self {
        DecoderError::InvalidHuffman(error)
    }
}

/// An HPACK decoder: one per connection, fed every header block the peer sends, in order.
///
/// The header list size limit (RFC 9113 §6.5.2) is enforced while decoding, and a block that
/// exceeds it is still processed to the end so the compression context survives (RFC 9113
/// §10.5.1).
///
/// # What a hostile block cannot do
///
/// - Make us allocate before we know the data is there: a string's length is checked against
///   the rest of the block before anything happens to it, and integers give up after
///   6 continuation octets or above `u32::MAX` ([`integer`](super::integer)).
/// - Make us buffer more than the header list limit: before a literal is decoded its size is
///   bounded from above (a Huffman string of `n` octets decodes to at most `8n/5`); if that
///   bound does not fit in what is left of the limit, the exact size is computed by running the
///   Huffman state machine without output. Fields are delivered only while the running total of
///   `name + value + 32` stays within the limit. Referencing a 4 KiB table entry a thousand
///   times (the "HPACK bomb") therefore delivers fields up to the limit and then nothing more.
/// - Desynchronise the dynamic table: once the limit is exceeded we keep decoding the block —
///   table insertions and size updates still happen, strings that go into the table are decoded
///   (their size is bounded by the table size), strings that go nowhere are only validated —
///   and report [`DecoderError::HeaderListTooLarge`] at the end. That error is not a connection
///   error: the connection (and its compression context) stays usable.
/// - Pin memory through the table: stored entries are copied into storage owned by the table,
///   never kept as slices of the block they came in. A slice would keep the whole block (up to
///   the header list limit) alive as long as a small entry stays in the table. The storage is
///   filled and released in insertion order, so the table pins about its own size.
///
/// # Allocation
///
/// Raw (non-Huffman) literal strings are delivered as slices of the block (`Bytes::slice`, no
/// copy), except those added to the dynamic table, which are delivered as the table's copy (see
/// above). Huffman strings are decoded into an arena (`BytesMut`) that grows by 4 KiB chunks and
/// is split off per string, so steady-state decoding does not allocate per string (strings that
/// may decode to more than a chunk get an allocation of their own, so the arena never holds
/// on to a large buffer). Fields from
/// the tables are `Bytes` clones (a reference count, or nothing for static-table strings and
/// for dynamic entries whose name is a static-table name).
#[derive(Debug)]
pub struct Decoder {
    table: DynamicTable,
    /// The acknowledged SETTINGS_HEADER_TABLE_SIZE: the ceiling for size updates.
    table_size_setting: usize,
    /// If we lowered the setting below the table's maximum size: the smallest value set since
    /// the last block, which the next block must signal (§4.2).
    required_update: Option<usize>,
    max_header_list_size: usize,
    /// Where Huffman-decoded strings that are delivered but not stored are written.
    arena: BytesMut,
    /// Reused buffer for strings on their way into the dynamic table.
    scratch: BytesMut,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

/// Per-block decoding state.
struct BlockState {
    pos: usize,
    /// Sum of the sizes of the fields delivered so far.
    list_size: usize,
    /// The limit was exceeded: deliver nothing more.
    over_limit: bool,
    /// No field representation yet: size updates are still allowed.
    at_start: bool,
    /// The size update this block must contain (taken from the decoder).
    required_update: Option<usize>,
    /// Smallest size update seen at the start of this block.
    smallest_update: Option<usize>,
}

impl BlockState {
    /// Called on the first field representation and at the end of the block: closes the
    /// window for size updates and checks that a required one came.
    #[inline]
    fn end_of_updates(&mut self) -> Result<(), DecoderError> {
        self.at_start = false;
        if let Some(required) = self.required_update.take() {
            if self
                .smallest_update
                .is_none_or(|smallest| smallest > required)
            {
                return Err(DecoderError::MissingSizeUpdate {
                    required_at_most: required,
                });
            }
        }
        Ok(())
    }

    /// Whether a field of (at most) `size` octets can still be delivered under `limit`.
    #[inline]
    fn fits(&self, size: usize, limit: usize) -> bool {
        !self.over_limit && self.list_size.saturating_add(size) <= limit
    }
}

/// The field representations of §6, from the first octet.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Literal {
    /// §6.2.1: add to the dynamic table.
    IncrementalIndexing,
    /// §6.2.2
    WithoutIndexing,
    /// §6.2.3: also never index it further along.
    NeverIndexed,
}

/// Where a literal's name comes from.
enum Name {
    /// An index into the tables (§6.2, "indexed name").
    Indexed(Bytes),
    /// A string literal in the block ("new name").
    Literal(RawString),
}

impl Name {
    #[inline]
    fn max_len(&self) -> usize {
        match self {
            Name::Indexed(name) => name.len(),
            Name::Literal(raw) => raw.max_decoded_len(),
        }
    }

    #[inline]
    fn exact_len(&self, block: &[u8]) -> Result<usize, DecoderError> {
        match self {
            Name::Indexed(name) => Ok(name.len()),
            Name::Literal(raw) => raw.exact_decoded_len(block),
        }
    }
}

impl Decoder {
    /// A decoder for a new connection: dynamic table size 4096 (the protocol's initial
    /// SETTINGS_HEADER_TABLE_SIZE) and a header list limit of
    /// [`DEFAULT_MAX_HEADER_LIST_SIZE`].
    pub fn new() -> Decoder {
        Decoder {
            table: DynamicTable::new(DEFAULT_HEADER_TABLE_SIZE),
            table_size_setting: DEFAULT_HEADER_TABLE_SIZE,
            required_update: None,
            max_header_list_size: DEFAULT_MAX_HEADER_LIST_SIZE,
            arena: BytesMut::new(),
            scratch: BytesMut::new(),
        }
    }

    /// Records the SETTINGS_HEADER_TABLE_SIZE we advertised, once the peer has acknowledged it:
    /// the largest size a dynamic table size update may ask for from now on.
    ///
    /// If it is below the table's current maximum size, the peer's encoder must shrink its
    /// table, so the next header block must begin with a size update no larger than the
    /// smallest value set since the last block (§4.2); a block without one fails with
    /// [`DecoderError::MissingSizeUpdate`]. Raising the setting requires nothing: the encoder
    /// may keep its smaller table.
    pub fn set_max_table_size_setting(&mut self, size: usize) {
        self.table_size_setting = size;
        if size < self.table.max_size() {
            self.required_update = Some(self.required_update.map_or(size, |old| old.min(size)));
        }
    }

    /// The acknowledged SETTINGS_HEADER_TABLE_SIZE.
    pub fn max_table_size_setting(&self) -> usize {
        self.table_size_setting
    }

    /// Sets the header list size limit (name + value + 32 per field, as RFC 9113 §6.5.2
    /// counts), normally the SETTINGS_MAX_HEADER_LIST_SIZE we advertised.
    pub fn set_max_header_list_size(&mut self, size: usize) {
        self.max_header_list_size = size;
    }

    /// The header list size limit.
    pub fn max_header_list_size(&self) -> usize {
        self.max_header_list_size
    }

    /// The dynamic table's entries as `(name, value)`, newest (HPACK index 62) first.
    pub fn dynamic_table(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.table.iter().map(|entry| (entry.name(), entry.value()))
    }

    /// The dynamic table's size: the sum of its entry sizes (§4.1).
    pub fn dynamic_table_size(&self) -> usize {
        self.table.size()
    }

    /// The dynamic table's current maximum size (from the last size update, §4.2).
    pub fn dynamic_table_max_size(&self) -> usize {
        self.table.max_size()
    }

    /// Octets of capacity held by the decoder's string buffers (the Huffman arena and the
    /// scratch buffer for table insertions), not counting the dynamic table and chunks already
    /// handed out in delivered fields. For memory accounting and tests: it stays bounded by
    /// what was delivered or stored, whatever the peer sends.
    pub fn buffered_capacity(&self) -> usize {
        self.arena.capacity() + self.scratch.capacity()
    }

    /// Decodes one complete header block (the HEADERS or PUSH_PROMISE fragment plus all its
    /// CONTINUATION fragments, concatenated), calling `on_field` for each field in order.
    ///
    /// The callback style (rather than returning a `Vec`) lets the caller validate and store
    /// fields as they come, with no intermediate list; fields are owned (`Bytes`), so the
    /// caller can keep them.
    ///
    /// On [`DecoderError::HeaderListTooLarge`] the fields delivered so far (all within the
    /// limit) are the beginning of an incomplete list and should be discarded; the decoder
    /// remains usable. On any other error the connection must be closed.
    pub fn decode(
        &mut self,
        block: &Bytes,
        mut on_field: impl FnMut(HeaderField),
    ) -> Result<(), DecoderError> {
        let mut state = BlockState {
            pos: 0,
            list_size: 0,
            over_limit: false,
            at_start: true,
            required_update: self.required_update.take(),
            smallest_update: None,
        };
        while let Some(&first) = block.get(state.pos) {
            match first {
                // §6.1: 1xxxxxxx
                0x80..=0xff => self.indexed(block, &mut state, &mut on_field)?,
                // §6.2.1: 01xxxxxx
                0x40..=0x7f => self.literal(
                    block,
                    &mut state,
                    6,
                    Literal::IncrementalIndexing,
                    &mut on_field,
                )?,
                // §6.3: 001xxxxx
                0x20..=0x3f => self.size_update(block, &mut state)?,
                // §6.2.3: 0001xxxx
                0x10..=0x1f => {
                    self.literal(block, &mut state, 4, Literal::NeverIndexed, &mut on_field)?
                }
                // §6.2.2: 0000xxxx
                _ => self.literal(
                    block,
                    &mut state,
                    4,
                    Literal::WithoutIndexing,
                    &mut on_field,
                )?,
            }
        }
        if state.at_start {
            state.end_of_updates()?;
        }
        if state.over_limit {
            return Err(DecoderError::HeaderListTooLarge {
                limit: self.max_header_list_size,
            });
        }
        Ok(())
    }

    /// §6.1 Indexed Header Field.
    fn indexed(
        &mut self,
        block: &[u8],
        state: &mut BlockState,
        on_field: &mut impl FnMut(HeaderField),
    ) -> Result<(), DecoderError> {
        if state.at_start {
            state.end_of_updates()?;
        }
        let (index, used) = integer::decode(block.get(state.pos..).unwrap_or_default(), 7)?;
        state.pos += used;
        let limit = self.max_header_list_size;
        if let Some((name, value)) = static_index(index) {
            let size = table::entry_size(name.len(), value.len());
            if state.fits(size, limit) {
                state.list_size += size;
                on_field(HeaderField {
                    name: Bytes::from_static(name.as_bytes()),
                    value: Bytes::from_static(value.as_bytes()),
                    sensitive: false,
                });
            } else {
                state.over_limit = true;
            }
            return Ok(());
        }
        let entry = self.dynamic_entry(index)?;
        let size = entry.size();
        if state.fits(size, limit) {
            state.list_size += size;
            let field = HeaderField {
                name: entry.name_bytes(),
                value: entry.value_bytes(),
                sensitive: false,
            };
            on_field(field);
        } else {
            state.over_limit = true;
        }
        Ok(())
    }

    /// §6.2 Literal Header Field representations.
    fn literal(
        &mut self,
        block: &Bytes,
        state: &mut BlockState,
        prefix_bits: u8,
        kind: Literal,
        on_field: &mut impl FnMut(HeaderField),
    ) -> Result<(), DecoderError> {
        if state.at_start {
            state.end_of_updates()?;
        }
        let buf: &[u8] = block;
        let (index, used) = integer::decode(buf.get(state.pos..).unwrap_or_default(), prefix_bits)?;
        state.pos += used;
        let name = if index == 0 {
            Name::Literal(string::read(buf, &mut state.pos)?)
        } else if let Some((name, _)) = static_index(index) {
            Name::Indexed(Bytes::from_static(name.as_bytes()))
        } else {
            Name::Indexed(self.dynamic_entry(index)?.name_bytes())
        };
        let value = string::read(buf, &mut state.pos)?;

        // Decide whether this field will be delivered, without decoding it: first with the
        // upper bound on its size, then, only if that does not fit, with its exact size.
        let limit = self.max_header_list_size;
        let deliver = state.fits(
            table::entry_size(name.max_len(), value.max_decoded_len()),
            limit,
        ) || (!state.over_limit
            && state.fits(
                table::entry_size(name.exact_len(buf)?, value.exact_decoded_len(buf)?),
                limit,
            ));
        if !deliver {
            state.over_limit = true;
        }

        if kind == Literal::IncrementalIndexing {
            if let Some((name, value)) = self.insert(buf, &name, &value)? {
                if deliver {
                    state.list_size += table::entry_size(name.len(), value.len());
                    on_field(HeaderField {
                        name,
                        value,
                        sensitive: false,
                    });
                }
                return Ok(());
            }
            // Too large for the table: it is now empty (§4.4); deliver it like the others.
        }

        if !deliver {
            // Not delivered, not stored: only check that the strings are valid.
            name.exact_len(buf)?;
            value.exact_decoded_len(buf)?;
            return Ok(());
        }
        let name = match name {
            Name::Indexed(name) => name,
            Name::Literal(raw) => self.string(block, &raw)?,
        };
        let value = self.string(block, &value)?;
        state.list_size += table::entry_size(name.len(), value.len());
        on_field(HeaderField {
            name,
            value,
            sensitive: kind == Literal::NeverIndexed,
        });
        Ok(())
    }

    /// Adds a literal to the dynamic table (§6.2.1, §4.4) and returns the stored strings; or,
    /// if the entry is larger than the table's maximum size, empties the table and returns
    /// `None`. Strings are decoded into the reusable scratch buffer and copied into the
    /// table's storage, so nothing larger than the table is buffered.
    fn insert(
        &mut self,
        block: &[u8],
        name: &Name,
        value: &RawString,
    ) -> Result<Option<(Bytes, Bytes)>, DecoderError> {
        let max = self.table.max_size();
        let fits = table::entry_size(name.max_len(), value.max_decoded_len()) <= max
            || table::entry_size(name.exact_len(block)?, value.exact_decoded_len(block)?) <= max;
        if !fits {
            self.table.evict_all(|_, _| {});
            return Ok(None);
        }
        // Raw strings are copied straight from the block; Huffman strings are decoded into
        // the scratch buffer first.
        self.scratch.clear();
        let name_range = match name {
            Name::Literal(raw) if raw.huffman => {
                Some(append_huffman(&mut self.scratch, block, raw)?)
            }
            _ => None,
        };
        let value_range = if value.huffman {
            Some(append_huffman(&mut self.scratch, block, value)?)
        } else {
            None
        };
        // The ranges were just returned by `append_huffman` for this buffer, and `octets`
        // ranges were checked against the block by `string::read`: the fallbacks are never
        // taken.
        let name_octets: &[u8] = match (name, name_range) {
            (Name::Indexed(name), _) => name,
            (Name::Literal(_), Some(range)) => self.scratch.get(range).unwrap_or_default(),
            (Name::Literal(raw), None) => raw.octets(block),
        };
        let value_octets = match value_range {
            Some(range) => self.scratch.get(range).unwrap_or_default(),
            None => value.octets(block),
        };
        Ok(self
            .table
            .insert(name_octets, value_octets, (), |_, _| {})
            .map(|entry| (entry.name_bytes(), entry.value_bytes())))
    }

    /// §6.3 Dynamic Table Size Update.
    fn size_update(&mut self, block: &[u8], state: &mut BlockState) -> Result<(), DecoderError> {
        if !state.at_start {
            return Err(DecoderError::SizeUpdateNotAtStart);
        }
        let (size, used) = integer::decode(block.get(state.pos..).unwrap_or_default(), 5)?;
        state.pos += used;
        if size > self.table_size_setting {
            return Err(DecoderError::SizeUpdateTooLarge {
                requested: size,
                limit: self.table_size_setting,
            });
        }
        self.table.set_max_size(size, |_, _| {});
        state.smallest_update = Some(state.smallest_update.map_or(size, |old| old.min(size)));
        Ok(())
    }

    /// The dynamic table entry for HPACK index `index` (> 61).
    #[inline]
    fn dynamic_entry(&self, index: usize) -> Result<&table::Entry<()>, DecoderError> {
        index
            .checked_sub(static_table::LEN)
            .and_then(|relative| self.table.get(relative))
            .ok_or(DecoderError::InvalidIndex {
                index,
                max: static_table::LEN + self.table.len(),
            })
    }

    /// A literal string as `Bytes`: a slice of the block if raw, or decoded into the arena.
    fn string(&mut self, block: &Bytes, raw: &RawString) -> Result<Bytes, DecoderError> {
        if !raw.huffman {
            // `string::read` checked the range against this block: `slice` cannot panic.
            return Ok(block.slice(raw.range.clone()));
        }
        let octets = raw.octets(block);
        let needed = huffman::max_decoded_len(octets.len()).saturating_add(2);
        if needed > ARENA_CHUNK {
            // A long string gets a buffer of its own, freed with the delivered field; decoding
            // it into the arena would leave the arena holding up to 60% of its size as slack
            // for the rest of the connection.
            let mut own = BytesMut::with_capacity(needed);
            huffman::decode(octets, &mut own)?;
            return Ok(own.freeze());
        }
        if self.arena.capacity() < needed {
            // The arena is empty between strings (each is split off), so this makes room for
            // one chunk; a chunk still shared with delivered strings stays with them.
            self.arena.reserve(ARENA_CHUNK);
        }
        huffman::decode(octets, &mut self.arena)?;
        Ok(self.arena.split().freeze())
    }
}

/// The static table entry for HPACK index `index`, if it is in 1..=61.
#[inline]
fn static_index(index: usize) -> Option<(&'static str, &'static str)> {
    static_table::get(index)
}

/// Appends a Huffman string's decoded octets to `dst`; returns where they are.
fn append_huffman(
    dst: &mut BytesMut,
    block: &[u8],
    raw: &RawString,
) -> Result<std::ops::Range<usize>, DecoderError> {
    let start = dst.len();
    huffman::decode(raw.octets(block), dst)?;
    Ok(start..dst.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(decoder: &mut Decoder, block: &[u8]) -> Result<Vec<HeaderField>, DecoderError> {
        let mut fields = Vec::new();
        decoder
            .decode(&Bytes::copy_from_slice(block), |field| fields.push(field))
            .map(|()| fields)
    }

    #[test]
    fn static_indexed_field_is_delivered_without_copying() {
        let mut decoder = Decoder::new();
        let fields = decode(&mut decoder, &[0x82]).unwrap();
        assert_eq!(fields, [HeaderField::new(":method", "GET")]);
        assert_eq!(
            fields[0].name.as_ptr(),
            static_table::get(2).unwrap().0.as_ptr()
        );
    }

    #[test]
    fn raw_literal_value_is_a_slice_of_the_block() {
        let mut decoder = Decoder::new();
        // Literal without indexing, indexed name 4 (:path), raw value "/abc".
        let block = Bytes::from_static(&[0x04, 0x04, b'/', b'a', b'b', b'c']);
        let mut fields = Vec::new();
        decoder.decode(&block, |field| fields.push(field)).unwrap();
        assert_eq!(fields, [HeaderField::new(":path", "/abc")]);
        assert_eq!(fields[0].value.as_ptr(), block[2..].as_ptr());
    }

    #[test]
    fn never_indexed_literal_is_delivered_as_sensitive() {
        let mut decoder = Decoder::new();
        // 0x10: never indexed, new name "a", value "b".
        let fields = decode(&mut decoder, &[0x10, 0x01, b'a', 0x01, b'b']).unwrap();
        assert_eq!(fields, [HeaderField::sensitive("a", "b")]);
        assert_eq!(decoder.dynamic_table().count(), 0);
    }

    #[test]
    fn empty_block_is_an_empty_header_list() {
        let mut decoder = Decoder::new();
        assert_eq!(decode(&mut decoder, &[]), Ok(vec![]));
    }

    #[test]
    fn size_update_alone_is_accepted() {
        let mut decoder = Decoder::new();
        assert_eq!(decode(&mut decoder, &[0x20]), Ok(vec![]));
        assert_eq!(decoder.dynamic_table_max_size(), 0);
    }

    #[test]
    fn lowered_setting_requires_an_update_in_the_next_block_only() {
        let mut decoder = Decoder::new();
        decoder.set_max_table_size_setting(100);
        assert_eq!(
            decode(&mut decoder, &[0x82]),
            Err(DecoderError::MissingSizeUpdate {
                required_at_most: 100
            })
        );

        let mut decoder = Decoder::new();
        decoder.set_max_table_size_setting(100);
        // 0x3f 0x45: size update to 31 + 69 = 100.
        assert!(decode(&mut decoder, &[0x3f, 0x45, 0x82]).is_ok());
        assert_eq!(decoder.dynamic_table_max_size(), 100);
        // The obligation is met: later blocks need no update.
        assert!(decode(&mut decoder, &[0x82]).is_ok());
    }

    #[test]
    fn lowered_then_raised_setting_requires_the_smallest_value() {
        let mut decoder = Decoder::new();
        decoder.set_max_table_size_setting(100);
        decoder.set_max_table_size_setting(4096);
        // Only signalling 4096 is not enough: 100 was in force at some point.
        // 0x3f 0xe1 0x1f: 31 + 0x61 + (0x1f << 7) = 4096.
        assert_eq!(
            decode(&mut decoder, &[0x3f, 0xe1, 0x1f, 0x82]),
            Err(DecoderError::MissingSizeUpdate {
                required_at_most: 100
            })
        );

        let mut decoder = Decoder::new();
        decoder.set_max_table_size_setting(100);
        decoder.set_max_table_size_setting(4096);
        // 0x20 (0), then 4096: accepted.
        assert!(decode(&mut decoder, &[0x20, 0x3f, 0xe1, 0x1f, 0x82]).is_ok());
        assert_eq!(decoder.dynamic_table_max_size(), 4096);
    }

    #[test]
    fn raised_setting_requires_nothing_and_allows_larger_updates() {
        let mut decoder = Decoder::new();
        decoder.set_max_table_size_setting(8192);
        assert!(decode(&mut decoder, &[0x82]).is_ok());
        // 8192 = 31 + 8161 = 31 + 0x61 + (0x3f << 7)
        assert!(decode(&mut decoder, &[0x3f, 0xe1, 0x3f]).is_ok());
        assert_eq!(decoder.dynamic_table_max_size(), 8192);
    }

    #[test]
    fn size_update_evicts_entries() {
        let mut decoder = Decoder::new();
        // Literal with incremental indexing, new name "a" value "b" (34 octets).
        decode(&mut decoder, &[0x40, 0x01, b'a', 0x01, b'b']).unwrap();
        decode(&mut decoder, &[0x40, 0x01, b'c', 0x01, b'd']).unwrap();
        assert_eq!(decoder.dynamic_table_size(), 68);
        // Size update to 34: only the newest fits.
        decode(&mut decoder, &[0x3f, 0x03]).unwrap();
        let entries: Vec<_> = decoder.dynamic_table().collect();
        assert_eq!(entries, [(&b"c"[..], &b"d"[..])]);
    }

    #[test]
    fn literal_larger_than_the_table_empties_it_and_is_still_delivered() {
        let mut decoder = Decoder::new();
        decode(&mut decoder, &[0x40, 0x01, b'a', 0x01, b'b']).unwrap();
        decode(&mut decoder, &[0x3f, 0x03]).unwrap(); // max 34
        let fields = decode(&mut decoder, &[0x40, 0x01, b'x', 0x02, b'y', b'z']).unwrap();
        assert_eq!(fields, [HeaderField::new("x", "yz")]);
        assert_eq!(decoder.dynamic_table().count(), 0);
        assert_eq!(decoder.dynamic_table_size(), 0);
    }

    #[test]
    fn literal_with_indexed_name_survives_eviction_of_that_name() {
        let mut decoder = Decoder::new();
        decode(&mut decoder, &[0x3f, 0x03]).unwrap(); // max 34: one small entry
        decode(&mut decoder, &[0x40, 0x01, b'a', 0x01, b'b']).unwrap();
        // Incremental literal with name index 62 (the entry it will evict), value "c".
        let fields = decode(&mut decoder, &[0x7e, 0x01, b'c']).unwrap();
        assert_eq!(fields, [HeaderField::new("a", "c")]);
        let entries: Vec<_> = decoder.dynamic_table().collect();
        assert_eq!(entries, [(&b"a"[..], &b"c"[..])]);
    }

    #[test]
    fn error_codes_distinguish_connection_and_stream_errors() {
        let too_large = DecoderError::HeaderListTooLarge { limit: 1 };
        assert!(!too_large.is_connection_error());
        assert_eq!(too_large.code(), ErrorCode::REFUSED_STREAM);
        for error in [
            DecoderError::IntegerOverflow,
            DecoderError::Truncated,
            DecoderError::InvalidHuffman(HuffmanError::EndOfString),
            DecoderError::InvalidIndex { index: 0, max: 61 },
            DecoderError::SizeUpdateNotAtStart,
        ] {
            assert!(error.is_connection_error());
            assert_eq!(error.code(), ErrorCode::COMPRESSION_ERROR);
            assert!(!error.to_string().is_empty());
        }
    }

    #[test]
    fn huffman_strings_share_the_arena_chunk() {
        let mut decoder = Decoder::new();
        // Two never-indexed literals with Huffman "www.example.com" values.
        let mut block = Vec::new();
        for _ in 0..2 {
            block.extend_from_slice(&[0x11, 0x8c]); // never indexed, name 1
            block.extend_from_slice(&[
                0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff,
            ]);
        }
        let fields = decode(&mut decoder, &block).unwrap();
        assert_eq!(fields.len(), 2);
        assert_eq!(&fields[1].value[..], b"www.example.com");
        // The second string starts right after the first (plus the decoder's slack): same chunk.
        let gap = fields[1].value.as_ptr() as usize - fields[0].value.as_ptr() as usize;
        assert!(gap < 64, "gap {gap}");
    }
}
