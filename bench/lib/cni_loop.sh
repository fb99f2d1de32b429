#!/usr/bin/env bash
# Invokes a CNI plugin the way a runtime does (fork/exec with CNI_* env and
# the network config on stdin) once per pod netns and prints how long each
# invocation took, in milliseconds, one per line. Run it in the node's netns.
#   cni_loop.sh CMD PLUGIN CNI_PATH CONF_FILE NETNS_PREFIX COUNT
# Pods are NETNS_PREFIX1..COUNT (netns already created); container ids are
# derived from the netns name so ADD and DEL agree. Fails on the first
# plugin error (ADD must also print a result with an IP).
set -euo pipefail

cmd=$1 plugin=$2 cni_path=$3 conf=$4 prefix=$5 count=$6
for ((i = 1; i <= count; i++)); do
  ns=$prefix$i
  cid=$(printf '%s' "$ns" | sha256sum | cut -c1-64)
  t0=$EPOCHREALTIME
  out=$(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin CNI_COMMAND="$cmd" CNI_CONTAINERID="$cid" \
    CNI_NETNS="/run/netns/$ns" CNI_IFNAME=eth0 CNI_PATH="$cni_path" \
    CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=p$i" \
    "$plugin" <"$conf") || {
    echo "cni_loop: $cmd $ns failed: $out" >&2
    exit 1
  }
  t1=$EPOCHREALTIME
  if [[ $cmd == ADD && $out != *'"ips"'* ]]; then
    echo "cni_loop: ADD $ns printed no IP: $out" >&2
    exit 1
  fi
  awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f\n", (b - a) * 1000}'
done
