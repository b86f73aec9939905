//! LZ4 (codec 3) in the LZ4 frame format, as KIP-57 settled it.
//!
//! Java's `KafkaLZ4BlockOutputStream` writes frames of 64 KiB independent
//! blocks with no checksums; librdkafka uses liblz4's frame API. Both read
//! standard frames, which is what we write. On decode any block size and
//! either block mode is accepted.
//!
//! Magic-0 messages from Kafka before 0.10 carry a wrong frame-descriptor
//! checksum (it covered the magic number too). Java skips that check for
//! magic 0; here the checksum byte is recomputed before decoding.

use std::io::{Read, Write};

use lz4_flex::frame::{BlockMode, BlockSize, FrameDecoder, FrameEncoder, FrameInfo};

use super::xxhash32::xxh32;
use super::{Compression, compress_error, read_capped, size_hint};
use crate::error::{DecodeError, EncodeError};

/// The LZ4 frame magic number, little-endian.
const FRAME_MAGIC: [u8; 4] = [0x04, 0x22, 0x4D, 0x18];
/// FLG bit: the frame descriptor carries an 8-byte content size.
const FLG_CONTENT_SIZE: u8 = 0x08;
/// FLG bit: the frame descriptor carries a 4-byte dictionary id.
const FLG_DICT_ID: u8 = 0x01;

/// Appends `input` as one LZ4 frame to `out`.
pub(super) fn compress(input: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let info = FrameInfo::new()
        .block_size(BlockSize::Max64KB)
        .block_mode(BlockMode::Independent);
    let mut encoder = FrameEncoder::with_frame_info(info, out);
    encoder
        .write_all(input)
        .map_err(|e| compress_error(Compression::Lz4, e))?;
    encoder
        .finish()
        .map_err(|e| compress_error(Compression::Lz4, e))?;
    Ok(())
}

/// Decodes LZ4 frames, at most `limit` bytes of output. With
/// `fix_header_checksum`, the first frame's descriptor checksum is
/// recomputed first (magic-0 messages).
pub(super) fn decompress(
    input: &[u8],
    limit: usize,
    fix_header_checksum: bool,
) -> Result<Vec<u8>, DecodeError> {
    if fix_header_checksum {
        if let Some((header, rest)) = repaired_header(input) {
            let reader = FrameDecoder::new(header.as_slice().chain(rest));
            return read_capped(reader, Compression::Lz4, limit, size_hint(input));
        }
    }
    read_capped(
        FrameDecoder::new(input),
        Compression::Lz4,
        limit,
        size_hint(input),
    )
}

/// The frame header of `input` with its checksum byte recomputed, and the
/// bytes after it; `None` if `input` does not start with a frame header.
fn repaired_header(input: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let rest = input.strip_prefix(&FRAME_MAGIC[..])?;
    let flg = *rest.first()?;
    let mut descriptor_len = 2;
    if flg & FLG_CONTENT_SIZE != 0 {
        descriptor_len += 8;
    }
    if flg & FLG_DICT_ID != 0 {
        descriptor_len += 4;
    }
    let descriptor = rest.get(..descriptor_len)?;
    let after = rest.get(descriptor_len + 1..)?;
    let mut header = Vec::with_capacity(FRAME_MAGIC.len() + descriptor_len + 1);
    header.extend_from_slice(&FRAME_MAGIC);
    header.extend_from_slice(descriptor);
    header.push((xxh32(descriptor, 0) >> 8) as u8);
    Some((header, after))
}
