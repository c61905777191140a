#!/usr/bin/env bash
# Installs the Go-built tools the deployment checks and the load scripts use,
# at pinned versions, into a cache outside the repository that survives
# between runs on the same machine:
#
#   ${ZT_TOOLS_DIR:-$HOME/.cache/zt-authz/tools}/bin/{ghz,helm,grpcurl,istioctl,meshcheck}
#
# meshcheck is this repository's own (tests/meshcheck): a strict parser of
# Istio mesh configs, built against the istio.io/api version the pinned
# Istio requires.
#
# opa-extauthz is also this repository's own (benches/opa/extauthz): Envoy's
# ext_authz gRPC API in front of the OPA Rego engine at the pinned OPA
# version, the E4 set-up of benches/run.sh. OPA-Envoy itself
# (github.com/open-policy-agent/opa-envoy-plugin) would be the natural pin,
# but the Go module proxy this project builds from refuses that module
# (403 for its version list and for v1.19.1-envoy), while it serves OPA
# core. Only benches/run.sh needs it, so only `opa` builds it: the test
# suite's `install` stays as fast as before.
#
# Each tool has a stamp file (stamps/NAME) holding the version it was built
# at; a tool whose stamp matches is not rebuilt. Go's module and build caches
# live under the same directory, so removing it gives a cold install.
#
#   bash tests/tools.sh            # install what is missing; prints the bin directory
#   bash tests/tools.sh crds       # prints the path of Istio's CRD file, from the
#                                  # istio.io/api module the pinned istioctl uses
#   bash tests/tools.sh opa        # builds only opa-extauthz; prints its path
#   bash tests/tools.sh versions   # prints the pinned versions
#
# Progress and timings go to stderr; stdout carries only the path asked for.
set -euo pipefail

GHZ=github.com/bojand/ghz/cmd/ghz@v0.120.0
HELM=helm.sh/helm/v3/cmd/helm@v3.22.0
GRPCURL=github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4
# Istio tags its releases without the "v" semantic-versioning prefix, so the
# module proxy serves istio.io/istio only by pseudo-version (a commit).
ISTIO_MODULE=istio.io/istio
ISTIO_VERSION=v0.0.0-20260827124520-eed52ebb66ad
ISTIOCTL=$ISTIO_MODULE/istioctl/cmd/istioctl@$ISTIO_VERSION
# The OPA release benches/opa/extauthz/go.mod must require (checked below).
OPA_MODULE=github.com/open-policy-agent/opa
OPA_VERSION=v1.22.2

DIR=${ZT_TOOLS_DIR:-$HOME/.cache/zt-authz/tools}
BIN=$DIR/bin
STAMPS=$DIR/stamps
mkdir -p "$BIN" "$STAMPS"
export GOBIN=$BIN GOMODCACHE=$DIR/gomod GOCACHE=$DIR/gocache GOPATH=$DIR/gopath
export GOFLAGS=-buildvcs=false GOTOOLCHAIN=${GOTOOLCHAIN:-auto}

log() { printf '[tools] %s\n' "$*" >&2; }

find_go() {
  if command -v go >/dev/null 2>&1; then command -v go; return; fi
  if [ -x /usr/local/go/bin/go ]; then echo /usr/local/go/bin/go; return; fi
  # Debian's Go is older than some tools ask for; GOTOOLCHAIN=auto then
  # fetches the toolchain they name from the module proxy.
  log "installing golang-go (apt-get): Go is needed to build the tools"
  local sudo=; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq golang-go >&2
  command -v go
}
GO=$(find_go)

now() { date +%s; }

# install NAME PACKAGE@VERSION
install() {
  local name=$1 target=$2
  if [ -x "$BIN/$name" ] && [ "$(cat "$STAMPS/$name" 2>/dev/null)" = "$target" ]; then
    log "$name: cached ($target)"
    return 0
  fi
  log "$name: building $target (go install; a cold build takes minutes)"
  local start; start=$(now)
  rm -f "$STAMPS/$name"
  local errlog="$DIR/$name.install.log"
  if ! "$GO" install "$target" 2>"$errlog"; then
    log "$name: go install failed after $(( $(now) - start ))s:"
    sed 's/^/    /' "$errlog" >&2
    return 1
  fi
  echo "$target" >"$STAMPS/$name"
  rm -f "$errlog"
  BUILT=1
  log "$name: built in $(( $(now) - start ))s"
}

# istioctl: `go install module@version` refuses a module whose go.mod has
# replace directives; the fallback builds inside the downloaded module, where
# they apply.
install_istioctl() {
  install istioctl "$ISTIOCTL" && return 0
  log "istioctl: trying go build inside the downloaded module"
  local start dir; start=$(now)
  dir=$("$GO" mod download -json "$ISTIO_MODULE@$ISTIO_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  (cd "$dir" && GOFLAGS="-mod=mod -buildvcs=false" "$GO" build -o "$BIN/istioctl" ./istioctl/cmd/istioctl) >&2
  echo "$ISTIOCTL" >"$STAMPS/istioctl"
  BUILT=1
  log "istioctl: built in $(( $(now) - start ))s (go build in the module)"
}

# The istio.io/api version the pinned Istio's go.mod requires.
istio_api_version() {
  local gomod api
  gomod=$("$GO" mod download -json "$ISTIO_MODULE@$ISTIO_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  api=$(awk '$1 == "istio.io/api" {print $2; exit}' "$gomod")
  [ -n "$api" ] || { log "no istio.io/api requirement in $gomod"; exit 1; }
  echo "$api"
}

# meshcheck, built from tests/meshcheck; rebuilt when its sources change.
install_meshcheck() {
  local src api want stamp start
  src=$(cd "$(dirname "$0")/meshcheck" && pwd)
  api=$(istio_api_version)
  want=$(awk '$1 == "istio.io/api" {print $2}' "$src/go.mod")
  if [ "$want" != "$api" ]; then
    log "meshcheck: tests/meshcheck/go.mod requires istio.io/api $want, the pinned Istio uses $api; update it"
    return 1
  fi
  stamp=$(cat "$src/go.mod" "$src/go.sum" "$src/main.go" | sha256sum | cut -d' ' -f1)
  if [ -x "$BIN/meshcheck" ] && [ "$(cat "$STAMPS/meshcheck" 2>/dev/null)" = "$stamp" ]; then
    log "meshcheck: cached (istio.io/api $api)"
    return 0
  fi
  log "meshcheck: building tests/meshcheck against istio.io/api $api"
  start=$(now)
  (cd "$src" && "$GO" build -o "$BIN/meshcheck" .) >&2
  echo "$stamp" >"$STAMPS/meshcheck"
  BUILT=1
  log "meshcheck: built in $(( $(now) - start ))s"
}

# opa-extauthz, built from benches/opa/extauthz against the pinned OPA;
# rebuilt when its sources change.
install_opa_extauthz() {
  local src want stamp start
  src=$(cd "$(dirname "$0")/../benches/opa/extauthz" && pwd)
  want=$(awk -v m="$OPA_MODULE" '$1 == m {print $2}' "$src/go.mod")
  if [ "$want" != "$OPA_VERSION" ]; then
    log "opa-extauthz: benches/opa/extauthz/go.mod requires $OPA_MODULE ${want:-(nothing)}, tests/tools.sh pins $OPA_VERSION; update one of them"
    return 1
  fi
  stamp=$(cat "$src/go.mod" "$src/go.sum" "$src/main.go" | sha256sum | cut -d' ' -f1)
  if [ -x "$BIN/opa-extauthz" ] && [ "$(cat "$STAMPS/opa-extauthz" 2>/dev/null)" = "$stamp" ]; then
    log "opa-extauthz: cached ($OPA_MODULE $OPA_VERSION)"
    return 0
  fi
  log "opa-extauthz: building benches/opa/extauthz against $OPA_MODULE $OPA_VERSION"
  start=$(now)
  rm -f "$STAMPS/opa-extauthz"
  (cd "$src" && "$GO" build -o "$BIN/opa-extauthz" .) >&2
  echo "$stamp" >"$STAMPS/opa-extauthz"
  BUILT=1
  log "opa-extauthz: built in $(( $(now) - start ))s"
}

# The CRDs of the istio.io/api version the pinned Istio's go.mod requires.
crds() {
  local api dir
  api=$(istio_api_version)
  dir=$("$GO" mod download -json "istio.io/api@$api" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  local file=$dir/kubernetes/customresourcedefinitions.gen.yaml
  [ -f "$file" ] || { log "istio.io/api@$api has no kubernetes/customresourcedefinitions.gen.yaml"; exit 1; }
  log "Istio CRDs: istio.io/api@$api"
  echo "$file"
}

case "${1:-install}" in
  install)
    total=$(now)
    log "tools in $BIN ($("$GO" version))"
    failed=()
    install ghz "$GHZ" || failed+=(ghz)
    install grpcurl "$GRPCURL" || failed+=(grpcurl)
    install helm "$HELM" || failed+=(helm)
    install_istioctl || failed+=(istioctl)
    install_meshcheck || failed+=(meshcheck)
    # The build cache (3 GB after istioctl) only speeds up rebuilds, which
    # the stamps make rare; the module cache stays (the CRDs come from it).
    if [ -n "${BUILT:-}" ]; then "$GO" clean -cache; log "build cache cleared"; fi
    log "done in $(( $(now) - total ))s"
    if [ ${#failed[@]} -gt 0 ]; then log "could not build: ${failed[*]}"; exit 1; fi
    echo "$BIN"
    ;;
  opa)
    install_opa_extauthz
    if [ -n "${BUILT:-}" ]; then "$GO" clean -cache; log "build cache cleared"; fi
    echo "$BIN/opa-extauthz"
    ;;
  crds) crds ;;
  versions) printf '%s\n' "$GHZ" "$GRPCURL" "$HELM" "$ISTIOCTL" "$OPA_MODULE@$OPA_VERSION (benches/opa/extauthz)" ;;
  *) echo "usage: tests/tools.sh [install|opa|crds|versions]" >&2; exit 2 ;;
esac
