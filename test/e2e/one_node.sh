#!/usr/bin/env bash
# one_node.sh xdp|tc [xdp|xdp-generic] — on one node with ip_forward=0 and no bridge:
#   pod <-> pod ping both ways and a TCP transfer are forwarded by the pod
#   hook (xdp_pod with --attach xdp, tc_pod with --attach tc: redirect/ok);
#   node -> pod TCP goes through tc_host_egress (redirect/ok);
#   pod -> node (gateway) ping is handed to the kernel (pass/to_host) and the
#   replies come back through tc_host_egress;
#   the pod resolves its gateway to the MAC of its host veth.
ATTACH=${1:-xdp}
MODE=${2:-xdp} # spec.agentModeType
TEST_NAME=one_node_$ATTACH
[[ $MODE == xdp ]] || TEST_NAME=${TEST_NAME}_$MODE
# shellcheck source=test/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case $ATTACH in
  xdp) HOOK=xdp_pod ;;
  tc) HOOK=tc_pod ;;
  *) fail "usage: $0 xdp|tc [xdp|xdp-generic]" ;;
esac
N=20

e2e_start
e2e_lab_up --pods 2 --attach "$ATTACH" --mode "$MODE"
assert_kernel_path_off

IP1=$(lab ip "$LAB" pod1)
IP2=$(lab ip "$LAB" pod2)
GW=$(pod_gateway pod1)
log "pod1 $IP1, pod2 $IP2, gateway $GW, pod hook $HOOK, agentModeType $MODE"

# The pod program really is where the lab says it is.
HOST1=$(pod_host_ifname pod1)
if [[ $ATTACH == xdp ]]; then
  in_node ip -d link show "$HOST1" | grep -q 'prog/xdp' ||
    fail "no XDP program on $HOST1: $(in_node ip -d link show "$HOST1")"
else
  in_node ip -d link show "$HOST1" | grep -q 'prog/xdp' &&
    fail "podAttach tc but an XDP program is on $HOST1"
fi

log "1. pod1 -> pod2 ping ($N): requests and replies both redirected by $HOOK"
snap p12
ping_ok pod1 "$IP2" "$N"
assert_rose p12 "$HOOK" redirect ok $((2 * N)) packets "pod1 -> pod2 ping"

log "2. pod2 -> pod1 ping ($N)"
snap p21
ping_ok pod2 "$IP1" "$N"
assert_rose p21 "$HOOK" redirect ok $((2 * N)) packets "pod2 -> pod1 ping"

log "3. pod1 -> pod2 TCP (nc, 16 MiB, checksum)"
snap tcp
tcp_transfer pod1 pod2 "$IP2" 16
# Every payload byte crossed the pod hook (frames or GSO packets, either way
# the counted bytes include the payload).
assert_rose tcp "$HOOK" redirect ok "$XFER_BYTES" bytes "pod1 -> pod2 TCP"
assert_rose tcp "$HOOK" redirect ok 100 packets "pod1 -> pod2 TCP"

log "4. node -> pod2 TCP (nc, 8 MiB): through tc_host_egress on the host pair"
snap n2p
tcp_transfer node pod2 "$IP2" 8
assert_rose n2p tc_host_egress redirect ok "$XFER_BYTES" bytes "node -> pod2 TCP"
# The pod's ACKs go back to the node through the kernel.
assert_rose n2p "$HOOK" pass to_host 10 packets "pod2 -> node ACKs"

log "5. pod1 -> node (gateway $GW) ping ($N)"
snap p2n
ping_ok pod1 "$GW" "$N"
assert_rose p2n "$HOOK" pass to_host "$N" packets "pod1 -> gateway echo requests"
assert_rose p2n tc_host_egress redirect ok "$N" packets "gateway -> pod1 echo replies"

log "6. ARP: pod1's neighbour entry for $GW is its host veth's MAC"
HOST_MAC=$(in_node ip -j link show "$HOST1" | jq -r '.[0].address')
NEIGH_MAC=$(in_pod pod1 ip -j neigh show "$GW" dev eth0 | jq -r '.[0].lladdr // empty')
assert_eq "$NEIGH_MAC" "$HOST_MAC" "pod1 neighbour entry for gateway $GW (host veth $HOST1)"
log "  $GW lladdr $NEIGH_MAC = $HOST1"

assert_kernel_path_off
log "stats after the test:"
lab stats "$LAB"
