#!/usr/bin/env bash
# The trust domain (RFC 3325, TS 24.229 4.4; README "Trust domain"): hss, scscf and pcscf with
# the lab configs, which trust 127.0.0.1 only (trust.peers), so 127.0.0.2 plays a host outside
# the trust domain that can reach the SIP ports. Handsets register through the pcscf.
#   - an INVITE from 127.0.0.2 straight to the scscf's orig Route with alice's
#     P-Asserted-Identity gets 403 and never reaches bob; the same from 127.0.0.1 is served;
#   - a request from 127.0.0.2 on bob's Path token at the pcscf gets 403; from 127.0.0.1 it
#     reaches him;
#   - a terminating request from 127.0.0.2 is served without its P-Asserted-Identity and other
#     trust-domain headers; from 127.0.0.1 they are passed on;
#   - integrity-protected="yes" on a REGISTER counts only from a trusted peer;
#   - a reg-event SUBSCRIBE without P-Asserted-Identity from 127.0.0.2 naming alice in From
#     gets 403 (From proves nothing outside the trust domain); from 127.0.0.1 it gets 200;
#   - a response from 127.0.0.2 (a next hop of the scscf, a handset behind the pcscf) is passed
#     on without its P-Asserted-Identity and other trust-domain headers; from 127.0.0.1 with them;
#   - a handset's response to a terminating request leaves its pcscf asserting the identity the
#     handset prefers (P-Preferred-Identity) when it is one of its own, else its default IMPU;
#   - with Privacy: id a request reaches the handset without P-Asserted-Identity;
#   - cscf_untrusted_requests_total{action}, one log line per episode, trust.peers by reload.
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
SCEN="$E2E_DIR/scenarios"
DOMAIN=ims.mnc001.mcc001.3gppnetwork.org
TOKEN=trustd0main
OP=ponmlkjihgfedcba
UNTRUSTED=127.0.0.2
field() { jq -r "$1 // empty" <<<"$2"; }
sc() { http_body "http://127.0.0.1:$SC_API$1"; }
pc() { http_body "http://127.0.0.1:$PC_API$1"; }

# The scscf reads a copy of the lab config: integrity-protected re-REGISTERs are believed (from
# a trusted peer), and trust.peers is changed and reloaded at the end.
CONF="$WORKDIR/scscf.yaml"
cp "$REPO_DIR/config/scscf.yaml" "$CONF"
printf 'registrar:\n  trust_integrity_protected: true\n' >>"$CONF"
grep -q '^  peers: \["127.0.0.1"\]$' "$CONF" && pass "the lab scscf config trusts 127.0.0.1 only" ||
  fail "the lab scscf config trusts 127.0.0.1 only" "$(grep -A1 '^trust:' "$CONF")"
grep -A1 '^trust:' "$REPO_DIR/config/pcscf.yaml" | grep -q '^  peers: \["127.0.0.1"\]$' &&
  pass "the lab pcscf config trusts 127.0.0.1 only" || fail "the lab pcscf config trusts 127.0.0.1 only"

start_hss hss || { finish; exit 1; }
SC_SIP=$(free_port) SC_API=$(free_port) PC_SIP=$(free_port) PC_API=$(free_port)
mapfile -t diam < <(scscf_diameter_env)
start_prog scscf "$BUILD/scscf" "$CONF" SCSCF_SIP_LISTEN="127.0.0.1:$SC_SIP" \
  SCSCF_API_LISTEN="127.0.0.1:$SC_API" SCSCF_API_TOKEN=$TOKEN "${diam[@]}" || { finish; exit 1; }
start_prog pcscf "$BUILD/pcscf" "$REPO_DIR/config/pcscf.yaml" PCSCF_SIP_LISTEN="127.0.0.1:$PC_SIP" \
  PCSCF_API_LISTEN="127.0.0.1:$PC_API" PCSCF_PCSCF_REGISTRAR="sip:127.0.0.1:$SC_SIP;transport=tcp;lr" ||
  { finish; exit 1; }
wait_http "127.0.0.1:$SC_API" /readyz 200 10 || fail "scscf ready"

# register NAME USER K PORT INSTANCE: AKA registration through the pcscf from 127.0.0.1:PORT.
register() {
  printf 'SEQUENTIAL\n%s;%s@%s;%s;[authentication username=%s@%s aka_K=%s aka_OP=%s];600;%s\n' \
    "$2" "$2" "$DOMAIN" "$DOMAIN" "$2" "$DOMAIN" "$3" "$OP" "$5" >"$WORKDIR/$1.csv"
  timeout 20 sipp -sf "$SCEN/register_aka.xml" -inf "$WORKDIR/$1.csv" -i "${REG_IP:-127.0.0.1}" -p "$4" \
    -t u1 -m 1 -timeout 15s -timeout_error -auth_uri "$DOMAIN" -trace_msg \
    -message_file "$WORKDIR/$1.msg" "127.0.0.1:$PC_SIP" >/dev/null 2>&1
}
# callee NAME SCENARIO PORT: bob's handset taking one request, in the background (CALLEE_PID).
callee() {
  timeout 40 sipp -sf "$SCEN/$2" -i 127.0.0.1 -p "$3" -t u1 -m 1 -timeout 35s \
    -trace_msg -message_file "$WORKDIR/$1.msg" >/dev/null 2>&1 &
  CALLEE_PID=$!
  wait_for 5 port_bound udp "$3" || fail "$1: SIPp listens on $3"
}
stop_callee() {
  kill "$CALLEE_PID" 2>/dev/null
  wait "$CALLEE_PID" 2>/dev/null
}
# final NAME: the status line of the last final answer in a SIPp message trace.
final() { tr -d '\r' <"$WORKDIR/$1.msg" 2>/dev/null | grep -E '^SIP/2.0 [2-6][0-9][0-9]' | tail -1; }
# invite NAME FROM_IP TO_PORT HDR1 HDR2: trust_invite_uac.xml as alice to bob; status in STATUS.
invite() {
  printf 'SEQUENTIAL\nalice;sip:bob@%s;%s\n' "$DOMAIN" "$DOMAIN" >"$WORKDIR/$1.csv"
  timeout 30 sipp -sf "$SCEN/trust_invite_uac.xml" -inf "$WORKDIR/$1.csv" -i "$2" -p "$(free_port)" \
    -key hdr1 "$4" -key hdr2 "$5" -t u1 -m 1 -timeout 20s -timeout_error -trace_msg \
    -message_file "$WORKDIR/$1.msg" "127.0.0.1:$3" >/dev/null 2>&1
  STATUS=$(final "$1")
}
# message NAME FROM_IP TO_PORT RURI BODY HDR1 HDR2: trust_message_uac.xml as alice.
message() {
  printf 'SEQUENTIAL\nalice;%s;%s;%s\n' "$4" "$DOMAIN" "$5" >"$WORKDIR/$1.csv"
  timeout 30 sipp -sf "$SCEN/trust_message_uac.xml" -inf "$WORKDIR/$1.csv" -i "$2" -p "$(free_port)" \
    -key hdr1 "${6:-X-Trust-Test: -}" -key hdr2 "${7:-X-Trust-Test: -}" -t u1 -m 1 -timeout 20s \
    -timeout_error -trace_msg -message_file "$WORKDIR/$1.msg" "127.0.0.1:$3" >/dev/null 2>&1
  STATUS=$(final "$1")
}
requests() { # NAME METHOD: each such request a handset received, headers only
  tr -d '\r' <"$WORKDIR/$1.msg" 2>/dev/null | sed -n "/^$2 /,/^\$/p"
}
call_id() { tr -d '\r' <"$WORKDIR/$1.msg" | grep -m1 -i '^Call-ID:' | sed 's/^[^:]*: *//'; }
untrusted() { # PROGRAM ACTION: the counter's value (0 when absent)
  local v
  v=$(http_body "http://127.0.0.1:$([ "$1" = scscf ] && echo "$SC_API" || echo "$PC_API")/metrics" |
    sed -n "s/^cscf_untrusted_requests_total{program=\"$1\",action=\"$2\"} //p")
  echo "${v:-0}"
}

A_K=abcdefghijklmnop B_K=bobbobbobbobbob1
PA=$(free_port) PB=$(free_port)
ALICE=sip:alice@$DOMAIN
ORIG="Route: <sip:orig@127.0.0.1:$SC_SIP;lr>"
PAI="P-Asserted-Identity: <$ALICE>"

echo "-- alice and bob register through the pcscf"
register rega alice "$A_K" "$PA" 1
expect_eq "alice registers (AKA)" 0 "$?"
register regb bob "$B_K" "$PB" 2
expect_eq "bob registers (AKA)" 0 "$?"
bob_path=$(field '.contacts[0].path' "$(sc "/api/v1/registrations/sip:bob@$DOMAIN")")
expect_match "bob's Path entry: the pcscf's term. token" "^<sip:term\\.[0-9a-f]{16}@127.0.0.1:$PC_SIP" "$bob_path"

echo "-- (1) an INVITE to the scscf's orig Route with alice's P-Asserted-Identity"
callee binv call_uas.xml "$PB"
invite iuntrusted "$UNTRUSTED" "$SC_SIP" "$ORIG" "$PAI"
expect_eq "from $UNTRUSTED (untrusted): 403" "SIP/2.0 403 Not Trusted" "$STATUS"
invite itrusted 127.0.0.1 "$SC_SIP" "$ORIG" "$PAI"
expect_eq "from 127.0.0.1 (trusted): served, 200 (then ACK, BYE, 200)" "SIP/2.0 200 OK" "$STATUS"
wait "$CALLEE_PID"
expect_eq "bob's handset took the one call through (INVITE, ACK, BYE)" 0 "$?"
inv=$(requests binv INVITE)
expect_eq "bob got one INVITE: the untrusted one never reached him" 1 "$(grep -c '^INVITE ' <<<"$inv")"
expect_eq "... the trusted one (its Call-ID)" "$(call_id itrusted)" \
  "$(grep -m1 -i '^Call-ID:' <<<"$inv" | sed 's/^[^:]*: *//')"
expect_eq "... served as alice's originating call: her identity asserted to bob" "$PAI" \
  "$(grep -i '^P-Asserted-Identity:' <<<"$inv")"
expect_eq "the scscf counts one refused untrusted request" 1 "$(untrusted scscf refused)"

echo "-- (2) a request on bob's Path token at the pcscf"
callee bpath message_uas.xml "$PB"
message puntrusted "$UNTRUSTED" "$PC_SIP" "sip:bob@127.0.0.1:$PB" "path from untrusted" "Route: $bob_path"
expect_eq "from $UNTRUSTED (untrusted): 403" "SIP/2.0 403 Not Trusted" "$STATUS"
message ptrusted 127.0.0.1 "$PC_SIP" "sip:bob@127.0.0.1:$PB" "path from trusted" "Route: $bob_path"
expect_eq "from 127.0.0.1 (trusted, as the scscf sends): delivered, 200" "SIP/2.0 200 OK" "$STATUS"
wait "$CALLEE_PID"
got=$(tr -d '\r' <"$WORKDIR/bpath.msg")
expect_eq "bob got one MESSAGE" 1 "$(grep -c '^MESSAGE ' <<<"$got")"
expect_no_match "... not the untrusted one" 'path from untrusted' "$got"
expect_eq "the pcscf counts one refused untrusted request" 1 "$(untrusted pcscf refused)"

echo "-- (3) a terminating request with trust-domain headers, not on the orig Route"
SERVICE="P-Asserted-Service: urn:urn-7:3gpp-service.ims.icsi.mmtel"
callee bpai message_uas.xml "$PB"
message tuntrusted "$UNTRUSTED" "$SC_SIP" "sip:bob@$DOMAIN" "pai from untrusted" "$PAI" "$SERVICE"
expect_eq "from $UNTRUSTED (untrusted): still served (a terminating request), 200" "SIP/2.0 200 OK" "$STATUS"
wait "$CALLEE_PID"
msg=$(requests bpai MESSAGE)
expect_match "... bob got it" '^MESSAGE sip:bob@' "$msg"
expect_no_match "... without the P-Asserted-Identity" '^P-Asserted-Identity' "$msg"
expect_no_match "... without the P-Asserted-Service" '^P-Asserted-Service' "$msg"
expect_eq "the scscf counts one request whose trust-domain headers it removed" 1 "$(untrusted scscf pai_removed)"
callee bpai2 message_uas.xml "$PB"
message ttrusted 127.0.0.1 "$SC_SIP" "sip:bob@$DOMAIN" "pai from trusted" "$PAI" "$SERVICE"
expect_eq "the same from 127.0.0.1 (trusted): 200" "SIP/2.0 200 OK" "$STATUS"
wait "$CALLEE_PID"
msg=$(requests bpai2 MESSAGE)
expect_eq "... its P-Asserted-Identity is passed on to bob" "$PAI" "$(grep -i '^P-Asserted-Identity:' <<<"$msg")"
expect_eq "... and its P-Asserted-Service" "$SERVICE" "$(grep -i '^P-Asserted-Service:' <<<"$msg")"

echo "-- (4) integrity-protected=\"yes\" (registrar.trust_integrity_protected on) counts only from a trusted peer"
reg=$(sc "/api/v1/registrations/$ALICE")
# raw_register FROM_IP: alice's re-REGISTER straight to the scscf, as her pcscf would send it.
raw_register() {
  local f="$WORKDIR/raw_$RANDOM$RANDOM.sip"
  printf 'REGISTER sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s:9;branch=z9hG4bK%s\r\nMax-Forwards: 70\r\nFrom: <%s>;tag=%s\r\nTo: <%s>\r\nCall-ID: %s@trustdomain\r\nCSeq: 1 REGISTER\r\nPath: %s\r\nContact: <%s>;+sip.instance=%s\r\nAuthorization: Digest username="alice@%s", realm="%s", nonce="", uri="sip:%s", response="", integrity-protected="yes"\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n' \
    "$DOMAIN" "$1" "$RANDOM$RANDOM" "$ALICE" "$RANDOM" "$ALICE" "$RANDOM$RANDOM" \
    "$(field '.contacts[0].path' "$reg")" "$(field '.contacts[0].uri' "$reg")" \
    "$(field '.contacts[0].instance' "$reg")" "$DOMAIN" "$DOMAIN" "$DOMAIN" >"$f"
  SIPSEND_FROM=$1 sipsend -u 127.0.0.1 "$SC_SIP" "$f" 5000 | tr -d '\r'
}
expect_eq "from $UNTRUSTED: challenged (401)" "SIP/2.0 401 Unauthorized" "$(raw_register "$UNTRUSTED")"
expect_eq "from 127.0.0.1: 200 without a challenge" "SIP/2.0 200 OK" "$(raw_register 127.0.0.1)"

echo "-- (4b) a reg-event SUBSCRIBE without P-Asserted-Identity: its From counts only from a trusted peer"
# subscribe FROM_IP: a fetch (Expires 0) of alice's registration state straight to the scscf,
# From alice, no P-Asserted-Identity (from 127.0.0.2 the scscf would remove one anyway).
subscribe() {
  local f="$WORKDIR/sub_$RANDOM$RANDOM.sip"
  printf 'SUBSCRIBE %s SIP/2.0\r\nVia: SIP/2.0/UDP %s:9;branch=z9hG4bK%s\r\nMax-Forwards: 70\r\nFrom: <%s>;tag=%s\r\nTo: <%s>\r\nCall-ID: %s@trustdomain\r\nCSeq: 1 SUBSCRIBE\r\nContact: <sip:watcher@%s:9>\r\nEvent: reg\r\nAccept: application/reginfo+xml\r\nExpires: 0\r\nContent-Length: 0\r\n\r\n' \
    "$ALICE" "$1" "$RANDOM$RANDOM" "$ALICE" "$RANDOM" "$ALICE" "$RANDOM$RANDOM" "$1" >"$f"
  SIPSEND_FROM=$1 sipsend -u 127.0.0.1 "$SC_SIP" "$f" 5000 | tr -d '\r'
}
expect_eq "from $UNTRUSTED with alice in From: 403" "SIP/2.0 403 Forbidden" "$(subscribe "$UNTRUSTED")"
expect_match "... logged as an untrusted sender" \
  "SUBSCRIBE from an untrusted sender \\(no P-Asserted-Identity\\) refused" "$(cat "$WORKDIR/scscf.log")"
expect_eq "from 127.0.0.1 (trusted): From stands for the UE, 200" "SIP/2.0 200 OK" "$(subscribe 127.0.0.1)"

echo "-- (5) one log line per episode"
lines() { grep -c "$1: untrusted peer" "$WORKDIR/$1.log"; }
expect_eq "the scscf logged one line for its episode (a refused INVITE, a MESSAGE stripped)" 1 "$(lines scscf)"
expect_match "... naming the source and what was refused" \
  "scscf: untrusted peer udp:$UNTRUSTED:[0-9]+ \\(not in trust.peers\\): INVITE asking for originating service" \
  "$(grep 'untrusted peer' "$WORKDIR/scscf.log")"
expect_eq "the pcscf logged one line" 1 "$(lines pcscf)"

echo "-- (7a) responses: what a peer outside the trust domain asserts in a response is not passed on"
# answerer NAME IP PORT: a next hop or handset answering one MESSAGE with 200 + PAI (CALLEE_PID).
answerer() {
  timeout 40 sipp -sf "$SCEN/trust_message_uas_pai.xml" -i "$2" -p "$3" -t u1 -m 1 -timeout 35s \
    -key domain "$DOMAIN" >/dev/null 2>&1 &
  CALLEE_PID=$!
  wait_for 5 port_bound udp "$3" || fail "$1: SIPp listens on $2:$3"
}
ok_response() { tr -d '\r' <"$WORKDIR/$1.msg" 2>/dev/null | sed -n '/^SIP\/2.0 200/,/^$/p'; }
SELF_ROUTE="<sip:127.0.0.1:$SC_SIP;lr>"
P7=$(free_port) P8=$(free_port)
answerer hop7 "$UNTRUSTED" "$P7"
message rsp_untrusted 127.0.0.1 "$SC_SIP" "sip:x@$UNTRUSTED:$P7" "to an untrusted next hop" \
  "Route: $SELF_ROUTE, <sip:$UNTRUSTED:$P7;lr>"
expect_eq "a MESSAGE relayed by the scscf to $UNTRUSTED: 200" "SIP/2.0 200 OK" "$STATUS"
wait "$CALLEE_PID"
rsp=$(ok_response rsp_untrusted)
expect_no_match "... relayed without the P-Asserted-Identity it came with" '^P-Asserted-Identity' "$rsp"
expect_no_match "... and without its P-Charging-Vector" '^P-Charging-Vector' "$rsp"
expect_eq "the scscf counts one response whose trust-domain headers it removed" 1 \
  "$(untrusted scscf response_pai_removed)"
answerer hop8 127.0.0.1 "$P8"
message rsp_trusted 127.0.0.1 "$SC_SIP" "sip:x@127.0.0.1:$P8" "to a trusted next hop" \
  "Route: $SELF_ROUTE, <sip:127.0.0.1:$P8;lr>"
expect_eq "the same to 127.0.0.1 (trusted): 200" "SIP/2.0 200 OK" "$STATUS"
wait "$CALLEE_PID"
expect_eq "... its P-Asserted-Identity is passed on" "P-Asserted-Identity: <sip:mallory@$DOMAIN>" \
  "$(ok_response rsp_trusted | grep '^P-Asserted-Identity')"

echo "-- (6) trust.peers by reload"
sed -i 's/^  peers: \["127.0.0.1"\]$/  peers: ["127.0.0.1", "127.0.0.2\/32"]/' "$CONF"
out=$(curl -s -m 5 -X POST -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$SC_API/api/v1/reload")
expect_match "the reload applies trust.peers" '"trust.peers"' "$(jq -c .applied <<<"$out")"
callee breload message_uas.xml "$PB"
message runtrusted "$UNTRUSTED" "$SC_SIP" "sip:bob@$DOMAIN" "orig now trusted" "$ORIG" "$PAI"
expect_eq "a MESSAGE from $UNTRUSTED on the orig Route is now served: 200" "SIP/2.0 200 OK" "$STATUS"
wait "$CALLEE_PID"
expect_eq "... bob sees alice asserted" "$PAI" "$(requests breload MESSAGE | grep -i '^P-Asserted-Identity:')"
expect_eq "... nothing more counted as refused" 1 "$(untrusted scscf refused)"

echo "-- (7b) a handset's response through the pcscf (its trust.peers has 127.0.0.1 only)"
PB2=$(free_port)
REG_IP=$UNTRUSTED register regb2 bob "$B_K" "$PB2" 2
expect_eq "bob registers again, now from $UNTRUSTED (a handset is never in trust.peers)" 0 "$?"
answerer ue "$UNTRUSTED" "$PB2"
message rsp_ue 127.0.0.1 "$SC_SIP" "sip:bob@$DOMAIN" "to bob's handset" "X-Trust-Test: ue" "X-Trust-Test: -"
expect_eq "a MESSAGE to bob through the scscf and the pcscf: 200" "SIP/2.0 200 OK" "$STATUS"
wait "$CALLEE_PID"
rsp=$(ok_response rsp_ue)
expect_no_match "... his handset's P-Asserted-Identity was not passed on" 'mallory' "$rsp"
expect_eq "... the pcscf asserted his default IMPU instead (TS 24.229 5.2.6.4.4)" \
  "P-Asserted-Identity: <sip:bob@$DOMAIN>" "$(grep '^P-Asserted-Identity' <<<"$rsp")"
expect_eq "the pcscf counts one response whose trust-domain headers it removed" 1 \
  "$(untrusted pcscf response_pai_removed)"

echo "-- (7c) the handset's P-Preferred-Identity in its response becomes P-Asserted-Identity"
# ppi_answerer PPI: bob's handset answers one MESSAGE with that P-Preferred-Identity.
ppi_answerer() { # PPI [NAME: what the handset received goes to $WORKDIR/NAME.msg]
  timeout 40 sipp -sf "$SCEN/trust_message_uas_ppi.xml" -i "$UNTRUSTED" -p "$PB2" -t u1 -m 1 -timeout 35s \
    -key ppi "$1" -trace_msg -message_file "$WORKDIR/${2:-ppi}.msg" >/dev/null 2>&1 &
  CALLEE_PID=$!
  wait_for 5 port_bound udp "$PB2" || fail "bob's handset (SIPp) listens on $UNTRUSTED:$PB2"
}
ppi_answerer "<tel:+15550002>"
message rsp_ppi 127.0.0.1 "$SC_SIP" "sip:bob@$DOMAIN" "preferring tel"
expect_eq "a MESSAGE to bob, his handset preferring tel:+15550002: 200" "SIP/2.0 200 OK" "$STATUS"
wait "$CALLEE_PID"
rsp=$(ok_response rsp_ppi)
expect_eq "... asserted as his tel: URI, one of his P-Associated-URIs" "P-Asserted-Identity: <tel:+15550002>" \
  "$(grep '^P-Asserted-Identity' <<<"$rsp")"
expect_no_match "... and the P-Preferred-Identity removed" '^P-Preferred-Identity' "$rsp"
ppi_answerer "<sip:mallory@$DOMAIN>"
message rsp_ppi2 127.0.0.1 "$SC_SIP" "sip:bob@$DOMAIN" "preferring mallory"
expect_eq "a MESSAGE to bob, his handset preferring sip:mallory (not his): 200" "SIP/2.0 200 OK" "$STATUS"
wait "$CALLEE_PID"
rsp=$(ok_response rsp_ppi2)
expect_eq "... asserted as his default IMPU" "P-Asserted-Identity: <sip:bob@$DOMAIN>" \
  "$(grep '^P-Asserted-Identity' <<<"$rsp")"
expect_no_match "... mallory named nowhere" 'mallory' "$rsp"

echo "-- (7d) Privacy: id (RFC 3325 9.3): the asserted identity stays in the trust domain"
ppi_answerer "<sip:bob@$DOMAIN>" bpriv
message rsp_priv 127.0.0.1 "$SC_SIP" "sip:bob@$DOMAIN" "private" "$PAI" "Privacy: id"
expect_eq "alice's MESSAGE with Privacy: id to bob: 200" "SIP/2.0 200 OK" "$STATUS"
wait "$CALLEE_PID"
got=$(requests bpriv MESSAGE)
expect_match "... bob's handset gets it with the Privacy header" '^Privacy: id$' "$got"
expect_no_match "... and without alice's P-Asserted-Identity" '^P-Asserted-Identity' "$got"

stop_clean pcscf scscf hss
finish
