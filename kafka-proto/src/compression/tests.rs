use proptest::prelude::*;

use super::{Compression, lz4, snappy, xxhash32::xxh32};
use crate::error::DecodeErrorKind;

const MIB: usize = 1 << 20;

fn sample(len: usize) -> Vec<u8> {
    // Compressible but not trivial: a repeating sentence with a counter.
    let mut data = Vec::with_capacity(len + 64);
    let mut i = 0u32;
    while data.len() < len {
        data.extend_from_slice(format!("record {i} of the orders topic; ").as_bytes());
        i += 1;
    }
    data.truncate(len);
    data
}

#[test]
fn every_codec_round_trips() {
    for len in [0, 1, 100, 32 * 1024, 32 * 1024 + 1, 200_000] {
        let data = sample(len);
        for codec in Compression::ALL {
            let mut compressed = Vec::new();
            codec.compress(&data, &mut compressed).unwrap();
            let back = codec.decompress(&compressed, len).unwrap();
            assert_eq!(back, data, "{codec} at {len} bytes");
        }
    }
}

#[test]
fn compress_appends_after_existing_bytes() {
    let data = sample(1000);
    for codec in Compression::ALL {
        let mut out = b"prefix".to_vec();
        codec.compress(&data, &mut out).unwrap();
        assert_eq!(&out[..6], b"prefix");
        assert_eq!(codec.decompress(&out[6..], 1000).unwrap(), data, "{codec}");
    }
}

#[test]
fn ids_and_names() {
    for codec in Compression::ALL {
        assert_eq!(Compression::from_id(codec.id()), Some(codec));
        assert_eq!(codec.name().parse::<Compression>().unwrap(), codec);
        assert_eq!(codec.to_string(), codec.name());
    }
    assert_eq!(Compression::from_id(5), None);
    assert_eq!(Compression::from_id(7), None);
    assert_eq!("ZSTD".parse::<Compression>().unwrap(), Compression::Zstd);
    assert!("brotli".parse::<Compression>().is_err());
}

#[test]
fn output_over_the_limit_is_refused_for_every_codec() {
    // 16 MiB of zeros compresses to a few KiB: a small zip bomb.
    let zeros = vec![0u8; 16 * MIB];
    for codec in Compression::ALL {
        let mut compressed = Vec::new();
        codec.compress(&zeros, &mut compressed).unwrap();
        let err = codec.decompress(&compressed, MIB).unwrap_err();
        assert_eq!(
            err.kind,
            DecodeErrorKind::DecompressedTooLarge { codec, limit: MIB },
            "{codec}"
        );
        // Exactly at the limit is fine.
        assert_eq!(
            codec.decompress(&compressed, 16 * MIB).unwrap().len(),
            16 * MIB
        );
    }
}

#[test]
fn snappy_reads_raw_blocks_as_librdkafka_writes_them() {
    let data = sample(100_000);
    let mut raw = Vec::new();
    snappy::compress_raw(&data, &mut raw).unwrap();
    assert_ne!(
        raw[0], 0x82,
        "a raw block does not start with the xerial magic"
    );
    assert_eq!(
        Compression::Snappy.decompress(&raw, data.len()).unwrap(),
        data
    );
}

#[test]
fn snappy_writes_the_xerial_framing() {
    let data = sample(70_000);
    let mut out = Vec::new();
    Compression::Snappy.compress(&data, &mut out).unwrap();
    assert_eq!(&out[..16], b"\x82SNAPPY\0\0\0\0\x01\0\0\0\x01");
    // 70,000 bytes in 32 KiB blocks: three blocks.
    let mut blocks = 0;
    let mut rest = &out[16..];
    while !rest.is_empty() {
        let len = i32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        rest = &rest[4 + len..];
        blocks += 1;
    }
    assert_eq!(blocks, 3);
}

#[test]
fn snappy_raw_block_claiming_a_huge_length_is_refused_before_allocating() {
    // Varint preamble claiming 2^32-1 bytes, then garbage.
    let bomb = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00];
    let err = Compression::Snappy.decompress(&bomb, MIB).unwrap_err();
    assert!(
        matches!(err.kind, DecodeErrorKind::DecompressedTooLarge { .. }),
        "{err}"
    );
}

#[test]
fn snappy_xerial_errors_are_typed() {
    let mut framed = b"\x82SNAPPY\0\0\0\0\x01\0\0\0\x01".to_vec();
    framed.extend_from_slice(&100i32.to_be_bytes());
    framed.extend_from_slice(b"short");
    let err = Compression::Snappy.decompress(&framed, MIB).unwrap_err();
    assert!(
        matches!(
            err.kind,
            DecodeErrorKind::Decompress {
                codec: Compression::Snappy,
                ..
            }
        ),
        "{err}"
    );
    framed.truncate(16);
    framed.extend_from_slice(&(-1i32).to_be_bytes());
    assert!(Compression::Snappy.decompress(&framed, MIB).is_err());
}

#[test]
fn lz4_magic0_frames_with_the_old_wrong_header_checksum_decode() {
    let data = sample(5000);
    let mut frame = Vec::new();
    lz4::compress(&data, &mut frame).unwrap();
    // Kafka 0.8/0.9 hashed the magic number along with FLG and BD.
    frame[6] = (xxh32(&frame[..6], 0) >> 8) as u8;
    assert_ne!(frame[6], (xxh32(&frame[4..6], 0) >> 8) as u8);
    assert!(Compression::Lz4.decompress(&frame, MIB).is_err());
    assert_eq!(
        Compression::Lz4.decompress_legacy(0, &frame, MIB).unwrap(),
        data
    );
    // Magic 1 already had the fix, so the check stays.
    assert!(Compression::Lz4.decompress_legacy(1, &frame, MIB).is_err());
}

#[test]
fn zstd_frame_declaring_a_huge_window_is_refused() {
    // Magic, FHD with no single-segment flag, window descriptor exponent 31.
    let mut frame = vec![0x28, 0xB5, 0x2F, 0xFD, 0x00, 31 << 3];
    frame.extend_from_slice(&[0x01, 0x00, 0x00]); // a last raw block of 0 bytes
    let err = Compression::Zstd.decompress(&frame, MIB).unwrap_err();
    assert!(
        matches!(
            err.kind,
            DecodeErrorKind::Decompress {
                codec: Compression::Zstd,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn zstd_frame_declaring_more_content_than_the_limit_is_refused_early() {
    let mut frame = Vec::new();
    Compression::Zstd
        .compress(&sample(10_000), &mut frame)
        .unwrap();
    let err = Compression::Zstd.decompress(&frame, 1000).unwrap_err();
    assert_eq!(
        err.kind,
        DecodeErrorKind::DecompressedTooLarge {
            codec: Compression::Zstd,
            limit: 1000
        }
    );
}

#[test]
fn zstd_skippable_frames_and_concatenated_frames() {
    let a = sample(3000);
    let b = sample(500);
    let mut payload = vec![0x50, 0x2A, 0x4D, 0x18, 3, 0, 0, 0, 9, 9, 9];
    Compression::Zstd.compress(&a, &mut payload).unwrap();
    Compression::Zstd.compress(&b, &mut payload).unwrap();
    let out = Compression::Zstd.decompress(&payload, MIB).unwrap();
    assert_eq!(out, [a, b].concat());
}

#[test]
fn gzip_reads_concatenated_members() {
    let a = sample(3000);
    let b = sample(10);
    let mut payload = Vec::new();
    Compression::Gzip.compress(&a, &mut payload).unwrap();
    Compression::Gzip.compress(&b, &mut payload).unwrap();
    assert_eq!(
        Compression::Gzip.decompress(&payload, MIB).unwrap(),
        [a, b].concat()
    );
}

#[test]
fn garbage_is_a_typed_error_for_every_codec() {
    let garbage = b"definitely not compressed, just some text that is long enough".to_vec();
    for codec in [Compression::Gzip, Compression::Lz4, Compression::Zstd] {
        let err = codec.decompress(&garbage, MIB).unwrap_err();
        assert!(
            matches!(err.kind, DecodeErrorKind::Decompress { codec: c, .. } if c == codec),
            "{err}"
        );
    }
    // Raw snappy of arbitrary text is usually invalid, and never a panic.
    let _ = Compression::Snappy.decompress(&garbage, MIB);
}

proptest! {
    #[test]
    fn arbitrary_data_round_trips(data in proptest::collection::vec(any::<u8>(), 0..5000), codec in 0u8..5) {
        let codec = Compression::from_id(codec).unwrap();
        let mut compressed = Vec::new();
        codec.compress(&data, &mut compressed).unwrap();
        prop_assert_eq!(codec.decompress(&compressed, data.len()).unwrap(), data);
    }

    #[test]
    fn arbitrary_input_never_panics(data in proptest::collection::vec(any::<u8>(), 0..600), codec in 0u8..5) {
        let codec = Compression::from_id(codec).unwrap();
        let _ = codec.decompress(&data, 64 * 1024);
        let _ = codec.decompress_legacy(0, &data, 64 * 1024);
    }
}
