//! The orders scenario on the service layer: an order service publishes
//! order events keyed by order id; a billing service subscribes with 16
//! workers (each order's events in order), retries, a rate limit and dead
//! letters. The payment service fails the first try of some events (they
//! succeed when retried) and every tenth order has a negative amount, which
//! no retry fixes (dead letters at once). The same program runs on Kafka
//! or RabbitMQ.
//!
//! ```text
//! cargo run -p mq-service --example orders_service            # Kafka on 127.0.0.1:9092
//! cargo run -p mq-service --example orders_service -- amqp    # RabbitMQ on 127.0.0.1:5672
//! ```
//!
//! With `ORDERS_KEEP=1` it leaves its topics (or queues) in place and
//! prints their names, so that `mq dead-letters list|replay` can be tried
//! on them (`scripts/demo` does).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use mq_client::amqp;
use mq_client::kafka::{Admin, NewTopic};
use mq_service::{Backoff, Bus, HandlerError, Json, Message};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct OrderEvent {
    order_id: String,
    status: String,
    amount: i64,
}

const ORDERS: u32 = 50;
const STAGES: [&str; 3] = ["created", "paid", "shipped"];

/// Billing: every tenth order has a negative amount, which no retry can
/// fix, so it goes to the dead letters at once.
async fn bill(order: &OrderEvent) -> Result<(), HandlerError> {
    if order.amount < 0 {
        return Err(HandlerError::permanent(format!(
            "order {}: negative amount",
            order.order_id
        )));
    }
    tokio::time::sleep(Duration::from_millis(2)).await; // the payment service
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let topic = format!("orders-service-example-{}", std::process::id());
    let bus = if std::env::args().nth(1).as_deref() == Some("amqp") {
        let url = std::env::var("AMQP_URL")
            .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
        Bus::amqp(amqp::Connection::connect(&url).await?)
    } else {
        let bootstrap =
            std::env::var("KAFKA_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".to_owned());
        let admin = Admin::builder(&bootstrap).build().await?;
        admin.create_topics([NewTopic::new(&topic, 4, 1)]).await?;
        Bus::kafka(bootstrap.as_str())
    };

    // The billing service: declares its queue (RabbitMQ) or joins its
    // group (Kafka), then handles events as they come.
    let (billed, refused) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let retried = Arc::new(AtomicU32::new(0));
    let billing = bus
        .subscriber::<OrderEvent, Json>(&topic, "billing")
        .concurrency(16)
        .ordered_by_key()
        .rate_limit(1000, Duration::from_secs(1))
        .retry(
            Backoff::exponential(Duration::from_millis(100), 2.0, Duration::from_secs(5))
                .jitter(0.2)
                .attempts(5),
        )
        .dead_letter(&format!("{topic}.dead"))
        .handler_timeout(Duration::from_secs(10))
        .start({
            let (billed, refused, retried) = (billed.clone(), refused.clone(), retried.clone());
            move |msg: Message<OrderEvent>| {
                let (billed, refused, retried) = (billed.clone(), refused.clone(), retried.clone());
                async move {
                    // The payment service is flaky: the first try of the
                    // "paid" event of orders numbered ...3 fails, and is
                    // retried.
                    let order = msg.payload();
                    let flaky = order.status == "paid" && order.order_id.ends_with('3');
                    if flaky && msg.attempt() == 1 {
                        return Err(HandlerError::retriable("payment service unavailable"));
                    }
                    if msg.attempt() > 1 {
                        retried.fetch_add(1, Ordering::SeqCst);
                    }
                    let result = bill(order).await;
                    match &result {
                        Ok(()) => billed.fetch_add(1, Ordering::SeqCst),
                        Err(_) => refused.fetch_add(1, Ordering::SeqCst),
                    };
                    result
                }
            }
        })
        .await?;

    // The order service: every publish confirmed (acks=all or a publisher
    // confirm), keyed by order id, with a W3C traceparent.
    let orders = bus.publisher::<OrderEvent, Json>(&topic);
    for stage in STAGES {
        for n in 0..ORDERS {
            let event = OrderEvent {
                order_id: format!("order-{n:04}"),
                status: stage.to_owned(),
                amount: if n % 10 == 9 { -1 } else { i64::from(n) * 100 },
            };
            orders.publish(&event).key(&event.order_id).await?;
        }
    }
    println!("order service: {} events published", ORDERS * 3);

    while billed.load(Ordering::SeqCst) + refused.load(Ordering::SeqCst) < ORDERS * 3 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    billing.shutdown().await?; // drain, ack / commit, close
    println!(
        "billing service: {} events billed ({} of them on a retry), {} dead-lettered to {topic}.dead",
        billed.load(Ordering::SeqCst),
        retried.load(Ordering::SeqCst),
        refused.load(Ordering::SeqCst)
    );
    if std::env::var("ORDERS_KEEP").is_ok_and(|v| v == "1") {
        println!("kept: origin {topic}, dead letters {topic}.dead");
    } else {
        cleanup(&bus, &topic).await?;
    }
    bus.close().await?;
    Ok(())
}

/// Deletes what the example made (a service would keep it).
async fn cleanup(bus: &Bus, topic: &str) -> Result<(), Box<dyn std::error::Error>> {
    let dead = format!("{topic}.dead");
    match bus.amqp_connection() {
        Some(conn) => {
            let ch = conn.open_channel().await?;
            for queue in [format!("{topic}.billing"), dead.clone()] {
                ch.queue_delete(&queue, amqp::QueueDeleteOptions::default())
                    .await?;
            }
            for exchange in [topic, dead.as_str()] {
                ch.exchange_delete(exchange, false).await?;
            }
        }
        None => {
            let bootstrap =
                std::env::var("KAFKA_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".to_owned());
            let admin = Admin::builder(&bootstrap).build().await?;
            admin.delete_topics([topic.to_owned(), dead]).await?;
        }
    }
    Ok(())
}
