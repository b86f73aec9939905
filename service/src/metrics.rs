//! Metrics through the [`metrics`] facade: the application installs a
//! recorder (Prometheus, StatsD, ...), and without one they cost next to
//! nothing.
//!
//! Every subscriber's series carry the labels [`LABEL_SYSTEM`]
//! (`rabbitmq` / `kafka`), [`LABEL_DESTINATION`] (topic or queue) and
//! [`LABEL_GROUP`] (consumer group).

use std::time::Duration;

use metrics::{Counter, Gauge, Histogram};

/// Messages whose handler succeeded (counter).
pub const PROCESSED: &str = "mq_service_messages_processed_total";
/// Handler attempts that failed: errors, timeouts, panics (counter).
pub const FAILED: &str = "mq_service_messages_failed_total";
/// Attempts scheduled again after a retriable failure (counter).
pub const RETRIED: &str = "mq_service_messages_retried_total";
/// Messages forwarded to a delayed-retry stage (counter).
pub const DELAYED: &str = "mq_service_messages_delayed_total";
/// Messages published to the dead letters (counter).
pub const DEAD_LETTERED: &str = "mq_service_messages_dead_lettered_total";
/// Messages settled as duplicates by the deduplication step (counter).
pub const DUPLICATES: &str = "mq_service_messages_duplicate_total";
/// Handler duration in seconds, every attempt (histogram).
pub const HANDLER_DURATION: &str = "mq_service_handler_duration_seconds";
/// Messages taken from the broker and not yet settled (gauge).
pub const IN_FLIGHT: &str = "mq_service_messages_in_flight";

/// The broker label.
pub const LABEL_SYSTEM: &str = "system";
/// The destination label.
pub const LABEL_DESTINATION: &str = "destination";
/// The consumer group label.
pub const LABEL_GROUP: &str = "group";

/// One subscriber's series, registered once.
#[derive(Clone)]
pub(crate) struct SubscriberMetrics {
    pub(crate) processed: Counter,
    pub(crate) failed: Counter,
    pub(crate) retried: Counter,
    pub(crate) delayed: Counter,
    pub(crate) dead_lettered: Counter,
    pub(crate) duplicates: Counter,
    pub(crate) duration: Histogram,
    pub(crate) in_flight: Gauge,
}

impl std::fmt::Debug for SubscriberMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriberMetrics").finish_non_exhaustive()
    }
}

impl SubscriberMetrics {
    pub(crate) fn new(system: &'static str, destination: &str, group: &str) -> Self {
        let labels = [
            (LABEL_SYSTEM, system.to_owned()),
            (LABEL_DESTINATION, destination.to_owned()),
            (LABEL_GROUP, group.to_owned()),
        ];
        SubscriberMetrics {
            processed: metrics::counter!(PROCESSED, &labels),
            failed: metrics::counter!(FAILED, &labels),
            retried: metrics::counter!(RETRIED, &labels),
            delayed: metrics::counter!(DELAYED, &labels),
            dead_lettered: metrics::counter!(DEAD_LETTERED, &labels),
            duplicates: metrics::counter!(DUPLICATES, &labels),
            duration: metrics::histogram!(HANDLER_DURATION, &labels),
            in_flight: metrics::gauge!(IN_FLIGHT, &labels),
        }
    }

    pub(crate) fn handler_took(&self, d: Duration) {
        self.duration.record(d.as_secs_f64());
    }
}
