#!/usr/bin/env bash
# Calls and MESSAGE between registered handsets (ARCHITECTURE.md section 5, TS 24.229 5.2.6/5.2.7 and
# 5.4.3): SIPp handsets register with AKA through the pcscf, then call each other through
# pcscf -> scscf -> pcscf. Asserts on what each side receives: P-Asserted-Identity, Record-Route,
# the Path the request took, forking, CANCEL, and the refusals (unregistered source or user).
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
SCEN="$E2E_DIR/scenarios"
DOMAIN=ims.mnc001.mcc001.3gppnetwork.org
field() { jq -r "$1 // empty" <<<"$2"; }

TOKEN=s3cret
start_hss hss HSS_API_TOKEN=$TOKEN || { finish; exit 1; }
SC_SIP=$(free_port) SC_API=$(free_port) PC_SIP=$(free_port) PC_API=$(free_port)
mapfile -t diam < <(scscf_diameter_env)
start_prog scscf "$BUILD/scscf" "$REPO_DIR/config/scscf.yaml" SCSCF_SIP_LISTEN="127.0.0.1:$SC_SIP" SCSCF_LOG_FORMAT=json SCSCF_LOG_LEVEL=debug \
  SCSCF_API_LISTEN="127.0.0.1:$SC_API" "${diam[@]}" || { finish; exit 1; }
start_prog pcscf "$BUILD/pcscf" "$REPO_DIR/config/pcscf.yaml" PCSCF_SIP_LISTEN="127.0.0.1:$PC_SIP" \
  PCSCF_API_LISTEN="127.0.0.1:$PC_API" PCSCF_API_TOKEN=$TOKEN PCSCF_LOG_LEVEL=debug PCSCF_PCSCF_REGISTRAR="sip:127.0.0.1:$SC_SIP;transport=tcp;lr" ||
  { finish; exit 1; }
wait_http "127.0.0.1:$SC_API" /readyz 200 10 || fail "scscf ready"

# register NAME USER K OP PORT INSTANCE: AKA registration through the pcscf from PORT.
register() {
  printf 'SEQUENTIAL\n%s;%s@%s;%s;[authentication username=%s@%s aka_K=%s aka_OP=%s];600;%s\n' \
    "$2" "$2" "$DOMAIN" "$DOMAIN" "$2" "$DOMAIN" "$3" "$4" "$6" >"$WORKDIR/$1.csv"
  timeout 20 sipp -sf "$SCEN/register_aka.xml" -inf "$WORKDIR/$1.csv" -i 127.0.0.1 -p "$5" \
    -t u1 -m 1 -timeout 15s -timeout_error -auth_uri "$DOMAIN" -trace_msg \
    -message_file "$WORKDIR/$1.msg" "127.0.0.1:$PC_SIP" >/dev/null 2>&1
}
# callee NAME SCENARIO PORT [SIPp args]: a handset waiting for one call, in the background.
callee() {
  local name=$1 scen=$2 port=$3
  shift 3
  timeout 30 sipp -sf "$SCEN/$scen" -i 127.0.0.1 -p "$port" -t u1 -m 1 -timeout 25s \
    -timeout_error -trace_msg -message_file "$WORKDIR/$name.msg" "$@" >/dev/null 2>&1 &
  CALLEE_PID=$!
  wait_for 10 port_bound udp "$port" || fail "$name: the handset (SIPp) listens on $port"
}
# caller NAME SCENARIO PORT FIELDS: one request from PORT to the pcscf; SIPp's verdict in $?.
caller() {
  printf 'SEQUENTIAL\n%s\n' "$4" >"$WORKDIR/$1.csv"
  timeout 30 sipp -sf "$SCEN/$2" -inf "$WORKDIR/$1.csv" -i 127.0.0.1 -p "$3" -t u1 -m 1 \
    -timeout 20s -timeout_error -trace_msg -message_file "$WORKDIR/$1.msg" \
    "127.0.0.1:$PC_SIP" >/dev/null 2>&1
}
first_request() { # NAME METHOD: the first such request a handset received, headers only
  sed -n "/^$2 /,/^\$/p" "$WORKDIR/$1.msg" | tr -d '\r' | awk 'NR==1 || !/^(INVITE|MESSAGE) /' |
    sed '/^$/q'
}
A_K=abcdefghijklmnop A_OP=ponmlkjihgfedcba B_K=bobbobbobbobbob1
PA=$(free_port) PB=$(free_port) PB2=$(free_port) PX=$(free_port)

echo "-- two handsets register through the pcscf"
register rega alice "$A_K" "$A_OP" "$PA" 1
expect_eq "alice registers (AKA)" 0 "$?"
register regb bob "$B_K" "$A_OP" "$PB" 2
expect_eq "bob registers (AKA)" 0 "$?"
regs=$(http_body "http://127.0.0.1:$PC_API/api/v1/registrations")
expect_eq "the pcscf holds both flows" 2 "$(field .total "$regs")"

echo "-- alice calls bob"
callee bcall call_uas.xml "$PB" -d 100
caller acall call_uac.xml "$PA" "alice;sip:bob@$DOMAIN;$DOMAIN"
expect_eq "the call completes: INVITE/180/200/ACK/BYE/200" 0 "$?"
wait "$CALLEE_PID"
expect_eq "bob's side completes: INVITE, 180, 200, ACK, BYE, 200" 0 "$?"
inv=$(first_request bcall INVITE)
expect_match "bob gets the INVITE at his registered contact" "^INVITE sip:bob@127.0.0.1:$PB;transport=UDP SIP/2.0" "$inv"
expect_match "P-Asserted-Identity is alice's IMPU (asserted by the pcscf)" "^P-Asserted-Identity: <sip:alice@$DOMAIN>\$" "$inv"
expect_no_match "... and the identity alice made up is gone" 'mallory' "$inv"
# The core leg is TCP (pcscf.registrar): the entries the CSCFs show each other name it, so the
# dialog's requests cross it over TCP too; the one bob's handset sees is the plain one (UDP).
expect_match "Record-Route holds the pcscf (both sides) and the scscf, TCP between them" \
  "^Record-Route: <sip:127.0.0.1:$PC_SIP;lr>, ?<sip:127.0.0.1:$SC_SIP;transport=tcp;lr>, ?<sip:127.0.0.1:$PC_SIP;transport=tcp;lr>\$" \
  "$(grep '^Record-Route' <<<"$inv" | paste -sd, - | sed 's/, *Record-Route: */, /g')"
vias=$(grep -c '^Via:' <<<"$inv")
expect_eq "four Vias: alice, pcscf, scscf, pcscf (it came through bob's Path)" 4 "$vias"
expect_no_match "no P-Charging-Vector towards the handset" '^P-Charging-Vector' "$inv"
expect_match "pcscf -> scscf over TCP (the Service-Route asks for it, as pcscf.registrar does)" \
  "^Via: SIP/2.0/TCP 127.0.0.1:$PC_SIP;" "$inv"
expect_match "scscf -> pcscf over TCP (the pcscf's Path asks for it)" "^Via: SIP/2.0/TCP 127.0.0.1:$SC_SIP;" "$inv"
expect_match "alice gets the 180" '^SIP/2.0 180' "$(cat "$WORKDIR/acall.msg")"
bye=$(first_request bcall BYE)
expect_match "the BYE reaches bob along the route set" "^BYE sip:callee@127.0.0.1:$PB" "$bye"
sc_metrics=$(http_body "http://127.0.0.1:$SC_API/metrics")
expect_match "scscf counts the answered call" '^cscf_calls_answered_total\{program="scscf"\} 1$' "$sc_metrics"
pc_metrics=$(http_body "http://127.0.0.1:$PC_API/metrics")
expect_match "the pcscf serves both ends but counts the call once" '^cscf_calls_attempted_total\{program="pcscf"\} 1$' "$pc_metrics"
expect_match "... and its answer once" '^cscf_calls_answered_total\{program="pcscf"\} 1$' "$pc_metrics"
expect_match "INVITE transaction time is in the histogram" \
  '^cscf_sip_transaction_duration_seconds_count\{program="scscf",method="INVITE"\} [1-9]' "$sc_metrics"
expect_match "the process CPU time is counted" '^process_cpu_seconds_total\{program="pcscf"\} [0-9.e+-]+$' "$pc_metrics"
expect_match "... and no dialog is left after the BYE" '^cscf_dialogs_active\{program="scscf"\} 0$' "$sc_metrics"
expect_eq "GET /api/v1/dialogs on the scscf: none active" 0 \
  "$(field .active "$(http_body "http://127.0.0.1:$SC_API/api/v1/dialogs")")"

echo "-- in-dialog requests: re-INVITE, INFO, OPTIONS, REFER, MESSAGE"
callee bdlg call_uas_indialog.xml "$PB" -d 50
caller adlg call_uac_indialog.xml "$PA" "alice;sip:bob@$DOMAIN;$DOMAIN"
expect_eq "alice: the call, re-INVITE/200/ACK, INFO, OPTIONS, REFER (202), MESSAGE, BYE" 0 "$?"
wait "$CALLEE_PID"
expect_eq "bob receives and answers each of them" 0 "$?"
for m in INFO OPTIONS REFER MESSAGE; do
  expect_match "bob's $m came along the route set (three proxy Vias)" '^Via: .*Via: .*Via: .*Via: ' \
    "$(tr -d '\r' <"$WORKDIR/bdlg.msg" | awk -v m="$m" '$0 ~ "^"m" sip:"{r=1} r && /^Via:/{printf "%s ", $0} /^$/{if (r) exit}')"
done

echo "-- SUBSCRIBE/NOTIFY between handsets (Event: presence) and PUBLISH"
callee bsub subscribe_uas.xml "$PB"
caller asub subscribe_uac.xml "$PA" "alice;sip:bob@$DOMAIN;$DOMAIN"
expect_eq "alice: SUBSCRIBE/200, NOTIFY/200, unsubscribe/200, NOTIFY terminated/200" 0 "$?"
wait "$CALLEE_PID"
expect_eq "bob: the same from his side, his NOTIFYs along the Record-Route set" 0 "$?"
expect_match "alice's NOTIFY came back through the proxies (three Vias)" '^Via: .*Via: .*Via: .*Via: ' \
  "$(tr -d '\r' <"$WORKDIR/asub.msg" | awk '/^NOTIFY sip:/{r=1} r && /^Via:/{printf "%s ", $0} /^$/{if (r) exit}')"
callee bpub publish_uas.xml "$PB"
caller apub publish_uac.xml "$PA" "alice;sip:bob@$DOMAIN;$DOMAIN"
expect_eq "alice's PUBLISH gets 200 with a SIP-ETag" 0 "$?"
wait "$CALLEE_PID"
expect_match "... it reached bob with alice's asserted identity" "^P-Asserted-Identity: <sip:alice@$DOMAIN>" \
  "$(first_request bpub PUBLISH)"

echo "-- a 200 sent again after the ACK (the callee's ACK lost) still reaches the caller"
callee blate call_uas_late_2xx.xml "$PB" -d 50
caller alate call_uac_late_2xx.xml "$PA" "alice;sip:bob@$DOMAIN;$DOMAIN"
expect_eq "the call completes" 0 "$?"
wait "$CALLEE_PID"
expect_eq "bob's side completes" 0 "$?"
expect_eq "alice receives both 200s to her INVITE (the late one relayed by both proxies)" 2 \
  "$(tr -d '\r' <"$WORKDIR/alate.msg" | awk '/^SIP\/2.0 200/{r=1} r && /^CSeq: 1 INVITE/{n++; r=0} /^$/{r=0} END{print n+0}')"

echo "-- reliable 183, PRACK and UPDATE before the answer"
callee bprack call_uas_prack.xml "$PB"
caller aprack call_uac_prack.xml "$PA" "alice;sip:bob@$DOMAIN;$DOMAIN"
expect_eq "alice: INVITE, 183 (100rel), PRACK/200, UPDATE/200, 200, ACK, BYE/200" 0 "$?"
wait "$CALLEE_PID"
expect_eq "bob: the same from his side" 0 "$?"
expect_match "the PRACK reaches bob with its RAck" '^RAck: 1 1 INVITE' \
  "$(sed -n '/^PRACK /,/^\r\?$/p' "$WORKDIR/bprack.msg" | tr -d '\r')"
expect_match "the UPDATE reaches bob in the early dialog" '^UPDATE sip:callee@' "$(cat "$WORKDIR/bprack.msg")"

echo "-- refusals"
f="$WORKDIR/inv.sip"
printf 'INVITE sip:bob@%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%s;branch=z9hG4bK%s\r\nMax-Forwards: 70\r\nFrom: <sip:alice@%s>;tag=1\r\nTo: <sip:bob@%s>\r\nCall-ID: %s@t\r\nCSeq: 1 INVITE\r\nContact: <sip:x@127.0.0.1:%s>\r\nContent-Length: 0\r\n\r\n' \
  "$DOMAIN" "$PX" "$RANDOM$RANDOM" "$DOMAIN" "$DOMAIN" "$RANDOM" "$PX" >"$f"
expect_eq "an INVITE from a flow that is not registered: 403" "SIP/2.0 403 Not Registered" \
  "$(sipsend -u 127.0.0.1 "$PC_SIP" "$f" 3000 | tr -d '\r')"
sed -e 's/^Max-Forwards: 70/Max-Forwards: 0/' -e 's/branch=z9hG4bK/branch=z9hG4bKmf0/' -e 's/^Call-ID: /Call-ID: mf0/' "$f" >"$WORKDIR/mf0.sip"
expect_eq "Max-Forwards 0: 483" "SIP/2.0 483 Too Many Hops" \
  "$(sipsend -u 127.0.0.1 "$PC_SIP" "$WORKDIR/mf0.sip" 3000 | tr -d '\r')"
caller carol call_uac.xml "$PA" "alice;sip:carol@$DOMAIN;$DOMAIN"
expect_match "a call to an IMPU the HSS does not know: 404 (registered nowhere: 480, in t_isc)" '^SIP/2.0 404' "$(cat "$WORKDIR/carol.msg")"

echo "-- CANCEL before the answer"
callee bcancel call_uas_cancel.xml "$PB"
caller acancel call_uac_cancel.xml "$PA" "alice;sip:bob@$DOMAIN;$DOMAIN"
expect_eq "alice: INVITE, 180, CANCEL, 200, 487, ACK" 0 "$?"
wait "$CALLEE_PID"
expect_eq "bob: INVITE, 180, CANCEL, 200, 487, ACK" 0 "$?"
expect_match "bob got the CANCEL" '^CANCEL sip:bob@' "$(cat "$WORKDIR/bcancel.msg")"

echo "-- bob on two devices: both ring, one answers, the other is cancelled"
register regb2 bob "$B_K" "$A_OP" "$PB2" 3
expect_eq "bob's second device registers" 0 "$?"
callee bfork1 call_uas.xml "$PB" -d 1000
pid1=$CALLEE_PID
callee bfork2 call_uas_cancel.xml "$PB2"
pid2=$CALLEE_PID
caller afork call_uac.xml "$PA" "alice;sip:bob@$DOMAIN;$DOMAIN"
expect_eq "alice's call is answered" 0 "$?"
wait "$pid1"
expect_eq "device 1 rang and answered" 0 "$?"
wait "$pid2"
expect_eq "device 2 rang, got CANCEL, answered 487" 0 "$?"
expect_match "... the CANCEL says the call was completed elsewhere" '^Reason: SIP;cause=200' \
  "$(sed -n '/^CANCEL /,/^\r\?$/p' "$WORKDIR/bfork2.msg" | tr -d '\r')"

echo "-- MESSAGE alice -> bob, with bob traced at the pcscf"
trace_url="http://127.0.0.1:$PC_API/api/v1/trace"
expect_eq "POST /api/v1/trace without the token: 401" 401 \
  "$(http_code "$trace_url" -X POST -d '{"impu":"sip:bob@'$DOMAIN'"}')"
expect_eq "... bad body: 400" 400 \
  "$(http_code "$trace_url" -X POST -H "Authorization: Bearer $TOKEN" -d '{"impu":7}')"
expect_eq "... with it: 200" 200 \
  "$(http_code "$trace_url" -X POST -H "Authorization: Bearer $TOKEN" -d '{"impu":"<sip:bob@'$DOMAIN';user=phone>","seconds":60}')"
expect_eq "GET /api/v1/trace lists bob" "sip:bob@$DOMAIN" "$(field '.traces[0].impu' "$(http_body "$trace_url")")"
callee bmsg message_uas.xml "$PB"
pid1=$CALLEE_PID
callee bmsg2 message_uas.xml "$PB2"
caller amsg message_uac.xml "$PA" "alice;sip:bob@$DOMAIN;$DOMAIN;text/plain;hello bob"
expect_eq "alice's MESSAGE gets 200" 0 "$?"
pid2=$CALLEE_PID
wait "$pid1" "$pid2"
msg=$(cat "$WORKDIR/bmsg.msg" "$WORKDIR/bmsg2.msg" 2>/dev/null)
expect_match "bob's devices get the text" '^hello bob' "$msg"
expect_match "the pcscf logged the MESSAGE to bob in full (trace)" 'hello bob' \
  "$(grep -A30 "trace sip:bob@$DOMAIN: received" "$WORKDIR/pcscf.log")"
expect_eq "DELETE /api/v1/trace/{impu}: 200" 200 \
  "$(http_code "$trace_url/sip:bob@$DOMAIN" -X DELETE -H "Authorization: Bearer $TOKEN")"
expect_eq "... then nobody is traced" 0 "$(jq '.traces | length' <<<"$(http_body "$trace_url")")"

echo "-- MESSAGE alice -> bob's tel: URI (his implicit set)"
callee bteltxt message_uas.xml "$PB"
pid1=$CALLEE_PID
callee bteltxt2 message_uas.xml "$PB2"
pid2=$CALLEE_PID
caller ateltxt message_uac.xml "$PA" "alice;tel:+15550002;$DOMAIN;text/plain;hello tel"
expect_eq "a MESSAGE to tel:+15550002 gets 200" 0 "$?"
wait "$pid1" "$pid2"
expect_match "bob's devices get it at their contacts" '^MESSAGE sip:bob@127.0.0.1' \
  "$(cat "$WORKDIR/bteltxt.msg" "$WORKDIR/bteltxt2.msg" 2>/dev/null)"

echo "-- a profile pushed by the HSS (PPR) takes effect at once"
body='{"impus":["sip:alice@'$DOMAIN'","tel:+15550001","sip:alice.work@'$DOMAIN'"],"k":"6162636465666768696a6b6c6d6e6f70","op":"706f6e6d6c6b6a696867666564636261","amf":"0000","auth_schemes":["AKAv1-MD5","AKAv2-MD5","MD5"],"password":"alicepass"}'
out=$(curl -s -m 10 -H "Authorization: Bearer $TOKEN" -X PUT \
  "http://127.0.0.1:$HSS_API/api/v1/subscribers/alice@$DOMAIN" -d "$body")
expect_eq "the HSS's PPR is answered DIAMETER_SUCCESS" DIAMETER_SUCCESS "$(field .ppr.result "$out")"
reg=$(http_body "http://127.0.0.1:$SC_API/api/v1/registrations/sip:alice@$DOMAIN")
expect_match "the scscf's implicit set has the new IMPU" "sip:alice.work@$DOMAIN" "$(field '.impus[]' "$reg")"
callee bppr message_uas.xml "$PA"
caller appr message_uac.xml "$PB" "bob;sip:alice.work@$DOMAIN;$DOMAIN;text/plain;to the new IMPU"
expect_eq "a MESSAGE to the pushed IMPU reaches alice" 0 "$?"
wait "$CALLEE_PID"
expect_eq "... alice answers it" 0 "$?"

echo "-- alice subscribes to her reg event through the pcscf, then deregisters"
timeout 30 sipp -sf "$SCEN/regevent_ue.xml" -inf "$WORKDIR/rega.csv" -i 127.0.0.1 -p "$PA" -t u1 \
  -m 1 -timeout 20s -timeout_error -auth_uri "$DOMAIN" -trace_msg \
  -message_file "$WORKDIR/aev.msg" "127.0.0.1:$PC_SIP" >/dev/null 2>&1
expect_eq "SUBSCRIBE/200/NOTIFY/200, deregistration, NOTIFY/200 through the pcscf" 0 "$?"
notify1=$(awk '/^NOTIFY /{n++} n==1' "$WORKDIR/aev.msg" | tr -d '\r')
notify2=$(awk '/^NOTIFY /{n++} n==2' "$WORKDIR/aev.msg" | tr -d '\r')
expect_match "the first NOTIFY comes back through the pcscf (its Via)" "^Via: SIP/2.0/UDP 127.0.0.1:$PC_SIP" "$notify1"
expect_match "... with the full state: alice's contact active" "aor=\"sip:alice@$DOMAIN\" state=\"active\"" "$notify1"
expect_match "the last NOTIFY ends the subscription" '^Subscription-State: terminated' "$notify2"
regs=$(http_body "http://127.0.0.1:$PC_API/api/v1/registrations")
expect_eq "the pcscf dropped alice's flow" "" "$(field ".registrations[] | select(.flow == \"udp:127.0.0.1:$PA\") | .flow" "$regs")"

echo "-- structured logs: one handset's story (the scscf logs JSON lines at debug, the pcscf text)"
SLOG="$WORKDIR/scscf.log"
expect_eq "every scscf log line is a JSON object" "" "$(grep -v '^{' "$SLOG" | grep -v '^$' | head -3)"
expect_eq "... that jq reads" 0 "$(jq -e . "$SLOG" >/dev/null 2>&1; echo $?)"
alice_reg=$(jq -c "select(.impu == \"sip:alice@$DOMAIN\" and .impi == \"alice@$DOMAIN\" and (.msg | startswith(\"registrar: registered\")))" "$SLOG" | head -1)
expect_match "alice's registration is logged with her IMPU and IMPI" '"program":"scscf"' "$alice_reg"
expect_match "... and the REGISTER's Call-ID" '"call_id":"[^"]+"' "$alice_reg"
cid=$(grep -m1 -i '^Call-ID:' "$WORKDIR/bcall.msg" | tr -d '\r' | sed 's/^[^:]*: *//')
call=$(jq -c --arg c "$cid" 'select(.call_id == $c) | [.impu, .msg]' "$SLOG")
expect_match "the first call's originating step names alice" "^\[\"sip:alice@$DOMAIN\",\"scscf: INVITE originating\"\]" "$call"
expect_match "... its terminating step names bob" "^\[\"sip:bob@$DOMAIN\",\"scscf: INVITE to sip:bob@$DOMAIN, 1 contact\(s\)\"\]" "$call"
expect_match "... and so does bob's 200 relayed later (the context follows the transaction)" "^\[\"sip:bob@$DOMAIN\",\"fwd: response 200 for INVITE\"\]" "$call"
expect_match "the pcscf's text lines carry the same context" \
  "info: \[[^ ]+ impu=sip:alice@$DOMAIN impi=alice@$DOMAIN\] pcscf: udp:127.0.0.1:$PA registered" "$(cat "$WORKDIR/pcscf.log")"

stop_clean pcscf scscf hss
finish
