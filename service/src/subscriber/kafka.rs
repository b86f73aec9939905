//! The Kafka subscriber: a group consumer feeding the keyed pool, beyond
//! the partition count, committing each partition's contiguous processed
//! prefix.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use mq_client::StreamExt;
use mq_client::kafka::{
    self, ConsumerRecord, OffsetReset, Rebalance, RebalanceListener, TopicPartition,
};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::pipeline::{Envelope, Pipeline};
use super::{Handler, OrderBy, Settings, TriggerOnDrop};
use crate::bus::{Bus, Inner};
use crate::codec::Codec;
use crate::dead_letter::DeadLetterSink;
use crate::error::Error;
use crate::message::{Headers, Metadata};
use crate::metrics::SubscriberMetrics;
use crate::offsets::OffsetTracker;
use crate::pool::{KeyedPool, Slot, lane_key};
use crate::publisher::{CONTENT_TYPE_HEADER, MESSAGE_ID_HEADER};
use crate::rate_limit::TokenBucket;
use crate::semconv;
use crate::shutdown::Shutdown;

type Tracker = Arc<Mutex<OffsetTracker>>;

fn lock(t: &Tracker) -> MutexGuard<'_, OffsetTracker> {
    t.lock().unwrap_or_else(|p| p.into_inner())
}

/// The rebalance listener: tracks assignments, and before partitions go
/// lets their in-flight records finish (up to the drain timeout) and
/// commits their processed prefix.
struct Listener {
    tracker: Tracker,
    drain: Duration,
    closing: Arc<AtomicBool>,
}

impl RebalanceListener for Listener {
    async fn on_assigned(&mut self, _ctx: &mut Rebalance<'_>, partitions: &[TopicPartition]) {
        let mut t = lock(&self.tracker);
        for tp in partitions {
            t.assign(tp);
        }
        tracing::info!(partitions = ?partitions, "partitions assigned");
    }

    async fn on_revoked(&mut self, ctx: &mut Rebalance<'_>, partitions: &[TopicPartition]) {
        let deadline = Instant::now() + self.drain;
        // On close the subscriber has drained already.
        while !self.closing.load(Ordering::Acquire) && Instant::now() < deadline {
            let busy: usize = {
                let t = lock(&self.tracker);
                partitions.iter().map(|tp| t.in_flight(tp)).sum()
            };
            if busy == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Marked processed, then committed: after this listener the
        // consumer commits every processed mark not yet committed, and a
        // `ctx.commit` alone would leave an older mark (from the last
        // periodic commit) to move the committed offset back.
        let commits = lock(&self.tracker).commits_for(partitions);
        if !commits.is_empty() {
            for (tp, oe) in commits {
                ctx.mark_processed(tp, oe);
            }
            if let Err(e) = ctx.commit_processed().await {
                tracing::warn!(error = %e, "commit on revoke failed");
            }
        }
        let mut t = lock(&self.tracker);
        for tp in partitions {
            t.revoke(tp);
        }
        tracing::info!(partitions = ?partitions, "partitions revoked");
    }

    async fn on_lost(&mut self, _ctx: &mut Rebalance<'_>, partitions: &[TopicPartition]) {
        let mut t = lock(&self.tracker);
        for tp in partitions {
            t.revoke(tp);
        }
        tracing::warn!(partitions = ?partitions, "partitions lost");
    }
}

/// Connects, creates the dead-letter topic, subscribes, and spawns the
/// loop.
pub(super) async fn start<T, C, H>(
    bus: Bus,
    settings: Arc<Settings>,
    codec: Arc<C>,
    handler: Arc<H>,
) -> Result<JoinHandle<Result<(), Error>>, Error>
where
    T: Send + 'static,
    C: Codec<T>,
    H: Handler<T>,
{
    let Inner::Kafka(k) = &*bus.inner else {
        return Err(Error::WrongBroker {
            option: "Kafka subscriber",
            broker: "Kafka",
        });
    };
    if k.config.create_topics {
        let admin = k.config.admin().await?;
        DeadLetterSink::create_topic(
            &admin,
            &settings.dead_letter,
            k.config.dead_letter_partitions,
        )
        .await;
    }
    let producer = k.producer().await?.clone();
    let tracker: Tracker = Arc::default();
    let closing = Arc::new(AtomicBool::new(false));
    let mut builder = k
        .config
        .consumer_builder()
        .group(settings.group.clone())
        .auto_offset_reset(OffsetReset::Earliest);
    if let Some(hook) = &settings.consumer_hook {
        builder = hook(builder);
    }
    let mut consumer = builder
        .listener(Listener {
            tracker: tracker.clone(),
            drain: settings.drain_timeout,
            closing: closing.clone(),
        })
        .build()
        .await?;
    consumer.subscribe([settings.source.clone()]).await?;

    let pool = KeyedPool::new(settings.concurrency, settings.max_in_flight);
    let hard_stop = Shutdown::new();
    let pipeline = Arc::new(Pipeline {
        codec,
        handler,
        rate: settings
            .rate
            .map(|(n, per, burst)| TokenBucket::new(n, per, burst, Instant::now())),
        retry: settings.retry.clone(),
        handler_timeout: settings.handler_timeout,
        dead_letters: DeadLetterSink::Kafka {
            producer,
            topic: settings.dead_letter.clone(),
        },
        metrics: SubscriberMetrics::new(semconv::SYSTEM_KAFKA, &settings.source, &settings.group),
        dedup: settings.dedup.clone(),
        workers: pool.workers(),
        hard_stop: hard_stop.clone(),
        group: settings.group.as_str().into(),
        system: semconv::SYSTEM_KAFKA,
        destination: settings.source.as_str().into(),
        _payload: PhantomData,
    });
    let run = Loop {
        consumer,
        tracker,
        closing,
        pool,
        pipeline,
        settings,
        hard_stop,
    };
    Ok(tokio::spawn(run.run()))
}

struct Loop<T, C, H> {
    consumer: kafka::Consumer<Listener>,
    tracker: Tracker,
    closing: Arc<AtomicBool>,
    pool: KeyedPool,
    pipeline: Arc<Pipeline<T, C, H>>,
    settings: Arc<Settings>,
    hard_stop: Shutdown,
}

enum Event {
    Stop,
    Tick,
    Slot(Slot),
    Record(Option<kafka::Result<ConsumerRecord>>),
}

impl<T, C, H> Loop<T, C, H>
where
    T: Send + 'static,
    C: Codec<T>,
    H: Handler<T>,
{
    async fn run(mut self) -> Result<(), Error> {
        let _abort_guard = TriggerOnDrop(self.hard_stop.clone());
        let shutdown = self.settings.shutdown.clone();
        let mut tick = tokio::time::interval(self.settings.commit_interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut failure = None;
        let mut errors = 0u32;
        'pull: loop {
            // A slot first: at the in-flight bound, stop pulling.
            let slot = loop {
                let event = tokio::select! {
                    biased;
                    () = shutdown.triggered() => Event::Stop,
                    _ = tick.tick() => Event::Tick,
                    slot = self.pool.reserve() => Event::Slot(slot),
                };
                match event {
                    Event::Stop => break 'pull,
                    Event::Slot(slot) => break slot,
                    _ => self.commit_due(),
                }
            };
            let record = loop {
                let event = tokio::select! {
                    biased;
                    () = shutdown.triggered() => Event::Stop,
                    _ = tick.tick() => Event::Tick,
                    r = self.consumer.next() => Event::Record(r),
                };
                match event {
                    Event::Stop | Event::Record(None) => break 'pull,
                    Event::Record(Some(Ok(r))) => break r,
                    Event::Record(Some(Err(e))) if e.is_retriable() => {
                        errors += 1;
                        tracing::warn!(error = %e, "consumer error; going on");
                        let pause = Duration::from_millis(50 * u64::from(errors.min(20)));
                        tokio::time::sleep(pause).await;
                    }
                    Event::Record(Some(Err(e))) => {
                        tracing::error!(error = %e, "consumer failed; the subscriber stops");
                        failure = Some(e);
                        break 'pull;
                    }
                    _ => self.commit_due(),
                }
            };
            errors = 0;
            self.dispatch(record, slot);
        }
        self.stop().await;
        match failure {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    /// Commits the partitions whose processed prefix moved (without
    /// waiting: the consumer's committer sends commits in order).
    fn commit_due(&self) {
        let commits = lock(&self.tracker).take_commits();
        if !commits.is_empty() {
            drop(self.consumer.commit_offsets_async(commits));
        }
    }

    fn dispatch(&self, record: ConsumerRecord, slot: Slot) {
        let tp = TopicPartition::new(record.topic.clone(), record.partition);
        let ticket = lock(&self.tracker).dispatch(&tp, record.offset, record.leader_epoch);
        let key = match self.settings.order {
            OrderBy::Key => record.key.as_deref().map(lane_key),
            OrderBy::Partition => {
                let mut k = record.topic.as_bytes().to_vec();
                k.extend_from_slice(&record.partition.to_be_bytes());
                Some(lane_key(&k))
            }
            OrderBy::Unordered => None,
        };
        let env = envelope(record);
        let pipeline = self.pipeline.clone();
        let tracker = self.tracker.clone();
        pipeline.metrics.in_flight.increment(1.0);
        self.pool.submit_reserved(
            slot,
            key,
            Box::pin(async move {
                let outcome = pipeline.process(env).await;
                pipeline.metrics.in_flight.decrement(1.0);
                if outcome.settles() {
                    lock(&tracker).complete(&ticket);
                }
            }),
        );
    }

    /// Graceful stop: drain up to the deadline, abandon the rest, commit
    /// what finished, leave the group.
    async fn stop(self) {
        self.closing.store(true, Ordering::Release);
        let drain = self.settings.drain_timeout;
        if tokio::time::timeout(drain, self.pool.drained())
            .await
            .is_err()
        {
            tracing::warn!(
                in_flight = self.pool.in_flight(),
                "drain timeout: unfinished messages are left uncommitted"
            );
            self.hard_stop.trigger();
            let _ = tokio::time::timeout(Duration::from_secs(5), self.pool.drained()).await;
        }
        let assigned = self.consumer.assignment();
        let commits = lock(&self.tracker).commits_for(&assigned);
        if !commits.is_empty() {
            if let Err(e) = self.consumer.commit_offsets(commits).await {
                tracing::warn!(error = %e, "final commit failed");
            }
        }
        if let Err(e) = self.consumer.close().await {
            tracing::warn!(error = %e, "leaving the group failed");
        }
        tracing::info!(topic = %self.settings.source, group = %self.settings.group, "subscriber stopped");
    }
}

/// A record as the pipeline sees it.
fn envelope(r: ConsumerRecord) -> Envelope {
    let mut headers = Headers::new();
    for (k, v) in r.headers {
        headers.push(String::from_utf8_lossy(&k).into_owned(), v);
    }
    let content_type = headers.get_str(CONTENT_TYPE_HEADER).map(str::to_owned);
    let message_id = headers.get_str(MESSAGE_ID_HEADER).map(str::to_owned);
    Envelope {
        body: r.value,
        key: r.key,
        content_type,
        message_id,
        metadata: Metadata::Kafka {
            topic: r.topic,
            partition: r.partition,
            offset: r.offset,
            timestamp: r.timestamp,
        },
        headers,
        amqp_properties: None,
    }
}
