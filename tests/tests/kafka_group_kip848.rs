//! What only the consumer protocol of KIP-848 has (the group tests run on
//! both protocols: `MQ_GROUP_PROTOCOL=consumer` in `scripts/test`):
//! - a Java consumer and ours in one consumer-protocol group, sharing the
//!   partitions through the coordinator's assignor, and the Java member
//!   taking everything once ours leaves;
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
    Admin, Consumer, ErrorCode, GroupDescription, GroupProtocol, TopicPartition,
};
use mq_tests::{endpoints, names, tools};

use kafka_client_support::topic;
use kafka_group_support::{Log, Stop, all_partitions, builder, produce_to_each, spawn_with};

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
    fn start(topic: &str, group: &str) -> Self {
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
            .stdout(Stdio::null())
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
async fn a_java_member_and_ours_share_a_consumer_protocol_group() {
    kafka_client_support::init_tracing();
    let topic = topic("kip848-java", 6).await;
    let group = names::group("kip848-java");
    let all = all_partitions(&topic, 6);
    produce_to_each(&topic, 6, 5).await;
    let admin = admin().await;

    let _java = JavaConsumer::start(&topic, &group);
    describe_until(
        &admin,
        &group,
        Duration::from_secs(60),
        "the Java member takes all six",
        |d| d.state == "Stable" && assignment_of(d, "java-kip848").len() == 6,
    )
    .await;

    let log = Arc::new(Log::default());
    let ours = spawn_with(
        "ours",
        builder(&group)
            .group_protocol(GroupProtocol::Consumer)
            .client_id("mq-kip848"),
        &topic,
        log.clone(),
    )
    .await;
    // The coordinator moves three partitions, one member at a time: the
    // Java member revokes, ours takes them up; the listener agrees with the
    // coordinator, and together they own each partition once.
    let d = describe_until(&admin, &group, Duration::from_secs(60), "three each", |d| {
        d.state == "Stable"
            && assignment_of(d, "java-kip848").len() == 3
            && assignment_of(d, "mq-kip848").len() == 3
            && ours.owned().len() == 3
    })
    .await;
    assert_eq!(d.group_type, "consumer", "{d:#?}");
    assert_eq!(d.members.len(), 2, "{d:#?}");
    let theirs = assignment_of(&d, "java-kip848");
    let mine = assignment_of(&d, "mq-kip848");
    assert!(theirs.is_disjoint(&mine), "{d:#?}");
    let owned = ours.owned();
    assert_eq!(owned.iter().collect::<BTreeSet<_>>(), mine);
    assert!(
        d.members
            .iter()
            .all(|m| m.member_epoch.is_some_and(|e| e > 0)),
        "{d:#?}"
    );
    // Ours reads what is produced to its partitions from now on (the Java
    // member read and committed the first five of each).
    produce_to_each(&topic, 6, 5).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let seen: BTreeSet<(i32, i64)> = log
            .processed
            .lock()
            .unwrap()
            .iter()
            .map(|p| (p.partition, p.offset))
            .collect();
        if owned
            .iter()
            .all(|tp| (5..10).all(|o| seen.contains(&(tp.partition, o))))
        {
            break;
        }
        assert!(Instant::now() < deadline, "ours read {seen:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Ours leaves (epoch -1): the Java member gets everything back.
    ours.stop(Stop::Close).await;
    let d = describe_until(
        &admin,
        &group,
        Duration::from_secs(60),
        "Java takes all back",
        |d| d.members.len() == 1 && assignment_of(d, "java-kip848").len() == 6,
    )
    .await;
    let theirs: BTreeSet<TopicPartition> = assignment_of(&d, "java-kip848")
        .into_iter()
        .cloned()
        .collect();
    assert_eq!(theirs, all);
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
