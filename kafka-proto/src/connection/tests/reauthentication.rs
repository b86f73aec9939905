//! KIP-368 re-authentication on a live connection.

use super::sasl::{
    NONCE, accept_handshake, answer, config, next_authenticate, refuse, scram_ready,
};
use super::*;

/// A second SCRAM-SHA-256 exchange for "user"/"pencil", with RFC 5802's
/// nonces and RFC 7677's salt, computed with the Python snippet in the
/// scram module's tests (`cnonce = 'fyko+d2lbbFgONRv9qkxdawL'`,
/// `snonce = cnonce + '3rfcNHYJY1ZVvWVs7j'`, `h = 'sha256'`).
const NONCE_2: &str = "fyko+d2lbbFgONRv9qkxdawL";
const SERVER_FIRST_2: &[u8] =
    b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const CLIENT_FINAL_2: &[u8] = b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,\
                                p=khPunbEN1bS6ZR10eQcjEAYZW+T9aSBx7y/UMYTjXdk=";
const SERVER_FINAL_2: &[u8] = b"v=PUZ0/urxX86eGWh/paDV5XxNJSa1/ISFj3iCA2BxaT0=";

const HOUR: i64 = 3_600_000;

fn invalid_config(result: Result<(), ConnectionError>) -> bool {
    matches!(
        result,
        Err(ConnectionError::Sasl {
            stage: "setup",
            kind: SaslErrorKind::InvalidConfig,
            ..
        })
    )
}

#[test]
fn due_at_85_percent_of_the_lifetime_from_when_authentication_began() {
    let now = t0();
    let conn = scram_ready(now, HOUR);
    assert_eq!(
        conn.reauthentication_due(),
        Some(now + Duration::from_millis(3_060_000))
    );
    // No lifetime, no re-authentication.
    let conn = scram_ready(now, 0);
    assert_eq!(conn.sasl_session_lifetime_ms(), None);
    assert_eq!(conn.reauthentication_due(), None);
    // Nor without SASL.
    let mut conn = ready_connection(Config::default(), now);
    assert_eq!(conn.poll_event(), Some(Event::Ready));
    assert_eq!(conn.reauthentication_due(), None);
    // An absurd lifetime does not overflow.
    let conn = scram_ready(now, i64::MAX);
    assert!(conn.reauthentication_due().is_some());
}

#[test]
fn scram_reauthentication_keeps_the_connection_usable() {
    let now = t0();
    let mut conn = scram_ready(now, HOUR);
    // A request in flight when re-authentication starts.
    let before = conn.send(now, &MetadataRequest::default()).unwrap();
    assert_eq!(requests(&mut conn).len(), 1);

    let later = now + Duration::from_secs(3100);
    conn.start_reauthentication(later, None, Some(NONCE_2.into()))
        .unwrap();
    assert!(conn.is_reauthenticating());
    assert!(conn.is_ready());
    assert_eq!(conn.reauthentication_due(), None, "under way");
    // A request sent now is held: the broker takes only SASL until done.
    let during = conn.send(later, &MetadataRequest::default()).unwrap();
    accept_handshake(&mut conn, later, "SCRAM-SHA-256");
    // The earlier request's answer still arrives, and comes out at once.
    conn.handle_input(later, &mut reply(before, 12, &MetadataResponse::default()))
        .unwrap();
    assert!(matches!(conn.poll_event(), Some(Event::Response(r)) if r.correlation_id == before));

    let (id, first) = next_authenticate(&mut conn);
    assert_eq!(&first[..], b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL");
    answer(&mut conn, later, id, SERVER_FIRST_2, 0).unwrap();
    let (id, client_final) = next_authenticate(&mut conn);
    assert_eq!(&client_final[..], CLIENT_FINAL_2);
    answer(&mut conn, later, id, SERVER_FINAL_2, 2 * HOUR).unwrap();
    assert_eq!(conn.poll_event(), Some(Event::Reauthenticated));
    assert!(!conn.is_reauthenticating());

    // The held request goes out now, and its answer comes back.
    let sent = requests(&mut conn);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0.correlation_id, during);
    assert_eq!(sent[0].0.request_api_key, ApiKey::METADATA);
    conn.handle_input(later, &mut reply(during, 12, &MetadataResponse::default()))
        .unwrap();
    assert!(matches!(conn.poll_event(), Some(Event::Response(r)) if r.correlation_id == during));

    // The new lifetime counts from the re-authentication.
    assert_eq!(conn.sasl_session_lifetime_ms(), Some(2 * HOUR));
    assert_eq!(
        conn.reauthentication_due(),
        Some(later + Duration::from_millis(6_120_000))
    );
}

#[test]
fn reauthentication_with_a_refreshed_oauth_token() {
    let now = t0();
    let mut conn = ready_connection(config(Sasl::oauthbearer("old.token"), None), now);
    accept_handshake(&mut conn, now, "OAUTHBEARER");
    let (id, _) = next_authenticate(&mut conn);
    answer(&mut conn, now, id, b"", HOUR).unwrap();
    assert_eq!(conn.poll_event(), Some(Event::Ready));

    conn.start_reauthentication(now, Some(Sasl::oauthbearer("new.token")), None)
        .unwrap();
    accept_handshake(&mut conn, now, "OAUTHBEARER");
    let (id, first) = next_authenticate(&mut conn);
    assert_eq!(&first[..], b"n,,\x01auth=Bearer new.token\x01\x01");
    answer(&mut conn, now, id, b"", HOUR).unwrap();
    assert_eq!(conn.poll_event(), Some(Event::Reauthenticated));
    assert_eq!(
        conn.config().sasl,
        Some(Sasl::oauthbearer("new.token")),
        "the credentials in use"
    );
}

#[test]
fn refused_starts_leave_the_connection_as_it_was() {
    let now = t0();
    // Before Ready.
    let mut conn = ready_connection(
        config(Sasl::scram_sha256("user", "pencil"), Some(NONCE)),
        now,
    );
    assert_eq!(
        conn.start_reauthentication(now, None, Some(NONCE_2.into())),
        Err(ConnectionError::NotReady)
    );
    // Without SASL.
    let mut conn = ready_connection(Config::default(), now);
    assert!(invalid_config(conn.start_reauthentication(now, None, None)));

    let mut conn = scram_ready(now, HOUR);
    // No nonce, the nonce used before, another mechanism.
    assert!(invalid_config(conn.start_reauthentication(now, None, None)));
    assert!(invalid_config(conn.start_reauthentication(
        now,
        None,
        Some(NONCE.into())
    )));
    assert!(invalid_config(conn.start_reauthentication(
        now,
        Some(Sasl::plain("user", "pencil")),
        None
    )));
    assert!(!conn.has_transmit());
    assert!(conn.is_ready() && !conn.is_reauthenticating());
    // One under way already.
    conn.start_reauthentication(now, None, Some(NONCE_2.into()))
        .unwrap();
    assert_eq!(
        conn.start_reauthentication(now, None, Some("yet-another-nonce-123".into())),
        Err(ConnectionError::NotReady)
    );

    // No lifetime granted: the broker would refuse.
    let mut conn = scram_ready(now, 0);
    assert!(invalid_config(conn.start_reauthentication(
        now,
        None,
        Some(NONCE_2.into())
    )));
}

#[test]
fn a_failed_reauthentication_fails_the_connection() {
    let now = t0();
    let mut conn = scram_ready(now, HOUR);
    conn.start_reauthentication(now, None, Some(NONCE_2.into()))
        .unwrap();
    accept_handshake(&mut conn, now, "SCRAM-SHA-256");
    let (id, _) = next_authenticate(&mut conn);
    let e = refuse(
        &mut conn,
        now,
        id,
        ErrorCode::SASL_AUTHENTICATION_FAILED,
        "Invalid user credentials",
    )
    .unwrap_err();
    assert!(matches!(
        e,
        ConnectionError::Sasl {
            kind: SaslErrorKind::AuthenticationFailed,
            ..
        }
    ));
    assert!(conn.is_failed());
    assert_eq!(
        conn.send(now, &MetadataRequest::default()),
        Err(ConnectionError::Failed)
    );
}

#[test]
fn a_reauthentication_timeout_fails_the_connection() {
    let now = t0();
    let mut conn = scram_ready(now, HOUR);
    conn.start_reauthentication(now, None, Some(NONCE_2.into()))
        .unwrap();
    let _ = requests(&mut conn);
    conn.handle_timeout(now + Duration::from_secs(30));
    assert_eq!(
        conn.poll_event(),
        Some(Event::Failed(ConnectionError::SetupTimedOut(
            ApiKey::SASL_HANDSHAKE
        )))
    );
    assert!(conn.is_failed());
}
