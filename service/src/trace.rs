//! W3C Trace Context (<https://www.w3.org/TR/trace-context/>): the
//! `traceparent` and `tracestate` headers, and the current context.
//!
//! The *current* context is a tokio task-local: the one set by
//! [`TraceContext::scope`] around a future. Handlers run inside their
//! message's context, so a publish from a handler continues the trace;
//! elsewhere, wrap the work in `ctx.scope(...)` or pass a context to
//! [`Publish::trace_context`](crate::Publish::trace_context). With none
//! of these, a publish starts a new trace (fresh random ids).
//!
//! The context is also written into the `tracing` spans the crate opens
//! (`send` and `process`, fields `trace_id`, `span_id`,
//! `parent_span_id`), so logs carry it. With the `otel` feature the
//! spans join the exported OpenTelemetry trace, and the ids are the
//! exported spans' own (see the crate's documentation).

use std::fmt;
use std::future::Future;

use crate::random;

/// The `traceparent` header's name.
pub const TRACEPARENT: &str = "traceparent";
/// The `tracestate` header's name.
pub const TRACESTATE: &str = "tracestate";

tokio::task_local! {
    static CURRENT: TraceContext;
}

/// A W3C trace context: trace id, the id of the span that sent it (the
/// `parent-id` field), flags and the vendor `tracestate`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TraceContext {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    flags: u8,
    /// Boxed `str`, not `String`: a context is in every message's future
    /// three times, and this keeps each a word smaller.
    state: Option<Box<str>>,
}

/// A `traceparent` that does not follow the W3C format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid traceparent: {0}")]
pub struct ParseError(&'static str);

impl TraceContext {
    /// The `sampled` flag.
    pub const SAMPLED: u8 = 0x01;

    /// A context from its parts. `None` if an id is all zeros (invalid
    /// per the spec).
    pub fn new(trace_id: [u8; 16], span_id: [u8; 8], flags: u8) -> Option<Self> {
        if trace_id == [0; 16] || span_id == [0; 8] {
            return None;
        }
        Some(TraceContext {
            trace_id,
            span_id,
            flags,
            state: None,
        })
    }

    /// A new trace: random trace and span ids, sampled.
    pub fn new_root() -> Self {
        TraceContext {
            trace_id: nonzero16(),
            span_id: nonzero8(),
            flags: Self::SAMPLED,
            state: None,
        }
    }

    /// A child span in the same trace: same trace id, flags and state, a
    /// new span id.
    pub fn child(&self) -> Self {
        TraceContext {
            trace_id: self.trace_id,
            span_id: nonzero8(),
            flags: self.flags,
            state: self.state.clone(),
        }
    }

    /// Sets the `tracestate` (kept as received, vendors' entries in order).
    pub fn with_state(mut self, state: Option<String>) -> Self {
        self.state = state
            .filter(|s| !s.trim().is_empty())
            .map(String::into_boxed_str);
        self
    }

    /// Parses `traceparent` (and keeps `tracestate` if given), per the
    /// spec: lowercase hex, version `ff` refused, version `00` exactly 55
    /// characters, later versions parsed by their first four fields,
    /// all-zero ids refused.
    pub fn parse(traceparent: &str, tracestate: Option<&str>) -> Result<Self, ParseError> {
        let s = traceparent.trim_matches(|c| c == ' ' || c == '\t');
        let b = s.as_bytes();
        if b.len() < 55 {
            return Err(ParseError("shorter than 55 characters"));
        }
        let version = hex_u8(&b[0..2]).ok_or(ParseError("version is not two hex digits"))?;
        if version == 0xff {
            return Err(ParseError("version ff is invalid"));
        }
        if version == 0 && b.len() != 55 {
            return Err(ParseError("version 00 must be 55 characters"));
        }
        // "If a higher version is detected ... parse trace-id, parent-id
        // and trace-flags; the next character must be a dash."
        if b.len() > 55 && b[55] != b'-' {
            return Err(ParseError("a later version's fields must end with a dash"));
        }
        if b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
            return Err(ParseError("fields are not separated by dashes"));
        }
        let mut trace_id = [0u8; 16];
        hex_into(&b[3..35], &mut trace_id).ok_or(ParseError("trace-id is not 32 hex digits"))?;
        let mut span_id = [0u8; 8];
        hex_into(&b[36..52], &mut span_id).ok_or(ParseError("parent-id is not 16 hex digits"))?;
        let flags = hex_u8(&b[53..55]).ok_or(ParseError("trace-flags is not two hex digits"))?;
        if trace_id == [0; 16] {
            return Err(ParseError("trace-id is all zeros"));
        }
        if span_id == [0; 8] {
            return Err(ParseError("parent-id is all zeros"));
        }
        Ok(TraceContext {
            trace_id,
            span_id,
            // Only the flags this version defines are kept.
            flags: if version == 0 { flags } else { flags & 0x01 },
            state: None,
        }
        .with_state(tracestate.map(str::to_owned)))
    }

    /// The `traceparent` value: `00-<trace-id>-<span-id>-<flags>`.
    pub fn traceparent(&self) -> String {
        String::from_utf8(self.traceparent_bytes().to_vec()).unwrap_or_default()
    }

    /// The `traceparent` value (version 00, 55 ASCII bytes) without an
    /// allocation: every message published writes one.
    pub(crate) fn traceparent_bytes(&self) -> [u8; 55] {
        let mut out = [0u8; 55];
        out[..3].copy_from_slice(b"00-");
        write_hex(&mut out[3..35], &self.trace_id);
        out[35] = b'-';
        write_hex(&mut out[36..52], &self.span_id);
        out[52] = b'-';
        write_hex(&mut out[53..], &[self.flags]);
        out
    }

    /// The `tracestate` value, if any.
    pub fn tracestate(&self) -> Option<&str> {
        self.state.as_deref()
    }

    /// The trace id.
    pub fn trace_id(&self) -> [u8; 16] {
        self.trace_id
    }

    /// The span id.
    pub fn span_id(&self) -> [u8; 8] {
        self.span_id
    }

    /// The trace id in lowercase hex (32 digits).
    pub fn trace_id_hex(&self) -> String {
        hex(&self.trace_id)
    }

    /// The span id in lowercase hex (16 digits).
    pub fn span_id_hex(&self) -> String {
        hex(&self.span_id)
    }

    /// The flags.
    pub fn flags(&self) -> u8 {
        self.flags
    }

    /// Whether the sampled flag is set.
    pub fn is_sampled(&self) -> bool {
        self.flags & Self::SAMPLED != 0
    }

    /// The current context: the innermost [`scope`](Self::scope) around
    /// the running future, if any.
    pub fn current() -> Option<TraceContext> {
        CURRENT.try_with(Clone::clone).ok()
    }

    /// Runs `fut` with this context as the current one.
    pub fn scope<F: Future>(self, fut: F) -> impl Future<Output = F::Output> {
        CURRENT.scope(self, fut)
    }
}

impl fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceContext")
            .field("traceparent", &self.traceparent())
            .field("tracestate", &self.state)
            .finish()
    }
}

impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.traceparent())
    }
}

fn nonzero16() -> [u8; 16] {
    loop {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&random::u64().to_be_bytes());
        id[8..].copy_from_slice(&random::u64().to_be_bytes());
        if id != [0; 16] {
            return id;
        }
    }
}

fn nonzero8() -> [u8; 8] {
    loop {
        let id = random::u64().to_be_bytes();
        if id != [0; 8] {
            return id;
        }
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len() * 2);
    push_hex(&mut out, bytes);
    // Hex digits are ASCII.
    String::from_utf8(out).unwrap_or_default()
}

/// Appends `bytes` in lowercase hex.
fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 0xf)]);
    }
}

/// Writes `bytes` in lowercase hex into `out` (twice as long).
fn write_hex(out: &mut [u8], bytes: &[u8]) {
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = HEX[usize::from(b >> 4)];
        pair[1] = HEX[usize::from(b & 0xf)];
    }
}

/// One lowercase hex digit (the spec forbids uppercase).
fn digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

fn hex_u8(two: &[u8]) -> Option<u8> {
    match two {
        [h, l] => Some(digit(*h)? << 4 | digit(*l)?),
        _ => None,
    }
}

fn hex_into(src: &[u8], out: &mut [u8]) -> Option<()> {
    if src.len() != out.len() * 2 {
        return None;
    }
    for (o, pair) in out.iter_mut().zip(src.chunks_exact(2)) {
        *o = hex_u8(pair)?;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // The examples of the W3C recommendation, section 3.2 and 3.3.
    const SPEC_PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const SPEC_PARENT_UNSAMPLED: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    const SPEC_STATE: &str = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE";

    #[test]
    fn parses_and_formats_the_spec_examples() {
        let ctx = TraceContext::parse(SPEC_PARENT, Some(SPEC_STATE)).unwrap();
        assert_eq!(ctx.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(ctx.span_id_hex(), "00f067aa0ba902b7");
        assert!(ctx.is_sampled());
        assert_eq!(ctx.tracestate(), Some(SPEC_STATE));
        assert_eq!(ctx.traceparent(), SPEC_PARENT);
        let unsampled = TraceContext::parse(SPEC_PARENT_UNSAMPLED, None).unwrap();
        assert!(!unsampled.is_sampled());
        assert_eq!(unsampled.traceparent(), SPEC_PARENT_UNSAMPLED);
        // The spec's other example (section 3.2.2.3's figure).
        let other = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        assert_eq!(TraceContext::parse(other, None).unwrap().to_string(), other);
    }

    #[test]
    fn refuses_what_the_spec_refuses() {
        for bad in [
            // all-zero trace id and parent id
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            // version ff
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            // uppercase hex
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            // version 00 with extra fields
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            // too short, wrong separators, not hex
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
            "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473z-00f067aa0ba902b7-01",
            "",
        ] {
            assert!(TraceContext::parse(bad, None).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_later_version_is_parsed_by_its_known_fields() {
        let ctx = TraceContext::parse(
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-what-the-future-holds",
            None,
        )
        .unwrap();
        assert_eq!(ctx.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        // Only the flags version 00 defines survive; we send version 00.
        assert_eq!(ctx.flags(), 0x01);
        assert!(ctx.traceparent().starts_with("00-"));
        assert!(
            TraceContext::parse(
                "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
                None
            )
            .is_err()
        );
    }

    #[test]
    fn roots_and_children() {
        let root = TraceContext::new_root();
        assert!(root.is_sampled());
        let child = root.child();
        assert_eq!(child.trace_id(), root.trace_id());
        assert_ne!(child.span_id(), root.span_id());
        let again = TraceContext::parse(&child.traceparent(), None).unwrap();
        assert_eq!(again, child);
        assert_ne!(TraceContext::new_root().trace_id(), root.trace_id());
        assert!(TraceContext::new([0; 16], [1; 8], 1).is_none());
        assert_eq!(
            TraceContext::parse(SPEC_PARENT, Some("  "))
                .unwrap()
                .tracestate(),
            None
        );
    }

    #[tokio::test]
    async fn the_current_context_is_task_local() {
        assert!(TraceContext::current().is_none());
        let ctx = TraceContext::new_root();
        let seen = ctx.clone().scope(async { TraceContext::current() }).await;
        assert_eq!(seen, Some(ctx));
        assert!(TraceContext::current().is_none());
    }
}
