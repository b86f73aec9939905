//! One message's way through the subscriber, in order: decode (a failure
//! is poison: dead letters at once), trace extract, dedup check, then per
//! attempt the rate limit, a worker, the handler under its timeout with
//! panics caught; on failure the retry decision (again in process, on to a
//! delayed-retry stage, or give up), and in the end the dead letter. The
//! caller settles (ack / commit) by the [`Outcome`].

use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use futures_util::FutureExt;
use tokio::sync::Semaphore;
use tracing::{Instrument, Span, field};

use super::Handler;
use crate::codec::{Codec, check_and_decode};
use crate::dead_letter::{DeadLetter, DeadLetterSink, FailureRecord, Reason, origin_headers};
use crate::dedup::{self, Claim, DedupMode, Deduplication, StoreError};
use crate::delayed_retry::{Carried, RetrySink};
use crate::error::{CodecError, FailureKind, HandlerError};
use crate::message::{Message, Metadata, Received, Text};
use crate::metrics::SubscriberMetrics;
use crate::rate_limit::TokenBucket;
use crate::retry::{RetryDecision, RetryPolicy};
use crate::semconv;
use crate::shutdown::Shutdown;
use crate::trace::{self, TraceContext};

/// A received message, before decoding: the same shape for both brokers.
/// What does not change between attempts is in [`Received`], shared with
/// each attempt's [`Message`]; the envelope reads through to it.
#[derive(Debug)]
pub(crate) struct Envelope {
    pub(crate) body: Option<Bytes>,
    pub(crate) received: Arc<Received>,
    /// Set when it comes back from a delayed-retry stage.
    pub(crate) carried: Option<Carried>,
}

impl std::ops::Deref for Envelope {
    type Target = Received;

    fn deref(&self) -> &Received {
        &self.received
    }
}

/// How a message ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The handler succeeded: settle.
    Processed,
    /// Published to the dead letters and confirmed: settle.
    DeadLettered,
    /// Forwarded to a delayed-retry stage of this delay, and confirmed:
    /// settle.
    Delayed(Duration),
    /// The deduplication step found it processed already: settle without
    /// processing.
    Duplicate,
    /// Stopped by a hard stop (drain deadline, abort): do not settle; the
    /// broker redelivers it.
    Abandoned,
}

impl Outcome {
    pub(crate) fn settles(self) -> bool {
        self != Outcome::Abandoned
    }

    fn as_str(self) -> &'static str {
        match self {
            Outcome::Processed => "processed",
            Outcome::DeadLettered => "dead_lettered",
            Outcome::Delayed(_) => "delayed",
            Outcome::Duplicate => "duplicate",
            Outcome::Abandoned => "abandoned",
        }
    }
}

/// What the deduplication step says before a call.
enum Gate {
    /// Call the handler.
    Go,
    /// Processed already: settle.
    Duplicate,
    /// The hard stop came while waiting for another owner.
    Stopped,
    /// The store failed.
    Failed(Failure),
}

/// A failed attempt.
#[derive(Debug)]
struct Failure {
    kind: FailureKind,
    error_type: String,
    message: String,
}

impl Failure {
    fn handler(e: HandlerError) -> Self {
        Failure {
            kind: e.kind(),
            error_type: e.type_name().to_owned(),
            message: e.to_string(),
        }
    }

    fn panic(payload: Box<dyn std::any::Any + Send>) -> Self {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic with a non-string payload".to_owned());
        Failure {
            kind: FailureKind::Retriable,
            error_type: "panic".to_owned(),
            message,
        }
    }

    /// The deduplication store failed (retriable), or the key does not
    /// fit it (permanent).
    fn store(e: &StoreError) -> Self {
        let (kind, error_type) = if e.is_retriable() {
            (FailureKind::Retriable, "dedup_store")
        } else {
            (FailureKind::Permanent, "dedup_key")
        };
        Failure {
            kind,
            error_type: error_type.to_owned(),
            message: e.to_string(),
        }
    }

    fn timeout(after: Duration) -> Self {
        Failure {
            kind: FailureKind::Retriable,
            error_type: "timeout".to_owned(),
            message: format!("the handler took longer than {after:?}"),
        }
    }
}

/// Everything a message's job needs, shared by all jobs of a subscriber.
pub(crate) struct Pipeline<T, C, H> {
    pub(crate) codec: Arc<C>,
    pub(crate) handler: Arc<H>,
    pub(crate) rate: Option<TokenBucket>,
    pub(crate) retry: RetryPolicy,
    pub(crate) handler_timeout: Duration,
    pub(crate) dead_letters: DeadLetterSink,
    /// The delayed-retry stages, if any.
    pub(crate) stages: Option<RetrySink>,
    pub(crate) metrics: SubscriberMetrics,
    /// The deduplication step, if any.
    pub(crate) dedup: Option<Deduplication<T>>,
    pub(crate) workers: Arc<Semaphore>,
    /// Triggered at the drain deadline or when the subscriber's task is
    /// dropped: jobs stop where they are.
    pub(crate) hard_stop: Shutdown,
    pub(crate) group: Arc<str>,
    pub(crate) system: &'static str,
    /// The topic or queue.
    pub(crate) destination: Arc<str>,
    pub(crate) _payload: PhantomData<fn() -> T>,
}

impl<T, C, H> Pipeline<T, C, H>
where
    T: Send + 'static,
    C: Codec<T>,
    H: Handler<T>,
{
    /// Processes one message to its end.
    ///
    /// An `async move` block over a borrowed envelope, not an `async fn`
    /// taking it: the job that holds the envelope and this future is boxed
    /// for every message, and an `async fn` keeps a second copy of its
    /// arguments.
    #[allow(clippy::manual_async_fn)] // on purpose: see above
    pub(crate) fn process<'a>(
        &'a self,
        env: &'a Envelope,
    ) -> impl Future<Output = Outcome> + Send + 'a {
        async move {
            // The clock only for the log line's duration, when it is on.
            let started = tracing::enabled!(target: "mq_service::message", tracing::Level::INFO)
                .then(Instant::now);
            let (ctx, span) = self.open_span(env);
            // Instrumented only when the span is on, and then boxed (the
            // span costs more than the box): the wrapper would otherwise
            // widen every message's job.
            let (outcome, attempts) = if span.is_disabled() {
                self.run(env, &ctx, &span).await
            } else {
                Box::pin(self.run(env, &ctx, &span).instrument(span.clone())).await
            };
            span.record("attempts", attempts);
            span.record("outcome", outcome.as_str());
            tracing::info!(
                target: "mq_service::message",
                parent: &span,
                trace_id = ctx.trace_id_hex().as_str(),
                destination = &*self.destination,
                message_id = env.message_id.as_ref().map_or("", Text::as_str),
                duration_ms = started.map_or(0.0, |s| s.elapsed().as_secs_f64() * 1000.0),
                outcome = outcome.as_str(),
                attempts,
                "message settled"
            );
            outcome
        }
    }

    /// The trace context of a message's processing (a child of the one
    /// it carries, or a new root) and its span, with the attributes known
    /// before the handler runs.
    fn open_span(&self, env: &Envelope) -> (TraceContext, Span) {
        let parent = env
            .headers
            .get_str(trace::TRACEPARENT)
            .and_then(|tp| TraceContext::parse(tp, env.headers.get_str(trace::TRACESTATE)).ok());
        #[cfg_attr(not(feature = "otel"), allow(unused_mut))]
        let mut ctx = parent
            .as_ref()
            .map_or_else(TraceContext::new_root, TraceContext::child);
        let span = tracing::info_span!(
            "process",
            { semconv::OTEL_NAME } = format!("process {}", self.destination),
            { semconv::OTEL_KIND } = "consumer",
            { semconv::MESSAGING_SYSTEM } = self.system,
            { semconv::MESSAGING_DESTINATION_NAME } = &*self.destination,
            { semconv::MESSAGING_OPERATION_NAME } = semconv::OPERATION_PROCESS,
            { semconv::MESSAGING_OPERATION_TYPE } = semconv::OPERATION_PROCESS,
            { semconv::MESSAGING_CONSUMER_GROUP_NAME } = &*self.group,
            { semconv::MESSAGING_MESSAGE_ID } = env.message_id.as_ref().map(Text::as_str),
            { semconv::MESSAGING_KAFKA_MESSAGE_KEY } = field::Empty,
            { semconv::MESSAGING_KAFKA_OFFSET } = field::Empty,
            { semconv::MESSAGING_DESTINATION_PARTITION_ID } = field::Empty,
            { semconv::MESSAGING_RABBITMQ_ROUTING_KEY } = field::Empty,
            { semconv::MESSAGING_RABBITMQ_DELIVERY_TAG } = field::Empty,
            { semconv::ERROR_TYPE } = field::Empty,
            trace_id = field::Empty,
            span_id = field::Empty,
            parent_span_id = parent.as_ref().map(TraceContext::span_id_hex),
            attempts = field::Empty,
            outcome = field::Empty,
        );
        #[cfg(feature = "otel")]
        if let Some(own) = crate::otel::join(&span, parent.as_ref()) {
            ctx = own;
        }
        if !span.is_disabled() {
            span.record("trace_id", ctx.trace_id_hex().as_str());
            span.record("span_id", ctx.span_id_hex().as_str());
        }
        match &env.metadata {
            Metadata::Kafka {
                partition, offset, ..
            } => {
                if let Some(k) = &env.key {
                    span.record(
                        semconv::MESSAGING_KAFKA_MESSAGE_KEY,
                        &*String::from_utf8_lossy(k),
                    );
                }
                span.record(semconv::MESSAGING_KAFKA_OFFSET, offset);
                span.record(semconv::MESSAGING_DESTINATION_PARTITION_ID, partition);
            }
            Metadata::Amqp {
                routing_key,
                delivery_tag,
                ..
            } => {
                span.record(semconv::MESSAGING_RABBITMQ_ROUTING_KEY, &**routing_key);
                span.record(semconv::MESSAGING_RABBITMQ_DELIVERY_TAG, delivery_tag);
            }
        }
        (ctx, span)
    }

    /// The attempts. The paths off the common one (poison, deduplication,
    /// backoff, stages, dead letters) are boxed: inline, their states made
    /// this future, and every future holding it, several kilobytes that
    /// were copied at each move, for every message.
    async fn run(&self, env: &Envelope, ctx: &TraceContext, span: &Span) -> (Outcome, u32) {
        let decode = || {
            check_and_decode(
                &*self.codec,
                env.content_type.as_ref().map(Text::as_str),
                env.body.as_deref(),
            )
        };
        let decoded = match decode() {
            Ok(v) => v,
            Err(e) => {
                let before = env.carried.map_or(0, |c| c.attempts);
                return (Box::pin(self.poison(env, &e, span, before)).await, before);
            }
        };
        let carried = env.carried;
        let before = carried.map_or(0, |c| c.attempts);
        let stages_done = carried.map_or(0, |c| c.stage);
        let mut first_failure = carried.and_then(|c| c.first_failure);
        // The first message, built up front: the deduplication key may be
        // a function of it.
        let mut pending = Some(self.message(env, decoded, before.saturating_add(1), ctx));
        let key = self.dedup.as_ref().and_then(|d| {
            let m = pending.as_ref()?;
            d.key_of(m, &self.group).map(|k| (d, k))
        });
        // The claim owner, only with deduplication (a formatted string).
        let owner = if key.is_some() {
            dedup::owner_token()
        } else {
            String::new()
        };
        // Claim mode: whether this message holds its key's claim.
        let mut claimed = false;
        // The handler succeeded; what is left is marking the key done.
        let mut handled = false;
        // `local` counts this delivery's calls, `attempt` all of them.
        let mut local = 1u32;
        loop {
            let attempt = before.saturating_add(local);
            let failure = 'attempt: {
                if let Some((d, k)) = &key {
                    if !handled && !claimed {
                        match Box::pin(self.gate(d, k, &owner)).await {
                            Gate::Go => claimed = matches!(d.mode, DedupMode::Claim { .. }),
                            Gate::Duplicate => {
                                self.metrics.duplicates.increment(1);
                                return (Outcome::Duplicate, attempt - 1);
                            }
                            Gate::Stopped => return (Outcome::Abandoned, attempt - 1),
                            Gate::Failed(f) => break 'attempt f,
                        }
                    }
                }
                if !handled {
                    // Decoded once up front; again (same bytes, same
                    // result) for each retry, so payloads need not be Clone.
                    match pending.as_mut() {
                        Some(m) => m.attempt = attempt,
                        None => match decode() {
                            Ok(p) => pending = Some(self.message(env, p, attempt, ctx)),
                            // A codec that is not deterministic: poison all
                            // the same.
                            Err(e) => {
                                return (
                                    Box::pin(self.poison(env, &e, span, attempt - 1)).await,
                                    attempt - 1,
                                );
                            }
                        },
                    }
                    // Each call's future made where it is awaited: a
                    // future held in a local first is laid out twice.
                    let result = match (&key, claimed, self.dedup.as_ref().map(|d| d.mode)) {
                        (Some((d, k)), true, Some(DedupMode::Claim { lease })) => {
                            Box::pin(self.renewing(
                                self.attempt(&mut pending, ctx),
                                d,
                                k,
                                &owner,
                                lease,
                            ))
                            .await
                        }
                        _ => self.attempt(&mut pending, ctx).await,
                    };
                    let Some(result) = result else {
                        return (Outcome::Abandoned, attempt);
                    };
                    match result {
                        Ok(()) => handled = true,
                        Err(f) => {
                            if let (Some((d, k)), true) = (&key, claimed) {
                                // The retry (or another consumer) claims
                                // it again.
                                Box::pin(self.release(d, k, &owner)).await;
                                claimed = false;
                            }
                            break 'attempt f;
                        }
                    }
                }
                if let Some((d, k)) = &key {
                    let ttl = d.remember;
                    if let Err(e) = Box::pin(d.call(k, |s| s.mark_done(k, ttl))).await {
                        break 'attempt Failure::store(&e);
                    }
                }
                self.metrics.processed.increment(1);
                return (Outcome::Processed, attempt);
            };
            self.metrics.failed.increment(1);
            span.record(semconv::ERROR_TYPE, failure.error_type.as_str());
            let now = SystemTime::now();
            let first = *first_failure.get_or_insert(now);
            match self.retry.decide(local, failure.kind, stages_done) {
                RetryDecision::RetryAfter(delay) => {
                    self.metrics.retried.increment(1);
                    tracing::warn!(
                        attempt,
                        error.r#type = failure.error_type.as_str(),
                        error = failure.message.as_str(),
                        retry_in_ms = delay.as_millis() as u64,
                        "handler failed; retrying"
                    );
                    if !Box::pin(self.sleep(delay)).await {
                        return (Outcome::Abandoned, attempt);
                    }
                    local += 1;
                }
                RetryDecision::RetryLater { stage, delay } => {
                    tracing::warn!(
                        attempt,
                        error.r#type = failure.error_type.as_str(),
                        error = failure.message.as_str(),
                        stage,
                        retry_in_ms = delay.as_millis() as u64,
                        "handler failed; to a delayed-retry stage"
                    );
                    let f = FailureRecord {
                        reason: None,
                        error_type: failure.error_type,
                        error: failure.message,
                        attempts: attempt,
                        first_failure: first,
                        last_failure: now,
                    };
                    return (Box::pin(self.forward(env, &f, stage, delay)).await, attempt);
                }
                RetryDecision::DeadLetter => {
                    let reason = match failure.kind {
                        FailureKind::Permanent => Reason::Permanent,
                        FailureKind::Retriable => Reason::Exhausted,
                    };
                    tracing::warn!(
                        attempt,
                        error.r#type = failure.error_type.as_str(),
                        error = failure.message.as_str(),
                        "handler failed for good: to the dead letters"
                    );
                    let f = FailureRecord {
                        reason: Some(reason),
                        error_type: failure.error_type,
                        error: failure.message,
                        attempts: attempt,
                        first_failure: first,
                        last_failure: now,
                    };
                    return (Box::pin(self.dead_letter(env, &f)).await, attempt);
                }
            }
        }
    }

    /// The message handed to the handler.
    fn message(&self, env: &Envelope, payload: T, attempt: u32, ctx: &TraceContext) -> Message<T> {
        Message {
            payload,
            received: env.received.clone(),
            attempt,
            trace: ctx.clone(),
        }
    }

    /// The deduplication step before a call: mark mode checks the key;
    /// claim mode claims it, waiting while another owner's lease runs.
    async fn gate(&self, d: &Deduplication<T>, key: &str, owner: &str) -> Gate {
        let lease = match d.mode {
            DedupMode::MarkAfterSuccess => {
                return match d.call(key, |s| s.is_done(key)).await {
                    Ok(true) => Gate::Duplicate,
                    Ok(false) => Gate::Go,
                    Err(e) => Gate::Failed(Failure::store(&e)),
                };
            }
            DedupMode::Claim { lease } => lease,
        };
        // While another owner holds it: look again every tenth of a lease
        // (it may finish early), and right after its lease runs out.
        let poll = (lease / 10).clamp(Duration::from_millis(20), Duration::from_secs(1));
        let mut waited = false;
        loop {
            match d.call(key, |s| s.claim(key, owner, lease)).await {
                Ok(Claim::Acquired) => {
                    if waited {
                        tracing::info!(key, "claimed a key another worker held");
                    }
                    return Gate::Go;
                }
                Ok(Claim::Done) => return Gate::Duplicate,
                Ok(Claim::Held { expires_in }) => {
                    if !waited {
                        tracing::debug!(
                            key,
                            expires_in_ms = expires_in.as_millis() as u64,
                            "the key is claimed by another worker; waiting"
                        );
                        waited = true;
                    }
                    let wait = poll.min(expires_in + Duration::from_millis(5));
                    if !self.sleep(wait).await {
                        return Gate::Stopped;
                    }
                }
                Err(e) => return Gate::Failed(Failure::store(&e)),
            }
        }
    }

    /// Runs `call` while renewing the claim on `key` every third of the
    /// lease.
    async fn renewing<F: std::future::Future>(
        &self,
        call: F,
        d: &Deduplication<T>,
        key: &str,
        owner: &str,
        lease: Duration,
    ) -> F::Output {
        let every = lease / 3;
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(call);
        loop {
            tokio::select! {
                out = &mut call => return out,
                _ = tick.tick() => {}
            }
            // The renewal runs beside the call, which goes on meanwhile.
            let renew = d.call(key, |s| s.renew(key, owner, lease));
            tokio::pin!(renew);
            tokio::select! {
                out = &mut call => return out,
                r = &mut renew => match r {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!(
                        key,
                        "the claim's lease ran out before it was renewed: another worker may \
                         process this key too"
                    ),
                    Err(e) => tracing::warn!(key, error = %e, "cannot renew the claim's lease"),
                },
            }
        }
    }

    /// Gives up this message's claim on `key` (best effort: else it
    /// expires with its lease).
    async fn release(&self, d: &Deduplication<T>, key: &str, owner: &str) {
        if let Err(e) = d.call(key, |s| s.release(key, owner)).await {
            tracing::warn!(key, error = %e, "cannot release the claim; it expires with its lease");
        }
    }

    /// A message that cannot be decoded: to the dead letters, without a
    /// call (`attempts`: the calls made before).
    async fn poison(&self, env: &Envelope, e: &CodecError, span: &Span, attempts: u32) -> Outcome {
        span.record(semconv::ERROR_TYPE, e.kind());
        tracing::warn!(error = %e, "poison message: to the dead letters");
        let now = SystemTime::now();
        let f = FailureRecord {
            reason: Some(Reason::Poison),
            error_type: e.kind().to_owned(),
            error: e.to_string(),
            attempts,
            first_failure: now,
            last_failure: now,
        };
        self.dead_letter(env, &f).await
    }

    /// One handler call: rate limit, a worker, the call under its timeout
    /// with panics caught. `None` if the hard stop came first.
    ///
    /// It takes the message out of the caller's `message` (always `Some`)
    /// when it calls the handler, so the message is laid out once in the
    /// caller's future and not again in this one; and it is an `async
    /// move` block rather than an `async fn` (which copies its arguments
    /// into its body). Each wait is raced with the hard stop where it is
    /// awaited, the likely-ready side first: a handler done at its first
    /// poll never registers a waiter on the stop.
    #[allow(clippy::manual_async_fn)] // on purpose: see above
    fn attempt<'a>(
        &'a self,
        message: &'a mut Option<Message<T>>,
        ctx: &'a TraceContext,
    ) -> impl Future<Output = Option<Result<(), Failure>>> + Send + 'a {
        async move {
            if self.hard_stop.is_triggered() {
                return None;
            }
            if let Some(rate) = &self.rate {
                tokio::select! {
                    biased;
                    () = rate.acquire() => {}
                    () = self.hard_stop.stopped() => return None,
                }
            }
            // The semaphore is never closed.
            let _worker = tokio::select! {
                biased;
                w = self.workers.acquire() => w.ok(),
                () = self.hard_stop.stopped() => return None,
            };
            // Always there: the caller puts it in for each attempt.
            let message = message.take()?;
            // One clock read for the duration and the deadline.
            let started = tokio::time::Instant::now();
            let result = tokio::select! {
                biased;
                r = tokio::time::timeout_at(
                    started + self.handler_timeout,
                    AssertUnwindSafe(ctx.clone().scope(self.handler.handle(message)))
                        .catch_unwind(),
                ) => r,
                () = self.hard_stop.stopped() => return None,
            };
            self.metrics.handler_took(started.elapsed());
            Some(match result {
                Ok(Ok(Ok(()))) => Ok(()),
                Ok(Ok(Err(e))) => Err(Failure::handler(e)),
                Ok(Err(panic)) => Err(Failure::panic(panic)),
                Err(_) => Err(Failure::timeout(self.handler_timeout)),
            })
        }
    }

    /// Sleeps; false if the hard stop came first.
    async fn sleep(&self, d: Duration) -> bool {
        tokio::select! {
            biased;
            () = self.hard_stop.triggered() => false,
            () = tokio::time::sleep(d) => true,
        }
    }

    /// The message as it goes on, to a stage or the dead letters.
    fn letter<'a>(
        &'a self,
        env: &'a Envelope,
        origin: &'a [(&'static str, String)],
    ) -> DeadLetter<'a> {
        DeadLetter {
            body: env.body.as_ref(),
            key: env.key.as_ref(),
            headers: &env.headers,
            metadata: &env.metadata,
            origin,
            group: &self.group,
            amqp_properties: env.amqp_properties.as_deref(),
        }
    }

    /// Publishes to the dead letters until confirmed (or the hard stop).
    async fn dead_letter(&self, env: &Envelope, f: &FailureRecord) -> Outcome {
        let origin = origin_headers(&env.metadata, &env.headers, env.carried.is_some());
        let letter = self.letter(env, &origin);
        let sent = self
            .until_confirmed(self.dead_letters.name(), || {
                self.dead_letters.publish(&letter, f)
            })
            .await;
        if !sent {
            return Outcome::Abandoned;
        }
        self.metrics.dead_lettered.increment(1);
        tracing::info!(
            dead_letter = self.dead_letters.name(),
            reason = ?f.reason,
            "dead-lettered"
        );
        Outcome::DeadLettered
    }

    /// Forwards to delayed-retry stage `stage` until confirmed (or the
    /// hard stop).
    async fn forward(
        &self,
        env: &Envelope,
        f: &FailureRecord,
        stage: u32,
        delay: Duration,
    ) -> Outcome {
        let Some(stages) = &self.stages else {
            // Decided only when there are stages.
            return self.dead_letter(env, f).await;
        };
        let origin = origin_headers(&env.metadata, &env.headers, env.carried.is_some());
        let letter = self.letter(env, &origin);
        let target = stages.name(stage);
        if !self
            .until_confirmed(target, || stages.forward(&letter, f, stage, delay))
            .await
        {
            return Outcome::Abandoned;
        }
        self.metrics.delayed.increment(1);
        tracing::info!(
            retry_stage = target,
            stage,
            "forwarded to a delayed-retry stage"
        );
        Outcome::Delayed(delay)
    }

    /// Runs `publish` until it succeeds (true) or the hard stop (false),
    /// backing off between tries.
    async fn until_confirmed<F, Fut>(&self, target: &str, publish: F) -> bool
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<(), crate::error::Error>>,
    {
        let mut delay = Duration::from_millis(100);
        loop {
            let sent = tokio::select! {
                biased;
                () = self.hard_stop.triggered() => return false,
                r = publish() => r,
            };
            match sent {
                Ok(()) => return true,
                Err(e) => {
                    tracing::error!(
                        destination = target,
                        error = %e,
                        "cannot publish; trying again"
                    );
                    if !self.sleep(delay).await {
                        return false;
                    }
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}
