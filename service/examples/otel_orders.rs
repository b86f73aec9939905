//! Traces of the orders flow exported to OpenTelemetry over OTLP: an order
//! service publishes order events, a billing service processes them, and
//! each event becomes one trace of two spans, `send <topic>` (producer)
//! and `process <topic>` (consumer, its child through the message's
//! `traceparent`), with OpenTelemetry's messaging attributes. Build with
//! the `otel` feature:
//!
//! ```text
//! cargo run -p mq-service --features otel --example otel_orders            # Kafka on 127.0.0.1:9092
//! cargo run -p mq-service --features otel --example otel_orders -- amqp    # RabbitMQ on 127.0.0.1:5672
//! ```
//!
//! Spans go to `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (default
//! `http://127.0.0.1:4318/v1/traces`: an OpenTelemetry Collector, Jaeger or
//! Tempo listening for OTLP over HTTP). The program prints each trace id,
//! to look up in the viewer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use mq_client::amqp;
use mq_client::kafka::{Admin, NewTopic};
use mq_service::{Bus, HandlerError, Json, Message};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde::{Deserialize, Serialize};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[derive(Debug, Serialize, Deserialize)]
struct OrderEvent {
    order_id: String,
    amount: i64,
}

const ORDERS: u32 = 5;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The exporter: OTLP over HTTP (protobuf), spans batched on a thread
    // of their own.
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .unwrap_or_else(|_| "http://127.0.0.1:4318/v1/traces".to_owned());
    let exporter = SpanExporter::builder()
        .with_http()
        .with_endpoint(&endpoint)
        .build()?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name("orders").build())
        .build();
    // The service's spans; the client's own per-connection spans only with
    // RUST_LOG=mq_client=info.
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,mq_client=warn"));
    tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("orders")))
        .with(filter)
        .init();

    let topic = format!("otel-orders-example-{}", std::process::id());
    let bus = if std::env::args().nth(1).as_deref() == Some("amqp") {
        let url = std::env::var("AMQP_URL")
            .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
        Bus::amqp(amqp::Connection::connect(&url).await?)
    } else {
        let bootstrap =
            std::env::var("KAFKA_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".to_owned());
        let admin = Admin::builder(&bootstrap).build().await?;
        admin.create_topics([NewTopic::new(&topic, 1, 1)]).await?;
        Bus::kafka(bootstrap.as_str())
    };

    // Billing: each message is processed in a `process <topic>` span whose
    // parent is the producer's `send <topic>` span.
    let billed = Arc::new(AtomicU32::new(0));
    let billing = bus
        .subscriber::<OrderEvent, Json>(&topic, "billing")
        .start({
            let billed = billed.clone();
            move |msg: Message<OrderEvent>| {
                let billed = billed.clone();
                async move {
                    tracing::info!(order = %msg.payload().order_id, "billed");
                    billed.fetch_add(1, Ordering::SeqCst);
                    Ok::<(), HandlerError>(())
                }
            }
        })
        .await?;

    // The order service: each publish opens a `send <topic>` span and
    // carries its id in the `traceparent` header.
    let orders = bus.publisher::<OrderEvent, Json>(&topic);
    for n in 0..ORDERS {
        let event = OrderEvent {
            order_id: format!("order-{n:04}"),
            amount: i64::from(n) * 100,
        };
        let sent = orders.publish(&event).key(&event.order_id).await?;
        println!(
            "{}: trace {}",
            event.order_id,
            sent.trace_context.trace_id_hex()
        );
    }
    while billed.load(Ordering::SeqCst) < ORDERS {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    billing.shutdown().await?;
    cleanup(&bus, &topic).await?;
    bus.close().await?;
    // Sends what the batch holds, then stops the exporter.
    provider.shutdown()?;
    println!("{ORDERS} orders traced to {endpoint}");
    Ok(())
}

/// Deletes what the example made (a service would keep it).
async fn cleanup(bus: &Bus, topic: &str) -> Result<(), Box<dyn std::error::Error>> {
    match bus.amqp_connection() {
        Some(conn) => {
            let ch = conn.open_channel().await?;
            ch.queue_delete(
                &format!("{topic}.billing"),
                amqp::QueueDeleteOptions::default(),
            )
            .await?;
            ch.exchange_delete(topic, false).await?;
        }
        None => {
            let bootstrap =
                std::env::var("KAFKA_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".to_owned());
            let admin = Admin::builder(&bootstrap).build().await?;
            admin.delete_topics([topic.to_owned()]).await?;
        }
    }
    Ok(())
}
