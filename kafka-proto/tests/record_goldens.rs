//! Batches written by other producers decode correctly.
//!
//! Each file in `tests/data/records/` is a partition's log segment as the
//! Kafka 4.3.1 broker stored it (a sequence of batches, exactly what a Fetch
//! response carries), produced by kcat (librdkafka) and by Kafka's own Java
//! clients, or a legacy message set written by Java's record builder.
//! `scripts/kafka-record-goldens` regenerates them.

use bytes::Bytes;
use kafka_proto::compression::Compression;
use kafka_proto::record::{
    Batch, BatchReader, ControlRecordType, EndTxnMarker, RecordBatch, TimestampType,
};

macro_rules! golden {
    ($name:literal) => {
        Bytes::from_static(include_bytes!(concat!("data/records/", $name, ".log")))
    };
}

/// A record, owned, as the tests compare it.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    offset: i64,
    timestamp: i64,
    key: Option<String>,
    value: Option<String>,
    headers: Vec<(String, Option<String>)>,
}

fn text(bytes: Option<&[u8]>) -> Option<String> {
    bytes.map(|b| String::from_utf8(b.to_vec()).unwrap())
}

/// Every batch of a file, with its records.
fn read(blob: Bytes) -> Vec<(Batch, Vec<Seen>)> {
    let mut reader = BatchReader::new(blob);
    let batches = reader
        .by_ref()
        .map(|batch| {
            let batch = batch.unwrap();
            let records = batch
                .records()
                .unwrap()
                .iter()
                .map(|record| {
                    let record = record.unwrap();
                    Seen {
                        offset: record.offset(),
                        timestamp: record.timestamp(),
                        key: text(record.key()),
                        value: text(record.value()),
                        headers: record
                            .headers()
                            .map(|h| (h.key_str().unwrap().to_owned(), text(h.value())))
                            .collect(),
                    }
                })
                .collect();
            (batch, records)
        })
        .collect();
    assert_eq!(reader.trailing_bytes(), 0, "a segment holds whole batches");
    batches
}

fn v2(batch: &Batch) -> &RecordBatch {
    match batch {
        Batch::V2(batch) => batch,
        Batch::Legacy(_) => panic!("expected a v2 batch"),
    }
}

fn value(producer: &str, codec: &str, i: usize) -> String {
    format!(
        "value {i} from {producer} {codec}: the quick brown fox jumps over the lazy dog, \
         the quick brown fox jumps over the lazy dog"
    )
}

/// The 11 records the script sends: 10 keyed ones and one null value, each
/// with headers trace=abc, trace=def (a repeated key) and app=<producer>.
fn check_producer_file(blob: Bytes, producer: &str, codec: Compression) {
    let batches = read(blob);
    let records: Vec<&Seen> = batches.iter().flat_map(|(_, r)| r).collect();
    assert_eq!(records.len(), 11, "{producer} {codec}");
    let headers = vec![
        ("trace".to_owned(), Some("abc".to_owned())),
        ("trace".to_owned(), Some("def".to_owned())),
        ("app".to_owned(), Some(producer.to_owned())),
    ];
    for (i, record) in records.iter().enumerate() {
        assert_eq!(record.offset, i as i64);
        assert!(
            record.timestamp > 1_600_000_000_000,
            "a wall-clock create time"
        );
        assert_eq!(record.headers, headers);
        if i < 10 {
            assert_eq!(
                record.key.as_deref(),
                Some(format!("{producer}-{codec}-key-{i}").as_str())
            );
            assert_eq!(record.value, Some(value(producer, codec.name(), i)));
        } else {
            assert_eq!(
                record.key.as_deref(),
                Some(format!("{producer}-{codec}-null").as_str())
            );
            assert_eq!(record.value, None);
        }
    }
    for (batch, _) in &batches {
        let batch = v2(batch);
        assert_eq!(batch.compression(), codec, "{producer}");
        assert_eq!(batch.timestamp_type(), TimestampType::CreateTime);
        assert!(!batch.is_transactional() && !batch.is_control());
        assert_eq!(batch.partition_leader_epoch(), 0, "stamped by the broker");
        if producer == "console" {
            // The Java producer is idempotent by default.
            assert!(batch.producer_id() >= 0);
            assert_eq!((batch.producer_epoch(), batch.base_sequence()), (0, 0));
        } else {
            assert_eq!(batch.producer_id(), -1);
        }
    }
}

#[test]
fn kcat_batches_decode_for_every_codec() {
    check_producer_file(golden!("kcat-none"), "kcat", Compression::None);
    check_producer_file(golden!("kcat-gzip"), "kcat", Compression::Gzip);
    check_producer_file(golden!("kcat-snappy"), "kcat", Compression::Snappy);
    check_producer_file(golden!("kcat-lz4"), "kcat", Compression::Lz4);
    check_producer_file(golden!("kcat-zstd"), "kcat", Compression::Zstd);
}

#[test]
fn java_console_producer_batches_decode_for_every_codec() {
    check_producer_file(golden!("console-none"), "console", Compression::None);
    check_producer_file(golden!("console-gzip"), "console", Compression::Gzip);
    check_producer_file(golden!("console-snappy"), "console", Compression::Snappy);
    check_producer_file(golden!("console-lz4"), "console", Compression::Lz4);
    check_producer_file(golden!("console-zstd"), "console", Compression::Zstd);
}

#[test]
fn both_snappy_framings_are_covered() {
    const XERIAL: &[u8] = b"\x82SNAPPY\0";
    let section = |blob: Bytes| v2(&read(blob)[0].0).records_section();
    assert!(
        section(golden!("console-snappy")).starts_with(XERIAL),
        "Java frames snappy the xerial way"
    );
    assert!(
        !section(golden!("kcat-snappy")).starts_with(XERIAL),
        "librdkafka writes raw snappy"
    );
}

#[test]
fn java_transactions_with_commit_and_abort_markers() {
    let batches = read(golden!("java-txn-lz4"));
    assert_eq!(batches.len(), 4);
    let producer_id = v2(&batches[0].0).producer_id();
    assert!(producer_id >= 0);
    for (batch, _) in &batches {
        let batch = v2(batch);
        assert!(batch.is_transactional());
        assert_eq!(batch.producer_id(), producer_id);
    }

    let (committed, records) = &batches[0];
    assert!(!committed.is_control());
    assert_eq!(committed.compression(), Compression::Lz4);
    assert_eq!(records.len(), 3);
    for (i, record) in records.iter().enumerate() {
        assert_eq!(record.key.as_deref(), Some(format!("txn-key-{i}").as_str()));
        assert_eq!(
            record.value.as_deref(),
            Some(format!("committed value {i} from the Java transactional producer").as_str())
        );
        assert_eq!(
            record.headers,
            [
                ("txn".to_owned(), Some("commit".to_owned())),
                ("txn".to_owned(), Some("again".to_owned()))
            ]
        );
    }
    let aborted = &batches[2].1;
    assert_eq!(aborted.iter().map(|r| r.offset).collect::<Vec<_>>(), [4, 5]);
    assert!(
        aborted[0]
            .value
            .as_deref()
            .unwrap()
            .starts_with("aborted value 3")
    );

    for (index, marker) in [
        (1, ControlRecordType::COMMIT),
        (3, ControlRecordType::ABORT),
    ] {
        let batch = &batches[index].0;
        assert!(batch.is_control());
        let records = batch.records().unwrap();
        let mut iter = records.iter();
        let record = iter.next().unwrap().unwrap();
        assert!(iter.next().is_none(), "a control batch holds one record");
        assert_eq!(record.control_key().unwrap().record_type, marker);
        let end = record.end_txn_marker().unwrap().unwrap();
        assert_eq!(
            end,
            EndTxnMarker {
                version: 0,
                coordinator_epoch: end.coordinator_epoch
            }
        );
        assert!(end.coordinator_epoch >= 0);
    }
    assert_eq!(batches[1].1[0].offset, 3);
    assert_eq!(batches[3].1[0].offset, 6);
}

#[test]
fn kcat_transaction_with_a_commit_marker() {
    let batches = read(golden!("kcat-txn-gzip"));
    assert_eq!(batches.len(), 2);
    assert_eq!(batches[0].1.len(), 3);
    assert!(batches[0].0.is_transactional() && batches[0].0.compression() == Compression::Gzip);
    let marker = batches[1].0.records().unwrap();
    let marker = marker.iter().next().unwrap().unwrap();
    assert_eq!(
        marker.control_key().unwrap().record_type,
        ControlRecordType::COMMIT
    );
}

/// Java's legacy builder: offsets 100 to 105, five keyed records and one
/// with a null key and value.
fn check_legacy(blob: Bytes, magic: i8, codec: Compression) {
    let batches = read(blob);
    let expected_batches = if codec == Compression::None { 6 } else { 1 };
    assert_eq!(batches.len(), expected_batches, "v{magic} {codec}");
    for (batch, _) in &batches {
        assert_eq!((batch.magic(), batch.compression()), (magic, codec));
    }
    assert_eq!(batches.last().unwrap().0.last_offset(), 105);
    let records: Vec<&Seen> = batches.iter().flat_map(|(_, r)| r).collect();
    assert_eq!(records.len(), 6);
    for (i, record) in records.iter().enumerate() {
        assert_eq!(record.offset, 100 + i as i64);
        let timestamp = if magic == 0 {
            -1
        } else {
            1_700_000_000_000 + i as i64
        };
        assert_eq!(record.timestamp, timestamp);
        assert!(record.headers.is_empty());
        if i < 5 {
            assert_eq!(
                record.key.as_deref(),
                Some(format!("legacy-key-{i}").as_str())
            );
            assert_eq!(
                record.value.as_deref(),
                Some(
                    format!("legacy magic {magic} {codec} value {i}, legacy legacy legacy")
                        .as_str()
                )
            );
        } else {
            assert_eq!(
                (record.key.as_deref(), record.value.as_deref()),
                (None, None)
            );
        }
    }
}

#[test]
fn java_legacy_message_sets_decode() {
    check_legacy(golden!("java-legacy-v0-none"), 0, Compression::None);
    check_legacy(golden!("java-legacy-v0-gzip"), 0, Compression::Gzip);
    check_legacy(golden!("java-legacy-v0-snappy"), 0, Compression::Snappy);
    check_legacy(golden!("java-legacy-v0-lz4"), 0, Compression::Lz4);
    check_legacy(golden!("java-legacy-v1-none"), 1, Compression::None);
    check_legacy(golden!("java-legacy-v1-gzip"), 1, Compression::Gzip);
    check_legacy(golden!("java-legacy-v1-snappy"), 1, Compression::Snappy);
    check_legacy(golden!("java-legacy-v1-lz4"), 1, Compression::Lz4);
}

#[test]
fn java_magic_0_lz4_carries_the_pre_kip57_header_checksum() {
    // Entry header (12), crc (4), magic, attributes, null key (4), value length (4).
    let frame = golden!("java-legacy-v0-lz4").slice(26..);
    assert!(
        Compression::Lz4.decompress(&frame, 1 << 20).is_err(),
        "a strict LZ4 frame decoder refuses Java's magic-0 header checksum"
    );
    let frame_v1 = golden!("java-legacy-v1-lz4").slice(34..);
    assert!(Compression::Lz4.decompress(&frame_v1, 1 << 20).is_ok());
}

#[test]
fn a_segment_cut_short_reads_the_whole_batches_only() {
    let blob = golden!("kcat-gzip");
    let first_len = v2(&read(blob.clone())[0].0).size();
    let batches: Vec<_> = BatchReader::new(blob.slice(..blob.len() - 1)).collect();
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].as_ref().unwrap().as_bytes().len(), first_len);
}
