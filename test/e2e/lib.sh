# shellcheck shell=bash
# Shared helpers for the one-node e2e tests. Source it, then call e2e_start.
#
# Every test runs its own lab, named e2e<pid> so parallel runs never share a
# netns, a socket or a pin, and tears it down on EXIT whatever happened. The
# assertions prove the path, not only the outcome: counters of the BPF hook
# that should have forwarded a packet must rise by at least the packets sent,
# while the node has ip_forward=0 and no bridge or tunnel device.
set -euo pipefail

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$E2E_DIR/../.." && pwd)
XVR_BIN=${XVR_BIN:-$REPO/build/bin}
export XVR_BIN
LAB_TOOL=$REPO/scripts/xvr-lab
TEST_NAME=${TEST_NAME:-$(basename "$0" .sh)}
LAB=${E2E_LAB:-e2e$$}
WORK=""
# Exit status of a skipped test (ctest: SKIP_RETURN_CODE); see skip().
E2E_SKIP=77
E2E_SKIP_WHY=""

lab() { "$LAB_TOOL" "$@"; }
log() { printf '[%s %s] %s\n' "$TEST_NAME" "$(date +%T)" "$*"; }
fail() {
  printf '\nFAIL [%s]: %s\n' "$TEST_NAME" "$*" >&2
  exit 1
}
# skip WHY: the feature under test is not there yet (never for a bug).
skip() {
  E2E_SKIP_WHY=$*
  exit "$E2E_SKIP"
}

e2e_cleanup() {
  local rc=$? leftovers d
  trap - EXIT
  set +e
  if ((rc != 0 && rc != E2E_SKIP)) && [[ -f $(lab path "$LAB" dir)/cluster.env ]]; then
    for d in "$(lab path "$LAB" dir)"/n*/; do
      [[ -f $d/agent.log ]] || continue
      echo "--- $(basename "$d") agent log (last 30 lines) ---" >&2
      tail -n 30 "$d/agent.log" >&2
      echo "--- $(basename "$d") cni log (last 10 lines) ---" >&2
      tail -n 10 "$d/cni.log" >&2 2>/dev/null
    done
  elif ((rc != 0 && rc != E2E_SKIP)) && [[ -d $(lab path "$LAB" dir) ]]; then
    echo "--- agent log (last 30 lines) ---" >&2
    tail -n 30 "$(lab path "$LAB" log)" >&2 2>/dev/null
    echo "--- cni log (last 20 lines) ---" >&2
    tail -n 20 "$(lab path "$LAB" dir)/cni.log" >&2 2>/dev/null
  fi
  # Kill our own background helpers (ping floods, servers) first.
  jobs -p | xargs -r kill 2>/dev/null
  lab down "$LAB" >/dev/null 2>&1 || lab down "$LAB"
  leftovers=$(ip netns list | awk '{print $1}' | grep "^$LAB-")
  # A cluster's nodes pin under xvr-lab-LAB-nI.
  leftovers+=$(compgen -G "$(lab path "$LAB" bpfroot)-n*" | tr '\n' ' ')
  if [[ -n $leftovers || -e $(lab path "$LAB" bpfroot) || -e $(lab path "$LAB" dir) ]]; then
    echo "FAIL [$TEST_NAME]: 'xvr-lab down $LAB' left: ${leftovers//$'\n'/ }" >&2
    rc=1
  fi
  [[ -n $WORK ]] && rm -rf "$WORK"
  if ((rc == 0)); then
    echo "PASS [$TEST_NAME]"
  elif ((rc == E2E_SKIP)); then
    echo "SKIP [$TEST_NAME]: $E2E_SKIP_WHY"
  else
    echo "FAIL [$TEST_NAME] (exit $rc)" >&2
  fi
  exit "$rc"
}

# Checks prerequisites and arms the cleanup. Call before creating anything.
e2e_start() {
  local b t
  [[ $(id -u) == 0 ]] || fail "must run as root (network namespaces, BPF)"
  for b in xvr-agent xvr-cni xvrctl; do
    [[ -x $XVR_BIN/$b ]] || fail "$XVR_BIN/$b missing: build first"
  done
  for t in jq curl ping nc iperf3 bpftool nsenter sha256sum; do
    command -v "$t" >/dev/null || fail "$t not installed (scripts/install-deps.sh)"
  done
  WORK=$(mktemp -d "/tmp/xvr-$TEST_NAME.XXXXXX")
  trap e2e_cleanup EXIT
  SOCK=""
  log "lab $LAB, binaries from $XVR_BIN"
}

# Brings the lab up and records its paths.
e2e_lab_up() {
  lab up "$LAB" "$@"
  SOCK=$(lab path "$LAB" socket)
  BPFROOT=$(lab path "$LAB" bpfroot)
  NODE_NS=$(lab path "$LAB" node-netns)
  PODS_DIR=$(lab path "$LAB" pods)
}

in_node() { nsenter --net="/run/netns/$NODE_NS" -- "$@"; }
in_pod() {
  local pod=$1
  shift
  ip netns exec "$LAB-$pod" "$@"
}

# --- assertions -------------------------------------------------------------

assert_eq() { # actual expected message
  [[ $1 == "$2" ]] || fail "$3: expected '$2', got '$1'"
}
assert_ge() { # actual minimum message
  (($1 >= $2)) || fail "$3: expected >= $2, got $1"
}

# The kernel path is off: no IP forwarding in the node, no bridge, no kernel
# tunnel device that could carry pod traffic instead of the BPF programs.
assert_kernel_path_off() {
  local fwd dev
  fwd=$(in_node cat /proc/sys/net/ipv4/ip_forward)
  assert_eq "$fwd" 0 "net.ipv4.ip_forward in node netns $NODE_NS"
  for dev in bridge vxlan; do
    [[ -z $(in_node ip -d link show type "$dev") ]] ||
      fail "node netns has a $dev device: $(in_node ip -br link show type "$dev")"
  done
  log "kernel path off: ip_forward=0, no bridge, no vxlan in $NODE_NS"
}

# --- counters ---------------------------------------------------------------

stats_json() { "$XVR_BIN/xvrctl" --socket "$SOCK" -o json stats; }

# snap NAME: keeps the counters now, for delta/assert_rose later.
snap() { stats_json >"$WORK/snap-$1.json" || fail "xvrctl stats failed"; }

_sum() { # file hook verdict reason field
  jq --arg h "$2" --arg v "$3" --arg r "$4" --arg f "$5" \
    '[.counters[] | select(.hook == $h and .verdict == $v and .reason == $r) | .[$f]] | add // 0' \
    "$1"
}

# delta SNAP HOOK VERDICT REASON [packets|bytes]: growth since snap SNAP.
delta() {
  local field=${5:-packets} now before after
  now=$WORK/now.json
  stats_json >"$now" || fail "xvrctl stats failed"
  before=$(_sum "$WORK/snap-$1.json" "$2" "$3" "$4" "$field")
  after=$(_sum "$now" "$2" "$3" "$4" "$field")
  echo $((after - before))
}

# assert_rose SNAP HOOK VERDICT REASON MIN [packets|bytes] WHAT
assert_rose() {
  local field=packets d
  if [[ ${6:-} == packets || ${6:-} == bytes ]]; then field=$6; fi
  d=$(delta "$1" "$2" "$3" "$4" "$field")
  ((d >= $5)) || fail "${7:-path}: $2 $3/$4 $field rose by $d, expected >= $5"
  log "  counter $2 $3/$4 $field +$d (>= $5)"
}

# abi_index KIND NAME: the number of a hook, verdict or reason, read from the
# X-macro lists in abi.h (the one place they are defined).
abi_index() {
  local n
  n=$(grep -oE "X\([A-Z0-9_]+, *[0-9]+, *\"$2\"" "$REPO/bpf/include/xvr/abi.h" | head -n 1 |
    sed -E 's/.*, *([0-9]+), *".*/\1/')
  [[ -n $n ]] || fail "abi.h: no $1 named $2"
  echo "$n"
}

abi_max() { # VERDICT|REASON: XVR_<KIND>_MAX from abi.h
  local n
  n=$(grep -oE "XVR_$1_MAX = [0-9]+" "$REPO/bpf/include/xvr/abi.h" | grep -oE '[0-9]+$')
  [[ -n $n ]] || fail "abi.h: no XVR_$1_MAX"
  echo "$n"
}

# pinned_counter HOOK VERDICT REASON [packets|bytes]: read straight from the
# pinned per-CPU counter map, so it works while the agent is down.
pinned_counter() {
  local h v r idx
  h=$(abi_index hook "$1")
  v=$(abi_index verdict "$2")
  r=$(abi_index reason "$3")
  # xvr_counter_index() in abi.h: (hook * XVR_VERDICT_MAX + verdict) * XVR_REASON_MAX + reason
  idx=$(((h * $(abi_max VERDICT) + v) * $(abi_max REASON) + r))
  bpftool -j map lookup pinned "$BPFROOT/maps/xvr_counters" \
    key $((idx & 255)) $(((idx >> 8) & 255)) 0 0 |
    jq --arg f "${4:-packets}" '[.formatted.values[].value[$f]] | add // 0'
}

# --- traffic ----------------------------------------------------------------

# ping_ok FROM(pod|node) DST_IP COUNT: every echo must come back.
ping_ok() {
  local from=$1 dst=$2 n=$3 out
  local -a run=(in_pod "$from")
  [[ $from == node ]] && run=(in_node)
  out=$("${run[@]}" ping -c "$n" -i 0.05 -W 2 -q "$dst" 2>&1) ||
    fail "ping $from -> $dst failed: $out"
  grep -q " $n received" <<<"$out" || fail "ping $from -> $dst lost packets: $out"
  log "  ping $from -> $dst: $n/$n"
}

wait_listen() { # POD|node PORT
  local i
  local -a run=(in_pod "$1")
  [[ $1 == node ]] && run=(in_node)
  for ((i = 0; i < 50; i++)); do
    "${run[@]}" ss -Hltn "sport = :$2" | grep -q LISTEN && return 0
    sleep 0.1
  done
  fail "nothing listens on port $2 in $1"
}

# tcp_transfer FROM(pod|node) TO_POD TO_IP MIB: sends MIB MiB of random
# bytes with nc and checks they arrive intact. Sets XFER_BYTES.
tcp_transfer() {
  local from=$1 to=$2 ip=$3 mib=$4 port=5201 srv tx_sum rx_sum
  local -a run=(in_pod "$from")
  [[ $from == node ]] && run=(in_node)
  head -c "$((mib * 1024 * 1024))" /dev/urandom >"$WORK/tx"
  rm -f "$WORK/rx"
  in_pod "$to" timeout 60 nc -l -p "$port" </dev/null >"$WORK/rx" &
  srv=$!
  wait_listen "$to" "$port"
  if ! "${run[@]}" timeout 60 nc -N -w 10 "$ip" "$port" <"$WORK/tx"; then
    kill "$srv" 2>/dev/null
    fail "TCP $from -> $to ($ip:$port): nc client failed after $(stat -c %s "$WORK/rx") of $((mib << 20)) bytes arrived"
  fi
  wait "$srv" || fail "TCP $from -> $to: nc server failed after $(stat -c %s "$WORK/rx") bytes"
  tx_sum=$(sha256sum <"$WORK/tx")
  rx_sum=$(sha256sum <"$WORK/rx")
  [[ $tx_sum == "$rx_sum" ]] ||
    fail "TCP $from -> $to: data corrupted ($(stat -c %s "$WORK/rx") of $((mib << 20)) bytes arrived)"
  # shellcheck disable=SC2034 # read by the tests
  XFER_BYTES=$((mib << 20))
  log "  TCP $from -> $to ($ip): $mib MiB intact (sha256 match)"
}

# --- endpoints and maps -----------------------------------------------------

endpoints_json() { "$XVR_BIN/xvrctl" --socket "$SOCK" -o json endpoints; }

# Number of entries in a pinned map (hash maps and devmaps alike).
map_count() {
  bpftool -j map dump pinned "$BPFROOT/maps/$1" | jq 'length'
}

# Host-side pod veths (xvr + 12 hex) in the node netns, sorted.
host_veths() {
  in_node ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' |
    grep -E '^xvr[0-9a-f]{12}$' | sort || true
}

pod_host_ifname() { # POD: host veth from the saved ADD result
  jq -r '[.interfaces[] | select((.sandbox // "") == "")][0].name' "$PODS_DIR/$1.json"
}
pod_gateway() { jq -r '.ips[0].gateway' "$PODS_DIR/$1.json"; }

# --- clusters (multi-node tests) ----------------------------------------------
#
# A cluster lab (xvr-lab cluster-up) has nodes n1..nN. Pods are named
# nI-podJ here: in_pod, ping_ok, wait_listen and tcp_transfer take them as
# they are (their netns is $LAB-nI-podJ). Functions that read a node's
# counters or maps run under on_node, which points SOCK, BPFROOT, NODE_NS and
# PODS_DIR at that node for the duration of one call.

# The tests wait for the overlay themselves (lab cluster-wait), with a
# failure instead of cluster-up's warning.
e2e_cluster_up() {
  XVR_LAB_READY_TIMEOUT=0 lab cluster-up "$LAB" "$@"
  CLUSTER_JSON=$(lab cluster-info "$LAB" -o json)
  EXT_NS=$(jq -r .external.netns <<<"$CLUSTER_JSON")
  # shellcheck disable=SC2034 # read by the tests
  EXT_IP=$(jq -r .external.ip <<<"$CLUSTER_JSON")
  UL_NS=$(jq -r .underlay.netns <<<"$CLUSTER_JSON")
  # shellcheck disable=SC2034
  VXLAN_PORT=$(jq -r .overlay.port <<<"$CLUSTER_JSON")
  # shellcheck disable=SC2034
  VXLAN_VNI=$(jq -r .overlay.vni <<<"$CLUSTER_JSON")
}

cluster_refresh() { CLUSTER_JSON=$(lab cluster-info "$LAB" -o json); }
node_field() { jq -r --arg n "$1" ".nodes[] | select(.name == \$n) | .$2" <<<"$CLUSTER_JSON"; }
node_ip() { node_field "$1" ip; }
node_cidr() { node_field "$1" podCIDR; }
node_vtep_mac() { node_field "$1" vtepMAC; }
xvr_nodes() { jq -r '.nodes[] | select(.kind == "xvr") | .name' <<<"$CLUSTER_JSON"; }
cpod_ip() { lab ip "$LAB/$1" "$2"; } # NODE POD

# on_node NODE CMD...: CMD sees NODE's socket, pins, netns and pods.
on_node() {
  local n=$1
  shift
  local SOCK BPFROOT NODE_NS PODS_DIR
  SOCK=$(lab path "$LAB/$n" socket)
  BPFROOT=$(lab path "$LAB/$n" bpfroot)
  NODE_NS=$(lab path "$LAB/$n" node-netns)
  PODS_DIR=$(lab path "$LAB/$n" pods)
  "$@"
}
in_cnode() { # NODE CMD...
  local n=$1
  shift
  nsenter --net="/run/netns/$LAB-$n" -- "$@"
}
in_ext() { ip netns exec "$EXT_NS" "$@"; }
in_ul() { ip netns exec "$UL_NS" "$@"; }

# snap_on NODE SNAP / assert_rose_on NODE SNAP HOOK VERDICT REASON MIN
# [packets|bytes] WHAT: snap/assert_rose on one node's counters.
snap_on() { on_node "$1" snap "$1-$2"; }
assert_rose_on() {
  local n=$1 s=$2 field=packets d
  shift 2
  if [[ ${5:-} == packets || ${5:-} == bytes ]]; then field=$5; fi
  d=$(on_node "$n" delta "$n-$s" "$1" "$2" "$3" "$field")
  ((d >= $4)) || fail "${6:-path}: $n $1 $2/$3 $field rose by $d, expected >= $4"
  log "  $n: counter $1 $2/$3 $field +$d (>= $4)"
}
delta_on() { on_node "$1" delta "$1-$2" "${@:3}"; } # NODE SNAP HOOK VERDICT REASON [field]

# Every xvr node: ip_forward=0, no bridge, no vxlan device.
assert_cluster_kernel_path_off() {
  local n
  for n in $(xvr_nodes); do
    on_node "$n" assert_kernel_path_off
  done
}

# A node's pinned xvr_routes / xvr_neigh, decoded by the lab tool: lines
# "PREFIX local|tunnel NODE_IP|kernel [via GW] dev IFINDEX", "IP MAC STATE dev IFINDEX".
routes_of() { lab routes "$LAB/$1"; }
neigh_of() { lab neigh "$LAB/$1"; }

# wait_for SECONDS CMD...: polls CMD every 50 ms until it succeeds (0) or
# SECONDS pass (1). Sets WAITED_MS.
wait_for() {
  local secs=$1 t0 rc=0
  shift
  t0=$(date +%s%N)
  until "$@"; do
    if (($(date +%s%N) - t0 > secs * 1000000000)); then
      rc=1
      break
    fi
    sleep 0.05
  done
  # shellcheck disable=SC2034
  WAITED_MS=$((($(date +%s%N) - t0) / 1000000))
  return "$rc"
}

has_route() { routes_of "$1" | grep -qxF "$2"; }      # NODE LINE
lacks_route() { ! routes_of "$1" | grep -q "^$2 "; }  # NODE PREFIX
# Tunnel route for NODE's pod CIDR on FROM (or none of it).
has_tunnel() { has_route "$1" "$(node_cidr "$2") tunnel $(node_ip "$2")"; } # FROM NODE
lacks_tunnel() { ! routes_of "$1" | grep -q "^$(node_cidr "$2") tunnel"; }

# The fabric program is attached to fab0 on every xvr node.
assert_fabric_attached() {
  local n
  for n in $(xvr_nodes); do
    in_cnode "$n" ip -d link show fab0 | grep -q 'prog/xdp' ||
      fail "$n: no XDP program on fab0: $(in_cnode "$n" ip -d link show fab0)"
  done
  log "xdp_fabric attached to fab0 on: $(xvr_nodes | tr '\n' ' ')"
}

# udp_transfer FROM(pod) TO_POD TO_IP COUNT: COUNT numbered datagrams of
# ~200 bytes, paced; every one must arrive intact.
udp_transfer() {
  local from=$1 to=$2 ip=$3 n=$4 port=5301 srv i got
  for ((i = 1; i <= n; i++)); do
    printf 'xvr-udp %05d %s\n' "$i" "$(head -c 90 /dev/zero | tr '\0' 'u')$from->$to"
  done >"$WORK/udp_tx"
  rm -f "$WORK/udp_rx"
  # Not through in_pod: $! must be the process that gets the kill below
  # (ip netns exec execs timeout, which passes the signal on to nc).
  ip netns exec "$LAB-$to" timeout 30 nc -u -l -p "$port" </dev/null >"$WORK/udp_rx" &
  srv=$!
  for ((i = 0; i < 50; i++)); do
    in_pod "$to" ss -Hlun "sport = :$port" | grep -q . && break
    sleep 0.1
  done
  # One sendto per line, 5 ms apart: exactly one datagram per line (nc may
  # put two lines that reach its stdin together into one datagram, and the
  # tests count datagrams at the hooks).
  in_pod "$from" timeout 30 python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for line in open(sys.argv[1], "rb"):
    s.sendto(line, (sys.argv[2], int(sys.argv[3])))
    time.sleep(0.005)
' "$WORK/udp_tx" "$ip" "$port" || fail "UDP $from -> $to: sender failed"
  for ((i = 0; i < 50; i++)); do
    [[ $(wc -l <"$WORK/udp_rx") -ge $n ]] && break
    sleep 0.1
  done
  kill "$srv" 2>/dev/null
  wait "$srv" 2>/dev/null || true
  got=$(wc -l <"$WORK/udp_rx")
  cmp -s "$WORK/udp_tx" "$WORK/udp_rx" ||
    fail "UDP $from -> $to ($ip:$port): $got of $n datagrams arrived intact and in order"
  log "  UDP $from -> $to ($ip): $n/$n datagrams intact"
}

# Capture on the underlay bridge (br0 in $UL_NS): ul_capture_start FILE
# [FILTER]; traffic; ul_capture_stop.
ul_capture_start() {
  local i
  UL_CAP_FILE=$1
  rm -f "$UL_CAP_FILE" "$WORK/tshark.err"
  # $! is tshark itself (ip netns exec execs it), so SIGINT reaches it.
  ip netns exec "$UL_NS" tshark -i br0 -w "$UL_CAP_FILE" -f "${2:-udp}" 2>"$WORK/tshark.err" >/dev/null &
  UL_CAP_PID=$!
  for ((i = 0; i < 100; i++)); do
    grep -q "Capturing on" "$WORK/tshark.err" 2>/dev/null && { sleep 0.2; return 0; }
    kill -0 "$UL_CAP_PID" 2>/dev/null || fail "tshark on br0 in $UL_NS died: $(cat "$WORK/tshark.err")"
    sleep 0.1
  done
  fail "tshark on br0 in $UL_NS did not start: $(cat "$WORK/tshark.err")"
}
ul_capture_stop() {
  sleep 0.3
  kill -INT "$UL_CAP_PID" 2>/dev/null
  wait "$UL_CAP_PID" 2>/dev/null || true
}
