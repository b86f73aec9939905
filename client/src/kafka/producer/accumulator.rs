//! The record accumulator: per-partition batches being filled, closed
//! batches waiting to be sent (retries first, in sequence order), and the
//! bookkeeping the sender and idempotence need.
//!
//! `send` appends under one short lock; the sender task takes ready batches
//! out under the same lock and compresses them outside it. Memory is
//! bounded by a semaphore of `buffer_memory` byte permits, taken per record
//! (its upper-bound size) before the lock, and given back when its batch is
//! done.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_proto::compression::Compression;
use kafka_proto::record::{
    BatchOptions, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, RecordBatchBuilder,
    restamp_producer_state,
};

use super::delivery::BatchDone;

use super::super::error::{Error, Result};
use super::super::partitioner::partition_for_key;

/// The largest batch a backlog builds unless `batch_size` asks for more
/// (franz-go's and librdkafka's default batch limit): under the brokers'
/// default `max.message.bytes` (1 MiB and 12 bytes).
pub(crate) const BACKLOG_BATCH_MAX: usize = 1_000_000;

/// Producer id and epoch (or none, without idempotence).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProducerIdentity {
    pub(crate) id: i64,
    pub(crate) epoch: i16,
}

impl ProducerIdentity {
    pub(crate) const NONE: ProducerIdentity = ProducerIdentity {
        id: NO_PRODUCER_ID,
        epoch: NO_PRODUCER_EPOCH,
    };
}

/// A batch's records: still a builder (closed, not yet compressed) or
/// finished bytes.
#[derive(Debug)]
pub(crate) enum Payload {
    Building(Box<RecordBatchBuilder>),
    Finished(Bytes),
}

/// A closed batch, queued or in flight.
#[derive(Debug)]
pub(crate) struct ProducerBatch {
    pub(crate) topic: Arc<str>,
    pub(crate) partition: i32,
    pub(crate) payload: Payload,
    pub(crate) records: i32,
    pub(crate) created: Instant,
    pub(crate) attempts: u32,
    /// A request carrying the batch went out and no answer came (the
    /// connection broke, or the request timed out): the broker may have
    /// written it.
    pub(crate) outcome_unknown: bool,
    pub(crate) retry_at: Option<Instant>,
    pub(crate) base_sequence: i32,
    pub(crate) identity: ProducerIdentity,
    pub(crate) reserved: u32,
    pub(crate) done: Arc<BatchDone>,
}

impl ProducerBatch {
    /// Compresses and encodes the batch, once.
    pub(crate) fn finish(&mut self) -> Result<Bytes> {
        if let Payload::Building(builder) = &mut self.payload {
            let builder = std::mem::replace(
                builder,
                Box::new(RecordBatchBuilder::new(BatchOptions::default())),
            );
            self.payload = Payload::Finished(builder.finish()?);
        }
        match &self.payload {
            Payload::Finished(bytes) => Ok(bytes.clone()),
            Payload::Building(_) => Err(Error::Closed),
        }
    }

    /// Gives the batch a new producer identity and base sequence.
    pub(crate) fn restamp(&mut self, identity: ProducerIdentity, base_sequence: i32) -> Result<()> {
        self.identity = identity;
        self.base_sequence = base_sequence;
        match &mut self.payload {
            Payload::Building(builder) => {
                builder.set_producer_state(identity.id, identity.epoch, base_sequence)
            }
            Payload::Finished(bytes) => {
                *bytes = restamp_producer_state(bytes, identity.id, identity.epoch, base_sequence)?;
            }
        }
        Ok(())
    }

    /// The sequence of the batch's last record.
    pub(crate) fn last_sequence(&self) -> i32 {
        if self.base_sequence == NO_SEQUENCE {
            return NO_SEQUENCE;
        }
        seq_add(self.base_sequence, self.records.saturating_sub(1))
    }
}

/// Sequence numbers wrap at `i32::MAX` back to 0.
pub(crate) fn seq_add(seq: i32, n: i32) -> i32 {
    let sum = i64::from(seq) + i64::from(n);
    (sum % (i64::from(i32::MAX) + 1)) as i32
}

struct OpenBatch {
    builder: Box<RecordBatchBuilder>,
    created: Instant,
    reserved: u32,
    done: Arc<BatchDone>,
}

/// One partition's batches and sequence state.
pub(crate) struct PartitionQueue {
    open: Option<OpenBatch>,
    pub(crate) queued: VecDeque<ProducerBatch>,
    pub(crate) in_flight: usize,
    pub(crate) next_sequence: i32,
    /// The last sequence the broker acknowledged, or -1.
    pub(crate) last_acked: i32,
    /// A batch failed and is being retried: at most one in flight until
    /// the retried batches are through, so order is kept.
    pub(crate) retrying: bool,
}

impl Default for PartitionQueue {
    fn default() -> Self {
        PartitionQueue {
            open: None,
            queued: VecDeque::new(),
            in_flight: 0,
            next_sequence: 0,
            last_acked: -1,
            retrying: false,
        }
    }
}

pub(crate) struct TopicQueues {
    pub(crate) name: Arc<str>,
    pub(crate) partitions: Vec<PartitionQueue>,
    sticky: Option<i32>,
}

/// Settings the accumulator needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AccumulatorConfig {
    /// A batch this big is sent as soon as its leader's connection has
    /// room (before linger).
    pub(crate) batch_size: usize,
    /// While its partition cannot send (every request slot to the leader
    /// busy, or batches ahead of it), an open batch keeps taking records up
    /// to this size, so a backlog goes out in fewer, larger batches.
    pub(crate) batch_max: usize,
    pub(crate) linger: Duration,
    pub(crate) compression: Compression,
    pub(crate) idempotent: bool,
    /// Batches carry the transactional flag (a transactional producer).
    pub(crate) transactional: bool,
}

impl AccumulatorConfig {
    /// The size at which a batch is ready without waiting for linger.
    fn full_at(&self) -> usize {
        self.batch_size.min(self.batch_max)
    }
}

/// What a new batch's buffer starts with; it grows as records come.
const INITIAL_CAPACITY: usize = 16 * 1024;

/// Where a record went.
pub(crate) struct Appended {
    pub(crate) partition: i32,
    pub(crate) index: i32,
    pub(crate) done: Arc<BatchDone>,
    /// A new batch was opened or one was closed: the sender should look.
    pub(crate) wake: bool,
}

/// All partitions' batches.
pub(crate) struct Accumulator {
    pub(crate) config: AccumulatorConfig,
    pub(crate) topics: HashMap<Arc<str>, TopicQueues>,
    pub(crate) identity: ProducerIdentity,
    /// Batches not yet done (open, queued or in flight).
    pub(crate) incomplete: usize,
    /// Records appended and not yet settled (a metric).
    pub(crate) buffered_records: usize,
    /// While non-zero, open batches are sent without waiting for linger.
    pub(crate) flushing: usize,
    pub(crate) closed: bool,
    /// The epoch must be bumped (or a new id fetched) before sending more.
    pub(crate) bump_needed: bool,
    rng: u64,
}

impl Accumulator {
    pub(crate) fn new(config: AccumulatorConfig, identity: ProducerIdentity) -> Self {
        Accumulator {
            config,
            topics: HashMap::new(),
            identity,
            incomplete: 0,
            buffered_records: 0,
            flushing: 0,
            closed: false,
            bump_needed: false,
            rng: 0x2545_f491_4f6c_dd1d ^ u64::from(std::process::id()),
        }
    }

    /// Records (or grows) a topic's partition count.
    pub(crate) fn set_partition_count(&mut self, topic: &str, count: usize) {
        match self.topics.get_mut(topic) {
            Some(t) => {
                if t.partitions.len() < count {
                    t.partitions.resize_with(count, PartitionQueue::default);
                }
            }
            None => {
                let name: Arc<str> = topic.into();
                let mut partitions = Vec::with_capacity(count);
                partitions.resize_with(count, PartitionQueue::default);
                self.topics.insert(
                    name.clone(),
                    TopicQueues {
                        name,
                        partitions,
                        sticky: None,
                    },
                );
            }
        }
    }

    /// Appends a record. The topic's partition count must be known.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn append(
        &mut self,
        topic: &str,
        partition: Option<i32>,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&str, Option<&[u8]>)],
        timestamp: i64,
        reserved: u32,
    ) -> Result<Appended> {
        let Some(topic_queues) = self.topics.get_mut(topic) else {
            return Err(Error::UnknownTopic(topic.to_owned()));
        };
        let count = topic_queues.partitions.len();
        let partition = match (partition, key) {
            (Some(p), _) => {
                if usize::try_from(p).map_or(true, |i| i >= count) {
                    return Err(Error::UnknownPartition {
                        topic: topic.to_owned(),
                        partition: p,
                    });
                }
                p
            }
            (None, Some(key)) => partition_for_key(key, u32::try_from(count).unwrap_or(u32::MAX)),
            (None, None) => match topic_queues.sticky {
                Some(p) => p,
                None => {
                    let p = i32::try_from(random(&mut self.rng, count)).unwrap_or(0);
                    topic_queues.sticky = Some(p);
                    p
                }
            },
        };
        let config = self.config;
        let identity = self.identity;
        let mut wake = false;
        let queue = usize::try_from(partition)
            .ok()
            .and_then(|i| topic_queues.partitions.get_mut(i))
            .ok_or_else(|| Error::UnknownPartition {
                topic: topic.to_owned(),
                partition,
            })?;
        let needed = kafka_proto::record::record_size_upper_bound(key, value, headers);
        // A batch that would pass `batch_max` is closed here and waits its
        // turn. Below that it keeps taking records until the sender can
        // close it (see `drain`).
        let over_max = queue.open.as_ref().is_some_and(|b| {
            !b.builder.is_empty()
                && b.builder.encoded_size().saturating_add(needed) > config.batch_max
        });
        if over_max {
            close_open(
                queue,
                &topic_queues.name,
                partition,
                identity,
                config.idempotent,
            );
            wake = true;
        }
        if queue.open.is_none() {
            let options = BatchOptions {
                compression: config.compression,
                transactional: config.transactional,
                ..BatchOptions::default()
            };
            queue.open = Some(OpenBatch {
                builder: Box::new(RecordBatchBuilder::with_capacity(
                    options,
                    config.batch_size.min(INITIAL_CAPACITY).max(needed),
                )),
                created: Instant::now(),
                reserved: 0,
                done: Arc::new(BatchDone::default()),
            });
            self.incomplete += 1;
            wake = true;
        }
        let open = queue.open.as_mut().ok_or(Error::Closed)?;
        let index = i32::try_from(open.builder.len()).unwrap_or(i32::MAX);
        let before = open.builder.encoded_size();
        if headers.is_empty() {
            open.builder.append(timestamp, key, value)?;
        } else {
            open.builder
                .append_with_headers(timestamp, key, value, headers)?;
        }
        // The record that fills the batch to `batch_size` makes it ready:
        // the sender is told, and keyless records move to another
        // partition.
        let full_at = config.full_at();
        let filled = before < full_at && open.builder.encoded_size() >= full_at;
        open.reserved = open.reserved.saturating_add(reserved);
        let done = open.done.clone();
        self.buffered_records += 1;
        if filled || over_max {
            wake = true;
        }
        if (filled || over_max) && topic_queues.sticky == Some(partition) {
            switch_sticky(topic_queues, &mut self.rng, partition);
        }
        Ok(Appended {
            partition,
            index,
            done,
            wake,
        })
    }

    /// Takes the batches that can be sent now, at most one per partition,
    /// for partitions whose leader `leader_of` knows and whose leader's
    /// connection `room` says can take another request; returns them and
    /// the earliest time something else becomes ready. Batches past their
    /// delivery timeout come back in `expired`.
    ///
    /// An open batch is closed here only when it is ready (full, lingered
    /// or flushed) and its partition can send it now: until then it keeps
    /// taking records, so a backlog builds larger batches instead of a
    /// queue of small ones (franz-go's batching by backlog).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn drain(
        &mut self,
        now: Instant,
        delivery_timeout: Duration,
        max_in_flight: usize,
        mut leader_of: impl FnMut(&str, i32) -> Option<i32>,
        mut room: impl FnMut(i32) -> bool,
        out: &mut Vec<(i32, ProducerBatch)>,
        expired: &mut Vec<ProducerBatch>,
    ) -> Drained {
        let mut next: Option<Instant> = None;
        let mut missing_leader = false;
        let config = self.config;
        let identity = self.identity;
        let flushing = self.flushing > 0 || self.closed;
        let bump_needed = self.bump_needed;
        let mut closed_sticky: Vec<(Arc<str>, i32)> = Vec::new();
        for topic in self.topics.values_mut() {
            for (index, queue) in topic.partitions.iter_mut().enumerate() {
                let partition = i32::try_from(index).unwrap_or(i32::MAX);
                if queue.open.is_none() && queue.queued.is_empty() {
                    continue;
                }
                // A ready open batch that could not go out within the
                // delivery timeout is closed, to expire with the queued ones.
                if queue.open.as_ref().is_some_and(|o| {
                    now.duration_since(o.created) >= delivery_timeout
                        && (flushing
                            || now.duration_since(o.created) >= config.linger
                            || o.builder.encoded_size() >= config.full_at())
                }) {
                    close_open(queue, &topic.name, partition, identity, config.idempotent);
                }
                // Expire queued batches past their delivery timeout.
                while queue
                    .queued
                    .front()
                    .is_some_and(|b| now.duration_since(b.created) >= delivery_timeout)
                {
                    if let Some(b) = queue.queued.pop_front() {
                        expired.push(b);
                    }
                }
                // Until the broker has acknowledged a first batch of this
                // epoch it holds no sequence state for us and would accept a
                // later batch before an earlier one that failed: send one at
                // a time until then (and while retrying).
                let one_at_a_time = queue.retrying || (config.idempotent && queue.last_acked < 0);
                let blocked = bump_needed
                    || queue.in_flight >= max_in_flight
                    || (one_at_a_time && queue.in_flight > 0);
                let leader = if queue.open.is_some() || !queue.queued.is_empty() {
                    let leader = leader_of(&topic.name, partition);
                    missing_leader |= leader.is_none();
                    leader
                } else {
                    None
                };
                let can_send = !blocked && leader.is_some_and(&mut room);
                if let Some(open) = &queue.open {
                    let ready_at = open.created + config.linger;
                    let ready = flushing
                        || ready_at <= now
                        || open.builder.encoded_size() >= config.full_at();
                    if !ready {
                        next = min_instant(next, ready_at);
                    } else if can_send && queue.queued.is_empty() {
                        close_open(queue, &topic.name, partition, identity, config.idempotent);
                        if topic.sticky == Some(partition) {
                            closed_sticky.push((topic.name.clone(), partition));
                        }
                    } else {
                        // Ready but held back: sent when a slot frees, or
                        // expired at the delivery timeout.
                        next = min_instant(next, open.created + delivery_timeout);
                    }
                }
                let Some(front) = queue.queued.front() else {
                    continue;
                };
                next = min_instant(next, front.created + delivery_timeout);
                if !can_send {
                    continue;
                }
                if let Some(at) = front.retry_at.filter(|&at| at > now) {
                    next = min_instant(next, at);
                    continue;
                }
                let Some(leader) = leader else {
                    continue;
                };
                if let Some(batch) = queue.queued.pop_front() {
                    queue.in_flight += 1;
                    out.push((leader, batch));
                }
                if (!queue.queued.is_empty() || queue.open.is_some())
                    && queue.in_flight < max_in_flight
                    && !one_at_a_time
                {
                    // More may be ready for this partition: come back at once.
                    next = Some(now);
                }
            }
        }
        for (topic, old) in closed_sticky {
            if let Some(t) = self.topics.get_mut(&topic) {
                switch_sticky(t, &mut self.rng, old);
            }
        }
        Drained {
            next,
            missing_leader,
        }
    }

    /// The queue of `topic`/`partition`.
    pub(crate) fn queue(&mut self, topic: &str, partition: i32) -> Option<&mut PartitionQueue> {
        let t = self.topics.get_mut(topic)?;
        usize::try_from(partition)
            .ok()
            .and_then(|i| t.partitions.get_mut(i))
    }

    /// Puts a batch back for a retry, in sequence order (retries go before
    /// the partition's newer batches).
    pub(crate) fn requeue(&mut self, mut batch: ProducerBatch, retry_at: Instant) {
        batch.attempts = batch.attempts.saturating_add(1);
        batch.retry_at = Some(retry_at);
        let Some(queue) = self.queue(&batch.topic, batch.partition) else {
            return;
        };
        queue.retrying = true;
        let position = if batch.base_sequence == NO_SEQUENCE {
            queue.queued.iter().take_while(|b| b.attempts > 0).count()
        } else {
            queue
                .queued
                .iter()
                .take_while(|b| b.attempts > 0 && b.base_sequence < batch.base_sequence)
                .count()
        };
        queue.queued.insert(position, batch);
    }

    /// The total of batches in flight.
    /// A partition holding records (queued or in an open batch) for which
    /// `has_leader` says no leader is known.
    pub(crate) fn waiting_for_leader(
        &self,
        mut has_leader: impl FnMut(&str, i32) -> bool,
    ) -> Option<(Arc<str>, i32)> {
        self.topics.values().find_map(|t| {
            t.partitions.iter().enumerate().find_map(|(i, q)| {
                let partition = i32::try_from(i).ok()?;
                let holds = !q.queued.is_empty() || q.open.is_some();
                (holds && !has_leader(&t.name, partition)).then(|| (t.name.clone(), partition))
            })
        })
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.topics
            .values()
            .flat_map(|t| &t.partitions)
            .map(|q| q.in_flight)
            .sum()
    }

    /// After an epoch bump: sequences start again at 0 in every partition,
    /// and queued batches are restamped in order.
    pub(crate) fn reset_sequences(&mut self, identity: ProducerIdentity) -> Result<()> {
        self.identity = identity;
        self.bump_needed = false;
        for topic in self.topics.values_mut() {
            for queue in &mut topic.partitions {
                queue.next_sequence = 0;
                queue.last_acked = -1;
                queue.retrying = false;
                for batch in &mut queue.queued {
                    let seq = queue.next_sequence;
                    batch.restamp(identity, seq)?;
                    queue.next_sequence = seq_add(seq, batch.records);
                }
            }
        }
        Ok(())
    }

    /// Closes every open batch and takes every queued one: their
    /// transaction is being aborted, or cannot commit. Batches in flight
    /// stay.
    ///
    /// A partition whose taken batches never went out gets their sequence
    /// numbers back (they come back with [`NO_SEQUENCE`]): its next batch
    /// follows the last one sent, with no gap, so failing them needs no
    /// epoch bump. A batch waiting for a retry went out before and may be
    /// in the log: its partition keeps the sequences, and failing it asks
    /// for the bump as any failed sequenced batch does.
    pub(crate) fn take_unsent(&mut self) -> Vec<ProducerBatch> {
        let identity = self.identity;
        let idempotent = self.config.idempotent;
        let mut out = Vec::new();
        for topic in self.topics.values_mut() {
            for (index, queue) in topic.partitions.iter_mut().enumerate() {
                let partition = i32::try_from(index).unwrap_or(i32::MAX);
                close_open(queue, &topic.name, partition, identity, idempotent);
                let first = out.len();
                out.extend(queue.queued.drain(..));
                queue.retrying = false;
                let taken = &mut out[first..];
                let base = taken.first().map_or(NO_SEQUENCE, |b| b.base_sequence);
                if base != NO_SEQUENCE && taken.iter().all(|b| b.attempts == 0) {
                    queue.next_sequence = base;
                    for batch in taken {
                        batch.base_sequence = NO_SEQUENCE;
                    }
                }
            }
        }
        out
    }

    /// Whether nothing is open, queued or in flight.
    pub(crate) fn is_empty(&self) -> bool {
        self.incomplete == 0
    }
}

/// What [`Accumulator::drain`] found besides batches.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Drained {
    /// When to look again.
    pub(crate) next: Option<Instant>,
    /// Some partition with batches has no known leader.
    pub(crate) missing_leader: bool,
}

/// A xorshift step: the sticky partitioner's choice among `n`.
fn random(rng: &mut u64, n: usize) -> usize {
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    (*rng % n.max(1) as u64) as usize
}

/// After the sticky partition's batch filled, moves keyless records to
/// another partition.
fn switch_sticky(topic: &mut TopicQueues, rng: &mut u64, old: i32) {
    let count = topic.partitions.len();
    let mut p = i32::try_from(random(rng, count)).unwrap_or(0);
    if count > 1 && p == old {
        p = (p + 1) % i32::try_from(count).unwrap_or(1);
    }
    topic.sticky = Some(p);
}

fn min_instant(a: Option<Instant>, b: Instant) -> Option<Instant> {
    Some(a.map_or(b, |a| a.min(b)))
}

/// Closes the partition's open batch: assigns its sequence numbers and
/// queues it.
fn close_open(
    queue: &mut PartitionQueue,
    topic: &Arc<str>,
    partition: i32,
    identity: ProducerIdentity,
    idempotent: bool,
) {
    let Some(mut open) = queue.open.take() else {
        return;
    };
    let records = i32::try_from(open.builder.len()).unwrap_or(i32::MAX);
    let base_sequence = if idempotent {
        let seq = queue.next_sequence;
        queue.next_sequence = seq_add(seq, records);
        open.builder
            .set_producer_state(identity.id, identity.epoch, seq);
        seq
    } else {
        NO_SEQUENCE
    };
    queue.queued.push_back(ProducerBatch {
        topic: topic.clone(),
        partition,
        payload: Payload::Building(open.builder),
        records,
        created: open.created,
        attempts: 0,
        outcome_unknown: false,
        retry_at: None,
        base_sequence,
        identity,
        reserved: open.reserved,
        done: open.done,
    });
}

#[cfg(test)]
mod tests;
