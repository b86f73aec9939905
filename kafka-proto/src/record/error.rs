//! Errors of the record-batch and compression codecs.
//!
//! Every decode error says what was malformed and where: the byte position
//! in the buffer handed to the reader for batch framing, or the batch's base
//! offset, the record's index and the byte position inside the (decompressed)
//! records section for record-level faults. A peer that sends a short buffer
//! is never an error (the reader stops and reports nothing); these errors are
//! for bytes that cannot be a valid batch.

use crate::compression::Compression;

/// A record batch, legacy message or compressed payload that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The batch (or legacy message) size field is smaller than any valid entry.
    #[error("batch at byte {position}: size field {length} is below the minimum of {min} bytes")]
    BatchLengthTooSmall {
        /// Byte position of the batch in the buffer being read.
        position: usize,
        /// The size field as read.
        length: i32,
        /// The smallest size a valid entry of that kind can have.
        min: usize,
    },
    /// The batch size field is larger than [`DecodeLimits::max_batch_bytes`](super::DecodeLimits::max_batch_bytes).
    #[error("batch at byte {position}: size {length} exceeds the limit of {limit} bytes")]
    BatchTooLarge {
        /// Byte position of the batch in the buffer being read.
        position: usize,
        /// The size field as read.
        length: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The magic byte names a format this crate does not know (0, 1 and 2 are known).
    #[error("batch at byte {position}: unsupported magic {magic}")]
    UnsupportedMagic {
        /// Byte position of the batch in the buffer being read.
        position: usize,
        /// The magic byte as read.
        magic: i8,
    },
    /// The stored CRC does not match the bytes (CRC-32C for v2 batches, CRC-32 for legacy messages).
    #[error(
        "batch at offset {base_offset}: CRC mismatch (stored {stored:#010x}, computed {computed:#010x})"
    )]
    CrcMismatch {
        /// Base offset of the batch (offset of the legacy message).
        base_offset: i64,
        /// CRC stored in the batch.
        stored: u32,
        /// CRC computed over the bytes received.
        computed: u32,
    },
    /// The compression bits of the attributes name no known codec.
    #[error("batch at offset {base_offset}: unknown compression codec id {id}")]
    UnknownCompression {
        /// Base offset of the batch.
        base_offset: i64,
        /// The codec id (attribute bits 0-2).
        id: u8,
    },
    /// The codec may not appear here (zstd in a legacy message, or a
    /// compressed message nested in a compressed wrapper).
    #[error("batch at offset {base_offset}: {codec} compression is not allowed in {context}")]
    CompressionNotAllowed {
        /// Base offset of the batch or offset of the legacy message.
        base_offset: i64,
        /// The codec found.
        codec: Compression,
        /// Where it was found.
        context: &'static str,
    },
    /// The compressed payload is corrupt.
    #[error("{codec} payload is corrupt: {reason}")]
    Decompress {
        /// Codec of the payload.
        codec: Compression,
        /// What the decompressor reported.
        reason: String,
    },
    /// Decompressing would produce more than the allowed number of bytes.
    #[error("{codec} payload decompresses to more than the limit of {limit} bytes")]
    DecompressedTooLarge {
        /// Codec of the payload.
        codec: Compression,
        /// The configured limit.
        limit: usize,
    },
    /// A field header of the v2 batch is invalid.
    #[error("batch at offset {base_offset}: invalid {field} {value}")]
    InvalidBatchField {
        /// Base offset of the batch.
        base_offset: i64,
        /// Which field.
        field: &'static str,
        /// The value as read.
        value: i64,
    },
    /// A record inside a v2 batch is malformed.
    #[error(
        "batch at offset {base_offset}, record {index} (byte {position} of the records): {problem}"
    )]
    Record {
        /// Base offset of the batch.
        base_offset: i64,
        /// Index of the record within the batch, from 0.
        index: u32,
        /// Byte position in the (decompressed) records section.
        position: usize,
        /// What is wrong.
        problem: RecordProblem,
    },
    /// The records section ended before the declared number of records.
    #[error("batch at offset {base_offset}: declares {declared} records but holds {found}")]
    RecordCountMismatch {
        /// Base offset of the batch.
        base_offset: i64,
        /// The record count field.
        declared: i32,
        /// Records actually present.
        found: u32,
    },
    /// Bytes remain after the declared number of records.
    #[error("batch at offset {base_offset}: {extra} bytes follow the last declared record")]
    TrailingBytes {
        /// Base offset of the batch.
        base_offset: i64,
        /// How many bytes are left over.
        extra: usize,
    },
    /// A legacy (magic 0 or 1) message is malformed.
    #[error("legacy message at offset {offset} (byte {position}): {problem}")]
    LegacyMessage {
        /// Offset field of the message.
        offset: i64,
        /// Byte position of the message in its message set.
        position: usize,
        /// What is wrong.
        problem: RecordProblem,
    },
    /// A control record's key or value does not follow its schema.
    #[error("control record: {0}")]
    InvalidControlRecord(&'static str),
}

/// What is wrong with one record (v2) or legacy message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordProblem {
    /// The bytes end inside the named field.
    #[error("truncated in {0}")]
    Truncated(&'static str),
    /// A varint runs past its maximum width (5 bytes for varint, 10 for varlong).
    #[error("{0} varint is too long")]
    VarintTooLong(&'static str),
    /// A length that must not be negative is.
    #[error("negative {field} {length}")]
    NegativeLength {
        /// Which length.
        field: &'static str,
        /// The value read.
        length: i64,
    },
    /// The record's declared length disagrees with its fields.
    #[error("record length {declared} but fields take {actual} bytes")]
    LengthMismatch {
        /// The record's length prefix.
        declared: usize,
        /// Bytes its fields actually took.
        actual: usize,
    },
    /// The magic of an inner legacy message differs from what is allowed.
    #[error("inner message magic {inner} does not match wrapper magic {outer}")]
    MagicMismatch {
        /// The wrapper's magic.
        outer: i8,
        /// The inner message's magic.
        inner: i8,
    },
    /// An inner message set of a compressed wrapper holds no message.
    #[error("compressed wrapper holds no message")]
    EmptyWrapper,
}

/// A record batch that cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A batch needs at least one record.
    #[error("a record batch needs at least one record")]
    EmptyBatch,
    /// The batch would hold more records than a v2 batch can count.
    #[error("a record batch holds at most {max} records")]
    TooManyRecords {
        /// The maximum.
        max: usize,
    },
    /// A field is longer than its length prefix can say.
    #[error("{field} of {length} bytes is longer than a batch can hold")]
    FieldTooLong {
        /// Which field.
        field: &'static str,
        /// Its length.
        length: usize,
    },
    /// The encoded batch would exceed the `i32` batch length.
    #[error("encoded batch of {length} bytes exceeds the i32 batch length")]
    BatchTooLarge {
        /// The size it would have.
        length: usize,
    },
    /// A record's timestamp is so far from the first one that the delta overflows.
    #[error("timestamp {timestamp} is too far from the batch base timestamp {base}")]
    TimestampOutOfRange {
        /// The record's timestamp.
        timestamp: i64,
        /// The batch's base timestamp.
        base: i64,
    },
    /// A data record was appended to a control batch, or a control record to a data batch.
    #[error("{0}")]
    ControlMismatch(&'static str),
    /// The bytes given as an encoded batch are not a v2 batch.
    #[error("not an encoded v2 record batch")]
    NotAV2Batch,
    /// The compressor failed.
    #[error("{codec} compression failed: {reason}")]
    Compress {
        /// The codec.
        codec: Compression,
        /// What the compressor reported.
        reason: String,
    },
}
