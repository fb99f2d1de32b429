#!/usr/bin/env python3
"""NetworkPolicy e2e helper: probes the full reachability matrix of a lab and
compares it with an expectation, the way upstream's netpol e2e does
(test/e2e/network/netpol: Reachability, ProbePodToPodConnectivity).

The cluster file (JSON, written by netpol.sh) lists the pods:
  {"pods": [{"ns": "x", "name": "a", "node": "n1", "netns": "LAB-n1-xa",
             "ip": "10.244.1.2", "svc": "10.96.100.10"}, ...]}
Every pod runs `svc_tool.py serve NS/NAME 80 81` (TCP and UDP on 80 and 81;
a TCP connection gets "NS/NAME PEER_IP\\n", a UDP datagram "NS/NAME PEER_IP").

  netpol_probe.py probe CLUSTER FROM [TIMEOUT]
      Run inside FROM's netns: probes every pod's ClusterIP on TCP 80, TCP
      81, UDP 80 and UDP 81 at once (one thread each) and prints one JSON
      object {"from", "results": [{"to", "port", "ok", "how", "ms",
      "answer"}]}. "how": "ok", "timeout", "refused", "wrong" (an answer
      from another pod, or one that saw another client address), "error".
  netpol_probe.py matrix CLUSTER EXPECT [--tries N] [--timeout S]
                  [--case NAME] [--out FILE] [-v]
      Probes from every pod at once (one process per client pod, entered
      with nsenter into its netns), compares the observed matrix with
      EXPECT and, on a mismatch, probes again (up to N tries in all, as
      upstream does while policies settle). Prints the expected, observed
      and comparison grids of every port with a mismatch; exit 1 when the
      last try still differs. --out keeps the last observed results (JSON).
  netpol_probe.py expect EXPECT
      Prints the expected grids (to check an expectation by eye).
  netpol_probe.py udp-stream HOST PORT SECONDS
      One UDP socket (one flow, one 5-tuple) sends a datagram every 100 ms
      for SECONDS and prints "EPOCH_SECONDS ANSWER" for every answer: how a
      policy change reaches an existing UDP flow.
  netpol_probe.py count CLUSTER EXPECT allow|deny FROM_NODE TO_NODE
      The number of cells EXPECT allows (denies) from pods on FROM_NODE to
      pods on TO_NODE ('*': any node), loopback excluded: the least number
      of probe packets some hook must have forwarded (dropped).

EXPECT is a tiny language over the Reachability model below, statements
separated by ';', applied in order:
  all allow|deny                     every cell, every port
  FROM -> TO [PORTS] allow|deny      the cells matching FROM and TO
  loopback                           every pod to itself allowed
FROM and TO are NS/POD patterns with '*' (x/a, x/*, */b, */*); PORTS is a
comma list of tcp/80, tcp/81, udp/80, udp/81, tcp/*, udp/*, */80 (default:
all four). Example, deny-all ingress in x with y allowed into x/a:
  "all allow; */* -> x/* deny; y/* -> x/a allow; loopback"

A denied cell must fail the way a silent drop does: TCP by timeout (a
refusal shows as R in the observed grid and is a mismatch), UDP without an
answer. Self probes (a pod to its own ClusterIP) are hairpin-SNATed to the
node's gateway, so their answer may carry any peer address.
"""
import fnmatch
import json
import os
import socket
import subprocess
import sys
import threading
import time

PORTS = [("tcp", 80), ("tcp", 81), ("udp", 80), ("udp", 81)]


def port_key(proto, port):
    return f"{proto}/{port}"


PORT_KEYS = [port_key(p, n) for p, n in PORTS]


# --- probing (inside a pod's netns) --------------------------------------------


def probe_tcp(addr, port, timeout):
    t0 = time.monotonic()
    try:
        with socket.create_connection((addr, port), timeout=timeout) as c:
            c.settimeout(max(0.05, timeout - (time.monotonic() - t0)))
            line = c.makefile("rb").readline().decode(errors="replace").strip()
            if not line:
                return "error", "closed without an answer", t0
            return "ok", line, t0
    except socket.timeout:
        return "timeout", "", t0
    except ConnectionRefusedError:
        return "refused", "", t0
    except OSError as e:
        return "error", repr(e), t0


def probe_udp(addr, port, timeout):
    # Request/response: only an answer proves the datagram got through (and
    # its answer back). Resent every 250 ms from the same socket (one flow).
    t0 = time.monotonic()
    deadline = t0 + timeout
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect((addr, port))
            while True:
                now = time.monotonic()
                if now >= deadline:
                    return "timeout", "", t0
                s.send(b"probe")
                s.settimeout(min(0.25, deadline - now))
                try:
                    return "ok", s.recv(2048).decode(errors="replace").strip(), t0
                except socket.timeout:
                    continue
    except ConnectionRefusedError:
        return "refused", "", t0
    except OSError as e:
        return "error", repr(e), t0


def load_cluster(path):
    with open(path) as f:
        c = json.load(f)
    for p in c["pods"]:
        p["id"] = f"{p['ns']}/{p['name']}"
    return c


def cmd_probe(cluster_path, frm, timeout=1.0):
    cluster = load_cluster(cluster_path)
    me = next(p for p in cluster["pods"] if p["id"] == frm)
    results = []
    lock = threading.Lock()

    def one(to, proto, port):
        fn = probe_tcp if proto == "tcp" else probe_udp
        how, answer, t0 = fn(to["svc"], port, timeout)
        ms = round((time.monotonic() - t0) * 1000, 1)
        if how == "ok":
            parts = answer.split()
            # The answer names the backend and the client address it saw:
            # the target itself, and our own address (no SNAT) unless this
            # is a hairpin to ourselves.
            if not parts or parts[0] != to["id"]:
                how = "wrong"
            elif to["id"] != frm and (len(parts) < 2 or parts[1] != me["ip"]):
                how = "wrong"
        with lock:
            results.append({"to": to["id"], "port": port_key(proto, port), "ok": how == "ok",
                            "how": how, "ms": ms, "answer": answer})

    threads = [threading.Thread(target=one, args=(to, proto, port), daemon=True)
               for to in cluster["pods"] for proto, port in PORTS]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + 5)
    print(json.dumps({"from": frm, "results": results}))
    return 0


# --- the expectation model ---------------------------------------------------------


class Reachability:
    """Expected reachability per (from, to, port), as upstream's Reachability."""

    def __init__(self, pods, default=True):
        self.pods = list(pods)  # "ns/name"
        self.cells = {(f, t, k): default for f in self.pods for t in self.pods for k in PORT_KEYS}

    @staticmethod
    def _match(pattern, pod):
        return fnmatch.fnmatchcase(pod, pattern)

    @staticmethod
    def _ports(spec):
        if spec is None:
            return list(PORT_KEYS)
        out = []
        for s in spec.split(","):
            s = s.strip()
            proto, _, port = s.partition("/")
            got = [k for k in PORT_KEYS if fnmatch.fnmatchcase(k, f"{proto}/{port or '*'}")]
            if not got:
                raise ValueError(f"no probe port matches '{s}' (probes: {', '.join(PORT_KEYS)})")
            out += got
        return out

    def expect(self, frm, to, allowed, ports=None):
        """Cells from pods matching FRM to pods matching TO on PORTS."""
        hit = 0
        for k in self._ports(ports):
            for f in self.pods:
                if not self._match(frm, f):
                    continue
                for t in self.pods:
                    if self._match(to, t):
                        self.cells[(f, t, k)] = allowed
                        hit += 1
        if not hit:
            raise ValueError(f"'{frm} -> {to}' matches no pod pair")

    def expect_peer(self, frm, to, allowed, ports=None):
        self.expect(frm, to, allowed, ports)

    def expect_all_ingress(self, to, allowed, ports=None):
        self.expect("*/*", to, allowed, ports)

    def expect_all_egress(self, frm, allowed, ports=None):
        self.expect(frm, "*/*", allowed, ports)

    def allow_loopback(self):
        for p in self.pods:
            for k in PORT_KEYS:
                self.cells[(p, p, k)] = True

    @classmethod
    def parse(cls, pods, text):
        """The EXPECT language (see the module doc)."""
        r = cls(pods, True)
        for stmt in (s.strip() for s in text.split(";")):
            if not stmt:
                continue
            words = stmt.split()
            if words == ["loopback"]:
                r.allow_loopback()
            elif len(words) == 2 and words[0] == "all" and words[1] in ("allow", "deny"):
                for key in r.cells:
                    r.cells[key] = words[1] == "allow"
            elif len(words) in (4, 5) and words[1] == "->" and words[-1] in ("allow", "deny"):
                r.expect(words[0], words[2], words[-1] == "allow",
                         words[3] if len(words) == 5 else None)
            else:
                raise ValueError(f"expectation: cannot read '{stmt}'")
        return r


# --- running the matrix --------------------------------------------------------------


def probe_all(cluster, cluster_path, timeout):
    """One probe process per client pod, all at once; {(from, to, port): result}."""
    me = os.path.abspath(__file__)
    procs = []
    for p in cluster["pods"]:
        cmd = ["nsenter", f"--net=/run/netns/{p['netns']}", "--", sys.executable, me,
               "probe", cluster_path, p["id"], str(timeout)]
        procs.append((p["id"], subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                                stderr=subprocess.PIPE, text=True)))
    observed = {}
    for frm, proc in procs:
        out, err = proc.communicate(timeout=timeout + 30)
        if proc.returncode != 0:
            raise RuntimeError(f"probe from {frm} failed (exit {proc.returncode}): {err.strip()}")
        for r in json.loads(out)["results"]:
            observed[(frm, r["to"], r["port"])] = r
    return observed


def cell_char(res):
    if res is None:
        return "?"
    return {"ok": ".", "timeout": "X", "refused": "R", "wrong": "W", "error": "E"}[res["how"]]


def matches(exp, res):
    if res is None:
        return False
    if exp:
        return res["how"] == "ok"
    if res["port"].startswith("tcp/"):
        return res["how"] == "timeout"  # a denied TCP connection is dropped, not refused
    return res["how"] in ("timeout", "refused")


def short(pod):
    return pod.replace("/", "")


def grid_lines(pods, fn):
    w = max(3, max(len(short(p)) for p in pods))
    lines = [" " * (w + 1) + " ".join(f"{short(p):>{w}}" for p in pods)]
    for f in pods:
        lines.append(f"{short(f):<{w}} " + " ".join(f"{fn(f, t):>{w}}" for t in pods))
    return lines


def render(pods, expected, observed, ports, title=""):
    out = []
    for k in ports:
        exp = grid_lines(pods, lambda f, t: "." if expected.cells[(f, t, k)] else "X")
        obs = grid_lines(pods, lambda f, t: cell_char(observed.get((f, t, k))))
        cmp_ = grid_lines(pods, lambda f, t: "." if matches(expected.cells[(f, t, k)],
                                                            observed.get((f, t, k))) else "X")
        width = len(exp[0])
        out.append(f"{title}{k}: rows = from, columns = to (ClusterIP of the column's pod)")
        out.append(f"  {'expected':<{width}}   {'observed':<{width}}   comparison (X = wrong)")
        for a, b, c in zip(exp, obs, cmp_):
            out.append(f"  {a:<{width}}   {b:<{width}}   {c}")
    out.append("  . allowed/answered   X denied/timed out   R refused (RST/ICMP)   "
               "W answer from the wrong pod or with a SNATed client   E error")
    return "\n".join(out)


def summary(pods, expected, observed):
    parts = []
    for k in PORT_KEYS:
        allowed = sum(1 for f in pods for t in pods if expected.cells[(f, t, k)])
        parts.append(f"{k} {allowed}/{len(pods) ** 2}")
    slow = max((r["ms"] for r in observed.values() if r["ok"]), default=0)
    return f"allowed {', '.join(parts)}; slowest answer {slow:.0f} ms"


def cmd_matrix(argv):
    args = {"tries": 3, "timeout": 1.0, "case": "", "out": None, "verbose": False}
    pos = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--tries":
            args["tries"] = int(argv[i + 1]); i += 2
        elif a == "--timeout":
            args["timeout"] = float(argv[i + 1]); i += 2
        elif a == "--case":
            args["case"] = argv[i + 1]; i += 2
        elif a == "--out":
            args["out"] = argv[i + 1]; i += 2
        elif a == "-v":
            args["verbose"] = True; i += 1
        else:
            pos.append(a); i += 1
    if len(pos) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    cluster_path, text = pos
    cluster = load_cluster(cluster_path)
    pods = [p["id"] for p in cluster["pods"]]
    expected = Reachability.parse(pods, text)
    tag = f"[{args['case']}] " if args["case"] else ""
    for attempt in range(1, args["tries"] + 1):
        t0 = time.monotonic()
        observed = probe_all(cluster, os.path.abspath(cluster_path), args["timeout"])
        took = time.monotonic() - t0
        wrong = [key for key, exp in expected.cells.items()
                 if not matches(exp, observed.get(key))]
        if args["out"]:
            with open(args["out"], "w") as f:
                json.dump([dict(r, **{"from": key[0]}) for key, r in observed.items()], f)
        if not wrong:
            note = "" if attempt == 1 else f" (on try {attempt}: policy not settled before)"
            print(f"{tag}matrix {len(pods)}x{len(pods)}x{len(PORT_KEYS)} as expected in "
                  f"{took:.1f} s{note}; {summary(pods, expected, observed)}")
            if args["verbose"]:
                print(render(pods, expected, observed, PORT_KEYS, tag))
            return 0
        bad_ports = [k for k in PORT_KEYS if any(w[2] == k for w in wrong)]
        print(f"{tag}try {attempt}/{args['tries']}: {len(wrong)} of {len(expected.cells)} "
              f"cells differ ({took:.1f} s)", file=sys.stderr)
        if attempt == args["tries"]:
            print(render(pods, expected, observed, bad_ports, tag), file=sys.stderr)
            for key in sorted(wrong)[:20]:
                r = observed.get(key)
                print(f"  {key[0]} -> {key[1]} {key[2]}: expected "
                      f"{'allowed' if expected.cells[key] else 'denied'}, got "
                      f"{r['how'] if r else 'nothing'} after {r['ms'] if r else '-'} ms"
                      f"{(' answer ' + repr(r['answer'])) if r and r['answer'] else ''}",
                      file=sys.stderr)
            return 1
        time.sleep(0.5)
    return 1


def cmd_expect(argv):
    pods = [f"{ns}/{n}" for ns in "xyz" for n in "abc"]
    r = Reachability.parse(pods, argv[0])
    fake = {key: {"how": "ok" if v else "timeout", "port": key[2], "ms": 0, "ok": v}
            for key, v in r.cells.items()}
    print(render(pods, r, fake, PORT_KEYS))
    return 0


def cmd_udp_stream(host, port, seconds):
    end = time.monotonic() + seconds
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((host, port))
        nxt = time.monotonic()
        while time.monotonic() < end:
            if time.monotonic() >= nxt:
                s.send(b"stream")
                nxt += 0.1
            s.settimeout(max(0.001, nxt - time.monotonic()))
            try:
                answer = s.recv(2048).decode(errors="replace").strip()
                print(f"{time.time():.3f} {answer}", flush=True)
            except socket.timeout:
                pass
            except ConnectionRefusedError:
                print(f"{time.time():.3f} REFUSED", flush=True)
    return 0


def cmd_count(argv):
    cluster_path, text, what, from_node, to_node = argv
    cluster = load_cluster(cluster_path)
    node = {p["id"]: p["node"] for p in cluster["pods"]}
    r = Reachability.parse(list(node), text)
    want = what == "allow"
    n = sum(1 for (f, t, k), v in r.cells.items()
            if v == want and f != t and from_node in ("*", node[f]) and to_node in ("*", node[t]))
    print(n)
    return 0


def main(argv):
    if len(argv) >= 4 and argv[1] == "probe":
        return cmd_probe(argv[2], argv[3], float(argv[4]) if len(argv) > 4 else 1.0)
    if len(argv) >= 2 and argv[1] == "matrix":
        return cmd_matrix(argv[2:])
    if len(argv) == 5 and argv[1] == "udp-stream":
        return cmd_udp_stream(argv[2], int(argv[3]), float(argv[4]))
    if len(argv) == 7 and argv[1] == "count":
        return cmd_count(argv[2:])
    if len(argv) == 3 and argv[1] == "expect":
        return cmd_expect(argv[2:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
