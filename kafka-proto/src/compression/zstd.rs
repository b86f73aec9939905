//! Zstandard (codec 4), pure Rust through ruzstd.
//!
//! ruzstd keeps a frame's whole window in memory and, driven through its
//! `Read` adapter, decodes until output can be handed out; a frame declaring
//! a huge window could therefore make it decode (and hold) without bound. So
//! the frame header is read here first, the window and any declared content
//! size are checked against the limit, and the frame is decoded one block
//! (at most 128 KiB of output) at a time, with the output checked after each.

use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};
use ruzstd::encoding::CompressionLevel;

use super::{Compression, decompress_error, size_hint};
use crate::error::{DecodeError, DecodeErrorKind, EncodeError};

/// The zstd frame magic number.
const FRAME_MAGIC: u32 = 0xFD2F_B528;
/// Skippable frames have magic numbers 0x184D2A50 to 0x184D2A5F.
const SKIPPABLE_MASK: u32 = 0xFFFF_FFF0;
const SKIPPABLE_MAGIC: u32 = 0x184D_2A50;
/// The window accepted even when the output limit is smaller: zstd's level
/// 19 uses 8 MiB windows for streams of unknown size, as Java writes them.
const MIN_WINDOW_CAP: u64 = 8 << 20;

/// Appends `input` as one zstd frame to `out`.
pub(super) fn compress(input: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    ruzstd::encoding::compress(input, &mut *out, CompressionLevel::Fastest);
    Ok(())
}

/// Decodes zstd frames (skippable frames are skipped), at most `limit` bytes
/// of output.
pub(super) fn decompress(input: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
    let codec = Compression::Zstd;
    let too_large = DecodeError::from(DecodeErrorKind::DecompressedTooLarge { codec, limit });
    let max_window = u64::try_from(limit).unwrap_or(u64::MAX).max(MIN_WINDOW_CAP);
    let mut out = Vec::with_capacity(size_hint(input).min(limit));
    let mut src = input;
    while !src.is_empty() {
        let magic =
            read_u32_le(src, 0).ok_or_else(|| decompress_error(codec, "truncated frame magic"))?;
        if magic & SKIPPABLE_MASK == SKIPPABLE_MAGIC {
            let length = read_u32_le(src, 4)
                .ok_or_else(|| decompress_error(codec, "truncated skippable frame"))?;
            src = usize::try_from(length)
                .ok()
                .and_then(|length| src.get(8_usize.checked_add(length)?..))
                .ok_or_else(|| decompress_error(codec, "skippable frame runs past the payload"))?;
            continue;
        }
        if magic != FRAME_MAGIC {
            return Err(decompress_error(
                codec,
                format_args!("bad frame magic {magic:#010x}"),
            ));
        }
        let header = FrameHeader::read(src)
            .ok_or_else(|| decompress_error(codec, "truncated frame header"))?;
        if header.window > max_window {
            return Err(decompress_error(
                codec,
                format_args!(
                    "window of {} bytes exceeds the cap of {max_window}",
                    header.window
                ),
            ));
        }
        let room = limit.saturating_sub(out.len());
        if header
            .content_size
            .is_some_and(|size| size > u64::try_from(room).unwrap_or(u64::MAX))
        {
            return Err(too_large);
        }

        let mut decoder = FrameDecoder::new();
        decoder
            .reset(&mut src)
            .map_err(|e| decompress_error(codec, e))?;
        loop {
            let finished = decoder
                .decode_blocks(&mut src, BlockDecodingStrategy::UptoBlocks(1))
                .map_err(|e| decompress_error(codec, e))?;
            decoder
                .collect_to_writer(&mut out)
                .map_err(|e| decompress_error(codec, e))?;
            if out.len() > limit {
                return Err(too_large);
            }
            if finished {
                break;
            }
        }
        if let (Some(stored), Some(computed)) = (
            decoder.get_checksum_from_data(),
            decoder.get_calculated_checksum(),
        ) {
            if stored != computed {
                return Err(decompress_error(codec, "content checksum mismatch"));
            }
        }
    }
    Ok(out)
}

fn read_u32_le(buf: &[u8], at: usize) -> Option<u32> {
    let bytes = buf.get(at..at.checked_add(4)?)?;
    let mut word = [0u8; 4];
    word.copy_from_slice(bytes);
    Some(u32::from_le_bytes(word))
}

/// What the decoder needs from a frame header before it allocates.
struct FrameHeader {
    /// Bytes of history the decoder must keep.
    window: u64,
    /// The declared decompressed size, if any.
    content_size: Option<u64>,
}

impl FrameHeader {
    /// Reads the header after the 4-byte magic (RFC 8878, section 3.1.1.1).
    fn read(frame: &[u8]) -> Option<FrameHeader> {
        let descriptor = *frame.get(4)?;
        let fcs_flag = descriptor >> 6;
        let single_segment = descriptor & 0x20 != 0;
        let dict_id_len = [0usize, 1, 2, 4][usize::from(descriptor & 0x03)];
        let mut at = 5;
        let mut window = None;
        if !single_segment {
            let window_descriptor = *frame.get(at)?;
            at += 1;
            let exponent = u32::from(window_descriptor >> 3);
            let base = 1u64 << (10 + exponent);
            let mantissa = u64::from(window_descriptor & 0x07);
            window = Some(base + (base / 8) * mantissa);
        }
        at += dict_id_len;
        let fcs_len = match fcs_flag {
            0 if single_segment => 1,
            0 => 0,
            1 => 2,
            2 => 4,
            _ => 8,
        };
        let content_size = if fcs_len == 0 {
            None
        } else {
            let bytes = frame.get(at..at + fcs_len)?;
            let mut word = [0u8; 8];
            word[..fcs_len].copy_from_slice(bytes);
            let value = u64::from_le_bytes(word);
            // A 2-byte field is offset by 256.
            Some(if fcs_len == 2 { value + 256 } else { value })
        };
        let window = match window {
            Some(window) => window,
            // A single-segment frame's window is its content size.
            None => content_size?,
        };
        Some(FrameHeader {
            window,
            content_size,
        })
    }
}
