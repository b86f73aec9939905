//! Proves the RabbitMQ from `scripts/brokers` is real: it answers the AMQP
//! 0-9-1 protocol header with connection.start on channel 0.

use mq_tests::{endpoints, probe};

#[tokio::test]
async fn broker_sends_connection_start() {
    let frame = probe::amqp_connection_start(endpoints::amqp_addr())
        .await
        .expect("RabbitMQ must answer on the AMQP port; run scripts/brokers up");
    assert_eq!(frame.frame_type, 1, "a method frame");
    assert_eq!(frame.channel, 0, "on channel 0");
    assert_eq!(
        (frame.class_id, frame.method_id),
        (10, 10),
        "connection.start"
    );
    assert_eq!(frame.version, (0, 9), "protocol version 0-9");
    assert_eq!(frame.frame_end, 0xCE, "frame-end octet");
    let text = String::from_utf8_lossy(&frame.payload);
    assert!(
        text.contains("RabbitMQ"),
        "server properties name the product"
    );
}
