//! Heartbeats.
//!
//! Spec 4.2.7: heartbeat frames tell the peer this side is alive. This side
//! checks every half interval and sends one if nothing went out since the
//! last check, so the peer hears something at least once per interval. A
//! peer from which nothing has arrived for two intervals is dead (the
//! RabbitMQ rule: "after two missed heartbeats, the peer is considered
//! unreachable").

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    None,
    Send,
    Dead,
}

#[derive(Debug)]
pub(super) struct Heartbeat {
    interval: Option<Duration>,
    next_check: Option<Instant>,
    last_recv: Instant,
}

impl Heartbeat {
    pub(super) fn new(now: Instant) -> Self {
        Heartbeat {
            interval: None,
            next_check: None,
            last_recv: now,
        }
    }

    /// Starts heartbeats at the negotiated interval (0: none).
    pub(super) fn start(&mut self, now: Instant, seconds: u16) {
        if seconds == 0 {
            self.interval = None;
            self.next_check = None;
            return;
        }
        let interval = Duration::from_secs(u64::from(seconds));
        self.interval = Some(interval);
        self.next_check = Some(now + interval / 2);
        self.last_recv = now;
    }

    pub(super) fn on_receive(&mut self, now: Instant) {
        if now > self.last_recv {
            self.last_recv = now;
        }
    }

    fn dead_at(&self) -> Option<Instant> {
        self.interval.map(|i| self.last_recv + i * 2)
    }

    pub(super) fn deadline(&self) -> Option<Instant> {
        match (self.next_check, self.dead_at()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub(super) fn on_timeout(&mut self, now: Instant, sent_since_last_check: bool) -> Action {
        let Some(interval) = self.interval else {
            return Action::None;
        };
        if self.dead_at().is_some_and(|d| now >= d) {
            self.interval = None;
            self.next_check = None;
            return Action::Dead;
        }
        match self.next_check {
            Some(at) if now >= at => {
                self.next_check = Some(now + interval / 2);
                if sent_since_last_check {
                    Action::None
                } else {
                    Action::Send
                }
            }
            _ => Action::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_when_idle_and_detects_silence() {
        let t0 = Instant::now();
        let mut h = Heartbeat::new(t0);
        assert_eq!(h.deadline(), None);
        h.start(t0, 10);
        assert_eq!(h.deadline(), Some(t0 + Duration::from_secs(5)));
        assert_eq!(
            h.on_timeout(t0 + Duration::from_secs(5), false),
            Action::Send
        );
        // Traffic went out meanwhile: no heartbeat needed.
        assert_eq!(
            h.on_timeout(t0 + Duration::from_secs(10), true),
            Action::None
        );
        h.on_receive(t0 + Duration::from_secs(12));
        assert_eq!(
            h.on_timeout(t0 + Duration::from_secs(15), false),
            Action::Send
        );
        assert_eq!(h.deadline(), Some(t0 + Duration::from_secs(20)));
        assert_eq!(
            h.on_timeout(t0 + Duration::from_secs(31), false),
            Action::Send
        );
        assert_eq!(
            h.on_timeout(t0 + Duration::from_secs(32), false),
            Action::Dead
        );
        assert_eq!(h.deadline(), None);
    }
}
