//! The Kafka half of the service bench: the raw client and mq-service on
//! one cluster, each workload the same way.

use super::*;

pub(super) struct Kafka {
    pub(super) producer: Producer,
    pub(super) bus: Bus,
    pub(super) noop: String,
    pub(super) slow: String,
    pub(super) publish_raw: String,
    pub(super) publish_service: String,
    pub(super) dead: String,
}

impl Kafka {
    pub(super) async fn new() -> Self {
        let admin = Admin::builder(&bootstrap()).build().await.expect("admin");
        let noop = mq_tests::names::topic("svc-noop");
        let slow = mq_tests::names::topic("svc-slow");
        let publish_raw = mq_tests::names::topic("svc-pub-raw");
        let publish_service = mq_tests::names::topic("svc-pub-service");
        admin
            .create_topics([
                NewTopic::new(&noop, KAFKA_PARTITIONS, 1),
                NewTopic::new(&slow, SLOW_PARTITIONS, 1),
                NewTopic::new(&publish_raw, KAFKA_PARTITIONS, 1),
                NewTopic::new(&publish_service, KAFKA_PARTITIONS, 1),
            ])
            .await
            .expect("create topics");
        let producer = Producer::builder(&bootstrap())
            .linger(Duration::from_millis(5))
            .build()
            .await
            .expect("producer");
        let bus = Bus::kafka(
            mq_service::KafkaConfig::new(bootstrap())
                .producer(|p| p.linger(Duration::from_millis(5))),
        );
        Kafka {
            producer,
            bus,
            dead: format!("{noop}.dead"),
            noop,
            slow,
            publish_raw,
            publish_service,
        }
    }

    /// Fills `topic` with `n` records as mq-service's publisher sends them.
    pub(super) async fn fill(&self, topic: &str, keys: &[String], n: u64) {
        let body = serde_json::to_vec(&order()).expect("json");
        let mut deliveries = VecDeque::with_capacity(WINDOW * 10);
        for i in 0..n {
            let key = &keys[i as usize % keys.len()];
            let record = ProducerRecord::new(topic)
                .key(key)
                .value(&body)
                .header("content-type", Some(CONTENT_TYPE))
                .header("x-mq-message-id", Some(MESSAGE_ID))
                .header("traceparent", Some(TRACEPARENT));
            deliveries.push_back(self.producer.enqueue(record).await.expect("enqueue"));
            if deliveries.len() >= WINDOW * 10 {
                if let Some(d) = deliveries.pop_front() {
                    d.await.expect("delivered");
                }
            }
        }
        for d in deliveries {
            d.await.expect("delivered");
        }
    }

    /// raw: a fresh group reads `topic` from the start as a stream of
    /// owned records, decodes each, and commits the last processed offset
    /// of each partition every 250 ms without waiting.
    pub(super) async fn consume_raw(&self, topic: &str, partitions: i32, probe: &Probe) -> Sample {
        let mut consumer = kafka::Consumer::builder(&bootstrap())
            .group(mq_tests::names::group("svc-raw"))
            .auto_offset_reset(OffsetReset::Earliest)
            .build()
            .await
            .expect("consumer");
        consumer.subscribe([topic]).await.expect("subscribe");
        let topic: Arc<str> = topic.into();
        let mut marks: Vec<Option<OffsetAndEpoch>> = vec![None; partitions as usize];
        let mut committed: Vec<Option<OffsetAndEpoch>> = vec![None; partitions as usize];
        let due = |marks: &[Option<OffsetAndEpoch>], committed: &mut [Option<OffsetAndEpoch>]| {
            let mut out = Vec::new();
            for (p, (m, c)) in marks.iter().zip(committed.iter_mut()).enumerate() {
                if let Some(m) = *m {
                    if *c != Some(m) {
                        *c = Some(m);
                        out.push((TopicPartition::new(topic.clone(), p as i32), m));
                    }
                }
            }
            out
        };
        let mut tick = tokio::time::interval(COMMIT_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let r = tokio::select! {
                biased;
                _ = tick.tick() => {
                    let commits = due(&marks, &mut committed);
                    if !commits.is_empty() {
                        drop(consumer.commit_offsets_async(commits));
                    }
                    continue;
                }
                r = consumer.next() => r,
            };
            let r = r.expect("open").expect("record");
            let o: Order =
                serde_json::from_slice(r.value.as_deref().expect("value")).expect("decode");
            std::hint::black_box(&o);
            if let Some(m) = marks.get_mut(r.partition as usize) {
                *m = Some(OffsetAndEpoch::new(r.offset + 1, r.leader_epoch));
            }
            if probe.hit() {
                break;
            }
        }
        let commits = due(&marks, &mut committed);
        if !commits.is_empty() {
            consumer.commit_offsets(commits).await.expect("commit");
        }
        consumer.close().await.expect("close");
        probe.finished().await
    }

    pub(super) async fn consume_service(
        &self,
        topic: &str,
        workers: usize,
        max_in_flight: Option<u32>,
        wait: Wait,
        probe: &Arc<Probe>,
    ) -> Sample {
        let mut b = self
            .bus
            .subscriber::<Order, Json>(topic, &mq_tests::names::group("svc"))
            .dead_letter(&self.dead)
            .concurrency(workers)
            .ordered_by_key();
        if let Some(m) = max_in_flight {
            b = b.max_in_flight(m);
        }
        let running = b.start(handler(probe, wait)).await.expect("subscriber");
        let sample = probe.finished().await;
        running.shutdown().await.expect("shutdown");
        sample
    }

    pub(super) async fn publish_raw(&self, keys: &[String], n: u64) {
        let o = order();
        let mut window = VecDeque::with_capacity(WINDOW);
        for i in 0..n {
            let body = serde_json::to_vec(&o).expect("encode");
            let key = &keys[i as usize % keys.len()];
            let d = self
                .producer
                .enqueue(ProducerRecord::new(&self.publish_raw).key(key).value(&body))
                .await
                .expect("enqueue");
            window.push_back(d);
            if window.len() >= WINDOW {
                if let Some(d) = window.pop_front() {
                    d.await.expect("delivered");
                }
            }
        }
        for d in window {
            d.await.expect("delivered");
        }
    }

    pub(super) async fn cleanup(&self) {
        let _ = self.bus.close().await;
        let _ = self.producer.close().await;
        if let Ok(admin) = Admin::builder(&bootstrap()).build().await {
            let _ = admin
                .delete_topics([
                    self.noop.as_str(),
                    self.slow.as_str(),
                    self.publish_raw.as_str(),
                    self.publish_service.as_str(),
                    self.dead.as_str(),
                ])
                .await;
        }
    }
}
