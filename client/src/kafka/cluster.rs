//! Cluster metadata: brokers, topics, partitions and leaders, cached and
//! refreshed periodically and on demand, and one connection per broker.
//!
//! Every client (producer, admin, partition reader) owns a [`Cluster`]. A
//! background task refreshes the metadata of the topics the client uses
//! every `metadata_max_age`, and at once when a caller reports stale
//! metadata ([`Cluster::request_refresh`]) after NOT_LEADER_OR_FOLLOWER,
//! UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE, FENCED_LEADER_EPOCH or a
//! lost connection. Concurrent refreshes are coalesced into one request.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use kafka_proto::api::metadata::MetadataRequestTopic;
use kafka_proto::api::{MetadataRequest, MetadataResponse};
use kafka_proto::{ErrorCode, Uuid};
use tokio::sync::{Notify, watch};
use tracing::{Instrument, debug, debug_span, warn};

use super::config::{ClientConfig, split_host_port};
use super::conn::BrokerConn;
use super::error::{Error, Result};
use super::metrics::Stats;

/// A broker, as the metadata names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerMeta {
    /// The broker's id.
    pub node_id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: u16,
    /// Rack, if configured.
    pub rack: Option<String>,
}

/// One partition's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMeta {
    /// Partition index.
    pub partition: i32,
    /// Leader broker id, or -1 while none is elected.
    pub leader: i32,
    /// Leader epoch, or -1.
    pub leader_epoch: i32,
    /// Replica broker ids.
    pub replicas: Vec<i32>,
    /// In-sync replica broker ids.
    pub isr: Vec<i32>,
    /// Offline replica broker ids.
    pub offline_replicas: Vec<i32>,
    /// Partition-level error (LEADER_NOT_AVAILABLE while electing).
    pub error: ErrorCode,
}

/// One topic's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMeta {
    /// Topic name.
    pub name: String,
    /// Topic id (zero before Kafka 2.8).
    pub id: Uuid,
    /// Topic-level error (UNKNOWN_TOPIC_OR_PARTITION if it does not exist).
    pub error: ErrorCode,
    /// Whether the topic is internal (`__consumer_offsets`).
    pub is_internal: bool,
    /// Partitions, sorted by index.
    pub partitions: Vec<PartitionMeta>,
}

impl TopicMeta {
    /// The partition with index `partition`.
    pub fn partition(&self, partition: i32) -> Option<&PartitionMeta> {
        usize::try_from(partition)
            .ok()
            .and_then(|i| self.partitions.get(i))
            .filter(|p| p.partition == partition)
            .or_else(|| self.partitions.iter().find(|p| p.partition == partition))
    }
}

/// A snapshot of the cluster's metadata.
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    /// The cluster id.
    pub cluster_id: Option<String>,
    /// The controller's broker id (in KRaft, a broker that forwards to it).
    pub controller_id: i32,
    /// Brokers by id.
    pub brokers: BTreeMap<i32, BrokerMeta>,
    /// Topics by name: those the client uses, as last fetched.
    pub topics: HashMap<String, TopicMeta>,
    /// Increases with every refresh.
    pub version: u64,
}

impl Metadata {
    /// The topic, if known and without error.
    pub fn topic(&self, name: &str) -> Option<&TopicMeta> {
        self.topics
            .get(name)
            .filter(|t| t.error.is_ok() && !t.partitions.is_empty())
    }

    /// The leader of `topic`/`partition`, if one is known.
    pub fn leader_for(&self, topic: &str, partition: i32) -> Option<i32> {
        self.topic(topic)?
            .partition(partition)
            .map(|p| p.leader)
            .filter(|&l| l >= 0)
    }

    /// Reads a Metadata response.
    pub(crate) fn from_response(response: MetadataResponse, version: u64) -> Metadata {
        let brokers = response
            .brokers
            .into_iter()
            .filter_map(|b| {
                Some((
                    b.node_id,
                    BrokerMeta {
                        node_id: b.node_id,
                        host: b.host,
                        port: u16::try_from(b.port).ok()?,
                        rack: b.rack,
                    },
                ))
            })
            .collect();
        let topics = response
            .topics
            .into_iter()
            .filter_map(|t| {
                let name = t.name?;
                let mut partitions: Vec<PartitionMeta> = t
                    .partitions
                    .into_iter()
                    .map(|p| PartitionMeta {
                        partition: p.partition_index,
                        leader: p.leader_id,
                        leader_epoch: p.leader_epoch,
                        replicas: p.replica_nodes,
                        isr: p.isr_nodes,
                        offline_replicas: p.offline_replicas,
                        error: p.error_code,
                    })
                    .collect();
                partitions.sort_by_key(|p| p.partition);
                Some((
                    name.clone(),
                    TopicMeta {
                        name,
                        id: t.topic_id,
                        error: t.error_code,
                        is_internal: t.is_internal,
                        partitions,
                    },
                ))
            })
            .collect();
        Metadata {
            cluster_id: response.cluster_id,
            controller_id: response.controller_id,
            brokers,
            topics,
            version,
        }
    }
}

struct Inner {
    config: ClientConfig,
    metadata: watch::Sender<Arc<Metadata>>,
    /// Connections by broker id; bootstrap entries have ids -1, -2, ...
    conns: Mutex<HashMap<i32, BrokerConn>>,
    /// Topics whose metadata is kept.
    topics: Mutex<HashSet<String>>,
    refresh_lock: tokio::sync::Mutex<()>,
    refresh_now: Arc<Notify>,
    refresh_task: std::sync::OnceLock<RefreshGuard>,
    /// The client's metrics, which every connection driver adds to.
    stats: Arc<Stats>,
}

/// Cluster metadata and broker connections, shared by one client's parts.
/// Cloning is cheap.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let md = self.metadata();
        f.debug_struct("Cluster")
            .field("config", &self.inner.config)
            .field("brokers", &md.brokers.len())
            .field("topics", &md.topics.len())
            .field("version", &md.version)
            .finish()
    }
}

/// Stops the refresh task when the last [`Cluster`] handle is dropped.
struct RefreshGuard(tokio::task::JoinHandle<()>);

impl Drop for RefreshGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Cluster {
    /// Connects to the bootstrap list and fetches the first metadata.
    pub async fn connect(config: ClientConfig) -> Result<Cluster> {
        config.validate()?;
        let (metadata, _) = watch::channel(Arc::new(Metadata::default()));
        let inner = Arc::new(Inner {
            config,
            metadata,
            conns: Mutex::new(HashMap::new()),
            topics: Mutex::new(HashSet::new()),
            refresh_lock: tokio::sync::Mutex::new(()),
            refresh_now: Arc::new(Notify::new()),
            refresh_task: std::sync::OnceLock::new(),
            stats: Arc::new(Stats::default()),
        });
        let cluster = Cluster { inner };
        cluster.refresh().await?;
        let weak = Arc::downgrade(&cluster.inner);
        let max_age = cluster.inner.config.metadata_max_age;
        let wake = cluster.inner.refresh_now.clone();
        let task = tokio::spawn(
            refresh_loop(weak, wake, max_age)
                .instrument(debug_span!(parent: None, "kafka_metadata")),
        );
        let _ = cluster.inner.refresh_task.set(RefreshGuard(task));
        Ok(cluster)
    }

    /// The settings.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The current metadata snapshot.
    pub fn metadata(&self) -> Arc<Metadata> {
        self.inner.metadata.borrow().clone()
    }

    /// A receiver that sees every new metadata snapshot.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Metadata>> {
        self.inner.metadata.subscribe()
    }

    /// Adds topics whose metadata is kept from now on; returns whether any
    /// was new.
    pub fn add_topics<I: IntoIterator<Item = S>, S: AsRef<str>>(&self, topics: I) -> bool {
        let mut set = lock(&self.inner.topics);
        let mut added = false;
        for t in topics {
            if !set.contains(t.as_ref()) {
                set.insert(t.as_ref().to_owned());
                added = true;
            }
        }
        added
    }

    /// Asks the background task to refresh soon; does not wait.
    pub fn request_refresh(&self) {
        self.inner.refresh_now.notify_one();
    }

    /// Refreshes now (or waits for a refresh already under way) and returns
    /// the new snapshot.
    pub async fn refresh(&self) -> Result<Arc<Metadata>> {
        refresh(&self.inner).await
    }

    /// Metadata in which `topic` has partitions with leaders, refreshing
    /// until it does or `timeout` passes.
    pub async fn wait_for_topic(&self, topic: &str, timeout: Duration) -> Result<Arc<Metadata>> {
        self.wait_until_topic(topic, timeout, |t| {
            t.partitions.iter().all(|p| p.leader >= 0)
        })
        .await
    }

    /// Metadata in which `topic` is known with its partitions, leaders or
    /// not, refreshing until it is or `timeout` passes. What a producer
    /// or a reader needs to start: a partition without a leader (offline,
    /// or still being elected) waits on its own, and does not hold up the
    /// topic's other partitions.
    pub async fn wait_for_partitions(
        &self,
        topic: &str,
        timeout: Duration,
    ) -> Result<Arc<Metadata>> {
        self.wait_until_topic(topic, timeout, |_| true).await
    }

    async fn wait_until_topic(
        &self,
        topic: &str,
        timeout: Duration,
        ready: impl Fn(&TopicMeta) -> bool,
    ) -> Result<Arc<Metadata>> {
        let md = self.metadata();
        if md.topic(topic).is_some_and(&ready) {
            return Ok(md);
        }
        self.add_topics([topic]);
        let deadline = tokio::time::Instant::now() + timeout;
        let mut backoff = self.inner.config.retry_backoff.start();
        loop {
            let md = match self.refresh().await {
                Ok(md) => md,
                Err(e) if e.is_retriable() => self.metadata(),
                Err(e) => return Err(e),
            };
            if md.topic(topic).is_some_and(&ready) {
                return Ok(md);
            }
            // An error no wait mends (TOPIC_AUTHORIZATION_FAILED for a
            // topic the principal may not describe, INVALID_TOPIC_EXCEPTION)
            // fails at once, as Java's producer does, not after `timeout`.
            if let Some(t) = md.topics.get(topic) {
                if !t.error.is_ok() && !t.error.is_retriable() {
                    return Err(Error::broker(t.error, topic));
                }
            }
            let delay = backoff.next_delay().unwrap_or(Duration::from_secs(1));
            if tokio::time::Instant::now() + delay > deadline {
                return match md.topics.get(topic) {
                    Some(t) if !t.error.is_ok() && !t.error.is_retriable() => {
                        Err(Error::broker(t.error, topic))
                    }
                    _ => Err(Error::UnknownTopic(topic.to_owned())),
                };
            }
            tokio::time::sleep(delay).await;
        }
    }

    /// The client's live metrics counters.
    pub(crate) fn stats(&self) -> &Arc<Stats> {
        &self.inner.stats
    }

    /// The connection to broker `node_id`.
    pub(crate) fn broker(&self, node_id: i32) -> Result<BrokerConn> {
        if let Some(c) = lock(&self.inner.conns).get(&node_id) {
            return Ok(c.clone());
        }
        let md = self.metadata();
        let broker = md.brokers.get(&node_id).ok_or_else(|| {
            Error::NoBrokerAvailable(format!("broker {node_id} is not in the metadata"))
        })?;
        let addr = self.inner.config.dial_address(&broker.host, broker.port);
        let mut conns = lock(&self.inner.conns);
        Ok(conns
            .entry(node_id)
            .or_insert_with(|| {
                BrokerConn::spawn(node_id, addr, &self.inner.config, &self.inner.stats)
            })
            .clone())
    }

    /// A dedicated connection to broker `node_id` (at `host:port`) as a
    /// group coordinator, apart from its data connection, as Java's client
    /// keeps one: a broker answers one request per connection at a time, so
    /// heartbeats and commits must not queue behind a long-polling Fetch.
    pub(crate) fn coordinator_conn(&self, node_id: i32, host: &str, port: u16) -> BrokerConn {
        let key = coordinator_key(node_id);
        let addr = self.inner.config.dial_address(host, port);
        let mut conns = lock(&self.inner.conns);
        match conns.get(&key) {
            Some(c) if c.addr() == addr => c.clone(),
            _ => {
                let conn = BrokerConn::spawn(node_id, addr, &self.inner.config, &self.inner.stats);
                conns.insert(key, conn.clone());
                conn
            }
        }
    }

    /// Drops the coordinator connection to `node_id` (after the coordinator
    /// moved); its driver stops once no one holds it.
    pub(crate) fn forget_coordinator_conn(&self, node_id: i32) {
        lock(&self.inner.conns).remove(&coordinator_key(node_id));
    }

    /// A connection to some broker: one already open if possible.
    pub(crate) fn any_broker(&self) -> Result<BrokerConn> {
        let md = self.metadata();
        {
            let conns = lock(&self.inner.conns);
            if let Some(c) = md.brokers.keys().find_map(|id| conns.get(id)) {
                return Ok(c.clone());
            }
        }
        match md.brokers.keys().next() {
            Some(&id) => self.broker(id),
            None => Err(Error::NoBrokerAvailable("no broker in the metadata".into())),
        }
    }

    /// The controller, or any broker if it is unknown.
    pub(crate) fn controller(&self) -> Result<BrokerConn> {
        let md = self.metadata();
        if md.brokers.contains_key(&md.controller_id) {
            self.broker(md.controller_id)
        } else {
            self.any_broker()
        }
    }
}

async fn refresh_loop(inner: Weak<Inner>, wake: Arc<Notify>, max_age: Duration) {
    loop {
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(max_age) => {}
        }
        let Some(strong) = inner.upgrade() else {
            return;
        };
        if let Err(e) = refresh(&strong).await {
            warn!(error = %e, "metadata refresh failed");
            wake.notify_one();
            let delay = strong.config.retry_backoff.initial;
            drop(strong);
            tokio::time::sleep(delay).await;
        } else {
            drop(strong);
            // Coalesce bursts of refresh requests.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn refresh(inner: &Inner) -> Result<Arc<Metadata>> {
    let seen = inner.metadata.borrow().version;
    let _guard = inner.refresh_lock.lock().await;
    let current = inner.metadata.borrow().clone();
    if current.version > seen {
        return Ok(current);
    }
    let topics: Vec<String> = lock(&inner.topics).iter().cloned().collect();
    let response = fetch_metadata(inner, &current, Some(&topics)).await?;
    let md = Arc::new(Metadata::from_response(response, current.version + 1));
    debug!(
        version = md.version,
        brokers = md.brokers.len(),
        topics = md.topics.len(),
        "metadata refreshed"
    );
    inner.metadata.send_replace(md.clone());
    Ok(md)
}

/// Asks known brokers, then bootstrap entries, until one answers.
/// `topics: None` asks for every topic.
pub(crate) async fn fetch_metadata_from(
    cluster: &Cluster,
    topics: Option<&[String]>,
) -> Result<MetadataResponse> {
    let current = cluster.metadata();
    fetch_metadata(&cluster.inner, &current, topics).await
}

async fn fetch_metadata(
    inner: &Inner,
    current: &Metadata,
    topics: Option<&[String]>,
) -> Result<MetadataResponse> {
    let request = MetadataRequest {
        topics: topics.map(|names| {
            names
                .iter()
                .map(|n| MetadataRequestTopic {
                    name: Some(n.clone()),
                    ..Default::default()
                })
                .collect()
        }),
        allow_auto_topic_creation: inner.config.allow_auto_topic_creation,
        ..Default::default()
    };
    let mut candidates: Vec<(i32, String)> = current
        .brokers
        .values()
        .map(|b| (b.node_id, inner.config.dial_address(&b.host, b.port)))
        .collect();
    // Start from a different broker each time, so one dead broker does not
    // stall every refresh; bootstrap entries come last.
    if !candidates.is_empty() {
        let n = candidates.len();
        candidates.rotate_left((current.version as usize) % n);
    }
    for (i, entry) in inner.config.bootstrap.iter().enumerate() {
        let (host, port) = split_host_port(entry)?;
        let id = -1 - i32::try_from(i).unwrap_or(i32::MAX - 1);
        candidates.push((id, inner.config.dial_address(&host, port)));
    }
    let mut last_error = None;
    for (id, addr) in candidates {
        let conn = {
            let mut conns = lock(&inner.conns);
            conns
                .entry(id)
                .or_insert_with(|| BrokerConn::spawn(id, addr, &inner.config, &inner.stats))
                .clone()
        };
        match conn.call(request.clone()).await {
            Ok(response) if response.error_code.is_ok() => return Ok(response),
            // Metadata v13's top-level error (REBOOTSTRAP_REQUIRED, say):
            // this broker's answer is not to be used; ask the next one.
            Ok(response) => {
                let e = Error::broker(
                    response.error_code,
                    format!("Metadata from {}", conn.addr()),
                );
                debug!(broker = conn.addr(), node = conn.node_id(), error = %e, "metadata refused");
                last_error = Some(e);
            }
            Err(e) => {
                debug!(broker = conn.addr(), node = conn.node_id(), error = %e, "metadata request failed");
                last_error = Some(e);
            }
        }
    }
    match last_error {
        // A failure no retry mends (a certificate, a password, the
        // configuration) is the answer itself, so callers can match on it
        // and stop.
        Some(e) if !e.is_retriable() => Err(e),
        last => Err(Error::NoBrokerAvailable(
            last.map_or_else(|| "no broker to ask".to_owned(), |e| e.to_string()),
        )),
    }
}

/// Where a coordinator connection sits in the connection map: far above
/// broker ids (which the metadata hands out from 0 up), as in Java.
fn coordinator_key(node_id: i32) -> i32 {
    i32::MAX.saturating_sub(node_id.max(0))
}

/// Locks a mutex, recovering from poisoning (the data stays consistent:
/// every critical section here is a plain map update).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_proto::api::metadata::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };

    #[test]
    fn reads_a_metadata_response() {
        let response = MetadataResponse {
            brokers: vec![MetadataResponseBroker {
                node_id: 1,
                host: "127.0.0.1".into(),
                port: 9092,
                ..Default::default()
            }],
            controller_id: 1,
            topics: vec![MetadataResponseTopic {
                name: Some("orders".into()),
                partitions: vec![
                    MetadataResponsePartition {
                        partition_index: 1,
                        leader_id: 1,
                        ..Default::default()
                    },
                    MetadataResponsePartition {
                        partition_index: 0,
                        leader_id: -1,
                        error_code: ErrorCode::LEADER_NOT_AVAILABLE,
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        };
        let md = Metadata::from_response(response, 3);
        assert_eq!(md.version, 3);
        assert_eq!(md.brokers[&1].port, 9092);
        let t = md.topic("orders").unwrap();
        assert_eq!(t.partitions[0].partition, 0);
        assert_eq!(md.leader_for("orders", 1), Some(1));
        assert_eq!(md.leader_for("orders", 0), None);
        assert_eq!(md.leader_for("orders", 7), None);
        assert!(md.topic("nope").is_none());
    }
}
