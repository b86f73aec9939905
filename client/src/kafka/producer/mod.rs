//! The producer: records go into per-partition batches (bounded by
//! `buffer_memory`), a sender task sends them to the partition leaders,
//! and each record's [`DeliveryFuture`] resolves to its partition and offset.
//!
//! Defaults are the safe ones, as in the Java client: `acks = all`,
//! idempotence on (no duplicates from retries, order kept per partition),
//! `linger` 5 ms, `batch_size` 16 KiB, `buffer_memory` 32 MiB, `max_block`
//! 60 s, `delivery_timeout` 120 s.
//!
//! # Batching: what each default trades
//!
//! - **`linger` (5 ms)**: the longest a record waits for company before its
//!   batch may go. A lightly loaded producer pays up to 5 ms per record for
//!   fewer requests; zero suits a low rate where every millisecond counts.
//! - **`batch_size` (16 KiB)** is the size at which a batch may go before
//!   its linger is up. It is not a cap: a batch goes only when its
//!   leader's connection has a free request slot, and until then it keeps
//!   taking records, up to about 1 MB (and never past
//!   `max_request_size`). So a backlog goes out in a few large batches
//!   rather than a queue of small ones (franz-go batches the same way), and
//!   the brokers handle fewer requests per record. A larger `batch_size`
//!   only delays batches that could already have gone. A topic whose
//!   `max.message.bytes` is below 1 MB needs `max_request_size` set no
//!   higher than it (as with librdkafka's and franz-go's 1 MB batches).
//! - **Request slots: `max.in.flight.requests.per.connection` (5)** on the
//!   client config. Every ready partition led by one broker goes in the
//!   same Produce request, and at most this many requests wait for that
//!   broker's answer at once. More slots let small batches go sooner on a
//!   slow link; fewer make each request larger. With idempotence a
//!   partition has at most 5 batches in flight
//!   ([`max_in_flight_per_partition`](ProducerBuilder::max_in_flight_per_partition)),
//!   and order is kept across retries.
//! - **`buffer_memory` (32 MiB)** bounds the records held: `enqueue` waits
//!   (at most `max_block`) when the brokers fall behind.
//!
//! With a `transactional_id` the producer is transactional (see
//! [`Producer::init_transactions`] and the `transaction` module): records
//! are sent only inside a transaction and become visible to read_committed
//! consumers when it commits.

mod accumulator;
mod delivery;
mod idempotence;
mod sender;
mod transaction;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kafka_proto::compression::Compression;
use tokio::sync::{Notify, Semaphore};
use tracing::{Instrument, debug, info_span, warn};

use self::accumulator::{
    Accumulator, AccumulatorConfig, BACKLOG_BATCH_MAX, ProducerBatch, ProducerIdentity,
};
pub use self::delivery::DeliveryFuture;
use self::idempotence::MAX_IN_FLIGHT_IDEMPOTENT;
use super::cluster::{Cluster, lock};
use super::config::{ClientConfig, client_config_setters};
use super::error::{Error, Result};
use super::metrics::{ClientKind, ClientMetrics};

/// How many replicas must have a record before the leader answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Acks {
    /// Fire and forget: the broker sends no answer (offsets are -1).
    None,
    /// The leader has written it.
    Leader,
    /// Every in-sync replica has it (the default).
    #[default]
    All,
}

impl Acks {
    fn wire(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }
}

/// A record to produce. Its key, value and headers are borrowed: they are
/// copied once, into the batch, when the record is enqueued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerRecord<'a> {
    /// The topic.
    pub topic: &'a str,
    /// An explicit partition; `None` picks one from the key (murmur2, as
    /// Java does) or, without a key, the topic's sticky partition.
    pub partition: Option<i32>,
    /// The key.
    pub key: Option<&'a [u8]>,
    /// The value (`None`: a tombstone).
    pub value: Option<&'a [u8]>,
    /// Headers, in order; keys may repeat.
    pub headers: Vec<(&'a str, Option<&'a [u8]>)>,
    /// Create time in ms since the epoch; `None`: now.
    pub timestamp: Option<i64>,
}

impl<'a> ProducerRecord<'a> {
    /// A record for `topic` with no key, value or headers.
    pub fn new(topic: &'a str) -> Self {
        ProducerRecord {
            topic,
            partition: None,
            key: None,
            value: None,
            headers: Vec::new(),
            timestamp: None,
        }
    }

    /// Sets the key.
    pub fn key<K: AsRef<[u8]> + ?Sized>(mut self, key: &'a K) -> Self {
        self.key = Some(key.as_ref());
        self
    }

    /// Sets the value.
    pub fn value<V: AsRef<[u8]> + ?Sized>(mut self, value: &'a V) -> Self {
        self.value = Some(value.as_ref());
        self
    }

    /// Adds a header.
    pub fn header<V: AsRef<[u8]> + ?Sized>(mut self, key: &'a str, value: Option<&'a V>) -> Self {
        self.headers.push((key, value.map(AsRef::as_ref)));
        self
    }

    /// Sends to this partition.
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Sets the create time (ms since the epoch).
    pub fn timestamp(mut self, timestamp_ms: i64) -> Self {
        self.timestamp = Some(timestamp_ms);
        self
    }
}

#[derive(Debug, Clone)]
struct ProducerConfig {
    acks: Acks,
    compression: Compression,
    linger: Duration,
    batch_size: usize,
    buffer_memory: usize,
    max_block: Duration,
    delivery_timeout: Duration,
    max_request_size: usize,
    idempotent: bool,
    max_in_flight_per_partition: usize,
}

/// Builds a [`Producer`].
#[derive(Debug, Clone)]
pub struct ProducerBuilder {
    client: ClientConfig,
    acks: Acks,
    compression: Compression,
    linger: Duration,
    batch_size: usize,
    buffer_memory: usize,
    max_block: Duration,
    delivery_timeout: Duration,
    max_request_size: usize,
    idempotence: Option<bool>,
    max_in_flight_per_partition: usize,
    transactional_id: Option<String>,
    transaction_timeout: Duration,
    max_transaction_version: u8,
}

impl ProducerBuilder {
    client_config_setters!();

    /// Acknowledgements to wait for. Default [`Acks::All`]. Anything else
    /// turns idempotence off unless it was asked for explicitly (which is
    /// then an error, as in Java).
    pub fn acks(mut self, acks: Acks) -> Self {
        self.acks = acks;
        self
    }

    /// The batch codec. Default none.
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// How long a batch waits for more records before it may go (Java's
    /// `linger.ms`). Default 5 ms: up to 5 ms more latency for a record
    /// sent alone, for fewer requests. See the module docs on batching.
    pub fn linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }

    /// The size in bytes (before compression) at which a batch may go
    /// before its linger is up (Java's `batch.size`). Default 16 KiB.
    /// While its leader's connection has no free request slot a batch keeps
    /// growing past it, up to about 1 MB; see the module docs on batching.
    pub fn batch_size(mut self, bytes: usize) -> Self {
        self.batch_size = bytes;
        self
    }

    /// Bytes of records buffered before `send` waits. Default 32 MiB.
    pub fn buffer_memory(mut self, bytes: usize) -> Self {
        self.buffer_memory = bytes;
        self
    }

    /// How long `send` waits for buffer space or topic metadata. Default 60 s.
    pub fn max_block(mut self, max_block: Duration) -> Self {
        self.max_block = max_block;
        self
    }

    /// How long a record may take, retries included. Default 120 s.
    pub fn delivery_timeout(mut self, timeout: Duration) -> Self {
        self.delivery_timeout = timeout;
        self
    }

    /// Largest Produce request. Default 1 MiB.
    pub fn max_request_size(mut self, bytes: usize) -> Self {
        self.max_request_size = bytes;
        self
    }

    /// Idempotence (default on with `acks = all`).
    pub fn idempotence(mut self, on: bool) -> Self {
        self.idempotence = Some(on);
        self
    }

    /// Batches in flight per partition (at most 5 with idempotence). Default 5.
    pub fn max_in_flight_per_partition(mut self, n: usize) -> Self {
        self.max_in_flight_per_partition = n;
        self
    }

    /// Makes the producer transactional under this id (Java's
    /// `transactional.id`): call [`Producer::init_transactions`] once, then
    /// send inside [`begin_transaction`](Producer::begin_transaction) ..
    /// [`commit_transaction`](Producer::commit_transaction). Needs
    /// idempotence (the default). A later producer with the same id fences
    /// this one.
    pub fn transactional_id(mut self, id: impl Into<String>) -> Self {
        self.transactional_id = Some(id.into());
        self
    }

    /// How long the coordinator lets a transaction stay open before it
    /// aborts it (Java's `transaction.timeout.ms`). Default 60 s.
    pub fn transaction_timeout(mut self, timeout: Duration) -> Self {
        self.transaction_timeout = timeout;
        self
    }

    /// The newest transaction protocol to use: 2 (the default; KIP-890,
    /// used when the cluster has finalized `transaction.version` 2) or 1
    /// (AddPartitionsToTxn before the first produce to each partition, as
    /// clients before Kafka 4 do).
    pub fn max_transaction_version(mut self, version: u8) -> Self {
        self.max_transaction_version = version;
        self
    }

    /// Connects, fetches metadata and (with idempotence) a producer id.
    /// A transactional producer gets its id in
    /// [`init_transactions`](Producer::init_transactions) instead.
    pub async fn build(self) -> Result<Producer> {
        if self.transactional_id.is_some() {
            if self.idempotence == Some(false) || self.acks != Acks::All {
                return Err(Error::Config(
                    "a transactional producer needs idempotence and acks = all".into(),
                ));
            }
            if !(1..=2).contains(&self.max_transaction_version) {
                return Err(Error::Config(
                    "max_transaction_version must be 1 or 2".into(),
                ));
            }
            if self.transactional_id.as_deref() == Some("") {
                return Err(Error::Config("transactional_id must not be empty".into()));
            }
        }
        let idempotent = match (self.idempotence, self.acks) {
            (Some(true), Acks::All) | (None, Acks::All) => true,
            (Some(true), _) => {
                return Err(Error::Config("idempotence needs acks = all".into()));
            }
            (Some(false), _) | (None, _) => false,
        };
        if idempotent && self.max_in_flight_per_partition > MAX_IN_FLIGHT_IDEMPOTENT {
            return Err(Error::Config(format!(
                "idempotence allows at most {MAX_IN_FLIGHT_IDEMPOTENT} batches in flight per partition"
            )));
        }
        if self.batch_size == 0 || self.buffer_memory == 0 || self.max_in_flight_per_partition == 0
        {
            return Err(Error::Config(
                "batch_size, buffer_memory and max_in_flight_per_partition must be positive".into(),
            ));
        }
        let buffer_memory = self
            .buffer_memory
            .min(Semaphore::MAX_PERMITS)
            .min(u32::MAX as usize);
        let config = ProducerConfig {
            acks: self.acks,
            compression: self.compression,
            linger: self.linger,
            batch_size: self.batch_size,
            buffer_memory,
            max_block: self.max_block,
            delivery_timeout: self.delivery_timeout,
            max_request_size: self.max_request_size,
            idempotent,
            max_in_flight_per_partition: self.max_in_flight_per_partition,
        };
        let mut client = self.client;
        client.allow_auto_topic_creation = true;
        // Enough connection slots for every partition's pipelined batches.
        client.max_in_flight = client.max_in_flight.max(config.max_in_flight_per_partition);
        let cluster = Cluster::connect(client).await?;
        let txn = self.transactional_id.as_deref().map(|id| {
            Arc::new(transaction::Transactions::new(
                cluster.clone(),
                id,
                self.transaction_timeout,
                self.max_transaction_version,
            ))
        });
        let identity = if txn.is_some() {
            ProducerIdentity::NONE
        } else if idempotent {
            idempotence::init_producer_id(&cluster, None, config.delivery_timeout).await?
        } else {
            ProducerIdentity::NONE
        };
        let acc = Accumulator::new(
            AccumulatorConfig {
                batch_size: config.batch_size,
                batch_max: config
                    .max_request_size
                    .min(config.batch_size.max(BACKLOG_BATCH_MAX)),
                linger: config.linger,
                compression: config.compression,
                idempotent,
                transactional: txn.is_some(),
            },
            identity,
        );
        let shared = Arc::new(Shared {
            acc: Mutex::new(acc),
            memory: Semaphore::new(buffer_memory),
            wake: Notify::new(),
            drained: Notify::new(),
            cluster,
            config,
            retries: std::sync::atomic::AtomicU64::new(0),
            txn,
        });
        let span = info_span!(parent: None, "kafka_producer_sender", producer_id = identity.id);
        tokio::spawn(sender::run(shared.clone()).instrument(span));
        let telemetry = {
            let shared = shared.clone();
            crate::kafka::telemetry::start(
                &shared.cluster.clone(),
                Arc::new(move || shared.metrics()),
            )
        };
        Ok(Producer {
            guard: Arc::new(CloseOnDrop(shared.clone(), telemetry)),
            shared,
        })
    }
}

/// State shared by the producer handles and the sender task.
struct Shared {
    acc: Mutex<Accumulator>,
    memory: Semaphore,
    /// Wakes the sender: a batch opened or filled, a flush, a close.
    wake: Notify,
    /// Wakes flushers when the last batch is settled.
    drained: Notify,
    cluster: Cluster,
    config: ProducerConfig,
    /// Batches retried so far.
    retries: std::sync::atomic::AtomicU64,
    /// A transactional producer's state.
    txn: Option<Arc<transaction::Transactions>>,
}

impl Shared {
    /// The producer's metrics snapshot.
    fn metrics(&self) -> ClientMetrics {
        let stats = self.cluster.stats();
        let mut m = stats.snapshot(ClientKind::Producer, &self.cluster.config().client_id);
        let mut p = stats.producer_section();
        p.retries = self.retries.load(std::sync::atomic::Ordering::Relaxed);
        p.buffered_bytes = self
            .config
            .buffer_memory
            .saturating_sub(self.memory.available_permits()) as u64;
        p.buffered_records = lock(&self.acc).buffered_records as u64;
        m.producer = Some(p);
        m
    }

    /// Settles a batch: its records learn the outcome and its memory is freed.
    fn settle(&self, batch: ProducerBatch, result: Result<i64>, was_in_flight: bool) {
        let mut bump = false;
        let empty = {
            let mut acc = lock(&self.acc);
            let failed_sequenced = result.is_err() && batch.base_sequence >= 0;
            if let Some(q) = acc.queue(&batch.topic, batch.partition) {
                if was_in_flight {
                    q.in_flight = q.in_flight.saturating_sub(1);
                }
                if result.is_ok() && batch.base_sequence >= 0 {
                    q.last_acked = batch.last_sequence();
                }
                if q.retrying && !q.queued.iter().any(|b| b.attempts > 0) {
                    q.retrying = false;
                }
            }
            if failed_sequenced {
                // A gap in the sequence: later batches would be refused.
                acc.bump_needed = true;
                bump = true;
            }
            acc.incomplete = acc.incomplete.saturating_sub(1);
            acc.buffered_records = acc
                .buffered_records
                .saturating_sub(usize::try_from(batch.records).unwrap_or(0));
            acc.is_empty()
        };
        let stats = self.cluster.stats();
        let records = u64::try_from(batch.records).unwrap_or(0);
        match &result {
            Ok(_) => stats.records_sent.fetch_add(records, Relaxed),
            Err(_) => stats.records_failed.fetch_add(records, Relaxed),
        };
        match &result {
            Ok(offset) => {
                debug!(topic = %batch.topic, partition = batch.partition, base_offset = offset,
                                 records = batch.records, retries = batch.attempts, "batch acknowledged")
            }
            Err(e) => {
                warn!(topic = %batch.topic, partition = batch.partition, records = batch.records,
                            retries = batch.attempts, error = %e, "batch failed");
                if let Some(txn) = &self.txn {
                    txn.record_failure(&batch, e);
                }
            }
        }
        self.memory.add_permits(batch.reserved as usize);
        batch.done.complete(result);
        if bump {
            self.wake.notify_one();
        }
        if empty {
            self.drained.notify_waiters();
        }
    }

    /// Requeues a batch after a retriable failure, or fails it if its
    /// delivery timeout would pass first.
    fn retry_or_fail(
        &self,
        mut batch: ProducerBatch,
        error: Error,
        refresh: bool,
        retriable: bool,
    ) {
        // No answer to a request that went out: it may have been written.
        batch.outcome_unknown |= matches!(
            error,
            Error::Disconnected { .. } | Error::Io { .. } | Error::RequestTimedOut { .. }
        );
        let now = Instant::now();
        let backoff = self.cluster.config().retry_backoff;
        let mut delay = backoff.start();
        let mut wait = backoff.initial;
        for _ in 0..=batch.attempts.min(16) {
            wait = delay.next_delay().unwrap_or(backoff.max);
        }
        let deadline = batch.created + self.config.delivery_timeout;
        if !retriable || now + wait >= deadline {
            let e = if retriable {
                Error::DeliveryTimeout {
                    after: self.config.delivery_timeout,
                    possibly_written: batch.outcome_unknown,
                }
            } else {
                error
            };
            self.settle(batch, Err(e), true);
            return;
        }
        warn!(topic = %batch.topic, partition = batch.partition, base_sequence = batch.base_sequence,
              records = batch.records, retry = batch.attempts + 1, error = %error, "retrying batch");
        if refresh {
            self.cluster.request_refresh();
        }
        self.retries
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        {
            let mut acc = lock(&self.acc);
            if let Some(q) = acc.queue(&batch.topic, batch.partition) {
                q.in_flight = q.in_flight.saturating_sub(1);
            }
            acc.requeue(batch, now + wait);
        }
        self.wake.notify_one();
    }
}

/// Closes the producer (draining it) when the last handle is dropped; the
/// KIP-714 push task (aborted when dropped) goes with it.
struct CloseOnDrop(
    Arc<Shared>,
    #[allow(dead_code)] Option<crate::kafka::telemetry::Telemetry>,
);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        lock(&self.0.acc).closed = true;
        self.0.wake.notify_one();
    }
}

/// An async Kafka producer. Cloning is cheap; clones share batches and
/// connections.
#[derive(Clone)]
pub struct Producer {
    shared: Arc<Shared>,
    guard: Arc<CloseOnDrop>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("config", &self.shared.config)
            .field("cluster", &self.shared.cluster)
            .finish()
    }
}

impl Producer {
    /// A builder for the comma-separated `bootstrap` list.
    pub fn builder(bootstrap: &str) -> ProducerBuilder {
        ProducerBuilder {
            client: ClientConfig::new(bootstrap),
            acks: Acks::All,
            compression: Compression::None,
            linger: Duration::from_millis(5),
            batch_size: 16 * 1024,
            buffer_memory: 32 * 1024 * 1024,
            max_block: Duration::from_secs(60),
            delivery_timeout: Duration::from_secs(120),
            max_request_size: 1024 * 1024,
            idempotence: None,
            max_in_flight_per_partition: 5,
            transactional_id: None,
            transaction_timeout: Duration::from_secs(60),
            max_transaction_version: 2,
        }
    }

    /// The cluster this producer writes to.
    pub fn cluster(&self) -> &Cluster {
        &self.shared.cluster
    }

    /// Bytes of records buffered now (at most `buffer_memory`): reserved
    /// by `send` until their batch is settled.
    pub fn buffered_bytes(&self) -> usize {
        self.shared
            .config
            .buffer_memory
            .saturating_sub(self.shared.memory.available_permits())
    }

    /// A snapshot of the producer's metrics: connections, requests per
    /// API with their latencies, batches and records sent, the buffer
    /// now. See [`ClientMetrics`].
    pub fn metrics(&self) -> ClientMetrics {
        self.shared.metrics()
    }

    /// How many times a batch was sent again after a failure.
    pub fn retries(&self) -> u64 {
        self.shared
            .retries
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether the producer is idempotent.
    pub fn is_idempotent(&self) -> bool {
        self.shared.config.idempotent
    }

    /// The `transactional_id`, for a transactional producer.
    pub fn transactional_id(&self) -> Option<&str> {
        self.shared.txn.as_ref().map(|t| &*t.id)
    }

    /// Sends a record and waits until it is acknowledged: returns its
    /// partition and offset. A transactional producer sends only inside a
    /// transaction (else [`Error::TransactionState`]); the record is
    /// visible to read_committed consumers once the transaction commits.
    pub async fn send(&self, record: ProducerRecord<'_>) -> Result<(i32, i64)> {
        self.enqueue(record).await?.await
    }

    /// Puts a record into its partition's batch and returns its
    /// [`DeliveryFuture`] without waiting for the broker. Waits while the buffer
    /// is full or the topic's metadata is unknown, at most `max_block`.
    pub async fn enqueue(&self, record: ProducerRecord<'_>) -> Result<DeliveryFuture> {
        if let Some(txn) = &self.shared.txn {
            txn.check_send()?;
        }
        let config = &self.shared.config;
        let size =
            kafka_proto::record::record_size_upper_bound(record.key, record.value, &record.headers);
        if size > config.max_request_size || size > config.buffer_memory {
            return Err(Error::RecordTooLarge {
                size,
                limit: config.max_request_size.min(config.buffer_memory),
            });
        }
        let permits = u32::try_from(size).unwrap_or(u32::MAX);
        // The clock is read only when `enqueue` may have to wait.
        let mut started = None;
        match self.shared.memory.try_acquire_many(permits) {
            Ok(p) => p.forget(),
            Err(_) => {
                started = Some(Instant::now());
                // Waits are boxed (here and in `append`): their futures
                // are large, and a caller's future holding this one would
                // carry their size on every record.
                let acquire = self.shared.memory.acquire_many(permits);
                match Box::pin(tokio::time::timeout(config.max_block, acquire)).await {
                    Ok(Ok(p)) => p.forget(),
                    Ok(Err(_)) => return Err(Error::Closed),
                    Err(_) => return Err(self.buffer_full()),
                }
            }
        }
        match self.append(&record, permits, started).await {
            Ok(d) => Ok(d),
            Err(e) => {
                self.shared.memory.add_permits(permits as usize);
                Err(e)
            }
        }
    }

    /// Why the buffer stayed full for `max_block`: records waiting for a
    /// partition without a leader, or the broker not keeping up.
    fn buffer_full(&self) -> Error {
        let md = self.shared.cluster.metadata();
        let stuck = lock(&self.shared.acc).waiting_for_leader(|t, p| md.leader_for(t, p).is_some());
        let after = self.shared.config.max_block;
        match stuck {
            Some((topic, partition)) => Error::PartitionUnavailable {
                topic: topic.to_string(),
                partition,
                after,
            },
            None => Error::Timeout {
                what: "buffer space",
                after,
            },
        }
    }

    async fn append(
        &self,
        record: &ProducerRecord<'_>,
        permits: u32,
        mut started: Option<Instant>,
    ) -> Result<DeliveryFuture> {
        let timestamp = record.timestamp.unwrap_or_else(now_ms);
        let mut refreshed = false;
        loop {
            let beyond = {
                let mut acc = lock(&self.shared.acc);
                if acc.closed {
                    return Err(Error::Closed);
                }
                let appended = acc.append(
                    record.topic,
                    record.partition,
                    record.key,
                    record.value,
                    &record.headers,
                    timestamp,
                    permits,
                );
                match appended {
                    Ok(appended) => {
                        drop(acc);
                        if appended.wake {
                            self.shared.wake.notify_one();
                        }
                        return Ok(DeliveryFuture {
                            partition: appended.partition,
                            index: appended.index,
                            done: appended.done,
                        });
                    }
                    // A topic seen for the first time: wait for its metadata.
                    Err(Error::UnknownTopic(_)) => false,
                    Err(e @ Error::UnknownPartition { .. }) if refreshed => return Err(e),
                    Err(Error::UnknownPartition { .. }) => true,
                    Err(e) => return Err(e),
                }
            };
            if beyond {
                // Partitions may have been added since the metadata was
                // fetched: look once more before refusing the record.
                refreshed = true;
                if let Ok(md) = Box::pin(self.shared.cluster.refresh()).await {
                    if let Some(t) = md.topic(record.topic) {
                        lock(&self.shared.acc)
                            .set_partition_count(record.topic, t.partitions.len());
                    }
                }
                continue;
            }
            // First record for this topic: wait for its metadata.
            let left = self
                .shared
                .config
                .max_block
                .saturating_sub(started.get_or_insert_with(Instant::now).elapsed());
            let md = Box::pin(self.shared.cluster.wait_for_partitions(record.topic, left)).await?;
            let count = md.topic(record.topic).map_or(0, |t| t.partitions.len());
            debug!(topic = record.topic, partitions = count, "topic metadata");
            if count == 0 {
                return Err(Error::UnknownTopic(record.topic.to_owned()));
            }
            lock(&self.shared.acc).set_partition_count(record.topic, count);
        }
    }

    /// Sends every buffered record now and waits until all are settled.
    pub async fn flush(&self) -> Result<()> {
        lock(&self.shared.acc).flushing += 1;
        self.shared.wake.notify_one();
        let result = self.wait_drained().await;
        let mut acc = lock(&self.shared.acc);
        acc.flushing = acc.flushing.saturating_sub(1);
        result
    }

    async fn wait_drained(&self) -> Result<()> {
        loop {
            let notified = self.shared.drained.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if lock(&self.shared.acc).is_empty() {
                return Ok(());
            }
            notified.await;
        }
    }

    /// Stops taking records, sends what is buffered, and waits until every
    /// batch is settled. Later `send`s fail with [`Error::Closed`].
    pub async fn close(&self) -> Result<()> {
        lock(&self.shared.acc).closed = true;
        self.shared.wake.notify_one();
        self.wait_drained().await?;
        let _ = &self.guard;
        Ok(())
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
