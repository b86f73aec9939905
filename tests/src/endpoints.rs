//! Broker endpoints, taken from the environment that `scripts/brokers up`
//! prints, with defaults matching the addresses it uses.

use std::net::{SocketAddr, ToSocketAddrs};

/// The default AMQP URL of the RabbitMQ broker started by `scripts/brokers`.
pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
/// The default Kafka bootstrap list of the broker started by `scripts/brokers`.
pub const DEFAULT_KAFKA_BOOTSTRAP: &str = "127.0.0.1:9092";

/// The AMQP URL: `AMQP_URL`, or [`DEFAULT_AMQP_URL`].
pub fn amqp_url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| DEFAULT_AMQP_URL.to_owned())
}

/// The Kafka bootstrap list: `KAFKA_BOOTSTRAP`, or [`DEFAULT_KAFKA_BOOTSTRAP`].
pub fn kafka_bootstrap() -> String {
    std::env::var("KAFKA_BOOTSTRAP").unwrap_or_else(|_| DEFAULT_KAFKA_BOOTSTRAP.to_owned())
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
        assert_eq!(
            DEFAULT_KAFKA_BOOTSTRAP
                .parse::<SocketAddr>()
                .unwrap()
                .port(),
            9092
        );
    }
}
