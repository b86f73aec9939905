//! The sender task: takes ready batches from the accumulator, groups them
//! into one Produce request per leader, pipelines the requests on the
//! broker connections, and settles each batch from the answer: done,
//! retried (with backoff, within `delivery_timeout`), or failed.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use kafka_proto::Response;
use kafka_proto::Uuid;
use kafka_proto::api::ProduceRequest;
use kafka_proto::api::ProduceResponse;
use kafka_proto::api::produce::{PartitionProduceData, TopicProduceData};
use tracing::{Instrument, debug, debug_span, warn};

use super::super::cluster::lock;
use super::super::conn::decode;
use super::super::error::{Error, Result};
use super::Shared;
use super::accumulator::ProducerBatch;
use super::idempotence::{Verdict, init_producer_id, verdict};

/// A Produce's leader, batches, the topic ids it named (a v13 answer names
/// topics by id only) and its outcome.
type RequestOutcome = (i32, Vec<ProducerBatch>, TopicIds, Result<Option<Response>>);

/// The topics of one Produce request by id.
type TopicIds = HashMap<Uuid, Arc<str>>;

/// The longest wait between metadata refreshes while a partition has no
/// leader.
const LEADER_REFRESH_MAX: std::time::Duration = std::time::Duration::from_secs(1);

/// Runs until the producer is closed and every batch is settled.
pub(super) async fn run(shared: Arc<Shared>) {
    let mut in_flight = FuturesUnordered::new();
    let mut metadata = shared.cluster.subscribe();
    let mut seen_version = 0u64;
    let mut ready: Vec<(i32, ProducerBatch)> = Vec::new();
    let mut expired: Vec<ProducerBatch> = Vec::new();
    let config = shared.config.clone();
    let backoff = shared.cluster.config().retry_backoff;
    let mut leader_refresh: Option<(Instant, crate::backoff::Backoff)> = None;
    // Produce requests in flight per broker, at most the connection's
    // `max_in_flight`: while a leader has no free slot its partitions'
    // batches keep filling.
    let mut requests: HashMap<i32, usize> = HashMap::new();
    let slots = shared.cluster.config().max_in_flight.max(1);
    loop {
        // A transaction being aborted, or one that can only be aborted now:
        // what it still has in the accumulator (a batch back for a retry
        // above all) is failed at once, never sent.
        if let Some(error) = shared.txn.as_ref().and_then(|t| t.unsendable()) {
            let abandoned = lock(&shared.acc).take_unsent();
            for batch in abandoned {
                shared.settle(batch, Err(error.clone()), false);
            }
        }
        let now = Instant::now();
        let md = shared.cluster.metadata();
        let (drained, bump, finished) = {
            let mut acc = lock(&shared.acc);
            if md.version != seen_version {
                seen_version = md.version;
                let known: Vec<Arc<str>> = acc.topics.keys().cloned().collect();
                for topic in known {
                    if let Some(t) = md.topic(&topic) {
                        acc.set_partition_count(&topic, t.partitions.len());
                    }
                }
            }
            let drained = acc.drain(
                now,
                config.delivery_timeout,
                config.max_in_flight_per_partition,
                |topic, partition| md.leader_for(topic, partition),
                |leader| requests.get(&leader).copied().unwrap_or(0) < slots,
                &mut ready,
                &mut expired,
            );
            // A transactional producer bumps its epoch when the transaction
            // ends (EndTxn, or InitProducerId after an abort), not here.
            let bump =
                acc.bump_needed && acc.in_flight() == 0 && ready.is_empty() && shared.txn.is_none();
            let finished = acc.closed && acc.is_empty() && in_flight.is_empty();
            (drained, bump, finished)
        };
        for batch in expired.drain(..) {
            debug!(topic = %batch.topic, partition = batch.partition, "batch expired before it was sent");
            // Never sent for want of a leader: say so.
            let error = if md.leader_for(&batch.topic, batch.partition).is_none() {
                Error::PartitionUnavailable {
                    topic: batch.topic.to_string(),
                    partition: batch.partition,
                    after: config.delivery_timeout,
                }
            } else {
                Error::DeliveryTimeout {
                    after: config.delivery_timeout,
                    possibly_written: batch.outcome_unknown,
                }
            };
            shared.settle(batch, Err(error), false);
        }
        if finished {
            debug!("producer closed; sender stops");
            return;
        }
        // A partition without a leader: refresh the metadata with backoff
        // until one is known (a topic being created, a leader election).
        // (Java's retry.backoff.ms growing to retry.backoff.max.ms, 1 s.)
        let mut next = drained.next;
        if drained.missing_leader {
            let (at, delays) = leader_refresh.get_or_insert_with(|| (now, backoff.start()));
            if *at <= now {
                shared.cluster.request_refresh();
                let delay = delays.next_delay().unwrap_or(LEADER_REFRESH_MAX);
                *at = now + delay.min(LEADER_REFRESH_MAX);
            }
            next = Some(next.map_or(*at, |n| n.min(*at)));
        } else {
            leader_refresh = None;
        }
        if bump {
            bump_epoch(&shared).await;
            continue;
        }
        // Transaction version 1: partitions join the transaction before
        // their first produce.
        if let Some(txn) = shared
            .txn
            .as_ref()
            .filter(|t| !t.is_v2() && !ready.is_empty())
        {
            let new = txn.unadded(&ready);
            if !new.is_empty() {
                let identity = lock(&shared.acc).identity;
                if let Err(e) = txn.add_partitions(identity, &new).await {
                    let (failed, keep): (Vec<_>, Vec<_>) = ready
                        .drain(..)
                        .partition(|(_, b)| new.contains(&(b.topic.clone(), b.partition)));
                    ready = keep;
                    for (_, batch) in failed {
                        shared.settle(batch, Err(e.clone()), true);
                    }
                }
            }
        }
        // Queue the requests in drain order, so a partition's batches reach
        // its leader's connection in sequence order; then wait for the
        // answers in any order.
        for (leader, batches) in group(&mut ready, config.max_request_size) {
            *requests.entry(leader).or_insert(0) += 1;
            let request = send(&shared, leader, batches).await;
            in_flight.push(request);
        }
        let sleep = async {
            match next {
                Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shared.wake.notified() => {}
            () = sleep => {}
            Some(outcome) = in_flight.next(), if !in_flight.is_empty() => {
                release(&mut requests, outcome.0);
                handle(&shared, outcome);
                // Settle everything that is already answered in one go.
                while let Some(Some(outcome)) = futures_util::FutureExt::now_or_never(in_flight.next()) {
                    release(&mut requests, outcome.0);
                    handle(&shared, outcome);
                }
            }
            changed = metadata.changed() => {
                if changed.is_err() {
                    // The cluster is gone; nothing more can be sent.
                    return;
                }
            }
        }
    }
}

/// A Produce request to `leader` is answered (or failed): its slot is free.
fn release(requests: &mut HashMap<i32, usize>, leader: i32) {
    if let Some(n) = requests.get_mut(&leader) {
        *n = n.saturating_sub(1);
    }
}

/// Groups ready batches by leader, splitting requests at `max_bytes`.
fn group(
    ready: &mut Vec<(i32, ProducerBatch)>,
    max_bytes: usize,
) -> Vec<(i32, Vec<ProducerBatch>)> {
    let mut by_leader: HashMap<i32, Vec<Vec<ProducerBatch>>> = HashMap::new();
    let mut sizes: HashMap<i32, usize> = HashMap::new();
    for (leader, mut batch) in ready.drain(..) {
        let size = match batch.finish() {
            Ok(bytes) => bytes.len(),
            Err(_) => 0,
        };
        let requests = by_leader.entry(leader).or_default();
        let current = sizes.entry(leader).or_insert(0);
        if requests.is_empty() || (*current + size > max_bytes && *current > 0) {
            requests.push(Vec::new());
            *current = 0;
        }
        *current += size;
        if let Some(last) = requests.last_mut() {
            last.push(batch);
        }
    }
    by_leader
        .into_iter()
        .flat_map(|(leader, requests)| requests.into_iter().map(move |r| (leader, r)))
        .collect()
}

type InFlight = Pin<Box<dyn Future<Output = RequestOutcome> + Send>>;

/// Builds the Produce request for `batches` and queues it on the leader's
/// connection; returns the future of its outcome.
async fn send(shared: &Arc<Shared>, leader: i32, mut batches: Vec<ProducerBatch>) -> InFlight {
    let records: i32 = batches.iter().map(|b| b.records).sum();
    let mut topics: Vec<TopicProduceData> = Vec::new();
    let mut bytes = 0usize;
    let mut largest = 0usize;
    let metadata = shared.cluster.metadata();
    for batch in &mut batches {
        let data = match batch.finish() {
            Ok(data) => data,
            Err(e) => {
                return Box::pin(std::future::ready((
                    leader,
                    batches,
                    TopicIds::new(),
                    Err(e),
                )));
            }
        };
        bytes += data.len();
        largest = largest.max(data.len());
        let partition = PartitionProduceData {
            index: batch.partition,
            records: Some(data),
            ..Default::default()
        };
        match topics.iter_mut().find(|t| *t.name == *batch.topic) {
            Some(t) => t.partition_data.push(partition),
            // Both the name and the id: the negotiated version writes one
            // (v13 names topics by id; an unknown id keeps it at v12).
            None => topics.push(TopicProduceData {
                name: batch.topic.to_string(),
                topic_id: metadata
                    .topic(&batch.topic)
                    .map(|t| t.id)
                    .unwrap_or_default(),
                partition_data: vec![partition],
                ..Default::default()
            }),
        }
    }
    let ids: TopicIds = topics
        .iter()
        .filter(|t| !t.topic_id.is_zero())
        .map(|t| (t.topic_id, Arc::from(t.name.as_str())))
        .collect();
    let config = &shared.config;
    let txn = shared.txn.as_ref();
    if let Some(txn) = txn {
        txn.mark_started();
    }
    let max_version = txn.map(|t| t.produce_max_version());
    let request = ProduceRequest {
        transactional_id: txn.map(|t| t.id.to_string()),
        acks: config.acks.wire(),
        timeout_ms: i32::try_from(shared.cluster.config().request_timeout.as_millis())
            .unwrap_or(i32::MAX),
        topic_data: topics,
        ..Default::default()
    };
    let span = debug_span!(
        "kafka_produce",
        broker = leader,
        batches = batches.len(),
        records,
        bytes
    );
    let queued = async {
        let conn = shared.cluster.broker(leader)?;
        match max_version {
            Some(max) => conn.enqueue_capped(request, max).await,
            None => conn.enqueue(request, None).await,
        }
    }
    .instrument(span.clone())
    .await;
    match queued {
        Ok(reply) => {
            shared
                .cluster
                .stats()
                .produce_sent(batches.len(), records, bytes, largest);
            Box::pin(
                async move {
                    let result = reply.await;
                    (leader, batches, ids, result)
                }
                .instrument(span),
            )
        }
        Err(e) => Box::pin(std::future::ready((leader, batches, ids, Err(e)))),
    }
}

fn handle(shared: &Shared, (leader, batches, ids, result): RequestOutcome) {
    let response = match result {
        Ok(Some(response)) => match decode::<ProduceResponse>(&response) {
            Ok(r) => Some(r),
            Err(e) => {
                warn!(broker = leader, error = %e, "bad Produce response");
                for b in batches {
                    shared.retry_or_fail(b, e.clone(), false, false);
                }
                return;
            }
        },
        Ok(None) => None,
        Err(e) => {
            let refresh = e.needs_metadata_refresh();
            let retriable = e.is_retriable();
            for b in batches {
                shared.retry_or_fail(b, e.clone(), refresh, retriable);
            }
            return;
        }
    };
    let Some(response) = response else {
        // acks = 0: nothing comes back; the records are as good as sent.
        for b in batches {
            shared.settle(b, Ok(-1), true);
        }
        return;
    };
    let mut results: HashMap<(&str, i32), (kafka_proto::ErrorCode, i64, Option<&str>)> =
        HashMap::new();
    for t in &response.responses {
        let name = match ids.get(&t.topic_id) {
            Some(name) if t.name.is_empty() => &**name,
            _ => t.name.as_str(),
        };
        for p in &t.partition_responses {
            results.insert(
                (name, p.index),
                (p.error_code, p.base_offset, p.error_message.as_deref()),
            );
        }
    }
    let mut refresh = false;
    let mut settled = Vec::with_capacity(batches.len());
    for batch in batches {
        let Some(&(code, base_offset, message)) = results.get(&(&*batch.topic, batch.partition))
        else {
            let e = Error::broker(
                kafka_proto::ErrorCode::UNKNOWN_SERVER_ERROR,
                format!("no answer for {}/{}", batch.topic, batch.partition),
            );
            settled.push((batch, Verdict::Fail(e)));
            continue;
        };
        let last_acked = {
            let mut acc = lock(&shared.acc);
            acc.queue(&batch.topic, batch.partition)
                .map_or(-1, |q| q.last_acked)
        };
        let context = match message {
            Some(m) => format!("{}/{}: {m}", batch.topic, batch.partition),
            None => format!("{}/{}", batch.topic, batch.partition),
        };
        let transactional = shared
            .txn
            .as_ref()
            .and_then(|t| t.produce_error(code, &context));
        let v = match transactional {
            Some(e) => Verdict::Fail(e),
            None => verdict(
                code,
                base_offset,
                &batch,
                last_acked,
                shared.config.idempotent,
                &context,
            ),
        };
        if matches!(v, Verdict::Retry { refresh: true }) {
            refresh = true;
        }
        settled.push((batch, v));
    }
    if refresh {
        shared.cluster.request_refresh();
    }
    for (batch, v) in settled {
        match v {
            Verdict::Done(offset) => shared.settle(batch, Ok(offset), true),
            Verdict::Retry { refresh } => {
                let e = Error::broker(
                    results
                        .get(&(&*batch.topic, batch.partition))
                        .map_or(kafka_proto::ErrorCode::UNKNOWN_SERVER_ERROR, |r| r.0),
                    format!("{}/{}", batch.topic, batch.partition),
                );
                shared.retry_or_fail(batch, e, refresh, true)
            }
            Verdict::BumpEpoch => {
                warn!(topic = %batch.topic, partition = batch.partition,
                      base_sequence = batch.base_sequence, "producer state lost on the broker; bumping the epoch");
                {
                    let mut acc = lock(&shared.acc);
                    acc.bump_needed = true;
                }
                let e = Error::broker(kafka_proto::ErrorCode::UNKNOWN_PRODUCER_ID, "epoch bump");
                shared.retry_or_fail(batch, e, false, true);
            }
            Verdict::Fail(e) => shared.settle(batch, Err(e), true),
        }
    }
}

/// Waits for nothing in flight (the caller checked), bumps the epoch and
/// renumbers what is queued.
async fn bump_epoch(shared: &Arc<Shared>) {
    let current = lock(&shared.acc).identity;
    let timeout = shared.config.delivery_timeout;
    match init_producer_id(&shared.cluster, Some(current), timeout).await {
        Ok(identity) => {
            let result = lock(&shared.acc).reset_sequences(identity);
            if let Err(e) = result {
                warn!(error = %e, "could not restamp batches after an epoch bump");
            }
        }
        Err(e) => {
            warn!(error = %e, "epoch bump failed; retrying");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
