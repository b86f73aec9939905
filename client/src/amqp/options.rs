//! Options for declares, consumers and publishes: builders whose defaults
//! are the safe choice.

use amqp_proto::{FieldTable, FieldValue};

/// Adds `key = value` to a table, keeping what is there (a later value for
/// the same key replaces the earlier one).
fn with_arg(table: &FieldTable, key: &str, value: FieldValue) -> FieldTable {
    let mut b = FieldTable::builder();
    for (k, v) in table.iter() {
        if k.as_bytes() != key.as_bytes() {
            b.push(&k, v);
        }
    }
    let _ = b.try_insert(key, value);
    b.build()
}

/// The exchange types.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ExchangeKind {
    /// Routes by exact routing key.
    Direct,
    /// Routes to every bound queue.
    Fanout,
    /// Routes by routing-key pattern (`*` one word, `#` any).
    Topic,
    /// Routes by message headers (`x-match` all or any).
    Headers,
    /// A plugin's type, such as `x-consistent-hash`.
    Custom(String),
}

impl ExchangeKind {
    /// The name sent in exchange.declare.
    pub fn as_str(&self) -> &str {
        match self {
            ExchangeKind::Direct => "direct",
            ExchangeKind::Fanout => "fanout",
            ExchangeKind::Topic => "topic",
            ExchangeKind::Headers => "headers",
            ExchangeKind::Custom(s) => s,
        }
    }
}

/// exchange.declare options. The default is a transient exchange.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExchangeOptions {
    /// Only check that the exchange exists (a 404 closes the channel if not).
    pub passive: bool,
    /// Survives a broker restart.
    pub durable: bool,
    /// Deleted when its last binding goes.
    pub auto_delete: bool,
    /// Only other exchanges may publish to it.
    pub internal: bool,
    /// Arguments, such as `alternate-exchange`.
    pub arguments: FieldTable,
}

impl ExchangeOptions {
    /// A durable exchange.
    pub fn durable() -> Self {
        ExchangeOptions {
            durable: true,
            ..Self::default()
        }
    }
    /// A passive declare: checks that the exchange exists.
    pub fn passive() -> Self {
        ExchangeOptions {
            passive: true,
            ..Self::default()
        }
    }
    /// Deleted when its last binding goes.
    pub fn auto_delete(mut self) -> Self {
        self.auto_delete = true;
        self
    }
    /// Only other exchanges may publish to it.
    pub fn internal(mut self) -> Self {
        self.internal = true;
        self
    }
    /// Adds an argument.
    pub fn argument(mut self, key: &str, value: impl Into<FieldValue>) -> Self {
        self.arguments = with_arg(&self.arguments, key, value.into());
        self
    }
    /// Unroutable messages go to this exchange instead.
    pub fn alternate_exchange(self, exchange: &str) -> Self {
        self.argument("alternate-exchange", exchange)
    }
}

/// queue.declare options. The default is a transient, shared queue.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueOptions {
    /// Only check that the queue exists (a 404 closes the channel if not).
    pub passive: bool,
    /// Survives a broker restart.
    pub durable: bool,
    /// Used only by this connection and deleted when it closes.
    pub exclusive: bool,
    /// Deleted when its last consumer goes.
    pub auto_delete: bool,
    /// Arguments, such as `x-queue-type`, `x-message-ttl`,
    /// `x-dead-letter-exchange`, `x-max-priority`.
    pub arguments: FieldTable,
}

impl QueueOptions {
    /// A durable queue.
    pub fn durable() -> Self {
        QueueOptions {
            durable: true,
            ..Self::default()
        }
    }
    /// A passive declare: checks that the queue exists.
    pub fn passive() -> Self {
        QueueOptions {
            passive: true,
            ..Self::default()
        }
    }
    /// Used only by this connection and deleted when it closes.
    pub fn exclusive(mut self) -> Self {
        self.exclusive = true;
        self
    }
    /// Deleted when its last consumer goes.
    pub fn auto_delete(mut self) -> Self {
        self.auto_delete = true;
        self
    }
    /// Adds an argument.
    pub fn argument(mut self, key: &str, value: impl Into<FieldValue>) -> Self {
        self.arguments = with_arg(&self.arguments, key, value.into());
        self
    }
    /// A quorum queue (`x-queue-type=quorum`; quorum queues are durable).
    pub fn quorum(mut self) -> Self {
        self.durable = true;
        self.argument("x-queue-type", "quorum")
    }
    /// Messages expire after `ms` milliseconds (`x-message-ttl`).
    pub fn message_ttl(self, ms: u32) -> Self {
        self.argument("x-message-ttl", i64::from(ms))
    }
    /// Dead-lettered messages go to this exchange (`x-dead-letter-exchange`).
    pub fn dead_letter_exchange(self, exchange: &str) -> Self {
        self.argument("x-dead-letter-exchange", exchange)
    }
    /// ... with this routing key (`x-dead-letter-routing-key`).
    pub fn dead_letter_routing_key(self, key: &str) -> Self {
        self.argument("x-dead-letter-routing-key", key)
    }
    /// A priority queue with priorities 0 to `max` (`x-max-priority`).
    pub fn max_priority(self, max: u8) -> Self {
        self.argument("x-max-priority", max)
    }
    /// At most `n` ready messages (`x-max-length`).
    pub fn max_length(self, n: u32) -> Self {
        self.argument("x-max-length", i64::from(n))
    }
}

/// queue.delete options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDeleteOptions {
    /// Only if it has no consumers.
    pub if_unused: bool,
    /// Only if it has no messages.
    pub if_empty: bool,
}

/// basic.consume options. The default: manual acks, a server-chosen tag,
/// and a prefetch of 100.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumeOptions {
    /// The consumer tag; `None` lets the server pick one.
    pub tag: Option<String>,
    /// Deliveries need no ack (at-most-once).
    pub no_ack: bool,
    /// The queue's only consumer.
    pub exclusive: bool,
    /// Unacked deliveries in flight for this consumer (basic.qos with
    /// global=false, sent before the consume); `None` leaves the channel's
    /// QoS as it is. The consumer's queue in the client is sized from it.
    pub prefetch: Option<u16>,
    /// Arguments, such as `x-priority`.
    pub arguments: FieldTable,
}

impl Default for ConsumeOptions {
    fn default() -> Self {
        ConsumeOptions {
            tag: None,
            no_ack: false,
            exclusive: false,
            prefetch: Some(100),
            arguments: FieldTable::new(),
        }
    }
}

impl ConsumeOptions {
    /// Sets the prefetch (0: unlimited).
    pub fn prefetch(mut self, n: u16) -> Self {
        self.prefetch = Some(n);
        self
    }
    /// Sets the consumer tag.
    pub fn tag(mut self, tag: &str) -> Self {
        self.tag = Some(tag.to_owned());
        self
    }
    /// Deliveries need no ack.
    pub fn no_ack(mut self) -> Self {
        self.no_ack = true;
        self
    }
    /// The queue's only consumer.
    pub fn exclusive(mut self) -> Self {
        self.exclusive = true;
        self
    }
    /// Adds an argument.
    pub fn argument(mut self, key: &str, value: impl Into<FieldValue>) -> Self {
        self.arguments = with_arg(&self.arguments, key, value.into());
        self
    }
}

/// basic.publish options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublishOptions {
    /// Return the message if no queue takes it (with confirms on, the
    /// publish then resolves as [`Error::Returned`](super::Error::Returned)).
    pub mandatory: bool,
    /// How long this publish's [`Confirm`](super::Confirm) waits for the
    /// broker before it fails with
    /// [`Error::ConfirmTimeout`](super::Error::ConfirmTimeout); `None`:
    /// the connection's
    /// [`confirm_timeout`](super::ConnectionBuilder::confirm_timeout).
    pub confirm_timeout: Option<std::time::Duration>,
}

impl PublishOptions {
    /// A mandatory publish.
    pub fn mandatory() -> Self {
        PublishOptions {
            mandatory: true,
            confirm_timeout: None,
        }
    }

    /// Overrides the connection's confirm timeout for this publish.
    pub fn confirm_timeout(mut self, after: std::time::Duration) -> Self {
        self.confirm_timeout = Some(after);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_accumulate_and_replace() {
        let q = QueueOptions::durable()
            .message_ttl(100)
            .dead_letter_exchange("dlx")
            .message_ttl(200);
        assert_eq!(q.arguments.len(), 2);
        assert_eq!(
            q.arguments.get("x-message-ttl").and_then(|v| v.as_i64()),
            Some(200)
        );
        let quorum = QueueOptions::default().quorum();
        assert!(quorum.durable);
        assert_eq!(ExchangeKind::Custom("x-foo".into()).as_str(), "x-foo");
    }
}
