//! `mq consume kafka://.../topic --group G`: records to stdout as a member
//! of consumer group G, on `mq_client::kafka::Consumer`.
//!
//! The members of a group share the topic's partitions (another `mq
//! consume --group G`, `kcat -G G`, a Java consumer). Each partition starts
//! at the group's committed offset; a partition with none starts at
//! `--from earliest` or `latest` (the default), Kafka's
//! `auto.offset.reset`. `--from OFFSET` is refused with `--group`: the
//! group's offsets say where to start, and seeking on every assignment
//! would re-read or skip records each time partitions move.
//!
//! At-least-once: the offsets of records are committed only after they
//! were written and stdout flushed, batch by batch (asynchronously,
//! in order), and once more, waiting for the coordinator, on exit. A
//! record that could not be written is never committed.
//!
//! `--count N` stops after N records; `--exit-at-end` once every partition
//! assigned to this member has been read to the end it had when it was
//! assigned (a member assigned no partition waits). On either, on a closed
//! stdout, and on Ctrl-C or SIGTERM, the consumer closes gracefully: it
//! commits and leaves the group, so its partitions move to the other
//! members at once.
//!
//! Output is the same as without a group ([`mod@super::consume`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use mq_client::kafka::{
    Admin, Consumer, Error, FetchedBatch, OffsetAndEpoch, OffsetReset, OffsetSpec, Rebalance,
    RebalanceListener, TopicPartition,
};
use tokio::sync::Notify;

use super::{KafkaTarget, admin_at, bootstrap, describe, failure};
use crate::cli::{ConsumeArgs, StartArg};
use crate::error::{CliError, Failure};
use crate::output::Output;
use crate::runtime::block_on_threads;

/// How long a commit (the last one, on exit) may take.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long retriable errors (no coordinator yet, a rebalance) may go on
/// with nothing read before `mq` gives up.
const RETRY_FOR: Duration = Duration::from_secs(60);

/// Runs `mq consume --group` against the cluster `target` names.
pub(crate) fn run(
    a: &ConsumeArgs,
    target: &KafkaTarget,
    group: &str,
    out: &mut Output,
) -> Result<(), CliError> {
    if a.count == Some(0) {
        return Ok(());
    }
    let topic = target.url.topic.as_deref().unwrap_or_default();
    // Worker threads run the heartbeats, so that they go on while this
    // thread waits for a slow reader of stdout: a member whose heartbeats
    // stopped would be dropped from the group after the session timeout.
    block_on_threads(consume(a, target, topic, group, out))
}

/// The `auto.offset.reset` for `--from` (earliest or latest only: an
/// offset was refused when the command line was checked).
fn reset(from: Option<StartArg>) -> OffsetReset {
    match from {
        Some(StartArg::Earliest) => OffsetReset::Earliest,
        _ => OffsetReset::Latest,
    }
}

/// Why the consuming loop stopped, short of an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// `--count` records were written.
    Count,
    /// `--exit-at-end`: every assigned partition is at its end.
    End,
    /// Ctrl-C or SIGTERM.
    Signal,
}

async fn consume(
    a: &ConsumeArgs,
    target: &KafkaTarget,
    topic: &str,
    group: &str,
    out: &mut Output,
) -> Result<(), CliError> {
    let doing = format!("consume from topic '{topic}' in group '{group}'");
    // The ends `--exit-at-end` waits for, at the consumer's level.
    let isolation = a.isolation.unwrap_or_default();
    let admin = admin_at(target, isolation).await?;
    describe(&admin, topic, &doing).await?;
    let reset = reset(a.from);
    let ends = Ends::new(a.exit_at_end.then(|| admin.clone()), reset);
    let mut consumer = Consumer::builder(&bootstrap(&target.url))
        .client_config(target.client.clone())
        .group(group)
        .group_protocol(a.group_protocol.unwrap_or_default())
        .auto_offset_reset(reset)
        .isolation_level(isolation)
        .commit_timeout(COMMIT_TIMEOUT)
        .listener(ends.listener())
        .build()
        .await
        .map_err(|e| failure(&e, &doing))?;
    consumer
        .subscribe([topic])
        .await
        .map_err(|e| failure(&e, &doing))?;
    let result = read(a, &mut consumer, &ends, &doing, out).await;
    match result {
        // The broker failed us: leaving may fail too, and the session
        // timeout removes the member anyway.
        Err(e) if !matches!(e.kind(), Failure::BrokenPipe | Failure::Io) => Err(e),
        result => {
            let closed = close(consumer, group).await;
            result.and(closed).map(|_| ())
        }
    }
}

/// Commits what was written, waiting for the coordinator, then leaves
/// the group.
async fn close<L: RebalanceListener>(
    mut consumer: Consumer<L>,
    group: &str,
) -> Result<(), CliError> {
    let committed = consumer.commit_processed().await;
    let closed = consumer.close().await;
    committed.and(closed).map_err(|e| {
        let commit = format!("commit the offsets of group '{group}'");
        failure(&e, &commit)
    })
}

/// Consumes until `--count`, `--exit-at-end` or a signal stops it.
async fn read<L: RebalanceListener>(
    a: &ConsumeArgs,
    consumer: &mut Consumer<L>,
    ends: &Ends,
    doing: &str,
    out: &mut Output,
) -> Result<Stop, CliError> {
    let mut signals = Signals::new().map_err(|e| {
        CliError::new(
            Failure::Io,
            format!("cannot {doing}: cannot handle signals: {e}"),
        )
    })?;
    let limit = a.count.unwrap_or(u64::MAX);
    let mut written = 0u64;
    let mut line = Vec::with_capacity(4096);
    let mut failing_since: Option<Instant> = None;
    loop {
        if let Some(e) = ends.take_error() {
            return Err(failure(&e, doing));
        }
        if a.exit_at_end && ends.all_at_end() {
            return Ok(Stop::End);
        }
        let batch = tokio::select! {
            batch = consumer.next_batch() => batch,
            () = ends.changed() => continue,
            () = signals.recv() => return Ok(Stop::Signal),
        };
        let batch = match batch {
            Ok(b) => b,
            Err(e) if e.is_retriable() => {
                // The consumer retries by itself (a join, a commit).
                let since = *failing_since.get_or_insert_with(Instant::now);
                if since.elapsed() > RETRY_FOR {
                    return Err(failure(&e, doing));
                }
                continue;
            }
            Err(e) => return Err(failure(&e, doing)),
        };
        failing_since = None;
        let mut next: Option<OffsetAndEpoch> = None;
        let mut complete = true;
        for record in batch.iter_with_epochs() {
            let (record, epoch) = record.map_err(|e| failure(&e, doing))?;
            super::consume::write(
                batch.topic(),
                batch.partition(),
                &record,
                a.format,
                &mut line,
                out,
            )?;
            written += 1;
            next = Some(OffsetAndEpoch::new(
                record.offset().saturating_add(1),
                epoch,
            ));
            if written >= limit {
                complete = false;
                break;
            }
        }
        out.flush()?;
        // Written and flushed: now it may be committed.
        if complete {
            next = Some(OffsetAndEpoch::new(
                batch.next_offset(),
                batch.last_leader_epoch(),
            ));
        }
        if let Some(next) = next {
            let tp = TopicPartition::new(batch.topic(), batch.partition());
            // Queued in order; the last commit, on exit, waits for all.
            drop(consumer.commit_offsets_async([(tp, next)]));
        }
        ends.progress(&batch);
        if written >= limit {
            return Ok(Stop::Count);
        }
    }
}

/// Ctrl-C and SIGTERM.
pub(super) struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    pub(super) fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    pub(super) async fn recv(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

/// For `--exit-at-end`: the partitions assigned to this member and, for
/// each not yet read to its end, that end (when it was assigned, at the
/// consumer's isolation level: the last stable offset under
/// read_committed, the high watermark under read_uncommitted). Shared by the rebalance listener, which keeps it up to
/// date, and the consuming loop.
#[derive(Clone)]
struct Ends {
    /// `None` without `--exit-at-end`: nothing to track.
    admin: Option<Admin>,
    reset: OffsetReset,
    state: Arc<Mutex<EndState>>,
    changed: Arc<Notify>,
}

#[derive(Default)]
struct EndState {
    /// Assigned partitions: `Some(end)` until read to `end`, then `None`.
    owned: BTreeMap<TopicPartition, Option<i64>>,
    /// A failure to find the ends, for the consuming loop to report.
    error: Option<Error>,
}

impl Ends {
    fn new(admin: Option<Admin>, reset: OffsetReset) -> Self {
        Ends {
            admin,
            reset,
            state: Arc::new(Mutex::new(EndState::default())),
            changed: Arc::new(Notify::new()),
        }
    }

    fn listener(&self) -> EndListener {
        EndListener(self.clone())
    }

    fn state(&self) -> MutexGuard<'_, EndState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether partitions are assigned and all of them are at their end.
    fn all_at_end(&self) -> bool {
        let s = self.state();
        !s.owned.is_empty() && s.owned.values().all(Option::is_none)
    }

    fn take_error(&self) -> Option<Error> {
        self.state().error.take()
    }

    /// Waits for the listener to change the assignment.
    async fn changed(&self) {
        self.changed.notified().await;
    }

    /// Notes that `batch` was read (and written).
    fn progress(&self, batch: &FetchedBatch) {
        let tp = TopicPartition::new(batch.topic(), batch.partition());
        let mut s = self.state();
        if let Some(end) = s.owned.get_mut(&tp) {
            if end.is_some_and(|e| batch.next_offset() >= e) {
                *end = None;
            }
        }
    }

    /// Finds where each of `parts` starts (the committed offset, else per
    /// `auto.offset.reset`) and ends.
    async fn assigned(&self, ctx: &mut Rebalance<'_>, parts: &[TopicPartition]) {
        let Some(admin) = &self.admin else { return };
        match self.starts_and_ends(admin, ctx, parts).await {
            Ok(found) => self.state().owned.extend(found),
            Err(e) => self.state().error = Some(e),
        }
        self.changed.notify_one();
    }

    async fn starts_and_ends(
        &self,
        admin: &Admin,
        ctx: &mut Rebalance<'_>,
        parts: &[TopicPartition],
    ) -> Result<Vec<(TopicPartition, Option<i64>)>, Error> {
        let committed = ctx.committed(parts).await?;
        let mut found = Vec::with_capacity(parts.len());
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for tp in parts {
            by_topic.entry(&tp.topic).or_default().push(tp.partition);
        }
        for (topic, partitions) in by_topic {
            let earliest = admin
                .list_offsets(topic, &partitions, OffsetSpec::Earliest)
                .await?;
            let latest = admin
                .list_offsets(topic, &partitions, OffsetSpec::Latest)
                .await?;
            for p in partitions {
                let tp = TopicPartition::new(topic, p);
                let first = earliest.get(&p).map_or(0, |o| o.offset);
                let end = latest.get(&p).map_or(first, |o| o.offset);
                let at = committed.get(&tp).copied().flatten().map(|oe| oe.offset);
                let start = start(at, first, end, self.reset);
                found.push((tp, (start < end).then_some(end)));
            }
        }
        Ok(found)
    }

    fn forget(&self, parts: &[TopicPartition]) {
        if self.admin.is_none() {
            return;
        }
        let mut s = self.state();
        for tp in parts {
            s.owned.remove(tp);
        }
        drop(s);
        self.changed.notify_one();
    }
}

/// Where a partition's reading starts: its committed offset `at` if it
/// is within `[first, end]`, else where `reset` puts it (the consumer
/// resets an offset out of range the same way).
fn start(at: Option<i64>, first: i64, end: i64, reset: OffsetReset) -> i64 {
    match at {
        Some(at) if (first..=end).contains(&at) => at,
        _ if reset == OffsetReset::Earliest => first,
        _ => end,
    }
}

/// The rebalance listener that keeps [`Ends`] up to date.
struct EndListener(Ends);

impl RebalanceListener for EndListener {
    async fn on_assigned(&mut self, ctx: &mut Rebalance<'_>, partitions: &[TopicPartition]) {
        self.0.assigned(ctx, partitions).await;
    }

    async fn on_revoked(&mut self, _ctx: &mut Rebalance<'_>, partitions: &[TopicPartition]) {
        self.0.forget(partitions);
    }

    async fn on_lost(&mut self, _ctx: &mut Rebalance<'_>, partitions: &[TopicPartition]) {
        self.0.forget(partitions);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_maps_to_auto_offset_reset() {
        assert_eq!(reset(Some(StartArg::Earliest)), OffsetReset::Earliest);
        assert_eq!(reset(Some(StartArg::Latest)), OffsetReset::Latest);
        assert_eq!(reset(None), OffsetReset::Latest);
    }

    #[test]
    fn a_partition_starts_at_its_committed_offset_or_per_the_reset() {
        use OffsetReset::{Earliest, Latest};
        assert_eq!(start(Some(7), 5, 10, Latest), 7);
        assert_eq!(start(Some(10), 5, 10, Earliest), 10);
        assert_eq!(start(None, 5, 10, Earliest), 5);
        assert_eq!(start(None, 5, 10, Latest), 10);
        // Out of range: deleted records, or a truncated log.
        assert_eq!(start(Some(2), 5, 10, Earliest), 5);
        assert_eq!(start(Some(2), 5, 10, Latest), 10);
        assert_eq!(start(Some(12), 5, 10, Earliest), 5);
    }

    #[test]
    fn the_end_is_reached_once_every_assigned_partition_is_read() {
        let ends = Ends::new(None, OffsetReset::Earliest);
        assert!(!ends.all_at_end(), "nothing assigned yet");
        {
            let mut s = ends.state();
            s.owned.insert(TopicPartition::new("t", 0), Some(4));
            s.owned.insert(TopicPartition::new("t", 1), None);
        }
        assert!(!ends.all_at_end());
        ends.state().owned.insert(TopicPartition::new("t", 0), None);
        assert!(ends.all_at_end());
    }
}
