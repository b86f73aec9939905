//! Record batches: the v2 batch format (magic 2), legacy message sets
//! (magic 0 and 1), and the encoder the producer appends records to.
//!
//! # Reading
//!
//! A Fetch response carries each partition's records as one blob: a
//! sequence of batches as the broker stored them, possibly ending with a
//! partial batch. [`BatchReader`] walks such a blob batch by batch, verifying
//! each batch's CRC, and stops quietly at a partial batch. Each [`Batch`]
//! (v2 or legacy) hands out its [`Records`] (decompressed if needed, capped
//! by [`DecodeLimits`]), whose iterator yields [`Record`] views lazily:
//!
//! ```
//! # use bytes::Bytes;
//! # use kafka_proto::record::{BatchOptions, BatchReader, RecordBatchBuilder};
//! # let mut builder = RecordBatchBuilder::new(BatchOptions::default());
//! # builder.append(1_700_000_000_000, Some(b"order-1"), Some(b"created")).unwrap();
//! # let blob: Bytes = builder.finish().unwrap();
//! for batch in BatchReader::new(blob) {
//!     let batch = batch?;
//!     for record in batch.records()?.iter() {
//!         let record = record?;
//!         println!("{} {:?} {:?}", record.offset(), record.key(), record.value());
//!         let _owned = record.value_bytes(); // a zero-copy `Bytes` slice of the batch
//!     }
//! }
//! # Ok::<(), kafka_proto::DecodeError>(())
//! ```
//!
//! A [`Record`] borrows the records section: `key()`, `value()` and header
//! values are `&[u8]` slices of it, and `key_bytes()`, `value_bytes()` and
//! [`Header::value_bytes`] return `Bytes` slices sharing its allocation. Nothing
//! is copied and nothing is allocated per record; creating a `Bytes` costs a
//! reference-count increment, so it is done only when asked for.
//!
//! # Writing
//!
//! [`RecordBatchBuilder`] appends records, tracks the encoded size (for
//! `batch_size`) and finishes into one `Bytes` with the CRC back-patched.

mod batch;
mod builder;
mod control;
pub(crate) mod crc;
mod headers;
mod legacy;
mod reader;
mod records;

#[cfg(test)]
mod tests;

use std::fmt;

use crate::compression::Compression;

pub use batch::RecordBatch;
pub use builder::{
    BatchOptions, RecordBatchBuilder, record_size_upper_bound, restamp_producer_state,
};
pub use control::{ControlRecordKey, ControlRecordType, EndTxnMarker};
pub use headers::{Header, Headers};
pub use legacy::LegacyBatch;
pub use reader::{Batch, BatchReader};
pub use records::{Record, RecordIter, Records};

/// Bytes before a batch's `magic` that every format shares: base offset
/// (int64) and batch length (int32). The length counts the bytes after it.
pub const LOG_OVERHEAD: usize = 12;

/// Size of a v2 batch header, from the base offset to the record count.
pub const RECORD_BATCH_OVERHEAD: usize = 61;

/// The magic byte of v2 batches.
pub const MAGIC_V2: i8 = 2;

/// The producer id of a batch written without idempotence.
pub const NO_PRODUCER_ID: i64 = -1;
/// The producer epoch of a batch written without idempotence.
pub const NO_PRODUCER_EPOCH: i16 = -1;
/// The base sequence of a batch written without idempotence.
pub const NO_SEQUENCE: i32 = -1;
/// The partition leader epoch a producer writes (the broker sets it).
pub const NO_PARTITION_LEADER_EPOCH: i32 = -1;
/// The timestamp of a magic-0 message, which has none.
pub const NO_TIMESTAMP: i64 = -1;

/// Caps applied while decoding, so no peer can make the decoder allocate
/// without bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest batch (or legacy message), as framed, that is accepted. A
    /// batch whose size field says more is an error even before its bytes
    /// have all arrived.
    pub max_batch_bytes: usize,
    /// Largest decompressed records section (or legacy inner message set).
    pub max_decompressed_bytes: usize,
}

impl DecodeLimits {
    /// 64 MiB for both: far above Kafka's default `max.message.bytes`
    /// (1 MiB) and compression ratios of real data, far below harm.
    pub const DEFAULT: DecodeLimits = DecodeLimits {
        max_batch_bytes: 64 << 20,
        max_decompressed_bytes: 64 << 20,
    };
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Which clock a batch's timestamps come from (attribute bit 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimestampType {
    /// Magic-0 messages carry no timestamp.
    NoTimestamp,
    /// Set by the producer when the record was created.
    #[default]
    CreateTime,
    /// Set by the broker when it appended the batch; every record of the
    /// batch has the batch's max timestamp.
    LogAppendTime,
}

impl TimestampType {
    /// Java's name of the type (as `DumpLogSegments` prints it).
    pub fn name(self) -> &'static str {
        match self {
            TimestampType::NoTimestamp => "NoTimestampType",
            TimestampType::CreateTime => "CreateTime",
            TimestampType::LogAppendTime => "LogAppendTime",
        }
    }
}

/// The `attributes` field of a v2 batch, raw, with accessors for each bit.
///
/// ```text
/// bit 0~2: compression (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd)
/// bit 3:   timestampType
/// bit 4:   isTransactional
/// bit 5:   isControlBatch
/// bit 6:   hasDeleteHorizonMs
/// bit 7~15: unused
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Attributes(pub i16);

impl Attributes {
    /// Bits 0-2: the compression codec id.
    pub const COMPRESSION_MASK: i16 = 0x07;
    /// Bit 3: timestamps are log-append times.
    pub const LOG_APPEND_TIME: i16 = 0x08;
    /// Bit 4: the batch belongs to a transaction.
    pub const TRANSACTIONAL: i16 = 0x10;
    /// Bit 5: the batch holds a control record.
    pub const CONTROL: i16 = 0x20;
    /// Bit 6: the base timestamp is the compaction delete horizon.
    pub const DELETE_HORIZON: i16 = 0x40;

    /// Attributes with the given codec and every flag clear.
    pub fn new(compression: Compression) -> Self {
        Attributes(i16::from(compression.id()))
    }

    /// The codec id in bits 0-2 (5-7 are unknown codecs).
    pub fn compression_id(self) -> u8 {
        (self.0 & Self::COMPRESSION_MASK) as u8
    }

    /// The codec, if bits 0-2 name a known one.
    pub fn compression(self) -> Option<Compression> {
        Compression::from_id(self.compression_id())
    }

    /// Bit 3.
    pub fn timestamp_type(self) -> TimestampType {
        if self.0 & Self::LOG_APPEND_TIME != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// Bit 4.
    pub fn is_transactional(self) -> bool {
        self.0 & Self::TRANSACTIONAL != 0
    }

    /// Bit 5.
    pub fn is_control(self) -> bool {
        self.0 & Self::CONTROL != 0
    }

    /// Bit 6.
    pub fn has_delete_horizon(self) -> bool {
        self.0 & Self::DELETE_HORIZON != 0
    }

    /// These attributes with `flag` set or cleared.
    pub fn with(self, flag: i16, on: bool) -> Self {
        if on {
            Attributes(self.0 | flag)
        } else {
            Attributes(self.0 & !flag)
        }
    }
}

impl fmt::Debug for Attributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attributes")
            .field("compression_id", &self.compression_id())
            .field("timestamp_type", &self.timestamp_type())
            .field("transactional", &self.is_transactional())
            .field("control", &self.is_control())
            .field("delete_horizon", &self.has_delete_horizon())
            .finish()
    }
}
