#!/usr/bin/env bash
# (o) ns/packet of xdp_pod with `xvrctl capture` off (the default: one
# array lookup and a branch in xvr_finish), on with a filter that matches
# nothing, and on capturing every packet (record copied to the xvr_capture
# ring buffer, a reader thread draining it on another CPU), from
# BPF_PROG_TEST_RUN's duration through the bench harness, beside the
# harness running an empty program. Prints a markdown section.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

PACKETS=${BENCH_CAPTURE_PACKETS:-1000000}
TOOL=$BENCH_BIN/xvr-bench-capcost
[[ -x $TOOL ]] || die "$TOOL missing: cmake --build $BUILD --target xvr_bench_tools"
bench_preflight
arm_cleanup

NS=xb$BENCH_ID-cap
netns_add "$NS"
ip -n "$NS" link add ha type veth peer name pa
ip -n "$NS" link add hb type veth peer name pb
for l in ha pa hb pb; do ip -n "$NS" link set "$l" up; done
READER=0
(($(nproc) > 2)) && READER=2

CMD=(nsenter --net=/run/netns/"$NS" -- "$TOOL" --pin-root "$PIN/cap"
  --host-a ha --pod-a pa --host-b hb --pod-b pb --packets "$PACKETS" --runs "$RUNS" --cpu 1
  --reader-cpu "$READER")
log "o. ${CMD[*]}"
OUT=$("${CMD[@]}")

echo "### o. Cost of packet capture (\`xvrctl capture\`) in xdp_pod (BPF_PROG_TEST_RUN)"
echo
echo "Command: \`bash bench/capture_cost.sh\` (BENCH_RUNS=$RUNS), which runs"
echo "\`xvr-bench-capcost --packets $PACKETS --runs $RUNS --cpu 1 --reader-cpu $READER\` in a netns holding two veth"
echo "pairs; maps seeded as for two pods; 64-byte IPv4/UDP frame pod A -> pod B, restored by the bench harness"
echo "before each repetition. Each figure is the kernel's \`duration\` of one call with repeat=$PACKETS; median"
echo "of $RUNS runs, cases interleaved. \"every packet captured\": xvr_cap_cfg with no filter, each packet's"
echo "64 bytes + 32-byte header copied into the 8 MiB xvr_capture ring (bpf_ringbuf_output), a thread on"
echo "CPU $READER draining it with ring_buffer__poll like \`xvrctl capture\`."
echo
echo "| case | ns/packet, runs | median ns/packet | minus capture off |"
echo "|---|---|---|---|"
declare -A MED
while IFS=$'\t' read -r name runs med; do
  [[ $name == case || $name == \#* || -z $name ]] && continue
  MED[$name]=$med
done <<<"$OUT"
off=${MED["xdp_pod, capture off"]}
while IFS=$'\t' read -r name runs med; do
  [[ $name == case || $name == \#* || -z $name ]] && continue
  d=""
  [[ $name == *"capture on"* ]] && d="+$(awk -v a="$med" -v b="$off" 'BEGIN {print a - b}')"
  echo "| $name | ${runs//,/, } | **$med** | $d |"
done <<<"$OUT"
echo
echo "Tool output:"
echo
echo '```'
grep '^#' <<<"$OUT" | sed 's/^# //'
echo '```'
echo
