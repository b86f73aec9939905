//! Finding a group's coordinator, or a transactional id's (FindCoordinator
//! with key type 0 or 1), and talking to it on a dedicated connection.
//!
//! The coordinator is looked up once and cached. A connection failure, or a
//! NOT_COORDINATOR or COORDINATOR_NOT_AVAILABLE answer from any group API,
//! forgets it; the next request looks it up again.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_proto::api::FindCoordinatorRequest;
use kafka_proto::{ErrorCode, Request};
use tracing::{debug, info};

use crate::kafka::cluster::{Cluster, lock};
use crate::kafka::conn::BrokerConn;
use crate::kafka::error::{Error, Result};

/// FindCoordinator's key type of a consumer group.
pub(crate) const KEY_TYPE_GROUP: i8 = 0;
/// FindCoordinator's key type of a transactional id.
pub(crate) const KEY_TYPE_TRANSACTION: i8 = 1;

/// The coordinator of one group (or one transactional id).
#[derive(Debug)]
pub(crate) struct Coordinator {
    cluster: Cluster,
    group_id: Arc<str>,
    key_type: i8,
    current: Mutex<Option<(i32, BrokerConn)>>,
    /// Coalesces concurrent look-ups (heartbeat, commit and join tasks).
    lookup: tokio::sync::Mutex<()>,
}

/// Whether a group API error code means the coordinator moved or is not
/// ready, so it must be looked up again.
pub(crate) fn is_coordinator_error(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::NOT_COORDINATOR | ErrorCode::COORDINATOR_NOT_AVAILABLE
    )
}

impl Coordinator {
    pub(crate) fn new(cluster: Cluster, group_id: Arc<str>) -> Self {
        Self::with_key_type(cluster, group_id, KEY_TYPE_GROUP)
    }

    /// The coordinator of `key`, a group id (key type 0) or a
    /// transactional id (1).
    pub(crate) fn with_key_type(cluster: Cluster, key: Arc<str>, key_type: i8) -> Self {
        Coordinator {
            cluster,
            group_id: key,
            key_type,
            current: Mutex::new(None),
            lookup: tokio::sync::Mutex::new(()),
        }
    }

    /// The cluster.
    pub(crate) fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// The group id.
    pub(crate) fn group_id(&self) -> &str {
        &self.group_id
    }

    /// The coordinator's connection, looking it up if needed (retrying
    /// retriable failures for up to `timeout`).
    pub(crate) async fn conn(&self, timeout: Duration) -> Result<BrokerConn> {
        if let Some((_, c)) = lock(&self.current).as_ref() {
            return Ok(c.clone());
        }
        let _guard = self.lookup.lock().await;
        if let Some((_, c)) = lock(&self.current).as_ref() {
            return Ok(c.clone());
        }
        let (node_id, host, port) = crate::kafka::admin::retry(&self.cluster, timeout, || {
            find_coordinator_of(&self.cluster, &self.group_id, self.key_type)
        })
        .await?;
        info!(key = %self.group_id, key_type = self.key_type, node_id, host = %host, port, "found the coordinator");
        let conn = self.cluster.coordinator_conn(node_id, &host, port);
        *lock(&self.current) = Some((node_id, conn.clone()));
        Ok(conn)
    }

    /// Forgets the coordinator (it moved, or its connection failed).
    pub(crate) fn invalidate(&self, why: &dyn std::fmt::Display) {
        if let Some((node_id, _)) = lock(&self.current).take() {
            debug!(group = %self.group_id, node_id, reason = %why, "coordinator forgotten");
            self.cluster.forget_coordinator_conn(node_id);
        }
    }

    /// Sends `request` to the coordinator, with `timeout` instead of the
    /// request timeout if given. A failed connection forgets the
    /// coordinator; error codes in the response are the caller's to read
    /// (see [`Coordinator::check`]).
    pub(crate) async fn call<R: Request>(
        &self,
        request: R,
        timeout: Option<Duration>,
    ) -> Result<R::Response> {
        let lookup = self.cluster.config().request_timeout;
        let conn = self.conn(lookup).await?;
        let result = async {
            let response = conn.send(request, timeout).await?;
            let response = response.ok_or(Error::Disconnected {
                broker: conn.addr().to_owned(),
            })?;
            crate::kafka::conn::decode::<R::Response>(&response)
        }
        .await;
        if let Err(e) = &result {
            if e.needs_metadata_refresh() {
                self.invalidate(e);
            }
        }
        result
    }

    /// Like [`call`](Self::call), with the request timeout, at most at
    /// `max_version`.
    pub(crate) async fn call_capped<R: Request>(
        &self,
        request: R,
        max_version: i16,
    ) -> Result<R::Response> {
        let conn = self.conn(self.cluster.config().request_timeout).await?;
        let result = conn.call_capped(request, max_version).await;
        if let Err(e) = &result {
            if e.needs_metadata_refresh() {
                self.invalidate(e);
            }
        }
        result
    }

    /// The error for a group API error code, forgetting the coordinator if
    /// the code says it moved.
    pub(crate) fn error(&self, code: ErrorCode, context: &str) -> Error {
        if is_coordinator_error(code) {
            self.invalidate(&code);
        }
        Error::broker(code, format!("group {}: {context}", self.group_id))
    }
}

/// Asks some broker which broker coordinates `group`.
pub(crate) async fn find_coordinator(cluster: &Cluster, group: &str) -> Result<(i32, String, u16)> {
    find_coordinator_of(cluster, group, KEY_TYPE_GROUP).await
}

/// Asks some broker which broker coordinates `group` (key type 0) or the
/// transactional id `group` (key type 1).
pub(crate) async fn find_coordinator_of(
    cluster: &Cluster,
    group: &str,
    key_type: i8,
) -> Result<(i32, String, u16)> {
    let request = FindCoordinatorRequest {
        // Versions up to 3 read `key`, later ones `coordinator_keys`.
        key: group.to_owned(),
        key_type,
        coordinator_keys: vec![group.to_owned()],
        ..Default::default()
    };
    let response = cluster.any_broker()?.call(request).await?;
    let (code, message, node_id, host, port) = match response.coordinators.into_iter().next() {
        Some(c) => (c.error_code, c.error_message, c.node_id, c.host, c.port),
        None => (
            response.error_code,
            response.error_message,
            response.node_id,
            response.host,
            response.port,
        ),
    };
    if !code.is_ok() {
        return Err(Error::broker(
            code,
            format!(
                "finding the coordinator of {} {group}: {}",
                if key_type == KEY_TYPE_TRANSACTION {
                    "transactional id"
                } else {
                    "group"
                },
                message.unwrap_or_default()
            ),
        ));
    }
    let port = u16::try_from(port).map_err(|_| {
        Error::broker(
            ErrorCode::COORDINATOR_NOT_AVAILABLE,
            format!("coordinator port {port} is invalid"),
        )
    })?;
    Ok((node_id, host, port))
}
