//! The group consumer: subscribes, joins the group, and hands out records
//! of the partitions the group assigns it.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use futures_core::Stream;
use tracing::{Instrument, debug, info, info_span};

use super::config::ConsumerBuilder;
use super::config::GroupProtocol;
use super::coordinator::Coordinator;
use super::heartbeat;
use super::kip848;
use super::listener::{NoopListener, RebalanceListener};
use super::membership::{self, Phase, Shared};
use super::offsets::{self, CommitFuture};
use super::rebalance::{self, Inner, Step, Work};
use super::subscription::{self, Subscription, TopicPattern};
use super::topic_partition::{OffsetAndEpoch, TopicPartition};
use crate::kafka::cluster::{Cluster, lock};
use crate::kafka::error::{Error, Result};
use crate::kafka::reader::{ConsumerRecord, FetchedBatch, Offset, PartitionReader};

/// Aborts a background task when dropped.
#[derive(Debug)]
struct TaskGuard(tokio::task::JoinHandle<()>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A value used through `&mut` (no locking) and only rarely through `&`:
/// the mutex makes the consumer `Sync` without asking the listener or the
/// rebalance future to be.
struct Exclusive<T>(std::sync::Mutex<T>);

impl<T> Exclusive<T> {
    fn new(value: T) -> Self {
        Exclusive(std::sync::Mutex::new(value))
    }

    fn get_mut(&mut self) -> &mut T {
        self.0
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, T> {
        lock(&self.0)
    }
}

/// Whether records may be handed out.
enum Ready {
    Go,
    Wait,
    Fail(Error),
}

type Busy<L> = Pin<Box<dyn Future<Output = (Box<Core<L>>, Result<()>)> + Send>>;

struct Core<L> {
    listener: L,
    inner: Inner,
}

enum State<L> {
    Idle(Box<Core<L>>),
    /// Rebalance work under way, owning the core.
    Busy(Busy<L>),
    Closed,
}

/// A consumer in a consumer group: the group's members share the
/// subscribed topics' partitions, each partition read by one member.
///
/// ```no_run
/// # async fn demo() -> Result<(), mq_client::kafka::Error> {
/// use futures_util::StreamExt;
/// use mq_client::kafka::{self, OffsetReset};
///
/// let mut consumer = kafka::Consumer::builder("127.0.0.1:9092")
///     .group("notifications")
///     .auto_offset_reset(OffsetReset::Earliest)
///     .build()
///     .await?;
/// consumer.subscribe(["orders"]).await?;
/// while let Some(rec) = consumer.next().await {
///     let rec = rec?;
///     println!("{:?}", rec.value());
///     consumer.commit(&rec).await?; // after processing: at-least-once
/// }
/// consumer.close().await?;
/// # Ok(()) }
/// ```
///
/// - It is a `Stream` of [`ConsumerRecord`]s, and
///   [`next_batch`](Self::next_batch) hands out zero-copy
///   [`FetchedBatch`]es.
/// - Joining and rebalancing happen inside `next()`: the listener runs
///   there, between records, never while one is being processed.
///   Heartbeats and the join's requests run in background tasks.
/// - Commits ([`commit`](Self::commit), [`commit_async`](Self::commit_async),
///   auto-commit) take `&self`, go through one background committer in
///   order, and are refused for partitions this consumer does not own.
/// - Dropping the consumer stops it without leaving the group (its
///   partitions move after the session timeout); [`close`](Self::close)
///   commits and leaves.
pub struct Consumer<L = NoopListener> {
    state: Exclusive<State<L>>,
    pub(super) shared: Arc<Shared>,
    cluster: Cluster,
    _tasks: Vec<TaskGuard>,
    /// KIP-714 pushes.
    _telemetry: Option<crate::kafka::telemetry::Telemetry>,
}

impl<L> std::fmt::Debug for Consumer<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = self.shared.member();
        f.debug_struct("Consumer")
            .field("group", &self.shared.settings.group_id)
            .field("member_id", &m.member_id)
            .field("generation", &m.generation)
            .field("phase", &m.phase)
            .field("cluster", &self.cluster)
            .finish()
    }
}

impl Consumer<NoopListener> {
    /// A builder for the comma-separated `bootstrap` list.
    pub fn builder(bootstrap: &str) -> ConsumerBuilder<NoopListener> {
        ConsumerBuilder::new(bootstrap)
    }
}

impl<L: RebalanceListener> Consumer<L> {
    pub(crate) async fn start(builder: ConsumerBuilder<L>) -> Result<Self> {
        let cluster = Cluster::connect(builder.client).await?;
        let mut settings = builder.group;
        settings.require_stable =
            builder.settings.isolation == crate::kafka::IsolationLevel::ReadCommitted;
        let coordinator = Coordinator::new(cluster.clone(), settings.group_id.clone());
        let cooperative = settings.cooperative();
        let backoff = cluster.config().retry_backoff.start();
        let protocol = settings.protocol;
        let (shared, doorbell) = Shared::new(settings, coordinator);
        if protocol == GroupProtocol::Consumer {
            shared.member().member_id = kip848::new_member_id();
        }
        let reader = PartitionReader::start(
            cluster.clone(),
            builder.settings,
            builder.buffered,
            Vec::new(),
        )
        .await?;
        let span = info_span!(parent: None, "kafka_group", group = %shared.settings.group_id);
        let membership = match protocol {
            GroupProtocol::Classic => {
                tokio::spawn(heartbeat::run(shared.clone()).instrument(span.clone()))
            }
            GroupProtocol::Consumer => {
                tokio::spawn(kip848::run(shared.clone()).instrument(span.clone()))
            }
        };
        let telemetry = {
            let c = cluster.clone();
            crate::kafka::telemetry::start(
                &cluster,
                Arc::new(move || {
                    let stats = c.stats();
                    let mut m =
                        stats.snapshot(crate::kafka::ClientKind::Consumer, &c.config().client_id);
                    m.consumer = Some(stats.consumer_section(Vec::new()));
                    m
                }),
            )
        };
        let tasks = vec![
            TaskGuard(membership),
            TaskGuard(tokio::spawn(
                offsets::run_committer(shared.clone()).instrument(span.clone()),
            )),
            TaskGuard(tokio::spawn(
                subscription::watch(shared.clone()).instrument(span),
            )),
        ];
        let inner = Inner {
            shared: shared.clone(),
            reader,
            reset: builder.settings.reset,
            cooperative,
            assigned: BTreeSet::new(),
            paused: BTreeSet::new(),
            unpositioned: BTreeSet::new(),
            awaiting_seek: BTreeSet::new(),
            pending: VecDeque::new(),
            pending_error: None,
            progress: Default::default(),
            doorbell,
            seen_events: u64::MAX,
            recheck: true,
            join: None,
            join_retry: None,
            position_retry: None,
            backoff,
            lag: HashMap::new(),
        };
        Ok(Consumer {
            state: Exclusive::new(State::Idle(Box::new(Core {
                listener: builder.listener,
                inner,
            }))),
            shared,
            cluster,
            _tasks: tasks,
            _telemetry: telemetry,
        })
    }

    /// The cluster this consumer reads from.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// The group id.
    pub fn group_id(&self) -> &str {
        &self.shared.settings.group_id
    }

    /// The member id the coordinator gave this consumer (empty before the
    /// first join).
    pub fn member_id(&self) -> String {
        self.shared.member().member_id.clone()
    }

    /// The group generation this consumer is a member of, or -1.
    pub fn generation(&self) -> i32 {
        self.shared.member().generation
    }

    /// The group, generation and member of this consumer, for
    /// [`Producer::send_offsets_to_transaction`](crate::kafka::Producer::send_offsets_to_transaction).
    pub fn group_metadata(&self) -> super::ConsumerGroupMetadata {
        let member = self.shared.member();
        super::ConsumerGroupMetadata {
            group_id: self.shared.settings.group_id.to_string(),
            generation_id: member.generation,
            member_id: member.member_id.clone(),
            group_instance_id: self.shared.settings.instance_id.clone(),
        }
    }

    /// The partitions assigned to this consumer now.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.shared.assignment().into_iter().collect()
    }

    /// The core, once any rebalance work under way has finished.
    async fn core(&mut self) -> Result<&mut Core<L>> {
        if let State::Busy(fut) = self.state.get_mut() {
            let (core, result) = fut.await;
            *self.state.get_mut() = State::Idle(core);
            result?;
        }
        match self.state.get_mut() {
            State::Idle(core) => Ok(core),
            _ => Err(Error::Closed),
        }
    }

    /// Subscribes to `topics` (replacing any earlier subscription). The
    /// consumer joins, or rebalances, when next polled.
    pub async fn subscribe<I, S>(&mut self, topics: I) -> Result<()>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let topics: BTreeSet<String> = topics.into_iter().map(Into::into).collect();
        if topics.iter().any(String::is_empty) {
            return Err(Error::Config("a topic name is empty".into()));
        }
        self.core().await?;
        self.cluster.add_topics(topics.iter());
        if let Err(e) = self.cluster.refresh().await {
            debug!(error = %e, "metadata refresh on subscribe failed");
        }
        info!(group = %self.shared.settings.group_id, topics = ?topics, "subscribed");
        self.shared.member().fatal = None;
        *lock(&self.shared.topics) = topics.clone();
        *lock(&self.shared.subscription) = Some(Subscription::Topics(topics));
        self.shared.request_rejoin("subscription changed");
        Ok(())
    }

    /// Subscribes to every topic matching `pattern`, now and as topics are
    /// created or deleted (checked every `metadata_max_age`).
    pub async fn subscribe_pattern(&mut self, pattern: TopicPattern) -> Result<()> {
        self.core().await?;
        self.shared.member().fatal = None;
        *lock(&self.shared.subscription) = Some(Subscription::Pattern(pattern.clone()));
        lock(&self.shared.topics).clear();
        subscription::refresh_pattern(&self.shared, &pattern).await?;
        if let Err(e) = self.cluster.refresh().await {
            debug!(error = %e, "metadata refresh on subscribe failed");
        }
        info!(group = %self.shared.settings.group_id, pattern = %pattern,
              topics = ?*lock(&self.shared.topics), "subscribed to a pattern");
        self.shared.request_rejoin("subscription changed");
        Ok(())
    }

    /// Revokes every partition (listener, commit), leaves the group and
    /// drops the subscription.
    pub async fn unsubscribe(&mut self) -> Result<()> {
        let core = self.core().await?;
        core.inner.join = None;
        let parts: Vec<TopicPartition> = core.inner.assigned.iter().cloned().collect();
        let revoked = rebalance::revoke(&mut core.listener, &mut core.inner, &parts).await;
        *lock(&self.shared.subscription) = None;
        lock(&self.shared.topics).clear();
        membership::leave(&self.shared, "the consumer unsubscribed").await;
        {
            let mut m = self.shared.member();
            m.rejoin = None;
            m.phase = Phase::Unjoined;
        }
        self.shared.ring();
        revoked
    }

    /// Polls for the next batch: rebalance work first, then records.
    fn poll_batch(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<FetchedBatch>>> {
        match self.poll_ready(cx) {
            Ready::Go => {}
            Ready::Wait => return Poll::Pending,
            Ready::Fail(e) => return Poll::Ready(Some(Err(e))),
        }
        let State::Idle(core) = self.state.get_mut() else {
            return Poll::Ready(None);
        };
        if let Some(e) = core.inner.pending_error.take() {
            return Poll::Ready(Some(Err(e)));
        }
        match core.inner.reader.poll_batch(cx) {
            Poll::Ready(Ok(batch)) => {
                core.inner.note_batch(&batch);
                Poll::Ready(Some(Ok(batch)))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Pending if core.inner.rang(cx) => {
                // Something changed since the membership was checked.
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// Drives rebalance work until records may be handed out.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Ready {
        loop {
            match self.state.get_mut() {
                State::Closed => return Ready::Go,
                State::Busy(fut) => match fut.as_mut().poll(cx) {
                    Poll::Pending => return Ready::Wait,
                    Poll::Ready((core, result)) => {
                        *self.state.get_mut() = State::Idle(core);
                        if let Err(e) = result {
                            return Ready::Fail(e);
                        }
                    }
                },
                State::Idle(core) => match core.inner.poll_group(cx) {
                    None => return Ready::Go,
                    Some(Step::Fail(e)) => return Ready::Fail(e),
                    Some(Step::Run(work)) => self.start_work(work),
                },
            }
        }
    }

    fn start_work(&mut self, work: Work) {
        let State::Idle(mut core) = std::mem::replace(self.state.get_mut(), State::Closed) else {
            return;
        };
        *self.state.get_mut() = State::Busy(Box::pin(async move {
            let Core { listener, inner } = &mut *core;
            let result = rebalance::run(listener, inner, work).await;
            (core, result)
        }));
    }

    /// The next batch of one partition's records, as zero-copy views (see
    /// [`FetchedBatch::iter`]). With auto-commit, the previous batch counts
    /// as processed. Do not mix with the `Stream` of records.
    pub async fn next_batch(&mut self) -> Result<FetchedBatch> {
        let auto = self.shared.settings.auto_commit.is_some();
        self.shared.poll.enter();
        if auto {
            if let State::Idle(core) = self.state.get_mut() {
                core.inner.progress.settle(&self.shared);
            }
        }
        let result = std::future::poll_fn(|cx| self.poll_batch(cx)).await;
        self.shared.poll.leave();
        let batch = result.ok_or(Error::Closed)??;
        if auto {
            if let State::Idle(core) = self.state.get_mut() {
                let next = OffsetAndEpoch::new(batch.next_offset(), batch.last_leader_epoch());
                core.inner.progress.handed(
                    &self.shared,
                    batch.topic_arc(),
                    batch.partition(),
                    next,
                );
            }
        }
        Ok(batch)
    }

    /// Commits `record` as processed: its offset + 1 with its leader epoch.
    /// Waits for the coordinator.
    pub async fn commit(&self, record: &ConsumerRecord) -> Result<()> {
        self.commit_async(record).await
    }

    /// Commits `record` as processed without waiting: the returned future
    /// resolves when the coordinator has it, and may be dropped.
    pub fn commit_async(&self, record: &ConsumerRecord) -> CommitFuture {
        let tp = TopicPartition {
            topic: record.topic.clone(),
            partition: record.partition,
        };
        let oe = OffsetAndEpoch::new(record.offset.saturating_add(1), record.leader_epoch);
        self.commit_offsets_async([(tp, oe)])
    }

    /// Commits everything in `batch` as processed. Waits.
    pub async fn commit_batch(&self, batch: &FetchedBatch) -> Result<()> {
        let tp = TopicPartition::new(batch.topic(), batch.partition());
        let oe = OffsetAndEpoch::new(batch.next_offset(), batch.last_leader_epoch());
        self.commit_offsets_async([(tp, oe)]).await
    }

    /// Commits `offsets` (the next offset to read per partition). Waits.
    pub async fn commit_offsets(
        &self,
        offsets: impl IntoIterator<Item = (TopicPartition, OffsetAndEpoch)>,
    ) -> Result<()> {
        self.commit_offsets_async(offsets).await
    }

    /// Commits `offsets` without waiting.
    pub fn commit_offsets_async(
        &self,
        offsets: impl IntoIterator<Item = (TopicPartition, OffsetAndEpoch)>,
    ) -> CommitFuture {
        let offsets: Vec<(TopicPartition, OffsetAndEpoch)> = offsets.into_iter().collect();
        {
            let mut o = lock(&self.shared.offsets);
            for (tp, oe) in &offsets {
                if self.shared.owns(tp) {
                    o.processed.insert(tp.clone(), *oe);
                }
            }
        }
        offsets::enqueue(&self.shared, offsets)
    }

    /// Marks `record` processed without committing: auto-commit, a revoke,
    /// [`commit_processed`](Self::commit_processed) or
    /// [`close`](Self::close) commits it.
    pub fn mark_processed(&self, record: &ConsumerRecord) {
        let tp = TopicPartition {
            topic: record.topic.clone(),
            partition: record.partition,
        };
        let oe = OffsetAndEpoch::new(record.offset.saturating_add(1), record.leader_epoch);
        lock(&self.shared.offsets).processed.insert(tp, oe);
    }

    /// Commits every offset marked processed and not yet committed. Waits.
    pub async fn commit_processed(&mut self) -> Result<()> {
        if let State::Idle(core) = self.state.get_mut() {
            core.inner.settle_if_auto();
        }
        offsets::enqueue_processed(&self.shared, None).await
    }

    /// The committed offsets of `partitions` (`None` where none is).
    pub async fn committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, Option<OffsetAndEpoch>>> {
        offsets::fetch_committed(
            &self.shared.coordinator,
            partitions,
            self.shared.settings.commit_timeout,
        )
        .await
    }

    /// Moves an assigned partition's position; records fetched before are
    /// dropped.
    pub async fn seek(&mut self, topic: &str, partition: i32, offset: Offset) -> Result<()> {
        let core = self.core().await?;
        rebalance::seek(
            &mut core.inner,
            &TopicPartition::new(topic, partition),
            offset,
        )
        .await
    }

    /// The offset of the next record this consumer will hand out for an
    /// assigned partition, once known.
    pub fn position(&self, topic: &str, partition: i32) -> Option<i64> {
        let state = self.state.lock();
        let State::Idle(core) = &*state else {
            return None;
        };
        core.inner
            .pending
            .iter()
            .find(|r| r.partition == partition && &*r.topic == topic)
            .map(|r| r.offset)
            .or_else(|| core.inner.reader.position(topic, partition))
    }

    /// Records behind the high watermark per partition, as of each
    /// partition's last fetched batch.
    pub fn lag(&self) -> BTreeMap<TopicPartition, i64> {
        match &*self.state.lock() {
            State::Idle(core) => core
                .inner
                .lag
                .iter()
                .map(|(tp, l)| (tp.clone(), *l))
                .collect(),
            _ => BTreeMap::new(),
        }
    }

    /// A snapshot of the consumer's metrics: connections, requests per API
    /// with their latencies, records and batches handed out, and
    /// [`lag`](Self::lag) per partition (empty while a rebalance is under
    /// way). See [`ClientMetrics`](crate::kafka::ClientMetrics).
    pub fn metrics(&self) -> crate::kafka::ClientMetrics {
        let stats = self.cluster.stats();
        let kind = crate::kafka::ClientKind::Consumer;
        let mut m = stats.snapshot(kind, &self.cluster.config().client_id);
        let lag = self
            .lag()
            .into_iter()
            .map(|(tp, lag)| crate::kafka::PartitionLag {
                topic: tp.topic.to_string(),
                partition: tp.partition,
                lag,
            })
            .collect();
        m.consumer = Some(stats.consumer_section(lag));
        m
    }

    /// Stops fetching `partitions` (which stay assigned) until resumed;
    /// the next record handed out after the resume is the one after the
    /// last handed out before the pause.
    pub async fn pause(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        let core = self.core().await?;
        for tp in partitions {
            if !core.inner.assigned.contains(tp) {
                return Err(Error::NotAssigned {
                    topic: tp.topic.to_string(),
                    partition: tp.partition,
                });
            }
        }
        for tp in partitions {
            if core.inner.paused.insert(tp.clone()) {
                // Records fetched but not handed out are fetched again
                // after the resume, from the first of them.
                let first_pending = core
                    .inner
                    .pending
                    .iter()
                    .find(|r| r.partition == tp.partition && r.topic == tp.topic)
                    .map(|r| r.offset);
                core.inner
                    .pending
                    .retain(|r| !(r.partition == tp.partition && r.topic == tp.topic));
                core.inner
                    .reader
                    .pause_at(&tp.topic, tp.partition, first_pending)
                    .await?;
            }
        }
        Ok(())
    }

    /// Fetches paused `partitions` again.
    pub async fn resume(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        let core = self.core().await?;
        for tp in partitions {
            if core.inner.paused.remove(tp) {
                core.inner.reader.resume(&tp.topic, tp.partition).await?;
            }
        }
        Ok(())
    }

    /// The paused partitions.
    pub fn paused(&self) -> Vec<TopicPartition> {
        match &*self.state.lock() {
            State::Idle(core) => core.inner.paused.iter().cloned().collect(),
            _ => Vec::new(),
        }
    }

    /// Closes gracefully: revokes the partitions (the listener may
    /// commit), commits what was marked processed (with auto-commit, all
    /// that was handed out), then leaves the group. A static member stays
    /// in the group, so a restart within the session timeout rebalances
    /// nothing; see [`close_and_leave`](Self::close_and_leave).
    pub async fn close(self) -> Result<()> {
        let leave = self.shared.settings.instance_id.is_none();
        self.shutdown(leave).await
    }

    /// Like [`close`](Self::close), but a static member leaves the group
    /// too (its partitions move at once).
    pub async fn close_and_leave(self) -> Result<()> {
        self.shutdown(true).await
    }

    async fn shutdown(mut self, leave: bool) -> Result<()> {
        let shared = self.shared.clone();
        if shared.settings.protocol == GroupProtocol::Consumer {
            // No heartbeat may report the partitions revoked below as
            // given up: the leaving heartbeat after them says how.
            shared.member().closing = true;
        }
        let core = self.core().await;
        let mut result = Ok(());
        if let Ok(core) = core {
            core.inner.join = None;
            let parts: Vec<TopicPartition> = core.inner.assigned.iter().cloned().collect();
            let stable = shared.member().phase == Phase::Stable;
            if stable {
                result = rebalance::revoke(&mut core.listener, &mut core.inner, &parts).await;
            } else if !parts.is_empty() {
                debug!(group = %self.shared.settings.group_id, "closing outside a stable generation: nothing to commit");
            }
        }
        if leave {
            membership::leave(&self.shared, "the consumer is closing").await;
        } else if self.shared.settings.protocol == GroupProtocol::Consumer {
            // A static member tells the coordinator it will be back: its
            // partitions wait for it until the session timeout.
            kip848::leave(&self.shared, "the consumer is closing", true).await;
        }
        info!(group = %self.shared.settings.group_id, "consumer closed");
        *self.state.get_mut() = State::Closed;
        result
    }
}

impl Inner {
    /// Bookkeeping for a batch about to be handed out: lag.
    fn note_batch(&mut self, batch: &FetchedBatch) {
        let lag = batch
            .high_watermark()
            .saturating_sub(batch.next_offset())
            .max(0);
        debug!(
            topic = batch.topic(),
            partition = batch.partition(),
            next_offset = batch.next_offset(),
            high_watermark = batch.high_watermark(),
            lag,
            "consumed"
        );
        self.lag
            .insert(TopicPartition::new(batch.topic(), batch.partition()), lag);
    }
}

impl<L: RebalanceListener> Stream for Consumer<L> {
    type Item = Result<ConsumerRecord>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        this.shared.poll.enter();
        let auto = this.shared.settings.auto_commit.is_some();
        if auto {
            if let State::Idle(core) = this.state.get_mut() {
                core.inner.progress.next_asked();
            }
        }
        let out = loop {
            match this.poll_ready(cx) {
                Ready::Go => {}
                Ready::Wait => break Poll::Pending,
                Ready::Fail(e) => break Poll::Ready(Some(Err(e))),
            }
            let State::Idle(core) = this.state.get_mut() else {
                break Poll::Ready(None);
            };
            let inner = &mut core.inner;
            if let Some(r) = inner.pending.pop_front() {
                if auto {
                    let next = OffsetAndEpoch::new(r.offset.saturating_add(1), r.leader_epoch);
                    inner
                        .progress
                        .handed(&this.shared, &r.topic, r.partition, next);
                    if this.shared.progress_wanted.load(Ordering::Relaxed)
                        && this.shared.progress_wanted.swap(false, Ordering::Relaxed)
                    {
                        inner.progress.publish(&this.shared);
                    }
                }
                break Poll::Ready(Some(Ok(r)));
            }
            if let Some(e) = inner.pending_error.take() {
                break Poll::Ready(Some(Err(e)));
            }
            if auto {
                // A batch boundary: publish progress for the committer.
                inner.progress.publish(&this.shared);
            }
            match inner.reader.poll_batch(cx) {
                Poll::Pending if inner.rang(cx) => continue,
                Poll::Pending => break Poll::Pending,
                Poll::Ready(Err(e)) => break Poll::Ready(Some(Err(e))),
                Poll::Ready(Ok(batch)) => {
                    inner.note_batch(&batch);
                    for r in batch.iter_with_epochs() {
                        match r {
                            Ok((view, epoch)) => {
                                inner.pending.push_back(ConsumerRecord::from_view(
                                    batch.topic_arc(),
                                    batch.partition(),
                                    &view,
                                    epoch,
                                ))
                            }
                            Err(e) => {
                                inner.pending_error = Some(e);
                                break;
                            }
                        }
                    }
                }
            }
        };
        if out.is_ready() {
            this.shared.poll.leave();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send_sync<T: Send + Sync>() {}

    #[test]
    fn consumers_can_move_between_tasks_and_be_shared() {
        // A consumer is driven from one task, but `&Consumer` (commits,
        // assignment) may be used from others: it must be Send and Sync
        // whatever the listener is, as long as the listener is Send.
        send_sync::<Consumer>();
        struct NotSync(#[allow(dead_code)] std::cell::Cell<u8>);
        impl RebalanceListener for NotSync {}
        send_sync::<Consumer<NotSync>>();
        send_sync::<CommitFuture>();
    }
}
