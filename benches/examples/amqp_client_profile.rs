//! The `amqp_client` bench's workload for mq-client alone, as a plain
//! program to run under `perf stat` / `perf record`: publishes N 100 B
//! messages with confirms and a window of 1,000, or (`consume`) fills
//! the queue with N untimed and consumes them with prefetch 1,000,
//! acking each; three rounds, each printing msg/s, CPU per message and
//! context switches.
//!
//! ```text
//! cargo build --release -p mq-benches --example amqp_client_profile
//! [AMQP_BENCH_RUNTIME=current] target/release/examples/amqp_client_profile publish|consume [N]
//! ```
//!
//! `MQ_READ_COALESCING_US` sets the connection's read coalescing
//! linger in microseconds (0 turns it off).

use std::time::{Duration, Instant};

use mq_benches::amqp_workload::{consume, publish};
use mq_client::amqp::{self, QueueDeleteOptions, QueueOptions};

fn main() {
    let consuming = std::env::args().nth(1).as_deref() == Some("consume");
    let n: u64 = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(300_000);
    let rt = if std::env::var("AMQP_BENCH_RUNTIME").as_deref() == Ok("current") {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(2);
        b
    }
    .enable_all()
    .build()
    .expect("runtime");
    let url = std::env::var("AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
    let mut builder = amqp::Connection::builder()
        .uri(url)
        .name("amqp-publish-profile");
    if let Some(us) = std::env::var("MQ_READ_COALESCING_US")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        builder = builder.read_coalescing(Duration::from_micros(us));
    }
    rt.block_on(async {
        let conn = builder.connect().await.expect("connect");
        let ch = conn.open_channel().await.expect("channel");
        let queue = format!("amqp-publish-profile.{}", std::process::id());
        ch.queue_declare(&queue, QueueOptions::default())
            .await
            .expect("declare");
        ch.confirm_select().await.expect("confirms");
        let body = bytes::Bytes::from_static(&[b'x'; 100]);
        for round in 0..3 {
            if consuming {
                publish(&ch, &queue, &body, n).await;
            }
            let (u0, s0) = mq_benches::cpu_times();
            let (v0, i0) = mq_benches::context_switches();
            let t0 = Instant::now();
            if consuming {
                consume(&ch, &queue, n).await;
            } else {
                publish(&ch, &queue, &body, n).await;
            }
            let elapsed = t0.elapsed();
            let (u1, s1) = mq_benches::cpu_times();
            let (v1, i1) = mq_benches::context_switches();
            let per = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
            println!(
                "round {round}: {:.0} msg/s, CPU {:.3} us/msg (user {:.3}, system {:.3}), \
                 context switches {} voluntary, {} involuntary",
                n as f64 / elapsed.as_secs_f64(),
                per(u1 - u0 + s1 - s0),
                per(u1 - u0),
                per(s1 - s0),
                v1 - v0,
                i1 - i0,
            );
            ch.queue_purge(&queue).await.expect("purge");
        }
        ch.queue_delete(&queue, QueueDeleteOptions::default())
            .await
            .expect("delete");
        conn.close().await.expect("close");
    });
}
