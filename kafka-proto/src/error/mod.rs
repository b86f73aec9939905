//! Kafka error codes and the typed errors of this crate's codecs.
//!
//! [`ErrorCode`] is the `int16` error code that brokers put in responses.
//! [`DecodeError`] says what was malformed in bytes read from the wire and
//! where; [`EncodeError`] says why something could not be written. They are
//! the only two codec errors of the crate: messages, the consumer protocol's
//! embedded formats, record batches and compressed payloads all use them.
//!
//! Where a message or embedded format was malformed, [`DecodeError`] records
//! the innermost field being read and the byte offset in the body. Record
//! batches say where in their [`DecodeErrorKind`] instead: the byte position
//! in the buffer handed to the reader for batch framing, or the batch's base
//! offset, the record's index and the byte position inside the
//! (decompressed) records section for record-level faults ([`RecordProblem`]
//! says what was wrong with the record). A peer that sends a short buffer of
//! batches is never an error (the reader stops and reports nothing); those
//! kinds are for bytes that cannot be a valid batch.

use std::fmt;

use crate::compression::Compression;

mod code;

pub use code::ErrorCode;

/// What was wrong with bytes read from the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The input ended inside a value.
    #[error("input ends early: {needed} bytes needed, {remaining} left")]
    Truncated {
        /// Bytes the value needs.
        needed: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// A varint ran past its longest legal encoding.
    #[error("varint longer than {max} bytes")]
    VarintTooLong {
        /// Longest legal encoding in bytes (5 for 32-bit, 10 for 64-bit).
        max: usize,
    },
    /// A length or count was negative (other than the -1 that means null).
    #[error("invalid length {0}")]
    InvalidLength(i64),
    /// A length or element count is larger than the input that is left, so
    /// the value cannot be there; nothing was allocated for it.
    #[error("length {len} exceeds the {remaining} bytes left")]
    LengthExceedsInput {
        /// The length read from the wire.
        len: u64,
        /// Bytes that were left.
        remaining: usize,
    },
    /// A string was not valid UTF-8.
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    /// A null where this version of the field is not nullable.
    #[error("null in a non-nullable field")]
    UnexpectedNull,
    /// The nullable-struct marker byte was neither -1 nor 1.
    #[error("nullable struct marker {0} is neither -1 nor 1")]
    InvalidStructMarker(i8),
    /// The message version is outside the range this crate implements.
    #[error("version {version} of API {api_key} is not supported (supported: {min}..={max})")]
    UnsupportedVersion {
        /// The API key.
        api_key: i16,
        /// The version asked for.
        version: i16,
        /// Lowest supported version.
        min: i16,
        /// Highest supported version.
        max: i16,
    },
    /// A data format (the consumer protocol's subscription or assignment)
    /// carries a version below the lowest one its schema defines.
    #[error("{name} version {version} is below the lowest, {min}")]
    UnsupportedDataVersion {
        /// The schema's name (`"ConsumerProtocolSubscription"`).
        name: &'static str,
        /// The version read.
        version: i16,
        /// The lowest version the schema defines.
        min: i16,
    },
    /// An API key this crate does not implement.
    #[error("API key {0} is not implemented")]
    UnknownApiKey(i16),
    /// A frame's size prefix was negative.
    #[error("negative frame size {0}")]
    NegativeFrameSize(i32),
    /// A frame's size prefix exceeds the configured maximum; nothing was
    /// allocated for it.
    #[error("frame of {size} bytes exceeds the limit of {max} bytes")]
    FrameTooLarge {
        /// The size read from the prefix.
        size: usize,
        /// The configured limit.
        max: usize,
    },
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
    /// The batch size field is larger than [`DecodeLimits::max_batch_bytes`](crate::record::DecodeLimits::max_batch_bytes).
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

/// What is wrong with one record (v2) or legacy message: the detail of
/// [`DecodeErrorKind::Record`] and [`DecodeErrorKind::LegacyMessage`].
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

/// Malformed input: what was wrong ([`DecodeErrorKind`]), in which field, and
/// at which byte offset of the message body.
///
/// Record-batch kinds carry their own location (batch position or base
/// offset, record index), so `field` and `offset` stay `None` for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// What was wrong.
    pub kind: DecodeErrorKind,
    /// The innermost field being read, as `"Struct.field"`, when known.
    pub field: Option<&'static str>,
    /// Byte offset from the start of the decoded value, when known.
    pub offset: Option<usize>,
}

impl DecodeError {
    /// An error of `kind` with no location yet.
    pub fn new(kind: DecodeErrorKind) -> Self {
        DecodeError {
            kind,
            field: None,
            offset: None,
        }
    }

    /// Records the field being read, unless an inner one was recorded first.
    #[must_use]
    pub fn in_field(mut self, field: &'static str) -> Self {
        if self.field.is_none() {
            self.field = Some(field);
        }
        self
    }

    /// Records the byte offset, unless an inner one was recorded first.
    #[must_use]
    pub fn at_offset(mut self, offset: usize) -> Self {
        if self.offset.is_none() {
            self.offset = Some(offset);
        }
        self
    }
}

impl From<DecodeErrorKind> for DecodeError {
    fn from(kind: DecodeErrorKind) -> Self {
        DecodeError::new(kind)
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed Kafka data: {}", self.kind)?;
        if let Some(field) = self.field {
            write!(f, " in {field}")?;
        }
        if let Some(offset) = self.offset {
            write!(f, " at byte {offset}")?;
        }
        Ok(())
    }
}

impl std::error::Error for DecodeError {}

/// Why a message, an embedded format or a record batch could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The version is outside the range this crate implements for the API.
    #[error("version {version} of API {api_key} is not supported (supported: {min}..={max})")]
    UnsupportedVersion {
        /// The API key.
        api_key: i16,
        /// The version asked for.
        version: i16,
        /// Lowest supported version.
        min: i16,
        /// Highest supported version.
        max: i16,
    },
    /// The version of a data format (the consumer protocol's subscription
    /// or assignment) is below the lowest one its schema defines.
    #[error("{name} version {version} is below the lowest, {min}")]
    UnsupportedDataVersion {
        /// The schema's name (`"ConsumerProtocolSubscription"`).
        name: &'static str,
        /// The version asked for.
        version: i16,
        /// The lowest version the schema defines.
        min: i16,
    },
    /// A field holds `None` in a version where it is not nullable.
    #[error("{field} is null, but it is not nullable in version {version}")]
    NullNotAllowed {
        /// `"Struct.field"`.
        field: &'static str,
        /// The message version being encoded.
        version: i16,
    },
    /// A string, bytes or array is longer than its length prefix can say.
    #[error("{what} of length {len} is too long for its length prefix")]
    TooLong {
        /// What was too long (`"string"`, `"bytes"`, `"array"`).
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// A batch needs at least one record.
    #[error("a record batch needs at least one record")]
    EmptyBatch,
    /// The batch would hold more records than a v2 batch can count.
    #[error("a record batch holds at most {max} records")]
    TooManyRecords {
        /// The maximum.
        max: usize,
    },
    /// A record field is longer than its length prefix can say.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_error_says_what_and_where() {
        let e = DecodeError::new(DecodeErrorKind::InvalidUtf8)
            .in_field("MetadataResponseTopic.name")
            .in_field("MetadataResponse.topics")
            .at_offset(17);
        assert_eq!(e.field, Some("MetadataResponseTopic.name"));
        assert_eq!(
            e.to_string(),
            "malformed Kafka data: string is not valid UTF-8 in MetadataResponseTopic.name at byte 17"
        );
    }

    #[test]
    fn record_errors_say_where_in_their_kind() {
        let e = DecodeError::from(DecodeErrorKind::Record {
            base_offset: 40,
            index: 3,
            position: 120,
            problem: RecordProblem::Truncated("value"),
        });
        assert_eq!((e.field, e.offset), (None, None));
        assert_eq!(
            e.kind.to_string(),
            "batch at offset 40, record 3 (byte 120 of the records): truncated in value"
        );
    }
}
