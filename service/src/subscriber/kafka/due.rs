//! The Kafka retry stages' records, held until due.
//!
//! Each stage topic has one delay, so each of its partitions is in due
//! order: the loop of the stages takes a partition's head record, and if
//! it is not due yet, pauses that partition alone and keeps the record
//! here until it is. Records of the other partitions and stages flow
//! meanwhile.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mq_client::kafka::{ConsumerRecord, TopicPartition};
use tokio::time::Instant;

use crate::delayed_retry::DUE;

/// The held records of the stage topics.
#[derive(Debug, Default)]
pub(super) struct Due {
    /// Stage topic -> (its first stage, its delay).
    stages: HashMap<String, (u32, Duration)>,
    held: HashMap<TopicPartition, (Instant, ConsumerRecord)>,
}

impl Due {
    /// The stages' topics, in stage order, with their delays.
    pub(super) fn new(topics: &[String], delays: &[Duration]) -> Self {
        let mut stages = HashMap::new();
        for (i, (topic, &delay)) in topics.iter().zip(delays).enumerate() {
            let stage = u32::try_from(i + 1).unwrap_or(u32::MAX);
            stages.entry(topic.clone()).or_insert((stage, delay));
        }
        Due {
            stages,
            held: HashMap::new(),
        }
    }

    /// The stage of a topic, for a record without a stage header.
    pub(super) fn stage_of(&self, topic: &str) -> u32 {
        self.stages.get(topic).map_or(1, |s| s.0)
    }

    /// When `r` is due, as an instant of this process: its [`DUE`]
    /// header, else its timestamp plus its topic's delay.
    pub(super) fn due_at(&self, r: &ConsumerRecord, now: Instant, wall: SystemTime) -> Instant {
        let header = r
            .headers
            .iter()
            .rev()
            .find(|(k, _)| &k[..] == DUE.as_bytes())
            .and_then(|(_, v)| {
                std::str::from_utf8(v.as_deref()?)
                    .ok()?
                    .trim()
                    .parse::<u64>()
                    .ok()
            });
        let due_ms = header.unwrap_or_else(|| {
            let delay = self.stages.get(&*r.topic).map_or(Duration::ZERO, |s| s.1);
            u64::try_from(r.timestamp.max(0)).unwrap_or(0)
                + u64::try_from(delay.as_millis()).unwrap_or(u64::MAX)
        });
        let due = UNIX_EPOCH + Duration::from_millis(due_ms);
        match due.duration_since(wall) {
            Ok(ahead) => now + ahead,
            Err(_) => now,
        }
    }

    /// Holds `r` until `due`; a record held before for its partition is
    /// dropped (the partition was assigned again, and this is its head).
    pub(super) fn hold(&mut self, r: ConsumerRecord, due: Instant) -> Option<ConsumerRecord> {
        let tp = TopicPartition::new(r.topic.clone(), r.partition);
        self.held.insert(tp, (due, r)).map(|(_, old)| old)
    }

    /// Drops the record held for `tp`, if any (it is fetched again).
    pub(super) fn forget(&mut self, tp: &TopicPartition) -> Option<ConsumerRecord> {
        self.held.remove(tp).map(|(_, r)| r)
    }

    /// The earliest due time.
    pub(super) fn next(&self) -> Option<Instant> {
        self.held.values().map(|(due, _)| *due).min()
    }

    /// Takes the earliest record that is due at `now`.
    pub(super) fn take_due(&mut self, now: Instant) -> Option<(TopicPartition, ConsumerRecord)> {
        let tp = self
            .held
            .iter()
            .filter(|(_, (due, _))| *due <= now)
            .min_by_key(|(_, (due, _))| *due)
            .map(|(tp, _)| tp.clone())?;
        self.held.remove(&tp).map(|(_, r)| (tp, r))
    }

    /// Records held.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.held.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn record(topic: &str, partition: i32, ts: i64, due: Option<u64>) -> ConsumerRecord {
        ConsumerRecord {
            topic: topic.into(),
            partition,
            offset: 0,
            timestamp: ts,
            key: None,
            value: None,
            headers: due
                .map(|d| {
                    (
                        Bytes::from_static(DUE.as_bytes()),
                        Some(Bytes::from(d.to_string())),
                    )
                })
                .into_iter()
                .collect(),
            leader_epoch: 0,
        }
    }

    #[test]
    fn records_are_due_by_header_or_timestamp_plus_delay() {
        let topics = ["o.g.retry.1s".to_owned(), "o.g.retry.10s".to_owned()];
        let due = Due::new(&topics, &[Duration::from_secs(1), Duration::from_secs(10)]);
        assert_eq!(due.stage_of("o.g.retry.10s"), 2);
        let now = Instant::now();
        let wall = UNIX_EPOCH + Duration::from_secs(1000);
        let r = record(&topics[0], 0, 0, Some(1_000_500));
        assert_eq!(due.due_at(&r, now, wall), now + Duration::from_millis(500));
        let r = record(&topics[1], 0, 995_000, None);
        assert_eq!(due.due_at(&r, now, wall), now + Duration::from_secs(5));
        let past = record(&topics[0], 0, 0, Some(10));
        assert_eq!(due.due_at(&past, now, wall), now);
    }

    #[test]
    fn the_earliest_due_record_comes_out_first() {
        let mut due = Due::new(&["t".to_owned()], &[Duration::from_secs(1)]);
        let now = Instant::now();
        let s = Duration::from_secs;
        assert!(due.hold(record("t", 0, 0, None), now + s(2)).is_none());
        assert!(due.hold(record("t", 1, 0, None), now + s(1)).is_none());
        assert_eq!(due.next(), Some(now + s(1)));
        assert!(due.take_due(now).is_none());
        let (tp, _) = due.take_due(now + s(3)).unwrap();
        assert_eq!(tp.partition, 1);
        // A new head for a partition replaces the one held.
        assert!(due.hold(record("t", 0, 0, None), now + s(5)).is_some());
        assert_eq!(due.len(), 1);
        assert!(due.forget(&TopicPartition::new("t", 0)).is_some());
        assert_eq!(due.next(), None);
    }
}
