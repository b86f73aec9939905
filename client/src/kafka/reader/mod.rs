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

mod fetcher;

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use kafka_proto::record::{Record, Records};
use tokio::sync::mpsc;
use tracing::Instrument;

use super::cluster::Cluster;
use super::config::{ClientConfig, client_config_setters};
use super::error::{Error, Result};
pub(crate) use fetcher::FetchSettings;
use fetcher::{Command, Fetcher};

/// Where to start reading a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offset {
    /// The first offset still in the log.
    Earliest,
    /// The end of the log: only records produced from now on.
    Latest,
    /// This exact offset.
    At(i64),
    /// The first record whose timestamp (ms since the epoch) is at or
    /// after this one.
    Timestamp(i64),
}

impl Offset {
    /// The ListOffsets timestamp for this position (-2 earliest, -1
    /// latest), or `None` for an exact offset.
    pub(crate) fn list_offsets_timestamp(self) -> Option<i64> {
        match self {
            Offset::Earliest => Some(-2),
            Offset::Latest => Some(-1),
            Offset::Timestamp(t) => Some(t),
            Offset::At(_) => None,
        }
    }
}

/// What to do when the position is out of range (OFFSET_OUT_OF_RANGE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OffsetReset {
    /// Start again from the earliest offset.
    Earliest,
    /// Jump to the end of the log (Java's default).
    #[default]
    Latest,
    /// Report [`Error::OffsetOutOfRange`] and stop reading the partition
    /// until it is sought.
    None,
}

/// One partition's records from one fetch, decompressed.
///
/// A fetch that read only control batches (transaction markers) yields a
/// batch with no records ([`is_empty`](Self::is_empty)) whose
/// [`next_offset`](Self::next_offset) is past them: the position moved,
/// and a partition whose last records are markers is seen to reach its
/// end.
#[derive(Debug, Clone)]
pub struct FetchedBatch {
    topic: Arc<str>,
    partition: i32,
    /// Records before this offset (in a compressed batch that straddles
    /// the position) are skipped.
    start: i64,
    next_offset: i64,
    high_watermark: i64,
    generation: u64,
    records: Vec<Records>,
    /// The partition leader epoch of each entry of `records`.
    epochs: Vec<i32>,
}

impl FetchedBatch {
    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The topic, shared.
    pub(crate) fn topic_arc(&self) -> &Arc<str> {
        &self.topic
    }

    /// The offset the fetch read from.
    pub(crate) fn start_offset(&self) -> i64 {
        self.start
    }

    /// The partition.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// The offset after the last record here: where reading goes on.
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    /// The partition's high watermark when fetched.
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }

    /// The records, as zero-copy views borrowed from the batch.
    pub fn iter(&self) -> impl Iterator<Item = Result<Record<'_>>> + '_ {
        let start = self.start;
        let topic = &self.topic;
        let partition = self.partition;
        self.records
            .iter()
            .flat_map(|r| r.iter())
            .map(move |r| {
                r.map_err(|source| Error::Records {
                    topic: topic.to_string(),
                    partition,
                    source,
                })
            })
            .filter(move |r| r.as_ref().map_or(true, |r| r.offset() >= start))
    }

    /// The records, each with the partition leader epoch of its batch
    /// (-1 for the legacy formats), as zero-copy views.
    pub fn iter_with_epochs(&self) -> impl Iterator<Item = Result<(Record<'_>, i32)>> + '_ {
        let start = self.start;
        let topic = &self.topic;
        let partition = self.partition;
        self.records
            .iter()
            .zip(self.epochs.iter().copied())
            .flat_map(|(r, epoch)| r.iter().map(move |r| (r, epoch)))
            .map(move |(r, epoch)| {
                r.map(|r| (r, epoch)).map_err(|source| Error::Records {
                    topic: topic.to_string(),
                    partition,
                    source,
                })
            })
            .filter(move |r| r.as_ref().map_or(true, |(r, _)| r.offset() >= start))
    }

    /// The partition leader epoch of the last record batch here: the
    /// epoch to commit [`next_offset`](Self::next_offset) with.
    pub fn last_leader_epoch(&self) -> i32 {
        self.epochs.last().copied().unwrap_or(-1)
    }

    /// Whether the fetch returned no records: it read only control
    /// batches (transaction markers), and reports that the position moved
    /// past them, to [`next_offset`](Self::next_offset).
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// What a fetch from `start` hands out: a batch when it read records,
    /// or when it only moved the position (past control batches), so that
    /// the application sees the partition reach its end; `None` when
    /// nothing was read.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_read(
        topic: Arc<str>,
        partition: i32,
        start: i64,
        next_offset: i64,
        high_watermark: i64,
        generation: u64,
        batches: Vec<(Records, i32)>,
    ) -> Option<FetchedBatch> {
        if batches.is_empty() && next_offset <= start {
            return None;
        }
        let (records, epochs) = batches.into_iter().unzip();
        Some(FetchedBatch {
            topic,
            partition,
            start,
            next_offset,
            high_watermark,
            generation,
            records,
            epochs,
        })
    }
}

/// A record read from a partition, owning its data as `Bytes` slices of
/// the fetched batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
    /// The timestamp (ms since the epoch).
    pub timestamp: i64,
    /// The key.
    pub key: Option<Bytes>,
    /// The value.
    pub value: Option<Bytes>,
    /// Headers, in order, duplicates kept.
    pub headers: Vec<(Bytes, Option<Bytes>)>,
    /// The partition leader epoch of the record's batch, or -1 (legacy
    /// formats). Committing `offset + 1` carries it.
    pub leader_epoch: i32,
}

impl ConsumerRecord {
    pub(crate) fn from_view(
        topic: &Arc<str>,
        partition: i32,
        r: &Record<'_>,
        leader_epoch: i32,
    ) -> Self {
        ConsumerRecord {
            topic: topic.clone(),
            partition,
            leader_epoch,
            offset: r.offset(),
            timestamp: r.timestamp(),
            key: r.key_bytes(),
            value: r.value_bytes(),
            headers: r
                .headers()
                .map(|h| (h.key_bytes(), h.value_bytes()))
                .collect(),
        }
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The key, if any.
    pub fn key(&self) -> Option<&[u8]> {
        self.key.as_deref()
    }

    /// The value (`None` for a tombstone).
    pub fn value(&self) -> Option<&[u8]> {
        self.value.as_deref()
    }

    /// The values of the headers named `key`, in order.
    pub fn headers_named<'a>(
        &'a self,
        key: &'a [u8],
    ) -> impl Iterator<Item = Option<&'a [u8]>> + 'a {
        self.headers
            .iter()
            .filter(move |(k, _)| &k[..] == key)
            .map(|(_, v)| v.as_deref())
    }
}

/// Which records a reader or group consumer hands out (Java's
/// `isolation.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum IsolationLevel {
    /// Records of committed transactions and records outside transactions,
    /// up to the last stable offset: records of aborted transactions are
    /// dropped, and those of open ones wait until their transaction ends.
    /// The default (as in librdkafka).
    #[default]
    ReadCommitted,
    /// Every record up to the high watermark, those of open and aborted
    /// transactions included.
    ReadUncommitted,
}

impl IsolationLevel {
    /// The Fetch and ListOffsets `isolation_level`.
    pub(crate) fn wire(self) -> i8 {
        match self {
            IsolationLevel::ReadUncommitted => 0,
            IsolationLevel::ReadCommitted => 1,
        }
    }

    /// Java's name: `read_committed` or `read_uncommitted`.
    pub fn as_str(self) -> &'static str {
        match self {
            IsolationLevel::ReadCommitted => "read_committed",
            IsolationLevel::ReadUncommitted => "read_uncommitted",
        }
    }
}

impl std::fmt::Display for IsolationLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for IsolationLevel {
    type Err = Error;

    /// Parses Java's names, `read_committed` and `read_uncommitted`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "read_committed" => Ok(IsolationLevel::ReadCommitted),
            "read_uncommitted" => Ok(IsolationLevel::ReadUncommitted),
            other => Err(Error::Config(format!(
                "isolation level {other:?}: expected read_committed or read_uncommitted"
            ))),
        }
    }
}

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

        /// What to do on OFFSET_OUT_OF_RANGE. Default
        /// [`OffsetReset::Latest`](crate::kafka::OffsetReset::Latest).
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

    /// Connects, resolves the start offsets and starts fetching.
    pub async fn build(self) -> Result<PartitionReader> {
        let cluster = Cluster::connect(self.client).await?;
        PartitionReader::start(cluster, self.settings, self.buffered, self.assignments).await
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
}

impl PartitionReader {
    /// A builder for the comma-separated `bootstrap` list.
    pub fn builder(bootstrap: &str) -> PartitionReaderBuilder {
        PartitionReaderBuilder {
            client: ClientConfig::new(bootstrap),
            assignments: Vec::new(),
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
        let mut fetcher = Fetcher::new(cluster.clone(), settings, tx, cmd_rx);
        for (topic, partition, offset) in assignments {
            cluster.add_topics([topic.as_str()]);
            generations.insert((Arc::<str>::from(topic.as_str()), partition), 0);
            fetcher.assign(topic.into(), partition, offset, 0).await?;
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
            positions: HashMap::new(),
        })
    }

    /// The cluster this reader fetches from.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// The next batch of records (of one partition). Waits for data.
    pub async fn next_batch(&mut self) -> Result<FetchedBatch> {
        std::future::poll_fn(|cx| self.poll_batch(cx)).await
    }

    /// Polls for the next batch of a partition that is still assigned
    /// (batches from before a seek, pause or unassign are dropped).
    pub(crate) fn poll_batch(&mut self, cx: &mut Context<'_>) -> Poll<Result<FetchedBatch>> {
        loop {
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

    /// Drops batches from before a seek; records positions.
    fn accept(&mut self, item: Result<FetchedBatch>) -> Result<Option<FetchedBatch>> {
        let batch = item?;
        let key = (batch.topic.clone(), batch.partition);
        match self.generations.get(&key) {
            Some(&g) if g == batch.generation => {
                self.positions.insert(key, batch.next_offset);
                Ok(Some(batch))
            }
            _ => Ok(None),
        }
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
