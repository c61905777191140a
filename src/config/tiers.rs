//! Built-in sensitivity tiers.
//!
//! Short-lived tokens and stronger, fresher authentication as data gets more
//! sensitive, after NIST SP 800-207 (per-request, risk-based access) and
//! SP 800-63B (re-authentication for higher assurance levels). Operators may
//! redefine any tier, or add their own, under `tiers:`.

use std::collections::BTreeMap;
use std::time::Duration;

use super::file::{HumanDuration, TierFile};

/// The default ordered `acr` levels, weakest first. `mfa` and `phr`
/// (phishing-resistant, as in the OpenID EAP ACR values) are what the
/// built-in tiers require.
pub const DEFAULT_ACR_LEVELS: &[&str] = &["pwd", "mfa", "phr"];

fn minutes(m: u64) -> Option<HumanDuration> {
    Some(HumanDuration(Duration::from_secs(m * 60)))
}

pub fn builtin() -> BTreeMap<String, TierFile> {
    let mut tiers = BTreeMap::new();
    tiers.insert(
        "public".into(),
        TierFile {
            max_token_lifetime: minutes(60),
            ..TierFile::default()
        },
    );
    tiers.insert(
        "internal".into(),
        TierFile {
            max_token_lifetime: minutes(30),
            ..TierFile::default()
        },
    );
    tiers.insert(
        "confidential".into(),
        TierFile {
            max_token_lifetime: minutes(15),
            min_acr: Some("mfa".into()),
            ..TierFile::default()
        },
    );
    tiers.insert(
        "admin".into(),
        TierFile {
            max_token_lifetime: minutes(10),
            min_acr: Some("phr".into()),
            max_auth_age: minutes(5),
            remove_authorization: Some(true),
            ..TierFile::default()
        },
    );
    tiers
}
