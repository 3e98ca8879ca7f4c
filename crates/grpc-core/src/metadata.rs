//! Custom metadata: the application's header (and trailer) fields (`PROTOCOL-HTTP2.md`,
//! "Requests": Custom-Metadata).
//!
//! ```text
//! Custom-Metadata → Binary-Header / ASCII-Header
//! Binary-Header   → {Header-Name "-bin" } {base64 encoded value}
//! ASCII-Header    → Header-Name ASCII-Value
//! Header-Name     → 1*( %x30-39 / %x61-7A / "_" / "-" / ".") ; 0-9 a-z _ - .
//! ASCII-Value     → 1*( %x20-%x7E ) ; space and printable ASCII
//! ```
//!
//! [`Metadata`] is an ordered multimap kept as a small vector (a call carries a handful of
//! entries, so a linear search beats hashing). Received values are kept as [`Bytes`] slices of
//! the decoded header block: reading metadata off the wire copies nothing but base64 payloads.
//!
//! Reserved keys never enter a `Metadata`: pseudo-headers (`:path`, ...), every `grpc-*` key
//! (the protocol's own fields, `PROTOCOL-HTTP2.md`), `te` and `content-type` (set by the
//! transport of the call) and the connection-specific fields HTTP/2 forbids (`connection`,
//! `keep-alive`, `proxy-connection`, `transfer-encoding`, `upgrade`; RFC 9113 §8.2.2). The user
//! facing methods reject them; [`Metadata::from_header_fields`] skips them.

use std::fmt;

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use bytes::Bytes;

use crate::Status;

/// Base64 for `-bin` values: standard alphabet, written without padding, read with or without
/// it (`PROTOCOL-HTTP2.md`: "Implementations MUST accept padded and un-padded values and should
/// emit un-padded values"). Non-zero trailing bits are tolerated, as other implementations do.
const BIN_ENGINE: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Encodes `value` as unpadded standard base64, the form sent on the wire for `-bin` keys.
pub(crate) fn encode_bin(value: &[u8]) -> Bytes {
    Bytes::from(BIN_ENGINE.encode(value))
}

/// Decodes a base64 `-bin` value, padded or not.
pub(crate) fn decode_bin(value: &[u8]) -> Option<Bytes> {
    BIN_ENGINE.decode(value).ok().map(Bytes::from)
}

/// Length of the unpadded base64 form of `n` octets.
fn encoded_bin_len(n: usize) -> usize {
    n / 3 * 4
        + match n % 3 {
            0 => 0,
            1 => 2,
            _ => 3,
        }
}

/// One metadata value, as seen through [`Metadata::iter`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetadataValue<'a> {
    /// The value of an ASCII key: printable ASCII (`0x20..=0x7E`).
    Ascii(&'a str),
    /// The decoded value of a binary key (a key ending in `-bin`).
    Binary(&'a [u8]),
}

/// Why a key or value was refused by [`Metadata`]. Says which key and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidMetadata {
    key: String,
    reason: &'static str,
}

impl InvalidMetadata {
    fn new(key: &str, reason: &'static str) -> Self {
        InvalidMetadata {
            key: key.to_owned(),
            reason,
        }
    }

    /// The key of the refused entry (as given).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Why it was refused.
    pub fn reason(&self) -> &str {
        self.reason
    }
}

impl fmt::Display for InvalidMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid metadata entry {:?}: {}", self.key, self.reason)
    }
}

impl std::error::Error for InvalidMetadata {}

#[derive(Clone, PartialEq, Eq)]
enum Value {
    /// Printable ASCII, checked on the way in.
    Ascii(Bytes),
    /// Decoded binary value.
    Binary(Bytes),
}

#[derive(Clone, PartialEq, Eq)]
struct Entry {
    /// A valid lowercase key (checked on the way in, so always ASCII).
    key: Bytes,
    value: Value,
}

impl Entry {
    fn key_str(&self) -> &str {
        // Keys are checked to be ASCII before they are stored: this never falls back.
        std::str::from_utf8(&self.key).unwrap_or_default()
    }

    fn key_is(&self, key: &str) -> bool {
        self.key.eq_ignore_ascii_case(key.as_bytes())
    }

    fn ascii(&self) -> Option<&str> {
        match &self.value {
            // ASCII values are checked before they are stored: this never falls back.
            Value::Ascii(v) => Some(std::str::from_utf8(v).unwrap_or_default()),
            Value::Binary(_) => None,
        }
    }

    fn binary(&self) -> Option<&Bytes> {
        match &self.value {
            Value::Binary(v) => Some(v),
            Value::Ascii(_) => None,
        }
    }
}

/// An ordered multimap of custom metadata (request headers, response headers or trailers).
///
/// Keys are lowercase: the methods that add entries reject upper-case keys rather than folding
/// them, so what you insert is exactly what is sent. Lookups ([`get`](Self::get),
/// [`remove`](Self::remove), ...) ignore ASCII case. Keys ending in `-bin` hold binary values
/// (the `*_bin` methods); all other keys hold printable ASCII (`0x20..=0x7E`, without leading or
/// trailing spaces, which HTTP/2 forbids, RFC 9113 §8.2.1).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    entries: Vec<Entry>,
}

/// Is `b` allowed in a gRPC header name?
fn is_key_char(b: u8) -> bool {
    matches!(b, b'0'..=b'9' | b'a'..=b'z' | b'_' | b'-' | b'.')
}

/// Keys that exist on the wire but never as custom metadata.
fn is_reserved(key: &[u8]) -> bool {
    key.starts_with(b":")
        || key.starts_with(b"grpc-")
        || matches!(
            key,
            b"te"
                | b"content-type"
                | b"connection"
                | b"keep-alive"
                | b"proxy-connection"
                | b"transfer-encoding"
                | b"upgrade"
        )
}

fn is_bin_key(key: &[u8]) -> bool {
    key.ends_with(b"-bin")
}

fn is_ascii_value(value: &[u8]) -> bool {
    value.iter().all(|b| (0x20..=0x7E).contains(b))
}

/// Checks a key given by the user. `binary` says which kind of value goes with it.
fn check_key(key: &str, binary: bool) -> Result<(), InvalidMetadata> {
    let bytes = key.as_bytes();
    if bytes.is_empty() {
        return Err(InvalidMetadata::new(key, "empty key"));
    }
    if bytes.starts_with(b":") {
        return Err(InvalidMetadata::new(
            key,
            "pseudo-header fields are reserved for HTTP/2",
        ));
    }
    if bytes.iter().any(u8::is_ascii_uppercase) {
        return Err(InvalidMetadata::new(
            key,
            "key contains upper-case letters; metadata keys must be lowercase",
        ));
    }
    if !bytes.iter().copied().all(is_key_char) {
        return Err(InvalidMetadata::new(
            key,
            "key may only contain 0-9 a-z _ - .",
        ));
    }
    if is_reserved(bytes) {
        return Err(InvalidMetadata::new(
            key,
            "key is reserved for the protocol (grpc-*, te, content-type or an HTTP/2 \
             connection-specific field)",
        ));
    }
    match (binary, is_bin_key(bytes)) {
        (false, true) => Err(InvalidMetadata::new(
            key,
            "keys ending in -bin hold binary values; use insert_bin/append_bin",
        )),
        (true, false) => Err(InvalidMetadata::new(
            key,
            "binary values need a key ending in -bin",
        )),
        _ => Ok(()),
    }
}

fn check_ascii_value(key: &str, value: &str) -> Result<(), InvalidMetadata> {
    let bytes = value.as_bytes();
    if !is_ascii_value(bytes) {
        return Err(InvalidMetadata::new(
            key,
            "value may only contain printable ASCII (0x20..=0x7E)",
        ));
    }
    if bytes.first() == Some(&b' ') || bytes.last() == Some(&b' ') {
        return Err(InvalidMetadata::new(
            key,
            "value may not begin or end with a space (RFC 9113 §8.2.1)",
        ));
    }
    Ok(())
}

/// Header field octets: borrowed slices (copied when kept) or `Bytes` (shared when kept).
pub(crate) trait FieldOctets {
    fn octets(&self) -> &[u8];
    fn to_bytes(&self) -> Bytes;
    fn slice_to_bytes(&self, part: &[u8]) -> Bytes;
}

impl FieldOctets for &[u8] {
    fn octets(&self) -> &[u8] {
        self
    }
    fn to_bytes(&self) -> Bytes {
        Bytes::copy_from_slice(self)
    }
    fn slice_to_bytes(&self, part: &[u8]) -> Bytes {
        Bytes::copy_from_slice(part)
    }
}

impl FieldOctets for &Bytes {
    fn octets(&self) -> &[u8] {
        self
    }
    fn to_bytes(&self) -> Bytes {
        Bytes::clone(self)
    }
    fn slice_to_bytes(&self, part: &[u8]) -> Bytes {
        self.slice_ref(part)
    }
}

/// What a received field means for metadata.
pub(crate) enum Received {
    /// Not custom metadata (reserved or not a gRPC key): ignore.
    Skip,
    /// Add these entries.
    Keep,
    /// The value is malformed.
    Bad(&'static str),
}

impl Metadata {
    /// An empty map. Does not allocate.
    pub fn new() -> Metadata {
        Metadata {
            entries: Vec::new(),
        }
    }

    /// Number of entries (a key with two values counts twice).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Is the map empty?
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Sets `key` to the ASCII `value`, replacing every value it had.
    pub fn insert(&mut self, key: &str, value: &str) -> Result<(), InvalidMetadata> {
        check_key(key, false)?;
        check_ascii_value(key, value)?;
        self.remove(key);
        self.push(key, Value::Ascii(Bytes::copy_from_slice(value.as_bytes())));
        Ok(())
    }

    /// Adds the ASCII `value` to `key`, keeping the values it had.
    pub fn append(&mut self, key: &str, value: &str) -> Result<(), InvalidMetadata> {
        check_key(key, false)?;
        check_ascii_value(key, value)?;
        self.push(key, Value::Ascii(Bytes::copy_from_slice(value.as_bytes())));
        Ok(())
    }

    /// Sets the binary key `key` (it must end in `-bin`) to `value`, replacing every value it
    /// had. Any octets are allowed; they are base64-encoded on the wire.
    pub fn insert_bin(
        &mut self,
        key: &str,
        value: impl Into<Bytes>,
    ) -> Result<(), InvalidMetadata> {
        check_key(key, true)?;
        self.remove(key);
        self.push(key, Value::Binary(value.into()));
        Ok(())
    }

    /// Adds `value` to the binary key `key` (it must end in `-bin`).
    pub fn append_bin(
        &mut self,
        key: &str,
        value: impl Into<Bytes>,
    ) -> Result<(), InvalidMetadata> {
        check_key(key, true)?;
        self.push(key, Value::Binary(value.into()));
        Ok(())
    }

    fn push(&mut self, key: &str, value: Value) {
        self.entries.push(Entry {
            key: Bytes::copy_from_slice(key.as_bytes()),
            value,
        });
    }

    /// The first ASCII value of `key` (case ignored). `None` for binary keys.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .filter(|e| e.key_is(key))
            .find_map(Entry::ascii)
    }

    /// Every ASCII value of `key`, in order.
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.entries
            .iter()
            .filter(move |e| e.key_is(key))
            .filter_map(Entry::ascii)
    }

    /// The first value of the binary key `key`.
    pub fn get_bin(&self, key: &str) -> Option<&Bytes> {
        self.entries
            .iter()
            .filter(|e| e.key_is(key))
            .find_map(Entry::binary)
    }

    /// Every value of the binary key `key`, in order.
    pub fn get_all_bin<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a Bytes> + 'a {
        self.entries
            .iter()
            .filter(move |e| e.key_is(key))
            .filter_map(Entry::binary)
    }

    /// Removes every value of `key`; returns how many there were.
    pub fn remove(&mut self, key: &str) -> usize {
        let before = self.entries.len();
        self.entries.retain(|e| !e.key_is(key));
        before - self.entries.len()
    }

    /// Does `key` have at least one value?
    pub fn contains_key(&self, key: &str) -> bool {
        self.entries.iter().any(|e| e.key_is(key))
    }

    /// Every entry, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, MetadataValue<'_>)> {
        self.entries.iter().map(|e| {
            let value = match &e.value {
                Value::Ascii(_) => MetadataValue::Ascii(e.ascii().unwrap_or_default()),
                Value::Binary(v) => MetadataValue::Binary(v),
            };
            (e.key_str(), value)
        })
    }

    /// Appends every entry of `other`, after this map's entries.
    pub fn extend(&mut self, other: Metadata) {
        if self.entries.is_empty() {
            self.entries = other.entries;
        } else {
            self.entries.extend(other.entries);
        }
    }

    /// Builds metadata from received header fields (a HEADERS block, or trailers).
    ///
    /// Skips pseudo-headers, reserved keys (`grpc-*`, `te`, `content-type`, HTTP/2
    /// connection-specific fields) and names that are not gRPC header names (only
    /// `0-9 a-z _ - .`); keeps everything else, `user-agent` included. Values of `-bin` keys
    /// are split on `,` (a peer or proxy may join repeated fields) and each piece is
    /// base64-decoded, padded or not. A bad base64 value or an ASCII value with octets outside
    /// `0x20..=0x7E` fails with INTERNAL.
    ///
    /// Values are kept as slices of the given `Bytes`: nothing is copied but decoded base64.
    pub fn from_header_fields<'a>(
        fields: impl IntoIterator<Item = (&'a Bytes, &'a Bytes)>,
    ) -> Result<Metadata, Status> {
        let mut md = Metadata::new();
        for (name, value) in fields {
            if let Received::Bad(why) = md.add_received(name, value) {
                return Err(Status::internal(format!(
                    "invalid metadata {:?}: {why}",
                    String::from_utf8_lossy(name)
                )));
            }
        }
        Ok(md)
    }

    /// Adds one received field if it is custom metadata. On `Bad` nothing is added.
    pub(crate) fn add_received<N: FieldOctets, V: FieldOctets>(
        &mut self,
        name: N,
        value: V,
    ) -> Received {
        let key = name.octets();
        if key.is_empty() || is_reserved(key) || !key.iter().copied().all(is_key_char) {
            return Received::Skip;
        }
        let raw = value.octets();
        if is_bin_key(key) {
            let before = self.entries.len();
            for piece in raw.split(|&b| b == b',') {
                let piece = piece.trim_ascii();
                match decode_bin(piece) {
                    Some(decoded) => self.entries.push(Entry {
                        key: name.to_bytes(),
                        value: Value::Binary(decoded),
                    }),
                    None => {
                        self.entries.truncate(before);
                        return Received::Bad("binary value is not valid base64");
                    }
                }
            }
            Received::Keep
        } else if is_ascii_value(raw) {
            self.entries.push(Entry {
                key: name.to_bytes(),
                value: Value::Ascii(value.slice_to_bytes(raw)),
            });
            Received::Keep
        } else {
            Received::Bad("value contains octets outside printable ASCII")
        }
    }

    /// Emits every entry as a header field for sending: ASCII values as they are, binary values
    /// as unpadded base64. Reserved keys are never emitted (they cannot be inserted).
    pub fn encode_header_fields(&self, mut push: impl FnMut(Bytes, Bytes)) {
        for e in &self.entries {
            let value = match &e.value {
                Value::Ascii(v) => v.clone(),
                Value::Binary(v) => encode_bin(v),
            };
            push(e.key.clone(), value);
        }
    }

    /// The size of the entries as an HTTP/2 header list (name + wire value + 32 per field,
    /// RFC 9113 §6.5.2), to check against the peer's SETTINGS_MAX_HEADER_LIST_SIZE.
    pub fn header_list_size(&self) -> usize {
        self.entries
            .iter()
            .map(|e| {
                let value = match &e.value {
                    Value::Ascii(v) => v.len(),
                    Value::Binary(v) => encoded_bin_len(v.len()),
                };
                e.key.len() + value + 32
            })
            .sum()
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (k, v) in self.iter() {
            match v {
                MetadataValue::Ascii(s) => map.entry(&k, &s),
                MetadataValue::Binary(b) => map.entry(&k, &Bytes::copy_from_slice(b)),
            };
        }
        map.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bin_len_matches_encoder() {
        for n in 0..20 {
            assert_eq!(encoded_bin_len(n), encode_bin(&vec![7u8; n]).len());
        }
    }
}
