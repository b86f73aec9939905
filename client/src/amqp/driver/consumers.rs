//! One channel's consumers as the driver knows them: tag, queue and
//! options (to re-subscribe after recovery), and the queue to the
//! application's [`Consumer`](crate::amqp::Consumer) stream, with the
//! deliveries held back while that queue is full.
//!
//! Deliveries keep their order: once one is held, the ones after it are
//! held too until the stream makes room. The driver counts held
//! deliveries over all channels and stops reading the socket past a
//! limit; every method here reports how many it held or released.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Waker;

use amqp_proto::ShortStr;

use crate::amqp::batch_queue::PushError;
use crate::amqp::command::ConsumerMsg;
use crate::amqp::delivery_queue::DeliverySender;
use crate::amqp::options::ConsumeOptions;

/// A consumer as the driver knows it.
#[derive(Debug)]
pub(crate) struct ConsumerRec {
    /// Unique on the connection; acks name their consumer by it.
    pub(crate) id: u32,
    pub(crate) tag: ShortStr,
    pub(crate) queue: ShortStr,
    pub(crate) options: ConsumeOptions,
    tx: DeliverySender<ConsumerMsg>,
    /// Deliveries that did not fit the consumer's queue.
    overflow: VecDeque<ConsumerMsg>,
    /// basic.cancel is on its way.
    pub(crate) cancelling: bool,
    /// The consumer reads a stream queue, which takes acks only (RabbitMQ
    /// does not support nack or reject there: a stream keeps every
    /// message; a reject that races the stream's deletion makes it close
    /// the whole connection, 540).
    /// Shared with the application's [`Consumer`](crate::amqp::Consumer).
    stream: Arc<AtomicBool>,
    /// Whether a delivery was looked at for the stream's offset header.
    stream_checked: bool,
}

/// Where [`ConsumerRec::deliver`] put a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivered {
    /// In the stream's queue.
    Queued,
    /// Held: the stream's queue is full (one more held delivery).
    Held,
    /// Dropped: nobody reads the stream any more; cancel the consumer.
    Closed,
}

impl ConsumerRec {
    pub(crate) fn new(
        id: u32,
        tag: ShortStr,
        queue: ShortStr,
        options: ConsumeOptions,
        tx: DeliverySender<ConsumerMsg>,
        stream: Arc<AtomicBool>,
    ) -> Self {
        ConsumerRec {
            id,
            tag,
            queue,
            options,
            tx,
            overflow: VecDeque::new(),
            cancelling: false,
            stream,
            stream_checked: false,
        }
    }

    /// Whether the consumer reads a stream queue.
    pub(crate) fn is_stream(&self) -> bool {
        self.stream.load(Ordering::Acquire)
    }

    /// Looks at the first delivery (once): a stream queue gives each
    /// delivery its offset in the `x-stream-offset` header. Set before the
    /// delivery reaches the application, so its settle sees it.
    pub(crate) fn check_stream(&mut self, d: &amqp_proto::Delivery) {
        if self.stream_checked {
            return;
        }
        self.stream_checked = true;
        let headers = d.properties().headers;
        if headers.is_some_and(|h| h.get("x-stream-offset").is_some()) {
            self.stream.store(true, Ordering::Release);
        }
    }

    /// Deliveries held for this consumer.
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.overflow.len()
    }

    /// Hands a delivery to the stream, or holds it (behind any held
    /// before it).
    pub(crate) fn deliver(&mut self, msg: ConsumerMsg, wakes: &mut Vec<Waker>) -> Delivered {
        if !self.overflow.is_empty() {
            self.overflow.push_back(msg);
            return Delivered::Held;
        }
        match self.tx.push(msg, true, wakes) {
            Ok(()) => Delivered::Queued,
            Err(PushError::Full(msg)) => {
                self.overflow.push_back(msg);
                Delivered::Held
            }
            Err(PushError::Closed(_)) => Delivered::Closed,
        }
    }

    /// Moves held deliveries into the stream while it has room; how many
    /// left the hold (those of a stream nobody reads are dropped).
    pub(crate) fn feed(&mut self, wakes: &mut Vec<Waker>) -> usize {
        let mut moved = 0;
        while let Some(msg) = self.overflow.pop_front() {
            match self.tx.push(msg, true, wakes) {
                Ok(()) => moved += 1,
                Err(PushError::Full(msg)) => {
                    self.overflow.push_front(msg);
                    break;
                }
                Err(PushError::Closed(_)) => {
                    moved += 1 + self.overflow.len();
                    self.overflow.clear();
                    break;
                }
            }
        }
        moved
    }

    /// Drops the held deliveries (the connection was lost: the broker
    /// redelivers them); how many.
    pub(crate) fn drop_held(&mut self) -> usize {
        let n = self.overflow.len();
        self.overflow.clear();
        n
    }

    /// Ends the stream with `msg` after what it holds; how many held
    /// deliveries were dropped.
    pub(crate) fn end(self, msg: ConsumerMsg, wakes: &mut Vec<Waker>) -> usize {
        let held = self.overflow.len();
        let _ = self.tx.push(msg, false, wakes);
        held
    }
}

/// A channel's consumers.
#[derive(Debug, Default)]
pub(crate) struct Consumers(Vec<ConsumerRec>);

impl Consumers {
    pub(crate) fn add(&mut self, rec: ConsumerRec) {
        self.0.push(rec);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn contains(&self, tag: &ShortStr) -> bool {
        self.0.iter().any(|c| &c.tag == tag)
    }

    pub(crate) fn get_mut(&mut self, tag: &ShortStr) -> Option<&mut ConsumerRec> {
        self.0.iter_mut().find(|c| &c.tag == tag)
    }

    pub(crate) fn remove(&mut self, tag: &ShortStr) -> Option<ConsumerRec> {
        let at = self.0.iter().position(|c| &c.tag == tag)?;
        Some(self.0.remove(at))
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &ConsumerRec> {
        self.0.iter()
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut ConsumerRec> {
        self.0.iter_mut()
    }

    /// Feeds every consumer's stream (see [`ConsumerRec::feed`]).
    pub(crate) fn feed(&mut self, wakes: &mut Vec<Waker>) -> usize {
        self.0.iter_mut().map(|c| c.feed(wakes)).sum()
    }

    /// Drops every held delivery; how many.
    pub(crate) fn drop_held(&mut self) -> usize {
        self.0.iter_mut().map(ConsumerRec::drop_held).sum()
    }

    /// Ends every stream with the message `end` makes; how many held
    /// deliveries were dropped.
    pub(crate) fn end_all(self, end: impl Fn() -> ConsumerMsg, wakes: &mut Vec<Waker>) -> usize {
        self.0.into_iter().map(|c| c.end(end(), wakes)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amqp::delivery_queue::delivery_queue;

    fn finished() -> ConsumerMsg {
        ConsumerMsg::Finished
    }

    fn rec(tx: DeliverySender<ConsumerMsg>) -> ConsumerRec {
        let tag = ShortStr::try_from("ctag").expect("short");
        ConsumerRec::new(
            1,
            tag.clone(),
            tag,
            ConsumeOptions::default(),
            tx,
            Arc::default(),
        )
    }

    #[test]
    fn a_full_stream_holds_deliveries_in_order_until_it_has_room() {
        let (tx, mut rx) = delivery_queue(2);
        let mut c = rec(tx);
        let mut wakes = Vec::new();
        assert_eq!(c.deliver(finished(), &mut wakes), Delivered::Queued);
        assert_eq!(c.deliver(finished(), &mut wakes), Delivered::Queued);
        assert_eq!(c.deliver(finished(), &mut wakes), Delivered::Held);
        assert_eq!(c.deliver(finished(), &mut wakes), Delivered::Held);
        assert_eq!(c.held(), 2);
        assert_eq!(c.feed(&mut wakes), 0, "no room yet");
        // The stream takes what is queued in one batch: room for both.
        let mut cx = std::task::Context::from_waker(Waker::noop());
        assert!(rx.poll_recv(&mut cx, &mut false).is_ready());
        assert_eq!(c.feed(&mut wakes), 2);
        assert_eq!(c.held(), 0);
        assert_eq!(c.deliver(finished(), &mut wakes), Delivered::Held);
        drop(rx);
        assert_eq!(c.feed(&mut wakes), 1, "a stream nobody reads drops them");
        assert_eq!(c.held(), 0);
        assert_eq!(c.deliver(finished(), &mut wakes), Delivered::Closed);
    }

    #[test]
    fn consumers_are_found_removed_and_ended_by_tag() {
        let (tx, _rx) = delivery_queue(1);
        let mut all = Consumers::default();
        all.add(rec(tx));
        let tag = ShortStr::try_from("ctag").expect("short");
        let other = ShortStr::try_from("other").expect("short");
        assert!(all.contains(&tag) && !all.contains(&other));
        assert_eq!(all.len(), 1);
        let mut wakes = Vec::new();
        let c = all.get_mut(&tag).expect("found");
        c.deliver(finished(), &mut wakes);
        assert_eq!(c.deliver(finished(), &mut wakes), Delivered::Held);
        assert_eq!(all.drop_held(), 1);
        assert!(all.remove(&other).is_none());
        let (tx, _rx2) = delivery_queue(1);
        all.add(rec(tx));
        assert_eq!(all.end_all(finished, &mut wakes), 0);
    }
}
