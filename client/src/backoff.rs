//! Exponential backoff with jitter, shared by the AMQP and Kafka clients.
//!
//! Each failed attempt waits `initial × multiplier^n`, capped at `max`, then
//! shortened by a random fraction of up to `jitter`, so that many clients cut
//! off by the same broker restart do not reconnect in lockstep.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// Backoff settings: a plain value, cheap to copy into every connection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffConfig {
    /// Delay before the first retry. Default 100 ms.
    pub initial: Duration,
    /// Upper bound of any delay. Default 10 s.
    pub max: Duration,
    /// Growth factor per attempt. Default 2.0.
    pub multiplier: f64,
    /// Fraction of each delay that is randomised away, in `0.0..=1.0`.
    /// Default 0.2: a delay `d` becomes a value in `[0.8 d, d]`.
    pub jitter: f64,
    /// Attempts allowed before giving up; `None` retries for ever. Default `None`.
    pub max_attempts: Option<u32>,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(10),
            multiplier: 2.0,
            jitter: 0.2,
            max_attempts: None,
        }
    }
}

impl BackoffConfig {
    /// Starts a fresh sequence of delays.
    pub fn start(&self) -> Backoff {
        Backoff {
            config: *self,
            attempt: 0,
            rng: seed(),
        }
    }
}

/// One sequence of delays; call [`next_delay`](Backoff::next_delay) after
/// each failure and [`reset`](Backoff::reset) after a success.
#[derive(Debug, Clone)]
pub struct Backoff {
    config: BackoffConfig,
    attempt: u32,
    rng: u64,
}

impl Backoff {
    /// The delay before the next attempt, or `None` once `max_attempts`
    /// failures have been seen.
    pub fn next_delay(&mut self) -> Option<Duration> {
        if self
            .config
            .max_attempts
            .is_some_and(|max| self.attempt >= max)
        {
            return None;
        }
        let base = self.ceiling(self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        let jitter = self.config.jitter.clamp(0.0, 1.0);
        let fraction = 1.0 - jitter * self.unit();
        Some(base.mul_f64(fraction))
    }

    /// How many delays have been handed out since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Starts over after a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The un-jittered delay for attempt `n`.
    fn ceiling(&self, n: u32) -> Duration {
        let c = &self.config;
        let factor = c.multiplier.max(1.0).powi(n.min(64) as i32);
        let secs = c.initial.as_secs_f64() * factor;
        if !secs.is_finite() || secs >= c.max.as_secs_f64() {
            c.max
        } else {
            Duration::from_secs_f64(secs)
        }
    }

    /// A uniform value in `[0, 1)` (splitmix64; no need for a crypto RNG).
    fn unit(&mut self) -> f64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A per-sequence seed from the process's random hash keys.
fn seed() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(0x5eed);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_within_jitter_and_caps() {
        let cfg = BackoffConfig {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
            multiplier: 2.0,
            jitter: 0.2,
            max_attempts: None,
        };
        let mut b = cfg.start();
        let expected_ceilings = [100u64, 200, 400, 800, 1600, 2000, 2000, 2000];
        for ceiling in expected_ceilings {
            let d = b.next_delay().unwrap().as_secs_f64() * 1000.0;
            let ceiling = ceiling as f64;
            assert!(
                d <= ceiling + 1e-6 && d >= ceiling * 0.8 - 1e-6,
                "{d} not in [{}, {ceiling}]",
                ceiling * 0.8
            );
        }
        assert_eq!(b.attempts(), 8);
        b.reset();
        assert!(b.next_delay().unwrap() <= Duration::from_millis(100));
    }

    #[test]
    fn jitter_spreads_delays() {
        let cfg = BackoffConfig {
            jitter: 1.0,
            ..BackoffConfig::default()
        };
        let delays: Vec<Duration> = (0..64).map(|_| cfg.start().next_delay().unwrap()).collect();
        let min = delays.iter().min().unwrap();
        let max = delays.iter().max().unwrap();
        assert!(*max <= Duration::from_millis(100));
        assert!(*max - *min > Duration::from_millis(20), "{min:?}..{max:?}");
    }

    #[test]
    fn no_jitter_is_exact_and_attempts_are_limited() {
        let cfg = BackoffConfig {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(35),
            multiplier: 3.0,
            jitter: 0.0,
            max_attempts: Some(3),
        };
        let mut b = cfg.start();
        assert_eq!(b.next_delay(), Some(Duration::from_millis(10)));
        assert_eq!(b.next_delay(), Some(Duration::from_millis(30)));
        assert_eq!(b.next_delay(), Some(Duration::from_millis(35)));
        assert_eq!(b.next_delay(), None);
    }

    #[test]
    fn huge_attempt_counts_do_not_overflow() {
        let mut b = BackoffConfig::default().start();
        for _ in 0..10_000 {
            assert!(b.next_delay().unwrap() <= Duration::from_secs(10));
        }
    }
}
