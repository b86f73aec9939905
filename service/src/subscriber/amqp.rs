//! The RabbitMQ subscriber: one consumer whose prefetch is the in-flight
//! bound, feeding the keyed pool; each message acked once settled. With
//! delayed retries, a second consumer, on the queue the retry stages
//! return to (`<queue>.retry`), feeds a pool of its own.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mq_client::StreamExt;
use mq_client::amqp::{
    self, ConsumeOptions, Delivery, ExchangeKind, ExchangeOptions, FieldTable, FieldValue,
};
use tokio::task::JoinHandle;

use super::hold::{Holds, Waited};
use super::pipeline::{Envelope, Outcome, Pipeline};
use super::{Handler, OrderBy, Settings, TriggerOnDrop, run_loops};
use crate::bus::{Bus, Inner};
use crate::codec::Codec;
use crate::dead_letter::{DeadLetterSink, ORIGIN_EXCHANGE, ORIGIN_QUEUE, ORIGIN_ROUTING_KEY};
use crate::dedup::Deduplication;
use crate::delayed_retry::{Carried, RetrySink, return_queue};
use crate::error::Error;
use crate::message::{Headers, Metadata, Received, Text};
use crate::metrics::SubscriberMetrics;
use crate::pool::{KeyedPool, lane_key};
use crate::publisher::{CONTENT_TYPE_HEADER, MESSAGE_ID_HEADER};
use crate::rate_limit::TokenBucket;
use crate::semconv;
use crate::shutdown::Shutdown;

/// Declares the queue (and its bindings, the dead-letter exchange and
/// queue, the retry stages' queues), starts the consumers, and spawns the
/// loops.
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
    let Inner::Amqp(a) = &*bus.inner else {
        return Err(Error::WrongBroker {
            option: "RabbitMQ subscriber",
            broker: "RabbitMQ",
        });
    };
    let channel = a.connection.open_channel().await?;
    if a.declare {
        channel
            .exchange_declare(
                &settings.source,
                ExchangeKind::Topic,
                ExchangeOptions::durable(),
            )
            .await?;
        channel
            .queue_declare(&settings.queue, settings.queue_options.clone())
            .await?;
        for key in &settings.binding_keys {
            channel
                .queue_bind(&settings.queue, &settings.source, key, FieldTable::new())
                .await?;
        }
    }
    let dead_letters = a.connection.open_channel().await?;
    DeadLetterSink::declare_amqp(&dead_letters, &settings.dead_letter).await?;
    // Checked at build time to fit.
    let prefetch = u16::try_from(settings.max_in_flight).unwrap_or(u16::MAX);
    let stages = if settings.stages.is_empty() {
        None
    } else {
        let ch = a.connection.open_channel().await?;
        RetrySink::declare_amqp(&ch, &settings.queue, &settings.retry.delays).await?;
        Some(RetrySink::Amqp {
            connection: a.connection.clone(),
            channel: Arc::new(tokio::sync::Mutex::new(ch)),
            queues: settings.stages.clone(),
        })
    };
    let consumer = channel
        .consume(
            &settings.queue,
            ConsumeOptions::default().prefetch(prefetch),
        )
        .await?;
    let returns = match &stages {
        None => None,
        Some(_) => {
            let ch = a.connection.open_channel().await?;
            let c = ch
                .consume(
                    &return_queue(&settings.queue),
                    ConsumeOptions::default().prefetch(prefetch),
                )
                .await?;
            Some((ch, c))
        }
    };

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
        dead_letters: DeadLetterSink::Amqp {
            connection: a.connection.clone(),
            channel: Arc::new(tokio::sync::Mutex::new(dead_letters)),
            exchange: settings.dead_letter.clone(),
        },
        stages,
        metrics: SubscriberMetrics::new(semconv::SYSTEM_RABBITMQ, &settings.queue, &settings.group),
        dedup,
        workers: pool.workers(),
        hard_stop: hard_stop.clone(),
        group: settings.group.as_str().into(),
        system: semconv::SYSTEM_RABBITMQ,
        destination: settings.queue.as_str().into(),
        _payload: PhantomData,
    });
    let stop = Shutdown::new();
    let holds = settings.holds_key.then(|| {
        let grace = settings.retry.backoff.worst_case(settings.handler_timeout);
        Arc::new(Holds::new(grace + Duration::from_secs(30)))
    });
    let return_loop = returns.map(|(channel, consumer)| Loop {
        channel,
        consumer,
        pool: KeyedPool::with_workers(pool.workers(), pool.runners(), settings.max_in_flight),
        pipeline: pipeline.clone(),
        settings: settings.clone(),
        hard_stop: hard_stop.clone(),
        stop: stop.clone(),
        holds: holds.clone(),
        from_stage: true,
        names: Names::default(),
    });
    let main_loop = Loop {
        channel,
        consumer,
        pool,
        pipeline,
        settings: settings.clone(),
        hard_stop,
        stop: stop.clone(),
        holds,
        from_stage: false,
        names: Names::default(),
    };
    let sinks = main_loop.pipeline.clone();
    Ok(tokio::spawn(async move {
        let result = run_loops(
            settings.shutdown.clone(),
            stop,
            main_loop.run(),
            return_loop.map(Loop::run),
        )
        .await;
        // Both loops are done with them.
        if let Err(e) = sinks.dead_letters.close().await {
            tracing::warn!(error = %e, "closing the dead-letter channel failed");
        }
        if let Some(stages) = &sinks.stages {
            if let Err(e) = stages.close().await {
                tracing::warn!(error = %e, "closing the retry channel failed");
            }
        }
        tracing::info!(queue = %settings.queue, "subscriber stopped");
        result
    }))
}

struct Loop<T, C, H> {
    channel: amqp::Channel,
    consumer: amqp::Consumer,
    pool: KeyedPool,
    pipeline: Arc<Pipeline<T, C, H>>,
    settings: Arc<Settings>,
    hard_stop: Shutdown,
    /// The subscriber's shutdown, or the other loop's failure.
    stop: Shutdown,
    holds: Option<Arc<Holds>>,
    /// The loop of the messages back from the retry stages.
    from_stage: bool,
    names: Names,
}

/// The last exchange and routing key seen, shared while they repeat (a
/// queue's deliveries mostly come from one exchange, often with one
/// routing key): no allocation for them per message then.
#[derive(Default)]
struct Names {
    exchange: LastName,
    routing_key: LastName,
}

#[derive(Default)]
struct LastName(Option<Arc<str>>);

impl LastName {
    /// `name` (replaced lossily where it is not UTF-8), shared with the
    /// last one if equal.
    fn get(&mut self, name: &[u8]) -> Arc<str> {
        if let Some(last) = &self.0 {
            if last.as_bytes() == name {
                return last.clone();
            }
        }
        let shared: Arc<str> = Arc::from(String::from_utf8_lossy(name).as_ref());
        self.0 = Some(shared.clone());
        shared
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
        let shutdown = self.stop.clone();
        let mut failure = None;
        loop {
            // The flag first, then the likely-ready futures before the
            // shutdown's: a select that finds its first branch ready never
            // registers a waiter on the others.
            if shutdown.is_triggered() {
                break;
            }
            let slot = tokio::select! {
                biased;
                slot = self.pool.reserve() => slot,
                () = shutdown.triggered() => break,
            };
            let delivery = tokio::select! {
                biased;
                d = self.consumer.next() => d,
                () = shutdown.triggered() => break,
            };
            let delivery = match delivery {
                Some(Ok(d)) => d,
                None => break,
                Some(Err(e)) => {
                    tracing::error!(error = %e, "the consumer ended; the subscriber stops");
                    failure = Some(e);
                    break;
                }
            };
            let (env, key) = self.envelope(&delivery);
            let pipeline = self.pipeline.clone();
            let hold = self.holds.clone().zip(key);
            let (from_stage, stop) = (self.from_stage, self.stop.clone());
            pipeline.metrics.in_flight.increment(1.0);
            self.pool
                .submit_reserved(
                    slot,
                    key,
                    Box::pin(async move {
                        if let Some((holds, lane)) = &hold {
                            // Boxed, and only when held: the rare path, kept
                            // out of every job's layout and allocations.
                            if !from_stage
                                && holds.is_held(*lane)
                                && Box::pin(holds.wait(*lane, &stop, &pipeline.hard_stop, || true))
                                    .await
                                    == Waited::Abandon
                            {
                                pipeline.metrics.in_flight.decrement(1.0);
                                settle(&delivery, Outcome::Abandoned).await;
                                return;
                            }
                        }
                        let outcome = pipeline.process(&env).await;
                        pipeline.metrics.in_flight.decrement(1.0);
                        if let Some((holds, lane)) = &hold {
                            holds.settled(*lane, from_stage, outcome);
                        }
                        settle(&delivery, outcome).await;
                    }),
                )
                .await;
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

    /// The envelope and the lane key of a delivery.
    fn envelope(&mut self, d: &Delivery) -> (Envelope, Option<u64>) {
        let properties = d.properties();
        let mut headers = Headers::new();
        if let Some(table) = &properties.headers {
            for (k, v) in table.iter() {
                headers.push_raw(k.into_bytes(), header_value(&v));
            }
        }
        let content_type = properties
            .content_type
            .as_ref()
            .map(|c| Text::lossy(c.to_bytes()))
            .or_else(|| headers.get_text(CONTENT_TYPE_HEADER));
        let message_id = properties
            .message_id
            .as_ref()
            .map(|m| Text::lossy(m.to_bytes()))
            .or_else(|| headers.get_text(MESSAGE_ID_HEADER));
        let mut exchange = self.names.exchange.get(d.exchange().as_bytes());
        let mut routing_key = self.names.routing_key.get(d.routing_key().as_bytes());
        let mut queue = self.pipeline.destination.clone();
        let carried = self.from_stage.then(|| {
            // Back from a stage: where it was first published and read.
            if let Some(x) = headers.get_str(ORIGIN_EXCHANGE) {
                exchange = x.into();
            }
            if let Some(rk) = headers.get_str(ORIGIN_ROUTING_KEY) {
                routing_key = rk.into();
            }
            if let Some(q) = headers.get_str(ORIGIN_QUEUE) {
                queue = q.into();
            }
            Carried::from_headers(&headers, 1)
        });
        let key = self
            .settings
            .key_header
            .as_deref()
            .and_then(|h| headers.get_bytes(h))
            .cloned()
            .or_else(|| {
                self.settings
                    .key_from_routing_key
                    .then(|| Bytes::copy_from_slice(routing_key.as_bytes()))
            });
        let lane = match self.settings.order {
            OrderBy::Key => key.as_deref().map(lane_key),
            OrderBy::Partition => Some(0),
            OrderBy::Unordered => None,
        };
        let env = Envelope {
            body: Some(d.body()),
            received: Arc::new(Received {
                key,
                content_type,
                message_id,
                metadata: Metadata::Amqp {
                    exchange,
                    routing_key,
                    queue,
                    delivery_tag: d.delivery_tag(),
                    redelivered: d.redelivered(),
                },
                headers,
                amqp_properties: Some(Box::new(properties)),
            }),
            carried,
        };
        (env, lane)
    }

    /// Graceful stop: drain up to the deadline, abandon the rest, cancel
    /// the consumer (what was not settled goes back to the queue), close
    /// the channels.
    async fn shut(self) {
        let drain = self.settings.drain_timeout;
        if tokio::time::timeout(drain, self.pool.drained())
            .await
            .is_err()
        {
            tracing::warn!(
                in_flight = self.pool.in_flight(),
                "drain timeout: unfinished messages go back to the queue"
            );
            self.hard_stop.trigger();
            let _ = tokio::time::timeout(Duration::from_secs(5), self.pool.drained()).await;
        }
        if let Err(e) = self.consumer.cancel().await {
            tracing::warn!(error = %e, "cancelling the consumer failed");
        }
        if let Err(e) = self.channel.close().await {
            tracing::warn!(error = %e, "closing the channel failed");
        }
        let queue = match self.from_stage {
            true => return_queue(&self.settings.queue),
            false => self.settings.queue.clone(),
        };
        tracing::info!(%queue, "consumer stopped");
    }
}

/// Acks a settled message; gives an abandoned one back to the queue.
async fn settle(d: &Delivery, outcome: Outcome) {
    let result = if outcome.settles() {
        d.ack().await
    } else {
        d.nack(true).await
    };
    if let Err(e) = result {
        // A stale delivery (the connection was lost, or the consumer
        // cancelled) is redelivered by the broker.
        tracing::debug!(error = %e, ?outcome, "settling a delivery failed");
    }
}

/// A header value as bytes: strings and byte arrays as they are, numbers
/// and booleans as text, no value as `None`.
fn header_value(v: &FieldValue) -> Option<Bytes> {
    Some(match v {
        FieldValue::LongStr(s) => s.to_bytes(),
        FieldValue::Bytes(b) => b.clone(),
        FieldValue::Void => return None,
        FieldValue::Bool(b) => Bytes::from(b.to_string()),
        FieldValue::F32(f) => Bytes::from(f.to_string()),
        FieldValue::F64(f) => Bytes::from(f.to_string()),
        FieldValue::Timestamp(t) => Bytes::from(t.to_string()),
        other => match other.as_i64() {
            Some(i) => Bytes::from(i.to_string()),
            None => Bytes::from(format!("{other:?}")),
        },
    })
}
