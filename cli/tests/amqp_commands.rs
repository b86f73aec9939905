//! `mq declare` and `mq bench` against RabbitMQ.

mod support;

use std::time::Duration;

use support::*;

#[test]
fn declare_an_exchange_a_queue_and_a_binding_that_routes() {
    let x = mq_tests::names::exchange("orders");
    let q = mq_tests::names::queue("billing");
    let run = mq(
        &[
            "declare",
            &url(),
            "--exchange",
            &x,
            "--type",
            "topic",
            "--auto-delete",
        ],
        b"",
    )
    .ok();
    assert_eq!(
        run.text(),
        format!("exchange '{x}' declared: topic, auto-delete\n")
    );
    let run = mq(
        &[
            "declare",
            &url(),
            "--queue",
            &q,
            "--bind",
            &x,
            "--routing-key",
            "order.*",
            "--argument",
            "x-expires=60000",
        ],
        b"",
    )
    .ok();
    assert_eq!(
        run.text(),
        format!(
            "queue '{q}' declared: 0 messages, 0 consumers\n\
             queue '{q}' bound to exchange '{x}' with routing key 'order.*'\n"
        )
    );
    // The binding routes by pattern.
    mq(
        &[
            "produce",
            &url(),
            "--exchange",
            &x,
            "--routing-key",
            "order.created",
            "--mandatory",
        ],
        b"routed\n",
    )
    .ok();
    fails(
        &[
            "produce",
            &url(),
            "--exchange",
            &x,
            "--routing-key",
            "invoice.sent",
            "--mandatory",
        ],
        b"not routed\n",
        NOT_CONFIRMED,
        "1 returned (312 NO-ROUTE)",
    );
    let run = mq(&["consume", &url(), "--queue", &q, "--count", "1"], b"").ok();
    assert_eq!(run.stdout, b"routed\n");
    // Declaring the same again succeeds: declares are idempotent.
    mq(
        &[
            "declare",
            &url(),
            "--exchange",
            &x,
            "--type",
            "topic",
            "--auto-delete",
        ],
        b"",
    )
    .ok();
    // A different type is refused.
    fails(
        &["declare", &url(), "--exchange", &x, "--type", "fanout"],
        b"",
        REFUSED,
        &format!("mq: cannot declare exchange '{x}': inequivalent arg 'type'"),
    );
}

#[test]
fn declare_a_durable_quorum_queue_with_typed_arguments() {
    let q = mq_tests::names::queue("quorum");
    let run = mq(
        &[
            "declare",
            &url(),
            "--queue",
            &q,
            "--durable",
            "--argument",
            "x-queue-type=quorum",
            "--argument",
            "x-max-length=1000",
            "--argument",
            "x-expires=60000",
        ],
        b"",
    )
    .ok();
    assert!(run.text().starts_with(&format!("queue '{q}' declared")));
    // The broker kept the arguments, typed: declares that differ are refused.
    fails(
        &[
            "declare",
            &url(),
            "--queue",
            &q,
            "--durable",
            "--argument",
            "x-queue-type=quorum",
            "--argument",
            "x-expires=60000",
        ],
        b"",
        REFUSED,
        "inequivalent arg 'x-max-length' for queue",
    );
    let run = fails(
        &[
            "declare",
            &url(),
            "--queue",
            &q,
            "--durable",
            "--argument",
            "x-queue-type=classic",
            "--argument",
            "x-max-length=1000",
            "--argument",
            "x-expires=60000",
        ],
        b"",
        REFUSED,
        "inequivalent arg 'x-queue-type'",
    );
    assert!(
        run.stderr.ends_with("(406 PRECONDITION-FAILED)\n"),
        "{}",
        run.stderr
    );
    // Repeating them exactly succeeds.
    mq(
        &[
            "declare",
            &url(),
            "--queue",
            &q,
            "--durable",
            "--argument",
            "x-queue-type=quorum",
            "--argument",
            "x-max-length=1000",
            "--argument",
            "x-expires=60000",
        ],
        b"",
    )
    .ok();
}

/// x-message-ttl is sent as an integer and x-dead-letter-exchange as a
/// string, or RabbitMQ would refuse them: an expired message moves to the
/// dead-letter queue.
#[test]
fn declare_a_queue_with_ttl_and_a_dead_letter_exchange() {
    let dlx = mq_tests::names::exchange("dlx");
    let dead = mq_tests::names::queue("dead");
    let short = mq_tests::names::queue("short-lived");
    mq(
        &[
            "declare",
            &url(),
            "--exchange",
            &dlx,
            "--type",
            "fanout",
            "--auto-delete",
        ],
        b"",
    )
    .ok();
    mq(
        &[
            "declare",
            &url(),
            "--queue",
            &dead,
            "--bind",
            &dlx,
            "--argument",
            "x-expires=60000",
        ],
        b"",
    )
    .ok();
    mq(
        &[
            "declare",
            &url(),
            "--queue",
            &short,
            "--argument",
            "x-message-ttl=50",
            "--argument",
            &format!("x-dead-letter-exchange={dlx}"),
            "--argument",
            "x-expires=60000",
        ],
        b"",
    )
    .ok();
    mq(&["produce", &url(), "--routing-key", &short], b"expires\n").ok();
    let run = mq(
        &[
            "consume",
            &url(),
            "--queue",
            &dead,
            "--count",
            "1",
            "--format",
            "json",
        ],
        b"",
    )
    .ok();
    let msgs = json_lines(&run.stdout);
    assert_eq!(msgs[0]["value"], "expires");
    let death = &msgs[0]["headers"]["x-death"][0];
    assert_eq!(death["reason"], "expired", "{}", run.text());
    assert_eq!(death["queue"], short.as_str());
    assert_eq!(msgs[0]["headers"]["x-first-death-reason"], "expired");
}

fn bench_json(extra: &[&str]) -> serde_json::Value {
    let u = url();
    let mut args = vec!["bench", u.as_str(), "--json"];
    args.extend_from_slice(extra);
    let run = mq(&args, b"").ok();
    let text = run.text();
    assert_eq!(text.lines().count(), 1, "one JSON line: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON: {text}: {e}"))
}

#[test]
fn bench_json_has_sane_figures() {
    let v = bench_json(&[
        "--count",
        "2000",
        "--size",
        "64",
        "--window",
        "50",
        "--prefetch",
        "20",
    ]);
    assert_eq!(v["protocol"], "amqp");
    assert_eq!(v["count"], 2000);
    assert_eq!(v["size"], 64);
    assert_eq!(v["window"], 50);
    assert_eq!(v["prefetch"], "20");
    assert!(
        v["url"].as_str().is_some_and(|u| u.contains(":***@")),
        "{v}"
    );
    assert!(
        v["destination"]
            .as_str()
            .is_some_and(|d| d.starts_with("queue amq.gen-"))
    );
    for side in ["publish", "consume"] {
        let p = &v[side];
        assert_eq!(p["messages"], 2000, "{side}: {v}");
        assert_eq!(p["failed"], 0, "{side}");
        assert_eq!(p["bytes"], 2000 * 64, "{side}");
        let secs = p["seconds"].as_f64().expect("seconds");
        let rate = p["msgs_per_sec"].as_f64().expect("msgs/s");
        let mb = p["mb_per_sec"].as_f64().expect("MB/s");
        assert!(secs > 0.0 && secs < 60.0, "{side}: {secs}");
        assert!(
            (rate * secs - 2000.0).abs() < 1.0,
            "{side}: {rate} msgs/s over {secs} s"
        );
        assert!((mb - rate * 64.0 / 1e6).abs() < 1e-6, "{side}: {mb} MB/s");
    }
    let l = &v["latency"];
    assert_eq!(l["samples"], 2000);
    let (p50, p99, max) = (
        l["p50_us"].as_f64().expect("p50"),
        l["p99_us"].as_f64().expect("p99"),
        l["max_us"].as_f64().expect("max"),
    );
    assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{l}");
    assert!(max < 60e6, "{l}");
    let cpu = &v["cpu"];
    assert!(cpu["per_message_us"].as_f64().expect("cpu") > 0.0, "{cpu}");
    assert!(cpu["user_seconds"].as_f64().expect("user") > 0.0, "{cpu}");
    assert!(
        cpu["system_seconds"].as_f64().expect("system") >= 0.0,
        "{cpu}"
    );
    assert_eq!(v["foreign"], 0);
}

#[test]
fn bench_on_a_named_queue_prints_the_table() {
    let q = queue("bench-named");
    let run = mq(
        &[
            "bench",
            &url(),
            "--queue",
            &q,
            "--count",
            "300",
            "--size",
            "16",
            "--window",
            "1",
        ],
        b"",
    )
    .ok();
    let text = run.text();
    for part in [
        "mq bench amqp://guest:***@".to_owned(),
        format!(", queue {q}\n"),
        "300 messages of 16 bytes, window 1, prefetch 1".to_owned(),
        "messages   failed   seconds       msgs/s      MB/s".to_owned(),
        "\nlatency  p50 ".to_owned(),
        "(300 samples)".to_owned(),
        " per message (user ".to_owned(),
    ] {
        assert!(text.contains(&part), "{part:?} not in:\n{text}");
    }
    let publish = text
        .lines()
        .find(|l| l.starts_with("publish"))
        .expect("a publish row");
    let cols: Vec<&str> = publish.split_whitespace().collect();
    assert_eq!(cols[1..3], ["300", "0"], "{publish}");
    // The queue is left as it was: empty.
    std::thread::sleep(Duration::from_millis(100));
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
    assert!(
        run.text().contains("0 messages, 0 consumers"),
        "{}",
        run.text()
    );
}
