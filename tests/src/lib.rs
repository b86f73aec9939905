//! Support code for the integration tests that run against real brokers.
//!
//! - [`endpoints`]: where the brokers started by `scripts/brokers` listen.
//! - [`names`]: unique queue, exchange, topic and group names, so tests can
//!   run in parallel and re-run cleanly.
//! - [`proxy`]: a fault-injecting TCP proxy that sits between a client and a
//!   broker and can cut, stall, slow, truncate or refuse connections.
//! - [`kafka_proxies`]: a fault proxy in front of each Kafka broker.
//! - [`kafka_wire`]: a blocking driver for `kafka_proto`'s sans-IO connection
//!   over a plain `TcpStream`, for protocol-core tests.
//! - [`prometheus`]: a strict parser of the Prometheus text format, for
//!   the clients' metrics snapshots.
//! - [`probe`]: raw-byte probes that prove a broker speaks its protocol.
//! - [`tools`]: other clients as interop peers (Kafka's Java tools, kcat).
//! - [`topics`]: waiting for a new topic to be usable.

pub mod brokers;
pub mod endpoints;
pub mod kafka_proxies;
pub mod kafka_wire;
pub mod names;
pub mod probe;
pub mod prometheus;
pub mod proxy;
pub mod tools;
pub mod topics;
