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

/// Confirm state is per channel: two channels of one connection publish
/// side by side in confirm mode, and one of them is then closed by the
/// broker (a publish to an exchange that does not exist). Every confirm of
/// the healthy channel resolves acked and its queue holds every message;
/// the closed channel's unconfirmed publishes fail with the channel's
/// error and none is reported acked that the broker did not ack.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_channel_s_confirms_are_its_own() {
    let conn = connect("confirms-per-channel").await;
    let a = conn.open_channel().await.unwrap();
    let b = conn.open_channel().await.unwrap();
    a.confirm_select().await.unwrap();
    b.confirm_select().await.unwrap();
    let qa = a
        .queue_declare("", QueueOptions::default().exclusive())
        .await
        .unwrap();
    let qb = b
        .queue_declare("", QueueOptions::default().exclusive())
        .await
        .unwrap();
    let qb = qb.name().to_owned();
    const N: usize = 5_000;
    let mut ca = Vec::with_capacity(N);
    let mut cb = Vec::with_capacity(N);
    for i in 0..N {
        let body = format!("{i}");
        ca.push(
            a.publish(
                "",
                qa.name(),
                body.clone().into_bytes(),
                BasicProperties::default(),
            )
            .await
            .unwrap(),
        );
        cb.push(
            b.publish("", &qb, body.into_bytes(), BasicProperties::default())
                .await
                .unwrap(),
        );
    }
    for c in ca {
        c.await.expect("channel a acked");
    }
    for c in cb {
        c.await.expect("channel b acked");
    }
    wait_count(&a, qa.name(), N as u32).await;
    wait_count(&a, &qb, N as u32).await;

    // Channel b goes: its publish to a missing exchange closes it with
    // 404, and the confirms of what followed it fail, never acked.
    let missing = names::exchange("no-such-exchange");
    let doomed = b
        .publish(&missing, "", &b"x"[..], BasicProperties::default())
        .await
        .unwrap();
    let mut after = Vec::new();
    for _ in 0..100 {
        match b
            .publish("", &qb, &b"late"[..], BasicProperties::default())
            .await
        {
            Ok(c) => after.push(c),
            Err(_) => break,
        }
    }
    let mut more_a = Vec::new();
    for i in 0..1_000 {
        more_a.push(
            a.publish(
                "",
                qa.name(),
                format!("more {i}").into_bytes(),
                BasicProperties::default(),
            )
            .await
            .unwrap(),
        );
    }
    match doomed.await {
        Err(Error::ChannelClosed { code, .. }) => assert_eq!(code, ReplyCode::NOT_FOUND),
        other => panic!("the publish to a missing exchange: {other:?}"),
    }
    let mut acked_late = 0;
    for c in after {
        match c.await {
            Ok(()) => acked_late += 1,
            Err(Error::ChannelClosed { code, .. }) => assert_eq!(code, ReplyCode::NOT_FOUND),
            Err(e) => panic!("a late publish on the closed channel: {e:?}"),
        }
    }
    for c in more_a {
        c.await.expect("channel a goes on acking");
    }
    wait_count(&a, qa.name(), N as u32 + 1_000).await;
    // Whatever channel b's confirms called acked is in its queue: the
    // broker closes the channel at the bad publish, so nothing after it
    // can be.
    wait_count(&a, &qb, (N + acked_late) as u32).await;
    assert_eq!(acked_late, 0, "nothing after the channel's close was acked");
}
