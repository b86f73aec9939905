//! The transactional outbox on PostgreSQL (feature `postgres`): the
//! service's own rows and the events it publishes commit together, and a
//! [`Relay`] publishes the events afterwards, in order per aggregate, to
//! RabbitMQ or Kafka.
//!
//! ```no_run
//! # #[cfg(feature = "json")] {
//! use mq_service::Bus;
//! use mq_service::dedup::tokio_postgres::{self, NoTls};
//! use mq_service::outbox::{Outbox, OutboxMessage};
//!
//! #[derive(serde::Serialize)]
//! struct OrderPlaced { order_id: String, amount: i64 }
//!
//! # async fn demo(url: &str) -> Result<(), Box<dyn std::error::Error>> {
//! let (mut client, conn) = tokio_postgres::connect(url, NoTls).await?;
//! tokio::spawn(conn);
//! let outbox = Outbox::new();
//! outbox.create_tables(&client).await?;
//!
//! // The writer: its own row and the event, in one transaction.
//! let tx = client.transaction().await?;
//! tx.execute("INSERT INTO orders (id, amount) VALUES ($1, $2)", &[&"o-1", &42i64]).await?;
//! let event = OrderPlaced { order_id: "o-1".into(), amount: 42 };
//! outbox.enqueue(&tx, OutboxMessage::json("orders", "o-1", &event)?).await?;
//! tx.commit().await?;
//!
//! // The relay (one or more, in any process): publishes and deletes.
//! let relay = outbox.relay(url, Bus::kafka("127.0.0.1:9092")).start().await?;
//! # relay.shutdown().await?;
//! # Ok(()) } }
//! ```
//!
//! # Tables
//!
//! [`Outbox::create_tables`] makes two tables (`mq_outbox` by default,
//! [`Outbox::with_table`] names them):
//!
//! - `mq_outbox`: one row per event not yet published: `id` (bigserial),
//!   `aggregate` and `seq` (unique together), `destination`,
//!   `message_id`, `content_type`, `header_names`, `header_values`,
//!   `payload`, `created_at`. A row is deleted once its publish is
//!   confirmed.
//! - `mq_outbox_seq`: the last `seq` given to each aggregate key, one
//!   small row per aggregate key ever used.
//!
//! # Order per aggregate
//!
//! An event's **aggregate key** (an order id, an account) names the
//! events that must stay in order. [`Outbox::enqueue`] numbers them in one
//! statement: it increments the aggregate's counter in `mq_outbox_seq`
//! (`INSERT ... ON CONFLICT DO UPDATE ... RETURNING`) and inserts the row
//! with that `seq`. The counter's row stays locked until the writer's
//! transaction ends, so two transactions writing events of one aggregate
//! take turns: the second waits for the first to commit or roll back, and
//! `seq` follows the commit order, with no gaps. (A `bigserial` alone
//! would not do: ids are handed out when rows are inserted, not when they
//! commit, so a relay could see id 11 of an aggregate committed while id
//! 10 is still in flight, and publish 11 first.) Writers of different
//! aggregates never wait for each other.
//!
//! The broker keeps the order too: the aggregate key is the message key
//! (the Kafka record key, which picks the partition; on RabbitMQ the
//! `x-mq-key` header and the routing key), and a relay publishes one
//! aggregate's rows one at a time, each after the previous one's confirm.
//!
//! # Several relays: the head row is the aggregate's lock
//!
//! Relays share the work with `FOR UPDATE SKIP LOCKED`, and the rows they
//! lock are **the head of each aggregate**: its row with the lowest `seq`
//! (no row of the aggregate with a lower one). A relay's batch:
//!
//! 1. in a transaction, lock up to [`batch_size`](RelayBuilder::batch_size)
//!    heads, oldest first, skipping heads another relay holds;
//! 2. read the next rows of those aggregates, up to
//!    [`per_aggregate`](RelayBuilder::per_aggregate) each, without
//!    locking them;
//! 3. publish each aggregate's rows in `seq` order, one at a time, waiting
//!    for each confirm (different aggregates at once); an aggregate stops
//!    at its first failure;
//! 4. delete the confirmed rows and commit.
//!
//! Why two relays never publish one aggregate at the same time, nor out of
//! order: the other rows of an aggregate are not heads while its head
//! exists, so no other relay selects them; and its head is locked by the
//! relay that took it until that relay commits (deleting the head and the
//! confirmed rows after it at once) or its transaction ends (deleting
//! nothing). A relay whose snapshot still shows a head that another relay
//! deleted meanwhile finds it locked (skipped) or gone (`FOR UPDATE` skips
//! a deleted row). Rows are only ever inserted and deleted, never updated,
//! so no relay ever re-checks a row that changed under it. An aggregate
//! whose row failed keeps that row as its head, and the next batch starts
//! there.
//!
//! # Deduplication downstream
//!
//! Every row has a **stable message id** (`outbox-` and 32 random hex
//! digits, chosen by [`Outbox::enqueue`], or [`OutboxMessage::message_id`]),
//! published as the message id (the `x-mq-message-id` header, and on
//! RabbitMQ the `message_id` property) every time the row is published.
//! A subscriber's [`Deduplication`](crate::dedup::Deduplication) keys on
//! the message id by default, and the PostgreSQL inbox
//! ([`PostgresStore::claim_in`](crate::dedup::PostgresStore::claim_in))
//! can take it as the key: a row published twice takes effect once.
//! The row's `seq` goes out in the `x-mq-outbox-seq` header.
//!
//! # Crash windows
//!
//! - **Writer**: its rows and the outbox row commit together or not at
//!   all. An event is published only if its transaction committed.
//! - **Relay dies after publishing, before its commit** (a crash, an
//!   aborted task, a lost connection to PostgreSQL): its transaction rolls
//!   back, the rows stay, and the next relay publishes them **again**: at
//!   most the dead relay's batch, at most `batch_size × per_aggregate`
//!   rows, each row at most once more per such crash. The locks go when
//!   PostgreSQL sees the connection end: at once when the process dies or
//!   the task is dropped (the socket closes); if the relay's host vanishes,
//!   only after TCP keepalive or `idle_in_transaction_session_timeout`,
//!   and those aggregates wait until then.
//! - **The commit's answer is lost**: the rows may or may not be deleted;
//!   if not, they are published again, as above.
//! - **A publish fails or times out**
//!   ([`publish_timeout`](RelayBuilder::publish_timeout)): the row stays
//!   (the broker may have it anyway: a duplicate later), its aggregate's
//!   later rows wait, and the next batch tries it again. A row that can
//!   never be published (a destination the broker refuses) holds its
//!   aggregate back until an operator deletes it: order allows nothing
//!   else. The relay logs every failure; other aggregates go on.
//! - **A relay stalled past its session** (paused, or cut off while
//!   PostgreSQL ended its session): another relay takes the aggregates over
//!   and republishes, and a publish the stalled relay had in flight may
//!   reach the broker **after** later events of its aggregate. It is a
//!   duplicate of one delivered before them: the first delivery of every
//!   row is in order, and deduplication drops the late copy.
//! - **Consumers**: delivery is at least once from the outbox to the
//!   handler; effects are exactly once only when the consumer deduplicates
//!   in the same transaction as its effect (the inbox).

mod relay;

pub use relay::{BatchReport, Relay, RelayBuilder, RunningRelay};

use std::fmt;

use bytes::Bytes;
use tokio_postgres::GenericClient;
use tokio_postgres::types::Type;

use crate::codec::Codec;
use crate::error::CodecError;
use crate::trace::{TRACEPARENT, TRACESTATE, TraceContext};

/// The header that carries an outbox row's `seq`, its place among its
/// aggregate's events (from 1).
pub const SEQ_HEADER: &str = "x-mq-outbox-seq";

/// The longest aggregate key, destination, message id or content type
/// taken, in bytes: they are indexed or sent as short strings.
pub const MAX_NAME_LEN: usize = 255;

/// An outbox failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutboxError {
    /// PostgreSQL failed or cannot be reached (retriable). The text names
    /// the server as `host:port/db as user`, never a password.
    #[error("the outbox database is unavailable: {0}")]
    Database(String),
    /// A table name that is not a plain SQL identifier, or too long.
    #[error("{0:?} is not a plain table name of at most 59 bytes")]
    TableName(String),
    /// A field over [`MAX_NAME_LEN`] bytes, or empty where it must not be.
    #[error("the outbox message's {field} is {len} bytes, not within 1..={max}")]
    FieldLength {
        /// `aggregate`, `destination`, `message_id` or `content_type`.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The payload could not be encoded.
    #[error("cannot encode the outbox payload: {0}")]
    Codec(#[from] CodecError),
    /// The relay's broker side failed (a publish, or the bus).
    #[error("the relay's publish failed: {0}")]
    Publish(#[from] crate::Error),
}

impl OutboxError {
    /// Whether trying again may help: database and broker failures.
    pub fn is_retriable(&self) -> bool {
        matches!(self, OutboxError::Database(_) | OutboxError::Publish(_))
    }
}

/// An error from PostgreSQL, without the connection's secrets (the
/// driver's errors carry none).
pub(crate) fn db(e: &tokio_postgres::Error) -> OutboxError {
    OutboxError::Database(e.to_string())
}

/// An event to put in the outbox: its destination (a Kafka topic, or a
/// RabbitMQ exchange), its aggregate key, headers and payload.
#[derive(Clone)]
pub struct OutboxMessage {
    destination: String,
    aggregate: String,
    content_type: String,
    headers: Vec<(String, Bytes)>,
    payload: Bytes,
    message_id: Option<String>,
}

impl fmt::Debug for OutboxMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboxMessage")
            .field("destination", &self.destination)
            .field("aggregate", &self.aggregate)
            .field("content_type", &self.content_type)
            .field("headers", &self.headers.len())
            .field("payload_len", &self.payload.len())
            .field("message_id", &self.message_id)
            .finish()
    }
}

impl OutboxMessage {
    /// Raw bytes with their content type.
    pub fn raw(
        destination: impl Into<String>,
        aggregate: impl Into<String>,
        content_type: impl Into<String>,
        payload: impl Into<Bytes>,
    ) -> Self {
        OutboxMessage {
            destination: destination.into(),
            aggregate: aggregate.into(),
            content_type: content_type.into(),
            headers: Vec::new(),
            payload: payload.into(),
            message_id: None,
        }
    }

    /// `value` encoded by `codec` (with the codec's content type, as a
    /// [`Publisher`](crate::Publisher) with that codec would send it).
    pub fn encode<T, C: Codec<T>>(
        destination: impl Into<String>,
        aggregate: impl Into<String>,
        value: &T,
        codec: &C,
    ) -> Result<Self, CodecError> {
        let payload = codec.encode(value)?;
        Ok(Self::raw(
            destination,
            aggregate,
            codec.content_type(),
            payload,
        ))
    }

    /// `value` as JSON, as the [`Json`](crate::Json) codec encodes it
    /// (only `Serialize` is needed).
    #[cfg(feature = "json")]
    pub fn json<T: serde::Serialize + ?Sized>(
        destination: impl Into<String>,
        aggregate: impl Into<String>,
        value: &T,
    ) -> Result<Self, CodecError> {
        let payload = serde_json::to_vec(value).map_err(|e| CodecError::Encode(Box::new(e)))?;
        Ok(Self::raw(
            destination,
            aggregate,
            crate::Json::CONTENT_TYPE,
            payload,
        ))
    }

    /// Adds a header (sent as is; names starting `x-mq-` are the crate's).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The message id (default: `outbox-` and 32 random hex digits). It is
    /// the downstream deduplication key: make it unique per event.
    pub fn message_id(mut self, id: impl Into<String>) -> Self {
        self.message_id = Some(id.into());
        self
    }

    /// The aggregate key.
    pub fn aggregate(&self) -> &str {
        &self.aggregate
    }
}

/// What [`Outbox::enqueue`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enqueued {
    /// The row's id (global, oldest first).
    pub id: i64,
    /// Its place among its aggregate's events, from 1.
    pub seq: i64,
    /// The message id it will be published with.
    pub message_id: String,
}

/// The outbox's tables and the writer's side: [`enqueue`](Self::enqueue)
/// in the application's transaction. Holds no connection; cheap to clone.
/// See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Outbox {
    table: String,
    enqueue_sql: String,
}

impl Default for Outbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Outbox {
    /// The outbox in the tables `mq_outbox` and `mq_outbox_seq`.
    pub fn new() -> Self {
        Self::named("mq_outbox")
    }

    /// The outbox in the tables `table` and `<table>_seq` (`table`: ASCII
    /// letters, digits and `_`, not starting with a digit, at most 59
    /// bytes).
    pub fn with_table(table: &str) -> Result<Self, OutboxError> {
        if table.len() > 59 || !crate::dedup::plain_name(table) {
            return Err(OutboxError::TableName(table.to_owned()));
        }
        Ok(Self::named(table))
    }

    fn named(t: &str) -> Self {
        let enqueue_sql = format!(
            "WITH s AS (INSERT INTO {t}_seq (aggregate, last_seq) VALUES ($1, 1) \
             ON CONFLICT (aggregate) DO UPDATE SET last_seq = {t}_seq.last_seq + 1 \
             RETURNING last_seq) \
             INSERT INTO {t} (aggregate, seq, destination, message_id, content_type, \
             header_names, header_values, payload) \
             SELECT $1, s.last_seq, $2, $3, $4, $5, $6, $7 FROM s RETURNING id, seq"
        );
        Outbox {
            table: t.to_owned(),
            enqueue_sql,
        }
    }

    /// The table of rows (the counters are in `<table>_seq`).
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the tables if missing (on a client or in a transaction).
    pub async fn create_tables(
        &self,
        client: &(impl GenericClient + Sync),
    ) -> Result<(), OutboxError> {
        let t = &self.table;
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {t} (\
               id bigserial PRIMARY KEY, \
               aggregate text NOT NULL, \
               seq bigint NOT NULL, \
               destination text NOT NULL, \
               message_id text NOT NULL, \
               content_type text NOT NULL, \
               header_names text[] NOT NULL, \
               header_values bytea[] NOT NULL, \
               payload bytea NOT NULL, \
               created_at timestamptz NOT NULL DEFAULT now(), \
               UNIQUE (aggregate, seq)); \
             CREATE TABLE IF NOT EXISTS {t}_seq (\
               aggregate text PRIMARY KEY, \
               last_seq bigint NOT NULL)"
        );
        if let Err(e) = client.batch_execute(&sql).await {
            // Two processes creating them at once: one of them loses the race.
            let row = client
                .query_one(
                    "SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL",
                    &[&t, &format!("{t}_seq")],
                )
                .await
                .map_err(|e| db(&e))?;
            if !row.get::<_, bool>(0) {
                return Err(db(&e));
            }
        }
        Ok(())
    }

    /// Writes `message` to the outbox on `client`: give it the
    /// **transaction that writes the application's rows**, so that both
    /// commit or neither does. (On a bare client the row commits on its
    /// own.) Until that transaction ends, other writers of the same
    /// aggregate wait (see the [module docs](self)). The current trace
    /// context ([`TraceContext::current`]), if any, goes with the row: the
    /// relay's publish continues that trace.
    pub async fn enqueue(
        &self,
        client: &(impl GenericClient + Sync),
        message: OutboxMessage,
    ) -> Result<Enqueued, OutboxError> {
        let message_id = message.message_id.clone().unwrap_or_else(new_message_id);
        for (field, value, min) in [
            ("aggregate", message.aggregate.as_str(), 0),
            ("destination", message.destination.as_str(), 1),
            ("message_id", message_id.as_str(), 1),
            ("content_type", message.content_type.as_str(), 0),
        ] {
            if value.len() < min || value.len() > MAX_NAME_LEN {
                return Err(OutboxError::FieldLength {
                    field,
                    len: value.len(),
                    max: MAX_NAME_LEN,
                });
            }
        }
        let mut names: Vec<&str> = Vec::with_capacity(message.headers.len() + 2);
        let mut values: Vec<&[u8]> = Vec::with_capacity(message.headers.len() + 2);
        for (k, v) in &message.headers {
            names.push(k);
            values.push(v);
        }
        let trace = TraceContext::current().filter(|_| {
            !message
                .headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case(TRACEPARENT))
        });
        let traceparent = trace.as_ref().map(TraceContext::traceparent);
        if let (Some(ctx), Some(tp)) = (&trace, &traceparent) {
            names.push(TRACEPARENT);
            values.push(tp.as_bytes());
            if let Some(state) = ctx.tracestate() {
                names.push(TRACESTATE);
                values.push(state.as_bytes());
            }
        }
        let payload: &[u8] = &message.payload;
        let row = client
            .query_typed_one(
                &self.enqueue_sql,
                &[
                    (&message.aggregate, Type::TEXT),
                    (&message.destination, Type::TEXT),
                    (&message_id, Type::TEXT),
                    (&message.content_type, Type::TEXT),
                    (&names, Type::TEXT_ARRAY),
                    (&values, Type::BYTEA_ARRAY),
                    (&payload, Type::BYTEA),
                ],
            )
            .await
            .map_err(|e| db(&e))?;
        Ok(Enqueued {
            id: row.get(0),
            seq: row.get(1),
            message_id,
        })
    }

    /// Rows not yet published (all aggregates).
    pub async fn pending(&self, client: &(impl GenericClient + Sync)) -> Result<i64, OutboxError> {
        let row = client
            .query_one(&format!("SELECT count(*) FROM {}", self.table), &[])
            .await
            .map_err(|e| db(&e))?;
        Ok(row.get(0))
    }

    /// A relay of this outbox, connecting to PostgreSQL at `url` and
    /// publishing on `bus`. The URL (which may hold a password) appears in
    /// no error or log.
    pub fn relay(&self, url: &str, bus: crate::Bus) -> RelayBuilder {
        RelayBuilder::new(self.clone(), url, bus)
    }
}

/// `outbox-` and 32 random hex digits.
fn new_message_id() -> String {
    format!(
        "outbox-{:016x}{:016x}",
        crate::random::u64(),
        crate::random::u64()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_checked() {
        assert!(Outbox::with_table("orders_outbox").is_ok());
        for bad in ["", "1x", "a-b", "x; DROP TABLE y", &"x".repeat(60)] {
            assert!(
                matches!(Outbox::with_table(bad), Err(OutboxError::TableName(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn message_ids_are_distinct_and_prefixed() {
        let (a, b) = (new_message_id(), new_message_id());
        assert_ne!(a, b);
        assert!(a.starts_with("outbox-") && a.len() == 39, "{a}");
    }

    #[cfg(feature = "json")]
    #[test]
    fn json_messages_carry_the_codec_content_type() {
        let m = OutboxMessage::json("orders", "o-1", &serde_json::json!({"a": 1}))
            .expect("json")
            .header("tenant", "acme")
            .message_id("m-1");
        assert_eq!(m.content_type, "application/json");
        assert_eq!(&m.payload[..], br#"{"a":1}"#);
        assert_eq!(m.headers, vec![("tenant".to_owned(), Bytes::from("acme"))]);
        assert_eq!(m.message_id.as_deref(), Some("m-1"));
        assert_eq!(m.aggregate(), "o-1");
    }
}
