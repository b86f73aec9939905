//! Subscribing: the [`SubscriberBuilder`], the [`Handler`] it runs and
//! the [`RunningSubscriber`] handle.
//!
//! - [`pipeline`]: what happens to each message (decode, trace, dedup,
//!   rate limit, handler with timeout and panic catching, retries, dead
//!   letters).
//! - [`kafka`] and [`amqp`]: the per-broker loops that pull messages,
//!   hand them to the keyed pool, and settle them (offset commits of the
//!   contiguous processed prefix; acks); with delayed retries, a second
//!   loop for the messages back from the retry stages.
//! - [`hold`]: holding a key while one of its messages is in a retry
//!   stage ([`SubscriberBuilder::retry_holds_key`]).

mod amqp;
mod builder;
mod hold;
mod kafka;
mod pipeline;

pub use builder::SubscriberBuilder;

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::bus::{Bus, ConsumerHook, Inner};
use crate::codec::Codec;
use crate::dedup::Deduplication;
use crate::error::{Error, HandlerError};
use crate::message::Message;
use crate::retry::RetryPolicy;
use crate::shutdown::Shutdown;

/// Handles one message. Implemented for every
/// `Fn(Message<T>) -> impl Future<Output = Result<(), E>>` with `E:
/// Into<HandlerError>` (so any error type), and for your own types.
///
/// A handler may run many times for one message (retries, redeliveries
/// after a crash: at-least-once); make its effects idempotent, or
/// deduplicate ([`SubscriberBuilder::deduplicate`]).
pub trait Handler<T>: Send + Sync + 'static {
    /// Processes the message. `Err` with a retriable error tries again
    /// after the backoff; a permanent one dead-letters it at once.
    fn handle(&self, message: Message<T>) -> impl Future<Output = Result<(), HandlerError>> + Send;
}

impl<T, F, Fut, E> Handler<T> for F
where
    F: Fn(Message<T>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send,
    E: Into<HandlerError>,
{
    fn handle(&self, message: Message<T>) -> impl Future<Output = Result<(), HandlerError>> + Send {
        // A combinator, not `async move { fut.await }`, which would lay the
        // handler's future out twice.
        futures_util::TryFutureExt::map_err(self(message), Into::into)
    }
}

/// How messages are ordered across the workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrderBy {
    /// Messages of one key one after another, in order; different keys
    /// in parallel; messages without a key in any order (the default).
    ///
    /// The order holds within one subscriber. Kafka gives each partition
    /// (so each key) to one member of the group; on RabbitMQ, several
    /// subscribers on one queue compete for its messages, so keep one, or
    /// declare the queue with `x-single-active-consumer`
    /// ([`SubscriberBuilder::queue_options`]).
    #[default]
    Key,
    /// Kafka: one partition's records in order (one worker per
    /// partition at a time). RabbitMQ: the queue's order, one at a time.
    Partition,
    /// No order: every message to the first free worker.
    Unordered,
}

/// The validated settings of a subscriber.
pub(crate) struct Settings {
    pub(crate) source: String,
    pub(crate) group: String,
    pub(crate) concurrency: usize,
    pub(crate) max_in_flight: u32,
    pub(crate) order: OrderBy,
    pub(crate) rate: Option<(u32, Duration, u32)>,
    pub(crate) retry: RetryPolicy,
    /// The delayed-retry stages' queues or topics, one per delay.
    pub(crate) stages: Vec<String>,
    pub(crate) holds_key: bool,
    pub(crate) dead_letter: String,
    pub(crate) handler_timeout: Duration,
    pub(crate) drain_timeout: Duration,
    pub(crate) commit_interval: Duration,
    pub(crate) shutdown: Shutdown,
    pub(crate) consumer_hook: Option<ConsumerHook>,
    pub(crate) queue: String,
    pub(crate) queue_options: mq_client::amqp::QueueOptions,
    pub(crate) binding_keys: Vec<String>,
    pub(crate) key_header: Option<String>,
    pub(crate) key_from_routing_key: bool,
}

/// A subscriber with checked settings, ready to start.
pub struct Subscriber<T, C> {
    bus: Bus,
    codec: Arc<C>,
    settings: Arc<Settings>,
    dedup: Option<Deduplication<T>>,
    _payload: PhantomData<fn() -> T>,
}

impl<T, C> fmt::Debug for Subscriber<T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscriber")
            .field("bus", &self.bus)
            .field("source", &self.settings.source)
            .field("group", &self.settings.group)
            .finish_non_exhaustive()
    }
}

impl<T, C> Subscriber<T, C>
where
    T: Send + 'static,
    C: Codec<T>,
{
    /// Connects, declares or creates what it needs (queue, bindings,
    /// dead-letter exchange, queue or topic), starts consuming, and
    /// returns a handle once messages flow (RabbitMQ: the consumer is
    /// registered; Kafka: the consumer subscribed, it joins the group on
    /// its first poll).
    pub async fn start<H: Handler<T>>(self, handler: H) -> Result<RunningSubscriber, Error> {
        let shutdown = self.settings.shutdown.clone();
        let handler = Arc::new(handler);
        let task = match &*self.bus.inner {
            Inner::Kafka(_) => {
                kafka::start(
                    self.bus.clone(),
                    self.settings,
                    self.codec,
                    handler,
                    self.dedup,
                )
                .await?
            }
            Inner::Amqp(_) => {
                amqp::start(
                    self.bus.clone(),
                    self.settings,
                    self.codec,
                    handler,
                    self.dedup,
                )
                .await?
            }
        };
        Ok(RunningSubscriber { shutdown, task })
    }

    /// Starts, then runs until the shutdown signal (see
    /// [`SubscriberBuilder::shutdown_signal`]) has it drain and stop, or
    /// a fatal error.
    pub async fn run<H: Handler<T>>(self, handler: H) -> Result<(), Error> {
        self.start(handler).await?.join().await
    }
}

/// A subscriber running in its own task.
#[derive(Debug)]
pub struct RunningSubscriber {
    shutdown: Shutdown,
    task: JoinHandle<Result<(), Error>>,
}

impl RunningSubscriber {
    /// The signal that stops it.
    pub fn shutdown_signal(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Shuts down gracefully and waits: stops fetching, lets in-flight
    /// handlers finish up to the drain timeout, acks / commits what
    /// finished and leaves the rest to be redelivered, then closes the
    /// channel (RabbitMQ) or leaves the group (Kafka).
    pub async fn shutdown(self) -> Result<(), Error> {
        self.shutdown.trigger();
        self.join().await
    }

    /// Waits until it stops.
    pub async fn join(self) -> Result<(), Error> {
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(Error::Task(e.to_string())),
        }
    }

    /// Stops it at once, as a crash would: nothing more is acked or
    /// committed, in-flight handlers are dropped; the broker redelivers
    /// what was not settled (RabbitMQ when the consumer goes, Kafka from
    /// the last committed offset).
    pub fn abort(self) {
        self.task.abort();
    }

    /// Whether it has stopped.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

/// Runs a subscriber's loop and, with delayed retries, the loop of the
/// messages back from the stages, until both stop: on the subscriber's
/// `shutdown`, or when either fails (`stop` tells the other).
pub(crate) async fn run_loops(
    shutdown: Shutdown,
    stop: Shutdown,
    main: impl Future<Output = Result<(), Error>>,
    stages: Option<impl Future<Output = Result<(), Error>>>,
) -> Result<(), Error> {
    // Aborting the task ends the forwarder too.
    let _guard = TriggerOnDrop(stop.clone());
    let forward = {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = shutdown.triggered() => stop.trigger(),
                () = stop.triggered() => {}
            }
        })
    };
    let stages = async {
        match stages {
            Some(f) => f.await,
            None => Ok(()),
        }
    };
    let (main, stages) = tokio::join!(main, stages);
    stop.trigger();
    drop(forward);
    main.and(stages)
}

/// Triggers a signal when dropped: the subscriber's task holds one, so
/// that aborting the task stops its in-flight jobs too.
#[derive(Debug)]
pub(crate) struct TriggerOnDrop(pub(crate) Shutdown);

impl Drop for TriggerOnDrop {
    fn drop(&mut self) {
        self.0.trigger();
    }
}
