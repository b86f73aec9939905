//! `mq bench kafka://...`: produce and consume at the same time, through
//! one topic, with a producer and a partition reader in one process.
//!
//! Without a topic in the URL the topic is a temporary one with one
//! partition (and the broker's default replication factor), deleted at the
//! end. A topic named in the URL must exist; it is read from the end it has
//! when the run starts, so records already in it are not counted. At most
//! `--window` records are produced and not yet acknowledged. The harness
//! ([`crate::bench`]) stamps the values, draws progress and sums up.

use std::collections::VecDeque;
use std::time::{SystemTime, UNIX_EPOCH};

use mq_client::kafka::{
    Admin, DeliveryFuture, NewTopic, Offset, OffsetReset, OffsetSpec, PartitionReader, Producer,
    ProducerRecord,
};
use tokio::sync::watch;

use super::produce::{acks, compression};
use super::{KafkaTarget, admin, bootstrap, describe, failure, shown};
use crate::bench::{Bench, Expected, Next, Phase, Receiver, Report, Settings};
use crate::cli::{AcksArg, BenchArgs};
use crate::error::{CliError, Failure};
use crate::output::Output;
use crate::runtime::block_on_threads;

/// Runs `mq bench` against the cluster `target` names.
pub(crate) fn run(a: &BenchArgs, target: &KafkaTarget, out: &mut Output) -> Result<(), CliError> {
    let report = block_on_threads(bench(a, target))?;
    report.print(a.json, out)
}

/// A topic name no other run picks.
fn temporary_topic() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("mq-bench-{}-{nanos:08x}", std::process::id())
}

async fn bench(a: &BenchArgs, target: &KafkaTarget) -> Result<Report, CliError> {
    let admin = admin(target).await?;
    let (topic, temporary) = match &target.url.topic {
        Some(topic) => (topic.clone(), false),
        None => {
            let topic = temporary_topic();
            admin
                .create_topics([NewTopic::new(&topic, 1, -1)])
                .await
                .map_err(|e| failure(&e, &format!("create the temporary topic '{topic}'")))?;
            (topic, true)
        }
    };
    let result = run_on(a, target, &admin, &topic).await;
    if temporary {
        let deleted = admin.delete_topics([topic.as_str()]).await;
        if let (Ok(_), Err(e)) = (&result, deleted) {
            return Err(failure(
                &e,
                &format!("delete the temporary topic '{topic}'"),
            ));
        }
    }
    result
}

async fn run_on(
    a: &BenchArgs,
    target: &KafkaTarget,
    admin: &Admin,
    topic: &str,
) -> Result<Report, CliError> {
    let doing = format!("consume from topic '{topic}'");
    let described = describe(admin, topic, &doing).await?;
    let partitions: Vec<i32> = described.partitions.iter().map(|p| p.partition).collect();
    let ends = admin
        .list_offsets(topic, &partitions, OffsetSpec::Latest)
        .await
        .map_err(|e| failure(&e, &doing))?;
    let mut reader = PartitionReader::builder(&bootstrap(&target.url))
        .client_config(target.client.clone())
        .auto_offset_reset(OffsetReset::Earliest);
    for &p in &partitions {
        let end = ends.get(&p).map_or(0, |o| o.offset);
        reader = reader.assign(topic, p, Offset::At(end));
    }
    let reader = reader.build().await.map_err(|e| failure(&e, &doing))?;
    let codec = compression(a.compression);
    let producer = Producer::builder(&bootstrap(&target.url))
        .client_config(target.client.clone())
        .acks(acks(a.acks))
        .compression(codec)
        .build()
        .await
        .map_err(|e| failure(&e, &format!("connect to {}", shown(&target.url))))?;

    let acks_shown = match a.acks.unwrap_or(AcksArg::All) {
        AcksArg::None => "0",
        AcksArg::Leader => "1",
        AcksArg::All => "all",
    };
    let bench = Bench::start(Settings {
        protocol: "kafka",
        url: shown(&target.url),
        destination: format!("topic {topic}"),
        size: a.size as usize,
        count: a.count,
        window: a.window,
        extra: vec![
            ("partitions", partitions.len().to_string()),
            ("compression", codec.name().to_owned()),
            ("acks", acks_shown.to_owned()),
        ],
    });
    let (done_tx, done_rx) = watch::channel(None);
    let consume = tokio::spawn(consume_loop(
        reader,
        bench.receiver(),
        a.count,
        done_rx,
        doing,
    ));
    let produced = produce_loop(&producer, &bench, topic, a.window as usize).await;
    let _ = done_tx.send(Some(produced.as_ref().map_or(0, |p| p.messages)));
    let produce = match produced {
        Ok(p) => p,
        Err(e) => {
            consume.abort();
            return Err(e);
        }
    };
    let receiver = consume
        .await
        .map_err(|_| CliError::new(Failure::Refused, "the consuming task failed"))??;
    producer
        .close()
        .await
        .map_err(|e| failure(&e, &format!("produce to topic '{topic}'")))?;
    Ok(bench.finish(produce, receiver))
}

/// Produces `count` stamped records with at most `window` unacknowledged.
async fn produce_loop(
    producer: &Producer,
    bench: &Bench,
    topic: &str,
    window: usize,
) -> Result<Phase, CliError> {
    let doing = format!("produce to topic '{topic}'");
    let progress = bench.progress();
    let size = bench.settings().size as u64;
    let mut pending: VecDeque<DeliveryFuture> = VecDeque::with_capacity(window);
    let (mut delivered, mut failed) = (0u64, 0u64);
    let mut settle = |outcome: Result<(i32, i64), mq_client::kafka::Error>| {
        match outcome {
            Ok(_) => delivered += 1,
            Err(_) => failed += 1,
        }
        progress.published(1);
    };
    for _ in 0..bench.settings().count {
        let payload = bench.payload();
        let delivery = producer
            .enqueue(ProducerRecord::new(topic).value(&payload[..]))
            .await
            .map_err(|e| failure(&e, &doing))?;
        pending.push_back(delivery);
        if pending.len() >= window {
            if let Some(d) = pending.pop_front() {
                settle(d.await);
            }
        }
    }
    while let Some(d) = pending.pop_front() {
        settle(d.await);
    }
    Ok(Phase {
        messages: delivered,
        failed,
        bytes: delivered * size,
        elapsed: bench.clock().elapsed(),
    })
}

/// Receives until every record arrived, or, once producing is over (`done`
/// holds the number delivered), until the delivered ones arrived or nothing
/// came for [`IDLE`](crate::bench::expect::IDLE).
async fn consume_loop(
    mut reader: PartitionReader,
    mut receiver: Receiver,
    count: u64,
    done: watch::Receiver<Option<u64>>,
    doing: String,
) -> Result<Receiver, CliError> {
    let mut expected = Expected::new(count, done);
    while receiver.received() < expected.count() {
        let next = match expected.next(reader.next_batch()).await {
            Next::Item(next) => next,
            Next::Recount => continue,
            Next::Idle => break,
        };
        let batch = next.map_err(|e| failure(&e, &doing))?;
        for record in batch.iter() {
            let record = record.map_err(|e| failure(&e, &doing))?;
            receiver.record(record.value().unwrap_or_default());
        }
    }
    Ok(receiver)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::url::validate_topic;

    #[test]
    fn temporary_topic_names_are_legal() {
        let a = temporary_topic();
        assert!(validate_topic(&a).is_ok(), "{a}");
        assert!(a.starts_with("mq-bench-"));
    }
}
