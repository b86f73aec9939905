//! Every log line at trace level, captured while the clients log in with
//! SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN (Kafka SASL_SSL) and with
//! EXTERNAL and a client certificate (RabbitMQ), and while an admin
//! creates and deletes a SCRAM user, holds neither a Kafka password nor
//! any line of the private key. The capture itself is checked
//! to be non-empty, so the test cannot pass by capturing nothing.

use std::io::Write;
use std::sync::{Arc, Mutex};

use mq_client::amqp::{AuthMechanism, Connection};
use mq_client::kafka::{Admin, ClientConfig, ScramMechanism, UserScramCredentialAlteration};
use mq_client::tls::TlsConfig;
use mq_tests::{endpoints, names};
use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
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

#[tokio::test]
async fn no_secret_reaches_a_log_at_trace_level() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(capture.clone())
        .with_ansi(false)
        .finish();
    // The only test in this binary: the whole process logs into the
    // capture, whichever thread logs.
    tracing::subscriber::set_global_default(subscriber).expect("the first subscriber");
    let tls_dir = endpoints::tls_dir();
    let ca = tls_dir.join("ca.pem").display().to_string();

    // Kafka: SCRAM both ways and PLAIN over SASL_SSL.
    for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"] {
        let config = ClientConfig::from_properties([
            (
                "bootstrap.servers",
                endpoints::kafka_sasl_ssl_bootstrap().as_str(),
            ),
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", mechanism),
            ("sasl.username", endpoints::KAFKA_SASL_USER),
            ("sasl.password", endpoints::KAFKA_SASL_PASSWORD),
            ("ssl.truststore.location", ca.as_str()),
        ])
        .unwrap();
        tracing::debug!(?config, "kafka config");
        let admin = Admin::builder("unused:1")
            .client_config(config)
            .build()
            .await
            .unwrap();
        admin.list_topics().await.expect("logged in");
    }

    // A SCRAM user created and deleted by the admin, its changes logged.
    let user = names::unique("logged-user");
    let scram_password = format!("{}-pw", names::unique("never-logged"));
    let admin = Admin::builder(&endpoints::kafka_bootstrap())
        .build()
        .await
        .unwrap();
    let changes = [
        UserScramCredentialAlteration::upsert(&user, ScramMechanism::Sha256, 4096, &scram_password),
        UserScramCredentialAlteration::upsert(&user, ScramMechanism::Sha512, 100, &scram_password),
    ];
    tracing::debug!(?changes, "scram changes");
    let results = admin.alter_user_scram_credentials(&changes).await.unwrap();
    tracing::debug!(?results, "scram results");
    let delete = [UserScramCredentialAlteration::delete(
        &user,
        ScramMechanism::Sha256,
    )];
    let results = admin.alter_user_scram_credentials(&delete).await.unwrap();
    tracing::debug!(?results, "scram deletion");

    // RabbitMQ: EXTERNAL with the client certificate, and PLAIN over TLS.
    let tls = TlsConfig::new()
        .ca_file(tls_dir.join("ca.pem"))
        .client_cert_files(tls_dir.join("client.pem"), tls_dir.join("client.key"));
    tracing::debug!(?tls, "tls config");
    let port = endpoints::amqps_url()
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next().map(str::to_owned))
        .unwrap_or_else(|| "5671".into());
    let conn = Connection::builder()
        .uri(format!("amqps://localhost:{port}/%2f"))
        .tls(tls)
        .auth_mechanism(AuthMechanism::External)
        .connect()
        .await
        .expect("EXTERNAL login");
    conn.open_channel().await.unwrap();
    conn.close().await.unwrap();
    let conn = Connection::builder()
        .uri(format!(
            "amqps://guest:guest@localhost:{port}/%2f?cacertfile={ca}"
        ))
        .connect()
        .await
        .expect("PLAIN over TLS");
    conn.open_channel().await.unwrap();
    conn.close().await.unwrap();

    let logs = String::from_utf8_lossy(&capture.0.lock().unwrap()).into_owned();
    assert!(
        logs.lines().count() > 20,
        "the capture holds the clients' trace output: {logs}"
    );
    assert!(logs.contains("SASL_SSL"), "the Kafka config was logged");
    assert!(
        !logs.contains(endpoints::KAFKA_SASL_PASSWORD),
        "the Kafka password was logged"
    );
    assert!(logs.contains(&user), "the SCRAM changes were logged");
    assert!(
        !logs.contains(&scram_password),
        "a SCRAM password was logged"
    );
    // No line of the private key's base64 body (each is long enough not
    // to occur by chance).
    let key = std::fs::read_to_string(tls_dir.join("client.key")).unwrap();
    for line in key
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 16)
    {
        assert!(!logs.contains(line), "a line of the private key was logged");
    }
    assert!(!logs.contains("PRIVATE KEY"), "key material was logged");
}
