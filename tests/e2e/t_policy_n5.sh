#!/usr/bin/env bash
# QoS for calls over N5 (issue 20; TS 29.514 Npcf_PolicyAuthorization): the pcscf with
# policy.backend n5 talks HTTP/2 (h2c) to a test PCF (tests/tools/pcf.py, python3-h2) that
# records every request. Two registered handsets call through pcscf -> scscf -> pcscf: each UE
# side gets an app session (POST with medComponents from the SDP offer), an update when the
# answer passes (PATCH, flows from both SDPs), a delete at BYE; every body validates against
# the TS 29.514 schema parts (tests/data/ts29514_app_session.schema.json). A termination
# notification from the PCF (POST {notifUri}/terminate) ends the call. PCF failing or down:
# fail-open lets the call through and counts it; fail-closed refuses the INVITE.
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
SCEN="$E2E_DIR/scenarios"
DOMAIN=ims.mnc001.mcc001.3gppnetwork.org
SCHEMA="$DATA_DIR/ts29514_app_session.schema.json"
PY=/usr/bin/python3
API=/npcf-policyauthorization/v1/app-sessions
field() { jq -r "$1 // empty" <<<"$2"; }

TOKEN=s3cret
start_hss hss HSS_API_TOKEN=$TOKEN || { finish; exit 1; }
SC_SIP=$(free_port) SC_API=$(free_port) PC_SIP=$(free_port) PC_API=$(free_port)
PCF=$(free_port) NOTIFY=$(free_port)
REC="$WORKDIR/pcf.jsonl" MODE="$WORKDIR/pcf.mode"
mapfile -t diam < <(scscf_diameter_env)
start_prog scscf "$BUILD/scscf" "$REPO_DIR/config/scscf.yaml" SCSCF_SIP_LISTEN="127.0.0.1:$SC_SIP" \
  SCSCF_API_LISTEN="127.0.0.1:$SC_API" "${diam[@]}" || { finish; exit 1; }

start_pcf() {
  "$PY" "$REPO_DIR/tests/tools/pcf.py" --listen "127.0.0.1:$PCF" --record "$REC" \
    --mode-file "$MODE" 2>>"$WORKDIR/pcf.log" &
  PIDS[pcf]=$!
  wait_for 10 port_bound tcp "$PCF" || fail "the test PCF listens on $PCF"
}
# start_pcscf ON_FAILURE: the pcscf with the n5 back end towards the test PCF.
start_pcscf() {
  start_prog pcscf "$BUILD/pcscf" "$REPO_DIR/config/pcscf.yaml" PCSCF_SIP_LISTEN="127.0.0.1:$PC_SIP" \
    PCSCF_API_LISTEN="127.0.0.1:$PC_API" PCSCF_API_TOKEN=$TOKEN PCSCF_LOG_LEVEL=debug \
    PCSCF_PCSCF_REGISTRAR="sip:127.0.0.1:$SC_SIP;transport=tcp;lr" \
    PCSCF_POLICY_BACKEND=n5 PCSCF_POLICY_ON_FAILURE="$1" PCSCF_POLICY_TIMEOUT_MS=1000 \
    PCSCF_POLICY_N5_PCF_URI="http://127.0.0.1:$PCF" \
    PCSCF_POLICY_N5_NOTIFY_LISTEN="127.0.0.1:$NOTIFY"
}
start_pcf
start_pcscf open || { finish; exit 1; }
wait_http "127.0.0.1:$SC_API" /readyz 200 10 || fail "scscf ready"

register() { # NAME USER K OP PORT INSTANCE
  printf 'SEQUENTIAL\n%s;%s@%s;%s;[authentication username=%s@%s aka_K=%s aka_OP=%s];600;%s\n' \
    "$2" "$2" "$DOMAIN" "$DOMAIN" "$2" "$DOMAIN" "$3" "$4" "$6" >"$WORKDIR/$1.csv"
  timeout 20 sipp -sf "$SCEN/register_aka.xml" -inf "$WORKDIR/$1.csv" -i 127.0.0.1 -p "$5" \
    -t u1 -m 1 -timeout 15s -timeout_error -auth_uri "$DOMAIN" -trace_msg \
    -message_file "$WORKDIR/$1.msg" "127.0.0.1:$PC_SIP" >/dev/null 2>&1
}
callee() { # NAME SCENARIO PORT [SIPp args]: bob waits for one call, in the background
  local name=$1 scen=$2 port=$3
  shift 3
  timeout 40 sipp -sf "$SCEN/$scen" -i 127.0.0.1 -p "$port" -t u1 -m 1 -timeout 35s \
    -timeout_error -trace_msg -message_file "$WORKDIR/$name.msg" "$@" >/dev/null 2>&1 &
  CALLEE_PID=$!
  wait_for 10 port_bound udp "$port" || fail "$name: the handset (SIPp) listens on $port"
}
caller() { # NAME SCENARIO PORT [SIPp args]: alice calls bob; in the background, pid CALLER_PID
  local name=$1 scen=$2 port=$3
  shift 3
  printf 'SEQUENTIAL\nalice;sip:bob@%s;%s\n' "$DOMAIN" "$DOMAIN" >"$WORKDIR/$name.csv"
  timeout 40 sipp -sf "$SCEN/$scen" -inf "$WORKDIR/$name.csv" -i 127.0.0.1 -p "$port" -t u1 -m 1 \
    -timeout 35s -timeout_error -trace_msg -message_file "$WORKDIR/$name.msg" "$@" \
    "127.0.0.1:$PC_SIP" >/dev/null 2>&1 &
  CALLER_PID=$!
}
caller_fields() { # NAME SCENARIO PORT FIELDS [SIPp args]: as caller, with the CSV line FIELDS
  local name=$1 scen=$2 port=$3
  printf 'SEQUENTIAL\n%s\n' "$4" >"$WORKDIR/$name.csv"
  shift 4
  timeout 40 sipp -sf "$SCEN/$scen" -inf "$WORKDIR/$name.csv" -i 127.0.0.1 -p "$port" -t u1 -m 1 \
    -timeout 35s -timeout_error -trace_msg -message_file "$WORKDIR/$name.msg" "$@" \
    "127.0.0.1:$PC_SIP" >/dev/null 2>&1
}
recorded() { # jq filter over the PCF's records (one JSON value per line, slurped)
  jq -s -c "$1" "$REC" 2>/dev/null
}
recorded_raw() { jq -s -r "$1" "$REC" 2>/dev/null; }
count() { recorded "[.[] | select($1)] | length"; }
metric() { http_body "http://127.0.0.1:$PC_API/metrics" | awk -v m="$1" 'index($0, m) == 1 {print $2; exit}'; }
has_records() { [ "$(count "$1")" -ge "$2" ]; }

A_K=abcdefghijklmnop A_OP=ponmlkjihgfedcba B_K=bobbobbobbobbob1
PA=$(free_port) PB=$(free_port) MA=$(free_port) MB=$(free_port)

echo "-- the configuration is checked"
out=$(PCSCF_POLICY_BACKEND=n5 PCSCF_POLICY_N5_PCF_URI=https://127.0.0.1:7777 \
  "$BUILD/pcscf" -c "$REPO_DIR/config/pcscf.yaml" --check 2>&1)
expect_eq "--check refuses an https PCF URI (no TLS on N5 yet): exit 2" 2 "$?"
expect_match "... naming the key" 'policy.n5.pcf_uri' "$out"

echo "-- two handsets register"
register rega alice "$A_K" "$A_OP" "$PA" 1
expect_eq "alice registers" 0 "$?"
register regb bob "$B_K" "$A_OP" "$PB" 2
expect_eq "bob registers" 0 "$?"
expect_eq "no policy request for a registration" 0 "$(count '.dir == "in"')"

echo "-- alice calls bob: app sessions for both UE sides"
callee bcall call_uas.xml "$PB" -mp "$MB" -d 100
caller acall n5_uac.xml "$PA" -mp "$MA" -d 3000
# During the call (alice holds it 3 s after the ACK): both sides' sessions and their updates.
wait_for 15 has_records '.method == "PATCH" and .status == 200' 2 ||
  fail "two updates (PATCH, one per UE side) reach the PCF during the call"
rest_states() { field '[.sessions[].state] | sort | join(",")' "$(http_body "http://127.0.0.1:$PC_API/api/v1/policy/sessions")"; }
both_granted() { [ "$(rest_states)" = "granted,granted" ]; }
wait_for 5 both_granted
sessions=$(http_body "http://127.0.0.1:$PC_API/api/v1/policy/sessions")
expect_eq "GET /api/v1/policy/sessions: back end n5, two sessions (one per UE side)" "n5 2" \
  "$(field '"\(.backend) \(.count)"' "$sessions")"
expect_eq "... both granted by the PCF" "granted,granted" "$(rest_states)"
expect_eq "... both of alice's call (its Call-ID)" 1 \
  "$(field '[.sessions[].call_id] | unique | length' "$sessions")"
expect_eq "cscf_policy_sessions: 2 during the call" 2 "$(metric 'cscf_policy_sessions{')"
wait "$CALLER_PID"
expect_eq "alice: INVITE, 180, 200, ACK, BYE, 200" 0 "$?"
wait "$CALLEE_PID"
expect_eq "bob: the same from his side" 0 "$?"
wait_for 10 has_records '.method == "POST" and (.path | endswith("/delete"))' 2 ||
  fail "both app sessions are deleted after the BYE"
posts=$(count ".method == \"POST\" and .path == \"$API\"")
expect_eq "two creates (POST .../app-sessions): one per UE side" 2 "$posts"
expect_eq "... each answered 201 with a Location" 2 "$(count ".path == \"$API\" and .status == 201")"
ids=$(recorded_raw "[.[] | select(.path | test(\"^$API/[^/]+/delete\$\")) | .path | split(\"/\")[4]] | sort | join(\",\")")
expect_eq "the deletes name both app sessions the PCF created" "as1,as2" "$ids"
expect_eq "the updates name the created app sessions" "as1,as2" \
  "$(recorded_raw "[.[] | select(.method == \"PATCH\") | .path | split(\"/\")[4]] | unique | join(\",\")")"
alice_post=$(recorded "[.[] | select(.path == \"$API\") | .body.ascReqData | select(.medComponents[\"1\"].medSubComps[\"1\"].fDescs[0] | test(\"from 127.0.0.1 $MA \"))][0]")
expect_match "alice's create: medComponent 1 AUDIO from her SDP offer" '"medType":"AUDIO"' "$alice_post"
expect_match "... uplink RTP from her address and port" "\"permit in 17 from 127.0.0.1 $MA to " "$alice_post"
expect_match "... b=AS:64 as the maximum requested bandwidth" '"marBwUl":"64 Kbps"' "$alice_post"
expect_match "... her address as ueIpv4" '"ueIpv4":"127.0.0.1"' "$alice_post"
expect_match "... the notification URI served by the pcscf" "\"notifUri\":\"http://127.0.0.1:$NOTIFY/n5-notify/v1/sessions/[0-9a-f]+\"" "$alice_post"
expect_match "... the ICID as afChargId" '"afChargId":"[^"]+' "$alice_post"
# Each side's update, found by the app session its create got: the UE's own flows first
# (uplink: "permit in", the UE the source), then the far end's (downlink: "permit out"); RTCP on
# the next ports (TS 29.214 5.3.8).
side_id() { # PORT: the app session whose create's uplink leaves from 127.0.0.1 PORT
  recorded_raw "[.[] | select(.path == \"$API\" and .status == 201 and (.body.ascReqData.medComponents[\"1\"].medSubComps[\"1\"].fDescs[0] | startswith(\"permit in 17 from 127.0.0.1 $1 \")))][0].location | split(\"/\") | last"
}
flows() { # ID SUB: that session's last update's fDescs of sub-component SUB, one line
  recorded_raw "[.[] | select(.method == \"PATCH\" and (.path | endswith(\"/$1\")))] | last | .body.ascReqData.medComponents[\"1\"].medSubComps[\"$2\"].fDescs | join(\" | \")"
}
fd() { echo "permit in 17 from 127.0.0.1 $1 to 127.0.0.1 $2 | permit out 17 from 127.0.0.1 $2 to 127.0.0.1 $1"; }
A_ID=$(side_id "$MA")
B_ID=$(recorded_raw "[.[] | select(.path == \"$API\" and .status == 201) | .location | split(\"/\") | last | select(. != \"$A_ID\")][0]")
expect_match "alice's and bob's sides have an app session each" '^as[0-9]+ as[0-9]+$' "$A_ID $B_ID"
expect_eq "alice's update: RTP uplink to bob's SDP port, downlink back (both SDPs)" "$(fd "$MA" "$MB")" "$(flows "$A_ID" 1)"
expect_eq "... RTCP on the next ports" "$(fd $((MA + 1)) $((MB + 1)))" "$(flows "$A_ID" 2)"
expect_eq "bob's update: his RTP uplink to alice's SDP port, downlink back" "$(fd "$MB" "$MA")" "$(flows "$B_ID" 1)"
expect_eq "... RTCP on the next ports" "$(fd $((MB + 1)) $((MA + 1)))" "$(flows "$B_ID" 2)"
patches=$(recorded "[.[] | select(.method == \"PATCH\") | .body.ascReqData.medComponents[\"1\"].medSubComps]")
expect_match "the RTCP sub-component is marked so" '"flowUsage":"RTCP"' "$patches"
check=$("$PY" "$REPO_DIR/tests/tools/n5_check.py" "$REC" "$SCHEMA" 2>&1)
expect_eq "every request the PCF received validates against the TS 29.514 schema parts" 0 "$?"
echo "$check" | sed 's/^/       /'
expect_eq "cscf_policy_sessions: 0 after the call" 0 "$(metric 'cscf_policy_sessions{')"

echo "-- a re-INVITE moves alice's audio and offers video (refused by bob): the sessions follow"
: >"$REC"
MA2=$(free_port) MV=$(free_port)
callee bre policy_uas_reinvite.xml "$PB" -mp "$MB"
caller_fields are policy_uac_reinvite.xml "$PA" "alice;sip:bob@$DOMAIN;$DOMAIN;$MA2;$MV" -mp "$MA"
expect_eq "the call with a re-INVITE completes (alice)" 0 "$?"
wait "$CALLEE_PID"
expect_eq "... and bob's side" 0 "$?"
wait_for 10 has_records '.method == "POST" and (.path | endswith("/delete"))' 2
A_ID=$(side_id "$MA")
last_patch=$(recorded "[.[] | select(.method == \"PATCH\" and (.path | endswith(\"/$A_ID\")))] | last | .body.ascReqData.medComponents")
expect_eq "alice's last update: the audio's new port to bob's" "$(fd "$MA2" "$MB")" "$(flows "$A_ID" 1)"
expect_eq "... the video component (2) refused by the answer's port 0: REMOVED, no flows" "VIDEO REMOVED null" \
  "$(field '"\(.["2"].medType) \(.["2"].fStatus) \(.["2"].medSubComps)"' "$last_patch")"
expect_eq "... both app sessions deleted at the BYE" 2 "$(count '.method == "POST" and (.path | endswith("/delete"))')"
check=$("$PY" "$REPO_DIR/tests/tools/n5_check.py" "$REC" "$SCHEMA" 2>&1)
expect_eq "... every request schema-valid" 0 "$?"

echo "-- the PCF ends the session (termination notification): the call ends"
: >"$REC"
callee bterm call_uas.xml "$PB" -mp "$MB" -d 100
caller aterm n5_uac_bye.xml "$PA" -mp "$MA"
wait_for 15 has_records '.method == "PATCH" and .status == 200' 2 || fail "the call is set up (two updates)"
kill -USR2 "${PIDS[pcf]}"
wait_for 10 has_records '.kind == "notify"' 1 || fail "the PCF sent an event notification"
expect_eq "an event notification ({notifUri}/notify) is answered 204" 204 \
  "$(recorded '[.[] | select(.kind == "notify")][0].status')"
expect_match "... counted, the call goes on" '^cscf_policy_notifications_total\{[^}]*kind="event"[^}]*\} 1$' \
  "$(http_body "http://127.0.0.1:$PC_API/metrics")"
kill -USR1 "${PIDS[pcf]}"
wait_for 10 has_records '.kind == "terminate"' 1 || fail "the PCF sent its termination notification"
expect_eq "the pcscf answers the termination notification 204" 204 \
  "$(recorded '[.[] | select(.kind == "terminate")][0].status')"
wait "$CALLER_PID"
expect_eq "alice gets a BYE from the network and answers it" 0 "$?"
wait "$CALLEE_PID"
expect_eq "bob gets a BYE from the network and answers it" 0 "$?"
wait_for 10 has_records '.method == "POST" and (.path | endswith("/delete"))' 2
expect_eq "both app sessions are deleted after the termination (TS 29.514 4.2.5.3)" 2 \
  "$(count '.method == "POST" and (.path | endswith("/delete")) and .status == 204')"
expect_match "cscf_policy_notifications_total counts the termination" '^cscf_policy_notifications_total\{[^}]*kind="terminate"[^}]*\} 1$' \
  "$(http_body "http://127.0.0.1:$PC_API/metrics")"
expect_eq "a notification for an unknown session: 404" 404 \
  "$(curl -s -o /dev/null -w '%{http_code}' -m 3 --http2-prior-knowledge -X POST -d '{}' \
    "http://127.0.0.1:$NOTIFY/n5-notify/v1/sessions/0123456789abcdef/terminate")"

echo "-- fail-open: the PCF answers 500, then is down; calls go on and are counted"
echo 500 >"$MODE"
before=$(metric 'cscf_policy_failopen_total{')
callee bfail call_uas.xml "$PB" -mp "$MB" -d 100
caller afail n5_uac.xml "$PA" -mp "$MA" -d 100
wait "$CALLER_PID"
expect_eq "PCF answering 500: the call completes" 0 "$?"
wait "$CALLEE_PID"
expect_eq "... on bob's side too" 0 "$?"
after=$(metric 'cscf_policy_failopen_total{')
expect_eq "... cscf_policy_failopen_total grew" 1 "$(awk -v a="${before:-0}" -v b="${after:-0}" 'BEGIN {print (b > a)}')"
stop_prog pcf
rm -f "$MODE"
before=$after
callee bdown call_uas.xml "$PB" -mp "$MB" -d 100
caller adown n5_uac.xml "$PA" -mp "$MA" -d 100
wait "$CALLER_PID"
expect_eq "PCF down: the call completes" 0 "$?"
wait "$CALLEE_PID"
expect_eq "... on bob's side too" 0 "$?"
after=$(metric 'cscf_policy_failopen_total{')
expect_eq "... cscf_policy_failopen_total grew" 1 "$(awk -v a="${before:-0}" -v b="${after:-0}" 'BEGIN {print (b > a)}')"
expect_match "the pcscf logged the failed connect" 'policy: h2 127.0.0.1:[0-9]+: connect: Connection refused' \
  "$(cat "$WORKDIR/pcscf.log")"
start_pcf
: >"$REC"
callee bback call_uas.xml "$PB" -mp "$MB" -d 100
caller aback n5_uac.xml "$PA" -mp "$MA" -d 100
wait "$CALLER_PID"
expect_eq "the PCF back: the call completes" 0 "$?"
wait "$CALLEE_PID"
wait_for 10 has_records '.method == "POST" and (.path | endswith("/delete"))' 2
expect_eq "... with its app sessions again (a new connection): 2 creates, 2 deletes" "2 2" \
  "$(count ".path == \"$API\" and .status == 201") $(count '.method == "POST" and (.path | endswith("/delete"))')"
stop_prog pcf

echo "-- fail-closed: the PCF answers 500 or not at all; the INVITE is refused"
stop_clean pcscf
start_pcf
start_pcscf closed || { finish; exit 1; }
register rega2 alice "$A_K" "$A_OP" "$PA" 1
expect_eq "alice registers again" 0 "$?"
register regb2 bob "$B_K" "$A_OP" "$PB" 2
expect_eq "bob registers again" 0 "$?"
echo 500 >"$MODE"
sc_calls() { http_body "http://127.0.0.1:$SC_API/metrics" | awk '/^cscf_calls_attempted_total\{/ {print $2}'; }
sc_before=$(sc_calls)
caller aclosed n5_uac_refused.xml "$PA" -mp "$MA"
wait "$CALLER_PID"
expect_eq "PCF answering 500: alice's INVITE gets 580 Precondition Failure" 0 "$?"
expect_eq "... and never left the pcscf (the scscf counts no new call)" "$sc_before" "$(sc_calls)"
echo silent >"$MODE"
caller asilent n5_uac_refused.xml "$PA" -mp "$MA"
wait "$CALLER_PID"
expect_eq "PCF not answering: refused after policy.timeout_ms" 0 "$?"
rm -f "$MODE"
callee bok call_uas.xml "$PB" -mp "$MB" -d 100
caller aok n5_uac.xml "$PA" -mp "$MA" -d 100
wait "$CALLER_PID"
expect_eq "PCF answering again: the call goes through" 0 "$?"
wait "$CALLEE_PID"
expect_eq "... on bob's side too" 0 "$?"

stop_clean pcscf scscf hss
stop_prog pcf
finish
