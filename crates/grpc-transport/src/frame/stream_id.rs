//! Stream identifiers (RFC 9113 §5.1.1).

use std::fmt;

/// A 31-bit HTTP/2 stream identifier (RFC 9113 §5.1.1).
///
/// The frame header spends 32 bits on it, but the high bit is reserved: it is ignored on
/// receipt and never set on send (§4.1). A `StreamId` therefore always holds a value in
/// `0..=StreamId::MAX`; the reserved bit cannot be represented.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct StreamId(u32);

impl StreamId {
    /// Stream 0, which stands for the connection as a whole (§5.1.1).
    pub const ZERO: StreamId = StreamId(0);

    /// The largest stream identifier, 2^31-1 (§5.1.1).
    pub const MAX: StreamId = StreamId(0x7fff_ffff);

    /// The identifier `id`, or `None` if it does not fit in 31 bits.
    pub const fn new(id: u32) -> Option<StreamId> {
        if id <= Self::MAX.0 {
            Some(StreamId(id))
        } else {
            None
        }
    }

    /// Reads an identifier from a 32-bit wire field, dropping the reserved high bit
    /// (§4.1: "MUST be ignored when receiving").
    pub const fn from_wire(raw: u32) -> StreamId {
        StreamId(raw & Self::MAX.0)
    }

    /// The identifier as a number in `0..=2^31-1`.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// Whether this is stream 0, the connection control stream.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Whether a client opened (or would open) this stream: client-initiated streams use
    /// odd identifiers (§5.1.1).
    pub const fn is_client_initiated(self) -> bool {
        self.0 % 2 == 1
    }

    /// Whether a server opened (or would open) this stream: server-initiated streams use
    /// even identifiers other than 0 (§5.1.1).
    pub const fn is_server_initiated(self) -> bool {
        self.0 != 0 && self.0 % 2 == 0
    }

    /// The next identifier the same endpoint may open (this one plus 2), or `None` once
    /// the identifier space is exhausted (§5.1.1: a new connection is then needed).
    pub const fn checked_next(self) -> Option<StreamId> {
        // 0x7fff_ffff + 2 still fits in a u32, so this addition cannot overflow;
        // `new` rejects results above 2^31-1.
        Self::new(self.0 + 2)
    }
}

impl From<StreamId> for u32 {
    fn from(id: StreamId) -> u32 {
        id.0
    }
}

impl fmt::Debug for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StreamId({})", self.0)
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_accepts_31_bit_values_and_rejects_larger_ones() {
        assert_eq!(StreamId::new(0), Some(StreamId::ZERO));
        assert_eq!(StreamId::new(0x7fff_ffff), Some(StreamId::MAX));
        assert_eq!(StreamId::new(0x8000_0000), None);
        assert_eq!(StreamId::new(u32::MAX), None);
    }

    #[test]
    fn from_wire_ignores_the_reserved_bit() {
        assert_eq!(StreamId::from_wire(0x8000_0001).get(), 1);
        assert_eq!(StreamId::from_wire(0xffff_ffff), StreamId::MAX);
        assert_eq!(StreamId::from_wire(0x8000_0000), StreamId::ZERO);
    }

    #[test]
    fn odd_ids_are_client_initiated_and_even_non_zero_ids_server_initiated() {
        let one = StreamId::new(1).unwrap();
        let two = StreamId::new(2).unwrap();
        assert!(one.is_client_initiated() && !one.is_server_initiated());
        assert!(two.is_server_initiated() && !two.is_client_initiated());
        assert!(!StreamId::ZERO.is_client_initiated());
        assert!(!StreamId::ZERO.is_server_initiated());
        assert!(StreamId::ZERO.is_zero());
        assert!(!one.is_zero());
    }

    #[test]
    fn checked_next_steps_by_two_and_stops_at_the_top_of_the_space() {
        assert_eq!(StreamId::new(1).unwrap().checked_next(), StreamId::new(3));
        assert_eq!(
            StreamId::new(0x7fff_fffd).unwrap().checked_next(),
            Some(StreamId::MAX)
        );
        assert_eq!(StreamId::MAX.checked_next(), None);
        assert_eq!(StreamId::new(0x7fff_fffe).unwrap().checked_next(), None);
    }

    #[test]
    fn formats_as_a_plain_number() {
        let id = StreamId::new(7).unwrap();
        assert_eq!(id.to_string(), "7");
        assert_eq!(format!("{id:?}"), "StreamId(7)");
        assert_eq!(u32::from(id), 7);
    }
}
