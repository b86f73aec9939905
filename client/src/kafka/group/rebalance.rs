//! The consumer's side of a rebalance, run inside the application's
//! `next()` call: revoking partitions (listener, commit, stop fetching),
//! reporting lost ones, and taking up new ones (committed offsets, epoch
//! check, seek, listener). Also [`Rebalance`], what the listener gets.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::mpsc;
use tracing::{info, warn};

use super::config::GroupProtocol;
use super::listener::RebalanceListener;
use super::membership::{self, JoinParams, Joined, Phase, Shared, Target};
use super::offsets::{
    self, enqueue, enqueue_processed, fetch_committed_stable, validate_positions,
};
use super::progress::Progress;
use super::topic_partition::{Compact, OffsetAndEpoch, TopicPartition};
use crate::backoff::Backoff;
use crate::kafka::cluster::lock;
use crate::kafka::error::{Error, Result};
use crate::kafka::reader::{ConsumerRecord, Offset, OffsetReset, PartitionReader};

/// A join running in its own task; aborted when dropped.
#[derive(Debug)]
pub(crate) struct JoinTask(tokio::task::JoinHandle<Result<Joined>>);

impl Drop for JoinTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Work that needs the listener, run as one future inside `next()`.
#[derive(Debug)]
pub(crate) enum Work {
    /// A join finished: take up the assignment.
    Apply(Joined),
    /// The membership was lost: report and drop every partition.
    Lost,
    /// Eager protocol: revoke everything before rejoining.
    RevokeAll,
    /// Revoke partitions of topics no longer subscribed before rejoining.
    RevokeUnsubscribed,
    /// Newly assigned partitions still need their positions.
    Position,
    /// Consumer protocol: take up the coordinator's assignment (revoke,
    /// then assign), then report it.
    Reconcile(Target),
}

/// What the consumer must do before handing out more records.
#[derive(Debug)]
pub(crate) enum Step {
    Run(Work),
    Fail(Error),
}

/// The consumer's state apart from the listener.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) shared: Arc<Shared>,
    pub(crate) reader: PartitionReader,
    pub(crate) reset: OffsetReset,
    pub(crate) cooperative: bool,
    /// Partitions assigned, as applied to the reader.
    pub(crate) assigned: BTreeSet<TopicPartition>,
    pub(crate) paused: BTreeSet<TopicPartition>,
    /// Assigned partitions whose position is still to be fetched.
    pub(crate) unpositioned: BTreeSet<TopicPartition>,
    /// Assigned partitions with no committed offset and no reset policy:
    /// they wait for the application to seek.
    pub(crate) awaiting_seek: BTreeSet<TopicPartition>,
    /// Records fetched but not yet handed out by the `Stream`.
    pub(crate) pending: std::collections::VecDeque<ConsumerRecord>,
    pub(crate) pending_error: Option<Error>,
    /// With auto-commit: what the application was handed and processed.
    pub(crate) progress: Progress,
    pub(crate) doorbell: mpsc::Receiver<()>,
    /// The doorbell count at the last full membership check.
    pub(crate) seen_events: u64,
    /// Check the membership fully at the next poll.
    pub(crate) recheck: bool,
    pub(crate) join: Option<JoinTask>,
    /// No join before this (after a failed one).
    pub(crate) join_retry: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    /// No position fetch before this (after a failed one).
    pub(crate) position_retry: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    pub(crate) backoff: Backoff,
    /// Records behind the high watermark, per partition, as of the last
    /// batch.
    pub(crate) lag: HashMap<TopicPartition, i64>,
}

impl Inner {
    /// Checks the membership; `None` if records may be handed out. Costs
    /// one atomic load unless something rang the doorbell, work is under
    /// way, or the last check asked for work.
    pub(crate) fn poll_group(&mut self, cx: &mut Context<'_>) -> Option<Step> {
        let events = self
            .shared
            .events
            .load(std::sync::atomic::Ordering::Acquire);
        if events == self.seen_events
            && !self.recheck
            && self.join.is_none()
            && self.join_retry.is_none()
            && self.unpositioned.is_empty()
        {
            return None;
        }
        self.seen_events = events;
        self.recheck = false;
        let step = self.check_group(cx);
        if step.is_some() {
            // Look again once the work is done.
            self.recheck = true;
        }
        step
    }

    /// Whether the doorbell rang (registering the waker if not): call
    /// before waiting, so a ring after the last check wakes the consumer.
    pub(crate) fn rang(&mut self, cx: &mut Context<'_>) -> bool {
        let mut rang = false;
        while let Poll::Ready(Some(())) = self.doorbell.poll_recv(cx) {
            rang = true;
        }
        rang
    }

    fn check_group(&mut self, cx: &mut Context<'_>) -> Option<Step> {
        loop {
            while let Poll::Ready(Some(())) = self.doorbell.poll_recv(cx) {}
            let (phase, rejoin, lost, fenced, fatal) = {
                let m = self.shared.member();
                (
                    m.phase,
                    m.rejoin.clone(),
                    m.lost.is_some(),
                    m.fenced,
                    m.fatal.clone(),
                )
            };
            if let Some((code, message)) = fatal {
                return Some(Step::Fail(Error::broker(code, message)));
            }
            if fenced {
                return Some(Step::Fail(Error::broker(
                    kafka_proto::ErrorCode::FENCED_INSTANCE_ID,
                    format!(
                        "group {}: another consumer with this group instance id joined",
                        self.shared.settings.group_id
                    ),
                )));
            }
            if lost && self.join.is_none() {
                return Some(Step::Run(Work::Lost));
            }
            if self.shared.settings.protocol == GroupProtocol::Consumer {
                return self.check_consumer_protocol(cx);
            }
            if self.join.is_none()
                && self.assigned.is_empty()
                && lock(&self.shared.subscription).is_none()
            {
                return Some(Step::Fail(Error::Config(
                    "the consumer is not subscribed to any topic: call subscribe first".into(),
                )));
            }
            if let Some(join) = self.join.as_mut() {
                match std::pin::Pin::new(&mut join.0).poll(cx) {
                    Poll::Pending => {}
                    Poll::Ready(result) => {
                        self.join = None;
                        match result.unwrap_or(Err(Error::Closed)) {
                            Ok(joined) => {
                                self.backoff.reset();
                                return Some(Step::Run(Work::Apply(joined)));
                            }
                            Err(e) => {
                                let delay =
                                    self.backoff.next_delay().unwrap_or(Duration::from_secs(1));
                                warn!(group = %self.shared.settings.group_id, error = %e, retry_in = ?delay,
                                      "joining the group failed");
                                {
                                    let mut m = self.shared.member();
                                    if m.phase == Phase::Joining {
                                        m.phase = Phase::Unjoined;
                                    }
                                    m.rejoin
                                        .get_or_insert_with(|| "retrying a failed join".into());
                                }
                                self.join_retry = Some(Box::pin(tokio::time::sleep(delay)));
                                return Some(Step::Fail(e));
                            }
                        }
                    }
                }
            } else if lock(&self.shared.subscription).is_some()
                && (phase == Phase::Unjoined || rejoin.is_some())
            {
                if let Some(t) = self.join_retry.as_mut() {
                    if t.as_mut().poll(cx).is_pending() {
                        return self.positions_step(cx);
                    }
                    self.join_retry = None;
                }
                if !self.cooperative && !self.assigned.is_empty() {
                    return Some(Step::Run(Work::RevokeAll));
                }
                if !self.unsubscribed().is_empty() {
                    // Cooperative: partitions of topics no longer
                    // subscribed go before the join, or the leader could
                    // hand them to another member while this one reads them.
                    return Some(Step::Run(Work::RevokeUnsubscribed));
                }
                self.start_join(rejoin);
                continue;
            }
            return self.positions_step(cx);
        }
    }

    /// The consumer protocol's check: the background heartbeat joins and
    /// keeps the membership; the consumer takes up assignments.
    fn check_consumer_protocol(&mut self, cx: &mut Context<'_>) -> Option<Step> {
        if self.assigned.is_empty() && lock(&self.shared.subscription).is_none() {
            return Some(Step::Fail(Error::Config(
                "the consumer is not subscribed to any topic: call subscribe first".into(),
            )));
        }
        if let Some(target) = lock(&self.shared.target).take() {
            let epoch = self.shared.member().generation;
            if target.epoch >= epoch {
                return Some(Step::Run(Work::Reconcile(target)));
            }
            // Sent before a newer epoch, whose own assignment follows.
        }
        self.positions_step(cx)
    }

    fn positions_step(&mut self, cx: &mut Context<'_>) -> Option<Step> {
        if self.unpositioned.is_empty() {
            return None;
        }
        if let Some(t) = self.position_retry.as_mut() {
            if t.as_mut().poll(cx).is_pending() {
                return None;
            }
            self.position_retry = None;
        }
        Some(Step::Run(Work::Position))
    }

    /// Assigned partitions of topics no longer subscribed.
    fn unsubscribed(&self) -> Vec<TopicPartition> {
        let topics = lock(&self.shared.topics);
        self.assigned
            .iter()
            .filter(|tp| !topics.contains(&*tp.topic))
            .cloned()
            .collect()
    }

    fn start_join(&mut self, reason: Option<String>) {
        let topics: Vec<String> = lock(&self.shared.topics).iter().cloned().collect();
        let (owned, generation) = {
            let mut m = self.shared.member();
            let keep = self.cooperative && !self.assigned.is_empty() && m.generation >= 0;
            let generation = if keep { m.generation } else { -1 };
            m.phase = Phase::Joining;
            m.rejoin = None;
            let owned = if keep {
                self.assigned.iter().cloned().collect()
            } else {
                Vec::new()
            };
            (owned, generation)
        };
        let params = JoinParams {
            topics,
            owned,
            generation,
            reason: reason.unwrap_or_else(|| "joining".into()),
        };
        let shared = self.shared.clone();
        let task = tokio::spawn(async move {
            let result = membership::join(shared.clone(), params).await;
            shared.ring();
            result
        });
        self.join = Some(JoinTask(task));
    }

    /// Stops reading `parts` and forgets their local state.
    async fn drop_partitions(&mut self, parts: &[TopicPartition]) -> Result<()> {
        for tp in parts {
            self.assigned.remove(tp);
            self.paused.remove(tp);
            self.unpositioned.remove(tp);
            self.awaiting_seek.remove(tp);
            self.lag.remove(tp);
            self.progress.forget(tp);
            self.pending
                .retain(|r| !(r.partition == tp.partition && r.topic == tp.topic));
            self.reader.unassign(&tp.topic, tp.partition).await?;
        }
        {
            let mut o = lock(&self.shared.offsets);
            for tp in parts {
                o.processed.remove(tp);
            }
        }
        self.shared.set_assignment(self.assigned.clone());
        Ok(())
    }

    /// Fetches committed offsets for the unpositioned partitions, checks
    /// them against the log, and seeks.
    pub(crate) async fn position(&mut self) -> Result<()> {
        let parts: Vec<TopicPartition> = self.unpositioned.iter().cloned().collect();
        if parts.is_empty() {
            return Ok(());
        }
        let timeout = self.shared.settings.commit_timeout;
        let stable = self.shared.settings.require_stable;
        let committed =
            match fetch_committed_stable(&self.shared.coordinator, &parts, timeout, stable).await {
                Ok(c) => c,
                Err(e) => {
                    let delay = self.shared.coordinator.cluster().config().retry_backoff.max;
                    self.position_retry = Some(Box::pin(tokio::time::sleep(delay)));
                    return Err(e);
                }
            };
        let mut found: BTreeMap<TopicPartition, OffsetAndEpoch> = BTreeMap::new();
        let mut reset: Vec<TopicPartition> = Vec::new();
        for (tp, c) in committed {
            if !self.unpositioned.contains(&tp) {
                continue;
            }
            match c {
                Some(oe) => {
                    found.insert(tp, oe);
                }
                None => reset.push(tp),
            }
        }
        validate_positions(self.reader.cluster(), &mut found).await;
        for (tp, oe) in &found {
            self.reader
                .seek(&tp.topic, tp.partition, Offset::At(oe.offset))
                .await?;
            self.unpositioned.remove(tp);
            lock(&self.shared.offsets).committed.insert(tp.clone(), *oe);
        }
        if !found.is_empty() {
            info!(group = %self.shared.settings.group_id,
                  positions = ?found.iter().map(|(tp, oe)| (tp.to_string(), oe.offset)).collect::<Vec<_>>(),
                  "resuming from committed offsets");
        }
        let mut missing = None;
        let mut reset_to = Vec::new();
        for tp in reset {
            let offset = match self.reset {
                OffsetReset::Earliest => Offset::Earliest,
                OffsetReset::Latest => Offset::Latest,
                OffsetReset::None => {
                    self.unpositioned.remove(&tp);
                    self.awaiting_seek.insert(tp.clone());
                    missing.get_or_insert(Error::NoOffset {
                        topic: tp.topic.to_string(),
                        partition: tp.partition,
                    });
                    continue;
                }
            };
            self.reader.seek(&tp.topic, tp.partition, offset).await?;
            self.unpositioned.remove(&tp);
            reset_to.push(tp);
        }
        if !reset_to.is_empty() {
            info!(group = %self.shared.settings.group_id, partitions = %Compact(&reset_to),
                  reset = ?self.reset, "no committed offset; starting per auto_offset_reset");
        }
        match missing {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Runs `work` with the listener.
pub(crate) async fn run<L: RebalanceListener>(
    listener: &mut L,
    inner: &mut Inner,
    work: Work,
) -> Result<()> {
    match work {
        Work::Lost => {
            let parts: Vec<TopicPartition> = inner.assigned.iter().cloned().collect();
            if !parts.is_empty() {
                info!(group = %inner.shared.settings.group_id, lost = %Compact(&parts),
                      "partitions lost (no commit: another member may own them)");
                listener
                    .on_lost(&mut Rebalance { inner: &mut *inner }, &parts)
                    .await;
                inner.drop_partitions(&parts).await?;
            }
            inner.shared.member().lost = None;
            // Consumer protocol: rejoin now that they are reported.
            inner.shared.heartbeat_now.notify_one();
            Ok(())
        }
        Work::RevokeAll => {
            let parts: Vec<TopicPartition> = inner.assigned.iter().cloned().collect();
            revoke(listener, inner, &parts).await
        }
        Work::RevokeUnsubscribed => {
            let parts = inner.unsubscribed();
            revoke(listener, inner, &parts).await
        }
        Work::Apply(joined) => apply(listener, inner, joined).await,
        Work::Position => inner.position().await,
        Work::Reconcile(target) => reconcile(listener, inner, target).await,
    }
}

/// Revokes `parts`: the listener (which may commit), a commit of what was
/// processed, then the partitions are dropped.
pub(crate) async fn revoke<L: RebalanceListener>(
    listener: &mut L,
    inner: &mut Inner,
    parts: &[TopicPartition],
) -> Result<()> {
    if parts.is_empty() {
        return Ok(());
    }
    info!(group = %inner.shared.settings.group_id, revoked = %Compact(parts), "revoking partitions");
    inner.settle_if_auto();
    listener
        .on_revoked(&mut Rebalance { inner: &mut *inner }, parts)
        .await;
    if let Err(e) = enqueue_processed(&inner.shared, Some(parts)).await {
        warn!(group = %inner.shared.settings.group_id, error = %e,
              "committing processed offsets of revoked partitions failed");
    }
    inner.drop_partitions(parts).await
}

impl Inner {
    /// With auto-commit on, what was last handed out is processed once the
    /// consumer rebalances inside the application's next call.
    pub(crate) fn settle_if_auto(&mut self) {
        if self.shared.settings.auto_commit.is_some() {
            self.progress.settle(&self.shared);
        }
    }
}

/// The partitions of `assignment` this member subscribed to: a leader may
/// only hand out those (anything else is a leader's bug, not to be read),
/// and a coordinator may send an assignment made before a subscription
/// change.
fn subscribed(inner: &Inner, assignment: &[TopicPartition]) -> BTreeSet<TopicPartition> {
    let subscription = lock(&inner.shared.subscription);
    assignment
        .iter()
        .filter(|tp| {
            let ok = subscription.as_ref().is_some_and(|s| s.matches(&tp.topic));
            if !ok {
                warn!(group = %inner.shared.settings.group_id, partition = %tp,
                      "assigned a partition of a topic not subscribed; ignored");
            }
            ok
        })
        .cloned()
        .collect()
}

/// Consumer protocol: revokes what the coordinator took away (listener,
/// commit), reports it at once so the coordinator can move it, then takes
/// up what it added (positions, listener) and reports that.
async fn reconcile<L: RebalanceListener>(
    listener: &mut L,
    inner: &mut Inner,
    target: Target,
) -> Result<()> {
    let new = subscribed(inner, &target.partitions);
    let revoked: Vec<TopicPartition> = inner.assigned.difference(&new).cloned().collect();
    let added: Vec<TopicPartition> = new.difference(&inner.assigned).cloned().collect();
    if !revoked.is_empty() {
        revoke(listener, inner, &revoked).await?;
        inner.shared.heartbeat_now.notify_one();
    }
    if added.is_empty() {
        return Ok(());
    }
    inner.assigned.extend(added.iter().cloned());
    inner.unpositioned.extend(added.iter().cloned());
    inner.shared.set_assignment(inner.assigned.clone());
    inner.shared.heartbeat_now.notify_one();
    info!(group = %inner.shared.settings.group_id, epoch = target.epoch,
          assigned = %Compact(&added), total = inner.assigned.len(), "partitions assigned");
    let positioned = inner.position().await;
    listener
        .on_assigned(&mut Rebalance { inner: &mut *inner }, &added)
        .await;
    positioned
}

async fn apply<L: RebalanceListener>(
    listener: &mut L,
    inner: &mut Inner,
    joined: Joined,
) -> Result<()> {
    let new = subscribed(inner, &joined.assignment);
    let revoked: Vec<TopicPartition> = inner.assigned.difference(&new).cloned().collect();
    let added: Vec<TopicPartition> = new.difference(&inner.assigned).cloned().collect();
    if !revoked.is_empty() {
        // Cooperative: these go to other members in the next rebalance,
        // once this member has let them go.
        revoke(listener, inner, &revoked).await?;
        inner
            .shared
            .request_rejoin("revoked partitions to hand over");
    }
    if added.is_empty() {
        return Ok(());
    }
    inner.assigned.extend(added.iter().cloned());
    inner.unpositioned.extend(added.iter().cloned());
    inner.shared.set_assignment(inner.assigned.clone());
    info!(group = %inner.shared.settings.group_id, member_id = %joined.member_id,
          generation = joined.generation, assignor = %joined.assignor, leader = joined.leader,
          assigned = %Compact(&added), total = inner.assigned.len(), "partitions assigned");
    let positioned = inner.position().await;
    listener
        .on_assigned(&mut Rebalance { inner: &mut *inner }, &added)
        .await;
    positioned
}

/// What a [`RebalanceListener`] gets: the consumer, to commit, seek and
/// look around while it rebalances.
#[derive(Debug)]
pub struct Rebalance<'a> {
    pub(crate) inner: &'a mut Inner,
}

impl Rebalance<'_> {
    /// The member id the coordinator gave this consumer.
    pub fn member_id(&self) -> String {
        self.inner.shared.member().member_id.clone()
    }

    /// The group generation.
    pub fn generation(&self) -> i32 {
        self.inner.shared.member().generation
    }

    /// The partitions owned now (revoked ones included until
    /// [`RebalanceListener::on_revoked`] returns).
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.inner.assigned.iter().cloned().collect()
    }

    /// Commits `offsets` (the next offset to read per partition) and waits.
    /// They also become the partitions' processed marks, so that the
    /// commit of processed offsets after the listener returns cannot move
    /// a committed offset back to an older mark.
    pub async fn commit(&mut self, offsets: &[(TopicPartition, OffsetAndEpoch)]) -> Result<()> {
        {
            let mut o = lock(&self.inner.shared.offsets);
            for (tp, oe) in offsets {
                o.processed.insert(tp.clone(), *oe);
            }
        }
        enqueue(&self.inner.shared, offsets.iter().cloned()).await
    }

    /// Commits every offset marked processed and not yet committed.
    pub async fn commit_processed(&mut self) -> Result<()> {
        self.inner.settle_if_auto();
        enqueue_processed(&self.inner.shared, None).await
    }

    /// Marks `offset` processed for `tp`, to be committed with the others.
    pub fn mark_processed(&mut self, tp: TopicPartition, offset: OffsetAndEpoch) {
        lock(&self.inner.shared.offsets)
            .processed
            .insert(tp, offset);
    }

    /// The committed offsets of `partitions`.
    pub async fn committed(
        &mut self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, Option<OffsetAndEpoch>>> {
        let timeout = self.inner.shared.settings.commit_timeout;
        offsets::fetch_committed(&self.inner.shared.coordinator, partitions, timeout).await
    }

    /// Moves an assigned partition's position.
    pub async fn seek(&mut self, tp: &TopicPartition, offset: Offset) -> Result<()> {
        seek(self.inner, tp, offset).await
    }
}

/// Seeks an assigned partition (the consumer's and the listener's seek).
pub(crate) async fn seek(inner: &mut Inner, tp: &TopicPartition, offset: Offset) -> Result<()> {
    if !inner.assigned.contains(tp) {
        return Err(Error::NotAssigned {
            topic: tp.topic.to_string(),
            partition: tp.partition,
        });
    }
    inner.unpositioned.remove(tp);
    inner.awaiting_seek.remove(tp);
    inner.progress.forget(tp);
    inner
        .pending
        .retain(|r| !(r.partition == tp.partition && r.topic == tp.topic));
    inner.reader.seek(&tp.topic, tp.partition, offset).await
}
