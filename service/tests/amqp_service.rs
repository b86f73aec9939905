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

/// RabbitMQ's own limits are checked at build time too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_settings_that_cannot_work_are_refused() {
    let env = support::Env::new(Broker::Amqp, "svc-config", 1).await;
    let refused = |b: mq_service::SubscriberBuilder<String, mq_service::Json>| match b.build() {
        Err(mq_service::Error::Config { setting, .. }) => setting,
        other => panic!("not refused: {other:?}"),
    };
    let sub = || {
        env.bus
            .subscriber::<String, mq_service::Json>(&env.source, &env.group)
    };
    assert_eq!(refused(sub().max_in_flight(70_000)), "max_in_flight");
    assert_eq!(refused(sub().dead_letter(&env.queue())), "dead_letter");
    assert_eq!(refused(sub().dead_letter(&env.source)), "dead_letter");
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_dedup_hook() {
    scenarios::dedup_hook(Broker::Amqp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_delayed_retries() {
    support::delayed::delayed_retries(Broker::Amqp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_retry_holds_key() {
    support::delayed::retry_holds_key(Broker::Amqp).await;
}
