//! Cheap random numbers for ids and jitter: a per-thread SplitMix64
//! seeded from the operating system. Not for secrets.

use std::cell::Cell;

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        // No OS randomness: the clock and the thread make a usable seed.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let id = format!("{:?}", std::thread::current().id());
        return t ^ id.len() as u64 ^ (id.as_ptr() as u64);
    }
    u64::from_le_bytes(b)
}

/// SplitMix64's step: a well-mixed output from a counter.
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A random `u64`.
pub(crate) fn u64() -> u64 {
    STATE.with(|s| {
        let mut v = s.get();
        let out = splitmix64(&mut v);
        s.set(v);
        out
    })
}

/// A random float in `[0, 1)`.
pub(crate) fn unit() -> f64 {
    (u64() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    #[test]
    fn unit_is_in_range_and_varies() {
        let xs: Vec<f64> = (0..1000).map(|_| super::unit()).collect();
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        assert!((0.4..0.6).contains(&mean), "{mean}");
        assert_ne!(super::u64(), super::u64());
    }
}
