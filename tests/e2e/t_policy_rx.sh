#!/usr/bin/env bash
# QoS over Rx (issue 20, TS 29.214): the pcscf with policy.backend rx talks to a test PCRF
# (tests/tools/pcrf.c, which writes every AAR/STR/ASA it gets as a JSON line). Two SIPp handsets
# registered through the pcscf call each other (pcscf -> scscf -> pcscf):
#   - the AARs carry the media of both SDPs (flows RTP and RTCP both ways, Framed-IP-Address,
#     AF-Charging-Identifier, Subscription-Id, Specific-Action); the BYE brings STRs;
#   - the REST view lists the sessions during a call and none after;
#   - a RAR is answered (RAA) and counted; an ASR from the PCRF ends a call with a BYE to both
#     handsets;
#   - the PCRF refusing: fail-open lets the call through and counts it, fail-closed refuses the
#     caller's INVITE with 580;
#   - tshark decodes the Rx messages as Diameter without a malformed packet.
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
SCEN="$E2E_DIR/scenarios"
DOMAIN=ims.mnc001.mcc001.3gppnetwork.org
PCRF_ID=pcrf.$DOMAIN
field() { jq -r "$1 // empty" <<<"$2"; }

start_hss hss || { finish; exit 1; }
SC_SIP=$(free_port) SC_API=$(free_port) PC_SIP=$(free_port) PC_API=$(free_port)
RX_PCRF=$(free_port) RX_PC=$(free_port)
mapfile -t diam < <(scscf_diameter_env)
TOKEN=s3cret
start_prog scscf "$BUILD/scscf" "$REPO_DIR/config/scscf.yaml" SCSCF_SIP_LISTEN="127.0.0.1:$SC_SIP" \
  SCSCF_API_LISTEN="127.0.0.1:$SC_API" SCSCF_API_TOKEN=$TOKEN "${diam[@]}" || { finish; exit 1; }
wait_http "127.0.0.1:$SC_API" /readyz 200 10 || fail "scscf ready"

# Everything on the Rx port is captured for tshark (run as root in the lab; skipped otherwise).
CAP="$WORKDIR/rx.pcap"
if command -v tshark >/dev/null && [ "$(id -u)" = 0 ]; then
  tshark -i lo -f "tcp port $RX_PCRF" -w "$CAP" -q >/dev/null 2>&1 &
  PIDS[tshark]=$!
  wait_for 10 test -s "$CAP" || true
fi

# start_pcrf NAME [pcrf args]: the test PCRF on RX_PCRF, recording into $WORKDIR/NAME.jsonl.
start_pcrf() {
  local name=$1
  shift
  : >"$WORKDIR/$name.jsonl"
  "$BUILD/tools/pcrf" -l "127.0.0.1:$RX_PCRF" -o "$WORKDIR/$name.jsonl" -i "$PCRF_ID" \
    -r "$DOMAIN" "$@" >"$WORKDIR/$name.out" 2>>"$WORKDIR/$name.log" &
  PIDS[$name]=$!
  wait_for 10 grep -qs 'pcrf: ready' "$WORKDIR/$name.out" || fail "$name: the test PCRF starts"
}
# start_pcscf NAME [VAR=VALUE...]: the pcscf with policy.backend rx towards the PCRF.
start_pcscf() {
  local name=$1
  shift
  start_prog "$name" "$BUILD/pcscf" "$REPO_DIR/config/pcscf.yaml" PCSCF_SIP_LISTEN="127.0.0.1:$PC_SIP" \
    PCSCF_API_LISTEN="127.0.0.1:$PC_API" PCSCF_PCSCF_REGISTRAR="sip:127.0.0.1:$SC_SIP;transport=tcp;lr" \
    PCSCF_POLICY_BACKEND=rx PCSCF_POLICY_RX_LISTEN="127.0.0.1:$RX_PC" \
    PCSCF_POLICY_RX_PEERS="$PCRF_ID@127.0.0.1:$RX_PCRF" PCSCF_POLICY_RX_RECONNECT_SECONDS=1 "$@"
}
# The pcscf's Rx peer is open: freeDiameter logs the state change.
rx_open() { grep -q "STATE_OPEN'.*'$PCRF_ID'" "$WORKDIR/$1.log"; }
rx_open_count() { grep -c "STATE_OPEN'.*'$PCRF_ID'" "$WORKDIR/$1.log"; }
rx_reopened() { [ "$(rx_open_count "$1")" -gt "$2" ]; }

register() { # NAME USER K OP PORT INSTANCE
  printf 'SEQUENTIAL\n%s;%s@%s;%s;[authentication username=%s@%s aka_K=%s aka_OP=%s];600;%s\n' \
    "$2" "$2" "$DOMAIN" "$DOMAIN" "$2" "$DOMAIN" "$3" "$4" "$6" >"$WORKDIR/$1.csv"
  timeout 20 sipp -sf "$SCEN/register_aka.xml" -inf "$WORKDIR/$1.csv" -i 127.0.0.1 -p "$5" \
    -t u1 -m 1 -timeout 15s -timeout_error -auth_uri "$DOMAIN" -trace_msg \
    -message_file "$WORKDIR/$1.msg" "127.0.0.1:$PC_SIP" >/dev/null 2>&1
}
callee() { # NAME SCENARIO PORT MEDIA_PORT [SIPp args]
  local name=$1 scen=$2 port=$3 mp=$4
  shift 4
  timeout 40 sipp -sf "$SCEN/$scen" -i 127.0.0.1 -p "$port" -mp "$mp" -t u1 -m 1 -timeout 30s \
    -timeout_error -trace_msg -message_file "$WORKDIR/$name.msg" "$@" >/dev/null 2>&1 &
  CALLEE_PID=$!
  wait_for 10 port_bound udp "$port" || fail "$name: the handset (SIPp) listens on $port"
}
caller() { # NAME SCENARIO PORT MEDIA_PORT FIELDS: SIPp's verdict in $?
  printf 'SEQUENTIAL\n%s\n' "$5" >"$WORKDIR/$1.csv"
  timeout 40 sipp -sf "$SCEN/$2" -inf "$WORKDIR/$1.csv" -i 127.0.0.1 -p "$3" -mp "$4" -t u1 -m 1 \
    -timeout 30s -timeout_error -trace_msg -message_file "$WORKDIR/$1.msg" \
    "127.0.0.1:$PC_SIP" >/dev/null 2>&1
}
caller_bg() { # as caller, in the background: CALLER_PID
  printf 'SEQUENTIAL\n%s\n' "$5" >"$WORKDIR/$1.csv"
  timeout 40 sipp -sf "$SCEN/$2" -inf "$WORKDIR/$1.csv" -i 127.0.0.1 -p "$3" -mp "$4" -t u1 -m 1 \
    -timeout 30s -timeout_error -trace_msg -message_file "$WORKDIR/$1.msg" \
    "127.0.0.1:$PC_SIP" >/dev/null 2>&1 &
  CALLER_PID=$!
}
register_both() {
  register rega alice "$A_K" "$A_OP" "$PA" 1
  expect_eq "alice registers through the pcscf ($1)" 0 "$?"
  register regb bob "$B_K" "$A_OP" "$PB" 2
  expect_eq "bob registers through the pcscf ($1)" 0 "$?"
}
# jq over the PCRF's record: one JSON value per line.
rec() { jq -c "$2" "$WORKDIR/$1.jsonl" 2>/dev/null; }
rec_count() { jq -s "[.[] | select(.cmd == \"$2\")] | length" "$WORKDIR/$1.jsonl" 2>/dev/null; }
rec_at_least() { [ "$(rec_count "$1" "$2")" -ge "$3" ] 2>/dev/null; }
sessions() { field .count "$(http_body "http://127.0.0.1:$PC_API/api/v1/policy/sessions")"; }
sessions_are() { [ "$(sessions)" = "$1" ]; }
granted_both() {
  [ "$(jq '[.sessions[] | select(.established and .state == "granted")] | length' \
    <<<"$(http_body "http://127.0.0.1:$PC_API/api/v1/policy/sessions")")" = 2 ]
}
metric() { http_body "http://127.0.0.1:$PC_API/metrics" | grep -E "^$1" | head -1; }

A_K=abcdefghijklmnop A_OP=ponmlkjihgfedcba B_K=bobbobbobbobbob1
PA=$(free_port) PB=$(free_port) MA=$(free_port) MB=$(free_port)

echo "-- a call with the PCRF granting everything"
start_pcrf pcrf1
start_pcscf pcscf1 || { finish; exit 1; }
wait_for 15 rx_open pcscf1 || fail "the pcscf's Rx peer (the PCRF) opens"
register_both "rx"
callee bcall call_uas.xml "$PB" "$MB" -d 300
caller acall call_uac.xml "$PA" "$MA" "alice;sip:bob@$DOMAIN;$DOMAIN"
expect_eq "the call completes through the pcscf with Rx (SIPp, caller)" 0 "$?"
wait "$CALLEE_PID"
expect_eq "... and the callee's side" 0 "$?"
wait_for 10 rec_at_least pcrf1 STR 2 || fail "the PCRF gets two STRs (one per UE side) after the BYE"
expect_eq "the PCRF got two STRs (the caller's and the callee's session)" 2 "$(rec_count pcrf1 STR)"
aars=$(rec pcrf1 'select(.cmd == "AAR") | .avps')
expect_match "AARs carry the Rx application (Auth-Application-Id 16777236)" '"Auth-Application-Id":16777236' "$aars"
expect_match "... the UE's address as Framed-IP-Address (127.0.0.1)" '"Framed-IP-Address":"0x7f000001"' "$aars"
expect_match "... AF-Charging-Identifier (the icid)" '"AF-Charging-Identifier":"[^"]+' "$aars"
expect_match "... Subscription-Id: alice's IMPU (END_USER_SIP_URI)" \
  "\"Subscription-Id\":\\{\"Subscription-Id-Type\":2,\"Subscription-Id-Data\":\"sip:alice@$DOMAIN\"\\}" "$aars"
expect_match "... and bob's (the terminating side)" "\"Subscription-Id-Data\":\"sip:bob@$DOMAIN\"" "$aars"
expect_match "... Specific-Action subscriptions (INDICATION_OF_LOSS_OF_BEARER = 2 among them)" \
  '"Specific-Action":\[2,3,4,8,9\]' "$aars"
expect_match "... a preliminary AAR on the offer (Service-Info-Status 1)" '"Service-Info-Status":1' "$aars"
final=$(rec pcrf1 'select(.cmd == "AAR" and .avps["Service-Info-Status"] == 0) | .avps')
flows=$(jq -r '.. | .["Flow-Description"]? // empty | if type == "array" then .[] else . end' <<<"$final" | sort -u)
expect_match "a final AAR: RTP uplink (\"in\", TS 29.214 5.3.8) from alice's SDP to bob's (ports of both SDPs)" \
  "^permit in 17 from 127.0.0.1 $MA to 127.0.0.1 $MB\$" "$flows"
expect_match "... RTP downlink from bob to alice" "^permit out 17 from 127.0.0.1 $MB to 127.0.0.1 $MA\$" "$flows"
expect_match "... RTCP on port + 1 both ways" \
  "^permit in 17 from 127.0.0.1 $((MA + 1)) to 127.0.0.1 $((MB + 1))\$" "$flows"
expect_match "... (RTCP downlink)" "^permit out 17 from 127.0.0.1 $((MB + 1)) to 127.0.0.1 $((MA + 1))\$" "$flows"
expect_match "... the RTCP sub-component has Flow-Usage RTCP (1)" '"Flow-Number":2,.*"Flow-Usage":1' \
  "$(jq -c '.. | .["Media-Sub-Component"]? // empty' <<<"$final")"
expect_match "... Codec-Data of both SDPs (uplink offer / downlink answer)" \
  '"uplink\\nanswer\\nm=audio|"uplink\\noffer\\nm=audio' "$final"
expect_match "... Media-Type AUDIO (0)" '"Media-Type":0' "$final"
sids=$(rec pcrf1 'select(.cmd == "STR") | .avps["Session-Id"]' | sort -u | wc -l)
expect_eq "the two STRs end two different Rx sessions" 2 "$sids"
expect_match "each STR ends a session an AAR opened" "$(rec pcrf1 'select(.cmd == "STR") | .avps["Session-Id"]' | head -1)" \
  "$(rec pcrf1 'select(.cmd == "AAR") | .avps["Session-Id"]')"
expect_eq "GET /api/v1/policy/sessions: none left after the BYE" 0 "$(sessions)"
expect_match "cscf_policy_requests_total counts the granted AARs" ' [1-9][0-9]*$' \
  "$(metric 'cscf_policy_requests_total\{program="pcscf",op="open",result="ok"\}')"

echo "-- a re-INVITE moves the audio and adds video (refused by the answer): an update AAR"
MA2=$(free_port) MV=$(free_port)
callee bre policy_uas_reinvite.xml "$PB" "$MB"
caller are policy_uac_reinvite.xml "$PA" "$MA" "alice;sip:bob@$DOMAIN;$DOMAIN;$MA2;$MV"
expect_eq "the call with a re-INVITE completes (SIPp, caller)" 0 "$?"
wait "$CALLEE_PID"
expect_eq "... and the callee's side" 0 "$?"
# alice's AAR with two media components: the re-INVITE's
upd=$(jq -c --arg u "sip:alice@$DOMAIN" 'select(.cmd == "AAR" and .avps["Subscription-Id"]["Subscription-Id-Data"] == $u
  and .avps["Rx-Request-Type"] == 1 and (.avps["Media-Component-Description"] | type) == "array") | .avps' \
  "$WORKDIR/pcrf1.jsonl" | tail -1)
expect_match "alice's update AAR (Rx-Request-Type UPDATE) has the new audio port" \
  "permit in 17 from 127.0.0.1 $MA2 to 127.0.0.1 $MB" "$upd"
expect_match "... b=AS:64 as Max-Requested-Bandwidth-UL (bit/s)" '"Max-Requested-Bandwidth-UL":64000' "$upd"
expect_match "... the video component refused by the answer (port 0): Flow-Status REMOVED (4)" \
  '"Media-Component-Number":2,"Media-Type":1,"Flow-Status":4' "$upd"
wait_for 10 sessions_are 0 || fail "no policy session left after the BYE"

echo "-- the PCRF ends a call (ASR): BYE to both handsets"
callee basr policy_uas_asr.xml "$PB" "$MB"
caller_bg aasr policy_uac_asr.xml "$PA" "$MA" "alice;sip:bob@$DOMAIN;$DOMAIN"
wait_for 15 sessions_are 2 || fail "the REST view lists the call's two sessions (caller and callee side)"
view=$(http_body "http://127.0.0.1:$PC_API/api/v1/policy/sessions")
expect_eq "GET /api/v1/policy/sessions during the call: 2 sessions" 2 "$(field .count "$view")"
expect_eq "... one originating (alice's), one terminating (bob's)" "originating terminating" \
  "$(jq -r '[.sessions[].side] | sort | join(" ")' <<<"$view")"
expect_match "... with the media of both SDPs" "\"ue_port\":$MA" "$(jq -c '.sessions[].media' <<<"$view")"
wait_for 10 granted_both || fail "both sessions established and granted"
kill -USR2 "${PIDS[pcrf1]}"
wait_for 10 rec_at_least pcrf1 RAA 1 || fail "the pcscf answers the PCRF's RAR"
expect_eq "the RAA says DIAMETER_SUCCESS" 2001 "$(rec pcrf1 'select(.cmd == "RAA") | .avps["Result-Code"]' | head -1)"
expect_match "cscf_policy_notifications_total{kind=rar} counts it" ' 1$' \
  "$(metric 'cscf_policy_notifications_total\{program="pcscf",kind="rar"\}')"
expect_eq "... and the call goes on (a RAR only informs)" 2 "$(sessions)"
kill -USR1 "${PIDS[pcrf1]}"
wait "$CALLER_PID"
expect_eq "alice gets a BYE from the network and answers it (SIPp)" 0 "$?"
wait "$CALLEE_PID"
expect_eq "bob gets a BYE from the network and answers it (SIPp)" 0 "$?"
expect_match "alice's BYE says why" '^Reason: SIP;cause=503' "$(sed -n '/^BYE /,/^\r\?$/p' "$WORKDIR/aasr.msg" | tr -d '\r')"
wait_for 10 rec_at_least pcrf1 ASA 1 || fail "the pcscf answers the ASR"
expect_eq "the ASA says DIAMETER_SUCCESS" 2001 "$(rec pcrf1 'select(.cmd == "ASA") | .avps["Result-Code"]' | head -1)"
wait_for 10 sessions_are 0 || fail "no policy session left after the ASR"
expect_eq "GET /api/v1/policy/sessions after the ASR: none" 0 "$(sessions)"
expect_match "cscf_policy_notifications_total{kind=asr} counts it" ' 1$' "$(metric 'cscf_policy_notifications_total\{program="pcscf",kind="asr"\}')"
wait_for 10 rec_at_least pcrf1 STR 4 || fail "STRs follow the ASR"

echo "-- alice's registration ends during a call: her session goes (STR); an ASR then ends bob's"
callee bdereg policy_uas_asr.xml "$PB" "$MB"
caller_bg adereg policy_uac_asr.xml "$PA" "$MA" "alice;sip:bob@$DOMAIN;$DOMAIN"
wait_for 15 granted_both || fail "the call's two sessions are granted"
strs=$(rec_count pcrf1 STR)
expect_eq "the scscf deregisters alice (REST DELETE): 200" 200 \
  "$(http_code "http://127.0.0.1:$SC_API/api/v1/registrations/sip:alice@$DOMAIN" -X DELETE -H "Authorization: Bearer $TOKEN")"
wait_for 10 sessions_are 1 || fail "alice's policy session goes with her binding (reg event NOTIFY)"
expect_eq "... the one left is bob's (terminating)" "terminating sip:bob@$DOMAIN" \
  "$(jq -r '[.sessions[] | .side + " " + .impu] | join(",")' <<<"$(http_body "http://127.0.0.1:$PC_API/api/v1/policy/sessions")")"
wait_for 10 rec_at_least pcrf1 STR $((strs + 1)) || fail "an STR ends alice's Rx session"
kill -USR1 "${PIDS[pcrf1]}"
wait "$CALLEE_PID"
expect_eq "the ASR for bob's session: bob gets a BYE from the network (SIPp)" 0 "$?"
wait "$CALLER_PID"
expect_eq "... and alice too, along the route set through the scscf" 0 "$?"
wait_for 10 sessions_are 0 || fail "no policy session left"
register rega alice "$A_K" "$A_OP" "$PA" 1
expect_eq "alice registers again" 0 "$?"
stop_prog pcrf1

echo "-- the PCRF refuses (5012): fail-open lets the call through and counts it"
start_pcrf pcrf2 -c 5012
opens=$(rx_open_count pcscf1)
wait_for 20 rx_reopened pcscf1 "$opens" ||
  fail "the pcscf reconnects to the PCRF"
callee bopen call_uas.xml "$PB" "$MB" -d 100
caller aopen call_uac.xml "$PA" "$MA" "alice;sip:bob@$DOMAIN;$DOMAIN"
expect_eq "fail-open: the call completes although the PCRF refused" 0 "$?"
wait "$CALLEE_PID"
expect_eq "... the callee's side too" 0 "$?"
expect_match "cscf_policy_failopen_total counts it" 'cscf_policy_failopen_total\{program="pcscf"\} [1-9]' \
  "$(metric cscf_policy_failopen_total)"
expect_match "cscf_policy_requests_total counts the refusals" 'result="refused"\} [1-9]' \
  "$(metric 'cscf_policy_requests_total.*result="refused"')"
stop_clean pcscf1

echo "-- fail-closed: the caller's INVITE is refused with 580"
start_pcscf pcscf2 PCSCF_POLICY_ON_FAILURE=closed || { finish; exit 1; }
wait_for 15 rx_open pcscf2 || fail "the pcscf's Rx peer opens (fail-closed)"
register_both "fail-closed"
caller aclosed policy_uac_refused.xml "$PA" "$MA" "alice;sip:bob@$DOMAIN;$DOMAIN"
expect_eq "fail-closed: alice's INVITE gets 580 Precondition Failure (SIPp)" 0 "$?"
expect_match "... the 580 names the reason" '^SIP/2.0 580 Precondition Failure' "$(tr -d '\r' <"$WORKDIR/aclosed.msg")"
expect_eq "... nothing left in the REST view" 0 "$(sessions)"
stop_prog pcrf2

echo "-- fail-closed, the PCRF silent: refused once policy.timeout_ms passed"
start_pcrf pcrf3 -s
opens=$(rx_open_count pcscf2)
wait_for 20 rx_reopened pcscf2 "$opens" ||
  fail "the pcscf reconnects to the silent PCRF"
caller asilent policy_uac_refused.xml "$PA" "$MA" "alice;sip:bob@$DOMAIN;$DOMAIN"
expect_eq "no AAA within policy.timeout_ms: 580 too" 0 "$?"
expect_match "cscf_policy_requests_total counts the timeout" 'result="timeout"\} [1-9]' \
  "$(metric 'cscf_policy_requests_total.*result="timeout"')"
stop_clean pcscf2
stop_prog pcrf3

if [ -n "${PIDS[tshark]:-}" ]; then
  echo "-- tshark reads the Rx messages"
  stop_prog tshark INT
  dec=$(tshark -r "$CAP" -d "tcp.port==$RX_PCRF,diameter" -Y diameter -T fields -e diameter.cmd.code \
    -e diameter.flags.request -e diameter.applicationId 2>/dev/null | sort | uniq -c)
  expect_match "tshark decodes AAR (265) of application 16777236" ' 265[[:space:]]+(1|True)[[:space:]]+16777236' "$dec"
  expect_match "... STR (275)" ' 275[[:space:]]+(1|True)[[:space:]]+16777236' "$dec"
  expect_match "... ASR (274)" ' 274[[:space:]]+(1|True)[[:space:]]+16777236' "$dec"
  expect_eq "... no malformed packet" "" \
    "$(tshark -r "$CAP" -d "tcp.port==$RX_PCRF,diameter" -Y '_ws.malformed || _ws.expert.severity == error' 2>/dev/null | head -3)"
fi

stop_clean scscf hss
finish
