//! The RabbitMQ half of the service bench: the raw client and mq-service
//! on one broker, each workload the same way.

use super::*;

pub(super) struct Rabbit {
    /// The raw client's connection and a channel in confirm mode.
    pub(super) ch: amqp::Channel,
    pub(super) conn: amqp::Connection,
    /// The service's own connection.
    pub(super) bus: Bus,
    /// Source exchange and queue of the no-op rows, and of the 1 ms rows.
    pub(super) noop: (String, String),
    pub(super) slow: (String, String),
    /// The publish rows' exchange and its queue.
    pub(super) publish: (String, String),
    pub(super) dead: String,
}

pub(super) async fn declare(ch: &amqp::Channel, exchange: &str, queue: &str) {
    ch.exchange_declare(exchange, ExchangeKind::Topic, ExchangeOptions::durable())
        .await
        .expect("exchange");
    ch.queue_declare(queue, QueueOptions::durable())
        .await
        .expect("queue");
    ch.queue_bind(queue, exchange, "#", FieldTable::new())
        .await
        .expect("bind");
}

impl Rabbit {
    pub(super) async fn new() -> Self {
        let url = amqp_url();
        let connect = |name: &'static str| {
            let url = url.clone();
            async move {
                amqp::Connection::builder()
                    .uri(&url)
                    .name(name)
                    .connect()
                    .await
                    .expect("connect")
            }
        };
        let conn = connect("bench-service-raw").await;
        let ch = conn.open_channel().await.expect("channel");
        ch.confirm_select().await.expect("confirms");
        let pair = |what: &str| {
            let x = mq_tests::names::exchange(what);
            let q = format!("{x}.q");
            (x, q)
        };
        let (noop, slow, publish) = (pair("svc-noop"), pair("svc-slow"), pair("svc-pub"));
        for (x, q) in [&noop, &slow, &publish] {
            declare(&ch, x, q).await;
        }
        let bus = Bus::amqp(connect("bench-service").await);
        Rabbit {
            ch,
            conn,
            bus,
            dead: format!("{}.dead", noop.0),
            noop,
            slow,
            publish,
        }
    }

    /// Empties `queue`, then fills it through `exchange` with `n` messages
    /// as mq-service's publisher sends them, keyed over `keys`.
    pub(super) async fn fill(&self, exchange: &str, queue: &str, keys: &[String], n: u64) {
        self.fill_with_ids(exchange, queue, keys, n, None).await;
    }

    /// [`fill`](Self::fill); with `ids`, message `i`'s id is `<ids>-<i>`
    /// (else every message has the same id, `MESSAGE_ID`).
    pub(super) async fn fill_with_ids(
        &self,
        exchange: &str,
        queue: &str,
        keys: &[String],
        n: u64,
        ids: Option<&str>,
    ) {
        self.ch.queue_purge(queue).await.expect("purge");
        let body = Bytes::from(serde_json::to_vec(&order()).expect("json"));
        let mut window = VecDeque::with_capacity(WINDOW);
        for i in 0..n {
            let key = &keys[i as usize % keys.len()];
            let id = ids.map_or_else(|| MESSAGE_ID.to_owned(), |p| format!("{p}-{i}"));
            let headers = FieldTable::builder()
                .insert("x-mq-message-id", id.as_str())
                .insert("traceparent", TRACEPARENT)
                .insert("x-mq-key", key.as_str())
                .build();
            let props = BasicProperties::default()
                .with_content_type(CONTENT_TYPE)
                .with_message_id(id.as_str())
                .with_headers(headers);
            let c = self
                .ch
                .publish(exchange, key, body.clone(), props)
                .await
                .expect("publish");
            window.push_back(c);
            if window.len() >= WINDOW {
                if let Some(c) = window.pop_front() {
                    c.await.expect("acked");
                }
            }
        }
        for c in window {
            c.await.expect("acked");
        }
    }

    /// raw: consume with prefetch, decode, ack each.
    pub(super) async fn consume_raw(&self, queue: &str, probe: &Probe) -> Sample {
        let mut consumer = self
            .ch
            .consume(queue, ConsumeOptions::default().prefetch(PREFETCH))
            .await
            .expect("consume");
        loop {
            let d = consumer.next().await.expect("open").expect("delivery");
            let o: Order = serde_json::from_slice(&d.body()).expect("decode");
            std::hint::black_box(&o);
            d.ack().await.expect("ack");
            if probe.hit() {
                break;
            }
        }
        consumer.cancel().await.expect("cancel");
        probe.finished().await
    }

    /// service: a subscriber until the probe has seen every message.
    pub(super) async fn consume_service(
        &self,
        source: &(String, String),
        workers: usize,
        max_in_flight: Option<u32>,
        wait: Wait,
        probe: &Arc<Probe>,
    ) -> Sample {
        let mut b = self
            .bus
            .subscriber::<Order, Json>(&source.0, "bench")
            .queue(&source.1)
            .dead_letter(&self.dead)
            .concurrency(workers)
            .ordered_by_key();
        if let Some(m) = max_in_flight {
            b = b.max_in_flight(m);
        }
        let running = b.start(handler(probe, wait)).await.expect("subscriber");
        let sample = probe.finished().await;
        running.shutdown().await.expect("shutdown");
        sample
    }

    pub(super) async fn publish_raw(&self, keys: &[String], n: u64) {
        let o = order();
        let mut window = VecDeque::with_capacity(WINDOW);
        for i in 0..n {
            let body = serde_json::to_vec(&o).expect("encode");
            let props = BasicProperties::default()
                .persistent()
                .with_content_type(CONTENT_TYPE);
            let key = &keys[i as usize % keys.len()];
            let c = self
                .ch
                .publish(&self.publish.0, key, body, props)
                .await
                .expect("publish");
            window.push_back(c);
            if window.len() >= WINDOW {
                if let Some(c) = window.pop_front() {
                    c.await.expect("acked");
                }
            }
        }
        for c in window {
            c.await.expect("acked");
        }
    }

    /// The raw client driven as the service's publishes are: each publish
    /// its own future, to its confirm, `WINDOW` at once, carrying the
    /// headers the service adds (message id, `traceparent`, key; the
    /// broker is slower with them, and so each wake-up is shared by fewer
    /// messages).
    pub(super) async fn publish_raw_each(&self, keys: &[String], n: u64) {
        let o = order();
        let mut inflight = FuturesUnordered::new();
        for i in 0..n as usize {
            if inflight.len() >= WINDOW {
                inflight.next().await.expect("in flight");
            }
            let key = &keys[i % keys.len()];
            let ch = &self.ch;
            let exchange = &self.publish.0;
            let o = &o;
            inflight.push(async move {
                let body = serde_json::to_vec(o).expect("encode");
                let id = format!("{i:032x}");
                let headers = FieldTable::builder()
                    .insert("x-mq-message-id", id.as_str())
                    .insert(
                        "traceparent",
                        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                    )
                    .insert("x-mq-key", key.as_str())
                    .build();
                let props = BasicProperties::default()
                    .persistent()
                    .with_content_type(CONTENT_TYPE)
                    .with_message_id(id.as_str())
                    .with_headers(headers);
                let c = ch
                    .publish(exchange, key, body, props)
                    .await
                    .expect("publish");
                c.await.expect("acked");
            });
        }
        while inflight.next().await.is_some() {}
    }

    pub(super) async fn cleanup(&self) {
        for (x, q) in [&self.noop, &self.slow, &self.publish] {
            let _ = self.ch.queue_delete(q, Default::default()).await;
            let _ = self.ch.exchange_delete(x, false).await;
        }
        let _ = self.ch.queue_delete(&self.dead, Default::default()).await;
        let _ = self.ch.exchange_delete(&self.dead, false).await;
        let _ = self.bus.close().await;
        let _ = self.conn.close().await;
    }
}
