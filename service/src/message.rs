//! What a handler gets: [`Message<T>`], the decoded payload with its
//! headers, key, broker metadata, attempt number and trace context.

use std::sync::Arc;

use bytes::Bytes;
use mq_client::amqp::BasicProperties;

use crate::trace::TraceContext;

/// Message headers, in order; a name may repeat (Kafka allows it) and a
/// value may be absent (a Kafka null header). AMQP header values that are
/// not strings or byte arrays are given as text (`42`, `true`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    entries: Vec<(Name, Option<Bytes>)>,
}

/// UTF-8 text held in `Bytes`: a header name, message id or content type
/// read off the wire shares the message's buffer, and a clone copies no
/// text.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Text(Bytes);

/// Header names are [`Text`].
type Name = Text;

impl Text {
    /// The bytes as text, replaced lossily where they are not UTF-8.
    pub(crate) fn lossy(b: Bytes) -> Self {
        match std::str::from_utf8(&b) {
            Ok(_) => Text(b),
            Err(_) => Text(Bytes::from(String::from_utf8_lossy(&b).into_owned())),
        }
    }

    /// The bytes as text, if they are UTF-8.
    pub(crate) fn from_utf8(b: &Bytes) -> Option<Self> {
        std::str::from_utf8(b).ok().map(|_| Text(b.clone()))
    }

    /// The text.
    pub(crate) fn as_str(&self) -> &str {
        // Valid by construction (`lossy`, `from_utf8`, `From<String>`).
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Text(Bytes::from(s))
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a header.
    pub fn push(&mut self, name: impl Into<String>, value: Option<Bytes>) {
        self.entries.push((Name::from(name.into()), value));
    }

    /// Headers off the wire, names as raw bytes (kept without a copy when
    /// they are UTF-8, replaced lossily when not). The list's allocation
    /// is reused.
    pub(crate) fn from_raw(raw: Vec<(Bytes, Option<Bytes>)>) -> Self {
        Headers {
            entries: raw.into_iter().map(|(k, v)| (Name::lossy(k), v)).collect(),
        }
    }

    /// Appends a header whose name is raw bytes off the wire (kept without
    /// a copy when they are UTF-8, replaced lossily when not).
    pub(crate) fn push_raw(&mut self, name: Bytes, value: Option<Bytes>) {
        self.entries.push((Name::lossy(name), value));
    }

    /// Appends a header (builder style).
    pub fn with(mut self, name: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.push(name, Some(value.into()));
        self
    }

    /// The last value of `name` (the one that wins when a name repeats).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.entries
            .iter()
            .rev()
            .find(|(k, _)| k.0 == name.as_bytes())
            .and_then(|(_, v)| v.as_deref())
    }

    /// The last value of `name`, if it is UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The last value of `name` as shared bytes (no copy).
    pub(crate) fn get_bytes(&self, name: &str) -> Option<&Bytes> {
        self.entries
            .iter()
            .rev()
            .find(|(k, _)| k.0 == name.as_bytes())
            .and_then(|(_, v)| v.as_ref())
    }

    /// The last value of `name` as shared text, if it is UTF-8.
    pub(crate) fn get_text(&self, name: &str) -> Option<Text> {
        self.get_bytes(name).and_then(Text::from_utf8)
    }

    /// Every header, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Option<&[u8]>)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_deref()))
    }

    /// The number of headers (repeats included).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Removes every header of `name`.
    pub fn remove(&mut self, name: &str) {
        self.entries.retain(|(k, _)| k.0 != name.as_bytes());
    }

    /// Every header, in order, values as shared bytes.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&str, &Option<Bytes>)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }
}

impl<K: Into<String>, V: Into<Bytes>> FromIterator<(K, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Headers {
            entries: iter
                .into_iter()
                .map(|(k, v)| (Name::from(k.into()), Some(v.into())))
                .collect(),
        }
    }
}

/// Where a message came from, per broker.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Metadata {
    /// A Kafka record.
    Kafka {
        /// The topic.
        topic: Arc<str>,
        /// The partition.
        partition: i32,
        /// The offset.
        offset: i64,
        /// The record's timestamp (ms since the epoch).
        timestamp: i64,
    },
    /// A RabbitMQ delivery.
    Amqp {
        /// The exchange it was published to.
        exchange: Arc<str>,
        /// Its routing key.
        routing_key: Arc<str>,
        /// The queue it was consumed from.
        queue: Arc<str>,
        /// The channel's delivery tag.
        delivery_tag: u64,
        /// Whether the broker delivered it before.
        redelivered: bool,
    },
}

/// What a received message carries besides its body, built once per
/// message and shared (one reference count, no copy) by the pipeline's
/// envelope and every attempt's [`Message`].
#[derive(Debug)]
pub(crate) struct Received {
    pub(crate) headers: Headers,
    pub(crate) key: Option<Bytes>,
    pub(crate) content_type: Option<Text>,
    pub(crate) message_id: Option<Text>,
    pub(crate) metadata: Metadata,
    /// Boxed: most of its fields are unset, and Kafka has none.
    pub(crate) amqp_properties: Option<Box<BasicProperties>>,
}

/// A message handed to a handler.
#[derive(Clone)]
pub struct Message<T> {
    pub(crate) payload: T,
    pub(crate) received: Arc<Received>,
    pub(crate) attempt: u32,
    pub(crate) trace: TraceContext,
}

impl<T: std::fmt::Debug> std::fmt::Debug for Message<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = &*self.received;
        f.debug_struct("Message")
            .field("payload", &self.payload)
            .field("headers", &r.headers)
            .field("key", &r.key)
            .field("message_id", &r.message_id)
            .field("metadata", &r.metadata)
            .field("attempt", &self.attempt)
            .field("trace", &self.trace)
            .finish()
    }
}

impl<T> Message<T> {
    /// The decoded payload.
    pub fn payload(&self) -> &T {
        &self.payload
    }

    /// The payload, owned.
    pub fn into_payload(self) -> T {
        self.payload
    }

    /// The headers, as received (`traceparent`, `content-type` and the
    /// crate's own `x-mq-*` ones included).
    pub fn headers(&self) -> &Headers {
        &self.received.headers
    }

    /// The key: the Kafka record key, or on RabbitMQ the `x-mq-key`
    /// header (or another configured header, or the routing key).
    pub fn key(&self) -> Option<&[u8]> {
        self.received.key.as_deref()
    }

    /// The key as UTF-8 text.
    pub fn key_str(&self) -> Option<&str> {
        self.key().and_then(|k| std::str::from_utf8(k).ok())
    }

    /// The message id, if the publisher set one (this crate's publishers
    /// always do).
    pub fn message_id(&self) -> Option<&str> {
        self.received.message_id.as_ref().map(Text::as_str)
    }

    /// Where it came from.
    pub fn metadata(&self) -> &Metadata {
        &self.received.metadata
    }

    /// This attempt's number: 1 the first time, 2 on the first retry...
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The trace context of the handler's span (a child of the one the
    /// publisher sent). It is also the current context while the handler
    /// runs, so publishing from the handler continues the trace.
    pub fn trace_context(&self) -> &TraceContext {
        &self.trace
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_header_of_a_name_wins() {
        let mut h: Headers = [("a", "1"), ("b", "2"), ("a", "3")].into_iter().collect();
        assert_eq!(h.get("a"), Some(&b"3"[..]));
        assert_eq!(h.get_str("b"), Some("2"));
        assert_eq!(h.len(), 3);
        h.push("n", None);
        assert_eq!(h.get("n"), None);
        h.remove("a");
        assert_eq!(h.iter().map(|(k, _)| k).collect::<Vec<_>>(), ["b", "n"]);
    }
}
