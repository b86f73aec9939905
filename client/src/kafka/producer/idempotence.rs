//! Idempotence: the producer id and epoch (InitProducerId), what each
//! produce error means for a sequenced batch, and epoch bumps (KIP-360).
//!
//! Sequence numbers are assigned per partition when a batch is closed, so
//! they follow the partition's order. At most five batches per partition
//! are in flight (the broker remembers the last five per producer, which
//! is what lets it drop a retried duplicate); after a failure the failed
//! batches are retried first, in sequence order, one at a time, so a retry
//! never overtakes a batch before it.

use std::time::Duration;

use kafka_proto::ErrorCode;
use kafka_proto::api::InitProducerIdRequest;
use tracing::{info, warn};

use super::super::cluster::Cluster;
use super::super::error::{Error, Result};
use super::accumulator::{ProducerBatch, ProducerIdentity};

/// The most batches the broker deduplicates per partition (Kafka's
/// `ProducerStateEntry.NUM_BATCHES_TO_RETAIN`).
pub(crate) const MAX_IN_FLIGHT_IDEMPOTENT: usize = 5;

/// What to do with a batch after its partition's answer.
#[derive(Debug, Clone)]
pub(crate) enum Verdict {
    /// Written at this base offset (-1 if unknown).
    Done(i64),
    /// Try again after a backoff; refresh metadata first if `refresh`.
    Retry { refresh: bool },
    /// The producer's state on the broker is gone or out of step: bump the
    /// epoch, renumber, then retry.
    BumpEpoch,
    /// Give up with this error.
    Fail(Error),
}

/// Decides what a partition's error code means for `batch`, given the
/// partition's last acknowledged sequence.
pub(crate) fn verdict(
    code: ErrorCode,
    base_offset: i64,
    batch: &ProducerBatch,
    last_acked: i32,
    idempotent: bool,
    context: &str,
) -> Verdict {
    match code {
        ErrorCode::NONE => Verdict::Done(base_offset),
        // The broker already has this batch (a retry of one whose answer
        // was lost); its offset is not repeated.
        ErrorCode::DUPLICATE_SEQUENCE_NUMBER if idempotent => Verdict::Done(-1),
        ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER if idempotent => {
            let expected = if last_acked < 0 {
                0
            } else {
                super::accumulator::seq_add(last_acked, 1)
            };
            if batch.base_sequence > expected {
                // An earlier batch failed and is being retried: this one
                // goes again after it.
                Verdict::Retry { refresh: false }
            } else {
                // It is the next batch (or one already passed) and still
                // refused: the broker lost the state it should have.
                Verdict::BumpEpoch
            }
        }
        ErrorCode::UNKNOWN_PRODUCER_ID | ErrorCode::INVALID_PRODUCER_EPOCH if idempotent => {
            Verdict::BumpEpoch
        }
        code if super::super::error::code_needs_refresh(code) => Verdict::Retry { refresh: true },
        code if code.is_retriable() => Verdict::Retry { refresh: false },
        code => Verdict::Fail(Error::broker(code, context.to_owned())),
    }
}

/// Gets a producer id, or bumps the epoch of `current` (KIP-360; brokers
/// that cannot bump give a fresh id instead).
pub(crate) async fn init_producer_id(
    cluster: &Cluster,
    current: Option<ProducerIdentity>,
    timeout: Duration,
) -> Result<ProducerIdentity> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut backoff = cluster.config().retry_backoff.start();
    let mut ask = current;
    loop {
        let request = InitProducerIdRequest {
            transactional_id: None,
            transaction_timeout_ms: i32::MAX,
            producer_id: ask.map_or(-1, |c| c.id),
            producer_epoch: ask.map_or(-1, |c| c.epoch),
            ..Default::default()
        };
        let result = match cluster.any_broker() {
            Ok(conn) => conn.call(request).await,
            Err(e) => Err(e),
        };
        let error = match result {
            Ok(r) if r.error_code.is_ok() => {
                let identity = ProducerIdentity {
                    id: r.producer_id,
                    epoch: r.producer_epoch,
                };
                info!(
                    producer_id = identity.id,
                    epoch = identity.epoch,
                    "producer id"
                );
                return Ok(identity);
            }
            Ok(r) => {
                if ask.is_some()
                    && matches!(
                        r.error_code,
                        ErrorCode::INVALID_PRODUCER_EPOCH
                            | ErrorCode::PRODUCER_FENCED
                            | ErrorCode::INVALID_REQUEST
                            | ErrorCode::UNSUPPORTED_VERSION
                    )
                {
                    // No bump possible: start over with a new id.
                    ask = None;
                    continue;
                }
                Error::broker(r.error_code, "InitProducerId")
            }
            Err(e) => e,
        };
        if !error.is_retriable() {
            return Err(error);
        }
        let delay = backoff.next_delay().unwrap_or(Duration::from_secs(1));
        if tokio::time::Instant::now() + delay > deadline {
            return Err(error);
        }
        warn!(error = %error, "InitProducerId failed; retrying");
        if error.needs_metadata_refresh() {
            let _ = cluster.refresh().await;
        }
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use super::super::accumulator::Payload;
    use super::super::delivery::BatchDone;
    use super::*;
    use kafka_proto::record::{BatchOptions, RecordBatchBuilder};

    fn batch(base_sequence: i32) -> ProducerBatch {
        ProducerBatch {
            topic: "t".into(),
            partition: 0,
            payload: Payload::Building(Box::new(RecordBatchBuilder::new(BatchOptions::default()))),
            records: 10,
            created: Instant::now(),
            attempts: 0,
            outcome_unknown: false,
            retry_at: None,
            base_sequence,
            identity: ProducerIdentity { id: 1, epoch: 0 },
            reserved: 0,
            done: Arc::new(BatchDone::default()),
        }
    }

    #[test]
    fn sequence_errors() {
        // Batch 10..19 after 0..9 was acknowledged: out of order means the
        // broker lost our state.
        assert!(matches!(
            verdict(
                ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER,
                -1,
                &batch(10),
                9,
                true,
                "t/0"
            ),
            Verdict::BumpEpoch
        ));
        // Batch 20..29 while 10..19 is being retried: wait for it.
        assert!(matches!(
            verdict(
                ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER,
                -1,
                &batch(20),
                9,
                true,
                "t/0"
            ),
            Verdict::Retry { refresh: false }
        ));
        assert!(matches!(
            verdict(
                ErrorCode::UNKNOWN_PRODUCER_ID,
                -1,
                &batch(0),
                -1,
                true,
                "t/0"
            ),
            Verdict::BumpEpoch
        ));
        assert!(matches!(
            verdict(
                ErrorCode::DUPLICATE_SEQUENCE_NUMBER,
                -1,
                &batch(0),
                -1,
                true,
                "t/0"
            ),
            Verdict::Done(-1)
        ));
        assert!(matches!(
            verdict(ErrorCode::NONE, 42, &batch(0), -1, true, "t/0"),
            Verdict::Done(42)
        ));
    }

    #[test]
    fn leadership_errors_refresh_and_others_fail() {
        for code in [
            ErrorCode::NOT_LEADER_OR_FOLLOWER,
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
            ErrorCode::LEADER_NOT_AVAILABLE,
            ErrorCode::FENCED_LEADER_EPOCH,
        ] {
            assert!(
                matches!(
                    verdict(code, -1, &batch(0), -1, true, "t/0"),
                    Verdict::Retry { refresh: true }
                ),
                "{code}"
            );
        }
        assert!(matches!(
            verdict(
                ErrorCode::NOT_ENOUGH_REPLICAS,
                -1,
                &batch(0),
                -1,
                true,
                "t/0"
            ),
            Verdict::Retry { refresh: false }
        ));
        assert!(matches!(
            verdict(
                ErrorCode::TOPIC_AUTHORIZATION_FAILED,
                -1,
                &batch(0),
                -1,
                true,
                "t/0"
            ),
            Verdict::Fail(Error::Broker {
                code: ErrorCode::TOPIC_AUTHORIZATION_FAILED,
                ..
            })
        ));
    }
}
