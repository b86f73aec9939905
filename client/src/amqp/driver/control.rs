//! Commands from handles: channel opens, requests, consumers, acks and
//! publishes.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use amqp_proto::method::basic;
use amqp_proto::{Method, ReplyCode, RequestId, ShortStr};

use super::{Chan, Driver};
use crate::amqp::command::{ChanKey, ChannelShared, Control};
use crate::amqp::command::{ConsumerMsg, Reply, RpcReply};
use crate::amqp::delivery_queue::DeliverySender;
use crate::amqp::error::{Error, Result};
use crate::amqp::options::ConsumeOptions;
use crate::amqp::uri::Secret;

/// What a synchronous request's answer is for.
#[derive(Debug)]
pub(crate) enum RpcKind {
    /// A handle waits.
    User(Reply<RpcReply>),
    /// basic.consume from a handle.
    Consume {
        reply: Reply<String>,
        queue: ShortStr,
        options: Box<ConsumeOptions>,
        deliveries: DeliverySender<ConsumerMsg>,
        stream: Arc<AtomicBool>,
    },
    /// basic.cancel from a handle (or a dropped consumer).
    Cancel {
        tag: ShortStr,
        requeue: bool,
        reply: Option<Reply<()>>,
    },
    /// Nobody waits (the QoS before a consume).
    Ignore,
}

#[derive(Debug)]
pub(crate) struct PendingRpc {
    pub(super) chan: ChanKey,
    /// The request, for topology records and channel modes.
    pub(super) request: Option<Box<amqp_proto::Method>>,
    pub(super) kind: RpcKind,
}

/// Requests waiting for their answers: the application's (by the core's
/// request id), channel opens (by wire number), and recovery's own, whose
/// answers wait here for the recovery step that sent them.
#[derive(Debug, Default)]
pub(crate) struct Requests {
    pub(super) rpcs: HashMap<RequestId, PendingRpc>,
    /// Channel opens from handles, by wire number.
    pub(super) opens: HashMap<u16, (ChanKey, Reply<Arc<ChannelShared>>)>,
    /// Requests of recovery, and their answers once in.
    pub(super) internal: HashMap<RequestId, Option<Result<RpcReply>>>,
    pub(super) internal_opens: HashMap<u16, Option<Result<()>>>,
}

/// connection.update-secret: what the broker last accepted (reconnects
/// log in with it instead of the URI's password), and the one it is
/// asked to accept.
#[derive(Debug, Default)]
pub(crate) struct Secrets {
    pub(super) accepted: Option<Secret>,
    pub(super) pending: Option<(RequestId, Secret)>,
}

/// Tells a command's waiter that it failed.
pub(super) fn fail_control(c: Control, error: &Error) {
    match c {
        Control::OpenChannel { reply } => {
            let _ = reply.send(Err(error.clone()));
        }
        Control::Rpc { reply, .. } | Control::UpdateSecret { reply, .. } => {
            let _ = reply.send(Err(error.clone()));
        }
        Control::Consume { reply, .. } => {
            let _ = reply.send(Err(error.clone()));
        }
        Control::Cancel { reply, .. } | Control::CloseChannel { reply, .. } => {
            if let Some(r) = reply {
                let _ = r.send(Err(error.clone()));
            }
        }
        Control::Close { reply } => {
            let _ = reply.send(Ok(()));
        }
        Control::Settle { .. } => {}
    }
}

/// Tells a request's waiter that it failed.
pub(super) fn fail_rpc(kind: RpcKind, error: &Error) {
    match kind {
        RpcKind::User(r) => {
            let _ = r.send(Err(error.clone()));
        }
        RpcKind::Consume { reply, .. } => {
            let _ = reply.send(Err(error.clone()));
        }
        RpcKind::Cancel { reply, .. } => {
            if let Some(r) = reply {
                let _ = r.send(Err(error.clone()));
            }
        }
        RpcKind::Ignore => {}
    }
}

pub(super) fn command_error(e: amqp_proto::CommandError) -> Error {
    match e {
        amqp_proto::CommandError::Closed | amqp_proto::CommandError::NotConnected => {
            Error::lost("the connection is not open")
        }
        other => Error::Command(other),
    }
}

impl Driver {
    fn connected(&self) -> bool {
        self.io.as_ref().is_some_and(|io| io.core.is_open())
    }

    pub(super) fn on_control(&mut self, c: Control) {
        // Acks queued before a command go out before it.
        if self.acks_pending && !matches!(c, Control::Settle { .. }) {
            self.flush_acks(true);
        }
        if self.closing.is_some() {
            match c {
                Control::Close { reply } => self.start_close(Some(reply)),
                Control::Settle { .. } => {}
                other => fail_control(other, &Error::closed_by_app()),
            }
            return;
        }
        if !self.connected() {
            match c {
                // Deliveries from before the loss cannot be settled.
                Control::Settle { .. } => {}
                Control::Close { reply } => self.start_close(Some(reply)),
                other => self.parked.push_back(other),
            }
            return;
        }
        match c {
            Control::OpenChannel { reply } => self.open_channel(reply),
            Control::Close { reply } => self.start_close(Some(reply)),
            Control::UpdateSecret {
                secret,
                reason,
                reply,
            } => self.update_secret(secret, &reason, reply),
            Control::Settle {
                chan,
                generation,
                delivery_tag,
                multiple,
                how,
            } => self.settle(chan, generation, delivery_tag, multiple, how),
            c => {
                let Some((key, after)) = ordered(&c) else {
                    return;
                };
                let Some(chan) = self.chans.get_mut(&key) else {
                    fail_control(c, &Error::Usage("the channel is closed"));
                    return;
                };
                if chan.publishes.taken < after || !chan.deferred.is_empty() {
                    chan.deferred.push_back((after, c));
                    return;
                }
                self.channel_command(key, c);
            }
        }
    }

    /// Sends connection.update-secret. The new secret replaces the URI's
    /// password for reconnects once the broker accepts it.
    fn update_secret(
        &mut self,
        secret: crate::amqp::uri::Secret,
        reason: &str,
        reply: crate::amqp::command::Reply<crate::amqp::command::RpcReply>,
    ) {
        let Some(io) = self.io.as_mut() else {
            let _ = reply.send(Err(Error::lost("not connected")));
            return;
        };
        match io.core.update_secret(secret.expose().as_bytes(), reason) {
            Ok(id) => {
                self.requests.rpcs.insert(
                    id,
                    PendingRpc {
                        chan: 0,
                        request: None,
                        kind: RpcKind::User(reply),
                    },
                );
                self.secrets.pending = Some((id, secret));
            }
            Err(e) => {
                let _ = reply.send(Err(command_error(e)));
            }
        }
    }

    /// Commands parked while the connection was down, now that it is up.
    pub(super) fn replay_parked(&mut self) {
        while self.connected() {
            let Some(c) = self.parked.pop_front() else {
                return;
            };
            self.on_control(c);
        }
    }

    fn open_channel(&mut self, reply: crate::amqp::command::Reply<Arc<ChannelShared>>) {
        let Some(io) = self.io.as_mut() else {
            let _ = reply.send(Err(Error::lost("not connected")));
            return;
        };
        match io.core.open_channel() {
            Ok(wire) => {
                let key = self.next_key;
                self.next_key = self.next_key.wrapping_add(1).max(1);
                let mut chan = Chan::new(Arc::new(ChannelShared::new(key)));
                chan.wire = Some(wire);
                self.chans.insert(key, chan);
                self.note_channels();
                self.by_wire.insert(wire, key);
                self.requests.opens.insert(wire, (key, reply));
                tracing::debug!(connection = %self.state.label, channel = wire, "opening channel");
            }
            Err(e) => {
                let _ = reply.send(Err(command_error(e)));
            }
        }
    }

    /// A command that keeps its place among the channel's publishes.
    pub(super) fn channel_command(&mut self, key: ChanKey, c: Control) {
        let (wire, closed) = match self.chans.get(&key) {
            Some(chan) => (chan.wire, chan.shared.closed.get().cloned()),
            None => return,
        };
        if let Some(e) = closed {
            fail_control(c, &e);
            return;
        }
        let Some(wire) = wire else {
            self.parked.push_back(c);
            return;
        };
        match c {
            Control::Rpc {
                chan,
                method,
                reply,
                ..
            } => {
                let mut method = *method;
                self.topology.translate(&mut method);
                let record = records(&method).then(|| Box::new(method.clone()));
                if let Method::ConfirmSelect(_) = method {
                    if let Some(ch) = self.chans.get_mut(&chan) {
                        ch.confirm = true;
                    }
                }
                self.call(wire, chan, method, record, RpcKind::User(reply));
            }
            Control::Consume {
                chan,
                queue,
                options,
                deliveries,
                stream,
                reply,
                ..
            } => {
                let queue = match ShortStr::try_from(queue.as_str()) {
                    Ok(q) => self.topology.current_name(&q).clone(),
                    Err(e) => {
                        let _ = reply.send(Err(Error::Command(
                            amqp_proto::CommandError::StringTooLong {
                                what: "queue",
                                len: e.len,
                            },
                        )));
                        return;
                    }
                };
                if options.arguments.get("x-stream-offset").is_some()
                    || self.topology.is_stream(&queue)
                {
                    stream.store(true, Ordering::Release);
                }
                let tag = match options.tag.as_deref().map(ShortStr::try_from) {
                    None => ShortStr::empty(),
                    Some(Ok(t)) => t,
                    Some(Err(e)) => {
                        let _ = reply.send(Err(Error::Command(
                            amqp_proto::CommandError::StringTooLong {
                                what: "consumer tag",
                                len: e.len,
                            },
                        )));
                        return;
                    }
                };
                if let Some(prefetch) = options.prefetch {
                    let qos = basic::Qos {
                        prefetch_size: 0,
                        prefetch_count: prefetch,
                        global: false,
                    };
                    let request = Some(Box::new(Method::from(qos.clone())));
                    self.call(wire, chan, qos.into(), request, RpcKind::Ignore);
                }
                let consume = consume_method(&queue, &tag, &options);
                self.call(
                    wire,
                    chan,
                    consume,
                    None,
                    RpcKind::Consume {
                        reply,
                        queue,
                        options,
                        deliveries,
                        stream,
                    },
                );
            }
            Control::Cancel {
                chan,
                tag,
                requeue,
                reply,
            } => {
                let Ok(tag) = ShortStr::try_from(tag.as_str()) else {
                    return;
                };
                let known = self
                    .chans
                    .get(&chan)
                    .is_some_and(|c| c.consumers.contains(&tag));
                if !known {
                    if let Some(r) = reply {
                        let _ = r.send(Ok(()));
                    }
                    return;
                }
                let m = basic::Cancel {
                    consumer_tag: tag.clone(),
                    nowait: false,
                };
                self.call(
                    wire,
                    chan,
                    m.into(),
                    None,
                    RpcKind::Cancel {
                        tag,
                        requeue,
                        reply,
                    },
                );
            }
            Control::CloseChannel { chan, reply, .. } => {
                let Some(ch) = self.chans.get_mut(&chan) else {
                    return;
                };
                if let Some(waiting) = ch.closing.as_mut() {
                    waiting.extend(reply);
                    return;
                }
                ch.closing = Some(reply.into_iter().collect());
                // Outstanding confirms come in first, up to the close timeout.
                ch.close_after = Some(crate::clock::now() + self.config.close_timeout);
                self.closes_waiting = true;
                self.advance_channel_closes();
            }
            other => fail_control(other, &Error::Usage("not a channel command")),
        }
    }

    /// Sends a synchronous request and remembers who waits for it.
    pub(super) fn call(
        &mut self,
        wire: u16,
        chan: ChanKey,
        method: Method,
        request: Option<Box<Method>>,
        kind: RpcKind,
    ) {
        let Some(io) = self.io.as_mut() else {
            super::control::fail_rpc(kind, &Error::lost("not connected"));
            return;
        };
        match io.core.call(wire, method) {
            Ok(id) => {
                self.requests.rpcs.insert(
                    id,
                    PendingRpc {
                        chan,
                        request,
                        kind,
                    },
                );
            }
            Err(e) => fail_rpc(kind, &command_error(e)),
        }
    }

    /// Sends channel.close for channels whose close waited for their
    /// outstanding confirms, once those are in or the close timeout passed.
    pub(super) fn advance_channel_closes(&mut self) {
        if !self.closes_waiting {
            return;
        }
        let now = crate::clock::now();
        let mut ready = Vec::new();
        let mut waiting = false;
        for chan in self.chans.values_mut() {
            if let (Some(at), Some(wire)) = (chan.close_after, chan.wire) {
                if chan.publishes.unconfirmed() == 0 || now >= at {
                    chan.close_after = None;
                    ready.push(wire);
                } else {
                    waiting = true;
                }
            }
        }
        self.closes_waiting = waiting;
        if !ready.is_empty() {
            self.flush_acks(true);
        }
        for wire in ready {
            let sent = self.io.as_mut().is_some_and(|io| {
                io.core
                    .close_channel(wire, ReplyCode::SUCCESS, "closed by the application")
                    .is_ok()
            });
            if !sent {
                self.channel_gone(
                    wire,
                    Error::ChannelClosed {
                        code: ReplyCode::SUCCESS,
                        text: "closed by the application".to_owned(),
                    },
                    true,
                );
            }
        }
    }

    /// The earliest deadline of a channel close waiting for confirms.
    pub(super) fn channel_close_deadline(&self) -> Option<Instant> {
        if !self.closes_waiting {
            return None;
        }
        self.chans.values().filter_map(|c| c.close_after).min()
    }
}

/// The channel and publish count of a command that keeps its order.
fn ordered(c: &Control) -> Option<(ChanKey, u64)> {
    match c {
        Control::Rpc { chan, after, .. }
        | Control::Consume { chan, after, .. }
        | Control::CloseChannel { chan, after, .. } => Some((*chan, *after)),
        Control::Cancel { chan, .. } => Some((*chan, 0)),
        _ => None,
    }
}

/// Whether a request's reply changes recorded topology or channel modes.
fn records(m: &Method) -> bool {
    matches!(
        m,
        Method::ExchangeDeclare(_)
            | Method::ExchangeDelete(_)
            | Method::ExchangeBind(_)
            | Method::ExchangeUnbind(_)
            | Method::QueueDeclare(_)
            | Method::QueueDelete(_)
            | Method::QueueBind(_)
            | Method::QueueUnbind(_)
            | Method::BasicQos(_)
            | Method::BasicGet(_)
            | Method::ConfirmSelect(_)
            | Method::TxSelect(_)
    )
}

pub(super) fn consume_method(
    queue: &ShortStr,
    tag: &ShortStr,
    options: &crate::amqp::options::ConsumeOptions,
) -> Method {
    basic::Consume {
        ticket: 0,
        queue: queue.clone(),
        consumer_tag: tag.clone(),
        no_local: false,
        no_ack: options.no_ack,
        exclusive: options.exclusive,
        nowait: false,
        arguments: options.arguments.clone(),
    }
    .into()
}
