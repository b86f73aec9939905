//! The fetcher task: one share session per partition leader; fetches the
//! assigned partitions while fewer records than the bound are in flight,
//! carrying the acknowledgements made since the last request; sends
//! acknowledgements alone (ShareAcknowledge) when it may not fetch, and
//! when the application commits; closes the sessions on close.
//!
//! Requests of one session must go one at a time (each carries the next
//! epoch), so this task is the only one that talks in the sessions: a
//! commit is a command to it, answered once the acknowledgements are.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use kafka_proto::ErrorCode;
use kafka_proto::api::ShareFetchResponse;
use kafka_proto::api::share_fetch::SharePartitionData;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, trace, warn};

use super::acks::{Acquired, PartitionKey, describe_ranges};
use super::config::{AcquireMode, ShareSettings};
use super::membership::{Assignment, MemberShared};
use super::record::AckShared;
use super::records::{Source, acquired_limit, read_acquired};
use super::session::{Acks, FetchParams, Session};
use crate::kafka::cluster::{Cluster, lock};
use crate::kafka::error::{Error, Result};

/// What the consumer asks of the fetcher.
#[derive(Debug)]
pub(crate) enum Command {
    /// Send the acknowledgements made so far now; answer with the
    /// broker's verdict.
    Commit(oneshot::Sender<Result<()>>),
    /// Send the last acknowledgements, close the sessions, stop.
    Close(oneshot::Sender<Result<()>>),
}

/// The fetcher's state.
pub(crate) struct Fetcher {
    pub(crate) cluster: Cluster,
    pub(crate) settings: ShareSettings,
    pub(crate) member: Arc<MemberShared>,
    pub(crate) shared: Arc<AckShared>,
    pub(crate) assignment: watch::Receiver<Arc<Assignment>>,
    pub(crate) commands: mpsc::Receiver<Command>,
    pub(crate) sessions: HashMap<i32, Session>,
}

/// Partitions by leader, and topic names by id.
struct Routes {
    by_leader: BTreeMap<i32, BTreeSet<PartitionKey>>,
    names: HashMap<kafka_proto::primitives::Uuid, Arc<str>>,
}

impl Fetcher {
    /// Runs until closed.
    pub(crate) async fn run(mut self) {
        let retry = self.cluster.config().retry_backoff.initial;
        loop {
            while let Ok(command) = self.commands.try_recv() {
                if self.command(command).await {
                    return;
                }
            }
            let fatal = lock(&self.member.fatal).take();
            if let Some(e) = fatal {
                {
                    let mut outbox = lock(&self.shared.outbox);
                    outbox.push(Err(e));
                    outbox.done = true;
                }
                self.wait_for_close().await;
                return;
            }
            let assignment = self.assignment.borrow().clone();
            let routes = self.routes(&assignment);
            let (room, errors_unread) = {
                let book = lock(&self.shared.book);
                let outbox = lock(&self.shared.outbox);
                (
                    self.settings.max_in_flight.saturating_sub(book.in_flight()),
                    outbox.errors > 0,
                )
            };
            let pending = lock(&self.shared.book).has_pending();
            // Acknowledgements for partitions no longer assigned do not
            // ride on fetches (which would fetch those partitions again):
            // they go alone, now.
            let unassigned =
                pending && lock(&self.shared.book).has_pending_for(|k| !assignment.contains(k));
            if unassigned {
                if let Err(e) = self.acknowledge_all(false).await {
                    self.push_error(e);
                }
                continue;
            }
            if room == 0 || errors_unread || routes.by_leader.is_empty() {
                if pending {
                    if let Err(e) = self.acknowledge_all(false).await {
                        self.push_error(e);
                    }
                    continue;
                }
                let wake = self.shared.wake.clone();
                let notified = wake.notified();
                tokio::select! {
                    () = notified => {}
                    command = self.commands.recv() => match command {
                        Some(c) => if self.command(c).await { return },
                        None => return,
                    },
                    _ = self.assignment.changed() => {}
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                continue;
            }
            if !self.fetch_round(&routes, room).await {
                tokio::time::sleep(retry).await;
            }
        }
    }

    /// Handles a command; `true` when the fetcher must stop.
    async fn command(&mut self, command: Command) -> bool {
        match command {
            Command::Commit(reply) => {
                let result = self.acknowledge_all(false).await;
                let _ = reply.send(result);
                false
            }
            Command::Close(reply) => {
                let result = self.acknowledge_all(true).await;
                lock(&self.shared.outbox).done = true;
                let _ = reply.send(result);
                true
            }
        }
    }

    /// After a fatal error: only a close is left to answer.
    async fn wait_for_close(&mut self) {
        while let Some(command) = self.commands.recv().await {
            match command {
                Command::Commit(reply) => {
                    let _ = reply.send(Err(Error::Closed));
                }
                Command::Close(reply) => {
                    let _ = reply.send(Ok(()));
                    return;
                }
            }
        }
    }

    /// The assigned partitions by leader (asking for fresher metadata when
    /// a topic or leader is unknown), and the topic names.
    fn routes(&self, assignment: &Assignment) -> Routes {
        let md = self.cluster.metadata();
        let names: HashMap<_, Arc<str>> = md
            .topics
            .values()
            .map(|t| (t.id, Arc::from(t.name.as_str())))
            .collect();
        let mut by_leader: BTreeMap<i32, BTreeSet<PartitionKey>> = BTreeMap::new();
        let mut unknown = false;
        for &(id, p) in assignment {
            let leader = names
                .get(&id)
                .and_then(|name| md.leader_for(name, p))
                .filter(|&l| l >= 0);
            match leader {
                Some(l) => {
                    by_leader.entry(l).or_default().insert((id, p));
                }
                None => unknown = true,
            }
        }
        if unknown {
            self.cluster.request_refresh();
        }
        Routes { by_leader, names }
    }

    /// The fetch parameters for `room` records.
    fn params(&self, room: usize, partitions: usize) -> FetchParams {
        let s = &self.settings;
        let max_records = s.max_poll_records.min(room);
        let max_records = i32::try_from(max_records).unwrap_or(i32::MAX);
        let max_bytes = if partitions == 1 {
            s.fetch_max_bytes.min(s.max_partition_fetch_bytes.max(1))
        } else {
            s.fetch_max_bytes
        };
        FetchParams {
            max_wait_ms: i32::try_from(s.fetch_max_wait.as_millis()).unwrap_or(i32::MAX),
            min_bytes: s.fetch_min_bytes,
            max_bytes,
            max_records,
            batch_size: max_records,
            acquire_mode: match s.acquire_mode {
                AcquireMode::BatchOptimized => 0,
                AcquireMode::RecordLimit => 1,
            },
        }
    }

    /// One ShareFetch to every leader at once. `false` if every one failed.
    async fn fetch_round(&mut self, routes: &Routes, room: usize) -> bool {
        let member_id = lock(&self.member.member).member_id().to_owned();
        let group = self.settings.group_id.clone();
        let mut calls = Vec::new();
        for (&leader, wanted) in &routes.by_leader {
            let conn = match self.cluster.broker(leader) {
                Ok(c) => c,
                Err(e) => {
                    debug!(leader, error = %e, "no connection to the share partition leader");
                    continue;
                }
            };
            let params = self.params(room, wanted.len());
            let session = self.sessions.entry(leader).or_default();
            let acks: Acks = if session.is_open() {
                lock(&self.shared.book).take_pending(|k| wanted.contains(k))
            } else {
                Vec::new()
            };
            let request = session.fetch(&group, &member_id, wanted, &acks, params);
            trace!(
                leader,
                epoch = request.share_session_epoch,
                acks = acks.len(),
                max_records = params.max_records,
                "ShareFetch"
            );
            let timeout = self.settings.fetch_max_wait + self.cluster.config().request_timeout;
            calls.push(async move {
                let sent = Instant::now();
                let response = async {
                    let raw = conn.send(request, Some(timeout)).await?;
                    let raw = raw.ok_or(Error::Disconnected {
                        broker: conn.addr().to_owned(),
                    })?;
                    crate::kafka::conn::decode::<ShareFetchResponse>(&raw)
                }
                .await;
                (leader, acks, sent, response)
            });
        }
        let mut any_ok = false;
        let mut room = room;
        for (leader, acks, sent, response) in join_all(calls).await {
            match response {
                Ok(r) if r.error_code.is_ok() => {
                    any_ok = true;
                    self.sessions.entry(leader).or_default().answered();
                    let (left, partition_errors) = self.take_fetched(routes, &acks, sent, r, room);
                    room = left;
                    // A partition that failed (a leader moving) is not
                    // fetched again at once: back off as for a failure.
                    any_ok &= !partition_errors;
                }
                Ok(r) => {
                    self.session_failed(leader, &acks, r.error_code, r.error_message);
                }
                Err(e) => {
                    debug!(leader, error = %e, "ShareFetch failed");
                    if e.needs_metadata_refresh() {
                        self.cluster.request_refresh();
                    }
                    self.session_lost(leader, &acks, &e.to_string());
                }
            }
        }
        any_ok
    }

    /// Reads a ShareFetch answer: acknowledgement results, then records.
    /// Returns the room left, and whether a partition failed.
    fn take_fetched(
        &mut self,
        routes: &Routes,
        acks: &Acks,
        sent: Instant,
        response: ShareFetchResponse,
        mut room: usize,
    ) -> (usize, bool) {
        let mut failed = false;
        let lock_ms = u64::try_from(response.acquisition_lock_timeout_ms).unwrap_or(0);
        let lock_expires_at = (lock_ms > 0).then(|| sent + Duration::from_millis(lock_ms));
        let limit = acquired_limit(self.settings.max_poll_records);
        for topic in response.responses {
            let name = routes
                .names
                .get(&topic.topic_id)
                .cloned()
                .unwrap_or_else(|| Arc::from(topic.topic_id.to_string().as_str()));
            for partition in topic.partitions {
                let key = (topic.topic_id, partition.partition_index);
                trace!(topic = %name, partition = key.1, error = %partition.error_code,
                       ack_error = %partition.acknowledge_error_code,
                       acquired = partition.acquired_records.len(), "ShareFetch partition");
                self.ack_result(&name, key, acks, &partition);
                if !partition.error_code.is_ok() {
                    failed = true;
                    self.partition_failed(&name, key, &partition);
                    continue;
                }
                let acquired = Acquired::new(&partition.acquired_records);
                if acquired.len() > limit {
                    self.push_error(Error::broker(
                        ErrorCode::CORRUPT_MESSAGE,
                        format!(
                            "{name}/{}: the broker acquired {} offsets in one answer (at most {limit} expected); they are left to their lock",
                            key.1,
                            acquired.len()
                        ),
                    ));
                    continue;
                }
                let source = Source {
                    topic: &name,
                    key,
                    lock_expires_at,
                    room,
                };
                let read = {
                    let mut book = lock(&self.shared.book);
                    read_acquired(
                        &source,
                        partition.records,
                        &acquired,
                        &mut book,
                        &self.shared,
                    )
                };
                room = room.saturating_sub(read.records.len());
                let mut outbox = lock(&self.shared.outbox);
                for record in read.records {
                    outbox.push(Ok(record));
                }
                if let Some(e) = read.failure {
                    outbox.push(Err(e));
                }
            }
        }
        (room, failed)
    }

    /// Surfaces the broker's verdict on acknowledgements sent with a
    /// fetch, for the partitions it refused.
    fn ack_result(&self, name: &str, key: PartitionKey, acks: &Acks, p: &SharePartitionData) {
        if p.acknowledge_error_code.is_ok() {
            return;
        }
        let Some((_, batches)) = acks.iter().find(|(k, _)| *k == key) else {
            return;
        };
        self.push_error(Error::broker(
            p.acknowledge_error_code,
            format!(
                "share group {}: acknowledging {name}/{} offsets {}: {}",
                self.settings.group_id,
                key.1,
                describe_ranges(batches),
                p.acknowledge_error_message.as_deref().unwrap_or_default()
            ),
        ));
    }

    /// A partition's fetch error: leadership moves refresh the metadata;
    /// other errors that retrying will not mend go to the application.
    fn partition_failed(&self, name: &str, key: PartitionKey, p: &SharePartitionData) {
        let code = p.error_code;
        if matches!(
            code,
            ErrorCode::NOT_LEADER_OR_FOLLOWER
                | ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
                | ErrorCode::FENCED_LEADER_EPOCH
                | ErrorCode::UNKNOWN_TOPIC_ID
        ) || code.is_retriable()
        {
            debug!(topic = name, partition = key.1, error = %code, "share fetch partition error; retrying");
            self.cluster.request_refresh();
            return;
        }
        self.push_error(Error::broker(
            code,
            format!(
                "{name}/{}: ShareFetch: {}",
                key.1,
                p.error_message.as_deref().unwrap_or_default()
            ),
        ));
    }

    /// A top-level error answer: session errors start the session over;
    /// acknowledgements the request carried are reported as not applied.
    fn session_failed(
        &mut self,
        leader: i32,
        acks: &Acks,
        code: ErrorCode,
        message: Option<String>,
    ) {
        let text = format!("{code}: {}", message.unwrap_or_default());
        warn!(leader, error = %text, "ShareFetch refused");
        if !code.is_retriable() && !is_session_error(code) {
            self.push_error(Error::broker(
                code,
                format!("share group {}: ShareFetch", self.settings.group_id),
            ));
        }
        self.session_lost(leader, acks, &text);
    }

    /// The session with `leader` is unknown now; the acknowledgements in
    /// flight with it may not have been applied, and are reported so.
    fn session_lost(&mut self, leader: i32, acks: &Acks, why: &str) {
        if let Some(s) = self.sessions.get_mut(&leader) {
            s.reset();
        }
        for (key, batches) in acks {
            let name = self.name_of(key);
            self.push_error(Error::broker(
                ErrorCode::SHARE_SESSION_NOT_FOUND,
                format!(
                    "share group {}: acknowledging {name}/{} offsets {} may not have been applied: {why}",
                    self.settings.group_id,
                    key.1,
                    describe_ranges(batches)
                ),
            ));
        }
    }

    fn name_of(&self, key: &PartitionKey) -> String {
        self.cluster
            .metadata()
            .topics
            .values()
            .find(|t| t.id == key.0)
            .map_or_else(|| key.0.to_string(), |t| t.name.clone())
    }

    fn push_error(&self, e: Error) {
        lock(&self.shared.outbox).push(Err(e));
    }

    /// The leader of a partition now, by the metadata.
    fn leader_of(&self, key: &PartitionKey) -> Option<i32> {
        let md = self.cluster.metadata();
        let topic = md.topics.values().find(|t| t.id == key.0)?;
        md.leader_for(&topic.name, key.1).filter(|&l| l >= 0)
    }

    /// Sends every pending acknowledgement with ShareAcknowledge, one
    /// request per leader with an open session (and closes every session
    /// if `close`). Acknowledgements that no open session can take are
    /// reported as not sent. The first refusal is the result; every one
    /// also goes to the application's stream unless it is the result.
    async fn acknowledge_all(&mut self, close: bool) -> Result<()> {
        let member_id = lock(&self.member.member).member_id().to_owned();
        let group = self.settings.group_id.clone();
        let mut by_leader: BTreeMap<i32, Acks> = BTreeMap::new();
        let mut errors: Vec<Error> = Vec::new();
        let pending = lock(&self.shared.book).take_pending(|_| true);
        for (key, batches) in pending {
            match self.leader_of(&key) {
                Some(l) if self.sessions.get(&l).is_some_and(Session::is_open) => {
                    by_leader.entry(l).or_default().push((key, batches));
                }
                _ => errors.push(Error::broker(
                    ErrorCode::SHARE_SESSION_NOT_FOUND,
                    format!(
                        "share group {group}: acknowledging {}/{} offsets {} not sent: no share session with its leader",
                        self.name_of(&key),
                        key.1,
                        describe_ranges(&batches)
                    ),
                )),
            }
        }
        if close {
            for (&leader, session) in &self.sessions {
                if session.is_open() {
                    by_leader.entry(leader).or_default();
                }
            }
        }
        for (leader, acks) in by_leader {
            let session = self.sessions.entry(leader).or_default().clone();
            let request = session.acknowledge(&group, &member_id, &acks, close);
            let outcome = match self.cluster.broker(leader) {
                Ok(conn) => conn.call(request).await,
                Err(e) => Err(e),
            };
            debug!(leader, close, acks = ?acks, outcome = ?outcome, "ShareAcknowledge");
            let s = self.sessions.entry(leader).or_default();
            match outcome {
                Ok(r) if r.error_code.is_ok() => {
                    if close {
                        s.reset()
                    } else {
                        s.answered()
                    }
                    for topic in r.responses {
                        for p in topic.partitions {
                            if p.error_code.is_ok() {
                                continue;
                            }
                            let key = (topic.topic_id, p.partition_index);
                            let offsets = acks
                                .iter()
                                .find(|(k, _)| *k == key)
                                .map(|(_, b)| describe_ranges(b))
                                .unwrap_or_default();
                            errors.push(Error::broker(
                                p.error_code,
                                format!(
                                    "share group {group}: acknowledging {}/{} offsets {offsets}: {}",
                                    self.name_of(&key),
                                    key.1,
                                    p.error_message.unwrap_or_default()
                                ),
                            ));
                        }
                    }
                }
                Ok(r) => {
                    s.reset();
                    errors.push(Error::broker(
                        r.error_code,
                        format!(
                            "share group {group}: ShareAcknowledge: {}",
                            r.error_message.unwrap_or_default()
                        ),
                    ));
                }
                Err(e) => {
                    s.reset();
                    errors.push(e);
                }
            }
        }
        let mut errors = errors.into_iter();
        let first = errors.next();
        for e in errors {
            warn!(error = %e, "acknowledgement refused");
            self.push_error(e);
        }
        match first {
            Some(e) => {
                warn!(error = %e, "acknowledgement refused");
                Err(e)
            }
            None => Ok(()),
        }
    }
}

/// Whether a top-level code says the share session is gone.
fn is_session_error(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::SHARE_SESSION_NOT_FOUND | ErrorCode::INVALID_SHARE_SESSION_EPOCH
    )
}
