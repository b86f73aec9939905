//! Group membership: the state shared by the consumer and its background
//! tasks, and the join: JoinGroup, the leader's assignment, SyncGroup.
//!
//! ```text
//!            subscribe / rejoin needed
//!   Unjoined ─────────────────────────▶ Joining ──(SyncGroup ok)──▶ Stable
//!      ▲                                   │                          │
//!      │        error (retried with        │     REBALANCE_IN_PROGRESS│
//!      │        backoff by the consumer)   │     or metadata change:  │
//!      ├───────────────────────────────────┘     rejoin requested ────┘
//!      │  UNKNOWN_MEMBER_ID / ILLEGAL_GENERATION / FENCED_INSTANCE_ID,
//!      └─ session expired, max_poll_interval exceeded: membership lost
//! ```
//!
//! The join runs in its own task, so it goes on while the application is
//! busy (the coordinator waits up to the rebalance timeout for members to
//! rejoin, and a leader that is slow to SyncGroup would stall the group).
//! What needs the application (the listener, revoking, fetching positions)
//! happens in the consumer when it is polled.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use kafka_proto::ErrorCode;
use kafka_proto::api::join_group::JoinGroupRequestProtocol;
use kafka_proto::api::leave_group::MemberIdentity;
use kafka_proto::api::sync_group::SyncGroupRequestAssignment;
use kafka_proto::api::{JoinGroupRequest, LeaveGroupRequest, SyncGroupRequest};
use tokio::sync::{Notify, mpsc};
use tracing::{debug, info, warn};

use super::assignor::{Assignor, GroupMember};
use super::config::GroupSettings;
use super::coordinator::{Coordinator, is_coordinator_error};
use super::offsets::CommitQueue;
use super::protocol;
use super::subscription::{Subscription, partition_counts};
use super::topic_partition::{Compact, OffsetAndEpoch, TopicPartition};
use crate::kafka::cluster::lock;
use crate::kafka::error::{Error, Result};

/// Where the member is in the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Not a member (yet, or any more).
    Unjoined,
    /// A join is under way; no heartbeats.
    Joining,
    /// A member of generation `generation`; heartbeating.
    Stable,
}

/// The membership, as the consumer and its tasks share it.
#[derive(Debug)]
pub(crate) struct Member {
    pub(crate) member_id: String,
    pub(crate) generation: i32,
    pub(crate) phase: Phase,
    /// Why a rejoin is needed, if it is.
    pub(crate) rejoin: Option<String>,
    /// Why the membership was lost, until the consumer has reported the
    /// partitions lost.
    pub(crate) lost: Option<String>,
    /// The coordinator fenced this static member: another instance with
    /// its id took over. Fatal, as in Java.
    pub(crate) fenced: bool,
    /// The coordinator refused the membership for good (consumer
    /// protocol: an unknown assignor, a bad regex, a static id still in
    /// use): every poll fails with it until the next subscribe.
    pub(crate) fatal: Option<(ErrorCode, String)>,
    /// The consumer is closing (consumer protocol): the heartbeat task
    /// sends nothing more, so the partitions revoked on the way out are
    /// not reported as given up before the leaving heartbeat goes.
    pub(crate) closing: bool,
    /// When the coordinator last accepted a heartbeat (or the join).
    pub(crate) last_contact: Instant,
}

/// Tells whether the application is inside `next()` and whether it got
/// something out of it lately, for `max_poll_interval`. The consumer only
/// bumps counters (no clock read per record); the heartbeat task samples
/// them with [`PollWatch`].
#[derive(Debug)]
pub(crate) struct PollClock {
    returns: AtomicU64,
    in_poll: AtomicBool,
}

impl PollClock {
    fn new() -> Self {
        PollClock {
            returns: AtomicU64::new(0),
            in_poll: AtomicBool::new(false),
        }
    }

    /// The application is waiting in `next()`.
    pub(crate) fn enter(&self) {
        self.in_poll.store(true, Ordering::Relaxed);
    }

    /// `next()` handed the application something (or failed).
    pub(crate) fn leave(&self) {
        // Only the consumer writes: a load and a store, no locked add.
        let n = self.returns.load(Ordering::Relaxed);
        self.returns.store(n.wrapping_add(1), Ordering::Relaxed);
        self.in_poll.store(false, Ordering::Relaxed);
    }
}

/// The heartbeat task's view of a [`PollClock`]: how long the application
/// has been away from `next()`, to within one sampling interval.
#[derive(Debug)]
pub(crate) struct PollWatch {
    seen: u64,
    since: Instant,
}

impl PollWatch {
    pub(crate) fn new(now: Instant) -> Self {
        PollWatch {
            seen: 0,
            since: now,
        }
    }

    /// How long the application has been away from `next()` as of `now`,
    /// or `None` if it is waiting inside it.
    pub(crate) fn away_for(&mut self, clock: &PollClock, now: Instant) -> Option<Duration> {
        let returns = clock.returns.load(Ordering::Relaxed);
        if returns != self.seen {
            self.seen = returns;
            self.since = now;
        }
        if clock.in_poll.load(Ordering::Relaxed) {
            self.since = now;
            return None;
        }
        Some(now.saturating_duration_since(self.since))
    }
}

/// Offsets this consumer processed and committed.
#[derive(Debug, Default)]
pub(crate) struct Offsets {
    /// Marked processed (by the application, or by asking for the next
    /// record with auto-commit on); committed on revoke, close and by
    /// auto-commit.
    pub(crate) processed: BTreeMap<TopicPartition, OffsetAndEpoch>,
    /// Last committed by this consumer.
    pub(crate) committed: BTreeMap<TopicPartition, OffsetAndEpoch>,
}

/// Everything the consumer and its background tasks share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) settings: GroupSettings,
    pub(crate) coordinator: Coordinator,
    member: Mutex<Member>,
    /// Wakes the consumer (capacity 1: a doorbell, not a queue).
    doorbell: mpsc::Sender<()>,
    /// Counts rings, so the consumer checks the membership only after one.
    pub(crate) events: AtomicU64,
    /// Signalled whenever the membership changes.
    pub(crate) member_changed: Notify,
    pub(crate) poll: PollClock,
    /// The partitions the consumer owns now: commits of others are refused.
    assignment: Mutex<BTreeSet<TopicPartition>>,
    pub(crate) offsets: Mutex<Offsets>,
    /// Topics and partition counts the last assignment was made for (all
    /// the group's topics if this member led it): a change asks for a
    /// rebalance.
    pub(crate) watched: Mutex<BTreeMap<String, i32>>,
    /// The subscription's topics now (a pattern's matches).
    pub(crate) topics: Mutex<BTreeSet<String>>,
    /// The subscription, if any.
    pub(crate) subscription: Mutex<Option<Subscription>>,
    /// Offsets waiting for the committer task.
    pub(crate) commits: Mutex<CommitQueue>,
    /// Wakes the committer task.
    pub(crate) commit_wake: Notify,
    /// Set by the auto-commit tick: the consumer publishes its progress at
    /// the next record.
    pub(crate) progress_wanted: AtomicBool,
    /// Consumer protocol: the assignment the coordinator sent last, until
    /// the consumer takes it up.
    pub(crate) target: Mutex<Option<Target>>,
    /// Consumer protocol: heartbeat now (the owned partitions or the
    /// subscription changed, or lost partitions were reported).
    pub(crate) heartbeat_now: Notify,
}

/// An assignment sent by the coordinator (consumer protocol).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// The member epoch it came with.
    pub(crate) epoch: i32,
    /// The partitions, sorted.
    pub(crate) partitions: Vec<TopicPartition>,
}

impl Shared {
    pub(crate) fn new(
        settings: GroupSettings,
        coordinator: Coordinator,
    ) -> (Arc<Shared>, mpsc::Receiver<()>) {
        let (doorbell, rx) = mpsc::channel(1);
        let shared = Shared {
            settings,
            coordinator,
            member: Mutex::new(Member {
                member_id: String::new(),
                generation: -1,
                phase: Phase::Unjoined,
                rejoin: None,
                lost: None,
                fenced: false,
                fatal: None,
                closing: false,
                last_contact: Instant::now(),
            }),
            doorbell,
            events: AtomicU64::new(0),
            member_changed: Notify::new(),
            poll: PollClock::new(),
            assignment: Mutex::new(BTreeSet::new()),
            offsets: Mutex::new(Offsets::default()),
            watched: Mutex::new(BTreeMap::new()),
            topics: Mutex::new(BTreeSet::new()),
            subscription: Mutex::new(None),
            commits: Mutex::new(CommitQueue::default()),
            commit_wake: Notify::new(),
            progress_wanted: AtomicBool::new(false),
            target: Mutex::new(None),
            heartbeat_now: Notify::new(),
        };
        (Arc::new(shared), rx)
    }

    pub(crate) fn member(&self) -> MutexGuard<'_, Member> {
        lock(&self.member)
    }

    /// Wakes the consumer if it waits in `next()`.
    pub(crate) fn ring(&self) {
        self.events.fetch_add(1, Ordering::Release);
        let _ = self.doorbell.try_send(());
    }

    /// Asks for a rebalance (keeping the first reason). With the consumer
    /// protocol, the heartbeat goes out now instead: the coordinator
    /// decides whether anything moves.
    pub(crate) fn request_rejoin(&self, reason: impl Into<String>) {
        if self.settings.protocol == super::config::GroupProtocol::Consumer {
            debug!(group = %self.settings.group_id, reason = %reason.into(), "heartbeat requested");
            self.heartbeat_now.notify_one();
            self.ring();
            return;
        }
        let mut m = self.member();
        if m.rejoin.is_none() {
            let reason = reason.into();
            debug!(group = %self.settings.group_id, reason = %reason, "rejoin requested");
            m.rejoin = Some(reason);
        }
        drop(m);
        self.ring();
    }

    /// The membership is gone: the partitions must be reported lost, then
    /// the consumer rejoins. `forget_id` drops the member id (the
    /// coordinator no longer knows it).
    pub(crate) fn lose(&self, generation: i32, reason: impl Into<String>, forget_id: bool) {
        let mut m = self.member();
        if m.generation != generation || m.phase != Phase::Stable {
            // A newer generation already, lost before, or a join under way
            // (which settles the membership itself).
            return;
        }
        let reason = reason.into();
        warn!(group = %self.settings.group_id, member_id = %m.member_id, generation, reason = %reason,
              "group membership lost");
        m.phase = Phase::Unjoined;
        m.generation = -1;
        if forget_id {
            m.member_id.clear();
        }
        m.lost = Some(reason.clone());
        m.rejoin.get_or_insert(reason);
        drop(m);
        // An assignment not taken up yet belongs to the lost membership.
        *lock(&self.target) = None;
        self.member_changed.notify_waiters();
        self.ring();
    }

    /// The partitions owned now.
    pub(crate) fn assignment(&self) -> BTreeSet<TopicPartition> {
        lock(&self.assignment).clone()
    }

    pub(crate) fn set_assignment(&self, partitions: BTreeSet<TopicPartition>) {
        *lock(&self.assignment) = partitions;
    }

    pub(crate) fn owns(&self, tp: &TopicPartition) -> bool {
        lock(&self.assignment).contains(tp)
    }
}

/// What a join starts from, snapshotted by the consumer.
#[derive(Debug, Clone)]
pub(crate) struct JoinParams {
    /// The subscribed topics.
    pub(crate) topics: Vec<String>,
    /// Partitions kept through the rebalance (cooperative), else empty.
    pub(crate) owned: Vec<TopicPartition>,
    /// The generation they were owned in, or -1.
    pub(crate) generation: i32,
    /// Why this join.
    pub(crate) reason: String,
}

/// The outcome of a join.
#[derive(Debug, Clone)]
pub(crate) struct Joined {
    pub(crate) member_id: String,
    pub(crate) generation: i32,
    pub(crate) assignor: Assignor,
    pub(crate) leader: bool,
    pub(crate) assignment: Vec<TopicPartition>,
}

/// The subscription metadata for each assignor offered, preferred first.
fn protocols(
    settings: &GroupSettings,
    params: &JoinParams,
) -> Result<Vec<JoinGroupRequestProtocol>> {
    settings
        .assignors
        .iter()
        .map(|&a| {
            let mut sub = protocol::subscription(params.topics.clone());
            sub.owned_partitions = protocol::owned_partitions(&params.owned);
            sub.generation_id = params.generation;
            sub.rack_id = settings.rack_id.clone();
            if a == Assignor::CooperativeSticky && params.generation >= 0 {
                // librdkafka reads the generation from here before
                // subscription v2.
                sub.user_data = Some(protocol::encode_sticky_user_data(
                    &params.owned,
                    params.generation,
                )?);
            }
            Ok(JoinGroupRequestProtocol {
                name: a.name().to_owned(),
                metadata: protocol::encode_subscription(&sub)?,
                ..Default::default()
            })
        })
        .collect()
}

fn millis(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

/// Joins the group: JoinGroup (again after MEMBER_ID_REQUIRED and
/// retriable errors), the leader's assignment, SyncGroup. Marks the member
/// Stable on success. Retriable failures are retried here, with backoff,
/// for as long as it takes; other errors end the join.
pub(crate) async fn join(shared: Arc<Shared>, params: JoinParams) -> Result<Joined> {
    let settings = &shared.settings;
    let coordinator = &shared.coordinator;
    let mut backoff = coordinator.cluster().config().retry_backoff.start();
    loop {
        match join_once(&shared, &params).await {
            Ok(Some(joined)) => return Ok(joined),
            Ok(None) => {
                // Rejoin at once (new member id, rebalance restarted).
                continue;
            }
            Err(e) if e.is_retriable() => {
                let delay = backoff.next_delay().unwrap_or(Duration::from_secs(1));
                debug!(group = %settings.group_id, error = %e, retry_in = ?delay, "join failed; retrying");
                tokio::time::sleep(delay).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// One JoinGroup + SyncGroup round: `Ok(None)` to go again at once.
async fn join_once(shared: &Arc<Shared>, params: &JoinParams) -> Result<Option<Joined>> {
    let settings = &shared.settings;
    let coordinator = &shared.coordinator;
    let member_id = shared.member().member_id.clone();
    let request = JoinGroupRequest {
        group_id: settings.group_id.to_string(),
        session_timeout_ms: millis(settings.session_timeout),
        rebalance_timeout_ms: millis(settings.rebalance_timeout()),
        member_id: member_id.clone(),
        group_instance_id: settings.instance_id.clone(),
        protocol_type: "consumer".to_owned(),
        protocols: protocols(settings, params)?,
        reason: Some(params.reason.clone()),
        ..Default::default()
    };
    debug!(group = %settings.group_id, member_id = %member_id, topics = ?params.topics,
           owned = %Compact(&params.owned), reason = %params.reason, "sending JoinGroup");
    // The coordinator answers once every member has rejoined, or after the
    // rebalance timeout.
    let timeout = settings.rebalance_timeout() + Duration::from_secs(5);
    let response = coordinator.call(request, Some(timeout)).await?;
    match response.error_code {
        ErrorCode::NONE => {}
        ErrorCode::MEMBER_ID_REQUIRED => {
            // KIP-394: join again with the id the coordinator gave.
            shared.member().member_id = response.member_id;
            return Ok(None);
        }
        ErrorCode::UNKNOWN_MEMBER_ID => {
            shared.member().member_id.clear();
            return Ok(None);
        }
        ErrorCode::REBALANCE_IN_PROGRESS => return Ok(None),
        ErrorCode::FENCED_INSTANCE_ID => {
            shared.member().fenced = true;
            return Err(coordinator.error(response.error_code, "JoinGroup"));
        }
        code => {
            return Err(coordinator.error(code, "JoinGroup"));
        }
    }
    let generation = response.generation_id;
    let member_id = response.member_id.clone();
    shared.member().member_id = member_id.clone();
    let protocol = response.protocol_name.clone().unwrap_or_default();
    let assignor = Assignor::from_name(&protocol)
        .filter(|a| settings.assignors.contains(a))
        .ok_or_else(|| {
            Error::broker(
                ErrorCode::INCONSISTENT_GROUP_PROTOCOL,
                format!("the group chose assignor {protocol:?}, which this member did not offer"),
            )
        })?;
    let leader = response.leader == member_id;
    let (assignments, group_topics) = if leader && !response.skip_assignment {
        let (assignments, counts) = lead(shared, assignor, &response.members).await?;
        (assignments, Some(counts))
    } else {
        (Vec::new(), None)
    };
    info!(group = %settings.group_id, member_id = %member_id, generation, assignor = %assignor,
          leader, members = response.members.len(), "joined the group");
    let sync = SyncGroupRequest {
        group_id: settings.group_id.to_string(),
        generation_id: generation,
        member_id: member_id.clone(),
        group_instance_id: settings.instance_id.clone(),
        protocol_type: Some("consumer".to_owned()),
        protocol_name: Some(protocol),
        assignments,
        ..Default::default()
    };
    let response = coordinator.call(sync, None).await?;
    match response.error_code {
        ErrorCode::NONE => {}
        ErrorCode::REBALANCE_IN_PROGRESS | ErrorCode::ILLEGAL_GENERATION => {
            debug!(group = %settings.group_id, error = %response.error_code, "SyncGroup: rejoining");
            return Ok(None);
        }
        ErrorCode::UNKNOWN_MEMBER_ID => {
            shared.member().member_id.clear();
            return Ok(None);
        }
        ErrorCode::FENCED_INSTANCE_ID => {
            shared.member().fenced = true;
            return Err(coordinator.error(response.error_code, "SyncGroup"));
        }
        code => {
            return Err(coordinator.error(code, "SyncGroup"));
        }
    }
    let mut partitions =
        protocol::decode_assignment(&response.assignment).map_err(|source| Error::Decode {
            api: kafka_proto::ApiKey::SYNC_GROUP,
            source,
        })?;
    partitions.sort();
    partitions.dedup();
    // Watch the topics this assignment was made for: all the group's if
    // this member led, else its own.
    let watched = group_topics.unwrap_or_else(|| {
        partition_counts(
            &shared.coordinator.cluster().metadata(),
            params.topics.iter(),
        )
    });
    *lock(&shared.watched) = watched;
    {
        let mut m = shared.member();
        m.member_id = member_id.clone();
        m.generation = generation;
        m.phase = Phase::Stable;
        m.last_contact = Instant::now();
    }
    shared.member_changed.notify_waiters();
    info!(group = %settings.group_id, member_id = %member_id, generation,
          assignment = %Compact(&partitions), "received the assignment");
    Ok(Some(Joined {
        member_id,
        generation,
        assignor,
        leader,
        assignment: partitions,
    }))
}

/// The leader's part: reads every member's subscription, fetches the
/// partition counts of all their topics and runs the assignor.
async fn lead(
    shared: &Arc<Shared>,
    assignor: Assignor,
    members: &[kafka_proto::api::join_group::JoinGroupResponseMember],
) -> Result<(Vec<SyncGroupRequestAssignment>, BTreeMap<String, i32>)> {
    let settings = &shared.settings;
    let cluster = shared.coordinator.cluster();
    let mut parsed = Vec::with_capacity(members.len());
    let mut unreadable = Vec::new();
    for m in members {
        match protocol::decode_subscription(&m.metadata) {
            Ok((version, subscription)) => parsed.push(GroupMember {
                member_id: m.member_id.clone(),
                instance_id: m.group_instance_id.clone(),
                version,
                subscription,
            }),
            Err(e) => {
                // librdkafka does the same: the member gets nothing.
                warn!(group = %settings.group_id, member_id = %m.member_id, error = %e,
                      "unreadable subscription; assigning the member nothing");
                unreadable.push(m.member_id.clone());
            }
        }
    }
    let topics: BTreeSet<String> = parsed
        .iter()
        .flat_map(|m| m.subscription.topics.iter().cloned())
        .collect();
    cluster.add_topics(topics.iter());
    let md = match cluster.refresh().await {
        Ok(md) => md,
        Err(e) if e.is_retriable() => cluster.metadata(),
        Err(e) => return Err(e),
    };
    let counts = partition_counts(&md, topics.iter());
    let missing: Vec<&String> = topics.iter().filter(|t| !counts.contains_key(*t)).collect();
    if !missing.is_empty() {
        debug!(group = %settings.group_id, topics = ?missing, "subscribed topics not in the metadata; left out");
    }
    let plan = assignor.assign(&parsed, &counts);
    let mut out: Vec<SyncGroupRequestAssignment> = plan
        .into_iter()
        .map(|(member_id, partitions)| {
            debug!(group = %settings.group_id, member = %member_id,
                   assignment = %Compact(&partitions), "assigned");
            Ok(SyncGroupRequestAssignment {
                member_id,
                assignment: protocol::encode_assignment(&partitions)?,
                ..Default::default()
            })
        })
        .collect::<Result<_>>()?;
    let nothing = protocol::encode_assignment(&[])?;
    out.extend(
        unreadable
            .into_iter()
            .map(|member_id| SyncGroupRequestAssignment {
                member_id,
                assignment: nothing.clone(),
                ..Default::default()
            }),
    );
    Ok((out, counts))
}

/// Whether a heartbeat or commit error code means this member is no longer
/// in the generation it used.
pub(crate) fn is_membership_error(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::UNKNOWN_MEMBER_ID
            | ErrorCode::ILLEGAL_GENERATION
            | ErrorCode::FENCED_INSTANCE_ID
            | ErrorCode::FENCED_MEMBER_EPOCH
    )
}

/// Whether `code` from a group API is worth retrying after looking up the
/// coordinator again.
pub(crate) fn retry_after_lookup(code: ErrorCode) -> bool {
    is_coordinator_error(code) || code == ErrorCode::COORDINATOR_LOAD_IN_PROGRESS
}

/// Sends LeaveGroup for this member (a dynamic one, or a static one when
/// asked to) and forgets the membership. Errors are logged: the session
/// timeout removes the member anyway.
pub(crate) async fn leave(shared: &Shared, reason: &str) {
    if shared.settings.protocol == super::config::GroupProtocol::Consumer {
        super::kip848::leave(shared, reason, false).await;
        return;
    }
    let (member_id, generation) = {
        let m = shared.member();
        (m.member_id.clone(), m.generation)
    };
    if member_id.is_empty() {
        return;
    }
    let request = LeaveGroupRequest {
        group_id: shared.settings.group_id.to_string(),
        // Versions up to 2 name the member here, later ones in `members`.
        member_id: member_id.clone(),
        members: vec![MemberIdentity {
            member_id: member_id.clone(),
            group_instance_id: shared.settings.instance_id.clone(),
            reason: Some(reason.to_owned()),
            ..Default::default()
        }],
        ..Default::default()
    };
    match shared.coordinator.call(request, None).await {
        Ok(r) => {
            let code = r
                .members
                .iter()
                .map(|m| m.error_code)
                .find(|c| !c.is_ok())
                .unwrap_or(r.error_code);
            if code.is_ok() {
                info!(group = %shared.settings.group_id, member_id = %member_id, generation, reason,
                      "left the group");
            } else {
                warn!(group = %shared.settings.group_id, member_id = %member_id, error = %code,
                      "LeaveGroup refused");
            }
        }
        Err(e) => {
            warn!(group = %shared.settings.group_id, member_id = %member_id, error = %e,
                  "LeaveGroup failed; the session timeout will remove the member");
        }
    }
    let mut m = shared.member();
    if m.generation == generation {
        m.phase = Phase::Unjoined;
        m.generation = -1;
        m.member_id.clear();
    }
    drop(m);
    shared.member_changed.notify_waiters();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_watch_measures_time_away_from_next() {
        let clock = PollClock::new();
        let t0 = Instant::now();
        let mut watch = PollWatch::new(t0);
        let at = |s: u64| t0 + Duration::from_secs(s);
        // Waiting inside next() is never time away, however long.
        clock.enter();
        assert_eq!(watch.away_for(&clock, at(100)), None);
        // Handed a record at about 100 s: away from then on.
        clock.leave();
        assert_eq!(watch.away_for(&clock, at(101)), Some(Duration::ZERO));
        assert_eq!(
            watch.away_for(&clock, at(104)),
            Some(Duration::from_secs(3))
        );
        // Each record handed out restarts the count.
        clock.enter();
        clock.leave();
        assert_eq!(watch.away_for(&clock, at(105)), Some(Duration::ZERO));
        assert_eq!(
            watch.away_for(&clock, at(111)),
            Some(Duration::from_secs(6))
        );
    }

    #[test]
    fn membership_errors() {
        for code in [
            ErrorCode::UNKNOWN_MEMBER_ID,
            ErrorCode::ILLEGAL_GENERATION,
            ErrorCode::FENCED_INSTANCE_ID,
        ] {
            assert!(is_membership_error(code), "{code}");
        }
        assert!(!is_membership_error(ErrorCode::REBALANCE_IN_PROGRESS));
        assert!(retry_after_lookup(ErrorCode::NOT_COORDINATOR));
        assert!(retry_after_lookup(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS));
        assert!(!retry_after_lookup(ErrorCode::GROUP_AUTHORIZATION_FAILED));
    }
}
