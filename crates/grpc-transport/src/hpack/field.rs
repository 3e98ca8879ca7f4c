//! A header field: a name, a value, and whether it must never be indexed.

use bytes::Bytes;

use super::table;

/// One header field (RFC 7541 §1.3: a name-value pair; both are arbitrary octets to HPACK).
///
/// `sensitive` asks the encoder to send the field as a literal that is never indexed (§6.2.3,
/// §7.1.3), so neither we nor any intermediary put it in a compression table. The decoder sets
/// it on fields that arrived that way, so a proxy that re-encodes them keeps the property.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HeaderField {
    /// The field name. HTTP/2 requires lowercase names (RFC 9113 §8.2.1); HPACK does not
    /// check, that is the HTTP layer's job.
    pub name: Bytes,
    /// The field value.
    pub value: Bytes,
    /// Never index this field (§6.2.3).
    pub sensitive: bool,
}

impl HeaderField {
    /// A field that may be indexed.
    ///
    /// ```
    /// use grpc_transport::hpack::HeaderField;
    ///
    /// let field = HeaderField::new("content-type", "application/grpc");
    /// assert_eq!(field.size(), 12 + 16 + 32);
    /// assert!(!field.sensitive);
    /// ```
    pub fn new(name: impl Into<Bytes>, value: impl Into<Bytes>) -> HeaderField {
        HeaderField {
            name: name.into(),
            value: value.into(),
            sensitive: false,
        }
    }

    /// A field that must never be indexed (§6.2.3), e.g. a credential.
    pub fn sensitive(name: impl Into<Bytes>, value: impl Into<Bytes>) -> HeaderField {
        HeaderField {
            name: name.into(),
            value: value.into(),
            sensitive: true,
        }
    }

    /// The field's size as HPACK counts it: name length + value length + 32 (§4.1). HTTP/2
    /// uses the same measure for SETTINGS_MAX_HEADER_LIST_SIZE (RFC 9113 §6.5.2).
    pub fn size(&self) -> usize {
        table::entry_size(self.name.len(), self.value.len())
    }
}
