//! The service layer against the real Kafka broker.

mod support;

use support::{Broker, scenarios, tracing_capture};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_at_least_once_across_a_crash() {
    scenarios::at_least_once_across_a_crash(Broker::Kafka).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_retries_and_dead_letters() {
    scenarios::retries_and_dead_letters(Broker::Kafka).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_panics_and_timeouts() {
    scenarios::panics_and_timeouts(Broker::Kafka).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_rate_limit() {
    scenarios::rate_limit(Broker::Kafka).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_graceful_shutdown_under_load() {
    scenarios::graceful_shutdown_under_load(Broker::Kafka).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_trace_context_flows() {
    tracing_capture::trace_context_flows(Broker::Kafka).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_dedup_hook() {
    scenarios::dedup_hook(Broker::Kafka).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_rebalance_mid_run() {
    scenarios::rebalance_mid_run().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_delayed_retries() {
    support::delayed::delayed_retries(Broker::Kafka).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_retry_holds_key() {
    support::delayed::retry_holds_key(Broker::Kafka).await;
}
