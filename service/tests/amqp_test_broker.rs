//! A service's own test with no broker to run: the billing service of the
//! orders example (a subscriber with retries and a dead-letter queue, and
//! a confirming publisher) against mq-client's in-process test broker
//! (feature `test-broker`). The runtime's clock is paused, so the retry
//! backoff costs no real time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use mq_client::amqp::test_broker::TestBroker;
use mq_service::{Backoff, Bus, HandlerError, Json, Message};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct OrderEvent {
    order_id: String,
    amount: i64,
}

#[tokio::test(start_paused = true)]
async fn billing_retries_and_dead_letters_on_the_test_broker() {
    let broker = TestBroker::new();
    let bus = Bus::amqp(broker.connect().await.unwrap());

    let (billed, flaky_failures) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let billing = bus
        .subscriber::<OrderEvent, Json>("orders", "billing")
        .retry(
            Backoff::exponential(Duration::from_millis(100), 2.0, Duration::from_secs(5))
                .attempts(5),
        )
        .dead_letter("orders.dead")
        .start({
            let (billed, flaky_failures) = (billed.clone(), flaky_failures.clone());
            move |msg: Message<OrderEvent>| {
                let (billed, flaky_failures) = (billed.clone(), flaky_failures.clone());
                async move {
                    let order = msg.payload();
                    if order.amount < 0 {
                        return Err(HandlerError::permanent("negative amount"));
                    }
                    // The payment service fails the first try of order 3.
                    if order.order_id == "order-3" && msg.attempt() == 1 {
                        flaky_failures.fetch_add(1, Ordering::SeqCst);
                        return Err(HandlerError::retriable("payment service unavailable"));
                    }
                    billed.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                }
            }
        })
        .await
        .unwrap();

    let orders = bus.publisher::<OrderEvent, Json>("orders");
    for n in 0..10 {
        let event = OrderEvent {
            order_id: format!("order-{n}"),
            amount: if n == 9 { -1 } else { 100 * n },
        };
        orders.publish(&event).key(&event.order_id).await.unwrap();
    }

    let mut waited = 0;
    while billed.load(Ordering::SeqCst) < 9 || broker.queue_len("orders.dead") != Some(1) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
        assert!(
            waited < 1200,
            "billed {} in 60 s",
            billed.load(Ordering::SeqCst)
        );
    }
    billing.shutdown().await.unwrap();
    assert_eq!(billed.load(Ordering::SeqCst), 9);
    assert_eq!(flaky_failures.load(Ordering::SeqCst), 1);
    let dead = broker.queue_bodies("orders.dead");
    assert!(
        String::from_utf8_lossy(&dead[0]).contains("order-9"),
        "the dead letter is order 9: {dead:?}"
    );
    assert_eq!(broker.unacked(), 0, "every delivery settled");
    bus.close().await.unwrap();
}
