#!/usr/bin/env bash
# `make bench`: builds the benchmark tools, runs every benchmark with its
# baselines in one go and prints one markdown report (docs/BENCHMARKS.md
# quotes it). A copy goes to build/bench-results/<UTC time>.md.
#
#   bash bench/run-all.sh [a] [b] [c] [d] [e] [f] [g] [h] [i] [j] [k] [l] [m] [n] [o]    (default: all)
#
# a-d same node; e-g cross-node and control plane: e node_pps.sh, f
# node_tcp.sh (two-node clusters, xvr vs a flannel-style kernel path), g
# route_learn.sh (100k routes into the LPM map), h route_cost.sh (per-packet
# route lookup cost, 100k routes vs 10). i-k Services (kube-proxy
# replacement): i svc_cost.sh (per-packet cost to a ClusterIP with 1, 1 000,
# 10 000 services), j svc_crr.sh (connections/s through a ClusterIP beside
# kube-proxy's iptables mode, iptables-nft and -legacy, and how long each
# side takes to load the services), k svc_control.sh (EndpointSlice change
# -> maps, 10 000 services from a manifest). l-n flows and NetworkPolicy:
# l flow_crr.sh (connections/s between two pods with flows + a policy
# isolating the server, flows only, beside iptables conntrack on a routed
# node and on a bridge with br_netfilter), m policy_cost.sh (per-packet cost
# of an established and a first packet with 1, 100, 1 000 NetworkPolicies
# vs none), n flow_gc.sh (agent CPU per GC pass over 1 M flows and at steady
# state, vs a per-key walk of the same map). o capture_cost.sh (per-packet
# cost of `xvrctl capture` in xdp_pod: off, on not matching, on matching).
# p metrics_scrape.sh (GET /metrics wall time idle and with 100 000 flow
# pairs, beside bpftool dumps of the counter and flow maps).
#
# Environment: BENCH_RUNS (runs per figure, default 5), BENCH_CNI_RUNS
# (default 3), BENCH_CNI_PODS (default 200), BENCH_PPS_SECONDS and
# BENCH_TCP_SECONDS (default 5), BENCH_CPU (CPU of the pps generator, 1),
# BENCH_ROUTES (routes for g and h, default 100000), BENCH_SVC_COUNTS (i, j:
# "1 1000 10000"), BENCH_SVC_ENDPOINTS (10), BENCH_CRR_SECONDS (j, 2),
# BENCH_SVC_ATTACH (j, "xdp"; "xdp tc" adds tc), BENCH_SVC_IPTABLES (j,
# "nft legacy"), BENCH_SVC_RESTORE_TIMEOUT (j, 60 s per iptables-restore),
# BENCH_SVC_LARGE (k, 10000), BENCH_FLOW_IPTABLES (l, "nft"; "nft legacy"),
# BENCH_POLICY_COUNTS (m, "1 100 1000"), BENCH_POLICY_MISS_PACKETS (m,
# 50000), BENCH_POLICY_REMOTE_PODS (m, 1000), BENCH_FLOWGC_RUNS (n, rounds,
# 3), BENCH_FLOWGC_PAIRS (n, 1000000), BENCH_FLOWGC_TABLE (n, 2097152),
# BENCH_FLOWGC_PERIODS (n, GC periods per round, 2), BENCH_CAPTURE_PACKETS
# (o, repetitions per run, 1000000).
# Root only. Not part of `make test`. Figures from a busy machine are not
# comparable with figures from an idle one: the report prints the load.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
BUILD=${BENCH_BUILD:-$REPO/build}
[[ $(id -u) == 0 ]] || { echo "bench: must run as root" >&2; exit 1; }

sections=("$@")
((${#sections[@]})) || sections=(a b c d e f g h i j k l m n o p)

targets=(xvr-agent xvr-cni xvrctl xvr_bench_tools)
[[ " ${sections[*]} " == *" g "* ]] && targets+=(xvr_routing_e2e_tests)
cmake --build "$BUILD" -j "$(nproc)" --target "${targets[@]}" >&2

mkdir -p "$BUILD/bench-results"
OUT=$BUILD/bench-results/$(date -u +%Y%m%dT%H%M%SZ).md

report() {
  local s
  echo "## Benchmark run $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "Machine: $(nproc) CPUs ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)), Linux $(uname -r), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM, $(grep -qw hypervisor /proc/cpuinfo && echo 'virtual machine (CPU flag hypervisor)' || echo 'bare metal')."
  echo "Build: $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO" diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes'), $(grep -m1 CMAKE_BUILD_TYPE: "$BUILD/CMakeCache.txt" | cut -d= -f2)."
  echo "Runs per figure: ${BENCH_RUNS:-5} (CNI: ${BENCH_CNI_RUNS:-3})."
  echo "Load average at start: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  for s in "${sections[@]}"; do
    case $s in
      a) bash "$BENCH_DIR/prog_cost.sh" ;;
      b) bash "$BENCH_DIR/pod_pps.sh" ;;
      c) bash "$BENCH_DIR/pod_tcp.sh" ;;
      d) bash "$BENCH_DIR/cni_add.sh" ;;
      e) bash "$BENCH_DIR/node_pps.sh" ;;
      f) bash "$BENCH_DIR/node_tcp.sh" ;;
      g) bash "$BENCH_DIR/route_learn.sh" ;;
      h) bash "$BENCH_DIR/route_cost.sh" ;;
      i) bash "$BENCH_DIR/svc_cost.sh" ;;
      j) bash "$BENCH_DIR/svc_crr.sh" ;;
      k) bash "$BENCH_DIR/svc_control.sh" ;;
      l) bash "$BENCH_DIR/flow_crr.sh" ;;
      m) bash "$BENCH_DIR/policy_cost.sh" ;;
      n) bash "$BENCH_DIR/flow_gc.sh" ;;
      o) bash "$BENCH_DIR/capture_cost.sh" ;;
      p) bash "$BENCH_DIR/metrics_scrape.sh" ;;
      *) echo "bench: unknown section '$s' (a b c d e f g h i j k l m n o p)" >&2; return 1 ;;
    esac
  done
  echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
}

report | tee "$OUT"
echo "bench: report saved to $OUT" >&2
