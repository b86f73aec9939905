//! The deduplication rows: messages per second through the subscriber's
//! pipeline with 16 workers, a no-op handler, on RabbitMQ, with no
//! deduplication and with each store, in one run.
//!
//! Every message has its own message id (the default deduplication key),
//! new in each iteration, so each one is processed: the rows measure what
//! the dedup step costs, claim mode (a claim before the handler and a mark
//! after it: two store calls a message; the 30 s lease is never renewed
//! by a no-op handler). `memory` and `none` always run; `redb`, `redis`
//! and `postgres` need `--features stores` (Redis at `REDIS_URL`,
//! PostgreSQL at `POSTGRES_URL`, as `scripts/stores up` prints them; the
//! redb file in the temporary directory, the PostgreSQL table dropped at
//! the end). `SERVICE_BENCH_DEDUP_ORDER=reverse` runs the rows in reverse
//! order, to alternate between runs.

use mq_service::dedup::{DedupStore, Deduplication, MemoryStore};

use super::*;

/// Messages timed per iteration, after `WARM / 4` untimed ones.
pub(super) const DEDUP: u64 = 10_000;
const LEASE: Duration = Duration::from_secs(30);

/// One row's store (`None`: no deduplication).
pub(super) type Row = (&'static str, Option<Arc<dyn DedupStore>>);

/// What to clean up after the rows.
#[derive(Default)]
pub(super) struct Cleanup {
    redb: Option<std::path::PathBuf>,
    postgres_table: Option<String>,
}

/// The rows, in run order.
pub(super) async fn rows() -> (Vec<Row>, Cleanup) {
    #[cfg_attr(not(feature = "stores"), allow(unused_mut))]
    let mut cleanup = Cleanup::default();
    let mut rows: Vec<Row> = vec![
        ("none", None),
        ("memory", Some(Arc::new(MemoryStore::new(1_000_000)))),
    ];
    #[cfg(feature = "stores")]
    {
        use mq_service::dedup::{EmbeddedStore, PostgresStore, RedisStore};
        let path =
            std::env::temp_dir().join(format!("{}.redb", mq_tests::names::unique("bench-dedup")));
        rows.push((
            "redb",
            Some(Arc::new(EmbeddedStore::open(&path).expect("redb"))),
        ));
        cleanup.redb = Some(path);
        let redis = std::env::var("REDIS_URL")
            .unwrap_or_else(|_| "redis://:mq-secret@127.0.0.1:16379/0".into());
        rows.push((
            "redis",
            Some(Arc::new(
                RedisStore::connect(&redis).await.expect("connect to Redis"),
            )),
        ));
        let table = mq_tests::names::unique("bench_dedup").replace(['-', '.'], "_");
        rows.push((
            "postgres",
            Some(Arc::new(
                PostgresStore::connect_with_table(&postgres_url(), &table)
                    .await
                    .expect("connect to PostgreSQL"),
            )),
        ));
        cleanup.postgres_table = Some(table);
    }
    #[cfg(not(feature = "stores"))]
    println!("REPORT dedup16: the redb, redis and postgres rows need --features stores");
    if std::env::var("SERVICE_BENCH_DEDUP_ORDER").is_ok_and(|v| v == "reverse") {
        rows.reverse();
    }
    (rows, cleanup)
}

#[cfg(feature = "stores")]
fn postgres_url() -> String {
    std::env::var("POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://mq:mq-secret@127.0.0.1:15432/mq".into())
}

impl Cleanup {
    pub(super) async fn run(self) {
        if let Some(path) = self.redb {
            let _ = std::fs::remove_file(path);
        }
        #[cfg(feature = "stores")]
        if let Some(table) = self.postgres_table {
            use mq_service::dedup::tokio_postgres::{self, NoTls};
            if let Ok((client, conn)) = tokio_postgres::connect(&postgres_url(), NoTls).await {
                tokio::spawn(conn);
                let _ = client.batch_execute(&format!("DROP TABLE {table}")).await;
            }
        }
        #[cfg(not(feature = "stores"))]
        let _ = self.postgres_table;
    }
}

/// One iteration: fill the queue with new ids, then a subscriber with
/// 16 workers (and the store, if any) until the probe has seen them all.
pub(super) async fn iteration(
    rabbit: &Rabbit,
    keys: &[String],
    store: Option<&Arc<dyn DedupStore>>,
) -> Sample {
    let (x, q) = &rabbit.slow;
    let ids = mq_tests::names::unique("m");
    rabbit
        .fill_with_ids(x, q, keys, WARM / 4 + DEDUP, Some(&ids))
        .await;
    let probe = Probe::new(WARM / 4, DEDUP);
    let mut b = rabbit
        .bus
        .subscriber::<Order, Json>(x, "bench")
        .queue(q)
        .dead_letter(&rabbit.dead)
        .concurrency(WORKERS)
        .max_in_flight(u32::from(PREFETCH))
        .ordered_by_key();
    if let Some(store) = store {
        b = b.deduplicate(Deduplication::claim(store.clone(), LEASE));
    }
    let running = b
        .start(handler(&probe, Wait::None))
        .await
        .expect("subscriber");
    let sample = probe.finished().await;
    running.shutdown().await.expect("shutdown");
    sample
}

/// `REPORT dedup16` lines: each store's rate against no deduplication.
pub(super) fn report_dedup(rows: &[(String, f64, f64)]) {
    let find = |name: &str| rows.iter().find(|r| r.0 == name).map(|r| (r.1, r.2));
    let Some((none, none_cpu)) = find("dedup16/amqp/none") else {
        return;
    };
    for store in ["memory", "redb", "redis", "postgres"] {
        if let Some((rate, cpu)) = find(&format!("dedup16/amqp/{store}")) {
            println!(
                "REPORT dedup16/amqp/{store}: {rate:.0} msg/s = {:.0}% of no deduplication \
                 ({none:.0}); client CPU {cpu:.2} vs {none_cpu:.2} µs/msg",
                rate * 100.0 / none
            );
        }
    }
}
