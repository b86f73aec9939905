//! Topic-partition names and committed positions.

use std::fmt;
use std::sync::Arc;

/// A partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition index.
    pub partition: i32,
}

impl TopicPartition {
    /// `topic`/`partition`.
    pub fn new(topic: impl Into<Arc<str>>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.topic, self.partition)
    }
}

/// A position to commit or a committed one: the offset of the next record
/// to read, and the partition leader epoch of the record before it (-1 if
/// unknown). Committing the epoch lets a consumer that resumes from this
/// offset detect a log truncation (KIP-320).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OffsetAndEpoch {
    /// The next offset to read.
    pub offset: i64,
    /// The leader epoch of the last record read, or -1.
    pub leader_epoch: i32,
}

impl OffsetAndEpoch {
    /// `offset` with leader epoch `leader_epoch` (-1 if unknown).
    pub fn new(offset: i64, leader_epoch: i32) -> Self {
        OffsetAndEpoch {
            offset,
            leader_epoch,
        }
    }
}

/// Formats a list of partitions compactly for logs: `orders[0,1,5] pay[2]`.
pub(crate) struct Compact<'a>(pub(crate) &'a [TopicPartition]);

impl fmt::Display for Compact<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sorted: Vec<&TopicPartition> = self.0.iter().collect();
        sorted.sort();
        let mut current: Option<&str> = None;
        for tp in sorted {
            if current == Some(&*tp.topic) {
                write!(f, ",{}", tp.partition)?;
            } else {
                if current.is_some() {
                    f.write_str("] ")?;
                }
                write!(f, "{}[{}", tp.topic, tp.partition)?;
                current = Some(&tp.topic);
            }
        }
        if current.is_some() {
            f.write_str("]")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Compact<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_display_groups_by_topic() {
        let tps = [
            TopicPartition::new("pay", 2),
            TopicPartition::new("orders", 5),
            TopicPartition::new("orders", 0),
        ];
        assert_eq!(Compact(&tps).to_string(), "orders[0,5] pay[2]");
        assert_eq!(Compact(&[]).to_string(), "");
        assert_eq!(TopicPartition::new("t", 3).to_string(), "t/3");
    }
}
