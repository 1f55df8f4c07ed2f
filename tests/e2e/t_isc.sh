#!/usr/bin/env bash
# Application servers over ISC (TS 24.229 5.4.3.2/5.4.3.3, TS 29.228 iFCs, RFC 5502): the
# subscribers' iFCs are provisioned over the HSS REST API, then SIPp handsets register through
# the pcscf and send requests the iFCs match. A SIPp AS answers SMS (the IP-SM-GW); a fwdproxy
# plays a terminating AS that proxies the request back on the scscf's odi Route; a port where
# nothing listens plays a failed AS, for both default handlings.
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
SCEN="$E2E_DIR/scenarios"
DOMAIN=ims.mnc001.mcc001.3gppnetwork.org
field() { jq -r "$1 // empty" <<<"$2"; }

TOKEN=s3cret
start_hss hss HSS_API_TOKEN=$TOKEN || { finish; exit 1; }
SC_SIP=$(free_port) SC_API=$(free_port) PC_SIP=$(free_port) PC_API=$(free_port)
AS_SMS=$(free_port) AS_FWD=$(free_port) AS_DEAD=$(free_port) AS_REG=$(free_port)
mapfile -t diam < <(scscf_diameter_env)
start_prog scscf "$BUILD/scscf" "$REPO_DIR/config/scscf.yaml" SCSCF_SIP_LISTEN="127.0.0.1:$SC_SIP" \
  SCSCF_API_LISTEN="127.0.0.1:$SC_API" SCSCF_API_TOKEN=$TOKEN SCSCF_CHARGING_IOI=scscf-net.example \
  "${diam[@]}" || { finish; exit 1; }
start_prog pcscf "$BUILD/pcscf" "$REPO_DIR/config/pcscf.yaml" PCSCF_SIP_LISTEN="127.0.0.1:$PC_SIP" \
  PCSCF_API_LISTEN="127.0.0.1:$PC_API" PCSCF_PCSCF_REGISTRAR="sip:127.0.0.1:$SC_SIP;transport=tcp;lr" ||
  { finish; exit 1; }
# The terminating AS: it proxies what it gets along the Route the scscf gave it.
start_prog asfwd "$BUILD/fwdproxy" "$E2E_DIR/fwdproxy/fwdproxy.yaml" \
  FWD_SIP_LISTEN="127.0.0.1:$AS_FWD" FWD_API_LISTEN="127.0.0.1:$(free_port)" \
  FWD_FWD_NEXT_HOP="sip:127.0.0.1:$(free_port)" || { finish; exit 1; }
wait_http "127.0.0.1:$SC_API" /readyz 200 10 || fail "scscf ready"

# provision IMPI IMPUS_JSON K_HEX IFC_JSON: the subscriber over the HSS REST API.
provision() {
  local body
  body='{"impus":'$2',"k":"'$3'","op":"706f6e6d6c6b6a696867666564636261","amf":"0000","auth_schemes":["AKAv1-MD5"],"ifc":'$4'}'
  curl -s -m 10 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -X PUT \
    "http://127.0.0.1:$HSS_API/api/v1/subscribers/$1" -d "$body"
}
ALICE_IFC='[
 {"priority":10,"condition":"cnf","as":"sip:127.0.0.1:'$AS_SMS'",
  "triggers":[{"group":0,"method":"MESSAGE"},
              {"group":1,"header":"Content-Type","content":"application/vnd\\.3gpp\\.sms"},
              {"group":2,"session_case":"originating"}]},
 {"priority":20,"condition":"cnf","as":"sip:127.0.0.1:'$AS_DEAD'","default_handling":"session_continued",
  "triggers":[{"group":0,"method":"INVITE"},{"group":1,"session_case":"originating"}]},
 {"priority":30,"condition":"cnf","as":"sip:127.0.0.1:'$AS_DEAD'","default_handling":"session_terminated",
  "triggers":[{"group":0,"method":"MESSAGE"},{"group":1,"request_uri":"^sip:deadend@"},
              {"group":2,"session_case":"originating"}]}]'
BOB_IFC='[
 {"priority":5,"condition":"cnf","as":"sip:127.0.0.1:'$AS_REG'","service_info":"bob <vip>",
  "include_register_request":true,"include_register_response":true,
  "triggers":[{"group":0,"method":"REGISTER"}]},
 {"priority":10,"condition":"cnf","as":"sip:127.0.0.1:'$AS_FWD'",
  "triggers":[{"group":0,"method":"INVITE"},{"group":1,"session_case":"terminating_registered"}]}]'
expect_eq "alice's iFCs are provisioned over REST" 200 \
  "$(provision "alice@$DOMAIN" '["sip:alice@'$DOMAIN'","tel:+15550001"]' 6162636465666768696a6b6c6d6e6f70 "$ALICE_IFC")"
expect_eq "bob's iFCs are provisioned over REST" 200 \
  "$(provision "bob@$DOMAIN" '["sip:bob@'$DOMAIN'","tel:+15550002"]' 626f62626f62626f62626f62626f6231 "$BOB_IFC")"
# carol never registers: her messages go to a store-and-forward AS (unregistered service).
CAROL_IFC='[
 {"priority":10,"condition":"cnf","as":"sip:127.0.0.1:'$AS_SMS'",
  "triggers":[{"group":0,"method":"MESSAGE"},{"group":1,"session_case":"terminating_unregistered"}]}]'
expect_match "carol is provisioned over REST, with an unregistered-service iFC" '^20[01]$' \
  "$(provision "carol@$DOMAIN" '["sip:carol@'$DOMAIN'"]' 6361726f6c6361726f6c6361726f6c31 "$CAROL_IFC")"

register() { # NAME USER K PORT INSTANCE
  printf 'SEQUENTIAL\n%s;%s@%s;%s;[authentication username=%s@%s aka_K=%s aka_OP=ponmlkjihgfedcba];600;%s\n' \
    "$2" "$2" "$DOMAIN" "$DOMAIN" "$2" "$DOMAIN" "$3" "$5" >"$WORKDIR/$1.csv"
  timeout 20 sipp -sf "$SCEN/register_aka.xml" -inf "$WORKDIR/$1.csv" -i 127.0.0.1 -p "$4" \
    -t u1 -m 1 -timeout 15s -timeout_error -auth_uri "$DOMAIN" "127.0.0.1:$PC_SIP" >/dev/null 2>&1
}
uas() { # NAME SCENARIO PORT [SIPp args]: one SIPp peer in the background
  local name=$1 scen=$2 port=$3
  shift 3
  timeout 30 sipp -sf "$SCEN/$scen" -i 127.0.0.1 -p "$port" -t u1 -m 1 -timeout 25s \
    -timeout_error -trace_msg -message_file "$WORKDIR/$name.msg" "$@" >/dev/null 2>&1 &
  UAS_PID=$!
  wait_for 10 port_bound udp "$port" || fail "$name: the peer (SIPp) listens on $port"
}
caller() { # NAME SCENARIO PORT FIELDS
  printf 'SEQUENTIAL\n%s\n' "$4" >"$WORKDIR/$1.csv"
  timeout 30 sipp -sf "$SCEN/$2" -inf "$WORKDIR/$1.csv" -i 127.0.0.1 -p "$3" -t u1 -m 1 \
    -timeout 20s -timeout_error -trace_msg -message_file "$WORKDIR/$1.msg" \
    "127.0.0.1:$PC_SIP" >/dev/null 2>&1
}
first_request() { # NAME METHOD: the first such request received, headers only
  sed -n "/^$2 /,/^\r\?\$/p" "$WORKDIR/$1.msg" | tr -d '\r' | sed '/^$/q'
}
isc_metric() { # OUTCOME
  http_body "http://127.0.0.1:$SC_API/metrics" |
    awk -v o="$1" '$1 == "cscf_isc_requests_total{program=\"scscf\",outcome=\""o"\"}" {print $2}'
}
PA=$(free_port) PB=$(free_port)

echo "-- alice and bob register through the pcscf (the SAR brings their iFCs)"
register rega alice abcdefghijklmnop "$PA" 1
expect_eq "alice registers" 0 "$?"
uas asreg as_register_uas.xml "$AS_REG"
register regb bob bobbobbobbobbob1 "$PB" 2
expect_eq "bob registers" 0 "$?"
wait "$UAS_PID"
expect_eq "bob's REGISTER iFC: his AS gets a third-party REGISTER and answers 200" 0 "$?"
tpr=$(tr -d '\r' <"$WORKDIR/asreg.msg")
expect_match "... to the AS's URI" "^REGISTER sip:127.0.0.1:$AS_REG SIP/2.0" "$tpr"
expect_match "... From and Contact the scscf, To bob" "^To: <sip:bob@$DOMAIN>" "$tpr"
expect_match "... From the scscf" "^From: <sip:127.0.0.1:$SC_SIP>;tag=" "$tpr"
expect_match "... with the Expires the 200 granted" '^Expires: 600$' "$tpr"
expect_match "... the body: the UE's REGISTER, our 200 and the ServiceInfo (multipart)" \
  '^Content-Type: multipart/mixed;boundary=' "$tpr"
expect_match "... the UE's REGISTER (message/sip)" "^REGISTER sip:$DOMAIN SIP/2.0" "$tpr"
expect_match "... our 200 with the Service-Route" "^Service-Route: <sip:orig@127.0.0.1:$SC_SIP;lr;transport=tcp>" "$tpr"
expect_match "... and the ServiceInfo, escaped" '<service-info>bob &lt;vip&gt;</service-info>' "$tpr"

echo "-- alice's SMS over IMS goes to the IP-SM-GW her originating iFC names"
expect_eq "alice traced at the scscf (to see the 200 it relays)" 200 \
  "$(http_code "http://127.0.0.1:$SC_API/api/v1/trace" -X POST -H "Authorization: Bearer $TOKEN" -d '{"impu":"sip:alice@'$DOMAIN'","seconds":120}')"
uas ipsmgw message_uas_ioi.xml "$AS_SMS"
caller asms message_uac.xml "$PA" "alice;sip:bob@$DOMAIN;$DOMAIN;application/vnd.3gpp.sms;RP-DATA"
expect_eq "alice's SMS MESSAGE gets the AS's 200" 0 "$?"
wait "$UAS_PID"
expect_eq "the IP-SM-GW (SIPp) received it" 0 "$?"
sms=$(first_request ipsmgw MESSAGE)
expect_match "... addressed to bob still (the AS decides where it goes)" "^MESSAGE sip:bob@$DOMAIN SIP/2.0" "$sms"
expect_match "... with P-Served-User: alice, originating, registered (RFC 5502)" \
  "^P-Served-User: <sip:alice@$DOMAIN>;sescase=orig;regstate=reg\$" "$sms"
expect_match "... and a Route back to the scscf with an odi token" \
  "^Route: <sip:odi\\.[0-9a-f]{16}@127\\.0\\.0\\.1:$SC_SIP;lr>\$" "$sms"
expect_match "... and alice's asserted identity" "^P-Asserted-Identity: <sip:alice@$DOMAIN>\$" "$sms"
expect_match "... its P-Charging-Vector: the session's icid, the scscf's type 3 orig-ioi, no term-ioi" \
  '^P-Charging-Vector: icid-value=[0-9a-f]{32};icid-generated-at=127\.0\.0\.1;orig-ioi=scscf-net\.example$' "$sms"
# the scscf's trace of the first 200 to a MESSAGE it relayed back (alice's SMS), headers only
relayed=$(tr -d '\r' <"$WORKDIR/scscf.log" | awk '/trace sip:alice@[^ ]*: sent$/{p=1; b=""; next}
  p && /^$/{p=0; if (!done && b ~ /^SIP\/2\.0 200/ && b ~ /CSeq: [0-9]+ MESSAGE/) {printf "%s", b; done=1}}
  p{b=b $0 "\n"}')
expect_match "the AS's 200 is relayed with the session's icid" '^P-Charging-Vector: icid-value=[0-9a-f]{32}' "$relayed"
expect_no_match "... without the AS's type 3 term-ioi" 'as-net\.example' "$relayed"

echo "-- a plain text MESSAGE is not for the IP-SM-GW: it reaches bob"
uas btxt message_uas.xml "$PB"
caller atxt message_uac.xml "$PA" "alice;sip:bob@$DOMAIN;$DOMAIN;text/plain;hi"
expect_eq "alice's text MESSAGE gets 200" 0 "$?"
wait "$UAS_PID"
expect_eq "bob receives it" 0 "$?"
expect_no_match "... with no P-Served-User (that is for application servers)" '^P-Served-User' \
  "$(first_request btxt MESSAGE)"

echo "-- alice calls bob: her originating AS is down (SESSION_CONTINUED), bob's terminating AS proxies"
uas bcall call_uas.xml "$PB" -d 100
caller acall call_uac.xml "$PA" "alice;sip:bob@$DOMAIN;$DOMAIN"
expect_eq "the call completes: INVITE/180/200/ACK/BYE/200" 0 "$?"
wait "$UAS_PID"
expect_eq "bob's side completes, the BYE included" 0 "$?"
inv=$(first_request bcall INVITE)
expect_match "bob's INVITE came through the terminating AS (its Via)" "^Via: SIP/2.0/UDP 127.0.0.1:$AS_FWD;" "$inv"
expect_eq "six Vias: alice, pcscf, scscf, AS, scscf, pcscf" 6 "$(grep -c '^Via:' <<<"$inv")"
expect_match "the AS is in the route set, between the scscf and bob's pcscf" \
  "<sip:127.0.0.1:$PC_SIP;lr>, ?<sip:127.0.0.1:$AS_FWD;lr>, ?<sip:127.0.0.1:$SC_SIP;transport=tcp;lr>, ?<sip:127.0.0.1:$PC_SIP;transport=tcp;lr>" \
  "$(grep '^Record-Route' <<<"$inv" | paste -sd, - | sed 's/, *Record-Route: */, /g')"
expect_no_match "no P-Served-User reaches bob" '^P-Served-User' "$inv"
expect_match "the BYE reached bob too (through the AS's Record-Route)" '^BYE sip:' "$(cat "$WORKDIR/bcall.msg")"
sc_metrics=$(http_body "http://127.0.0.1:$SC_API/metrics")
expect_match "the scscf counts one call attempt though it saw the INVITE twice (the AS)" \
  '^cscf_calls_attempted_total\{program="scscf"\} 1$' "$sc_metrics"
expect_match "... and one dialog, ended by the BYE" '^cscf_dialogs_active\{program="scscf"\} 0$' "$sc_metrics"
expect_eq "the scscf counts the failed AS it went past" 1 "$(isc_metric continued)"
expect_eq "... and three requests sent to an AS (SMS, dead, bob's)" 3 "$(isc_metric to_as)"

echo "-- an AS that fails with SESSION_TERMINATED ends the request"
caller adead message_uac.xml "$PA" "alice;sip:deadend@$DOMAIN;$DOMAIN;text/plain;x"
expect_match "alice's MESSAGE to sip:deadend gets 500 (not the 480 of an unknown user)" '^SIP/2.0 500' \
  "$(cat "$WORKDIR/adead.msg")"
expect_eq "the scscf counts it" 1 "$(isc_metric terminated)"

echo "-- carol is registered nowhere: SAR UNREGISTERED_USER brings her profile"
uas store message_uas.xml "$AS_SMS"
caller acarol message_uac.xml "$PA" "alice;sip:carol@$DOMAIN;$DOMAIN;text/plain;for later"
expect_eq "alice's MESSAGE to carol gets the store AS's 200" 0 "$?"
wait "$UAS_PID"
expect_eq "the AS received it" 0 "$?"
expect_match "... with P-Served-User: carol, terminating, unregistered" \
  "^P-Served-User: <sip:carol@$DOMAIN>;sescase=term;regstate=unreg\$" "$(first_request store MESSAGE)"
caller acarolinv call_uac.xml "$PA" "alice;sip:carol@$DOMAIN;$DOMAIN"
expect_match "a call to carol matches no iFC: 480" '^SIP/2.0 480' "$(cat "$WORKDIR/acarolinv.msg")"
hss_state=$(http_body "http://127.0.0.1:$HSS_API/api/v1/subscribers/carol@$DOMAIN" -H "Authorization: Bearer $TOKEN")
expect_eq "the HSS has carol assigned to the scscf, unregistered" "unregistered sip:127.0.0.1:$SC_SIP" \
  "$(jq -r '(.subscriber // .) | "\(.state.registration) \(.state.scscf)"' <<<"$hss_state")"
expect_eq "one SAR for both requests (the profile is kept)" 1 \
  "$(http_body "http://127.0.0.1:$SC_API/metrics" | awk '$1 == "cscf_unregistered_profiles_total{program=\"scscf\",outcome=\"success\"}" {print $2}')"
caller anobody message_uac.xml "$PA" "alice;sip:nobody@$DOMAIN;$DOMAIN;text/plain;x"
expect_match "a MESSAGE to an IMPU the HSS does not know: 404" '^SIP/2.0 404' "$(cat "$WORKDIR/anobody.msg")"

echo "-- an odi token the scscf never gave"
f="$WORKDIR/odi.sip"
printf 'MESSAGE sip:bob@%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKodi%s\r\nRoute: <sip:odi.0123456789abcdef@127.0.0.1:%s;lr>\r\nMax-Forwards: 70\r\nFrom: <sip:alice@%s>;tag=1\r\nTo: <sip:bob@%s>\r\nCall-ID: odi%s@t\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n' \
  "$DOMAIN" "$RANDOM" "$SC_SIP" "$DOMAIN" "$DOMAIN" "$RANDOM" >"$f"
expect_eq "gets 403" "SIP/2.0 403 Forbidden" "$(sipsend -u 127.0.0.1 "$SC_SIP" "$f" 3000 | tr -d '\r')"
expect_eq "... counted as unknown_odi" 1 "$(isc_metric unknown_odi)"

echo "-- a REGISTER iFC whose AS fails with SESSION_TERMINATED deregisters the user"
ALICE_IFC2="${ALICE_IFC%]}"',
 {"priority":40,"condition":"cnf","as":"sip:127.0.0.1:'$AS_DEAD'","default_handling":"session_terminated",
  "triggers":[{"group":0,"method":"REGISTER"}]}]'
expect_eq "alice gets a REGISTER iFC (a PPR pushes it)" 200 \
  "$(provision "alice@$DOMAIN" '["sip:alice@'$DOMAIN'","tel:+15550001"]' 6162636465666768696a6b6c6d6e6f70 "$ALICE_IFC2")"
register rega2 alice abcdefghijklmnop "$PA" 1
expect_eq "alice re-registers (200)" 0 "$?"
alice_gone() { [ "$(http_code "http://127.0.0.1:$SC_API/api/v1/registrations/sip:alice@$DOMAIN")" = 404 ]; }
if wait_for 10 alice_gone; then
  pass "... then the failed third-party REGISTER deregisters her"
else
  fail "... then the failed third-party REGISTER deregisters her" "still registered after 10 s"
fi
expect_match "... counted" '^cscf_third_party_registers_total\{program="scscf",outcome="deregistered"\} 1$' \
  "$(http_body "http://127.0.0.1:$SC_API/metrics")"

stop_clean asfwd pcscf scscf hss
finish
