//! Padding shared by DATA (§6.1), HEADERS (§6.2) and PUSH_PROMISE (§6.6).

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::{Flags, FrameError, Reason};

/// Takes the Pad Length field off the front of `payload` if the PADDED flag is set.
///
/// A PADDED frame with an empty payload has no Pad Length field, so it is "too small to
/// contain mandatory frame data": FRAME_SIZE_ERROR (§4.2). All three padded frame types
/// affect connection state (flow control or the field block), hence a connection error.
#[inline]
pub(super) fn take_pad_len(flags: Flags, payload: &mut Bytes) -> Result<Option<u8>, FrameError> {
    if !flags.contains(Flags::PADDED) {
        return Ok(None);
    }
    match payload.first() {
        Some(&pad_len) => {
            payload.advance(1);
            Ok(Some(pad_len))
        }
        None => Err(FrameError::frame_size(Reason::MissingPadLength)),
    }
}

/// Drops `pad_len` octets of padding from the end of `rest` (what follows the Pad Length
/// and any fixed fields). Padding longer than what is left is a connection PROTOCOL_ERROR
/// (§6.1, §6.2, §6.6). Padding content is not checked: §6.1 lets a receiver skip that.
#[inline]
pub(super) fn strip_padding(pad_len: Option<u8>, rest: &mut Bytes) -> Result<(), FrameError> {
    if let Some(pad_len) = pad_len {
        let pad_len = usize::from(pad_len);
        match rest.len().checked_sub(pad_len) {
            Some(keep) => rest.truncate(keep),
            None => return Err(FrameError::protocol(Reason::PaddingTooLong)),
        }
    }
    Ok(())
}

/// The octets padding adds to a payload: the Pad Length field plus the padding itself.
#[inline]
pub(super) fn overhead(pad_len: Option<u8>) -> usize {
    match pad_len {
        Some(n) => 1 + usize::from(n),
        None => 0,
    }
}

/// Writes `pad_len` zero octets (§6.1: "Padding octets MUST be set to zero when sending").
#[inline]
pub(super) fn put_padding(pad_len: Option<u8>, dst: &mut BytesMut) {
    if let Some(n) = pad_len {
        dst.put_bytes(0, usize::from(n));
    }
}
