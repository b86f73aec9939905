//! Deliveries on their way to the application and back: settles (acks,
//! nacks, rejects) through the channel's [`Acks`](super::acks::Acks), held
//! acks flushed when due, and consumers' streams fed, added and removed.

use std::sync::atomic::Ordering;
use std::time::Instant;

use amqp_proto::ShortStr;

use super::acks::Held;
use super::consumers::ConsumerRec;
use super::{Driver, LINGER};
use crate::amqp::command::{ChanKey, ConsumerMsg, Settle};
use crate::amqp::delivery_queue::DeliverySender;

impl Driver {
    pub(super) fn settle(
        &mut self,
        key: ChanKey,
        generation: u64,
        tag: u64,
        multiple: bool,
        how: Settle,
    ) {
        self.acks_active = true;
        if generation != self.generation {
            tracing::debug!(connection = %self.state.label, delivery_tag = tag, "stale delivery not settled");
            return;
        }
        let Some(chan) = self.chans.get_mut(&key) else {
            return;
        };
        let Some(wire) = chan.open_wire(self.io.as_ref()) else {
            return;
        };
        let frames = chan.acks.settle(tag, multiple, how, crate::clock::now());
        if frames.held {
            self.acks_pending = true;
            return;
        }
        let Some(io) = self.io.as_mut() else { return };
        if let Some(upto) = frames.held_ack {
            let _ = io.core.basic_ack(wire, upto, true);
        }
        if !frames.send {
            tracing::debug!(connection = %self.state.label, channel = wire, delivery_tag = tag, "delivery already settled");
            return;
        }
        tracing::trace!(connection = %self.state.label, channel = wire, delivery_tag = tag, ?how, "settle");
        let r = match how {
            Settle::Ack => io.core.basic_ack(wire, tag, multiple),
            Settle::Nack { requeue } => io.core.basic_nack(wire, tag, multiple, requeue),
            Settle::Reject { requeue } => io.core.basic_reject(wire, tag, requeue),
        };
        if let Err(e) = r {
            tracing::debug!(connection = %self.state.label, error = %e, "settle not sent");
        }
    }

    /// Sends the coalesced acks that are due (all of them with `force`).
    ///
    /// Acks cost the broker nothing while they wait, as long as its
    /// prefetch window stays open: a channel's coalesced ack goes out once
    /// it covers a quarter of the window, or the deliveries the broker
    /// counts as unacked reach half of it, or it is a linger old, or a
    /// command or a close needs it out first, or a turn brings neither
    /// deliveries nor acks (the caller forces it then: nothing more is
    /// coming to wait for). Each ack frame saved is a write (a system
    /// call) saved.
    pub(super) fn flush_acks(&mut self, force: bool) {
        if !std::mem::take(&mut self.acks_pending) {
            return;
        }
        let now = crate::clock::now();
        let Some(io) = self.io.as_mut() else { return };
        for chan in self.chans.values_mut() {
            let Some(wire) = chan.wire else { continue };
            let prefetch = chan.prefetch();
            match chan.acks.take_due(force, now, LINGER, prefetch) {
                Held::Nothing => {}
                Held::Waiting => self.acks_pending = true,
                Held::Due(upto) => {
                    tracing::trace!(channel = wire, delivery_tag = upto, "ack (multiple)");
                    let _ = io.core.basic_ack(wire, upto, true);
                }
            }
        }
    }

    /// When held acks fall due at the latest.
    pub(super) fn acks_deadline(&self) -> Option<Instant> {
        if !self.acks_pending {
            return None;
        }
        let oldest = self
            .chans
            .values()
            .filter_map(|c| c.acks.held_since())
            .min()?;
        Some(oldest + LINGER)
    }

    /// Whether acks may wait for the driver's next turn instead of waking
    /// it: some channel consumes, and on every consuming channel the
    /// deliveries the broker counts as unacked are under half the prefetch
    /// window, so the broker keeps delivering and the driver keeps waking
    /// (or the queue ran dry, and the linger timer sends them).
    pub(super) fn acks_lazy(&self) -> bool {
        let mut consuming = false;
        for chan in self.chans.values() {
            if chan.consumers.is_empty() {
                continue;
            }
            consuming = true;
            if !chan.acks.may_wait(chan.prefetch()) {
                return false;
            }
        }
        consuming
    }

    /// Moves held deliveries into consumer queues that have room.
    pub(super) fn feed_consumers(&mut self) {
        if self.held_deliveries == 0 {
            return;
        }
        let mut moved = 0usize;
        for chan in self.chans.values_mut() {
            moved += chan.consumers.feed(&mut self.wakes);
        }
        self.held_deliveries = self.held_deliveries.saturating_sub(moved);
        if self.held_deliveries == 0 {
            self.state.wants_room.store(false, Ordering::Relaxed);
        }
    }

    /// Registers a consumer once the server confirmed it.
    pub(super) fn add_consumer(
        &mut self,
        key: ChanKey,
        tag: ShortStr,
        queue: ShortStr,
        options: crate::amqp::options::ConsumeOptions,
        tx: DeliverySender<ConsumerMsg>,
        stream: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> u32 {
        let id = self.next_consumer;
        self.next_consumer = self.next_consumer.wrapping_add(1);
        if let Some(chan) = self.chans.get_mut(&key) {
            chan.consumers
                .add(ConsumerRec::new(id, tag, queue, options, tx, stream));
        }
        id
    }

    /// Removes a consumer; with `requeue`, what it got and nobody settled
    /// goes back to the queue. A stream queue keeps every message and
    /// does not support rejects (one that races the stream's deletion
    /// closes the connection): those deliveries are acked, which only
    /// gives the consumer's credit back.
    pub(super) fn remove_consumer(&mut self, key: ChanKey, tag: &ShortStr, requeue: bool) {
        let Some(chan) = self.chans.get_mut(&key) else {
            return;
        };
        let Some(rec) = chan.consumers.remove(tag) else {
            return;
        };
        let id = rec.id;
        let stream = rec.is_stream();
        let dropped = rec.end(ConsumerMsg::Finished, &mut self.wakes);
        self.held_deliveries = self.held_deliveries.saturating_sub(dropped);
        if !requeue {
            return;
        }
        let tags = chan.acks.forget_consumer(id);
        let (Some(wire), Some(io)) = (chan.wire, self.io.as_mut()) else {
            return;
        };
        for t in tags {
            let _ = if stream {
                io.core.basic_ack(wire, t, false)
            } else {
                io.core.basic_reject(wire, t, true)
            };
        }
    }
}
