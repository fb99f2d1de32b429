#!/usr/bin/env bash
# netpol.sh [--attach xdp|tc] — NetworkPolicy, proven on the full
# reachability matrix the way upstream's netpol e2e does, in a two-node lab
# (ip_forward=0, no bridge, no tunnel device on the nodes).
#
# Run as root: bash test/e2e/netpol.sh [--attach tc] (ctest -R e2e_netpol).
# Namespaces x, y, z (labels ns: x|y|z) with pods a, b, c each (label pod:
# a|b|c; containerPorts serve-80-tcp, serve-81-tcp, serve-80-udp,
# serve-81-udp), spread round-robin over n1 and n2 so that x/a (n1) is
# reached from local and from remote pods. Every pod runs svc_tool.py serve on
# TCP and UDP 80 and 81 and has its own ClusterIP Service (s-NS-POD) with
# those four ports. Pods are created through the CNI as a runtime would
# (K8S_POD_NAMESPACE/K8S_POD_NAME), their Pod objects (labels, ports,
# status.podIPs) written to the lab's manifests once the IPs are known.
#
# Each case writes or replaces manifests, waits until every agent has
# applied them (GET /v1/policy: every node compiled the new cluster state,
# and the policy generation moved on the nodes whose pods it concerns), then
# compares
# the whole 9x9x{TCP 80, TCP 81, UDP 80, UDP 81} matrix, every pod probing
# every pod's ClusterIP at once (netpol_probe.py: 1 s timeout, TCP denied =
# silent drop, UDP = request/answer; answers name the backend and the
# client address it saw, so a wrong backend or a SNATed client is a
# failure). Expectations are netpol_probe.py's Reachability language;
# a pod to its own ClusterIP (hairpin, SNATed to the node) is always allowed.
#   A. default allow; the probes' connections are in `xvrctl flows` with
#      bytes and pod names on both ends; `xvrctl flows flush` removes them.
#   B. deny-all ingress in x; policy_denied_ingress counted where it must be
#      (the destination's node: its pod hook for local sources, xdp_fabric for
#      remote ones); `xvrctl drops` names both pods; the node itself (host
#      identity) still reaches its isolated pod.
#   C. + allow x/a from namespace y (namespaceSelector).
#   D. allow x/a from pod b in namespace z (podSelector AND
#      namespaceSelector in one peer), then the OR form (two peers).
#   E. ports: x/a only on serve-81-tcp (a named port, resolved on x/a); on
#      UDP without a port (every UDP port); on UDP 81 (never TCP 81).
#   F. endPort: TCP 80-81, then 81-81.
#   G. ipBlock: the cluster CIDR except the /32 of y/b (x/a's node) and of
#      z/b (the other node); a second policy re-allows y/b by selectors.
#   H. egress deny-all from x/a but UDP port 80 (the "DNS-like" allowance);
#      policy_denied_egress on x/a's node. Then egress to serve-81-udp (a
#      named port, resolved on the destinations), to an ipBlock of n2's pod
#      CIDR (matched on the backend, not on the ClusterIP probed), and an
#      egress rule without policyTypes (isolates for Ingress too).
#   I. a policy updated in place: A (x/a from y) then B under the same
#      name (x/b from z): only B holds.
#   J. relabelling pods: a source (y/c becomes pod: b) gains access, a
#      destination (x/b becomes pod: a) becomes isolated; labels restored.
#   K. relabelling a namespace: z gets team: blue and reaches x/a.
#   L. established connections are re-evaluated: two held TCP connections
#      into x/a; a policy that still allows one of them cuts the other
#      (flows stats reeval_denied). One UDP flow (a single 5-tuple) into
#      x/a is denied, then answered within 1.5 s of a policy allowing it
#      (namespaceSelector matchExpressions In), then cut again.
#   M. all policies deleted: everything allowed again.
#   N. the kernel path stayed off.
ATTACH=xdp
[ "${1:-}" = "--attach" ] && ATTACH=${2:-xdp}
TEST_NAME=netpol_$ATTACH
# shellcheck source=test/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
case $ATTACH in
  xdp) HOOK=xdp_pod ;;
  tc) HOOK=tc_pod ;;
  *) fail "--attach: xdp or tc" ;;
esac
TOOL=$E2E_DIR/svc_tool.py
PROBE=$E2E_DIR/netpol_probe.py
NSS=(x y z)
PODS=(a b c)
T0=$(date +%s)

e2e_start
command -v python3 >/dev/null || fail "python3 not installed"
e2e_cluster_up --nodes 2 --pods-per-node 0 --attach "$ATTACH"
assert_cluster_kernel_path_off
assert_fabric_attached
lab cluster-wait "$LAB" --timeout 30 || fail "overlay not programmed"
MANIFESTS=$(jq -r .manifests <<<"$CLUSTER_JSON")
CLUSTER_CIDR=$(jq -r .clusterCIDR <<<"$CLUSTER_JSON")

ctl() { # NODE ARGS...
  "$XVR_BIN/xvrctl" --socket "$(lab path "$LAB/$1" socket)" "${@:2}"
}

# --- manifests ------------------------------------------------------------------

# put_manifest NAME YAML: atomically, as a ConfigMap update would.
put_manifest() {
  printf '%s\n' "$2" >"$MANIFESTS/.$1.tmp"
  mv "$MANIFESTS/.$1.tmp" "$MANIFESTS/$1.yaml"
}
del_manifest() { rm -f "$MANIFESTS/$1.yaml"; }

# Namespace labels: NS_LABELS[x]="ns: x" etc.; put_namespaces writes them.
declare -A NS_LABELS=([x]="ns: x" [y]="ns: y" [z]="ns: z")
put_namespaces() {
  local y="" ns
  for ns in "${NSS[@]}"; do
    y+="apiVersion: v1
kind: Namespace
metadata: {name: $ns, uid: uid-ns-$ns, labels: {${NS_LABELS[$ns]}}}
---
"
  done
  put_manifest namespaces "$y"
}

# Pods: NODE_OF[x/a]=n1, IP_OF[x/a], SVC_OF[x/a], LABEL_OF[x/a]="pod: a".
declare -A NODE_OF IP_OF SVC_OF LABEL_OF
put_pod() { # NS NAME
  local id=$1/$2 c="" p proto
  for p in 80 81; do
    for proto in tcp udp; do
      c+="
  - name: cont-$p-$proto
    image: registry.k8s.io/e2e-test-images/agnhost:2.53
    ports:
    - {name: serve-$p-$proto, containerPort: $p, protocol: ${proto^^}}"
    done
  done
  put_manifest "pod-$1-$2" "apiVersion: v1
kind: Pod
metadata:
  name: $2
  namespace: $1
  uid: uid-pod-$1-$2
  labels: {${LABEL_OF[$id]}}
spec:
  nodeName: $LAB-${NODE_OF[$id]}
  containers:$c
status:
  phase: Running
  podIP: ${IP_OF[$id]}
  podIPs:
  - {ip: ${IP_OF[$id]}}"
}

put_service() { # NS NAME: s-NS-NAME, selector pod=NAME, its EndpointSlice
  local id=$1/$2 ports="" eports="" p proto
  for p in 80 81; do
    for proto in tcp udp; do
      ports+="
  - {name: serve-$p-$proto, port: $p, targetPort: $p, protocol: ${proto^^}}"
      eports+="
- {name: serve-$p-$proto, port: $p, protocol: ${proto^^}}"
    done
  done
  put_manifest "svc-$1-$2" "apiVersion: v1
kind: Service
metadata: {name: s-$1-$2, namespace: $1, uid: uid-svc-$1-$2}
spec:
  type: ClusterIP
  clusterIP: ${SVC_OF[$id]}
  selector: {pod: $2}
  ports:$ports
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: s-$1-$2-1
  namespace: $1
  labels: {kubernetes.io/service-name: s-$1-$2}
addressType: IPv4
endpoints:
- addresses: [${IP_OF[$id]}]
  conditions: {ready: true}
  nodeName: $LAB-${NODE_OF[$id]}
  targetRef: {kind: Pod, namespace: $1, name: $2, uid: uid-pod-$1-$2}
ports:$eports"
}

# put_np NS NAME SPEC: NetworkPolicy NS/NAME with SPEC (flow-style YAML).
put_np() {
  put_manifest "np-$1-$2" "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: $2, namespace: $1, uid: uid-np-$1-$2}
spec: $3"
}
del_np() { del_manifest "np-$1-$2"; }
del_all_np() { rm -f "$MANIFESTS"/np-*.yaml; }

# --- pods through the CNI -------------------------------------------------------------

# add_k8s_pod NODE NS NAME: netns $LAB-NODE-NSNAME and a CNI ADD made as a
# runtime makes it for Pod NS/NAME (xvr-lab's add-pod always says
# default/POD). The container id and result go where xvr-lab keeps its own
# pods' (pods/POD.cid, pods/POD.json): `xvr-lab ip` reads the address and
# `xvr-lab down` sends the CNI DEL.
add_k8s_pod() {
  local node=$1 ns=$2 name=$3 pod=$2$3 pods sock node_ns netns cid conf out rc=0
  pods=$(lab path "$LAB/$node" pods)
  sock=$(lab path "$LAB/$node" socket)
  node_ns=$(lab path "$LAB/$node" node-netns)
  netns=$LAB-$node-$pod
  ip netns add "$netns"
  ip -n "$netns" link set lo up
  cid=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  echo "$cid" >"$pods/$pod.cid"
  conf=$(jq -cn --arg sock "$sock" '{cniVersion:"1.1.0", name:"xvr", type:"xvr-cni", agentSocket:$sock}')
  out=$(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin CNI_COMMAND=ADD CNI_CONTAINERID="$cid" \
    CNI_NETNS="/run/netns/$netns" CNI_IFNAME=eth0 CNI_PATH="$XVR_BIN" \
    CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=$ns;K8S_POD_NAME=$name" \
    timeout 30 nsenter --net="/run/netns/$node_ns" -- "$XVR_BIN/xvr-cni" <<<"$conf" \
    2>>"$WORK/cni.log") || rc=$?
  ((rc == 0)) || fail "CNI ADD $ns/$name on $node (exit $rc): $out $(tail -n 5 "$WORK/cni.log")"
  echo "$out" >"$pods/$pod.json"
}

log "pods: x, y, z x a, b, c, round-robin over n1 and n2, through the CNI"
i=0
for ns in "${NSS[@]}"; do
  for p in "${PODS[@]}"; do
    id=$ns/$p
    NODE_OF[$id]=n$((i % 2 + 1))
    SVC_OF[$id]=10.96.100.$((10 + i))
    LABEL_OF[$id]="pod: $p"
    add_k8s_pod "${NODE_OF[$id]}" "$ns" "$p"
    IP_OF[$id]=$(cpod_ip "${NODE_OF[$id]}" "$ns$p")
    i=$((i + 1))
  done
done
pod_of() { echo "${NODE_OF[$1]}-${1/\//}"; } # x/a -> n1-xa (in_pod's name)

# The cluster file netpol_probe.py reads.
{
  for ns in "${NSS[@]}"; do
    for p in "${PODS[@]}"; do
      id=$ns/$p
      jq -cn --arg ns "$ns" --arg name "$p" --arg node "${NODE_OF[$id]}" \
        --arg netns "$LAB-$(pod_of "$id")" --arg ip "${IP_OF[$id]}" --arg svc "${SVC_OF[$id]}" \
        '{ns: $ns, name: $name, node: $node, netns: $netns, ip: $ip, svc: $svc}'
    done
  done
} | jq -s '{pods: .}' >"$WORK/cluster.json"
jq -r '.pods[] | "  \(.ns)/\(.name) \(.node) \(.ip) ClusterIP \(.svc)"' "$WORK/cluster.json" |
  while read -r line; do log "$line"; done

for ns in "${NSS[@]}"; do
  for p in "${PODS[@]}"; do
    # (stderr: a client closing with a RST, e.g. nc -z, shows up there)
    in_pod "$(pod_of "$ns/$p")" python3 "$TOOL" serve "$ns/$p" 80 81 2>>"$WORK/serve.log" &
  done
done
put_namespaces
for ns in "${NSS[@]}"; do
  for p in "${PODS[@]}"; do
    put_pod "$ns" "$p"
    put_service "$ns" "$p"
  done
done
for ns in "${NSS[@]}"; do
  for p in "${PODS[@]}"; do
    wait_listen "$(pod_of "$ns/$p")" 81
  done
done
frontends_at_least() { # NODE N
  local c
  c=$(ctl "$1" -o json services 2>/dev/null | jq '.services | length') || return 1
  ((c >= $2))
}
for n in n1 n2; do
  wait_for 15 frontends_at_least "$n" 36 ||
    fail "$n: the 36 frontends are not programmed: $(ctl "$n" services 2>&1 | tail -n 5)"
  log "  $n: 9 services x 4 ports programmed in $WAITED_MS ms"
done

# --- policy application --------------------------------------------------------------

# GET /v1/policy: clusterGeneration = the ClusterState generation last
# compiled (moves on every node for every Pod, Namespace or NetworkPolicy
# change); generation = the data path's policy generation (moves only where
# the maps were rewritten, i.e. on the nodes of the pods a change concerns).
pol() { ctl "$1" -o json policy 2>/dev/null; }
gens() { pol "$1" | jq -r '"\(.clusterGeneration) \(.generation)"'; } # NODE: "CG PG"
declare -A CG0 PG0
gens_snap() {
  local n g
  for n in n1 n2; do
    g=$(gens "$n") || fail "$n: GET /v1/policy failed"
    CG0[$n]=${g% *}
    PG0[$n]=${g#* }
  done
}
LAST_GENS="" LAST_T=0
settled() { # every node compiled a newer cluster state, and nothing moved for 300 ms
  local n g all=""
  for n in n1 n2; do
    g=$(gens "$n") || return 1
    [[ ${g% *} != "${CG0[$n]}" ]] || return 1
    all+="$n $g; "
  done
  if [[ $all != "$LAST_GENS" ]]; then
    LAST_GENS=$all
    LAST_T=$(date +%s%N)
    return 1
  fi
  (($(date +%s%N) - LAST_T >= 300000000))
}
# applied WHAT NODES...: the change made since gens_snap is compiled on every
# node and NODES (those running pods it concerns) rewrote their maps.
applied() {
  local what=$1 n g
  shift
  LAST_GENS=""
  wait_for 10 settled ||
    fail "$what: not compiled on every node (before: n1 ${CG0[n1]}, n2 ${CG0[n2]}; now: n1 $(gens n1), n2 $(gens n2))"
  for n in "$@"; do
    g=$(gens "$n")
    [[ ${g#* } != "${PG0[$n]}" ]] ||
      fail "$what: $n compiled cluster state ${g% *} but its policy generation stayed ${PG0[$n]}: $(pol "$n" | jq -c '{stats, warnings, notEnforcedReason}')"
  done
  log "  $what: compiled everywhere, maps rewritten on $* (${WAITED_MS} ms incl. 300 ms quiet; policy generation n1 ${PG0[n1]} -> $(gens n1 | cut -d' ' -f2), n2 ${PG0[n2]} -> $(gens n2 | cut -d' ' -f2))"
}

# matrix CASE EXPECT: the full matrix must be EXPECT (netpol_probe.py).
matrix() {
  local out rc=0
  out=$(python3 "$PROBE" matrix "$WORK/cluster.json" "$2" --case "$1" 2>&1) || rc=$?
  ((rc == 0)) || {
    printf '%s\n' "$out" >&2
    fail "$1: reachability matrix differs from '$2'"
  }
  log "  $out"
}

# Path proof of the deny cases. count ALLOW|DENY FROM_NODE TO_NODE EXPECT:
# cells (probe packets at least) that EXPECT allows/denies between pods on
# those nodes ('*' any), loopback excluded.
count() { python3 "$PROBE" count "$WORK/cluster.json" "$4" "$1" "$2" "$3"; }
snap_all() { snap_on n1 "$1"; snap_on n2 "$1"; }

# Ingress denials are counted on the destination's node: at its pod hook
# when the source is local, at xdp_fabric when the packet came decapsulated.
assert_ingress_drops() { # SNAP EXPECT
  local n o
  for n in n1 n2; do
    [[ $n == n1 ]] && o=n2 || o=n1
    assert_rose_on "$n" "$1" "$HOOK" drop policy_denied_ingress "$(count deny "$n" "$n" "$2")" \
      "ingress denied to $n's pods from local pods"
    assert_rose_on "$n" "$1" xdp_fabric drop policy_denied_ingress "$(count deny "$o" "$n" "$2")" \
      "ingress denied to $n's pods from $o's pods"
  done
}

ALL="all allow"
X_ISOLATED="all allow; */* -> x/* deny; loopback"

# --- A. default allow, flows ----------------------------------------------------------

log "A. default allow: every pod reaches every pod's ClusterIP on TCP/UDP 80/81"
ctl n1 flows flush >/dev/null || fail "xvrctl flows flush failed on n1"
snap_all a
matrix "default allow" "$ALL"
for n in n1 n2; do
  [[ $n == n1 ]] && o=n2 || o=n1
  assert_rose_on "$n" a "$HOOK" redirect ok "$(count allow "$n" '*' "$ALL")" "$n's pod hook"
  assert_rose_on "$n" a xdp_fabric redirect ok "$(count allow "$o" "$n" "$ALL")" "$n's fabric"
done

# Flows of a few pairs: y/b (n1) -> x/a (n1) TCP 80, z/b (n2) -> x/a UDP 81
# on the receiving node, x/a -> x/b (n2) TCP 81 on both nodes.
flows_json() { ctl "$1" -o json flows "${@:2}"; } # NODE [FILTERS]
check_flow() { # NODE SRC_ID DST_ID PROTO DPORT
  local f n all svc
  # Through the filters (--pod, --proto, --port): every flow they return
  # involves the pod; among them, the pair's.
  all=$(flows_json "$1" --pod "$2" --proto "$4" --port "$5") || fail "xvrctl flows --pod $2 on $1 failed"
  n=$(jq --arg p "$2" --arg pr "$4" --argjson port "$5" '[.flows[] | select((.src_pod != $p and .dst_pod != $p)
      or (.proto | tostring | ascii_downcase) != $pr or (.dport != $port and .sport != $port))] | length' <<<"$all")
  assert_eq "$n" 0 "$1: flows returned by xvrctl flows --pod $2 --proto $4 --port $5 that do not match them"
  f=$(jq -c --arg s "${IP_OF[$2]}" --arg d "${IP_OF[$3]}" --argjson port "$5" \
    '.flows[] | select(.src == $s and .dst == $d and .dport == $port)' <<<"$all")
  n=$(grep -c . <<<"$f" || true)
  ((n >= 1)) || fail "$1: no flow $2 -> $3 $4/$5 in xvrctl flows: $(flows_json "$1" | jq -c '.flows[:3]')"
  # Keyed by the backend (post-DNAT); the client's node (which translated)
  # also knows the ClusterIP the client addressed.
  svc=any
  [[ ${NODE_OF[$2]} == "$1" ]] && svc=${SVC_OF[$3]}:$5
  jq -e --arg sp "$2" --arg dp "$3" --arg svc "$svc" 'select(.bytes > 0 and .packets > 0 and
      .reply_bytes > 0 and .src_pod == $sp and .dst_pod == $dp and ($svc == "any" or .service == $svc))' \
    <<<"$f" >/dev/null ||
    fail "$1: flow $2 -> $3 $4/$5 lacks bytes both ways, pod names or service $svc: $f"
  log "  $1: $n flow(s) $2 -> $3 $4/$5, e.g. $(head -n 1 <<<"$f" | jq -c '{src_pod, dst_pod, service, state, packets, bytes, reply_bytes}')"
}
check_flow n1 y/b x/a tcp 80
check_flow n1 z/b x/a udp 81
check_flow n1 x/a x/b tcp 81
check_flow n2 x/a x/b tcp 81
ours() { # NODE: flows between our pods' addresses
  flows_json "$1" | jq --argjson ips "$(printf '%s\n' "${IP_OF[@]}" | jq -R . | jq -sc .)" \
    '[.flows[] | select((.src as $s | $ips | index($s)) and (.dst as $d | $ips | index($d)))] | length'
}
before=$(ours n1)
assert_ge "$before" 100 "n1: flows between the lab's pods after the matrix"
of_yb=$(flows_json n1 --pod y/b | jq '.flows | length')
assert_ge "$of_yb" 36 "n1: flows of y/b"
ctl n1 flows flush --pod y/b >/dev/null || fail "xvrctl flows flush --pod y/b failed"
assert_eq "$(flows_json n1 --pod y/b | jq '.flows | length')" 0 "n1: flows of y/b after xvrctl flows flush --pod y/b"
assert_ge "$(ours n1)" "$((before - of_yb))" "n1: flows between the pods after flushing y/b's (the others stay)"
ctl n1 flows flush >/dev/null || fail "xvrctl flows flush failed"
assert_eq "$(ours n1)" 0 "n1: the probes' flows after xvrctl flows flush"
log "  n1: $before flows between the pods, $of_yb of them y/b's; flush --pod y/b took those, flush the rest"

# --- B. deny-all ingress in x -----------------------------------------------------------

log "B. deny-all ingress in namespace x"
gens_snap
put_np x deny-all '{podSelector: {}, policyTypes: [Ingress]}'
applied "x/deny-all" n1 n2
for n in n1 n2; do
  iso=$(pol "$n" | jq -c '[.endpoints[] | select(.isolation.ingress) | .pod] | sort')
  assert_eq "$iso" "$(for id in x/a x/b x/c; do [[ ${NODE_OF[$id]} == "$n" ]] && echo "$id"; done | jq -R . | jq -sc 'sort')" \
    "$n: pods isolated for ingress (GET /v1/policy endpoints)"
  ctl "$n" policy >"$WORK/policy-$n.txt" || fail "$n: xvrctl policy failed"
  log "  $n: isolated for ingress: $iso; xvrctl policy prints $(wc -l <"$WORK/policy-$n.txt") lines"
done
snap_all b
matrix "deny-all ingress x" "$X_ISOLATED"
assert_ingress_drops b "$X_ISOLATED"
# Drop events are rate-limited: after a pause, one more connection attempt
# y/b -> x/a (both on n1), then its drop must be in n1's xvrctl drops.
sleep 1
if in_pod "$(pod_of y/b)" timeout 3 nc -z -w 1 "${SVC_OF[x/a]}" 80; then
  fail "y/b -> x/a:80 connected under x/deny-all"
fi
policy_drop() { # NODE SRC_ID DST_ID REASON: the latest such drop event
  ctl "$1" -o json drops | jq -ce --arg s "$2" --arg d "$3" --arg r "$4" \
    '[.drops[] | select(.reason == $r and .src_pod == $s and .dst_pod == $d)] | last // empty'
}
d=$(policy_drop n1 y/b x/a policy_denied_ingress) ||
  fail "n1: xvrctl drops has no policy_denied_ingress y/b -> x/a: $(ctl n1 -o json drops | jq -c '.drops[-3:]')"
log "  n1 xvrctl drops: $d"
# The node itself (kubelet's probes) is the host identity: always allowed.
in_cnode "${NODE_OF[x/a]}" nc -z -w 2 "${IP_OF[x/a]}" 80 ||
  fail "node ${NODE_OF[x/a]} cannot reach its pod x/a (${IP_OF[x/a]}:80) under x/deny-all"
log "  node ${NODE_OF[x/a]} -> x/a ${IP_OF[x/a]}:80 connects (host identity)"

# --- C. allow from a namespace ----------------------------------------------------------

log "C. + allow x/a from namespace y"
gens_snap
put_np x allow-y '{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{namespaceSelector: {matchLabels: {ns: y}}}]}]}'
applied "x/allow-y" n1
matrix "x/a from ns y" "$X_ISOLATED; y/* -> x/a allow"

# --- D. podSelector AND namespaceSelector, then OR ---------------------------------------------

log "D. allow x/a from pod b in namespace z: one peer (AND), then two peers (OR)"
gens_snap
del_np x allow-y
put_np x allow-zb '{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{namespaceSelector: {matchLabels: {ns: z}}, podSelector: {matchLabels: {pod: b}}}]}]}'
applied "x/allow-zb (AND)" n1
matrix "x/a from z/b (AND)" "$X_ISOLATED; z/b -> x/a allow"
gens_snap
put_np x allow-zb '{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{namespaceSelector: {matchLabels: {ns: z}}}, {podSelector: {matchLabels: {pod: b}}}]}]}'
applied "x/allow-zb (OR)" n1
matrix "x/a from ns z or x/b (OR)" "$X_ISOLATED; z/* -> x/a allow; x/b -> x/a allow"

# --- E. named port ---------------------------------------------------------------------

log "E. ports: x/a from every namespace on serve-81-tcp only (named), UDP (no port), UDP 81"
gens_snap
del_np x allow-zb
put_np x named '{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{namespaceSelector: {}}], ports: [{port: serve-81-tcp}]}]}'
applied "x/named" n1
matrix "named port serve-81-tcp" "$X_ISOLATED; */* -> x/a tcp/81 allow"
gens_snap
put_np x named '{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{namespaceSelector: {}}], ports: [{protocol: UDP}]}]}'
applied "x/named -> protocol UDP, no port" n1
matrix "UDP, every port" "$X_ISOLATED; */* -> x/a udp/* allow"
gens_snap
put_np x named '{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{namespaceSelector: {}}], ports: [{protocol: UDP, port: 81}]}]}'
applied "x/named -> UDP 81" n1
matrix "UDP 81 admits no TCP 81" "$X_ISOLATED; */* -> x/a udp/81 allow"

# --- F. endPort -----------------------------------------------------------------------

log "F. endPort: TCP 80-81, then 81-81"
gens_snap
del_np x named
put_np x range '{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{namespaceSelector: {}}], ports: [{protocol: TCP, port: 80, endPort: 81}]}]}'
applied "x/range 80-81" n1
matrix "endPort 80-81" "$X_ISOLATED; */* -> x/a tcp/* allow"
gens_snap
put_np x range '{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{namespaceSelector: {}}], ports: [{protocol: TCP, port: 81, endPort: 81}]}]}'
applied "x/range 81-81" n1
matrix "endPort 81-81" "$X_ISOLATED; */* -> x/a tcp/81 allow"

# --- G. ipBlock with except ----------------------------------------------------------------

log "G. ipBlock $CLUSTER_CIDR except y/b (${IP_OF[y/b]}, x/a's node) and z/b (${IP_OF[z/b]}, the other); y/b re-allowed by another policy"
gens_snap
del_np x range
put_np x cidr "{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{ipBlock: {cidr: $CLUSTER_CIDR, except: [${IP_OF[y/b]}/32, ${IP_OF[z/b]}/32]}}]}]}"
applied "x/cidr" n1
matrix "ipBlock except" "$X_ISOLATED; */* -> x/a allow; y/b -> x/a deny; z/b -> x/a deny; loopback"
gens_snap
put_np x allow-yb '{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{namespaceSelector: {matchLabels: {ns: y}}, podSelector: {matchLabels: {pod: b}}}]}]}'
applied "x/allow-yb" n1
matrix "except re-allowed by another policy" "$X_ISOLATED; */* -> x/a allow; z/b -> x/a deny; loopback"

# --- H. egress -----------------------------------------------------------------------------

log "H. egress deny-all from x/a, UDP port 80 allowed (DNS-like); a named port; an ipBlock; default policyTypes"
gens_snap
del_all_np
put_np x egress '{podSelector: {matchLabels: {pod: a}}, policyTypes: [Egress], egress: [{ports: [{protocol: UDP, port: 80}]}]}'
applied "x/egress" n1 n2
EGRESS="all allow; x/a -> */* deny; x/a -> */* udp/80 allow; loopback"
snap_all h
matrix "egress x/a: UDP 80 only" "$EGRESS"
# x/a is on n1: every denied probe of it is dropped there, at its pod hook.
assert_rose_on "${NODE_OF[x/a]}" h "$HOOK" drop policy_denied_egress "$(count deny '*' '*' "$EGRESS")" \
  "x/a's egress denied on its node"
gens_snap
put_np x egress '{podSelector: {matchLabels: {pod: a}}, policyTypes: [Egress], egress: [{ports: [{protocol: UDP, port: serve-81-udp}]}]}'
applied "x/egress -> named port serve-81-udp" n1
matrix "egress x/a: serve-81-udp (named, on the destinations)" "all allow; x/a -> */* deny; x/a -> */* udp/81 allow; loopback"
# Egress ipBlock is matched against the backend, not the ClusterIP probed.
N2_CIDR=$(node_cidr n2)
gens_snap
put_np x egress "{podSelector: {matchLabels: {pod: a}}, policyTypes: [Egress], egress: [{to: [{ipBlock: {cidr: $N2_CIDR}}]}]}"
applied "x/egress -> ipBlock $N2_CIDR" n1
to_n2=""
for id in "${!NODE_OF[@]}"; do
  [[ ${NODE_OF[$id]} == n2 ]] && to_n2+="; x/a -> $id allow"
done
matrix "egress x/a: ipBlock $N2_CIDR (n2's pods)" "all allow; x/a -> */* deny$to_n2; loopback"
# No policyTypes and an egress rule: isolated for Ingress and Egress.
gens_snap
put_np x egress '{podSelector: {matchLabels: {pod: a}}, egress: [{ports: [{protocol: UDP, port: 80}]}]}'
applied "x/egress -> no policyTypes" n1
matrix "default policyTypes: Ingress + Egress" "$EGRESS; */* -> x/a deny; loopback"

# --- I. update replaces the spec ------------------------------------------------------------

log "I. a policy updated in place: A (x/a from y), then B (x/b from z) under the same name"
gens_snap
del_all_np
put_np x upd '{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{namespaceSelector: {matchLabels: {ns: y}}}]}]}'
applied "x/upd A" n1
matrix "update: A" "all allow; */* -> x/a deny; y/* -> x/a allow; loopback"
gens_snap
put_np x upd '{podSelector: {matchLabels: {pod: b}}, ingress: [{from: [{namespaceSelector: {matchLabels: {ns: z}}}]}]}'
applied "x/upd B" n1 n2
matrix "update: B only" "all allow; */* -> x/b deny; z/* -> x/b allow; loopback"

# --- J. relabelling pods -----------------------------------------------------------------------

log "J. relabelling pods: x/a admits pods labelled pod: b from any namespace"
gens_snap
del_all_np
put_np x from-b '{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{namespaceSelector: {}, podSelector: {matchLabels: {pod: b}}}]}]}'
applied "x/from-b" n1 n2
FROM_B="all allow; */* -> x/a deny; */b -> x/a allow; loopback"
matrix "x/a from */b" "$FROM_B"
gens_snap
LABEL_OF[y/c]="pod: b"
put_pod y c
applied "y/c relabelled pod: b" n1 n2
matrix "y/c is a b now" "$FROM_B; y/c -> x/a allow"
gens_snap
LABEL_OF[x/b]="pod: a"
put_pod x b
applied "x/b relabelled pod: a" n1 n2
# Labelled b now: y/b, z/b, y/c (x/b is an a); isolated: x/a and x/b.
matrix "x/b is an a now" "all allow; */* -> x/[ab] deny; y/b -> x/[ab] allow; z/b -> x/[ab] allow; y/c -> x/[ab] allow; loopback"
gens_snap
LABEL_OF[y/c]="pod: c"
LABEL_OF[x/b]="pod: b"
put_pod y c
put_pod x b
applied "labels restored" n1 n2
matrix "labels restored" "$FROM_B"

# --- K. relabelling a namespace ---------------------------------------------------------------

log "K. relabelling a namespace: x/a admits namespaces labelled team: blue"
gens_snap
del_all_np
put_np x team '{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{namespaceSelector: {matchLabels: {team: blue}}}]}]}'
applied "x/team" n1
matrix "no team: blue namespace" "all allow; */* -> x/a deny; loopback"
gens_snap
NS_LABELS[z]="ns: z, team: blue"
put_namespaces
applied "namespace z labelled team: blue" n1
matrix "z is team: blue" "all allow; */* -> x/a deny; z/* -> x/a allow; loopback"
gens_snap
NS_LABELS[z]="ns: z"
put_namespaces
applied "namespace z label removed" n1
matrix "z not team: blue" "all allow; */* -> x/a deny; loopback"

# --- L. established connections ----------------------------------------------------------------

log "L. held connections into x/a: the one a new policy denies is cut, the allowed one lives"
gens_snap
del_all_np
applied "policies deleted" n1
rm -f "$WORK/go"
in_pod "$(pod_of y/a)" python3 "$TOOL" hold "${SVC_OF[x/a]}" 80 "$WORK/go" "$WORK/done-y" >"$WORK/held-y" 2>&1 &
held_y=$!
in_pod "$(pod_of z/a)" python3 "$TOOL" hold "${SVC_OF[x/a]}" 80 "$WORK/go" "$WORK/done-z" >"$WORK/held-z" 2>&1 &
held_z=$!
wait_for 5 test -s "$WORK/held-y" || fail "y/a's held connection got no answer"
wait_for 5 test -s "$WORK/held-z" || fail "z/a's held connection got no answer"
log "  held: y/a (${NODE_OF[y/a]}) -> x/a: $(cat "$WORK/held-y"); z/a (${NODE_OF[z/a]}) -> x/a: $(cat "$WORK/held-z")"
gens_snap
put_np x deny-all '{podSelector: {}, policyTypes: [Ingress]}'
put_np x allow-y '{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{namespaceSelector: {matchLabels: {ns: y}}}]}]}'
applied "x/deny-all + x/allow-y" n1 n2
snap_all l
reeval_denied() { ctl "$1" -o json flows stats | jq '.counters.reeval_denied'; }
rd0=$(reeval_denied "${NODE_OF[x/a]}")
touch "$WORK/go"
wait "$held_y" || fail "y/a's held connection into x/a broke, but x/allow-y allows it: $(cat "$WORK/held-y")"
log "  y/a's connection still echoes: $(cat "$WORK/done-y")"
if wait "$held_z"; then
  fail "z/a's held connection into x/a still echoes after x/deny-all: $(cat "$WORK/done-z")"
fi
# z/a and x/a are both on n1: its next packet met the new policy at the pod hook.
assert_rose_on "${NODE_OF[x/a]}" l "$HOOK" drop policy_denied_ingress 1 "z/a's held connection"
rd=$(reeval_denied "${NODE_OF[x/a]}")
assert_ge "$((rd - rd0))" 1 "${NODE_OF[x/a]}: flows re-evaluated and ended by the policy (flows stats reeval_denied)"
log "  ${NODE_OF[x/a]}: xvrctl flows stats reeval_denied $rd0 -> $rd"
log "  z/a's connection was cut: $(tail -n 1 "$WORK/held-z")"
matrix "x isolated, x/a from y" "$X_ISOLATED; y/* -> x/a allow"

log "  one UDP flow z/b -> x/a:81 (a single 5-tuple): denied, allowed, denied as x/allow-y changes"
now() { date +%s.%N; }
in_pod "$(pod_of z/b)" python3 "$PROBE" udp-stream "${SVC_OF[x/a]}" 81 30 >"$WORK/stream" 2>"$WORK/stream.err" &
stream=$!
sleep 1.5
t_allow=$(now)
gens_snap
put_np x allow-y '{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{namespaceSelector: {matchExpressions: [{key: ns, operator: In, values: [y, z]}]}}]}]}'
applied "x/allow-y -> ns in (y, z)" n1
t_allowed=$(now)
sleep 1.5
t_deny=$(now)
gens_snap
put_np x allow-y '{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{namespaceSelector: {matchLabels: {ns: y}}}]}]}'
applied "x/allow-y -> ns y" n1
t_denied=$(now)
sleep 1.5
t_end=$(now)
kill "$stream" 2>/dev/null || true
wait "$stream" 2>/dev/null || true
answers_in() { awk -v a="$1" -v b="$2" '$1 >= a && $1 < b' "$WORK/stream" | wc -l; } # FROM TO (epoch s)
first_after() { awk -v a="$1" '$1 >= a {printf "%.0f", ($1 - a) * 1000; exit}' "$WORK/stream"; }
last_before() { awk -v b="$1" -v a="$2" '$1 >= a && $1 < b {t = $1} END {if (t) printf "%.0f", (t - a) * 1000}' "$WORK/stream"; }
n=$(answers_in 0 "$t_allow")
assert_eq "$n" 0 "answers to z/b's UDP flow while x/a admitted only y"
n=$(answers_in "$t_allowed" "$t_deny")
assert_ge "$n" 8 "answers to z/b's UDP flow in the 1.5 s after ns in (y, z) was applied"
grep -q "x/a ${IP_OF[z/b]}\$" "$WORK/stream" || fail "z/b's UDP flow: answers not from x/a seeing z/b: $(head -n 2 "$WORK/stream")"
lat_on=$(first_after "$t_allow")
lat_off=$(last_before "$t_denied" "$t_deny")
n=$(answers_in "$(awk -v t="$t_denied" 'BEGIN {printf "%.3f", t + 0.2}')" "$t_end")
assert_eq "$n" 0 "answers to z/b's UDP flow after ns y alone was applied"
((lat_on < 1500)) || fail "z/b's UDP flow: first answer ${lat_on} ms after the policy allowing it was written"
log "  UDP flow: first answer ${lat_on} ms after the allowing policy was written," \
  "last answer ${lat_off:-none} ms after the denying one; $(wc -l <"$WORK/stream") answers in all"

# --- M. delete all policies -------------------------------------------------------------------------

log "M. all policies deleted: everything allowed again"
gens_snap
del_all_np
applied "policies deleted" n1 n2
matrix "policies deleted" "$ALL"

log "N. the kernel path stayed off"
assert_cluster_kernel_path_off
log "runtime $(($(date +%s) - T0)) s"
