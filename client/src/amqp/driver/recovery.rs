//! Automatic recovery: reconnect with backoff, re-open channels and their
//! modes, re-declare recorded topology, re-subscribe consumers.
//!
//! Recovery runs inside the driver task. Its requests go through the same
//! core and event dispatch as the application's, so deliveries for
//! consumers restored early flow while later ones are still being
//! restored. Commands that arrive meanwhile are parked and replayed after.

use amqp_proto::method::{basic, confirm, queue, tx};
use amqp_proto::{Method, ReplyCode, ShortStr};

use super::{ChanKey, Driver, Exit, io};
use crate::amqp::command::RpcReply;
use crate::amqp::error::{Error, Result};
use crate::amqp::events::ConnectionEvent;

/// Whether an error during recovery ends the attempt (the connection is
/// gone) rather than one step (a channel error).
fn connection_level(e: &Error) -> bool {
    !matches!(e, Error::ChannelClosed { .. } | Error::Command(_))
}

impl Driver {
    /// Reconnects until it works, attempts run out, or the application
    /// closes.
    pub(super) async fn recover(&mut self) -> Result<()> {
        let mut backoff = self.config.recovery.backoff.start();
        let mut attempt = 0u32;
        let mut last = Error::lost("the connection was lost");
        loop {
            let Some(delay) = backoff.next_delay() else {
                tracing::error!(connection = %self.state.label, attempts = attempt, error = %last, "recovery gave up");
                self.state.emit(ConnectionEvent::RecoveryFailed {
                    error: last.clone(),
                });
                return Err(Error::ConnectionClosed {
                    code: ReplyCode::CONNECTION_FORCED,
                    text: format!("recovery gave up after {attempt} attempts: {last}"),
                });
            };
            attempt += 1;
            tracing::info!(connection = %self.state.label, attempt, ?delay, "reconnecting");
            self.state
                .emit(ConnectionEvent::Reconnecting { attempt, delay });
            if !self.sleep_parking(delay).await {
                return Err(Error::closed_by_app());
            }
            let n = self.config.uris.len().max(1);
            let index = (attempt as usize - 1) % n;
            let result = match io::connect(
                &self.config,
                index,
                self.secrets.accepted.as_ref(),
                &self.state.stats,
            )
            .await
            {
                Ok(io) => {
                    self.io = Some(io);
                    self.restore().await
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => {
                    let addr = self
                        .io
                        .as_ref()
                        .map(|io| io.addr.clone())
                        .unwrap_or_default();
                    self.state
                        .connected
                        .store(true, std::sync::atomic::Ordering::Release);
                    tracing::info!(connection = %self.state.label, %addr, attempts = attempt, "recovered");
                    crate::amqp::metrics::Stats::add(&self.state.stats.recoveries, 1);
                    self.state.emit(ConnectionEvent::Recovered {
                        addr,
                        attempts: attempt,
                    });
                    return Ok(());
                }
                Err(e) => {
                    tracing::warn!(connection = %self.state.label, attempt, error = %e, "reconnect attempt failed");
                    self.state.emit(ConnectionEvent::AttemptFailed {
                        attempt,
                        error: e.clone(),
                    });
                    self.on_lost(&e);
                    last = e;
                }
            }
        }
    }

    /// Waits `delay`, parking commands that come meanwhile. `false`: the
    /// application closed (or dropped every handle).
    async fn sleep_parking(&mut self, delay: std::time::Duration) -> bool {
        let until = tokio::time::Instant::now() + delay;
        loop {
            if self.closing.is_some() || self.handles_gone() {
                return false;
            }
            self.wake_handles();
            let room = self.config.command_queue.saturating_sub(self.parked.len());
            let open = room > 0 && !self.control_closed;
            // Biased: an unbiased select draws from tokio's random
            // generator, and a simulation's runs must repeat exactly.
            tokio::select! {
                biased;
                _ = tokio::time::sleep_until(until) => return true,
                _ = self.commands.ready(false), if open => {
                    self.commands.take(&mut self.taken_commands, room);
                    while let Some(c) = self.taken_commands.pop_front() {
                        self.on_control(c);
                    }
                    self.check_senders();
                }
            }
        }
    }

    /// Restores everything on the new connection.
    async fn restore(&mut self) -> Result<()> {
        let keys: Vec<ChanKey> = self.chans.keys().copied().collect();
        for &key in &keys {
            self.restore_channel(key).await?;
        }
        if self.config.recovery.topology {
            self.restore_topology().await?;
        }
        for &key in &keys {
            self.restore_consumers(key).await?;
        }
        for &key in &keys {
            self.release_held(key);
            self.run_deferred(key);
        }
        Ok(())
    }

    /// Opens a channel and waits for the open-ok.
    async fn open_internal(&mut self) -> Result<u16> {
        let io = self
            .io
            .as_mut()
            .ok_or_else(|| Error::lost("not connected"))?;
        let wire = io.core.open_channel().map_err(Error::Command)?;
        self.requests.internal_opens.insert(wire, None);
        let r = self
            .wait_until(|d| {
                d.requests
                    .internal_opens
                    .get(&wire)
                    .is_some_and(Option::is_some)
            })
            .await;
        let slot = self.requests.internal_opens.remove(&wire).flatten();
        r?;
        slot.unwrap_or_else(|| Err(Error::lost("channel open lost")))
            .map(|()| wire)
    }

    /// Sends a request and waits for its answer.
    async fn call_internal(&mut self, wire: u16, method: Method) -> Result<RpcReply> {
        let io = self
            .io
            .as_mut()
            .ok_or_else(|| Error::lost("not connected"))?;
        let id = io.core.call(wire, method).map_err(Error::Command)?;
        self.requests.internal.insert(id, None);
        let r = self
            .wait_until(|d| d.requests.internal.get(&id).is_some_and(Option::is_some))
            .await;
        let slot = self.requests.internal.remove(&id).flatten();
        r?;
        slot.unwrap_or_else(|| Err(Error::lost("request lost")))
    }

    /// Runs the IO loop until `done`, the operation timeout, or a loss.
    async fn wait_until(&mut self, done: impl Fn(&Driver) -> bool) -> Result<()> {
        let limit = self.config.operation_timeout;
        let deadline = crate::clock::now() + limit;
        loop {
            self.read_and_dispatch()?;
            self.feed_consumers();
            self.flush_acks(true);
            if let Some(exit) = self.exit.take() {
                return Err(match exit {
                    Exit::Lost(e) => e,
                    Exit::Closed => Error::closed_by_app(),
                });
            }
            let Some(io) = self.io.as_mut() else {
                return Err(Error::lost("not connected"));
            };
            io.flush()?;
            if done(self) {
                return Ok(());
            }
            if crate::clock::now() >= deadline {
                return Err(Error::Timeout {
                    operation: "recovery",
                    after: limit,
                });
            }
            self.wake_handles();
            let Some(io) = self.io.as_ref() else {
                return Err(Error::lost("not connected"));
            };
            let until = io.core.poll_timeout().map_or(deadline, |t| t.min(deadline));
            let want_write = io.wants_write();
            let can_read = self.can_read();
            let holding = self.held_deliveries > 0;
            tokio::select! {
                biased;
                _ = io.stream.writable(), if want_write => {}
                _ = io.stream.readable(), if can_read => {}
                _ = tokio::time::sleep_until(until.into()) => {}
                _ = self.state.room.notified(), if holding => {}
            }
        }
    }

    /// Re-opens a channel, then its QoS, confirm and tx modes.
    async fn restore_channel(&mut self, key: ChanKey) -> Result<()> {
        let wire = self.open_internal().await?;
        let Some(chan) = self.chans.get_mut(&key) else {
            return Ok(());
        };
        chan.wire = Some(wire);
        let (qos, confirm, tx_mode) = (chan.qos.clone(), chan.confirm, chan.tx_mode);
        self.by_wire.insert(wire, key);
        tracing::debug!(connection = %self.state.label, channel = wire, "channel re-opened");
        let mut steps: Vec<Method> = Vec::new();
        if let Some(q) = qos {
            steps.push(q.into());
        }
        if confirm {
            steps.push(confirm::Select { nowait: false }.into());
        }
        if tx_mode {
            steps.push(tx::Select {}.into());
        }
        for m in steps {
            let what = format!("{} on channel {wire}", m.name());
            if let Err(e) = self.call_internal(wire, m).await {
                if connection_level(&e) {
                    return Err(e);
                }
                self.topology_failed(what, e);
                break;
            }
        }
        Ok(())
    }

    fn topology_failed(&self, what: String, error: Error) {
        tracing::warn!(connection = %self.state.label, %what, %error, "could not restore");
        self.state
            .emit(ConnectionEvent::TopologyFailed { what, error });
    }

    /// Runs one topology request on the recovery channel; a channel error
    /// is reported and the channel re-opened.
    async fn topology_step(
        &mut self,
        wire: &mut u16,
        what: String,
        m: Method,
    ) -> Result<Option<RpcReply>> {
        match self.call_internal(*wire, m).await {
            Ok(r) => Ok(Some(r)),
            Err(e) if connection_level(&e) => Err(e),
            Err(e) => {
                self.topology_failed(what, e);
                *wire = self.open_internal().await?;
                Ok(None)
            }
        }
    }

    /// Exchanges, then queues (following new server names), then bindings,
    /// on a channel of their own.
    async fn restore_topology(&mut self) -> Result<()> {
        let mut wire = self.open_internal().await?;
        for x in self.topology.exchanges.clone() {
            let what = format!("exchange {}", x.exchange);
            self.topology_step(&mut wire, what, x.into()).await?;
        }
        for q in self.topology.queues.clone() {
            let mut declare: queue::Declare = q.declare.clone();
            if !q.server_named() {
                declare.queue = q.name.clone();
            }
            let what = format!("queue {}", q.name);
            let reply = self.topology_step(&mut wire, what, declare.into()).await?;
            if let Some(RpcReply::Method(Method::QueueDeclareOk(ok))) = reply {
                if ok.queue != q.name {
                    self.rename_queue(&q.name, &ok.queue);
                }
            }
        }
        for b in self.topology.bindings.clone() {
            self.topology_step(&mut wire, b.describe(), b.method())
                .await?;
        }
        if let Some(io) = self.io.as_mut() {
            let _ = io
                .core
                .close_channel(wire, ReplyCode::SUCCESS, "recovery done");
        }
        Ok(())
    }

    fn rename_queue(&mut self, old: &ShortStr, new: &ShortStr) {
        tracing::info!(connection = %self.state.label, old = %old, new = %new, "server-named queue renamed");
        self.topology.rename_queue(old, new);
        for chan in self.chans.values_mut() {
            for c in chan.consumers.iter_mut() {
                if &c.queue == old {
                    c.queue = new.clone();
                }
            }
        }
        self.state.emit(ConnectionEvent::QueueRenamed {
            old: old.to_string(),
            new: new.to_string(),
        });
    }

    /// Re-subscribes a channel's consumers under their tags.
    async fn restore_consumers(&mut self, key: ChanKey) -> Result<()> {
        let Some(chan) = self.chans.get(&key) else {
            return Ok(());
        };
        let Some(wire) = chan.wire else {
            return Ok(());
        };
        let list: Vec<_> = chan
            .consumers
            .iter()
            .map(|c| (c.tag.clone(), c.queue.clone(), c.options.clone()))
            .collect();
        for (tag, q, options) in list {
            let q = self.topology.current_name(&q).clone();
            let what = format!("consumer {tag} on queue {q}");
            if let Some(prefetch) = options.prefetch {
                let qos = basic::Qos {
                    prefetch_size: 0,
                    prefetch_count: prefetch,
                    global: false,
                };
                if let Err(e) = self.call_internal(wire, qos.into()).await {
                    if connection_level(&e) {
                        return Err(e);
                    }
                    self.topology_failed(what, e);
                    return Ok(());
                }
            }
            let m = super::control::consume_method(&q, &tag, &options);
            match self.call_internal(wire, m).await {
                Ok(_) => {
                    tracing::debug!(connection = %self.state.label, channel = wire, consumer_tag = %tag, "consumer re-subscribed");
                }
                Err(e) if connection_level(&e) => return Err(e),
                Err(e) => {
                    self.topology_failed(what, e);
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}
