//! From SET events to revocations (README, "Shared Signals"): which events
//! act, on which subjects, with which cut-off.

use serde_json::{Map, Value};

use super::{SetClaims, SetError};
use crate::revocation::NewRevocation;

const CAEP: &str = "https://schemas.openid.net/secevent/caep/event-type/";
const RISC: &str = "https://schemas.openid.net/secevent/risc/event-type/";

/// The events this receiver knows, by short name (a metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// CAEP `session-revoked`.
    SessionRevoked,
    /// CAEP `credential-change`.
    CredentialChange,
    /// CAEP `assurance-level-change`.
    AssuranceLevelChange,
    /// RISC `account-disabled`.
    AccountDisabled,
    /// RISC `account-purged`.
    AccountPurged,
    /// RISC `sessions-revoked`.
    SessionsRevoked,
    /// Anything else: accepted, counted, not acted on.
    Other,
}

impl EventKind {
    fn of(uri: &str) -> Self {
        match (uri.strip_prefix(CAEP), uri.strip_prefix(RISC)) {
            (Some("session-revoked"), _) => Self::SessionRevoked,
            (Some("credential-change"), _) => Self::CredentialChange,
            (Some("assurance-level-change"), _) => Self::AssuranceLevelChange,
            (_, Some("account-disabled")) => Self::AccountDisabled,
            (_, Some("account-purged")) => Self::AccountPurged,
            (_, Some("sessions-revoked")) => Self::SessionsRevoked,
            _ => Self::Other,
        }
    }

    /// The label of the event a URI names.
    #[cfg(test)]
    pub(super) fn label_of(uri: &str) -> &'static str {
        Self::of(uri).label()
    }

    /// A short, fixed name for metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            Self::SessionRevoked => "session-revoked",
            Self::CredentialChange => "credential-change",
            Self::AssuranceLevelChange => "assurance-level-change",
            Self::AccountDisabled => "account-disabled",
            Self::AccountPurged => "account-purged",
            Self::SessionsRevoked => "sessions-revoked",
            Self::Other => "other",
        }
    }
}

/// What one event does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Revoke, as this request to the revocation service.
    Revoke(NewRevocation),
    /// Accepted and counted, nothing changes.
    Ignore,
}

/// The user and session a subject names, each with its token issuer.
#[derive(Debug, Default)]
struct Named {
    user: Option<(String, String)>,
    session: Option<(String, String)>,
}

/// One event of a SET: its kind, and what it does or why it cannot act.
pub type PlannedEvent = (EventKind, Result<Action, SetError>);

/// Every event of the SET with what it does, or why it cannot be acted
/// on: one event this receiver cannot map (a subject format it does not
/// know, say) does not stop the others. An `iss_sub` subject may only
/// name a user of one of the transmitter's `subject_issuers`: one identity
/// provider cannot revoke another's users. A `sub` cut-off covers every
/// token issued up to and including the second of the event's
/// `event_timestamp`, never later than `now + leeway`; without one, the
/// revocation's default (`now` + leeway). `leeway` is the revocations'
/// own, at least every issuer's.
pub fn plan(set: &SetClaims, now: f64, leeway: f64) -> Result<Vec<PlannedEvent>, SetError> {
    let events = set
        .claims
        .get("events")
        .and_then(Value::as_object)
        .filter(|e| !e.is_empty())
        .ok_or_else(|| SetError::request("the SET has no events"))?;
    Ok(events
        .iter()
        .map(|(uri, payload)| {
            let kind = EventKind::of(uri);
            (kind, plan_event(set, kind, payload, now, leeway))
        })
        .collect())
}

fn plan_event(
    set: &SetClaims,
    kind: EventKind,
    payload: &Value,
    now: f64,
    leeway: f64,
) -> Result<Action, SetError> {
    let settings = &set.transmitter.settings;
    let may_name = |iss: &str| settings.subject_issuers.iter().any(|s| s == iss);
    let payload = payload
        .as_object()
        .ok_or_else(|| SetError::request("an event's payload must be an object"))?;
    match kind {
        EventKind::Other => return Ok(Action::Ignore),
        EventKind::AssuranceLevelChange if !is_decrease(payload) => return Ok(Action::Ignore),
        _ => {}
    }
    let subject = payload
        .get("subject")
        .or_else(|| set.claims.get("sub_id"))
        .ok_or_else(|| SetError::request(format!("{} has no subject", kind.label())))?;
    let named = named(subject, &settings.subject_issuer, &may_name)?;
    // Token times are whole seconds: a token issued in the event's own
    // second may predate it, so that second is in.
    let at = payload
        .get("event_timestamp")
        .and_then(Value::as_f64)
        .filter(|t| t.is_finite())
        .map(|t| (t.floor() + 1.0).min(now + leeway));
    Ok(Action::Revoke(revocation(kind, named, at)?))
}

/// `change_direction: decrease` (in any case: a transmitter that spells it
/// `DECREASE` still means it), or, without it, a `current_level` given
/// with a `previous_level` (the safe reading of an unclear change).
fn is_decrease(payload: &Map<String, Value>) -> bool {
    match payload.get("change_direction").and_then(Value::as_str) {
        Some(d) => d.eq_ignore_ascii_case("decrease"),
        None => payload.contains_key("current_level") && payload.contains_key("previous_level"),
    }
}

fn revocation(kind: EventKind, named: Named, at: Option<f64>) -> Result<NewRevocation, SetError> {
    let reason = Some(format!("shared signal: {}", kind.label()));
    // A revoked session ends just that session; every other event ends
    // every token the user had before it.
    let by_session = kind == EventKind::SessionRevoked || named.user.is_none();
    match (by_session, named.session, named.user) {
        (true, Some((issuer, sid)), _) => Ok(NewRevocation {
            kind: "sid".into(),
            value: sid,
            issuer: Some(issuer),
            issued_before: None,
            expires_at: None,
            reason,
        }),
        (_, _, Some((issuer, sub))) => Ok(NewRevocation {
            kind: "sub".into(),
            value: sub,
            issuer: Some(issuer),
            issued_before: at,
            expires_at: None,
            reason,
        }),
        _ => Err(SetError::request(format!(
            "{}: the subject names no user or session",
            kind.label()
        ))),
    }
}

fn named(
    subject: &Value,
    default_issuer: &str,
    is_token_issuer: &impl Fn(&str) -> bool,
) -> Result<Named, SetError> {
    let s = subject
        .as_object()
        .ok_or_else(|| SetError::request("a subject must be an object"))?;
    match text(s, "format")? {
        "complex" => {
            let mut named = Named::default();
            if let Some(user) = s.get("user") {
                named.user = Some(simple(user, default_issuer, is_token_issuer)?);
            }
            // A session belongs to its user's issuer: an opaque session id
            // next to an `iss_sub` user is that issuer's session.
            let session_issuer = named
                .user
                .as_ref()
                .map_or(default_issuer, |(iss, _)| iss.as_str());
            if let Some(session) = s.get("session") {
                named.session = Some(simple(session, session_issuer, is_token_issuer)?);
            }
            Ok(named)
        }
        _ => Ok(Named {
            user: Some(simple(subject, default_issuer, is_token_issuer)?),
            session: None,
        }),
    }
}

/// An `iss_sub` or `opaque` subject as (token issuer, value).
fn simple(
    subject: &Value,
    default_issuer: &str,
    is_token_issuer: &impl Fn(&str) -> bool,
) -> Result<(String, String), SetError> {
    let s = subject
        .as_object()
        .ok_or_else(|| SetError::request("a subject must be an object"))?;
    match text(s, "format")? {
        "iss_sub" => {
            let iss = text(s, "iss")?;
            if !is_token_issuer(iss) {
                return Err(SetError::request(
                    "the subject's iss is not an issuer this transmitter may speak for (subject_issuers)",
                ));
            }
            Ok((iss.to_owned(), text(s, "sub")?.to_owned()))
        }
        "opaque" => Ok((default_issuer.to_owned(), text(s, "id")?.to_owned())),
        "email" | "phone_number" | "account" | "did" | "uri" | "aliases" => {
            Err(SetError::request(format!(
                "subjects in the {} format cannot be matched to tokens; send iss_sub, opaque or complex",
                text(s, "format")?
            )))
        }
        _ => Err(SetError::request(
            "unknown subject format; send iss_sub, opaque or complex",
        )),
    }
}

fn text<'a>(o: &'a Map<String, Value>, name: &str) -> Result<&'a str, SetError> {
    o.get(name)
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty() && v.len() <= 1024)
        .ok_or_else(|| SetError::request(format!("a subject needs a non-empty `{name}`")))
}
