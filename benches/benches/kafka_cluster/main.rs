//! Produce on a three-broker Kafka cluster, every client in its own
//! process: mq-client (with its defaults, and with a 1 MB batch size),
//! and with `--features peers` librdkafka (the `rdkafka` crate), franz-go
//! (the Go program in `benches/franz/`), krafka and confluent-kafka.
//!
//! ```text
//! scripts/brokers up --kafka-brokers 3
//! cargo bench -p mq-benches --features peers --bench kafka_cluster [-- FILTER] [-- latency]
//! ```
//!
//! The workload is the same for every client: a fresh topic per client
//! per round (6 partitions, replication factor 3, made here with
//! mq-client's `Admin` and deleted after the run), acks=all, idempotence
//! on, linger 5 ms, `KAFKA_CLUSTER_RECORDS` records (default 1,000,000)
//! of 100-byte values with 16-byte keys, each client with its defaults
//! otherwise. The child process times from the producer's construction
//! to the last record's delivery acknowledgement and prints that; this
//! parent reaps the child with wait4(2), so the CPU figure (user +
//! system) is that client's process alone, setup included. The brokers
//! run on the same cores, so what matters is the comparison in one run.
//!
//! `KAFKA_CLUSTER_ROUNDS` rounds (default 3), the clients taking turns
//! within each round. Per run a line
//! `RUN round=<r> client=<c> msgs_per_s=<x> cpu_us_per_msg=<y>`, at the
//! end `REPORT client=<c> median_msgs_per_s=<x> median_cpu_us_per_msg=<y>
//! rounds=<k>`. A FILTER argument keeps the clients whose name contains
//! it. A client that fails prints `FAIL ...` and is left out of its round.
//!
//! Latency mode (argument `latency` or `KAFKA_CLUSTER_LATENCY=1`): one
//! record every 10 ms for 20 s (2,000 records; a late tick is caught up)
//! to a fresh topic (RF 3), each delivery awaited on its own, the time
//! from enqueue to acknowledgement recorded (the first record includes
//! the topic's metadata lookup);
//! mq-client with its defaults, and with `peers` librdkafka and franz-go.
//! Prints `LATENCY client=<c> records=<n> p50_ms=.. p99_ms=.. max_ms=..`.
//!
//! The bootstrap is `mq_tests::endpoints::kafka_bootstrap()`
//! (KAFKA_BOOTSTRAP, or the state `scripts/brokers` keeps); the children
//! get it in KAFKA_BOOTSTRAP.

use std::collections::BTreeMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use mq_client::kafka::{Admin, NewTopic};
use tokio::runtime::Runtime;

mod franz;
mod mq;
#[cfg(feature = "peers")]
mod peer_confluent;
#[cfg(feature = "peers")]
mod peer_krafka;
#[cfg(feature = "peers")]
mod peer_rdkafka;

const PARTITIONS: i32 = 6;
const REPLICATION: i16 = 3;
/// Latency mode: one record every 10 ms for this long.
const LATENCY_SECONDS: u64 = 20;
/// Delivery futures a throughput child keeps outstanding before it awaits
/// the oldest (bounds its memory; the producers' own buffers fill first).
pub(crate) const WINDOW: usize = 100_000;

/// The clients of the throughput run, in their turn order.
fn clients() -> Vec<&'static str> {
    let mut all = vec!["mq", "mq-batch1m"];
    if cfg!(feature = "peers") {
        all.extend(["librdkafka", "franz-go", "krafka", "confluent-kafka"]);
    }
    all
}

/// The clients of the latency mode.
fn latency_clients() -> Vec<&'static str> {
    let mut all = vec!["mq"];
    if cfg!(feature = "peers") {
        all.extend(["librdkafka", "franz-go"]);
    }
    all
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--child") => return child(&args[1..]),
        Some("--child-latency") => return child_latency(&args[1..]),
        _ => {}
    }
    // `cargo bench` passes `--bench`; every flag is ignored.
    let words: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let latency = words.contains(&"latency")
        || std::env::var("KAFKA_CLUSTER_LATENCY").is_ok_and(|v| v == "1");
    let filter = words.iter().find(|w| **w != "latency").copied();
    let keep = |c: &&str| filter.is_none_or(|f| c.contains(f));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let bootstrap = mq_tests::endpoints::kafka_bootstrap();
    let admin = rt.block_on(async {
        let admin = Admin::builder(&bootstrap).build().await.expect("admin");
        let cluster = admin.describe_cluster().await.expect("describe cluster");
        assert!(
            cluster.brokers.len() >= REPLICATION as usize,
            "needs {REPLICATION} brokers (scripts/brokers up --kafka-brokers 3): {cluster:?}"
        );
        admin
    });
    if latency {
        for client in latency_clients().into_iter().filter(keep) {
            run_latency(&rt, &admin, &bootstrap, client);
        }
        return;
    }
    let records = env_u64("KAFKA_CLUSTER_RECORDS", 1_000_000);
    let rounds = env_u64("KAFKA_CLUSTER_ROUNDS", 3);
    let clients: Vec<&str> = clients().into_iter().filter(keep).collect();
    println!(
        "kafka_cluster: {records} records x {rounds} rounds, clients {clients:?}, bootstrap {bootstrap}"
    );
    let mut results: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
    for round in 0..rounds {
        // Round-robin: each round starts one client further on.
        let turn = round as usize % clients.len().max(1);
        for client in clients[turn..].iter().chain(&clients[..turn]) {
            let topic = create_topic(&rt, &admin, client);
            let run = run_child(
                child_command(client, "produce"),
                &topic,
                records,
                &bootstrap,
            );
            delete_topic(&rt, &admin, &topic);
            match run.and_then(|r| elapsed_of(&r.stdout).map(|e| (e, r.cpu))) {
                Ok((elapsed, cpu)) => {
                    let rate = records as f64 / elapsed.as_secs_f64();
                    let cpu_us = cpu.as_secs_f64() * 1e6 / records as f64;
                    println!(
                        "RUN round={} client={client} msgs_per_s={rate:.0} cpu_us_per_msg={cpu_us:.3}",
                        round + 1
                    );
                    results.entry(client).or_default().push((rate, cpu_us));
                }
                Err(e) => println!("FAIL round={} client={client} {e}", round + 1),
            }
        }
    }
    for client in &clients {
        let Some(runs) = results.get(client) else {
            println!("REPORT client={client} rounds=0");
            continue;
        };
        let rate = median(runs.iter().map(|r| r.0).collect());
        let cpu = median(runs.iter().map(|r| r.1).collect());
        println!(
            "REPORT client={client} median_msgs_per_s={rate:.0} median_cpu_us_per_msg={cpu:.3} rounds={}",
            runs.len()
        );
    }
    drop(admin);
}

fn run_latency(rt: &Runtime, admin: &Admin, bootstrap: &str, client: &str) {
    let topic = create_topic(rt, admin, &format!("lat-{client}"));
    let run = run_child(
        child_command(client, "latency"),
        &topic,
        LATENCY_SECONDS,
        bootstrap,
    );
    delete_topic(rt, admin, &topic);
    match run {
        Ok(r) => println!("LATENCY client={client} {}", r.stdout.trim()),
        Err(e) => println!("FAIL latency client={client} {e}"),
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// A fresh topic (6 partitions, RF 3), returned once every partition has
/// a leader; a short pause after lets the cluster settle.
fn create_topic(rt: &Runtime, admin: &Admin, client: &str) -> String {
    let topic = mq_tests::names::topic(&format!("cluster-{client}"));
    rt.block_on(async {
        admin
            .create_topics([NewTopic::new(&topic, PARTITIONS, REPLICATION)])
            .await
            .expect("create topic");
        mq_tests::topics::wait_for_leaders(
            admin,
            &topic,
            PARTITIONS as usize,
            Duration::from_secs(30),
        )
        .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    });
    topic
}

fn delete_topic(rt: &Runtime, admin: &Admin, topic: &str) {
    if let Err(e) = rt.block_on(admin.delete_topics([topic])) {
        eprintln!("kafka_cluster: deleting {topic}: {e}");
    }
}

/// The command that runs `client` as a child: franz-go's Go program, or
/// this executable again. `mode` is `produce` or `latency`; the topic and
/// the count follow.
fn child_command(client: &str, mode: &str) -> Command {
    if client == "franz-go" {
        let mut cmd = Command::new(franz::binary());
        cmd.arg(mode);
        return cmd;
    }
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    cmd.arg(if mode == "latency" {
        "--child-latency"
    } else {
        "--child"
    })
    .arg(client);
    cmd
}

struct ChildRun {
    stdout: String,
    cpu: Duration,
}

/// Runs the child to its end with `topic` and `count` as its last
/// arguments; its stdout, and its CPU time (user + system) from wait4.
fn run_child(
    mut cmd: Command,
    topic: &str,
    count: u64,
    bootstrap: &str,
) -> Result<ChildRun, String> {
    let mut child = cmd
        .arg(topic)
        .arg(count.to_string())
        .env("KAFKA_BOOTSTRAP", bootstrap)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn {cmd:?}: {e}"))?;
    let mut stdout = String::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_string(&mut stdout)
            .map_err(|e| format!("child stdout: {e}"))?;
    }
    let (status, cpu) = wait_child(child.id())?;
    if status != 0 {
        return Err(format!("child exited with status {status:#x}"));
    }
    Ok(ChildRun { stdout, cpu })
}

/// Reaps the child `pid` with wait4(2): its wait status and its own user +
/// system CPU time (the rusage of that child alone).
#[allow(unsafe_code)]
fn wait_child(pid: u32) -> Result<(i32, Duration), String> {
    let pid = libc::pid_t::try_from(pid).map_err(|e| e.to_string())?;
    let mut status = 0;
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    loop {
        // SAFETY: wait4 writes the status into a live i32 and a rusage into
        // the pointer it is given, which points to zeroed memory of the
        // right type and size; `pid` is our own unreaped child.
        let r = unsafe { libc::wait4(pid, &mut status, 0, usage.as_mut_ptr()) };
        if r == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(format!("wait4: {err}"));
        }
    }
    // SAFETY: wait4 returned the child's pid, so it filled the rusage (and
    // it was zeroed before, a valid rusage either way).
    let usage = unsafe { usage.assume_init() };
    let tv = |t: libc::timeval| {
        Duration::new(
            u64::try_from(t.tv_sec).unwrap_or(0),
            u32::try_from(t.tv_usec).unwrap_or(0).saturating_mul(1000),
        )
    };
    Ok((status, tv(usage.ru_utime) + tv(usage.ru_stime)))
}

fn elapsed_of(stdout: &str) -> Result<Duration, String> {
    stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("elapsed_ns="))
        .and_then(|n| n.parse().ok())
        .map(Duration::from_nanos)
        .ok_or_else(|| format!("no elapsed_ns= in the child's output {stdout:?}"))
}

/// `--child <client> <topic> <records>`: produce, print `elapsed_ns=<n>`.
fn child(args: &[String]) {
    let [client, topic, n] = args else {
        panic!("usage: --child <client> <topic> <records>, got {args:?}");
    };
    let n: u64 = n.parse().expect("record count");
    let bootstrap = mq_tests::endpoints::kafka_bootstrap();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let elapsed = match client.as_str() {
        "mq" => rt.block_on(mq::produce(&bootstrap, topic, n, None)),
        "mq-batch1m" => rt.block_on(mq::produce(&bootstrap, topic, n, Some(1_000_000))),
        #[cfg(feature = "peers")]
        "librdkafka" => rt.block_on(peer_rdkafka::produce(&bootstrap, topic, n)),
        #[cfg(feature = "peers")]
        "krafka" => rt.block_on(peer_krafka::produce(&bootstrap, topic, n)),
        #[cfg(feature = "peers")]
        "confluent-kafka" => rt.block_on(peer_confluent::produce(&bootstrap, topic, n)),
        other => panic!("unknown client {other}"),
    };
    println!("elapsed_ns={}", elapsed.as_nanos());
}

/// `--child-latency <client> <topic> <seconds>`: one record every 10 ms,
/// print the latency figures.
fn child_latency(args: &[String]) {
    let [client, topic, seconds] = args else {
        panic!("usage: --child-latency <client> <topic> <seconds>, got {args:?}");
    };
    let run_for = Duration::from_secs(seconds.parse().expect("seconds"));
    let bootstrap = mq_tests::endpoints::kafka_bootstrap();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let latencies = match client.as_str() {
        "mq" => rt.block_on(mq::latency(&bootstrap, topic, run_for)),
        #[cfg(feature = "peers")]
        "librdkafka" => rt.block_on(peer_rdkafka::latency(&bootstrap, topic, run_for)),
        other => panic!("no latency mode for {other}"),
    };
    println!("{}", latency_line(latencies));
}

/// `records=<n> p50_ms=.. p99_ms=.. max_ms=..` of the latencies.
fn latency_line(mut lat: Vec<Duration>) -> String {
    lat.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let pct = |p: f64| {
        let i = ((p * lat.len() as f64).ceil() as usize).clamp(1, lat.len().max(1)) - 1;
        lat.get(i).copied().unwrap_or_default()
    };
    format!(
        "records={} p50_ms={:.3} p99_ms={:.3} max_ms={:.3}",
        lat.len(),
        ms(pct(0.50)),
        ms(pct(0.99)),
        ms(lat.last().copied().unwrap_or_default())
    )
}

/// The 100-byte value of every record (kafka_client.rs's shape).
pub(crate) fn value() -> Vec<u8> {
    let mut v =
        b"{\"order\":12345,\"status\":\"created\",\"amount\":4200,\"currency\":\"EUR\",\"note\":\""
            .to_vec();
    v.resize(98, b'x');
    v.extend_from_slice(b"\"}");
    v
}

/// Record `i`'s 16-byte key: `format!("{:016}", i % 100_000)`, without
/// the allocation.
pub(crate) fn key(i: u64) -> [u8; 16] {
    let mut k = [b'0'; 16];
    let mut n = i % 100_000;
    for d in k.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    k
}
