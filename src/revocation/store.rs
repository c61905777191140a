//! The durable local store: a redb file (or memory, for tests). Every write
//! commits with fsync before the API answers, so an accepted revocation
//! survives a restart. The outbox holds operations not yet pushed to Redis.

use std::path::Path;
use std::sync::Mutex;

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use super::model::{Kind, Revocation};
use super::sync::SyncOp;

const REVOCATIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("revocations");
const CACHE_BYTES: usize = 32 * 1024 * 1024;
const OUTBOX: TableDefinition<&str, &[u8]> = TableDefinition::new("outbox");

/// Why the revocation store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("revocation store: {0}")]
    Database(#[source] redb::Error),
    #[error("revocation store: cannot create {path}: {source}")]
    Directory {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("revocation store: cannot encode a record: {0}")]
    Encoding(#[source] serde_json::Error),
    #[error("revocation store: a background task failed: {0}")]
    Task(#[source] tokio::task::JoinError),
    #[error("revocations.redis_url: {0}")]
    RedisUrl(#[source] redis::RedisError),
}

// redb has one error type per operation, all convertible into `redb::Error`;
// `?` on any of them lands here.
impl<E: Into<redb::Error>> From<E> for StoreError {
    fn from(e: E) -> Self {
        StoreError::Database(e.into())
    }
}

pub struct EmbeddedStore {
    db: Database,
    /// redb allows one writer at a time; this keeps the wait in our code.
    write: Mutex<()>,
}

/// One page of a listing.
pub struct Page {
    pub items: Vec<Revocation>,
    /// Pass as `after` to get the next page.
    pub next: Option<String>,
}

impl EmbeddedStore {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Directory {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        // redb's default page cache is 1 GiB; the index in memory is what
        // the hot path reads, so the file only needs a modest cache.
        Self::init(
            Database::builder()
                .set_cache_size(CACHE_BYTES)
                .create(path)?,
        )
    }

    /// Not durable; for tests and `store: memory`.
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Database::builder().create_with_backend(redb::backends::InMemoryBackend::new())?)
    }

    fn init(db: Database) -> Result<Self, StoreError> {
        let tx = db.begin_write()?;
        tx.open_table(REVOCATIONS)?;
        tx.open_table(OUTBOX)?;
        tx.commit()?;
        Ok(Self {
            db,
            write: Mutex::new(()),
        })
    }

    fn with_write<T>(
        &self,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let _one_writer = self.write.lock().unwrap_or_else(|e| e.into_inner());
        let tx = self.db.begin_write()?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Stores a revocation merged (`Revocation::merge`) with the copy
    /// already there, read and written in one transaction so that two
    /// concurrent revocations of one target cannot leave the narrower one
    /// on disk. With `outbox`, also remembers to push the result to the
    /// shared store. Returns what was stored.
    pub fn put_merged(&self, r: Revocation, outbox: bool) -> Result<Revocation, StoreError> {
        self.with_write(|tx| {
            let mut table = tx.open_table(REVOCATIONS)?;
            let old = table
                .get(r.id.as_str())?
                .and_then(|v| serde_json::from_slice::<Revocation>(v.value()).ok());
            let merged = match old {
                Some(old) => old.merge(r),
                None => r,
            };
            let json = serde_json::to_vec(&merged).map_err(StoreError::Encoding)?;
            table.insert(merged.id.as_str(), json.as_slice())?;
            if outbox {
                let op = SyncOp::Put {
                    revocation: merged.clone(),
                }
                .to_json()
                .map_err(StoreError::Encoding)?;
                tx.open_table(OUTBOX)?
                    .insert(merged.id.as_str(), op.as_bytes())?;
            }
            Ok(merged)
        })
    }

    /// Removes a revocation; returns whether it existed.
    pub fn delete(&self, id: &str, outbox: bool) -> Result<bool, StoreError> {
        let lifted = if outbox { self.get(id)? } else { None };
        let op = outbox
            .then(|| {
                SyncOp::Delete {
                    id: id.to_string(),
                    expires_at: lifted.as_ref().map(|r| r.expires_at),
                    revoked_at: lifted.as_ref().map(|r| r.created_at),
                }
                .to_json()
            })
            .transpose()
            .map_err(StoreError::Encoding)?;
        self.with_write(|tx| {
            let existed = tx.open_table(REVOCATIONS)?.remove(id)?.is_some();
            if let Some(op) = &op {
                tx.open_table(OUTBOX)?.insert(id, op.as_bytes())?;
            }
            Ok(existed)
        })
    }

    pub fn get(&self, id: &str) -> Result<Option<Revocation>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(REVOCATIONS)?;
        Ok(table
            .get(id)?
            .and_then(|v| serde_json::from_slice(v.value()).ok()))
    }

    /// Every unexpired revocation; expired ones are deleted on the way.
    pub fn load_all(&self, now: f64) -> Result<Vec<Revocation>, StoreError> {
        self.sweep(now)?;
        let tx = self.db.begin_read()?;
        let table = tx.open_table(REVOCATIONS)?;
        let mut all = Vec::with_capacity(table.len()? as usize);
        for item in table.iter()? {
            let (_, v) = item?;
            // A record this version cannot read is skipped, not fatal.
            if let Ok(r) = serde_json::from_slice::<Revocation>(v.value()) {
                all.push(r);
            }
        }
        Ok(all)
    }

    /// Calls `f` with every unexpired revocation, one at a time, so that
    /// loading a million entries never holds them all as records at once.
    pub fn for_each_live(&self, now: f64, mut f: impl FnMut(Revocation)) -> Result<(), StoreError> {
        self.sweep(now)?;
        let tx = self.db.begin_read()?;
        let table = tx.open_table(REVOCATIONS)?;
        for item in table.iter()? {
            let (_, v) = item?;
            if let Ok(r) = serde_json::from_slice::<Revocation>(v.value()) {
                f(r);
            }
        }
        Ok(())
    }

    /// Stores many revocations in one transaction (bulk import).
    pub fn put_many(&self, revocations: &[Revocation]) -> Result<(), StoreError> {
        self.with_write(|tx| {
            let mut table = tx.open_table(REVOCATIONS)?;
            for r in revocations {
                let json = serde_json::to_vec(r).map_err(StoreError::Encoding)?;
                table.insert(r.id.as_str(), json.as_slice())?;
            }
            Ok(())
        })
    }

    pub fn sweep(&self, now: f64) -> Result<(), StoreError> {
        self.with_write(|tx| {
            tx.open_table(REVOCATIONS)?.retain(|_, v| {
                serde_json::from_slice::<Revocation>(v).map_or(true, |r| r.expires_at > now)
            })?;
            Ok(())
        })
    }

    /// Revocations in id order after `after`, optionally of one kind.
    pub fn list(
        &self,
        kind: Option<Kind>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(REVOCATIONS)?;
        let range = match after {
            Some(a) => {
                table.range::<&str>((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded))?
            }
            None => table.range::<&str>(..)?,
        };
        let mut items = Vec::new();
        let mut more = false;
        for item in range {
            let (_, v) = item?;
            let Ok(r) = serde_json::from_slice::<Revocation>(v.value()) else {
                continue;
            };
            if kind.is_some_and(|k| r.target.kind() != k) {
                continue;
            }
            if items.len() == limit {
                more = true;
                break;
            }
            items.push(r);
        }
        let next = if more {
            items.last().map(|r| r.id.clone())
        } else {
            None
        };
        Ok(Page { items, next })
    }

    pub fn outbox(&self) -> Result<Vec<SyncOp>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(OUTBOX)?;
        let mut ops = Vec::new();
        for item in table.iter()? {
            let (_, v) = item?;
            if let Ok(op) = serde_json::from_slice(v.value()) {
                ops.push(op);
            }
        }
        Ok(ops)
    }

    /// Forgets a pushed operation, unless a newer one for the same id
    /// replaced it meanwhile.
    pub fn clear_outbox(&self, op: &SyncOp) -> Result<(), StoreError> {
        let json = op.to_json().map_err(StoreError::Encoding)?;
        self.with_write(|tx| {
            let mut table = tx.open_table(OUTBOX)?;
            let same = table
                .get(op.id())?
                .is_some_and(|v| v.value() == json.as_bytes());
            if same {
                table.remove(op.id())?;
            }
            Ok(())
        })
    }
}
