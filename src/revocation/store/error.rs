//! Why the revocation store failed.

/// Why the revocation store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("revocation store: {0}")]
    /// The database failed.
    Database(#[source] redb::Error),
    #[error("revocation store: cannot create {path}: {source}")]
    /// The store's directory could not be created.
    Directory {
        /// The directory.
        path: std::path::PathBuf,
        #[source]
        /// Why.
        source: std::io::Error,
    },
    #[error("revocation store: cannot encode a record: {0}")]
    /// A record could not be encoded.
    Encoding(#[source] serde_json::Error),
    #[error("revocation store: a background task failed: {0}")]
    /// The blocking task running a store operation failed.
    Task(#[source] tokio::task::JoinError),
    #[error("revocations.redis_url: {0}")]
    /// The Redis URL is invalid.
    RedisUrl(#[source] redis::RedisError),
    /// A write that should have stored an entry stored none.
    #[error("revocation store: a write stored nothing")]
    Empty,
    /// The system could not supply randomness for the replica's name.
    #[error("revocation store: no randomness for the replica id")]
    NoRandomness,
}

// redb has one error type per operation, all convertible into `redb::Error`;
// `?` on any of them lands here.
impl StoreError {
    /// Another process (or a not yet closed earlier instance) has the file
    /// open.
    pub fn is_in_use(&self) -> bool {
        matches!(self, StoreError::Database(redb::Error::DatabaseAlreadyOpen))
    }
}

impl<E: Into<redb::Error>> From<E> for StoreError {
    fn from(e: E) -> Self {
        StoreError::Database(e.into())
    }
}
