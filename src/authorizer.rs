//! The decision pipeline (README, "How a request is decided"), independent
//! of any protocol.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use http::HeaderName;

use crate::binding::{
    BindingContext, BindingError, Presentation, Proven, ReplayCaches, RequestUri, SenderConstraint,
    check_binding,
};
use crate::config::DefaultAction;
use crate::decision::{Allow, Decision, Deny, DenyReason};
use crate::policy::{AmbiguousPath, Policy, check_requirements, is_plain_host, routed_path};
use crate::rego::RequestDocument;
use crate::revocation::RevocationCheck;
use crate::snapshot::Snapshot;
use crate::telemetry::redact::OneValue;
use crate::token::{
    Scheme, TokenLimits, Verified, VerifiedClaims, check_token_characters, extract_bearer,
    extract_credentials, split_credentials,
};
use allow::{anonymous_allow, identified_allow, kept_allow};

/// Name reported for requests let through by `default_action: allow`.
pub const DEFAULT_POLICY_NAME: &str = "(default)";

/// The parts of a request the pipeline looks at.
#[derive(Debug, Default, Clone, Copy)]
pub struct CheckInput<'a> {
    /// The request's host as Envoy forwards it; normalised before policy matching.
    pub host: &'a str,
    /// Path without the query string.
    pub path: &'a str,
    /// The HTTP method.
    pub method: &'a str,
    /// The `Authorization` header; several arrive joined with `,`, which the bearer step refuses.
    pub authorization: Option<&'a str>,
    /// SPIFFE ID of the calling workload (Istio mTLS).
    pub principal: Option<&'a str>,
    /// A policy named explicitly by the route (`context_extensions`).
    pub policy_name: Option<&'a str>,
    /// The `x-request-id` header, for the decision log.
    pub request_id: Option<&'a str>,
    /// The whole request in OPA-Envoy's shape, for Rego policies; built
    /// only when a policy has Rego.
    pub request: Option<&'a dyn RequestDocument>,
    /// Envoy's `scheme` of the request, for a DPoP proof's `htu`.
    pub scheme: &'a str,
    /// `x-forwarded-proto`, used for `htu` only where an issuer trusts it.
    pub forwarded_proto: Option<&'a str>,
    /// The `DPoP` proof header (several arrive joined with `,`).
    pub dpop: Option<&'a str>,
    /// The client certificate of the connection (`source.certificate`).
    pub client_certificate: Option<&'a str>,
    /// Request header names with characters besides letters, digits and
    /// `-` (almost always none).
    pub punctuated_headers: &'a [&'a str],
}

impl<'a> CheckInput<'a> {
    /// What the request presented besides the token.
    fn presentation(&self) -> Presentation<'a> {
        Presentation {
            dpop: self.dpop,
            method: self.method,
            uri: RequestUri {
                scheme: self.scheme,
                forwarded_proto: self.forwarded_proto,
                host: self.host,
                path: self.path,
            },
            client_certificate: self.client_certificate,
        }
    }
}

/// Where every decision is reported: logs now, metrics and traces later.
pub trait DecisionRecorder: Send + Sync + 'static {
    /// Reports one decision and how long it took.
    fn record(&self, input: &CheckInput<'_>, decision: &Decision, elapsed: Duration);
}

/// The guarded header that one of `punctuated` names once folded as
/// CGI does: letters in one case, every other character as `_`. Guarded
/// names hold only letters, digits and `-` (a config rule), so a
/// punctuated name can never be the guarded header itself.
fn spoofed_guarded_header<'h>(
    punctuated: &[&str],
    guarded: &'h [HeaderName],
) -> Option<&'h HeaderName> {
    let fold = |b: u8| {
        if b.is_ascii_alphanumeric() {
            b.to_ascii_lowercase()
        } else {
            b'_'
        }
    };
    punctuated.iter().find_map(|seen| {
        guarded.iter().find(|name| {
            let name = name.as_str().as_bytes();
            name.len() == seen.len()
                && name
                    .iter()
                    .zip(seen.bytes())
                    .all(|(&n, s)| fold(n) == fold(s))
        })
    })
}

/// Logs one line per denial at info and per allow at debug. Never a token.
#[derive(Debug, Default)]
pub struct LogRecorder;

impl DecisionRecorder for LogRecorder {
    fn record(&self, input: &CheckInput<'_>, decision: &Decision, elapsed: Duration) {
        let micros = elapsed.as_micros() as u64;
        match decision {
            Decision::Allow(a) => tracing::debug!(
                decision = "allow",
                policy = %a.policy,
                issuer = a.claims.as_ref().map(|c| c.issuer()),
                kid = a.claims.as_ref().and_then(|c| c.kid()).map(OneValue).map(tracing::field::display),
                request_id = input.request_id.map(OneValue).map(tracing::field::display),
                micros,
                "allowed"
            ),
            Decision::Deny(d) => tracing::info!(
                decision = "deny",
                reason = d.reason.label(),
                detail = %DisplayReason(&d.reason),
                policy = d.policy.as_deref(),
                issuer = d.issuer.as_deref(),
                kid = d.kid.as_deref().map(OneValue).map(tracing::field::display),
                request_id = input.request_id.map(OneValue).map(tracing::field::display),
                method = %OneValue(input.method),
                path = %OneValue(input.path),
                micros,
                "denied"
            ),
        }
    }
}

struct DisplayReason<'a>(&'a DenyReason);

impl std::fmt::Display for DisplayReason<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The description is built to be shown to callers, so it is safe to log.
        f.write_str(&self.0.description())
    }
}

/// Runs the decision pipeline against the current snapshot.
pub struct Authorizer {
    snapshot: ArcSwap<Snapshot>,
    /// DPoP proofs seen; outlives snapshots so a reload forgets none.
    replay: ReplayCaches,
    revocations: Arc<dyn RevocationCheck>,
    recorder: Arc<dyn DecisionRecorder>,
}

impl Authorizer {
    /// An authorizer that decides with `snapshot` until a reload swaps in
    /// another. The time a decision is judged at is the snapshot's clock's.
    pub fn new(
        snapshot: Snapshot,
        revocations: Arc<dyn RevocationCheck>,
        recorder: Arc<dyn DecisionRecorder>,
    ) -> Self {
        Self {
            snapshot: ArcSwap::from_pointee(snapshot),
            replay: ReplayCaches::default(),
            revocations,
            recorder,
        }
    }

    /// The snapshot new decisions read.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Replaces the snapshot atomically; decisions under way finish on the old one.
    pub fn swap_snapshot(&self, snapshot: Snapshot) {
        self.snapshot.store(Arc::new(snapshot));
    }

    /// Decides and records the decision.
    pub async fn check(&self, input: &CheckInput<'_>) -> Decision {
        let started = Instant::now();
        let decision = self.decide(input).await;
        self.recorder.record(input, &decision, started.elapsed());
        decision
    }

    /// A denial recorded like any other, for requests the edge could not
    /// even turn into a `CheckInput`.
    pub fn record_denial(&self, reason: DenyReason) -> Decision {
        let decision = Decision::Deny(Deny::new(reason));
        self.recorder
            .record(&CheckInput::default(), &decision, Duration::ZERO);
        decision
    }

    async fn decide(&self, input: &CheckInput<'_>) -> Decision {
        let rt = self.snapshot.load();
        // 0. CGI-style stacks (PHP, WSGI, Rack, and the FastCGI front ends
        // before them) read `x_auth_subject` and `x.auth.subject` as
        // `x-auth-subject`, which Envoy forwards by default: a request
        // carrying such a spelling of a header zt-authz sets or strips
        // could smuggle a value past `headers_to_remove`, on any route.
        if let Some(name) = spoofed_guarded_header(input.punctuated_headers, &rt.guarded_headers) {
            return Decision::Deny(Deny::new(DenyReason::SpoofedIdentityHeader(name.clone())));
        }
        // A host URL parsers read as another one (`user@admin.example.com`,
        // `%61dmin.example.com`) would be matched as written but routed by
        // the workload as the other: refused, on any route.
        if !is_plain_host(input.host) {
            return Decision::Deny(Deny::new(DenyReason::UnreadableHost));
        }
        // 1. Policy selection.
        let policy =
            match input.policy_name {
                // A named policy is the route's choice, but the path it
                // is asked for must not climb out of it either.
                Some(_) if routed_path(input.path).is_err() => {
                    return Decision::Deny(Deny::new(DenyReason::AmbiguousPath));
                }
                Some(name) => rt.config.policies.by_name(name),
                None => match rt.config.policies.select_unambiguous(
                    input.host,
                    input.path,
                    input.method,
                ) {
                    Ok(policy) => policy,
                    Err(AmbiguousPath) => {
                        return Decision::Deny(Deny::new(DenyReason::AmbiguousPath));
                    }
                },
            };
        let Some(policy) = policy else {
            return match (input.policy_name, rt.config.default_action) {
                (Some(_), _) => Decision::Deny(Deny::new(DenyReason::UnknownPolicy)),
                (None, DefaultAction::Deny) => {
                    Decision::Deny(Deny::new(DenyReason::NoMatchingPolicy))
                }
                (None, DefaultAction::Allow) => {
                    Decision::Allow(anonymous_allow(&rt, Arc::from(DEFAULT_POLICY_NAME), false))
                }
            };
        };
        match self.decide_on(&rt, policy, input).await {
            Ok(allow) => Decision::Allow(allow),
            Err(mut deny) => {
                deny.policy = Some(policy.name.clone());
                deny.dpop_scheme = matches!(
                    extract_credentials(input.authorization, rt.config.server.max_token_bytes),
                    Ok((Scheme::Dpop, _))
                );
                Decision::Deny(deny)
            }
        }
    }

    /// Steps 2–11, once the policy is chosen.
    async fn decide_on(
        &self,
        rt: &Snapshot,
        policy: &Policy,
        input: &CheckInput<'_>,
    ) -> Result<Allow, Deny> {
        // 2. Calling workload.
        if !policy.allows_principal(input.principal) {
            return Err(Deny::new(DenyReason::PrincipalNotAllowed));
        }
        // 3. Anonymous routes read no token; their Rego (10b) still runs.
        if policy.anonymous {
            let allow = anonymous_allow(rt, policy.name.clone(), policy.remove_authorization);
            return rego_step::apply(policy, input, None, allow);
        }
        // 4–9. The token, verified, its binding proven and not revoked.
        let (verified, proven) = self
            .authenticate_presented(
                rt,
                input.authorization,
                &input.presentation(),
                policy.token_limits,
            )
            .await?;
        let Verified { claims, trust, now } = verified;
        if let Some(constraint) = policy.sender_constraint
            && !constraint.met_by(proven)
        {
            let what = match constraint {
                SenderConstraint::Dpop => "DPoP",
                SenderConstraint::Mtls => "mTLS",
                SenderConstraint::Any => "DPoP or mTLS",
            };
            return Err(Deny::about(
                DenyReason::Binding(BindingError::ConstraintRequired(what)),
                &claims,
            ));
        }
        // 10. Policy requirements.
        let leeway = trust.leeway.as_secs_f64();
        let rank = |acr: &str| rt.config.acr_rank(acr);
        if let Err(unmet) = check_requirements(policy, &claims, rank, now, leeway) {
            return Err(Deny::about(DenyReason::Unmet(unmet), &claims));
        }
        // 11. The answer kept from this token's last allow here, if the
        // policy has no Rego (which reads the request).
        let claims = if policy.rego.is_none() {
            match kept_allow(rt, policy, claims) {
                Ok(allow) => return Ok(allow),
                Err(claims) => claims,
            }
        } else {
            claims
        };
        // 10b, 11. The policy's Rego, then allow.
        let allow = identified_allow(rt, policy, claims.clone());
        rego_step::apply(policy, input, Some(&claims), allow)
    }

    /// Steps 4–9: one bearer token, verified (header, issuer, key,
    /// signature, claims, lifetime limits) and not revoked. `Check` and the
    /// admin API both authenticate callers through here, so neither can
    /// skip a step the other takes.
    pub async fn authenticate(
        &self,
        rt: &Snapshot,
        authorization: Option<&str>,
        limits: TokenLimits,
    ) -> Result<Arc<VerifiedClaims>, Deny> {
        let token = extract_bearer(authorization, rt.config.server.max_token_bytes)
            .map_err(|e| Deny::new(DenyReason::Bearer(e)))?;
        // Nothing but the token is presented: a bound token is refused.
        let nothing = Presentation::default();
        self.verify_presented(rt, Scheme::Bearer, token, &nothing, limits)
            .await
            .map(|(verified, _)| verified.claims)
    }

    /// Steps 4–9 for `Check`: a Bearer or DPoP token, with whatever proof
    /// of possession the request presented.
    async fn authenticate_presented(
        &self,
        rt: &Snapshot,
        authorization: Option<&str>,
        presented: &Presentation<'_>,
        limits: TokenLimits,
    ) -> Result<(Verified, Proven), Deny> {
        // The token's characters are checked only when it is not one
        // verified before: every stored token passed that check.
        let (scheme, token) = split_credentials(authorization, rt.config.server.max_token_bytes)
            .map_err(|e| Deny::new(DenyReason::Bearer(e)))?;
        self.verify_presented(rt, scheme, token, presented, limits)
            .await
    }

    /// Steps 5–9: verification, binding (8b), revocation.
    async fn verify_presented(
        &self,
        rt: &Snapshot,
        scheme: Scheme,
        token: &str,
        presented: &Presentation<'_>,
        limits: TokenLimits,
    ) -> Result<(Verified, Proven), Deny> {
        let verified = match rt.verifier.verify_cached(token, limits) {
            Some(result) => result,
            None => {
                check_token_characters(token).map_err(|e| Deny::new(DenyReason::Bearer(e)))?;
                rt.verifier.verify_uncached(token, limits).await
            }
        };
        let verified = verified.map_err(|rejected| Deny {
            reason: DenyReason::Token(rejected.error),
            policy: None,
            issuer: rejected.issuer,
            kid: rejected.kid,
            dpop_scheme: scheme == Scheme::Dpop,
        })?;
        // Revocation before the binding: a revoked token's proofs must not
        // use up room in the replay cache.
        if self.revocations.is_revoked(&verified.claims) {
            return Err(Deny::about(DenyReason::Revoked, &verified.claims));
        }
        let proven = self.check_binding(&verified, scheme, token, presented)?;
        Ok((verified, proven))
    }

    /// Step 8b: a bound token only with its proof of possession.
    fn check_binding(
        &self,
        verified: &Verified,
        scheme: Scheme,
        token: &str,
        presented: &Presentation<'_>,
    ) -> Result<Proven, Deny> {
        let cx = BindingContext {
            settings: &verified.trust.dpop,
            leeway: verified.trust.leeway,
            replay: &self.replay,
            now: verified.now,
        };
        check_binding(&verified.claims, scheme, token, presented, &cx)
            .map_err(|e| Deny::about(DenyReason::Binding(e), &verified.claims))
    }
}

mod allow;
mod rego_step;
#[cfg(test)]
mod tests;
