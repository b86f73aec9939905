//! TLS and SASL settings on the command line, where no broker is needed:
//! `-X` and `--config` are Kafka's, secrets named by `${env:...}` and
//! `${file:...}` must exist, properties files are checked, a bad CA file is
//! a TLS failure (status 11), and no secret value is ever printed.

mod support;

use std::net::TcpListener;

use support::{
    BAD_URL, TLS, TempFile, UNREACHABLE, USAGE, assert_hidden, fails, fails_env, mq, mq_env,
};

/// A port where something listens (the OS completes TCP handshakes for
/// the backlog; nothing answers), for failures after connecting.
fn listening() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let addr = listener.local_addr().expect("its address").to_string();
    (listener, addr)
}

#[test]
fn kafka_properties_are_refused_on_amqp_urls() {
    let file = TempFile::new("client.properties", "security.protocol=SSL\n");
    for args in [
        &["produce", "amqp://h/%2f", "-X", "security.protocol=SSL"][..],
        &["produce", "amqps://h/%2f", "--property", "client.id=x"],
        &["consume", "amqps://h/%2f", "--queue", "q", "-X", "a=b"],
        &["bench", "amqp://h/%2f", "-X", "a=b"],
    ] {
        fails(
            args,
            b"",
            USAGE,
            "-X/--property applies to kafka:// URLs only; amqp:// and amqps:// URLs take their \
             settings as URI parameters",
        );
    }
    fails(
        &[
            "consume",
            "amqps://h/%2f",
            "--queue",
            "q",
            "--config",
            &file.arg(),
        ],
        b"",
        USAGE,
        "--config applies to kafka:// URLs only",
    );
    // declare is AMQP only: it has no such options at all.
    fails(
        &["declare", "amqp://h/%2f", "--queue", "q", "-X", "a=b"],
        b"",
        USAGE,
        "unexpected argument '-X'",
    );
}

#[test]
fn a_kafka_url_with_credentials_points_to_sasl_properties() {
    let run = fails(
        &["produce", "kafka://alice:hunter2@h:9092/t"],
        b"",
        BAD_URL,
        "kafka:// URLs take no user name or password: give SASL credentials as client \
         properties (-X security.protocol=SASL_SSL -X sasl.mechanism=... -X sasl.username=...",
    );
    assert!(run.stderr.contains("--config"), "{}", run.stderr);
    assert!(!run.stderr.contains("not supported"), "{}", run.stderr);
    assert_hidden(&run, "hunter2");
}

#[test]
fn secrets_that_cannot_be_found_are_usage_errors_naming_where_they_were_looked_for() {
    // Resolved before any connection: port 1 is never dialled.
    let url = "kafka://127.0.0.1:1/t";
    fails(
        &[
            "produce",
            url,
            "-X",
            "sasl.password=${env:MQ_TEST_UNSET_VAR}",
        ],
        b"",
        USAGE,
        "-X sasl.password: the environment variable MQ_TEST_UNSET_VAR is not set",
    );
    fails(
        &[
            "topics",
            url,
            "-X",
            "sasl.password=${file:/nonexistent/mq-pw}",
        ],
        b"",
        USAGE,
        "-X sasl.password: cannot read /nonexistent/mq-pw: no such file",
    );
    fails(
        &["consume", url, "--config", "/nonexistent/client.properties"],
        b"",
        USAGE,
        "cannot read --config /nonexistent/client.properties: no such file",
    );
    let file = TempFile::new(
        "client.properties",
        "# SASL\nsecurity.protocol=SASL_SSL\nsasl.password=${env:MQ_TEST_UNSET_VAR}\n",
    );
    fails(
        &["topic", "delete", url, "--config", &file.arg()],
        b"",
        USAGE,
        &format!(
            "--config {} line 3: sasl.password: the environment variable MQ_TEST_UNSET_VAR is \
             not set",
            file.arg()
        ),
    );
}

/// `sasl.username` without a password takes MQ_KAFKA_PASSWORD: without
/// it the settings are incomplete; with it they are whole, and mq goes on
/// to connect (to a port where nothing listens).
#[test]
fn the_kafka_password_variable_completes_a_sasl_login() {
    let args = [
        "topics",
        "kafka://127.0.0.1:1",
        "-X",
        "security.protocol=SASL_PLAINTEXT",
        "-X",
        "sasl.mechanism=PLAIN",
        "-X",
        "sasl.username=alice",
    ];
    fails(
        &args,
        b"",
        USAGE,
        "SASL PLAIN needs a password (sasl.password or sasl.jaas.config)",
    );
    let run = fails_env(
        &args,
        b"",
        &[("MQ_KAFKA_PASSWORD", "hunter2")],
        UNREACHABLE,
        "no broker reachable",
    );
    assert_hidden(&run, "hunter2");
}

#[test]
fn properties_files_are_checked_line_by_line_without_echoing_them() {
    let url = "kafka://127.0.0.1:1/t";
    let file = TempFile::new(
        "continued.properties",
        "security.protocol=SASL_SSL\nsasl.jaas.config=PlainLoginModule required \\\n  password=\"hunter2\";\n",
    );
    let run = fails(
        &["produce", url, "--config", &file.arg()],
        b"",
        USAGE,
        "line 2 ends in '\\', which continues a line in Java properties files; mq does not join \
         lines: put the whole value on one line",
    );
    assert_hidden(&run, "hunter2");
    let file = TempFile::new("bare.properties", "hunter2\n");
    let run = fails(
        &["produce", url, "--config", &file.arg()],
        b"",
        USAGE,
        "line 1 is not key=value",
    );
    assert_hidden(&run, "hunter2");
}

#[test]
fn bad_properties_are_usage_errors_that_never_show_secret_values() {
    let url = "kafka://127.0.0.1:1/t";
    let run = fails(
        &[
            "topics",
            url,
            "-X",
            "security.protocol=SASL_SSL",
            "-X",
            "sasl.mechanism=GSSAPI",
            "-X",
            "sasl.username=alice",
            "-X",
            "sasl.password=hunter2",
        ],
        b"",
        USAGE,
        "bad Kafka client property: sasl.mechanism=\"GSSAPI\"",
    );
    assert_hidden(&run, "hunter2");
    let file = TempFile::new("typo.properties", "lingr.ms=5\n");
    fails(
        &["produce", url, "--config", &file.arg()],
        b"",
        USAGE,
        "unknown property lingr.ms",
    );
    let run = fails_env(
        &[
            "produce",
            url,
            "-X",
            "sasl.jaas.config=username=\"alice\" password=\"${env:PW}",
        ],
        b"",
        &[("PW", "hunter2")],
        USAGE,
        "sasl.jaas.config=<redacted>",
    );
    assert_hidden(&run, "hunter2");
    fails(
        &["produce", url, "-X", "bootstrap.servers=other:9092"],
        b"",
        USAGE,
        "-X bootstrap.servers: the URL names the brokers",
    );
    fails(
        &["produce", url, "-X", "no-equals-sign"],
        b"",
        USAGE,
        "expected KEY=VALUE",
    );
}

/// `--config K=V` made topic configs before it named a properties file.
#[test]
fn topic_create_points_from_config_to_topic_config() {
    fails(
        &[
            "topic",
            "create",
            "kafka://127.0.0.1:1/t",
            "--config",
            "retention.ms=1000",
        ],
        b"",
        USAGE,
        "(--config takes a properties file; a topic's configs are --topic-config K=V)",
    );
}

/// The CA file is read when the TLS handshake starts: an unusable one is
/// a TLS failure, on either protocol, named by its path.
#[test]
fn an_unusable_ca_file_exits_with_the_tls_status() {
    let (_listener, addr) = listening();
    let not_pem = TempFile::new("ca.pem", "not a certificate\n");
    fails(
        &[
            "produce",
            &format!("amqps://guest:hunter2@{addr}/%2f?cacertfile=/nonexistent/ca.pem"),
            "--routing-key",
            "q",
        ],
        b"x\n",
        TLS,
        &format!("mq: TLS to {addr}: cannot use the CA file /nonexistent/ca.pem"),
    );
    let run = fails(
        &[
            "topics",
            &format!("kafka://{addr}"),
            "-X",
            "security.protocol=SSL",
            "-X",
            &format!("ssl.truststore.location={}", not_pem.arg()),
        ],
        b"",
        TLS,
        &format!("TLS to {addr}: cannot use the CA file {}", not_pem.arg()),
    );
    assert_hidden(&run, "hunter2");
}

#[test]
fn help_documents_tls_sasl_and_where_secrets_come_from() {
    let top = mq(&["--help"], b"");
    assert_eq!(top.code, 0);
    for text in [
        "  11   TLS failed",
        "  7    authentication failed",
        "amqps://user@host:port/vhost?cacertfile=F",
        "MQ_AMQP_PASSWORD",
        "MQ_KAFKA_PASSWORD",
    ] {
        assert!(top.text().contains(text), "{text}: {}", top.text());
    }
    for cmd in [
        &["produce"][..],
        &["consume"],
        &["topics"],
        &["topic", "create"],
        &["topic", "delete"],
        &["bench"],
    ] {
        let mut args = cmd.to_vec();
        args.push("--help");
        let help = mq(&args, b"").text();
        for text in [
            "-X, --property <KEY=VALUE>",
            "--config <FILE>",
            "${env:NAME}",
            "${file:PATH}",
            "MQ_KAFKA_PASSWORD",
            "sasl.mechanism=PLAIN|SCRAM-SHA-256|SCRAM-SHA-512",
            "ssl.truststore.location",
        ] {
            assert!(help.contains(text), "{cmd:?} --help lacks {text}: {help}");
        }
    }
    for cmd in ["produce", "consume", "bench", "declare"] {
        let help = mq(&[cmd, "--help"], b"").text();
        for text in [
            "amqps://",
            "cacertfile",
            "MQ_AMQP_PASSWORD",
            "auth_mechanism",
        ] {
            assert!(help.contains(text), "{cmd} --help lacks {text}");
        }
    }
    let create = mq(&["topic", "create", "--help"], b"").text();
    assert!(create.contains("--topic-config <K=V>"), "{create}");
    // An environment variable's value is not needed to show help.
    let run = mq_env(
        &["produce", "--help"],
        b"",
        &[("MQ_KAFKA_PASSWORD", "hunter2")],
    );
    assert_hidden(&run, "hunter2");
}
