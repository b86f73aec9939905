//! Read coalescing: fewer wake-ups per message for a publisher that
//! keeps many confirms outstanding, or a consumer draining a deep queue.
//!
//! RabbitMQ acks a stream of confirmed publishes in many small frames
//! (a 21-byte basic.ack every few messages), and each TCP segment of them
//! wakes the driver: one park and wake-up, a read, and a batch of
//! confirms handed to the application, for a handful of messages. Most of
//! a publisher's CPU time goes to those wake-ups, not to the messages.
//!
//! While at least [`MIN_OUTSTANDING`] confirms are outstanding on the
//! connection, the driver sets the socket's receive low-water mark
//! (`SO_RCVLOWAT`) to a batch of ack frames: the kernel then wakes it
//! only once that many bytes are waiting. A fallback timer bounds the
//! wait: a linger after the last read, the driver reads whatever is there
//! (the acks it waits for may never fill the mark: the broker may ack many
//! publishes in one frame, or the publisher may stop). The batch adapts:
//! a wake-up by the mark grows it by a frame, a fallback that finds bytes
//! below the mark halves it, and a fallback that finds nothing turns the
//! mark off until reads come again, so a quiet or stalled connection does
//! not keep the timer busy.
//!
//! Deliveries get the same treatment while they stream in: when the last
//! read brought at least [`DELIVERY_BURST`] bytes and the consumers'
//! prefetch windows leave the broker room for at least
//! [`MIN_CREDIT`] more deliveries, the mark is the size of that read (at
//! most [`MAX_DELIVERY_MARK`]): a consumer draining a deep queue wakes
//! per few dozen deliveries rather than per segment, and a read below
//! [`DELIVERY_BURST`] (the queue ran dry, or messages trickle in) drops
//! the mark. When a stream stops, the mark stays up until the fallback
//! finds the socket quiet: what comes in that last linger may wait for
//! it, and nothing after; a consumer of a quiet queue never waits.
//!
//! Other frames on the connection (replies, heartbeats) are held the
//! same way while the mark is up: at most a linger, plus the timer's
//! granularity. A linger of zero turns coalescing off. Where
//! `SO_RCVLOWAT` does not wake poll as on Linux, coalescing is off.

use std::time::{Duration, Instant};

use super::io::{Io, Read};
use crate::amqp::error::Result;

/// Outstanding confirms from which the driver coalesces their acks.
pub(crate) const MIN_OUTSTANDING: usize = 128;
/// The size of a basic.ack frame: 7 header bytes, 13 of payload, the end
/// octet.
const ACK_FRAME: usize = 21;
/// The largest batch, in ack frames.
const MAX_FRAMES: usize = 32;
/// The smallest batch worth a mark, in ack frames.
const MIN_FRAMES: usize = 2;
/// At most one ack frame asked per this many outstanding confirms: the
/// broker acks at least a publish per frame, and usually several.
const CONFIRMS_PER_FRAME: usize = 8;

/// Bytes a read must bring for deliveries to be coalesced.
pub(crate) const DELIVERY_BURST: usize = 4 * 1024;
/// The largest mark for deliveries.
pub(crate) const MAX_DELIVERY_MARK: usize = 16 * 1024;
/// Deliveries the consumers' prefetch windows must leave the broker room
/// for.
pub(crate) const MIN_CREDIT: usize = 128;

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct Coalescer {
    /// The longest a read waits for the mark; zero: off.
    linger: Duration,
    /// The batch, in ack frames.
    frames: usize,
    /// Enough confirms were outstanding at the last turn.
    engaged: bool,
    /// When the driver reads below the mark at the latest.
    fallback_at: Option<Instant>,
    /// Bytes of the last read.
    last_read: usize,
}

impl Coalescer {
    /// Coalescing with the given linger (zero: off, as it is where the
    /// platform lacks the low-water mark).
    pub(crate) fn new(linger: Duration) -> Self {
        let linger = if cfg!(target_os = "linux") {
            linger
        } else {
            Duration::ZERO
        };
        Coalescer {
            linger,
            frames: MAX_FRAMES,
            engaged: false,
            fallback_at: None,
            last_read: 0,
        }
    }

    /// Whether coalescing can ever engage.
    pub(crate) fn enabled(&self) -> bool {
        !self.linger.is_zero()
    }

    /// Turns coalescing off for good (the socket refused the mark).
    pub(crate) fn disable(&mut self) {
        self.linger = Duration::ZERO;
        self.fallback_at = None;
    }

    /// The receive low-water mark wanted, in bytes, with `outstanding`
    /// confirms and room for `credit` more deliveries in the consumers'
    /// prefetch windows (1: every byte wakes the driver).
    pub(crate) fn mark(&mut self, outstanding: usize, credit: usize) -> usize {
        self.engaged = self.enabled() && outstanding >= MIN_OUTSTANDING;
        let frames = self.frames.min(outstanding / CONFIRMS_PER_FRAME);
        let confirms = if self.engaged && frames >= MIN_FRAMES {
            frames * ACK_FRAME
        } else {
            1
        };
        // (Rounding it to fewer values, to change it less often, measured
        // worse: the saved system calls cost more wake-ups.)
        let deliveries =
            if self.enabled() && credit >= MIN_CREDIT && self.last_read >= DELIVERY_BURST {
                self.last_read.min(MAX_DELIVERY_MARK)
            } else {
                1
            };
        confirms.max(deliveries)
    }

    /// A read woken by readiness got `bytes`: with confirms outstanding,
    /// the batch grows by a frame.
    pub(crate) fn on_ready_read(&mut self, bytes: usize) {
        self.last_read = bytes;
        if self.engaged {
            self.frames = (self.frames + 1).min(MAX_FRAMES);
        }
    }

    /// Whether the fallback read is due.
    pub(crate) fn fallback_due(&self, now: Instant) -> bool {
        self.fallback_at.is_some_and(|t| t <= now)
    }

    /// The fallback read ran: bytes below the mark mean the batch is too
    /// big for the broker's acks (halve it); nothing means the broker is
    /// quiet (mark off until reads come again).
    pub(crate) fn on_fallback(&mut self, bytes: usize) {
        self.fallback_at = None;
        self.last_read = bytes;
        self.frames = if bytes > 0 { self.frames / 2 } else { 0 };
    }

    /// Arms the fallback before the driver parks: `marked`, the socket's
    /// mark is up; `read`, this turn read bytes (the linger runs from the
    /// last read). A fallback still due here was not run (the driver is
    /// not reading: its consumers' queues are full) and moves a linger on,
    /// so that the driver never parks on a timer that has run out.
    pub(crate) fn arm(&mut self, now: Instant, marked: bool, read: bool) {
        if !marked {
            self.fallback_at = None;
        } else if read || self.fallback_at.is_none_or(|t| t <= now) {
            self.fallback_at = Some(now + self.linger);
        }
    }

    /// When the driver must wake for the fallback read.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.fallback_at
    }
}

/// Read coalescing as the driver uses it: the [`Coalescer`]'s policy,
/// and the socket reads and marks it asks for. The driver calls
/// [`read`](Self::read) for every read and [`park`](Self::park) before it
/// waits; nothing else of it touches the mark.
#[derive(Debug)]
pub(crate) struct ReadCoalescing {
    policy: Coalescer,
    /// This turn read bytes.
    read_this_turn: bool,
    /// The mark just came down: read what sat below it before parking
    /// (the kernel may not report those bytes as new).
    read_after_unmark: bool,
}

impl ReadCoalescing {
    /// Coalescing with the given linger (zero: off).
    pub(crate) fn new(linger: Duration) -> Self {
        ReadCoalescing {
            policy: Coalescer::new(linger),
            read_this_turn: false,
            read_after_unmark: false,
        }
    }

    /// Reads what the socket has: what readiness reports, else (the mark
    /// being up and its fallback due, or the mark just down) what sits
    /// below the mark.
    pub(crate) fn read(&mut self, io: &mut Io, now: Instant) -> Result<Read> {
        let before = io.rbuf.len();
        let mut read = io.read_some()?;
        if read != Read::Nothing {
            self.policy.on_ready_read(io.rbuf.len() - before);
        } else if io.lowat > 1 && self.policy.fallback_due(now) {
            read = io.read_below_mark()?;
            self.policy.on_fallback(io.rbuf.len() - before);
        } else if std::mem::take(&mut self.read_after_unmark) {
            read = io.read_below_mark()?;
        }
        if read != Read::Nothing {
            self.read_this_turn = true;
        }
        Ok(read)
    }

    /// Before the driver parks: raises or lowers the socket's mark for
    /// `outstanding` confirms and room for `credit` deliveries, and arms
    /// the fallback read. `Err` once the socket refused the mark:
    /// coalescing is then off for good.
    pub(crate) fn park(
        &mut self,
        io: Option<&mut Io>,
        outstanding: usize,
        credit: usize,
    ) -> std::result::Result<(), ()> {
        let read = std::mem::take(&mut self.read_this_turn);
        if !self.policy.enabled() {
            return Ok(());
        }
        let want = self.policy.mark(outstanding, credit);
        let Some(io) = io else {
            return Ok(());
        };
        // A refused mark while none is up: off for good (a mark that is
        // up keeps its fallback reads).
        let was = io.lowat;
        if want != io.lowat && !io.set_lowat(want) && io.lowat == 1 {
            self.policy.disable();
            return Err(());
        }
        if was > 1 && io.lowat == 1 {
            self.read_after_unmark = true;
        }
        self.policy.arm(crate::clock::now(), io.lowat > 1, read);
        Ok(())
    }

    /// Whether coalescing can engage (the driver then counts what
    /// [`park`](Self::park) needs).
    pub(crate) fn enabled(&self) -> bool {
        self.policy.enabled()
    }

    /// The mark just came down: the driver must read once more before it
    /// parks.
    pub(crate) fn wants_read(&self) -> bool {
        self.read_after_unmark
    }

    /// When the driver must wake for the fallback read.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.policy.deadline()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Coalescer {
        /// The mark with confirms only.
        fn mark_c(&mut self, outstanding: usize) -> usize {
            self.mark(outstanding, 0)
        }
    }

    fn on() -> Coalescer {
        let mut c = Coalescer::new(Duration::from_millis(1));
        c.linger = Duration::from_millis(1);
        c
    }

    #[test]
    fn the_mark_needs_many_outstanding_confirms() {
        let mut c = on();
        assert_eq!(c.mark_c(0), 1);
        assert_eq!(c.mark_c(MIN_OUTSTANDING - 1), 1);
        assert_eq!(c.mark_c(MIN_OUTSTANDING), 16 * ACK_FRAME, "one frame per 8");
        assert_eq!(c.mark_c(1000), MAX_FRAMES * ACK_FRAME);
        let mut off = on();
        off.disable();
        assert_eq!(off.mark_c(1000), 1);
        assert!(!off.enabled());
    }

    #[test]
    fn fallbacks_shrink_the_batch_and_ready_reads_grow_it() {
        let mut c = on();
        assert_eq!(c.mark_c(1000), 32 * ACK_FRAME);
        c.on_fallback(21);
        assert_eq!(c.mark_c(1000), 16 * ACK_FRAME);
        c.on_fallback(21);
        c.on_fallback(21);
        c.on_fallback(21);
        assert_eq!(c.mark_c(1000), 2 * ACK_FRAME);
        c.on_fallback(21);
        assert_eq!(c.mark_c(1000), 1, "one frame is no batch");
        c.on_ready_read(21);
        assert_eq!(c.mark_c(1000), 2 * ACK_FRAME);
        for _ in 0..100 {
            c.on_ready_read(21);
        }
        assert_eq!(c.mark_c(1000), MAX_FRAMES * ACK_FRAME, "capped");
    }

    #[test]
    fn a_quiet_fallback_turns_the_mark_off_and_reads_bring_it_back() {
        let mut c = on();
        assert!(c.mark_c(1000) > 1);
        c.on_fallback(0);
        assert_eq!(c.mark_c(1000), 1);
        c.on_ready_read(21);
        c.on_ready_read(21);
        assert_eq!(c.mark_c(1000), 2 * ACK_FRAME);
        // Reads while too few confirms are outstanding do not count.
        assert_eq!(c.mark_c(10), 1);
        c.on_ready_read(21);
        assert_eq!(c.mark_c(1000), 2 * ACK_FRAME);
    }

    #[test]
    fn deliveries_get_a_mark_while_they_stream_in() {
        let mut c = on();
        assert_eq!(c.mark(0, 1000), 1, "no read yet");
        c.on_ready_read(DELIVERY_BURST - 1);
        assert_eq!(c.mark(0, 1000), 1, "a small read is no stream");
        c.on_ready_read(6000);
        assert_eq!(c.mark(0, 1000), 6000, "the mark follows the last read");
        assert_eq!(c.mark(0, MIN_CREDIT - 1), 1, "the windows are nearly full");
        c.on_ready_read(64 * 1024);
        assert_eq!(c.mark(0, 1000), MAX_DELIVERY_MARK, "capped");
        c.on_fallback(500);
        assert_eq!(c.mark(0, 1000), 1, "the stream thinned out");
        c.on_ready_read(5000);
        assert_eq!(c.mark(1000, 1000), 5000, "the larger of the two marks");
        c.on_ready_read(100);
        assert_eq!(
            c.mark(1000, 1000),
            17 * ACK_FRAME,
            "the confirms' mark: the fallback halved it, a read grew it"
        );
        let mut off = on();
        off.disable();
        off.on_ready_read(10_000);
        assert_eq!(off.mark(1000, 1000), 1);
    }

    #[test]
    fn the_fallback_runs_a_linger_after_the_last_read() {
        let mut c = on();
        let t0 = Instant::now();
        c.arm(t0, true, true);
        assert_eq!(c.deadline(), Some(t0 + Duration::from_millis(1)));
        let t1 = t0 + Duration::from_micros(300);
        c.arm(t1, true, false);
        assert_eq!(
            c.deadline(),
            Some(t0 + Duration::from_millis(1)),
            "a turn without a read keeps it"
        );
        assert!(!c.fallback_due(t1));
        assert!(c.fallback_due(t0 + Duration::from_millis(1)));
        c.arm(t1, true, true);
        assert_eq!(c.deadline(), Some(t1 + Duration::from_millis(1)));
        c.arm(t1, false, true);
        assert_eq!(c.deadline(), None, "no mark, no fallback");
        // Due and not run (the driver is not reading): moved on.
        c.arm(t0, true, true);
        let t2 = t0 + Duration::from_millis(5);
        assert!(c.fallback_due(t2));
        c.arm(t2, true, false);
        assert_eq!(c.deadline(), Some(t2 + Duration::from_millis(1)));
        assert!(!c.fallback_due(t2));
    }
}
