//! An in-process RabbitMQ for tests, behind the `test-broker` feature.
//!
//! [`TestBroker`] speaks AMQP 0-9-1 through `amqp-proto`'s server role,
//! over in-memory streams: the real [`Connection`] code runs against it,
//! without a broker, Docker or a socket. It keeps queues (declare, bind to
//! the default, direct, fanout and topic exchanges, purge, delete),
//! publisher confirms (an ack once the message is enqueued; mandatory
//! publishes no queue takes come back with basic.return), consumers with
//! prefetch, ack/nack/reject with requeue, basic.get, and channel and
//! connection close. What it does not do (transactions, headers
//! exchanges, TTLs, dead-lettering, queue arguments) it refuses with a
//! channel error or ignores (arguments).
//!
//! Connect with the broker's [`uri`](TestBroker::uri) (a host name only
//! it answers) or [`connect`](TestBroker::connect). Everything the client
//! offers works as against RabbitMQ, recovery included: the broker can
//! cut connections, stall them, and restart (losing what it had not
//! confirmed, keeping what it had), and it can add latency drawn from a
//! seed. On a runtime with a paused clock (`#[tokio::test(start_paused =
//! true)]`) time is virtual, so delays cost nothing and a run repeats
//! exactly; the crate's own simulation tests run the client that way over
//! thousands of seeds.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), mq_client::amqp::Error> {
//! use mq_client::StreamExt;
//! use mq_client::amqp::test_broker::TestBroker;
//! use mq_client::amqp::{BasicProperties, ConsumeOptions, QueueOptions};
//!
//! let broker = TestBroker::new();
//! let conn = broker.connect().await?;
//! let ch = conn.open_channel().await?;
//! ch.queue_declare("orders", QueueOptions::durable()).await?;
//! ch.confirm_select().await?;
//! ch.publish("", "orders", &b"order 1"[..], BasicProperties::default())
//!     .await?
//!     .await?; // confirmed
//! assert_eq!(broker.queue_len("orders"), Some(1));
//!
//! let mut deliveries = ch.consume("orders", ConsumeOptions::default()).await?;
//! let d = deliveries.next().await.expect("a delivery")?;
//! assert_eq!(&d.body()[..], b"order 1");
//! d.ack().await?;
//! conn.close().await?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use amqp_proto::ServerConfig;
use bytes::Bytes;
use tokio::sync::Notify;

use super::{Connection, Result};
use crate::simnet::{self, Latency, Link, Listener, Net, Rng, SimStream, lock};

mod exchanges;
mod methods;
mod publishes;
mod serve;
mod state;

/// Something the broker did, for tests' traces and checks (see
/// [`TestBroker::events`]). `conn` numbers connections from 1 in the
/// order the broker accepted them; `msg` numbers publishes from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BrokerEvent {
    /// A client connected.
    Connected {
        /// The connection.
        conn: u64,
    },
    /// A connection ended: closed by the client (`graceful`), or cut.
    Disconnected {
        /// The connection.
        conn: u64,
        /// Closed by the client rather than cut.
        graceful: bool,
    },
    /// A publish came in (not yet routed or confirmed).
    Published {
        /// The connection.
        conn: u64,
        /// The channel.
        channel: u16,
        /// Its confirm sequence number, in confirm mode.
        seq: Option<u64>,
        /// The message.
        msg: u64,
        /// Its body.
        body: Bytes,
    },
    /// A publish was routed to `queues` queues (and returned, if
    /// mandatory and unroutable), and acked if in confirm mode.
    Confirmed {
        /// The connection.
        conn: u64,
        /// The channel.
        channel: u16,
        /// The sequence number acked, in confirm mode.
        seq: Option<u64>,
        /// The message.
        msg: u64,
        /// How many queues took it.
        queues: usize,
        /// Whether basic.return sent it back.
        returned: bool,
    },
    /// An unconfirmed publish was lost (cut or restart before its confirm).
    Lost {
        /// The message.
        msg: u64,
        /// Its body.
        body: Bytes,
    },
    /// A message went to a consumer or a basic.get.
    Delivered {
        /// The connection.
        conn: u64,
        /// The channel.
        channel: u16,
        /// The delivery tag.
        tag: u64,
        /// The message.
        msg: u64,
        /// Its body.
        body: Bytes,
        /// Whether it was delivered before.
        redelivered: bool,
    },
    /// An ack settled a delivery: the message it removed.
    Acked {
        /// The connection.
        conn: u64,
        /// The channel.
        channel: u16,
        /// The delivery tag.
        tag: u64,
        /// The message acked.
        msg: u64,
        /// Its body.
        body: Bytes,
    },
    /// A nack or reject settled a delivery.
    Rejected {
        /// The connection.
        conn: u64,
        /// The channel.
        channel: u16,
        /// The delivery tag.
        tag: u64,
        /// The message.
        msg: u64,
        /// Whether it went back to its queue.
        requeue: bool,
    },
    /// An unacked message went back to its queue.
    Requeued {
        /// The message.
        msg: u64,
    },
    /// An ack, nack or reject named a tag not outstanding on its channel
    /// (the channel is closed with 406, as RabbitMQ does).
    UnknownTag {
        /// The connection.
        conn: u64,
        /// The channel.
        channel: u16,
        /// The tag.
        tag: u64,
    },
    /// The broker closed a channel for an error.
    ChannelError {
        /// The connection.
        conn: u64,
        /// The channel.
        channel: u16,
        /// The reply code.
        code: u16,
        /// The reply text.
        text: String,
    },
    /// A connection was cut.
    Cut {
        /// The connection.
        conn: u64,
    },
    /// A connection was stalled.
    Stalled {
        /// The connection.
        conn: u64,
        /// For how long.
        duration: Duration,
    },
    /// The broker restarted, refusing connections for `down_for`.
    Restarted {
        /// How long it refuses connections.
        down_for: Duration,
    },
    /// A line the test added with [`TestBroker::note`].
    Note(String),
}

impl fmt::Display for BrokerEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let body = |b: &Bytes| String::from_utf8_lossy(b).into_owned();
        match self {
            BrokerEvent::Connected { conn } => write!(f, "c{conn} connected"),
            BrokerEvent::Disconnected { conn, graceful } => {
                write!(f, "c{conn} {}", if *graceful { "closed" } else { "lost" })
            }
            BrokerEvent::Published {
                conn,
                channel,
                seq,
                msg,
                body: b,
            } => {
                write!(
                    f,
                    "c{conn}/{channel} publish #{msg} seq={seq:?} {}",
                    body(b)
                )
            }
            BrokerEvent::Confirmed {
                conn,
                channel,
                seq,
                msg,
                queues,
                returned,
            } => write!(
                f,
                "c{conn}/{channel} confirm #{msg} seq={seq:?} queues={queues}{}",
                if *returned { " returned" } else { "" }
            ),
            BrokerEvent::Lost { msg, body: b } => write!(f, "lost #{msg} {}", body(b)),
            BrokerEvent::Delivered {
                conn,
                channel,
                tag,
                msg,
                body: b,
                redelivered,
            } => write!(
                f,
                "c{conn}/{channel} deliver #{msg} tag={tag}{} {}",
                if *redelivered { " redelivered" } else { "" },
                body(b)
            ),
            BrokerEvent::Acked {
                conn,
                channel,
                tag,
                msg,
                body: b,
            } => {
                write!(f, "c{conn}/{channel} ack tag={tag} #{msg} {}", body(b))
            }
            BrokerEvent::Rejected {
                conn,
                channel,
                tag,
                msg,
                requeue,
            } => {
                write!(
                    f,
                    "c{conn}/{channel} reject tag={tag} #{msg} requeue={requeue}"
                )
            }
            BrokerEvent::Requeued { msg } => write!(f, "requeue #{msg}"),
            BrokerEvent::UnknownTag { conn, channel, tag } => {
                write!(f, "c{conn}/{channel} UNKNOWN TAG {tag}")
            }
            BrokerEvent::ChannelError {
                conn,
                channel,
                code,
                text,
            } => {
                write!(f, "c{conn}/{channel} channel error {code} {text}")
            }
            BrokerEvent::Cut { conn } => write!(f, "c{conn} CUT"),
            BrokerEvent::Stalled { conn, duration } => write!(f, "c{conn} STALL {duration:?}"),
            BrokerEvent::Restarted { down_for } => write!(f, "RESTART down {down_for:?}"),
            BrokerEvent::Note(s) => f.write_str(s),
        }
    }
}

/// What the broker's connections share.
pub(crate) struct Shared {
    me: Weak<Shared>,
    broker: Mutex<state::Broker>,
    net: Arc<Net>,
    addr: String,
    server: ServerConfig,
}

impl Listener for Shared {
    fn accept(&self) -> std::io::Result<SimStream> {
        let Some(me) = self.me.upgrade() else {
            return Err(std::io::ErrorKind::ConnectionRefused.into());
        };
        let notify = Arc::new(Notify::new());
        let (link, client, server) = Link::pair(self.net.clone());
        let id = {
            let mut b = lock(&self.broker);
            if b.down_until
                .is_some_and(|t| tokio::time::Instant::now() < t)
            {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionRefused,
                    "the test broker is restarting",
                ));
            }
            b.add_conn(link, notify.clone())
        };
        tokio::spawn(serve::serve(me, id, server, notify, self.server.clone()));
        Ok(client)
    }
}

/// Numbers the brokers of this process, for their host names.
static BROKERS: AtomicU64 = AtomicU64::new(1);

/// An in-process RabbitMQ (see the [module docs](self)). Clones are
/// handles to the same broker; dropping the last makes its address
/// unreachable (connections already made keep working until closed).
#[derive(Clone)]
pub struct TestBroker {
    shared: Arc<Shared>,
}

impl fmt::Debug for TestBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestBroker")
            .field("addr", &self.shared.addr)
            .finish_non_exhaustive()
    }
}

impl Default for TestBroker {
    fn default() -> Self {
        Self::new()
    }
}

/// Settings for a [`TestBroker`]: by default no latency, confirms at once,
/// no event log.
#[derive(Debug, Clone)]
pub struct TestBrokerBuilder {
    seed: u64,
    latency: Latency,
    confirm_delay: (Duration, Duration),
    heartbeat: u16,
    record: bool,
}

impl TestBrokerBuilder {
    /// The seed of every random draw (latencies, confirm delays).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Each write reaches the other end after a delay drawn from
    /// `min..=max`.
    pub fn latency(mut self, min: Duration, max: Duration) -> Self {
        self.latency.min = min;
        self.latency.max = max.max(min);
        self
    }

    /// `per_mille` writes in a thousand take a delay drawn from
    /// `latency max..=max` instead.
    pub fn latency_spikes(mut self, per_mille: u32, max: Duration) -> Self {
        self.latency.spike_per_mille = per_mille.min(1000);
        self.latency.spike = max;
        self
    }

    /// A publish is routed and confirmed a delay drawn from `min..=max`
    /// after it arrives (in order per connection), like a broker writing
    /// to disk; until then a restart or a cut loses it.
    pub fn confirm_delay(mut self, min: Duration, max: Duration) -> Self {
        self.confirm_delay = (min, max.max(min));
        self
    }

    /// The heartbeat interval the broker proposes, in seconds (default 0:
    /// the client's choice).
    pub fn heartbeat(mut self, seconds: u16) -> Self {
        self.heartbeat = seconds;
        self
    }

    /// Keeps a log of [`BrokerEvent`]s (off by default: it grows with
    /// every message).
    pub fn record_events(mut self, on: bool) -> Self {
        self.record = on;
        self
    }

    /// Starts the broker (it serves connections on the runtime of
    /// whoever connects).
    pub fn build(self) -> TestBroker {
        let n = BROKERS.fetch_add(1, Ordering::Relaxed);
        let addr = format!("{}{n}:5672", simnet::HOST_PREFIX);
        let server = ServerConfig {
            heartbeat: self.heartbeat,
            server_properties: amqp_proto::FieldTable::builder()
                .insert("product", "mq-client test broker")
                .insert(
                    "capabilities",
                    amqp_proto::FieldTable::builder()
                        .insert("publisher_confirms", true)
                        .insert("basic.nack", true)
                        .insert("consumer_cancel_notify", true)
                        .build(),
                )
                .build(),
            ..ServerConfig::default()
        };
        let shared = Arc::new_cyclic(|me| Shared {
            me: me.clone(),
            broker: Mutex::new(state::Broker::new(
                self.seed,
                self.confirm_delay,
                self.record,
            )),
            net: Arc::new(Net {
                rng: Mutex::new(Rng::new(self.seed)),
                latency: Mutex::new(self.latency),
            }),
            addr: addr.clone(),
            server,
        });
        let weak: Weak<Shared> = Arc::downgrade(&shared);
        simnet::listen(addr, weak);
        TestBroker { shared }
    }
}

impl TestBroker {
    /// A broker with the default settings.
    pub fn new() -> TestBroker {
        TestBroker::builder().build()
    }

    /// A builder for latency, confirm delays, the seed and the event log.
    pub fn builder() -> TestBrokerBuilder {
        TestBrokerBuilder {
            seed: 0,
            latency: Latency::ZERO,
            confirm_delay: (Duration::ZERO, Duration::ZERO),
            heartbeat: 0,
            record: false,
        }
    }

    /// The URI that reaches this broker (user `guest`, password `guest`,
    /// vhost `/`), for [`Connection::connect`] or a
    /// [`ConnectionBuilder`](super::ConnectionBuilder).
    pub fn uri(&self) -> String {
        format!("amqp://guest:guest@{}/%2f", self.shared.addr)
    }

    /// Connects with the default settings.
    pub async fn connect(&self) -> Result<Connection> {
        Connection::connect(&self.uri()).await
    }

    /// Messages ready in a queue (not delivered, or requeued); `None` if
    /// there is no such queue.
    pub fn queue_len(&self, queue: &str) -> Option<usize> {
        lock(&self.shared.broker)
            .queues
            .get(queue)
            .map(|q| q.ready.len())
    }

    /// The bodies of the messages ready in a queue, in order.
    pub fn queue_bodies(&self, queue: &str) -> Vec<Bytes> {
        lock(&self.shared.broker)
            .queues
            .get(queue)
            .map(|q| q.ready.iter().map(|m| m.body.clone()).collect())
            .unwrap_or_default()
    }

    /// The queues, by name.
    pub fn queue_names(&self) -> Vec<String> {
        lock(&self.shared.broker).queues.keys().cloned().collect()
    }

    /// Deliveries not yet acked, over every connection.
    pub fn unacked(&self) -> usize {
        lock(&self.shared.broker).unacked()
    }

    /// The connections open now, by number.
    pub fn connections(&self) -> Vec<u64> {
        lock(&self.shared.broker).conns.keys().copied().collect()
    }

    /// Cuts a connection: both ends see a reset, the broker forgets it
    /// (its unconfirmed publishes are lost, its deliveries requeued).
    pub fn cut(&self, conn: u64) {
        let mut b = lock(&self.shared.broker);
        if let Some(c) = b.conns.get(&conn) {
            c.link.cut();
            b.log(BrokerEvent::Cut { conn });
            b.conn_gone(conn, false);
        }
    }

    /// Cuts every connection.
    pub fn cut_all(&self) {
        for c in self.connections() {
            self.cut(c);
        }
    }

    /// Holds every byte on a connection, both ways, for `duration`.
    pub fn stall(&self, conn: u64, duration: Duration) {
        let mut b = lock(&self.shared.broker);
        if let Some(c) = b.conns.get(&conn) {
            c.link.stall(tokio::time::Instant::now() + duration);
            b.log(BrokerEvent::Stalled { conn, duration });
        }
    }

    /// Restarts: every connection is cut, publishes not yet confirmed are
    /// lost, delivered but unacked messages go back to their queues, and
    /// only durable queues and exchanges survive; connections are refused
    /// for `down_for`.
    pub fn restart(&self, down_for: Duration) {
        lock(&self.shared.broker).restart(down_for);
    }

    /// Changes the latency of writes from now on.
    pub fn set_latency(&self, min: Duration, max: Duration) {
        let mut l = lock(&self.shared.net.latency);
        l.min = min;
        l.max = max.max(min);
    }

    /// Adds a line to the event log (with its virtual time), so that a
    /// test's own steps interleave with the broker's.
    pub fn note(&self, text: impl Into<String>) {
        lock(&self.shared.broker).log(BrokerEvent::Note(text.into()));
    }

    /// The event log so far, with times since the broker started (see
    /// [`TestBrokerBuilder::record_events`]).
    pub fn events(&self) -> Vec<(Duration, BrokerEvent)> {
        lock(&self.shared.broker).events.clone()
    }
}
