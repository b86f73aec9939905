//! Retries in process: exponential backoff with jitter and a cap on
//! attempts.
//!
//! After a failed attempt the subscriber asks [`Backoff::decide`] what to
//! do: try again after a delay, or give up. The message stays in flight
//! meanwhile (unacked, its offset uncommitted) and keeps its key's lane,
//! so later messages of the same key wait behind it.
//!
//! With delayed retries ([`SubscriberBuilder::delayed_retries`]), giving
//! up in process is not the end: the message is forwarded to the retry
//! stage of the next delay ([`RetryDecision::RetryLater`]), which frees
//! its lane and lets its offset be committed, and comes back when the
//! delay is over; only after the last stage does it go to the dead
//! letters. See [`crate::delayed_retry`].
//!
//! [`SubscriberBuilder::delayed_retries`]: crate::SubscriberBuilder::delayed_retries

use std::time::Duration;

use crate::error::{Error, FailureKind};
use crate::random;

/// Exponential backoff: `initial`, then times `factor` per attempt, at
/// most `max`, each delay spread by ±`jitter` (a fraction), for at most
/// `attempts` attempts in all (the first included).
///
/// ```
/// use std::time::Duration;
/// use mq_service::Backoff;
///
/// let b = Backoff::exponential(Duration::from_millis(100), 2.0, Duration::from_secs(30))
///     .jitter(0.2)
///     .attempts(5);
/// assert_eq!(b.base_delay(1), Duration::from_millis(100)); // after the first failure
/// assert_eq!(b.base_delay(3), Duration::from_millis(400));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    initial: Duration,
    factor: f64,
    max: Duration,
    jitter: f64,
    attempts: u32,
}

impl Default for Backoff {
    /// 100 ms doubling up to 30 s, jitter 0.2, 5 attempts.
    fn default() -> Self {
        Backoff::exponential(Duration::from_millis(100), 2.0, Duration::from_secs(30))
            .jitter(0.2)
            .attempts(5)
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Try again in process after this delay.
    RetryAfter(Duration),
    /// Forward to delayed-retry stage `stage` (1-based), which hands the
    /// message back after `delay`; meanwhile it holds back nothing.
    RetryLater {
        /// The stage: 1 for the first delay.
        stage: u32,
        /// Its delay.
        delay: Duration,
    },
    /// Give up: publish to the dead letters.
    DeadLetter,
}

impl Backoff {
    /// Exponential backoff, no jitter, 5 attempts.
    pub fn exponential(initial: Duration, factor: f64, max: Duration) -> Self {
        Backoff {
            initial,
            factor,
            max,
            jitter: 0.0,
            attempts: 5,
        }
    }

    /// The same delay every time.
    pub fn fixed(delay: Duration) -> Self {
        Self::exponential(delay, 1.0, delay)
    }

    /// No retries: one attempt, then the dead letters.
    pub fn none() -> Self {
        Self::fixed(Duration::ZERO).attempts(1)
    }

    /// Spreads each delay uniformly by ± this fraction (0 to 1).
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = fraction;
        self
    }

    /// Attempts in all, the first included (at least 1).
    pub fn attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts;
        self
    }

    /// The attempt cap.
    pub fn max_attempts(&self) -> u32 {
        self.attempts
    }

    /// The delay after failed attempt `attempt` (1-based), before jitter.
    pub fn base_delay(&self, attempt: u32) -> Duration {
        let exp = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
        let secs = self.initial.as_secs_f64() * self.factor.powi(exp);
        let max = self.max.as_secs_f64();
        Duration::from_secs_f64(if secs.is_finite() { secs.min(max) } else { max })
    }

    /// The delay with jitter, `unit` a random number in `[0, 1)`; never
    /// above `max`.
    pub fn delay_with(&self, attempt: u32, unit: f64) -> Duration {
        let base = self.base_delay(attempt).as_secs_f64();
        let spread = 1.0 + self.jitter * (2.0 * unit - 1.0);
        Duration::from_secs_f64((base * spread).clamp(0.0, self.max.as_secs_f64()))
    }

    /// What to do after attempt `attempt` failed this way.
    pub fn decide(&self, attempt: u32, kind: FailureKind) -> RetryDecision {
        if kind == FailureKind::Permanent || attempt >= self.attempts {
            RetryDecision::DeadLetter
        } else {
            RetryDecision::RetryAfter(self.delay_with(attempt, random::unit()))
        }
    }

    /// The longest a message may take in process, backoffs included, for
    /// `attempts` handler calls of at most `timeout` each.
    pub(crate) fn worst_case(&self, timeout: Duration) -> Duration {
        let calls = timeout.saturating_mul(self.attempts);
        let waits = self.max.saturating_mul(self.attempts.saturating_sub(1));
        calls.saturating_add(waits)
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        let bad = |reason: String| {
            Err(Error::Config {
                setting: "retry",
                reason,
            })
        };
        if self.attempts == 0 {
            return bad("attempts must be at least 1".into());
        }
        if !(self.factor.is_finite() && self.factor >= 1.0) {
            return bad(format!(
                "the factor must be at least 1, not {}",
                self.factor
            ));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return bad(format!(
                "jitter must be within 0 and 1, not {}",
                self.jitter
            ));
        }
        if self.initial > self.max {
            return bad(format!(
                "the initial delay {:?} is above the maximum {:?}",
                self.initial, self.max
            ));
        }
        Ok(())
    }
}

/// The whole retry policy of a subscriber: in-process attempts by the
/// [`Backoff`] on every delivery, then the delayed-retry stages in turn.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RetryPolicy {
    pub(crate) backoff: Backoff,
    /// The delay of each stage, in order (empty: no delayed retries).
    pub(crate) delays: Vec<Duration>,
}

impl RetryPolicy {
    /// What to do after the `attempt`th call (counted from 1 on this
    /// delivery) failed this way, the message having passed through
    /// `stages_done` delayed-retry stages before.
    pub(crate) fn decide(
        &self,
        attempt: u32,
        kind: FailureKind,
        stages_done: u32,
    ) -> RetryDecision {
        match self.backoff.decide(attempt, kind) {
            RetryDecision::DeadLetter if kind == FailureKind::Retriable => {
                match self.delays.get(stages_done as usize) {
                    Some(&delay) => RetryDecision::RetryLater {
                        stage: stages_done + 1,
                        delay,
                    },
                    None => RetryDecision::DeadLetter,
                }
            }
            d => d,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn delays_grow_by_the_factor_up_to_the_cap() {
        let b = Backoff::exponential(ms(100), 2.0, ms(1000));
        let delays: Vec<Duration> = (1..=6).map(|a| b.base_delay(a)).collect();
        assert_eq!(
            delays,
            [ms(100), ms(200), ms(400), ms(800), ms(1000), ms(1000)]
        );
        assert_eq!(b.base_delay(10_000), ms(1000));
    }

    #[test]
    fn jitter_spreads_within_bounds() {
        let b = Backoff::exponential(ms(100), 2.0, ms(10_000)).jitter(0.2);
        assert_eq!(b.delay_with(1, 0.0), ms(80));
        assert_eq!(b.delay_with(1, 0.5), ms(100));
        let hi = b.delay_with(1, 0.999_999);
        assert!(hi > ms(119) && hi <= ms(120), "{hi:?}");
        // Jitter never passes the cap.
        let capped = Backoff::exponential(ms(100), 2.0, ms(100)).jitter(1.0);
        assert!(capped.delay_with(1, 0.999) <= ms(100));
        for _ in 0..100 {
            match b.decide(2, FailureKind::Retriable) {
                RetryDecision::RetryAfter(d) => assert!(d >= ms(160) && d <= ms(240), "{d:?}"),
                other => panic!("attempt 2 of 5 retries in process: {other:?}"),
            }
        }
    }

    #[test]
    fn attempts_and_permanent_failures_end_in_dead_letters() {
        let b = Backoff::fixed(ms(1)).attempts(3);
        assert!(matches!(
            b.decide(1, FailureKind::Retriable),
            RetryDecision::RetryAfter(_)
        ));
        assert!(matches!(
            b.decide(2, FailureKind::Retriable),
            RetryDecision::RetryAfter(_)
        ));
        assert_eq!(
            b.decide(3, FailureKind::Retriable),
            RetryDecision::DeadLetter
        );
        assert_eq!(
            b.decide(1, FailureKind::Permanent),
            RetryDecision::DeadLetter
        );
        assert_eq!(
            Backoff::none().decide(1, FailureKind::Retriable),
            RetryDecision::DeadLetter
        );
    }

    #[test]
    fn bad_settings_are_refused() {
        let e = Backoff::default().attempts(0).validate().unwrap_err();
        assert!(e.to_string().contains("`retry`"), "{e}");
        assert!(Backoff::default().jitter(1.5).validate().is_err());
        assert!(
            Backoff::exponential(ms(10), 0.5, ms(100))
                .validate()
                .is_err()
        );
        assert!(
            Backoff::exponential(ms(1000), 2.0, ms(100))
                .validate()
                .is_err()
        );
        assert!(Backoff::default().validate().is_ok());
    }

    #[test]
    fn delayed_stages_follow_the_in_process_attempts() {
        let p = RetryPolicy {
            backoff: Backoff::fixed(ms(1)).attempts(2),
            delays: vec![ms(1000), ms(10_000)],
        };
        let r = FailureKind::Retriable;
        assert_eq!(p.decide(1, r, 0), RetryDecision::RetryAfter(ms(1)));
        assert_eq!(
            p.decide(2, r, 0),
            RetryDecision::RetryLater {
                stage: 1,
                delay: ms(1000)
            }
        );
        assert_eq!(p.decide(1, r, 1), RetryDecision::RetryAfter(ms(1)));
        assert_eq!(
            p.decide(2, r, 1),
            RetryDecision::RetryLater {
                stage: 2,
                delay: ms(10_000)
            }
        );
        assert_eq!(p.decide(2, r, 2), RetryDecision::DeadLetter);
        // A permanent failure skips the stages.
        assert_eq!(
            p.decide(1, FailureKind::Permanent, 0),
            RetryDecision::DeadLetter
        );
        let none = RetryPolicy {
            backoff: Backoff::none(),
            delays: Vec::new(),
        };
        assert_eq!(none.decide(1, r, 0), RetryDecision::DeadLetter);
    }

    #[test]
    fn the_worst_case_counts_calls_and_waits() {
        let b = Backoff::exponential(ms(100), 2.0, ms(1000)).attempts(3);
        assert_eq!(b.worst_case(ms(50)), ms(3 * 50 + 2 * 1000));
        assert_eq!(Backoff::none().worst_case(ms(50)), ms(50));
    }
}
