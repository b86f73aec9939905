//! The [`SubscriberBuilder`]: every setting with its default, checked by
//! [`SubscriberBuilder::build`].

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use super::{Handler, OrderBy, RunningSubscriber, Settings, Subscriber};
use crate::bus::{Bus, ConsumerHook, Inner};
use crate::codec::Codec;
use crate::dedup::Deduplication;
use crate::delayed_retry::{return_queue, stage_name};
use crate::error::Error;
use crate::retry::{Backoff, RetryPolicy};
use crate::shutdown::Shutdown;

/// Builds a subscriber. Every setting has a default; [`build`](Self::build)
/// (and so [`start`](Self::start) and [`run`](Self::run)) refuses one that
/// cannot work with [`Error::Config`] naming it.
pub struct SubscriberBuilder<T, C> {
    bus: Bus,
    codec: C,
    source: String,
    group: String,
    concurrency: usize,
    max_in_flight: Option<u32>,
    order: OrderBy,
    rate: Option<(u32, Duration)>,
    burst: Option<u32>,
    retry: Backoff,
    delays: Vec<Duration>,
    holds_key: bool,
    dead_letter: Option<String>,
    handler_timeout: Duration,
    drain_timeout: Duration,
    commit_interval: Duration,
    shutdown: Shutdown,
    dedup: Option<Deduplication<T>>,
    consumer_hook: Option<ConsumerHook>,
    queue: Option<String>,
    queue_options: mq_client::amqp::QueueOptions,
    binding_keys: Vec<String>,
    key_header: Option<String>,
    key_from_routing_key: bool,
    _payload: PhantomData<fn() -> T>,
}

impl<T, C> fmt::Debug for SubscriberBuilder<T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscriberBuilder")
            .field("bus", &self.bus)
            .field("source", &self.source)
            .field("group", &self.group)
            .field("concurrency", &self.concurrency)
            .field("max_in_flight", &self.max_in_flight)
            .field("order", &self.order)
            .field("rate", &self.rate)
            .field("retry", &self.retry)
            .field("delayed_retries", &self.delays)
            .field("retry_holds_key", &self.holds_key)
            .field("dead_letter", &self.dead_letter)
            .finish_non_exhaustive()
    }
}

impl<T, C> SubscriberBuilder<T, C>
where
    T: Send + 'static,
    C: Codec<T>,
{
    pub(crate) fn new(bus: Bus, source: &str, group: &str, codec: C) -> Self {
        SubscriberBuilder {
            bus,
            codec,
            source: source.to_owned(),
            group: group.to_owned(),
            concurrency: 8,
            max_in_flight: None,
            order: OrderBy::Key,
            rate: None,
            burst: None,
            retry: Backoff::default(),
            delays: Vec::new(),
            holds_key: false,
            dead_letter: None,
            handler_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(30),
            commit_interval: Duration::from_millis(250),
            shutdown: Shutdown::new(),
            dedup: None,
            consumer_hook: None,
            queue: None,
            queue_options: mq_client::amqp::QueueOptions::durable(),
            binding_keys: Vec::new(),
            key_header: Some(crate::publisher::KEY_HEADER.to_owned()),
            key_from_routing_key: true,
            _payload: PhantomData,
        }
    }

    /// Handlers running at once (default 8).
    pub fn concurrency(mut self, workers: usize) -> Self {
        self.concurrency = workers;
        self
    }

    /// Messages in flight at most: taken from the broker and not yet
    /// settled, waiting behind their key included (default four per
    /// worker). At the bound the subscriber stops pulling (Kafka); on
    /// RabbitMQ it is the prefetch.
    pub fn max_in_flight(mut self, messages: u32) -> Self {
        self.max_in_flight = Some(messages);
        self
    }

    /// Keep each key's order (the default); see [`OrderBy::Key`].
    pub fn ordered_by_key(mut self) -> Self {
        self.order = OrderBy::Key;
        self
    }

    /// Keep each partition's (or the queue's) order; see
    /// [`OrderBy::Partition`].
    pub fn ordered_by_partition(mut self) -> Self {
        self.order = OrderBy::Partition;
        self
    }

    /// No order at all; see [`OrderBy::Unordered`].
    pub fn unordered(mut self) -> Self {
        self.order = OrderBy::Unordered;
        self
    }

    /// At most `permits` handler calls per `per` (a token bucket; every
    /// attempt counts). The burst defaults to a tenth of `permits`.
    pub fn rate_limit(mut self, permits: u32, per: Duration) -> Self {
        self.rate = Some((permits, per));
        self
    }

    /// The rate limit's burst: calls allowed at once after a quiet spell.
    pub fn rate_limit_burst(mut self, burst: u32) -> Self {
        self.burst = Some(burst);
        self
    }

    /// The in-process retry policy (default: [`Backoff::default`], 5
    /// attempts). With [`delayed_retries`](Self::delayed_retries), every
    /// delivery gets these attempts; [`Backoff::none`] makes each one a
    /// single call.
    pub fn retry(mut self, backoff: Backoff) -> Self {
        self.retry = backoff;
        self
    }

    /// Non-blocking retries: once a delivery's in-process attempts failed,
    /// the message goes to the retry stage of the next delay, a queue or
    /// topic where it waits without holding back its partition, queue or
    /// key, and comes back to this subscriber; after the last delay, to
    /// the dead letters. Each delay is at least 1 ms, in whole
    /// milliseconds, at most 2^32 - 1 ms (RabbitMQ's TTL limit).
    ///
    /// Later messages of the same key pass the one that waits; see
    /// [`retry_holds_key`](Self::retry_holds_key). The stages' names and
    /// headers are in [`crate::delayed_retry`]. On Kafka the bus must be
    /// allowed to create topics ([`KafkaConfig::create_topics`](crate::KafkaConfig::create_topics)).
    pub fn delayed_retries(mut self, delays: impl IntoIterator<Item = Duration>) -> Self {
        self.delays = delays.into_iter().collect();
        self
    }

    /// With [`delayed_retries`](Self::delayed_retries): while a message
    /// waits in a retry stage, later messages of its key wait in process,
    /// in order, until it is done (processed or dead-lettered); other keys
    /// go on. Waiting messages count as in flight, so at
    /// [`max_in_flight`](Self::max_in_flight) fetching stops (Kafka: their
    /// offsets are not committed meanwhile). Needs
    /// [`ordered_by_key`](Self::ordered_by_key).
    ///
    /// The hold lives in this process: if the message comes back to
    /// another subscriber (another member of the Kafka group, or after a
    /// restart), the hold ends at a deadline (its delay, plus the time
    /// its in-process attempts may take, plus 30 s) and the key's later
    /// messages go on without it, with a warning.
    pub fn retry_holds_key(mut self) -> Self {
        self.holds_key = true;
        self
    }

    /// The dead-letter destination: a Kafka topic, or a RabbitMQ fanout
    /// exchange with a queue of the same name (both declared). Default
    /// `<source>.<group>.dead`.
    pub fn dead_letter(mut self, destination: &str) -> Self {
        self.dead_letter = Some(destination.to_owned());
        self
    }

    /// How long one handler call may take (default 30 s); past it the call
    /// is dropped and counts as a retriable failure.
    pub fn handler_timeout(mut self, timeout: Duration) -> Self {
        self.handler_timeout = timeout;
        self
    }

    /// On shutdown, how long in-flight messages may take to finish
    /// (default 30 s); the rest are left unacked / uncommitted.
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// Kafka: how often processed offsets are committed (default 250 ms),
    /// besides on rebalance and shutdown.
    pub fn commit_interval(mut self, interval: Duration) -> Self {
        self.commit_interval = interval;
        self
    }

    /// A signal that shuts the subscriber down gracefully when triggered
    /// (the default is one of its own; see [`RunningSubscriber::shutdown`]).
    pub fn shutdown_signal(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = shutdown;
        self
    }

    /// Deduplicates messages on a key, in a store, before the handler
    /// (default: none); see [`crate::dedup`] for the modes and their
    /// crash windows.
    pub fn deduplicate(mut self, dedup: Deduplication<T>) -> Self {
        self.dedup = Some(dedup);
        self
    }

    /// Kafka: adjusts the group consumer (session timeout, assignor,
    /// `auto_offset_reset`, which defaults to earliest here...).
    pub fn kafka_consumer(
        mut self,
        hook: impl Fn(mq_client::kafka::ConsumerBuilder) -> mq_client::kafka::ConsumerBuilder
        + Send
        + Sync
        + 'static,
    ) -> Self {
        self.consumer_hook = Some(Arc::new(hook));
        self
    }

    /// RabbitMQ: the queue to consume (default `<source>.<group>`).
    pub fn queue(mut self, queue: &str) -> Self {
        self.queue = Some(queue.to_owned());
        self
    }

    /// RabbitMQ: how the queue is declared (default durable). For
    /// example `QueueOptions::durable().quorum()`, or
    /// `.argument("x-single-active-consumer", true)` so that several
    /// subscribers on one queue keep its order (one consumes at a time).
    pub fn queue_options(mut self, options: mq_client::amqp::QueueOptions) -> Self {
        self.queue_options = options;
        self
    }

    /// RabbitMQ: a binding key of the queue to the source exchange (may be
    /// repeated; default `#`, everything).
    pub fn binding_key(mut self, key: &str) -> Self {
        self.binding_keys.push(key.to_owned());
        self
    }

    /// RabbitMQ: the header that holds the ordering key (default
    /// `x-mq-key`, which this crate's publishers set); `None` for none.
    pub fn key_header(mut self, header: Option<&str>) -> Self {
        self.key_header = header.map(str::to_owned);
        self
    }

    /// RabbitMQ: whether a message without the key header is keyed by its
    /// routing key (default true).
    pub fn key_from_routing_key(mut self, on: bool) -> Self {
        self.key_from_routing_key = on;
        self
    }

    /// Checks the settings.
    pub fn build(self) -> Result<Subscriber<T, C>, Error> {
        let amqp = matches!(&*self.bus.inner, Inner::Amqp(_));
        let bad = |setting: &'static str, reason: String| Err(Error::Config { setting, reason });
        if self.source.is_empty() {
            return bad("source", "the source name is empty".into());
        }
        if self.group.is_empty() {
            return bad("group", "the group name is empty".into());
        }
        if self.concurrency == 0 {
            return bad("concurrency", "at least one worker is needed".into());
        }
        let workers = u32::try_from(self.concurrency).unwrap_or(u32::MAX);
        let max_in_flight = self
            .max_in_flight
            .unwrap_or_else(|| workers.saturating_mul(4));
        if max_in_flight < workers {
            return bad(
                "max_in_flight",
                format!("{max_in_flight} is below the {workers} workers, who would idle"),
            );
        }
        if amqp && max_in_flight > u32::from(u16::MAX) {
            return bad(
                "max_in_flight",
                format!("{max_in_flight} is over RabbitMQ's prefetch limit of 65535"),
            );
        }
        let rate = match self.rate {
            None => None,
            Some((0, _)) => return bad("rate_limit", "a rate of zero lets nothing through".into()),
            Some((_, per)) if per.is_zero() => {
                return bad("rate_limit", "the period is zero".into());
            }
            Some((permits, per)) => {
                let burst = self.burst.unwrap_or((permits / 10).max(1));
                if burst == 0 {
                    return bad("rate_limit_burst", "the burst must be at least 1".into());
                }
                Some((permits, per, burst))
            }
        };
        self.retry.validate()?;
        self.check_delays()?;
        if let Some(d) = &self.dedup {
            d.validate()?;
        }
        if self.handler_timeout.is_zero() {
            return bad("handler_timeout", "a zero timeout fails every call".into());
        }
        if self.commit_interval.is_zero() {
            return bad("commit_interval", "the interval is zero".into());
        }
        let queue = self
            .queue
            .clone()
            .unwrap_or_else(|| format!("{}.{}", self.source, self.group));
        let dead_letter = self
            .dead_letter
            .clone()
            .unwrap_or_else(|| format!("{}.{}.dead", self.source, self.group));
        if dead_letter.is_empty() {
            return bad("dead_letter", "the dead-letter destination is empty".into());
        }
        if dead_letter == self.source || (amqp && dead_letter == queue) {
            return bad(
                "dead_letter",
                format!("the dead-letter destination {dead_letter:?} is the source itself"),
            );
        }
        let stage_base = if amqp {
            queue.clone()
        } else {
            format!("{}.{}", self.source, self.group)
        };
        let stages: Vec<String> = self
            .delays
            .iter()
            .map(|&d| stage_name(&stage_base, d))
            .collect();
        for name in stages
            .iter()
            .chain(amqp.then(|| return_queue(&queue)).iter())
        {
            if *name == dead_letter {
                return bad(
                    "dead_letter",
                    format!("the dead-letter destination {dead_letter:?} is a retry stage"),
                );
            }
            check_name(name, amqp)?;
        }
        let binding_keys = if self.binding_keys.is_empty() {
            vec!["#".to_owned()]
        } else {
            self.binding_keys.clone()
        };
        Ok(Subscriber {
            bus: self.bus,
            codec: Arc::new(self.codec),
            settings: Arc::new(Settings {
                source: self.source,
                group: self.group,
                concurrency: self.concurrency,
                max_in_flight,
                order: self.order,
                rate,
                retry: RetryPolicy {
                    backoff: self.retry,
                    delays: self.delays,
                },
                stages,
                holds_key: self.holds_key,
                dead_letter,
                handler_timeout: self.handler_timeout,
                drain_timeout: self.drain_timeout,
                commit_interval: self.commit_interval,
                shutdown: self.shutdown,
                consumer_hook: self.consumer_hook,
                queue,
                queue_options: self.queue_options,
                binding_keys,
                key_header: self.key_header,
                key_from_routing_key: self.key_from_routing_key,
            }),
            dedup: self.dedup,
            _payload: PhantomData,
        })
    }

    /// Builds, connects and starts consuming; see [`Subscriber::start`].
    pub async fn start<H: Handler<T>>(self, handler: H) -> Result<RunningSubscriber, Error> {
        self.build()?.start(handler).await
    }

    /// Builds and runs until shut down; see [`Subscriber::run`].
    pub async fn run<H: Handler<T>>(self, handler: H) -> Result<(), Error> {
        self.build()?.run(handler).await
    }
}

impl<T, C> SubscriberBuilder<T, C> {
    /// The delayed-retry settings.
    fn check_delays(&self) -> Result<(), Error> {
        let bad = |setting: &'static str, reason: String| Err(Error::Config { setting, reason });
        if self.holds_key {
            if self.delays.is_empty() {
                return bad(
                    "retry_holds_key",
                    "there are no delayed retries to hold the key for".into(),
                );
            }
            if self.order != OrderBy::Key {
                return bad(
                    "retry_holds_key",
                    format!("it holds keys, and the order is {:?}", self.order),
                );
            }
        }
        for d in &self.delays {
            if d.is_zero() || d.subsec_nanos() % 1_000_000 != 0 {
                return bad(
                    "delayed_retries",
                    format!("a delay is whole milliseconds, at least 1 ms, not {d:?}"),
                );
            }
            if d.as_millis() > u128::from(u32::MAX) {
                return bad(
                    "delayed_retries",
                    format!("{d:?} is over the longest delay, 2^32 - 1 ms (49.7 days)"),
                );
            }
        }
        if let Inner::Kafka(k) = &*self.bus.inner {
            if !self.delays.is_empty() && !k.config.create_topics {
                return bad(
                    "delayed_retries",
                    "the retry topics are created by the subscriber, and this bus may not \
                     create topics (KafkaConfig::create_topics(false))"
                        .into(),
                );
            }
        }
        Ok(())
    }
}

/// A retry stage's name must be a legal queue or topic name.
fn check_name(name: &str, amqp: bool) -> Result<(), Error> {
    let reason = if amqp {
        (name.len() > 255).then(|| format!("the retry queue {name:?} is over 255 bytes"))
    } else if name.len() > 249 {
        Some(format!("the retry topic {name:?} is over 249 characters"))
    } else if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        Some(format!(
            "the retry topic {name:?} (from the source and group) has characters a Kafka \
             topic cannot: only ASCII letters, digits, '.', '_' and '-'"
        ))
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::Config {
            setting: "delayed_retries",
            reason,
        }),
        None => Ok(()),
    }
}

#[cfg(all(test, feature = "json"))]
mod tests {
    use super::*;
    use crate::Json;

    fn builder() -> SubscriberBuilder<String, Json> {
        // A Kafka bus connects lazily: building needs no broker.
        Bus::kafka("127.0.0.1:9092").subscriber::<String, Json>("orders", "billing")
    }

    fn refused(b: SubscriberBuilder<String, Json>) -> (&'static str, String) {
        match b.build() {
            Err(Error::Config { setting, reason }) => (setting, reason),
            Err(e) => panic!("not a configuration error: {e}"),
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn settings_that_cannot_work_are_refused_by_name() {
        assert_eq!(refused(builder().concurrency(0)).0, "concurrency");
        assert_eq!(refused(builder().dead_letter("orders")).0, "dead_letter");
        assert_eq!(refused(builder().dead_letter("")).0, "dead_letter");
        assert_eq!(
            refused(builder().rate_limit(0, Duration::from_secs(1))).0,
            "rate_limit"
        );
        assert_eq!(
            refused(builder().rate_limit(5, Duration::ZERO)).0,
            "rate_limit"
        );
        assert_eq!(
            refused(
                builder()
                    .rate_limit(5, Duration::from_secs(1))
                    .rate_limit_burst(0)
            )
            .0,
            "rate_limit_burst"
        );
        assert_eq!(
            refused(builder().handler_timeout(Duration::ZERO)).0,
            "handler_timeout"
        );
        assert_eq!(
            refused(builder().commit_interval(Duration::ZERO)).0,
            "commit_interval"
        );
        assert_eq!(
            refused(builder().retry(Backoff::default().attempts(0))).0,
            "retry"
        );
        let (setting, reason) = refused(builder().concurrency(16).max_in_flight(4));
        assert_eq!(setting, "max_in_flight");
        assert!(reason.contains("16 workers"), "{reason}");
        let e = builder().concurrency(0).build().unwrap_err().to_string();
        assert!(
            e.contains("`concurrency`"),
            "the message names the setting: {e}"
        );
        let empty = Bus::kafka("127.0.0.1:9092").subscriber::<String, Json>("", "g");
        assert_eq!(refused(empty).0, "source");
    }

    #[test]
    fn defaults_are_sound() {
        let s = builder().build().expect("defaults build");
        assert_eq!(s.settings.concurrency, 8);
        assert_eq!(s.settings.max_in_flight, 32);
        assert_eq!(s.settings.dead_letter, "orders.billing.dead");
        assert_eq!(s.settings.queue, "orders.billing");
        assert_eq!(s.settings.binding_keys, ["#"]);
        let r = builder()
            .rate_limit(500, Duration::from_secs(1))
            .build()
            .unwrap();
        assert_eq!(r.settings.rate, Some((500, Duration::from_secs(1), 50)));
    }

    #[test]
    fn delayed_retries_are_checked_and_named() {
        let s = Duration::from_secs;
        let ok = builder()
            .retry(Backoff::none())
            .delayed_retries([s(1), s(10), s(60)])
            .retry_holds_key()
            .build()
            .expect("builds");
        assert_eq!(
            ok.settings.stages,
            [
                "orders.billing.retry.1s",
                "orders.billing.retry.10s",
                "orders.billing.retry.1m"
            ]
        );
        assert_eq!(ok.settings.retry.delays, [s(1), s(10), s(60)]);
        assert!(ok.settings.holds_key);
        assert!(builder().build().unwrap().settings.stages.is_empty());

        let refused_for = |b: SubscriberBuilder<String, Json>| refused(b).0;
        assert_eq!(
            refused_for(builder().delayed_retries([Duration::ZERO])),
            "delayed_retries"
        );
        assert_eq!(
            refused_for(builder().delayed_retries([Duration::from_micros(1500)])),
            "delayed_retries"
        );
        assert_eq!(
            refused_for(builder().delayed_retries([s(50 * 24 * 3600)])),
            "delayed_retries"
        );
        assert_eq!(refused_for(builder().retry_holds_key()), "retry_holds_key");
        assert_eq!(
            refused_for(
                builder()
                    .delayed_retries([s(1)])
                    .retry_holds_key()
                    .unordered()
            ),
            "retry_holds_key"
        );
        assert_eq!(
            refused_for(
                builder()
                    .delayed_retries([s(1)])
                    .dead_letter("orders.billing.retry.1s")
            ),
            "dead_letter"
        );
        // Topic names from a group a topic name cannot hold.
        let spaced = Bus::kafka("127.0.0.1:9092")
            .subscriber::<String, Json>("orders", "billing team")
            .delayed_retries([s(1)]);
        let (setting, reason) = refused(spaced);
        assert_eq!(setting, "delayed_retries");
        assert!(reason.contains("orders.billing team.retry.1s"), "{reason}");
        // Without it, the group may be anything.
        assert!(
            Bus::kafka("127.0.0.1:9092")
                .subscriber::<String, Json>("orders", "billing team")
                .build()
                .is_ok()
        );
    }

    #[test]
    fn kafka_retry_topics_need_a_bus_that_may_create_topics() {
        let bus = Bus::kafka(crate::KafkaConfig::new("127.0.0.1:9092").create_topics(false));
        let b = bus
            .subscriber::<String, Json>("orders", "billing")
            .delayed_retries([Duration::from_secs(1)]);
        let (setting, reason) = refused(b);
        assert_eq!(setting, "delayed_retries");
        assert!(reason.contains("create_topics(false)"), "{reason}");
        assert!(
            bus.subscriber::<String, Json>("orders", "billing")
                .build()
                .is_ok()
        );
    }
}
