//! The dynamic table (RFC 7541 §2.3.2, §4).
//!
//! A FIFO of header fields: new entries go in at the front (HPACK index 62 is always the
//! newest), old ones are evicted from the back. Its size is the sum of the entry sizes, each
//! `name + value + 32` octets (§4.1), and never exceeds the maximum size (§4.2).
//!
//! Entries are stored oldest first in a `VecDeque`, so both insertion and eviction are O(1).
//! Every entry also gets an *absolute* number (how many entries were inserted before it),
//! which never changes while it lives: the encoder's lookup maps point at absolute numbers, so
//! eviction does not have to renumber anything, and an absolute number converts to an HPACK
//! index with one subtraction.
//!
//! Stored strings are copied into storage owned by the table (a chunked arena), never kept as
//! slices of the header block they arrived in: a slice would keep the whole block (up to the
//! header list limit, megabytes) alive for as long as a 40-octet entry stays in the table, so a
//! peer could pin `table entries × block size` of memory. Because entries are stored in
//! insertion order and evicted in the same order, the arena's chunks are released in order
//! too, and the table pins about its own maximum size plus one chunk. Names that are also in
//! the static table are not copied at all: they point at the static string.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use super::static_table;

/// The per-entry overhead counted in an entry's size (§4.1).
pub(crate) const ENTRY_OVERHEAD: usize = 32;

/// Size of the first storage chunk for entry strings; later chunks double up to
/// [`STORAGE_CHUNK_MAX`]. Starting small keeps idle connections cheap (and keeps the first
/// allocations in the allocator's small-object fast path).
const STORAGE_CHUNK_MIN: usize = 512;

/// Largest storage chunk (larger entries get a chunk of their own size).
const STORAGE_CHUNK_MAX: usize = 4096;

/// Entries the table makes room for on its first insertion (64 octets each in the decoder).
const INITIAL_ENTRIES: usize = 16;

/// The size §4.1 gives an entry with these name and value lengths.
#[inline]
pub(crate) fn entry_size(name_len: usize, value_len: usize) -> usize {
    name_len
        .saturating_add(value_len)
        .saturating_add(ENTRY_OVERHEAD)
}

/// One dynamic table entry. `M` is extra data the owner keeps per entry (the encoder keeps the
/// hashes its lookup maps use).
///
/// The name and value are stored back to back in one `Bytes` (one reference count to take and
/// release per entry instead of two); a name that is also a static-table name is not stored at
/// all but points at the static string.
#[derive(Debug)]
pub(crate) struct Entry<M> {
    /// The name (unless static) followed by the value.
    data: Bytes,
    name: EntryName,
    pub(crate) meta: M,
}

#[derive(Debug)]
enum EntryName {
    /// A static-table name.
    Static(&'static str),
    /// The first `n` octets of `data`.
    Stored(usize),
}

impl<M> Entry<M> {
    /// Octets of `data` taken by the name.
    #[inline]
    fn stored_name_len(&self) -> usize {
        match self.name {
            EntryName::Static(_) => 0,
            EntryName::Stored(len) => len,
        }
    }

    /// The name.
    #[inline]
    pub(crate) fn name(&self) -> &[u8] {
        match self.name {
            EntryName::Static(name) => name.as_bytes(),
            // The stored name length is at most `data.len()` by construction: cannot fail.
            EntryName::Stored(len) => self.data.get(..len).unwrap_or_default(),
        }
    }

    /// The value.
    #[inline]
    pub(crate) fn value(&self) -> &[u8] {
        // Same invariant as `name`.
        self.data.get(self.stored_name_len()..).unwrap_or_default()
    }

    /// The name as `Bytes`: free for static names, a reference count otherwise.
    #[inline]
    pub(crate) fn name_bytes(&self) -> Bytes {
        match self.name {
            EntryName::Static(name) => Bytes::from_static(name.as_bytes()),
            // `len <= data.len()` by construction: `slice` cannot panic.
            EntryName::Stored(len) => self.data.slice(..len),
        }
    }

    /// The value as `Bytes` (a reference count).
    #[inline]
    pub(crate) fn value_bytes(&self) -> Bytes {
        // `stored_name_len() <= data.len()` by construction: `slice` cannot panic.
        self.data.slice(self.stored_name_len()..)
    }

    /// The entry's size (§4.1).
    #[inline]
    pub(crate) fn size(&self) -> usize {
        entry_size(self.name().len(), self.value().len())
    }
}

/// The dynamic table.
#[derive(Debug)]
pub(crate) struct DynamicTable<M = ()> {
    /// Oldest entry first.
    entries: VecDeque<Entry<M>>,
    /// Sum of entry sizes.
    size: usize,
    /// Current maximum size, as set by the last dynamic table size update.
    max_size: usize,
    /// Number of entries ever inserted: the absolute number of the next entry.
    inserted: u64,
    /// Arena for the strings of stored entries.
    storage: BytesMut,
    /// Size of the next storage chunk.
    next_chunk: usize,
}

impl<M> DynamicTable<M> {
    /// An empty table with the given maximum size.
    pub(crate) fn new(max_size: usize) -> Self {
        DynamicTable {
            entries: VecDeque::new(),
            size: 0,
            max_size,
            inserted: 0,
            storage: BytesMut::new(),
            next_chunk: STORAGE_CHUNK_MIN,
        }
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Sum of entry sizes (§4.1).
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// The current maximum size.
    pub(crate) fn max_size(&self) -> usize {
        self.max_size
    }

    /// The entry at 1-based `index` counted from the newest (HPACK index minus 61), or `None`.
    #[inline]
    pub(crate) fn get(&self, index: usize) -> Option<&Entry<M>> {
        let position = self.entries.len().checked_sub(index)?;
        if index == 0 {
            return None;
        }
        self.entries.get(position)
    }

    /// Entries from newest to oldest (HPACK index order).
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Entry<M>> {
        self.entries.iter().rev()
    }

    /// Absolute number of the oldest entry still in the table.
    #[inline]
    fn first_absolute(&self) -> u64 {
        // Invariant: every entry was inserted, so `inserted >= len`: cannot underflow.
        self.inserted - self.entries.len() as u64
    }

    /// Absolute number the most recently inserted entry got.
    pub(crate) fn newest_absolute(&self) -> Option<u64> {
        self.inserted.checked_sub(1)
    }

    /// The entry with absolute number `absolute`, if it is still in the table.
    #[inline]
    pub(crate) fn get_absolute(&self, absolute: u64) -> Option<&Entry<M>> {
        let position = absolute.checked_sub(self.first_absolute())?;
        self.entries.get(usize::try_from(position).ok()?)
    }

    /// The 1-based index (from the newest) of the entry with absolute number `absolute`, if it
    /// is still in the table.
    #[inline]
    pub(crate) fn index_of_absolute(&self, absolute: u64) -> Option<usize> {
        if absolute < self.first_absolute() || absolute >= self.inserted {
            return None;
        }
        usize::try_from(self.inserted - absolute).ok()
    }

    /// Changes the maximum size, evicting from the oldest end until the table fits (§4.3).
    pub(crate) fn set_max_size(&mut self, max_size: usize, on_evict: impl FnMut(u64, Entry<M>)) {
        self.max_size = max_size;
        self.evict_until(max_size, on_evict);
    }

    /// Adds an entry at the front (§4.4): first evicts old entries until it fits; if it is
    /// larger than the maximum size on its own, the table ends up empty and nothing is added.
    /// The strings are copied into the table's storage. Returns the stored entry, if any.
    pub(crate) fn insert(
        &mut self,
        name: &[u8],
        value: &[u8],
        meta: M,
        mut on_evict: impl FnMut(u64, Entry<M>),
    ) -> Option<&Entry<M>> {
        let size = entry_size(name.len(), value.len());
        if size > self.max_size {
            self.evict_until(0, &mut on_evict);
            return None;
        }
        // `size <= max_size` was just checked: cannot underflow.
        self.evict_until(self.max_size - size, &mut on_evict);
        let (name, data) = match static_table::name_index(name).and_then(static_table::get) {
            Some((static_name, _)) => (EntryName::Static(static_name), self.store(&[], value)),
            None => (EntryName::Stored(name.len()), self.store(name, value)),
        };
        if self.entries.capacity() == 0 {
            self.entries.reserve(INITIAL_ENTRIES);
        }
        self.entries.push_back(Entry { data, name, meta });
        // The evictions above left `self.size <= max_size - size`: cannot overflow.
        self.size += size;
        self.inserted += 1;
        self.entries.back()
    }

    /// Evicts every entry, as an insertion of an entry larger than the maximum size does.
    pub(crate) fn evict_all(&mut self, on_evict: impl FnMut(u64, Entry<M>)) {
        self.evict_until(0, on_evict);
    }

    /// Evicts oldest entries until the size is at most `target`.
    fn evict_until(&mut self, target: usize, mut on_evict: impl FnMut(u64, Entry<M>)) {
        while self.size > target {
            let absolute = self.first_absolute();
            let Some(entry) = self.entries.pop_front() else {
                // `size` is the sum of the entries' sizes, so a positive size means there is an
                // entry; this branch cannot be taken. Resynchronise rather than loop.
                self.size = 0;
                break;
            };
            // Invariant: `size` is the sum of the entries' sizes: cannot underflow.
            self.size -= entry.size();
            on_evict(absolute, entry);
        }
    }

    /// Copies `first` and `second`, back to back, into the storage arena.
    fn store(&mut self, first: &[u8], second: &[u8]) -> Bytes {
        let len = first.len() + second.len();
        if len == 0 {
            return Bytes::new();
        }
        // `storage` is always empty here (every use splits all of it off), so reserving makes
        // room at the start of a chunk, reusing the old chunk if every entry in it is gone.
        if self.storage.capacity() < len {
            self.storage.reserve(len.max(self.next_chunk));
            self.next_chunk = (self.next_chunk * 2).min(STORAGE_CHUNK_MAX);
        }
        self.storage.extend_from_slice(first);
        self.storage.extend_from_slice(second);
        self.storage.split().freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents<M>(table: &DynamicTable<M>) -> Vec<(String, String)> {
        table
            .iter()
            .map(|entry| {
                (
                    String::from_utf8_lossy(entry.name()).into_owned(),
                    String::from_utf8_lossy(entry.value()).into_owned(),
                )
            })
            .collect()
    }

    fn insert(table: &mut DynamicTable, name: &str, value: &str) -> Vec<u64> {
        let mut evicted = Vec::new();
        table.insert(name.as_bytes(), value.as_bytes(), (), |absolute, _| {
            evicted.push(absolute)
        });
        evicted
    }

    #[test]
    fn size_is_the_sum_of_name_value_and_32() {
        let mut table = DynamicTable::new(4096);
        insert(&mut table, "custom-key", "custom-header");
        assert_eq!(table.size(), 10 + 13 + 32);
        insert(&mut table, "a", "");
        assert_eq!(table.size(), 55 + 33);
        assert_eq!(table.len(), 2);
    }

    #[test]
    fn newest_entry_has_index_one() {
        let mut table = DynamicTable::new(4096);
        insert(&mut table, "a", "1");
        insert(&mut table, "b", "2");
        assert_eq!(table.get(1).unwrap().name(), b"b");
        assert_eq!(table.get(2).unwrap().name(), b"a");
        assert!(table.get(0).is_none());
        assert!(table.get(3).is_none());
    }

    #[test]
    fn insertion_evicts_oldest_entries_until_the_new_one_fits() {
        // Each entry is 34 octets; 100 holds two.
        let mut table = DynamicTable::new(100);
        assert!(insert(&mut table, "a", "1").is_empty());
        assert!(insert(&mut table, "b", "2").is_empty());
        assert_eq!(insert(&mut table, "c", "3"), [0]);
        assert_eq!(
            contents(&table),
            [("c".into(), "3".into()), ("b".into(), "2".into())]
        );
        assert_eq!(table.size(), 68);
    }

    #[test]
    fn entry_larger_than_the_maximum_empties_the_table() {
        let mut table = DynamicTable::new(100);
        insert(&mut table, "a", "1");
        insert(&mut table, "b", "2");
        let evicted = insert(&mut table, "big", &"x".repeat(70));
        assert_eq!(evicted, [0, 1]);
        assert_eq!(table.len(), 0);
        assert_eq!(table.size(), 0);
    }

    #[test]
    fn entry_exactly_the_maximum_size_fits() {
        let mut table = DynamicTable::new(40);
        insert(&mut table, "abcd", "efgh");
        assert_eq!(table.size(), 40);
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn lowering_the_maximum_evicts_and_zero_empties() {
        let mut table = DynamicTable::new(4096);
        for name in ["a", "b", "c"] {
            insert(&mut table, name, "1");
        }
        let mut evicted = Vec::new();
        table.set_max_size(68, |absolute, _| evicted.push(absolute));
        assert_eq!(evicted, [0]);
        assert_eq!(table.len(), 2);
        table.set_max_size(0, |absolute, _| evicted.push(absolute));
        assert_eq!(evicted, [0, 1, 2]);
        assert_eq!(table.size(), 0);
        // Nothing fits in a zero-sized table.
        insert(&mut table, "a", "");
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn absolute_numbers_survive_eviction() {
        let mut table = DynamicTable::new(100);
        insert(&mut table, "a", "1"); // absolute 0
        insert(&mut table, "b", "2"); // absolute 1
        insert(&mut table, "c", "3"); // absolute 2, evicts 0
        assert!(table.get_absolute(0).is_none());
        assert_eq!(table.index_of_absolute(0), None);
        assert_eq!(table.get_absolute(1).unwrap().name(), b"b");
        assert_eq!(table.index_of_absolute(1), Some(2));
        assert_eq!(table.index_of_absolute(2), Some(1));
        assert_eq!(table.index_of_absolute(3), None);
        assert_eq!(table.newest_absolute(), Some(2));
    }

    #[test]
    fn strings_are_copied_and_static_names_are_not() {
        let mut table = DynamicTable::new(4096);
        let block = Bytes::from(b"user-agent".to_vec());
        table.insert(&block, b"x", (), |_, _| {});
        let entry = table.get(1).unwrap();
        assert_eq!(entry.name(), b"user-agent");
        assert_eq!(entry.value(), b"x");
        // Static names point at the static table's bytes.
        let static_name = static_table::get(58).unwrap().0;
        assert_eq!(entry.name().as_ptr(), static_name.as_ptr());
        assert_eq!(entry.name_bytes().as_ptr(), static_name.as_ptr());
        assert_ne!(entry.value().as_ptr(), block.as_ptr());
    }
}
