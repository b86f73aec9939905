//! Share group membership (KIP-932): the sans-IO state of one member, and
//! the task that heartbeats with it.
//!
//! The member generates its id (a random UUID, kept for its whole life),
//! joins with epoch 0 and its subscription, then heartbeats every interval
//! the coordinator gives with the epoch it was last given. The
//! subscription is sent again only when it must be: on joining, and after
//! a heartbeat that got no answer (the coordinator may not have seen it).
//! The coordinator answers with the member's partitions when they change;
//! a share group has no revocation step, so the new assignment applies at
//! once. UNKNOWN_MEMBER_ID and FENCED_MEMBER_EPOCH mean the coordinator
//! dropped the member: it joins again with epoch 0 and the same id. It
//! leaves with epoch -1.

use std::sync::Arc;
use std::time::Duration;

use kafka_proto::ErrorCode;
use kafka_proto::api::{ShareGroupHeartbeatRequest, ShareGroupHeartbeatResponse};
use kafka_proto::primitives::Uuid;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::kafka::error::{Error, Result};
use crate::kafka::group::coordinator::{Coordinator, is_coordinator_error};

/// The epoch that joins a group.
const JOIN_EPOCH: i32 = 0;
/// The epoch that leaves it.
const LEAVE_EPOCH: i32 = -1;

/// The partitions assigned to the member, by topic id, sorted.
pub(crate) type Assignment = Vec<(Uuid, i32)>;

/// What a heartbeat answer means for the member.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// Accepted; the assignment changed if `Some`.
    Stable(Option<Assignment>),
    /// The coordinator dropped the member: join again (epoch 0).
    Rejoin(ErrorCode),
    /// The coordinator moved or is loading: find it again, retry.
    CoordinatorMoved(ErrorCode),
    /// Worth retrying after a backoff.
    Retry(ErrorCode),
    /// The member cannot go on (authorization, a group of another type,
    /// a full group, an unsupported version).
    Fatal(ErrorCode),
}

/// One share group member's state.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    group_id: Arc<str>,
    member_id: String,
    epoch: i32,
    topics: Vec<String>,
    rack_id: Option<String>,
    /// The next heartbeat carries the subscription and rack.
    full: bool,
    interval: Duration,
    assignment: Assignment,
}

impl Member {
    /// A member of `group_id` that will subscribe to `topics`.
    pub(crate) fn new(
        group_id: Arc<str>,
        member_id: String,
        topics: Vec<String>,
        rack_id: Option<String>,
    ) -> Self {
        Member {
            group_id,
            member_id,
            epoch: JOIN_EPOCH,
            topics,
            rack_id,
            full: true,
            interval: Duration::from_secs(5),
            assignment: Vec::new(),
        }
    }

    /// The member id.
    pub(crate) fn member_id(&self) -> &str {
        &self.member_id
    }

    /// The member epoch (0 before joining).
    pub(crate) fn epoch(&self) -> i32 {
        self.epoch
    }

    /// How long to wait before the next heartbeat.
    pub(crate) fn interval(&self) -> Duration {
        self.interval
    }

    /// The partitions assigned now.
    #[cfg(test)]
    pub(crate) fn assignment(&self) -> &Assignment {
        &self.assignment
    }

    /// The next heartbeat.
    pub(crate) fn heartbeat(&self) -> ShareGroupHeartbeatRequest {
        ShareGroupHeartbeatRequest {
            group_id: self.group_id.to_string(),
            member_id: self.member_id.clone(),
            member_epoch: self.epoch,
            rack_id: if self.full {
                self.rack_id.clone()
            } else {
                None
            },
            subscribed_topic_names: self.full.then(|| self.topics.clone()),
            ..Default::default()
        }
    }

    /// The heartbeat that leaves the group.
    pub(crate) fn leave(&self) -> ShareGroupHeartbeatRequest {
        ShareGroupHeartbeatRequest {
            group_id: self.group_id.to_string(),
            member_id: self.member_id.clone(),
            member_epoch: LEAVE_EPOCH,
            ..Default::default()
        }
    }

    /// A heartbeat got no answer: the next one says everything again.
    pub(crate) fn unanswered(&mut self) {
        self.full = true;
    }

    /// Reads a heartbeat answer.
    pub(crate) fn handle(&mut self, response: &ShareGroupHeartbeatResponse) -> Outcome {
        let code = response.error_code;
        match code {
            ErrorCode::NONE => {}
            ErrorCode::UNKNOWN_MEMBER_ID | ErrorCode::FENCED_MEMBER_EPOCH => {
                self.epoch = JOIN_EPOCH;
                self.full = true;
                self.assignment.clear();
                return Outcome::Rejoin(code);
            }
            c if is_coordinator_error(c) || c == ErrorCode::COORDINATOR_LOAD_IN_PROGRESS => {
                self.full = true;
                return Outcome::CoordinatorMoved(c);
            }
            c if c.is_retriable() => {
                self.full = true;
                return Outcome::Retry(c);
            }
            c => return Outcome::Fatal(c),
        }
        self.full = false;
        self.epoch = response.member_epoch;
        if let Ok(ms) = u64::try_from(response.heartbeat_interval_ms) {
            if ms > 0 {
                self.interval = Duration::from_millis(ms);
            }
        }
        let Some(assignment) = &response.assignment else {
            return Outcome::Stable(None);
        };
        let mut partitions: Assignment = assignment
            .topic_partitions
            .iter()
            .flat_map(|t| t.partitions.iter().map(move |&p| (t.topic_id, p)))
            .collect();
        partitions.sort_unstable();
        partitions.dedup();
        if partitions == self.assignment {
            return Outcome::Stable(None);
        }
        self.assignment = partitions.clone();
        Outcome::Stable(Some(partitions))
    }
}

/// A member id: a random (version 4) UUID in its usual text form.
pub(crate) fn new_member_id() -> Result<String> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b)
        .map_err(|e| Error::Config(format!("no randomness for a member id: {e}")))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

/// What the heartbeat task shares with the consumer.
#[derive(Debug)]
pub(crate) struct MemberShared {
    pub(crate) coordinator: Coordinator,
    pub(crate) member: std::sync::Mutex<Member>,
    /// The assignment, for the fetcher.
    pub(crate) assignment: watch::Sender<Arc<Assignment>>,
    /// A fatal membership error, for the application.
    pub(crate) fatal: std::sync::Mutex<Option<Error>>,
}

/// Heartbeats until aborted.
pub(crate) async fn run(shared: Arc<MemberShared>, wake: Arc<tokio::sync::Notify>) {
    let retry = shared.coordinator.cluster().config().retry_backoff.initial;
    let timeout = shared.coordinator.cluster().config().request_timeout;
    loop {
        let request = crate::kafka::cluster::lock(&shared.member).heartbeat();
        let response = shared.coordinator.call(request, Some(timeout)).await;
        let delay = match response {
            Err(e) if !e.is_retriable() && !e.needs_metadata_refresh() => {
                // The broker has no share groups (ShareGroupHeartbeat
                // unsupported: share.version not finalized), or refused
                // the request outright: retrying will not mend it.
                warn!(error = %e, "share group heartbeat failed for good");
                *crate::kafka::cluster::lock(&shared.fatal) = Some(e);
                shared.assignment.send_replace(Arc::new(Vec::new()));
                wake.notify_one();
                return;
            }
            Err(e) => {
                debug!(error = %e, "share group heartbeat failed");
                crate::kafka::cluster::lock(&shared.member).unanswered();
                retry
            }
            Ok(response) => {
                let mut m = crate::kafka::cluster::lock(&shared.member);
                let outcome = m.handle(&response);
                let interval = m.interval();
                match outcome {
                    Outcome::Stable(Some(assignment)) => {
                        info!(member_id = %m.member_id(), epoch = m.epoch(), partitions = assignment.len(), "share group assignment");
                        shared.assignment.send_replace(Arc::new(assignment));
                        wake.notify_one();
                        interval
                    }
                    Outcome::Stable(None) => interval,
                    Outcome::Rejoin(code) => {
                        warn!(member_id = %m.member_id(), error = %code, "dropped by the share group coordinator; joining again");
                        shared.assignment.send_replace(Arc::new(Vec::new()));
                        wake.notify_one();
                        retry
                    }
                    Outcome::CoordinatorMoved(code) => {
                        drop(m);
                        let _ = shared.coordinator.error(code, "ShareGroupHeartbeat");
                        retry
                    }
                    Outcome::Retry(code) => {
                        debug!(error = %code, "share group heartbeat refused; retrying");
                        retry
                    }
                    Outcome::Fatal(code) => {
                        let message = response.error_message.clone().unwrap_or_default();
                        warn!(error = %code, message = %message, "share group membership failed");
                        *crate::kafka::cluster::lock(&shared.fatal) = Some(Error::broker(
                            code,
                            format!(
                                "share group {}: ShareGroupHeartbeat: {message}",
                                shared.coordinator.group_id()
                            ),
                        ));
                        shared.assignment.send_replace(Arc::new(Vec::new()));
                        wake.notify_one();
                        return;
                    }
                }
            }
        };
        tokio::time::sleep(delay).await;
    }
}

/// Leaves the group (epoch -1), best effort.
pub(crate) async fn leave(shared: &MemberShared) {
    let request = {
        let m = crate::kafka::cluster::lock(&shared.member);
        if m.epoch() <= JOIN_EPOCH {
            return;
        }
        m.leave()
    };
    match shared.coordinator.call(request, None).await {
        Ok(r) if r.error_code.is_ok() => debug!("left the share group"),
        Ok(r) => debug!(error = %r.error_code, "leaving the share group refused"),
        Err(e) => debug!(error = %e, "leaving the share group failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_proto::api::share_group_heartbeat::{
        ShareGroupHeartbeatAssignment, ShareGroupHeartbeatTopicPartitions,
    };

    fn member() -> Member {
        Member::new("g".into(), "m-1".into(), vec!["t".into()], None)
    }

    fn answer(epoch: i32, partitions: Option<Vec<i32>>) -> ShareGroupHeartbeatResponse {
        ShareGroupHeartbeatResponse {
            member_id: Some("m-1".into()),
            member_epoch: epoch,
            heartbeat_interval_ms: 1500,
            assignment: partitions.map(|p| ShareGroupHeartbeatAssignment {
                topic_partitions: vec![ShareGroupHeartbeatTopicPartitions {
                    topic_id: Uuid([1; 16]),
                    partitions: p,
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn joins_heartbeats_and_leaves() {
        let mut m = member();
        let join = m.heartbeat();
        assert_eq!(join.member_epoch, 0);
        assert_eq!(join.member_id, "m-1");
        assert_eq!(join.subscribed_topic_names, Some(vec!["t".to_owned()]));

        let outcome = m.handle(&answer(3, Some(vec![1, 0])));
        assert_eq!(
            outcome,
            Outcome::Stable(Some(vec![(Uuid([1; 16]), 0), (Uuid([1; 16]), 1)]))
        );
        assert_eq!(m.epoch(), 3);
        assert_eq!(m.interval(), Duration::from_millis(1500));
        let next = m.heartbeat();
        assert_eq!(next.member_epoch, 3);
        assert_eq!(next.subscribed_topic_names, None, "unchanged: not resent");

        // The same partitions again, or none said: no change.
        assert_eq!(
            m.handle(&answer(4, Some(vec![0, 1]))),
            Outcome::Stable(None)
        );
        assert_eq!(m.handle(&answer(4, None)), Outcome::Stable(None));

        // An unanswered heartbeat: the next one says everything.
        m.unanswered();
        assert!(m.heartbeat().subscribed_topic_names.is_some());

        let leave = m.leave();
        assert_eq!((leave.member_epoch, leave.member_id.as_str()), (-1, "m-1"));
    }

    #[test]
    fn fenced_member_rejoins_with_epoch_zero_and_the_same_id() {
        let mut m = member();
        m.handle(&answer(5, Some(vec![0])));
        let fenced = ShareGroupHeartbeatResponse {
            error_code: ErrorCode::FENCED_MEMBER_EPOCH,
            ..Default::default()
        };
        assert_eq!(
            m.handle(&fenced),
            Outcome::Rejoin(ErrorCode::FENCED_MEMBER_EPOCH)
        );
        let again = m.heartbeat();
        assert_eq!((again.member_epoch, again.member_id.as_str()), (0, "m-1"));
        assert!(again.subscribed_topic_names.is_some());
        assert!(m.assignment().is_empty());
    }

    #[test]
    fn errors_are_sorted_by_what_to_do() {
        let mut m = member();
        let with = |code| ShareGroupHeartbeatResponse {
            error_code: code,
            ..Default::default()
        };
        assert!(matches!(
            m.handle(&with(ErrorCode::NOT_COORDINATOR)),
            Outcome::CoordinatorMoved(_)
        ));
        assert!(matches!(
            m.handle(&with(ErrorCode::GROUP_AUTHORIZATION_FAILED)),
            Outcome::Fatal(_)
        ));
        assert!(matches!(
            m.handle(&with(ErrorCode::GROUP_MAX_SIZE_REACHED)),
            Outcome::Fatal(_)
        ));
    }

    #[test]
    fn member_ids_are_uuids() {
        let a = new_member_id().unwrap();
        let b = new_member_id().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.as_bytes()[14], b'4');
    }
}
