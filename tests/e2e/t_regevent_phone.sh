#!/usr/bin/env bash
# The reg event package as handsets read it (issue 19; RFC 6665, RFC 3680, TS 24.229 5.4.2.1.2).
# Phones de-register when a NOTIFY has the wrong From/To, says "active" on a network
# deregistration, or carries their old and new contact in one document. SIPp handsets check each
# NOTIFY themselves (the regevent_phone_*.xml scenarios: From = the SUBSCRIBE's To with the
# notifier's tag, To = the SUBSCRIBE's From with the handset's tag, compared whole with
# <strcmp check_it>) and this script checks versions and CSeqs across the runs:
#   alice subscribes; registers again from a new Contact URI with the same +sip.instance (two
#   NOTIFYs: the old contact terminated, then the new one active); the scscf restarts (journal
#   store) and her next NOTIFY keeps the dialog with a higher version; a REST deregistration ends
#   her subscription with terminated;reason=deactivated and her contact deactivated.
#   after the restart carol subscribes, shortens her registration to 5 s (a NOTIFY "shortened")
#   and it expires: terminated;reason=noresource, her contact expired.
#   bob registers through the pcscf: an HSS RTR (SERVER_CHANGE) at the scscf reaches the pcscf's
#   subscription (terminated;reason=deactivated), which drops bob's binding and ends.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/store_lib.sh"

BUILD=${1:-build}
TOKEN=s3cret
A_K=abcdefghijklmnop B_K=bobbobbobbobbob1 C_K=carolcarolcarol1
ALICE=alice@$DOMAIN BOB=bob@$DOMAIN CAROL=carol@$DOMAIN

# phone_csv NAME USER K EXPIRES INSTANCE HANDSET_TAG NOTIFIER_TAG CONTACT_USER REASON EVENT: the
# injection file of the regevent_phone_*.xml scenarios (fields 0-10, see regevent_phone_end.xml).
phone_csv() {
  printf 'SEQUENTIAL\n%s;%s@%s;%s;[authentication username=%s@%s aka_K=%s aka_OP=%s];%s;%s;%s;%s;%s;%s;%s\n' \
    "$2" "$2" "$DOMAIN" "$DOMAIN" "$2" "$DOMAIN" "$3" "$OP_RAW" "$4" "$5" "$6" "$7" "$8" "$9" "${10}" \
    >"$WORKDIR/$1.csv"
}
# sipp_ok DESC LOG: passes when the last SIPp run exited 0, else fails with its first error line
# (a <strcmp>/<ereg> check that failed names itself there).
sipp_ok() {
  local rc=$? why
  if [ "$rc" -eq 0 ]; then
    pass "$1"
  else
    why=$(grep -m2 -E 'strcmp|regexp|ereg|Aborting|timeout|unexpected' "$WORKDIR/$2.err" 2>/dev/null | paste -sd'|' | head -c 400)
    fail "$1" "SIPp exit $rc: ${why:-see $WORKDIR/$2.err}"
  fi
}
# header line value and reginfo version of the Nth NOTIFY of a SIPp message file
nhdr() { msg_nth "$1" NOTIFY "$2" | hdr "$3"; }
nver() { msg_nth "$1" NOTIFY "$2" | reginfo_version; }
ncseq() { nhdr "$1" "$2" CSeq | cut -d' ' -f1; }
gt() { [ -n "$1" ] && [ -n "$2" ] && [ "$2" -gt "$1" ]; } # B > A
expect_gt() { if gt "$2" "$3"; then pass "$1 ($2 -> $3)"; else fail "$1" "'$2' -> '$3'"; fi; }
sc() { http_body "http://127.0.0.1:$SC_API$1"; }
pc() { http_body "http://127.0.0.1:$PC_API$1"; }
pc_sub() { pc /api/v1/subscriptions | jq -r --arg u "sip:$1@$DOMAIN" "[.subscriptions[] | select(.impu == \$u)][0] | $2 // empty"; }
sc_sub_of() { sc /api/v1/subscriptions | jq -r --arg u "sip:$1" '[.subscriptions[] | select(.impu == $u)] | length'; }

start_hss hss HSS_API_TOKEN=$TOKEN || { finish; exit 1; }
mkdir -p "$WORKDIR/state"
SC_SIP=$(free_port) SC_API=$(free_port) PC_SIP=$(free_port) PC_API=$(free_port)
mapfile -t diam < <(scscf_diameter_env)
start_scscf() { # LOGNAME: the same ports, Cx identity and journal every time
  start_prog "$1" "$BUILD/scscf" "$REPO_DIR/config/scscf.yaml" SCSCF_SIP_LISTEN="127.0.0.1:$SC_SIP" \
    SCSCF_API_LISTEN="127.0.0.1:$SC_API" SCSCF_API_TOKEN=$TOKEN SCSCF_REGISTRAR_MIN_EXPIRES=5 \
    SCSCF_STORE_BACKEND=memory "SCSCF_STORE_JOURNAL=$WORKDIR/state/scscf.journal" "${diam[@]}"
}
start_scscf scscf || { finish; exit 1; }
start_prog pcscf "$BUILD/pcscf" "$REPO_DIR/config/pcscf.yaml" PCSCF_SIP_LISTEN="127.0.0.1:$PC_SIP" \
  PCSCF_API_LISTEN="127.0.0.1:$PC_API" PCSCF_PCSCF_REGISTRAR="sip:127.0.0.1:$SC_SIP;transport=tcp;lr" ||
  { finish; exit 1; }
wait_http "127.0.0.1:$SC_API" /readyz 200 10 || fail "scscf ready"

echo "-- alice subscribes to her reg event (the checks of each NOTIFY are the handset's own)"
PA=$(free_port) ATAG="alice$RANDOM$RANDOM" ACID="aregev$RANDOM$RANDOM" CID_A=${ACID}-1@store
ue_csv areg alice "$A_K" 600 1
sipp_ue register_aka.xml areg "$PA" "127.0.0.1:$SC_SIP" areg
expect_eq "alice registers straight at the scscf (AKA)" 0 "$?"
phone_csv asub alice "$A_K" 600000 1 "$ATAG" - alice - -
sipp_ue regevent_phone_sub.xml asub "$PA" "127.0.0.1:$SC_SIP" asub -cid_str "$(cid_str "$ACID")"
sipp_ok "alice's handset: SUBSCRIBE/200, NOTIFY (From/To, active, full state)/200" asub
n1=$(msg_nth asub NOTIFY 1)
A_NTAG=$(hdr From <<<"$n1" | sed -n 's/.*;tag=//p')
expect_match "NOTIFY From: her IMPU with the notifier's tag (the 200's To tag)" \
  "^<?sip:$ALICE>?;tag=$(tr -d '\r' <"$WORKDIR/asub.msg" | sed -n '/^SIP\/2.0 200/,/^$/s/^To: .*;tag=//p' | head -1)\$" "$(hdr From <<<"$n1")"
expect_match "NOTIFY To: her IMPU with her own tag" "^<?sip:$ALICE>?;tag=$ATAG\$" "$(hdr To <<<"$n1")"

echo "-- alice registers from a new Contact URI, same +sip.instance: old and new never in one NOTIFY"
phone_csv anew alice "$A_K" 600 1 "$ATAG" "$A_NTAG" alice-2 - -
sipp_ue regevent_phone_newcontact.xml anew "$PA" "127.0.0.1:$SC_SIP" anew -cid_str "$(cid_str "$ACID")"
sipp_ok "REGISTER/200, NOTIFY (old contact terminated, alone)/200, NOTIFY (new contact active, alone)/200" anew
expect_eq "... the registration holds only the new contact" "sip:alice-2@127.0.0.1:$PA;transport=UDP" \
  "$(field '[.contacts[].uri] | join(" ")' "$(sc "/api/v1/registrations/sip:$ALICE")")"
V0=$(nver asub 1) V1=$(nver anew 1) V2=$(nver anew 2)
expect_eq "... versions in sequence (full 0, then 1 and 2)" "0 1 2" "$V0 $V1 $V2"
expect_gt "... the second NOTIFY's CSeq is higher" "$(ncseq anew 1)" "$(ncseq anew 2)"
C_BEFORE=$(ncseq anew 2)

echo "-- bob registers through the pcscf, which subscribes for him"
PB=$(free_port)
ue_csv breg bob "$B_K" 600 2
sipp_ue register_aka.xml breg "$PB" "127.0.0.1:$PC_SIP" breg
expect_eq "bob registers through the pcscf (AKA)" 0 "$?"
pc_sub_active() { [ "$(pc_sub bob .state)" = active ]; }
wait_for 10 pc_sub_active || fail "the pcscf's subscription for bob becomes active" "$(pc /api/v1/subscriptions | head -c 300)"

echo "-- the scscf restarts (journal store): alice's dialog and version go on"
stored_sub() { grep -q "$CID_A" "$WORKDIR/state/scscf.journal" 2>/dev/null; }
wait_for 5 stored_sub || fail "the journal holds alice's subscription"
stop_prog scscf
expect_eq "the scscf stops (SIGTERM) with status 0" 0 "$LAST_EXIT"
expect_clean_log "scscf: no sanitizer report" scscf
start_scscf scscf2 || { finish; exit 1; }
wait_http "127.0.0.1:$SC_API" /readyz 200 15 || fail "the scscf is ready again"

echo "-- carol registers for 600 s, subscribes, then shortens her registration to 5 s"
expect_match "carol is provisioned at the HSS (REST PUT: 200/201)" '^20[01]$' "$(provision carol "$C_K")"
PC_UE=$(free_port) CTAG="carol$RANDOM$RANDOM" CCID="cregev$RANDOM$RANDOM"
ue_csv creg carol "$C_K" 600 3
sipp_ue register_aka.xml creg "$PC_UE" "127.0.0.1:$SC_SIP" creg
expect_eq "carol registers straight at the scscf (AKA)" 0 "$?"
phone_csv csub carol "$C_K" 600000 3 "$CTAG" - carol - -
sipp_ue regevent_phone_sub.xml csub "$PC_UE" "127.0.0.1:$SC_SIP" csub -cid_str "$(cid_str "$CCID")"
sipp_ok "carol's handset: SUBSCRIBE/200, NOTIFY (From/To, active, full state)/200" csub
C_NTAG=$(msg_nth csub NOTIFY 1 | hdr From | sed -n 's/.*;tag=//p')
phone_csv cshort carol "$C_K" 5 3 "$CTAG" "$C_NTAG" carol - shortened
sipp_ue regevent_phone_reg.xml cshort "$PC_UE" "127.0.0.1:$SC_SIP" cshort -cid_str "$(cid_str "$CCID")"
sipp_ok "carol registers again with Expires 5: NOTIFY (From/To, her contact shortened)/200" cshort
phone_csv cend carol "$C_K" 5 3 "$CTAG" "$C_NTAG" carol noresource expired
# her end comes while the rest runs: checked at the end
listener cend regevent_phone_end.xml "$PC_UE" 30 -inf "$WORKDIR/cend.csv" -trace_err -error_file "$WORKDIR/cend.err"
CEND_PID=$LISTENER_PID

echo "-- alice registers again after the restart: her dialog goes on, with a higher version"
phone_csv areg2 alice "$A_K" 600 1 "$ATAG" "$A_NTAG" alice-2 - refreshed
sipp_ue regevent_phone_reg.xml areg2 "$PA" "127.0.0.1:$SC_SIP" areg2 -cid_str "$(cid_str "$ACID")"
sipp_ok "after the restart: REGISTER/200, NOTIFY in her dialog (same From/To, contact refreshed)/200" areg2
n3=$(msg_nth areg2 NOTIFY 1)
expect_eq "... same Call-ID" "$CID_A" "$(hdr Call-ID <<<"$n3")"
expect_eq "... From and To exactly as before the restart" "$(nhdr anew 2 From) / $(nhdr anew 2 To)" \
  "$(hdr From <<<"$n3") / $(hdr To <<<"$n3")"
expect_gt "... reginfo version higher than the last one before the restart" "$V2" "$(reginfo_version <<<"$n3")"
expect_gt "... CSeq higher than before the restart" "$C_BEFORE" "$(hdr CSeq <<<"$n3" | cut -d' ' -f1)"

echo "-- REST deregisters alice: her handset hears terminated;reason=deactivated, contact deactivated"
phone_csv aend alice "$A_K" 600 1 "$ATAG" "$A_NTAG" alice-2 deactivated deactivated
listener aend regevent_phone_end.xml "$PA" 15 -inf "$WORKDIR/aend.csv" -trace_err -error_file "$WORKDIR/aend.err"
AEND_PID=$LISTENER_PID
expect_eq "DELETE /api/v1/registrations/sip:alice: 200" 200 \
  "$(http_code "http://127.0.0.1:$SC_API/api/v1/registrations/sip:$ALICE" -X DELETE -H "Authorization: Bearer $TOKEN")"
wait "$AEND_PID"
sipp_ok "alice's handset: NOTIFY (From/To, terminated;reason=deactivated, contact terminated deactivated)/200" aend
n4=$(msg_nth aend NOTIFY 1)
expect_eq "... Subscription-State" "terminated;reason=deactivated" "$(hdr Subscription-State <<<"$n4")"
expect_gt "... its reginfo version is the next one" "$(reginfo_version <<<"$n3")" "$(reginfo_version <<<"$n4")"
a_nosub() { [ "$(sc_sub_of "$ALICE")" = 0 ]; }
wait_for 5 a_nosub
expect_eq "... and the scscf no longer holds her subscription" 0 "$(sc_sub_of "$ALICE")"

echo "-- an HSS RTR (SERVER_CHANGE) deregisters bob: the pcscf's subscription ends, his binding goes"
expect_eq "the pcscf holds bob's binding" 1 "$(field .total "$(pc /api/v1/registrations)")"
out=$(curl -s -m 10 -H "Authorization: Bearer $TOKEN" -X POST -d '{"reason_code": 2}' \
  "http://127.0.0.1:$HSS_API/api/v1/subscribers/$BOB/deregister")
expect_eq "HSS deregister (reason SERVER_CHANGE): RTA DIAMETER_SUCCESS" DIAMETER_SUCCESS "$(field .rtr.result "$out")"
pc_empty() { [ "$(field .total "$(pc /api/v1/registrations)")/$(field .total "$(pc /api/v1/subscriptions)")" = 0/0 ]; }
wait_for 10 pc_empty
expect_eq "the pcscf dropped bob's binding and its subscription (through the NOTIFY)" 0/0 \
  "$(field .total "$(pc /api/v1/registrations)")/$(field .total "$(pc /api/v1/subscriptions)")"
expect_match "pcscf log: subscription terminated (deactivated)" \
  "regsub: sip:$BOB: subscription terminated \\(deactivated\\)" "$(cat "$WORKDIR/pcscf.log")"
expect_match "pcscf log: the binding removed by the NOTIFY" 'removed by a reg event NOTIFY' "$(cat "$WORKDIR/pcscf.log")"
expect_eq "the scscf holds no subscription to bob" 0 "$(sc_sub_of "$BOB")"

echo "-- carol's contact expired: terminated;reason=noresource, contact expired"
wait "$CEND_PID"
sipp_ok "carol's handset: NOTIFY (From/To, terminated;reason=noresource, contact terminated expired)/200" cend
expect_eq "... Subscription-State" "terminated;reason=noresource" "$(msg_nth cend NOTIFY 1 | hdr Subscription-State)"
expect_eq "... the scscf no longer holds her subscription" 0 "$(sc_sub_of "$CAROL")"

stop_clean pcscf scscf2 hss
finish
