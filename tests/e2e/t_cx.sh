#!/usr/bin/env bash
# Diameter Cx end to end: the lab HSS and the scscf over real freeDiameter on loopback. The
# scscf's Cx client is driven through its REST debug route (POST /api/v1/cx/{command}); every
# answer is checked, vectors against an independent Milenage computation (build/hss vector),
# and the exchange is captured with tshark and must decode cleanly. Then: RTR and PPR from
# the HSS's REST API, and the peer recovering from an HSS restart without losing SQN or
# assignment.
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
TOKEN=s3cret
AUTH=(-H "Authorization: Bearer $TOKEN")
DOMAIN=ims.mnc001.mcc001.3gppnetwork.org
ALICE=alice@$DOMAIN
ALICE_IMPU=sip:alice@$DOMAIN
BOB=bob@$DOMAIN
ALICE_K=6162636465666768696a6b6c6d6e6f70
ALICE_OP=706f6e6d6c6b6a696867666564636261

cx() { # command json -> the scscf's answer JSON
  curl -s -m 10 "${AUTH[@]}" -X POST "http://127.0.0.1:$SC_API/api/v1/cx/$1" -d "$2"
}
field() { jq -r "$1 // empty" <<<"$2"; }
hss_sqn() { field .sqn "$(http_body "http://127.0.0.1:$HSS_API/api/v1/subscribers/$1")"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); } # monotonic enough here: nothing sets the clock
# Cx requests time out after this long (diameter.request_timeout_ms): long enough that a request
# which fails fast is told apart from one that waits for the timeout on a loaded machine.
CX_TIMEOUT_MS=4000

start_scscf() {
  SC_API=${SC_API:-$(free_port)}
  SC_SIP=${SC_SIP:-$(free_port)}
  mapfile -t diam < <(scscf_diameter_env)
  start_prog scscf "$BUILD/scscf" "$REPO_DIR/config/scscf.yaml" SCSCF_SIP_LISTEN="127.0.0.1:$SC_SIP" \
    SCSCF_API_LISTEN="127.0.0.1:$SC_API" SCSCF_API_TOKEN=$TOKEN \
    SCSCF_DIAMETER_REQUEST_TIMEOUT_MS=$CX_TIMEOUT_MS "${diam[@]}"
}

echo "-- subscriber file checks"
printf 'subscribers:\n  - impi: x@y\n    impus: [sip:x@y]\n    k: 00112233\n    op: 00112233445566778899aabbccddeeff\n' >"$WORKDIR/bad_subs.yaml"
out=$(HSS_SUBSCRIBERS_FILE="$WORKDIR/bad_subs.yaml" "$BUILD/hss" -c "$REPO_DIR/config/hss.yaml" --check 2>&1)
expect_eq "a bad K in the subscriber file exits 2" 2 "$?"
expect_match "... naming the file, line, entry and field" 'bad_subs.yaml:4: subscribers\[0\] \(impi x@y\): k' "$out"
out=$(HSS_SUBSCRIBERS_DATABASE= "$BUILD/hss" -c "$REPO_DIR/config/hss.yaml" --check 2>&1)
expect_eq "the example hss config and subscribers pass --check" 0 "$?"

echo "-- peer"
start_hss hss HSS_API_TOKEN=$TOKEN || { finish; exit 1; }
CAP="$WORKDIR/cx.pcap"
tshark -q -i lo -f "tcp port $HSS_DIAM" -w "$CAP" >"$WORKDIR/tshark.log" 2>&1 &
TSHARK=$!
wait_for 30 grep -q Capturing "$WORKDIR/tshark.log" || fail "tshark captures on lo" "$(cat "$WORKDIR/tshark.log")"
start_scscf || { finish; exit 1; }
if wait_http "127.0.0.1:$SC_API" /readyz 200 10; then pass "scscf /readyz 200 once the Cx peer is open"
else fail "scscf /readyz 200 once the Cx peer is open" "$(http_body "http://127.0.0.1:$SC_API/readyz")"; fi
peers=$(http_body "http://127.0.0.1:$SC_API/api/v1/diameter/peers")
expect_eq "the HSS peer is STATE_OPEN" STATE_OPEN "$(field '.peers[0].state' "$peers")"
expect_match "cscf_diameter_peer_up is 1" "^cscf_diameter_peer_up\\{program=\"scscf\",peer=\"$HSS_ID\"\\} 1" \
  "$(http_body "http://127.0.0.1:$SC_API/metrics")"
expect_eq "the debug route wants the token" 401 \
  "$(http_code "http://127.0.0.1:$SC_API/api/v1/cx/mar" -X POST -d '{}')"

echo "-- MAR"
a=$(cx mar "{\"impi\":\"$ALICE\",\"impu\":\"$ALICE_IMPU\"}")
expect_eq "AKAv1 MAR: DIAMETER_SUCCESS" 2001 "$(field .answer.result_code "$a")"
expect_eq "... one vector" 1 "$(field '.answer.items | length' "$a")"
expect_eq "... scheme" Digest-AKAv1-MD5 "$(field '.answer.items[0].scheme' "$a")"
authn=$(field '.answer.items[0].authenticate' "$a")
rand=${authn:0:32}
sqn=$(hss_sqn "$ALICE")
ref=$("$BUILD/hss" vector --k $ALICE_K --op $ALICE_OP --rand "$rand" --sqn "$sqn" --amf 0000 --sqn-ms 000000100000)
expect_eq "... SIP-Authenticate = RAND || AUTN of an independent Milenage at the HSS's SQN" \
  "$rand$(field .autn "$ref")" "$authn"
expect_eq "... SIP-Authorization = XRES" "$(field .xres "$ref")" "$(field '.answer.items[0].authorization' "$a")"
expect_eq "... Confidentiality-Key = CK" "$(field .ck "$ref")" "$(field '.answer.items[0].ck' "$a")"
expect_eq "... Integrity-Key = IK" "$(field .ik "$ref")" "$(field '.answer.items[0].ik' "$a")"
a=$(cx mar "{\"impi\":\"$ALICE\",\"impu\":\"$ALICE_IMPU\",\"items\":3}")
expect_eq "MAR for 3 items gets 3 vectors" 3 "$(field '.answer.items | length' "$a")"
r1=$(field '.answer.items[0].authenticate' "$a")
r2=$(field '.answer.items[1].authenticate' "$a")
[ "$r1" != "$r2" ] && pass "... each vector fresh" || fail "... each vector fresh"
sqn2=$(hss_sqn "$ALICE")
[ $((16#$sqn2)) -gt $((16#$sqn)) ] && pass "SQN moves forward ($sqn -> $sqn2)" || fail "SQN moves forward" "$sqn -> $sqn2"

a=$(cx mar "{\"impi\":\"$ALICE\",\"impu\":\"$ALICE_IMPU\",\"scheme\":\"SIP Digest\"}")
ha1=$(printf '%s' "$ALICE:$DOMAIN:alicepass" | md5sum | cut -d' ' -f1)
expect_eq "MD5 MAR: Digest-HA1 = MD5(impi:realm:password)" "$ha1" "$(field '.answer.items[0].digest_ha1' "$a")"
expect_eq "... Digest-Realm" "$DOMAIN" "$(field '.answer.items[0].digest_realm' "$a")"
a=$(cx mar "{\"impi\":\"$BOB\",\"impu\":\"sip:bob@$DOMAIN\",\"scheme\":\"SIP Digest\"}")
expect_eq "a scheme the subscriber may not use: 5006" 5006 "$(field .answer.experimental_result "$a")"
a=$(cx mar "{\"impi\":\"nobody@$DOMAIN\",\"impu\":\"sip:nobody@$DOMAIN\"}")
expect_eq "unknown IMPI: DIAMETER_ERROR_USER_UNKNOWN" 5001 "$(field .answer.experimental_result "$a")"
a=$(cx mar "{\"impi\":\"$ALICE\",\"impu\":\"sip:bob@$DOMAIN\"}")
expect_eq "IMPI/IMPU mismatch: DIAMETER_ERROR_IDENTITIES_DONT_MATCH" 5002 "$(field .answer.experimental_result "$a")"

echo "-- resynchronisation"
before=$(hss_sqn "$ALICE")
# MAC-S is AUTS's last 8 bytes: its last bit flipped. (Setting the last byte to ff passed a
# valid AUTS on when it ended in ff already, one run in 256.)
good_auts=$(field .auts "$ref")
bad_auts=${good_auts%??}$(printf '%02x' $((16#${good_auts: -2} ^ 1)))
a=$(cx mar "{\"impi\":\"$ALICE\",\"impu\":\"$ALICE_IMPU\",\"authorization\":\"$rand$bad_auts\"}")
expect_eq "AUTS with a wrong MAC-S: an error result" 5003 "$(field .answer.result_code "$a")"
expect_eq "... and the SQN is untouched" "$before" "$(hss_sqn "$ALICE")"
a=$(cx mar "{\"impi\":\"$ALICE\",\"impu\":\"$ALICE_IMPU\",\"authorization\":\"$rand$(field .auts "$ref")\"}")
expect_eq "AUTS from a handset at SQN_MS 000000100000: a fresh vector" 2001 "$(field .answer.result_code "$a")"
after=$(hss_sqn "$ALICE")
[ $((16#$after)) -gt $((16#000000100000)) ] && pass "... the SQN continues after SQN_MS ($after)" \
  || fail "... the SQN continues after SQN_MS" "$after"
rand3=$(field '.answer.items[0].authenticate' "$a" | cut -c1-32)
ref3=$("$BUILD/hss" vector --k $ALICE_K --op $ALICE_OP --rand "$rand3" --sqn "$after" --amf 0000)
expect_eq "... and its AUTN carries that SQN" "$rand3$(field .autn "$ref3")" "$(field '.answer.items[0].authenticate' "$a")"

echo "-- SAR, UAR, LIR"
a=$(cx sar "{\"impi\":\"$ALICE\",\"impu\":\"$ALICE_IMPU\",\"assignment_type\":\"registration\"}")
expect_eq "SAR REGISTRATION: DIAMETER_SUCCESS" 2001 "$(field .answer.result_code "$a")"
ud=$(field .answer.user_data "$a")
expect_match "... User-Data names the private identity" "<PrivateID>$ALICE</PrivateID>" "$ud"
expect_match "... and the implicit set" "<Identity>tel:\\+15550001</Identity>" "$ud"
expect_match "... and the iFC" "<ServerName>sip:ipsmgw.$DOMAIN:5070</ServerName>" "$ud"
expect_match "... Charging-Information" 'aaa://' "$(field .answer.charging.primary_ccf "$a")"
st=$(http_body "http://127.0.0.1:$HSS_API/api/v1/subscribers/$ALICE")
expect_eq "the HSS records the S-CSCF" "sip:127.0.0.1:$SC_SIP" "$(field .state.scscf "$st")"
a=$(cx sar "{\"impi\":\"$ALICE\",\"impu\":\"$ALICE_IMPU\",\"assignment_type\":\"re_registration\",\"user_data_already_available\":true}")
expect_eq "SAR RE_REGISTRATION with the profile cached: no User-Data" "" "$(field .answer.user_data "$a")"
a=$(cx uar "{\"impi\":\"$ALICE\",\"impu\":\"$ALICE_IMPU\"}")
expect_eq "UAR for a registered user: DIAMETER_SUBSEQUENT_REGISTRATION" 2002 "$(field .answer.experimental_result "$a")"
expect_eq "... with the assigned Server-Name" "sip:127.0.0.1:$SC_SIP" "$(field .answer.server_name "$a")"
a=$(cx uar "{\"impi\":\"$BOB\",\"impu\":\"sip:bob@$DOMAIN\"}")
expect_eq "UAR for an unassigned user: DIAMETER_FIRST_REGISTRATION" 2001 "$(field .answer.experimental_result "$a")"
expect_match "... with Server-Capabilities" 'sip:' "$(field '.answer.server_capabilities.server_names[0]' "$a")"
a=$(cx uar "{\"impi\":\"nobody@$DOMAIN\",\"impu\":\"sip:nobody@$DOMAIN\"}")
expect_eq "UAR unknown user: 5001" 5001 "$(field .answer.experimental_result "$a")"
a=$(cx uar "{\"impi\":\"$BOB\",\"impu\":\"$ALICE_IMPU\"}")
expect_eq "UAR IMPI/IMPU mismatch: 5002" 5002 "$(field .answer.experimental_result "$a")"
a=$(cx lir '{"impu":"tel:+15550001"}')
expect_eq "LIR for a registered tel: IMPU: DIAMETER_SUCCESS" 2001 "$(field .answer.result_code "$a")"
expect_eq "... with the S-CSCF" "sip:127.0.0.1:$SC_SIP" "$(field .answer.server_name "$a")"
a=$(cx lir "{\"impu\":\"sip:bob@$DOMAIN\"}")
expect_eq "LIR for an unregistered user: DIAMETER_ERROR_IDENTITY_NOT_REGISTERED" 5003 "$(field .answer.experimental_result "$a")"
a=$(cx lir '{"impu":"sip:nobody@nowhere"}')
expect_eq "LIR unknown: 5001" 5001 "$(field .answer.experimental_result "$a")"
a=$(cx sar "{\"impi\":\"$ALICE\",\"impu\":\"$ALICE_IMPU\",\"assignment_type\":\"user_deregistration\"}")
expect_eq "SAR USER_DEREGISTRATION: DIAMETER_SUCCESS" 2001 "$(field .answer.result_code "$a")"
st=$(http_body "http://127.0.0.1:$HSS_API/api/v1/subscribers/$ALICE")
expect_eq "... clears the assignment" not_registered "$(field .state.registration "$st")"

echo "-- RTR and PPR from the HSS"
cx sar "{\"impi\":\"$ALICE\",\"impu\":\"$ALICE_IMPU\",\"assignment_type\":\"registration\"}" >/dev/null
out=$(curl -s -m 10 "${AUTH[@]}" -X POST "http://127.0.0.1:$HSS_API/api/v1/subscribers/$ALICE/deregister")
expect_eq "hss /deregister: the scscf answers the RTR with DIAMETER_SUCCESS" DIAMETER_SUCCESS "$(field .rtr.result "$out")"
expect_match "... the RTR reached the scscf's loop" "RTR from $HSS_ID: user $ALICE, 2 public identities" "$(cat "$WORKDIR/scscf.log")"
expect_match "... and its metrics" '^cscf_diameter_requests_total\{program="scscf",command="RTR",result="2001"\} 1' \
  "$(http_body "http://127.0.0.1:$SC_API/metrics")"
st=$(http_body "http://127.0.0.1:$HSS_API/api/v1/subscribers/$ALICE")
expect_eq "... and the HSS let go of the assignment" not_registered "$(field .state.registration "$st")"
expect_eq "deregister with no S-CSCF assigned: 409" 409 \
  "$(http_code "http://127.0.0.1:$HSS_API/api/v1/subscribers/$ALICE/deregister" "${AUTH[@]}" -X POST)"
cx sar "{\"impi\":\"$ALICE\",\"impu\":\"$ALICE_IMPU\",\"assignment_type\":\"registration\"}" >/dev/null
body="{\"impus\":[\"$ALICE_IMPU\",\"tel:+15550001\"],\"k\":\"$ALICE_K\",\"op\":\"$ALICE_OP\",\"amf\":\"0000\",\"auth_schemes\":[\"AKAv1-MD5\"],\"ifc\":[{\"priority\":1,\"triggers\":[{\"method\":\"INVITE\"}],\"as\":\"sip:tas.$DOMAIN\"}]}"
out=$(curl -s -m 10 "${AUTH[@]}" -X PUT "http://127.0.0.1:$HSS_API/api/v1/subscribers/$ALICE" -d "$body")
# The hand-made SAR assigned alice, but the scscf holds no registration of hers to change.
expect_eq "a profile change over REST sends PPR; no registration here: DIAMETER_ERROR_USER_UNKNOWN" \
  DIAMETER_ERROR_USER_UNKNOWN "$(field .ppr.result "$out")"
expect_match "... the PPR reached the scscf" "PPR from $HSS_ID: user $ALICE" "$(cat "$WORKDIR/scscf.log")"
expect_eq "... keys are never returned" "" "$(field .subscriber.k "$out")$(field .subscriber.op "$out")"

echo "-- subscriber REST"
H="http://127.0.0.1:$HSS_API/api/v1/subscribers"
carol="{\"impi\":\"carol@$DOMAIN\",\"impus\":[\"sip:carol@$DOMAIN\"],\"k\":\"$ALICE_K\",\"opc\":\"$ALICE_OP\"}"
expect_eq "POST without the token: 401" 401 "$(http_code "$H" -X POST -d "$carol")"
expect_eq "POST a new subscriber: 201" 201 "$(http_code "$H" "${AUTH[@]}" -X POST -d "$carol")"
expect_eq "POST it again: 409" 409 "$(http_code "$H" "${AUTH[@]}" -X POST -d "$carol")"
dup="{\"impi\":\"dave@$DOMAIN\",\"impus\":[\"sip:carol@$DOMAIN\"],\"k\":\"$ALICE_K\",\"op\":\"$ALICE_OP\"}"
expect_eq "POST with another subscriber's IMPU: 409" 409 "$(http_code "$H" "${AUTH[@]}" -X POST -d "$dup")"
out=$(curl -s -m 5 "${AUTH[@]}" -X POST "$H" -d "{\"impi\":\"x@y\",\"impus\":[\"sip:x@y\"],\"k\":\"zz\",\"op\":\"$ALICE_OP\"}")
expect_match "bad hex: 400 naming the field" '"status":400.*"detail":"k: ' "$out"
out=$(curl -s -m 5 "${AUTH[@]}" -X POST "$H" -d "{\"impi\":\"x@y\",\"impus\":[\"sip:x@y\"],\"k\":\"$ALICE_K\",\"op\":\"$ALICE_OP\",\"colour\":1}")
expect_match "unknown field: 400 naming it" '"detail":"colour: ' "$out"
expect_eq "malformed JSON: 400" 400 "$(http_code "$H" "${AUTH[@]}" -X POST -d '{')"
list=$(http_body "$H")
expect_eq "GET lists three subscribers" 3 "$(field .count "$list")"
expect_no_match "... and never a key" '"(k|op|opc|password)":' "$list"
expect_eq "GET one" "sip:carol@$DOMAIN" "$(field '.impus[0]' "$(http_body "$H/carol@$DOMAIN")")"
expect_eq "DELETE: 200" 200 "$(http_code "$H/carol@$DOMAIN" "${AUTH[@]}" -X DELETE)"
expect_eq "... then GET: 404" 404 "$(http_code "$H/carol@$DOMAIN")"
expect_eq "DELETE unknown: 404" 404 "$(http_code "$H/carol@$DOMAIN" "${AUTH[@]}" -X DELETE)"
dave="{\"impi\":\"dave@$DOMAIN\",\"impus\":[\"sip:dave@$DOMAIN\"],\"k\":\"$ALICE_K\",\"op\":\"$ALICE_OP\"}"
expect_eq "PUT creates dave: 201" 201 "$(http_code "$H/dave@$DOMAIN" "${AUTH[@]}" -X PUT -d "$dave")"
bulk="[{\"impi\":\"e1@$DOMAIN\",\"impus\":[\"sip:e1@$DOMAIN\"],\"k\":\"$ALICE_K\",\"op\":\"$ALICE_OP\"},{\"impi\":\"e2@$DOMAIN\",\"impus\":[\"sip:e2@$DOMAIN\"],\"k\":\"$ALICE_K\",\"op\":\"$ALICE_OP\"}]"
out=$(curl -s -m 5 "${AUTH[@]}" -X POST "$H" -d "$bulk")
expect_eq "bulk POST of an array creates each" 2 "$(field .created "$out")"
out=$(curl -s -m 5 "${AUTH[@]}" -X POST "$H" -d "[{\"impi\":\"e3@$DOMAIN\",\"impus\":[\"sip:e3@$DOMAIN\"],\"k\":\"$ALICE_K\",\"op\":\"$ALICE_OP\"},{\"impi\":\"e1@$DOMAIN\"}]")
expect_eq "... and reports the ones refused, by index" "1 1 1" "$(field '"\(.created) \(.failed) \(.errors[0].index)"' "$out")"
for e in e1 e2 e3; do http_code "$H/$e@$DOMAIN" "${AUTH[@]}" -X DELETE >/dev/null; done
expect_match "cscf_hss_subscribers counts him" '^cscf_hss_subscribers\{program="hss"\} 3' "$(http_body "http://127.0.0.1:$HSS_API/metrics")"

echo "-- tshark: every Cx message decodes"
# cx_frames: for each Cx command code, the frames of the capture that hold one (a request or an
# answer), "CODE COUNT" a line. One tshark run (each takes seconds to start), not one per code.
cx_frames() {
  tshark -r "$CAP" -d "tcp.port==$HSS_DIAM,diameter" -Y "diameter.applicationId == 16777216" \
    -T fields -e diameter.cmd.code 2>/dev/null |
    awk -F, '{delete seen; for (i = 1; i <= NF; i++) if (!seen[$i]++) n[$i]++} END {for (c in n) print c, n[c]}'
}
# cx_in_capture CODE: the capture holds a request and an answer of that Cx command.
cx_in_capture() { cx_frames | awk -v c="$1" '$1 == c && $2 >= 2 {f = 1} END {exit !f}'; }
# dumpcap writes the file as it captures: stop it once the last exchange (the PPR) is in.
wait_for 15 cx_in_capture 305
kill -INT $TSHARK 2>/dev/null
wait $TSHARK 2>/dev/null
dec=$(tshark -r "$CAP" -d "tcp.port==$HSS_DIAM,diameter" -V 2>&1)
frames=$(cx_frames)
for c in 300 301 302 303 304 305; do
  n=$(awk -v c="$c" '$1 == c {print $2}' <<<"$frames")
  [ "${n:-0}" -ge 2 ] && pass "command $c captured as Cx, request and answer ($n)" || fail "command $c captured" "${n:-0} packets"
done
expect_no_match "no Malformed packet" 'Malformed' "$dec"
expect_no_match "no unknown AVP" 'Unknown AVP|AVP: Unknown|undecoded' "$dec"
expect_match "tshark names SIP-Auth-Data-Item" 'SIP-Auth-Data-Item' "$dec"
expect_match "tshark names Server-Assignment-Type" 'Server-Assignment-Type' "$dec"

echo "-- timeout"
kill -STOP "${PIDS[hss]}"
start=$(now_ms)
a=$(cx lir '{"impu":"tel:+15550001"}')
ms=$(($(now_ms) - start))
late_drops() { grep -c 'There is no saved request with this hop-by-hop id' "$WORKDIR/scscf.log"; }
drops=$(late_drops)
kill -CONT "${PIDS[hss]}"
expect_eq "an HSS that does not answer: the request times out" timeout "$(field .status "$a")"
if [ "$ms" -ge $((CX_TIMEOUT_MS - 100)) ] && [ "$ms" -le $((CX_TIMEOUT_MS + 2500)) ]; then
  pass "... after diameter.request_timeout_ms (${ms} ms)"
else fail "... after diameter.request_timeout_ms ($CX_TIMEOUT_MS)" "${ms} ms"; fi
expect_match "... counted as a timeout" '^cscf_diameter_requests_total\{program="scscf",command="LIR",result="timeout"\} 1' \
  "$(http_body "http://127.0.0.1:$SC_API/metrics")"
late_dropped() { [ "$(late_drops)" -gt "$drops" ]; }
if wait_for 10 late_dropped; then pass "... the HSS's late answer reached the scscf and was dropped"
else fail "... the HSS's late answer reached the scscf and was dropped" "no 'no saved request' line in 10 s"; fi
a=$(cx lir '{"impu":"tel:+15550001"}')
expect_eq "... and the next one is answered (the late answer was dropped)" 2001 "$(field .answer.result_code "$a")"

echo "-- HSS restart"
sqn=$(hss_sqn "$ALICE")
stop_prog hss KILL
if wait_http "127.0.0.1:$SC_API" /readyz 503 15; then pass "scscf /readyz 503 when the HSS is killed"
else fail "scscf /readyz 503 when the HSS is killed"; fi
start=$(now_ms)
a=$(cx lir '{"impu":"tel:+15550001"}')
ms=$(($(now_ms) - start))
# No peer to route to: freeDiameter answers at once with DIAMETER_UNABLE_TO_DELIVER; waiting
# for the request timeout instead would be a hang. 1.5 s leaves room for a loaded machine.
expect_eq "a Cx request without the HSS fails: DIAMETER_UNABLE_TO_DELIVER" "answered 3002" \
  "$(field '"\(.status) \(.answer.result_code)"' "$a")"
if [ "$ms" -lt 1500 ]; then pass "... fast, no hang until the ${CX_TIMEOUT_MS} ms timeout (${ms} ms)"
else fail "... fast, no hang until the ${CX_TIMEOUT_MS} ms timeout" "${ms} ms, answer $a"; fi
start_prog hss "$BUILD/hss" "$REPO_DIR/config/hss.yaml" HSS_DIAMETER_LISTEN="127.0.0.1:$HSS_DIAM" \
  HSS_API_LISTEN="127.0.0.1:$HSS_API" HSS_SUBSCRIBERS_FILE="$REPO_DIR/config/subscribers.yaml" \
  HSS_SUBSCRIBERS_DATABASE="$WORKDIR/hss.db" HSS_API_TOKEN=$TOKEN
if wait_http "127.0.0.1:$SC_API" /readyz 200 20; then pass "scscf /readyz 200 again after the HSS restarts, scscf untouched"
else fail "scscf /readyz 200 again after the HSS restarts"; fi
expect_eq "the restarted HSS still knows the SQN" "$sqn" "$(hss_sqn "$ALICE")"
expect_eq "... the subscriber made over REST" "sip:dave@$DOMAIN" "$(field '.impus[0]' "$(http_body "http://127.0.0.1:$HSS_API/api/v1/subscribers/dave@$DOMAIN")")"
expect_eq "... and not the one deleted" 404 "$(http_code "http://127.0.0.1:$HSS_API/api/v1/subscribers/carol@$DOMAIN")"
a=$(cx lir '{"impu":"tel:+15550001"}')
expect_eq "... and the S-CSCF assignment" "sip:127.0.0.1:$SC_SIP" "$(field .answer.server_name "$a")"
a=$(cx mar "{\"impi\":\"$ALICE\",\"impu\":\"$ALICE_IMPU\"}")
[ $((16#$(hss_sqn "$ALICE"))) -gt $((16#$sqn)) ] && pass "... and never reuses a SQN" || fail "... and never reuses a SQN"

stop_prog scscf
expect_eq "scscf: SIGTERM exits 0 (Diameter peer closed)" 0 "$LAST_EXIT"
stop_prog hss
expect_eq "hss: SIGTERM exits 0" 0 "$LAST_EXIT"
expect_clean_log "scscf: no sanitizer report" scscf
expect_clean_log "hss: no sanitizer report" hss
finish
