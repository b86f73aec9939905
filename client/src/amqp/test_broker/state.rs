//! The test broker's state: queues, exchanges, connections with their
//! channels, consumers and unacknowledged deliveries, and the publishes
//! waiting to be confirmed. Ordered maps only, so that a simulation
//! repeats exactly.
//!
//! Every change that may move messages ends in [`Broker::dispatch`], which
//! hands ready messages to consumers with room (round robin per queue) by
//! queueing frames in their connections' outboxes; each connection's task
//! writes its outbox.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use amqp_proto::method::basic;
use amqp_proto::{BasicProperties, Method, ReplyCode, ShortStr};
use bytes::Bytes;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::BrokerEvent;
use crate::simnet::{Link, Rng};

/// A message as the broker keeps it.
#[derive(Debug, Clone)]
pub(super) struct Msg {
    /// Unique per publish, for the event log.
    pub(super) id: u64,
    pub(super) exchange: ShortStr,
    pub(super) routing_key: ShortStr,
    pub(super) properties: BasicProperties,
    pub(super) body: Bytes,
    pub(super) redelivered: bool,
}

/// What a connection's task writes next.
#[derive(Debug)]
pub(super) enum Out {
    Method(u16, Method),
    Content(u16, Method, BasicProperties, Bytes),
    CloseChannel(u16, ReplyCode, String),
}

/// A publish received, not yet routed and confirmed (lost if the broker
/// restarts or the connection is cut first).
#[derive(Debug)]
struct Pending {
    at: Instant,
    channel: u16,
    seq: Option<u64>,
    mandatory: bool,
    msg: Msg,
}

#[derive(Debug)]
struct Unacked {
    queue: String,
    msg: Msg,
    consumer: Option<String>,
}

#[derive(Debug, Default)]
pub(super) struct Chan {
    /// In confirm mode: the next publish sequence number.
    confirm_seq: Option<u64>,
    prefetch: u16,
    next_tag: u64,
    unacked: BTreeMap<u64, Unacked>,
    /// Unacked deliveries per consumer tag.
    per_consumer: BTreeMap<String, usize>,
    /// Closing after an error: requests are ignored.
    closing: bool,
}

#[derive(Debug)]
pub(super) struct Conn {
    pub(super) link: Arc<Link>,
    pub(super) notify: Arc<Notify>,
    channels: BTreeMap<u16, Chan>,
    outbox: VecDeque<Out>,
    pending: VecDeque<Pending>,
}

#[derive(Debug)]
struct Consumer {
    conn: u64,
    channel: u16,
    tag: String,
    no_ack: bool,
    prefetch: u16,
}

#[derive(Debug, Default)]
pub(super) struct Queue {
    durable: bool,
    exclusive: Option<u64>,
    pub(super) ready: VecDeque<Msg>,
    consumers: Vec<Consumer>,
    next: usize,
}

#[derive(Debug)]
struct Exchange {
    kind: String,
    durable: bool,
    /// (queue, binding key), in the order bound.
    bindings: Vec<(String, String)>,
}

/// The whole broker.
#[derive(Debug)]
pub(super) struct Broker {
    pub(super) queues: BTreeMap<String, Queue>,
    exchanges: BTreeMap<String, Exchange>,
    pub(super) conns: BTreeMap<u64, Conn>,
    pub(super) next_conn: u64,
    next_msg: u64,
    next_name: u64,
    pub(super) rng: Rng,
    pub(super) confirm_delay: (Duration, Duration),
    pub(super) down_until: Option<Instant>,
    pub(super) started: Instant,
    pub(super) record: bool,
    pub(super) events: Vec<(Duration, BrokerEvent)>,
}

type Reply = Result<Option<Method>, (ReplyCode, String)>;

fn short(s: &str) -> ShortStr {
    ShortStr::try_from(s).unwrap_or_default()
}

fn not_found(what: &str, name: &str) -> (ReplyCode, String) {
    (
        ReplyCode::NOT_FOUND,
        format!("NOT_FOUND - no {what} '{name}'"),
    )
}

/// Topic matching: `*` is one word, `#` zero or more.
fn topic_matches(pattern: &[&str], key: &[&str]) -> bool {
    match (pattern.first(), key.first()) {
        (None, None) => true,
        (Some(&"#"), _) => {
            topic_matches(&pattern[1..], key)
                || (!key.is_empty() && topic_matches(pattern, &key[1..]))
        }
        (Some(&p), Some(&k)) if p == "*" || p == k => topic_matches(&pattern[1..], &key[1..]),
        _ => false,
    }
}

impl Broker {
    pub(super) fn new(seed: u64, confirm_delay: (Duration, Duration), record: bool) -> Self {
        let mut b = Broker {
            queues: BTreeMap::new(),
            exchanges: BTreeMap::new(),
            conns: BTreeMap::new(),
            next_conn: 1,
            next_msg: 1,
            next_name: 1,
            rng: Rng::new(seed ^ 0x5151_7e57),
            confirm_delay,
            down_until: None,
            started: Instant::now(),
            record,
            events: Vec::new(),
        };
        b.builtin_exchanges();
        b
    }

    fn builtin_exchanges(&mut self) {
        for (name, kind) in [
            ("amq.direct", "direct"),
            ("amq.fanout", "fanout"),
            ("amq.topic", "topic"),
        ] {
            self.exchanges.entry(name.to_owned()).or_insert(Exchange {
                kind: kind.to_owned(),
                durable: true,
                bindings: Vec::new(),
            });
        }
    }

    pub(super) fn log(&mut self, event: BrokerEvent) {
        if self.record {
            let at = Instant::now().saturating_duration_since(self.started);
            self.events.push((at, event));
        }
    }

    pub(super) fn add_conn(&mut self, link: Arc<Link>, notify: Arc<Notify>) -> u64 {
        let id = self.next_conn;
        self.next_conn += 1;
        self.conns.insert(
            id,
            Conn {
                link,
                notify,
                channels: BTreeMap::new(),
                outbox: VecDeque::new(),
                pending: VecDeque::new(),
            },
        );
        self.log(BrokerEvent::Connected { conn: id });
        id
    }

    fn push_out(&mut self, conn: u64, out: Out) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.outbox.push_back(out);
            c.notify.notify_one();
        }
    }

    /// The frames to write on `conn`; `None` once the connection is gone
    /// from the broker (cut, or the broker restarted).
    pub(super) fn take_outbox(&mut self, conn: u64) -> Option<VecDeque<Out>> {
        self.conns
            .get_mut(&conn)
            .map(|c| std::mem::take(&mut c.outbox))
    }

    /// When the connection's next publish is due to be confirmed.
    pub(super) fn next_commit(&self, conn: u64) -> Option<Instant> {
        self.conns
            .get(&conn)
            .and_then(|c| c.pending.front())
            .map(|p| p.at)
    }

    pub(super) fn open_channel(&mut self, conn: u64, channel: u16) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.channels.insert(channel, Chan::default());
        }
    }

    /// A channel closed (either side): its consumers go, its unacked
    /// deliveries go back to their queues, its publishes are routed.
    pub(super) fn close_channel(&mut self, conn: u64, channel: u16) {
        self.commit_all(conn, Some(channel));
        let Some(ch) = self
            .conns
            .get_mut(&conn)
            .and_then(|c| c.channels.remove(&channel))
        else {
            return;
        };
        self.drop_consumers(|c| c.conn == conn && c.channel == channel);
        self.requeue(ch.unacked.into_values().collect());
        self.dispatch();
    }

    /// Starts closing a channel after an error.
    fn channel_error(&mut self, conn: u64, channel: u16, code: ReplyCode, text: String) {
        self.log(BrokerEvent::ChannelError {
            conn,
            channel,
            code: code.0,
            text: text.clone(),
        });
        let Some(ch) = self
            .conns
            .get_mut(&conn)
            .and_then(|c| c.channels.get_mut(&channel))
        else {
            return;
        };
        if ch.closing {
            return;
        }
        ch.closing = true;
        let unacked = std::mem::take(&mut ch.unacked);
        ch.per_consumer.clear();
        self.drop_consumers(|c| c.conn == conn && c.channel == channel);
        self.requeue(unacked.into_values().collect());
        self.push_out(conn, Out::CloseChannel(channel, code, text));
        self.dispatch();
    }

    /// The connection is gone. `graceful`: closed by the client, so the
    /// publishes it sent are routed; otherwise (cut) they are lost.
    pub(super) fn conn_gone(&mut self, conn: u64, graceful: bool) {
        if graceful {
            self.commit_all(conn, None);
        }
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        for p in c.pending {
            self.log(BrokerEvent::Lost {
                msg: p.msg.id,
                body: p.msg.body,
            });
        }
        self.drop_consumers(|x| x.conn == conn);
        for ch in c.channels.into_values() {
            self.requeue(ch.unacked.into_values().collect());
        }
        let exclusive: Vec<String> = self
            .queues
            .iter()
            .filter(|(_, q)| q.exclusive == Some(conn))
            .map(|(n, _)| n.clone())
            .collect();
        for q in exclusive {
            self.delete_queue(&q);
        }
        self.log(BrokerEvent::Disconnected { conn, graceful });
        self.dispatch();
    }

    /// A restart: every connection is cut, unconfirmed publishes are lost,
    /// delivered messages go back to their (durable) queues, and what is
    /// not durable is gone.
    pub(super) fn restart(&mut self, down_for: Duration) {
        self.log(BrokerEvent::Restarted { down_for });
        let conns: Vec<u64> = self.conns.keys().copied().collect();
        for id in conns {
            if let Some(c) = self.conns.get(&id) {
                c.link.cut();
            }
            self.conn_gone(id, false);
        }
        self.queues
            .retain(|_, q| q.durable && q.exclusive.is_none());
        for q in self.queues.values_mut() {
            for m in &mut q.ready {
                m.redelivered = true;
            }
        }
        self.exchanges.retain(|_, x| x.durable);
        let names: Vec<String> = self.queues.keys().cloned().collect();
        for x in self.exchanges.values_mut() {
            x.bindings.retain(|(q, _)| names.contains(q));
        }
        self.down_until = Some(Instant::now() + down_for);
    }

    fn drop_consumers(&mut self, which: impl Fn(&Consumer) -> bool) {
        for q in self.queues.values_mut() {
            q.consumers.retain(|c| !which(c));
            q.next = 0;
        }
    }

    /// Puts deliveries back at the head of their queues, in tag order.
    fn requeue(&mut self, unacked: Vec<Unacked>) {
        for u in unacked.into_iter().rev() {
            self.log(BrokerEvent::Requeued { msg: u.msg.id });
            if let Some(q) = self.queues.get_mut(&u.queue) {
                let mut m = u.msg;
                m.redelivered = true;
                q.ready.push_front(m);
            }
        }
    }

    fn delete_queue(&mut self, name: &str) -> u32 {
        let Some(q) = self.queues.remove(name) else {
            return 0;
        };
        for x in self.exchanges.values_mut() {
            x.bindings.retain(|(b, _)| b != name);
        }
        for c in q.consumers {
            let cancel = basic::Cancel {
                consumer_tag: short(&c.tag),
                nowait: true,
            };
            self.push_out(c.conn, Out::Method(c.channel, cancel.into()));
        }
        u32::try_from(q.ready.len()).unwrap_or(u32::MAX)
    }

    /// The queues a publish goes to; `Err` if the exchange does not exist.
    fn route(&self, exchange: &str, key: &str) -> Result<Vec<String>, (ReplyCode, String)> {
        if exchange.is_empty() {
            return Ok(self
                .queues
                .contains_key(key)
                .then(|| vec![key.to_owned()])
                .unwrap_or_default());
        }
        let x = self
            .exchanges
            .get(exchange)
            .ok_or_else(|| not_found("exchange", exchange))?;
        let words: Vec<&str> = key.split('.').collect();
        let mut out: Vec<String> = Vec::new();
        for (q, b) in &x.bindings {
            let hit = match x.kind.as_str() {
                "fanout" => true,
                "topic" => topic_matches(&b.split('.').collect::<Vec<_>>(), &words),
                _ => b == key,
            };
            if hit && !out.contains(q) {
                out.push(q.clone());
            }
        }
        Ok(out)
    }

    /// A message the client published.
    pub(super) fn publish(&mut self, conn: u64, p: &amqp_proto::Published) {
        let now = Instant::now();
        let delay = {
            let (min, max) = self.confirm_delay;
            self.rng.between(min, max)
        };
        let id = self.next_msg;
        self.next_msg += 1;
        let msg = Msg {
            id,
            exchange: p.exchange(),
            routing_key: p.routing_key(),
            properties: p.properties(),
            body: p.body(),
            redelivered: false,
        };
        let exchange = msg.exchange.to_string_lossy().into_owned();
        if let Err((code, text)) = self.route(&exchange, "") {
            self.channel_error(conn, p.channel, code, text);
            return;
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let Some(ch) = c.channels.get_mut(&p.channel).filter(|ch| !ch.closing) else {
            return;
        };
        let seq = ch.confirm_seq.map(|s| {
            ch.confirm_seq = Some(s + 1);
            s
        });
        // Confirmed in order: never before the publish ahead of it.
        let at = c
            .pending
            .back()
            .map_or(now + delay, |last| last.at.max(now + delay));
        c.pending.push_back(Pending {
            at,
            channel: p.channel,
            seq,
            mandatory: p.mandatory,
            msg: msg.clone(),
        });
        self.log(BrokerEvent::Published {
            conn,
            channel: p.channel,
            seq,
            msg: id,
            body: msg.body,
        });
        if delay.is_zero() {
            self.commit_due(conn, now);
        }
    }

    /// Routes and confirms the connection's publishes that are due.
    pub(super) fn commit_due(&mut self, conn: u64, now: Instant) {
        loop {
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            if !c.pending.front().is_some_and(|p| p.at <= now) {
                break;
            }
            if let Some(p) = c.pending.pop_front() {
                self.commit(conn, p);
            }
        }
        self.dispatch();
    }

    /// Routes and confirms the publishes on one channel (or all).
    fn commit_all(&mut self, conn: u64, channel: Option<u16>) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let (now, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut c.pending)
            .into_iter()
            .partition(|p| channel.is_none_or(|ch| p.channel == ch));
        c.pending = keep.into();
        for p in now {
            self.commit(conn, p);
        }
    }

    fn commit(&mut self, conn: u64, p: Pending) {
        let exchange = p.msg.exchange.to_string_lossy().into_owned();
        let key = p.msg.routing_key.to_string_lossy().into_owned();
        let targets = self.route(&exchange, &key).unwrap_or_default();
        for q in &targets {
            if let Some(q) = self.queues.get_mut(q) {
                q.ready.push_back(p.msg.clone());
            }
        }
        let returned = targets.is_empty() && p.mandatory;
        if returned {
            let m = basic::Return {
                reply_code: ReplyCode::NO_ROUTE.0,
                reply_text: short("NO_ROUTE"),
                exchange: p.msg.exchange.clone(),
                routing_key: p.msg.routing_key.clone(),
            };
            let out = Out::Content(
                p.channel,
                m.into(),
                p.msg.properties.clone(),
                p.msg.body.clone(),
            );
            self.push_out(conn, out);
        }
        if let Some(seq) = p.seq {
            let ack = basic::Ack {
                delivery_tag: seq,
                multiple: false,
            };
            self.push_out(conn, Out::Method(p.channel, ack.into()));
        }
        self.log(BrokerEvent::Confirmed {
            conn,
            channel: p.channel,
            seq: p.seq,
            msg: p.msg.id,
            queues: targets.len(),
            returned,
        });
    }

    /// Hands ready messages to consumers with room, round robin.
    pub(super) fn dispatch(&mut self) {
        let names: Vec<String> = self
            .queues
            .iter()
            .filter(|(_, q)| !q.ready.is_empty() && !q.consumers.is_empty())
            .map(|(n, _)| n.clone())
            .collect();
        for name in names {
            while let Some((conn, channel, tag, no_ack)) = self.next_consumer(&name) {
                let Some(msg) = self.queues.get_mut(&name).and_then(|q| q.ready.pop_front()) else {
                    break;
                };
                self.deliver(conn, channel, Some(tag), no_ack, &name, msg, None);
            }
        }
    }

    /// The next consumer of the queue with room for a delivery.
    fn next_consumer(&mut self, queue: &str) -> Option<(u64, u16, String, bool)> {
        let q = self.queues.get(queue)?;
        let n = q.consumers.len();
        for i in 0..n {
            let at = (q.next + i) % n;
            let c = q.consumers.get(at)?;
            let held = self
                .conns
                .get(&c.conn)
                .and_then(|x| x.channels.get(&c.channel))
                .map_or(0, |ch| ch.per_consumer.get(&c.tag).copied().unwrap_or(0));
            if c.no_ack || c.prefetch == 0 || held < usize::from(c.prefetch) {
                let found = (c.conn, c.channel, c.tag.clone(), c.no_ack);
                if let Some(q) = self.queues.get_mut(queue) {
                    q.next = (at + 1) % n;
                }
                return Some(found);
            }
        }
        None
    }

    /// Sends a delivery (or a basic.get-ok, with `get` the count left).
    #[allow(clippy::too_many_arguments)]
    fn deliver(
        &mut self,
        conn: u64,
        channel: u16,
        consumer: Option<String>,
        no_ack: bool,
        queue: &str,
        msg: Msg,
        get: Option<u32>,
    ) {
        let Some(ch) = self
            .conns
            .get_mut(&conn)
            .and_then(|c| c.channels.get_mut(&channel))
        else {
            return;
        };
        ch.next_tag += 1;
        let tag = ch.next_tag;
        if !no_ack {
            if let Some(t) = &consumer {
                *ch.per_consumer.entry(t.clone()).or_default() += 1;
            }
            ch.unacked.insert(
                tag,
                Unacked {
                    queue: queue.to_owned(),
                    msg: msg.clone(),
                    consumer: consumer.clone(),
                },
            );
        }
        let method: Method = match get {
            Some(message_count) => basic::GetOk {
                delivery_tag: tag,
                redelivered: msg.redelivered,
                exchange: msg.exchange.clone(),
                routing_key: msg.routing_key.clone(),
                message_count,
            }
            .into(),
            None => basic::Deliver {
                consumer_tag: short(consumer.as_deref().unwrap_or_default()),
                delivery_tag: tag,
                redelivered: msg.redelivered,
                exchange: msg.exchange.clone(),
                routing_key: msg.routing_key.clone(),
            }
            .into(),
        };
        self.log(BrokerEvent::Delivered {
            conn,
            channel,
            tag,
            msg: msg.id,
            body: msg.body.clone(),
            redelivered: msg.redelivered,
        });
        self.push_out(
            conn,
            Out::Content(channel, method, msg.properties, msg.body),
        );
    }

    /// basic.ack, basic.nack and basic.reject.
    fn settle(&mut self, conn: u64, channel: u16, tag: u64, multiple: bool, requeue: Option<bool>) {
        let Some(ch) = self
            .conns
            .get_mut(&conn)
            .and_then(|c| c.channels.get_mut(&channel))
        else {
            return;
        };
        let tags: Vec<u64> = if multiple {
            ch.unacked
                .range(..=if tag == 0 { u64::MAX } else { tag })
                .map(|(t, _)| *t)
                .collect()
        } else {
            ch.unacked
                .contains_key(&tag)
                .then_some(tag)
                .into_iter()
                .collect()
        };
        if tags.is_empty() && !(multiple && tag == 0) {
            self.log(BrokerEvent::UnknownTag { conn, channel, tag });
            let text = format!("PRECONDITION_FAILED - unknown delivery tag {tag}");
            self.channel_error(conn, channel, ReplyCode::PRECONDITION_FAILED, text);
            return;
        }
        let mut back = Vec::new();
        for t in tags {
            let Some(u) = ch.unacked.remove(&t) else {
                continue;
            };
            if let Some(c) = &u.consumer {
                if let Some(n) = ch.per_consumer.get_mut(c) {
                    *n = n.saturating_sub(1);
                }
            }
            let event = match requeue {
                None => BrokerEvent::Acked {
                    conn,
                    channel,
                    tag: t,
                    msg: u.msg.id,
                    body: u.msg.body.clone(),
                },
                Some(requeue) => BrokerEvent::Rejected {
                    conn,
                    channel,
                    tag: t,
                    msg: u.msg.id,
                    requeue,
                },
            };
            if self.record {
                let at = Instant::now().saturating_duration_since(self.started);
                self.events.push((at, event));
            }
            if requeue == Some(true) {
                back.push(u);
            }
        }
        self.requeue(back);
        self.dispatch();
    }

    /// A method from the client on an open channel.
    pub(super) fn request(&mut self, conn: u64, channel: u16, method: Method) {
        let closing = self
            .conns
            .get(&conn)
            .and_then(|c| c.channels.get(&channel))
            .is_none_or(|ch| ch.closing);
        if closing {
            return;
        }
        match self.answer(conn, channel, method) {
            Ok(Some(reply)) => self.push_out(conn, Out::Method(channel, reply)),
            Ok(None) => {}
            Err((code, text)) => self.channel_error(conn, channel, code, text),
        }
        self.dispatch();
    }

    fn answer(&mut self, conn: u64, channel: u16, method: Method) -> Reply {
        use amqp_proto::method::{confirm, exchange, queue};
        match method {
            Method::QueueDeclare(d) => self.queue_declare(conn, d),
            Method::QueueBind(b) => {
                let (q, x) = (b.queue.to_string_lossy(), b.exchange.to_string_lossy());
                if !self.queues.contains_key(q.as_ref()) {
                    return Err(not_found("queue", &q));
                }
                if x.is_empty() {
                    return Err((
                        ReplyCode::ACCESS_REFUSED,
                        "ACCESS_REFUSED - the default exchange takes no bindings".into(),
                    ));
                }
                let ex = self
                    .exchanges
                    .get_mut(x.as_ref())
                    .ok_or_else(|| not_found("exchange", &x))?;
                let binding = (q.into_owned(), b.routing_key.to_string_lossy().into_owned());
                if !ex.bindings.contains(&binding) {
                    ex.bindings.push(binding);
                }
                Ok((!b.nowait).then(|| queue::BindOk {}.into()))
            }
            Method::QueueUnbind(u) => {
                let q = u.queue.to_string_lossy().into_owned();
                let key = u.routing_key.to_string_lossy().into_owned();
                if let Some(ex) = self
                    .exchanges
                    .get_mut(u.exchange.to_string_lossy().as_ref())
                {
                    ex.bindings.retain(|b| b != &(q.clone(), key.clone()));
                }
                Ok(Some(queue::UnbindOk {}.into()))
            }
            Method::QueuePurge(p) => {
                let name = p.queue.to_string_lossy();
                let q = self
                    .queues
                    .get_mut(name.as_ref())
                    .ok_or_else(|| not_found("queue", &name))?;
                let n = u32::try_from(q.ready.len()).unwrap_or(u32::MAX);
                q.ready.clear();
                Ok((!p.nowait).then(|| queue::PurgeOk { message_count: n }.into()))
            }
            Method::QueueDelete(d) => {
                let n = self.delete_queue(d.queue.to_string_lossy().as_ref());
                Ok((!d.nowait).then(|| queue::DeleteOk { message_count: n }.into()))
            }
            Method::ExchangeDeclare(d) => {
                let name = d.exchange.to_string_lossy().into_owned();
                let kind = d.kind.to_string_lossy().into_owned();
                match self.exchanges.get(&name) {
                    Some(x) if x.kind != kind && !d.passive => {
                        return Err((
                            ReplyCode::PRECONDITION_FAILED,
                            format!(
                                "PRECONDITION_FAILED - exchange '{name}' is of type {}",
                                x.kind
                            ),
                        ));
                    }
                    Some(_) => {}
                    None if d.passive => return Err(not_found("exchange", &name)),
                    None if !matches!(kind.as_str(), "direct" | "fanout" | "topic") => {
                        return Err((
                            ReplyCode::COMMAND_INVALID,
                            format!("COMMAND_INVALID - the test broker has no '{kind}' exchanges"),
                        ));
                    }
                    None => {
                        self.exchanges.insert(
                            name,
                            Exchange {
                                kind,
                                durable: d.durable,
                                bindings: Vec::new(),
                            },
                        );
                    }
                }
                Ok((!d.nowait).then(|| exchange::DeclareOk {}.into()))
            }
            Method::ExchangeDelete(d) => {
                self.exchanges.remove(d.exchange.to_string_lossy().as_ref());
                Ok((!d.nowait).then(|| exchange::DeleteOk {}.into()))
            }
            Method::BasicQos(q) => {
                if let Some(ch) = self.chan(conn, channel) {
                    ch.prefetch = q.prefetch_count;
                }
                Ok(Some(basic::QosOk {}.into()))
            }
            Method::BasicConsume(c) => self.consume(conn, channel, c),
            Method::BasicCancel(c) => {
                let tag = c.consumer_tag.to_string_lossy().into_owned();
                self.drop_consumers(|x| x.conn == conn && x.channel == channel && x.tag == tag);
                Ok((!c.nowait).then(|| {
                    basic::CancelOk {
                        consumer_tag: c.consumer_tag,
                    }
                    .into()
                }))
            }
            Method::BasicGet(g) => {
                let name = g.queue.to_string_lossy().into_owned();
                let q = self
                    .queues
                    .get_mut(&name)
                    .ok_or_else(|| not_found("queue", &name))?;
                let Some(msg) = q.ready.pop_front() else {
                    return Ok(Some(
                        basic::GetEmpty {
                            cluster_id: ShortStr::default(),
                        }
                        .into(),
                    ));
                };
                let left = u32::try_from(q.ready.len()).unwrap_or(u32::MAX);
                self.deliver(conn, channel, None, g.no_ack, &name, msg, Some(left));
                Ok(None)
            }
            Method::BasicAck(a) => {
                self.settle(conn, channel, a.delivery_tag, a.multiple, None);
                Ok(None)
            }
            Method::BasicNack(n) => {
                self.settle(conn, channel, n.delivery_tag, n.multiple, Some(n.requeue));
                Ok(None)
            }
            Method::BasicReject(r) => {
                self.settle(conn, channel, r.delivery_tag, false, Some(r.requeue));
                Ok(None)
            }
            Method::BasicRecover(r) => {
                let unacked = self.chan(conn, channel).map(|ch| {
                    ch.per_consumer.clear();
                    std::mem::take(&mut ch.unacked)
                });
                if r.requeue {
                    self.requeue(unacked.unwrap_or_default().into_values().collect());
                }
                Ok(Some(basic::RecoverOk {}.into()))
            }
            Method::ConfirmSelect(s) => {
                if let Some(ch) = self.chan(conn, channel) {
                    ch.confirm_seq.get_or_insert(1);
                }
                Ok((!s.nowait).then(|| confirm::SelectOk {}.into()))
            }
            m => Err((
                ReplyCode::NOT_IMPLEMENTED,
                format!("NOT_IMPLEMENTED - the test broker does not do {}", m.name()),
            )),
        }
    }

    fn chan(&mut self, conn: u64, channel: u16) -> Option<&mut Chan> {
        self.conns.get_mut(&conn)?.channels.get_mut(&channel)
    }

    fn queue_declare(&mut self, conn: u64, d: amqp_proto::method::queue::Declare) -> Reply {
        let mut name = d.queue.to_string_lossy().into_owned();
        if name.is_empty() {
            name = format!("amq.gen-{}", self.next_name);
            self.next_name += 1;
        }
        match self.queues.get(&name) {
            Some(q) if q.exclusive.is_some_and(|owner| owner != conn) => {
                return Err((
                    ReplyCode::RESOURCE_LOCKED,
                    format!("RESOURCE_LOCKED - queue '{name}' is exclusive to another connection"),
                ));
            }
            Some(_) => {}
            None if d.passive => return Err(not_found("queue", &name)),
            None => {
                let q = Queue {
                    durable: d.durable,
                    exclusive: d.exclusive.then_some(conn),
                    ..Queue::default()
                };
                self.queues.insert(name.clone(), q);
            }
        }
        let q = self
            .queues
            .get(&name)
            .ok_or_else(|| not_found("queue", &name))?;
        let ok = amqp_proto::method::queue::DeclareOk {
            queue: short(&name),
            message_count: u32::try_from(q.ready.len()).unwrap_or(u32::MAX),
            consumer_count: u32::try_from(q.consumers.len()).unwrap_or(u32::MAX),
        };
        Ok((!d.nowait).then(|| ok.into()))
    }

    fn consume(&mut self, conn: u64, channel: u16, c: basic::Consume) -> Reply {
        let name = c.queue.to_string_lossy().into_owned();
        let mut tag = c.consumer_tag.to_string_lossy().into_owned();
        if tag.is_empty() {
            tag = format!("amq.ctag-{}", self.next_name);
            self.next_name += 1;
        }
        let prefetch = self.chan(conn, channel).map_or(0, |ch| ch.prefetch);
        let q = self
            .queues
            .get_mut(&name)
            .ok_or_else(|| not_found("queue", &name))?;
        if q.consumers
            .iter()
            .any(|x| x.conn == conn && x.channel == channel && x.tag == tag)
        {
            return Err((
                ReplyCode::NOT_ALLOWED,
                format!("NOT_ALLOWED - consumer tag '{tag}' is in use"),
            ));
        }
        q.consumers.push(Consumer {
            conn,
            channel,
            tag: tag.clone(),
            no_ack: c.no_ack,
            prefetch,
        });
        Ok((!c.nowait).then(|| {
            basic::ConsumeOk {
                consumer_tag: short(&tag),
            }
            .into()
        }))
    }

    /// Deliveries not yet acked, over every connection.
    pub(super) fn unacked(&self) -> usize {
        self.conns
            .values()
            .flat_map(|c| c.channels.values())
            .map(|ch| ch.unacked.len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::topic_matches;

    #[test]
    fn topic_patterns() {
        let m = |p: &str, k: &str| {
            topic_matches(
                &p.split('.').collect::<Vec<_>>(),
                &k.split('.').collect::<Vec<_>>(),
            )
        };
        assert!(m("order.*", "order.created"));
        assert!(!m("order.*", "order.created.eu"));
        assert!(m("order.#", "order.created.eu"));
        assert!(m("#", "anything.at.all"));
        assert!(m("#.eu", "order.created.eu"));
        assert!(!m("order.paid", "order.created"));
    }
}
