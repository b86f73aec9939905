//! The transactional outbox end to end: concurrent writers, two relays
//! (one killed mid-batch), a subscriber with the PostgreSQL inbox.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mq_service::dedup::PostgresStore;
use mq_service::dedup::tokio_postgres::{self, NoTls};
use mq_service::outbox::{Outbox, OutboxMessage, SEQ_HEADER};
use mq_service::{Backoff, Bus, HandlerError, Json, KafkaConfig, Message};
use mq_tests::{endpoints, names};
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use super::{Broker, Env, within};

/// The event the order service writes to its outbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderPlaced {
    pub order_id: String,
    pub customer: String,
}

pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .expect("connect to PostgreSQL");
    tokio::spawn(conn);
    client
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A bus of its own (another process, as far as the broker can tell).
async fn own_bus(broker: Broker) -> Bus {
    match broker {
        Broker::Amqp => Bus::amqp(
            mq_client::amqp::Connection::connect(&endpoints::amqp_url())
                .await
                .expect("connect"),
        ),
        Broker::Kafka => Bus::kafka(KafkaConfig::new(endpoints::kafka_bootstrap())),
    }
}

/// What the subscriber saw, per customer (the aggregate).
#[derive(Default)]
struct Seen {
    /// Seqs of first deliveries (the inbox claimed them), in handling order.
    firsts: HashMap<String, Vec<i64>>,
    /// Message id -> seq, of every delivery.
    ids: HashMap<String, i64>,
    /// Deliveries the inbox found done already.
    duplicates: u64,
}

/// `orders` orders from `writers` concurrent writers, each order a
/// transaction with the order row and its outbox row; two relays publish
/// them, and one of them is aborted mid-run, mid-batch: after its batch's
/// publishes were confirmed, before its commit (held there by row locks
/// the test takes, and seen waiting in `pg_stat_activity`). A subscriber, 16 workers ordered by key, claims each
/// message id in the PostgreSQL inbox in the transaction of its effect
/// row. Then: every outbox row reached the broker, each customer's events
/// were first handled in `seq` order with no gap, every order has exactly
/// one effect row, repeats were absorbed by the inbox and are fewer than
/// the killed relay's batch, and the outbox is empty.
pub async fn orders_through_the_outbox(url: &str, broker: Broker, orders: u64, writers: u64) {
    const CUSTOMERS: u64 = 100;
    const BATCH: u32 = 50;
    const PER_AGGREGATE: u32 = 8;
    let env = Env::new(broker, "outbox", 8).await;
    let tag = names::unique("ob").replace(['-', '.'], "_");
    let outbox = Outbox::with_table(&format!("{tag}_outbox")).expect("table name");
    let (orders_t, effects_t) = (format!("{tag}_orders"), format!("{tag}_effects"));
    let admin = connect(url).await;
    outbox.create_tables(&admin).await.expect("outbox tables");
    admin
        .batch_execute(&format!(
            "CREATE TABLE {orders_t} (id text PRIMARY KEY, customer text NOT NULL); \
             CREATE TABLE {effects_t} (order_id text NOT NULL, customer text NOT NULL, \
             seq bigint NOT NULL)"
        ))
        .await
        .expect("tables");
    let inbox = Arc::new(
        PostgresStore::connect_with_table(url, &format!("{tag}_inbox"))
            .await
            .expect("inbox"),
    );

    // The billing service: the inbox claim and the effect row in one
    // transaction, on one of 16 connections.
    let pool: Arc<Vec<tokio::sync::Mutex<tokio_postgres::Client>>> = Arc::new({
        let mut v = Vec::new();
        for _ in 0..16 {
            v.push(tokio::sync::Mutex::new(connect(url).await));
        }
        v
    });
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let next = Arc::new(AtomicU64::new(0));
    let group = env.group.clone();
    let billing = env
        .bus
        .subscriber::<OrderPlaced, Json>(&env.source, &env.group)
        .dead_letter(&env.dead)
        .concurrency(16)
        .ordered_by_key()
        .retry(Backoff::fixed(Duration::from_millis(50)).attempts(20))
        .start({
            let (pool, seen, inbox, effects_t) =
                (pool.clone(), seen.clone(), inbox.clone(), effects_t.clone());
            move |m: Message<OrderPlaced>| {
                let (pool, seen, inbox, effects_t) =
                    (pool.clone(), seen.clone(), inbox.clone(), effects_t.clone());
                let slot = next.fetch_add(1, Ordering::Relaxed) as usize % pool.len();
                let group = group.clone();
                async move {
                    let id = m.message_id().expect("a message id").to_owned();
                    let seq: i64 = m
                        .headers()
                        .get_str(SEQ_HEADER)
                        .and_then(|s| s.parse().ok())
                        .expect("the seq header");
                    let order = m.payload();
                    let mut client = pool[slot].lock().await;
                    let tx = client.transaction().await?;
                    let first = inbox
                        .claim_in(&tx, &format!("{group}:{id}"), Duration::from_secs(3600))
                        .await
                        .map_err(HandlerError::retriable)?;
                    if first {
                        tx.execute(
                            &format!("INSERT INTO {effects_t} VALUES ($1, $2, $3)"),
                            &[&order.order_id, &order.customer, &seq],
                        )
                        .await?;
                    }
                    tx.commit().await?;
                    let mut s = seen.lock().unwrap();
                    if first {
                        s.firsts
                            .entry(order.customer.clone())
                            .or_default()
                            .push(seq);
                    } else {
                        s.duplicates += 1;
                    }
                    s.ids.insert(id, seq);
                    Ok::<(), HandlerError>(())
                }
            }
        })
        .await
        .expect("start billing");

    // Two relays, each on a bus of its own; relay A's sessions are named
    // so the test can see where it is.
    let named = |name: &str| {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}application_name={name}")
    };
    let relay_a_name = format!("{tag}_relay_a");
    let relay_a = outbox
        .relay(&named(&relay_a_name), own_bus(broker).await)
        .batch_size(BATCH)
        .per_aggregate(PER_AGGREGATE)
        .poll_interval(Duration::from_millis(20))
        .start()
        .await
        .expect("relay a");
    let relay_b = outbox
        .relay(url, own_bus(broker).await)
        .batch_size(BATCH)
        .per_aggregate(PER_AGGREGATE)
        .poll_interval(Duration::from_millis(20))
        .start()
        .await
        .expect("relay b");

    // The order service: 4 writers, each order a transaction. Customers
    // are spread at random, so writers contend on the same aggregates; a
    // customer places a run of 8 orders at a time (consecutive order
    // numbers, across the writers), so an aggregate often holds rows
    // behind its head even while the relays keep up, which the kill below
    // needs (a CI run once found none for 240 s with one order per
    // customer at a time).
    let written: Arc<Mutex<HashMap<String, (String, i64)>>> = Arc::default();
    let mut tasks = JoinSet::new();
    for w in 0..writers {
        let (outbox, orders_t, written, url) = (
            outbox.clone(),
            orders_t.clone(),
            written.clone(),
            url.to_owned(),
        );
        let source = env.source.clone();
        tasks.spawn(async move {
            let mut client = connect(&url).await;
            let insert = client
                .prepare(&format!("INSERT INTO {orders_t} VALUES ($1, $2)"))
                .await
                .expect("prepare");
            for i in (w..orders).step_by(writers as usize) {
                let order_id = format!("order-{i:06}");
                let customer = format!("c{:03}", splitmix(i / 8) % CUSTOMERS);
                let tx = client.transaction().await.expect("begin");
                tx.execute(&insert, &[&order_id, &customer])
                    .await
                    .expect("order row");
                let event = OrderPlaced {
                    order_id: order_id.clone(),
                    customer: customer.clone(),
                };
                let msg = OutboxMessage::json(&source, &customer, &event).expect("json");
                let e = outbox.enqueue(&tx, msg).await.expect("enqueue");
                tx.commit().await.expect("commit");
                written
                    .lock()
                    .unwrap()
                    .insert(e.message_id, (customer, e.seq));
            }
        });
    }

    // Kill relay A in the worst window: every row of its batch published
    // and confirmed, its commit not done. The test holds row locks on
    // rows that are not heads (relays never lock those), so a relay's
    // DELETE of its confirmed rows waits; once relay A's session waits
    // there, A is aborted and the locks let go.
    let probe = connect(url).await;
    // Another session: backend states are read once per transaction.
    let watch = connect(url).await;
    let t = outbox.table().to_owned();
    let killed = within(240, "relay A blocked before its commit", async {
        // Mid-run: a fifth of the orders delivered first.
        while (seen.lock().unwrap().ids.len() as u64) < orders / 5 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        loop {
            probe.batch_execute("BEGIN").await.expect("begin");
            probe
                .query(
                    &format!(
                        "SELECT o.id FROM {t} o WHERE EXISTS (SELECT 1 FROM {t} p \
                     WHERE p.aggregate = o.aggregate AND p.seq < o.seq) \
                     FOR UPDATE SKIP LOCKED"
                    ),
                    &[],
                )
                .await
                .expect("lock rows behind the heads");
            // Half a second per set of locks: relay A reaches its DELETE
            // within tens of milliseconds of taking a locked aggregate, and
            // more, shorter tries catch it sooner.
            for _ in 0..50 {
                let rows = watch
                    .query(
                        "SELECT 1 FROM pg_stat_activity WHERE application_name = $1 \
                         AND wait_event_type = 'Lock' AND query LIKE 'DELETE%'",
                        &[&relay_a_name],
                    )
                    .await
                    .expect("pg_stat_activity");
                if !rows.is_empty() {
                    return seen.lock().unwrap().ids.len();
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            // Relay A's batch had no rows behind its heads: again.
            probe.batch_execute("ROLLBACK").await.expect("rollback");
        }
    })
    .await;
    relay_a.abort();
    probe
        .batch_execute("ROLLBACK")
        .await
        .expect("let the rows go");
    println!("outbox: relay A aborted before its commit, after {killed} deliveries");

    while let Some(r) = tasks.join_next().await {
        r.expect("writer");
    }
    let written = Arc::try_unwrap(written)
        .expect("writers done")
        .into_inner()
        .unwrap();
    assert_eq!(written.len() as u64, orders, "every order written");

    // Relay B publishes the rest, the killed batch's rows again included.
    within(300, "every order billed and the outbox empty", async {
        loop {
            let billed = seen
                .lock()
                .unwrap()
                .firsts
                .values()
                .map(Vec::len)
                .sum::<usize>();
            if billed as u64 >= orders && outbox.pending(&admin).await.expect("pending") == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    // Late repeats, if any, arrive and are absorbed.
    tokio::time::sleep(Duration::from_secs(1)).await;
    relay_b.shutdown().await.expect("relay b");
    billing.shutdown().await.expect("billing");

    let seen = std::mem::take(&mut *seen.lock().unwrap());
    // Every outbox row reached the broker, with its seq.
    let received: HashSet<&String> = seen.ids.keys().collect();
    let missing: Vec<&String> = written
        .keys()
        .filter(|id| !received.contains(id))
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "outbox rows never delivered: {missing:?}..."
    );
    assert_eq!(
        seen.ids.len(),
        written.len(),
        "no message the outbox did not hold"
    );
    for (id, (_, seq)) in &written {
        assert_eq!(seen.ids[id], *seq, "{id}: the seq it was written with");
    }
    // Per customer, first deliveries in seq order, none missing.
    let mut per_customer: BTreeMap<&str, i64> = BTreeMap::new();
    for (customer, _) in written.values() {
        *per_customer.entry(customer).or_default() += 1;
    }
    for (customer, n) in &per_customer {
        let firsts = seen.firsts.get(*customer).map(Vec::as_slice).unwrap_or(&[]);
        let expected: Vec<i64> = (1..=*n).collect();
        assert_eq!(
            firsts,
            expected.as_slice(),
            "{customer}: events out of order"
        );
    }
    // Exactly one effect per order, in the database.
    let effects = admin
        .query(
            &format!(
                "SELECT o.id, count(e.order_id) FROM {orders_t} o \
                 LEFT JOIN {effects_t} e ON e.order_id = o.id GROUP BY o.id"
            ),
            &[],
        )
        .await
        .expect("effects");
    assert_eq!(effects.len() as u64, orders, "every order row committed");
    let wrong: Vec<(String, i64)> = effects
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1)))
        .filter(|(_, n)| *n != 1)
        .take(5)
        .collect();
    assert!(
        wrong.is_empty(),
        "orders without exactly one effect: {wrong:?}"
    );
    let total: i64 = admin
        .query_one(&format!("SELECT count(*) FROM {effects_t}"), &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(total as u64, orders, "no effect beyond one per order");
    // Repeats: the killed relay's batch, absorbed by the inbox.
    println!(
        "outbox: {} deliveries of {orders} orders; {} repeats absorbed by the inbox",
        orders + seen.duplicates,
        seen.duplicates
    );
    assert!(
        seen.duplicates >= 1,
        "the killed relay's confirmed rows were published again"
    );
    assert!(
        seen.duplicates <= u64::from(BATCH * PER_AGGREGATE),
        "{} repeats: more than the killed relay's batch",
        seen.duplicates
    );
    assert_eq!(outbox.pending(&admin).await.expect("pending"), 0);
    assert!(
        env.dead_letters(0, 1).await.is_empty(),
        "nothing dead-lettered"
    );

    let t = outbox.table();
    admin
        .batch_execute(&format!(
            "DROP TABLE {t}; DROP TABLE {t}_seq; DROP TABLE {orders_t}; \
             DROP TABLE {effects_t}; DROP TABLE {}",
            inbox.table()
        ))
        .await
        .expect("drop");
    env.cleanup().await;
}
