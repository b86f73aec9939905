//! Per-key order under concurrency at volume, against both brokers:
//! 100,000 messages over 1,000 keys, 16 workers, random 0-5 ms handlers;
//! and with one worker, whose handlers mostly finish without waiting.

mod support;

use support::{Broker, scenarios};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_per_key_order_under_concurrency() {
    scenarios::per_key_order(Broker::Kafka).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_per_key_order_under_concurrency() {
    scenarios::per_key_order(Broker::Amqp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_per_key_order_with_one_worker() {
    scenarios::per_key_order_one_worker(Broker::Kafka).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_per_key_order_with_one_worker() {
    scenarios::per_key_order_one_worker(Broker::Amqp).await;
}
