#!/usr/bin/env bash
# The handset profile's transport switches at the pcscf (pcscf.profiles force_transport,
# max_udp_size, keepalive_seconds; cscf/pcscf/flow_conn.c pc_flows_hint): bob's handset is
# matched by its IMEI TAC (profile "lab"). With max_udp_size 500 a 1 KB MESSAGE (under the
# 1300 of flows.max_udp_size) goes over UDP when bob has no TCP flow and over his TCP flow when
# he has one; with force_transport tcp a small MESSAGE to his UDP contact goes over TCP; his
# REGISTER over TCP gets Flow-Timer: 30 (keepalive_seconds), not flows.keepalive_seconds (33).
# The profile's switches change by reload (a binding keeps its profile's name).
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
SCEN="$E2E_DIR/scenarios"
DOMAIN=ims.mnc001.mcc001.3gppnetwork.org
TOKEN=pr0f-$RANDOM
field() { jq -r "$1 // empty" <<<"$2"; }
metric() { # SERIES: the pcscf's value, 0 when absent
  http_body "http://127.0.0.1:$PC_API/metrics" | awk -v s="$1" '$1 == s {v = $2} END {print v + 0}'
}
OVER_UDP='cscf_udp_oversize_total{program="pcscf",sent_over="udp"}'
OVER_TCP='cscf_udp_oversize_total{program="pcscf",sent_over="tcp"}'

PCONF="$WORKDIR/pcscf.yaml"
# conf SWITCHES: the pcscf config with profile "lab" (every handset of register_flow*.xml: TAC
# 35000000) setting SWITCHES.
conf() {
  cat "$REPO_DIR/config/pcscf.yaml" - >"$PCONF" <<EOF
flows:
  keepalive_seconds: 33
pcscf:
  profiles:
    - {name: lab, tac: "35000000", $1}
EOF
}
reload() {
  local out
  out=$(curl -s -m 5 -X POST -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PC_API/api/v1/reload")
  expect_match "the reload applies the profile ($1)" '"pcscf.profiles"' "$(jq -c .applied <<<"$out")"
}
conf "max_udp_size: 500, keepalive_seconds: 30"

start_hss hss || { finish; exit 1; }
SC_SIP=$(free_port) SC_API=$(free_port) PC_SIP=$(free_port) PC_API=$(free_port)
mapfile -t diam < <(scscf_diameter_env)
start_prog scscf "$BUILD/scscf" "$REPO_DIR/config/scscf.yaml" SCSCF_SIP_LISTEN="127.0.0.1:$SC_SIP" \
  SCSCF_API_LISTEN="127.0.0.1:$SC_API" "${diam[@]}" || { finish; exit 1; }
start_prog pcscf "$BUILD/pcscf" "$PCONF" PCSCF_SIP_LISTEN="127.0.0.1:$PC_SIP" \
  PCSCF_API_LISTEN="127.0.0.1:$PC_API" PCSCF_API_TOKEN=$TOKEN PCSCF_LOG_LEVEL=debug \
  PCSCF_SIP_TRANSPORTS=tcp,udp PCSCF_PCSCF_REGISTRAR="sip:127.0.0.1:$SC_SIP;transport=tcp;lr" || { finish; exit 1; }
wait_http "127.0.0.1:$SC_API" /readyz 200 10 || fail "scscf ready"

A_K=abcdefghijklmnop B_K=bobbobbobbobbob1 OP=ponmlkjihgfedcba
. "$E2E_DIR/flows_lib.sh" # csv, register
# uas NAME TRANSPORT PORT: bob's handset waiting for one MESSAGE on PORT, in the background.
uas() {
  timeout 30 sipp -sf "$SCEN/message_uas.xml" -i 127.0.0.1 -p "$3" -t "$2" -m 1 -timeout 25s \
    -timeout_error -trace_msg -message_file "$WORKDIR/$1.msg" >/dev/null 2>&1 &
  UAS_PID=$!
  local proto=udp
  [ "$2" = t1 ] && proto=tcp
  wait_for 5 port_bound "$proto" "$3" || fail "$1: SIPp listens on $proto $3"
}
# message NAME BODY [SIPp args]: alice sends bob a MESSAGE; SIPp's verdict in $?.
message() {
  local name=$1 body=$2
  shift 2
  printf 'SEQUENTIAL\nalice;sip:bob@%s;%s;text/plain;%s\n' "$DOMAIN" "$DOMAIN" "$body" >"$WORKDIR/$name.csv"
  timeout 30 sipp -sf "$SCEN/message_uac.xml" -inf "$WORKDIR/$name.csv" -i 127.0.0.1 -p "$PA" -t u1 \
    -m 1 -timeout 20s -timeout_error -trace_msg -message_file "$WORKDIR/$name.msg" "$@" \
    "127.0.0.1:$PC_SIP" >/dev/null 2>&1
}
# The pcscf's debug line for the first MESSAGE it sent towards bob's UDP binding since line N.
sent_to() {
  tail -n "+$(($1 + 1))" "$WORKDIR/pcscf.log" |
    sed -n "s/.*\(pcscf: MESSAGE to .* of udp:[^ ]*\) (bob@.*/\1/p" | head -1
}
log_lines() { wc -l <"$WORKDIR/pcscf.log"; }
binding() { # FLOW: the pcscf's binding for that flow
  jq -c ".registrations[] | select(.flow == \"$1\")" <<<"$(http_body "http://127.0.0.1:$PC_API/api/v1/registrations")"
}
last_200() { # the last 200 to a REGISTER in a SIPp message log (its header lines)
  awk '/^SIP\/2.0 200/ {buf = ""; on = 1} on {buf = buf $0 "\n"}
       on && /^$/ {on = 0; if (buf ~ /CSeq: [0-9]+ REGISTER/) last = buf}
       END {printf "%s", last}' "$WORKDIR/$1.msg"
}
# About 1 KB on the wire to bob: over the profile's 500, under flows.max_udp_size's 1300 (the
# size rule adds 200 bytes for our Via and Record-Route; checked on what bob received).
KB=$(head -c 200 /dev/zero | tr '\0' 'x')
# The size of the first MESSAGE in a SIPp trace, as received.
received_size() { sed -n 's/.*message received \[\([0-9]*\)\] bytes.*/\1/p' "$WORKDIR/$1.msg" | head -1; }

PA=$(free_port)
printf 'SEQUENTIAL\nalice;alice@%s;%s;[authentication username=alice@%s aka_K=%s aka_OP=%s];600;1\n' \
  "$DOMAIN" "$DOMAIN" "$DOMAIN" "$A_K" "$OP" >"$WORKDIR/alice.csv"
timeout 20 sipp -sf "$SCEN/register_aka.xml" -inf "$WORKDIR/alice.csv" -i 127.0.0.1 -p "$PA" -t u1 \
  -m 1 -timeout 15s -timeout_error -auth_uri "$DOMAIN" -trace_msg -message_file "$WORKDIR/alice.msg" \
  "127.0.0.1:$PC_SIP" >/dev/null 2>&1
expect_eq "alice registers (the caller)" 0 "$?"

echo "-- bob registers over UDP (profile lab: max_udp_size 500); a 1 KB MESSAGE, no TCP flow: UDP"
BR=$(free_port) BU=$(free_port)
csv bu bob "$B_K" 2 "127.0.0.1:$BU" 600 path
register bu register_flow u1 "$BR"
expect_eq "bob registers over UDP from $BR, Contact on $BU" 0 "$?"
expect_eq "his binding has profile lab" lab "$(field .profile "$(binding "udp:127.0.0.1:$BR")")"
n=$(log_lines)
uas bmsg u1 "$BU"
message amsg "$KB"
expect_eq "alice's 1 KB MESSAGE to bob gets 200" 0 "$?"
wait "$UAS_PID"
expect_eq "bob's UDP handset takes it" 0 "$?"
size=$(received_size bmsg)
[ "${size:-0}" -gt 500 ] && [ "$size" -lt 1100 ] && pass "... $size bytes: over 500, under 1300 with our 200 added" ||
  fail "... over 500, under 1300 with our 200 added" "${size:-none} bytes"
expect_eq "the pcscf sent it over UDP, over the profile's size" \
  "pcscf: MESSAGE to sip:127.0.0.1:$BU;transport=udp, UDP (no TCP known to reach the UE) of udp:127.0.0.1:$BR" \
  "$(sent_to "$n")"
expect_eq "counted: cscf_udp_oversize_total{sent_over=udp}" 1 "$(metric "$OVER_UDP")"

echo "-- force_transport tcp: a small MESSAGE (under 1300) to his UDP contact goes over TCP"
conf "keepalive_seconds: 30, force_transport: tcp" # max_udp_size: 1300, the default
reload "force_transport tcp"
n=$(log_lines)
uas btcp t1 "$BU"
message asmall "hi"
expect_eq "alice's small MESSAGE to bob gets 200" 0 "$?"
wait "$UAS_PID"
expect_eq "bob's handset takes it over TCP on his Contact's port" 0 "$?"
expect_eq "the pcscf sent it over TCP (the handset profile)" \
  "pcscf: MESSAGE to sip:127.0.0.1:$BU;transport=tcp, TCP (the handset profile) of udp:127.0.0.1:$BR" \
  "$(sent_to "$n")"
expect_eq "... not counted in cscf_udp_oversize_total{sent_over=tcp} (not over the size)" 0 "$(metric "$OVER_TCP")"

echo "-- bob also registers over TCP: Flow-Timer 30; the 1 KB MESSAGE takes his TCP flow"
conf "max_udp_size: 500, keepalive_seconds: 30"
reload "force_transport none"
BT=$(free_port) CID="pf-$RANDOM$RANDOM@127.0.0.1"
csv bt bob "$B_K" 3 "127.0.0.1:$(free_port)" 600 "path, outbound"
register bt register_flow_uas t1 "$BT" -cid_str "$CID" &
BT_PID=$!
wait_for 10 eval '[ -n "$(binding "tcp:127.0.0.1:$BT")" ]' || fail "bob registers over TCP from $BT"
expect_eq "... with profile lab" lab "$(field .profile "$(binding "tcp:127.0.0.1:$BT")")"
n=$(log_lines)
message amsg2 "$KB" -cid_str "$CID"
expect_eq "alice's 1 KB MESSAGE to bob gets 200" 0 "$?"
wait "$BT_PID"
expect_eq "bob's TCP handset took both forks (his UDP and his TCP contact) on his connection" 0 "$?"
expect_match "the 200 to his REGISTER over TCP carried Flow-Timer: 30 (keepalive_seconds)" \
  '^Flow-Timer: 30' "$(last_200 bt)"
expect_eq "the UDP contact's copy went over his TCP flow" \
  "pcscf: MESSAGE to sip:127.0.0.1:$BT;transport=tcp, its TCP flow (RFC 3261 18.1.1) of udp:127.0.0.1:$BR" \
  "$(sent_to "$n")"
expect_eq "counted: cscf_udp_oversize_total{sent_over=tcp}" 1 "$(metric "$OVER_TCP")"

stop_clean pcscf scscf hss
finish
