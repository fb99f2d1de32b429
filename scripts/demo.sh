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

# ---------------------------------------------------------------------------
# Multi-node lab: two nodes on a shared underlay, pods talking across them
# through VXLAN made and unmade in XDP. XVR_DEMO_MULTI=0 skips it.
MULTI_FAILED=0
if [[ ${XVR_DEMO_MULTI:-1} != 0 ]]; then
  CL=demomn
  step "Multi-node lab: two nodes, one underlay, VXLAN in XDP"
  cat <<EOF
Now a cluster ($CL): nodes $CL-n1 and $CL-n2 are namespaces whose only NIC,
fab0, plugs into a Linux bridge that exists only in the underlay namespace
$CL-ul. Each node runs its own agent, which reads the Node objects in
/run/xvr-lab/$CL/manifests and programs a VXLAN tunnel route for the other
node's pod CIDR. Nodes keep ip_forward=0 and have no bridge and no vxlan
device: xdp_pod encapsulates, xdp_fabric decapsulates.
EOF
  if [[ -e /run/xvr-lab/$CL ]] || ip netns list | grep -q "^$CL-"; then
    show "$LABTOOL" down "$CL"
  fi
  show "$LABTOOL" cluster-up "$CL" --nodes 2 --pods-per-node 1 || MULTI_FAILED=1
  if ((MULTI_FAILED == 0)) && ! lab cluster-wait "$CL" --timeout 15; then
    printf '%s!! the agents did not program the overlay (tunnel routes, neighbours); see above%s\n' "$B" "$N"
    MULTI_FAILED=1
  fi
  if ((MULTI_FAILED == 0)); then
    show "$LABTOOL" cluster-info "$CL"
    Z=$(lab ip "$CL/n2" pod1)
    step "M1. What n1's data path knows: the tunnel route and the underlay neighbour"
    show "$LABTOOL" routes "$CL/n1"
    show "$LABTOOL" neigh "$CL/n1"
    S1=$(lab stats "$CL/n1" -o json)
    S2=$(lab stats "$CL/n2" -o json)
    step "M2. Ping across nodes, captured on the underlay bridge"
    CAP=$(mktemp /tmp/xvr-demo-vxlan.XXXXXX)
    ip netns exec "$CL-ul" tshark -i br0 -w "$CAP" -f "udp port 4789" >/dev/null 2>"$CAP.err" &
    TSHARK=$!
    for _ in $(seq 50); do grep -q "Capturing on" "$CAP.err" 2>/dev/null && break; sleep 0.1; done
    show "$LABTOOL" exec "$CL/n1" pod1 ping -c 3 -i 0.2 "$Z" || MULTI_FAILED=1
    sleep 0.3
    kill -INT "$TSHARK" 2>/dev/null
    wait "$TSHARK" 2>/dev/null || true
    printf '%s$ %s%s\n' "$C" "tshark -r <capture on br0> -d udp.port==4789,vxlan   # outer node IPs, VNI, inner pod IPs" "$N"
    tshark -r "$CAP" -d udp.port==4789,vxlan -T fields -E separator=' ' \
      -e ip.src -e ip.dst -e vxlan.vni -e icmp.type 2>/dev/null | head -n 4 |
      awk '{split($1,s,","); split($2,d,","); printf "  outer %s -> %s  VNI %s  inner %s -> %s  icmp %s\n", s[1], d[1], $3, s[2], d[2], ($4 == 8 ? "echo request" : "echo reply")}'
    rm -f "$CAP" "$CAP.err"
    step "M3. TCP across nodes: n1/pod1 -> n2/pod1 (iperf3, 2 s)"
    lab exec "$CL/n2" pod1 iperf3 -s -D -1
    sleep 0.5
    show "$LABTOOL" exec "$CL/n1" pod1 timeout 30 iperf3 -c "$Z" -t 2 --connect-timeout 5000 || MULTI_FAILED=1
    T1=$(lab stats "$CL/n1" -o json)
    T2=$(lab stats "$CL/n2" -o json)
    mdelta() { echo $(($(counter "$3" "$4" "$5" "$6" packets) - $(counter "$2" "$4" "$5" "$6" packets))); }
    echo
    note "n1 xdp_pod redirect/ok +$(mdelta n1 "$S1" "$T1" xdp_pod redirect ok) packets: pod1's packets for $Z were wrapped in VXLAN to n2 and redirected out of fab0."
    note "n2 xdp_fabric redirect/ok +$(mdelta n2 "$S2" "$T2" xdp_fabric redirect ok) packets: unwrapped on arrival and redirected into n2/pod1's veth."
    note "and back: n2 xdp_pod +$(mdelta n2 "$S2" "$T2" xdp_pod redirect ok), n1 xdp_fabric +$(mdelta n1 "$S1" "$T1" xdp_fabric redirect ok). Both nodes have ip_forward=$(lab node "$CL/n1" cat /proc/sys/net/ipv4/ip_forward)/$(lab node "$CL/n2" cat /proc/sys/net/ipv4/ip_forward) and no bridge or vxlan device."
    step "M4. A Service without kube-proxy: ClusterIP 10.96.0.10:80 -> n2/pod1:8080"
    MAN=/run/xvr-lab/$CL/manifests
    cat >"$MAN/.demo-svc.tmp" <<EOF
apiVersion: v1
kind: Service
metadata: {name: demo, namespace: default}
spec:
  clusterIP: 10.96.0.10
  ports: [{name: http, port: 80, targetPort: 8080, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: demo-1, namespace: default, labels: {kubernetes.io/service-name: demo}}
addressType: IPv4
endpoints: [{addresses: ["$Z"], conditions: {ready: true}, nodeName: $CL-n2}]
ports: [{name: http, port: 8080, protocol: TCP}]
EOF
    mv "$MAN/.demo-svc.tmp" "$MAN/demo-svc.yaml"
    lab exec "$CL/n2" pod1 python3 "$REPO/test/e2e/svc_tool.py" serve n2-pod1 8080 >/dev/null 2>&1 &
    SVC_SERVER=$!
    sleep 1
    show "$XVR_BIN/xvrctl" --socket "$(lab path "$CL/n1" socket)" services || MULTI_FAILED=1
    show "$LABTOOL" exec "$CL/n1" pod1 python3 "$REPO/test/e2e/svc_tool.py" tcp 10.96.0.10 80 3 || MULTI_FAILED=1
    note "n2/pod1 answered and saw the client's own address: n1's xdp_pod picked the backend (Maglev), rewrote the destination and tunnelled it; n1's xdp_fabric translated the reply back to 10.96.0.10. iptables rules on n1: $(lab node "$CL/n1" sh -c 'iptables-save 2>/dev/null | grep -c "^-A"' || true)."
    step "M5. Flows and NetworkPolicy: the connection as a flow, then denied by a policy"
    show "$XVR_BIN/xvrctl" --socket "$(lab path "$CL/n1" socket)" flows --port 8080 || MULTI_FAILED=1
    note "n1 tracked each connection as a flow pair: the backend tuple, the ClusterIP it was addressed to, TCP state and bytes both ways."
    cat >"$MAN/.demo-np.tmp" <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: demo-deny, namespace: default}
spec:
  podSelector: {}
  policyTypes: [Ingress]
EOF
    mv "$MAN/.demo-np.tmp" "$MAN/demo-np.yaml"
    sleep 1
    show "$XVR_BIN/xvrctl" --socket "$(lab path "$CL/n2" socket)" policy || MULTI_FAILED=1
    if lab exec "$CL/n1" pod1 python3 "$REPO/test/e2e/svc_tool.py" tcp 10.96.0.10 80 1 >/dev/null 2>&1; then
      printf '%s!! the connection got through a deny-all ingress policy%s\n' "$B" "$N"
      MULTI_FAILED=1
    else
      note "The same connection now times out: n2's xdp_fabric judged it on arrival (ingress is enforced by the receiving node)."
    fi
    show "$XVR_BIN/xvrctl" --socket "$(lab path "$CL/n2" socket)" drops || MULTI_FAILED=1
    step "M6. Packet capture at the hook and Prometheus metrics"
    CAPF=$(mktemp /tmp/xvr-demo-XXXXXX.pcap)
    # Captured in BPF where xdp_fabric drops it: no tcpdump could see this.
    "$XVR_BIN/xvrctl" --socket "$(lab path "$CL/n2" socket)" capture \
      --bpf-root "$(lab path "$CL/n2" bpfroot)" --reason policy_denied_ingress -c 1 -w "$CAPF" 2>"$CAPF.err" &
    CAP_PID=$!
    for ((i = 0; i < 50; i++)); do grep -q '^xvrctl capture: ' "$CAPF.err" 2>/dev/null && break; sleep 0.1; done
    lab exec "$CL/n1" pod1 python3 "$REPO/test/e2e/svc_tool.py" tcp 10.96.0.10 80 1 >/dev/null 2>&1 || true
    for ((i = 0; i < 50; i++)); do kill -0 "$CAP_PID" 2>/dev/null || break; sleep 0.1; done
    kill -INT "$CAP_PID" 2>/dev/null || true
    wait "$CAP_PID" 2>/dev/null || true
    show tshark -r "$CAPF" -T fields -e frame.time_relative -e nflog.prefix -e ip.src -e ip.dst -e tcp.dstport \
      -E header=y || MULTI_FAILED=1
    if ! tshark -r "$CAPF" -T fields -e nflog.prefix 2>/dev/null | grep -q 'xdp_fabric drop policy_denied_ingress'; then
      printf '%s!! the capture did not show the denied SYN%s\n' "$B" "$N"
      MULTI_FAILED=1
    fi
    note "xvrctl capture wrote the SYN that n2's xdp_fabric dropped, with hook, verdict and reason in the pcap (NFLOG prefix); tshark and Wireshark read it."
    rm -f "$CAPF" "$CAPF.err"
    MRE='^xvr_(drops_total[{]|packets_total[{]hook="xdp_fabric"|flows_active |ready )'
    printf '%s$ %s%s\n' "$C" "scripts/xvr-lab metrics $CL/n2 | grep -E '$MRE'" "$N"
    lab metrics "$CL/n2" | grep -E "$MRE" || MULTI_FAILED=1
    note "The same counters on /metrics (spec.metricsAddress, default :9890), for Prometheus; /healthz and /readyz are the DaemonSet's probes."
    rm -f "$MAN/demo-np.yaml"
    kill "$SVC_SERVER" 2>/dev/null || true
  fi
  if ((MULTI_FAILED)); then
    printf '%s!! The multi-node part of the demo failed; the cluster is left up for a look.%s\n' "$B" "$N"
  fi
  cat <<EOF

The cluster stays up too:
  ${C}scripts/xvr-lab exec $CL/n2 pod1 ping $(lab ip "$CL/n1" pod1 2>/dev/null || echo '<n1 pod1>')${N}
  ${C}scripts/xvr-lab node-remove $CL n2${N}   ${D}# n1 stops sending to n2 (node-add brings it back)${N}
  ${C}scripts/xvr-lab stats $CL/n1${N}
Tear down:  ${B}scripts/xvr-lab down $CL${N}
EOF
fi
exit $((IPERF_FAILED | MULTI_FAILED))
