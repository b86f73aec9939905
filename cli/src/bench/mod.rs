//! The harness of `mq bench`, for either protocol: stamped payloads, the
//! progress bars, the latency histogram, CPU time, and the summary (a table,
//! or JSON).
//!
//! A protocol's bench drives it like this:
//!
//! 1. [`Bench::start`] with the run's [`Settings`]; the clock and the CPU
//!    time start here.
//! 2. The producing side sends [`Bench::payload`]s (each starts with this
//!    run's id and its send time, [`STAMP_LEN`] bytes) and, as the broker
//!    confirms them, calls [`Progress::published`]. At the end it describes
//!    its work as a [`Phase`], timed with [`Clock::elapsed`].
//! 3. The consuming side feeds every payload it receives to a [`Receiver`]
//!    (from [`Bench::receiver`]), which checks the stamp, records the
//!    end-to-end latency and moves the consume bar.
//! 4. [`Bench::finish`] takes both and returns the [`Report`].
//!
//! Producer and consumer run in one process, so one clock times both ends.

mod cpu;
pub(crate) mod expect;
pub(crate) mod histogram;
mod progress;
mod report;

use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};

pub(crate) use cpu::CpuTime;
pub(crate) use expect::{Expected, Next};
pub(crate) use histogram::Histogram;
pub(crate) use progress::Progress;
pub(crate) use report::{Phase, Report};

/// Bytes at the start of every bench message: the run id, then the send
/// time in nanoseconds since the run started, both big-endian `u64`s.
pub(crate) const STAMP_LEN: usize = 16;

/// What a run measures, as the report shows it.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// `amqp` or `kafka`.
    pub(crate) protocol: &'static str,
    /// The broker URL, password hidden.
    pub(crate) url: String,
    /// Where the messages go: `queue NAME`, `topic NAME`.
    pub(crate) destination: String,
    /// Bytes per message.
    pub(crate) size: usize,
    /// Messages to send.
    pub(crate) count: u64,
    /// Messages in flight, unconfirmed.
    pub(crate) window: u32,
    /// Protocol-specific settings, such as `prefetch` or `compression`.
    pub(crate) extra: Vec<(&'static str, String)>,
}

/// Time since the run started; cheap to copy into tasks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    start: Instant,
}

impl Clock {
    /// A clock starting now.
    pub(crate) fn start() -> Self {
        Clock {
            start: Instant::now(),
        }
    }

    /// Time since the start.
    pub(crate) fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Nanoseconds since the start.
    fn now_ns(&self) -> u64 {
        u64::try_from(self.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// A run in progress.
#[derive(Debug)]
pub(crate) struct Bench {
    settings: Settings,
    clock: Clock,
    cpu: CpuTime,
    progress: Progress,
    run_id: u64,
    filler: Bytes,
}

impl Bench {
    /// Starts the clock, the CPU time and the progress bars (drawn on
    /// stderr when it is a terminal). `settings.size` must be at least
    /// [`STAMP_LEN`].
    pub(crate) fn start(settings: Settings) -> Bench {
        Bench::start_with(settings, Progress::stderr)
    }

    /// [`Bench::start`] with the progress bars `progress` makes from the
    /// message count.
    pub(crate) fn start_with(settings: Settings, progress: impl FnOnce(u64) -> Progress) -> Bench {
        let filler = Bytes::from(vec![b'x'; settings.size.saturating_sub(STAMP_LEN)]);
        // Unique enough to tell this run's messages from any other's.
        let run_id = (u64::from(std::process::id()) << 32)
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
        Bench {
            progress: progress(settings.count),
            settings,
            clock: Clock::start(),
            cpu: CpuTime::now(),
            run_id,
            filler,
        }
    }

    /// The run's clock.
    pub(crate) fn clock(&self) -> Clock {
        self.clock
    }

    /// The progress bars.
    pub(crate) fn progress(&self) -> Progress {
        self.progress.clone()
    }

    /// The run's settings.
    pub(crate) fn settings(&self) -> &Settings {
        &self.settings
    }

    /// A message to send now: the stamp, then filler up to the size.
    pub(crate) fn payload(&self) -> Bytes {
        stamp(self.run_id, self.clock.now_ns(), &self.filler)
    }

    /// The consuming side's recorder.
    pub(crate) fn receiver(&self) -> Receiver {
        Receiver {
            clock: self.clock,
            run_id: self.run_id,
            latency: Histogram::new(),
            received: 0,
            foreign: 0,
            bytes: 0,
            last: Duration::ZERO,
            progress: self.progress.clone(),
        }
    }

    /// Stops the CPU clock and the progress bars; the summary of the run.
    pub(crate) fn finish(self, publish: Phase, receiver: Receiver) -> Report {
        let cpu = CpuTime::now().since(self.cpu);
        self.progress.finish();
        let consume = Phase {
            messages: receiver.received,
            failed: self.settings.count.saturating_sub(receiver.received),
            bytes: receiver.bytes,
            elapsed: receiver.last,
        };
        Report::new(
            self.settings,
            publish,
            consume,
            &receiver.latency,
            receiver.foreign,
            cpu,
        )
    }
}

/// A stamped message: `run_id`, `sent_ns`, then `filler`.
fn stamp(run_id: u64, sent_ns: u64, filler: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(STAMP_LEN + filler.len());
    b.put_u64(run_id);
    b.put_u64(sent_ns);
    b.put_slice(filler);
    b.freeze()
}

/// The run id and send time of a stamped message.
fn read_stamp(payload: &[u8]) -> Option<(u64, u64)> {
    let run = payload.get(..8)?.try_into().ok()?;
    let sent = payload.get(8..16)?.try_into().ok()?;
    Some((u64::from_be_bytes(run), u64::from_be_bytes(sent)))
}

/// Records what the consuming side receives.
#[derive(Debug)]
pub(crate) struct Receiver {
    clock: Clock,
    run_id: u64,
    latency: Histogram,
    received: u64,
    foreign: u64,
    bytes: u64,
    last: Duration,
    progress: Progress,
}

impl Receiver {
    /// Takes a received payload: if this run sent it, records its latency
    /// and returns `true`; else counts it as foreign.
    pub(crate) fn record(&mut self, payload: &[u8]) -> bool {
        let now = self.clock.elapsed();
        match read_stamp(payload) {
            Some((run, sent)) if run == self.run_id => {
                let now_ns = u64::try_from(now.as_nanos()).unwrap_or(u64::MAX);
                self.latency.record_ns(now_ns.saturating_sub(sent));
                self.received += 1;
                self.bytes += payload.len() as u64;
                self.last = now;
                self.progress.consumed(1);
                true
            }
            _ => {
                self.foreign += 1;
                false
            }
        }
    }

    /// Messages of this run received so far.
    pub(crate) fn received(&self) -> u64 {
        self.received
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(size: usize, count: u64) -> Settings {
        Settings {
            protocol: "amqp",
            url: "amqp://guest:***@h:5672/%2f".into(),
            destination: "queue q".into(),
            size,
            count,
            window: 10,
            extra: vec![("prefetch", "5".into())],
        }
    }

    #[test]
    fn payloads_carry_the_stamp_and_the_size() {
        let bench = Bench::start_with(settings(100, 3), |_| Progress::hidden());
        let p = bench.payload();
        assert_eq!(p.len(), 100);
        let (run, _) = read_stamp(&p).unwrap();
        assert_eq!(run, bench.run_id);
        // The smallest payload is the stamp alone.
        let small = Bench::start_with(settings(STAMP_LEN, 1), |_| Progress::hidden());
        assert_eq!(small.payload().len(), STAMP_LEN);
        assert_eq!(read_stamp(b"short"), None);
    }

    #[test]
    fn the_receiver_counts_this_runs_messages_only() {
        let bench = Bench::start_with(settings(32, 3), |_| Progress::hidden());
        let mut r = bench.receiver();
        assert!(r.record(&bench.payload()));
        assert!(r.record(&bench.payload()));
        assert!(!r.record(&stamp(bench.run_id ^ 1, 0, b"")));
        assert!(!r.record(b"not a bench message"));
        assert_eq!(r.received(), 2);
        let publish = Phase {
            messages: 3,
            failed: 0,
            bytes: 96,
            elapsed: Duration::from_millis(10),
        };
        let report = bench.finish(publish, r);
        assert_eq!(report.consume.messages, 2);
        assert_eq!(report.consume.failed, 1, "one of three never arrived");
        assert_eq!(report.consume.bytes, 64);
        assert_eq!(report.foreign, 2);
        assert_eq!(report.latency_samples, 2);
    }
}
