//! A latency histogram with bounded memory and bounded relative error.
//!
//! Log-linear buckets, as in HdrHistogram: values below 2^[`PRECISION`]
//! nanoseconds each have their own bucket; above, every power of two is
//! split into 2^([`PRECISION`] - 1) equal buckets. A quantile is therefore
//! off by less than 1/2^([`PRECISION`] - 1) of its value (under 1.6 %),
//! whatever the count, in about 30 KiB. The minimum and maximum are exact.

use std::time::Duration;

/// Bits of precision: 7 keeps quantiles within 1/64 of the true value.
const PRECISION: u32 = 7;
/// Buckets per power of two above the exact range.
const HALF: u64 = 1 << (PRECISION - 1);
/// Every `u64` value has a bucket: the exact range, then one run of `HALF`
/// buckets per power of two from 2^PRECISION to 2^63.
const BUCKETS: usize = ((64 - PRECISION + 2) as usize) * (HALF as usize);

/// Counts of latencies, in nanoseconds.
#[derive(Clone)]
pub(crate) struct Histogram {
    counts: Vec<u64>,
    total: u64,
    min: u64,
    max: u64,
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("total", &self.total)
            .field("min", &self.min)
            .field("max", &self.max)
            .finish()
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

/// The bucket of `v`.
fn index(v: u64) -> usize {
    if v < 2 * HALF {
        return v as usize;
    }
    // v has its top bit at `e` >= PRECISION; its top PRECISION bits `m`
    // lie in [HALF, 2 * HALF).
    let e = 63 - v.leading_zeros();
    let shift = e + 1 - PRECISION;
    let m = v >> shift;
    (u64::from(shift) * HALF + m) as usize
}

/// The smallest and largest value of bucket `i`.
fn bounds(i: usize) -> (u64, u64) {
    let i = i as u64;
    if i < 2 * HALF {
        return (i, i);
    }
    let shift = i / HALF - 1;
    let m = i - shift * HALF;
    let low = m << shift;
    let high = low.saturating_add((1u64 << shift) - 1);
    (low, high)
}

impl Histogram {
    /// An empty histogram.
    pub(crate) fn new() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            min: u64::MAX,
            max: 0,
        }
    }

    /// Counts one latency, in nanoseconds.
    pub(crate) fn record_ns(&mut self, ns: u64) {
        if let Some(c) = self.counts.get_mut(index(ns)) {
            *c += 1;
        }
        self.total += 1;
        self.min = self.min.min(ns);
        self.max = self.max.max(ns);
    }

    /// How many latencies were counted.
    pub(crate) fn len(&self) -> u64 {
        self.total
    }

    /// The largest latency, exact; zero when empty.
    pub(crate) fn max(&self) -> Duration {
        Duration::from_nanos(self.max)
    }

    /// The latency that a fraction `q` (0.0 to 1.0) of the counted ones do
    /// not exceed: the middle of its bucket, kept within the exact minimum
    /// and maximum; the maximum itself for the last rank. Zero when empty.
    pub(crate) fn quantile(&self, q: f64) -> Duration {
        if self.total == 0 {
            return Duration::ZERO;
        }
        // The rank of the wanted value, 1-based: ceil(q * total), at least 1.
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).clamp(1, self.total);
        if rank == self.total {
            return Duration::from_nanos(self.max);
        }
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (low, high) = bounds(i);
                let mid = low + (high - low) / 2;
                return Duration::from_nanos(mid.clamp(self.min, self.max));
            }
        }
        Duration::from_nanos(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_in_order() {
        let mut last = 0;
        for v in (0..5000u64).chain([u64::MAX / 3, u64::MAX - 1, u64::MAX]) {
            let i = index(v);
            assert!(i < BUCKETS, "{v} -> {i}");
            let (low, high) = bounds(i);
            assert!(
                low <= v && v <= high,
                "{v} not in bucket {i} [{low}, {high}]"
            );
            if v < 5000 {
                assert!(i >= last);
                last = i;
            }
        }
        // Adjacent buckets meet without gaps.
        for i in 0..BUCKETS - 1 {
            assert_eq!(bounds(i).1 + 1, bounds(i + 1).0, "bucket {i}");
        }
        assert_eq!(bounds(BUCKETS - 1).1, u64::MAX);
    }

    #[test]
    fn quantiles_are_within_the_promised_error() {
        // A skewed spread, from 1 µs to about 60 ms.
        let mut values: Vec<u64> = (1..=20_000u64).map(|i| 1_000 + i * i * 150).collect();
        let mut h = Histogram::new();
        for &v in &values {
            h.record_ns(v);
        }
        values.sort_unstable();
        for q in [0.0, 0.01, 0.5, 0.9, 0.99, 0.999, 1.0] {
            let rank = ((q * values.len() as f64).ceil() as usize).max(1);
            let exact = values[rank - 1] as f64;
            let got = h.quantile(q).as_nanos() as f64;
            let err = (got - exact).abs() / exact;
            assert!(err < 1.0 / 64.0, "q {q}: {got} vs {exact}");
        }
        assert_eq!(h.max(), Duration::from_nanos(*values.last().unwrap()));
        assert_eq!(h.quantile(1.0), h.max());
        assert_eq!(h.len(), 20_000);
    }

    #[test]
    fn small_values_are_exact_and_empty_is_zero() {
        let mut h = Histogram::new();
        assert_eq!(h.quantile(0.5), Duration::ZERO);
        assert_eq!(h.max(), Duration::ZERO);
        for v in [5, 7, 9, 100] {
            h.record_ns(v);
        }
        assert_eq!(h.quantile(0.5), Duration::from_nanos(7));
        assert_eq!(h.quantile(0.75), Duration::from_nanos(9));
        assert_eq!(h.quantile(0.99), Duration::from_nanos(100));
        h.record_ns(u64::MAX);
        assert_eq!(h.max(), Duration::from_nanos(u64::MAX));
    }
}
