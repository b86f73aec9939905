//! One channel's publishing side in the driver: publishes sent and
//! waiting for the broker's confirm (with what a basic.return must match),
//! publishes held while the channel is paused or reopening, and the count
//! of publishes taken from the publish queue (commands wait for the
//! publishes queued before them).
//!
//! The core numbers a channel's publishes (its delivery tags) and reports
//! settled ranges; each entry here maps the core's number to the number
//! the handle's [`Confirm`](crate::amqp::Confirm) waits on. A publish is
//! reported settled only by [`Publishes::on_confirmed`] (the broker's ack
//! or nack) or failed by [`Publishes::fail_unconfirmed`]; nothing else
//! resolves it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::Waker;

use amqp_proto::Returned;
use bytes::Bytes;

use crate::amqp::command::{Publish, Target};
use crate::amqp::error::{Error, Result};
use crate::amqp::publish_queue::PublishQueue;

/// A publish waiting for its confirm.
#[derive(Debug)]
struct PendingConfirm {
    /// The core's number (the channel's delivery tag).
    seq: u64,
    /// The number its `Confirm` waits on (`None` for a publish made
    /// before the handle saw confirm mode).
    number: Option<u64>,
    /// For a mandatory publish: exchange, routing key and body, to match
    /// a basic.return to it.
    mandatory: Option<Box<(Arc<Target>, Bytes)>>,
    returned: Option<Box<Returned>>,
}

/// See the module documentation.
#[derive(Debug, Default)]
pub(crate) struct Publishes {
    unconfirmed: VecDeque<PendingConfirm>,
    /// Held while the channel is paused (channel.flow) or not open.
    held: VecDeque<Publish>,
    /// channel.flow(false) from the server.
    pub(crate) flow_paused: bool,
    /// Publishes taken from the publish queue for this channel.
    pub(crate) taken: u64,
}

impl Publishes {
    /// Publishes sent and not yet confirmed.
    pub(crate) fn unconfirmed(&self) -> usize {
        self.unconfirmed.len()
    }

    /// A publish went out as the core's number `seq` in confirm mode.
    pub(crate) fn sent(
        &mut self,
        seq: u64,
        number: Option<u64>,
        mandatory: Option<(Arc<Target>, Bytes)>,
    ) {
        self.unconfirmed.push_back(PendingConfirm {
            seq,
            number,
            mandatory: mandatory.map(Box::new),
            returned: None,
        });
    }

    /// A basic.return: kept with the unconfirmed mandatory publish it
    /// matches (exchange, routing key, body), whose confirm then fails
    /// with it. `Some` gives it back when none matches.
    pub(crate) fn on_returned(&mut self, r: Returned) -> Option<Returned> {
        let slot = self.unconfirmed.iter_mut().find(|pc| {
            pc.returned.is_none()
                && pc.mandatory.as_ref().is_some_and(|m| {
                    r.exchange() == m.0.exchange.as_str()
                        && r.routing_key() == m.0.routing_key.as_str()
                        && r.body_ref() == &m.1[..]
                })
        });
        match slot {
            Some(pc) => {
                pc.returned = Some(Box::new(r));
                None
            }
            None => Some(r),
        }
    }

    /// The broker settled the core's numbers `first..=last`: their
    /// confirms resolve (under one lock of the publish queue).
    pub(crate) fn on_confirmed(
        &mut self,
        first: u64,
        last: u64,
        ack: bool,
        publish_queue: &PublishQueue,
        wakes: &mut Vec<Waker>,
    ) {
        if first == last {
            if let Ok(at) = self.unconfirmed.binary_search_by_key(&first, |pc| pc.seq) {
                if let Some(pc) = self.unconfirmed.remove(at) {
                    if let Some(n) = pc.number {
                        publish_queue.settle(n, verdict(pc.returned, ack), wakes);
                    }
                }
            }
            return;
        }
        let unconfirmed = &mut self.unconfirmed;
        publish_queue.with_confirms(|c| {
            while unconfirmed.front().is_some_and(|pc| pc.seq <= last) {
                let Some(pc) = unconfirmed.pop_front() else {
                    break;
                };
                match (pc.seq >= first, pc.number) {
                    (true, Some(n)) if ack && pc.returned.is_none() => c.settle(n, Ok(()), wakes),
                    (true, Some(n)) => c.settle(n, verdict(pc.returned, ack), wakes),
                    _ => {}
                }
            }
        });
    }

    /// Every unconfirmed publish fails with `error` (the connection or
    /// the channel went first).
    pub(crate) fn fail_unconfirmed(
        &mut self,
        error: &Error,
        publish_queue: &PublishQueue,
        wakes: &mut Vec<Waker>,
    ) {
        publish_queue.settle_all(
            self.unconfirmed
                .drain(..)
                .filter_map(|pc| Some((pc.number?, Err(error.clone())))),
            wakes,
        );
    }

    /// Every held publish fails with `error`; the bytes they held.
    pub(crate) fn fail_held(
        &mut self,
        error: &Error,
        publish_queue: &PublishQueue,
        wakes: &mut Vec<Waker>,
    ) -> usize {
        let bytes = self.held.iter().map(|p| p.body.len()).sum();
        publish_queue.settle_all(
            self.held
                .drain(..)
                .filter_map(|p| Some((p.confirm?, Err(error.clone())))),
            wakes,
        );
        bytes
    }

    /// Whether a new publish must wait behind held ones (or for flow).
    pub(crate) fn must_hold(&self) -> bool {
        self.flow_paused || !self.held.is_empty()
    }

    /// Holds a publish (its target must be its own).
    pub(crate) fn hold(&mut self, p: Publish) {
        self.held.push_back(p);
    }

    /// The oldest held publish, unless flow pauses the channel.
    pub(crate) fn release(&mut self) -> Option<Publish> {
        if self.flow_paused {
            return None;
        }
        self.held.pop_front()
    }
}

/// What a confirm resolves to.
fn verdict(returned: Option<Box<Returned>>, ack: bool) -> Result<()> {
    match (ack, returned) {
        (false, _) => Err(Error::Nacked),
        (true, Some(r)) => Err(Error::Returned {
            code: r.reply_code,
            text: r.reply_text().to_string(),
            message: r,
        }),
        (true, None) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amqp::publish_queue::Request;
    use std::sync::atomic::AtomicU64;
    use std::task::{Context, Poll};

    static PUBLISHED: AtomicU64 = AtomicU64::new(0);

    /// Queues `n` confirm-mode publishes in an publish queue and takes them, as
    /// the driver would; their numbers.
    fn numbers(publish_queue: &PublishQueue, n: usize) -> Vec<u64> {
        let mut out = Vec::new();
        for _ in 0..n {
            let mut r = Some(Request {
                chan: 1,
                exchange: "",
                routing_key: "q",
                mandatory: false,
                properties: None,
                body: Bytes::from_static(b"x"),
                confirm: true,
                published: &PUBLISHED,
            });
            out.push(
                publish_queue
                    .try_push(&mut r)
                    .ok()
                    .flatten()
                    .expect("a number"),
            );
        }
        publish_queue.take(&mut VecDeque::new(), n);
        out
    }

    fn poll(publish_queue: &PublishQueue, n: u64) -> Poll<Result<()>> {
        publish_queue.poll_confirm(n, &mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn ranges_settle_in_order_and_a_nack_fails_its_publish() {
        let publish_queue = PublishQueue::new(16);
        let n = numbers(&publish_queue, 5);
        let mut p = Publishes::default();
        let target = Arc::new(Target {
            exchange: String::new(),
            routing_key: "q".into(),
        });
        for (seq, number) in (1..=5).zip(&n) {
            let mandatory = (seq == 2).then(|| (target.clone(), Bytes::from_static(b"body")));
            p.sent(seq, Some(*number), mandatory);
        }
        assert_eq!(p.unconfirmed(), 5);
        let mut wakes = Vec::new();
        // Nothing is settled before the broker says so.
        assert!(poll(&publish_queue, n[0]).is_pending());
        // Acks 1..=3, nack 4, ack 5 (returns are matched against the
        // real broker: amqp_client_publisher, amqp_client_basic).
        p.on_confirmed(1, 3, true, &publish_queue, &mut wakes);
        p.on_confirmed(4, 4, false, &publish_queue, &mut wakes);
        assert!(poll(&publish_queue, n[4]).is_pending());
        p.on_confirmed(5, 5, true, &publish_queue, &mut wakes);
        assert!(matches!(poll(&publish_queue, n[0]), Poll::Ready(Ok(()))));
        assert!(matches!(poll(&publish_queue, n[1]), Poll::Ready(Ok(()))));
        assert!(matches!(poll(&publish_queue, n[2]), Poll::Ready(Ok(()))));
        assert!(matches!(
            poll(&publish_queue, n[3]),
            Poll::Ready(Err(Error::Nacked))
        ));
        assert!(matches!(poll(&publish_queue, n[4]), Poll::Ready(Ok(()))));
        assert_eq!(p.unconfirmed(), 0);
    }

    #[test]
    fn a_loss_fails_unconfirmed_and_held_publishes_never_acks_them() {
        let publish_queue = PublishQueue::new(16);
        let n = numbers(&publish_queue, 3);
        let mut p = Publishes::default();
        p.sent(1, Some(n[0]), None);
        p.flow_paused = true;
        assert!(p.must_hold());
        for number in &n[1..] {
            p.hold(Publish {
                chan: 1,
                target: None,
                mandatory: false,
                properties: None,
                body: Bytes::from_static(b"abc"),
                confirm: Some(*number),
            });
        }
        assert!(p.release().is_none(), "flow pauses the channel");
        p.flow_paused = false;
        let first = p.release().expect("held");
        assert_eq!(first.confirm, Some(n[1]));
        let mut wakes = Vec::new();
        p.fail_unconfirmed(&Error::ConfirmLost, &publish_queue, &mut wakes);
        assert_eq!(
            p.fail_held(&Error::ConfirmLost, &publish_queue, &mut wakes),
            3
        );
        assert!(!p.must_hold());
        assert!(matches!(
            poll(&publish_queue, n[0]),
            Poll::Ready(Err(Error::ConfirmLost))
        ));
        assert!(matches!(
            poll(&publish_queue, n[2]),
            Poll::Ready(Err(Error::ConfirmLost))
        ));
        // The released one is the caller's to send: still waiting.
        assert!(poll(&publish_queue, n[1]).is_pending());
    }
}
