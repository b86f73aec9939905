//! Re-authentication (KIP-368) against the real broker: the SASL_PLAINTEXT
//! listener of `scripts/brokers up` grants 20 s sessions
//! (`connections.max.reauth.ms`) and closes a connection that has not
//! re-authenticated by then. A producer logged in with SCRAM-SHA-256, and
//! one with OAUTHBEARER whose token provider hands out short-lived tokens,
//! each send a record every 250 ms for 25 s: every send succeeds, each
//! connection re-authenticates (the driver logs it), and no connection is
//! made again after the first ones (a connection the broker cut would be
//! redialled, and logged as such).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use mq_client::kafka::{
    Admin, ClientConfig, NewTopic, OAuthBearer, OAuthToken, Producer, ProducerRecord,
};
use mq_tests::{endpoints, names};
use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// Log lines that end with `what`.
    fn count(&self, what: &str) -> usize {
        self.text()
            .lines()
            .filter(|l| l.trim_end().ends_with(what))
            .count()
    }
}

/// Sends a record every 250 ms for `run`; every send must succeed.
async fn keep_sending(config: ClientConfig, topic: String, run: Duration) {
    let producer = Producer::builder("unused:1")
        .client_config(config)
        .build()
        .await
        .expect("producer");
    let started = Instant::now();
    let mut i = 0u32;
    while started.elapsed() < run {
        producer
            .send(ProducerRecord::new(&topic).value(&i.to_string()))
            .await
            .unwrap_or_else(|e| panic!("send {i} after {:?}: {e}", started.elapsed()));
        i += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    producer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_and_oauthbearer_connections_reauthenticate_and_stay_up() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("mq_client::kafka::conn=debug")
        .with_writer(capture.clone())
        .with_ansi(false)
        .finish();
    // The only test in this binary: the whole process logs into the
    // capture.
    tracing::subscriber::set_global_default(subscriber).expect("the first subscriber");

    let bootstrap = endpoints::kafka_sasl_plaintext_bootstrap();
    let mut scram = ClientConfig::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "SCRAM-SHA-256"),
        ("sasl.username", endpoints::KAFKA_SASL_USER),
        ("sasl.password", endpoints::KAFKA_SASL_PASSWORD),
    ])
    .unwrap();
    scram.request_timeout = Duration::from_secs(10);

    // Tokens good for 15 s: shorter than the broker's 20 s session, so the
    // broker's lifetime follows the token, and re-authentication must
    // present a fresh one.
    let fetched = Arc::new(AtomicUsize::new(0));
    let counter = fetched.clone();
    let provider = OAuthBearer::new(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        let now = SystemTime::now();
        let iat = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let b64 = |s: String| base64url(s.as_bytes());
        let jwt = format!(
            "{}.{}.",
            b64(r#"{"alg":"none"}"#.to_owned()),
            b64(format!(
                r#"{{"sub":"{}","iat":{iat},"exp":{}}}"#,
                endpoints::KAFKA_SASL_USER,
                iat + 15
            ))
        );
        async move { Ok(OAuthToken::new(jwt, now + Duration::from_secs(15))) }
    });
    let mut oauth = ClientConfig::new(&bootstrap);
    oauth.oauth = Some(provider);
    oauth.request_timeout = Duration::from_secs(10);

    let admin = Admin::builder("unused:1")
        .client_config(scram.clone())
        .build()
        .await
        .unwrap();
    let topic = names::topic("reauth");
    admin
        .create_topics([NewTopic::new(&topic, 1, 1)])
        .await
        .unwrap();
    drop(admin);

    let run = Duration::from_secs(25);
    let (_, _, connects_after_warm_up) = tokio::join!(
        keep_sending(scram, topic.clone(), run),
        keep_sending(oauth, topic.clone(), run),
        async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            capture.count("conn: connected")
        },
    );

    let reauthentications = capture.count("re-authenticating (KIP-368)");
    assert!(
        reauthentications >= 2,
        "both clients re-authenticated: {reauthentications} re-authentications\n{}",
        capture.text()
    );
    let logs = capture.text();
    assert!(
        !logs.contains("connect failed") && !logs.contains("connection failed"),
        "no connection failed:\n{logs}"
    );
    // The broker cuts a connection whose session ran out, and the driver
    // would connect again: no connection is made after the warm-up.
    let connects = capture.count("conn: connected");
    assert!(connects_after_warm_up > 0, "the capture sees connects");
    assert_eq!(
        connects, connects_after_warm_up,
        "a connection was made again after the warm-up: a session ran out\n{logs}"
    );
    assert!(
        fetched.load(Ordering::SeqCst) >= 2,
        "a fresh token for re-authentication: {} fetched",
        fetched.load(Ordering::SeqCst)
    );
}

/// Base64url without padding, for the test's unsecured JWTs.
fn base64url(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}
