#!/usr/bin/env bash
# Soak: zt-authz at half its measured maximum throughput for SOAK_SECONDS
# (default 600), with a mix of valid (60 %), forged (20 %) and revoked
# (20 %) tokens, driven by h2load. Reports requests without a decision
# (gRPC errors), RSS and open file descriptors at start and end.
#
#   bash benches/soak.sh              # 10 minutes
#   SOAK_SECONDS=60 bash benches/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/target/soak
mkdir -p "$OUT"
SECONDS_TOTAL=${SOAK_SECONDS:-600}
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
command -v h2load >/dev/null || { echo "needs h2load (apt-get install nghttp2-client)" >&2; exit 1; }

cargo build --release --quiet
TOOLS=$(bash benches/tools_path.sh)
"$TOOLS" keys "$OUT"
cat >"$OUT/zt-authz.yaml" <<EOF2
server: { grpc_addr: "127.0.0.1:19400", admin_addr: "127.0.0.1:19490" }
revocations: { store: embedded, path: $OUT/revocations.redb }
admin: { unauthenticated: true }
issuers:
  - issuer: https://bench.example
    jwks_file: $OUT/jwks.json
    audiences: [api]
    algorithms: [RS256, ES256, EdDSA]
policies:
  - name: orders
    match: { path: { prefix: /orders } }
    scopes: [orders:read]
EOF2
RUST_LOG=warn "$ROOT/target/release/zt-authz" serve --config "$OUT/zt-authz.yaml" 2>"$OUT/zt-authz.log" & ZT=$!; PIDS+=($ZT)
for _ in $(seq 1 200); do curl -fsS -o /dev/null http://127.0.0.1:19490/readyz 2>/dev/null && break; sleep 0.05; done
curl -fsS -X POST http://127.0.0.1:19490/v1/revocations -d '{"kind":"jti","value":"soak-revoked"}' >/dev/null

URL=http://127.0.0.1:19400/envoy.service.auth.v3.Authorization/Check
H=(-H 'content-type: application/grpc' -H 'te: trailers')
decisions() { curl -fsS http://127.0.0.1:19490/metrics | awk '/^zt_authz_decisions_total/ {s += $2} END {print s + 0}'; }
reason() { curl -fsS http://127.0.0.1:19490/metrics | awk -v r="reason=\"$1\"" 'index($0, r) && /^zt_authz_decisions_total/ {s += $2} END {print s + 0}'; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$ZT/status"; }
fds() { ls "/proc/$ZT/fd" | wc -l; }

echo "measuring the maximum throughput (10 s)…" >&2
h2load -D 10 -c 4 -m 32 -t 1 --data="$OUT/check-RS256.bin" "${H[@]}" "$URL" >"$OUT/max.txt"
MAX=$(awk '/^finished in/ {print int($4)}' "$OUT/max.txt")
RATE=$((MAX / 2))
# h2load's --rps is per client; four clients per stream.
per_client() { echo $(( $1 * RATE / 100 / 4 > 0 ? $1 * RATE / 100 / 4 : 1 )); }
echo "max $MAX req/s; soaking at $RATE req/s for $SECONDS_TOTAL s…" >&2
START_RSS=$(rss_kb); START_FDS=$(fds); START_DECISIONS=$(decisions)
START_REVOKED=$(reason token_revoked); START_FORGED=$(reason bad_signature)
h2load -D "$SECONDS_TOTAL" -c 4 -m 4 -t 1 --rps="$(per_client 60)" --data="$OUT/check-RS256.bin" "${H[@]}" "$URL" >"$OUT/valid.txt" &
V=$!
h2load -D "$SECONDS_TOTAL" -c 4 -m 4 -t 1 --rps="$(per_client 20)" --data="$OUT/check-forged.bin" "${H[@]}" "$URL" >"$OUT/forged.txt" &
F=$!
h2load -D "$SECONDS_TOTAL" -c 4 -m 4 -t 1 --rps="$(per_client 20)" --data="$OUT/check-revoked.bin" "${H[@]}" "$URL" >"$OUT/revoked.txt" &
R=$!
MID_RSS=""
sleep $((SECONDS_TOTAL / 2)); MID_RSS=$(rss_kb)
wait $V $F $R
END_RSS=$(rss_kb); END_FDS=$(fds); END_DECISIONS=$(decisions)
REVOKED=$(( $(reason token_revoked) - START_REVOKED )); FORGED=$(( $(reason bad_signature) - START_FORGED ))
done_count() { awk '/^requests:/ {print $6}' "$1"; }
failed_count() { awk '/^requests:/ {print $10 + $12 + $14}' "$1"; }
SENT=$(( $(done_count "$OUT/valid.txt") + $(done_count "$OUT/forged.txt") + $(done_count "$OUT/revoked.txt") ))
FAILED=$(( $(failed_count "$OUT/valid.txt") + $(failed_count "$OUT/forged.txt") + $(failed_count "$OUT/revoked.txt") ))
DECIDED=$(( END_DECISIONS - START_DECISIONS ))
cat <<TABLE
| measure | value |
|---|---|
| duration, rate | ${SECONDS_TOTAL} s at ${RATE} req/s (max measured ${MAX} req/s) |
| requests completed (h2load) | ${SENT} (failed/errored/timed out: ${FAILED}) |
| decisions recorded | ${DECIDED} (revoked denials ${REVOKED}, bad-signature denials ${FORGED}) |
| requests without a decision (gRPC errors) | $(( SENT > DECIDED ? SENT - DECIDED : 0 )) |
| RSS start / middle / end | ${START_RSS} / ${MID_RSS} / ${END_RSS} KiB |
| open file descriptors start / end | ${START_FDS} / ${END_FDS} |
TABLE
