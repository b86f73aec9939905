//! The summary of a bench run: a table for people, JSON for machines.
//!
//! MB/s counts payload bytes in megabytes of 10^6 bytes. Latency is end to
//! end: from just before a message is handed to the client to just after
//! the consuming side receives it. CPU per message is the process's user
//! plus system time over the run divided by the messages sent; producer and
//! consumer run in the same process, so it covers both ends of a message.

use std::fmt::Write as _;
use std::time::Duration;

use super::{CpuTime, Histogram, Settings};
use crate::error::{CliError, Failure};
use crate::json::ObjectWriter;
use crate::output::Output;

/// One side of the run: publishing or consuming.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Phase {
    /// Messages that made it (confirmed, or received).
    pub(crate) messages: u64,
    /// Messages that did not (nacked, returned or lost; never received).
    pub(crate) failed: u64,
    /// Payload bytes of `messages`.
    pub(crate) bytes: u64,
    /// From the start of the run to the last message of this side.
    pub(crate) elapsed: Duration,
}

impl Phase {
    /// Messages per second.
    pub(crate) fn msgs_per_sec(&self) -> f64 {
        per_sec(self.messages as f64, self.elapsed)
    }

    /// Megabytes (10^6 bytes) of payload per second.
    pub(crate) fn mb_per_sec(&self) -> f64 {
        per_sec(self.bytes as f64 / 1e6, self.elapsed)
    }
}

fn per_sec(amount: f64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 { amount / secs } else { 0.0 }
}

/// What a run measured.
#[derive(Debug, Clone)]
pub(crate) struct Report {
    /// What was run.
    pub(crate) settings: Settings,
    /// The publishing side.
    pub(crate) publish: Phase,
    /// The consuming side.
    pub(crate) consume: Phase,
    /// Latencies measured (one per message received).
    pub(crate) latency_samples: u64,
    /// Median end-to-end latency.
    pub(crate) p50: Duration,
    /// 99th percentile.
    pub(crate) p99: Duration,
    /// Largest.
    pub(crate) max: Duration,
    /// Messages received that this run did not send.
    pub(crate) foreign: u64,
    /// CPU time of the process over the run.
    pub(crate) cpu: CpuTime,
}

impl Report {
    /// The report of a finished run.
    pub(crate) fn new(
        settings: Settings,
        publish: Phase,
        consume: Phase,
        latency: &Histogram,
        foreign: u64,
        cpu: CpuTime,
    ) -> Report {
        Report {
            settings,
            publish,
            consume,
            latency_samples: latency.len(),
            p50: latency.quantile(0.50),
            p99: latency.quantile(0.99),
            max: latency.max(),
            foreign,
            cpu,
        }
    }

    /// CPU time per message sent.
    pub(crate) fn cpu_per_message(&self) -> Duration {
        let n = u32::try_from(self.settings.count.max(1)).unwrap_or(u32::MAX);
        self.cpu.total() / n
    }

    /// Whether every message was confirmed and received.
    pub(crate) fn complete(&self) -> bool {
        self.publish.failed == 0 && self.consume.failed == 0
    }

    /// Prints the summary (JSON with `json`, else the table) and says
    /// whether the run was complete: a message not confirmed or never
    /// received is a [`Failure::NotConfirmed`].
    pub(crate) fn print(&self, json: bool, out: &mut Output) -> Result<(), CliError> {
        if json {
            out.line(&self.json())?;
        } else {
            out.write_all(self.table().as_bytes())?;
        }
        if self.complete() {
            Ok(())
        } else {
            Err(CliError::new(
                Failure::NotConfirmed,
                format!(
                    "{} of {} messages were not confirmed and {} never arrived",
                    self.publish.failed, self.settings.count, self.consume.failed
                ),
            ))
        }
    }

    /// The summary table.
    pub(crate) fn table(&self) -> String {
        let s = &self.settings;
        let mut t = String::new();
        let _ = writeln!(t, "mq bench {}, {}", s.url, s.destination);
        let mut line = format!(
            "  {} messages of {} bytes, window {}",
            s.count, s.size, s.window
        );
        for (k, v) in &s.extra {
            let _ = write!(line, ", {k} {v}");
        }
        let _ = writeln!(t, "{line}\n");
        let _ = writeln!(
            t,
            "{:<9}{:>11}{:>9}{:>10}{:>13}{:>10}",
            "", "messages", "failed", "seconds", "msgs/s", "MB/s"
        );
        for (name, p) in [("publish", &self.publish), ("consume", &self.consume)] {
            let _ = writeln!(
                t,
                "{:<9}{:>11}{:>9}{:>10.3}{:>13.1}{:>10.2}",
                name,
                p.messages,
                p.failed,
                p.elapsed.as_secs_f64(),
                p.msgs_per_sec(),
                p.mb_per_sec()
            );
        }
        let _ = writeln!(
            t,
            "\nlatency  p50 {}   p99 {}   max {}   ({} samples)",
            human(self.p50),
            human(self.p99),
            human(self.max),
            self.latency_samples
        );
        let _ = writeln!(
            t,
            "CPU      {} per message (user {:.3} s, system {:.3} s)",
            human(self.cpu_per_message()),
            self.cpu.user.as_secs_f64(),
            self.cpu.system.as_secs_f64()
        );
        if self.foreign > 0 {
            let _ = writeln!(
                t,
                "note     {} messages received were not sent by this run",
                self.foreign
            );
        }
        t
    }

    /// The summary as one JSON object (no newline). Durations are in
    /// microseconds (`*_us`) or seconds (`seconds`, `*_seconds`).
    pub(crate) fn json(&self) -> String {
        let s = &self.settings;
        let mut out = Vec::new();
        let mut o = ObjectWriter::new(&mut out);
        o.str("protocol", s.protocol)
            .str("url", &s.url)
            .str("destination", &s.destination)
            .u64("size", s.size as u64)
            .u64("count", s.count)
            .u64("window", u64::from(s.window));
        for (k, v) in &s.extra {
            o.str(k, v);
        }
        for (name, p) in [("publish", &self.publish), ("consume", &self.consume)] {
            o.object(name, |o| {
                o.u64("messages", p.messages)
                    .u64("failed", p.failed)
                    .u64("bytes", p.bytes)
                    .f64("seconds", p.elapsed.as_secs_f64())
                    .f64("msgs_per_sec", p.msgs_per_sec())
                    .f64("mb_per_sec", p.mb_per_sec());
            });
        }
        o.object("latency", |o| {
            o.u64("samples", self.latency_samples)
                .f64("p50_us", micros(self.p50))
                .f64("p99_us", micros(self.p99))
                .f64("max_us", micros(self.max));
        })
        .object("cpu", |o| {
            o.f64("user_seconds", self.cpu.user.as_secs_f64())
                .f64("system_seconds", self.cpu.system.as_secs_f64())
                .f64("per_message_us", micros(self.cpu_per_message()));
        })
        .u64("foreign", self.foreign);
        o.finish();
        String::from_utf8_lossy(&out).into_owned()
    }
}

fn micros(d: Duration) -> f64 {
    d.as_nanos() as f64 / 1e3
}

/// A duration in the unit that suits it.
fn human(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns < 1_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        format!("{:.1} us", d.as_secs_f64() * 1e6)
    } else if ns < 1_000_000_000 {
        format!("{:.2} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.3} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        let mut h = Histogram::new();
        for us in 1..=100u64 {
            h.record_ns(us * 10_000);
        }
        Report::new(
            Settings {
                protocol: "amqp",
                url: "amqp://guest:***@h:5672/%2f".into(),
                destination: "queue q".into(),
                size: 100,
                count: 100,
                window: 10,
                extra: vec![("prefetch", "50".into())],
            },
            Phase {
                messages: 100,
                failed: 0,
                bytes: 10_000,
                elapsed: Duration::from_millis(500),
            },
            Phase {
                messages: 99,
                failed: 1,
                bytes: 9_900,
                elapsed: Duration::from_secs(1),
            },
            &h,
            0,
            CpuTime {
                user: Duration::from_millis(3),
                system: Duration::from_millis(1),
            },
        )
    }

    #[test]
    fn rates_and_cpu_per_message() {
        let r = report();
        assert_eq!(r.publish.msgs_per_sec(), 200.0);
        assert_eq!(r.publish.mb_per_sec(), 0.02);
        assert_eq!(r.cpu_per_message(), Duration::from_micros(40));
        assert!(!r.complete());
        let idle = Phase {
            messages: 0,
            failed: 0,
            bytes: 0,
            elapsed: Duration::ZERO,
        };
        assert_eq!(idle.msgs_per_sec(), 0.0);
    }

    #[test]
    fn the_table_has_every_figure() {
        let t = report().table();
        for part in [
            "mq bench amqp://guest:***@h:5672/%2f, queue q",
            "100 messages of 100 bytes, window 10, prefetch 50",
            "msgs/s",
            "MB/s",
            "publish          100        0     0.500        200.0      0.02",
            "consume           99        1     1.000         99.0      0.01",
            "p50 501.8 us   p99 987.1 us   max 1.00 ms",
            "(100 samples)",
            "40.0 us per message (user 0.003 s, system 0.001 s)",
        ] {
            assert!(t.contains(part), "{part:?} not in\n{t}");
        }
    }

    #[test]
    fn the_json_parses_with_every_field() {
        let v: serde_json::Value = serde_json::from_str(&report().json()).unwrap();
        assert_eq!(v["protocol"], "amqp");
        assert_eq!(v["prefetch"], "50");
        assert_eq!(v["publish"]["messages"], 100);
        assert_eq!(v["publish"]["msgs_per_sec"], 200.0);
        assert_eq!(v["consume"]["failed"], 1);
        assert_eq!(v["latency"]["samples"], 100);
        assert_eq!(v["latency"]["max_us"], 1000.0);
        assert_eq!(v["cpu"]["per_message_us"], 40.0);
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human(Duration::from_nanos(512)), "512 ns");
        assert_eq!(human(Duration::from_micros(1500)), "1.50 ms");
        assert_eq!(human(Duration::from_secs(2)), "2.000 s");
    }
}
