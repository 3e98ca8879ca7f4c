//! SETTINGS frames (RFC 9113 §6.5).

use std::fmt;

use bytes::{BufMut, BytesMut};

use super::head::{DEFAULT_MAX_FRAME_SIZE, FRAME_HEADER_LEN, MAX_FRAME_SIZE_LIMIT};
use super::{Flags, FrameError, FrameHeader, FrameType, Reason, StreamId};
use crate::ErrorCode;

/// The initial SETTINGS_HEADER_TABLE_SIZE, 4,096 octets (§6.5.2).
pub const DEFAULT_HEADER_TABLE_SIZE: u32 = 4_096;

/// The initial SETTINGS_INITIAL_WINDOW_SIZE and connection window, 65,535 octets (§6.5.2,
/// §6.9.2).
pub const DEFAULT_INITIAL_WINDOW_SIZE: u32 = 65_535;

/// The largest flow-control window, 2^31-1 octets (§6.5.2, §6.9.1).
pub const MAX_WINDOW_SIZE: u32 = 0x7fff_ffff;

/// A SETTINGS parameter identifier (RFC 9113 §6.5.1, §6.5.2).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SettingId(pub u16);

impl SettingId {
    /// SETTINGS_HEADER_TABLE_SIZE (0x1): the HPACK dynamic table size the sender's decoder
    /// allows.
    pub const HEADER_TABLE_SIZE: SettingId = SettingId(0x1);
    /// SETTINGS_ENABLE_PUSH (0x2): whether server push is allowed; 0 or 1.
    pub const ENABLE_PUSH: SettingId = SettingId(0x2);
    /// SETTINGS_MAX_CONCURRENT_STREAMS (0x3): streams the sender lets the peer open.
    pub const MAX_CONCURRENT_STREAMS: SettingId = SettingId(0x3);
    /// SETTINGS_INITIAL_WINDOW_SIZE (0x4): initial stream flow-control window; at most
    /// 2^31-1.
    pub const INITIAL_WINDOW_SIZE: SettingId = SettingId(0x4);
    /// SETTINGS_MAX_FRAME_SIZE (0x5): largest frame payload the sender accepts;
    /// 2^14..=2^24-1.
    pub const MAX_FRAME_SIZE: SettingId = SettingId(0x5);
    /// SETTINGS_MAX_HEADER_LIST_SIZE (0x6): advisory limit on a field section's size.
    pub const MAX_HEADER_LIST_SIZE: SettingId = SettingId(0x6);
    /// SETTINGS_ENABLE_CONNECT_PROTOCOL (0x8, RFC 8441 §3): extended CONNECT; 0 or 1.
    pub const ENABLE_CONNECT_PROTOCOL: SettingId = SettingId(0x8);
    /// SETTINGS_NO_RFC7540_PRIORITIES (0x9, RFC 9218 §2.1): 1 if the sender ignores RFC
    /// 7540 priorities; 0 or 1.
    pub const NO_RFC7540_PRIORITIES: SettingId = SettingId(0x9);

    /// The registered name of a setting this module knows, or `None`.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x1 => "SETTINGS_HEADER_TABLE_SIZE",
            0x2 => "SETTINGS_ENABLE_PUSH",
            0x3 => "SETTINGS_MAX_CONCURRENT_STREAMS",
            0x4 => "SETTINGS_INITIAL_WINDOW_SIZE",
            0x5 => "SETTINGS_MAX_FRAME_SIZE",
            0x6 => "SETTINGS_MAX_HEADER_LIST_SIZE",
            0x8 => "SETTINGS_ENABLE_CONNECT_PROTOCOL",
            0x9 => "SETTINGS_NO_RFC7540_PRIORITIES",
            _ => return None,
        })
    }
}

impl fmt::Debug for SettingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "SettingId({:#06x})", self.0),
        }
    }
}

/// The settings this module stores, in the order they are encoded. A setting's slot is
/// its index here.
const KNOWN: [SettingId; 8] = [
    SettingId::HEADER_TABLE_SIZE,
    SettingId::ENABLE_PUSH,
    SettingId::MAX_CONCURRENT_STREAMS,
    SettingId::INITIAL_WINDOW_SIZE,
    SettingId::MAX_FRAME_SIZE,
    SettingId::MAX_HEADER_LIST_SIZE,
    SettingId::ENABLE_CONNECT_PROTOCOL,
    SettingId::NO_RFC7540_PRIORITIES,
];

/// Slot numbers into [`KNOWN`] (and `Settings::values`).
const HEADER_TABLE_SIZE: usize = 0;
const ENABLE_PUSH: usize = 1;
const MAX_CONCURRENT_STREAMS: usize = 2;
const INITIAL_WINDOW_SIZE: usize = 3;
const MAX_FRAME_SIZE: usize = 4;
const MAX_HEADER_LIST_SIZE: usize = 5;
const ENABLE_CONNECT_PROTOCOL: usize = 6;
const NO_RFC7540_PRIORITIES: usize = 7;

/// Size of one setting on the wire: Identifier (16), Value (32).
const ENTRY_LEN: usize = 6;

/// Checks one received setting (§6.5.2) and returns its slot, or `None` for an identifier
/// we do not know ("An endpoint that receives a SETTINGS frame with any unknown or
/// unsupported identifier MUST ignore that setting").
fn validate(id: SettingId, value: u32) -> Result<Option<usize>, FrameError> {
    let is_bool = value <= 1;
    let slot = match id {
        SettingId::HEADER_TABLE_SIZE => HEADER_TABLE_SIZE,
        SettingId::ENABLE_PUSH if is_bool => ENABLE_PUSH,
        SettingId::ENABLE_PUSH => return Err(FrameError::protocol(Reason::InvalidEnablePush)),
        SettingId::MAX_CONCURRENT_STREAMS => MAX_CONCURRENT_STREAMS,
        SettingId::INITIAL_WINDOW_SIZE if value <= MAX_WINDOW_SIZE => INITIAL_WINDOW_SIZE,
        SettingId::INITIAL_WINDOW_SIZE => {
            return Err(FrameError::connection(
                ErrorCode::FLOW_CONTROL_ERROR,
                Reason::InitialWindowSizeTooLarge,
            ));
        }
        SettingId::MAX_FRAME_SIZE
            if (DEFAULT_MAX_FRAME_SIZE..=MAX_FRAME_SIZE_LIMIT).contains(&value) =>
        {
            MAX_FRAME_SIZE
        }
        SettingId::MAX_FRAME_SIZE => return Err(FrameError::protocol(Reason::InvalidMaxFrameSize)),
        SettingId::MAX_HEADER_LIST_SIZE => MAX_HEADER_LIST_SIZE,
        SettingId::ENABLE_CONNECT_PROTOCOL if is_bool => ENABLE_CONNECT_PROTOCOL,
        SettingId::ENABLE_CONNECT_PROTOCOL => {
            return Err(FrameError::protocol(Reason::InvalidEnableConnectProtocol));
        }
        SettingId::NO_RFC7540_PRIORITIES if is_bool => NO_RFC7540_PRIORITIES,
        SettingId::NO_RFC7540_PRIORITIES => {
            return Err(FrameError::protocol(Reason::InvalidNoRfc7540Priorities));
        }
        _ => return Ok(None),
    };
    Ok(Some(slot))
}

/// A SETTINGS frame (RFC 9113 §6.5): configuration the sender announces, or an
/// acknowledgement of the peer's.
///
/// Holds at most one value per known setting, without allocating. When a frame lists a
/// setting twice, the later value wins: §6.5.3 has values processed in order. Unknown
/// identifiers are dropped (§6.5.2). Every stored value is valid, so encoding always
/// produces a frame a peer accepts.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Settings {
    ack: bool,
    /// Bit `i` set: slot `i` holds a value. Absent slots hold 0, so derived equality works.
    present: u8,
    values: [u32; KNOWN.len()],
}

impl Settings {
    /// A SETTINGS frame carrying no values yet (not an acknowledgement).
    pub fn new() -> Settings {
        Settings::default()
    }

    /// A SETTINGS frame with the ACK flag: acknowledges the peer's SETTINGS (§6.5.3).
    /// An acknowledgement carries no values; values set on it are not encoded.
    pub fn ack() -> Settings {
        Settings {
            ack: true,
            ..Settings::default()
        }
    }

    /// Whether this is an acknowledgement.
    pub fn is_ack(&self) -> bool {
        self.ack
    }

    /// Whether no setting has a value.
    pub fn is_empty(&self) -> bool {
        self.present == 0
    }

    /// The value of setting `id`, if the frame carries it (unknown identifiers: `None`).
    pub fn get(&self, id: SettingId) -> Option<u32> {
        let slot = KNOWN.iter().position(|&known| known == id)?;
        self.slot(slot)
    }

    /// The settings this frame carries, in encoding order.
    pub fn iter(&self) -> impl Iterator<Item = (SettingId, u32)> + '_ {
        KNOWN
            .iter()
            .enumerate()
            .filter_map(|(slot, &id)| Some((id, self.slot(slot)?)))
    }

    fn slot(&self, slot: usize) -> Option<u32> {
        if self.present & (1 << slot) != 0 {
            self.values.get(slot).copied()
        } else {
            None
        }
    }

    fn flag(&self, slot: usize) -> Option<bool> {
        self.slot(slot).map(|value| value == 1)
    }

    fn set(mut self, slot: usize, value: u32) -> Settings {
        if let Some(stored) = self.values.get_mut(slot) {
            *stored = value;
            self.present |= 1 << slot;
        }
        self
    }

    /// SETTINGS_HEADER_TABLE_SIZE.
    pub fn header_table_size(&self) -> Option<u32> {
        self.slot(HEADER_TABLE_SIZE)
    }
    /// SETTINGS_ENABLE_PUSH.
    pub fn enable_push(&self) -> Option<bool> {
        self.flag(ENABLE_PUSH)
    }
    /// SETTINGS_MAX_CONCURRENT_STREAMS.
    pub fn max_concurrent_streams(&self) -> Option<u32> {
        self.slot(MAX_CONCURRENT_STREAMS)
    }
    /// SETTINGS_INITIAL_WINDOW_SIZE (at most 2^31-1).
    pub fn initial_window_size(&self) -> Option<u32> {
        self.slot(INITIAL_WINDOW_SIZE)
    }
    /// SETTINGS_MAX_FRAME_SIZE (within 2^14..=2^24-1).
    pub fn max_frame_size(&self) -> Option<u32> {
        self.slot(MAX_FRAME_SIZE)
    }
    /// SETTINGS_MAX_HEADER_LIST_SIZE.
    pub fn max_header_list_size(&self) -> Option<u32> {
        self.slot(MAX_HEADER_LIST_SIZE)
    }
    /// SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441).
    pub fn enable_connect_protocol(&self) -> Option<bool> {
        self.flag(ENABLE_CONNECT_PROTOCOL)
    }
    /// SETTINGS_NO_RFC7540_PRIORITIES (RFC 9218).
    pub fn no_rfc7540_priorities(&self) -> Option<bool> {
        self.flag(NO_RFC7540_PRIORITIES)
    }

    /// Sets SETTINGS_HEADER_TABLE_SIZE.
    pub fn with_header_table_size(self, value: u32) -> Settings {
        self.set(HEADER_TABLE_SIZE, value)
    }
    /// Sets SETTINGS_ENABLE_PUSH.
    pub fn with_enable_push(self, enabled: bool) -> Settings {
        self.set(ENABLE_PUSH, u32::from(enabled))
    }
    /// Sets SETTINGS_MAX_CONCURRENT_STREAMS.
    pub fn with_max_concurrent_streams(self, value: u32) -> Settings {
        self.set(MAX_CONCURRENT_STREAMS, value)
    }
    /// Sets SETTINGS_INITIAL_WINDOW_SIZE. Fails, with the FLOW_CONTROL_ERROR a peer would
    /// report, above 2^31-1.
    pub fn with_initial_window_size(self, value: u32) -> Result<Settings, FrameError> {
        validate(SettingId::INITIAL_WINDOW_SIZE, value)?;
        Ok(self.set(INITIAL_WINDOW_SIZE, value))
    }
    /// Sets SETTINGS_MAX_FRAME_SIZE. Fails, with the PROTOCOL_ERROR a peer would report,
    /// outside 2^14..=2^24-1.
    pub fn with_max_frame_size(self, value: u32) -> Result<Settings, FrameError> {
        validate(SettingId::MAX_FRAME_SIZE, value)?;
        Ok(self.set(MAX_FRAME_SIZE, value))
    }
    /// Sets SETTINGS_MAX_HEADER_LIST_SIZE.
    pub fn with_max_header_list_size(self, value: u32) -> Settings {
        self.set(MAX_HEADER_LIST_SIZE, value)
    }
    /// Sets SETTINGS_ENABLE_CONNECT_PROTOCOL.
    pub fn with_enable_connect_protocol(self, enabled: bool) -> Settings {
        self.set(ENABLE_CONNECT_PROTOCOL, u32::from(enabled))
    }
    /// Sets SETTINGS_NO_RFC7540_PRIORITIES.
    pub fn with_no_rfc7540_priorities(self, enabled: bool) -> Settings {
        self.set(NO_RFC7540_PRIORITIES, u32::from(enabled))
    }

    fn payload_len(&self) -> usize {
        if self.ack {
            0
        } else {
            self.present.count_ones() as usize * ENTRY_LEN
        }
    }

    /// Length of the encoded frame, header included.
    pub fn encoded_len(&self) -> usize {
        FRAME_HEADER_LEN + self.payload_len()
    }

    /// Parses a SETTINGS payload (§6.5).
    pub(super) fn decode(head: &FrameHeader, payload: &[u8]) -> Result<Settings, FrameError> {
        // §6.5: "If an endpoint receives a SETTINGS frame whose Stream Identifier field is
        // anything other than 0x00, the endpoint MUST respond with a connection error of
        // type PROTOCOL_ERROR."
        if !head.stream_id.is_zero() {
            return Err(FrameError::protocol(Reason::StreamIdNotZero));
        }
        if head.flags.contains(Flags::ACK) {
            // §6.5: "Receipt of a SETTINGS frame with the ACK flag set and a length field
            // value other than 0 MUST be treated as a connection error of type
            // FRAME_SIZE_ERROR."
            if !payload.is_empty() {
                return Err(FrameError::frame_size(Reason::SettingsAckWithPayload));
            }
            return Ok(Settings::ack());
        }
        // §6.5: "A SETTINGS frame with a length other than a multiple of 6 octets MUST be
        // treated as a connection error of type FRAME_SIZE_ERROR."
        if payload.len() % ENTRY_LEN != 0 {
            return Err(FrameError::frame_size(Reason::SettingsLength));
        }
        let mut settings = Settings::new();
        for entry in payload.chunks_exact(ENTRY_LEN) {
            // chunks_exact only yields ENTRY_LEN-octet slices, so the pattern cannot fail.
            let &[i0, i1, v0, v1, v2, v3] = entry else {
                continue;
            };
            let id = SettingId(u16::from_be_bytes([i0, i1]));
            let value = u32::from_be_bytes([v0, v1, v2, v3]);
            if let Some(slot) = validate(id, value)? {
                settings = settings.set(slot, value);
            }
        }
        Ok(settings)
    }

    /// Appends the frame to `dst`: each stored setting once, in identifier order; nothing
    /// for an acknowledgement.
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.reserve(self.encoded_len());
        FrameHeader {
            // Cannot truncate: at most 8 settings of 6 octets.
            length: self.payload_len() as u32,
            kind: FrameType::SETTINGS,
            flags: Flags::when(self.ack, Flags::ACK),
            stream_id: StreamId::ZERO,
        }
        .encode(dst);
        if !self.ack {
            for (id, value) in self.iter() {
                dst.put_u16(id.0);
                dst.put_u32(value);
            }
        }
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ack {
            return f.write_str("Settings(ACK)");
        }
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(flags: Flags, stream: u32, len: usize) -> FrameHeader {
        FrameHeader {
            length: len as u32,
            kind: FrameType::SETTINGS,
            flags,
            stream_id: StreamId::new(stream).unwrap(),
        }
    }

    fn entry(id: u16, value: u32) -> Vec<u8> {
        let mut out = id.to_be_bytes().to_vec();
        out.extend_from_slice(&value.to_be_bytes());
        out
    }

    fn decode(entries: &[(u16, u32)]) -> Result<Settings, FrameError> {
        let payload: Vec<u8> = entries.iter().flat_map(|&(id, v)| entry(id, v)).collect();
        Settings::decode(&head(Flags::EMPTY, 0, payload.len()), &payload)
    }

    #[test]
    fn decode_reads_every_known_setting() {
        let settings = decode(&[
            (1, 8192),
            (2, 0),
            (3, 100),
            (4, 1 << 20),
            (5, 1 << 15),
            (6, 16_384),
            (8, 1),
            (9, 1),
        ])
        .unwrap();
        assert_eq!(settings.header_table_size(), Some(8192));
        assert_eq!(settings.enable_push(), Some(false));
        assert_eq!(settings.max_concurrent_streams(), Some(100));
        assert_eq!(settings.initial_window_size(), Some(1 << 20));
        assert_eq!(settings.max_frame_size(), Some(1 << 15));
        assert_eq!(settings.max_header_list_size(), Some(16_384));
        assert_eq!(settings.enable_connect_protocol(), Some(true));
        assert_eq!(settings.no_rfc7540_priorities(), Some(true));
        assert!(!settings.is_ack());
    }

    #[test]
    fn unknown_identifiers_are_ignored() {
        let settings = decode(&[(0x7, 5), (0xabcd, 9), (3, 10)]).unwrap();
        assert_eq!(
            settings.iter().collect::<Vec<_>>(),
            [(SettingId::MAX_CONCURRENT_STREAMS, 10)]
        );
        assert_eq!(settings.get(SettingId(0xabcd)), None);
    }

    #[test]
    fn a_repeated_setting_keeps_the_last_value() {
        let settings = decode(&[(4, 10), (4, 20)]).unwrap();
        assert_eq!(settings.initial_window_size(), Some(20));
    }

    #[test]
    fn an_invalid_value_fails_even_if_a_later_one_is_valid() {
        let err = decode(&[(2, 2), (2, 1)]).unwrap_err();
        assert_eq!(err, FrameError::protocol(Reason::InvalidEnablePush));
    }

    #[test]
    fn value_limits_follow_section_6_5_2() {
        assert_eq!(
            decode(&[(4, MAX_WINDOW_SIZE)])
                .unwrap()
                .initial_window_size(),
            Some(MAX_WINDOW_SIZE)
        );
        let err = decode(&[(4, MAX_WINDOW_SIZE + 1)]).unwrap_err();
        assert_eq!(err.code(), ErrorCode::FLOW_CONTROL_ERROR);
        assert!(err.is_connection_error());
        assert!(decode(&[(5, 16_384)]).is_ok());
        assert!(decode(&[(5, MAX_FRAME_SIZE_LIMIT)]).is_ok());
        assert_eq!(
            decode(&[(5, 16_383)]).unwrap_err().reason(),
            Reason::InvalidMaxFrameSize
        );
        assert_eq!(
            decode(&[(5, 1 << 24)]).unwrap_err().reason(),
            Reason::InvalidMaxFrameSize
        );
        assert_eq!(
            decode(&[(8, 2)]).unwrap_err().reason(),
            Reason::InvalidEnableConnectProtocol
        );
        assert_eq!(
            decode(&[(9, 7)]).unwrap_err().reason(),
            Reason::InvalidNoRfc7540Priorities
        );
        // Any u32 is fine for the unbounded settings.
        assert!(decode(&[(1, u32::MAX), (3, u32::MAX), (6, u32::MAX)]).is_ok());
    }

    #[test]
    fn framing_rules() {
        let err = Settings::decode(&head(Flags::EMPTY, 1, 0), &[]).unwrap_err();
        assert_eq!(err, FrameError::protocol(Reason::StreamIdNotZero));
        let err = Settings::decode(&head(Flags::ACK, 0, 6), &entry(1, 1)).unwrap_err();
        assert_eq!(err, FrameError::frame_size(Reason::SettingsAckWithPayload));
        let err = Settings::decode(&head(Flags::EMPTY, 0, 5), &[0; 5]).unwrap_err();
        assert_eq!(err, FrameError::frame_size(Reason::SettingsLength));
        assert_eq!(
            Settings::decode(&head(Flags::ACK, 0, 0), &[]).unwrap(),
            Settings::ack()
        );
    }

    #[test]
    fn builders_refuse_values_a_peer_would_reject() {
        assert!(
            Settings::new()
                .with_initial_window_size(MAX_WINDOW_SIZE + 1)
                .is_err()
        );
        assert!(Settings::new().with_max_frame_size(100).is_err());
        let ok = Settings::new().with_max_frame_size(1 << 20).unwrap();
        assert_eq!(ok.max_frame_size(), Some(1 << 20));
    }

    #[test]
    fn encode_lists_settings_in_identifier_order() {
        let settings = Settings::new()
            .with_max_concurrent_streams(100)
            .with_header_table_size(0)
            .with_enable_push(false);
        let mut dst = BytesMut::new();
        settings.encode(&mut dst);
        let mut expected = b"\0\0\x12\x04\0\0\0\0\0".to_vec();
        expected.extend(entry(1, 0));
        expected.extend(entry(2, 0));
        expected.extend(entry(3, 100));
        assert_eq!(&dst[..], &expected[..]);
        assert_eq!(dst.len(), settings.encoded_len());
    }

    #[test]
    fn an_ack_encodes_as_an_empty_frame_with_the_ack_flag() {
        let mut dst = BytesMut::new();
        Settings::ack().encode(&mut dst);
        assert_eq!(&dst[..], b"\0\0\0\x04\x01\0\0\0\0");
    }

    #[test]
    fn debug_lists_values_by_name() {
        let settings = Settings::new().with_enable_push(false);
        assert_eq!(format!("{settings:?}"), "{SETTINGS_ENABLE_PUSH: 0}");
        assert_eq!(format!("{:?}", Settings::ack()), "Settings(ACK)");
    }
}
