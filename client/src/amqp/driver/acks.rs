//! One channel's delivery acknowledgements: the delivery tags the broker
//! counts as unacked, and the acks held back to go out as one multiple
//! ack.
//!
//! Acks of the oldest outstanding deliveries, in order, coalesce: one
//! `basic.ack(multiple)` frame covers them all, sent once it covers a
//! quarter of the prefetch window, or the deliveries the broker counts as
//! unacked reach half of it, or it is a linger old, or something must go
//! out after it. Only tags still outstanding are ever sent: settling one
//! twice would make the broker close the channel (406 unknown delivery
//! tag).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::amqp::command::Settle;

/// What [`Acks::settle`] asks the driver to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SettleFrames {
    /// The settle was an in-order ack, now held: nothing to send.
    pub(crate) held: bool,
    /// A held multiple ack up to this tag goes out first.
    pub(crate) held_ack: Option<u64>,
    /// Then the settle itself, as asked (its tag is outstanding).
    pub(crate) send: bool,
}

/// What [`Acks::take_due`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Held {
    /// No ack is held.
    Nothing,
    /// The held ack, up to this tag, is due: send it.
    Due(u64),
    /// An ack is held and may wait.
    Waiting,
}

/// See the module documentation.
#[derive(Debug, Default)]
pub(crate) struct Acks {
    /// Delivery tags not yet settled, with the consumer id (0 for
    /// basic.get), in tag order.
    unacked: VecDeque<(u64, u32)>,
    /// Acks coalesced and not yet sent: everything up to this tag.
    upto: Option<u64>,
    /// Deliveries `upto` covers.
    unsent: usize,
    /// When the oldest of them was acked.
    since: Option<Instant>,
}

impl Acks {
    /// A delivery that needs an ack came (in tag order).
    pub(crate) fn delivered(&mut self, tag: u64, consumer: u32) {
        self.unacked.push_back((tag, consumer));
    }

    /// A basic.get message that needs an ack came (its tag may fall
    /// between deliveries').
    pub(crate) fn got(&mut self, tag: u64) {
        let at = self.unacked.partition_point(|(t, _)| *t < tag);
        self.unacked.insert(at, (tag, 0));
    }

    /// Deliveries the broker counts as unacked: outstanding, and held
    /// acks not sent yet.
    pub(crate) fn counted_unacked(&self) -> usize {
        self.unacked.len() + self.unsent
    }

    /// Deliveries not yet settled by the application.
    pub(crate) fn outstanding(&self) -> usize {
        self.unacked.len()
    }

    /// When the oldest held ack was made, if one is held.
    pub(crate) fn held_since(&self) -> Option<Instant> {
        self.since
    }

    /// Settles `tag` (and, with `multiple`, every outstanding tag below
    /// it). An in-order ack is held (nothing to send now); anything else
    /// sends the held ack first, then the settle if its tag is
    /// outstanding.
    pub(crate) fn settle(
        &mut self,
        tag: u64,
        multiple: bool,
        how: Settle,
        now: Instant,
    ) -> SettleFrames {
        if how == Settle::Ack
            && self
                .unacked
                .front()
                .is_some_and(|(t, _)| *t == tag || (multiple && *t <= tag))
        {
            while self.unacked.front().is_some_and(|(t, _)| *t <= tag) {
                self.unacked.pop_front();
                self.unsent += 1;
            }
            self.upto = Some(tag);
            self.since.get_or_insert(now);
            return SettleFrames {
                held: true,
                held_ack: None,
                send: false,
            };
        }
        let held_ack = self.take_held();
        let send = if multiple {
            let any = self.unacked.front().is_some_and(|(t, _)| *t <= tag);
            while self.unacked.front().is_some_and(|(t, _)| *t <= tag) {
                self.unacked.pop_front();
            }
            any
        } else {
            match self.unacked.binary_search_by_key(&tag, |(t, _)| *t) {
                Ok(at) => self.unacked.remove(at).is_some(),
                Err(_) => false,
            }
        };
        SettleFrames {
            held: false,
            held_ack,
            send,
        }
    }

    /// Takes the held ack, due or not.
    pub(crate) fn take_held(&mut self) -> Option<u64> {
        let upto = self.upto.take()?;
        (self.unsent, self.since) = (0, None);
        Some(upto)
    }

    /// Takes the held ack if it is due (see the module documentation);
    /// `prefetch` is the channel's window (0: none).
    pub(crate) fn take_due(
        &mut self,
        force: bool,
        now: Instant,
        linger: Duration,
        prefetch: u16,
    ) -> Held {
        let Some(upto) = self.upto else {
            return Held::Nothing;
        };
        let (batch, half) = thresholds(prefetch);
        let due = force
            || self.unsent >= batch
            || self.counted_unacked() >= half
            || self.since.is_some_and(|t| t + linger <= now);
        if !due {
            return Held::Waiting;
        }
        self.take_held();
        Held::Due(upto)
    }

    /// Whether held acks may wait for the driver's next turn: the broker
    /// counts fewer than half the window as unacked, so it keeps
    /// delivering.
    pub(crate) fn may_wait(&self, prefetch: u16) -> bool {
        self.counted_unacked() < thresholds(prefetch).1
    }

    /// Forgets a consumer's outstanding deliveries; their tags, to reject
    /// back to the queue.
    pub(crate) fn forget_consumer(&mut self, consumer: u32) -> Vec<u64> {
        let mut tags = Vec::new();
        self.unacked.retain(|(t, id)| {
            if *id == consumer {
                tags.push(*t);
                false
            } else {
                true
            }
        });
        tags
    }

    /// The connection was lost: no tag of it can be settled any more.
    pub(crate) fn clear(&mut self) {
        *self = Acks::default();
    }
}

/// How many coalesced acks a channel holds back at most, and the unacked
/// count (held acks included) at which they go out at once: a quarter
/// and a half of its prefetch window; without a window, 256 and never.
fn thresholds(prefetch: u16) -> (usize, usize) {
    match usize::from(prefetch) {
        0 => (256, usize::MAX),
        p => ((p / 4).max(1), (p / 2).max(1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINGER: Duration = Duration::from_millis(1);

    fn acks(tags: impl IntoIterator<Item = u64>) -> Acks {
        let mut a = Acks::default();
        for t in tags {
            a.delivered(t, 1);
        }
        a
    }

    #[test]
    fn in_order_acks_are_held_and_go_out_as_one_multiple_ack() {
        let now = Instant::now();
        let mut a = acks(1..=10);
        for t in 1..=3 {
            let f = a.settle(t, false, Settle::Ack, now);
            assert_eq!((f.held, f.held_ack, f.send), (true, None, false));
        }
        assert_eq!((a.outstanding(), a.counted_unacked()), (7, 10));
        assert_eq!(a.held_since(), Some(now));
        // Window 100: a batch is 25, half is 50: not due yet.
        assert_eq!(a.take_due(false, now, LINGER, 100), Held::Waiting);
        assert!(a.may_wait(100));
        // A linger later it is.
        assert_eq!(a.take_due(false, now + LINGER, LINGER, 100), Held::Due(3));
        assert_eq!(a.take_due(true, now, LINGER, 100), Held::Nothing);
        assert_eq!(a.counted_unacked(), 7);
    }

    #[test]
    fn a_full_batch_or_half_the_window_is_due_at_once() {
        let now = Instant::now();
        let mut a = acks(1..=8);
        a.settle(2, true, Settle::Ack, now);
        // Window 8: batch 2, half 4.
        assert_eq!(a.take_due(false, now, LINGER, 8), Held::Due(2));
        let mut a = acks(1..=8);
        a.settle(1, false, Settle::Ack, now);
        assert!(!a.may_wait(8), "8 counted unacked of a window of 8");
        assert_eq!(a.take_due(false, now, LINGER, 8), Held::Due(1));
    }

    #[test]
    fn out_of_order_settles_send_the_held_ack_first_and_only_outstanding_tags() {
        let now = Instant::now();
        let mut a = acks(1..=5);
        a.settle(1, false, Settle::Ack, now);
        // Tag 3 is not the oldest: the held ack goes first, then 3.
        let f = a.settle(3, false, Settle::Ack, now);
        assert_eq!((f.held_ack, f.send), (Some(1), true));
        // 3 again: already settled, nothing goes out.
        let f = a.settle(3, false, Settle::Reject { requeue: true }, now);
        assert_eq!((f.held, f.held_ack, f.send), (false, None, false));
        // A multiple nack up to 4 covers 2 and 4.
        let f = a.settle(4, true, Settle::Nack { requeue: false }, now);
        assert_eq!((f.held_ack, f.send), (None, true));
        assert_eq!(a.outstanding(), 1);
        // A multiple settle below every outstanding tag sends nothing.
        let f = a.settle(4, true, Settle::Nack { requeue: true }, now);
        assert!(!f.send);
    }

    #[test]
    fn gets_keep_tag_order_and_consumers_are_forgotten_alone() {
        let now = Instant::now();
        let mut a = Acks::default();
        a.delivered(1, 7);
        a.delivered(3, 8);
        a.got(2);
        a.delivered(4, 7);
        assert_eq!(a.forget_consumer(7), [1, 4]);
        // 2 (the get) is now the oldest: an in-order ack.
        assert_eq!(a.settle(2, false, Settle::Ack, now).held_ack, None);
        assert_eq!(a.outstanding(), 1);
        a.clear();
        assert_eq!((a.outstanding(), a.counted_unacked()), (0, 0));
        assert_eq!(a.take_held(), None);
        // Without a window, 256 held acks make a batch, and they may
        // always wait.
        let mut a = acks(1..=300);
        a.settle(255, true, Settle::Ack, now);
        assert!(a.may_wait(0));
        assert_eq!(a.take_due(false, now, LINGER, 0), Held::Waiting);
        a.settle(256, false, Settle::Ack, now);
        assert_eq!(a.take_due(false, now, LINGER, 0), Held::Due(256));
    }
}
