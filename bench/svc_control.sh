#!/usr/bin/env bash
# (k) Service control plane of the agent, timed from the pinned maps:
#   (a) an EndpointSlice change (one manifest rewritten: one endpoint
#       replaced) -> the frontend's Maglev table names the new endpoint and
#       no longer the old one; BENCH_RUNS changes with 1 service present and
#       again with 10 000;
#   (b) a manifest with 9 999 more services (x 10 endpoints) dropped into the
#       manifests dir of a running agent that serves 1 -> all 10 000
#       frontends in xvr_svc.
# One-node cluster of scripts/xvr-lab; the clock starts just before the
# rename() that publishes the manifest (xvr-bench-svcwatch does the rename
# and polls the maps every 200 us). The agent's own figure
# (ServiceManager stat last_change_to_programmed: ClusterState notification
# -> maps written, without the manifest watcher's debounce) is printed
# beside. Prints a markdown section.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

LARGE=${BENCH_SVC_LARGE:-10000}
EPS=${BENCH_SVC_ENDPOINTS:-10}
PROGRAM_TIMEOUT=${BENCH_SVC_PROGRAM_TIMEOUT:-900}
GEN=$BENCH_DIR/tools/svcgen.py
WATCH=$BENCH_BIN/xvr-bench-svcwatch
VIP=10.96.0.10
[[ -x $WATCH ]] || die "$WATCH missing: cmake --build $BUILD --target xvr_bench_tools"
command -v python3 >/dev/null || die "python3 not installed"
bench_preflight
arm_cleanup

LAB=xb${BENCH_ID}k
log "k. one-node cluster $LAB"
"$LAB_TOOL" cluster-up "$LAB" --nodes 1 --pods-per-node 1 --attach xdp >"$WORK/$LAB.up.log" 2>&1 || {
  cat "$WORK/$LAB.up.log" >&2
  "$LAB_TOOL" down "$LAB" >/dev/null 2>&1
  die "xvr-lab cluster-up $LAB failed"
}
on_exit "'$LAB_TOOL' down '$LAB'"
MAPS=$("$LAB_TOOL" path "$LAB/n1" bpfroot)/maps
MAN=$("$LAB_TOOL" path "$LAB" manifests)
ctl() { "$LAB_TOOL" ctl "$LAB/n1" "$@"; }

# The measured service: its endpoints are 10.244.1.100.. (no pods needed:
# only the maps are read). A change swaps the last endpoint between two
# addresses.
eps_with() { # LAST -> comma list
  local j s=""
  for ((j = 0; j < EPS - 1; j++)); do s+="10.244.1.$((100 + j)),"; done
  echo "${s}$1"
}
ALT_A=10.244.1.$((100 + EPS - 1))
ALT_B=10.244.1.$((150 + EPS - 1))
python3 "$GEN" manifests --services 1 --endpoints "$EPS" --target-endpoints "$(eps_with "$ALT_A")" \
  >"$MAN/.target.yaml.tmp"
j=$("$WATCH" count --maps "$MAPS" --want 1 --timeout 60 --rename "$MAN/.target.yaml.tmp" "$MAN/target.yaml") ||
  die "the target service was not programmed: $j"
FIRST_MS=$(jq -r '.ms * 10 | round / 10' <<<"$j")
CUR=$ALT_A

declare -A E2E AGENT
changes() { # TAG: BENCH_RUNS endpoint changes, each timed
  local tag=$1 r new j a
  for ((r = 1; r <= RUNS; r++)); do
    new=$ALT_B
    [[ $CUR == "$ALT_B" ]] && new=$ALT_A
    python3 "$GEN" manifests --services 1 --endpoints "$EPS" --target-endpoints "$(eps_with "$new")" \
      >"$MAN/.target.yaml.tmp"
    j=$("$WATCH" change --maps "$MAPS" --frontend "$VIP:80" --expect "$new:8080" --gone "$CUR:8080" \
      --timeout 60 --rename "$MAN/.target.yaml.tmp" "$MAN/target.yaml") || die "change $r ($tag) not programmed: $j"
    E2E[$tag]+="$(jq -r .ms <<<"$j") "
    a=$(ctl -o json services | jq -r '.stats.lastChangeToProgrammedMs')
    AGENT[$tag]+="$a "
    CUR=$new
    sleep 0.5 # past the manifest watcher's debounce: every change is its own reload
  done
}

log "k. (a) $RUNS endpoint changes with 1 service"
changes small

log "k. (b) $((LARGE - 1)) more services x $EPS endpoints dropped in (timeout ${PROGRAM_TIMEOUT}s)"
python3 "$GEN" manifests --services "$LARGE" --endpoints "$EPS" --exclude-target >"$MAN/.bulk.yaml.tmp"
BULK_BYTES=$(stat -c %s "$MAN/.bulk.yaml.tmp")
j=$("$WATCH" count --maps "$MAPS" --want "$LARGE" --timeout "$PROGRAM_TIMEOUT" \
  --rename "$MAN/.bulk.yaml.tmp" "$MAN/bulk.yaml") || die "$LARGE services not programmed: $j"
BULK_MS=$(jq -r '.ms * 10 | round / 10' <<<"$j")
SVC_JSON=$(ctl -o json services)
BULK_STATS=$(jq -c '.stats | {frontends, backends, tables, tableWrites, backendWrites, frontendWrites, lastReconcileMs, lastChangeToProgrammedMs, errors}' <<<"$SVC_JSON")
LISTED=$(jq '.services | length' <<<"$SVC_JSON")
MAN_STATS=$(ctl -o json stats 2>/dev/null | jq -c '.manifests // empty' 2>/dev/null || true)

log "k. (a) $RUNS endpoint changes with $LARGE services"
changes large

cell() { # TAG ARRAY
  local -n arr=$2
  local v=${arr[$1]}
  # shellcheck disable=SC2086,SC2046 # one word per number
  echo "**$(FMT=%.1f median $v)** ($(joined $(printf '%.1f ' $v)))"
}

echo "### k. Service control plane: EndpointSlice change -> maps, and $LARGE services from a manifest"
echo
echo "Command: \`bash bench/svc_control.sh\` (BENCH_RUNS=$RUNS). A one-node \`xvr-lab cluster-up --nodes 1\`;"
echo "manifests are written to a hidden file in the lab's manifests dir and published with rename(), which"
echo "\`xvr-bench-svcwatch\` performs itself: its clock starts just before the rename and stops when the pinned maps"
echo "show the result (polled every 200 us). (a): the measured service 10.96.0.10:80/TCP ($EPS endpoints, file"
echo "target.yaml) gets its last endpoint replaced ($ALT_A <-> $ALT_B); done when the frontend's Maglev table"
echo "(xvr_svc -> xvr_maglev[table] -> slots -> xvr_backends) names the new endpoint and not the old one. $RUNS"
echo "changes, 0.5 s apart, first with that service alone, then with $LARGE services programmed. \"agent\" is the"
echo "ServiceManager's \`lastChangeToProgrammedMs\` (\`xvrctl -o json services\` .stats, read after each change):"
echo "ClusterState notification -> maps written, which leaves out the manifest watcher's debounce (100 ms quiet"
echo "time) and the file parsing. (b): a $((BULK_BYTES / 1024)) KiB file with $((LARGE - 1)) more services x $EPS endpoints"
echo "(bench/tools/svcgen.py manifests) dropped in while the agent serves the one service; done when xvr_svc"
echo "holds $LARGE frontends (the manager writes backends and Maglev tables before a frontend's xvr_svc entry). One"
echo "measurement. Milliseconds, median (runs in brackets)."
echo
echo "| figure | end to end (rename -> maps), ms | agent: notification -> maps written, ms |"
echo "|---|---|---|"
echo "| (a) one endpoint replaced, 1 service | $(cell small E2E) | $(cell small AGENT) |"
echo "| (a) one endpoint replaced, $LARGE services | $(cell large E2E) | $(cell large AGENT) |"
echo "| (b) $((LARGE - 1)) services x $EPS endpoints added to 1 | **$BULK_MS** | $(jq -r '.lastChangeToProgrammedMs * 10 | round / 10' <<<"$BULK_STATS") |"
echo "| first service into an empty agent | $FIRST_MS | |"
echo
echo "After (b): \`xvrctl services\` listed $LISTED frontends; ServiceManager stats: \`$BULK_STATS\`."
[[ -n $MAN_STATS ]] && echo "Manifest source: \`$MAN_STATS\`."
echo
