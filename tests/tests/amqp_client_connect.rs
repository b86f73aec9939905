//! Connecting: URI parameters, connection name, client properties and
//! capabilities as the broker sees them, failover across URIs, refused
//! logins.

mod amqp_client_support;

use amqp_client_support::rabbitmqctl;
use mq_client::amqp::{Connection, Error, QueueOptions};
use mq_tests::{endpoints, names};

/// The broker's view of the connection named `name`.
fn broker_connection(name: &str) -> serde_json::Value {
    for _ in 0..50 {
        let out = rabbitmqctl(&[
            "list_connections",
            "client_properties",
            "timeout",
            "frame_max",
            "channel_max",
            "--formatter",
            "json",
        ]);
        let list: serde_json::Value = serde_json::from_str(&out).expect("json");
        if let Some(c) = list.as_array().into_iter().flatten().find(|c| {
            c["client_properties"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| p[0] == "connection_name" && p[2] == name)
        }) {
            return c.clone();
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the broker does not list connection {name}");
}

#[tokio::test]
async fn uri_parameters_name_and_capabilities_reach_the_broker() {
    let name = names::unique("connect-props");
    let addr = endpoints::amqp_addr();
    let uri = format!(
        "amqp://guest:guest@{addr}/%2f?heartbeat=7&frame_max=65536&channel_max=42&connection_timeout=5000"
    );
    let conn = Connection::builder()
        .uri(uri)
        .name(&name)
        .connect()
        .await
        .unwrap();
    assert_eq!(conn.name(), name);
    let seen = tokio::task::spawn_blocking({
        let name = name.clone();
        move || broker_connection(&name)
    })
    .await
    .unwrap();
    assert_eq!(seen["timeout"], 7, "{seen}");
    assert_eq!(seen["frame_max"], 65536, "{seen}");
    assert_eq!(seen["channel_max"], 42, "{seen}");
    let props = seen["client_properties"].to_string();
    for capability in [
        "publisher_confirms",
        "consumer_cancel_notify",
        "basic.nack",
        "connection.blocked",
        "exchange_exchange_bindings",
        "authentication_failure_close",
    ] {
        assert!(props.contains(capability), "{capability} missing: {props}");
    }
    assert!(props.contains("product"), "{props}");
    conn.close().await.unwrap();
}

#[tokio::test]
async fn failover_to_the_next_uri() {
    // A port nothing listens on.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let conn = Connection::connect_any([
        format!("amqp://guest:guest@{dead_addr}/%2f"),
        endpoints::amqp_url(),
    ])
    .await
    .expect("the second URI answers");
    let ch = conn.open_channel().await.unwrap();
    ch.queue_declare("", QueueOptions::default().exclusive())
        .await
        .unwrap();
    match Connection::connect(&format!("amqp://guest:guest@{dead_addr}/%2f")).await {
        Err(e @ Error::Connect { .. }) => assert!(e.is_retriable()),
        other => panic!("expected a connect error, got {other:?}"),
    }
    assert!(matches!(
        Connection::connect("http://nowhere").await,
        Err(Error::InvalidUri(_))
    ));
}

#[tokio::test]
async fn heartbeats_keep_an_idle_connection_alive() {
    let addr = endpoints::amqp_addr();
    let conn = Connection::builder()
        .uri(format!("amqp://guest:guest@{addr}/%2f?heartbeat=1"))
        .name("connect-heartbeat")
        .connect()
        .await
        .unwrap();
    let mut events = conn.events();
    let ch = conn.open_channel().await.unwrap();
    // Idle for four intervals: without heartbeats either side would have
    // given up after two.
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    assert!(conn.is_connected());
    ch.queue_declare("", QueueOptions::default().exclusive())
        .await
        .expect("still usable");
    use futures_util::StreamExt;
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(10), events.next())
            .await
            .is_err(),
        "no loss was reported"
    );
}
