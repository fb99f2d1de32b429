#!/usr/bin/env bash
# capture.sh [--attach xdp|tc] — `xvrctl capture` on a one-node cluster lab
# (3 pods, ip_forward=0): packets are captured in BPF at the pod hook with
# their verdict and written as pcap (NFLOG), read back with tshark.
#   1. --pod default/pod2 (resolved by the agent), stopped with SIGINT:
#      pod1 -> pod2 echo requests and replies appear as "<hook> redirect ok";
#      pod3 -> pod2, denied by a NetworkPolicy isolating pod2 for ingress,
#      appears as "<hook> drop policy_denied_ingress" (XDP drops that no
#      tcpdump sees); the capture is disabled in the map afterwards.
#   2. With the agent stopped: --ip, --verdict drop, --reason, -c 2,
#      --linktype ether, to stdout; a second capture is refused meanwhile.
ATTACH=xdp
while (($#)); do
  case $1 in
    --attach) ATTACH=$2 && shift 2 ;;
    *) echo "usage: $0 [--attach xdp|tc]" >&2 && exit 2 ;;
  esac
done
TEST_NAME=capture_$ATTACH
# shellcheck source=test/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
case $ATTACH in
  xdp) HOOK=xdp_pod ;;
  tc) HOOK=tc_pod ;;
  *) fail "--attach: xdp or tc" ;;
esac
CTL=$XVR_BIN/xvrctl

e2e_start
command -v tshark >/dev/null || fail "tshark not installed"
e2e_cluster_up --nodes 1 --pods-per-node 3 --attach "$ATTACH"
N1=$LAB/n1
SOCK=$(lab path "$N1" socket)
BPFROOT=$(lab path "$N1" bpfroot)
NODE_NS=$(lab path "$N1" node-netns)
MANIFESTS=$(jq -r .manifests <<<"$CLUSTER_JSON")
assert_kernel_path_off
IP1=$(lab ip "$N1" pod1) IP2=$(lab ip "$N1" pod2) IP3=$(lab ip "$N1" pod3)
log "pods: pod1 $IP1, pod2 $IP2, pod3 $IP3; hook $HOOK; bpf root $BPFROOT"
ctl() { "$CTL" --socket "$SOCK" "$@"; }
ping_pod() { ip netns exec "$LAB-n1-$1" ping -c "$3" -i 0.2 -W 1 "$2" >/dev/null 2>&1; }
cap_enabled() { # the enabled field of the pinned xvr_cap_cfg[0] (BTF-formatted)
  bpftool -j map dump pinned "$BPFROOT/maps/xvr_cap_cfg" | jq -r '.[0].formatted.value.enabled'
}

# --- manifests: the lab's pods as Pods, a policy isolating pod2 -----------------
node_name=$LAB-n1
y="apiVersion: v1
kind: Namespace
metadata: {name: default, uid: uid-ns-default, labels: {kubernetes.io/metadata.name: default}}
"
for p in 1 2 3; do
  ip=IP$p
  y+="---
apiVersion: v1
kind: Pod
metadata: {name: pod$p, namespace: default, uid: uid-pod-$p, labels: {app: pod$p}}
spec: {nodeName: $node_name, containers: [{name: c, image: registry.k8s.io/pause:3.9}]}
status: {phase: Running, podIP: ${!ip}, podIPs: [{ip: ${!ip}}]}
"
done
y+="---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: pod2-from-pod1, namespace: default, uid: uid-np-1}
spec: {podSelector: {matchLabels: {app: pod2}}, policyTypes: [Ingress], ingress: [{from: [{podSelector: {matchLabels: {app: pod1}}}]}]}
"
printf '%s' "$y" >"$MANIFESTS/.capture.tmp"
mv "$MANIFESTS/.capture.tmp" "$MANIFESTS/capture.yaml"
deadline=$((SECONDS + 30))
until [[ $(ctl -o json policy --check "$IP3,$IP2,icmp" 2>/dev/null | jq -r .allowed) == false &&
  $(ctl -o json policy --check "$IP1,$IP2,icmp" 2>/dev/null | jq -r .allowed) == true ]]; do
  ((SECONDS < deadline)) || fail "policy not programmed: $(ctl policy 2>&1 | tail -n 5)"
  sleep 0.3
done
log "policy programmed: pod1 -> pod2 allowed, pod3 -> pod2 denied"

# started FILE: the capture printed its start line (filter written).
started() { grep -q '^xvrctl capture: ' "$1" 2>/dev/null; }
wait_started() { # ERRFILE PID
  local i
  for ((i = 0; i < 100; i++)); do
    started "$1" && return 0
    kill -0 "$2" 2>/dev/null || fail "capture exited early: $(cat "$1")"
    sleep 0.1
  done
  fail "capture did not start: $(cat "$1")"
}

# --- 1. --pod, SIGINT ---------------------------------------------------------------
log "1. xvrctl capture --pod default/pod2 -w a.pcap; ping pod1 -> pod2 (3), pod3 -> pod2 (2, denied)"
# xvrctl itself in the background (not a function: $! must be its pid).
"$CTL" --socket "$SOCK" capture --bpf-root "$BPFROOT" --pod default/pod2 -w "$WORK/a.pcap" 2>"$WORK/a.err" &
CAP=$!
wait_started "$WORK/a.err" "$CAP"
snap cap1
assert_eq "$(cap_enabled)" 1 "xvr_cap_cfg enabled while capturing"
ping_pod pod1 "$IP2" 3 || fail "pod1 -> pod2 ping failed"
ping_pod pod3 "$IP2" 2 && fail "pod3 -> pod2 ping went through the policy"
sleep 0.3
# The hook's own counters carried the packets the capture shows.
assert_rose cap1 "$HOOK" redirect ok 6 packets "pod1 <-> pod2 pings"
assert_rose cap1 "$HOOK" drop policy_denied_ingress 2 packets "pod3 -> pod2 denied"
kill -INT "$CAP"
wait "$CAP" || fail "capture exited with $?: $(cat "$WORK/a.err")"
sed 's/^/    /' "$WORK/a.err"
assert_eq "$(cap_enabled)" 0 "xvr_cap_cfg enabled after the capture ended"

fields() { # FILE FILTER: prefix per packet
  tshark -r "$1" -Y "$2" -T fields -e nflog.prefix 2>/dev/null | sort | uniq -c | sed 's/^ *//'
}
assert_eq "$(fields "$WORK/a.pcap" "icmp.type == 8 && ip.src == $IP1 && ip.dst == $IP2")" \
  "3 $HOOK redirect ok" "echo requests pod1 -> pod2"
assert_eq "$(fields "$WORK/a.pcap" "icmp.type == 0 && ip.src == $IP2 && ip.dst == $IP1")" \
  "3 $HOOK redirect ok" "echo replies pod2 -> pod1"
assert_eq "$(fields "$WORK/a.pcap" "icmp.type == 8 && ip.src == $IP3")" \
  "2 $HOOK drop policy_denied_ingress" "denied echo requests pod3 -> pod2"
assert_eq "$(fields "$WORK/a.pcap" 'nflog.prefix contains "drop"')" \
  "2 $HOOK drop policy_denied_ingress" "display filter on the verdict"
# The ingress interface of a drop is pod3's host veth.
h3=$(jq -r '[.interfaces[] | select((.sandbox // "") == "") | .name][0]' "$(lab path "$N1" pods)/pod3.json")
if3=$(in_node ip -j link show "$h3" | jq -r '.[0].ifindex')
assert_eq "$(tshark -r "$WORK/a.pcap" -Y "ip.src == $IP3" -T fields -e nflog.ifindex_indev 2>/dev/null | sort -u)" \
  "$if3" "NFULA_IFINDEX_INDEV of the drops ($h3)"
# Nothing without pod2's address (the filter held).
others=$(tshark -r "$WORK/a.pcap" -Y "!(ip.addr == $IP2)" 2>/dev/null | wc -l)
assert_eq "$others" 0 "packets without pod2's address in a --pod default/pod2 capture"
grep -q '^8 packets captured' "$WORK/a.err" || fail "summary: $(cat "$WORK/a.err")"
grep -q '^0 lost' "$WORK/a.err" || fail "summary (lost): $(cat "$WORK/a.err")"

# --- 2. agent down, -c, ether to stdout, one at a time ----------------------------
log "2. agent stopped; capture --ip $IP2 --verdict drop --reason policy_denied_ingress -c 2 --linktype ether -w -"
lab stop-agent "$N1" >/dev/null
"$CTL" capture --bpf-root "$BPFROOT" --ip "$IP2" --verdict drop --reason policy_denied_ingress \
  -c 2 --linktype ether -v -w - >"$WORK/b.pcap" 2>"$WORK/b.err" &
CAP=$!
wait_started "$WORK/b.err" "$CAP"
if ctl capture --bpf-root "$BPFROOT" -w "$WORK/c.pcap" 2>"$WORK/c.err"; then
  fail "a second capture started while one was running"
fi
grep -q 'already running' "$WORK/c.err" || fail "second capture: $(cat "$WORK/c.err")"
log "  second capture refused: $(cat "$WORK/c.err")"
ping_pod pod1 "$IP2" 2 || fail "pod1 -> pod2 ping failed with the agent stopped"
ping_pod pod3 "$IP2" 3 && fail "pod3 -> pod2 ping went through the policy"
for ((i = 0; i < 50; i++)); do kill -0 "$CAP" 2>/dev/null || break; sleep 0.1; done
kill -0 "$CAP" 2>/dev/null && fail "capture -c 2 still running: $(cat "$WORK/b.err")"
wait "$CAP" || fail "capture -c 2 exited with $?: $(cat "$WORK/b.err")"
sed 's/^/    /' "$WORK/b.err"
assert_eq "$(tshark -r "$WORK/b.pcap" -T fields -e frame.protocols -e ip.src -e icmp.type 2>/dev/null | sort | uniq -c | sed 's/^ *//')" \
  "2 eth:ethertype:ip:icmp:data	$IP3	8" "ether capture: the two denied echo requests"
assert_eq "$(grep -c "$HOOK drop policy_denied_ingress" "$WORK/b.err")" 2 "-v lines with the verdict"
assert_eq "$(cap_enabled)" 0 "xvr_cap_cfg enabled after -c"
log "capture works with the agent stopped; one capture at a time"
