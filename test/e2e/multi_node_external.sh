#!/usr/bin/env bash
# multi_node_external.sh — the cluster and the world outside it. Two xvr
# nodes (ip_forward=0, no bridge, no vxlan device) with masquerade on, and an
# external host on the underlay that routes the cluster CIDR via n1:
#   A. pod -> outside, SNAT to the node IP: TCP from n1-pod1 and n2-pod1 to
#      the external host arrives from n1's and n2's IP; ping to the external
#      host and to an address beyond it (via the nodes' default route) gets
#      its replies; two pods connecting from the same source port to the same
#      server at once get distinct translated ports. n1's xdp_pod redirected
#      the translated packets to the fabric and its xdp_fabric delivered the
#      reverse-translated replies.
#   B. outside -> pod, no NAT: the external host pings and connects to
#      n1-pod1 directly; the pod sees the external host's own address; n1's
#      xdp_fabric delivered the requests and xdp_pod sent the replies back.
# Until the agent implements masquerade / outside traffic, a part that fails
# is reported as SKIP (exit 77) when there is evidence the feature is absent
# (the agent log says so, or abi.h has no NAT map or reason yet); otherwise a
# failure is a FAIL. Never a fake pass.
TEST_NAME=multi_node_external
# --attach tc: the same with tc_pod carrying the pods' traffic.
POD_HOOK=xdp_pod
[ "${1:-}" = "--attach" ] && [ "${2:-}" = "tc" ] && POD_HOOK=tc_pod && TEST_NAME=multi_node_external_tc
# shellcheck source=test/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

N=10
SRV_PORT=8080

e2e_start
e2e_cluster_up --nodes 2 --pods-per-node 2 "$@"
assert_cluster_kernel_path_off
assert_fabric_attached
# No cross-node pod traffic here: the overlay need not be ready.

NIP1=$(node_ip n1)
NIP2=$(node_ip n2)
REMOTE_IP=$(jq -r .external.remoteIP <<<"$CLUSTER_JSON")
P11=$(cpod_ip n1 pod1)
log "external host $EXT_NS $EXT_IP (+ $REMOTE_IP beyond it), n1 $NIP1, n2 $NIP2, n1-pod1 $P11"
log "agent on n1 about masquerade: $(grep -i masquerade "$(lab path "$LAB/n1" log)" | tail -n 2 | tr '\n' ' ')"

# Evidence that masquerade / outside traffic is not implemented yet: prints
# it and succeeds, or fails when there is none (then a failure is a bug).
not_implemented_evidence() {
  local line
  line=$(grep -iE 'masquerade.*(not (yet )?(implemented|supported)|unsupported|ignored|todo)' \
    "$(lab path "$LAB/n1" log)" | tail -n 1) || true
  if [[ -n $line ]]; then
    echo "the agent log says: $line"
    return 0
  fi
  # NAT as a whole word of a reason or map name (not "destiNATion").
  if ! sed -n '/#define XVR_REASONS/,/^$/p' "$REPO/bpf/include/xvr/abi.h" |
    grep -qE 'X\(([A-Z0-9]+_)*[SD]?NAT(_[A-Z0-9_]+)?,|X\([A-Z0-9_]*MASQ' &&
    ! grep -qE 'XVR_MAP_([A-Z0-9]+_)*[SD]?NAT(_[A-Z0-9_]+)? |XVR_MAP_[A-Z0-9_]*MASQ' "$REPO/bpf/include/xvr/abi.h"; then
    echo "bpf/include/xvr/abi.h has no NAT map and no NAT reason yet (no BPF SNAT in this build)"
    return 0
  fi
  return 1
}

# server_start NETNS PORT: nc -l -k that logs each peer address (-n -v) to
# $WORK/srv.err and the bytes to $WORK/srv.out, until server_stop.
server_start() { # NETNS PORT
  rm -f "$WORK/srv.out" "$WORK/srv.err"
  ip netns exec "$1" timeout 20 nc -n -v -k -l -p "$2" </dev/null >"$WORK/srv.out" 2>"$WORK/srv.err" &
  SRV_PID=$!
  local i
  for ((i = 0; i < 50; i++)); do
    ip netns exec "$1" ss -Hltn "sport = :$2" | grep -q LISTEN && return 0
    sleep 0.1
  done
  fail "nothing listens on $2 in $1"
}
server_stop() {
  kill "$SRV_PID" 2>/dev/null
  wait "$SRV_PID" 2>/dev/null || true
}
peers_seen() { grep -oE 'Connection received on [0-9.]+ [0-9]+' "$WORK/srv.err" | awk '{print $4":"$5}'; }

part_a() {
  log "A1. n1-pod1 and n2-pod1 -> external $EXT_IP:$SRV_PORT (TCP): sources must be the node IPs"
  snap_on n1 a
  server_start "$EXT_NS" "$SRV_PORT"
  echo "hello from n1-pod1" | in_pod n1-pod1 timeout 10 nc -N -w 5 "$EXT_IP" "$SRV_PORT" ||
    fail "TCP n1-pod1 -> $EXT_IP:$SRV_PORT failed"
  echo "hello from n2-pod1" | in_pod n2-pod1 timeout 10 nc -N -w 5 "$EXT_IP" "$SRV_PORT" ||
    fail "TCP n2-pod1 -> $EXT_IP:$SRV_PORT failed"
  sleep 0.3
  server_stop
  { grep -q "hello from n1-pod1" "$WORK/srv.out" && grep -q "hello from n2-pod1" "$WORK/srv.out"; } ||
    fail "external host did not get both payloads: $(cat "$WORK/srv.out")"
  PEERS=$(peers_seen | tr '\n' ' ')
  [[ $PEERS == *"$NIP1:"* && $PEERS == *"$NIP2:"* ]] ||
    fail "external host saw connections from '$PEERS', expected $NIP1 (n1) and $NIP2 (n2)"
  [[ $PEERS != *10.244.* ]] || fail "a pod address reached the outside un-NATed: $PEERS"
  log "  external host saw: $PEERS"

  log "A2. ping n1-pod1 -> $EXT_IP and -> $REMOTE_IP (beyond the external host)"
  ping_ok n1-pod1 "$EXT_IP" "$N"
  ping_ok n1-pod1 "$REMOTE_IP" "$N"
  assert_rose_on n1 a "$POD_HOOK" redirect ok $((2 * N)) packets "n1: translated packets out of the fabric"
  assert_rose_on n1 a xdp_fabric redirect ok $((2 * N)) packets "n1: reverse-translated replies to the pod"

  log "A3. n1-pod1 and n1-pod2 connect from the same source port 40000 to $EXT_IP:$SRV_PORT at once"
  server_start "$EXT_NS" "$SRV_PORT"
  echo "same-port pod1" | in_pod n1-pod1 timeout 10 nc -N -w 5 -p 40000 "$EXT_IP" "$SRV_PORT" &
  local c1=$!
  echo "same-port pod2" | in_pod n1-pod2 timeout 10 nc -N -w 5 -p 40000 "$EXT_IP" "$SRV_PORT" &
  local c2=$!
  wait "$c1" || fail "n1-pod1 (sport 40000) -> $EXT_IP:$SRV_PORT failed"
  wait "$c2" || fail "n1-pod2 (sport 40000) -> $EXT_IP:$SRV_PORT failed"
  sleep 0.3
  server_stop
  { grep -q "same-port pod1" "$WORK/srv.out" && grep -q "same-port pod2" "$WORK/srv.out"; } ||
    fail "not both same-port payloads arrived: $(cat "$WORK/srv.out")"
  PEERS=$(peers_seen | sort -u)
  assert_eq "$(wc -l <<<"$PEERS")" 2 "distinct translated sources for two pods using source port 40000 ($PEERS)"
  [[ $(cut -d: -f1 <<<"$PEERS" | sort -u) == "$NIP1" ]] || fail "sources not n1's IP: $PEERS"
  log "  translated to: $(tr '\n' ' ' <<<"$PEERS")"
}

part_b() {
  log "B1. external -> n1-pod1 $P11 ping ($N), routed via n1, no NAT"
  snap_on n1 b
  local out
  out=$(in_ext ping -c "$N" -i 0.05 -W 2 -q "$P11" 2>&1) || fail "ping external -> $P11 failed: $out"
  grep -q " $N received" <<<"$out" || fail "ping external -> $P11 lost packets: $out"
  log "  ping external -> $P11: $N/$N"
  log "B2. external -> n1-pod1:$SRV_PORT TCP: the pod sees $EXT_IP"
  server_start "$LAB-n1-pod1" "$SRV_PORT"
  echo "hello from outside" | in_ext timeout 10 nc -N -w 5 "$P11" "$SRV_PORT" ||
    fail "TCP external -> $P11:$SRV_PORT failed"
  sleep 0.3
  server_stop
  grep -q "hello from outside" "$WORK/srv.out" || fail "n1-pod1 did not get the payload"
  PEERS=$(peers_seen | tr '\n' ' ')
  [[ $PEERS == "$EXT_IP:"* ]] || fail "n1-pod1 saw the connection from '$PEERS', expected $EXT_IP (no NAT)"
  log "  n1-pod1 saw: $PEERS"
  assert_rose_on n1 b xdp_fabric redirect ok "$N" packets "n1: requests from outside delivered to the pod"
  assert_rose_on n1 b "$POD_HOOK" redirect ok "$N" packets "n1: replies to outside out of the fabric"
}

SKIPPED=()
for part in part_a part_b; do
  snap_on n1 "$part"
  set +e
  (
    set -e
    # shellcheck disable=SC2317 # called by the parts
    fail() {
      printf '\n  %s failed: %s\n' "$part" "$*" >&2
      exit 1
    }
    "$part"
  )
  rc=$?
  set -e
  ((rc == 0)) && { log "$part: PASS"; continue; }
  log "  n1 counters during $part (non-zero deltas):"
  on_node n1 stats_json >"$WORK/now-$part.json"
  jq -r --slurpfile b "$WORK/snap-n1-$part.json" '
    [.counters[] | . as $c | ($b[0].counters | map(select(.hook == $c.hook and .verdict == $c.verdict
      and .reason == $c.reason)) | .[0].packets // 0) as $p | select($c.packets - $p > 0)
      | "    \($c.hook) \($c.verdict)/\($c.reason) +\($c.packets - $p)"] | .[]' "$WORK/now-$part.json" || true
  if why=$(not_implemented_evidence); then
    log "$part: expected to fail (not implemented yet): $why"
    SKIPPED+=("$part")
  else
    fail "$part failed and the build claims masquerade/outside support (see above)"
  fi
done
assert_cluster_kernel_path_off
((${#SKIPPED[@]} == 0)) ||
  skip "${SKIPPED[*]} expected to fail: pod->external SNAT / external->pod not implemented yet ($(not_implemented_evidence))"
