//! What handles send to the driver, and the state they share with it.
//!
//! Handles (`connection::Handles`) hold the two bounded queues; the driver holds only
//! [`State`] and [`ChannelShared`], which carry no sender, so the driver
//! sees its queues close when the last handle goes.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use amqp_proto::{BasicProperties, GetMessage, Method};
use bytes::Bytes;
use tokio::sync::{Notify, mpsc, oneshot};

use super::batch_queue::lock;
use super::delivery_queue::DeliverySender;
use super::error::{Error, Result};
use super::events::ConnectionEvent;
use super::metrics::Stats;
use super::options::ConsumeOptions;

/// A logical channel: stable across recovery, unlike the wire number.
pub(crate) type ChanKey = u32;

/// A one-shot answer to a handle.
pub(crate) type Reply<T> = oneshot::Sender<Result<T>>;

/// What a synchronous request's answer was.
#[derive(Debug)]
pub(crate) enum RpcReply {
    /// The reply method.
    Method(Method),
    /// basic.get-ok.
    Get(Box<GetMessage>),
    /// basic.get-empty.
    GetEmpty,
}

/// How a delivery is settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settle {
    Ack,
    Nack { requeue: bool },
    Reject { requeue: bool },
}

/// Commands other than publishes, in order per channel.
#[derive(Debug)]
pub(crate) enum Control {
    OpenChannel {
        reply: Reply<Arc<ChannelShared>>,
    },
    /// A synchronous request. `after`: how many publishes the channel's
    /// handles had queued when it was issued; it goes out after them.
    Rpc {
        chan: ChanKey,
        after: u64,
        method: Box<Method>,
        reply: Reply<RpcReply>,
    },
    Consume {
        chan: ChanKey,
        after: u64,
        queue: String,
        options: Box<ConsumeOptions>,
        deliveries: DeliverySender<ConsumerMsg>,
        /// Set once the consumer is known to read a stream queue (see
        /// [`ConsumerRec`](super::driver)).
        stream: Arc<AtomicBool>,
        reply: Reply<String>,
    },
    Cancel {
        chan: ChanKey,
        tag: String,
        /// Requeue what the consumer got and nobody acked (its stream was
        /// dropped).
        requeue: bool,
        reply: Option<Reply<()>>,
    },
    Settle {
        chan: ChanKey,
        generation: u64,
        delivery_tag: u64,
        multiple: bool,
        how: Settle,
    },
    CloseChannel {
        chan: ChanKey,
        after: u64,
        reply: Option<Reply<()>>,
    },
    Close {
        reply: Reply<()>,
    },
    /// connection.update-secret.
    UpdateSecret {
        secret: super::uri::Secret,
        reason: String,
        reply: Reply<RpcReply>,
    },
}

/// Where a publish goes. Shared between publishes to the same place, so a
/// stream of them allocates no strings (see [`PublishQueue`](super::publish_queue::PublishQueue)).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) exchange: String,
    pub(crate) routing_key: String,
}

/// One publish.
#[derive(Debug)]
pub(crate) struct Publish {
    pub(crate) chan: ChanKey,
    /// `None`: the same target as the publish queued before it.
    pub(crate) target: Option<Arc<Target>>,
    pub(crate) mandatory: bool,
    /// `None` for the default (empty) properties: publishes are moved
    /// between queues, and the properties are most of their size.
    pub(crate) properties: Option<Box<BasicProperties>>,
    pub(crate) body: Bytes,
    /// The driver's side of the publish's confirm, when the channel is
    /// in confirm mode.
    pub(crate) confirm: Option<super::confirm_cell::Settler>,
}

/// What a consumer's queue carries.
#[derive(Debug)]
pub(crate) enum ConsumerMsg {
    /// A delivery and the connection generation it came in.
    Delivery(amqp_proto::Delivery, u64),
    /// The stream ends with this error (server cancel, channel closed,
    /// connection closed for good).
    End(Error),
    /// The stream ends cleanly (cancelled by the application).
    Finished,
}

/// State the driver and the handles share.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) label: String,
    /// Bumped at every connection loss; deliveries carry the one they
    /// came in.
    pub(crate) generation: AtomicU64,
    pub(crate) blocked: Mutex<Option<String>>,
    pub(crate) connected: AtomicBool,
    /// Why the connection ended for good.
    pub(crate) closed: OnceLock<Error>,
    pub(crate) subscribers: Mutex<Vec<mpsc::Sender<ConnectionEvent>>>,
    /// A consumer made room in its queue.
    pub(crate) room: Notify,
    /// The driver holds deliveries for a full consumer queue.
    pub(crate) wants_room: AtomicBool,
    /// The connection's metrics.
    pub(crate) stats: Arc<Stats>,
}

impl State {
    pub(crate) fn new(label: String, stats: Arc<Stats>) -> Self {
        State {
            label,
            generation: AtomicU64::new(0),
            blocked: Mutex::new(None),
            connected: AtomicBool::new(false),
            closed: OnceLock::new(),
            subscribers: Mutex::new(Vec::new()),
            room: Notify::new(),
            wants_room: AtomicBool::new(false),
            stats,
        }
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub(crate) fn blocked_reason(&self) -> Option<String> {
        lock(&self.blocked).clone()
    }

    pub(crate) fn set_blocked(&self, reason: Option<String>) {
        *lock(&self.blocked) = reason;
    }

    /// The error for a handle whose driver is gone.
    pub(crate) fn gone(&self) -> Error {
        self.closed
            .get()
            .cloned()
            .unwrap_or_else(|| Error::lost("the connection driver stopped"))
    }

    /// Sends an event to every subscriber with room; full or closed ones
    /// miss it (events never hold up the driver).
    pub(crate) fn emit(&self, event: ConnectionEvent) {
        let mut subs = lock(&self.subscribers);
        subs.retain(|s| !s.is_closed());
        for s in subs.iter() {
            let _ = s.try_send(event.clone());
        }
    }

    /// A consumer took a delivery: wake the driver if it holds some back.
    pub(crate) fn made_room(&self) {
        if self.wants_room.load(Ordering::Relaxed) {
            self.room.notify_one();
        }
    }
}

/// A value alone on its cache line(s).
#[derive(Debug, Default)]
#[repr(align(64))]
pub(crate) struct Padded<T>(pub(crate) T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// State one channel's handles share with the driver.
#[derive(Debug)]
pub(crate) struct ChannelShared {
    pub(crate) key: ChanKey,
    /// Publishes queued by this channel's handles so far. Written on
    /// every publish, so on a cache line of its own: the driver reads the
    /// fields around it on every publish it takes.
    pub(crate) published: Padded<AtomicU64>,
    /// confirm.select succeeded: publishes get a confirm.
    pub(crate) confirm_mode: AtomicBool,
    /// Why the channel closed for good.
    pub(crate) closed: OnceLock<Error>,
    /// The stream returned messages go to, if the application reads them.
    pub(crate) returns: super::returns::ReturnsSender,
}

impl ChannelShared {
    pub(crate) fn new(key: ChanKey) -> Self {
        ChannelShared {
            key,
            published: Padded(AtomicU64::new(0)),
            confirm_mode: AtomicBool::new(false),
            closed: OnceLock::new(),
            returns: super::returns::ReturnsSender::default(),
        }
    }
}
