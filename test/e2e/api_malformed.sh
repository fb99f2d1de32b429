#!/usr/bin/env bash
# api_malformed: bad requests on the agent's unix socket get a 4xx with a
# JSON {"error": ...} body and never hurt the agent: it stays healthy, keeps
# its endpoints, and the pods keep being forwarded by xdp_pod.
TEST_NAME=api_malformed
# shellcheck source=test/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# request METHOD PATH BODY EXPECTED(regex on the status) WHAT
# BODY "<none>" sends no body and no Content-Length at all.
request() {
  local method=$1 path=$2 body=$3 want=$4 what=$5 code resp
  local -a data=(--data-binary "@$WORK/body")
  if [[ $body == "<none>" ]]; then
    data=()
    body=""
  fi
  printf '%s' "$body" >"$WORK/body"
  code=$(curl -s -o "$WORK/resp" -w '%{http_code}' --max-time 20 --unix-socket "$SOCK" \
    -X "$method" -H 'Content-Type: application/json' "${data[@]}" "http://localhost$path") ||
    fail "$what: curl failed (agent crashed or hung?)"
  resp=$(head -c 300 "$WORK/resp")
  [[ $code =~ ^($want)$ ]] || fail "$what: $method $path -> HTTP $code, expected $want: $resp"
  if [[ $code == 4* ]]; then
    jq -e '.error | type == "string" and length > 0' "$WORK/resp" >/dev/null 2>&1 ||
      fail "$what: HTTP $code without a JSON {\"error\": ...} body: $resp"
  fi
  assert_alive "$what"
  log "  $what: HTTP $code ${resp:0:110}"
}

assert_alive() {
  local pid code
  pid=$(cat "$(lab path "$LAB" dir)/agent.pid")
  kill -0 "$pid" 2>/dev/null || fail "agent died after: $1"
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --unix-socket "$SOCK" http://localhost/healthz) || true
  assert_eq "$code" 200 "/healthz after: $1"
}

e2e_start
e2e_lab_up --pods 2
assert_kernel_path_off
IP1=$(lab ip "$LAB" pod1)
IP2=$(lab ip "$LAB" pod2)
BEFORE=$(endpoints_json | jq -c '[.endpoints[] | {containerID, ip}] | sort_by(.ip)')
HOST1=$(pod_host_ifname pod1)
GOOD=$(jq -cn --arg h "$HOST1" '{containerID:"e2eapi", ifname:"eth0", netns:"/run/netns/none",
  hostIfname:$h, mac:"02:00:00:00:00:01"}')

log "1. malformed bodies on POST /v1/endpoints"
request POST /v1/endpoints 'garbage{' 400 "garbage JSON"
request POST /v1/endpoints '' 400 "empty body (Content-Length: 0)"
# The server may wait for a body until its read timeout; it must answer.
request POST /v1/endpoints '<none>' 400 "POST without Content-Length"
request POST /v1/endpoints '[]' 400 "JSON array instead of object"
request POST /v1/endpoints 'null' 400 "JSON null"
request POST /v1/endpoints '{"containerID":"abc"}' 400 "missing fields"
request POST /v1/endpoints "$(jq -c 'del(.hostIfname)' <<<"$GOOD")" 400 "missing hostIfname"
request POST /v1/endpoints "$(jq -c '.containerID = 42' <<<"$GOOD")" 400 "containerID not a string"
request POST /v1/endpoints "$(jq -c '.containerID = "../../etc"' <<<"$GOOD")" 400 "containerID with slashes"
request POST /v1/endpoints "$(jq -c '.mac = "zz:zz"' <<<"$GOOD")" 400 "bad MAC"
request POST /v1/endpoints "$(jq -c '.ifname = "this-name-is-way-too-long"' <<<"$GOOD")" 400 "ifname too long"
request POST /v1/endpoints "$(jq -c '.hostIfname = "xvrdeadbeef0000"' <<<"$GOOD")" '400|404' "unknown host veth"
request POST /v1/endpoints '{"containerID":"a","ifname":"eth0"' 400 "truncated JSON"
request POST /v1/endpoints "$(printf '\xff\xfegarbage')" 400 "binary garbage"
request POST /v1/endpoints "$(head -c 2000000 /dev/zero | tr '\0' 'x')" '4[0-9][0-9]' "2 MB body"
request POST /v1/endpoints "$(printf '%.0s[' {1..20000})" '4[0-9][0-9]' "20000 nested arrays"

log "2. other endpoints"
request POST /v1/gc 'garbage' 400 "GC with garbage"
request POST /v1/gc '{"validAttachments":"all"}' 400 "GC with validAttachments not a list"
request POST /v1/gc '{"validAttachments":[{"containerID":1}]}' 400 "GC with a bad attachment"
request GET /v1/endpoints/doesnotexist/eth0 '<none>' 404 "GET unknown endpoint"
request DELETE /v1/endpoints/doesnotexist/eth0 '<none>' 200 "DELETE unknown endpoint (CNI DEL must succeed)"
request GET /v1/nosuchthing '<none>' 404 "unknown path"
request PUT /v1/endpoints '{}' '404|405' "PUT on the collection"

log "3. not even HTTP"
printf 'GARBAGE\r\n\r\n\x00\x01\x02' | timeout 5 nc -U -q 1 "$SOCK" >/dev/null 2>&1 || true
assert_alive "raw garbage on the socket"
# A client that connects and goes away without a word.
timeout 2 nc -U "$SOCK" </dev/null >/dev/null 2>&1 || true
assert_alive "silent client"
log "  agent healthy after raw garbage and a silent client"

log "4. state untouched, pods still forwarded by xdp_pod"
AFTER=$(endpoints_json | jq -c '[.endpoints[] | {containerID, ip}] | sort_by(.ip)')
assert_eq "$AFTER" "$BEFORE" "endpoints after the bad requests"
snap s
ping_ok pod1 "$IP2" 10
ping_ok pod2 "$IP1" 10
assert_rose s xdp_pod redirect ok 40 packets "pod1 <-> pod2 after the bad requests"
assert_kernel_path_off
