#!/usr/bin/env bash
# services.sh [--attach xdp|tc] — Services without kube-proxy, in a two-node
# lab (ip_forward=0, no bridge, no tunnel device, no iptables/nftables rule
# anywhere on the nodes). Pods n1-pod1, n2-pod1 are clients; n1-pod2 and
# n2-pod2 are backends running test/e2e/svc_tool.py (it answers
# "NAME PEER_IP", so each answer names the backend and the source address
# the backend saw). Services are Service + EndpointSlice manifests in the
# lab's manifests directory, which the agents watch.
#   A. ClusterIP TCP and UDP from a pod on each node: both backends answer
#      (Maglev spreads clients' source ports), the client's own address is
#      what the backend sees; the pod hooks and n2's xdp_fabric counted it.
#   B. The node itself reaches the ClusterIP (tc_host_egress), local and
#      remote backend.
#   C. NodePort from the external host: eTP Cluster reaches both backends
#      (the remote one through n1 with the source SNATed to n1's gateway, the
#      local one with the client's address); eTP Local on the node with the
#      endpoint keeps the client's address, on the node without drops
#      (service_no_local_endpoints). externalIP routed to n1 works too.
#   D. sessionAffinity ClientIP: 20 connections, one backend.
#   E. Hairpin: a backend reaching itself through its own service.
#   F. A held TCP connection survives the removal of the other backend;
#      new connections go to the one left.
#   G. A service without endpoints refuses at once: TCP RST, UDP ICMP port
#      unreachable, from pods and from the node; counted as
#      tx/service_no_endpoints.
#   H. SIGKILL of n1's agent: ClusterIP and NodePort keep working while it is
#      down; the restarted agent adopts ids and tables and rewrites nothing;
#      a connection held across it carries on.
#   I. No iptables or nftables rule exists on any node.
ATTACH=xdp
[ "${1:-}" = "--attach" ] && ATTACH=${2:-xdp}
TEST_NAME=services_$ATTACH
# shellcheck source=test/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
case $ATTACH in
  xdp) HOOK=xdp_pod ;;
  tc) HOOK=tc_pod ;;
  *) fail "--attach: xdp or tc" ;;
esac
TOOL=$E2E_DIR/svc_tool.py

e2e_start
e2e_cluster_up --nodes 2 --pods-per-node 2 --attach "$ATTACH"
assert_cluster_kernel_path_off
lab cluster-wait "$LAB" --timeout 30 || fail "overlay not programmed"
MANIFESTS=$(jq -r .manifests <<<"$CLUSTER_JSON")
NIP1=$(node_ip n1)
NIP2=$(node_ip n2)
C1=$(cpod_ip n1 pod1)
C2=$(cpod_ip n2 pod1)
B1=$(cpod_ip n1 pod2)
B2=$(cpod_ip n2 pod2)
GW1=$(on_node n1 pod_gateway pod1)
log "n1 $NIP1 (gateway $GW1), n2 $NIP2; clients $C1 $C2; backends n1-pod2 $B1, n2-pod2 $B2; ext $EXT_IP"

in_pod n1-pod2 python3 "$TOOL" serve b1 8080 9090 &
in_pod n2-pod2 python3 "$TOOL" serve b2 8080 9090 &
wait_listen n1-pod2 8080
wait_listen n2-pod2 8080

# put_manifest NAME YAML: atomically, as a ConfigMap update would.
put_manifest() {
  printf '%s\n' "$2" >"$MANIFESTS/.$1.tmp"
  mv "$MANIFESTS/.$1.tmp" "$MANIFESTS/$1.yaml"
}
# slice NAME SERVICE "IP NODE;IP NODE" PORTNAME PORT PROTO [PORTNAME PORT PROTO]...
slice() {
  local name=$1 svc=$2 eps=$3 y ip node
  shift 3
  y="apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: $name
  namespace: default
  labels: {kubernetes.io/service-name: $svc}
addressType: IPv4
endpoints:"
  [[ -z $eps ]] && y+=" []"
  while IFS=' ' read -r ip node; do
    [[ -n $ip ]] || continue
    y+="
- addresses: [$ip]
  conditions: {ready: true}
  nodeName: $LAB-$node"
  done < <(tr ';' '\n' <<<"$eps")
  y+="
ports:"
  while (($#)); do
    y+="
- {name: $1, port: $2, protocol: $3}"
    shift 3
  done
  echo "$y"
}
BOTH="$B1 n1;$B2 n2"

# put_web "IP NODE;...": the NodePort + externalIP service 'web' with these
# endpoints.
put_web() {
  put_manifest svc-web "apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: NodePort
  clusterIP: 10.96.0.10
  externalIPs: [192.0.2.80]
  ports:
  - {name: http, port: 80, targetPort: 8080, protocol: TCP, nodePort: 30080}
  - {name: dns, port: 53, targetPort: 9090, protocol: UDP}
---
$(slice web-1 web "$1" http 8080 TCP dns 9090 UDP)"
}
put_web "$BOTH"
put_manifest svc-local "apiVersion: v1
kind: Service
metadata: {name: web-local, namespace: default}
spec:
  type: NodePort
  clusterIP: 10.96.0.11
  externalTrafficPolicy: Local
  ports:
  - {name: http, port: 80, targetPort: 8080, protocol: TCP, nodePort: 30081}
---
$(slice web-local-1 web-local "$B2 n2" http 8080 TCP)"
put_manifest svc-sticky "apiVersion: v1
kind: Service
metadata: {name: sticky, namespace: default}
spec:
  clusterIP: 10.96.0.12
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}
  ports:
  - {name: http, port: 80, targetPort: 8080, protocol: TCP}
---
$(slice sticky-1 sticky "$BOTH" http 8080 TCP)"
put_manifest svc-self "apiVersion: v1
kind: Service
metadata: {name: self, namespace: default}
spec:
  clusterIP: 10.96.0.13
  ports:
  - {name: http, port: 80, targetPort: 8080, protocol: TCP}
---
$(slice self-1 self "$B1 n1" http 8080 TCP)"
put_manifest svc-empty "apiVersion: v1
kind: Service
metadata: {name: empty, namespace: default}
spec:
  clusterIP: 10.96.0.30
  ports:
  - {name: http, port: 80, protocol: TCP}
  - {name: dns, port: 53, protocol: UDP}
---
$(slice empty-1 empty "" http 80 TCP dns 53 UDP)"

# Both agents program every frontend.
services_json() { "$XVR_BIN/xvrctl" --socket "$(lab path "$LAB/$1" socket)" -o json services; }
frontends_at_least() { # NODE N
  local c
  c=$(services_json "$1" 2>/dev/null | jq '.services | length') || return 1
  ((c >= $2))
}
for n in n1 n2; do
  wait_for 10 frontends_at_least "$n" 10 ||
    fail "$n: services not programmed: $("$XVR_BIN/xvrctl" --socket "$(lab path "$LAB/$n" socket)" services 2>&1)"
  log "  $n: services programmed in ${WAITED_MS} ms"
done
"$XVR_BIN/xvrctl" --socket "$(lab path "$LAB/n1" socket)" services | sed 's/^/    /'

# answers FROM PROTO HOST PORT COUNT: "NAME PEER" lines, sorted + counted.
answers() {
  local from=$1
  shift
  local -a run=(in_pod "$from")
  [[ $from == node1 ]] && run=(in_cnode n1)
  [[ $from == ext ]] && run=(in_ext)
  "${run[@]}" python3 "$TOOL" "$@" | sort | uniq -c | awk '{print $2" "$3" "$1}'
}
expect_backends() { # WHAT ANSWERS "name peer"...
  local what=$1 out=$2 want
  shift 2
  for want in "$@"; do
    grep -q "^$want " <<<"$out" || fail "$what: no answer '$want'; got: $(tr '\n' ';' <<<"$out")"
  done
  log "  $what: $(tr '\n' ';' <<<"$out")"
}

log "A. ClusterIP from pods on both nodes"
snap_on n1 a
snap_on n2 a
expect_backends "n1-pod1 -> 10.96.0.10:80/TCP" "$(answers n1-pod1 tcp 10.96.0.10 80 30)" "b1 $C1" "b2 $C1"
expect_backends "n2-pod1 -> 10.96.0.10:80/TCP" "$(answers n2-pod1 tcp 10.96.0.10 80 30)" "b1 $C2" "b2 $C2"
expect_backends "n1-pod1 -> 10.96.0.10:53/UDP" "$(answers n1-pod1 udp 10.96.0.10 53 30)" "b1 $C1" "b2 $C1"
expect_backends "n2-pod1 -> 10.96.0.10:53/UDP" "$(answers n2-pod1 udp 10.96.0.10 53 30)" "b1 $C2" "b2 $C2"
assert_rose_on n1 a "$HOOK" redirect ok 60 "pod hook on n1"
assert_rose_on n2 a xdp_fabric redirect ok 30 "n2 fabric (n1 clients' packets to b2)"
assert_rose_on n1 a xdp_fabric redirect ok 30 "n1 fabric (b2's replies)"
ct=$(on_node n1 map_count xvr_svc_ct)
assert_ge "$ct" 60 "n1 xvr_svc_ct entries"

log "B. the node reaches the ClusterIP"
snap_on n1 b
expect_backends "node n1 -> 10.96.0.10:80/TCP" "$(answers node1 tcp 10.96.0.10 80 30)" "b1 $GW1" "b2 $GW1"
assert_rose_on n1 b tc_host_egress redirect ok 30 "tc_host_egress on n1"

log "C. NodePort and externalIP from the external host"
snap_on n1 c
snap_on n2 c
expect_backends "ext -> n1:30080 (eTP Cluster)" "$(answers ext tcp "$NIP1" 30080 30)" "b1 $EXT_IP" "b2 $GW1"
assert_rose_on n1 c xdp_fabric redirect ok 60 "n1 fabric: NodePort in, replies out"
expect_backends "ext -> n2:30081 (eTP Local)" "$(answers ext tcp "$NIP2" 30081 5)" "b2 $EXT_IP"
snap_on n1 c2
out=$(in_ext python3 "$TOOL" tcp "$NIP1" 30081 1 2>&1) && fail "eTP Local on a node without endpoints answered: $out"
assert_rose_on n1 c2 xdp_fabric drop service_no_local_endpoints 1 "eTP Local drop on n1"
in_ext ip route replace 192.0.2.80/32 via "$NIP1"
expect_backends "ext -> 192.0.2.80:80 (externalIP via n1)" "$(answers ext tcp 192.0.2.80 80 20)" "b1 $EXT_IP" "b2 $GW1"

log "D. sessionAffinity ClientIP"
out=$(answers n1-pod1 tcp 10.96.0.12 80 20)
[[ $(wc -l <<<"$out") == 1 ]] || fail "affinity: more than one backend: $(tr '\n' ';' <<<"$out")"
log "  20 connections, one backend: $out"

log "E. hairpin: n1-pod2 reaches itself through 'self'"
expect_backends "n1-pod2 -> 10.96.0.13:80" "$(answers n1-pod2 tcp 10.96.0.13 80 3)" "b1 $GW1"

log "F. a held connection survives the other backend's removal"
rm -f "$WORK/go" "$WORK/done"
in_pod n1-pod1 python3 "$TOOL" hold 10.96.0.10 80 "$WORK/go" "$WORK/done" >"$WORK/held" &
holder=$!
wait_for 5 test -s "$WORK/held" || fail "held connection got no answer"
held=$(awk '{print $1}' "$WORK/held")
[[ $held == b1 ]] && keep_ip=$B1 keep_node=n1 || keep_ip=$B2 keep_node=n2
log "  held connection is on $held; removing the other backend"
put_web "$keep_ip $keep_node"
web_has_one_backend() {
  [[ $(services_json n1 | jq '[.services[] | select(.frontend == "10.96.0.10:80/TCP") | .backends[]] | length') == 1 ]]
}
wait_for 10 web_has_one_backend ||
  fail "backend removal not programmed"
log "  removal programmed on n1 in ${WAITED_MS} ms"
touch "$WORK/go"
wait "$holder" || fail "held TCP connection to $held broke after the other backend was removed"
log "  held connection to $held still echoes: $(cat "$WORK/done")"
expect_backends "new connections after removal" "$(answers n1-pod1 tcp 10.96.0.10 80 10)" "$held $C1"
[[ $(answers n1-pod1 tcp 10.96.0.10 80 10 | wc -l) == 1 ]] || fail "new connections still reach the removed backend"

log "G. no endpoints: refused at once"
snap_on n1 g
for p in "tcp 80" "udp 53"; do
  # shellcheck disable=SC2086
  in_pod n1-pod1 python3 "$TOOL" refused ${p%% *} 10.96.0.30 ${p##* } >"$WORK/r" || fail "pod -> empty service ${p}: $(cat "$WORK/r")"
  log "  pod -> 10.96.0.30 ${p}: $(cat "$WORK/r")"
done
in_cnode n1 python3 "$TOOL" refused tcp 10.96.0.30 80 >"$WORK/r" || fail "node -> empty service: $(cat "$WORK/r")"
log "  node -> 10.96.0.30 tcp 80: $(cat "$WORK/r")"
assert_rose_on n1 g "$HOOK" tx service_no_endpoints 2 "reject from the pod hook"
assert_rose_on n1 g tc_host_egress tx service_no_endpoints 1 "reject from tc_host_egress"

log "H. agent SIGKILL and restart: services keep working, ids adopted, nothing rewritten"
rm -f "$WORK/go" "$WORK/done"
in_pod n1-pod1 python3 "$TOOL" hold 10.96.0.10 80 "$WORK/go" "$WORK/done" >"$WORK/held" &
holder=$!
wait_for 5 test -s "$WORK/held" || fail "held connection got no answer"
ids_before=$(services_json n1 | jq -c '[.services[] | {frontend, table, ids: [.backends[].id]}]')
lab stop-agent "$LAB/n1" --kill >/dev/null
expect_backends "agent down: n1-pod1 -> 10.96.0.10:80" "$(answers n1-pod1 tcp 10.96.0.10 80 5)" "$held $C1"
[[ $held == b1 ]] && np_src=$EXT_IP || np_src=$GW1
expect_backends "agent down: ext -> n1:30080" "$(answers ext tcp "$NIP1" 30080 5)" "$held $np_src"
lab start-agent "$LAB/n1" >/dev/null
stats_programmed() { [[ $(services_json n1 | jq '.stats.reconciles') -ge 1 ]]; }
wait_for 10 stats_programmed || fail "restarted agent did not reconcile services"
st=$(services_json n1 | jq -c .stats)
log "  restarted agent: $st"
assert_eq "$(jq .backendWrites <<<"$st")/$(jq .tableWrites <<<"$st")/$(jq .frontendWrites <<<"$st")" "0/0/0" \
  "writes after a restart with an unchanged cluster"
assert_ge "$(jq .adoptedBackends <<<"$st")" 2 "adopted backends"
ids_after=$(services_json n1 | jq -c '[.services[] | {frontend, table, ids: [.backends[].id]}]')
assert_eq "$ids_after" "$ids_before" "frontend tables and backend ids across the restart"
touch "$WORK/go"
wait "$holder" || fail "held TCP connection broke across the agent restart"
log "  held connection survived the SIGKILL and restart: $(cat "$WORK/done")"

log "I. no iptables / nftables rules on the nodes"
command -v nft >/dev/null && command -v iptables-save >/dev/null ||
  fail "nft / iptables-save missing (scripts/install-deps.sh): cannot prove the absence of rules"
for n in n1 n2; do
  rules=$(in_cnode "$n" nft list ruleset 2>/dev/null | grep -c . || true)
  assert_eq "$rules" 0 "$n: nftables ruleset lines"
  rules=$(in_cnode "$n" iptables-save 2>/dev/null | grep -c '^-A' || true)
  assert_eq "$rules" 0 "$n: iptables rules"
  log "  $n: nft ruleset empty, no iptables rule"
done
assert_cluster_kernel_path_off
log "PASS"
