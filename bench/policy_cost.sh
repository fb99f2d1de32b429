#!/usr/bin/env bash
# (m) ns/packet of xdp_pod with flows and NetworkPolicy on: an established
# packet (flow hit) and the first packet of a connection (flow miss, policy
# verdict, flow pair created), client pod -> server pod on one node, with
# 1, 100 and 1 000 NetworkPolicies loaded through the agent, beside the
# same lab with no NetworkPolicy (the baseline), all in the same run,
# interleaved. Also the first packet of a connection the policy denies.
#
# One one-node lab per policy count (scripts/xvr-lab cluster-up --nodes 1
# --pods-per-node 3: pod1 client, pod2 server, pod3 intruder), each given
# the same namespaces, pods (its own 3 + bench/tools/netpolgen.py's remote
# pods) and N policies as one manifest in the lab's manifests dir; the
# agent compiles them into xvr_ipcache / xvr_cidr_id / xvr_policy, checked
# with `xvrctl policy` (count, --check verdicts) before measuring. The
# measurement is BPF_PROG_TEST_RUN of the lab's own pinned xdp_pod
# (xvr-bench-policycost, in the lab's node netns). Prints a markdown section.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

PACKETS=${BENCH_PROG_PACKETS:-1000000}
MISS=${BENCH_POLICY_MISS_PACKETS:-50000}
read -r -a COUNTS <<<"${BENCH_POLICY_COUNTS:-1 100 1000}"
REMOTE=${BENCH_POLICY_REMOTE_PODS:-1000}
PORT=8080
TIMEOUT=${BENCH_POLICY_PROGRAM_TIMEOUT:-120}
GEN=$BENCH_DIR/tools/netpolgen.py
TOOL=$BENCH_BIN/xvr-bench-policycost
[[ -x $TOOL ]] || die "$TOOL missing: cmake --build $BUILD --target xvr_bench_tools"
command -v python3 >/dev/null || die "python3 not installed"
bench_preflight
arm_cleanup

ALL=(0 "${COUNTS[@]}")
declare -A LAB SPEC POL
pod_spec() { # LAB/n1 POD -> HOSTIF,POD_MAC,IP (the CNI result)
  jq -r '[.interfaces[] | select((.sandbox // "") == "") | .name][0] + "," +
         [.interfaces[] | select((.sandbox // "") != "") | .mac][0] + "," +
         (.ips[0].address | split("/")[0])' "$("$LAB_TOOL" path "$1" pods)/$2.json"
}
ctl() { "$LAB_TOOL" ctl "$@"; }

for n in "${ALL[@]}"; do
  lab=xb${BENCH_ID}m$n
  log "m. one-node lab $lab, 3 pods, $n NetworkPolicies"
  "$LAB_TOOL" cluster-up "$lab" --nodes 1 --pods-per-node 3 >"$WORK/$lab.up.log" 2>&1 || {
    cat "$WORK/$lab.up.log" >&2
    "$LAB_TOOL" down "$lab" >/dev/null 2>&1
    die "xvr-lab cluster-up $lab failed"
  }
  on_exit "'$LAB_TOOL' down '$lab'"
  LAB[$n]=$lab/n1
  for p in pod1 pod2 pod3; do SPEC[$n/$p]=$(pod_spec "$lab/n1" "$p"); done
  man=$("$LAB_TOOL" path "$lab" manifests)
  python3 "$GEN" --node "$lab-n1" --client-ip "${SPEC[$n/pod1]##*,}" --server-ip "${SPEC[$n/pod2]##*,}" \
    --denied-ip "${SPEC[$n/pod3]##*,}" --policies "$n" --remote-pods "$REMOTE" --port "$PORT" \
    >"$man/.netpol.tmp"
  mv "$man/.netpol.tmp" "$man/netpol.yaml"
done

# Programmed: the agent compiled all N policies into the maps, and its own
# evaluator agrees with what the measurement expects.
for n in "${ALL[@]}"; do
  t=${LAB[$n]} deadline=$((SECONDS + TIMEOUT))
  while :; do
    j=$(ctl "$t" -o json policy 2>/dev/null) || j='{}'
    if [[ $(jq -r '"\(.policies) \(.stats.synced) \(.stats.errors) \(.identities | length)"' <<<"$j") == "$n true 0 "* ]] &&
      (($(jq '[.endpoints[] | select(.pod | startswith("default/pod"))] | length' <<<"$j") == 3)); then
      break
    fi
    ((SECONDS < deadline)) || die "m: lab ${LAB[$n]}: $n policies not programmed after ${TIMEOUT}s: $(jq -c '{policies, stats}' <<<"$j")"
    sleep 0.5
  done
  sleep 1 # endpoint poll + debounce settled
  j=$(ctl "$t" -o json policy)
  POL[$n]=$(jq -c '{policies, identities: (.identities | length), ipcache: .maps.ipcache, cidr: .maps.cidr,
    policy: .maps.policy, lastCompileMs: (.lastCompileMs * 10 | round / 10), gen: .generation,
    lastChangeToProgrammedMs: (.stats.lastChangeToProgrammedMs * 10 | round / 10), warnings: (.warnings | length)}' <<<"$j")
  client=${SPEC[$n/pod1]##*,} server=${SPEC[$n/pod2]##*,} intruder=${SPEC[$n/pod3]##*,}
  ok=$(ctl "$t" -o json policy --check "$client,$server,tcp,$PORT" | jq -r .allowed)
  bad=$(ctl "$t" -o json policy --check "$intruder,$server,tcp,$PORT" | jq -r .allowed)
  want_bad=false
  ((n == 0)) && want_bad=true
  [[ $ok == true && $bad == "$want_bad" ]] ||
    die "m: lab ${LAB[$n]}: xvrctl policy --check: client allowed=$ok (want true), intruder allowed=$bad (want $want_bad)"
  log "m. $n policies programmed: ${POL[$n]}"
done

log "m. $RUNS rounds, every lab once per round: policies ${ALL[*]}"
T0=$EPOCHREALTIME
for ((r = 1; r <= RUNS; r++)); do
  for n in "${ALL[@]}"; do
    args=(--bpfroot "$("$LAB_TOOL" path "${LAB[$n]}" bpfroot)" --client "${SPEC[$n/pod1]}"
      --server "${SPEC[$n/pod2]}" --port "$PORT" --packets "$PACKETS" --miss-packets "$MISS"
      --runs 1 --cpu 1 --label "$n")
    ((n > 0)) && args+=(--denied "${SPEC[$n/pod3]}")
    in_ns "${LAB[$n]%/*}-n1" "$TOOL" "${args[@]}" >>"$WORK/out.tsv" 2>"$WORK/err.log" || {
      cat "$WORK/err.log" >&2
      die "xvr-bench-policycost failed (lab ${LAB[$n]}, $n policies)"
    }
  done
done
ROUNDS_S=$(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.0f", b - a}')

declare -A V
while IFS=$'\t' read -r n c runs _; do
  [[ $n =~ ^[0-9]+$ ]] || continue
  V["$n/$c"]+="$runs "
done <"$WORK/out.tsv"
med() { # KEY
  local v=${V[$1]:-}
  # shellcheck disable=SC2086 # one word per number
  if [[ -n $v ]]; then FMT=%.0f median $v; else echo n/a; fi
}
runs_of() { local v=${V[$1]:-}; v=${v% }; echo "${v// /, }"; }
# The harness runs in every invocation: pooled over all labs and rounds.
HB="" HV=""
for n in "${ALL[@]}"; do
  HB+=${V["$n/harness -> empty (fixed source port)"]}
  HV+=${V["$n/harness -> empty (new source port per packet)"]}
done
# shellcheck disable=SC2086
hb=$(FMT=%.0f median $HB) hv=$(FMT=%.0f median $HV)

first=${COUNTS[0]} last=${COUNTS[${#COUNTS[@]} - 1]}
CASES=("established (flow hit)" "first packet (flow miss, allowed)" "first packet, denied by policy")
echo "### m. Per-packet cost with flows and NetworkPolicy: ${COUNTS[*]} policies vs none (BPF_PROG_TEST_RUN)"
echo
echo "Command: \`bash bench/policy_cost.sh\` (BENCH_RUNS=$RUNS), which runs, per round and per lab,"
echo "\`xvr-bench-policycost --packets $PACKETS --miss-packets $MISS --runs 1 --cpu 1\` in the lab's node netns against"
echo "the lab's own pinned \`xdp_pod\` and maps. Labs: one \`xvr-lab cluster-up --nodes 1 --pods-per-node 3\` per policy"
echo "count (${ALL[*]}), each given the same manifest but for the policies (\`bench/tools/netpolgen.py\`: 21 namespaces,"
echo "pod1 client, pod2 server, pod3 intruder on the node, $REMOTE pods on other nodes, N NetworkPolicies: policy 0 isolates"
echo "the server and allows the client on TCP $PORT, the others are the six shapes the script's header lists, 4 of"
echo "them selecting the server), compiled by the agent and checked with \`xvrctl policy\` (count, and \`--check\`:"
echo "client -> server allowed, intruder -> server denied) before measuring. Frames: 64-byte IPv4/TCP. Cases:"
echo "established = ACK|PSH from the client on a connection whose handshake (SYN, SYN-ACK, ACK) the tool ran through"
echo "the program first (flow ESTABLISHED: one xvr_flows hash lookup, counters; policy is not consulted);"
echo "first packet = SYN from a new source port on every repetition (flow miss: xvr_ipcache lookups for both"
echo "ends, the server's ingress rules in xvr_policy when it is isolated, two LRU inserts; xvr_flow_stats CREATED"
echo "checked to rise by exactly $MISS per run, the pairs deleted after); denied = the same from the intruder pod"
echo "(XDP_DROP policy_denied_ingress, nothing created; not applicable without policies, where it is allowed)."
echo "Each figure is the kernel's \`duration\` of one BPF_PROG_TEST_RUN (repeat $PACKETS, first packets $MISS),"
echo "median of $RUNS rounds; all labs measured in every round, interleaved (the rounds took ${ROUNDS_S} s)."
echo
echo "| policies | xvr_policy entries | case | ns/packet, runs | median ns/packet | minus harness | x no policy |"
echo "|---|---|---|---|---|---|---|"
# shellcheck disable=SC2086 # one word per number
echo "| - | | harness -> empty (fixed source port) | $(joined $HB) | **$hb** | | |"
# shellcheck disable=SC2086
echo "| - | | harness -> empty (new source port per packet) | $(joined $HV) | **$hv** | | |"
for c in "${CASES[@]}"; do
  b=$hb
  [[ $c == first* ]] && b=$hv
  for n in "${ALL[@]}"; do
    m=$(med "$n/$c")
    [[ $m == n/a ]] && continue
    net=$(awk -v a="$m" -v b="$b" 'BEGIN {print a - b}')
    ref=""
    if [[ $(med "0/$c") != n/a ]]; then
      ref=$(ratio "$net" "$(awk -v a="$(med "0/$c")" -v b="$b" 'BEGIN {print a - b}')")
    fi
    echo "| $n | $(jq -r .policy <<<"${POL[$n]}") | $c | $(runs_of "$n/$c") | **$m** | $net | $ref |"
  done
done
echo
for c in "${CASES[@]}"; do
  [[ $(med "$last/$c") != n/a ]] || continue
  line="- $c: $last policies vs $first: $(ratio "$(med "$last/$c")" "$(med "$first/$c")")"
  [[ $(med "0/$c") != n/a ]] && line+=", $last policies vs none: $(ratio "$(med "$last/$c")" "$(med "0/$c")")"
  echo "$line (median over median, harness included)."
done
echo
echo "\"minus harness\" subtracts the harness median of the whole run (all labs, all rounds; the new-port"
echo "harness for first packets); \"x no policy\" divides that by the same case's net cost in the lab without"
echo "policies. What each lab's agent programmed (\`xvrctl -o json policy\`: NetworkPolicies, pod identities,"
echo "map entries, compile time, ClusterState notification -> maps written):"
echo
for n in "${ALL[@]}"; do
  echo "- $n policies: \`${POL[$n]}\`"
done
echo
echo "Tool checks (the tool fails the run otherwise), e.g. the $last-policy lab in the last round: $(grep "^# $last:" "$WORK/out.tsv" | tail -n 1 | sed 's/^# [0-9]*: //')."
echo
