//! The AMQP client end to end against the real RabbitMQ at 127.0.0.1:5672
//! (`AMQP_URL` overrides it).
//!
//! - publish: 100 B messages with publisher confirms and a window of 1,000
//!   outstanding confirms; each client awaits its own confirms.
//! - consume: the queue is filled (untimed), then a consumer with prefetch
//!   1,000 takes every message and acks each delivery.
//!
//! Criterion times each sample of `iters` messages (its throughput line is
//! messages per second). Around the same measured sections the process's
//! CPU time (getrusage, user + system, every thread) is summed and printed
//! per benchmark as µs per message: that is the client's CPU cost, the
//! broker being another process. With `--features peers`, lapin 3 and
//! amqprs 2 run the same workloads in the same run.
//!
//! mq-client runs each workload twice: over plain TCP and over TLS
//! (`AMQPS_URL`, default the TLS listener on localhost:5671 with the CA
//! `scripts/brokers up` made), so the cost of TLS is measured in one run.
//!
//! `cargo bench -p mq-benches --features peers --bench amqp_client`

use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use mq_benches::{amqp_workload, cpu_times};
use mq_client::amqp::{self, QueueOptions};
use tokio::runtime::Runtime;

const BODY: [u8; 100] = [b'x'; 100];

fn url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// The CA `scripts/brokers up` made (`TLS_DIR` moves it).
fn tls_ca() -> String {
    mq_tests::endpoints::tls_dir()
        .join("ca.pem")
        .display()
        .to_string()
}

/// The TLS listener with that CA as `cacertfile` (`AMQPS_URL`, without
/// a query, moves it).
fn tls_url() -> String {
    let base = std::env::var("AMQPS_URL")
        .unwrap_or_else(|_| "amqps://guest:guest@localhost:5671/%2f".into());
    format!("{base}?cacertfile={}", tls_ca())
}

/// Messages, wall time and CPU time summed over a benchmark's samples.
#[derive(Default)]
struct Tally {
    messages: u64,
    wall: Duration,
    cpu: Duration,
    system: Duration,
}

static TALLY: Mutex<Tally> = Mutex::new(Tally {
    messages: 0,
    wall: Duration::ZERO,
    cpu: Duration::ZERO,
    system: Duration::ZERO,
});

/// Runs the measured section and adds it to the tally; returns its wall time.
fn measured<F: std::future::Future<Output = ()>>(rt: &Runtime, messages: u64, f: F) -> Duration {
    let (user0, system0) = cpu_times();
    let t0 = Instant::now();
    rt.block_on(f);
    let wall = t0.elapsed();
    let (user1, system1) = cpu_times();
    let system = system1.saturating_sub(system0);
    let mut t = TALLY.lock().unwrap_or_else(|p| p.into_inner());
    t.messages += messages;
    t.wall += wall;
    t.cpu += user1.saturating_sub(user0) + system;
    t.system += system;
    wall
}

fn report(name: &str) {
    let mut t = TALLY.lock().unwrap_or_else(|p| p.into_inner());
    if t.messages > 0 {
        let rate = t.messages as f64 / t.wall.as_secs_f64();
        let cpu_us = t.cpu.as_secs_f64() * 1e6 / t.messages as f64;
        let system_us = t.system.as_secs_f64() * 1e6 / t.messages as f64;
        println!(
            "REPORT {name}: {} messages, {rate:.0} msg/s, client CPU {cpu_us:.2} µs/msg \
             (system {system_us:.2})",
            t.messages
        );
    }
    *t = Tally::default();
}

/// mq-client: the client under test.
struct Ours {
    ch: amqp::Channel,
    queue: String,
}

impl Ours {
    async fn new(url: &str, queue: &str) -> Self {
        let conn = amqp::Connection::builder()
            .uri(url)
            .name("bench-mq-client")
            .connect()
            .await
            .expect("connect");
        let ch = conn.open_channel().await.expect("channel");
        ch.queue_declare(queue, QueueOptions::default())
            .await
            .expect("declare");
        ch.confirm_select().await.expect("confirms");
        Ours {
            ch,
            queue: queue.to_owned(),
        }
    }

    async fn publish(&self, n: u64) {
        let body = bytes::Bytes::from_static(&BODY);
        amqp_workload::publish(&self.ch, &self.queue, &body, n).await;
    }

    async fn consume(&self, n: u64) {
        amqp_workload::consume(&self.ch, &self.queue, n).await;
    }

    async fn purge(&self) {
        self.ch.queue_purge(&self.queue).await.expect("purge");
    }

    async fn delete(&self) {
        let _ = self.ch.queue_delete(&self.queue, Default::default()).await;
    }
}

#[cfg(feature = "peers")]
mod peers {
    use std::collections::VecDeque;

    use futures_util::StreamExt;

    use super::*;

    const WINDOW: usize = amqp_workload::WINDOW;
    const PREFETCH: u16 = amqp_workload::PREFETCH;

    pub(crate) struct Lapin {
        ch: lapin::Channel,
        queue: String,
        _conn: lapin::Connection,
    }

    impl Lapin {
        /// `ca`: a PEM CA to trust, for an `amqps://` URL.
        pub(crate) async fn new(url: &str, queue: &str, ca: Option<&str>) -> Self {
            let tls = lapin::tcp::OwnedTLSConfig {
                identity: None,
                cert_chain: ca.map(|path| std::fs::read_to_string(path).expect("CA file")),
            };
            let conn = lapin::Connection::connect_with_config(
                url,
                lapin::ConnectionProperties::default(),
                tls,
            )
            .await
            .expect("lapin connect");
            let ch = conn.create_channel().await.expect("channel");
            ch.queue_declare(queue, Default::default(), Default::default())
                .await
                .expect("declare");
            ch.confirm_select(Default::default())
                .await
                .expect("confirms");
            Lapin {
                ch,
                queue: queue.to_owned(),
                _conn: conn,
            }
        }

        pub(crate) async fn publish(&self, n: u64) {
            let mut window = VecDeque::with_capacity(WINDOW);
            for _ in 0..n {
                let c = self
                    .ch
                    .basic_publish(
                        "",
                        &self.queue,
                        Default::default(),
                        &BODY,
                        lapin::BasicProperties::default(),
                    )
                    .await
                    .expect("publish");
                window.push_back(c);
                if window.len() >= WINDOW {
                    if let Some(c) = window.pop_front() {
                        assert!(c.await.expect("confirm").is_ack());
                    }
                }
            }
            for c in window {
                assert!(c.await.expect("confirm").is_ack());
            }
        }

        pub(crate) async fn consume(&self, n: u64) {
            self.ch
                .basic_qos(PREFETCH, Default::default())
                .await
                .expect("qos");
            let mut consumer = self
                .ch
                .basic_consume(
                    &self.queue,
                    "bench-lapin",
                    Default::default(),
                    Default::default(),
                )
                .await
                .expect("consume");
            for _ in 0..n {
                let d = consumer.next().await.expect("open").expect("delivery");
                d.ack(Default::default()).await.expect("ack");
            }
            self.ch
                .basic_cancel("bench-lapin", Default::default())
                .await
                .expect("cancel");
        }
    }

    type Result<T> = std::result::Result<T, amqprs::error::Error>;

    /// Forwards amqprs's confirm callbacks to the publisher.
    struct Confirms(tokio::sync::mpsc::UnboundedSender<(u64, bool)>);

    #[async_trait::async_trait]
    impl amqprs::callbacks::ChannelCallback for Confirms {
        async fn close(
            &mut self,
            _: &amqprs::channel::Channel,
            _: amqprs::CloseChannel,
        ) -> Result<()> {
            Ok(())
        }
        async fn cancel(&mut self, _: &amqprs::channel::Channel, _: amqprs::Cancel) -> Result<()> {
            Ok(())
        }
        async fn flow(&mut self, _: &amqprs::channel::Channel, active: bool) -> Result<bool> {
            Ok(active)
        }
        async fn publish_ack(&mut self, _: &amqprs::channel::Channel, ack: amqprs::Ack) {
            let _ = self.0.send((ack.delivery_tag(), ack.mutiple()));
        }
        async fn publish_nack(&mut self, _: &amqprs::channel::Channel, nack: amqprs::Nack) {
            panic!("nack {}", nack.delivery_tag());
        }
        async fn publish_return(
            &mut self,
            _: &amqprs::channel::Channel,
            _: amqprs::Return,
            _: amqprs::BasicProperties,
            _: Vec<u8>,
        ) {
        }
    }

    pub(crate) struct Amqprs {
        ch: amqprs::channel::Channel,
        queue: String,
        acks: tokio::sync::Mutex<(tokio::sync::mpsc::UnboundedReceiver<(u64, bool)>, u64)>,
        _conn: amqprs::connection::Connection,
    }

    impl Amqprs {
        /// `ca`: over TLS (port 5671, host localhost), trusting this PEM CA.
        pub(crate) async fn new(queue: &str, ca: Option<&str>) -> Self {
            use amqprs::channel::{ConfirmSelectArguments, QueueDeclareArguments};
            let mut args = amqprs::connection::OpenConnectionArguments::new(
                "127.0.0.1",
                if ca.is_some() { 5671 } else { 5672 },
                "guest",
                "guest",
            );
            if let Some(ca) = ca {
                args.tls_adaptor(
                    amqprs::tls::TlsAdaptor::without_client_auth(
                        Some(std::path::Path::new(ca)),
                        "localhost".to_owned(),
                    )
                    .expect("amqprs TLS"),
                );
            }
            let conn = amqprs::connection::Connection::open(&args)
                .await
                .expect("amqprs connect");
            let ch = conn.open_channel(None).await.expect("channel");
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            ch.register_callback(Confirms(tx)).await.expect("callback");
            ch.queue_declare(QueueDeclareArguments::new(queue))
                .await
                .expect("declare");
            ch.confirm_select(ConfirmSelectArguments::default())
                .await
                .expect("confirms");
            Amqprs {
                ch,
                queue: queue.to_owned(),
                acks: tokio::sync::Mutex::new((rx, 0)),
                _conn: conn,
            }
        }

        pub(crate) async fn publish(&self, n: u64) {
            use amqprs::channel::BasicPublishArguments;
            let mut guard = self.acks.lock().await;
            let (rx, next_tag) = &mut *guard;
            let mut pending: VecDeque<u64> = VecDeque::with_capacity(WINDOW);
            let settle = |pending: &mut VecDeque<u64>, (tag, multiple): (u64, bool)| {
                if multiple {
                    while pending.front().is_some_and(|t| *t <= tag) {
                        pending.pop_front();
                    }
                } else if let Ok(at) = pending.binary_search(&tag) {
                    pending.remove(at);
                }
            };
            for _ in 0..n {
                self.ch
                    .basic_publish(
                        amqprs::BasicProperties::default(),
                        BODY.to_vec(),
                        BasicPublishArguments::new("", &self.queue),
                    )
                    .await
                    .expect("publish");
                *next_tag += 1;
                pending.push_back(*next_tag);
                while pending.len() >= WINDOW {
                    let ack = rx.recv().await.expect("acks");
                    settle(&mut pending, ack);
                }
            }
            while !pending.is_empty() {
                let ack = rx.recv().await.expect("acks");
                settle(&mut pending, ack);
            }
        }

        pub(crate) async fn consume(&self, n: u64) {
            use amqprs::channel::{
                BasicAckArguments, BasicCancelArguments, BasicConsumeArguments, BasicQosArguments,
            };
            self.ch
                .basic_qos(BasicQosArguments::new(0, PREFETCH, false))
                .await
                .expect("qos");
            let (tag, mut rx) = self
                .ch
                .basic_consume_rx(BasicConsumeArguments::new(&self.queue, "bench-amqprs"))
                .await
                .expect("consume");
            for _ in 0..n {
                let m = rx.recv().await.expect("delivery");
                let tag = m.deliver.expect("deliver").delivery_tag();
                self.ch
                    .basic_ack(BasicAckArguments::new(tag, false))
                    .await
                    .expect("ack");
            }
            self.ch
                .basic_cancel(BasicCancelArguments::new(&tag))
                .await
                .expect("cancel");
        }

        /// amqprs panics when a channel or connection is dropped open.
        pub(crate) async fn close(self) {
            let _ = self.ch.close().await;
            let _ = self._conn.close().await;
        }
    }
}

/// The runtime every client runs on: tokio's multi-thread scheduler with
/// two workers (the machine's cores), or with `AMQP_BENCH_RUNTIME=current`
/// the current-thread scheduler. lapin drives its IO on its own threads
/// either way.
fn runtime() -> Runtime {
    let mut b = match std::env::var("AMQP_BENCH_RUNTIME").as_deref() {
        Ok("current") => tokio::runtime::Builder::new_current_thread(),
        _ => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(2);
            b
        }
    };
    b.enable_all().build().expect("runtime")
}

fn config(c: &mut Criterion) -> criterion::BenchmarkGroup<'_, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group("amqp_client");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(6))
        .throughput(Throughput::Elements(1));
    g
}

fn bench(c: &mut Criterion) {
    let rt = runtime();
    let url = url();
    let pid = std::process::id();
    let ours = rt.block_on(Ours::new(&url, &format!("bench.mq-client.{pid}")));
    // Fills a client's queue untimed (with mq-client; the queue is all
    // that matters to the consumer).
    let fill = |queue: &str, n: u64| {
        rt.block_on(async {
            let filler = Ours {
                ch: ours.ch.clone(),
                queue: queue.to_owned(),
            };
            filler.purge().await;
            filler.publish(n).await;
        })
    };
    let mut g = config(c);

    g.bench_function("publish/mq-client", |b| {
        b.iter_custom(|n| {
            rt.block_on(ours.purge());
            measured(&rt, n, ours.publish(n))
        })
    });
    report("publish/mq-client");
    g.bench_function("consume/mq-client", |b| {
        b.iter_custom(|n| {
            fill(&ours.queue, n);
            measured(&rt, n, ours.consume(n))
        })
    });
    report("consume/mq-client");

    // The same client over TLS, in the same run: the cost of encryption.
    let tls = rt.block_on(Ours::new(&tls_url(), &format!("bench.mq-client-tls.{pid}")));
    g.bench_function("publish/mq-client-tls", |b| {
        b.iter_custom(|n| {
            rt.block_on(tls.purge());
            measured(&rt, n, tls.publish(n))
        })
    });
    report("publish/mq-client-tls");
    g.bench_function("consume/mq-client-tls", |b| {
        b.iter_custom(|n| {
            fill(&tls.queue, n);
            measured(&rt, n, tls.consume(n))
        })
    });
    report("consume/mq-client-tls");
    rt.block_on(tls.delete());

    #[cfg(feature = "peers")]
    {
        // The peers over TCP, then over TLS with the same CA; amqprs takes
        // the process's default rustls provider, set to graviola as ours.
        let _ = rustls_graviola::default_provider().install_default();
        let ca = tls_ca();
        for (tag, peer_url, peer_ca) in [
            ("", url.clone(), None),
            ("-tls", tls_url(), Some(ca.as_str())),
        ] {
            let lapin_queue = format!("bench.lapin{tag}.{pid}");
            let lapin = rt.block_on(peers::Lapin::new(&peer_url, &lapin_queue, peer_ca));
            let name = format!("publish/lapin{tag}");
            g.bench_function(&name, |b| {
                b.iter_custom(|n| {
                    rt.block_on(
                        Ours {
                            ch: ours.ch.clone(),
                            queue: lapin_queue.clone(),
                        }
                        .purge(),
                    );
                    measured(&rt, n, lapin.publish(n))
                })
            });
            report(&name);
            let name = format!("consume/lapin{tag}");
            g.bench_function(&name, |b| {
                b.iter_custom(|n| {
                    fill(&lapin_queue, n);
                    measured(&rt, n, lapin.consume(n))
                })
            });
            report(&name);

            let amqprs_queue = format!("bench.amqprs{tag}.{pid}");
            let amqprs = rt.block_on(peers::Amqprs::new(&amqprs_queue, peer_ca));
            let name = format!("publish/amqprs{tag}");
            g.bench_function(&name, |b| {
                b.iter_custom(|n| {
                    rt.block_on(
                        Ours {
                            ch: ours.ch.clone(),
                            queue: amqprs_queue.clone(),
                        }
                        .purge(),
                    );
                    measured(&rt, n, amqprs.publish(n))
                })
            });
            report(&name);
            let name = format!("consume/amqprs{tag}");
            g.bench_function(&name, |b| {
                b.iter_custom(|n| {
                    fill(&amqprs_queue, n);
                    measured(&rt, n, amqprs.consume(n))
                })
            });
            report(&name);
            rt.block_on(amqprs.close());
            for q in [lapin_queue, amqprs_queue] {
                rt.block_on(
                    Ours {
                        ch: ours.ch.clone(),
                        queue: q,
                    }
                    .delete(),
                );
            }
        }
    }
    g.finish();
    rt.block_on(ours.delete());
}

criterion_group!(benches, bench);
criterion_main!(benches);
