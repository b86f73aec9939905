//! Share groups (KIP-932) against the real Kafka 4.3 broker: records of
//! one partition shared by two members, each accepted once; release
//! (redelivered with delivery count 2) and reject (never again); a lock
//! that expires moves the record to another member, and the stale
//! acknowledgement is refused with INVALID_RECORD_STATE; the bound on
//! records in flight; implicit acknowledgement; ShareGroupDescribe.
//!
//! A new share group starts at the latest offset
//! (`share.auto.offset.reset=latest`): every test sets its group's
//! `share.auto.offset.reset` to `earliest` first (IncrementalAlterConfigs
//! on the GROUP resource, type 32).

mod kafka_client_support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use mq_client::kafka::{
    Admin, AlterConfigOp, ConfigResource, Error, ErrorCode, Producer, ProducerRecord,
    ShareConsumer, ShareRecord,
};
use mq_tests::{endpoints, names};

async fn admin() -> Admin {
    Admin::builder(&endpoints::kafka_bootstrap())
        .build()
        .await
        .expect("admin")
}

/// A one-partition topic and a share group reading it from the start,
/// with these other group configs.
async fn setup(prefix: &str, group_configs: &[(&str, &str)]) -> (String, String) {
    let topic = kafka_client_support::topic(prefix, 1).await;
    let group = names::group(prefix);
    let mut ops = vec![AlterConfigOp::set("share.auto.offset.reset", "earliest")];
    ops.extend(
        group_configs
            .iter()
            .map(|(k, v)| AlterConfigOp::set(*k, *v)),
    );
    admin()
        .await
        .incremental_alter_configs(ConfigResource::Group(group.clone()), &ops)
        .await
        .expect("group configs");
    (topic, group)
}

async fn produce(topic: &str, values: impl IntoIterator<Item = String>) {
    let producer = Producer::builder(&endpoints::kafka_bootstrap())
        .build()
        .await
        .expect("producer");
    for v in values {
        producer
            .send(ProducerRecord::new(topic).value(&v))
            .await
            .expect("produce");
    }
    producer.close().await.expect("close producer");
}

fn values(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("v{i}")).collect()
}

async fn consumer(
    group: &str,
    topic: &str,
    tune: impl FnOnce(mq_client::kafka::ShareConsumerBuilder) -> mq_client::kafka::ShareConsumerBuilder,
) -> ShareConsumer {
    let builder = ShareConsumer::builder(&endpoints::kafka_bootstrap())
        .group(group)
        .subscribe([topic])
        .fetch_max_wait(Duration::from_millis(200));
    tune(builder).build().await.expect("share consumer")
}

/// The next record within `wait`, or `None`; an error item fails the test.
async fn next_within(c: &mut ShareConsumer, wait: Duration) -> Option<ShareRecord> {
    match tokio::time::timeout(wait, c.next()).await {
        Ok(Some(Ok(r))) => Some(r),
        Ok(Some(Err(e))) => panic!("share consumer error: {e}"),
        Ok(None) => panic!("share consumer stream ended"),
        Err(_) => None,
    }
}

fn text(r: &ShareRecord) -> String {
    String::from_utf8(r.value().expect("value").to_vec()).expect("utf-8")
}

/// Waits until the consumer has been assigned a partition.
async fn assigned(c: &ShareConsumer) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while c.assignment().is_empty() {
        assert!(Instant::now() < deadline, "no assignment within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Checks that a fresh member of `group` is handed nothing for `wait`:
/// every record was accepted or rejected (none is available any more).
async fn nothing_left(group: &str, topic: &str, wait: Duration) {
    let mut c = consumer(group, topic, |b| b).await;
    if let Some(r) = next_within(&mut c, wait).await {
        panic!(
            "offset {} ({}) was delivered again, delivery count {}",
            r.offset,
            text(&r),
            r.delivery_count
        );
    }
    c.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_share_one_partition_and_accept_each_record_once() {
    const N: usize = 300;
    let (topic, group) = setup("share-two", &[]).await;
    let tune = |b: mq_client::kafka::ShareConsumerBuilder| b.max_poll_records(10).max_in_flight(10);
    let a = consumer(&group, &topic, tune).await;
    let b = consumer(&group, &topic, tune).await;
    assigned(&a).await;
    assigned(&b).await;
    assert_eq!(a.assignment(), vec![(topic.clone(), 0)]);
    assert_eq!(b.assignment(), vec![(topic.clone(), 0)]);
    produce(&topic, values(N)).await;

    let accepted: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    let mut tasks = Vec::new();
    for mut c in [a, b] {
        let accepted = accepted.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = 0usize;
            let deadline = Instant::now() + Duration::from_secs(60);
            while accepted.lock().unwrap().len() < N && Instant::now() < deadline {
                let Some(r) = next_within(&mut c, Duration::from_millis(500)).await else {
                    continue;
                };
                assert_eq!(r.delivery_count, 1, "no record is delivered twice here");
                // Work a little, so that both members hold records.
                tokio::time::sleep(Duration::from_millis(2)).await;
                r.accept().expect("accept");
                *accepted.lock().unwrap().entry(text(&r)).or_default() += 1;
                mine += 1;
            }
            c.commit().await.expect("commit");
            c.close().await.expect("close");
            mine
        }));
    }
    let mut counts = Vec::new();
    for t in tasks {
        counts.push(t.await.expect("task"));
    }
    let accepted = accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), N, "every record accepted");
    assert!(
        accepted.values().all(|&n| n == 1),
        "a record accepted twice"
    );
    assert_eq!(counts.iter().sum::<usize>(), N);
    assert!(
        counts.iter().all(|&n| n > 0),
        "both members received records: {counts:?}"
    );
    nothing_left(&group, &topic, Duration::from_secs(3)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_record_comes_back_with_count_two_and_a_rejected_one_never() {
    let (topic, group) = setup("share-release", &[]).await;
    produce(&topic, ["release-me".to_owned(), "reject-me".to_owned()]).await;
    let mut c = consumer(&group, &topic, |b| b).await;
    let first = next_within(&mut c, Duration::from_secs(30))
        .await
        .expect("first delivery");
    let second = next_within(&mut c, Duration::from_secs(10))
        .await
        .expect("second delivery");
    assert_eq!(
        (text(&first), first.delivery_count),
        ("release-me".to_owned(), 1)
    );
    assert_eq!(
        (text(&second), second.delivery_count),
        ("reject-me".to_owned(), 1)
    );
    first.release().expect("release");
    second.reject().expect("reject");
    // A record is acknowledged once.
    let again = second.accept().unwrap_err();
    assert!(
        matches!(
            again,
            Error::Broker {
                code: ErrorCode::INVALID_RECORD_STATE,
                ..
            }
        ),
        "{again}"
    );
    c.commit()
        .await
        .expect("the broker takes the release and the reject");

    let back = next_within(&mut c, Duration::from_secs(10))
        .await
        .expect("the released record is delivered again");
    assert_eq!(
        (text(&back), back.offset, back.delivery_count),
        ("release-me".to_owned(), first.offset, 2)
    );
    back.accept().expect("accept");
    assert!(
        next_within(&mut c, Duration::from_secs(3)).await.is_none(),
        "the rejected record is not delivered again"
    );
    c.commit().await.expect("commit");
    c.close().await.expect("close");
    nothing_left(&group, &topic, Duration::from_secs(3)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_lock_moves_the_record_and_the_stale_accept_is_refused() {
    // The broker's floor for the lock is group.share.min.record.lock.duration.ms,
    // 15 s by default (this broker keeps it): the shortest lock it allows.
    let (topic, group) = setup("share-lock", &[("share.record.lock.duration.ms", "15000")]).await;
    produce(&topic, ["held".to_owned()]).await;
    // Holds one record at most, so it fetches nothing more while it holds it.
    let mut holder = consumer(&group, &topic, |b| b.max_in_flight(1)).await;
    let held = next_within(&mut holder, Duration::from_secs(30))
        .await
        .expect("delivered to the holder");
    assert_eq!((text(&held), held.delivery_count), ("held".to_owned(), 1));
    let expires = held.lock_expires_at.expect("the lock's end");
    let lock = expires.saturating_duration_since(Instant::now());
    assert!(
        lock > Duration::from_secs(10) && lock <= Duration::from_secs(15),
        "the group's lock duration is in the answer: {lock:?}"
    );

    let mut other = consumer(&group, &topic, |b| b).await;
    let moved = next_within(&mut other, Duration::from_secs(40))
        .await
        .expect("redelivered to the other member once the lock expired");
    assert!(Instant::now() >= expires - Duration::from_secs(1));
    assert_eq!(
        (text(&moved), moved.offset, moved.delivery_count),
        ("held".to_owned(), held.offset, 2)
    );
    // The first holder's lock is gone and the record is the other
    // member's now: its accept is refused, not lost. (Once the other
    // member has accepted it, the broker archives the offset and ignores
    // acknowledgements below its start offset without an error.)
    // The accept goes with the holder's next ShareFetch (its refusal then
    // comes from the stream) or with this commit's ShareAcknowledge (from
    // the commit), whichever leaves first.
    held.accept().expect("recorded locally");
    let refused = match holder.commit().await {
        Err(e) => e,
        Ok(()) => match tokio::time::timeout(Duration::from_secs(10), holder.next()).await {
            Ok(Some(Err(e))) => e,
            Ok(Some(Ok(r))) => panic!("a record instead of the refusal: {r:?}"),
            other => panic!("no refusal of the stale accept: {other:?}"),
        },
    };
    assert!(
        matches!(
            refused,
            Error::Broker {
                code: ErrorCode::INVALID_RECORD_STATE,
                ..
            }
        ),
        "{refused}"
    );
    assert!(
        refused
            .to_string()
            .contains(&format!("offsets {}", held.offset)),
        "{refused}"
    );

    moved.accept().expect("accept");
    other
        .commit()
        .await
        .expect("the new holder's accept is taken");
    holder.close().await.expect("close");
    other.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_in_flight_never_pass_the_bound() {
    const N: usize = 60;
    const BOUND: usize = 7;
    let (topic, group) = setup("share-bound", &[]).await;
    produce(&topic, values(N)).await;
    let mut c = consumer(&group, &topic, |b| {
        b.max_in_flight(BOUND).max_poll_records(5)
    })
    .await;
    let mut held: Vec<ShareRecord> = Vec::new();
    let mut seen = 0usize;
    let mut max_held = 0usize;
    let mut stalls = 0usize;
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen < N {
        assert!(
            Instant::now() < deadline,
            "only {seen} of {N} records within 60 s"
        );
        match next_within(&mut c, Duration::from_millis(1500)).await {
            Some(r) => {
                seen += 1;
                held.push(r);
                max_held = max_held.max(held.len());
                assert!(c.in_flight() <= BOUND, "{} in flight", c.in_flight());
                assert!(held.len() <= BOUND, "{} held", held.len());
            }
            None if seen == 0 => {} // still joining
            None => {
                // Nothing more while the bound is reached: acknowledge
                // what is held, and records flow again.
                assert_eq!(held.len(), BOUND.min(N - (seen - held.len())));
                stalls += 1;
                for r in held.drain(..) {
                    r.accept().expect("accept");
                }
            }
        }
    }
    for r in held.drain(..) {
        r.accept().expect("accept");
    }
    assert_eq!(max_held, BOUND, "the bound was reached");
    assert!(
        stalls >= N / BOUND - 1,
        "fetching stopped at the bound: {stalls} stalls"
    );
    c.commit().await.expect("commit");
    c.close().await.expect("close");
    nothing_left(&group, &topic, Duration::from_secs(3)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_mode_accepts_what_was_handed_out() {
    const N: usize = 20;
    let (topic, group) = setup("share-implicit", &[]).await;
    produce(&topic, values(N)).await;
    let mut c = consumer(&group, &topic, |b| {
        b.acknowledgement_mode(mq_client::kafka::AcknowledgementMode::Implicit)
    })
    .await;
    let mut got = Vec::new();
    while got.len() < N {
        let r = next_within(&mut c, Duration::from_secs(30))
            .await
            .expect("a record");
        got.push(text(&r));
    }
    assert_eq!(got, values(N));
    c.close()
        .await
        .expect("close: the last record is accepted too");
    nothing_left(&group, &topic, Duration::from_secs(3)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_group_describe_shows_the_group_and_its_members() {
    let (topic, group) = setup("share-describe", &[]).await;
    let a = consumer(&group, &topic, |b| b.client_id("share-a")).await;
    let b = consumer(&group, &topic, |b| b.client_id("share-b")).await;
    assigned(&a).await;
    assigned(&b).await;
    let admin = admin().await;
    let described = admin.describe_share_group(&group).await.expect("describe");
    assert_eq!(described.group_id, group);
    assert_eq!(described.state, "Stable");
    assert!(described.group_epoch >= 2, "{described:?}");
    let mut members: Vec<(String, String)> = described
        .members
        .iter()
        .map(|m| (m.member_id.clone(), m.client_id.clone()))
        .collect();
    members.sort();
    let mut expected = vec![
        (a.member_id(), "share-a".to_owned()),
        (b.member_id(), "share-b".to_owned()),
    ];
    expected.sort();
    assert_eq!(members, expected);
    for m in &described.members {
        assert_eq!(m.subscribed_topics, vec![topic.clone()]);
        assert_eq!(m.assignment, vec![(topic.clone(), 0)]);
        assert!(m.member_epoch > 0);
    }
    a.close().await.expect("close");
    b.close().await.expect("close");

    let missing = admin
        .describe_share_group(&names::group("share-none"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            missing,
            Error::Broker {
                code: ErrorCode::GROUP_ID_NOT_FOUND,
                ..
            }
        ),
        "{missing}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_id_taken_by_a_consumer_group_is_an_error_to_match_on() {
    let (topic, _) = setup("share-taken", &[]).await;
    produce(&topic, ["x".to_owned()]).await;
    let group = names::group("share-taken");
    let mut classic = mq_client::kafka::Consumer::builder(&endpoints::kafka_bootstrap())
        .group(&group)
        .auto_offset_reset(mq_client::kafka::OffsetReset::Earliest)
        .build()
        .await
        .expect("consumer");
    classic
        .subscribe([topic.as_str()])
        .await
        .expect("subscribe");
    let first = tokio::time::timeout(Duration::from_secs(30), classic.next())
        .await
        .expect("a record within 30 s")
        .expect("stream open")
        .expect("record");
    classic.commit(&first).await.expect("commit");

    let mut share = consumer(&group, &topic, |b| b).await;
    let item = tokio::time::timeout(Duration::from_secs(30), share.next())
        .await
        .expect("an answer within 30 s")
        .expect("the error, then the end");
    let e = item.expect_err("the group id is a consumer group's");
    assert!(
        matches!(
            e,
            Error::Broker {
                code: ErrorCode::GROUP_ID_NOT_FOUND | ErrorCode::INCONSISTENT_GROUP_PROTOCOL,
                ..
            }
        ),
        "{e}"
    );
    println!("share consumer on a consumer group's id: {e}");
    assert!(!e.is_retriable(), "{e}");
    assert!(share.next().await.is_none(), "the stream ends after it");
    share.close().await.expect("close");
    classic.close().await.expect("close");
}
