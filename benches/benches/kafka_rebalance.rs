//! Rebalance time, against the real broker: three members of a fresh group
//! own a 48-partition topic; a fourth joins; a sample is the time from the
//! fourth's start until the four own 12 partitions each, as their
//! rebalance listeners report. Three protocols: classic eager (range),
//! classic cooperative (cooperative-sticky) and KIP-848 (the broker's
//! `uniform` assignor). The Java consumer (kafka-clients 4.3.1,
//! `benches/java/Rebalance.java`, compiled at start) does the same in the
//! same run, rounds alternating with ours.
//!
//! `cargo bench -p mq-benches --bench kafka_rebalance [-- ROUNDS]`
//!
//! Classic members use a 6 s session and a 500 ms heartbeat (both
//! clients); the consumer protocol's heartbeat is the broker's
//! (`group.consumer.heartbeat.interval.ms`, 1 s in `scripts/brokers`).
//! Prints each sample, then the median per protocol and client.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use mq_client::kafka::{
    Admin, Assignor, Consumer, GroupProtocol, NewTopic, Rebalance, RebalanceListener,
    TopicPartition,
};
use tokio::sync::oneshot;

const PARTITIONS: i32 = 48;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Eager,
    Cooperative,
    Consumer,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Eager => "eager",
            Mode::Cooperative => "cooperative",
            Mode::Consumer => "consumer",
        }
    }
}

#[derive(Clone, Default)]
struct Owned(Arc<Mutex<BTreeSet<TopicPartition>>>);

impl RebalanceListener for Owned {
    async fn on_assigned(&mut self, _: &mut Rebalance<'_>, parts: &[TopicPartition]) {
        self.0.lock().unwrap().extend(parts.iter().cloned());
    }
    async fn on_revoked(&mut self, _: &mut Rebalance<'_>, parts: &[TopicPartition]) {
        let mut o = self.0.lock().unwrap();
        for p in parts {
            o.remove(p);
        }
    }
    async fn on_lost(&mut self, _: &mut Rebalance<'_>, parts: &[TopicPartition]) {
        let mut o = self.0.lock().unwrap();
        for p in parts {
            o.remove(p);
        }
    }
}

struct Member {
    owned: Owned,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

async fn member(bootstrap: &str, group: &str, topic: &str, mode: Mode) -> Member {
    let owned = Owned::default();
    let builder = Consumer::builder(bootstrap).group(group);
    let builder = match mode {
        Mode::Consumer => builder.group_protocol(GroupProtocol::Consumer),
        Mode::Eager | Mode::Cooperative => builder
            .session_timeout(Duration::from_secs(6))
            .heartbeat_interval(Duration::from_millis(500))
            .assignor(if mode == Mode::Eager {
                Assignor::Range
            } else {
                Assignor::CooperativeSticky
            }),
    };
    let mut consumer = builder
        .listener(owned.clone())
        .build()
        .await
        .expect("consumer");
    consumer.subscribe([topic]).await.expect("subscribe");
    let (stop, mut stopped) = oneshot::channel();
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                r = consumer.next() => if let Some(Err(e)) = r {
                    assert!(e.is_retriable(), "member failed: {e}");
                },
            }
        }
        consumer.close().await.expect("close");
    });
    Member { owned, stop, task }
}

fn split(members: &[Member], each: usize) -> bool {
    let mut all = BTreeSet::new();
    for m in members {
        let o = m.owned.0.lock().unwrap();
        if o.len() != each {
            return false;
        }
        all.extend(o.iter().cloned());
    }
    all.len() == each * members.len()
}

async fn wait_split(members: &[Member], each: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !split(members, each) {
        assert!(Instant::now() < deadline, "never split {each} each");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// One sample of ours, in milliseconds.
async fn ours(bootstrap: &str, topic: &str, mode: Mode, round: usize) -> u128 {
    let group = format!(
        "bench-rebalance-mq-{}-{round}-{}",
        mode.name(),
        std::process::id()
    );
    let mut members = Vec::new();
    for _ in 0..3 {
        members.push(member(bootstrap, &group, topic, mode).await);
    }
    wait_split(&members, 16).await;
    let start = Instant::now();
    members.push(member(bootstrap, &group, topic, mode).await);
    wait_split(&members, 12).await;
    let ms = start.elapsed().as_millis();
    for m in members {
        let _ = m.stop.send(());
        m.task.await.expect("member task");
    }
    ms
}

/// Compiles the Java side into the target directory.
fn compile_java() -> PathBuf {
    let libs = mq_tests::tools::kafka_libs();
    let out = std::env::temp_dir().join(format!("mq-bench-rebalance-{}", std::process::id()));
    std::fs::create_dir_all(&out).expect("class dir");
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("java/Rebalance.java");
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

/// One sample of the Java consumer, in milliseconds.
fn java(classes: &std::path::Path, bootstrap: &str, topic: &str, mode: Mode) -> u128 {
    let libs = mq_tests::tools::kafka_libs();
    let out = Command::new("java")
        .arg("-cp")
        .arg(format!("{}/*:{}", libs.display(), classes.display()))
        .args(["Rebalance", bootstrap, topic, mode.name(), "1"])
        .output()
        .expect("java");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "java failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("sample {} ", mode.name())))
        .and_then(|ms| ms.trim().parse().ok())
        .expect("a sample line")
}

fn median(v: &mut [u128]) -> u128 {
    v.sort_unstable();
    v[v.len() / 2]
}

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5);
    let bootstrap = mq_tests::endpoints::kafka_bootstrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let topic = mq_tests::names::topic("bench-rebalance");
    rt.block_on(async {
        let admin = Admin::builder(&bootstrap).build().await.expect("admin");
        admin
            .create_topics([NewTopic::new(&topic, PARTITIONS, 1)])
            .await
            .expect("topic");
    });
    let classes = compile_java();
    let mut rows = Vec::new();
    for mode in [Mode::Eager, Mode::Cooperative, Mode::Consumer] {
        let (mut mq, mut jv) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            let a = rt.block_on(ours(&bootstrap, &topic, mode, round));
            let b = java(&classes, &bootstrap, &topic, mode);
            println!("sample {} mq {a} ms, java {b} ms", mode.name());
            mq.push(a);
            jv.push(b);
        }
        rows.push((mode, median(&mut mq), median(&mut jv)));
    }
    println!(
        "\nrebalance time, 4th member joins 3 on {PARTITIONS} partitions, median of {rounds}:"
    );
    for (mode, a, b) in rows {
        println!("  {:<12} mq {a:>5} ms   java {b:>5} ms", mode.name());
    }
}
