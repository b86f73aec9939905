//! Connection metrics: counters the driver keeps (relaxed atomics, one
//! add per read, write, publish, delivery or confirm), and the plain
//! snapshot [`ConnectionMetrics`] that
//! [`Connection::metrics`](super::Connection::metrics) returns.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::exposition::{self, Families};

/// The live counters of one connection. Crate-private: users see
/// snapshots.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) bytes_sent: AtomicU64,
    pub(crate) bytes_received: AtomicU64,
    pub(crate) publishes: AtomicU64,
    pub(crate) confirms_acked: AtomicU64,
    pub(crate) confirms_nacked: AtomicU64,
    pub(crate) deliveries: AtomicU64,
    pub(crate) recoveries: AtomicU64,
    pub(crate) connection_losses: AtomicU64,
    pub(crate) channels: AtomicU64,
}

impl Stats {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub(crate) fn snapshot(&self, connection: &str) -> ConnectionMetrics {
        ConnectionMetrics {
            connection: connection.to_owned(),
            bytes_sent: self.bytes_sent.load(Relaxed),
            bytes_received: self.bytes_received.load(Relaxed),
            publishes: self.publishes.load(Relaxed),
            confirms_acked: self.confirms_acked.load(Relaxed),
            confirms_nacked: self.confirms_nacked.load(Relaxed),
            deliveries: self.deliveries.load(Relaxed),
            recoveries: self.recoveries.load(Relaxed),
            connection_losses: self.connection_losses.load(Relaxed),
            channels_open: self.channels.load(Relaxed),
        }
    }
}

/// A snapshot of one AMQP connection's metrics, from
/// [`Connection::metrics`](super::Connection::metrics): plain numbers,
/// counted since the connection was made (counters, across recoveries) or
/// as they are now (levels). Taking one reads a few relaxed atomics; the
/// counters cost the driver one atomic add per read, write, publish,
/// delivery or confirm.
///
/// Render it with [`to_prometheus_text`](Self::to_prometheus_text), or,
/// with the `metrics` feature, publish it to the `metrics` facade with
/// `publish`.
///
/// ```no_run
/// # async fn demo(conn: mq_client::amqp::Connection) {
/// let m = conn.metrics();
/// // With every channel in confirm mode: publishes not yet confirmed.
/// let waiting = m.publishes.saturating_sub(m.confirms_acked + m.confirms_nacked);
/// println!("{waiting} publishes await a confirm; {} recoveries", m.recoveries);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ConnectionMetrics {
    /// The connection's name ([`Connection::name`](super::Connection::name)).
    pub connection: String,
    /// Bytes written to the broker (TLS: plaintext bytes), the handshakes
    /// included.
    pub bytes_sent: u64,
    /// Bytes read from the broker (TLS: plaintext bytes), the handshakes
    /// included.
    pub bytes_received: u64,
    /// Messages published: `basic.publish` frames written, republished
    /// ones after a recovery included.
    pub publishes: u64,
    /// Publishes the broker confirmed with `basic.ack` (confirm mode; a
    /// multiple ack counts each publish it covers).
    pub confirms_acked: u64,
    /// Publishes the broker refused with `basic.nack`.
    pub confirms_nacked: u64,
    /// Messages delivered to this connection's consumers (`basic.deliver`).
    pub deliveries: u64,
    /// Recoveries: the connection reconnected and restored its channels,
    /// consumers and topology after a loss.
    pub recoveries: u64,
    /// Times the connection was lost (recovered or not).
    pub connection_losses: u64,
    /// Channels open now (those being reopened by a recovery included).
    pub channels_open: u64,
}

impl ConnectionMetrics {
    /// The snapshot in the Prometheus text exposition format: every name
    /// starts `mq_amqp_connection_` (`mq_amqp_connection_publishes_total`)
    /// and every sample has a `connection` label with the connection's
    /// name.
    pub fn to_prometheus_text(&self) -> String {
        exposition::render(&self.families().list)
    }

    /// Publishes the snapshot to the `metrics` facade's recorder (the
    /// global one, or a thread-local one), under the names of
    /// [`to_prometheus_text`](Self::to_prometheus_text): counters through
    /// `Counter::absolute`, levels through `Gauge::set`. Call it on a timer
    /// (or before a scrape) so that exporters see current figures.
    #[cfg(feature = "metrics")]
    pub fn publish(&self) {
        exposition::publish(&self.families().list);
    }

    fn families(&self) -> Families {
        let mut f = Families::new(
            "mq_amqp_connection".to_owned(),
            vec![("connection", self.connection.clone())],
        );
        f.counter(
            "bytes_sent_total",
            "Bytes written to the broker.",
            self.bytes_sent,
        );
        f.counter(
            "bytes_received_total",
            "Bytes read from the broker.",
            self.bytes_received,
        );
        f.counter("publishes_total", "Messages published.", self.publishes);
        f.counter(
            "confirms_acked_total",
            "Publishes the broker confirmed (basic.ack).",
            self.confirms_acked,
        );
        f.counter(
            "confirms_nacked_total",
            "Publishes the broker refused (basic.nack).",
            self.confirms_nacked,
        );
        f.counter(
            "deliveries_total",
            "Messages delivered to consumers.",
            self.deliveries,
        );
        f.counter(
            "recoveries_total",
            "Recoveries after a connection loss.",
            self.recoveries,
        );
        f.counter(
            "losses_total",
            "Times the connection was lost.",
            self.connection_losses,
        );
        f.gauge("channels_open", "Channels open now.", self.channels_open);
        f
    }
}
