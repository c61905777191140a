#!/usr/bin/env bash
# Builds every fuzz target and runs each for a few seconds from the seeds:
# a smoke test for CI. The real runs are longer (see SECURITY.md).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked --quiet
export RUSTC_BOOTSTRAP=1   # cargo fuzz needs nightly-only flags
SECONDS_EACH=${FUZZ_SECONDS:-10}
# Unoptimised and without a sanitizer: the crate forbids unsafe code, and a
# smoke run is about building and running the targets, not depth.
FLAGS=(--dev --sanitizer none)
cargo fuzz build "${FLAGS[@]}"
for target in token check_request config jwks admin_body admin_auth rego_input security_event dpop_proof; do
  mkdir -p "target/fuzz-corpus/$target"
  cargo fuzz run "${FLAGS[@]}" "$target" "target/fuzz-corpus/$target" "fuzz/seeds/$target" -- \
    -max_total_time="$SECONDS_EACH" -rss_limit_mb=4096 2>&1 | tail -1
done
echo "fuzz smoke: 9 passed, 0 failed"
