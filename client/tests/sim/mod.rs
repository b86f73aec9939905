//! One simulated run: the real AMQP client against the test broker on a
//! current-thread runtime with a paused clock, with faults drawn from a
//! seed, and the invariants checked after.
//!
//! The workload: a publisher connection publishes `messages` bodies
//! (`m0`, `m1`, ...) with confirms, in windows, and publishes again every
//! one whose confirm failed (as a user would); then one mandatory publish
//! no queue takes, which must come back. A consumer connection consumes
//! with a prefetch and acks (sometimes nacks with requeue first). A chaos
//! task meanwhile cuts connections, stalls them and restarts the broker.
//! The broker keeps an event log; the workload's own steps go into it as
//! notes, so the trace is one ordered history with virtual timestamps.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

use mq_client::StreamExt;
use mq_client::amqp::test_broker::{BrokerEvent, TestBroker};
use mq_client::amqp::{
    BasicProperties, Channel, Connection, ConsumeOptions, Error, PublishOptions, QueueOptions,
    RecoveryConfig,
};
use mq_client::backoff::BackoffConfig;
use tokio::time::{Instant, sleep, timeout};

const QUEUE: &str = "sim";

/// splitmix64, for the workload's and the chaos task's draws.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    pub(crate) fn ms(&mut self, min: u64, max: u64) -> Duration {
        Duration::from_millis(min + self.below(max - min + 1))
    }
}

/// What one seed draws for its run.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) seed: u64,
    pub(crate) messages: usize,
    pub(crate) window: usize,
    pub(crate) prefetch: u16,
    /// Nacks (with requeue) per thousand deliveries.
    pub(crate) nack_per_mille: u64,
    pub(crate) faults: usize,
}

impl Plan {
    pub(crate) fn new(seed: u64) -> Self {
        let mut r = Rng::new(seed ^ 0xa5a5_0000);
        Plan {
            seed,
            messages: 20 + r.below(181) as usize,
            window: 1 + r.below(32) as usize,
            prefetch: 1 + r.below(50) as u16,
            nack_per_mille: r.below(60),
            faults: r.below(9) as usize,
        }
    }
}

/// The result of a run.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) plan: Plan,
    pub(crate) trace: Vec<String>,
    pub(crate) violations: Vec<String>,
}

impl Outcome {
    /// FNV-1a over the trace: equal for equal traces, on every platform.
    pub(crate) fn hash(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for line in &self.trace {
            for b in line.bytes().chain([b'\n']) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        }
        h
    }
}

/// Runs one seed on a fresh paused runtime.
pub(crate) fn run(seed: u64) -> Outcome {
    let plan = Plan::new(seed);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    let (trace, mut violations) = rt.block_on(simulate(plan.clone()));
    // Every task the run started (drivers, the broker's connections,
    // the workload) has ended.
    let alive = rt.metrics().num_alive_tasks();
    if alive != 0 {
        violations.push(format!("task leak: {alive} tasks alive after close"));
    }
    Outcome {
        plan,
        trace,
        violations,
    }
}

/// Shared between the workload's tasks (one thread: `Rc<RefCell>`).
#[derive(Default)]
struct Book {
    confirmed: BTreeSet<usize>,
    publisher_done: bool,
    client_acked: BTreeSet<usize>,
    stop_chaos: bool,
}

fn body(i: usize) -> String {
    format!("m{i}")
}

fn id_of(body: &[u8]) -> Option<usize> {
    std::str::from_utf8(body)
        .ok()?
        .strip_prefix('m')?
        .parse()
        .ok()
}

async fn connect(broker: &TestBroker, name: &str) -> Connection {
    let recovery = RecoveryConfig {
        backoff: BackoffConfig {
            initial: Duration::from_millis(50),
            max: Duration::from_secs(2),
            multiplier: 2.0,
            // No jitter: its seed is random, and a run must repeat.
            jitter: 0.0,
            max_attempts: None,
        },
        ..RecoveryConfig::default()
    };
    Connection::builder()
        .uri(broker.uri())
        .name(name)
        .heartbeat(Duration::from_secs(5))
        .recovery(recovery)
        .connect()
        .await
        .expect("the first connect works: no fault runs yet")
}

async fn simulate(plan: Plan) -> (Vec<String>, Vec<String>) {
    let broker = TestBroker::builder()
        .seed(plan.seed)
        .latency(Duration::ZERO, Duration::from_millis(2))
        .latency_spikes(20, Duration::from_millis(300))
        .confirm_delay(Duration::ZERO, Duration::from_millis(5))
        .record_events(true)
        .build();
    broker.note(format!("plan {plan:?}"));
    let book = Rc::new(RefCell::new(Book::default()));
    let mut violations = Vec::new();
    let started = Instant::now();

    let publisher = connect(&broker, "publisher").await;
    let consumer = connect(&broker, "consumer").await;
    let setup = publisher.open_channel().await.expect("a channel");
    setup
        .queue_declare(QUEUE, QueueOptions::durable())
        .await
        .expect("declare");
    setup.close().await.expect("close the setup channel");

    let local = tokio::task::LocalSet::new();
    let chaos = local.spawn_local(chaos(plan.clone(), broker.clone(), book.clone()));
    let publish = local.spawn_local(publish(
        plan.clone(),
        broker.clone(),
        publisher.clone(),
        book.clone(),
    ));
    let consume = local.spawn_local(consume(
        plan.clone(),
        broker.clone(),
        consumer.clone(),
        book.clone(),
    ));
    local
        .run_until(async {
            if let Err(e) = publish.await {
                violations.push(format!("publisher task failed: {e}"));
            }
            match consume.await {
                Ok(Ok(())) => {}
                Ok(Err(v)) => violations.push(v),
                Err(e) => violations.push(format!("consumer task failed: {e}")),
            }
            book.borrow_mut().stop_chaos = true;
            let _ = chaos.await;
        })
        .await;
    broker.note("closing");
    if let Err(e) = publisher.close().await {
        violations.push(format!("publisher close: {e}"));
    }
    if let Err(e) = consumer.close().await {
        violations.push(format!("consumer close: {e}"));
    }
    // The broker's side of each connection ends when it reads the close.
    let limit = Instant::now() + Duration::from_secs(30);
    while !broker.connections().is_empty() && Instant::now() < limit {
        sleep(Duration::from_millis(10)).await;
    }
    // Let the drivers and the broker's tasks finish.
    sleep(Duration::from_millis(100)).await;
    broker.note(format!("done after {:?}", Instant::now() - started));

    check(&plan, &broker, &book.borrow(), &mut violations);
    // The broker's address (test-broker-N, numbered per process) shows in
    // the client's error messages: the trace names it the same way in
    // every process, so that a seed's trace does not depend on what ran
    // before it.
    let uri = broker.uri();
    let addr = uri
        .split_once('@')
        .and_then(|(_, rest)| rest.split_once('/'))
        .map_or("", |(addr, _)| addr);
    let trace = broker
        .events()
        .iter()
        .map(|(at, e)| {
            let line = format!("{:>10.3} {e}", at.as_secs_f64() * 1000.0);
            line.replace(addr, "broker:5672")
        })
        .collect();
    (trace, violations)
}

/// Faults while the workload runs: cuts, stalls, restarts.
async fn chaos(plan: Plan, broker: TestBroker, book: Rc<RefCell<Book>>) {
    let mut r = Rng::new(plan.seed ^ 0xc4a0_5000);
    for _ in 0..plan.faults {
        sleep(r.ms(5, 300)).await;
        if book.borrow().stop_chaos {
            return;
        }
        let conns = broker.connections();
        let pick = conns.get(r.below(conns.len() as u64) as usize).copied();
        match (r.below(10), pick) {
            (0..=3, Some(c)) => broker.cut(c),
            (4..=6, Some(c)) => {
                // Long stalls outlast two heartbeat intervals (5 s).
                let d = if r.below(4) == 0 {
                    r.ms(8_000, 15_000)
                } else {
                    r.ms(10, 2_000)
                };
                broker.stall(c, d);
            }
            (7..=9, _) => broker.restart(r.ms(0, 1_500)),
            _ => {}
        }
    }
}

/// (Re)opens the publisher's channel in confirm mode.
async fn publisher_channel(conn: &Connection, broker: &TestBroker) -> Option<Channel> {
    for _ in 0..100 {
        match conn.open_channel().await {
            Ok(ch) => match ch.confirm_select().await {
                Ok(()) => return Some(ch),
                Err(e) => broker.note(format!("publisher confirm.select: {e}")),
            },
            Err(e) => broker.note(format!("publisher open: {e}")),
        }
        sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Publishes every message until each is confirmed.
async fn publish(plan: Plan, broker: TestBroker, conn: Connection, book: Rc<RefCell<Book>>) {
    let Some(mut ch) = publisher_channel(&conn, &broker).await else {
        broker.note("VIOLATION publisher: no channel");
        return;
    };
    let mut todo: Vec<usize> = (0..plan.messages).collect();
    let mut rounds = 0;
    while !todo.is_empty() {
        rounds += 1;
        if rounds > 1000 {
            broker.note("VIOLATION publisher: no progress after 1000 rounds");
            return;
        }
        let mut again = Vec::new();
        for batch in todo.chunks(plan.window) {
            let mut confirms = Vec::new();
            for &i in batch {
                match ch
                    .publish("", QUEUE, body(i), BasicProperties::default().persistent())
                    .await
                {
                    Ok(c) => confirms.push((i, c)),
                    Err(e) => {
                        broker.note(format!("publish m{i} refused: {e}"));
                        again.push(i);
                    }
                }
            }
            for (i, c) in confirms {
                match c.await {
                    Ok(()) => {
                        broker.note(format!("client confirmed m{i}"));
                        book.borrow_mut().confirmed.insert(i);
                    }
                    Err(e) => {
                        broker.note(format!("client confirm m{i} failed: {e}"));
                        again.push(i);
                    }
                }
            }
            if !ch.is_open() {
                match publisher_channel(&conn, &broker).await {
                    Some(c) => ch = c,
                    None => return,
                }
            }
        }
        again.sort_unstable();
        todo = again;
    }
    // A mandatory publish no queue takes comes back.
    for _ in 0..100 {
        let r = match ch
            .publish_with(
                "",
                "nowhere",
                "unroutable",
                BasicProperties::default(),
                PublishOptions::mandatory(),
            )
            .await
        {
            Ok(c) => c.await,
            Err(e) => Err(e),
        };
        match r {
            Err(Error::Returned { .. }) => {
                broker.note("client: unroutable publish returned");
                break;
            }
            Err(Error::ConfirmLost) => continue,
            other => {
                broker.note(format!("VIOLATION mandatory unroutable publish: {other:?}"));
                break;
            }
        }
    }
    book.borrow_mut().publisher_done = true;
}

/// Consumes and acks until every confirmed message is acked and the
/// queue is empty; `Err` if that does not happen in (virtual) time.
async fn consume(
    plan: Plan,
    broker: TestBroker,
    conn: Connection,
    book: Rc<RefCell<Book>>,
) -> Result<(), String> {
    let mut r = Rng::new(plan.seed ^ 0xc0_5500);
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut restarts = 0;
    'subscribe: loop {
        restarts += 1;
        if restarts > 50 {
            return Err("consumer: could not subscribe".into());
        }
        let ch = match conn.open_channel().await {
            Ok(ch) => ch,
            Err(e) => {
                broker.note(format!("consumer open: {e}"));
                sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let mut deliveries = match ch
            .consume(QUEUE, ConsumeOptions::default().prefetch(plan.prefetch))
            .await
        {
            Ok(c) => c,
            Err(e) => {
                broker.note(format!("consumer consume: {e}"));
                sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        loop {
            {
                let b = book.borrow();
                if b.publisher_done
                    && b.confirmed.is_subset(&b.client_acked)
                    && broker.queue_len(QUEUE) == Some(0)
                    && broker.unacked() == 0
                {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                let b = book.borrow();
                let missing: Vec<_> = b.confirmed.difference(&b.client_acked).take(10).collect();
                return Err(format!(
                    "consumer did not finish in 600 s: confirmed but never consumed {missing:?}, \
                     queue {:?}, unacked {}",
                    broker.queue_len(QUEUE),
                    broker.unacked()
                ));
            }
            let d = match timeout(Duration::from_millis(500), deliveries.next()).await {
                Err(_) => continue,
                Ok(Some(Ok(d))) => d,
                Ok(Some(Err(e))) => {
                    broker.note(format!("consumer stream error: {e}"));
                    continue 'subscribe;
                }
                Ok(None) => {
                    broker.note("consumer stream ended");
                    continue 'subscribe;
                }
            };
            let Some(i) = id_of(d.body_ref()) else {
                return Err(format!("a delivery nobody published: {:?}", d.body()));
            };
            let tag = d.delivery_tag();
            if r.below(1000) < plan.nack_per_mille {
                broker.note(format!("client nack m{i} tag={tag}"));
                if let Err(e) = d.nack(true).await {
                    broker.note(format!("client nack m{i}: {e}"));
                }
                continue;
            }
            broker.note(format!("client ack m{i} tag={tag}"));
            book.borrow_mut().client_acked.insert(i);
            if let Err(e) = d.ack().await {
                broker.note(format!("client ack m{i}: {e}"));
            }
        }
    }
}

/// The invariants, over the broker's log and the end state.
fn check(plan: &Plan, broker: &TestBroker, book: &Book, violations: &mut Vec<String>) {
    let events = broker.events();
    // Acks the client asked for, by message, as the history goes.
    let mut asked: BTreeMap<usize, usize> = BTreeMap::new();
    let mut settled: BTreeSet<usize> = BTreeSet::new();
    for (at, e) in &events {
        match e {
            BrokerEvent::Note(n) => {
                if let Some(rest) = n.strip_prefix("client ack m") {
                    if let Some(i) = rest.split(' ').next().and_then(|s| s.parse().ok()) {
                        *asked.entry(i).or_default() += 1;
                    }
                }
                if let Some(v) = n.strip_prefix("VIOLATION ") {
                    violations.push(v.to_owned());
                }
            }
            BrokerEvent::Acked { body, tag, conn, .. } => {
                let Some(i) = id_of(body) else {
                    continue;
                };
                settled.insert(i);
                match asked.get_mut(&i) {
                    Some(n) if *n > 0 => *n -= 1,
                    _ => violations.push(format!(
                        "at {at:?}: the broker settled m{i} (c{conn} tag {tag}) for an ack the client never gave it"
                    )),
                }
            }
            BrokerEvent::UnknownTag { conn, channel, tag } => violations.push(format!(
                "at {at:?}: an ack for delivery tag {tag} on c{conn}/{channel}, which was not outstanding"
            )),
            _ => {}
        }
    }
    let left: BTreeSet<usize> = broker
        .queue_bodies(QUEUE)
        .iter()
        .filter_map(|b| id_of(b))
        .collect();
    for i in &book.confirmed {
        if !settled.contains(i) && !left.contains(i) {
            violations.push(format!(
                "m{i} was reported confirmed but the broker has not got it"
            ));
        }
    }
    if book.confirmed.len() != plan.messages {
        violations.push(format!(
            "only {} of {} messages confirmed",
            book.confirmed.len(),
            plan.messages
        ));
    }
    if broker.queue_len(QUEUE) != Some(0) || broker.unacked() != 0 {
        violations.push(format!(
            "not drained: {:?} ready, {} unacked",
            broker.queue_len(QUEUE),
            broker.unacked()
        ));
    }
    if !broker.connections().is_empty() {
        violations.push(format!("connections left open: {:?}", broker.connections()));
    }
}
