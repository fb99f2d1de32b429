# shellcheck shell=bash disable=SC2034 # variables for the scripts that source it
# Shared by the benchmark scripts: paths, logging, clean-up stack, medians,
# markdown tables. Source it; it sets -euo pipefail.
#
# Knobs (environment): BENCH_RUNS (runs per figure, median reported,
# default 5), BENCH_BUILD (default <repo>/build).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
BUILD=${BENCH_BUILD:-$REPO/build}
XVR_BIN=${XVR_BIN:-$BUILD/bin}
BENCH_BIN=$BUILD/bench
LAB_TOOL=$REPO/scripts/xvr-lab
RUNS=${BENCH_RUNS:-5}
export XVR_BIN

# Everything this process creates carries BENCH_ID: netns xb<id>-*, labs
# xb<id><x>, pins under /sys/fs/bpf/xvr-bench-<id>.
BENCH_ID=${BENCH_ID:-$$}
PIN=/sys/fs/bpf/xvr-bench-$BENCH_ID
WORK="" # scratch files (bpffs takes no regular files)

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() {
  printf 'bench: %s\n' "$*" >&2
  exit 1
}

# --- clean-up stack: commands run in reverse order on exit -------------------

CLEANUP=()
on_exit() { CLEANUP+=("$*"); }
run_cleanup() {
  local rc=$? i
  trap - EXIT
  trap '' INT TERM
  set +e
  for ((i = ${#CLEANUP[@]} - 1; i >= 0; i--)); do eval "${CLEANUP[i]}" >/dev/null 2>&1; done
  rm -rf "$PIN" 2>/dev/null
  [[ -n $WORK ]] && rm -rf "$WORK"
  exit "$rc"
}
arm_cleanup() {
  trap run_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

bench_preflight() {
  local b t
  [[ $(id -u) == 0 ]] || die "must run as root (netns, BPF)"
  for b in xvr-agent xvr-cni xvrctl; do
    [[ -x $XVR_BIN/$b ]] || die "$XVR_BIN/$b missing: make build"
  done
  for b in xvr-bench-progrun xvr-bench-gen xvr-bench-sink; do
    [[ -x $BENCH_BIN/$b ]] || die "$BENCH_BIN/$b missing: cmake --build $BUILD --target xvr_bench_tools"
  done
  for t in jq iperf3 ethtool nsenter curl; do
    command -v "$t" >/dev/null || die "$t not installed (scripts/install-deps.sh)"
  done
  mkdir -p "$PIN"
  WORK=$(mktemp -d "/tmp/xvr-bench.$BENCH_ID.XXXXXX")
}

# --- numbers -------------------------------------------------------------------

# median of the arguments (numbers), printed with the precision of $FMT.
median() {
  printf '%s\n' "$@" | sort -g | awk -v fmt="${FMT:-%.2f}" \
    '{v[NR] = $1} END { if (NR == 0) { print "n/a"; exit }
       m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf fmt "\n", m }'
}

# p-th percentile (nearest rank) of the numbers on stdin.
percentile() {
  sort -g | awk -v p="$1" '{v[NR] = $1} END { if (NR == 0) { print "n/a"; exit }
    r = int((p / 100) * NR + 0.999999); if (r < 1) r = 1; if (r > NR) r = NR; print v[r] }'
}

# "a, b, c" from the arguments.
joined() {
  local IFS=, s
  s="$*"
  echo "${s//,/, }"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.2f\n", a / b }'; }

# --- helpers for namespaces and links -----------------------------------------

netns_add() { # NAME: a fresh netns with lo up, removed on exit
  ip netns add "$1"
  on_exit "ip netns delete '$1'"
  ip -n "$1" link set lo up
}

in_ns() { # NS CMD...: nsenter keeps the bpffs visible (ip netns exec does not)
  local ns=$1
  shift
  nsenter --net="/run/netns/$ns" -- "$@"
}

link_mac() { ip -n "$1" -j link show "$2" | jq -r '.[0].address'; }
