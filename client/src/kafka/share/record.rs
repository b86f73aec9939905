//! What the share consumer hands out: [`ShareRecord`]s, each acknowledged
//! on its own with [`accept`](ShareRecord::accept),
//! [`release`](ShareRecord::release) or [`reject`](ShareRecord::reject),
//! and the state the records, the consumer and its fetcher share.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::task::Waker;
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::Notify;

use super::acks::{AckBook, AckRefused, AcknowledgeType};
use crate::kafka::cluster::lock;
use crate::kafka::error::{Error, Result};
use kafka_proto::ErrorCode;
use kafka_proto::primitives::Uuid;

/// What the fetcher hands the application, in order.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    pub(crate) items: VecDeque<Result<ShareRecord>>,
    /// Errors among `items` (the fetcher stops while any is unread, so
    /// that failures cannot pile up unread).
    pub(crate) errors: usize,
    pub(crate) waker: Option<Waker>,
    /// The fetcher stopped (closed, or a fatal error handed out).
    pub(crate) done: bool,
}

impl Outbox {
    pub(crate) fn push(&mut self, item: Result<ShareRecord>) {
        if item.is_err() {
            self.errors += 1;
        }
        self.items.push_back(item);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    pub(crate) fn pop(&mut self) -> Option<Result<ShareRecord>> {
        let item = self.items.pop_front()?;
        if item.is_err() {
            self.errors -= 1;
        }
        Some(item)
    }
}

/// The state shared by the consumer, its records and its fetcher.
#[derive(Debug)]
pub(crate) struct AckShared {
    pub(crate) book: Mutex<AckBook>,
    pub(crate) outbox: Mutex<Outbox>,
    /// Wakes the fetcher: an acknowledgement (room in flight, something
    /// to send), a new assignment, a command.
    pub(crate) wake: Arc<Notify>,
}

impl AckShared {
    pub(crate) fn new(wake: Arc<Notify>) -> Self {
        AckShared {
            book: Mutex::new(AckBook::default()),
            outbox: Mutex::new(Outbox::default()),
            wake,
        }
    }

    /// Records the acknowledgement of `record`, to be sent with the next
    /// ShareFetch or ShareAcknowledge.
    pub(crate) fn acknowledge(&self, record: &ShareRecord, kind: AcknowledgeType) -> Result<()> {
        let key = (record.topic_id, record.partition);
        let done = lock(&self.book).acknowledge(key, record.offset, kind);
        match done {
            Ok(()) => {
                self.wake.notify_one();
                Ok(())
            }
            Err(AckRefused::NotInFlight) => Err(Error::broker(
                ErrorCode::INVALID_RECORD_STATE,
                format!(
                    "{}/{} offset {}: not in flight (acknowledged already, or not delivered to this consumer)",
                    record.topic, record.partition, record.offset
                ),
            )),
        }
    }
}

/// A record delivered to this share group member, acquired for it until
/// it is acknowledged or its acquisition lock expires.
///
/// Acknowledge each record once: [`accept`](Self::accept) when processed,
/// [`release`](Self::release) to have it delivered again (to any member),
/// [`reject`](Self::reject) to have it archived. Acknowledgements are
/// batched into ranges and sent with the consumer's next ShareFetch, or at
/// once by [`ShareConsumer::commit`](super::ShareConsumer::commit). One
/// made after the lock expired (`group.share.record.lock.duration.ms`,
/// [`lock_expires_at`](Self::lock_expires_at)) is refused by the broker:
/// its error (INVALID_RECORD_STATE) comes back from `commit`, or from the
/// consumer's stream for acknowledgements sent with a fetch.
#[derive(Clone)]
pub struct ShareRecord {
    /// The topic.
    pub topic: Arc<str>,
    /// The topic's id.
    pub topic_id: Uuid,
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
    /// The timestamp (ms since the epoch).
    pub timestamp: i64,
    /// The key.
    pub key: Option<Bytes>,
    /// The value (`None` for a tombstone).
    pub value: Option<Bytes>,
    /// Headers, in order, duplicates kept.
    pub headers: Vec<(Bytes, Option<Bytes>)>,
    /// How many times the record was delivered, this time included (1 the
    /// first time; raised by each release and lock expiry).
    pub delivery_count: i16,
    /// When the broker's acquisition lock is expected to end (measured
    /// from when the fetch was sent).
    pub lock_expires_at: Option<Instant>,
    pub(crate) shared: Arc<AckShared>,
}

impl std::fmt::Debug for ShareRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShareRecord")
            .field("topic", &self.topic)
            .field("partition", &self.partition)
            .field("offset", &self.offset)
            .field("delivery_count", &self.delivery_count)
            .field("key", &self.key)
            .field("value", &self.value.as_ref().map(Bytes::len))
            .finish_non_exhaustive()
    }
}

impl ShareRecord {
    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The key, if any.
    pub fn key(&self) -> Option<&[u8]> {
        self.key.as_deref()
    }

    /// The value (`None` for a tombstone).
    pub fn value(&self) -> Option<&[u8]> {
        self.value.as_deref()
    }

    /// How many times the record was delivered, this time included.
    pub fn delivery_count(&self) -> i16 {
        self.delivery_count
    }

    /// When the acquisition lock is expected to end.
    pub fn lock_expires_at(&self) -> Option<Instant> {
        self.lock_expires_at
    }

    /// Acknowledges the record as processed. Fails with
    /// INVALID_RECORD_STATE if it was acknowledged already.
    pub fn accept(&self) -> Result<()> {
        self.acknowledge(AcknowledgeType::Accept)
    }

    /// Gives the record back, to be delivered again.
    pub fn release(&self) -> Result<()> {
        self.acknowledge(AcknowledgeType::Release)
    }

    /// Rejects the record: it is archived, never delivered again.
    pub fn reject(&self) -> Result<()> {
        self.acknowledge(AcknowledgeType::Reject)
    }

    /// Acknowledges the record with `kind`.
    pub fn acknowledge(&self, kind: AcknowledgeType) -> Result<()> {
        self.shared.acknowledge(self, kind)
    }
}
