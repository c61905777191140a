#!/usr/bin/env bash
# Checks the container image the Dockerfile describes without pulling a
# base image: assembles it with buildah from scratch, with the given
# zt-authz binary at the Dockerfile's path and the shared libraries it links
# (what the distroless cc base provides), and the final stage's USER,
# EXPOSE, ENTRYPOINT and CMD. Then:
#   - the image config (user, entrypoint, command, ports) matches the
#     Dockerfile, and the Dockerfile matches the chart (uid/gid, ports,
#     args, config path);
#   - the image runs: with podman where the sandbox allows (`--version`,
#     `check-config`, and `serve` answering /readyz and gRPC health), else
#     with `buildah run --isolation chroot` as uid 65532 (`--version`,
#     `check-config`).
# tests/deploy_checks.sh runs it when buildah works here.
#
#   bash tests/image_check.sh [ZT_AUTHZ_BINARY]     # default target/debug/zt-authz
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${1:-target/debug/zt-authz}")
TOOLS_BIN=${ZT_TOOLS_BIN:-$(bash tests/tools.sh)}
IMAGE=localhost/zt-authz-image-check:$$
WORK=$(mktemp -d)
CTR=
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ -n "$CTR" ] && buildah rm "$CTR" >/dev/null 2>&1 || true
  podman rm -f "zt-authz-image-check-$$" >/dev/null 2>&1 || true
  buildah rmi "$IMAGE" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }

# The final stage of the Dockerfile and the chart's settings, as shell variables.
python3 - >"$WORK/settings.sh" <<'PY'
import json, re, shlex, yaml
lines = open("Dockerfile").read().replace("\\\n", " ").splitlines()
final = max(i for i, l in enumerate(lines) if l.startswith("FROM "))
stage = {}
for line in lines[final:]:
    word, _, rest = line.strip().partition(" ")
    stage.setdefault(word, []).append(rest.strip())
copy = [c.split() for c in stage["COPY"] if c.startswith("--from=build ")][0]
values = yaml.safe_load(open("helm/zt-authz/values.yaml"))
deployment = open("helm/zt-authz/templates/deployment.yaml").read()
args = json.loads(re.search(r"args: (\[.*\])", deployment).group(1))
mount = re.search(r"- name: config\n\s+mountPath: (\S+)", deployment).group(1)
uid = re.search(r"runAsUser: (\d+)", deployment).group(1)
gid = re.search(r"runAsGroup: (\d+)", deployment).group(1)
out = {
    "BIN_PATH": copy[-1],
    "USER": stage["USER"][0],
    "PORTS": " ".join(stage["EXPOSE"]),
    "ENTRYPOINT": json.dumps(json.loads(stage["ENTRYPOINT"][0])),
    "CMD": json.dumps(json.loads(stage["CMD"][0])),
    "CHART_ARGS": json.dumps(args),
    "CHART_USER": f"{uid}:{gid}",
    "CHART_PORTS": f"{values['grpcPort']} {values['adminPort']}",
    "CHART_CONFIG": f"{mount}/config.yaml",
}
for k, v in out.items():
    print(f"{k}={shlex.quote(v)}")
PY
# shellcheck disable=SC1091
. "$WORK/settings.sh"

[ "$USER" = "$CHART_USER" ] && ok "Dockerfile USER $USER is the chart's runAsUser:runAsGroup" \
  || bad "Dockerfile USER $USER, chart runs as $CHART_USER"
[ "$PORTS" = "$CHART_PORTS" ] && ok "Dockerfile EXPOSE $PORTS are the chart's ports" \
  || bad "Dockerfile EXPOSE $PORTS, chart ports $CHART_PORTS"
[ "$CMD" = "$CHART_ARGS" ] && ok "Dockerfile CMD is the chart's args $CHART_ARGS" \
  || bad "Dockerfile CMD $CMD, chart args $CHART_ARGS"
python3 -c 'import json, sys; sys.exit(0 if sys.argv[2] in json.loads(sys.argv[1]) else 1)' "$CHART_ARGS" "$CHART_CONFIG" \
  && ok "the chart's args read the config file it mounts ($CHART_CONFIG)" \
  || bad "the chart's args $CHART_ARGS do not read $CHART_CONFIG"
[ "$ENTRYPOINT" = "[\"$BIN_PATH\"]" ] && ok "ENTRYPOINT is the binary the image ships ($BIN_PATH)" \
  || bad "ENTRYPOINT $ENTRYPOINT, binary copied to $BIN_PATH"

# Assemble: the binary and the libraries it links, nothing else.
CTR=$(buildah from scratch)
buildah copy "$CTR" "$BIN" "$BIN_PATH" >/dev/null
for lib in $(ldd "$BIN" | grep -o '/[^ ]*'); do
  buildah copy "$CTR" "$(realpath "$lib")" "$lib" >/dev/null
done
port_args=()
for p in $PORTS; do port_args+=(--port "${p%/tcp}/tcp"); done
buildah config --user "$USER" --entrypoint "$ENTRYPOINT" --cmd "$(python3 -c 'import json, shlex, sys; print(shlex.join(json.loads(sys.argv[1])))' "$CMD")" \
  "${port_args[@]}" "$CTR"
buildah commit -q "$CTR" "$IMAGE" >/dev/null
buildah rm "$CTR" >/dev/null; CTR=

buildah inspect --type image "$IMAGE" >"$WORK/inspect.json"
python3 - "$WORK/inspect.json" "$USER" "$ENTRYPOINT" "$CMD" "$PORTS" <<'PY' && ok "image config: user, entrypoint, command, ports" || bad "image config differs from the Dockerfile"
import json, sys
c = json.load(open(sys.argv[1]))["OCIv1"]["config"]
want = {"User": sys.argv[2], "Entrypoint": json.loads(sys.argv[3]), "Cmd": json.loads(sys.argv[4]),
        "ExposedPorts": sorted(f"{p}/tcp" for p in sys.argv[5].split())}
got = {"User": c.get("User"), "Entrypoint": c.get("Entrypoint"), "Cmd": c.get("Cmd"),
       "ExposedPorts": sorted(c.get("ExposedPorts") or {})}
for k in want:
    if want[k] != got[k]:
        print(f"     {k}: image {got[k]!r}, Dockerfile {want[k]!r}")
sys.exit(0 if want == got else 1)
PY
echo "     image size: $(buildah images --format '{{.Size}}' "$IMAGE" | head -1)"

# A small config for the runs: a JWKS file, no network needed to start.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
GRPC_PORT=$(free_port); ADMIN_PORT=$(free_port)
mkdir -p "$WORK/etc"
echo '{"keys": []}' >"$WORK/etc/jwks.json"
cat >"$WORK/etc/config.yaml" <<EOF
server: { grpc_addr: 127.0.0.1:$GRPC_PORT, admin_addr: 127.0.0.1:$ADMIN_PORT, start_without_keys: true }
revocations: { store: memory }
issuers:
  - issuer: https://issuer.example
    jwks_file: jwks.json
    audiences: [api]
policies:
  - name: health
    match: { path: { exact: /healthz } }
    anonymous: true
EOF
chmod -R a+rX "$WORK/etc"

# podman: the default runtime, else runc (crun cannot run in some sandboxes).
PODMAN=()
if command -v podman >/dev/null 2>&1; then
  for runtime in "" runc; do
    cmd=(podman); [ -n "$runtime" ] && cmd+=(--runtime "$runtime")
    if timeout 60 "${cmd[@]}" run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
        "$IMAGE" --version >"$WORK/version" 2>"$WORK/podman.err"; then
      PODMAN=("${cmd[@]}"); break
    fi
  done
fi
if [ ${#PODMAN[@]} -gt 0 ]; then
  grep -q '^zt-authz ' "$WORK/version" && ok "podman run ${PODMAN[*]:1}: --version as the image's user" || bad "podman --version: $(cat "$WORK/version")"
  run=("${PODMAN[@]}" run --rm --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 -v "$WORK/etc:/etc/zt-authz:ro")
  timeout 60 "${run[@]}" --network none "$IMAGE" check-config --config /etc/zt-authz/config.yaml >"$WORK/check" 2>&1 \
    && ok "podman run: check-config on a mounted config" || bad "podman check-config: $(cat "$WORK/check")"
  # serve with the image's own CMD and the config mounted where the chart mounts it.
  "${run[@]}" --name "zt-authz-image-check-$$" --network host "$IMAGE" >"$WORK/serve.log" 2>&1 & PIDS+=($!)
  ready=
  for _ in $(seq 1 150); do
    curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$ADMIN_PORT/readyz" 2>/dev/null && { ready=1; break; }
    sleep 0.2
  done
  if [ -n "$ready" ]; then
    ok "podman run: serve (the image's CMD) answers /readyz"
    out=$(timeout 30 "$TOOLS_BIN/grpcurl" -plaintext -d '{"service": "liveness"}' "127.0.0.1:$GRPC_PORT" grpc.health.v1.Health/Check 2>&1 || true)
    grep -q SERVING <<<"$out" && ok "podman run: gRPC health from the container" || bad "gRPC health: $out"
  else
    bad "podman run: serve never answered /readyz: $(cat "$WORK/serve.log")"
  fi
  timeout 30 podman stop -t 5 "zt-authz-image-check-$$" >/dev/null 2>&1 || true
else
  echo "     podman cannot run containers here ($(tail -1 "$WORK/podman.err" 2>/dev/null || echo 'not installed')); running the image rootfs with buildah's chroot isolation"
  CTR=$(buildah from "$IMAGE")
  buildah copy "$CTR" "$WORK/etc" /etc/zt-authz >/dev/null
  timeout 60 buildah run --isolation chroot --user "$USER" "$CTR" -- "$BIN_PATH" --version >"$WORK/version" 2>&1 \
    && grep -q '^zt-authz ' "$WORK/version" && ok "buildah run (chroot) as $USER: --version" || bad "buildah run --version: $(cat "$WORK/version")"
  timeout 60 buildah run --isolation chroot --user "$USER" "$CTR" -- "$BIN_PATH" check-config --config /etc/zt-authz/config.yaml >"$WORK/check" 2>&1 \
    && ok "buildah run (chroot) as $USER: check-config" || bad "buildah run check-config: $(cat "$WORK/check")"
fi

echo "image check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
