//! Publishes from the publish queue into the core: held while the
//! channel is paused or reopening, sent with their confirms tracked by the
//! channel's [`Publishes`](super::publishes::Publishes), and the commands
//! that wait for the publishes queued before them.

use super::Driver;
use super::control::command_error;
use crate::amqp::command::{ChanKey, Publish};
use crate::amqp::error::Error;
use crate::amqp::metrics::Stats;

impl Driver {
    pub(super) fn on_publish(&mut self, mut p: Publish) {
        let key = p.chan;
        // Without a target of its own, a publish goes where the one
        // before it went.
        if let Some(t) = p.target.take() {
            self.last_target = Some(t);
        }
        let Some(chan) = self.chans.get_mut(&key) else {
            if let Some(w) = p.confirm {
                w.fail(Error::Usage("the channel is closed"), &mut self.wakes);
            }
            return;
        };
        chan.publishes.taken += 1;
        // Commands waiting for this publish to be taken (almost never).
        let deferred = !chan.deferred.is_empty();
        if let Some(e) = chan.shared.closed.get() {
            if let Some(w) = p.confirm {
                w.fail(e.clone(), &mut self.wakes);
            }
        } else if chan.publishes.must_hold() || chan.wire.is_none() {
            self.held_publish_bytes += p.body.len();
            p.target = self.last_target.clone();
            chan.publishes.hold(p);
        } else {
            self.send_publish(key, p);
        }
        if deferred {
            self.run_deferred(key);
        }
    }

    /// Hands a publish to the core and tracks its confirm. Inlined into
    /// the publish loop: the publish is then not copied call to call.
    #[inline]
    pub(super) fn send_publish(&mut self, key: ChanKey, p: Publish) {
        let (Some(chan), Some(io)) = (self.chans.get_mut(&key), self.io.as_mut()) else {
            return;
        };
        let Some(wire) = chan.wire else { return };
        // A held publish carries its target; a fresh one goes to the last.
        let Some(target) = p.target.as_ref().or(self.last_target.as_ref()) else {
            return;
        };
        tracing::trace!(
            connection = %self.state.label,
            channel = wire,
            exchange = %target.exchange,
            routing_key = %target.routing_key,
            "publish"
        );
        // The body is kept only for a mandatory publish's return.
        let kept = p.mandatory.then(|| p.body.clone());
        match io.core.basic_publish(
            wire,
            &target.exchange,
            &target.routing_key,
            p.mandatory,
            p.properties.as_deref().unwrap_or(&self.no_properties),
            p.body,
        ) {
            Ok(Some(seq)) => {
                Stats::add(&self.state.stats.publishes, 1);
                let mandatory = kept.map(|body| (target.clone(), body));
                chan.publishes.sent(seq, p.confirm, mandatory);
            }
            Ok(None) => {
                // Sent outside confirm mode: the broker will not confirm
                // it, so its confirm cannot succeed (the handle saw
                // confirm mode, which recovery restores before it sends
                // held publishes; this is not expected).
                Stats::add(&self.state.stats.publishes, 1);
                if let Some(w) = p.confirm {
                    w.fail(
                        Error::Usage("the channel is not in confirm mode"),
                        &mut self.wakes,
                    );
                }
            }
            Err(e) => {
                if let Some(w) = p.confirm {
                    w.fail(command_error(e), &mut self.wakes);
                }
            }
        }
    }

    /// Commands that waited for publishes queued before them.
    pub(super) fn run_deferred(&mut self, key: ChanKey) {
        loop {
            let Some(chan) = self.chans.get_mut(&key) else {
                return;
            };
            match chan.deferred.front() {
                Some((after, _)) if *after <= chan.publishes.taken => {}
                _ => return,
            }
            let Some((_, c)) = chan.deferred.pop_front() else {
                return;
            };
            self.channel_command(key, c);
        }
    }

    /// Sends publishes held for a paused or reopened channel.
    pub(super) fn release_held(&mut self, key: ChanKey) {
        loop {
            let Some(chan) = self.chans.get_mut(&key) else {
                return;
            };
            if chan.open_wire(self.io.as_ref()).is_none() {
                return;
            }
            let Some(p) = chan.publishes.release() else {
                return;
            };
            self.held_publish_bytes = self.held_publish_bytes.saturating_sub(p.body.len());
            self.send_publish(key, p);
        }
    }
}
