#!/usr/bin/env bash
# Instructions per Check under valgrind --tool=callgrind: a count that
# repeats within about 0.2 % from run to run on a shared machine, where CPU
# time per Check moves by ±10 %. Prints one line per server:
#
#   noop       Ir/Check   the no-op ext_authz server (benches/bench_tools.rs)
#   cached     Ir/Check   zt-authz, the bench's RS256 token in its cache
#   uncached   Ir/Check   zt-authz with token_cache_entries: 0 (verifies every Check)
#
# and the instructions of one raw RS256 verification, as zt-authz makes it
# and through jsonwebtoken's own verify.
#
# Each server runs under callgrind; ghz (tests/tools.sh) sends 2,000 Checks
# to warm it up, callgrind's counters are zeroed, N Checks are sent (16 in
# flight over 2 connections) and the counters dumped: the count covers
# the whole process (gRPC, HTTP/2, the runtime) for those N Checks only.
#
# Caveat: valgrind hides the CPU's SHA extensions, so aws-lc hashes in
# software under it: the uncached and raw figures include a SHA-256 of the
# token's signing input that natively takes a fraction of the time.
# Compare builds with each other, not with time.
#
# Needs valgrind (apt-get install valgrind) and curl. ZT_BIN and ZT_BENCH_TOOLS skip
# the cargo builds, as in benches/run.sh. N (default 10,000) sets the count.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/target/bench/callgrind
mkdir -p "$OUT"
N=${N:-10000}
command -v valgrind >/dev/null || { echo "benches/callgrind.sh needs valgrind (apt-get install valgrind)" >&2; exit 1; }
if [ -z "${ZT_BIN:-}" ]; then
  cargo build --release --quiet
fi
BIN=${ZT_BIN:-$ROOT/target/release/zt-authz}
TOOLS=${ZT_BENCH_TOOLS:-$(bash benches/tools_path.sh)}
GHZ=$(bash tests/tools.sh)/ghz

"$TOOLS" keys "$OUT" >/dev/null
"$TOOLS" protoset "$OUT/ext_authz.protoset"
python3 - "$(cat "$OUT/token-RS256")" >"$OUT/check.json" <<'PY'
import json, sys
print(json.dumps({"attributes": {"request": {"http": {"method": "GET", "host": "api.local", "path": "/orders/7",
                                                      "headers": {"authorization": f"Bearer {sys.argv[1]}"}}}}}))
PY
for cache in 10000 0; do
  cat >"$OUT/zt-$cache.yaml" <<EOF
server: { grpc_addr: "127.0.0.1:19400", admin_addr: "127.0.0.1:19401", token_cache_entries: $cache }
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
done

VG=
trap '[ -z "$VG" ] || kill "$VG" 2>/dev/null || true' EXIT

ghz_run() { # ghz_run N REPORT
  "$GHZ" --insecure --call envoy.service.auth.v3.Authorization.Check -D "$OUT/check.json" \
    --protoset "$OUT/ext_authz.protoset" -n "$1" -c 16 --connections 2 -O json -o "$2" 127.0.0.1:19400
}

# measure NAME CMD... → "NAME Ir/Check"
measure() {
  local name=$1; shift
  rm -f "$OUT/$name".cg.*
  valgrind --tool=callgrind --dump-instr=no --callgrind-out-file="$OUT/$name.cg.%p" "$@" \
    >/dev/null 2>"$OUT/$name.valgrind.log" &
  VG=$!
  for _ in $(seq 600); do (exec 3<>/dev/tcp/127.0.0.1/19400) 2>/dev/null && break; sleep 0.1; done
  # zt-authz answers before its keys are read (a 503 denial): wait for
  # its readiness, which needs them. The no-op server has no admin port.
  if [ "$name" != noop ]; then
    for _ in $(seq 600); do curl -sf http://127.0.0.1:19401/readyz >/dev/null && break; sleep 0.1; done
  fi
  # A denial is a successful RPC too: make sure this load measures allows.
  local decision; decision=$("$TOOLS" check 127.0.0.1:19400 "$OUT/check-RS256.bin")
  [ "$decision" = allow ] || { echo "$name does not allow the load request: $decision" >&2; exit 1; }
  ghz_run 2000 "$OUT/$name.warm.json" >/dev/null
  callgrind_control -z "$VG" >/dev/null 2>&1
  ghz_run "$N" "$OUT/$name.json" >/dev/null
  callgrind_control -d "$VG" >/dev/null 2>&1
  kill "$VG"; wait "$VG" 2>/dev/null || true; VG=
  python3 - "$OUT/$name.json" "$N" "$name" "$OUT"/"$name".cg.*.1 <<'PY'
import json, sys
report, n, name, dump = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
r = json.load(open(report))
if r.get("statusCodeDistribution") != {"OK": n}:
    sys.exit(f"{name}: not every Check succeeded: {r.get('statusCodeDistribution')}")
ir = next(int(l.split()[1]) for l in open(dump) if l.startswith("summary:"))
print(f"{name:<9} {ir / n:>9.0f} Ir/Check")
PY
}

measure noop "$TOOLS" noop-server 127.0.0.1:19400
measure cached "$BIN" serve --config "$OUT/zt-10000.yaml"
measure uncached "$BIN" serve --config "$OUT/zt-0.yaml"
for how in raw-verify raw-verify-jsonwebtoken; do
  fn=zt_authz::keys::jwks::VerifyKey::verify
  [ "$how" = raw-verify ] || fn=jsonwebtoken::crypto::verify
  valgrind --tool=callgrind --dump-instr=no --callgrind-out-file="$OUT/$how.cg" \
    --collect-atstart=no "--toggle-collect=$fn" "$TOOLS" "$how" RS256 1000 >/dev/null 2>"$OUT/$how.valgrind.log"
  # 1,000 timed verifications and the one checked before them.
  awk -v how="$how" '/^summary:/ {printf "%-24s %9.0f Ir per RS256 verification\n", how, $2 / 1001}' "$OUT/$how.cg"
done
