//! Reading one partition's record data from a Fetch answer: skipping what
//! lies before the position, control batches and (read_committed) aborted
//! transactions.

use std::collections::HashSet;

use bytes::Bytes;
use kafka_proto::api::fetch::AbortedTransaction;
use kafka_proto::record::{Batch, BatchReader, ControlRecordType, Records};

use crate::kafka::error::Error;

/// One partition's record data from one Fetch, read from `position`.
#[derive(Debug)]
pub(super) struct PartitionRead {
    /// The batches that hold records, with their partition leader epochs
    /// (control batches, the transaction markers, are skipped).
    pub(super) batches: Vec<(Records, i32)>,
    /// Where reading goes on: after the last whole batch read, control
    /// batches included.
    pub(super) next: i64,
    /// How many records `batches` hold from the position on (a metric;
    /// a legacy message counts as one).
    pub(super) records: u64,
    /// The malformed batch that stopped the reading, if one did.
    pub(super) failure: Option<Error>,
}

/// Reads the record batches of `records` (one partition's data in a Fetch
/// response) from `position`: batches wholly before it are skipped (a
/// fetch may start mid-batch), control batches move `next` past them
/// without yielding records, and a malformed batch stops the reading.
///
/// `aborted` is the response's aborted-transactions list (read_committed;
/// empty for read_uncommitted). As in Java's fetcher: a producer's
/// transaction counts as aborted from its `first_offset` until that
/// producer's ABORT marker, and its transactional batches in that span are
/// skipped (the position still moves past them).
pub(super) fn read_partition(
    topic: &str,
    partition: i32,
    records: Bytes,
    position: i64,
    aborted: &[AbortedTransaction],
) -> PartitionRead {
    let mut pending: Vec<(i64, i64)> = aborted
        .iter()
        .map(|a| (a.first_offset, a.producer_id))
        .collect();
    // Latest first, so the next to open is at the end.
    pending.sort_unstable_by(|a, b| b.cmp(a));
    let mut aborting: HashSet<i64> = HashSet::new();
    let mut read = PartitionRead {
        batches: Vec::new(),
        next: position,
        records: 0,
        failure: None,
    };
    let bad = |source| Error::Records {
        topic: topic.to_owned(),
        partition,
        source,
    };
    for batch in BatchReader::new(records) {
        let batch = match batch {
            Ok(b) => b,
            Err(source) => {
                read.failure = Some(bad(source));
                break;
            }
        };
        while let Some(&(first, producer)) = pending.last() {
            if first > batch.last_offset() {
                break;
            }
            aborting.insert(producer);
            pending.pop();
        }
        if batch.is_control() && aborting.contains(&batch.producer_id()) && is_abort_marker(&batch)
        {
            aborting.remove(&batch.producer_id());
        }
        if batch.next_offset() <= read.next {
            continue;
        }
        let skip = batch.is_transactional() && aborting.contains(&batch.producer_id());
        if !batch.is_control() && !skip {
            let (epoch, count) = match &batch {
                Batch::V2(b) => {
                    // A batch that straddles the position: only its
                    // records from the position on are handed out.
                    let past = b.last_offset().saturating_sub(read.next).saturating_add(1);
                    let count = i64::from(b.record_count()).min(past);
                    (
                        b.partition_leader_epoch(),
                        u64::try_from(count).unwrap_or(0),
                    )
                }
                Batch::Legacy(_) => (-1, 1),
            };
            match batch.records() {
                Ok(r) => {
                    read.batches.push((r, epoch));
                    read.records += count;
                }
                Err(source) => {
                    read.failure = Some(bad(source));
                    break;
                }
            }
        }
        read.next = batch.next_offset();
    }
    read
}

/// Whether a control batch holds an ABORT marker (an unreadable one counts
/// as one: the aborted span ends either way).
fn is_abort_marker(batch: &Batch) -> bool {
    let Ok(records) = batch.records() else {
        return true;
    };
    records.iter().next().is_none_or(|r| {
        r.and_then(|r| r.control_key())
            .map_or(true, |k| k.record_type == ControlRecordType::ABORT)
    })
}

#[cfg(test)]
mod tests {
    use super::super::FetchedBatch;
    use super::*;
    use kafka_proto::record::{BatchOptions, EndTxnMarker, RecordBatchBuilder};

    /// A transaction as a log holds it: `values` in one transactional
    /// batch from `base`, then its commit marker in a control batch.
    fn transaction(base: i64, values: &[&str]) -> Vec<u8> {
        ended_transaction(base, 7, values, true)
    }

    /// `values` of producer `producer` from `base`, then its COMMIT (or
    /// ABORT) marker.
    fn ended_transaction(base: i64, producer: i64, values: &[&str], commit: bool) -> Vec<u8> {
        let options = BatchOptions {
            base_offset: base,
            producer_id: producer,
            producer_epoch: 0,
            base_sequence: 0,
            transactional: true,
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
            ..options
        };
        let mut control = RecordBatchBuilder::new(marker);
        control
            .append_end_txn_marker(
                1_700_000_000_001,
                commit,
                EndTxnMarker {
                    version: 0,
                    coordinator_epoch: 0,
                },
            )
            .unwrap();
        out.extend_from_slice(&control.finish().unwrap());
        out
    }

    fn values(read: &PartitionRead) -> Vec<String> {
        read.batches
            .iter()
            .flat_map(|(r, _)| r.iter())
            .map(|r| String::from_utf8(r.unwrap().value().unwrap().to_vec()).unwrap())
            .collect()
    }

    fn batch(read: PartitionRead, start: i64) -> Option<FetchedBatch> {
        FetchedBatch::from_read("t".into(), 0, start, read.next, 4, 1, read.batches)
    }

    #[test]
    fn the_record_count_leaves_out_markers_and_records_before_the_position() {
        let log = Bytes::from([transaction(0, &["a", "b", "c"]), transaction(4, &["d"])].concat());
        assert_eq!(read_partition("t", 0, log.clone(), 0, &[]).records, 4);
        // From inside the first batch: its first record is not handed out.
        assert_eq!(read_partition("t", 0, log.clone(), 1, &[]).records, 3);
        assert_eq!(read_partition("t", 0, log, 4, &[]).records, 1);
    }

    #[test]
    fn records_then_a_marker_move_the_position_past_the_marker() {
        let read = read_partition(
            "t",
            0,
            Bytes::from(transaction(0, &["a", "b", "c"])),
            0,
            &[],
        );
        assert!(read.failure.is_none());
        assert_eq!(values(&read), ["a", "b", "c"]);
        assert_eq!(read.next, 4);
        let b = batch(read, 0).expect("records");
        assert_eq!(b.iter().count(), 3);
        assert_eq!(b.next_offset(), 4);
    }

    #[test]
    fn a_fetch_of_only_a_marker_reports_the_new_position() {
        // The position is the marker's offset: the fetch holds the whole
        // transaction (the broker answers from the batch's start), and
        // only the marker is new.
        let read = read_partition(
            "t",
            0,
            Bytes::from(transaction(0, &["a", "b", "c"])),
            3,
            &[],
        );
        assert!(read.failure.is_none());
        assert!(read.batches.is_empty());
        assert_eq!(read.next, 4);
        let b = batch(read, 3).expect("a batch that moves the position");
        assert!(b.is_empty());
        assert_eq!(b.iter().count(), 0);
        assert_eq!(b.next_offset(), 4);
        assert_eq!(b.high_watermark(), 4);
        assert_eq!(b.last_leader_epoch(), -1);
    }

    #[test]
    fn a_fetch_that_reads_nothing_new_hands_out_nothing() {
        let read = read_partition("t", 0, Bytes::from(transaction(0, &["a"])), 2, &[]);
        assert!(read.batches.is_empty());
        assert_eq!(read.next, 2);
        assert!(batch(read, 2).is_none());
    }

    #[test]
    fn aborted_transactions_are_dropped_and_committed_ones_kept() {
        // Producer 7 commits a, b; producer 8 aborts x, y; producer 7
        // commits c; producer 8 then commits z (its abort span ended at
        // its ABORT marker).
        let mut log = ended_transaction(0, 7, &["a", "b"], true); // 0-1, marker 2
        log.extend(ended_transaction(3, 8, &["x", "y"], false)); // 3-4, marker 5
        log.extend(ended_transaction(6, 7, &["c"], true)); // 6, marker 7
        log.extend(ended_transaction(8, 8, &["z"], true)); // 8, marker 9
        let aborted = [AbortedTransaction {
            producer_id: 8,
            first_offset: 3,
            ..Default::default()
        }];
        let log = Bytes::from(log);
        let read = read_partition("t", 0, log.clone(), 0, &aborted);
        assert!(read.failure.is_none());
        assert_eq!(values(&read), ["a", "b", "c", "z"]);
        assert_eq!(read.next, 10, "the position moves past aborted batches");
        // read_uncommitted: no list, everything.
        let all = read_partition("t", 0, log.clone(), 0, &[]);
        assert_eq!(values(&all), ["a", "b", "x", "y", "c", "z"]);
        // Starting inside the aborted span still drops it.
        let mid = read_partition("t", 0, log, 4, &aborted);
        assert_eq!(values(&mid), ["c", "z"]);
    }

    #[test]
    fn a_malformed_batch_after_a_marker_keeps_the_position_before_it() {
        let mut bytes = transaction(0, &["a"]);
        let good = bytes.len();
        bytes.extend_from_slice(&transaction(2, &["b"]));
        // Corrupt the second transaction's data batch (its CRC no longer matches).
        bytes[good + 63] ^= 0xff;
        let read = read_partition("t", 0, Bytes::from(bytes), 0, &[]);
        assert_eq!(values(&read), ["a"]);
        assert_eq!(read.next, 2);
        assert!(
            matches!(read.failure, Some(Error::Records { partition: 0, .. })),
            "{:?}",
            read.failure
        );
    }
}
