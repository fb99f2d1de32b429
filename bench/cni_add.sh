#!/usr/bin/env bash
# (d) CNI ADD latency over 200 pods: each invocation of xvr-cni ADD timed
# from fork to exit, as a runtime sees it, beside the reference ptp plugin
# with host-local IPAM (containernetworking-plugins) doing the same job
# (veth pair, address, routes) in the same run. DEL is timed as well.
# Prints a markdown section.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

PODS=${BENCH_CNI_PODS:-200}
CNI_RUNS=${BENCH_CNI_RUNS:-3}
PTP=/usr/lib/cni/ptp
bench_preflight
arm_cleanup
[[ -x $PTP && -x /usr/lib/cni/host-local ]] || die "$PTP missing (containernetworking-plugins)"

LAB=xb${BENCH_ID}c
"$LAB_TOOL" up "$LAB" --pods 0 >"$WORK/lab.log" 2>&1 || {
  cat "$WORK/lab.log" >&2
  "$LAB_TOOL" down "$LAB" >/dev/null 2>&1
  die "xvr-lab up $LAB failed"
}
on_exit "'$LAB_TOOL' down '$LAB'"
XVR_NODE=$("$LAB_TOOL" path "$LAB" node-netns)
SOCK=$("$LAB_TOOL" path "$LAB" socket)
PTP_NODE=xb$BENCH_ID-ptpnode
netns_add "$PTP_NODE"

# A /22 is not needed: both plugins hand out 200 addresses from a /24.
jq -n --arg sock "$SOCK" \
  '{cniVersion: "1.0.0", name: "xvr-bench", type: "xvr-cni", agentSocket: $sock}' >"$WORK/xvr.conf"
jq -n --arg dir "$WORK/ipam" \
  '{cniVersion: "1.0.0", name: "ptp-bench", type: "ptp", ipMasq: false, mtu: 1500,
    ipam: {type: "host-local", subnet: "10.96.0.0/24", dataDir: $dir,
           routes: [{dst: "0.0.0.0/0"}]}}' >"$WORK/ptp.conf"

# run_plugin NAME NODE_NS PLUGIN CNI_PATH CONF RUN: ADD then DEL over $PODS pods.
run_plugin() {
  local name=$1 node=$2 plugin=$3 cni_path=$4 conf=$5 run=$6 prefix i
  prefix=xb$BENCH_ID-$name$run-
  for ((i = 1; i <= PODS; i++)); do
    ip netns add "$prefix$i"
    on_exit "ip netns delete '$prefix$i'"
  done
  # Start-up alone (exec, dynamic linking, config parsing): VERSION.
  in_ns "$node" bash "$BENCH_DIR/lib/cni_loop.sh" VERSION "$plugin" "$cni_path" "$conf" "$prefix" "$PODS" \
    >"$WORK/$name-version-$run.ms"
  in_ns "$node" bash "$BENCH_DIR/lib/cni_loop.sh" ADD "$plugin" "$cni_path" "$conf" "$prefix" "$PODS" \
    >"$WORK/$name-add-$run.ms"
  in_ns "$node" bash "$BENCH_DIR/lib/cni_loop.sh" DEL "$plugin" "$cni_path" "$conf" "$prefix" "$PODS" \
    >"$WORK/$name-del-$run.ms"
  for ((i = 1; i <= PODS; i++)); do ip netns delete "$prefix$i"; done
}

log "d. $CNI_RUNS runs of $PODS ADDs then $PODS DELs, xvr-cni and ptp alternating"
for ((r = 1; r <= CNI_RUNS; r++)); do
  run_plugin xvr "$XVR_NODE" "$XVR_BIN/xvr-cni" "$XVR_BIN" "$WORK/xvr.conf" "$r"
  left=$("$LAB_TOOL" endpoints "$LAB" -o json | jq '.endpoints | length')
  ((left == 0)) || die "xvr: $left endpoints left after $PODS DELs"
  left=$(ip -n "$XVR_NODE" -o link show type veth | grep -cv -e xvr_host -e xvr_net || true)
  ((left == 0)) || die "xvr: $left pod veths left in the node netns after $PODS DELs"
  run_plugin ptp "$PTP_NODE" "$PTP" /usr/lib/cni "$WORK/ptp.conf" "$r"
done

stat_cell() { # NAME OP P -> "**median** (run values)"
  local -a v=()
  local r
  for ((r = 1; r <= CNI_RUNS; r++)); do v+=("$(percentile "$3" <"$WORK/$1-$2-$r.ms")"); done
  # shellcheck disable=SC2046 # one word per number
  echo "**$(FMT=%.1f median "${v[@]}")** ($(joined $(printf '%.1f ' "${v[@]}")))"
}

echo "### d. CNI ADD latency, $PODS pods"
echo
echo "Command: \`bash bench/cni_add.sh\` (BENCH_CNI_RUNS=$CNI_RUNS). In the node's netns, \`bench/lib/cni_loop.sh\`"
echo "executes the plugin once per pod netns exactly as a runtime does (\`env -i CNI_COMMAND=ADD"
echo "CNI_NETNS=... plugin < conf\`) and times each invocation from fork to exit (\$EPOCHREALTIME)."
echo "$PODS ADDs in a row (pods accumulate: the last ADD runs beside $((PODS - 1)) others), then $PODS DELs;"
echo "xvr-cni talks to an agent (xvr-lab, podAttach=xdp: each ADD also attaches xdp_pod and"
echo "xdp_pod_peer); the baseline is the reference ptp plugin with host-local IPAM, CNI 1.0.0 both."
echo "Milliseconds; per run the p50 and p99 of the $PODS invocations; median over $CNI_RUNS runs (runs in brackets)."
echo
echo "| plugin | ADD p50 ms | ADD p99 ms | DEL p50 ms | DEL p99 ms | VERSION p50 ms (start-up only) |"
echo "|---|---|---|---|---|---|"
for p in xvr ptp; do
  case $p in xvr) n="xvr-cni + xvr-agent" ;; ptp) n="ptp + host-local (reference plugins)" ;; esac
  echo "| $n | $(stat_cell "$p" add 50) | $(stat_cell "$p" add 99) | $(stat_cell "$p" del 50) | $(stat_cell "$p" del 99) | $(stat_cell "$p" version 50) |"
done
echo
echo "Shared libraries loaded at every start: xvr-cni $(ldd "$XVR_BIN/xvr-cni" | grep -c '=>'), ptp $(ldd "$PTP" 2>/dev/null | grep -c "=>" || true) (Go)."
echo
echo "After every xvr run the agent listed 0 endpoints and the node netns held no pod veth (checked)."
echo
