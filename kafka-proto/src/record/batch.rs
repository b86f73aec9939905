//! The v2 record batch header (magic 2), decoded and CRC-checked.
//!
//! ```text
//! baseOffset: int64
//! batchLength: int32
//! partitionLeaderEpoch: int32
//! magic: int8 (current magic value is 2)
//! crc: uint32
//! attributes: int16
//! lastOffsetDelta: int32
//! baseTimestamp: int64
//! maxTimestamp: int64
//! producerId: int64
//! producerEpoch: int16
//! baseSequence: int32
//! recordsCount: int32
//! records: [Record]
//! ```
//!
//! "The CRC covers the data from the attributes to the end of the batch
//! (i.e. all the bytes that follow the CRC). [...] The CRC-32C (Castagnoli)
//! polynomial is used for the computation."

use std::fmt;

use bytes::Bytes;

use super::records::Records;
use super::{
    Attributes, DecodeLimits, LOG_OVERHEAD, MAGIC_V2, RECORD_BATCH_OVERHEAD, TimestampType,
};
use crate::compression::Compression;
use crate::error::{DecodeError, DecodeErrorKind};

/// Field positions in the v2 header.
pub(crate) mod at {
    pub(crate) const BASE_OFFSET: usize = 0;
    pub(crate) const LENGTH: usize = 8;
    pub(crate) const PARTITION_LEADER_EPOCH: usize = 12;
    pub(crate) const MAGIC: usize = 16;
    pub(crate) const CRC: usize = 17;
    pub(crate) const ATTRIBUTES: usize = 21;
    pub(crate) const LAST_OFFSET_DELTA: usize = 23;
    pub(crate) const BASE_TIMESTAMP: usize = 27;
    pub(crate) const MAX_TIMESTAMP: usize = 35;
    pub(crate) const PRODUCER_ID: usize = 43;
    pub(crate) const PRODUCER_EPOCH: usize = 51;
    pub(crate) const BASE_SEQUENCE: usize = 53;
    pub(crate) const RECORDS_COUNT: usize = 57;
}

/// Reads a big-endian field of `N` bytes at `at` of a header known to be
/// [`RECORD_BATCH_OVERHEAD`] bytes long.
#[inline(always)]
fn field<const N: usize>(header: &[u8; RECORD_BATCH_OVERHEAD], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(bytes) = header.get(at..at + N) {
        out.copy_from_slice(bytes);
    }
    out
}

/// One v2 record batch: its header fields, and its records section (still
/// compressed, if the batch is) as a slice of the buffer it was read from.
#[derive(Clone)]
pub struct RecordBatch {
    raw: Bytes,
    base_offset: i64,
    partition_leader_epoch: i32,
    crc: u32,
    attributes: Attributes,
    compression: Compression,
    last_offset_delta: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    record_count: i32,
    max_decompressed_bytes: usize,
}

impl RecordBatch {
    /// Decodes one whole v2 batch: `raw` runs from its base offset to its
    /// last byte, as the batch length says. The CRC is verified.
    pub fn decode(raw: Bytes, limits: &DecodeLimits) -> Result<RecordBatch, DecodeError> {
        Self::decode_at(raw, limits, 0)
    }

    /// [`RecordBatch::decode`], with `position` (the batch's place in a
    /// larger buffer) used in errors.
    pub(crate) fn decode_at(
        raw: Bytes,
        limits: &DecodeLimits,
        position: usize,
    ) -> Result<RecordBatch, DecodeError> {
        let Some(header) = raw.first_chunk::<RECORD_BATCH_OVERHEAD>() else {
            return Err(DecodeErrorKind::BatchLengthTooSmall {
                position,
                length: i32::try_from(raw.len().saturating_sub(LOG_OVERHEAD)).unwrap_or(i32::MAX),
                min: RECORD_BATCH_OVERHEAD - LOG_OVERHEAD,
            }
            .into());
        };
        let base_offset = i64::from_be_bytes(field(header, at::BASE_OFFSET));
        let length = i32::from_be_bytes(field(header, at::LENGTH));
        let magic = i8::from_be_bytes(field(header, at::MAGIC));
        if magic != MAGIC_V2 {
            return Err(DecodeErrorKind::UnsupportedMagic { position, magic }.into());
        }
        if usize::try_from(length)
            .ok()
            .and_then(|l| l.checked_add(LOG_OVERHEAD))
            != Some(raw.len())
        {
            return Err(DecodeErrorKind::InvalidBatchField {
                base_offset,
                field: "batch length",
                value: i64::from(length),
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
        let stored = u32::from_be_bytes(field(header, at::CRC));
        let computed = super::crc::crc32c(raw.get(at::ATTRIBUTES..).unwrap_or_default());
        if stored != computed {
            return Err(DecodeErrorKind::CrcMismatch {
                base_offset,
                stored,
                computed,
            }
            .into());
        }
        let attributes = Attributes(i16::from_be_bytes(field(header, at::ATTRIBUTES)));
        let compression = attributes.compression().ok_or(DecodeError::from(
            DecodeErrorKind::UnknownCompression {
                base_offset,
                id: attributes.compression_id(),
            },
        ))?;
        let record_count = i32::from_be_bytes(field(header, at::RECORDS_COUNT));
        if record_count < 0 {
            return Err(DecodeErrorKind::InvalidBatchField {
                base_offset,
                field: "record count",
                value: i64::from(record_count),
            }
            .into());
        }
        Ok(RecordBatch {
            base_offset,
            partition_leader_epoch: i32::from_be_bytes(field(header, at::PARTITION_LEADER_EPOCH)),
            crc: stored,
            attributes,
            compression,
            last_offset_delta: i32::from_be_bytes(field(header, at::LAST_OFFSET_DELTA)),
            base_timestamp: i64::from_be_bytes(field(header, at::BASE_TIMESTAMP)),
            max_timestamp: i64::from_be_bytes(field(header, at::MAX_TIMESTAMP)),
            producer_id: i64::from_be_bytes(field(header, at::PRODUCER_ID)),
            producer_epoch: i16::from_be_bytes(field(header, at::PRODUCER_EPOCH)),
            base_sequence: i32::from_be_bytes(field(header, at::BASE_SEQUENCE)),
            record_count,
            max_decompressed_bytes: limits.max_decompressed_bytes,
            raw,
        })
    }

    /// The records, decompressed if the batch is compressed (at most
    /// [`DecodeLimits::max_decompressed_bytes`]); iterate them with
    /// [`Records::iter`]. Uncompressed batches are not copied.
    pub fn records(&self) -> Result<Records, DecodeError> {
        let section = self.raw.slice(RECORD_BATCH_OVERHEAD..);
        let data = match self.compression {
            Compression::None => section,
            codec => Bytes::from(codec.decompress(&section, self.max_decompressed_bytes)?),
        };
        let log_append_time = (self.attributes.timestamp_type() == TimestampType::LogAppendTime)
            .then_some(self.max_timestamp);
        Ok(Records::v2(
            data,
            self.base_offset,
            self.base_timestamp,
            log_append_time,
            self.record_count,
        ))
    }

    /// The whole batch as received, from the base offset on.
    pub fn as_bytes(&self) -> &Bytes {
        &self.raw
    }

    /// The records section as stored (compressed, if the batch is).
    pub fn records_section(&self) -> Bytes {
        self.raw.slice(RECORD_BATCH_OVERHEAD..)
    }

    /// Offset of the first record.
    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// Offset of the last record (`base_offset + last_offset_delta`); after
    /// compaction it may be past the last record still present.
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .wrapping_add(i64::from(self.last_offset_delta))
    }

    /// The offset to fetch from after this batch.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().wrapping_add(1)
    }

    /// Size of the batch in bytes, header included.
    pub fn size(&self) -> usize {
        self.raw.len()
    }

    /// The leader epoch the broker stamped on the batch.
    pub fn partition_leader_epoch(&self) -> i32 {
        self.partition_leader_epoch
    }

    /// The stored (and verified) CRC-32C.
    pub fn crc(&self) -> u32 {
        self.crc
    }

    /// The raw attributes.
    pub fn attributes(&self) -> Attributes {
        self.attributes
    }

    /// The codec of the records section.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Which clock the timestamps come from.
    pub fn timestamp_type(&self) -> TimestampType {
        self.attributes.timestamp_type()
    }

    /// Whether the batch belongs to a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes.is_transactional()
    }

    /// Whether the batch holds a control record (a transaction marker).
    pub fn is_control(&self) -> bool {
        self.attributes.is_control()
    }

    /// Whether the base timestamp is the compaction delete horizon.
    pub fn has_delete_horizon(&self) -> bool {
        self.attributes.has_delete_horizon()
    }

    /// `lastOffsetDelta`.
    pub fn last_offset_delta(&self) -> i32 {
        self.last_offset_delta
    }

    /// `baseTimestamp`: the first record's timestamp (or the delete horizon).
    pub fn base_timestamp(&self) -> i64 {
        self.base_timestamp
    }

    /// `maxTimestamp`: the largest record timestamp, or the log-append time.
    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }

    /// The idempotent or transactional producer's id, or -1.
    pub fn producer_id(&self) -> i64 {
        self.producer_id
    }

    /// The producer's epoch, or -1.
    pub fn producer_epoch(&self) -> i16 {
        self.producer_epoch
    }

    /// Sequence number of the first record, or -1.
    pub fn base_sequence(&self) -> i32 {
        self.base_sequence
    }

    /// Sequence number of the last record, or -1. Sequences wrap from
    /// `i32::MAX` to 0, as in Java.
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence < 0 {
            return self.base_sequence;
        }
        let last = i64::from(self.base_sequence) + i64::from(self.last_offset_delta);
        // Java: DefaultRecordBatch.incrementSequence wraps past Integer.MAX_VALUE.
        i32::try_from(last).unwrap_or_else(|_| (last - i64::from(i32::MAX) - 1) as i32)
    }

    /// The `recordsCount` field.
    pub fn record_count(&self) -> i32 {
        self.record_count
    }
}

impl fmt::Debug for RecordBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordBatch")
            .field("base_offset", &self.base_offset)
            .field("size", &self.raw.len())
            .field("partition_leader_epoch", &self.partition_leader_epoch)
            .field("crc", &format_args!("{:#010x}", self.crc))
            .field("attributes", &self.attributes)
            .field("last_offset_delta", &self.last_offset_delta)
            .field("base_timestamp", &self.base_timestamp)
            .field("max_timestamp", &self.max_timestamp)
            .field("producer_id", &self.producer_id)
            .field("producer_epoch", &self.producer_epoch)
            .field("base_sequence", &self.base_sequence)
            .field("record_count", &self.record_count)
            .finish()
    }
}
