//! Legacy message sets (magic 0 and 1), plain and compressed.

use bytes::Bytes;

use super::*;
use crate::compression::xxhash32::xxh32;

/// A legacy message (crc to value).
fn message(
    magic: i8,
    attributes: i8,
    timestamp: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> Vec<u8> {
    let mut body = vec![magic as u8, attributes as u8];
    if magic == 1 {
        body.extend_from_slice(&timestamp.to_be_bytes());
    }
    for field in [key, value] {
        match field {
            Some(bytes) => {
                body.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
                body.extend_from_slice(bytes);
            }
            None => body.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }
    let mut crc = flate2::Crc::new();
    crc.update(&body);
    [crc.sum().to_be_bytes().to_vec(), body].concat()
}

/// An entry of a message set: offset, size, message.
fn entry(offset: i64, message: &[u8]) -> Vec<u8> {
    [
        &offset.to_be_bytes()[..],
        &(message.len() as i32).to_be_bytes(),
        message,
    ]
    .concat()
}

/// A compressed wrapper entry around `inner` (a message set).
fn wrapper(
    magic: i8,
    codec: Compression,
    flags: i8,
    offset: i64,
    timestamp: i64,
    inner: &[u8],
) -> Vec<u8> {
    let mut compressed = Vec::new();
    codec.compress(inner, &mut compressed).unwrap();
    entry(
        offset,
        &message(
            magic,
            codec.id() as i8 | flags,
            timestamp,
            None,
            Some(&compressed),
        ),
    )
}

fn records_of(blob: Vec<u8>) -> Vec<Owned> {
    read_all(Bytes::from(blob))
        .into_iter()
        .flat_map(|(_, r)| r)
        .collect()
}

#[test]
fn plain_magic_0_and_1_messages() {
    let blob = [
        entry(5, &message(0, 0, 0, Some(b"k0"), Some(b"v0"))),
        entry(6, &message(1, 0, 1234, None, Some(b"v1"))),
        entry(7, &message(1, 0x08, 999, Some(b"k2"), None)),
    ]
    .concat();
    let all = read_all(Bytes::from(blob));
    let types: Vec<_> = all
        .iter()
        .map(|(b, _)| (b.magic(), b.timestamp_type()))
        .collect();
    assert_eq!(
        types,
        [
            (0, TimestampType::NoTimestamp),
            (1, TimestampType::CreateTime),
            (1, TimestampType::LogAppendTime)
        ]
    );
    let records: Vec<Owned> = all.into_iter().flat_map(|(_, r)| r).collect();
    assert_eq!(
        records,
        [
            Owned {
                offset: 5,
                timestamp: NO_TIMESTAMP,
                key: Some(b"k0".to_vec()),
                value: Some(b"v0".to_vec()),
                headers: vec![]
            },
            Owned {
                offset: 6,
                timestamp: 1234,
                key: None,
                value: Some(b"v1".to_vec()),
                headers: vec![]
            },
            Owned {
                offset: 7,
                timestamp: 999,
                key: Some(b"k2".to_vec()),
                value: None,
                headers: vec![]
            },
        ]
    );
}

#[test]
fn magic_1_wrappers_use_relative_inner_offsets() {
    for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4] {
        let inner = [
            entry(0, &message(1, 0, 10, Some(b"a"), Some(b"1"))),
            entry(1, &message(1, 0, 11, Some(b"b"), Some(b"2"))),
            entry(2, &message(1, 0, 12, Some(b"c"), Some(b"3"))),
        ]
        .concat();
        let records = records_of(wrapper(1, codec, 0, 102, 12, &inner));
        let got: Vec<_> = records
            .iter()
            .map(|r| (r.offset, r.timestamp, r.key.clone().unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                (100, 10, b"a".to_vec()),
                (101, 11, b"b".to_vec()),
                (102, 12, b"c".to_vec())
            ],
            "{codec}"
        );
    }
}

#[test]
fn magic_1_log_append_time_wrappers_stamp_every_inner_message() {
    let inner = [
        entry(0, &message(1, 0, 10, None, Some(b"1"))),
        entry(1, &message(1, 0, 11, None, Some(b"2"))),
    ]
    .concat();
    let records = records_of(wrapper(1, Compression::Gzip, 0x08, 41, 5555, &inner));
    assert_eq!(
        records
            .iter()
            .map(|r| (r.offset, r.timestamp))
            .collect::<Vec<_>>(),
        [(40, 5555), (41, 5555)]
    );
}

#[test]
fn magic_0_wrappers_use_absolute_inner_offsets() {
    for codec in [Compression::Gzip, Compression::Snappy] {
        let inner = [
            entry(10, &message(0, 0, 0, None, Some(b"x"))),
            entry(11, &message(0, 0, 0, None, Some(b"y"))),
        ]
        .concat();
        let records = records_of(wrapper(0, codec, 0, 11, 0, &inner));
        assert_eq!(
            records
                .iter()
                .map(|r| (r.offset, r.timestamp))
                .collect::<Vec<_>>(),
            [(10, -1), (11, -1)],
            "{codec}"
        );
    }
}

#[test]
fn magic_0_lz4_with_the_pre_kip57_header_checksum() {
    let inner = [entry(3, &message(0, 0, 0, Some(b"k"), Some(b"old lz4")))].concat();
    let mut frame = Vec::new();
    Compression::Lz4.compress(&inner, &mut frame).unwrap();
    frame[6] = (xxh32(&frame[..6], 0) >> 8) as u8; // the broken checksum
    let blob = entry(
        3,
        &message(0, Compression::Lz4.id() as i8, 0, None, Some(&frame)),
    );
    let records = records_of(blob);
    assert_eq!(records[0].value.as_deref(), Some(&b"old lz4"[..]));
}

fn first_error(blob: Vec<u8>) -> DecodeError {
    let result = BatchReader::new(Bytes::from(blob))
        .next()
        .unwrap()
        .and_then(|batch| {
            let records = batch.records()?;
            for record in records.iter() {
                record?;
            }
            Ok(())
        });
    result.unwrap_err()
}

#[test]
fn malformed_legacy_messages_are_typed_errors() {
    // Nested compression.
    let innermost = entry(0, &message(1, 0, 0, None, Some(b"deep")));
    let nested = wrapper(1, Compression::Gzip, 0, 0, 0, &innermost);
    let err = first_error(wrapper(1, Compression::Gzip, 0, 0, 0, &nested));
    assert!(
        matches!(
            err.kind,
            DecodeErrorKind::CompressionNotAllowed {
                codec: Compression::Gzip,
                ..
            }
        ),
        "{err}"
    );

    // Inner magic differs from the wrapper's.
    let inner = entry(0, &message(0, 0, 0, None, Some(b"v")));
    let err = first_error(wrapper(1, Compression::Gzip, 0, 0, 0, &inner));
    assert!(
        matches!(
            err.kind,
            DecodeErrorKind::LegacyMessage {
                problem: RecordProblem::MagicMismatch { outer: 1, inner: 0 },
                ..
            }
        ),
        "{err}"
    );

    // A wrapper with nothing inside.
    let err = first_error(wrapper(1, Compression::Snappy, 0, 0, 0, &[]));
    assert!(
        matches!(
            err.kind,
            DecodeErrorKind::LegacyMessage {
                problem: RecordProblem::EmptyWrapper,
                ..
            }
        ),
        "{err}"
    );

    // zstd needs magic 2.
    let err = first_error(entry(0, &message(1, 4, 0, None, Some(b"zz"))));
    assert!(
        matches!(
            err.kind,
            DecodeErrorKind::CompressionNotAllowed {
                codec: Compression::Zstd,
                ..
            }
        ),
        "{err}"
    );

    // A wrong CRC.
    let mut bad = entry(9, &message(1, 0, 0, None, Some(b"v")));
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(matches!(
        first_error(bad).kind,
        DecodeErrorKind::CrcMismatch { base_offset: 9, .. }
    ));

    // A key longer than the message.
    let mut body = vec![1u8, 0];
    body.extend_from_slice(&0i64.to_be_bytes());
    body.extend_from_slice(&100i32.to_be_bytes());
    body.extend_from_slice(&[0; 4]);
    let mut crc = flate2::Crc::new();
    crc.update(&body);
    let msg = [crc.sum().to_be_bytes().to_vec(), body].concat();
    let err = first_error(entry(1, &msg));
    assert!(
        matches!(
            err.kind,
            DecodeErrorKind::LegacyMessage {
                problem: RecordProblem::Truncated("key"),
                ..
            }
        ),
        "{err}"
    );

    // A truncated inner entry.
    let mut inner = entry(0, &message(1, 0, 0, None, Some(b"v")));
    inner.truncate(inner.len() - 2);
    let err = first_error(wrapper(1, Compression::Gzip, 0, 0, 0, &inner));
    assert!(
        matches!(
            err.kind,
            DecodeErrorKind::LegacyMessage {
                problem: RecordProblem::Truncated("message"),
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn legacy_and_v2_entries_mix_in_one_blob() {
    let mut builder = RecordBatchBuilder::new(BatchOptions {
        base_offset: 2,
        ..BatchOptions::default()
    });
    builder.append(77, Some(b"new"), Some(b"v2")).unwrap();
    let blob = [
        entry(0, &message(0, 0, 0, None, Some(b"m0"))),
        entry(1, &message(1, 0, 5, None, Some(b"m1"))),
        builder.finish().unwrap().to_vec(),
    ]
    .concat();
    let records = records_of(blob);
    assert_eq!(
        records.iter().map(|r| r.offset).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert_eq!(records[2].value.as_deref(), Some(&b"v2"[..]));
}
