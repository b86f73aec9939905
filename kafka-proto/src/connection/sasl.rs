//! SASL mechanisms: the bytes each one sends. PLAIN (RFC 4616) for now;
//! SCRAM comes with a later issue.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

/// A SASL mechanism and its credentials.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Sasl {
    /// `PLAIN`: user name and password in the clear (use it over TLS).
    Plain(SaslPlain),
}

/// Credentials for `PLAIN`.
#[derive(Clone, PartialEq, Eq)]
pub struct SaslPlain {
    /// Authorization id (usually `None`: act as `username`).
    pub authzid: Option<String>,
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

impl SaslPlain {
    /// PLAIN credentials for `username` / `password`.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        SaslPlain {
            authzid: None,
            username: username.into(),
            password: password.into(),
        }
    }

    /// The PLAIN message: `[authzid] NUL authcid NUL passwd`.
    pub fn token(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(
            self.authzid.as_ref().map_or(0, String::len)
                + self.username.len()
                + self.password.len()
                + 2,
        );
        if let Some(authzid) = &self.authzid {
            b.put_slice(authzid.as_bytes());
        }
        b.put_u8(0);
        b.put_slice(self.username.as_bytes());
        b.put_u8(0);
        b.put_slice(self.password.as_bytes());
        b.freeze()
    }
}

impl Sasl {
    /// The mechanism's name, as sent in SaslHandshake.
    pub fn mechanism(&self) -> &'static str {
        match self {
            Sasl::Plain(_) => "PLAIN",
        }
    }

    /// The first token the client sends in SaslAuthenticate.
    pub fn initial_token(&self) -> Bytes {
        match self {
            Sasl::Plain(p) => p.token(),
        }
    }
}

// Credentials never appear in Debug output (and so never in logs).
impl fmt::Debug for SaslPlain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslPlain")
            .field("authzid", &self.authzid)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl fmt::Debug for Sasl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sasl::Plain(p) => f.debug_tuple("Plain").field(p).finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_token_bytes() {
        let p = SaslPlain::new("alice", "s3cret");
        assert_eq!(&p.token()[..], b"\0alice\0s3cret");
        let p = SaslPlain {
            authzid: Some("admin".into()),
            ..p
        };
        assert_eq!(&p.token()[..], b"admin\0alice\0s3cret");
        assert_eq!(Sasl::Plain(p.clone()).mechanism(), "PLAIN");
        let shown = format!("{:?}", Sasl::Plain(p));
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }
}
