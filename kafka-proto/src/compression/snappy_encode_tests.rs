//! Round trips of the snappy encoder through `snap`'s decoder (the one the
//! crate reads snappy with), at every element boundary.

use proptest::prelude::*;

use super::{Encoder, max_compress_len};
use crate::compression::{Compression, snappy};

/// Compresses `data` as one raw block, checks the size bound and that
/// `snap` decodes it back; returns the block.
fn round_trip(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0xAA; 3];
    Encoder::new(data.len())
        .compress(data, &mut out)
        .expect("compress");
    assert_eq!(&out[..3], &[0xAA; 3], "the encoder appends");
    let block = out.split_off(3);
    assert!(
        block.len() <= max_compress_len(data.len()),
        "{} bytes for {} of input",
        block.len(),
        data.len()
    );
    let decoded = snap::raw::Decoder::new()
        .decompress_vec(&block)
        .expect("snap decodes our block");
    assert!(
        decoded == data,
        "round trip of {} bytes differs",
        data.len()
    );
    block
}

/// Deterministic pseudo-random bytes (xorshift), incompressible.
fn random(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

#[test]
fn empty_and_tiny_inputs() {
    assert_eq!(round_trip(&[]), [0]);
    assert_eq!(round_trip(b"a"), [1, 0, b'a']);
    for len in 0..40 {
        round_trip(&random(len, 7));
        round_trip(&vec![b'z'; len]);
    }
}

#[test]
fn incompressible_input_stays_within_the_bound() {
    for len in [100, 4096, 32 * 1024, 65536, 65537, 200_000] {
        round_trip(&random(len, len as u64));
    }
}

#[test]
fn zero_runs() {
    for len in [
        4, 5, 11, 12, 63, 64, 65, 67, 68, 1000, 65535, 65536, 65537, 300_000,
    ] {
        let block = round_trip(&vec![0; len]);
        if len >= 1000 {
            assert!(block.len() < len / 16, "{len} zeros took {}", block.len());
        }
    }
}

#[test]
fn literal_length_boundaries() {
    // Random bytes have no matches, so each is one literal of that length.
    for len in [59, 60, 61, 62, 255, 256, 257, 65535, 65536] {
        let data = random(len, 99);
        let block = round_trip(&data);
        let header = match len - 1 {
            n if n < 60 => 1,
            n if n < 256 => 2,
            _ => 3,
        };
        let varint = if len < 128 {
            1
        } else if len < 16384 {
            2
        } else {
            3
        };
        assert_eq!(block.len(), varint + header + len, "literal of {len}");
    }
    // A literal of 65,537 bytes does not occur (fragments are 64 KiB), but
    // one longer than 65,536 is still written correctly.
    let mut dst = vec![0; 70_000 + 32];
    let src = random(70_000, 5);
    let end = super::emit_literal(&mut dst, 0, &src, 0, src.len());
    assert_eq!(&dst[..4], &[62 << 2, 0x6F, 0x11, 0x01]);
    assert_eq!(end, 4 + src.len());
    assert_eq!(&dst[4..end], &src[..]);
}

#[test]
fn copy_length_and_offset_boundaries() {
    for offset in [1, 2, 3, 4, 7, 8, 100, 2047, 2048, 2049, 40_000, 65535] {
        for len in [
            4, 5, 11, 12, 13, 63, 64, 65, 66, 67, 68, 69, 127, 128, 131, 1000,
        ] {
            // `offset` random bytes, then `len` bytes repeating them, then
            // a byte that ends the match.
            let mut data = random(offset, offset as u64);
            for _ in 0..len {
                data.push(data[data.len() - offset]);
            }
            data.push(!data[data.len() - offset]);
            data.extend_from_slice(&random(20, 3));
            round_trip(&data);
        }
    }
}

#[test]
fn offsets_beyond_64_kib_are_never_written() {
    // A pattern repeating at 65,536 and 65,537 bytes: copies may not reach it
    // across the fragment boundary, yet the result decodes.
    for period in [65535, 65536, 65537, 70_000] {
        let head = random(period, 11);
        let mut data = head.clone();
        data.extend_from_slice(&head[..period.min(30_000)]);
        round_trip(&data);
    }
}

#[test]
fn xerial_block_boundaries() {
    let mut record = Vec::new();
    for i in 0..3000 {
        record.extend_from_slice(
            format!("order-{i:010} {{\"amount\":{}}}", i * 7919 % 100_000).as_bytes(),
        );
    }
    for len in [
        0,
        1,
        32 * 1024 - 1,
        32 * 1024,
        32 * 1024 + 1,
        64 * 1024,
        64 * 1024 + 5,
        record.len(),
    ] {
        let data = &record[..len.min(record.len())];
        let mut out = Vec::new();
        snappy::compress_xerial(data, &mut out).unwrap();
        assert_eq!(
            Compression::Snappy.decompress(&out, data.len()).unwrap(),
            data
        );
        let mut raw = Vec::new();
        snappy::compress_raw(data, &mut raw).unwrap();
        assert_eq!(
            Compression::Snappy.decompress(&raw, data.len()).unwrap(),
            data
        );
    }
}

#[test]
fn reused_encoder_ignores_stale_table_entries() {
    let mut encoder = Encoder::new(1024);
    let a = random(1000, 1);
    let b = random(1000, 2);
    for data in [&a, &b, &a, &b] {
        let mut out = Vec::new();
        encoder.compress(data, &mut out).unwrap();
        assert_eq!(
            snap::raw::Decoder::new().decompress_vec(&out).unwrap(),
            **data
        );
    }
    // Near the end of the position numbering, the table is cleared.
    encoder.base = u32::MAX - 500;
    for data in [&a, &b] {
        let mut out = Vec::new();
        encoder.compress(data, &mut out).unwrap();
        assert_eq!(
            snap::raw::Decoder::new().decompress_vec(&out).unwrap(),
            **data
        );
    }
}

/// Inputs built from a small alphabet, random runs and copies of earlier
/// stretches at random distances.
fn repetitive() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        prop::collection::vec(0u8..4, 0..40).prop_map(|v| (0usize, 0usize, v)),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(|v| (0, 0, v)),
        (1usize..70_000, 1usize..300).prop_map(|(d, l)| (d, l, Vec::new())),
    ];
    prop::collection::vec(piece, 0..60).prop_map(|pieces| {
        let mut data = Vec::new();
        for (distance, len, bytes) in pieces {
            if distance == 0 || data.is_empty() {
                data.extend_from_slice(&bytes);
            } else {
                let from = data.len() - distance.min(data.len());
                for i in 0..len {
                    data.push(data[from + i]);
                }
            }
        }
        data
    })
}

proptest! {
    #[test]
    fn arbitrary_bytes_round_trip(data in prop::collection::vec(any::<u8>(), 0..3000)) {
        round_trip(&data);
    }

    #[test]
    fn repetitive_inputs_round_trip(data in repetitive()) {
        round_trip(&data);
        let mut out = Vec::new();
        snappy::compress_xerial(&data, &mut out).unwrap();
        prop_assert_eq!(Compression::Snappy.decompress(&out, data.len()).unwrap(), data);
    }
}
