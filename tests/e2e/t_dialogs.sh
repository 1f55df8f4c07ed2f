#!/usr/bin/env bash
# Calls that fail leave no dialog behind (limits.dialogs, cscf_table_entries{table="dialogs"}):
# callee refusals (486, 603) and a CANCEL never make one; a 200 that no ACK follows (the caller
# gone) makes one at every proxy that relayed it, forgotten 64*T1 later (limits.t1x64_ms, 8 s
# here). Before, such dialogs stayed counted for 12 h: a soak showed 7,350 "active" with ~250
# calls up, and at limits.dialogs they would refuse new calls.
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
SCEN="$E2E_DIR/scenarios"
DOMAIN=ims.mnc001.mcc001.3gppnetwork.org

start_hss hss || { finish; exit 1; }
SC_SIP=$(free_port) SC_API=$(free_port) PC_SIP=$(free_port) PC_API=$(free_port)
mapfile -t diam < <(scscf_diameter_env)
start_prog scscf "$BUILD/scscf" "$REPO_DIR/config/scscf.yaml" SCSCF_SIP_LISTEN="127.0.0.1:$SC_SIP" \
  SCSCF_API_LISTEN="127.0.0.1:$SC_API" SCSCF_LIMITS_T1X64_MS=8000 "${diam[@]}" || { finish; exit 1; }
start_prog pcscf "$BUILD/pcscf" "$REPO_DIR/config/pcscf.yaml" PCSCF_SIP_LISTEN="127.0.0.1:$PC_SIP" \
  PCSCF_API_LISTEN="127.0.0.1:$PC_API" PCSCF_LIMITS_T1X64_MS=8000 PCSCF_LIMITS_TIMER_C_MS=3000 PCSCF_LIMITS_T4_MS=2000 \
  PCSCF_SIP_MAX_PENDING_INVITES=4 PCSCF_PCSCF_REGISTRAR="sip:127.0.0.1:$SC_SIP;transport=tcp;lr" || { finish; exit 1; }
wait_http "127.0.0.1:$SC_API" /readyz 200 10 || fail "scscf ready"

# register NAME USER K OP PORT INSTANCE: AKA registration through the pcscf from PORT.
register() {
  printf 'SEQUENTIAL\n%s;%s@%s;%s;[authentication username=%s@%s aka_K=%s aka_OP=%s];600;%s\n' \
    "$2" "$2" "$DOMAIN" "$DOMAIN" "$2" "$DOMAIN" "$3" "$4" "$6" >"$WORKDIR/$1.csv"
  timeout 20 sipp -sf "$SCEN/register_aka.xml" -inf "$WORKDIR/$1.csv" -i 127.0.0.1 -p "$5" \
    -t u1 -m 1 -timeout 15s -timeout_error -auth_uri "$DOMAIN" "127.0.0.1:$PC_SIP" >/dev/null 2>&1
}
# callee SCENARIO CALLS [SIPp args]: bob's handset takes CALLS calls, in the background
# (SCENARIO: a file of scenarios/, or a path).
callee() {
  local scen=$1 n=$2 sf=$1
  shift 2
  [ -e "$sf" ] || sf="$SCEN/$scen"
  scen=$(basename "$scen")
  timeout 30 sipp -sf "$sf" -i 127.0.0.1 -p "$PB" -t u1 -m "$n" -timeout 25s \
    -timeout_error -trace_msg -message_file "$WORKDIR/bob.$scen.msg" "$@" >/dev/null 2>&1 &
  CALLEE_PID=$!
  wait_for 10 port_bound udp "$PB" || fail "bob's handset (SIPp) listens on $PB"
}
# caller SCENARIO CALLS: alice calls bob CALLS times, one after the other; SIPp's verdict in $?.
caller() {
  local sf=$1
  [ -e "$sf" ] || sf="$SCEN/$1"
  printf 'SEQUENTIAL\nalice;sip:bob@%s;%s\n' "$DOMAIN" "$DOMAIN" >"$WORKDIR/alice.csv"
  timeout 45 sipp -sf "$sf" -inf "$WORKDIR/alice.csv" -i 127.0.0.1 -p "$PA" -t u1 -m "$2" \
    -l 1 -timeout 40s -timeout_error -trace_msg -message_file "$WORKDIR/alice.$(basename "$1").msg" \
    "127.0.0.1:$PC_SIP" >/dev/null 2>&1
}
# entries sc|pc: the dialogs table's size at the scscf or pcscf.
entries() {
  local api=$SC_API prog=scscf
  [ "$1" = pc ] && api=$PC_API prog=pcscf
  http_body "http://127.0.0.1:$api/metrics" |
    sed -n "s/^cscf_table_entries{program=\"$prog\",table=\"dialogs\"} //p"
}
at_level() { [ "$(entries sc)" = "$1" ] && [ "$(entries pc)" = "$2" ]; }
metric() { http_body "http://127.0.0.1:$SC_API/metrics" | sed -n "s/^$1 //p"; }

PA=$(free_port) PB=$(free_port)
echo "-- two handsets register through the pcscf"
register rega alice abcdefghijklmnop ponmlkjihgfedcba "$PA" 1
expect_eq "alice registers (AKA)" 0 "$?"
register regb bob bobbobbobbobbob1 ponmlkjihgfedcba "$PB" 2
expect_eq "bob registers (AKA)" 0 "$?"
SC0=$(entries sc) PC0=$(entries pc)
expect_match "the scscf's dialogs table is measured" '^[0-9]+$' "$SC0"
expect_match "... and the pcscf's" '^[0-9]+$' "$PC0"

echo "-- a call that ends with a BYE"
callee call_uas.xml 1
caller call_uac.xml 1
expect_eq "INVITE/180/200/ACK/BYE/200" 0 "$?"
wait "$CALLEE_PID"
expect_eq "no dialog left (scscf, pcscf)" "$SC0 $PC0" "$(entries sc) $(entries pc)"
# The core leg is TCP (pcscf.registrar): the dialog's requests cross it over TCP too (the
# Record-Route entries toward it name transport=tcp), so the scscf keeps no answer for a
# retransmission (over UDP the BYE's 200 would be kept 64*T1, 8 s here). Kept answers: the
# transactions counted less nta's own (the answered INVITE stays T4 whatever the transport).
kept=$(http_body "http://127.0.0.1:$SC_API/metrics" | awk '/^cscf_sip_transactions\{/ {x += $NF}
  /^cscf_table_entries\{.*"transactions"/ {n = $NF} END {print x - n}')
expect_eq "the scscf got the dialog's requests over TCP: no answer kept for retransmissions" 0 "$kept"
# limits.t4_ms (2 s here, 5 s by default): the BYE the pcscf sent bob over UDP is kept T4 for a
# 200 sent again (Timer K), as the answered INVITEs are; then both go.
client() { http_body "http://127.0.0.1:$PC_API/metrics" | sed -n 's/^cscf_sip_transactions{program="pcscf",side="client"} //p'; }
held=$(client)
wait_for 3 eval '[ "$(client)" = 0 ]'
expect_eq "limits.t4_ms 2 s: the pcscf's client transactions ($held after the call) are gone within 3 s" \
  0 "$(client)"

echo "-- calls bob refuses: 4 x 486, 2 x 603"
callee dialog_uas_reject.xml 4
caller dialog_uac_reject.xml 4
expect_eq "alice: 4 calls refused with 486, each ACKed" 0 "$?"
wait "$CALLEE_PID"
expect_eq "bob refused 4 calls" 0 "$?"
sed 's/^      SIP\/2.0 486 Busy Here$/      SIP\/2.0 603 Decline/' "$SCEN/dialog_uas_reject.xml" \
  >"$WORKDIR/dialog_uas_decline.xml"
callee "$WORKDIR/dialog_uas_decline.xml" 2
caller dialog_uac_reject.xml 2
expect_eq "alice: 2 calls declined with 603" 0 "$?"
wait "$CALLEE_PID"
expect_eq "the scscf counted them failed, by code" "4 2" \
  "$(metric 'cscf_calls_failed_total{program="scscf",code="486"}') $(metric 'cscf_calls_failed_total{program="scscf",code="603"}')"
expect_eq "no dialog left by a refused call (scscf, pcscf)" "$SC0 $PC0" "$(entries sc) $(entries pc)"

echo "-- bob's 486 again, as if the ACK had been lost: the pcscf ACKs it again"
python3 "$E2E_DIR/ue_reject_again.py" "$PB" --max-seconds 15 >"$WORKDIR/bob.again.out" 2>&1 &
UE_PID=$!
wait_for 10 port_bound udp "$PB" || fail "bob's handset (python) listens on $PB"
caller dialog_uac_reject.xml 1
expect_eq "alice: the call refused with 486" 0 "$?"
wait "$UE_PID"
expect_eq "bob: his second 486 ACKed too, with the INVITE's branch" 0 "$?"
expect_eq "bob got an INVITE and two ACKs" "INVITE ACK ACK" \
  "$(cut -d' ' -f1 "$WORKDIR/bob.again.out" | tr '\n' ' ' | sed 's/ $//')"

echo "-- a call alice cancels"
callee call_uas_cancel.xml 1
caller call_uac_cancel.xml 1
expect_eq "INVITE/180/CANCEL/200/487/ACK" 0 "$?"
wait "$CALLEE_PID"
expect_eq "no dialog left by the cancelled call (scscf, pcscf)" "$SC0 $PC0" "$(entries sc) $(entries pc)"

echo "-- a call that rings past the pcscf's Timer C (limits.timer_c_ms 3 s here)"
callee call_uas_cancel.xml 1
caller call_uac_wait.xml 1
expect_eq "the pcscf cancels it; alice gets bob's 487" 0 "$?"
wait "$CALLEE_PID"
expect_eq "bob got the pcscf's CANCEL and the ACK of his 487" 0 "$?"
sleep 1 # SIPp's port free again
sed 's/<recv response="487"/<recv response="408"/' "$SCEN/call_uac_wait.xml" >"$WORKDIR/call_uac_wait408.xml"
callee call_uas_deaf.xml 1
caller "$WORKDIR/call_uac_wait408.xml" 1
# (the relay's sweep runs every 5 s: up to 8 s to the CANCEL, up to 13 s more to the 408)
expect_eq "... and when bob answers neither: 408, 64*T1 after the CANCEL" 0 "$?"
kill "$CALLEE_PID" 2>/dev/null
wait "$CALLEE_PID" 2>/dev/null
expect_eq "no dialog left by them (scscf, pcscf)" "$SC0 $PC0" "$(entries sc) $(entries pc)"

echo "-- 3 calls answered after alice has gone: no ACK, no BYE"
callee dialog_uas_noack.xml 3
caller dialog_uac_noack.xml 3
expect_eq "alice gets the 200s (and sends nothing more)" 0 "$?"
wait "$CALLEE_PID"
expect_eq "the relayed 200s made 3 dialogs (scscf, pcscf)" "$((SC0 + 3)) $((PC0 + 3))" \
  "$(entries sc) $(entries pc)"
start=$SECONDS
wait_for 30 at_level "$SC0" "$PC0"
expect_eq "they are forgotten once 64*T1 (8 s) passed without an ACK (scscf, pcscf)" \
  "$SC0 $PC0" "$(entries sc) $(entries pc)"
echo "  (back at the pre-call level after $((SECONDS - start)) s)"
expect_eq "GET /api/v1/dialogs on the scscf: none active" "$SC0" \
  "$(http_body "http://127.0.0.1:$SC_API/api/v1/dialogs" | jq -r .active)"

echo "-- sip.max_pending_invites 4 at the pcscf: 3 calls at once to a callee that waits 2 s"
# Each call is two INVITEs pending at the pcscf (alice's, and the scscf's towards bob), so the
# third call finds the cap full: 503 with Retry-After at once, counted and logged once; the two
# admitted calls get bob's 486 after 2 s and the table empties.
pc_metric() { http_body "http://127.0.0.1:$PC_API/metrics" | sed -n "s/^$1 //p"; }
pending() { pc_metric "cscf_table_$1{program=\"pcscf\",table=\"pending_invites\"}"; }
expect_eq "cscf_table_capacity{pending_invites} is 4, nothing pending" "4 0" \
  "$(pending capacity) $(pending entries)"
callee pending_uas.xml 2
printf 'SEQUENTIAL\nalice;sip:bob@%s;%s\n' "$DOMAIN" "$DOMAIN" >"$WORKDIR/alice.csv"
timeout 30 sipp -sf "$SCEN/pending_uac.xml" -inf "$WORKDIR/alice.csv" -i 127.0.0.1 -p "$PA" -t u1 \
  -r 10 -m 3 -l 3 -timeout 20s -timeout_error -trace_msg \
  -message_file "$WORKDIR/alice.pending.msg" "127.0.0.1:$PC_SIP" >/dev/null 2>&1
expect_eq "the three calls end as the scenario says (486 or 503 with Retry-After, ACKed)" 0 "$?"
wait "$CALLEE_PID"
expect_eq "bob got two INVITEs and the ACKs of his 486s" 0 "$?"
expect_eq "alice got two 486s and one 503" "2 1" \
  "$(grep -c '^SIP/2.0 486' "$WORKDIR/alice.pending.msg") $(grep -c '^SIP/2.0 503' "$WORKDIR/alice.pending.msg")"
expect_eq "cscf_table_refused_total{pending_invites} counted it" 1 "$(pending refused_total)"
expect_eq "the cap warned once" 1 "$(grep -c 'limits: pending_invites full' "$WORKDIR/pcscf.log")"
expect_eq "nothing pending afterwards" 0 "$(pending entries)"

stop_clean pcscf scscf hss
finish
