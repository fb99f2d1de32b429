#!/usr/bin/env bash
# (p) What a Prometheus scrape of the agent costs: the wall time of
# GET /metrics (curl from inside the node netns, a new connection per
# scrape), median and p90 of BENCH_SCRAPES scrapes, on a one-node lab with two pods,
#   - idle (no flows),
#   - with BENCH_SCRAPE_PAIRS live flow pairs written into xvr_flows by
#     xvr-bench-flowgc (2 entries each),
# beside the baselines that read the same data without the agent:
#   - `bpftool -j map dump` of xvr_counters (every per-CPU slot: what the
#     packet/drop counters of a scrape read, 4 hooks x 4 verdicts x reasons),
#   - `bpftool -j map dump` of xvr_flows piped into jq length (counting the
#     flow table by a walk, what the agent does *not* do per scrape: the
#     flow gauge comes from the flow table's last GC scan),
#   - `xvrctl -o json stats` (the unix-socket API's counters).
# Prints a markdown section. Short: about a minute.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

SCRAPES=${BENCH_SCRAPES:-50}
PAIRS=${BENCH_SCRAPE_PAIRS:-100000}
BASE_RUNS=${BENCH_SCRAPE_BASE_RUNS:-5}
TOOL=$BENCH_BIN/xvr-bench-flowgc
[[ -x $TOOL ]] || die "$TOOL missing: cmake --build $BUILD --target xvr_bench_tools"
bench_preflight
arm_cleanup

LAB=xb${BENCH_ID}p
log "p. one-node lab $LAB, 2 pods"
"$LAB_TOOL" up "$LAB" --pods 2 >"$WORK/up.log" 2>&1 || {
  cat "$WORK/up.log" >&2
  "$LAB_TOOL" down "$LAB" >/dev/null 2>&1
  die "xvr-lab up $LAB failed"
}
on_exit "'$LAB_TOOL' down '$LAB'"
NODE_NS=$("$LAB_TOOL" path "$LAB" node-netns)
MAPS=$("$LAB_TOOL" path "$LAB" bpfroot)/maps
ADDR=$("$LAB_TOOL" path "$LAB" metrics)
# No traffic before the fill: xvr-bench-flowgc checks the map holds exactly
# its pairs. (The counter map is a per-CPU array: its dump costs the same
# whatever the counters hold.)

# scrape_ms N: N scrapes, one ms figure per line (curl's time_total).
scrape_ms() {
  local i
  for ((i = 0; i < $1; i++)); do
    nsenter --net="/run/netns/$NODE_NS" -- curl -s -o /dev/null -H 'Connection: close' \
      -w '%{time_total}\n' "http://$ADDR/metrics"
  done | awk '{printf "%.3f\n", $1 * 1000}'
}
# time_ms CMD...: wall ms of one run of CMD (output discarded).
time_ms() {
  local t0
  t0=$EPOCHREALTIME
  "$@" >/dev/null 2>&1
  awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.3f\n", (b - a) * 1000}'
}
runs_ms() { # N CMD...: N figures
  local n=$1 i
  shift
  for ((i = 0; i < n; i++)); do time_ms "$@"; done
}
counters_dump() { bpftool -j map dump pinned "$MAPS/xvr_counters"; }
flows_count() { bpftool -j map dump pinned "$MAPS/xvr_flows" | jq length; }
stats_api() { "$XVR_BIN/xvrctl" --socket "$("$LAB_TOOL" path "$LAB" socket)" -o json stats; }

summ() { # FILE -> "median (p90)"
  local med p90
  med=$(FMT=%.2f median $(cat "$1"))
  p90=$(percentile 90 <"$1")
  printf '%s (p90 %.2f)' "$med" "$p90"
}

log "   idle: $SCRAPES scrapes, baselines x $BASE_RUNS"
scrape_ms "$SCRAPES" >"$WORK/idle.ms"
"$LAB_TOOL" metrics "$LAB" >"$WORK/idle.prom"
runs_ms "$BASE_RUNS" counters_dump >"$WORK/counters_idle.ms"
runs_ms "$BASE_RUNS" flows_count >"$WORK/flows_idle.ms"
runs_ms "$BASE_RUNS" stats_api >"$WORK/api_idle.ms"

log "   writing $PAIRS live flow pairs into xvr_flows"
"$TOOL" fill --map "$MAPS/xvr_flows" --pairs "$PAIRS" >"$WORK/fill.json" 2>"$WORK/fill.err" ||
  die "xvr-bench-flowgc fill failed: $(cat "$WORK/fill.err")"
# Let a GC pass scan them (flow gauge) and the 10 s map walk run.
for ((i = 0; i < 40; i++)); do
  "$LAB_TOOL" metrics "$LAB" >"$WORK/full.prom"
  active=$(awk '$1 == "xvr_flows_active" {print $2}' "$WORK/full.prom")
  ((${active:-0} >= PAIRS)) && break
  sleep 0.5
done
log "   xvr_flows_active ${active:-?}; $SCRAPES scrapes, baselines x $BASE_RUNS"
scrape_ms "$SCRAPES" >"$WORK/full.ms"
runs_ms "$BASE_RUNS" counters_dump >"$WORK/counters_full.ms"
# A walk of 200 000 entries takes seconds: three runs.
runs_ms "$((BASE_RUNS < 3 ? BASE_RUNS : 3))" flows_count >"$WORK/flows_full.ms"
runs_ms "$BASE_RUNS" stats_api >"$WORK/api_full.ms"
render_s=$(awk '$1 == "xvr_metrics_render_duration_seconds_sum" {s = $2} $1 == "xvr_metrics_render_duration_seconds_count" {c = $2} END {if (c) printf "%.2f", s / c * 1000}' "$WORK/full.prom")
walk_ms=$(awk '$1 == "xvr_map_count_duration_seconds" {printf "%.1f", $2 * 1000}' "$WORK/full.prom")
lines=$(grep -vc '^#' "$WORK/full.prom")
bytes=$(wc -c <"$WORK/full.prom")

echo "### p. Metrics scrape cost (GET /metrics)"
echo
echo "One-node lab, 2 pods, default spec.flows.tableSize; wall ms, median (p90) of $SCRAPES scrapes"
echo "(curl from the node netns, a new connection each) and of $BASE_RUNS runs of each baseline (3 for the full flow walk)."
echo "A scrape is $lines samples, $bytes bytes."
echo
echo "| figure | idle (no flows) | ${active:-?} live flow pairs |"
echo "|---|---|---|"
echo "| GET /metrics (agent) | $(summ "$WORK/idle.ms") | $(summ "$WORK/full.ms") |"
echo "| baseline: bpftool map dump xvr_counters | $(summ "$WORK/counters_idle.ms") | $(summ "$WORK/counters_full.ms") |"
echo "| baseline: bpftool map dump xvr_flows \\| jq length | $(summ "$WORK/flows_idle.ms") | $(summ "$WORK/flows_full.ms") |"
echo "| xvrctl -o json stats (unix API) | $(summ "$WORK/api_idle.ms") | $(summ "$WORK/api_full.ms") |"
echo
echo "Agent-side render time (xvr_metrics_render_duration_seconds, mean): ${render_s:-?} ms; the"
echo "background walk counting the other maps' entries (every 10 s, not per scrape): ${walk_ms:-?} ms."
echo "The flow gauge is the flow table's last GC scan, so a scrape costs the same with a full table;"
echo "counting xvr_flows per scrape would cost what the bpftool walk above costs."
echo
