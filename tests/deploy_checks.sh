#!/usr/bin/env bash
# The checks of everything around the binary, none of which needs cargo:
# no reference outside the repository, the Helm chart and istio/ validated
# offline with the real helm and istioctl, grpcurl and ghz against the
# running binary, and the container image when buildah works here.
# tests/run.sh runs it after the cargo tests; it also runs on its own
# against any zt-authz binary:
#
#   bash tests/deploy_checks.sh [ZT_AUTHZ_BINARY]     # default target/debug/zt-authz
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${1:-target/debug/zt-authz}")
START=$(date +%s)
stage() { printf '\n== %s (%ss so far)\n' "$*" $(( $(date +%s) - START )); }

stage "paths outside the repository"
bash tests/no_outside_paths.sh

if ! python3 -c 'import jsonschema, yaml, kubernetes_validate' 2>/dev/null; then
  stage "installing kubernetes-validate, jsonschema, PyYAML (pip)"
  python3 -m pip install --quiet kubernetes-validate jsonschema pyyaml
fi

stage "tools (ghz, grpcurl, helm, istioctl; a first build takes several minutes)"
TOOLS_BIN=$(bash tests/tools.sh)
CRDS=$(bash tests/tools.sh crds)

stage "Helm chart and istio/: lint, template, package, offline validation, istioctl"
python3 tests/validate_manifests.py --helm "$TOOLS_BIN/helm" --crds "$CRDS" \
  --zt-authz "$BIN" --istioctl "$TOOLS_BIN/istioctl" --meshcheck "$TOOLS_BIN/meshcheck"

stage "grpcurl and ghz against zt-authz"
ZT_TOOLS_BIN=$TOOLS_BIN bash tests/tools_smoke.sh "$BIN"

if command -v buildah >/dev/null 2>&1 && timeout 60 buildah info >/dev/null 2>&1; then
  stage "container image (buildah from scratch; podman run where the sandbox allows)"
  ZT_TOOLS_BIN=$TOOLS_BIN bash tests/image_check.sh "$BIN"
else
  stage "container image: skipped, buildah does not work here"
fi

stage "done"
