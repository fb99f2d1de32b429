#!/usr/bin/env bash
# e2e with a real container runtime: podman 4.3 (CNI network backend, runc,
# cgroupfs) runs two busybox containers on an xvr network and they reach
# each other through XDP.
#
# Proves:
#  - podman drives xvr-cni like any CNI plugin (VERSION, ADD with its own
#    netns under /run/netns, DEL with prevResult on `podman rm`);
#  - container -> container ping and a TCP transfer (busybox nc, checksum
#    compared) are forwarded by xdp_pod: its redirect/ok counters rise by at
#    least the packets and bytes sent, while the root netns, where the agent
#    runs, has ip_forward=0 and no bridge joins the containers;
#  - `podman rm -f` leaves the agent with no endpoint and no host veth.
#
# The agent runs in the root netns (podman's netns live in /run/netns); its
# pod CIDR, bpffs root, socket, state and host pair are named after this
# process so nothing is shared with another agent. Podman uses a private
# root, runroot and tmpdir under one temp dir and a locally imported image.
# Everything is undone on exit, also on failure; ip_forward and
# all.rp_filter (which the agent zeroes) get their old values back.
set -euo pipefail

TEST_NAME=podman
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
XVR_BIN=${XVR_BIN:-$REPO/build/bin}

ID=$$
NET=xvr-e2e-$ID
HOST_IF=xvp$ID      # <= 15 characters for any pid (pid_max <= 4194304)
HOST_PEER=xvq$ID
BPFROOT=/sys/fs/bpf/xvr-podman-$ID
IMAGE=localhost/xvr-e2e-busybox:$ID
C1=xvr-e2e-$ID-a
C2=xvr-e2e-$ID-b
PING_COUNT=20
XFER_KIB=4096

WORK=""
AGENT_PID=""
SOCK=""
SAVED_FORWARD=""
SAVED_RP_FILTER=""
NETNS_BEFORE=""   # "-" plus the netns names present before the test
HOST_VETHS=()
# Host-wide directories podman 4.3 writes whatever its --root: libcni's
# result cache and the image blob-info cache. Removed at exit if we made them.
HOST_DIRS=(/var/lib/cni /var/lib/containers)
HOST_DIRS_NEW=()

log() { printf '[%s %s] %s\n' "$TEST_NAME" "$(date +%T)" "$*"; }
fail() {
  printf '\nFAIL [%s]: %s\n' "$TEST_NAME" "$*" >&2
  exit 1
}

# podman with everything private to this run.
pm() {
  CONTAINERS_CONF=$WORK/containers.conf timeout 120 podman \
    --root "$WORK/root" --runroot "$WORK/run" --tmpdir "$WORK/tmp" \
    --storage-driver vfs "$@"
}

cleanup() {
  local rc=$? ns v d
  trap - EXIT
  trap '' INT TERM # a second signal must not cut the clean-up short
  set +e
  if ((rc != 0)) && [[ -n $WORK ]]; then
    echo "--- agent log (last 30 lines) ---" >&2
    tail -n 30 "$WORK/agent.log" >&2 2>/dev/null
  fi
  if [[ -n $WORK && -f $WORK/containers.conf ]]; then
    pm rm -af -t 0 >/dev/null 2>&1
    pm system reset --force >/dev/null 2>&1
  fi
  if [[ -n $AGENT_PID ]] && kill -0 "$AGENT_PID" 2>/dev/null; then
    kill -TERM "$AGENT_PID"
    for _ in $(seq 50); do kill -0 "$AGENT_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$AGENT_PID" 2>/dev/null
    wait "$AGENT_PID" 2>/dev/null
  fi
  # Pod netns podman left behind (only those created during this run).
  if [[ -n $NETNS_BEFORE ]]; then
    for ns in /run/netns/netns-*; do
      [[ -e $ns ]] || continue
      grep -qxF "${ns##*/}" <<<"$NETNS_BEFORE" || ip netns delete "${ns##*/}" 2>/dev/null
    done
  fi
  for v in "${HOST_VETHS[@]}"; do ip link del "$v" 2>/dev/null; done
  # The host pair takes its gateway address and the pod CIDR route with it.
  ip link del "$HOST_IF" 2>/dev/null
  # Removing the pins detaches pinned links and frees programs and maps.
  rm -rf "$BPFROOT"
  [[ -n $SAVED_FORWARD ]] && sysctl -qw net.ipv4.ip_forward="$SAVED_FORWARD"
  [[ -n $SAVED_RP_FILTER ]] && sysctl -qw net.ipv4.conf.all.rp_filter="$SAVED_RP_FILTER"
  [[ -n $WORK ]] && rm -rf "$WORK"
  for d in "${HOST_DIRS_NEW[@]}"; do rm -rf "$d"; done
  if ip link show "$HOST_IF" >/dev/null 2>&1 || [[ -e $BPFROOT ]]; then
    echo "FAIL [$TEST_NAME]: cleanup left $HOST_IF or $BPFROOT behind" >&2
    rc=1
  fi
  if ((rc == 0)); then echo "PASS [$TEST_NAME]"; else echo "FAIL [$TEST_NAME] (exit $rc)" >&2; fi
  exit "$rc"
}

# A /24 in 10.251.0.0/16 that no route or address of the root netns touches.
pick_pod_cidr() {
  local n i used
  used=$(ip -4 route show table all; ip -4 -o addr show)
  for ((i = 0; i < 254; i++)); do
    n=$(((ID + i) % 254 + 1))
    grep -qF "10.251.$n." <<<"$used" || { echo "10.251.$n.0/24"; return 0; }
  done
  fail "no free /24 in 10.251.0.0/16"
}

# Sum of a counter row over CPUs, from xvrctl.
counter() { # HOOK VERDICT REASON packets|bytes
  "$XVR_BIN/xvrctl" --socket "$SOCK" -o json stats |
    jq --arg h "$1" --arg v "$2" --arg r "$3" --arg f "$4" \
      '[.counters[] | select(.hook == $h and .verdict == $v and .reason == $r) | .[$f]] | add // 0'
}

endpoints_json() { "$XVR_BIN/xvrctl" --socket "$SOCK" -o json endpoints; }

endpoint_field() { # CONTAINER-NAME FIELD
  endpoints_json | jq -r --arg n "$1" --arg f "$2" '.endpoints[] | select(.podName == $n) | .[$f]'
}

assert_forward_zero() {
  [[ $(sysctl -n net.ipv4.ip_forward) == 0 ]] || fail "ip_forward became 1 during the test"
}

# --- prerequisites -----------------------------------------------------------

[[ $(id -u) == 0 ]] || fail "must run as root"
for b in xvr-agent xvr-cni xvrctl; do
  [[ -x $XVR_BIN/$b ]] || fail "$XVR_BIN/$b missing: build first"
done
for t in podman runc busybox jq curl; do
  command -v "$t" >/dev/null || fail "$t not installed (scripts/install-deps.sh)"
done
[[ $(busybox 2>&1 | head -1) == *BusyBox* ]] || fail "busybox is not BusyBox"
[[ $(ldd "$(command -v busybox)" 2>&1 || true) == *"not a dynamic executable"* ]] ||
  fail "busybox is not static: the image has no libc (install busybox-static)"

! ip link show "$HOST_IF" >/dev/null 2>&1 || fail "$HOST_IF exists already (left by an earlier run?)"
[[ ! -e $BPFROOT ]] || fail "$BPFROOT exists already (left by an earlier run?)"

WORK=$(mktemp -d "/tmp/xvr-podman.$ID.XXXXXX")
chmod 0700 "$WORK"
NETNS_BEFORE=$(echo -; ls /run/netns 2>/dev/null || true)
for d in "${HOST_DIRS[@]}"; do [[ -e $d ]] || HOST_DIRS_NEW+=("$d"); done
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
SOCK=$WORK/agent.sock
POD_CIDR=$(pick_pod_cidr)
log "podman $(podman --version | awk '{print $3}'), network $NET, pod CIDR $POD_CIDR, work dir $WORK"

# --- kernel forwarding off: only XDP can carry container traffic ------------

SAVED_FORWARD=$(sysctl -n net.ipv4.ip_forward)
SAVED_RP_FILTER=$(sysctl -n net.ipv4.conf.all.rp_filter)
if [[ $SAVED_FORWARD != 0 ]]; then
  log "root netns had ip_forward=$SAVED_FORWARD: 0 for the test, restored at exit"
  sysctl -qw net.ipv4.ip_forward=0
fi

# --- agent in the root netns -------------------------------------------------

cat >"$WORK/vrouter.yaml" <<EOF
apiVersion: xvr.dev/v1alpha1
kind: VRouter
metadata:
  name: podman-e2e-$ID
spec:
  nodeName: podman-e2e-$ID
  agentModeType: xdp
  podAttach: xdp
  podCIDR: $POD_CIDR
  bpfRoot: $BPFROOT
  apiSocket: $SOCK
  stateDir: $WORK/state
  hostInterface: $HOST_IF
  hostPeerInterface: $HOST_PEER
  mtu: 1500
  metricsAddress: "127.0.0.1:0"   # root netns: never collide with a real agent's port
EOF
"$XVR_BIN/xvr-agent" --config "$WORK/vrouter.yaml" </dev/null >"$WORK/agent.log" 2>&1 &
AGENT_PID=$!
for ((i = 0; i < 300; i++)); do
  kill -0 "$AGENT_PID" 2>/dev/null || fail "agent exited during start-up"
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --unix-socket "$SOCK" \
    http://localhost/healthz 2>/dev/null || true)
  [[ $code == 200 ]] && break
  sleep 0.1
done
[[ $code == 200 ]] || fail "agent not healthy after 30s (/healthz: '$code')"
log "agent pid $AGENT_PID healthy on $SOCK"

# --- podman: config, CNI network, image -------------------------------------

mkdir -p "$WORK/cni-bin" "$WORK/net.d" "$WORK/tmp" "$WORK/rootfs/bin" "$WORK/rootfs/tmp"
ln -s "$XVR_BIN/xvr-cni" "$WORK/cni-bin/xvr-cni"
cat >"$WORK/containers.conf" <<EOF
# Generated by $0 (see ../shared/examples/podman in the design notes).
[network]
network_backend = "cni"
cni_plugin_dirs = ["$WORK/cni-bin", "/usr/lib/cni"]
network_config_dir = "$WORK/net.d"
default_network = "$NET"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
# crun 1.8.1 fails on this cgroup layout ("cgroups in hybrid mode not supported")
runtime = "runc"
# Locks as files in the private tmpdir, not in the host-wide /dev/shm segment.
lock_type = "file"
[containers]
# root here lacks CAP_SYS_RESOURCE: podman's default nofile=1048576 fails setrlimit
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
EOF
jq -n --arg name "$NET" --arg sock "$SOCK" \
  '{cniVersion: "1.0.0", name: $name, plugins: [{type: "xvr-cni", agentSocket: $sock}]}' \
  >"$WORK/net.d/$NET.conflist"

cp "$(command -v busybox)" "$WORK/rootfs/bin/busybox"
for app in sh ping nc sleep dd md5sum wc cat head ip ls; do ln -s busybox "$WORK/rootfs/bin/$app"; done
tar -C "$WORK/rootfs" -cf "$WORK/bb.tar" .
pm import "$WORK/bb.tar" "$IMAGE" >"$WORK/import.log" 2>&1 || fail "podman import: $(cat "$WORK/import.log")"
pm network ls --format '{{.Name}}' | grep -qxF "$NET" || fail "podman does not list network $NET"
log "image $IMAGE imported; network $NET known to podman"

# --- two containers ----------------------------------------------------------

for c in "$C1" "$C2"; do
  pm run -d --name "$c" --network "$NET" "$IMAGE" sleep 300 >/dev/null ||
    fail "podman run $c failed"
done
IP1=$(endpoint_field "$C1" ip)
IP2=$(endpoint_field "$C2" ip)
[[ -n $IP1 && -n $IP2 ]] || fail "agent has no endpoint for $C1/$C2: $(endpoints_json)"
mapfile -t HOST_VETHS < <(endpoints_json | jq -r '.endpoints[].hostIfname')
((${#HOST_VETHS[@]} == 2)) || fail "expected 2 endpoints, agent has ${#HOST_VETHS[@]}"
for c in "$C1" "$C2"; do
  [[ $(endpoint_field "$c" attach) == xdp ]] || fail "$c is not attached with xdp"
done
# What podman recorded from the CNI result must be what the agent allocated.
PODMAN_IP1=$(pm inspect -f "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}" "$C1")
[[ $PODMAN_IP1 == "$IP1" ]] || fail "podman says $C1 has $PODMAN_IP1, the agent says $IP1"
for v in "${HOST_VETHS[@]}"; do
  ip -d link show "$v" | grep -q 'prog/xdp' || fail "no XDP program on host veth $v"
  ! ip -d link show "$v" | grep -q 'master' || fail "host veth $v is enslaved to a device"
done
log "containers up: $C1 $IP1, $C2 $IP2 (host veths ${HOST_VETHS[*]})"

# --- ping ------------------------------------------------------------------------

assert_forward_zero
before=$(counter xdp_pod redirect ok packets)
pm exec "$C1" ping -c "$PING_COUNT" -i 0.2 -W 2 "$IP2" >"$WORK/ping.out" ||
  fail "ping $C1 -> $C2 failed: $(tail -3 "$WORK/ping.out")"
grep -q " 0% packet loss" "$WORK/ping.out" || fail "ping lost packets: $(tail -2 "$WORK/ping.out")"
after=$(counter xdp_pod redirect ok packets)
# Requests (C1 -> C2) and replies (C2 -> C1) both leave a container.
((after - before >= 2 * PING_COUNT)) ||
  fail "xdp_pod redirect/ok rose by $((after - before)) packets, expected >= $((2 * PING_COUNT))"
log "ping $C1 -> $C2: $PING_COUNT/$PING_COUNT replies; xdp_pod redirect/ok +$((after - before)) packets"

# --- TCP ------------------------------------------------------------------------

pm exec "$C1" dd if=/dev/urandom of=/tmp/tx bs=1024 count="$XFER_KIB" 2>/dev/null
SUM_TX=$(pm exec "$C1" md5sum /tmp/tx | awk '{print $1}')
# busybox nc half-closes when its stdin ends; the listener's stdin must not
# end (podman exec -d gives it /dev/null) or the sender stops early.
pm exec -d "$C2" sh -c 'sleep 120 | nc -l -p 7000 > /tmp/rx' >/dev/null
assert_forward_zero
before_b=$(counter xdp_pod redirect ok bytes)
sent=""
for _ in $(seq 20); do # until the listener is up
  if pm exec "$C1" sh -c "nc $IP2 7000 < /tmp/tx" 2>/dev/null; then sent=yes; break; fi
  sleep 0.2
done
[[ -n $sent ]] || fail "TCP connect $C1 -> $C2:7000 failed"
SUM_RX=""
for _ in $(seq 50); do
  SUM_RX=$(pm exec "$C2" md5sum /tmp/rx 2>/dev/null | awk '{print $1}')
  [[ $SUM_RX == "$SUM_TX" ]] && break
  sleep 0.2
done
[[ $SUM_RX == "$SUM_TX" ]] ||
  fail "TCP transfer corrupt or short: sent $XFER_KIB KiB md5 $SUM_TX, received" \
    "$(pm exec "$C2" wc -c /tmp/rx | awk '{print $1}') bytes md5 $SUM_RX"
after_b=$(counter xdp_pod redirect ok bytes)
((after_b - before_b >= XFER_KIB * 1024)) ||
  fail "xdp_pod redirect/ok rose by $((after_b - before_b)) bytes, expected >= $((XFER_KIB * 1024))"
log "TCP $C1 -> $C2: $XFER_KIB KiB, md5 match; xdp_pod redirect/ok +$((after_b - before_b)) bytes"

# --- podman rm: CNI DEL -------------------------------------------------------------

pm rm -f -t 0 "$C1" "$C2" >/dev/null || fail "podman rm failed"
left=$(endpoints_json | jq '.endpoints | length')
((left == 0)) || fail "after podman rm the agent still has $left endpoint(s): $(endpoints_json)"
for v in "${HOST_VETHS[@]}"; do
  ! ip link show "$v" >/dev/null 2>&1 || fail "host veth $v still exists after podman rm"
done
log "podman rm: CNI DEL ran, no endpoint and no host veth left"
