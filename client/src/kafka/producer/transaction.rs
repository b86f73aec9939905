//! Transactions (KIP-98, with KIP-447's group metadata and KIP-890's
//! transaction version 2): the producer's transactional state and the
//! coordinator calls that move it.
//!
//! A transactional producer has a `transactional_id`. `init_transactions`
//! finds its transaction coordinator (FindCoordinator, key type 1) and gets
//! a producer id and epoch for the id (InitProducerId), which fences any
//! older producer with the same id and aborts what it left open. Then each
//! transaction is `begin_transaction`, `send`s, optionally
//! `send_offsets_to_transaction`, and `commit_transaction` or
//! `abort_transaction` (EndTxn).
//!
//! Transaction version 1 adds each partition to the transaction
//! (AddPartitionsToTxn) before the first produce to it, and the group's
//! offsets with AddOffsetsToTxn before TxnOffsetCommit. With version 2
//! (KIP-890, finalized as `transaction.version` 2 on the cluster), "the
//! produce itself adds the partition" (Produce v12+), TxnOffsetCommit v5
//! adds the offsets, and every EndTxn bumps the producer epoch: its v5
//! response carries the id and epoch of the next transaction, whose
//! sequences start again at 0. A version-1 producer stays below those
//! versions (Produce v11, EndTxn v4, TxnOffsetCommit v4), so that the
//! broker does not take it for a version-2 client.
//!
//! Errors: a fenced producer gets [`Error::Fenced`] from every later call;
//! anything that spoils the current transaction (a failed send above all)
//! makes `commit_transaction` fail with [`Error::TransactionAbortable`],
//! naming the first failed send: abort and retry. Records of the spoiled
//! transaction not sent yet fail with it at once. An abort fails the
//! records not sent yet with [`Error::TransactionAborted`], waits for the
//! requests in flight, and leaves nothing behind for the next transaction.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_proto::ErrorCode;
use kafka_proto::api::add_partitions_to_txn::AddPartitionsToTxnTopic;
use kafka_proto::api::txn_offset_commit::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_proto::api::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, ApiKey, ApiVersionsRequest, EndTxnRequest,
    InitProducerIdRequest, TxnOffsetCommitRequest,
};
use tracing::{debug, info, warn};

use super::super::cluster::{Cluster, lock};
use super::super::error::{Error, Result};
use super::super::group::coordinator::{Coordinator, KEY_TYPE_TRANSACTION, is_coordinator_error};
use super::super::group::{ConsumerGroupMetadata, OffsetAndEpoch, TopicPartition};
use super::Producer;
use super::accumulator::{ProducerBatch, ProducerIdentity};

/// The newest Produce version a transaction-version-1 producer may use:
/// v12 tells the broker that the client adds partitions implicitly.
const PRODUCE_MAX_V1: i16 = 11;
/// EndTxn v5 is the epoch-bumping one (KIP-890 part 2).
const END_TXN_MAX_V1: i16 = 4;
/// TxnOffsetCommit v5 also adds the offsets to the transaction.
const TXN_OFFSET_COMMIT_MAX_V1: i16 = 4;

/// Where a transactional producer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Phase {
    /// `init_transactions` has not succeeded yet.
    #[default]
    Uninitialized,
    /// Between transactions.
    Ready,
    /// After `begin_transaction`.
    InTransaction,
}

#[derive(Debug, Default)]
struct TxnState {
    phase: Phase,
    /// Transaction version 2 is in use.
    v2: bool,
    /// Partitions added to the current transaction (version 1).
    added: HashSet<(Arc<str>, i32)>,
    /// The coordinator knows of the current transaction (a partition or
    /// offsets were added), so ending it takes an EndTxn.
    started: bool,
    /// The first failed send (or step) of the current transaction.
    failed: Option<String>,
    /// `abort_transaction` has begun (and not finished) on the current
    /// transaction: nothing more of it may be sent.
    aborting: bool,
    /// Set once fenced: every later call fails with it.
    fenced: Option<Error>,
}

/// A transactional producer's state, shared by its handles and its sender.
#[derive(Debug)]
pub(crate) struct Transactions {
    pub(crate) id: Arc<str>,
    timeout: Duration,
    max_version: u8,
    coordinator: Coordinator,
    /// The last group's coordinator, for TxnOffsetCommit.
    group_coordinator: Mutex<Option<Arc<Coordinator>>>,
    state: Mutex<TxnState>,
    /// One transactional call at a time.
    ops: tokio::sync::Mutex<()>,
}

/// Whether a transactional API's error code means this producer is fenced.
fn is_fenced_code(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::PRODUCER_FENCED
            | ErrorCode::INVALID_PRODUCER_EPOCH
            | ErrorCode::TRANSACTION_COORDINATOR_FENCED
            | ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    )
}

impl Transactions {
    pub(crate) fn new(cluster: Cluster, id: &str, timeout: Duration, max_version: u8) -> Self {
        let id: Arc<str> = id.into();
        Transactions {
            coordinator: Coordinator::with_key_type(cluster, id.clone(), KEY_TYPE_TRANSACTION),
            id,
            timeout,
            max_version,
            group_coordinator: Mutex::new(None),
            state: Mutex::new(TxnState::default()),
            ops: tokio::sync::Mutex::new(()),
        }
    }

    /// Whether transaction version 2 is in use.
    pub(crate) fn is_v2(&self) -> bool {
        lock(&self.state).v2
    }

    /// The newest Produce version this producer may send.
    pub(crate) fn produce_max_version(&self) -> i16 {
        if self.is_v2() {
            i16::MAX
        } else {
            PRODUCE_MAX_V1
        }
    }

    /// Whether `send` may add a record now.
    pub(crate) fn check_send(&self) -> Result<()> {
        let st = lock(&self.state);
        if let Some(e) = &st.fenced {
            return Err(e.clone());
        }
        match st.phase {
            Phase::Uninitialized => Err(Error::TransactionState(
                "send before init_transactions on a transactional producer".into(),
            )),
            Phase::Ready => Err(Error::TransactionState(
                "send outside a transaction: call begin_transaction first".into(),
            )),
            Phase::InTransaction if st.aborting => Err(Error::TransactionState(
                "send while the transaction is being aborted: begin the next one after \
                 abort_transaction returns"
                    .into(),
            )),
            Phase::InTransaction => match &st.failed {
                Some(why) => Err(Error::TransactionAbortable {
                    reason: format!("an earlier step of this transaction failed: {why}"),
                }),
                None => Ok(()),
            },
        }
    }

    /// The error for the current transaction's records still in the
    /// accumulator, if they must not be sent: the transaction is being
    /// aborted ([`Error::TransactionAborted`]), the producer is fenced, or
    /// a step of the transaction failed, so it can only be aborted
    /// ([`Error::TransactionAbortable`]). The sender fails them at once
    /// rather than let them wait, behind the epoch bump a failed batch asks
    /// for, until their delivery timeout.
    pub(crate) fn unsendable(&self) -> Option<Error> {
        let st = lock(&self.state);
        if st.phase != Phase::InTransaction {
            return None;
        }
        if st.aborting {
            return Some(Error::TransactionAborted);
        }
        if let Some(e) = &st.fenced {
            return Some(e.clone());
        }
        st.failed.as_ref().map(|why| Error::TransactionAbortable {
            reason: format!("not sent: an earlier step of this transaction failed: {why}"),
        })
    }

    /// The state a transactional call other than `send` needs: fenced
    /// first, then the phase.
    fn check_phase(&self, what: &str, wanted: Phase) -> Result<()> {
        let st = lock(&self.state);
        if let Some(e) = &st.fenced {
            return Err(e.clone());
        }
        if st.phase == wanted {
            return Ok(());
        }
        let why = match (st.phase, wanted) {
            (Phase::Uninitialized, _) => "call init_transactions first",
            (_, Phase::Uninitialized) => "init_transactions was already called",
            (Phase::Ready, _) => "no transaction in progress: call begin_transaction first",
            (Phase::InTransaction, _) => {
                "a transaction is already in progress: commit or abort it first"
            }
        };
        Err(Error::TransactionState(format!("{what}: {why}")))
    }

    /// The partitions among `ready` not yet in the transaction (version 1).
    pub(crate) fn unadded(&self, ready: &[(i32, ProducerBatch)]) -> Vec<(Arc<str>, i32)> {
        let st = lock(&self.state);
        let mut out: Vec<(Arc<str>, i32)> = Vec::new();
        for (_, b) in ready {
            let key = (b.topic.clone(), b.partition);
            if !st.added.contains(&key) && !out.contains(&key) {
                out.push(key);
            }
        }
        out
    }

    /// A produce went out in the transaction (version 2 adds its partition).
    pub(crate) fn mark_started(&self) {
        lock(&self.state).started = true;
    }

    /// A batch of the transaction failed: the transaction cannot commit.
    pub(crate) fn record_failure(&self, batch: &ProducerBatch, error: &Error) {
        let mut st = lock(&self.state);
        if error.is_fenced() && st.fenced.is_none() {
            st.fenced = Some(error.clone());
        }
        if st.phase == Phase::InTransaction && st.failed.is_none() {
            st.failed = Some(format!(
                "send of {} record(s) to {}/{} failed: {error}",
                batch.records, batch.topic, batch.partition
            ));
        }
    }

    /// What a Produce error code means for a transactional batch, where it
    /// differs from an idempotent producer's verdict: fencing, and the
    /// errors an idempotent producer would fix by bumping its epoch, which
    /// a transaction cannot (the abort does).
    pub(crate) fn produce_error(&self, code: ErrorCode, context: &str) -> Option<Error> {
        if is_fenced_code(code) {
            return Some(self.fenced(code, context));
        }
        match code {
            ErrorCode::TRANSACTION_ABORTABLE
            | ErrorCode::INVALID_TXN_STATE
            | ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER
            | ErrorCode::UNKNOWN_PRODUCER_ID
            | ErrorCode::INVALID_PRODUCER_ID_MAPPING => Some(Error::TransactionAbortable {
                reason: format!("{code} from {context}"),
            }),
            _ => None,
        }
    }

    /// The fenced error for `code`, remembered for every later call.
    fn fenced(&self, code: ErrorCode, context: &str) -> Error {
        let e = Error::Fenced {
            code,
            context: format!("transactional id {}: {context}", self.id),
        };
        let mut st = lock(&self.state);
        if st.fenced.is_none() {
            warn!(transactional_id = %self.id, %code, context, "producer fenced");
            st.fenced = Some(e.clone());
        }
        e
    }

    /// The error for a transaction API's error code.
    fn error(&self, code: ErrorCode, what: &str) -> Error {
        if is_fenced_code(code) {
            return self.fenced(code, what);
        }
        if is_coordinator_error(code) {
            self.coordinator.invalidate(&code);
        }
        if code == ErrorCode::TRANSACTION_ABORTABLE {
            return Error::TransactionAbortable {
                reason: format!("{what}: {code}"),
            };
        }
        Error::broker(code, format!("transactional id {}: {what}", self.id))
    }

    /// Adds `partitions` to the transaction (version 1), retrying what is
    /// retriable within the transaction timeout.
    pub(crate) async fn add_partitions(
        &self,
        identity: ProducerIdentity,
        partitions: &[(Arc<str>, i32)],
    ) -> Result<()> {
        let mut topics: Vec<AddPartitionsToTxnTopic> = Vec::new();
        for (topic, partition) in partitions {
            match topics.iter_mut().find(|t| *t.name == **topic) {
                Some(t) => t.partitions.push(*partition),
                None => topics.push(AddPartitionsToTxnTopic {
                    name: topic.to_string(),
                    partitions: vec![*partition],
                    ..Default::default()
                }),
            }
        }
        let request = AddPartitionsToTxnRequest {
            v3_and_below_transactional_id: self.id.to_string(),
            v3_and_below_producer_id: identity.id,
            v3_and_below_producer_epoch: identity.epoch,
            v3_and_below_topics: topics,
            ..Default::default()
        };
        let cluster = self.coordinator.cluster();
        crate::kafka::admin::retry(cluster, self.timeout, || async {
            let response = self.coordinator.call(request.clone(), None).await?;
            let mut worst = ErrorCode::NONE;
            for t in &response.results_by_topic_v3_and_below {
                for p in &t.results_by_partition {
                    let code = p.partition_error_code;
                    // OPERATION_NOT_ATTEMPTED: another partition's error
                    // stopped the whole request; that one says why.
                    if !code.is_ok()
                        && (worst.is_ok() || worst == ErrorCode::OPERATION_NOT_ATTEMPTED)
                    {
                        worst = code;
                    }
                }
            }
            match worst {
                ErrorCode::NONE => Ok(()),
                ErrorCode::OPERATION_NOT_ATTEMPTED => Err(Error::broker(
                    ErrorCode::CONCURRENT_TRANSACTIONS,
                    "AddPartitionsToTxn not attempted",
                )),
                code => Err(self.error(code, "AddPartitionsToTxn")),
            }
        })
        .await?;
        let mut st = lock(&self.state);
        st.started = true;
        st.added.extend(partitions.iter().cloned());
        debug!(transactional_id = %self.id, partitions = partitions.len(), "partitions added to the transaction");
        Ok(())
    }

    /// Whether the cluster runs transaction version 2 and the coordinator
    /// has the API versions that go with it.
    async fn detect_v2(&self, timeout: Duration) -> Result<bool> {
        let conn = self.coordinator.conn(timeout).await?;
        let response = conn
            .call(ApiVersionsRequest {
                client_software_name: "mq-client".into(),
                client_software_version: env!("CARGO_PKG_VERSION").into(),
                ..Default::default()
            })
            .await?;
        let feature = response
            .finalized_features
            .iter()
            .find(|f| f.name == "transaction.version")
            .map_or(0, |f| f.max_version_level);
        let api_max = |key: ApiKey| {
            response
                .api_keys
                .iter()
                .find(|k| k.api_key == key)
                .map_or(-1, |k| k.max_version)
        };
        Ok(feature >= 2
            && api_max(ApiKey::PRODUCE) >= 12
            && api_max(ApiKey::END_TXN) >= 5
            && api_max(ApiKey::TXN_OFFSET_COMMIT) >= 5)
    }
}

/// The transactional API of [`Producer`].
impl Producer {
    fn transactions(&self) -> Result<&Arc<Transactions>> {
        self.shared
            .txn
            .as_ref()
            .ok_or_else(|| Error::TransactionState("this producer has no transactional_id".into()))
    }

    /// Registers the `transactional_id` with its coordinator and gets the
    /// producer id and epoch (InitProducerId). Fences any older producer
    /// with the same id and aborts the transaction it left open. Call once,
    /// before the first transaction. Waits at most `max_block`.
    pub async fn init_transactions(&self) -> Result<()> {
        let txn = self.transactions()?;
        let _op = txn.ops.lock().await;
        txn.check_phase("init_transactions", Phase::Uninitialized)?;
        let timeout = self.shared.config.max_block;
        let v2 = txn.max_version >= 2 && txn.detect_v2(timeout).await?;
        let request = InitProducerIdRequest {
            transactional_id: Some(txn.id.to_string()),
            transaction_timeout_ms: i32::try_from(txn.timeout.as_millis()).unwrap_or(i32::MAX),
            ..Default::default()
        };
        let identity = crate::kafka::admin::retry(&self.shared.cluster, timeout, || async {
            let r = txn.coordinator.call(request.clone(), None).await?;
            if !r.error_code.is_ok() {
                return Err(txn.error(r.error_code, "InitProducerId"));
            }
            Ok(ProducerIdentity {
                id: r.producer_id,
                epoch: r.producer_epoch,
            })
        })
        .await?;
        lock(&self.shared.acc).reset_sequences(identity)?;
        let mut st = lock(&txn.state);
        st.phase = Phase::Ready;
        st.v2 = v2;
        info!(transactional_id = %txn.id, producer_id = identity.id, epoch = identity.epoch,
              transaction_version = if v2 { 2 } else { 1 }, "transactions initialized");
        Ok(())
    }

    /// Starts a transaction: the records sent until
    /// [`commit_transaction`](Self::commit_transaction) are committed (or
    /// aborted) together. Only local state changes; the coordinator hears of
    /// the transaction with its first record or offsets.
    pub async fn begin_transaction(&self) -> Result<()> {
        let txn = self.transactions()?;
        let _op = txn.ops.lock().await;
        txn.check_phase("begin_transaction", Phase::Ready)?;
        let mut st = lock(&txn.state);
        st.phase = Phase::InTransaction;
        st.added.clear();
        st.started = false;
        st.failed = None;
        st.aborting = false;
        Ok(())
    }

    /// Adds the consumed `offsets` (the next offset to read per partition)
    /// of the group described by `group` to the transaction (KIP-447):
    /// they are committed if and only if the transaction is. Take `group`
    /// from [`Consumer::group_metadata`](crate::kafka::Consumer::group_metadata)
    /// right before: a member that has left the generation is refused, and
    /// the transaction must then be aborted.
    pub async fn send_offsets_to_transaction(
        &self,
        offsets: impl IntoIterator<Item = (TopicPartition, OffsetAndEpoch)>,
        group: &ConsumerGroupMetadata,
    ) -> Result<()> {
        let txn = self.transactions()?;
        let _op = txn.ops.lock().await;
        txn.check_phase("send_offsets_to_transaction", Phase::InTransaction)?;
        let offsets: BTreeMap<TopicPartition, OffsetAndEpoch> = offsets.into_iter().collect();
        if offsets.is_empty() {
            return Ok(());
        }
        let identity = lock(&self.shared.acc).identity;
        let v2 = txn.is_v2();
        let timeout = txn.timeout;
        let cluster = &self.shared.cluster;
        if !v2 {
            let request = AddOffsetsToTxnRequest {
                transactional_id: txn.id.to_string(),
                producer_id: identity.id,
                producer_epoch: identity.epoch,
                group_id: group.group_id.clone(),
                ..Default::default()
            };
            crate::kafka::admin::retry(cluster, timeout, || async {
                let r = txn.coordinator.call(request.clone(), None).await?;
                if !r.error_code.is_ok() {
                    return Err(txn.error(r.error_code, "AddOffsetsToTxn"));
                }
                Ok(())
            })
            .await
            .map_err(|e| abortable_unless_fenced(e, "AddOffsetsToTxn"))?;
        }
        lock(&txn.state).started = true;
        let coordinator = {
            let mut cached = lock(&txn.group_coordinator);
            match cached.as_ref() {
                Some(c) if c.group_id() == group.group_id => c.clone(),
                _ => {
                    let c = Arc::new(Coordinator::new(
                        cluster.clone(),
                        Arc::from(group.group_id.as_str()),
                    ));
                    *cached = Some(c.clone());
                    c
                }
            }
        };
        let mut topics: Vec<TxnOffsetCommitRequestTopic> = Vec::new();
        for (tp, oe) in &offsets {
            let partition = TxnOffsetCommitRequestPartition {
                partition_index: tp.partition,
                committed_offset: oe.offset,
                committed_leader_epoch: oe.leader_epoch,
                ..Default::default()
            };
            match topics.iter_mut().find(|t| *t.name == *tp.topic) {
                Some(t) => t.partitions.push(partition),
                None => topics.push(TxnOffsetCommitRequestTopic {
                    name: tp.topic.to_string(),
                    partitions: vec![partition],
                    ..Default::default()
                }),
            }
        }
        let request = TxnOffsetCommitRequest {
            transactional_id: txn.id.to_string(),
            group_id: group.group_id.clone(),
            producer_id: identity.id,
            producer_epoch: identity.epoch,
            generation_id: group.generation_id,
            member_id: group.member_id.clone(),
            group_instance_id: group.group_instance_id.clone(),
            topics,
            ..Default::default()
        };
        let max = if v2 {
            i16::MAX
        } else {
            TXN_OFFSET_COMMIT_MAX_V1
        };
        crate::kafka::admin::retry(cluster, timeout, || async {
            let r = coordinator.call_capped(request.clone(), max).await?;
            let code = r
                .topics
                .iter()
                .flat_map(|t| &t.partitions)
                .map(|p| p.error_code)
                .find(|c| !c.is_ok())
                .unwrap_or(ErrorCode::NONE);
            if code.is_ok() {
                return Ok(());
            }
            if is_fenced_code(code) {
                return Err(txn.fenced(code, "TxnOffsetCommit"));
            }
            Err(coordinator.error(code, "TxnOffsetCommit"))
        })
        .await
        .map_err(|e| abortable_unless_fenced(e, "TxnOffsetCommit"))
        .inspect_err(|e| {
            let mut st = lock(&txn.state);
            if st.failed.is_none() && !e.is_fenced() {
                st.failed = Some(e.to_string());
            }
        })
    }

    /// Sends what is buffered, waits until every record of the
    /// transaction is acknowledged, and commits the transaction (EndTxn).
    /// Fails with [`Error::TransactionAbortable`], naming the first failed
    /// send, if any send of the transaction failed (the records not sent
    /// by then fail with it at once): the transaction is still open and
    /// must be aborted. With transaction version 2 the coordinator bumps
    /// the producer epoch here.
    pub async fn commit_transaction(&self) -> Result<()> {
        let txn = self.transactions()?;
        let _op = txn.ops.lock().await;
        txn.check_phase("commit_transaction", Phase::InTransaction)?;
        if lock(&txn.state).aborting {
            return Err(Error::TransactionState(
                "commit_transaction: an abort of this transaction did not finish: \
                 call abort_transaction again"
                    .into(),
            ));
        }
        self.flush().await?;
        {
            let st = lock(&txn.state);
            if let Some(e) = &st.fenced {
                return Err(e.clone());
            }
            if let Some(why) = &st.failed {
                return Err(Error::TransactionAbortable {
                    reason: format!("cannot commit, {why}"),
                });
            }
        }
        self.end_transaction(txn, true).await
    }

    /// Aborts the transaction. Records not sent yet are failed at once
    /// and never sent: their [`DeliveryFuture`](super::DeliveryFuture)s
    /// resolve to [`Error::TransactionAborted`]. Requests already in flight
    /// are waited for (a record that comes back for a retry fails the same
    /// way instead); then EndTxn marks everything sent in the transaction
    /// aborted, so read_committed consumers never see it. The producer can
    /// begin the next transaction afterwards: nothing of this one is left
    /// behind. If the abort fails (or its future is dropped), call it
    /// again.
    pub async fn abort_transaction(&self) -> Result<()> {
        let txn = self.transactions()?;
        let _op = txn.ops.lock().await;
        txn.check_phase("abort_transaction", Phase::InTransaction)?;
        // From here the sender fails, rather than sends, what it finds of
        // this transaction (a batch requeued for a retry, a record enqueued
        // by another handle meanwhile).
        lock(&txn.state).aborting = true;
        let unsent = lock(&self.shared.acc).take_unsent();
        for batch in unsent {
            self.shared
                .settle(batch, Err(Error::TransactionAborted), false);
        }
        self.wait_drained().await?;
        self.end_transaction(txn, false).await
    }

    async fn end_transaction(&self, txn: &Transactions, commit: bool) -> Result<()> {
        let (started, v2) = {
            let st = lock(&txn.state);
            (st.started, st.v2)
        };
        let what = if commit { "commit" } else { "abort" };
        if started {
            let identity = lock(&self.shared.acc).identity;
            let request = EndTxnRequest {
                transactional_id: txn.id.to_string(),
                producer_id: identity.id,
                producer_epoch: identity.epoch,
                committed: commit,
                ..Default::default()
            };
            let max = if v2 { i16::MAX } else { END_TXN_MAX_V1 };
            let response =
                crate::kafka::admin::retry(&self.shared.cluster, txn.timeout, || async {
                    let r = txn.coordinator.call_capped(request.clone(), max).await?;
                    if !r.error_code.is_ok() {
                        return Err(txn.error(r.error_code, "EndTxn"));
                    }
                    Ok(r)
                })
                .await?;
            if v2 {
                // "Version 5 enables bumping epoch on every transaction":
                // the next transaction goes on under the returned epoch
                // (or a new id, when the epoch ran out).
                let next = if response.producer_id >= 0 && response.producer_epoch >= 0 {
                    ProducerIdentity {
                        id: response.producer_id,
                        epoch: response.producer_epoch,
                    }
                } else {
                    ProducerIdentity {
                        id: identity.id,
                        epoch: identity.epoch.saturating_add(1),
                    }
                };
                debug!(transactional_id = %txn.id, producer_id = next.id, epoch = next.epoch, "epoch after EndTxn");
                lock(&self.shared.acc).reset_sequences(next)?;
            }
        }
        if !commit && lock(&self.shared.acc).bump_needed {
            // A batch failed with a sequence gap and no EndTxn moved the
            // epoch on: version 1, or version 2 when no request of the
            // transaction went out (its batches expired unsent, say, for
            // want of a leader). Bump the epoch (KIP-360) so the next
            // transaction starts at sequence 0; without the bump every later
            // batch would wait for one until its delivery timeout.
            let identity = lock(&self.shared.acc).identity;
            let request = InitProducerIdRequest {
                transactional_id: Some(txn.id.to_string()),
                transaction_timeout_ms: i32::try_from(txn.timeout.as_millis()).unwrap_or(i32::MAX),
                producer_id: identity.id,
                producer_epoch: identity.epoch,
                ..Default::default()
            };
            let next = crate::kafka::admin::retry(&self.shared.cluster, txn.timeout, || async {
                let r = txn.coordinator.call(request.clone(), None).await?;
                if !r.error_code.is_ok() {
                    return Err(txn.error(r.error_code, "InitProducerId (epoch bump)"));
                }
                Ok(ProducerIdentity {
                    id: r.producer_id,
                    epoch: r.producer_epoch,
                })
            })
            .await?;
            lock(&self.shared.acc).reset_sequences(next)?;
        }
        let mut st = lock(&txn.state);
        st.phase = Phase::Ready;
        st.added.clear();
        st.started = false;
        st.failed = None;
        st.aborting = false;
        debug!(transactional_id = %txn.id, outcome = what, "transaction ended");
        Ok(())
    }
}

/// A step of the transaction failed for good: unless fenced, the
/// transaction must be aborted.
fn abortable_unless_fenced(e: Error, what: &str) -> Error {
    match e {
        Error::Fenced { .. } | Error::TransactionAbortable { .. } => e,
        e => Error::TransactionAbortable {
            reason: format!("{what} failed: {e}"),
        },
    }
}
