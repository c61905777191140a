//! What arrives from the shared store: live changes, applied to the index
//! the moment they are heard and written to the local file in batches; and
//! the batches the catch-up brings. Everything is checked like API input
//! first, and merged by the one rule, so arrival order does not matter.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::catch_up::BATCH;
use super::model::Revocation;
use super::service::{Revocations, blocking};
use super::store::StoreError;
use super::sync::SyncOp;

/// Entries heard but not yet written locally, at most. A flood beyond it
/// slows the channel reader (backpressure), never memory.
const PERSIST_QUEUE: usize = 16 * 1024;

impl Revocations {
    /// Something read from the shared store that is ignored: counted and
    /// logged, never applied.
    pub(crate) fn rejected(&self, why: &'static str, what: &str) {
        self.events.rejected_from_shared_store(why);
        tracing::warn!(why, "revocation fan-out: ignored {what}");
    }

    /// A revocation from the shared store, checked like API input and
    /// kept no longer than this replica keeps its own.
    fn admitted(&self, r: Revocation) -> Option<Revocation> {
        match r.admitted(self.clock.now_unix(), &self.rules) {
            Ok(r) => Some(r),
            Err(error) => {
                self.rejected(
                    "invalid",
                    &format!("a revocation that fails validation: {error}"),
                );
                None
            }
        }
    }

    /// Starts the task that writes heard changes to the local file, in
    /// arrival order, many per transaction. It ends when the service is
    /// dropped (it holds the service only weakly).
    pub(super) fn start_persister(self: &Arc<Self>) {
        let (tx, mut rx) = mpsc::channel::<SyncOp>(PERSIST_QUEUE);
        if self.persist.set(tx).is_err() {
            return;
        }
        let service = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < BATCH {
                    match rx.try_recv() {
                        Ok(op) => batch.push(op),
                        Err(_) => break,
                    }
                }
                let Some(svc) = service.upgrade() else { return };
                svc.persist(batch).await;
            }
        });
    }

    /// A change heard on the channel. A revocation goes into the index at
    /// once: that is what makes it effective; the file follows in the next
    /// batch. A lift is applied in order behind the revocations heard
    /// before it, so it cannot be overtaken by one of them.
    pub(crate) async fn apply_remote(&self, op: SyncOp) {
        let op = match op {
            SyncOp::Put { revocation } => {
                let Some(revocation) = self.admitted(revocation) else {
                    return;
                };
                self.index.apply(&revocation);
                if revocation.origin != self.origin() {
                    self.events
                        .propagated((self.clock.now_unix() - revocation.created_at).max(0.0));
                }
                SyncOp::Put { revocation }
            }
            lift => lift,
        };
        match self.persist.get() {
            Some(queue) => {
                let _ = queue.send(op).await;
            }
            None => self.persist(vec![op]).await,
        }
    }

    /// Writes heard changes in order: each run of revocations in one
    /// transaction, each run of lifts in another.
    async fn persist(&self, ops: Vec<SyncOp>) {
        let mut puts = Vec::new();
        let mut lifts = Vec::new();
        for op in ops {
            match op {
                SyncOp::Put { revocation } => {
                    if !lifts.is_empty() {
                        self.persist_lifts(std::mem::take(&mut lifts)).await;
                    }
                    puts.push(revocation);
                }
                SyncOp::Delete { id, revoked_at, .. } => {
                    if !puts.is_empty() {
                        self.persist_puts(std::mem::take(&mut puts)).await;
                    }
                    lifts.push((id, revoked_at));
                }
            }
        }
        self.persist_puts(puts).await;
        self.persist_lifts(lifts).await;
    }

    async fn persist_puts(&self, puts: Vec<Revocation>) {
        if puts.is_empty() {
            return;
        }
        let store = self.store.clone();
        if let Err(error) = blocking(move || store.put_merged_many(puts, false)).await {
            tracing::warn!(%error, "could not persist revocations from Redis; they stay in force here and Redis keeps them");
        }
    }

    async fn persist_lifts(&self, lifts: Vec<(String, Option<f64>)>) {
        match self.take_lifts(lifts).await {
            Ok(newer) => {
                for _ in 0..newer {
                    self.rejected("stale", "a lift older than the revocation it names");
                }
            }
            // Fail closed: the entries stay in force here.
            Err(error) => tracing::warn!(%error, "could not apply lifts from Redis"),
        }
    }

    /// A batch of revocations from the shared store: checked, applied and
    /// written in one transaction.
    pub(super) async fn take_remote(&self, batch: Vec<Revocation>) -> Result<(), StoreError> {
        let batch: Vec<Revocation> = batch.into_iter().filter_map(|r| self.admitted(r)).collect();
        if batch.is_empty() {
            return Ok(());
        }
        for r in &batch {
            self.index.apply(r);
        }
        let store = self.store.clone();
        blocking(move || store.put_merged_many(batch, false)).await?;
        Ok(())
    }

    /// Lifts from the shared store, each with the acceptance time of the
    /// revocation it was for: an entry is dropped only if it is not newer
    /// (a replayed old lift cannot undo a later revocation). One
    /// transaction; returns how many were refused as older than the entry.
    pub(super) async fn take_lifts(
        &self,
        lifts: Vec<(String, Option<f64>)>,
    ) -> Result<usize, StoreError> {
        if lifts.is_empty() {
            return Ok(0);
        }
        let store = self.store.clone();
        let outcome = blocking(move || store.drop_lifted(&lifts, lift_applies)).await?;
        for id in &outcome.dropped {
            self.index.remove(id);
        }
        Ok(outcome.newer)
    }

    /// Up to `limit` changes accepted here and not yet pushed.
    pub(super) async fn outbox_batch(&self, limit: usize) -> Result<Vec<SyncOp>, StoreError> {
        let store = self.store.clone();
        blocking(move || store.outbox(limit)).await
    }

    /// Those changes reached the shared store.
    pub(super) async fn outbox_pushed(&self, ops: Vec<SyncOp>) -> Result<(), StoreError> {
        let store: Arc<_> = self.store.clone();
        blocking(move || store.clear_outbox(&ops)).await
    }
}

/// Whether a lift of the revocation accepted at `revoked_at` drops the
/// local entry accepted at `created_at`: not when the entry is newer. A
/// lift that does not say (older replicas) applies.
fn lift_applies(revoked_at: Option<f64>, created_at: f64) -> bool {
    revoked_at.is_none_or(|lifted| created_at <= lifted)
}
