//! The 9-octet frame header (RFC 9113 §4.1) and its type and flags fields.

use std::fmt;
use std::ops::BitOr;

use bytes::{BufMut, BytesMut};

use super::StreamId;

/// Length of the frame header in octets (RFC 9113 §4.1).
pub const FRAME_HEADER_LEN: usize = 9;

/// The largest value the 24-bit Length field can hold, 2^24-1 (RFC 9113 §4.1). This is
/// also the largest SETTINGS_MAX_FRAME_SIZE an endpoint may advertise (§6.5.2).
pub const MAX_FRAME_SIZE_LIMIT: u32 = (1 << 24) - 1;

/// The initial SETTINGS_MAX_FRAME_SIZE, 2^14 (RFC 9113 §4.2, §6.5.2). It is also the
/// smallest value an endpoint may advertise, so every peer accepts frames of this size.
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 1 << 14;

/// The frame Type field (RFC 9113 §4.1), a newtype so unknown types can be carried along.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FrameType(pub u8);

impl FrameType {
    /// DATA (§6.1).
    pub const DATA: FrameType = FrameType(0x0);
    /// HEADERS (§6.2).
    pub const HEADERS: FrameType = FrameType(0x1);
    /// PRIORITY (§6.3).
    pub const PRIORITY: FrameType = FrameType(0x2);
    /// RST_STREAM (§6.4).
    pub const RST_STREAM: FrameType = FrameType(0x3);
    /// SETTINGS (§6.5).
    pub const SETTINGS: FrameType = FrameType(0x4);
    /// PUSH_PROMISE (§6.6).
    pub const PUSH_PROMISE: FrameType = FrameType(0x5);
    /// PING (§6.7).
    pub const PING: FrameType = FrameType(0x6);
    /// GOAWAY (§6.8).
    pub const GOAWAY: FrameType = FrameType(0x7);
    /// WINDOW_UPDATE (§6.9).
    pub const WINDOW_UPDATE: FrameType = FrameType(0x8);
    /// CONTINUATION (§6.10).
    pub const CONTINUATION: FrameType = FrameType(0x9);

    /// Whether RFC 9113 defines this type (§6). Other types are extensions (§5.5).
    pub const fn is_known(self) -> bool {
        self.0 <= Self::CONTINUATION.0
    }

    /// The name RFC 9113 gives this type, or `None` for an extension type.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x0 => "DATA",
            0x1 => "HEADERS",
            0x2 => "PRIORITY",
            0x3 => "RST_STREAM",
            0x4 => "SETTINGS",
            0x5 => "PUSH_PROMISE",
            0x6 => "PING",
            0x7 => "GOAWAY",
            0x8 => "WINDOW_UPDATE",
            0x9 => "CONTINUATION",
            _ => return None,
        })
    }
}

impl fmt::Debug for FrameType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "FrameType({:#04x})", self.0),
        }
    }
}

impl fmt::Display for FrameType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "extension frame type {:#04x}", self.0),
        }
    }
}

/// The frame Flags field (RFC 9113 §4.1).
///
/// Which bits mean something depends on the frame type; bits a type does not define are
/// ignored on receipt and never set on send (§4.1). `END_STREAM` and `ACK` share a bit.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u8);

impl Flags {
    /// No flags.
    pub const EMPTY: Flags = Flags(0);
    /// END_STREAM on DATA (§6.1) and HEADERS (§6.2).
    pub const END_STREAM: Flags = Flags(0x1);
    /// ACK on SETTINGS (§6.5) and PING (§6.7).
    pub const ACK: Flags = Flags(0x1);
    /// END_HEADERS on HEADERS (§6.2), PUSH_PROMISE (§6.6) and CONTINUATION (§6.10).
    pub const END_HEADERS: Flags = Flags(0x4);
    /// PADDED on DATA (§6.1), HEADERS (§6.2) and PUSH_PROMISE (§6.6).
    pub const PADDED: Flags = Flags(0x8);
    /// PRIORITY on HEADERS (§6.2).
    pub const PRIORITY: Flags = Flags(0x20);

    /// Whether every bit of `other` is set in `self`.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// `flag` if `on`, otherwise no flags: a helper for building flags from booleans.
    pub const fn when(on: bool, flag: Flags) -> Flags {
        if on { flag } else { Flags::EMPTY }
    }
}

impl BitOr for Flags {
    type Output = Flags;

    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Flags({:#04x})", self.0)
    }
}

/// The 9-octet header that starts every frame (RFC 9113 §4.1).
///
/// ```text
/// Length (24), Type (8), Flags (8), Reserved (1), Stream Identifier (31)
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct FrameHeader {
    /// Length of the payload in octets, not counting these 9 (24 bits on the wire).
    pub length: u32,
    /// The frame type.
    pub kind: FrameType,
    /// The type-specific flags, as received.
    pub flags: Flags,
    /// The stream the frame belongs to (0 for the connection).
    pub stream_id: StreamId,
}

impl FrameHeader {
    /// Parses a frame header. Every 9 octets are a well-formed header: the reserved bit is
    /// dropped (§4.1) and all validation is left to the frame type's rules.
    #[inline]
    pub fn parse(bytes: &[u8; FRAME_HEADER_LEN]) -> FrameHeader {
        let [l0, l1, l2, kind, flags, s0, s1, s2, s3] = *bytes;
        FrameHeader {
            length: u32::from_be_bytes([0, l0, l1, l2]),
            kind: FrameType(kind),
            flags: Flags(flags),
            stream_id: StreamId::from_wire(u32::from_be_bytes([s0, s1, s2, s3])),
        }
    }

    /// Appends the 9-octet header to `dst`.
    ///
    /// Only the low 24 bits of `length` fit in the Length field; the frame encoders in this
    /// module never build a header with a longer payload (their constructors bound it).
    #[inline]
    pub fn encode(&self, dst: &mut BytesMut) {
        let [_, l0, l1, l2] = self.length.to_be_bytes();
        let [s0, s1, s2, s3] = self.stream_id.get().to_be_bytes();
        dst.put_slice(&[l0, l1, l2, self.kind.0, self.flags.0, s0, s1, s2, s3]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_reads_every_field_big_endian() {
        let head = FrameHeader::parse(&[0x01, 0x02, 0x03, 0x08, 0x25, 0x00, 0x00, 0x01, 0x07]);
        assert_eq!(head.length, 0x01_0203);
        assert_eq!(head.kind, FrameType::WINDOW_UPDATE);
        assert_eq!(head.flags, Flags(0x25));
        assert_eq!(head.stream_id.get(), 0x107);
    }

    #[test]
    fn parse_drops_the_reserved_stream_id_bit() {
        let head = FrameHeader::parse(&[0, 0, 0, 0, 0, 0x80, 0, 0, 0x03]);
        assert_eq!(head.stream_id.get(), 3);
    }

    #[test]
    fn encode_writes_what_parse_reads() {
        let head = FrameHeader {
            length: MAX_FRAME_SIZE_LIMIT,
            kind: FrameType(0xfa),
            flags: Flags(0xff),
            stream_id: StreamId::MAX,
        };
        let mut dst = BytesMut::new();
        head.encode(&mut dst);
        assert_eq!(
            &dst[..],
            &[0xff, 0xff, 0xff, 0xfa, 0xff, 0x7f, 0xff, 0xff, 0xff]
        );
        let bytes: [u8; 9] = dst[..].try_into().unwrap();
        assert_eq!(FrameHeader::parse(&bytes), head);
    }

    #[test]
    fn frame_types_know_their_rfc_names() {
        assert!(FrameType::CONTINUATION.is_known());
        assert!(!FrameType(0xa).is_known());
        assert_eq!(FrameType::GOAWAY.to_string(), "GOAWAY");
        assert_eq!(format!("{:?}", FrameType(0x10)), "FrameType(0x10)");
    }

    #[test]
    fn flags_contains_checks_all_bits() {
        let flags = Flags::END_HEADERS | Flags::PADDED;
        assert!(flags.contains(Flags::PADDED));
        assert!(flags.contains(Flags::END_HEADERS | Flags::PADDED));
        assert!(!flags.contains(Flags::PRIORITY));
        assert_eq!(Flags::when(false, Flags::ACK), Flags::EMPTY);
        assert_eq!(Flags::when(true, Flags::ACK), Flags::ACK);
    }
}
