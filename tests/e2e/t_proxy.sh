#!/usr/bin/env bash
# The common proxy helpers end to end: SIPp caller -> fwdproxy -> SIPp callee, over UDP and TCP.
# A call (Record-Route, Max-Forwards, unknown headers kept, ACK and BYE along the route set),
# a CANCEL passed downstream with the 487 relayed back, and 500 when the next hop is gone.
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
SCEN="$E2E_DIR/scenarios"

# proxy_flow NAME TRANSPORT(u1|t1): runs the callee, then the caller through the proxy.
proxy_flow() {
  local name=$1 t=$2 uas_port=$3 proxy_port=$4 uac_port log_uas log_uac tp=udp
  [ "$t" = t1 ] && tp=tcp
  uac_port=$(free_port)
  log_uas="$WORKDIR/uas_${name}_$t"
  log_uac="$WORKDIR/uac_${name}_$t"
  timeout 20 sipp -sf "$SCEN/proxy_uas_$name.xml" -i 127.0.0.1 -p "$uas_port" -t "$t" -m 1 \
    -timeout 10s -timeout_error -trace_msg -message_file "$log_uas.msg" \
    -trace_err -error_file "$log_uas.err" >/dev/null 2>&1 &
  local uas_pid=$!
  wait_for 10 port_bound "$tp" "$uas_port" || fail "$name/$t: the callee (SIPp) listens on $uas_port"
  timeout 20 sipp -sf "$SCEN/proxy_uac_$name.xml" -i 127.0.0.1 -p "$uac_port" -t "$t" -m 1 \
    -timeout 10s -timeout_error -trace_msg -message_file "$log_uac.msg" \
    -trace_err -error_file "$log_uac.err" "127.0.0.1:$proxy_port" >/dev/null 2>&1
  local uac_rc=$?
  wait "$uas_pid"
  local uas_rc=$?
  expect_eq "$name/$t: caller scenario" 0 "$uac_rc"
  expect_eq "$name/$t: callee scenario" 0 "$uas_rc"
}

run_transport() {
  local t=$1 tp=$2
  local uas_port proxy_port api_port
  uas_port=$(free_port)
  proxy_port=$(free_port)
  api_port=$(free_port)
  start_prog "fwd_$tp" "$BUILD/fwdproxy" "$E2E_DIR/fwdproxy/fwdproxy.yaml" \
    FWD_SIP_LISTEN="127.0.0.1:$proxy_port" FWD_API_LISTEN="127.0.0.1:$api_port" \
    FWD_FWD_NEXT_HOP="sip:127.0.0.1:$uas_port;transport=$tp" || return

  proxy_flow call "$t" "$uas_port" "$proxy_port"
  local m="$WORKDIR/uas_call_$t.msg"
  expect_match "call/$t: callee sees Max-Forwards decremented" '^Max-Forwards: 69' "$(cat "$m")"
  expect_match "call/$t: callee sees our Record-Route" "^Record-Route: <sip:127.0.0.1:$proxy_port;lr>" "$(cat "$m")"
  expect_match "call/$t: unknown header forwarded unchanged" '^X-Test-Unknown: passes ; through=unchanged' "$(cat "$m")"
  expect_match "call/$t: callee gets ACK via the route set" '^ACK sip:callee@' "$(cat "$m")"
  expect_match "call/$t: callee gets BYE via the route set" '^BYE sip:callee@' "$(cat "$m")"
  expect_match "call/$t: caller sees the Record-Route in the 200" "^Record-Route: <sip:127.0.0.1:$proxy_port;lr>" \
    "$(grep -A12 '^SIP/2.0 200' "$WORKDIR/uac_call_$t.msg")"

  proxy_flow cancel "$t" "$uas_port" "$proxy_port"
  expect_match "cancel/$t: callee receives the CANCEL" '^CANCEL sip:callee@' "$(cat "$WORKDIR/uas_cancel_$t.msg")"
  expect_match "cancel/$t: caller gets the relayed 487" '^SIP/2.0 487' "$(cat "$WORKDIR/uac_cancel_$t.msg")"

  # Next hop gone: nothing listens on uas_port now. TCP fails at connect, UDP gets an ICMP port
  # unreachable on loopback: RFC 3261 16.9 treats that as a 503 from the branch, and 16.7 step 6
  # turns a selected 503 into 500 upstream (the caller must not think the proxy is overloaded).
  # The scenario fails on any other final response and when the 500 has not come in 15 s.
  local uac_port out
  uac_port=$(free_port)
  out="$WORKDIR/uac_dead_$t"
  timeout 30 sipp -sf "$SCEN/proxy_uac_dead.xml" -i 127.0.0.1 -p "$uac_port" -t "$t" -m 1 \
    -timeout 15s -timeout_error -trace_msg -message_file "$out.msg" \
    -trace_err -error_file "$out.err" "127.0.0.1:$proxy_port" >/dev/null 2>&1
  expect_eq "dead next hop/$t: the caller's scenario (INVITE, 500 in bounded time, ACK)" 0 "$?"
  expect_match "dead next hop/$t: caller gets the proxy's 500" '^SIP/2.0 500 ' "$(cat "$out.msg" 2>/dev/null)"
  expect_no_match "dead next hop/$t: ... and no 503 (RFC 3261 16.7 step 6)" '^SIP/2.0 503' "$(cat "$out.msg" 2>/dev/null)"

  stop_prog "fwd_$tp"
  expect_eq "fwdproxy/$t exits 0 on SIGTERM" 0 "$LAST_EXIT"
  expect_clean_log "fwdproxy/$t: no sanitizer report" "fwd_$tp"
}

# ring_through_proxy NAME GRACE: a fwdproxy with that grace period, a callee that rings 1.5 s,
# and a caller's INVITE through the proxy, ringing when this returns. Sets PROXY_PORT, API_PORT,
# UAS_PID, UAC_PID.
ring_through_proxy() {
  local name=$1 grace=$2 uas_port uac_port
  uas_port=$(free_port)
  uac_port=$(free_port)
  PROXY_PORT=$(free_port)
  API_PORT=$(free_port)
  start_prog "$name" "$BUILD/fwdproxy" "$E2E_DIR/fwdproxy/fwdproxy.yaml" \
    FWD_SIP_LISTEN="127.0.0.1:$PROXY_PORT" FWD_API_LISTEN="127.0.0.1:$API_PORT" \
    FWD_FWD_NEXT_HOP="sip:127.0.0.1:$uas_port" FWD_SHUTDOWN_GRACE_SECONDS="$grace" || return 1
  timeout 20 sipp -sf "$SCEN/proxy_uas_slow.xml" -i 127.0.0.1 -p "$uas_port" -t u1 -m 1 \
    -timeout 10s >/dev/null 2>&1 &
  UAS_PID=$!
  wait_for 10 port_bound udp "$uas_port" || fail "$name: the callee (SIPp) listens on $uas_port"
  timeout 20 sipp -sf "$SCEN/proxy_uac_invite.xml" -i 127.0.0.1 -p "$uac_port" -t u1 -m 1 \
    -timeout 10s -timeout_error -trace_msg -message_file "$WORKDIR/uac_$name.msg" \
    "127.0.0.1:$PROXY_PORT" >/dev/null 2>&1 &
  UAC_PID=$!
  # Ringing: the proxy has relayed the callee's 180 (the 200 follows 1.5 s later).
  wait_for 10 relayed_180 "$API_PORT" || fail "$name: the proxy relays the callee's 180" "no 180 in /metrics"
}
relayed_180() { # API_PORT
  http_body "http://127.0.0.1:$1/metrics" | grep -q '^cscf_sip_responses_total{program="fwdproxy",code="180"} 1$'
}

# SIGTERM while an INVITE is ringing: the call completes, a new request meanwhile gets 503,
# and the proxy exits 0 once nothing is in flight: within 10 s of the call's end, far from the
# end of its 30 s grace period.
drain_in_flight() {
  ring_through_proxy fwd_drain 30 || return
  local proxy_port=$PROXY_PORT api_port=$API_PORT uac_pid=$UAC_PID uas_pid=$UAS_PID
  kill -TERM "${PIDS[fwd_drain]}"
  # The loop thread logs this and marks the core draining before it reads the next request.
  wait_for 10 grep -q 'SIGTERM: draining (up to 30 s), new requests get 503' "$WORKDIR/fwd_drain.log" ||
    fail "draining: the proxy logs that it drains" "see $WORKDIR/fwd_drain.log"
  local probe="$WORKDIR/options_drain.sip"
  printf 'OPTIONS sip:127.0.0.1:%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-drain\r\nMax-Forwards: 70\r\nFrom: <sip:p@x>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: drain-probe\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' \
    "$proxy_port" >"$probe"
  expect_match "draining: a new request gets 503" '^SIP/2.0 503' \
    "$(sipsend -u 127.0.0.1 "$proxy_port" "$probe" 3000)"
  expect_eq "draining: /readyz is 503" 503 "$(http_code "http://127.0.0.1:$api_port/readyz" -m 10)"
  wait "$uac_pid"
  expect_eq "draining: the ringing call still completes (the proxy relayed its 200)" 0 "$?"
  wait_exit fwd_drain 10
  expect_eq "draining: exit status 0 (within 10 s of the call's end)" 0 "$LAST_EXIT"
  expect_no_match "draining: exit once nothing is in flight, not when the grace is over" \
    'grace period over' "$(cat "$WORKDIR/fwd_drain.log")"
  wait "$uas_pid" 2>/dev/null
}

# SIGTERM with a 1 s grace while a call rings for 1.5 s: the proxy gives up on it, exits 0 on
# time and leaves nothing behind (the sanitizer build checks for leaks at exit). The upper bound
# is loose for a loaded machine: the log line below is what shows the grace ended it.
drain_grace_expires() {
  ring_through_proxy fwd_grace 1 || return
  local uac_pid=$UAC_PID uas_pid=$UAS_PID
  local start
  start=$(date +%s%N)
  kill -TERM "${PIDS[fwd_grace]}"
  wait_exit fwd_grace 5
  local ms=$((($(date +%s%N) - start) / 1000000))
  expect_eq "grace over: exit status 0" 0 "$LAST_EXIT"
  if [ "$ms" -ge 900 ] && [ "$ms" -le 4000 ]; then
    pass "grace over: exit after the 1 s grace (${ms} ms)"
  else
    fail "grace over: exit after ${ms} ms" "expected about 1 s"
  fi
  expect_match "grace over: the abandoned call is logged" 'grace period over with 1 transactions in flight' \
    "$(cat "$WORKDIR/fwd_grace.log")"
  expect_clean_log "grace over: no sanitizer error or leak" fwd_grace
  wait "$uac_pid" "$uas_pid" 2>/dev/null
}

run_transport u1 udp
run_transport t1 tcp
drain_in_flight
drain_grace_expires
finish
