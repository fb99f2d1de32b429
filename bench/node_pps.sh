#!/usr/bin/env bash
# (e) Cross-node pod on node 1 -> pod on node 2, 64-byte UDP, one flow: Mpps
# delivered to the receiving pod, for xvr (podAttach xdp) beside a
# flannel-style kernel path, both two-node clusters of scripts/xvr-lab set
# up side by side and measured round-robin in the same run:
#   xvr:    cluster-up --nodes 2 --attach xdp: xdp_pod on the sending pod's
#           host veth encapsulates (VXLAN) and redirects into fab0;
#           xdp_fabric on node 2's fab0 decapsulates and redirects to the pod.
#   kernel: cluster-up --nodes 2 --kernel-nodes 1,2: plain Linux nodes,
#           routed pods, kernel vxlan0 with flannel's routes/neighbours/fdb.
# The nodes' fab0 veths meet in a Linux bridge in the underlay netns.
#
# Load: xvr-bench-gen in the sending pod's netns (as pod_pps.sh), live
# frames XDP_TX'd out of its eth0. Receiver: xvr-bench-sink at the XDP hook
# of the receiving pod's eth0 (counts and drops). On the kernel path the
# sending pod's host veth gets GRO on (NAPI, as the bridge in pod_pps.sh):
# without it live frames vanish there. Prints a markdown section.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/topo.sh"

SECS=${BENCH_PPS_SECONDS:-5}
CPU=${BENCH_CPU:-1}
bench_preflight
arm_cleanup

CFGS=(kernel xvr-xdp)
log "e. two-node clusters: kernel vxlan (--kernel-nodes 1,2), xvr podAttach=xdp"
topo_cluster kernel "xb${BENCH_ID}k" xdp 1,2
topo_cluster xvr-xdp "xb${BENCH_ID}e" xdp

gen() { # CFG SINK_DIR ACTION -> one JSON line
  local cfg=$1 sink=$2 action=$3
  local -a cmd=("$BENCH_BIN/xvr-bench-gen" --dev eth0 --dst-mac "${T_DST_MAC[$cfg]}"
    --src-ip "${T_IP_A[$cfg]}" --dst-ip "${T_IP_B[$cfg]}" --action "$action"
    --seconds "$SECS" --cpu "$CPU" --label "$cfg")
  [[ -n $sink ]] && cmd+=(--sink-pin "$sink")
  in_ns "${T_NS_A[$cfg]}" "${cmd[@]}"
}

set_gro "${T_HOST_NS[kernel]}" "${T_HOST_A[kernel]}" on
for c in "${CFGS[@]}"; do
  in_ns "${T_NS_B[$c]}" "$BENCH_BIN/xvr-bench-sink" attach --hook xdp --dev eth0 --pin "$PIN/sink-$c" >/dev/null
  on_exit "nsenter --net=/run/netns/${T_NS_B[$c]} -- '$BENCH_BIN/xvr-bench-sink' detach --hook xdp --dev eth0 --pin '$PIN/sink-$c'"
done

# The kernel path's first frames would wait for nothing (every neighbour is
# resolved by topo_cluster's ping), but one short warm-up round per path
# keeps any one-off cost out of the figures.
for c in "${CFGS[@]}"; do SECS=1 gen "$c" "$PIN/sink-$c" tx >/dev/null; done

# Drops in the underlay (veth ports n1, n2 of the bridge in LAB-ul): where
# frames are lost between the nodes, if any. CFG -> "rx/tx drops" per port.
ul_drops() {
  local ul=${T_LAB[$1]%/*}-ul
  ip -n "$ul" -s -j link show | jq -r '[.[] | select(.ifname == "n1" or .ifname == "n2")
    | "\(.ifname) \(.stats64.rx.dropped) \(.stats64.tx.dropped)"] | join(" ")'
}
ul_delta() { # BEFORE AFTER -> "port n1: rx dropped +A, tx dropped +B; port n2: ..."
  awk -v a="$1" -v b="$2" 'BEGIN { na = split(a, x, " "); split(b, y, " ")
    for (i = 1; i <= na; i += 3) printf "%sport %s: rx dropped +%d, tx dropped +%d",
      (i > 1 ? "; " : ""), x[i], y[i + 1] - x[i + 1], y[i + 2] - x[i + 2] }'
}
declare -A UL0 UL1
for c in "${CFGS[@]}"; do UL0[$c]=$(ul_drops "$c"); done
pod0=$(node_counter "${T_LAB[xvr-xdp]}" xdp_pod redirect ok packets)
fab0=$(node_counter "${T_LAB_B[xvr-xdp]}" xdp_fabric redirect ok packets)
declare -A R
log "e. $RUNS rounds of ${SECS}s per path"
for ((r = 1; r <= RUNS; r++)); do
  j=$(gen xvr-xdp "" drop)
  R[genonly]+="$(jq -r .gen_mpps <<<"$j") "
  for c in "${CFGS[@]}"; do
    j=$(gen "$c" "$PIN/sink-$c" tx)
    echo "$j" >>"$WORK/pps.jsonl"
    R[$c]+="$(jq -r .mpps <<<"$j") "
  done
done
pod1=$(node_counter "${T_LAB[xvr-xdp]}" xdp_pod redirect ok packets)
fab1=$(node_counter "${T_LAB_B[xvr-xdp]}" xdp_fabric redirect ok packets)
for c in "${CFGS[@]}"; do UL1[$c]=$(ul_drops "$c"); done
SUM() { jq -s --arg l "$1" --arg f "$2" '[.[] | select(.label == $l) | .[$f]] | add' "$WORK/pps.jsonl"; }
XDP_DELIVERED=$(SUM xvr-xdp delivered)
XDP_GENERATED=$(SUM xvr-xdp generated)
K_DELIVERED=$(SUM kernel delivered)
K_GENERATED=$(SUM kernel generated)
K_VX=$(in_ns "${T_HOST_NS[kernel]}" ip -s -j link show vxlan0 | jq -r '.[0].stats64.tx.packets')
K_VX_B=$(in_ns "${T_HOST_NS_B[kernel]}" ip -s -j link show vxlan0 | jq -r '.[0].stats64.rx.packets')

cell() {
  # shellcheck disable=SC2086,SC2046 # one word per number
  echo "**$(FMT=%.2f median ${R[$1]})** ($(joined $(printf '%.2f ' ${R[$1]})))"
}
med() {
  # shellcheck disable=SC2086 # one word per number
  FMT=%.3f median ${R[$1]}
}

echo "### e. Cross-node pod -> pod, 64-byte UDP, Mpps"
echo
echo "Command: \`bash bench/node_pps.sh\` (BENCH_RUNS=$RUNS, ${SECS}s per measurement, rounds interleaved"
echo "across paths). Topology: two two-node clusters of \`scripts/xvr-lab\` side by side,"
echo "\`cluster-up --nodes 2 --attach xdp\` (xvr) and \`cluster-up --nodes 2 --kernel-nodes 1,2\`"
echo "(flannel-style plain Linux nodes: kernel vxlan0, routed pods, ip_forward=1); pod A on node 1,"
echo "pod B on node 2, MTU $(ip -n "${T_NS_A[xvr-xdp]}" -j link show eth0 | jq -r '.[0].mtu') on the pods, VXLAN between the nodes' fab0 veths, which meet"
echo "in a Linux bridge in an underlay netns. Load: \`xvr-bench-gen --dev eth0 --action tx --seconds $SECS --cpu $CPU\`"
echo "in pod A's netns (live frames XDP_TX'd out of pod A's eth0, to pod A's gateway MAC)."
echo "Receiver: \`xvr-bench-sink\` at pod B's eth0 XDP hook counts and drops them. Generator,"
echo "both nodes' forwarding and the receiver all run on CPU $CPU: one-core figures. Median Mpps"
echo "(all runs in brackets); x kernel = ratio to the kernel path in the same run."
echo
echo "| path pod A (node 1) -> pod B (node 2) | NAPI on pod A's host veth from | Mpps at pod B's XDP hook | x kernel |"
echo "|---|---|---|---|"
echo "| generator alone (XDP_DROP, no transmit) | - | $(cell genonly) | |"
echo "| kernel: routing + vxlan0 on both nodes | GRO (set by the benchmark) | $(cell kernel) | 1.00 |"
echo "| xvr podAttach=xdp: xdp_pod encap, xdp_fabric decap | xdp_pod | $(cell xvr-xdp) | $(ratio "$(med xvr-xdp)" "$(med kernel)") |"
echo
echo "Path checks from the same run (all measured rounds together):"
echo
echo "- xvr: the generator sent $XDP_GENERATED frames; xdp_pod redirect/ok on node 1 rose by $((pod1 - pod0)),"
echo "  xdp_fabric redirect/ok on node 2 by $((fab1 - fab0)); the sink on pod B counted $XDP_DELIVERED."
echo "- kernel: the generator sent $K_GENERATED frames; the sink on pod B counted $K_DELIVERED;"
echo "  vxlan0 tx packets on node 1 (whole run, incl. warm-up and ping): $K_VX, vxlan0 rx packets on node 2: $K_VX_B."
echo "- Underlay bridge ports during the measured rounds (n1 faces node 1's fab0, n2 node 2's):"
echo "  xvr: $(ul_delta "${UL0[xvr-xdp]}" "${UL1[xvr-xdp]}"); kernel: $(ul_delta "${UL0[kernel]}" "${UL1[kernel]}")."
echo
