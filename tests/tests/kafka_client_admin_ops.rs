//! The operators' admin operations against the real broker: preferred and
//! unclean leader elections, partition reassignments (and cancelling
//! them), log directories, producers and transactions of an open
//! transaction, and SCRAM credentials that a client then logs in with
//! (and no longer can once they are deleted).

mod kafka_client_support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use mq_client::kafka::{
    Admin, ClientConfig, ElectionType, Error, ErrorCode, ListTransactionsOptions, Producer,
    ProducerRecord, ScramMechanism, TopicPartition, UserScramCredentialAlteration,
};
use mq_tests::{endpoints, names};

async fn admin() -> Admin {
    kafka_client_support::init_tracing();
    Admin::builder(&endpoints::kafka_bootstrap())
        .operation_timeout(Duration::from_secs(20))
        .build()
        .await
        .expect("admin")
}

fn code_of<T: std::fmt::Debug>(r: &Result<T, Error>) -> Option<ErrorCode> {
    match r {
        Err(Error::Broker { code, .. }) => Some(*code),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elect_leaders_answers_per_partition() {
    let admin = admin().await;
    let topic = kafka_client_support::topic("elect", 2).await;
    let parts = [
        TopicPartition::new(topic.as_str(), 0),
        TopicPartition::new(topic.as_str(), 1),
    ];

    // One broker: the preferred replica already leads every partition.
    for election in [ElectionType::Preferred, ElectionType::Unclean] {
        let results = admin
            .elect_leaders(election, Some(&parts))
            .await
            .expect("elect");
        assert_eq!(
            results.keys().cloned().collect::<Vec<_>>(),
            parts,
            "{election:?}"
        );
        for (tp, r) in &results {
            assert_eq!(
                code_of(r),
                Some(ErrorCode::ELECTION_NOT_NEEDED),
                "{election:?} {tp}: {r:?}"
            );
        }
    }

    let missing = TopicPartition::new(names::topic("elect-missing").as_str(), 0);
    let results = admin
        .elect_leaders(
            ElectionType::Preferred,
            Some(std::slice::from_ref(&missing)),
        )
        .await
        .expect("elect");
    let r = results
        .get(&missing)
        .expect("a result for the unknown topic");
    assert_eq!(
        code_of(r),
        Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
        "{r:?}"
    );
    assert!(
        r.as_ref()
            .unwrap_err()
            .to_string()
            .contains(&*missing.topic),
        "{r:?}"
    );

    // Every partition of the cluster: none needs an election, and the
    // broker answers only for partitions it had to elect or failed.
    let all = admin
        .elect_leaders(ElectionType::Preferred, None)
        .await
        .expect("elect all");
    assert!(all.values().all(|r| r.is_err()), "{all:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reassignments_move_refuse_and_cancel() {
    let admin = admin().await;
    let topic = kafka_client_support::topic("reassign", 1).await;
    let tp = TopicPartition::new(topic.as_str(), 0);
    let described = admin
        .describe_topics([topic.as_str()])
        .await
        .expect("describe");
    let leader = described[0].partitions[0].leader;
    assert!(leader >= 0);

    // To the broker it is on: accepted, and done at once.
    let results = admin
        .alter_partition_reassignments(&BTreeMap::from([(tp.clone(), Some(vec![leader]))]))
        .await
        .expect("reassign");
    assert!(matches!(results.get(&tp), Some(Ok(()))), "{results:?}");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let ongoing = admin
            .list_partition_reassignments(Some(std::slice::from_ref(&tp)))
            .await
            .expect("list");
        let everywhere = admin
            .list_partition_reassignments(None)
            .await
            .expect("list all");
        if ongoing.is_empty() && !everywhere.contains_key(&tp) {
            break;
        }
        assert!(Instant::now() < deadline, "still ongoing: {ongoing:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // To a broker that does not exist: refused by the controller.
    let results = admin
        .alter_partition_reassignments(&BTreeMap::from([(tp.clone(), Some(vec![leader + 9000]))]))
        .await
        .expect("reassign");
    let r = results.get(&tp).expect("a result");
    assert_eq!(
        code_of(r),
        Some(ErrorCode::INVALID_REPLICA_ASSIGNMENT),
        "{r:?}"
    );
    assert!(!r.as_ref().unwrap_err().is_retriable());

    // Cancelling with nothing under way.
    let results = admin
        .alter_partition_reassignments(&BTreeMap::from([(tp.clone(), None)]))
        .await
        .expect("cancel");
    let r = results.get(&tp).expect("a result");
    assert_eq!(
        code_of(r),
        Some(ErrorCode::NO_REASSIGNMENT_IN_PROGRESS),
        "{r:?}"
    );
    let described = admin
        .describe_topics([topic.as_str()])
        .await
        .expect("describe");
    assert_eq!(described[0].partitions[0].replicas, vec![leader]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_dirs_list_the_topic_and_grow_after_producing() {
    let admin = admin().await;
    let topic = kafka_client_support::topic("logdirs", 2).await;
    let brokers: Vec<i32> = admin
        .describe_cluster()
        .await
        .expect("cluster")
        .brokers
        .iter()
        .map(|b| b.node_id)
        .collect();
    let tp0 = TopicPartition::new(topic.as_str(), 0);
    let tp1 = TopicPartition::new(topic.as_str(), 1);
    // The sizes of the topic's two partitions (one replica each), once the
    // brokers list both: they create the logs as they apply the new topic.
    // On a cluster the two may sit on different brokers.
    let sizes = || async {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let dirs = admin.describe_log_dirs(&brokers).await.expect("log dirs");
            assert_eq!(dirs.len(), brokers.len());
            let size_of = |tp: &TopicPartition| {
                let holding: Vec<_> = dirs
                    .values()
                    .flatten()
                    .filter_map(|d| d.replicas.get(tp).map(|r| (d, r)))
                    .collect();
                let [(dir, r)] = holding[..] else {
                    return None;
                };
                assert!(
                    dir.error.is_none() && dir.path.starts_with('/'),
                    "{}",
                    dir.path
                );
                let total = dir.total_bytes.expect("total bytes (v4+)");
                let usable = dir.usable_bytes.expect("usable bytes (v4+)");
                assert!(usable > 0 && usable <= total, "{usable} of {total}");
                assert!(!r.is_future && r.offset_lag == 0, "{r:?}");
                Some(r.size)
            };
            if let (Some(s0), Some(s1)) = (size_of(&tp0), size_of(&tp1)) {
                return (s0, s1);
            }
            assert!(
                Instant::now() < deadline,
                "{tp0} and {tp1} not each in one log dir"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let before = sizes().await;
    assert_eq!(before, (0, 0));

    let producer = Producer::builder(&endpoints::kafka_bootstrap())
        .build()
        .await
        .expect("producer");
    let value = vec![b'x'; 1000];
    for _ in 0..50 {
        producer
            .send(ProducerRecord::new(&topic).partition(0).value(&value))
            .await
            .expect("send");
    }
    producer.close().await.expect("close");
    let after = sizes().await;
    assert!(after.0 >= 50_000 && after.1 == 0, "{before:?} -> {after:?}");

    let unknown = admin.describe_log_dirs(&[brokers[0] + 9000]).await;
    assert!(
        matches!(unknown, Err(Error::NoBrokerAvailable(_))),
        "{unknown:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_transaction_is_listed_described_and_its_producer_shown() {
    let admin = admin().await;
    let topic = kafka_client_support::topic("txn-admin", 2).await;
    let id = names::unique("txn-admin");
    let producer = Producer::builder(&endpoints::kafka_bootstrap())
        .transactional_id(&id)
        .build()
        .await
        .expect("producer");
    producer.init_transactions().await.expect("init");
    producer.begin_transaction().await.expect("begin");
    for partition in [0, 1] {
        producer
            .send(
                ProducerRecord::new(&topic)
                    .partition(partition)
                    .value("open"),
            )
            .await
            .expect("send");
    }
    let parts: BTreeSet<TopicPartition> = [0, 1]
        .map(|p| TopicPartition::new(topic.as_str(), p))
        .into();

    let ongoing = admin
        .list_transactions(&ListTransactionsOptions::default().state("Ongoing"))
        .await
        .expect("list");
    let listed = ongoing
        .iter()
        .find(|t| t.transactional_id == id)
        .unwrap_or_else(|| panic!("{id} in {ongoing:?}"));
    assert_eq!(listed.state, "Ongoing");
    assert!(ongoing.iter().all(|t| t.state == "Ongoing"), "{ongoing:?}");
    let pid = listed.producer_id;
    let by_pid = admin
        .list_transactions(&ListTransactionsOptions::default().producer_id(pid))
        .await
        .expect("list by producer id");
    assert_eq!(
        by_pid
            .iter()
            .map(|t| t.transactional_id.as_str())
            .collect::<Vec<_>>(),
        [id.as_str()]
    );
    let committed = admin
        .list_transactions(
            &ListTransactionsOptions::default()
                .producer_id(pid)
                .state("CompleteCommit"),
        )
        .await
        .expect("list committed");
    assert!(committed.is_empty(), "{committed:?}");
    // The newer filters (ListTransactions v1 and v2): not yet open an
    // hour; an id pattern that matches it, and one that does not.
    let ids = |listed: Vec<mq_client::kafka::TransactionListing>| {
        listed
            .into_iter()
            .map(|t| t.transactional_id)
            .collect::<Vec<_>>()
    };
    let old = admin
        .list_transactions(
            &ListTransactionsOptions::default()
                .producer_id(pid)
                .longer_than(Duration::from_secs(3600)),
        )
        .await
        .expect("list by duration");
    assert!(old.is_empty(), "{old:?}");
    let young = admin
        .list_transactions(&ListTransactionsOptions::default().longer_than(Duration::ZERO))
        .await
        .expect("list by duration");
    assert!(ids(young).contains(&id));
    let pattern = format!("^{}$", id.replace('.', "\\."));
    let matching = admin
        .list_transactions(&ListTransactionsOptions::default().transactional_id_pattern(&pattern))
        .await
        .expect("list by pattern");
    assert_eq!(ids(matching), std::slice::from_ref(&id), "{pattern}");
    let other = admin
        .list_transactions(
            &ListTransactionsOptions::default().transactional_id_pattern(format!("{pattern}-not")),
        )
        .await
        .expect("list by pattern");
    assert!(other.is_empty(), "{other:?}");

    let described = admin.describe_transaction(&id).await.expect("describe");
    assert_eq!(described.state, "Ongoing");
    assert_eq!(described.producer_id, pid);
    assert_eq!(described.topic_partitions, parts);
    assert!(
        described.transaction_start_time_ms.is_some(),
        "{described:?}"
    );
    assert!(
        described.transaction_timeout > Duration::ZERO,
        "{described:?}"
    );

    let tp0 = TopicPartition::new(topic.as_str(), 0);
    let producers = admin
        .describe_producers(std::slice::from_ref(&tp0))
        .await
        .expect("describe producers");
    let active = producers[&tp0]
        .iter()
        .find(|p| p.producer_id == pid)
        .unwrap_or_else(|| panic!("{pid} in {producers:?}"));
    assert_eq!(active.producer_epoch, i32::from(described.producer_epoch));
    assert_eq!(active.current_transaction_start_offset, Some(0));
    assert_eq!(active.last_sequence, 0);

    producer.commit_transaction().await.expect("commit");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let d = admin.describe_transactions([&id]).await.expect("describe")[&id].clone();
        let p = admin
            .describe_producers(std::slice::from_ref(&tp0))
            .await
            .expect("producers");
        let still_open = p[&tp0]
            .iter()
            .any(|a| a.producer_id == pid && a.current_transaction_start_offset.is_some());
        if d.state == "CompleteCommit" && d.topic_partitions.is_empty() && !still_open {
            break;
        }
        assert!(Instant::now() < deadline, "{d:?} {p:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    producer.close().await.expect("close");

    let unknown = admin.describe_transaction(&names::unique("txn-none")).await;
    assert_eq!(
        code_of(&unknown),
        Some(ErrorCode::TRANSACTIONAL_ID_NOT_FOUND),
        "{unknown:?}"
    );
}

fn scram_config(user: &str, password: &str) -> ClientConfig {
    let bootstrap = endpoints::kafka_sasl_plaintext_bootstrap();
    let mut c = ClientConfig::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "SCRAM-SHA-512"),
        ("sasl.username", user),
        ("sasl.password", password),
    ])
    .expect("properties");
    c.connect_timeout = Duration::from_secs(5);
    c.request_timeout = Duration::from_secs(10);
    c
}

/// Logs in as `user` and produces one record to `topic`.
async fn produce_as(user: &str, password: &str, topic: &str) -> Result<(i32, i64), Error> {
    let producer = Producer::builder("unused:1")
        .client_config(scram_config(user, password))
        .delivery_timeout(Duration::from_secs(8))
        .build()
        .await?;
    let sent = producer
        .send(ProducerRecord::new(topic).value("as a new user"))
        .await;
    let _ = producer.close().await;
    sent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_credentials_are_created_used_and_deleted() {
    let admin = admin().await;
    let topic = kafka_client_support::topic("scram-user", 1).await;
    let user = names::unique("scram-user");
    let password = format!("pw-{}-Zq9", names::unique("secret"));

    let upsert =
        UserScramCredentialAlteration::upsert(&user, ScramMechanism::Sha512, 8192, &password);
    assert!(!format!("{upsert:?}").contains(&password), "{upsert:?}");
    let results = admin
        .alter_user_scram_credentials(std::slice::from_ref(&upsert))
        .await
        .expect("alter");
    assert!(matches!(results.get(&user), Some(Ok(()))), "{results:?}");

    // Described once the broker asked has applied the change from the
    // metadata log (on a cluster it may not be the controller's).
    let deadline = Instant::now() + Duration::from_secs(15);
    let described = loop {
        let d = admin
            .describe_user_scram_credentials(&[user.as_str()])
            .await;
        match d {
            Ok(d) => break d,
            Err(_) if code_of(&d) == Some(ErrorCode::RESOURCE_NOT_FOUND) => {
                assert!(Instant::now() < deadline, "{user} never described");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("describe: {e}"),
        }
    };
    let infos = &described[&user];
    assert_eq!(infos.len(), 1, "{infos:?}");
    assert_eq!(infos[0].mechanism, Some(ScramMechanism::Sha512));
    assert_eq!(infos[0].iterations, 8192);
    let everyone = admin
        .describe_user_scram_credentials(&[])
        .await
        .expect("describe all");
    assert!(everyone.contains_key(&user) && everyone.contains_key(endpoints::KAFKA_SASL_USER));

    // The new user logs in (once the broker has the credential) and
    // produces; a wrong password does not.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match produce_as(&user, &password, &topic).await {
            Ok(_) => break,
            Err(e) => assert!(Instant::now() < deadline, "login as {user}: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let wrong = produce_as(&user, "not-the-password", &topic).await;
    assert!(matches!(&wrong, Err(e) if !e.is_retriable()), "{wrong:?}");

    // Too few iterations: refused, and the error does not show the password.
    let weak = UserScramCredentialAlteration::upsert(&user, ScramMechanism::Sha256, 100, &password);
    let results = admin
        .alter_user_scram_credentials(&[weak])
        .await
        .expect("alter");
    let r = &results[&user];
    assert_eq!(
        code_of(r),
        Some(ErrorCode::UNACCEPTABLE_CREDENTIAL),
        "{r:?}"
    );
    let shown = format!("{r:?} {}", r.as_ref().unwrap_err());
    assert!(!shown.contains(&password), "{shown}");

    let delete = UserScramCredentialAlteration::delete(&user, ScramMechanism::Sha512);
    let results = admin
        .alter_user_scram_credentials(std::slice::from_ref(&delete))
        .await
        .expect("delete");
    assert!(matches!(results.get(&user), Some(Ok(()))), "{results:?}");
    // A broker applies the deletion from the metadata log a moment after
    // the controller took it; on a cluster the describe may go to one
    // that has not yet.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let gone = admin
            .describe_user_scram_credentials(&[user.as_str()])
            .await;
        if code_of(&gone) == Some(ErrorCode::RESOURCE_NOT_FOUND) {
            break;
        }
        assert!(
            Instant::now() < deadline && matches!(&gone, Ok(m) if m.contains_key(&user)),
            "{gone:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let again = admin
        .alter_user_scram_credentials(&[delete])
        .await
        .expect("delete again");
    assert_eq!(
        code_of(&again[&user]),
        Some(ErrorCode::RESOURCE_NOT_FOUND),
        "{again:?}"
    );

    // The login now fails as an authentication error without the password.
    let deadline = Instant::now() + Duration::from_secs(20);
    let e = loop {
        match produce_as(&user, &password, &topic).await {
            Err(e) if !e.is_retriable() => break e,
            other => assert!(Instant::now() < deadline, "still logs in: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let shown = format!("{e} / {e:?}");
    assert!(
        shown.to_ascii_lowercase().contains("authentication"),
        "{shown}"
    );
    assert!(!shown.contains(&password), "{shown}");
}
