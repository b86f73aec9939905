//! The PostgreSQL store: one row per key in a table with the key as its
//! primary key; a claim is an `INSERT ... ON CONFLICT` that only takes over
//! a row whose lease or TTL ran out, or that the caller holds already.
//!
//! **The inbox**: [`PostgresStore::claim_in`] marks a key done inside the
//! handler's own transaction, so the handler's statements and the mark
//! commit together or not at all: the effects are exactly-once. A second
//! transaction inserting the same key waits on the unique index until the
//! first commits (then it sees the key done) or rolls back (then it goes
//! ahead); a crashed handler's transaction rolls back with its connection.
//!
//! The statements are written once, when the store is made, and prepared
//! once per connection (on its first use): a store call is one round trip,
//! with no parsing or planning on the server. The inbox's statement runs
//! on the application's transaction, whose connection the store does not
//! own: it goes out typed and unnamed (`query_typed`), also one round trip.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::{Mutex, OnceCell};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Config, NoTls, Statement, Transaction};

use super::{Claim, DedupStore, StoreError, millis};

/// The longest key taken, in bytes: a B-tree index entry must fit in a
/// third of an 8 kB page (about 2700 bytes).
const MAX_KEY_LEN: usize = 2048;

/// Keys in a PostgreSQL table (default `mq_dedup`, created if missing),
/// over one pipelined connection, opened again after a failure.
pub struct PostgresStore {
    config: Config,
    /// `host:port/db as user`, without the password.
    addr: String,
    table: String,
    sql: Sql,
    conn: Mutex<Option<Arc<Conn>>>,
}

/// The store's statements, written once for its table.
struct Sql {
    claim: String,
    claim_state: String,
    renew: String,
    release: String,
    mark_done: String,
    is_done: String,
    inbox: String,
}

impl Sql {
    fn new(t: &str) -> Self {
        Sql {
            claim: format!(
                "INSERT INTO {t} (key, owner, expires_at) \
                 VALUES ($1, $2, now() + $3::bigint * interval '1 millisecond') \
                 ON CONFLICT (key) DO UPDATE SET owner = EXCLUDED.owner, \
                 expires_at = EXCLUDED.expires_at \
                 WHERE {t}.expires_at <= now() OR {t}.owner = EXCLUDED.owner \
                 RETURNING 1"
            ),
            claim_state: format!(
                "SELECT owner IS NULL, \
                 GREATEST(0, (EXTRACT(EPOCH FROM expires_at - now()) * 1000))::bigint \
                 FROM {t} WHERE key = $1"
            ),
            renew: format!(
                "UPDATE {t} SET expires_at = now() + $3::bigint * interval '1 millisecond' \
                 WHERE key = $1 AND owner = $2 AND expires_at > now() RETURNING 1"
            ),
            release: format!("DELETE FROM {t} WHERE key = $1 AND owner = $2"),
            mark_done: format!(
                "INSERT INTO {t} (key, owner, expires_at) \
                 VALUES ($1, NULL, now() + $2::bigint * interval '1 millisecond') \
                 ON CONFLICT (key) DO UPDATE SET owner = NULL, expires_at = EXCLUDED.expires_at"
            ),
            is_done: format!(
                "SELECT 1 FROM {t} WHERE key = $1 AND owner IS NULL AND expires_at > now()"
            ),
            inbox: format!(
                "INSERT INTO {t} (key, owner, expires_at) \
                 VALUES ($1, NULL, now() + $2::bigint * interval '1 millisecond') \
                 ON CONFLICT (key) DO UPDATE SET owner = NULL, expires_at = EXCLUDED.expires_at \
                 WHERE {t}.expires_at <= now() OR {t}.owner IS NOT NULL \
                 RETURNING 1"
            ),
        }
    }
}

/// The statements prepared on one connection.
struct Prepared {
    claim: Statement,
    claim_state: Statement,
    renew: Statement,
    release: Statement,
    mark_done: Statement,
    is_done: Statement,
}

impl Prepared {
    /// Prepares them all, pipelined: one round trip.
    async fn new(client: &Client, sql: &Sql) -> Result<Self, tokio_postgres::Error> {
        let (claim, claim_state, renew, release, mark_done, is_done) = tokio::try_join!(
            client.prepare(&sql.claim),
            client.prepare(&sql.claim_state),
            client.prepare(&sql.renew),
            client.prepare(&sql.release),
            client.prepare(&sql.mark_done),
            client.prepare(&sql.is_done),
        )?;
        Ok(Prepared {
            claim,
            claim_state,
            renew,
            release,
            mark_done,
            is_done,
        })
    }
}

/// One connection, and its statements once prepared.
struct Conn {
    client: Client,
    prepared: OnceCell<Prepared>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("addr", &self.addr)
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:password@host:port/db`, or the
    /// key=value form) and creates the table `mq_dedup` if missing. The
    /// URL (which may hold a password) appears in no error or log.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with_table(url, "mq_dedup").await
    }

    /// [`connect`](Self::connect), with the keys in `table` (ASCII
    /// letters, digits and `_`, not starting with a digit).
    pub async fn connect_with_table(url: &str, table: &str) -> Result<Self, StoreError> {
        if !plain_name(table) {
            return Err(StoreError::Unavailable(format!(
                "{table:?} is not a plain table name"
            )));
        }
        let config: Config = url
            .parse()
            .map_err(|_| StoreError::Unavailable("invalid PostgreSQL URL".into()))?;
        let addr = describe(&config);
        let store = PostgresStore {
            config,
            addr,
            table: table.to_owned(),
            sql: Sql::new(table),
            conn: Mutex::new(None),
        };
        let conn = store.conn().await?;
        let client = &conn.client;
        let create = format!(
            "CREATE TABLE IF NOT EXISTS {} (key text PRIMARY KEY, owner text, \
             expires_at timestamptz NOT NULL)",
            store.table
        );
        if let Err(e) = client.batch_execute(&create).await {
            // Two processes creating it at once: one of them loses the race.
            let exists = client
                .query_one("SELECT to_regclass($1) IS NOT NULL", &[&store.table])
                .await
                .map_err(|e| store.err(&e))?;
            if !exists.get::<_, bool>(0) {
                return Err(store.err(&e));
            }
        }
        Ok(store)
    }

    /// The table.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The inbox: marks `key` done (for `ttl`) in `tx`, the handler's own
    /// transaction on the same database. True: the key was new (or its
    /// TTL had run out), so go on with the handler's statements and
    /// commit; false: it was processed already, do nothing. Until `tx`
    /// ends, another transaction claiming the key waits.
    pub async fn claim_in(
        &self,
        tx: &Transaction<'_>,
        key: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        if key.len() > MAX_KEY_LEN {
            return Err(StoreError::KeyTooLong {
                len: key.len(),
                max: MAX_KEY_LEN,
            });
        }
        let ms = ms_param(ttl);
        let rows = tx
            .query_typed(&self.sql.inbox, &[(&key, Type::TEXT), (&ms, Type::INT8)])
            .await
            .map_err(|e| self.err(&e))?;
        Ok(!rows.is_empty())
    }

    /// The connection, opened (again) if there is none or it failed.
    async fn conn(&self) -> Result<Arc<Conn>, StoreError> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            if !c.client.is_closed() {
                return Ok(c.clone());
            }
        }
        let (client, connection) = self.config.connect(NoTls).await.map_err(|e| self.err(&e))?;
        let addr = self.addr.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(store = addr.as_str(), error = %e, "PostgreSQL connection ended");
            }
        });
        let conn = Arc::new(Conn {
            client,
            prepared: OnceCell::new(),
        });
        *slot = Some(conn.clone());
        Ok(conn)
    }

    fn err(&self, e: &tokio_postgres::Error) -> StoreError {
        StoreError::Unavailable(format!("PostgreSQL at {}: {e}", self.addr))
    }

    /// Runs one of the prepared statements (prepared on the connection's
    /// first use), returning its rows.
    async fn query(
        &self,
        statement: fn(&Prepared) -> &Statement,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        let conn = self.conn().await?;
        let prepared = conn
            .prepared
            .get_or_try_init(|| Prepared::new(&conn.client, &self.sql))
            .await
            .map_err(|e| self.err(&e))?;
        conn.client
            .query(statement(prepared), params)
            .await
            .map_err(|e| self.err(&e))
    }
}

/// Whether `name` is a plain SQL identifier: ASCII letters, digits and
/// `_`, not starting with a digit, at most 63 bytes.
pub(crate) fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

/// `host:port/db as user`.
pub(crate) fn describe(c: &Config) -> String {
    let host = match c.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = c.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{host}:{port}/{} as {}",
        c.get_dbname().unwrap_or(""),
        c.get_user().unwrap_or("")
    )
}

fn ms_param(d: Duration) -> i64 {
    i64::try_from(millis(d)).unwrap_or(i64::MAX)
}

impl DedupStore for PostgresStore {
    fn max_key_len(&self) -> usize {
        MAX_KEY_LEN
    }

    fn claim<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Claim, StoreError>> {
        Box::pin(async move {
            let ms = ms_param(lease);
            if !self
                .query(|p| &p.claim, &[&key, &owner, &ms])
                .await?
                .is_empty()
            {
                return Ok(Claim::Acquired);
            }
            let rows = self.query(|p| &p.claim_state, &[&key]).await?;
            Ok(match rows.first() {
                Some(r) if r.get::<_, bool>(0) => Claim::Done,
                Some(r) => Claim::Held {
                    expires_in: Duration::from_millis(
                        u64::try_from(r.get::<_, i64>(1)).unwrap_or(0),
                    ),
                },
                // Gone in between (expired and purged): try again soon.
                None => Claim::Held {
                    expires_in: Duration::ZERO,
                },
            })
        })
    }

    fn renew<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        lease: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let ms = ms_param(lease);
            Ok(!self
                .query(|p| &p.renew, &[&key, &owner, &ms])
                .await?
                .is_empty())
        })
    }

    fn release<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.query(|p| &p.release, &[&key, &owner]).await?;
            Ok(())
        })
    }

    fn mark_done<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let ms = ms_param(ttl);
            self.query(|p| &p.mark_done, &[&key, &ms]).await?;
            Ok(())
        })
    }

    fn is_done<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move { Ok(!self.query(|p| &p.is_done, &[&key]).await?.is_empty()) })
    }
}
