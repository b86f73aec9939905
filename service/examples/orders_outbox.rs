//! Effectively-once orders: the order service writes each order change
//! and its event in one PostgreSQL transaction (the transactional
//! outbox); a relay publishes the events in order per order, with
//! confirms; billing writes one invoice line per event, claiming the
//! event's message id in the same transaction (the PostgreSQL inbox). Then
//! an event is sent a second time with the same message id, as a relay
//! that died after publishing and before its commit would send it, and
//! the inbox absorbs it: still one invoice line per event.
//!
//! ```text
//! cargo run -p mq-service --features postgres --example orders_outbox            # Kafka on 127.0.0.1:9092
//! cargo run -p mq-service --features postgres --example orders_outbox -- amqp    # RabbitMQ on 127.0.0.1:5672
//! ```
//!
//! PostgreSQL comes from `POSTGRES_URL` (default: `scripts/stores up`'s,
//! `postgres://mq:mq-secret@127.0.0.1:15432/mq`); the URL is never
//! printed. The tables, topics and queues it makes are named after its
//! process id and dropped at the end.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use mq_client::amqp;
use mq_client::kafka::{Admin, NewTopic};
use mq_service::dedup::PostgresStore;
use mq_service::dedup::tokio_postgres::{self, Client, NoTls};
use mq_service::outbox::{Outbox, OutboxMessage};
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

async fn connect(url: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            eprintln!("PostgreSQL connection ended: {e}");
        }
    });
    Ok(client)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pid = std::process::id();
    let topic = format!("orders-outbox-example-{pid}");
    let url = std::env::var("POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://mq:mq-secret@127.0.0.1:15432/mq".to_owned());
    let on_amqp = std::env::args().nth(1).as_deref() == Some("amqp");
    // Two connections to the broker: billing's, and the relay's (in a
    // real deployment, another process).
    let (bus, relay_bus) = if on_amqp {
        let amqp_url = std::env::var("AMQP_URL")
            .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
        (
            Bus::amqp(amqp::Connection::connect(&amqp_url).await?),
            Bus::amqp(amqp::Connection::connect(&amqp_url).await?),
        )
    } else {
        let bootstrap =
            std::env::var("KAFKA_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".to_owned());
        let admin = Admin::builder(&bootstrap).build().await?;
        admin.create_topics([NewTopic::new(&topic, 4, 1)]).await?;
        (
            Bus::kafka(bootstrap.as_str()),
            Bus::kafka(bootstrap.as_str()),
        )
    };

    // The order service's database: its orders, and the outbox.
    let (orders_t, invoices_t) = (format!("orders_{pid}"), format!("invoices_{pid}"));
    let mut db = connect(&url).await?;
    db.batch_execute(&format!(
        "CREATE TABLE {orders_t} (id text PRIMARY KEY, status text NOT NULL, amount bigint NOT NULL); \
         CREATE TABLE {invoices_t} (order_id text NOT NULL, status text NOT NULL, \
         amount bigint NOT NULL, message_id text NOT NULL)"
    ))
    .await?;
    let outbox = Outbox::with_table(&format!("outbox_{pid}"))?;
    outbox.create_tables(&db).await?;
    // Billing's inbox: the message ids it has processed.
    let inbox = Arc::new(PostgresStore::connect_with_table(&url, &format!("inbox_{pid}")).await?);

    // Billing: one invoice line per event, exactly once, with the inbox
    // claim in the same transaction. A duplicate finds the id claimed.
    let (billed, absorbed) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let billing_db = Arc::new(tokio::sync::Mutex::new(connect(&url).await?));
    let billing = bus
        .subscriber::<OrderEvent, Json>(&topic, "billing")
        .concurrency(8)
        .ordered_by_key()
        .retry(Backoff::exponential(Duration::from_millis(100), 2.0, Duration::from_secs(2)).attempts(5))
        .dead_letter(&format!("{topic}.dead"))
        .start({
            let (billed, absorbed, inbox) = (billed.clone(), absorbed.clone(), inbox.clone());
            let (billing_db, invoices_t) = (billing_db.clone(), invoices_t.clone());
            move |msg: Message<OrderEvent>| {
                let (billed, absorbed, inbox) = (billed.clone(), absorbed.clone(), inbox.clone());
                let (billing_db, invoices_t) = (billing_db.clone(), invoices_t.clone());
                async move {
                    let id = msg.message_id().unwrap_or_default().to_owned();
                    let e = msg.payload();
                    let mut client = billing_db.lock().await;
                    let tx = client.transaction().await?;
                    let new = inbox
                        .claim_in(&tx, &format!("billing:{id}"), Duration::from_secs(7 * 86_400))
                        .await
                        .map_err(HandlerError::retriable)?;
                    if new {
                        tx.execute(
                            &format!("INSERT INTO {invoices_t} VALUES ($1, $2, $3, $4)"),
                            &[&e.order_id, &e.status, &e.amount, &id],
                        )
                        .await?;
                    }
                    tx.commit().await?;
                    if new {
                        billed.fetch_add(1, Ordering::SeqCst);
                    } else {
                        absorbed.fetch_add(1, Ordering::SeqCst);
                        println!(
                            "billing service: {} {} (message id {id}) is a duplicate; the inbox absorbed it",
                            e.order_id, e.status
                        );
                    }
                    Ok::<(), HandlerError>(())
                }
            }
        })
        .await?;

    // The relay: publishes the outbox in order per order id, confirmed,
    // and deletes what was confirmed.
    let relay = outbox.relay(&url, relay_bus.clone()).start().await?;

    // The order service: each change of an order and its event in one
    // transaction; the event's aggregate key is the order id.
    let started = Instant::now();
    let mut first_paid = None;
    for stage in STAGES {
        for n in 0..ORDERS {
            let event = OrderEvent {
                order_id: format!("order-{n:04}"),
                status: stage.to_owned(),
                amount: i64::from(n) * 100,
            };
            let tx = db.transaction().await?;
            tx.execute(
                &format!(
                    "INSERT INTO {orders_t} VALUES ($1, $2, $3) \
                     ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status"
                ),
                &[&event.order_id, &event.status, &event.amount],
            )
            .await?;
            let message = OutboxMessage::json(&topic, &event.order_id, &event)?;
            let written = outbox.enqueue(&tx, message).await?;
            tx.commit().await?;
            if n == 1 && stage == "paid" {
                first_paid = Some(written.message_id);
            }
        }
    }
    println!(
        "order service: {} order changes committed, each with its event in the outbox",
        ORDERS * 3
    );
    while billed.load(Ordering::SeqCst) < ORDERS * 3 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "relay: {} events published with confirms, in order per order id, and billed ({} ms)",
        ORDERS * 3,
        started.elapsed().as_millis()
    );

    // A relay that died after its publish was confirmed, before deleting
    // the row, sends the event again with the same message id: here, the
    // same row written again.
    let again = first_paid.ok_or("no event written")?;
    let event = OrderEvent {
        order_id: "order-0001".into(),
        status: "paid".into(),
        amount: 100,
    };
    outbox
        .enqueue(
            &db,
            OutboxMessage::json(&topic, &event.order_id, &event)?.message_id(&again),
        )
        .await?;
    println!(
        "relay: order-0001 paid sent again with message id {again}, as after a crash before its commit"
    );
    while absorbed.load(Ordering::SeqCst) < 1 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    relay.shutdown().await?;
    billing.shutdown().await?;

    let lines: i64 = db
        .query_one(&format!("SELECT count(*) FROM {invoices_t}"), &[])
        .await?
        .get(0);
    let paid: i64 = db
        .query_one(
            &format!("SELECT count(*) FROM {invoices_t} WHERE order_id = 'order-0001' AND status = 'paid'"),
            &[],
        )
        .await?
        .get(0);
    println!(
        "billing service: {} events billed, {} duplicate absorbed by the inbox; {lines} invoice lines, {paid} for order-0001 paid; outbox rows left: {}",
        billed.load(Ordering::SeqCst),
        absorbed.load(Ordering::SeqCst),
        outbox.pending(&db).await?
    );

    // Drop what the example made (a service would keep it).
    let t = outbox.table();
    db.batch_execute(&format!(
        "DROP TABLE {orders_t}; DROP TABLE {invoices_t}; DROP TABLE {t}; DROP TABLE {t}_seq; DROP TABLE {}",
        inbox.table()
    ))
    .await?;
    let dead = format!("{topic}.dead");
    match bus.amqp_connection() {
        Some(conn) => {
            let ch = conn.open_channel().await?;
            for queue in [format!("{topic}.billing"), dead.clone()] {
                ch.queue_delete(&queue, amqp::QueueDeleteOptions::default())
                    .await?;
            }
            for exchange in [topic.as_str(), dead.as_str()] {
                ch.exchange_delete(exchange, false).await?;
            }
        }
        None => {
            let bootstrap =
                std::env::var("KAFKA_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".to_owned());
            let admin = Admin::builder(&bootstrap).build().await?;
            admin.delete_topics([topic.clone(), dead]).await?;
        }
    }
    relay_bus.close().await?;
    bus.close().await?;
    if lines != i64::from(ORDERS * 3) || paid != 1 {
        return Err("not exactly one invoice line per event".into());
    }
    Ok(())
}
