#!/usr/bin/env bash
# RFC 5626 flows and the UDP/TCP delivery quirks at the pcscf (cscf/pcscf/flow_conn.c): a UE
# registered over UDP gets its INVITE over UDP although the core sends it over TCP; a 2 KB
# MESSAGE goes over UDP to a UE with no TCP known to reach it (RFC 3261 18.1.1, never nta's own
# switch to a new TCP connection) and over the UE's own TCP connection when it has one; a TCP
# listener answers a CRLF ping with a pong; the 200 to a REGISTER over TCP carries Flow-Timer;
# a UE that closes its connection has its flow marked dead and the next request for it gets 430
# Flow Failed at once; with flows.ping_seconds a UE that answers no ping loses its flow.
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
SCEN="$E2E_DIR/scenarios"
DOMAIN=ims.mnc001.mcc001.3gppnetwork.org
TOKEN=fl0ws
KEEPALIVE=33
field() { jq -r "$1 // empty" <<<"$2"; }
metric() { # SERIES: the pcscf's value, 0 when absent
  http_body "http://127.0.0.1:$PC_API/metrics" | awk -v s="$1" '$1 == s {v = $2} END {print v + 0}'
}
metric_is() { [ "$(metric "$1")" = "$2" ]; }
DEAD='cscf_flows_dead_total{program="pcscf"}'
OVER_UDP='cscf_udp_oversize_total{program="pcscf",sent_over="udp"}'
OVER_TCP='cscf_udp_oversize_total{program="pcscf",sent_over="tcp"}'

start_hss hss || { finish; exit 1; }
SC_SIP=$(free_port) SC_API=$(free_port) PC_SIP=$(free_port) PC_API=$(free_port)
mapfile -t diam < <(scscf_diameter_env)
start_prog scscf "$BUILD/scscf" "$REPO_DIR/config/scscf.yaml" SCSCF_SIP_LISTEN="127.0.0.1:$SC_SIP" \
  SCSCF_API_LISTEN="127.0.0.1:$SC_API" "${diam[@]}" || { finish; exit 1; }
PCONF="$WORKDIR/pcscf.yaml"
cp "$REPO_DIR/config/pcscf.yaml" "$PCONF"
printf 'flows:\n  keepalive_seconds: %s\n  ping_seconds: 0\n  pong_timeout_ms: 1000\n' "$KEEPALIVE" >>"$PCONF"
# The core leg is TCP (the registrar's transport=tcp, our Path says so): the S-CSCF sends
# everything for bob to us over TCP, whatever bob registered over.
start_prog pcscf "$BUILD/pcscf" "$PCONF" PCSCF_SIP_LISTEN="127.0.0.1:$PC_SIP" \
  PCSCF_API_LISTEN="127.0.0.1:$PC_API" PCSCF_API_TOKEN=$TOKEN PCSCF_LOG_LEVEL=debug \
  PCSCF_SIP_TRANSPORTS=tcp,udp PCSCF_PCSCF_REGISTRAR="sip:127.0.0.1:$SC_SIP;transport=tcp;lr" || { finish; exit 1; }
wait_http "127.0.0.1:$SC_API" /readyz 200 10 || fail "scscf ready"

A_K=abcdefghijklmnop B_K=bobbobbobbobbob1 OP=ponmlkjihgfedcba
. "$E2E_DIR/flows_lib.sh" # csv, register
# uas NAME SCENARIO PORT: bob's UDP handset waiting for one request on PORT, in the background.
uas() {
  timeout 30 sipp -sf "$SCEN/$2.xml" -i 127.0.0.1 -p "$3" -t u1 -m 1 -timeout 25s \
    -timeout_error -trace_msg -message_file "$WORKDIR/$1.msg" >/dev/null 2>&1 &
  UAS_PID=$!
  wait_for 5 port_bound udp "$3" || fail "$1: SIPp listens on $3"
}
BODY=$(head -c 2000 /dev/zero | tr '\0' 'x') # 2 KB: over RFC 3261 18.1.1's 1300 bytes
# message NAME SCENARIO BODY [SIPp args]: alice sends bob a MESSAGE; SIPp's verdict in $?.
message() {
  local name=$1 scen=$2 body=$3
  shift 3
  printf 'SEQUENTIAL\nalice;sip:bob@%s;%s;text/plain;%s\n' "$DOMAIN" "$DOMAIN" "$body" >"$WORKDIR/$name.csv"
  timeout 30 sipp -sf "$SCEN/$scen.xml" -inf "$WORKDIR/$name.csv" -i 127.0.0.1 -p "$PA" -t u1 \
    -m 1 -timeout 20s -timeout_error -trace_msg -message_file "$WORKDIR/$name.msg" "$@" \
    "127.0.0.1:$PC_SIP" >/dev/null 2>&1
}
got() { grep -c "^$2 sip:" "$WORKDIR/$1.msg" 2>/dev/null; } # NAME METHOD: requests received
# The pcscf's debug line for the first METHOD it sent towards bob since the log had N lines.
sent_to() {
  tail -n "+$(($2 + 1))" "$WORKDIR/pcscf.log" | sed -n "s/.*\(pcscf: $1 to .*\) (bob@.*/\1/p" | head -1
}
log_lines() { wc -l <"$WORKDIR/pcscf.log"; }
binding() { # FLOW: the pcscf's binding for that flow
  jq -c ".registrations[] | select(.flow == \"$1\")" <<<"$(http_body "http://127.0.0.1:$PC_API/api/v1/registrations")"
}
# The last 200 to a REGISTER in a SIPp message log (its header lines).
last_200() {
  awk '/^SIP\/2.0 200/ {buf = ""; on = 1} on {buf = buf $0 "\n"}
       on && /^$/ {on = 0; if (buf ~ /CSeq: [0-9]+ REGISTER/) last = buf}
       END {printf "%s", last}' "$WORKDIR/$1.msg"
}

PA=$(free_port)
printf 'SEQUENTIAL\nalice;alice@%s;%s;[authentication username=alice@%s aka_K=%s aka_OP=%s];600;1\n' \
  "$DOMAIN" "$DOMAIN" "$DOMAIN" "$A_K" "$OP" >"$WORKDIR/alice.csv"
timeout 20 sipp -sf "$SCEN/register_aka.xml" -inf "$WORKDIR/alice.csv" -i 127.0.0.1 -p "$PA" -t u1 \
  -m 1 -timeout 15s -timeout_error -auth_uri "$DOMAIN" -trace_msg -message_file "$WORKDIR/alice.msg" \
  "127.0.0.1:$PC_SIP" >/dev/null 2>&1
expect_eq "alice registers (the caller)" 0 "$?"

echo "-- bob registers over UDP from one port, his Contact on another naming no transport"
BR=$(free_port) BU=$(free_port)
csv bu bob "$B_K" 2 "127.0.0.1:$BU" 600 path
register bu register_flow u1 "$BR"
expect_eq "bob registers over UDP from $BR, Contact <sip:bob@127.0.0.1:$BU>" 0 "$?"
expect_eq "his target is the Contact over UDP (the transport he registered on)" \
  "sip:127.0.0.1:$BU;transport=udp" "$(field .target "$(binding "udp:127.0.0.1:$BR")")"
expect_no_match "the 200 over UDP without outbound has no Flow-Timer" '^Flow-Timer:' "$(last_200 bu)"
expect_match "the S-CSCF reaches bob through our Path over TCP" ';transport=tcp>' \
  "$(jq -r '.contacts[] | select(.uri | contains(":'"$BU"'")) | .path' <<<"$(http_body "http://127.0.0.1:$SC_API/api/v1/registrations/sip:bob@$DOMAIN")")"

echo "-- an INVITE the core sends over TCP reaches bob over UDP"
n=$(log_lines)
uas binv call_uas "$BU"
printf 'SEQUENTIAL\nalice;sip:bob@%s;%s\n' "$DOMAIN" "$DOMAIN" >"$WORKDIR/ainv.csv"
timeout 30 sipp -sf "$SCEN/call_uac.xml" -inf "$WORKDIR/ainv.csv" -i 127.0.0.1 -p "$PA" -t u1 -m 1 \
  -timeout 20s -timeout_error -trace_msg -message_file "$WORKDIR/ainv.msg" "127.0.0.1:$PC_SIP" \
  >/dev/null 2>&1
expect_eq "alice's call to bob completes" 0 "$?"
wait "$UAS_PID"
expect_eq "bob's UDP handset takes it" 0 "$?"
expect_eq "... the INVITE arrived on UDP" 1 "$(got binv INVITE)"
expect_eq "the pcscf sent it over UDP" "pcscf: INVITE to sip:127.0.0.1:$BU;transport=udp, contact of udp:127.0.0.1:$BR" "$(sent_to INVITE "$n")"

echo "-- a 2 KB MESSAGE to bob with no TCP known: over UDP, not a TCP connection of nta's"
# Something accepts TCP on bob's port but is no SIP handset (a NAT's or a firewall's port, an
# unrelated program): a request moved to TCP there would never reach bob.
python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8); s.settimeout(30)
conns = []
end = time.time() + 30
while time.time() < end:
    try:
        c, _ = s.accept(); conns.append(c)
    except OSError:
        break
' "$BU" &
TRAP_PID=$!
wait_for 15 port_bound tcp "$BU" || fail "the TCP trap listens on $BU"
n=$(log_lines)
uas bmsg message_uas "$BU"
message amsg message_uac "$BODY"
expect_eq "alice's 2 KB MESSAGE to bob gets 200" 0 "$?"
wait "$UAS_PID"
expect_eq "bob's UDP handset takes it" 0 "$?"
expect_eq "the pcscf sent it over UDP anyway" \
  "pcscf: MESSAGE to sip:127.0.0.1:$BU;transport=udp, UDP (no TCP known to reach the UE) of udp:127.0.0.1:$BR" \
  "$(sent_to MESSAGE "$n")"
expect_eq "counted: cscf_udp_oversize_total{sent_over=udp}" 1 "$(metric "$OVER_UDP")"
kill "$TRAP_PID" 2>/dev/null
wait "$TRAP_PID" 2>/dev/null

echo "-- bob also registers over TCP (outbound): the 2 KB MESSAGE for his UDP contact takes that connection"
BT=$(free_port) CID="fl-$RANDOM$RANDOM@127.0.0.1"
csv bt bob "$B_K" 3 "127.0.0.1:$(free_port)" 600 "path, outbound"
register bt register_flow_uas t1 "$BT" -cid_str "$CID" &
BT_PID=$!
wait_for 10 eval '[ -n "$(binding "tcp:127.0.0.1:$BT")" ]'
b=$(binding "tcp:127.0.0.1:$BT")
expect_eq "bob's TCP registration is an outbound one" true "$(jq -r .outbound <<<"$b")"
n=$(log_lines)
message amsg2 message_uac "$BODY" -cid_str "$CID"
expect_eq "alice's 2 KB MESSAGE to bob gets 200" 0 "$?"
wait "$BT_PID"
expect_eq "bob's TCP handset took both forks of it (his UDP and his TCP contact) on his connection" 0 "$?"
expect_match "the 200 to his REGISTER over TCP carried Flow-Timer: flows.keepalive_seconds" \
  "^Flow-Timer: $KEEPALIVE" "$(last_200 bt)"
expect_match "... and Require: outbound (RFC 5626 6)" '^Require:.*outbound' "$(last_200 bt)"
expect_eq "the UDP contact's copy went over his TCP flow" \
  "pcscf: MESSAGE to sip:127.0.0.1:$BT;transport=tcp, its TCP flow (RFC 3261 18.1.1) of udp:127.0.0.1:$BR" \
  "$(tail -n "+$((n + 1))" "$WORKDIR/pcscf.log" | sed -n "s/.*\(pcscf: MESSAGE to .* of udp:[^ ]*\) (bob@.*/\1/p" | head -1)"
expect_eq "counted: cscf_udp_oversize_total{sent_over=tcp}" 1 "$(metric "$OVER_TCP")"

echo "-- bob's TCP handset has gone (its connection closed): the flow is dead"
wait_for 10 metric_is "$DEAD" 1
expect_eq "cscf_flows_dead_total counts it" 1 "$(metric "$DEAD")"
expect_match "the pcscf says so" "pcscf: flow tcp:127.0.0.1:$BT \(bob@$DOMAIN\) dead" "$(cat "$WORKDIR/pcscf.log")"
expect_eq "the binding shows it" true "$(jq -r .flow_dead <<<"$(binding "tcp:127.0.0.1:$BT")")"
csv bu0 bob "$B_K" 2 "127.0.0.1:$BU" 0 path
register bu0 register_flow u1 "$BR"
expect_eq "bob's UDP contact deregisters (only the dead flow is left)" 0 "$?"
start=${EPOCHREALTIME/./}
message a430 message_uac_430 "hello" -timeout 10s
expect_eq "alice's MESSAGE to bob gets 430 Flow Failed" 0 "$?"
ms=$(((${EPOCHREALTIME/./} - start) / 1000))
# Generous for a loaded machine: a connection attempt towards bob would wait for Timer F (32 s).
[ "$ms" -lt 8000 ] && pass "... promptly ($ms ms)" || fail "... promptly" "$ms ms"
expect_match "the pcscf refused it for the dead flow" "pcscf: MESSAGE for bob@$DOMAIN refused: its flow tcp:127.0.0.1:$BT is dead" "$(cat "$WORKDIR/pcscf.log")"
expect_eq "... counted once" 1 "$(metric "$DEAD")"

echo "-- an outbound UE's dialog: the caller's ACK and BYE come over its flow (flow token in Record-Route)"
BO=$(free_port) FAR=$(free_port) CID2="fo-$RANDOM$RANDOM@127.0.0.1"
csv bo bob "$B_K" 5 "127.0.0.1:$FAR" 600 "path, outbound"
timeout 40 sipp -sf "$SCEN/register_outbound_call_far.xml" -inf "$WORKDIR/bo.csv" -i 127.0.0.1 \
  -p "$BO" -t t1 -m 1 -timeout 35s -timeout_error -auth_uri "$DOMAIN" -trace_msg \
  -message_file "$WORKDIR/bo.msg" -cid_str "$CID2" -d 100 "127.0.0.1:$PC_SIP" >/dev/null 2>&1 &
BO_PID=$!
wait_for 10 eval '[ -n "$(binding "tcp:127.0.0.1:$BO")" ]' || fail "bob registers over TCP (outbound, Contact on $FAR where nobody listens)"
n=$(log_lines)
printf 'SEQUENTIAL\nalice;sip:bob@%s;%s\n' "$DOMAIN" "$DOMAIN" >"$WORKDIR/afar.csv"
timeout 30 sipp -sf "$SCEN/call_uac.xml" -inf "$WORKDIR/afar.csv" -i 127.0.0.1 -p "$PA" -t u1 -m 1 \
  -timeout 20s -timeout_error -trace_msg -message_file "$WORKDIR/afar.msg" -cid_str "$CID2" \
  "127.0.0.1:$PC_SIP" >/dev/null 2>&1
expect_eq "alice's call to bob completes (INVITE/180/200/ACK/BYE/200)" 0 "$?"
wait "$BO_PID"
expect_eq "bob's handset took the call, its ACK and BYE on his connection" 0 "$?"
expect_match "our Record-Route towards bob carries his flow token" '^Record-Route:.*<sip:flow\.[0-9a-f]+@' \
  "$(sed -n '/^INVITE sip:/,/^$/p' "$WORKDIR/bo.msg")"
expect_match "the pcscf sent the BYE over the flow" "pcscf: BYE in a dialog to sip:127.0.0.1:$BO;transport=tcp, flow token" \
  "$(tail -n "+$((n + 1))" "$WORKDIR/pcscf.log")"
wait_for 10 metric_is "$DEAD" 2 || fail "bob's handset hung up its connection: a second dead flow" "$(metric "$DEAD")"

echo "-- CRLF keep-alive: a double CRLF over TCP is answered with one CRLF"
pong=$(python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"\r\n\r\n")
try:
    print(repr(s.recv(16)))
except OSError as e:
    print("no answer:", e)
' "$PC_SIP")
expect_eq "the pcscf's TCP listener answers the ping" "b'\\r\\n'" "$pong"

echo "-- flows.ping_seconds: the pcscf pings, a UE that never answers loses its flow"
sed -i 's/^  ping_seconds: 0$/  ping_seconds: 1/' "$PCONF"
out=$(curl -s -m 5 -X POST -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PC_API/api/v1/reload")
expect_match "the reload applies it" '"flows.ping_seconds"' "$(jq -c .applied <<<"$out")"
BH=$(free_port)
csv bh bob "$B_K" 4 "127.0.0.1:$BH" 600 path
# This handset holds its connection for 15 s: a flow dead within 10 s was closed by us.
timeout 40 sipp -sf "$SCEN/register_flow_hold.xml" -inf "$WORKDIR/bh.csv" -i 127.0.0.1 -p "$BH" -t t1 \
  -m 1 -timeout 35s -timeout_error -auth_uri "$DOMAIN" -trace_msg -message_file "$WORKDIR/bh.msg" \
  "127.0.0.1:$PC_SIP" >/dev/null 2>&1 &
BH_PID=$!
wait_for 10 eval '[ -n "$(binding "tcp:127.0.0.1:$BH")" ]' || fail "bob registers over TCP and holds his connection"
wait_for 10 metric_is "$DEAD" 3
expect_eq "no pong within flows.pong_timeout_ms: the flow is dead" true \
  "$(jq -r .flow_dead <<<"$(binding "tcp:127.0.0.1:$BH")")"
expect_eq "... counted" 3 "$(metric "$DEAD")"
kill "$BH_PID" 2>/dev/null # timeout passes it on to SIPp
wait "$BH_PID" 2>/dev/null

stop_clean pcscf scscf hss
finish
