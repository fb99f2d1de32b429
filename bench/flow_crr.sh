#!/usr/bin/env bash
# (l) New connections per second between two pods on one node, TCP
# connect/request/response/close in a loop (xvr-bench-crr), through xvr
# with flows and a NetworkPolicy isolating the server pod that allows the
# client (every connection: flow miss, policy verdict, flow pair created),
# beside xvr with flows only (no policy), and the same two pods on kernel
# paths with iptables conntrack in the path. All paths exist side by side
# and are measured round-robin in the same rounds. Prints a markdown
# section.
#
# xvr: one-node clusters of scripts/xvr-lab (cluster-up --nodes 1
# --pods-per-node 2, node ip_forward=0), namespace and Pod objects (+ the
# policy) as a manifest in the lab's manifests dir (bench/tools/netpolgen.py).
# Kernel baselines, each in its own node netns, pods on veth pairs:
#   route-ct   routed through the node: ptp-style /32 pod addresses, the
#              host ends hold the gateway address, ip_forward=1; iptables
#              FORWARD policy DROP, `-m conntrack --ctstate
#              ESTABLISHED,RELATED -j ACCEPT`, and client -> server TCP
#              port `--ctstate NEW -j ACCEPT`: every packet through
#              nf_conntrack, a stateful allow-list like the policy.
#   bridge-ct  the pods on a Linux bridge, bridge-nf-call-iptables=1
#              (br_netfilter: bridged IPv4 goes through the iptables
#              FORWARD chain), the same rules. Skipped when the kernel has
#              no br_netfilter (no /proc/sys/net/bridge in a netns).
#   route      routed like route-ct, no rules: conntrack never loads in
#              that netns (the kernel path's floor).
# iptables variant(s): BENCH_FLOW_IPTABLES (default nft; "nft legacy").
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

SECS=${BENCH_CRR_SECONDS:-2}
read -r -a VARIANTS <<<"${BENCH_FLOW_IPTABLES:-nft}"
PORT=8080 DENIED_PORT=9091
GEN=$BENCH_DIR/tools/netpolgen.py
CRR=$BENCH_BIN/xvr-bench-crr
[[ -x $CRR ]] || die "$CRR missing: cmake --build $BUILD --target xvr_bench_tools"
for v in "${VARIANTS[@]}"; do
  command -v "iptables-$v" >/dev/null || die "iptables-$v not installed"
done
command -v python3 >/dev/null || die "python3 not installed"
bench_preflight
arm_cleanup

declare -A NS_C NS_S IP_C IP_S NODE_NS T_LABS IPT
CFGS=()

# --- xvr ------------------------------------------------------------------------------
xvr_path() { # CFG LAB POLICIES
  local cfg=$1 lab=$2 man
  "$LAB_TOOL" cluster-up "$lab" --nodes 1 --pods-per-node 2 >"$WORK/$lab.up.log" 2>&1 || {
    cat "$WORK/$lab.up.log" >&2
    "$LAB_TOOL" down "$lab" >/dev/null 2>&1
    die "xvr-lab cluster-up $lab failed"
  }
  on_exit "'$LAB_TOOL' down '$lab'"
  T_LABS[$cfg]=$lab/n1
  NS_C[$cfg]=$lab-n1-pod1 NS_S[$cfg]=$lab-n1-pod2 NODE_NS[$cfg]=$lab-n1
  IP_C[$cfg]=$("$LAB_TOOL" ip "$lab/n1" pod1)
  IP_S[$cfg]=$("$LAB_TOOL" ip "$lab/n1" pod2)
  man=$("$LAB_TOOL" path "$lab" manifests)
  python3 "$GEN" --node "$lab-n1" --client-ip "${IP_C[$cfg]}" --server-ip "${IP_S[$cfg]}" \
    --policies "$3" --remote-pods 0 --port "$PORT" >"$man/.netpol.tmp"
  mv "$man/.netpol.tmp" "$man/netpol.yaml"
  CFGS+=("$cfg")
}
xvr_ready() { # CFG POLICIES: the agent compiled the manifest and agrees with the plan
  local cfg=$1 n=$2 j deadline=$((SECONDS + 60)) want
  while :; do
    j=$("$LAB_TOOL" ctl "${T_LABS[$cfg]}" -o json policy 2>/dev/null) || j='{}'
    [[ $(jq -r '"\(.policies) \(.stats.synced) \([.endpoints[]? | select(.identity > 0)] | length)"' <<<"$j") == "$n true 2" ]] && break
    ((SECONDS < deadline)) || die "l: ${T_LABS[$cfg]}: policy not programmed: $(jq -c '{policies, stats}' <<<"$j")"
    sleep 0.5
  done
  sleep 1
  want=true
  [[ $("$LAB_TOOL" ctl "${T_LABS[$cfg]}" -o json policy --check "${IP_C[$cfg]},${IP_S[$cfg]},tcp,$PORT" | jq -r .allowed) == "$want" ]] ||
    die "l: ${T_LABS[$cfg]}: client -> server TCP $PORT not allowed by the agent's evaluator"
  ((n == 0)) && want=true || want=false
  [[ $("$LAB_TOOL" ctl "${T_LABS[$cfg]}" -o json policy --check "${IP_C[$cfg]},${IP_S[$cfg]},tcp,$DENIED_PORT" | jq -r .allowed) == "$want" ]] ||
    die "l: ${T_LABS[$cfg]}: client -> server TCP $DENIED_PORT: expected allowed=$want"
}

# --- kernel paths -------------------------------------------------------------------------
ipt() { # CFG ARGS...: the path's iptables, in its node netns
  local cfg=$1
  shift
  in_ns "${NODE_NS[$cfg]}" "iptables-${IPT[$cfg]}" -w 5 "$@"
}
kern_path() { # CFG KIND(route|route-ct|bridge-ct) [VARIANT]
  local cfg=$1 kind=$2 p=xb$BENCH_ID-l$1 gw=10.244.1.1 ip h pod
  netns_add "$p-n"
  netns_add "$p-c"
  netns_add "$p-s"
  NS_C[$cfg]=$p-c NS_S[$cfg]=$p-s NODE_NS[$cfg]=$p-n IPT[$cfg]=${3:-}
  IP_C[$cfg]=10.244.1.2 IP_S[$cfg]=10.244.1.3
  if [[ $kind == bridge-ct ]]; then
    ip -n "$p-n" link add br0 type bridge
    ip -n "$p-n" link set br0 up
    in_ns "$p-n" sysctl -qw net.bridge.bridge-nf-call-iptables=1
  else
    in_ns "$p-n" sysctl -qw net.ipv4.ip_forward=1
  fi
  for pod in c s; do
    [[ $pod == c ]] && ip=${IP_C[$cfg]} || ip=${IP_S[$cfg]}
    h=h$pod
    ip link add eth0 netns "$p-$pod" type veth peer name "$h" netns "$p-n"
    ip -n "$p-$pod" link set eth0 up
    if [[ $kind == bridge-ct ]]; then
      ip -n "$p-n" link set "$h" master br0 up
      ip -n "$p-$pod" addr add "$ip/24" dev eth0
    else
      # ptp: the pod's /32 behind the host end, which holds the gateway.
      ip -n "$p-n" link set "$h" up
      ip -n "$p-n" addr add "$gw/32" dev "$h"
      ip -n "$p-n" route add "$ip/32" dev "$h"
      ip -n "$p-$pod" addr add "$ip/32" dev eth0
      ip -n "$p-$pod" route add "$gw" dev eth0 scope link
      ip -n "$p-$pod" route add default via "$gw" dev eth0
    fi
  done
  if [[ $kind == *-ct ]]; then
    ipt "$cfg" -P FORWARD DROP
    ipt "$cfg" -A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
    ipt "$cfg" -A FORWARD -s "${IP_C[$cfg]}" -d "${IP_S[$cfg]}" -p tcp --dport "$PORT" \
      -m conntrack --ctstate NEW -j ACCEPT
  fi
  CFGS+=("$cfg")
}

log "l. xvr one-node clusters: policy + flows, flows only"
xvr_path xvr-pol "xb${BENCH_ID}lp" 1
xvr_path xvr-flows "xb${BENCH_ID}lf" 0
for v in "${VARIANTS[@]}"; do
  log "l. kernel, routed through the node, iptables-$v conntrack"
  kern_path "route-ct-$v" route-ct "$v"
done
BRIDGE_NOTE=""
probe=xb$BENCH_ID-lbrprobe
netns_add "$probe"
if in_ns "$probe" test -e /proc/sys/net/bridge/bridge-nf-call-iptables; then
  for v in "${VARIANTS[@]}"; do
    log "l. kernel, Linux bridge + br_netfilter, iptables-$v conntrack"
    kern_path "bridge-ct-$v" bridge-ct "$v"
  done
else
  BRIDGE_NOTE="not measured: this kernel has no br_netfilter (no /proc/sys/net/bridge in a netns), so bridged traffic would bypass iptables"
fi
log "l. kernel, routed through the node, no iptables"
kern_path route route
xvr_ready xvr-pol 1
xvr_ready xvr-flows 0

for c in "${CFGS[@]}"; do
  pidf=$WORK/crr-$c.pid
  in_ns "${NS_S[$c]}" "$CRR" server --port "$PORT" --pidfile "$pidf" >/dev/null 2>&1 &
  on_exit "kill \$(cat '$pidf')"
done
for _ in $(seq 1 50); do
  (($(find "$WORK" -name 'crr-*.pid' | wc -l) == ${#CFGS[@]})) && break
  sleep 0.1
done

crr() { # CFG SECONDS [PORT] -> JSON line
  in_ns "${NS_C[$1]}" "$CRR" client --host "${IP_S[$1]}" --port "${3:-$PORT}" --seconds "$2" --label "$1"
}
lab_counter() { # CFG VERDICT REASON: the xvr lab's xdp_pod counter
  "$LAB_TOOL" stats "${T_LABS[$1]}" -o json |
    jq --arg v "$2" --arg r "$3" '[.counters[] | select(.hook == "xdp_pod" and .verdict == $v and .reason == $r) | .packets] | add // 0'
}
flow_stats() { "$LAB_TOOL" ctl "${T_LABS[$1]}" -o json flows stats; }
agent_cpu() { # CFG -> agent CPU seconds so far (utime + stime)
  local pid
  pid=$(cat "$("$LAB_TOOL" path "${T_LABS[$1]}" dir)/agent.pid")
  awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$pid/stat"
}
new_rule_packets() { # CFG: packets the NEW accept rule let through
  ipt "$1" -L FORWARD -v -x -n | awk '/ctstate NEW/ {print $1; exit}'
}

# The policy is enforced: in the policy lab the client's SYN to a port the
# policy does not allow is dropped by xdp_pod (no server listens there; an
# allowed SYN would be answered with a RST).
d0=$(lab_counter xvr-pol drop policy_denied_ingress)
j=$(timeout 10 nsenter --net="/run/netns/${NS_C[xvr-pol]}" -- "$CRR" client --host "${IP_S[xvr-pol]}" \
  --port "$DENIED_PORT" --seconds 0.1 2>/dev/null) || true
DENIED_CHECK="client -> server TCP $DENIED_PORT: $(jq -r '.first_error // "?"' <<<"$j" 2>/dev/null || echo '?'), xdp_pod drop/policy_denied_ingress +$(($(lab_counter xvr-pol drop policy_denied_ingress) - d0))"
((${DENIED_CHECK##*+} > 0)) || die "l: the policy lab did not drop a SYN to TCP $DENIED_PORT ($DENIED_CHECK)"

for c in "${CFGS[@]}"; do
  j=$(crr "$c" 0.3) || die "$c: warm-up failed: $j"
done
declare -A R P50 P99 ERR CONNS C0 CPU0 CPU CHECK
for c in "${CFGS[@]}"; do
  CONNS[$c]=0
  case $c in
    xvr-*)
      C0[$c]=$(flow_stats "$c" | jq .counters.created)
      CPU0[$c]=$(agent_cpu "$c")
      ;;
    *-ct-*) C0[$c]=$(new_rule_packets "$c") ;;
  esac
done
log "l. $RUNS rounds of ${SECS}s per path: ${CFGS[*]}"
T0=$EPOCHREALTIME
for ((r = 1; r <= RUNS; r++)); do
  for c in "${CFGS[@]}"; do
    j=$(crr "$c" "$SECS") || die "$c: $j"
    echo "$j" >>"$WORK/crr.jsonl"
    R[$c]+="$(jq -r .cps <<<"$j") "
    P50[$c]+="$(jq -r .p50_us <<<"$j") "
    P99[$c]+="$(jq -r .p99_us <<<"$j") "
    ERR[$c]=$((${ERR[$c]:-0} + $(jq -r .errors <<<"$j")))
    CONNS[$c]=$((CONNS[$c] + $(jq -r .connections <<<"$j")))
  done
done
ROUNDS_S=$(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.0f", b - a}')
declare -A FS CT_COUNT
for c in "${CFGS[@]}"; do
  case $c in
    xvr-*)
      FS[$c]=$(flow_stats "$c")
      CHECK[$c]=$(($(jq .counters.created <<<"${FS[$c]}") - C0[$c]))
      CPU[$c]=$(awk -v a="${CPU0[$c]}" -v b="$(agent_cpu "$c")" 'BEGIN {printf "%.2f", b - a}')
      ;;
    *-ct-*)
      CHECK[$c]=$(($(new_rule_packets "$c") - C0[$c]))
      CT_COUNT[$c]=$(in_ns "${NODE_NS[$c]}" cat /proc/sys/net/netfilter/nf_conntrack_count)
      ;;
    *) CT_COUNT[$c]=$(in_ns "${NODE_NS[$c]}" cat /proc/sys/net/netfilter/nf_conntrack_count) ;;
  esac
done

# --- report ----------------------------------------------------------------------------
med() { # CFG
  local v=${R[$1]:-}
  # shellcheck disable=SC2086 # one word per number
  if [[ -n $v ]]; then FMT=%.0f median $v; else echo n/a; fi
}
cell() {
  # shellcheck disable=SC2086,SC2046 # one word per number
  echo "**$(med "$1")** ($(joined $(printf '%.0f ' ${R[$1]})))"
}
lat() {
  # shellcheck disable=SC2086 # one word per number
  echo "$(FMT=%.0f median ${P50[$1]}) / $(FMT=%.0f median ${P99[$1]})"
}
label() {
  case $1 in
    xvr-pol) echo "xvr, flows + NetworkPolicy (server isolated, client allowed)" ;;
    xvr-flows) echo "xvr, flows, no NetworkPolicy" ;;
    route-ct-*) echo "kernel, routed via the node, iptables-${1#route-ct-} FORWARD + conntrack" ;;
    bridge-ct-*) echo "kernel, Linux bridge + br_netfilter, iptables-${1#bridge-ct-} FORWARD + conntrack" ;;
    route) echo "kernel, routed via the node, no iptables (no conntrack)" ;;
  esac
}
REF=route-ct-${VARIANTS[0]}

echo "### l. New TCP connections/s between two pods: xvr flows + policy vs iptables conntrack"
echo
echo "Command: \`bash bench/flow_crr.sh\` (BENCH_RUNS=$RUNS, ${SECS}s per measurement). Load: \`xvr-bench-crr client"
echo "--seconds $SECS\` in the client pod: one TCP connection at a time, connect, send 8 bytes, read the 8-byte echo,"
echo "close with SO_LINGER 0 (RST); \`xvr-bench-crr server\` (epoll, one thread) in the server pod, TCP $PORT, same node."
echo "All ${#CFGS[@]} paths exist side by side and are measured in every round, interleaved (the rounds took ${ROUNDS_S} s)."
echo "Median connections/s (runs in brackets); latency = medians of each run's p50 / p99 of one connect-to-close, us."
echo
echo "Paths: xvr = one-node \`xvr-lab cluster-up --nodes 1 --pods-per-node 2\` (node ip_forward=0, flows on with the"
echo "default spec.flows, flow events on); the manifest (\`bench/tools/netpolgen.py --policies 1|0 --remote-pods 0\`)"
echo "holds the namespace, the two Pods and, in the policy lab, one NetworkPolicy selecting the server (app=server,"
echo "Ingress) that allows the client (podSelector app=client) on TCP $PORT, so every connection's SYN takes the flow-miss"
echo "path with a policy verdict and creates a flow pair; checked with \`xvrctl policy --check\` before the rounds."
echo "Kernel paths: the same two pods in netns on veth pairs into a node netns. route-ct: ptp-style routing"
echo "through the node (pod /32s, gateway address on each host end, ip_forward=1) with \`iptables -P FORWARD DROP\`,"
echo "\`-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\` and \`-A FORWARD -s client -d server -p tcp"
echo "--dport $PORT -m conntrack --ctstate NEW -j ACCEPT\`: every packet goes through nf_conntrack and the same"
echo "allow-list the policy expresses. bridge-ct: the pods on a Linux bridge with bridge-nf-call-iptables=1"
echo "(br_netfilter hands bridged IPv4 to the FORWARD chain), the same rules${BRIDGE_NOTE:+ ($BRIDGE_NOTE)}. route: routed, no"
echo "rules (conntrack is never loaded in that netns)."
echo
echo "| path | conn/s | p50 / p99 us | x $REF |"
echo "|---|---|---|---|"
for c in "${CFGS[@]}"; do
  echo "| $(label "$c") | $(cell "$c") | $(lat "$c") | $(ratio "$(med "$c")" "$(med "$REF")") |"
done
echo
echo "- flows + policy vs flows only (xvr): $(ratio "$(med xvr-pol)" "$(med xvr-flows)") (median over median, same rounds)."
echo "- conntrack vs none (kernel, routed): $(ratio "$(med "$REF")" "$(med route)")."
echo
echo "Path checks from the same run (measured rounds only):"
echo
for c in "${CFGS[@]}"; do
  case $c in
    xvr-*)
      echo "- $c: client connections ${CONNS[$c]}, errors ${ERR[$c]}; flow pairs created (xvr_flow_stats) +${CHECK[$c]}; agent CPU during the rounds ${CPU[$c]} s; after the rounds: $(jq -c '{live_pairs, capacity, counters: (.counters | {created, reopened, create_failed}), gc: (.gc | {runs, deleted_pairs, total_duration_us})}' <<<"${FS[$c]}")."
      ;;
    *-ct-*)
      echo "- $c: client connections ${CONNS[$c]}, errors ${ERR[$c]}; packets accepted by the ctstate NEW rule +${CHECK[$c]} (one per new connection); nf_conntrack_count after the rounds ${CT_COUNT[$c]}."
      ;;
    *) echo "- $c: client connections ${CONNS[$c]}, errors ${ERR[$c]}; nf_conntrack_count after the rounds ${CT_COUNT[$c]} (conntrack not in the path)." ;;
  esac
done
echo "- Policy enforced in the policy lab before the rounds: $DENIED_CHECK."
echo
