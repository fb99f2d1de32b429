#!/usr/bin/env bash
# (g) Netlink route learning: time from adding N routes (100k) with
# `ip -batch` to all N in the LPM map, with the agent's real watchers,
# tables and a real BPF LPM trie in a private netns
# (test/e2e/routing/route_learn_bench.cc, behind
# `xvr_routing_e2e_tests --bench-route-learn=N --repeat=K`, one JSON line per
# run). The binary creates and removes its own netns. Prints a markdown section.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ROUTES=${BENCH_ROUTES:-100000}
BIN=$XVR_BIN/xvr_routing_e2e_tests
[[ $(id -u) == 0 ]] || die "must run as root (netns, BPF)"
[[ -x $BIN ]] || die "$BIN missing: cmake --build $BUILD --target xvr_routing_e2e_tests"
command -v jq >/dev/null || die "jq not installed (scripts/install-deps.sh)"
WORK=$(mktemp -d "/tmp/xvr-bench.$BENCH_ID.XXXXXX")
arm_cleanup

log "g. route learning: $RUNS runs of $ROUTES routes"
CMD=("$BIN" "--bench-route-learn=$ROUTES" "--repeat=$RUNS")
"${CMD[@]}" >"$WORK/learn.jsonl" || die "${CMD[*]} failed"
(($(wc -l <"$WORK/learn.jsonl") == RUNS)) || die "expected $RUNS JSON lines from ${CMD[*]}"

col() { jq -r ".$1" "$WORK/learn.jsonl" | tr '\n' ' '; }
cell() { # FIELD FMT
  local v
  v=$(col "$1")
  # shellcheck disable=SC2086,SC2046,SC2059 # one word per number; FMT is ours
  echo "**$(FMT=$2 median $v)** ($(joined $(printf "$2 " $v)))"
}
bad=$(jq -s --argjson n "$ROUTES" '[.[] | select(.routes != $n)] | length' "$WORK/learn.jsonl")

echo "### g. Route learning: $ROUTES routes from \`ip -batch\` into the LPM map"
echo
echo "Command: \`bash bench/route_learn.sh\`, which runs \`$(basename "$BIN") --bench-route-learn=$ROUTES --repeat=$RUNS\`"
echo "(test/e2e/routing/route_learn_bench.cc): in a private netns with the agent's netlink watchers,"
echo "route tables and a real BPF LPM trie, \`ip -batch\` adds $ROUTES routes; the clock stops when"
echo "the table has written all of them to the map (polled every 200 us), then a walk of the map"
echo "with get_next_key confirms the count. Median of $RUNS runs (all runs in brackets)."
echo
echo "| figure | ms |"
echo "|---|---|"
echo "| \`ip -batch\` start -> exit (the kernel's own cost of adding the routes) | $(cell ip_batch_ms %.1f) |"
echo "| \`ip -batch\` start -> all $ROUTES routes in the LPM map | $(cell learn_ms %.1f) |"
echo "| \`ip -batch\` exit -> all routes in the map (lag behind the kernel) | $(cell after_ip_ms %.2f) |"
echo "| walk of the map to confirm the count | $(cell verify_ms %.1f) |"
echo
# shellcheck disable=SC2046 # one word per number
echo "Per run: netlink events $(joined $(col events)); map updates $(joined $(col map_updates));"
# shellcheck disable=SC2046 # one word per number
echo "socket overruns $(joined $(col overruns)); resyncs (dumps) $(joined $(col resyncs))."
echo "Runs whose map did not hold all $ROUTES routes: $bad. Raw output:"
echo
echo '```'
cat "$WORK/learn.jsonl"
echo '```'
echo
