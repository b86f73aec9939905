//! Delayed retries against the real brokers, each scenario run on both.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mq_service::dead_letter as dl;
use mq_service::delayed_retry as dr;
use mq_service::{Backoff, HandlerError, Json, Message, Publisher, SubscriberBuilder};

use super::scenarios::Event;
use super::{Broker, Env, within};

/// How late a retry may come back: its delay plus this.
const TOLERANCE: Duration = Duration::from_secs(2);

/// One handler call.
#[derive(Debug, Clone)]
struct Call {
    key: String,
    seq: u64,
    note: String,
    attempt: u32,
    at: Instant,
    ok: bool,
}

type Calls = Arc<Mutex<Vec<Call>>>;

/// Fails `always` every time, `once` and `warm` at their first attempt;
/// everything else succeeds. Every call is recorded.
fn recording_handler(
    calls: Calls,
) -> impl Fn(Message<Event>) -> futures_util::future::BoxFuture<'static, Result<(), HandlerError>>
+ Send
+ Sync
+ 'static {
    move |msg: Message<Event>| {
        let calls = calls.clone();
        Box::pin(async move {
            let e = msg.payload();
            let fail = match e.note.as_str() {
                "always" => true,
                "once" | "warm" => msg.attempt() == 1,
                _ => false,
            };
            calls.lock().unwrap().push(Call {
                key: e.key.clone(),
                seq: e.seq,
                note: e.note.clone(),
                attempt: msg.attempt(),
                at: Instant::now(),
                ok: !fail,
            });
            if fail {
                Err(HandlerError::retriable(std::io::Error::other(
                    "still failing",
                )))
            } else {
                Ok(())
            }
        })
    }
}

fn subscriber(env: &Env, delays: &[Duration]) -> SubscriberBuilder<Event, Json> {
    env.bus
        .subscriber::<Event, Json>(&env.source, &env.group)
        .dead_letter(&env.dead)
        .concurrency(4)
        .retry(Backoff::none())
        .delayed_retries(delays.iter().copied())
        .kafka_consumer(|b| {
            b.session_timeout(Duration::from_secs(6))
                .heartbeat_interval(Duration::from_secs(1))
        })
}

async fn publish(p: &Publisher<Event, Json>, key: &str, seq: u64, note: &str) {
    let e = Event {
        key: key.into(),
        seq,
        note: note.into(),
    };
    p.publish(&e).key(key).await.expect("publish");
}

async fn wait_for(secs: u64, what: &str, calls: &Calls, done: impl Fn(&[Call]) -> bool) {
    within(secs, what, async {
        while !done(&calls.lock().unwrap()) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// A message that fails once, through the first stage and back: after it,
/// the stages' consumers are known to run (a Kafka group takes a few
/// seconds to form), so the delays measured next are the stages' own.
async fn warm_up(p: &Publisher<Event, Json>, calls: &Calls) {
    publish(p, "w", 0, "warm").await;
    wait_for(90, "the warm-up message back from its stage", calls, |c| {
        c.iter().any(|c| c.note == "warm" && c.ok)
    })
    .await;
}

/// Whether `later` came within [delay, delay + TOLERANCE] of `earlier`.
fn on_time(earlier: Instant, later: Instant, delay: Duration) -> bool {
    let gap = later.duration_since(earlier);
    gap >= delay && gap <= delay + TOLERANCE
}

/// Two stages (2 s, 3 s), one call per delivery: a message that always
/// fails is called three times, each retry within its delay + 2 s, while
/// messages of other keys, and a later one of its own key, flow; then one
/// dead letter with three attempts that names the source as its origin.
pub async fn delayed_retries(broker: Broker) {
    let delays = [Duration::from_secs(2), Duration::from_secs(3)];
    let mut env = Env::new(broker, "svc-delay", 1).await;
    let stages = env.retry_names(&delays);
    let calls: Calls = Arc::default();
    let sub = subscriber(&env, &delays)
        .start(recording_handler(calls.clone()))
        .await
        .expect("start");
    let publisher = env.bus.publisher::<Event, Json>(&env.source);
    warm_up(&publisher, &calls).await;

    publish(&publisher, "bad", 0, "always").await;
    wait_for(30, "the first call", &calls, |c| {
        c.iter().any(|c| c.note == "always")
    })
    .await;
    // While it waits in the first stage: 40 messages of 8 other keys, and
    // a later one of its own key.
    const OTHERS: u64 = 40;
    for i in 0..OTHERS {
        publish(&publisher, &format!("k{}", i % 8), 100 + i, "").await;
    }
    publish(&publisher, "bad", 1, "later").await;
    let dead = env.dead_letters(1, 60).await;
    wait_for(30, "the other messages", &calls, |c| {
        c.iter()
            .filter(|c| c.seq >= 100 || c.note == "later")
            .count() as u64
            > OTHERS
    })
    .await;
    sub.shutdown().await.expect("shutdown");

    let calls = calls.lock().unwrap().clone();
    let failing: Vec<&Call> = calls.iter().filter(|c| c.note == "always").collect();
    let attempts: Vec<u32> = failing.iter().map(|c| c.attempt).collect();
    assert_eq!(
        attempts,
        [1, 2, 3],
        "one call per delivery, counted across stages"
    );
    let (t1, t2, t3) = (failing[0].at, failing[1].at, failing[2].at);
    let passed: Vec<&Call> = calls
        .iter()
        .filter(|c| (c.seq >= 100 || c.note == "later") && c.at > t1 && c.at < t2)
        .collect();
    println!(
        "{broker:?}: retries after {:.0} ms (stage 1, 2000 ms) and {:.0} ms (stage 2, 3000 ms); \
         {} of {} later messages processed while the first waited, the last {:.0} ms after the failure",
        t2.duration_since(t1).as_secs_f64() * 1000.0,
        t3.duration_since(t2).as_secs_f64() * 1000.0,
        passed.len(),
        OTHERS + 1,
        passed
            .iter()
            .map(|c| c.at.duration_since(t1).as_secs_f64() * 1000.0)
            .fold(0.0, f64::max),
    );
    assert!(on_time(t1, t2, delays[0]), "stage 1 took {:?}", t2 - t1);
    assert!(on_time(t2, t3, delays[1]), "stage 2 took {:?}", t3 - t2);
    assert_eq!(
        passed.len() as u64,
        OTHERS + 1,
        "every later message, its own key's too, passed the one waiting"
    );

    assert_eq!(dead.len(), 1, "{dead:?}");
    let d = &dead[0].headers;
    assert_eq!(d[dl::ATTEMPTS], "3");
    assert_eq!(d[dl::REASON], "exhausted");
    assert!(d[dl::ERROR].contains("still failing"), "{d:?}");
    assert_ne!(d[dl::FIRST_FAILURE], d[dl::LAST_FAILURE]);
    for h in dr::RETRY_HEADERS {
        assert!(!d.contains_key(h), "the dead letter keeps {h}: {d:?}");
    }
    match broker {
        Broker::Kafka => {
            assert_eq!(d[dl::ORIGIN_TOPIC], env.source, "the origin, not a stage");
            assert_eq!(d[dl::ORIGIN_OFFSET], "1");
            let committed = env.committed().await;
            assert_eq!(
                committed.get(&0),
                Some(&(OTHERS as i64 + 3)),
                "{committed:?}"
            );
        }
        Broker::Amqp => {
            assert_eq!(
                d[dl::ORIGIN_EXCHANGE],
                env.source,
                "the origin, not a stage"
            );
            assert_eq!(d[dl::ORIGIN_ROUTING_KEY], "bad");
            assert_eq!(d[dl::ORIGIN_QUEUE], env.queue());
            assert_eq!(env.queue_depth().await, 0, "every original acked");
            for q in &stages {
                assert_eq!(env.depth_of(q).await, 0, "{q} is empty");
            }
        }
    }
    env.cleanup().await;
}

/// `retry_holds_key`: while a message waits in its stage, the later
/// messages of its key wait for it, and other keys flow.
pub async fn retry_holds_key(broker: Broker) {
    let delays = [Duration::from_secs(2)];
    let mut env = Env::new(broker, "svc-hold", 1).await;
    env.retry_names(&delays);
    let calls: Calls = Arc::default();
    let sub = subscriber(&env, &delays)
        .retry_holds_key()
        .start(recording_handler(calls.clone()))
        .await
        .expect("start");
    let publisher = env.bus.publisher::<Event, Json>(&env.source);
    warm_up(&publisher, &calls).await;

    const OTHERS: u64 = 30;
    publish(&publisher, "h", 0, "once").await;
    publish(&publisher, "h", 1, "").await;
    publish(&publisher, "h", 2, "").await;
    for i in 0..OTHERS {
        publish(&publisher, &format!("k{}", i % 6), 100 + i, "").await;
    }
    wait_for(60, "the held key's messages", &calls, |c| {
        c.iter().any(|c| c.key == "h" && c.seq == 2)
    })
    .await;
    wait_for(30, "the other keys", &calls, |c| {
        c.iter().filter(|c| c.seq >= 100).count() as u64 >= OTHERS
    })
    .await;
    sub.shutdown().await.expect("shutdown");

    let calls = calls.lock().unwrap().clone();
    let held: Vec<(u64, u32, bool)> = calls
        .iter()
        .filter(|c| c.key == "h")
        .map(|c| (c.seq, c.attempt, c.ok))
        .collect();
    assert_eq!(
        held,
        [(0, 1, false), (0, 2, true), (1, 1, true), (2, 1, true)],
        "the key's later messages waited for the retried one"
    );
    let h = |seq: u64, attempt: u32| {
        calls
            .iter()
            .find(|c| c.key == "h" && c.seq == seq && c.attempt == attempt)
            .expect("the call")
            .at
    };
    let (failed, retried) = (h(0, 1), h(0, 2));
    let others_meanwhile = calls
        .iter()
        .filter(|c| c.seq >= 100 && c.at > failed && c.at < retried)
        .count();
    println!(
        "{broker:?}: the held key's retry came after {:.0} ms (delay 2000 ms), its next message {:.0} ms later; \
         {others_meanwhile} of {OTHERS} messages of other keys processed meanwhile",
        retried.duration_since(failed).as_secs_f64() * 1000.0,
        h(1, 1).duration_since(retried).as_secs_f64() * 1000.0,
    );
    assert!(
        on_time(failed, retried, delays[0]),
        "{:?}",
        retried - failed
    );
    assert_eq!(others_meanwhile as u64, OTHERS, "other keys were not held");
    match broker {
        Broker::Kafka => {
            let committed = env.committed().await;
            assert_eq!(
                committed.get(&0),
                Some(&(OTHERS as i64 + 4)),
                "{committed:?}"
            );
        }
        Broker::Amqp => assert_eq!(env.queue_depth().await, 0),
    }
    env.cleanup().await;
}
