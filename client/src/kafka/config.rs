//! Settings shared by every Kafka client (producer, admin, partition reader):
//! the bootstrap list, timeouts, backoff and credentials.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use kafka_proto::connection::Sasl;

use super::error::{Error, Result};
use crate::backoff::BackoffConfig;

/// Maps a broker's advertised `host` and `port` to the address to dial.
/// Tests use it to route every connection through a fault proxy.
pub type AddressMap = Arc<dyn Fn(&str, u16) -> String + Send + Sync>;

/// Connection settings common to every Kafka client.
#[derive(Clone)]
pub struct ClientConfig {
    /// `host:port` entries to fetch the first metadata from.
    pub bootstrap: Vec<String>,
    /// The `client.id` sent in every request header.
    pub client_id: String,
    /// How long a request may wait for its response (Java's
    /// `request.timeout.ms`). Default 30 s. A request that times out closes
    /// its connection, as in the Java client, so no late answer is mixed
    /// up with a retry.
    pub request_timeout: Duration,
    /// How long a TCP connect plus ApiVersions may take. Default 10 s.
    pub connect_timeout: Duration,
    /// Metadata is refreshed at least this often (`metadata.max.age.ms`).
    /// Default 5 min.
    pub metadata_max_age: Duration,
    /// Backoff between reconnect attempts to one broker.
    pub reconnect_backoff: BackoffConfig,
    /// Backoff between retries of a failed request.
    pub retry_backoff: BackoffConfig,
    /// Requests in flight on one connection before senders wait. Default 5.
    pub max_in_flight: usize,
    /// Largest response accepted; checked before allocating. Default 100 MiB.
    pub max_response_size: usize,
    /// Whether Metadata requests may auto-create missing topics (when the
    /// broker allows it). Default `false`; the producer turns it on.
    pub allow_auto_topic_creation: bool,
    /// SASL credentials, if any.
    pub sasl: Option<Sasl>,
    /// OAUTHBEARER credentials: a token provider asked on every connect and
    /// re-authentication. Takes the place of `sasl` when set.
    pub oauth: Option<super::oauth::OAuthBearer>,
    /// Rewrites advertised broker addresses before dialling.
    pub address_map: Option<AddressMap>,
    /// Pushes the client's metrics to a broker that subscribes to them
    /// (KIP-714, Java's `enable.metrics.push`). Default `true`: brokers
    /// subscribe only clients an operator picked (`kafka-client-metrics`).
    pub enable_metrics_push: bool,
    /// TLS settings: `Some` for the `SSL` and `SASL_SSL` security
    /// protocols.
    #[cfg(feature = "tls")]
    pub tls: Option<crate::tls::TlsConfig>,
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Credentials are never shown: only the mechanism's name.
        f.debug_struct("ClientConfig")
            .field("bootstrap", &self.bootstrap)
            .field("client_id", &self.client_id)
            .field("request_timeout", &self.request_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("metadata_max_age", &self.metadata_max_age)
            .field("reconnect_backoff", &self.reconnect_backoff)
            .field("retry_backoff", &self.retry_backoff)
            .field("max_in_flight", &self.max_in_flight)
            .field("max_response_size", &self.max_response_size)
            .field("allow_auto_topic_creation", &self.allow_auto_topic_creation)
            .field("sasl", &self.sasl.as_ref().map(Sasl::mechanism))
            .field("oauth", &self.oauth.as_ref().map(|_| "OAUTHBEARER"))
            .field("address_map", &self.address_map.as_ref().map(|_| "<fn>"))
            .field("enable_metrics_push", &self.enable_metrics_push)
            .field("security_protocol", &self.security_protocol())
            .finish()
    }
}

impl ClientConfig {
    /// Defaults for the comma-separated `bootstrap` list.
    pub fn new(bootstrap: &str) -> Self {
        ClientConfig {
            bootstrap: bootstrap
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            client_id: "mq-rust".to_owned(),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            metadata_max_age: Duration::from_secs(300),
            reconnect_backoff: BackoffConfig {
                initial: Duration::from_millis(50),
                max: Duration::from_secs(1),
                ..BackoffConfig::default()
            },
            retry_backoff: BackoffConfig {
                initial: Duration::from_millis(100),
                max: Duration::from_secs(1),
                ..BackoffConfig::default()
            },
            max_in_flight: 5,
            max_response_size: 100 * 1024 * 1024,
            allow_auto_topic_creation: false,
            sasl: None,
            oauth: None,
            address_map: None,
            enable_metrics_push: true,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// The security protocol these settings amount to, by the Java
    /// client's names: `PLAINTEXT`, `SSL`, `SASL_PLAINTEXT`, `SASL_SSL`.
    pub fn security_protocol(&self) -> &'static str {
        #[cfg(feature = "tls")]
        let tls = self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        let tls = false;
        match (tls, self.sasl.is_some() || self.oauth.is_some()) {
            (false, false) => "PLAINTEXT",
            (true, false) => "SSL",
            (false, true) => "SASL_PLAINTEXT",
            (true, true) => "SASL_SSL",
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        if self.bootstrap.is_empty() {
            return Err(Error::Config("the bootstrap list is empty".into()));
        }
        for entry in &self.bootstrap {
            split_host_port(entry)?;
        }
        if self.max_in_flight == 0 {
            return Err(Error::Config("max_in_flight must be at least 1".into()));
        }
        if self.request_timeout.is_zero() {
            return Err(Error::Config("request_timeout must not be zero".into()));
        }
        Ok(())
    }

    /// The address to dial for an advertised `host:port`.
    pub(crate) fn dial_address(&self, host: &str, port: u16) -> String {
        match &self.address_map {
            Some(map) => map(host, port),
            None => format!("{host}:{port}"),
        }
    }

    /// The SASL credentials to log in with now: the OAuth provider's
    /// current token, else the configured credentials.
    pub(crate) async fn current_sasl(&self) -> Result<Option<Sasl>> {
        match &self.oauth {
            Some(oauth) => Ok(Some(oauth.sasl().await?)),
            None => Ok(self.sasl.clone()),
        }
    }

    /// The sans-IO connection's settings for logging in with `sasl`, with
    /// a fresh SCRAM nonce for each connection.
    pub(crate) fn connection_config(&self, sasl: Option<Sasl>) -> Result<kafka_proto::Config> {
        let sasl_nonce = match &sasl {
            Some(sasl) if sasl.needs_nonce() => Some(scram_nonce()?),
            _ => None,
        };
        Ok(kafka_proto::Config {
            client_id: Some(self.client_id.clone()),
            max_response_size: self.max_response_size,
            request_timeout: self.request_timeout,
            sasl,
            sasl_nonce,
            ..kafka_proto::Config::default()
        })
    }
}

/// A SCRAM client nonce: 24 bytes from the operating system's CSPRNG.
pub(crate) fn scram_nonce() -> Result<String> {
    let mut random = [0u8; 24];
    getrandom::fill(&mut random)
        .map_err(|e| Error::Config(format!("no random bytes for the SCRAM nonce: {e}")))?;
    Ok(kafka_proto::connection::SaslScram::nonce_from_random(
        &random,
    ))
}

/// Splits `host:port` (IPv6 hosts in brackets).
pub(crate) fn split_host_port(entry: &str) -> Result<(String, u16)> {
    let bad = || Error::Config(format!("bootstrap entry {entry:?} is not host:port"));
    let (host, port) = entry.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host.to_owned(), port))
}

/// Builder methods shared by the producer, admin and reader builders.
macro_rules! client_config_setters {
    () => {
        /// The `client.id` sent to brokers.
        pub fn client_id(mut self, id: impl Into<String>) -> Self {
            self.client.client_id = id.into();
            self
        }

        /// How long a request may wait for its response.
        pub fn request_timeout(mut self, timeout: ::std::time::Duration) -> Self {
            self.client.request_timeout = timeout;
            self
        }

        /// How long connecting (TCP and ApiVersions) may take.
        pub fn connect_timeout(mut self, timeout: ::std::time::Duration) -> Self {
            self.client.connect_timeout = timeout;
            self
        }

        /// The longest time between metadata refreshes.
        pub fn metadata_max_age(mut self, age: ::std::time::Duration) -> Self {
            self.client.metadata_max_age = age;
            self
        }

        /// Backoff between reconnect attempts.
        pub fn reconnect_backoff(mut self, backoff: $crate::backoff::BackoffConfig) -> Self {
            self.client.reconnect_backoff = backoff;
            self
        }

        /// Backoff between retries.
        pub fn retry_backoff(mut self, backoff: $crate::backoff::BackoffConfig) -> Self {
            self.client.retry_backoff = backoff;
            self
        }

        /// SASL credentials.
        pub fn sasl(mut self, sasl: ::kafka_proto::connection::Sasl) -> Self {
            self.client.sasl = Some(sasl);
            self
        }

        /// SASL OAUTHBEARER with a token provider (see
        /// [`OAuthBearer`](crate::kafka::OAuthBearer)).
        pub fn oauth_bearer(mut self, oauth: $crate::kafka::OAuthBearer) -> Self {
            self.client.oauth = Some(oauth);
            self
        }

        /// TLS settings: connects with TLS (the `SSL` security protocol,
        /// or `SASL_SSL` with [`sasl`](Self::sasl)).
        #[cfg(feature = "tls")]
        pub fn tls(mut self, tls: $crate::tls::TlsConfig) -> Self {
            self.client.tls = Some(tls);
            self
        }

        /// Rewrites advertised broker addresses before dialling (for
        /// proxies and tunnels).
        pub fn address_map(
            mut self,
            map: impl Fn(&str, u16) -> String + Send + Sync + 'static,
        ) -> Self {
            self.client.address_map = Some(::std::sync::Arc::new(map));
            self
        }

        /// Whether the client pushes its metrics to brokers that subscribe
        /// to them (KIP-714, `enable.metrics.push`). Default `true`.
        pub fn enable_metrics_push(mut self, enable: bool) -> Self {
            self.client.enable_metrics_push = enable;
            self
        }

        /// Replaces every common setting at once.
        pub fn client_config(mut self, config: $crate::kafka::ClientConfig) -> Self {
            self.client = config;
            self
        }
    };
}
pub(crate) use client_config_setters;

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_proto::connection::SaslPlain;

    #[test]
    fn parses_bootstrap_lists() {
        let c = ClientConfig::new("127.0.0.1:9092, localhost:9093,,[::1]:9094");
        assert_eq!(c.bootstrap.len(), 3);
        c.validate().unwrap();
        assert_eq!(
            split_host_port("[::1]:9094").unwrap(),
            ("::1".to_owned(), 9094)
        );
        assert!(ClientConfig::new("").validate().is_err());
        assert!(ClientConfig::new("nohost").validate().is_err());
        assert!(ClientConfig::new("h:notaport").validate().is_err());
    }

    #[test]
    fn debug_hides_credentials() {
        let mut c = ClientConfig::new("127.0.0.1:9092");
        c.sasl = Some(Sasl::Plain(SaslPlain::new("alice", "s3cr3t-pw")));
        let shown = format!("{c:?}");
        assert!(shown.contains("PLAIN"), "{shown}");
        assert!(
            !shown.contains("s3cr3t-pw") && !shown.contains("alice"),
            "{shown}"
        );
    }

    #[test]
    fn address_map_rewrites() {
        let mut c = ClientConfig::new("127.0.0.1:9092");
        assert_eq!(c.dial_address("b1", 9092), "b1:9092");
        c.address_map = Some(Arc::new(|_, port| format!("127.0.0.1:{}", port + 1)));
        assert_eq!(c.dial_address("b1", 9092), "127.0.0.1:9093");
    }
}
