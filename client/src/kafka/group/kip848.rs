//! The consumer group protocol of KIP-848 (`group.protocol=consumer`): one
//! background task sends ConsumerGroupHeartbeat, which joins (epoch 0),
//! keeps the membership, reports the partitions the consumer owns and
//! carries the subscription; the coordinator answers with the member's
//! epoch and, when it changes, its assignment.
//!
//! ```text
//!   Unjoined ──(epoch 0)──▶ Stable ──(assignment)──▶ consumer reconciles:
//!      ▲                      ▲        revoke, then assign, then the next
//!      │                      └──────  heartbeat reports what it owns
//!      │  UNKNOWN_MEMBER_ID / FENCED_MEMBER_EPOCH, session or poll
//!      └─ timeout: lost; rejoin with epoch 0 once the consumer has
//!         reported the partitions lost
//! ```
//!
//! The coordinator moves a partition only once its owner has reported it
//! revoked, so a member never reads a partition another one owns. The
//! reconciliation itself needs the listener and runs in the consumer
//! (`rebalance::reconcile`), between records, as in the classic protocol.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_proto::api::ConsumerGroupHeartbeatRequest;
use kafka_proto::api::consumer_group_heartbeat::ConsumerGroupHeartbeatTopicPartitions;
use kafka_proto::{ErrorCode, Uuid};
use tracing::{debug, info, warn};

use super::membership::{Phase, PollWatch, Shared, Target, retry_after_lookup};
use super::subscription::Subscription;
use super::topic_partition::{Compact, TopicPartition};
use crate::kafka::cluster::{fetch_metadata_from, lock};
use crate::kafka::error::Result;

/// The epoch that leaves the group.
const LEAVE: i32 = -1;
/// The epoch of a static member that leaves for a while: the coordinator
/// keeps its partitions for it until the session timeout.
const STATIC_LEAVE: i32 = -2;

/// The heartbeat interval until the coordinator names one (the broker's
/// default `group.consumer.heartbeat.interval.ms`).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// A member id for this consumer's life: the client makes it from version
/// 1 on (random, as Java's `Uuid.randomUuid`).
pub(crate) fn new_member_id() -> String {
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // No system randomness: time, process and a count still tell
        // members apart.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64;
        let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        bytes[..8].copy_from_slice(&t.to_le_bytes());
        bytes[8..].copy_from_slice(&(n ^ (u64::from(std::process::id()) << 32)).to_le_bytes());
    }
    Uuid(bytes).to_string()
}

/// The subscription as the heartbeat carries it: topic names, or a regex
/// the coordinator resolves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fields {
    pub(crate) names: Vec<String>,
    pub(crate) regex: Option<String>,
}

/// The subscription's fields: a glob goes to the coordinator as a regex;
/// a predicate only the client can evaluate, so it goes as the names it
/// matched last.
pub(crate) fn subscription_fields(
    subscription: &Subscription,
    resolved: &BTreeSet<String>,
) -> Fields {
    match subscription {
        Subscription::Topics(t) => Fields {
            names: t.iter().cloned().collect(),
            regex: None,
        },
        Subscription::Pattern(p) => match p.to_broker_regex() {
            Some(re) => Fields {
                names: Vec::new(),
                regex: Some(re),
            },
            None => Fields {
                names: resolved.iter().cloned().collect(),
                regex: None,
            },
        },
    }
}

/// Topic ids and names, both ways, as learned from the metadata.
#[derive(Debug, Default)]
pub(crate) struct TopicIds {
    names: HashMap<Uuid, Arc<str>>,
    ids: HashMap<Arc<str>, Uuid>,
}

impl TopicIds {
    pub(crate) fn learn(&mut self, id: Uuid, name: &str) {
        if id == Uuid::default() {
            return;
        }
        let name: Arc<str> = name.into();
        self.ids.insert(name.clone(), id);
        self.names.insert(id, name);
    }

    /// The owned partitions by topic id (partitions of topics whose id is
    /// not known are left out: the coordinator only ever assigned known
    /// ids).
    pub(crate) fn owned(
        &self,
        owned: &BTreeSet<TopicPartition>,
    ) -> Vec<ConsumerGroupHeartbeatTopicPartitions> {
        let mut out: Vec<ConsumerGroupHeartbeatTopicPartitions> = Vec::new();
        for tp in owned {
            let Some(&id) = self.ids.get(&tp.topic) else {
                continue;
            };
            match out.last_mut() {
                Some(t) if t.topic_id == id => t.partitions.push(tp.partition),
                _ => out.push(ConsumerGroupHeartbeatTopicPartitions {
                    topic_id: id,
                    partitions: vec![tp.partition],
                    ..Default::default()
                }),
            }
        }
        out
    }

    /// The assignment by name, or the ids not known.
    pub(crate) fn resolve(
        &self,
        assigned: &[ConsumerGroupHeartbeatTopicPartitions],
    ) -> std::result::Result<Vec<TopicPartition>, Vec<Uuid>> {
        let mut out = Vec::new();
        let mut unknown = Vec::new();
        for t in assigned {
            match self.names.get(&t.topic_id) {
                Some(name) => out.extend(
                    t.partitions
                        .iter()
                        .map(|&p| TopicPartition::new(name.clone(), p)),
                ),
                None => unknown.push(t.topic_id),
            }
        }
        if !unknown.is_empty() {
            return Err(unknown);
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

/// Learns the ids of the topics the client knows, then, if some are still
/// missing, of every topic in the cluster.
async fn learn_ids(shared: &Shared, ids: &mut TopicIds, missing: &[Uuid]) -> Result<()> {
    let cluster = shared.coordinator.cluster();
    for t in cluster.metadata().topics.values() {
        ids.learn(t.id, &t.name);
    }
    if missing.iter().all(|id| ids.names.contains_key(id)) {
        return Ok(());
    }
    let all = fetch_metadata_from(cluster, None).await?;
    let mut found = Vec::new();
    for t in all.topics {
        if let Some(name) = t.name {
            if missing.contains(&t.topic_id) {
                found.push(name.clone());
            }
            ids.learn(t.topic_id, &name);
        }
    }
    if !found.is_empty() && cluster.add_topics(found.iter()) {
        // The reader needs their leaders.
        if let Err(e) = cluster.refresh().await {
            debug!(error = %e, "metadata refresh for assigned topics failed");
        }
    }
    Ok(())
}

/// Runs until aborted (when the consumer is dropped or closed).
pub(crate) async fn run(shared: Arc<Shared>) {
    let mut state = Loop {
        backoff: shared.coordinator.cluster().config().retry_backoff.start(),
        interval: DEFAULT_INTERVAL,
        poll_watch: PollWatch::new(Instant::now()),
        ids: TopicIds::default(),
        sent_regex: false,
        unresolved: None,
    };
    let mut next = Instant::now();
    loop {
        let now_asked = shared.heartbeat_now.notified();
        tokio::select! {
            () = tokio::time::sleep_until(next.into()) => {}
            () = now_asked => {}
        }
        next = Instant::now() + state.round(&shared).await;
    }
}

/// The heartbeat loop's state between rounds.
struct Loop {
    backoff: crate::backoff::Backoff,
    interval: Duration,
    poll_watch: PollWatch,
    ids: TopicIds,
    /// The subscription regex was sent: going back to names clears it.
    sent_regex: bool,
    /// An assignment naming topic ids not known yet, with its epoch.
    unresolved: Option<(i32, Vec<ConsumerGroupHeartbeatTopicPartitions>)>,
}

impl Loop {
    /// One round: a heartbeat if one is due; returns when to go again.
    async fn round(&mut self, shared: &Shared) -> Duration {
        let settings = &shared.settings;
        let (phase, epoch, member_id, last_contact, waiting) = {
            let m = shared.member();
            (
                m.phase,
                m.generation,
                m.member_id.clone(),
                m.last_contact,
                m.lost.is_some() || m.fenced || m.fatal.is_some() || m.closing,
            )
        };
        let Some(subscription) = lock(&shared.subscription).clone() else {
            return self.interval;
        };
        if waiting {
            // Lost partitions are reported (or the consumer is stopped)
            // before anything more is sent; the consumer wakes this loop.
            return self.interval;
        }
        let epoch = if phase == Phase::Stable {
            let away = self.poll_watch.away_for(&shared.poll, Instant::now());
            if let Some(away) = away.filter(|a| *a > settings.max_poll_interval) {
                warn!(group = %settings.group_id, member_id = %member_id, away = ?away,
                      max_poll_interval = ?settings.max_poll_interval,
                      "the application has not polled within max_poll_interval; leaving the group so its partitions move to other members");
                shared.lose(epoch, "max_poll_interval exceeded", false);
                let temporary = settings.instance_id.is_some();
                send_leave(
                    shared,
                    &member_id,
                    temporary,
                    "consumer poll timeout has expired",
                )
                .await;
                return self.interval;
            }
            if last_contact.elapsed() > settings.session_timeout {
                shared.lose(
                    epoch,
                    "no heartbeat answered within the session timeout",
                    false,
                );
                return self.interval;
            }
            if let Some((at, parts)) = self.unresolved.take() {
                self.take_assignment(shared, at, parts).await;
            }
            epoch
        } else {
            // Whatever was sent to an earlier membership is void.
            self.unresolved = None;
            0
        };
        let fields = subscription_fields(&subscription, &lock(&shared.topics));
        let owned = if epoch == 0 {
            // The coordinator wants none when (re)joining.
            Vec::new()
        } else {
            for t in shared.coordinator.cluster().metadata().topics.values() {
                self.ids.learn(t.id, &t.name);
            }
            self.ids.owned(&shared.assignment())
        };
        let regex = match fields.regex {
            Some(re) => Some(re),
            // Names after a regex: an empty regex clears it.
            None if self.sent_regex => Some(String::new()),
            None => None,
        };
        let sends_regex = regex.as_deref().is_some_and(|r| !r.is_empty());
        let request = ConsumerGroupHeartbeatRequest {
            group_id: settings.group_id.to_string(),
            member_id: member_id.clone(),
            member_epoch: epoch,
            instance_id: settings.instance_id.clone(),
            rack_id: settings.rack_id.clone(),
            rebalance_timeout_ms: millis(settings.rebalance_timeout()),
            subscribed_topic_names: Some(fields.names),
            subscribed_topic_regex: regex,
            server_assignor: settings.remote_assignor.clone(),
            topic_partitions: Some(owned),
            ..Default::default()
        };
        let response = match shared.coordinator.call(request, None).await {
            Ok(r) => r,
            Err(e) if e.is_retriable() => {
                debug!(group = %settings.group_id, error = %e, "ConsumerGroupHeartbeat failed; retrying");
                return self.retry_delay();
            }
            Err(e) => {
                warn!(group = %settings.group_id, error = %e, "ConsumerGroupHeartbeat failed for good");
                shared.member().fatal = Some((ErrorCode::UNSUPPORTED_VERSION, e.to_string()));
                shared.ring();
                return self.interval;
            }
        };
        let code = response.error_code;
        if !code.is_ok() {
            let message = response.error_message.unwrap_or_default();
            return self.refused(shared, epoch, code, message);
        }
        self.backoff.reset();
        self.sent_regex = sends_regex;
        if let Ok(ms) = u64::try_from(response.heartbeat_interval_ms) {
            if ms > 0 {
                self.interval = Duration::from_millis(ms);
            }
        }
        let changed = {
            let mut m = shared.member();
            if m.lost.is_some() || m.fenced || m.fatal.is_some() || m.closing {
                // Lost (or closing) while this heartbeat was out: rejoin
                // afresh later, or not at all.
                return self.interval;
            }
            if let Some(id) = response.member_id.filter(|id| !id.is_empty()) {
                m.member_id = id;
            }
            let changed = m.generation != response.member_epoch || m.phase != Phase::Stable;
            m.generation = response.member_epoch;
            m.phase = Phase::Stable;
            m.last_contact = Instant::now();
            changed
        };
        if changed {
            if epoch == 0 {
                info!(group = %settings.group_id, member_id = %member_id,
                      epoch = response.member_epoch, "joined the group (consumer protocol)");
            } else {
                debug!(group = %settings.group_id, epoch = response.member_epoch, "member epoch");
            }
            shared.member_changed.notify_waiters();
        }
        if let Some(assignment) = response.assignment {
            self.take_assignment(shared, response.member_epoch, assignment.topic_partitions)
                .await;
        }
        self.interval
    }

    /// Hands an assignment to the consumer, once its topic ids are known.
    async fn take_assignment(
        &mut self,
        shared: &Shared,
        epoch: i32,
        parts: Vec<ConsumerGroupHeartbeatTopicPartitions>,
    ) {
        let mut resolved = self.ids.resolve(&parts);
        if let Err(missing) = &resolved {
            if let Err(e) = learn_ids(shared, &mut self.ids, missing).await {
                debug!(error = %e, "looking up assigned topic ids failed");
            }
            resolved = self.ids.resolve(&parts);
        }
        match resolved {
            Ok(partitions) => {
                debug!(group = %shared.settings.group_id, epoch,
                       assignment = %Compact(&partitions), "assignment received");
                *lock(&shared.target) = Some(Target { epoch, partitions });
                shared.ring();
            }
            Err(missing) => {
                debug!(group = %shared.settings.group_id, ids = ?missing,
                       "assigned topics not in the metadata yet; taking the assignment up later");
                self.unresolved = Some((epoch, parts));
            }
        }
    }

    /// The coordinator refused the heartbeat.
    fn refused(
        &mut self,
        shared: &Shared,
        epoch: i32,
        code: ErrorCode,
        message: String,
    ) -> Duration {
        let settings = &shared.settings;
        match code {
            ErrorCode::UNKNOWN_MEMBER_ID | ErrorCode::FENCED_MEMBER_EPOCH if epoch > 0 => {
                // Rejoins with epoch 0 once the consumer reports its
                // partitions lost.
                shared.lose(epoch, format!("heartbeat: {code}"), false);
                self.interval
            }
            ErrorCode::UNRELEASED_INSTANCE_ID
            | ErrorCode::UNSUPPORTED_ASSIGNOR
            | ErrorCode::INVALID_REQUEST
            | ErrorCode::INVALID_REGULAR_EXPRESSION
            | ErrorCode::GROUP_MAX_SIZE_REACHED
            | ErrorCode::GROUP_AUTHORIZATION_FAILED
            | ErrorCode::GROUP_ID_NOT_FOUND
            | ErrorCode::INCONSISTENT_GROUP_PROTOCOL
            | ErrorCode::UNSUPPORTED_VERSION => {
                warn!(group = %settings.group_id, error = %code, message = %message,
                      "the coordinator refused the membership");
                let text = if message.is_empty() {
                    format!("group {}: ConsumerGroupHeartbeat", settings.group_id)
                } else {
                    format!(
                        "group {}: ConsumerGroupHeartbeat: {message}",
                        settings.group_id
                    )
                };
                shared.member().fatal = Some((code, text));
                shared.ring();
                self.interval
            }
            code => {
                let _ = shared.coordinator.error(code, "ConsumerGroupHeartbeat");
                if retry_after_lookup(code) {
                    debug!(group = %settings.group_id, error = %code, "coordinator moved; looking it up again");
                } else {
                    warn!(group = %settings.group_id, error = %code, message = %message,
                          "heartbeat refused; retrying");
                }
                self.retry_delay()
            }
        }
    }

    fn retry_delay(&mut self) -> Duration {
        self.backoff
            .next_delay()
            .unwrap_or(Duration::from_secs(1))
            .min(self.interval)
    }
}

/// Sends the leaving heartbeat: epoch -1, or -2 for a static member that
/// will come back (the coordinator keeps its partitions until the session
/// timeout). Errors are logged: the session timeout removes the member
/// anyway.
async fn send_leave(shared: &Shared, member_id: &str, temporary: bool, reason: &str) {
    let settings = &shared.settings;
    let request = ConsumerGroupHeartbeatRequest {
        group_id: settings.group_id.to_string(),
        member_id: member_id.to_owned(),
        member_epoch: if temporary { STATIC_LEAVE } else { LEAVE },
        instance_id: settings.instance_id.clone(),
        ..Default::default()
    };
    match shared.coordinator.call(request, None).await {
        Ok(r) if r.error_code.is_ok() => {
            info!(group = %settings.group_id, member_id, temporary, reason, "left the group");
        }
        Ok(r) => {
            debug!(group = %settings.group_id, member_id, error = %r.error_code, "leaving heartbeat refused");
        }
        Err(e) => {
            warn!(group = %settings.group_id, member_id, error = %e,
                  "leaving heartbeat failed; the session timeout will remove the member");
        }
    }
}

/// Leaves the group if this member is in it, and forgets the epoch (the
/// member id stays: it is the consumer's for life).
pub(crate) async fn leave(shared: &Shared, reason: &str, temporary: bool) {
    let (member_id, epoch, phase) = {
        let m = shared.member();
        (m.member_id.clone(), m.generation, m.phase)
    };
    if phase == Phase::Stable && epoch > 0 {
        send_leave(shared, &member_id, temporary, reason).await;
    }
    {
        let mut m = shared.member();
        if m.generation == epoch {
            m.phase = Phase::Unjoined;
            m.generation = -1;
        }
    }
    *lock(&shared.target) = None;
    shared.member_changed.notify_waiters();
}

fn millis(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::group::TopicPattern;

    #[test]
    fn member_ids_are_distinct_uuids() {
        let a = new_member_id();
        let b = new_member_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36, "{a}");
    }

    #[test]
    fn subscriptions_become_names_or_a_regex() {
        let topics = Subscription::Topics(["b".to_owned(), "a".to_owned()].into());
        let none = BTreeSet::new();
        assert_eq!(
            subscription_fields(&topics, &none),
            Fields {
                names: vec!["a".into(), "b".into()],
                regex: None
            }
        );
        let glob = Subscription::Pattern(TopicPattern::glob("orders-*"));
        assert_eq!(
            subscription_fields(&glob, &none),
            Fields {
                names: vec![],
                regex: Some("orders-.*".into())
            }
        );
        // A predicate is the client's: the names it matched go.
        let pred = Subscription::Pattern(TopicPattern::predicate("even", |t| t.len() % 2 == 0));
        let matched: BTreeSet<String> = ["ab".to_owned()].into();
        assert_eq!(
            subscription_fields(&pred, &matched),
            Fields {
                names: vec!["ab".into()],
                regex: None
            }
        );
    }

    #[test]
    fn assignments_resolve_by_topic_id_and_owned_partitions_go_by_id() {
        let orders = Uuid([1; 16]);
        let pay = Uuid([2; 16]);
        let mut ids = TopicIds::default();
        ids.learn(orders, "orders");
        ids.learn(Uuid::default(), "no-id");
        let assigned = vec![
            ConsumerGroupHeartbeatTopicPartitions {
                topic_id: orders,
                partitions: vec![2, 0, 2],
                ..Default::default()
            },
            ConsumerGroupHeartbeatTopicPartitions {
                topic_id: pay,
                partitions: vec![1],
                ..Default::default()
            },
        ];
        assert_eq!(ids.resolve(&assigned), Err(vec![pay]));
        ids.learn(pay, "pay");
        let got = ids.resolve(&assigned).unwrap_or_default();
        assert_eq!(
            got,
            vec![
                TopicPartition::new("orders", 0),
                TopicPartition::new("orders", 2),
                TopicPartition::new("pay", 1),
            ]
        );
        let owned: BTreeSet<TopicPartition> = got
            .into_iter()
            .chain([TopicPartition::new("no-id", 0)])
            .collect();
        let by_id = ids.owned(&owned);
        assert_eq!(by_id.len(), 2, "{by_id:?}");
        assert_eq!(
            (by_id[0].topic_id, by_id[0].partitions.clone()),
            (orders, vec![0, 2])
        );
        assert_eq!(
            (by_id[1].topic_id, by_id[1].partitions.clone()),
            (pay, vec![1])
        );
    }
}
