//! The sans-IO bookkeeping of acknowledgements: which acquired offsets
//! were handed out and not yet acknowledged (the records in flight), the
//! acknowledgements waiting to be sent, and how they are batched into the
//! ranges ShareFetch and ShareAcknowledge carry; and which offsets of a
//! ShareFetch answer this member acquired.

use std::collections::{BTreeMap, BTreeSet};

use kafka_proto::api::share_fetch::{AcknowledgementBatch, AcquiredRecords};
use kafka_proto::primitives::Uuid;

/// How a delivered record is acknowledged (KIP-932).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AcknowledgeType {
    /// Processed: the record is done for the group.
    Accept,
    /// Not processed: the record becomes available again, to this or
    /// another member, with its delivery count raised on the next
    /// delivery.
    Release,
    /// Unprocessable: the record is archived and never delivered again.
    Reject,
}

impl AcknowledgeType {
    /// The wire value (1 accept, 2 release, 3 reject).
    pub(crate) fn wire(self) -> i8 {
        match self {
            AcknowledgeType::Accept => ACCEPT,
            AcknowledgeType::Release => RELEASE,
            AcknowledgeType::Reject => REJECT,
        }
    }
}

/// An offset in an acquired range with no record to hand out (a control
/// record, a compacted-away offset): acknowledged as a gap.
pub(crate) const GAP: i8 = 0;
const ACCEPT: i8 = 1;
const RELEASE: i8 = 2;
const REJECT: i8 = 3;

/// A topic partition, by topic id (as the share APIs name it).
pub(crate) type PartitionKey = (Uuid, i32);

/// The offsets one ShareFetch answer acquired for one partition, sorted,
/// with their delivery counts.
#[derive(Debug, Clone, Default)]
pub(crate) struct Acquired {
    ranges: Vec<(i64, i64, i16)>,
}

impl Acquired {
    /// From the answer's ranges; empty or inverted ones are dropped, and
    /// the rest sorted so that look-ups can bisect.
    pub(crate) fn new(ranges: &[AcquiredRecords]) -> Self {
        let mut ranges: Vec<(i64, i64, i16)> = ranges
            .iter()
            .filter(|r| r.first_offset <= r.last_offset)
            .map(|r| (r.first_offset, r.last_offset, r.delivery_count))
            .collect();
        ranges.sort_unstable();
        // Overlapping ranges (a broker would not send them) keep the
        // first: each offset is handed out or acknowledged once.
        let mut kept: Vec<(i64, i64, i16)> = Vec::with_capacity(ranges.len());
        for r in ranges {
            match kept.last() {
                Some(&(_, last, _)) if r.0 <= last => {}
                _ => kept.push(r),
            }
        }
        Acquired { ranges: kept }
    }

    /// The delivery count of `offset` if this member acquired it.
    pub(crate) fn delivery_count(&self, offset: i64) -> Option<i16> {
        let i = self.ranges.partition_point(|&(_, last, _)| last < offset);
        match self.ranges.get(i) {
            Some(&(first, last, count)) if first <= offset && offset <= last => Some(count),
            _ => None,
        }
    }

    /// How many offsets were acquired.
    pub(crate) fn len(&self) -> u64 {
        self.ranges
            .iter()
            .map(|&(f, l, _)| l.abs_diff(f).saturating_add(1))
            .fold(0u64, u64::saturating_add)
    }

    /// Every acquired offset, in order.
    pub(crate) fn offsets(&self) -> impl Iterator<Item = i64> + '_ {
        self.ranges.iter().flat_map(|&(f, l, _)| f..=l)
    }
}

/// Why an acknowledgement was refused locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AckRefused {
    /// The record is not in flight: acknowledged already, or never
    /// delivered to this consumer.
    NotInFlight,
}

/// Records in flight and acknowledgements waiting to be sent.
#[derive(Debug, Default)]
pub(crate) struct AckBook {
    /// Handed out (or buffered for the application), not acknowledged.
    in_flight: BTreeMap<PartitionKey, BTreeSet<i64>>,
    in_flight_count: usize,
    /// Acknowledged, not yet sent: offset to wire type.
    pending: BTreeMap<PartitionKey, BTreeMap<i64, i8>>,
}

impl AckBook {
    /// How many records are in flight.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight_count
    }

    /// Whether acknowledgements wait to be sent.
    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Whether acknowledgements wait for a partition `which` says yes to.
    pub(crate) fn has_pending_for(&self, which: impl FnMut(&PartitionKey) -> bool) -> bool {
        self.pending.keys().any(which)
    }

    /// A record of `key` at `offset` was acquired and is handed out.
    pub(crate) fn deliver(&mut self, key: PartitionKey, offset: i64) {
        if self.in_flight.entry(key).or_default().insert(offset) {
            self.in_flight_count += 1;
        }
    }

    /// An acquired offset with nothing to hand out: a gap to acknowledge.
    pub(crate) fn gap(&mut self, key: PartitionKey, offset: i64) {
        self.pending.entry(key).or_default().insert(offset, GAP);
    }

    /// Releases at once an acquired offset that is not handed out (past
    /// the in-flight bound, or in a batch that could not be read).
    pub(crate) fn release_undelivered(&mut self, key: PartitionKey, offset: i64) {
        self.pending.entry(key).or_default().insert(offset, RELEASE);
    }

    /// The application acknowledged a record in flight.
    pub(crate) fn acknowledge(
        &mut self,
        key: PartitionKey,
        offset: i64,
        kind: AcknowledgeType,
    ) -> Result<(), AckRefused> {
        let set = self
            .in_flight
            .get_mut(&key)
            .ok_or(AckRefused::NotInFlight)?;
        if !set.remove(&offset) {
            return Err(AckRefused::NotInFlight);
        }
        if set.is_empty() {
            self.in_flight.remove(&key);
        }
        self.in_flight_count -= 1;
        self.pending
            .entry(key)
            .or_default()
            .insert(offset, kind.wire());
        Ok(())
    }

    /// Takes the acknowledgements waiting for the partitions `wanted`
    /// says yes to, batched into ranges.
    pub(crate) fn take_pending(
        &mut self,
        mut wanted: impl FnMut(&PartitionKey) -> bool,
    ) -> Vec<(PartitionKey, Vec<AcknowledgementBatch>)> {
        let keys: Vec<PartitionKey> = self.pending.keys().filter(|k| wanted(k)).copied().collect();
        keys.into_iter()
            .filter_map(|k| self.pending.remove(&k).map(|acks| (k, batches(&acks))))
            .collect()
    }
}

/// Batches acknowledgements into ranges of consecutive offsets of one
/// type each: the fewest batches that a single type per batch allows.
pub(crate) fn batches(acks: &BTreeMap<i64, i8>) -> Vec<AcknowledgementBatch> {
    let mut out: Vec<AcknowledgementBatch> = Vec::new();
    for (&offset, &kind) in acks {
        if let Some(last) = out.last_mut() {
            if last.last_offset.checked_add(1) == Some(offset)
                && last.acknowledge_types.first() == Some(&kind)
            {
                last.last_offset = offset;
                continue;
            }
        }
        out.push(AcknowledgementBatch {
            first_offset: offset,
            last_offset: offset,
            acknowledge_types: vec![kind],
            ..Default::default()
        });
    }
    out
}

/// The ranges of `batches`, for error messages: `3-5, 9`.
pub(crate) fn describe_ranges(batches: &[AcknowledgementBatch]) -> String {
    batches
        .iter()
        .map(|b| {
            if b.first_offset == b.last_offset {
                b.first_offset.to_string()
            } else {
                format!("{}-{}", b.first_offset, b.last_offset)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> PartitionKey {
        (Uuid([7; 16]), 0)
    }

    fn ranges(b: &[AcknowledgementBatch]) -> Vec<(i64, i64, Vec<i8>)> {
        b.iter()
            .map(|b| (b.first_offset, b.last_offset, b.acknowledge_types.clone()))
            .collect()
    }

    #[test]
    fn consecutive_offsets_of_one_type_become_one_range() {
        let mut book = AckBook::default();
        for o in [10, 11, 12, 13, 15, 16, 20] {
            book.deliver(key(), o);
        }
        assert_eq!(book.in_flight(), 7);
        for o in [10, 11, 12] {
            book.acknowledge(key(), o, AcknowledgeType::Accept).unwrap();
        }
        book.acknowledge(key(), 13, AcknowledgeType::Release)
            .unwrap();
        book.acknowledge(key(), 15, AcknowledgeType::Reject)
            .unwrap();
        book.acknowledge(key(), 16, AcknowledgeType::Reject)
            .unwrap();
        book.gap(key(), 14);
        assert_eq!(book.in_flight(), 1);
        let taken = book.take_pending(|_| true);
        assert_eq!(taken.len(), 1);
        assert_eq!(
            ranges(&taken[0].1),
            vec![
                (10, 12, vec![ACCEPT]),
                (13, 13, vec![RELEASE]),
                (14, 14, vec![GAP]),
                (15, 16, vec![REJECT]),
            ]
        );
        assert_eq!(describe_ranges(&taken[0].1), "10-12, 13, 14, 15-16");
        assert!(!book.has_pending());
    }

    #[test]
    fn a_record_is_acknowledged_once() {
        let mut book = AckBook::default();
        book.deliver(key(), 5);
        book.acknowledge(key(), 5, AcknowledgeType::Accept).unwrap();
        assert_eq!(
            book.acknowledge(key(), 5, AcknowledgeType::Reject),
            Err(AckRefused::NotInFlight)
        );
        assert_eq!(
            book.acknowledge(key(), 6, AcknowledgeType::Accept),
            Err(AckRefused::NotInFlight)
        );
        let taken = book.take_pending(|_| true);
        assert_eq!(ranges(&taken[0].1), vec![(5, 5, vec![ACCEPT])]);
        assert_eq!(book.in_flight(), 0);
    }

    #[test]
    fn pending_is_taken_per_partition() {
        let mut book = AckBook::default();
        let other = (Uuid([8; 16]), 3);
        book.deliver(key(), 1);
        book.deliver(other, 1);
        book.acknowledge(key(), 1, AcknowledgeType::Accept).unwrap();
        book.acknowledge(other, 1, AcknowledgeType::Release)
            .unwrap();
        assert_eq!(book.in_flight(), 0);
        assert!(book.has_pending_for(|k| *k == other));
        assert!(!book.has_pending_for(|k| k.1 == 9));
        let taken = book.take_pending(|k| *k == other);
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].0, other);
        assert!(book.has_pending());
    }

    #[test]
    fn only_acquired_offsets_are_found_with_their_counts() {
        let acquired = Acquired::new(&[
            AcquiredRecords {
                first_offset: 20,
                last_offset: 22,
                delivery_count: 2,
                ..Default::default()
            },
            AcquiredRecords {
                first_offset: 5,
                last_offset: 9,
                delivery_count: 1,
                ..Default::default()
            },
            AcquiredRecords {
                first_offset: 30,
                last_offset: 29,
                delivery_count: 1,
                ..Default::default()
            },
            AcquiredRecords {
                first_offset: 8,
                last_offset: 12,
                delivery_count: 4,
                ..Default::default()
            },
        ]);
        assert_eq!(acquired.delivery_count(4), None);
        assert_eq!(acquired.delivery_count(5), Some(1));
        assert_eq!(acquired.delivery_count(9), Some(1));
        assert_eq!(acquired.delivery_count(10), None);
        assert_eq!(acquired.delivery_count(21), Some(2));
        assert_eq!(acquired.delivery_count(23), None);
        assert_eq!(acquired.delivery_count(29), None);
        assert_eq!(acquired.len(), 8);
        assert_eq!(
            acquired.offsets().collect::<Vec<_>>(),
            vec![5, 6, 7, 8, 9, 20, 21, 22]
        );
    }
}
