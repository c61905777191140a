//! The one way to wire the decision pipeline (revocations, the first
//! snapshot of config and keys, the authorizer): the service, the
//! benchmarks and the fuzz targets all build it here.

use std::sync::Arc;

use crate::authorizer::{Authorizer, DecisionRecorder};
use crate::clock::SharedClock;
use crate::config::Config;
use crate::keys::IssuerKeys;
use crate::revocation::{RevocationEvents, Revocations, StoreError};
use crate::snapshot::Snapshot;

/// A wired pipeline, not yet running anything in the background.
pub struct DecisionPipeline {
    /// Decides `Check` requests and authenticates admin callers.
    pub authorizer: Arc<Authorizer>,
    /// The revocation service the authorizer consults.
    pub revocations: Arc<Revocations>,
    /// Key stores whose refresh task has not been started.
    pub new_keys: Vec<Arc<IssuerKeys>>,
}

impl DecisionPipeline {
    /// Opens the revocation store, builds the first snapshot and the
    /// authorizer. Nothing is fetched or spawned yet.
    pub fn build(
        config: Config,
        client: &reqwest::Client,
        clock: SharedClock,
        recorder: Arc<dyn DecisionRecorder>,
        events: Arc<dyn RevocationEvents>,
    ) -> Result<Self, StoreError> {
        let revocations = Revocations::open(&config.revocations, clock.clone(), events)?;
        let (snapshot, new_keys) = Snapshot::build(config, None, client, &clock);
        let authorizer = Arc::new(Authorizer::new(snapshot, revocations.index(), recorder));
        Ok(Self {
            authorizer,
            revocations,
            new_keys,
        })
    }

    /// Fetches every new key store once, now, instead of starting refresh
    /// tasks: for benchmarks and fuzzing, where nothing runs in the
    /// background.
    pub async fn load_keys_now(&self) {
        for keys in &self.new_keys {
            keys.refresh().await;
        }
    }
}
