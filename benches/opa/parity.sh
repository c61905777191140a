#!/usr/bin/env bash
# Makes sure zt-authz (E2), the OPA set-up (E4) and zt-authz with the policy
# in Rego (E5) decide alike before benches/run.sh measures them: the same
# Check requests go to all three, and each must give the expected allow or
# deny. A policy that allowed less (or more) would make the comparison
# meaningless, so any difference fails the run.
#
#   bash benches/opa/parity.sh BENCH_TOOLS GRPCURL DIR ZT_ADDR OPA_ADDR REGO_ADDR
#
# DIR is what `bench_tools keys` and `bench_tools protoset` wrote there
# (token-ALG, check-ALG.bin, check-forged.bin, ext_authz.protoset). The
# framed files go through `bench_tools check`, the same bytes the load
# uses; the other cases are CheckRequests in JSON sent with grpcurl
# through the protoset. check-revoked.bin is left out: revocation is
# zt-authz's own, OPA has nothing to compare it with.
#
# benches/rego/orders.rego (E5) also wants `sub` in {alice, bob}, which the
# other two do not check; every token here is `bench_tools keys`'s, whose
# `sub` is alice, so that rule never decides a case on its own.
set -euo pipefail
[ $# -eq 6 ] || { sed -n '2,19p' "$0" >&2; exit 2; }
TOOLS=$1 GRPCURL=$2 DIR=$3 ZT=$4 OPA=$5 REGO=$6

passed=0 failed=0

# framed NAME FILE EXPECTED
framed() {
  local zt opa rego
  zt=$("$TOOLS" check "$ZT" "$DIR/$2" | cut -d' ' -f1)
  opa=$("$TOOLS" check "$OPA" "$DIR/$2" | cut -d' ' -f1)
  rego=$("$TOOLS" check "$REGO" "$DIR/$2" | cut -d' ' -f1)
  report "$1" "$3" "$zt" "$opa" "$rego"
}

# decide ADDR JSON → allow, deny or the error
decide() {
  local out
  out=$("$GRPCURL" -plaintext -max-time 10 -protoset "$DIR/ext_authz.protoset" -d "$2" \
        "$1" envoy.service.auth.v3.Authorization/Check 2>&1) || { echo "error: $out"; return; }
  python3 -c 'import json, sys; r = json.loads(sys.argv[1]); print("allow" if "okResponse" in r else "deny" if "deniedResponse" in r else "unexpected " + sys.argv[1])' "$out"
}

# json NAME EXPECTED METHOD PATH [AUTHORIZATION]
json() {
  local request
  request=$(python3 - "$3" "$4" "${5-}" <<'PY'
import json, sys
method, path, auth = sys.argv[1:4]
headers = {"authorization": auth} if auth else {}
print(json.dumps({"attributes": {"request": {"http": {"method": method, "host": "api.local", "path": path, "headers": headers}}}}))
PY
)
  report "$1" "$2" "$(decide "$ZT" "$request")" "$(decide "$OPA" "$request")" "$(decide "$REGO" "$request")"
}

report() { # report NAME EXPECTED ZT OPA REGO
  if [ "$3" = "$2" ] && [ "$4" = "$2" ] && [ "$5" = "$2" ]; then
    passed=$((passed + 1)); printf 'ok   %-44s %s\n' "$1" "$2" >&2
  else
    failed=$((failed + 1)); printf 'FAIL %-44s expected %s; zt-authz: %s; OPA: %s; zt-authz with Rego: %s\n' "$1" "$2" "$3" "$4" "$5" >&2
  fi
}

token=$(cat "$DIR/token-RS256")
# The RS256 token with one payload character changed: a valid shape, a
# signature that no longer matches.
tampered=$(python3 - "$token" <<'PY'
import sys
h, p, s = sys.argv[1].split(".")
print(".".join([h, p[:-2] + ("A" if p[-2] != "A" else "B") + p[-1], s]))
PY
)

for alg in RS256 ES256 EdDSA; do
  framed "$alg token, GET /orders/7 (load request)" "check-$alg.bin" allow
done
framed "forged signature" check-forged.bin deny
json "GET /orders/7?page=2" allow GET "/orders/7?page=2" "Bearer $token"
json "lower-case bearer scheme" allow GET /orders/7 "bearer $token"
json "POST /orders/7 (method)" deny POST /orders/7 "Bearer $token"
json "HEAD /orders/7 (method)" deny HEAD /orders/7 "Bearer $token"
json "GET /invoices/7 (path)" deny GET /invoices/7 "Bearer $token"
json "GET /order (path)" deny GET /order "Bearer $token"
json "GET /x?/orders (path before ?)" deny GET "/x?/orders" "Bearer $token"
json "no Authorization" deny GET /orders/7
json "Basic scheme" deny GET /orders/7 "Basic $token"
json "two tokens" deny GET /orders/7 "Bearer $token $token"
json "tampered payload" deny GET /orders/7 "Bearer $tampered"
json "not a JWT" deny GET /orders/7 "Bearer abc.def"

echo "parity: $passed passed, $failed failed" >&2
[ "$failed" -eq 0 ]
