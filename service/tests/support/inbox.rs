//! The PostgreSQL inbox: a handler whose statement and key claim commit in
//! one transaction, aborted at random points, keeps exactly one effect row
//! per business key.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use mq_service::dedup::PostgresStore;
use mq_service::dedup::tokio_postgres::{self, NoTls};
use mq_service::{Backoff, Bus, HandlerError, Json, Message};
use mq_tests::{endpoints, names};

use super::dedup::business_key;
use super::scenarios::Event;
use super::{Broker, Env, within};

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .expect("connect to PostgreSQL");
    tokio::spawn(conn);
    client
}

/// `rounds` times: publish a few keys, each twice; start a subscriber
/// whose handler claims the key and inserts an effect row in one
/// transaction; abort it at a random point once a handler has run its
/// statement (mostly before its commit). Then a last subscriber drains
/// the queue. Every key has exactly one effect row.
pub async fn inbox_exactly_once_under_aborts(url: &str, rounds: u64) {
    const KEYS_PER_ROUND: u64 = 3;
    let env = Env::new(Broker::Amqp, "dd-inbox", 1).await;
    let store = Arc::new(PostgresStore::connect(url).await.expect("store"));
    let effects = names::unique("inbox_effects").replace(['-', '.'], "_");
    let admin = connect(url).await;
    admin
        .batch_execute(&format!("CREATE TABLE {effects} (key text NOT NULL)"))
        .await
        .expect("effects table");
    let publisher = env.bus.publisher::<Event, Json>(&env.source);
    // Bumped by every handler once its statement ran, before its commit.
    let statements = Arc::new(AtomicU64::new(0));
    let seed = splitmix(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    );
    println!("inbox: seed {seed}");
    let handler = |statements: Arc<AtomicU64>| {
        let (store, effects, url) = (store.clone(), effects.clone(), url.to_owned());
        let group = env.group.clone();
        move |m: Message<Event>| {
            // The inbox's keys are the application's: this run's own.
            let key = format!("{group}:{}", business_key(&m).unwrap_or_default());
            let (store, effects, url, statements) = (
                store.clone(),
                effects.clone(),
                url.clone(),
                statements.clone(),
            );
            async move {
                let mut client = connect(&url).await;
                let tx = client.transaction().await?;
                if store
                    .claim_in(&tx, &key, Duration::from_secs(3600))
                    .await
                    .map_err(HandlerError::retriable)?
                {
                    tx.execute(&format!("INSERT INTO {effects} VALUES ($1)"), &[&key])
                        .await?;
                    let n = statements.fetch_add(1, Ordering::SeqCst);
                    // A window between the statement and the commit.
                    tokio::time::sleep(Duration::from_millis(5 + splitmix(n) % 20)).await;
                    tx.commit().await?;
                }
                Ok::<(), HandlerError>(())
            }
        }
    };
    let mut seq = 0;
    for round in 0..rounds {
        for _ in 0..KEYS_PER_ROUND {
            seq += 1;
            for _ in 0..2 {
                let e = Event {
                    key: format!("k{seq}"),
                    seq,
                    note: String::new(),
                };
                publisher
                    .publish(&e)
                    .key(format!("k{seq}"))
                    .await
                    .expect("publish");
            }
        }
        let conn = mq_client::amqp::Connection::connect(&endpoints::amqp_url())
            .await
            .expect("connect");
        let bus = Bus::amqp(conn);
        let before = statements.load(Ordering::SeqCst);
        let sub = bus
            .subscriber::<Event, Json>(&env.source, &env.group)
            .dead_letter(&env.dead)
            .unordered()
            .concurrency(4)
            .retry(Backoff::fixed(Duration::from_millis(50)).attempts(10))
            .start(handler(statements.clone()))
            .await
            .expect("start");
        // Abort once a statement ran, a random 0-25 ms later: mostly
        // between a statement and its commit, sometimes after.
        let waited = tokio::time::timeout(Duration::from_secs(10), async {
            while statements.load(Ordering::SeqCst) == before {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
        tokio::time::sleep(Duration::from_millis(splitmix(seed ^ round) % 25)).await;
        sub.abort();
        let _ = bus.close().await;
        if waited.is_err() {
            // Everything left was a duplicate: nothing to abort in.
            continue;
        }
    }
    // A last subscriber drains what is left.
    let sub = env
        .bus
        .subscriber::<Event, Json>(&env.source, &env.group)
        .dead_letter(&env.dead)
        .unordered()
        .concurrency(4)
        .retry(Backoff::fixed(Duration::from_millis(50)).attempts(10))
        .start(handler(statements.clone()))
        .await
        .expect("start");
    within(120, "the queue drained", async {
        while env.queue_depth().await > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    sub.shutdown().await.expect("shutdown");
    let total = seq;
    let rows = admin
        .query(
            &format!("SELECT key, count(*) FROM {effects} GROUP BY key"),
            &[],
        )
        .await
        .expect("effects");
    let wrong: Vec<(String, i64)> = rows
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1)))
        .filter(|(_, n)| *n != 1)
        .collect();
    assert!(
        wrong.is_empty(),
        "keys without exactly one effect: {wrong:?}"
    );
    assert_eq!(rows.len() as u64, total, "every key has its effect");
    assert!(
        statements.load(Ordering::SeqCst) > total,
        "some transactions were aborted after their statement ({} statements, {total} keys)",
        statements.load(Ordering::SeqCst)
    );
    assert!(
        env.dead_letters(0, 1).await.is_empty(),
        "nothing dead-lettered"
    );
    admin
        .batch_execute(&format!("DROP TABLE {effects}"))
        .await
        .expect("drop");
    env.cleanup().await;
}
