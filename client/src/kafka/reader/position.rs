//! Where reading starts and what it hands out: [`Offset`], [`OffsetSpec`],
//! [`OffsetReset`] and [`IsolationLevel`].

use std::time::Duration;

use crate::kafka::error::{Error, Result};

/// Where to start reading a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offset {
    /// The first offset still in the log.
    Earliest,
    /// The end of the log: only records produced from now on.
    Latest,
    /// This exact offset.
    At(i64),
    /// The first record whose timestamp (ms since the epoch) is at or
    /// after this one.
    Timestamp(i64),
}

impl Offset {
    /// The ListOffsets timestamp for this position (-2 earliest, -1
    /// latest), or `None` for an exact offset.
    pub(crate) fn list_offsets_timestamp(self) -> Option<i64> {
        match self {
            Offset::Earliest => Some(-2),
            Offset::Latest => Some(-1),
            Offset::Timestamp(t) => Some(t),
            Offset::At(_) => None,
        }
    }
}

/// What a [`ListOffsets`](crate::kafka::Admin::list_offsets) question asks
/// for (Java's `OffsetSpec`): unlike [`Offset`], only what a broker can
/// answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The first offset still in the log (the log start offset).
    Earliest,
    /// The end of the log: the offset the next record will get (the high
    /// watermark) under read_uncommitted; under read_committed (the
    /// default) the last stable offset, where a read_committed reader
    /// stops.
    Latest,
    /// The first record whose timestamp (ms since the epoch) is at or
    /// after this one; the end of the log if there is none.
    Timestamp(i64),
}

impl OffsetSpec {
    /// The ListOffsets timestamp: -2 earliest, -1 latest.
    pub(crate) fn timestamp(self) -> i64 {
        match self {
            OffsetSpec::Earliest => -2,
            OffsetSpec::Latest => -1,
            OffsetSpec::Timestamp(t) => t,
        }
    }
}

impl From<OffsetSpec> for Offset {
    fn from(spec: OffsetSpec) -> Offset {
        match spec {
            OffsetSpec::Earliest => Offset::Earliest,
            OffsetSpec::Latest => Offset::Latest,
            OffsetSpec::Timestamp(t) => Offset::Timestamp(t),
        }
    }
}

/// What to do when a partition has no valid position: its position is out
/// of range (OFFSET_OUT_OF_RANGE: retention deleted the records, or an
/// [`Offset::At`] past the end), or, for a consumer group, the group has
/// no committed offset for it.
///
/// It does not apply when reading starts at [`Offset::Earliest`],
/// [`Offset::Latest`] or [`Offset::Timestamp`]: those resolve to a
/// position at once. It matters later only if that position falls out of
/// range (the log start moves past it while the reader is behind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OffsetReset {
    /// Start again from the earliest offset.
    Earliest,
    /// Jump to the end of the log (Java's default).
    #[default]
    Latest,
    /// Report [`Error::OffsetOutOfRange`] and stop reading the partition
    /// until it is sought.
    None,
}

/// Which records a reader or group consumer hands out (Java's
/// `isolation.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum IsolationLevel {
    /// Records of committed transactions and records outside transactions,
    /// up to the last stable offset: records of aborted transactions are
    /// dropped, and those of open ones wait until their transaction ends.
    /// The default (as in librdkafka).
    #[default]
    ReadCommitted,
    /// Every record up to the high watermark, those of open and aborted
    /// transactions included.
    ReadUncommitted,
}

impl IsolationLevel {
    /// The Fetch and ListOffsets `isolation_level`.
    pub(crate) fn wire(self) -> i8 {
        match self {
            IsolationLevel::ReadUncommitted => 0,
            IsolationLevel::ReadCommitted => 1,
        }
    }

    /// Java's name: `read_committed` or `read_uncommitted`.
    pub fn as_str(self) -> &'static str {
        match self {
            IsolationLevel::ReadCommitted => "read_committed",
            IsolationLevel::ReadUncommitted => "read_uncommitted",
        }
    }
}

impl std::fmt::Display for IsolationLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for IsolationLevel {
    type Err = Error;

    /// Parses Java's names, `read_committed` and `read_uncommitted`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "read_committed" => Ok(IsolationLevel::ReadCommitted),
            "read_uncommitted" => Ok(IsolationLevel::ReadUncommitted),
            other => Err(Error::Config(format!(
                "isolation level {other:?}: expected read_committed or read_uncommitted"
            ))),
        }
    }
}

/// Fetch settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FetchSettings {
    pub(crate) min_bytes: i32,
    pub(crate) max_bytes: i32,
    pub(crate) partition_max_bytes: i32,
    pub(crate) max_wait: Duration,
    pub(crate) reset: OffsetReset,
    pub(crate) isolation: IsolationLevel,
    /// Incremental fetch sessions (KIP-227).
    pub(crate) sessions: bool,
}

impl Default for FetchSettings {
    fn default() -> Self {
        FetchSettings {
            min_bytes: 1,
            max_bytes: 50 * 1024 * 1024,
            partition_max_bytes: 1024 * 1024,
            max_wait: Duration::from_millis(500),
            reset: OffsetReset::Latest,
            isolation: IsolationLevel::ReadCommitted,
            sessions: true,
        }
    }
}
