//! Property tests: every attribute, every codec, headers with duplicate
//! keys, null keys and values, control batches.

use bytes::Bytes;
use proptest::prelude::*;

use super::*;

type Header = (String, Option<Vec<u8>>);

#[derive(Debug, Clone)]
struct Input {
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<Header>,
}

fn codec() -> impl Strategy<Value = Compression> {
    (0u8..5).prop_map(|id| Compression::from_id(id).unwrap())
}

fn nullable(max: usize) -> impl Strategy<Value = Option<Vec<u8>>> {
    prop::option::weighted(0.8, prop::collection::vec(any::<u8>(), 0..max))
}

/// Timestamps within a range whose deltas cannot overflow.
fn timestamp() -> impl Strategy<Value = i64> {
    prop_oneof![-1i64..=1, 0i64..4_000_000_000_000, -4_000_000_000_000i64..0]
}

fn header() -> impl Strategy<Value = Header> {
    // Few distinct keys, so duplicates are common.
    (
        prop::sample::select(vec!["trace", "tenant", "", "ключ", "a"]),
        nullable(20),
    )
        .prop_map(|(key, value)| (key.to_owned(), value))
}

fn input() -> impl Strategy<Value = Input> {
    (
        timestamp(),
        nullable(40),
        nullable(300),
        prop::collection::vec(header(), 0..5),
    )
        .prop_map(|(timestamp, key, value, headers)| Input {
            timestamp,
            key,
            value,
            headers,
        })
}

fn options() -> impl Strategy<Value = BatchOptions> {
    (
        codec(),
        any::<i64>(),
        any::<i32>(),
        (any::<i64>(), any::<i16>(), any::<i32>()),
        any::<bool>(),
        prop::option::of(timestamp()),
        prop::option::of(timestamp()),
    )
        .prop_map(
            |(
                compression,
                base_offset,
                partition_leader_epoch,
                (producer_id, producer_epoch, base_sequence),
                transactional,
                log_append_time,
                delete_horizon,
            )| {
                BatchOptions {
                    compression,
                    base_offset,
                    partition_leader_epoch,
                    producer_id,
                    producer_epoch,
                    base_sequence,
                    transactional,
                    control: false,
                    log_append_time,
                    delete_horizon,
                }
            },
        )
}

fn build(options: BatchOptions, inputs: &[Input]) -> Bytes {
    let mut builder = RecordBatchBuilder::new(options);
    for input in inputs {
        builder
            .append_with_headers(
                input.timestamp,
                input.key.as_deref(),
                input.value.as_deref(),
                &input.headers,
            )
            .unwrap();
    }
    builder.finish().unwrap()
}

fn check_header(
    batch: &RecordBatch,
    options: &BatchOptions,
    count: usize,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(batch.base_offset(), options.base_offset);
    prop_assert_eq!(
        batch.partition_leader_epoch(),
        options.partition_leader_epoch
    );
    prop_assert_eq!(batch.producer_id(), options.producer_id);
    prop_assert_eq!(batch.producer_epoch(), options.producer_epoch);
    prop_assert_eq!(batch.base_sequence(), options.base_sequence);
    prop_assert_eq!(batch.compression(), options.compression);
    prop_assert_eq!(batch.is_transactional(), options.transactional);
    prop_assert_eq!(batch.is_control(), options.control);
    prop_assert_eq!(batch.has_delete_horizon(), options.delete_horizon.is_some());
    prop_assert_eq!(
        batch.timestamp_type(),
        if options.log_append_time.is_some() {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    );
    prop_assert_eq!(batch.record_count() as usize, count);
    prop_assert_eq!(batch.last_offset_delta() as usize, count - 1);
    prop_assert_eq!(batch.attributes(), options.attributes());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn batches_round_trip(options in options(), inputs in prop::collection::vec(input(), 1..40)) {
        let blob = build(options, &inputs);
        let all = read_all(blob.clone());
        prop_assert_eq!(all.len(), 1);
        let Batch::V2(batch) = &all[0].0 else { panic!("not v2") };
        check_header(batch, &options, inputs.len())?;
        let max = inputs.iter().map(|i| i.timestamp).fold(NO_TIMESTAMP, i64::max);
        prop_assert_eq!(batch.max_timestamp(), options.log_append_time.unwrap_or(max));
        prop_assert_eq!(batch.base_timestamp(), options.delete_horizon.unwrap_or(inputs[0].timestamp));
        let expected: Vec<Owned> = inputs
            .iter()
            .enumerate()
            .map(|(i, input)| Owned {
                offset: options.base_offset.wrapping_add(i as i64),
                timestamp: options.log_append_time.unwrap_or(input.timestamp),
                key: input.key.clone(),
                value: input.value.clone(),
                headers: input.headers.iter().map(|(k, v)| (k.as_bytes().to_vec(), v.clone())).collect(),
            })
            .collect();
        prop_assert_eq!(&all[0].1, &expected);
    }

    #[test]
    fn control_batches_round_trip(
        options in options(),
        commit: bool,
        coordinator_epoch: i32,
        timestamp in timestamp(),
    ) {
        let options = BatchOptions { control: true, ..options };
        let mut builder = RecordBatchBuilder::new(options);
        builder.append_end_txn_marker(timestamp, commit, EndTxnMarker::new(coordinator_epoch)).unwrap();
        let all = read_all(builder.finish().unwrap());
        let Batch::V2(batch) = &all[0].0 else { panic!("not v2") };
        check_header(batch, &options, 1)?;
        let records = batch.records().unwrap();
        let record = records.iter().next().unwrap().unwrap();
        let record_type = if commit { ControlRecordType::COMMIT } else { ControlRecordType::ABORT };
        prop_assert_eq!(record.control_key().unwrap(), ControlRecordKey::new(record_type));
        prop_assert_eq!(record.end_txn_marker().unwrap(), Some(EndTxnMarker::new(coordinator_epoch)));
    }

    #[test]
    fn blobs_of_batches_cut_anywhere_read_every_whole_batch(
        batches in prop::collection::vec((codec(), prop::collection::vec(input(), 1..6)), 1..5),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut blob = Vec::new();
        let mut ends = Vec::new();
        let mut offset = 0;
        for (compression, inputs) in &batches {
            blob.extend_from_slice(&build(BatchOptions { compression: *compression, base_offset: offset, ..BatchOptions::default() }, inputs));
            offset += inputs.len() as i64;
            ends.push(blob.len());
        }
        let cut = cut.index(blob.len() + 1);
        let whole = ends.iter().filter(|&&end| end <= cut).count();
        let read = read_all(Bytes::from(blob).slice(..cut));
        prop_assert_eq!(read.len(), whole);
        let offsets: Vec<i64> = read.iter().flat_map(|(_, r)| r.iter().map(|r| r.offset)).collect();
        let expected: Vec<i64> = (0..offsets.len() as i64).collect();
        prop_assert_eq!(offsets, expected);
    }

    #[test]
    fn size_bound_holds(inputs in prop::collection::vec(input(), 1..20)) {
        let mut builder = RecordBatchBuilder::new(BatchOptions::default());
        for input in &inputs {
            let before = builder.encoded_size();
            builder.append_with_headers(input.timestamp, input.key.as_deref(), input.value.as_deref(), &input.headers).unwrap();
            let bound = record_size_upper_bound(input.key.as_deref(), input.value.as_deref(), &input.headers);
            prop_assert!(builder.encoded_size() - before <= bound);
        }
    }
}

proptest! {
    /// `append` takes a fast path for small records without headers; it
    /// must write exactly what the general path writes.
    #[test]
    fn fast_and_general_append_write_the_same_bytes(
        options in options(),
        inputs in prop::collection::vec(
            (prop_oneof![timestamp(), -20_000i64..20_000], nullable(300), prop_oneof![nullable(300), nullable(9000)]),
            1..30,
        ),
    ) {
        let mut fast = RecordBatchBuilder::new(options);
        let mut general = RecordBatchBuilder::new(options);
        let none: &[(&str, Option<&[u8]>)] = &[];
        for (timestamp, key, value) in &inputs {
            let a = fast.append(*timestamp, key.as_deref(), value.as_deref());
            let b = general.append_with_headers(*timestamp, key.as_deref(), value.as_deref(), none);
            prop_assert_eq!(a, b);
            prop_assert_eq!(fast.encoded_size(), general.encoded_size());
        }
        prop_assert_eq!(fast.finish(), general.finish());
    }
}
