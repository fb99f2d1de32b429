#!/usr/bin/env python3
"""netpolgen.py: a NetworkPolicy set for the flows/policy benchmarks (bench/
policy_cost.sh, bench/flow_crr.sh), as one multi-document manifest for the
agent's --manifests directory.

    netpolgen.py --node NODE --client-ip IP --server-ip IP [--denied-ip IP]
                 [--policies N] [--remote-pods R] [--port 8080]

Objects:
  - Namespace default and 20 namespaces team-00..team-19 (labels team:
    t0..t4, env: prod|dev, kubernetes.io/metadata.name).
  - The node's own pods (their IPs come from the CNI): default/pod1 {app:
    client, tier: frontend}, default/pod2 {app: server, tier: backend} and,
    with --denied-ip, default/pod3 {app: intruder}.
  - R pods on other nodes (status.podIP 10.244.100.1 and up; nodeName
    "remote-<k>", no Node object, so no route changes): namespace
    team-(j % 20), labels {app: a(j % 40), tier: frontend|backend|db}.
    ~120 identities; the same for every N, so only the policies vary.
  - N NetworkPolicies. Policy 0 isolates the server for ingress and allows
    the client on TCP --port: the path the benchmarks measure. Policies
    1..N-1 cycle through six shapes, as a cluster has them:
      0 default: server from (namespace team=tX AND pod app=aY), TCP 1000+i
      1 default: server from ipBlock 172.16.x.0/24 except .128/26, TCP 443
      2 default: tier in (backend, db) from (any namespace AND tier=frontend),
        TCP port range 9000+10k..+9 (endPort)
      3 team-*: app=aY, Ingress from the same namespace on TCP 8080 and
        Egress to env=prod namespaces on UDP 53 and TCP 5432
      4 team-*: every pod, ingress from namespaces team=tX
      5 default: server from app=client OR (env=prod AND tier=frontend),
        TCP and UDP 8000 + (i % 1000)
    Shapes 0, 1, 2 and 5 select the server (a local pod): each adds entries
    to xvr_policy under the server's identity (2 and 5 under the
    (server, client) prefix the measured lookup walks). Shapes 3 and 4
    select only remote pods: compiled, but nothing local to enforce. No
    policy selects the client for egress, and none allows the intruder.
"""
import argparse
import sys

NAMESPACES = 20
TEAMS = 5
APPS = 40
TIERS = ("frontend", "backend", "db")


def namespace(name, labels):
    lab = ", ".join(f"{k}: {v}" for k, v in labels.items())
    return f"""apiVersion: v1
kind: Namespace
metadata: {{name: {name}, uid: uid-ns-{name}, labels: {{kubernetes.io/metadata.name: {name}, {lab}}}}}
"""


def pod(ns, name, labels, node, ip):
    lab = ", ".join(f"{k}: {v}" for k, v in labels.items())
    return f"""apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {ns}, uid: uid-pod-{ns}-{name}, labels: {{{lab}}}}}
spec: {{nodeName: {node}, containers: [{{name: c, image: registry.k8s.io/pause:3.9}}]}}
status: {{phase: Running, podIP: {ip}, podIPs: [{{ip: {ip}}}]}}
"""


def policy(ns, name, spec):
    return f"""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: {name}, namespace: {ns}, uid: uid-np-{ns}-{name}}}
spec: {spec}
"""


def policies(n, port):
    out = []
    if n >= 1:
        out.append(policy("default", "server-allow-client",
                          "{podSelector: {matchLabels: {app: server}}, policyTypes: [Ingress], "
                          "ingress: [{from: [{podSelector: {matchLabels: {app: client}}}], "
                          f"ports: [{{protocol: TCP, port: {port}}}]}}]}}"))
    for i in range(1, n):
        shape = i % 6
        team, app = f"t{i % TEAMS}", f"a{i % APPS}"
        ns = f"team-{i % NAMESPACES:02d}"
        if shape == 0:
            out.append(policy("default", f"p{i}-team-app",
                              "{podSelector: {matchLabels: {app: server}}, policyTypes: [Ingress], "
                              f"ingress: [{{from: [{{namespaceSelector: {{matchLabels: {{team: {team}}}}}, "
                              f"podSelector: {{matchLabels: {{app: {app}}}}}}}], "
                              f"ports: [{{protocol: TCP, port: {1000 + i}}}]}}]}}"))
        elif shape == 1:
            x = i % 256
            out.append(policy("default", f"p{i}-ipblock",
                              "{podSelector: {matchLabels: {app: server}}, policyTypes: [Ingress], "
                              f"ingress: [{{from: [{{ipBlock: {{cidr: 172.16.{x}.0/24, except: [172.16.{x}.128/26]}}}}], "
                              "ports: [{protocol: TCP, port: 443}]}]}"))
        elif shape == 2:
            lo = 9000 + (i % 50) * 10
            out.append(policy("default", f"p{i}-tier-range",
                              "{podSelector: {matchExpressions: [{key: tier, operator: In, values: [backend, db]}]}, "
                              "policyTypes: [Ingress], ingress: [{from: [{namespaceSelector: {}, "
                              "podSelector: {matchLabels: {tier: frontend}}}], "
                              f"ports: [{{protocol: TCP, port: {lo}, endPort: {lo + 9}}}]}}]}}"))
        elif shape == 3:
            out.append(policy(ns, f"p{i}-app-inout",
                              f"{{podSelector: {{matchLabels: {{app: {app}}}}}, policyTypes: [Ingress, Egress], "
                              "ingress: [{from: [{podSelector: {}}], ports: [{protocol: TCP, port: 8080}]}], "
                              "egress: [{to: [{namespaceSelector: {matchLabels: {env: prod}}}], "
                              "ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 5432}]}]}"))
        elif shape == 4:
            out.append(policy(ns, f"p{i}-from-team",
                              "{podSelector: {}, policyTypes: [Ingress], "
                              f"ingress: [{{from: [{{namespaceSelector: {{matchLabels: {{team: {team}}}}}}}]}}]}}"))
        else:
            p = 8000 + i % 1000
            out.append(policy("default", f"p{i}-client-or-prod",
                              "{podSelector: {matchLabels: {app: server}}, policyTypes: [Ingress], "
                              "ingress: [{from: [{podSelector: {matchLabels: {app: client}}}, "
                              "{namespaceSelector: {matchLabels: {env: prod}}, "
                              "podSelector: {matchLabels: {tier: frontend}}}], "
                              f"ports: [{{protocol: TCP, port: {p}}}, {{protocol: UDP, port: {p}}}]}}]}}"))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--node", required=True, help="nodeName of the local pods")
    ap.add_argument("--client-ip", required=True)
    ap.add_argument("--server-ip", required=True)
    ap.add_argument("--denied-ip")
    ap.add_argument("--policies", type=int, default=1)
    ap.add_argument("--remote-pods", type=int, default=1000)
    ap.add_argument("--port", type=int, default=8080)
    a = ap.parse_args()
    if a.remote_pods > 250 * 150:
        sys.exit("--remote-pods: at most 37500")
    docs = [namespace("default", {"team": "bench", "env": "prod"})]
    for k in range(NAMESPACES):
        docs.append(namespace(f"team-{k:02d}", {"team": f"t{k % TEAMS}", "env": "prod" if k % 2 else "dev"}))
    docs.append(pod("default", "pod1", {"app": "client", "tier": "frontend"}, a.node, a.client_ip))
    docs.append(pod("default", "pod2", {"app": "server", "tier": "backend"}, a.node, a.server_ip))
    if a.denied_ip:
        docs.append(pod("default", "pod3", {"app": "intruder"}, a.node, a.denied_ip))
    for j in range(a.remote_pods):
        ip = f"10.244.{100 + j // 250}.{1 + j % 250}"
        docs.append(pod(f"team-{j % NAMESPACES:02d}", f"r{j}",
                        {"app": f"a{j % APPS}", "tier": TIERS[j % 3]}, f"remote-{j % 10}", ip))
    docs.extend(policies(a.policies, a.port))
    sys.stdout.write("---\n".join(docs))


if __name__ == "__main__":
    main()
