//! Snappy (codec 2).
//!
//! Java producers write snappy through xerial's `SnappyOutputStream`: a
//! 16-byte header (`\x82SNAPPY\0`, version 1, compatible version 1) and then
//! blocks, each a big-endian `i32` length and one raw snappy block. librdkafka
//! writes one raw snappy block with no framing. Both are read here, the way
//! Java's `SnappyInputStream` tells them apart: by the header magic. We write
//! the xerial framing, which Java and librdkafka both read.

use snap::raw::{Decoder, decompress_len};

use super::snappy_encode::{Encoder, max_compress_len};
use super::{Compression, compress_error, decompress_error};
use crate::error::{DecodeError, DecodeErrorKind, EncodeError};

/// The xerial stream magic.
const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
/// The magic followed by version 1 and minimum compatible version 1.
const XERIAL_HEADER: [u8; 16] = [
    0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1,
];
/// Uncompressed bytes per xerial block; xerial's default, which Kafka's Java
/// producer uses.
const XERIAL_BLOCK: usize = 32 * 1024;

/// Appends `input` in the xerial framing to `out`.
pub(super) fn compress_xerial(input: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let blocks = input.len().div_ceil(XERIAL_BLOCK);
    out.reserve(XERIAL_HEADER.len() + blocks * 4 + max_compress_len(input.len()));
    out.extend_from_slice(&XERIAL_HEADER);
    let mut encoder = Encoder::new(input.len().min(XERIAL_BLOCK));
    for block in input.chunks(XERIAL_BLOCK) {
        let length_at = out.len();
        out.extend_from_slice(&[0; 4]);
        encoder.compress(block, out)?;
        // A block is at most max_compress_len(32 KiB), far below i32::MAX.
        let written = out.len() - length_at - 4;
        let length = i32::try_from(written)
            .map_err(|e| compress_error(Compression::Snappy, e))?
            .to_be_bytes();
        out[length_at..length_at + 4].copy_from_slice(&length);
    }
    Ok(())
}

/// Appends `input` as one raw snappy block (librdkafka's form) to `out`.
#[cfg(test)]
pub(super) fn compress_raw(input: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    Encoder::new(input.len()).compress(input, out)
}

/// Decodes xerial-framed or raw snappy, at most `limit` bytes of output.
pub(super) fn decompress(input: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    let mut decoder = Decoder::new();
    match input.strip_prefix(&XERIAL_MAGIC[..]) {
        Some(rest) if input.len() >= XERIAL_HEADER.len() => {
            // Version fields (8 bytes) are informational; xerial itself only
            // rejects streams whose compatible version is newer than it knows,
            // and every stream ever written says 1.
            let mut blocks = rest.get(8..).unwrap_or_default();
            while !blocks.is_empty() {
                let (length, rest) = blocks.split_first_chunk::<4>().ok_or_else(|| {
                    decompress_error(Compression::Snappy, "truncated block length")
                })?;
                let length = usize::try_from(i32::from_be_bytes(*length)).map_err(|_| {
                    decompress_error(Compression::Snappy, "negative xerial block length")
                })?;
                let block = rest.get(..length).ok_or_else(|| {
                    decompress_error(Compression::Snappy, "xerial block runs past the payload")
                })?;
                blocks = rest.get(length..).unwrap_or_default();
                decompress_block(&mut decoder, block, limit, &mut out)?;
            }
        }
        _ => decompress_block(&mut decoder, input, limit, &mut out)?,
    }
    Ok(out)
}

/// Decodes one raw snappy block, appending to `out`, after checking the
/// length it claims against what the limit leaves.
fn decompress_block(
    decoder: &mut Decoder,
    block: &[u8],
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<(), DecodeError> {
    let length = decompress_len(block).map_err(|e| decompress_error(Compression::Snappy, e))?;
    let at = out.len();
    if length > limit.saturating_sub(at) {
        return Err(DecodeErrorKind::DecompressedTooLarge {
            codec: Compression::Snappy,
            limit,
        }
        .into());
    }
    out.resize(at + length, 0);
    let written = decoder
        .decompress(block, &mut out[at..])
        .map_err(|e| decompress_error(Compression::Snappy, e))?;
    out.truncate(at + written);
    Ok(())
}
