//! Delayed (non-blocking) retries: a message whose in-process attempts
//! failed is forwarded to a *retry stage*, a queue or topic where it waits
//! out a delay outside the subscriber, and comes back to the same
//! subscriber when the delay is over. Meanwhile it holds back nothing: its
//! lane is free, its original is acked (RabbitMQ) or its offset may be
//! committed (Kafka). After the last stage it goes to the dead letters.
//!
//! ```no_run
//! # use std::time::Duration;
//! # use mq_service::{Backoff, Bus, Json, Message, HandlerError};
//! # async fn f(bus: Bus) -> Result<(), mq_service::Error> {
//! bus.subscriber::<String, Json>("orders", "billing")
//!     .retry(Backoff::none()) // one call per delivery, no in-process wait
//!     .delayed_retries([Duration::from_secs(1), Duration::from_secs(10), Duration::from_secs(60)])
//!     .run(|msg: Message<String>| async move { Ok::<(), HandlerError>(()) })
//!     .await
//! # }
//! ```
//!
//! Each delivery (the first, and each one back from a stage) gets the
//! in-process attempts of [`SubscriberBuilder::retry`]; a permanent failure
//! skips the stages. The handler's [`Message::attempt`] counts every call
//! across the stages, and so does the dead letter's `x-mq-attempts`.
//!
//! # Names
//!
//! One stage per delay, named after the subscriber's own queue or topic
//! and the delay ([`delay_label`]: `500ms`, `1s`, `10s`, `1m`, `2h`):
//!
//! | | RabbitMQ | Kafka |
//! |---|---|---|
//! | stage of delay `d` | queue `<queue>.retry.<d>` (`x-message-ttl` = `d`, `x-dead-letter-exchange` = `""`, `x-dead-letter-routing-key` = `<queue>.retry`) | topic `<source>.<group>.retry.<d>` |
//! | back from a stage | queue `<queue>.retry`, consumed by the subscriber beside its queue | each stage topic, consumed by the subscriber in consumer group `<group>.retry` |
//!
//! The names carry the group (RabbitMQ's `<queue>` is `<source>.<group>`
//! by default) because a retry concerns one subscriber: another group of
//! the same source has its own. Delays that repeat share their stage.
//! Everything is declared or created when the subscriber starts, with no
//! broker plugin: RabbitMQ expires each message at the head of its stage
//! queue and dead-letters it to `<queue>.retry`; Kafka's stage topics are
//! created with the source's partition count (if the bus may create
//! topics, see [`KafkaConfig::create_topics`]; if not, building the
//! subscriber is refused, naming `delayed_retries`).
//!
//! A message back from a stage does not go through the subscriber's queue
//! again but through its own, so it is not delayed further by the queue's
//! backlog, and messages that wait for it (with
//! [`SubscriberBuilder::retry_holds_key`]) cannot stop it by filling the
//! queue's prefetch. RabbitMQ moves an expired message from a classic
//! queue to the return queue at most once: a broker crash at that moment
//! can lose it. The delays of a subscriber may change between runs; a
//! stage no longer in the list is no longer read. On Kafka the subscriber reads each stage partition in order
//! and holds its head record until it is due ([`DUE`]), pausing only that
//! partition; the other partitions and topics keep flowing.
//!
//! # Headers
//!
//! A message on its way to a stage keeps its body, key, headers and
//! properties (RabbitMQ: without a per-message TTL, and without the
//! `x-death` headers of its last trip) and carries, besides [`STAGE`] and
//! [`DUE`], the [`dead_letter`](crate::dead_letter) headers but
//! `x-mq-reason`: where it was first read (`x-mq-origin-*`), the group,
//! the last error, `x-mq-attempts` (handler calls so far) and
//! `x-mq-first-failure` / `x-mq-last-failure`. The dead letter made after
//! the last stage names the first origin, not a stage.
//!
//! The original is acked / its offset committed only once the stage has
//! the message (a publisher confirm of a mandatory publish on RabbitMQ,
//! acks=all on Kafka); until then the publish is retried.
//!
//! # Order
//!
//! A delayed retry gives up the key's order: later messages of the same
//! key pass the one that waits in a stage. Where that is wrong, see
//! [`SubscriberBuilder::retry_holds_key`]: the key (not the partition or
//! queue) is held while one of its messages is in a stage.
//!
//! [`SubscriberBuilder::retry`]: crate::SubscriberBuilder::retry
//! [`SubscriberBuilder::retry_holds_key`]: crate::SubscriberBuilder::retry_holds_key
//! [`Message::attempt`]: crate::Message::attempt
//! [`KafkaConfig::create_topics`]: crate::KafkaConfig::create_topics

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mq_client::amqp::{self, PublishOptions, QueueOptions};
use mq_client::kafka::{self, ErrorCode, NewTopic};
use tokio::sync::Mutex;

use crate::dead_letter::{
    ATTEMPTS, DeadLetter, FAILURE_HEADERS, FIRST_FAILURE, FailureRecord, failure_headers,
    parse_rfc3339,
};
use crate::error::Error;
use crate::message::Headers;

/// The stage a message is in or comes back from (1 for the first delay).
pub const STAGE: &str = "x-mq-retry-stage";
/// When the message is due back, in milliseconds since the Unix epoch.
pub const DUE: &str = "x-mq-retry-due";
/// The headers of this module, stripped from dead letters.
pub const RETRY_HEADERS: [&str; 2] = [STAGE, DUE];
/// RabbitMQ's dead-lettering headers, which a stage queue adds and the
/// next forward drops (the broker writes them again).
pub const BROKER_DEATH_HEADERS: [&str; 7] = [
    "x-death",
    "x-first-death-exchange",
    "x-first-death-queue",
    "x-first-death-reason",
    "x-last-death-exchange",
    "x-last-death-queue",
    "x-last-death-reason",
];

/// The label of a delay in stage names: whole hours `2h`, minutes `1m`,
/// seconds `10s`, else milliseconds `500ms`.
///
/// ```
/// use std::time::Duration;
/// use mq_service::delayed_retry::delay_label;
/// assert_eq!(delay_label(Duration::from_secs(1)), "1s");
/// assert_eq!(delay_label(Duration::from_secs(90)), "90s");
/// assert_eq!(delay_label(Duration::from_secs(60)), "1m");
/// assert_eq!(delay_label(Duration::from_millis(1500)), "1500ms");
/// ```
pub fn delay_label(delay: Duration) -> String {
    let ms = delay.as_millis();
    match ms {
        0 => "0ms".to_owned(),
        ms if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        ms if ms % 1000 == 0 => format!("{}s", ms / 1000),
        ms => format!("{ms}ms"),
    }
}

/// The stage of `delay` for `base` (the RabbitMQ queue, or
/// `<source>.<group>` on Kafka): `<base>.retry.<label>`.
pub fn stage_name(base: &str, delay: Duration) -> String {
    format!("{base}.retry.{}", delay_label(delay))
}

/// Where messages come back from the stages on RabbitMQ:
/// `<queue>.retry`.
pub fn return_queue(queue: &str) -> String {
    format!("{queue}.retry")
}

/// What a message back from a stage carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Carried {
    /// The stage it comes back from.
    pub(crate) stage: u32,
    /// Handler calls before.
    pub(crate) attempts: u32,
    /// When its first call failed.
    pub(crate) first_failure: Option<SystemTime>,
}

impl Carried {
    /// Read from the headers; `stage` where they have none (a message
    /// someone else put in a stage).
    pub(crate) fn from_headers(h: &Headers, stage: u32) -> Carried {
        let num = |name| h.get_str(name).and_then(|v| v.trim().parse::<u32>().ok());
        Carried {
            stage: num(STAGE).unwrap_or(stage),
            attempts: num(ATTEMPTS).unwrap_or(0),
            first_failure: h.get_str(FIRST_FAILURE).and_then(parse_rfc3339),
        }
    }
}

fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The stages of a subscriber, and how to reach them.
#[derive(Debug, Clone)]
pub(crate) enum RetrySink {
    /// Kafka: a topic per stage, through the bus's acks=all producer.
    Kafka {
        producer: kafka::Producer,
        /// Stage `i + 1`'s topic.
        topics: Vec<String>,
    },
    /// RabbitMQ: a queue per stage, published to through the default
    /// exchange on a channel in confirm mode (opened again if the broker
    /// closes it).
    Amqp {
        connection: amqp::Connection,
        channel: Arc<Mutex<amqp::Channel>>,
        /// Stage `i + 1`'s queue.
        queues: Vec<String>,
    },
}

impl RetrySink {
    /// Creates the stage topics (`partitions` each, the broker's
    /// replication factor); existing ones are fine, any other refusal
    /// fails the start: without them no retry could be forwarded.
    pub(crate) async fn create_topics(
        admin: &kafka::Admin,
        topics: &[String],
        partitions: i32,
    ) -> Result<(), Error> {
        let mut unique: Vec<&String> = topics.iter().collect();
        unique.dedup();
        for topic in unique {
            match admin
                .create_topics([NewTopic::new(topic, partitions, -1)])
                .await
            {
                Ok(()) => tracing::info!(topic, "retry topic created"),
                Err(kafka::Error::Broker {
                    code: ErrorCode::TOPIC_ALREADY_EXISTS,
                    ..
                }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Declares the stage queues of `queue` (durable, each with its TTL,
    /// dead-lettering to the return queue) and the return queue, and puts
    /// `channel` in confirm mode.
    pub(crate) async fn declare_amqp(
        channel: &amqp::Channel,
        queue: &str,
        delays: &[Duration],
    ) -> Result<(), Error> {
        let back = return_queue(queue);
        channel
            .queue_declare(&back, QueueOptions::durable())
            .await?;
        for &delay in delays {
            let ttl = u32::try_from(delay.as_millis()).unwrap_or(u32::MAX);
            let options = QueueOptions::durable()
                .message_ttl(ttl)
                .dead_letter_exchange("")
                .dead_letter_routing_key(&back);
            channel
                .queue_declare(&stage_name(queue, delay), options)
                .await?;
        }
        channel.confirm_select().await?;
        Ok(())
    }

    /// Closes the RabbitMQ channel (Kafka: the bus owns the producer).
    pub(crate) async fn close(&self) -> Result<(), Error> {
        if let RetrySink::Amqp { channel, .. } = self {
            channel.lock().await.close().await?;
        }
        Ok(())
    }

    /// Stage `stage`'s queue or topic.
    pub(crate) fn name(&self, stage: u32) -> &str {
        let names = match self {
            RetrySink::Kafka { topics, .. } => topics,
            RetrySink::Amqp { queues, .. } => queues,
        };
        let i = (stage as usize).saturating_sub(1).min(names.len() - 1);
        &names[i]
    }

    /// Forwards `m` to stage `stage`, due back after `delay`, and waits
    /// for the broker's confirmation.
    pub(crate) async fn forward(
        &self,
        m: &DeadLetter<'_>,
        f: &FailureRecord,
        stage: u32,
        delay: Duration,
    ) -> Result<(), Error> {
        let mut added = failure_headers(m.origin, m.group, f);
        added.push((STAGE, stage.to_string()));
        added.push((DUE, epoch_ms(f.last_failure + delay).to_string()));
        let dropped = |k: &str| {
            FAILURE_HEADERS.contains(&k)
                || RETRY_HEADERS.contains(&k)
                || BROKER_DEATH_HEADERS.contains(&k)
        };
        let target = self.name(stage);
        match self {
            RetrySink::Kafka { producer, .. } => {
                producer
                    .send(m.kafka_record(target, dropped, &added))
                    .await?;
            }
            RetrySink::Amqp {
                connection,
                channel,
                ..
            } => {
                // A per-message TTL shorter than the stage's would cut
                // the delay short; a longer one would not be honoured:
                // none.
                let properties = m.amqp_properties(dropped, &added);
                let body = m.body.cloned().unwrap_or_default();
                let ch = {
                    let mut ch = channel.lock().await;
                    if !ch.is_open() {
                        let fresh = connection.open_channel().await?;
                        fresh.confirm_select().await?;
                        *ch = fresh;
                    }
                    ch.clone()
                };
                // Mandatory: a stage queue deleted under the subscriber
                // fails the forward (and it is tried again) rather than
                // losing the message.
                ch.publish_with("", target, body, properties, PublishOptions::mandatory())
                    .await?
                    .await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_names() {
        let s = Duration::from_secs;
        assert_eq!(delay_label(s(10)), "10s");
        assert_eq!(delay_label(s(7200)), "2h");
        assert_eq!(delay_label(s(5400)), "90m");
        assert_eq!(delay_label(Duration::from_millis(250)), "250ms");
        assert_eq!(
            stage_name("orders.billing", s(1)),
            "orders.billing.retry.1s"
        );
        assert_eq!(return_queue("orders.billing"), "orders.billing.retry");
    }

    #[test]
    fn carried_state_is_read_from_headers() {
        let h = Headers::new()
            .with(STAGE, "2")
            .with(ATTEMPTS, "6")
            .with(FIRST_FAILURE, "2026-12-06T22:04:05.000Z")
            .with(DUE, "1796594646000");
        let c = Carried::from_headers(&h, 1);
        assert_eq!(c.stage, 2);
        assert_eq!(c.attempts, 6);
        assert_eq!(
            c.first_failure,
            Some(UNIX_EPOCH + Duration::from_secs(1_796_594_645))
        );
        let bare = Carried::from_headers(&Headers::new(), 3);
        assert_eq!(
            (bare.stage, bare.attempts, bare.first_failure),
            (3, 0, None)
        );
    }
}
