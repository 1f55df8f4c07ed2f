#!/usr/bin/env bash
# The foundation end to end: both programs start, answer OPTIONS (200) and INVITE (403 at the pcscf, 404 at the scscf) over UDP
# and TCP, serve /healthz, /readyz, /metrics and the status API, guard mutating REST calls with the
# token, validate their configuration, and drain and exit 0 on SIGTERM.
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
SCEN="$E2E_DIR/scenarios"

# sipp_run NAME SCENARIO TRANSPORT TARGET: one call, messages traced to $WORKDIR/NAME.msg.
sipp_run() {
  local name=$1 scen=$2 t=$3 target=$4 port
  port=$(free_port)
  timeout 20 sipp -sf "$SCEN/$scen.xml" -i 127.0.0.1 -p "$port" -t "$t" -m 1 -timeout 10s \
    -timeout_error -trace_msg -message_file "$WORKDIR/$name.msg" \
    -trace_err -error_file "$WORKDIR/$name.err" "$target" >/dev/null 2>&1
}

check_sip() { # prog sip_port
  local prog=$1 port=$2 t name
  for t in u1 t1; do
    name="${prog}_options_$t"
    sipp_run "$name" options_200 "$t" "127.0.0.1:$port"
    expect_eq "$prog: OPTIONS over $t, SIPp verdict" 0 "$?"
    local resp
    resp=$(sed -n '/^SIP\/2.0 200/,/^$/p' "$WORKDIR/$name.msg")
    expect_match "$prog: OPTIONS over $t answered 200" '^SIP/2.0 200' "$resp"
    expect_match "$prog: 200 has Allow" '^Allow: .*OPTIONS' "$resp"
    expect_match "$prog: 200 has Supported" '^Supported: ' "$resp"
    expect_match "$prog: 200 has Accept" '^Accept: application/sdp' "$resp"

    name="${prog}_invite_$t"
    if [ "$prog" = pcscf ]; then
      # TS 24.229: a P-CSCF takes requests only from registered flows; SIPp's is not.
      sipp_run "$name" invite_403 "$t" "127.0.0.1:$port"
      expect_eq "$prog: INVITE from an unregistered flow over $t, SIPp verdict" 0 "$?"
      resp=$(sed -n '/^SIP\/2.0 403/,/^$/p' "$WORKDIR/$name.msg")
      expect_match "$prog: ... answered 403 Not Registered" '^SIP/2.0 403 Not Registered' "$resp"
      continue
    fi
    # The S-CSCF's terminating side: sip:bob@<its address> is no IMPU the HSS knows.
    sipp_run "$name" invite_404 "$t" "127.0.0.1:$port"
    expect_eq "$prog: INVITE over $t, SIPp verdict" 0 "$?"
    resp=$(sed -n '/^SIP\/2.0 404/,/^$/p' "$WORKDIR/$name.msg")
    expect_match "$prog: INVITE for an identity the HSS does not know over $t answered 404" '^SIP/2.0 404' "$resp"
  done
}

check_rest() { # prog api
  local prog=$1 api=$2 body
  expect_eq "$prog: /healthz 200" 200 "$(http_code "http://$api/healthz")"
  expect_eq "$prog: /readyz 200" 200 "$(http_code "http://$api/readyz")"
  body=$(http_body "http://$api/metrics")
  expect_match "$prog: /metrics counts OPTIONS" '^cscf_sip_requests_total\{program="'"$prog"'",method="OPTIONS"\} [1-9]' "$body"
  expect_match "$prog: /metrics counts 200s" '^cscf_sip_responses_total\{program="'"$prog"'",code="200"\} [1-9]' "$body"
  local code=404
  [ "$prog" = pcscf ] && code=403
  expect_match "$prog: /metrics counts ${code}s" "^cscf_sip_responses_total\\{program=\"$prog\",code=\"$code\"\\} [1-9]" "$body"
  expect_match "$prog: /metrics has build info" "^cscf_build_info\\{program=\"$prog\",version=\"[^\"]+\"\\} 1" "$body"
  expect_match "$prog: /metrics has start time" '^process_start_time_seconds\{program="'"$prog"'"\} [0-9]' "$body"
  expect_match "$prog: /metrics HELP and TYPE lines" '^# TYPE cscf_sip_requests_total counter' "$body"
  body=$(http_body "http://$api/api/v1/status")
  expect_match "$prog: status names the program" "\"program\":\"$prog\"" "$body"
  expect_match "$prog: status has listen addresses" '"listen":\["127.0.0.1:[0-9]+"\]' "$body"
  expect_eq "$prog: unknown path 404" 404 "$(http_code "http://$api/nope")"
  expect_match "$prog: 404 is problem+json" '"status":404' "$(http_body "http://$api/nope")"
  expect_eq "$prog: wrong method 405" 405 "$(http_code "http://$api/healthz" -X DELETE)"
  expect_eq "$prog: PUT /api/v1/log with no token configured: 403" 403 \
    "$(http_code "http://$api/api/v1/log" -X PUT -d '{"level":"debug"}')"
}

start_pair() { # suffix [extra env]
  local sfx=$1
  shift
  PC_SIP=$(free_port) PC_API=$(free_port) SC_SIP=$(free_port) SC_API=$(free_port)
  start_hss "hss$sfx" "$@" || return 1
  mapfile -t diam < <(scscf_diameter_env)
  start_prog "scscf$sfx" "$BUILD/scscf" "$REPO_DIR/config/scscf.yaml" \
    SCSCF_SIP_LISTEN="127.0.0.1:$SC_SIP" SCSCF_API_LISTEN="127.0.0.1:$SC_API" "${diam[@]}" "$@" || return 1
  wait_http "127.0.0.1:$SC_API" /readyz 200 10 || fail "scscf$sfx: ready once its HSS peer opens"
  start_prog "pcscf$sfx" "$BUILD/pcscf" "$REPO_DIR/config/pcscf.yaml" \
    PCSCF_SIP_LISTEN="127.0.0.1:$PC_SIP" PCSCF_API_LISTEN="127.0.0.1:$PC_API" "$@"
}

echo "-- SIP and REST"
if start_pair ""; then
  check_sip pcscf "$PC_SIP"
  check_sip scscf "$SC_SIP"
  check_rest pcscf "127.0.0.1:$PC_API"
  check_rest scscf "127.0.0.1:$SC_API"
  for p in pcscf scscf hss; do
    stop_prog "$p"
    expect_eq "$p: SIGTERM exits 0" 0 "$LAST_EXIT"
    expect_clean_log "$p: no sanitizer report" "$p"
  done
fi

echo "-- bearer token"
if start_pair "_tok" PCSCF_API_TOKEN=s3cret SCSCF_API_TOKEN=s3cret; then
  api="127.0.0.1:$PC_API"
  expect_eq "no Authorization: 401" 401 "$(http_code "http://$api/api/v1/log" -X PUT -d '{"level":"debug"}')"
  expect_eq "wrong token: 401" 401 "$(http_code "http://$api/api/v1/log" -X PUT -H 'Authorization: Bearer nope' -d '{"level":"debug"}')"
  expect_eq "right token: 200" 200 "$(http_code "http://$api/api/v1/log" -X PUT -H 'Authorization: Bearer s3cret' -d '{"level":"debug"}')"
  expect_match "level changed" '"level":"debug"' "$(http_body "http://$api/api/v1/log")"
  expect_eq "bad JSON with the token: 400" 400 "$(http_code "http://$api/api/v1/log" -X PUT -H 'Authorization: Bearer s3cret' -d '{')"
  stop_prog pcscf_tok
  stop_prog scscf_tok
  stop_prog hss_tok
fi

echo "-- draining"
if start_pair "_drain" PCSCF_SHUTDOWN_GRACE_SECONDS=2; then
  # A request in flight keeps the process draining: none here, so exit is immediate; check the
  # bound on a busy exit by SIGTERM then timing the exit.
  start=$(date +%s%N)
  stop_prog pcscf_drain
  ms=$((($(date +%s%N) - start) / 1000000))
  expect_eq "pcscf: SIGTERM exits 0" 0 "$LAST_EXIT"
  if [ "$ms" -le 4000 ]; then pass "pcscf: exits within grace + 2 s (${ms} ms)"; else fail "pcscf: exit took ${ms} ms"; fi
  kill -HUP "${PIDS[scscf_drain]}"
  wait_for 5 grep -q 'SIGHUP: reopening logs' "$WORKDIR/scscf_drain.log"
  expect_eq "scscf: alive after SIGHUP" 0 "$(prog_alive scscf_drain; echo $?)"
  expect_match "scscf: SIGHUP reopens logs" 'SIGHUP: reopening logs' "$(cat "$WORKDIR/scscf_drain.log")"
  stop_prog scscf_drain
  stop_prog hss_drain
fi

echo "-- configuration checks"
out=$("$BUILD/pcscf" -c "$REPO_DIR/config/pcscf.yaml" --check 2>&1)
expect_eq "pcscf --check on the example config exits 0" 0 "$?"
out=$("$BUILD/scscf" -c "$REPO_DIR/config/scscf.yaml" --check 2>&1)
expect_eq "scscf --check on the example config exits 0" 0 "$?"
printf 'sip: {listen: 12}\n' >"$WORKDIR/bad_listen.yaml"
out=$("$BUILD/pcscf" -c "$WORKDIR/bad_listen.yaml" --check 2>&1)
expect_eq "sip: {listen: 12} exits 2" 2 "$?"
expect_match "... naming sip.listen and the line" 'bad_listen.yaml:1: sip.listen' "$out"
printf 'sip:\n  domain: x\n  lisen: ["127.0.0.1:5060"]\n' >"$WORKDIR/typo.yaml"
out=$("$BUILD/pcscf" -c "$WORKDIR/typo.yaml" --check 2>&1)
expect_eq "unknown key exits 2" 2 "$?"
expect_match "... naming the key and line" 'typo.yaml:3: sip.lisen: unknown key' "$out"
out=$(PCSCF_API_LISTEN=nonsense "$BUILD/pcscf" -c "$REPO_DIR/config/pcscf.yaml" --check 2>&1)
expect_eq "bad env address exits 2" 2 "$?"
expect_match "... naming the variable" 'PCSCF_API_LISTEN: api.listen' "$out"
out=$("$BUILD/pcscf" -c /nonexistent.yaml --check 2>&1)
expect_eq "missing file exits 2" 2 "$?"
out=$(SCSCF_SIP_TRANSPORTS=udp,sctp "$BUILD/scscf" -c "$REPO_DIR/config/scscf.yaml" --check 2>&1)
expect_eq "unsupported transport exits 2" 2 "$?"

echo "-- README is current"
if BUILD="$BUILD" "$REPO_DIR/scripts/readme-config.sh" --check >/dev/null 2>"$WORKDIR/readme.diff"; then
  pass "README config tables match --config-reference"
else
  fail "README config tables are stale" "run scripts/readme-config.sh"
fi

finish
