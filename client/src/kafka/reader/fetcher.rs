//! The fetcher task behind a [`PartitionReader`](super::PartitionReader):
//! one Fetch in flight per leader, positions per partition, offset resets
//! and leader changes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use kafka_proto::ErrorCode;
use kafka_proto::api::FetchRequest;
use kafka_proto::api::FetchResponse;
use kafka_proto::api::fetch::{FetchPartition, FetchTopic, ForgottenTopic};
use tokio::sync::mpsc;
use tracing::{Instrument, debug, debug_span, warn};

use super::super::admin::list_offsets_isolated;
use super::super::cluster::{Cluster, Metadata};
use super::super::conn::decode;
use super::super::error::{Error, Result, code_needs_refresh};
use super::read::read_partition;
use super::session::{FetchSession, Plan, Wanted};
use super::{FetchSettings, FetchedBatch, IsolationLevel, Offset, OffsetReset};

/// What the reader asks of the fetcher.
#[derive(Debug)]
pub(super) enum Command {
    Assign {
        topic: Arc<str>,
        partition: i32,
        offset: Offset,
        generation: u64,
    },
    Unassign {
        topic: Arc<str>,
        partition: i32,
    },
    /// Stops fetching a partition until resumed; what was fetched after
    /// `position` (if given) is fetched again on resume.
    Pause {
        topic: Arc<str>,
        partition: i32,
        generation: u64,
        position: Option<i64>,
    },
    /// Fetches a paused partition again.
    Resume {
        topic: Arc<str>,
        partition: i32,
    },
}

#[derive(Debug)]
struct PartitionState {
    position: i64,
    /// Where the current generation started (the assign, seek or pause
    /// position): a pause with no position from the reader rewinds here.
    start: i64,
    generation: u64,
    /// Not fetched before this time (after an error).
    retry_at: Option<Instant>,
    /// Out of range with no reset policy: wait for a seek.
    stopped: bool,
    /// Paused by the application: not fetched until resumed.
    paused: bool,
    in_flight: bool,
    failures: u32,
}

type Key = (Arc<str>, i32);

type FetchOutcome = (i32, Vec<(Key, i64, u64)>, Plan, Result<FetchResponse>);

pub(super) struct Fetcher {
    cluster: Cluster,
    settings: FetchSettings,
    tx: mpsc::Sender<Result<FetchedBatch>>,
    commands: mpsc::Receiver<Command>,
    partitions: BTreeMap<Key, PartitionState>,
    busy_leaders: HashSet<i32>,
    /// One incremental fetch session per broker (KIP-227).
    sessions: HashMap<i32, FetchSession>,
}

impl Fetcher {
    pub(super) fn new(
        cluster: Cluster,
        settings: FetchSettings,
        tx: mpsc::Sender<Result<FetchedBatch>>,
        commands: mpsc::Receiver<Command>,
    ) -> Self {
        Fetcher {
            cluster,
            settings,
            tx,
            commands,
            partitions: BTreeMap::new(),
            busy_leaders: HashSet::new(),
            sessions: HashMap::new(),
        }
    }

    fn timeout(&self) -> Duration {
        self.cluster.config().request_timeout + self.settings.max_wait
    }

    /// Resolves `offset` and starts fetching the partition from it; the
    /// position it starts at.
    pub(super) async fn assign(
        &mut self,
        topic: Arc<str>,
        partition: i32,
        offset: Offset,
        generation: u64,
    ) -> Result<i64> {
        let md = self
            .cluster
            .wait_for_partitions(&topic, self.timeout())
            .await?;
        if md
            .topic(&topic)
            .and_then(|t| t.partition(partition))
            .is_none()
        {
            return Err(Error::UnknownPartition {
                topic: topic.to_string(),
                partition,
            });
        }
        let position = match offset {
            Offset::At(o) => o,
            other => {
                let ts = other.list_offsets_timestamp().unwrap_or(-2);
                let isolation = self.settings.isolation.wire();
                let found = list_offsets_isolated(
                    &self.cluster,
                    &topic,
                    &[(partition, ts)],
                    self.timeout(),
                    isolation,
                )
                .await?;
                match found.get(&partition).map(|o| o.offset) {
                    Some(o) if o >= 0 => o,
                    // No record at or after the timestamp: the end.
                    _ => {
                        let end = list_offsets_isolated(
                            &self.cluster,
                            &topic,
                            &[(partition, -1)],
                            self.timeout(),
                            isolation,
                        )
                        .await?;
                        end.get(&partition).map_or(0, |o| o.offset)
                    }
                }
            }
        };
        debug!(topic = %topic, partition, position, "assigned");
        // A seek keeps a paused partition paused.
        let paused = self
            .partitions
            .get(&(topic.clone(), partition))
            .is_some_and(|s| s.paused);
        self.partitions.insert(
            (topic, partition),
            PartitionState {
                position,
                start: position,
                generation,
                retry_at: None,
                stopped: false,
                paused,
                in_flight: false,
                failures: 0,
            },
        );
        Ok(position)
    }

    pub(super) async fn run(mut self) {
        let mut fetches: FuturesUnordered<_> = FuturesUnordered::new();
        let mut metadata = self.cluster.subscribe();
        loop {
            let next_retry = self.start_fetches(&mut fetches);
            let sleep = async {
                match next_retry {
                    Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                command = self.commands.recv() => match command {
                    None => return,
                    Some(command) => {
                        if self.apply(command).await.is_err() {
                            return;
                        }
                    }
                },
                Some(outcome) = fetches.next(), if !fetches.is_empty() => {
                    if self.handle(outcome).await.is_err() {
                        return;
                    }
                }
                () = sleep => {}
                changed = metadata.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// Errors only when the reader is gone.
    async fn apply(&mut self, command: Command) -> Result<(), ()> {
        match command {
            Command::Assign {
                topic,
                partition,
                offset,
                generation,
            } => {
                if let Err(e) = self.assign(topic, partition, offset, generation).await {
                    self.tx.send(Err(e)).await.map_err(|_| ())?;
                }
            }
            Command::Unassign { topic, partition } => {
                self.partitions.remove(&(topic, partition));
            }
            Command::Pause {
                topic,
                partition,
                generation,
                position,
            } => {
                if let Some(state) = self.partitions.get_mut(&(topic.clone(), partition)) {
                    state.paused = true;
                    state.generation = generation;
                    state.position = position.unwrap_or(state.start);
                    state.start = state.position;
                    debug!(topic = %topic, partition, position = state.position, "paused");
                }
            }
            Command::Resume { topic, partition } => {
                if let Some(state) = self.partitions.get_mut(&(topic.clone(), partition)) {
                    state.paused = false;
                    debug!(topic = %topic, partition, position = state.position, "resumed");
                }
            }
        }
        Ok(())
    }

    /// Starts a Fetch for every leader that has none in flight; returns
    /// when a backed-off partition may be fetched again.
    fn start_fetches(
        &mut self,
        fetches: &mut FuturesUnordered<
            std::pin::Pin<Box<dyn std::future::Future<Output = FetchOutcome> + Send>>,
        >,
    ) -> Option<Instant> {
        let now = Instant::now();
        let md = self.cluster.metadata();
        let mut next: Option<Instant> = None;
        let mut by_leader: HashMap<i32, Vec<(Key, i64, u64, i32)>> = HashMap::new();
        let mut missing = false;
        for (key, state) in &self.partitions {
            if state.stopped || state.paused || state.in_flight {
                continue;
            }
            if let Some(at) = state.retry_at.filter(|&at| at > now) {
                next = Some(next.map_or(at, |n: Instant| n.min(at)));
                continue;
            }
            let Some(p) = md.topic(&key.0).and_then(|t| t.partition(key.1)) else {
                missing = true;
                continue;
            };
            if p.leader < 0 {
                missing = true;
                continue;
            }
            if self.busy_leaders.contains(&p.leader) {
                continue;
            }
            by_leader.entry(p.leader).or_default().push((
                key.clone(),
                state.position,
                state.generation,
                p.leader_epoch,
            ));
        }
        if missing {
            self.cluster.request_refresh();
            let at = now + self.cluster.config().retry_backoff.initial;
            next = Some(next.map_or(at, |n| n.min(at)));
        }
        for (leader, parts) in by_leader {
            self.busy_leaders.insert(leader);
            let wanted: Vec<Wanted> = parts
                .iter()
                .map(|(key, position, _, epoch)| (key.clone(), *position, *epoch))
                .collect();
            let plan = self
                .sessions
                .entry(leader)
                .or_default()
                .plan(&wanted, self.settings.sessions);
            for (key, _, _, _) in &parts {
                if let Some(state) = self.partitions.get_mut(key) {
                    state.in_flight = true;
                }
            }
            let mut topics: Vec<FetchTopic> = Vec::new();
            for &i in &plan.listed {
                let Some((key, position, _, epoch)) = parts.get(i) else {
                    continue;
                };
                let partition = FetchPartition {
                    partition: key.1,
                    current_leader_epoch: *epoch,
                    fetch_offset: *position,
                    last_fetched_epoch: -1,
                    log_start_offset: -1,
                    partition_max_bytes: self.settings.partition_max_bytes,
                    ..Default::default()
                };
                match topics.iter_mut().find(|t| *t.topic == *key.0) {
                    Some(t) => t.partitions.push(partition),
                    None => topics.push(FetchTopic {
                        topic: key.0.to_string(),
                        topic_id: md.topic(&key.0).map(|t| t.id).unwrap_or_default(),
                        partitions: vec![partition],
                        ..Default::default()
                    }),
                }
            }
            let request = FetchRequest {
                replica_id: -1,
                max_wait_ms: i32::try_from(self.settings.max_wait.as_millis()).unwrap_or(i32::MAX),
                min_bytes: self.settings.min_bytes,
                max_bytes: self.settings.max_bytes,
                isolation_level: self.settings.isolation.wire(),
                session_id: plan.session_id,
                session_epoch: plan.epoch,
                topics,
                forgotten_topics_data: forgotten(&plan, &md),
                ..Default::default()
            };
            let asked: Vec<(Key, i64, u64)> = parts
                .into_iter()
                .map(|(k, pos, g, _)| (k, pos, g))
                .collect();
            let cluster = self.cluster.clone();
            let timeout = self.timeout();
            let span = debug_span!("kafka_fetch", broker = leader, partitions = asked.len());
            fetches.push(Box::pin(
                async move {
                    let result = async {
                        let conn = cluster.broker(leader)?;
                        let response = conn.send(request, Some(timeout)).await?;
                        let response = response.ok_or(Error::Disconnected {
                            broker: conn.addr().to_owned(),
                        })?;
                        decode::<FetchResponse>(&response)
                    }
                    .await;
                    (leader, asked, plan, result)
                }
                .instrument(span),
            ));
        }
        next
    }

    /// The fetch session with broker `leader`.
    fn session(&mut self, leader: i32) -> &mut FetchSession {
        self.sessions.entry(leader).or_default()
    }

    /// Settles one Fetch answer. Errors only when the reader is gone.
    async fn handle(&mut self, (leader, asked, plan, result): FetchOutcome) -> Result<(), ()> {
        self.busy_leaders.remove(&leader);
        for (key, _, _) in &asked {
            if let Some(state) = self.partitions.get_mut(key) {
                state.in_flight = false;
            }
        }
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                // Whether the broker counted the epoch is unknown.
                self.session(leader).reset();
                debug!(broker = leader, error = %e, "fetch failed");
                if e.needs_metadata_refresh() {
                    self.cluster.request_refresh();
                }
                for (key, _, _) in &asked {
                    self.back_off(key);
                }
                if !e.is_retriable() {
                    self.tx.send(Err(e)).await.map_err(|_| ())?;
                }
                return Ok(());
            }
        };
        if matches!(
            response.error_code,
            ErrorCode::FETCH_SESSION_ID_NOT_FOUND | ErrorCode::INVALID_FETCH_SESSION_EPOCH
        ) {
            // The broker lost the session (it restarted, or evicted it):
            // the next fetch restates every partition.
            debug!(broker = leader, session = plan.session_id, code = %response.error_code, "fetch session gone; fetching in full");
            self.session(leader).reset();
            return Ok(());
        }
        if !response.error_code.is_ok() {
            self.session(leader).reset();
            for (key, _, _) in &asked {
                self.back_off(key);
            }
            if code_needs_refresh(response.error_code) {
                self.cluster.request_refresh();
            }
            return Ok(());
        }
        self.session(leader).answered(&plan, response.session_id);
        if response.responses.is_empty() {
            // Nothing new (an incremental fetch of an idle reader answers
            // with no partitions): skip the lookups built below, which
            // cost O(partitions asked) per poll.
            return Ok(());
        }
        let md = self.cluster.metadata();
        let by_id: HashMap<kafka_proto::Uuid, Arc<str>> = asked
            .iter()
            .filter_map(|(k, _, _)| md.topic(&k.0).map(|t| (t.id, k.0.clone())))
            .collect();
        let asked: HashMap<Key, (i64, u64)> =
            asked.into_iter().map(|(k, pos, g)| (k, (pos, g))).collect();
        for topic in response.responses {
            let name: Arc<str> = if topic.topic.is_empty() {
                match by_id.get(&topic.topic_id) {
                    Some(n) => n.clone(),
                    None => continue,
                }
            } else {
                topic.topic.as_str().into()
            };
            for p in topic.partitions {
                let key = (name.clone(), p.partition_index);
                let Some(&(position, generation)) = asked.get(&key) else {
                    continue;
                };
                // Seeked or unassigned while the fetch was out: drop it.
                let current = self
                    .partitions
                    .get(&key)
                    .map(|s| (s.position, s.generation));
                if current != Some((position, generation)) {
                    continue;
                }
                if !p.error_code.is_ok() {
                    self.partition_error(&key, p.error_code, position).await?;
                    continue;
                }
                let Some(records) = p.records.filter(|r| !r.is_empty()) else {
                    continue;
                };
                let aborted = match self.settings.isolation {
                    IsolationLevel::ReadCommitted => p.aborted_transactions.unwrap_or_default(),
                    IsolationLevel::ReadUncommitted => Vec::new(),
                };
                let read = read_partition(&name, key.1, records, position, &aborted);
                debug!(topic = %name, partition = key.1, offset = position, next_offset = read.next,
                       batches = read.batches.len(), high_watermark = p.high_watermark, "fetched");
                if let Some(state) = self.partitions.get_mut(&key) {
                    state.position = read.next;
                    state.failures = 0;
                }
                let (next, failure, count) = (read.next, read.failure, read.records);
                let fetched = FetchedBatch::from_read(
                    name.clone(),
                    key.1,
                    position,
                    read.next,
                    p.high_watermark,
                    generation,
                    read.batches,
                );
                if let Some(mut fetched) = fetched {
                    fetched.count = count;
                    self.tx.send(Ok(fetched)).await.map_err(|_| ())?;
                }
                if let Some(e) = failure {
                    warn!(topic = %name, partition = key.1, offset = next, error = %e, "bad record batch");
                    if let Some(state) = self.partitions.get_mut(&key) {
                        state.stopped = true;
                    }
                    self.tx.send(Err(e)).await.map_err(|_| ())?;
                }
            }
        }
        Ok(())
    }

    async fn partition_error(
        &mut self,
        key: &Key,
        code: ErrorCode,
        position: i64,
    ) -> Result<(), ()> {
        if code == ErrorCode::OFFSET_OUT_OF_RANGE {
            let reset = match self.settings.reset {
                OffsetReset::Earliest => Offset::Earliest,
                OffsetReset::Latest => Offset::Latest,
                OffsetReset::None => {
                    if let Some(state) = self.partitions.get_mut(key) {
                        state.stopped = true;
                    }
                    let e = Error::OffsetOutOfRange {
                        topic: key.0.to_string(),
                        partition: key.1,
                        offset: position,
                    };
                    return self.tx.send(Err(e)).await.map_err(|_| ());
                }
            };
            warn!(topic = %key.0, partition = key.1, offset = position, ?reset, "offset out of range; resetting");
            let generation = self.partitions.get(key).map_or(0, |s| s.generation);
            if let Err(e) = self.assign(key.0.clone(), key.1, reset, generation).await {
                self.back_off(key);
                if !e.is_retriable() {
                    return self.tx.send(Err(e)).await.map_err(|_| ());
                }
            }
            return Ok(());
        }
        debug!(topic = %key.0, partition = key.1, error = %code, "fetch partition error");
        if code_needs_refresh(code) {
            self.cluster.request_refresh();
        }
        self.back_off(key);
        if !code.is_retriable() && !code_needs_refresh(code) {
            let e = Error::broker(code, format!("{}/{}", key.0, key.1));
            return self.tx.send(Err(e)).await.map_err(|_| ());
        }
        Ok(())
    }

    fn back_off(&mut self, key: &Key) {
        let backoff = self.cluster.config().retry_backoff;
        if let Some(state) = self.partitions.get_mut(key) {
            state.failures = state.failures.saturating_add(1);
            let mut b = backoff.start();
            let mut delay = backoff.initial;
            for _ in 0..state.failures.min(16) {
                delay = b.next_delay().unwrap_or(backoff.max);
            }
            state.retry_at = Some(Instant::now() + delay);
        }
    }
}

/// The partitions a Fetch drops from its session, grouped by topic (with
/// the topic's id, for the versions that name topics by id).
fn forgotten(plan: &Plan, md: &Metadata) -> Vec<ForgottenTopic> {
    let mut out: Vec<ForgottenTopic> = Vec::new();
    for (topic, partition) in &plan.forgotten {
        match out.iter_mut().find(|t| *t.topic == **topic) {
            Some(t) => t.partitions.push(*partition),
            None => out.push(ForgottenTopic {
                topic: topic.to_string(),
                topic_id: md.topic(topic).map(|t| t.id).unwrap_or_default(),
                partitions: vec![*partition],
                ..Default::default()
            }),
        }
    }
    out
}
