//! The revocation record, its identity and its lifetime rules.

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

/// What a revocation matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Target {
    /// One token, by `jti`.
    Jti {
        /// The `jti`.
        value: String,
    },
    /// One session, by `sid`.
    Sid {
        /// The `sid`.
        value: String,
    },
    /// Every token of a subject issued before a cut-off ("log out
    /// everywhere", account compromise).
    Sub {
        /// The `sub`.
        value: String,
        /// Tokens whose `iat` is before this are revoked.
        issued_before: f64,
    },
    /// Every token of an issuer issued before a cut-off (signing key
    /// compromise).
    Iss {
        /// The issuer.
        value: String,
        /// Tokens whose `iat` is before this are revoked.
        issued_before: f64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
/// The four kinds of revocation.
pub enum Kind {
    /// One token, by `jti`.
    Jti,
    /// One session, by `sid`.
    Sid,
    /// A subject's tokens issued before a cut-off.
    Sub,
    /// An issuer's tokens issued before a cut-off.
    Iss,
}

impl Kind {
    /// Every kind, in the order listings use.
    pub const ALL: [Kind; 4] = [Kind::Jti, Kind::Sid, Kind::Sub, Kind::Iss];

    /// The kind as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jti => "jti",
            Self::Sid => "sid",
            Self::Sub => "sub",
            Self::Iss => "iss",
        }
    }

    /// The kind the API spelling names, if any.
    pub fn parse(s: &str) -> Option<Kind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl Target {
    /// What kind of revocation this is.
    pub fn kind(&self) -> Kind {
        match self {
            Self::Jti { .. } => Kind::Jti,
            Self::Sid { .. } => Kind::Sid,
            Self::Sub { .. } => Kind::Sub,
            Self::Iss { .. } => Kind::Iss,
        }
    }

    /// The `jti`, `sid`, `sub` or issuer the revocation names.
    pub fn value(&self) -> &str {
        match self {
            Self::Jti { value }
            | Self::Sid { value }
            | Self::Sub { value, .. }
            | Self::Iss { value, .. } => value,
        }
    }

    /// The cut-off of a `sub` or `iss` revocation.
    pub fn issued_before(&self) -> Option<f64> {
        match self {
            Self::Sub { issued_before, .. } | Self::Iss { issued_before, .. } => {
                Some(*issued_before)
            }
            _ => None,
        }
    }
}

/// The index key of a (kind, issuer, value) triple: a 128-bit hash, so a
/// million entries cost a few dozen MiB. A collision could only deny a token
/// that was not revoked: the safe side. An entry bound to an issuer hashes
/// differently from an unbound one (`\x01` instead of `\0` after the
/// kind), so the index probes both.
pub fn index_key(kind: Kind, issuer: Option<&str>, value: &str) -> u128 {
    // Streamed, so the hot path hashes without allocating.
    let mut h = Xxh3::new();
    h.update(kind.as_str().as_bytes());
    match issuer {
        None => h.update(&[0]),
        Some(issuer) => {
            h.update(&[1]);
            h.update(issuer.as_bytes());
            h.update(&[0]);
        }
    }
    h.update(value.as_bytes());
    h.digest128()
}

/// A revocation's id: the same target always gets the same id, so a repeat
/// is an update, on every replica alike.
pub fn revocation_id(kind: Kind, issuer: Option<&str>, value: &str) -> String {
    format!("{:032x}", index_key(kind, issuer, value))
}

/// An id as the API and the store spell it: exactly 32 lower-case hex
/// digits. Any other spelling (`+…`, upper case, shorter) names nothing, so
/// it can neither find nor lift an entry.
pub fn parse_id(id: &str) -> Option<u128> {
    let canonical = id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    canonical
        .then(|| u128::from_str_radix(id, 16).ok())
        .flatten()
}

/// The one merge rule for a target revoked twice: the later cut-off and
/// the later expiry win. Merging never narrows a revocation, and the order
/// in which copies arrive does not matter.
pub fn later_cutoff(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// A stored revocation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Revocation {
    /// The id: a hash of kind, issuer and value.
    pub id: String,
    #[serde(flatten)]
    /// What it matches.
    pub target: Target,
    /// Only this issuer's tokens match; without one, every issuer's do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Unix seconds after which the entry is dropped: no token it matches
    /// can still be valid then.
    pub expires_at: f64,
    /// Unix seconds when a replica accepted it (for propagation delay).
    pub created_at: f64,
    /// The replica that accepted it.
    pub origin: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Why it was made, as the operator said.
    pub reason: Option<String>,
}

/// A revocation as an operator asks for it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRevocation {
    /// `jti`, `sid`, `sub` or `iss`.
    pub kind: String,
    /// The claim value to match.
    pub value: String,
    /// For `jti`, `sid` and `sub`: match only this issuer's tokens.
    #[serde(default)]
    pub issuer: Option<String>,
    /// For `sub` and `iss`: the cut-off (default: now).
    pub issued_before: Option<f64>,
    /// For `jti`: the revoked token's `exp`; for `sid`: when the session
    /// ends. Default and cap: now + the longest token lifetime allowed.
    pub expires_at: Option<f64>,
    /// Why, for the operator's records (at most 256 bytes).
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
/// Why a revocation request is refused.
pub enum RevocationError {
    #[error("kind must be one of jti, sid, sub, iss")]
    /// The kind is not one of the four.
    UnknownKind,
    #[error("value must be 1 to 1024 bytes")]
    /// The value is empty or longer than 1024 bytes.
    BadValue,
    #[error("issuer must be 1 to 1024 bytes")]
    /// The issuer is empty or longer than 1024 bytes.
    BadIssuer,
    #[error(
        "issuer applies only to jti, sid and sub (an iss revocation names its issuer as value)"
    )]
    /// An `iss` revocation was given an issuer.
    IssuerNotApplicable,
    #[error("the id does not belong to the revocation's target")]
    /// An entry's id does not match its target.
    WrongId,
    #[error("issued_before applies only to sub and iss")]
    /// A cut-off was given to a `jti` or `sid` revocation.
    CutoffNotApplicable,
    #[error("expires_at applies only to jti and sid")]
    /// An expiry was given to a `sub` or `iss` revocation.
    ExpiryNotApplicable,
    #[error("{0} must be a finite number of Unix seconds")]
    /// A time that is not a finite number.
    BadTime(&'static str),
    #[error("the revocation would already have expired")]
    /// The entry would expire before it is stored.
    AlreadyExpired,
    #[error("issued_before is further in the future than the longest token lifetime")]
    /// The cut-off lies beyond the longest token lifetime.
    CutoffTooLate,
    #[error("expires_at is further ahead than the longest token lifetime allows")]
    /// The expiry lies beyond what the lifetime rules allow.
    ExpiryTooLate,
    #[error("reason must be at most 256 bytes")]
    /// The reason is longer than 256 bytes.
    BadReason,
}

/// Lifetime rules: the README's "Revocation" table.
pub struct ExpiryRules {
    /// The longest token lifetime this deployment allows.
    pub max_token_lifetime: f64,
    /// Clock skew allowance added to every expiry.
    pub leeway: f64,
}

/// The checks on what a revocation names, shared by API input and by
/// entries that arrive from the shared store.
fn check_fields(
    kind: Kind,
    value: &str,
    issuer: Option<&str>,
    reason: Option<&str>,
) -> Result<(), RevocationError> {
    if value.is_empty() || value.len() > 1024 {
        return Err(RevocationError::BadValue);
    }
    if reason.is_some_and(|r| r.len() > 256) {
        return Err(RevocationError::BadReason);
    }
    match issuer {
        Some(_) if kind == Kind::Iss => Err(RevocationError::IssuerNotApplicable),
        Some(i) if i.is_empty() || i.len() > 1024 => Err(RevocationError::BadIssuer),
        _ => Ok(()),
    }
}

impl Revocation {
    /// The same target revoked again (here or on another replica): the
    /// later cut-off and expiry win; the rest is the newer copy's.
    pub fn merge(self, newer: Revocation) -> Revocation {
        let cutoff = later_cutoff(self.target.issued_before(), newer.target.issued_before());
        let target = match (newer.target, cutoff) {
            (Target::Sub { value, .. }, Some(issued_before)) => Target::Sub {
                value,
                issued_before,
            },
            (Target::Iss { value, .. }, Some(issued_before)) => Target::Iss {
                value,
                issued_before,
            },
            (t, _) => t,
        };
        Revocation {
            target,
            expires_at: self.expires_at.max(newer.expires_at),
            // The latest acceptance: a lift made before it does not apply.
            created_at: self.created_at.max(newer.created_at),
            ..newer
        }
    }

    /// Checks an entry that did not come through this replica's API (the
    /// shared store) as strictly as API input: the same field rules, an id
    /// that belongs to the target, finite times, and no expiry or cut-off
    /// further ahead than this replica would have allowed.
    pub fn check(&self, now: f64, rules: &ExpiryRules) -> Result<(), RevocationError> {
        let kind = self.target.kind();
        check_fields(
            kind,
            self.target.value(),
            self.issuer.as_deref(),
            self.reason.as_deref(),
        )?;
        if self.id != revocation_id(kind, self.issuer.as_deref(), self.target.value()) {
            return Err(RevocationError::WrongId);
        }
        for (name, t) in [
            ("expires_at", Some(self.expires_at)),
            ("created_at", Some(self.created_at)),
            ("issued_before", self.target.issued_before()),
        ] {
            if t.is_some_and(|t| !t.is_finite()) {
                return Err(RevocationError::BadTime(name));
            }
        }
        // Another replica's clock may run a little ahead: allow the leeway
        // once more than the API does.
        let skew = rules.leeway;
        let cap = now + rules.max_token_lifetime + skew;
        let longest = match self.target.issued_before() {
            Some(cutoff) if cutoff > cap => return Err(RevocationError::CutoffTooLate),
            Some(cutoff) => cutoff + rules.max_token_lifetime + rules.leeway + skew,
            None => cap + rules.leeway,
        };
        if self.expires_at > longest {
            return Err(RevocationError::ExpiryTooLate);
        }
        Ok(())
    }
}

impl NewRevocation {
    /// Checks a request and turns it into the entry to store, with its id and expiry.
    pub fn into_revocation(
        self,
        now: f64,
        rules: &ExpiryRules,
        origin: &str,
    ) -> Result<Revocation, RevocationError> {
        let kind = Kind::parse(&self.kind).ok_or(RevocationError::UnknownKind)?;
        check_fields(
            kind,
            &self.value,
            self.issuer.as_deref(),
            self.reason.as_deref(),
        )?;
        let finite = |v: Option<f64>, name| match v {
            Some(t) if !t.is_finite() => Err(RevocationError::BadTime(name)),
            other => Ok(other),
        };
        let issued_before = finite(self.issued_before, "issued_before")?;
        let expires_at = finite(self.expires_at, "expires_at")?;
        let cap = now + rules.max_token_lifetime;
        let (target, expires_at) = match kind {
            Kind::Jti | Kind::Sid => {
                if issued_before.is_some() {
                    return Err(RevocationError::CutoffNotApplicable);
                }
                let until = expires_at.unwrap_or(cap).min(cap) + rules.leeway;
                let value = self.value;
                let target = if kind == Kind::Jti {
                    Target::Jti { value }
                } else {
                    Target::Sid { value }
                };
                (target, until)
            }
            Kind::Sub | Kind::Iss => {
                if expires_at.is_some() {
                    return Err(RevocationError::ExpiryNotApplicable);
                }
                let cutoff = issued_before.unwrap_or(now);
                if cutoff > cap {
                    return Err(RevocationError::CutoffTooLate);
                }
                let until = cutoff + rules.max_token_lifetime + rules.leeway;
                let value = self.value;
                let target = if kind == Kind::Sub {
                    Target::Sub {
                        value,
                        issued_before: cutoff,
                    }
                } else {
                    Target::Iss {
                        value,
                        issued_before: cutoff,
                    }
                };
                (target, until)
            }
        };
        if expires_at <= now {
            return Err(RevocationError::AlreadyExpired);
        }
        Ok(Revocation {
            id: revocation_id(kind, self.issuer.as_deref(), target.value()),
            target,
            issuer: self.issuer,
            expires_at,
            created_at: now,
            origin: origin.to_string(),
            reason: self.reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: ExpiryRules = ExpiryRules {
        max_token_lifetime: 3600.0,
        leeway: 30.0,
    };

    fn new(kind: &str, issued_before: Option<f64>, expires_at: Option<f64>) -> NewRevocation {
        NewRevocation {
            kind: kind.into(),
            value: "v".into(),
            issuer: None,
            issued_before,
            expires_at,
            reason: None,
        }
    }

    fn bound(kind: &str, issuer: &str) -> NewRevocation {
        NewRevocation {
            issuer: Some(issuer.into()),
            ..new(kind, None, None)
        }
    }

    #[test]
    fn an_issuer_bound_entry_has_its_own_id() {
        let now = 1000.0;
        let unbound = new("sub", None, None)
            .into_revocation(now, &RULES, "a")
            .unwrap();
        let a = bound("sub", "https://a")
            .into_revocation(now, &RULES, "a")
            .unwrap();
        let b = bound("sub", "https://b")
            .into_revocation(now, &RULES, "a")
            .unwrap();
        assert_eq!(a.issuer.as_deref(), Some("https://a"));
        assert_ne!(a.id, unbound.id);
        assert_ne!(a.id, b.id);
        assert_eq!(a.id, revocation_id(Kind::Sub, Some("https://a"), "v"));
        // The unbound id is what it always was, so stored entries keep theirs.
        assert_eq!(
            unbound.id,
            format!("{:032x}", xxhash_rust::xxh3::xxh3_128(b"sub\0v"))
        );
        let err = |r: NewRevocation| r.into_revocation(now, &RULES, "a").unwrap_err();
        assert_eq!(
            err(bound("iss", "https://a")),
            RevocationError::IssuerNotApplicable
        );
        assert_eq!(err(bound("jti", "")), RevocationError::BadIssuer);
    }

    #[test]
    fn only_canonical_ids_parse() {
        let id = revocation_id(Kind::Jti, None, "v");
        assert_eq!(parse_id(&id), u128::from_str_radix(&id, 16).ok());
        for bad in [
            format!("+{}", &id[1..]),
            id.to_uppercase(),
            id[1..].to_string(),
            format!("{id}0"),
            format!(" {}", &id[1..]),
            String::new(),
        ] {
            assert_eq!(parse_id(&bad), None, "{bad}");
        }
    }

    #[test]
    fn merging_keeps_the_later_cutoff_and_expiry_in_any_order() {
        let early = new("sub", Some(900.0), None)
            .into_revocation(1000.0, &RULES, "a")
            .unwrap();
        let late = new("sub", Some(950.0), None)
            .into_revocation(1000.0, &RULES, "b")
            .unwrap();
        let one = early.clone().merge(late.clone());
        let other = late.clone().merge(early.clone());
        assert_eq!(one.target.issued_before(), Some(950.0));
        assert_eq!(other.target.issued_before(), Some(950.0));
        assert_eq!(one.expires_at, late.expires_at);
        assert_eq!(other.expires_at, late.expires_at);
    }

    #[test]
    fn entries_from_elsewhere_are_checked_like_api_input() {
        let now = 1000.0;
        let good = new("jti", None, Some(1600.0))
            .into_revocation(now, &RULES, "a")
            .unwrap();
        assert_eq!(good.check(now, &RULES), Ok(()));
        let with = |f: &dyn Fn(&mut Revocation)| {
            let mut r = good.clone();
            f(&mut r);
            r.check(now, &RULES).unwrap_err()
        };
        assert_eq!(
            with(&|r| r.id = revocation_id(Kind::Jti, None, "w")),
            RevocationError::WrongId
        );
        assert_eq!(
            with(&|r| r.expires_at = f64::INFINITY),
            RevocationError::BadTime("expires_at")
        );
        assert_eq!(
            with(&|r| r.expires_at = now + 1e9),
            RevocationError::ExpiryTooLate
        );
        assert_eq!(
            with(&|r| r.issuer = Some(String::new())),
            RevocationError::BadIssuer
        );
        let cutoff = new("sub", None, None)
            .into_revocation(now, &RULES, "a")
            .unwrap();
        let mut far = cutoff.clone();
        far.target = Target::Sub {
            value: "v".into(),
            issued_before: now + 1e9,
        };
        assert_eq!(far.check(now, &RULES), Err(RevocationError::CutoffTooLate));
        assert_eq!(cutoff.check(now, &RULES), Ok(()));
    }

    #[test]
    fn expiry_follows_the_kind() {
        let now = 1000.0;
        let jti = new("jti", None, Some(1600.0))
            .into_revocation(now, &RULES, "a")
            .unwrap();
        assert_eq!(jti.expires_at, 1630.0, "token exp + leeway");
        let capped = new("sid", None, Some(99999.0))
            .into_revocation(now, &RULES, "a")
            .unwrap();
        assert_eq!(
            capped.expires_at,
            now + 3600.0 + 30.0,
            "capped at the longest lifetime"
        );
        let sub = new("sub", Some(900.0), None)
            .into_revocation(now, &RULES, "a")
            .unwrap();
        assert_eq!(
            sub.expires_at,
            900.0 + 3600.0 + 30.0,
            "cut-off + longest lifetime"
        );
        let iss = new("iss", None, None)
            .into_revocation(now, &RULES, "a")
            .unwrap();
        assert_eq!(iss.target.issued_before(), Some(now));
        assert_eq!(jti.id, revocation_id(Kind::Jti, None, "v"));
        assert_ne!(jti.id, revocation_id(Kind::Sid, None, "v"));
    }

    #[test]
    fn bad_requests_are_refused() {
        let now = 1000.0;
        let err = |r: NewRevocation| r.into_revocation(now, &RULES, "a").unwrap_err();
        assert_eq!(err(new("token", None, None)), RevocationError::UnknownKind);
        assert_eq!(
            err(new("jti", Some(1.0), None)),
            RevocationError::CutoffNotApplicable
        );
        assert_eq!(
            err(new("sub", None, Some(1.0))),
            RevocationError::ExpiryNotApplicable
        );
        assert_eq!(
            err(new("jti", None, Some(100.0))),
            RevocationError::AlreadyExpired
        );
        assert_eq!(
            err(new("sub", Some(1e12), None)),
            RevocationError::CutoffTooLate
        );
        assert_eq!(
            err(new("jti", None, Some(f64::NAN))),
            RevocationError::BadTime("expires_at")
        );
        let mut empty = new("jti", None, None);
        empty.value.clear();
        assert_eq!(err(empty), RevocationError::BadValue);
    }

    #[test]
    fn wire_form() {
        let r = new("sub", Some(900.0), None)
            .into_revocation(1000.0, &RULES, "a")
            .unwrap();
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["kind"], "sub");
        assert_eq!(json["value"], "v");
        assert_eq!(json["issued_before"], 900.0);
        let back: Revocation = serde_json::from_value(json).unwrap();
        assert_eq!(back, r);
    }
}
