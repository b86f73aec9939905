//! Share-group consume throughput (KIP-932), against the real broker: one
//! share consumer of a fresh share group (started at the earliest offset)
//! reads every record of a one-partition topic, accepting each one
//! (explicit acknowledgement), and commits at the end. Ours and the Java
//! `KafkaShareConsumer` (kafka-clients 4.3.1, `benches/java/ShareConsume.java`,
//! compiled at start) take turns on the same topic, a fresh group each.
//!
//! `cargo bench -p mq-benches --bench kafka_share [-- ROUNDS]`
//!
//! The clock and the CPU time (the process's user + system, the JVM's
//! for Java) run from the first record handed out to the end of the
//! commit, so joining the group is left out for both. Both use their
//! defaults otherwise (ours: 500 records per fetch, 1,000 in flight; Java:
//! `max.poll.records` 500). Prints each sample and the medians.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use mq_benches::cpu_time;
use mq_client::kafka::{
    Admin, AlterConfigOp, ConfigResource, NewTopic, Producer, ProducerRecord, ShareConsumer,
};

const RECORDS: u64 = 200_000;

async fn fill(bootstrap: &str, topic: &str) {
    let admin = Admin::builder(bootstrap).build().await.expect("admin");
    admin
        .create_topics([NewTopic::new(topic, 1, 1)])
        .await
        .expect("topic");
    let producer = Producer::builder(bootstrap)
        .linger(Duration::from_millis(5))
        .build()
        .await
        .expect("producer");
    let value = vec![b'x'; 100];
    let mut pending = Vec::new();
    for i in 0..RECORDS {
        let key = format!("{i:08}");
        pending.push(
            producer
                .enqueue(ProducerRecord::new(topic).key(key.as_bytes()).value(&value))
                .await
                .expect("queued"),
        );
        if pending.len() >= 10_000 {
            for p in pending.drain(..) {
                p.await.expect("produced");
            }
        }
    }
    for p in pending {
        p.await.expect("produced");
    }
    producer.close().await.expect("close");
}

/// One round of ours: (msgs/s, CPU ns per message).
async fn ours(bootstrap: &str, topic: &str, round: usize) -> (f64, f64) {
    let group = format!("bench-share-mq-{round}-{}", std::process::id());
    let admin = Admin::builder(bootstrap).build().await.expect("admin");
    admin
        .incremental_alter_configs(
            ConfigResource::Group(group.clone()),
            &[AlterConfigOp::set("share.auto.offset.reset", "earliest")],
        )
        .await
        .expect("group config");
    let mut consumer = ShareConsumer::builder(bootstrap)
        .group(&group)
        .subscribe([topic])
        .build()
        .await
        .expect("share consumer");
    let mut seen = 0u64;
    let mut start = None;
    while seen < RECORDS {
        let record = tokio::time::timeout(Duration::from_secs(60), consumer.next())
            .await
            .expect("a record within 60 s")
            .expect("open")
            .expect("record");
        if start.is_none() {
            start = Some((Instant::now(), cpu_time()));
        }
        record.accept().expect("accept");
        seen += 1;
    }
    consumer.commit().await.expect("commit");
    let (t0, c0) = start.expect("records");
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_time().saturating_sub(c0);
    consumer.close().await.expect("close");
    (seen as f64 / secs, cpu.as_nanos() as f64 / seen as f64)
}

fn compile_java() -> PathBuf {
    let libs = mq_tests::tools::kafka_libs();
    let out = std::env::temp_dir().join(format!("mq-bench-share-{}", std::process::id()));
    std::fs::create_dir_all(&out).expect("class dir");
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("java/ShareConsume.java");
    let status = Command::new("javac")
        .arg("-d")
        .arg(&out)
        .arg("-cp")
        .arg(format!("{}/*", libs.display()))
        .arg(&src)
        .status()
        .expect("javac (a JDK) is needed");
    assert!(status.success(), "javac failed");
    out
}

/// One round of the Java share consumer: (msgs/s, CPU ns per message).
fn java(classes: &Path, bootstrap: &str, topic: &str) -> (f64, f64) {
    let libs = mq_tests::tools::kafka_libs();
    let out = Command::new("java")
        .arg("-cp")
        .arg(format!("{}/*:{}", libs.display(), classes.display()))
        .args(["ShareConsume", bootstrap, topic, &RECORDS.to_string()])
        .output()
        .expect("java");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "java failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("sample java "))
        .expect("a sample line");
    let mut f = line
        .split_whitespace()
        .map(|v| v.parse::<f64>().expect("a number"));
    (f.next().expect("msgs/s"), f.next().expect("cpu ns"))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(3);
    let bootstrap = mq_tests::endpoints::kafka_bootstrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let topic = mq_tests::names::topic("bench-share");
    rt.block_on(fill(&bootstrap, &topic));
    let classes = compile_java();
    let (mut mq_rate, mut mq_cpu, mut jv_rate, mut jv_cpu) = (vec![], vec![], vec![], vec![]);
    for round in 0..rounds {
        let (r, c) = rt.block_on(ours(&bootstrap, &topic, round));
        let (jr, jc) = java(&classes, &bootstrap, &topic);
        println!("sample mq {r:.0} msgs/s {c:.0} ns/msg, java {jr:.0} msgs/s {jc:.0} ns/msg");
        mq_rate.push(r);
        mq_cpu.push(c);
        jv_rate.push(jr);
        jv_cpu.push(jc);
    }
    println!("\nshare-group consume, {RECORDS} records of 100 B, median of {rounds}:");
    println!(
        "  mq-client  {:>9.0} msgs/s  {:>6.0} ns CPU/msg",
        median(&mut mq_rate),
        median(&mut mq_cpu)
    );
    println!(
        "  java 4.3.1 {:>9.0} msgs/s  {:>6.0} ns CPU/msg",
        median(&mut jv_rate),
        median(&mut jv_cpu)
    );
}
