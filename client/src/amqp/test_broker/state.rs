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
use super::exchanges::Exchanges;
use super::publishes::Pending;
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
    Content(u16, Box<(Method, BasicProperties)>, Bytes),
    CloseChannel(u16, ReplyCode, String),
}

#[derive(Debug)]
pub(super) struct Unacked {
    pub(super) queue: String,
    pub(super) msg: Msg,
    pub(super) consumer: Option<String>,
}

#[derive(Debug, Default)]
pub(super) struct Chan {
    /// In confirm mode: the next publish sequence number.
    pub(super) confirm_seq: Option<u64>,
    pub(super) prefetch: u16,
    pub(super) next_tag: u64,
    pub(super) unacked: BTreeMap<u64, Unacked>,
    /// Unacked deliveries per consumer tag.
    pub(super) per_consumer: BTreeMap<String, usize>,
    /// Closing after an error: requests are ignored.
    pub(super) closing: bool,
}

#[derive(Debug)]
pub(super) struct Conn {
    pub(super) link: Arc<Link>,
    pub(super) notify: Arc<Notify>,
    pub(super) channels: BTreeMap<u16, Chan>,
    outbox: VecDeque<Out>,
    pub(super) pending: VecDeque<Pending>,
}

#[derive(Debug)]
pub(super) struct Consumer {
    pub(super) conn: u64,
    pub(super) channel: u16,
    pub(super) tag: String,
    pub(super) no_ack: bool,
    pub(super) prefetch: u16,
}

#[derive(Debug, Default)]
pub(super) struct Queue {
    pub(super) durable: bool,
    pub(super) exclusive: Option<u64>,
    pub(super) ready: VecDeque<Msg>,
    pub(super) consumers: Vec<Consumer>,
    pub(super) next: usize,
}

/// The whole broker.
#[derive(Debug)]
pub(super) struct Broker {
    pub(super) queues: BTreeMap<String, Queue>,
    pub(super) exchanges: Exchanges,
    pub(super) conns: BTreeMap<u64, Conn>,
    pub(super) next_conn: u64,
    pub(super) next_msg: u64,
    pub(super) next_name: u64,
    pub(super) rng: Rng,
    pub(super) confirm_delay: (Duration, Duration),
    pub(super) down_until: Option<Instant>,
    pub(super) started: Instant,
    pub(super) record: bool,
    pub(super) events: Vec<(Duration, BrokerEvent)>,
}

pub(super) fn short(s: &str) -> ShortStr {
    ShortStr::try_from(s).unwrap_or_default()
}

impl Broker {
    pub(super) fn new(seed: u64, confirm_delay: (Duration, Duration), record: bool) -> Self {
        Broker {
            queues: BTreeMap::new(),
            exchanges: Exchanges::new(),
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

    pub(super) fn push_out(&mut self, conn: u64, out: Out) {
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
    pub(super) fn channel_error(&mut self, conn: u64, channel: u16, code: ReplyCode, text: String) {
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
        let queues = &self.queues;
        self.exchanges.restart(|q| queues.contains_key(q));
        self.down_until = Some(Instant::now() + down_for);
    }

    pub(super) fn drop_consumers(&mut self, which: impl Fn(&Consumer) -> bool) {
        for q in self.queues.values_mut() {
            q.consumers.retain(|c| !which(c));
            q.next = 0;
        }
    }

    /// Puts deliveries back at the head of their queues, in tag order.
    pub(super) fn requeue(&mut self, unacked: Vec<Unacked>) {
        for u in unacked.into_iter().rev() {
            self.log(BrokerEvent::Requeued { msg: u.msg.id });
            if let Some(q) = self.queues.get_mut(&u.queue) {
                let mut m = u.msg;
                m.redelivered = true;
                q.ready.push_front(m);
            }
        }
    }

    pub(super) fn delete_queue(&mut self, name: &str) -> u32 {
        let Some(q) = self.queues.remove(name) else {
            return 0;
        };
        self.exchanges.unbind_queue(name);
        for c in q.consumers {
            let cancel = basic::Cancel {
                consumer_tag: short(&c.tag),
                nowait: true,
            };
            self.push_out(c.conn, Out::Method(c.channel, cancel.into()));
        }
        u32::try_from(q.ready.len()).unwrap_or(u32::MAX)
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
    pub(super) fn deliver(
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
            Out::Content(channel, Box::new((method, msg.properties)), msg.body),
        );
    }

    /// basic.ack, basic.nack and basic.reject.
    pub(super) fn settle(
        &mut self,
        conn: u64,
        channel: u16,
        tag: u64,
        multiple: bool,
        requeue: Option<bool>,
    ) {
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

    /// Deliveries not yet acked, over every connection.
    pub(super) fn unacked(&self) -> usize {
        self.conns
            .values()
            .flat_map(|c| c.channels.values())
            .map(|ch| ch.unacked.len())
            .sum()
    }
}
