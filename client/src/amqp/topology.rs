//! Topology recording: what the application declared, kept so recovery
//! can declare it again.
//!
//! Records are made when the server confirms a declare or bind (passive
//! declares record nothing) and removed by the matching delete or unbind.
//! A server-named queue is recorded with an empty requested name: recovery
//! declares it with an empty name again and renames it everywhere.

use std::collections::HashMap;

use amqp_proto::method::{exchange, queue};
use amqp_proto::{FieldValue, Method, ShortStr};

/// A recorded queue.
#[derive(Debug, Clone)]
pub(crate) struct QueueRecord {
    /// The name now (the server's choice for a server-named queue).
    pub(crate) name: ShortStr,
    /// The declare as sent; `queue` is empty for a server-named queue.
    pub(crate) declare: queue::Declare,
}

impl QueueRecord {
    pub(crate) fn server_named(&self) -> bool {
        self.declare.queue.is_empty()
    }
}

/// A recorded binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Binding {
    Queue(queue::Bind),
    Exchange(exchange::Bind),
}

impl Binding {
    fn source(&self) -> &ShortStr {
        match self {
            Binding::Queue(b) => &b.exchange,
            Binding::Exchange(b) => &b.source,
        }
    }
    pub(crate) fn method(&self) -> Method {
        match self {
            Binding::Queue(b) => b.clone().into(),
            Binding::Exchange(b) => b.clone().into(),
        }
    }
    pub(crate) fn describe(&self) -> String {
        match self {
            Binding::Queue(b) => format!(
                "binding of queue {} to exchange {} ({})",
                b.queue, b.exchange, b.routing_key
            ),
            Binding::Exchange(b) => format!(
                "binding of exchange {} to exchange {} ({})",
                b.destination, b.source, b.routing_key
            ),
        }
    }
}

/// Everything recorded on one connection, in declaration order.
#[derive(Debug, Default)]
pub(crate) struct Topology {
    pub(crate) exchanges: Vec<exchange::Declare>,
    pub(crate) queues: Vec<QueueRecord>,
    pub(crate) bindings: Vec<Binding>,
    /// Old server-chosen queue names and the names they have now.
    renames: HashMap<ShortStr, ShortStr>,
}

impl Topology {
    /// Whether the queue now named `name` was declared here as a stream
    /// (`x-queue-type=stream`).
    pub(crate) fn is_stream(&self, name: &ShortStr) -> bool {
        self.queues.iter().any(|q| {
            q.name == *name
                && matches!(q.declare.arguments.get("x-queue-type"),
                    Some(FieldValue::LongStr(t)) if t.as_bytes() == b"stream")
        })
    }

    /// Records what a confirmed request changed. `reply` is the server's
    /// answer (for the name of a server-named queue).
    pub(crate) fn on_reply(&mut self, request: &Method, reply: &Method) {
        match (request, reply) {
            (Method::ExchangeDeclare(d), _) if !d.passive => {
                let mut d = d.clone();
                d.nowait = false;
                match self.exchanges.iter_mut().find(|e| e.exchange == d.exchange) {
                    Some(e) => *e = d,
                    None => self.exchanges.push(d),
                }
            }
            (Method::ExchangeDelete(d), _) => {
                self.exchanges.retain(|e| e.exchange != d.exchange);
                self.bindings.retain(|b| {
                    b.source() != &d.exchange
                        && !matches!(b, Binding::Exchange(x) if x.destination == d.exchange)
                });
            }
            (Method::QueueDeclare(d), Method::QueueDeclareOk(ok)) if !d.passive => {
                let mut d = d.clone();
                d.nowait = false;
                let record = QueueRecord {
                    name: ok.queue.clone(),
                    declare: d,
                };
                match self.queues.iter_mut().find(|q| q.name == ok.queue) {
                    Some(q) => *q = record,
                    None => self.queues.push(record),
                }
            }
            (Method::QueueDelete(d), _) => {
                self.queues.retain(|q| q.name != d.queue);
                self.bindings
                    .retain(|b| !matches!(b, Binding::Queue(q) if q.queue == d.queue));
            }
            (Method::QueueBind(b), _) => {
                let mut b = b.clone();
                b.nowait = false;
                let b = Binding::Queue(b);
                if !self.bindings.contains(&b) {
                    self.bindings.push(b);
                }
            }
            (Method::QueueUnbind(u), _) => self.bindings.retain(|b| {
                !matches!(b, Binding::Queue(q) if q.queue == u.queue
                    && q.exchange == u.exchange
                    && q.routing_key == u.routing_key
                    && q.arguments == u.arguments)
            }),
            (Method::ExchangeBind(b), _) => {
                let mut b = b.clone();
                b.nowait = false;
                let b = Binding::Exchange(b);
                if !self.bindings.contains(&b) {
                    self.bindings.push(b);
                }
            }
            (Method::ExchangeUnbind(u), _) => self.bindings.retain(|b| {
                !matches!(b, Binding::Exchange(x) if x.destination == u.destination
                    && x.source == u.source
                    && x.routing_key == u.routing_key
                    && x.arguments == u.arguments)
            }),
            _ => {}
        }
    }

    /// A queue was re-declared under a new name: bindings follow, and the
    /// old name maps to the new one.
    pub(crate) fn rename_queue(&mut self, old: &ShortStr, new: &ShortStr) {
        for q in &mut self.queues {
            if &q.name == old {
                q.name = new.clone();
            }
        }
        for b in &mut self.bindings {
            if let Binding::Queue(q) = b {
                if &q.queue == old {
                    q.queue = new.clone();
                }
            }
        }
        for v in self.renames.values_mut() {
            if v == old {
                *v = new.clone();
            }
        }
        self.renames.insert(old.clone(), new.clone());
    }

    /// The current name for a queue name the application may still hold.
    pub(crate) fn current_name<'a>(&'a self, name: &'a ShortStr) -> &'a ShortStr {
        if self.renames.is_empty() {
            return name;
        }
        self.renames.get(name).unwrap_or(name)
    }

    /// Replaces queue names in a request by their current names.
    pub(crate) fn translate(&self, m: &mut Method) {
        if self.renames.is_empty() {
            return;
        }
        let q = match m {
            Method::QueueBind(b) => &mut b.queue,
            Method::QueueUnbind(b) => &mut b.queue,
            Method::QueuePurge(b) => &mut b.queue,
            Method::QueueDelete(b) => &mut b.queue,
            Method::QueueDeclare(b) if b.passive => &mut b.queue,
            Method::BasicGet(b) => &mut b.queue,
            Method::BasicConsume(b) => &mut b.queue,
            _ => return,
        };
        if let Some(new) = self.renames.get(q) {
            *q = new.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amqp_proto::FieldTable;

    fn s(v: &str) -> ShortStr {
        ShortStr::try_from(v).unwrap()
    }

    #[test]
    fn records_follow_declares_deletes_and_renames() {
        let mut t = Topology::default();
        let declare = queue::Declare {
            exclusive: true,
            ..Default::default()
        };
        let ok = queue::DeclareOk {
            queue: s("amq.gen-1"),
            ..Default::default()
        };
        t.on_reply(&declare.clone().into(), &ok.into());
        let bind = queue::Bind {
            queue: s("amq.gen-1"),
            exchange: s("x"),
            routing_key: s("k"),
            arguments: FieldTable::new(),
            ..Default::default()
        };
        t.on_reply(&bind.clone().into(), &queue::BindOk {}.into());
        t.on_reply(&bind.clone().into(), &queue::BindOk {}.into());
        assert_eq!(t.queues.len(), 1);
        assert!(t.queues[0].server_named());
        assert_eq!(t.bindings.len(), 1, "a repeated bind is one binding");

        t.rename_queue(&s("amq.gen-1"), &s("amq.gen-2"));
        t.rename_queue(&s("amq.gen-2"), &s("amq.gen-3"));
        assert_eq!(t.current_name(&s("amq.gen-1")), "amq.gen-3");
        let mut m: Method = queue::Purge {
            queue: s("amq.gen-1"),
            ..Default::default()
        }
        .into();
        t.translate(&mut m);
        assert!(matches!(m, Method::QueuePurge(p) if p.queue == "amq.gen-3"));
        assert!(matches!(&t.bindings[0], Binding::Queue(b) if b.queue == "amq.gen-3"));

        let delete = queue::Delete {
            queue: s("amq.gen-3"),
            ..Default::default()
        };
        t.on_reply(&delete.into(), &queue::DeleteOk::default().into());
        assert!(t.queues.is_empty() && t.bindings.is_empty());

        let passive = queue::Declare {
            queue: s("q"),
            passive: true,
            ..Default::default()
        };
        t.on_reply(
            &passive.into(),
            &queue::DeclareOk {
                queue: s("q"),
                ..Default::default()
            }
            .into(),
        );
        assert!(t.queues.is_empty(), "passive declares are not recorded");
    }

    #[test]
    fn exchange_delete_drops_its_bindings() {
        let mut t = Topology::default();
        let x = exchange::Declare {
            exchange: s("a"),
            kind: s("topic"),
            ..Default::default()
        };
        t.on_reply(&x.into(), &exchange::DeclareOk {}.into());
        let eb = exchange::Bind {
            destination: s("b"),
            source: s("a"),
            routing_key: s("#"),
            ..Default::default()
        };
        t.on_reply(&eb.clone().into(), &exchange::BindOk {}.into());
        assert_eq!(t.bindings.len(), 1);
        let del = exchange::Delete {
            exchange: s("a"),
            ..Default::default()
        };
        t.on_reply(&del.into(), &exchange::DeleteOk {}.into());
        assert!(t.exchanges.is_empty() && t.bindings.is_empty());
    }
}
