//! Publishing helpers against the real broker: the returns stream (with
//! and without confirms) and the bounded-confirm `Publisher`.

mod amqp_client_support;

use std::time::Duration;

use amqp_client_support::{connect, wait_count};
use mq_client::StreamExt;
use mq_client::amqp::{BasicProperties, Error, PublishOptions, QueueOptions, ReplyCode};
use mq_tests::names;

#[tokio::test]
async fn a_mandatory_publish_without_confirms_comes_back_on_the_returns_stream() {
    let conn = connect("returns-plain").await;
    let ch = conn.open_channel().await.unwrap();
    assert!(!ch.is_confirm_mode());
    let mut returns = ch.returns();
    let nowhere = names::queue("no-such");
    ch.publish_with(
        "",
        &nowhere,
        &b"lost order"[..],
        BasicProperties::default().with_message_id("m-1"),
        PublishOptions::mandatory(),
    )
    .await
    .expect("queued")
    .await
    .expect("outside confirm mode the confirm is ready at once");
    let r = tokio::time::timeout(Duration::from_secs(10), returns.next())
        .await
        .expect("a return within 10 s")
        .expect("the stream goes on");
    assert_eq!(r.reply_code, ReplyCode::NO_ROUTE);
    assert_eq!(r.reply_text(), "NO_ROUTE");
    assert_eq!(r.exchange(), "");
    assert_eq!(r.routing_key(), nowhere.as_str());
    assert_eq!(r.body_ref(), &b"lost order"[..]);
    assert_eq!(
        r.properties().message_id.as_ref().map(|m| m.to_string()),
        Some("m-1".to_owned())
    );
    // A routed mandatory publish does not come back.
    let q = ch
        .queue_declare("", QueueOptions::default().exclusive())
        .await
        .unwrap();
    ch.publish_with(
        "",
        q.name(),
        &b"kept"[..],
        BasicProperties::default(),
        PublishOptions::mandatory(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    wait_count(&ch, q.name(), 1).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(300), returns.next())
            .await
            .is_err(),
        "nothing else came back"
    );
    // The stream ends with the channel.
    ch.close().await.unwrap();
    let end = tokio::time::timeout(Duration::from_secs(5), returns.next())
        .await
        .expect("the stream ends");
    assert!(end.is_none());
    conn.close().await.unwrap();
}

#[tokio::test]
async fn in_confirm_mode_a_return_fails_the_confirm_and_reaches_the_stream() {
    let conn = connect("returns-confirm").await;
    let ch = conn.open_channel().await.unwrap();
    ch.confirm_select().await.unwrap();
    let mut returns = ch.returns();
    let nowhere = names::queue("no-such");
    let confirm = ch
        .publish_with(
            "",
            &nowhere,
            &b"x"[..],
            BasicProperties::default(),
            PublishOptions::mandatory(),
        )
        .await
        .unwrap();
    match confirm.await {
        Err(Error::Returned { code, message, .. }) => {
            assert_eq!(code, ReplyCode::NO_ROUTE);
            assert_eq!(message.body_ref(), &b"x"[..]);
        }
        other => panic!("expected Returned, got {other:?}"),
    }
    let r = tokio::time::timeout(Duration::from_secs(10), returns.next())
        .await
        .expect("a return within 10 s")
        .expect("the stream goes on");
    assert_eq!(r.routing_key(), nowhere.as_str());
    conn.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounded_publisher_keeps_at_most_its_limit_unconfirmed() {
    const TOTAL: u64 = 200_000;
    const LIMIT: usize = 1000;
    let conn = connect("bounded-publisher").await;
    let ch = conn.open_channel().await.unwrap();
    let q = ch
        .queue_declare("", QueueOptions::default().exclusive())
        .await
        .unwrap();
    let mut publisher = ch.publisher::<u64>(LIMIT).await.unwrap();
    assert!(ch.is_confirm_mode(), "the publisher turned confirms on");
    let mut most = 0;
    let mut reached_limit = 0u64;
    for id in 0..TOTAL {
        publisher
            .publish(
                id,
                "",
                q.name(),
                id.to_be_bytes().to_vec(),
                BasicProperties::default(),
            )
            .await
            .unwrap_or_else(|e| panic!("publish {}: {}", e.tag, e.error));
        let in_flight = publisher.in_flight();
        assert!(in_flight <= LIMIT, "{in_flight} unconfirmed after {id}");
        most = most.max(in_flight);
        reached_limit += u64::from(in_flight == LIMIT);
    }
    assert_eq!(most, LIMIT, "the window filled up");
    assert!(reached_limit > 0);
    tokio::time::timeout(Duration::from_secs(60), publisher.flush())
        .await
        .expect("every confirm within 60 s")
        .expect("every publish acked");
    assert_eq!(publisher.in_flight(), 0);
    wait_count(&ch, q.name(), TOTAL as u32).await;
    conn.close().await.unwrap();
}

#[tokio::test]
async fn a_bounded_publisher_hands_back_the_tag_of_what_failed() {
    let conn = connect("bounded-publisher-fail").await;
    let ch = conn.open_channel().await.unwrap();
    let mut publisher = ch.publisher::<&'static str>(2).await.unwrap();
    let nowhere = names::queue("no-such");
    publisher
        .publish_with(
            "unroutable",
            "",
            &nowhere,
            &b"x"[..],
            BasicProperties::default(),
            PublishOptions::mandatory(),
        )
        .await
        .unwrap();
    let failed = tokio::time::timeout(Duration::from_secs(10), publisher.flush())
        .await
        .expect("settled")
        .expect_err("the return fails the flush");
    assert_eq!(failed.tag, "unroutable");
    assert!(matches!(failed.error, Error::Returned { .. }), "{failed}");
    publisher.flush().await.expect("nothing else outstanding");
    conn.close().await.unwrap();
}
