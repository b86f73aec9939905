//! The public share consumer.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tracing::{Instrument, debug, info_span};

use super::acks::AcknowledgeType;
use super::config::{AcknowledgementMode, ShareConsumerBuilder, ShareSettings};
use super::fetch::{Command, Fetcher};
use super::membership::{self, Member, MemberShared};
use super::record::{AckShared, ShareRecord};
use crate::kafka::cluster::{Cluster, lock};
use crate::kafka::error::{Error, Result};
use crate::kafka::group::coordinator::Coordinator;

/// Aborts its task when dropped.
struct TaskGuard(tokio::task::JoinHandle<()>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A member of a Kafka share group (KIP-932, "queues for Kafka"): the
/// group's members share its topics' partitions record by record, each
/// record acquired by one member at a time and acknowledged on its own.
///
/// The consumer joins the group when built (ShareGroupHeartbeat, with a
/// member id it generates), heartbeats in the background, and fetches the
/// partitions the coordinator assigns it from their leaders in share
/// sessions (ShareFetch). It is a [`Stream`] of [`ShareRecord`]s; each
/// must be acknowledged ([`ShareRecord::accept`], `release`, `reject`) in
/// explicit mode (the default). At most
/// [`max_in_flight`](ShareConsumerBuilder::max_in_flight) records are
/// handed out and unacknowledged at a time: the consumer fetches no more
/// until some are acknowledged. Acknowledgements travel with the next
/// fetch, or at once with [`commit`](Self::commit); the broker's refusals
/// (INVALID_RECORD_STATE for a record whose acquisition lock expired)
/// come back from `commit`, or as `Err` items of the stream.
///
/// ```no_run
/// # async fn demo() -> Result<(), mq_client::kafka::Error> {
/// use futures_util::StreamExt;
/// use mq_client::kafka::ShareConsumer;
///
/// let mut consumer = ShareConsumer::builder("127.0.0.1:9092")
///     .group("workers")
///     .subscribe(["jobs"])
///     .build()
///     .await?;
/// while let Some(record) = consumer.next().await {
///     let record = record?;
///     match record.value() {
///         Some(v) if !v.is_empty() => record.accept()?,
///         _ => record.reject()?,
///     }
/// }
/// consumer.close().await?;
/// # Ok(()) }
/// ```
pub struct ShareConsumer {
    cluster: Cluster,
    member: Arc<MemberShared>,
    shared: Arc<AckShared>,
    commands: mpsc::Sender<Command>,
    settings: ShareSettings,
    /// Implicit mode: the record handed out last, accepted when the next
    /// is asked for.
    last: Option<ShareRecord>,
    _tasks: Vec<TaskGuard>,
}

impl std::fmt::Debug for ShareConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = lock(&self.member.member);
        f.debug_struct("ShareConsumer")
            .field("group", &self.settings.group_id)
            .field("member_id", &m.member_id())
            .field("member_epoch", &m.epoch())
            .field("cluster", &self.cluster)
            .finish()
    }
}

impl ShareConsumer {
    /// A builder for the comma-separated `bootstrap` list.
    pub fn builder(bootstrap: &str) -> ShareConsumerBuilder {
        ShareConsumerBuilder::new(bootstrap)
    }

    pub(crate) async fn start(builder: ShareConsumerBuilder) -> Result<Self> {
        let cluster = Cluster::connect(builder.client).await?;
        cluster.add_topics(&builder.topics);
        let settings = builder.settings;
        let member = Member::new(
            settings.group_id.clone(),
            membership::new_member_id()?,
            builder.topics,
            settings.rack_id.clone(),
        );
        let (assignment_tx, assignment_rx) = watch::channel(Arc::new(Vec::new()));
        let member = Arc::new(MemberShared {
            coordinator: Coordinator::new(cluster.clone(), settings.group_id.clone()),
            member: std::sync::Mutex::new(member),
            assignment: assignment_tx,
            fatal: std::sync::Mutex::new(None),
        });
        let wake = Arc::new(Notify::new());
        let shared = Arc::new(AckShared::new(wake.clone()));
        let (commands, commands_rx) = mpsc::channel(4);
        let fetcher = Fetcher {
            cluster: cluster.clone(),
            settings: settings.clone(),
            member: member.clone(),
            shared: shared.clone(),
            assignment: assignment_rx,
            commands: commands_rx,
            sessions: Default::default(),
        };
        let span = info_span!(parent: None, "kafka_share_group", group = %settings.group_id);
        let tasks = vec![
            TaskGuard(tokio::spawn(
                membership::run(member.clone(), wake).instrument(span.clone()),
            )),
            TaskGuard(tokio::spawn(fetcher.run().instrument(span))),
        ];
        Ok(ShareConsumer {
            cluster,
            member,
            shared,
            commands,
            settings,
            last: None,
            _tasks: tasks,
        })
    }

    /// The cluster (metadata and connections).
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// The group id.
    pub fn group_id(&self) -> &str {
        &self.settings.group_id
    }

    /// The member id this consumer generated.
    pub fn member_id(&self) -> String {
        lock(&self.member.member).member_id().to_owned()
    }

    /// The member epoch (0 until the coordinator accepted the member).
    pub fn member_epoch(&self) -> i32 {
        lock(&self.member.member).epoch()
    }

    /// The partitions assigned now, as `(topic, partition)`, sorted.
    pub fn assignment(&self) -> Vec<(String, i32)> {
        let md = self.cluster.metadata();
        let assigned = self.member.assignment.borrow().clone();
        let mut out: Vec<(String, i32)> = assigned
            .iter()
            .map(|&(id, p)| {
                let name = md
                    .topics
                    .values()
                    .find(|t| t.id == id)
                    .map_or_else(|| id.to_string(), |t| t.name.clone());
                (name, p)
            })
            .collect();
        out.sort();
        out
    }

    /// How many records are in flight: handed out or buffered, and not
    /// acknowledged.
    pub fn in_flight(&self) -> usize {
        lock(&self.shared.book).in_flight()
    }

    /// Acknowledges `record` (as [`ShareRecord::acknowledge`]).
    pub fn acknowledge(&self, record: &ShareRecord, kind: AcknowledgeType) -> Result<()> {
        self.shared.acknowledge(record, kind)
    }

    /// Sends the acknowledgements made so far now (ShareAcknowledge), and
    /// returns the broker's verdict: `Err` with the code of a refusal
    /// (`Error::Broker { code: ErrorCode::INVALID_RECORD_STATE, .. }` for
    /// records whose acquisition lock expired), naming the partition and
    /// offsets. Other refusals of the same commit come as `Err` items of
    /// the stream. Waits for a fetch under way (at most
    /// `fetch.max.wait.ms`).
    pub async fn commit(&mut self) -> Result<()> {
        self.implicit_accept();
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Commit(tx))
            .await
            .map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)?
    }

    /// Sends the last acknowledgements, closes the share sessions (records
    /// still unacknowledged go back to the group) and leaves the group.
    /// The result is the last acknowledgements' verdict.
    pub async fn close(mut self) -> Result<()> {
        self.implicit_accept();
        let (tx, rx) = oneshot::channel();
        let result = match self.commands.send(Command::Close(tx)).await {
            Ok(()) => rx.await.unwrap_or(Err(Error::Closed)),
            Err(_) => Err(Error::Closed),
        };
        // No heartbeat after the leave: one would join the group again.
        self._tasks.clear();
        membership::leave(&self.member).await;
        debug!(group = %self.settings.group_id, "share consumer closed");
        result
    }

    /// Implicit mode: the record handed out last is processed.
    fn implicit_accept(&mut self) {
        if let Some(record) = self.last.take() {
            // Acknowledged otherwise already: nothing to do.
            let _ = record.accept();
        }
    }
}

impl Stream for ShareConsumer {
    type Item = Result<ShareRecord>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        this.implicit_accept();
        let mut outbox = lock(&this.shared.outbox);
        match outbox.pop() {
            Some(item) => {
                drop(outbox);
                if this.settings.mode == AcknowledgementMode::Implicit {
                    if let Ok(record) = &item {
                        this.last = Some(record.clone());
                    }
                }
                Poll::Ready(Some(item))
            }
            None if outbox.done => Poll::Ready(None),
            None => {
                outbox.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
