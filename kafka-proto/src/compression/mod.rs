//! Kafka's compression codecs, all pure Rust, behind one [`Compression`] enum.
//!
//! | codec  | id | encode                                   | decode                                   |
//! |--------|----|------------------------------------------|------------------------------------------|
//! | none   | 0  |                                          |                                          |
//! | gzip   | 1  | gzip member (flate2, rust backend)       | one or more gzip members                 |
//! | snappy | 2  | xerial framing, 32 KiB blocks (as Java)  | xerial framing or a raw snappy block     |
//! | lz4    | 3  | LZ4 frame, 64 KiB independent blocks     | LZ4 frame (KIP-57), any block size       |
//! | zstd   | 4  | zstd frame (zrip, level 3, as Java)      | zstd frames, output capped               |
//!
//! Decompression takes a `limit`: output beyond it is an error, so a small
//! payload cannot make the decoder allocate without bound (a "zip bomb").
//! Memory used while decoding stays within a small multiple of the limit.

mod gzip;
mod lz4;
mod snappy;
mod snappy_encode;
pub(crate) mod xxhash32;
mod zstd;

use std::fmt;
use std::io::Read;
use std::str::FromStr;

use crate::error::{DecodeError, DecodeErrorKind, EncodeError};

/// A Kafka compression codec, as named by bits 0-2 of a batch's attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// No compression (id 0).
    #[default]
    None,
    /// gzip (id 1).
    Gzip,
    /// Snappy (id 2); Java's xerial framing on encode, both framings on decode.
    Snappy,
    /// LZ4 frame format (id 3).
    Lz4,
    /// Zstandard (id 4); only in v2 batches.
    Zstd,
}

impl Compression {
    /// Every codec, in id order.
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// The codec with this attribute id (bits 0-2), if there is one.
    pub fn from_id(id: u8) -> Option<Compression> {
        match id {
            0 => Some(Compression::None),
            1 => Some(Compression::Gzip),
            2 => Some(Compression::Snappy),
            3 => Some(Compression::Lz4),
            4 => Some(Compression::Zstd),
            _ => None,
        }
    }

    /// The attribute id of the codec.
    pub fn id(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// The name Kafka's `compression.type` setting uses.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// Compresses `input`, appending the compressed bytes to `out`.
    ///
    /// [`Compression::None`] appends `input` unchanged.
    pub fn compress(self, input: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            Compression::None => {
                out.extend_from_slice(input);
                Ok(())
            }
            Compression::Gzip => gzip::compress(input, out),
            Compression::Snappy => snappy::compress_xerial(input, out),
            Compression::Lz4 => lz4::compress(input, out),
            Compression::Zstd => zstd::compress(input, out),
        }
    }

    /// Decompresses `input`, failing if the output would exceed `limit` bytes.
    ///
    /// [`Compression::None`] copies `input` (still subject to the limit).
    pub fn decompress(self, input: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
        match self {
            Compression::None => {
                if input.len() > limit {
                    return Err(DecodeErrorKind::DecompressedTooLarge { codec: self, limit }.into());
                }
                Ok(input.to_vec())
            }
            Compression::Gzip => gzip::decompress(input, limit),
            Compression::Snappy => snappy::decompress(input, limit),
            Compression::Lz4 => lz4::decompress(input, limit, false),
            Compression::Zstd => zstd::decompress(input, limit),
        }
    }

    /// Decompresses the value of a legacy (magic 0 or 1) wrapper message.
    ///
    /// Magic-0 LZ4 writers computed the frame-descriptor checksum wrongly
    /// (KIP-57); Java reads them anyway, and so does this.
    pub(crate) fn decompress_legacy(
        self,
        magic: i8,
        input: &[u8],
        limit: usize,
    ) -> Result<Vec<u8>, DecodeError> {
        if self == Compression::Lz4 && magic == 0 {
            lz4::decompress(input, limit, true)
        } else {
            self.decompress(input, limit)
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error of parsing a [`Compression`] from a name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown compression type {0:?} (expected none, gzip, snappy, lz4 or zstd)")]
pub struct UnknownCompressionName(pub String);

impl FromStr for Compression {
    type Err = UnknownCompressionName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Compression::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownCompressionName(s.to_owned()))
    }
}

/// Reads `reader` to its end into a new buffer, failing once more than
/// `limit` bytes come out. The buffer never grows past about twice the limit.
fn read_capped(
    reader: impl Read,
    codec: Compression,
    limit: usize,
    size_hint: usize,
) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::with_capacity(size_hint.min(limit));
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| decompress_error(codec, e))?;
    if out.len() > limit {
        return Err(DecodeErrorKind::DecompressedTooLarge { codec, limit }.into());
    }
    Ok(out)
}

fn decompress_error(codec: Compression, reason: impl fmt::Display) -> DecodeError {
    DecodeError::from(DecodeErrorKind::Decompress {
        codec,
        reason: reason.to_string(),
    })
}

fn compress_error(codec: Compression, reason: impl fmt::Display) -> EncodeError {
    EncodeError::Compress {
        codec,
        reason: reason.to_string(),
    }
}

/// A first guess at the decompressed size, to size the output buffer.
fn size_hint(input: &[u8]) -> usize {
    input.len().saturating_mul(4).max(64)
}

#[cfg(test)]
mod tests;
