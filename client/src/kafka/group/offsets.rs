//! Offsets: committing (sync, async and auto-commit, all through one
//! committer task, so commits reach the coordinator in the order they were
//! made), fetching committed offsets on assignment (OffsetFetch), and
//! checking them against the log (OffsetForLeaderEpoch).
//!
//! Commits queued while one is in flight are merged (the newest offset per
//! partition wins) into the next OffsetCommit. Every committed offset
//! carries the leader epoch of the last record before it.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use kafka_proto::api::offset_commit::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_proto::api::offset_fetch::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_proto::api::offset_for_leader_epoch::{OffsetForLeaderPartition, OffsetForLeaderTopic};
use kafka_proto::api::{OffsetCommitRequest, OffsetFetchRequest, OffsetForLeaderEpochRequest};
use kafka_proto::{ErrorCode, Uuid};
use tokio::sync::oneshot;
use tracing::{debug, warn};

use super::coordinator::Coordinator;
use super::membership::{Phase, Shared, is_membership_error, retry_after_lookup};
use super::topic_partition::{Compact, OffsetAndEpoch, TopicPartition};
use crate::kafka::cluster::{Cluster, Metadata, lock};
use crate::kafka::error::{Error, Result};

/// Offsets waiting for the committer task, and who waits for them.
#[derive(Debug, Default)]
pub(crate) struct CommitQueue {
    offsets: BTreeMap<TopicPartition, OffsetAndEpoch>,
    waiters: Vec<oneshot::Sender<Result<()>>>,
}

/// The outcome of an asynchronous commit: await it, or drop it (the commit
/// goes ahead either way).
#[derive(Debug)]
#[must_use = "a commit goes ahead when dropped, but its errors are then unseen"]
pub struct CommitFuture {
    rx: Option<oneshot::Receiver<Result<()>>>,
    error: Option<Error>,
}

impl CommitFuture {
    pub(crate) fn failed(error: Error) -> Self {
        CommitFuture {
            rx: None,
            error: Some(error),
        }
    }
}

impl Future for CommitFuture {
    type Output = Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        if let Some(e) = self.error.take() {
            return Poll::Ready(Err(e));
        }
        match self.rx.as_mut() {
            None => Poll::Ready(Err(Error::Closed)),
            Some(rx) => Pin::new(rx)
                .poll(cx)
                .map(|r| r.unwrap_or(Err(Error::Closed))),
        }
    }
}

/// Queues `offsets` for the committer task. Partitions this consumer does
/// not own are refused (committing for them could move another member's
/// position).
pub(crate) fn enqueue(
    shared: &Shared,
    offsets: impl IntoIterator<Item = (TopicPartition, OffsetAndEpoch)>,
) -> CommitFuture {
    let offsets: Vec<(TopicPartition, OffsetAndEpoch)> = offsets.into_iter().collect();
    if let Some((tp, _)) = offsets.iter().find(|(tp, _)| !shared.owns(tp)) {
        return CommitFuture::failed(Error::NotAssigned {
            topic: tp.topic.to_string(),
            partition: tp.partition,
        });
    }
    let (tx, rx) = oneshot::channel();
    {
        let mut q = lock(&shared.commits);
        q.offsets.extend(offsets);
        q.waiters.push(tx);
    }
    shared.commit_wake.notify_one();
    CommitFuture {
        rx: Some(rx),
        error: None,
    }
}

/// Queues every processed offset not yet committed (of owned partitions,
/// or of `only` if given).
pub(crate) fn enqueue_processed(shared: &Shared, only: Option<&[TopicPartition]>) -> CommitFuture {
    let due: Vec<(TopicPartition, OffsetAndEpoch)> = {
        let offsets = lock(&shared.offsets);
        offsets
            .processed
            .iter()
            .filter(|(tp, oe)| offsets.committed.get(*tp) != Some(*oe))
            .filter(|(tp, _)| only.is_none_or(|o| o.contains(tp)))
            .map(|(tp, oe)| (tp.clone(), *oe))
            .collect()
    };
    let owned: Vec<(TopicPartition, OffsetAndEpoch)> =
        due.into_iter().filter(|(tp, _)| shared.owns(tp)).collect();
    enqueue(shared, owned)
}

/// The committer task: sends queued commits one OffsetCommit at a time,
/// and auto-commits processed offsets if configured. Runs until aborted.
pub(crate) async fn run_committer(shared: Arc<Shared>) {
    let mut auto = shared.settings.auto_commit.map(|every| {
        let mut t = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    loop {
        let (offsets, waiters) = {
            let mut q = lock(&shared.commits);
            (
                std::mem::take(&mut q.offsets),
                std::mem::take(&mut q.waiters),
            )
        };
        if waiters.is_empty() && offsets.is_empty() {
            let wake = shared.commit_wake.notified();
            tokio::select! {
                () = wake => {}
                _ = async {
                    match auto.as_mut() {
                        Some(t) => t.tick().await,
                        None => std::future::pending().await,
                    }
                } => {
                    if shared.member().phase == Phase::Stable {
                        // Commit what is published now; ask the consumer to
                        // publish more for the next tick.
                        shared.progress_wanted.store(true, std::sync::atomic::Ordering::Relaxed);
                        // The auto-commit's outcome is logged below.
                        drop(enqueue_processed(&shared, None));
                    }
                }
            }
            continue;
        }
        let result = if offsets.is_empty() {
            Ok(())
        } else {
            commit(&shared, offsets).await
        };
        if let Err(e) = &result {
            if waiters.iter().all(oneshot::Sender::is_closed) {
                warn!(group = %shared.settings.group_id, error = %e, "offset commit failed");
            }
        }
        for w in waiters {
            let _ = w.send(result.clone());
        }
    }
}

/// Sends one commit, retrying what can be retried within `commit_timeout`.
async fn commit(
    shared: &Shared,
    mut offsets: BTreeMap<TopicPartition, OffsetAndEpoch>,
) -> Result<()> {
    let settings = &shared.settings;
    let deadline = tokio::time::Instant::now() + settings.commit_timeout;
    let mut backoff = shared.coordinator.cluster().config().retry_backoff.start();
    loop {
        let (member_id, generation, phase) = {
            let m = shared.member();
            (m.member_id.clone(), m.generation, m.phase)
        };
        if generation < 0 || phase == Phase::Unjoined {
            return Err(Error::CommitFailed {
                code: ErrorCode::NONE,
            });
        }
        let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
        let metadata = shared.coordinator.cluster().metadata();
        for (tp, oe) in &offsets {
            let partition = OffsetCommitRequestPartition {
                partition_index: tp.partition,
                committed_offset: oe.offset,
                committed_leader_epoch: oe.leader_epoch,
                committed_metadata: Some(String::new()),
                ..Default::default()
            };
            match topics.last_mut() {
                Some(t) if t.name == *tp.topic => t.partitions.push(partition),
                // Both the name and the id: v10 names topics by id (an
                // unknown id keeps the request at v9, by name).
                _ => topics.push(OffsetCommitRequestTopic {
                    name: tp.topic.to_string(),
                    topic_id: topic_id(&metadata, &tp.topic),
                    partitions: vec![partition],
                    ..Default::default()
                }),
            }
        }
        let names = names_by_id(topics.iter().map(|t| (t.topic_id, t.name.as_str())));
        let request = OffsetCommitRequest {
            group_id: settings.group_id.to_string(),
            generation_id_or_member_epoch: generation,
            member_id,
            group_instance_id: settings.instance_id.clone(),
            topics,
            ..Default::default()
        };
        let failure = match shared.coordinator.call(request, None).await {
            Err(e) if e.is_retriable() => Some((None, e)),
            Err(e) => return Err(e),
            Ok(response) => {
                let mut first: Option<ErrorCode> = None;
                let mut done = Vec::new();
                for t in &response.topics {
                    let name = topic_name(&names, t.topic_id, &t.name);
                    for p in &t.partitions {
                        let tp = TopicPartition::new(name, p.partition_index);
                        if p.error_code.is_ok() {
                            done.push(tp);
                        } else {
                            first.get_or_insert(p.error_code);
                        }
                    }
                }
                let mut committed = Vec::with_capacity(done.len());
                {
                    let mut o = lock(&shared.offsets);
                    for tp in done {
                        if let Some(oe) = offsets.remove(&tp) {
                            o.committed.insert(tp.clone(), oe);
                            committed.push((tp, oe));
                        }
                    }
                }
                if !committed.is_empty() {
                    let tps: Vec<TopicPartition> =
                        committed.iter().map(|(tp, _)| tp.clone()).collect();
                    debug!(group = %settings.group_id, generation, partitions = %Compact(&tps),
                           offsets = ?committed.iter().map(|(tp, oe)| (tp.partition, oe.offset, oe.leader_epoch)).collect::<Vec<_>>(),
                           "committed offsets");
                }
                match first {
                    None => return Ok(()),
                    Some(code) if offsets.is_empty() => {
                        // Errors for partitions not asked about.
                        debug!(error = %code, "commit answered an error for a partition not committed");
                        return Ok(());
                    }
                    Some(code) => {
                        Some((Some(code), shared.coordinator.error(code, "OffsetCommit")))
                    }
                }
            }
        };
        let Some((code, error)) = failure else {
            return Ok(());
        };
        match code {
            Some(ErrorCode::REBALANCE_IN_PROGRESS | ErrorCode::STALE_MEMBER_EPOCH) => {
                // The group is between generations: wait for the new one
                // (the cooperative protocol keeps these partitions ours, or
                // unowned, until this consumer revokes them).
                debug!(group = %settings.group_id, generation, "commit during a rebalance; waiting for the next generation");
                let changed = shared.member_changed.notified();
                let newer = shared.member().generation != generation;
                if !newer && tokio::time::timeout_at(deadline, changed).await.is_err() {
                    return Err(error);
                }
                continue;
            }
            Some(code) if is_membership_error(code) && code != ErrorCode::FENCED_INSTANCE_ID => {
                let changed = shared.member_changed.notified();
                let (now, phase) = {
                    let m = shared.member();
                    (m.generation, m.phase)
                };
                if now != generation {
                    // Sent just before a new generation: send again in it.
                    continue;
                }
                if phase == Phase::Joining {
                    // The group moved on and this member's join is about to
                    // bring it along: wait for it.
                    if tokio::time::timeout_at(deadline, changed).await.is_err() {
                        return Err(error);
                    }
                    continue;
                }
                shared.lose(
                    generation,
                    format!("offset commit: {code}"),
                    code == ErrorCode::UNKNOWN_MEMBER_ID,
                );
                return Err(Error::CommitFailed { code });
            }
            Some(code) if is_membership_error(code) => {
                if code == ErrorCode::FENCED_INSTANCE_ID {
                    shared.member().fenced = true;
                }
                shared.lose(
                    generation,
                    format!("offset commit: {code}"),
                    code == ErrorCode::UNKNOWN_MEMBER_ID,
                );
                return Err(Error::CommitFailed { code });
            }
            Some(code) if !code.is_retriable() && !retry_after_lookup(code) => return Err(error),
            _ => {}
        }
        let delay = backoff.next_delay().unwrap_or(Duration::from_secs(1));
        if tokio::time::Instant::now() + delay > deadline {
            return Err(error);
        }
        debug!(group = %settings.group_id, error = %error, retry_in = ?delay, "commit failed; retrying");
        tokio::time::sleep(delay).await;
    }
}

/// The committed offsets of `partitions` (`None` where nothing is
/// committed), with retries within `timeout`.
pub(crate) async fn fetch_committed(
    coordinator: &Coordinator,
    partitions: &[TopicPartition],
    timeout: Duration,
) -> Result<BTreeMap<TopicPartition, Option<OffsetAndEpoch>>> {
    fetch_committed_stable(coordinator, partitions, timeout, false).await
}

/// [`fetch_committed`], asking for stable offsets if `require_stable`
/// (KIP-447: UNSTABLE_OFFSET_COMMIT, retried, while a transaction that
/// commits offsets for a partition is open).
pub(crate) async fn fetch_committed_stable(
    coordinator: &Coordinator,
    partitions: &[TopicPartition],
    timeout: Duration,
    require_stable: bool,
) -> Result<BTreeMap<TopicPartition, Option<OffsetAndEpoch>>> {
    let group = coordinator.group_id().to_owned();
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        by_topic.entry(&tp.topic).or_default().push(tp.partition);
    }
    let metadata = coordinator.cluster().metadata();
    let names = names_by_id(by_topic.keys().map(|t| (topic_id(&metadata, t), *t)));
    let request = OffsetFetchRequest {
        // Versions up to 7 read these...
        group_id: group.clone(),
        topics: Some(
            by_topic
                .iter()
                .map(|(t, ps)| OffsetFetchRequestTopic {
                    name: (*t).to_owned(),
                    partition_indexes: ps.clone(),
                    ..Default::default()
                })
                .collect(),
        ),
        // ...and later ones this.
        groups: vec![OffsetFetchRequestGroup {
            group_id: group.clone(),
            member_id: None,
            member_epoch: -1,
            topics: Some(
                by_topic
                    .iter()
                    .map(|(t, ps)| OffsetFetchRequestTopics {
                        name: (*t).to_owned(),
                        topic_id: topic_id(&metadata, t),
                        partition_indexes: ps.clone(),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }],
        require_stable,
        ..Default::default()
    };
    let cluster = coordinator.cluster().clone();
    crate::kafka::admin::retry(&cluster, timeout, || async {
        let response = coordinator.call(request.clone(), None).await?;
        let mut out = BTreeMap::new();
        let mut rows: Vec<(String, i32, i64, i32, ErrorCode)> = Vec::new();
        if let Some(g) = response.groups.into_iter().next() {
            if !g.error_code.is_ok() {
                return Err(coordinator.error(g.error_code, "OffsetFetch"));
            }
            for t in g.topics {
                let name = topic_name(&names, t.topic_id, &t.name).to_owned();
                for p in t.partitions {
                    rows.push((
                        name.clone(),
                        p.partition_index,
                        p.committed_offset,
                        p.committed_leader_epoch,
                        p.error_code,
                    ));
                }
            }
        } else {
            if !response.error_code.is_ok() {
                return Err(coordinator.error(response.error_code, "OffsetFetch"));
            }
            for t in response.topics {
                for p in t.partitions {
                    rows.push((
                        t.name.clone(),
                        p.partition_index,
                        p.committed_offset,
                        p.committed_leader_epoch,
                        p.error_code,
                    ));
                }
            }
        }
        for (topic, partition, offset, epoch, code) in rows {
            if !code.is_ok() {
                return Err(coordinator.error(code, &format!("OffsetFetch {topic}/{partition}")));
            }
            let tp = TopicPartition::new(topic.as_str(), partition);
            out.insert(
                tp,
                (offset >= 0).then_some(OffsetAndEpoch::new(offset, epoch)),
            );
        }
        for tp in partitions {
            out.entry(tp.clone()).or_insert(None);
        }
        Ok(out)
    })
    .await
}

/// Checks committed positions against the log (KIP-320): asks each
/// partition's leader where the committed epoch ends; if the log was
/// truncated below the committed offset (an unclean leader election), the
/// position moves back to the end of that epoch, so nothing is skipped.
/// Best effort: partitions that cannot be checked keep their offset.
pub(crate) async fn validate_positions(
    cluster: &Cluster,
    positions: &mut BTreeMap<TopicPartition, OffsetAndEpoch>,
) {
    let md = cluster.metadata();
    let mut by_leader: HashMap<i32, Vec<(TopicPartition, OffsetAndEpoch, i32)>> = HashMap::new();
    for (tp, oe) in positions.iter() {
        if oe.leader_epoch < 0 {
            continue;
        }
        let Some(p) = md.topic(&tp.topic).and_then(|t| t.partition(tp.partition)) else {
            continue;
        };
        if p.leader >= 0 {
            by_leader
                .entry(p.leader)
                .or_default()
                .push((tp.clone(), *oe, p.leader_epoch));
        }
    }
    for (leader, parts) in by_leader {
        let mut topics: Vec<OffsetForLeaderTopic> = Vec::new();
        for (tp, oe, current) in &parts {
            let partition = OffsetForLeaderPartition {
                partition: tp.partition,
                current_leader_epoch: *current,
                leader_epoch: oe.leader_epoch,
                ..Default::default()
            };
            match topics.last_mut() {
                Some(t) if t.topic == *tp.topic => t.partitions.push(partition),
                _ => topics.push(OffsetForLeaderTopic {
                    topic: tp.topic.to_string(),
                    partitions: vec![partition],
                    ..Default::default()
                }),
            }
        }
        let request = OffsetForLeaderEpochRequest {
            replica_id: -1,
            topics,
            ..Default::default()
        };
        let response = match cluster.broker(leader) {
            Ok(conn) => conn.call(request).await,
            Err(e) => Err(e),
        };
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                debug!(broker = leader, error = %e, "OffsetForLeaderEpoch failed; positions not checked");
                continue;
            }
        };
        for t in response.topics {
            for p in t.partitions {
                let tp = TopicPartition::new(t.topic.as_str(), p.partition);
                if !p.error_code.is_ok() {
                    debug!(partition = %tp, error = %p.error_code, "position not checked");
                    continue;
                }
                if let Some(oe) = positions.get_mut(&tp) {
                    if p.end_offset >= 0 && p.end_offset < oe.offset {
                        warn!(partition = %tp, committed = oe.offset, epoch = oe.leader_epoch,
                              epoch_end = p.end_offset,
                              "log truncated below the committed offset; resuming at the end of the committed epoch");
                        oe.offset = p.end_offset;
                        oe.leader_epoch = p.leader_epoch;
                    }
                }
            }
        }
    }
}

/// The id of `topic` in `metadata`, or zero when it is not known.
fn topic_id(metadata: &Metadata, topic: &str) -> Uuid {
    metadata.topic(topic).map(|t| t.id).unwrap_or_default()
}

/// The known topic ids of a request, for reading an answer that names
/// topics by id only (OffsetCommit and OffsetFetch v10).
fn names_by_id<'a>(topics: impl Iterator<Item = (Uuid, &'a str)>) -> HashMap<Uuid, String> {
    topics
        .filter(|(id, _)| !id.is_zero())
        .map(|(id, name)| (id, name.to_owned()))
        .collect()
}

/// A topic's name in an answer: the one given, or the one its id stands
/// for in the request.
fn topic_name<'a>(names: &'a HashMap<Uuid, String>, id: Uuid, name: &'a str) -> &'a str {
    match names.get(&id) {
        Some(known) if name.is_empty() => known,
        _ => name,
    }
}
