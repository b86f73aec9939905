//! KIP-714 client telemetry: each client asks a broker which of its
//! metrics the broker wants (GetTelemetrySubscriptions) and, while the
//! subscription names any, pushes them every push interval
//! (PushTelemetry), as OpenTelemetry metrics ([`otlp`]).
//!
//! A broker subscribes clients only when an operator configured a
//! client-metrics subscription (`kafka-client-metrics --alter`) and a
//! metrics reporter that exports client telemetry runs on it; otherwise the
//! subscription is empty and the client only asks again every push
//! interval. A broker without the APIs (before 3.7) ends the task. Turned
//! off with `enable_metrics_push(false)` (`enable.metrics.push=false`).
//!
//! The names follow Java's (`org.apache.kafka.producer.record.send.total`,
//! …): the client kind, then the metric, dot-separated.

pub(crate) mod otlp;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kafka_proto::api::{GetTelemetrySubscriptionsRequest, PushTelemetryRequest};
use kafka_proto::{ConnectionError, ErrorCode, Uuid};
use tracing::{debug, info};

use self::otlp::{Kind, Metric, Point, Value};
use super::cluster::Cluster;
use super::error::Error;
use super::metrics::{ClientKind, ClientMetrics};

/// Takes a snapshot of the client's metrics.
pub(crate) type Snapshot = Arc<dyn Fn() -> ClientMetrics + Send + Sync>;

/// The push task of one client; stopped when dropped.
#[derive(Debug)]
pub(crate) struct Telemetry(tokio::task::JoinHandle<()>);

impl Drop for Telemetry {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts the push task, unless the client turned it off.
pub(crate) fn start(cluster: &Cluster, snapshot: Snapshot) -> Option<Telemetry> {
    if !cluster.config().enable_metrics_push {
        return None;
    }
    let cluster = cluster.clone();
    Some(Telemetry(tokio::spawn(run(cluster, snapshot))))
}

/// How long to wait before asking again after a failure.
const RETRY: Duration = Duration::from_secs(30);

/// The broker's subscription.
struct Subscription {
    id: i32,
    interval: Duration,
    max_bytes: usize,
    delta: bool,
    /// Prefixes of the metric names wanted; empty: none.
    prefixes: Vec<String>,
}

impl Subscription {
    fn wants(&self, name: &str) -> bool {
        self.prefixes
            .iter()
            .any(|p| p.is_empty() || p == "*" || name.starts_with(p.as_str()))
    }
}

async fn run(cluster: Cluster, snapshot: Snapshot) {
    let start_ns = unix_nanos();
    let mut instance = Uuid::default();
    let mut last: HashMap<String, i64> = HashMap::new();
    loop {
        let sub = match subscribe(&cluster, &mut instance).await {
            Ok(sub) => sub,
            Err(Some(wait)) => {
                tokio::time::sleep(wait).await;
                continue;
            }
            Err(None) => return,
        };
        tokio::time::sleep(sub.interval).await;
        if sub.prefixes.is_empty() {
            // Nothing wanted: ask again at the next interval.
            continue;
        }
        // Push at each interval until the broker wants something else.
        loop {
            let metrics = select(&snapshot(), &sub, &mut last);
            let data = otlp::encode(
                &[("client_id", cluster.config().client_id.clone())],
                &metrics,
                start_ns,
                unix_nanos(),
            );
            if data.len() > sub.max_bytes {
                debug!(
                    bytes = data.len(),
                    max = sub.max_bytes,
                    "telemetry too large for the broker; not pushed"
                );
                tokio::time::sleep(sub.interval).await;
                continue;
            }
            let request = PushTelemetryRequest {
                client_instance_id: instance,
                subscription_id: sub.id,
                terminating: false,
                compression_type: 0,
                metrics: data,
                ..Default::default()
            };
            let code = match push(&cluster, request).await {
                Ok(code) => code,
                Err(Some(_)) => break,
                Err(None) => return,
            };
            match code {
                ErrorCode::NONE => {
                    debug!(
                        metrics = metrics.len(),
                        subscription = sub.id,
                        "telemetry pushed"
                    );
                    tokio::time::sleep(sub.interval).await;
                }
                ErrorCode::THROTTLING_QUOTA_EXCEEDED | ErrorCode::TELEMETRY_TOO_LARGE => {
                    tokio::time::sleep(sub.interval).await;
                }
                ErrorCode::INVALID_REQUEST | ErrorCode::INVALID_RECORD => {
                    info!(error = %code, "the broker refused the client's telemetry; not pushing any more");
                    return;
                }
                // UNKNOWN_SUBSCRIPTION_ID, UNSUPPORTED_COMPRESSION_TYPE and
                // the rest: the subscription changed; ask again.
                code => {
                    debug!(error = %code, "telemetry push refused; fetching the subscription again");
                    break;
                }
            }
        }
    }
}

/// GetTelemetrySubscriptions. `Err(Some(wait))`: retry after `wait`;
/// `Err(None)`: the broker has no telemetry, stop.
async fn subscribe(
    cluster: &Cluster,
    instance: &mut Uuid,
) -> std::result::Result<Subscription, Option<Duration>> {
    let request = GetTelemetrySubscriptionsRequest {
        client_instance_id: *instance,
        ..Default::default()
    };
    let response = match cluster.any_broker() {
        Ok(conn) => conn.call(request).await,
        Err(e) => Err(e),
    };
    let r = match response {
        Ok(r) => r,
        Err(e) => return Err(stop_or_wait(&e)),
    };
    if !r.error_code.is_ok() {
        debug!(error = %r.error_code, "GetTelemetrySubscriptions refused");
        return Err(Some(RETRY));
    }
    if *instance == Uuid::default() {
        *instance = r.client_instance_id;
    }
    let interval = u64::try_from(r.push_interval_ms)
        .ok()
        .filter(|&ms| ms > 0)
        .map_or(Duration::from_secs(300), Duration::from_millis);
    if !r.requested_metrics.is_empty() {
        debug!(subscription = r.subscription_id, interval = ?interval, metrics = ?r.requested_metrics,
               "the broker subscribed to the client's metrics");
    }
    Ok(Subscription {
        id: r.subscription_id,
        interval,
        max_bytes: usize::try_from(r.telemetry_max_bytes)
            .ok()
            .filter(|&b| b > 0)
            .unwrap_or(usize::MAX),
        delta: r.delta_temporality,
        prefixes: r.requested_metrics,
    })
}

/// PushTelemetry; errors as for [`subscribe`].
async fn push(
    cluster: &Cluster,
    request: PushTelemetryRequest,
) -> std::result::Result<ErrorCode, Option<Duration>> {
    let response = match cluster.any_broker() {
        Ok(conn) => conn.call(request).await,
        Err(e) => Err(e),
    };
    response.map(|r| r.error_code).map_err(|e| stop_or_wait(&e))
}

fn stop_or_wait(e: &Error) -> Option<Duration> {
    if matches!(
        e,
        Error::Connection {
            source: ConnectionError::UnsupportedApi(_),
            ..
        }
    ) {
        debug!("the broker has no client telemetry (KIP-714)");
        return None;
    }
    debug!(error = %e, "client telemetry request failed");
    Some(RETRY)
}

fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The snapshot as named metrics, those the subscription wants only;
/// counters as deltas from `last` if it asks for them.
fn select(m: &ClientMetrics, sub: &Subscription, last: &mut HashMap<String, i64>) -> Vec<Metric> {
    let mut out = metrics(m, sub.delta);
    out.retain(|metric| sub.wants(&metric.name));
    if sub.delta {
        for metric in &mut out {
            if metric.kind == Kind::Gauge {
                continue;
            }
            for p in &mut metric.points {
                if let Value::Int(now) = p.value {
                    let key = format!("{}{:?}", metric.name, p.attributes);
                    let before = last.insert(key, now).unwrap_or(0);
                    p.value = Value::Int(now.saturating_sub(before));
                }
            }
        }
    }
    out
}

fn int(v: u64) -> Value {
    Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
}

/// Every metric of a snapshot, named as Java names its own.
pub(crate) fn metrics(m: &ClientMetrics, delta: bool) -> Vec<Metric> {
    let prefix = match m.client {
        ClientKind::Producer => "org.apache.kafka.producer.",
        ClientKind::Consumer | ClientKind::PartitionReader => "org.apache.kafka.consumer.",
        ClientKind::Admin => "org.apache.kafka.admin.",
        #[allow(unreachable_patterns)]
        _ => "org.apache.kafka.client.",
    };
    let counter = Kind::Counter { delta };
    let mut out = Vec::new();
    let mut one = |name: &str, unit: &'static str, kind: Kind, value: Value| {
        out.push(Metric {
            name: format!("{prefix}{name}"),
            unit,
            kind,
            points: vec![Point {
                attributes: Vec::new(),
                value,
            }],
        });
    };
    one("outgoing.byte.total", "By", counter, int(m.bytes_sent));
    one("incoming.byte.total", "By", counter, int(m.bytes_received));
    one("connection.creation.total", "", counter, int(m.connects));
    one("connection.reconnect.total", "", counter, int(m.reconnects));
    one(
        "connection.failure.total",
        "",
        counter,
        int(m.connect_failures),
    );
    one(
        "request.in.flight",
        "",
        Kind::Gauge,
        int(m.requests_in_flight),
    );
    if let Some(p) = &m.producer {
        one("record.send.total", "", counter, int(p.records_sent));
        one("record.error.total", "", counter, int(p.records_failed));
        one("record.retry.total", "", counter, int(p.retries));
        one("batch.send.total", "", counter, int(p.batches_sent));
        one("batch.size.max", "By", Kind::Gauge, int(p.batch_bytes_max));
        let avg = if p.batches_sent == 0 {
            0.0
        } else {
            p.batch_bytes as f64 / p.batches_sent as f64
        };
        one("batch.size.avg", "By", Kind::Gauge, Value::Double(avg));
        one("buffer.bytes", "By", Kind::Gauge, int(p.buffered_bytes));
        one("buffer.records", "", Kind::Gauge, int(p.buffered_records));
    }
    if let Some(c) = &m.consumer {
        one(
            "fetch.manager.records.consumed.total",
            "",
            counter,
            int(c.records_consumed),
        );
        one(
            "fetch.manager.batches.consumed.total",
            "",
            counter,
            int(c.batches_consumed),
        );
    }
    let requests = |value: fn(&super::metrics::RequestMetrics) -> Value| {
        m.requests
            .iter()
            .map(|r| Point {
                attributes: vec![("api", r.api.to_owned())],
                value: value(r),
            })
            .collect::<Vec<_>>()
    };
    if !m.requests.is_empty() {
        out.push(Metric {
            name: format!("{prefix}request.total"),
            unit: "",
            kind: counter,
            points: requests(|r| int(r.sent)),
        });
        out.push(Metric {
            name: format!("{prefix}request.error.total"),
            unit: "",
            kind: counter,
            points: requests(|r| int(r.failed)),
        });
        out.push(Metric {
            name: format!("{prefix}request.latency.avg"),
            unit: "ms",
            kind: Kind::Gauge,
            points: requests(|r| {
                let n = r.answered.max(1) as f64;
                Value::Double(r.latency_sum.as_secs_f64() * 1000.0 / n)
            }),
        });
        out.push(Metric {
            name: format!("{prefix}request.latency.max"),
            unit: "ms",
            kind: Kind::Gauge,
            points: requests(|r| Value::Double(r.latency_max.as_secs_f64() * 1000.0)),
        });
    }
    if let Some(c) = m.consumer.as_ref().filter(|c| !c.lag.is_empty()) {
        out.push(Metric {
            name: format!("{prefix}fetch.manager.records.lag"),
            unit: "",
            kind: Kind::Gauge,
            points: c
                .lag
                .iter()
                .map(|l| Point {
                    attributes: vec![
                        ("topic", l.topic.clone()),
                        ("partition", l.partition.to_string()),
                    ],
                    value: Value::Int(l.lag),
                })
                .collect(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(prefixes: &[&str], delta: bool) -> Subscription {
        Subscription {
            id: 1,
            interval: Duration::from_secs(1),
            max_bytes: 1 << 20,
            delta,
            prefixes: prefixes.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    fn producer(sent: u64) -> ClientMetrics {
        let mut m = ClientMetrics {
            client: ClientKind::Producer,
            bytes_sent: 10,
            ..Default::default()
        };
        m.producer = Some(super::super::metrics::ProducerMetrics {
            records_sent: sent,
            ..Default::default()
        });
        m
    }

    fn value_of(ms: &[Metric], name: &str) -> Option<Value> {
        ms.iter()
            .find(|m| m.name == name)
            .map(|m| m.points[0].value)
    }

    #[test]
    fn only_the_prefixes_asked_for_are_pushed() {
        let mut last = HashMap::new();
        let all = select(&producer(5), &sub(&[""], false), &mut last);
        assert!(all.len() > 10, "{all:?}");
        assert!(
            all.iter()
                .all(|m| m.name.starts_with("org.apache.kafka.producer."))
        );
        let some = select(
            &producer(5),
            &sub(&["org.apache.kafka.producer.record."], false),
            &mut last,
        );
        let names: Vec<&str> = some.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "org.apache.kafka.producer.record.send.total",
                "org.apache.kafka.producer.record.error.total",
                "org.apache.kafka.producer.record.retry.total",
            ]
        );
        assert!(select(&producer(5), &sub(&[], false), &mut last).is_empty());
    }

    #[test]
    fn delta_temporality_sends_what_changed_since_the_last_push() {
        let mut last = HashMap::new();
        let s = sub(&["*"], true);
        let name = "org.apache.kafka.producer.record.send.total";
        assert_eq!(
            value_of(&select(&producer(5), &s, &mut last), name),
            Some(Value::Int(5))
        );
        assert_eq!(
            value_of(&select(&producer(12), &s, &mut last), name),
            Some(Value::Int(7))
        );
        let cumulative = select(&producer(12), &sub(&["*"], false), &mut HashMap::new());
        assert_eq!(value_of(&cumulative, name), Some(Value::Int(12)));
    }
}
