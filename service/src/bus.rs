//! The [`Bus`]: one broker connection (or cluster), the publishers and
//! subscribers made from it.

use std::fmt;
use std::sync::Arc;

use mq_client::amqp;
use mq_client::kafka::{self, ClientConfig, ConsumerBuilder, ProducerBuilder};
use tokio::sync::OnceCell;

use crate::codec::Codec;
use crate::error::Error;
use crate::publisher::Publisher;
use crate::semconv;
use crate::subscriber::SubscriberBuilder;

/// A function that adjusts a Kafka producer's settings.
pub type ProducerHook = Arc<dyn Fn(ProducerBuilder) -> ProducerBuilder + Send + Sync>;
/// A function that adjusts a Kafka group consumer's settings.
pub type ConsumerHook = Arc<dyn Fn(ConsumerBuilder) -> ConsumerBuilder + Send + Sync>;

/// How a bus reaches a Kafka cluster.
///
/// ```
/// use mq_service::KafkaConfig;
/// let config = KafkaConfig::new("127.0.0.1:9092")
///     .producer(|p| p.linger(std::time::Duration::from_millis(2)));
/// ```
#[derive(Clone)]
pub struct KafkaConfig {
    pub(crate) bootstrap: String,
    pub(crate) client: Option<ClientConfig>,
    pub(crate) producer: Option<ProducerHook>,
    pub(crate) create_topics: bool,
    pub(crate) dead_letter_partitions: i32,
}

impl fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaConfig")
            .field("bootstrap", &self.bootstrap)
            .field("client", &self.client)
            .field("create_topics", &self.create_topics)
            .field("dead_letter_partitions", &self.dead_letter_partitions)
            .finish_non_exhaustive()
    }
}

impl KafkaConfig {
    /// The comma-separated bootstrap list.
    pub fn new(bootstrap: impl Into<String>) -> Self {
        KafkaConfig {
            bootstrap: bootstrap.into(),
            client: None,
            producer: None,
            create_topics: true,
            dead_letter_partitions: 1,
        }
    }

    /// Common client settings (TLS, SASL, timeouts) for every producer,
    /// consumer and admin client of the bus; its bootstrap list wins when
    /// it has one.
    pub fn client_config(mut self, config: ClientConfig) -> Self {
        self.client = Some(config);
        self
    }

    /// Adjusts the bus's producer (acks=all and idempotence are the
    /// defaults; the publisher relies on acks=all for confirmed sends).
    pub fn producer(
        mut self,
        hook: impl Fn(ProducerBuilder) -> ProducerBuilder + Send + Sync + 'static,
    ) -> Self {
        self.producer = Some(Arc::new(hook));
        self
    }

    /// Whether subscribers create their dead-letter topics (default on;
    /// a refusal is logged, not fatal) and their delayed-retry topics (a
    /// refusal fails the start; off, a subscriber with
    /// [`delayed_retries`](crate::SubscriberBuilder::delayed_retries) is
    /// refused when built).
    pub fn create_topics(mut self, on: bool) -> Self {
        self.create_topics = on;
        self
    }

    /// Partitions of the dead-letter topics created (default 1).
    pub fn dead_letter_partitions(mut self, n: i32) -> Self {
        self.dead_letter_partitions = n;
        self
    }

    pub(crate) fn producer_builder(&self) -> ProducerBuilder {
        let mut b = kafka::Producer::builder(&self.bootstrap);
        if let Some(c) = &self.client {
            b = b.client_config(self.with_bootstrap(c));
        }
        match &self.producer {
            Some(hook) => hook(b),
            None => b,
        }
    }

    pub(crate) fn consumer_builder(&self) -> ConsumerBuilder {
        let b = kafka::Consumer::builder(&self.bootstrap);
        match &self.client {
            Some(c) => b.client_config(self.with_bootstrap(c)),
            None => b,
        }
    }

    pub(crate) async fn admin(&self) -> Result<kafka::Admin, kafka::Error> {
        let b = kafka::Admin::builder(&self.bootstrap);
        match &self.client {
            Some(c) => b.client_config(self.with_bootstrap(c)),
            None => b,
        }
        .build()
        .await
    }

    /// The common settings, with the bus's bootstrap list where they have
    /// none.
    fn with_bootstrap(&self, c: &ClientConfig) -> ClientConfig {
        let mut c = c.clone();
        if c.bootstrap.is_empty() {
            c.bootstrap = ClientConfig::new(&self.bootstrap).bootstrap;
        }
        c
    }
}

impl From<&str> for KafkaConfig {
    fn from(bootstrap: &str) -> Self {
        KafkaConfig::new(bootstrap)
    }
}

impl From<String> for KafkaConfig {
    fn from(bootstrap: String) -> Self {
        KafkaConfig::new(bootstrap)
    }
}

/// The Kafka side of a bus: its settings and one shared producer, made
/// on first use.
pub(crate) struct KafkaBus {
    pub(crate) config: KafkaConfig,
    producer: OnceCell<kafka::Producer>,
}

impl KafkaBus {
    /// The bus's producer (acks=all), connected on first use.
    pub(crate) async fn producer(&self) -> Result<&kafka::Producer, Error> {
        if let Some(producer) = self.producer.get() {
            return Ok(producer);
        }
        // Boxed: the build's future is large, and every publish's future
        // would otherwise carry its size (and be copied with it).
        let init = self
            .producer
            .get_or_try_init(|| self.config.producer_builder().build());
        Ok(Box::pin(init).await?)
    }
}

/// The RabbitMQ side of a bus.
pub(crate) struct AmqpBus {
    pub(crate) connection: amqp::Connection,
    pub(crate) declare: bool,
}

pub(crate) enum Inner {
    Kafka(Box<KafkaBus>),
    Amqp(AmqpBus),
}

/// One broker, and the publishers and subscribers made from it. Cheap to
/// clone; clones share the connection (RabbitMQ) or the producer (Kafka).
///
/// - [`Bus::kafka`] connects lazily: the producer on the first publish,
///   each subscriber's consumer when it starts.
/// - [`Bus::amqp`] takes an open connection; each publisher and
///   subscriber opens its own channels on it.
#[derive(Clone)]
pub struct Bus {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for Bus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.inner {
            Inner::Kafka(k) => f.debug_tuple("Bus::Kafka").field(&k.config).finish(),
            Inner::Amqp(a) => f
                .debug_tuple("Bus::Amqp")
                .field(&a.connection.name())
                .finish(),
        }
    }
}

impl Bus {
    /// A bus over a Kafka cluster.
    pub fn kafka(config: impl Into<KafkaConfig>) -> Self {
        Bus {
            inner: Arc::new(Inner::Kafka(Box::new(KafkaBus {
                config: config.into(),
                producer: OnceCell::new(),
            }))),
        }
    }

    /// A bus over a RabbitMQ connection. Publishers declare their exchange
    /// (durable, topic) and subscribers their queue and bindings; see
    /// [`Bus::amqp_without_declares`] for topology managed elsewhere.
    pub fn amqp(connection: amqp::Connection) -> Self {
        Bus {
            inner: Arc::new(Inner::Amqp(AmqpBus {
                connection,
                declare: true,
            })),
        }
    }

    /// A bus over a RabbitMQ connection that declares nothing but its
    /// dead-letter exchanges and queues and its delayed-retry queues:
    /// exchanges, queues and bindings must exist.
    pub fn amqp_without_declares(connection: amqp::Connection) -> Self {
        Bus {
            inner: Arc::new(Inner::Amqp(AmqpBus {
                connection,
                declare: false,
            })),
        }
    }

    /// `kafka` or `rabbitmq` (OpenTelemetry's `messaging.system`).
    pub fn system(&self) -> &'static str {
        match &*self.inner {
            Inner::Kafka(_) => semconv::SYSTEM_KAFKA,
            Inner::Amqp(_) => semconv::SYSTEM_RABBITMQ,
        }
    }

    /// The RabbitMQ connection, if this is a RabbitMQ bus.
    pub fn amqp_connection(&self) -> Option<&amqp::Connection> {
        match &*self.inner {
            Inner::Amqp(a) => Some(&a.connection),
            Inner::Kafka(_) => None,
        }
    }

    /// A publisher of `T` to `destination` (a Kafka topic, or a RabbitMQ
    /// exchange) with the codec `C`.
    pub fn publisher<T, C: Codec<T> + Default>(&self, destination: &str) -> Publisher<T, C> {
        self.publisher_with(destination, C::default())
    }

    /// A publisher with a codec value.
    pub fn publisher_with<T, C: Codec<T>>(&self, destination: &str, codec: C) -> Publisher<T, C> {
        Publisher::new(self.clone(), destination, codec)
    }

    /// A subscriber to `source` as a member of `group`: on Kafka, topic
    /// `source` in consumer group `group`; on RabbitMQ, the durable queue
    /// `<source>.<group>` bound to the exchange `source` (see
    /// [`SubscriberBuilder::queue`]).
    pub fn subscriber<T: Send + 'static, C: Codec<T> + Default>(
        &self,
        source: &str,
        group: &str,
    ) -> SubscriberBuilder<T, C> {
        self.subscriber_with(source, group, C::default())
    }

    /// A subscriber with a codec value.
    pub fn subscriber_with<T: Send + 'static, C: Codec<T>>(
        &self,
        source: &str,
        group: &str,
        codec: C,
    ) -> SubscriberBuilder<T, C> {
        SubscriberBuilder::new(self.clone(), source, group, codec)
    }

    /// Closes the bus: on Kafka, sends what the producer buffered and
    /// closes it; on RabbitMQ, closes the connection. Stop subscribers
    /// first.
    pub async fn close(&self) -> Result<(), Error> {
        match &*self.inner {
            Inner::Kafka(k) => {
                if let Some(p) = k.producer.get() {
                    p.close().await?;
                }
            }
            Inner::Amqp(a) => a.connection.close().await?,
        }
        Ok(())
    }
}
