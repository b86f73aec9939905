//! Connection settings from `key=value` properties, by the Java client's
//! names (`bootstrap.servers`, `security.protocol`, `ssl.truststore.location`,
//! `sasl.mechanism`, `sasl.jaas.config`, ...), with librdkafka's names for
//! the same things (`ssl.ca.location`, `sasl.username`, ...) so that a
//! kcat user's `-X` flags work too.
//!
//! Values of secret properties (passwords, JAAS configs, inline keys) never
//! appear in an error.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_proto::connection::{Sasl, SaslPlain};

use super::config::ClientConfig;
use super::error::{Error, Result};

/// Properties whose values are secret: never echoed.
fn is_secret(key: &str) -> bool {
    key.contains("password")
        || key.contains("jaas")
        || key == "ssl.keystore.key"
        || key.contains("secret")
        || key.contains("token")
}

/// A property's value as an error may show it.
fn shown(key: &str, value: &str) -> String {
    if is_secret(key) {
        "<redacted>".to_owned()
    } else {
        format!("{value:?}")
    }
}

fn bad(key: &str, value: &str, why: &str) -> Error {
    Error::Config(format!("{key}={}: {why}", shown(key, value)))
}

/// The settings properties asked for, gathered before the credentials
/// and TLS settings are put together.
#[derive(Default)]
struct Gathered {
    protocol: Option<String>,
    mechanism: Option<String>,
    username: Option<String>,
    password: Option<String>,
    /// An unsecured-JWT principal (development only).
    unsecured_principal: Option<String>,
    unsecured_jwt: bool,
    #[cfg(feature = "tls")]
    tls: TlsProps,
}

#[cfg(feature = "tls")]
#[derive(Default)]
struct TlsProps {
    ca_file: Option<String>,
    ca_pem: Option<String>,
    cert_file: Option<String>,
    key_file: Option<String>,
    keystore_file: Option<String>,
    cert_pem: Option<String>,
    key_pem: Option<String>,
    no_verify: bool,
    /// `ssl.keystore.type` and `ssl.truststore.type` are PKCS12.
    keystore_pkcs12: bool,
    truststore_pkcs12: bool,
    keystore_password: Option<String>,
    truststore_password: Option<String>,
    key_password: Option<String>,
}

impl ClientConfig {
    /// Settings from properties by the Java client's names (and
    /// librdkafka's), starting from the defaults. `bootstrap.servers` is
    /// required. A property this client does not know is an error, so a
    /// typo is not silently ignored.
    ///
    /// ```
    /// # fn f() -> Result<(), mq_client::kafka::Error> {
    /// use mq_client::kafka::ClientConfig;
    /// let config = ClientConfig::from_properties([
    ///     ("bootstrap.servers", "127.0.0.1:9092"),
    ///     ("client.id", "billing"),
    ///     ("security.protocol", "SASL_PLAINTEXT"),
    ///     ("sasl.mechanism", "PLAIN"),
    ///     ("sasl.username", "alice"),
    ///     ("sasl.password", "alice-secret"),
    /// ])?;
    /// assert_eq!(config.security_protocol(), "SASL_PLAINTEXT");
    /// # Ok(()) }
    /// ```
    pub fn from_properties<I, K, V>(props: I) -> Result<ClientConfig>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let props: BTreeMap<String, String> = props
            .into_iter()
            .map(|(k, v)| (k.as_ref().trim().to_owned(), v.as_ref().trim().to_owned()))
            .collect();
        let bootstrap = props
            .get("bootstrap.servers")
            .or_else(|| props.get("metadata.broker.list"))
            .ok_or_else(|| Error::Config("bootstrap.servers is required".into()))?;
        let mut config = ClientConfig::new(bootstrap);
        config.apply_properties(
            props
                .iter()
                .filter(|(k, _)| *k != "bootstrap.servers" && *k != "metadata.broker.list"),
        )?;
        config.validate()?;
        Ok(config)
    }

    /// Applies properties (by the Java client's or librdkafka's names) over
    /// these settings. See [`from_properties`](Self::from_properties).
    pub fn apply_properties<I, K, V>(&mut self, props: I) -> Result<()>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut g = Gathered::default();
        for (k, v) in props {
            self.apply_one(&mut g, k.as_ref().trim(), v.as_ref().trim())?;
        }
        self.secure(g)
    }

    fn apply_one(&mut self, g: &mut Gathered, key: &str, value: &str) -> Result<()> {
        let ms = || -> Result<Duration> {
            value
                .parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|_| bad(key, value, "not a number of milliseconds"))
        };
        match key {
            "bootstrap.servers" | "metadata.broker.list" => {
                *self = ClientConfig {
                    bootstrap: ClientConfig::new(value).bootstrap,
                    ..self.clone()
                };
            }
            "client.id" => self.client_id = value.to_owned(),
            "enable.metrics.push" => {
                self.enable_metrics_push = match value.to_ascii_lowercase().as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(bad(key, value, "not true or false")),
                }
            }
            "request.timeout.ms" => self.request_timeout = ms()?,
            "socket.connection.setup.timeout.ms" | "socket.timeout.ms" => {
                self.connect_timeout = ms()?
            }
            "metadata.max.age.ms" => self.metadata_max_age = ms()?,
            "reconnect.backoff.ms" => self.reconnect_backoff.initial = ms()?,
            "reconnect.backoff.max.ms" => self.reconnect_backoff.max = ms()?,
            "retry.backoff.ms" => self.retry_backoff.initial = ms()?,
            "retry.backoff.max.ms" => self.retry_backoff.max = ms()?,
            "max.in.flight.requests.per.connection" | "max.in.flight" => {
                self.max_in_flight = value.parse().map_err(|_| bad(key, value, "not a count"))?
            }
            "security.protocol" => g.protocol = Some(value.to_ascii_uppercase()),
            "sasl.mechanism" | "sasl.mechanisms" => g.mechanism = Some(value.to_ascii_uppercase()),
            "sasl.username" => g.username = Some(value.to_owned()),
            "sasl.password" => g.password = Some(value.to_owned()),
            "sasl.jaas.config" if value.contains("OAuthBearerLoginModule") => {
                g.unsecured_principal = Some(jaas_option(value, "unsecuredLoginStringClaim_sub")
                    .ok_or_else(|| bad(key, value, "OAUTHBEARER from properties takes only unsecuredLoginStringClaim_sub (development); give a token provider with OAuthBearer::new"))?);
                g.unsecured_jwt = true;
            }
            "sasl.jaas.config" => {
                let (user, pass) = jaas_credentials(value)?;
                g.username = Some(user);
                g.password = Some(pass);
            }
            "enable.sasl.oauthbearer.unsecure.jwt" => match value {
                "true" => g.unsecured_jwt = true,
                "false" => g.unsecured_jwt = false,
                _ => return Err(bad(key, value, "true or false")),
            },
            "sasl.oauthbearer.config" => {
                // librdkafka's `principal=alice [scope=...]`.
                let principal = value
                    .split_whitespace()
                    .find_map(|kv| kv.strip_prefix("principal="))
                    .ok_or_else(|| bad(key, value, "needs principal=<name>"))?;
                g.unsecured_principal = Some(principal.to_owned());
            }
            #[cfg(feature = "tls")]
            _ if key.starts_with("ssl.") || key == "enable.ssl.certificate.verification" => {
                tls_property(&mut g.tls, key, value)?
            }
            _ => {
                return Err(Error::Config(format!(
                    "unknown property {key} (or one this client does not support)"
                )));
            }
        }
        Ok(())
    }

    /// Puts the security protocol, SASL and TLS settings together.
    fn secure(&mut self, g: Gathered) -> Result<()> {
        let Some(protocol) = g.protocol.as_deref() else {
            if g.mechanism.is_some() || g.username.is_some() {
                return Err(Error::Config(
                    "SASL settings need security.protocol=SASL_PLAINTEXT or SASL_SSL".into(),
                ));
            }
            return Ok(());
        };
        let (tls, sasl) = match protocol {
            "PLAINTEXT" => (false, false),
            "SSL" => (true, false),
            "SASL_PLAINTEXT" => (false, true),
            "SASL_SSL" => (true, true),
            other => {
                return Err(bad(
                    "security.protocol",
                    other,
                    "use PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
                ));
            }
        };
        self.oauth = None;
        self.sasl = None;
        if sasl && g.mechanism.as_deref() == Some("OAUTHBEARER") {
            match (&g.unsecured_principal, g.unsecured_jwt) {
                (Some(p), true) => {
                    self.oauth = Some(super::oauth::OAuthBearer::unsecured(
                        p.clone(),
                        Duration::from_secs(3600),
                    ));
                }
                _ => {
                    return Err(Error::Config(
                        "sasl.mechanism=OAUTHBEARER needs a token provider \
                         (ClientConfig::oauth or the builders' oauth_bearer); from properties only \
                         unsecured development tokens (enable.sasl.oauthbearer.unsecure.jwt=true \
                         with sasl.oauthbearer.config=principal=<name>)"
                            .into(),
                    ));
                }
            }
        } else if sasl {
            self.sasl = Some(sasl_of(&g)?);
        }
        if tls {
            #[cfg(feature = "tls")]
            {
                self.tls = Some(tls_of(g.tls)?);
            }
            #[cfg(not(feature = "tls"))]
            return Err(Error::Config(format!(
                "security.protocol={protocol} needs mq-client's tls feature, which this build does not have"
            )));
        } else {
            #[cfg(feature = "tls")]
            {
                self.tls = None;
            }
        }
        Ok(())
    }
}

/// The SASL credentials the properties name.
fn sasl_of(g: &Gathered) -> Result<Sasl> {
    let mechanism = g.mechanism.as_deref().ok_or_else(|| {
        Error::Config("SASL needs sasl.mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)".into())
    })?;
    let username = || {
        g.username.clone().ok_or_else(|| {
            Error::Config(format!(
                "SASL {mechanism} needs a user name (sasl.username or sasl.jaas.config)"
            ))
        })
    };
    let password = || {
        g.password.clone().ok_or_else(|| {
            Error::Config(format!(
                "SASL {mechanism} needs a password (sasl.password or sasl.jaas.config)"
            ))
        })
    };
    match mechanism {
        "PLAIN" => Ok(Sasl::Plain(SaslPlain::new(username()?, password()?))),
        "SCRAM-SHA-256" => Ok(Sasl::scram_sha256(username()?, password()?)),
        "SCRAM-SHA-512" => Ok(Sasl::scram_sha512(username()?, password()?)),
        other => Err(bad(
            "sasl.mechanism",
            other,
            "not supported (use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)",
        )),
    }
}

/// The value of option `name` in a JAAS login module line.
fn jaas_option(jaas: &str, name: &str) -> Option<String> {
    let at = jaas.find(&format!("{name}="))?;
    let after = jaas[at + name.len() + 1..].trim_start();
    let value = match after.strip_prefix('"') {
        Some(q) => &q[..q.find('"')?],
        None => after
            .split(|c: char| c.is_whitespace() || c == ';')
            .next()
            .unwrap_or(""),
    };
    Some(value.to_owned())
}

/// The `username="..." password="..."` options of a JAAS login module line
/// (`org.apache.kafka.common.security.plain.PlainLoginModule required
/// username="alice" password="secret";`).
fn jaas_credentials(jaas: &str) -> Result<(String, String)> {
    let mut user = None;
    let mut pass = None;
    let mut rest = jaas;
    while let Some(eq) = rest.find('=') {
        let name = rest[..eq]
            .rsplit(|c: char| c.is_whitespace())
            .next()
            .unwrap_or("");
        let after = rest[eq + 1..].trim_start();
        let (value, tail) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => return Err(bad("sasl.jaas.config", jaas, "an unclosed quote")),
            }
        } else {
            let end = after
                .find(|c: char| c.is_whitespace() || c == ';')
                .unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        match name {
            "username" => user = Some(value.to_owned()),
            "password" => pass = Some(value.to_owned()),
            _ => {}
        }
        rest = tail;
    }
    match (user, pass) {
        (Some(u), Some(p)) => Ok((u, p)),
        _ => Err(bad(
            "sasl.jaas.config",
            jaas,
            "needs username=\"...\" and password=\"...\"",
        )),
    }
}

#[cfg(feature = "tls")]
fn tls_property(t: &mut TlsProps, key: &str, value: &str) -> Result<()> {
    // Whether a store type names PKCS12 (else PEM).
    let pkcs12 = |v: &str| {
        if v.eq_ignore_ascii_case("PEM") {
            Ok(false)
        } else if v.eq_ignore_ascii_case("PKCS12") {
            Ok(true)
        } else {
            Err(bad(key, v, "PEM and PKCS12 stores are supported, not JKS"))
        }
    };
    match key {
        "ssl.truststore.location" | "ssl.ca.location" => t.ca_file = Some(value.to_owned()),
        "ssl.truststore.certificates" | "ssl.ca.pem" => t.ca_pem = Some(value.to_owned()),
        "ssl.truststore.type" => t.truststore_pkcs12 = pkcs12(value)?,
        "ssl.keystore.type" => t.keystore_pkcs12 = pkcs12(value)?,
        "ssl.keystore.password" => t.keystore_password = Some(value.to_owned()),
        "ssl.truststore.password" => t.truststore_password = Some(value.to_owned()),
        "ssl.key.password" => t.key_password = Some(value.to_owned()),
        "ssl.keystore.location" => t.keystore_file = Some(value.to_owned()),
        "ssl.certificate.location" => t.cert_file = Some(value.to_owned()),
        "ssl.key.location" => t.key_file = Some(value.to_owned()),
        "ssl.keystore.certificate.chain" | "ssl.certificate.pem" => {
            t.cert_pem = Some(value.to_owned())
        }
        "ssl.keystore.key" | "ssl.key.pem" => t.key_pem = Some(value.to_owned()),
        "ssl.endpoint.identification.algorithm" => match value.to_ascii_lowercase().as_str() {
            "https" => {}
            _ => {
                return Err(bad(
                    key,
                    value,
                    "only https (host name verification) is supported",
                ));
            }
        },
        "enable.ssl.certificate.verification" => match value {
            "true" => t.no_verify = false,
            "false" => t.no_verify = true,
            _ => return Err(bad(key, value, "true or false")),
        },
        _ => {
            return Err(Error::Config(format!(
                "unsupported TLS property {key} (PEM or PKCS12 stores: ssl.truststore.location, \
                 ssl.keystore.location, or ssl.certificate.location + ssl.key.location)"
            )));
        }
    }
    Ok(())
}

#[cfg(feature = "tls")]
fn tls_of(t: TlsProps) -> Result<crate::tls::TlsConfig> {
    let mut tls = crate::tls::TlsConfig::new();
    let needs_pkcs12 = || {
        Error::Config(
            "PKCS12 stores need mq-client's pkcs12 feature, which this build does not have".into(),
        )
    };
    // A password only means something to a PKCS12 store (PEM keys here
    // are not encrypted): one given for PEM is an error, not ignored.
    let pem_password = |name: &str, password: &Option<String>| match password {
        Some(p) if !p.is_empty() => Err(Error::Config(format!(
            "{name} is set, but the store is PEM, whose key cannot be encrypted here \
             (set the store's type to PKCS12, or give an unencrypted PEM key)"
        ))),
        _ => Ok(()),
    };
    // One password opens a PKCS12 store and its key, as Java's keytool
    // makes them.
    if t.keystore_pkcs12 && t.key_password.is_some() && t.key_password != t.keystore_password {
        return Err(Error::Config(
            "ssl.key.password differs from ssl.keystore.password: \
             PKCS12 keys under a password of their own are not supported"
                .into(),
        ));
    }
    if let Some(ca) = t.ca_file {
        if t.truststore_pkcs12 {
            #[cfg(feature = "pkcs12")]
            {
                tls = tls.ca_pkcs12_file(ca, t.truststore_password.clone().unwrap_or_default());
            }
            #[cfg(not(feature = "pkcs12"))]
            return Err(needs_pkcs12());
        } else {
            tls = tls.ca_file(ca);
        }
    }
    if let Some(ca) = t.ca_pem {
        tls = tls.ca_pem(ca);
    }
    if let Some(store) = t.keystore_file {
        if t.keystore_pkcs12 {
            let password = t.keystore_password.clone().unwrap_or_default();
            #[cfg(feature = "pkcs12")]
            {
                tls = tls.client_pkcs12_file(store, password);
            }
            #[cfg(not(feature = "pkcs12"))]
            {
                let _ = (store, password);
                return Err(needs_pkcs12());
            }
        } else {
            pem_password("ssl.keystore.password", &t.keystore_password)?;
            pem_password("ssl.key.password", &t.key_password)?;
            // A PEM key store holds the key and the chain in one file.
            tls = tls.client_cert_files(store.clone(), store);
        }
    } else if t.keystore_pkcs12 && (t.cert_pem.is_some() || t.cert_file.is_some()) {
        return Err(Error::Config(
            "ssl.keystore.type=PKCS12 needs ssl.keystore.location".into(),
        ));
    }
    if !t.truststore_pkcs12 {
        pem_password("ssl.truststore.password", &t.truststore_password)?;
    }
    if let (Some(cert), Some(key)) = (t.cert_file, t.key_file) {
        tls = tls.client_cert_files(cert, key);
    }
    if let (Some(cert), Some(key)) = (t.cert_pem, t.key_pem) {
        tls = tls.client_cert_pem(cert, key);
    }
    let _ = needs_pkcs12;
    Ok(tls.danger_accept_invalid_certs(t.no_verify))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_properties() {
        let c = ClientConfig::from_properties([
            ("bootstrap.servers", "a:1,b:2"),
            ("client.id", "x"),
            ("request.timeout.ms", "1500"),
        ])
        .unwrap();
        assert_eq!(c.bootstrap, ["a:1", "b:2"]);
        assert_eq!(c.client_id, "x");
        assert_eq!(c.request_timeout, Duration::from_millis(1500));
        assert_eq!(c.security_protocol(), "PLAINTEXT");
    }

    #[test]
    fn oauthbearer_unsecured_from_properties() {
        for props in [
            [
                ("enable.sasl.oauthbearer.unsecure.jwt", "true"),
                ("sasl.oauthbearer.config", "principal=alice"),
            ],
            [
                (
                    "sasl.jaas.config",
                    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
                     unsecuredLoginStringClaim_sub=\"alice\";",
                ),
                ("client.id", "x"),
            ],
        ] {
            let mut all = vec![
                ("bootstrap.servers", "a:1"),
                ("security.protocol", "SASL_PLAINTEXT"),
                ("sasl.mechanism", "OAUTHBEARER"),
            ];
            all.extend(props);
            let c = ClientConfig::from_properties(all).unwrap();
            assert!(c.oauth.is_some() && c.sasl.is_none());
            assert_eq!(c.security_protocol(), "SASL_PLAINTEXT");
        }
        let e = ClientConfig::from_properties([
            ("bootstrap.servers", "a:1"),
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "OAUTHBEARER"),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("token provider"), "{e}");
    }

    #[test]
    fn sasl_from_jaas_or_username() {
        let c = ClientConfig::from_properties([
            ("bootstrap.servers", "a:1"),
            ("security.protocol", "sasl_plaintext"),
            ("sasl.mechanism", "PLAIN"),
            (
                "sasl.jaas.config",
                "org.apache.kafka.common.security.plain.PlainLoginModule required \
                 username=\"alice\" password=\"pa ss\";",
            ),
        ])
        .unwrap();
        assert_eq!(c.security_protocol(), "SASL_PLAINTEXT");
        match &c.sasl {
            Some(Sasl::Plain(p)) => {
                assert_eq!(p.username, "alice");
                assert_eq!(p.password, "pa ss");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_name_the_property_and_hide_secrets() {
        let e = ClientConfig::from_properties([("bootstrap.servers", "a:1"), ("lingr.ms", "5")])
            .unwrap_err();
        assert!(e.to_string().contains("lingr.ms"), "{e}");
        let e = ClientConfig::from_properties([
            ("bootstrap.servers", "a:1"),
            ("sasl.jaas.config", "username=\"alice\" password=\"hunter2"),
        ])
        .unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = ClientConfig::from_properties([
            ("bootstrap.servers", "a:1"),
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "GSSAPI"),
            ("sasl.username", "u"),
            ("sasl.password", "hunter2"),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("GSSAPI"), "{e}");
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = ClientConfig::from_properties([
            ("bootstrap.servers", "a:1"),
            ("sasl.mechanism", "PLAIN"),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("security.protocol"), "{e}");
        assert!(ClientConfig::from_properties([("client.id", "x")]).is_err());
    }

    #[cfg(feature = "tls")]
    #[test]
    fn tls_properties() {
        let c = ClientConfig::from_properties([
            ("bootstrap.servers", "a:1"),
            ("security.protocol", "SSL"),
            ("ssl.truststore.type", "PEM"),
            ("ssl.truststore.location", "/ca.pem"),
        ])
        .unwrap();
        assert_eq!(c.security_protocol(), "SSL");
        assert_eq!(c.tls, Some(crate::tls::TlsConfig::new().ca_file("/ca.pem")));
        let e = ClientConfig::from_properties([
            ("bootstrap.servers", "a:1"),
            ("security.protocol", "SSL"),
            ("ssl.truststore.type", "JKS"),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("PEM"), "{e}");
        // A password for a PEM store is refused, not ignored, and the
        // error does not echo it.
        let e = ClientConfig::from_properties([
            ("bootstrap.servers", "a:1"),
            ("security.protocol", "SSL"),
            ("ssl.keystore.location", "/client.pem"),
            ("ssl.keystore.password", "s3cr3t-pw"),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("ssl.keystore.password"), "{e}");
        assert!(!format!("{e} {e:?}").contains("s3cr3t-pw"), "{e}");
    }

    #[cfg(feature = "tls")]
    #[test]
    fn pkcs12_stores_from_properties() {
        let props = [
            ("bootstrap.servers", "a:1"),
            ("security.protocol", "SSL"),
            ("ssl.truststore.type", "PKCS12"),
            ("ssl.truststore.location", "/trust.p12"),
            ("ssl.truststore.password", "trust-pw"),
            ("ssl.keystore.type", "PKCS12"),
            ("ssl.keystore.location", "/client.p12"),
            ("ssl.keystore.password", "store-pw"),
            ("ssl.key.password", "store-pw"),
        ];
        let got = ClientConfig::from_properties(props);
        #[cfg(feature = "pkcs12")]
        {
            let c = got.unwrap();
            let want = crate::tls::TlsConfig::new()
                .ca_pkcs12_file("/trust.p12", "trust-pw")
                .client_pkcs12_file("/client.p12", "store-pw");
            assert_eq!(c.tls, Some(want));
            let shown = format!("{:?}", c.tls);
            assert!(
                !shown.contains("store-pw") && !shown.contains("trust-pw"),
                "{shown}"
            );
        }
        #[cfg(not(feature = "pkcs12"))]
        {
            let e = got.unwrap_err();
            assert!(e.to_string().contains("pkcs12 feature"), "{e}");
        }
        let mut other_key_password = props;
        other_key_password[8].1 = "key-pw";
        let e = ClientConfig::from_properties(other_key_password).unwrap_err();
        assert!(e.to_string().contains("ssl.key.password"), "{e}");
        assert!(!format!("{e} {e:?}").contains("key-pw"), "{e}");
    }
}
