#!/usr/bin/env bash
# Where the pcscf delivers a request to a registered UE (RFC 3261 10.3, RFC 5626, TS 24.229
# 5.2.6.4; pcscf.terminating_delivery): to the Contact when the UE registered from another port
# of the same address; to the source (its NAT binding) when the Contact names another address;
# over the same TCP connection when it registered with RFC 5626 outbound; and over the flow
# whatever the Contact says when the config asks for it. Each callee's SIPp message log and the
# pcscf's debug line say where the INVITE went.
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
SCEN="$E2E_DIR/scenarios"
DOMAIN=ims.mnc001.mcc001.3gppnetwork.org
TOKEN=d3liver
field() { jq -r "$1 // empty" <<<"$2"; }

start_hss hss || { finish; exit 1; }
SC_SIP=$(free_port) SC_API=$(free_port) PC_SIP=$(free_port) PC_API=$(free_port)
mapfile -t diam < <(scscf_diameter_env)
start_prog scscf "$BUILD/scscf" "$REPO_DIR/config/scscf.yaml" SCSCF_SIP_LISTEN="127.0.0.1:$SC_SIP" \
  SCSCF_API_LISTEN="127.0.0.1:$SC_API" "${diam[@]}" || { finish; exit 1; }
PCONF="$WORKDIR/pcscf.yaml"
cp "$REPO_DIR/config/pcscf.yaml" "$PCONF"
printf 'pcscf:\n  terminating_delivery: auto\n' >>"$PCONF"
start_prog pcscf "$BUILD/pcscf" "$PCONF" PCSCF_SIP_LISTEN="127.0.0.1:$PC_SIP" \
  PCSCF_API_LISTEN="127.0.0.1:$PC_API" PCSCF_API_TOKEN=$TOKEN PCSCF_LOG_LEVEL=debug \
  PCSCF_PCSCF_REGISTRAR="sip:127.0.0.1:$SC_SIP;transport=tcp;lr" || { finish; exit 1; }
wait_http "127.0.0.1:$SC_API" /readyz 200 10 || fail "scscf ready"

A_K=abcdefghijklmnop B_K=bobbobbobbobbob1 OP=ponmlkjihgfedcba
# csv NAME USER K INSTANCE CONTACT_HOSTPORT SUPPORTED: an injection file for register_contact.xml.
csv() {
  printf 'SEQUENTIAL\n%s;%s@%s;%s;[authentication username=%s@%s aka_K=%s aka_OP=%s];600;%s;%s;%s\n' \
    "$2" "$2" "$DOMAIN" "$DOMAIN" "$2" "$DOMAIN" "$3" "$OP" "$4" "$5" "$6" >"$WORKDIR/$1.csv"
}
# register NAME TRANSPORT(u1|t1) PORT: bob (instance 2, so each registration replaces the last
# at the scscf) registers from PORT with the csv NAME; SIPp's verdict in $?.
register() {
  timeout 20 sipp -sf "$SCEN/register_contact.xml" -inf "$WORKDIR/$1.csv" -i 127.0.0.1 -p "$3" \
    -t "$2" -m 1 -timeout 15s -timeout_error -auth_uri "$DOMAIN" -trace_msg \
    -message_file "$WORKDIR/$1.msg" "127.0.0.1:$PC_SIP" >/dev/null 2>&1
}
# callee NAME TRANSPORT PORT: bob's handset waiting for one call on PORT, in the background.
callee() {
  timeout 30 sipp -sf "$SCEN/call_uas.xml" -i 127.0.0.1 -p "$3" -t "$2" -m 1 -timeout 25s \
    -timeout_error -trace_msg -message_file "$WORKDIR/$1.msg" -d 100 >/dev/null 2>&1 &
  CALLEE_PID=$!
  local kind=udp
  [ "$2" = t1 ] && kind=tcp
  wait_for 10 port_bound "$kind" "$3" || fail "bob's SIPp listens on $3 ($2)"
}
# call NAME [SIPp args]: alice calls bob from her registered port; SIPp's verdict in $?.
call() {
  local name=$1
  shift
  printf 'SEQUENTIAL\nalice;sip:bob@%s;%s\n' "$DOMAIN" "$DOMAIN" >"$WORKDIR/$name.csv"
  timeout 30 sipp -sf "$SCEN/call_uac.xml" -inf "$WORKDIR/$name.csv" -i 127.0.0.1 -p "$PA" -t u1 \
    -m 1 -timeout 20s -timeout_error -trace_msg -message_file "$WORKDIR/$name.msg" "$@" \
    "127.0.0.1:$PC_SIP" >/dev/null 2>&1
}
got_invite() { grep -c '^INVITE sip:' "$WORKDIR/$1.msg" 2>/dev/null; }
# The pcscf's debug line for the INVITEs it sent towards bob since the log had N lines.
sent_to() {
  tail -n "+$(($1 + 1))" "$WORKDIR/pcscf.log" | sed -n 's/.*\(pcscf: INVITE to .*\) (bob@.*/\1/p' | head -1
}
log_lines() { wc -l <"$WORKDIR/pcscf.log"; }
binding() { # FLOW: the pcscf's binding for that flow
  jq -c ".registrations[] | select(.flow == \"$1\")" <<<"$(http_body "http://127.0.0.1:$PC_API/api/v1/registrations")"
}
reload_pcscf() { # MODE
  sed -i "s/^  terminating_delivery: .*/  terminating_delivery: $1/" "$PCONF"
  curl -s -m 5 -X POST -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PC_API/api/v1/reload"
}

PA=$(free_port)
printf 'SEQUENTIAL\nalice;alice@%s;%s;[authentication username=alice@%s aka_K=%s aka_OP=%s];600;1\n' \
  "$DOMAIN" "$DOMAIN" "$DOMAIN" "$A_K" "$OP" >"$WORKDIR/alice.csv"
timeout 20 sipp -sf "$SCEN/register_aka.xml" -inf "$WORKDIR/alice.csv" -i 127.0.0.1 -p "$PA" -t u1 \
  -m 1 -timeout 15s -timeout_error -auth_uri "$DOMAIN" -trace_msg -message_file "$WORKDIR/alice.msg" \
  "127.0.0.1:$PC_SIP" >/dev/null 2>&1
expect_eq "alice registers (the caller; sends and listens on one port)" 0 "$?"

echo "-- UDP: bob registers from port A with his Contact on port B"
BA=$(free_port) BB=$(free_port)
csv split bob "$B_K" 2 "127.0.0.1:$BB" path
register split u1 "$BA"
expect_eq "bob registers from A" 0 "$?"
b=$(binding "udp:127.0.0.1:$BA")
expect_eq "the pcscf's binding is the flow from A" "sip:bob@127.0.0.1:$BB;transport=UDP" "$(field .contact "$b")"
expect_eq "... reg-id without Supported: outbound is no outbound registration" false "$(jq -r .outbound <<<"$b")"
expect_eq "... its target is the Contact (port B)" "sip:127.0.0.1:$BB;transport=udp" "$(field .target "$b")"
n=$(log_lines)
callee bsplit u1 "$BB"
call asplit
expect_eq "alice's call to bob completes (INVITE/180/200/ACK/BYE/200)" 0 "$?"
wait "$CALLEE_PID"
expect_eq "bob's handset on B takes the call" 0 "$?"
expect_eq "... the INVITE arrived on B" 1 "$(got_invite bsplit)"
expect_eq "the pcscf sent it to the Contact" "pcscf: INVITE to sip:127.0.0.1:$BB;transport=udp, contact of udp:127.0.0.1:$BA" "$(sent_to "$n")"

echo "-- pcscf.terminating_delivery: flow (reloaded) sends it to A whatever the Contact says"
out=$(reload_pcscf flow)
expect_match "the reload applies it" '"pcscf.terminating_delivery"' "$(jq -c .applied <<<"$out")"
expect_eq "bob's target is now the flow" "sip:127.0.0.1:$BA;transport=udp" \
  "$(field .target "$(binding "udp:127.0.0.1:$BA")")"
n=$(log_lines)
callee bflow u1 "$BA"
call aflow
expect_eq "the call completes" 0 "$?"
wait "$CALLEE_PID"
expect_eq "bob's handset on A takes it" 0 "$?"
expect_eq "the pcscf sent it over the flow" "pcscf: INVITE to sip:127.0.0.1:$BA;transport=udp, flow (config) of udp:127.0.0.1:$BA" "$(sent_to "$n")"
out=$(reload_pcscf auto)
expect_match "back to auto" '"pcscf.terminating_delivery"' "$(jq -c .applied <<<"$out")"

echo "-- NAT: bob's Contact names an address he did not send from"
BN=$(free_port)
csv nat bob "$B_K" 2 "192.0.2.10:5060" path
register nat u1 "$BN"
expect_eq "bob registers from N with a Contact at 192.0.2.10" 0 "$?"
expect_eq "the pcscf's target is the source (his NAT binding)" "sip:127.0.0.1:$BN;transport=udp" \
  "$(field .target "$(binding "udp:127.0.0.1:$BN")")"
n=$(log_lines)
callee bnat u1 "$BN"
call anat
expect_eq "the call completes" 0 "$?"
wait "$CALLEE_PID"
expect_eq "bob's handset on N takes it" 0 "$?"
expect_eq "the pcscf sent it to the source" "pcscf: INVITE to sip:127.0.0.1:$BN;transport=udp, flow (NAT) of udp:127.0.0.1:$BN" "$(sent_to "$n")"

echo "-- TCP with RFC 5626 outbound: the call comes over the connection bob registered on"
# One SIPp is bob's handset on one connection, but it keys its calls by Call-ID: the caller
# gets bob's registration Call-ID (-cid_str) so the INVITE lands in the scenario that holds it.
BT=$(free_port) DEAD=$(free_port) CID="ob-$RANDOM$RANDOM@127.0.0.1"
csv ob bob "$B_K" 2 "127.0.0.1:$DEAD" "path, outbound"
timeout 40 sipp -sf "$SCEN/register_outbound_call.xml" -inf "$WORKDIR/ob.csv" -i 127.0.0.1 \
  -p "$BT" -t t1 -m 1 -timeout 35s -timeout_error -auth_uri "$DOMAIN" -trace_msg \
  -message_file "$WORKDIR/bob_ob.msg" -cid_str "$CID" -d 100 "127.0.0.1:$PC_SIP" >/dev/null 2>&1 &
OB_PID=$!
b=
for _ in $(seq 100); do
  b=$(binding "tcp:127.0.0.1:$BT")
  [ -n "$b" ] && break
  sleep 0.1
done
expect_eq "bob registers over TCP with reg-id, +sip.instance, Supported: outbound" true "$(jq -r .outbound <<<"$b")"
expect_eq "... his Contact names a port where nobody listens" "sip:bob@127.0.0.1:$DEAD;transport=TCP" "$(field .contact "$b")"
expect_eq "... the target is his TCP flow" "sip:127.0.0.1:$BT;transport=tcp" "$(field .target "$b")"
n=$(log_lines)
call aob -cid_str "$CID"
expect_eq "alice's call to bob completes" 0 "$?"
wait "$OB_PID"
expect_eq "bob's handset took REGISTER/401/REGISTER/200 then the call on one connection" 0 "$?"
expect_eq "... the INVITE arrived on it" 1 "$(got_invite bob_ob)"
expect_eq "the pcscf sent it over the flow" "pcscf: INVITE to sip:127.0.0.1:$BT;transport=tcp, outbound flow of tcp:127.0.0.1:$BT" "$(sent_to "$n")"
expect_match "the scscf got the pcscf's Path with ;ob (RFC 5626 5.1)" ';lr;transport=tcp;ob>' \
  "$(jq -r '.contacts[] | select(.reg_id == 1) | .path' <<<"$(http_body "http://127.0.0.1:$SC_API/api/v1/registrations/sip:bob@$DOMAIN")")"

echo "-- TCP without outbound: the connection came from one port, the Contact listens on another"
BC=$(free_port) BL=$(free_port)
csv tcp bob "$B_K" 2 "127.0.0.1:$BL" path
register tcp t1 "$BC"
expect_eq "bob registers over TCP from C with his Contact on L" 0 "$?"
expect_eq "the target is the Contact over TCP" "sip:127.0.0.1:$BL;transport=tcp" \
  "$(field .target "$(binding "tcp:127.0.0.1:$BC")")"
n=$(log_lines)
callee btcp t1 "$BL"
call atcp
expect_eq "the call completes" 0 "$?"
wait "$CALLEE_PID"
expect_eq "bob's handset listening on L takes it (a new connection)" 0 "$?"
expect_eq "the pcscf sent it to the Contact" "pcscf: INVITE to sip:127.0.0.1:$BL;transport=tcp, contact of tcp:127.0.0.1:$BC" "$(sent_to "$n")"

stop_clean pcscf scscf hss
finish
