//! The Kafka subscriber: a group consumer feeding the keyed pool, beyond
//! the partition count, committing each partition's contiguous processed
//! prefix. With delayed retries, a second consumer (group
//! `<group>.retry`) reads the stage topics into a pool of its own, holding
//! each stage partition's head record until it is due ([`due`]).

mod due;
mod listener;

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use mq_client::StreamExt;
use mq_client::kafka::{self, ConsumerRecord, OffsetReset, TopicPartition};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use self::due::Due;
use self::listener::{Listener, Tracker, lock};
use super::hold::{Holds, Waited};
use super::pipeline::{Envelope, Pipeline};
use super::{Handler, OrderBy, Settings, TriggerOnDrop, run_loops};
use crate::bus::{Bus, Inner, KafkaBus};
use crate::codec::Codec;
use crate::dead_letter::DeadLetterSink;
use crate::dedup::Deduplication;
use crate::delayed_retry::{Carried, RetrySink};
use crate::error::Error;
use crate::message::{Headers, Metadata, Received};
use crate::metrics::SubscriberMetrics;
use crate::pool::{KeyedPool, Slot, lane_key};
use crate::publisher::{CONTENT_TYPE_HEADER, MESSAGE_ID_HEADER};
use crate::rate_limit::TokenBucket;
use crate::semconv;
use crate::shutdown::Shutdown;

/// Connects, creates the dead-letter topic (and the retry stages' topics),
/// subscribes, and spawns the loops.
pub(super) async fn start<T, C, H>(
    bus: Bus,
    settings: Arc<Settings>,
    codec: Arc<C>,
    handler: Arc<H>,
    dedup: Option<Deduplication<T>>,
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
        if !settings.stages.is_empty() {
            // As many partitions as the source, so that a stage spreads
            // over the group as the source does.
            let partitions = match admin.describe_topics([settings.source.as_str()]).await {
                Ok(t) => t.first().map_or(1, |t| t.partitions.len().max(1)),
                Err(_) => 1,
            };
            let partitions = i32::try_from(partitions).unwrap_or(1);
            RetrySink::create_topics(&admin, &settings.stages, partitions).await?;
        }
    }
    let producer = k.producer().await?.clone();
    let (mut consumer, tracker, closing) = group_consumer(k, &settings, &settings.group).await?;
    consumer.subscribe([settings.source.clone()]).await?;

    let pool = KeyedPool::new(settings.concurrency, settings.max_in_flight);
    let hard_stop = Shutdown::new();
    let stages = (!settings.stages.is_empty()).then(|| RetrySink::Kafka {
        producer: producer.clone(),
        topics: settings.stages.clone(),
    });
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
        stages,
        metrics: SubscriberMetrics::new(semconv::SYSTEM_KAFKA, &settings.source, &settings.group),
        dedup,
        workers: pool.workers(),
        hard_stop: hard_stop.clone(),
        group: settings.group.as_str().into(),
        system: semconv::SYSTEM_KAFKA,
        destination: settings.source.as_str().into(),
        _payload: PhantomData,
    });
    let stop = Shutdown::new();
    let holds = settings.holds_key.then(|| {
        let grace = settings.retry.backoff.worst_case(settings.handler_timeout);
        Arc::new(Holds::new(grace + Duration::from_secs(30)))
    });
    let retry_loop = if settings.stages.is_empty() {
        None
    } else {
        let group = format!("{}.retry", settings.group);
        let (mut consumer, tracker, closing) = group_consumer(k, &settings, &group).await?;
        let mut topics = settings.stages.clone();
        topics.dedup();
        consumer.subscribe(topics).await?;
        Some(Loop {
            consumer,
            tracker,
            closing,
            pool: KeyedPool::with_workers(pool.workers(), pool.runners(), settings.max_in_flight),
            pipeline: pipeline.clone(),
            settings: settings.clone(),
            hard_stop: hard_stop.clone(),
            stop: stop.clone(),
            holds: holds.clone(),
            due: Some(Due::new(&settings.stages, &settings.retry.delays)),
        })
    };
    let source_loop = Loop {
        consumer,
        tracker,
        closing,
        pool,
        pipeline,
        settings: settings.clone(),
        hard_stop,
        stop: stop.clone(),
        holds,
        due: None,
    };
    Ok(tokio::spawn(run_loops(
        settings.shutdown.clone(),
        stop,
        source_loop.run(),
        retry_loop.map(Loop::run),
    )))
}

/// A group consumer of the subscriber's settings in `group`, with its
/// listener's tracker and closing flag.
async fn group_consumer(
    k: &KafkaBus,
    settings: &Settings,
    group: &str,
) -> Result<(kafka::Consumer<Listener>, Tracker, Arc<AtomicBool>), Error> {
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
    if group != settings.group {
        builder = builder.group(group.to_owned());
    }
    let consumer = builder
        .listener(Listener {
            tracker: tracker.clone(),
            drain: settings.drain_timeout,
            closing: closing.clone(),
        })
        .build()
        .await?;
    Ok((consumer, tracker, closing))
}

struct Loop<T, C, H> {
    consumer: kafka::Consumer<Listener>,
    tracker: Tracker,
    closing: Arc<AtomicBool>,
    pool: KeyedPool,
    pipeline: Arc<Pipeline<T, C, H>>,
    settings: Arc<Settings>,
    hard_stop: Shutdown,
    /// The subscriber's shutdown, or the other loop's failure.
    stop: Shutdown,
    holds: Option<Arc<Holds>>,
    /// The loop of the retry stages: its records held until due.
    due: Option<Due>,
}

enum Event {
    Stop,
    Tick,
    Due,
    Slot(Slot),
    Record(Option<kafka::Result<ConsumerRecord>>),
}

/// Sleeps until `t`, or forever.
async fn sleep_until(t: Option<tokio::time::Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

impl<T, C, H> Loop<T, C, H>
where
    T: Send + 'static,
    C: Codec<T>,
    H: Handler<T>,
{
    async fn run(mut self) -> Result<(), Error> {
        let _abort_guard = TriggerOnDrop(self.hard_stop.clone());
        let stop = self.stop.clone();
        let mut tick = tokio::time::interval(self.settings.commit_interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut failure = None;
        let mut errors = 0u32;
        'pull: loop {
            // The flag first, then the likely-ready futures before the
            // stop's: a select that finds an early branch ready never
            // registers a waiter on the later ones.
            if stop.is_triggered() {
                break 'pull;
            }
            // A slot first: at the in-flight bound, stop pulling.
            let slot = loop {
                let event = tokio::select! {
                    biased;
                    slot = self.pool.reserve() => Event::Slot(slot),
                    _ = tick.tick() => Event::Tick,
                    () = stop.triggered() => Event::Stop,
                };
                match event {
                    Event::Stop => break 'pull,
                    Event::Slot(slot) => break slot,
                    _ => self.commit_due(),
                }
            };
            let record = loop {
                let next_due = self.due.as_ref().and_then(Due::next);
                let event = tokio::select! {
                    biased;
                    // The tick before the records, so commits are never
                    // starved by a consumer that always has one ready.
                    _ = tick.tick() => Event::Tick,
                    () = sleep_until(next_due) => Event::Due,
                    r = self.consumer.next() => Event::Record(r),
                    () = stop.triggered() => Event::Stop,
                };
                match event {
                    Event::Stop | Event::Record(None) => break 'pull,
                    Event::Due => {
                        if let Some(r) = self.release_due().await {
                            break r;
                        }
                    }
                    Event::Record(Some(Ok(r))) => {
                        errors = 0;
                        if let Some(r) = self.admit(r).await {
                            break r;
                        }
                    }
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
            self.dispatch(record, slot).await;
        }
        if failure.is_some() {
            // The other loop stops too.
            self.stop.trigger();
        }
        self.shut().await;
        match failure {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    /// A record pulled: to dispatch now, or (a stage's record that is not
    /// due) held with its partition paused.
    async fn admit(&mut self, r: ConsumerRecord) -> Option<ConsumerRecord> {
        let Some(due) = self.due.as_mut() else {
            return Some(r);
        };
        let tp = TopicPartition::new(r.topic.clone(), r.partition);
        // A record of a partition that had one held: the partition was
        // assigned again (a pause does not outlive that), and this is its
        // head now.
        due.forget(&tp);
        let now = tokio::time::Instant::now();
        let at = due.due_at(&r, now, SystemTime::now());
        if at <= now {
            return Some(r);
        }
        match self.consumer.pause(std::slice::from_ref(&tp)).await {
            Ok(()) => {
                if let Some(due) = self.due.as_mut() {
                    due.hold(r, at);
                }
            }
            // Revoked meanwhile: its next owner reads it.
            Err(e) => tracing::debug!(error = %e, "cannot pause a retry partition"),
        }
        None
    }

    /// The earliest held record, now due, if its partition is still ours;
    /// its partition is fetched again.
    async fn release_due(&mut self) -> Option<ConsumerRecord> {
        let due = self.due.as_mut()?;
        let (tp, r) = due.take_due(tokio::time::Instant::now())?;
        if !self.consumer.assignment().contains(&tp) {
            return None;
        }
        if let Err(e) = self.consumer.resume(std::slice::from_ref(&tp)).await {
            tracing::warn!(error = %e, "cannot resume a retry partition");
        }
        Some(r)
    }

    /// Commits the partitions whose processed prefix moved (without
    /// waiting: the consumer's committer sends commits in order).
    fn commit_due(&self) {
        let commits = lock(&self.tracker).take_commits();
        if !commits.is_empty() {
            drop(self.consumer.commit_offsets_async(commits));
        }
    }

    async fn dispatch(&self, record: ConsumerRecord, slot: Slot) {
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
        let stage = self.due.as_ref().map(|d| d.stage_of(&record.topic));
        let mut env = envelope(record);
        env.carried = stage.map(|s| Carried::from_headers(&env.headers, s));
        let from_stage = stage.is_some();
        let pipeline = self.pipeline.clone();
        let tracker = self.tracker.clone();
        let hold = self.holds.clone().zip(key);
        let stop = self.stop.clone();
        pipeline.metrics.in_flight.increment(1.0);
        let job = async move {
            if let Some((holds, lane)) = &hold {
                if !from_stage && holds.is_held(*lane) {
                    lock(&tracker).park(&ticket);
                    // Boxed: the rare path, kept out of every job's layout.
                    let waited = Box::pin(holds.wait(*lane, &stop, &pipeline.hard_stop, || {
                        lock(&tracker).is_current(&ticket)
                    }))
                    .await;
                    lock(&tracker).unpark(&ticket);
                    if waited == Waited::Abandon {
                        pipeline.metrics.in_flight.decrement(1.0);
                        return;
                    }
                }
            }
            let outcome = pipeline.process(&env).await;
            pipeline.metrics.in_flight.decrement(1.0);
            if let Some((holds, lane)) = &hold {
                holds.settled(*lane, from_stage, outcome);
            }
            if outcome.settles() {
                lock(&tracker).complete(&ticket);
            }
        };
        self.pool.submit_reserved(slot, key, Box::pin(job)).await;
    }

    /// Graceful stop: drain up to the deadline, abandon the rest, commit
    /// what finished, leave the group.
    async fn shut(self) {
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
        let group = self.consumer.group_id().to_owned();
        if let Err(e) = self.consumer.close().await {
            tracing::warn!(error = %e, "leaving the group failed");
        }
        tracing::info!(topic = %self.settings.source, %group, "subscriber stopped");
    }
}

/// A record as the pipeline sees it.
fn envelope(r: ConsumerRecord) -> Envelope {
    let headers = Headers::from_raw(r.headers);
    let content_type = headers.get_text(CONTENT_TYPE_HEADER);
    let message_id = headers.get_text(MESSAGE_ID_HEADER);
    Envelope {
        body: r.value,
        received: Arc::new(Received {
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
        }),
        carried: None,
    }
}
