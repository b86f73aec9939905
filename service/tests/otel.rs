//! The `otel` feature against the real brokers: the service's spans are
//! exported through tracing-opentelemetry (the SDK with an in-memory
//! exporter), with the messaging conventions' names, kinds and
//! attributes, and the producer's and consumer's spans are linked through
//! the message's `traceparent`.

mod support;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use mq_service::{HandlerError, Json, Message, TraceContext};
use opentelemetry::trace::{SpanId, SpanKind, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use support::scenarios::Event;
use support::{Broker, Env, within};
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// One OpenTelemetry pipeline for the test binary (the global `tracing`
/// subscriber can be set once): what every test exported.
fn exported() -> &'static InMemorySpanExporter {
    static PIPELINE: OnceLock<(SdkTracerProvider, InMemorySpanExporter)> = OnceLock::new();
    &PIPELINE
        .get_or_init(|| {
            let exporter = InMemorySpanExporter::default();
            let provider = SdkTracerProvider::builder()
                .with_simple_exporter(exporter.clone())
                .build();
            tracing_subscriber::registry()
                .with(
                    tracing_opentelemetry::layer().with_tracer(provider.tracer("mq-service-test")),
                )
                .init();
            (provider, exporter)
        })
        .1
}

fn attr(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

/// What the handler saw: the key and the current context.
type Seen = (String, Option<TraceContext>);

async fn spans_link_producer_and_consumer(broker: Broker) {
    let exporter = exported();
    let env = Env::new(broker, "svc-otel", 1).await;
    let system = match broker {
        Broker::Kafka => "kafka",
        Broker::Amqp => "rabbitmq",
    };
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let sub = env
        .bus
        .subscriber::<Event, Json>(&env.source, &env.group)
        .start({
            let seen = seen.clone();
            move |msg: Message<Event>| {
                let seen = seen.clone();
                async move {
                    let key = msg.payload().key.clone();
                    seen.lock().unwrap().push((key, TraceContext::current()));
                    Ok::<(), HandlerError>(())
                }
            }
        })
        .await
        .expect("start");

    // 1. Ours, inside an application span and no trace context of its own:
    // the send span is that span's child in the exported trace.
    let publisher = env.bus.publisher::<Event, Json>(&env.source);
    let event = Event {
        key: "ours".into(),
        seq: 1,
        note: String::new(),
    };
    let published = async { publisher.publish(&event).key("ours").await }
        .instrument(tracing::info_span!("checkout", test = %env.source))
        .await
        .expect("publish");

    // 2. Another client's message with a traceparent of its own.
    let foreign = TraceContext::new_root();
    env.raw_publish(
        "raw",
        br#"{"key":"raw","seq":2}"#,
        &[("traceparent", foreign.traceparent().as_str())],
    )
    .await;

    within(60, "both messages", async {
        while seen.lock().unwrap().len() < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    sub.shutdown().await.expect("shutdown");
    let spans = exporter.get_finished_spans().expect("spans");

    let checkout = spans
        .iter()
        .find(|s| s.name == "checkout" && attr(s, "test").as_deref() == Some(env.source.as_str()))
        .unwrap_or_else(|| {
            let names: Vec<_> = spans
                .iter()
                .map(|s| (s.name.to_string(), attr(s, "test")))
                .collect();
            panic!("the application's span is not exported: {names:?}")
        });
    let trace_id = checkout.span_context.trace_id();

    let send = spans
        .iter()
        .find(|s| s.parent_span_id == checkout.span_context.span_id())
        .expect("a span under the application's span");
    assert_eq!(send.name, format!("send {}", env.source));
    assert_eq!(send.span_kind, SpanKind::Producer);
    assert_eq!(send.span_context.trace_id(), trace_id);
    assert_eq!(attr(send, "messaging.system").as_deref(), Some(system));
    assert_eq!(
        attr(send, "messaging.operation.name").as_deref(),
        Some("send")
    );
    assert_eq!(
        attr(send, "messaging.destination.name").as_deref(),
        Some(env.source.as_str())
    );
    assert_eq!(
        attr(send, "messaging.message.id").as_deref(),
        Some(published.message_id.as_str())
    );
    // The traceparent the message carried names the exported span.
    assert_eq!(published.trace_context.trace_id(), trace_id.to_bytes());
    assert_eq!(
        published.trace_context.span_id(),
        send.span_context.span_id().to_bytes()
    );

    let process = spans
        .iter()
        .find(|s| s.parent_span_id == send.span_context.span_id())
        .expect("the consumer's span is the producer's child");
    assert!(process.name.starts_with("process "), "{}", process.name);
    assert_eq!(process.span_kind, SpanKind::Consumer);
    assert_eq!(process.span_context.trace_id(), trace_id);
    assert!(process.parent_span_is_remote, "linked through the message");
    assert_eq!(attr(process, "messaging.system").as_deref(), Some(system));
    assert_eq!(
        attr(process, "messaging.operation.name").as_deref(),
        Some("process")
    );
    assert_eq!(
        attr(process, "messaging.consumer.group.name").as_deref(),
        Some(env.group.as_str())
    );
    match broker {
        Broker::Kafka => assert_eq!(
            attr(process, "messaging.kafka.message.key").as_deref(),
            Some("ours")
        ),
        Broker::Amqp => {
            assert!(attr(process, "messaging.rabbitmq.destination.routing_key").is_some())
        }
    }

    // The handler ran in the exported span's context: what it publishes
    // continues that span.
    let seen = seen.lock().unwrap().clone();
    let current = |key: &str| {
        seen.iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, c)| c.clone())
            .expect(key)
    };
    let ours = current("ours");
    assert_eq!(ours.trace_id(), trace_id.to_bytes());
    assert_eq!(ours.span_id(), process.span_context.span_id().to_bytes());

    // The foreign message: its process span's remote parent is the span
    // its traceparent names.
    let raw = spans
        .iter()
        .find(|s| s.parent_span_id == SpanId::from_bytes(foreign.span_id()))
        .expect("the foreign message's process span");
    assert_eq!(raw.span_context.trace_id().to_bytes(), foreign.trace_id());
    assert!(raw.parent_span_is_remote);
    assert_eq!(raw.span_kind, SpanKind::Consumer);
    assert_eq!(
        current("raw").span_id(),
        raw.span_context.span_id().to_bytes()
    );

    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_spans_link_producer_and_consumer() {
    spans_link_producer_and_consumer(Broker::Kafka).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_spans_link_producer_and_consumer() {
    spans_link_producer_and_consumer(Broker::Amqp).await;
}
