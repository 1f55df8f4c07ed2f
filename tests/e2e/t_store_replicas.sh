#!/usr/bin/env bash
# Two S-CSCF replicas on one Redis (issue 16): A and B, each with its own SIP address and
# Diameter identity, one shared Server-Name (scscf.server_name, as replicas are configured), the
# same HSS and store.backend redis. pcscf P1 registers at A, P2 at B.
# alice registers through P1/A and her handset subscribes to her reg event at A (P1 has its
# own subscription there too); bob registers through P2/B. Then: B lists alice; bob's call to
# alice goes P2 -> B -> P1 -> alice (B found her in the shared store) and hers to bob goes
# P1 -> A -> P2 -> bob; alice is de-registered at B (REST DELETE), and B sends the NOTIFYs that
# end both subscriptions made at A; after that a MESSAGE to alice through A gets 480 (A no
# longer routes to her) and so does one through B.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/store_lib.sh"

BUILD=${1:-build}
TOKEN=s3cret
A_K=abcdefghijklmnop B_K=bobbobbobbobbob1

start_redis redis || { finish; exit 1; }
start_hss hss || { finish; exit 1; }
declare -A SIP API PSIP PAPI
SNAME="sip:scscf.$DOMAIN:6060" # in Kubernetes the scscf Service, reaching either
for r in a b; do
  SIP[$r]=$(free_port) API[$r]=$(free_port)
  start_prog "scscf_$r" "$BUILD/scscf" "$REPO_DIR/config/scscf.yaml" SCSCF_SIP_LISTEN="127.0.0.1:${SIP[$r]}" \
    SCSCF_API_LISTEN="127.0.0.1:${API[$r]}" SCSCF_API_TOKEN=$TOKEN SCSCF_STORE_BACKEND=redis \
    SCSCF_STORE_REDIS_ADDRESS="127.0.0.1:$REDIS_PORT" SCSCF_DIAMETER_IDENTITY="scscf-$r.$DOMAIN" SCSCF_SCSCF_SERVER_NAME="$SNAME" \
    SCSCF_DIAMETER_LISTEN="127.0.0.1:$(free_port)" SCSCF_DIAMETER_PEERS="$HSS_ID@127.0.0.1:$HSS_DIAM" ||
    { finish; exit 1; }
done
for r in a b; do
  PSIP[$r]=$(free_port) PAPI[$r]=$(free_port)
  start_prog "pcscf_$r" "$BUILD/pcscf" "$REPO_DIR/config/pcscf.yaml" PCSCF_SIP_LISTEN="127.0.0.1:${PSIP[$r]}" \
    PCSCF_API_LISTEN="127.0.0.1:${PAPI[$r]}" PCSCF_PCSCF_REGISTRAR="sip:127.0.0.1:${SIP[$r]};transport=tcp;lr" ||
    { finish; exit 1; }
done
for r in a b; do
  wait_http "127.0.0.1:${API[$r]}" /readyz 200 10 || fail "scscf $r ready"
done
sc() { http_body "http://127.0.0.1:${API[$1]}$2"; }
pc() { http_body "http://127.0.0.1:${PAPI[$1]}$2"; }
hss_state() { field '"\(.state.registration) \(.state.scscf)"' "$(http_body "http://127.0.0.1:$HSS_API/api/v1/subscribers/$1@$DOMAIN")"; }
pc_sub() { pc "$1" /api/v1/subscriptions | jq -r --arg u "sip:$2@$DOMAIN" "[.subscriptions[] | select(.impu == \$u)][0] | $3 // empty"; }
# raw_message SCSCF: a MESSAGE to alice sent straight to that replica (the terminating case: it
# looks her up); sipsend prints the status line of the answer (a MESSAGE gets no 100 first).
raw_message() {
  local f="$WORKDIR/msg_$1.sip" body="replicas"
  printf 'MESSAGE sip:alice@%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK%s\r\nMax-Forwards: 70\r\nFrom: <sip:carol@example.net>;tag=r%s\r\nTo: <sip:alice@%s>\r\nCall-ID: %s@replicas\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s' \
    "$DOMAIN" "$RANDOM$RANDOM" "$RANDOM" "$DOMAIN" "$RANDOM$RANDOM" "${#body}" "$body" >"$f"
  sipsend -u 127.0.0.1 "${SIP[$1]}" "$f" 5000 | tr -d '\r'
}

echo "-- alice registers through P1 -> A, bob through P2 -> B"
PA=$(free_port) PB=$(free_port)
ue_csv areg alice "$A_K" 600 1
sipp_ue register_aka.xml areg "$PA" "127.0.0.1:${PSIP[a]}" areg
expect_eq "alice registers through P1 (registrar A)" 0 "$?"
ue_csv breg bob "$B_K" 600 2
sipp_ue register_aka.xml breg "$PB" "127.0.0.1:${PSIP[b]}" breg
expect_eq "bob registers through P2 (registrar B)" 0 "$?"
expect_match "alice's 200 names A in Service-Route" "^Service-Route: <sip:(orig@)?127.0.0.1:${SIP[a]}[;>]" \
  "$(tr -d '\r' <"$WORKDIR/areg.msg" | grep '^Service-Route:')"
CTAG="repl$RANDOM$RANDOM" CID=${CTAG}-1@store
ue_csv asub alice "$A_K" 600 1
sipp_ue regevent_sub.xml asub "$PA" "127.0.0.1:${PSIP[a]}" asub -cid_str "$(cid_str "$CTAG")"
expect_eq "alice's handset subscribes to her reg event (through P1, at A)" 0 "$?"
expect_match "... A answered it (its Contact)" "^Contact: <sip:127.0.0.1:${SIP[a]}" "$(tr -d '\r' <"$WORKDIR/asub.msg" | grep '^Contact:')"
p1_active() { [ "$(pc_sub a alice .state)" = active ]; }
wait_for 10 p1_active
expect_eq "P1's own subscription for alice is active (made at A)" active "$(pc_sub a alice .state)"

expect_eq "the HSS has alice registered to the replicas' Server-Name" "registered $SNAME" "$(hss_state alice)"

echo "-- B knows alice (the shared store)"
expect_match "GET /api/v1/registrations/sip:alice at B: her contact on $PA" "^sip:alice@127.0.0.1:$PA;" \
  "$(field '.contacts[].uri' "$(sc b "/api/v1/registrations/sip:alice@$DOMAIN")")"
expect_eq "... and B lists both subscriptions to her" 2 \
  "$(sc b /api/v1/subscriptions | jq --arg u "sip:alice@$DOMAIN" '[.subscriptions[] | select(.impu == $u)] | length')"

echo "-- bob calls alice: P2 -> B -> P1 -> alice"
listener acall call_uas.xml "$PA" 25 -d 100
caller bcall call_uac.xml "$PB" "127.0.0.1:${PSIP[b]}" "bob;sip:alice@$DOMAIN;$DOMAIN"
expect_eq "the call connects: INVITE/180/200/ACK/BYE/200" 0 "$?"
wait "$LISTENER_PID"
expect_eq "alice's handset took INVITE, ACK and BYE" 0 "$?"
expect_match "alice's INVITE came through B (its Via) and P1" \
  "^Via: SIP/2.0/TCP 127.0.0.1:${SIP[b]};" "$(msg_nth acall INVITE 1)"
expect_match "B counts the answered call" '^cscf_calls_answered_total\{program="scscf"\} 1$' "$(sc b /metrics)"

echo "-- alice calls bob: P1 -> A -> P2 -> bob"
listener bcallee call_uas.xml "$PB" 25 -d 100
caller acaller call_uac.xml "$PA" "127.0.0.1:${PSIP[a]}" "alice;sip:bob@$DOMAIN;$DOMAIN"
expect_eq "the call connects" 0 "$?"
wait "$LISTENER_PID"
expect_eq "bob's handset took INVITE, ACK and BYE" 0 "$?"
expect_match "bob's INVITE came through A (its Via)" "^Via: SIP/2.0/TCP 127.0.0.1:${SIP[a]};" "$(msg_nth bcallee INVITE 1)"

echo "-- alice is de-registered at B (REST DELETE): B notifies the subscriptions made at A"
listener aend notify_uas.xml "$PA" 20
expect_eq "DELETE /api/v1/registrations/sip:alice at B: 200" 200 \
  "$(http_code "http://127.0.0.1:${API[b]}/api/v1/registrations/sip:alice@$DOMAIN" -X DELETE -H "Authorization: Bearer $TOKEN")"
wait "$LISTENER_PID"
expect_eq "alice's handset got a NOTIFY" 0 "$?"
n=$(msg_nth aend NOTIFY 1)
expect_eq "... in the dialog made at A (Call-ID)" "$CID" "$(hdr Call-ID <<<"$n")"
expect_match "... Subscription-State terminated" '^Subscription-State: terminated' "$n"
expect_match "... sent by B (its Via under P1's)" "^Via: SIP/2.0/TCP 127.0.0.1:${SIP[b]};" "$n"
p1_gone() { [ -z "$(pc_sub a alice .state)" ]; }
wait_for 10 p1_gone
expect_eq "P1's own subscription for alice ended (B's NOTIFY terminated)" "" "$(pc_sub a alice .state)"
p1_unbound() { [ "$(field .total "$(pc a /api/v1/registrations)")" = 0 ]; }
wait_for 10 p1_unbound
expect_eq "... and P1 dropped alice's binding" 0 "$(field .total "$(pc a /api/v1/registrations)")"
expect_match "B counts the NOTIFYs it sent" '^cscf_regevent_notify_total\{program="scscf",outcome="2xx"\} [1-9]' "$(sc b /metrics)"

hss_unreg() { [ "$(hss_state alice)" = "not_registered null" ]; }
wait_for 5 hss_unreg
expect_eq "... and B's SAR made her not_registered at the HSS" "not_registered null" "$(hss_state alice)"

echo "-- A stops routing to alice"
expect_eq "GET /api/v1/registrations/sip:alice at A: 404" 404 \
  "$(http_code "http://127.0.0.1:${API[a]}/api/v1/registrations/sip:alice@$DOMAIN")"
expect_eq "a MESSAGE to alice sent to A: 480" "SIP/2.0 480 Temporarily Unavailable" "$(raw_message a)"
expect_eq "... and to B: 480" "SIP/2.0 480 Temporarily Unavailable" "$(raw_message b)"
expect_eq "A's SUBSCRIBE list has nothing for alice" 0 \
  "$(sc a /api/v1/subscriptions | jq --arg u "sip:alice@$DOMAIN" '[.subscriptions[] | select(.impu == $u)] | length')"

stop_clean pcscf_a pcscf_b scscf_a scscf_b hss
stop_prog redis
finish
