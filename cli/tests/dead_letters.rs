//! `mq dead-letters list|replay` against the real brokers: dead letters
//! made by an mq-service subscriber are listed, replayed to their origin,
//! and processed there by the same subscriber.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mq_client::amqp::{self, QueueDeleteOptions};
use mq_service::dead_letter as dl;
use mq_service::{Bus, HandlerError, Json, Message, RunningSubscriber};
use support::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Broker {
    Kafka,
    Amqp,
}

/// A handler call: payload, message id, attempt, whether it succeeded,
/// and whether any failure header came with it.
#[derive(Debug, Clone)]
struct Call {
    payload: String,
    message_id: Option<String>,
    key: Option<Vec<u8>>,
    ok: bool,
    failure_headers: Vec<String>,
}

/// One test's subscriber and names.
struct Setup {
    bus: Bus,
    source: String,
    group: String,
    dead: String,
    /// The URL (and `--queue`) the dead-letter commands take.
    target: Vec<String>,
    failing: Arc<AtomicBool>,
    calls: Arc<Mutex<Vec<Call>>>,
    sub: Option<RunningSubscriber>,
    topics: Vec<Topic>,
    amqp: Option<amqp::Connection>,
}

impl Setup {
    /// A subscriber whose handler fails for good on payloads starting
    /// with "bad" while `failing` is set.
    async fn new(broker: Broker) -> Setup {
        let group = mq_tests::names::group("dlq-cli");
        let (bus, source, dead, target, topics, amqp) = match broker {
            Broker::Kafka => {
                let source = Topic::new("dlq-cli", 1);
                let dead = Topic::new("dlq-cli-dead", 1);
                let bus = Bus::kafka(kafka_bootstrap().as_str());
                let target = vec![dead.url.clone()];
                (
                    bus,
                    source.name.clone(),
                    dead.name.clone(),
                    target,
                    vec![source, dead],
                    None,
                )
            }
            Broker::Amqp => {
                let conn = amqp::Connection::connect(&url()).await.expect("connect");
                let source = mq_tests::names::exchange("dlq-cli");
                let dead = mq_tests::names::queue("dlq-cli-dead");
                let target = vec![url(), "--queue".to_owned(), dead.clone()];
                (
                    Bus::amqp(conn.clone()),
                    source,
                    dead,
                    target,
                    Vec::new(),
                    Some(conn),
                )
            }
        };
        let failing = Arc::new(AtomicBool::new(true));
        let calls: Arc<Mutex<Vec<Call>>> = Arc::default();
        let handler = {
            let (failing, calls) = (failing.clone(), calls.clone());
            move |msg: Message<String>| {
                let (failing, calls) = (failing.clone(), calls.clone());
                async move {
                    let fail = failing.load(Ordering::SeqCst) && msg.payload().starts_with("bad");
                    let failure_headers = msg
                        .headers()
                        .iter()
                        .map(|(k, _)| k.to_owned())
                        .filter(|k| dl::FAILURE_HEADERS.contains(&k.as_str()))
                        .collect();
                    calls.lock().unwrap().push(Call {
                        payload: msg.payload().clone(),
                        message_id: msg.message_id().map(str::to_owned),
                        key: msg.key().map(<[u8]>::to_vec),
                        ok: !fail,
                        failure_headers,
                    });
                    if fail {
                        Err(HandlerError::permanent(std::io::Error::other(
                            "card declined",
                        )))
                    } else {
                        Ok(())
                    }
                }
            }
        };
        let sub = bus
            .subscriber::<String, Json>(&source, &group)
            .dead_letter(&dead)
            .start(handler)
            .await
            .expect("start");
        Setup {
            bus,
            source,
            group,
            dead,
            target,
            failing,
            calls,
            sub: Some(sub),
            topics,
            amqp,
        }
    }

    async fn publish(&self, payload: &str, key: &str, id: &str) {
        self.bus
            .publisher::<String, Json>(&self.source)
            .publish(&payload.to_owned())
            .key(key)
            .message_id(id)
            .await
            .expect("publish");
    }

    /// Runs `mq dead-letters <action> <target> <args>` off the runtime.
    async fn mq(&self, action: &str, args: &[&str]) -> Run {
        let mut all: Vec<String> = vec!["dead-letters".into(), action.into()];
        all.extend(self.target.iter().cloned());
        all.extend(args.iter().map(|a| (*a).to_owned()));
        tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = all.iter().map(String::as_str).collect();
            mq(&refs, b"")
        })
        .await
        .expect("mq")
    }

    /// The dead letters listed, as JSON, once there are `n` (within 30 s).
    async fn listed(&self, n: usize) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let lines = json_lines(&self.mq("list", &["--format", "json"]).await.ok().stdout);
            if lines.len() >= n || Instant::now() > deadline {
                return lines;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until the handler processed `payload` successfully `times`
    /// times.
    async fn processed(&self, payload: &str, times: usize) -> Vec<Call> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok: Vec<Call> = self
                .calls
                .lock()
                .unwrap()
                .iter()
                .filter(|c| c.ok && c.payload == payload)
                .cloned()
                .collect();
            if ok.len() >= times {
                return ok;
            }
            assert!(
                Instant::now() < deadline,
                "{payload} not processed {times} times: {ok:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn cleanup(mut self) {
        if let Some(sub) = self.sub.take() {
            sub.shutdown().await.expect("shutdown");
        }
        let _ = self.bus.close().await;
        if let Some(conn) = &self.amqp {
            let conn2 = amqp::Connection::connect(&url()).await.expect("connect");
            let ch = conn2.open_channel().await.expect("channel");
            let _ = conn;
            for q in [self.dead.clone(), format!("{}.{}", self.source, self.group)] {
                let _ = ch.queue_delete(&q, QueueDeleteOptions::default()).await;
            }
            let _ = ch.exchange_delete(&self.dead, false).await;
            let _ = ch.exchange_delete(&self.source, false).await;
            let _ = conn2.close().await;
        }
        // Kafka topics go when dropped, off the runtime.
        let topics = std::mem::take(&mut self.topics);
        tokio::task::spawn_blocking(move || drop(topics))
            .await
            .expect("delete topics");
    }
}

fn field<'a>(v: &'a serde_json::Value, path: &[&str]) -> &'a serde_json::Value {
    path.iter().fold(v, |v, k| &v[*k])
}

/// Two dead letters listed (table and JSON); one replayed by message id
/// and processed at its origin without the failure headers; an unknown id
/// refused with nothing replayed; then `--all`.
async fn list_and_replay(broker: Broker) {
    let s = Setup::new(broker).await;
    s.publish("bad-1", "k1", "dl-1").await;
    s.publish("bad-2", "k2", "dl-2").await;
    s.publish("good", "k3", "ok-1").await;
    let listed = s.listed(2).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    let first = listed
        .iter()
        .find(|l| l["message_id"] == "dl-1")
        .expect("dl-1 listed");
    assert_eq!(first["reason"], "permanent");
    assert_eq!(first["attempts"], 1);
    assert!(
        first["error"].as_str().unwrap().contains("card declined"),
        "{first}"
    );
    assert!(first["first_failure"].as_str().unwrap().ends_with('Z'));
    match broker {
        Broker::Kafka => {
            assert_eq!(field(first, &["origin", "topic"]), &*s.source);
            assert_eq!(field(first, &["origin", "partition"]), "0");
            assert_eq!(field(first, &["origin", "offset"]), "0");
        }
        Broker::Amqp => {
            assert_eq!(field(first, &["origin", "exchange"]), &*s.source);
            assert_eq!(field(first, &["origin", "routing_key"]), "k1");
        }
    }
    let table = s.mq("list", &[]).await.ok().text();
    let mut lines = table.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap()
        .split("  ")
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        header.iter().map(|c| c.trim()).collect::<Vec<_>>(),
        [
            "POSITION",
            "MESSAGE ID",
            "ORIGIN",
            "REASON",
            "ATTEMPTS",
            "FIRST FAILURE",
            "LAST FAILURE",
            "ERROR"
        ]
    );
    let row = lines.find(|l| l.contains("dl-1")).expect("a row for dl-1");
    let origin = match broker {
        Broker::Kafka => format!("{}[0]@0", s.source),
        Broker::Amqp => format!("{}:k1", s.source),
    };
    assert!(row.contains(&origin) && row.contains("permanent"), "{row}");

    // An unknown id: refused, nothing replayed.
    let bad = s
        .mq("replay", &["--message-id", "dl-1", "--message-id", "nope"])
        .await;
    assert_eq!(bad.code, NOT_FOUND, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("'nope'") && bad.stderr.starts_with("mq: "),
        "{}",
        bad.stderr
    );
    assert_eq!(bad.stderr.lines().count(), 1);

    // The failure is fixed: replay dl-1.
    s.failing.store(false, Ordering::SeqCst);
    let replayed = s.mq("replay", &["--message-id", "dl-1"]).await.ok().text();
    let expected = match broker {
        Broker::Kafka => format!(
            "replayed 'dl-1' to topic '{}' partition 0 offset ",
            s.source
        ),
        Broker::Amqp => format!(
            "replayed 'dl-1' to exchange '{}' with routing key 'k1'",
            s.source
        ),
    };
    assert!(replayed.starts_with(&expected), "{replayed}");
    assert!(
        replayed.ends_with("1 dead letters replayed\n"),
        "{replayed}"
    );
    let calls = s.processed("bad-1", 1).await;
    assert_eq!(calls[0].message_id.as_deref(), Some("dl-1"));
    assert!(calls[0].failure_headers.is_empty(), "{:?}", calls[0]);
    if broker == Broker::Kafka {
        assert_eq!(calls[0].key.as_deref(), Some(&b"k1"[..]), "the same key");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        s.processed("bad-2", 0).await.is_empty(),
        "dl-2 was not replayed"
    );

    // RabbitMQ: the replayed one left the queue, the other was given
    // back. Kafka: the dead-letter topic is a log, both are still there.
    // A dead-letter topic lists partition by partition: compare as a set.
    let mut left: Vec<String> = s
        .listed(1)
        .await
        .iter()
        .map(|l| l["message_id"].as_str().unwrap().to_owned())
        .collect();
    left.sort();
    match broker {
        Broker::Kafka => assert_eq!(left, ["dl-1", "dl-2"]),
        Broker::Amqp => assert_eq!(left, ["dl-2"]),
    }

    let all = s.mq("replay", &["--all"]).await.ok().text();
    let count = match broker {
        Broker::Kafka => 2,
        Broker::Amqp => 1,
    };
    assert!(
        all.ends_with(&format!("{count} dead letters replayed\n")),
        "{all}"
    );
    s.processed("bad-2", 1).await;
    if broker == Broker::Amqp {
        assert!(s.listed(0).await.is_empty(), "the queue is empty");
    } else {
        s.processed("bad-1", 2).await;
    }
    let ok_calls = s
        .calls
        .lock()
        .unwrap()
        .iter()
        .filter(|c| c.payload == "good")
        .count();
    assert_eq!(ok_calls, 1);
    let by_payload: HashMap<String, usize> =
        s.calls
            .lock()
            .unwrap()
            .iter()
            .fold(HashMap::new(), |mut m, c| {
                *m.entry(c.payload.clone()).or_default() += 1;
                m
            });
    println!("{broker:?}: handler calls by payload {by_payload:?}");
    s.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_dead_letters_list_and_replay() {
    list_and_replay(Broker::Kafka).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_dead_letters_list_and_replay() {
    list_and_replay(Broker::Amqp).await;
}

#[test]
fn dead_letter_commands_need_their_target() {
    fails(
        &["dead-letters", "list", &url()],
        b"",
        USAGE,
        "needs --queue NAME",
    );
    fails(
        &[
            "dead-letters",
            "list",
            &format!("kafka://{}", kafka_bootstrap()),
        ],
        b"",
        USAGE,
        "needs the dead-letter topic",
    );
    fails(
        &["dead-letters", "list", &kafka_url("t"), "--queue", "q"],
        b"",
        USAGE,
        "--queue applies to amqp:// URLs only",
    );
    fails(
        &["dead-letters", "replay", &kafka_url("t")],
        b"",
        USAGE,
        "--message-id",
    );
    fails(
        &[
            "dead-letters",
            "replay",
            &kafka_url("t"),
            "--all",
            "--message-id",
            "x",
        ],
        b"",
        USAGE,
        "cannot be used with",
    );
    let missing = mq_tests::names::topic("dlq-missing");
    fails(
        &["dead-letters", "list", &kafka_url(&missing)],
        b"",
        NOT_FOUND,
        &format!("unknown topic '{missing}'"),
    );
    let missing = mq_tests::names::queue("dlq-missing");
    fails(
        &[
            "dead-letters",
            "replay",
            &url(),
            "--queue",
            &missing,
            "--all",
        ],
        b"",
        NOT_FOUND,
        &format!("no queue '{missing}'"),
    );
}
