"""Offline validation of the deployment files (no cluster needed).

- `helm lint --strict` and `helm package` on helm/zt-authz.
- `helm template` for the default values, every combination of the Istio
  switches with both revocation stores, an external Redis, an existing HMAC
  key Secret, opt-in path scoping, Rego files in `policyFiles` with a
  generated or an existing DPoP nonce key, and everything switched off.
- Every rendered object and every file in istio/: Istio kinds against the
  CRD schemas of the istio.io/api module (path given by tests/tools.sh),
  core kinds with kubernetes-validate (strict), Prometheus Operator kinds by
  their required shape; `zt-authz check-config` on the config file the chart
  renders into its config Secret, with the files rendered beside it.
- The chart's rules, each a check that fails when the rule is broken: bad
  values refused by values.schema.json, bad combinations refused by the
  templates, every request covered by the CUSTOM policy, revocations that
  cannot be lost, config changes reloaded in place, memory sized for the
  stated capacity, the Redis fan-out key mounted from a Secret, the files
  the config names (Rego modules and data, the DPoP nonce key) at the paths
  it names them by in the pod, and a change of a Rego file alone reloaded
  in place.
- With --istioctl: `istioctl validate -f` on istio/ and on every rendering
  that holds Istio objects, and `istioctl analyze --use-kube=false` on them.
- With --meshcheck: every mesh config (istio/ and the chart's extension
  provider) parsed strictly against Istio's MeshConfig (tests/meshcheck),
  which catches the misspelt keys istioctl lets through.

Usage: python3 tests/validate_manifests.py --helm HELM --crds CRDS_YAML
           --zt-authz ZT_AUTHZ_BINARY [--istioctl ISTIOCTL] [--meshcheck MESHCHECK]
"""

import argparse
import base64
import copy
import itertools
import json
import pathlib
import posixpath
import re
import secrets
import subprocess
import sys
import tempfile

import jsonschema
import kubernetes_validate
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHART = ROOT / "helm" / "zt-authz"
KUBERNETES = "1.33.0"
RELEASE, NAMESPACE = "zt-authz", "zt-authz"
# Where the chart mounts the DPoP nonce key; the config must name this path.
NONCE_KEY_PATH = "/etc/zt-authz-dpop/nonce-key"
ISTIO_GROUPS = ("security.istio.io", "networking.istio.io", "telemetry.istio.io", "install.istio.io")

failures = []
passed = 0


def fail(where, message):
    failures.append(f"{where}: {message}")


def check(where, ok, message):
    """One counted check: passes when ok is true."""
    global passed
    if ok:
        passed += 1
    else:
        fail(where, message)
    return ok


def run(cmd, **kw):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300, **kw)


def load_crd_schemas(path):
    schemas = {}
    for doc in yaml.safe_load_all(pathlib.Path(path).read_text()):
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
            return f"PrometheusRule without groups"
        for g in groups:
            for r in g.get("rules", []):
                if not r.get("expr") or not (r.get("alert") or r.get("record")):
                    return f"rule without expr or alert: {r}"
    elif doc["kind"] == "ServiceMonitor":
        if not spec.get("selector") or not spec.get("endpoints"):
            return "ServiceMonitor needs a selector and endpoints"
    else:
        return f"unknown kind {doc['kind']}"
    return None


def mesh_provider_problem(mesh):
    providers = mesh.get("extensionProviders") or []
    grpc = [p.get("envoyExtAuthzGrpc") for p in providers if p.get("name") == "zt-authz"]
    if not grpc or not grpc[0]:
        return "no envoyExtAuthzGrpc provider named zt-authz"
    p = grpc[0]
    if p.get("failOpen") is not False:
        return "the provider must fail closed (failOpen: false)"
    if not p.get("timeout"):
        return "the provider needs an explicit timeout"
    if not p.get("statusOnError") or not p.get("service") or not p.get("port"):
        return "statusOnError, service and port are required"
    return None


class ConfigChecker:
    """Runs `zt-authz check-config` on a rendered config file, with every
    other key of its Secret written beside it, as the pod sees them: the
    Rego modules and data it names relative to itself are read from there.

    The chart sets `revocations.redis_hmac_key_file` and the issuers'
    `dpop.nonce_key_file` to paths inside the pod; here they are pointed at
    local copies of the rendered keys. A zt-authz build that does not know
    the HMAC key yet rejects it as unknown: then, and only then, the key is
    dropped before the check, and `hmac_key_unknown` records that it
    happened.
    """

    def __init__(self, binary, workdir):
        self.binary = binary
        self.workdir = pathlib.Path(workdir)
        self.hmac_key_unknown = False

    def problem(self, data, hmac_key, nonce_key):
        # A new directory each time, so that no file of an earlier rendering
        # can stand in for one this rendering lacks.
        root = pathlib.Path(tempfile.mkdtemp(dir=self.workdir))
        etc, keys = root / "etc", root / "keys"
        etc.mkdir()
        keys.mkdir()
        for name, content in data.items():
            if name != "config.yaml":
                (etc / name).write_text(content)
        config = yaml.safe_load(data["config.yaml"])
        rev = config.get("revocations") or {}
        if "redis_hmac_key_file" in rev:
            key_file = keys / "hmac-key"
            # The key the chart generated, or (an existing Secret's, unknown
            # here) a stand-in of the same size.
            key_file.write_text(hmac_key or secrets.token_hex(32))
            rev["redis_hmac_key_file"] = str(key_file)
        for issuer in config.get("issuers") or []:
            dpop = issuer.get("dpop") or {}
            if dpop.get("nonce_key_file") == NONCE_KEY_PATH:
                key_file = keys / "nonce-key"
                key_file.write_text(nonce_key or secrets.token_hex(32))
                dpop["nonce_key_file"] = str(key_file)
        out = self._run(config, etc)
        unknown = "redis_hmac_key_file: unknown field `redis_hmac_key_file`"
        if out.returncode != 0 and "redis_hmac_key_file" in rev and unknown in out.stderr + out.stdout:
            retry = copy.deepcopy(config)
            del retry["revocations"]["redis_hmac_key_file"]
            second = self._run(retry, etc)
            if second.returncode == 0:
                self.hmac_key_unknown = True
                return None
            out = second
        if out.returncode != 0:
            return f"embedded zt-authz config rejected:\n{out.stderr}{out.stdout}"
        return None

    def _run(self, config, etc):
        path = etc / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        return run([self.binary, "check-config", "--config", path])


class Validator:
    def __init__(self, args, workdir):
        self.args = args
        self.workdir = pathlib.Path(workdir)
        self.schemas = load_crd_schemas(args.crds)
        self.configs = ConfigChecker(args.zt_authz, self.workdir)
        self.renderings = 0

    def validate(self, where, doc, secrets=None):
        api, kind = doc.get("apiVersion", ""), doc.get("kind", "")
        name = doc.get("metadata", {}).get("name")
        where = f"{where} {kind}/{name}"
        if (api, kind) in self.schemas:
            body = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind", "metadata")}
            try:
                jsonschema.validate(body, self.schemas[(api, kind)])
                check(where, True, "")
            except jsonschema.ValidationError as e:
                check(where, False, f"{e.message} at {list(e.absolute_path)}")
            return
        if kind == "IstioOperator":
            problem = None if (doc.get("spec") or {}).get("meshConfig") else "an IstioOperator without meshConfig"
            check(where, problem is None, problem)  # istioctl checks the rest
            return
        if api.split("/")[0] in ISTIO_GROUPS:
            check(where, False, f"{api} {kind} is not a served Istio version/kind")
            return
        if api.startswith("monitoring.coreos.com/"):
            problem = check_prometheus_operator(where, doc)
            check(where, problem is None, problem)
            return
        try:
            kubernetes_validate.validate(doc, KUBERNETES, strict=True)
        except Exception as e:  # kubernetes_validate raises several error types
            check(where, False, str(e))
            return
        problem = None
        data = secret_data(doc) if kind == "Secret" else (doc.get("data") or {})
        if kind == "Secret" and "config.yaml" in data:
            problem = self.configs.problem(data, hmac_key_of(secrets or []), nonce_key_of(secrets or []))
        if kind == "ConfigMap" and "mesh.yaml" in data:
            problem = mesh_provider_problem(yaml.safe_load(data["mesh.yaml"]))
        if kind == "ConfigMap" and "zt-authz.json" in data:
            json.loads(data["zt-authz.json"])
        check(where, problem is None, problem)

    def render(self, overrides, chart=CHART):
        """helm template; returns (docs, None) or (None, error text)."""
        values = self.workdir / "values.yaml"
        values.write_text(yaml.safe_dump(overrides))
        out = run([self.args.helm, "template", RELEASE, chart, "--namespace", NAMESPACE, "-f", values])
        self.renderings += 1
        if out.returncode != 0:
            return None, out.stderr.strip()
        return [d for d in yaml.safe_load_all(out.stdout) if d], None

    def istioctl(self, where, docs=None, files=None):
        """istioctl validate on each file (a warning fails it too), then
        istioctl analyze offline on them all, with istio/namespaces.yaml so
        that the namespaces and their injection labels are known."""
        if not self.args.istioctl:
            return
        if docs is not None:
            if not any(d.get("apiVersion", "").split("/")[0] in ISTIO_GROUPS for d in docs):
                return
            path = self.workdir / "rendered.yaml"
            path.write_text(yaml.safe_dump_all(docs))
            files = [path]
        for f in files:
            out = run([self.args.istioctl, "validate", "-f", f])
            text = (out.stdout + out.stderr).strip()
            check(f"{where} istioctl validate {pathlib.Path(f).name}",
                  out.returncode == 0 and text == f'"{f}" is valid', text)
        context = [ROOT / "istio" / "namespaces.yaml"] if docs is not None else []
        out = run([self.args.istioctl, "analyze", "--use-kube=false", "--failure-threshold", "Warning", *context, *files])
        text = (out.stdout + out.stderr).strip()
        check(f"{where} istioctl analyze", out.returncode == 0 and text.startswith("\u2714 No validation issues found"), text)


    def meshcheck(self, where, mesh):
        """The mesh config parsed strictly as Istio's MeshConfig."""
        if not self.args.meshcheck:
            return
        path = self.workdir / "mesh.json"
        path.write_text(json.dumps(mesh))
        out = run([self.args.meshcheck, path])
        check(f"{where} strict MeshConfig", out.returncode == 0, (out.stdout + out.stderr).strip())


def secret_data(doc):
    data = {k: base64.b64decode(v).decode() for k, v in (doc.get("data") or {}).items()}
    data.update(doc.get("stringData") or {})
    return data


def hmac_key_of(docs):
    for d in docs:
        if d["kind"] == "Secret" and d["metadata"]["name"].endswith("-hmac"):
            return next(iter(secret_data(d).values()), None)
    return None


def nonce_key_of(docs):
    for d in docs:
        if d["kind"] == "Secret" and d["metadata"]["name"].endswith("-dpop-nonce"):
            return next(iter(secret_data(d).values()), None)
    return None


def set_path(values, dotted, value):
    node = values
    *parents, last = dotted.split(".")
    for p in parents:
        node = node.setdefault(p, {})
    node[last] = value


def get_path(values, dotted, default=None):
    node = values
    for p in dotted.split("."):
        if not isinstance(node, dict) or p not in node:
            return default
        node = node[p]
    return node


def merged(*parts):
    out = {}
    for part in parts:
        for k, v in part.items():
            set_path(out, k, v)
    return out


def find(docs, kind, suffix=""):
    return [d for d in docs if d["kind"] == kind and d["metadata"]["name"].endswith(suffix)]


def zt_config(docs):
    secret = find(docs, "Secret", "-config")
    return yaml.safe_load(secret_data(secret[0])["config.yaml"]) if secret else {}


def memory_bytes(q):
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
    m = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(q))
    return float(m.group(1)) * units.get(m.group(2), 1)


def pod_template(docs):
    return find(docs, "Deployment")[0]["spec"]["template"]


def config_path(docs):
    """The config file zt-authz is started with, from the container's args."""
    args = pod_template(docs)["spec"]["containers"][0]["args"]
    return args[args.index("--config") + 1]


def pod_file(docs, path):
    """Which Secret key kubelet puts at `path` in the zt-authz container:
    (secret name, key, mount), or None. Follows the volume semantics the
    chart relies on: the deepest mount holding the path; a Secret volume
    without `items` projects every key flat at its root, one with `items`
    only those, each at its `path`."""
    spec = pod_template(docs)["spec"]
    volumes = {vol["name"]: vol for vol in spec["volumes"]}
    mounts = [m for m in spec["containers"][0]["volumeMounts"]
              if path.startswith(m["mountPath"].rstrip("/") + "/")]
    if not mounts:
        return None
    mount = max(mounts, key=lambda m: len(m["mountPath"]))
    secret = volumes.get(mount["name"], {}).get("secret")
    if not secret or mount.get("subPath"):
        return None
    rel = path[len(mount["mountPath"].rstrip("/")) + 1:]
    items = secret.get("items")
    if items:
        key = next((i["key"] for i in items if i["path"] == rel), None)
    else:
        key = rel if "/" not in rel else None
    return (secret["secretName"], key, mount) if key else None


def rego_files(config):
    """Every file the config's Rego policies name: (where, path as written)."""
    for i, policy in enumerate(config.get("policies") or []):
        rego = policy.get("rego") or {}
        module = rego.get("module") or []
        for path in [module] if isinstance(module, str) else module:
            yield f"policies[{i}].rego.module", path
        if rego.get("data"):
            yield f"policies[{i}].rego.data", rego["data"]


# ----------------------------------------------------------------------------


def check_istio_dir(v):
    mesh_configs = {}
    for path in sorted((ROOT / "istio").glob("*.yaml")):
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        where = f"istio/{path.name}"
        if path.name == "istiod-values.yaml":
            mesh = docs[0].get("meshConfig", {})
            mesh_configs[path.name] = mesh
            problem = mesh_provider_problem(mesh)
            check(where, problem is None, problem)
            continue
        for doc in docs:
            v.validate(where, doc)
            if doc.get("kind") == "IstioOperator":
                mesh_configs[path.name] = doc["spec"].get("meshConfig", {})
            if doc.get("kind") == "AuthorizationPolicy" and doc["spec"].get("action") == "CUSTOM":
                check(f"{where} covers every request", doc["spec"].get("rules") == [{}],
                      f"the CUSTOM policy must be `rules: [{{}}]` (every request), not {doc['spec'].get('rules')}")
    check("istio/ mesh config for istioctl and Helm", len(mesh_configs) == 2 and
          len({json.dumps(m, sort_keys=True) for m in mesh_configs.values()}) == 1,
          f"istiod-values.yaml and istio-operator.yaml must carry the same meshConfig: {mesh_configs}")
    for name, mesh in mesh_configs.items():
        v.meshcheck(f"istio/{name}", mesh)
        norm = get_path(mesh, "pathNormalization.normalization")
        check(f"istio/{name} path normalisation", norm in ("MERGE_SLASHES", "DECODE_AND_MERGE_SLASHES"),
              f"meshConfig.pathNormalization.normalization must merge slashes, is {norm!r}")
    # istiod-values.yaml is Helm values, not a resource: istioctl would skip
    # it; its meshConfig equals istio-operator.yaml's, which istioctl checks.
    v.istioctl("istio/", files=[p for p in sorted((ROOT / "istio").glob("*.yaml")) if p.name != "istiod-values.yaml"])


def check_lint_and_package(v):
    out = run([v.args.helm, "lint", "--strict", CHART])
    check("helm lint --strict", out.returncode == 0, out.stdout + out.stderr)
    out = run([v.args.helm, "package", CHART, "--destination", v.workdir])
    packages = list(v.workdir.glob("zt-authz-*.tgz"))
    check("helm package", out.returncode == 0 and len(packages) == 1, out.stdout + out.stderr)
    if packages:
        docs, err = v.render({}, chart=packages[0])
        check("helm template of the package", docs is not None, err)


# A Rego module and a data file shipped with the chart, and a config that
# names them as they appear beside it.
TENANT_REGO = (ROOT / "examples" / "policies" / "tenant.rego").read_text()
POLICY_FILES = {
    "policyFiles": {"tenant.rego": TENANT_REGO, "tenants.yaml": "tenants: [acme, globex]\n"},
    "config.policies": [
        {"name": "health", "match": {"path": {"exact": "/healthz"}}, "anonymous": True},
        {"name": "tenants", "match": {"path": {"prefix": "/tenants/"}}, "scopes": ["orders:read"],
         "rego": {"module": "tenant.rego", "data": "tenants.yaml", "query": "data.zt.authz.result",
                  "headers": ["x-tenant"]}},
    ],
}
# An issuer that requires DPoP nonces, with the key where the chart mounts it.
NONCE_CONFIG = {
    "config.issuers": [{
        "issuer": "https://login.example.com/realms/shop",
        "discovery_url": "https://login.example.com/realms/shop/.well-known/openid-configuration",
        "audiences": ["shop-api"], "required_typ": "at+jwt",
        "dpop": {"require_nonce": True, "nonce_key_file": NONCE_KEY_PATH},
    }],
}


# Values the schema must refuse, with the words its message must contain.
BAD_VALUES = [
    ({"replicaCount": "two"}, "at '/replicaCount'"),
    ({"revocations": {"store": "sqlite"}}, "at '/revocations/store': value must be one of 'redis', 'embedded'"),
    ({"revocations": {"store": "memory"}}, "at '/revocations/store': value must be one of 'redis', 'embedded'"),
    ({"grpcPort": 70000}, "at '/grpcPort'"),
    ({"istio": {"authorizationPolicy": {"path": ["/orders*"]}}}, "'path' not allowed"),
    ({"revocations": {"redis": {"url": "http://redis:6379"}}}, "at '/revocations/redis/url'"),
    ({"resources": {"limits": {"memory": "lots"}}}, "at '/resources/limits/memory'"),
    ({"redis": {"auth": {"password": "short"}}}, "at '/redis/auth/password'"),
    ({"redis": {"auth": {"password": "has@and/in-a-url-0123"}}}, "at '/redis/auth/password'"),
    ({"policyFiles": {"../tenant.rego": "package x"}}, "at '/policyFiles': additional properties '../tenant.rego'"),
    ({"policyFiles": {"policies/tenant.rego": "package x"}},
     "at '/policyFiles': additional properties 'policies/tenant.rego'"),
    ({"policyFiles": {"..data": "x"}}, "at '/policyFiles': additional properties '..data'"),
    ({"policyFiles": {"tenant rego": "x"}}, "at '/policyFiles': additional properties 'tenant rego'"),
    ({"policyFiles": {"config.yaml": "default_action: allow"}}, "at '/policyFiles/config.yaml'"),
    ({"policyFiles": {"tenant.rego": 5}}, "at '/policyFiles/tenant.rego'"),
    ({"dpop": {"nonceKey": {"secretKey": "a/b"}}}, "at '/dpop/nonceKey/secretKey'"),
    ({"dpop": {"nonceKey": {"create": "yes"}}}, "at '/dpop/nonceKey/create'"),
]

# Combinations the templates must refuse, with the words the message must contain.
BAD_COMBINATIONS = [
    ({"revocations.store": "embedded", "hpa.enabled": False, "replicaCount": 2},
     "Set revocations.store: redis"),
    ({"revocations.store": "embedded", "hpa.enabled": True, "replicaCount": 1},
     "Set revocations.store: redis"),
    ({"redis.enabled": False, "revocations.redis.url": ""}, "revocations.store: redis needs a Redis"),
    ({"revocations.capacity": 3000000}, "too small for revocations.capacity"),
    ({"resources.limits.memory": "256Mi"}, "too small for revocations.capacity"),
    ({"dpop.nonceKey.create": True, "dpop.nonceKey.existingSecret": "mine"}, "not both"),
    (NONCE_CONFIG, "nonces need a key shared by every replica"),
    ({**NONCE_CONFIG, "dpop.nonceKey.create": True,
      "config.issuers": [{**NONCE_CONFIG["config.issuers"][0],
                          "dpop": {"require_nonce": True, "nonce_key_file": "dpop-nonce.key"}}]},
     f"but the chart mounts the nonce key (dpop.nonceKey) at {NONCE_KEY_PATH}"),
    ({**POLICY_FILES, "policyFiles": {"tenants.yaml": "tenants: []\n"}}, '"tenant.rego", which is not a key of policyFiles'),
    ({**POLICY_FILES, "config.policies": [{**POLICY_FILES["config.policies"][1],
                                           "rego": {"module": ["tenant.rego", "policies/tenant.rego"],
                                                    "query": "data.zt.authz.result"}}]},
     '"policies/tenant.rego", which is not a key of policyFiles'),
]


def check_refusals(v):
    for overrides, words in BAD_VALUES:
        where = f"schema refuses {json.dumps(overrides)}"
        values = v.workdir / "bad.yaml"
        values.write_text(yaml.safe_dump(overrides))
        lint = run([v.args.helm, "lint", "--strict", CHART, "-f", values])
        docs, err = v.render(overrides)
        check(where, lint.returncode != 0 and docs is None and "values don't meet the specifications of the schema" in err
              and words in err, f"not refused with a message naming {words!r}: {err or 'rendered'}")
    for dotted, words in BAD_COMBINATIONS:
        docs, err = v.render(merged(dotted))
        # The overrides may hold a whole Rego module: name them briefly.
        named = str(dotted) if len(str(dotted)) <= 160 else str(dotted)[:157] + "..."
        check(f"refuses {named}", docs is None and words in (err or ""),
              f"rendered, or refused without {words!r}: {err}")


def expected_kinds(o):
    replicated = get_path(o, "hpa.enabled", True) or get_path(o, "replicaCount", 2) > 1
    return {
        "AuthorizationPolicy": get_path(o, "istio.authorizationPolicy.enabled", True),
        "PeerAuthentication": get_path(o, "istio.strictMTLS.enabled", True),
        "ServiceMonitor": get_path(o, "metrics.serviceMonitor.enabled", False),
        "HorizontalPodAutoscaler": get_path(o, "hpa.enabled", True),
        "PodDisruptionBudget": get_path(o, "pdb.enabled", True) and replicated,
        "PrometheusRule": get_path(o, "metrics.prometheusRule.enabled", True),
        "StatefulSet": get_path(o, "revocations.store", "redis") == "redis" and get_path(o, "redis.enabled", True),
        "PersistentVolumeClaim": get_path(o, "revocations.store", "redis") == "embedded"
        and not get_path(o, "revocations.embedded.existingClaim", ""),
    }


def combinations():
    toggles = ["istio.extensionProvider.enabled", "istio.authorizationPolicy.enabled", "istio.strictMTLS.enabled"]
    combos = [({}, "defaults")]
    for bits in itertools.product([True, False], repeat=len(toggles)):
        for store in ("redis", "embedded"):
            o = merged(dict(zip(toggles, bits)), {"revocations.store": store})
            if store == "embedded":
                o = merged({"hpa.enabled": False, "replicaCount": 1}, flat(o))
            else:
                o = merged({"metrics.serviceMonitor.enabled": True,
                            "admin.issuer": "https://login.example.com/realms/shop"}, flat(o))
            combos.append((o, f"{dict(zip(toggles, bits))} store={store}"))
    combos.append((merged({"redis.enabled": False, "revocations.redis.url": "rediss://redis.example.internal:6380"}),
                   "external redis"))
    combos.append((merged({"revocations.redis.hmacKey.existingSecret": "fanout-key",
                           "revocations.redis.hmacKey.secretKey": "key"}), "existing HMAC key Secret"))
    combos.append((merged({"revocations.store": "embedded", "replicaCount": 1, "hpa.enabled": False,
                           "revocations.embedded.existingClaim": "my-claim"}), "embedded, existing claim"))
    combos.append((merged({"istio.authorizationPolicy.paths": ["/orders*", "/admin*"]}), "opt-in paths"))
    combos.append((merged({"redis.auth.password": "given-password-0123456789abcdef"}), "Redis password given"))
    combos.append((merged(POLICY_FILES), "Rego policy files"))
    combos.append((merged(POLICY_FILES, NONCE_CONFIG, {"dpop.nonceKey.create": True}),
                   "Rego policy files, generated DPoP nonce key"))
    combos.append((merged(NONCE_CONFIG, {"dpop.nonceKey.existingSecret": "my-nonce-key",
                                         "dpop.nonceKey.secretKey": "key"}), "existing DPoP nonce key Secret"))
    off = {t: False for t in toggles + ["hpa.enabled", "pdb.enabled", "networkPolicy.enabled",
                                        "metrics.prometheusRule.enabled", "metrics.grafanaDashboard.enabled",
                                        "serviceAccount.create"]}
    combos.append((merged(off), "everything off"))
    return combos


def flat(values, prefix=""):
    out = {}
    for k, val in values.items():
        if isinstance(val, dict) and val:
            out.update(flat(val, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = val
    return out


def check_rendering(v, overrides, name):
    where = f"helm[{name}]"
    docs, err = v.render(copy.deepcopy(overrides))
    if not check(f"{where} renders", docs is not None, err):
        return None
    for doc in docs:
        v.validate(where, doc, docs)
    kinds = [d["kind"] for d in docs]
    for kind, wanted in expected_kinds(overrides).items():
        check(f"{where} {kind} switch", (kind in kinds) == bool(wanted),
              f"{kind} {'missing' if wanted else 'rendered although switched off'}")
    mesh = [d for d in docs if d["kind"] == "ConfigMap" and "mesh.yaml" in (d.get("data") or {})]
    zt_netpol = [d for d in find(docs, "NetworkPolicy") if d["metadata"]["name"] == RELEASE]
    check(f"{where} NetworkPolicy switch", bool(zt_netpol) == get_path(overrides, "networkPolicy.enabled", True),
          "zt-authz's NetworkPolicy does not follow networkPolicy.enabled")
    for cm in mesh:
        v.meshcheck(f"{where} ConfigMap/{cm['metadata']['name']}", yaml.safe_load(cm["data"]["mesh.yaml"]))
    check(f"{where} extension-provider switch", bool(mesh) == get_path(overrides, "istio.extensionProvider.enabled", True),
          "the extension-provider switch does not switch")
    for required in ("Deployment", "Service", "Secret"):
        check(f"{where} has a {required}", required in kinds, f"no {required}")
    check_zero_trust(where, overrides, docs)
    check_revocation_rules(where, overrides, docs)
    check_config_files(where, overrides, docs)
    v.istioctl(where, docs=docs)
    return docs


def check_zero_trust(where, overrides, docs):
    """4a: the CUSTOM policy covers every request unless paths are opted in."""
    paths = get_path(overrides, "istio.authorizationPolicy.paths", [])
    for ap in find(docs, "AuthorizationPolicy"):
        rules = ap["spec"].get("rules")
        if paths:
            ok = rules == [{"to": [{"operation": {"paths": paths}}]}]
        else:
            ok = rules == [{}]
        check(f"{where} CUSTOM policy scope", ok and ap["spec"].get("action") == "CUSTOM",
              f"expected {'the opted-in paths' if paths else 'rules: [{}] (every request)'}, got {rules}")
    config = zt_config(docs)
    check(f"{where} default_action", config.get("default_action") == "deny",
          f"zt-authz's config must deny what no policy matches, has {config.get('default_action')!r}")


def check_revocation_rules(where, overrides, docs):
    """4b, 4c: revocations cannot be lost; the fan-out key comes from a Secret."""
    store = get_path(overrides, "revocations.store", "redis")
    config = zt_config(docs)
    rev = config.get("revocations", {})
    deployment = find(docs, "Deployment")[0]
    pod = deployment["spec"]["template"]["spec"]
    volumes = {vol["name"]: vol for vol in pod["volumes"]}
    mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
    replicas = deployment["spec"].get("replicas")
    hpa = find(docs, "HorizontalPodAutoscaler")
    check(f"{where} store", rev.get("store") == store, f"config store {rev.get('store')!r}, values {store!r}")
    if store == "embedded":
        check(f"{where} embedded: one replica, no HPA, a claim",
              replicas == 1 and not hpa and "persistentVolumeClaim" in volumes["revocations"]
              and "emptyDir" not in volumes["revocations"]
              and deployment["spec"].get("strategy", {}).get("type") == "Recreate",
              f"embedded needs replicas 1 ({replicas}), no HPA ({bool(hpa)}), a PVC ({volumes['revocations']}) and Recreate")
        check(f"{where} embedded: file on the claim",
              rev.get("path", "").startswith(mounts["revocations"]["mountPath"] + "/"),
              f"revocations.path {rev.get('path')} is not on the claim's mount")
        check(f"{where} embedded: no HMAC key", "redis_hmac_key_file" not in rev and "hmac-key" not in volumes,
              "an embedded store has no fan-out to sign")
        return
    check(f"{where} redis: URL", rev.get("redis_url", "").startswith(("redis://", "rediss://")),
          f"redis store without a redis URL: {rev}")
    # The fan-out key: a file from a Secret volume, at least 32 bytes.
    key_file = rev.get("redis_hmac_key_file", "")
    secret_name = get_path(overrides, "revocations.redis.hmacKey.existingSecret", "") or f"{RELEASE}-hmac"
    key_name = get_path(overrides, "revocations.redis.hmacKey.secretKey", "hmac-key")
    vol = volumes.get("hmac-key", {}).get("secret", {})
    mount = mounts.get("hmac-key", {})
    check(f"{where} redis: HMAC key file from a Secret",
          vol.get("secretName") == secret_name and key_file == f"{mount.get('mountPath')}/{key_name}"
          and mount.get("readOnly") is True and {"key": key_name, "path": key_name} in vol.get("items", []),
          f"redis_hmac_key_file {key_file!r} is not the Secret {secret_name}/{key_name} mounted read-only ({vol}, {mount})")
    generated = find(docs, "Secret", "-hmac")
    if get_path(overrides, "revocations.redis.hmacKey.existingSecret", ""):
        check(f"{where} redis: existing HMAC Secret used as is", not generated,
              "the chart generated a key although an existing Secret was named")
    else:
        key = secret_data(generated[0]).get(key_name, "") if generated else ""
        check(f"{where} redis: generated HMAC key", len(key.encode()) >= 32,
              f"the generated key has {len(key.encode())} bytes, needs at least 32")
    if get_path(overrides, "redis.enabled", True):
        check_bundled_redis(where, overrides, docs, rev)
    # No password or URL in a ConfigMap.
    for cm in find(docs, "ConfigMap"):
        text = json.dumps(cm.get("data") or {})
        check(f"{where} no secrets in ConfigMap {cm['metadata']['name']}",
              "redis://" not in text and "rediss://" not in text and "requirepass" not in text,
              "a Redis URL or password in a ConfigMap")


def check_config_files(where, overrides, docs):
    """The files the config names are in the pod where it names them: the
    Rego files of policyFiles beside config.yaml, the DPoP nonce key from
    its Secret, read-only."""
    config = zt_config(docs)
    config_file = config_path(docs)
    config_secret = f"{RELEASE}-config"
    rendered = secret_data(find(docs, "Secret", "-config")[0])
    at = pod_file(docs, config_file)
    check(f"{where} config.yaml from the config Secret", at and at[:2] == (config_secret, "config.yaml"),
          f"{config_file} is not the config Secret's config.yaml: {at}")
    wanted = get_path(overrides, "policyFiles", {}) or {}
    for name, content in wanted.items():
        check(f"{where} policyFiles {name} in the config Secret", rendered.get(name) == content,
              f"the config Secret does not hold {name} as given")
        at = pod_file(docs, posixpath.join(posixpath.dirname(config_file), name))
        check(f"{where} policyFiles {name} beside config.yaml", at and at[:2] == (config_secret, name),
              f"{name} is not at {posixpath.dirname(config_file)}/{name} in the pod: {at}")
    extra = set(rendered) - set(wanted) - {"config.yaml"}
    check(f"{where} config Secret holds only config.yaml and policyFiles", not extra,
          f"unexpected keys {sorted(extra)}")
    for key, path in rego_files(config):
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(config_file), path))
        at = pod_file(docs, resolved)
        content = secret_data(find(docs, "Secret", at[0])[0]).get(at[1]) if at and find(docs, "Secret", at[0]) else None
        check(f"{where} {key} {path} mounted", content is not None and content == wanted.get(posixpath.basename(resolved)),
              f"{path} resolves to {resolved}, which no rendered Secret provides with the policyFiles content ({at})")
    # The DPoP nonce key.
    existing = get_path(overrides, "dpop.nonceKey.existingSecret", "")
    create = get_path(overrides, "dpop.nonceKey.create", False)
    key_name = get_path(overrides, "dpop.nonceKey.secretKey", "nonce-key")
    generated = find(docs, "Secret", "-dpop-nonce")
    volumes = [vol for vol in pod_template(docs)["spec"]["volumes"] if vol["name"] == "dpop-nonce-key"]
    if not (existing or create):
        check(f"{where} no DPoP nonce key", not generated and not volumes,
              "a nonce key Secret or volume although dpop.nonceKey is off")
        return
    secret_name = existing or f"{RELEASE}-dpop-nonce"
    at = pod_file(docs, NONCE_KEY_PATH)
    check(f"{where} DPoP nonce key from its Secret, read-only",
          at and at[:2] == (secret_name, key_name) and at[2].get("readOnly") is True,
          f"{NONCE_KEY_PATH} is not {secret_name}/{key_name} mounted read-only: {at}")
    for i, issuer in enumerate(config.get("issuers") or []):
        named = (issuer.get("dpop") or {}).get("nonce_key_file")
        if named:
            check(f"{where} issuers[{i}].dpop.nonce_key_file is the mounted key", named == NONCE_KEY_PATH,
                  f"nonce_key_file {named!r}, the key is mounted at {NONCE_KEY_PATH}")
    if existing:
        check(f"{where} existing DPoP nonce key Secret used as is", not generated,
              "the chart generated a nonce key although an existing Secret was named")
    else:
        key = secret_data(generated[0]).get(key_name, "") if generated else ""
        check(f"{where} generated DPoP nonce key", len(key.encode()) >= 32,
              f"the generated nonce key has {len(key.encode())} bytes, needs at least 32")


def check_bundled_redis(where, overrides, docs, rev):
    sts = find(docs, "StatefulSet", "-redis")
    secret = find(docs, "Secret", "-redis")
    svc = find(docs, "Service", "-redis")
    netpol = find(docs, "NetworkPolicy", "-redis")
    if not check(f"{where} bundled Redis objects", sts and secret and svc and netpol,
                 "bundled Redis needs a StatefulSet, a Secret, a Service and a NetworkPolicy"):
        return
    sts, secret, svc, netpol = sts[0], secret_data(secret[0]), svc[0], netpol[0]
    spec = sts["spec"]
    claims = [c["metadata"]["name"] for c in spec.get("volumeClaimTemplates", [])]
    data_mount = [m for m in spec["template"]["spec"]["containers"][0]["volumeMounts"] if m["mountPath"] == "/data"]
    check(f"{where} bundled Redis persists", data_mount and data_mount[0]["name"] in claims
          and "appendonly yes" in secret.get("redis.conf", ""),
          "Redis's /data must be a volumeClaimTemplate with appendonly on")
    password = secret.get("redis-password", "")
    url = rev.get("redis_url", "")
    given = get_path(overrides, "redis.auth.password", "")
    check(f"{where} bundled Redis password as given", not given or password == given,
          "redis.auth.password was not used")
    host = f"{svc['metadata']['name']}.{NAMESPACE}.svc.cluster.local:6379"
    check(f"{where} bundled Redis password from its Secret",
          len(password) >= 16 and url == f"redis://:{password}@{host}"
          and f"requirepass {password}" in secret.get("redis.conf", ""),
          f"the config's Redis URL must carry the Secret's password and host {host}")
    containers = spec["template"]["spec"]["containers"]
    check(f"{where} bundled Redis password not in the pod spec", password not in json.dumps(containers),
          "the Redis password appears in the StatefulSet")
    zt_selector = find(docs, "Deployment")[0]["spec"]["selector"]["matchLabels"]
    ingress = netpol["spec"].get("ingress", [])
    check(f"{where} only zt-authz reaches Redis",
          netpol["spec"]["podSelector"]["matchLabels"] == spec["selector"]["matchLabels"]
          and netpol["spec"].get("policyTypes") == ["Ingress"]
          and ingress == [{"from": [{"podSelector": {"matchLabels": zt_selector}}],
                           "ports": [{"port": 6379, "protocol": "TCP"}]}],
          f"the Redis NetworkPolicy must admit only zt-authz pods on 6379: {netpol['spec']}")


def check_defaults_and_reload(v, defaults):
    """Rules on the default install, and what rolls the pods."""
    where = "helm[defaults]"
    config = zt_config(defaults)
    check(f"{where} safe by default", config["revocations"]["store"] == "redis" and find(defaults, "StatefulSet"),
          "the default install must share revocations through the bundled Redis")
    health = [p for p in config.get("policies", [])
              if p.get("anonymous") and get_path(p, "match.path.exact") == "/healthz"]
    check(f"{where} anonymous /healthz declared", bool(health), "no anonymous /healthz policy in the config")
    # Memory sized for the stated capacity: 64 MiB + 200 B per revocation.
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    capacity = values["revocations"]["capacity"]
    resources = pod_template(defaults)["spec"]["containers"][0]["resources"]
    limit = memory_bytes(resources["limits"]["memory"])
    check(f"{where} memory limit fits the capacity", limit >= 64 * 2**20 + 200 * capacity,
          f"limit {resources['limits']['memory']} holds {(limit - 64 * 2**20) / 200:,.0f} revocations, "
          f"values.yaml states {capacity:,}")
    stated = re.search(r"limit holds about ([0-9.]+) million", (CHART / "values.yaml").read_text())
    check(f"{where} values.yaml states the capacity of the default limit",
          stated and abs(float(stated.group(1)) * 1e6 - (limit - 64 * 2**20) / 200) < 0.05e6,
          f"values.yaml must say how many revocations the default limit holds "
          f"(about {(limit - 64 * 2**20) / 200 / 1e6:.1f} million)")
    check(f"{where} memory request equals the limit",
          memory_bytes(resources["requests"]["memory"]) == limit, f"requests {resources['requests']}")
    # A config change reloads in place; a listen port or store change rolls the pods.
    changed, err = v.render(merged({"config.policies": [{"name": "health", "match": {"path": {"exact": "/healthz"}},
                                                          "anonymous": True}],
                                    "config.server.realm": "other"}))
    if check(f"{where} config change renders", changed is not None, err):
        check(f"{where} config change does not roll the pods",
              pod_template(changed) == pod_template(defaults) and zt_config(changed) != config,
              "the pod template changed with a config-only change")
    # A Rego file added, then changed alone: reloaded in place. zt-authz
    # watches config.yaml's bytes only, so config.yaml must change with it;
    # kubelet swaps the Secret's keys together, so the reload reads the new
    # file. The Redis password is fixed, since a generated one would differ
    # between the two renderings.
    password = {"redis.auth.password": "given-password-0123456789abcdef"}
    first, err = v.render(merged(POLICY_FILES, password))
    edited = copy.deepcopy(POLICY_FILES)
    edited["policyFiles"]["tenant.rego"] += "\n# edited\n"
    second, err2 = v.render(merged(edited, password))
    if check(f"{where} policy file change renders", first is not None and second is not None, err or err2):
        text = lambda docs: secret_data(find(docs, "Secret", "-config")[0])["config.yaml"]
        check(f"{where} policy files do not roll the pods",
              pod_template(first) == pod_template(defaults) and pod_template(second) == pod_template(first),
              "the pod template changed with policyFiles")
        check(f"{where} a policy file change alone changes config.yaml",
              zt_config(second) == zt_config(first) and text(second) != text(first),
              "config.yaml is byte for byte the same, so zt-authz would not reload the changed file")
    # An issuer's leeway sets the revocations' leeway, which a reload refuses to change.
    skewed = copy.deepcopy(values["config"]["issuers"])
    skewed[0]["leeway"] = "5m"
    for dotted in ({"grpcPort": 9001}, {"adminPort": 9091}, {"revocations.redis.prefix": "other"},
                   {"config.issuers": skewed}):
        other, err = v.render(merged(dotted))
        if check(f"{where} {dotted} renders", other is not None, err):
            a = pod_template(defaults)["metadata"]["annotations"].get("checksum/restart")
            b = pod_template(other)["metadata"]["annotations"].get("checksum/restart")
            check(f"{where} {dotted} rolls the pods", a and b and a != b,
                  "a setting zt-authz reads only at start did not change the pod template")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--helm", required=True)
    parser.add_argument("--crds", required=True)
    parser.add_argument("--zt-authz", required=True)
    parser.add_argument("--istioctl")
    parser.add_argument("--meshcheck")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as workdir:
        v = Validator(args, workdir)
        check_istio_dir(v)
        check_lint_and_package(v)
        check_refusals(v)
        defaults = None
        for overrides, name in combinations():
            docs = check_rendering(v, overrides, name)
            if name == "defaults":
                defaults = docs
        if defaults:
            check_defaults_and_reload(v, defaults)

    if v.configs.hmac_key_unknown:
        print("note: this zt-authz build does not know revocations.redis_hmac_key_file; "
              "the config was checked without it")
    for f in failures:
        print(f"FAIL {f}")
    print(f"{v.renderings} helm renderings; istioctl {'on' if args.istioctl else 'off'}; "
          f"meshcheck {'on' if args.meshcheck else 'off'}")
    print(f"manifests: {passed} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
