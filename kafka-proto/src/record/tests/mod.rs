//! Tests of the record layer; helpers shared by its files.

mod legacy;
mod proptests;
mod reader;
mod v2;

use bytes::Bytes;

use super::batch::at;
use super::*;
use crate::error::{DecodeError, DecodeErrorKind, EncodeError, RecordProblem};
use crate::primitives::varint::{put_varint, put_varlong};

/// An owned copy of a decoded record, for comparisons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Owned {
    pub(super) offset: i64,
    pub(super) timestamp: i64,
    pub(super) key: Option<Vec<u8>>,
    pub(super) value: Option<Vec<u8>>,
    pub(super) headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl Owned {
    pub(super) fn of(record: &Record<'_>) -> Owned {
        Owned {
            offset: record.offset(),
            timestamp: record.timestamp(),
            key: record.key().map(<[u8]>::to_vec),
            value: record.value().map(<[u8]>::to_vec),
            headers: record
                .headers()
                .map(|h| (h.key().to_vec(), h.value().map(<[u8]>::to_vec)))
                .collect(),
        }
    }
}

/// Every record of every batch of `blob`, failing on any error.
pub(super) fn read_all(blob: Bytes) -> Vec<(Batch, Vec<Owned>)> {
    BatchReader::new(blob)
        .map(|batch| {
            let batch = batch.unwrap();
            let records = batch.records().unwrap();
            let owned = records.iter().map(|r| Owned::of(&r.unwrap())).collect();
            (batch, owned)
        })
        .collect()
}

/// A v2 batch around a hand-made records section, with a valid CRC, so
/// record-level faults can be tested past the CRC check.
pub(super) fn batch_with_section(count: i32, section: &[u8], compression: Compression) -> Bytes {
    let mut compressed = Vec::new();
    compression.compress(section, &mut compressed).unwrap();
    let mut buf = vec![0u8; RECORD_BATCH_OVERHEAD];
    buf.extend_from_slice(&compressed);
    let length = (buf.len() - LOG_OVERHEAD) as i32;
    buf[at::LENGTH..at::LENGTH + 4].copy_from_slice(&length.to_be_bytes());
    buf[at::PARTITION_LEADER_EPOCH..at::PARTITION_LEADER_EPOCH + 4]
        .copy_from_slice(&(-1i32).to_be_bytes());
    buf[at::MAGIC] = 2;
    buf[at::ATTRIBUTES + 1] = compression.id();
    buf[at::LAST_OFFSET_DELTA..at::LAST_OFFSET_DELTA + 4]
        .copy_from_slice(&(count - 1).to_be_bytes());
    buf[at::RECORDS_COUNT..at::RECORDS_COUNT + 4].copy_from_slice(&count.to_be_bytes());
    fix_crc(&mut buf);
    Bytes::from(buf)
}

/// Recomputes the CRC-32C of a v2 batch.
pub(super) fn fix_crc(buf: &mut [u8]) {
    let crc = crc32c::crc32c(&buf[at::ATTRIBUTES..]);
    buf[at::CRC..at::CRC + 4].copy_from_slice(&crc.to_be_bytes());
}

/// One record in wire form, from raw parts (lengths as given, so invalid
/// ones can be written).
pub(super) struct RawRecord<'a> {
    pub(super) timestamp_delta: i64,
    pub(super) offset_delta: i32,
    pub(super) key: Option<&'a [u8]>,
    pub(super) value: Option<&'a [u8]>,
    pub(super) headers: &'a [(&'a [u8], Option<&'a [u8]>)],
}

impl RawRecord<'_> {
    pub(super) fn body(&self) -> Vec<u8> {
        let mut body = vec![0u8];
        put_varlong(&mut body, self.timestamp_delta);
        put_varint(&mut body, self.offset_delta);
        put_nullable(&mut body, self.key);
        put_nullable(&mut body, self.value);
        put_varint(&mut body, self.headers.len() as i32);
        for (key, value) in self.headers {
            put_varint(&mut body, key.len() as i32);
            body.extend_from_slice(key);
            put_nullable(&mut body, *value);
        }
        body
    }

    /// Length-prefixed record.
    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        let body = self.body();
        put_varint(out, body.len() as i32);
        out.extend_from_slice(&body);
    }
}

pub(super) fn put_nullable(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        Some(bytes) => {
            put_varint(out, bytes.len() as i32);
            out.extend_from_slice(bytes);
        }
        None => put_varint(out, -1),
    }
}
