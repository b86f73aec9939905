//! Benchmarks for the protocol cores and the clients.
//!
//! The criterion benches live in `benches/benches/`. Peer libraries are
//! measured in the same run behind the `peers` feature, so that ordinary
//! builds do not compile them. Results are recorded in `BENCHMARKS.md`.

use std::time::Duration;

/// The whole process's resource usage so far (every thread), from
/// getrusage(2).
#[allow(unsafe_code)]
fn rusage() -> libc::rusage {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a rusage into the pointer it is given, which
    // points to zeroed memory of the right type and size.
    unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    }
}

/// User and system CPU time of the whole process so far (every thread),
/// from getrusage(2): the client's own cost, the broker being another
/// process.
pub fn cpu_times() -> (Duration, Duration) {
    let usage = rusage();
    let tv = |t: libc::timeval| {
        Duration::new(
            u64::try_from(t.tv_sec).unwrap_or(0),
            u32::try_from(t.tv_usec).unwrap_or(0).saturating_mul(1000),
        )
    };
    (tv(usage.ru_utime), tv(usage.ru_stime))
}

/// Voluntary and involuntary context switches of the whole process so
/// far, from getrusage(2): a voluntary one is a thread parking (and
/// later being woken), the cost a client's wake-ups add up to.
pub fn context_switches() -> (i64, i64) {
    let usage = rusage();
    (usage.ru_nvcsw, usage.ru_nivcsw)
}

/// User plus system CPU time of the whole process so far.
pub fn cpu_time() -> Duration {
    let (user, system) = cpu_times();
    user + system
}

/// The `amqp_client` bench's workload for mq-client, shared with the
/// `amqp_client_profile` program so that both measure the same thing.
pub mod amqp_workload {
    use std::collections::VecDeque;

    use bytes::Bytes;
    use futures_util::StreamExt;
    use mq_client::amqp::{BasicProperties, Channel, ConsumeOptions};

    /// Outstanding publisher confirms a publisher keeps.
    pub const WINDOW: usize = 1000;
    /// The consumer's prefetch window.
    pub const PREFETCH: u16 = 1000;

    /// Publishes `n` copies of `body` to `queue` through the default
    /// exchange, keeping at most [`WINDOW`] confirms open and awaiting
    /// every one (each must be an ack).
    pub async fn publish(ch: &Channel, queue: &str, body: &Bytes, n: u64) {
        let mut window = VecDeque::with_capacity(WINDOW);
        for _ in 0..n {
            let c = ch
                .publish("", queue, body.clone(), BasicProperties::default())
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

    /// Consumes `n` messages from `queue` with [`PREFETCH`], acking each
    /// delivery, then cancels the consumer.
    pub async fn consume(ch: &Channel, queue: &str, n: u64) {
        let mut consumer = ch
            .consume(queue, ConsumeOptions::default().prefetch(PREFETCH))
            .await
            .expect("consume");
        for _ in 0..n {
            let d = consumer.next().await.expect("open").expect("delivery");
            d.ack().await.expect("ack");
        }
        consumer.cancel().await.expect("cancel");
    }
}
