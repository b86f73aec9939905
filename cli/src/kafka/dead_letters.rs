//! `mq dead-letters list|replay kafka://.../dead-letter-topic`.
//!
//! Both read the dead-letter topic from its earliest offset to the end
//! each partition had when `mq` started, without a group: nothing is
//! committed and the topic is not changed. A replay then sends the chosen
//! records to their origin topic with the producer's defaults (acks=all,
//! idempotent), the same key, and the headers but the failure ones.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use kafka_proto::record::Record;
use mq_client::kafka::{
    Offset, OffsetReset, OffsetSpec, PartitionReader, Producer, ProducerRecord,
};

use super::{KafkaTarget, admin, bootstrap, describe, failure, shown};
use crate::cli::{DeadLettersListArgs, DeadLettersReplayArgs};
use crate::dead_letters::{Letter, Origin, Selection, replayed_header, write_list};
use crate::error::CliError;
use crate::output::Output;
use crate::runtime::block_on;

/// A dead letter read back, with what a replay sends.
#[derive(Debug)]
struct Read {
    letter: Letter,
    key: Option<Bytes>,
    value: Option<Bytes>,
    headers: Vec<(String, Option<Bytes>)>,
}

/// Runs `mq dead-letters list` against the cluster `target` names.
pub(crate) fn list(
    a: &DeadLettersListArgs,
    target: &KafkaTarget,
    out: &mut Output,
) -> Result<(), CliError> {
    let topic = target.url.topic.as_deref().unwrap_or_default();
    let limit = a.count.unwrap_or(u64::MAX);
    block_on(async {
        let mut letters = Vec::new();
        read_all(target, topic, limit, |r| letters.push(r.letter)).await?;
        write_list(&letters, a.format, out)
    })
}

/// Runs `mq dead-letters replay` against the cluster `target` names.
pub(crate) fn replay(
    a: &DeadLettersReplayArgs,
    target: &KafkaTarget,
    out: &mut Output,
) -> Result<(), CliError> {
    let topic = target.url.topic.as_deref().unwrap_or_default();
    let selection = Selection::of(a);
    block_on(async {
        let mut picked: Vec<Read> = Vec::new();
        // A message id dead-lettered more than once: its latest letter.
        let mut by_id: HashMap<String, usize> = HashMap::new();
        read_all(target, topic, u64::MAX, |r| {
            if !selection.picks(&r.letter) {
                return;
            }
            match r.letter.message_id.clone() {
                Some(id) => match by_id.get(&id) {
                    Some(&i) => picked[i] = r,
                    None => {
                        by_id.insert(id, picked.len());
                        picked.push(r);
                    }
                },
                None => picked.push(r),
            }
        })
        .await?;
        let letters: Vec<&Letter> = picked.iter().map(|r| &r.letter).collect();
        selection.check(&letters, &format!("topic '{topic}'"))?;
        let producer = Producer::builder(&bootstrap(&target.url))
            .client_config(target.client.clone())
            .build()
            .await
            .map_err(|e| failure(&e, &format!("connect to {}", shown(&target.url))))?;
        let mut sent = 0usize;
        for r in &picked {
            let Origin::Kafka { topic: origin, .. } = &r.letter.origin else {
                return Err(CliError::new(
                    crate::error::Failure::NotFound,
                    format!(
                        "cannot replay the dead letter {} to Kafka: its origin is a RabbitMQ exchange",
                        r.letter.name()
                    ),
                ));
            };
            let mut record = ProducerRecord::new(origin);
            record.key = r.key.as_deref();
            record.value = r.value.as_deref();
            for (k, v) in &r.headers {
                if replayed_header(k) {
                    record.headers.push((k.as_str(), v.as_deref()));
                }
            }
            let doing = format!(
                "replay the dead letter {} to topic '{origin}' ({sent} of {} replayed before)",
                r.letter.name(),
                picked.len()
            );
            let (partition, offset) = producer
                .send(record)
                .await
                .map_err(|e| failure(&e, &doing))?;
            sent += 1;
            out.line(&format!(
                "replayed {} to topic '{origin}' partition {partition} offset {offset}",
                r.letter.name()
            ))?;
        }
        producer
            .close()
            .await
            .map_err(|e| failure(&e, "close the producer"))?;
        out.line(&format!("{sent} dead letters replayed"))
    })
}

/// Reads the topic from its earliest offsets to the ends they had at the
/// start (at most `limit` records), handing each record to `f`.
async fn read_all(
    target: &KafkaTarget,
    topic: &str,
    limit: u64,
    mut f: impl FnMut(Read),
) -> Result<(), CliError> {
    let doing = format!("read the dead letters of topic '{topic}'");
    let admin = admin(target).await?;
    let described = describe(&admin, topic, &doing).await?;
    let partitions: Vec<i32> = described.partitions.iter().map(|p| p.partition).collect();
    let offsets = |spec| admin.list_offsets(topic, &partitions, spec);
    let earliest = offsets(OffsetSpec::Earliest)
        .await
        .map_err(|e| failure(&e, &doing))?;
    let latest = offsets(OffsetSpec::Latest)
        .await
        .map_err(|e| failure(&e, &doing))?;
    let mut ends: BTreeMap<i32, i64> = BTreeMap::new();
    let mut reader = PartitionReader::builder(&bootstrap(&target.url))
        .client_config(target.client.clone())
        .auto_offset_reset(OffsetReset::Earliest);
    for &p in &partitions {
        let first = earliest.get(&p).map_or(0, |o| o.offset);
        let end = latest.get(&p).map_or(first, |o| o.offset);
        if first < end {
            ends.insert(p, end);
            reader = reader.assign(topic, p, Offset::At(first));
        }
    }
    drop(admin);
    if ends.is_empty() || limit == 0 {
        return Ok(());
    }
    let mut reader = reader.build().await.map_err(|e| failure(&e, &doing))?;
    let mut seen = 0u64;
    while !ends.is_empty() {
        let batch = reader.next_batch().await.map_err(|e| failure(&e, &doing))?;
        let partition = batch.partition();
        let Some(&end) = ends.get(&partition) else {
            continue;
        };
        for record in batch.iter() {
            let record = record.map_err(|e| failure(&e, &doing))?;
            if record.offset() >= end {
                break;
            }
            f(read(partition, &record));
            seen += 1;
            if seen >= limit {
                return Ok(());
            }
        }
        if batch.next_offset() >= end {
            ends.remove(&partition);
        }
    }
    Ok(())
}

/// A record of the dead-letter topic, owned.
fn read(partition: i32, r: &Record<'_>) -> Read {
    let headers: Vec<(String, Option<Bytes>)> = r
        .headers()
        .map(|h| {
            (
                String::from_utf8_lossy(h.key()).into_owned(),
                h.value().map(Bytes::copy_from_slice),
            )
        })
        .collect();
    let get = |name: &str| {
        headers
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.as_deref())
            .map(|v| String::from_utf8_lossy(v).into_owned())
    };
    let letter = Letter::from_headers(format!("{partition}@{}", r.offset()), None, get);
    Read {
        letter,
        key: r.key().map(Bytes::copy_from_slice),
        value: r.value().map(Bytes::copy_from_slice),
        headers,
    }
}
