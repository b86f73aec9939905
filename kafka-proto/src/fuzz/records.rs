//! Entry points for the fuzz targets (`fuzz/` wraps each in one line).
//!
//! Hidden from the docs: not an API, but public so the out-of-workspace
//! fuzz crate can reach it. Each function must never panic and never
//! allocate without bound, whatever the input.

use bytes::Bytes;

use crate::compression::Compression;
use crate::record::{
    Attributes, Batch, BatchReader, DecodeLimits, LOG_OVERHEAD, RECORD_BATCH_OVERHEAD,
};

/// Limits the record-batch entry point decodes under.
const FUZZ_LIMITS: DecodeLimits = DecodeLimits {
    max_batch_bytes: 1 << 20,
    max_decompressed_bytes: 1 << 20,
};

/// Fuzzes the record-batch decoder, every codec.
///
/// The first byte picks the codec (low three bits, modulo 5), the declared
/// record count and a few header bits; the
/// rest is decoded three ways:
/// 1. as a records blob (what a Fetch response carries), as is;
/// 2. as the records section of a v2 batch with that codec, wrapped in a
///    header with a valid CRC, so the input reaches the decompressor and
///    the record parser instead of stopping at the CRC check;
/// 3. as the compressed value of a legacy (magic 0 or 1) wrapper message,
///    with a valid CRC.
///
/// Every record and header of every batch is visited.
pub fn record_batch_decoder(data: &[u8]) {
    decode_records(data);
}

/// [`record_batch_decoder`], returning how many records decoded, so tests
/// can tell valid input from rejected input.
fn decode_records(data: &[u8]) -> usize {
    let Some((&selector, rest)) = data.split_first() else {
        return 0;
    };
    let codec = Compression::from_id((selector & 0x07) % 5).unwrap_or_default();
    let mut records = drain(Bytes::copy_from_slice(rest));

    // Bit 7: declare "as many records as fit"; else bits 3-6 are the count.
    let count = if selector & 0x80 != 0 {
        i32::MAX
    } else {
        i32::from((selector >> 3) & 0x0f)
    };
    let flags = Attributes::new(codec)
        .with(Attributes::LOG_APPEND_TIME, selector & 0x08 != 0)
        .with(Attributes::CONTROL, selector & 0x10 != 0);
    records += drain(wrap_v2(flags, count, rest));

    if codec != Compression::Zstd {
        let magic = i8::from(selector & 0x40 != 0);
        records += drain(wrap_legacy(magic, codec, selector & 0x08 != 0, rest));
    }
    records
}

/// Decodes every batch and record of `blob`; returns the records decoded.
fn drain(blob: Bytes) -> usize {
    let mut decoded = 0;
    for batch in BatchReader::with_limits(blob, FUZZ_LIMITS) {
        let Ok(batch) = batch else { continue };
        let control = batch.is_control();
        let _ = (
            batch.next_offset(),
            batch.timestamp_type(),
            batch.producer_id(),
        );
        if let Batch::V2(v2) = &batch {
            let _ = (
                v2.last_sequence(),
                v2.max_timestamp(),
                v2.records_section().len(),
            );
        }
        let Ok(records) = batch.records() else {
            continue;
        };
        for record in records.iter() {
            let Ok(record) = record else { break };
            decoded += 1;
            let _ = (
                record.offset(),
                record.timestamp(),
                record.key_bytes(),
                record.value_bytes(),
            );
            for header in record.headers() {
                let _ = (header.key_str(), header.key_bytes(), header.value_bytes());
            }
            if control {
                let _ = record.end_txn_marker();
            }
        }
    }
    decoded
}

/// A v2 batch around `section`, with a valid CRC.
fn wrap_v2(attributes: Attributes, count: i32, section: &[u8]) -> Bytes {
    let mut buf = Vec::with_capacity(RECORD_BATCH_OVERHEAD + section.len());
    let length = i32::try_from(RECORD_BATCH_OVERHEAD - LOG_OVERHEAD + section.len()).unwrap_or(-1);
    buf.extend_from_slice(&0i64.to_be_bytes()); // base offset
    buf.extend_from_slice(&length.to_be_bytes());
    buf.extend_from_slice(&(-1i32).to_be_bytes()); // leader epoch
    buf.push(2); // magic
    buf.extend_from_slice(&[0; 4]); // crc, below
    buf.extend_from_slice(&attributes.0.to_be_bytes());
    buf.extend_from_slice(&count.saturating_sub(1).to_be_bytes()); // last offset delta
    buf.extend_from_slice(&1_700_000_000_000i64.to_be_bytes()); // base timestamp
    buf.extend_from_slice(&1_700_000_000_000i64.to_be_bytes()); // max timestamp
    buf.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
    buf.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
    buf.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    buf.extend_from_slice(&count.to_be_bytes());
    buf.extend_from_slice(section);
    let crc = crate::record::crc::crc32c(buf.get(21..).unwrap_or_default());
    if let Some(field) = buf.get_mut(17..21) {
        field.copy_from_slice(&crc.to_be_bytes());
    }
    Bytes::from(buf)
}

/// A legacy wrapper message whose value is `value`, with a valid CRC-32.
fn wrap_legacy(magic: i8, codec: Compression, log_append_time: bool, value: &[u8]) -> Bytes {
    let mut message = Vec::with_capacity(30 + value.len());
    message.extend_from_slice(&[0; 4]); // crc, below
    message.push(magic as u8);
    let attributes = codec.id() | if log_append_time { 0x08 } else { 0 };
    message.push(attributes);
    if magic == 1 {
        message.extend_from_slice(&1_700_000_000_000i64.to_be_bytes());
    }
    message.extend_from_slice(&(-1i32).to_be_bytes()); // null key
    message.extend_from_slice(&i32::try_from(value.len()).unwrap_or(-1).to_be_bytes());
    message.extend_from_slice(value);
    let mut crc = flate2::Crc::new();
    crc.update(message.get(4..).unwrap_or_default());
    if let Some(field) = message.get_mut(..4) {
        field.copy_from_slice(&crc.sum().to_be_bytes());
    }
    let mut entry = Vec::with_capacity(LOG_OVERHEAD + message.len());
    entry.extend_from_slice(&100i64.to_be_bytes());
    entry.extend_from_slice(&i32::try_from(message.len()).unwrap_or(-1).to_be_bytes());
    entry.extend_from_slice(&message);
    Bytes::from(entry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{BatchOptions, RecordBatchBuilder};

    /// A small deterministic generator (xorshift64*), so the test needs no
    /// seed management and always feeds the same inputs.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }

        fn bytes(&mut self, len: usize) -> Vec<u8> {
            (0..len).map(|_| self.next() as u8).collect()
        }

        fn bytes_below(&mut self, max: usize) -> Vec<u8> {
            let len = self.below(max);
            self.bytes(len)
        }
    }

    /// A valid batch with random records, headers and the given codec.
    fn valid_batch(rng: &mut Rng, codec: Compression, records: usize) -> Bytes {
        let mut builder = RecordBatchBuilder::new(BatchOptions {
            compression: codec,
            ..BatchOptions::default()
        });
        for i in 0..records {
            let key = rng.bytes_below(20);
            let value = rng.bytes_below(200);
            let headers: Vec<(Vec<u8>, Option<Vec<u8>>)> = (0..rng.below(3))
                .map(|_| (b"h".to_vec(), Some(rng.bytes_below(8))))
                .collect();
            let key = (i % 3 != 0).then_some(key.as_slice());
            builder
                .append_with_headers(i as i64, key, Some(&value), &headers)
                .unwrap();
        }
        builder.finish().unwrap()
    }

    /// Seeds: for each codec, a blob of valid batches and a bare records
    /// section of that codec, each with the selector byte in front.
    fn seeds(rng: &mut Rng) -> Vec<(Vec<u8>, usize)> {
        let mut seeds = Vec::new();
        for codec in Compression::ALL {
            let records = 1 + rng.below(30);
            let batch = valid_batch(rng, codec, records);
            // As a blob: path 1 decodes it; paths 2 and 3 see garbage.
            let mut blob = vec![codec.id() | 0x80];
            blob.extend_from_slice(&batch);
            blob.extend_from_slice(&valid_batch(rng, codec, 2));
            seeds.push((blob, records + 2));
            // As a section: path 2 decodes it.
            let mut section = vec![codec.id() | 0x80];
            section.extend_from_slice(&batch[RECORD_BATCH_OVERHEAD..]);
            seeds.push((section, records));
        }
        seeds
    }

    fn mutate(rng: &mut Rng, input: &mut Vec<u8>) {
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(input.len());
            match rng.below(7) {
                0 => input[at] ^= 1 << rng.below(8),
                1 => input[at] = [0x00, 0xff, 0x7f, 0x80, 0x01, 0xfe][rng.below(6)],
                2 => input.truncate(at.max(1)),
                3 => {
                    let n = 1 + rng.below(16);
                    let extra = rng.bytes(n);
                    input.splice(at..at, extra);
                }
                4 => {
                    let end = (at + 1 + rng.below(32)).min(input.len());
                    input.drain(at..end);
                }
                5 => {
                    let end = (at + 1 + rng.below(64)).min(input.len());
                    let chunk = input[at..end].to_vec();
                    input.extend_from_slice(&chunk);
                }
                _ => input[0] = rng.next() as u8,
            }
            if input.is_empty() {
                input.push(0);
            }
        }
    }

    #[test]
    fn valid_inputs_decode_every_record() {
        let mut rng = Rng(0x5EED_0001);
        for (input, records) in seeds(&mut rng) {
            let decoded = decode_records(&input);
            assert!(
                decoded >= records,
                "codec byte {}: {decoded} of {records}",
                input[0]
            );
        }
    }

    #[test]
    fn mutated_and_random_inputs_never_panic() {
        let mut rng = Rng(0x5EED_0002);
        let seeds = seeds(&mut rng);
        let mut decoded_some = 0;
        for round in 0..20_000 {
            let (seed, _) = &seeds[round % seeds.len()];
            let mut input = seed.clone();
            mutate(&mut rng, &mut input);
            if decode_records(&input) > 0 {
                decoded_some += 1;
            }
            let random = rng.bytes_below(300);
            decode_records(&random);
        }
        // Small mutations often leave some records readable: the inputs
        // reached the record parser rather than all stopping early.
        assert!(decoded_some > 100, "{decoded_some}");
    }

    #[test]
    fn empty_and_tiny_inputs() {
        // The public entry point is a thin wrapper; it takes any bytes.
        record_batch_decoder(&[]);
        record_batch_decoder(&[0x83, 0xff, 0x00, 0x7f]);
        assert_eq!(decode_records(&[]), 0);
        for byte in 0..=255u8 {
            // At most the legacy path's one plain (uncompressed) message.
            assert!(decode_records(&[byte]) <= 1);
        }
    }
}
