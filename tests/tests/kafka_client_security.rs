//! Kafka's secured listeners, started by `scripts/brokers up` with a
//! throwaway CA: produce and consume through a consumer group over SSL,
//! over SASL_SSL with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512, and over
//! SASL_PLAINTEXT with SCRAM; errors that name their cause (unknown issuer,
//! hostname mismatch, wrong password) within the connect timeout, and
//! never with the password in them. Settings come as properties by the
//! Java client's names, as a user would write them.

mod kafka_client_support;

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use mq_client::kafka::{
    Acks, Admin, ClientConfig, Consumer, Error, NewTopic, OffsetReset, Producer, ProducerRecord,
};
use mq_client::tls::TlsError;
use mq_tests::{endpoints, names};

const RECORDS: usize = 2_000;

fn ca() -> String {
    endpoints::tls_dir().join("ca.pem").display().to_string()
}

fn config(props: &[(&str, &str)]) -> ClientConfig {
    let mut c = ClientConfig::from_properties(props.iter().copied()).expect("valid properties");
    c.connect_timeout = Duration::from_secs(5);
    c.request_timeout = Duration::from_secs(10);
    c
}

/// Creates a topic, produces `RECORDS` records and reads them back through
/// a consumer group, every client on `client`.
async fn round_trip(what: &str, client: ClientConfig) {
    kafka_client_support::init_tracing();
    let topic = names::topic(what);
    let admin = Admin::builder("unused:1")
        .client_config(client.clone())
        .build()
        .await
        .expect("admin");
    admin
        .create_topics([NewTopic::new(&topic, 3, 1)])
        .await
        .expect("create topic");
    let producer = Producer::builder("unused:1")
        .client_config(client.clone())
        .acks(Acks::All)
        .linger(Duration::from_millis(2))
        .build()
        .await
        .expect("producer");
    let mut deliveries = Vec::new();
    for i in 0..RECORDS {
        let value = format!("{what}-{i}");
        deliveries.push(
            producer
                .enqueue(
                    ProducerRecord::new(&topic)
                        .key(&format!("k{}", i % 17))
                        .value(&value),
                )
                .await
                .expect("enqueue"),
        );
    }
    for d in deliveries {
        d.await.expect("delivered");
    }
    producer.close().await.unwrap();

    let mut consumer = Consumer::builder("unused:1")
        .client_config(client)
        .group(names::group(what))
        .auto_offset_reset(OffsetReset::Earliest)
        .build()
        .await
        .expect("consumer");
    consumer.subscribe([topic.as_str()]).await.unwrap();
    let mut seen = vec![false; RECORDS];
    let mut missing = RECORDS;
    let deadline = Instant::now() + Duration::from_secs(60);
    while missing > 0 {
        assert!(
            Instant::now() < deadline,
            "{what}: {missing} records missing"
        );
        let rec = tokio::time::timeout(Duration::from_secs(30), consumer.next())
            .await
            .expect("a record in time")
            .expect("the stream goes on")
            .expect("a record");
        let value = String::from_utf8(rec.value().unwrap_or_default().to_vec()).unwrap();
        let i: usize = value
            .rsplit('-')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("value has an index");
        if !seen[i] {
            seen[i] = true;
            missing -= 1;
        }
        consumer.commit(&rec).await.expect("commit");
    }
    consumer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssl_round_trip() {
    let bootstrap = endpoints::kafka_ssl_bootstrap();
    let c = config(&[
        ("bootstrap.servers", &bootstrap),
        ("security.protocol", "SSL"),
        ("ssl.truststore.type", "PEM"),
        ("ssl.truststore.location", &ca()),
    ]);
    assert_eq!(c.security_protocol(), "SSL");
    round_trip("ssl", c).await;
}

fn sasl(bootstrap: &str, protocol: &str, mechanism: &str, password: &str) -> ClientConfig {
    let ca = ca();
    let mut props = vec![
        ("bootstrap.servers", bootstrap),
        ("security.protocol", protocol),
        ("sasl.mechanism", mechanism),
        ("sasl.username", endpoints::KAFKA_SASL_USER),
        ("sasl.password", password),
    ];
    if protocol == "SASL_SSL" {
        props.push(("ssl.truststore.location", &ca));
    }
    config(&props)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_ssl_plain_round_trip() {
    let c = sasl(
        &endpoints::kafka_sasl_ssl_bootstrap(),
        "SASL_SSL",
        "PLAIN",
        endpoints::KAFKA_SASL_PASSWORD,
    );
    round_trip("sasl-ssl-plain", c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_ssl_scram_sha_256_round_trip() {
    let c = sasl(
        &endpoints::kafka_sasl_ssl_bootstrap(),
        "SASL_SSL",
        "SCRAM-SHA-256",
        endpoints::KAFKA_SASL_PASSWORD,
    );
    round_trip("sasl-ssl-scram256", c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_ssl_scram_sha_512_round_trip() {
    let c = sasl(
        &endpoints::kafka_sasl_ssl_bootstrap(),
        "SASL_SSL",
        "SCRAM-SHA-512",
        endpoints::KAFKA_SASL_PASSWORD,
    );
    round_trip("sasl-ssl-scram512", c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_plaintext_scram_round_trip() {
    let c = sasl(
        &endpoints::kafka_sasl_plaintext_bootstrap(),
        "SASL_PLAINTEXT",
        "SCRAM-SHA-256",
        endpoints::KAFKA_SASL_PASSWORD,
    );
    round_trip("sasl-plaintext-scram", c).await;
}

/// Builds an admin client on `c` and makes one call; returns its error,
/// checking it came within the connect timeout.
async fn first_call_error(c: ClientConfig) -> Error {
    let started = Instant::now();
    let result = async {
        let admin = Admin::builder("unused:1").client_config(c).build().await?;
        admin.list_topics().await
    }
    .await;
    let e = result.expect_err("the call fails");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "failed after {:?}: {e}",
        started.elapsed()
    );
    e
}

/// The TLS error inside `e`, however deep the client wrapped it.
fn tls_cause(e: &Error) -> Option<&TlsError> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(t) = s.downcast_ref::<TlsError>() {
            return Some(t);
        }
        source = s.source();
    }
    None
}

#[tokio::test]
async fn certificate_and_password_errors_name_their_cause() {
    let bootstrap = endpoints::kafka_ssl_bootstrap();
    let other_ca = endpoints::tls_dir()
        .join("other-ca.pem")
        .display()
        .to_string();
    let e = first_call_error(config(&[
        ("bootstrap.servers", &bootstrap),
        ("security.protocol", "SSL"),
        ("ssl.truststore.location", &other_ca),
    ]))
    .await;
    assert_eq!(tls_cause(&e), Some(&TlsError::UnknownIssuer), "{e:?}");

    // The certificate names localhost and 127.0.0.1; a client told to
    // expect another name refuses it.
    let mut c = config(&[
        ("bootstrap.servers", &bootstrap),
        ("security.protocol", "SSL"),
        ("ssl.truststore.location", &ca()),
    ]);
    c.tls = c.tls.map(|t| t.server_name("wrong.example"));
    let e = first_call_error(c).await;
    assert!(
        matches!(tls_cause(&e), Some(TlsError::HostnameMismatch { name }) if name == "wrong.example"),
        "{e:?}"
    );

    // A wrong password, for each mechanism: an authentication error that
    // does not contain it.
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
        let wrong = "not-alices-password-97";
        let e = first_call_error(sasl(
            &endpoints::kafka_sasl_ssl_bootstrap(),
            "SASL_SSL",
            mechanism,
            wrong,
        ))
        .await;
        let shown = format!("{e} / {e:?}");
        assert!(!shown.contains(wrong), "{mechanism}: {shown}");
        assert!(
            shown.to_ascii_lowercase().contains("authentication"),
            "{mechanism}: {shown}"
        );
        assert!(!e.is_retriable(), "{mechanism}: {shown}");
    }
}
