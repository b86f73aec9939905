//! The orders scenario: an order service publishes `order.created` events
//! with publisher confirms to a durable topic exchange; a notification
//! service consumes them with manual acks and a prefetch, and messages it
//! cannot handle go to a dead-letter queue.
//!
//! ```text
//! cargo run -p mq-client --example orders            # RabbitMQ on 127.0.0.1:5672
//! AMQP_URL=amqp://user:pass@host:5672/%2f cargo run -p mq-client --example orders
//! ```

use std::time::Duration;

use futures_util::StreamExt;
use mq_client::amqp::{
    BasicProperties, Channel, Connection, ConsumeOptions, Error, ExchangeKind, ExchangeOptions,
    FieldTable, QueueOptions,
};

const EXCHANGE: &str = "orders";
const DEAD_LETTER_EXCHANGE: &str = "orders.dlx";
const QUEUE: &str = "notifications";
const DEAD_LETTER_QUEUE: &str = "notifications.dead";
const ORDERS: u32 = 20;

/// Declares the topology; both services do it, declares are idempotent.
async fn declare(ch: &Channel) -> Result<(), Error> {
    ch.exchange_declare(EXCHANGE, ExchangeKind::Topic, ExchangeOptions::durable())
        .await?;
    ch.exchange_declare(
        DEAD_LETTER_EXCHANGE,
        ExchangeKind::Fanout,
        ExchangeOptions::durable(),
    )
    .await?;
    ch.queue_declare(DEAD_LETTER_QUEUE, QueueOptions::durable())
        .await?;
    ch.queue_bind(
        DEAD_LETTER_QUEUE,
        DEAD_LETTER_EXCHANGE,
        "",
        FieldTable::new(),
    )
    .await?;
    ch.queue_declare(
        QUEUE,
        QueueOptions::durable().dead_letter_exchange(DEAD_LETTER_EXCHANGE),
    )
    .await?;
    ch.queue_bind(QUEUE, EXCHANGE, "order.*", FieldTable::new())
        .await?;
    Ok(())
}

/// The order service: publishes every order and waits for its confirm.
async fn order_service(url: &str) -> Result<(), Error> {
    let conn = Connection::builder()
        .uri(url)
        .name("order-service")
        .connect()
        .await?;
    let ch = conn.open_channel().await?;
    declare(&ch).await?;
    ch.confirm_select().await?;
    let mut confirms = Vec::new();
    for id in 1..=ORDERS {
        // Every seventh order has no email address: notification fails.
        let email = if id % 7 == 0 { "" } else { "buyer@example.com" };
        let body = format!(r#"{{"order_id":{id},"email":"{email}"}}"#);
        let props = BasicProperties::default()
            .persistent()
            .with_content_type("application/json")
            .with_message_id(&format!("order-{id}"));
        confirms.push((
            id,
            ch.publish(EXCHANGE, "order.created", body, props).await?,
        ));
    }
    for (id, confirm) in confirms {
        match confirm.await {
            Ok(()) => {}
            Err(e) if e.is_retriable() => println!("order {id}: not confirmed ({e}); would retry"),
            Err(e) => return Err(e),
        }
    }
    println!("order service: {ORDERS} orders published and confirmed");
    conn.close().await
}

/// The notification service: manual acks, prefetch 10; a message it cannot
/// handle is rejected without requeue, so it is dead-lettered.
async fn notification_service(url: &str) -> Result<(u32, u32), Error> {
    let conn = Connection::builder()
        .uri(url)
        .name("notification-service")
        .connect()
        .await?;
    let ch = conn.open_channel().await?;
    declare(&ch).await?;
    let mut deliveries = ch
        .consume(QUEUE, ConsumeOptions::default().prefetch(10))
        .await?;
    let (mut sent, mut failed) = (0, 0);
    while sent + failed < ORDERS {
        let Ok(Some(d)) = tokio::time::timeout(Duration::from_secs(10), deliveries.next()).await
        else {
            break;
        };
        let d = d?;
        let body = String::from_utf8_lossy(d.body_ref()).into_owned();
        if body.contains(r#""email":"""#) {
            println!("notification service: cannot notify {body}; dead-lettering");
            d.nack(false).await?;
            failed += 1;
        } else {
            d.ack().await?;
            sent += 1;
        }
    }
    deliveries.cancel().await?;
    conn.close().await?;
    Ok((sent, failed))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let url = std::env::var("AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
    let consumer = tokio::spawn({
        let url = url.clone();
        async move { notification_service(&url).await }
    });
    // Let the consumer declare its queue first.
    tokio::time::sleep(Duration::from_millis(200)).await;
    order_service(&url).await?;
    let (sent, failed) = consumer
        .await
        .map_err(|_| Error::Usage("the notification service panicked"))??;
    println!("notification service: {sent} notified, {failed} dead-lettered");

    // Drain the dead-letter queue, as an operator would.
    let conn = Connection::connect(&url).await?;
    let ch = conn.open_channel().await?;
    let mut dead = 0;
    while let Some(m) = ch.basic_get(DEAD_LETTER_QUEUE, false).await? {
        let reason = m
            .properties()
            .headers
            .and_then(|h| h.get("x-first-death-reason"))
            .map(|v| format!("{v:?}"))
            .unwrap_or_default();
        println!(
            "dead letter: {} ({reason})",
            String::from_utf8_lossy(m.body_ref())
        );
        m.ack().await?;
        dead += 1;
    }
    println!("{dead} messages in {DEAD_LETTER_QUEUE}");
    conn.close().await
}
