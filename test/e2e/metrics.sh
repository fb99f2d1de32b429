#!/usr/bin/env bash
# metrics: the agent's Prometheus endpoint (spec.metricsAddress, docs/METRICS.md)
# in a one-node lab.
#   - /healthz, /readyz answer 200 on the TCP listener, anything else 404;
#   - every scrape is valid text exposition 0.0.4 (metrics_check.py: HELP and
#     TYPE once per family, grouped samples, cumulative histograms, xvr_ names);
#   - pod <-> pod ping and a TCP transfer move
#     xvr_packets_total{hook="xdp_pod",verdict="redirect"} by at least the
#     packets sent; a spoofed source address shows up in
#     xvr_drops_total{hook="xdp_pod",reason="spoofed_source_ip"};
#     xvr_flows_active > 0 while traffic runs; a CNI ADD moves
#     xvr_cni_requests_total{op="add",code="200"};
#   - after an agent restart /healthz and /readyz answer again and the data
#     path's counters (BPF maps: xvr_packets_total, xvr_drops_total,
#     xvr_flows_created_total) did not go back, while the agent's own
#     counters (xvr_cni_requests_total, ...) start again from 0.
TEST_NAME=metrics
# shellcheck source=test/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CHECK=$E2E_DIR/metrics_check.py

# scrape NAME: /metrics into $WORK/NAME.prom, validated.
scrape() {
  lab metrics "$LAB" >"$WORK/$1.prom" || fail "scrape $1: GET /metrics failed"
  python3 "$CHECK" validate "$WORK/$1.prom" >"$WORK/$1.check" 2>&1 ||
    fail "scrape $1 is not valid exposition: $(cat "$WORK/$1.check")"
}
# m SCRAPE NAME [label=value ...]: a value of a scrape (summed, 0 if absent).
m() {
  local f=$1
  shift
  python3 "$CHECK" get "$WORK/$f.prom" "$@"
}
http_code() { # PATH
  in_node curl -s -o "$WORK/body" -w '%{http_code}' --max-time 5 "http://$ADDR$1" || true
}
assert_code() { # PATH CODE
  local c
  c=$(http_code "$1")
  [[ $c == "$2" ]] || fail "GET $1 on $ADDR: HTTP $c, expected $2 ($(head -c 200 "$WORK/body"))"
  log "  GET $1 -> $c"
}
assert_grew() { # BEFORE AFTER MIN WHAT
  local b a
  b=$(m "$1" "${@:5}")
  a=$(m "$2" "${@:5}")
  (($(printf '%.0f' "$a") - $(printf '%.0f' "$b") >= $3)) ||
    fail "$4: ${*:5} went $b -> $a, expected +$3 or more"
  log "  $4: ${*:5} $b -> $a (+$(($(printf '%.0f' "$a") - $(printf '%.0f' "$b"))) >= $3)"
}

e2e_start
e2e_lab_up --pods 2
assert_kernel_path_off
ADDR=$(lab path "$LAB" metrics)
[[ -n $ADDR ]] || fail "no metrics address from xvr-lab path $LAB metrics"
grep -q "metrics: serving /metrics" "$(lab path "$LAB" log)" || fail "agent did not log the metrics address"
log "metrics on $ADDR (in $NODE_NS); agent says: $(curl -s --unix-socket "$SOCK" http://localhost/v1/status | jq -c .)"
IP1=$(lab ip "$LAB" pod1)
IP2=$(lab ip "$LAB" pod2)

log "1. health endpoints"
assert_code /healthz 200
assert_code /readyz 200
assert_code /metrics 200
assert_code /v1/endpoints 404
jq -e .error "$WORK/body" >/dev/null || fail "404 body is not JSON with an error: $(cat "$WORK/body")"

log "2. idle scrape is valid exposition"
scrape idle
log "  $(cat "$WORK/idle.check")"
for fam in xvr_build_info xvr_ready xvr_map_capacity xvr_flows_active xvr_cni_requests_total \
  xvr_events_lost_total xvr_netlink_events_total xvr_reconcile_duration_seconds; do
  grep -q "^# TYPE $fam " "$WORK/idle.prom" || fail "idle scrape has no family $fam"
done
assert_eq "$(m idle xvr_ready)" 1 "xvr_ready"
# CNI ADDs of pod1 and pod2 already counted.
assert_ge "$(m idle xvr_cni_requests_total op=add code=200)" 2 "xvr_cni_requests_total{op=add,code=200}"

log "3. traffic: ping and TCP between pods, scraped before and during"
N=50
ip netns exec "$LAB-pod1" ping -i 0.2 -c 100 -q "$IP2" >/dev/null 2>&1 &
BG_PING=$!
ping_ok pod1 "$IP2" "$N"
tcp_transfer pod1 pod2 "$IP2" 2
flows=0
for ((i = 0; i < 60; i++)); do
  scrape during
  flows=$(m during xvr_flows_active)
  [[ $flows != 0 ]] && break
  sleep 0.25
done
((flows > 0)) || fail "xvr_flows_active stayed 0 during traffic"
log "  xvr_flows_active $flows during traffic"
kill "$BG_PING" 2>/dev/null || true
wait "$BG_PING" 2>/dev/null || true
# Each echo crosses xdp_pod twice (request on pod1's veth, reply on pod2's).
assert_grew idle during $((2 * N)) "ping + TCP" xvr_packets_total hook=xdp_pod verdict=redirect
assert_grew idle during $((2 << 20)) "TCP bytes" xvr_bytes_total hook=xdp_pod verdict=redirect
assert_grew idle during 1 "flows created" xvr_flows_created_total
# The same figure as xvrctl stats (both read xvr_counters).
XVRCTL=$(stats_json | jq '[.counters[] | select(.hook == "xdp_pod" and .verdict == "redirect") | .packets] | add // 0')
scrape cmp
PROM=$(m cmp xvr_packets_total hook=xdp_pod verdict=redirect)
((PROM >= XVRCTL)) || fail "xvr_packets_total $PROM < xvrctl stats $XVRCTL read just before"
log "  xvrctl stats $XVRCTL, then /metrics $PROM"

log "4. a drop shows up by reason: pod1 sends from an address that is not its own"
in_pod pod1 ip addr add 10.244.1.250/32 dev eth0
in_pod pod1 ping -c 5 -i 0.1 -W 1 -I 10.244.1.250 "$IP2" >/dev/null 2>&1 || true
in_pod pod1 ip addr del 10.244.1.250/32 dev eth0
scrape drops
assert_grew during drops 5 "spoofed source" xvr_drops_total hook=xdp_pod reason=spoofed_source_ip

log "5. a CNI ADD moves the CNI counter and latency histogram"
lab add-pod "$LAB" pod3 >/dev/null
scrape cni
assert_grew drops cni 1 "CNI ADD" xvr_cni_requests_total op=add code=200
assert_grew drops cni 1 "CNI ADD latency" xvr_cni_request_duration_seconds_count op=add
# The map walk (every 10 s) sees the three endpoints.
for ((i = 0; i < 60; i++)); do
  scrape maps
  [[ $(m maps xvr_map_entries map=xvr_ep_ip) -ge 3 ]] && break
  sleep 0.5
done
assert_ge "$(m maps xvr_map_entries map=xvr_ep_ip)" 3 "xvr_map_entries{map=xvr_ep_ip}"
assert_eq "$(m maps xvr_map_capacity map=xvr_ep_ip)" 4096 "xvr_map_capacity{map=xvr_ep_ip}"

log "6. agent restart: endpoints answer again, data-path counters kept"
scrape before_restart
lab restart-agent "$LAB" >/dev/null
ADDR=$(lab path "$LAB" metrics)
assert_code /healthz 200
for ((i = 0; i < 100; i++)); do
  [[ $(http_code /readyz) == 200 ]] && break
  sleep 0.1
done
assert_code /readyz 200
scrape after_restart
for spec in "xvr_packets_total hook=xdp_pod verdict=redirect" \
  "xvr_drops_total hook=xdp_pod reason=spoofed_source_ip" "xvr_flows_created_total"; do
  # shellcheck disable=SC2086
  assert_grew before_restart after_restart 0 "kept across restart" $spec
done
RESTARTED_CNI=$(m after_restart xvr_cni_requests_total op=add)
assert_eq "$RESTARTED_CNI" 0 "agent-side xvr_cni_requests_total after a restart"
snap after
ping_ok pod3 "$IP1" 10
scrape final
assert_grew after_restart final 20 "ping after restart" xvr_packets_total hook=xdp_pod verdict=redirect
assert_kernel_path_off
