//! With auto-commit: what the application was handed and what it has
//! processed, for the partition it is reading now.
//!
//! A record counts as processed once the application asks for the next
//! one. Processed positions are published to the shared map the committer
//! reads when the partition changes, when the consumer waits for records,
//! at batch boundaries, before rebalance work or a close, and when the
//! committer asks (its auto-commit tick sets a flag the consumer checks
//! per record): handing out a record costs a few comparisons and a relaxed
//! load, not a lock and a map insert.

use std::sync::Arc;

use super::membership::Shared;
use super::topic_partition::{OffsetAndEpoch, TopicPartition};
use crate::kafka::cluster::lock;

#[derive(Debug)]
struct Current {
    tp: TopicPartition,
    /// Handed out, not yet known to be processed.
    handed: Option<OffsetAndEpoch>,
    /// Processed, not yet published.
    processed: Option<OffsetAndEpoch>,
}

/// The application's progress through the current partition.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    current: Option<Current>,
}

impl Progress {
    /// The application asks for more: what it was handed is processed.
    pub(crate) fn next_asked(&mut self) {
        if let Some(c) = &mut self.current {
            if let Some(h) = c.handed.take() {
                c.processed = Some(h);
            }
        }
    }

    /// Records up to `next` (exclusive) of `topic`/`partition` were handed
    /// out.
    pub(crate) fn handed(
        &mut self,
        shared: &Shared,
        topic: &Arc<str>,
        partition: i32,
        next: OffsetAndEpoch,
    ) {
        match &mut self.current {
            Some(c)
                if c.tp.partition == partition
                    && (Arc::ptr_eq(&c.tp.topic, topic) || c.tp.topic == *topic) =>
            {
                c.handed = Some(next);
            }
            _ => {
                self.publish(shared);
                self.current = Some(Current {
                    tp: TopicPartition {
                        topic: topic.clone(),
                        partition,
                    },
                    handed: Some(next),
                    processed: None,
                });
            }
        }
    }

    /// Publishes what was processed to the committer's map.
    pub(crate) fn publish(&mut self, shared: &Shared) {
        if let Some(c) = &mut self.current {
            if let Some(p) = c.processed.take() {
                lock(&shared.offsets).processed.insert(c.tp.clone(), p);
            }
        }
    }

    /// Everything handed out counts as processed (the application is in a
    /// rebalance callback or closing), and is published.
    pub(crate) fn settle(&mut self, shared: &Shared) {
        self.next_asked();
        self.publish(shared);
    }

    /// Forgets `tp` (revoked, lost or sought).
    pub(crate) fn forget(&mut self, tp: &TopicPartition) {
        if self.current.as_ref().is_some_and(|c| &c.tp == tp) {
            self.current = None;
        }
    }
}
