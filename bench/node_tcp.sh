#!/usr/bin/env bash
# (f) Cross-node pod on node 1 -> pod on node 2, single-stream TCP
# throughput (iperf3 -t 5), for xvr podAttach=xdp and tc beside a
# flannel-style kernel path (two plain Linux nodes: kernel vxlan0, routed
# pods), each a two-node cluster of scripts/xvr-lab, all set up side by side
# and measured round-robin in the same run. Prints a markdown section.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/topo.sh"

SECS=${BENCH_TCP_SECONDS:-5}
bench_preflight
arm_cleanup

CFGS=(kernel xvr-tc xvr-xdp)
log "f. two-node clusters: ${CFGS[*]}"
topo_cluster kernel "xb${BENCH_ID}k" xdp 1,2
topo_cluster xvr-tc "xb${BENCH_ID}t" tc
topo_cluster xvr-xdp "xb${BENCH_ID}x" xdp

declare -A OFFL MTU_A
for c in "${CFGS[@]}"; do
  in_ns "${T_NS_B[$c]}" iperf3 -s -D -p 5201 --pidfile "$WORK/iperf-$c.pid"
  on_exit "kill \$(cat '$WORK/iperf-$c.pid')"
  OFFL[$c]=$(offload_state "${T_NS_A[$c]}" eth0)
  MTU_A[$c]=$(ip -n "${T_NS_A[$c]}" -j link show eth0 | jq -r '.[0].mtu')
done
sleep 0.5

pod_hook() { case ${T_KIND[$1]} in xvr-xdp) echo xdp_pod ;; xvr-tc) echo tc_pod ;; esac; }
declare -A P0 P1 F0 F1
snap() { # P F
  local c
  for c in "${CFGS[@]}"; do
    [[ ${T_KIND[$c]} == xvr-* ]] || continue
    eval "$1[\$c]=\$(node_counter \"\${T_LAB[\$c]}\" \"\$(pod_hook \$c)\" redirect ok bytes)"
    eval "$2[\$c]=\$(node_counter \"\${T_LAB_B[\$c]}\" xdp_fabric redirect ok bytes)"
  done
}
snap P0 F0
K0=$(in_ns "${T_HOST_NS[kernel]}" ip -s -j link show vxlan0 | jq -r '.[0].stats64.tx.bytes')

declare -A R
log "f. $RUNS rounds of iperf3 -t $SECS per path"
for ((r = 1; r <= RUNS; r++)); do
  for c in "${CFGS[@]}"; do
    j=$(in_ns "${T_NS_A[$c]}" iperf3 -c "${T_IP_B[$c]}" -p 5201 -t "$SECS" -J) ||
      die "iperf3 $c failed: $(jq -r '.error // empty' <<<"$j")"
    R[$c]+="$(jq -r '.end.sum_received.bits_per_second / 1e9' <<<"$j") "
    R[$c/retr]+="$(jq -r '.end.sum_sent.retransmits' <<<"$j") "
  done
done
snap P1 F1
K1=$(in_ns "${T_HOST_NS[kernel]}" ip -s -j link show vxlan0 | jq -r '.[0].stats64.tx.bytes')

cell() {
  # shellcheck disable=SC2086,SC2046 # one word per number
  echo "**$(FMT=%.2f median ${R[$1]})** ($(joined $(printf '%.2f ' ${R[$1]})))"
}
med() {
  # shellcheck disable=SC2086 # one word per number
  FMT=%.3f median ${R[$1]}
}
label() {
  case $1 in
    kernel) echo "kernel: routing + vxlan0 on both nodes (flannel-style)" ;;
    xvr-tc) echo "xvr podAttach=tc" ;;
    xvr-xdp) echo "xvr podAttach=xdp" ;;
  esac
}

echo "### f. Cross-node pod -> pod, single-stream TCP, Gbit/s"
echo
echo "Command: \`bash bench/node_tcp.sh\` (BENCH_RUNS=$RUNS): \`iperf3 -c <pod B> -t $SECS -J\` in pod A's netns"
echo "(node 1) against \`iperf3 -s\` in pod B's (node 2), receiver-side Gbit/s, rounds interleaved"
echo "across paths. Each path is a two-node cluster of \`scripts/xvr-lab\` (\`cluster-up --nodes 2"
echo "--attach tc|xdp\`; the kernel path \`--kernel-nodes 1,2\`), nodes' fab0 veths in a Linux bridge"
echo "in an underlay netns, fabric MTU 1500. Median (all runs in brackets); x kernel = ratio to the"
echo "kernel path; retransmits = iperf3's sender count per run."
echo
echo "| path pod A (node 1) -> pod B (node 2) | pod MTU | pod A eth0 offloads | Gbit/s | x kernel | retransmits |"
echo "|---|---|---|---|---|---|"
for c in "${CFGS[@]}"; do
  # shellcheck disable=SC2086 # one word per number
  echo "| $(label "$c") | ${MTU_A[$c]} | ${OFFL[$c]} | $(cell "$c") | $(ratio "$(med "$c")" "$(med kernel)") | $(joined ${R[$c/retr]}) |"
done
echo
echo "Path checks from the same run (bytes of the data direction pod A -> pod B during the iperf3 runs, as each"
echo "hook counts them: with or without the 50-byte VXLAN header):"
echo
for c in "${CFGS[@]}"; do
  if [[ ${T_KIND[$c]} == kernel ]]; then
    echo "- $c: vxlan0 on node 1 sent +$(((K1 - K0) / 1000000)) MB"
  else
    echo "- $c: $(pod_hook "$c") redirect/ok on node 1 +$(((P1[$c] - P0[$c]) / 1000000)) MB, xdp_fabric redirect/ok on node 2 +$(((F1[$c] - F0[$c]) / 1000000)) MB"
  fi
done
echo
