//! Which Kafka offsets may be committed when records of one partition
//! finish out of order: only the contiguous processed prefix (as
//! Confluent's parallel-consumer does), so a crash never skips a record
//! that was not processed. At worst, records after the first unfinished
//! one are processed again (at-least-once).

use std::collections::{BTreeSet, HashMap, VecDeque};

use mq_client::kafka::{OffsetAndEpoch, TopicPartition};

/// Per-partition progress of the records handed to workers.
#[derive(Debug, Default)]
pub(crate) struct OffsetTracker {
    parts: HashMap<TopicPartition, Progress>,
    generations: u64,
}

#[derive(Debug)]
struct Progress {
    /// Bumped on every (re)assignment: completions from before are stale.
    generation: u64,
    /// Dispatched and not completed.
    in_flight: Window,
    /// In flight but parked: waiting in process for their key, not
    /// started (see [`OffsetTracker::park`]).
    parked: BTreeSet<i64>,
    /// The highest offset dispatched, with its epoch.
    last: Option<(i64, i32)>,
    /// The last offset handed out for commit.
    committed: Option<i64>,
}

/// The records of a partition in flight, in offset order: a queue, since
/// records are dispatched in offset order and mostly finish in it too.
/// A finished record is marked, and leaves once it reaches the front.
#[derive(Debug, Default)]
struct Window {
    /// (offset, leader epoch, finished), offsets ascending; the front is
    /// never finished.
    slots: VecDeque<(i64, i32, bool)>,
    /// Slots not finished.
    live: usize,
}

impl Window {
    fn insert(&mut self, offset: i64, epoch: i32) {
        match self.slots.back() {
            Some(&(last, ..)) if offset <= last => {
                // Out of order (not seen from a consumer, kept correct).
                match self.slots.binary_search_by_key(&offset, |s| s.0) {
                    Ok(i) => {
                        let s = &mut self.slots[i];
                        if s.2 {
                            self.live += 1;
                        }
                        *s = (offset, epoch, false);
                    }
                    Err(i) => {
                        self.slots.insert(i, (offset, epoch, false));
                        self.live += 1;
                    }
                }
            }
            _ => {
                self.slots.push_back((offset, epoch, false));
                self.live += 1;
            }
        }
    }

    fn position(&self, offset: i64) -> Option<usize> {
        // Mostly the front: completions come roughly in order.
        match self.slots.front() {
            Some(&(o, _, false)) if o == offset => Some(0),
            _ => self.slots.binary_search_by_key(&offset, |s| s.0).ok(),
        }
    }

    fn remove(&mut self, offset: i64) {
        let Some(i) = self.position(offset) else {
            return;
        };
        let slot = &mut self.slots[i];
        if slot.2 {
            return;
        }
        slot.2 = true;
        self.live -= 1;
        while self.slots.front().is_some_and(|s| s.2) {
            self.slots.pop_front();
        }
    }

    fn contains(&self, offset: i64) -> bool {
        self.position(offset).is_some_and(|i| !self.slots[i].2)
    }

    /// The first record not finished.
    fn first(&self) -> Option<(i64, i32)> {
        self.slots.front().map(|&(o, e, _)| (o, e))
    }

    fn len(&self) -> usize {
        self.live
    }
}

/// A record in flight: what its completion reports.
#[derive(Debug, Clone)]
pub(crate) struct Ticket {
    pub(crate) tp: TopicPartition,
    generation: u64,
    pub(crate) offset: i64,
}

impl OffsetTracker {
    fn progress(&mut self, tp: &TopicPartition) -> &mut Progress {
        if !self.parts.contains_key(tp) {
            self.generations += 1;
            self.parts.insert(
                tp.clone(),
                Progress {
                    generation: self.generations,
                    in_flight: Window::default(),
                    parked: BTreeSet::new(),
                    last: None,
                    committed: None,
                },
            );
        }
        // Inserted just above if it was missing.
        self.parts.get_mut(tp).unwrap_or_else(|| unreachable!())
    }

    /// A partition was assigned: tracking starts afresh.
    pub(crate) fn assign(&mut self, tp: &TopicPartition) {
        self.parts.remove(tp);
        self.progress(tp);
    }

    /// A partition was revoked or lost: forget it; completions of its
    /// records in flight are ignored from now on.
    pub(crate) fn revoke(&mut self, tp: &TopicPartition) {
        self.parts.remove(tp);
    }

    /// A record is handed to a worker.
    pub(crate) fn dispatch(&mut self, tp: &TopicPartition, offset: i64, epoch: i32) -> Ticket {
        let p = self.progress(tp);
        p.in_flight.insert(offset, epoch);
        if p.last.is_none_or(|(o, _)| offset > o) {
            p.last = Some((offset, epoch));
        }
        Ticket {
            tp: tp.clone(),
            generation: p.generation,
            offset,
        }
    }

    /// A record is settled (processed, or dead-lettered and confirmed).
    /// Stale tickets (from before a revoke) are ignored.
    pub(crate) fn complete(&mut self, ticket: &Ticket) {
        if let Some(p) = self.parts.get_mut(&ticket.tp) {
            if p.generation == ticket.generation {
                p.in_flight.remove(ticket.offset);
                if !p.parked.is_empty() {
                    p.parked.remove(&ticket.offset);
                }
            }
        }
    }

    /// A record in flight waits for its key and has not started: a revoke
    /// need not wait for it (it stays uncommitted, and gives up when it
    /// sees it is no longer [current](Self::is_current)).
    pub(crate) fn park(&mut self, ticket: &Ticket) {
        if let Some(p) = self.parts.get_mut(&ticket.tp) {
            if p.generation == ticket.generation && p.in_flight.contains(ticket.offset) {
                p.parked.insert(ticket.offset);
            }
        }
    }

    /// A parked record starts.
    pub(crate) fn unpark(&mut self, ticket: &Ticket) {
        if let Some(p) = self.parts.get_mut(&ticket.tp) {
            if p.generation == ticket.generation {
                p.parked.remove(&ticket.offset);
            }
        }
    }

    /// Whether `ticket`'s partition is still assigned as it was when the
    /// record was dispatched.
    pub(crate) fn is_current(&self, ticket: &Ticket) -> bool {
        self.parts
            .get(&ticket.tp)
            .is_some_and(|p| p.generation == ticket.generation)
    }

    /// Records of `tp` in flight.
    #[cfg(test)]
    pub(crate) fn in_flight(&self, tp: &TopicPartition) -> usize {
        self.parts.get(tp).map_or(0, |p| p.in_flight.len())
    }

    /// Records of `tp` in flight and not parked: what a revoke waits for.
    pub(crate) fn busy(&self, tp: &TopicPartition) -> usize {
        self.parts
            .get(tp)
            .map_or(0, |p| p.in_flight.len() - p.parked.len())
    }

    /// The offset to commit for `tp` (the next one to read): the first
    /// record still in flight, or one past the last dispatched.
    pub(crate) fn committable(&self, tp: &TopicPartition) -> Option<OffsetAndEpoch> {
        let p = self.parts.get(tp)?;
        match p.in_flight.first() {
            Some((offset, epoch)) => Some(OffsetAndEpoch::new(offset, epoch)),
            None => p
                .last
                .map(|(o, e)| OffsetAndEpoch::new(o.saturating_add(1), e)),
        }
    }

    /// The commits due: every partition whose committable offset moved
    /// since the last call.
    pub(crate) fn take_commits(&mut self) -> Vec<(TopicPartition, OffsetAndEpoch)> {
        let mut out = Vec::new();
        let tps: Vec<TopicPartition> = self.parts.keys().cloned().collect();
        for tp in tps {
            if let Some(oe) = self.committable(&tp) {
                let p = self.progress(&tp);
                if p.committed != Some(oe.offset) {
                    p.committed = Some(oe.offset);
                    out.push((tp, oe));
                }
            }
        }
        out
    }

    /// The commits for `tps` now, whether they moved or not.
    pub(crate) fn commits_for(
        &self,
        tps: &[TopicPartition],
    ) -> Vec<(TopicPartition, OffsetAndEpoch)> {
        tps.iter()
            .filter_map(|tp| Some((tp.clone(), self.committable(tp)?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tp(p: i32) -> TopicPartition {
        TopicPartition::new("orders", p)
    }

    #[test]
    fn commits_stop_at_the_first_unfinished_record() {
        let mut t = OffsetTracker::default();
        let tickets: Vec<Ticket> = (10..15).map(|o| t.dispatch(&tp(0), o, 3)).collect();
        assert_eq!(t.committable(&tp(0)).unwrap().offset, 10);
        t.complete(&tickets[1]);
        t.complete(&tickets[2]);
        assert_eq!(t.committable(&tp(0)).unwrap().offset, 10);
        t.complete(&tickets[0]);
        assert_eq!(t.committable(&tp(0)).unwrap().offset, 13);
        assert_eq!(t.take_commits(), [(tp(0), OffsetAndEpoch::new(13, 3))]);
        assert!(t.take_commits().is_empty(), "nothing moved");
        t.complete(&tickets[4]);
        t.complete(&tickets[3]);
        assert_eq!(t.take_commits(), [(tp(0), OffsetAndEpoch::new(15, 3))]);
        assert_eq!(t.in_flight(&tp(0)), 0);
    }

    #[test]
    fn stale_completions_after_a_revoke_are_ignored() {
        let mut t = OffsetTracker::default();
        let old = t.dispatch(&tp(1), 5, 0);
        t.revoke(&tp(1));
        t.assign(&tp(1));
        let new = t.dispatch(&tp(1), 5, 1);
        t.complete(&old);
        assert_eq!(
            t.in_flight(&tp(1)),
            1,
            "the old ticket does not settle the new record"
        );
        t.complete(&new);
        assert_eq!(t.committable(&tp(1)).unwrap().offset, 6);
        assert!(t.committable(&tp(2)).is_none());
        assert_eq!(t.commits_for(&[tp(1), tp(2)]).len(), 1);
    }

    #[test]
    fn parked_records_are_in_flight_but_not_busy() {
        let mut t = OffsetTracker::default();
        let a = t.dispatch(&tp(0), 1, 0);
        let b = t.dispatch(&tp(0), 2, 0);
        t.park(&b);
        assert_eq!((t.in_flight(&tp(0)), t.busy(&tp(0))), (2, 1));
        t.complete(&a);
        assert_eq!(t.busy(&tp(0)), 0);
        assert_eq!(
            t.committable(&tp(0)).unwrap().offset,
            2,
            "a parked record is not committed"
        );
        assert!(t.is_current(&b));
        t.unpark(&b);
        assert_eq!(t.busy(&tp(0)), 1);
        t.park(&b);
        t.revoke(&tp(0));
        assert!(!t.is_current(&b));
        t.assign(&tp(0));
        assert!(!t.is_current(&b), "a new generation");
        assert_eq!(t.busy(&tp(0)), 0);
    }

    #[test]
    fn a_record_dispatched_below_the_last_keeps_the_commit_behind_it() {
        let mut t = OffsetTracker::default();
        let a = t.dispatch(&tp(0), 5, 0);
        let b = t.dispatch(&tp(0), 6, 0);
        // A rewind inside one assignment: offset 3 again.
        let c = t.dispatch(&tp(0), 3, 0);
        assert_eq!(t.in_flight(&tp(0)), 3);
        t.complete(&a);
        t.complete(&b);
        assert_eq!(t.committable(&tp(0)).unwrap().offset, 3);
        t.complete(&c);
        assert_eq!(t.committable(&tp(0)).unwrap().offset, 7);
        // Completing twice changes nothing.
        t.complete(&c);
        assert_eq!(t.in_flight(&tp(0)), 0);
        // The same offset dispatched again while in flight counts once.
        let d = t.dispatch(&tp(0), 8, 1);
        let d2 = t.dispatch(&tp(0), 8, 1);
        assert_eq!(t.in_flight(&tp(0)), 1);
        t.complete(&d2);
        assert_eq!(t.in_flight(&tp(0)), 0);
        t.complete(&d);
        assert_eq!(t.committable(&tp(0)).unwrap().offset, 9);
    }

    proptest! {
        /// Whatever order records finish in, the committed offset never
        /// passes a record that was dispatched and not completed, and
        /// once all are done it is one past the last.
        #[test]
        fn committed_offset_never_passes_an_unprocessed_record(
            gaps in proptest::collection::vec(1i64..4, 1..60),
            order in proptest::collection::vec(any::<prop::sample::Index>(), 1..60),
        ) {
            let mut t = OffsetTracker::default();
            let mut offset = 0i64;
            let mut pending: Vec<Ticket> = Vec::new();
            let mut done: Vec<i64> = Vec::new();
            let mut dispatched: Vec<i64> = Vec::new();
            let mut steps = order.into_iter();
            for gap in gaps {
                offset += gap; // offsets may have gaps (compaction, markers)
                pending.push(t.dispatch(&tp(0), offset, 0));
                dispatched.push(offset);
                // Sometimes complete a random in-flight record.
                if let Some(ix) = steps.next() {
                    if !pending.is_empty() && ix.index(3) > 0 {
                        let ticket = pending.swap_remove(ix.index(pending.len()));
                        t.complete(&ticket);
                        done.push(ticket.offset);
                    }
                }
                for (_, oe) in t.take_commits() {
                    for d in dispatched.iter().filter(|&&d| d < oe.offset) {
                        prop_assert!(done.contains(d), "committed {} past unprocessed {}", oe.offset, d);
                    }
                }
            }
            for ticket in pending.drain(..) {
                t.complete(&ticket);
            }
            prop_assert_eq!(t.committable(&tp(0)).unwrap().offset, offset + 1);
        }
    }
}
