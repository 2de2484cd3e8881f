#!/usr/bin/python3
"""Checks deploy/k8s without a cluster:  deploy/check-manifests.py

1. every deploy/k8s/*.yaml parses (PyYAML, Debian's python3-yaml);
2. the kustomization renders: with `kubectl kustomize` when kubectl is
   installed, else by a small renderer here (its resources, namespace,
   config.env as the ConfigMap yuexiang-config, images);
3. with python3-kubernetes installed, every field of every rendered object
   and of secrets.example.yaml is a field of the Kubernetes API model at that
   place, with the right basic type (an unknown or misspelt field fails);
4. the project's own rules: each Deployment runs 2+ replicas as a non-root
   user on a read-only root filesystem with no capabilities, has requests and
   limits on every container, /readyz and /healthz probes, a Service and a
   PodDisruptionBudget; a service with services/<svc>/sql runs `migrate` as
   an init container; every Secret key it uses exists in
   secrets.example.yaml; every *_FILE path is a file of a mounted secret.

Prints one line per problem and a last line `N passed, N failed`.
"""
import os
import re
import shutil
import subprocess
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
K8S = os.path.join(HERE, "k8s")
REPO = os.path.dirname(HERE)
SECRET = "yuexiang-secrets"
CONFIG = "yuexiang-config"

passed = 0
failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL", what)
    return ok


def load_all(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


# --- 1. parse ---------------------------------------------------------------------------
files = sorted(f for f in os.listdir(K8S) if f.endswith((".yaml", ".yml")))
for name in files:
    try:
        load_all(os.path.join(K8S, name))
        check(True, name)
    except yaml.YAMLError as e:
        check(False, f"{name}: {e}")
if failed:
    print(f"{passed} passed, {failed} failed")
    sys.exit(1)


# --- 2. render --------------------------------------------------------------------------
def render_here():
    kust = load_all(os.path.join(K8S, "kustomization.yaml"))[0]
    ns = kust.get("namespace")
    objs = []
    for res in kust.get("resources", []):
        objs += load_all(os.path.join(K8S, res))
    for gen in kust.get("configMapGenerator", []):
        data = {}
        for env in gen.get("envs", []):
            with open(os.path.join(K8S, env), encoding="utf-8") as f:
                for line in f:
                    line = line.strip()
                    if line and not line.startswith("#"):
                        k, _, v = line.partition("=")
                        data[k] = v
        objs.append({"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": gen["name"]}, "data": data})
    images = {i["name"]: i for i in kust.get("images", [])}
    for o in objs:
        if ns and o["kind"] != "Namespace":
            o["metadata"]["namespace"] = ns
        spec = o.get("spec", {}).get("template", {}).get("spec", {})
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            i = images.get(c["image"])
            if i:
                c["image"] = f'{i.get("newName", c["image"])}:{i.get("newTag", "latest")}'
    return objs


if shutil.which("kubectl"):
    out = subprocess.run(["kubectl", "kustomize", K8S], capture_output=True, text=True)
    check(out.returncode == 0, f"kubectl kustomize: {out.stderr.strip()}")
    objs = [d for d in yaml.safe_load_all(out.stdout) if d] if out.returncode == 0 else render_here()
    renderer = "kubectl kustomize"
else:
    objs = render_here()
    renderer = "the built-in renderer (no kubectl)"
print(f"rendered {len(objs)} objects with {renderer}")
example = load_all(os.path.join(K8S, "secrets.example.yaml"))


# --- 3. fields against the API models ------------------------------------------------------
try:
    import kubernetes.client.models as models
except ImportError:
    models = None
    print("skipped: field check (install python3-kubernetes)")

MODEL = {("v1", "Namespace"): "V1Namespace", ("v1", "ConfigMap"): "V1ConfigMap",
         ("v1", "Service"): "V1Service", ("v1", "Secret"): "V1Secret",
         ("apps/v1", "Deployment"): "V1Deployment",
         ("policy/v1", "PodDisruptionBudget"): "V1PodDisruptionBudget",
         ("networking.k8s.io/v1", "Ingress"): "V1Ingress",
         ("networking.k8s.io/v1", "NetworkPolicy"): "V1NetworkPolicy"}


def fields(value, typ, path, problems):
    if value is None:
        return
    m = re.match(r"list\[(.*)\]$", typ)
    if m:
        if not isinstance(value, list):
            problems.append(f"{path}: expected a list")
            return
        for i, v in enumerate(value):
            fields(v, m.group(1), f"{path}[{i}]", problems)
        return
    m = re.match(r"dict\(([^,]*), (.*)\)$", typ)
    if m:
        if not isinstance(value, dict):
            problems.append(f"{path}: expected a map")
            return
        for k, v in value.items():
            fields(v, m.group(2), f"{path}.{k}", problems)
        return
    if typ == "str":
        if not isinstance(value, str):
            problems.append(f"{path}: expected a string, not {value!r}")
        return
    if typ == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(f"{path}: expected an integer, not {value!r}")
        return
    if typ == "bool":
        if not isinstance(value, bool):
            problems.append(f"{path}: expected a boolean, not {value!r}")
        return
    if typ in ("object", "datetime", "float"):
        return
    cls = getattr(models, typ, None)
    if cls is None:
        problems.append(f"{path}: no model {typ}")
        return
    if not isinstance(value, dict):
        problems.append(f"{path}: expected an object ({typ})")
        return
    by_json = {v: k for k, v in cls.attribute_map.items()}
    for k, v in value.items():
        if k not in by_json:
            problems.append(f"{path}.{k}: no such field in {typ}")
        else:
            fields(v, cls.openapi_types[by_json[k]], f"{path}.{k}", problems)


if models is not None:
    for o in objs + example:
        name = f'{o["kind"]}/{o["metadata"]["name"]}'
        typ = MODEL.get((o.get("apiVersion"), o.get("kind")))
        if not check(typ is not None, f"{name}: no model for {o.get('apiVersion')}"):
            continue
        problems = []
        fields(o, typ, name, problems)
        for p in problems:
            check(False, p)
        if not problems:
            check(True, name)


# --- 4. the project's rules -----------------------------------------------------------------
def of_kind(kind):
    return [o for o in objs if o["kind"] == kind]


secret_keys = set()
for o in example:
    if o["kind"] == "Secret" and o["metadata"]["name"] == SECRET:
        secret_keys |= set(o.get("stringData", {})) | set(o.get("data", {}))
check(secret_keys, f"secrets.example.yaml defines the Secret {SECRET}")
check(any(o["metadata"]["name"].startswith(CONFIG) for o in of_kind("ConfigMap")),
      f"the ConfigMap {CONFIG} is rendered")

for d in of_kind("Deployment"):
    name = d["metadata"]["name"]
    svc = name.removeprefix("yx-")
    spec = d["spec"]["template"]["spec"]
    labels = d["spec"]["template"]["metadata"]["labels"]
    check(d["spec"].get("replicas", 1) >= 2, f"{name}: at least 2 replicas")
    psc = spec.get("securityContext", {})
    check(psc.get("runAsNonRoot") is True and psc.get("runAsUser", 0) != 0,
          f"{name}: pod runs as a non-root user")
    mounted = {}  # mount path -> set of file names of a secret volume
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for v in volumes.values():
        sec = v.get("secret")
        if sec:
            check(sec["secretName"] == SECRET, f"{name}: volume {v['name']} is from {SECRET}")
            for item in sec.get("items", []):
                check(item["key"] in secret_keys,
                      f"{name}: secret item {item['key']} is in secrets.example.yaml")
    containers = spec.get("containers", [])
    inits = spec.get("initContainers", [])
    for c in containers + inits:
        where = f"{name}/{c['name']}"
        sc = c.get("securityContext", {})
        check(sc.get("readOnlyRootFilesystem") is True, f"{where}: read-only root filesystem")
        check(sc.get("allowPrivilegeEscalation") is False, f"{where}: no privilege escalation")
        check(sc.get("capabilities", {}).get("drop") == ["ALL"], f"{where}: drops all capabilities")
        res = c.get("resources", {})
        for part in ("requests", "limits"):
            check({"cpu", "memory"} <= set(res.get(part, {})), f"{where}: {part} for cpu and memory")
        check(c["image"].endswith(f"/{svc}") or f"/{svc}:" in c["image"],
              f"{where}: runs the {svc} image ({c['image']})")
        for ref in c.get("envFrom", []):
            if "configMapRef" in ref:
                check(ref["configMapRef"]["name"].startswith(CONFIG), f"{where}: envFrom {CONFIG}")
            if "secretRef" in ref:
                check(False, f"{where}: envFrom a whole Secret gives every service every secret")
        mounts = {}
        for m in c.get("volumeMounts", []):
            v = volumes.get(m["name"])
            check(v is not None, f"{where}: volume {m['name']} exists")
            if v and "secret" in v:
                mounts[m["mountPath"]] = {i["path"] for i in v["secret"].get("items", [])}
        for e in c.get("env", []):
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                check(ref["name"] == SECRET and ref["key"] in secret_keys,
                      f"{where}: {e['name']} comes from {SECRET} key {ref['key']} (in secrets.example.yaml)")
            paths = []
            if e["name"].endswith("_FILE"):
                paths.append(e.get("value", ""))
            if e["name"] in ("YX_JWT_KEYS", "YX_JWT_PUBLIC_KEYS"):
                paths += [p.partition("=")[2] for p in e.get("value", "").split(",")]
            for p in paths:
                dirname, base = os.path.split(p)
                check(base in mounts.get(dirname, set()),
                      f"{where}: {e['name']} names {p}, a file of a mounted secret")
    main = containers[0]
    port = next((p for p in main.get("ports", []) if p.get("name") == "http"), None)
    check(port is not None, f"{name}: container port named http")
    rp = main.get("readinessProbe", {}).get("httpGet", {})
    lp = main.get("livenessProbe", {}).get("httpGet", {})
    check(rp.get("path") == "/readyz", f"{name}: readiness probe on /readyz")
    check(lp.get("path") == "/healthz", f"{name}: liveness probe on /healthz")
    listen = next((e.get("value") for e in main.get("env", []) if e["name"] == "YX_LISTEN"), None)
    if port is not None:
        check(listen == f"0.0.0.0:{port['containerPort']}", f"{name}: YX_LISTEN matches the container port")
    main_c = os.path.join(REPO, "services", svc, "main.c")
    if os.path.exists(main_c) and port is not None:
        with open(main_c, encoding="utf-8") as f:
            m = re.search(r"\.default_port\s*=\s*(\d+)", f.read())
        check(m and int(m.group(1)) == port["containerPort"],
              f"{name}: container port is .default_port of services/{svc}/main.c")
    if os.path.isdir(os.path.join(REPO, "services", svc, "sql")):
        check(any(c.get("args") == ["migrate"] for c in inits), f"{name}: migrate init container")
    services = [s for s in of_kind("Service")
                if s["spec"].get("selector") and
                all(labels.get(k) == v for k, v in s["spec"]["selector"].items())]
    check(len(services) == 1 and services[0]["spec"].get("type", "ClusterIP") == "ClusterIP",
          f"{name}: one ClusterIP Service selects it")
    check(any(all(labels.get(k) == v for k, v in p["spec"]["selector"].get("matchLabels", {}).items())
              for p in of_kind("PodDisruptionBudget")), f"{name}: a PodDisruptionBudget covers it")

ingresses = of_kind("Ingress")
check(len(ingresses) == 1 and ingresses[0]["spec"].get("tls"), "one Ingress, with TLS")
for ing in ingresses:
    for rule in ing["spec"]["rules"]:
        for p in rule["http"]["paths"]:
            check(p["backend"]["service"]["name"] == "yx-gateway", "the Ingress sends to yx-gateway only")

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
