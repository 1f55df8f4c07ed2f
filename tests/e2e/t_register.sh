#!/usr/bin/env bash
# IMS registration at the S-CSCF (ARCHITECTURE.md section 4), direct from SIPp as the handset (the
# P-CSCF in front comes with its part of the registration issue): AKAv1-MD5 computed by SIPp
# from K/OP (it checks AUTN's MAC), the 401 and 200 headers, the bindings in REST and at the
# HSS, deregistration, expiry, 423, unknown users, wrong keys, and the HSS going away.
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
SCEN="$E2E_DIR/scenarios"
DOMAIN=ims.mnc001.mcc001.3gppnetwork.org
ALICE=alice@$DOMAIN
ALICE_IMPU=sip:alice@$DOMAIN
ALICE_K=6162636465666768696a6b6c6d6e6f70
ALICE_OP=706f6e6d6c6b6a696867666564636261
TOKEN=s3cret
field() { jq -r "$1 // empty" <<<"$2"; }

# csv NAME USER IMPI K OP EXPIRES INSTANCE: a SIPp injection file for register_aka.xml.
csv() {
  printf 'SEQUENTIAL\n%s;%s;%s;[authentication username=%s aka_K=%s aka_OP=%s];%s;%s\n' \
    "$2" "$3" "$DOMAIN" "$3" "$4" "$5" "$6" "$7" >"$WORKDIR/$1.csv"
}

# register NAME CSV_NAME: one registration; SIPp's verdict in $?, messages in NAME.msg.
register() {
  local port
  port=$(free_port)
  timeout 20 sipp -sf "$SCEN/register_aka.xml" -inf "$WORKDIR/$2.csv" -i 127.0.0.1 -p "$port" \
    -t u1 -m 1 -timeout 15s -timeout_error -auth_uri "$DOMAIN" -trace_msg \
    -message_file "$WORKDIR/$1.msg" -trace_err -error_file "$WORKDIR/$1.err" \
    "127.0.0.1:$SC_SIP" >/dev/null 2>&1
}
msg_of() { # NAME STATUS: the first response with that status, headers only
  sed -n "/^SIP\\/2.0 $2/,/^\$/p" "$WORKDIR/$1.msg" | tr -d '\r'
}
# raw REGISTER without credentials: sipsend prints the whole answer
raw_register() { # USER EXPIRES
  local f="$WORKDIR/raw_$RANDOM.sip"
  printf 'REGISTER sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK%s\r\nMax-Forwards: 70\r\nFrom: <sip:%s@%s>;tag=1\r\nTo: <sip:%s@%s>\r\nCall-ID: %s@test\r\nCSeq: 1 REGISTER\r\nContact: <sip:%s@127.0.0.1:9>\r\nExpires: %s\r\nContent-Length: 0\r\n\r\n' \
    "$DOMAIN" "$RANDOM$RANDOM" "$1" "$DOMAIN" "$1" "$DOMAIN" "$RANDOM$RANDOM" "$1" "$2" >"$f"
  SIPSEND_WHOLE=1 sipsend -u 127.0.0.1 "$SC_SIP" "$f" 5000 | tr -d '\r'
}
api() { http_body "http://127.0.0.1:$SC_API$1" "${@:2}"; }
hss_state() { field .state.registration "$(http_body "http://127.0.0.1:$HSS_API/api/v1/subscribers/$1")"; }
hss_state_is() { [ "$(hss_state "$2")" = "$1" ]; } # STATE IMPI, for wait_for
# msum PORT PREFIX: the sum of the /metrics series whose text starts with PREFIX (0 for none).
msum() { http_body "http://127.0.0.1:$1/metrics" | awk -v p="$2" 'index($1, p) == 1 {s += $2} END {print s + 0}'; }
metrics_match() { api /metrics | grep -Eq -- "$1"; } # REGEX, for wait_for

start_hss hss HSS_API_TOKEN=$TOKEN || { finish; exit 1; }
SC_SIP=$(free_port) SC_API=$(free_port)
mapfile -t diam < <(scscf_diameter_env)
start_prog scscf "$BUILD/scscf" "$REPO_DIR/config/scscf.yaml" SCSCF_SIP_LISTEN="127.0.0.1:$SC_SIP" \
  SCSCF_API_LISTEN="127.0.0.1:$SC_API" SCSCF_API_TOKEN=$TOKEN SCSCF_REGISTRAR_MIN_EXPIRES=2 \
  SCSCF_DIAMETER_REQUEST_TIMEOUT_MS=1500 "${diam[@]}" || { finish; exit 1; }
wait_http "127.0.0.1:$SC_API" /readyz 200 10 || fail "scscf ready"

echo "-- AKAv1-MD5 registration"
csv alice alice "$ALICE" abcdefghijklmnop ponmlkjihgfedcba 600 1
register reg1 alice
expect_eq "SIPp (its own AKA, AUTN MAC checked) completes REGISTER/401/REGISTER/200" 0 "$?"
c401=$(msg_of reg1 401)
expect_match "401 challenges with AKAv1-MD5, qop auth" '^WWW-Authenticate: Digest realm="'"$DOMAIN"'", nonce="[A-Za-z0-9+/=]{44}", algorithm=AKAv1-MD5, qop="auth"' "$c401"
expect_match "... carrying ck and ik for the P-CSCF" 'ck="[0-9a-f]{32}", ik="[0-9a-f]{32}"' "$c401"
ok=$(msg_of reg1 200)
expect_match "200 lists the contact with its expiry" "^Contact: <sip:alice@127.0.0.1:[0-9]+;transport=UDP>;\\+sip.instance=\"<urn:gsma:imei:35000000-000000-1>\";.*expires=(600|599)" "$ok"
expect_match "200 has P-Associated-URI with the implicit set" "^P-Associated-URI: <$ALICE_IMPU>, <tel:\\+15550001>" "$ok"
expect_match "200 has Service-Route to this S-CSCF with orig" "^Service-Route: <sip:orig@127.0.0.1:$SC_SIP;lr>" "$ok"
regs=$(api /api/v1/registrations)
expect_eq "REST lists one registration" 1 "$(field .total "$regs")"
one=$(api "/api/v1/registrations/$ALICE_IMPU")
expect_eq "... alice's, by IMPU" "$ALICE" "$(field .impi "$one")"
expect_eq "... by the tel: IMPU of the set too" "$ALICE" "$(field .impi "$(api "/api/v1/registrations/tel:+15550001")")"
expect_eq "... with the scheme" AKAv1-MD5 "$(field .scheme "$one")"
expect_eq "... the instance" '"<urn:gsma:imei:35000000-000000-1>"' "$(field '.contacts[0].instance' "$one")"
expect_eq "... the user agent" "SIPp handset" "$(field '.contacts[0].user_agent' "$one")"
expect_match "... and the seconds left" '^(59[0-9]|600)$' "$(field '.contacts[0].expires' "$one")"
expect_eq "the HSS has alice registered" registered "$(hss_state "$ALICE")"
wait_for 5 metrics_match '^cscf_registrations_active\{program="scscf"\} 1$'
m=$(api /metrics)
expect_match "cscf_registrations_active 1" '^cscf_registrations_active\{program="scscf"\} 1$' "$m"
expect_match "cscf_auth_total counts the success" '^cscf_auth_total\{program="scscf",scheme="AKAv1-MD5",outcome="success"\} 1' "$m"
expect_match "cscf_registrar_events_total counts a new registration" '^cscf_registrar_events_total\{program="scscf",event="new"\} 1' "$m"

echo "-- re-registration and a second contact"
register reg2 alice
expect_eq "re-REGISTER (challenged again) completes" 0 "$?"
expect_eq "... still one contact" 1 "$(field '.contacts | length' "$(api "/api/v1/registrations/$ALICE_IMPU")")"
csv alice2 alice "$ALICE" abcdefghijklmnop ponmlkjihgfedcba 600 2
register reg3 alice2
expect_eq "a second device (another +sip.instance) registers" 0 "$?"
ok=$(msg_of reg3 200)
expect_eq "... the 200 lists both contacts" 2 "$(grep -c '^Contact: ' <<<"$ok")"
expect_eq "... REST shows two contacts" 2 "$(field '.contacts | length' "$(api "/api/v1/registrations/$ALICE_IMPU")")"

echo "-- deregistration"
csv alice2_off alice "$ALICE" abcdefghijklmnop ponmlkjihgfedcba 0 2
register dereg1 alice2_off
expect_eq "Expires 0 for one contact completes" 0 "$?"
expect_eq "... one contact left" 1 "$(field '.contacts | length' "$(api "/api/v1/registrations/$ALICE_IMPU")")"
csv alice_off alice "$ALICE" abcdefghijklmnop ponmlkjihgfedcba 0 1
register dereg2 alice_off
expect_eq "Expires 0 for the last contact completes" 0 "$?"
expect_no_match "... the 200 lists no contact" '^Contact:' "$(msg_of dereg2 200)"
expect_eq "... the registration is gone" 404 "$(http_code "http://127.0.0.1:$SC_API/api/v1/registrations/$ALICE_IMPU")"
expect_eq "... and the HSS holds no S-CSCF for alice (SAR USER_DEREGISTRATION)" not_registered "$(hss_state "$ALICE")"

echo "-- expiry, 423"
out=$(raw_register alice 1)
expect_match "Expires below registrar.min_expires: 423" '^SIP/2.0 423' "$out"
expect_match "... with Min-Expires" '^Min-Expires: 2' "$out"
csv alice_short alice "$ALICE" abcdefghijklmnop ponmlkjihgfedcba 2 1
register short alice_short
expect_eq "a 2-second registration" 0 "$?"
expect_eq "... is there at first" 200 "$(http_code "http://127.0.0.1:$SC_API/api/v1/registrations/$ALICE_IMPU")"
if wait_http "127.0.0.1:$SC_API" "/api/v1/registrations/$ALICE_IMPU" 404 10; then pass "... expires by itself"
else fail "... expires by itself" "still there 10 s later"; fi
wait_for 5 hss_state_is not_registered "$ALICE"
expect_eq "... and the HSS was told (SAR TIMEOUT_DEREGISTRATION)" not_registered "$(hss_state "$ALICE")"

echo "-- refusals"
out=$(raw_register nobody 600)
expect_match "unknown user: 403" '^SIP/2.0 403' "$out"
# The handset's K differs from the HSS's: the AUTN's MAC does not verify, so SIPp must stop
# after the 401 without answering it; the scscf then never sees a second REGISTER and never
# sends the SAR that would register alice.
csv alice_badk alice "$ALICE" abcdefghijklmnoX ponmlkjihgfedcba 600 1
sc_regs=$(msum "$SC_API" 'cscf_sip_requests_total{program="scscf",method="REGISTER"}')
hss_sars=$(msum "$HSS_API" 'cscf_diameter_requests_total{program="hss",command="SAR",')
expect_match "(the HSS's SAR counter is read: the registrations so far made some)" '^[1-9]' "$hss_sars"
register badk alice_badk
rc=$?
expect_eq "wrong K in SIPp: SIPp fails" 1 "$([ $rc -ne 0 ] && echo 1 || echo 0)"
expect_match "... because it refused the AUTN (MAC mismatch in its error log)" \
  'createAuthHeaderAKAv1MD5 : MAC != eXpectedMAC' "$(cat "$WORKDIR/badk.err" 2>/dev/null)"
expect_match "... after the 401 AKA challenge" '^WWW-Authenticate: Digest .*algorithm=AKAv1-MD5' "$(msg_of badk 401)"
# (CSeq 2 is the answer to the challenge; a retransmission of the first one keeps CSeq 1.)
expect_eq "... and sent no second REGISTER" 0 "$(grep -c '^CSeq: 2 REGISTER' "$WORKDIR/badk.msg" 2>/dev/null)"
expect_eq "the scscf received that one REGISTER only" $((sc_regs + 1)) \
  "$(msum "$SC_API" 'cscf_sip_requests_total{program="scscf",method="REGISTER"}')"
expect_eq "... sent the HSS no SAR" "$hss_sars" "$(msum "$HSS_API" 'cscf_diameter_requests_total{program="hss",command="SAR",')"
expect_eq "... so at the HSS alice is left authenticating (MAR), not registered" authentication_pending "$(hss_state "$ALICE")"
expect_eq "... and the scscf lists no registration" 0 "$(field .total "$(api /api/v1/registrations)")"
expect_eq "... none for alice" 404 "$(http_code "http://127.0.0.1:$SC_API/api/v1/registrations/$ALICE_IMPU")"

echo "-- MD5 digest, AKAv2-MD5, wrong RES, resynchronisation"
printf 'SEQUENTIAL\nalice;%s;%s;[authentication username=%s password=alicepass];600;3\n' \
  "$ALICE" "$DOMAIN" "$ALICE" >"$WORKDIR/md5.csv"
port=$(free_port)
timeout 20 sipp -sf "$SCEN/register_md5.xml" -inf "$WORKDIR/md5.csv" -i 127.0.0.1 -p "$port" -t u1 \
  -m 1 -timeout 15s -timeout_error -auth_uri "$DOMAIN" -trace_msg -message_file "$WORKDIR/md5.msg" \
  "127.0.0.1:$SC_SIP" >/dev/null 2>&1
expect_eq "MD5 digest registration (SIPp's digest from the password) completes" 0 "$?"
expect_match "... challenged with algorithm=MD5 and no ck/ik" '^WWW-Authenticate: Digest realm="[^"]+", nonce="[0-9a-f]{48}", algorithm=MD5, qop="auth"$' "$(msg_of md5 401)"
expect_eq "... REST shows the MD5 scheme" MD5 "$(field .scheme "$(api "/api/v1/registrations/$ALICE_IMPU")")"
sed 's/<recv response="200"\/>/<recv response="403"\/>/' "$SCEN/register_md5.xml" >"$WORKDIR/register_md5_403.xml"
sed 's/password=alicepass/password=wrong/' "$WORKDIR/md5.csv" >"$WORKDIR/md5bad.csv"
timeout 20 sipp -sf "$WORKDIR/register_md5_403.xml" -inf "$WORKDIR/md5bad.csv" -i 127.0.0.1 -p "$(free_port)" \
  -t u1 -m 1 -timeout 15s -timeout_error -auth_uri "$DOMAIN" "127.0.0.1:$SC_SIP" >/dev/null 2>&1
expect_eq "a wrong MD5 password: 403 at once" 0 "$?"
UE=("$BUILD/tools/akaue" 127.0.0.1 "$SC_SIP" --impi "$ALICE" --impu "$ALICE_IMPU" --k "$ALICE_K" --op "$ALICE_OP")
out=$("${UE[@]}" --alg AKAv2-MD5 2>&1)
expect_eq "AKAv2-MD5 registration (our test handset) completes" 0 "$?"
expect_eq "... REST shows AKAv2-MD5" AKAv2-MD5 "$(field .scheme "$(api "/api/v1/registrations/$ALICE_IMPU")")"
out=$("${UE[@]}" --wrong 2>&1)
expect_eq "right AUTN but a wrong RES: refused" 1 "$?"
expect_match "... with 403" '^SIP/2.0 403' "$(tail -1 <<<"$out")"
before=$(field .sqn "$(http_body "http://127.0.0.1:$HSS_API/api/v1/subscribers/$ALICE")")
out=$("${UE[@]}" --sqn-ms 000000ffff00 2>&1)
expect_eq "a USIM ahead of the HSS (SQN_MS 000000ffff00) still registers" 0 "$?"
expect_match "... after answering the first challenge with auts" '^SYNC FAILURE' "$out"
expect_eq "... then a fresh 401 and the 200" "SIP/2.0 401 Unauthorized,SIP/2.0 401 Unauthorized,SIP/2.0 200 OK" \
  "$(grep '^SIP/2.0' <<<"$out" | tr -d '\r' | paste -sd,)"
after=$(field .sqn "$(http_body "http://127.0.0.1:$HSS_API/api/v1/subscribers/$ALICE")")
[ $((16#$after)) -gt $((16#000000ffff00)) ] && pass "... and the HSS continues after SQN_MS ($before -> $after)" \
  || fail "... and the HSS continues after SQN_MS" "$before -> $after"
"${UE[@]}" --expires 0 >/dev/null 2>&1
expect_eq "deregistered again" 404 "$(http_code "http://127.0.0.1:$SC_API/api/v1/registrations/$ALICE_IMPU")"

echo "-- HSS away"
kill -STOP "${PIDS[hss]}"
start=$(date +%s%N)
out=$(raw_register alice 600)
ms=$((($(date +%s%N) - start) / 1000000))
kill -CONT "${PIDS[hss]}"
expect_match "REGISTER while the HSS hangs: 504" '^SIP/2.0 504' "$out"
if [ "$ms" -ge 1400 ] && [ "$ms" -le 3500 ]; then pass "... after diameter.request_timeout_ms (${ms} ms)"
else fail "... after diameter.request_timeout_ms" "${ms} ms"; fi
stop_prog hss KILL
out=$(raw_register alice 600)
expect_match "REGISTER while the HSS is down: 504" '^SIP/2.0 504' "$out"
start_prog hss "$BUILD/hss" "$REPO_DIR/config/hss.yaml" HSS_DIAMETER_LISTEN="127.0.0.1:$HSS_DIAM" \
  HSS_API_LISTEN="127.0.0.1:$HSS_API" HSS_SUBSCRIBERS_FILE="$REPO_DIR/config/subscribers.yaml" \
  HSS_SUBSCRIBERS_DATABASE="$WORKDIR/hss.db" HSS_API_TOKEN=$TOKEN HSS_AUTH_SIPP_COMPAT=true
wait_http "127.0.0.1:$SC_API" /readyz 200 20 || fail "scscf ready again"
register back alice
expect_eq "after the HSS restarts, a REGISTER succeeds" 0 "$?"

echo "-- RTR"
out=$(curl -s -m 10 -H "Authorization: Bearer $TOKEN" -X POST "http://127.0.0.1:$HSS_API/api/v1/subscribers/$ALICE/deregister")
expect_eq "HSS deregister: RTA DIAMETER_SUCCESS" DIAMETER_SUCCESS "$(field .rtr.result "$out")"
expect_eq "... the scscf dropped the registration" 404 "$(http_code "http://127.0.0.1:$SC_API/api/v1/registrations/$ALICE_IMPU")"
register back2 alice
expect_eq "alice registers again" 0 "$?"

echo "-- admin deregistration"
out=$(curl -s -m 5 -H "Authorization: Bearer $TOKEN" -X DELETE "http://127.0.0.1:$SC_API/api/v1/registrations/$ALICE_IMPU")
expect_match "DELETE /api/v1/registrations/{impu}" '"deregistered":true' "$out"
expect_eq "... gone" 404 "$(http_code "http://127.0.0.1:$SC_API/api/v1/registrations/$ALICE_IMPU")"
wait_for 5 hss_state_is not_registered "$ALICE"
expect_eq "... and the HSS was told" not_registered "$(hss_state "$ALICE")"

echo "-- through the P-CSCF (handset -> pcscf -> scscf -> hss)"
PC_SIP=$(free_port) PC_API=$(free_port)
start_prog pcscf "$BUILD/pcscf" "$REPO_DIR/config/pcscf.yaml" PCSCF_SIP_LISTEN="127.0.0.1:$PC_SIP" \
  PCSCF_API_LISTEN="127.0.0.1:$PC_API" PCSCF_PCSCF_REGISTRAR="sip:127.0.0.1:$SC_SIP;lr"
csv bob bob "bob@$DOMAIN" bobbobbobbobbob1 ponmlkjihgfedcba 600 7
port=$(free_port)
timeout 20 sipp -sf "$SCEN/register_aka.xml" -inf "$WORKDIR/bob.csv" -i 127.0.0.1 -p "$port" \
  -t u1 -m 1 -timeout 15s -timeout_error -auth_uri "$DOMAIN" -trace_msg \
  -message_file "$WORKDIR/viapc.msg" "127.0.0.1:$PC_SIP" >/dev/null 2>&1
expect_eq "AKAv1-MD5 registration through the P-CSCF completes" 0 "$?"
expect_no_match "the 401 reaching the handset has no ck/ik" '[ ,](ck|ik)="' "$(msg_of viapc 401)"
ok=$(msg_of viapc 200)
expect_match "the 200 reaching the handset has P-Associated-URI" "^P-Associated-URI: <sip:bob@$DOMAIN>, <tel:\\+15550002>" "$ok"
expect_match "... Service-Route" "^Service-Route: <sip:orig@127.0.0.1:$SC_SIP;lr>" "$ok"
expect_match "... and the P-CSCF's Path echoed" "^Path: <sip:term\\.[0-9a-f]{16}@127.0.0.1:$PC_SIP;lr>" "$ok"
one=$(api "/api/v1/registrations/sip:bob@$DOMAIN")
expect_match "the scscf stored the Path to the P-CSCF" "term\\.[0-9a-f]{16}@127.0.0.1:$PC_SIP" "$(field '.contacts[0].path' "$one")"
pc=$(http_body "http://127.0.0.1:$PC_API/api/v1/registrations")
expect_eq "the pcscf lists the binding for the handset's flow" "udp:127.0.0.1:$port" "$(field '.registrations[0].flow' "$pc")"
expect_eq "... with the S-CSCF's Service-Route" "<sip:orig@127.0.0.1:$SC_SIP;lr>" "$(field '.registrations[0].service_route' "$pc")"
csv bob_off bob "bob@$DOMAIN" bobbobbobbobbob1 ponmlkjihgfedcba 0 7
timeout 20 sipp -sf "$SCEN/register_aka.xml" -inf "$WORKDIR/bob_off.csv" -i 127.0.0.1 -p "$port" \
  -t u1 -m 1 -timeout 15s -timeout_error -auth_uri "$DOMAIN" "127.0.0.1:$PC_SIP" >/dev/null 2>&1
expect_eq "deregistration (Expires 0) through the P-CSCF completes" 0 "$?"
expect_eq "... the pcscf dropped the binding" 0 "$(field .total "$(http_body "http://127.0.0.1:$PC_API/api/v1/registrations")")"
expect_eq "... and so did the scscf" 404 "$(http_code "http://127.0.0.1:$SC_API/api/v1/registrations/sip:bob@$DOMAIN")"
stop_prog pcscf
expect_clean_log "pcscf: no sanitizer report" pcscf

stop_prog scscf
expect_eq "scscf exits 0" 0 "$LAST_EXIT"
stop_prog hss
for p in scscf hss; do expect_clean_log "$p: no sanitizer report" "$p"; done
finish
