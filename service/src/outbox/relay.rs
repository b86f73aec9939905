//! The relay: publishes outbox rows, in order per aggregate, and deletes
//! them once confirmed. The protocol and its crash windows are in the
//! [module docs](super).

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::join_all;
use tokio_postgres::{Client, Config, NoTls, Row, Statement};

use super::{Outbox, OutboxError, SEQ_HEADER, db};
use crate::codec::Codec;
use crate::error::CodecError;
use crate::trace::{TRACEPARENT, TRACESTATE, TraceContext};
use crate::{Bus, Publisher, Shutdown};

/// Settings of a [`Relay`]; from [`Outbox::relay`].
pub struct RelayBuilder {
    outbox: Outbox,
    /// The parsed URL (it may hold a password: never printed).
    config: Option<Config>,
    bus: Bus,
    batch_size: i64,
    per_aggregate: i64,
    poll_interval: Duration,
    publish_timeout: Duration,
}

impl fmt::Debug for RelayBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelayBuilder")
            .field("table", &self.outbox.table)
            .field(
                "database",
                &self.config.as_ref().map(crate::dedup::describe),
            )
            .field("bus", &self.bus)
            .field("batch_size", &self.batch_size)
            .field("per_aggregate", &self.per_aggregate)
            .field("poll_interval", &self.poll_interval)
            .field("publish_timeout", &self.publish_timeout)
            .finish()
    }
}

impl RelayBuilder {
    pub(super) fn new(outbox: Outbox, url: &str, bus: Bus) -> Self {
        RelayBuilder {
            outbox,
            config: url.parse().ok(),
            bus,
            batch_size: 100,
            per_aggregate: 16,
            poll_interval: Duration::from_millis(100),
            publish_timeout: Duration::from_secs(30),
        }
    }

    /// Aggregates taken per batch (default 100): their head rows are
    /// locked for the batch, and a crash mid-batch republishes at most
    /// `batch_size × per_aggregate` rows.
    pub fn batch_size(mut self, aggregates: u32) -> Self {
        self.batch_size = i64::from(aggregates.max(1));
        self
    }

    /// Rows of one aggregate published per batch (default 16), one after
    /// another, each after the previous one's confirm.
    pub fn per_aggregate(mut self, rows: u32) -> Self {
        self.per_aggregate = i64::from(rows.max(1));
        self
    }

    /// How long an idle relay waits before looking again (default 100 ms),
    /// and after a batch in which a publish failed.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// How long one publish may wait for its confirm before it counts as
    /// failed (default 30 s). The batch's transaction, and its locks, stay
    /// open that long at most per row.
    pub fn publish_timeout(mut self, timeout: Duration) -> Self {
        self.publish_timeout = timeout;
        self
    }

    /// Connects to PostgreSQL.
    pub async fn build(self) -> Result<Relay, OutboxError> {
        let config = self
            .config
            .ok_or_else(|| OutboxError::Database("invalid PostgreSQL URL".into()))?;
        let t = &self.outbox.table;
        let sql = RelaySql {
            heads: format!(
                "SELECT o.id FROM {t} o WHERE NOT EXISTS \
                 (SELECT 1 FROM {t} p WHERE p.aggregate = o.aggregate AND p.seq < o.seq) \
                 ORDER BY o.id LIMIT $1 FOR UPDATE OF o SKIP LOCKED"
            ),
            rows: format!(
                "SELECT id, aggregate, seq, destination, message_id, content_type, \
                 header_names, header_values, payload FROM \
                 (SELECT *, row_number() OVER (PARTITION BY aggregate ORDER BY seq) AS n \
                  FROM {t} WHERE aggregate IN \
                  (SELECT aggregate FROM {t} WHERE id = ANY($1))) r \
                 WHERE n <= $2 ORDER BY aggregate, seq"
            ),
            delete: format!("DELETE FROM {t} WHERE id = ANY($1)"),
        };
        let mut relay = Relay {
            addr: crate::dedup::describe(&config),
            config,
            bus: self.bus,
            sql,
            batch_size: self.batch_size,
            per_aggregate: self.per_aggregate,
            poll_interval: self.poll_interval,
            publish_timeout: self.publish_timeout,
            conn: None,
            publishers: HashMap::new(),
        };
        relay.conn = Some(relay.connect().await?);
        Ok(relay)
    }

    /// Connects, then runs the relay on a task of its own until
    /// [`RunningRelay::shutdown`].
    pub async fn start(self) -> Result<RunningRelay, OutboxError> {
        let relay = self.build().await?;
        let shutdown = Shutdown::new();
        let signal = shutdown.clone();
        let task = tokio::spawn(relay.run(signal));
        Ok(RunningRelay { shutdown, task })
    }
}

/// The relay's statements, written once.
struct RelaySql {
    heads: String,
    rows: String,
    delete: String,
}

/// A connection and its prepared statements.
struct Conn {
    client: Client,
    heads: Statement,
    rows: Statement,
    delete: Statement,
}

/// What one batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchReport {
    /// Aggregates taken (their heads locked).
    pub aggregates: usize,
    /// Rows published, confirmed and deleted.
    pub published: usize,
    /// Rows whose publish failed (they stay, with their aggregates' later
    /// rows).
    pub failed: usize,
}

/// Publishes outbox rows; see the [module docs](super). Run several, in
/// one process or many: they share the rows.
pub struct Relay {
    config: Config,
    /// `host:port/db as user`, without the password.
    addr: String,
    bus: Bus,
    sql: RelaySql,
    batch_size: i64,
    per_aggregate: i64,
    poll_interval: Duration,
    publish_timeout: Duration,
    conn: Option<Conn>,
    /// One publisher per destination and content type.
    publishers: HashMap<(String, String), Publisher<Bytes, Stored>>,
}

impl fmt::Debug for Relay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Relay")
            .field("database", &self.addr)
            .field("bus", &self.bus)
            .field("batch_size", &self.batch_size)
            .field("per_aggregate", &self.per_aggregate)
            .finish_non_exhaustive()
    }
}

/// One row, read for publishing.
struct Outgoing {
    id: i64,
    aggregate: String,
    seq: i64,
    message_id: String,
    headers: Vec<(String, Vec<u8>)>,
    payload: Bytes,
    publisher: Publisher<Bytes, Stored>,
}

impl Relay {
    /// Opens a connection and prepares the statements on it.
    async fn connect(&self) -> Result<Conn, OutboxError> {
        let err = |e: tokio_postgres::Error| {
            OutboxError::Database(format!("PostgreSQL at {}: {e}", self.addr))
        };
        let (client, connection) = self.config.connect(NoTls).await.map_err(err)?;
        let addr = self.addr.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(database = addr.as_str(), error = %e, "outbox relay: PostgreSQL connection ended");
            }
        });
        let (heads, rows, delete) = tokio::try_join!(
            client.prepare(&self.sql.heads),
            client.prepare(&self.sql.rows),
            client.prepare(&self.sql.delete),
        )
        .map_err(err)?;
        Ok(Conn {
            client,
            heads,
            rows,
            delete,
        })
    }

    fn publisher(&mut self, destination: &str, content_type: &str) -> Publisher<Bytes, Stored> {
        self.publishers
            .entry((destination.to_owned(), content_type.to_owned()))
            .or_insert_with(|| {
                self.bus.publisher_with(
                    destination,
                    Stored {
                        content_type: content_type.to_owned(),
                    },
                )
            })
            .clone()
    }

    /// One batch: lock heads, read their aggregates' next rows, publish,
    /// delete what was confirmed, commit. An error leaves every row of
    /// the batch in place (those published go out again later).
    pub async fn run_once(&mut self) -> Result<BatchReport, OutboxError> {
        let mut conn = match self.conn.take() {
            Some(c) if !c.client.is_closed() => c,
            _ => self.connect().await?,
        };
        let report = self.batch(&mut conn).await;
        // A dropped or failed connection is opened again next time.
        if !conn.client.is_closed() {
            self.conn = Some(conn);
        }
        report
    }

    async fn batch(&mut self, conn: &mut Conn) -> Result<BatchReport, OutboxError> {
        let tx = conn.client.transaction().await.map_err(|e| db(&e))?;
        let heads: Vec<i64> = tx
            .query(&conn.heads, &[&self.batch_size])
            .await
            .map_err(|e| db(&e))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        if heads.is_empty() {
            tx.commit().await.map_err(|e| db(&e))?;
            return Ok(BatchReport::default());
        }
        let rows = tx
            .query(&conn.rows, &[&heads, &self.per_aggregate])
            .await
            .map_err(|e| db(&e))?;
        // Rows come ordered by aggregate, then seq: cut them into runs.
        let mut groups: Vec<Vec<Outgoing>> = Vec::new();
        for row in &rows {
            let out = self.outgoing(row);
            match groups.last_mut() {
                Some(g) if g[0].aggregate == out.aggregate => g.push(out),
                _ => groups.push(vec![out]),
            }
        }
        let timeout = self.publish_timeout;
        let results = join_all(groups.iter().map(|g| publish_in_order(g, timeout))).await;
        let mut report = BatchReport {
            aggregates: groups.len(),
            ..BatchReport::default()
        };
        let mut confirmed: Vec<i64> = Vec::with_capacity(rows.len());
        for (group, done) in groups.iter().zip(results) {
            confirmed.extend(group[..done].iter().map(|o| o.id));
            report.failed += usize::from(done < group.len());
        }
        report.published = confirmed.len();
        if !confirmed.is_empty() {
            tx.execute(&conn.delete, &[&confirmed])
                .await
                .map_err(|e| db(&e))?;
        }
        tx.commit().await.map_err(|e| db(&e))?;
        Ok(report)
    }

    fn outgoing(&mut self, row: &Row) -> Outgoing {
        let names: Vec<String> = row.get(6);
        let values: Vec<Vec<u8>> = row.get(7);
        let destination: &str = row.get(3);
        let content_type: &str = row.get(5);
        Outgoing {
            id: row.get(0),
            aggregate: row.get(1),
            seq: row.get(2),
            message_id: row.get(4),
            headers: names.into_iter().zip(values).collect(),
            payload: Bytes::from(row.get::<_, Vec<u8>>(8)),
            publisher: self.publisher(destination, content_type),
        }
    }

    /// Runs batches until `shutdown`: back to back while there is work,
    /// every [`poll_interval`](RelayBuilder::poll_interval) when idle or
    /// after a failed publish, and with a growing pause (up to 5 s) while
    /// PostgreSQL fails. Returns when `shutdown` is triggered (a batch in
    /// progress is finished first).
    pub async fn run(mut self, shutdown: Shutdown) -> Result<(), OutboxError> {
        let mut pause = self.poll_interval;
        while !shutdown.is_triggered() {
            let wait = match self.run_once().await {
                Ok(r) if r.aggregates > 0 && r.failed == 0 => {
                    pause = self.poll_interval;
                    continue;
                }
                Ok(_) => self.poll_interval,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox relay: batch failed; trying again");
                    pause = (pause * 2).min(Duration::from_secs(5));
                    pause
                }
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = shutdown.triggered() => {}
            }
        }
        Ok(())
    }
}

/// Publishes one aggregate's rows in order, each after the previous one's
/// confirm, stopping at the first failure; returns how many were
/// confirmed.
async fn publish_in_order(rows: &[Outgoing], timeout: Duration) -> usize {
    for (i, row) in rows.iter().enumerate() {
        let seq = row.seq.to_string();
        let mut publish = row
            .publisher
            .publish(&row.payload)
            .key(&row.aggregate)
            .message_id(&row.message_id)
            .header(SEQ_HEADER, &seq);
        let (mut parent, mut state) = (None, None);
        for (name, value) in &row.headers {
            if name.eq_ignore_ascii_case(TRACEPARENT) {
                parent = std::str::from_utf8(value).ok();
            } else if name.eq_ignore_ascii_case(TRACESTATE) {
                state = std::str::from_utf8(value).ok();
            } else {
                publish = publish.header(name, value);
            }
        }
        if let Some(ctx) = parent.and_then(|p| TraceContext::parse(p, state).ok()) {
            publish = publish.trace_context(ctx);
        }
        let failure = match tokio::time::timeout(timeout, publish).await {
            Ok(Ok(_)) => continue,
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no confirm within {timeout:?}"),
        };
        tracing::warn!(
            destination = row.publisher.destination(),
            aggregate = row.aggregate.as_str(),
            seq = row.seq,
            message_id = row.message_id.as_str(),
            error = failure.as_str(),
            "outbox relay: publish failed; the row and its aggregate's later rows stay for the next batch"
        );
        return i;
    }
    rows.len()
}

/// A relay running on its own task ([`RelayBuilder::start`]).
#[derive(Debug)]
pub struct RunningRelay {
    shutdown: Shutdown,
    task: tokio::task::JoinHandle<Result<(), OutboxError>>,
}

impl RunningRelay {
    /// Finishes the batch in progress, then stops.
    pub async fn shutdown(self) -> Result<(), OutboxError> {
        self.shutdown.trigger();
        self.task
            .await
            .map_err(|e| OutboxError::Publish(crate::Error::Task(e.to_string())))?
    }

    /// Stops at once, mid-batch if need be: the batch's transaction rolls
    /// back when its connection drops, and its rows are published again by
    /// the next batch (a crash, as the [module docs](super) describe it).
    pub fn abort(self) {
        self.task.abort();
    }

    /// Whether the task has ended.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

/// The codec of stored payloads: the bytes as they are, with the content
/// type they were written with.
pub(crate) struct Stored {
    content_type: String,
}

impl Codec<Bytes> for Stored {
    fn content_type(&self) -> &str {
        &self.content_type
    }

    fn encode(&self, value: &Bytes) -> Result<Vec<u8>, CodecError> {
        Ok(value.to_vec())
    }

    fn decode(&self, bytes: &[u8]) -> Result<Bytes, CodecError> {
        Ok(Bytes::copy_from_slice(bytes))
    }
}
