//! `mq consume kafka://.../topic --share-group G`: records to stdout as a
//! member of share group G (KIP-932, Kafka 4.1+), on
//! `mq_client::kafka::ShareConsumer`.
//!
//! The members of a share group share the topic's partitions record by
//! record (other `mq consume --share-group G`, Java's
//! `kafka-console-share-consumer`). Each record is accepted after it was
//! written and stdout flushed: one that could not be written is not
//! accepted, and goes back to the group when mq leaves (or when its
//! acquisition lock expires). Where a new group starts is the group's
//! `share.auto.offset.reset` config (latest unless set), so `--from`,
//! `--partition`, `--exit-at-end` and `--isolation` are refused.
//!
//! `--count N` stops after N records. On it, a closed stdout, Ctrl-C or
//! SIGTERM, mq sends its last acknowledgements, closes its share sessions
//! and leaves the group.
//!
//! `--format json` writes the objects of [`mod@super::consume`], with one
//! more field, `delivery_count` (1 on the first delivery).

use mq_client::kafka::{IsolationLevel, ShareConsumer, ShareRecord};

use super::group::Signals;
use super::{KafkaTarget, admin_at, bootstrap, describe, failure};
use crate::cli::{ConsumeArgs, OutputFormat};
use crate::error::{CliError, Failure};
use crate::json::{ObjectWriter, base64_into};
use crate::output::Output;
use crate::runtime::block_on_threads;

/// Runs `mq consume --share-group` against the cluster `target` names.
pub(crate) fn run(
    a: &ConsumeArgs,
    target: &KafkaTarget,
    group: &str,
    out: &mut Output,
) -> Result<(), CliError> {
    if a.count == Some(0) {
        return Ok(());
    }
    let topic = target.url.topic.as_deref().unwrap_or_default();
    // Worker threads run the heartbeats and fetches while this thread
    // waits for a slow reader of stdout.
    block_on_threads(consume(a, target, topic, group, out))
}

async fn consume(
    a: &ConsumeArgs,
    target: &KafkaTarget,
    topic: &str,
    group: &str,
    out: &mut Output,
) -> Result<(), CliError> {
    let doing = format!("consume from topic '{topic}' in share group '{group}'");
    let admin = admin_at(target, IsolationLevel::default()).await?;
    describe(&admin, topic, &doing).await?;
    let mut consumer = ShareConsumer::builder(&bootstrap(&target.url))
        .client_config(target.client.clone())
        .group(group)
        .subscribe([topic])
        .build()
        .await
        .map_err(|e| failure(&e, &doing))?;
    let result = read(a, &mut consumer, &doing, out).await;
    match result {
        // The broker failed us: leaving may fail too, and the session
        // timeout removes the member anyway.
        Err(e) if !matches!(e.kind(), Failure::BrokenPipe | Failure::Io) => Err(e),
        result => {
            let closed = consumer.close().await.map_err(|e| {
                failure(
                    &e,
                    &format!("acknowledge the records of share group '{group}'"),
                )
            });
            result.and(closed)
        }
    }
}

/// Writes and accepts records until `--count` or a signal stops it.
async fn read(
    a: &ConsumeArgs,
    consumer: &mut ShareConsumer,
    doing: &str,
    out: &mut Output,
) -> Result<(), CliError> {
    let mut signals = Signals::new().map_err(|e| {
        CliError::new(
            Failure::Io,
            format!("cannot {doing}: cannot handle signals: {e}"),
        )
    })?;
    let limit = a.count.unwrap_or(u64::MAX);
    let mut written = 0u64;
    let mut line = Vec::with_capacity(4096);
    loop {
        let item = tokio::select! {
            item = futures_util::StreamExt::next(consumer) => item,
            () = signals.recv() => return Ok(()),
        };
        let record = match item {
            Some(Ok(r)) => r,
            Some(Err(e)) => return Err(failure(&e, doing)),
            None => return Ok(()),
        };
        write(&record, a.format, &mut line, out)?;
        out.flush()?;
        // Written and flushed: now it is processed.
        record.accept().map_err(|e| failure(&e, doing))?;
        written += 1;
        if written >= limit {
            return Ok(());
        }
    }
}

/// Writes one record: its value (raw) or a JSON object.
fn write(
    r: &ShareRecord,
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
            json_line(r, line);
            line.push(b'\n');
            out.write_all(line)
        }
    }
}

/// One record as a JSON object, as `mq consume` writes them, with its
/// delivery count.
fn json_line(r: &ShareRecord, line: &mut Vec<u8>) {
    let mut o = ObjectWriter::new(line);
    o.str("topic", r.topic())
        .i64("partition", i64::from(r.partition))
        .i64("offset", r.offset)
        .i64("delivery_count", i64::from(r.delivery_count));
    match r.key() {
        Some(k) => o.payload("key", k),
        None => o.null("key"),
    };
    o.object("headers", |o| {
        for (k, v) in &r.headers {
            let key = String::from_utf8_lossy(k);
            match v.as_deref() {
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
    match r.timestamp {
        t if t < 0 => o.null("timestamp"),
        t => o.i64("timestamp", t),
    };
    match r.value() {
        Some(v) => o.payload("value", v),
        None => o.null("value"),
    };
    o.finish();
}
