//! `mq consume kafka://.../topic`: records to stdout, from every partition
//! of the topic (or `--partition N`), without a consumer group.
//!
//! Each partition starts at `--from`: its earliest offset, its end (the
//! default: only new records), or an offset, moved into the range the
//! partition holds. `--exit-at-end` stops once every partition has been read
//! up to the end it had when `mq` started (at `--isolation`: under
//! read_committed, the default, the last stable offset, so an open
//! transaction at the end does not keep `mq` waiting; under
//! read_uncommitted the high watermark); `--count N` after N records.
//! Records are written batch by batch, straight from the fetched data, and
//! stdout is flushed after each batch.
//!
//! Transaction markers (control batches) are not records: they are not
//! printed, but the reader reports the position moving past them, so a
//! partition that ends with a marker is seen to reach its end.
//!
//! `--format json` writes one object per line:
//!
//! ```text
//! {"topic":"orders","partition":0,"offset":42,"key":"order-1",
//!  "headers":{"source":"seq"},"timestamp":1700000000000,"value":"created"}
//! ```
//!
//! - `key` and `value` are text when they are valid UTF-8; otherwise the
//!   object has `key_base64` or `value_base64` instead (RFC 4648 base64
//!   with padding). A missing key, and the value of a tombstone, are `null`.
//! - `headers` keeps the record's order, repeated keys included. A value is
//!   text when valid UTF-8, else `{"base64": "..."}`, or `null`.
//! - `timestamp` is in milliseconds since the epoch, or `null` when the
//!   record has none (-1).

use std::collections::BTreeMap;

use kafka_proto::record::Record;
use mq_client::kafka::{Offset, OffsetReset, OffsetSpec, PartitionReader};

use super::{KafkaTarget, admin_at, bootstrap, check_partition, describe, failure};
use crate::cli::{ConsumeArgs, OutputFormat, StartArg};
use crate::error::CliError;
use crate::json::{ObjectWriter, base64_into};
use crate::output::Output;
use crate::runtime::block_on;

/// Runs `mq consume` against the cluster `target` names.
pub(crate) fn run(a: &ConsumeArgs, target: &KafkaTarget, out: &mut Output) -> Result<(), CliError> {
    if a.count == Some(0) {
        return Ok(());
    }
    let topic = target.url.topic.as_deref().unwrap_or_default();
    block_on(consume(a, target, topic, out))
}

/// Where a partition starts: `from`, within `[earliest, end]`.
fn start(from: StartArg, earliest: i64, end: i64) -> i64 {
    let end = end.max(earliest);
    match from {
        StartArg::Earliest => earliest,
        StartArg::Latest => end,
        StartArg::Offset(n) => i64::try_from(n).unwrap_or(i64::MAX).clamp(earliest, end),
    }
}

async fn consume(
    a: &ConsumeArgs,
    target: &KafkaTarget,
    topic: &str,
    out: &mut Output,
) -> Result<(), CliError> {
    let doing = format!("consume from topic '{topic}'");
    // The ends (and `--from latest`) at the level the records are read
    // at: a read_committed reader never passes the last stable offset.
    let isolation = a.isolation.unwrap_or_default();
    let admin = admin_at(target, isolation).await?;
    let described = describe(&admin, topic, &doing).await?;
    let partitions: Vec<i32> = match a.partition {
        Some(p) => {
            check_partition(&described, p, &doing)?;
            vec![p]
        }
        None => described.partitions.iter().map(|p| p.partition).collect(),
    };
    let offsets = |spec| admin.list_offsets(topic, &partitions, spec);
    let earliest = offsets(OffsetSpec::Earliest)
        .await
        .map_err(|e| failure(&e, &doing))?;
    let latest = offsets(OffsetSpec::Latest)
        .await
        .map_err(|e| failure(&e, &doing))?;
    let from = a.from.unwrap_or(StartArg::Latest);
    // The partitions to read, with the end each had at the start.
    let mut ends: BTreeMap<i32, i64> = BTreeMap::new();
    let mut reader = PartitionReader::builder(&bootstrap(&target.url))
        .client_config(target.client.clone())
        .auto_offset_reset(OffsetReset::Earliest)
        .isolation_level(isolation);
    for &p in &partitions {
        let first = earliest.get(&p).map_or(0, |o| o.offset);
        let end = latest.get(&p).map_or(first, |o| o.offset);
        let at = start(from, first, end);
        if a.exit_at_end && at >= end {
            continue;
        }
        ends.insert(p, end);
        reader = reader.assign(topic, p, Offset::At(at));
    }
    drop(admin);
    if ends.is_empty() {
        return Ok(());
    }
    let mut reader = reader.build().await.map_err(|e| failure(&e, &doing))?;
    let limit = a.count.unwrap_or(u64::MAX);
    let mut written = 0u64;
    let mut line = Vec::with_capacity(4096);
    loop {
        let batch = reader.next_batch().await.map_err(|e| failure(&e, &doing))?;
        for record in batch.iter() {
            let record = record.map_err(|e| failure(&e, &doing))?;
            write(
                batch.topic(),
                batch.partition(),
                &record,
                a.format,
                &mut line,
                out,
            )?;
            written += 1;
            if written >= limit {
                return out.flush();
            }
        }
        out.flush()?;
        if a.exit_at_end {
            let partition = batch.partition();
            if ends
                .get(&partition)
                .is_some_and(|&end| batch.next_offset() >= end)
            {
                ends.remove(&partition);
            }
            if ends.is_empty() {
                return Ok(());
            }
        }
    }
}

/// Writes one record in `format`.
pub(super) fn write(
    topic: &str,
    partition: i32,
    r: &Record<'_>,
    format: OutputFormat,
    line: &mut Vec<u8>,
    out: &mut Output,
) -> Result<(), CliError> {
    match format {
        OutputFormat::Raw => {
            out.write_all(r.value().unwrap_or_default())?;
            out.write_all(b"\n")
        }
        OutputFormat::Json => {
            line.clear();
            json_line(topic, partition, r, line);
            line.push(b'\n');
            out.write_all(line)
        }
    }
}

/// One record as a JSON object.
fn json_line(topic: &str, partition: i32, r: &Record<'_>, line: &mut Vec<u8>) {
    let mut o = ObjectWriter::new(line);
    o.str("topic", topic)
        .i64("partition", i64::from(partition))
        .i64("offset", r.offset());
    match r.key() {
        Some(k) => o.payload("key", k),
        None => o.null("key"),
    };
    o.object("headers", |o| {
        for h in r.headers() {
            let key = String::from_utf8_lossy(h.key());
            match h.value() {
                None => o.null(&key),
                Some(v) => match std::str::from_utf8(v) {
                    Ok(text) => o.str(&key, text),
                    Err(_) => o.value(&key, |out| {
                        out.extend_from_slice(b"{\"base64\":\"");
                        base64_into(out, v);
                        out.extend_from_slice(b"\"}");
                    }),
                },
            };
        }
    });
    match r.timestamp() {
        t if t < 0 => o.null("timestamp"),
        t => o.i64("timestamp", t),
    };
    match r.value() {
        Some(v) => o.payload("value", v),
        None => o.null("value"),
    };
    o.finish();
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_proto::record::{BatchOptions, BatchReader, RecordBatchBuilder, Records};

    #[test]
    fn the_start_stays_in_the_partition() {
        assert_eq!(start(StartArg::Earliest, 5, 10), 5);
        assert_eq!(start(StartArg::Latest, 5, 10), 10);
        assert_eq!(start(StartArg::Offset(7), 5, 10), 7);
        assert_eq!(start(StartArg::Offset(2), 5, 10), 5);
        assert_eq!(start(StartArg::Offset(99), 5, 10), 10);
        assert_eq!(start(StartArg::Offset(u64::MAX), 0, 0), 0);
    }

    fn records() -> Records {
        let mut b = RecordBatchBuilder::new(BatchOptions::default());
        b.append_with_headers(
            1_700_000_000_000,
            Some(&b"order-1"[..]),
            Some(&b"created"[..]),
            &[("source", Some(&b"seq"[..])), ("source", None)],
        )
        .unwrap();
        b.append_with_headers::<&str, &[u8]>(
            -1,
            Some(&b"\xff\x00"[..]),
            None,
            &[("bin", Some(&b"\xfe"[..]))],
        )
        .unwrap();
        b.append_with_headers::<&str, &[u8]>(5, None, Some(&b"\xff"[..]), &[])
            .unwrap();
        let blob = b.finish().unwrap();
        let batch = BatchReader::new(blob).next().unwrap().unwrap();
        batch.records().unwrap()
    }

    #[test]
    fn records_become_json_lines() {
        let records = records();
        let lines: Vec<String> = records
            .iter()
            .map(|r| {
                let mut line = Vec::new();
                json_line("orders", 3, &r.unwrap(), &mut line);
                String::from_utf8(line).unwrap()
            })
            .collect();
        assert_eq!(
            lines,
            [
                r#"{"topic":"orders","partition":3,"offset":0,"key":"order-1","headers":{"source":"seq","source":null},"timestamp":1700000000000,"value":"created"}"#,
                r#"{"topic":"orders","partition":3,"offset":1,"key_base64":"/wA=","headers":{"bin":{"base64":"/g=="}},"timestamp":null,"value":null}"#,
                r#"{"topic":"orders","partition":3,"offset":2,"key":null,"headers":{},"timestamp":5,"value_base64":"/w=="}"#,
            ]
        );
    }
}
