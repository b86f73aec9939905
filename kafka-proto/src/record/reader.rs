//! Reading a records blob (a Fetch response partition's `records`, or a log
//! segment file) batch by batch.
//!
//! Every format starts with the same 12 bytes (base offset, then the size of
//! what follows) and has its magic byte at offset 16, so the reader frames
//! an entry before it knows its format. Kafka's rule: "A Fetch response can
//! end with a partial record batch: skip it, don't fail." The reader stops
//! quietly where the remaining bytes do not hold the whole next entry.

use bytes::Bytes;

use super::batch::{RecordBatch, at};
use super::legacy::{LegacyBatch, MESSAGE_OVERHEAD_V0};
use super::records::Records;
use super::{DecodeLimits, LOG_OVERHEAD, MAGIC_V2, TimestampType};
use crate::compression::Compression;
use crate::error::{DecodeError, DecodeErrorKind};

/// One entry of a records blob: a v2 batch or a legacy message.
#[derive(Debug, Clone)]
pub enum Batch {
    /// A v2 record batch (magic 2).
    V2(RecordBatch),
    /// A legacy message (magic 0 or 1), possibly a compressed wrapper.
    Legacy(LegacyBatch),
}

impl Batch {
    /// The records, decompressed if needed, ready to iterate.
    pub fn records(&self) -> Result<Records, DecodeError> {
        match self {
            Batch::V2(batch) => batch.records(),
            Batch::Legacy(batch) => batch.records(),
        }
    }

    /// The magic byte: 2, or 0 and 1 for legacy messages.
    pub fn magic(&self) -> i8 {
        match self {
            Batch::V2(_) => MAGIC_V2,
            Batch::Legacy(batch) => batch.magic(),
        }
    }

    /// The offset of the batch's last record (for a legacy wrapper, its own
    /// offset, which is that of its last inner message).
    pub fn last_offset(&self) -> i64 {
        match self {
            Batch::V2(batch) => batch.last_offset(),
            Batch::Legacy(batch) => batch.offset(),
        }
    }

    /// The offset to fetch from after this batch.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().wrapping_add(1)
    }

    /// The codec of the batch.
    pub fn compression(&self) -> Compression {
        match self {
            Batch::V2(batch) => batch.compression(),
            Batch::Legacy(batch) => batch.compression(),
        }
    }

    /// Which clock the timestamps come from.
    pub fn timestamp_type(&self) -> TimestampType {
        match self {
            Batch::V2(batch) => batch.timestamp_type(),
            Batch::Legacy(batch) => batch.timestamp_type(),
        }
    }

    /// Whether this is a control batch (never, for legacy messages).
    pub fn is_control(&self) -> bool {
        matches!(self, Batch::V2(batch) if batch.is_control())
    }

    /// Whether the batch belongs to a transaction (never, for legacy messages).
    pub fn is_transactional(&self) -> bool {
        matches!(self, Batch::V2(batch) if batch.is_transactional())
    }

    /// The producer id, or -1 (always, for legacy messages).
    pub fn producer_id(&self) -> i64 {
        match self {
            Batch::V2(batch) => batch.producer_id(),
            Batch::Legacy(_) => super::NO_PRODUCER_ID,
        }
    }

    /// The whole entry as received.
    pub fn as_bytes(&self) -> &Bytes {
        match self {
            Batch::V2(batch) => batch.as_bytes(),
            Batch::Legacy(batch) => batch.as_bytes(),
        }
    }
}

/// Walks a records blob, yielding each [`Batch`] in turn.
///
/// - A partial entry at the end is not an error: iteration ends and
///   [`BatchReader::trailing_bytes`] says how many bytes were left.
/// - A size field below the smallest entry, or above
///   [`DecodeLimits::max_batch_bytes`], is an error, after which the reader
///   yields nothing more (the framing cannot be trusted).
/// - A whole entry that is corrupt (CRC, magic, fields) is an error too,
///   but the reader can step over it, so the next call goes on with the
///   next entry; stop at the first error if that is what you want.
#[derive(Debug, Clone)]
pub struct BatchReader {
    buf: Bytes,
    pos: usize,
    limits: DecodeLimits,
    fused: bool,
}

impl BatchReader {
    /// A reader over `buf` with the default limits.
    pub fn new(buf: Bytes) -> Self {
        Self::with_limits(buf, DecodeLimits::DEFAULT)
    }

    /// A reader over `buf` with the given limits.
    pub fn with_limits(buf: Bytes, limits: DecodeLimits) -> Self {
        BatchReader {
            buf,
            pos: 0,
            limits,
            fused: false,
        }
    }

    /// Byte position of the next entry.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes after the last whole entry (a partial batch the broker cut).
    pub fn trailing_bytes(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn fail(&mut self, err: DecodeError) -> Option<Result<Batch, DecodeError>> {
        self.fused = true;
        Some(Err(err))
    }
}

impl Iterator for BatchReader {
    type Item = Result<Batch, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.fused {
            return None;
        }
        let position = self.pos;
        let rest = self.buf.get(position..)?;
        let (_, length) = rest.first_chunk::<LOG_OVERHEAD>()?.split_at(at::LENGTH);
        let length = i32::from_be_bytes(length.try_into().unwrap_or_default());
        let size = match usize::try_from(length) {
            Ok(size) if size >= MESSAGE_OVERHEAD_V0 => size,
            _ => {
                return self.fail(DecodeError::from(DecodeErrorKind::BatchLengthTooSmall {
                    position,
                    length,
                    min: MESSAGE_OVERHEAD_V0,
                }));
            }
        };
        if size > self.limits.max_batch_bytes {
            return self.fail(DecodeError::from(DecodeErrorKind::BatchTooLarge {
                position,
                length: size,
                limit: self.limits.max_batch_bytes,
            }));
        }
        let total = size + LOG_OVERHEAD;
        if rest.len() < total {
            // A partial entry: the broker cut the response here.
            return None;
        }
        let magic = rest.get(at::MAGIC).map_or(-1, |&m| m as i8);
        let raw = self.buf.slice(position..position + total);
        self.pos = position + total;
        Some(match magic {
            MAGIC_V2 => RecordBatch::decode_at(raw, &self.limits, position).map(Batch::V2),
            0 | 1 => LegacyBatch::decode_at(raw, &self.limits, position).map(Batch::Legacy),
            magic => Err(DecodeErrorKind::UnsupportedMagic { position, magic }.into()),
        })
    }
}
