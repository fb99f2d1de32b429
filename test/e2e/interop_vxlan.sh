#!/usr/bin/env bash
# interop_vxlan.sh [--port P] [--vni V] — xvr's VXLAN is the standard one:
# node n1 runs xvr (ip_forward=0, no bridge, no vxlan device); node n2 is a
# plain Linux node the way flannel's vxlan backend builds one: a kernel VXLAN
# device (same port and VNI, MAC = the VTEP MAC xvr addresses, 02:58 + node
# IPv4), a route to n1's pod CIDR via n1's pod network address onlink, a
# permanent neighbour for it with n1's VTEP MAC, an fdb entry sending that MAC
# to n1's IP, and a routed pod behind it (ip_forward=1 on n2).
#   ping, TCP (nc, sha256) and UDP work both ways between the two pods; on n1
#   xdp_pod encapsulated (redirect/ok) and xdp_fabric decapsulated what the
#   kernel device sent (redirect/ok); the kernel VXLAN device received and sent
#   as many packets without counting errors or drops; a capture on the
#   underlay shows both directions as VXLAN with the VNI and the VTEP MACs.
PORT=4789
VNI=1
while (($#)); do
  case $1 in
    --port) PORT=$2; shift 2 ;;
    --vni) VNI=$2; shift 2 ;;
    *) echo "usage: $0 [--port P] [--vni V]" >&2; exit 2 ;;
  esac
done
TEST_NAME=interop_vxlan_$PORT
# shellcheck source=test/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

N=20
TCP_MIB=16
UDP_N=200

e2e_start
command -v tshark >/dev/null || fail "tshark not installed (scripts/install-deps.sh)"
e2e_cluster_up --nodes 2 --pods-per-node 1 --kernel-nodes 2 --port "$PORT" --vni "$VNI"
assert_cluster_kernel_path_off
assert_fabric_attached
assert_eq "$(node_field n2 kind)" kernel "n2 kind"

NIP1=$(node_ip n1)
NIP2=$(node_ip n2)
VTEP1=$(node_vtep_mac n1)
VTEP2=$(node_vtep_mac n2)
VX=$(in_cnode n2 ip -j -d link show vxlan0) || fail "n2 has no vxlan0"
assert_eq "$(jq -r '.[0].linkinfo.info_data | "\(.id) \(.port) \(.local)"' <<<"$VX")" \
  "$VNI $PORT $NIP2" "n2 vxlan0 id/port/local"
assert_eq "$(jq -r '.[0].address' <<<"$VX")" "$VTEP2" "n2 vxlan0 MAC"
assert_eq "$(in_cnode n2 cat /proc/sys/net/ipv4/ip_forward)" 1 "n2 ip_forward"
log "n2 (plain Linux): vxlan0 id $VNI dstport $PORT local $NIP2 MAC $VTEP2;" \
  "$(in_cnode n2 ip route show "$(node_cidr n1)"); fdb $(in_cnode n2 bridge fdb show dev vxlan0 | grep -i "$VTEP1")"

lab cluster-wait "$LAB" --timeout 30 ||
  fail "n1's agent did not program the tunnel route and underlay neighbour for n2"
IP1=$(cpod_ip n1 pod1)
IP2=$(cpod_ip n2 pod1)
log "n1-pod1 $IP1 (xvr), n2-pod1 $IP2 (kernel)"

vx_stat() { # rx|tx packets|errors|dropped
  in_cnode n2 ip -j -s link show vxlan0 | jq ".[0].stats64.$1.$2"
}
VX_RX0=$(vx_stat rx packets)
VX_TX0=$(vx_stat tx packets)
VX_BAD0=$(($(vx_stat rx errors) + $(vx_stat rx dropped) + $(vx_stat tx errors) + $(vx_stat tx dropped)))

# interop_ping FROM_POD DST N: requests/replies through n1's hooks either way.
log "1. xvr -> kernel: n1-pod1 -> n2-pod1 ping ($N)"
snap_on n1 p
ping_ok n1-pod1 "$IP2" "$N"
assert_rose_on n1 p xdp_pod redirect ok "$N" packets "n1: echo requests encapsulated for the kernel VTEP"
assert_rose_on n1 p xdp_fabric redirect ok "$N" packets "n1: echo replies from the kernel VTEP decapsulated"

log "2. kernel -> xvr: n2-pod1 -> n1-pod1 ping ($N)"
snap_on n1 p
ping_ok n2-pod1 "$IP1" "$N"
assert_rose_on n1 p xdp_fabric redirect ok "$N" packets "n1: echo requests from the kernel VTEP decapsulated"
assert_rose_on n1 p xdp_pod redirect ok "$N" packets "n1: echo replies encapsulated for the kernel VTEP"

log "3. TCP xvr -> kernel ($TCP_MIB MiB)"
snap_on n1 t
tcp_transfer n1-pod1 n2-pod1 "$IP2" "$TCP_MIB"
assert_rose_on n1 t xdp_pod redirect ok "$XFER_BYTES" bytes "n1: TCP data encapsulated"
assert_rose_on n1 t xdp_fabric redirect ok 100 packets "n1: ACKs from the kernel VTEP"

log "4. TCP kernel -> xvr ($TCP_MIB MiB)"
snap_on n1 t
tcp_transfer n2-pod1 n1-pod1 "$IP1" "$TCP_MIB"
assert_rose_on n1 t xdp_fabric redirect ok "$XFER_BYTES" bytes "n1: TCP data from the kernel VTEP"
assert_rose_on n1 t xdp_pod redirect ok 100 packets "n1: ACKs encapsulated"

log "5. UDP both ways ($UDP_N datagrams each)"
snap_on n1 u
udp_transfer n1-pod1 n2-pod1 "$IP2" "$UDP_N"
udp_transfer n2-pod1 n1-pod1 "$IP1" "$UDP_N"
assert_rose_on n1 u xdp_pod redirect ok "$UDP_N" packets "n1: UDP encapsulated"
assert_rose_on n1 u xdp_fabric redirect ok "$UDP_N" packets "n1: UDP from the kernel VTEP"

VX_RX=$(($(vx_stat rx packets) - VX_RX0))
VX_TX=$(($(vx_stat tx packets) - VX_TX0))
VX_BAD=$(($(vx_stat rx errors) + $(vx_stat rx dropped) + $(vx_stat tx errors) + $(vx_stat tx dropped) - VX_BAD0))
assert_ge "$VX_RX" $((4 * N + UDP_N)) "n2 vxlan0 rx packets"
assert_ge "$VX_TX" $((4 * N + UDP_N)) "n2 vxlan0 tx packets"
assert_eq "$VX_BAD" 0 "n2 vxlan0 errors + drops"
log "  n2 vxlan0: rx +$VX_RX, tx +$VX_TX packets, no errors or drops"

log "6. capture on the underlay: both directions are VXLAN, VNI $VNI, VTEP MACs"
ul_capture_start "$WORK/interop.pcap" "udp port $PORT"
ping_ok n1-pod1 "$IP2" 3
ping_ok n2-pod1 "$IP1" 3
ul_capture_stop
tshark -r "$WORK/interop.pcap" -d "udp.port==$PORT,vxlan" -o ip.check_checksum:TRUE -Y icmp \
  -T fields -E separator='|' -e ip.src -e ip.dst -e vxlan.flags -e vxlan.vni -e eth.src -e eth.dst \
  -e icmp.type -e ip.checksum.status 2>/dev/null >"$WORK/interop.txt" || true
[[ -s $WORK/interop.txt ]] || fail "no ICMP decoded in VXLAN on the underlay"
XVR_TX=0
KERNEL_TX=0
while IFS='|' read -r src dst flags vni esrc edst itype ipsum; do
  assert_eq "$flags|$vni|$ipsum" "0x0800|$VNI|1,1" "VXLAN flags|VNI|IPv4 checksums ($src -> $dst)"
  [[ $itype == 0 || $itype == 8 ]] || fail "unexpected ICMP type $itype"
  case ${src%%,*} in
    "$NIP1")
      assert_eq "${esrc#*,}|${edst#*,}|${dst%%,*}" "$VTEP1|$VTEP2|$NIP2" "xvr -> kernel inner MACs, outer dst"
      XVR_TX=$((XVR_TX + 1))
      ;;
    "$NIP2")
      assert_eq "${esrc#*,}|${edst#*,}|${dst%%,*}" "$VTEP2|$VTEP1|$NIP1" "kernel -> xvr inner MACs, outer dst"
      KERNEL_TX=$((KERNEL_TX + 1))
      ;;
    *) fail "VXLAN from unexpected $src" ;;
  esac
done <"$WORK/interop.txt"
assert_ge "$XVR_TX" 6 "packets xvr encapsulated"
assert_ge "$KERNEL_TX" 6 "packets the kernel encapsulated"
log "  $XVR_TX packets from xvr and $KERNEL_TX from the kernel device decode alike: VNI $VNI, $VTEP1 <-> $VTEP2"

assert_cluster_kernel_path_off
log "n1 stats after the test:"
lab stats "$LAB/n1"
