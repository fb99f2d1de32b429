#!/usr/bin/env bash
# (n) The agent's flow GC over a full table: 1 M flow pairs (2 M entries)
# written straight into a node's pinned xvr_flows by xvr-bench-flowgc,
# then the agent's CPU and wall time per GC pass (a pass that ages all of
# them out, and passes over 1 M live pairs), its CPU share at steady state
# with 1 M live pairs and the default gcInterval, and the same agent with
# an empty table; beside the same pairs aged by the tool itself with
# per-key syscalls (bpf_map_get_next_key + lookup + delete: the baseline)
# and with batched ones, the agent stopped. Per round: agent stopped ->
# tool walks -> agent started -> agent measurements. Prints a markdown
# section.
#
# The lab: scripts/xvr-lab up (one node, no pods), its vrouter.yaml given
# spec.flows.tableSize (BENCH_FLOWGC_TABLE) and the agent restarted, which
# re-creates xvr_flows at that size; everything else is the default
# (gcInterval 5 s, timeouts, flow events on, no flow log).
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

PAIRS=${BENCH_FLOWGC_PAIRS:-1000000}
TABLE=${BENCH_FLOWGC_TABLE:-2097152}
PERIODS=${BENCH_FLOWGC_PERIODS:-2}
FRUNS=${BENCH_FLOWGC_RUNS:-3} # ~2 min each
INTERVAL=5 # the default spec.flows.gcInterval, which this benchmark keeps
TOOL=$BENCH_BIN/xvr-bench-flowgc
[[ -x $TOOL ]] || die "$TOOL missing: cmake --build $BUILD --target xvr_bench_tools"
((TABLE >= 2 * PAIRS)) || die "BENCH_FLOWGC_TABLE=$TABLE cannot hold 2 x $PAIRS entries"
bench_preflight
arm_cleanup

LAB=xb${BENCH_ID}n
log "n. one-node lab $LAB, spec.flows.tableSize $TABLE"
"$LAB_TOOL" up "$LAB" --pods 0 >"$WORK/up.log" 2>&1 || {
  cat "$WORK/up.log" >&2
  "$LAB_TOOL" down "$LAB" >/dev/null 2>&1
  die "xvr-lab up $LAB failed"
}
on_exit "'$LAB_TOOL' down '$LAB'"
printf '  flows:\n    tableSize: %s\n' "$TABLE" >>"$("$LAB_TOOL" path "$LAB" config)"
"$LAB_TOOL" restart-agent "$LAB" >/dev/null
MAP=$("$LAB_TOOL" path "$LAB" bpfroot)/maps/xvr_flows
cap=$("$LAB_TOOL" ctl "$LAB" -o json flows stats | jq .capacity)
((cap == TABLE)) || die "n: xvr_flows holds $cap entries after the restart, wanted $TABLE"
agent_pid() { cat "$("$LAB_TOOL" path "$LAB" dir)/agent.pid"; }

T0=$EPOCHREALTIME
for ((r = 1; r <= FRUNS; r++)); do
  log "n. round $r/$FRUNS: agent stopped, the tool's walks over $PAIRS pairs"
  "$LAB_TOOL" stop-agent "$LAB" >/dev/null
  "$TOOL" walk --map "$MAP" --pairs "$PAIRS" >>"$WORK/walk.jsonl" 2>"$WORK/err.log" || {
    cat "$WORK/err.log" >&2
    die "xvr-bench-flowgc walk failed"
  }
  "$LAB_TOOL" start-agent "$LAB" >/dev/null
  pid=$(agent_pid)
  log "n. round $r/$FRUNS: agent $pid: $PAIRS live pairs ($PERIODS GC periods), $PAIRS expiring pairs, empty table ($PERIODS periods)"
  "$TOOL" agent --map "$MAP" --pid "$pid" --pairs "$PAIRS" --interval "$INTERVAL" --passes "$PERIODS" \
    >>"$WORK/agent.jsonl" 2>"$WORK/err.log" || {
    cat "$WORK/err.log" >&2
    die "xvr-bench-flowgc agent failed"
  }
  # The agent's own view of this round (one scan of the now empty table).
  "$LAB_TOOL" ctl "$LAB" -o json flows stats | jq -c '{gc, created, ended, evicted, live_pairs}' >>"$WORK/stats.jsonl"
  awk '/^(VmHWM|VmRSS):/ {printf "%s%s %.0f MiB", (n++ ? ", " : ""), $1, $2 / 1024} END {print ""}' \
    "/proc/$pid/status" >>"$WORK/mem.txt"
done
ROUNDS_S=$(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.0f", b - a}')

# --- report ------------------------------------------------------------------------
col() { # FILE JQ -> the values, one per round: "a, b, c"
  jq -r "$2" "$WORK/$1" | paste -sd, | sed 's/,/, /g'
}
fig() { # FILE JQ SCALE FMT: **median** (runs)
  local v
  v=$(jq -r "($2) / $3" "$WORK/$1" | tr '\n' ' ')
  # shellcheck disable=SC2086,SC2046,SC2059 # one word per number; FMT is a printf format
  echo "**$(FMT=$4 median $v)** ($(joined $(printf "$4 " $v)))"
}
mfig() { # FILE JQ SCALE: median only
  # shellcheck disable=SC2046
  FMT=%.3f median $(jq -r "($2) / $3" "$WORK/$1")
}
# Per-round medians of the live passes (PERIODS of them per round).
LIVE_CPU='[.live.passes[].agent_cpu_ms] | sort | .[length / 2 | floor]'
LIVE_WALL='[.live.passes[].wall_ms] | sort | .[length / 2 | floor]'
LIVE_THR='[.live.passes[].gc_thread_cpu_ms] | sort | .[length / 2 | floor]'

echo "### n. Agent CPU while ageing 1 M flows ($PAIRS pairs, $((2 * PAIRS)) entries in a $TABLE-entry xvr_flows)"
echo
echo "Command: \`bash bench/flow_gc.sh\` ($FRUNS rounds, BENCH_FLOWGC_RUNS; the rounds took ${ROUNDS_S} s). A one-node"
echo "\`xvr-lab up --pods 0\` with \`spec.flows.tableSize: $TABLE\` added to its vrouter.yaml (agent restarted: the"
echo "table is re-created at that size); all other flow settings default: gcInterval ${INTERVAL} s, tcpEstablished 21600 s,"
echo "tcpClosed 10 s, flow events on, no flow log. \`xvr-bench-flowgc\` writes both entries of each pair straight into"
echo "the pinned map (BPF_MAP_UPDATE_BATCH; 17 clients x 60 000 source ports -> 8 servers, TCP 8080) and checks all"
echo "$((2 * PAIRS)) entries are there (no LRU eviction). Each round:"
echo
echo "1. agent stopped (\`xvr-lab stop-agent\`; nothing else touches the map): the tool ages the same pairs itself,"
echo "   CPU = its getrusage user+sys: \`xvr-bench-flowgc walk --pairs $PAIRS\` -- per key (the baseline):"
echo "   \`bpf_map_get_next_key\` + \`bpf_map_lookup_elem\` over the whole map, then \`bpf_map_delete_elem\` per expired"
echo "   entry (what the agent falls back to when the kernel refuses batches); batched: BPF_MAP_LOOKUP_BATCH (4096"
echo "   per call) + one BPF_MAP_DELETE_BATCH of the expired keys. Once over $PAIRS expired pairs (TCP CLOSED, idle"
echo "   60 s: all deleted), once over $PAIRS live pairs (TCP ESTABLISHED, last packet now: nothing deleted);"
echo "2. agent started (\`xvr-lab start-agent\`): \`xvr-bench-flowgc agent --pairs $PAIRS --interval $INTERVAL --passes $PERIODS\`"
echo "   -- live: $PAIRS live pairs written; the GC thread is the agent thread that then runs a burst of >= 20 ms"
echo "   (per-thread schedstat); the next $PERIODS passes are measured, and the agent's CPU over the $PERIODS full"
echo "   GC periods from the start of the first to the start of the ($PERIODS+1)-th pass (steady state);"
echo "   expire: table emptied, $PAIRS pairs written as TCP CLOSED with their last packet 5 s in the future, so"
echo "   the passes during the fill see them live and the first pass once they are 10 s idle ends all of them (one"
echo "   clock reading per pass); that pass is measured, and the table must be empty after it;"
echo "   idle: the empty table, $PERIODS periods. A pass = first to last 10 ms sample in which the GC thread ran or"
echo "   waited to run, ended by 300 ms of quiet; agent CPU = utime+stime of /proc/PID/stat (all threads, 10 ms"
echo "   ticks) over the pass; GC thread CPU = its schedstat run time."
echo
echo "Median of the rounds (each round in brackets; live passes: the median pass of each round)."
echo
echo "| figure | agent GC (xvr-agent) | tool, batched | tool, per key (baseline) | agent / per key |"
echo "|---|---|---|---|---|"
echo "| pass over $PAIRS pairs that all expire: CPU, s | $(fig agent.jsonl .expire.agent_cpu_ms 1000 %.2f) | $(fig walk.jsonl .expire_batch.cpu_ms 1000 %.2f) | $(fig walk.jsonl .expire_per_key.cpu_ms 1000 %.2f) | $(ratio "$(mfig agent.jsonl .expire.agent_cpu_ms 1000)" "$(mfig walk.jsonl .expire_per_key.cpu_ms 1000)") |"
echo "| pass over $PAIRS pairs that all expire: wall, s | $(fig agent.jsonl .expire.wall_ms 1000 %.2f) | $(fig walk.jsonl .expire_batch.wall_ms 1000 %.2f) | $(fig walk.jsonl .expire_per_key.wall_ms 1000 %.2f) | $(ratio "$(mfig agent.jsonl .expire.wall_ms 1000)" "$(mfig walk.jsonl .expire_per_key.wall_ms 1000)") |"
echo "| pass over $PAIRS live pairs: CPU, s | $(fig agent.jsonl "$LIVE_CPU" 1000 %.2f) | $(fig walk.jsonl .live_batch.cpu_ms 1000 %.2f) | $(fig walk.jsonl .live_per_key.cpu_ms 1000 %.2f) | $(ratio "$(mfig agent.jsonl "$LIVE_CPU" 1000)" "$(mfig walk.jsonl .live_per_key.cpu_ms 1000)") |"
echo "| pass over $PAIRS live pairs: wall, s | $(fig agent.jsonl "$LIVE_WALL" 1000 %.2f) | $(fig walk.jsonl .live_batch.wall_ms 1000 %.2f) | $(fig walk.jsonl .live_per_key.wall_ms 1000 %.2f) | $(ratio "$(mfig agent.jsonl "$LIVE_WALL" 1000)" "$(mfig walk.jsonl .live_per_key.wall_ms 1000)") |"
echo
echo "| steady state, gcInterval $INTERVAL s | agent CPU, % of one CPU | GC period (pass + interval), s |"
echo "|---|---|---|"
echo "| $PAIRS live pairs | $(fig agent.jsonl .live.cpu_pct 1 %.1f) | $(fig agent.jsonl ".live.seconds / $PERIODS" 1 %.2f) |"
echo "| empty table (baseline) | $(fig agent.jsonl .idle.cpu_pct 1 %.2f) | $(fig agent.jsonl ".idle.seconds / $PERIODS" 1 %.2f) |"
echo
echo "Cross-checks from the same rounds:"
echo
echo "- GC thread's own CPU (schedstat) in the expiring pass: $(fig agent.jsonl .expire.gc_thread_cpu_ms 1000 %.2f) s; in a live pass: $(fig agent.jsonl "$LIVE_THR" 1000 %.2f) s (vs the whole agent's utime+stime above)."
echo "- Writing $PAIRS pairs with BPF_MAP_UPDATE_BATCH (the tool, agent running): live $(fig agent.jsonl .fill_live.seconds 1 %.2f) s, expiring $(fig agent.jsonl .fill_expired.seconds 1 %.2f) s; passes that found the expiring pairs still live before the one measured: $(col agent.jsonl .expire.live_scans_before)."
echo "- Entries left after the expiring pass: $(col agent.jsonl .expire.entries_left) (must be 0); GC thread ids: $(col agent.jsonl .gc_tid)."
echo "- The agent's \`xvrctl -o json flows stats\` after each round (its own GC counters since its start that round):"
echo
echo '```'
cat "$WORK/stats.jsonl"
echo '```'
echo
echo "- Agent memory after each round (/proc/PID/status; VmHWM = peak resident set since its start that round): $(paste -sd';' "$WORK/mem.txt" | sed 's/;/; /g')."
echo
