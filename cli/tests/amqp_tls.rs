//! `amqps://` against RabbitMQ's TLS listener (`scripts/brokers up` starts
//! it, with a throwaway PKI in `TLS_DIR`): a round trip through `mq`,
//! interop with amqp-tools' `amqp-consume --ssl`, a password from
//! `MQ_AMQP_PASSWORD`, and the failures: an unknown CA (status 11) and a
//! refused login (status 7), each one line without the password.

mod support;

use mq_tests::endpoints::{CA_CERT, CLIENT_CERT, CLIENT_KEY, OTHER_CA_CERT, amqps_url};
use support::{
    AUTH, TLS, amqp_tool, assert_hidden, fails, fails_env, mq, mq_env, queue, stdin_of, tls_file,
};

/// The parts of the AMQPS URL the tests need apart.
struct Amqps {
    /// `amqps://user:password@host:port/vhost`, as the endpoints give it.
    url: String,
    user: String,
    password: String,
    host: String,
    port: String,
}

fn amqps() -> Amqps {
    let url = amqps_url();
    let rest = url.strip_prefix("amqps://").expect("AMQPS_URL is amqps://");
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let (userinfo, host_port) = authority
        .rsplit_once('@')
        .expect("AMQPS_URL names its user");
    let (user, password) = userinfo
        .split_once(':')
        .expect("AMQPS_URL holds a password");
    let (host, port) = host_port.rsplit_once(':').unwrap_or((host_port, "5671"));
    Amqps {
        url: url.clone(),
        user: user.to_owned(),
        password: password.to_owned(),
        host: host.to_owned(),
        port: port.to_owned(),
    }
}

/// `url` with `?cacertfile=` the PKI's file `ca`.
fn trusting(url: &str, ca: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}cacertfile={}", tls_file(ca))
}

/// The URL with its user name and no password.
fn without_password(a: &Amqps) -> String {
    a.url.replacen(
        &format!("{}:{}@", a.user, a.password),
        &format!("{}@", a.user),
        1,
    )
}

#[test]
fn amqps_produce_then_consume_round_trip() {
    let a = amqps();
    let q = queue("amqps-round-trip");
    let lines: &[&[u8]] = &[b"over tls 1", b"", b"over tls \xff 3"];
    mq(
        &["produce", &trusting(&a.url, CA_CERT), "--routing-key", &q],
        &stdin_of(lines),
    )
    .ok();
    // The consumer's password comes from the environment, not the URL.
    let run = mq_env(
        &[
            "consume",
            &trusting(&without_password(&a), CA_CERT),
            "--queue",
            &q,
            "--count",
            "3",
        ],
        b"",
        &[("MQ_AMQP_PASSWORD", &a.password)],
    )
    .ok();
    assert_eq!(run.stdout, stdin_of(lines));
}

#[test]
fn amqp_consume_ssl_reads_what_mq_produces_over_amqps() {
    let a = amqps();
    let q = queue("amqps-to-amqp-consume");
    mq(
        &[
            "produce",
            &trusting(&a.url, CA_CERT),
            "--routing-key",
            &q,
            "--persistent",
        ],
        b"hello over tls\n",
    )
    .ok();
    let ca = tls_file(CA_CERT);
    let out = amqp_tool(
        "amqp-consume",
        &[
            // This amqp-consume takes -s/--port with --ssl only as an
            // amqps:// URL ("the --url option does not" specify SSL).
            "--ssl",
            "--cacert",
            &ca,
            "-u",
            &format!("amqps://{}:{}@{}:{}", a.user, a.password, a.host, a.port),
            "-q",
            &q,
            "-c",
            "1",
            "cat",
        ],
        b"",
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello over tls");
}

#[test]
fn amqps_with_an_unknown_ca_exits_with_the_tls_status() {
    let a = amqps();
    let q = queue("amqps-unknown-ca");
    for args in [
        &[
            "produce",
            &trusting(&a.url, OTHER_CA_CERT),
            "--routing-key",
            &q,
        ][..],
        &["consume", &trusting(&a.url, OTHER_CA_CERT), "--queue", &q],
    ] {
        let run = fails(
            args,
            b"x\n",
            TLS,
            "the server's certificate is signed by an unknown issuer",
        );
        assert!(
            run.stderr
                .starts_with(&format!("mq: TLS to {}:{}: ", a.host, a.port)),
            "{}",
            run.stderr
        );
        assert_hidden(&run, &format!(":{}@", a.password));
    }
}

#[test]
fn amqps_refused_login_exits_with_the_auth_status_without_the_password() {
    let a = amqps();
    let wrong = "wrong-amqps-pw-7f3a";
    let run = fails_env(
        &[
            "produce",
            &trusting(&without_password(&a), CA_CERT),
            "--routing-key",
            "nowhere",
        ],
        b"x\n",
        &[("MQ_AMQP_PASSWORD", wrong)],
        AUTH,
        "authentication failed at",
    );
    assert_hidden(&run, wrong);
}

/// A client certificate logs in with EXTERNAL (RabbitMQ maps its CN to
/// the user): no password anywhere, even with MQ_AMQP_PASSWORD set.
#[test]
fn amqps_client_certificate_logs_in_with_external() {
    let a = amqps();
    let q = queue("amqps-external");
    let url = format!(
        "amqps://{}:{}/%2f?cacertfile={}&certfile={}&keyfile={}&auth_mechanism=external",
        a.host,
        a.port,
        tls_file(CA_CERT),
        tls_file(CLIENT_CERT),
        tls_file(CLIENT_KEY),
    );
    let env = [("MQ_AMQP_PASSWORD", "not-used-by-external")];
    mq_env(
        &["produce", &url, "--routing-key", &q],
        b"by certificate\n",
        &env,
    )
    .ok();
    let run = mq_env(&["consume", &url, "--queue", &q, "--count", "1"], b"", &env).ok();
    assert_eq!(run.text(), "by certificate\n");
}
