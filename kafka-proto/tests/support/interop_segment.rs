//! The segment of our own batches that Java reads back: every codec, small
//! and multi-block batches, headers with repeated keys and null values, null
//! keys and values, idempotence fields, log-append time, and transactions
//! ending in COMMIT and ABORT markers. Shared by the test
//! `java_reads_our_batches` and the `interop_segment` example.

use kafka_proto::compression::Compression;
use kafka_proto::record::{BatchOptions, EndTxnMarker, RecordBatchBuilder};

/// One record as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Written {
    pub(crate) offset: i64,
    pub(crate) timestamp: i64,
    pub(crate) key: Option<Vec<u8>>,
    pub(crate) value: Option<Vec<u8>>,
    pub(crate) headers: Vec<(String, Option<Vec<u8>>)>,
}

/// One batch as written.
#[derive(Debug, Clone)]
pub(crate) struct WrittenBatch {
    pub(crate) options: BatchOptions,
    /// Data records; empty for a control batch.
    pub(crate) records: Vec<Written>,
    /// For a control batch: commit (true) or abort, and the coordinator epoch.
    pub(crate) marker: Option<(bool, i32)>,
    /// Offset of the control record.
    pub(crate) marker_offset: i64,
}

const BASE_TIME: i64 = 1_700_000_000_000;

fn record(offset: i64, i: usize, label: &str, value_len: usize) -> Written {
    let key = (i % 7 != 6).then(|| format!("our-{label}-key-{i}").into_bytes());
    let value = (i % 10 != 9).then(|| {
        let mut value = format!("our {label} value {i} ").into_bytes();
        value.resize(value.len() + value_len, b'x');
        value
    });
    let headers = match i % 3 {
        0 => vec![
            ("trace".to_owned(), Some(b"abc".to_vec())),
            ("trace".to_owned(), Some(b"def".to_vec())),
            ("app".to_owned(), Some(b"mq".to_vec())),
        ],
        1 => vec![("nullable".to_owned(), None)],
        _ => vec![],
    };
    Written {
        offset,
        timestamp: BASE_TIME + i as i64 * 10,
        key,
        value,
        headers,
    }
}

/// Builds the segment: its bytes and what each batch holds.
pub(crate) fn build() -> (Vec<u8>, Vec<WrittenBatch>) {
    let mut segment = Vec::new();
    let mut batches = Vec::new();
    let mut offset = 0i64;
    let mut push = |options: BatchOptions, records: Vec<Written>, marker: Option<(bool, i32)>| {
        let mut builder = RecordBatchBuilder::new(options);
        for r in &records {
            builder
                .append_with_headers(
                    r.timestamp,
                    r.key.as_deref(),
                    r.value.as_deref(),
                    &r.headers,
                )
                .unwrap();
        }
        if let Some((commit, epoch)) = marker {
            builder
                .append_end_txn_marker(BASE_TIME + 999, commit, EndTxnMarker::new(epoch))
                .unwrap();
        }
        segment.extend_from_slice(&builder.finish().unwrap());
        batches.push(WrittenBatch {
            options,
            records,
            marker,
            marker_offset: options.base_offset,
        });
    };

    for codec in Compression::ALL {
        // Small records, idempotent producer fields.
        let options = BatchOptions {
            compression: codec,
            base_offset: offset,
            producer_id: 1000,
            producer_epoch: 2,
            base_sequence: offset as i32,
            ..BatchOptions::default()
        };
        let records = (0..50)
            .map(|i| record(offset + i as i64, i, codec.name(), i * 37 % 300))
            .collect();
        push(options, records, None);
        offset += 50;
        // 100 KiB of records: several xerial and LZ4 blocks.
        let options = BatchOptions {
            compression: codec,
            base_offset: offset,
            ..BatchOptions::default()
        };
        let records = (0..100)
            .map(|i| record(offset + i as i64, i, codec.name(), 1000))
            .collect();
        push(options, records, None);
        offset += 100;
    }

    // Log-append time, as a broker stamps it.
    let options = BatchOptions {
        compression: Compression::Gzip,
        base_offset: offset,
        log_append_time: Some(BASE_TIME + 5_000),
        ..BatchOptions::default()
    };
    let records = (0..5)
        .map(|i| record(offset + i as i64, i, "append-time", 10))
        .collect();
    push(options, records, None);
    offset += 5;

    // Two transactions: one committed, one aborted.
    for (commit, codec) in [(true, Compression::Lz4), (false, Compression::Zstd)] {
        let txn = BatchOptions {
            compression: codec,
            base_offset: offset,
            producer_id: 2000,
            producer_epoch: 0,
            base_sequence: 0,
            transactional: true,
            ..BatchOptions::default()
        };
        let label = if commit { "committed" } else { "aborted" };
        let records = (0..4)
            .map(|i| record(offset + i as i64, i, label, 20))
            .collect();
        push(txn, records, None);
        offset += 4;
        let control = BatchOptions {
            compression: Compression::None,
            base_offset: offset,
            base_sequence: -1,
            control: true,
            ..txn
        };
        push(control, Vec::new(), Some((commit, 5)));
        offset += 1;
    }
    (segment, batches)
}
