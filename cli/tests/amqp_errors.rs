//! Failures of the RabbitMQ commands against the real broker: one line on
//! stderr, `mq: ...`, the documented exit status, never a panic or a
//! password.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command as StdCommand, Stdio};
use std::time::Duration;

use support::*;

/// A loopback port with nothing listening on it.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    port
}

#[test]
fn an_unreachable_broker_exits_6() {
    let port = closed_port();
    let dead = format!("amqp://guest:Sup3rS3cret@127.0.0.1:{port}/%2f");
    let expected = format!("mq: cannot connect to 127.0.0.1:{port}: Connection refused");
    for args in [
        &["produce", &dead, "--routing-key", "k"][..],
        &["consume", &dead, "--queue", "q"],
        &["declare", &dead, "--queue", "q"],
        &["bench", &dead, "--count", "10"],
    ] {
        let run = fails(args, b"x\n", UNREACHABLE, &expected);
        assert!(!run.stderr.contains("Sup3rS3cret"), "{}", run.stderr);
    }
}

#[test]
fn a_wrong_password_exits_7() {
    let bad = url_with_password("wrong-Sup3rS3cret");
    for args in [
        &["produce", &bad, "--routing-key", "k"][..],
        &["consume", &bad, "--queue", "q"],
        &["declare", &bad, "--exchange", "x"],
        &["bench", &bad, "--count", "10"],
    ] {
        let run = fails(
            args,
            b"x\n",
            AUTH,
            "authentication failed at 127.0.0.1:5672: Login was refused using authentication mechanism PLAIN",
        );
        assert!(
            run.stderr.contains("(403 ACCESS-REFUSED)"),
            "{}",
            run.stderr
        );
        assert!(!run.stderr.contains("Sup3rS3cret"), "{}", run.stderr);
    }
}

#[test]
fn an_unknown_queue_or_exchange_exits_8() {
    let q = mq_tests::names::queue("missing");
    let x = mq_tests::names::exchange("missing");
    fails(
        &["consume", &url(), "--queue", &q],
        b"",
        NOT_FOUND,
        &format!(
            "mq: cannot consume from queue '{q}': no queue '{q}' in vhost '/' (404 NOT-FOUND)"
        ),
    );
    fails(
        &["produce", &url(), "--exchange", &x, "--routing-key", "k"],
        b"one\ntwo\n",
        NOT_FOUND,
        &format!(
            "mq: cannot publish to exchange '{x}' with routing key 'k': no exchange '{x}' in vhost '/' (404 NOT-FOUND)"
        ),
    );
    // Without confirms the channel's close tells.
    fails(
        &["produce", &url(), "--exchange", &x, "--no-confirms"],
        b"one\n",
        NOT_FOUND,
        &format!("no exchange '{x}' in vhost '/' (404 NOT-FOUND)"),
    );
    let bound = queue("bind-missing");
    fails(
        &[
            "declare",
            &url(),
            "--queue",
            &bound,
            "--bind",
            &x,
            "--routing-key",
            "k",
            "--argument",
            "x-expires=60000",
        ],
        b"",
        NOT_FOUND,
        &format!(
            "mq: cannot bind queue '{bound}' to exchange '{x}': no exchange '{x}' in vhost '/'"
        ),
    );
    fails(
        &["bench", &url(), "--queue", &q, "--count", "10"],
        b"",
        NOT_FOUND,
        &format!("mq: cannot use queue '{q}': no queue '{q}' in vhost '/' (404 NOT-FOUND)"),
    );
}

/// A channel error shows at once, even while stdin stays open and quiet
/// (a terminal, a slow pipe): mq does not wait for more input to report it.
#[test]
fn a_missing_exchange_is_reported_while_stdin_is_still_open() {
    let x = mq_tests::names::exchange("missing-interactive");
    let mut child = StdCommand::new(env!("CARGO_BIN_EXE_mq"))
        .args(["produce", &url(), "--exchange", &x, "--routing-key", "k"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mq starts");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"typed by hand\n").expect("write");
    stdin.flush().expect("flush");
    // stdin stays open: mq must exit on its own.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "mq still waits for stdin"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(stdin);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    assert_eq!(status.code(), Some(NOT_FOUND), "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "mq: cannot publish to exchange '{x}' with routing key 'k': \
             no exchange '{x}' in vhost '/' (404 NOT-FOUND)\n"
        )
    );
}

#[test]
fn an_unknown_vhost_is_refused() {
    let addr = mq_tests::endpoints::amqp_addr();
    fails(
        &[
            "consume",
            &format!("amqp://guest:guest@{addr}/no-such-vhost"),
            "--queue",
            "q",
        ],
        b"",
        REFUSED,
        "refused the connection: vhost no-such-vhost not found (530 NOT-ALLOWED)",
    );
}

#[test]
fn a_returned_message_exits_9_and_the_others_still_go() {
    let q = queue("returned");
    let unroutable = mq_tests::names::queue("nowhere");
    fails(
        &[
            "produce",
            &url(),
            "--routing-key",
            &unroutable,
            "--mandatory",
        ],
        b"a\nb\n",
        NOT_CONFIRMED,
        "mq: 2 of 2 messages were not confirmed: 2 returned (312 NO-ROUTE)",
    );
    // Not mandatory: the broker drops unroutable messages and confirms them.
    mq(&["produce", &url(), "--routing-key", &unroutable], b"a\n").ok();
    // A routable publish after a returned one in the same run still lands.
    let x = mq_tests::names::exchange("direct");
    mq(&["declare", &url(), "--exchange", &x, "--auto-delete"], b"").ok();
    mq(
        &[
            "declare",
            &url(),
            "--queue",
            &q,
            "--bind",
            &x,
            "--routing-key",
            "yes",
            "--argument",
            "x-expires=60000",
        ],
        b"",
    )
    .ok();
    fails(
        &[
            "produce",
            &url(),
            "--exchange",
            &x,
            "--routing-key",
            "no",
            "--mandatory",
        ],
        b"dropped\n",
        NOT_CONFIRMED,
        "1 of 1 messages were not confirmed: 1 returned (312 NO-ROUTE)",
    );
    mq(
        &[
            "produce",
            &url(),
            "--exchange",
            &x,
            "--routing-key",
            "yes",
            "--mandatory",
        ],
        b"kept\n",
    )
    .ok();
    let run = mq(&["consume", &url(), "--queue", &q, "--count", "1"], b"").ok();
    assert_eq!(run.stdout, b"kept\n");
}

#[test]
fn a_mismatched_redeclare_is_refused_with_10() {
    let q = queue("mismatch");
    fails(
        &["declare", &url(), "--queue", &q, "--durable"],
        b"",
        REFUSED,
        &format!("mq: cannot declare queue '{q}': inequivalent arg 'durable' for queue '{q}'"),
    );
}

/// `mq consume ... | head -1`: stdout closes early. mq exits quietly with
/// the status a SIGPIPE death would give, and what it could not write is
/// not acked: it stays in the queue.
#[test]
fn a_closed_stdout_exits_quietly_and_leaves_unwritten_messages_queued() {
    let q = queue("closed-stdout");
    let body = "x".repeat(1000);
    let input: String = (0..2000).map(|i| format!("{i} {body}\n")).collect();
    mq(&["produce", &url(), "--routing-key", &q], input.as_bytes()).ok();
    let mut child = StdCommand::new(env!("CARGO_BIN_EXE_mq"))
        .args(["consume", &url(), "--queue", &q, "--prefetch", "10"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mq starts");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("one line");
    assert!(first.starts_with("0 xxx"), "{first}");
    // The reader is gone: the pipe is closed, as `head -1` does.
    let out = child.wait_with_output().expect("mq exits");
    assert_eq!(out.status.code(), Some(BROKEN_PIPE));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    // At most what fit in the pipe was acked; the rest is back in the queue.
    let run = mq(
        &[
            "declare",
            &url(),
            "--queue",
            &q,
            "--argument",
            "x-expires=60000",
        ],
        b"",
    )
    .ok();
    let text = run.text();
    let ready: u64 = text
        .split(": ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no message count in {text}"));
    assert!(ready > 1000, "{ready} of 2000 left: {text}");
}

/// The connection to the broker breaks while `mq consume` waits: one line
/// saying so, exit 6.
#[test]
fn a_lost_connection_exits_6_with_one_line() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let proxy = rt
        .block_on(mq_tests::proxy::FaultProxy::start(
            mq_tests::endpoints::amqp_addr(),
        ))
        .expect("proxy");
    let via_proxy = format!("amqp://guest:guest@{}/%2f", proxy.addr());
    let q = queue("lost");
    mq(
        &["produce", &url(), "--routing-key", &q],
        b"before the cut\n",
    )
    .ok();
    let mut child = StdCommand::new(env!("CARGO_BIN_EXE_mq"))
        .args(["consume", &via_proxy, "--queue", &q])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mq starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("one line");
    assert_eq!(first, "before the cut\n");
    proxy.cut_all();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    let status = child.wait().expect("mq exits");
    assert_eq!(status.code(), Some(UNREACHABLE), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "mq: cannot consume from queue '{q}': the connection was lost: "
        )),
        "{stderr}"
    );
    drop(proxy);
    rt.shutdown_timeout(Duration::from_secs(1));
}

/// The connection breaks while `mq produce` reads stdin: the next publish
/// fails with one line, exit 6; what was confirmed before stays published.
#[test]
fn a_connection_lost_while_producing_exits_6() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let proxy = rt
        .block_on(mq_tests::proxy::FaultProxy::start(
            mq_tests::endpoints::amqp_addr(),
        ))
        .expect("proxy");
    let via_proxy = format!("amqp://guest:guest@{}/%2f", proxy.addr());
    let q = queue("lost-produce");
    let mut child = StdCommand::new(env!("CARGO_BIN_EXE_mq"))
        .args(["produce", &via_proxy, "--routing-key", &q])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mq starts");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"first\n").expect("write");
    stdin.flush().expect("flush");
    // The first message arrives: the connection is up and publishing.
    let run = mq(&["consume", &url(), "--queue", &q, "--count", "1"], b"").ok();
    assert_eq!(run.stdout, b"first\n");
    proxy.cut_all();
    // Give the driver a moment to see the socket close, then publish more.
    std::thread::sleep(Duration::from_millis(500));
    let _ = stdin.write_all(b"second\nthird\n");
    drop(stdin);
    let out = child.wait_with_output().expect("mq exits");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(UNREACHABLE), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "mq: cannot publish to the default exchange with routing key '{q}': the connection was lost"
        )),
        "{stderr}"
    );
    drop(proxy);
    rt.shutdown_timeout(Duration::from_secs(1));
}

/// The queue is deleted under `mq consume`: the broker cancels the
/// consumer, and mq says so, exit 10.
#[test]
fn a_deleted_queue_ends_consume_with_10() {
    let q = queue("deleted");
    let mut child = StdCommand::new(env!("CARGO_BIN_EXE_mq"))
        .args(["consume", &url(), "--queue", &q])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mq starts");
    mq(&["produce", &url(), "--routing-key", &q], b"one\n").ok();
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("one line");
    assert_eq!(first, "one\n");
    amqp_tool("amqp-delete-queue", &["-u", &url(), "-q", &q], b"");
    let out = child.wait_with_output().expect("mq exits");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(REFUSED), "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "mq: cannot consume from queue '{q}': the broker cancelled the consumer (was the queue deleted?)\n"
        )
    );
}

#[test]
fn bench_refuses_a_queue_that_holds_messages() {
    let q = queue("bench-busy");
    mq(&["produce", &url(), "--routing-key", &q], b"old\n").ok();
    fails(
        &["bench", &url(), "--queue", &q, "--count", "10"],
        b"",
        USAGE,
        &format!("mq: queue '{q}' holds 1 message; mq bench needs an empty queue"),
    );
}
