#!/usr/bin/env bash
# The gRPC port as users see it with the standard tools: starts a DEV ONLY
# issuer and zt-authz on free loopback ports, then
#   - grpcurl: `list` (Authorization and Health), `describe` the
#     Authorization service, and Check calls through reflection: no token is
#     denied 401, a valid token allowed;
#   - ghz: a mixed run of allowed and denied Checks through reflection, and
#     the same through a protoset file; any ghz error fails, and the
#     decisions zt-authz counted on /metrics must equal what was sent.
# Everything it starts is stopped on exit; every wait is bounded.
#
#   bash tests/tools_smoke.sh [ZT_AUTHZ_BINARY]     # default target/debug/zt-authz
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${1:-target/debug/zt-authz}")
[ -x "$BIN" ] || { echo "tools_smoke: no zt-authz binary at $BIN" >&2; exit 1; }
TOOLS_BIN=${ZT_TOOLS_BIN:-$(bash tests/tools.sh)}
GRPCURL=$TOOLS_BIN/grpcurl
GHZ=$TOOLS_BIN/ghz
N=${SMOKE_REQUESTS:-3000}   # per ghz run; half allowed, half denied

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
finish() {
  echo "tools smoke: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# wait_http URL LOG: up to 20 s for a 2xx answer.
wait_http() {
  for _ in $(seq 1 200); do
    curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "timed out waiting for $1; log follows" >&2; cat "$2" >&2; exit 1
}

ISSUER_PORT=$(free_port); GRPC_PORT=$(free_port); ADMIN_PORT=$(free_port)
ADDR=127.0.0.1:$GRPC_PORT
"$BIN" dev-issuer --listen "127.0.0.1:$ISSUER_PORT" >"$WORK/issuer.log" 2>&1 & PIDS+=($!)
wait_http "http://127.0.0.1:$ISSUER_PORT/jwks.json" "$WORK/issuer.log"
cat >"$WORK/config.yaml" <<EOF
server:
  grpc_addr: $ADDR
  admin_addr: 127.0.0.1:$ADMIN_PORT
  realm: smoke
default_action: deny
revocations: { store: memory }
issuers:
  - issuer: http://127.0.0.1:$ISSUER_PORT
    discovery_url: http://127.0.0.1:$ISSUER_PORT/.well-known/openid-configuration
    audiences: [smoke-api]
policies:
  - name: health
    match: { path: { exact: /healthz } }
    anonymous: true
  - name: orders
    match: { path: { prefix: /orders/ }, methods: [GET] }
    scopes: [orders:read]
EOF
RUST_LOG=warn "$BIN" serve --config "$WORK/config.yaml" >"$WORK/zt-authz.log" 2>&1 & PIDS+=($!)
wait_http "http://127.0.0.1:$ADMIN_PORT/readyz" "$WORK/zt-authz.log"
TOKEN=$(curl -fsS --max-time 5 "http://127.0.0.1:$ISSUER_PORT/token?aud=smoke-api&sub=smoke&scope=orders:read&ttl=600")

# --- grpcurl ---------------------------------------------------------------
services=$(timeout 30 "$GRPCURL" -plaintext "$ADDR" list)
for s in envoy.service.auth.v3.Authorization grpc.health.v1.Health; do
  if grep -qx "$s" <<<"$services"; then ok "grpcurl list shows $s"; else bad "grpcurl list lacks $s: $services"; fi
done
describe=$(timeout 30 "$GRPCURL" -plaintext "$ADDR" describe envoy.service.auth.v3.Authorization)
if grep -q 'rpc Check ( .envoy.service.auth.v3.CheckRequest ) returns ( .envoy.service.auth.v3.CheckResponse )' <<<"$describe"; then
  ok "grpcurl describe shows rpc Check"
else
  bad "grpcurl describe: $describe"
fi

check_request() { # check_request [TOKEN] → a CheckRequest for GET /orders/7 as JSON
  python3 - "${1:-}" <<'PY'
import json, sys
headers = {"authorization": f"Bearer {sys.argv[1]}"} if sys.argv[1] else {}
print(json.dumps({"attributes": {"request": {"http": {
    "method": "GET", "host": "api.local", "path": "/orders/7", "headers": headers}}}}))
PY
}
# expect_check NAME REQUEST PYTHON-CONDITION-ON-r
expect_check() {
  local out
  out=$(timeout 30 "$GRPCURL" -plaintext -d "$2" "$ADDR" envoy.service.auth.v3.Authorization/Check 2>&1) || {
    bad "grpcurl Check ($1) failed: $out"; return; }
  if python3 -c "import json, sys; r = json.loads(sys.argv[1]); sys.exit(0 if ($3) else 1)" "$out"; then
    ok "grpcurl Check: $1"
  else
    bad "grpcurl Check: $1: $out"
  fi
}
expect_check "no token is denied 401" "$(check_request)" \
  'r["deniedResponse"]["status"]["code"] == "Unauthorized" and r["status"]["code"] == 16'
expect_check "a valid token is allowed" "$(check_request "$TOKEN")" \
  '"okResponse" in r and r.get("status", {}).get("code", 0) == 0'

# --- ghz -------------------------------------------------------------------
# Half the messages carry the token, half none: ghz sends a list of messages
# round robin.
python3 - "$TOKEN" >"$WORK/mixed.json" <<'PY'
import json, sys
req = lambda h: {"attributes": {"request": {"http": {"method": "GET", "host": "api.local", "path": "/orders/7", "headers": h}}}}
print(json.dumps([req({"authorization": f"Bearer {sys.argv[1]}"}), req({})]))
PY
timeout 30 "$GRPCURL" -plaintext -protoset-out "$WORK/ext_authz.protoset" "$ADDR" \
  describe envoy.service.auth.v3.Authorization >/dev/null

decisions() { # decisions RESULT → the sum of zt_authz_decisions_total{result=RESULT}
  curl -fsS --max-time 5 "http://127.0.0.1:$ADMIN_PORT/metrics" | python3 -c '
import re, sys
total = 0.0
for line in sys.stdin:
    m = re.match(r"zt_authz_decisions_total\{([^}]*)\} ([0-9.e+]+)$", line.strip())
    if m and f"result=\"{sys.argv[1]}\"" in m.group(1):
        total += float(m.group(2))
print(int(total))' "$1"
}

# ghz_run NAME ARGS...: N mixed Checks; ghz must report no error, and the
# counters must grow by N/2 allows and N/2 denials.
ghz_run() {
  local name=$1; shift
  local allow0 deny0 allow1 deny1 report=$WORK/ghz-$name.json
  allow0=$(decisions allow); deny0=$(decisions deny)
  if ! timeout 120 "$GHZ" --insecure --call envoy.service.auth.v3.Authorization.Check \
      -D "$WORK/mixed.json" -n "$N" -c 8 --connections 2 -O json -o "$report" "$@" "$ADDR" 2>"$WORK/ghz.err"; then
    bad "ghz $name exited non-zero: $(cat "$WORK/ghz.err")"; return
  fi
  allow1=$(decisions allow); deny1=$(decisions deny)
  if python3 - "$report" "$N" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
problems = []
if r.get("count") != n:
    problems.append(f"count {r.get('count')} != {n}")
if r.get("errorDistribution"):
    problems.append(f"errors {r['errorDistribution']}")
if r.get("statusCodeDistribution") != {"OK": n}:
    problems.append(f"status codes {r.get('statusCodeDistribution')}")
lat = {d["percentage"]: d["latency"] / 1e6 for d in r.get("latencyDistribution") or []}
print(f"     {r.get('rps', 0):,.0f} req/s; latency p50 {lat.get(50, 0):.2f} ms, p99 {lat.get(99, 0):.2f} ms")
if problems:
    print("     " + "; ".join(problems))
sys.exit(1 if problems else 0)
PY
  then
    ok "ghz $name: $N requests, no error"
  else
    bad "ghz $name: see above"
  fi
  local want=$((N / 2))
  if [ $((allow1 - allow0)) -eq "$want" ] && [ $((deny1 - deny0)) -eq $((N - want)) ]; then
    ok "ghz $name: /metrics counted $want allows and $((N - want)) denials"
  else
    bad "ghz $name: /metrics counted $((allow1 - allow0)) allows and $((deny1 - deny0)) denials, sent $want and $((N - want))"
  fi
}
ghz_run reflection
ghz_run protoset --protoset "$WORK/ext_authz.protoset"

finish
