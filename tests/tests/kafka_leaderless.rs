//! Partitions without a leader, on a three-broker cluster (the failover
//! phase of `scripts/test`; see `kafka_failover.rs` for the commands):
//!
//! - A topic created on a cluster recreated a second before takes records
//!   at once: the producer refreshes the topic's metadata with backoff
//!   until every partition has a leader, and delivers everything.
//! - A record for a partition whose only replica's broker is stopped
//!   fails at its delivery timeout with `PartitionUnavailable`, which names
//!   the partition, not a bare timeout; `enqueue` on a buffer full of such
//!   records fails with it too within `max_block`, never as "buffer
//!   space"; records for the other partitions are delivered meanwhile, and
//!   once the broker is back the partition takes records again.

use std::time::{Duration, Instant};

use mq_client::kafka::{Admin, Error, NewTopic, OffsetSpec, Producer, ProducerRecord};
use mq_tests::brokers::{RestartKafka, run};
use mq_tests::{endpoints, names};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_created_on_a_fresh_cluster_takes_records_at_once() {
    const RECORDS: u32 = 100_000;
    run(&["recreate-kafka"]);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let bootstrap = endpoints::kafka_bootstrap();
    let started = Instant::now();
    let admin = Admin::builder(&bootstrap).build().await.expect("admin");
    let topic = names::topic("fresh-cluster");
    admin
        .create_topics([NewTopic::new(&topic, 6, 3)])
        .await
        .expect("create");
    let producer = Producer::builder(&bootstrap)
        .max_block(Duration::from_secs(30))
        .build()
        .await
        .expect("producer");
    let mut deliveries = Vec::with_capacity(RECORDS as usize);
    for i in 0..RECORDS {
        let key = format!("key-{:04}", i % 1000);
        let value = [b'v'; 100];
        deliveries.push(
            producer
                .enqueue(ProducerRecord::new(&topic).key(&key).value(&value))
                .await
                .unwrap_or_else(|e| panic!("enqueue {i} after {:?}: {e}", started.elapsed())),
        );
    }
    for d in deliveries {
        d.await.expect("delivered");
    }
    producer.close().await.expect("close");
    let partitions: Vec<i32> = (0..6).collect();
    let ends = admin
        .list_offsets(&topic, &partitions, OffsetSpec::Latest)
        .await
        .expect("list offsets");
    let total: i64 = ends.values().map(|o| o.offset).sum();
    println!(
        "fresh cluster: {RECORDS} records to a new topic in {:?}, log ends {:?}",
        started.elapsed(),
        ends.values().map(|o| o.offset).collect::<Vec<_>>()
    );
    assert_eq!(total, i64::from(RECORDS));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_for_an_offline_partition_fail_with_a_named_error() {
    let bootstrap = endpoints::kafka_bootstrap();
    let admin = Admin::builder(&bootstrap).build().await.expect("admin");
    let topic = names::topic("offline");
    // One replica per partition: a stopped broker takes its partitions
    // offline.
    admin
        .create_topics([NewTopic::new(&topic, 3, 1)])
        .await
        .expect("create");
    let described = admin
        .describe_topics([topic.as_str()])
        .await
        .expect("describe");
    let leader_of = |p: i32| {
        described[0]
            .partitions
            .iter()
            .find(|m| m.partition == p)
            .map(|m| m.leader)
            .expect("partition")
    };
    let victim = leader_of(0);
    let healthy = (1..3)
        .find(|&p| leader_of(p) != victim)
        .expect("a partition on another broker");
    // scripts/brokers' broker N has node id N.
    let restart = RestartKafka(victim);
    run(&["stop-kafka", &victim.to_string()]);
    // Until the controller sees the broker gone, the partition still names it.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let d = admin
            .describe_topics([topic.as_str()])
            .await
            .expect("describe");
        if d[0]
            .partitions
            .iter()
            .any(|m| m.partition == 0 && m.leader < 0)
        {
            break;
        }
        assert!(Instant::now() < deadline, "partition 0 kept a leader");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let delivery_timeout = Duration::from_secs(5);
    let producer = Producer::builder(&bootstrap)
        .delivery_timeout(delivery_timeout)
        .linger(Duration::from_millis(5))
        .max_block(Duration::from_secs(3))
        .buffer_memory(64 * 1024)
        .build()
        .await
        .expect("producer");
    let value = [b'x'; 1000];
    let started = Instant::now();
    let first = producer
        .enqueue(ProducerRecord::new(&topic).partition(0).value(&value))
        .await
        .expect("enqueue");
    // The buffer fills with records for partition 0.
    let refused = loop {
        match producer
            .enqueue(ProducerRecord::new(&topic).partition(0).value(&value))
            .await
        {
            Ok(_) => assert!(started.elapsed() < Duration::from_secs(30), "never full"),
            Err(e) => break e,
        }
    };
    println!(
        "enqueue on a full buffer after {:?}: {refused}",
        started.elapsed()
    );
    assert!(
        matches!(&refused, Error::PartitionUnavailable { topic: t, partition: 0, .. } if *t == topic),
        "{refused:?}"
    );
    let failed = first.await.expect_err("no leader, no delivery");
    let took = started.elapsed();
    println!("the first record failed after {took:?}: {failed}");
    assert!(
        matches!(&failed, Error::PartitionUnavailable { partition: 0, after, .. } if *after == delivery_timeout),
        "{failed:?}"
    );
    assert!(took < delivery_timeout + Duration::from_secs(5), "{took:?}");

    // Another producer's records for a partition with a leader go through.
    let other = Producer::builder(&bootstrap)
        .build()
        .await
        .expect("producer");
    other
        .send(ProducerRecord::new(&topic).partition(healthy).value("ok"))
        .await
        .expect("a partition with a leader takes records");

    // The broker comes back: partition 0 takes records again.
    drop(restart);
    other
        .send(ProducerRecord::new(&topic).partition(0).value("back"))
        .await
        .expect("partition 0 has its leader again");
    other.close().await.expect("close");
    drop(producer);
}

/// Reads until `n` distinct values were seen, counting each.
async fn read_until(
    reader: &mut mq_client::kafka::PartitionReader,
    seen: &mut std::collections::BTreeMap<String, u32>,
    n: usize,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while seen.len() < n {
        let batch = tokio::time::timeout_at(deadline, reader.next_batch())
            .await
            .expect("records in time")
            .expect("fetch");
        for r in batch.iter() {
            let r = r.expect("record");
            let v = String::from_utf8_lossy(r.value().unwrap_or_default()).into_owned();
            *seen.entry(v).or_default() += 1;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_broker_gets_a_full_fetch_and_reading_goes_on() {
    use mq_client::kafka::{Offset, PartitionReader};
    use mq_tests::kafka_proxies::KafkaProxies;
    use std::collections::BTreeMap;

    let bootstrap = endpoints::kafka_bootstrap();
    let admin = Admin::builder(&bootstrap).build().await.expect("admin");
    let topic = names::topic("session-restart");
    admin
        .create_topics([NewTopic::new(&topic, 6, 1)])
        .await
        .expect("create");
    let described = admin
        .describe_topics([topic.as_str()])
        .await
        .expect("describe");
    let victim = described[0]
        .partitions
        .iter()
        .find(|m| m.partition == 0)
        .map(|m| m.leader)
        .expect("partition 0");
    let on_victim = described[0]
        .partitions
        .iter()
        .filter(|m| m.leader == victim)
        .count();

    let proxies = KafkaProxies::start(&bootstrap).await.expect("proxies");
    proxies.of(victim).record(true);
    let mut reader = PartitionReader::builder(&proxies.bootstrap())
        .address_map(proxies.map())
        .fetch_max_wait(std::time::Duration::from_millis(100))
        .assign_topic(&topic, Offset::Earliest)
        .build()
        .await
        .expect("reader");
    let producer = Producer::builder(&bootstrap)
        .build()
        .await
        .expect("producer");
    let produce = |from: usize| {
        let producer = producer.clone();
        let topic = topic.clone();
        async move {
            for i in from..from + 60 {
                let value = format!("v{i}");
                let partition = i32::try_from(i % 6).expect("partition");
                producer
                    .send(
                        ProducerRecord::new(&topic)
                            .partition(partition)
                            .value(&value),
                    )
                    .await
                    .expect("send");
            }
        }
    };
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    produce(0).await;
    read_until(&mut reader, &mut seen, 60).await;

    // The broker that leads partition 0 restarts: its fetch sessions are
    // gone, and the reader's next fetch to it lists its partitions again.
    {
        let _restart = RestartKafka(victim);
        run(&["stop-kafka", &victim.to_string()]);
    }
    produce(60).await;
    read_until(&mut reader, &mut seen, 120).await;
    producer.close().await.expect("close");
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "read twice: {twice:?}");
    assert_eq!(seen.len(), 120);

    proxies.of(victim).record(false);
    let sizes: Vec<usize> = proxies
        .of(victim)
        .recorded()
        .iter()
        .flat_map(|s| mq_tests::kafka_wire::request_sizes(s, 1))
        .collect();
    let full = sizes.first().copied().unwrap_or(0);
    let fulls = sizes.iter().filter(|&&s| s * 10 >= full * 9).count();
    let small = sizes.iter().filter(|&&s| s * 2 < full).count();
    println!(
        "fetches to broker {victim} ({on_victim} partitions): {} in all, the first {full} bytes, \
         {fulls} as large (full), {small} incremental",
        sizes.len()
    );
    assert!(
        small >= 1,
        "incremental fetches before the restart: {sizes:?}"
    );
    assert!(
        fulls >= 2,
        "a full fetch again after the restart: {sizes:?}"
    );
}
