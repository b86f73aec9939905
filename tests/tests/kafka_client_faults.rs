//! Network faults through the test proxy: a cut connection is re-established
//! and in-flight batches are retried without duplicates; a stalled broker
//! makes requests time out, and they are retried once it answers again.

mod kafka_client_support;

use std::sync::Arc;
use std::time::Duration;

use mq_client::kafka::{Producer, ProducerRecord};
use mq_tests::endpoints;
use mq_tests::kafka_proxies::KafkaProxies;

use kafka_client_support::{check_exactly_once_in_order, read_all, topic};

const PARTITIONS: i32 = 4;
const KEYS: usize = 50;

/// Produces `count` keyed records (`"<key>:<seq>"` values) through the
/// producer, calling `fault` after each tenth of them.
async fn produce_through(
    producer: &Producer,
    topic: &str,
    count: usize,
    fault: impl Fn(usize),
) -> Vec<mq_client::kafka::DeliveryFuture> {
    let mut seqs = vec![0u64; KEYS];
    let mut deliveries = Vec::with_capacity(count);
    for i in 0..count {
        if i % (count / 10) == 0 {
            fault(i / (count / 10));
        }
        let k = i % KEYS;
        let key = format!("key-{k}");
        let value = format!("key-{k}:{}", seqs[k]);
        seqs[k] += 1;
        deliveries.push(
            producer
                .enqueue(ProducerRecord::new(topic).key(&key).value(&value))
                .await
                .expect("enqueue"),
        );
        if i % 500 == 0 {
            // Give the sender time to have requests in flight.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    deliveries
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_connections_are_reestablished_without_duplicates() {
    let bootstrap = endpoints::kafka_bootstrap();
    let topic = topic("faults-cut", PARTITIONS).await;
    // A proxy in front of each broker, whichever leads the partitions.
    let proxy = Arc::new(KafkaProxies::start(&bootstrap).await.expect("proxies"));
    let producer = Producer::builder(&proxy.bootstrap())
        .address_map(proxy.map())
        .linger(Duration::from_millis(2))
        .build()
        .await
        .expect("producer");
    let count = 30_000;
    let cutter = proxy.clone();
    let deliveries = produce_through(&producer, &topic, count, move |tenth| {
        if tenth % 2 == 1 {
            cutter.cut_all();
        }
    })
    .await;
    for d in deliveries {
        d.await.expect("every record is delivered despite the cuts");
    }
    producer.close().await.expect("close");
    assert!(
        proxy.accepted() >= 4,
        "reconnected after each cut: {}",
        proxy.accepted()
    );
    let records = read_all(
        &bootstrap,
        &topic,
        PARTITIONS,
        count,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(records.len(), count, "no loss, no duplicates");
    check_exactly_once_in_order(&records);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_broker_times_requests_out_then_they_are_retried() {
    let bootstrap = endpoints::kafka_bootstrap();
    let topic = topic("faults-stall", PARTITIONS).await;
    // A proxy in front of each broker, whichever leads the partitions.
    let proxy = Arc::new(KafkaProxies::start(&bootstrap).await.expect("proxies"));
    let producer = Producer::builder(&proxy.bootstrap())
        .address_map(proxy.map())
        .request_timeout(Duration::from_secs(2))
        .connect_timeout(Duration::from_secs(2))
        .linger(Duration::from_millis(2))
        .build()
        .await
        .expect("producer");
    let before = proxy.accepted();
    let count = 10_000;
    let staller = proxy.clone();
    let deliveries = produce_through(&producer, &topic, count, move |tenth| {
        if tenth == 3 {
            staller.stall(true);
            let resume = staller.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(5)).await;
                resume.stall(false);
            });
        }
    })
    .await;
    for d in deliveries {
        d.await.expect("delivered once the broker answers again");
    }
    producer.close().await.expect("close");
    assert!(
        proxy.accepted() > before,
        "the timed-out connection was closed and a new one opened"
    );
    assert!(producer.retries() > 0, "timed-out batches were retried");
    let records = read_all(
        &bootstrap,
        &topic,
        PARTITIONS,
        count,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(records.len(), count, "no loss, no duplicates");
    check_exactly_once_in_order(&records);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_is_reported_possibly_written_and_never_duplicated() {
    use mq_client::kafka::Error;
    use mq_tests::proxy::Direction;
    let bootstrap = endpoints::kafka_bootstrap();
    let topic = topic("faults-unknown-outcome", 1).await;
    let proxy = Arc::new(KafkaProxies::start(&bootstrap).await.expect("proxies"));
    let delivery_timeout = Duration::from_secs(4);
    let producer = Producer::builder(&proxy.bootstrap())
        .address_map(proxy.map())
        .linger(Duration::ZERO)
        .delivery_timeout(delivery_timeout)
        .build()
        .await
        .expect("producer");
    producer
        .send(ProducerRecord::new(&topic).partition(0).value("before"))
        .await
        .expect("before the fault");

    // From now on every answer is cut before it reaches the client: the
    // broker appends the record, the producer never hears so, and every
    // retry (on a new connection) loses its answer too.
    for p in proxy.all() {
        p.close_after(Direction::ToClient, Some(0));
    }
    let lost = producer
        .send(ProducerRecord::new(&topic).partition(0).value("lost"))
        .await
        .expect_err("no answer came");
    println!("the send without an answer: {lost}");
    assert!(
        matches!(
            lost,
            Error::DeliveryTimeout {
                possibly_written: true,
                ..
            }
        ),
        "{lost:?}"
    );
    for p in proxy.all() {
        p.close_after(Direction::ToClient, None);
    }

    // The next send goes out under a new epoch and is written once; the
    // record whose answer was lost is in the log once, not twice.
    producer
        .send(ProducerRecord::new(&topic).partition(0).value("after"))
        .await
        .expect("after the fault");
    producer.close().await.expect("close");
    let records = read_all(&bootstrap, &topic, 1, 3, Duration::from_secs(20)).await;
    let values: Vec<String> = records
        .iter()
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
        .collect();
    assert_eq!(values, ["before", "lost", "after"], "{values:?}");
}
