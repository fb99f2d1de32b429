#!/usr/bin/env bash
# multi_node.sh [--attach xdp|tc] [--port P] [--vni V] — three xvr nodes on a
# shared underlay (a bridge that lives only in the underlay netns), each with
# ip_forward=0 and no bridge or vxlan device:
#   pod <-> pod across nodes: ping both ways, a full-MTU ping with DF set,
#   TCP (nc, sha256) both ways, UDP both ways; for each, the sender's pod
#   hook encapsulated and redirected to the fabric (redirect/ok) and the
#   receiver's xdp_fabric decapsulated and redirected to the pod (redirect/ok);
#   pods got MTU = fabric MTU - 50;
#   a capture on the underlay bridge decodes as VXLAN (tshark) with the VNI,
#   the I flag, xvr's VTEP MACs, a hashed source port in 49152-65535 and an
#   inner ICMP between the two pod IPs, both ways;
#   a route added with `ip route` inside a node reaches its pinned LPM map
#   (xvr_routes), and leaves it when deleted;
#   a Node removed from the manifests stops being a destination: no tunnel
#   route for its pod CIDR on the other nodes, ping to its pod fails and
#   nothing reaches its fabric program, while a third node still works; put
#   back, it is a destination again; a fourth node added at run time (its
#   Node, agent and pod) is reached from the others and reaches them.
ATTACH=xdp
PORT=4789
VNI=1
while (($#)); do
  case $1 in
    --attach) ATTACH=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    --vni) VNI=$2; shift 2 ;;
    *) echo "usage: $0 [--attach xdp|tc] [--port P] [--vni V]" >&2; exit 2 ;;
  esac
done
TEST_NAME=multi_node_${ATTACH}_${PORT}
# shellcheck source=test/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case $ATTACH in
  xdp) HOOK=xdp_pod ;;
  tc) HOOK=tc_pod ;;
  *) fail "--attach: xdp or tc" ;;
esac
N=20
TCP_MIB=16
UDP_N=200

e2e_start
command -v tshark >/dev/null || fail "tshark not installed (scripts/install-deps.sh)"
e2e_cluster_up --nodes 3 --pods-per-node 1 --attach "$ATTACH" --port "$PORT" --vni "$VNI"
assert_cluster_kernel_path_off
for n in n1 n2 n3; do
  [[ -z $(in_cnode "$n" ip -d link show type bridge) && -z $(in_cnode "$n" ip -d link show type vxlan) ]] ||
    fail "$n has a bridge or vxlan device"
done
[[ -n $(in_ul ip -d link show type bridge) ]] || fail "no bridge in the underlay netns $UL_NS"
assert_fabric_attached

log "0. the agents program the overlay: a tunnel route and a resolved neighbour per remote node"
lab cluster-wait "$LAB" --timeout 30 ||
  fail "the agents did not program tunnel routes + underlay neighbours for the other nodes"
for n in n1 n2 n3; do
  log "  $n xvr_routes: $(routes_of "$n" | grep tunnel | tr '\n' ';')"
done

IP1=$(cpod_ip n1 pod1)
IP2=$(cpod_ip n2 pod1)
IP3=$(cpod_ip n3 pod1)
FABRIC_MTU=$(in_cnode n1 ip -j link show fab0 | jq '.[0].mtu')
POD_MTU=$((FABRIC_MTU - 50))
log "n1-pod1 $IP1, n2-pod1 $IP2, n3-pod1 $IP3; pod hook $HOOK; VXLAN port $PORT VNI $VNI"
for n in n1 n2 n3; do
  mtu=$(in_pod "$n-pod1" ip -j link show eth0 | jq '.[0].mtu')
  assert_eq "$mtu" "$POD_MTU" "$n-pod1 eth0 MTU (fabric MTU $FABRIC_MTU - 50)"
done
log "  pod MTU $POD_MTU = fabric MTU $FABRIC_MTU - 50"

# cross_ping A B COUNT [SIZE]: A's pod1 pings B's pod1 (SIZE: payload with
# DF set); requests go A hook -> B fabric, replies B hook -> A fabric.
cross_ping() {
  local a=$1 b=$2 n=$3 size=${4:-} dst out
  dst=$(cpod_ip "$b" pod1)
  snap_on "$a" ping
  snap_on "$b" ping
  if [[ -n $size ]]; then
    out=$(in_pod "$a-pod1" ping -M "do" -s "$size" -c "$n" -i 0.05 -W 2 -q "$dst" 2>&1) ||
      fail "ping -M do -s $size $a-pod1 -> $b-pod1 failed: $out"
    grep -q " $n received" <<<"$out" || fail "ping -s $size $a-pod1 -> $b-pod1 lost packets: $out"
    log "  ping -M do -s $size ($((size + 28))-byte IP packets) $a-pod1 -> $dst: $n/$n"
  else
    ping_ok "$a-pod1" "$dst" "$n"
  fi
  assert_rose_on "$a" ping "$HOOK" redirect ok "$n" packets "$a: echo requests into the tunnel"
  assert_rose_on "$b" ping xdp_fabric redirect ok "$n" packets "$b: echo requests out of the tunnel"
  assert_rose_on "$b" ping "$HOOK" redirect ok "$n" packets "$b: echo replies into the tunnel"
  assert_rose_on "$a" ping xdp_fabric redirect ok "$n" packets "$a: echo replies out of the tunnel"
}

log "1. n1-pod1 -> n2-pod1 ping ($N)"
cross_ping n1 n2 "$N"
log "2. n2-pod1 -> n1-pod1 ping ($N)"
cross_ping n2 n1 "$N"
log "3. full-size packets (pod MTU $POD_MTU, DF) n1 <-> n3: outer frames of $((POD_MTU + 50 + 14)) bytes"
cross_ping n1 n3 5 $((POD_MTU - 28))
cross_ping n3 n1 5 $((POD_MTU - 28))

# cross_tcp A B: A's pod1 sends TCP_MIB MiB to B's pod1.
cross_tcp() {
  local a=$1 b=$2
  snap_on "$a" tcp
  snap_on "$b" tcp
  tcp_transfer "$a-pod1" "$b-pod1" "$(cpod_ip "$b" pod1)" "$TCP_MIB"
  assert_rose_on "$a" tcp "$HOOK" redirect ok "$XFER_BYTES" bytes "$a: TCP data into the tunnel"
  assert_rose_on "$b" tcp xdp_fabric redirect ok "$XFER_BYTES" bytes "$b: TCP data out of the tunnel"
  assert_rose_on "$b" tcp "$HOOK" redirect ok 100 packets "$b: ACKs into the tunnel"
  assert_rose_on "$a" tcp xdp_fabric redirect ok 100 packets "$a: ACKs out of the tunnel"
}
log "4. TCP n1-pod1 -> n2-pod1 ($TCP_MIB MiB, nc, sha256)"
cross_tcp n1 n2
log "5. TCP n2-pod1 -> n1-pod1 ($TCP_MIB MiB)"
cross_tcp n2 n1

cross_udp() {
  local a=$1 b=$2
  snap_on "$a" udp
  snap_on "$b" udp
  udp_transfer "$a-pod1" "$b-pod1" "$(cpod_ip "$b" pod1)" "$UDP_N"
  assert_rose_on "$a" udp "$HOOK" redirect ok "$UDP_N" packets "$a: UDP into the tunnel"
  assert_rose_on "$b" udp xdp_fabric redirect ok "$UDP_N" packets "$b: UDP out of the tunnel"
}
log "6. UDP n1-pod1 -> n3-pod1 ($UDP_N datagrams)"
cross_udp n1 n3
log "7. UDP n3-pod1 -> n1-pod1 ($UDP_N datagrams)"
cross_udp n3 n1

log "8. capture on the underlay bridge: VXLAN, VNI $VNI, inner ICMP $IP1 <-> $IP2"
ul_capture_start "$WORK/vxlan.pcap" "udp port $PORT"
ping_ok n1-pod1 "$IP2" 5
ul_capture_stop
NIP1=$(node_ip n1)
NIP2=$(node_ip n2)
VTEP1=$(node_vtep_mac n1)
VTEP2=$(node_vtep_mac n2)
# Two occurrences of the eth/ip fields per VXLAN packet: "outer,inner".
tshark -r "$WORK/vxlan.pcap" -d "udp.port==$PORT,vxlan" -o ip.check_checksum:TRUE \
  -o udp.check_checksum:TRUE -Y icmp \
  -T fields -E separator='|' -e ip.src -e ip.dst -e udp.srcport -e udp.dstport -e vxlan.flags \
  -e vxlan.vni -e eth.src -e eth.dst -e icmp.type -e ip.len -e udp.length -e udp.checksum \
  -e udp.checksum.status -e ip.checksum.status 2>/dev/null >"$WORK/vxlan.txt" || true
[[ -s $WORK/vxlan.txt ]] ||
  fail "no ICMP decoded inside VXLAN on br0 (tshark -d udp.port==$PORT,vxlan); capture: $(tshark -r "$WORK/vxlan.pcap" 2>/dev/null | head -5)"
log "  decoded (ip.src|ip.dst|sport|dport|flags|vni|eth.src|eth.dst|icmp|ip.len|udp.len|udp.csum|udp.csum ok|ip.csum ok):"
head -n 2 "$WORK/vxlan.txt" | while read -r l; do log "    $l"; done
REQ=0
REP=0
while IFS='|' read -r src dst sport dport flags vni esrc edst itype iplen udplen udpsum udpstat ipsum; do
  if [[ $itype == 8 ]]; then
    assert_eq "$src|$dst" "$NIP1,$IP1|$NIP2,$IP2" "echo request outer,inner IPv4 addresses"
    assert_eq "${esrc#*,}|${edst#*,}" "$VTEP1|$VTEP2" "echo request inner MACs (VTEP MACs)"
    REQ=$((REQ + 1))
  elif [[ $itype == 0 ]]; then
    assert_eq "$src|$dst" "$NIP2,$IP2|$NIP1,$IP1" "echo reply outer,inner IPv4 addresses"
    assert_eq "${esrc#*,}|${edst#*,}" "$VTEP2|$VTEP1" "echo reply inner MACs (VTEP MACs)"
    REP=$((REP + 1))
  else
    fail "unexpected ICMP type '$itype' in the capture"
  fi
  assert_eq "$dport" "$PORT" "outer UDP destination port"
  assert_eq "$vni" "$VNI" "VXLAN VNI"
  assert_eq "$flags" "0x0800" "VXLAN flags (I bit only)"
  ((sport >= 49152 && sport <= 65535)) || fail "outer UDP source port $sport not in 49152-65535"
  assert_eq "$((${iplen%%,*} - ${iplen#*,}))" 50 "outer minus inner IPv4 total length ($iplen)"
  assert_eq "$((udplen - ${iplen#*,}))" 30 "UDP length minus inner IPv4 length ($udplen, $iplen)"
  # 0 (none, as RFC 7348 allows over IPv4) or a correct one.
  [[ $udpsum == 0x0000 || $udpstat == 1 ]] || fail "outer UDP checksum $udpsum is wrong"
  assert_eq "$ipsum" 1,1 "tshark's verdict on the outer,inner IPv4 header checksums (1 = good)"
done <"$WORK/vxlan.txt"
assert_ge "$REQ" 5 "echo requests decoded in VXLAN"
assert_ge "$REP" 5 "echo replies decoded in VXLAN"
log "  $REQ requests + $REP replies: outer $NIP1 <-> $NIP2 udp/$PORT, VNI $VNI, I flag, inner $VTEP1 <-> $VTEP2, ICMP $IP1 <-> $IP2, lengths and checksums right"

log "9. a route added with 'ip route' in n1 reaches n1's xvr_routes; deleting it removes it"
FAB_IFX=$(in_cnode n1 ip -j link show fab0 | jq '.[0].ifindex')
in_cnode n1 ip route add 203.0.113.0/24 via "$EXT_IP" dev fab0
wait_for 5 has_route n1 "203.0.113.0/24 kernel via $EXT_IP dev $FAB_IFX" ||
  fail "203.0.113.0/24 kernel via $EXT_IP dev $FAB_IFX not in n1's xvr_routes after 5 s: $(routes_of n1 | tr '\n' ';')"
log "  203.0.113.0/24 kernel via $EXT_IP dev $FAB_IFX in the map after ${WAITED_MS} ms (polled every 50 ms)"
if "$XVR_BIN/xvrctl" --help 2>&1 | grep -qE '^ +routes'; then
  "$XVR_BIN/xvrctl" --socket "$(lab path "$LAB/n1" socket)" routes | grep -q '203\.0\.113\.0/24' ||
    fail "xvrctl routes does not list 203.0.113.0/24: $("$XVR_BIN/xvrctl" --socket "$(lab path "$LAB/n1" socket)" routes)"
  log "  xvrctl routes lists it"
fi
in_cnode n1 ip route del 203.0.113.0/24
wait_for 5 lacks_route n1 203.0.113.0/24 ||
  fail "203.0.113.0/24 still in n1's xvr_routes 5 s after ip route del: $(routes_of n1 | grep 203.0.113)"
log "  gone from the map ${WAITED_MS} ms after ip route del"

log "10. node-remove n2: n1 and n3 stop using it as a destination"
lab node-remove "$LAB" n2
for n in n1 n3; do
  wait_for 10 lacks_tunnel "$n" n2 ||
    fail "$n still has a tunnel route to n2 10 s after node-remove: $(routes_of "$n" | grep tunnel | tr '\n' ';')"
done
log "  no tunnel route for $(node_cidr n2) on n1 and n3 (n1: $(routes_of n1 | grep tunnel | tr '\n' ';'))"
snap_on n1 rm
snap_on n2 rm
OUT=$(in_pod n1-pod1 ping -c 5 -i 0.1 -W 1 -q "$IP2" 2>&1) && fail "n1-pod1 still reaches $IP2 after node-remove n2: $OUT"
grep -q " 0 received" <<<"$OUT" || fail "n1-pod1 -> $IP2 after node-remove: $OUT"
D=$(delta_on n2 rm xdp_fabric redirect ok)
assert_eq "$D" 0 "n2 xdp_fabric redirect/ok during the ping to a removed node"
log "  ping n1-pod1 -> $IP2: 0/5; n2's xdp_fabric saw nothing; n1 handed them to the kernel:" \
  "$(on_node n1 delta n1-rm "$HOOK" pass no_route) pass/no_route, $(on_node n1 delta n1-rm "$HOOK" redirect ok) redirect/ok"
cross_ping n1 n3 5
lab node-add "$LAB" n2
for n in n1 n3; do
  wait_for 10 has_tunnel "$n" n2 ||
    fail "$n has no tunnel route to n2 10 s after node-add: $(routes_of "$n" | grep tunnel | tr '\n' ';')"
done
log "  node-add n2: tunnel routes back on n1 and n3 after ${WAITED_MS} ms"
cross_ping n1 n2 "$N"

log "11. node-add n4 (a new node, agent and pod at run time): the others pick it up without restart"
lab node-add "$LAB" n4 | sed 's/^/  /'
cluster_refresh
lab cluster-wait "$LAB" --timeout 30 || fail "the overlay did not converge after node-add n4"
log "  every node has a tunnel route to every other (n1: $(routes_of n1 | grep tunnel | tr '\n' ';'))"
cross_ping n4 n1 "$N"
cross_ping n2 n4 "$N"

assert_cluster_kernel_path_off
for n in n1 n2 n3 n4; do
  log "$n stats after the test:"
  lab stats "$LAB/$n"
done
