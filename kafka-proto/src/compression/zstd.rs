//! Zstandard (codec 4), pure Rust through zrip (no `unsafe` code).
//!
//! Encoding is level 3, the level Kafka's producers default to
//! (`compression.zstd.level`). Decoding is one shot into the output, which
//! never grows past the caller's limit: a frame declaring more content than
//! the limit is refused before anything is reserved, and a frame without a
//! declared size is stopped once its output reaches the limit. Skippable
//! frames are skipped, concatenated frames decoded in turn, and content
//! checksums checked.

use zrip::DecompressError;

use super::{Compression, compress_error, decompress_error};
use crate::error::{DecodeError, DecodeErrorKind, EncodeError};

/// The level Java's producer uses unless `compression.zstd.level` says
/// otherwise.
const LEVEL: i32 = 3;

/// Appends `input` as one zstd frame to `out`.
pub(super) fn compress(input: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let start = out.len();
    out.resize(start + zrip::compress_bound(input.len()), 0);
    let tail = out.get_mut(start..).unwrap_or_default();
    match zrip::compress_into(input, tail, LEVEL) {
        Ok(written) => {
            out.truncate(start + written);
            Ok(())
        }
        Err(e) => {
            out.truncate(start);
            Err(compress_error(Compression::Zstd, e))
        }
    }
}

/// Decodes zstd frames (skippable frames are skipped), at most `limit` bytes
/// of output.
pub(super) fn decompress(input: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
    let codec = Compression::Zstd;
    zrip::decompress_with_limit(input, limit).map_err(|e| match e {
        DecompressError::OutputTooSmall => {
            DecodeError::from(DecodeErrorKind::DecompressedTooLarge { codec, limit })
        }
        other => decompress_error(codec, other),
    })
}
