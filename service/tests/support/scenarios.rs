//! The scenarios, each run against both brokers by the test files.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mq_service::dead_letter as dl;
use mq_service::{
    Backoff, HandlerError, Json, Message, Metadata, Publisher, RunningSubscriber, SubscriberBuilder,
};
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use super::metrics_capture::MetricsCapture;
use super::{Broker, Env, within};
use mq_service::metrics as m;

/// The test payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    pub key: String,
    pub seq: u64,
    #[serde(default)]
    pub note: String,
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Publishes `per_key` events for each of `keys` keys, one task per key
/// (so each key's events go out in order), ids `key * per_key + seq`.
pub async fn publish_keyed(publisher: &Publisher<Event, Json>, keys: u64, per_key: u64) {
    let mut tasks = JoinSet::new();
    for k in 0..keys {
        let p = publisher.clone();
        tasks.spawn(async move {
            let key = format!("k{k}");
            for seq in 0..per_key {
                let e = Event {
                    key: key.clone(),
                    seq: k * per_key + seq,
                    note: String::new(),
                };
                p.publish(&e).key(&key).await.expect("publish");
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("publisher task");
    }
}

fn subscriber(env: &Env) -> SubscriberBuilder<Event, Json> {
    env.bus
        .subscriber::<Event, Json>(&env.source, &env.group)
        .dead_letter(&env.dead)
        // A member that crashed is replaced quickly.
        .kafka_consumer(|b| {
            b.session_timeout(Duration::from_secs(6))
                .heartbeat_interval(Duration::from_secs(1))
        })
}

async fn wait_until(secs: u64, what: &str, mut done: impl FnMut() -> bool) {
    within(secs, what, async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

/// 100,000 messages over 1,000 keys, 16 workers, random 0-5 ms handler
/// delays: no key out of order, every message processed.
pub async fn per_key_order(broker: Broker) {
    keyed_order(broker, 1000, 100, 16, |seq| Pause::Sleep(splitmix(seq) % 6)).await;
}

/// One worker, 5,000 messages over 200 keys. Most handlers finish without
/// waiting (the pool runs those in the pull loop), a quarter yield once
/// and one in eight sleeps 1 ms (those go to the pool's runner, and the
/// jobs after them queue there): no key out of order, every message
/// processed, never two handlers at once.
pub async fn per_key_order_one_worker(broker: Broker) {
    keyed_order(broker, 200, 25, 1, |seq| match splitmix(seq) % 8 {
        0 => Pause::Sleep(1),
        1 | 2 => Pause::Yield,
        _ => Pause::None,
    })
    .await;
}

/// What an ordering scenario's handler does before it finishes.
#[derive(Clone, Copy)]
enum Pause {
    None,
    Yield,
    Sleep(u64),
}

async fn keyed_order(
    broker: Broker,
    keys: u64,
    per_key: u64,
    workers: usize,
    pause: fn(u64) -> Pause,
) {
    let total = (keys * per_key) as usize;
    let env = Env::new(broker, "svc-order", 4).await;
    let publisher = env.bus.publisher::<Event, Json>(&env.source);
    let t0 = Instant::now();
    within(600, "publishing", publish_keyed(&publisher, keys, per_key)).await;
    let published_in = t0.elapsed();

    let next: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    let violations = Arc::new(AtomicUsize::new(0));
    let processed = Arc::new(AtomicUsize::new(0));
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let handler = {
        let (next, violations, processed, running, peak) = (
            next.clone(),
            violations.clone(),
            processed.clone(),
            running.clone(),
            peak.clone(),
        );
        move |msg: Message<Event>| {
            let (next, violations, processed, running, peak) = (
                next.clone(),
                violations.clone(),
                processed.clone(),
                running.clone(),
                peak.clone(),
            );
            async move {
                let e = msg.payload();
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                let seq_in_key = e.seq % per_key;
                {
                    let n = next.lock().unwrap();
                    if n.get(&e.key).copied().unwrap_or(0) != seq_in_key {
                        violations.fetch_add(1, Ordering::SeqCst);
                    }
                }
                match pause(e.seq) {
                    Pause::None => {}
                    Pause::Yield => tokio::task::yield_now().await,
                    Pause::Sleep(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
                }
                next.lock().unwrap().insert(e.key.clone(), seq_in_key + 1);
                running.fetch_sub(1, Ordering::SeqCst);
                processed.fetch_add(1, Ordering::SeqCst);
                Ok::<(), HandlerError>(())
            }
        }
    };
    let t1 = Instant::now();
    let sub = subscriber(&env)
        .concurrency(workers)
        .ordered_by_key()
        .start(handler)
        .await
        .expect("start");
    wait_until(900, &format!("processing {total} messages"), || {
        processed.load(Ordering::SeqCst) >= total
    })
    .await;
    let processed_in = t1.elapsed();
    sub.shutdown().await.expect("shutdown");
    println!(
        "{broker:?}: published {total} in {:.1} s, processed in {:.1} s ({:.0} msg/s) by {workers} workers, peak {} handlers at once",
        published_in.as_secs_f64(),
        processed_in.as_secs_f64(),
        total as f64 / processed_in.as_secs_f64(),
        peak.load(Ordering::SeqCst)
    );
    assert_eq!(
        violations.load(Ordering::SeqCst),
        0,
        "a key went out of order"
    );
    assert_eq!(processed.load(Ordering::SeqCst), total, "no message twice");
    let next = next.lock().unwrap().clone();
    assert_eq!(next.len(), keys as usize);
    assert!(
        next.values().all(|&n| n == per_key),
        "every message of every key"
    );
    if workers == 1 {
        assert_eq!(peak.load(Ordering::SeqCst), 1, "one handler at a time");
    } else if broker == Broker::Kafka {
        assert!(
            peak.load(Ordering::SeqCst) > env.partitions as usize,
            "parallel beyond the partition count"
        );
    }
    env.cleanup().await;
}

type Seen = Arc<Mutex<HashMap<u64, u32>>>;

fn counting_handler(
    seen: Seen,
    max_delay_ms: u64,
) -> impl Fn(Message<Event>) -> futures_util::future::BoxFuture<'static, Result<(), HandlerError>>
+ Send
+ Sync
+ Clone
+ 'static {
    move |msg: Message<Event>| {
        let seen = seen.clone();
        Box::pin(async move {
            let id = msg.payload().seq;
            let delay = 1 + splitmix(id ^ 0x5eed) % max_delay_ms.max(1);
            tokio::time::sleep(Duration::from_millis(delay)).await;
            *seen.lock().unwrap().entry(id).or_default() += 1;
            Ok(())
        })
    }
}

fn count(seen: &Seen) -> usize {
    seen.lock().unwrap().len()
}

/// Abort the subscriber mid-run, start another: nothing lost; duplicates
/// counted and printed.
pub async fn at_least_once_across_a_crash(broker: Broker) {
    const KEYS: u64 = 40;
    const PER_KEY: u64 = 100;
    const TOTAL: usize = (KEYS * PER_KEY) as usize;
    let env = Env::new(broker, "svc-crash", 4).await;
    let publisher = env.bus.publisher::<Event, Json>(&env.source);
    within(120, "publishing", publish_keyed(&publisher, KEYS, PER_KEY)).await;
    let seen: Seen = Arc::default();
    // Before the crash, the handlers stall: what is in flight then stays
    // unprocessed through several commit intervals, so a commit that ran
    // ahead of processing would skip it after the restart.
    let stall = Arc::new(AtomicBool::new(false));
    let first = subscriber(&env)
        .concurrency(8)
        .commit_interval(Duration::from_millis(100))
        .start({
            let (count_it, stall) = (counting_handler(seen.clone(), 3), stall.clone());
            move |msg: Message<Event>| {
                let (count_it, stall) = (count_it.clone(), stall.clone());
                async move {
                    if stall.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                    }
                    count_it(msg).await
                }
            }
        })
        .await
        .expect("start");
    wait_until(120, "the first run", || count(&seen) >= TOTAL * 2 / 5).await;
    stall.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(500)).await; // five commit intervals
    first.abort(); // no graceful shutdown
    tokio::time::sleep(Duration::from_millis(100)).await;
    let at_crash = count(&seen);
    let second = subscriber(&env)
        .concurrency(8)
        .start(counting_handler(seen.clone(), 3))
        .await
        .expect("restart");
    wait_until(180, "the second run", || count(&seen) >= TOTAL).await;
    second.shutdown().await.expect("shutdown");
    let seen = seen.lock().unwrap().clone();
    let duplicates: u32 = seen.values().map(|c| c - 1).sum();
    println!(
        "{broker:?}: {TOTAL} messages, crashed after {at_crash} were processed; {duplicates} processed twice or more after the restart"
    );
    let all: HashSet<u64> = (0..TOTAL as u64).collect();
    let got: HashSet<u64> = seen.keys().copied().collect();
    assert_eq!(got, all, "nothing lost");
    env.cleanup().await;
}

/// Fails twice then succeeds: processed once, at attempt 3. Permanent:
/// exactly one dead letter with every header, the original settled.
/// Poison JSON and a wrong content type: dead letters.
pub async fn retries_and_dead_letters(broker: Broker) {
    let recorder = MetricsCapture::global();
    let env = Env::new(broker, "svc-dlq", 1).await;
    let calls: Arc<Mutex<HashMap<String, Vec<u32>>>> = Arc::default();
    let succeeded: Arc<Mutex<Vec<(String, u32)>>> = Arc::default();
    let handler = {
        let (calls, succeeded) = (calls.clone(), succeeded.clone());
        move |msg: Message<Event>| {
            let (calls, succeeded) = (calls.clone(), succeeded.clone());
            async move {
                let note = msg.payload().note.clone();
                calls
                    .lock()
                    .unwrap()
                    .entry(note.clone())
                    .or_default()
                    .push(msg.attempt());
                match note.as_str() {
                    "flaky" if msg.attempt() < 3 => Err(HandlerError::retriable("not yet")),
                    "permanent" => Err(HandlerError::permanent(std::io::Error::other(
                        "card declined",
                    ))),
                    _ => {
                        succeeded.lock().unwrap().push((note, msg.attempt()));
                        Ok(())
                    }
                }
            }
        }
    };
    let sub = subscriber(&env)
        .retry(Backoff::fixed(Duration::from_millis(20)).attempts(3))
        .start(handler)
        .await
        .expect("start");
    let publisher = env.bus.publisher::<Event, Json>(&env.source);
    for (key, note) in [("a", "flaky"), ("b", "permanent"), ("c", "ok")] {
        let e = Event {
            key: key.into(),
            seq: 0,
            note: note.into(),
        };
        publisher.publish(&e).key(key).await.expect("publish");
    }
    env.raw_publish("d", br#"{"key": "d", "seq": "#, &[]).await;
    env.raw_publish(
        "e",
        br#"{"key":"e","seq":1}"#,
        &[("content-type", "text/plain")],
    )
    .await;
    let dead = env.dead_letters(3, 60).await;
    wait_until(30, "the flaky message", || {
        succeeded.lock().unwrap().len() >= 2
    })
    .await;
    sub.shutdown().await.expect("shutdown");

    assert_eq!(dead.len(), 3, "exactly three dead letters: {dead:?}");
    let succeeded = succeeded.lock().unwrap().clone();
    assert!(succeeded.contains(&("flaky".into(), 3)), "{succeeded:?}");
    assert_eq!(succeeded.iter().filter(|(n, _)| n == "flaky").count(), 1);
    assert_eq!(calls.lock().unwrap()["flaky"], [1, 2, 3]);
    assert_eq!(calls.lock().unwrap()["permanent"], [1], "no retry");

    let by_reason = |r: &str| -> Vec<super::Raw> {
        dead.iter()
            .filter(|d| d.headers.get(dl::REASON).map(String::as_str) == Some(r))
            .cloned()
            .collect()
    };
    let permanent = by_reason("permanent");
    assert_eq!(permanent.len(), 1);
    let p = &permanent[0];
    let mut expected = vec![
        dl::CONSUMER_GROUP,
        dl::ERROR,
        dl::ERROR_TYPE,
        dl::REASON,
        dl::ATTEMPTS,
        dl::FIRST_FAILURE,
        dl::LAST_FAILURE,
        "traceparent",
        mq_service::publisher::MESSAGE_ID_HEADER,
    ];
    expected.extend(match broker {
        Broker::Kafka => [dl::ORIGIN_TOPIC, dl::ORIGIN_PARTITION, dl::ORIGIN_OFFSET],
        Broker::Amqp => [
            dl::ORIGIN_EXCHANGE,
            dl::ORIGIN_ROUTING_KEY,
            dl::ORIGIN_QUEUE,
        ],
    });
    for h in expected {
        assert!(
            p.headers.contains_key(h),
            "dead letter lacks {h}: {:?}",
            p.headers
        );
    }
    assert_eq!(p.headers[dl::CONSUMER_GROUP], env.group);
    assert_eq!(p.headers[dl::ATTEMPTS], "1");
    assert_eq!(p.headers[dl::ERROR_TYPE], "Error");
    assert!(
        p.headers[dl::ERROR].contains("card declined"),
        "{:?}",
        p.headers
    );
    assert!(p.headers[dl::LAST_FAILURE].ends_with('Z'));
    match broker {
        Broker::Kafka => {
            assert_eq!(p.headers[dl::ORIGIN_TOPIC], env.source);
            assert_eq!(p.headers[dl::ORIGIN_PARTITION], "0");
            assert_eq!(p.headers[dl::ORIGIN_OFFSET], "1");
            assert_eq!(p.key.as_deref(), Some(&b"b"[..]));
            assert_eq!(p.headers["content-type"], "application/json");
        }
        Broker::Amqp => {
            assert_eq!(p.headers[dl::ORIGIN_EXCHANGE], env.source);
            assert_eq!(p.headers[dl::ORIGIN_ROUTING_KEY], "b");
            assert_eq!(p.headers[dl::ORIGIN_QUEUE], env.queue());
            assert_eq!(p.headers["content_type"], "application/json");
        }
    }
    let body: Event = serde_json::from_slice(&p.body).expect("the original body");
    assert_eq!(body.note, "permanent");

    let poison = by_reason("poison");
    assert_eq!(poison.len(), 2);
    let mut kinds: Vec<&str> = poison
        .iter()
        .map(|d| d.headers[dl::ERROR_TYPE].as_str())
        .collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["content_type", "decode"]);
    assert!(poison.iter().all(|d| d.headers[dl::ATTEMPTS] == "0"));

    assert_settled(&env, 5).await;

    // Metrics, per subscriber: flaky failed twice then succeeded, ok
    // succeeded, permanent failed once; three dead letters (the two
    // poison ones never reached the handler).
    let g = env.group.as_str();
    assert_eq!(recorder.counter(m::PROCESSED, g), 2);
    assert_eq!(recorder.counter(m::FAILED, g), 3);
    assert_eq!(recorder.counter(m::RETRIED, g), 2);
    assert_eq!(recorder.counter(m::DEAD_LETTERED, g), 3);
    assert_eq!(
        recorder.samples(m::HANDLER_DURATION, g).len(),
        5,
        "one sample per call"
    );
    assert_eq!(
        recorder.gauge(m::IN_FLIGHT, g),
        0.0,
        "nothing in flight after the stop"
    );
    env.cleanup().await;
}

/// After the subscriber stopped: every one of `total` messages (in one
/// partition) is committed / acked.
async fn assert_settled(env: &Env, total: i64) {
    match env.broker {
        Broker::Kafka => {
            let committed = env.committed().await;
            assert_eq!(committed.get(&0), Some(&total), "committed {committed:?}");
        }
        Broker::Amqp => assert_eq!(env.queue_depth().await, 0, "nothing left unacked"),
    }
}

/// A panicking handler is retried, then dead-lettered, and the subscriber
/// goes on; a handler past its timeout fails the same way.
pub async fn panics_and_timeouts(broker: Broker) {
    let env = Env::new(broker, "svc-panic", 1).await;
    let calls: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let handler = {
        let calls = calls.clone();
        move |msg: Message<Event>| {
            let calls = calls.clone();
            async move {
                let note = msg.payload().note.clone();
                *calls.lock().unwrap().entry(note.clone()).or_default() += 1;
                match note.as_str() {
                    "panic" => panic!("boom at attempt {}", msg.attempt()),
                    "slow" => tokio::time::sleep(Duration::from_secs(5)).await,
                    _ => {}
                }
                Ok::<(), HandlerError>(())
            }
        }
    };
    let sub = subscriber(&env)
        .retry(Backoff::fixed(Duration::from_millis(10)).attempts(3))
        .handler_timeout(Duration::from_millis(200))
        .start(handler)
        .await
        .expect("start");
    let publisher = env.bus.publisher::<Event, Json>(&env.source);
    for (key, note) in [("p", "panic"), ("s", "slow"), ("o", "ok")] {
        let e = Event {
            key: key.into(),
            seq: 0,
            note: note.into(),
        };
        publisher.publish(&e).key(key).await.expect("publish");
    }
    let dead = env.dead_letters(2, 60).await;
    wait_until(10, "the ok message", || {
        calls.lock().unwrap().contains_key("ok")
    })
    .await;
    sub.shutdown().await.expect("shutdown");
    assert_eq!(dead.len(), 2, "{dead:?}");
    let of = |t: &str| {
        dead.iter()
            .find(|d| d.headers[dl::ERROR_TYPE] == t)
            .unwrap_or_else(|| panic!("no {t} dead letter: {dead:?}"))
    };
    let panicked = of("panic");
    assert_eq!(panicked.headers[dl::ATTEMPTS], "3");
    assert_eq!(panicked.headers[dl::REASON], "exhausted");
    assert!(panicked.headers[dl::ERROR].contains("boom at attempt 3"));
    let slow = of("timeout");
    assert_eq!(slow.headers[dl::ATTEMPTS], "3");
    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls["panic"], 3);
    assert_eq!(calls["slow"], 3);
    assert_eq!(calls["ok"], 1);
    assert_settled(&env, 3).await;
    env.cleanup().await;
}

/// 500 messages per second over 5 s lands within ±10%.
pub async fn rate_limit(broker: Broker) {
    let env = Env::new(broker, "svc-rate", 4).await;
    let publisher = env.bus.publisher::<Event, Json>(&env.source);
    within(120, "publishing", publish_keyed(&publisher, 40, 100)).await;
    let times: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let handler = {
        let times = times.clone();
        move |_msg: Message<Event>| {
            let times = times.clone();
            async move {
                times.lock().unwrap().push(Instant::now());
                Ok::<(), HandlerError>(())
            }
        }
    };
    let sub = subscriber(&env)
        .concurrency(16)
        .rate_limit(500, Duration::from_secs(1))
        .start(handler)
        .await
        .expect("start");
    wait_until(60, "the first call", || !times.lock().unwrap().is_empty()).await;
    let first = times.lock().unwrap()[0];
    tokio::time::sleep_until((first + Duration::from_millis(5200)).into()).await;
    sub.shutdown().await.expect("shutdown");
    let times = times.lock().unwrap().clone();
    let in_window = times
        .iter()
        .filter(|t| t.duration_since(first) < Duration::from_secs(5))
        .count();
    println!("{broker:?}: {in_window} handler calls in 5 s at a limit of 500/s");
    assert!(
        (2250..=2750).contains(&in_window),
        "{in_window} calls in 5 s is not 2500 ± 10%"
    );
    env.cleanup().await;
}

/// Stop under load: nothing that finished is left unacked or uncommitted
/// (the next run processes exactly the rest, none twice), nothing lost.
pub async fn graceful_shutdown_under_load(broker: Broker) {
    const TOTAL: usize = 3000;
    let env = Env::new(broker, "svc-drain", 4).await;
    let publisher = env.bus.publisher::<Event, Json>(&env.source);
    within(120, "publishing", publish_keyed(&publisher, 30, 100)).await;
    let seen: Seen = Arc::default();
    let offsets: Arc<Mutex<BTreeMap<i32, Vec<i64>>>> = Arc::default();
    let record_offsets = {
        let (seen, offsets) = (seen.clone(), offsets.clone());
        let inner = counting_handler(seen, 5);
        move |msg: Message<Event>| {
            let (offsets, inner) = (offsets.clone(), inner.clone());
            async move {
                let at = match msg.metadata() {
                    Metadata::Kafka {
                        partition, offset, ..
                    } => Some((*partition, *offset)),
                    _ => None,
                };
                inner(msg).await?;
                if let Some((p, o)) = at {
                    offsets.lock().unwrap().entry(p).or_default().push(o);
                }
                Ok::<(), HandlerError>(())
            }
        }
    };
    let first: RunningSubscriber = subscriber(&env)
        .concurrency(16)
        .drain_timeout(Duration::from_secs(20))
        .start(record_offsets)
        .await
        .expect("start");
    wait_until(120, "a third of the messages", || count(&seen) >= TOTAL / 3).await;
    first.shutdown().await.expect("graceful shutdown");
    let done = count(&seen);
    assert!(done < TOTAL, "stopped under load");
    match broker {
        Broker::Kafka => {
            let committed = env.committed().await;
            let offsets = offsets.lock().unwrap().clone();
            for (p, c) in &committed {
                let mut processed = offsets.get(p).cloned().unwrap_or_default();
                processed.sort_unstable();
                let expected: Vec<i64> = (0..(*c).max(0)).collect();
                assert_eq!(
                    processed, expected,
                    "partition {p}: committed {c}, processed exactly the offsets before it"
                );
            }
        }
        Broker::Amqp => {
            // The broker requeues the deliveries of a closed channel
            // asynchronously: give it a moment.
            let mut depth = 0;
            for _ in 0..50 {
                depth = env.queue_depth().await as usize;
                if depth >= TOTAL - done {
                    break;
                }
                eprintln!("depth {depth}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert_eq!(
                depth,
                TOTAL - done,
                "what finished is acked, the rest is back in the queue"
            );
        }
    }
    let second = subscriber(&env)
        .concurrency(16)
        .start(counting_handler(seen.clone(), 2))
        .await
        .expect("restart");
    wait_until(120, "the rest", || count(&seen) >= TOTAL).await;
    second.shutdown().await.expect("shutdown");
    let seen = seen.lock().unwrap().clone();
    let twice = seen.values().filter(|&&c| c > 1).count();
    println!(
        "{broker:?}: stopped after {done} of {TOTAL}; the restart processed the rest, {twice} twice"
    );
    assert_eq!(seen.len(), TOTAL, "nothing lost");
    assert_eq!(twice, 0, "nothing that finished was redelivered");
    env.cleanup().await;
}

/// Deduplication by message id (the default key) in memory, marked after
/// success: a message id seen before is settled without calling the
/// handler.
pub async fn dedup_hook(broker: Broker) {
    let env = Env::new(broker, "svc-dedup", 1).await;
    let store = mq_service::dedup::MemoryStore::new(100);
    let calls: Arc<Mutex<Vec<String>>> = Arc::default();
    let handler = {
        let calls = calls.clone();
        move |msg: Message<Event>| {
            let calls = calls.clone();
            async move {
                calls
                    .lock()
                    .unwrap()
                    .push(msg.message_id().unwrap_or_default().to_owned());
                Ok::<(), HandlerError>(())
            }
        }
    };
    let publisher = env.bus.publisher::<Event, Json>(&env.source);
    for id in ["order-1", "order-1", "order-2"] {
        let e = Event {
            key: "k".into(),
            seq: 0,
            note: String::new(),
        };
        publisher
            .publish(&e)
            .key("k")
            .message_id(id)
            .await
            .expect("publish");
    }
    let sub = subscriber(&env)
        .deduplicate(mq_service::dedup::Deduplication::mark_after_success(
            store.clone(),
        ))
        .start(handler)
        .await
        .expect("start");
    wait_until(60, "the two distinct messages", || {
        calls.lock().unwrap().len() >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    sub.shutdown().await.expect("shutdown");
    assert_eq!(
        *calls.lock().unwrap(),
        ["order-1", "order-2"],
        "the repeat was skipped"
    );
    assert_eq!(store.len(), 2, "ids are marked");
    assert_settled(&env, 3).await;
    env.cleanup().await;
}

/// Kafka: a second member joins mid-run. The first lets the in-flight
/// records of its revoked partitions finish and commits them before they
/// move, so nothing is lost and nothing that finished runs again.
pub async fn rebalance_mid_run() {
    const KEYS: u64 = 40;
    const PER_KEY: u64 = 100;
    const TOTAL: usize = (KEYS * PER_KEY) as usize;
    let env = Env::new(Broker::Kafka, "svc-rebalance", 6).await;
    let publisher = env.bus.publisher::<Event, Json>(&env.source);
    within(120, "publishing", publish_keyed(&publisher, KEYS, PER_KEY)).await;
    let seen: Seen = Arc::default();
    let first = subscriber(&env)
        .concurrency(8)
        .start(counting_handler(seen.clone(), 4))
        .await
        .expect("start");
    wait_until(60, "a quarter", || count(&seen) >= TOTAL / 4).await;
    let second = subscriber(&env)
        .concurrency(8)
        .start(counting_handler(seen.clone(), 4))
        .await
        .expect("second member");
    wait_until(180, "everything", || count(&seen) >= TOTAL).await;
    first.shutdown().await.expect("shutdown");
    second.shutdown().await.expect("shutdown");
    let seen = seen.lock().unwrap().clone();
    let twice = seen.values().filter(|&&c| c > 1).count();
    println!("Kafka: {TOTAL} messages, a member joined after a quarter; {twice} processed twice");
    assert_eq!(seen.len(), TOTAL, "nothing lost");
    assert_eq!(
        twice, 0,
        "revoked partitions were drained and committed before they moved"
    );
    env.cleanup().await;
}
