#!/usr/bin/env bash
# (b) Same-node pod A -> pod B, 64-byte UDP, one flow: Mpps delivered to pod
# B, for xvr (podAttach xdp and tc) beside a plain veth pair and a Linux
# bridge, all set up side by side and measured round-robin in the same run.
#
# Load: xvr-bench-gen in pod A's netns, BPF_PROG_TEST_RUN live frames that
# XDP_TX out of pod A's eth0, i.e. into pod A's host-side veth as if pod A
# had sent them (on the plain pair, straight into pod B's eth0). Generator
# and forwarding share CPU 1 (the veth NAPI runs where the frames are
# produced), so each figure is a one-core figure.
# Receiver: xvr-bench-sink on pod B's eth0, counting the generator's frames
# and dropping them, at two points in two passes:
#   1. XDP on pod B's eth0: the frame reached pod B's veth.
#   2. TC ingress on pod B's eth0: the packet entered pod B's stack as an
#      skb (the only point tc_pod's bpf_redirect_peer reaches).
# Prints a markdown section.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/topo.sh"

SECS=${BENCH_PPS_SECONDS:-5}
CPU=${BENCH_CPU:-1}
bench_preflight
arm_cleanup

log "b. topologies: veth pair, bridge, xvr podAttach=xdp, xvr podAttach=tc"
topo_veth veth 1500
topo_bridge bridge 1500
topo_xvr xvr-xdp "xb${BENCH_ID}p" xdp 1500
topo_xvr xvr-tc "xb${BENCH_ID}q" tc 1500

# gen CFG SINK_DIR ACTION [LABEL] -> one JSON line
gen() {
  local cfg=$1 sink=$2 action=$3 label=${4:-$1}
  local -a cmd=("$BENCH_BIN/xvr-bench-gen" --dev eth0 --dst-mac "${T_DST_MAC[$cfg]}"
    --src-ip "${T_IP_A[$cfg]}" --dst-ip "${T_IP_B[$cfg]}" --action "$action"
    --seconds "$SECS" --cpu "$CPU" --label "$label")
  [[ -n $sink ]] && cmd+=(--sink-pin "$sink")
  in_ns "${T_NS_A[$cfg]}" "${cmd[@]}"
}

sink_attach() { # CFG HOOK
  in_ns "${T_NS_B[$1]}" "$BENCH_BIN/xvr-bench-sink" attach --hook "$2" --dev eth0 \
    --pin "$PIN/sink-$1-$2" >/dev/null
  on_exit "nsenter --net=/run/netns/${T_NS_B[$1]} -- '$BENCH_BIN/xvr-bench-sink' detach --hook $2 --dev eth0 --pin '$PIN/sink-$1-$2'"
}
sink_detach() {
  in_ns "${T_NS_B[$1]}" "$BENCH_BIN/xvr-bench-sink" detach --hook "$2" --dev eth0 \
    --pin "$PIN/sink-$1-$2"
}

declare -A R # R[pass/cfg] = "v1 v2 ..."
measure() { # PASS CFG FIELD ACTION SINK [TOPOLOGY]
  local j
  j=$(gen "${6:-$2}" "$5" "$4" "$2")
  echo "$j" >>"$WORK/pps.jsonl"
  R[$1/$2]+="$(jq -r ".$3" <<<"$j") "
}

# --- pass 1: XDP sink --------------------------------------------------------------
# The bridge's pod-A host veth has no XDP program: GRO gives it the NAPI that
# accepts XDP_TX'd frames (without it they vanish; see the note printed).
set_gro "${T_HOST_NS[bridge]}" "${T_HOST_A[bridge]}" on
for c in veth bridge xvr-xdp; do sink_attach "$c" xdp; done
x0=$(xvr_counter xvr-xdp xdp_pod redirect ok packets)
log "b. pass 1 (sink: XDP on pod B's eth0), $RUNS rounds of ${SECS}s per path"
for ((r = 1; r <= RUNS; r++)); do
  measure gen genonly gen_mpps drop "" veth
  for c in veth bridge xvr-xdp; do measure xdp "$c" mpps tx "$PIN/sink-$c-xdp"; done
done
x1=$(xvr_counter xvr-xdp xdp_pod redirect ok packets)
XDP_DELIVERED=$(jq -s '[.[] | select(.label == "xvr-xdp") | .delivered] | add' "$WORK/pps.jsonl")
for c in veth bridge xvr-xdp; do sink_detach "$c" xdp; done

# --- pass 2: TC sink ----------------------------------------------------------------
# The plain pair's pod B and xvr-tc's pod-A host veth need NAPI the same way.
set_gro "${T_NS_B[veth]}" eth0 on
set_gro "${T_HOST_NS[xvr-tc]}" "${T_HOST_A[xvr-tc]}" off
for c in veth bridge xvr-xdp xvr-tc; do sink_attach "$c" tc; done
NOGRO=$(gen xvr-tc "$PIN/sink-xvr-tc-tc" tx | jq -r '"generated \(.generated), delivered \(.delivered)"')
in_ns "${T_HOST_NS[xvr-tc]}" ethtool -K "${T_HOST_A[xvr-tc]}" gro on
t0=$(xvr_counter xvr-tc tc_pod redirect ok packets)
log "b. pass 2 (sink: TC ingress on pod B's eth0), $RUNS rounds"
for ((r = 1; r <= RUNS; r++)); do
  for c in veth bridge xvr-xdp xvr-tc; do measure tc "$c" mpps tx "$PIN/sink-$c-tc"; done
done
t1=$(xvr_counter xvr-tc tc_pod redirect ok packets)
TC_DELIVERED=$(jq -s '[.[] | select(.label == "xvr-tc") | .delivered] | add' "$WORK/pps.jsonl")
for c in veth bridge xvr-xdp xvr-tc; do sink_detach "$c" tc; done
rm -f "$WORK/pps.jsonl"

# --- report -----------------------------------------------------------------------
cell() { # PASS CFG -> "**median** (runs)"
  local v=${R[$1/$2]:-}
  [[ -n $v ]] || { echo "n/a"; return; }
  # shellcheck disable=SC2086,SC2046 # one word per number
  echo "**$(FMT=%.2f median $v)** ($(joined $(printf '%.2f ' $v)))"
}
med() {
  local v=${R[$1/$2]:-}
  # shellcheck disable=SC2086 # one word per number
  if [[ -n $v ]]; then FMT=%.3f median $v; else echo 0; fi
}
BR_X=$(med xdp bridge)
BR_T=$(med tc bridge)

echo "### b. Same-node pod -> pod, 64-byte UDP, Mpps"
echo
echo "Command: \`bash bench/pod_pps.sh\` (BENCH_RUNS=$RUNS, ${SECS}s per measurement, rounds interleaved"
echo "across paths). Load: \`xvr-bench-gen --dev eth0 --action tx --seconds $SECS --cpu $CPU\` in pod A's"
echo "netns: BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES, a 64-byte IPv4/UDP frame rewritten"
echo "on every run and XDP_TX'd out of pod A's eth0, as if pod A had sent it. Receiver:"
echo "\`xvr-bench-sink\` on pod B's eth0 counts and drops those frames, at its XDP hook (the frame"
echo "reached pod B's veth) or at its TC ingress hook (the packet entered pod B's stack as an skb)."
echo "Generator, forwarding and receiver all run on CPU $CPU: one-core figures. Median Mpps"
echo "(all runs in brackets); x bridge = ratio to the bridge in the same pass."
echo
echo "| path pod A -> pod B | NAPI on the receiving veth from | Mpps at pod B's XDP hook | x bridge | Mpps into pod B's stack (TC ingress) | x bridge |"
echo "|---|---|---|---|---|---|"
echo "| generator alone (XDP_DROP, no transmit) | - | $(cell gen genonly) | | | |"
echo "| plain veth pair (no forwarding) | the sink (XDP) / GRO on pod B's eth0 | $(cell xdp veth) | $(ratio "$(med xdp veth)" "$BR_X") | $(cell tc veth) | $(ratio "$(med tc veth)" "$BR_T") |"
echo "| Linux bridge | GRO on pod A's host veth | $(cell xdp bridge) | 1.00 | $(cell tc bridge) | 1.00 |"
echo "| xvr podAttach=xdp | xdp_pod on pod A's host veth | $(cell xdp xvr-xdp) | $(ratio "$(med xdp xvr-xdp)" "$BR_X") | $(cell tc xvr-xdp) | $(ratio "$(med tc xvr-xdp)" "$BR_T") |"
echo "| xvr podAttach=tc | GRO on pod A's host veth (set by the benchmark) | n/a: bpf_redirect_peer skips pod B's XDP hook | | $(cell tc xvr-tc) | $(ratio "$(med tc xvr-tc)" "$BR_T") |"
echo
echo "Path checks from the same run:"
echo
echo "- xvr podAttach=xdp, pass 1: xdp_pod redirect/ok rose by $((x1 - x0)) packets; the XDP sink counted $XDP_DELIVERED."
echo "- xvr podAttach=tc, pass 2: tc_pod redirect/ok rose by $((t1 - t0)) packets; the TC sink counted $TC_DELIVERED."
echo "- xvr podAttach=tc with the host veth as xvr leaves it (GRO off, no XDP program): $NOGRO."
echo "  Live frames are XDP frames; a veth without NAPI drops them silently, so the tc rows need"
echo "  GRO on pod A's host veth. Real pod traffic (skbs from a socket) does not need it."
echo
