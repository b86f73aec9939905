//! Kafka's SSL, SASL_SSL and SASL_PLAINTEXT listeners (`scripts/brokers
//! up` starts them, with a throwaway PKI in `TLS_DIR` and the SASL user
//! alice) through `-X` and `--config`: round trips, interop with kcat
//! (librdkafka) over SASL_SSL with SCRAM-SHA-256 and with Kafka's own Java
//! console tools over SASL_SSL with SCRAM-SHA-512, passwords from
//! `${env:...}` and `MQ_KAFKA_PASSWORD`, and the failures: an unknown CA
//! (status 11) and a wrong password (status 7), one line without it.
//!
//! Topics are made on the plaintext listener of the same cluster.

mod support;

use mq_tests::endpoints::{
    CA_CERT, KAFKA_SASL_PASSWORD, KAFKA_SASL_USER, OTHER_CA_CERT, kafka_sasl_plaintext_bootstrap,
    kafka_sasl_ssl_bootstrap, kafka_ssl_bootstrap,
};
use support::{
    AUTH, TLS, TempFile, Topic, assert_hidden, fails, fails_env, mq_env, stdin_of, tls_file,
};

/// `kafka://<bootstrap>/<topic>`.
fn url(bootstrap: &str, topic: &str) -> String {
    format!("kafka://{bootstrap}/{topic}")
}

/// `args` followed by `-X` for each property.
fn with_props<'a>(args: &[&'a str], props: &'a [String]) -> Vec<&'a str> {
    let mut all = args.to_vec();
    for p in props {
        all.push("-X");
        all.push(p);
    }
    all
}

/// Produces `lines` to `url` and reads them back from the start, both
/// with `props` and `env`.
fn round_trip(url: &str, props: &[String], env: &[(&str, &str)]) {
    let lines: &[&[u8]] = &[b"secured 1", b"secured 2"];
    mq_env(&with_props(&["produce", url], props), &stdin_of(lines), env).ok();
    let run = mq_env(
        &with_props(
            &["consume", url, "--from", "earliest", "--exit-at-end"],
            props,
        ),
        b"",
        env,
    )
    .ok();
    assert_eq!(run.stdout, stdin_of(lines));
}

#[test]
fn ssl_round_trip_with_properties() {
    let topic = Topic::new("ssl", 2);
    round_trip(
        &url(&kafka_ssl_bootstrap(), &topic.name),
        &[
            "security.protocol=SSL".to_owned(),
            format!("ssl.truststore.location={}", tls_file(CA_CERT)),
        ],
        &[],
    );
}

/// PKCS12 trust and key stores (made by Java's keytool) by the Java
/// client's property names, the store password from the environment.
#[test]
fn ssl_round_trip_with_pkcs12_stores() {
    let topic = Topic::new("ssl-pkcs12", 1);
    round_trip(
        &url(&kafka_ssl_bootstrap(), &topic.name),
        &[
            "security.protocol=SSL".to_owned(),
            "ssl.truststore.type=PKCS12".to_owned(),
            format!("ssl.truststore.location={}", tls_file("ca-truststore.p12")),
            "ssl.truststore.password=${env:MQ_TEST_PW}".to_owned(),
            "ssl.keystore.type=PKCS12".to_owned(),
            format!("ssl.keystore.location={}", tls_file("client-keytool.p12")),
            "ssl.keystore.password=${env:MQ_TEST_PW}".to_owned(),
        ],
        &[("MQ_TEST_PW", mq_tests::endpoints::CLIENT_P12_PASSWORD)],
    );
}

/// PLAIN over SASL_PLAINTEXT, the password from MQ_KAFKA_PASSWORD and the
/// CA by librdkafka's name for it.
#[test]
fn sasl_plain_round_trip_with_the_password_from_the_environment() {
    let topic = Topic::new("sasl-plain", 1);
    round_trip(
        &url(&kafka_sasl_plaintext_bootstrap(), &topic.name),
        &[
            "security.protocol=SASL_PLAINTEXT".to_owned(),
            "sasl.mechanisms=PLAIN".to_owned(),
            format!("sasl.username={KAFKA_SASL_USER}"),
        ],
        &[("MQ_KAFKA_PASSWORD", KAFKA_SASL_PASSWORD)],
    );
    let topic = Topic::new("sasl-ssl-plain", 1);
    round_trip(
        &url(&kafka_sasl_ssl_bootstrap(), &topic.name),
        &[
            "security.protocol=SASL_SSL".to_owned(),
            "sasl.mechanism=PLAIN".to_owned(),
            format!("sasl.username={KAFKA_SASL_USER}"),
            "sasl.password=${env:MQ_TEST_PW}".to_owned(),
            format!("ssl.ca.location={}", tls_file(CA_CERT)),
        ],
        &[("MQ_TEST_PW", KAFKA_SASL_PASSWORD)],
    );
}

/// A client properties file for SCRAM-SHA-256 over SASL_SSL, its password
/// from MQ_TEST_PW.
fn scram_config() -> TempFile {
    TempFile::new(
        "client.properties",
        &format!(
            "# SASL_SSL with SCRAM\n\
             security.protocol=SASL_SSL\n\
             sasl.mechanism=SCRAM-SHA-256\n\
             sasl.username={KAFKA_SASL_USER}\n\
             sasl.password=${{env:MQ_TEST_PW}}\n\
             ssl.truststore.location={}\n",
            tls_file(CA_CERT)
        ),
    )
}

/// The librdkafka version the current kcat runs on, from `kcat -V` ("...
/// librdkafka 2.16.0 builtin.features=...").
fn librdkafka_version() -> (u32, u32, u32) {
    let out = mq_tests::tools::kcat_current(&["-V"], b"");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let version = text
        .split("librdkafka ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no librdkafka version in kcat -V: {text}"));
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let mut next = || parts.next().unwrap_or(0);
    (next(), next(), next())
}

/// kcat logs in with SCRAM-SHA-256 as mq does. It runs on the current
/// librdkafka that `scripts/brokers up` fetches: before 2.6.1 librdkafka
/// repeats the client nonce in SCRAM's client-final-message, which Kafka
/// 4.x rejects as invalid credentials (confluentinc/librdkafka#4895;
/// Debian bookworm's kcat has 2.0.2).
#[test]
fn kcat_runs_on_a_librdkafka_whose_scram_kafka_4_takes() {
    let version = librdkafka_version();
    assert!(version >= (2, 6, 1), "kcat runs on librdkafka {version:?}");
}

/// kcat's arguments for the SASL_SSL listener.
fn kcat_scram(topic: &str) -> Vec<String> {
    [
        "-b",
        &kafka_sasl_ssl_bootstrap(),
        "-X",
        "security.protocol=SASL_SSL",
        "-X",
        "sasl.mechanisms=SCRAM-SHA-256",
        "-X",
        &format!("sasl.username={KAFKA_SASL_USER}"),
        "-X",
        &format!("sasl.password={KAFKA_SASL_PASSWORD}"),
        "-X",
        &format!("ssl.ca.location={}", tls_file(CA_CERT)),
        "-t",
        topic,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

fn kcat(args: &[String], extra: &[&str], stdin: &[u8]) -> std::process::Output {
    let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
    all.extend_from_slice(extra);
    let out = mq_tests::tools::kcat_current(&all, stdin);
    mq_tests::tools::check(&format!("kcat {extra:?}"), &out);
    out
}

#[test]
fn mq_produces_over_sasl_ssl_scram_and_kcat_reads() {
    let topic = Topic::new("scram-to-kcat", 1);
    let config = scram_config();
    let env = [("MQ_TEST_PW", KAFKA_SASL_PASSWORD)];
    mq_env(
        &[
            "produce",
            &url(&kafka_sasl_ssl_bootstrap(), &topic.name),
            "--config",
            &config.arg(),
        ],
        b"scram 1\nscram 2\n",
        &env,
    )
    .ok();
    let out = kcat(
        &kcat_scram(&topic.name),
        &["-C", "-o", "beginning", "-e", "-q"],
        b"",
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "scram 1\nscram 2\n");
}

#[test]
fn kcat_produces_over_sasl_ssl_scram_and_mq_reads() {
    let topic = Topic::new("kcat-to-scram", 1);
    kcat(
        &kcat_scram(&topic.name),
        &["-P"],
        b"from kcat 1\nfrom kcat 2\n",
    );
    let config = scram_config();
    let run = mq_env(
        &[
            "consume",
            &url(&kafka_sasl_ssl_bootstrap(), &topic.name),
            "--config",
            &config.arg(),
            "--from",
            "earliest",
            "--exit-at-end",
        ],
        b"",
        &[("MQ_TEST_PW", KAFKA_SASL_PASSWORD)],
    )
    .ok();
    assert_eq!(run.text(), "from kcat 1\nfrom kcat 2\n");
}

#[test]
fn ssl_with_an_unknown_ca_exits_with_the_tls_status() {
    let topic = Topic::new("ssl-unknown-ca", 1);
    let props = [
        "security.protocol=SSL".to_owned(),
        format!("ssl.truststore.location={}", tls_file(OTHER_CA_CERT)),
    ];
    let target = url(&kafka_ssl_bootstrap(), &topic.name);
    for args in [
        &["produce", target.as_str()][..],
        &["consume", &target, "--from", "earliest", "--exit-at-end"],
        &["topics", &target],
    ] {
        let run = fails(
            &with_props(args, &props),
            b"x\n",
            TLS,
            "the server's certificate is signed by an unknown issuer",
        );
        assert!(run.stderr.starts_with("mq: TLS to "), "{}", run.stderr);
    }
}

#[test]
fn sasl_ssl_with_a_wrong_password_exits_with_the_auth_status_without_it() {
    let topic = Topic::new("sasl-wrong-password", 1);
    let target = url(&kafka_sasl_ssl_bootstrap(), &topic.name);
    let wrong = "wrong-kafka-pw-4c1d";
    let props = [
        "security.protocol=SASL_SSL".to_owned(),
        "sasl.mechanism=PLAIN".to_owned(),
        format!("sasl.username={KAFKA_SASL_USER}"),
        format!("ssl.truststore.location={}", tls_file(CA_CERT)),
    ];
    // On the command line...
    let mut given = props.to_vec();
    given.push(format!("sasl.password={wrong}"));
    let run = fails(
        &with_props(&["produce", &target], &given),
        b"x\n",
        AUTH,
        "authentication failed at",
    );
    assert_hidden(&run, wrong);
    // ...and from the environment.
    let run = fails_env(
        &with_props(&["topics", &target], &props),
        b"",
        &[("MQ_KAFKA_PASSWORD", wrong)],
        AUTH,
        "authentication failed at",
    );
    assert_hidden(&run, wrong);
    // The right password works on the same listener.
    let ok = mq_env(
        &with_props(&["topics", &target], &props),
        b"",
        &[("MQ_KAFKA_PASSWORD", KAFKA_SASL_PASSWORD)],
    )
    .ok();
    assert!(ok.text().contains(&topic.name), "{}", ok.text());
}

/// Client properties for Kafka's Java tools: SASL_SSL with SCRAM-SHA-512,
/// the JAAS line of the Java client, the test CA as a PEM trust store.
fn java_scram_512() -> TempFile {
    TempFile::new(
        "java-client.properties",
        &format!(
            "security.protocol=SASL_SSL\n\
             sasl.mechanism=SCRAM-SHA-512\n\
             sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \
             username=\"{KAFKA_SASL_USER}\" password=\"{KAFKA_SASL_PASSWORD}\";\n\
             ssl.truststore.type=PEM\n\
             ssl.truststore.location={}\n",
            tls_file(CA_CERT)
        ),
    )
}

/// mq's properties for the same listener and mechanism, the password from
/// MQ_TEST_PW.
fn mq_scram_512() -> Vec<String> {
    vec![
        "security.protocol=SASL_SSL".to_owned(),
        "sasl.mechanism=SCRAM-SHA-512".to_owned(),
        format!("sasl.username={KAFKA_SASL_USER}"),
        "sasl.password=${env:MQ_TEST_PW}".to_owned(),
        format!("ssl.truststore.location={}", tls_file(CA_CERT)),
    ]
}

#[test]
fn mq_produces_over_scram_512_and_the_java_console_consumer_reads() {
    let topic = Topic::new("scram512-to-java", 1);
    let props = mq_scram_512();
    let env = [("MQ_TEST_PW", KAFKA_SASL_PASSWORD)];
    mq_env(
        &with_props(
            &["produce", &url(&kafka_sasl_ssl_bootstrap(), &topic.name)],
            &props,
        ),
        b"to java 1\nto java 2\n",
        &env,
    )
    .ok();
    let config = java_scram_512();
    let out = mq_tests::tools::kafka_java_with_stdin(
        "org.apache.kafka.tools.consumer.ConsoleConsumer",
        &[
            "--bootstrap-server",
            &kafka_sasl_ssl_bootstrap(),
            "--topic",
            &topic.name,
            "--from-beginning",
            "--max-messages",
            "2",
            "--timeout-ms",
            "30000",
            "--command-config",
            &config.arg(),
        ],
        b"",
    );
    mq_tests::tools::check("the Java console consumer", &out);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "to java 1\nto java 2\n"
    );
}

#[test]
fn the_java_console_producer_writes_over_scram_512_and_mq_reads() {
    let topic = Topic::new("java-to-scram512", 1);
    let config = java_scram_512();
    let out = mq_tests::tools::kafka_java_with_stdin(
        "org.apache.kafka.tools.ConsoleProducer",
        &[
            "--bootstrap-server",
            &kafka_sasl_ssl_bootstrap(),
            "--topic",
            &topic.name,
            "--command-config",
            &config.arg(),
        ],
        b"from java 1\nfrom java 2\n",
    );
    mq_tests::tools::check("the Java console producer", &out);
    let props = mq_scram_512();
    let run = mq_env(
        &with_props(
            &[
                "consume",
                &url(&kafka_sasl_ssl_bootstrap(), &topic.name),
                "--from",
                "earliest",
                "--exit-at-end",
            ],
            &props,
        ),
        b"",
        &[("MQ_TEST_PW", KAFKA_SASL_PASSWORD)],
    )
    .ok();
    assert_eq!(run.text(), "from java 1\nfrom java 2\n");
}
