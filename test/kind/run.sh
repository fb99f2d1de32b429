#!/usr/bin/env bash
# xvr on a kind cluster: 1 control plane + 2 workers, no default CNI, no
# kube-proxy; builds the image, installs the chart, checks pod-to-pod (same
# and cross node), a ClusterIP Service, a NodePort, NetworkPolicy deny and
# allow, cluster DNS and the agents' /metrics. See test/kind/README.md.
#
#   test/kind/run.sh [--dry-run] [--keep] [--name CLUSTER]
#
#   --dry-run  check the tools, write the kind config, render the chart (with
#              test/chart/render) and print every command it would run; needs
#              neither docker nor a cluster. Exit 0 unless the config or the
#              render is broken.
#   --keep     leave the cluster up afterwards (default: delete it, also on
#              failure).
#
# Environment: XVR_KIND_WORKDIR (kind config, rendered manifest, logs;
# default a temp dir), XVR_CHART_RENDER (the render binary),
# XVR_KIND_NODE_IMAGE (kindest/node image), XVR_KIND_TEST_IMAGE (client and
# server pods; default busybox:1.36).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DRY_RUN=0
KEEP=0
CLUSTER=xvr-e2e
IMAGE_REPO=xvr
IMAGE_TAG=kind
RELEASE=xvr
XVR_NS=kube-system
TEST_NS=xvr-e2e
POD_CIDR=10.244.0.0/16
SVC_CIDR=10.96.0.0/12
METRICS_PORT=9890
TEST_IMAGE=${XVR_KIND_TEST_IMAGE:-busybox:1.36}
NODE_IMAGE=${XVR_KIND_NODE_IMAGE:-}

while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --keep) KEEP=1 ;;
    --name) CLUSTER=$2; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

WORKDIR=${XVR_KIND_WORKDIR:-$(mktemp -d /tmp/xvr-kind.XXXXXX)}
mkdir -p "$WORKDIR"
KUBECONFIG_FILE=$WORKDIR/kubeconfig
log() { printf '==> %s\n' "$*"; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }

# run CMD...: prints it; executes it unless --dry-run.
run() {
  printf '+ %s\n' "$*"
  [ "$DRY_RUN" = 1 ] || "$@"
}

# retry SECONDS CMD...: until CMD succeeds (quietly), or fails after SECONDS.
retry() {
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { "$@" || true; return 1; }
    sleep 2
  done
}

# never SECONDS CMD...: CMD keeps failing for SECONDS (a policy that denies).
never() {
  local deadline=$((SECONDS + $1)); shift
  while [ $SECONDS -lt $deadline ]; do
    if "$@" >/dev/null 2>&1; then return 1; fi
    sleep 1
  done
}

# ---- tools ---------------------------------------------------------------
missing=()
for t in docker kind kubectl helm; do
  command -v "$t" >/dev/null 2>&1 || missing+=("$t")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$DRY_RUN" = 1 ]; then
    log "not installed here (needed for a real run): ${missing[*]}"
  else
    die "needs docker, kind, kubectl and helm; missing: ${missing[*]}"
  fi
fi

# ---- kind config -----------------------------------------------------------
# No default CNI (kindnet) and no kube-proxy: xvr provides both. Kind
# allocates each node a /24 of podSubnet (Node spec.podCIDR), which is the
# agent's IPAM range.
cat >"$WORKDIR/kind-config.yaml" <<EOF
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
name: $CLUSTER
networking:
  disableDefaultCNI: true
  kubeProxyMode: none
  podSubnet: $POD_CIDR
  serviceSubnet: $SVC_CIDR
nodes:
  - role: control-plane
  - role: worker
  - role: worker
EOF
log "kind config: $WORKDIR/kind-config.yaml"
python3 - "$WORKDIR/kind-config.yaml" <<'EOF' || die "kind config is not valid YAML"
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
assert c["networking"]["disableDefaultCNI"] is True
assert c["networking"]["kubeProxyMode"] == "none"
assert [n["role"] for n in c["nodes"]] == ["control-plane", "worker", "worker"]
EOF

# ---- chart values ----------------------------------------------------------
HELM_SET=(
  --set "image.repository=$IMAGE_REPO"
  --set "image.tag=$IMAGE_TAG"
  --set image.pullPolicy=Never          # loaded with `kind load`, never pulled
  --set "vrouter.spec.clusterCIDR=$POD_CIDR"
  --set "vrouter.spec.serviceCIDR=$SVC_CIDR"
  --set "metrics.port=$METRICS_PORT"
)
# Without kube-proxy the agent cannot reach the API server through the
# kubernetes Service's ClusterIP (it learns Services from that very API
# server), so it must be given the real address: the control-plane
# container, port 6443.
VALUES=$ROOT/charts/xvr/values.yaml
[ -f "$VALUES" ] || die "no chart at charts/xvr"
grep -q '^k8sServiceHost:' "$VALUES" || die "charts/xvr/values.yaml has no k8sServiceHost"
HELM_SET+=(--set "k8sServiceHost=$CLUSTER-control-plane" --set k8sServicePort=6443)

# ---- render (dry run: what helm install would apply) ------------------------
find_render() {
  if [ -n "${XVR_CHART_RENDER:-}" ]; then echo "$XVR_CHART_RENDER"; return; fi
  local c
  for c in "$ROOT/build/test/chart/render" "$ROOT/build/test/chart/render/render" \
           "$ROOT/build/bin/render" "$ROOT/build/bin/xvr-chart-render" \
           "$ROOT/build/test/chart/xvr-chart-render"; do
    if [ -f "$c" ] && [ -x "$c" ]; then echo "$c"; return; fi
  done
  # Not built by CMake (yet): build it the way test/chart/render/main.go says.
  if command -v go >/dev/null 2>&1 && [ -f "$ROOT/test/chart/render/main.go" ]; then
    (cd "$ROOT" && GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$WORKDIR/go-cache" \
       go build -o "$WORKDIR/render" ./test/chart/render) >&2 && echo "$WORKDIR/render"
  fi
}
if [ "$DRY_RUN" = 1 ]; then
  RENDER=$(find_render || true)
  if [ -n "$RENDER" ]; then
    log "rendering the chart with $RENDER"
    "$RENDER" --name "$RELEASE" --namespace "$XVR_NS" "${HELM_SET[@]}" \
      "$ROOT/charts/xvr" >"$WORKDIR/manifest.yaml" || die "chart render failed"
    grep -q "image: \"\?$IMAGE_REPO:$IMAGE_TAG\"\?" "$WORKDIR/manifest.yaml" \
      || die "rendered manifest does not use $IMAGE_REPO:$IMAGE_TAG"
    grep -q 'kind: DaemonSet' "$WORKDIR/manifest.yaml" || die "rendered manifest has no DaemonSet"
    grep -q "serviceCIDR: \"\?${SVC_CIDR}" "$WORKDIR/manifest.yaml" \
      || die "rendered manifest does not carry serviceCIDR $SVC_CIDR"
    if [ -f "$ROOT/test/chart/validate.py" ] && python3 -c 'import jsonschema, yaml' 2>/dev/null; then
      python3 "$ROOT/test/chart/validate.py" "$WORKDIR/manifest.yaml" --repo "$ROOT" \
        --expect "apiserver=$CLUSTER-control-plane:6443" \
        || die "rendered manifest fails test/chart/validate.py"
    fi
    log "manifest: $WORKDIR/manifest.yaml ($(grep -c '^kind:' "$WORKDIR/manifest.yaml") objects)"
  else
    log "no chart renderer (build test/chart/render or set XVR_CHART_RENDER); render skipped"
  fi
fi

# ---- cluster -----------------------------------------------------------------
cleanup() {
  local rc=$?
  if [ "$DRY_RUN" = 0 ]; then
    if [ $rc -ne 0 ]; then
      log "FAILED; collecting state into $WORKDIR/failure.txt"
      {
        kubectl get nodes -o wide
        kubectl get pods -A -o wide
        kubectl -n "$XVR_NS" logs -l app.kubernetes.io/name=xvr --all-containers --tail=200
        kubectl -n "$TEST_NS" describe pods
      } >"$WORKDIR/failure.txt" 2>&1 || true
    fi
    if [ "$KEEP" = 1 ]; then
      log "cluster $CLUSTER kept; KUBECONFIG=$KUBECONFIG_FILE"
    else
      kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
    fi
  fi
  exit $rc
}
trap cleanup EXIT

log "building the image"
run docker build -t "$IMAGE_REPO:$IMAGE_TAG" "$ROOT"
log "creating cluster $CLUSTER"
run kind create cluster --name "$CLUSTER" --config "$WORKDIR/kind-config.yaml" \
  --kubeconfig "$KUBECONFIG_FILE" --wait 0s ${NODE_IMAGE:+--image "$NODE_IMAGE"}
export KUBECONFIG=$KUBECONFIG_FILE
run kind load docker-image "$IMAGE_REPO:$IMAGE_TAG" --name "$CLUSTER"
# Test pods' image, loaded too so the checks do not depend on the nodes'
# registry access.
run docker pull "$TEST_IMAGE"
run kind load docker-image "$TEST_IMAGE" --name "$CLUSTER"

log "installing the chart"
run helm install "$RELEASE" "$ROOT/charts/xvr" --namespace "$XVR_NS" "${HELM_SET[@]}"
run kubectl -n "$XVR_NS" rollout status daemonset -l app.kubernetes.io/name=xvr --timeout=300s
# The node turns Ready only once the postStart hook has put the conflist in
# /etc/cni/net.d (containerd's NetworkReady).
run kubectl wait --for=condition=Ready nodes --all --timeout=300s
run kubectl -n kube-system rollout status deployment/coredns --timeout=300s

CP=$CLUSTER-control-plane
W1=$CLUSTER-worker
W2=$CLUSTER-worker2

if [ "$DRY_RUN" = 1 ]; then
  log "dry run: would check xvr-cni on every node, then pod<->pod (same node" \
      "$W1, cross node $W1->$W2), ClusterIP, NodePort from $CP, NetworkPolicy" \
      "deny+allow, nslookup kubernetes.default, and :$METRICS_PORT/metrics on" \
      "each node"
  log "dry run done (workdir $WORKDIR)"
  exit 0
fi

# The plugin runs on the node, outside the image: it must load there.
for n in "$CP" "$W1" "$W2"; do
  out=$(docker exec "$n" sh -c 'CNI_COMMAND=VERSION /opt/cni/bin/xvr-cni </dev/null' 2>&1) \
    || die "xvr-cni does not run on node $n: $out"
  echo "$n: xvr-cni VERSION: $out"
done

log "test workloads"
kubectl create namespace "$TEST_NS"
pod() {  # pod NAME NODE LABELS ARGS...
  local name=$1 node=$2 labels=$3; shift 3
  kubectl -n "$TEST_NS" run "$name" --image="$TEST_IMAGE" --image-pull-policy=IfNotPresent \
    --labels="$labels" --restart=Never \
    --overrides="{\"apiVersion\":\"v1\",\"spec\":{\"nodeName\":\"$node\"}}" -- "$@"
}
SERVE='mkdir -p /www && hostname >/www/index.html && exec httpd -f -p 8080 -h /www'
pod web-1 "$W1" app=web sh -c "$SERVE"
pod web-2 "$W2" app=web sh -c "$SERVE"
pod client-1 "$W1" role=client sleep 3600
pod other-2 "$W2" role=other sleep 3600
kubectl -n "$TEST_NS" wait --for=condition=Ready pod --all --timeout=180s
ip_of() { kubectl -n "$TEST_NS" get pod "$1" -o jsonpath='{.status.podIP}'; }
WEB1=$(ip_of web-1)
WEB2=$(ip_of web-2)
fetch() {  # fetch FROM_POD URL: the body, or failure
  kubectl -n "$TEST_NS" exec "$1" -- wget -qO- -T 3 "$2"
}

log "pod -> pod, same node ($W1): client-1 -> web-1 $WEB1"
retry 30 fetch client-1 "http://$WEB1:8080/" || die "same-node pod-to-pod failed"
log "pod -> pod, cross node ($W1 -> $W2): client-1 -> web-2 $WEB2"
retry 30 fetch client-1 "http://$WEB2:8080/" || die "cross-node pod-to-pod failed"
log "pod -> pod, cross node ($W2 -> $W1): other-2 -> web-1"
retry 30 fetch other-2 "http://$WEB1:8080/" || die "cross-node pod-to-pod (reverse) failed"

log "ClusterIP Service"
kubectl -n "$TEST_NS" expose pod web-1 --name web --port 80 --target-port 8080 \
  --selector app=web
SVC_IP=$(kubectl -n "$TEST_NS" get svc web -o jsonpath='{.spec.clusterIP}')
retry 60 fetch client-1 "http://$SVC_IP/" || die "ClusterIP $SVC_IP failed"
# Both backends answer over a few tries.
seen=""
for _ in $(seq 1 30); do
  seen="$seen $(fetch client-1 "http://$SVC_IP/" 2>/dev/null || true)"
done
case "$seen" in *web-1*web-2*|*web-2*web-1*) ;; *) die "ClusterIP reached only:$seen" ;; esac

log "NodePort from a node"
kubectl -n "$TEST_NS" expose pod web-1 --name web-np --type NodePort --port 80 \
  --target-port 8080 --selector app=web
NODE_PORT=$(kubectl -n "$TEST_NS" get svc web-np -o jsonpath='{.spec.ports[0].nodePort}')
W2_IP=$(kubectl get node "$W2" -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}')
retry 60 docker exec "$CP" curl -sf -m 3 "http://$W2_IP:$NODE_PORT/" \
  || die "NodePort $W2_IP:$NODE_PORT from $CP failed"

log "DNS"
retry 60 kubectl -n "$TEST_NS" exec client-1 -- nslookup kubernetes.default \
  || retry 30 kubectl -n "$TEST_NS" exec client-1 -- nslookup kubernetes.default.svc.cluster.local \
  || die "cluster DNS failed"

log "NetworkPolicy: deny all ingress to app=web"
kubectl -n "$TEST_NS" apply -f - <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-deny-all}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
EOF
retry 30 sh -c "! kubectl -n $TEST_NS exec client-1 -- wget -qO- -T 2 http://$WEB2:8080/" \
  || die "deny-all did not take effect"
never 10 fetch client-1 "http://$WEB2:8080/" || die "deny-all lets client-1 through"
log "NetworkPolicy: allow role=client on 8080"
kubectl -n "$TEST_NS" apply -f - <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-allow-clients}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress:
    - from: [{podSelector: {matchLabels: {role: client}}}]
      ports: [{protocol: TCP, port: 8080}]
EOF
retry 30 fetch client-1 "http://$WEB2:8080/" || die "allow did not let client-1 in"
retry 30 fetch client-1 "http://$SVC_IP/" || die "allow did not let client-1 in via the Service"
never 10 fetch other-2 "http://$WEB1:8080/" || die "role=other got through the policy"

log "agent /metrics on every node"
for n in "$CP" "$W1" "$W2"; do
  docker exec "$n" curl -sf -m 5 "http://127.0.0.1:$METRICS_PORT/metrics" >"$WORKDIR/metrics-$n.txt" \
    || die "no /metrics on $n"
  grep -q '^xvr_' "$WORKDIR/metrics-$n.txt" || die "/metrics on $n has no xvr_ series"
  echo "$n: $(grep -c '^xvr_' "$WORKDIR/metrics-$n.txt") xvr_ samples"
done

log "all kind checks passed"
