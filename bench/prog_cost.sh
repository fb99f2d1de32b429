#!/usr/bin/env bash
# (a) ns/packet of xdp_pod and tc_pod on the pod->pod forward path, from
# BPF_PROG_TEST_RUN's duration (repeat=1e6 per run), beside the harness
# running an empty program. Prints a markdown section.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

PACKETS=${BENCH_PROG_PACKETS:-1000000}
bench_preflight
arm_cleanup

NS=xb$BENCH_ID-prog
netns_add "$NS"
ip -n "$NS" link add ha type veth peer name pa
ip -n "$NS" link add hb type veth peer name pb
for l in ha pa hb pb; do ip -n "$NS" link set "$l" up; done

CMD=(nsenter --net=/run/netns/"$NS" -- "$BENCH_BIN/xvr-bench-progrun" --pin-root "$PIN/prog"
  --host-a ha --pod-a pa --host-b hb --pod-b pb --packets "$PACKETS" --runs "$RUNS" --cpu 1 --naive)
log "a. ${CMD[*]}"
OUT=$("${CMD[@]}")

echo "### a. ns per packet of the pod program (BPF_PROG_TEST_RUN)"
echo
echo "Command: \`bash bench/prog_cost.sh\`, which runs"
echo "\`xvr-bench-progrun --packets $PACKETS --runs $RUNS --cpu 1 --naive\` in a netns holding two"
echo "veth pairs (the ingress ifindex and the devmap target are real devices there);"
echo "maps seeded as the agent seeds them for two pods; 64-byte IPv4/UDP frame pod A -> pod B."
echo "Each figure is the kernel's \`duration\` of one call with repeat=$PACKETS; median of $RUNS runs."
echo
echo "| case | ns/packet, runs | median ns/packet |"
echo "|---|---|---|"
declare -A MED
while IFS=$'\t' read -r name runs med; do
  [[ $name == case || $name == \#* || -z $name ]] && continue
  MED[$name]=$med
  echo "| $name | ${runs//,/, } | **$med** |"
done <<<"$OUT"
echo
xdp=$(awk -v a="${MED["xdp: harness -> xdp_pod"]}" -v b="${MED["xdp: harness -> empty (baseline)"]}" 'BEGIN {print a - b}')
tc=$(awk -v a="${MED["tc: harness -> tc_pod"]}" -v b="${MED["tc: harness -> empty (baseline)"]}" 'BEGIN {print a - b}')
echo "Cost of the program itself (median minus its harness baseline): **xdp_pod $xdp ns**, **tc_pod $tc ns** per packet."
echo
echo "Why a harness: the kernel runs every repetition on the same buffer and the program"
echo "rewrites it in place (MACs, TTL), so a plain repeat run measures the forward path once"
echo "and the spoofed-MAC drop after that. The harness (\`bench/bpf/bench_harness.bpf.c\`) restores"
echo "the 64-byte frame from a template and tail-calls the program under test; its baseline"
echo "tail-calls an empty program. The tool fails unless xdp_pod's and tc_pod's own"
echo "redirect/ok counters rose by exactly runs x repeat. Tool output:"
echo
echo '```'
grep '^#' <<<"$OUT" | sed 's/^# //'
echo '```'
echo
