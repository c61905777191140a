//! Config reload without restart, on SIGHUP or when the file changes. A new
//! config is checked whole and swapped in atomically; a bad one is refused
//! and the running one keeps deciding.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::authorizer::Authorizer;
use crate::clock::SharedClock;
use crate::config::{AdminAuth, Config, ConfigErrors};
use crate::keys::{IssuerKeys, KeySource, KeyStatus};
use crate::revocation::{RevocationSettings, StoreSettings};
use crate::snapshot::Snapshot;

/// Reloads the config file into the running authorizer.
pub struct Reloader {
    path: Option<PathBuf>,
    /// Where the admin listener really is: a reload cannot move it.
    admin_bound: SocketAddr,
    authorizer: Arc<Authorizer>,
    client: reqwest::Client,
    clock: SharedClock,
    /// The file content last tried, so an unchanged file is not reloaded.
    last_seen: Mutex<Option<Vec<u8>>>,
    applied: watch::Sender<u64>,
    failures: AtomicU64,
}

/// Why a reload was refused; the running config stays in force.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The running config did not come from a file.
    #[error("no config file to reload from")]
    NoFile,
    /// The new file has errors.
    #[error(transparent)]
    Invalid(#[from] ConfigErrors),
    /// The new file allows unauthenticated admin calls on a listener that is not loopback.
    #[error("{0}")]
    Unsafe(#[from] ExposureError),
    /// The new file changes how revocations are stored or kept.
    #[error("{0}")]
    NeedsRestart(#[from] RevocationsChanged),
}

/// A `revocations` section that differs from the running one. Entries
/// already stored were given expiries under the running rules, and the
/// verifier must never accept tokens those entries would not outlive, so
/// the whole reload is refused rather than half applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "revocations.{key} differs from the running config{values}; the revocations section changes only on restart, so this reload is refused"
)]
pub struct RevocationsChanged {
    /// The first key that differs.
    pub key: &'static str,
    /// " (running now, wanted in the file)", or empty for a secret.
    values: String,
}

/// Whether `wanted` keeps revocations as `running` does. The leeway
/// compared is the one in force, which issuers' leeways may raise.
pub fn check_revocations_unchanged(
    running: &RevocationSettings,
    wanted: &RevocationSettings,
) -> Result<(), RevocationsChanged> {
    let dur = |d: std::time::Duration| humantime::format_duration(d).to_string();
    let differs = |key, running: String, wanted: String| {
        let values = if running.is_empty() {
            String::new()
        } else {
            format!(" ({running} now, {wanted} in the file)")
        };
        Err(RevocationsChanged { key, values })
    };
    if let Some((key, running, wanted)) = store_difference(&running.store, &wanted.store) {
        return differs(key, running, wanted);
    }
    if running.max_token_lifetime != wanted.max_token_lifetime {
        return differs(
            "max_token_lifetime",
            dur(running.max_token_lifetime),
            dur(wanted.max_token_lifetime),
        );
    }
    if running.leeway != wanted.leeway {
        // Usually not written at all, but raised by an issuer's leeway.
        return Err(RevocationsChanged {
            key: "leeway",
            values: format!(
                " ({} now, {} in the file, where it is at least every issuer's leeway)",
                dur(running.leeway),
                dur(wanted.leeway)
            ),
        });
    }
    if running.catch_up_timeout != wanted.catch_up_timeout {
        return differs(
            "catch_up_timeout",
            dur(running.catch_up_timeout),
            dur(wanted.catch_up_timeout),
        );
    }
    Ok(())
}

/// The first store setting that differs, with both values; empty values
/// for a Redis URL or key, which may carry a secret.
fn store_difference(
    running: &StoreSettings,
    wanted: &StoreSettings,
) -> Option<(&'static str, String, String)> {
    use StoreSettings::{Embedded, Memory, Redis};
    let kind = |s: &StoreSettings| match s {
        Memory => "memory",
        Embedded { .. } => "embedded",
        Redis { .. } => "redis",
    };
    let path = |s: &StoreSettings| match s {
        Memory => String::new(),
        Embedded { path } | Redis { path, .. } => path.display().to_string(),
    };
    if kind(running) != kind(wanted) {
        return Some(("store", kind(running).into(), kind(wanted).into()));
    }
    if path(running) != path(wanted) {
        return Some(("path", path(running), path(wanted)));
    }
    let (
        Redis {
            url,
            prefix,
            hmac_key,
            ..
        },
        Redis {
            url: new_url,
            prefix: new_prefix,
            hmac_key: new_key,
            ..
        },
    ) = (running, wanted)
    else {
        return None;
    };
    if url != new_url {
        Some(("redis_url", String::new(), String::new()))
    } else if prefix != new_prefix {
        Some(("redis_prefix", prefix.clone(), new_prefix.clone()))
    } else if hmac_key != new_key {
        Some(("redis_hmac_key_file", String::new(), String::new()))
    } else {
        None
    }
}

/// A config that would open the admin API to the network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "admin.unauthenticated needs the admin listener on a loopback address, but it is bound to {bound} (listen addresses change only on restart)"
)]
pub struct ExposureError {
    /// The address the admin listener is bound to.
    pub bound: SocketAddr,
}

/// The loopback rule, checked against the address actually bound: the
/// config's `server.admin_addr` is what the file says, not where the
/// listener is after a reload.
pub fn check_admin_exposure(config: &Config, bound: SocketAddr) -> Result<(), ExposureError> {
    match config.admin {
        AdminAuth::Unauthenticated if !bound.ip().is_loopback() => Err(ExposureError { bound }),
        _ => Ok(()),
    }
}

impl Reloader {
    /// A reloader for `path`; `admin_bound` is where the admin listener really listens.
    pub fn new(
        path: Option<PathBuf>,
        admin_bound: SocketAddr,
        authorizer: Arc<Authorizer>,
        client: reqwest::Client,
        clock: SharedClock,
    ) -> Self {
        let last_seen = path.as_ref().and_then(|p| std::fs::read(p).ok());
        Self {
            path,
            admin_bound,
            authorizer,
            client,
            clock,
            last_seen: Mutex::new(last_seen),
            applied: watch::Sender::new(0),
            failures: AtomicU64::new(0),
        }
    }

    /// Ticks once per applied reload.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.applied.subscribe()
    }

    /// How many reloads were applied.
    pub fn applied(&self) -> u64 {
        *self.applied.borrow()
    }

    /// How many reloads were refused.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Reads the file once, off the async runtime, and applies it if it is
    /// valid.
    pub async fn reload(&self) -> Result<(), ReloadError> {
        let path = self.path.as_ref().ok_or(ReloadError::NoFile)?;
        let owned = path.clone();
        let (bytes, loaded) = tokio::task::spawn_blocking(move || Config::read(&owned))
            .await
            .map_err(|_| ReloadError::NoFile)?;
        if let Some(bytes) = bytes {
            *self.last_seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(bytes);
        }
        let result = loaded.map_err(ReloadError::from).and_then(|config| {
            check_admin_exposure(&config, self.admin_bound)?;
            let running = self.authorizer.snapshot();
            check_revocations_unchanged(&running.config.revocations, &config.revocations)?;
            for warning in config.warnings() {
                tracing::warn!("{warning}");
            }
            self.apply(config);
            Ok(())
        });
        if result.is_ok() {
            self.reread_key_files().await;
        }
        match &result {
            Ok(()) => tracing::info!(path = %path.display(), "config reloaded"),
            Err(errors) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(path = %path.display(), %errors, "config reload rejected; the previous config stays in force");
            }
        }
        result
    }

    /// Key files are read again at every reload, even where the issuer's
    /// settings (the file's path) did not change: taking a key out of a
    /// `jwks_file` and reloading is how an operator withdraws it. A file
    /// that no longer reads leaves the last good keys in place, as any
    /// failed key refresh does, and says so in the log.
    async fn reread_key_files(&self) {
        let snapshot = self.authorizer.snapshot();
        let issuers = snapshot.verifier.issuers().map(|t| &t.keys);
        let transmitters = snapshot.transmitters.values().map(|t| &t.keys);
        for keys in issuers.chain(transmitters) {
            if let KeySource::File(path) = &keys.settings().source {
                keys.refresh().await;
                if !matches!(keys.status(), KeyStatus::Ready { .. }) {
                    // An operator withdrawing a key who left the file
                    // unreadable must not take the reload for done.
                    tracing::error!(file = %path.display(), "jwks_file could not be read at the reload; the last good keys stay in use");
                }
            }
        }
    }

    fn apply(&self, config: Config) {
        let current = self.authorizer.snapshot();
        let old = &current.config.server;
        if (old.grpc_addr, old.admin_addr) != (config.server.grpc_addr, config.server.admin_addr) {
            tracing::warn!("listen addresses changed; they take effect only after a restart");
        }
        let (snapshot, fresh) = Snapshot::build(config, Some(&current), &self.client, &self.clock);
        for keys in &fresh {
            tokio::spawn(IssuerKeys::run(Arc::downgrade(keys)));
        }
        self.authorizer.swap_snapshot(snapshot);
        self.applied.send_modify(|n| *n += 1);
    }

    /// Polls the file every `server.reload_interval` and reloads when its
    /// content changed. Polling, unlike inotify, also sees Kubernetes
    /// ConfigMap updates, which swap a symlink.
    pub async fn watch_file(self: Arc<Self>) {
        let Some(path) = self.path.clone() else {
            return;
        };
        loop {
            let interval = self.authorizer.snapshot().config.server.reload_interval;
            if interval.is_zero() {
                return;
            }
            tokio::time::sleep(interval).await;
            let current = tokio::fs::read(&path).await.ok();
            let changed = {
                let last = self.last_seen.lock().unwrap_or_else(|e| e.into_inner());
                current.is_some() && *last != current
            };
            if current.is_none() {
                tracing::warn!(path = %path.display(), "config file unreadable; keeping the running config");
            } else if changed {
                let _ = self.reload().await;
            }
        }
    }
}

/// Returns on SIGTERM or SIGINT; reloads on every SIGHUP meanwhile.
pub async fn wait_for_shutdown_signal(reloader: &Reloader) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        // Without signal handlers only Ctrl-C can stop us.
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => return,
            _ = tokio::signal::ctrl_c() => return,
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading config");
                let _ = reloader.reload().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;

    fn redis(url: &str) -> RevocationSettings {
        RevocationSettings {
            store: StoreSettings::Redis {
                path: PathBuf::from("/var/lib/r.redb"),
                url: url.into(),
                prefix: "zt".into(),
                hmac_key: None,
            },
            max_token_lifetime: Duration::from_secs(3600),
            leeway: Duration::from_secs(30),
            catch_up_timeout: Duration::from_secs(60),
        }
    }

    #[test]
    fn a_changed_redis_url_is_named_but_never_shown() {
        let running = redis("redis://:old-secret@r:6379");
        let wanted = redis("redis://:new-secret@r:6379");
        assert_eq!(
            check_revocations_unchanged(&running, &running.clone()),
            Ok(())
        );
        let err = check_revocations_unchanged(&running, &wanted)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("revocations.redis_url differs"), "{err}");
        assert!(!err.contains("secret"), "{err}");
        let longer = RevocationSettings {
            max_token_lifetime: Duration::from_secs(7200),
            ..running.clone()
        };
        let err = check_revocations_unchanged(&running, &longer)
            .unwrap_err()
            .to_string();
        assert!(err.contains("(1h now, 2h in the file)"), "{err}");
    }
}
