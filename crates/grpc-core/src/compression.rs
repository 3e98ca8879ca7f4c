//! Message compression (`compression.md`; `PROTOCOL-HTTP2.md`, "Message-Encoding",
//! "Compressed-Flag").
//!
//! A sender names its compression in `grpc-encoding` and sets the Compressed-Flag of each
//! message it compressed; it lists what it can decode in `grpc-accept-encoding`. `identity`
//! (no compression) is always supported and is never represented by a [`Compressor`].
//!
//! Built in, each behind its cargo feature: `gzip` (gzip format, RFC 1952), `deflate` (the zlib
//! format, RFC 1950, as gRPC C-core and gRPC-Go send it) and `zstd`. Decompression is bounded:
//! a compressor never appends more than the given limit, so a small "compression bomb" cannot
//! make the receiver allocate more than its message size limit.

#[cfg(any(feature = "gzip", feature = "deflate", feature = "zstd"))]
use std::cell::Cell;
use std::fmt;
use std::io;
use std::sync::Arc;
#[cfg(any(feature = "gzip", feature = "deflate", feature = "zstd"))]
use std::thread::LocalKey;

use bytes::{Bytes, BytesMut};

/// A message compression algorithm.
pub trait Compressor: Send + Sync + 'static {
    /// The name used in `grpc-encoding` and `grpc-accept-encoding`, e.g. `"gzip"`.
    fn name(&self) -> &'static str;

    /// Appends the compressed form of `input` to `out`.
    fn compress(&self, input: &[u8], out: &mut BytesMut) -> io::Result<()>;

    /// Appends the decompressed form of `input` to `out`, at most `limit` octets of it; if the
    /// output would be longer, fails with [`DecompressError::TooLarge`] without appending more
    /// than `limit` octets. Corrupt or truncated input is [`DecompressError::Io`].
    fn decompress(
        &self,
        input: &[u8],
        out: &mut BytesMut,
        limit: usize,
    ) -> Result<(), DecompressError>;
}

/// Why decompression failed.
#[derive(Debug)]
pub enum DecompressError {
    /// The output would exceed the limit.
    TooLarge,
    /// The input is corrupt or truncated.
    Io(io::Error),
}

impl fmt::Display for DecompressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecompressError::TooLarge => f.write_str("decompressed message exceeds the limit"),
            DecompressError::Io(e) => write!(f, "corrupt compressed message: {e}"),
        }
    }
}

impl std::error::Error for DecompressError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DecompressError::TooLarge => None,
            DecompressError::Io(e) => Some(e),
        }
    }
}

impl From<io::Error> for DecompressError {
    fn from(e: io::Error) -> Self {
        DecompressError::Io(e)
    }
}

/// Size of the stack buffer output passes through.
#[cfg(any(feature = "gzip", feature = "deflate", feature = "zstd"))]
const STEP: usize = 16 * 1024;

#[cfg(any(feature = "gzip", feature = "deflate", feature = "zstd"))]
fn invalid(message: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

#[cfg(any(feature = "gzip", feature = "deflate", feature = "zstd"))]
fn truncated() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "compressed message is truncated",
    )
}

/// Appends `produced` to `out` unless that takes the output (counted from `start`) over
/// `limit`.
#[cfg(any(feature = "gzip", feature = "deflate", feature = "zstd"))]
fn append_bounded(
    out: &mut BytesMut,
    start: usize,
    limit: usize,
    produced: &[u8],
) -> Result<(), DecompressError> {
    if out.len() - start + produced.len() > limit {
        return Err(DecompressError::TooLarge);
    }
    out.extend_from_slice(produced);
    Ok(())
}

/// Runs `f`, which appends to `out` and is given the length `out` had before; if `f` fails,
/// `out` is cut back to that length, so a failed (de)compression appends nothing.
#[cfg(any(feature = "gzip", feature = "deflate", feature = "zstd"))]
fn truncate_on_error<T, E>(
    out: &mut BytesMut,
    f: impl FnOnce(&mut BytesMut, usize) -> Result<T, E>,
) -> Result<T, E> {
    let start = out.len();
    let result = f(out, start);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Runs `f` with this thread's (de)compression state from `cache`: the cached one after
/// `reset`, or a `new` one on first use (or when the thread's cache is gone). The state is
/// moved out of the cache while in use, so a nested call just makes its own, and goes back
/// afterwards. A `reset` or `new` that fails is the result (the state is not kept).
#[cfg(any(feature = "gzip", feature = "deflate", feature = "zstd"))]
fn with_cached<S: 'static, R, E>(
    cache: &'static LocalKey<Cell<Option<S>>>,
    reset: impl FnOnce(&mut S) -> Result<(), E>,
    new: impl FnOnce() -> Result<S, E>,
    f: impl FnOnce(&mut S) -> Result<R, E>,
) -> Result<R, E> {
    let mut state = match cache.try_with(Cell::take) {
        Ok(Some(mut state)) => {
            reset(&mut state)?;
            state
        }
        _ => new()?,
    };
    let result = f(&mut state);
    let _ = cache.try_with(|c| c.set(Some(state)));
    result
}

/// Compression state is expensive to set up (hundreds of KiB for deflate, a context for zstd),
/// so each thread keeps one of each kind and resets it per message, as gRPC-Go pools its gzip
/// writers and readers. The caches never hold message data between calls.
#[cfg(any(feature = "gzip", feature = "deflate"))]
mod flate {
    use std::cell::Cell;
    use std::io;

    use bytes::BytesMut;
    use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

    use super::{DecompressError, STEP, append_bounded, invalid, truncated, with_cached};

    thread_local! {
        /// Raw deflate (inside gzip).
        static RAW_COMPRESS: Cell<Option<Compress>> = const { Cell::new(None) };
        static RAW_DECOMPRESS: Cell<Option<Decompress>> = const { Cell::new(None) };
        /// The zlib format.
        static ZLIB_COMPRESS: Cell<Option<Compress>> = const { Cell::new(None) };
        static ZLIB_DECOMPRESS: Cell<Option<Decompress>> = const { Cell::new(None) };
    }

    fn delta(after: u64, before: u64) -> usize {
        usize::try_from(after.saturating_sub(before)).unwrap_or(usize::MAX)
    }

    /// Runs `f` with this thread's compressor (reset first), creating it on first use.
    fn with_compress<R, E>(
        zlib: bool,
        f: impl FnOnce(&mut Compress) -> Result<R, E>,
    ) -> Result<R, E> {
        let cache = if zlib { &ZLIB_COMPRESS } else { &RAW_COMPRESS };
        let reset = |state: &mut Compress| {
            state.reset();
            Ok(())
        };
        with_cached(
            cache,
            reset,
            || Ok(Compress::new(Compression::default(), zlib)),
            f,
        )
    }

    /// Runs `f` with this thread's decompressor (reset first), creating it on first use.
    fn with_decompress<R, E>(
        zlib: bool,
        f: impl FnOnce(&mut Decompress) -> Result<R, E>,
    ) -> Result<R, E> {
        let cache = if zlib {
            &ZLIB_DECOMPRESS
        } else {
            &RAW_DECOMPRESS
        };
        let reset = |state: &mut Decompress| {
            state.reset(zlib);
            Ok(())
        };
        with_cached(cache, reset, || Ok(Decompress::new(zlib)), f)
    }

    /// Compresses all of `input` to a finished deflate (or zlib) stream appended to `out`.
    pub(super) fn compress(zlib: bool, input: &[u8], out: &mut BytesMut) -> io::Result<()> {
        with_compress(zlib, |state| {
            let mut buf = [0u8; STEP];
            let mut pos = 0;
            loop {
                let (in0, out0) = (state.total_in(), state.total_out());
                let rest = input.get(pos..).unwrap_or_default();
                let status = state
                    .compress(rest, &mut buf, FlushCompress::Finish)
                    .map_err(io::Error::other)?;
                let read = delta(state.total_in(), in0);
                let written = delta(state.total_out(), out0);
                pos += read;
                out.extend_from_slice(buf.get(..written).unwrap_or_default());
                match status {
                    Status::StreamEnd => return Ok(()),
                    Status::Ok | Status::BufError if read == 0 && written == 0 => {
                        return Err(io::Error::other("deflate made no progress"));
                    }
                    Status::Ok | Status::BufError => {}
                }
            }
        })
    }

    /// Inflates one deflate (or zlib) stream from the start of `input`, appending to `out`
    /// (bounded by `limit` counted from `start`). Returns the input octets consumed. A stream
    /// that ends before its last block is an error.
    pub(super) fn decompress(
        zlib: bool,
        input: &[u8],
        out: &mut BytesMut,
        start: usize,
        limit: usize,
    ) -> Result<usize, DecompressError> {
        with_decompress(zlib, |state| {
            let mut buf = [0u8; STEP];
            let mut pos = 0;
            loop {
                let (in0, out0) = (state.total_in(), state.total_out());
                let rest = input.get(pos..).unwrap_or_default();
                let status = state
                    .decompress(rest, &mut buf, FlushDecompress::None)
                    .map_err(|e| {
                        DecompressError::Io(io::Error::new(io::ErrorKind::InvalidData, e))
                    })?;
                let read = delta(state.total_in(), in0);
                let written = delta(state.total_out(), out0);
                pos += read;
                append_bounded(out, start, limit, buf.get(..written).unwrap_or_default())?;
                match status {
                    Status::StreamEnd => return Ok(pos),
                    Status::Ok | Status::BufError if read == 0 && written == 0 => {
                        return Err(DecompressError::Io(if pos >= input.len() {
                            truncated()
                        } else {
                            invalid("deflate stream made no progress")
                        }));
                    }
                    Status::Ok | Status::BufError => {}
                }
            }
        })
    }

    /// The gzip member header we write (RFC 1952 §2.3): magic, CM = 8 (deflate), no flags,
    /// no modification time, XFL = 0, OS = 255 (unknown).
    #[cfg(feature = "gzip")]
    pub(super) const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

    /// Skips a gzip member header (RFC 1952 §2.3), returning what follows it.
    #[cfg(feature = "gzip")]
    pub(super) fn skip_gzip_header(input: &[u8]) -> io::Result<&[u8]> {
        const FHCRC: u8 = 0x02;
        const FEXTRA: u8 = 0x04;
        const FNAME: u8 = 0x08;
        const FCOMMENT: u8 = 0x10;
        const RESERVED: u8 = 0xe0;
        let Some((fixed, mut rest)) = input.split_first_chunk::<10>() else {
            return Err(truncated());
        };
        if fixed[0] != 0x1f || fixed[1] != 0x8b {
            return Err(invalid("not a gzip stream (bad magic)"));
        }
        if fixed[2] != 8 {
            return Err(invalid("gzip stream does not use deflate"));
        }
        let flags = fixed[3];
        if flags & RESERVED != 0 {
            return Err(invalid("gzip header has reserved flags set"));
        }
        if flags & FEXTRA != 0 {
            let Some((len, after)) = rest.split_first_chunk::<2>() else {
                return Err(truncated());
            };
            let len = usize::from(u16::from_le_bytes(*len));
            rest = after.get(len..).ok_or_else(truncated)?;
        }
        for flag in [FNAME, FCOMMENT] {
            if flags & flag != 0 {
                let end = rest.iter().position(|&b| b == 0).ok_or_else(truncated)?;
                rest = rest.get(end + 1..).ok_or_else(truncated)?;
            }
        }
        if flags & FHCRC != 0 {
            rest = rest.get(2..).ok_or_else(truncated)?;
        }
        Ok(rest)
    }
}

/// gzip (RFC 1952), the encoding every gRPC implementation supports. Concatenated gzip members
/// are decoded as one message (as gRPC-Go's reader does); each member's CRC-32 and length are
/// checked.
#[cfg(feature = "gzip")]
#[derive(Clone, Copy, Debug, Default)]
pub struct Gzip;

#[cfg(feature = "gzip")]
impl Gzip {
    fn decompress_members(
        input: &[u8],
        out: &mut BytesMut,
        start: usize,
        limit: usize,
    ) -> Result<(), DecompressError> {
        let mut rest = input;
        loop {
            let body = flate::skip_gzip_header(rest)?;
            let member_start = out.len();
            let used = flate::decompress(false, body, out, start, limit)?;
            let after = body.get(used..).unwrap_or_default();
            let Some((trailer, next)) = after.split_first_chunk::<8>() else {
                return Err(truncated().into());
            };
            let member = out.get(member_start..).unwrap_or_default();
            let mut crc = flate2::Crc::new();
            crc.update(member);
            let want_crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
            let want_len = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
            // ISIZE is the length modulo 2^32 (RFC 1952 §2.3.1).
            if crc.sum() != want_crc || crc.amount() != want_len {
                return Err(invalid("gzip checksum or length mismatch").into());
            }
            if next.is_empty() {
                return Ok(());
            }
            rest = next;
        }
    }
}

#[cfg(feature = "gzip")]
impl Compressor for Gzip {
    fn name(&self) -> &'static str {
        "gzip"
    }

    fn compress(&self, input: &[u8], out: &mut BytesMut) -> io::Result<()> {
        truncate_on_error(out, |out, _| {
            out.extend_from_slice(&flate::GZIP_HEADER);
            flate::compress(false, input, out)?;
            let mut crc = flate2::Crc::new();
            crc.update(input);
            out.extend_from_slice(&crc.sum().to_le_bytes());
            out.extend_from_slice(&crc.amount().to_le_bytes());
            Ok(())
        })
    }

    fn decompress(
        &self,
        input: &[u8],
        out: &mut BytesMut,
        limit: usize,
    ) -> Result<(), DecompressError> {
        truncate_on_error(out, |out, start| {
            Gzip::decompress_members(input, out, start, limit)
        })
    }
}

/// "deflate": the zlib format (RFC 1950 wrapping RFC 1951), as gRPC C-core and gRPC-Go use
/// the name. A stream that ends before its final block is refused as truncated; octets after
/// the end of the stream are ignored.
#[cfg(feature = "deflate")]
#[derive(Clone, Copy, Debug, Default)]
pub struct Deflate;

#[cfg(feature = "deflate")]
impl Compressor for Deflate {
    fn name(&self) -> &'static str {
        "deflate"
    }

    fn compress(&self, input: &[u8], out: &mut BytesMut) -> io::Result<()> {
        truncate_on_error(out, |out, _| flate::compress(true, input, out))
    }

    fn decompress(
        &self,
        input: &[u8],
        out: &mut BytesMut,
        limit: usize,
    ) -> Result<(), DecompressError> {
        truncate_on_error(out, |out, start| {
            flate::decompress(true, input, out, start, limit).map(|_| ())
        })
    }
}

/// zstd (RFC 8878), at zstd's default level (3). The decoder accepts back-reference windows up
/// to the larger of 8 MiB (the size RFC 8878 recommends every decoder support) and the limit,
/// capped at zstd's default of 128 MiB, so a frame cannot make the receiver reserve a huge
/// window. Concatenated frames are decoded as one message.
#[cfg(feature = "zstd")]
#[derive(Clone, Copy, Debug, Default)]
pub struct Zstd;

#[cfg(feature = "zstd")]
mod zstd_state {
    use std::cell::Cell;
    use std::io;

    use zstd::stream::raw::{Decoder, Encoder, Operation};

    use super::with_cached;

    thread_local! {
        static ENCODER: Cell<Option<Encoder<'static>>> = const { Cell::new(None) };
        static DECODER: Cell<Option<Decoder<'static>>> = const { Cell::new(None) };
    }

    /// Runs `f` with this thread's encoder (reset first), creating it on first use.
    pub(super) fn with_encoder<R>(
        f: impl FnOnce(&mut Encoder<'static>) -> io::Result<R>,
    ) -> io::Result<R> {
        // Level 0 is zstd's default (3).
        with_cached(&ENCODER, Encoder::reinit, || Encoder::new(0), f)
    }

    /// Runs `f` with this thread's decoder (reset first), creating it on first use.
    pub(super) fn with_decoder<R, E: From<io::Error>>(
        f: impl FnOnce(&mut Decoder<'static>) -> Result<R, E>,
    ) -> Result<R, E> {
        let reset = |dec: &mut Decoder<'static>| dec.reinit().map_err(E::from);
        with_cached(&DECODER, reset, || Decoder::new().map_err(E::from), f)
    }
}

#[cfg(feature = "zstd")]
impl Compressor for Zstd {
    fn name(&self) -> &'static str {
        "zstd"
    }

    fn compress(&self, input: &[u8], out: &mut BytesMut) -> io::Result<()> {
        use zstd::stream::raw::{Operation, OutBuffer};
        truncate_on_error(out, |out, _| {
            zstd_state::with_encoder(|enc| {
                // The size lets zstd record it in the frame and pick a window no larger than
                // needed.
                enc.set_pledged_src_size(Some(input.len() as u64))?;
                let mut buf = [0u8; STEP];
                let mut pos = 0;
                while pos < input.len() {
                    let rest = input.get(pos..).unwrap_or_default();
                    let status = enc.run_on_buffers(rest, &mut buf)?;
                    pos += status.bytes_read;
                    out.extend_from_slice(buf.get(..status.bytes_written).unwrap_or_default());
                }
                loop {
                    let mut ob = OutBuffer::around(&mut buf[..]);
                    let remaining = enc.finish(&mut ob, true)?;
                    let written = ob.pos();
                    out.extend_from_slice(buf.get(..written).unwrap_or_default());
                    if remaining == 0 {
                        return Ok(());
                    }
                }
            })
        })
    }

    fn decompress(
        &self,
        input: &[u8],
        out: &mut BytesMut,
        limit: usize,
    ) -> Result<(), DecompressError> {
        use zstd::stream::raw::{DParameter, Operation};
        truncate_on_error(out, |out, start| {
            zstd_state::with_decoder(|dec| {
                let want = usize::BITS - limit.saturating_sub(1).leading_zeros();
                dec.set_parameter(DParameter::WindowLogMax(want.clamp(23, 27)))?;
                let mut buf = [0u8; STEP];
                let mut pos = 0;
                // Whether the last call that made progress ended at a frame boundary. A call
                // that makes none (the output filled `buf` exactly at the end of a frame, and
                // this is the check for more) reports the size hint of a next frame instead
                // of 0.
                let mut at_frame_end = false;
                loop {
                    let rest = input.get(pos..).unwrap_or_default();
                    let status = dec.run_on_buffers(rest, &mut buf)?;
                    pos += status.bytes_read;
                    if status.bytes_read > 0 || status.bytes_written > 0 {
                        at_frame_end = status.remaining == 0;
                    }
                    append_bounded(
                        out,
                        start,
                        limit,
                        buf.get(..status.bytes_written).unwrap_or_default(),
                    )?;
                    let output_full = status.bytes_written == buf.len();
                    if pos >= input.len() && !output_full {
                        // All input consumed and everything decoded so far flushed: done if
                        // the last frame is complete (zstd's hint is 0 at a frame boundary).
                        return if at_frame_end {
                            Ok(())
                        } else {
                            Err(DecompressError::Io(truncated()))
                        };
                    }
                    if status.bytes_read == 0 && status.bytes_written == 0 {
                        return Err(DecompressError::Io(invalid("zstd stream made no progress")));
                    }
                }
            })
        })
    }
}

/// The set of compressors an endpoint accepts (`identity` is always implied).
#[derive(Clone)]
pub struct Encodings {
    compressors: Vec<Arc<dyn Compressor>>,
    /// The `grpc-accept-encoding` value, rebuilt when the set changes.
    accept: Bytes,
}

impl Encodings {
    /// Only `identity`.
    pub fn none() -> Self {
        Encodings {
            compressors: Vec::new(),
            accept: Bytes::new(),
        }
    }

    /// Every compressor compiled in (gzip, deflate, zstd, as the features allow).
    pub fn all() -> Self {
        let mut e = Encodings::none();
        for name in ["gzip", "deflate", "zstd"] {
            if let Some(c) = compressor_for(name) {
                e = e.with(c);
            }
        }
        e
    }

    /// Adds `c`, replacing a compressor of the same name.
    pub fn with(mut self, c: Arc<dyn Compressor>) -> Self {
        match self.compressors.iter_mut().find(|x| x.name() == c.name()) {
            Some(slot) => *slot = c,
            None => self.compressors.push(c),
        }
        let names: Vec<&str> = self.compressors.iter().map(|c| c.name()).collect();
        self.accept = Bytes::from(names.join(","));
        self
    }

    /// The compressor named `name` (a received `grpc-encoding`). `identity` and unknown names
    /// give `None`; the caller tells them apart (identity means no compression, an unknown
    /// name is UNIMPLEMENTED, `compression.md`).
    pub fn get(&self, name: &[u8]) -> Option<&Arc<dyn Compressor>> {
        self.compressors
            .iter()
            .find(|c| c.name().as_bytes() == name)
    }

    /// The value to send as `grpc-accept-encoding`, e.g. `gzip,deflate,zstd`; empty when only
    /// identity is accepted (then send no header). Built once, cloned cheaply.
    pub fn accept_encoding(&self) -> Bytes {
        self.accept.clone()
    }

    /// The compressors in the set, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Compressor>> {
        self.compressors.iter()
    }
}

impl Default for Encodings {
    fn default() -> Self {
        Encodings::all()
    }
}

impl fmt::Debug for Encodings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.compressors.iter().map(|c| c.name()))
            .finish()
    }
}

/// Does a peer's `grpc-accept-encoding` value list `name`? The value is a comma-separated list;
/// spaces and tabs around names are ignored, as are `;` parameters, and names compare ignoring
/// ASCII case. `identity` is always accepted (`compression.md`), listed or not.
pub fn accepts(accept_encoding: &[u8], name: &str) -> bool {
    if name.eq_ignore_ascii_case("identity") {
        return true;
    }
    accept_encoding.split(|&b| b == b',').any(|item| {
        let item = item.split(|&b| b == b';').next().unwrap_or_default();
        item.trim_ascii().eq_ignore_ascii_case(name.as_bytes())
    })
}

/// The built-in compressor named `name` (`"gzip"`, `"deflate"`, `"zstd"`), if its feature is
/// compiled in.
pub fn compressor_for(name: &str) -> Option<Arc<dyn Compressor>> {
    match name {
        #[cfg(feature = "gzip")]
        "gzip" => Some(Arc::new(Gzip)),
        #[cfg(feature = "deflate")]
        "deflate" => Some(Arc::new(Deflate)),
        #[cfg(feature = "zstd")]
        "zstd" => Some(Arc::new(Zstd)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_lists() {
        assert!(accepts(b"gzip", "gzip"));
        assert!(accepts(b"gzip, identity", "gzip"));
        assert!(accepts(b"identity , gzip ", "gzip"));
        assert!(accepts(b"deflate,\tGZIP", "gzip"));
        assert!(!accepts(b"deflate, zstd", "gzip"));
        assert!(!accepts(b"", "gzip"));
        assert!(!accepts(b"gzipx", "gzip"));
        assert!(accepts(b"", "identity"));
    }
}
