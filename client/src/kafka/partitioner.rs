//! Java-compatible partitioning, so one key keeps its partition (and so its
//! order) whichever client produced it.
//!
//! Keyed records go to `toPositive(murmur2(key)) % partitions`, exactly as
//! the Java producer's built-in partitioner does; keyless records are placed
//! by the producer's sticky batching.

/// Kafka's murmur2 variant (the seed and mixing of Java's `Utils.murmur2`).
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;

    let len = data.len();
    let mut h: u32 = SEED ^ (len as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if let Some(&first) = tail.first() {
        h ^= u32::from(first);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Java's `Utils.toPositive`: clears the sign bit (not `abs`, which differs
/// for `i32::MIN`).
pub fn to_positive(n: i32) -> i32 {
    n & 0x7fff_ffff
}

/// The partition Java's default partitioner picks for a keyed record.
///
/// # Panics
/// Never; `partitions == 0` yields partition 0.
pub fn partition_for_key(key: &[u8], partitions: u32) -> i32 {
    if partitions == 0 {
        return 0;
    }
    (to_positive(murmur2(key)) as u32 % partitions) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values printed by Java's `org.apache.kafka.common.utils.Utils.murmur2`
    /// (kafka-clients 4.3.1) on this machine.
    const JAVA: &[(&str, i32, i32, i32)] = &[
        ("", 275_646_681, 9, 0),
        ("a", -1_563_381_124, 4, 1),
        ("ab", 316_155_434, 2, 2),
        ("abc", 479_470_107, 3, 0),
        ("21", -973_932_308, 0, 0),
        ("foobar", -790_332_482, 6, 0),
        ("a-little-bit-long-string", -985_981_536, 8, 2),
        ("a-little-bit-longer-string", -1_486_304_829, 11, 2),
        (
            "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
            -58_897_971,
            5,
            2,
        ),
        ("order-42", 501_153_024, 0, 0),
        ("\u{e9}\u{e8}", -1_525_060_724, 0, 0),
    ];

    #[test]
    fn matches_java_murmur2_and_partitions() {
        for &(key, hash, p12, p3) in JAVA {
            assert_eq!(murmur2(key.as_bytes()), hash, "murmur2({key:?})");
            assert_eq!(partition_for_key(key.as_bytes(), 12), p12, "{key:?} % 12");
            assert_eq!(partition_for_key(key.as_bytes(), 3), p3, "{key:?} % 3");
        }
    }

    #[test]
    fn to_positive_is_not_abs() {
        assert_eq!(to_positive(i32::MIN), 0);
        assert_eq!(to_positive(-1), i32::MAX);
        assert_eq!(to_positive(5), 5);
        assert_eq!(partition_for_key(b"x", 0), 0);
    }
}
