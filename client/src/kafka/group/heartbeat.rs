//! The heartbeat task: keeps the membership alive in the background,
//! whatever the application is doing, and watches the application's polls.
//!
//! - Every `heartbeat_interval` while the member is Stable, a Heartbeat.
//!   REBALANCE_IN_PROGRESS asks the consumer to rejoin; UNKNOWN_MEMBER_ID,
//!   ILLEGAL_GENERATION and FENCED_INSTANCE_ID (for the generation the
//!   heartbeat was sent in) mean the membership is lost.
//! - No answer accepted for `session_timeout`: the coordinator has dropped
//!   the member by now, so the membership is lost.
//! - The application away from `next()` for longer than
//!   `max_poll_interval`: it is stalled, so the member leaves the group
//!   (a static member just stops heartbeating, as in Java) and its
//!   partitions go to the others; its next poll reports them lost.

use std::sync::Arc;
use std::time::Instant;

use kafka_proto::ErrorCode;
use kafka_proto::api::HeartbeatRequest;
use tracing::{debug, warn};

use super::membership::{Phase, PollWatch, Shared, is_membership_error, leave};

/// Runs until aborted (when the consumer is dropped or closed).
pub(crate) async fn run(shared: Arc<Shared>) {
    let settings = shared.settings.clone();
    let retry = shared.coordinator.cluster().config().retry_backoff.initial;
    let mut next = Instant::now() + settings.heartbeat_interval;
    let mut poll_watch = PollWatch::new(Instant::now());
    loop {
        // Wake for the next heartbeat, or when the membership changes (a
        // join completed: heartbeat from now on).
        let changed = shared.member_changed.notified();
        tokio::select! {
            () = tokio::time::sleep_until(next.into()) => {}
            () = changed => {
                next = Instant::now() + settings.heartbeat_interval;
                continue;
            }
        }
        let (phase, generation, member_id, last_contact) = {
            let m = shared.member();
            (m.phase, m.generation, m.member_id.clone(), m.last_contact)
        };
        next = Instant::now() + settings.heartbeat_interval;
        let away = poll_watch.away_for(&shared.poll, Instant::now());
        if phase != Phase::Stable {
            continue;
        }
        if let Some(away) = away {
            if away > settings.max_poll_interval {
                warn!(group = %settings.group_id, member_id = %member_id, away = ?away,
                      max_poll_interval = ?settings.max_poll_interval,
                      "the application has not polled within max_poll_interval; leaving the group so its partitions move to other members");
                // Lost first (so the next poll reports the partitions
                // lost), then LeaveGroup with the member id still known.
                shared.lose(generation, "max_poll_interval exceeded", false);
                if settings.instance_id.is_none() {
                    leave(&shared, "consumer poll timeout has expired").await;
                }
                continue;
            }
        }
        if last_contact.elapsed() > settings.session_timeout {
            shared.lose(
                generation,
                "no heartbeat answered within the session timeout",
                false,
            );
            continue;
        }
        let request = HeartbeatRequest {
            group_id: settings.group_id.to_string(),
            generation_id: generation,
            member_id: member_id.clone(),
            group_instance_id: settings.instance_id.clone(),
            ..Default::default()
        };
        let response = shared
            .coordinator
            .call(request, Some(settings.session_timeout))
            .await;
        let code = match response {
            Ok(r) => r.error_code,
            Err(e) => {
                debug!(group = %settings.group_id, error = %e, "heartbeat failed");
                next = Instant::now() + retry.min(settings.heartbeat_interval);
                continue;
            }
        };
        match code {
            ErrorCode::NONE => {
                shared.member().last_contact = Instant::now();
            }
            ErrorCode::REBALANCE_IN_PROGRESS => {
                let current = {
                    let mut m = shared.member();
                    m.last_contact = Instant::now();
                    m.phase == Phase::Stable && m.generation == generation
                };
                // A join that started since this heartbeat went out is
                // already the answer.
                if current {
                    shared.request_rejoin("the group is rebalancing");
                }
            }
            code if is_membership_error(code) => {
                if code == ErrorCode::FENCED_INSTANCE_ID {
                    shared.member().fenced = true;
                }
                shared.lose(
                    generation,
                    format!("heartbeat: {code}"),
                    code == ErrorCode::UNKNOWN_MEMBER_ID,
                );
            }
            code => {
                let _ = shared.coordinator.error(code, "Heartbeat");
                debug!(group = %settings.group_id, error = %code, "heartbeat refused");
                next = Instant::now() + retry.min(settings.heartbeat_interval);
            }
        }
    }
}
