//! gzip (codec 1): RFC 1952 members, deflate by flate2's pure-Rust backend.

use std::io::Write;

use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;

use super::{Compression, compress_error, read_capped, size_hint};
use crate::error::{DecodeError, EncodeError};

/// Appends one gzip member holding `input` to `out` (default level 6, as
/// Java's `GZIPOutputStream` and librdkafka use).
pub(super) fn compress(input: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let mut encoder = GzEncoder::new(out, flate2::Compression::default());
    encoder
        .write_all(input)
        .and_then(|()| encoder.try_finish())
        .map_err(|e| compress_error(Compression::Gzip, e))
}

/// Decodes every gzip member in `input` (Java's `GZIPInputStream` reads
/// concatenated members too).
pub(super) fn decompress(input: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
    read_capped(
        MultiGzDecoder::new(input),
        Compression::Gzip,
        limit,
        size_hint(input),
    )
}
