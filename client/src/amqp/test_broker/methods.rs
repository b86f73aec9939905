//! The test broker's answers to the methods a client sends on a channel:
//! queues, exchanges and bindings, QoS, consumers, basic.get, acks, and
//! confirm mode.

use amqp_proto::method::basic;
use amqp_proto::{Method, ReplyCode, ShortStr};

use super::exchanges::{Refusal, not_found};
use super::state::{Broker, Chan, Consumer, Out, Queue, short};

/// A reply to send (none for nowait or asynchronous methods), or the
/// channel error to close with.
type Reply = Result<Option<Method>, Refusal>;

impl Broker {
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
                let q = b.queue.to_string_lossy();
                if !self.queues.contains_key(q.as_ref()) {
                    return Err(not_found("queue", &q));
                }
                self.exchanges.bind(&b)?;
                Ok((!b.nowait).then(|| queue::BindOk {}.into()))
            }
            Method::QueueUnbind(u) => {
                self.exchanges.unbind(&u);
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
                self.exchanges.declare(&d)?;
                Ok((!d.nowait).then(|| exchange::DeclareOk {}.into()))
            }
            Method::ExchangeDelete(d) => {
                self.exchanges.delete(d.exchange.to_string_lossy().as_ref());
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
}
