//! `mq dead-letters list|replay`, both protocols: what a dead letter made
//! by mq-service says about itself (its `x-mq-*` headers, whose names come
//! from [`mq_service::dead_letter`]), how a listing shows it, which dead
//! letters a replay picks, and which headers a replay drops.
//!
//! The protocol sides are [`crate::kafka`]'s and [`crate::amqp`]'s
//! `dead_letters` modules.

use std::collections::BTreeSet;

use mq_service::dead_letter as dl;
use mq_service::delayed_retry::{BROKER_DEATH_HEADERS, RETRY_HEADERS};
use mq_service::publisher::MESSAGE_ID_HEADER;

use crate::cli::{DeadLettersFormat, DeadLettersReplayArgs};
use crate::error::{CliError, Failure};
use crate::json::ObjectWriter;
use crate::output::Output;

/// Where a dead letter came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A Kafka record.
    Kafka {
        topic: String,
        partition: Option<String>,
        offset: Option<String>,
    },
    /// A RabbitMQ message.
    Amqp {
        exchange: String,
        routing_key: String,
        queue: Option<String>,
    },
    /// No origin headers: not a dead letter of mq-service.
    Unknown,
}

/// One dead letter, as its headers describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Letter {
    /// `x-mq-message-id` (or the AMQP `message_id` property).
    pub(crate) message_id: Option<String>,
    /// Where the dead letter itself is: `partition@offset` in its topic
    /// (Kafka), or its place in the queue from 1 (RabbitMQ).
    pub(crate) position: String,
    pub(crate) origin: Origin,
    pub(crate) group: Option<String>,
    pub(crate) reason: Option<String>,
    pub(crate) error_type: Option<String>,
    pub(crate) error: Option<String>,
    pub(crate) attempts: Option<String>,
    pub(crate) first_failure: Option<String>,
    pub(crate) last_failure: Option<String>,
}

impl Letter {
    /// Reads a dead letter's headers through `get` (the last value of a
    /// header, as text).
    pub(crate) fn from_headers(
        position: String,
        message_id: Option<String>,
        get: impl Fn(&str) -> Option<String>,
    ) -> Letter {
        let origin = if let Some(topic) = get(dl::ORIGIN_TOPIC) {
            Origin::Kafka {
                topic,
                partition: get(dl::ORIGIN_PARTITION),
                offset: get(dl::ORIGIN_OFFSET),
            }
        } else if let Some(exchange) = get(dl::ORIGIN_EXCHANGE) {
            Origin::Amqp {
                exchange,
                routing_key: get(dl::ORIGIN_ROUTING_KEY).unwrap_or_default(),
                queue: get(dl::ORIGIN_QUEUE),
            }
        } else {
            Origin::Unknown
        };
        Letter {
            message_id: get(MESSAGE_ID_HEADER).or(message_id),
            position,
            origin,
            group: get(dl::CONSUMER_GROUP),
            reason: get(dl::REASON),
            error_type: get(dl::ERROR_TYPE),
            error: get(dl::ERROR),
            attempts: get(dl::ATTEMPTS),
            first_failure: get(dl::FIRST_FAILURE),
            last_failure: get(dl::LAST_FAILURE),
        }
    }

    /// The origin in one word: `topic[partition]@offset`, or
    /// `exchange:routing-key` (the default exchange as `(default)`).
    fn origin_text(&self) -> String {
        match &self.origin {
            Origin::Kafka {
                topic,
                partition,
                offset,
            } => format!(
                "{topic}[{}]@{}",
                partition.as_deref().unwrap_or("?"),
                offset.as_deref().unwrap_or("?")
            ),
            Origin::Amqp {
                exchange,
                routing_key,
                ..
            } => {
                let x = if exchange.is_empty() {
                    "(default)"
                } else {
                    exchange
                };
                format!("{x}:{routing_key}")
            }
            Origin::Unknown => "-".to_owned(),
        }
    }

    /// Its name in messages: the message id, else its position.
    pub(crate) fn name(&self) -> String {
        match &self.message_id {
            Some(id) => format!("'{id}'"),
            None => format!("at {}", self.position),
        }
    }
}

/// Whether a header goes with a replayed message: not the failure
/// headers, the retry-stage headers, or RabbitMQ's dead-lettering ones.
pub(crate) fn replayed_header(name: &str) -> bool {
    !dl::FAILURE_HEADERS.contains(&name)
        && !RETRY_HEADERS.contains(&name)
        && !BROKER_DEATH_HEADERS.contains(&name)
}

/// Which dead letters a replay takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Selection {
    /// Every one.
    All,
    /// Those with these message ids.
    Ids(BTreeSet<String>),
}

impl Selection {
    pub(crate) fn of(a: &DeadLettersReplayArgs) -> Selection {
        if a.all {
            Selection::All
        } else {
            Selection::Ids(a.message_ids.iter().cloned().collect())
        }
    }

    /// Whether `letter` is picked.
    pub(crate) fn picks(&self, letter: &Letter) -> bool {
        match self {
            Selection::All => true,
            Selection::Ids(ids) => letter
                .message_id
                .as_ref()
                .is_some_and(|id| ids.contains(id)),
        }
    }

    /// Checks, before anything is replayed, that every id asked for was
    /// found and every picked dead letter has an origin to go back to.
    pub(crate) fn check(&self, picked: &[&Letter], source: &str) -> Result<(), CliError> {
        if let Selection::Ids(ids) = self {
            let found: BTreeSet<&str> = picked
                .iter()
                .filter_map(|l| l.message_id.as_deref())
                .collect();
            let missing: Vec<&str> = ids
                .iter()
                .map(String::as_str)
                .filter(|id| !found.contains(id))
                .collect();
            if !missing.is_empty() {
                return Err(CliError::new(
                    Failure::NotFound,
                    format!(
                        "cannot replay: no dead letter with message id {} in {source}; nothing was replayed",
                        quoted(&missing)
                    ),
                ));
            }
        }
        if let Some(l) = picked.iter().find(|l| l.origin == Origin::Unknown) {
            return Err(CliError::new(
                Failure::NotFound,
                format!(
                    "cannot replay the dead letter {} of {source}: it has no {} or {} header to say \
                     where it came from; nothing was replayed",
                    l.name(),
                    dl::ORIGIN_TOPIC,
                    dl::ORIGIN_EXCHANGE
                ),
            ));
        }
        Ok(())
    }
}

fn quoted(ids: &[&str]) -> String {
    ids.iter()
        .map(|id| format!("'{id}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes a listing: a table with a header line, or one JSON object per
/// dead letter.
pub(crate) fn write_list(
    letters: &[Letter],
    format: DeadLettersFormat,
    out: &mut Output,
) -> Result<(), CliError> {
    match format {
        DeadLettersFormat::Table => write_table(letters, out),
        DeadLettersFormat::Json => {
            let mut line = Vec::with_capacity(512);
            for l in letters {
                line.clear();
                json_line(l, &mut line);
                line.push(b'\n');
                out.write_all(&line)?;
            }
            Ok(())
        }
    }
}

const COLUMNS: [&str; 8] = [
    "POSITION",
    "MESSAGE ID",
    "ORIGIN",
    "REASON",
    "ATTEMPTS",
    "FIRST FAILURE",
    "LAST FAILURE",
    "ERROR",
];

fn write_table(letters: &[Letter], out: &mut Output) -> Result<(), CliError> {
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
    let rows: Vec<[String; 8]> = letters
        .iter()
        .map(|l| {
            [
                l.position.clone(),
                dash(&l.message_id),
                l.origin_text(),
                dash(&l.reason),
                dash(&l.attempts),
                dash(&l.first_failure),
                dash(&l.last_failure),
                // One line, whatever the error held.
                dash(&l.error).replace(['\n', '\r'], " "),
            ]
        })
        .collect();
    let mut widths = COLUMNS.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 8]| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  "));
            }
        }
        s
    };
    out.line(&line(COLUMNS))?;
    for row in &rows {
        out.line(&line(row.each_ref().map(String::as_str)))?;
    }
    Ok(())
}

/// One dead letter as a JSON object.
fn json_line(l: &Letter, line: &mut Vec<u8>) {
    let mut o = ObjectWriter::new(line);
    let opt = |o: &mut ObjectWriter<'_>, k: &str, v: &Option<String>| {
        match v {
            Some(v) => o.str(k, v),
            None => o.null(k),
        };
    };
    o.str("position", &l.position);
    opt(&mut o, "message_id", &l.message_id);
    o.object("origin", |o| match &l.origin {
        Origin::Kafka {
            topic,
            partition,
            offset,
        } => {
            o.str("topic", topic);
            opt(o, "partition", partition);
            opt(o, "offset", offset);
        }
        Origin::Amqp {
            exchange,
            routing_key,
            queue,
        } => {
            o.str("exchange", exchange).str("routing_key", routing_key);
            opt(o, "queue", queue);
        }
        Origin::Unknown => {}
    });
    opt(&mut o, "group", &l.group);
    opt(&mut o, "reason", &l.reason);
    opt(&mut o, "error_type", &l.error_type);
    opt(&mut o, "error", &l.error);
    match l.attempts.as_deref().and_then(|a| a.parse::<u64>().ok()) {
        Some(n) => o.u64("attempts", n),
        None => o.null("attempts"),
    };
    opt(&mut o, "first_failure", &l.first_failure);
    opt(&mut o, "last_failure", &l.last_failure);
    o.finish();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn letter(headers: &[(&str, &str)], id: Option<&str>) -> Letter {
        let h: HashMap<String, String> = headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Letter::from_headers("0@7".into(), id.map(str::to_owned), |n| h.get(n).cloned())
    }

    fn kafka_letter() -> Letter {
        letter(
            &[
                (MESSAGE_ID_HEADER, "order-1"),
                (dl::ORIGIN_TOPIC, "orders"),
                (dl::ORIGIN_PARTITION, "2"),
                (dl::ORIGIN_OFFSET, "41"),
                (dl::CONSUMER_GROUP, "billing"),
                (dl::REASON, "exhausted"),
                (dl::ERROR_TYPE, "Error"),
                (dl::ERROR, "Error: card\ndeclined"),
                (dl::ATTEMPTS, "3"),
                (dl::FIRST_FAILURE, "2026-12-06T21:04:05.123Z"),
                (dl::LAST_FAILURE, "2026-12-06T21:04:10.456Z"),
            ],
            None,
        )
    }

    #[test]
    fn headers_make_a_letter() {
        let l = kafka_letter();
        assert_eq!(l.message_id.as_deref(), Some("order-1"));
        assert_eq!(l.origin_text(), "orders[2]@41");
        let a = letter(
            &[
                (dl::ORIGIN_EXCHANGE, ""),
                (dl::ORIGIN_ROUTING_KEY, "orders"),
            ],
            Some("from-the-property"),
        );
        assert_eq!(a.origin_text(), "(default):orders");
        assert_eq!(a.message_id.as_deref(), Some("from-the-property"));
        let none = letter(&[], None);
        assert_eq!(none.origin, Origin::Unknown);
        assert_eq!(none.name(), "at 0@7");
    }

    #[test]
    fn listings_are_a_table_or_json_lines() {
        let l = kafka_letter();
        let mut line = Vec::new();
        json_line(&l, &mut line);
        assert_eq!(
            String::from_utf8(line).unwrap(),
            r#"{"position":"0@7","message_id":"order-1","origin":{"topic":"orders","partition":"2","offset":"41"},"group":"billing","reason":"exhausted","error_type":"Error","error":"Error: card\ndeclined","attempts":3,"first_failure":"2026-12-06T21:04:05.123Z","last_failure":"2026-12-06T21:04:10.456Z"}"#
        );
    }

    #[test]
    fn replays_drop_the_failure_headers_only() {
        assert!(!replayed_header(dl::ERROR));
        assert!(!replayed_header(dl::ORIGIN_TOPIC));
        assert!(!replayed_header("x-mq-retry-stage"));
        assert!(!replayed_header("x-death"));
        assert!(replayed_header(MESSAGE_ID_HEADER));
        assert!(replayed_header("traceparent"));
        assert!(replayed_header("content-type"));
    }

    #[test]
    fn a_selection_is_checked_before_anything_is_replayed() {
        let l = kafka_letter();
        let ids = Selection::Ids(["order-1".to_owned()].into());
        assert!(ids.picks(&l));
        assert!(ids.check(&[&l], "topic 'orders.dead'").is_ok());
        let two = Selection::Ids(["order-1".to_owned(), "order-9".to_owned()].into());
        let e = two.check(&[&l], "topic 'orders.dead'").unwrap_err();
        assert_eq!(e.kind(), Failure::NotFound);
        assert!(e.to_string().contains("'order-9'"), "{e}");
        let orphan = letter(&[], None);
        assert!(Selection::All.picks(&orphan));
        let e = Selection::All
            .check(&[&l, &orphan], "queue 'd'")
            .unwrap_err();
        assert!(e.to_string().contains("x-mq-origin-topic"), "{e}");
    }
}
