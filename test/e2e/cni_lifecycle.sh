#!/usr/bin/env bash
# cni_lifecycle: the CNI commands as a runtime drives them.
#   CHECK passes on a healthy pod and fails once its address is removed;
#   DEL removes the host veth, the endpoint, its map entries and its IPAM
#   allocation, and succeeds a second time;
#   STATUS is 0 with the agent up and code 50 with it down;
#   ADD with the agent down fails with code 11 and leaves no veth behind;
#   the surviving pods keep being forwarded by xdp_pod throughout.
TEST_NAME=cni_lifecycle
# shellcheck source=test/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cni_code() { jq -r '.code // empty' <<<"$1" 2>/dev/null; }

e2e_start
e2e_lab_up --pods 3
assert_kernel_path_off
IP1=$(lab ip "$LAB" pod1)
IP2=$(lab ip "$LAB" pod2)
IP3=$(lab ip "$LAB" pod3)

log "1. CHECK on healthy pods"
lab check-pod "$LAB" pod1
lab check-pod "$LAB" pod2

log "2. CHECK fails once pod3's eth0 lost its address"
in_pod pod3 ip -4 addr flush dev eth0
rc=0
out=$(lab cni "$LAB" CHECK pod3) || rc=$?
((rc != 0)) || fail "CHECK passed on pod3 without its address: $out"
log "  CHECK pod3 -> exit $rc: $out"

log "3. DEL pod2: host veth, endpoint, map entries and IP are gone"
HOST2=$(pod_host_ifname pod2)
CID2=$(cat "$PODS_DIR/pod2.cid")
in_node ip link show "$HOST2" >/dev/null || fail "pod2 host veth $HOST2 missing before DEL"
assert_eq "$(map_count xvr_ep_ip)" 3 "xvr_ep_ip entries before DEL"
out=$(lab cni "$LAB" DEL pod2) || fail "DEL pod2 failed: $out"
if in_node ip link show "$HOST2" >/dev/null 2>&1; then fail "host veth $HOST2 still exists after DEL"; fi
if in_pod pod2 ip link show eth0 >/dev/null 2>&1; then fail "pod2 still has eth0 after DEL"; fi
EPS=$(endpoints_json)
jq -e --arg c "$CID2" --arg ip "$IP2" \
  '[.endpoints[] | select(.containerID == $c or .ip == $ip)] | length == 0' <<<"$EPS" >/dev/null ||
  fail "xvrctl endpoints still lists pod2 ($CID2 / $IP2): $EPS"
assert_eq "$(jq '.endpoints | length' <<<"$EPS")" 2 "endpoints after DEL"
for m in xvr_ep_ip xvr_ep_ifidx xvr_devmap; do
  assert_eq "$(map_count "$m")" 2 "$m entries after DEL"
done
STATE_FILE=$(lab path "$LAB" state)/state.json
jq -e --arg ip "$IP2" '[.ipam.allocations[] | select(.ip == $ip)] | length == 0' "$STATE_FILE" \
  >/dev/null || fail "IPAM still holds $IP2 after DEL: $(jq -c .ipam "$STATE_FILE")"
log "  $HOST2 gone, endpoint gone, maps 2/2/2, $IP2 free in IPAM"

log "4. DEL pod2 again (and once more without prevResult) succeeds"
out=$(lab cni "$LAB" DEL pod2) || fail "second DEL pod2 failed: $out"
out=$(lab cni "$LAB" DEL pod2 --no-prev) || fail "third DEL pod2 (no prevResult) failed: $out"
ip netns delete "$LAB-pod2"
out=$(lab cni "$LAB" DEL pod2) || fail "DEL pod2 with its netns gone failed: $out"
rm -f "$PODS_DIR/pod2.cid" "$PODS_DIR/pod2.json"

log "5. the other pods still talk through xdp_pod"
in_pod pod3 ip addr add "$(jq -r '.ips[0].address' "$PODS_DIR/pod3.json")" dev eth0
in_pod pod3 ip route replace default via "$(pod_gateway pod3)" dev eth0
lab check-pod "$LAB" pod3 || fail "CHECK pod3 still fails after restoring its address"
snap s
ping_ok pod1 "$IP3" 10
assert_rose s xdp_pod redirect ok 20 packets "pod1 <-> pod3 after DEL pod2"

log "5b. a pod whose netns vanishes without DEL: the link event cleans its endpoint up"
lab add-pod "$LAB" pod5 >/dev/null
IP5=$(lab ip "$LAB" pod5)
assert_eq "$(map_count xvr_ep_ip)" 3 "xvr_ep_ip entries with pod5"
ip netns delete "$LAB-pod5"   # kernel destroys the veth pair; no CNI DEL
gone5() { [ "$(map_count xvr_ep_ip)" = 2 ] &&
  jq -e --arg ip "$IP5" '[.endpoints[] | select(.ip == $ip)] | length == 0' <<<"$(endpoints_json)" >/dev/null; }
wait_for 5 gone5 || fail "endpoint of pod5 ($IP5) still present after its veth vanished: $(endpoints_json)"
STATE_FILE=$(lab path "$LAB" state)/state.json
jq -e --arg ip "$IP5" '[.ipam.allocations[] | select(.ip == $ip)] | length == 0' "$STATE_FILE" \
  >/dev/null || fail "IPAM still holds $IP5 after its veth vanished"
out=$(lab cni "$LAB" DEL pod5 --no-prev) || fail "late DEL pod5 failed: $out"
rm -f "$PODS_DIR/pod5.cid" "$PODS_DIR/pod5.json"
log "  pod5's endpoint, map entry and address went with its veth"

log "6. STATUS: 0 with the agent up"
out=$(lab cni "$LAB" STATUS) || fail "STATUS with the agent up failed: $out"

log "7. agent down: STATUS code 50, ADD code 11 and no veth left"
lab stop-agent "$LAB"
rc=0
out=$(lab cni "$LAB" STATUS) || rc=$?
((rc != 0)) || fail "STATUS succeeded with the agent down"
assert_eq "$(cni_code "$out")" 50 "STATUS error code with the agent down ($out)"
VETHS_BEFORE=$(host_veths)
ip netns add "$LAB-pod4"
rc=0
out=$(lab cni "$LAB" ADD pod4 --cid "e2e-lifecycle-$$-4") || rc=$?
((rc != 0)) || fail "ADD succeeded with the agent down: $out"
assert_eq "$(cni_code "$out")" 11 "ADD error code with the agent down ($out)"
assert_eq "$(host_veths)" "$VETHS_BEFORE" "host veths after the failed ADD"
if in_pod pod4 ip link show eth0 >/dev/null 2>&1; then fail "pod4 has eth0 after the failed ADD"; fi
log "  STATUS -> 50, ADD -> 11, no veth left"

log "8. pods keep forwarding while the agent is down, and after it is back"
# No agent to ask: read the pinned counter map directly.
before=$(pinned_counter xdp_pod redirect ok)
ping_ok pod1 "$IP3" 10
rose=$(($(pinned_counter xdp_pod redirect ok) - before))
assert_ge "$rose" 20 "xdp_pod redirect/ok (pinned map) for pod1 <-> pod3 with the agent down"
log "  counter xdp_pod redirect/ok packets +$rose (pinned map, agent down)"
lab start-agent "$LAB"
out=$(lab cni "$LAB" STATUS) || fail "STATUS after restart failed: $out"
# The runtime follows the failed ADD with DEL (retried until the agent answers).
out=$(lab cni "$LAB" DEL pod4 --cid "e2e-lifecycle-$$-4") || fail "DEL after failed ADD failed: $out"
lab add-pod "$LAB" pod5
IP5=$(lab ip "$LAB" pod5)
[[ $IP5 != "$IP1" && $IP5 != "$IP3" ]] || fail "new pod5 got a live address $IP5"
snap s
ping_ok pod5 "$IP1" 10
assert_rose s xdp_pod redirect ok 20 packets "pod5 <-> pod1"
assert_kernel_path_off
