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
    // From 11 fragments on, their literal headers (3 bytes each) outgrow
    // the bound's constant 32: the `n / 6` term is needed.
    for len in [100, 4096, 32 * 1024, 65536, 65537, 200_000, 1 << 20] {
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
    // Each length-byte count at both sides of its limit (a literal of
    // 65,537 or 16 MiB cannot come from a fragment; the header must still
    // be right).
    for (len, header) in [
        (256, &[60 << 2, 0xFF][..]),
        (257, &[61 << 2, 0x00, 0x01][..]),
        (65_536, &[61 << 2, 0xFF, 0xFF][..]),
        (65_537, &[62 << 2, 0x00, 0x00, 0x01][..]),
        (1 << 24, &[62 << 2, 0xFF, 0xFF, 0xFF][..]),
        ((1 << 24) + 1, &[63 << 2, 0x00, 0x00, 0x00, 0x01][..]),
    ] {
        let src = vec![0x5A; len];
        let mut dst = vec![0; len + 32];
        let end = super::emit_literal(&mut dst, 0, &src, 0, len);
        assert_eq!(&dst[..header.len()], header, "literal of {len}");
        assert_eq!(end, header.len() + len, "literal of {len}");
    }
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
fn copy_elements_at_their_length_limits() {
    // (length, offset, the elements' bytes). A one-byte-offset copy's tag
    // is offset bits 8-10 << 5 | (length - 4) << 2 | 1, for lengths 4..=11
    // and offsets below 2,048; a two-byte-offset copy carries 1..=64
    // bytes. A length of 65..=67 is cut as 60 and the rest, so no piece is
    // shorter than 4.
    for (len, offset, elements) in [
        (4, 2047, &[7 << 5 | 1, 0xFF][..]),
        (11, 2047, &[7 << 5 | 7 << 2 | 1, 0xFF][..]),
        (4, 2048, &[3 << 2 | 2, 0x00, 0x08][..]),
        (12, 100, &[11 << 2 | 2, 100, 0][..]),
        (64, 100, &[63 << 2 | 2, 100, 0][..]),
        (65, 100, &[59 << 2 | 2, 100, 0, 1 << 2 | 1, 100][..]),
        (67, 100, &[59 << 2 | 2, 100, 0, 3 << 2 | 1, 100][..]),
        (68, 300, &[63 << 2 | 2, 44, 1, 1 << 5 | 1, 44][..]),
        (128, 100, &[63 << 2 | 2, 100, 0, 63 << 2 | 2, 100, 0][..]),
    ] {
        let mut dst = vec![0; 16];
        let end = super::emit_copy(&mut dst, 0, offset, len);
        assert_eq!(&dst[..end], elements, "copy of {len} at {offset}");
    }
}

#[test]
fn long_copies_where_the_first_room_runs_out() {
    // The output starts with room for a quarter of the input and grows to
    // the worst case before an element that might not fit. These inputs
    // put a long copy (many 64-byte pieces) across the end of that first
    // room: a too-small estimate of the copy's bytes writes past it.
    // Random bytes, then zeros to the end: one literal, one long copy.
    for m in 700..900 {
        let mut data = random(m, 17);
        data[m - 1] |= 1;
        data.resize(m + 2561, 0);
        round_trip(&data);
    }
    // Random bytes, zeros, the random bytes again: the last copy follows
    // the zeros' copy with no literal between them.
    let head = random(2000, 23);
    for z in (4500..5400).step_by(4) {
        let mut data = head.clone();
        data[1999] |= 1;
        data.resize(2000 + z, 0);
        data.extend_from_slice(&head);
        data[2000 + z + 1999] |= 1;
        round_trip(&data);
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

#[test]
fn stale_entries_are_not_taken_for_positions_of_the_next_block() {
    // `a` leaves a table entry for four zero bytes at its position 5 (no
    // later sequence of `a` shares its slot; one at 59 of 1..=100 would). In
    // `b`, position 5 holds four zeros too, but inside a match (so it is
    // never hashed), and four zeros come again at 50. Were `a`'s entry
    // read as a position of `b`, a copy from 5 would be written at 50;
    // instead 40..70 is one literal. (A fresh encoder's zeroed table reads
    // as position 0 and finds the zeros there: a valid match too.)
    let mut a: Vec<u8> = (1..=50).collect();
    a[5..9].fill(0);
    let mut b = vec![0; 40];
    b.extend(150..180u8);
    b[50..54].fill(0);
    let mut encoder = Encoder::new(1024);
    encoder.compress(&a, &mut Vec::new()).unwrap();
    let mut block = Vec::new();
    encoder.compress(&b, &mut block).unwrap();
    // Length 70; literal b[0]; copy of 39 at offset 1; literal of 30.
    let mut expect = vec![70, 0, 0, 38 << 2 | 2, 1, 0, 29 << 2];
    expect.extend_from_slice(&b[40..]);
    assert_eq!(block, expect);
}

#[test]
fn matches_at_the_end_of_the_search_are_found() {
    // 30 distinct bytes, then 8 of them again: the match starts at the last
    // position a search reads from (n - 8).
    let mut data: Vec<u8> = (100..130).collect();
    data.extend_from_within(1..9);
    assert_eq!(round_trip(&data).len(), 1 + 31 + 2);
    // A match at offset 20 that stops at 49 (n - 11, so the three probes
    // past it still fit), where `WXYZ` is; that sequence also sits at 5.
    // The probes at 50..52 find nothing, and the search goes on from 51:
    // no copy from 5 is written (the byte where a match stopped is not
    // looked up), and the rest is one literal.
    let mut data: Vec<u8> = (100..120).collect();
    data[5..9].copy_from_slice(b"WXYZ");
    for _ in 0..29 {
        data.push(data[data.len() - 20]);
    }
    data.extend_from_slice(b"WXYZ");
    data.extend(200..207u8);
    assert_eq!(data.len(), 60);
    assert_eq!(round_trip(&data).len(), 1 + 21 + 3 + 12);
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

/// The records section of a batch of 1,000 order events, as record batch
/// v2 lays it out (length, attributes, timestamp and offset deltas, key,
/// value, no headers; zigzag varints): 16-byte keys `order-0000000042`
/// and 100-byte JSON-like values whose digits change from record to
/// record, as `benches/benches/kafka_records.rs` builds them.
fn order_records() -> Vec<u8> {
    fn varint(out: &mut Vec<u8>, v: i64) {
        let mut z = ((v << 1) ^ (v >> 63)) as u64;
        while z >= 0x80 {
            out.push(z as u8 | 0x80);
            z >>= 7;
        }
        out.push(z as u8);
    }
    let mut out = Vec::new();
    for i in 0..1000i64 {
        let key = format!("order-{i:010}");
        let mut value = format!(
            "{{\"order\":{i},\"status\":\"created\",\"amount\":{},\"currency\":\"EUR\",\"note\":\"",
            (i * 7919) % 100_000
        )
        .into_bytes();
        value.resize(98, b'x');
        value.extend_from_slice(b"\"}");
        let mut record = vec![0];
        varint(&mut record, i * 3);
        varint(&mut record, i);
        varint(&mut record, key.len() as i64);
        record.extend_from_slice(key.as_bytes());
        varint(&mut record, value.len() as i64);
        record.extend_from_slice(&value);
        varint(&mut record, 0);
        varint(&mut out, record.len() as i64);
        out.extend_from_slice(&record);
    }
    out
}

/// The compressed sizes of a fixed batch, pinned. Round trips only show
/// that the output decodes; these show that the match search still finds
/// what it found when the numbers were taken (a weaker skip step, repeat
/// offset or backward extension makes the output larger, a wrong element
/// form changes its size). A deliberate change to the encoder that changes
/// its output must update the pinned numbers here (and say why they
/// moved); they must stay at most snap's.
#[test]
fn order_batch_compresses_to_the_pinned_size() {
    let data = order_records();
    let snap_raw = |block: &[u8]| {
        snap::raw::Encoder::new()
            .compress_vec(block)
            .expect("snap compresses")
            .len()
    };
    // One raw block (two 64 KiB fragments, the large table); snap writes
    // 25,489 bytes.
    let block = round_trip(&data);
    assert_eq!((data.len(), block.len()), (126_914, 25_180), "raw block");
    assert!(block.len() <= snap_raw(&data));
    // The xerial stream a batch is sent in: 32 KiB blocks (snap's blocks
    // in the same framing: 25,807 bytes).
    let mut xerial = Vec::new();
    snappy::compress_xerial(&data, &mut xerial).unwrap();
    let snap_blocks: usize = data.chunks(32 * 1024).map(|b| 4 + snap_raw(b)).sum();
    assert_eq!(xerial.len(), 25_627, "xerial stream");
    assert!(xerial.len() <= 16 + snap_blocks);
    // The first 1,000 bytes (eight records), the small table; snap: 279.
    let small = &data[..1000];
    let block = round_trip(small);
    assert_eq!(block.len(), 267, "small block");
    assert!(block.len() <= snap_raw(small));
}
