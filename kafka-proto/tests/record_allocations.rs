//! Counts heap allocations while record batches are decoded, to show that
//! iterating records allocates nothing per record, and that a zip bomb
//! cannot make the decoder hold more than a bounded amount of memory.
//!
//! The `GlobalAlloc` impl is the only unsafe code, and only in this test.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::Bytes;
use kafka_proto::DecodeErrorKind;
use kafka_proto::compression::Compression;
use kafka_proto::record::{BatchOptions, BatchReader, DecodeLimits, RecordBatchBuilder};

/// Counts allocations per thread, so tests running in parallel do not see
/// each other's.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn on_alloc(size: usize) {
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    let _ = LIVE.try_with(|live| {
        let now = live.get() + size;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn on_dealloc(size: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(size)));
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// bookkeeping touches only const-initialised thread-locals, which never
// allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        on_alloc(layout.size());
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        on_alloc(layout.size());
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        on_dealloc(layout.size());
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        on_dealloc(layout.size());
        on_alloc(new_size);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `f` on this thread.
fn allocations<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let before = ALLOCATIONS.with(Cell::get);
    let out = f();
    (ALLOCATIONS.with(Cell::get) - before, out)
}

/// Peak bytes live during `f`, above what was live before it.
fn peak_bytes<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(base));
    let out = f();
    (PEAK.with(Cell::get) - base, out)
}

/// The bench's batch: `n` records of 16-byte keys and 100-byte values,
/// every tenth with two headers.
fn batch(n: usize, compression: Compression) -> Bytes {
    let mut builder = RecordBatchBuilder::new(BatchOptions {
        compression,
        ..BatchOptions::default()
    });
    let value = [b'v'; 100];
    for i in 0..n {
        let key = format!("key-{i:012}");
        if i % 10 == 0 {
            let headers = [("trace", Some(&b"abc"[..])), ("trace", Some(&b"def"[..]))];
            builder
                .append_with_headers(i as i64, Some(key.as_bytes()), Some(&value), &headers)
                .unwrap();
        } else {
            builder
                .append(i as i64, Some(key.as_bytes()), Some(&value))
                .unwrap();
        }
    }
    builder.finish().unwrap()
}

/// Reads every batch and record of `blob`, touching every field; returns
/// the number of records and of bytes seen.
fn read_everything(blob: &Bytes, owned: bool) -> (usize, usize) {
    let mut records = 0;
    let mut bytes = 0;
    for batch in BatchReader::new(blob.clone()) {
        let batch = batch.unwrap();
        for record in batch.records().unwrap().iter() {
            let record = record.unwrap();
            records += 1;
            if owned {
                bytes += record.key_bytes().map_or(0, |k| k.len());
                bytes += record.value_bytes().map_or(0, |v| v.len());
            } else {
                bytes += record.key().map_or(0, <[u8]>::len);
                bytes += record.value().map_or(0, <[u8]>::len);
            }
            for header in record.headers() {
                bytes += header.key().len() + header.value().map_or(0, <[u8]>::len);
            }
        }
    }
    (records, bytes)
}

#[test]
fn iterating_an_uncompressed_batch_allocates_nothing_per_record() {
    for owned in [false, true] {
        let small = batch(10, Compression::None);
        let large = batch(1000, Compression::None);
        // Warm up: the first clone of a `Bytes` made from a `Vec` moves it
        // to a shared header once (one allocation per buffer, not per record).
        read_everything(&small, owned);
        read_everything(&large, owned);

        let (small_allocs, (n, _)) = allocations(|| read_everything(&small, owned));
        assert_eq!(n, 10);
        let (large_allocs, (n, _)) = allocations(|| read_everything(&large, owned));
        assert_eq!(n, 1000);
        assert_eq!(large_allocs, small_allocs, "owned Bytes: {owned}");
        assert_eq!(large_allocs, 0, "owned Bytes: {owned}");
    }
}

#[test]
fn iterating_decompressed_records_allocates_nothing_per_record() {
    for codec in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let blob = batch(1000, codec);
        let batch = BatchReader::new(blob).next().unwrap().unwrap();
        // Decompression allocates the output once per batch...
        let (decompress_allocs, records) = allocations(|| batch.records().unwrap());
        assert!(decompress_allocs < 64, "{codec}: {decompress_allocs}");
        let iterate = || {
            records.iter().fold((0, 0), |(n, bytes), r| {
                (
                    n + 1,
                    bytes + r.unwrap().value_bytes().map_or(0, |v| v.len()),
                )
            })
        };
        // (The first `Bytes` clone of a buffer that came from a `Vec` may
        // allocate its shared header: once per batch.)
        let (first_allocs, (count, bytes)) = allocations(iterate);
        assert_eq!((count, bytes), (1000, 100_000));
        assert!(first_allocs <= 1, "{codec}: {first_allocs}");
        // ...and iterating the 1000 records allocates nothing.
        let (iterate_allocs, _) = allocations(iterate);
        assert_eq!(iterate_allocs, 0, "{codec}");
    }
}

#[test]
fn a_zip_bomb_cannot_make_the_decoder_hold_unbounded_memory() {
    const LIMIT: usize = 1 << 20;
    let limits = DecodeLimits {
        max_batch_bytes: 8 * LIMIT,
        max_decompressed_bytes: LIMIT,
    };
    // 64 MiB of zeros in one record compresses to a few KiB (snappy, whose
    // ratio is capped near 21:1, to about 3 MiB).
    let zeros = vec![0u8; 64 << 20];
    for codec in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let mut builder = RecordBatchBuilder::new(BatchOptions {
            compression: codec,
            ..BatchOptions::default()
        });
        builder.append(0, None, Some(&zeros)).unwrap();
        let bomb = builder.finish().unwrap();
        assert!(bomb.len() < 4 * LIMIT, "{codec}: {} bytes", bomb.len());

        let (peak, result) = peak_bytes(|| {
            BatchReader::with_limits(bomb.clone(), limits)
                .next()
                .unwrap()
                .unwrap()
                .records()
        });
        let err = result.unwrap_err();
        assert!(
            matches!(
                err.kind,
                DecodeErrorKind::DecompressedTooLarge { limit: LIMIT, .. }
                    | DecodeErrorKind::Decompress { .. }
            ),
            "{codec}: {err}"
        );
        // Bounded by a small multiple of the limit (plus a codec's fixed
        // working memory), not by the 64 MiB the payload claims.
        assert!(peak < 12 * LIMIT, "{codec}: peak {peak} bytes");
    }
}
