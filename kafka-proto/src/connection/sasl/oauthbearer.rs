//! `OAUTHBEARER` (RFC 7628) as Kafka uses it (KIP-255), with SASL
//! extensions (KIP-342).
//!
//! The client's initial response is
//! `n,,^Aauth=Bearer <token>[^A<key>=<value>...]^A^A` (`^A` is 0x01). The
//! broker answers an empty message on success. On failure it answers an
//! error status, a JSON object such as `{"status":"invalid_token"}`, with no
//! error code; RFC 7628 section 3.2.3 has the client send a single `^A`, to
//! which the broker answers SASL_AUTHENTICATION_FAILED.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use super::{MAX_SERVER_MESSAGE, SaslErrorKind, SaslFault, Step, truncate};

/// RFC 7628's separator, `kvsep`.
const KVSEP: u8 = 0x01;

/// The longest error status kept for the error message.
const MAX_STATUS: usize = 1024;

/// Credentials for `OAUTHBEARER`: the caller's current token.
///
/// The token comes from the caller's token provider, and is put in before
/// connecting (and again before
/// [`Connection::start_reauthentication`](crate::connection::Connection::start_reauthentication),
/// when it has been refreshed).
#[derive(Clone, PartialEq, Eq)]
pub struct SaslOAuthBearer {
    /// The bearer token (an RFC 6750 `b64token`: letters, digits and
    /// `-._~+/`, then `=` padding; a JWT fits).
    pub token: String,
    /// SASL extensions (KIP-342), sent in this order: each key letters only
    /// and not `auth`, each value printable ASCII, space, tab, CR or LF.
    pub extensions: Vec<(String, String)>,
}

impl SaslOAuthBearer {
    /// `token`, with no extensions.
    pub fn new(token: impl Into<String>) -> Self {
        SaslOAuthBearer {
            token: token.into(),
            extensions: Vec::new(),
        }
    }

    /// Adds the SASL extension `key=value`.
    #[must_use]
    pub fn extension(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.extensions.push((key.into(), value.into()));
        self
    }

    /// The client's initial response, checked.
    fn initial_response(&self) -> Result<Bytes, SaslFault> {
        if !is_b64token(&self.token) {
            return Err(SaslFault::config(
                "OAUTHBEARER token is empty or not an RFC 6750 b64token \
                 (letters, digits, -._~+/ then = padding)",
            ));
        }
        for (i, (key, value)) in self.extensions.iter().enumerate() {
            // RFC 7628 3.1: key = 1*(ALPHA); "auth" is the token's own key.
            if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphabetic()) || key == "auth" {
                return Err(SaslFault::config(format!(
                    "OAUTHBEARER extension key {key:?} is not letters only, or is \"auth\""
                )));
            }
            if self.extensions[..i].iter().any(|(k, _)| k == key) {
                return Err(SaslFault::config(format!(
                    "OAUTHBEARER extension key {key:?} appears twice"
                )));
            }
            // Kafka's rule (value = 1*(VCHAR / SP / HTAB / CR / LF)); the
            // value itself is not echoed, it may be secret.
            if value.is_empty()
                || !value
                    .bytes()
                    .all(|b| matches!(b, 0x21..=0x7e | b' ' | b'\t' | b'\r' | b'\n'))
            {
                return Err(SaslFault::config(format!(
                    "OAUTHBEARER extension {key:?} has an empty value or one with a \
                     character outside printable ASCII, space, tab, CR and LF"
                )));
            }
        }
        let extensions: usize = self
            .extensions
            .iter()
            .map(|(k, v)| k.len() + v.len() + 2)
            .sum();
        let mut b = BytesMut::with_capacity(20 + self.token.len() + extensions);
        b.put_slice(b"n,,");
        b.put_u8(KVSEP);
        b.put_slice(b"auth=Bearer ");
        b.put_slice(self.token.as_bytes());
        for (key, value) in &self.extensions {
            b.put_u8(KVSEP);
            b.put_slice(key.as_bytes());
            b.put_u8(b'=');
            b.put_slice(value.as_bytes());
        }
        b.put_u8(KVSEP);
        b.put_u8(KVSEP);
        Ok(b.freeze())
    }
}

/// RFC 6750 2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" /
/// "+" / "/" ) *"="`.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

impl fmt::Debug for SaslOAuthBearer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Extension values may be secrets too: only the keys are shown.
        let keys: Vec<&str> = self.extensions.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("SaslOAuthBearer")
            .field("token", &"<redacted>")
            .field("extension_keys", &keys)
            .finish()
    }
}

/// An OAUTHBEARER client exchange.
pub(super) struct OAuthBearerClient {
    state: State,
}

enum State {
    /// The initial response is out.
    Sent,
    /// The broker answered an error status; `^A` is out.
    Refused {
        status: String,
    },
    Done,
}

impl OAuthBearerClient {
    /// Checks the token and extensions; returns the client and its initial
    /// response.
    pub(super) fn start(creds: &SaslOAuthBearer) -> Result<(Self, Bytes), SaslFault> {
        let first = creds.initial_response()?;
        Ok((OAuthBearerClient { state: State::Sent }, first))
    }

    /// Where the exchange is, for Debug.
    pub(super) fn stage(&self) -> &'static str {
        match self.state {
            State::Sent => "oauthbearer: initial response sent",
            State::Refused { .. } => "oauthbearer: refused",
            State::Done => "oauthbearer: done",
        }
    }

    /// The broker's error status, once it sent one (not yet redacted).
    pub(super) fn failure_status(&self) -> Option<&str> {
        match &self.state {
            State::Refused { status } => Some(status),
            _ => None,
        }
    }

    /// The broker accepted the last message and answered `server`.
    pub(super) fn step(&mut self, server: &[u8]) -> Result<Step, SaslFault> {
        match &self.state {
            State::Sent if server.is_empty() => {
                self.state = State::Done;
                Ok(Step::Done)
            }
            State::Sent => {
                // An error status: answer `^A`, the broker then fails the
                // exchange with an error code and the failure surfaces there.
                let bounded = &server[..server.len().min(MAX_SERVER_MESSAGE)];
                let text = String::from_utf8_lossy(bounded);
                let status = truncate(&text, MAX_STATUS)
                    .chars()
                    .filter(|c| !c.is_control())
                    .collect();
                self.state = State::Refused { status };
                Ok(Step::Send(Bytes::from_static(&[KVSEP])))
            }
            State::Refused { status } => Err(SaslFault::new(
                SaslErrorKind::AuthenticationFailed,
                format!("OAUTHBEARER: the broker refused the token: {status}"),
            )),
            State::Done => Err(SaslFault::malformed(
                "OAUTHBEARER: a message from the broker after success",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::sasl::{Sasl, SaslExchange};

    const JWT: &str = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.";

    #[test]
    fn initial_response_bytes() {
        let (_, first) = OAuthBearerClient::start(&SaslOAuthBearer::new(JWT)).unwrap();
        assert_eq!(
            &first[..],
            format!("n,,\x01auth=Bearer {JWT}\x01\x01").as_bytes()
        );
        let with_ext = SaslOAuthBearer::new("tok")
            .extension("traceId", "abc 123")
            .extension("logicalCluster", "lkc-1");
        let (_, first) = OAuthBearerClient::start(&with_ext).unwrap();
        assert_eq!(
            &first[..],
            b"n,,\x01auth=Bearer tok\x01traceId=abc 123\x01logicalCluster=lkc-1\x01\x01"
        );
    }

    #[test]
    fn bad_tokens_and_extensions_are_refused_without_echoing_them() {
        let cases = [
            SaslOAuthBearer::new(""),
            SaslOAuthBearer::new("==="),
            SaslOAuthBearer::new("sec ret"),
            SaslOAuthBearer::new("secret\x01injected=1"),
            SaslOAuthBearer::new("sec=ret"),
            SaslOAuthBearer::new("tok").extension("auth", "x"),
            SaslOAuthBearer::new("tok").extension("a1", "x"),
            SaslOAuthBearer::new("tok").extension("", "x"),
            SaslOAuthBearer::new("tok").extension("k", ""),
            SaslOAuthBearer::new("tok").extension("k", "secret\x01"),
            SaslOAuthBearer::new("tok")
                .extension("k", "a")
                .extension("k", "b"),
        ];
        for creds in cases {
            let e = OAuthBearerClient::start(&creds).err().unwrap();
            assert_eq!(e.kind, SaslErrorKind::InvalidConfig);
            assert!(!e.message.contains("secret"), "{}", e.message);
        }
        // Padding is allowed at the end.
        assert!(OAuthBearerClient::start(&SaslOAuthBearer::new("abc+/==")).is_ok());
    }

    #[test]
    fn success_is_one_round() {
        let (mut c, _) = OAuthBearerClient::start(&SaslOAuthBearer::new(JWT)).unwrap();
        assert_eq!(c.step(b""), Ok(Step::Done));
        assert_eq!(
            c.step(b"").unwrap_err().kind,
            SaslErrorKind::MalformedServerMessage
        );
    }

    #[test]
    fn an_error_status_is_answered_with_kvsep() {
        let status = br#"{"status":"invalid_token","scope":"kafka"}"#;
        let (mut c, _) = OAuthBearerClient::start(&SaslOAuthBearer::new(JWT)).unwrap();
        assert_eq!(c.step(status), Ok(Step::Send(Bytes::from_static(b"\x01"))));
        assert_eq!(
            c.failure_status(),
            Some(r#"{"status":"invalid_token","scope":"kafka"}"#)
        );
        // A broker that then reports success still failed the client.
        let e = c.step(b"").unwrap_err();
        assert_eq!(e.kind, SaslErrorKind::AuthenticationFailed);
        assert!(e.message.contains("invalid_token"), "{}", e.message);
    }

    #[test]
    fn error_status_is_bounded_and_redacted() {
        // A hostile broker echoes the token back, at length.
        let echo = format!(
            r#"{{"status":"invalid_token","token":"{JWT}"}}{}"#,
            "x".repeat(9000)
        );
        let mut exchange = SaslExchange::start(&Sasl::oauthbearer(JWT), None).unwrap();
        let _ = exchange.take_first();
        assert!(matches!(exchange.step(echo.as_bytes()), Ok(Step::Send(_))));
        let detail = exchange.failure_detail().unwrap();
        assert!(!detail.contains(JWT), "{detail}");
        assert!(detail.contains("<redacted>"));
        assert!(detail.len() <= MAX_STATUS + 16, "{}", detail.len());
    }

    #[test]
    fn debug_shows_no_token_or_extension_values() {
        let creds = SaslOAuthBearer::new(JWT).extension("secretish", "v4lue");
        let shown = format!("{:?}", Sasl::OAuthBearer(creds));
        assert!(!shown.contains(JWT), "{shown}");
        assert!(!shown.contains("v4lue"), "{shown}");
        assert!(shown.contains("secretish"));
    }
}
