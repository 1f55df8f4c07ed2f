#!/usr/bin/env bash
# The S-CSCF on store.backend redis when Redis goes away (issue 16): a redis-server started
# here is stopped (SIGSTOP: every command now waits, "slow") and then killed (SIGKILL: "down").
# A REGISTER gets 504 (slow: store.redis.timeout_ms passed) and then 500 (down), each with
# Retry-After, within SIPp's few seconds, never a hang, and so does a MESSAGE to a registered UE
# (its terminating lookup); /readyz turns 503 and /api/v1/status says so; the scscf lives on
# with no sanitizer report. A redis-server started again on the same port brings /readyz back
# to 200 by itself and the next REGISTER succeeds; store_errors_total counted the failures.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/store_lib.sh"

BUILD=${1:-build}
TOKEN=s3cret
A_K=abcdefghijklmnop B_K=bobbobbobbobbob1

start_redis redis || { finish; exit 1; }
RP=$REDIS_PORT
start_hss hss || { finish; exit 1; }
SC_SIP=$(free_port) SC_API=$(free_port)
mapfile -t diam < <(scscf_diameter_env)
start_prog scscf "$BUILD/scscf" "$REPO_DIR/config/scscf.yaml" SCSCF_SIP_LISTEN="127.0.0.1:$SC_SIP" \
  SCSCF_API_LISTEN="127.0.0.1:$SC_API" SCSCF_API_TOKEN=$TOKEN SCSCF_STORE_BACKEND=redis \
  SCSCF_STORE_REDIS_ADDRESS="127.0.0.1:$RP" SCSCF_STORE_REDIS_TIMEOUT_MS=500 SCSCF_STORE_RETRY_AFTER=7 \
  "${diam[@]}" || { finish; exit 1; }
wait_http "127.0.0.1:$SC_API" /readyz 200 10 || fail "scscf ready"
sc() { http_body "http://127.0.0.1:$SC_API$1"; }
store_status() { field '"\(.store.backend) \(.store.status)"' "$(sc /api/v1/status)"; }
# last_response LOG: the status line and Retry-After of the last response in a SIPp trace.
last_response() {
  tr -d '\r' <"$WORKDIR/$1.msg" | awk '/^SIP\/2.0 / {s=$0; r=""} /^Retry-After:/ {r=$0} END {print s; print r}'
}
# register5xx LOG USER K INSTANCE: a registration that must end in 500 or 504 within 10 s.
register5xx() {
  ue_csv "$1" "$2" "$3" 600 "$4"
  local t0=${EPOCHREALTIME/./}
  timeout 30 sipp -sf "$SCEN/register_aka_5xx.xml" -inf "$WORKDIR/$1.csv" -i 127.0.0.1 -p "$(free_port)" \
    -t u1 -m 1 -timeout 10s -timeout_error -auth_uri "$DOMAIN" -trace_msg -message_file "$WORKDIR/$1.msg" \
    "127.0.0.1:$SC_SIP" >/dev/null 2>&1
  local rc=$?
  ELAPSED_MS=$(((${EPOCHREALTIME/./} - t0) / 1000))
  return $rc
}

# raw_message: a MESSAGE to alice sent straight to the scscf (the terminating case: it looks her
# up in the store); the whole answer, CRs removed.
raw_message() {
  local f="$WORKDIR/msg_$RANDOM.sip" body="store test"
  printf 'MESSAGE sip:alice@%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK%s\r\nMax-Forwards: 70\r\nFrom: <sip:carol@example.net>;tag=m%s\r\nTo: <sip:alice@%s>\r\nCall-ID: %s@outage\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s' \
    "$DOMAIN" "$RANDOM$RANDOM" "$RANDOM" "$DOMAIN" "$RANDOM$RANDOM" "${#body}" "$body" >"$f"
  SIPSEND_WHOLE=1 sipsend -u 127.0.0.1 "$SC_SIP" "$f" 5000 | tr -d '\r'
}

echo "-- Redis up: a registration is stored there"
expect_eq "/api/v1/status: store redis ok" "redis ok" "$(store_status)"
ue_csv areg alice "$A_K" 600 1
sipp_ue register_aka.xml areg "$(free_port)" "127.0.0.1:$SC_SIP" areg
expect_eq "alice registers (AKA, straight at the scscf)" 0 "$?"
expect_match "Redis holds her record (ims:reg:<impi>)" "^ims:reg:alice@$DOMAIN\$" \
  "$(timeout 3 redis-cli -p "$RP" --scan --pattern 'ims:reg:*')"

echo "-- Redis stopped (SIGSTOP): slow"
kill -STOP "${PIDS[redis]}"
register5xx slow bob "$B_K" 2
expect_eq "bob's REGISTER ends in a 5xx within 10 s (SIPp -timeout)" 0 "$?"
resp=$(last_response slow)
expect_match "... 504 (the store timed out)" '^SIP/2.0 504 ' "$resp"
expect_match "... with Retry-After: 7 (store.retry_after)" '^Retry-After: 7$' "$resp"
echo "       (answered in ${ELAPSED_MS} ms)"
ans=$(raw_message)
# (504 when its own lookup times out; 500 when the timed-out connection is being replaced)
expect_match "a MESSAGE to alice (her lookup): 504 or 500, at once" '^SIP/2.0 50[04] ' "$ans"
expect_match "... with Retry-After: 7" '^Retry-After: 7$' "$ans"
expect_eq "the scscf is alive" 0 "$(prog_alive scscf; echo $?)"

echo "-- Redis killed (SIGKILL): down"
kill -KILL "${PIDS[redis]}"
wait_exit redis 5
wait_http "127.0.0.1:$SC_API" /readyz 503 10
expect_eq "/readyz turns 503" 503 "$(http_code "http://127.0.0.1:$SC_API/readyz")"
expect_match "/api/v1/status: store redis down (or connecting)" '^redis (down|connecting)$' "$(store_status)"
register5xx down bob "$B_K" 2
expect_eq "bob's REGISTER ends in a 5xx within 10 s" 0 "$?"
resp=$(last_response down)
expect_match "... 500 (the store is down)" '^SIP/2.0 500 ' "$resp"
expect_match "... with Retry-After: 7" '^Retry-After: 7$' "$resp"
echo "       (answered in ${ELAPSED_MS} ms)"
ans=$(raw_message)
expect_match "a MESSAGE to alice (her lookup fails): 500" '^SIP/2.0 500 ' "$ans"
expect_match "... with Retry-After: 7" '^Retry-After: 7$' "$ans"
expect_eq "GET /api/v1/registrations answers (no hang) with an error status" 1 \
  "$(c=$(http_code "http://127.0.0.1:$SC_API/api/v1/registrations"); [ "${c:0:1}" = 5 ] && echo 1 || echo "$c")"
expect_eq "the scscf is alive" 0 "$(prog_alive scscf; echo $?)"
expect_clean_log "... no sanitizer report in its log so far" scscf

echo "-- Redis back on the same port (empty)"
restart_redis redis "$RP"
expect_eq "a new redis-server answers on $RP" 0 "$?"
wait_http "127.0.0.1:$SC_API" /readyz 200 15
expect_eq "/readyz is 200 again within 15 s (the scscf reconnected by itself)" 200 "$(http_code "http://127.0.0.1:$SC_API/readyz")"
expect_eq "/api/v1/status: store redis ok" "redis ok" "$(store_status)"
ue_csv breg bob "$B_K" 600 2
sipp_ue register_aka.xml breg "$(free_port)" "127.0.0.1:$SC_SIP" breg
expect_eq "bob registers" 0 "$?"
expect_match "... and Redis holds his record" "^ims:reg:bob@$DOMAIN\$" \
  "$(timeout 3 redis-cli -p "$RP" --scan --pattern 'ims:reg:*')"
expect_match "store_errors_total counts the timeout" '^(cscf_)?store_errors_total\{[^}]*kind="timeout"[^}]*\} [1-9]' "$(sc /metrics)"
expect_match "... and the errors" '^(cscf_)?store_errors_total\{[^}]*kind="error"[^}]*\} [1-9]' "$(sc /metrics)"

stop_clean scscf hss
stop_prog redis
finish
