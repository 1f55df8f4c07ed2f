#!/usr/bin/env bash
# The I-CSCF role (TS 24.229 5.3): scscf A has icscf.enabled and is the pcscf's registrar; the
# HSS offers scscf B in Server-Capabilities. A handset registers through pcscf -> A (UAR) -> B
# (MAR/SAR); a MESSAGE from another network reaches A, which asks the HSS (LIR) and forwards to
# B, which delivers it. Unknown users, hostile REGISTERs, deregistration through A, and (after an
# HSS restart that offers A itself) a registration A keeps.
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
SCEN="$E2E_DIR/scenarios"
DOMAIN=ims.mnc001.mcc001.3gppnetwork.org
field() { jq -r "$1 // empty" <<<"$2"; }

A_SIP=$(free_port) A_API=$(free_port) B_SIP=$(free_port) B_API=$(free_port)
PC_SIP=$(free_port) PC_API=$(free_port)
start_hss hss HSS_ASSIGNMENT_SCSCF_NAMES="sip:127.0.0.1:$B_SIP" || { finish; exit 1; }
mapfile -t diam < <(scscf_diameter_env)
start_prog scscf_a "$BUILD/scscf" "$REPO_DIR/config/scscf.yaml" SCSCF_SIP_LISTEN="127.0.0.1:$A_SIP" \
  SCSCF_API_LISTEN="127.0.0.1:$A_API" SCSCF_ICSCF_ENABLED=true "${diam[@]}" || { finish; exit 1; }
mapfile -t diam < <(scscf_diameter_env)
# B has an API token for its trace (POST /api/v1/trace), which shows how the REGISTER came.
TOKEN=s3cret
start_prog scscf_b "$BUILD/scscf" "$REPO_DIR/config/scscf.yaml" SCSCF_SIP_LISTEN="127.0.0.1:$B_SIP" \
  SCSCF_API_LISTEN="127.0.0.1:$B_API" SCSCF_DIAMETER_IDENTITY="scscf-b.$DOMAIN" SCSCF_API_TOKEN=$TOKEN "${diam[@]}" ||
  { finish; exit 1; }
start_prog pcscf "$BUILD/pcscf" "$REPO_DIR/config/pcscf.yaml" PCSCF_SIP_LISTEN="127.0.0.1:$PC_SIP" \
  PCSCF_API_LISTEN="127.0.0.1:$PC_API" PCSCF_PCSCF_REGISTRAR="sip:127.0.0.1:$A_SIP;transport=tcp;lr" ||
  { finish; exit 1; }
wait_http "127.0.0.1:$A_API" /readyz 200 10 || fail "scscf A ready"
wait_http "127.0.0.1:$B_API" /readyz 200 10 || fail "scscf B ready"

# register NAME USER K PORT EXPIRES: AKA registration through the pcscf from PORT.
register() {
  printf 'SEQUENTIAL\n%s;%s@%s;%s;[authentication username=%s@%s aka_K=%s aka_OP=ponmlkjihgfedcba];%s;1\n' \
    "$2" "$2" "$DOMAIN" "$DOMAIN" "$2" "$DOMAIN" "$3" "$5" >"$WORKDIR/$1.csv"
  timeout 20 sipp -sf "$SCEN/register_aka.xml" -inf "$WORKDIR/$1.csv" -i 127.0.0.1 -p "$4" \
    -t u1 -m 1 -timeout 15s -timeout_error -auth_uri "$DOMAIN" -trace_msg \
    -message_file "$WORKDIR/$1.msg" "127.0.0.1:$PC_SIP" >/dev/null 2>&1
}
msg_of() { # NAME STATUS: the first response with that status, headers only
  sed -n "/^SIP\\/2.0 $2/,/^\$/p" "$WORKDIR/$1.msg" | tr -d '\r'
}
# sipsend_to PORT NAME: the message on stdin, byte for byte, to PORT; the answer's first line
sipsend_to() {
  cat >"$WORKDIR/$2.sip"
  sipsend -u 127.0.0.1 "$1" "$WORKDIR/$2.sip" 5000 | tr -d '\r'
}
raw_register() { # USER [AUTH_USER] [MAX_FORWARDS]: no credentials unless AUTH_USER
  local auth=
  [ -n "${2:-}" ] && auth="Authorization: Digest username=\"$2@$DOMAIN\", realm=\"$DOMAIN\", nonce=\"\", uri=\"sip:$DOMAIN\", response=\"\"\r\n"
  printf "REGISTER sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK%s\r\nMax-Forwards: %s\r\nFrom: <sip:%s@%s>;tag=1\r\nTo: <sip:%s@%s>\r\nCall-ID: %s@test\r\nCSeq: 1 REGISTER\r\nContact: <sip:x@127.0.0.1:9>\r\n${auth}Expires: 600\r\nContent-Length: 0\r\n\r\n" \
    "$DOMAIN" "$RANDOM$RANDOM" "${3:-70}" "$1" "$DOMAIN" "$1" "$DOMAIN" "$RANDOM$RANDOM"
}
message() { # TARGET_USER: a MESSAGE from another network, not on any Service-Route of ours
  printf 'MESSAGE sip:%s@%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK%s\r\nMax-Forwards: 70\r\nFrom: <sip:carol@other.example>;tag=9\r\nTo: <sip:%s@%s>\r\nCall-ID: %s@other\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello' \
    "$1" "$DOMAIN" "$RANDOM$RANDOM" "$1" "$DOMAIN" "$RANDOM$RANDOM"
}
regs_of() { field .total "$(http_body "http://127.0.0.1:$1/api/v1/registrations")"; }
# metric COMMAND RESULT: A's count of I-CSCF queries with that result, or "absent" when A does
# not list it (never counted, or the scrape failed): no check can take a missing line for 0.
metric() {
  local v
  v=$(http_body "http://127.0.0.1:$A_API/metrics" |
    awk -v k="cscf_icscf_requests_total{program=\"scscf\",command=\"$1\",result=\"$2\"}" '$1 == k {print $2}')
  echo "${v:-absent}"
}
# lir_total: all of A's LIRs whatever their result, or "absent" when none is listed.
lir_total() {
  http_body "http://127.0.0.1:$A_API/metrics" |
    awk '/^cscf_icscf_requests_total\{.*command="LIR"/ {n += $2; seen = 1} END {print seen ? n : "absent"}'
}
# via_of_last_register: the top Via of the last REGISTER B's trace logged as received.
via_of_last_register() {
  tr -d '\r' <"$WORKDIR/scscf_b.log" |
    awk '/trace sip:alice@[^ ]*: received$/ {r = 1; next} r && /^REGISTER / {v = ""; want = 1; r = 0; next}
         want && /^Via: / {v = $0; want = 0} {r = 0} END {print v}'
}
hss_scscf() { field .state.scscf "$(http_body "http://127.0.0.1:$HSS_API/api/v1/subscribers/$1@$DOMAIN")"; }
PA=$(free_port) PB=$(free_port)

echo "-- configuration"
"$BUILD/scscf" -c "$REPO_DIR/config/scscf.yaml" --check >/dev/null 2>&1
expect_eq "the example config checks (icscf off)" 0 "$?"
out=$(SCSCF_ICSCF_SCSCFS="sip:a.test 1,tel:+1" "$BUILD/scscf" -c "$REPO_DIR/config/scscf.yaml" --check 2>&1)
expect_eq "a bad icscf.scscfs entry: exit 2" 2 "$?"
expect_match "... naming the key and the entry" 'icscf\.scscfs: entry 2 \(tel:\+1\)' "$out"

echo "-- alice registers through pcscf -> A (I-CSCF, UAR) -> B (S-CSCF)"
expect_eq "B traces alice (to see how her REGISTER reaches it)" 200 \
  "$(http_code "http://127.0.0.1:$B_API/api/v1/trace" -X POST -H "Authorization: Bearer $TOKEN" -d '{"impu":"sip:alice@'$DOMAIN'"}')"
register rega alice abcdefghijklmnop "$PA" 600
expect_eq "REGISTER/401/REGISTER/200 with SIPp's own AKA" 0 "$?"
# A forwards the REGISTER to B's name (no transport parameter): over TCP only when it is too big
# for UDP (RFC 3261 18.1.1). B's Service-Route asks for TCP exactly when the REGISTER came so.
via=$(via_of_last_register)
case $via in
  "Via: SIP/2.0/TCP 127.0.0.1:$A_SIP;"*) sr_tp=";transport=tcp" ;;
  "Via: SIP/2.0/UDP 127.0.0.1:$A_SIP;"*) sr_tp= ;;
  *) sr_tp="(A's Via not found)"; fail "B's trace shows the REGISTER from A" "top Via: '$via'" ;;
esac
expect_match "the 200 carries B's Service-Route, transport=tcp exactly when A's REGISTER came over TCP (${via:13:3})" \
  "^Service-Route: <sip:orig@127\\.0\\.0\\.1:$B_SIP;lr$sr_tp>\$" "$(msg_of rega 200)"
expect_match "... and echoes the pcscf's Path (TCP, as pcscf.registrar)" "^Path: <sip:term\\.[0-9a-f]+@127.0.0.1:$PC_SIP;lr;transport=tcp>" "$(msg_of rega 200)"
expect_match "the 401 was B's challenge (AKAv1-MD5)" '^WWW-Authenticate: Digest .*algorithm=AKAv1-MD5' "$(msg_of rega 401)"
expect_eq "B holds the registration" 1 "$(regs_of "$B_API")"
expect_eq "A holds none" 0 "$(regs_of "$A_API")"
expect_eq "the HSS has B assigned" "sip:127.0.0.1:$B_SIP" "$(hss_scscf alice)"
expect_eq "A counts two UARs forwarded" 2 "$(metric UAR forwarded)"
expect_match "A's UARs for alice were of type REGISTRATION" \
  "UAR sip:alice@$DOMAIN \\(alice@$DOMAIN, REGISTRATION\\)" "$(cat "$WORKDIR/scscf_a.log")"

echo "-- a MESSAGE from another network to alice: A (LIR) -> B -> pcscf -> handset"
timeout 20 sipp -sf "$SCEN/message_uas.xml" -i 127.0.0.1 -p "$PA" -t u1 -m 1 -timeout 15s \
  -timeout_error -trace_msg -message_file "$WORKDIR/amsg.msg" >/dev/null 2>&1 &
UAS=$!
wait_for 10 port_bound udp "$PA" || fail "alice's handset (SIPp) listens on $PA"
expect_eq "the sender gets alice's 200" "SIP/2.0 200 OK" "$(message alice | sipsend_to "$A_SIP" m1)"
wait "$UAS"
expect_eq "alice's handset took the MESSAGE" 0 "$?"
got=$(sed -n '/^MESSAGE /,/^\r\?$/p' "$WORKDIR/amsg.msg" | tr -d '\r')
expect_match "... at her registered contact" "^MESSAGE sip:alice@127.0.0.1:$PA" "$got"
expect_match "... through A" "^Via: SIP/2.0/UDP 127.0.0.1:$A_SIP;" "$got"
expect_match "... and B (over TCP, as the pcscf's Path asks)" "^Via: SIP/2.0/TCP 127.0.0.1:$B_SIP;" "$got"
expect_eq "... four Vias: sender, A, B, pcscf" 4 "$(grep -c '^Via:' <<<"$got")"
expect_match "... Record-Route: B above A (both stay on the path)" \
  "127.0.0.1:$B_SIP;lr>, ?<sip:127.0.0.1:$A_SIP;lr>" "$(grep '^Record-Route' <<<"$got" | paste -sd, - | sed 's/, *Record-Route: */, /g')"
expect_eq "A counts the LIR forwarded" 1 "$(metric LIR forwarded)"

echo "-- unknown users and bad input at A"
expect_eq "REGISTER of an unknown user through the pcscf: 403" "SIP/2.0 403 Forbidden" \
  "$(raw_register nobody | sipsend_to "$PC_SIP" r1)"
expect_eq "REGISTER of bob's IMPU with alice's IMPI: 403" "SIP/2.0 403 Forbidden" \
  "$(raw_register bob alice | sipsend_to "$A_SIP" r2)"
expect_eq "A counts them" 2 "$(metric UAR user_unknown)"
expect_eq "MESSAGE to an unknown user: 404" "SIP/2.0 404 Not Found" "$(message nobody | sipsend_to "$A_SIP" m2)"
long=$(head -c 3000 /dev/zero | tr '\0' x)
expect_eq "REGISTER whose To is 3,000 characters: 400" "SIP/2.0 400 Bad To (IMPU)" \
  "$(raw_register "$long" | sipsend_to "$A_SIP" r3)"
expect_eq "REGISTER with a 3,000-character IMPI: taken as no credentials, B challenges" "SIP/2.0 401 Unauthorized" \
  "$(raw_register alice "$long" | sipsend_to "$A_SIP" r4)"
expect_eq "REGISTER with Max-Forwards 0: 483" "SIP/2.0 483 Too Many Hops" \
  "$(raw_register alice "" 0 | sipsend_to "$A_SIP" r5)"
expect_eq "REGISTER without To: 400" "SIP/2.0 400 Bad Request" \
  "$(raw_register alice | grep -v '^To:' | sipsend_to "$A_SIP" r6)"
# The one IMPU/IMPI rule (common/sip/sip_ids.c), the same at the pcscf, A and B.
expect_eq "REGISTER to the domain (no user part) without credentials: no IMPI to derive, 400" \
  "SIP/2.0 400 No IMPI (Authorization Needed)" \
  "$(raw_register alice | sed "s|^To: <[^>]*>|To: <sip:$DOMAIN>|" | sipsend_to "$A_SIP" r7)"
expect_eq "... refused so at the pcscf too (not forwarded for an HSS lookup of the domain)" \
  "SIP/2.0 400 No IMPI (Authorization Needed)" \
  "$(raw_register alice | sed "s|^To: <[^>]*>|To: <sip:$DOMAIN>|" | sipsend_to "$PC_SIP" r8)"
expect_eq "REGISTER with a tel: To, credentials or not: 400 at the pcscf (a REGISTER's To is a SIP URI)" \
  "SIP/2.0 400 Bad To (IMPU)" \
  "$(raw_register alice alice | sed "s|^To: <[^>]*>|To: <tel:+15550001>|" | sipsend_to "$PC_SIP" r9)"
expect_eq "... A still counts only the two unknown users" 2 "$(metric UAR user_unknown)"
expect_eq "MESSAGE to a user of another domain (no next hop): 404, no LIR" "SIP/2.0 404 Not Found" \
  "$(message bob | sed "s/^MESSAGE sip:bob@$DOMAIN/MESSAGE sip:bob@other.example/" | sipsend_to "$A_SIP" m3)"
expect_eq "... A sent one LIR for the unknown user only" 1 "$(metric LIR user_unknown)"

echo "-- alice deregisters through A (UAR type DE_REGISTRATION)"
register dereg alice abcdefghijklmnop "$PA" 0
expect_eq "REGISTER/401/REGISTER/200 with Expires 0" 0 "$?"
expect_match "A's UAR asked DE_REGISTRATION" "UAR sip:alice@$DOMAIN \\(alice@$DOMAIN, DE_REGISTRATION\\)" \
  "$(cat "$WORKDIR/scscf_a.log")"
expect_eq "B dropped the registration" 0 "$(regs_of "$B_API")"
expect_eq "the HSS has no S-CSCF for alice any more" "" "$(hss_scscf alice)"
expect_eq "MESSAGE to alice now: 480 (LIR: not registered)" "SIP/2.0 480 Temporarily Unavailable" \
  "$(message alice | sipsend_to "$A_SIP" m4)"

echo "-- the HSS restarted to offer A itself: bob's registration stays at A"
stop_prog hss
wait_http "127.0.0.1:$A_API" /readyz 503 10 || fail "A sees its Cx peer go"
start_prog hss2 "$BUILD/hss" "$REPO_DIR/config/hss.yaml" HSS_DIAMETER_LISTEN="127.0.0.1:$HSS_DIAM" \
  HSS_API_LISTEN="127.0.0.1:$HSS_API" HSS_SUBSCRIBERS_FILE="$REPO_DIR/config/subscribers.yaml" \
  HSS_SUBSCRIBERS_DATABASE="$WORKDIR/hss.db" HSS_AUTH_SIPP_COMPAT=true \
  HSS_ASSIGNMENT_SCSCF_NAMES="sip:127.0.0.1:$A_SIP,sip:127.0.0.1:$B_SIP" || { finish; exit 1; }
wait_http "127.0.0.1:$A_API" /readyz 200 15 || fail "A's Cx peer comes back"
register regb bob bobbobbobbobbob1 "$PB" 600
expect_eq "bob registers" 0 "$?"
expect_match "the 200 carries A's Service-Route" "^Service-Route: <sip:orig@127.0.0.1:$A_SIP;lr;transport=tcp>" "$(msg_of regb 200)"
expect_eq "A holds bob's registration" 1 "$(regs_of "$A_API")"
expect_eq "the HSS has A assigned" "sip:127.0.0.1:$A_SIP" "$(hss_scscf bob)"
expect_eq "B holds none" 0 "$(regs_of "$B_API")"
expect_eq "A counts two UARs kept" 2 "$(metric UAR local)"
timeout 20 sipp -sf "$SCEN/message_uas.xml" -i 127.0.0.1 -p "$PB" -t u1 -m 1 -timeout 15s \
  -timeout_error >/dev/null 2>&1 &
UAS=$!
wait_for 10 port_bound udp "$PB" || fail "bob's handset (SIPp) listens on $PB"
lirs=$(lir_total)
expect_match "A's LIRs so far are counted ($lirs)" '^[0-9]+$' "$lirs"
expect_eq "a MESSAGE from another network to bob: delivered by A, no LIR" "SIP/2.0 200 OK" \
  "$(message bob | sipsend_to "$A_SIP" m5)"
wait "$UAS"
expect_eq "bob's handset took it" 0 "$?"
expect_eq "A sent no LIR for it (its LIR count is unchanged)" "$lirs" "$(lir_total)"

echo "-- the HSS silent (stopped), then gone: 504"
kill -STOP "${PIDS[hss2]}"
expect_eq "REGISTER while the HSS does not answer: 504 after the Cx timeout" "SIP/2.0 504 HSS Unreachable" \
  "$(raw_register alice | sipsend_to "$A_SIP" r8)"
expect_eq "MESSAGE to a user not registered here meanwhile: 504" "SIP/2.0 504 HSS Unreachable" \
  "$(message nobody | sipsend_to "$A_SIP" m6)"
kill -CONT "${PIDS[hss2]}"
expect_eq "A counts the UAR timeout" 1 "$(metric UAR hss_unavailable)"
expect_eq "... and the LIR timeout" 1 "$(metric LIR hss_unavailable)"
stop_prog hss2
wait_http "127.0.0.1:$A_API" /readyz 503 10 || fail "A sees its Cx peer go"
expect_eq "REGISTER while A's Cx peer is down: 504" "SIP/2.0 504 HSS Unreachable" \
  "$(raw_register alice | sipsend_to "$A_SIP" r7)"

stop_clean pcscf scscf_b scscf_a
expect_clean_log "hss: no sanitizer report" hss
expect_clean_log "hss2: no sanitizer report" hss2
finish
