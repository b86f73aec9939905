//! Connection settings: the builder, recovery settings and the limits that
//! keep every queue bounded.

use std::time::Duration;

use amqp_proto::FieldTable;

use super::error::{Error, Result};
use super::uri::{AmqpUri, AuthMechanism};
use crate::backoff::BackoffConfig;

/// Automatic recovery settings. On by default.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecoveryConfig {
    /// Reconnect after a connection loss.
    pub enabled: bool,
    /// Delays between attempts (initial, max, jitter, attempts).
    pub backoff: BackoffConfig,
    /// Re-declare recorded exchanges, queues, bindings after reconnecting.
    pub topology: bool,
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        RecoveryConfig {
            enabled: true,
            backoff: BackoffConfig {
                initial: Duration::from_millis(100),
                max: Duration::from_secs(5),
                multiplier: 2.0,
                jitter: 0.2,
                max_attempts: None,
            },
            topology: true,
        }
    }
}

impl RecoveryConfig {
    /// No recovery: a lost connection stays closed.
    pub fn disabled() -> Self {
        RecoveryConfig {
            enabled: false,
            ..Self::default()
        }
    }
}

/// Every setting of a connection, in one place: the builder's setters
/// write here, and [`ConnectionBuilder::connect`] fills what the builder
/// left unset from the first URI's query parameters, then from the
/// defaults.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// Parsed when the connection is built.
    pub(crate) uris: Vec<AmqpUri>,
    pub(crate) name: Option<String>,
    /// `None`: the URI's, else the core's default.
    pub(crate) heartbeat: Option<u16>,
    pub(crate) frame_max: Option<u32>,
    pub(crate) channel_max: Option<u16>,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) auth_mechanism: Option<AuthMechanism>,
    pub(crate) operation_timeout: Duration,
    pub(crate) close_timeout: Duration,
    /// How long a [`Confirm`](super::Confirm) waits for the broker;
    /// `None`: as long as it takes.
    pub(crate) confirm_timeout: Option<Duration>,
    pub(crate) recovery: RecoveryConfig,
    pub(crate) client_properties: FieldTable,
    pub(crate) command_queue: usize,
    pub(crate) publish_queue: usize,
    pub(crate) high_water_mark: usize,
    pub(crate) max_held_deliveries: usize,
    pub(crate) max_body_size: u64,
    pub(crate) read_coalescing: Duration,
    /// The builder's TLS settings; `None`: each `amqps://` URI's own
    /// parameters.
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<crate::tls::TlsConfig>,
    /// The TLS settings for each URI (`None` for `amqp://`), filled by
    /// `resolve`.
    #[cfg(feature = "tls")]
    pub(crate) tls_by_uri: Vec<Option<crate::tls::TlsConfig>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            uris: Vec::new(),
            name: None,
            heartbeat: None,
            frame_max: None,
            channel_max: None,
            connect_timeout: None,
            auth_mechanism: None,
            operation_timeout: Duration::from_secs(30),
            close_timeout: Duration::from_secs(5),
            confirm_timeout: None,
            recovery: RecoveryConfig::default(),
            client_properties: FieldTable::new(),
            command_queue: 1024,
            publish_queue: 1024,
            high_water_mark: 4 << 20,
            max_held_deliveries: 16_384,
            max_body_size: 128 << 20,
            read_coalescing: Duration::from_millis(1),
            #[cfg(feature = "tls")]
            tls: None,
            #[cfg(feature = "tls")]
            tls_by_uri: Vec::new(),
        }
    }
}

impl Config {
    /// The label used in tracing and the connection_name property.
    pub(crate) fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| "amqp".to_owned())
    }

    /// The limit for TCP connect plus handshake.
    pub(crate) fn connect_timeout(&self) -> Duration {
        self.connect_timeout.unwrap_or(Duration::from_secs(10))
    }

    /// The TLS settings for the `i`th URI, `None` for plain TCP.
    #[cfg(feature = "tls")]
    pub(crate) fn tls_for(&self, i: usize) -> Option<&crate::tls::TlsConfig> {
        self.tls_by_uri.get(i).and_then(Option::as_ref)
    }

    /// The SASL mechanism to log in with.
    pub(crate) fn auth_mechanism(&self) -> AuthMechanism {
        self.auth_mechanism.unwrap_or_default()
    }

    /// Parses the URIs and fills the settings the builder left unset from
    /// the first one's query parameters.
    fn resolve(mut self, uris: &[String]) -> Result<Config> {
        self.uris = uris
            .iter()
            .map(|u| u.parse::<AmqpUri>())
            .collect::<std::result::Result<_, _>>()?;
        let Some(first) = self.uris.first() else {
            return Err(Error::Usage("no broker URI given"));
        };
        #[cfg(not(feature = "tls"))]
        if self.uris.iter().any(|u| u.tls) {
            return Err(Error::Usage(
                "amqps:// needs mq-client's tls feature, which this build does not have",
            ));
        }
        #[cfg(feature = "tls")]
        {
            self.tls_by_uri = self
                .uris
                .iter()
                .map(|u| u.tls.then(|| self.tls.clone().unwrap_or_else(|| tls_of(u))))
                .collect();
        }
        self.heartbeat = self.heartbeat.or(first.heartbeat);
        self.frame_max = self.frame_max.or(first.frame_max);
        self.channel_max = self.channel_max.or(first.channel_max);
        self.connect_timeout = self.connect_timeout.or(first.connection_timeout);
        self.auth_mechanism = self.auth_mechanism.or(first.auth_mechanism);
        Ok(self)
    }
}

/// TLS settings from an `amqps://` URI's parameters.
#[cfg(feature = "tls")]
fn tls_of(uri: &AmqpUri) -> crate::tls::TlsConfig {
    let p = &uri.tls_params;
    let mut tls = crate::tls::TlsConfig::new();
    if let Some(ca) = &p.cacertfile {
        tls = tls.ca_file(ca);
    }
    if let (Some(cert), Some(key)) = (&p.certfile, &p.keyfile) {
        tls = tls.client_cert_files(cert, key);
    }
    match p.server_name_indication.as_deref() {
        Some("disable") => tls = tls.sni(false),
        Some(name) => tls = tls.server_name(name),
        None => {}
    }
    tls.danger_accept_invalid_certs(p.verify_none)
}

/// Builds a [`Connection`](super::Connection).
///
/// ```no_run
/// # async fn f() -> Result<(), mq_client::amqp::Error> {
/// use std::time::Duration;
/// use mq_client::amqp::{AuthMechanism, Connection, RecoveryConfig};
/// let conn = Connection::builder()
///     .uris(["amqp://guest:guest@127.0.0.1:5672/%2f"])
///     .name("orders")
///     .heartbeat(Duration::from_secs(10))
///     .auth_mechanism(AuthMechanism::AmqPlain)
///     .operation_timeout(Duration::from_secs(5))
///     .confirm_timeout(Duration::from_secs(30))
///     .recovery(RecoveryConfig::default())
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct ConnectionBuilder {
    /// As given; parsed by `connect`.
    uris: Vec<String>,
    config: Config,
}

impl std::fmt::Debug for ConnectionBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URIs as their redacting Display shows them: never the password.
        let uris: Vec<String> = self
            .uris
            .iter()
            .map(|u| match u.parse::<AmqpUri>() {
                Ok(u) => u.to_string(),
                Err(e) => format!("<invalid URI: {e}>"),
            })
            .collect();
        f.debug_struct("ConnectionBuilder")
            .field("uris", &uris)
            .field("name", &self.config.name)
            .field("heartbeat", &self.config.heartbeat)
            .field("auth_mechanism", &self.config.auth_mechanism)
            .field("operation_timeout", &self.config.operation_timeout)
            .field("confirm_timeout", &self.config.confirm_timeout)
            .field("recovery", &self.config.recovery)
            .finish_non_exhaustive()
    }
}

impl ConnectionBuilder {
    /// The broker URI (`amqp://user:pass@host:port/vhost?heartbeat=..`).
    pub fn uri(mut self, uri: impl Into<String>) -> Self {
        self.uris = vec![uri.into()];
        self
    }
    /// Several URIs, tried in order when connecting and recovering.
    pub fn uris<I, S>(mut self, uris: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.uris = uris.into_iter().map(Into::into).collect();
        self
    }
    /// The connection name, shown in the management UI and in tracing.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.config.name = Some(name.into());
        self
    }
    /// The heartbeat interval wanted (whole seconds; zero turns heartbeats
    /// off if the server agrees). Overrides the URI's `heartbeat`.
    pub fn heartbeat(mut self, interval: Duration) -> Self {
        self.config.heartbeat = Some(interval.as_secs().min(u64::from(u16::MAX)) as u16);
        self
    }
    /// The largest frame wanted. Overrides the URI's `frame_max`.
    pub fn frame_max(mut self, bytes: u32) -> Self {
        self.config.frame_max = Some(bytes);
        self
    }
    /// The highest channel number wanted. Overrides the URI's `channel_max`.
    pub fn channel_max(mut self, n: u16) -> Self {
        self.config.channel_max = Some(n);
        self
    }
    /// Limit for TCP connect plus handshake. Default: the URI's
    /// `connection_timeout`, else 10 s.
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.config.connect_timeout = Some(t);
        self
    }
    /// The SASL mechanism to log in with. Overrides the URI's
    /// `auth_mechanism`; default PLAIN. A mechanism the broker does not
    /// offer fails the connect with [`Error::Refused`] before any
    /// credential is sent.
    pub fn auth_mechanism(mut self, mechanism: AuthMechanism) -> Self {
        self.config.auth_mechanism = Some(mechanism);
        self
    }
    /// Limit for every RPC (declares, binds, qos, consume, get, close...)
    /// and for a publish waiting for room. Default 30 s.
    pub fn operation_timeout(mut self, t: Duration) -> Self {
        self.config.operation_timeout = t;
        self
    }
    /// Limit for a graceful close: outstanding confirms, then the channel
    /// and connection close handshakes. Default 5 s.
    pub fn close_timeout(mut self, t: Duration) -> Self {
        self.config.close_timeout = t;
        self
    }
    /// How long a [`Confirm`](super::Confirm) waits for the broker's
    /// verdict, counted from the publish, before it fails with
    /// [`Error::ConfirmTimeout`] (while the broker blocks publishers, for
    /// example). The channel stays usable, and the publish itself is not
    /// withdrawn: it may still reach a queue. Default: no limit.
    /// [`PublishOptions::confirm_timeout`](super::PublishOptions::confirm_timeout)
    /// overrides it per publish.
    pub fn confirm_timeout(mut self, t: Duration) -> Self {
        self.config.confirm_timeout = Some(t);
        self
    }
    /// TLS settings for `amqps://` URIs, instead of the URIs' own
    /// `cacertfile`, `certfile`, `keyfile`, `verify` and
    /// `server_name_indication` parameters. `amqp://` URIs stay plain TCP.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: crate::tls::TlsConfig) -> Self {
        self.config.tls = Some(tls);
        self
    }
    /// Recovery settings.
    pub fn recovery(mut self, r: RecoveryConfig) -> Self {
        self.config.recovery = r;
        self
    }
    /// Extra client properties, sent after the defaults.
    pub fn client_properties(mut self, t: FieldTable) -> Self {
        self.config.client_properties = t;
        self
    }
    /// Capacity of the command queue (RPCs, acks) and of the publish
    /// queue to the driver. Default 1024 each.
    pub fn queue_capacity(mut self, commands: usize, publishes: usize) -> Self {
        self.config.command_queue = commands.max(1);
        self.config.publish_queue = publishes.max(1);
        self
    }
    /// Bytes waiting to be written above which the driver stops taking
    /// publishes. Default 4 MiB.
    pub fn high_water_mark(mut self, bytes: usize) -> Self {
        self.config.high_water_mark = bytes.max(1);
        self
    }
    /// Deliveries the driver holds for consumers whose queues are full
    /// before it stops reading the socket. Default 16384.
    pub fn max_held_deliveries(mut self, n: usize) -> Self {
        self.config.max_held_deliveries = n.max(1);
        self
    }
    /// The largest message body accepted. Default 128 MiB.
    pub fn max_body_size(mut self, bytes: u64) -> Self {
        self.config.max_body_size = bytes;
        self
    }
    /// How long incoming bytes may pile up in the socket while the
    /// broker streams to this connection: while 128 or more publisher
    /// confirms are outstanding, or while deliveries stream in (reads of
    /// 4 KiB or more, with room for 128 or more deliveries in the
    /// consumers' prefetch windows). The driver then wakes for a batch
    /// (of ack frames, or up to 16 KiB of deliveries) rather than for
    /// every TCP segment, which takes most of the CPU time out of a
    /// confirmed publish or a consumed message, at the cost of up to this
    /// much (plus the timer's millisecond granularity) added to the
    /// latency of what comes meanwhile or within a linger after the
    /// stream stops. The batch adapts to the traffic, and is dropped when
    /// the broker goes quiet or the stream thins out: a publish or
    /// delivery on a quiet connection is never held. Zero turns it off.
    /// Linux only (elsewhere it is off). Default 1 ms.
    pub fn read_coalescing(mut self, linger: Duration) -> Self {
        self.config.read_coalescing = linger;
        self
    }

    pub(crate) fn build(self) -> Result<Config> {
        self.config.resolve(&self.uris)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amqp::uri::UriError;

    #[test]
    fn builder_debug_hides_the_password() {
        let b = ConnectionBuilder::default()
            .uris(["amqp://u:hunter2@h/%2f", "amqp://u:hunter2@h:bad"])
            .name("n");
        let text = format!("{b:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("amqp://u:***@h:5672/"), "{text}");
    }

    #[test]
    fn uri_parameters_fill_in_unset_options() {
        let c = ConnectionBuilder::default()
            .uri("amqp://h/?heartbeat=5&frame_max=8192&channel_max=7&connection_timeout=1500")
            .build()
            .unwrap();
        assert_eq!(c.heartbeat, Some(5));
        assert_eq!(c.frame_max, Some(8192));
        assert_eq!(c.channel_max, Some(7));
        assert_eq!(c.connect_timeout(), Duration::from_millis(1500));
        let c = ConnectionBuilder::default()
            .uri("amqp://h/?heartbeat=5")
            .heartbeat(Duration::from_secs(9))
            .build()
            .unwrap();
        assert_eq!(c.heartbeat, Some(9), "the builder wins over the URI");
        let c = ConnectionBuilder::default()
            .uri("amqp://h/?auth_mechanism=amqplain")
            .build()
            .unwrap();
        assert_eq!(c.auth_mechanism(), AuthMechanism::AmqPlain);
        let c = ConnectionBuilder::default()
            .uri("amqp://h/?auth_mechanism=amqplain")
            .auth_mechanism(AuthMechanism::Plain)
            .build()
            .unwrap();
        assert_eq!(c.auth_mechanism(), AuthMechanism::Plain);
        assert_eq!(
            ConnectionBuilder::default()
                .uri("amqp://h/")
                .build()
                .unwrap()
                .auth_mechanism(),
            AuthMechanism::Plain
        );
        assert!(matches!(
            ConnectionBuilder::default()
                .uri("amqp://h/?auth_mechanism=gssapi")
                .build(),
            Err(Error::InvalidUri(UriError::AuthMechanism(_)))
        ));
        assert!(matches!(
            ConnectionBuilder::default().build(),
            Err(Error::Usage(_))
        ));
    }
}
