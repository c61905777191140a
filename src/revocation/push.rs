//! Writing changes to Redis: each as its key writes, published or (when
//! re-seeding what Redis lost) not, in pipelines.

use std::time::Duration;

use redis::aio::MultiplexedConnection;

use super::model::Revocation;
use super::sync::{RedisLink, SyncError, SyncOp, Tombstone};

const PUSH_TIMEOUT: Duration = Duration::from_secs(1);

/// Writes changes to Redis and publishes them, all in one pipeline.
pub(super) async fn push_with(
    conn: &mut MultiplexedConnection,
    link: &RedisLink,
    ops: &[SyncOp],
) -> Result<(), SyncError> {
    let mut pipe = redis::pipe();
    for op in ops {
        store_op(&mut pipe, link, op)?;
        pipe.cmd("PUBLISH")
            .arg(link.channel())
            .arg(link.sealer.seal(link.channel(), &op.to_json()?))
            .ignore();
    }
    run(conn, pipe, ops.len()).await
}

/// Writes entries to Redis without publishing them: for entries the other
/// replicas already hold, which Redis lost.
pub(super) async fn seed_with(
    conn: &mut MultiplexedConnection,
    link: &RedisLink,
    revocations: Vec<Revocation>,
) -> Result<(), SyncError> {
    let mut pipe = redis::pipe();
    let n = revocations.len();
    for revocation in revocations {
        store_op(&mut pipe, link, &SyncOp::Put { revocation })?;
    }
    run(conn, pipe, n).await
}

/// Runs a pipeline, allowing more time for longer ones. Redis refuses an
/// empty one, so that is not sent.
async fn run(
    conn: &mut MultiplexedConnection,
    pipe: redis::Pipeline,
    ops: usize,
) -> Result<(), SyncError> {
    if ops == 0 {
        return Ok(());
    }
    let limit = PUSH_TIMEOUT + Duration::from_micros(200 * ops as u64);
    tokio::time::timeout(limit, pipe.query_async::<()>(conn))
        .await
        .map_err(|_| SyncError::Timeout)??;
    Ok(())
}

/// The key writes of one change.
fn store_op(pipe: &mut redis::Pipeline, link: &RedisLink, op: &SyncOp) -> Result<(), SyncError> {
    match op {
        SyncOp::Put { revocation } => {
            let key = link.key(&revocation.id);
            let json = serde_json::to_string(revocation)?;
            let expire_ms = (revocation.expires_at * 1000.0).ceil() as u64;
            pipe.cmd("SET")
                .arg(&key)
                .arg(link.sealer.seal(&key, &json))
                .arg("PXAT")
                .arg(expire_ms)
                .ignore();
            pipe.cmd("DEL").arg(link.tombstone(&revocation.id)).ignore();
        }
        SyncOp::Delete {
            id,
            expires_at,
            revoked_at,
        } => {
            pipe.cmd("DEL").arg(link.key(id)).ignore();
            // Without a known expiry the tombstone lives a day, longer than
            // any token should.
            let until =
                expires_at.map_or_else(|| now_ms() + 86_400_000, |e| (e * 1000.0).ceil() as u64);
            let key = link.tombstone(id);
            let json = serde_json::to_string(&Tombstone {
                revoked_at: *revoked_at,
            })?;
            pipe.cmd("SET")
                .arg(&key)
                .arg(link.sealer.seal(&key, &json))
                .arg("PXAT")
                .arg(until)
                .ignore();
        }
    }
    Ok(())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
