#!/usr/bin/env bash
# What a handset must not be able to do, end to end (TS 24.229 5.2.6.3, 5.4.1, 5.4.2; RFC 3325,
# RFC 3680): hss, scscf and pcscf with SIPp handsets registered with AKA through the pcscf.
#   - a Route of its own never skips the S-CSCF (the pcscf pre-loads the Service-Route, also
#     over a Route naming another UE's Path entry);
#   - P-Preferred-Identity is asserted only when it is one of the UE's unbarred associated URIs,
#     a P-Asserted-Identity it sends is never passed on;
#   - barred IMPUs stay out of P-Associated-URI and are never asserted;
#   - a profile the HSS pushes (PPR) is NOTIFYed to reg event subscribers, version incremented;
#   - registrar.trust_integrity_protected, allow_direct and max_auth_failures, switched at run
#     time with POST /api/v1/reload on a temporary copy of the scscf's config.
# Subscribers made for this test come in through the HSS REST API (nothing in config/).
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
SCEN="$E2E_DIR/scenarios"
DOMAIN=ims.mnc001.mcc001.3gppnetwork.org
TOKEN=tru5t
OP=ponmlkjihgfedcba
OP_HEX=706f6e6d6c6b6a696867666564636261
field() { jq -r "$1 // empty" <<<"$2"; }
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
sc() { http_body "http://127.0.0.1:$SC_API$1"; }
pc() { http_body "http://127.0.0.1:$PC_API$1"; }
hss() { # METHOD PATH [BODY]: an authorised call to the HSS's REST API
  curl -s -m 10 -H "Authorization: Bearer $TOKEN" -X "$1" "http://127.0.0.1:$HSS_API$2" ${3:+-d "$3"}
}
wait_for() { # SECONDS COMMAND...: poll until the command succeeds
  local i
  for i in $(seq $(($1 * 10))); do
    "${@:2}" && return 0
    sleep 0.1
  done
  return 1
}

bound() { ss -Hlun 2>/dev/null | awk '{print $4}' | grep -Eq "[:.]$1\$"; } # a UDP port is bound

# The scscf reads a temporary copy of its lab config, so the registrar keys can be changed and
# reloaded while the same processes keep their registrations.
CONF="$WORKDIR/scscf.yaml"
cp "$REPO_DIR/config/scscf.yaml" "$CONF"
registrar_conf() { # TRUST ALLOW_DIRECT MAX_AUTH_FAILURES
  sed -i '/^registrar:/,$d' "$CONF"
  printf 'registrar:\n  trust_integrity_protected: %s\n  allow_direct: %s\n  max_auth_failures: %s\n' \
    "$1" "$2" "$3" >>"$CONF"
}
reload() {
  curl -s -m 5 -X POST -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$SC_API/api/v1/reload"
}
registrar_conf true true 0

start_hss hss HSS_API_TOKEN=$TOKEN || { finish; exit 1; }
SC_SIP=$(free_port) SC_API=$(free_port) PC_SIP=$(free_port) PC_API=$(free_port)
mapfile -t diam < <(scscf_diameter_env)
start_prog scscf "$BUILD/scscf" "$CONF" SCSCF_SIP_LISTEN="127.0.0.1:$SC_SIP" SCSCF_LOG_LEVEL=debug \
  SCSCF_API_LISTEN="127.0.0.1:$SC_API" SCSCF_API_TOKEN=$TOKEN "${diam[@]}" || { finish; exit 1; }
start_prog pcscf "$BUILD/pcscf" "$REPO_DIR/config/pcscf.yaml" PCSCF_SIP_LISTEN="127.0.0.1:$PC_SIP" \
  PCSCF_API_LISTEN="127.0.0.1:$PC_API" PCSCF_PCSCF_REGISTRAR="sip:127.0.0.1:$SC_SIP;transport=tcp;lr" ||
  { finish; exit 1; }
wait_http "127.0.0.1:$SC_API" /readyz 200 10 || fail "scscf ready"

# register NAME USER K OP PORT INSTANCE [EXPIRES]: AKA registration through the pcscf from PORT.
register() {
  printf 'SEQUENTIAL\n%s;%s@%s;%s;[authentication username=%s@%s aka_K=%s aka_OP=%s];%s;%s\n' \
    "$2" "$2" "$DOMAIN" "$DOMAIN" "$2" "$DOMAIN" "$3" "$4" "${7:-600}" "$6" >"$WORKDIR/$1.csv"
  timeout 20 sipp -sf "$SCEN/register_aka.xml" -inf "$WORKDIR/$1.csv" -i 127.0.0.1 -p "$5" \
    -t u1 -m 1 -timeout 15s -timeout_error -auth_uri "$DOMAIN" -trace_msg \
    -message_file "$WORKDIR/$1.msg" "127.0.0.1:$PC_SIP" >/dev/null 2>&1
}
# callee NAME PORT: a handset taking one MESSAGE, in the background (PID in CALLEE_PID).
callee() {
  timeout 30 sipp -sf "$SCEN/message_uas.xml" -i 127.0.0.1 -p "$2" -t u1 -m 1 -timeout 25s \
    -timeout_error -trace_msg -message_file "$WORKDIR/$1.msg" >/dev/null 2>&1 &
  CALLEE_PID=$!
  wait_for 5 bound "$2" || fail "$1: SIPp listens on $2"
}
# send_message NAME PORT USER RURI HEADER1 HEADER2: a MESSAGE from PORT through the pcscf; the
# status line of its final answer in $STATUS.
send_message() {
  printf 'SEQUENTIAL\n%s;%s;%s;%s from %s\n' "$3" "$4" "$DOMAIN" "$1" "$3" >"$WORKDIR/$1.csv"
  timeout 30 sipp -sf "$SCEN/trust_message_uac.xml" -inf "$WORKDIR/$1.csv" -i 127.0.0.1 -p "$2" \
    -key hdr1 "${5:-X-Trust-Test: -}" -key hdr2 "${6:-X-Trust-Test: -}" \
    -t u1 -m 1 -timeout 20s -timeout_error -trace_msg -message_file "$WORKDIR/$1.msg" \
    "127.0.0.1:$PC_SIP" >/dev/null 2>&1
  STATUS=$(tr -d '\r' <"$WORKDIR/$1.msg" 2>/dev/null | grep -E '^SIP/2.0 [2-6][0-9][0-9]' | tail -1)
}
first_request() { # NAME METHOD: the first such request a handset received, headers only
  sed -n "/^$2 /,/^\$/p" "$WORKDIR/$1.msg" 2>/dev/null | tr -d '\r' | sed '/^$/q'
}
# raw_register _ USER IMPI AUTH_EXTRA PATH CONTACT INSTANCE: a REGISTER straight to the
# scscf as a P-CSCF (or a handset) would send it; sipsend prints the whole answer.
raw_register() {
  local f="$WORKDIR/raw_$RANDOM$RANDOM.sip" path=
  [ -n "$5" ] && path="Path: $5"$'\r\n'
  printf 'REGISTER sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK%s\r\nMax-Forwards: 70\r\nFrom: <sip:%s@%s>;tag=%s\r\nTo: <sip:%s@%s>\r\nCall-ID: %s@trust\r\nCSeq: 1 REGISTER\r\n%sContact: <%s>%s\r\nAuthorization: Digest username="%s", realm="%s", nonce="", uri="sip:%s", response=""%s\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n' \
    "$DOMAIN" "$RANDOM$RANDOM" "$2" "$DOMAIN" "$RANDOM" "$2" "$DOMAIN" "$RANDOM$RANDOM" \
    "$path" "$6" "${7:+;+sip.instance=$7}" "$3" "$DOMAIN" "$DOMAIN" "$4" >"$f"
  SIPSEND_WHOLE=1 sipsend -u 127.0.0.1 "$SC_SIP" "$f" 5000 | tr -d '\r'
}
status_of() { head -1 <<<"$1"; }

A_K=abcdefghijklmnop B_K=bobbobbobbobbob1 C_K=barbarabarbara12 M_K=mikemikemikemike
PA=$(free_port) PB=$(free_port) PC=$(free_port) PX=$(free_port) PM=$(free_port)
ALICE=sip:alice@$DOMAIN BOB=sip:bob@$DOMAIN

echo "-- fixtures: two subscribers made over the HSS REST API"
BARB='{"impi":"barbara@'$DOMAIN'","impus":["sip:barbara@'$DOMAIN'","sip:barbara.hidden@'$DOMAIN'","tel:+15550077"],"barred_impus":["sip:barbara.hidden@'$DOMAIN'"],"k":"'$(hex $C_K)'","op":"'$OP_HEX'","amf":"0000"}'
MIKE='{"impi":"mike@'$DOMAIN'","impus":["sip:mike@'$DOMAIN'"],"k":"'$(hex $M_K)'","op":"'$OP_HEX'","amf":"0000","auth_schemes":["MD5"],"password":"mikepass"}'
out=$(hss POST /api/v1/subscribers "[$BARB,$MIKE]")
expect_eq "the HSS holds barbara with sip:barbara.hidden barred" "sip:barbara.hidden@$DOMAIN" \
  "$(field '.barred_impus[0]' "$(http_body "http://127.0.0.1:$HSS_API/api/v1/subscribers/barbara@$DOMAIN")")"
expect_eq "... and mike (MD5 only)" MD5 \
  "$(field '.auth_schemes[0]' "$(http_body "http://127.0.0.1:$HSS_API/api/v1/subscribers/mike@$DOMAIN")")"

echo "-- handsets register through the pcscf"
register rega alice "$A_K" "$OP" "$PA" 1
expect_eq "alice registers (AKA)" 0 "$?"
register regb bob "$B_K" "$OP" "$PB" 2
expect_eq "bob registers (AKA)" 0 "$?"
register regc barbara "$C_K" "$OP" "$PC" 3
expect_eq "barbara registers (AKA)" 0 "$?"

echo "-- (5) a barred IMPU is left out of P-Associated-URI"
ok=$(sed -n '/^SIP\/2.0 200/,/^\r\?$/p' "$WORKDIR/regc.msg" | tr -d '\r')
pau=$(grep -i '^P-Associated-URI:' <<<"$ok")
expect_match "barbara's 200: P-Associated-URI with her default IMPU and her tel: URI" \
  "^P-Associated-URI: <sip:barbara@$DOMAIN>, ?<tel:\\+15550077>\$" "$pau"
expect_no_match "... and not the barred sip:barbara.hidden" 'barbara\.hidden' "$pau"
reg=$(sc "/api/v1/registrations/sip:barbara@$DOMAIN")
expect_eq "the scscf holds it as barred (from the HSS's User-Data)" "sip:barbara.hidden@$DOMAIN" "$(field '.barred[0]' "$reg")"
expect_no_match "the pcscf's associated set for barbara has no barred IMPU" 'barbara\.hidden' \
  "$(field ".registrations[] | select(.flow == \"udp:127.0.0.1:$PC\") | .associated_uris" "$(pc /api/v1/registrations)")"

echo "-- (1) a Route of the UE's own never skips the S-CSCF"
bob_path=$(field '.contacts[0].path' "$(sc "/api/v1/registrations/$BOB")")
expect_match "bob's Path entry at the pcscf (the term. token route)" "^<sip:term\\.[0-9a-f]{16}@127.0.0.1:$PC_SIP" "$bob_path"
callee bskip "$PB"
send_message askip "$PA" alice "$BOB" "Route: $bob_path"
expect_eq "alice's MESSAGE with Route: <bob's Path entry> is answered 200" "SIP/2.0 200 OK" "$STATUS"
wait "$CALLEE_PID"
msg=$(first_request bskip MESSAGE)
expect_match "... bob gets it" "^MESSAGE sip:bob@127.0.0.1:$PB" "$msg"
expect_match "... through the scscf (its Via)" "^Via: SIP/2.0/TCP 127.0.0.1:$SC_SIP;" "$msg"
expect_eq "... four Vias: alice, pcscf, scscf, pcscf" 4 "$(grep -c '^Via:' <<<"$msg")"
expect_match "... the scscf served it as alice's originating request" \
  "scscf: MESSAGE originating" "$(grep -F "$(grep -m1 -i '^Call-ID:' <<<"$msg" | sed 's/^[^:]*: *//')" "$WORKDIR/scscf.log")"
timeout 30 sipp -sf "$SCEN/message_uas.xml" -i 127.0.0.1 -p "$PX" -t u1 -m 1 -timeout 25s \
  -trace_msg -message_file "$WORKDIR/target.msg" >/dev/null 2>&1 &
target_pid=$!
wait_for 5 bound "$PX" || fail "the target SIPp listens on $PX"
send_message adirect "$PA" alice "sip:x@127.0.0.1:$PX" "Route: <sip:127.0.0.1:$PX;lr>"
expect_eq "a MESSAGE routed by alice straight to another host goes to the scscf instead: 404 (no next hop)" \
  "SIP/2.0 404 Not Found" "$STATUS"
expect_eq "... and the host she named got nothing" "" "$(first_request target MESSAGE)"
kill "$target_pid" 2>/dev/null
wait "$target_pid" 2>/dev/null

echo "-- (2) P-Preferred-Identity and P-Asserted-Identity from the UE"
callee bppi "$PB"
send_message appi "$PA" alice "$BOB" "P-Preferred-Identity: <tel:+15550001>"
expect_eq "alice prefers her tel: URI (one of her associated URIs): 200" "SIP/2.0 200 OK" "$STATUS"
wait "$CALLEE_PID"
msg=$(first_request bppi MESSAGE)
expect_eq "... bob sees it asserted, the only P-Asserted-Identity" "P-Asserted-Identity: <tel:+15550001>" \
  "$(grep -i '^P-Asserted-Identity:' <<<"$msg")"
expect_no_match "... and no P-Preferred-Identity" '^P-Preferred-Identity' "$msg"
callee bforeign "$PB"
send_message aforeign "$PA" alice "$BOB" "P-Preferred-Identity: <$BOB>" \
  "P-Asserted-Identity: <sip:mallory@$DOMAIN>"
expect_eq "alice prefers bob's identity and asserts mallory's: still delivered (200)" "SIP/2.0 200 OK" "$STATUS"
wait "$CALLEE_PID"
msg=$(first_request bforeign MESSAGE)
expect_eq "... bob sees alice's default IMPU asserted, and nothing else" "P-Asserted-Identity: <$ALICE>" \
  "$(grep -i '^P-Asserted-Identity:' <<<"$msg")"
expect_no_match "... neither mallory nor bob anywhere in an identity header" \
  '^P-(Asserted|Preferred)-Identity:.*(mallory|bob@)' "$msg"

echo "-- (5) a barred IMPU is never asserted"
callee bbarred "$PB"
send_message cbarred "$PC" barbara "$BOB" "P-Preferred-Identity: <sip:barbara.hidden@$DOMAIN>"
expect_eq "barbara prefers her barred IMPU: delivered (200)" "SIP/2.0 200 OK" "$STATUS"
wait "$CALLEE_PID"
msg=$(first_request bbarred MESSAGE)
expect_eq "... asserted as her default IMPU instead" "P-Asserted-Identity: <sip:barbara@$DOMAIN>" \
  "$(grep -i '^P-Asserted-Identity:' <<<"$msg")"
expect_no_match "... the barred IMPU appears in no identity header" '^P-(Asserted|Preferred)-Identity:.*hidden' "$msg"

echo "-- (4) a profile pushed by the HSS (PPR) is NOTIFYed"
printf 'SEQUENTIAL\nalice;alice@%s;%s;-;600;1\n' "$DOMAIN" "$DOMAIN" >"$WORKDIR/aev.csv"
timeout 40 sipp -sf "$SCEN/trust_regevent_ppr.xml" -inf "$WORKDIR/aev.csv" -i 127.0.0.1 -p "$PA" \
  -t u1 -m 1 -timeout 35s -timeout_error -trace_msg -message_file "$WORKDIR/aev.msg" \
  "127.0.0.1:$PC_SIP" >/dev/null 2>&1 &
ev_pid=$!
ue_sub() { # the version the scscf reached on alice's own subscription (not the pcscf's)
  field "[.subscriptions[] | select(.impu == \"$ALICE\" and .subscriber != \"127.0.0.1:$PC_SIP\")][0].version" \
    "$(sc /api/v1/subscriptions)"
}
pc_version() { field "[.subscriptions[] | select(.impu == \"$ALICE\")][0].version" "$(pc /api/v1/subscriptions)"; }
ue_sub_at() { [ "$(ue_sub)" = "$1" ]; }
pc_at() { [ "$(pc_version)" = "$1" ]; }
wait_for 10 ue_sub_at 1 && pass "alice's SUBSCRIBE through the pcscf got its full-state NOTIFY" ||
  fail "alice's SUBSCRIBE through the pcscf got its full-state NOTIFY" "scscf version '$(ue_sub)'"
pcv=$(pc_version)
expect_match "the pcscf's own subscription to alice has a version" '^[0-9]+$' "$pcv"
ALICE_BODY='"k":"'$(hex $A_K)'","op":"'$OP_HEX'","amf":"0000","auth_schemes":["AKAv1-MD5","AKAv2-MD5","MD5"],"password":"alicepass"'
out=$(hss PUT "/api/v1/subscribers/alice@$DOMAIN" \
  '{"impus":["'$ALICE'","tel:+15550001","sip:alice.work@'$DOMAIN'"],'"$ALICE_BODY"'}')
expect_eq "a new IMPU for alice at the HSS: PPR answered DIAMETER_SUCCESS" DIAMETER_SUCCESS "$(field .ppr.result "$out")"
wait_for 10 ue_sub_at 2 && pass "... the scscf NOTIFYs alice's subscription" || fail "... the scscf NOTIFYs alice's subscription" "version '$(ue_sub)'"
wait_for 10 pc_at $((pcv + 1)) && pass "... and the pcscf's (version $pcv -> $((pcv + 1)))" ||
  fail "... and the pcscf's" "version $pcv -> '$(pc_version)'"
out=$(hss PUT "/api/v1/subscribers/alice@$DOMAIN" \
  '{"impus":["'$ALICE'","tel:+15550001","sip:alice.work@'$DOMAIN'"],"barred_impus":["tel:+15550001"],'"$ALICE_BODY"'}')
expect_eq "alice's tel: URI barred at the HSS: PPR answered DIAMETER_SUCCESS" DIAMETER_SUCCESS "$(field .ppr.result "$out")"
wait_for 10 ue_sub_at 3 && pass "... NOTIFYed again" || fail "... NOTIFYed again" "version '$(ue_sub)'"
wait "$ev_pid"
expect_eq "alice's SIPp: SUBSCRIBE/200, then three NOTIFYs each answered 200" 0 "$?"
notify_of() { tr -d '\r' <"$WORKDIR/aev.msg" | awk -v n="$1" '/^NOTIFY sip/ {k++} k==n && /^-{20}/ {exit} k==n {print}'; }
n1=$(notify_of 1) n2=$(notify_of 2) n3=$(notify_of 3)
expect_match "the first NOTIFY: full state, version 0" '<reginfo [^>]*version="0" state="full"' "$n1"
expect_no_match "... without alice.work yet" 'alice\.work' "$n1"
expect_match "the NOTIFY after the first PPR: version 1" '<reginfo [^>]*version="1"' "$n2"
expect_match "... alice.work is there, active" "<registration id=\"r[0-9a-f]+\" aor=\"sip:alice.work@$DOMAIN\" state=\"active\">" "$n2"
expect_match "... with alice's contact" "<uri>sip:alice@127.0.0.1:$PA;transport=UDP</uri>" "$n2"
expect_match "... it came back through the pcscf (its Via on top)" "^Via: SIP/2.0/UDP 127.0.0.1:$PC_SIP;" "$n2"
expect_match "the NOTIFY after the barring: version 2" '<reginfo [^>]*version="2"' "$n3"
expect_no_match "... the barred tel:+15550001 is no longer reported active" 'aor="tel:\+15550001" state="active"' "$n3"
expect_match "... the other identities still are" "aor=\"sip:alice.work@$DOMAIN\" state=\"active\"" "$n3"
reg=$(sc "/api/v1/registrations/$ALICE")
expect_eq "the scscf holds the new profile: tel:+15550001 barred" "tel:+15550001" "$(field '.barred[0]' "$reg")"

echo "-- (3) registrar.trust_integrity_protected"
alice_path=$(field '.contacts[0].path' "$reg")
alice_contact=$(field '.contacts[0].uri' "$reg")
alice_inst=$(field '.contacts[0].instance' "$reg")
printf 'SEQUENTIAL\nalice;alice@%s;%s;-;600;1\n' "$DOMAIN" "$DOMAIN" >"$WORKDIR/aclaim.csv"
timeout 20 sipp -sf "$SCEN/trust_register_claim.xml" -inf "$WORKDIR/aclaim.csv" -i 127.0.0.1 -p "$PA" \
  -t u1 -m 1 -timeout 15s -timeout_error -trace_msg -message_file "$WORKDIR/aclaim.msg" \
  "127.0.0.1:$PC_SIP" >/dev/null 2>&1
expect_eq "trust on: alice claims integrity-protected=\"yes\" herself through the pcscf: challenged (401)" 0 "$?"
out=$(raw_register 9 alice "alice@$DOMAIN" ', integrity-protected="yes"' "$alice_path" "$alice_contact" "$alice_inst")
expect_eq "trust on: a re-REGISTER with her Path marked \"yes\" (as the pcscf would): 200 without a challenge" \
  "SIP/2.0 200 OK" "$(status_of "$out")"
expect_match "... her binding refreshed (P-Associated-URI, Service-Route)" "^Service-Route: <sip:orig@127.0.0.1:$SC_SIP;lr" "$out"
out=$(raw_register 9 alice "alice@$DOMAIN" ', integrity-protected="yes"' "" "$alice_contact" "$alice_inst")
expect_eq "trust on: the same without a Path (no P-CSCF marked it): challenged" "SIP/2.0 401 Unauthorized" "$(status_of "$out")"
out=$(raw_register 9 mike "mike@$DOMAIN" ', integrity-protected="yes"' "<sip:term.0@127.0.0.1:$PC_SIP;lr>" "sip:mike@127.0.0.1:9")
expect_eq "trust on: a first REGISTER (nothing held) marked \"yes\": challenged" "SIP/2.0 401 Unauthorized" "$(status_of "$out")"
registrar_conf false true 0
expect_match "trust off: the reload applies registrar.trust_integrity_protected" \
  '"registrar.trust_integrity_protected"' "$(jq -c .applied <<<"$(reload)")"
out=$(raw_register 9 alice "alice@$DOMAIN" ', integrity-protected="yes"' "$alice_path" "$alice_contact" "$alice_inst")
expect_eq "trust off: the re-REGISTER with her Path marked \"yes\": challenged" "SIP/2.0 401 Unauthorized" "$(status_of "$out")"

echo "-- (3) registrar.allow_direct: false"
registrar_conf false false 0
expect_match "the reload applies registrar.allow_direct" '"registrar.allow_direct"' "$(jq -c .applied <<<"$(reload)")"
out=$(raw_register 9 mike "mike@$DOMAIN" "" "" "sip:mike@127.0.0.1:9")
expect_eq "a REGISTER straight at the scscf (no Path): 403 Register Through the P-CSCF" \
  "SIP/2.0 403 Register Through the P-CSCF" "$(status_of "$out")"
out=$(raw_register 9 mike "mike@$DOMAIN" "" "<sip:term.0@127.0.0.1:$PC_SIP;lr>" "sip:mike@127.0.0.1:9")
expect_eq "... with a Path: challenged as usual" "SIP/2.0 401 Unauthorized" "$(status_of "$out")"
register regb2 bob "$B_K" "$OP" "$PB" 2
expect_eq "... and bob re-registers through the pcscf" 0 "$?"

echo "-- (3) registrar.max_auth_failures"
registrar_conf false false 2
expect_match "the reload applies registrar.max_auth_failures 2" '"registrar.max_auth_failures"' \
  "$(jq -c .applied <<<"$(reload)")"
sar9() { grep -c "hss: SAR mike@$DOMAIN type 9 " "$WORKDIR/hss.log"; }
expect_eq "no SAR AUTHENTICATION_FAILURE for mike so far" 0 "$(sar9)"
printf 'SEQUENTIAL\nmike;mike@%s;%s;[authentication username=mike@%s password=wrong];600;5\n' \
  "$DOMAIN" "$DOMAIN" "$DOMAIN" >"$WORKDIR/mike.csv"
timeout 30 sipp -sf "$SCEN/trust_register_failures.xml" -inf "$WORKDIR/mike.csv" -i 127.0.0.1 -p "$PM" \
  -t u1 -m 1 -timeout 25s -timeout_error -auth_uri "$DOMAIN" -trace_msg -message_file "$WORKDIR/mike.msg" \
  "127.0.0.1:$PC_SIP" >/dev/null 2>&1
expect_eq "mike answers wrong three times: 401, 401 (re-challenged), 401 (re-challenged), then 403" 0 "$?"
nonces=$(tr -d '\r' <"$WORKDIR/mike.msg" | grep -o '^WWW-Authenticate: .*nonce="[^"]*"' | sed 's/.*nonce=//' | sort -u | wc -l)
expect_eq "... each challenge a fresh nonce" 3 "$nonces"
has_sar9() { [ "$(sar9)" = 1 ]; }
wait_for 5 has_sar9 && pass "... and the HSS got one SAR AUTHENTICATION_FAILURE (type 9) for mike" ||
  fail "... and the HSS got one SAR AUTHENTICATION_FAILURE (type 9) for mike" "$(sar9) in hss.log"
expect_match "the scscf counts three wrong answers" '^cscf_registrar_events_total\{program="scscf",event="auth_failure"\} 3$' \
  "$(sc /metrics)"
expect_eq "mike is not registered" 404 "$(http_code "http://127.0.0.1:$SC_API/api/v1/registrations/sip:mike@$DOMAIN")"

stop_clean pcscf scscf hss
finish
