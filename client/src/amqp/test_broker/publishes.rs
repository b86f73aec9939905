//! The test broker's publish path: a publish waits its confirm delay
//! (lost if the connection is cut or the broker restarts first), then is
//! routed, returned if mandatory and unroutable, and acked in confirm mode.

use amqp_proto::ReplyCode;
use amqp_proto::method::basic;
use tokio::time::Instant;

use super::BrokerEvent;
use super::exchanges::Refusal;
use super::state::{Broker, Msg, Out, short};

/// A publish received, not yet routed and confirmed (lost if the broker
/// restarts or the connection is cut first).
#[derive(Debug)]
pub(super) struct Pending {
    pub(super) at: Instant,
    channel: u16,
    seq: Option<u64>,
    mandatory: bool,
    pub(super) msg: Msg,
}

impl Broker {
    /// The queues a publish goes to; `Err` if the exchange does not exist.
    fn route(&self, exchange: &str, key: &str) -> Result<Vec<String>, Refusal> {
        let queues = &self.queues;
        self.exchanges
            .route(exchange, key, |q| queues.contains_key(q))
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
        let seq = ch.confirm_seq;
        if let Some(n) = seq {
            ch.confirm_seq = Some(n + 1);
        }
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
            if c.pending.front().is_none_or(|p| p.at > now) {
                break;
            }
            if let Some(p) = c.pending.pop_front() {
                self.commit(conn, p);
            }
        }
        self.dispatch();
    }

    /// Routes and confirms the publishes on one channel (or all).
    pub(super) fn commit_all(&mut self, conn: u64, channel: Option<u16>) {
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
            let head = Box::new((m.into(), p.msg.properties.clone()));
            let out = Out::Content(p.channel, head, p.msg.body.clone());
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
}
