//! What a replica does after (re)connecting to Redis, alongside the live
//! fan-out: push its own backlog, take every revocation and lift it missed,
//! and give Redis back what Redis lost. Everything moves in batches: one
//! `SCAN` page, one `MGET`, one pipeline and one local write transaction per
//! batch, never one per entry, and never the whole set in memory at once.

use std::sync::Weak;

use redis::aio::MultiplexedConnection;

use super::model::Revocation;
use super::push::{push_with, seed_with};
use super::service::Revocations;
use super::sync::{RedisLink, SyncError, SyncState, Tombstone};

/// Entries per batch.
pub(super) const BATCH: usize = 1000;

impl RedisLink {
    /// The catch-up, in order: our backlog out; theirs in; their lifts
    /// applied (this replica now knows everything it missed, so the first
    /// time it becomes ready); then what only we hold goes back to Redis.
    pub(super) async fn catch_up(
        &self,
        service: &Weak<Revocations>,
        mut conn: MultiplexedConnection,
    ) -> Result<(), SyncError> {
        self.flush_outbox(service, &mut conn).await?;
        self.take_revocations(service, &mut conn).await?;
        self.take_lifts(service, &mut conn).await?;
        self.initial_sync_done(SyncState::CatchingUp);
        self.reseed(service, &mut conn).await
    }

    /// Pushes what was accepted here while Redis was away.
    pub(super) async fn flush_outbox(
        &self,
        service: &Weak<Revocations>,
        conn: &mut MultiplexedConnection,
    ) -> Result<(), SyncError> {
        let mut previous: Option<String> = None;
        loop {
            let svc = service.upgrade().ok_or(SyncError::Stopped)?;
            let ops = svc.outbox_batch(BATCH).await?;
            let first = ops.first().map(|op| op.id().to_owned());
            if first.is_none() || first == previous {
                // Empty, or what was pushed could not be cleared: never spin;
                // the entries stay for the next flush.
                return Ok(());
            }
            push_with(conn, self, &ops).await?;
            svc.outbox_pushed(ops).await?;
            previous = first;
        }
    }

    async fn take_revocations(
        &self,
        service: &Weak<Revocations>,
        conn: &mut MultiplexedConnection,
    ) -> Result<(), SyncError> {
        let mut cursor = 0;
        loop {
            let (next, entries) = self.scan_page(conn, "rev", cursor).await?;
            let svc = service.upgrade().ok_or(SyncError::Stopped)?;
            let batch = entries
                .into_iter()
                .filter_map(|(key, value)| {
                    let parsed = self
                        .sealer
                        .open(&key, &value)
                        .ok()
                        .and_then(|json| serde_json::from_str::<Revocation>(json).ok());
                    if parsed.is_none() {
                        svc.rejected(
                            "unsealed",
                            "a stored revocation without a valid HMAC tag, or unreadable",
                        );
                    }
                    parsed
                })
                .collect();
            svc.take_remote(batch).await?;
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    async fn take_lifts(
        &self,
        service: &Weak<Revocations>,
        conn: &mut MultiplexedConnection,
    ) -> Result<(), SyncError> {
        let start = format!("{}:tomb:", self.prefix());
        let mut cursor = 0;
        loop {
            let (next, entries) = self.scan_page(conn, "tomb", cursor).await?;
            let svc = service.upgrade().ok_or(SyncError::Stopped)?;
            let mut lifts = Vec::with_capacity(entries.len());
            for (key, value) in entries {
                let tombstone = self
                    .sealer
                    .open(&key, &value)
                    .ok()
                    .and_then(|json| serde_json::from_str::<Tombstone>(json).ok());
                match (key.strip_prefix(&start), tombstone) {
                    (Some(id), Some(t)) => lifts.push((id.to_owned(), t.revoked_at)),
                    _ => svc.rejected(
                        "unsealed",
                        "a tombstone without a valid HMAC tag, or unreadable",
                    ),
                }
            }
            svc.take_lifts(lifts).await?;
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    /// Writes back, without publishing, every local entry Redis lacks (a
    /// Redis that restarted empty): a revocation is never dropped for want
    /// of a copy.
    async fn reseed(
        &self,
        service: &Weak<Revocations>,
        conn: &mut MultiplexedConnection,
    ) -> Result<(), SyncError> {
        let mut after = None;
        loop {
            let svc = service.upgrade().ok_or(SyncError::Stopped)?;
            let page = svc.list(None, after.take(), BATCH).await?;
            drop(svc);
            if page.items.is_empty() {
                return Ok(());
            }
            let mut exists = redis::pipe();
            for r in &page.items {
                exists.cmd("EXISTS").arg(self.key(&r.id));
            }
            let present: Vec<bool> = exists.query_async(conn).await?;
            let missing: Vec<Revocation> = page
                .items
                .into_iter()
                .zip(present)
                .filter_map(|(r, there)| (!there).then_some(r))
                .collect();
            if !missing.is_empty() {
                seed_with(conn, self, missing).await?;
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(()),
            }
        }
    }

    /// One `SCAN` page of `{prefix}:{space}:*` with the values, by `MGET`.
    async fn scan_page(
        &self,
        conn: &mut MultiplexedConnection,
        space: &str,
        cursor: u64,
    ) -> Result<(u64, Vec<(String, String)>), SyncError> {
        let pattern = format!("{}:{space}:*", self.prefix());
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(BATCH)
            .query_async(conn)
            .await?;
        if keys.is_empty() {
            return Ok((next, Vec::new()));
        }
        let values: Vec<Option<String>> = redis::cmd("MGET").arg(&keys).query_async(conn).await?;
        let entries = keys
            .into_iter()
            .zip(values)
            .filter_map(|(k, v)| Some((k, v?)))
            .collect();
        Ok((next, entries))
    }
}
