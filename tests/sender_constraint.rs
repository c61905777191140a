//! Sender-constrained tokens end to end through a real Envoy: DPoP proofs
//! (replayed, stolen, foreign key, nonces) on a plain listener, and
//! certificate-bound tokens on a TLS listener with client certificates made
//! here (right, wrong, none).

// Tests and their fixtures may panic on broken set-up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{EchoUpstream, Envoy, KeyServer, TEST_SERVER, TestApp, TlsFiles, issuer_entry};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use serde_json::{Value, json};
use zt_authz::dev::{DevAlg, DevKeys};

fn config(ks: &KeyServer, nonce_ks: &KeyServer) -> String {
    let nonce_dpop =
        "    dpop: { require_nonce: true, nonce_key_file: nonce.key, algorithms: [ES256] }\n";
    format!(
        r#"{TEST_SERVER}issuers:
{}{}policies:
  - name: payments
    match: {{ path: {{ prefix: /payments }} }}
    sender_constraint: dpop
  - name: mesh
    match: {{ path: {{ prefix: /mesh }} }}
    sender_constraint: mtls
  - name: orders
    match: {{ path: {{ prefix: /orders }} }}
"#,
        issuer_entry(ks, ""),
        issuer_entry(nonce_ks, nonce_dpop)
    )
}

struct Answer {
    status: u16,
    challenges: Vec<String>,
    nonce: Option<String>,
    error: Value,
}

async fn send(
    client: &reqwest::Client,
    url: &str,
    authorization: &str,
    proof: Option<&str>,
) -> Answer {
    let mut req = client.get(url).header("authorization", authorization);
    if let Some(p) = proof {
        req = req.header("dpop", p);
    }
    let resp = req.send().await.unwrap();
    let challenges = resp
        .headers()
        .get_all("www-authenticate")
        .iter()
        .flat_map(|v| {
            v.to_str()
                .unwrap()
                .split("DPoP ")
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    let nonce = resp
        .headers()
        .get("dpop-nonce")
        .map(|v| v.to_str().unwrap().to_owned());
    Answer {
        status: resp.status().as_u16(),
        challenges,
        nonce,
        error: resp
            .json::<Value>()
            .await
            .map(|b| b["error"].clone())
            .unwrap_or(Value::Null),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dpop_through_envoy() {
    let ks = KeyServer::start("primary").await;
    let nonce_ks = KeyServer::start("noncer").await;
    let app =
        TestApp::start_with_files(&config(&ks, &nonce_ks), &[("nonce.key", &"k".repeat(40))]).await;
    let upstream = EchoUpstream::start().await;
    let envoy = Envoy::start(app.running.grpc_addr, upstream.addr).await;
    let client_key = DevKeys::generate("client").unwrap();
    let attacker = DevKeys::generate("attacker").unwrap();
    let http = reqwest::Client::new();
    let url = envoy.url("/payments/42");
    let bound = ks.token(json!({"cnf": {"jkt": client_key.jkt(DevAlg::ES256)}}));
    let proof = |token: &str, extra: Value| {
        client_key.dpop_proof(DevAlg::ES256, "GET", &url, token, &extra)
    };

    // The bound token with its proof.
    let p = proof(&bound, json!({}));
    let ok = send(&http, &url, &format!("DPoP {bound}"), Some(&p)).await;
    assert_eq!(ok.status, 200, "{:?}", ok.challenges);

    // The same proof again: a replay.
    let replay = send(&http, &url, &format!("DPoP {bound}"), Some(&p)).await;
    assert_eq!(
        (replay.status, replay.error.as_str()),
        (401, Some("invalid_dpop_proof"))
    );
    assert!(
        replay
            .challenges
            .iter()
            .any(|c| c.contains("error=\"invalid_dpop_proof\"") && c.contains("algs=")),
        "{:?}",
        replay.challenges
    );

    // Stolen: replayed as a plain bearer token, without the key.
    let stolen = send(&http, &url, &format!("Bearer {bound}"), None).await;
    assert_eq!(
        (stolen.status, stolen.error.as_str()),
        (401, Some("invalid_token"))
    );
    // … or with a proof made with the thief's own key.
    let forged = attacker.dpop_proof(DevAlg::ES256, "GET", &url, &bound, &json!({}));
    let thief = send(&http, &url, &format!("DPoP {bound}"), Some(&forged)).await;
    assert_eq!(
        (thief.status, thief.error.as_str()),
        (401, Some("invalid_dpop_proof"))
    );
    // A proof for another URL or method.
    let elsewhere = client_key.dpop_proof(
        DevAlg::ES256,
        "GET",
        &envoy.url("/payments/43"),
        &bound,
        &json!({}),
    );
    assert_eq!(
        send(&http, &url, &format!("DPoP {bound}"), Some(&elsewhere))
            .await
            .status,
        401
    );
    let post = client_key.dpop_proof(DevAlg::ES256, "POST", &url, &bound, &json!({}));
    assert_eq!(
        send(&http, &url, &format!("DPoP {bound}"), Some(&post))
            .await
            .status,
        401
    );

    // An unbound token in the DPoP scheme; a plain token where DPoP is required.
    let plain = ks.token(json!({}));
    let p = proof(&plain, json!({}));
    let unbound = send(&http, &url, &format!("DPoP {plain}"), Some(&p)).await;
    assert_eq!(
        (unbound.status, unbound.error.as_str()),
        (401, Some("invalid_token"))
    );
    let required = send(&http, &url, &format!("Bearer {plain}"), None).await;
    assert_eq!(
        (required.status, required.error.as_str()),
        (401, Some("invalid_token"))
    );
    // Both challenges: Bearer, and DPoP with the accepted algorithms.
    assert!(
        required
            .challenges
            .iter()
            .any(|c| c.starts_with("Bearer realm=")),
        "{:?}",
        required.challenges
    );
    assert!(
        required
            .challenges
            .iter()
            .any(|c| c.starts_with("realm=") && c.contains("algs=\"")),
        "{:?}",
        required.challenges
    );
    // Where no constraint is asked, plain bearer tokens work as before.
    assert_eq!(
        send(
            &http,
            &envoy.url("/orders/1"),
            &format!("Bearer {plain}"),
            None
        )
        .await
        .status,
        200
    );

    // An issuer that requires nonces: first a nonce, then the retry passes.
    let nonce_bound = nonce_ks.token(json!({"cnf": {"jkt": client_key.jkt(DevAlg::ES256)}}));
    let first = send(
        &http,
        &url,
        &format!("DPoP {nonce_bound}"),
        Some(&proof(&nonce_bound, json!({}))),
    )
    .await;
    assert_eq!(
        (first.status, first.error.as_str()),
        (401, Some("use_dpop_nonce"))
    );
    let nonce = first.nonce.expect("a DPoP-Nonce header");
    let retry = send(
        &http,
        &url,
        &format!("DPoP {nonce_bound}"),
        Some(&proof(&nonce_bound, json!({"nonce": nonce}))),
    )
    .await;
    assert_eq!(retry.status, 200);
    app.running.stop().await.unwrap();
}

/// A CA, a server certificate for 127.0.0.1 and two client certificates.
struct Pki {
    dir: tempfile::TempDir,
    ca_pem: String,
    clients: Vec<(String, String)>,
}

fn pki() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "zt-authz test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf = |names: Vec<String>, server: bool| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names.clone()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, names[0].as_str());
        if server {
            params
                .subject_alt_names
                .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        } else {
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        }
        (
            params.signed_by(&key, &issuer).unwrap().pem(),
            key.serialize_pem(),
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let (server_cert, server_key) = leaf(vec!["localhost".into()], true);
    std::fs::write(dir.path().join("server.pem"), server_cert).unwrap();
    std::fs::write(dir.path().join("server.key"), server_key).unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca_cert.pem()).unwrap();
    Pki {
        dir,
        ca_pem: ca_cert.pem(),
        clients: vec![
            leaf(vec!["client-a".into()], false),
            leaf(vec!["client-b".into()], false),
        ],
    }
}

fn x5t(cert_pem: &str) -> String {
    let encoded =
        percent_encoding::utf8_percent_encode(cert_pem, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    zt_authz::binding::certificate_thumbprint(&encoded).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_bound_tokens_through_envoy() {
    let ks = KeyServer::start("primary").await;
    let nonce_ks = KeyServer::start("noncer").await;
    let app =
        TestApp::start_with_files(&config(&ks, &nonce_ks), &[("nonce.key", &"k".repeat(40))]).await;
    let upstream = EchoUpstream::start().await;
    let pki = pki();
    let path = |f: &str| pki.dir.path().join(f).to_str().unwrap().to_owned();
    let tls = TlsFiles {
        server_cert: path("server.pem"),
        server_key: path("server.key"),
        ca: path("ca.pem"),
    };
    let envoy = Envoy::start_tls(app.running.grpc_addr, upstream.addr, &tls).await;
    let url = format!("https://127.0.0.1:{}/mesh/orders", envoy.addr.port());
    let ca = reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap();
    let client = |identity: Option<&(String, String)>| {
        let mut b = reqwest::Client::builder().add_root_certificate(ca.clone());
        if let Some((cert, key)) = identity {
            b = b.identity(reqwest::Identity::from_pem(format!("{cert}{key}").as_bytes()).unwrap());
        }
        b.build().unwrap()
    };
    let (a, b) = (client(Some(&pki.clients[0])), client(Some(&pki.clients[1])));
    let bound = ks.token(json!({"cnf": {"x5t#S256": x5t(&pki.clients[0].0)}}));
    let bearer = format!("Bearer {bound}");

    assert_eq!(send(&a, &url, &bearer, None).await.status, 200);
    let wrong = send(&b, &url, &bearer, None).await;
    assert_eq!(
        (wrong.status, wrong.error.as_str()),
        (401, Some("invalid_token"))
    );
    let none = send(&client(None), &url, &bearer, None).await;
    assert_eq!(
        (none.status, none.error.as_str()),
        (401, Some("invalid_token"))
    );
    // The route asks for mTLS: an unbound token fails even over a client certificate.
    let plain = format!("Bearer {}", ks.token(json!({})));
    assert_eq!(send(&a, &url, &plain, None).await.status, 401);
    // A bound token is refused on every route without its certificate, not just on /mesh.
    let orders = format!("https://127.0.0.1:{}/orders/1", envoy.addr.port());
    assert_eq!(send(&b, &orders, &bearer, None).await.status, 401);
    assert_eq!(send(&a, &orders, &bearer, None).await.status, 200);
    app.running.stop().await.unwrap();
}

/// Replay caches are per replica: a captured proof already used on A is
/// accepted once by B while its `iat` is in the window, then never again.
/// What the README says about replicas, pinned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proof_is_remembered_per_replica() {
    let ks = KeyServer::start("primary").await;
    let nonce_ks = KeyServer::start("noncer").await;
    let files = [("nonce.key", "k".repeat(40))];
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let a = TestApp::start_with_files(&config(&ks, &nonce_ks), &files).await;
    let b = TestApp::start_with_files(&config(&ks, &nonce_ks), &files).await;
    let client_key = DevKeys::generate("client").unwrap();
    let token = ks.token(json!({"cnf": {"jkt": client_key.jkt(DevAlg::ES256)}}));
    let proof = client_key.dpop_proof(
        DevAlg::ES256,
        "GET",
        "https://api.local/payments/1",
        &token,
        &json!({}),
    );
    let mut request = common::app::check_request("/payments/1", None);
    let http = common::app::http_mut(&mut request);
    http.scheme = "https".into();
    http.headers
        .insert("authorization".into(), format!("DPoP {token}"));
    http.headers.insert("dpop".into(), proof);
    let code = |r: envoy_types::pb::envoy::service::auth::v3::CheckResponse| r.status.unwrap().code;
    assert_eq!(code(a.check(&request).await), 0, "A: first use");
    assert_eq!(code(a.check(&request).await), 16, "A: replay");
    assert_eq!(code(b.check(&request).await), 0, "B has its own memory");
    assert_eq!(code(b.check(&request).await), 16, "B: replay");
    a.running.stop().await.unwrap();
    b.running.stop().await.unwrap();
}
