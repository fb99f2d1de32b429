#!/usr/bin/env bash
# churn_200: 200 sequential CNI ADD/DEL cycles of one pod netns (a new
# container ID each time) beside two long-lived pods leave nothing behind:
# no host veth, map entry (xvr_ep_ip, xvr_ep_ifidx, xvr_devmap), endpoint,
# IPAM allocation or pinned link other than the live pods'. The churned pod
# is forwarded by xdp_pod while it exists, the live pods before and after.
TEST_NAME=churn_200
# shellcheck source=test/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CYCLES=${CHURN_CYCLES:-200}
LIVE=2

e2e_start
e2e_lab_up --pods "$LIVE"
assert_kernel_path_off
IP1=$(lab ip "$LAB" pod1)
IP2=$(lab ip "$LAB" pod2)
LIVE_VETHS=$(printf '%s\n' "$(pod_host_ifname pod1)" "$(pod_host_ifname pod2)" | sort)

ip netns add "$LAB-churn"
ip -n "$LAB-churn" link set lo up

log "1. $CYCLES ADD/DEL cycles of netns $LAB-churn"
start=$SECONDS
for ((i = 1; i <= CYCLES; i++)); do
  cid="churn$$x$i"
  out=$(lab cni "$LAB" ADD churn --cid "$cid") || fail "cycle $i: ADD failed: $out"
  echo "$out" >"$WORK/churn.json"
  ip=$(jq -r '.ips[0].address | split("/")[0]' <<<"$out")
  [[ $ip != "$IP1" && $ip != "$IP2" ]] || fail "cycle $i: ADD handed out live address $ip"
  if ((i == 1 || i == CYCLES || i % 50 == 0)); then
    # The churned pod is on the fast path while it exists.
    snap c
    ping_ok churn "$IP1" 5
    assert_rose c xdp_pod redirect ok 10 packets "cycle $i: churn pod <-> pod1"
  fi
  out=$(lab cni "$LAB" DEL churn --cid "$cid" --prev "$WORK/churn.json") ||
    fail "cycle $i: DEL failed: $out"
  if ((i % 50 == 0)); then log "  $i cycles, $((SECONDS - start)) s"; fi
done
log "  $CYCLES cycles in $((SECONDS - start)) s"

log "2. nothing left but the live pods"
if in_pod churn ip link show eth0 >/dev/null 2>&1; then fail "churn netns still has eth0"; fi
VETHS=$(host_veths)
[[ $VETHS == "$LIVE_VETHS" ]] ||
  fail "host veths left in the node: $(echo "$VETHS" | tr '\n' ' ') (live: $(echo "$LIVE_VETHS" | tr '\n' ' '))"
for m in xvr_ep_ip xvr_ep_ifidx xvr_devmap; do
  assert_eq "$(map_count "$m")" "$LIVE" "$m entries after $CYCLES cycles"
done
assert_eq "$(endpoints_json | jq '.endpoints | length')" "$LIVE" "xvrctl endpoints after $CYCLES cycles"
STATE_FILE=$(lab path "$LAB" state)/state.json
assert_eq "$(jq '.ipam.allocations | length' "$STATE_FILE")" "$LIVE" "IPAM allocations after $CYCLES cycles"
# Every pinned link names the interface it is attached to; a pod veth name
# that is not live is a leak.
for l in "$BPFROOT"/links/*; do
  [[ -e $l ]] || continue
  name=$(basename "$l")
  veth=$(grep -oE 'xvr[0-9a-f]{12}' <<<"$name" || true)
  [[ -z $veth ]] || grep -qx "$veth" <<<"$LIVE_VETHS" || fail "stale pinned link $l"
done
log "  veths: $(echo "$VETHS" | tr '\n' ' '); maps $LIVE/$LIVE/$LIVE; endpoints $LIVE; links: $(find "$BPFROOT/links" -mindepth 1 -printf '%f ')"

log "3. live pods still forwarded by xdp_pod"
snap after
ping_ok pod1 "$IP2" 10
ping_ok pod2 "$IP1" 10
assert_rose after xdp_pod redirect ok 40 packets "pod1 <-> pod2 after churn"
assert_kernel_path_off
