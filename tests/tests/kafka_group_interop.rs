//! Interop: our consumers and `kcat -G` consumers (librdkafka) in one
//! group, with the same assignor, split the partitions between them, and
//! each reads the records of the partitions it was given. Whoever leads the
//! group, the others decode its assignment: librdkafka leads with range
//! and roundrobin here (kcat joins first), we lead with cooperative-sticky
//! and range (we join first). The coordinator's view (DescribeGroups) is
//! decoded with our consumer-protocol reader, kcat's members included.

mod kafka_client_support;
mod kafka_group_support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mq_client::kafka::{Admin, Assignor, GroupDescription, GroupProtocol, TopicPartition};
use mq_tests::{endpoints, names};

use kafka_client_support::topic;
use kafka_group_support::{Log, Member, Stop, eventually, produce_to_each, protocol, spawn_member};

const PARTITIONS: i32 = 12;

/// A `kcat -G` consumer; its output lines are `partition offset value`.
struct Kcat {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Kcat {
    fn start(group: &str, topic: &str, assignor: Assignor) -> Kcat {
        let mut child = Command::new("kcat")
            .args([
                "-b",
                &endpoints::kafka_bootstrap(),
                "-G",
                group,
                "-X",
                &format!("partition.assignment.strategy={}", assignor.name()),
                "-X",
                "session.timeout.ms=6000",
                "-X",
                "heartbeat.interval.ms=500",
                "-X",
                "auto.offset.reset=earliest",
                "-u",
                "-q",
                "-f",
                "%p %o %s\n",
                topic,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("kcat must be installed");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().expect("stdout");
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(l) => sink.lock().unwrap().push(l),
                    Err(_) => return,
                }
            }
        });
        Kcat { child, lines }
    }

    /// The partitions it printed records of.
    fn partitions_read(&self) -> BTreeSet<i32> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| l.split(' ').next()?.parse().ok())
            .collect()
    }
}

impl Drop for Kcat {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is_kcat(m: &mq_client::kafka::GroupMemberDescription) -> bool {
    m.client_id == "rdkafka"
}

/// The group has `total` members, three partitions each, disjoint and
/// covering the topic, and kcat's members hold `kcat_members * 3`.
fn split_evenly(d: &GroupDescription, total: usize, kcat_members: usize) -> bool {
    let mut all = BTreeSet::new();
    let mut count = 0;
    for m in &d.members {
        count += m.assignment.len();
        all.extend(m.assignment.iter().cloned());
    }
    d.state == "Stable"
        && d.members.len() == total
        && d.members.iter().filter(|m| is_kcat(m)).count() == kcat_members
        && d.members.iter().all(|m| m.assignment.len() == 3)
        && count == all.len()
        && all.len() == PARTITIONS as usize
}

async fn mixed_group(assignor: Assignor, kcat_first: bool) {
    let topic = topic("group-interop", PARTITIONS).await;
    let group = names::group("interop");
    let admin = Admin::builder(&endpoints::kafka_bootstrap())
        .build()
        .await
        .expect("admin");
    let log = Arc::new(Log::default());
    let mut kcats: Vec<Kcat> = Vec::new();
    let mut ours: Vec<Member> = Vec::new();
    let start_kcats = |kcats: &mut Vec<Kcat>| {
        kcats.push(Kcat::start(&group, &topic, assignor));
        kcats.push(Kcat::start(&group, &topic, assignor));
    };
    if kcat_first {
        start_kcats(&mut kcats);
        // Let librdkafka form the group, so one of its members leads.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(d) = admin.describe_consumer_group(&group).await {
                if d.state == "Stable" && d.members.len() == 2 {
                    break;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "kcat formed the group"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    ours.push(spawn_member("ours-1", &group, &topic, assignor, log.clone()).await);
    ours.push(spawn_member("ours-2", &group, &topic, assignor, log.clone()).await);
    if !kcat_first {
        eventually(
            "our two members split the topic",
            Duration::from_secs(30),
            || ours.iter().all(|m| m.owned().len() == 6),
        )
        .await;
        start_kcats(&mut kcats);
    }

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let described = loop {
        let d = admin
            .describe_consumer_group(&group)
            .await
            .expect("describe");
        if split_evenly(&d, 4, 2) && ours.iter().all(|m| m.owned().len() == 3) {
            break d;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{assignor}: 2 kcat and 2 of our members split the partitions: {d:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // A group of the consumer protocol (our members on KIP-848, kcat's on
    // the classic protocol, which the coordinator converts) uses the
    // server-side assignor.
    let expected = match protocol() {
        GroupProtocol::Classic => assignor.name(),
        GroupProtocol::Consumer => "uniform",
    };
    assert_eq!(described.protocol, expected);
    // Our members' listeners agree with the coordinator.
    let ours_described: BTreeSet<BTreeSet<TopicPartition>> = described
        .members
        .iter()
        .filter(|m| !is_kcat(m))
        .map(|m| m.assignment.iter().cloned().collect())
        .collect();
    let ours_heard: BTreeSet<BTreeSet<TopicPartition>> = ours.iter().map(Member::owned).collect();
    assert_eq!(ours_described, ours_heard);
    // kcat's subscriptions decode with our reader.
    for m in described.members.iter().filter(|m| is_kcat(m)) {
        let sub = m
            .subscription
            .as_ref()
            .expect("kcat's subscription decodes");
        assert_eq!(sub.topics, vec![topic.clone()]);
    }

    // Everyone reads its own partitions' records: kcat prints the
    // partitions it was given, and our members process theirs.
    produce_to_each(&topic, PARTITIONS, 5).await;
    let kcat_assigned: BTreeSet<i32> = described
        .members
        .iter()
        .filter(|m| is_kcat(m))
        .flat_map(|m| m.assignment.iter().map(|tp| tp.partition))
        .collect();
    eventually("kcat reads its partitions", Duration::from_secs(30), || {
        let read: BTreeSet<i32> = kcats.iter().flat_map(Kcat::partitions_read).collect();
        kcat_assigned == read
    })
    .await;
    let ours_assigned: BTreeSet<i32> = ours
        .iter()
        .flat_map(|m| m.owned().into_iter().map(|tp| tp.partition))
        .collect();
    eventually(
        "our members read their partitions",
        Duration::from_secs(30),
        || {
            let read: BTreeSet<i32> = log
                .processed
                .lock()
                .unwrap()
                .iter()
                .map(|p| p.partition)
                .collect();
            ours_assigned == read
        },
    )
    .await;
    for m in ours {
        m.stop(Stop::Close).await;
    }
    drop(kcats);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcat_leads_with_roundrobin() {
    mixed_group(Assignor::RoundRobin, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcat_leads_with_range() {
    mixed_group(Assignor::Range, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_lead_with_cooperative_sticky() {
    mixed_group(Assignor::CooperativeSticky, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_lead_with_range() {
    mixed_group(Assignor::Range, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcat_leads_with_cooperative_sticky() {
    mixed_group(Assignor::CooperativeSticky, true).await;
}
