//! Per-channel state: open/closing, the synchronous request in flight and
//! the commands queued behind it, publisher confirms, and inbound content.

use std::collections::VecDeque;

use bytes::Bytes;

use super::content::Inbound;
use super::{CloseReason, RequestId};
use crate::method::Method;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChannelState {
    /// channel.open sent, open-ok not yet in.
    Opening,
    Open,
    /// channel.close sent; "the peer MUST discard all frames except
    /// channel.close and channel.close-ok" until close-ok comes.
    Closing,
}

/// A command waiting behind a synchronous request.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// A synchronous request that expects a reply.
    Request(RequestId, Method),
    /// Frames already encoded (publishes, acks, nowait methods).
    Frames(Bytes),
}

/// Publisher-confirm bookkeeping: sequence numbers start at 1 with
/// confirm.select; the outstanding ones are kept in order, so a `multiple`
/// ack is a pop from the front.
#[derive(Debug, Default)]
pub(crate) struct Confirms {
    next: u64,
    outstanding: VecDeque<u64>,
}

impl Confirms {
    fn new() -> Self {
        Confirms {
            next: 1,
            outstanding: VecDeque::new(),
        }
    }

    pub(crate) fn on_publish(&mut self) -> u64 {
        let seq = self.next;
        self.next += 1;
        self.outstanding.push_back(seq);
        seq
    }

    /// Applies an ack or nack; returns the range it covered, if it covered
    /// anything still outstanding.
    pub(crate) fn on_confirm(&mut self, tag: u64, multiple: bool) -> Option<(u64, u64)> {
        if multiple {
            let first = *self.outstanding.front().filter(|f| **f <= tag)?;
            while self.outstanding.front().is_some_and(|f| *f <= tag) {
                self.outstanding.pop_front();
            }
            Some((first, tag))
        } else {
            // Acks come mostly in order, so the tag is usually at the front.
            let at = self.outstanding.binary_search(&tag).ok()?;
            self.outstanding.remove(at);
            Some((tag, tag))
        }
    }

    /// How many publishes await a confirm.
    pub(crate) fn outstanding(&self) -> usize {
        self.outstanding.len()
    }
}

#[derive(Debug)]
pub(crate) struct Channel {
    pub(crate) state: ChannelState,
    /// The synchronous request sent and not yet answered.
    pub(crate) awaiting: Option<(RequestId, Method)>,
    /// Commands issued after it, in order.
    pub(crate) queued: VecDeque<Outgoing>,
    held: usize,
    pub(crate) inbound: Inbound,
    pub(crate) confirms: Option<Confirms>,
    /// The close this side sent, reported when close-ok comes.
    pub(crate) local_close: Option<CloseReason>,
}

impl Channel {
    pub(crate) fn new(state: ChannelState) -> Self {
        Channel {
            state,
            awaiting: None,
            queued: VecDeque::new(),
            held: 0,
            inbound: Inbound::Idle,
            confirms: None,
            local_close: None,
        }
    }

    pub(crate) fn is_open(&self) -> bool {
        self.state == ChannelState::Open
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.state == ChannelState::Closing
    }

    /// Whether a command can go out now rather than wait in the queue.
    #[inline]
    pub(crate) fn can_send_now(&self) -> bool {
        self.state == ChannelState::Open && self.awaiting.is_none() && self.queued.is_empty()
    }

    pub(crate) fn held_bytes(&self) -> usize {
        self.held
    }

    pub(crate) fn hold(&mut self, item: Outgoing) {
        if let Outgoing::Frames(b) = &item {
            self.held += b.len();
        }
        self.queued.push_back(item);
    }

    pub(crate) fn unhold(&mut self) -> Option<Outgoing> {
        let item = self.queued.pop_front()?;
        if let Outgoing::Frames(b) = &item {
            self.held -= b.len();
        }
        Some(item)
    }

    pub(crate) fn enable_confirms(&mut self) {
        if self.confirms.is_none() {
            self.confirms = Some(Confirms::new());
        }
    }

    /// Requests that die with the channel: the one in flight, then the
    /// queued ones, in order.
    pub(crate) fn failed_requests(&self) -> Vec<RequestId> {
        self.awaiting
            .iter()
            .map(|(id, _)| *id)
            .chain(self.queued.iter().filter_map(|o| match o {
                Outgoing::Request(id, _) => Some(*id),
                Outgoing::Frames(_) => None,
            }))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirms_expand_multiple_and_skip_holes() {
        let mut c = Confirms::new();
        for i in 1..=6 {
            assert_eq!(c.on_publish(), i);
        }
        assert_eq!(c.on_confirm(2, false), Some((2, 2)));
        assert_eq!(c.on_confirm(2, false), None, "already confirmed");
        assert_eq!(c.on_confirm(4, true), Some((1, 4)));
        assert_eq!(c.outstanding(), 2);
        assert_eq!(c.on_confirm(4, true), None);
        assert_eq!(c.on_confirm(99, true), Some((5, 99)));
        assert_eq!(c.outstanding(), 0);
        assert_eq!(c.on_confirm(7, false), None, "never published");
    }
}
