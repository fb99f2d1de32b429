#!/usr/bin/env bash
# (c) Same-node pod A -> pod B single-stream TCP throughput (iperf3 -t 5),
# for xvr podAttach=xdp and tc at MTU 1500 and 9000 beside a plain veth pair
# and a Linux bridge at the same MTUs, all set up side by side and measured
# round-robin in the same run. Prints a markdown section.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/topo.sh"

SECS=${BENCH_TCP_SECONDS:-5}
bench_preflight
arm_cleanup

CFGS=(veth-1500 veth-9000 bridge-1500 bridge-9000 xvr-tc-1500 xvr-tc-9000 xvr-xdp-1500 xvr-xdp-9000)
log "c. topologies: ${CFGS[*]}"
topo_veth veth-1500 1500
topo_veth veth-9000 9000
topo_bridge bridge-1500 1500
topo_bridge bridge-9000 9000
topo_xvr xvr-tc-1500 "xb${BENCH_ID}t" tc 1500
topo_xvr xvr-tc-9000 "xb${BENCH_ID}u" tc 9000
topo_xvr xvr-xdp-1500 "xb${BENCH_ID}x" xdp 1500
topo_xvr xvr-xdp-9000 "xb${BENCH_ID}y" xdp 9000

declare -A OFFL MTU_A
for c in "${CFGS[@]}"; do
  in_ns "${T_NS_B[$c]}" iperf3 -s -D -p 5201 --pidfile "$WORK/iperf-$c.pid"
  on_exit "kill \$(cat '$WORK/iperf-$c.pid')"
  OFFL[$c]=$(offload_state "${T_NS_A[$c]}" eth0)
  MTU_A[$c]=$(ip -n "${T_NS_A[$c]}" -j link show eth0 | jq -r '.[0].mtu')
done
sleep 0.5

hook_of() { case ${T_KIND[$1]} in xvr-xdp) echo xdp_pod ;; xvr-tc) echo tc_pod ;; esac; }
declare -A C0 C1
for c in "${CFGS[@]}"; do
  [[ -n ${T_LAB[$c]:-} ]] && C0[$c]=$(xvr_counter "$c" "$(hook_of "$c")" redirect ok bytes)
done

declare -A R
log "c. $RUNS rounds of iperf3 -t $SECS per path"
for ((r = 1; r <= RUNS; r++)); do
  for c in "${CFGS[@]}"; do
    j=$(in_ns "${T_NS_A[$c]}" iperf3 -c "${T_IP_B[$c]}" -p 5201 -t "$SECS" -J) ||
      die "iperf3 $c failed: $(jq -r '.error // empty' <<<"$j")"
    R[$c]+="$(jq -r '.end.sum_received.bits_per_second / 1e9' <<<"$j") "
  done
done
for c in "${CFGS[@]}"; do
  [[ -n ${T_LAB[$c]:-} ]] && C1[$c]=$(xvr_counter "$c" "$(hook_of "$c")" redirect ok bytes)
done

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
    veth-*) echo "plain veth pair" ;;
    bridge-*) echo "Linux bridge" ;;
    xvr-tc-*) echo "xvr podAttach=tc" ;;
    xvr-xdp-*) echo "xvr podAttach=xdp" ;;
  esac
}

echo "### c. Same-node pod -> pod, single-stream TCP, Gbit/s"
echo
echo "Command: \`bash bench/pod_tcp.sh\` (BENCH_RUNS=$RUNS): \`iperf3 -c <pod B> -t $SECS -J\` in pod A's netns"
echo "against \`iperf3 -s\` in pod B's, receiver-side Gbit/s, rounds interleaved across paths."
echo "Median (all runs in brackets); x bridge = ratio to the bridge at the same MTU."
echo
echo "| path pod A -> pod B | MTU | pod A eth0 offloads | Gbit/s | x bridge |"
echo "|---|---|---|---|---|"
for c in "${CFGS[@]}"; do
  m=${c##*-}
  echo "| $(label "$c") | ${MTU_A[$c]} | ${OFFL[$c]} | $(cell "$c") | $(ratio "$(med "$c")" "$(med "bridge-$m")") |"
done
echo
echo "Path checks from the same run (bytes the xvr program redirected during the iperf3 runs):"
echo
for c in "${CFGS[@]}"; do
  [[ -n ${T_LAB[$c]:-} ]] || continue
  echo "- $c: $(hook_of "$c") redirect/ok +$(((C1[$c] - C0[$c]) / 1000000)) MB"
done
echo
