//! What a fetch hands out: a partition's [`FetchedBatch`] of zero-copy
//! record views, and owned [`ConsumerRecord`]s.

use std::sync::Arc;

use bytes::Bytes;
use kafka_proto::record::{Record, Records};

use crate::kafka::error::{Error, Result};

/// One partition's records from one fetch, decompressed.
///
/// A fetch that read only control batches (transaction markers) yields a
/// batch with no records ([`is_empty`](Self::is_empty)) whose
/// [`next_offset`](Self::next_offset) is past them: the position moved,
/// and a partition whose last records are markers is seen to reach its
/// end.
#[derive(Debug, Clone)]
pub struct FetchedBatch {
    pub(super) topic: Arc<str>,
    pub(super) partition: i32,
    /// Records before this offset (in a compressed batch that straddles
    /// the position) are skipped.
    pub(super) start: i64,
    /// Records from this offset on are past the end the reader stops at
    /// ([`PartitionReaderBuilder::stop_at_end`]), and skipped.
    pub(super) end: i64,
    pub(super) next_offset: i64,
    pub(super) high_watermark: i64,
    pub(super) generation: u64,
    pub(super) records: Vec<Records>,
    /// The partition leader epoch of each entry of `records`.
    pub(super) epochs: Vec<i32>,
    /// How many records `records` hold from `start` on (a metric).
    pub(super) count: u64,
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
        let (start, end) = (self.start, self.end);
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
            .filter(move |r| {
                r.as_ref()
                    .map_or(true, |r| r.offset() >= start && r.offset() < end)
            })
    }

    /// The records, each with the partition leader epoch of its batch
    /// (-1 for the legacy formats), as zero-copy views.
    pub fn iter_with_epochs(&self) -> impl Iterator<Item = Result<(Record<'_>, i32)>> + '_ {
        let (start, end) = (self.start, self.end);
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
            .filter(move |r| {
                r.as_ref()
                    .map_or(true, |(r, _)| r.offset() >= start && r.offset() < end)
            })
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
            end: i64::MAX,
            next_offset,
            high_watermark,
            generation,
            records,
            epochs,
            count: 0,
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
