//! Connection events (losses, recovery steps, blocking) as a `Stream`.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use tokio::sync::mpsc;

use super::error::Error;

/// Something that happened to a connection. Each is also logged with
/// `tracing`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ConnectionEvent {
    /// The connection broke; recovery starts if it is on.
    Lost {
        /// Why.
        error: Error,
    },
    /// The next reconnect attempt comes after `delay`.
    Reconnecting {
        /// 1 for the first attempt.
        attempt: u32,
        /// The backoff delay before it.
        delay: Duration,
    },
    /// A reconnect attempt failed.
    AttemptFailed {
        /// The attempt.
        attempt: u32,
        /// Why.
        error: Error,
    },
    /// A server-named queue got a new name when it was re-declared.
    QueueRenamed {
        /// The name before the loss.
        old: String,
        /// The name now; bindings and consumers follow it, and later
        /// calls that use the old name are sent with the new one.
        new: String,
    },
    /// A recorded exchange, queue, binding or consumer could not be
    /// restored.
    TopologyFailed {
        /// What, such as `queue orders`.
        what: String,
        /// Why.
        error: Error,
    },
    /// Reconnected: channels, QoS, confirm mode, topology and consumers
    /// are restored.
    Recovered {
        /// The broker address connected to.
        addr: String,
        /// Attempts it took.
        attempts: u32,
    },
    /// Recovery gave up (attempts exhausted); the connection is closed.
    RecoveryFailed {
        /// The last error.
        error: Error,
    },
    /// The broker blocked publishing (connection.blocked).
    Blocked {
        /// Why (memory or disk alarm).
        reason: String,
    },
    /// Publishing may resume.
    Unblocked,
    /// The connection is closed for good.
    Closed,
}

/// A stream of [`ConnectionEvent`]s, from
/// [`Connection::events`](super::Connection::events).
///
/// Bounded: a subscriber that does not keep up misses events rather than
/// holding up the connection.
#[derive(Debug)]
pub struct ConnectionEvents {
    pub(crate) rx: mpsc::Receiver<ConnectionEvent>,
}

impl Stream for ConnectionEvents {
    type Item = ConnectionEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ConnectionEvent>> {
        self.rx.poll_recv(cx)
    }
}
