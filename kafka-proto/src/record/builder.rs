//! Encoding v2 batches: the builder a producer appends records to.
//!
//! Records are written once, straight into the batch buffer, behind 61
//! bytes reserved for the header. [`RecordBatchBuilder::finish`] compresses
//! the records section if asked, fills in the header and back-patches the
//! CRC-32C, and hands the buffer over as `Bytes` without copying it (when
//! uncompressed).

use bytes::Bytes;

use super::batch::at;
use super::control::{ControlRecordKey, ControlRecordType, EndTxnMarker};
use super::{
    Attributes, MAGIC_V2, NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID,
    NO_SEQUENCE, RECORD_BATCH_OVERHEAD,
};
use crate::compression::Compression;
use crate::error::EncodeError;
use crate::primitives::varint::{put_uvarint64, put_varint, varint_len, zigzag32, zigzag64};

/// Header fields and attributes of a batch being built.
///
/// The defaults are a producer's: offsets from 0, no idempotence, no
/// transaction, create-time timestamps, no compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchOptions {
    /// Codec of the records section.
    pub compression: Compression,
    /// Offset of the first record (0 for a producer; the broker assigns).
    pub base_offset: i64,
    /// Leader epoch (-1 for a producer; the broker assigns).
    pub partition_leader_epoch: i32,
    /// Idempotent or transactional producer id, or -1.
    pub producer_id: i64,
    /// Producer epoch, or -1.
    pub producer_epoch: i16,
    /// Sequence number of the first record, or -1.
    pub base_sequence: i32,
    /// Sets the transactional attribute.
    pub transactional: bool,
    /// Makes a control batch (only control records may be appended).
    pub control: bool,
    /// If set, marks timestamps as log-append time and writes this as the
    /// max timestamp (what a broker does for `LogAppendTime` topics).
    pub log_append_time: Option<i64>,
    /// If set, sets the delete-horizon attribute and writes this as the base
    /// timestamp (what the log cleaner does).
    pub delete_horizon: Option<i64>,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            compression: Compression::None,
            base_offset: 0,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            transactional: false,
            control: false,
            log_append_time: None,
            delete_horizon: None,
        }
    }
}

impl BatchOptions {
    /// The attributes these options produce.
    pub fn attributes(&self) -> Attributes {
        Attributes::new(self.compression)
            .with(Attributes::LOG_APPEND_TIME, self.log_append_time.is_some())
            .with(Attributes::TRANSACTIONAL, self.transactional)
            .with(Attributes::CONTROL, self.control)
            .with(Attributes::DELETE_HORIZON, self.delete_horizon.is_some())
    }
}

/// Builds one v2 record batch.
///
/// ```
/// # use kafka_proto::compression::Compression;
/// # use kafka_proto::record::{BatchOptions, RecordBatchBuilder};
/// let mut builder = RecordBatchBuilder::new(BatchOptions {
///     compression: Compression::Lz4,
///     ..BatchOptions::default()
/// });
/// builder.append(1_700_000_000_000, Some(b"order-1"), Some(b"created"))?;
/// builder.append_with_headers(
///     1_700_000_000_001,
///     Some(b"order-1"),
///     Some(b"paid"),
///     &[("trace", Some(b"abc".as_slice())), ("trace", None)],
/// )?;
/// assert!(builder.encoded_size() < 16 * 1024); // batch_size check
/// let batch: bytes::Bytes = builder.finish()?;
/// # Ok::<(), kafka_proto::EncodeError>(())
/// ```
#[derive(Debug, Clone)]
pub struct RecordBatchBuilder {
    options: BatchOptions,
    buf: Vec<u8>,
    count: i32,
    base_timestamp: Option<i64>,
    max_timestamp: i64,
}

impl RecordBatchBuilder {
    /// An empty batch.
    pub fn new(options: BatchOptions) -> Self {
        Self::with_capacity(options, 0)
    }

    /// An empty batch whose buffer has room for `capacity` bytes of records
    /// (a producer passes its `batch_size`).
    pub fn with_capacity(options: BatchOptions, capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(RECORD_BATCH_OVERHEAD.saturating_add(capacity));
        buf.resize(RECORD_BATCH_OVERHEAD, 0);
        RecordBatchBuilder {
            options,
            buf,
            count: 0,
            base_timestamp: options.delete_horizon,
            max_timestamp: super::NO_TIMESTAMP,
        }
    }

    /// The options the batch is built with.
    pub fn options(&self) -> &BatchOptions {
        &self.options
    }

    /// Sets the idempotence fields; allowed until the batch is finished.
    pub fn set_producer_state(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
    ) {
        self.options.producer_id = producer_id;
        self.options.producer_epoch = producer_epoch;
        self.options.base_sequence = base_sequence;
    }

    /// Records appended so far.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether no record was appended yet.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Size of the batch if finished now, uncompressed, header included.
    /// This is what a producer compares with `batch_size`; compression only
    /// makes the real batch smaller (or a few bytes larger for data that
    /// does not compress).
    pub fn encoded_size(&self) -> usize {
        self.buf.len()
    }

    /// The first record's timestamp (or the delete horizon), once known.
    pub fn base_timestamp(&self) -> Option<i64> {
        self.base_timestamp
    }

    /// Appends a record without headers.
    #[inline]
    pub fn append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Result<(), EncodeError> {
        if !self.options.control && self.append_small(timestamp, key, value) {
            return Ok(());
        }
        self.append_general(timestamp, key, value)
    }

    /// [`RecordBatchBuilder::append`] for whatever the fast path declines.
    #[inline(never)]
    fn append_general(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Result<(), EncodeError> {
        if self.options.control {
            return Err(EncodeError::ControlMismatch(
                "a control batch holds only control records",
            ));
        }
        self.append_record(timestamp, key, value, 0, 0, |_| {})
    }

    /// The encode fast path: a record without headers whose varints all fit
    /// in two bytes (keys and values under 8 KiB, timestamps within 8 s of
    /// the first, fewer than 8192 records so far). Writes it and returns
    /// true, or writes nothing and returns false.
    #[inline(always)]
    fn append_small(&mut self, timestamp: i64, key: Option<&[u8]>, value: Option<&[u8]>) -> bool {
        const SMALL: u64 = 0x4000;
        let Some(base) = self.base_timestamp else {
            return false;
        };
        let Some(delta) = timestamp.checked_sub(base) else {
            return false;
        };
        let ts = zigzag64(delta);
        let offset = u64::from(zigzag32(self.count));
        // zigzag(-1) = 1 for null; zigzag(n) = 2n.
        let key_len = key.map_or(0, <[u8]>::len);
        let value_len = value.map_or(0, <[u8]>::len);
        let key_z = if key.is_some() {
            (key_len as u64) << 1
        } else {
            1
        };
        let value_z = if value.is_some() {
            (value_len as u64) << 1
        } else {
            1
        };
        // (A slice is at most isize::MAX bytes, so the shifts cannot wrap.)
        if (ts | offset | key_z | value_z) >= SMALL {
            return false;
        }
        let body_len = 2 // attributes, header count
            + small_len(ts)
            + small_len(offset)
            + small_len(key_z)
            + key_len
            + small_len(value_z)
            + value_len;
        let body_z = (body_len as u64) << 1;
        if body_z >= SMALL {
            return false;
        }
        // length, attributes (0), timestamp delta, offset delta (at most 7
        // bytes) and, if it fits, the key length: built in a register and
        // written with one store.
        let mut at = small_len(body_z);
        let mut head = small_word(body_z);
        at += 1;
        head |= small_word(ts) << (8 * at);
        at += small_len(ts);
        head |= small_word(offset) << (8 * at);
        at += small_len(offset);

        // (No `reserve`: each write below checks the capacity anyway, and
        // the buffer grows geometrically.)
        let buf = &mut self.buf;
        if at + small_len(key_z) <= 8 {
            head |= small_word(key_z) << (8 * at);
            put_word(buf, head, at + small_len(key_z));
        } else {
            put_word(buf, head, at);
            put_word(buf, small_word(key_z), small_len(key_z));
        }
        if let Some(key) = key {
            buf.extend_from_slice(key);
        }
        put_word(buf, small_word(value_z), small_len(value_z));
        if let Some(value) = value {
            buf.extend_from_slice(value);
        }
        buf.push(0); // no headers
        self.count += 1;
        self.max_timestamp = self.max_timestamp.max(timestamp);
        true
    }

    /// Appends a record with headers, kept in the given order (a key may
    /// repeat). Header keys are strings in Kafka's clients; any bytes are
    /// accepted here.
    pub fn append_with_headers<K: AsRef<[u8]>, V: AsRef<[u8]>>(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(K, Option<V>)],
    ) -> Result<(), EncodeError> {
        if self.options.control {
            return Err(EncodeError::ControlMismatch(
                "a control batch holds only control records",
            ));
        }
        let count = i32::try_from(headers.len()).map_err(|_| EncodeError::FieldTooLong {
            field: "header count",
            length: headers.len(),
        })?;
        let mut headers_len = 0usize;
        for (header_key, header_value) in headers {
            let key_len = length_of("header key", Some(header_key.as_ref()))?;
            let value_len = length_of("header value", header_value.as_ref().map(AsRef::as_ref))?;
            headers_len = headers_len
                .saturating_add(varint_len(key_len))
                .saturating_add(header_key.as_ref().len())
                .saturating_add(varint_len(value_len))
                .saturating_add(header_value.as_ref().map_or(0, |v| v.as_ref().len()));
        }
        self.append_record(timestamp, key, value, count, headers_len, |buf| {
            for (header_key, header_value) in headers {
                let header_key = header_key.as_ref();
                put_varint(buf, header_key.len() as i32);
                buf.extend_from_slice(header_key);
                match header_value {
                    Some(v) => {
                        put_varint(buf, v.as_ref().len() as i32);
                        buf.extend_from_slice(v.as_ref());
                    }
                    None => put_varint(buf, -1),
                }
            }
        })
    }

    /// Appends a control record (the batch must be a control batch).
    pub fn append_control(
        &mut self,
        timestamp: i64,
        key: ControlRecordKey,
        value: Option<&[u8]>,
    ) -> Result<(), EncodeError> {
        if !self.options.control {
            return Err(EncodeError::ControlMismatch(
                "control records go in a control batch",
            ));
        }
        self.append_record(timestamp, Some(&key.encode()), value, 0, 0, |_| {})
    }

    /// Appends a commit or abort marker (the batch must be a control batch).
    pub fn append_end_txn_marker(
        &mut self,
        timestamp: i64,
        commit: bool,
        marker: EndTxnMarker,
    ) -> Result<(), EncodeError> {
        let record_type = if commit {
            ControlRecordType::COMMIT
        } else {
            ControlRecordType::ABORT
        };
        self.append_control(
            timestamp,
            ControlRecordKey::new(record_type),
            Some(&marker.encode()),
        )
    }

    /// Writes one record; nothing is written if it fails.
    #[inline(always)]
    fn append_record(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        header_count: i32,
        headers_len: usize,
        write_headers: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), EncodeError> {
        let offset_delta = self.count;
        if offset_delta == i32::MAX {
            return Err(EncodeError::TooManyRecords {
                max: i32::MAX as usize,
            });
        }
        let base = *self.base_timestamp.get_or_insert(timestamp);
        let timestamp_delta = timestamp
            .checked_sub(base)
            .ok_or(EncodeError::TimestampOutOfRange { timestamp, base })?;
        let key_len = length_of("key", key)?;
        let value_len = length_of("value", value)?;
        // Each varint once: its bytes as a little-endian word, and its length.
        let timestamp_varint = Varint::new(zigzag64(timestamp_delta));
        let offset = Varint::new(u64::from(zigzag32(offset_delta)));
        let key_length = Varint::new(u64::from(zigzag32(key_len)));
        let value_length = Varint::new(u64::from(zigzag32(value_len)));
        let body_len = (1 + timestamp_varint.len + offset.len + key_length.len + value_length.len)
            .saturating_add(key.map_or(0, <[u8]>::len))
            .saturating_add(value.map_or(0, <[u8]>::len))
            .saturating_add(varint_len(header_count))
            .saturating_add(headers_len);
        let body_len_i32 = i32::try_from(body_len).map_err(|_| EncodeError::FieldTooLong {
            field: "record",
            length: body_len,
        })?;
        let length = Varint::new(u64::from(zigzag32(body_len_i32)));

        let buf = &mut self.buf;
        buf.reserve(body_len + 5 + 8);
        // length, attributes (unused, 0), timestamp delta, offset delta, key
        // length: for small records at most 8 bytes, written as one store.
        let head_len = length.len + 1 + timestamp_varint.len + offset.len + key_length.len;
        if head_len <= 8 {
            let mut at = length.len;
            let mut word = length.word;
            at += 1;
            for varint in [timestamp_varint, offset, key_length] {
                word |= varint.word << (8 * at);
                at += varint.len;
            }
            let end = buf.len() + head_len;
            buf.extend_from_slice(&word.to_le_bytes());
            buf.truncate(end);
        } else {
            length.write(buf);
            buf.push(0);
            timestamp_varint.write(buf);
            offset.write(buf);
            key_length.write(buf);
        }
        if let Some(key) = key {
            buf.extend_from_slice(key);
        }
        value_length.write(buf);
        if let Some(value) = value {
            buf.extend_from_slice(value);
        }
        if header_count == 0 {
            buf.push(0);
        } else {
            put_varint(buf, header_count);
            write_headers(buf);
        }

        self.count += 1;
        self.max_timestamp = self.max_timestamp.max(timestamp);
        Ok(())
    }

    /// Finishes the batch: compresses the records section, writes the
    /// header and the CRC-32C.
    pub fn finish(self) -> Result<Bytes, EncodeError> {
        if self.count == 0 {
            return Err(EncodeError::EmptyBatch);
        }
        let options = self.options;
        let mut buf = match options.compression {
            Compression::None => self.buf,
            codec => {
                let records = self.buf.get(RECORD_BATCH_OVERHEAD..).unwrap_or_default();
                let mut out = Vec::with_capacity(RECORD_BATCH_OVERHEAD + records.len() / 2 + 64);
                out.resize(RECORD_BATCH_OVERHEAD, 0);
                codec.compress(records, &mut out)?;
                out
            }
        };
        let length = i32::try_from(buf.len() - super::LOG_OVERHEAD)
            .map_err(|_| EncodeError::BatchTooLarge { length: buf.len() })?;
        let max_timestamp = options.log_append_time.unwrap_or(self.max_timestamp);
        let header = Header {
            base_offset: options.base_offset,
            length,
            partition_leader_epoch: options.partition_leader_epoch,
            attributes: options.attributes(),
            last_offset_delta: self.count - 1,
            base_timestamp: self.base_timestamp.unwrap_or(super::NO_TIMESTAMP),
            max_timestamp,
            producer_id: options.producer_id,
            producer_epoch: options.producer_epoch,
            base_sequence: options.base_sequence,
            record_count: self.count,
        };
        header.write(&mut buf);
        Ok(Bytes::from(buf))
    }
}

/// Bytes of a varint below 2^14.
#[inline(always)]
fn small_len(raw: u64) -> usize {
    1 + usize::from(raw >= 0x80)
}

/// The bytes of a varint below 2^14, little-endian in a word.
#[inline(always)]
fn small_word(raw: u64) -> u64 {
    if raw < 0x80 {
        raw
    } else {
        (raw & 0x7f) | 0x80 | (raw >> 7) << 8
    }
}

/// Appends the low `len` (at most 8) bytes of `word`: one 8-byte store, then
/// the length set back.
#[inline(always)]
fn put_word(buf: &mut Vec<u8>, word: u64, len: usize) {
    let end = buf.len() + len;
    buf.extend_from_slice(&word.to_le_bytes());
    buf.truncate(end);
}

/// An unsigned varint, encoded: its bytes as a little-endian word (when it
/// has at most 8) and its length.
#[derive(Clone, Copy)]
struct Varint {
    raw: u64,
    word: u64,
    len: usize,
}

impl Varint {
    #[inline(always)]
    fn new(raw: u64) -> Varint {
        if raw < 0x80 {
            Varint {
                raw,
                word: raw,
                len: 1,
            }
        } else if raw < 0x4000 {
            Varint {
                raw,
                word: (raw & 0x7f) | 0x80 | (raw >> 7) << 8,
                len: 2,
            }
        } else {
            Self::long(raw)
        }
    }

    #[inline(never)]
    fn long(raw: u64) -> Varint {
        let mut word = 0u64;
        let mut len = 0;
        let mut rest = raw;
        while rest >= 0x80 {
            word |= ((rest & 0x7f) | 0x80).wrapping_shl(8 * len as u32);
            rest >>= 7;
            len += 1;
        }
        word |= rest.wrapping_shl(8 * len as u32);
        // Past 8 bytes the word is incomplete; `write` then uses `raw`.
        Varint {
            raw,
            word,
            len: len + 1,
        }
    }

    /// Appends the varint to `buf` (with one 8-byte store when it fits).
    #[inline(always)]
    fn write(self, buf: &mut Vec<u8>) {
        if self.len <= 8 {
            let end = buf.len() + self.len;
            buf.extend_from_slice(&self.word.to_le_bytes());
            buf.truncate(end);
        } else {
            put_uvarint64(buf, self.raw);
        }
    }
}

/// The length field of a nullable byte string (-1 for null).
#[inline(always)]
fn length_of(field: &'static str, bytes: Option<&[u8]>) -> Result<i32, EncodeError> {
    match bytes {
        None => Ok(-1),
        Some(bytes) => i32::try_from(bytes.len()).map_err(|_| EncodeError::FieldTooLong {
            field,
            length: bytes.len(),
        }),
    }
}

/// The most bytes appending this record can add to a batch, whatever its
/// timestamp and position (Java's `estimateSizeInBytesUpperBound`).
pub fn record_size_upper_bound<K: AsRef<[u8]>, V: AsRef<[u8]>>(
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[(K, Option<V>)],
) -> usize {
    // length (5) + attributes (1) + timestamp delta (10) + offset delta (5)
    // + key and value lengths (5 each) + header count (5).
    let mut size = 36usize
        .saturating_add(key.map_or(0, <[u8]>::len))
        .saturating_add(value.map_or(0, <[u8]>::len));
    for (header_key, header_value) in headers {
        size = size
            .saturating_add(10)
            .saturating_add(header_key.as_ref().len())
            .saturating_add(header_value.as_ref().map_or(0, |v| v.as_ref().len()));
    }
    size
}

/// Returns a copy of an encoded v2 batch with new idempotence fields and a
/// recomputed CRC, for a producer that must resend a batch under a new
/// producer id or epoch, or with new sequence numbers.
pub fn restamp_producer_state(
    batch: &[u8],
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
) -> Result<Bytes, EncodeError> {
    if batch.len() < RECORD_BATCH_OVERHEAD || batch.get(at::MAGIC) != Some(&(MAGIC_V2 as u8)) {
        return Err(EncodeError::NotAV2Batch);
    }
    let mut buf = batch.to_vec();
    put_be(&mut buf, at::PRODUCER_ID, &producer_id.to_be_bytes());
    put_be(&mut buf, at::PRODUCER_EPOCH, &producer_epoch.to_be_bytes());
    put_be(&mut buf, at::BASE_SEQUENCE, &base_sequence.to_be_bytes());
    patch_crc(&mut buf);
    Ok(Bytes::from(buf))
}

/// The header fields, written into the first 61 bytes of a batch buffer.
struct Header {
    base_offset: i64,
    length: i32,
    partition_leader_epoch: i32,
    attributes: Attributes,
    last_offset_delta: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    record_count: i32,
}

impl Header {
    fn write(&self, buf: &mut [u8]) {
        put_be(buf, at::BASE_OFFSET, &self.base_offset.to_be_bytes());
        put_be(buf, at::LENGTH, &self.length.to_be_bytes());
        put_be(
            buf,
            at::PARTITION_LEADER_EPOCH,
            &self.partition_leader_epoch.to_be_bytes(),
        );
        put_be(buf, at::MAGIC, &MAGIC_V2.to_be_bytes());
        put_be(buf, at::ATTRIBUTES, &self.attributes.0.to_be_bytes());
        put_be(
            buf,
            at::LAST_OFFSET_DELTA,
            &self.last_offset_delta.to_be_bytes(),
        );
        put_be(buf, at::BASE_TIMESTAMP, &self.base_timestamp.to_be_bytes());
        put_be(buf, at::MAX_TIMESTAMP, &self.max_timestamp.to_be_bytes());
        put_be(buf, at::PRODUCER_ID, &self.producer_id.to_be_bytes());
        put_be(buf, at::PRODUCER_EPOCH, &self.producer_epoch.to_be_bytes());
        put_be(buf, at::BASE_SEQUENCE, &self.base_sequence.to_be_bytes());
        put_be(buf, at::RECORDS_COUNT, &self.record_count.to_be_bytes());
        patch_crc(buf);
    }
}

/// Copies `bytes` to `at` of a buffer known to hold a whole header.
#[inline(always)]
fn put_be(buf: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = buf.get_mut(at..at + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

/// Computes the CRC-32C over everything after the CRC field and stores it.
fn patch_crc(buf: &mut [u8]) {
    let crc = super::crc::crc32c(buf.get(at::ATTRIBUTES..).unwrap_or_default());
    put_be(buf, at::CRC, &crc.to_be_bytes());
}
