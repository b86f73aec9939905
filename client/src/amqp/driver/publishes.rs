//! One channel's publishing side in the driver: the channel's map from
//! the core's sequence number to the confirm waiting for it (with what a
//! basic.return must match), publishes held while the channel is paused
//! or reopening, and the count of publishes taken from the publish queue
//! (commands wait for the publishes queued before them).
//!
//! The core numbers a channel's publishes (its delivery tags) and reports
//! settled ranges. This map is where a channel's confirm state lives: an
//! entry is made when the core numbers a publish, and leaves it only
//! through [`Publishes::on_confirmed`] (the broker's ack or nack, the one
//! path to a success) or [`Publishes::fail_unconfirmed`] (an error).

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::Waker;

use amqp_proto::Returned;
use bytes::Bytes;

use crate::amqp::command::{Publish, Target};
use crate::amqp::confirm_cell::Settler;
use crate::amqp::error::Error;

/// A publish waiting for its confirm.
#[derive(Debug)]
struct Unconfirmed {
    /// The core's number (the channel's delivery tag).
    seq: u64,
    /// What its `Confirm` waits on (`None` for a publish made before the
    /// handle saw confirm mode).
    waiter: Option<Settler>,
    /// For a mandatory publish: exchange, routing key and body, to match
    /// a basic.return to it.
    mandatory: Option<Box<(Arc<Target>, Bytes)>>,
    returned: Option<Box<Returned>>,
}

/// See the module documentation.
#[derive(Debug, Default)]
pub(crate) struct Publishes {
    /// Sent and unconfirmed, by the core's sequence number (ascending).
    unconfirmed: VecDeque<Unconfirmed>,
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
        waiter: Option<Settler>,
        mandatory: Option<(Arc<Target>, Bytes)>,
    ) {
        self.unconfirmed.push_back(Unconfirmed {
            seq,
            waiter,
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
    /// confirms resolve with its verdict.
    pub(crate) fn on_confirmed(
        &mut self,
        first: u64,
        last: u64,
        ack: bool,
        wakes: &mut Vec<Waker>,
    ) {
        if first == last {
            if let Ok(at) = self.unconfirmed.binary_search_by_key(&first, |pc| pc.seq) {
                if let Some(pc) = self.unconfirmed.remove(at) {
                    if let Some(w) = pc.waiter {
                        w.broker_verdict(ack, pc.returned, wakes);
                    }
                }
            }
            return;
        }
        while self.unconfirmed.front().is_some_and(|pc| pc.seq <= last) {
            let Some(pc) = self.unconfirmed.pop_front() else {
                break;
            };
            match (pc.seq >= first, pc.waiter) {
                (true, Some(w)) => w.broker_verdict(ack, pc.returned, wakes),
                // Below the range: settled by an earlier answer the
                // broker never sent (it acks every number once), so
                // not by this one.
                (false, Some(w)) => w.fail(Error::ConfirmLost, wakes),
                (_, None) => {}
            }
        }
    }

    /// Every unconfirmed publish fails with `error` (the connection or
    /// the channel went first).
    pub(crate) fn fail_unconfirmed(&mut self, error: &Error, wakes: &mut Vec<Waker>) {
        for w in self.unconfirmed.drain(..).filter_map(|pc| pc.waiter) {
            w.fail(error.clone(), wakes);
        }
    }

    /// Every held publish fails with `error`; the bytes they held.
    pub(crate) fn fail_held(&mut self, error: &Error, wakes: &mut Vec<Waker>) -> usize {
        let bytes = self.held.iter().map(|p| p.body.len()).sum();
        for w in self.held.drain(..).filter_map(|p| p.confirm) {
            w.fail(error.clone(), wakes);
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amqp::confirm_cell::ConfirmCell;
    use crate::amqp::error::Result;
    use std::task::{Context, Poll};

    fn poll(cell: &ConfirmCell) -> Poll<Result<()>> {
        cell.poll(&mut Context::from_waker(Waker::noop()))
    }

    fn cells(n: usize) -> (Vec<Settler>, Vec<Arc<ConfirmCell>>) {
        (0..n).map(|_| Settler::new()).unzip()
    }

    #[test]
    fn ranges_settle_in_order_and_a_nack_fails_its_publish() {
        let (settlers, c) = cells(5);
        let mut p = Publishes::default();
        let target = Arc::new(Target {
            exchange: String::new(),
            routing_key: "q".into(),
        });
        for (seq, settler) in (1..=5).zip(settlers) {
            let mandatory = (seq == 2).then(|| (target.clone(), Bytes::from_static(b"body")));
            p.sent(seq, Some(settler), mandatory);
        }
        assert_eq!(p.unconfirmed(), 5);
        let mut wakes = Vec::new();
        // Nothing is settled before the broker says so.
        assert!(poll(&c[0]).is_pending());
        // Acks 1..=3, nack 4, ack 5 (returns are matched against the
        // real broker: amqp_client_publisher, amqp_client_basic).
        p.on_confirmed(1, 3, true, &mut wakes);
        p.on_confirmed(4, 4, false, &mut wakes);
        assert!(poll(&c[4]).is_pending());
        p.on_confirmed(5, 5, true, &mut wakes);
        assert!(matches!(poll(&c[0]), Poll::Ready(Ok(()))));
        assert!(matches!(poll(&c[1]), Poll::Ready(Ok(()))));
        assert!(matches!(poll(&c[2]), Poll::Ready(Ok(()))));
        assert!(matches!(poll(&c[3]), Poll::Ready(Err(Error::Nacked))));
        assert!(matches!(poll(&c[4]), Poll::Ready(Ok(()))));
        assert_eq!(p.unconfirmed(), 0);
    }

    #[test]
    fn an_ack_settles_only_its_own_numbers() {
        let (settlers, c) = cells(3);
        let mut p = Publishes::default();
        for (seq, settler) in (1..=3).zip(settlers) {
            p.sent(seq, Some(settler), None);
        }
        let mut wakes = Vec::new();
        // An ack for a number never sent, then one out of order.
        p.on_confirmed(9, 9, true, &mut wakes);
        p.on_confirmed(2, 2, true, &mut wakes);
        assert!(poll(&c[0]).is_pending());
        assert!(matches!(poll(&c[1]), Poll::Ready(Ok(()))));
        assert!(poll(&c[2]).is_pending());
        assert_eq!(p.unconfirmed(), 2);
    }

    #[test]
    fn a_loss_fails_unconfirmed_and_held_publishes_never_acks_them() {
        let (settlers, c) = cells(3);
        let mut settlers = settlers.into_iter();
        let mut p = Publishes::default();
        p.sent(1, settlers.next(), None);
        p.flow_paused = true;
        assert!(p.must_hold());
        for settler in settlers {
            p.hold(Publish {
                chan: 1,
                target: None,
                mandatory: false,
                properties: None,
                body: Bytes::from_static(b"abc"),
                confirm: Some(settler),
            });
        }
        assert!(p.release().is_none(), "flow pauses the channel");
        p.flow_paused = false;
        let first = p.release().expect("held");
        assert!(first.confirm.is_some());
        let mut wakes = Vec::new();
        p.fail_unconfirmed(&Error::ConfirmLost, &mut wakes);
        assert_eq!(p.fail_held(&Error::ConfirmLost, &mut wakes), 3);
        assert!(!p.must_hold());
        assert!(matches!(poll(&c[0]), Poll::Ready(Err(Error::ConfirmLost))));
        assert!(matches!(poll(&c[2]), Poll::Ready(Err(Error::ConfirmLost))));
        // The released one is the caller's to send: still waiting.
        assert!(poll(&c[1]).is_pending());
        drop(first);
    }
}
