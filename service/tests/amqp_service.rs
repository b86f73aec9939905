//! The service layer against the real RabbitMQ broker.

mod support;

use support::{Broker, scenarios, tracing_capture};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_at_least_once_across_a_crash() {
    scenarios::at_least_once_across_a_crash(Broker::Amqp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_retries_and_dead_letters() {
    scenarios::retries_and_dead_letters(Broker::Amqp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_panics_and_timeouts() {
    scenarios::panics_and_timeouts(Broker::Amqp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_rate_limit() {
    scenarios::rate_limit(Broker::Amqp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_graceful_shutdown_under_load() {
    scenarios::graceful_shutdown_under_load(Broker::Amqp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_trace_context_flows() {
    tracing_capture::trace_context_flows(Broker::Amqp).await;
}
