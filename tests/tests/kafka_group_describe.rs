//! Describing groups of both protocols: a Java console consumer with
//! `group.protocol=consumer` (KIP-848) is described through
//! ConsumerGroupDescribe, with its member, member epoch, server-side
//! assignor and assignment; a classic group of ours still through
//! DescribeGroups; a group that does not exist as `Dead`.

mod kafka_client_support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mq_client::kafka::{Admin, NewTopic, Producer, ProducerRecord, TopicPartition};
use mq_tests::{endpoints, names, tools};

async fn admin() -> Admin {
    Admin::builder(&endpoints::kafka_bootstrap())
        .build()
        .await
        .expect("admin")
}

/// Kafka's console consumer in group `group` on the consumer protocol,
/// running until killed.
fn java_consumer(topic: &str, group: &str) -> Child {
    Command::new("java")
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
        .expect("java must be installed")
}

/// Kills the child when dropped, so a failed assertion leaves no JVM.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kip848_group_of_a_java_consumer_is_described() {
    kafka_client_support::init_tracing();
    let admin = admin().await;
    let topic = names::topic("kip848-describe");
    admin
        .create_topics([NewTopic::new(&topic, 3, 1)])
        .await
        .unwrap();
    let producer = Producer::builder(&endpoints::kafka_bootstrap())
        .build()
        .await
        .unwrap();
    for i in 0..30 {
        let value = format!("v{i}");
        producer
            .send(ProducerRecord::new(&topic).value(&value))
            .await
            .unwrap();
    }
    producer.close().await.unwrap();

    let group = names::group("kip848-describe");
    let _java = Killed(java_consumer(&topic, &group));
    // The member joins and reconciles its assignment: all three
    // partitions, the only member.
    let deadline = Instant::now() + Duration::from_secs(60);
    let described = loop {
        let d = admin.describe_consumer_group(&group).await.unwrap();
        let assigned = d.members.first().map_or(0, |m| m.assignment.len());
        if d.state == "Stable" && assigned == 3 {
            break d;
        }
        assert!(
            Instant::now() < deadline,
            "never stable with 3 partitions: {d:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(described.group_type, "consumer");
    assert_eq!(described.protocol_type, "consumer");
    assert!(
        ["uniform", "range"].contains(&described.protocol.as_str()),
        "{described:?}"
    );
    assert_eq!(described.members.len(), 1, "{described:?}");
    let member = &described.members[0];
    assert_eq!(member.client_id, "java-kip848");
    assert!(member.member_epoch.is_some_and(|e| e > 0), "{member:?}");
    let want: Vec<TopicPartition> = (0..3).map(|p| TopicPartition::new(&*topic, p)).collect();
    assert_eq!(member.assignment, want);
    assert_eq!(
        member.subscription.as_ref().map(|s| s.topics.clone()),
        Some(vec![topic.clone()])
    );
    // ListGroups reports its type too.
    let listed = admin.list_groups().await.unwrap();
    let entry = listed.iter().find(|g| g.group_id == group).expect("listed");
    assert_eq!(entry.group_type, "consumer", "{entry:?}");
}

#[tokio::test]
async fn a_group_that_does_not_exist_is_described_as_dead() {
    let admin = admin().await;
    let missing = admin
        .describe_consumer_group(&names::group("no-such-group"))
        .await
        .unwrap();
    assert_eq!(missing.state, "Dead");
    assert_eq!(missing.group_type, "classic");
    assert!(missing.members.is_empty());
}
