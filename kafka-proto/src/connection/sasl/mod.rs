//! SASL mechanisms: the messages each one sends and checks, as sans-IO
//! state machines. `PLAIN` (RFC 4616) and `OAUTHBEARER` (RFC 7628, KIP-255)
//! take one SaslAuthenticate round, `SCRAM-SHA-256`/`SCRAM-SHA-512`
//! (RFC 5802, RFC 7677, KIP-84) two.
//!
//! Nothing here draws randomness or reads a clock: SCRAM's client nonce is
//! supplied by the caller ([`Config::sasl_nonce`](super::Config::sasl_nonce)),
//! and so is the OAuth token.

mod base64;
mod oauthbearer;
mod plain;
mod scram;

use std::fmt;

use bytes::Bytes;

pub use oauthbearer::SaslOAuthBearer;
pub use plain::SaslPlain;
pub use scram::{SaslScram, ScramMechanism};

use oauthbearer::OAuthBearerClient;
use scram::ScramClient;

/// A SASL mechanism and its credentials.
///
/// Debug output never shows a password or token.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Sasl {
    /// `PLAIN`: user name and password in the clear (use it over TLS).
    Plain(SaslPlain),
    /// `SCRAM-SHA-256` or `SCRAM-SHA-512`: a challenge-response that never
    /// sends the password, and proves the broker knows the credential. Needs
    /// a fresh client nonce per authentication:
    /// [`Config::sasl_nonce`](super::Config::sasl_nonce).
    Scram(SaslScram),
    /// `OAUTHBEARER`: a bearer token from the caller's token provider.
    OAuthBearer(SaslOAuthBearer),
}

impl Sasl {
    /// `PLAIN` with `username` / `password`.
    pub fn plain(username: impl Into<String>, password: impl Into<String>) -> Self {
        Sasl::Plain(SaslPlain::new(username, password))
    }

    /// `SCRAM-SHA-256` with `username` / `password`.
    pub fn scram_sha256(username: impl Into<String>, password: impl Into<String>) -> Self {
        Sasl::Scram(SaslScram::new(ScramMechanism::Sha256, username, password))
    }

    /// `SCRAM-SHA-512` with `username` / `password`.
    pub fn scram_sha512(username: impl Into<String>, password: impl Into<String>) -> Self {
        Sasl::Scram(SaslScram::new(ScramMechanism::Sha512, username, password))
    }

    /// `OAUTHBEARER` with `token` (and no SASL extensions).
    pub fn oauthbearer(token: impl Into<String>) -> Self {
        Sasl::OAuthBearer(SaslOAuthBearer::new(token))
    }

    /// The mechanism's name, as sent in SaslHandshake.
    pub fn mechanism(&self) -> &'static str {
        match self {
            Sasl::Plain(_) => "PLAIN",
            Sasl::Scram(s) => s.mechanism.name(),
            Sasl::OAuthBearer(_) => "OAUTHBEARER",
        }
    }

    /// Whether the mechanism needs a client nonce
    /// ([`Config::sasl_nonce`](super::Config::sasl_nonce)): SCRAM does.
    pub fn needs_nonce(&self) -> bool {
        matches!(self, Sasl::Scram(_))
    }

    /// The secret (password or token), to keep out of error messages.
    fn secret(&self) -> &str {
        match self {
            Sasl::Plain(p) => &p.password,
            Sasl::Scram(s) => &s.password,
            Sasl::OAuthBearer(o) => &o.token,
        }
    }
}

impl fmt::Debug for Sasl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sasl::Plain(p) => f.debug_tuple("Plain").field(p).finish(),
            Sasl::Scram(s) => f.debug_tuple("Scram").field(s).finish(),
            Sasl::OAuthBearer(o) => f.debug_tuple("OAuthBearer").field(o).finish(),
        }
    }
}

/// What kind of SASL failure a
/// [`ConnectionError::Sasl`](super::ConnectionError::Sasl) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SaslErrorKind {
    /// The broker does not enable the mechanism (SaslHandshake answered
    /// UNSUPPORTED_SASL_MECHANISM; the message lists what it enables).
    MechanismNotEnabled,
    /// The broker refused the credentials or token: SASL_AUTHENTICATION_FAILED,
    /// SCRAM's `e=` server error, or OAUTHBEARER's error status.
    AuthenticationFailed,
    /// The broker answered a SASL request with another error code.
    BrokerError,
    /// A SCRAM broker's server signature was wrong: it does not know the
    /// credential (a man in the middle, or a misconfigured broker).
    ServerSignatureMismatch,
    /// A SASL message from the broker broke the mechanism's rules: bad syntax
    /// or base64, a server nonce that does not extend the client's, an
    /// iteration count out of bounds, a message too long.
    MalformedServerMessage,
    /// The credentials or the nonce cannot be sent: no SCRAM nonce, a user
    /// name or token with characters the mechanism cannot carry. Found
    /// before anything was sent.
    InvalidConfig,
}

impl fmt::Display for SaslErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SaslErrorKind::MechanismNotEnabled => "mechanism not enabled",
            SaslErrorKind::AuthenticationFailed => "authentication failed",
            SaslErrorKind::BrokerError => "broker error",
            SaslErrorKind::ServerSignatureMismatch => "server signature mismatch",
            SaslErrorKind::MalformedServerMessage => "malformed server message",
            SaslErrorKind::InvalidConfig => "invalid configuration",
        })
    }
}

/// A failure found by a mechanism (not an error code from the broker).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SaslFault {
    pub(crate) kind: SaslErrorKind,
    /// Says what went wrong; never holds a password or token.
    pub(crate) message: String,
}

impl SaslFault {
    fn new(kind: SaslErrorKind, message: impl Into<String>) -> Self {
        SaslFault {
            kind,
            message: message.into(),
        }
    }

    fn malformed(message: impl Into<String>) -> Self {
        SaslFault::new(SaslErrorKind::MalformedServerMessage, message)
    }

    fn config(message: impl Into<String>) -> Self {
        SaslFault::new(SaslErrorKind::InvalidConfig, message)
    }
}

/// What a mechanism wants after the broker's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Send these bytes in another SaslAuthenticate.
    Send(Bytes),
    /// Authentication is complete.
    Done,
}

/// The longest message a mechanism accepts from the broker (SCRAM's
/// server-first is about 150 bytes, an OAUTHBEARER error status a few
/// hundred).
const MAX_SERVER_MESSAGE: usize = 4096;

/// One SASL authentication in progress: the mechanism's state.
pub(crate) struct SaslExchange {
    mechanism: &'static str,
    secret: String,
    first: Option<Bytes>,
    state: Mechanism,
}

enum Mechanism {
    /// One message, then done.
    Plain,
    Scram(ScramClient),
    OAuthBearer(OAuthBearerClient),
}

impl SaslExchange {
    /// Checks the credentials (and `nonce`, for SCRAM) and prepares the
    /// first message; nothing is sent yet.
    pub(crate) fn start(sasl: &Sasl, nonce: Option<&str>) -> Result<Self, SaslFault> {
        let (state, first) = match sasl {
            Sasl::Plain(p) => (Mechanism::Plain, p.token()),
            Sasl::Scram(s) => {
                let (client, first) = ScramClient::start(s, nonce)?;
                (Mechanism::Scram(client), first)
            }
            Sasl::OAuthBearer(o) => {
                let (client, first) = OAuthBearerClient::start(o)?;
                (Mechanism::OAuthBearer(client), first)
            }
        };
        Ok(SaslExchange {
            mechanism: sasl.mechanism(),
            secret: sasl.secret().to_owned(),
            first: Some(first),
            state,
        })
    }

    /// The mechanism's name for SaslHandshake.
    pub(crate) fn mechanism(&self) -> &'static str {
        self.mechanism
    }

    /// The first SaslAuthenticate message (once).
    pub(crate) fn take_first(&mut self) -> Option<Bytes> {
        self.first.take()
    }

    /// The broker accepted the last message and answered `server`.
    pub(crate) fn step(&mut self, server: &[u8]) -> Result<Step, SaslFault> {
        let step = match &mut self.state {
            // PLAIN's answer carries nothing: success ends it.
            Mechanism::Plain => Ok(Step::Done),
            Mechanism::Scram(c) => c.step(server),
            Mechanism::OAuthBearer(c) => c.step(server),
        };
        step.map_err(|fault| SaslFault {
            message: self.redact(&fault.message),
            ..fault
        })
    }

    /// What the mechanism learned of a failure before the broker's error
    /// code (OAUTHBEARER's error status), redacted.
    pub(crate) fn failure_detail(&self) -> Option<String> {
        match &self.state {
            Mechanism::OAuthBearer(c) => c.failure_status().map(|s| self.redact(s)),
            _ => None,
        }
    }

    /// `text` (from the broker, who might echo what it was sent) with the
    /// password or token cut out.
    pub(crate) fn redact(&self, text: &str) -> String {
        if self.secret.is_empty() {
            text.to_owned()
        } else {
            text.replace(&self.secret, "<redacted>")
        }
    }
}

impl fmt::Debug for SaslExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            Mechanism::Plain => "plain",
            Mechanism::Scram(c) => c.stage(),
            Mechanism::OAuthBearer(c) => c.stage(),
        };
        f.debug_struct("SaslExchange")
            .field("mechanism", &self.mechanism)
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

/// `text` cut to at most `max` bytes (at a character boundary), for broker
/// text kept in an error.
pub(crate) fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mechanism_names() {
        assert_eq!(Sasl::plain("u", "p").mechanism(), "PLAIN");
        assert_eq!(Sasl::scram_sha256("u", "p").mechanism(), "SCRAM-SHA-256");
        assert_eq!(Sasl::scram_sha512("u", "p").mechanism(), "SCRAM-SHA-512");
        assert_eq!(Sasl::oauthbearer("t").mechanism(), "OAUTHBEARER");
        assert!(Sasl::scram_sha512("u", "p").needs_nonce());
        assert!(!Sasl::plain("u", "p").needs_nonce());
    }

    #[test]
    fn debug_never_shows_secrets() {
        for (sasl, secret) in [
            (Sasl::plain("alice", "pw-plain-1"), "pw-plain-1"),
            (Sasl::scram_sha256("alice", "pw-scram-2"), "pw-scram-2"),
            (Sasl::oauthbearer("tok.en-3"), "tok.en-3"),
        ] {
            let shown = format!("{sasl:?} {sasl:#?}");
            assert!(!shown.contains(secret), "{shown}");
            let exchange = SaslExchange::start(&sasl, Some("rOprNGfwEbeRWgbNEkqO")).unwrap();
            let shown = format!("{exchange:?}");
            assert!(!shown.contains(secret), "{shown}");
        }
    }

    #[test]
    fn broker_text_is_redacted() {
        let exchange = SaslExchange::start(&Sasl::oauthbearer("abc.def"), None).unwrap();
        assert_eq!(
            exchange.redact("bad token abc.def!"),
            "bad token <redacted>!"
        );
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("abcdef", 3), "abc");
        assert_eq!(truncate("aé", 2), "a");
    }
}
