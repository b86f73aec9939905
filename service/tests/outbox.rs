//! The transactional outbox against the real PostgreSQL (`POSTGRES_URL`,
//! from `scripts/stores up`) and the real brokers: 10,000 orders from 4
//! concurrent writers, 2 relays (one killed mid-batch), the PostgreSQL
//! inbox downstream; and the outbox's bad input.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use mq_service::Bus;
use mq_service::outbox::{Outbox, OutboxError, OutboxMessage};
use mq_tests::names;
use mq_tests::proxy::FaultProxy;
use support::Broker;
use support::outbox::{connect, orders_through_the_outbox};

fn url() -> String {
    std::env::var("POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://mq:mq-secret@127.0.0.1:15432/mq".to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_rabbitmq_10k_orders_4_writers_2_relays_one_killed() {
    orders_through_the_outbox(&url(), Broker::Amqp, 10_000, 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_kafka_10k_orders_4_writers_2_relays_one_killed() {
    orders_through_the_outbox(&url(), Broker::Kafka, 10_000, 4).await;
}

/// An aggregate key, destination or message id over the limit is a clear
/// error, and nothing is written.
#[tokio::test]
async fn outbox_fields_too_long_are_refused() {
    let outbox =
        Outbox::with_table(&names::unique("ob_long").replace(['-', '.'], "_")).expect("table name");
    let mut client = connect(&url()).await;
    outbox.create_tables(&client).await.expect("tables");
    let long = "x".repeat(300);
    let tx = client.transaction().await.expect("begin");
    for (msg, field) in [
        (
            OutboxMessage::raw("orders", long.as_str(), "text/plain", "body"),
            "aggregate",
        ),
        (
            OutboxMessage::raw(long.as_str(), "o-1", "text/plain", "body"),
            "destination",
        ),
        (
            OutboxMessage::raw("orders", "o-1", "text/plain", "body").message_id(long.as_str()),
            "message_id",
        ),
    ] {
        let e = outbox.enqueue(&tx, msg).await.expect_err("too long");
        assert!(
            matches!(e, OutboxError::FieldLength { field: f, len: 300, max: 255 } if f == field),
            "{e:?}"
        );
        assert!(!e.is_retriable());
        assert!(e.to_string().contains(field), "{e}");
    }
    let ok = outbox
        .enqueue(
            &tx,
            OutboxMessage::raw("orders", "o-1", "text/plain", "body"),
        )
        .await
        .expect("a fitting one");
    assert_eq!(ok.seq, 1);
    tx.commit().await.expect("commit");
    assert_eq!(outbox.pending(&client).await.expect("pending"), 1);
    let t = outbox.table();
    client
        .batch_execute(&format!("DROP TABLE {t}; DROP TABLE {t}_seq"))
        .await
        .expect("drop");
}

/// PostgreSQL down or stalled under a relay: the batch is a retriable
/// database error that names no password, nothing is published or
/// deleted, and once the database answers the rows go out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_relay_database_down_is_retriable_and_keeps_the_rows() {
    let url = url();
    let outbox =
        Outbox::with_table(&names::unique("ob_down").replace(['-', '.'], "_")).expect("table name");
    let admin = connect(&url).await;
    outbox.create_tables(&admin).await.expect("tables");
    outbox
        .enqueue(
            &admin,
            OutboxMessage::raw("mq-outbox-down", "o-1", "text/plain", "body"),
        )
        .await
        .expect("enqueue");
    let start = url.find('@').expect("a user in POSTGRES_URL") + 1;
    let end = start + url[start..].find('/').expect("a database");
    let upstream: SocketAddr = url[start..end].parse().expect("an IP address");
    let proxy = FaultProxy::start(upstream).await.expect("proxy");
    let proxied = format!("{}{}{}", &url[..start], proxy.addr(), &url[end..]);
    let conn = mq_client::amqp::Connection::connect(&mq_tests::endpoints::amqp_url())
        .await
        .expect("connect");
    let mut relay = outbox
        .relay(&proxied, Bus::amqp(conn.clone()))
        .build()
        .await
        .expect("relay");
    assert!(!format!("{relay:?}").contains("mq-secret"), "{relay:?}");

    proxy.refuse_for(Duration::from_secs(3600));
    proxy.cut_all();
    let e = relay.run_once().await.expect_err("database down");
    assert!(
        matches!(e, OutboxError::Database(_)) && e.is_retriable(),
        "{e:?}"
    );
    assert!(!e.to_string().contains("mq-secret"), "{e}");
    assert_eq!(outbox.pending(&admin).await.expect("pending"), 1);

    proxy.refuse_for(Duration::ZERO);
    let report = relay.run_once().await.expect("database back");
    assert_eq!((report.published, report.failed), (1, 0), "{report:?}");
    assert_eq!(outbox.pending(&admin).await.expect("pending"), 0);

    let t = outbox.table();
    admin
        .batch_execute(&format!("DROP TABLE {t}; DROP TABLE {t}_seq"))
        .await
        .expect("drop");
    if let Ok(ch) = conn.open_channel().await {
        let _ = ch.exchange_delete("mq-outbox-down", false).await;
    }
    let _ = conn.close().await;
}
