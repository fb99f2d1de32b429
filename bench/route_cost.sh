#!/usr/bin/env bash
# (h) ns/packet of xdp_pod's route lookup with 100k routes vs 10 routes in
# xvr_routes, from BPF_PROG_TEST_RUN's duration (repeat=1e6 per run), both
# route counts measured in the same run, interleaved. Prints a markdown
# section.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

PACKETS=${BENCH_PROG_PACKETS:-1000000}
SMALL=10
LARGE=${BENCH_ROUTES:-100000}
[[ -x $BENCH_BIN/xvr-bench-routecost ]] ||
  die "$BENCH_BIN/xvr-bench-routecost missing: cmake --build $BUILD --target xvr_bench_tools"
bench_preflight
arm_cleanup

NS=xb$BENCH_ID-route
netns_add "$NS"
ip -n "$NS" link add ha type veth peer name pa
for l in ha pa; do ip -n "$NS" link set "$l" up; done

CMD=(nsenter --net=/run/netns/"$NS" -- "$BENCH_BIN/xvr-bench-routecost" --pin-root "$PIN"
  --host-a ha --pod-a pa --routes "$SMALL" "$LARGE" --packets "$PACKETS" --runs "$RUNS" --cpu 1)
log "h. ${CMD[*]}"
OUT=$("${CMD[@]}")

echo "### h. Route lookup cost: $LARGE routes vs $SMALL routes (BPF_PROG_TEST_RUN)"
echo
echo "Command: \`bash bench/route_cost.sh\`, which runs"
echo "\`xvr-bench-routecost --routes $SMALL $LARGE --packets $PACKETS --runs $RUNS --cpu 1\` in a netns"
echo "holding pod A's veth pair. Two xdp_pod instances with their own maps: pod A's endpoint,"
echo "node config with VXLAN on, and exactly N routes in xvr_routes: the local pod CIDR"
echo "10.244.1.0/24, the tunnel route 10.244.2.0/24 -> 192.168.250.12, the on-link fabric subnet"
echo "192.168.250.0/24 and N-3 kernel /24s spread round-robin over the /8s 16..223; no neighbours."
echo "Frame: 64-byte IPv4/UDP pod A -> 10.244.2.2. Path: endpoint-map miss, LPM lookup of the"
echo "destination (tunnel route), LPM lookup of the tunnel endpoint (underlay route), neighbour"
echo "miss -> pass/no_neighbour, frame untouched, so a plain repeat=$PACKETS run measures this path"
echo "every repetition (the tool checks the returned frame and the counters)."
echo "Each figure is the kernel's \`duration\` of one call with repeat=$PACKETS; median of $RUNS runs,"
echo "both route counts measured in every run, interleaved."
echo
echo "| routes in xvr_routes | ns/packet, runs | median ns/packet |"
echo "|---|---|---|"
declare -A MED
while IFS=$'\t' read -r n runs med; do
  [[ $n == routes || $n == \#* || -z $n ]] && continue
  MED[$n]=$med
  echo "| $n | ${runs//,/, } | **$med** |"
done <<<"$OUT"
echo
diff=$(awk -v a="${MED[$LARGE]}" -v b="${MED[$SMALL]}" 'BEGIN {print a - b}')
echo "Difference ($LARGE minus $SMALL routes): **$diff ns** per packet for the two LPM lookups"
echo "(ratio $(ratio "${MED[$LARGE]}" "${MED[$SMALL]}")). The tool fails unless each instance's"
echo "pass/no_neighbour counter rose by exactly runs x repeat. Tool output:"
echo
echo '```'
grep '^#' <<<"$OUT" | sed 's/^# //'
echo '```'
echo
