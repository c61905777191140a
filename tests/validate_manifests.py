"""Offline validation of the deployment files (no cluster needed).

- Renders helm/zt-authz with a real Go template engine (tests/helm_render, built
  by tests/run.sh) for the default values and every combination of the Istio
  switches, with both revocation stores.
- Validates every rendered object and every file in istio/: Istio kinds
  against the CRD schemas in ../shared/schemas/istio, core kinds with
  kubernetes-validate (strict), Prometheus Operator kinds by their required
  shape.
- Runs `zt-authz check-config` on the config the chart's ConfigMap embeds.

Usage: python3 tests/validate_manifests.py RENDERER ZT_AUTHZ_BINARY
"""

import copy
import itertools
import json
import pathlib
import subprocess
import sys
import tempfile

import jsonschema
import kubernetes_validate
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
CRDS = ROOT.parent / "shared" / "schemas" / "istio" / "customresourcedefinitions.gen.yaml"
KUBERNETES = "1.33.0"

failures = []
checked = 0


def fail(where, message):
    failures.append(f"{where}: {message}")


def load_crd_schemas():
    schemas = {}
    for doc in yaml.safe_load_all(CRDS.read_text()):
        if not doc or doc.get("kind") != "CustomResourceDefinition":
            continue
        spec = doc["spec"]
        for version in spec["versions"]:
            if not version.get("served", False):
                continue
            key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
            schemas[key] = version["schema"]["openAPIV3Schema"]
    return schemas


def check_prometheus_operator(where, doc):
    spec = doc.get("spec") or {}
    if doc["kind"] == "PrometheusRule":
        groups = spec.get("groups") or []
        if not groups:
            fail(where, "PrometheusRule without groups")
        for g in groups:
            for r in g.get("rules", []):
                if not r.get("expr") or not (r.get("alert") or r.get("record")):
                    fail(where, f"rule without expr or alert: {r}")
    elif doc["kind"] == "ServiceMonitor":
        if not spec.get("selector") or not spec.get("endpoints"):
            fail(where, "ServiceMonitor needs a selector and endpoints")
    else:
        fail(where, f"unknown kind {doc['kind']}")


def check_mesh_providers(where, mesh):
    providers = mesh.get("extensionProviders") or []
    grpc = [p.get("envoyExtAuthzGrpc") for p in providers if p.get("name") == "zt-authz"]
    if not grpc or not grpc[0]:
        fail(where, "no envoyExtAuthzGrpc provider named zt-authz")
        return
    p = grpc[0]
    if p.get("failOpen") is not False:
        fail(where, "the provider must fail closed (failOpen: false)")
    if not p.get("timeout"):
        fail(where, "the provider needs an explicit timeout")
    if not p.get("statusOnError") or not p.get("service") or not p.get("port"):
        fail(where, "statusOnError, service and port are required")


def validate(where, doc, schemas, zt_authz):
    global checked
    checked += 1
    api, kind = doc.get("apiVersion", ""), doc.get("kind", "")
    if (api, kind) in schemas:
        body = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind", "metadata")}
        try:
            jsonschema.validate(body, schemas[(api, kind)])
        except jsonschema.ValidationError as e:
            fail(where, f"{kind}: {e.message} at {list(e.absolute_path)}")
        return
    if api.split("/")[0] in ("security.istio.io", "networking.istio.io", "telemetry.istio.io"):
        fail(where, f"{api} {kind} is not a served Istio version/kind")
        return
    if api.startswith("monitoring.coreos.com/"):
        check_prometheus_operator(where, doc)
        return
    try:
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)
    except Exception as e:  # kubernetes_validate raises several error types
        fail(where, f"{kind} {doc.get('metadata', {}).get('name')}: {e}")
        return
    data = doc.get("data") or {}
    if kind == "ConfigMap" and "config.yaml" in data:
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
            f.write(data["config.yaml"])
            f.flush()
            run = subprocess.run([zt_authz, "check-config", "--config", f.name], capture_output=True, text=True)
            if run.returncode != 0:
                fail(where, f"embedded zt-authz config rejected:\n{run.stderr}")
    if kind == "ConfigMap" and "mesh.yaml" in data:
        check_mesh_providers(where, yaml.safe_load(data["mesh.yaml"]))
    if kind == "ConfigMap" and "zt-authz.json" in data:
        json.loads(data["zt-authz.json"])


def render(renderer, overrides):
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        yaml.safe_dump(overrides, f)
        f.flush()
        run = subprocess.run([renderer, str(ROOT / "helm" / "zt-authz"), f.name], capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"rendering failed for {overrides}:\n{run.stderr}")
    return [d for d in yaml.safe_load_all(run.stdout) if d]


def set_path(values, dotted, value):
    node = values
    *parents, last = dotted.split(".")
    for p in parents:
        node = node.setdefault(p, {})
    node[last] = value


def main():
    renderer, zt_authz = sys.argv[1], sys.argv[2]
    schemas = load_crd_schemas()

    for path in sorted((ROOT / "istio").glob("*.yaml")):
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        if path.name == "extension-provider.yaml":
            global checked
            checked += 1
            check_mesh_providers(path.name, docs[0].get("meshConfig", {}))
            continue
        for i, doc in enumerate(docs):
            validate(f"istio/{path.name}[{i}]", doc, schemas, zt_authz)

    toggles = ["istio.extensionProvider.enabled", "istio.authorizationPolicy.enabled", "istio.strictMTLS.enabled"]
    combos = [({}, "defaults")]
    for bits in itertools.product([True, False], repeat=len(toggles)):
        for store in ("embedded", "redis"):
            o = {}
            for t, b in zip(toggles, bits):
                set_path(o, t, b)
            set_path(o, "revocations.store", store)
            if store == "redis":
                set_path(o, "metrics.serviceMonitor.enabled", True)
                set_path(o, "admin.issuer", "https://login.example.com/realms/shop")
            combos.append((o, f"{dict(zip(toggles, bits))} store={store}"))
    everything_off = {}
    for t in toggles + ["hpa.enabled", "pdb.enabled", "networkPolicy.enabled", "metrics.prometheusRule.enabled",
                        "metrics.grafanaDashboard.enabled", "serviceAccount.create"]:
        set_path(everything_off, t, False)
    combos.append((everything_off, "everything off"))

    for overrides, name in combos:
        docs = render(renderer, copy.deepcopy(overrides))
        kinds = [d["kind"] for d in docs]
        for i, doc in enumerate(docs):
            validate(f"helm[{name}] {doc.get('kind')}/{doc.get('metadata', {}).get('name')}", doc, schemas, zt_authz)
        # Each switch really switches its resource.
        def on(path, default=True):
            node = overrides
            for p in path.split("."):
                if not isinstance(node, dict) or p not in node:
                    return default
                node = node[p]
            return node
        expect = {
            "AuthorizationPolicy": on("istio.authorizationPolicy.enabled"),
            "PeerAuthentication": on("istio.strictMTLS.enabled"),
            "ServiceMonitor": on("metrics.serviceMonitor.enabled", False),
            "HorizontalPodAutoscaler": on("hpa.enabled"),
            "PodDisruptionBudget": on("pdb.enabled"),
            "NetworkPolicy": on("networkPolicy.enabled"),
            "PrometheusRule": on("metrics.prometheusRule.enabled"),
        }
        for kind, wanted in expect.items():
            if (kind in kinds) != wanted:
                fail(f"helm[{name}]", f"{kind} {'missing' if wanted else 'rendered although switched off'}")
        mesh = [d for d in docs if d["kind"] == "ConfigMap" and "mesh.yaml" in (d.get("data") or {})]
        if bool(mesh) != on("istio.extensionProvider.enabled"):
            fail(f"helm[{name}]", "the extension-provider switch does not switch")
        for required in ("Deployment", "Service", "ConfigMap"):
            if required not in kinds:
                fail(f"helm[{name}]", f"no {required}")

    for f in failures:
        print(f"FAIL {f}")
    print(f"validated {checked} objects in {len(combos)} renderings and istio/")
    print(f"manifests: {checked - len(failures)} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
