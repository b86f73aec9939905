//! Legacy message sets: magic 0 (Kafka before 0.10) and magic 1 (0.10).
//!
//! ```text
//! MessageSet => [offset message_size message]
//! offset => INT64
//! message_size => INT32
//! message => crc magic_byte attributes [timestamp, magic 1 only] key value
//!     crc => INT32 (CRC-32 of magic_byte to the end of value)
//!     magic_byte => INT8
//!     attributes => INT8 (bits 0~2 compression: 0 none, 1 gzip, 2 snappy, 3 lz4;
//!                         bit 3 timestampType, magic 1 only)
//!     timestamp => INT64
//!     key => BYTES
//!     value => BYTES
//! ```
//!
//! A compressed message (a "wrapper") has a null key and a value that is a
//! compressed message set of "inner" messages. "Note that the key should be
//! null for the outer message and its offset will be the offset of the last
//! inner message." With magic 0 inner offsets are absolute; with magic 1
//! "the inner messages will have relative offsets. The absolute offset can
//! be computed using the offset from the outer message, which corresponds to
//! the offset assigned to the last inner message."
//!
//! Each top-level message is one [`LegacyBatch`]; its records are the
//! message itself, or the inner messages of a wrapper, as [`Record`] views
//! with no headers. Like Java, this rejects nested compression, inner
//! messages whose magic differs from the wrapper's, and empty wrappers.

use std::fmt;

use bytes::Bytes;

use super::records::{Record, Records};
use super::{DecodeLimits, LOG_OVERHEAD, NO_TIMESTAMP, TimestampType};
use crate::compression::Compression;
use crate::error::{DecodeError, DecodeErrorKind, RecordProblem};

/// Smallest magic-0 message: crc, magic, attributes, key and value lengths.
pub(crate) const MESSAGE_OVERHEAD_V0: usize = 14;
/// Smallest magic-1 message: magic 0 plus the timestamp.
const MESSAGE_OVERHEAD_V1: usize = 22;
/// Attribute bit 3 of magic-1 messages: log-append time.
const LOG_APPEND_TIME: i8 = 0x08;

/// One top-level legacy message: a single record, or a compressed wrapper
/// around a set of them.
#[derive(Clone)]
pub struct LegacyBatch {
    raw: Bytes,
    offset: i64,
    magic: i8,
    attributes: i8,
    compression: Compression,
    timestamp: i64,
    crc: u32,
    value: Option<Bytes>,
    max_decompressed_bytes: usize,
}

impl LegacyBatch {
    /// Decodes one whole top-level legacy entry (offset, size and message),
    /// verifying its CRC.
    pub fn decode(raw: Bytes, limits: &DecodeLimits) -> Result<LegacyBatch, DecodeError> {
        Self::decode_at(raw, limits, 0)
    }

    pub(crate) fn decode_at(
        raw: Bytes,
        limits: &DecodeLimits,
        position: usize,
    ) -> Result<LegacyBatch, DecodeError> {
        let (message, end) = parse_entry(&raw, 0)?;
        if end != raw.len() {
            return Err(DecodeErrorKind::LegacyMessage {
                offset: message.offset,
                position,
                problem: RecordProblem::LengthMismatch {
                    declared: raw.len(),
                    actual: end,
                },
            }
            .into());
        }
        if raw.len() - LOG_OVERHEAD > limits.max_batch_bytes {
            return Err(DecodeErrorKind::BatchTooLarge {
                position,
                length: raw.len() - LOG_OVERHEAD,
                limit: limits.max_batch_bytes,
            }
            .into());
        }
        let compression = message.compression()?;
        if compression == Compression::Zstd {
            return Err(DecodeErrorKind::CompressionNotAllowed {
                base_offset: message.offset,
                codec: compression,
                context: "a legacy message (zstd needs magic 2)",
            }
            .into());
        }
        let value = message.value.map(|v| raw.slice_ref(v));
        Ok(LegacyBatch {
            offset: message.offset,
            magic: message.magic,
            attributes: message.attributes,
            compression,
            timestamp: message.timestamp,
            crc: message.crc,
            value,
            max_decompressed_bytes: limits.max_decompressed_bytes,
            raw,
        })
    }

    /// The records: the message itself, or a wrapper's inner messages
    /// (decompressed, at most [`DecodeLimits::max_decompressed_bytes`]).
    pub fn records(&self) -> Result<Records, DecodeError> {
        if self.compression == Compression::None {
            return Ok(Records::legacy(self.raw.clone(), LegacyWrapper::Plain));
        }
        let compressed =
            self.value
                .as_deref()
                .ok_or(DecodeError::from(DecodeErrorKind::LegacyMessage {
                    offset: self.offset,
                    position: 0,
                    problem: RecordProblem::Truncated("compressed wrapper value (null)"),
                }))?;
        let inner = Bytes::from(self.compression.decompress_legacy(
            self.magic,
            compressed,
            self.max_decompressed_bytes,
        )?);
        // The offset of the last inner message, to turn magic-1 relative
        // offsets into absolute ones.
        let mut pos = 0;
        let mut last_inner_offset = None;
        while pos < inner.len() {
            let (message, next) = parse_entry(&inner, pos)?;
            last_inner_offset = Some(message.offset);
            pos = next;
        }
        let last_inner_offset =
            last_inner_offset.ok_or(DecodeError::from(DecodeErrorKind::LegacyMessage {
                offset: self.offset,
                position: 0,
                problem: RecordProblem::EmptyWrapper,
            }))?;
        let log_append_time =
            (self.timestamp_type() == TimestampType::LogAppendTime).then_some(self.timestamp);
        Ok(Records::legacy(
            inner,
            LegacyWrapper::Compressed {
                magic: self.magic,
                offset: self.offset,
                last_inner_offset,
                log_append_time,
            },
        ))
    }

    /// The message's offset; for a compressed wrapper, the offset of its
    /// last inner message.
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// The magic byte (0 or 1).
    pub fn magic(&self) -> i8 {
        self.magic
    }

    /// The raw attributes byte.
    pub fn attributes(&self) -> i8 {
        self.attributes
    }

    /// The codec of the wrapper, or none.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Which clock the timestamp comes from.
    pub fn timestamp_type(&self) -> TimestampType {
        match self.magic {
            0 => TimestampType::NoTimestamp,
            _ if self.attributes & LOG_APPEND_TIME != 0 => TimestampType::LogAppendTime,
            _ => TimestampType::CreateTime,
        }
    }

    /// The message's timestamp (-1 for magic 0).
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// The stored (and verified) CRC-32.
    pub fn crc(&self) -> u32 {
        self.crc
    }

    /// The whole entry as received.
    pub fn as_bytes(&self) -> &Bytes {
        &self.raw
    }
}

impl fmt::Debug for LegacyBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LegacyBatch")
            .field("offset", &self.offset)
            .field("magic", &self.magic)
            .field("compression", &self.compression)
            .field("timestamp", &self.timestamp)
            .field("size", &self.raw.len())
            .finish()
    }
}

/// How the records of a legacy batch relate to their message.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LegacyWrapper {
    /// An uncompressed top-level message: its "set" is itself.
    Plain,
    /// The inner set of a compressed wrapper.
    Compressed {
        magic: i8,
        offset: i64,
        last_inner_offset: i64,
        log_append_time: Option<i64>,
    },
}

/// Iterator over a legacy message set.
pub(crate) struct LegacyIter<'a> {
    source: &'a Bytes,
    pos: usize,
    wrapper: LegacyWrapper,
}

impl<'a> LegacyIter<'a> {
    pub(crate) fn new(source: &'a Bytes, wrapper: LegacyWrapper) -> Self {
        LegacyIter {
            source,
            pos: 0,
            wrapper,
        }
    }

    pub(crate) fn next(&mut self) -> Option<Result<Record<'a>, DecodeError>> {
        let source: &'a Bytes = self.source;
        let data: &'a [u8] = source;
        if self.pos >= data.len() {
            return None;
        }
        let position = self.pos;
        let result = parse_entry(data, position).and_then(|(message, next)| {
            self.pos = next;
            let (offset, timestamp) = match self.wrapper {
                LegacyWrapper::Plain => (message.offset, message.timestamp),
                LegacyWrapper::Compressed {
                    magic,
                    offset,
                    last_inner_offset,
                    log_append_time,
                } => {
                    let codec = message.compression()?;
                    if codec != Compression::None {
                        return Err(DecodeErrorKind::CompressionNotAllowed {
                            base_offset: message.offset,
                            codec,
                            context: "a message inside a compressed wrapper",
                        }
                        .into());
                    }
                    if message.magic != magic {
                        return Err(DecodeErrorKind::LegacyMessage {
                            offset: message.offset,
                            position,
                            problem: RecordProblem::MagicMismatch {
                                outer: magic,
                                inner: message.magic,
                            },
                        }
                        .into());
                    }
                    let absolute = if magic == 0 {
                        message.offset
                    } else {
                        offset
                            .wrapping_sub(last_inner_offset)
                            .wrapping_add(message.offset)
                    };
                    (absolute, log_append_time.unwrap_or(message.timestamp))
                }
            };
            Ok(Record::legacy(
                source,
                offset,
                timestamp,
                message.attributes,
                message.key,
                message.value,
            ))
        });
        if result.is_err() {
            self.pos = data.len();
        }
        Some(result)
    }
}

/// One legacy message, as parsed.
struct LegacyMessage<'a> {
    offset: i64,
    crc: u32,
    magic: i8,
    attributes: i8,
    timestamp: i64,
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
}

impl LegacyMessage<'_> {
    fn compression(&self) -> Result<Compression, DecodeError> {
        let id = (self.attributes & 0x07) as u8;
        Compression::from_id(id).ok_or(DecodeError::from(DecodeErrorKind::UnknownCompression {
            base_offset: self.offset,
            id,
        }))
    }
}

/// Parses the entry (offset, size, message) at `pos` of `data`, verifying
/// its CRC; returns it and the position after it.
fn parse_entry(data: &[u8], pos: usize) -> Result<(LegacyMessage<'_>, usize), DecodeError> {
    let fail = |offset: i64, problem: RecordProblem| {
        DecodeError::from(DecodeErrorKind::LegacyMessage {
            offset,
            position: pos,
            problem,
        })
    };
    let header = data
        .get(pos..)
        .and_then(|rest| rest.first_chunk::<LOG_OVERHEAD>())
        .ok_or(fail(-1, RecordProblem::Truncated("offset and size")))?;
    let (offset, size) = header.split_at(8);
    let offset = i64::from_be_bytes(offset.try_into().unwrap_or_default());
    let size = i32::from_be_bytes(size.try_into().unwrap_or_default());
    let size = usize::try_from(size).map_err(|_| {
        fail(
            offset,
            RecordProblem::NegativeLength {
                field: "message size",
                length: i64::from(size),
            },
        )
    })?;
    let start = pos + LOG_OVERHEAD;
    let message = start
        .checked_add(size)
        .and_then(|end| data.get(start..end))
        .ok_or(fail(offset, RecordProblem::Truncated("message")))?;
    let Some((crc, rest)) = message.split_first_chunk::<4>() else {
        return Err(fail(offset, RecordProblem::Truncated("crc")));
    };
    let stored = u32::from_be_bytes(*crc);
    let Some((&magic, rest)) = rest.split_first() else {
        return Err(fail(offset, RecordProblem::Truncated("magic")));
    };
    let magic = magic as i8;
    let minimum = match magic {
        0 => MESSAGE_OVERHEAD_V0,
        1 => MESSAGE_OVERHEAD_V1,
        _ => {
            return Err(DecodeErrorKind::UnsupportedMagic {
                position: pos,
                magic,
            }
            .into());
        }
    };
    if size < minimum {
        return Err(fail(offset, RecordProblem::Truncated("message header")));
    }
    let mut crc = flate2::Crc::new();
    crc.update(message.get(4..).unwrap_or_default());
    if crc.sum() != stored {
        return Err(DecodeErrorKind::CrcMismatch {
            base_offset: offset,
            stored,
            computed: crc.sum(),
        }
        .into());
    }
    let Some((&attributes, mut rest)) = rest.split_first() else {
        return Err(fail(offset, RecordProblem::Truncated("attributes")));
    };
    let mut timestamp = NO_TIMESTAMP;
    if magic == 1 {
        let Some((ts, after)) = rest.split_first_chunk::<8>() else {
            return Err(fail(offset, RecordProblem::Truncated("timestamp")));
        };
        timestamp = i64::from_be_bytes(*ts);
        rest = after;
    }
    let key = int32_bytes(&mut rest).ok_or(fail(offset, RecordProblem::Truncated("key")))?;
    let value = int32_bytes(&mut rest).ok_or(fail(offset, RecordProblem::Truncated("value")))?;
    if !rest.is_empty() {
        return Err(fail(
            offset,
            RecordProblem::LengthMismatch {
                declared: size,
                actual: size - rest.len(),
            },
        ));
    }
    Ok((
        LegacyMessage {
            offset,
            crc: stored,
            magic,
            attributes: attributes as i8,
            timestamp,
            key,
            value,
        },
        start + size,
    ))
}

/// Reads an int32-length-prefixed nullable byte string (-1 is null); `None`
/// if the bytes end early.
fn int32_bytes<'a>(rest: &mut &'a [u8]) -> Option<Option<&'a [u8]>> {
    let (length, after) = rest.split_first_chunk::<4>()?;
    let length = i32::from_be_bytes(*length);
    let Ok(length) = usize::try_from(length) else {
        *rest = after;
        return Some(None);
    };
    let bytes = after.get(..length)?;
    *rest = after.get(length..)?;
    Some(Some(bytes))
}
