//! PKCS#12 key and trust stores (feature `pkcs12`) against the real TLS
//! listeners of `scripts/brokers up`: RabbitMQ's EXTERNAL login takes the
//! user from the certificate of a PKCS#12 key store made by openssl
//! (AES-256, and the legacy RC2/SHA-1 ciphers) and by Java's keytool, with
//! the CA from a keytool trust store; Kafka's SSL listener is reached with
//! both stores given by the Java client's property names. A wrong password
//! is an error that names the store and not the password.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use mq_client::amqp::{
    AuthMechanism, BasicProperties, Connection, ConsumeOptions, QueueOptions, RecoveryConfig,
};
use mq_client::kafka::{
    Acks, Admin, ClientConfig, Consumer, NewTopic, OffsetReset, Producer, ProducerRecord,
};
use mq_client::tls::{TlsConfig, TlsError};
use mq_tests::{endpoints, names};

/// The password `scripts/brokers` gives every PKCS#12 store.
const STORE_PASSWORD: &str = endpoints::CLIENT_P12_PASSWORD;

fn tls_file(name: &str) -> PathBuf {
    endpoints::tls_dir().join(name)
}

/// The TLS listener's port, from the `amqps://` URL.
fn amqps_port() -> u16 {
    let url = endpoints::amqps_url();
    let authority = url.split("://").nth(1).unwrap_or(&url);
    let authority = authority.split('/').next().unwrap_or(authority);
    authority
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("amqps URL has a port")
}

fn pkcs12_tls(key_store: &str, password: &str) -> TlsConfig {
    TlsConfig::new()
        .ca_pkcs12_file(tls_file("ca-truststore.p12"), STORE_PASSWORD)
        .client_pkcs12_file(tls_file(key_store), password)
}

#[tokio::test]
async fn external_login_with_each_maker_s_pkcs12_key_store() {
    for store in ["client.p12", "client-legacy.p12", "client-keytool.p12"] {
        // No password in the URI: the broker takes the user (guest) from
        // the certificate in the store.
        let conn = Connection::builder()
            .uri(format!("amqps://localhost:{}/%2f", amqps_port()))
            .tls(pkcs12_tls(store, STORE_PASSWORD))
            .auth_mechanism(AuthMechanism::External)
            .recovery(RecoveryConfig::disabled())
            .connect()
            .await
            .unwrap_or_else(|e| panic!("EXTERNAL with {store}: {e}"));
        let ch = conn.open_channel().await.unwrap();
        ch.confirm_select().await.unwrap();
        let queue = names::queue("tls-pkcs12");
        ch.queue_declare(&queue, QueueOptions::default().exclusive())
            .await
            .unwrap();
        let body = format!("by {store}");
        ch.publish(
            "",
            &queue,
            body.clone().into_bytes(),
            BasicProperties::default(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
        let mut consumer = ch.consume(&queue, ConsumeOptions::default()).await.unwrap();
        let d = tokio::time::timeout(Duration::from_secs(10), consumer.next())
            .await
            .expect("a delivery in time")
            .expect("the consumer goes on")
            .expect("a delivery");
        assert_eq!(&d.body()[..], body.as_bytes());
        d.ack().await.unwrap();
        drop(consumer);
        conn.close().await.unwrap();
    }
}

#[tokio::test]
async fn a_wrong_store_password_names_the_store_and_not_the_password() {
    let started = Instant::now();
    let e = Connection::builder()
        .uri(format!("amqps://localhost:{}/%2f", amqps_port()))
        .tls(pkcs12_tls("client.p12", "not-changeit-9f3a"))
        .auth_mechanism(AuthMechanism::External)
        .recovery(RecoveryConfig::disabled())
        .connect()
        .await
        .expect_err("a wrong key store password");
    assert!(started.elapsed() < Duration::from_secs(10), "{e}");
    let text = format!("{e} / {e:?}");
    assert!(
        text.contains("wrong password") && text.contains("client.p12"),
        "{text}"
    );
    assert!(!text.contains("not-changeit-9f3a"), "{text}");

    // A trust store opened with a wrong password fails the same way.
    let tls = TlsConfig::new().ca_pkcs12_file(tls_file("ca-truststore.p12"), "nope-7c1d");
    let e = Connection::builder()
        .uri(format!(
            "amqps://guest:guest@localhost:{}/%2f",
            amqps_port()
        ))
        .tls(tls)
        .recovery(RecoveryConfig::disabled())
        .connect()
        .await
        .expect_err("a wrong trust store password");
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    let mut cause = None;
    while let Some(s) = source {
        if let Some(t) = s.downcast_ref::<TlsError>() {
            cause = Some(t);
        }
        source = s.source();
    }
    assert!(
        matches!(
            cause,
            Some(TlsError::File {
                what: "CA store",
                ..
            })
        ),
        "{e:?}"
    );
    assert!(!format!("{e} {e:?}").contains("nope-7c1d"), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_ssl_with_pkcs12_stores_by_the_java_property_names() {
    const RECORDS: usize = 200;
    let bootstrap = endpoints::kafka_ssl_bootstrap();
    let truststore = tls_file("ca-truststore.p12").display().to_string();
    let keystore = tls_file("client-keytool.p12").display().to_string();
    let mut client = ClientConfig::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("security.protocol", "SSL"),
        ("ssl.truststore.type", "PKCS12"),
        ("ssl.truststore.location", &truststore),
        ("ssl.truststore.password", STORE_PASSWORD),
        ("ssl.keystore.type", "PKCS12"),
        ("ssl.keystore.location", &keystore),
        ("ssl.keystore.password", STORE_PASSWORD),
        ("ssl.key.password", STORE_PASSWORD),
    ])
    .expect("PKCS12 properties");
    client.connect_timeout = Duration::from_secs(5);
    client.request_timeout = Duration::from_secs(10);
    assert!(!format!("{client:?}").contains(STORE_PASSWORD));

    let topic = names::topic("ssl-pkcs12");
    let admin = Admin::builder("unused:1")
        .client_config(client.clone())
        .build()
        .await
        .expect("admin");
    admin
        .create_topics([NewTopic::new(&topic, 2, 1)])
        .await
        .expect("create topic");
    let producer = Producer::builder("unused:1")
        .client_config(client.clone())
        .acks(Acks::All)
        .build()
        .await
        .expect("producer");
    let mut deliveries = Vec::new();
    for i in 0..RECORDS {
        let value = format!("p12-{i}");
        let record = ProducerRecord::new(&topic).value(&value);
        deliveries.push(producer.enqueue(record).await.expect("enqueue"));
    }
    for d in deliveries {
        d.await.expect("delivered");
    }
    producer.close().await.unwrap();

    let mut consumer = Consumer::builder("unused:1")
        .client_config(client)
        .group(names::group("ssl-pkcs12"))
        .auto_offset_reset(OffsetReset::Earliest)
        .build()
        .await
        .expect("consumer");
    consumer.subscribe([topic.as_str()]).await.unwrap();
    let mut seen = [false; RECORDS];
    let mut missing = RECORDS;
    while missing > 0 {
        let rec = tokio::time::timeout(Duration::from_secs(30), consumer.next())
            .await
            .unwrap_or_else(|_| panic!("{missing} records missing"))
            .expect("the stream goes on")
            .expect("a record");
        let value = String::from_utf8(rec.value().unwrap_or_default().to_vec()).unwrap();
        let i: usize = value
            .strip_prefix("p12-")
            .and_then(|n| n.parse().ok())
            .expect("value has an index");
        if !seen[i] {
            seen[i] = true;
            missing -= 1;
        }
    }
    consumer.close().await.unwrap();
}
