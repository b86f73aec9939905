//! Kafka record batch v2: decode and encode a batch of 1,000 records (16 B
//! keys, 100 B values), uncompressed and with snappy, lz4 and zstd.
//!
//! Each iteration handles the whole batch; criterion reports the time per
//! batch, so ns/record = time / 1000 (the throughput line gives records per
//! second). Decoding includes the CRC-32C check, encoding includes computing
//! it. With `--features peers`, the kafka-protocol 0.18 crate decodes the
//! same bytes and encodes the same records in the same run.
//!
//! `cargo bench -p mq-benches --features peers --bench kafka_records`
//!
//! Benchmarks:
//! - `decode/<codec>/mq`: read the batch, iterate every record, read key
//!   and value as slices of the batch (what a consumer loop touches);
//! - `decode/<codec>/mq-owned-bytes`: the same, taking key and value as
//!   owned `Bytes` (zero-copy slices: a reference-count increment each);
//! - `decode/<codec>/kafka-protocol`: `RecordBatchDecoder::decode_all`;
//! - `encode/<codec>/mq`: `RecordBatchBuilder` with 1,000 appends, then
//!   `finish` (compression, header, CRC-32C);
//! - `encode/<codec>/kafka-protocol`: `RecordBatchEncoder::encode` of the
//!   same records (built beforehand, as its API takes them).

use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kafka_proto::compression::Compression;
use kafka_proto::record::{BatchOptions, BatchReader, RecordBatchBuilder};

const RECORDS: usize = 1000;
const CODECS: [Compression; 4] = [
    Compression::None,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];
const BASE_TIME: i64 = 1_700_000_000_000;

/// 16-byte keys and 100-byte JSON-ish values, like order events.
fn records() -> Vec<(Vec<u8>, Vec<u8>)> {
    (0..RECORDS)
        .map(|i| {
            let key = format!("order-{i:010}").into_bytes();
            let mut value = format!(
                "{{\"order\":{i},\"status\":\"created\",\"amount\":{},\"currency\":\"EUR\",\"note\":\"",
                (i * 7919) % 100_000
            )
            .into_bytes();
            value.resize(98, b'x');
            value.extend_from_slice(b"\"}");
            assert_eq!((key.len(), value.len()), (16, 100));
            (key, value)
        })
        .collect()
}

fn encode_mq(records: &[(Vec<u8>, Vec<u8>)], compression: Compression) -> Bytes {
    let options = BatchOptions {
        compression,
        producer_id: 4242,
        producer_epoch: 0,
        base_sequence: 0,
        ..BatchOptions::default()
    };
    let mut builder = RecordBatchBuilder::with_capacity(options, 128 * 1024);
    for (i, (key, value)) in records.iter().enumerate() {
        builder
            .append(BASE_TIME + i as i64, Some(key), Some(value))
            .unwrap();
    }
    builder.finish().unwrap()
}

/// Iterates every record, summing key and value lengths so nothing is
/// optimised away.
fn decode_mq(batch: &Bytes) -> usize {
    let mut total = 0;
    for b in BatchReader::new(batch.clone()) {
        let records = b.unwrap().records().unwrap();
        for record in records.iter() {
            let record = record.unwrap();
            total += record.key().map_or(0, <[u8]>::len) + record.value().map_or(0, <[u8]>::len);
        }
    }
    total
}

fn decode_mq_owned(batch: &Bytes) -> usize {
    let mut total = 0;
    for b in BatchReader::new(batch.clone()) {
        let records = b.unwrap().records().unwrap();
        for record in records.iter() {
            let record = record.unwrap();
            let key = black_box(record.key_bytes());
            let value = black_box(record.value_bytes());
            total += key.map_or(0, |k| k.len()) + value.map_or(0, |v| v.len());
        }
    }
    total
}

fn decode(c: &mut Criterion) {
    let records = records();
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(RECORDS as u64));
    for codec in CODECS {
        let batch = encode_mq(&records, codec);
        assert_eq!(decode_mq(&batch), RECORDS * 116);
        group.bench_function(format!("{codec}/mq"), |b| {
            b.iter(|| decode_mq(black_box(&batch)))
        });
        group.bench_function(format!("{codec}/mq-owned-bytes"), |b| {
            b.iter(|| decode_mq_owned(black_box(&batch)))
        });
        #[cfg(feature = "peers")]
        peers::decode(&mut group, codec, &batch);
    }
    group.finish();
}

fn encode(c: &mut Criterion) {
    let records = records();
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(RECORDS as u64));
    let plain = encode_mq(&records, Compression::None).len();
    for codec in CODECS {
        let size = encode_mq(&records, codec).len();
        println!(
            "REPORT size {codec}/mq: {size} bytes, ratio {:.2} (uncompressed batch {plain} bytes)",
            plain as f64 / size as f64
        );
        group.bench_function(format!("{codec}/mq"), |b| {
            b.iter(|| encode_mq(black_box(&records), codec))
        });
        #[cfg(feature = "peers")]
        peers::encode(&mut group, codec, &records);
    }
    group.finish();
}

#[cfg(feature = "peers")]
mod peers {
    //! kafka-protocol 0.18, on the same bytes and records.

    use std::hint::black_box;

    use bytes::{Bytes, BytesMut};
    use criterion::BenchmarkGroup;
    use criterion::measurement::WallTime;
    use kafka_proto::compression::Compression;
    use kafka_protocol::indexmap::IndexMap;
    use kafka_protocol::records::{
        Compression as KpCompression, Record, RecordBatchDecoder, RecordBatchEncoder,
        RecordEncodeOptions, TimestampType,
    };

    use super::{BASE_TIME, RECORDS};

    fn codec(c: Compression) -> KpCompression {
        match c {
            Compression::None => KpCompression::None,
            Compression::Gzip => KpCompression::Gzip,
            Compression::Snappy => KpCompression::Snappy,
            Compression::Lz4 => KpCompression::Lz4,
            Compression::Zstd => KpCompression::Zstd,
        }
    }

    fn decode_all(batch: &Bytes) -> usize {
        let mut buf = batch.clone();
        let sets = RecordBatchDecoder::decode_all(&mut buf).unwrap();
        sets.iter()
            .flat_map(|set| &set.records)
            .map(|r| {
                r.key.as_ref().map_or(0, |k| k.len()) + r.value.as_ref().map_or(0, |v| v.len())
            })
            .sum()
    }

    pub(super) fn decode(group: &mut BenchmarkGroup<'_, WallTime>, c: Compression, batch: &Bytes) {
        // It reads our batches: same bytes for both decoders.
        assert_eq!(decode_all(batch), RECORDS * 116);
        group.bench_function(format!("{c}/kafka-protocol"), |b| {
            b.iter(|| decode_all(black_box(batch)))
        });
    }

    pub(super) fn encode(
        group: &mut BenchmarkGroup<'_, WallTime>,
        c: Compression,
        records: &[(Vec<u8>, Vec<u8>)],
    ) {
        let records: Vec<Record> = records
            .iter()
            .enumerate()
            .map(|(i, (key, value))| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: 4242,
                producer_epoch: 0,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: i as i32,
                timestamp: BASE_TIME + i as i64,
                key: Some(Bytes::copy_from_slice(key)),
                value: Some(Bytes::copy_from_slice(value)),
                headers: IndexMap::new(),
            })
            .collect();
        let options = RecordEncodeOptions {
            version: 2,
            compression: codec(c),
        };
        let mut sized = BytesMut::with_capacity(128 * 1024);
        RecordBatchEncoder::encode(&mut sized, &records, &options).unwrap();
        println!("REPORT size {c}/kafka-protocol: {} bytes", sized.len());
        group.bench_function(format!("{c}/kafka-protocol"), |b| {
            b.iter(|| {
                let mut buf = BytesMut::with_capacity(128 * 1024);
                RecordBatchEncoder::encode(&mut buf, black_box(&records), &options).unwrap();
                buf
            })
        });
    }
}

criterion_group!(benches, decode, encode);
criterion_main!(benches);
