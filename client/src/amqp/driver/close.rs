//! How a connection ends: a graceful close (outstanding confirms, then
//! every channel, then the connection, each bounded by the close
//! timeout), a loss (the socket goes, waiters fail, deliveries go stale,
//! recovery may follow), and the end for good.

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::control;
use super::{Driver, Exit};
use crate::amqp::command::{ConsumerMsg, Reply};
use crate::amqp::error::Error;
use crate::amqp::events::ConnectionEvent;

/// Graceful close in progress.
#[derive(Debug)]
pub(super) struct Closing {
    pub(super) replies: Vec<Reply<()>>,
    pub(super) deadline: Instant,
    pub(super) phase: ClosePhase,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ClosePhase {
    /// Outstanding confirms come in.
    Confirms,
    /// channel.close sent on every channel.
    Channels,
    /// connection.close sent.
    Connection,
}

impl Driver {
    /// Every handle is gone: close gracefully.
    pub(super) fn on_handles_gone(&mut self) {
        if self.handles_gone() && self.closing.is_none() {
            tracing::debug!(connection = %self.state.label, "every handle dropped; closing");
            self.start_close(None);
        }
    }

    pub(super) fn start_close(&mut self, reply: Option<Reply<()>>) {
        match &mut self.closing {
            Some(c) => c.replies.extend(reply),
            None => {
                self.closing = Some(Closing {
                    replies: reply.into_iter().collect(),
                    deadline: crate::clock::now() + self.config.close_timeout,
                    phase: ClosePhase::Confirms,
                });
            }
        }
    }

    /// Moves a graceful close along: confirms, then channels, then the
    /// connection, each bounded by the close deadline.
    pub(super) fn advance_closing(&mut self) {
        let Some(closing) = &self.closing else { return };
        let now = crate::clock::now();
        let late = now >= closing.deadline;
        match closing.phase {
            ClosePhase::Confirms => {
                let queued = !self.taken_publishes.is_empty() || !self.publish_queue.is_empty();
                let outstanding = self.chans.values().any(|c| c.publishes.unconfirmed() > 0);
                if late || (!queued && !outstanding) {
                    self.flush_acks(true);
                    for chan in self.chans.values_mut() {
                        chan.close_after = None;
                        if let Some(wire) = chan.open_wire(self.io.as_ref()) {
                            if let Some(io) = self.io.as_mut() {
                                let _ = io.core.close_channel(
                                    wire,
                                    amqp_proto::ReplyCode::SUCCESS,
                                    "closing the connection",
                                );
                            }
                        }
                    }
                    if let Some(c) = self.closing.as_mut() {
                        c.phase = ClosePhase::Channels;
                    }
                    self.advance_closing();
                }
            }
            ClosePhase::Channels => {
                let io = self.io.as_ref();
                let open = self.chans.values().any(|c| c.on_wire(io));
                if late || !open {
                    let closed = match self.io.as_mut() {
                        Some(io) => io
                            .core
                            .close(amqp_proto::ReplyCode::SUCCESS, "closed by the application")
                            .is_err(),
                        None => true,
                    };
                    if closed || self.io.as_ref().is_some_and(|io| io.core.is_closed()) {
                        self.exit = Some(Exit::Closed);
                    }
                    let fresh = now + self.config.close_timeout;
                    if let Some(c) = self.closing.as_mut() {
                        c.phase = ClosePhase::Connection;
                        c.deadline = fresh;
                    }
                }
            }
            ClosePhase::Connection => {
                if late {
                    tracing::debug!(connection = %self.state.label, "no close-ok in time; dropping the socket");
                    self.exit = Some(Exit::Closed);
                }
            }
        }
    }

    /// The connection is gone for good: every waiter learns why.
    pub(super) fn finish(&mut self, error: Error) {
        self.on_lost(&error);
        let _ = self.state.closed.set(error.clone());
        self.state.connected.store(false, Ordering::Release);
        let chans = std::mem::take(&mut self.chans);
        self.note_channels();
        for (_, mut chan) in chans {
            let _ = chan.shared.closed.set(error.clone());
            chan.publishes.fail_held(&error, &mut self.wakes);
            chan.shared.returns.close();
            for (_, c) in chan.deferred {
                control::fail_control(c, &error);
            }
            // Held and unconfirmed publishes, and those still queued.
            chan.consumers
                .end_all(|| ConsumerMsg::End(error.clone()), &mut self.wakes);
            for r in chan.closing.into_iter().flatten() {
                let _ = r.send(Ok(()));
            }
        }
        for c in std::mem::take(&mut self.parked) {
            control::fail_control(c, &error);
        }
        if let Some(closing) = self.closing.take() {
            for r in closing.replies {
                let _ = r.send(Ok(()));
            }
        }
        // Whatever is still queued fails too.
        let queued = self.commands.close();
        for c in self.taken_commands.drain(..).chain(queued) {
            control::fail_control(c, &error);
        }
        // The confirms of publishes still queued fail too (the sent ones
        // failed with their channels above).
        self.publish_queue.close(&error, &mut self.wakes);
        for w in self.taken_publishes.drain(..).filter_map(|p| p.confirm) {
            w.fail(error.clone(), &mut self.wakes);
        }
        self.wake_handles();
        self.state.emit(ConnectionEvent::Closed);
        tracing::info!(connection = %self.state.label, %error, "connection closed");
    }

    /// A loss: the socket goes, waiters fail, deliveries go stale.
    pub(super) fn on_lost(&mut self, error: &Error) {
        self.io = None;
        self.exit = None;
        self.generation += 1;
        self.state
            .generation
            .store(self.generation, Ordering::Release);
        self.state.connected.store(false, Ordering::Release);
        self.state.set_blocked(None);
        self.secrets.pending = None;
        let lost = match error {
            Error::ConnectionLost { .. } => error.clone(),
            other => Error::lost(other.to_string()),
        };
        for (_, rpc) in self.requests.rpcs.drain() {
            control::fail_rpc(rpc.kind, &lost);
        }
        for slot in self.requests.internal.values_mut() {
            if slot.is_none() {
                *slot = Some(Err(lost.clone()));
            }
        }
        for slot in self.requests.internal_opens.values_mut() {
            if slot.is_none() {
                *slot = Some(Err(lost.clone()));
            }
        }
        let mut closed = Vec::new();
        for (_, (key, reply)) in self.requests.opens.drain() {
            let _ = reply.send(Err(lost.clone()));
            // Nobody holds a handle to a channel that never opened.
            closed.push(key);
        }
        for key in closed.drain(..) {
            self.chans.remove(&key);
        }
        self.note_channels();
        self.by_wire.clear();
        for (key, chan) in self.chans.iter_mut() {
            chan.wire = None;
            chan.publishes.flow_paused = false;
            chan.acks.clear();
            chan.publishes
                .fail_unconfirmed(&Error::ConfirmLost, &mut self.wakes);
            let dropped = chan.consumers.drop_held();
            self.held_deliveries = self.held_deliveries.saturating_sub(dropped);
            if let Some(replies) = chan.closing.take() {
                for r in replies {
                    let _ = r.send(Ok(()));
                }
                closed.push(*key);
            }
        }
        for key in closed {
            if let Some(mut chan) = self.chans.remove(&key) {
                self.note_channels();
                let closed = Error::ChannelClosed {
                    code: amqp_proto::ReplyCode::SUCCESS,
                    text: "closed by the application".to_owned(),
                };
                let bytes = chan.publishes.fail_held(&closed, &mut self.wakes);
                self.held_publish_bytes = self.held_publish_bytes.saturating_sub(bytes);
                let _ = chan.shared.closed.set(closed);
                chan.shared.returns.close();
                chan.consumers
                    .end_all(|| ConsumerMsg::Finished, &mut self.wakes);
            }
        }
    }
}
