//! Events from the core: replies, deliveries, confirms, returns, closes.

use std::sync::atomic::Ordering;

use amqp_proto::{Delivery, Event, Initiator, Method, ReplyCode, RequestId, Returned};

use super::consumers::Delivered;
use super::control::fail_control;
use super::{Driver, Exit, RpcKind};
use crate::amqp::command::{ConsumerMsg, RpcReply};
use crate::amqp::error::Error;
use crate::amqp::events::ConnectionEvent;
use crate::amqp::metrics::Stats;

impl Driver {
    pub(super) fn on_event(&mut self, ev: Event) {
        match ev {
            Event::ChannelOpened { channel } => self.on_channel_opened(channel),
            Event::ChannelClosed {
                channel,
                initiator,
                reason,
                failed,
            } => {
                let err = Error::ChannelClosed {
                    code: reason.code,
                    text: reason.text.to_string(),
                };
                if initiator == Initiator::Peer {
                    tracing::warn!(
                        connection = %self.state.label,
                        channel,
                        code = reason.code.0,
                        text = %reason.text,
                        "channel closed by the broker"
                    );
                }
                for id in failed {
                    if let Some(slot) = self.requests.internal.get_mut(&id) {
                        *slot = Some(Err(err.clone()));
                    } else if let Some(rpc) = self.requests.rpcs.remove(&id) {
                        super::control::fail_rpc(rpc.kind, &err);
                    }
                }
                if let Some(slot) = self.requests.internal_opens.get_mut(&channel) {
                    *slot = Some(Err(err.clone()));
                }
                if let Some((_, reply)) = self.requests.opens.remove(&channel) {
                    let _ = reply.send(Err(err.clone()));
                }
                self.channel_gone(channel, err, initiator == Initiator::Local);
            }
            Event::Reply {
                request, method, ..
            } => self.on_reply(request, RpcReply::Method(method)),
            Event::GetOk { request, message } => {
                self.on_reply(request, RpcReply::Get(Box::new(message)))
            }
            Event::GetEmpty { request, .. } => self.on_reply(request, RpcReply::GetEmpty),
            Event::Delivery(d) => self.on_delivery(d),
            Event::Returned(r) => self.on_returned(r),
            Event::Confirmed {
                channel,
                first,
                last,
                ack,
            } => self.on_confirmed(channel, first, last, ack),
            Event::ConsumerCancelled {
                channel,
                consumer_tag,
            } => {
                tracing::info!(connection = %self.state.label, channel, consumer_tag = %consumer_tag, "the broker cancelled a consumer");
                if let Some(&key) = self.by_wire.get(&channel) {
                    if let Some(chan) = self.chans.get_mut(&key) {
                        if let Some(rec) = chan.consumers.remove(&consumer_tag) {
                            let end = ConsumerMsg::End(Error::ConsumerCancelled {
                                consumer_tag: consumer_tag.to_string(),
                            });
                            let dropped = rec.end(end, &mut self.wakes);
                            self.held_deliveries = self.held_deliveries.saturating_sub(dropped);
                        }
                    }
                }
            }
            Event::Flow { channel, active } => {
                if let Some(&key) = self.by_wire.get(&channel) {
                    if let Some(chan) = self.chans.get_mut(&key) {
                        chan.publishes.flow_paused = !active;
                    }
                    if active {
                        self.release_held(key);
                    }
                }
            }
            Event::Blocked { reason } => {
                let reason = reason.to_string();
                tracing::warn!(connection = %self.state.label, %reason, "the broker blocks publishing");
                self.state.set_blocked(Some(reason.clone()));
                self.state.emit(ConnectionEvent::Blocked { reason });
            }
            Event::Unblocked => {
                tracing::info!(connection = %self.state.label, "the broker unblocked publishing");
                self.state.set_blocked(None);
                self.state.emit(ConnectionEvent::Unblocked);
            }
            Event::ConnectionClosed { initiator, reason } => {
                self.exit = Some(match initiator {
                    Initiator::Local if self.closing.is_some() => Exit::Closed,
                    Initiator::Local => Exit::Lost(Error::lost(format!(
                        "closed after a protocol error: {} {}",
                        reason.code, reason.text
                    ))),
                    Initiator::Peer => {
                        // A refused secret closes the connection: its
                        // caller learns the broker's reply code.
                        if let Some((id, _)) = self.secrets.pending.take() {
                            if let Some(rpc) = self.requests.rpcs.remove(&id) {
                                super::control::fail_rpc(
                                    rpc.kind,
                                    &Error::ConnectionClosed {
                                        code: reason.code,
                                        text: reason.text.to_string(),
                                    },
                                );
                            }
                        }
                        tracing::warn!(
                            connection = %self.state.label,
                            code = reason.code.0,
                            text = %reason.text,
                            "the broker closed the connection"
                        );
                        Exit::Lost(Error::ConnectionClosed {
                            code: reason.code,
                            text: reason.text.to_string(),
                        })
                    }
                });
            }
            Event::HeartbeatTimeout => {
                self.exit = Some(Exit::Lost(Error::lost(
                    "no traffic from the broker for two heartbeat intervals",
                )));
            }
            _ => {}
        }
    }

    fn on_channel_opened(&mut self, wire: u16) {
        if let Some(slot) = self.requests.internal_opens.get_mut(&wire) {
            *slot = Some(Ok(()));
            return;
        }
        let Some((key, reply)) = self.requests.opens.remove(&wire) else {
            return;
        };
        let Some(chan) = self.chans.get_mut(&key) else {
            return;
        };
        tracing::debug!(connection = %self.state.label, channel = wire, "channel open");
        if reply.send(Ok(chan.shared.clone())).is_err() {
            // The caller gave up (timeout or drop): nobody holds it.
            chan.closing = Some(Vec::new());
            if let Some(io) = self.io.as_mut() {
                let _ = io
                    .core
                    .close_channel(wire, ReplyCode::SUCCESS, "nobody opened it");
            }
        }
    }

    /// A channel closed (either side). Its waiters fail; its consumers'
    /// streams end.
    pub(super) fn channel_gone(&mut self, wire: u16, err: Error, _local: bool) {
        let Some(key) = self.by_wire.remove(&wire) else {
            return;
        };
        let Some(mut chan) = self.chans.remove(&key) else {
            return;
        };
        self.note_channels();
        let by_app = chan.closing.is_some() || self.closing.is_some();
        let reason = if by_app {
            Error::ChannelClosed {
                code: ReplyCode::SUCCESS,
                text: "closed by the application".to_owned(),
            }
        } else {
            err
        };
        let _ = chan.shared.closed.set(reason.clone());
        chan.shared.returns.close();
        for r in chan.closing.into_iter().flatten() {
            let _ = r.send(Ok(()));
        }
        // Unconfirmed and held publishes fail with the channel.
        chan.publishes.fail_unconfirmed(&reason, &mut self.wakes);
        let bytes = chan.publishes.fail_held(&reason, &mut self.wakes);
        self.held_publish_bytes = self.held_publish_bytes.saturating_sub(bytes);
        for (_, c) in chan.deferred {
            fail_control(c, &reason);
        }
        let end = || {
            if by_app {
                ConsumerMsg::Finished
            } else {
                ConsumerMsg::End(reason.clone())
            }
        };
        let dropped = chan.consumers.end_all(end, &mut self.wakes);
        self.held_deliveries = self.held_deliveries.saturating_sub(dropped);
        // Requests still registered for it (none normally: the core
        // reports them in `failed`).
        let stale: Vec<RequestId> = self
            .requests
            .rpcs
            .iter()
            .filter(|(_, r)| r.chan == key)
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            if let Some(rpc) = self.requests.rpcs.remove(&id) {
                super::control::fail_rpc(rpc.kind, &reason);
            }
        }
    }

    fn on_reply(&mut self, request: RequestId, reply: RpcReply) {
        if self
            .secrets
            .pending
            .as_ref()
            .is_some_and(|(id, _)| *id == request)
        {
            self.secrets.accepted = self.secrets.pending.take().map(|(_, s)| s);
        }
        if let Some(slot) = self.requests.internal.get_mut(&request) {
            *slot = Some(Ok(reply));
            return;
        }
        let Some(rpc) = self.requests.rpcs.remove(&request) else {
            return;
        };
        if let (Some(req), RpcReply::Method(m)) = (&rpc.request, &reply) {
            self.topology.on_reply(req, m);
            if let Some(chan) = self.chans.get_mut(&rpc.chan) {
                match &**req {
                    Method::BasicQos(q) => chan.qos = Some(q.clone()),
                    Method::ConfirmSelect(_) => {
                        chan.confirm = true;
                        chan.shared.confirm_mode.store(true, Ordering::Release);
                    }
                    Method::TxSelect(_) => chan.tx_mode = true,
                    _ => {}
                }
            }
        }
        // A basic.get delivery that needs an ack is outstanding too.
        if let (Some(req), RpcReply::Get(m)) = (&rpc.request, &reply) {
            if let (Method::BasicGet(g), Some(chan)) = (&**req, self.chans.get_mut(&rpc.chan)) {
                if !g.no_ack {
                    chan.acks.got(m.delivery_tag);
                }
            }
        }
        match rpc.kind {
            RpcKind::User(r) => {
                let _ = r.send(Ok(reply));
            }
            RpcKind::Consume {
                reply: r,
                queue,
                options,
                deliveries,
                stream,
            } => {
                let tag = match reply {
                    RpcReply::Method(Method::BasicConsumeOk(ok)) => ok.consumer_tag,
                    _ => return,
                };
                tracing::debug!(connection = %self.state.label, consumer_tag = %tag, queue = %queue, "consumer started");
                self.add_consumer(rpc.chan, tag.clone(), queue, *options, deliveries, stream);
                if r.send(Ok(tag.to_string())).is_err() {
                    self.cancel_consumer(rpc.chan, &tag);
                }
            }
            RpcKind::Cancel {
                tag,
                requeue,
                reply,
            } => {
                self.remove_consumer(rpc.chan, &tag, requeue);
                if let Some(r) = reply {
                    let _ = r.send(Ok(()));
                }
            }
            RpcKind::Ignore => {}
        }
    }

    /// Cancels a consumer nobody reads any more, requeueing what it got.
    fn cancel_consumer(&mut self, key: super::ChanKey, tag: &amqp_proto::ShortStr) {
        let Some(chan) = self.chans.get_mut(&key) else {
            return;
        };
        let Some(rec) = chan.consumers.get_mut(tag) else {
            return;
        };
        if rec.cancelling {
            return;
        }
        rec.cancelling = true;
        let Some(wire) = chan.wire else { return };
        let m = amqp_proto::method::basic::Cancel {
            consumer_tag: tag.clone(),
            nowait: false,
        };
        self.call(
            wire,
            key,
            m.into(),
            None,
            RpcKind::Cancel {
                tag: tag.clone(),
                requeue: true,
                reply: None,
            },
        );
    }

    fn on_delivery(&mut self, d: Delivery) {
        let Some(&key) = self.by_wire.get(&d.channel) else {
            return;
        };
        let Some(chan) = self.chans.get_mut(&key) else {
            return;
        };
        Stats::add(&self.state.stats.deliveries, 1);
        let tag = d.consumer_tag();
        let Some(c) = chan.consumers.get_mut(&tag) else {
            tracing::debug!(connection = %self.state.label, channel = d.channel, consumer_tag = %tag, "delivery for an unknown consumer");
            return;
        };
        tracing::trace!(
            connection = %self.state.label,
            channel = d.channel,
            delivery_tag = d.delivery_tag,
            "delivery"
        );
        c.check_stream(&d);
        if !c.options.no_ack {
            chan.acks.delivered(d.delivery_tag, c.id);
            self.acks_active = true;
        }
        match c.deliver(ConsumerMsg::Delivery(d, self.generation), &mut self.wakes) {
            Delivered::Queued => {}
            Delivered::Held => self.held_deliveries += 1,
            Delivered::Closed => {
                let tag = c.tag.clone();
                self.cancel_consumer(key, &tag);
            }
        }
    }

    fn on_returned(&mut self, r: Returned) {
        let Some(chan) = self
            .by_wire
            .get(&r.channel)
            .and_then(|k| self.chans.get_mut(k))
        else {
            return;
        };
        // A copy for the returns stream, if one is open and a confirm
        // takes the message.
        let copy = chan.shared.returns.is_subscribed().then(|| r.clone());
        let (r, matched) = match chan.publishes.on_returned(r) {
            Some(r) => (r, false),
            None => match copy {
                Some(r) => (r, true),
                None => return,
            },
        };
        if let Err(r) = chan.shared.returns.send(r) {
            if matched {
                // Its confirm carries it.
                return;
            }
            tracing::warn!(
                connection = %self.state.label,
                channel = r.channel,
                exchange = %r.exchange(),
                routing_key = %r.routing_key(),
                code = r.reply_code.0,
                "message returned, and no returns stream takes it (none open, or full): dropped"
            );
        }
    }

    /// Tells the metrics how many channels the connection has now.
    pub(super) fn note_channels(&self) {
        let n = self.chans.len() as u64;
        self.state
            .stats
            .channels
            .store(n, std::sync::atomic::Ordering::Relaxed);
    }

    fn on_confirmed(&mut self, wire: u16, first: u64, last: u64, ack: bool) {
        let stats = &self.state.stats;
        let n = last.saturating_sub(first).saturating_add(1);
        Stats::add(
            if ack {
                &stats.confirms_acked
            } else {
                &stats.confirms_nacked
            },
            n,
        );
        let Some(chan) = self.by_wire.get(&wire).and_then(|k| self.chans.get_mut(k)) else {
            return;
        };
        chan.publishes
            .on_confirmed(first, last, ack, &mut self.wakes);
    }
}
