//! `mq produce kafka://.../topic`: one record per stdin line, each
//! acknowledged (per `--acks`) before `mq` exits.
//!
//! With `--key-delimiter C` a line is split at the first `C` into key and
//! value; a line without it is a value with no key. Every record gets the
//! `--header`s, in order. A record that is not delivered (too large,
//! refused by the broker, timed out after the producer's retries) does not
//! stop the rest; at the end one line counts them by reason and the exit
//! status is [`Failure::NotConfirmed`]. The topic must exist: `mq` never
//! creates one by producing to it.

use std::collections::VecDeque;

use mq_client::kafka::{Acks, Compression, DeliveryFuture, Error, Producer, ProducerRecord};

use super::{KafkaTarget, admin, bootstrap, check_partition, describe, failure, shown};
use crate::cli::{AcksArg, CompressionArg, ProduceArgs};
use crate::error::{CliError, Failure};
use crate::input::Lines;
use crate::runtime::block_on;

/// Records enqueued and not yet acknowledged, at most. The producer
/// bounds its buffer itself; this bounds the deliveries `mq` tracks.
const WINDOW: usize = 10_000;

/// Distinct failure reasons named in the final line; more are counted as
/// "other".
const REASONS: usize = 3;

/// The codec of `--compression`.
pub(super) fn compression(c: Option<CompressionArg>) -> Compression {
    match c.unwrap_or(CompressionArg::None) {
        CompressionArg::None => Compression::None,
        CompressionArg::Gzip => Compression::Gzip,
        CompressionArg::Snappy => Compression::Snappy,
        CompressionArg::Lz4 => Compression::Lz4,
        CompressionArg::Zstd => Compression::Zstd,
    }
}

/// The acknowledgements of `--acks`.
pub(super) fn acks(a: Option<AcksArg>) -> Acks {
    match a.unwrap_or(AcksArg::All) {
        AcksArg::None => Acks::None,
        AcksArg::Leader => Acks::Leader,
        AcksArg::All => Acks::All,
    }
}

/// Runs `mq produce` against the cluster `target` names.
pub(crate) fn run(a: &ProduceArgs, target: &KafkaTarget) -> Result<(), CliError> {
    let topic = target.url.topic.as_deref().unwrap_or_default();
    let doing = format!("produce to topic '{topic}'");
    block_on(async {
        let admin = admin(target).await?;
        let described = describe(&admin, topic, &doing).await.map_err(|e| {
            if e.kind() == Failure::NotFound {
                // mq creates no topic by producing; say how to.
                CliError::new(
                    e.kind(),
                    format!("{e} (create it with 'mq topic create {}')", target.url),
                )
            } else {
                e
            }
        })?;
        if let Some(p) = a.partition {
            check_partition(&described, p, &doing)?;
        }
        drop(admin);
        let producer = Producer::builder(&bootstrap(&target.url))
            .client_config(target.client.clone())
            .acks(acks(a.acks))
            .compression(compression(a.compression))
            .build()
            .await
            .map_err(|e| failure(&e, &format!("connect to {}", shown(&target.url))))?;
        // A failure that ends producing returns at once: closing would
        // wait for records that cannot be delivered any more.
        let tally = produce_stdin(&producer, a, topic, &doing).await?;
        producer.close().await.map_err(|e| failure(&e, &doing))?;
        tally.verdict()
    })
}

/// Settled records, by outcome.
#[derive(Debug, Default)]
struct Tally {
    /// Lines read.
    total: u64,
    delivered: u64,
    failed: u64,
    /// The first few reasons, each with its count.
    reasons: Vec<(String, u64)>,
    /// Failures for other reasons.
    other: u64,
}

impl Tally {
    fn settle(&mut self, outcome: Result<(i32, i64), Error>) {
        match outcome {
            Ok(_) => self.delivered += 1,
            Err(e) => self.fail(&e),
        }
    }

    fn fail(&mut self, e: &Error) {
        self.failed += 1;
        let reason = e.to_string();
        if let Some((_, n)) = self.reasons.iter_mut().find(|(r, _)| *r == reason) {
            *n += 1;
        } else if self.reasons.len() < REASONS {
            self.reasons.push((reason, 1));
        } else {
            self.other += 1;
        }
    }

    /// The failure line, if any record was not delivered.
    fn verdict(&self) -> Result<(), CliError> {
        if self.failed == 0 {
            return Ok(());
        }
        let records = |n: u64| {
            if n == 1 {
                "1 record".to_owned()
            } else {
                format!("{n} records")
            }
        };
        let mut parts: Vec<String> = self
            .reasons
            .iter()
            .map(|(r, n)| format!("{r} ({})", records(*n)))
            .collect();
        if self.other > 0 {
            parts.push(format!("other reasons ({})", records(self.other)));
        }
        Err(CliError::new(
            Failure::NotConfirmed,
            format!(
                "{} of {} records were not delivered: {}",
                self.failed,
                self.total,
                parts.join("; ")
            ),
        ))
    }
}

/// Splits a line at the first `delimiter` into key and value.
fn split<'a>(line: &'a [u8], delimiter: Option<&[u8]>) -> (Option<&'a [u8]>, &'a [u8]) {
    let Some(d) = delimiter.filter(|d| !d.is_empty()) else {
        return (None, line);
    };
    match line.windows(d.len()).position(|w| w == d) {
        Some(i) => {
            let key = line.get(..i).unwrap_or_default();
            let value = line.get(i + d.len()..).unwrap_or_default();
            (Some(key), value)
        }
        None => (None, line),
    }
}

async fn produce_stdin(
    producer: &Producer,
    a: &ProduceArgs,
    topic: &str,
    doing: &str,
) -> Result<Tally, CliError> {
    let headers: Vec<(&str, Option<&[u8]>)> = a
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), Some(v.as_bytes())))
        .collect();
    let delimiter = a.key_delimiter.as_deref().map(str::as_bytes);
    let mut lines = Lines::new(tokio::io::stdin());
    let mut pending: VecDeque<DeliveryFuture> = VecDeque::new();
    let mut tally = Tally::default();
    loop {
        // While stdin is quiet (a terminal, a slow pipe), deliveries are
        // settled as they come. Both branches are safe to cancel: `Lines`
        // keeps its state between calls, and a delivery can be polled again.
        let line = tokio::select! {
            biased;
            Some(outcome) = oldest(&mut pending) => {
                pending.pop_front();
                tally.settle(outcome);
                continue;
            }
            line = lines.next() => match line? {
                Some(line) => line,
                None => break,
            },
        };
        tally.total += 1;
        let (key, value) = split(&line, delimiter);
        let record = ProducerRecord {
            topic,
            partition: a.partition,
            key,
            value: Some(value),
            headers: headers.clone(),
            timestamp: None,
        };
        match producer.enqueue(record).await {
            Ok(delivery) => pending.push_back(delivery),
            Err(e @ Error::RecordTooLarge { .. }) => tally.fail(&e),
            Err(e) => return Err(unsettled(failure(&e, doing), pending.len())),
        }
        if pending.len() >= WINDOW {
            if let Some(d) = pending.pop_front() {
                tally.settle(d.await);
            }
        }
    }
    while let Some(d) = pending.pop_front() {
        tally.settle(d.await);
    }
    Ok(tally)
}

/// The outcome of the oldest delivery (left in place), or `None` at once
/// if none is awaited.
async fn oldest(pending: &mut VecDeque<DeliveryFuture>) -> Option<Result<(i32, i64), Error>> {
    match pending.front_mut() {
        Some(delivery) => Some(delivery.await),
        None => None,
    }
}

/// A failure that ends producing, with the count of records enqueued
/// before it whose delivery is not known.
fn unsettled(e: CliError, waiting: usize) -> CliError {
    match waiting {
        0 => e,
        1 => CliError::new(e.kind(), format!("{e} (1 other record was not confirmed)")),
        n => CliError::new(
            e.kind(),
            format!("{e} ({n} other records were not confirmed)"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mq_client::kafka::ErrorCode;

    #[test]
    fn lines_split_at_the_first_delimiter() {
        assert_eq!(split(b"k:v:w", Some(b":")), (Some(&b"k"[..]), &b"v:w"[..]));
        assert_eq!(split(b":v", Some(b":")), (Some(&b""[..]), &b"v"[..]));
        assert_eq!(split(b"k:", Some(b":")), (Some(&b"k"[..]), &b""[..]));
        assert_eq!(split(b"novalue", Some(b":")), (None, &b"novalue"[..]));
        assert_eq!(split(b"a::b", Some(b"::")), (Some(&b"a"[..]), &b"b"[..]));
        assert_eq!(split(b"k:v", None), (None, &b"k:v"[..]));
        assert_eq!(split(b"", Some(b":")), (None, &b""[..]));
    }

    #[test]
    fn the_verdict_counts_failures_by_reason() {
        let mut t = Tally {
            total: 7,
            ..Tally::default()
        };
        assert!(t.verdict().is_ok());
        t.settle(Ok((0, 1)));
        let too_large = Error::RecordTooLarge { size: 9, limit: 5 };
        t.fail(&too_large);
        t.fail(&too_large);
        for code in [
            ErrorCode::MESSAGE_TOO_LARGE,
            ErrorCode::INVALID_RECORD,
            ErrorCode::CORRUPT_MESSAGE,
        ] {
            t.settle(Err(Error::Broker {
                code,
                context: None,
            }));
        }
        let e = t.verdict().unwrap_err();
        assert_eq!(e.kind(), Failure::NotConfirmed);
        assert_eq!(
            e.to_string(),
            "5 of 7 records were not delivered: \
             record of 9 bytes exceeds the limit of 5 bytes (2 records); \
             MESSAGE_TOO_LARGE (10) (1 record); INVALID_RECORD (87) (1 record); \
             other reasons (1 record)"
        );
    }

    #[test]
    fn options_map_to_the_client() {
        assert_eq!(compression(None), Compression::None);
        assert_eq!(compression(Some(CompressionArg::Zstd)), Compression::Zstd);
        assert_eq!(acks(None), Acks::All);
        assert_eq!(acks(Some(AcksArg::None)), Acks::None);
        assert_eq!(acks(Some(AcksArg::Leader)), Acks::Leader);
        let e = unsettled(CliError::new(Failure::Unreachable, "gone"), 3);
        assert_eq!(e.to_string(), "gone (3 other records were not confirmed)");
    }
}
