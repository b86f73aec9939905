//! Helpers shared by the consumer-group integration tests: a group member
//! running in its own task (consuming, committing after processing, and
//! recording what its rebalance listener hears), producers, and waiting.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use mq_client::kafka::{
    Assignor, Consumer, ConsumerBuilder, Error, GroupProtocol, OffsetReset, Producer,
    ProducerRecord, Rebalance, RebalanceListener, TopicPartition,
};
use mq_tests::endpoints;
use tokio::sync::mpsc;

/// What a member's listener heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Assigned(Vec<TopicPartition>),
    Revoked(Vec<TopicPartition>),
    Lost(Vec<TopicPartition>),
}

/// A global clock of test events, so records and commits of different
/// members can be ordered.
pub static CLOCK: AtomicU64 = AtomicU64::new(0);

pub fn tick() -> u64 {
    CLOCK.fetch_add(1, Ordering::SeqCst)
}

/// A record a member processed.
#[derive(Debug, Clone)]
pub struct Processed {
    pub member: String,
    pub partition: i32,
    pub offset: i64,
    pub value: String,
    pub at: u64,
}

/// A commit that the coordinator accepted.
#[derive(Debug, Clone)]
pub struct Committed {
    pub member: String,
    pub partition: i32,
    /// The committed offset (the next to read).
    pub offset: i64,
    pub at: u64,
}

/// Everything the members of one test record.
#[derive(Debug, Default)]
pub struct Log {
    pub processed: Mutex<Vec<Processed>>,
    pub committed: Mutex<Vec<Committed>>,
}

/// A listener that records events and keeps the member's owned set.
#[derive(Debug, Clone)]
pub struct Recorder {
    pub events: Arc<Mutex<Vec<Event>>>,
    /// The same events, stamped with the global [`tick`] when they ended.
    pub timeline: Arc<Mutex<Vec<(u64, Event)>>>,
    pub owned: Arc<Mutex<BTreeSet<TopicPartition>>>,
    /// The consumer's generation, as its task last saw it (every 100 ms).
    pub generation: Arc<AtomicI32>,
}

impl Recorder {
    pub fn new() -> Self {
        Recorder {
            events: Arc::default(),
            timeline: Arc::default(),
            owned: Arc::default(),
            generation: Arc::new(AtomicI32::new(-1)),
        }
    }
}

impl RebalanceListener for Recorder {
    async fn on_assigned(&mut self, _ctx: &mut Rebalance<'_>, partitions: &[TopicPartition]) {
        self.owned
            .lock()
            .unwrap()
            .extend(partitions.iter().cloned());
        self.events
            .lock()
            .unwrap()
            .push(Event::Assigned(partitions.to_vec()));
        self.timeline
            .lock()
            .unwrap()
            .push((tick(), Event::Assigned(partitions.to_vec())));
    }

    async fn on_revoked(&mut self, _ctx: &mut Rebalance<'_>, partitions: &[TopicPartition]) {
        let mut owned = self.owned.lock().unwrap();
        for tp in partitions {
            owned.remove(tp);
        }
        self.events
            .lock()
            .unwrap()
            .push(Event::Revoked(partitions.to_vec()));
        self.timeline
            .lock()
            .unwrap()
            .push((tick(), Event::Revoked(partitions.to_vec())));
    }

    async fn on_lost(&mut self, _ctx: &mut Rebalance<'_>, partitions: &[TopicPartition]) {
        let mut owned = self.owned.lock().unwrap();
        for tp in partitions {
            owned.remove(tp);
        }
        self.events
            .lock()
            .unwrap()
            .push(Event::Lost(partitions.to_vec()));
        self.timeline
            .lock()
            .unwrap()
            .push((tick(), Event::Lost(partitions.to_vec())));
    }
}

/// How a member task ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// `close()`: commit and leave.
    Close,
    /// Drop the consumer: no commit, no LeaveGroup.
    Crash,
    /// After processing the next record, crash before committing it.
    CrashMidRecord,
}

/// A consumer running in its own task.
pub struct Member {
    pub name: String,
    pub recorder: Recorder,
    stop: mpsc::Sender<Stop>,
    task: tokio::task::JoinHandle<Result<(), Error>>,
}

impl Member {
    /// The partitions the member owns, per its listener.
    pub fn owned(&self) -> BTreeSet<TopicPartition> {
        self.recorder.owned.lock().unwrap().clone()
    }

    pub fn events(&self) -> Vec<Event> {
        self.recorder.events.lock().unwrap().clone()
    }

    /// The member's group generation (as of at most 100 ms ago).
    pub fn generation(&self) -> i32 {
        self.recorder.generation.load(Ordering::SeqCst)
    }

    /// Stops the member and waits for its task.
    pub async fn stop(self, how: Stop) {
        let _ = self.stop.send(how).await;
        match tokio::time::timeout(Duration::from_secs(60), self.task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => panic!("member {} failed: {e}", self.name),
            Ok(Err(e)) => panic!("member {} panicked: {e}", self.name),
            Err(_) => panic!("member {} did not stop", self.name),
        }
    }
}

/// A consumer builder with test-friendly timeouts: the broker's minimum
/// session timeout (6 s) and a 500 ms heartbeat. `MQ_GROUP_PROTOCOL=consumer`
/// runs the test on the KIP-848 protocol instead of the classic one.
pub fn builder(group: &str) -> ConsumerBuilder {
    Consumer::builder(&endpoints::kafka_bootstrap())
        .group(group)
        .group_protocol(protocol())
        .auto_offset_reset(OffsetReset::Earliest)
        .session_timeout(Duration::from_secs(6))
        .heartbeat_interval(Duration::from_millis(500))
        .rebalance_timeout(Duration::from_secs(20))
        .fetch_max_wait(Duration::from_millis(100))
}

/// Starts a member of `group` on `topic` with `assignor`, committing each
/// record after processing it, logging into `log`.
pub async fn spawn_member(
    name: &str,
    group: &str,
    topic: &str,
    assignor: Assignor,
    log: Arc<Log>,
) -> Member {
    spawn_with(name, builder(group).assignor(assignor), topic, log).await
}

/// Like [`spawn_member`], but always on the classic protocol, for tests of
/// what only it has: client-side assignors and eager rebalances.
pub async fn spawn_classic_member(
    name: &str,
    group: &str,
    topic: &str,
    assignor: Assignor,
    log: Arc<Log>,
) -> Member {
    let builder = builder(group)
        .group_protocol(GroupProtocol::Classic)
        .assignor(assignor);
    spawn_with(name, builder, topic, log).await
}

/// The protocol the tests run on (`MQ_GROUP_PROTOCOL`, classic by default).
pub fn protocol() -> GroupProtocol {
    std::env::var("MQ_GROUP_PROTOCOL")
        .ok()
        .and_then(|p| GroupProtocol::from_name(&p))
        .unwrap_or_default()
}

/// Starts a member from `builder`.
pub async fn spawn_with(
    name: &str,
    builder: ConsumerBuilder,
    topic: &str,
    log: Arc<Log>,
) -> Member {
    let recorder = Recorder::new();
    let mut consumer = builder
        .listener(recorder.clone())
        .build()
        .await
        .expect("consumer");
    consumer.subscribe([topic]).await.expect("subscribe");
    let (stop_tx, mut stop_rx) = mpsc::channel(1);
    let member = name.to_owned();
    let generation = recorder.generation.clone();
    let task = tokio::spawn(async move {
        let mut crash_mid_record = false;
        let mut ticks = tokio::time::interval(Duration::from_millis(100));
        loop {
            generation.store(consumer.generation(), Ordering::SeqCst);
            tokio::select! {
                biased;
                _ = ticks.tick() => {}
                how = stop_rx.recv() => match how {
                    Some(Stop::Close) | None => return consumer.close().await,
                    Some(Stop::Crash) => {
                        drop(consumer);
                        return Ok(());
                    }
                    Some(Stop::CrashMidRecord) => crash_mid_record = true,
                },
                rec = consumer.next() => {
                    let rec = match rec {
                        Some(Ok(r)) => r,
                        Some(Err(e)) if e.is_retriable() => continue,
                        Some(Err(e)) => return Err(e),
                        None => return Ok(()),
                    };
                    log.processed.lock().unwrap().push(Processed {
                        member: member.clone(),
                        partition: rec.partition,
                        offset: rec.offset,
                        value: String::from_utf8_lossy(rec.value().unwrap_or_default()).into_owned(),
                        at: tick(),
                    });
                    if crash_mid_record {
                        drop(consumer);
                        return Ok(());
                    }
                    match consumer.commit(&rec).await {
                        Ok(()) => log.committed.lock().unwrap().push(Committed {
                            member: member.clone(),
                            partition: rec.partition,
                            offset: rec.offset + 1,
                            at: tick(),
                        }),
                        Err(e) => panic!("member {member}: commit of {}/{} failed: {e}", rec.partition, rec.offset),
                    }
                }
            }
        }
    });
    Member {
        name: name.to_owned(),
        recorder,
        stop: stop_tx,
        task,
    }
}

/// Produces `n` records `k{i % keys}` -> `"k{i % keys}:{i}"`, awaiting
/// every delivery.
pub async fn produce(topic: &str, n: usize, keys: usize) {
    let producer = Producer::builder(&endpoints::kafka_bootstrap())
        .linger(Duration::from_millis(2))
        .build()
        .await
        .expect("producer");
    let mut deliveries = Vec::with_capacity(n);
    for i in 0..n {
        let key = format!("k{}", i % keys.max(1));
        let value = format!("{key}:{i}");
        deliveries.push(
            producer
                .enqueue(ProducerRecord::new(topic).key(&key).value(&value))
                .await
                .expect("enqueue"),
        );
    }
    for d in deliveries {
        d.await.expect("delivery");
    }
    producer.close().await.expect("close");
}

/// Produces `per_partition` records to each of `partitions` partitions.
pub async fn produce_to_each(topic: &str, partitions: i32, per_partition: usize) {
    let producer = Producer::builder(&endpoints::kafka_bootstrap())
        .build()
        .await
        .expect("producer");
    let mut deliveries = Vec::new();
    for p in 0..partitions {
        for i in 0..per_partition {
            let value = format!("p{p}:{i}");
            deliveries.push(
                producer
                    .enqueue(ProducerRecord::new(topic).partition(p).value(&value))
                    .await
                    .expect("enqueue"),
            );
        }
    }
    for d in deliveries {
        d.await.expect("delivery");
    }
    producer.close().await.expect("close");
}

/// Waits until `cond` holds, checking every 100 ms; panics with `what`
/// after `timeout`.
pub async fn eventually(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every partition of `topic` (0..n).
pub fn all_partitions(topic: &str, n: i32) -> BTreeSet<TopicPartition> {
    (0..n).map(|p| TopicPartition::new(topic, p)).collect()
}

/// Whether the members' owned sets are disjoint and cover `all`.
pub fn split_exactly(members: &[&Member], all: &BTreeSet<TopicPartition>) -> bool {
    let mut seen = BTreeSet::new();
    for m in members {
        for tp in m.owned() {
            if !seen.insert(tp) {
                return false;
            }
        }
    }
    &seen == all
}
