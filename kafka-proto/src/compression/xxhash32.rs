//! XXH32, the checksum of the LZ4 frame format's header.
//!
//! Only needed to repair the frame-descriptor checksum that Kafka's magic-0
//! LZ4 writers got wrong (they hashed the magic number too, KAFKA-3160/KIP-57),
//! so the frame decoder accepts those frames the way Java's broker does.

const PRIME1: u32 = 2_654_435_761;
const PRIME2: u32 = 2_246_822_519;
const PRIME3: u32 = 3_266_489_917;
const PRIME4: u32 = 668_265_263;
const PRIME5: u32 = 374_761_393;

#[inline]
fn read_u32(chunk: &[u8]) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(chunk);
    u32::from_le_bytes(word)
}

#[inline]
fn round(acc: u32, input: u32) -> u32 {
    acc.wrapping_add(input.wrapping_mul(PRIME2))
        .rotate_left(13)
        .wrapping_mul(PRIME1)
}

/// XXH32 of `data` with `seed`.
pub(crate) fn xxh32(data: &[u8], seed: u32) -> u32 {
    let mut stripes = data.chunks_exact(16);
    let mut hash = if data.len() >= 16 {
        let mut v1 = seed.wrapping_add(PRIME1).wrapping_add(PRIME2);
        let mut v2 = seed.wrapping_add(PRIME2);
        let mut v3 = seed;
        let mut v4 = seed.wrapping_sub(PRIME1);
        for stripe in &mut stripes {
            v1 = round(v1, read_u32(&stripe[0..4]));
            v2 = round(v2, read_u32(&stripe[4..8]));
            v3 = round(v3, read_u32(&stripe[8..12]));
            v4 = round(v4, read_u32(&stripe[12..16]));
        }
        v1.rotate_left(1)
            .wrapping_add(v2.rotate_left(7))
            .wrapping_add(v3.rotate_left(12))
            .wrapping_add(v4.rotate_left(18))
    } else {
        seed.wrapping_add(PRIME5)
    };
    // The length is added modulo 2^32, as the reference implementation does.
    hash = hash.wrapping_add(data.len() as u32);

    let tail = stripes.remainder();
    let mut words = tail.chunks_exact(4);
    for word in &mut words {
        hash = hash
            .wrapping_add(read_u32(word).wrapping_mul(PRIME3))
            .rotate_left(17)
            .wrapping_mul(PRIME4);
    }
    for &byte in words.remainder() {
        hash = hash
            .wrapping_add(u32::from(byte).wrapping_mul(PRIME5))
            .rotate_left(11)
            .wrapping_mul(PRIME1);
    }

    hash ^= hash >> 15;
    hash = hash.wrapping_mul(PRIME2);
    hash ^= hash >> 13;
    hash = hash.wrapping_mul(PRIME3);
    hash ^= hash >> 16;
    hash
}

#[cfg(test)]
mod tests {
    use super::xxh32;

    #[test]
    fn reference_vectors() {
        // Published XXH32 test vectors (seed 0).
        assert_eq!(xxh32(b"", 0), 0x02CC_5D05);
        assert_eq!(xxh32(b"a", 0), 0x550D_7456);
        assert_eq!(xxh32(b"abc", 0), 0x32D1_53FF);
        assert_eq!(
            xxh32(b"Nobody inspects the spammish repetition", 0),
            0xE229_3B2F
        );
    }

    #[test]
    fn matches_lz4_frame_header_checksum() {
        // lz4_flex writes the standard header checksum: (xxh32(FLG..) >> 8) & 0xff.
        let mut out = Vec::new();
        let mut enc = lz4_flex::frame::FrameEncoder::new(&mut out);
        std::io::Write::write_all(&mut enc, b"hello").unwrap();
        enc.finish().unwrap();
        let hc = (xxh32(&out[4..6], 0) >> 8) as u8;
        assert_eq!(out[6], hc);
    }
}
