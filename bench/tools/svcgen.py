#!/usr/bin/env python3
"""Service sets for the Services benchmarks (bench/svc_*.sh): one set of N
ClusterIP services, written either as Kubernetes manifests for xvr's agent or
as the iptables-restore input kube-proxy's iptables mode would write for it.

  svcgen.py manifests --services N [set options] > svcs.yaml
      one multi-document YAML file: per service a Service and an
      EndpointSlice (what the agent's --manifests source reads).
      --exclude-target leaves bench/target out (for a file of its own).
  svcgen.py iptables --services N [set options] > rules.txt
      the *filter and *nat tables kube-proxy (pkg/proxy/iptables/proxier.go,
      syncProxyRules, full sync) writes with iptables-restore --noflush:
      KUBE-SERVICES -> KUBE-SVC-<hash> (statistic --mode random
      --probability 1/(n-i)) -> KUBE-SEP-<hash> (KUBE-MARK-MASQ for
      hairpin, DNAT), KUBE-POSTROUTING masquerade on mark 0x4000,
      KUBE-FORWARD, KUBE-MARK-MASQ. Chain names are kube-proxy's:
      base32(sha256(...))[:16].
      --with-jumps adds the built-in chains' jump rules, for a whole-table
      restore (without --noflush) that replaces everything.
  svcgen.py iptables-jumps
      the rules kube-proxy adds outside the restore (EnsureRule, Prepend):
      nat PREROUTING/OUTPUT -> KUBE-SERVICES, POSTROUTING ->
      KUBE-POSTROUTING, filter INPUT/FORWARD/OUTPUT -> its chains, one
      iptables argument list per line (table first).

The set: service i (0..N-1) is bench/svc-i, port "http" 80/TCP ->
targetPort 8080, ClusterIP 10.96.(1 + i / 200).(10 + i % 200), with
--endpoints endpoints at 10.(100 + g / 65536).(g / 256 % 256).(g % 256)
(g = i * E + j + 1: unique, on no pod here, never contacted). The service at
position --target-index (default N / 2: kube-proxy writes services in Go map
order, so a given service sits at a uniformly random position; the middle
is the expected one) is instead bench/target with ClusterIP --target-ip and
the endpoints --target-endpoints (the backend pods that answer).
"""
import argparse
import base64
import hashlib
import sys

MASQ_MARK = "0x4000"


def cluster_ip(i):
    return f"10.96.{1 + i // 200}.{10 + i % 200}"


def endpoint_ip(g):
    return f"10.{100 + g // 65536}.{g // 256 % 256}.{g % 256}"


def services(a):
    """[(namespace, name, cluster_ip, [endpoint ips])] in KUBE-SERVICES order."""
    n = a.services
    target = a.target_index if a.target_index is not None else n // 2
    if not 0 <= target < n:
        sys.exit(f"svcgen: --target-index {target} outside 0..{n - 1}")
    out = []
    for i in range(n):
        if i == target:
            out.append(("bench", "target", a.target_ip, a.target_endpoints))
        else:
            eps = [endpoint_ip(i * a.endpoints + j + 1) for j in range(a.endpoints)]
            out.append(("bench", f"svc-{i}", cluster_ip(i), eps))
    return out


def manifests(a):
    w = sys.stdout.write
    for ns, name, ip, eps in services(a):
        if a.exclude_target and name == "target":
            continue
        w(f"---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {ns}}}\n"
          f"spec:\n  type: ClusterIP\n  clusterIP: {ip}\n"
          f"  ports:\n  - {{name: http, port: {a.port}, targetPort: {a.target_port}, protocol: TCP}}\n")
        w(f"---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
          f"metadata:\n  name: {name}-1\n  namespace: {ns}\n"
          f"  labels: {{kubernetes.io/service-name: {name}}}\n"
          f"addressType: IPv4\nendpoints:\n")
        for ep in eps:
            w(f"- addresses: [{ep}]\n  conditions: {{ready: true}}\n")
        w(f"ports:\n- {{name: http, port: {a.target_port}, protocol: TCP}}\n")


def chain_hash(s):
    return base64.b32encode(hashlib.sha256(s.encode()).digest()).decode()[:16]


def iptables(a):
    svcs = services(a)
    proto = "tcp"
    total_eps = sum(len(e) for _, _, _, e in svcs)
    # largeClusterEndpointsThreshold: above 1000 endpoints kube-proxy drops
    # the comments of the SVC -> SEP and SEP rules.
    large = total_eps > 1000
    filter_chains = ["KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-FORWARD",
                     "KUBE-NODEPORTS", "KUBE-PROXY-FIREWALL", "KUBE-FIREWALL"]
    nat_chains = ["KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"]
    filter_rules = [
        '-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" '
        "-d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP",
    ]
    nat_rules = [
        f"-A KUBE-POSTROUTING -m mark ! --mark {MASQ_MARK}/{MASQ_MARK} -j RETURN",
        f"-A KUBE-POSTROUTING -j MARK --xor-mark {MASQ_MARK}",
        '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" '
        "-j MASQUERADE --random-fully",
        f"-A KUBE-MARK-MASQ -j MARK --or-mark {MASQ_MARK}",
    ]
    svc_chains, blocks = [], []
    for ns, name, ip, eps in svcs:
        spn = f"{ns}/{name}:http"
        svc = "KUBE-SVC-" + chain_hash(spn + proto)
        match = f'-m comment --comment "{spn} cluster IP" -m {proto} -p {proto} -d {ip} --dport {a.port}'
        # natRules order in syncProxyRules: the KUBE-SERVICES rule, the
        # service chain (masquerade of off-cluster sources, then one jump
        # per endpoint), then the endpoint chains.
        block = [f"-A KUBE-SERVICES {match} -j {svc}",
                 f"-A {svc} {match} ! -s {a.cluster_cidr} -j KUBE-MARK-MASQ"]
        svc_chains.append(svc)
        n = len(eps)
        seps = []
        for k, ep in enumerate(eps):
            epstr = f"{ep}:{a.target_port}"
            sep = "KUBE-SEP-" + chain_hash(spn + proto + epstr)
            seps.append(sep)
            comment = "" if large else f' -m comment --comment "{spn} -> {epstr}"'
            stat = ""
            if k < n - 1:
                stat = f" -m statistic --mode random --probability {1.0 / (n - k):0.10f}"
            block.append(f"-A {svc}{comment}{stat} -j {sep}")
        for ep, sep in zip(eps, seps):
            svc_chains.append(sep)
            comment = "" if large else f" -m comment --comment {spn}"
            block.append(f"-A {sep}{comment} -s {ep} -j KUBE-MARK-MASQ")
            block.append(f"-A {sep}{comment} -m {proto} -p {proto} -j DNAT "
                         f"--to-destination {ep}:{a.target_port}")
        blocks.append(block)
    filter_rules += [
        "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP",
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" '
        f"-m mark --mark {MASQ_MARK}/{MASQ_MARK} -j ACCEPT",
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" '
        "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
    ]
    # --with-jumps: a whole-table restore (no --noflush) flushes the
    # built-in chains too, so it must carry kube-proxy's jump rules itself
    # (in the order EnsureRule(Prepend) leaves them: last added first).
    jumps = {"filter": [], "nat": []}
    if a.with_jumps:
        for table, chain, extra, comment, target in reversed(JUMPS):
            rule = " ".join(x for x in [f"-A {chain}", extra,
                                        f'-m comment --comment "{comment}"' if comment else "",
                                        f"-j {target}"] if x)
            jumps[table].append(rule)
    out = ["*filter"]
    out += [f":{c} - [0:0]" for c in filter_chains]
    out += jumps["filter"] + filter_rules
    out += ["COMMIT", "*nat"]
    out += [f":{c} - [0:0]" for c in nat_chains + svc_chains]
    out += jumps["nat"] + nat_rules
    for block in blocks:
        out += block
    out.append('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this '
               'must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS')
    out.append("COMMIT")
    sys.stdout.write("\n".join(out) + "\n")


JUMPS = [
    # table, chain, extra match, comment, target (proxier.go iptablesJumpChains
    # and iptablesKubeletJumpChains)
    ("filter", "INPUT", "-m conntrack --ctstate NEW", "kubernetes externally-visible service portals", "KUBE-EXTERNAL-SERVICES"),
    ("filter", "FORWARD", "-m conntrack --ctstate NEW", "kubernetes externally-visible service portals", "KUBE-EXTERNAL-SERVICES"),
    ("filter", "INPUT", "", "kubernetes health check service ports", "KUBE-NODEPORTS"),
    ("filter", "FORWARD", "-m conntrack --ctstate NEW", "kubernetes service portals", "KUBE-SERVICES"),
    ("filter", "OUTPUT", "-m conntrack --ctstate NEW", "kubernetes service portals", "KUBE-SERVICES"),
    ("filter", "FORWARD", "", "kubernetes forwarding rules", "KUBE-FORWARD"),
    ("filter", "INPUT", "-m conntrack --ctstate NEW", "kubernetes load balancer firewall", "KUBE-PROXY-FIREWALL"),
    ("filter", "OUTPUT", "-m conntrack --ctstate NEW", "kubernetes load balancer firewall", "KUBE-PROXY-FIREWALL"),
    ("filter", "FORWARD", "-m conntrack --ctstate NEW", "kubernetes load balancer firewall", "KUBE-PROXY-FIREWALL"),
    ("nat", "OUTPUT", "", "kubernetes service portals", "KUBE-SERVICES"),
    ("nat", "PREROUTING", "", "kubernetes service portals", "KUBE-SERVICES"),
    ("nat", "POSTROUTING", "", "kubernetes postrouting rules", "KUBE-POSTROUTING"),
    ("filter", "INPUT", "", "", "KUBE-FIREWALL"),
    ("filter", "OUTPUT", "", "", "KUBE-FIREWALL"),
]


def iptables_jumps(_a):
    """One line per rule: TABLE CHAIN ARGS... (for `iptables -t TABLE -N/-I`)."""
    for table, chain, extra, comment, target in JUMPS:
        parts = [table, chain]
        if extra:
            parts.append(extra)
        if comment:
            parts.append(f'-m comment --comment "{comment}"')
        parts.append(f"-j {target}")
        print(" ".join(parts))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["manifests", "iptables", "iptables-jumps"])
    p.add_argument("--services", type=int, default=1)
    p.add_argument("--endpoints", type=int, default=10, help="endpoints per service")
    p.add_argument("--port", type=int, default=80)
    p.add_argument("--target-port", type=int, default=8080)
    p.add_argument("--target-index", type=int)
    p.add_argument("--target-ip", default="10.96.0.10")
    p.add_argument("--target-endpoints", default="",
                   help="comma-separated IPs of the measured service's endpoints")
    p.add_argument("--cluster-cidr", default="10.244.0.0/16")
    p.add_argument("--exclude-target", action="store_true",
                   help="manifests: leave the measured service out (it lives in a file of its own)")
    p.add_argument("--with-jumps", action="store_true",
                   help="iptables: include the built-in chains' jump rules (whole-table restore)")
    a = p.parse_args()
    a.target_endpoints = [e for e in a.target_endpoints.split(",") if e]
    if a.what != "iptables-jumps" and not a.target_endpoints:
        g0 = a.services * a.endpoints
        a.target_endpoints = [endpoint_ip(g0 + j + 1) for j in range(a.endpoints)]
    {"manifests": manifests, "iptables": iptables, "iptables-jumps": iptables_jumps}[a.what](a)


if __name__ == "__main__":
    main()
