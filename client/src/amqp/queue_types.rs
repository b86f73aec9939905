//! Typed arguments of RabbitMQ's queue types: quorum queues (delivery
//! limit, dead-letter strategy, overflow, single active consumer) and
//! streams (retention, segment size, where a consumer starts), and the
//! consumer priority. Each is an `x-` argument of queue.declare or
//! basic.consume (<https://www.rabbitmq.com/docs/quorum-queues>,
//! <https://www.rabbitmq.com/docs/streams>); the builder methods on
//! [`QueueOptions`] and [`ConsumeOptions`] set them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use amqp_proto::FieldValue;

use super::options::{ConsumeOptions, QueueOptions};

/// What a full queue does with a new message (`x-overflow`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Drops (or dead-letters) the oldest message (the default).
    DropHead,
    /// Refuses the publish: with confirms on, it is nacked.
    RejectPublish,
    /// Refuses the publish and dead-letters it (classic queues).
    RejectPublishDlx,
}

impl Overflow {
    /// The argument's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Overflow::DropHead => "drop-head",
            Overflow::RejectPublish => "reject-publish",
            Overflow::RejectPublishDlx => "reject-publish-dlx",
        }
    }
}

/// How a quorum queue dead-letters (`x-dead-letter-strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadLetterStrategy {
    /// Fire and forget (the default): a message may be lost on its way
    /// to the dead-letter queue.
    AtMostOnce,
    /// The queue keeps the message until the dead-letter queue confirms
    /// it. RabbitMQ needs [`Overflow::RejectPublish`] with it, so
    /// [`QueueOptions::dead_letter_strategy`] sets that too.
    AtLeastOnce,
}

impl DeadLetterStrategy {
    /// The argument's value.
    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterStrategy::AtMostOnce => "at-most-once",
            DeadLetterStrategy::AtLeastOnce => "at-least-once",
        }
    }
}

/// Where a stream consumer starts (`x-stream-offset`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamOffset {
    /// The first message still in the stream.
    First,
    /// The last chunk written (a few messages before the end).
    Last,
    /// Only messages written after the consumer starts (the default).
    Next,
    /// The message at this offset (or the first one kept, if it is gone).
    Offset(u64),
    /// The first chunk written at or after this time (second precision).
    Timestamp(SystemTime),
    /// Messages written within this interval before now, in RabbitMQ's
    /// notation: a number and a unit, `Y`, `M`, `D`, `h`, `m` or `s`
    /// (`"7D"`, `"1h"`, `"30m"`).
    Interval(String),
}

impl StreamOffset {
    fn value(&self) -> FieldValue {
        match self {
            StreamOffset::First => "first".into(),
            StreamOffset::Last => "last".into(),
            StreamOffset::Next => "next".into(),
            StreamOffset::Offset(n) => FieldValue::I64(i64::try_from(*n).unwrap_or(i64::MAX)),
            StreamOffset::Timestamp(t) => {
                FieldValue::Timestamp(t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
            }
            StreamOffset::Interval(s) => s.as_str().into(),
        }
    }
}

/// A duration in RabbitMQ's retention notation: whole seconds, at least
/// one (`x-max-age` takes `Y`, `M`, `D`, `h`, `m` or `s`).
fn age(d: Duration) -> String {
    format!("{}s", d.as_secs().max(1))
}

impl QueueOptions {
    /// A stream (`x-queue-type=stream`; streams are durable). Consumers
    /// need a prefetch and manual acks, which only grant credit.
    pub fn stream(mut self) -> Self {
        self.durable = true;
        self.argument("x-queue-type", "stream")
    }

    /// Quorum queues: after this many failed deliveries (nacked or
    /// rejected with requeue, or lost with a consumer's connection), a
    /// message is dropped or dead-lettered (`x-delivery-limit`).
    /// Redeliveries carry the count so far in `x-delivery-count`.
    pub fn delivery_limit(self, n: u32) -> Self {
        self.argument("x-delivery-limit", i64::from(n))
    }

    /// Quorum queues: how dead letters leave the queue
    /// (`x-dead-letter-strategy`). [`DeadLetterStrategy::AtLeastOnce`]
    /// also sets `x-overflow=reject-publish`, which RabbitMQ requires for it.
    pub fn dead_letter_strategy(self, strategy: DeadLetterStrategy) -> Self {
        let q = self.argument("x-dead-letter-strategy", strategy.as_str());
        match strategy {
            DeadLetterStrategy::AtLeastOnce => q.overflow(Overflow::RejectPublish),
            DeadLetterStrategy::AtMostOnce => q,
        }
    }

    /// What a full queue does (`x-overflow`).
    pub fn overflow(self, overflow: Overflow) -> Self {
        self.argument("x-overflow", overflow.as_str())
    }

    /// One consumer at a time gets messages; the others wait their turn
    /// (`x-single-active-consumer`).
    pub fn single_active_consumer(self) -> Self {
        self.argument("x-single-active-consumer", true)
    }

    /// At most this many bytes of messages: the oldest go first
    /// (`x-max-length-bytes`; for a stream, whole segments are removed).
    pub fn max_length_bytes(self, bytes: u64) -> Self {
        self.argument(
            "x-max-length-bytes",
            i64::try_from(bytes).unwrap_or(i64::MAX),
        )
    }

    /// Streams: segments older than this are removed (`x-max-age`, sent in
    /// whole seconds).
    pub fn max_age(self, age_limit: Duration) -> Self {
        self.argument("x-max-age", age(age_limit))
    }

    /// Streams: the size of a segment file on disk, the unit retention
    /// removes (`x-stream-max-segment-size-bytes`).
    pub fn stream_max_segment_size_bytes(self, bytes: u64) -> Self {
        self.argument(
            "x-stream-max-segment-size-bytes",
            i64::try_from(bytes).unwrap_or(i64::MAX),
        )
    }
}

impl ConsumeOptions {
    /// The consumer's priority (`x-priority`): while a consumer of higher
    /// priority has room in its prefetch window, consumers of lower
    /// priority get nothing. Default 0; negative values are allowed.
    pub fn priority(self, priority: i32) -> Self {
        self.argument("x-priority", priority)
    }

    /// Streams: where reading starts (`x-stream-offset`). Deliveries carry
    /// their offset in the `x-stream-offset` header.
    pub fn stream_offset(self, offset: StreamOffset) -> Self {
        let value = offset.value();
        self.argument("x-stream-offset", value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorum_and_stream_arguments() {
        let q = QueueOptions::default()
            .quorum()
            .delivery_limit(3)
            .dead_letter_strategy(DeadLetterStrategy::AtLeastOnce);
        let a = &q.arguments;
        assert_eq!(a.get("x-delivery-limit").and_then(|v| v.as_i64()), Some(3));
        assert_eq!(
            a.get("x-dead-letter-strategy"),
            Some(FieldValue::from("at-least-once"))
        );
        assert_eq!(
            a.get("x-overflow"),
            Some(FieldValue::from("reject-publish"))
        );
        let s = QueueOptions::default()
            .stream()
            .max_age(Duration::from_secs(7 * 86_400))
            .max_length_bytes(1 << 30)
            .stream_max_segment_size_bytes(1 << 20);
        assert!(s.durable);
        assert_eq!(
            s.arguments.get("x-max-age"),
            Some(FieldValue::from("604800s"))
        );
        assert_eq!(
            s.arguments
                .get("x-max-length-bytes")
                .and_then(|v| v.as_i64()),
            Some(1 << 30)
        );
    }

    #[test]
    fn stream_offsets_take_the_types_rabbitmq_reads() {
        let v = |o: StreamOffset| {
            ConsumeOptions::default()
                .stream_offset(o)
                .arguments
                .get("x-stream-offset")
        };
        assert_eq!(v(StreamOffset::Offset(42)), Some(FieldValue::I64(42)));
        assert_eq!(
            v(StreamOffset::Timestamp(
                UNIX_EPOCH + Duration::from_secs(1_700_000_000)
            )),
            Some(FieldValue::Timestamp(1_700_000_000))
        );
        assert_eq!(v(StreamOffset::First), Some(FieldValue::from("first")));
        assert_eq!(
            v(StreamOffset::Interval("1h".into())),
            Some(FieldValue::from("1h"))
        );
        let p = ConsumeOptions::default().priority(-5);
        assert_eq!(p.arguments.get("x-priority"), Some(FieldValue::I32(-5)));
    }
}
