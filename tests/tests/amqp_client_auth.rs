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

/// The broker's OAuth 2 backend, after its internal user database: a
/// JSON Web Token signed with this test's HS256 key logs in as its
/// subject, and its login state expires, so update-secret is checked.
/// Idempotent; the guest and per-test users keep logging in as before.
fn enable_oauth2() {
    let out = std::process::Command::new("rabbitmq-plugins")
        .args(["enable", "rabbitmq_auth_backend_oauth2"])
        .output()
        .expect("rabbitmq-plugins runs");
    assert!(
        out.status.success(),
        "enable the OAuth 2 plugin: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    rabbitmqctl(&[
        "eval",
        r#"application:set_env(rabbitmq_auth_backend_oauth2, resource_server_id, <<"mq">>),
           application:set_env(rabbitmq_auth_backend_oauth2, key_config,
             [{default_key, <<"mq-test-key">>},
              {signing_keys, #{<<"mq-test-key">> => {map, #{<<"kty">> => <<"MAC">>,
                 <<"alg">> => <<"HS256">>, <<"value">> => <<"mq-test-signing-secret">>}}}}]),
           application:set_env(rabbit, auth_backends,
             [rabbit_auth_backend_internal, rabbit_auth_backend_oauth2])."#,
    ]);
}

/// A token for `sub` with every permission on every vhost, valid for
/// `ttl_secs` (negative: already expired), signed with `key`.
fn jwt(sub: &str, ttl_secs: i64, key: &[u8]) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let header = r#"{"alg":"HS256","typ":"JWT","kid":"mq-test-key"}"#;
    let claims = serde_json::json!({
        "sub": sub,
        "aud": ["mq"],
        "scope": ["mq.configure:*/*", "mq.write:*/*", "mq.read:*/*"],
        "exp": now + ttl_secs,
    })
    .to_string();
    let signed = format!(
        "{}.{}",
        b64url(header.as_bytes()),
        b64url(claims.as_bytes())
    );
    let mac = hmac_sha256(key, signed.as_bytes());
    format!("{signed}.{}", b64url(&mac))
}

/// HMAC-SHA256 (RFC 2104).
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// Base64url without padding (RFC 4648 section 5).
fn b64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(A[(n >> (18 - 6 * i)) as usize & 63]));
        }
    }
    out
}

#[test]
fn base64url_and_hmac_match_their_rfc_vectors() {
    assert_eq!(b64url(b"foobar"), "Zm9vYmFy");
    assert_eq!(b64url(b"fooba"), "Zm9vYmE");
    assert_eq!(b64url(&[0xfb, 0xff]), "-_8");
    // RFC 4231 test case 2.
    let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
    assert_eq!(
        mac[..4],
        [0x5b, 0xdc, 0xc1, 0x46],
        "HMAC-SHA256 of RFC 4231 case 2"
    );
}

#[tokio::test]
async fn update_secret_with_oauth2_tokens_and_a_refused_one_closes_the_connection() {
    tokio::task::spawn_blocking(enable_oauth2).await.unwrap();
    let key = b"mq-test-signing-secret";
    let sub = names::unique("oauth");
    let token = jwt(&sub, 3600, key);
    let uri = format!("amqp://{sub}:{token}@{}/%2f", endpoints::amqp_addr());
    let conn = connect(uri, None).await.expect("an OAuth 2 login");
    works(&conn).await;
    // A fresh token: accepted, the connection goes on.
    conn.update_secret(&jwt(&sub, 7200, key), "token refresh")
        .await
        .expect("a fresh token is accepted");
    works(&conn).await;
    // A token signed with another key: the broker refuses it and closes
    // the connection with its reply code (530 NOT_ALLOWED). (RabbitMQ
    // 3.10 checks a new token's signature and audience here, not its
    // expiry.)
    let forged = jwt(&sub, 3600, b"another-key");
    let err = conn
        .update_secret(&forged, "forged")
        .await
        .expect_err("a token with a bad signature is refused");
    match &err {
        Error::ConnectionClosed { code, text } => {
            assert_eq!(*code, ReplyCode::NOT_ALLOWED, "{text}");
        }
        other => panic!("expected ConnectionClosed, got {other:?}"),
    }
    assert!(!format!("{err} {err:?}").contains(&forged));
    assert!(!conn.is_connected());
}
