#!/usr/bin/env bash
# make demo: one node, three pods wired by xvr-cni, traffic between them
# forwarded by XDP, and the counters that prove it. Leaves the lab running;
# `make demo-down` removes it.
set -euo pipefail

REPO=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
export XVR_BIN=${XVR_BIN:-$REPO/build/bin}
LABTOOL=$REPO/scripts/xvr-lab
LAB=demo
IPERF_FAILED=0

if [[ -t 1 ]]; then
  B=$'\e[1m' C=$'\e[36m' G=$'\e[32m' D=$'\e[2m' N=$'\e[0m'
else
  B="" C="" G="" D="" N=""
fi
step() { printf '\n%s== %s ==%s\n' "$B" "$*" "$N"; }
note() { printf '%s-> %s%s\n' "$G" "$*" "$N"; }
# show CMD...: print the command like a shell prompt, then run it.
show() {
  local -a disp=("$@")
  [[ $1 == "$LABTOOL" ]] && disp[0]=scripts/xvr-lab
  printf '%s$ %s%s\n' "$C" "${disp[*]}" "$N"
  "$@"
}
lab() { "$LABTOOL" "$@"; }

stats_json() { lab stats "$LAB" -o json; }
counter() { # JSON HOOK VERDICT REASON FIELD
  jq --arg h "$2" --arg v "$3" --arg r "$4" --arg f "$5" \
    '[.counters[] | select(.hook == $h and .verdict == $v and .reason == $r) | .[$f]] | add // 0' \
    <<<"$1"
}

[[ $(id -u) == 0 ]] || { echo "demo: run as root (network namespaces, BPF)" >&2; exit 1; }
for t in jq iperf3 ping; do
  command -v "$t" >/dev/null || { echo "demo: $t missing (bash scripts/install-deps.sh)" >&2; exit 1; }
done

step "xvr demo: one node, three pods, forwarding in XDP"
cat <<EOF
The node is a network namespace ($LAB-node) running xvr-agent; each pod is a
namespace wired by xvr-cni exactly as a container runtime calls it. The node
has net.ipv4.ip_forward=0 and no bridge: the kernel cannot forward between
the pods, so every packet below was moved by the BPF programs.
EOF

if [[ -e /run/xvr-lab/$LAB ]] || ip netns list | grep -q "^$LAB-"; then
  step "Removing the previous demo lab"
  show "$LABTOOL" down "$LAB"
fi

step "1. Node, agent and three pods"
show "$LABTOOL" up "$LAB" --pods 3

IP1=$(lab ip "$LAB" pod1)
IP2=$(lab ip "$LAB" pod2)
IP3=$(lab ip "$LAB" pod3)
PODS_DIR=$(lab path "$LAB" pods)
GW=$(jq -r '.ips[0].gateway' "$PODS_DIR/pod1.json")

step "2. The pods"
printf '%s%-6s %-16s %-17s %-16s %s%s\n' "$B" POD IP MAC "HOST VETH" "GATEWAY" "$N"
for p in pod1 pod2 pod3; do
  r=$PODS_DIR/$p.json
  printf '%-6s %-16s %-17s %-16s %s\n' "$p" "$(jq -r '.ips[0].address' "$r")" \
    "$(jq -r '[.interfaces[] | select(.sandbox // "" | length > 0)][0].mac' "$r")" \
    "$(jq -r '[.interfaces[] | select((.sandbox // "") == "")][0].name' "$r")" \
    "$(jq -r '.ips[0].gateway' "$r")"
done
echo
show "$LABTOOL" endpoints "$LAB"

step "3. The node: no kernel forwarding, XDP on every pod veth"
show "$LABTOOL" node "$LAB" sysctl net.ipv4.ip_forward
printf '%s$ %s%s\n' "$C" "scripts/xvr-lab node $LAB ip -d link show type bridge   # (empty: no bridge)" "$N"
lab node "$LAB" ip -d link show type bridge
printf '%s$ %s%s\n' "$C" "scripts/xvr-lab node $LAB ip -br link | grep xvr" "$N"
lab node "$LAB" ip -br link | grep xvr || true
printf '%s$ %s%s\n' "$C" "scripts/xvr-lab node $LAB ip -d link show <pod veth> | grep prog/xdp" "$N"
HOST1=$(jq -r '[.interfaces[] | select((.sandbox // "") == "")][0].name' "$PODS_DIR/pod1.json")
lab node "$LAB" ip -d link show "$HOST1" | grep -E 'prog/xdp|^[0-9]' || true

step "4. Counters before the traffic"
BEFORE=$(stats_json)
show "$LABTOOL" stats "$LAB"

step "5. Ping between pods"
show "$LABTOOL" exec "$LAB" pod1 ping -c 5 -i 0.2 "$IP2"
show "$LABTOOL" exec "$LAB" pod1 ping -c 5 -i 0.2 "$IP3"

step "6. TCP throughput pod1 -> pod2 (iperf3, 3 s)"
show "$LABTOOL" exec "$LAB" pod2 iperf3 -s -D -1
sleep 0.5
if ! show "$LABTOOL" exec "$LAB" pod1 timeout 30 iperf3 -c "$IP2" -t 3 --connect-timeout 5000; then
  printf '%s!! iperf3 pod1 -> pod2 failed: TCP between pods is broken (see the stats below)%s\n' "$B" "$N"
  IPERF_FAILED=1
fi

step "7. The node reaches a pod (host -> pod through tc_host_egress)"
show "$LABTOOL" node "$LAB" ping -c 3 -i 0.2 "$IP1"
printf '%s$ %s%s\n' "$C" "scripts/xvr-lab exec $LAB pod1 ip neigh show $GW   # gateway = host veth MAC" "$N"
lab exec "$LAB" pod1 ip neigh show "$GW"

step "8. Counters after the traffic"
AFTER=$(stats_json)
show "$LABTOOL" stats "$LAB"

d() { echo $(($(counter "$AFTER" "$@") - $(counter "$BEFORE" "$@"))); }
RP=$(d xdp_pod redirect ok packets)
RB=$(d xdp_pod redirect ok bytes)
HP=$(d tc_host_egress redirect ok packets)
TP=$(d xdp_pod pass to_host packets)
echo
note "xdp_pod redirect/ok +$RP packets ($(numfmt --to=iec-i --suffix=B "$RB")): the XDP program on the sender's host veth redirected the pings and the iperf3 stream straight into the receiver's veth (devmap), no kernel routing."
note "tc_host_egress redirect/ok +$HP packets: what the node sent to pods (ping replies, echo requests) went from the host pair to the pod veth in TC."
note "xdp_pod pass/to_host +$TP packets: traffic addressed to the node itself was handed to the node's kernel."
note "net.ipv4.ip_forward=$(lab node "$LAB" cat /proc/sys/net/ipv4/ip_forward) in $LAB-node and no bridge: the kernel could not have forwarded any of it."

if ((IPERF_FAILED)); then
  printf '%s!! The TCP part of the demo failed; the lab is left up for a look.%s\n' "$B" "$N"
fi

step "Done: the lab stays up"
cat <<EOF
Play with it:
  ${C}scripts/xvr-lab exec $LAB pod3 ping $IP1${N}
  ${C}scripts/xvr-lab stats $LAB${N}           ${D}# counters by hook/verdict/reason${N}
  ${C}scripts/xvr-lab add-pod $LAB pod4${N}     ${D}# one more pod through CNI ADD${N}
  ${C}scripts/xvr-lab restart-agent $LAB --kill${N}  ${D}# forwarding survives the agent${N}
  agent log: $(lab path "$LAB" log)

Tear down:  ${B}make demo-down${N}   (runs: scripts/xvr-lab down $LAB)
EOF
exit "$IPERF_FAILED"
