//! Deduplication scenarios, each run for every store by
//! `tests/dedup_stores.rs`, against the real RabbitMQ broker (and the real
//! Redis and PostgreSQL servers behind the stores).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mq_client::StreamExt;
use mq_client::amqp::{self, ConsumeOptions};
use mq_service::dead_letter as dl;
use mq_service::dedup::{DedupStore, Deduplication};
use mq_service::{Backoff, Bus, HandlerError, Json, Message, SubscriberBuilder};
use mq_tests::endpoints;

use super::scenarios::Event;
use super::{Broker, Env, within};

/// A store under test, shared by the subscribers of one scenario.
pub type Store = Arc<dyn DedupStore>;

/// Handler effects per business key.
pub type Effects = Arc<Mutex<HashMap<String, u32>>>;

/// The business key: the order number in the payload.
pub fn business_key(m: &Message<Event>) -> Option<String> {
    Some(format!("order-{}", m.payload().seq))
}

pub async fn wait_until(secs: u64, what: &str, mut done: impl FnMut() -> bool) {
    within(secs, what, async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

fn total(effects: &Effects) -> u32 {
    effects.lock().unwrap().values().sum()
}

/// A handler that records one effect per call, after `delay`.
fn recording(
    effects: Effects,
    delay: Duration,
) -> impl Fn(Message<Event>) -> futures_util::future::BoxFuture<'static, Result<(), HandlerError>>
+ Send
+ Sync
+ 'static {
    move |msg: Message<Event>| {
        let effects = effects.clone();
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            let key = business_key(&msg).unwrap_or_default();
            *effects.lock().unwrap().entry(key).or_default() += 1;
            Ok(())
        })
    }
}

fn subscriber(bus: &Bus, env: &Env) -> SubscriberBuilder<Event, Json> {
    bus.subscriber::<Event, Json>(&env.source, &env.group)
        .dead_letter(&env.dead)
        .retry(Backoff::fixed(Duration::from_millis(100)).attempts(3))
}

fn event(seq: u64) -> Event {
    Event {
        key: format!("k{seq}"),
        seq,
        note: String::new(),
    }
}

async fn amqp_bus() -> Bus {
    let conn = amqp::Connection::connect(&endpoints::amqp_url())
        .await
        .expect("connect");
    Bus::amqp(conn)
}

/// The same business key delivered three times: processed, then
/// republished, and republished again and redelivered after a nack; one
/// effect. `claim`: claim mode, else mark after success.
pub async fn duplicates_absorbed(store: Store, claim: bool) {
    let env = Env::new(Broker::Amqp, "dd-dup", 1).await;
    let dedup = || {
        let d = if claim {
            Deduplication::claim(store.clone(), Duration::from_secs(5))
        } else {
            Deduplication::mark_after_success(store.clone())
        };
        d.key(business_key)
    };
    let effects: Effects = Arc::default();
    let publisher = env.bus.publisher::<Event, Json>(&env.source);
    publisher
        .publish(&event(1))
        .key("k1")
        .await
        .expect("publish");
    let sub = subscriber(&env.bus, &env)
        .deduplicate(dedup())
        .start(recording(effects.clone(), Duration::ZERO))
        .await
        .expect("start");
    wait_until(30, "the first delivery", || total(&effects) == 1).await;
    sub.shutdown().await.expect("shutdown");

    // Republished (a new message id, the same order).
    publisher
        .publish(&event(1))
        .key("k1")
        .await
        .expect("publish");
    // Nacked by another consumer and requeued: redelivered.
    {
        let conn = amqp::Connection::connect(&endpoints::amqp_url())
            .await
            .expect("connect");
        let ch = conn.open_channel().await.expect("channel");
        let mut deliveries = ch
            .consume(&env.queue(), ConsumeOptions::default().prefetch(1))
            .await
            .expect("consume");
        let d = within(30, "the raw delivery", deliveries.next())
            .await
            .expect("a delivery")
            .expect("delivery");
        d.nack(true).await.expect("nack");
        drop(deliveries);
        let _ = ch.close().await;
        let _ = conn.close().await;
    }
    publisher
        .publish(&event(1))
        .key("k1")
        .await
        .expect("publish");
    let sub = subscriber(&env.bus, &env)
        .deduplicate(dedup())
        .start(recording(effects.clone(), Duration::ZERO))
        .await
        .expect("start");
    within(30, "the duplicates settled", async {
        while env.queue_depth().await > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    sub.shutdown().await.expect("shutdown");
    assert_eq!(
        *effects.lock().unwrap(),
        HashMap::from([("order-1".to_owned(), 1)]),
        "one effect for three deliveries"
    );
    assert_eq!(env.queue_depth().await, 0, "the duplicates were settled");
    env.cleanup().await;
}

/// Two subscribers (two connections) on one queue, each key published
/// three times, handlers slower than the lease (so it must be renewed):
/// one effect per key.
pub async fn competing_consumers(store: Store) {
    const KEYS: u64 = 12;
    let env = Env::new(Broker::Amqp, "dd-compete", 1).await;
    let publisher = env.bus.publisher::<Event, Json>(&env.source);
    for copy in 0..3 {
        for k in 0..KEYS {
            publisher
                .publish(&event(k))
                .key(format!("c{copy}-{k}"))
                .await
                .expect("publish");
        }
    }
    let effects: Effects = Arc::default();
    let lease = Duration::from_millis(600);
    let mut subs = Vec::new();
    let mut buses = Vec::new();
    for _ in 0..2 {
        let bus = amqp_bus().await;
        let sub = subscriber(&bus, &env)
            .unordered()
            .concurrency(8)
            .deduplicate(Deduplication::claim(store.clone(), lease).key(business_key))
            .start(recording(effects.clone(), Duration::from_millis(1000)))
            .await
            .expect("start");
        subs.push(sub);
        buses.push(bus);
    }
    wait_until(60, "every key", || {
        effects.lock().unwrap().len() == KEYS as usize
    })
    .await;
    within(60, "every copy settled", async {
        while env.queue_depth().await > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    for sub in subs {
        sub.shutdown().await.expect("shutdown");
    }
    for bus in buses {
        let _ = bus.close().await;
    }
    let effects = effects.lock().unwrap().clone();
    let repeated: Vec<_> = effects.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        repeated.is_empty(),
        "keys processed more than once: {repeated:?}"
    );
    assert_eq!(effects.len(), KEYS as usize);
    assert_eq!(env.queue_depth().await, 0);
    env.cleanup().await;
}

/// A worker that claimed a key is aborted mid-handler; the redelivery,
/// on another connection, waits for the lease to run out, then claims it
/// and processes it, once.
pub async fn aborted_claim_taken_over(store: Store) {
    let env = Env::new(Broker::Amqp, "dd-takeover", 1).await;
    let lease = Duration::from_secs(2);
    let started: Arc<Mutex<Option<Instant>>> = Arc::default();
    let bus_a = amqp_bus().await;
    let first = {
        let started = started.clone();
        subscriber(&bus_a, &env)
            .deduplicate(Deduplication::claim(store.clone(), lease).key(business_key))
            .handler_timeout(Duration::from_secs(120))
            .start(move |_m: Message<Event>| {
                let started = started.clone();
                async move {
                    *started.lock().unwrap() = Some(Instant::now());
                    // Stuck: it never gets to its effect.
                    tokio::time::sleep(Duration::from_secs(120)).await;
                    Ok::<(), HandlerError>(())
                }
            })
            .await
            .expect("start")
    };
    let publisher = env.bus.publisher::<Event, Json>(&env.source);
    publisher
        .publish(&event(7))
        .key("k7")
        .await
        .expect("publish");
    wait_until(30, "the first handler started", || {
        started.lock().unwrap().is_some()
    })
    .await;
    let claimed_at = started.lock().unwrap().expect("started");
    first.abort();
    let _ = bus_a.close().await;

    let effects: Effects = Arc::default();
    let taken_at: Arc<Mutex<Option<Instant>>> = Arc::default();
    let bus_b = amqp_bus().await;
    let second = {
        let (effects, taken_at) = (effects.clone(), taken_at.clone());
        subscriber(&bus_b, &env)
            .deduplicate(Deduplication::claim(store.clone(), lease).key(business_key))
            .start(move |m: Message<Event>| {
                let (effects, taken_at) = (effects.clone(), taken_at.clone());
                async move {
                    taken_at.lock().unwrap().get_or_insert_with(Instant::now);
                    let key = business_key(&m).unwrap_or_default();
                    *effects.lock().unwrap().entry(key).or_default() += 1;
                    Ok::<(), HandlerError>(())
                }
            })
            .await
            .expect("start")
    };
    wait_until(30, "the takeover", || total(&effects) == 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    second.shutdown().await.expect("shutdown");
    let _ = bus_b.close().await;
    let taken = taken_at.lock().unwrap().expect("taken over");
    assert!(
        taken.duration_since(claimed_at) >= lease - Duration::from_millis(100),
        "taken over after {:?}, before the {lease:?} lease ran out",
        taken.duration_since(claimed_at)
    );
    assert_eq!(total(&effects), 1, "processed once");
    assert_eq!(env.queue_depth().await, 0, "settled");
    env.cleanup().await;
}

/// A key longer than the store takes: dead-lettered at once as permanent,
/// saying why; the handler is never called.
pub async fn key_too_long(store: Store) {
    let env = Env::new(Broker::Amqp, "dd-longkey", 1).await;
    let calls: Effects = Arc::default();
    let sub = subscriber(&env.bus, &env)
        .deduplicate(
            Deduplication::mark_after_success(store.clone())
                .key(|m: &Message<Event>| Some("x".repeat(5000 + m.payload().seq as usize))),
        )
        .start(recording(calls.clone(), Duration::ZERO))
        .await
        .expect("start");
    let publisher = env.bus.publisher::<Event, Json>(&env.source);
    publisher
        .publish(&event(1))
        .key("k1")
        .await
        .expect("publish");
    let dead = env.dead_letters(1, 30).await;
    sub.shutdown().await.expect("shutdown");
    assert_eq!(dead.len(), 1);
    let h = &dead[0].headers;
    assert_eq!(h.get(dl::ERROR_TYPE).map(String::as_str), Some("dedup_key"));
    assert_eq!(h.get(dl::REASON).map(String::as_str), Some("permanent"));
    let error = h.get(dl::ERROR).cloned().unwrap_or_default();
    assert!(
        error.starts_with("dedup_key: the deduplication key is ")
            && error.contains(" bytes, over the store's limit of "),
        "{error}"
    );
    assert_eq!(total(&calls), 0, "the handler was not called");
    env.cleanup().await;
}

/// How a store behind the fault proxy misbehaves.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// It takes the requests and never answers.
    Stalled,
    /// It answers, after a second.
    Slow,
    /// Its connections are cut and new ones refused.
    Down,
}

/// The store does not answer in time: each attempt fails as a retriable
/// `dedup_store` failure, the retry policy runs out, and the message goes
/// to the dead letters, never to the handler. Once it answers again,
/// messages are processed. `store` goes through `proxy`.
pub async fn store_fault(store: Store, proxy: &mq_tests::proxy::FaultProxy, fault: Fault) {
    let env = Env::new(Broker::Amqp, "dd-fault", 1).await;
    let calls: Effects = Arc::default();
    let sub = subscriber(&env.bus, &env)
        .deduplicate(
            Deduplication::claim(store.clone(), Duration::from_secs(5))
                .key(business_key)
                .store_timeout(Duration::from_millis(300)),
        )
        .start(recording(calls.clone(), Duration::ZERO))
        .await
        .expect("start");
    match fault {
        Fault::Stalled => proxy.stall(true),
        Fault::Slow => proxy.set_latency(Duration::from_secs(1)),
        Fault::Down => {
            proxy.refuse_for(Duration::from_secs(3600));
            proxy.cut_all();
        }
    }
    let publisher = env.bus.publisher::<Event, Json>(&env.source);
    publisher
        .publish(&event(1))
        .key("k1")
        .await
        .expect("publish");
    let dead = env.dead_letters(1, 30).await;
    assert_eq!(dead.len(), 1, "dead-lettered after the attempts");
    let h = &dead[0].headers;
    assert_eq!(
        h.get(dl::ERROR_TYPE).map(String::as_str),
        Some("dedup_store")
    );
    assert_eq!(h.get(dl::REASON).map(String::as_str), Some("exhausted"));
    assert_eq!(h.get(dl::ATTEMPTS).map(String::as_str), Some("3"));
    assert_eq!(total(&calls), 0, "never processed without the store");
    // The store answers again.
    match fault {
        Fault::Stalled => proxy.stall(false),
        Fault::Slow => proxy.set_latency(Duration::ZERO),
        Fault::Down => proxy.refuse_for(Duration::ZERO),
    }
    // Until it does: requests sent while it was slow are still in flight
    // (up to two latencies), and one connection answers in order, so a
    // message published at once could spend its three attempts behind
    // them and be dead-lettered.
    within(30, "the store answers again", async {
        while !matches!(
            tokio::time::timeout(Duration::from_millis(500), store.is_done("probe")).await,
            Ok(Ok(_))
        ) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    publisher
        .publish(&event(2))
        .key("k2")
        .await
        .expect("publish");
    wait_until(30, "processed after recovery", || {
        calls.lock().unwrap().contains_key("order-2")
    })
    .await;
    sub.shutdown().await.expect("shutdown");
    assert_eq!(total(&calls), 1);
    env.cleanup().await;
}

/// The embedded store keeps its keys across a restart (the file closed
/// and opened again), and a key whose TTL ran out is free again.
#[cfg(feature = "redb")]
pub async fn embedded_restart_and_ttl() {
    use mq_service::dedup::EmbeddedStore;
    let path = std::env::temp_dir().join(format!("{}.redb", mq_tests::names::unique("mq-dedup")));
    let env = Env::new(Broker::Amqp, "dd-restart", 1).await;
    let effects: Effects = Arc::default();
    let publisher = env.bus.publisher::<Event, Json>(&env.source);
    let run = |store: EmbeddedStore, seq: u64| {
        let (env, effects, publisher) = (&env, effects.clone(), publisher.clone());
        async move {
            let sub = subscriber(&env.bus, env)
                .deduplicate(
                    Deduplication::mark_after_success(store)
                        .key(business_key)
                        .remember_for(Duration::from_secs(2)),
                )
                .start(recording(effects.clone(), Duration::ZERO))
                .await
                .expect("start");
            publisher
                .publish(&event(seq))
                .key("k")
                .await
                .expect("publish");
            within(30, "settled", async {
                tokio::time::sleep(Duration::from_millis(200)).await;
                while env.queue_depth().await > 0 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
            .await;
            tokio::time::sleep(Duration::from_millis(200)).await;
            sub.shutdown().await.expect("shutdown");
        }
    };
    // Opens the file once the last process's handle is gone.
    let open = || async {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match EmbeddedStore::open(&path) {
                Ok(s) => return s,
                Err(e) if Instant::now() > deadline => panic!("cannot reopen: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    };
    run(open().await, 1).await;
    assert_eq!(total(&effects), 1);
    // "Restart": everything that held the file is gone; open it again.
    run(open().await, 1).await;
    assert_eq!(total(&effects), 1, "the key survived the restart");
    // Past the TTL the key is free: processed again.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let store = open().await;
    run(store, 1).await;
    assert_eq!(
        *effects.lock().unwrap(),
        HashMap::from([("order-1".to_owned(), 2)]),
        "processed again once the TTL ran out"
    );
    env.cleanup().await;
    let _ = std::fs::remove_file(&path);
}
