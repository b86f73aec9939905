//! The blob reader: framing, partial batches, limits, error recovery.

use bytes::Bytes;

use super::*;

/// Three batches with different codecs, concatenated as a fetch blob.
fn three_batches() -> (Vec<Bytes>, Bytes) {
    let mut batches = Vec::new();
    let mut offset = 0;
    for (i, codec) in [Compression::None, Compression::Gzip, Compression::Lz4]
        .into_iter()
        .enumerate()
    {
        let mut builder = RecordBatchBuilder::new(BatchOptions {
            compression: codec,
            base_offset: offset,
            ..BatchOptions::default()
        });
        for j in 0..=i {
            builder
                .append(
                    j as i64,
                    Some(format!("k{i}{j}").as_bytes()),
                    Some(b"some value"),
                )
                .unwrap();
        }
        offset += i as i64 + 1;
        batches.push(builder.finish().unwrap());
    }
    let blob = Bytes::from(batches.concat());
    (batches, blob)
}

#[test]
fn reads_batch_after_batch() {
    let (_, blob) = three_batches();
    let all = read_all(blob);
    assert_eq!(all.len(), 3);
    let offsets: Vec<i64> = all
        .iter()
        .flat_map(|(_, r)| r.iter().map(|r| r.offset))
        .collect();
    assert_eq!(offsets, [0, 1, 2, 3, 4, 5]);
    let codecs: Vec<_> = all.iter().map(|(b, _)| b.compression()).collect();
    assert_eq!(
        codecs,
        [Compression::None, Compression::Gzip, Compression::Lz4]
    );
    assert_eq!(all[2].0.next_offset(), 6);
    assert_eq!(all[1].1[1].key.as_deref(), Some(&b"k11"[..]));
}

#[test]
fn a_partial_batch_at_the_end_is_skipped_at_every_cut() {
    let (batches, blob) = three_batches();
    let ends: Vec<usize> = batches
        .iter()
        .scan(0, |end, b| {
            *end += b.len();
            Some(*end)
        })
        .collect();
    for cut in 0..=blob.len() {
        let mut reader = BatchReader::new(blob.slice(..cut));
        let mut whole = 0;
        for batch in reader.by_ref() {
            batch.unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
            whole += 1;
        }
        let expected = ends.iter().filter(|&&end| end <= cut).count();
        assert_eq!(whole, expected, "cut at {cut}");
        let consumed = if expected == 0 { 0 } else { ends[expected - 1] };
        assert_eq!(reader.position(), consumed);
        assert_eq!(reader.trailing_bytes(), cut - consumed);
    }
}

#[test]
fn a_corrupt_batch_is_reported_and_the_next_one_still_read() {
    let (batches, _) = three_batches();
    let mut bad = batches[1].to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let blob = Bytes::from([batches[0].to_vec(), bad, batches[2].to_vec()].concat());
    let results: Vec<_> = BatchReader::new(blob).collect();
    assert_eq!(results.len(), 3);
    assert!(results[0].is_ok());
    assert!(matches!(
        results[1].as_ref().map_err(|e| &e.kind),
        Err(DecodeErrorKind::CrcMismatch { base_offset: 1, .. })
    ));
    assert!(results[2].is_ok());
}

#[test]
fn a_size_field_below_the_minimum_stops_the_reader() {
    let (batches, _) = three_batches();
    let mut blob = batches[0].to_vec();
    let garbage_at = blob.len();
    blob.extend_from_slice(&[0; 8]);
    blob.extend_from_slice(&5i32.to_be_bytes());
    blob.extend_from_slice(&[0; 40]);
    let mut reader = BatchReader::new(Bytes::from(blob));
    assert!(reader.next().unwrap().is_ok());
    let err = reader.next().unwrap().unwrap_err();
    assert_eq!(
        err.kind,
        DecodeErrorKind::BatchLengthTooSmall {
            position: garbage_at,
            length: 5,
            min: 14
        }
    );
    assert!(reader.next().is_none(), "fused after a framing error");
}

#[test]
fn a_size_field_above_the_limit_is_refused_before_the_bytes_arrive() {
    let mut blob = vec![0u8; 8];
    blob.extend_from_slice(&i32::MAX.to_be_bytes());
    blob.extend_from_slice(&[0, 0, 0, 0, 2]);
    let limits = DecodeLimits {
        max_batch_bytes: 1 << 20,
        max_decompressed_bytes: 1 << 20,
    };
    let mut reader = BatchReader::with_limits(Bytes::from(blob), limits);
    let err = reader.next().unwrap().unwrap_err();
    assert_eq!(
        err.kind,
        DecodeErrorKind::BatchTooLarge {
            position: 0,
            length: i32::MAX as usize,
            limit: 1 << 20
        }
    );
    assert!(reader.next().is_none());
}

#[test]
fn unknown_magic_is_reported_and_skipped() {
    let (batches, _) = three_batches();
    let mut odd = batches[0].to_vec();
    odd[16] = 3;
    let blob = Bytes::from([odd, batches[1].to_vec()].concat());
    let results: Vec<_> = BatchReader::new(blob).collect();
    assert_eq!(
        &results[0].as_ref().unwrap_err().kind,
        &DecodeErrorKind::UnsupportedMagic {
            position: 0,
            magic: 3
        }
    );
    assert!(results[1].is_ok());
}

#[test]
fn a_v2_batch_too_short_for_its_header_is_an_error() {
    let mut blob = vec![0u8; 8];
    blob.extend_from_slice(&20i32.to_be_bytes());
    blob.extend_from_slice(&[0, 0, 0, 0, 2]);
    blob.extend_from_slice(&[0; 15]);
    let err = BatchReader::new(Bytes::from(blob))
        .next()
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(
            err.kind,
            DecodeErrorKind::BatchLengthTooSmall { min: 49, .. }
        ),
        "{err}"
    );
}

#[test]
fn empty_blob_yields_nothing() {
    assert!(BatchReader::new(Bytes::new()).next().is_none());
}
