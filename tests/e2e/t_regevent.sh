#!/usr/bin/env bash
# The registration event package (RFC 3680 over RFC 6665, TS 24.229 5.2.3 and 5.4.2.1): the
# P-CSCF subscribes for the UE it registered and follows the S-CSCF's NOTIFYs (an HSS RTR
# removes its binding); a UE subscribes to its own registration straight at the S-CSCF (full
# state, then terminated when it deregisters); strangers are refused; a 481 drops a
# subscription. Bodies and headers are checked as seen on the wire.
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
SCEN="$E2E_DIR/scenarios"
DOMAIN=ims.mnc001.mcc001.3gppnetwork.org
ALICE=alice@$DOMAIN
BOB=bob@$DOMAIN
TOKEN=s3cret
field() { jq -r "$1 // empty" <<<"$2"; }
csv() { # NAME USER IMPI K EXPIRES INSTANCE
  printf 'SEQUENTIAL\n%s;%s;%s;[authentication username=%s aka_K=%s aka_OP=ponmlkjihgfedcba];%s;%s\n' \
    "$2" "$3" "$DOMAIN" "$3" "$4" "$5" "$6" >"$WORKDIR/$1.csv"
}
sipp_run() { # SCENARIO CSV PORT TARGET MSGFILE
  timeout 30 sipp -sf "$SCEN/$1" -inf "$WORKDIR/$2.csv" -i 127.0.0.1 -p "$3" -t u1 -m 1 \
    -timeout 20s -timeout_error -auth_uri "$DOMAIN" -trace_msg -message_file "$WORKDIR/$5.msg" \
    -trace_err -error_file "$WORKDIR/$5.err" "$4" >/dev/null 2>&1
}
# NAME N: the Nth NOTIFY (1-based) of a message file, headers and body
notify_of() {
  tr -d '\r' <"$WORKDIR/$1.msg" | awk -v n="$2" '/^NOTIFY sip/ {k++} k==n && /^-{20}/ {exit} k==n {print}'
}
sc() { http_body "http://127.0.0.1:$SC_API$1"; }
pc() { http_body "http://127.0.0.1:$PC_API$1"; }
# await SECONDS DESC COMMAND...: passes DESC once COMMAND succeeds (lib.sh wait_for), fails it
# with the subscriptions both sides list when SECONDS have passed without.
await() {
  if wait_for "$1" "${@:3}"; then
    pass "$2"
  else
    fail "$2" "not within $1 s; pcscf: $(pc /api/v1/subscriptions | tr -d '\n' | head -c 300); scscf: $(sc /api/v1/subscriptions | tr -d '\n' | head -c 300)"
  fi
}
pc_version() { [ "$(field '.subscriptions[0].version' "$(pc /api/v1/subscriptions)")" = "$1" ]; }
sc_subs() { [ "$(field "$1" "$(sc /api/v1/subscriptions)")" = "$2" ]; } # JQ EXPECTED

start_hss hss HSS_API_TOKEN=$TOKEN || { finish; exit 1; }
SC_SIP=$(free_port) SC_API=$(free_port) PC_SIP=$(free_port) PC_API=$(free_port)
mapfile -t diam < <(scscf_diameter_env)
start_prog scscf "$BUILD/scscf" "$REPO_DIR/config/scscf.yaml" SCSCF_SIP_LISTEN="127.0.0.1:$SC_SIP" \
  SCSCF_API_LISTEN="127.0.0.1:$SC_API" SCSCF_API_TOKEN=$TOKEN SCSCF_LOG_LEVEL=${E2E_SC_LOG:-info} "${diam[@]}" || { finish; exit 1; }
start_prog pcscf "$BUILD/pcscf" "$REPO_DIR/config/pcscf.yaml" PCSCF_SIP_LISTEN="127.0.0.1:$PC_SIP" \
  PCSCF_API_LISTEN="127.0.0.1:$PC_API" PCSCF_PCSCF_REGISTRAR="sip:127.0.0.1:$SC_SIP;transport=tcp;lr" \
  || { finish; exit 1; }
wait_http "127.0.0.1:$SC_API" /readyz 200 10 || fail "scscf ready"

echo "-- (a) the P-CSCF subscribes for the UE it registered"
csv bob bob "$BOB" bobbobbobbobbob1 600 7
UE_B=$(free_port)
sipp_run register_aka.xml bob "$UE_B" "127.0.0.1:$PC_SIP" bobreg
expect_eq "bob registers through the pcscf (AKA)" 0 "$?"
pc_has_sub() { [ "$(field '.subscriptions[0].state' "$(pc /api/v1/subscriptions)")" = active ]; }
await 10 "the pcscf's subscription becomes active" pc_has_sub
subs=$(pc /api/v1/subscriptions)
expect_eq "the pcscf lists one subscription" 1 "$(field .total "$subs")"
expect_eq "... to bob's default IMPU (first P-Associated-URI)" "sip:$BOB" "$(field '.subscriptions[0].impu' "$subs")"
expect_eq "... active, for the one binding" "active,1" "$(field '"\(.subscriptions[0].state),\(.subscriptions[0].bindings)"' "$subs")"
expect_match "... granted the registration's time (cut from 600000)" '^(59[0-9]|600)$' "$(field '.subscriptions[0].expires' "$subs")"
expect_eq "... and it has taken the full state (version 0)" 0 "$(field '.subscriptions[0].version' "$subs")"
ssubs=$(sc /api/v1/subscriptions)
expect_eq "the scscf lists the subscription" 1 "$(field .total "$ssubs")"
expect_eq "... to bob's IMPU" "sip:$BOB" "$(field '.subscriptions[0].impu' "$ssubs")"
expect_eq "... from the P-CSCF on bob's Path" "127.0.0.1:$PC_SIP" "$(field '.subscriptions[0].subscriber' "$ssubs")"
expect_eq "... same dialog on both sides" "$(field '.subscriptions[0].dialog.call_id' "$subs")" "$(field '.subscriptions[0].dialog.call_id' "$ssubs")"
expect_eq "... the scscf's tag is the pcscf's remote tag" "$(field '.subscriptions[0].dialog.remote_tag' "$subs")" "$(field '.subscriptions[0].dialog.local_tag' "$ssubs")"
m=$(sc /metrics)
expect_match "cscf_regevent_subscriptions 1 at the scscf" '^cscf_regevent_subscriptions\{program="scscf"\} 1$' "$m"
expect_match "cscf_regevent_notify_total counts the NOTIFY answered 2xx" '^cscf_regevent_notify_total\{program="scscf",outcome="2xx"\} 1$' "$m"
sipp_run register_aka.xml bob "$UE_B" "127.0.0.1:$PC_SIP" bobreg2
expect_eq "bob re-registers" 0 "$?"
# The refresh's NOTIFY is the event; a second subscription would have been made by then.
await 10 "the pcscf's subscription got a partial NOTIFY (refreshed): version 1" pc_version 1
expect_eq "... still one subscription at the pcscf (not one per refresh)" 1 "$(field .total "$(pc /api/v1/subscriptions)")"
expect_eq "... and at the scscf" 1 "$(field .total "$(sc /api/v1/subscriptions)")"

ssubs=$(sc /api/v1/subscriptions)
f="$WORKDIR/refresh.sip"
printf 'SUBSCRIBE sip:pcscf@127.0.0.1:%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK%s\r\nMax-Forwards: 70\r\nFrom: <sip:pcscf@127.0.0.1:%s>;tag=%s\r\nTo: <sip:%s>;tag=%s\r\nCall-ID: %s\r\nCSeq: 99999 SUBSCRIBE\r\nContact: <sip:pcscf@127.0.0.1:%s>\r\nEvent: reg\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n' \
  "$PC_SIP" "$RANDOM$RANDOM" "$PC_SIP" "$(field '.subscriptions[0].dialog.remote_tag' "$ssubs")" "$BOB" \
  "$(field '.subscriptions[0].dialog.local_tag' "$ssubs")" "$(field '.subscriptions[0].dialog.call_id' "$ssubs")" "$PC_SIP" >"$f"
expect_eq "an in-dialog SUBSCRIBE (refresh, matched by Call-ID and tags): 200" "SIP/2.0 200 OK" \
  "$(sipsend -u 127.0.0.1 "$SC_SIP" "$f" 3000 | tr -d '\r')"
await 10 "... its full state went to the pcscf (version 2 there)" pc_version 2
ssubs=$(sc /api/v1/subscriptions)
expect_match "... the subscription now ends in 300 s" '^(29[0-9]|300)$' "$(field '.subscriptions[0].expires' "$ssubs")"

echo "-- (b) a UE subscribes to its own registration at the scscf, then deregisters"
csv alice alice "$ALICE" abcdefghijklmnop 600 1
UE_A=$(free_port)
sipp_run register_aka.xml alice "$UE_A" "127.0.0.1:$SC_SIP" alicereg
expect_eq "alice registers straight at the scscf" 0 "$?"
sipp_run regevent_ue.xml alice "$UE_A" "127.0.0.1:$SC_SIP" aliceev
expect_eq "SUBSCRIBE/200/NOTIFY/200, REGISTER Expires 0 (AKA)/200, NOTIFY/200 completes" 0 "$?"
ok=$(sed -n '/^SIP\/2.0 200/,/^$/p' "$WORKDIR/aliceev.msg" | tr -d '\r' | head -12)
expect_match "the 200 to SUBSCRIBE has a To tag" "^To: <sip:$ALICE>;tag=" "$ok"
expect_match "... Expires cut to the registration's (600 s)" '^Expires: (59[0-9]|600)$' "$ok"
expect_match "... and the scscf's Contact" "^Contact: <sip:127.0.0.1:$SC_SIP>" "$ok"
n1=$(notify_of aliceev 1)
expect_match "first NOTIFY: Event reg" '^Event: reg$' "$n1"
expect_match "... Subscription-State active with expires" '^Subscription-State: active;expires=(59[0-9]|600)$' "$n1"
expect_match "... Content-Type application/reginfo+xml" '^Content-Type: application/reginfo\+xml$' "$n1"
expect_match "... Max-Forwards and Contact" "^Contact: <sip:127.0.0.1:$SC_SIP>" "$n1"
expect_match "... full state, version 0" '<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="0" state="full">' "$n1"
expect_match "... alice's registration active" "<registration id=\"r[0-9a-f]+\" aor=\"sip:$ALICE\" state=\"active\">" "$n1"
expect_match "... with her contact active (registered) and its instance" "<contact id=\"c[0-9a-f]+\" state=\"active\" event=\"registered\" expires=\"(59[0-9]|600)\"><uri>sip:alice@127.0.0.1:$UE_A;transport=UDP</uri><unknown-param name=\"\\+sip.instance\">&lt;urn:gsma:imei:35000000-000000-1&gt;</unknown-param>" "$n1"
expect_match "... the tel: IMPU of the implicit set too" '<registration id="r[0-9a-f]+" aor="tel:\+15550001" state="active">' "$n1"
n2=$(notify_of aliceev 2)
expect_match "after the deregistration: Subscription-State terminated" '^Subscription-State: terminated;reason=noresource$' "$n2"
expect_match "... a partial document, version 1" 'version="1" state="partial"' "$n2"
expect_match "... the registration terminated" "aor=\"sip:$ALICE\" state=\"terminated\"" "$n2"
expect_match "... the contact terminated (unregistered)" 'state="terminated" event="unregistered"' "$n2"
c1=$(grep -m1 '^CSeq: [0-9]* NOTIFY' <<<"$n1" | awk '{print $2}')
c2=$(grep -m1 '^CSeq: [0-9]* NOTIFY' <<<"$n2" | awk '{print $2}')
[ -n "$c1" ] && [ -n "$c2" ] && [ "$c2" -gt "$c1" ] && pass "NOTIFY CSeq increases ($c1 -> $c2)" || fail "NOTIFY CSeq increases" "$c1 -> $c2"
await 10 "the scscf keeps only the pcscf's subscription" sc_subs '"\(.total) \(.subscriptions[0].impu)"' "1 sip:$BOB"

echo "-- (d) a stranger may not subscribe"
sipp_run register_aka.xml alice "$UE_A" "127.0.0.1:$SC_SIP" alicereg2
expect_eq "alice registers again" 0 "$?"
# raw SUBSCRIBE: TARGET FROM TO_TAG EXTRA_HEADER; sipsend prints the status line
raw_subscribe() {
  local f="$WORKDIR/raw_$RANDOM.sip"
  printf 'SUBSCRIBE sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK%s\r\nMax-Forwards: 70\r\nFrom: <sip:%s>;tag=m1\r\nTo: <sip:%s>%s\r\nCall-ID: %s@t\r\nCSeq: 1 SUBSCRIBE\r\nContact: <sip:x@127.0.0.1:9>\r\n%bEvent: reg\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n' \
    "$1" "$RANDOM$RANDOM" "$2" "$1" "$3" "$RANDOM$RANDOM" "$4" >"$f"
  sipsend -u 127.0.0.1 "$SC_SIP" "$f" 3000 | tr -d '\r'
}
expect_eq "SUBSCRIBE from mallory to alice's reg: 403" "SIP/2.0 403 Forbidden" "$(raw_subscribe "$ALICE" "mallory@$DOMAIN" "" "")"
expect_eq "... alice in From but mallory asserted: 403" "SIP/2.0 403 Forbidden" \
  "$(raw_subscribe "$ALICE" "$ALICE" "" "P-Asserted-Identity: <sip:mallory@$DOMAIN>\r\n")"
expect_eq "... bob (registered, but another user) asserting himself: 403" "SIP/2.0 403 Forbidden" \
  "$(raw_subscribe "$ALICE" "$BOB" "" "P-Asserted-Identity: <sip:$BOB>\r\n")"
expect_eq "to an identity with no registration: 480" "SIP/2.0 480 Temporarily Unavailable" "$(raw_subscribe "nobody@$DOMAIN" "nobody@$DOMAIN" "" "")"
expect_eq "Accept without application/reginfo+xml: 406" "SIP/2.0 406 Not Acceptable" \
  "$(raw_subscribe "$ALICE" "$ALICE" "" "Accept: application/pidf+xml\r\n")"
expect_eq "an in-dialog SUBSCRIBE for no dialog: 481" "SIP/2.0 481 Call/Transaction Does Not Exist" \
  "$(raw_subscribe "$ALICE" "$ALICE" ";tag=nope" "")"
expect_eq "the scscf still holds one subscription" 1 "$(field .total "$(sc /api/v1/subscriptions)")"

echo "-- (e) a NOTIFY answered 481 drops the subscription"
sipp_run regevent_481.xml alice "$(free_port)" "127.0.0.1:$SC_SIP" alice481
expect_eq "SUBSCRIBE/200/NOTIFY/481 completes" 0 "$?"
expect_match "... the NOTIFY it refused carried the full state" 'version="0" state="full"' "$(notify_of alice481 1)"
await 10 "the scscf dropped it (only the pcscf's is left)" sc_subs '"\(.total) \(.subscriptions[0].impu)"' "1 sip:$BOB"
expect_match "cscf_regevent_notify_total counts the 4xx" '^cscf_regevent_notify_total\{program="scscf",outcome="4xx"\} 1$' "$(sc /metrics)"

echo "-- (c) an HSS RTR: the NOTIFY removes bob's binding at the pcscf"
expect_eq "the pcscf holds bob's binding" 1 "$(field .total "$(pc /api/v1/registrations)")"
out=$(curl -s -m 10 -H "Authorization: Bearer $TOKEN" -X POST "http://127.0.0.1:$HSS_API/api/v1/subscribers/$BOB/deregister")
expect_eq "HSS deregister: RTA DIAMETER_SUCCESS" DIAMETER_SUCCESS "$(field .rtr.result "$out")"
pc_empty() { [ "$(field .total "$(pc /api/v1/registrations)")" = 0 ]; }
await 10 "the pcscf dropped bob's binding (through the NOTIFY)" pc_empty
pc_nosub() { [ "$(field .total "$(pc /api/v1/subscriptions)")" = 0 ]; }
await 10 "... and its subscription is gone" pc_nosub
await 10 "the scscf holds no subscription to bob" sc_subs '[.subscriptions[] | select(.impu == "sip:'"$BOB"'")] | length' 0
expect_match "pcscf log: terminated (rejected: permanent termination)" 'regsub: sip:bob@[^ ]+: subscription terminated \(rejected\)' "$(cat "$WORKDIR/pcscf.log")"
expect_match "cscf_regevent_subscriptions 0 at the pcscf" '^cscf_regevent_subscriptions\{program="pcscf"\} 0$' "$(pc /metrics)"

echo "-- the UE's deregistration ends the pcscf's subscription"
sipp_run register_aka.xml bob "$UE_B" "127.0.0.1:$PC_SIP" bobreg3
expect_eq "bob registers again through the pcscf" 0 "$?"
await 10 "... a new subscription" pc_has_sub
csv bob_off bob "$BOB" bobbobbobbobbob1 0 7
sipp_run register_aka.xml bob_off "$UE_B" "127.0.0.1:$PC_SIP" bobdereg
expect_eq "bob deregisters (Expires 0)" 0 "$?"
await 10 "... the pcscf forgot its subscription" pc_nosub
await 10 "... and so did the scscf" sc_subs .total 0

echo "-- (f) reg-event SUBSCRIBEs laid out unusually are served; malformed ones get 400, not 500"
# layout NAME EXPECTED HEADER...: a SUBSCRIBE to alice's reg (registered since (d)) from alice,
# made of the given header lines; the placeholders VIA, FROM, TO, CALLID, CONTACT, ALICE fill
# in. Most ask Expires 0 (a fetch: 200 and one NOTIFY, nothing kept), so alice's eight
# subscriptions are not used up.
layout() {
  local name=$1 want=$2 f="$WORKDIR/layout_$1.sip"
  shift 2
  { printf 'SUBSCRIBE sip:%s SIP/2.0\r\n' "$ALICE"
    printf '%s\r\n' "$@" | sed "s/VIA/SIP\/2.0\/UDP 127.0.0.1:9;branch=z9hG4bK$name$RANDOM/; s/FROM/<sip:$ALICE>;tag=lay$RANDOM/;
      s/TO/<sip:$ALICE>/; s/CALLID/layout-$name-$RANDOM/; s/CONTACT/<sip:alice@127.0.0.1:9>/; s/ALICE/$ALICE/g"
    printf '\r\n'; } >"$f"
  expect_eq "SUBSCRIBE ($name): $want" "$want" "$(sipsend -u 127.0.0.1 "$SC_SIP" "$f" 3000 | tr -d '\r' | cut -d' ' -f2)"
}
H=("Via: VIA" "Max-Forwards: 70" "From: FROM" "To: TO" "Call-ID: CALLID" "CSeq: 1 SUBSCRIBE" "Contact: CONTACT")
layout compact 200 "v: VIA" "Max-Forwards: 70" "f: FROM" "t: TO" "i: CALLID" "CSeq: 1 SUBSCRIBE" "m: CONTACT" "o: reg" "k: path" "Expires: 0" "l: 0"
layout lowercase_names 200 "via: VIA" "max-forwards: 70" "from: FROM" "to: TO" "call-id: CALLID" "cseq: 1 SUBSCRIBE" "contact: CONTACT" "event: reg" "expires: 0" "accept: application/reginfo+xml" "content-length: 0"
layout folded 200 "Via: VIA" "Max-Forwards: 70" "From:" "  FROM" "To: TO" "Call-ID: CALLID" "CSeq: 1 SUBSCRIBE" "Contact: CONTACT" "Event:" "	reg" "Expires: 0" "Content-Length: 0"
layout event_params 200 "${H[@]}" "Event: reg ; id = 7 ; foo" "Expires: 0" "Content-Length: 0"
layout reordered 200 "Content-Length: 0" "Expires: 0" "Event: reg" "Contact: CONTACT" "CSeq: 1 SUBSCRIBE" "Call-ID: CALLID" "To: TO" "From: FROM" "Max-Forwards: 70" "Via: VIA"
layout no_accept 200 "${H[@]}" "Event: reg" "Expires: 0" "Content-Length: 0"
layout accept_twice 200 "${H[@]}" "Event: reg" "Accept: application/sdp" "Accept: application/reginfo+xml" "Expires: 0" "Content-Length: 0"
layout accept_list 200 "${H[@]}" "Event: reg" "Accept: application/pidf+xml, application/reginfo+xml;q=0.5, multipart/related" "Supported: eventlist" "Expires: 0" "Content-Length: 0"
layout two_asserted_one_header 200 "Via: VIA" "Max-Forwards: 70" "From: <sip:anonymous@anonymous.invalid>;tag=a1" "To: TO" "Call-ID: CALLID" "CSeq: 1 SUBSCRIBE" "Contact: CONTACT" "P-Asserted-Identity: \"Alice\" <sip:ALICE>, <tel:+15550001>" "Event: reg" "Expires: 0" "Content-Length: 0"
layout tel_asserted_first 200 "Via: VIA" "Max-Forwards: 70" "From: <sip:anonymous@anonymous.invalid>;tag=a2" "To: TO" "Call-ID: CALLID" "CSeq: 1 SUBSCRIBE" "Contact: CONTACT" "P-Asserted-Identity: <tel:+15550001>, <sip:ALICE>" "Event: reg" "Expires: 0" "Content-Length: 0"
layout no_expires 200 "${H[@]}" "Event: reg" "Content-Length: 0"
layout no_event 400 "${H[@]}" "Expires: 0" "Content-Length: 0"
layout two_packages 400 "${H[@]}" "Event: reg, presence" "Expires: 0" "Content-Length: 0"
layout contact_star 400 "Via: VIA" "Max-Forwards: 70" "From: FROM" "To: TO" "Call-ID: CALLID" "CSeq: 1 SUBSCRIBE" "Contact: *" "Event: reg" "Expires: 0" "Content-Length: 0"
layout contact_tel 400 "Via: VIA" "Max-Forwards: 70" "From: FROM" "To: TO" "Call-ID: CALLID" "CSeq: 1 SUBSCRIBE" "Contact: <tel:+15550001>" "Event: reg" "Expires: 0" "Content-Length: 0"

echo "-- one flow, two UEs in turn (one NAT address and port): the pcscf ends the first's subscription"
# notified [OUTCOME]: the scscf's reg event NOTIFYs answered so far (of that outcome: 2xx, 4xx)
notified() { sc /metrics | awk -v o="${1:-}" '/^cscf_regevent_notify_total\{/ && (o == "" || index($0, "\"" o "\"")) {v += $2} END {print v + 0}'; }
UE_N=$(free_port)
csv bob_n bob "$BOB" bobbobbobbobbob1 600 9
sipp_run register_aka.xml bob_n "$UE_N" "127.0.0.1:$PC_SIP" bobnat
expect_eq "bob registers through the pcscf from 127.0.0.1:$UE_N" 0 "$?"
await 10 "... the pcscf subscribes to his reg event" pc_has_sub
notifies=$(notified) refused=$(notified 4xx)
csv alice_n alice "$ALICE" abcdefghijklmnop 600 10
sipp_run register_aka.xml alice_n "$UE_N" "127.0.0.1:$PC_SIP" alicenat
expect_eq "alice registers from the same address and port: her binding replaces his" 0 "$?"
pc_bob_gone() { [ "$(pc /api/v1/subscriptions | jq '[.subscriptions[] | select(.impu == "sip:'"$BOB"'")] | length')" = 0 ]; }
await 10 "... the pcscf ends its subscription to bob (un-SUBSCRIBE)" pc_bob_gone
more_notifies() { [ "$(notified)" -gt "$notifies" ]; }
wait_for 5 more_notifies || fail "the scscf's last NOTIFY (terminated) for bob is answered"
# RFC 6665 4.1.2.3: the pcscf keeps the dialog after the 200 to its un-SUBSCRIBE until that
# NOTIFY, and answers it 200. The 200 and the NOTIFY come on two TCP connections: when the pcscf
# read the 200 first, it used to drop the dialog and answer 481 (seen in make soak's traffic);
# here it read the NOTIFY first in the runs tried, so this guards the end, not that order.
expect_eq "... with a 200, not a 481" "$refused" "$(notified 4xx)"

for p in pcscf scscf hss; do
  stop_prog $p
  expect_eq "$p exits 0" 0 "$LAST_EXIT"
  expect_clean_log "$p: no sanitizer report" $p
done
finish
