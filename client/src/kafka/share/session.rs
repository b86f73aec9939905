//! A share session with one broker (KIP-932): the sans-IO epoch and
//! partition bookkeeping, and the ShareFetch and ShareAcknowledge requests
//! written in it.
//!
//! "ShareSessionEpoch: 0 to open a share session; -1 to close it;
//! otherwise increments for consecutive requests." The first ShareFetch
//! opens the session with epoch 0 and carries no acknowledgements (there
//! is nothing acquired in a session not yet open); each later request,
//! ShareFetch or ShareAcknowledge, carries the next epoch. A request whose
//! answer is lost leaves the epoch unknown, so the session starts over.

use std::collections::{BTreeMap, BTreeSet};

use kafka_proto::api::share_acknowledge::{ShareAcknowledgePartition, ShareAcknowledgeTopic};
use kafka_proto::api::share_fetch::{
    AcknowledgementBatch, ShareFetchPartition, ShareFetchTopic, ShareForgottenTopic,
};
use kafka_proto::api::{ShareAcknowledgeRequest, ShareFetchRequest};
use kafka_proto::primitives::Uuid;

use super::acks::PartitionKey;

/// The epoch that opens a session.
pub(crate) const OPEN: i32 = 0;
/// The epoch that closes it.
pub(crate) const CLOSE: i32 = -1;

/// How a ShareFetch asks for records.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FetchParams {
    pub(crate) max_wait_ms: i32,
    pub(crate) min_bytes: i32,
    pub(crate) max_bytes: i32,
    pub(crate) max_records: i32,
    pub(crate) batch_size: i32,
    /// 0 batch-optimized, 1 record-limit (version 2 on).
    pub(crate) acquire_mode: i8,
}

/// Acknowledgements for one request, by partition.
pub(crate) type Acks = Vec<(PartitionKey, Vec<AcknowledgementBatch>)>;

/// One share session with one broker.
#[derive(Debug, Default, Clone)]
pub(crate) struct Session {
    /// The epoch of the next request (0: the session is not open).
    epoch: i32,
    /// The partitions the session fetches.
    partitions: BTreeSet<PartitionKey>,
}

impl Session {
    /// Whether the session is open (acknowledgements can be sent in it).
    pub(crate) fn is_open(&self) -> bool {
        self.epoch > OPEN
    }

    /// The epoch the next request carries.
    #[cfg(test)]
    pub(crate) fn epoch(&self) -> i32 {
        self.epoch
    }

    /// The request went out and was answered without a session error:
    /// the next one carries the next epoch (wrapping past the largest to
    /// 1, as the broker does).
    pub(crate) fn answered(&mut self) {
        self.epoch = if self.epoch == i32::MAX {
            1
        } else {
            self.epoch + 1
        };
    }

    /// The session is gone (a session error, a lost answer, closed): the
    /// next fetch opens a new one.
    pub(crate) fn reset(&mut self) {
        self.epoch = OPEN;
        self.partitions.clear();
    }

    /// A ShareFetch for `wanted` (the partitions of this broker assigned
    /// now) with `acks`. Partitions of the session no longer wanted are
    /// forgotten. A session not yet open takes no acknowledgements: give
    /// none (see [`is_open`](Self::is_open)).
    pub(crate) fn fetch(
        &mut self,
        group_id: &str,
        member_id: &str,
        wanted: &BTreeSet<PartitionKey>,
        acks: &Acks,
        params: FetchParams,
    ) -> ShareFetchRequest {
        let mut topics: BTreeMap<Uuid, BTreeMap<i32, Vec<AcknowledgementBatch>>> = BTreeMap::new();
        for &(id, p) in wanted {
            topics.entry(id).or_default().entry(p).or_default();
        }
        for ((id, p), batches) in acks {
            topics
                .entry(*id)
                .or_default()
                .entry(*p)
                .or_default()
                .extend(batches.iter().cloned());
        }
        let mut forgotten: BTreeMap<Uuid, Vec<i32>> = BTreeMap::new();
        if self.is_open() {
            for &(id, p) in self.partitions.difference(wanted) {
                if !acks.iter().any(|(k, _)| *k == (id, p)) {
                    forgotten.entry(id).or_default().push(p);
                }
            }
        }
        self.partitions = wanted.clone();
        ShareFetchRequest {
            group_id: Some(group_id.to_owned()),
            member_id: Some(member_id.to_owned()),
            share_session_epoch: self.epoch,
            max_wait_ms: params.max_wait_ms,
            min_bytes: params.min_bytes,
            max_bytes: params.max_bytes,
            max_records: params.max_records,
            batch_size: params.batch_size,
            share_acquire_mode: params.acquire_mode,
            topics: topics
                .into_iter()
                .map(|(topic_id, parts)| ShareFetchTopic {
                    topic_id,
                    partitions: parts
                        .into_iter()
                        .map(
                            |(partition_index, acknowledgement_batches)| ShareFetchPartition {
                                partition_index,
                                acknowledgement_batches,
                                ..Default::default()
                            },
                        )
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            forgotten_topics_data: forgotten
                .into_iter()
                .map(|(topic_id, partitions)| ShareForgottenTopic {
                    topic_id,
                    partitions,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    /// A ShareAcknowledge with `acks`, in the open session, or closing it
    /// (`close`).
    pub(crate) fn acknowledge(
        &self,
        group_id: &str,
        member_id: &str,
        acks: &Acks,
        close: bool,
    ) -> ShareAcknowledgeRequest {
        let mut topics: BTreeMap<Uuid, Vec<ShareAcknowledgePartition>> = BTreeMap::new();
        for ((id, p), batches) in acks {
            topics
                .entry(*id)
                .or_default()
                .push(ShareAcknowledgePartition {
                    partition_index: *p,
                    acknowledgement_batches: batches.clone(),
                    ..Default::default()
                });
        }
        ShareAcknowledgeRequest {
            group_id: Some(group_id.to_owned()),
            member_id: Some(member_id.to_owned()),
            share_session_epoch: if close { CLOSE } else { self.epoch },
            topics: topics
                .into_iter()
                .map(|(topic_id, partitions)| ShareAcknowledgeTopic {
                    topic_id,
                    partitions,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARAMS: FetchParams = FetchParams {
        max_wait_ms: 500,
        min_bytes: 1,
        max_bytes: 1 << 20,
        max_records: 100,
        batch_size: 100,
        acquire_mode: 1,
    };

    fn t() -> Uuid {
        Uuid([9; 16])
    }

    fn batch(first: i64, last: i64, kind: i8) -> AcknowledgementBatch {
        AcknowledgementBatch {
            first_offset: first,
            last_offset: last,
            acknowledge_types: vec![kind],
            ..Default::default()
        }
    }

    #[test]
    fn epochs_open_count_up_and_start_over() {
        let mut s = Session::default();
        let wanted: BTreeSet<_> = [(t(), 0), (t(), 1)].into();
        let first = s.fetch("g", "m", &wanted, &Vec::new(), PARAMS);
        assert_eq!(first.share_session_epoch, 0);
        assert!(!s.is_open());
        assert_eq!(first.topics[0].partitions.len(), 2);
        s.answered();
        assert!(s.is_open());
        let acks = vec![((t(), 1), vec![batch(3, 5, 1)])];
        let second = s.fetch("g", "m", &wanted, &acks, PARAMS);
        assert_eq!(second.share_session_epoch, 1);
        assert_eq!(
            second.topics[0].partitions[1].acknowledgement_batches,
            vec![batch(3, 5, 1)]
        );
        s.answered();
        let ack = s.acknowledge("g", "m", &acks, false);
        assert_eq!(ack.share_session_epoch, 2);
        assert_eq!(s.acknowledge("g", "m", &acks, true).share_session_epoch, -1);
        s.reset();
        assert_eq!(s.epoch(), 0);
        let mut wrap = Session {
            epoch: i32::MAX,
            ..Default::default()
        };
        wrap.answered();
        assert_eq!(wrap.epoch(), 1);
    }

    #[test]
    fn partitions_no_longer_assigned_are_forgotten() {
        let mut s = Session::default();
        let both: BTreeSet<_> = [(t(), 0), (t(), 1)].into();
        s.fetch("g", "m", &both, &Vec::new(), PARAMS);
        s.answered();
        let one: BTreeSet<_> = [(t(), 0)].into();
        let r = s.fetch("g", "m", &one, &Vec::new(), PARAMS);
        assert_eq!(r.forgotten_topics_data.len(), 1);
        assert_eq!(r.forgotten_topics_data[0].partitions, vec![1]);
        assert_eq!(r.topics[0].partitions.len(), 1);
    }
}
