//! What only the consumer protocol of KIP-848 has (the group tests run on
//! both protocols: `MQ_GROUP_PROTOCOL=consumer` in `scripts/test`):
//! - three of ours and a Java consumer in one consumer-protocol group on 12
//!   partitions: each join moves only what must move, every record is
//!   consumed at least once, and the Java member takes everything back once
//!   ours leave;
//! - the server-side assignor the consumer names is the group's, and one
//!   the broker does not have is a clear error the application can match.

mod kafka_client_support;
mod kafka_group_support;

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use mq_client::kafka::{
    Admin, Consumer, ErrorCode, GroupDescription, GroupProtocol, Producer, ProducerRecord,
    TopicPartition,
};
use mq_tests::{endpoints, names, tools};

use kafka_client_support::topic;
use kafka_group_support::{Event, Log, Stop, all_partitions, builder, spawn_with};

async fn admin() -> Admin {
    Admin::builder(&endpoints::kafka_bootstrap())
        .build()
        .await
        .expect("admin")
}

/// Kafka's console consumer in `group` on the consumer protocol, running
/// until dropped.
struct JavaConsumer(Child);

impl JavaConsumer {
    /// Starts it; the values it reads go to `out`, one per line.
    fn start(topic: &str, group: &str, out: &std::path::Path) -> Self {
        let out = std::fs::File::create(out).expect("output file");
        let child = Command::new("java")
            .arg("-cp")
            .arg(format!("{}/*", tools::kafka_libs().display()))
            .arg("org.apache.kafka.tools.consumer.ConsoleConsumer")
            .args([
                "--bootstrap-server",
                &endpoints::kafka_bootstrap(),
                "--topic",
                topic,
                "--group",
                group,
                "--from-beginning",
                "--consumer-property",
                "group.protocol=consumer",
                "--consumer-property",
                "client.id=java-kip848",
            ])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(Stdio::null())
            .spawn()
            .expect("java must be installed");
        JavaConsumer(child)
    }
}

impl Drop for JavaConsumer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Describes `group` until `done` holds, for up to `within`.
async fn describe_until(
    admin: &Admin,
    group: &str,
    within: Duration,
    what: &str,
    done: impl Fn(&GroupDescription) -> bool,
) -> GroupDescription {
    let deadline = Instant::now() + within;
    loop {
        let d = admin
            .describe_consumer_group(group)
            .await
            .expect("describe");
        if done(&d) {
            return d;
        }
        assert!(Instant::now() < deadline, "{what}: {d:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn assignment_of<'a>(d: &'a GroupDescription, client_id: &str) -> BTreeSet<&'a TopicPartition> {
    d.members
        .iter()
        .filter(|m| m.client_id == client_id)
        .flat_map(|m| m.assignment.iter())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_of_ours_and_a_java_member_share_twelve_partitions() {
    kafka_client_support::init_tracing();
    let topic = topic("kip848-java", 12).await;
    let group = names::group("kip848-java");
    let all = all_partitions(&topic, 12);
    let admin = admin().await;

    let java_out = std::env::temp_dir().join(format!("{group}.out"));
    let _java = JavaConsumer::start(&topic, &group, &java_out);
    describe_until(
        &admin,
        &group,
        Duration::from_secs(60),
        "the Java member takes all twelve",
        |d| d.state == "Stable" && assignment_of(d, "java-kip848").len() == 12,
    )
    .await;

    // Ours join one at a time; each join moves partitions one member at a
    // time, through the coordinator's assignor.
    let log = Arc::new(Log::default());
    let mut ours = Vec::new();
    for name in ["mq-1", "mq-2", "mq-3"] {
        let member = spawn_with(
            name,
            builder(&group)
                .group_protocol(GroupProtocol::Consumer)
                .client_id(name),
            &topic,
            log.clone(),
        )
        .await;
        ours.push(member);
        let n = ours.len() + 1;
        describe_until(
            &admin,
            &group,
            Duration::from_secs(60),
            "an even split",
            |d| {
                d.state == "Stable"
                    && d.members.len() == n
                    && d.members.iter().all(|m| m.assignment.len() == 12 / n)
                    && ours.iter().all(|m| m.owned().len() == 12 / n)
            },
        )
        .await;
    }
    let d = admin
        .describe_consumer_group(&group)
        .await
        .expect("describe");
    assert_eq!(d.group_type, "consumer", "{d:#?}");
    assert!(
        d.members
            .iter()
            .all(|m| m.member_epoch.is_some_and(|e| e > 0)),
        "{d:#?}"
    );
    // The listeners agree with the coordinator, and the four own each
    // partition once.
    let mut owned_by_all: BTreeSet<TopicPartition> = assignment_of(&d, "java-kip848")
        .into_iter()
        .cloned()
        .collect();
    for m in &ours {
        let owned = m.owned();
        let described: BTreeSet<TopicPartition> =
            assignment_of(&d, &m.name).into_iter().cloned().collect();
        assert_eq!(owned, described, "{}", m.name);
        assert!(owned_by_all.is_disjoint(&owned), "{d:#?}");
        owned_by_all.extend(owned);
    }
    assert_eq!(owned_by_all, all);
    // Only what had to move moved: no member of ours gave up a partition it
    // later got back, or lost one, and each took up only its share plus
    // what it handed on.
    for m in &ours {
        let events = m.events();
        let mut revoked = BTreeSet::new();
        let mut assigned = 0;
        for e in &events {
            match e {
                Event::Assigned(p) => assigned += p.len(),
                Event::Revoked(p) => revoked.extend(p.iter().cloned()),
                Event::Lost(_) => panic!("{}: lost partitions: {events:?}", m.name),
            }
        }
        assert!(revoked.is_disjoint(&m.owned()), "{}: {events:?}", m.name);
        assert_eq!(assigned, 3 + revoked.len(), "{}: {events:?}", m.name);
    }

    // Every record produced now is consumed at least once, by ours or by
    // the Java member.
    let mut produced = BTreeSet::new();
    let producer = Producer::builder(&endpoints::kafka_bootstrap())
        .build()
        .await
        .expect("producer");
    for p in 0..12 {
        for i in 0..10 {
            let value = format!("p{p}-{i}");
            producer
                .send(ProducerRecord::new(&topic).partition(p).value(&value))
                .await
                .expect("produce");
            produced.insert(value);
        }
    }
    producer.close().await.expect("close");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut seen: BTreeSet<String> = log
            .processed
            .lock()
            .unwrap()
            .iter()
            .map(|p| p.value.clone())
            .collect();
        let java = std::fs::read_to_string(&java_out).unwrap_or_default();
        seen.extend(java.lines().map(str::to_owned));
        let missing: Vec<&String> = produced.difference(&seen).collect();
        if missing.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "not consumed: {missing:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Ours leave (epoch -1): the Java member gets everything back.
    for m in ours {
        m.stop(Stop::Close).await;
    }
    let d = describe_until(
        &admin,
        &group,
        Duration::from_secs(60),
        "Java takes all back",
        |d| d.members.len() == 1 && assignment_of(d, "java-kip848").len() == 12,
    )
    .await;
    let theirs: BTreeSet<TopicPartition> = assignment_of(&d, "java-kip848")
        .into_iter()
        .cloned()
        .collect();
    assert_eq!(theirs, all);
    let _ = std::fs::remove_file(&java_out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_named_server_assignor_is_used_and_an_unknown_one_is_refused() {
    kafka_client_support::init_tracing();
    let topic = topic("kip848-assignor", 4).await;
    let group = names::group("kip848-range");
    let log = Arc::new(Log::default());
    let range = || {
        builder(&group)
            .group_protocol(GroupProtocol::Consumer)
            .group_remote_assignor("range")
    };
    let a = spawn_with("a", range(), &topic, log.clone()).await;
    let b = spawn_with("b", range(), &topic, log.clone()).await;
    let admin = admin().await;
    let d = describe_until(&admin, &group, Duration::from_secs(60), "two each", |d| {
        d.state == "Stable"
            && d.members.len() == 2
            && d.members.iter().all(|m| m.assignment.len() == 2)
            && a.owned().len() == 2
            && b.owned().len() == 2
    })
    .await;
    assert_eq!(d.protocol, "range", "{d:#?}");
    // Range: each member a run of neighbouring partitions.
    let mut runs: Vec<Vec<i32>> = [a.owned(), b.owned()]
        .iter()
        .map(|o| o.iter().map(|tp| tp.partition).collect())
        .collect();
    runs.sort();
    assert_eq!(runs, vec![vec![0, 1], vec![2, 3]]);
    a.stop(Stop::Close).await;
    b.stop(Stop::Close).await;

    // An assignor the broker does not have: the consumer's next call
    // fails with UNSUPPORTED_ASSIGNOR, and keeps failing (not a retry
    // loop the application cannot see).
    let mut c = Consumer::builder(&endpoints::kafka_bootstrap())
        .group(names::group("kip848-nope"))
        .group_protocol(GroupProtocol::Consumer)
        .group_remote_assignor("no-such-assignor")
        .build()
        .await
        .expect("consumer");
    c.subscribe([topic.as_str()]).await.expect("subscribe");
    for _ in 0..2 {
        let e = tokio::time::timeout(Duration::from_secs(30), c.next())
            .await
            .expect("an answer within 30 s")
            .expect("not ended")
            .expect_err("refused");
        assert_eq!(e.code(), Some(ErrorCode::UNSUPPORTED_ASSIGNOR), "{e}");
        assert!(!e.is_retriable(), "{e}");
    }
    c.close().await.expect("close");
}

#[tokio::test]
async fn the_classic_protocol_stays_the_default_and_a_remote_assignor_needs_the_consumer_one() {
    let e = Consumer::builder(&endpoints::kafka_bootstrap())
        .group(names::group("kip848-config"))
        .group_remote_assignor("uniform")
        .build()
        .await
        .expect_err("refused");
    assert!(e.to_string().contains("group_protocol"), "{e}");
    assert_eq!(GroupProtocol::default(), GroupProtocol::Classic);
    assert_eq!(
        GroupProtocol::from_name("CONSUMER"),
        Some(GroupProtocol::Consumer)
    );
    assert_eq!(GroupProtocol::from_name("eager"), None);
}
