//! The embedded, persistent store: one redb file (pure Rust), no server.
//! Keys survive a restart of the process; expiry times are wall-clock.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::BoxFuture;
use redb::{Database, ReadableTable, TableDefinition};

use super::{Claim, DedupStore, StoreError, millis};

/// Key to (expiry in ms since the epoch, owner; empty once done).
const KEYS: TableDefinition<'_, &str, (u64, &str)> = TableDefinition::new("mq_dedup");

/// The longest key, in bytes.
const MAX_KEY_LEN: usize = 1024;

/// Keys in a redb file. One process opens a file at a time (redb locks
/// it); a clone shares the open database.
#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
    path: PathBuf,
}

impl fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("path", &self.path)
            .finish()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn unavailable(e: impl Into<redb::Error>) -> StoreError {
    StoreError::unavailable(e.into())
}

impl EmbeddedStore {
    /// Opens the file at `path`, creating it if missing, and drops the
    /// keys that expired while it was closed. Blocks: call it before
    /// starting subscribers, or in `spawn_blocking`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let db = Database::create(&path)
            .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
        let store = EmbeddedStore {
            db: Arc::new(db),
            path,
        };
        // Creates the table.
        store.write(|_| Ok(()))?;
        store.purge_blocking()?;
        Ok(store)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes expired keys (claims and done keys) from the file; returns
    /// how many. Expired keys count as absent anyway; this frees the space.
    pub async fn purge_expired(&self) -> Result<usize, StoreError> {
        let me = self.clone();
        run_blocking(move || me.purge_blocking()).await
    }

    fn purge_blocking(&self) -> Result<usize, StoreError> {
        let now = now_ms();
        self.write(|t| {
            let expired: Vec<String> = t
                .iter()
                .map_err(unavailable)?
                .filter_map(|r| {
                    let (k, v) = r.ok()?;
                    (v.value().0 <= now).then(|| k.value().to_owned())
                })
                .collect();
            for k in &expired {
                t.remove(k.as_str()).map_err(unavailable)?;
            }
            Ok(expired.len())
        })
    }

    /// One write transaction on the table, committed if `f` succeeds.
    fn write<R>(
        &self,
        f: impl FnOnce(&mut redb::Table<'_, &str, (u64, &str)>) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let tx = self.db.begin_write().map_err(unavailable)?;
        let r = {
            let mut table = tx.open_table(KEYS).map_err(unavailable)?;
            f(&mut table)?
        };
        tx.commit().map_err(unavailable)?;
        Ok(r)
    }

    /// The live entry of `key`: (expiry, owner).
    fn get(
        t: &redb::Table<'_, &str, (u64, &str)>,
        key: &str,
        now: u64,
    ) -> Result<Option<(u64, String)>, StoreError> {
        Ok(t.get(key).map_err(unavailable)?.and_then(|v| {
            let (exp, owner) = v.value();
            (exp > now).then(|| (exp, owner.to_owned()))
        }))
    }

    fn spawn<R: Send + 'static>(
        &self,
        f: impl FnOnce(&EmbeddedStore) -> Result<R, StoreError> + Send + 'static,
    ) -> BoxFuture<'static, Result<R, StoreError>> {
        let me = self.clone();
        Box::pin(run_blocking(move || f(&me)))
    }
}

async fn run_blocking<R: Send + 'static>(
    f: impl FnOnce() -> Result<R, StoreError> + Send + 'static,
) -> Result<R, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Unavailable(format!("the store's task failed: {e}")))?
}

impl DedupStore for EmbeddedStore {
    fn max_key_len(&self) -> usize {
        MAX_KEY_LEN
    }

    fn claim<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Claim, StoreError>> {
        let (key, owner) = (key.to_owned(), owner.to_owned());
        self.spawn(move |s| {
            s.write(|t| {
                let now = now_ms();
                match Self::get(t, &key, now)? {
                    Some((_, o)) if o.is_empty() => return Ok(Claim::Done),
                    Some((exp, o)) if o != owner => {
                        return Ok(Claim::Held {
                            expires_in: Duration::from_millis(exp - now),
                        });
                    }
                    _ => {}
                }
                t.insert(
                    key.as_str(),
                    (now.saturating_add(millis(lease)), owner.as_str()),
                )
                .map_err(unavailable)?;
                Ok(Claim::Acquired)
            })
        })
    }

    fn renew<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        lease: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let (key, owner) = (key.to_owned(), owner.to_owned());
        self.spawn(move |s| {
            s.write(|t| {
                let now = now_ms();
                match Self::get(t, &key, now)? {
                    Some((_, o)) if o == owner => {
                        t.insert(
                            key.as_str(),
                            (now.saturating_add(millis(lease)), owner.as_str()),
                        )
                        .map_err(unavailable)?;
                        Ok(true)
                    }
                    _ => Ok(false),
                }
            })
        })
    }

    fn release<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let (key, owner) = (key.to_owned(), owner.to_owned());
        self.spawn(move |s| {
            s.write(|t| {
                if let Some((_, o)) = Self::get(t, &key, now_ms())? {
                    if o == owner {
                        t.remove(key.as_str()).map_err(unavailable)?;
                    }
                }
                Ok(())
            })
        })
    }

    fn mark_done<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let key = key.to_owned();
        self.spawn(move |s| {
            s.write(|t| {
                t.insert(key.as_str(), (now_ms().saturating_add(millis(ttl)), ""))
                    .map_err(unavailable)?;
                Ok(())
            })
        })
    }

    fn is_done<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        let key = key.to_owned();
        self.spawn(move |s| {
            let tx = s.db.begin_read().map_err(unavailable)?;
            let t = match tx.open_table(KEYS) {
                Ok(t) => t,
                Err(e) => return Err(unavailable(e)),
            };
            let v = t.get(key.as_str()).map_err(unavailable)?;
            Ok(v.is_some_and(|v| {
                let (exp, owner) = v.value();
                owner.is_empty() && exp > now_ms()
            }))
        })
    }
}
