//! confluent-kafka's child: its `KafkaProducer` (translated from the Java
//! client) with acks=all, enable.idempotence=true, linger.ms=5, its
//! defaults otherwise. `send` on byte slices (its zero-copy path, no
//! serializer), then every returned future awaited.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use confluent_kafka::common::serialization::ByteArraySerializer;
use confluent_kafka::producer::{KafkaProducer, Producer, ProducerConfig, ProducerRecord};

/// Sends `n` records, keeping at most [`super::WINDOW`] futures, and
/// awaits every one. Timed from the producer's construction to the last
/// acknowledgement.
pub(crate) async fn produce(bootstrap: &str, topic: &str, n: u64) -> Duration {
    let value = super::value();
    let start = Instant::now();
    let props: HashMap<String, String> = [
        ("bootstrap.servers", bootstrap),
        ("acks", "all"),
        ("enable.idempotence", "true"),
        ("linger.ms", "5"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let config = ProducerConfig::new(&props).expect("confluent-kafka config");
    let producer = KafkaProducer::<Vec<u8>, Vec<u8>>::new(
        config,
        ByteArraySerializer::default(),
        ByteArraySerializer::default(),
    )
    .expect("confluent-kafka producer");
    let mut window = VecDeque::with_capacity(super::WINDOW);
    for i in 0..n {
        let key = super::key(i);
        let record = ProducerRecord::with_key(topic.to_string(), Some(&key[..]), Some(&value[..]));
        let future = producer.send(record, None).await.expect("send");
        window.push_back(future);
        if window.len() >= super::WINDOW {
            if let Some(f) = window.pop_front() {
                f.get().await.expect("delivery");
            }
        }
    }
    for f in window {
        f.get().await.expect("delivery");
    }
    let elapsed = start.elapsed();
    producer.close().await.expect("close");
    elapsed
}
