//! The test broker's exchanges: the built-in ones and those declared,
//! with their bindings, and routing (direct, fanout and topic).

use std::collections::BTreeMap;

use amqp_proto::ReplyCode;
use amqp_proto::method::{exchange, queue};

/// A failed request: the reply code and text of the channel close.
pub(super) type Refusal = (ReplyCode, String);

pub(super) fn not_found(what: &str, name: &str) -> Refusal {
    (
        ReplyCode::NOT_FOUND,
        format!("NOT_FOUND - no {what} '{name}'"),
    )
}

#[derive(Debug)]
struct Exchange {
    kind: String,
    durable: bool,
    /// (queue, binding key), in the order bound.
    bindings: Vec<(String, String)>,
}

/// Every exchange but the default one, which routes to the queue named
/// by the routing key and takes no bindings.
#[derive(Debug)]
pub(super) struct Exchanges {
    map: BTreeMap<String, Exchange>,
}

impl Exchanges {
    /// The built-in `amq.direct`, `amq.fanout` and `amq.topic`.
    pub(super) fn new() -> Self {
        let mut map = BTreeMap::new();
        for (name, kind) in [
            ("amq.direct", "direct"),
            ("amq.fanout", "fanout"),
            ("amq.topic", "topic"),
        ] {
            let x = Exchange {
                kind: kind.to_owned(),
                durable: true,
                bindings: Vec::new(),
            };
            map.insert(name.to_owned(), x);
        }
        Exchanges { map }
    }

    pub(super) fn declare(&mut self, d: &exchange::Declare) -> Result<(), Refusal> {
        let name = d.exchange.to_string_lossy().into_owned();
        let kind = d.kind.to_string_lossy().into_owned();
        match self.map.get(&name) {
            Some(x) if x.kind != kind && !d.passive => Err((
                ReplyCode::PRECONDITION_FAILED,
                format!(
                    "PRECONDITION_FAILED - exchange '{name}' is of type {}",
                    x.kind
                ),
            )),
            Some(_) => Ok(()),
            None if d.passive => Err(not_found("exchange", &name)),
            None if !matches!(kind.as_str(), "direct" | "fanout" | "topic") => Err((
                ReplyCode::COMMAND_INVALID,
                format!("COMMAND_INVALID - the test broker has no '{kind}' exchanges"),
            )),
            None => {
                let x = Exchange {
                    kind,
                    durable: d.durable,
                    bindings: Vec::new(),
                };
                self.map.insert(name, x);
                Ok(())
            }
        }
    }

    pub(super) fn delete(&mut self, name: &str) {
        self.map.remove(name);
    }

    /// queue.bind, the queue known to exist.
    pub(super) fn bind(&mut self, b: &queue::Bind) -> Result<(), Refusal> {
        let x = b.exchange.to_string_lossy();
        if x.is_empty() {
            return Err((
                ReplyCode::ACCESS_REFUSED,
                "ACCESS_REFUSED - the default exchange takes no bindings".into(),
            ));
        }
        let ex = self
            .map
            .get_mut(x.as_ref())
            .ok_or_else(|| not_found("exchange", &x))?;
        let binding = (
            b.queue.to_string_lossy().into_owned(),
            b.routing_key.to_string_lossy().into_owned(),
        );
        if !ex.bindings.contains(&binding) {
            ex.bindings.push(binding);
        }
        Ok(())
    }

    pub(super) fn unbind(&mut self, u: &queue::Unbind) {
        let binding = (
            u.queue.to_string_lossy().into_owned(),
            u.routing_key.to_string_lossy().into_owned(),
        );
        if let Some(ex) = self.map.get_mut(u.exchange.to_string_lossy().as_ref()) {
            ex.bindings.retain(|b| b != &binding);
        }
    }

    /// Forgets a deleted queue's bindings.
    pub(super) fn unbind_queue(&mut self, queue: &str) {
        for x in self.map.values_mut() {
            x.bindings.retain(|(q, _)| q != queue);
        }
    }

    /// After a restart: durable exchanges, bound to surviving queues.
    pub(super) fn restart(&mut self, queue_exists: impl Fn(&str) -> bool) {
        self.map.retain(|_, x| x.durable);
        for x in self.map.values_mut() {
            x.bindings.retain(|(q, _)| queue_exists(q));
        }
    }

    /// The queues a publish goes to; `Err` if the exchange does not exist.
    pub(super) fn route(
        &self,
        exchange: &str,
        key: &str,
        queue_exists: impl Fn(&str) -> bool,
    ) -> Result<Vec<String>, Refusal> {
        if exchange.is_empty() {
            return Ok(if queue_exists(key) {
                vec![key.to_owned()]
            } else {
                Vec::new()
            });
        }
        let x = self
            .map
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn routing_by_kind() {
        let mut x = Exchanges::new();
        let bind = |x: &mut Exchanges, ex: &str, q: &str, key: &str| {
            let b = queue::Bind {
                queue: q.try_into().unwrap(),
                exchange: ex.try_into().unwrap(),
                routing_key: key.try_into().unwrap(),
                ..queue::Bind::default()
            };
            x.bind(&b)
        };
        bind(&mut x, "amq.direct", "a", "k").unwrap();
        bind(&mut x, "amq.fanout", "a", "").unwrap();
        bind(&mut x, "amq.fanout", "b", "").unwrap();
        assert!(bind(&mut x, "", "a", "k").is_err(), "the default exchange");
        assert!(bind(&mut x, "nope", "a", "k").is_err());
        let any = |_: &str| true;
        assert_eq!(x.route("amq.direct", "k", any).unwrap(), ["a"]);
        assert!(x.route("amq.direct", "other", any).unwrap().is_empty());
        assert_eq!(x.route("amq.fanout", "x", any).unwrap(), ["a", "b"]);
        assert_eq!(x.route("", "q", any).unwrap(), ["q"]);
        assert!(x.route("", "q", |_| false).unwrap().is_empty());
        assert!(x.route("missing", "k", any).is_err());
    }
}
