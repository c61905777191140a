//! The DEV ONLY issuer behind `zt-authz dev-issuer`: discovery, JWKS, a
//! token endpoint, and, for the walkthrough, a stand-in client key (DPoP
//! proofs) and a stand-in Shared Signals transmitter (SETs).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;

use super::{DevAlg, DevKeys};

struct IssuerState {
    issuer: String,
    keys: DevKeys,
    /// Stands in for a client's own DPoP key: a real client never hands
    /// its key to anyone.
    client: DevKeys,
}

#[derive(Deserialize)]
struct TokenQuery {
    sub: Option<String>,
    aud: Option<String>,
    scope: Option<String>,
    acr: Option<String>,
    sid: Option<String>,
    jti: Option<String>,
    /// Lifetime in seconds (default 300).
    ttl: Option<u64>,
    /// How long ago the user authenticated, in seconds (default 0).
    auth_age: Option<u64>,
    alg: Option<String>,
    /// `dpop`: bind the token to the stand-in client key (`cnf.jkt`).
    bind: Option<String>,
}

#[derive(Deserialize)]
struct ProofQuery {
    htm: String,
    htu: String,
    token: String,
}

#[derive(Deserialize)]
struct EventQuery {
    /// The audience naming the receiver.
    aud: String,
    sub: String,
    sid: Option<String>,
}

/// Routes: discovery, JWKS and `GET /token?sub=…&scope=…&acr=…`.
fn router(state: Arc<IssuerState>) -> Router {
    Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(|State(s): State<Arc<IssuerState>>| async move {
                Json(json!({"issuer": s.issuer, "jwks_uri": format!("{}/jwks.json", s.issuer)}))
            }),
        )
        .route(
            "/jwks.json",
            get(|State(s): State<Arc<IssuerState>>| async move { Json(s.keys.jwks()) }),
        )
        .route("/token", get(mint))
        .route("/dpop-proof", get(dpop_proof))
        .route("/ssf/session-revoked", get(session_revoked))
        .with_state(state)
}

async fn mint(
    State(s): State<Arc<IssuerState>>,
    Query(q): Query<TokenQuery>,
) -> Result<String, (StatusCode, String)> {
    let alg = match q.alg.as_deref().unwrap_or("RS256") {
        "RS256" => DevAlg::RS256,
        "ES256" => DevAlg::ES256,
        "EdDSA" => DevAlg::EdDSA,
        other => {
            return Err((
                StatusCode::BAD_REQUEST,
                format!("alg {other} is not one of RS256, ES256, EdDSA\n"),
            ));
        }
    };
    let now = crate::clock::Clock::now_unix(&crate::clock::SystemClock).floor() as u64;
    let mut claims = json!({
        "iss": s.issuer,
        "sub": q.sub.unwrap_or_else(|| "dev-user".into()),
        "aud": q.aud.unwrap_or_else(|| "dev-api".into()),
        "iat": now,
        "exp": now + q.ttl.unwrap_or(300),
        "auth_time": now - q.auth_age.unwrap_or(0).min(now),
        "jti": match q.jti {
            Some(jti) => jti,
            None => format!("dev-{now}-{}", rand_suffix()?),
        },
    });
    for (name, value) in [("scope", q.scope), ("acr", q.acr), ("sid", q.sid)] {
        if let Some(v) = value {
            claims[name] = json!(v);
        }
    }
    match q.bind.as_deref() {
        None => {}
        Some("dpop") => claims["cnf"] = json!({"jkt": s.client.jkt(DevAlg::ES256)}),
        Some(other) => {
            return Err((
                StatusCode::BAD_REQUEST,
                format!("bind={other}: only dpop\n"),
            ));
        }
    }
    Ok(s.keys.mint(alg, &claims) + "\n")
}

/// `GET /dpop-proof?htm=…&htu=…&token=…`: a proof made with the stand-in
/// client key, as the client itself would make it.
async fn dpop_proof(State(s): State<Arc<IssuerState>>, Query(q): Query<ProofQuery>) -> String {
    s.client
        .dpop_proof(DevAlg::ES256, &q.htm, &q.htu, &q.token, &json!({}))
        + "\n"
}

/// `GET /ssf/session-revoked?aud=…&sub=…&sid=…`: a CAEP session-revoked
/// SET from this issuer acting as a Shared Signals transmitter.
async fn session_revoked(
    State(s): State<Arc<IssuerState>>,
    Query(q): Query<EventQuery>,
) -> Result<String, (StatusCode, String)> {
    let now = crate::clock::Clock::now_unix(&crate::clock::SystemClock).floor() as u64;
    let user = json!({"format": "iss_sub", "iss": s.issuer, "sub": q.sub});
    let subject = match q.sid {
        Some(sid) => {
            json!({"format": "complex", "user": user, "session": {"format": "opaque", "id": sid}})
        }
        None => user,
    };
    let claims = json!({
        "iss": s.issuer,
        "aud": q.aud,
        "iat": now,
        "jti": format!("set-{now}-{}", rand_suffix()?),
        "events": {"https://schemas.openid.net/secevent/caep/event-type/session-revoked": {
            "subject": subject, "event_timestamp": now
        }},
    });
    Ok(s.keys.security_event(DevAlg::ES256, &claims) + "\n")
}

/// A random `jti` suffix; without randomness there is no token.
fn rand_suffix() -> Result<u64, (StatusCode, String)> {
    let mut bytes = [0u8; 8];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "no randomness for a jti\n".to_string(),
        )
    })?;
    Ok(u64::from_le_bytes(bytes))
}

/// Serves the dev issuer on a loopback address until the process ends.
/// The issuer URL is `http://<bound address>`.
pub async fn serve_dev_issuer(addr: SocketAddr) -> std::io::Result<()> {
    if !addr.ip().is_loopback() {
        return Err(std::io::Error::other(
            "the dev issuer only binds loopback addresses",
        ));
    }
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let issuer = format!("http://{bound}");
    let generate = |prefix| {
        DevKeys::generate(prefix).map_err(|_| std::io::Error::other("key generation failed"))
    };
    let (keys, client) = (generate("dev")?, generate("client")?);
    println!("DEV ONLY issuer {issuer} (keys generated in memory; token endpoint {issuer}/token)");
    let state = Arc::new(IssuerState {
        issuer,
        keys,
        client,
    });
    axum::serve(listener, router(state)).await
}
