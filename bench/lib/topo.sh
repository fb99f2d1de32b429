# shellcheck shell=bash disable=SC2034 # T_* are read by the scripts
# Two-pod topologies, each under a config name CFG, all torn down on exit:
#   topo_veth   CFG MTU              pod A eth0 <-> pod B eth0, one veth pair
#                                    (no forwarding at all: the ceiling)
#   topo_bridge CFG MTU              pods on veths enslaved to a Linux bridge
#                                    in a node netns (kernel L2 forwarding)
#   topo_xvr    CFG LAB ATTACH MTU   an xvr lab (scripts/xvr-lab): agent in a
#                                    node netns with ip_forward=0, pods wired
#                                    by xvr-cni, podAttach ATTACH
# After a call, T_NS_A/T_NS_B[CFG] are the pods' netns (eth0 inside),
# T_IP_A/T_IP_B their addresses, T_DST_MAC the destination MAC pod A's
# frames to pod B carry (pod B's, or the gateway's under xvr),
# T_HOST_NS/T_HOST_A the node netns and pod A's host-side veth ("" for the
# plain pair), T_HOST_B pod B's host-side veth.
# Needs common.sh.

declare -gA T_NS_A T_NS_B T_IP_A T_IP_B T_DST_MAC T_HOST_NS T_HOST_A T_HOST_B T_LAB T_KIND
TOPO_NET=0 # a different /24 per baseline topology (they never meet anyway)

topo_veth() {
  local cfg=$1 mtu=$2 a=xb$BENCH_ID-$1-a b=xb$BENCH_ID-$1-b net
  net=10.97.$((TOPO_NET++))
  netns_add "$a"
  netns_add "$b"
  ip link add eth0 netns "$a" mtu "$mtu" type veth peer name eth0 netns "$b" mtu "$mtu"
  ip -n "$a" addr add "$net.2/24" dev eth0
  ip -n "$b" addr add "$net.3/24" dev eth0
  ip -n "$a" link set eth0 up
  ip -n "$b" link set eth0 up
  T_KIND[$cfg]=veth
  T_NS_A[$cfg]=$a T_NS_B[$cfg]=$b T_IP_A[$cfg]=$net.2 T_IP_B[$cfg]=$net.3
  T_DST_MAC[$cfg]=$(link_mac "$b" eth0)
  T_HOST_NS[$cfg]="" T_HOST_A[$cfg]="" T_HOST_B[$cfg]=""
}

topo_bridge() {
  local cfg=$1 mtu=$2 n=xb$BENCH_ID-$1-n a=xb$BENCH_ID-$1-a b=xb$BENCH_ID-$1-b net
  net=10.97.$((TOPO_NET++))
  netns_add "$n"
  netns_add "$a"
  netns_add "$b"
  ip -n "$n" link add br0 mtu "$mtu" type bridge
  ip link add eth0 netns "$a" mtu "$mtu" type veth peer name ha netns "$n" mtu "$mtu"
  ip link add eth0 netns "$b" mtu "$mtu" type veth peer name hb netns "$n" mtu "$mtu"
  ip -n "$n" link set ha master br0 up
  ip -n "$n" link set hb master br0 up
  ip -n "$n" link set br0 up
  ip -n "$a" addr add "$net.2/24" dev eth0
  ip -n "$b" addr add "$net.3/24" dev eth0
  ip -n "$a" link set eth0 up
  ip -n "$b" link set eth0 up
  T_KIND[$cfg]=bridge
  T_NS_A[$cfg]=$a T_NS_B[$cfg]=$b T_IP_A[$cfg]=$net.2 T_IP_B[$cfg]=$net.3
  T_DST_MAC[$cfg]=$(link_mac "$b" eth0)
  T_HOST_NS[$cfg]=$n T_HOST_A[$cfg]=ha T_HOST_B[$cfg]=hb
}

topo_xvr() {
  local cfg=$1 lab=$2 attach=$3 mtu=$4 pods
  "$LAB_TOOL" up "$lab" --pods 2 --attach "$attach" --mtu "$mtu" >"$WORK/$lab.up.log" 2>&1 || {
    cat "$WORK/$lab.up.log" >&2
    "$LAB_TOOL" down "$lab" >/dev/null 2>&1
    die "xvr-lab up $lab failed"
  }
  rm -f "$WORK/$lab.up.log"
  on_exit "'$LAB_TOOL' down '$lab'"
  pods=$("$LAB_TOOL" path "$lab" pods)
  T_KIND[$cfg]=xvr-$attach
  T_LAB[$cfg]=$lab
  T_NS_A[$cfg]=$lab-pod1 T_NS_B[$cfg]=$lab-pod2
  T_IP_A[$cfg]=$("$LAB_TOOL" ip "$lab" pod1)
  T_IP_B[$cfg]=$("$LAB_TOOL" ip "$lab" pod2)
  T_HOST_NS[$cfg]=$("$LAB_TOOL" path "$lab" node-netns)
  T_HOST_A[$cfg]=$(jq -r '[.interfaces[] | select((.sandbox // "") == "")][0].name' "$pods/pod1.json")
  T_HOST_B[$cfg]=$(jq -r '[.interfaces[] | select((.sandbox // "") == "")][0].name' "$pods/pod2.json")
  # Pod A resolves every address in its /24 to its gateway, the host veth.
  T_DST_MAC[$cfg]=$(link_mac "${T_HOST_NS[$cfg]}" "${T_HOST_A[$cfg]}")
}

# Counter of the lab's data path (sum over CPUs): CFG HOOK VERDICT REASON FIELD
xvr_counter() {
  "$LAB_TOOL" stats "${T_LAB[$1]}" -o json |
    jq --arg h "$2" --arg v "$3" --arg r "$4" --arg f "$5" \
      '[.counters[] | select(.hook == $h and .verdict == $v and .reason == $r) | .[$f]] | add // 0'
}

# GRO on a veth end gives it NAPI, the only way a veth without an XDP
# program accepts frames another veth XDP_TX'd or redirected into it.
# NS IF on|off; the previous value is restored on exit.
set_gro() {
  local old
  old=$(in_ns "$1" ethtool -k "$2" | awk '/^generic-receive-offload:/ {print $2}')
  in_ns "$1" ethtool -K "$2" gro "$3"
  on_exit "nsenter --net=/run/netns/$1 -- ethtool -K '$2' gro '$old'"
}

offload_state() { # NS IF: "TSO on|off, GRO on|off"
  in_ns "$1" ethtool -k "$2" | awk '
    /^tcp-segmentation-offload:/ {tso = $2} /^generic-receive-offload:/ {gro = $2}
    /^tx-checksumming:/ {csum = $2}
    END {printf "TSO %s, tx-csum %s, GRO %s", tso, csum, gro}'
}

# --- two-node clusters (cross-node benchmarks) --------------------------------
#   topo_cluster CFG LAB ATTACH [KERNEL_NODES]
# A two-node cluster (scripts/xvr-lab cluster-up --nodes 2, one pod per
# node, nodes on veths into a Linux bridge in the underlay netns LAB-ul);
# pod A = n1/pod1, pod B = n2/pod1. KERNEL_NODES "1,2" makes both nodes
# plain Linux nodes (kernel vxlan0 + routed pods, flannel-style): the
# kernel baseline. Sets the T_* of topo_xvr, plus T_LAB[CFG] = LAB/n1,
# T_LAB_B[CFG] = LAB/n2, T_HOST_NS_B[CFG] = node 2's netns. Fails unless
# pod A pings pod B (which also resolves every neighbour on the way).
declare -gA T_LAB_B T_HOST_NS_B
topo_cluster() {
  local cfg=$1 lab=$2 attach=$3 kernel=${4:-} pa pb i
  local -a args=(--nodes 2 --attach "$attach")
  [[ -n $kernel ]] && args+=(--kernel-nodes "$kernel")
  "$LAB_TOOL" cluster-up "$lab" "${args[@]}" >"$WORK/$lab.up.log" 2>&1 || {
    cat "$WORK/$lab.up.log" >&2
    "$LAB_TOOL" down "$lab" >/dev/null 2>&1
    die "xvr-lab cluster-up $lab failed"
  }
  on_exit "'$LAB_TOOL' down '$lab'"
  pa=$("$LAB_TOOL" path "$lab/n1" pods)
  pb=$("$LAB_TOOL" path "$lab/n2" pods)
  T_KIND[$cfg]=xvr-$attach
  [[ -n $kernel ]] && T_KIND[$cfg]=kernel
  T_LAB[$cfg]=$lab/n1 T_LAB_B[$cfg]=$lab/n2
  T_NS_A[$cfg]=$lab-n1-pod1 T_NS_B[$cfg]=$lab-n2-pod1
  T_IP_A[$cfg]=$("$LAB_TOOL" ip "$lab/n1" pod1)
  T_IP_B[$cfg]=$("$LAB_TOOL" ip "$lab/n2" pod1)
  T_HOST_NS[$cfg]=$lab-n1 T_HOST_NS_B[$cfg]=$lab-n2
  T_HOST_A[$cfg]=$(jq -r '[.interfaces[] | select((.sandbox // "") == "")][0].name' "$pa/pod1.json")
  T_HOST_B[$cfg]=$(jq -r '[.interfaces[] | select((.sandbox // "") == "")][0].name' "$pb/pod1.json")
  T_DST_MAC[$cfg]=$(link_mac "${T_HOST_NS[$cfg]}" "${T_HOST_A[$cfg]}")
  for ((i = 0; i < 20; i++)); do
    in_ns "${T_NS_A[$cfg]}" ping -c 1 -W 1 -q "${T_IP_B[$cfg]}" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  cat "$WORK/$lab.up.log" >&2
  die "$cfg: pod A ${T_IP_A[$cfg]} cannot ping pod B ${T_IP_B[$cfg]} across the nodes"
}

# Counter of one node of a cluster (sum over CPUs): TARGET HOOK VERDICT REASON FIELD
# (TARGET: LAB/nI, e.g. ${T_LAB[CFG]} or ${T_LAB_B[CFG]}).
node_counter() {
  "$LAB_TOOL" stats "$1" -o json |
    jq --arg h "$2" --arg v "$3" --arg r "$4" --arg f "$5" \
      '[.counters[] | select(.hook == $h and .verdict == $v and .reason == $r) | .[$f]] | add // 0'
}
