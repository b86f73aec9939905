//! A logical channel as the driver knows it, and the map from wire
//! numbers to channels.
//!
//! A channel is stable across recovery (its key), unlike its wire number.
//! What it records beyond the core's own channel state is what recovery
//! restores (prefetch, confirm and transaction modes, consumers) and what
//! the handles wait on; its publishing side, deliveries and consumers are
//! each a type of their own.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use amqp_proto::method::basic;

use super::acks::Acks;
use super::consumers::Consumers;
use super::io::Io;
use super::publishes::Publishes;
use crate::amqp::command::{ChanKey, ChannelShared, Control, Reply};

/// Logical channels by wire number: looked up for every frame, so an
/// index into a vector rather than a hash (channel numbers are small and
/// dense: the core hands out the lowest free one).
#[derive(Debug, Default)]
pub(crate) struct WireMap(Vec<Option<ChanKey>>);

impl WireMap {
    pub(crate) fn get(&self, wire: &u16) -> Option<&ChanKey> {
        self.0.get(usize::from(*wire))?.as_ref()
    }

    pub(crate) fn insert(&mut self, wire: u16, key: ChanKey) {
        let at = usize::from(wire);
        if self.0.len() <= at {
            self.0.resize(at + 1, None);
        }
        if let Some(slot) = self.0.get_mut(at) {
            *slot = Some(key);
        }
    }

    pub(crate) fn remove(&mut self, wire: &u16) -> Option<ChanKey> {
        self.0.get_mut(usize::from(*wire))?.take()
    }

    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }
}

/// A logical channel.
#[derive(Debug)]
pub(crate) struct Chan {
    pub(super) shared: Arc<ChannelShared>,
    /// The wire number on the current connection, once opened. Whether
    /// that wire channel is open or closing is the core's to say
    /// ([`Chan::open_wire`]).
    pub(super) wire: Option<u16>,
    /// The application closes it; these wait for the close-ok.
    pub(super) closing: Option<Vec<Reply<()>>>,
    /// The close waits for outstanding confirms until then.
    pub(super) close_after: Option<Instant>,
    /// What recovery restores on a new connection, whose core knows
    /// nothing of the lost one's channels: the prefetch, and the confirm
    /// and transaction modes.
    pub(super) qos: Option<basic::Qos>,
    pub(super) confirm: bool,
    pub(super) tx_mode: bool,
    /// Commands waiting for publishes queued before them.
    pub(super) deferred: VecDeque<(u64, Control)>,
    /// Publishes held, sent and waiting for their confirms.
    pub(super) publishes: Publishes,
    pub(super) consumers: Consumers,
    /// Deliveries to settle, and acks held to go out as one.
    pub(super) acks: Acks,
}

impl Chan {
    /// The wire number, while the core has that channel open (not
    /// opening, not closing) on a live connection.
    pub(super) fn open_wire(&self, io: Option<&Io>) -> Option<u16> {
        let wire = self.wire?;
        io.is_some_and(|io| io.core.is_channel_open(wire))
            .then_some(wire)
    }

    /// Whether the channel is open or closing on the wire (a close sent
    /// for it still waits for its close-ok).
    pub(super) fn on_wire(&self, io: Option<&Io>) -> bool {
        self.wire.is_some_and(|w| {
            io.is_some_and(|io| io.core.is_channel_open(w) || io.core.is_channel_closing(w))
        })
    }

    /// The channel's prefetch window (0: none).
    pub(super) fn prefetch(&self) -> u16 {
        self.qos.as_ref().map_or(0, |q| q.prefetch_count)
    }

    pub(super) fn new(shared: Arc<ChannelShared>) -> Self {
        Chan {
            shared,
            wire: None,
            closing: None,
            close_after: None,
            qos: None,
            confirm: false,
            tx_mode: false,
            deferred: VecDeque::new(),
            publishes: Publishes::default(),
            consumers: Consumers::default(),
            acks: Acks::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::WireMap;

    #[test]
    fn wire_map_grows_replaces_and_forgets() {
        let mut m = WireMap::default();
        assert_eq!(m.get(&1), None);
        m.insert(3, 30);
        m.insert(1, 10);
        assert_eq!(
            (m.get(&1), m.get(&2), m.get(&3)),
            (Some(&10), None, Some(&30))
        );
        m.insert(3, 31);
        assert_eq!(m.remove(&3), Some(31));
        assert_eq!((m.remove(&3), m.get(&3)), (None, None));
        assert_eq!(m.remove(&65535), None);
        m.insert(65535, 7);
        assert_eq!(m.get(&65535), Some(&7));
        m.clear();
        assert_eq!(m.get(&1), None);
    }
}
