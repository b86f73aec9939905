//! Share groups (KIP-932) with a Java peer and a killed member, against the
//! real Kafka 4.3 broker:
//! - three of our share consumers and one Java `KafkaShareConsumer`
//!   (`tests/java/ShareMember.java`, compiled here) share one partition,
//!   and every record is accepted exactly once;
//! - a member dropped while it holds records (no close, no
//!   acknowledgement): they go to another member, with delivery count 2, no
//!   later than their locks expire (the broker releases them as soon as the
//!   dead member's connection closes).

mod kafka_client_support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use mq_client::kafka::{
    Admin, AlterConfigOp, ConfigResource, Producer, ProducerRecord, ShareConsumer, ShareRecord,
};
use mq_tests::{endpoints, names, tools};

/// A one-partition topic and a share group reading it from the start.
async fn setup(prefix: &str, configs: &[(&str, &str)]) -> (String, String) {
    let topic = kafka_client_support::topic(prefix, 1).await;
    let group = names::group(prefix);
    let mut ops = vec![AlterConfigOp::set("share.auto.offset.reset", "earliest")];
    ops.extend(configs.iter().map(|(k, v)| AlterConfigOp::set(*k, *v)));
    Admin::builder(&endpoints::kafka_bootstrap())
        .build()
        .await
        .expect("admin")
        .incremental_alter_configs(ConfigResource::Group(group.clone()), &ops)
        .await
        .expect("group configs");
    (topic, group)
}

async fn produce(topic: &str, values: &[String]) {
    let producer = Producer::builder(&endpoints::kafka_bootstrap())
        .build()
        .await
        .expect("producer");
    for v in values {
        producer
            .send(ProducerRecord::new(topic).value(v))
            .await
            .expect("produce");
    }
    producer.close().await.expect("close producer");
}

async fn member(group: &str, topic: &str, max_in_flight: usize) -> ShareConsumer {
    ShareConsumer::builder(&endpoints::kafka_bootstrap())
        .group(group)
        .subscribe([topic])
        .max_poll_records(20)
        .max_in_flight(max_in_flight)
        .fetch_max_wait(Duration::from_millis(200))
        .build()
        .await
        .expect("share consumer")
}

fn text(r: &ShareRecord) -> String {
    String::from_utf8(r.value().expect("value").to_vec()).expect("utf-8")
}

/// The Java member, compiled from `tests/java/ShareMember.java`; its
/// stdout (the values it accepted) goes to a file. Killed when dropped.
struct JavaMember {
    child: Child,
    out: PathBuf,
}

impl JavaMember {
    fn start(topic: &str, group: &str) -> Self {
        let libs = tools::kafka_libs();
        let classes = std::env::temp_dir().join(format!("mq-share-member-{}", std::process::id()));
        std::fs::create_dir_all(&classes).expect("class dir");
        let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("java/ShareMember.java");
        let status = Command::new("javac")
            .arg("-d")
            .arg(&classes)
            .arg("-cp")
            .arg(format!("{}/*", libs.display()))
            .arg(&src)
            .status()
            .expect("javac (a JDK) is needed");
        assert!(status.success(), "javac failed");
        let out = std::env::temp_dir().join(format!("{group}.java-accepted"));
        let child = Command::new("java")
            .arg("-cp")
            .arg(format!("{}/*:{}", libs.display(), classes.display()))
            .args(["ShareMember", &endpoints::kafka_bootstrap(), topic, group])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).expect("output file"))
            .stderr(Stdio::null())
            .spawn()
            .expect("java");
        JavaMember { child, out }
    }

    fn accepted(&self) -> Vec<String> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for JavaMember {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.out);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_of_ours_and_a_java_member_accept_each_record_once() {
    kafka_client_support::init_tracing();
    let (topic, group) = setup("share-java", &[]).await;
    let java = JavaMember::start(&topic, &group);
    // What each of ours accepted (and committed), by member.
    let accepted: Arc<Mutex<BTreeMap<String, Vec<String>>>> = Arc::default();
    let mut tasks = Vec::new();
    for name in ["mq-1", "mq-2", "mq-3"] {
        let mut c = member(&group, &topic, 20).await;
        let accepted = accepted.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(r) = c.next().await {
                let r = r.expect("record");
                r.accept().expect("accept");
                c.commit().await.expect("commit");
                accepted
                    .lock()
                    .unwrap()
                    .entry(name.to_owned())
                    .or_default()
                    .push(text(&r));
                // Slow enough that every member gets a share.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }
    // Waves of records, so that members that joined later get some too.
    let mut produced = Vec::new();
    for wave in 0..10 {
        let values: Vec<String> = (0..100).map(|i| format!("w{wave}-{i:03}")).collect();
        produce(&topic, &values).await;
        produced.extend(values);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(90);
    let (ours, theirs) = loop {
        let ours = accepted.lock().unwrap().clone();
        let theirs = java.accepted();
        let n = ours.values().map(Vec::len).sum::<usize>() + theirs.len();
        if n >= produced.len() {
            break (ours, theirs);
        }
        assert!(
            Instant::now() < deadline,
            "{n} of {} accepted: ours {:?}, java {}",
            produced.len(),
            ours.iter().map(|(k, v)| (k, v.len())).collect::<Vec<_>>(),
            theirs.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // A moment more: anything accepted twice would show up now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ours_now = accepted.lock().unwrap().clone();
    assert_eq!(
        ours_now, ours,
        "nothing more after every record was accepted"
    );
    let mut all: Vec<String> = ours.values().flatten().cloned().collect();
    all.extend(java.accepted());
    all.sort();
    let mut want = produced.clone();
    want.sort();
    assert_eq!(all, want, "every record accepted exactly once");
    let busy = ours.values().filter(|v| !v.is_empty()).count() + usize::from(!theirs.is_empty());
    assert!(
        busy >= 3,
        "the partition is shared: ours {:?}, java {}",
        ours.iter().map(|(k, v)| (k, v.len())).collect::<Vec<_>>(),
        theirs.len()
    );
    assert!(!theirs.is_empty(), "the Java member accepted none");
    for t in tasks {
        t.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_member_s_records_go_to_another_member_with_count_two() {
    kafka_client_support::init_tracing();
    // The shortest lock the broker allows (group.share.min.record.lock.duration.ms).
    let (topic, group) = setup(
        "share-killed",
        &[("share.record.lock.duration.ms", "15000")],
    )
    .await;
    let values: Vec<String> = (0..5).map(|i| format!("held-{i}")).collect();
    produce(&topic, &values).await;
    let mut holder = member(&group, &topic, 5).await;
    let mut held = Vec::new();
    while held.len() < 5 {
        let r = tokio::time::timeout(Duration::from_secs(30), holder.next())
            .await
            .expect("a record")
            .expect("open")
            .expect("record");
        assert_eq!(r.delivery_count, 1);
        held.push(r);
    }
    let expires = held
        .iter()
        .filter_map(|r| r.lock_expires_at)
        .max()
        .expect("lock deadlines");
    // Killed: dropped with its records unacknowledged, no leave.
    drop(held);
    drop(holder);
    let mut other = member(&group, &topic, 10).await;
    let mut moved = Vec::new();
    while moved.len() < 5 {
        let r = tokio::time::timeout(Duration::from_secs(60), other.next())
            .await
            .expect("the held records come back")
            .expect("open")
            .expect("record");
        moved.push((text(&r), r.delivery_count));
        r.accept().expect("accept");
    }
    // The broker releases a member's records when its connection goes (the
    // share session with it), before the locks would expire; a member
    // that hangs with its connection open keeps them until the lock
    // expires (kafka_share_group's lock test).
    assert!(
        Instant::now() < expires + Duration::from_secs(5),
        "came back only well after the locks expired"
    );
    moved.sort();
    let want: Vec<(String, i16)> = values.iter().map(|v| (v.clone(), 2)).collect();
    assert_eq!(moved, want);
    other.commit().await.expect("commit");
    other.close().await.expect("close");
}
