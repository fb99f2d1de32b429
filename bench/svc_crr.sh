#!/usr/bin/env bash
# (j) Connection rate through a ClusterIP: client pod -> ClusterIP -> one of
# 10 backend pods on the same node, TCP connect/request/response/close in a
# loop (xvr-bench-crr), with 1, 1 000 and 10 000 services (x 10 endpoints),
# xvr beside kube-proxy's iptables mode on the same topology. Every path
# exists once per service count, side by side, and all are measured
# round-robin in the same rounds. Also times loading each service
# set: iptables-restore the way kube-proxy calls it, and the agent from a
# manifest to all frontends in xvr_svc. Prints a markdown section.
#
# xvr: a one-node cluster of scripts/xvr-lab (cluster-up --nodes 1, pods by
# xvr-cni, ip_forward=0); services are a multi-document manifest written to
# the lab's manifests directory (bench/tools/svcgen.py manifests).
# kube-proxy: the same pods (client + 10 backends) on veths in a Linux
# bridge in a node netns with ip_forward=1 and bridge-nf-call-iptables=1
# (kube-proxy requires br_netfilter on bridged pod networks), the rules
# kube-proxy's iptables mode writes for the same service set
# (svcgen.py iptables: KUBE-SERVICES -> KUBE-SVC-* statistic -> KUBE-SEP-*
# DNAT), loaded with `iptables-restore -w 5 --noflush --counters` after the
# jump rules kube-proxy ensures; once with iptables-nft (Debian's default
# iptables) and once with iptables-legacy, each in its own node netns.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/topo.sh"

SECS=${BENCH_CRR_SECONDS:-2}
read -r -a COUNTS <<<"${BENCH_SVC_COUNTS:-1 1000 10000}"
read -r -a ATTACHES <<<"${BENCH_SVC_ATTACH:-xdp}"
read -r -a VARIANTS <<<"${BENCH_SVC_IPTABLES:-nft legacy}"
EPS=${BENCH_SVC_ENDPOINTS:-10}
RESTORE_TIMEOUT=${BENCH_SVC_RESTORE_TIMEOUT:-60}
PROGRAM_TIMEOUT=${BENCH_SVC_PROGRAM_TIMEOUT:-900}
GEN=$BENCH_DIR/tools/svcgen.py
CRR=$BENCH_BIN/xvr-bench-crr
WATCH=$BENCH_BIN/xvr-bench-svcwatch
VIP=10.96.0.10
SVC_PORT=80 TARGET_PORT=8080 DIRECT_PORT=9090
for b in xvr-bench-crr xvr-bench-svcwatch; do
  [[ -x $BENCH_BIN/$b ]] || die "$BENCH_BIN/$b missing: cmake --build $BUILD --target xvr_bench_tools"
done
for v in "${VARIANTS[@]}"; do
  command -v "iptables-$v-restore" >/dev/null || die "iptables-$v-restore not installed"
done
command -v python3 >/dev/null || die "python3 not installed"
bench_preflight
arm_cleanup

declare -A KP_V BACKENDS MAPS MANIFESTS SERVERS

# --- kube-proxy iptables mode on a bridge ---------------------------------------
kp_ipt() { # CFG ARGS...: iptables of the variant, in the node netns
  local cfg=$1
  shift
  in_ns "${T_HOST_NS[$cfg]}" "iptables-${KP_V[$cfg]}" -w 5 "$@"
}
kp_restore() { # CFG [ARGS]... < FILE
  local cfg=$1
  shift
  in_ns "${T_HOST_NS[$cfg]}" "iptables-${KP_V[$cfg]}-restore" -w 5 "$@"
}
# What kube-proxy does outside iptables-restore: EnsureChain + EnsureRule
# (Prepend) for its jumps from the built-in chains.
kp_jumps() {
  local cfg=$1 table chain rest target
  local -a args
  while read -r table chain rest; do
    target=${rest##*-j }
    kp_ipt "$cfg" -t "$table" -N "$target" 2>/dev/null || true
    eval "args=($rest)"
    kp_ipt "$cfg" -t "$table" -I "$chain" "${args[@]}"
  done < <(python3 "$GEN" iptables-jumps)
}
# Empty filter and nat tables (a whole-table restore of nothing), jumps back.
kp_reset() {
  printf '*filter\nCOMMIT\n*nat\nCOMMIT\n' | kp_restore "$1"
  kp_jumps "$1"
}

kp_pod() { # NODE_NS POD_NS HOST_IF IP
  ip link add eth0 netns "$2" type veth peer name "$3" netns "$1"
  ip -n "$1" link set "$3" master br0 up
  ip -n "$2" addr add "$4/24" dev eth0
  ip -n "$2" link set eth0 up
  ip -n "$2" route add default via 10.244.1.1
}

topo_kp() { # CFG VARIANT
  local cfg=$1 p=xb$BENCH_ID-$1 j ips=""
  netns_add "$p-n"
  netns_add "$p-c"
  ip -n "$p-n" link add br0 type bridge
  ip -n "$p-n" addr add 10.244.1.1/24 dev br0
  ip -n "$p-n" link set br0 up
  in_ns "$p-n" sysctl -qw net.ipv4.ip_forward=1
  in_ns "$p-n" sysctl -qw net.bridge.bridge-nf-call-iptables=1
  kp_pod "$p-n" "$p-c" hc 10.244.1.2
  for ((j = 0; j < EPS; j++)); do
    netns_add "$p-b$j"
    kp_pod "$p-n" "$p-b$j" "h$j" "10.244.1.$((10 + j))"
    ips+="${ips:+,}10.244.1.$((10 + j))"
  done
  T_KIND[$cfg]=kube-proxy-$2
  KP_V[$cfg]=$2
  T_NS_A[$cfg]=$p-c
  T_HOST_NS[$cfg]=$p-n
  BACKENDS[$cfg]=$ips
  SERVERS[$cfg]=$(for ((j = 0; j < EPS; j++)); do printf '%s ' "$p-b$j"; done)
  kp_reset "$cfg"
}

# --- xvr: a one-node cluster ------------------------------------------------------
topo_svc_xvr() { # CFG LAB ATTACH
  local cfg=$1 lab=$2 j ips="" pods
  "$LAB_TOOL" cluster-up "$lab" --nodes 1 --pods-per-node $((EPS + 1)) --attach "$3" \
    >"$WORK/$lab.up.log" 2>&1 || {
    cat "$WORK/$lab.up.log" >&2
    "$LAB_TOOL" down "$lab" >/dev/null 2>&1
    die "xvr-lab cluster-up $lab failed"
  }
  on_exit "'$LAB_TOOL' down '$lab'"
  T_KIND[$cfg]=xvr-$3
  T_LAB[$cfg]=$lab/n1
  T_NS_A[$cfg]=$lab-n1-pod1
  T_HOST_NS[$cfg]=$lab-n1
  for ((j = 2; j <= EPS + 1; j++)); do
    ips+="${ips:+,}$("$LAB_TOOL" ip "$lab/n1" "pod$j")"
    pods+="$lab-n1-pod$j "
  done
  BACKENDS[$cfg]=$ips
  SERVERS[$cfg]=$pods
  MAPS[$cfg]=$("$LAB_TOOL" path "$lab/n1" bpfroot)/maps
  MANIFESTS[$cfg]=$("$LAB_TOOL" path "$lab" manifests)
}

# One set of topologies per service count, so that every count is measured
# in the same rounds (a busy moment of the shared machine hits all counts
# alike; measuring the counts one after the other would mix time drift into
# the "flat from 1 to 10 000" comparison).
CFGS=()
declare -A CFG_N
for n in "${COUNTS[@]}"; do
  for a in "${ATTACHES[@]}"; do
    log "j. xvr one-node cluster for $n services, podAttach=$a, $((EPS + 1)) pods"
    topo_svc_xvr "xvr-$a-$n" "xb${BENCH_ID}j$a$n" "$a"
    CFGS+=("xvr-$a-$n")
    CFG_N[xvr-$a-$n]=$n
  done
  for v in "${VARIANTS[@]}"; do
    log "j. kube-proxy iptables mode ($v) on a bridge for $n services, $((EPS + 1)) pods"
    topo_kp "kp-$v-$n" "$v"
    CFGS+=("kp-$v-$n")
    CFG_N[kp-$v-$n]=$n
  done
done

# Servers: every backend answers on TARGET_PORT (the service's targetPort);
# backend 0 also on DIRECT_PORT, the pod-IP reference. A separate port:
# xvr's reverse-NAT entries (xvr_svc_rev) of earlier service connections
# are keyed by the reply tuple and outlive the connections, so a direct
# connection to backend:TARGET_PORT that reuses one of their client ports
# would get its replies rewritten to the ClusterIP.
for c in "${CFGS[@]}"; do
  i=0
  for ns in ${SERVERS[$c]}; do
    for port in $TARGET_PORT $([[ $i == 0 ]] && echo $DIRECT_PORT); do
      pidf=$WORK/crr-$c-$i-$port.pid
      in_ns "$ns" "$CRR" server --port "$port" --pidfile "$pidf" >/dev/null 2>&1 &
      on_exit "kill \$(cat '$pidf')"
    done
    i=$((i + 1))
  done
done
for f in $(seq 1 50); do
  (($(find "$WORK" -name 'crr-*.pid' | wc -l) == ${#CFGS[@]} * (EPS + 1))) && break
  sleep 0.1
done

# --- loading the service sets --------------------------------------------------------
declare -A LOAD_MS LOAD_NOTE FULL_MS RULES
ms_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.0f", (b - a) * 1000}'; }

kp_load() { # CFG N
  local cfg=$1 n=$2 v=${KP_V[$1]} f=$WORK/kp-$1-$2.txt t0 rc=0 got
  python3 "$GEN" iptables --services "$n" --endpoints "$EPS" --target-endpoints "${BACKENDS[$cfg]}" >"$f"
  RULES[$n]=$(grep -c '^-A' "$f")
  kp_reset "$cfg"
  log "j. $cfg: iptables-$v-restore --noflush --counters, $n services (${RULES[$n]} rules), timeout ${RESTORE_TIMEOUT}s"
  t0=$EPOCHREALTIME
  timeout "$RESTORE_TIMEOUT" nsenter --net="/run/netns/${T_HOST_NS[$cfg]}" -- \
    "iptables-$v-restore" -w 5 --noflush --counters <"$f" || rc=$?
  if ((rc == 0)); then
    LOAD_MS[$cfg/$n]=$(ms_since "$t0")
  elif ((rc == 124)); then
    LOAD_MS[$cfg/$n]=">$((RESTORE_TIMEOUT * 1000))"
    LOAD_NOTE[$cfg/$n]="killed after ${RESTORE_TIMEOUT} s"
    # Not committed: nothing of it is in the kernel. Load the same rules
    # with a whole-table restore (flushes the tables, so it carries the
    # jump rules too): same ruleset, not kube-proxy's call.
    python3 "$GEN" iptables --services "$n" --endpoints "$EPS" \
      --target-endpoints "${BACKENDS[$cfg]}" --with-jumps >"$f.full"
    log "j. $cfg: killed; loading with a whole-table iptables-$v-restore"
    t0=$EPOCHREALTIME
    kp_restore "$cfg" <"$f.full"
    FULL_MS[$cfg/$n]=$(ms_since "$t0")
  else
    die "$cfg: iptables-$v-restore of $n services failed (exit $rc)"
  fi
  got=$(kp_ipt "$cfg" -t nat -S KUBE-SERVICES | grep -c '^-A KUBE-SERVICES')
  ((got == n + 1)) || die "$cfg: KUBE-SERVICES holds $got rules after loading $n services, wanted $((n + 1))"
  SVC_CHAIN[$cfg]=$(grep -m1 -- '"bench/target:http cluster IP"' "$f" | awk '{print $NF}')
}
declare -A SVC_CHAIN

xvr_load() { # CFG N
  local cfg=$1 n=$2 m=${MANIFESTS[$1]} j got
  python3 "$GEN" manifests --services "$n" --endpoints "$EPS" \
    --target-endpoints "${BACKENDS[$cfg]}" >"$m/.svc-bench.yaml.tmp"
  log "j. $cfg: manifest with $n services -> xvr_svc (timeout ${PROGRAM_TIMEOUT}s)"
  j=$("$WATCH" count --maps "${MAPS[$cfg]}" --want "$n" --timeout "$PROGRAM_TIMEOUT" \
    --rename "$m/.svc-bench.yaml.tmp" "$m/svc-bench.yaml") || die "$cfg: $n services not programmed: $j"
  LOAD_MS[$cfg/$n]=$(jq -r '.ms | floor' <<<"$j")
  got=$("$LAB_TOOL" ctl "${T_LAB[$cfg]}" -o json services | jq '.services | length')
  ((got == n)) || die "$cfg: xvrctl services lists $got frontends, wanted $n"
  STATS[$cfg/$n]=$("$LAB_TOOL" ctl "${T_LAB[$cfg]}" -o json services |
    jq -c '.stats | {frontends, backends, tables, lastReconcileMs, lastChangeToProgrammedMs, errors}')
}
declare -A STATS

# --- measuring ---------------------------------------------------------------------------
declare -A R P50 P99 ERR
crr() { # CFG KIND(svc|pod) N SECONDS -> JSON line
  local cfg=$1 host=$VIP port=$SVC_PORT
  if [[ $2 == pod ]]; then
    host=${BACKENDS[$cfg]%%,*}
    port=$DIRECT_PORT
  fi
  in_ns "${T_NS_A[$cfg]}" "$CRR" client --host "$host" --port "$port" --seconds "$4" --label "$cfg/$2/$3"
}

svc_packets() { # CFG: new connections through the target's KUBE-SVC chain / xdp_pod redirects
  local cfg=$1
  if [[ $cfg == kp-* ]]; then
    kp_ipt "$cfg" -t nat -L "${SVC_CHAIN[$cfg]}" -v -x -n | awk '/KUBE-SEP-/ {s += $1} END {print s + 0}'
  else
    xvr_counter "$cfg" "$(case ${T_KIND[$cfg]} in xvr-tc) echo tc_pod ;; *) echo xdp_pod ;; esac)" redirect ok packets
  fi
}

agent_cpu() { # CFG -> agent CPU seconds so far (utime + stime)
  local pid
  pid=$(cat "$("$LAB_TOOL" path "${T_LAB[$1]}" dir)/agent.pid")
  awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$pid/stat"
}

for c in "${CFGS[@]}"; do
  n=${CFG_N[$c]}
  if [[ $c == kp-* ]]; then kp_load "$c" "$n"; else xvr_load "$c" "$n"; fi
done
for c in "${CFGS[@]}"; do
  for k in svc pod; do
    j=$(crr "$c" "$k" "${CFG_N[$c]}" 0.3) || die "$c: $k warm-up failed: $j"
  done
done
declare -A CHECK CONNS S0 CPU0 CPU
for c in "${CFGS[@]}"; do
  S0[$c]=$(svc_packets "$c")
  CONNS[$c]=0
  [[ $c == xvr-* ]] && CPU0[$c]=$(agent_cpu "$c")
done
log "j. $RUNS rounds of ${SECS}s per path, ClusterIP and pod IP: ${CFGS[*]}"
T0=$EPOCHREALTIME
for ((r = 1; r <= RUNS; r++)); do
  for c in "${CFGS[@]}"; do
    n=${CFG_N[$c]}
    for k in svc pod; do
      j=$(crr "$c" "$k" "$n" "$SECS") || die "$c $k: $j"
      echo "$j" >>"$WORK/crr.jsonl"
      R[$c/$k]+="$(jq -r .cps <<<"$j") "
      P50[$c/$k]+="$(jq -r .p50_us <<<"$j") "
      P99[$c/$k]+="$(jq -r .p99_us <<<"$j") "
      ERR[$c/$k]=$((${ERR[$c/$k]:-0} + $(jq -r .errors <<<"$j")))
      [[ $k == svc ]] && CONNS[$c]=$((CONNS[$c] + $(jq -r .connections <<<"$j")))
    done
  done
done
ROUNDS_S=$(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.0f", b - a}')
for c in "${CFGS[@]}"; do
  CHECK[$c]=$(($(svc_packets "$c") - S0[$c]))
  [[ $c == xvr-* ]] && CPU[$c]=$(awk -v a="${CPU0[$c]}" -v b="$(agent_cpu "$c")" 'BEGIN {printf "%.2f", b - a}')
done

# --- report ---------------------------------------------------------------------------------
med() { # KEY
  local v=${R[$1]:-}
  # shellcheck disable=SC2086 # one word per number
  if [[ -n $v ]]; then FMT=%.0f median $v; else echo n/a; fi
}
cell() {
  local v=${R[$1]:-}
  [[ -n $v ]] || { echo "n/a"; return; }
  # shellcheck disable=SC2086,SC2046 # one word per number
  echo "**$(med "$1")** ($(joined $(printf '%.0f ' $v)))"
}
lat() { # KEY -> "p50 / p99" medians
  # shellcheck disable=SC2086 # one word per number
  echo "$(FMT=%.0f median ${P50[$1]}) / $(FMT=%.0f median ${P99[$1]})"
}
label() {
  case ${1%-*} in
    xvr-xdp) echo "xvr podAttach=xdp" ;;
    xvr-tc) echo "xvr podAttach=tc" ;;
    kp-nft) echo "kube-proxy iptables mode, iptables-nft (nf_tables)" ;;
    kp-legacy) echo "kube-proxy iptables mode, iptables-legacy (x_tables)" ;;
  esac
}
BASES=()
for a in "${ATTACHES[@]}"; do BASES+=("xvr-$a"); done
for v in "${VARIANTS[@]}"; do BASES+=("kp-$v"); done
REF=kp-${VARIANTS[0]}
first=${COUNTS[0]} last=${COUNTS[${#COUNTS[@]} - 1]}

echo "### j. Connection rate through a ClusterIP: ${COUNTS[*]} services, xvr vs kube-proxy iptables mode"
echo
echo "Command: \`bash bench/svc_crr.sh\` (BENCH_RUNS=$RUNS, ${SECS}s per measurement). Load: \`xvr-bench-crr client"
echo "--seconds $SECS\` in the client pod: one TCP connection at a time, connect, send 8 bytes, read the 8-byte echo,"
echo "close with SO_LINGER 0 (RST: no TIME_WAIT on either side, so ephemeral ports are reused at once);"
echo "\`xvr-bench-crr server\` (epoll, one thread) in each of the $EPS backend pods. Target: ClusterIP $VIP:$SVC_PORT ->"
echo "targetPort $TARGET_PORT on the $EPS backend pods of the same node; the other services have $EPS endpoints each on no"
echo "pod here. Reference: the same client to backend 0's pod IP directly (port $DIRECT_PORT, no service). Every"
echo "path exists once per service count (${#CFGS[@]} topologies side by side) and all of them, both kinds, are"
echo "measured in every round, interleaved (the rounds took ${ROUNDS_S} s). Median connections/s (runs in"
echo "brackets); latency = medians of each run's p50 / p99 of one connect-to-close, microseconds."
echo
echo "Paths: xvr = a one-node \`xvr-lab cluster-up --nodes 1 --pods-per-node $((EPS + 1))\` (node ip_forward=0; the"
echo "services as one multi-document manifest in the lab's manifests dir, programmed by the agent, checked with"
echo "\`xvrctl -o json services\` before measuring). kube-proxy = the same $((EPS + 1)) pods on veths in a Linux bridge"
echo "in a node netns (ip_forward=1, bridge-nf-call-iptables=1) with the rules kube-proxy's iptables mode writes"
echo "for the same services (\`bench/tools/svcgen.py iptables\`: KUBE-SERVICES -> KUBE-SVC-* with \`-m statistic"
echo "--mode random --probability\` -> KUBE-SEP-* DNAT + KUBE-MARK-MASQ, KUBE-POSTROUTING masquerade on mark"
echo "0x4000, the PREROUTING/OUTPUT/POSTROUTING jumps); the measured service is at position N/2 of KUBE-SERVICES"
echo "(kube-proxy writes services in Go map order, so the middle is the expected position)."
echo
echo "| services | path | ClusterIP conn/s | ClusterIP p50 / p99 us | pod IP conn/s | ClusterIP / pod IP | ClusterIP x $REF |"
echo "|---|---|---|---|---|---|---|"
for n in "${COUNTS[@]}"; do
  for b in "${BASES[@]}"; do
    c=$b-$n
    echo "| $n | $(label "$c") | $(cell "$c/svc") | $(lat "$c/svc") | $(cell "$c/pod") | $(ratio "$(med "$c/svc")" "$(med "$c/pod")") | $(ratio "$(med "$c/svc")" "$(med "$REF-$n/svc")") |"
  done
done
echo
echo "Same path, $last services relative to $first (median over median, same rounds):"
echo
for b in "${BASES[@]}"; do
  echo "- $(label "$b-$last"): ClusterIP $(ratio "$(med "$b-$last/svc")" "$(med "$b-$first/svc")"), pod IP $(ratio "$(med "$b-$last/pod")" "$(med "$b-$first/pod")")"
done
echo
echo "Loading each service set into an empty topology (one measurement each). iptables: \`iptables-restore -w 5"
echo "--noflush --counters\` (kube-proxy's call) into tables holding only kube-proxy's jump rules, killed after"
echo "${RESTORE_TIMEOUT} s; xvr: the manifest renamed into the manifests dir of an agent serving no service ->"
echo "\`xvr-bench-svcwatch count\` sees all N frontends in the pinned xvr_svc. Milliseconds."
echo
hdr="| services | iptables rules (filter + nat) |"
sep="|---|---|"
for b in "${BASES[@]}"; do
  hdr+=" $b |"
  sep+="---|"
done
echo "$hdr"
echo "$sep"
for n in "${COUNTS[@]}"; do
  row="| $n | ${RULES[$n]:-} |"
  for b in "${BASES[@]}"; do
    c=$b-$n
    v=${LOAD_MS[$c/$n]:-n/a}
    [[ -n ${LOAD_NOTE[$c/$n]:-} ]] && v+=" (${LOAD_NOTE[$c/$n]}; the same rules by a whole-table restore without --noflush: ${FULL_MS[$c/$n]})"
    row+=" $v |"
  done
  echo "$row"
done
echo
echo "Path checks from the same run (measured rounds only):"
echo
for n in "${COUNTS[@]}"; do
  for b in "${BASES[@]}"; do
    c=$b-$n
    if [[ $c == kp-* ]]; then
      echo "- $c: ClusterIP connections counted by the client ${CONNS[$c]}; packets through ${SVC_CHAIN[$c]}'s endpoint jumps (first packet of each new connection) +${CHECK[$c]}; client errors ClusterIP ${ERR[$c/svc]}, pod IP ${ERR[$c/pod]}."
    else
      echo "- $c: ClusterIP connections ${CONNS[$c]}; pod-hook redirect/ok +${CHECK[$c]} packets (ClusterIP and pod IP, both directions); client errors ClusterIP ${ERR[$c/svc]}, pod IP ${ERR[$c/pod]}; agent CPU during the rounds ${CPU[$c]} s; agent: ${STATS[$c/$n]}."
    fi
  done
done
echo
