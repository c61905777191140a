//! Ids, requests, merges and the checks on entries from elsewhere.

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
    assert_eq!(good.clone().admitted(now, &RULES), Ok(good.clone()));
    let with = |f: &dyn Fn(&mut Revocation)| {
        let mut r = good.clone();
        f(&mut r);
        r.admitted(now, &RULES).unwrap_err()
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
    assert_eq!(
        far.admitted(now, &RULES),
        Err(RevocationError::CutoffTooLate)
    );
    assert_eq!(cutoff.clone().admitted(now, &RULES), Ok(cutoff));
    // From a replica whose clock is the leeway ahead: taken as they are.
    for kind in ["jti", "sid", "sub", "iss"] {
        let ahead = new(kind, None, None)
            .into_revocation(now + 30.0, &RULES, "b")
            .unwrap();
        assert_eq!(ahead.clone().admitted(now, &RULES), Ok(ahead), "{kind}");
    }
}

/// A replica with a longer lifetime or leeway (another config, mid
/// rollout) gives later expiries: taken, and kept as long as this replica
/// keeps its own, never refused.
#[test]
fn a_later_expiry_from_elsewhere_is_kept_as_long_as_here() {
    let now = 1000.0;
    let wider = ExpiryRules {
        max_token_lifetime: 7200.0,
        leeway: 300.0,
    };
    for kind in ["jti", "sid", "sub", "iss"] {
        let from_wider = new(kind, None, None)
            .into_revocation(now, &wider, "b")
            .unwrap();
        let here = new(kind, None, None)
            .into_revocation(now, &RULES, "a")
            .unwrap();
        let taken = from_wider.clone().admitted(now, &RULES).unwrap();
        assert!(taken.expires_at >= here.expires_at, "{kind}");
        assert!(taken.expires_at < from_wider.expires_at, "{kind}");
        assert_eq!(taken.target, from_wider.target, "{kind}");
        // Cut short here, it says so: restarted with the wider rules, this
        // replica extends it to at least what the wider replica keeps.
        assert_eq!(taken.max_token_lifetime, Some(3600.0), "{kind}");
        let restarted_wider = taken.widened_to(&wider);
        assert!(
            restarted_wider.expires_at >= from_wider.expires_at,
            "{kind}: {} < {}",
            restarted_wider.expires_at,
            from_wider.expires_at
        );
    }
    let mut planted = new("jti", None, None)
        .into_revocation(now, &RULES, "x")
        .unwrap();
    planted.expires_at = now + 1e12;
    let taken = planted.admitted(now, &RULES).unwrap();
    // Another replica's clock may be 5 min ahead: now + 300, then its
    // latest exp (+ 300 + 3600), then the largest leeway.
    assert_eq!(taken.expires_at, now + 300.0 + 300.0 + 3600.0 + 300.0);
}

#[test]
fn expiry_follows_the_kind() {
    let now = 1000.0;
    let jti = new("jti", None, Some(1600.0))
        .into_revocation(now, &RULES, "a")
        .unwrap();
    assert_eq!(
        jti.expires_at, 1900.0,
        "token exp + the largest leeway an issuer may have"
    );
    let capped = new("sid", None, Some(99999.0))
        .into_revocation(now, &RULES, "a")
        .unwrap();
    assert_eq!(
        capped.expires_at,
        now + 300.0 + 3600.0 + 300.0,
        "capped where a token issued by now, up to 5 min ahead, stops being accepted"
    );
    let default = new("jti", None, None)
        .into_revocation(now, &RULES, "a")
        .unwrap();
    assert_eq!(default.expires_at, capped.expires_at);
    let sub = new("sub", Some(900.0), None)
        .into_revocation(now, &RULES, "a")
        .unwrap();
    assert_eq!(
        sub.expires_at,
        900.0 + 3600.0 + 300.0,
        "cut-off + longest lifetime"
    );
    let iss = new("iss", None, None)
        .into_revocation(now, &RULES, "a")
        .unwrap();
    assert_eq!(
        iss.target.issued_before(),
        Some(now + 30.0),
        "tokens stamped up to the leeway ahead were issued before now too"
    );
    assert_eq!(iss.expires_at, now + 30.0 + 3600.0 + 300.0);
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

/// The longest token lifetime was raised since an entry was stored: its
/// expiry grows by the difference, wherever it is loaded or received.
#[test]
fn an_entry_is_widened_to_a_longer_lifetime() {
    let now = 1000.0;
    let longer = ExpiryRules {
        max_token_lifetime: 7200.0,
        leeway: 30.0,
    };
    for kind in ["jti", "sid", "sub", "iss"] {
        let stored = new(kind, None, None)
            .into_revocation(now, &RULES, "a")
            .unwrap();
        assert_eq!(stored.max_token_lifetime, Some(3600.0));
        let widened = stored.clone().widened_to(&longer);
        assert_eq!(widened.expires_at, stored.expires_at + 3600.0, "{kind}");
        assert_eq!(widened.max_token_lifetime, Some(7200.0));
        let fresh = new(kind, None, None)
            .into_revocation(now, &longer, "a")
            .unwrap();
        assert!(widened.expires_at >= fresh.expires_at, "{kind}");
        assert_eq!(
            stored.clone().admitted(now, &longer).unwrap().expires_at,
            widened.expires_at
        );
        // Never shortened, and an entry without a recorded lifetime is
        // taken as kept for the lifetime here.
        assert_eq!(widened.clone().widened_to(&RULES), widened);
        let mut unrecorded = stored.clone();
        unrecorded.max_token_lifetime = None;
        assert_eq!(unrecorded.clone().widened_to(&longer), unrecorded);
    }
}
