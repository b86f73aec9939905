//! The partition reader: an assign-style consumer that fetches given
//! partitions from given offsets.
//!
//! A fetcher task keeps one Fetch in flight per leader and hands what it
//! gets over a bounded queue (so a slow application stops the fetching,
//! and memory stays bounded). Each [`FetchedBatch`] holds the partition's
//! record batches, decompressed; [`FetchedBatch::iter`] yields the record
//! module's zero-copy [`Record`] views, borrowed from the batch, with no
//! per-record allocation or reference count. The reader is also a
//! `futures::Stream` of owned [`ConsumerRecord`]s, whose key, value and
//! headers are `Bytes` slices of the fetched data (never copies).
//!
//! OFFSET_OUT_OF_RANGE moves the position per [`OffsetReset`]; leadership
//! errors refresh the metadata and the fetch goes to the new leader.

mod batch;
mod fetcher;
mod position;
mod read;
mod session;

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::task::{Context, Poll};

use futures_core::Stream;
use tokio::sync::mpsc;
use tracing::Instrument;

use super::cluster::Cluster;
use super::config::{ClientConfig, client_config_setters};
use super::error::{Error, Result};
use super::metrics::{ClientKind, ClientMetrics};
pub use batch::{ConsumerRecord, FetchedBatch};
use fetcher::{Command, Fetcher};
pub(crate) use position::FetchSettings;
pub use position::{IsolationLevel, Offset, OffsetReset, OffsetSpec};

/// Builder methods for the fetch settings, shared by the partition
/// reader's and the group consumer's builders (`self.settings`,
/// `self.buffered`).
macro_rules! fetch_settings_setters {
    () => {
        /// Bytes the broker waits for before answering. Default 1.
        pub fn fetch_min_bytes(mut self, bytes: i32) -> Self {
            self.settings.min_bytes = bytes;
            self
        }

        /// Most bytes in one fetch response. Default 50 MiB.
        pub fn fetch_max_bytes(mut self, bytes: i32) -> Self {
            self.settings.max_bytes = bytes;
            self
        }

        /// Most bytes per partition in one fetch. Default 1 MiB.
        pub fn max_partition_fetch_bytes(mut self, bytes: i32) -> Self {
            self.settings.partition_max_bytes = bytes;
            self
        }

        /// How long the broker may wait for `fetch_min_bytes`. Default 500 ms.
        pub fn fetch_max_wait(mut self, wait: ::std::time::Duration) -> Self {
            self.settings.max_wait = wait;
            self
        }

        /// What to do when a partition has no valid position (out of
        /// range, or no committed offset for a group): see
        /// [`OffsetReset`](crate::kafka::OffsetReset) for when it applies.
        /// Default [`OffsetReset::Latest`](crate::kafka::OffsetReset::Latest),
        /// as Java's `auto.offset.reset`.
        pub fn auto_offset_reset(mut self, reset: $crate::kafka::OffsetReset) -> Self {
            self.settings.reset = reset;
            self
        }

        /// Which records to hand out (Java's `isolation.level`). Default
        /// [`IsolationLevel::ReadCommitted`](crate::kafka::IsolationLevel::ReadCommitted):
        /// records of aborted transactions never arrive, and reading stops
        /// at the last stable offset until open transactions end.
        pub fn isolation_level(mut self, level: $crate::kafka::IsolationLevel) -> Self {
            self.settings.isolation = level;
            self
        }

        /// Incremental fetch sessions (KIP-227). On (the default), the first
        /// Fetch to a broker lists every partition and each later one only
        /// those whose position moved, which keeps requests small when many
        /// partitions are read; off, every Fetch lists every partition.
        pub fn fetch_sessions(mut self, on: bool) -> Self {
            self.settings.sessions = on;
            self
        }

        /// Fetched batches held ahead of the application. Default 16.
        pub fn prefetch(mut self, batches: usize) -> Self {
            self.buffered = batches.max(1);
            self
        }
    };
}
pub(crate) use fetch_settings_setters;

/// Builds a [`PartitionReader`].
#[derive(Debug, Clone)]
pub struct PartitionReaderBuilder {
    client: ClientConfig,
    assignments: Vec<(String, i32, Offset)>,
    /// Topics of which every partition is read.
    topics: Vec<(String, Offset)>,
    stop_at_end: bool,
    settings: FetchSettings,
    buffered: usize,
}

impl PartitionReaderBuilder {
    client_config_setters!();
    fetch_settings_setters!();

    /// Reads `topic`/`partition` from `offset`.
    pub fn assign(mut self, topic: impl Into<String>, partition: i32, offset: Offset) -> Self {
        self.assignments.push((topic.into(), partition, offset));
        self
    }

    /// Reads every partition of `topic` from `offset` (the partitions it
    /// has when the reader is built).
    pub fn assign_topic(mut self, topic: impl Into<String>, offset: Offset) -> Self {
        self.topics.push((topic.into(), offset));
        self
    }

    /// Reads up to the end each partition has when reading begins (its
    /// last stable offset then under read_committed, its high watermark
    /// under read_uncommitted) and stops there, as `kcat -e` does: records
    /// produced later are not handed out. Once every partition is read to
    /// its end, the reader's `Stream` ends and
    /// [`next_batch`](PartitionReader::next_batch) returns
    /// [`Error::ReachedEnd`]. A partition that is empty from its start
    /// position is at its end at once.
    pub fn stop_at_end(mut self) -> Self {
        self.stop_at_end = true;
        self
    }

    /// Connects, resolves the start offsets and starts fetching.
    pub async fn build(self) -> Result<PartitionReader> {
        let cluster = Cluster::connect(self.client).await?;
        let mut assignments = self.assignments;
        for (topic, offset) in self.topics {
            let timeout = cluster.config().request_timeout;
            let md = cluster.wait_for_partitions(&topic, timeout).await?;
            let partitions: Vec<i32> = md
                .topic(&topic)
                .map(|t| t.partitions.iter().map(|p| p.partition).collect())
                .unwrap_or_default();
            for partition in partitions {
                assignments.push((topic.clone(), partition, offset));
            }
        }
        let mut reader =
            PartitionReader::start(cluster, self.settings, self.buffered, assignments).await?;
        reader._telemetry = {
            let cluster = reader.cluster.clone();
            crate::kafka::telemetry::start(
                &reader.cluster,
                std::sync::Arc::new(move || {
                    let stats = cluster.stats();
                    let mut m =
                        stats.snapshot(ClientKind::PartitionReader, &cluster.config().client_id);
                    m.consumer = Some(stats.consumer_section(Vec::new()));
                    m
                }),
            )
        };
        if self.stop_at_end {
            reader.find_ends().await?;
        }
        Ok(reader)
    }
}

/// Reads assigned partitions. A `Stream` of [`ConsumerRecord`]s, or
/// zero-copy batches with [`next_batch`](Self::next_batch).
#[derive(Debug)]
pub struct PartitionReader {
    cluster: Cluster,
    rx: mpsc::Receiver<Result<FetchedBatch>>,
    commands: mpsc::Sender<Command>,
    generations: HashMap<(Arc<str>, i32), u64>,
    next_generation: u64,
    pending: VecDeque<ConsumerRecord>,
    /// An error met after records that are still pending.
    pending_error: Option<Error>,
    positions: HashMap<(Arc<str>, i32), i64>,
    /// Records behind each partition's end, as of its last batch.
    lag: HashMap<(Arc<str>, i32), i64>,
    /// With [`PartitionReaderBuilder::stop_at_end`]: the end of each
    /// partition not yet read to it.
    ends: Option<HashMap<(Arc<str>, i32), i64>>,
    /// Which records the reader hands out: the end it stops at is the
    /// last stable offset under read_committed.
    isolation: IsolationLevel,
    /// KIP-714 pushes, for a reader built by the application (a group
    /// consumer's reader pushes nothing: the consumer does).
    _telemetry: Option<crate::kafka::telemetry::Telemetry>,
}

impl PartitionReader {
    /// A builder for the comma-separated `bootstrap` list.
    pub fn builder(bootstrap: &str) -> PartitionReaderBuilder {
        PartitionReaderBuilder {
            client: ClientConfig::new(bootstrap),
            assignments: Vec::new(),
            topics: Vec::new(),
            stop_at_end: false,
            settings: FetchSettings::default(),
            buffered: 16,
        }
    }

    /// A reader on `cluster`: resolves the start offsets of
    /// `assignments` (failing if one cannot be), then starts the fetcher.
    pub(crate) async fn start(
        cluster: Cluster,
        settings: FetchSettings,
        buffered: usize,
        assignments: Vec<(String, i32, Offset)>,
    ) -> Result<Self> {
        let (tx, rx) = mpsc::channel(buffered.max(1));
        let (cmd_tx, cmd_rx) = mpsc::channel(64);
        let mut generations = HashMap::new();
        let mut positions = HashMap::new();
        let mut fetcher = Fetcher::new(cluster.clone(), settings, tx, cmd_rx);
        for (topic, partition, offset) in assignments {
            cluster.add_topics([topic.as_str()]);
            let key: Arc<str> = topic.as_str().into();
            generations.insert((key.clone(), partition), 0);
            let at = fetcher.assign(key.clone(), partition, offset, 0).await?;
            positions.insert((key, partition), at);
        }
        let span = tracing::debug_span!(parent: None, "kafka_partition_reader");
        tokio::spawn(fetcher.run().instrument(span));
        Ok(PartitionReader {
            cluster,
            rx,
            commands: cmd_tx,
            generations,
            next_generation: 1,
            pending: VecDeque::new(),
            pending_error: None,
            positions,
            lag: HashMap::new(),
            ends: None,
            isolation: settings.isolation,
            _telemetry: None,
        })
    }

    /// Lists the end of every assigned partition; from now on each is
    /// read up to it only.
    async fn find_ends(&mut self) -> Result<()> {
        let mut by_topic: HashMap<Arc<str>, Vec<i32>> = HashMap::new();
        for (topic, partition) in self.generations.keys() {
            by_topic.entry(topic.clone()).or_default().push(*partition);
        }
        let timeout = self.cluster.config().request_timeout;
        let mut ends = HashMap::new();
        for (topic, partitions) in by_topic {
            let asks: Vec<(i32, i64)> = partitions.iter().map(|&p| (p, -1)).collect();
            let listed = super::admin::list_offsets_isolated(
                &self.cluster,
                &topic,
                &asks,
                timeout,
                self.isolation.wire(),
            )
            .await?;
            for (partition, listed) in listed {
                let key = (topic.clone(), partition);
                let at = self.positions.get(&key).copied().unwrap_or(0);
                if at < listed.offset {
                    ends.insert(key, listed.offset);
                } else {
                    self.stop(&topic, partition);
                }
            }
        }
        self.ends = Some(ends);
        Ok(())
    }

    /// Stops fetching a partition that reached its end: later batches of
    /// it are dropped (the fetcher is told if its queue has room; if not,
    /// what it still fetches is dropped here).
    fn stop(&mut self, topic: &Arc<str>, partition: i32) {
        self.generations.remove(&(topic.clone(), partition));
        let _ = self.commands.try_send(Command::Unassign {
            topic: topic.clone(),
            partition,
        });
    }

    /// Whether every partition was read to its end (with
    /// [`PartitionReaderBuilder::stop_at_end`]).
    fn at_end(&self) -> bool {
        self.ends.as_ref().is_some_and(HashMap::is_empty)
    }

    /// The cluster this reader fetches from.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// A snapshot of the reader's metrics: connections, requests per API
    /// with their latencies, records and batches handed out. See
    /// [`ClientMetrics`].
    pub fn metrics(&self) -> ClientMetrics {
        let stats = self.cluster.stats();
        let mut m = stats.snapshot(
            ClientKind::PartitionReader,
            &self.cluster.config().client_id,
        );
        let mut lag: Vec<crate::kafka::PartitionLag> = self
            .lag
            .iter()
            .map(|((topic, partition), lag)| crate::kafka::PartitionLag {
                topic: topic.to_string(),
                partition: *partition,
                lag: *lag,
            })
            .collect();
        lag.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        m.consumer = Some(stats.consumer_section(lag));
        m
    }

    /// Records behind the high watermark per assigned partition, as of
    /// each partition's last batch handed out.
    pub fn lag(&self) -> std::collections::BTreeMap<crate::kafka::TopicPartition, i64> {
        self.lag
            .iter()
            .map(|((topic, partition), lag)| {
                (
                    crate::kafka::TopicPartition::new(topic.clone(), *partition),
                    *lag,
                )
            })
            .collect()
    }

    /// The next batch of records (of one partition). Waits for data.
    pub async fn next_batch(&mut self) -> Result<FetchedBatch> {
        std::future::poll_fn(|cx| self.poll_batch(cx)).await
    }

    /// Polls for the next batch of a partition that is still assigned
    /// (batches from before a seek, pause or unassign are dropped).
    pub(crate) fn poll_batch(&mut self, cx: &mut Context<'_>) -> Poll<Result<FetchedBatch>> {
        loop {
            if self.at_end() {
                return Poll::Ready(Err(Error::ReachedEnd));
            }
            let item = match self.rx.poll_recv(cx) {
                Poll::Ready(Some(item)) => item,
                Poll::Ready(None) => return Poll::Ready(Err(Error::Closed)),
                Poll::Pending => return Poll::Pending,
            };
            match self.accept(item) {
                Err(e) => return Poll::Ready(Err(e)),
                Ok(None) => continue,
                Ok(Some(batch)) => return Poll::Ready(Ok(batch)),
            }
        }
    }

    /// Drops batches from before a seek; records positions; with an end
    /// to stop at, cuts the batch there.
    fn accept(&mut self, item: Result<FetchedBatch>) -> Result<Option<FetchedBatch>> {
        let mut batch = item?;
        let key = (batch.topic.clone(), batch.partition);
        match self.generations.get(&key) {
            Some(&g) if g == batch.generation => {}
            _ => return Ok(None),
        }
        let end = self.ends.as_ref().and_then(|e| e.get(&key).copied());
        if let Some(end) = end {
            batch.end = end;
            // Records past the end are not handed out.
            let before_end = u64::try_from(end.saturating_sub(batch.start)).unwrap_or(0);
            batch.count = batch.count.min(before_end);
            batch.next_offset = batch.next_offset.min(end);
            if batch.next_offset >= end {
                if let Some(ends) = &mut self.ends {
                    ends.remove(&key);
                }
                self.stop(&key.0, key.1);
            }
        }
        self.positions.insert(key.clone(), batch.next_offset);
        self.lag.insert(
            key,
            batch
                .high_watermark
                .saturating_sub(batch.next_offset)
                .max(0),
        );
        let stats = self.cluster.stats();
        stats.records_consumed.fetch_add(batch.count, Relaxed);
        stats.batches_consumed.fetch_add(1, Relaxed);
        Ok(Some(batch))
    }

    /// The offset the next record of a partition will have, as far as
    /// this reader has handed records out.
    pub fn position(&self, topic: &str, partition: i32) -> Option<i64> {
        self.positions
            .get(&(Arc::<str>::from(topic), partition))
            .copied()
    }

    /// Starts reading another partition.
    pub async fn assign(&mut self, topic: &str, partition: i32, offset: Offset) -> Result<()> {
        self.seek(topic, partition, offset).await
    }

    fn bump_generation(&mut self, topic: &str, partition: i32) -> (Arc<str>, u64) {
        let generation = self.next_generation;
        self.next_generation += 1;
        let key: Arc<str> = topic.into();
        self.generations
            .insert((key.clone(), partition), generation);
        (key, generation)
    }

    /// Moves a partition's position (assigning it if needed). Batches
    /// fetched before the seek are dropped. A paused partition stays
    /// paused.
    pub async fn seek(&mut self, topic: &str, partition: i32, offset: Offset) -> Result<()> {
        let (key, generation) = self.bump_generation(topic, partition);
        self.positions.remove(&(key.clone(), partition));
        self.lag.remove(&(key.clone(), partition));
        self.pending
            .retain(|r| !(*r.topic == *topic && r.partition == partition));
        self.cluster.add_topics([topic]);
        self.commands
            .send(Command::Assign {
                topic: key,
                partition,
                offset,
                generation,
            })
            .await
            .map_err(|_| Error::Closed)
    }

    /// Stops reading a partition.
    pub async fn unassign(&mut self, topic: &str, partition: i32) -> Result<()> {
        let key: Arc<str> = topic.into();
        self.generations.remove(&(key.clone(), partition));
        self.positions.remove(&(key.clone(), partition));
        self.pending
            .retain(|r| !(*r.topic == *topic && r.partition == partition));
        self.commands
            .send(Command::Unassign {
                topic: key,
                partition,
            })
            .await
            .map_err(|_| Error::Closed)
    }

    /// Stops fetching an assigned partition until [`resume`](Self::resume).
    /// Records fetched but not yet handed out are dropped and fetched again
    /// after the resume, so reading goes on where the application stopped.
    pub async fn pause(&mut self, topic: &str, partition: i32) -> Result<()> {
        self.pause_at(topic, partition, None).await
    }

    /// [`pause`](Self::pause), resuming at `position` if given (the
    /// offset after the last record the application took), else after
    /// what this reader handed out.
    pub(crate) async fn pause_at(
        &mut self,
        topic: &str,
        partition: i32,
        position: Option<i64>,
    ) -> Result<()> {
        let key: Arc<str> = topic.into();
        if !self.generations.contains_key(&(key.clone(), partition)) {
            return Err(Error::NotAssigned {
                topic: topic.to_owned(),
                partition,
            });
        }
        let first_pending = self
            .pending
            .iter()
            .find(|r| *r.topic == *topic && r.partition == partition)
            .map(|r| r.offset);
        let position = position
            .or(first_pending)
            .or_else(|| self.positions.get(&(key.clone(), partition)).copied());
        let (key, generation) = self.bump_generation(topic, partition);
        self.pending
            .retain(|r| !(*r.topic == *topic && r.partition == partition));
        if let Some(p) = position {
            self.positions.insert((key.clone(), partition), p);
        }
        self.commands
            .send(Command::Pause {
                topic: key,
                partition,
                generation,
                position,
            })
            .await
            .map_err(|_| Error::Closed)
    }

    /// Fetches a paused partition again.
    pub async fn resume(&mut self, topic: &str, partition: i32) -> Result<()> {
        self.commands
            .send(Command::Resume {
                topic: topic.into(),
                partition,
            })
            .await
            .map_err(|_| Error::Closed)
    }
}

impl Stream for PartitionReader {
    type Item = Result<ConsumerRecord>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(r) = this.pending.pop_front() {
                return Poll::Ready(Some(Ok(r)));
            }
            if let Some(e) = this.pending_error.take() {
                return Poll::Ready(Some(Err(e)));
            }
            if this.at_end() {
                return Poll::Ready(None);
            }
            let item = match this.rx.poll_recv(cx) {
                Poll::Ready(Some(item)) => item,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            };
            match this.accept(item) {
                Err(e) => return Poll::Ready(Some(Err(e))),
                Ok(None) => continue,
                Ok(Some(batch)) => {
                    for r in batch.iter_with_epochs() {
                        match r {
                            Ok((view, epoch)) => this.pending.push_back(ConsumerRecord::from_view(
                                &batch.topic,
                                batch.partition,
                                &view,
                                epoch,
                            )),
                            Err(e) => {
                                this.pending_error = Some(e);
                                break;
                            }
                        }
                    }
                }
            }
        }
    }
}
