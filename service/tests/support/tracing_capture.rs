//! An in-memory `tracing` layer that keeps every span's and event's
//! fields, and the tracing scenario that reads them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mq_service::{HandlerError, Json, Message, TraceContext};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event as TracingEvent, Instrument, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

use super::scenarios::Event;
use super::{Broker, Env, within};

/// A span or event: its name and fields.
#[derive(Debug, Clone, Default)]
pub struct Captured {
    pub name: String,
    pub fields: HashMap<String, String>,
}

/// What the handler saw: the key, its message's context, the current one.
type Seen = (String, TraceContext, Option<TraceContext>);

/// The layer; clones share what it captured.
#[derive(Debug, Clone, Default)]
pub struct Capture {
    spans: Arc<Mutex<HashMap<u64, Captured>>>,
    events: Arc<Mutex<Vec<Captured>>>,
}

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: Subscriber> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _ctx: Context<'_, S>) {
        let mut c = Captured {
            name: attrs.metadata().name().to_owned(),
            fields: HashMap::new(),
        };
        attrs.record(&mut Fields(&mut c.fields));
        self.spans.lock().unwrap().insert(id.into_u64(), c);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        if let Some(c) = self.spans.lock().unwrap().get_mut(&id.into_u64()) {
            values.record(&mut Fields(&mut c.fields));
        }
    }

    fn on_event(&self, event: &TracingEvent<'_>, _ctx: Context<'_, S>) {
        let mut c = Captured {
            name: event.metadata().name().to_owned(),
            fields: HashMap::new(),
        };
        event.record(&mut Fields(&mut c.fields));
        self.events.lock().unwrap().push(c);
    }
}

impl Capture {
    pub fn spans_named(&self, name: &str) -> Vec<Captured> {
        self.spans
            .lock()
            .unwrap()
            .values()
            .filter(|c| c.name == name)
            .cloned()
            .collect()
    }

    pub fn events(&self) -> Vec<Captured> {
        self.events.lock().unwrap().clone()
    }
}

/// The capture, installed once per test binary as the global default
/// subscriber. (A thread's scoped default is not enough: callsites first
/// hit on other threads, by tests running alongside, would be cached as
/// uninteresting.) Tests tell their own spans apart by their unique
/// destination names.
pub fn global_capture() -> Capture {
    static CAPTURE: std::sync::OnceLock<Capture> = std::sync::OnceLock::new();
    CAPTURE
        .get_or_init(|| {
            let capture = Capture::default();
            tracing::subscriber::set_global_default(
                tracing_subscriber::registry().with(capture.clone()),
            )
            .expect("no other global subscriber (RUST_LOG unset)");
            capture
        })
        .clone()
}

/// Publish inside a span and a trace context; consume: the handler's
/// context and `process` span have the same trace id. A message written
/// by the raw client with a `traceparent` is picked up too.
pub async fn trace_context_flows(broker: Broker) {
    let capture = global_capture();
    let env = Env::new(broker, "svc-trace", 1).await;
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let handler = {
        let seen = seen.clone();
        move |msg: Message<Event>| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push((
                    msg.payload().key.clone(),
                    msg.trace_context().clone(),
                    TraceContext::current(),
                ));
                Ok::<(), HandlerError>(())
            }
        }
    };
    let sub = env
        .bus
        .subscriber::<Event, Json>(&env.source, &env.group)
        .dead_letter(&env.dead)
        .start(handler)
        .await
        .expect("start");

    // 1. Our publisher, inside a span and a trace context.
    let root = TraceContext::new_root();
    let publisher = env.bus.publisher::<Event, Json>(&env.source);
    let event = Event {
        key: "ours".into(),
        seq: 1,
        note: String::new(),
    };
    let published = root
        .clone()
        .scope(async { publisher.publish(&event).key("ours").await })
        .instrument(tracing::info_span!("checkout"))
        .await
        .expect("publish");
    assert_eq!(published.trace_context.trace_id(), root.trace_id());
    assert_ne!(published.trace_context.span_id(), root.span_id());

    // 2. The raw client, with a traceparent of its own.
    let raw = TraceContext::new_root();
    let raw_parent = raw.traceparent();
    env.raw_publish(
        "raw",
        br#"{"key":"raw","seq":2}"#,
        &[
            ("traceparent", raw_parent.as_str()),
            ("tracestate", "rojo=00f067aa0ba902b7"),
        ],
    )
    .await;

    within(60, "both messages", async {
        while seen.lock().unwrap().len() < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    sub.shutdown().await.expect("shutdown");
    let seen = seen.lock().unwrap().clone();
    let of = |key: &str| seen.iter().find(|(k, _, _)| k == key).cloned().expect(key);
    let (_, ours, current) = of("ours");
    assert_eq!(
        ours.trace_id(),
        root.trace_id(),
        "the handler continues the trace"
    );
    assert_eq!(
        current.as_ref(),
        Some(&ours),
        "and it is the current context"
    );
    let (_, theirs, _) = of("raw");
    assert_eq!(theirs.trace_id(), raw.trace_id());
    assert_eq!(theirs.tracestate(), Some("rojo=00f067aa0ba902b7"));

    // The spans: one send, two process spans with the same trace ids.
    let destination = match broker {
        Broker::Kafka => env.source.clone(),
        Broker::Amqp => env.queue(),
    };
    let sends = capture.spans_named("send");
    let send = sends
        .iter()
        .find(|s| s.fields.get("messaging.destination.name") == Some(&env.source))
        .expect("a send span");
    assert_eq!(send.fields["trace_id"], root.trace_id_hex());
    assert_eq!(send.fields["otel.name"], format!("send {}", env.source));
    let processes: Vec<_> = capture
        .spans_named("process")
        .into_iter()
        .filter(|s| s.fields.get("messaging.destination.name") == Some(&destination))
        .collect();
    assert_eq!(processes.len(), 2, "{processes:?}");
    let system = match broker {
        Broker::Kafka => "kafka",
        Broker::Amqp => "rabbitmq",
    };
    for p in &processes {
        assert_eq!(p.fields["messaging.system"], system);
        assert_eq!(p.fields["messaging.operation.name"], "process");
        assert_eq!(p.fields["messaging.consumer.group.name"], env.group);
        assert_eq!(p.fields["otel.name"], format!("process {destination}"));
        assert_eq!(p.fields["outcome"], "processed");
    }
    let by_trace = |t: &TraceContext| {
        processes
            .iter()
            .find(|p| p.fields["trace_id"] == t.trace_id_hex())
            .cloned()
            .unwrap_or_else(|| panic!("no process span in trace {}", t.trace_id_hex()))
    };
    let ours_span = by_trace(&root);
    assert_eq!(
        ours_span.fields["parent_span_id"],
        published.trace_context.span_id_hex(),
        "the process span's parent is the send span"
    );
    assert_eq!(
        ours_span.fields["messaging.message.id"],
        published.message_id
    );
    if broker == Broker::Kafka {
        assert_eq!(ours_span.fields["messaging.kafka.message.key"], "ours");
        assert!(ours_span.fields.contains_key("messaging.kafka.offset"));
    } else {
        assert_eq!(
            ours_span.fields["messaging.rabbitmq.destination.routing_key"],
            "ours"
        );
    }
    assert_eq!(by_trace(&raw).fields["parent_span_id"], raw.span_id_hex());

    // One log line per message, with its trace id.
    let lines: Vec<Captured> = capture
        .events()
        .into_iter()
        .filter(|e| {
            e.fields.get("message").map(String::as_str) == Some("message settled")
                && e.fields.get("destination") == Some(&destination)
        })
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let mut ids: Vec<&str> = lines
        .iter()
        .map(|l| l.fields["trace_id"].as_str())
        .collect();
    ids.sort_unstable();
    let mut want = [root.trace_id_hex(), raw.trace_id_hex()];
    want.sort_unstable();
    assert_eq!(ids, want);
    assert!(
        lines
            .iter()
            .all(|l| l.fields["outcome"] == "processed" && l.fields.contains_key("duration_ms"))
    );
    env.cleanup().await;
}
