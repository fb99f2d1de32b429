#!/usr/bin/env python3
"""Validates a rendered xvr chart (the output of test/chart/render).

What a Kubernetes API server would refuse, checked without one:
  - every object: apiVersion, kind, metadata.name (DNS-valid per kind);
  - DaemonSet: selector matches the template's labels, containers have a
    name and image, every volumeMount names a volume, hostPath paths are
    absolute, probe ports exist, env fieldRef paths are downward-API ones;
  - RBAC: rules complete, the binding names a ClusterRole and a
    ServiceAccount rendered in the same release, and the grants are exactly
    the kinds the agent watches (KindCollectionPath in
    agent/k8s/api_source.cc) plus xvr.dev/vrouters, read-only;
  - CRD: a structural schema, one storage version, names match;
  - the VRouter CR and the ConfigMap's copy validate against the CRD's
    openAPIV3Schema (jsonschema), and the schema rejects known-bad values.

usage: validate.py MANIFEST.yaml --repo REPO_ROOT [--expect key=value]...
  --expect mode=xdp-generic     spec.agentModeType of the default VRouter
  --expect attach=tc            spec.podAttach
  --expect privileged=true      the agent container's securityContext
  --expect metrics=false        no metrics listener, no probes
  --expect apiserver=HOST:PORT  KUBERNETES_SERVICE_HOST/PORT from k8sServiceHost/Port
"""
import argparse
import copy
import json
import re
import sys

import jsonschema
import yaml

DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
IANA_SVC_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Kinds whose names must be DNS labels (63 chars), others subdomains.
LABEL_NAMED = {"Service", "Namespace"}
# Downward API paths a container env fieldRef may use.
FIELDREF_PATHS = {
    "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName",
    "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP",
    "status.podIPs",
}
REQUIRED_CAPS = ["BPF", "NET_ADMIN", "SYS_ADMIN", "PERFMON", "SYS_RESOURCE"]

errors = []


def fail(where, msg):
    errors.append(f"{where}: {msg}")


def load(path):
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    return docs


def where(o):
    return f"{o.get('kind', '?')}/{(o.get('metadata') or {}).get('name', '?')}"


# ---- generic -------------------------------------------------------------------

def check_common(o):
    w = where(o)
    for k in ("apiVersion", "kind", "metadata"):
        if k not in o:
            fail(w, f"{k} missing")
    md = o.get("metadata") or {}
    name = md.get("name")
    if not isinstance(name, str) or not name:
        fail(w, "metadata.name missing")
        return
    pat, limit = (DNS_LABEL, 63) if o.get("kind") in LABEL_NAMED else (DNS_SUBDOMAIN, 253)
    if len(name) > limit or not pat.match(name):
        fail(w, f"metadata.name {name!r} is not a valid DNS name")
    for k, v in (md.get("labels") or {}).items():
        if not isinstance(v, str) or len(v) > 63:
            fail(w, f"label {k} value {v!r} must be a string of at most 63 characters")


# ---- DaemonSet -------------------------------------------------------------------

def check_container(w, c, volumes, init):
    cw = f"{w} container {c.get('name', '?')}"
    if not c.get("name") or not DNS_LABEL.match(c["name"]):
        fail(cw, "name missing or not a DNS label")
    if not c.get("image"):
        fail(cw, "image missing")
    mounts = set()
    for m in c.get("volumeMounts") or []:
        if m.get("name") not in volumes:
            fail(cw, f"volumeMount {m.get('name')!r} names no volume")
        mp = m.get("mountPath", "")
        if not mp.startswith("/"):
            fail(cw, f"mountPath {mp!r} not absolute")
        if mp in mounts:
            fail(cw, f"mountPath {mp} mounted twice")
        mounts.add(mp)
        prop = m.get("mountPropagation")
        if prop not in (None, "None", "HostToContainer", "Bidirectional"):
            fail(cw, f"bad mountPropagation {prop}")
    ports = {p.get("name"): p for p in c.get("ports") or []}
    numbers = {p.get("containerPort") for p in ports.values()}
    for p in ports.values():
        if not isinstance(p.get("containerPort"), int) or not 0 < p["containerPort"] < 65536:
            fail(cw, f"bad containerPort {p.get('containerPort')}")
        if p.get("name") and (len(p["name"]) > 15 or not IANA_SVC_NAME.match(p["name"])):
            fail(cw, f"bad port name {p['name']}")
    for probe_name in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = c.get(probe_name)
        if not probe:
            continue
        if init:
            fail(cw, f"{probe_name} on an init container")
        handlers = [h for h in ("httpGet", "tcpSocket", "exec", "grpc") if h in probe]
        if len(handlers) != 1:
            fail(cw, f"{probe_name} needs exactly one handler, has {handlers}")
            continue
        h = probe[handlers[0]]
        if handlers[0] in ("httpGet", "tcpSocket"):
            port = h.get("port")
            if isinstance(port, str) and port not in ports:
                fail(cw, f"{probe_name} port {port!r} is no named port")
            if isinstance(port, int) and port not in numbers:
                fail(cw, f"{probe_name} port {port} is not a container port")
        if handlers[0] == "httpGet" and not str(h.get("path", "")).startswith("/"):
            fail(cw, f"{probe_name} path must start with /")
    for e in c.get("env") or []:
        if not e.get("name"):
            fail(cw, "env without name")
        ref = ((e.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
        if ref is not None and ref not in FIELDREF_PATHS:
            fail(cw, f"env {e.get('name')}: fieldRef {ref!r} is not a downward API path")
    if c.get("lifecycle", {}).get("postStart") and init:
        fail(cw, "lifecycle on an init container")
    return mounts


def check_daemonset(o, expect):
    w = where(o)
    spec = o.get("spec") or {}
    sel = (spec.get("selector") or {}).get("matchLabels") or {}
    tmpl = spec.get("template") or {}
    labels = (tmpl.get("metadata") or {}).get("labels") or {}
    if not sel:
        fail(w, "spec.selector.matchLabels empty")
    for k, v in sel.items():
        if labels.get(k) != v:
            fail(w, f"selector {k}={v} does not match the template's labels")
    pod = tmpl.get("spec") or {}
    volumes = {}
    for v in pod.get("volumes") or []:
        if v.get("name") in volumes:
            fail(w, f"volume {v.get('name')} twice")
        volumes[v.get("name")] = v
        hp = v.get("hostPath")
        if hp is not None:
            if not str(hp.get("path", "")).startswith("/"):
                fail(w, f"volume {v['name']}: hostPath {hp.get('path')!r} not absolute")
            if hp.get("type") not in (None, "", "DirectoryOrCreate", "Directory", "FileOrCreate",
                                      "File", "Socket", "CharDevice", "BlockDevice"):
                fail(w, f"volume {v['name']}: bad hostPath type {hp.get('type')}")
            if hp.get("path", "").startswith("/lib/modules"):
                fail(w, "the agent must not mount /lib/modules")
    containers = pod.get("containers") or []
    if not containers:
        fail(w, "no containers")
    names = set()
    for c in (pod.get("initContainers") or []) + containers:
        if c.get("name") in names:
            fail(w, f"container name {c.get('name')} twice")
        names.add(c.get("name"))
    for c in pod.get("initContainers") or []:
        check_container(w, c, volumes, init=True)
    for c in containers:
        check_container(w, c, volumes, init=False)
    used = {m["name"] for c in (pod.get("initContainers") or []) + containers
            for m in c.get("volumeMounts") or []}
    for v in volumes:
        if v not in used:
            fail(w, f"volume {v} is mounted nowhere")

    # What the chart promises.
    if pod.get("hostNetwork") is not True:
        fail(w, "hostNetwork must be true")
    if pod.get("dnsPolicy") != "ClusterFirstWithHostNet":
        fail(w, "dnsPolicy must be ClusterFirstWithHostNet")
    if pod.get("priorityClassName") != "system-node-critical":
        fail(w, "priorityClassName must be system-node-critical")
    if {"operator": "Exists"} not in (pod.get("tolerations") or []):
        fail(w, "must tolerate every taint")
    us = spec.get("updateStrategy") or {}
    if us.get("type") != "RollingUpdate" or (us.get("rollingUpdate") or {}).get("maxUnavailable") != 1:
        fail(w, "updateStrategy must be RollingUpdate maxUnavailable 1")
    agent = next((c for c in containers if c.get("name") == "agent"), None)
    if agent is None:
        fail(w, "no agent container")
        return
    cmd = agent.get("command") or []
    for a in ("xvr-agent", "--in-cluster", "--vrouter", "--config"):
        if a not in cmd:
            fail(w, f"agent command lacks {a}")
    sc = agent.get("securityContext") or {}
    if expect.get("privileged") == "true":
        if sc.get("privileged") is not True:
            fail(w, "privileged=true expected")
    else:
        if sc.get("privileged"):
            fail(w, "agent must not be privileged by default")
        add = (sc.get("capabilities") or {}).get("add") or []
        if sorted(add) != sorted(REQUIRED_CAPS):
            fail(w, f"capabilities.add must be exactly {REQUIRED_CAPS}, got {add}")
    env = {e["name"]: e for e in agent.get("env") or []}
    if ((env.get("NODE_NAME") or {}).get("valueFrom") or {}).get("fieldRef", {}).get("fieldPath") != "spec.nodeName":
        fail(w, "NODE_NAME must come from spec.nodeName")
    api_host = expect.get("apiserver")  # "host:port" given to k8sServiceHost/Port
    if api_host:
        host, port = api_host.rsplit(":", 1)
        got = ((env.get("KUBERNETES_SERVICE_HOST") or {}).get("value"),
               (env.get("KUBERNETES_SERVICE_PORT") or {}).get("value"))
        if got != (host, port):
            fail(w, f"KUBERNETES_SERVICE_HOST/PORT must be {host}/{port}, got {got}")
    elif "KUBERNETES_SERVICE_HOST" in env:
        fail(w, "KUBERNETES_SERVICE_HOST set although k8sServiceHost is empty")
    mounts = {m["mountPath"]: m for m in agent.get("volumeMounts") or []}
    want = {"/sys/fs/bpf": "Bidirectional", "/run/netns": "HostToContainer", "/run/xvr": None,
            "/var/lib/xvr": None, "/host/etc/cni/net.d": None, "/host/opt/cni/bin": None,
            "/var/log/xvr": None, "/etc/xvr": None}
    for p, prop in want.items():
        if p not in mounts:
            fail(w, f"agent does not mount {p}")
        elif prop and mounts[p].get("mountPropagation") != prop:
            fail(w, f"{p} needs mountPropagation {prop}")
    if expect.get("metrics") == "false":
        if agent.get("livenessProbe") or agent.get("readinessProbe"):
            fail(w, "probes rendered with metrics disabled")
    else:
        if (agent.get("livenessProbe") or {}).get("httpGet", {}).get("path") != "/healthz":
            fail(w, "livenessProbe must GET /healthz")
        if (agent.get("readinessProbe") or {}).get("httpGet", {}).get("path") != "/readyz":
            fail(w, "readinessProbe must GET /readyz")
    post = (((agent.get("lifecycle") or {}).get("postStart") or {}).get("exec") or {}).get("command") or []
    if post[:3] != ["xvrctl", "install-cni", "conf"]:
        fail(w, f"postStart must run xvrctl install-cni conf, got {post}")
    inits = pod.get("initContainers") or []
    if not any((c.get("command") or [])[:3] == ["xvrctl", "install-cni", "bin"] for c in inits):
        fail(w, "no install-cni-bin init container")


# ---- RBAC ---------------------------------------------------------------------------

def agent_kinds(repo):
    """(apiGroup, resource) of every collection the agent lists and watches."""
    src = open(f"{repo}/agent/k8s/api_source.cc").read()
    body = src[src.index("const char* KindCollectionPath(Kind kind)"):]
    body = body[:body.index("\n}\n")]
    out = set()
    for path in re.findall(r'return "(/[^"]+)"', body):
        parts = path.strip("/").split("/")
        if parts[0] == "api":  # /api/v1/<resource>
            out.add(("", parts[2]))
        else:  # /apis/<group>/<version>/<resource>
            out.add((parts[1], parts[3]))
    if not out:
        raise SystemExit("no KindCollectionPath entries found in api_source.cc")
    return out


def check_rbac(objs, repo):
    roles = {o["metadata"]["name"]: o for o in objs if o.get("kind") == "ClusterRole"}
    sas = {(o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objs
           if o.get("kind") == "ServiceAccount"}
    bindings = [o for o in objs if o.get("kind") == "ClusterRoleBinding"]
    if len(roles) != 1 or len(bindings) != 1:
        fail("RBAC", f"want one ClusterRole and one ClusterRoleBinding, got {len(roles)}, {len(bindings)}")
    for b in bindings:
        w = where(b)
        ref = b.get("roleRef") or {}
        if ref.get("apiGroup") != "rbac.authorization.k8s.io" or ref.get("kind") != "ClusterRole":
            fail(w, "roleRef must be a rbac.authorization.k8s.io ClusterRole")
        if ref.get("name") not in roles:
            fail(w, f"roleRef names {ref.get('name')!r}, not rendered")
        for s in b.get("subjects") or []:
            if s.get("kind") != "ServiceAccount" or (s.get("namespace"), s.get("name")) not in sas:
                fail(w, f"subject {s} is no rendered ServiceAccount")
    granted = set()
    for r in roles.values():
        w = where(r)
        for rule in r.get("rules") or []:
            for k in ("apiGroups", "resources", "verbs"):
                if not rule.get(k):
                    fail(w, f"rule {rule} lacks {k}")
            if sorted(rule.get("verbs") or []) != ["get", "list", "watch"]:
                fail(w, f"rule {rule}: verbs must be exactly get, list, watch")
            for g in rule.get("apiGroups") or []:
                for res in rule.get("resources") or []:
                    if "*" in (g, res):
                        fail(w, "no wildcards")
                    granted.add((g, res))
    want = agent_kinds(repo) | {("xvr.dev", "vrouters")}
    if granted != want:
        fail("ClusterRole", f"grants {sorted(granted - want)} beyond what the agent watches, "
                            f"misses {sorted(want - granted)}")


# ---- CRD --------------------------------------------------------------------------

def check_structural(w, node, path="openAPIV3Schema"):
    if not isinstance(node, dict):
        fail(w, f"{path}: not a schema object")
        return
    if "type" not in node and not (node.get("x-kubernetes-int-or-string")
                                   or node.get("x-kubernetes-preserve-unknown-fields")):
        fail(w, f"{path}: no type (not structural)")
    if "properties" in node and "additionalProperties" in node:
        fail(w, f"{path}: properties and additionalProperties are exclusive")
    for k in ("$ref", "definitions", "dependencies", "id", "patternProperties"):
        if k in node:
            fail(w, f"{path}: {k} is not allowed in a CRD schema")
    for name, sub in (node.get("properties") or {}).items():
        check_structural(w, sub, f"{path}.properties.{name}")
    if isinstance(node.get("items"), dict):
        check_structural(w, node["items"], f"{path}.items")
    if isinstance(node.get("additionalProperties"), dict):
        check_structural(w, node["additionalProperties"], f"{path}.additionalProperties")
    if node.get("type") == "object" and "properties" in node and "required" in node:
        for r in node["required"]:
            if r not in node["properties"]:
                fail(w, f"{path}: required {r} is no property")
    for k in ("pattern",):
        if k in node:
            try:
                re.compile(node[k])
            except re.error as e:
                fail(w, f"{path}.pattern: {e}")


def check_crd(o):
    w = where(o)
    spec = o.get("spec") or {}
    names = spec.get("names") or {}
    if o["metadata"]["name"] != f"{names.get('plural')}.{spec.get('group')}":
        fail(w, "metadata.name must be <names.plural>.<group>")
    if spec.get("scope") not in ("Cluster", "Namespaced"):
        fail(w, "bad scope")
    for k in ("plural", "kind"):
        if not names.get(k):
            fail(w, f"names.{k} missing")
    versions = spec.get("versions") or []
    if sum(1 for v in versions if v.get("storage")) != 1:
        fail(w, "exactly one storage version")
    for v in versions:
        schema = ((v.get("schema") or {}).get("openAPIV3Schema"))
        if schema is None:
            fail(w, f"version {v.get('name')}: no schema")
            continue
        check_structural(w, schema)
        for col in v.get("additionalPrinterColumns") or []:
            if not col.get("jsonPath", "").startswith("."):
                fail(w, f"printer column {col.get('name')}: bad jsonPath")


def to_jsonschema(node):
    """The OpenAPI v3 subset a CRD uses, as JSON Schema (draft 7)."""
    if not isinstance(node, dict):
        return node
    out = {}
    for k, v in node.items():
        if k.startswith("x-kubernetes-") or k in ("description", "default", "nullable"):
            continue
        if k == "properties":
            out[k] = {n: to_jsonschema(s) for n, s in v.items()}
        elif k in ("items", "additionalProperties", "not"):
            out[k] = to_jsonschema(v)
        elif k in ("allOf", "anyOf", "oneOf"):
            out[k] = [to_jsonschema(s) for s in v]
        else:
            out[k] = v
    if node.get("nullable"):
        t = out.get("type")
        if t:
            out["type"] = [t, "null"]
    if node.get("x-kubernetes-int-or-string"):
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("type") == "object" and "properties" in node and not node.get(
            "x-kubernetes-preserve-unknown-fields"):
        # The API server prunes unknown fields; kubectl's strict field
        # validation (default since 1.27) rejects them, as the agent does.
        out["additionalProperties"] = False
    return out


def check_vrouters(objs, expect):
    crds = [o for o in objs if o.get("kind") == "CustomResourceDefinition"
            and o["metadata"]["name"] == "vrouters.xvr.dev"]
    if len(crds) != 1:
        fail("CRD", "vrouters.xvr.dev not rendered")
        return
    crd = crds[0]
    if crd["spec"]["scope"] != "Cluster":
        fail(where(crd), "VRouter must be cluster-scoped")
    v = next(v for v in crd["spec"]["versions"] if v.get("storage"))
    if v["name"] != "v1alpha1" or not v.get("served"):
        fail(where(crd), "v1alpha1 must be served and stored")
    cols = {c["name"]: c["jsonPath"] for c in v.get("additionalPrinterColumns") or []}
    if cols.get("Mode") != ".spec.agentModeType" or cols.get("Attach") != ".spec.podAttach":
        fail(where(crd), "printer columns Mode and Attach expected")
    schema = to_jsonschema(v["schema"]["openAPIV3Schema"])
    validator = jsonschema.Draft7Validator(schema)

    crs = [o for o in objs if o.get("kind") == "VRouter"]
    if len(crs) != 1:
        fail("VRouter", f"want one VRouter, got {len(crs)}")
        return
    cr = crs[0]
    if cr["apiVersion"] != f"{crd['spec']['group']}/{v['name']}":
        fail(where(cr), "apiVersion does not match the CRD")
    cms = [o for o in objs if o.get("kind") == "ConfigMap"]
    file_copy = None
    for cm in cms:
        if "vrouter.yaml" in (cm.get("data") or {}):
            file_copy = yaml.safe_load(cm["data"]["vrouter.yaml"])
    if file_copy is None:
        fail("ConfigMap", "no vrouter.yaml")
    elif file_copy.get("spec") != cr.get("spec"):
        fail("ConfigMap", "vrouter.yaml spec differs from the VRouter CR")
    for name, obj in (("VRouter CR", cr), ("ConfigMap vrouter.yaml", file_copy)):
        if obj is None:
            continue
        for e in validator.iter_errors(obj):
            fail(name, f"schema: {'.'.join(map(str, e.path))}: {e.message}")

    spec = cr["spec"]
    if spec.get("agentModeType") != expect.get("mode", "xdp"):
        fail(where(cr), f"agentModeType {spec.get('agentModeType')}, want {expect.get('mode', 'xdp')}")
    if spec.get("podAttach") != expect.get("attach", "xdp"):
        fail(where(cr), f"podAttach {spec.get('podAttach')}, want {expect.get('attach', 'xdp')}")
    if expect.get("metrics") == "false" and spec.get("metricsAddress") != "":
        fail(where(cr), "metricsAddress must be \"\" with metrics disabled")
    for k in ("nodeName", "podCIDR"):
        if k in spec:
            fail(where(cr), f"the cluster-wide VRouter must not set {k}")

    # The schema must refuse what ParseVRouter refuses.
    bad = [
        ("agentModeType: foo", ["agentModeType"], "foo"),
        ("podAttach: bridge", ["podAttach"], "bridge"),
        ("podCIDR bad address", ["podCIDR"], "10.244.300.0/24"),
        ("podCIDR /31", ["podCIDR"], "10.244.1.0/31"),
        ("podCIDR no length", ["podCIDR"], "10.244.1.0"),
        ("serviceCIDR bad", ["serviceCIDR"], "10.96.0.0/33"),
        ("overlay.port 70000", ["overlay", "port"], 70000),
        ("overlay.port 0", ["overlay", "port"], 0),
        ("overlay.vni 2^24", ["overlay", "vni"], 16777216),
        ("mtu 100", ["mtu"], 100),
        ("logLevel verbose", ["logLevel"], "verbose"),
        ("logFormat xml", ["logFormat"], "xml"),
        ("eventsPerSecond -1", ["eventsPerSecond"], -1),
        ("flows.tableSize 10", ["flows", "tableSize"], 10),
        ("flows.timeouts.udp 0", ["flows", "timeouts", "udp"], 0),
        ("fabricInterface too long", ["fabricInterface"], "averyveryverylongname"),
        ("stateDir relative", ["stateDir"], "var/lib/xvr"),
        ("masquerade string", ["masquerade"], "yes"),
        ("metricsAddress no port", ["metricsAddress"], "0.0.0.0"),
        ("unknown field podCidr", ["podCidr"], "10.244.1.0/24"),
    ]
    for desc, path, value in bad:
        o = copy.deepcopy(cr)
        node = o["spec"]
        for p in path[:-1]:
            node = node.setdefault(p, {})
        node[path[-1]] = value
        if validator.is_valid(o):
            fail("CRD schema", f"accepts {desc}")
    good = copy.deepcopy(cr)
    good["spec"].update({"nodeName": "node-1", "podCIDR": "10.244.1.0/24",
                         "gatewayIP": "10.244.1.1", "serviceCIDR": "10.96.0.0/12",
                         "metricsAddress": "[::1]:9890", "mtu": 1450})
    for e in validator.iter_errors(good):
        fail("CRD schema", f"rejects a valid per-node VRouter: {e.message}")


def check_conflist(objs, expect):
    for cm in objs:
        if cm.get("kind") != "ConfigMap":
            continue
        for k, v in (cm.get("data") or {}).items():
            if k.endswith(".conflist"):
                c = json.loads(v)
                if c.get("cniVersion") != "1.1.0" or c.get("cniVersions") != ["1.0.0", "1.1.0"]:
                    fail("conflist", f"versions: {c}")
                if [p.get("type") for p in c.get("plugins", [])] != ["xvr-cni"]:
                    fail("conflist", f"plugins: {c.get('plugins')}")
                return c
    fail("ConfigMap", "no .conflist")
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("manifest")
    ap.add_argument("--repo", required=True)
    ap.add_argument("--expect", action="append", default=[])
    args = ap.parse_args()
    expect = dict(e.split("=", 1) for e in args.expect)
    objs = load(args.manifest)
    if not objs:
        print("no objects rendered", file=sys.stderr)
        return 1
    seen = set()
    for o in objs:
        check_common(o)
        key = (o.get("kind"), (o.get("metadata") or {}).get("namespace"),
               (o.get("metadata") or {}).get("name"))
        if key in seen:
            fail(where(o), "rendered twice")
        seen.add(key)
        if o.get("kind") == "DaemonSet":
            check_daemonset(o, expect)
        elif o.get("kind") == "CustomResourceDefinition":
            check_crd(o)
    if sum(1 for o in objs if o.get("kind") == "DaemonSet") != 1:
        fail("DaemonSet", "want exactly one")
    check_rbac(objs, args.repo)
    check_vrouters(objs, expect)
    conf = check_conflist(objs, expect)
    ds = next((o for o in objs if o.get("kind") == "DaemonSet"), None)
    cr = next((o for o in objs if o.get("kind") == "VRouter"), None)
    if conf and cr and conf["plugins"][0].get("agentSocket") != cr["spec"].get("apiSocket"):
        fail("conflist", "agentSocket differs from the VRouter's apiSocket")
    if ds and cr:
        mounts = [m["mountPath"] for c in ds["spec"]["template"]["spec"]["containers"]
                  for m in c.get("volumeMounts", [])]
        for field in ("apiSocket", "stateDir", "bpfRoot"):
            p = cr["spec"].get(field, "")
            if not any(p == m or p.startswith(m.rstrip("/") + "/") for m in mounts):
                fail("VRouter", f"spec.{field} {p} is on no host mount of the agent")
    kinds = sorted({o["kind"] for o in objs})
    if errors:
        for e in errors:
            print("FAIL", e)
        print(f"{len(errors)} problem(s) in {len(objs)} objects", file=sys.stderr)
        return 1
    print(f"ok: {len(objs)} objects ({', '.join(kinds)}) valid; expectations {expect or 'defaults'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
