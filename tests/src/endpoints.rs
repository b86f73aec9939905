//! Broker endpoints, taken from the environment that `scripts/brokers up`
//! prints, with defaults matching the addresses it uses.
//!
//! Besides plaintext AMQP and Kafka, the brokers listen with TLS and SASL:
//! AMQPS (a client certificate logs in with EXTERNAL as its CN, guest),
//! Kafka's SSL, SASL_SSL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) and
//! SASL_PLAINTEXT (the same, and OAUTHBEARER with unsecured JWTs) listeners.
//! Their certificates come from a throwaway PKI in [`tls_dir`].

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

/// The default AMQP URL of the RabbitMQ broker started by `scripts/brokers`.
pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
/// The default AMQPS URL: TLS on 5671, the host name the server certificate
/// names (it also names 127.0.0.1 and ::1).
pub const DEFAULT_AMQPS_URL: &str = "amqps://guest:guest@localhost:5671/%2f";
/// The default Kafka bootstrap list of the broker started by `scripts/brokers`.
pub const DEFAULT_KAFKA_BOOTSTRAP: &str = "127.0.0.1:9092";
/// The default bootstrap list of Kafka's SSL listener (a client certificate
/// is requested, not required).
pub const DEFAULT_KAFKA_SSL_BOOTSTRAP: &str = "127.0.0.1:10092";
/// The default bootstrap list of Kafka's SASL_SSL listener.
pub const DEFAULT_KAFKA_SASL_SSL_BOOTSTRAP: &str = "127.0.0.1:11092";
/// The default bootstrap list of Kafka's SASL_PLAINTEXT listener.
pub const DEFAULT_KAFKA_SASL_PLAINTEXT_BOOTSTRAP: &str = "127.0.0.1:12092";
/// The default folder of the throwaway PKI: `.brokers/tls` at the
/// repository's root.
pub const DEFAULT_TLS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../.brokers/tls");

/// RabbitMQ's user for PLAIN and AMQPLAIN (from loopback only).
pub const AMQP_USER: &str = "guest";
/// [`AMQP_USER`]'s password.
pub const AMQP_PASSWORD: &str = "guest";
/// The user RabbitMQ's EXTERNAL mechanism maps [`CLIENT_CERT`] to: its CN.
pub const AMQP_EXTERNAL_USER: &str = "guest";
/// Kafka's SASL user, for PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 alike (and
/// a principal an unsecured OAUTHBEARER token can name).
pub const KAFKA_SASL_USER: &str = "alice";
/// [`KAFKA_SASL_USER`]'s password.
pub const KAFKA_SASL_PASSWORD: &str = "alice-secret";

/// In [`tls_dir`]: the CA every broker certificate chains to (PEM).
pub const CA_CERT: &str = "ca.pem";
/// In [`tls_dir`]: the brokers' certificate (PEM; CN localhost, SAN
/// localhost, 127.0.0.1, ::1).
pub const SERVER_CERT: &str = "server.pem";
/// In [`tls_dir`]: the brokers' private key (PKCS#8 PEM).
pub const SERVER_KEY: &str = "server.key";
/// In [`tls_dir`]: the client certificate (PEM; CN guest, clientAuth),
/// signed by [`CA_CERT`].
pub const CLIENT_CERT: &str = "client.pem";
/// In [`tls_dir`]: the client's private key (PKCS#8 PEM).
pub const CLIENT_KEY: &str = "client.key";
/// In [`tls_dir`]: the client key, certificate and CA as PKCS#12
/// (AES-256-CBC, PBKDF2, SHA-256 MAC), password [`CLIENT_P12_PASSWORD`].
pub const CLIENT_P12: &str = "client.p12";
/// The password of [`CLIENT_P12`].
pub const CLIENT_P12_PASSWORD: &str = "changeit";
/// In [`tls_dir`]: an unrelated CA, a wrong trust root for the brokers (PEM).
pub const OTHER_CA_CERT: &str = "other-ca.pem";

/// The AMQP URL: `AMQP_URL`, or [`DEFAULT_AMQP_URL`].
pub fn amqp_url() -> String {
    env_or("AMQP_URL", DEFAULT_AMQP_URL)
}

/// The Kafka bootstrap list: `KAFKA_BOOTSTRAP`, or [`DEFAULT_KAFKA_BOOTSTRAP`].
pub fn kafka_bootstrap() -> String {
    env_or("KAFKA_BOOTSTRAP", DEFAULT_KAFKA_BOOTSTRAP)
}

/// The AMQPS URL: `AMQPS_URL`, or [`DEFAULT_AMQPS_URL`].
pub fn amqps_url() -> String {
    env_or("AMQPS_URL", DEFAULT_AMQPS_URL)
}

/// The bootstrap list of Kafka's SSL listener: `KAFKA_SSL_BOOTSTRAP`, or
/// [`DEFAULT_KAFKA_SSL_BOOTSTRAP`].
pub fn kafka_ssl_bootstrap() -> String {
    env_or("KAFKA_SSL_BOOTSTRAP", DEFAULT_KAFKA_SSL_BOOTSTRAP)
}

/// The bootstrap list of Kafka's SASL_SSL listener:
/// `KAFKA_SASL_SSL_BOOTSTRAP`, or [`DEFAULT_KAFKA_SASL_SSL_BOOTSTRAP`].
pub fn kafka_sasl_ssl_bootstrap() -> String {
    env_or("KAFKA_SASL_SSL_BOOTSTRAP", DEFAULT_KAFKA_SASL_SSL_BOOTSTRAP)
}

/// The bootstrap list of Kafka's SASL_PLAINTEXT listener:
/// `KAFKA_SASL_PLAINTEXT_BOOTSTRAP`, or
/// [`DEFAULT_KAFKA_SASL_PLAINTEXT_BOOTSTRAP`].
pub fn kafka_sasl_plaintext_bootstrap() -> String {
    env_or(
        "KAFKA_SASL_PLAINTEXT_BOOTSTRAP",
        DEFAULT_KAFKA_SASL_PLAINTEXT_BOOTSTRAP,
    )
}

/// The folder of the throwaway PKI (`TLS_DIR`, or [`DEFAULT_TLS_DIR`]); the
/// file names are [`CA_CERT`], [`CLIENT_CERT`] and the other constants here.
pub fn tls_dir() -> PathBuf {
    PathBuf::from(env_or("TLS_DIR", DEFAULT_TLS_DIR))
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// The socket address of the AMQP broker, taken from [`amqp_url`].
///
/// # Panics
/// If the URL has no resolvable `host:port` (a test-setup error).
pub fn amqp_addr() -> SocketAddr {
    let url = amqp_url();
    let rest = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let with_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5672")
    };
    resolve(&with_port)
}

/// The socket address of the first Kafka bootstrap broker.
///
/// # Panics
/// If the bootstrap list has no resolvable `host:port` (a test-setup error).
pub fn kafka_addr() -> SocketAddr {
    let list = kafka_bootstrap();
    let first = list.split(',').next().unwrap_or(&list).trim().to_owned();
    resolve(&first)
}

fn resolve(host_port: &str) -> SocketAddr {
    host_port
        .to_socket_addrs()
        .ok()
        .and_then(|mut it| it.next())
        .unwrap_or_else(|| panic!("cannot resolve broker address {host_port:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse() {
        // The defaults must resolve even when the variables are unset.
        assert_eq!(resolve("127.0.0.1:5672").port(), 5672);
        assert!(DEFAULT_AMQP_URL.starts_with("amqp://"));
        assert!(DEFAULT_AMQPS_URL.starts_with("amqps://"));
        let ports: Vec<u16> = [
            DEFAULT_KAFKA_BOOTSTRAP,
            DEFAULT_KAFKA_SSL_BOOTSTRAP,
            DEFAULT_KAFKA_SASL_SSL_BOOTSTRAP,
            DEFAULT_KAFKA_SASL_PLAINTEXT_BOOTSTRAP,
        ]
        .iter()
        .map(|b| b.parse::<SocketAddr>().unwrap().port())
        .collect();
        assert_eq!(ports, [9092, 10092, 11092, 12092]);
        assert!(DEFAULT_TLS_DIR.ends_with("/.brokers/tls"));
    }
}
