//! Interop with librdkafka through kcat: kcat produces with gzip, snappy,
//! lz4 and zstd and our partition reader decodes every record; our producer
//! writes records (keys, values, headers, every codec) that kcat reads back
//! identically.

mod kafka_client_support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use futures_util::StreamExt;
use mq_client::kafka::{
    Compression, Offset, OffsetReset, PartitionReader, Producer, ProducerRecord,
};
use mq_tests::endpoints;

use kafka_client_support::topic;

const COUNT: usize = 2_000;

async fn kcat_produces_reader_decodes(codec: &str) {
    let bootstrap = endpoints::kafka_bootstrap();
    let topic = topic(&format!("kcat-{codec}"), 1).await;
    let mut child = Command::new("kcat")
        .args([
            "-P", "-b", &bootstrap, "-t", &topic, "-p", "0", "-z", codec, "-K", "\t",
        ])
        .args(["-X", "linger.ms=20"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("kcat must be installed (scripts/brokers up installs it)");
    {
        let stdin = child.stdin.as_mut().expect("stdin");
        for i in 0..COUNT {
            writeln!(stdin, "key-{i}\t{codec} value {i} {}", "z".repeat(i % 50)).expect("write");
        }
    }
    assert!(child.wait().expect("kcat").success());

    // The Stream API: owned records, key and value as Bytes slices.
    let mut reader = PartitionReader::builder(&bootstrap)
        .assign(&topic, 0, Offset::Earliest)
        .auto_offset_reset(OffsetReset::Earliest)
        .build()
        .await
        .expect("reader");
    for i in 0..COUNT {
        let r = tokio::time::timeout(Duration::from_secs(30), reader.next())
            .await
            .expect("records arrive")
            .expect("stream open")
            .expect("record");
        assert_eq!(r.offset, i as i64);
        assert_eq!(r.key.as_deref(), Some(format!("key-{i}").as_bytes()));
        let value = format!("{codec} value {i} {}", "z".repeat(i % 50));
        assert_eq!(r.value.as_deref(), Some(value.as_bytes()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcat_gzip_is_read() {
    kcat_produces_reader_decodes("gzip").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcat_snappy_is_read() {
    kcat_produces_reader_decodes("snappy").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcat_lz4_is_read() {
    kcat_produces_reader_decodes("lz4").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcat_zstd_is_read() {
    kcat_produces_reader_decodes("zstd").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcat_reads_what_we_produce() {
    let bootstrap = endpoints::kafka_bootstrap();
    for codec in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let topic = topic(&format!("to-kcat-{}", codec.name()), 1).await;
        let producer = Producer::builder(&bootstrap)
            .compression(codec)
            .build()
            .await
            .expect("producer");
        let mut expected = Vec::new();
        for i in 0..300 {
            let key = format!("order-{i}");
            let value = format!("{{\"order\":{i},\"codec\":\"{}\"}}", codec.name());
            let trace = format!("trace-{i}");
            let d = producer
                .enqueue(
                    ProducerRecord::new(&topic)
                        .partition(0)
                        .key(&key)
                        .value(&value)
                        .header("trace", Some(&trace))
                        .header("kind", Some("created"))
                        .header("trace", Some("again")),
                )
                .await
                .expect("enqueue");
            expected.push((
                d,
                format!("{key}|{value}|trace={trace},kind=created,trace=again"),
            ));
        }
        let mut lines = Vec::new();
        for (d, line) in expected {
            let (_, offset) = d.await.expect("delivery");
            lines.push(format!("{offset}|{line}"));
        }
        producer.close().await.expect("close");
        let out = Command::new("kcat")
            .args([
                "-C",
                "-b",
                &bootstrap,
                "-t",
                &topic,
                "-p",
                "0",
                "-o",
                "beginning",
                "-e",
            ])
            .args(["-f", "%o|%k|%s|%h\n"])
            .output()
            .expect("kcat");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got: Vec<String> = String::from_utf8(out.stdout)
            .expect("utf8")
            .lines()
            .map(str::to_owned)
            .collect();
        assert_eq!(
            got,
            lines,
            "kcat read {} records with {}",
            got.len(),
            codec.name()
        );
    }
}
