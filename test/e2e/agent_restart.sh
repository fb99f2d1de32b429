#!/usr/bin/env bash
# agent_restart: the data path does not depend on the agent process.
#   SIGKILL the agent ~1 s into a 2000-packet ping flood (~4 s) between two
#   pods and start it again ~1 s later: loss stays <= 1 %, xdp_pod counted
#   the flood, the restarted agent re-used the pinned programs, lists the
#   same pods with the same IPs, and a new pod gets an address no live pod
#   holds. A SIGTERM restart keeps them too.
TEST_NAME=agent_restart
# shellcheck source=test/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FLOOD=2000
MAX_LOSS_PCT=1

endpoint_table() { endpoints_json | jq -r '.endpoints[] | "\(.containerID) \(.ifname) \(.ip) \(.hostIfname)"' | sort; }

e2e_start
e2e_lab_up --pods 2
assert_kernel_path_off
IP1=$(lab ip "$LAB" pod1)
IP2=$(lab ip "$LAB" pod2)
LOGF=$(lab path "$LAB" log)
BEFORE=$(endpoint_table)
log "endpoints before:"
while read -r line; do log "    $line"; done <<<"$BEFORE"

log "1. ping flood pod1 -> pod2 ($FLOOD x 2 ms), SIGKILL the agent at ~1 s, restart at ~2 s"
snap flood
in_pod pod1 ping -i 0.002 -c "$FLOOD" -W 2 -q "$IP2" >"$WORK/flood.txt" 2>&1 &
PING=$!
sleep 1
lab stop-agent "$LAB" --kill
KILLED_AT=$(date +%T.%N)
sleep 1
STARTED_LINE=$(($(wc -l <"$LOGF") + 1))
lab start-agent "$LAB"
log "  agent killed at ${KILLED_AT:0:12}, healthy again at $(date +%T.%N | cut -c1-12)"
wait "$PING" || true
FLOOD_OUT=$(cat "$WORK/flood.txt")
RECEIVED=$(grep -oE '[0-9]+ received' <<<"$FLOOD_OUT" | awk '{print $1}')
[[ -n $RECEIVED ]] || fail "ping flood gave no summary: $FLOOD_OUT"
LOST=$((FLOOD - RECEIVED))
log "  flood: $RECEIVED/$FLOOD received, $LOST lost"
((LOST * 100 <= FLOOD * MAX_LOSS_PCT)) ||
  fail "lost $LOST of $FLOOD packets (> $MAX_LOSS_PCT %) across the agent restart: $FLOOD_OUT"
# Counters live in a pinned map: the flood is counted across the restart.
assert_rose flood xdp_pod redirect ok $((2 * RECEIVED)) packets "ping flood across the restart"

log "2. the restarted agent re-used the pinned programs"
RESTART_LOG=$(tail -n +"$STARTED_LINE" "$LOGF")
grep -q 're-using pinned program' <<<"$RESTART_LOG" ||
  fail "restarted agent did not log 're-using pinned program':"$'\n'"$RESTART_LOG"
if grep -q 'loaded and pinned program' <<<"$RESTART_LOG"; then
  fail "restarted agent loaded programs afresh:"$'\n'"$RESTART_LOG"
fi
grep 're-using pinned program' <<<"$RESTART_LOG" | sed 's/^/    /'

log "3. same endpoints, same IPs"
AFTER=$(endpoint_table)
[[ $AFTER == "$BEFORE" ]] || fail "endpoints changed across the restart:"$'\n'"before:"$'\n'"$BEFORE"$'\n'"after:"$'\n'"$AFTER"

log "4. a new pod gets a fresh address"
lab add-pod "$LAB" pod3
IP3=$(lab ip "$LAB" pod3)
[[ $IP3 != "$IP1" && $IP3 != "$IP2" ]] || fail "pod3 got $IP3, already held by a live pod"
snap p3
ping_ok pod3 "$IP1" 10
ping_ok pod3 "$IP2" 10
assert_rose p3 xdp_pod redirect ok 40 packets "pod3 <-> pod1/pod2"

log "5. SIGTERM restart keeps everything as well"
BEFORE=$(endpoint_table)
lab restart-agent "$LAB"
AFTER=$(endpoint_table)
[[ $AFTER == "$BEFORE" ]] || fail "endpoints changed across the SIGTERM restart:"$'\n'"$BEFORE"$'\n'"---"$'\n'"$AFTER"
snap p4
ping_ok pod1 "$IP2" 10
assert_rose p4 xdp_pod redirect ok 20 packets "pod1 <-> pod2 after SIGTERM restart"
assert_kernel_path_off
