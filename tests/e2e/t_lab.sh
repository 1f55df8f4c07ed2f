#!/usr/bin/env bash
# `make run` as an operator uses it (issue 6's acceptance): scripts/run-lab.sh starts hss, scscf
# and pcscf (here on free ports, through the usual environment overrides), a handset registers
# through the pcscf, /metrics shows the registration and Diameter series, and deleting the
# registration over REST needs the lab's token: 401 without it, and with it the handset is
# deregistered (SAR to the HSS, reg event NOTIFY to the pcscf, which drops the binding). The
# scscf's JSON log tells the story under alice's IMPU.
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
SCEN="$E2E_DIR/scenarios"
DOMAIN=ims.mnc001.mcc001.3gppnetwork.org
ALICE_IMPU="sip:alice@$DOMAIN"
field() { jq -r "$1 // empty" <<<"$2"; }

LAB="$WORKDIR/lab"
HSS_DIAM=$(free_port) HSS_API=$(free_port) SC_SIP=$(free_port) SC_API=$(free_port)
SC_DIAM=$(free_port) PC_SIP=$(free_port) PC_API=$(free_port)
env LAB_DIR="$LAB" CSCF_API_TOKEN= \
  HSS_DIAMETER_LISTEN="127.0.0.1:$HSS_DIAM" HSS_API_LISTEN="127.0.0.1:$HSS_API" \
  HSS_SUBSCRIBERS_DATABASE="$WORKDIR/hss.db" \
  SCSCF_SIP_LISTEN="127.0.0.1:$SC_SIP" SCSCF_API_LISTEN="127.0.0.1:$SC_API" \
  SCSCF_DIAMETER_LISTEN="127.0.0.1:$SC_DIAM" SCSCF_DIAMETER_PEERS="$HSS_ID@127.0.0.1:$HSS_DIAM" \
  SCSCF_LOG_FORMAT=json \
  PCSCF_SIP_LISTEN="127.0.0.1:$PC_SIP" PCSCF_API_LISTEN="127.0.0.1:$PC_API" \
  PCSCF_PCSCF_REGISTRAR="sip:127.0.0.1:$SC_SIP;transport=tcp;lr" \
  bash "$REPO_DIR/scripts/run-lab.sh" "$BUILD" >"$WORKDIR/run-lab.out" 2>&1 &
PIDS[run_lab]=$!

echo "-- scripts/run-lab.sh (make run) starts the lab"
# Running, or given up: run-lab.sh exits when a program fails to start.
lab_up_or_out() { grep -q '^lab: running' "$WORKDIR/run-lab.out" 2>/dev/null || ! prog_alive run_lab; }
started=0
wait_for 15 lab_up_or_out && grep -q '^lab: running' "$WORKDIR/run-lab.out" && started=1
expect_eq "run-lab.sh says the lab is running" 1 "$started"
# Its programs, by PID, so the cleanup also reaches them if this test stops half-way.
for p in hss scscf pcscf; do
  [ -s "$LAB/$p.pid" ] && PIDS[$p]=$(cat "$LAB/$p.pid")
done
if [ "$started" != 1 ]; then
  sed 's/^/       /' "$WORKDIR/run-lab.out" | tail -20
  finish
  exit 1
fi
TOKEN=$(cat "$LAB/api-token" 2>/dev/null)
expect_match "it made a token for the REST calls that change state" '^[0-9a-f]{32}$' "$TOKEN"
expect_eq "... readable by its owner only" 600 "$(stat -c %a "$LAB/api-token")"
expect_match "... and says where it is" "REST token .*$LAB/api-token" "$(cat "$WORKDIR/run-lab.out")"
wait_http "127.0.0.1:$SC_API" /readyz 200 10 || fail "scscf ready (Cx peer open)"

echo "-- alice registers through the pcscf (AKA)"
printf 'SEQUENTIAL\nalice;alice@%s;%s;[authentication username=alice@%s aka_K=abcdefghijklmnop aka_OP=ponmlkjihgfedcba];600;1\n' \
  "$DOMAIN" "$DOMAIN" "$DOMAIN" >"$WORKDIR/alice.csv"
UE=$(free_port)
timeout 20 sipp -sf "$SCEN/register_aka.xml" -inf "$WORKDIR/alice.csv" -i 127.0.0.1 -p "$UE" \
  -t u1 -m 1 -timeout 15s -timeout_error -auth_uri "$DOMAIN" "127.0.0.1:$PC_SIP" >/dev/null 2>&1
expect_eq "SIPp registers alice" 0 "$?"
reg_total() { field .total "$(http_body "http://127.0.0.1:$1/api/v1/registrations")"; }
expect_eq "the scscf holds her registration" 1 "$(reg_total "$SC_API")"
expect_eq "the pcscf holds her flow" 1 "$(reg_total "$PC_API")"
# The pcscf subscribes to her reg event after the 200; the deregistration below relies on it.
sub_state() { field '.subscriptions[0].state' "$(http_body "http://127.0.0.1:$PC_API/api/v1/subscriptions")"; }
sub_active() { [ "$(sub_state)" = active ]; }
if wait_for 5 sub_active; then pass "the pcscf's reg event subscription for her is active"
else fail "the pcscf's reg event subscription for her is active" "state '$(sub_state)' after 5 s"; fi

echo "-- /metrics after the registration"
m=$(http_body "http://127.0.0.1:$SC_API/metrics")
value() { awk -v k="$1" '$1 == k {print $2}' <<<"$m"; }
expect_eq "cscf_registrations_active{program=\"scscf\"} 1" 1 "$(value 'cscf_registrations_active{program="scscf"}')"
expect_eq "cscf_registered_contacts 1" 1 "$(value 'cscf_registered_contacts{program="scscf"}')"
expect_eq "cscf_auth_total counts the AKA success" 1 "$(value 'cscf_auth_total{program="scscf",scheme="AKAv1-MD5",outcome="success"}')"
expect_eq "cscf_registrar_events_total{event=new} 1" 1 "$(value 'cscf_registrar_events_total{program="scscf",event="new"}')"
expect_match "cscf_diameter_requests_total: MAR answered 2001" '^[1-9]' "$(value 'cscf_diameter_requests_total{program="scscf",command="MAR",result="2001"}')"
expect_match "... SAR answered 2001" '^[1-9]' "$(value 'cscf_diameter_requests_total{program="scscf",command="SAR",result="2001"}')"
expect_match "cscf_diameter_request_duration_seconds counts the MARs" '^[1-9]' "$(value 'cscf_diameter_request_duration_seconds_count{program="scscf",command="MAR"}')"
expect_eq "cscf_diameter_peer_up for the hss" 1 "$(value "cscf_diameter_peer_up{program=\"scscf\",peer=\"$HSS_ID\"}")"
expect_eq "cscf_regevent_subscriptions: the pcscf's" 1 "$(value 'cscf_regevent_subscriptions{program="scscf"}')"
hm=$(http_body "http://127.0.0.1:$HSS_API/metrics")
expect_match "the hss counts the MAR it answered" '^cscf_diameter_requests_total\{program="hss",command="MAR",result="2001"\} [1-9]' "$hm"

echo "-- deleting the registration over REST"
url="http://127.0.0.1:$SC_API/api/v1/registrations/$ALICE_IMPU"
expect_eq "DELETE without the token: 401" 401 "$(http_code "$url" -X DELETE)"
expect_eq "DELETE with a wrong token: 401" 401 "$(http_code "$url" -X DELETE -H "Authorization: Bearer x$TOKEN")"
expect_eq "... alice is still registered" 1 "$(reg_total "$SC_API")"
out=$(http_body "$url" -X DELETE -H "Authorization: Bearer $TOKEN")
expect_match "DELETE with the token deregisters her" '"deregistered":true' "$out"
expect_eq "... the scscf forgot her" 404 "$(http_code "$url")"
pc_empty() { [ "$(reg_total "$PC_API")" = 0 ]; }
gone=0
wait_for 5 pc_empty && gone=1
expect_eq "... the reg event NOTIFY made the pcscf drop her flow" 1 "$gone"
expect_match "... the pcscf logged it" 'removed by a reg event NOTIFY' "$(cat "$LAB/pcscf.log")"
hss_state() { field .state.registration "$(http_body "http://127.0.0.1:$HSS_API/api/v1/subscribers/alice@$DOMAIN")"; }
hss_not_registered() { [ "$(hss_state)" = not_registered ]; }
wait_for 5 hss_not_registered
hstate=$(hss_state)
expect_eq "... the SAR (administrative deregistration) reached the HSS" not_registered "$hstate"
m=$(http_body "http://127.0.0.1:$SC_API/metrics")
expect_eq "cscf_registrations_active 0" 0 "$(value 'cscf_registrations_active{program="scscf"}')"
expect_eq "cscf_registrar_events_total{event=admin_deregister} 1" 1 "$(value 'cscf_registrar_events_total{program="scscf",event="admin_deregister"}')"
expect_match "cscf_regevent_notify_total counts the NOTIFYs answered 2xx" '^[1-9]' "$(value 'cscf_regevent_notify_total{program="scscf",outcome="2xx"}')"

echo "-- alice's story in the scscf's JSON log"
story=$(jq -r --arg u "$ALICE_IMPU" 'select(.impu == $u) | .msg' "$LAB/scscf.log" 2>/dev/null)
expect_match "her registration" '^registrar: registered, 1 contact' "$story"
expect_match "her deregistration over REST" "^registrar: alice@$DOMAIN deregistered \\(over REST\\)" "$story"

echo "-- Ctrl-C (SIGTERM) stops the lab"
kill -TERM "${PIDS[run_lab]}"
wait_exit run_lab 15 # our child: waited for, with its status
expect_eq "run_lab ended by itself within 15 s" 1 "$([ -n "$LAST_EXIT" ] && echo 1 || echo 0)"
# The programs are run-lab.sh's children, not ours (wait cannot reap them): poll their PIDs.
pid_gone() { ! kill -0 "$1" 2>/dev/null; }
for p in hss scscf pcscf; do
  if [ -z "${PIDS[$p]:-}" ]; then fail "$p ended by itself within 15 s" "no pid file"; continue; fi
  if wait_for 15 pid_gone "${PIDS[$p]}"; then pass "$p ended by itself within 15 s"
  else
    fail "$p ended by itself within 15 s" "pid ${PIDS[$p]} still there"
    kill -KILL "${PIDS[$p]}" 2>/dev/null
  fi
  unset "PIDS[$p]"
done
expect_match "run-lab.sh said so" '^lab: stopping' "$(cat "$WORKDIR/run-lab.out")"
for p in hss scscf pcscf; do
  cp "$LAB/$p.log" "$WORKDIR/$p.log" 2>/dev/null
  expect_clean_log "$p: no sanitizer report" "$p"
done
finish
