//! The rebalance listener of the Kafka subscriber's consumers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use mq_client::kafka::{Rebalance, RebalanceListener, TopicPartition};

use crate::offsets::OffsetTracker;

pub(super) type Tracker = Arc<Mutex<OffsetTracker>>;

pub(super) fn lock(t: &Tracker) -> MutexGuard<'_, OffsetTracker> {
    t.lock().unwrap_or_else(|p| p.into_inner())
}

/// Tracks assignments, and before partitions go lets their in-flight
/// records finish (up to the drain timeout; records parked behind a held
/// key are not waited for) and commits their processed prefix.
pub(super) struct Listener {
    pub(super) tracker: Tracker,
    pub(super) drain: Duration,
    pub(super) closing: Arc<AtomicBool>,
}

impl RebalanceListener for Listener {
    async fn on_assigned(&mut self, _ctx: &mut Rebalance<'_>, partitions: &[TopicPartition]) {
        let mut t = lock(&self.tracker);
        for tp in partitions {
            t.assign(tp);
        }
        tracing::info!(partitions = ?partitions, "partitions assigned");
    }

    async fn on_revoked(&mut self, ctx: &mut Rebalance<'_>, partitions: &[TopicPartition]) {
        let deadline = Instant::now() + self.drain;
        // On close the subscriber has drained already.
        while !self.closing.load(Ordering::Acquire) && Instant::now() < deadline {
            let busy: usize = {
                let t = lock(&self.tracker);
                partitions.iter().map(|tp| t.busy(tp)).sum()
            };
            if busy == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Marked processed, then committed: after this listener the
        // consumer commits every processed mark not yet committed, and a
        // `ctx.commit` alone would leave an older mark (from the last
        // periodic commit) to move the committed offset back.
        let commits = lock(&self.tracker).commits_for(partitions);
        if !commits.is_empty() {
            for (tp, oe) in commits {
                ctx.mark_processed(tp, oe);
            }
            if let Err(e) = ctx.commit_processed().await {
                tracing::warn!(error = %e, "commit on revoke failed");
            }
        }
        let mut t = lock(&self.tracker);
        for tp in partitions {
            t.revoke(tp);
        }
        tracing::info!(partitions = ?partitions, "partitions revoked");
    }

    async fn on_lost(&mut self, _ctx: &mut Rebalance<'_>, partitions: &[TopicPartition]) {
        let mut t = lock(&self.tracker);
        for tp in partitions {
            t.revoke(tp);
        }
        tracing::warn!(partitions = ?partitions, "partitions lost");
    }
}
