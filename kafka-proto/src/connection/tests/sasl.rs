//! SASL through the connection: PLAIN, SCRAM and OAUTHBEARER against a
//! scripted broker, round by round.

use super::*;
use crate::api::{SaslAuthenticateResponse, SaslHandshakeResponse};

/// RFC 7677 section 3: user "user", password "pencil".
pub(super) const NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
pub(super) const SERVER_FIRST: &[u8] =
    b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const CLIENT_FINAL: &[u8] = b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                              p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
pub(super) const SERVER_FINAL: &[u8] = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

pub(super) fn config(sasl: Sasl, nonce: Option<&str>) -> Config {
    Config {
        sasl: Some(sasl),
        sasl_nonce: nonce.map(str::to_owned),
        ..Config::default()
    }
}

/// Answers the one SaslHandshake the connection sent, after checking its
/// mechanism.
pub(super) fn accept_handshake(conn: &mut Connection, now: Instant, mechanism: &str) {
    let mut sent = requests(conn);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let (h, body) = sent.remove(0);
    assert_eq!(h.request_api_key, ApiKey::SASL_HANDSHAKE);
    assert_eq!(h.request_api_version, 1);
    assert!(matches!(&body, AnyRequest::SaslHandshake(r) if r.mechanism == mechanism));
    let ok = SaslHandshakeResponse {
        mechanisms: vec![mechanism.into()],
        ..Default::default()
    };
    conn.handle_input(now, &mut reply(h.correlation_id, 1, &ok))
        .unwrap();
}

/// The one SaslAuthenticate the connection sent: correlation id and token.
pub(super) fn next_authenticate(conn: &mut Connection) -> (i32, Bytes) {
    let mut sent = requests(conn);
    assert_eq!(sent.len(), 1, "{sent:?}");
    match sent.remove(0) {
        (h, AnyRequest::SaslAuthenticate(r)) => {
            assert_eq!(h.request_api_version, 2);
            (h.correlation_id, r.auth_bytes)
        }
        other => panic!("{other:?}"),
    }
}

/// Answers SaslAuthenticate `id` with success, `auth_bytes` and `lifetime`.
pub(super) fn answer(
    conn: &mut Connection,
    now: Instant,
    id: i32,
    auth_bytes: &[u8],
    lifetime: i64,
) -> Result<(), ConnectionError> {
    let ok = SaslAuthenticateResponse {
        auth_bytes: Bytes::copy_from_slice(auth_bytes),
        session_lifetime_ms: lifetime,
        ..Default::default()
    };
    conn.handle_input(now, &mut reply(id, 2, &ok))
}

/// Answers SaslAuthenticate `id` with an error.
pub(super) fn refuse(
    conn: &mut Connection,
    now: Instant,
    id: i32,
    code: ErrorCode,
    message: &str,
) -> Result<(), ConnectionError> {
    let denied = SaslAuthenticateResponse {
        error_code: code,
        error_message: Some(message.into()),
        ..Default::default()
    };
    conn.handle_input(now, &mut reply(id, 2, &denied))
}

/// A connection authenticated with RFC 7677's SCRAM-SHA-256 exchange; the
/// broker granted `lifetime` ms.
pub(super) fn scram_ready(now: Instant, lifetime: i64) -> Connection {
    let mut conn = ready_connection(
        config(Sasl::scram_sha256("user", "pencil"), Some(NONCE)),
        now,
    );
    accept_handshake(&mut conn, now, "SCRAM-SHA-256");
    let (id, first) = next_authenticate(&mut conn);
    assert_eq!(&first[..], b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    answer(&mut conn, now, id, SERVER_FIRST, 0).unwrap();
    assert_eq!(conn.poll_event(), None, "not ready after one SCRAM round");
    assert!(!conn.is_ready());
    let (id, client_final) = next_authenticate(&mut conn);
    assert_eq!(&client_final[..], CLIENT_FINAL);
    answer(&mut conn, now, id, SERVER_FINAL, lifetime).unwrap();
    assert_eq!(conn.poll_event(), Some(Event::Ready));
    conn
}

fn plain_config() -> Config {
    config(Sasl::Plain(SaslPlain::new("alice", "s3cret")), None)
}

#[test]
fn sasl_plain_handshake_then_authenticate() {
    let now = t0();
    let mut conn = ready_connection(plain_config(), now);
    assert_eq!(conn.poll_event(), None, "not ready before SASL");
    accept_handshake(&mut conn, now, "PLAIN");
    let (id, token) = next_authenticate(&mut conn);
    assert_eq!(&token[..], b"\0alice\0s3cret");
    answer(&mut conn, now, id, b"", 3_600_000).unwrap();
    assert_eq!(conn.poll_event(), Some(Event::Ready));
    assert_eq!(conn.sasl_session_lifetime_ms(), Some(3_600_000));
}

#[test]
fn sasl_failures_are_typed() {
    let now = t0();
    // The mechanism is refused at the handshake.
    let mut conn = ready_connection(plain_config(), now);
    let (h, _) = requests(&mut conn).remove(0);
    let refused = SaslHandshakeResponse {
        error_code: ErrorCode::UNSUPPORTED_SASL_MECHANISM,
        mechanisms: vec!["SCRAM-SHA-512".into()],
        ..Default::default()
    };
    let e = conn
        .handle_input(now, &mut reply(h.correlation_id, 1, &refused))
        .unwrap_err();
    assert!(matches!(
        &e,
        ConnectionError::Sasl {
            stage: "handshake",
            kind: SaslErrorKind::MechanismNotEnabled,
            code: ErrorCode::UNSUPPORTED_SASL_MECHANISM,
            message: Some(m),
        } if m.contains("SCRAM-SHA-512")
    ));

    // Bad credentials at authenticate.
    let mut conn = ready_connection(plain_config(), now);
    accept_handshake(&mut conn, now, "PLAIN");
    let (id, _) = next_authenticate(&mut conn);
    let e = refuse(
        &mut conn,
        now,
        id,
        ErrorCode::SASL_AUTHENTICATION_FAILED,
        "Invalid username or password",
    )
    .unwrap_err();
    assert_eq!(
        e,
        ConnectionError::Sasl {
            stage: "authenticate",
            kind: SaslErrorKind::AuthenticationFailed,
            code: ErrorCode::SASL_AUTHENTICATION_FAILED,
            message: Some("Invalid username or password".into()),
        }
    );
    assert!(conn.is_failed());
    assert!(!format!("{:?}", conn.config()).contains("s3cret"));

    // Another error code.
    let mut conn = ready_connection(plain_config(), now);
    accept_handshake(&mut conn, now, "PLAIN");
    let (id, _) = next_authenticate(&mut conn);
    let e = refuse(&mut conn, now, id, ErrorCode::ILLEGAL_SASL_STATE, "no").unwrap_err();
    assert!(matches!(
        e,
        ConnectionError::Sasl {
            kind: SaslErrorKind::BrokerError,
            code: ErrorCode::ILLEGAL_SASL_STATE,
            ..
        }
    ));
}

#[test]
fn a_broker_echoing_the_password_is_redacted() {
    let now = t0();
    let mut conn = ready_connection(plain_config(), now);
    accept_handshake(&mut conn, now, "PLAIN");
    let (id, _) = next_authenticate(&mut conn);
    let e = refuse(
        &mut conn,
        now,
        id,
        ErrorCode::SASL_AUTHENTICATION_FAILED,
        "bad password s3cret",
    )
    .unwrap_err();
    assert!(!e.to_string().contains("s3cret"), "{e}");
    assert!(e.to_string().contains("<redacted>"), "{e}");
}

#[test]
fn debug_of_the_connection_never_shows_what_is_about_to_be_sent() {
    let now = t0();
    let mut conn = ready_connection(plain_config(), now);
    accept_handshake(&mut conn, now, "PLAIN");
    // The PLAIN token sits in the transmit buffer now.
    assert!(conn.has_transmit());
    let shown = format!("{conn:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    let token = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.";
    let mut conn = ready_connection(config(Sasl::oauthbearer(token), None), now);
    accept_handshake(&mut conn, now, "OAUTHBEARER");
    let shown = format!("{conn:?}");
    assert!(!shown.contains(token), "{shown}");
}

#[test]
fn scram_sha256_takes_two_rounds_then_is_ready() {
    let now = t0();
    let conn = scram_ready(now, 3_600_000);
    assert!(conn.is_ready());
    // The lifetime comes from the last answer (the first carried 0).
    assert_eq!(conn.sasl_session_lifetime_ms(), Some(3_600_000));
    let shown = format!("{conn:?}");
    assert!(!shown.contains("pencil"), "{shown}");
}

#[test]
fn scram_sha512_goes_by_its_own_name() {
    let now = t0();
    let mut conn = ready_connection(
        config(Sasl::scram_sha512("user", "pencil"), Some(NONCE)),
        now,
    );
    accept_handshake(&mut conn, now, "SCRAM-SHA-512");
    let (id, _) = next_authenticate(&mut conn);
    answer(&mut conn, now, id, SERVER_FIRST, 0).unwrap();
    let (_, client_final) = next_authenticate(&mut conn);
    // The SHA-512 vector of the scram module's tests.
    assert!(
        client_final.ends_with(b",p=gMGXRcevScNtxZ6/8lQYpGtnsNAc3mGcmNomv+xnoOMw+3R2xNJdMNnzMlTN8PPC6wdp6dybEmDYXYTxwnYPJQ=="),
        "{client_final:?}"
    );
}

#[test]
fn scram_without_a_nonce_fails_before_sending_anything() {
    let now = t0();
    let mut conn = Connection::new(config(Sasl::scram_sha256("user", "pencil"), None), now);
    assert!(conn.is_failed());
    assert!(!conn.has_transmit());
    match conn.poll_event() {
        Some(Event::Failed(ConnectionError::Sasl {
            stage: "setup",
            kind: SaslErrorKind::InvalidConfig,
            message: Some(m),
            ..
        })) => assert!(m.contains("nonce") && !m.contains("pencil"), "{m}"),
        other => panic!("{other:?}"),
    }
}

/// Runs SCRAM-SHA-256 up to the broker's server-final.
fn scram_at_server_final(now: Instant) -> (Connection, i32) {
    let mut conn = ready_connection(
        config(Sasl::scram_sha256("user", "pencil"), Some(NONCE)),
        now,
    );
    accept_handshake(&mut conn, now, "SCRAM-SHA-256");
    let (id, _) = next_authenticate(&mut conn);
    answer(&mut conn, now, id, SERVER_FIRST, 0).unwrap();
    let (id, _) = next_authenticate(&mut conn);
    (conn, id)
}

#[test]
fn scram_a_wrong_server_signature_fails_the_connection() {
    let now = t0();
    let (mut conn, id) = scram_at_server_final(now);
    let e = answer(
        &mut conn,
        now,
        id,
        b"v=6rriTRBi23WpRR/wtup+mMhK1W1e8h4cOgG/hMmP5o4=",
        3_600_000,
    )
    .unwrap_err();
    assert!(matches!(
        e,
        ConnectionError::Sasl {
            stage: "authenticate",
            kind: SaslErrorKind::ServerSignatureMismatch,
            code: ErrorCode::SASL_AUTHENTICATION_FAILED,
            ..
        }
    ));
    assert!(conn.is_failed());
    assert_eq!(conn.poll_event(), None, "never Ready");
}

#[test]
fn scram_server_final_error_and_broker_refusal_are_authentication_failures() {
    let now = t0();
    let (mut conn, id) = scram_at_server_final(now);
    let e = answer(&mut conn, now, id, b"e=invalid-proof", 0).unwrap_err();
    assert!(matches!(
        &e,
        ConnectionError::Sasl {
            kind: SaslErrorKind::AuthenticationFailed,
            message: Some(m),
            ..
        } if m.contains("invalid-proof")
    ));
    // What Kafka does: an error code at the client-final.
    let (mut conn, id) = scram_at_server_final(now);
    let e = refuse(
        &mut conn,
        now,
        id,
        ErrorCode::SASL_AUTHENTICATION_FAILED,
        "Authentication failed during authentication due to invalid credentials with SASL \
         mechanism SCRAM-SHA-256",
    )
    .unwrap_err();
    assert!(matches!(
        e,
        ConnectionError::Sasl {
            stage: "authenticate",
            kind: SaslErrorKind::AuthenticationFailed,
            ..
        }
    ));
}

#[test]
fn scram_a_malformed_server_first_fails_the_connection() {
    let now = t0();
    let mut conn = ready_connection(
        config(Sasl::scram_sha256("user", "pencil"), Some(NONCE)),
        now,
    );
    accept_handshake(&mut conn, now, "SCRAM-SHA-256");
    let (id, _) = next_authenticate(&mut conn);
    let hostile = b"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=2000000000";
    let e = answer(&mut conn, now, id, hostile, 0).unwrap_err();
    assert!(matches!(
        &e,
        ConnectionError::Sasl {
            kind: SaslErrorKind::MalformedServerMessage,
            message: Some(m),
            ..
        } if m.contains("iteration")
    ));
    assert!(!e.to_string().contains("pencil"));
    assert!(conn.is_failed());
    assert!(
        !conn.has_transmit(),
        "no client-final after a bad server-first"
    );
}

const TOKEN: &str = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.";

#[test]
fn oauthbearer_is_one_round() {
    let now = t0();
    let sasl = Sasl::OAuthBearer(SaslOAuthBearer::new(TOKEN).extension("traceId", "t1"));
    let mut conn = ready_connection(config(sasl, None), now);
    accept_handshake(&mut conn, now, "OAUTHBEARER");
    let (id, first) = next_authenticate(&mut conn);
    assert_eq!(
        &first[..],
        format!("n,,\x01auth=Bearer {TOKEN}\x01traceId=t1\x01\x01").as_bytes()
    );
    answer(&mut conn, now, id, b"", 600_000).unwrap();
    assert_eq!(conn.poll_event(), Some(Event::Ready));
    assert_eq!(conn.sasl_session_lifetime_ms(), Some(600_000));
}

#[test]
fn oauthbearer_failure_answers_kvsep_and_surfaces_the_status() {
    let now = t0();
    let mut conn = ready_connection(config(Sasl::oauthbearer(TOKEN), None), now);
    accept_handshake(&mut conn, now, "OAUTHBEARER");
    let (id, _) = next_authenticate(&mut conn);
    // Kafka's broker: no error code yet, the error status as the challenge.
    let status = br#"{"status":"invalid_token"}"#;
    answer(&mut conn, now, id, status, 0).unwrap();
    assert_eq!(conn.poll_event(), None);
    let (id, kvsep) = next_authenticate(&mut conn);
    assert_eq!(&kvsep[..], b"\x01");
    // Then the error code, with the status as its message.
    let e = refuse(
        &mut conn,
        now,
        id,
        ErrorCode::SASL_AUTHENTICATION_FAILED,
        r#"{"status":"invalid_token"}"#,
    )
    .unwrap_err();
    match &e {
        ConnectionError::Sasl {
            stage: "authenticate",
            kind: SaslErrorKind::AuthenticationFailed,
            code: ErrorCode::SASL_AUTHENTICATION_FAILED,
            message: Some(m),
        } => assert_eq!(m, r#"{"status":"invalid_token"}"#),
        other => panic!("{other:?}"),
    }
    assert!(conn.is_failed());
    let shown = format!("{e} {e:?} {conn:?}");
    assert!(!shown.contains(TOKEN), "{shown}");

    // A broker whose message differs: both are kept.
    let mut conn = ready_connection(config(Sasl::oauthbearer(TOKEN), None), now);
    accept_handshake(&mut conn, now, "OAUTHBEARER");
    let (id, _) = next_authenticate(&mut conn);
    answer(&mut conn, now, id, status, 0).unwrap();
    let (id, _) = next_authenticate(&mut conn);
    let e = refuse(
        &mut conn,
        now,
        id,
        ErrorCode::SASL_AUTHENTICATION_FAILED,
        "denied",
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .ends_with(r#"denied; error status {"status":"invalid_token"}"#),
        "{e}"
    );
}

#[test]
fn oauthbearer_bad_token_fails_before_sending_anything() {
    let now = t0();
    let mut conn = Connection::new(config(Sasl::oauthbearer("not a token"), None), now);
    assert!(matches!(
        conn.poll_event(),
        Some(Event::Failed(ConnectionError::Sasl {
            kind: SaslErrorKind::InvalidConfig,
            ..
        }))
    ));
    assert!(!conn.has_transmit());
}
