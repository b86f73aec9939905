//! Dead letters: where a message goes after its last attempt, a permanent
//! failure, or when it cannot be decoded (poison), with headers that say
//! where it came from and why it failed.
//!
//! The dead letter keeps the original body, key and headers (the
//! `traceparent` included) and adds the `x-mq-*` failure headers below,
//! replacing any from an earlier trip. All values are UTF-8 text; times
//! are RFC 3339 in UTC with milliseconds (`2026-12-06T21:04:05.123Z`).
//! The original is acked / its offset committed only once the dead
//! letter is confirmed (publisher confirm on RabbitMQ, acks=all on Kafka);
//! until then the publish is retried.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use mq_client::amqp::{
    self, BasicProperties, ExchangeKind, ExchangeOptions, FieldTable, QueueOptions,
};
use mq_client::kafka::{self, ErrorCode, NewTopic, ProducerRecord};
use tokio::sync::Mutex;

use crate::error::Error;
use crate::message::{Headers, Metadata};

/// Kafka: the source topic.
pub const ORIGIN_TOPIC: &str = "x-mq-origin-topic";
/// Kafka: the source partition.
pub const ORIGIN_PARTITION: &str = "x-mq-origin-partition";
/// Kafka: the source offset.
pub const ORIGIN_OFFSET: &str = "x-mq-origin-offset";
/// RabbitMQ: the exchange the message was published to.
pub const ORIGIN_EXCHANGE: &str = "x-mq-origin-exchange";
/// RabbitMQ: its routing key.
pub const ORIGIN_ROUTING_KEY: &str = "x-mq-origin-routing-key";
/// RabbitMQ: the queue it was consumed from.
pub const ORIGIN_QUEUE: &str = "x-mq-origin-queue";
/// The consumer group (on RabbitMQ, the subscriber's group).
pub const CONSUMER_GROUP: &str = "x-mq-consumer-group";
/// The last error: `<error type>: <message>`.
pub const ERROR: &str = "x-mq-error";
/// The last error's type alone (`decode`, `timeout`, `panic`, the
/// handler error's type name).
pub const ERROR_TYPE: &str = "x-mq-error-type";
/// Why it was dead-lettered: `poison` (not decodable), `permanent` (the
/// handler said so) or `exhausted` (the attempts ran out).
pub const REASON: &str = "x-mq-reason";
/// Handler attempts made (0 for poison).
pub const ATTEMPTS: &str = "x-mq-attempts";
/// When the first attempt failed (RFC 3339, UTC).
pub const FIRST_FAILURE: &str = "x-mq-first-failure";
/// When the last attempt failed (RFC 3339, UTC).
pub const LAST_FAILURE: &str = "x-mq-last-failure";

/// Every failure header, for stripping the ones of an earlier trip.
pub const FAILURE_HEADERS: [&str; 13] = [
    ORIGIN_TOPIC,
    ORIGIN_PARTITION,
    ORIGIN_OFFSET,
    ORIGIN_EXCHANGE,
    ORIGIN_ROUTING_KEY,
    ORIGIN_QUEUE,
    CONSUMER_GROUP,
    ERROR,
    ERROR_TYPE,
    REASON,
    ATTEMPTS,
    FIRST_FAILURE,
    LAST_FAILURE,
];

/// Why a message failed for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    Poison,
    Permanent,
    Exhausted,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::Poison => "poison",
            Reason::Permanent => "permanent",
            Reason::Exhausted => "exhausted",
        }
    }
}

/// The failure to record on a dead letter.
#[derive(Debug, Clone)]
pub(crate) struct FailureRecord {
    /// `None` on the way to a delayed-retry stage.
    pub(crate) reason: Option<Reason>,
    pub(crate) error_type: String,
    pub(crate) error: String,
    pub(crate) attempts: u32,
    pub(crate) first_failure: SystemTime,
    pub(crate) last_failure: SystemTime,
}

/// The origin headers of a message: where it was read (`metadata`), or,
/// for one back from a delayed-retry stage (`carried`), where it was
/// first read, as its headers say.
pub(crate) fn origin_headers(
    metadata: &Metadata,
    headers: &Headers,
    carried: bool,
) -> Vec<(&'static str, String)> {
    if carried {
        let kept: Vec<(&'static str, String)> = ORIGIN_HEADERS
            .iter()
            .filter_map(|&name| Some((name, headers.get_str(name)?.to_owned())))
            .collect();
        if !kept.is_empty() {
            return kept;
        }
    }
    match metadata {
        Metadata::Kafka {
            topic,
            partition,
            offset,
            ..
        } => vec![
            (ORIGIN_TOPIC, topic.to_string()),
            (ORIGIN_PARTITION, partition.to_string()),
            (ORIGIN_OFFSET, offset.to_string()),
        ],
        Metadata::Amqp {
            exchange,
            routing_key,
            queue,
            ..
        } => vec![
            (ORIGIN_EXCHANGE, exchange.to_string()),
            (ORIGIN_ROUTING_KEY, routing_key.to_string()),
            (ORIGIN_QUEUE, queue.to_string()),
        ],
    }
}

/// The origin headers, Kafka's and RabbitMQ's.
pub(crate) const ORIGIN_HEADERS: [&str; 6] = [
    ORIGIN_TOPIC,
    ORIGIN_PARTITION,
    ORIGIN_OFFSET,
    ORIGIN_EXCHANGE,
    ORIGIN_ROUTING_KEY,
    ORIGIN_QUEUE,
];

/// The failure headers: the origin, the group, and the failure (without
/// `x-mq-reason` when `f` has none: a message on its way to a retry
/// stage).
pub(crate) fn failure_headers(
    origin: &[(&'static str, String)],
    group: &str,
    f: &FailureRecord,
) -> Vec<(&'static str, String)> {
    let mut out = Vec::with_capacity(12);
    out.extend(origin.iter().cloned());
    out.push((CONSUMER_GROUP, group.to_owned()));
    out.push((ERROR, truncate(format!("{}: {}", f.error_type, f.error))));
    out.push((ERROR_TYPE, f.error_type.clone()));
    if let Some(reason) = f.reason {
        out.push((REASON, reason.as_str().to_owned()));
    }
    out.push((ATTEMPTS, f.attempts.to_string()));
    out.push((FIRST_FAILURE, rfc3339(f.first_failure)));
    out.push((LAST_FAILURE, rfc3339(f.last_failure)));
    out
}

/// The longest `x-mq-error` kept, in bytes: an error message is no
/// payload.
pub const MAX_ERROR_LEN: usize = 4096;

fn truncate(mut s: String) -> String {
    if s.len() > MAX_ERROR_LEN {
        let mut end = MAX_ERROR_LEN - 3;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push_str("...");
    }
    s
}

/// RFC 3339 in UTC with milliseconds.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = d.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, day) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Parses what [`rfc3339`] writes (`2026-12-06T21:04:05.123Z`; the
/// fraction is optional, the zone must be `Z`).
pub(crate) fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.splitn(3, '-');
    let y: i64 = d.next()?.parse().ok()?;
    let m: u32 = d.next()?.parse().ok()?;
    let day: u32 = d.next()?.parse().ok()?;
    let (hms, frac) = match time.split_once('.') {
        Some((hms, frac)) => (hms, frac),
        None => (time, ""),
    };
    let mut t = hms.splitn(3, ':');
    let h: u64 = t.next()?.parse().ok()?;
    let min: u64 = t.next()?.parse().ok()?;
    let sec: u64 = t.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || h > 23 || min > 59 || sec > 60 {
        return None;
    }
    let millis: u64 = match frac.len() {
        0 => 0,
        1..=9 if frac.bytes().all(|b| b.is_ascii_digit()) => {
            let digits = &frac[..frac.len().min(3)];
            digits.parse::<u64>().ok()? * 10u64.pow(3 - digits.len() as u32)
        }
        _ => return None,
    };
    let days = u64::try_from(days_from_civil(y, m, day)).ok()?;
    let secs = days * 86_400 + h * 3600 + min * 60 + sec;
    Some(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis))
}

/// Howard Hinnant's days-from-civil: (y, m, d) to days since 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Howard Hinnant's days-to-civil: days since 1970-01-01 to (y, m, d).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A message to dead-letter, as it was received.
#[derive(Debug)]
pub(crate) struct DeadLetter<'a> {
    pub(crate) body: Option<&'a Bytes>,
    pub(crate) key: Option<&'a Bytes>,
    pub(crate) headers: &'a Headers,
    pub(crate) metadata: &'a Metadata,
    /// Its origin headers ([`origin_headers`]).
    pub(crate) origin: &'a [(&'static str, String)],
    pub(crate) group: &'a str,
    pub(crate) amqp_properties: Option<&'a BasicProperties>,
}

impl DeadLetter<'_> {
    /// The message as a Kafka record for `topic`: its key and body, its
    /// headers but those `dropped` says, then `added`.
    pub(crate) fn kafka_record<'r>(
        &'r self,
        topic: &'r str,
        dropped: impl Fn(&str) -> bool,
        added: &'r [(&'static str, String)],
    ) -> ProducerRecord<'r> {
        let mut record = ProducerRecord::new(topic);
        record.key = self.key.map(|k| &k[..]);
        record.value = self.body.map(|b| &b[..]);
        for (k, v) in self.headers.entries() {
            if !dropped(k) {
                record.headers.push((k, v.as_deref()));
            }
        }
        for (k, v) in added {
            record.headers.push((k, Some(v.as_bytes())));
        }
        record
    }

    /// The message's AMQP properties for forwarding: persistent, no
    /// per-message TTL (it would cut a stage's delay short or expire a
    /// dead letter), its headers but those `dropped` says, then `added`.
    pub(crate) fn amqp_properties(
        &self,
        dropped: impl Fn(&str) -> bool,
        added: &[(&'static str, String)],
    ) -> BasicProperties {
        let mut table = FieldTable::builder();
        for (k, v) in self.headers.entries() {
            if let (false, Some(v)) = (dropped(k), v) {
                // Names over 255 bytes cannot be AMQP header names.
                let _ = table.try_insert(k, crate::publisher::field_value(v));
            }
        }
        for (k, v) in added {
            let _ = table.try_insert(k, v.as_str());
        }
        let mut properties = self
            .amqp_properties
            .cloned()
            .unwrap_or_default()
            .persistent()
            .with_headers(table.build());
        properties.expiration = None;
        properties
    }
}

/// Where dead letters go.
#[derive(Debug, Clone)]
pub(crate) enum DeadLetterSink {
    /// A Kafka topic, through the bus's acks=all producer.
    Kafka {
        producer: kafka::Producer,
        topic: String,
    },
    /// A fanout exchange with a queue of the same name, on a channel in
    /// confirm mode (opened again if the broker closes it).
    Amqp {
        connection: amqp::Connection,
        channel: Arc<Mutex<amqp::Channel>>,
        exchange: String,
    },
}

impl DeadLetterSink {
    /// Creates the dead-letter topic (with `partitions` partitions, the
    /// broker's replication factor); an existing one is fine, and a refusal
    /// (no permission) is logged: the topic may be managed elsewhere.
    pub(crate) async fn create_topic(admin: &kafka::Admin, topic: &str, partitions: i32) {
        match admin
            .create_topics([NewTopic::new(topic, partitions, -1)])
            .await
        {
            Ok(()) => tracing::info!(topic, "dead-letter topic created"),
            Err(kafka::Error::Broker {
                code: ErrorCode::TOPIC_ALREADY_EXISTS,
                ..
            }) => {}
            Err(e) => tracing::warn!(topic, error = %e, "cannot create the dead-letter topic"),
        }
    }

    /// Declares the dead-letter exchange (fanout, durable) and its queue
    /// (durable, same name), bound together, and puts the channel in
    /// confirm mode.
    pub(crate) async fn declare_amqp(channel: &amqp::Channel, name: &str) -> Result<(), Error> {
        channel
            .exchange_declare(name, ExchangeKind::Fanout, ExchangeOptions::durable())
            .await?;
        channel.queue_declare(name, QueueOptions::durable()).await?;
        channel
            .queue_bind(name, name, "", FieldTable::new())
            .await?;
        channel.confirm_select().await?;
        Ok(())
    }

    /// Closes the RabbitMQ channel (Kafka: the bus owns the producer).
    pub(crate) async fn close(&self) -> Result<(), Error> {
        if let DeadLetterSink::Amqp { channel, .. } = self {
            channel.lock().await.close().await?;
        }
        Ok(())
    }

    /// The destination's name.
    pub(crate) fn name(&self) -> &str {
        match self {
            DeadLetterSink::Kafka { topic, .. } => topic,
            DeadLetterSink::Amqp { exchange, .. } => exchange,
        }
    }

    /// Publishes and waits for the broker's confirmation.
    pub(crate) async fn publish(&self, m: &DeadLetter<'_>, f: &FailureRecord) -> Result<(), Error> {
        let added = failure_headers(m.origin, m.group, f);
        let dropped = |k: &str| {
            FAILURE_HEADERS.contains(&k) || crate::delayed_retry::RETRY_HEADERS.contains(&k)
        };
        match self {
            DeadLetterSink::Kafka { producer, topic } => {
                producer
                    .send(m.kafka_record(topic, dropped, &added))
                    .await?;
            }
            DeadLetterSink::Amqp {
                connection,
                channel,
                exchange,
            } => {
                // A per-message TTL would expire the dead letter too: none.
                let properties = m.amqp_properties(dropped, &added);
                let routing_key = match m.metadata {
                    Metadata::Amqp { routing_key, .. } => routing_key,
                    Metadata::Kafka { .. } => "",
                };
                let body = m.body.cloned().unwrap_or_default();
                let ch = {
                    let mut ch = channel.lock().await;
                    if !ch.is_open() {
                        let fresh = connection.open_channel().await?;
                        Self::declare_amqp(&fresh, exchange).await?;
                        *ch = fresh;
                    }
                    ch.clone()
                };
                ch.publish(exchange, routing_key, body, properties)
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
    fn rfc3339_formats_utc_with_millis() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(951_782_400_123); // leap day 2000
        assert_eq!(rfc3339(t), "2000-02-29T00:00:00.123Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_796_594_645);
        assert_eq!(rfc3339(t), "2026-12-06T22:04:05.000Z");
    }

    #[test]
    fn long_errors_are_cut_at_a_char_boundary() {
        assert_eq!(truncate("short".into()), "short");
        let long = "é".repeat(MAX_ERROR_LEN);
        let cut = truncate(long);
        assert!(
            cut.len() <= MAX_ERROR_LEN && cut.ends_with("..."),
            "{}",
            cut.len()
        );
    }

    #[test]
    fn kafka_and_amqp_origins_are_named() {
        let f = FailureRecord {
            reason: Some(Reason::Exhausted),
            error_type: "timeout".into(),
            error: "no answer in 10s".into(),
            attempts: 5,
            first_failure: UNIX_EPOCH,
            last_failure: UNIX_EPOCH + Duration::from_secs(1),
        };
        let k = Metadata::Kafka {
            topic: Arc::from("orders"),
            partition: 3,
            offset: 42,
            timestamp: 0,
        };
        let h = failure_headers(&origin_headers(&k, &Headers::new(), false), "billing", &f);
        let get =
            |h: &[(&str, String)], n: &str| h.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone());
        assert_eq!(get(&h, ORIGIN_TOPIC).as_deref(), Some("orders"));
        assert_eq!(get(&h, ORIGIN_PARTITION).as_deref(), Some("3"));
        assert_eq!(get(&h, ORIGIN_OFFSET).as_deref(), Some("42"));
        assert_eq!(get(&h, CONSUMER_GROUP).as_deref(), Some("billing"));
        assert_eq!(get(&h, ERROR).as_deref(), Some("timeout: no answer in 10s"));
        assert_eq!(get(&h, REASON).as_deref(), Some("exhausted"));
        assert_eq!(get(&h, ATTEMPTS).as_deref(), Some("5"));
        assert_eq!(
            get(&h, LAST_FAILURE).as_deref(),
            Some("1970-01-01T00:00:01.000Z")
        );
        let a = Metadata::Amqp {
            exchange: "orders".into(),
            routing_key: "order.created".into(),
            queue: Arc::from("orders.billing"),
            delivery_tag: 1,
            redelivered: false,
        };
        let h = failure_headers(&origin_headers(&a, &Headers::new(), false), "billing", &f);
        assert_eq!(
            get(&h, ORIGIN_ROUTING_KEY).as_deref(),
            Some("order.created")
        );
        assert_eq!(get(&h, ORIGIN_QUEUE).as_deref(), Some("orders.billing"));
        assert!(get(&h, ORIGIN_TOPIC).is_none());
        // Back from a retry stage, the origin is where it was first read.
        let carried = Headers::new()
            .with(ORIGIN_EXCHANGE, "orders")
            .with(ORIGIN_ROUTING_KEY, "order.paid")
            .with(ORIGIN_QUEUE, "orders.billing");
        let back = Metadata::Amqp {
            exchange: "".into(),
            routing_key: "orders.billing.retry".into(),
            queue: Arc::from("orders.billing.retry"),
            delivery_tag: 2,
            redelivered: false,
        };
        let o = origin_headers(&back, &carried, true);
        assert_eq!(get(&o, ORIGIN_ROUTING_KEY).as_deref(), Some("order.paid"));
        assert_eq!(get(&o, ORIGIN_QUEUE).as_deref(), Some("orders.billing"));
        let o = origin_headers(&back, &carried, false);
        assert_eq!(
            get(&o, ORIGIN_ROUTING_KEY).as_deref(),
            Some("orders.billing.retry")
        );
        // No reason on the way to a retry stage.
        let retrying = FailureRecord { reason: None, ..f };
        assert!(get(&failure_headers(&o, "g", &retrying), REASON).is_none());
    }

    #[test]
    fn rfc3339_parses_what_it_writes() {
        for ms in [0u64, 951_782_400_123, 1_796_594_645_999, 4_102_444_800_000] {
            let t = UNIX_EPOCH + Duration::from_millis(ms);
            assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t), "{}", rfc3339(t));
        }
        assert_eq!(
            parse_rfc3339("2026-12-06T22:04:05Z"),
            Some(UNIX_EPOCH + Duration::from_secs(1_796_594_645))
        );
        assert_eq!(
            parse_rfc3339("2026-12-06T22:04:05.5Z"),
            Some(UNIX_EPOCH + Duration::from_millis(1_796_594_645_500))
        );
        for bad in [
            "",
            "2026-12-06",
            "2026-13-01T00:00:00Z",
            "2026-12-06T22:04:05+01:00",
            "x",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
