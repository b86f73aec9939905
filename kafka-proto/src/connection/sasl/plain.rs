//! `PLAIN` (RFC 4616): user name and password in one message, one round.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

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

#[cfg(test)]
mod tests {
    use super::super::Sasl;
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
