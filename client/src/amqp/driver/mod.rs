//! The driver: one tokio task per connection that owns the socket, the
//! read buffer and the sans-IO core.
//!
//! Each wake-up: take ready commands (a bounded batch), take publishes
//! while the broker does not block and the bytes waiting to go out are
//! under the high-water mark, read what the socket has (bounded, and not
//! at all while consumers' queues hold too many deliveries back), handle
//! timeouts, hand out events, then write everything with one flush.
//! Handles talk to it only through bounded queues and oneshots.

use std::collections::{BTreeMap, VecDeque};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Waker;
use std::time::Instant;

use tokio::time::Sleep;

use super::command::{ChanKey, Control, Publish, State, Target};
use super::command_queue::CommandQueue;
use super::config::Config;
use super::error::{Error, Result};
use super::events::ConnectionEvent;
use super::publish_queue::PublishQueue;
use super::topology::Topology;

mod acks;
mod chan;
mod close;
mod coalesce;
mod consumers;
mod control;
mod delivery;
mod dispatch;
pub(crate) mod io;
mod publish;
mod publishes;
mod recovery;

use chan::{Chan, WireMap};
use close::{ClosePhase, Closing};
use control::{Requests, RpcKind, Secrets};
use io::Io;

/// Commands taken per wake-up.
const CONTROL_BATCH: usize = 256;
/// Publishes taken per wake-up.
const PUBLISH_BATCH: usize = 1024;
/// How long publishes may wait in the publish queue while the driver parks
/// lazily (see [`PublishQueue`]).
const LINGER: std::time::Duration = std::time::Duration::from_millis(1);

/// Why the serve loop ended.
#[derive(Debug)]
enum Exit {
    /// Closed as asked.
    Closed,
    /// The connection broke.
    Lost(Error),
}

/// The connection task.
pub(crate) struct Driver {
    config: Arc<Config>,
    state: Arc<State>,
    commands: Arc<CommandQueue>,
    /// Commands taken from the command queue, not yet handled.
    taken_commands: VecDeque<Control>,
    publish_queue: Arc<PublishQueue>,
    /// Publishes taken from the publish queue, not yet handled.
    taken_publishes: VecDeque<Publish>,
    /// The target of the last publish taken (a publish without one goes
    /// where the one before it went).
    last_target: Option<Arc<Target>>,
    /// The properties of a publish that has none of its own.
    no_properties: amqp_proto::BasicProperties,
    control_closed: bool,
    io: Option<Io>,
    generation: u64,
    chans: BTreeMap<ChanKey, Chan>,
    by_wire: WireMap,
    next_key: ChanKey,
    next_consumer: u32,
    /// Requests waiting for their answers.
    requests: Requests,
    topology: Topology,
    /// Deliveries held for full consumer queues.
    held_deliveries: usize,
    /// Some channel has a coalesced ack to send.
    acks_pending: bool,
    /// This turn handed a consumer a delivery to ack, or took a settle:
    /// acks may keep coming, so held ones may wait a little for them.
    acks_active: bool,
    /// Some channel's close waits for its confirms.
    closes_waiting: bool,
    /// Bytes of publishes held for paused channels.
    held_publish_bytes: usize,
    /// Commands that came while the connection was down.
    parked: VecDeque<Control>,
    closing: Option<Closing>,
    exit: Option<Exit>,
    timer: Pin<Box<Sleep>>,
    timer_at: Option<Instant>,
    /// Whether the driver may park lazily: not on the current-thread
    /// runtime, where every wake-up comes from the driver's own thread.
    lazy_parks: bool,
    /// When a lazy park ends at the latest.
    linger_at: Option<Instant>,
    /// Read coalescing (see [`coalesce`]).
    coalesce: coalesce::ReadCoalescing,
    /// Handles to wake once this turn's work is written: waking them one
    /// event at a time would bounce the application between threads.
    wakes: Vec<Waker>,
    /// connection.update-secret: the secret accepted, and one asked.
    secrets: Secrets,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("connection", &self.state.label)
            .field("channels", &self.chans.len())
            .finish_non_exhaustive()
    }
}

impl Drop for Driver {
    /// The task was dropped (its runtime shut down) with channels still
    /// open: their confirms fail rather than wait forever (queued ones
    /// here; sent and held ones as their settlers drop with the channels).
    fn drop(&mut self) {
        self.publish_queue
            .close(&Error::ConfirmLost, &mut self.wakes);
        let gone = Error::lost("the connection driver stopped");
        let queued = self.commands.close();
        for c in self.taken_commands.drain(..).chain(queued) {
            control::fail_control(c, &gone);
        }
        self.wake_handles();
    }
}

impl Driver {
    pub(crate) fn new(
        config: Arc<Config>,
        state: Arc<State>,
        commands: Arc<CommandQueue>,
        publish_queue: Arc<PublishQueue>,
        io: Io,
    ) -> Self {
        let coalesce = coalesce::ReadCoalescing::new(config.read_coalescing);
        Driver {
            config,
            state,
            commands,
            taken_commands: VecDeque::new(),
            publish_queue,
            taken_publishes: VecDeque::new(),
            last_target: None,
            no_properties: amqp_proto::BasicProperties::default(),
            control_closed: false,
            io: Some(io),
            generation: 0,
            chans: BTreeMap::new(),
            by_wire: WireMap::default(),
            next_key: 1,
            next_consumer: 1,
            requests: Requests::default(),
            topology: Topology::default(),
            held_deliveries: 0,
            acks_pending: false,
            acks_active: false,
            closes_waiting: false,
            held_publish_bytes: 0,
            parked: VecDeque::new(),
            closing: None,
            exit: None,
            timer: Box::pin(tokio::time::sleep(std::time::Duration::from_secs(3600))),
            timer_at: None,
            lazy_parks: tokio::runtime::Handle::try_current()
                .is_ok_and(|h| h.runtime_flavor() != tokio::runtime::RuntimeFlavor::CurrentThread),
            linger_at: None,
            coalesce,
            wakes: Vec::new(),
            secrets: Secrets::default(),
        }
    }

    /// Wakes the handles this turn settled. Called before every wait.
    fn wake_handles(&mut self) {
        for w in self.wakes.drain(..) {
            w.wake();
        }
    }

    /// Runs the connection until it is closed for good.
    pub(crate) async fn run(mut self) {
        self.state.connected.store(true, Ordering::Release);
        loop {
            match self.serve().await {
                Exit::Closed => {
                    self.finish(Error::closed_by_app());
                    return;
                }
                Exit::Lost(error) => {
                    tracing::warn!(connection = %self.state.label, %error, "connection lost");
                    self.on_lost(&error);
                    crate::amqp::metrics::Stats::add(&self.state.stats.connection_losses, 1);
                    self.state.emit(ConnectionEvent::Lost {
                        error: error.clone(),
                    });
                    if self.closing.is_some() || self.handles_gone() {
                        self.finish(Error::closed_by_app());
                        return;
                    }
                    if !self.config.recovery.enabled {
                        self.finish(Error::ConnectionClosed {
                            code: error
                                .reply_code()
                                .unwrap_or(amqp_proto::ReplyCode::CONNECTION_FORCED),
                            text: error.to_string(),
                        });
                        return;
                    }
                    if let Err(e) = self.recover().await {
                        self.finish(e);
                        return;
                    }
                }
            }
        }
    }

    /// Every handle is gone (they hold the command queue and the publish queue
    /// together; publishes still queued are taken by the graceful close).
    fn handles_gone(&self) -> bool {
        self.control_closed
    }

    /// The live connection's loop.
    async fn serve(&mut self) -> Exit {
        self.replay_parked();
        loop {
            self.take_controls();
            self.take_publishes();
            if let Err(e) = self.read_and_dispatch() {
                return Exit::Lost(e);
            }
            self.feed_consumers();
            // Held acks wait only while deliveries or acks keep coming: a
            // turn without either (the application has nothing to ack, or
            // stopped) sends them before the driver parks.
            self.flush_acks(!self.acks_active);
            self.advance_channel_closes();
            self.advance_closing();
            if let Some(io) = self.io.as_mut() {
                if let Err(e) = io.flush() {
                    return Exit::Lost(e);
                }
            }
            if let Some(exit) = self.exit.take() {
                return exit;
            }
            self.wait().await;
        }
    }

    fn take_controls(&mut self) {
        if self.control_closed {
            return;
        }
        for n in 0..CONTROL_BATCH {
            if self.taken_commands.is_empty() {
                self.commands
                    .take(&mut self.taken_commands, CONTROL_BATCH - n);
            }
            let Some(c) = self.taken_commands.pop_front() else {
                break;
            };
            self.on_control(c);
        }
        self.check_senders();
    }

    /// Every handle gone and every command taken: the queue is done.
    pub(super) fn check_senders(&mut self) {
        if self.taken_commands.is_empty() && self.commands.done() {
            self.control_closed = true;
            self.on_handles_gone();
        }
    }

    fn take_publishes(&mut self) {
        for n in 0..PUBLISH_BATCH {
            if !self.can_take_publishes() {
                return;
            }
            if self.taken_publishes.is_empty() {
                self.publish_queue
                    .take(&mut self.taken_publishes, PUBLISH_BATCH - n);
            }
            let Some(p) = self.taken_publishes.pop_front() else {
                return;
            };
            self.on_publish(p);
        }
    }

    /// Publishes are taken while connected and open, not blocked, and the
    /// bytes waiting to go out stay under the high-water mark.
    fn can_take_publishes(&self) -> bool {
        let Some(io) = &self.io else { return false };
        if self
            .closing
            .as_ref()
            .is_some_and(|c| c.phase != ClosePhase::Confirms)
        {
            return false;
        }
        io.core.is_open()
            && !io.core.is_blocked()
            && io.pending_bytes() + self.held_publish_bytes < self.config.high_water_mark
    }

    fn can_read(&self) -> bool {
        self.held_deliveries < self.config.max_held_deliveries
    }

    /// Reads up to the budget, handing events out after each read so the
    /// core's event queue stays bounded.
    fn read_and_dispatch(&mut self) -> Result<()> {
        let mut budget = io::READ_BUDGET;
        loop {
            let now = crate::clock::now();
            let Some(io) = self.io.as_mut() else {
                return Ok(());
            };
            if io.core.poll_timeout().is_some_and(|t| t <= now) {
                io.core.handle_timeout(now);
            }
            let mut read = io::Read::Nothing;
            if budget > 0 && self.held_deliveries < self.config.max_held_deliveries {
                let before = io.rbuf.len();
                read = self.coalesce.read(io, now)?;
                budget = budget.saturating_sub(io.rbuf.len().saturating_sub(before));
                if read != io::Read::Nothing {
                    if let Err(e) = io.core.handle_input(now, &mut io.rbuf) {
                        // The core queued connection.close; it goes out with
                        // the flush, then the connection counts as lost.
                        tracing::error!(connection = %self.state.label, error = %e, "protocol error");
                        let err = match e {
                            amqp_proto::ConnectionError::Protocol(p) => Error::Protocol(p),
                            other => Error::lost(other.to_string()),
                        };
                        self.drain_events();
                        if let Some(io) = self.io.as_mut() {
                            let _ = io.flush();
                        }
                        return Err(err);
                    }
                }
            }
            self.drain_events();
            if read != io::Read::More || self.exit.is_some() {
                return Ok(());
            }
        }
    }

    fn drain_events(&mut self) {
        while let Some(ev) = self.io.as_mut().and_then(|io| io.core.poll_event()) {
            self.on_event(ev);
        }
    }

    /// When the driver must wake without IO: the core's timer, the close
    /// deadline.
    fn next_deadline(&self) -> Option<Instant> {
        let core = self.io.as_ref().and_then(|io| io.core.poll_timeout());
        let close = self.closing.as_ref().map(|c| c.deadline);
        let acks = self.acks_deadline();
        [
            core,
            close,
            self.channel_close_deadline(),
            self.linger_at,
            self.coalesce.deadline(),
            acks,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn arm_timer(&mut self, at: Option<Instant>) {
        if at != self.timer_at {
            if let Some(at) = at {
                self.timer.as_mut().reset(at.into());
            }
            self.timer_at = at;
        }
    }

    async fn wait(&mut self) {
        self.wake_handles();
        let can_publish = self.can_take_publishes();
        // Publishes left over from a full turn: come back at once, after
        // letting other tasks run.
        let more = can_publish && !self.taken_publishes.is_empty();
        let wait_publish = can_publish && !more;
        // The broker owes confirms: it will wake the driver, which then
        // takes what was queued meanwhile; until the linger timer at most.
        let lazy_publish = self.lazy_parks
            && wait_publish
            && self.chans.values().any(|c| c.publishes.unconfirmed() > 0);
        // Consumers' windows far from full: deliveries, and with them the
        // driver, come anyway; acks wait for them (see `acks_lazy`). Only
        // right after a turn that moved deliveries or acks: once a linger
        // passes without any, acks wake the driver again (an idle consumer
        // costs no timer wake-ups, and an ack is never left in the command queue
        // with nothing to come for it).
        let active = std::mem::take(&mut self.acks_active);
        let lazy_acks = self.lazy_parks && active && self.acks_lazy();
        let lazy = lazy_publish || lazy_acks;
        if !lazy {
            self.linger_at = None;
        } else {
            // The timer runs out a linger after the last turn, give or take
            // half (re-arming it every turn would cost more than it saves);
            // a driver that keeps turning never hears from it.
            let now = crate::clock::now();
            if self.linger_at.is_none_or(|t| t < now + LINGER / 2) {
                self.linger_at = Some(now + LINGER);
            }
        }
        self.update_coalescing();
        let deadline = self.next_deadline();
        self.arm_timer(deadline);
        let can_read = self.can_read();
        // Not while the driver is not reading: the turn would not read.
        let read_below = self.coalesce.wants_read() && can_read;
        let holding = self.held_deliveries > 0;
        let more_controls = !self.taken_commands.is_empty();
        let control_open = !self.control_closed && !more_controls;
        let Some(io) = self.io.as_ref() else {
            return;
        };
        let want_write = io.wants_write();
        self.state.wants_room.store(holding, Ordering::Relaxed);
        tokio::select! {
            biased;
            r = io.stream.writable(), if want_write => { let _ = r; }
            _ = self.commands.ready(lazy_acks), if control_open => {}
            r = io.stream.readable(), if can_read => { let _ = r; }
            _ = tokio::task::yield_now(), if more || more_controls || read_below => {}
            _ = self.publish_queue.queued(lazy_publish), if wait_publish => {}
            _ = &mut self.timer, if deadline.is_some() => { self.timer_at = None; }
            _ = self.state.room.notified(), if holding => {}
        }
    }

    /// Raises or lowers the socket's low-water mark for the confirms now
    /// outstanding and the deliveries the prefetch windows allow, and arms
    /// the fallback read (see [`coalesce`]).
    fn update_coalescing(&mut self) {
        let (mut outstanding, mut credit) = (0usize, 0usize);
        if self.coalesce.enabled() {
            for c in self.chans.values() {
                outstanding += c.publishes.unconfirmed();
                if !c.consumers.is_empty() {
                    let window = match usize::from(c.prefetch()) {
                        0 => usize::MAX,
                        p => p.saturating_mul(c.consumers.len()),
                    };
                    credit = credit.saturating_add(window.saturating_sub(c.acks.outstanding()));
                }
            }
        }
        if self
            .coalesce
            .park(self.io.as_mut(), outstanding, credit)
            .is_err()
        {
            tracing::debug!(connection = %self.state.label, "the socket refused SO_RCVLOWAT: no read coalescing");
        }
    }
}
