//! SASL OAUTHBEARER: a token provider the client asks for a token on every
//! connect and every re-authentication (KIP-368), with a cache that fetches
//! a fresh token before the current one expires.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use mq_client::kafka::{OAuthBearer, OAuthToken};
//! let oauth = OAuthBearer::new(|| async {
//!     // Ask the identity provider here.
//!     Ok(OAuthToken::new("eyJ...", SystemTime::now() + Duration::from_secs(3600)))
//! });
//! # let _ = oauth;
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kafka_proto::connection::{Sasl, SaslOAuthBearer};

use super::error::{Error, Result};

/// A bearer token and when it expires. `Debug` never shows the token.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthToken {
    value: String,
    expires_at: SystemTime,
    extensions: Vec<(String, String)>,
}

impl OAuthToken {
    /// A token (a JWT, usually) valid until `expires_at`.
    pub fn new(value: impl Into<String>, expires_at: SystemTime) -> Self {
        OAuthToken {
            value: value.into(),
            expires_at,
            extensions: Vec::new(),
        }
    }

    /// Adds a SASL extension (KIP-342), such as `logicalCluster`.
    #[must_use]
    pub fn extension(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.extensions.push((key.into(), value.into()));
        self
    }

    /// When the token expires.
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }

    fn sasl(&self) -> Sasl {
        let mut s = SaslOAuthBearer::new(self.value.clone());
        s.extensions = self.extensions.clone();
        Sasl::OAuthBearer(s)
    }
}

impl fmt::Debug for OAuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthToken")
            .field("value", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field(
                "extensions",
                &self.extensions.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish()
    }
}

type Fetch = Pin<Box<dyn Future<Output = std::result::Result<OAuthToken, String>> + Send>>;
type Provider = Arc<dyn Fn() -> Fetch + Send + Sync>;

/// The OAUTHBEARER credentials of a client: a token provider and the
/// token it last gave. Cheap to clone; clones share the cache.
#[derive(Clone)]
pub struct OAuthBearer {
    provider: Provider,
    cached: Arc<tokio::sync::Mutex<Option<Cached>>>,
}

#[derive(Clone)]
struct Cached {
    token: OAuthToken,
    fetched_at: SystemTime,
}

impl fmt::Debug for OAuthBearer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthBearer").finish_non_exhaustive()
    }
}

impl OAuthBearer {
    /// Asks `provider` for tokens. It is called on the first connect, and
    /// again whenever the cached token has less than a fifth of its
    /// lifetime left (or under 10 s), so connections and
    /// re-authentications always present a token that is still valid. An
    /// `Err` fails the connect (or the re-authentication) with its text.
    pub fn new<F, Fut>(provider: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<OAuthToken, String>> + Send + 'static,
    {
        OAuthBearer {
            provider: Arc::new(move || Box::pin(provider())),
            cached: Arc::default(),
        }
    }

    /// **Development only.** Unsecured JWTs (`"alg":"none"`, no signature)
    /// naming `principal`, each valid for `lifetime`: what Kafka's
    /// `OAuthBearerUnsecuredValidatorCallbackHandler` accepts, and what
    /// librdkafka's `enable.sasl.oauthbearer.unsecure.jwt` makes. A broker
    /// that validates tokens refuses them.
    pub fn unsecured(principal: impl Into<String>, lifetime: Duration) -> Self {
        let principal = principal.into();
        OAuthBearer::new(move || {
            let token = unsecured_jwt(&principal, lifetime, SystemTime::now());
            async move { Ok(token) }
        })
    }

    /// The SASL credentials to log in with now: the cached token while it
    /// has time left, else a fresh one.
    pub(crate) async fn sasl(&self) -> Result<Sasl> {
        let now = SystemTime::now();
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref() {
            if !needs_refresh(c, now) {
                return Ok(c.token.sasl());
            }
        }
        let token = (self.provider)()
            .await
            .map_err(|e| Error::Config(format!("the OAuth token provider failed: {e}")))?;
        let sasl = token.sasl();
        *cached = Some(Cached {
            token,
            fetched_at: now,
        });
        Ok(sasl)
    }
}

/// Whether a cached token is too close to its expiry to present.
fn needs_refresh(c: &Cached, now: SystemTime) -> bool {
    let lifetime = c
        .token
        .expires_at
        .duration_since(c.fetched_at)
        .unwrap_or_default();
    let left = c.token.expires_at.duration_since(now).unwrap_or_default();
    left < (lifetime / 5).max(Duration::from_secs(10))
}

/// An unsecured JWT (RFC 7519 with `"alg":"none"`) for `sub`, issued at
/// `now` and valid for `lifetime`.
fn unsecured_jwt(sub: &str, lifetime: Duration, now: SystemTime) -> OAuthToken {
    let iat = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let exp = iat + lifetime.as_secs().max(1);
    let sub_json: String = sub
        .chars()
        .flat_map(|c| match c {
            '"' => vec!['\\', '"'],
            '\\' => vec!['\\', '\\'],
            c if c.is_control() => vec![],
            c => vec![c],
        })
        .collect();
    let header = base64url(br#"{"alg":"none"}"#);
    let payload =
        base64url(format!(r#"{{"sub":"{sub_json}","iat":{iat},"exp":{exp}}}"#).as_bytes());
    OAuthToken::new(
        format!("{header}.{payload}."),
        UNIX_EPOCH + Duration::from_secs(exp),
    )
}

/// Base64url without padding (RFC 4648 section 5), as JWTs use it.
fn base64url(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            let index = (n >> (18 - 6 * i)) & 63;
            out.push(char::from(ALPHABET[index as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_vectors() {
        // RFC 4648 section 10, without padding.
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64url(plain.as_bytes()), encoded);
        }
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn unsecured_jwt_shape() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let t = unsecured_jwt("alice", Duration::from_secs(60), now);
        assert_eq!(t.expires_at(), UNIX_EPOCH + Duration::from_secs(1_060));
        let parts: Vec<&str> = t.value.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], base64url(br#"{"alg":"none"}"#));
        assert_eq!(
            parts[1],
            base64url(br#"{"sub":"alice","iat":1000,"exp":1060}"#)
        );
        assert_eq!(parts[2], "");
    }

    #[test]
    fn refresh_before_expiry() {
        let t0 = UNIX_EPOCH + Duration::from_secs(10_000);
        let c = Cached {
            token: OAuthToken::new("t", t0 + Duration::from_secs(100)),
            fetched_at: t0,
        };
        assert!(!needs_refresh(&c, t0 + Duration::from_secs(70)));
        assert!(needs_refresh(&c, t0 + Duration::from_secs(91)));
        assert!(needs_refresh(&c, t0 + Duration::from_secs(200)));
    }

    #[tokio::test]
    async fn the_provider_is_asked_again_only_near_expiry() {
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = calls.clone();
        let oauth = OAuthBearer::new(move || {
            let n = counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            // The first token is nearly expired; the second lasts an hour.
            let life = if n == 0 { 5 } else { 3600 };
            async move {
                Ok(OAuthToken::new(
                    format!("token-{n}"),
                    SystemTime::now() + Duration::from_secs(life),
                ))
            }
        });
        for _ in 0..3 {
            oauth.sasl().await.unwrap();
        }
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
        let shown = format!("{:?}", oauth.cached.lock().await.as_ref().map(|c| &c.token));
        assert!(!shown.contains("token-1"), "{shown}");
    }
}
