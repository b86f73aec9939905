//! v2 batches: layout, attributes, records, control records, errors.

use bytes::Bytes;

use super::*;

#[test]
fn encodes_the_documented_layout_byte_for_byte() {
    let mut builder = RecordBatchBuilder::new(BatchOptions::default());
    builder
        .append_with_headers(1000, Some(b"k"), Some(b"v1"), &[("h", Some(b"x"))])
        .unwrap();
    let batch = builder.finish().unwrap();

    let mut expected = Vec::new();
    expected.extend_from_slice(&0i64.to_be_bytes()); // baseOffset
    expected.extend_from_slice(&63i32.to_be_bytes()); // batchLength: 49 + 14
    expected.extend_from_slice(&(-1i32).to_be_bytes()); // partitionLeaderEpoch
    expected.push(2); // magic
    expected.extend_from_slice(&[0; 4]); // crc, checked below
    expected.extend_from_slice(&0i16.to_be_bytes()); // attributes
    expected.extend_from_slice(&0i32.to_be_bytes()); // lastOffsetDelta
    expected.extend_from_slice(&1000i64.to_be_bytes()); // baseTimestamp
    expected.extend_from_slice(&1000i64.to_be_bytes()); // maxTimestamp
    expected.extend_from_slice(&(-1i64).to_be_bytes()); // producerId
    expected.extend_from_slice(&(-1i16).to_be_bytes()); // producerEpoch
    expected.extend_from_slice(&(-1i32).to_be_bytes()); // baseSequence
    expected.extend_from_slice(&1i32.to_be_bytes()); // recordsCount
    // length 13 (zigzag 26), attributes, ts delta 0, offset delta 0,
    // key len 1 (zigzag 2) "k", value len 2 "v1", 1 header: "h" = "x".
    expected.extend_from_slice(&[
        0x1a, 0x00, 0x00, 0x00, 0x02, b'k', 0x04, b'v', b'1', 0x02, 0x02, b'h', 0x02, b'x',
    ]);
    assert_eq!(batch.len(), expected.len());
    assert_eq!(&batch[..17], &expected[..17]);
    assert_eq!(&batch[21..], &expected[21..]);
    let crc = u32::from_be_bytes(batch[17..21].try_into().unwrap());
    assert_eq!(crc, crc32c::crc32c(&expected[21..]));
}

#[test]
fn crc32c_is_castagnoli() {
    // The standard check value of CRC-32C.
    assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
}

#[test]
fn header_fields_and_attributes_round_trip() {
    let options = BatchOptions {
        compression: Compression::Snappy,
        base_offset: 1_000_000,
        partition_leader_epoch: 17,
        producer_id: 4242,
        producer_epoch: 3,
        base_sequence: 99,
        transactional: true,
        control: false,
        log_append_time: Some(1_700_000_000_999),
        delete_horizon: None,
    };
    let mut builder = RecordBatchBuilder::new(options);
    builder.append(1_700_000_000_000, None, Some(b"a")).unwrap();
    builder.append(1_700_000_000_500, None, None).unwrap();
    builder
        .append(1_699_999_999_000, Some(b""), Some(b"c"))
        .unwrap();
    let bytes = builder.finish().unwrap();
    let batch = RecordBatch::decode(bytes.clone(), &DecodeLimits::DEFAULT).unwrap();
    assert_eq!(batch.base_offset(), 1_000_000);
    assert_eq!(batch.last_offset(), 1_000_002);
    assert_eq!(batch.next_offset(), 1_000_003);
    assert_eq!(batch.last_offset_delta(), 2);
    assert_eq!(batch.partition_leader_epoch(), 17);
    assert_eq!(batch.producer_id(), 4242);
    assert_eq!(batch.producer_epoch(), 3);
    assert_eq!(batch.base_sequence(), 99);
    assert_eq!(batch.last_sequence(), 101);
    assert_eq!(batch.record_count(), 3);
    assert_eq!(batch.compression(), Compression::Snappy);
    assert!(batch.is_transactional());
    assert!(!batch.is_control());
    assert!(!batch.has_delete_horizon());
    assert_eq!(batch.timestamp_type(), TimestampType::LogAppendTime);
    assert_eq!(batch.base_timestamp(), 1_700_000_000_000);
    assert_eq!(batch.max_timestamp(), 1_700_000_000_999);
    assert_eq!(batch.size(), bytes.len());
    let records = batch.records().unwrap();
    let records: Vec<_> = records.iter().map(|r| Owned::of(&r.unwrap())).collect();
    // Log-append time: every record has the batch's max timestamp.
    assert!(records.iter().all(|r| r.timestamp == 1_700_000_000_999));
    assert_eq!(records[0].key, None);
    assert_eq!(records[1].value, None);
    assert_eq!(records[2].key, Some(vec![]));
    assert_eq!(
        records.iter().map(|r| r.offset).collect::<Vec<_>>(),
        [1_000_000, 1_000_001, 1_000_002]
    );
}

#[test]
fn create_time_records_keep_their_own_timestamps_and_max_is_the_largest() {
    let mut builder = RecordBatchBuilder::new(BatchOptions::default());
    for ts in [500, 100, 900, -5] {
        builder.append(ts, None, Some(b"x")).unwrap();
    }
    let batch = RecordBatch::decode(builder.finish().unwrap(), &DecodeLimits::DEFAULT).unwrap();
    assert_eq!(batch.base_timestamp(), 500);
    assert_eq!(batch.max_timestamp(), 900);
    let ts: Vec<i64> = batch
        .records()
        .unwrap()
        .iter()
        .map(|r| r.unwrap().timestamp())
        .collect();
    assert_eq!(ts, [500, 100, 900, -5]);
}

#[test]
fn delete_horizon_is_the_base_timestamp() {
    let mut builder = RecordBatchBuilder::new(BatchOptions {
        delete_horizon: Some(5_000),
        ..BatchOptions::default()
    });
    builder.append(4_000, None, None).unwrap();
    let batch = RecordBatch::decode(builder.finish().unwrap(), &DecodeLimits::DEFAULT).unwrap();
    assert!(batch.has_delete_horizon());
    assert_eq!(batch.base_timestamp(), 5_000);
    let record = batch
        .records()
        .unwrap()
        .iter()
        .next()
        .unwrap()
        .unwrap()
        .timestamp();
    assert_eq!(record, 4_000);
}

#[test]
fn headers_keep_order_and_duplicates() {
    let headers: &[(&str, Option<&[u8]>)] = &[
        ("trace", Some(b"1")),
        ("tenant", Some(b"acme")),
        ("trace", Some(b"2")),
        ("empty", Some(b"")),
        ("trace", None),
    ];
    let mut builder = RecordBatchBuilder::new(BatchOptions::default());
    builder
        .append_with_headers(1, Some(b"k"), Some(b"v"), headers)
        .unwrap();
    let blob = builder.finish().unwrap();
    let batch = RecordBatch::decode(blob.clone(), &DecodeLimits::DEFAULT).unwrap();
    let records = batch.records().unwrap();
    let record = records.iter().next().unwrap().unwrap();
    let got: Vec<(String, Option<Vec<u8>>)> = record
        .headers()
        .map(|h| {
            (
                h.key_str().unwrap().to_owned(),
                h.value().map(<[u8]>::to_vec),
            )
        })
        .collect();
    let want: Vec<(String, Option<Vec<u8>>)> = headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.map(<[u8]>::to_vec)))
        .collect();
    assert_eq!(got, want);
    assert_eq!(record.headers().len(), 5);
    let traces: Vec<_> = record.headers().get_all(b"trace").collect();
    assert_eq!(traces, [Some(&b"1"[..]), Some(&b"2"[..]), None]);
    assert_eq!(
        record.headers().last_header(b"tenant").unwrap().value(),
        Some(&b"acme"[..])
    );
    assert!(record.headers().last_header(b"missing").is_none());
}

#[test]
fn bytes_accessors_share_the_batch_buffer() {
    let mut builder = RecordBatchBuilder::new(BatchOptions::default());
    builder
        .append_with_headers(1, Some(b"key"), Some(b"value"), &[("h", Some(b"hv"))])
        .unwrap();
    let blob = builder.finish().unwrap();
    let range = blob.as_ptr() as usize..blob.as_ptr() as usize + blob.len();
    let batch = RecordBatch::decode(blob.clone(), &DecodeLimits::DEFAULT).unwrap();
    let records = batch.records().unwrap();
    let record = records.iter().next().unwrap().unwrap();
    let key: Bytes = record.key_bytes().unwrap();
    let value: Bytes = record.value_bytes().unwrap();
    let header_value: Bytes = record.headers().next().unwrap().value_bytes().unwrap();
    assert_eq!(
        (&key[..], &value[..], &header_value[..]),
        (&b"key"[..], &b"value"[..], &b"hv"[..])
    );
    for slice in [&key, &value, &header_value] {
        assert!(
            range.contains(&(slice.as_ptr() as usize)),
            "not a slice of the batch"
        );
    }
}

#[test]
fn control_batches_carry_transaction_markers() {
    for commit in [true, false] {
        let mut builder = RecordBatchBuilder::new(BatchOptions {
            control: true,
            transactional: true,
            producer_id: 7,
            producer_epoch: 1,
            base_offset: 55,
            ..BatchOptions::default()
        });
        assert!(
            builder.append(1, None, None).is_err(),
            "data record in a control batch"
        );
        builder
            .append_end_txn_marker(1_000, commit, EndTxnMarker::new(12))
            .unwrap();
        let batch = RecordBatch::decode(builder.finish().unwrap(), &DecodeLimits::DEFAULT).unwrap();
        assert!(batch.is_control() && batch.is_transactional());
        let records = batch.records().unwrap();
        let record = records.iter().next().unwrap().unwrap();
        let key = record.control_key().unwrap();
        let expected = if commit {
            ControlRecordType::COMMIT
        } else {
            ControlRecordType::ABORT
        };
        assert_eq!(key, ControlRecordKey::new(expected));
        assert_eq!(
            record.end_txn_marker().unwrap(),
            Some(EndTxnMarker::new(12))
        );
        assert_eq!(record.offset(), 55);
    }
    let mut data = RecordBatchBuilder::new(BatchOptions::default());
    let err = data
        .append_control(1, ControlRecordKey::new(ControlRecordType::COMMIT), None)
        .unwrap_err();
    assert!(matches!(err, EncodeError::ControlMismatch(_)));
}

#[test]
fn other_control_types_have_no_marker() {
    let mut builder = RecordBatchBuilder::new(BatchOptions {
        control: true,
        ..BatchOptions::default()
    });
    builder
        .append_control(
            1,
            ControlRecordKey::new(ControlRecordType::LEADER_CHANGE),
            Some(b"opaque"),
        )
        .unwrap();
    let batch = RecordBatch::decode(builder.finish().unwrap(), &DecodeLimits::DEFAULT).unwrap();
    let records = batch.records().unwrap();
    let record = records.iter().next().unwrap().unwrap();
    assert_eq!(
        record.control_key().unwrap().record_type,
        ControlRecordType::LEADER_CHANGE
    );
    assert_eq!(record.end_txn_marker().unwrap(), None);
}

#[test]
fn empty_batches_are_refused_and_sizes_are_tracked() {
    let builder = RecordBatchBuilder::new(BatchOptions::default());
    assert!(builder.is_empty());
    assert_eq!(builder.encoded_size(), RECORD_BATCH_OVERHEAD);
    assert_eq!(builder.finish().unwrap_err(), EncodeError::EmptyBatch);

    let mut builder = RecordBatchBuilder::with_capacity(BatchOptions::default(), 1 << 14);
    let headers = [("a", Some(&b"bc"[..]))];
    for i in 0..100u32 {
        let before = builder.encoded_size();
        let value = vec![7u8; i as usize];
        builder
            .append_with_headers(i64::from(i) * 1000, Some(b"key"), Some(&value), &headers)
            .unwrap();
        let grew = builder.encoded_size() - before;
        assert!(grew <= record_size_upper_bound(Some(b"key"), Some(&value), &headers));
    }
    assert_eq!(builder.len(), 100);
    let size = builder.encoded_size();
    assert_eq!(builder.finish().unwrap().len(), size, "uncompressed: exact");
}

#[test]
fn timestamp_delta_overflow_is_an_error() {
    let mut builder = RecordBatchBuilder::new(BatchOptions::default());
    builder.append(i64::MIN, None, None).unwrap();
    let err = builder.append(i64::MAX, None, None).unwrap_err();
    assert!(matches!(err, EncodeError::TimestampOutOfRange { .. }));
    assert_eq!(builder.len(), 1, "a failed append writes nothing");
}

#[test]
fn restamping_producer_state_keeps_the_batch_valid() {
    let mut builder = RecordBatchBuilder::new(BatchOptions {
        compression: Compression::Lz4,
        ..BatchOptions::default()
    });
    builder.append(1, Some(b"k"), Some(b"v")).unwrap();
    builder.append(2, Some(b"k"), Some(b"w")).unwrap();
    let original = builder.finish().unwrap();
    let restamped = restamp_producer_state(&original, 900, 4, i32::MAX).unwrap();
    let batch = RecordBatch::decode(restamped, &DecodeLimits::DEFAULT).unwrap();
    assert_eq!(
        (
            batch.producer_id(),
            batch.producer_epoch(),
            batch.base_sequence()
        ),
        (900, 4, i32::MAX)
    );
    // Sequences wrap past i32::MAX, as Java's incrementSequence does.
    assert_eq!(batch.last_sequence(), 0);
    assert_eq!(batch.records().unwrap().iter().count(), 2);
    assert_eq!(
        restamp_producer_state(b"short", 1, 1, 1).unwrap_err(),
        EncodeError::NotAV2Batch
    );
}

#[test]
fn set_producer_state_before_finish() {
    let mut builder = RecordBatchBuilder::new(BatchOptions::default());
    builder.append(1, None, Some(b"v")).unwrap();
    builder.set_producer_state(11, 2, 40);
    let batch = RecordBatch::decode(builder.finish().unwrap(), &DecodeLimits::DEFAULT).unwrap();
    assert_eq!(
        (
            batch.producer_id(),
            batch.producer_epoch(),
            batch.base_sequence()
        ),
        (11, 2, 40)
    );
}

#[test]
fn crc_mismatch_is_detected() {
    let mut builder = RecordBatchBuilder::new(BatchOptions::default());
    builder.append(1, Some(b"k"), Some(b"value")).unwrap();
    let mut bytes = builder.finish().unwrap().to_vec();
    let last = bytes.len() - 3;
    bytes[last] ^= 0x20;
    let err = RecordBatch::decode(Bytes::from(bytes), &DecodeLimits::DEFAULT).unwrap_err();
    assert!(
        matches!(
            err.kind,
            DecodeErrorKind::CrcMismatch { base_offset: 0, .. }
        ),
        "{err}"
    );
}

#[test]
fn partition_leader_epoch_is_outside_the_crc() {
    let mut builder = RecordBatchBuilder::new(BatchOptions::default());
    builder.append(1, Some(b"k"), Some(b"value")).unwrap();
    let mut bytes = builder.finish().unwrap().to_vec();
    bytes[at::PARTITION_LEADER_EPOCH..at::PARTITION_LEADER_EPOCH + 4]
        .copy_from_slice(&9i32.to_be_bytes());
    let batch = RecordBatch::decode(Bytes::from(bytes), &DecodeLimits::DEFAULT).unwrap();
    assert_eq!(batch.partition_leader_epoch(), 9);
}

#[test]
fn unknown_codec_and_negative_count_are_errors() {
    let mut bytes = batch_with_section(1, &[], Compression::None).to_vec();
    bytes[at::ATTRIBUTES + 1] = 6;
    fix_crc(&mut bytes);
    let err = RecordBatch::decode(Bytes::from(bytes.clone()), &DecodeLimits::DEFAULT).unwrap_err();
    assert_eq!(
        err.kind,
        DecodeErrorKind::UnknownCompression {
            base_offset: 0,
            id: 6
        }
    );
    bytes[at::ATTRIBUTES + 1] = 0;
    bytes[at::RECORDS_COUNT..at::RECORDS_COUNT + 4].copy_from_slice(&(-3i32).to_be_bytes());
    fix_crc(&mut bytes);
    let err = RecordBatch::decode(Bytes::from(bytes), &DecodeLimits::DEFAULT).unwrap_err();
    assert!(matches!(
        err.kind,
        DecodeErrorKind::InvalidBatchField {
            field: "record count",
            value: -3,
            ..
        }
    ));
}

/// Decodes a one-batch blob and returns the first record error.
fn record_error(count: i32, section: &[u8]) -> DecodeError {
    let batch = RecordBatch::decode(
        batch_with_section(count, section, Compression::None),
        &DecodeLimits::DEFAULT,
    )
    .unwrap();
    let records = batch.records().unwrap();
    let mut iter = records.iter();
    let err = iter.by_ref().find_map(Result::err).expect("an error");
    assert!(iter.next().is_none(), "iteration stops after an error");
    err
}

#[test]
fn malformed_records_are_typed_errors_with_positions() {
    let good = RawRecord {
        timestamp_delta: 0,
        offset_delta: 0,
        key: Some(b"k"),
        value: Some(b"v"),
        headers: &[],
    };
    let mut one = Vec::new();
    good.encode(&mut one);

    // Fewer records than declared.
    let err = record_error(2, &one);
    assert_eq!(
        err.kind,
        DecodeErrorKind::RecordCountMismatch {
            base_offset: 0,
            declared: 2,
            found: 1
        }
    );

    // Bytes after the declared records.
    let mut extra = one.clone();
    extra.extend_from_slice(&[0, 0]);
    assert_eq!(
        record_error(1, &extra).kind,
        DecodeErrorKind::TrailingBytes {
            base_offset: 0,
            extra: 2
        }
    );

    // Negative record length.
    let err = record_error(1, &[0x01]);
    assert!(
        matches!(
            err.kind,
            DecodeErrorKind::Record {
                index: 0,
                position: 0,
                problem: RecordProblem::NegativeLength { .. },
                ..
            }
        ),
        "{err}"
    );

    // Record length beyond the section.
    let err = record_error(1, &[0x40, 0, 0]);
    assert!(
        matches!(
            err.kind,
            DecodeErrorKind::Record {
                problem: RecordProblem::Truncated("record"),
                ..
            }
        ),
        "{err}"
    );

    // Key length beyond the record.
    let mut body = vec![0u8, 0, 0];
    put_varint(&mut body, 50);
    body.extend_from_slice(b"short");
    let mut section = one.clone();
    put_varint(&mut section, body.len() as i32);
    section.extend_from_slice(&body);
    let err = record_error(2, &section);
    assert!(
        matches!(
            err.kind,
            DecodeErrorKind::Record {
                index: 1,
                problem: RecordProblem::Truncated("key"),
                ..
            }
        ),
        "{err}"
    );

    // Fields shorter than the record length.
    let mut body = good.body();
    body.push(0xEE);
    let mut section = Vec::new();
    put_varint(&mut section, body.len() as i32);
    section.extend_from_slice(&body);
    let err = record_error(1, &section);
    assert!(
        matches!(
            err.kind,
            DecodeErrorKind::Record {
                problem: RecordProblem::LengthMismatch {
                    declared: 9,
                    actual: 8
                },
                ..
            }
        ),
        "{err}"
    );

    // Negative header count and header key length.
    for bad_header in [&[0x01u8][..], &[0x02, 0x01][..]] {
        let mut body = vec![0u8, 0, 0, 1, 1];
        body.extend_from_slice(bad_header);
        let mut section = Vec::new();
        put_varint(&mut section, body.len() as i32);
        section.extend_from_slice(&body);
        let err = record_error(1, &section);
        assert!(
            matches!(
                err.kind,
                DecodeErrorKind::Record {
                    problem: RecordProblem::NegativeLength { .. },
                    ..
                }
            ),
            "{err}"
        );
    }

    // An over-long varint.
    let err = record_error(1, &[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    assert!(
        matches!(
            err.kind,
            DecodeErrorKind::Record {
                problem: RecordProblem::VarintTooLong("record length"),
                ..
            }
        ),
        "{err}"
    );

    // Errors display what and where.
    let text = record_error(1, &[0x01]).to_string();
    assert!(
        text.contains("record 0")
            && text.contains("byte 0")
            && text.contains("negative record length"),
        "{text}"
    );
}

#[test]
fn negative_key_and_value_lengths_other_than_minus_one_are_null() {
    // Java treats any negative length as null.
    let mut body = vec![0u8, 0, 0];
    put_varint(&mut body, -7);
    put_varint(&mut body, -2);
    put_varint(&mut body, 0);
    let mut section = Vec::new();
    put_varint(&mut section, body.len() as i32);
    section.extend_from_slice(&body);
    let batch = RecordBatch::decode(
        batch_with_section(1, &section, Compression::None),
        &DecodeLimits::DEFAULT,
    )
    .unwrap();
    let records = batch.records().unwrap();
    let record = records.iter().next().unwrap().unwrap();
    assert_eq!((record.key(), record.value()), (None, None));
}

#[test]
fn compressed_records_over_the_limit_are_refused() {
    let mut builder = RecordBatchBuilder::new(BatchOptions {
        compression: Compression::Zstd,
        ..BatchOptions::default()
    });
    let zeros = vec![0u8; 100_000];
    for _ in 0..20 {
        builder.append(1, None, Some(&zeros)).unwrap();
    }
    let limits = DecodeLimits {
        max_batch_bytes: 1 << 20,
        max_decompressed_bytes: 1 << 20,
    };
    let batch = RecordBatch::decode(builder.finish().unwrap(), &limits).unwrap();
    assert!(batch.size() < 10_000, "a zip bomb: {} bytes", batch.size());
    let err = batch.records().unwrap_err();
    assert_eq!(
        err.kind,
        DecodeErrorKind::DecompressedTooLarge {
            codec: Compression::Zstd,
            limit: 1 << 20
        }
    );
}
