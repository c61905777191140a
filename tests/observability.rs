//! Metrics, decision logs and traces, as an operator's tools see them.

// Tests and their fixtures may panic on broken set-up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};

use common::app::check_request;
use common::process::{BIN, ChildGuard, connect, on_free_ports};
use common::{KeyServer, TestApp, standard_config};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use serde_json::json;

/// The value of the sample `name{labels}` (labels as rendered), if present.
fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name_and_labels) && l[name_and_labels.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn metrics_cover_decisions_keys_cache_revocations_and_reloads() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let yaml = standard_config(&ks, &other) + "\nadmin:\n  unauthenticated: true\n";
    let app = TestApp::start(&yaml).await;
    let token = ks.token(json!({"sub": "alice-secret-subject", "jti": "jti-secret-value"}));
    for _ in 0..2 {
        app.check(&check_request("/orders", Some(&token))).await;
    }
    app.check(&check_request("/orders", None)).await;
    let revoke = json!({"kind": "jti", "value": "jti-secret-value"});
    let created = reqwest::Client::new()
        .post(format!("{}/v1/revocations", app.admin_url()))
        .json(&revoke)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    app.check(&check_request("/orders", Some(&token))).await;
    let scrape = || async {
        let resp = reqwest::get(format!("{}/metrics", app.admin_url()))
            .await
            .unwrap();
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        resp.text().await.unwrap()
    };
    let before_reload = scrape().await;
    // A reload starts a new token cache: its counters begin again.
    assert_eq!(
        sample(&before_reload, "zt_authz_token_cache_hits_total"),
        Some(2.0)
    );
    app.running.reloader.reload().await.unwrap();
    std::fs::write(&app.config_path, "not: [valid").unwrap();
    assert!(app.running.reloader.reload().await.is_err());
    let text = scrape().await;
    let iss = ks.issuer();
    for (series, expected) in [
        (
            r#"zt_authz_decisions_total{policy="orders-read",reason="allowed",result="allow"}"#,
            2.0,
        ),
        (
            r#"zt_authz_decisions_total{policy="orders-read",reason="missing_token",result="deny"}"#,
            1.0,
        ),
        (
            r#"zt_authz_decisions_total{policy="orders-read",reason="token_revoked",result="deny"}"#,
            1.0,
        ),
        ("zt_authz_check_duration_seconds_count", 4.0),
        (&format!(r#"zt_authz_jwks_keys{{issuer="{iss}"}}"#), 3.0),
        ("zt_authz_token_cache_hits_total", 0.0),
        ("zt_authz_revocations_active{kind=\"jti\"}", 1.0),
        ("zt_authz_revocations_active{kind=\"sub\"}", 0.0),
        ("zt_authz_config_reloads_total{outcome=\"success\"}", 1.0),
        ("zt_authz_config_reloads_total{outcome=\"failure\"}", 1.0),
        (
            &format!(
                r#"zt_authz_build_info{{version="{}"}}"#,
                env!("CARGO_PKG_VERSION")
            ),
            1.0,
        ),
        ("zt_authz_revocation_propagation_seconds_count", 0.0),
    ] {
        assert_eq!(sample(&text, series), Some(expected), "{series} in\n{text}");
    }
    assert!(
        sample(
            &text,
            &format!(r#"zt_authz_jwks_fetch_total{{issuer="{iss}",outcome="success"}}"#)
        )
        .unwrap()
            >= 1.0
    );
    assert!(
        sample(
            &text,
            &format!(r#"zt_authz_jwks_last_success_timestamp_seconds{{issuer="{iss}"}}"#)
        )
        .unwrap()
            > 1.7e9
    );
    assert_eq!(
        sample(&before_reload, "zt_authz_token_cache_misses_total"),
        Some(1.0)
    );
    assert!(
        text.contains(r#"zt_authz_check_duration_seconds_bucket{le="0.00001"}"#),
        "buckets start at 10 µs"
    );
    for secret in ["alice-secret-subject", "jti-secret-value", &token] {
        assert!(!text.contains(secret), "a label carries {secret}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decision_logs_are_json_lines_without_tokens() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let (yaml, grpc, _) = on_free_ports(&standard_config(&ks, &other));
    let yaml = yaml.replace(
        "  reload_interval: 0s",
        "  reload_interval: 0s\n  log_format: json",
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("zt-authz.yaml");
    std::fs::write(&config, yaml).unwrap();
    let log = dir.path().join("stderr.log");
    let child = ChildGuard(
        Command::new(BIN)
            .args(["serve", "--config", config.to_str().unwrap()])
            .env("RUST_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let mut client = AuthorizationClient::new(connect(&format!("http://127.0.0.1:{grpc}")).await);
    let good = ks.token(json!({}));
    let expired = ks.token(json!({"exp": common::now() - 3600}));
    let forged = format!("{}.{}", good.rsplit_once('.').unwrap().0, "A".repeat(342));
    let with_id = |token: &str, id: &str| {
        let mut r = check_request("/orders", Some(token));
        let http = common::app::http_mut(&mut r);
        http.headers.insert("x-request-id".into(), id.into());
        r
    };
    // Keys may still be loading: retry the allow until it is one.
    let mut allowed = false;
    for _ in 0..200 {
        let r = client
            .check(with_id(&good, "req-allow"))
            .await
            .unwrap()
            .into_inner();
        if r.status.unwrap().code == 0 {
            allowed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(allowed);
    client
        .check(with_id(&expired, "req-expired"))
        .await
        .unwrap();
    client.check(with_id(&forged, "req-forged")).await.unwrap();
    // A caller may put a token where the log line quotes the request: in
    // `x-request-id`, or in the path (a link carrying a token). Both of
    // these requests are denied, so both are logged at info.
    let leaked = ks.token(json!({"sub": "leaked-in-the-request"}));
    client
        .check(with_id(&expired, &format!("id-{leaked}")))
        .await
        .unwrap();
    let mut in_path = check_request(&format!("/orders/verify/{leaked}"), None);
    common::app::http_mut(&mut in_path)
        .headers
        .insert("x-request-id".into(), "req-token-in-path".into());
    client.check(in_path).await.unwrap();
    // The same token split by `/`, and percent-encoded in part.
    for (id, path) in [
        (
            "req-split",
            format!("/orders/verify/{}", leaked.replace('.', "/")),
        ),
        (
            "req-encoded",
            format!("/orders/{}", leaked.replacen("eyJ", "ey%4A", 2)),
        ),
    ] {
        let mut r = check_request(&path, None);
        common::app::http_mut(&mut r)
            .headers
            .insert("x-request-id".into(), id.into());
        client.check(r).await.unwrap();
    }
    child.signal("TERM");
    let status = child.exit_status().await;
    assert!(status.success());

    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    let find = |id: &str| {
        lines
            .iter()
            .find(|l| l["request_id"] == id)
            .unwrap_or_else(|| panic!("no line for {id}:\n{text}"))
    };
    let expired_line = find("req-expired");
    assert_eq!(expired_line["level"], "INFO");
    assert_eq!(expired_line["decision"], "deny");
    assert_eq!(expired_line["reason"], "token_expired");
    assert_eq!(expired_line["policy"], "orders-read");
    assert_eq!(expired_line["issuer"], ks.issuer());
    assert_eq!(
        expired_line["kid"],
        ks.keys.kid(zt_authz::dev::DevAlg::RS256)
    );
    assert_eq!(find("req-forged")["reason"], "bad_signature");
    assert_eq!(
        find("req-allow")["level"],
        "DEBUG",
        "allows are logged at debug"
    );
    assert_eq!(find("req-token-in-path")["path"], "/orders/verify/[token]");
    assert_eq!(
        find("req-split")["path"],
        "/orders/verify/[token]/[token]/[token]"
    );
    assert_eq!(find("req-encoded")["path"], "/orders/[token]");
    assert!(
        lines.iter().any(|l| l["request_id"] == "id-[token]"),
        "the request id is logged with the token blanked:\n{text}"
    );
    for token in [&good, &expired, &forged, &leaked] {
        let signature = token.rsplit_once('.').unwrap().1;
        assert!(!text.contains(signature), "a signature reached the log");
        assert!(!text.contains(token.as_str()), "a token reached the log");
    }
}

mod collector {
    //! An OTLP trace collector: a tonic server that hands every span it
    //! receives to the test.
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
        TraceService, TraceServiceServer,
    };
    use opentelemetry_proto::tonic::collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
    };
    use opentelemetry_proto::tonic::trace::v1::Span;
    use tokio::sync::mpsc;

    struct Collector(mpsc::UnboundedSender<Span>);

    #[tonic::async_trait]
    impl TraceService for Collector {
        async fn export(
            &self,
            request: tonic::Request<ExportTraceServiceRequest>,
        ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
            for rs in request.into_inner().resource_spans {
                for ss in rs.scope_spans {
                    for span in ss.spans {
                        let _ = self.0.send(span);
                    }
                }
            }
            Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
        }
    }

    pub async fn start() -> (std::net::SocketAddr, mpsc::UnboundedReceiver<Span>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(Collector(tx)))
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        (addr, rx)
    }

    pub fn attribute(span: &Span, key: &str) -> Option<String> {
        use opentelemetry_proto::tonic::common::v1::any_value::Value;
        span.attributes.iter().find(|a| a.key == key).and_then(|a| {
            match a.value.as_ref()?.value.as_ref()? {
                Value::StringValue(s) => Some(s.clone()),
                _ => None,
            }
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_spans_continue_the_callers_trace() {
    use std::time::Duration;
    let (collector, mut spans) = collector::start().await;
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let (yaml, grpc, _) = on_free_ports(&standard_config(&ks, &other));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("zt-authz.yaml");
    std::fs::write(&config, yaml).unwrap();
    let _child = ChildGuard(
        Command::new(BIN)
            .args(["serve", "--config", config.to_str().unwrap()])
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{collector}"))
            .env("OTEL_BSP_SCHEDULE_DELAY", "50")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut client = AuthorizationClient::new(connect(&format!("http://127.0.0.1:{grpc}")).await);
    let token = ks.token(json!({}));
    // Wait until the keys are in, so that the traced checks are allows.
    for _ in 0..200 {
        if client
            .check(check_request("/orders", Some(&token)))
            .await
            .unwrap()
            .into_inner()
            .status
            .unwrap()
            .code
            == 0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    let cases = [
        (
            "grpc metadata",
            "4bf92f3577b34da6a3ce929d0e0e4736",
            "00f067aa0ba902b7",
        ),
        (
            "request traceparent",
            "5bf92f3577b34da6a3ce929d0e0e4737",
            "10f067aa0ba902b8",
        ),
        (
            "request b3",
            "6bf92f3577b34da6a3ce929d0e0e4738",
            "20f067aa0ba902b9",
        ),
    ];
    for (how, trace_id, parent) in cases {
        let mut req = check_request("/orders", Some(&token));
        let headers = &mut common::app::http_mut(&mut req).headers;
        let traceparent = format!("00-{trace_id}-{parent}-01");
        match how {
            "request traceparent" => {
                headers.insert("traceparent".into(), traceparent.clone());
            }
            "request b3" => {
                headers.insert("x-b3-traceid".into(), trace_id.into());
                headers.insert("x-b3-spanid".into(), parent.into());
                headers.insert("x-b3-sampled".into(), "1".into());
            }
            _ => {}
        }
        let mut request = tonic::Request::new(req);
        if how == "grpc metadata" {
            request
                .metadata_mut()
                .insert("traceparent", traceparent.parse().unwrap());
        }
        assert_eq!(
            client
                .check(request)
                .await
                .unwrap()
                .into_inner()
                .status
                .unwrap()
                .code,
            0,
            "{how}"
        );
    }
    let mut found = std::collections::HashMap::new();
    tokio::time::timeout(Duration::from_secs(20), async {
        while found.len() < cases.len() {
            let span = spans.recv().await.unwrap();
            let trace_id = hex(&span.trace_id);
            if cases.iter().any(|(_, t, _)| *t == trace_id) {
                found.insert(trace_id, span);
            }
        }
    })
    .await
    .expect("every traced check exported a span");
    for (how, trace_id, parent) in cases {
        let span = &found[trace_id];
        assert_eq!(hex(&span.parent_span_id), parent, "{how}: parent span");
        assert_eq!(span.name, "ext_authz.check");
        assert_eq!(
            collector::attribute(span, "decision").as_deref(),
            Some("allow"),
            "{how}"
        );
        assert_eq!(
            collector::attribute(span, "policy").as_deref(),
            Some("orders-read")
        );
        assert_eq!(collector::attribute(span, "issuer"), Some(ks.issuer()));
        for a in &span.attributes {
            assert!(
                !format!("{:?}", a.value).contains(&token[..20]),
                "a token in span attribute {}",
                a.key
            );
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every metric the shipped alert rules and dashboard query is one the
/// service really exports.
#[tokio::test]
async fn alerts_and_dashboard_name_only_exported_metrics() {
    let ks = KeyServer::start("primary").await;
    let other = KeyServer::start("other").await;
    let app = TestApp::start(&standard_config(&ks, &other)).await;
    app.check(&check_request("/orders", Some(&ks.token(json!({})))))
        .await;
    let text = reqwest::get(format!("{}/metrics", app.admin_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let exported: std::collections::HashSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    let chart = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("helm/zt-authz/files");
    let mut named = 0;
    for file in ["alerts.yaml", "dashboard.json"] {
        let content = std::fs::read_to_string(chart.join(file)).unwrap();
        let mut rest = content.as_str();
        while let Some(start) = rest.find("zt_authz_") {
            let tail = &rest[start..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            let name = &tail[..end];
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|f| exported.contains(f)))
                .unwrap_or(name);
            assert!(
                exported.contains(family),
                "{file} queries {name}, which is not exported:\n{exported:?}"
            );
            named += 1;
            rest = &tail[end..];
        }
    }
    assert!(named > 10, "only {named} metric references found");
}
