//! Connection handling that needs no fault proxy: an unreachable bootstrap
//! list fails fast with a retriable error, and no builder or client shows
//! credentials in `Debug`.

use std::time::{Duration, Instant};

use kafka_proto::connection::{Sasl, SaslPlain};
use mq_client::kafka::{Admin, Error, PartitionReader, Producer};
use mq_tests::endpoints;

#[tokio::test]
async fn unreachable_bootstrap_fails_fast_and_is_retriable() {
    // A port nothing listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let started = Instant::now();
    let result = Admin::builder(&format!("127.0.0.1:{port}"))
        .connect_timeout(Duration::from_secs(1))
        .build()
        .await;
    let error = result.expect_err("nothing to connect to");
    assert!(matches!(error, Error::NoBrokerAvailable(_)), "{error:?}");
    assert!(error.is_retriable());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn debug_never_shows_credentials() {
    let sasl = || Sasl::Plain(SaslPlain::new("svc-orders", "hunter2-secret"));
    let shown = [
        format!("{:?}", Producer::builder("127.0.0.1:9092").sasl(sasl())),
        format!("{:?}", Admin::builder("127.0.0.1:9092").sasl(sasl())),
        format!(
            "{:?}",
            PartitionReader::builder("127.0.0.1:9092").sasl(sasl())
        ),
    ];
    for s in shown {
        assert!(!s.contains("hunter2-secret"), "{s}");
        assert!(s.contains("PLAIN"), "{s}");
    }
    // A live client's Debug goes through the same redacted config.
    let admin = Admin::builder(&endpoints::kafka_bootstrap())
        .build()
        .await
        .expect("admin");
    let shown = format!("{admin:?}");
    assert!(shown.contains("ClientConfig"), "{shown}");
}
