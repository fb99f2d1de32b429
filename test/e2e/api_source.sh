#!/usr/bin/env bash
# api_source.sh — the agent against a Kubernetes API server: a one-node lab
# whose agent runs with --kubeconfig pointing at xvr-fake-apiserver (the unit
# tests' fake API server as a process, scripted through /control/*), which
# listens on 127.0.0.1:6443 inside the node netns. Pods 1 and 3 run
# svc_tool.py backends (b1, b3), pod 2 is the client.
#   A. Readiness: with no API server, then with one answering 500 to every
#      request, /healthz is 503 and CNI ADD fails "agent not ready"; once the
#      lists are served the agent turns ready (and `xvr-lab up` returns), and
#      a Service the server held from the start (--objects) is programmed.
#   B. A Service + EndpointSlice (backend pod1) applied through the server
#      arrive as watch events: the frontend and its backend are in the
#      service maps and pod2 reaches b1 through the ClusterIP.
#   C. The EndpointSlice changed to pod3 (MODIFIED) moves the traffic to b3;
#      the Service deleted (DELETED) leaves the maps.
#   D. A forced relist: the watches are dropped and further watches fail, so
#      the agent is disconnected; meanwhile a Service is deleted and another
#      created, and the history is compacted. The resumed watch gets 410
#      Gone, the agent relists and converges to the server's state.
#   E. The agent's log tells of the 500s, the 410 and the relists.
# shellcheck source=test/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
TOOL=$E2E_DIR/svc_tool.py
FAKE=$XVR_BIN/xvr-fake-apiserver
PORT=6443 # in the node netns, which is this test's own
API=http://127.0.0.1:$PORT
ID=$$
# Unique per run, within the lab's service CIDR (10.96.0.0/16).
CIP1=10.96.$((1 + ID % 250)).10
CIP2=10.96.$((1 + ID % 250)).20
CIP0=10.96.$((1 + ID % 250)).30 # served from the start (--objects), no endpoints

e2e_start
[[ -x $FAKE ]] || fail "$FAKE missing: build the xvr-fake-apiserver target"
command -v python3 >/dev/null || fail "python3 not installed"
SOCK=$(lab path "$LAB" socket)
BPFROOT=$(lab path "$LAB" bpfroot)
NODE_NS=$(lab path "$LAB" node-netns)
PODS_DIR=$(lab path "$LAB" pods)
AGENT_LOG=$(lab path "$LAB" log)
TOKEN=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
KCFG=$WORK/kubeconfig
cat >"$KCFG" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster: {server: "$API"}
users:
- name: xvr-agent
  user: {token: "$TOKEN"}
contexts:
- name: fake
  context: {cluster: fake, user: xvr-agent}
current-context: fake
EOF

# --- helpers ------------------------------------------------------------------

# lib.sh's fail, plus what the fake API server logged (its control actions).
fail() {
  if [[ -s ${WORK:-}/fake.log ]]; then
    echo "--- fake API server log (last 15 lines) ---" >&2
    tail -n 15 "$WORK/fake.log" >&2
  fi
  printf '\nFAIL [%s]: %s\n' "$TEST_NAME" "$*" >&2
  exit 1
}

healthz() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 2 --unix-socket "$SOCK" \
    http://localhost/healthz 2>/dev/null || true
}
# fake_post ACTION?QUERY [BODY]: the fake server's control interface.
fake_post() {
  in_node curl -sS --fail-with-body --max-time 5 --data-binary "${2:-}" "$API/control/$1" ||
    fail "fake API server: POST /control/$1 failed"
}
fake_state() { in_node curl -sS --max-time 5 "$API/control/state"; }
# fake_count KIND FIELD: lists, watches (requests), openWatches, objects.
fake_count() { fake_state | jq -r --arg k "$1" --arg f "$2" '.kinds[$k][$f]'; }
all_kinds_listed() { # every kind was asked for its list at least once
  fake_state | jq -e '[.kinds[] | .lists >= 1] | all' >/dev/null
}

svc_yaml() { # NAME CLUSTERIP
  cat <<EOF
apiVersion: v1
kind: Service
metadata: {name: $1, namespace: default, uid: uid-$1}
spec:
  type: ClusterIP
  clusterIP: $2
  ports:
  - {name: http, port: 80, targetPort: 8080, protocol: TCP}
EOF
}
slice_yaml() { # NAME SERVICE POD_IP
  cat <<EOF
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: $1
  namespace: default
  labels: {kubernetes.io/service-name: $2}
addressType: IPv4
endpoints:
- addresses: [$3]
  conditions: {ready: true}
  nodeName: $NODE_NS
ports:
- {name: http, port: 8080, protocol: TCP}
EOF
}

services_json() { "$XVR_BIN/xvrctl" --socket "$SOCK" -o json services; }
# The backends the agent programmed for CLUSTERIP:80/TCP, space-separated
# ("" when there is no such frontend).
backends_of() {
  services_json | jq -r --arg f "$1:80/TCP" \
    '[.services[] | select(.frontend == $f) | .backends[].addr] | sort | join(" ")'
}
has_backends() { [[ $(backends_of "$1") == "$2" ]]; } # CLUSTERIP "IP:PORT/PROTO ..."
frontend_of() { # CLUSTERIP: [service, backends] of CLUSTERIP:80/TCP, "" if none
  services_json |
    jq -c --arg f "$1:80/TCP" '.services[] | select(.frontend == $f) | [.service, .backends]'
}
no_frontend() { [[ -z $(frontend_of "$1") ]]; }
has_frontend() { [[ -n $(frontend_of "$1") ]]; }
# The frontend's key in the pinned xvr_svc map (the first 4 key bytes are
# the ClusterIP).
in_svc_map() {
  local want
  local -a octets
  IFS=. read -ra octets <<<"$1"
  want=$(printf '"0x%02x",' "${octets[@]}")
  bpftool -j map dump pinned "$BPFROOT/maps/xvr_svc" |
    jq -e --argjson w "[${want%,}]" 'any(.[]; .key[0:4] == $w)' >/dev/null
}
# answers CLUSTERIP COUNT: pod2's connections, as "NAME PEER" lines, uniq'd.
answers() {
  in_pod pod2 python3 "$TOOL" tcp "$1" 80 "$2" | sort | uniq -c | awk '{print $2" "$3" x"$1}'
}
expect_only() { # CLUSTERIP BACKEND_NAME
  local out
  snap svc
  out=$(answers "$1" 10) || fail "pod2 -> $1:80: connections failed: $out"
  [[ $out == "$2 $IP2 x10" ]] || fail "pod2 -> $1:80: expected 10 answers from $2, got: $out"
  log "  pod2 -> $1:80: $out"
  # 10 connections of at least 6 packets (SYN, SYN-ACK, ACK, the answer,
  # a FIN each way):
  # xdp_pod translated and redirected them, the kernel did not route them.
  assert_rose svc xdp_pod redirect ok 60 packets "pod2 <-> $1 through xdp_pod"
}
log_has() { grep -qE "$1" "$AGENT_LOG" || fail "agent log: no line matching /$1/"; }

# --- A. readiness -----------------------------------------------------------------

log "A. readiness: the agent waits for the API server's lists"
XVR_LAB_AGENT_ARGS="--kubeconfig $KCFG" lab up "$LAB" >"$WORK/up.log" 2>&1 &
UP_PID=$!
wait_for 20 test -S "$SOCK" || fail "no agent socket $SOCK: $(cat "$WORK/up.log")"
wait_for 5 test "$(healthz)" != 000 || fail "agent socket does not answer"
assert_eq "$(healthz)" 503 "/healthz with no API server"
out=$(lab add-pod "$LAB" early 2>&1) && fail "CNI ADD succeeded before the agent was ready: $out"
grep -q "agent not ready" <<<"$out" || fail "CNI ADD before ready: $out"
log "  no API server: /healthz 503, CNI ADD: ${out#xvr-lab: }"
log_has "k8s api: Service: list: cannot connect"

{
  echo "apiVersion: v1
kind: Namespace
metadata: {name: default}
---"
  svc_yaml "pre-$ID" "$CIP0"
} >"$WORK/objects.yaml"
nsenter --net="/run/netns/$NODE_NS" -- "$FAKE" --port "$PORT" --token "$TOKEN" --fail 500 \
  --objects "$WORK/objects.yaml" >"$WORK/fake.out" 2>"$WORK/fake.log" &
FAKE_PID=$!
wait_for 5 test -s "$WORK/fake.out" || fail "fake API server did not start: $(cat "$WORK/fake.log")"
assert_eq "$(head -n 1 "$WORK/fake.out")" "$API" "fake API server URL"
wait_for 10 all_kinds_listed || fail "the agent never listed every kind: $(fake_state)"
assert_eq "$(healthz)" 503 "/healthz while every list gets 500"
log "  API server answering 500: every kind tried, /healthz still 503"
t0=$(date +%s%N)
fake_post "fail?kind=all&status=0" >/dev/null
wait "$UP_PID" || fail "xvr-lab up failed: $(cat "$WORK/up.log")"
log "  500s cleared: ready after $((($(date +%s%N) - t0) / 1000000)) ms; xvr-lab up returned"
assert_eq "$(healthz)" 200 "/healthz after the lists"
log_has "k8s api: Service: list: HTTP 500"
log_has "ready: Kubernetes objects listed"
log_has "k8s api: Service: synced 1 objects"
wait_for 5 has_frontend "$CIP0" || fail "no frontend $CIP0 for the Service listed at start"
assert_eq "$(frontend_of "$CIP0")" "[\"default/pre-$ID\",[]]" "frontend $CIP0 (pre-$ID, --objects)"
log "  listed at start: default/pre-$ID $CIP0:80/TCP (no endpoints)"
for p in pod1 pod2 pod3; do lab add-pod "$LAB" "$p" >/dev/null; done
IP1=$(lab ip "$LAB" pod1)
IP2=$(lab ip "$LAB" pod2)
IP3=$(lab ip "$LAB" pod3)
log "  pods after ready: pod1 $IP1 (b1), pod2 $IP2 (client), pod3 $IP3 (b3)"
assert_kernel_path_off
in_pod pod1 python3 "$TOOL" serve b1 8080 &
in_pod pod3 python3 "$TOOL" serve b3 8080 &
wait_listen pod1 8080
wait_listen pod3 8080

# --- B. watch: ADDED ----------------------------------------------------------------

SVC1=web-$ID
SVC2=api-$ID
log "B. Service $SVC1 ($CIP1) + EndpointSlice -> pod1, through the watch"
watches0=$(fake_count Service watchesStarted)
lists0=$(fake_count Service lists)
fake_post apply "$(svc_yaml "$SVC1" "$CIP1")
---
$(slice_yaml "$SVC1-a" "$SVC1" "$IP1")" >/dev/null
wait_for 10 has_backends "$CIP1" "$IP1:8080/TCP" ||
  fail "$CIP1 not programmed with $IP1:8080: $(services_json | jq -c .services)"
log "  programmed in $WAITED_MS ms: $CIP1:80/TCP -> $IP1:8080/TCP"
in_svc_map "$CIP1" || fail "$CIP1 not in the pinned xvr_svc map"
assert_eq "$(fake_count Service lists)" "$lists0" "Service lists (the change came as a watch event)"
assert_eq "$(fake_count Service watchesStarted)" "$watches0" "Service watches (same stream)"
expect_only "$CIP1" b1

# --- C. watch: MODIFIED, DELETED ------------------------------------------------------

log "C. EndpointSlice changed to pod3, then the Service deleted"
fake_post apply "$(slice_yaml "$SVC1-a" "$SVC1" "$IP3")" >/dev/null
wait_for 10 has_backends "$CIP1" "$IP3:8080/TCP" ||
  fail "$CIP1 backends not moved to $IP3:8080: $(backends_of "$CIP1")"
log "  slice change programmed in $WAITED_MS ms: $CIP1:80/TCP -> $IP3:8080/TCP"
expect_only "$CIP1" b3
fake_post "delete?kind=Service&namespace=default&name=$SVC1" >/dev/null
wait_for 10 no_frontend "$CIP1" || fail "$CIP1 still programmed after the Service was deleted"
not_in_svc_map() { ! in_svc_map "$1"; }
wait_for 5 not_in_svc_map "$CIP1" || fail "$CIP1 still in the pinned xvr_svc map"
log "  Service delete unprogrammed in $WAITED_MS ms (frontend gone from xvr_svc)"
fake_post "delete?kind=EndpointSlice&namespace=default&name=$SVC1-a" >/dev/null
assert_eq "$(fake_count Service lists)" "$lists0" "Service lists after B and C (watch only)"

# --- D. forced relist ------------------------------------------------------------------

log "D. 410 Gone after a disconnection: relist and converge"
fake_post apply "$(svc_yaml "$SVC1" "$CIP1")
---
$(slice_yaml "$SVC1-a" "$SVC1" "$IP1")" >/dev/null
wait_for 10 has_backends "$CIP1" "$IP1:8080/TCP" || fail "$CIP1 not programmed again"
lists0=$(fake_count Service lists)
elists0=$(fake_count EndpointSlice lists)
wreq0=$(fake_count Service watches)
ewreq0=$(fake_count EndpointSlice watches)
for k in Service EndpointSlice; do
  fake_post "fail?kind=$k&which=watch&status=500&count=100000" >/dev/null
  fake_post "drop-watches?kind=$k" >/dev/null
done
disconnected() {
  (($(fake_count Service watches) > wreq0 && $(fake_count EndpointSlice watches) > ewreq0)) &&
    (($(fake_count Service openWatches) == 0 && $(fake_count EndpointSlice openWatches) == 0))
}
wait_for 10 disconnected || fail "the agent did not retry its watches: $(fake_state)"
log "  watches dropped; the agent's retries get 500 (disconnected)"
log_has "k8s api: Service: watch: HTTP 500"
# Changes the agent cannot see: their events are then compacted away.
fake_post "delete?kind=Service&namespace=default&name=$SVC1" >/dev/null
fake_post "delete?kind=EndpointSlice&namespace=default&name=$SVC1-a" >/dev/null
fake_post apply "$(svc_yaml "$SVC2" "$CIP2")
---
$(slice_yaml "$SVC2-a" "$SVC2" "$IP3")" >/dev/null
sleep 0.3
if ! has_backends "$CIP1" "$IP1:8080/TCP" || ! no_frontend "$CIP2"; then
  fail "the agent saw changes while disconnected: $(services_json | jq -c .services)"
fi
log "  while disconnected: $SVC1 deleted, $SVC2 ($CIP2 -> pod3) created; agent still has $SVC1 only"
fake_post "compact?kind=Service" >/dev/null
fake_post "compact?kind=EndpointSlice" >/dev/null
fake_post "fail?kind=Service&status=0" >/dev/null
fake_post "fail?kind=EndpointSlice&status=0" >/dev/null
t0=$(date +%s%N)
converged() { no_frontend "$CIP1" && has_backends "$CIP2" "$IP3:8080/TCP"; }
wait_for 15 converged ||
  fail "not converged after the relist: $(services_json | jq -c .services); $(fake_state)"
log "  history compacted, watches allowed: converged in $((($(date +%s%N) - t0) / 1000000)) ms"
if in_svc_map "$CIP1"; then fail "$CIP1 still in the pinned xvr_svc map"; fi
in_svc_map "$CIP2" || fail "$CIP2 not in the pinned xvr_svc map"
assert_ge "$(fake_count Service lists)" $((lists0 + 1)) "Service lists (a relist)"
assert_ge "$(fake_count EndpointSlice lists)" $((elists0 + 1)) "EndpointSlice lists (a relist)"
log "  lists: Service $lists0 -> $(fake_count Service lists)," \
  "EndpointSlice $elists0 -> $(fake_count EndpointSlice lists)"
expect_only "$CIP2" b3

# --- E. the log ---------------------------------------------------------------------------

log "E. the agent's log"
for k in Service EndpointSlice; do
  log_has "k8s api: $k: watch from resourceVersion [0-9]+: .*410.*; relisting"
  log_has "k8s api: $k: relisted [0-9]+ objects"
  grep -E "k8s api: $k: (watch from|relisted)" "$AGENT_LOG" | tail -n 2 | sed 's/^/    /'
done
[[ $(healthz) == 200 ]] || fail "/healthz after the relist: $(healthz)"
src=$("$XVR_BIN/xvrctl" --socket "$SOCK" -o json sources)
assert_eq "$(jq -r .source <<<"$src")" api "xvrctl sources: source"
for k in Service EndpointSlice; do
  assert_ge "$(jq --arg k "$k" '.kinds[] | select(.kind == $k) | .relists' <<<"$src")" 1 "$k relists in xvrctl sources"
  assert_ge "$(jq --arg k "$k" '.kinds[] | select(.kind == $k) | .gone410' <<<"$src")" 1 "$k 410s in xvrctl sources"
done
"$XVR_BIN/xvrctl" --socket "$SOCK" sources | sed 's/^/    /'
kill "$FAKE_PID" 2>/dev/null || true
wait "$FAKE_PID" 2>/dev/null || true
