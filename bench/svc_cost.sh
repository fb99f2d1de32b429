#!/usr/bin/env bash
# (i) ns/packet of xdp_pod on a packet to a ClusterIP with 1, 1 000 and
# 10 000 services (x 10 endpoints) programmed, first packet of a connection
# (xvr_svc_ct miss: Maglev, CT insert) and established packet (CT hit),
# beside the same program forwarding to a pod IP (no service) and the
# harness running an empty program; BPF_PROG_TEST_RUN's duration, all
# service counts measured in the same run, interleaved. The services are
# written by the agent's ServiceManager (xvr-bench-svccost links it).
# Prints a markdown section.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

PACKETS=${BENCH_PROG_PACKETS:-1000000}
MISS=${BENCH_SVC_MISS_PACKETS:-50000}
read -r -a COUNTS <<<"${BENCH_SVC_COUNTS:-1 1000 10000}"
EPS=${BENCH_SVC_ENDPOINTS:-10}
[[ -x $BENCH_BIN/xvr-bench-svccost ]] ||
  die "$BENCH_BIN/xvr-bench-svccost missing: cmake --build $BUILD --target xvr_bench_tools"
bench_preflight
arm_cleanup

NS=xb$BENCH_ID-svc
netns_add "$NS"
ip -n "$NS" link add ha type veth peer name pa
for ((j = 0; j < EPS; j++)); do ip -n "$NS" link add "hb$j" type veth peer name "pb$j"; done
for l in $(ip -n "$NS" -j link show | jq -r '.[].ifname'); do ip -n "$NS" link set "$l" up; done

CMD=(nsenter --net=/run/netns/"$NS" -- "$BENCH_BIN/xvr-bench-svccost" --pin-root "$PIN"
  --host-a ha --pod-a pa --host-b-prefix hb --pod-b-prefix pb --endpoints "$EPS"
  --services "${COUNTS[@]}" --packets "$PACKETS" --miss-packets "$MISS" --runs "$RUNS" --cpu 1)
log "i. ${CMD[*]}"
T0=$EPOCHREALTIME
OUT=$("${CMD[@]}" 2>"$WORK/svccost.log") || {
  cat "$WORK/svccost.log" >&2
  die "xvr-bench-svccost failed"
}
T1=$EPOCHREALTIME

declare -A MED
echo "### i. Per-packet cost of a ClusterIP: ${COUNTS[*]} services (BPF_PROG_TEST_RUN)"
echo
echo "Command: \`bash bench/svc_cost.sh\`, which runs"
echo "\`xvr-bench-svccost --services ${COUNTS[*]} --endpoints $EPS --packets $PACKETS --miss-packets $MISS --runs $RUNS --cpu 1\`"
echo "in a netns holding the client pod's veth pair and $EPS backend pods' pairs. One xdp_pod instance per service"
echo "count, its maps seeded like a node (client + $EPS backend endpoints) and N frontends written by the agent's"
echo "own \`ServiceManager::ReconcileFrontends\` through \`BpfServiceMaps\` (Maglev tables of the size it picks)."
echo "The measured service 10.96.0.10:80/TCP has the $EPS backend pods as endpoints; the N-1 others $EPS endpoints"
echo "each, on no pod here. Frame: 64-byte IPv4/TCP from the client pod. Cases: to backend pod 0's IP directly"
echo "(no service: the reference), to the ClusterIP on a flow already in xvr_svc_ct (established), and to the"
echo "ClusterIP with a new source port on every repetition (first packet of a connection: CT miss, Maglev,"
echo "xvr_svc_rev + xvr_svc_ct inserts; both maps emptied before each such run and checked to hold exactly"
echo "$MISS entries after it). Every case ends in DNAT + redirect to a backend pod (XDP_REDIRECT, counters checked)."
echo "Each figure is the kernel's \`duration\` of one call (repeat=$PACKETS, CT miss repeat=$MISS); median of"
echo "$RUNS runs, all service counts and cases measured in every run, interleaved."
echo
echo "| services | case | ns/packet, runs | median ns/packet | minus harness | x pod IP |"
echo "|---|---|---|---|---|---|"
while IFS=$'\t' read -r n c runs med; do
  [[ $n == - || $n =~ ^[0-9]+$ ]] || continue
  MED["$n/$c"]=$med
done <<<"$OUT"
hb=${MED["-/harness -> empty (fixed source port)"]}
hv=${MED["-/harness -> empty (new source port per packet)"]}
while IFS=$'\t' read -r n c runs med; do
  [[ $n == - || $n =~ ^[0-9]+$ ]] || continue
  if [[ $n == - ]]; then
    echo "| - | $c | ${runs//,/, } | **$med** | | |"
    continue
  fi
  b=$hb
  [[ $c == *"CT miss"* ]] && b=$hv
  net=$(awk -v a="$med" -v b="$b" 'BEGIN {print a - b}')
  ref=$(awk -v a="${MED["$n/pod IP (no service)"]}" -v b="$hb" 'BEGIN {print a - b}')
  echo "| $n | $c | ${runs//,/, } | **$med** | $net | $(ratio "$net" "$ref") |"
done <<<"$OUT"
echo
first=${COUNTS[0]} last=${COUNTS[${#COUNTS[@]} - 1]}
for c in "ClusterIP, established (CT hit)" "ClusterIP, new connection (CT miss)"; do
  echo "- $c: $last services vs $first: $(ratio "${MED["$last/$c"]}" "${MED["$first/$c"]}") (median over median)."
done
echo
echo "\"minus harness\" subtracts the harness baseline of the same run (the new-port baseline for CT miss);"
echo "\"x pod IP\" divides that by the pod IP case's own net cost at the same service count. Tool output"
echo "(programming time is ServiceManager::ReconcileFrontends writing all N services into empty maps; the whole"
echo "tool took $(awk -v a="$T0" -v b="$T1" 'BEGIN {printf "%.0f", b - a}') s):"
echo
echo '```'
grep '^#' <<<"$OUT" | sed 's/^# //'
echo '```'
echo
