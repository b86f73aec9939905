//! A token bucket per subscriber: `permits` per `per` on average, at most
//! `burst` at once.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The token bucket. Each handler attempt takes one token; without one,
/// it reserves the next and sleeps until it is due, so waiters are served
/// in the order they came and the long-run rate never passes the limit.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    /// Tokens per second.
    rate: f64,
    burst: f64,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Negative while reservations wait for tokens to come.
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// `permits` per `per`, starting full with `burst` tokens. Both are
    /// checked at build time to be above zero.
    pub(crate) fn new(permits: u32, per: Duration, burst: u32, now: Instant) -> Self {
        let rate = f64::from(permits) / per.as_secs_f64();
        let burst = f64::from(burst.max(1));
        TokenBucket {
            rate,
            burst,
            state: Mutex::new(State {
                tokens: burst,
                last: now,
            }),
        }
    }

    /// Takes a token at `now`: how long to wait before using it.
    pub(crate) fn reserve(&self, now: Instant) -> Duration {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let elapsed = now.saturating_duration_since(s.last).as_secs_f64();
        s.tokens = (s.tokens + elapsed * self.rate).min(self.burst);
        s.last = now.max(s.last);
        s.tokens -= 1.0;
        if s.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-s.tokens / self.rate)
        }
    }

    /// Waits for a token.
    pub(crate) async fn acquire(&self) {
        let wait = self.reserve(Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_serves_the_burst_then_paces() {
        let t0 = Instant::now();
        let b = TokenBucket::new(10, Duration::from_secs(1), 3, t0);
        for _ in 0..3 {
            assert_eq!(b.reserve(t0), Duration::ZERO);
        }
        // The fourth waits one interval (100 ms), the fifth two.
        let w4 = b.reserve(t0);
        let w5 = b.reserve(t0);
        assert!((w4.as_secs_f64() - 0.1).abs() < 1e-9, "{w4:?}");
        assert!((w5.as_secs_f64() - 0.2).abs() < 1e-9, "{w5:?}");
    }

    #[test]
    fn the_long_run_rate_is_the_limit() {
        let t0 = Instant::now();
        let b = TokenBucket::new(500, Duration::from_secs(1), 50, t0);
        // Callers arriving every millisecond for 5 s, each starting when
        // its reservation is due: count how many start within 5 s.
        let mut started = 0;
        let mut now = t0;
        while now < t0 + Duration::from_secs(5) {
            let wait = b.reserve(now);
            now += wait.max(Duration::from_millis(1));
            if now <= t0 + Duration::from_secs(5) {
                started += 1;
            }
        }
        // 500/s for 5 s, plus the initial burst.
        assert!((2500..=2550).contains(&started), "{started}");
    }

    #[test]
    fn idle_time_refills_only_up_to_the_burst() {
        let t0 = Instant::now();
        let b = TokenBucket::new(1, Duration::from_millis(10), 2, t0);
        let later = t0 + Duration::from_secs(60);
        assert_eq!(b.reserve(later), Duration::ZERO);
        assert_eq!(b.reserve(later), Duration::ZERO);
        assert!(b.reserve(later) > Duration::ZERO);
    }
}
