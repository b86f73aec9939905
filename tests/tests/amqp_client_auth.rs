//! Logging in: the SASL mechanism from the builder or the URI
//! (`auth_mechanism`), wrong passwords under each, mechanisms the broker
//! does not offer, and `Connection::update_secret` on a live connection.
//! Each test makes its own RabbitMQ user.

mod amqp_client_support;

use std::time::Duration;

use amqp_client_support::rabbitmqctl;
use mq_client::amqp::{
    AuthMechanism, Connection, Error, QueueOptions, RecoveryConfig, ReplyCode, UriError,
};
use mq_tests::{endpoints, names};

/// A user with every permission on `/`; deleted on drop.
struct User {
    name: String,
    password: String,
}

impl User {
    fn new() -> Self {
        let name = names::unique("mqauth");
        let password = format!("pw-{}", names::unique("s"));
        rabbitmqctl(&["add_user", &name, &password]);
        rabbitmqctl(&["set_permissions", "-p", "/", &name, ".*", ".*", ".*"]);
        User { name, password }
    }

    fn uri(&self, password: &str, query: &str) -> String {
        format!(
            "amqp://{}:{password}@{}/%2f{query}",
            self.name,
            endpoints::amqp_addr()
        )
    }
}

impl Drop for User {
    fn drop(&mut self) {
        let _ = std::process::Command::new("rabbitmqctl")
            .args(["delete_user", &self.name])
            .output();
    }
}

async fn connect(uri: String, mechanism: Option<AuthMechanism>) -> Result<Connection, Error> {
    let mut b = Connection::builder()
        .uri(uri)
        .name("auth-test")
        .recovery(RecoveryConfig::disabled())
        .operation_timeout(Duration::from_secs(10));
    if let Some(m) = mechanism {
        b = b.auth_mechanism(m);
    }
    b.connect().await
}

/// The connection works: a channel opens and a queue is declared.
async fn works(conn: &Connection) {
    let ch = conn.open_channel().await.expect("channel");
    ch.queue_declare("", QueueOptions::default().exclusive())
        .await
        .expect("declare");
}

/// The login the broker saw: the `auth_mechanism` column of
/// `rabbitmqctl list_connections` for this user's connection.
fn broker_mechanism(user: &str) -> String {
    let out = rabbitmqctl(&["list_connections", "user", "auth_mechanism", "--quiet"]);
    out.lines()
        .filter_map(|l| l.split_once('\t'))
        .find(|(u, _)| *u == user)
        .map(|(_, m)| m.trim().to_owned())
        .unwrap_or_else(|| panic!("no connection of {user} in {out}"))
}

#[tokio::test]
async fn amqplain_logs_in_from_the_builder_and_from_the_uri() {
    let user = User::new();
    let conn = connect(user.uri(&user.password, ""), Some(AuthMechanism::AmqPlain))
        .await
        .expect("AMQPLAIN login");
    works(&conn).await;
    assert_eq!(broker_mechanism(&user.name), "AMQPLAIN");
    conn.close().await.unwrap();

    let conn = connect(user.uri(&user.password, "?auth_mechanism=amqplain"), None)
        .await
        .expect("AMQPLAIN login from the URI");
    works(&conn).await;
    assert_eq!(broker_mechanism(&user.name), "AMQPLAIN");
    conn.close().await.unwrap();

    // The builder wins over the URI.
    let conn = connect(
        user.uri(&user.password, "?auth_mechanism=amqplain"),
        Some(AuthMechanism::Plain),
    )
    .await
    .expect("PLAIN login");
    works(&conn).await;
    assert_eq!(broker_mechanism(&user.name), "PLAIN");
    conn.close().await.unwrap();
}

#[tokio::test]
async fn a_wrong_password_is_refused_under_each_mechanism_without_showing_it() {
    let user = User::new();
    let wrong = format!("wrong-{}", user.password);
    for mechanism in [AuthMechanism::Plain, AuthMechanism::AmqPlain] {
        let err = connect(user.uri(&wrong, ""), Some(mechanism))
            .await
            .expect_err("a wrong password is refused");
        match &err {
            Error::Refused { code, .. } => assert_eq!(*code, ReplyCode::ACCESS_REFUSED),
            other => panic!("{mechanism:?}: expected Refused, got {other:?}"),
        }
        assert!(!err.is_retriable());
        for text in [err.to_string(), format!("{err:?}")] {
            assert!(!text.contains(&wrong), "{mechanism:?}: {text}");
            assert!(!text.contains(&user.password), "{mechanism:?}: {text}");
        }
    }
}

#[tokio::test]
async fn an_unknown_or_unoffered_mechanism_is_a_clear_error() {
    let user = User::new();
    // Unknown in the URI: refused before any connection is made.
    let err = connect(user.uri(&user.password, "?auth_mechanism=gssapi"), None)
        .await
        .expect_err("unknown mechanism");
    assert!(
        matches!(&err, Error::InvalidUri(UriError::AuthMechanism(m)) if m == "gssapi"),
        "{err:?}"
    );
    assert!(err.to_string().contains("gssapi"), "{err}");
    assert!(!err.to_string().contains(&user.password), "{err}");

    // EXTERNAL: RabbitMQ offers it only with its TLS-auth plugin on a
    // TLS listener. The client refuses to go on when connection.start
    // does not list it, and sends no start-ok (no credential).
    let err = connect(user.uri(&user.password, ""), Some(AuthMechanism::External))
        .await
        .expect_err("EXTERNAL is not offered");
    match &err {
        Error::Refused { code, text, .. } => {
            assert_eq!(*code, ReplyCode::ACCESS_REFUSED);
            assert!(text.contains("EXTERNAL"), "{text}");
            assert!(text.contains("PLAIN"), "the offered ones are named: {text}");
        }
        other => panic!("expected Refused, got {other:?}"),
    }
    assert!(!format!("{err} {err:?}").contains(&user.password));
    let seen = rabbitmqctl(&["list_connections", "user", "--quiet"]);
    assert!(
        !seen.lines().any(|l| l.trim() == user.name),
        "no connection logged in as {}: {seen}",
        user.name
    );
}

#[tokio::test]
async fn update_secret_on_a_live_connection_and_recovery_logs_in_with_it() {
    let user = User::new();
    let conn = Connection::builder()
        .uri(user.uri(&user.password, ""))
        .name("auth-secret-test")
        .operation_timeout(Duration::from_secs(10))
        .connect()
        .await
        .expect("login");
    let mut events = conn.events();
    works(&conn).await;
    // The same secret again: accepted, the connection goes on.
    conn.update_secret(&user.password, "token refresh")
        .await
        .expect("the broker accepts the secret");
    works(&conn).await;
    // The password changes and the new secret is handed over: accepted.
    let fresh = format!("fresh-{}", user.password);
    rabbitmqctl(&["change_password", &user.name, &fresh]);
    conn.update_secret(&fresh, "rotated")
        .await
        .expect("rotated");
    works(&conn).await;
    // The broker drops the connection: recovery logs in with the new
    // secret (the URI's password is refused now).
    let listed = rabbitmqctl(&["list_connections", "pid", "user", "--quiet"]);
    let pid = listed
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .find(|(_, u)| u.trim() == user.name)
        .map(|(p, _)| p.to_owned())
        .unwrap_or_else(|| panic!("no connection of {} in {listed}", user.name));
    rabbitmqctl(&["close_connection", &pid, "test: force a reconnect"]);
    amqp_client_support::wait_event(&mut events, Duration::from_secs(20), |e| {
        matches!(e, mq_client::amqp::ConnectionEvent::Recovered { .. })
    })
    .await;
    works(&conn).await;
    // RabbitMQ's internal user database accepts any secret in
    // update-secret (its login state cannot expire, so the broker does
    // not check it); a refused secret needs a backend whose state
    // expires (OAuth 2).
    conn.close().await.unwrap();
}
