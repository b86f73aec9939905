//! The rebalance listener commits inside `on_revoked`: a consumer that
//! never commits while consuming hands its partitions over with their
//! processed offsets committed from the listener, so the member that takes
//! them over starts exactly after the last processed record, even when an
//! older offset was marked processed before.

mod kafka_client_support;
mod kafka_group_support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use mq_client::kafka::{
    Assignor, OffsetAndEpoch, Rebalance, RebalanceListener, Result, TopicPartition,
};
use mq_tests::names;

use kafka_client_support::topic;
use kafka_group_support::{Log, Stop, builder, eventually, produce_to_each, spawn_member};

/// One commit made inside `on_revoked`: the offsets and what it returned.
type RevokeCommit = (Vec<(TopicPartition, OffsetAndEpoch)>, Result<()>);

/// Commits what the application recorded as processed for the revoked
/// partitions, from inside `on_revoked`.
#[derive(Clone, Default)]
struct CommitOnRevoke {
    processed: Arc<Mutex<BTreeMap<TopicPartition, OffsetAndEpoch>>>,
    commits: Arc<Mutex<Vec<RevokeCommit>>>,
}

impl RebalanceListener for CommitOnRevoke {
    async fn on_revoked(&mut self, ctx: &mut Rebalance<'_>, partitions: &[TopicPartition]) {
        let offsets: Vec<(TopicPartition, OffsetAndEpoch)> = {
            let processed = self.processed.lock().unwrap();
            partitions
                .iter()
                .filter_map(|tp| processed.get(tp).map(|oe| (tp.clone(), *oe)))
                .collect()
        };
        let result = ctx.commit(&offsets).await;
        self.commits.lock().unwrap().push((offsets, result));
    }
}

async fn commits_inside_on_revoked(assignor: Assignor) {
    let topic = topic("group-revoke-commit", 4).await;
    let group = names::group("revoke-commit");
    produce_to_each(&topic, 4, 10).await;
    let listener = CommitOnRevoke::default();
    let mut a = builder(&group)
        .assignor(assignor)
        .listener(listener.clone())
        .build()
        .await
        .expect("consumer");
    a.subscribe([topic.as_str()]).await.expect("subscribe");
    // a processes 5 records of each partition and commits nothing.
    let mut taken: BTreeMap<i32, i64> = BTreeMap::new();
    while taken.values().filter(|&&n| n == 5).count() < 4 {
        let r = tokio::time::timeout(Duration::from_secs(30), a.next())
            .await
            .expect("record in time")
            .expect("open")
            .expect("record");
        let n = taken.entry(r.partition).or_insert(0);
        if *n == 5 {
            continue;
        }
        *n += 1;
        if *n == 3 {
            // An older processed mark than what on_revoked commits: the
            // commit of processed marks after the listener returns must
            // not move the committed offset back to it.
            a.mark_processed(&r);
        }
        listener.processed.lock().unwrap().insert(
            TopicPartition::new(r.topic(), r.partition),
            OffsetAndEpoch::new(r.offset + 1, r.leader_epoch),
        );
    }
    // b joins; a keeps polling (so it can rebalance) but processes no more.
    let log = Arc::new(Log::default());
    let b = spawn_member("b", &group, &topic, assignor, log.clone()).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while b.owned().len() != 2 {
        assert!(tokio::time::Instant::now() < deadline, "b got its share");
        let _ = tokio::time::timeout(Duration::from_millis(100), a.next()).await;
    }
    // Every commit made inside on_revoked succeeded, for what a processed.
    let commits = listener.commits.lock().unwrap().clone();
    assert!(!commits.is_empty(), "a revoked something");
    for (offsets, result) in &commits {
        assert!(result.is_ok(), "commit inside on_revoked: {result:?}");
        assert!(offsets.iter().all(|(_, oe)| oe.offset == 5), "{offsets:?}");
    }
    // b starts each of its partitions right after the last record a
    // processed: offset 5, no record read twice.
    eventually("b reads its partitions", Duration::from_secs(30), || {
        log.processed.lock().unwrap().len() >= 10
    })
    .await;
    let firsts: BTreeMap<i32, i64> =
        log.processed
            .lock()
            .unwrap()
            .iter()
            .fold(BTreeMap::new(), |mut m, p| {
                m.entry(p.partition).or_insert(p.offset);
                m
            });
    assert_eq!(firsts.len(), 2);
    assert!(firsts.values().all(|&o| o == 5), "{firsts:?}");
    a.close().await.expect("close");
    b.stop(Stop::Close).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_inside_on_revoked_eager() {
    commits_inside_on_revoked(Assignor::Range).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_inside_on_revoked_cooperative() {
    commits_inside_on_revoked(Assignor::CooperativeSticky).await;
}
