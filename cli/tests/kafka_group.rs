//! `mq consume --group` against the real broker: committed offsets carry
//! over from one run to the next, two members split the partitions, kcat
//! (librdkafka) and `mq` continue after each other's commits, and the
//! ways `mq` stops (a signal, a closed stdout) leave the group at once.

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command as StdCommand, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mq_client::kafka::{Admin, GroupDescription};
use support::*;

/// A group id of its own for each test.
fn group(prefix: &str) -> String {
    mq_tests::names::unique(&format!("mq-cli-{prefix}"))
}

/// Produces `key:value` lines with kcat (librdkafka's partitioner spreads
/// the keys); returns the values.
fn produce_keyed(topic: &str, n: usize) -> Vec<String> {
    let values: Vec<String> = (0..n).map(|i| format!("v{i:04}")).collect();
    let input: String = values
        .iter()
        .enumerate()
        .map(|(i, v)| format!("k{}:{v}\n", i % 7))
        .collect();
    kcat(&["-P", "-t", topic, "-K", ":"], input.as_bytes());
    values
}

fn lines(run: &Run) -> Vec<String> {
    run.text().lines().map(str::to_owned).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Describes `group` with the client's admin.
fn describe_group(group: &str) -> GroupDescription {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let admin = Admin::builder(&kafka_bootstrap())
            .build()
            .await
            .expect("admin");
        admin
            .describe_consumer_group(group)
            .await
            .expect("DescribeGroups")
    })
}

/// Waits until `done` holds for the group's description.
fn wait_for_group(group: &str, what: &str, done: impl Fn(&GroupDescription) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let d = describe_group(group);
        if done(&d) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {d:#?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `mq args` running in the background, stdout piped.
fn spawn_mq(args: &[&str]) -> Child {
    StdCommand::new(env!("CARGO_BIN_EXE_mq"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mq starts")
}

/// Reads a child's stdout to the end in a thread, as lines.
fn drain(child: &mut Child) -> JoinHandle<Vec<String>> {
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map(|l| l.expect("a line"))
            .collect()
    })
}

/// Waits for a child to exit, within a minute; returns its status code
/// and stderr.
fn finish(mut child: Child) -> (i32, String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().expect("mq runs") {
            let mut stderr = String::new();
            if let Some(mut e) = child.stderr.take() {
                e.read_to_string(&mut stderr).expect("stderr");
            }
            return (status.code().expect("mq exits, it is not killed"), stderr);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("mq did not exit");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// (a) Runs with the same group go on where the last one stopped: with
/// `--count`, only what was printed is committed (a batch cut short is
/// committed up to its last printed record), so nothing repeats and
/// nothing is lost.
#[test]
fn a_group_goes_on_after_its_committed_offsets() {
    let topic = Topic::new("group-resume", 3);
    let values = produce_keyed(&topic.name, 30);
    let g = group("resume");
    let consume = |args: &[&str]| {
        let mut all = vec!["consume", topic.url.as_str(), "--group", g.as_str()];
        all.extend_from_slice(args);
        lines(&mq(&all, b"").ok())
    };
    let first = consume(&["--from", "earliest", "--count", "10"]);
    assert_eq!(first.len(), 10, "{first:?}");
    let second = consume(&["--from", "earliest", "--count", "12"]);
    assert_eq!(second.len(), 12, "{second:?}");
    let rest = consume(&["--from", "earliest", "--exit-at-end"]);
    assert_eq!(rest.len(), 8, "{rest:?}");
    let all: Vec<String> = first.into_iter().chain(second).chain(rest).collect();
    assert_eq!(sorted(all), values, "every record exactly once");
    // All committed: another run has nothing to read.
    assert_eq!(consume(&["--exit-at-end"]), Vec::<String>::new());
    // The group left each time: nobody is in it.
    let d = describe_group(&g);
    assert!(d.members.is_empty(), "{d:#?}");
    // A new group starts at the end by default (--from latest).
    let fresh = group("fresh");
    let run = mq(
        &["consume", &topic.url, "--group", &fresh, "--exit-at-end"],
        b"",
    )
    .ok();
    assert_eq!(run.text(), "");
}

/// (a') The same on the consumer protocol of KIP-848: the group is a
/// consumer-protocol group, the runs go on after each other's commits, and
/// each run leaves it.
#[test]
fn the_consumer_protocol_goes_on_after_its_committed_offsets() {
    let topic = Topic::new("group-kip848", 3);
    let values = produce_keyed(&topic.name, 30);
    let g = group("kip848");
    let consume = |args: &[&str]| {
        let mut all = vec![
            "consume",
            topic.url.as_str(),
            "--group",
            g.as_str(),
            "--group-protocol",
            "consumer",
        ];
        all.extend_from_slice(args);
        lines(&mq(&all, b"").ok())
    };
    let first = consume(&["--from", "earliest", "--count", "10"]);
    assert_eq!(first.len(), 10, "{first:?}");
    let d = describe_group(&g);
    assert_eq!(d.group_type, "consumer", "{d:#?}");
    assert!(d.members.is_empty(), "the run left the group: {d:#?}");
    let rest = consume(&["--from", "earliest", "--exit-at-end"]);
    assert_eq!(rest.len(), 20, "{rest:?}");
    let all: Vec<String> = first.into_iter().chain(rest).collect();
    assert_eq!(sorted(all), values, "every record exactly once");
    assert_eq!(consume(&["--exit-at-end"]), Vec::<String>::new());
}

/// (b) Two members at once split a four-partition topic, and between
/// them print every record exactly once.
///
/// Deterministically: the first member is given every partition, and
/// blocks writing its first batch (its stdout is a pipe nobody reads yet).
/// The second member then joins, and the coordinator waits for the first
/// to rejoin, which its background heartbeats tell it to do. Once the test reads the first member's stdout, it finishes
/// that batch, commits it, revokes its partitions (range is eager) and
/// rejoins: each member gets two partitions, at least one of them unread,
/// and each reads its own to the end and exits.
#[test]
fn two_members_split_the_partitions() {
    let topic = Topic::new("group-split", 4);
    let pad = "x".repeat(1000);
    let mut expected = Vec::new();
    for p in 0..4 {
        let values: Vec<String> = (0..300).map(|i| format!("p{p}-{i:03}-{pad}")).collect();
        let input: String = values.iter().map(|v| format!("{v}\n")).collect();
        kcat(
            &["-P", "-t", &topic.name, "-p", &p.to_string()],
            input.as_bytes(),
        );
        expected.extend(values);
    }
    let g = group("split");
    let args = [
        "consume",
        topic.url.as_str(),
        "--group",
        g.as_str(),
        "--from",
        "earliest",
        "--exit-at-end",
    ];
    let mut first = spawn_mq(&args);
    wait_for_group(&g, "the first member holds every partition", |d| {
        d.state == "Stable" && d.members.len() == 1 && d.members[0].assignment.len() == 4
    });
    let mut second = spawn_mq(&args);
    let second_out = drain(&mut second);
    wait_for_group(&g, "the second member waits to join", |d| {
        d.state == "PreparingRebalance"
    });
    // The first member's heartbeats (every 3 s, in the background while
    // it waits on stdout) tell it to rejoin.
    std::thread::sleep(Duration::from_secs(5));
    let first_out = drain(&mut first);
    let (first_code, first_err) = finish(first);
    let (second_code, second_err) = finish(second);
    assert_eq!(first_code, 0, "first: {first_err}");
    assert_eq!(second_code, 0, "second: {second_err}");
    let first_lines = first_out.join().expect("first's output");
    let second_lines = second_out.join().expect("second's output");
    let partitions_of = |lines: &[String]| -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for l in lines {
            *m.entry(l[..2].to_owned()).or_default() += 1;
        }
        m
    };
    let (a, b) = (partitions_of(&first_lines), partitions_of(&second_lines));
    assert!(
        !second_lines.is_empty(),
        "the second member read nothing; the first read {a:?}"
    );
    // The second member only ever held two partitions.
    assert!(b.len() <= 2, "second read {b:?}");
    // The first read one batch of one partition before the split, then
    // its two partitions, at least one of them unread.
    assert!(a.len() >= 2, "first read {a:?}");
    let all: Vec<String> = first_lines.into_iter().chain(second_lines).collect();
    assert_eq!(all.len(), expected.len(), "first {a:?}, second {b:?}");
    assert_eq!(sorted(all), sorted(expected), "every record exactly once");
}

/// (c) kcat -G (librdkafka) goes on after the offsets `mq consume --group`
/// committed, and `mq` after kcat's.
#[test]
fn kcat_and_mq_continue_after_each_others_commits() {
    let topic = Topic::new("group-kcat", 2);
    let values = produce_keyed(&topic.name, 20);
    let g = group("kcat");
    let first = lines(
        &mq(
            &[
                "consume", &topic.url, "--group", &g, "--from", "earliest", "--count", "8",
            ],
            b"",
        )
        .ok(),
    );
    assert_eq!(first.len(), 8);
    // kcat starts at mq's committed offsets (its reset would be earliest:
    // every record again), reads to the end and commits on exit.
    let out = kcat(
        &[
            "-G",
            &g,
            "-X",
            "auto.offset.reset=earliest",
            "-e",
            "-q",
            "-f",
            "%s\\n",
            &topic.name,
        ],
        b"",
    );
    let by_kcat: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(by_kcat.len(), 12, "{by_kcat:?}");
    let all: Vec<String> = first.into_iter().chain(by_kcat).collect();
    assert_eq!(sorted(all), values, "every record exactly once");
    // mq goes on after kcat's commits: only what is new.
    kcat(
        &["-P", "-t", &topic.name, "-K", ":"],
        b"k1:new-1\nk2:new-2\nk3:new-3\n",
    );
    let after = mq(
        &[
            "consume",
            &topic.url,
            "--group",
            &g,
            "--from",
            "earliest",
            "--exit-at-end",
        ],
        b"",
    )
    .ok();
    assert_eq!(sorted(lines(&after)), ["new-1", "new-2", "new-3"]);
}

/// SIGTERM (and Ctrl-C, the same path): mq commits what it printed and
/// leaves the group at once, instead of after the session timeout.
#[test]
fn sigterm_commits_and_leaves_the_group() {
    let topic = Topic::new("group-sigterm", 2);
    let values = produce_keyed(&topic.name, 10);
    let g = group("sigterm");
    let mut child = spawn_mq(&["consume", &topic.url, "--group", &g, "--from", "earliest"]);
    let stdout = child.stdout.take().expect("stdout");
    let mut reader = BufReader::new(stdout);
    let mut got = Vec::new();
    for _ in 0..10 {
        let mut line = String::new();
        reader.read_line(&mut line).expect("a line");
        got.push(line.trim_end().to_owned());
    }
    assert_eq!(sorted(got), values);
    let kill = StdCommand::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let (code, stderr) = finish(child);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stderr, "");
    // Left, not timed out (the session timeout is 45 s).
    let d = describe_group(&g);
    assert!(d.members.is_empty() && d.state == "Empty", "{d:#?}");
    // And committed: nothing is read again.
    let again = mq(
        &[
            "consume",
            &topic.url,
            "--group",
            &g,
            "--from",
            "earliest",
            "--exit-at-end",
        ],
        b"",
    )
    .ok();
    assert_eq!(again.text(), "");
}

/// A closed stdout (`mq consume --group ... | head -1`): exit 141 quietly,
/// and the group is left at once.
#[test]
fn a_closed_stdout_leaves_the_group() {
    let topic = Topic::new("group-pipe", 1);
    let body = "x".repeat(1000);
    let input: String = (0..2000).map(|i| format!("{i} {body}\n")).collect();
    kcat(&["-P", "-t", &topic.name], input.as_bytes());
    let g = group("pipe");
    let mut child = spawn_mq(&["consume", &topic.url, "--group", &g, "--from", "earliest"]);
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("one line");
    assert!(first.starts_with("0 xxx"), "{first}");
    let (code, stderr) = finish(child);
    assert_eq!(code, BROKEN_PIPE);
    assert_eq!(stderr, "");
    let d = describe_group(&g);
    assert!(d.members.is_empty() && d.state == "Empty", "{d:#?}");
}
