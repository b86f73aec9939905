//! The group consumer's settings and builder.

use std::sync::Arc;
use std::time::Duration;

use super::assignor::Assignor;
use super::consumer::Consumer;
use super::listener::{NoopListener, RebalanceListener};
use crate::kafka::config::{ClientConfig, client_config_setters};
use crate::kafka::error::{Error, Result};
use crate::kafka::reader::{FetchSettings, fetch_settings_setters};

/// The rebalance protocol a group consumer speaks (`group.protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupProtocol {
    /// The classic protocol (JoinGroup, SyncGroup, Heartbeat): a member
    /// leads and runs the assignor; every rebalance is a round of joins.
    /// The default, as in Java.
    #[default]
    Classic,
    /// The consumer protocol of KIP-848 (ConsumerGroupHeartbeat, Kafka 4.0
    /// and later): the coordinator runs the assignor and moves partitions
    /// one member at a time, with no group-wide barrier. The heartbeat
    /// interval and session timeout are the broker's
    /// (`group.consumer.heartbeat.interval.ms`,
    /// `group.consumer.session.timeout.ms`), and the assignor is a
    /// server-side one ([`ConsumerBuilder::group_remote_assignor`]).
    Consumer,
}

impl GroupProtocol {
    /// Reads `group.protocol` as Java writes it (`classic`, `consumer`,
    /// any case).
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "classic" => Some(GroupProtocol::Classic),
            "consumer" => Some(GroupProtocol::Consumer),
            _ => None,
        }
    }

    /// The name Java gives it.
    pub fn name(self) -> &'static str {
        match self {
            GroupProtocol::Classic => "classic",
            GroupProtocol::Consumer => "consumer",
        }
    }
}

/// Group membership and commit settings, named after Java's.
#[derive(Debug, Clone)]
pub(crate) struct GroupSettings {
    pub(crate) protocol: GroupProtocol,
    /// The server-side assignor to ask for (consumer protocol only).
    pub(crate) remote_assignor: Option<String>,
    pub(crate) group_id: Arc<str>,
    pub(crate) instance_id: Option<String>,
    pub(crate) session_timeout: Duration,
    pub(crate) heartbeat_interval: Duration,
    pub(crate) rebalance_timeout: Option<Duration>,
    pub(crate) max_poll_interval: Duration,
    pub(crate) assignors: Vec<Assignor>,
    pub(crate) auto_commit: Option<Duration>,
    pub(crate) commit_timeout: Duration,
    pub(crate) rack_id: Option<String>,
    /// OffsetFetch asks for stable offsets (KIP-447): a read_committed
    /// consumer waits for transactional offset commits still pending
    /// instead of reading the offsets before them.
    pub(crate) require_stable: bool,
}

impl Default for GroupSettings {
    fn default() -> Self {
        GroupSettings {
            protocol: GroupProtocol::Classic,
            remote_assignor: None,
            group_id: "".into(),
            instance_id: None,
            session_timeout: Duration::from_secs(45),
            heartbeat_interval: Duration::from_secs(3),
            rebalance_timeout: None,
            max_poll_interval: Duration::from_secs(300),
            assignors: vec![Assignor::Range, Assignor::CooperativeSticky],
            auto_commit: None,
            commit_timeout: Duration::from_secs(60),
            rack_id: None,
            require_stable: true,
        }
    }
}

impl GroupSettings {
    /// How long the coordinator waits for every member to rejoin:
    /// `max_poll_interval` unless set, as in Java.
    pub(crate) fn rebalance_timeout(&self) -> Duration {
        self.rebalance_timeout.unwrap_or(self.max_poll_interval)
    }

    /// Whether the consumer rebalances cooperatively: only if every
    /// assignor it offers supports it (as in Java), since the group may
    /// pick any of them.
    pub(crate) fn cooperative(&self) -> bool {
        self.protocol == GroupProtocol::Consumer
            || self.assignors.iter().all(|a| a.is_cooperative())
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.group_id.is_empty() {
            return Err(Error::Config(
                "a group consumer needs a group id (ConsumerBuilder::group)".into(),
            ));
        }
        if self.instance_id.as_deref() == Some("") {
            return Err(Error::Config(
                "the group instance id must not be empty".into(),
            ));
        }
        if self.heartbeat_interval.is_zero() || self.heartbeat_interval >= self.session_timeout {
            return Err(Error::Config(format!(
                "heartbeat_interval ({:?}) must be above zero and below session_timeout ({:?})",
                self.heartbeat_interval, self.session_timeout
            )));
        }
        if self.max_poll_interval.is_zero() || self.rebalance_timeout().is_zero() {
            return Err(Error::Config(
                "max_poll_interval and rebalance_timeout must be above zero".into(),
            ));
        }
        for t in [self.session_timeout, self.rebalance_timeout()] {
            if i32::try_from(t.as_millis()).is_err() {
                return Err(Error::Config(format!(
                    "timeout {t:?} does not fit the protocol"
                )));
            }
        }
        if self.assignors.is_empty() {
            return Err(Error::Config("at least one assignor is needed".into()));
        }
        let mut names: Vec<&str> = self.assignors.iter().map(|a| a.name()).collect();
        names.sort_unstable();
        names.dedup();
        if names.len() != self.assignors.len() {
            return Err(Error::Config("an assignor is listed twice".into()));
        }
        if self.remote_assignor.as_deref() == Some("") {
            return Err(Error::Config(
                "the remote assignor name must not be empty".into(),
            ));
        }
        if self.remote_assignor.is_some() && self.protocol != GroupProtocol::Consumer {
            return Err(Error::Config(
                "group_remote_assignor needs group_protocol(GroupProtocol::Consumer): the classic protocol assigns in the client".into(),
            ));
        }
        if self.auto_commit.is_some_and(|d| d.is_zero()) {
            return Err(Error::Config(
                "the auto-commit interval must be above zero".into(),
            ));
        }
        Ok(())
    }
}

/// Builds a [`Consumer`].
#[derive(Debug, Clone)]
pub struct ConsumerBuilder<L = NoopListener> {
    pub(crate) client: ClientConfig,
    pub(crate) settings: FetchSettings,
    pub(crate) buffered: usize,
    pub(crate) group: GroupSettings,
    pub(crate) listener: L,
}

impl ConsumerBuilder<NoopListener> {
    pub(crate) fn new(bootstrap: &str) -> Self {
        ConsumerBuilder {
            client: ClientConfig::new(bootstrap),
            settings: FetchSettings::default(),
            buffered: 16,
            group: GroupSettings::default(),
            listener: NoopListener,
        }
    }
}

impl<L: RebalanceListener> ConsumerBuilder<L> {
    client_config_setters!();
    fetch_settings_setters!();

    /// The rebalance protocol (`group.protocol`): [`GroupProtocol::Classic`]
    /// (the default) or [`GroupProtocol::Consumer`] (KIP-848). The
    /// listener, static membership, commits and the `Stream` work the same
    /// with both. With the consumer protocol the broker sets the heartbeat
    /// interval, and `assignor`/`assignors` are not used.
    pub fn group_protocol(mut self, protocol: GroupProtocol) -> Self {
        self.group.protocol = protocol;
        self
    }

    /// The server-side assignor the group should use
    /// (`group.remote.assignor`): `uniform` or `range` on Kafka 4, or the
    /// broker's default (`uniform`) when not set. Consumer protocol only.
    pub fn group_remote_assignor(mut self, assignor: impl Into<String>) -> Self {
        self.group.remote_assignor = Some(assignor.into());
        self
    }

    /// The group id (`group.id`); required.
    pub fn group(mut self, group_id: impl Into<String>) -> Self {
        self.group.group_id = group_id.into().into();
        self
    }

    /// Static membership (`group.instance.id`, KIP-345): a member that
    /// comes back with the same id within `session_timeout` gets its
    /// partitions back without a rebalance. A static member does not leave
    /// the group on [`Consumer::close`] (as in Java), so a restart does not
    /// rebalance; [`Consumer::close_and_leave`] leaves.
    pub fn group_instance_id(mut self, id: impl Into<String>) -> Self {
        self.group.instance_id = Some(id.into());
        self
    }

    /// How long the coordinator keeps a member that sends no heartbeat
    /// (`session.timeout.ms`). Default 45 s; the broker accepts
    /// `group.min.session.timeout.ms` (6 s) to
    /// `group.max.session.timeout.ms` (30 min).
    pub fn session_timeout(mut self, timeout: Duration) -> Self {
        self.group.session_timeout = timeout;
        self
    }

    /// How often the background task sends heartbeats
    /// (`heartbeat.interval.ms`), below `session_timeout`, typically a third
    /// of it. Default 3 s.
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.group.heartbeat_interval = interval;
        self
    }

    /// How long the coordinator waits for every member to rejoin during a
    /// rebalance. Default: `max_poll_interval`, as in Java.
    pub fn rebalance_timeout(mut self, timeout: Duration) -> Self {
        self.group.rebalance_timeout = Some(timeout);
        self
    }

    /// The longest the application may take between asking for records
    /// (`max.poll.interval.ms`). An application that takes longer is
    /// considered stalled: the consumer leaves the group so the others take
    /// its partitions, and its next call reports them lost
    /// ([`RebalanceListener::on_lost`]) and rejoins. Default 5 min.
    pub fn max_poll_interval(mut self, interval: Duration) -> Self {
        self.group.max_poll_interval = interval;
        self
    }

    /// The one assignor to offer (`partition.assignment.strategy`).
    pub fn assignor(mut self, assignor: Assignor) -> Self {
        self.group.assignors = vec![assignor];
        self
    }

    /// Assignors to offer, preferred first. The consumer rebalances
    /// cooperatively only if all of them are cooperative. Default
    /// `[Range, CooperativeSticky]`, as in Java.
    pub fn assignors(mut self, assignors: impl IntoIterator<Item = Assignor>) -> Self {
        self.group.assignors = assignors.into_iter().collect();
        self
    }

    /// Commits processed offsets in the background every `interval`
    /// (`enable.auto.commit`, `auto.commit.interval.ms`). A record counts as
    /// processed once the application asks for the next one (or calls
    /// [`Consumer::mark_processed`]), so this keeps at-least-once. Off by
    /// default: the application commits.
    pub fn auto_commit(mut self, interval: Duration) -> Self {
        self.group.auto_commit = Some(interval);
        self
    }

    /// How long a commit may take, retries included. Default 60 s.
    pub fn commit_timeout(mut self, timeout: Duration) -> Self {
        self.group.commit_timeout = timeout;
        self
    }

    /// The member's rack (`client.rack`), sent in its subscription.
    pub fn rack_id(mut self, rack: impl Into<String>) -> Self {
        self.group.rack_id = Some(rack.into());
        self
    }

    /// Sets the rebalance listener.
    pub fn listener<M: RebalanceListener>(self, listener: M) -> ConsumerBuilder<M> {
        ConsumerBuilder {
            client: self.client,
            settings: self.settings,
            buffered: self.buffered,
            group: self.group,
            listener,
        }
    }

    /// Checks the settings and connects. The consumer joins the group when
    /// it is first polled after [`Consumer::subscribe`].
    pub async fn build(self) -> Result<Consumer<L>> {
        self.group.validate()?;
        Consumer::start(self).await
    }
}
