//! Helpers shared by the service layer's integration tests: one [`Env`]
//! per test with unique names on the real brokers, raw publishing with
//! mq-client, and reading dead letters, queue depths and committed
//! offsets back.
#![allow(dead_code, unreachable_pub)]

pub mod dedup;
pub mod delayed;
#[cfg(feature = "postgres")]
pub mod inbox;
pub mod metrics_capture;
#[cfg(feature = "postgres")]
pub mod outbox;
pub mod scenarios;
pub mod tracing_capture;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::Duration;

use mq_client::StreamExt;
use mq_client::amqp::{
    self, BasicProperties, ExchangeKind, ExchangeOptions, FieldTable, FieldValue,
    QueueDeleteOptions, QueueOptions,
};
use mq_client::kafka::{self, NewTopic, Offset, OffsetReset, ProducerRecord, TopicPartition};
use mq_service::{Bus, KafkaConfig};
use mq_tests::{endpoints, names};

/// Which broker a scenario runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broker {
    Kafka,
    Amqp,
}

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_tracing() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

/// Fails the test if `fut` takes longer than `secs`.
pub async fn within<F: Future>(secs: u64, what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(Duration::from_secs(secs), fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: not done within {secs} s"),
    }
}

/// A dead letter (or any message) read back raw.
#[derive(Debug, Clone)]
pub struct Raw {
    pub body: Vec<u8>,
    pub key: Option<Vec<u8>>,
    pub headers: HashMap<String, String>,
}

/// One test's names and bus.
pub struct Env {
    pub broker: Broker,
    pub bus: Bus,
    /// The topic, or the exchange.
    pub source: String,
    pub group: String,
    pub dead: String,
    pub partitions: i32,
    amqp: Option<amqp::Connection>,
    /// Retry stages' queues or topics to delete with the rest.
    cleanup_names: Vec<String>,
}

impl Env {
    /// Unique names; on Kafka the source topic with `partitions`
    /// partitions; on RabbitMQ the exchange and the subscriber's queue,
    /// declared as the subscriber declares them, so publishing may start
    /// first.
    pub async fn new(broker: Broker, prefix: &str, partitions: i32) -> Env {
        init_tracing();
        let group = names::group(prefix);
        match broker {
            Broker::Kafka => {
                let source = names::topic(prefix);
                let admin = kafka::Admin::builder(&endpoints::kafka_bootstrap())
                    .build()
                    .await
                    .expect("admin");
                admin
                    .create_topics([NewTopic::new(&source, partitions, 1)])
                    .await
                    .expect("create topic");
                Env {
                    broker,
                    bus: Bus::kafka(KafkaConfig::new(endpoints::kafka_bootstrap())),
                    dead: format!("{source}.dead"),
                    source,
                    group,
                    partitions,
                    amqp: None,
                    cleanup_names: Vec::new(),
                }
            }
            Broker::Amqp => {
                let source = names::exchange(prefix);
                let conn = amqp::Connection::connect(&endpoints::amqp_url())
                    .await
                    .expect("connect");
                let ch = conn.open_channel().await.expect("channel");
                ch.exchange_declare(&source, ExchangeKind::Topic, ExchangeOptions::durable())
                    .await
                    .expect("exchange");
                let queue = format!("{source}.{group}");
                ch.queue_declare(&queue, QueueOptions::durable())
                    .await
                    .expect("queue");
                ch.queue_bind(&queue, &source, "#", FieldTable::new())
                    .await
                    .expect("bind");
                ch.close().await.expect("close");
                Env {
                    broker,
                    bus: Bus::amqp(conn.clone()),
                    dead: format!("{source}.dead"),
                    source,
                    group,
                    partitions: 1,
                    amqp: Some(conn),
                    cleanup_names: Vec::new(),
                }
            }
        }
    }

    /// The subscriber's queue (RabbitMQ).
    pub fn queue(&self) -> String {
        format!("{}.{}", self.source, self.group)
    }

    /// The retry stages' queues or topics of `delays` (and on RabbitMQ
    /// the queue they return to), deleted by [`Env::cleanup`].
    pub fn retry_names(&mut self, delays: &[Duration]) -> Vec<String> {
        use mq_service::delayed_retry::{return_queue, stage_name};
        let base = match self.broker {
            Broker::Kafka => format!("{}.{}", self.source, self.group),
            Broker::Amqp => self.queue(),
        };
        let mut names: Vec<String> = delays.iter().map(|&d| stage_name(&base, d)).collect();
        if self.broker == Broker::Amqp {
            names.push(return_queue(&base));
        }
        self.cleanup_names.extend(names.iter().cloned());
        names
    }

    /// RabbitMQ: messages ready in `queue`.
    pub async fn depth_of(&self, queue: &str) -> u32 {
        let conn = self.amqp.as_ref().expect("amqp");
        let ch = conn.open_channel().await.expect("channel");
        let q = ch
            .queue_declare(queue, QueueOptions::passive())
            .await
            .expect("passive declare");
        ch.close().await.expect("close");
        q.message_count
    }

    /// Publishes raw bytes with mq-client (no content type, no trace
    /// context unless given as headers).
    pub async fn raw_publish(&self, key: &str, body: &[u8], headers: &[(&str, &str)]) {
        match self.broker {
            Broker::Kafka => {
                let producer = kafka::Producer::builder(&endpoints::kafka_bootstrap())
                    .build()
                    .await
                    .expect("producer");
                let mut record = ProducerRecord::new(&self.source).key(key).value(body);
                for (k, v) in headers {
                    record = record.header(k, Some(*v));
                }
                producer.send(record).await.expect("send");
                producer.close().await.expect("close");
            }
            Broker::Amqp => {
                let conn = self.amqp.as_ref().expect("amqp");
                let ch = conn.open_channel().await.expect("channel");
                ch.confirm_select().await.expect("confirms");
                let table: FieldTable = headers.iter().map(|(k, v)| (*k, *v)).collect();
                let props = BasicProperties::default().with_headers(table);
                ch.publish(&self.source, key, body.to_vec(), props)
                    .await
                    .expect("publish")
                    .await
                    .expect("confirm");
                ch.close().await.expect("close");
            }
        }
    }

    /// Reads `n` dead letters (waiting up to `secs`), and a little more
    /// to catch extras.
    pub async fn dead_letters(&self, n: usize, secs: u64) -> Vec<Raw> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        let mut out = Vec::new();
        match self.broker {
            Broker::Kafka => {
                let mut reader = kafka::PartitionReader::builder(&endpoints::kafka_bootstrap())
                    .auto_offset_reset(OffsetReset::Earliest)
                    .assign(&self.dead, 0, Offset::Earliest)
                    .build()
                    .await
                    .expect("reader");
                let mut extra = deadline;
                loop {
                    let until = if out.len() >= n { extra } else { deadline };
                    let Ok(Some(r)) = tokio::time::timeout_at(until, reader.next()).await else {
                        break;
                    };
                    let r = r.expect("record");
                    out.push(Raw {
                        body: r.value.as_deref().unwrap_or_default().to_vec(),
                        key: r.key.as_deref().map(<[u8]>::to_vec),
                        headers: r
                            .headers
                            .iter()
                            .map(|(k, v)| {
                                (
                                    String::from_utf8_lossy(k).into_owned(),
                                    String::from_utf8_lossy(v.as_deref().unwrap_or_default())
                                        .into_owned(),
                                )
                            })
                            .collect(),
                    });
                    if out.len() == n {
                        extra = tokio::time::Instant::now() + Duration::from_millis(500);
                    }
                }
            }
            Broker::Amqp => {
                let conn = self.amqp.as_ref().expect("amqp");
                let ch = conn.open_channel().await.expect("channel");
                let mut extra = deadline;
                loop {
                    let until = if out.len() >= n { extra } else { deadline };
                    if tokio::time::Instant::now() >= until {
                        break;
                    }
                    let Some(m) = ch.basic_get(&self.dead, false).await.expect("get") else {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    };
                    let props = m.properties();
                    let mut headers: HashMap<String, String> = HashMap::new();
                    if let Some(t) = &props.headers {
                        for (k, v) in t.iter() {
                            headers.insert(k.to_string_lossy().into_owned(), text(&v));
                        }
                    }
                    if let Some(ct) = &props.content_type {
                        headers.insert("content_type".into(), ct.to_string_lossy().into_owned());
                    }
                    out.push(Raw {
                        body: m.body_ref().to_vec(),
                        key: Some(m.routing_key().as_bytes().to_vec()),
                        headers,
                    });
                    m.ack().await.expect("ack");
                    if out.len() == n {
                        extra = tokio::time::Instant::now() + Duration::from_millis(500);
                    }
                }
                ch.close().await.expect("close");
            }
        }
        out
    }

    /// RabbitMQ: messages ready in the subscriber's queue (unacked ones
    /// are back in it once their consumer is gone).
    pub async fn queue_depth(&self) -> u32 {
        let conn = self.amqp.as_ref().expect("amqp");
        let ch = conn.open_channel().await.expect("channel");
        let q = ch
            .queue_declare(&self.queue(), QueueOptions::passive())
            .await
            .expect("passive declare");
        ch.close().await.expect("close");
        q.message_count
    }

    /// Kafka: the group's committed offset per partition (-1: none).
    pub async fn committed(&self) -> BTreeMap<i32, i64> {
        let consumer = kafka::Consumer::builder(&endpoints::kafka_bootstrap())
            .group(&self.group)
            .build()
            .await
            .expect("consumer");
        let tps: Vec<TopicPartition> = (0..self.partitions)
            .map(|p| TopicPartition::new(self.source.as_str(), p))
            .collect();
        let c = consumer.committed(&tps).await.expect("committed");
        c.into_iter()
            .map(|(tp, o)| (tp.partition, o.map_or(-1, |o| o.offset)))
            .collect()
    }

    /// Deletes what the test made.
    pub async fn cleanup(self) {
        match self.broker {
            Broker::Kafka => {
                let _ = self.bus.close().await;
                if let Ok(admin) = kafka::Admin::builder(&endpoints::kafka_bootstrap())
                    .build()
                    .await
                {
                    let mut topics = vec![self.source.clone(), self.dead.clone()];
                    topics.extend(self.cleanup_names.iter().cloned());
                    let _ = admin.delete_topics(topics).await;
                }
            }
            Broker::Amqp => {
                let conn = self.amqp.as_ref().expect("amqp");
                if let Ok(ch) = conn.open_channel().await {
                    let mut queues = vec![self.queue(), self.dead.clone()];
                    queues.extend(self.cleanup_names.iter().cloned());
                    for q in queues {
                        let _ = ch.queue_delete(&q, QueueDeleteOptions::default()).await;
                    }
                    for x in [&self.source, &self.dead] {
                        let _ = ch.exchange_delete(x, false).await;
                    }
                }
                let _ = conn.close().await;
            }
        }
    }
}

fn text(v: &FieldValue) -> String {
    match v {
        FieldValue::LongStr(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        FieldValue::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        other => other
            .as_i64()
            .map_or_else(|| format!("{other:?}"), |i| i.to_string()),
    }
}
