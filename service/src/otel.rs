//! The `otel` feature: the crate's `send` and `process` spans take part in
//! the OpenTelemetry trace that tracing-opentelemetry exports.
//!
//! Without it, the crate makes its own span ids and the `tracing` spans
//! only carry them as fields. With it, and with a
//! `tracing_opentelemetry` layer installed by the application:
//!
//! - a `process` span's parent is the remote span named by the message's
//!   `traceparent` (the producer's `send` span);
//! - a `send` span's parent is the trace context given to the publish or
//!   current around it, else the enclosing `tracing` span (so a publish
//!   from an HTTP handler joins that request's trace);
//! - the ids the crate then writes (the outgoing `traceparent`, the
//!   handler's current [`TraceContext`], the log line's `trace_id`) are the
//!   exported spans' own ids, so a trace viewer links producer and
//!   consumer.
//!
//! With no such layer installed, nothing changes: the crate's own ids
//! stay in use.

use std::str::FromStr;

use opentelemetry::Context;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::trace::TraceContext;

/// Joins `span` to the exported trace under `parent` (a remote parent,
/// when given), and returns the context the exported span has: its trace
/// id, its own span id, its flags and `parent`'s `tracestate`. `None`
/// when no OpenTelemetry layer records the span.
pub(crate) fn join(span: &tracing::Span, parent: Option<&TraceContext>) -> Option<TraceContext> {
    if span.is_disabled() {
        return None;
    }
    if let Some(p) = parent {
        let state = p
            .tracestate()
            .and_then(|s| TraceState::from_str(s).ok())
            .unwrap_or_default();
        let remote = SpanContext::new(
            TraceId::from_bytes(p.trace_id()),
            SpanId::from_bytes(p.span_id()),
            TraceFlags::new(p.flags()),
            true,
            state,
        );
        // Refused only when the span is already closed (never here).
        let _ = span.set_parent(Context::new().with_remote_span_context(remote));
    }
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    if !sc.is_valid() {
        return None;
    }
    let own = TraceContext::new(
        sc.trace_id().to_bytes(),
        sc.span_id().to_bytes(),
        sc.trace_flags().to_u8(),
    )?;
    Some(own.with_state(parent.and_then(|p| p.tracestate().map(str::to_owned))))
}
