//! The partition reader: start positions, OFFSET_OUT_OF_RANGE per reset
//! policy, seeking, headers, and zero-copy batches.

mod kafka_client_support;

use std::time::Duration;

use futures_util::StreamExt;
use mq_client::kafka::{
    Admin, Error, Offset, OffsetReset, PartitionReader, Producer, ProducerRecord,
};
use mq_tests::endpoints;

use kafka_client_support::topic;

async fn fill(topic: &str, n: usize) {
    let producer = Producer::builder(&endpoints::kafka_bootstrap())
        .build()
        .await
        .expect("producer");
    let mut ds = Vec::new();
    for i in 0..n {
        let v = format!("v{i}");
        let k = format!("k{i}");
        ds.push(
            producer
                .enqueue(
                    ProducerRecord::new(topic)
                        .partition(0)
                        .key(&k)
                        .value(&v)
                        .header("h", Some(&k))
                        .header("h", None::<&[u8]>),
                )
                .await
                .expect("enqueue"),
        );
    }
    for d in ds {
        d.await.expect("delivery");
    }
    producer.close().await.expect("close");
}

async fn next(
    reader: &mut PartitionReader,
) -> mq_client::kafka::Result<mq_client::kafka::ConsumerRecord> {
    tokio::time::timeout(Duration::from_secs(20), reader.next())
        .await
        .expect("a record in time")
        .expect("stream open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_positions_seek_and_headers() {
    let bootstrap = endpoints::kafka_bootstrap();
    let topic = topic("reader", 1).await;
    fill(&topic, 20).await;

    let mut reader = PartitionReader::builder(&bootstrap)
        .assign(&topic, 0, Offset::At(7))
        .build()
        .await
        .expect("reader");
    let r = next(&mut reader).await.expect("record");
    assert_eq!((r.offset, r.key.as_deref()), (7, Some(&b"k7"[..])));
    let headers: Vec<(&[u8], Option<&[u8]>)> = r
        .headers
        .iter()
        .map(|(k, v)| (&k[..], v.as_deref()))
        .collect();
    assert_eq!(
        headers,
        vec![(&b"h"[..], Some(&b"k7"[..])), (&b"h"[..], None)]
    );

    reader.seek(&topic, 0, Offset::At(15)).await.expect("seek");
    let r = next(&mut reader).await.expect("record");
    assert_eq!(r.offset, 15, "batches fetched before the seek are dropped");
    assert_eq!(reader.position(&topic, 0), Some(20));

    // Latest: nothing until something new arrives.
    let mut tail = PartitionReader::builder(&bootstrap)
        .assign(&topic, 0, Offset::Latest)
        .build()
        .await
        .expect("reader");
    fill(&topic, 1).await;
    let r = next(&mut tail).await.expect("record");
    assert_eq!(r.offset, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offset_out_of_range_follows_the_reset_policy() {
    let bootstrap = endpoints::kafka_bootstrap();
    let topic = topic("reader-oor", 1).await;
    fill(&topic, 10).await;
    let admin = Admin::builder(&bootstrap).build().await.expect("admin");
    admin
        .delete_records(&topic, &[(0, 6)])
        .await
        .expect("delete records");

    // Offset 2 is gone: earliest resets to 6.
    let mut earliest = PartitionReader::builder(&bootstrap)
        .assign(&topic, 0, Offset::At(2))
        .auto_offset_reset(OffsetReset::Earliest)
        .build()
        .await
        .expect("reader");
    assert_eq!(next(&mut earliest).await.expect("record").offset, 6);

    // Latest resets to the end: the next record is a new one.
    let mut latest = PartitionReader::builder(&bootstrap)
        .assign(&topic, 0, Offset::At(2))
        .auto_offset_reset(OffsetReset::Latest)
        .build()
        .await
        .expect("reader");
    tokio::time::sleep(Duration::from_millis(500)).await;
    fill(&topic, 1).await;
    assert_eq!(next(&mut latest).await.expect("record").offset, 10);

    // None reports the error.
    let mut none = PartitionReader::builder(&bootstrap)
        .assign(&topic, 0, Offset::At(2))
        .auto_offset_reset(OffsetReset::None)
        .build()
        .await
        .expect("reader");
    match next(&mut none).await {
        Err(Error::OffsetOutOfRange {
            offset: 2,
            partition: 0,
            ..
        }) => {}
        other => panic!("expected OffsetOutOfRange, got {other:?}"),
    }
    // A seek gets it going again.
    none.seek(&topic, 0, Offset::Earliest).await.expect("seek");
    assert_eq!(next(&mut none).await.expect("record").offset, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_are_zero_copy_views() {
    let bootstrap = endpoints::kafka_bootstrap();
    let topic = topic("reader-batch", 1).await;
    fill(&topic, 50).await;
    let mut reader = PartitionReader::builder(&bootstrap)
        .assign(&topic, 0, Offset::Earliest)
        .fetch_min_bytes(1)
        .fetch_max_wait(Duration::from_millis(100))
        .build()
        .await
        .expect("reader");
    let mut seen = 0;
    while seen < 50 {
        let batch = reader.next_batch().await.expect("batch");
        assert_eq!((batch.topic(), batch.partition()), (topic.as_str(), 0));
        assert_eq!(batch.high_watermark(), 50);
        for r in batch.iter() {
            let r = r.expect("record");
            assert_eq!(r.offset(), seen);
            assert_eq!(r.value(), Some(format!("v{seen}").as_bytes()));
            seen += 1;
        }
        assert_eq!(batch.next_offset(), seen);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_and_leader_epochs() {
    let bootstrap = endpoints::kafka_bootstrap();
    let topic = topic("reader-pause", 1).await;
    fill(&topic, 20).await;
    let mut reader = PartitionReader::builder(&bootstrap)
        .assign(&topic, 0, Offset::Earliest)
        .fetch_max_wait(Duration::from_millis(100))
        .build()
        .await
        .expect("reader");
    // Five records out of a fetched batch of twenty, then a pause: the
    // other fifteen are held back, and so is whatever arrives meanwhile.
    for i in 0..5 {
        let r = next(&mut reader).await.expect("record");
        assert_eq!(r.offset, i);
        assert!(
            r.leader_epoch >= 0,
            "records carry their batch's leader epoch"
        );
    }
    reader.pause(&topic, 0).await.expect("pause");
    fill(&topic, 5).await;
    let quiet = tokio::time::timeout(Duration::from_secs(1), reader.next()).await;
    assert!(
        quiet.is_err(),
        "a paused partition hands out nothing: {quiet:?}"
    );
    // A seek keeps it paused.
    reader.seek(&topic, 0, Offset::At(3)).await.expect("seek");
    let quiet = tokio::time::timeout(Duration::from_millis(500), reader.next()).await;
    assert!(quiet.is_err(), "still paused after a seek: {quiet:?}");
    reader
        .seek(&topic, 0, Offset::At(5))
        .await
        .expect("seek back");
    reader.resume(&topic, 0).await.expect("resume");
    for i in 5..25 {
        assert_eq!(next(&mut reader).await.expect("record").offset, i);
    }

    // The batch API gives each record's epoch, and the last one's.
    let mut reader = PartitionReader::builder(&bootstrap)
        .assign(&topic, 0, Offset::Earliest)
        .build()
        .await
        .expect("reader");
    let batch = reader.next_batch().await.expect("batch");
    let epochs: Vec<i32> = batch
        .iter_with_epochs()
        .map(|r| r.expect("record").1)
        .collect();
    assert!(!epochs.is_empty());
    assert!(epochs.iter().all(|&e| e >= 0));
    assert_eq!(batch.last_leader_epoch(), *epochs.last().unwrap());
    // Pausing a partition the reader does not read is an error.
    let e = reader.pause(&topic, 3).await.expect_err("not assigned");
    assert!(matches!(e, Error::NotAssigned { partition: 3, .. }), "{e}");
}

/// Produces `n` records to each of `partitions`, values `p{partition}-{i}`.
async fn fill_partitions(topic: &str, partitions: &[i32], n: usize) {
    let producer = Producer::builder(&endpoints::kafka_bootstrap())
        .build()
        .await
        .expect("producer");
    let mut ds = Vec::new();
    for &p in partitions {
        for i in 0..n {
            let v = format!("p{p}-{i}");
            ds.push(
                producer
                    .enqueue(ProducerRecord::new(topic).partition(p).value(&v))
                    .await
                    .expect("enqueue"),
            );
        }
    }
    for d in ds {
        d.await.expect("delivery");
    }
    producer.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_topic_is_read_to_the_end_it_had_when_reading_began() {
    let bootstrap = endpoints::kafka_bootstrap();
    let topic = topic("reader-to-end", 3).await;
    // Partition 2 stays empty: it is at its end from the start.
    fill_partitions(&topic, &[0, 1], 10).await;

    let mut reader = PartitionReader::builder(&bootstrap)
        .assign_topic(&topic, Offset::Earliest)
        .stop_at_end()
        .build()
        .await
        .expect("reader");
    // Written after reading began: past the end, never handed out.
    fill_partitions(&topic, &[0, 1, 2], 5).await;
    let mut seen = Vec::new();
    while let Some(r) = tokio::time::timeout(Duration::from_secs(20), reader.next())
        .await
        .expect("the stream ends in time")
    {
        let r = r.expect("record");
        seen.push(String::from_utf8(r.value.expect("value").to_vec()).expect("utf8"));
    }
    seen.sort();
    let mut want: Vec<String> = [0, 1]
        .iter()
        .flat_map(|p| (0..10).map(move |i| format!("p{p}-{i}")))
        .collect();
    want.sort();
    assert_eq!(seen, want);
    assert!(matches!(reader.next_batch().await, Err(Error::ReachedEnd)));

    // The batch API: the last batch of each partition is cut at its end.
    let mut reader = PartitionReader::builder(&bootstrap)
        .assign_topic(&topic, Offset::At(5))
        .stop_at_end()
        .build()
        .await
        .expect("reader");
    let mut offsets = std::collections::BTreeMap::<i32, Vec<i64>>::new();
    loop {
        match reader.next_batch().await {
            Ok(batch) => {
                for r in batch.iter() {
                    offsets
                        .entry(batch.partition())
                        .or_default()
                        .push(r.expect("record").offset());
                }
            }
            Err(Error::ReachedEnd) => break,
            Err(e) => panic!("{e}"),
        }
    }
    // Partitions 0 and 1 end at 15, partition 2 at 5.
    let from_5_to_15: Vec<i64> = (5..15).collect();
    assert_eq!(offsets.get(&0), Some(&from_5_to_15));
    assert_eq!(offsets.get(&1), Some(&from_5_to_15));
    assert_eq!(offsets.get(&2), None);
}
