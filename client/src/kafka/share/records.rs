//! Reading one partition's records from a ShareFetch answer: the same
//! record batches as Fetch (decoded by `kafka-proto`, values and keys
//! zero-copy slices of the answer), of which only the offsets this member
//! acquired are handed out, each with its delivery count. Acquired offsets
//! with no record (control batches, compacted offsets) are acknowledged
//! as gaps; acquired offsets past the in-flight bound, or in a batch that
//! cannot be read, are released at once.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use kafka_proto::record::BatchReader;

use super::acks::{AckBook, Acquired, PartitionKey};
use super::record::{AckShared, ShareRecord};
use crate::kafka::error::Error;

/// Most offsets one partition's answer may acquire: the broker acquires
/// about `max_records` (whole batches in batch-optimized mode); an answer
/// far past that is not trusted with an allocation per offset.
pub(crate) fn acquired_limit(max_records: usize) -> u64 {
    (max_records as u64).saturating_mul(4).max(10_000)
}

/// What one partition's answer yields.
#[derive(Debug, Default)]
pub(crate) struct PartitionRecords {
    /// The acquired records, in offset order.
    pub(crate) records: Vec<ShareRecord>,
    /// A batch that could not be read.
    pub(crate) failure: Option<Error>,
}

/// Where a partition's records come from, and how many may be handed out.
pub(crate) struct Source<'a> {
    pub(crate) topic: &'a Arc<str>,
    pub(crate) key: PartitionKey,
    pub(crate) lock_expires_at: Option<Instant>,
    /// How many records may still be handed out (the in-flight bound).
    pub(crate) room: usize,
}

/// Reads `data` (one partition's record batches), handing out the
/// acquired records (up to `source.room`) and noting them in flight in
/// `book`; the other acquired offsets are acknowledged as gaps or
/// released there.
pub(crate) fn read_acquired(
    source: &Source<'_>,
    data: Bytes,
    acquired: &Acquired,
    book: &mut AckBook,
    shared: &Arc<AckShared>,
) -> PartitionRecords {
    let mut out = PartitionRecords::default();
    let (topic, partition) = (source.topic, source.key.1);
    let mut handed: Vec<i64> = Vec::new();
    // The first acquired record that was not handed out for want of room.
    let mut release_from: Option<i64> = None;
    'batches: for batch in BatchReader::new(data) {
        let batch = match batch {
            Ok(b) => b,
            Err(source) => {
                out.failure = Some(Error::Records {
                    topic: topic.to_string(),
                    partition,
                    source,
                });
                break;
            }
        };
        if batch.is_control() {
            continue;
        }
        let records = match batch.records() {
            Ok(r) => r,
            Err(source) => {
                out.failure = Some(Error::Records {
                    topic: topic.to_string(),
                    partition,
                    source,
                });
                break;
            }
        };
        for record in records.iter() {
            let record = match record {
                Ok(r) => r,
                Err(source) => {
                    out.failure = Some(Error::Records {
                        topic: topic.to_string(),
                        partition,
                        source,
                    });
                    break 'batches;
                }
            };
            let Some(delivery_count) = acquired.delivery_count(record.offset()) else {
                continue;
            };
            if handed.last().is_some_and(|&last| last >= record.offset()) {
                continue;
            }
            if out.records.len() >= source.room {
                release_from.get_or_insert(record.offset());
                continue;
            }
            handed.push(record.offset());
            out.records.push(ShareRecord {
                topic: topic.clone(),
                topic_id: source.key.0,
                partition,
                offset: record.offset(),
                timestamp: record.timestamp(),
                key: record.key_bytes(),
                value: record.value_bytes(),
                headers: record
                    .headers()
                    .map(|h| (h.key_bytes(), h.value_bytes()))
                    .collect(),
                delivery_count,
                lock_expires_at: source.lock_expires_at,
                shared: shared.clone(),
            });
        }
    }
    // Every acquired offset is handed out, or acknowledged here: a gap
    // when no record was there, a release from where records could no
    // longer be handed out (past the bound, or unreadable) on.
    if out.failure.is_some() {
        let after = handed.last().map_or(i64::MIN, |&o| o.saturating_add(1));
        release_from = Some(release_from.map_or(after, |r| r.min(after)));
    }
    let mut next = handed.iter().copied().peekable();
    for offset in acquired.offsets() {
        if next.peek() == Some(&offset) {
            next.next();
            book.deliver(source.key, offset);
        } else if release_from.is_some_and(|from| offset >= from) {
            book.release_undelivered(source.key, offset);
        } else {
            book.gap(source.key, offset);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_proto::api::share_fetch::AcquiredRecords;
    use kafka_proto::primitives::Uuid;
    use kafka_proto::record::{BatchOptions, EndTxnMarker, RecordBatchBuilder};
    use tokio::sync::Notify;

    /// Records `values` from `base`, then a control batch (one offset).
    fn log(base: i64, values: &[&str]) -> Bytes {
        let options = BatchOptions {
            base_offset: base,
            ..BatchOptions::default()
        };
        let mut data = RecordBatchBuilder::new(options);
        for v in values {
            data.append(1_700_000_000_000, None, Some(v.as_bytes()))
                .unwrap();
        }
        let mut out = data.finish().unwrap().to_vec();
        let marker = BatchOptions {
            base_offset: base + values.len() as i64,
            control: true,
            producer_id: 3,
            transactional: true,
            ..BatchOptions::default()
        };
        let mut control = RecordBatchBuilder::new(marker);
        control
            .append_end_txn_marker(
                1_700_000_000_001,
                true,
                EndTxnMarker {
                    version: 0,
                    coordinator_epoch: 0,
                },
            )
            .unwrap();
        out.extend_from_slice(&control.finish().unwrap());
        Bytes::from(out)
    }

    fn range(first: i64, last: i64, count: i16) -> AcquiredRecords {
        AcquiredRecords {
            first_offset: first,
            last_offset: last,
            delivery_count: count,
            ..Default::default()
        }
    }

    fn read(room: usize, acquired: &[AcquiredRecords]) -> (Vec<(i64, i16)>, AckBook) {
        let shared = Arc::new(AckShared::new(Arc::new(Notify::new())));
        let topic: Arc<str> = "t".into();
        let key = (Uuid([1; 16]), 0);
        let source = Source {
            topic: &topic,
            key,
            lock_expires_at: None,
            room,
        };
        let mut book = AckBook::default();
        let data = log(10, &["a", "b", "c", "d", "e"]);
        let out = read_acquired(&source, data, &Acquired::new(acquired), &mut book, &shared);
        assert!(out.failure.is_none());
        let got = out
            .records
            .iter()
            .map(|r| (r.offset, r.delivery_count))
            .collect();
        (got, book)
    }

    fn pending(book: &mut AckBook) -> Vec<(i64, i64, i8)> {
        book.take_pending(|_| true)
            .into_iter()
            .flat_map(|(_, b)| b)
            .map(|b| (b.first_offset, b.last_offset, b.acknowledge_types[0]))
            .collect()
    }

    #[test]
    fn only_acquired_records_are_handed_out_with_their_counts() {
        // Offsets 10-14 hold records, 15 the commit marker.
        let (got, mut book) = read(100, &[range(11, 12, 1), range(14, 15, 3)]);
        assert_eq!(got, vec![(11, 1), (12, 1), (14, 3)]);
        assert_eq!(book.in_flight(), 3);
        // The marker's offset was acquired with no record: a gap.
        assert_eq!(pending(&mut book), vec![(15, 15, 0)]);
    }

    #[test]
    fn records_past_the_bound_are_released_at_once() {
        let (got, mut book) = read(2, &[range(10, 15, 1)]);
        assert_eq!(got, vec![(10, 1), (11, 1)]);
        assert_eq!(book.in_flight(), 2);
        assert_eq!(pending(&mut book), vec![(12, 15, 2)]);
    }

    #[test]
    fn nothing_acquired_nothing_handed_out() {
        let (got, mut book) = read(100, &[]);
        assert!(got.is_empty());
        assert_eq!(book.in_flight(), 0);
        assert!(pending(&mut book).is_empty());
    }
}
