#!/usr/bin/env bash
# The end of the P-CSCF's reg event subscription (RFC 6665 4.1.2.3, TS 24.229 5.2.3): when the
# UE deregisters, the P-CSCF un-SUBSCRIBEs and keeps the dialog until the notifier's last
# NOTIFY (terminated), which may come after the 200 to the un-SUBSCRIBE; that NOTIFY gets a
# 200, not a 481. A SIPp stand-in for the S-CSCF (registrar and notifier) sends it 300 ms after
# its 200, so the order is fixed (t_regevent runs the real S-CSCF, where it is not).
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
SCEN="$E2E_DIR/scenarios"
field() { jq -r "$1 // empty" <<<"$2"; }

PC_SIP=$(free_port) PC_API=$(free_port) SC=$(free_port) UE=$(free_port)
timeout 30 sipp -sf "$SCEN/regsub_end_uas.xml" -i 127.0.0.1 -p "$SC" -m 2 -timeout 25s -timeout_error \
  -trace_msg -message_file "$WORKDIR/scscf.msg" -trace_err -error_file "$WORKDIR/scscf.err" \
  >/dev/null 2>&1 &
SC_PID=$!
start_prog pcscf "$BUILD/pcscf" "$REPO_DIR/config/pcscf.yaml" PCSCF_SIP_LISTEN="127.0.0.1:$PC_SIP" \
  PCSCF_API_LISTEN="127.0.0.1:$PC_API" PCSCF_PCSCF_REGISTRAR="sip:127.0.0.1:$SC;lr" || { finish; exit 1; }

echo "-- the UE registers, the P-CSCF subscribes, the UE deregisters"
timeout 30 sipp -sf "$SCEN/regsub_end_ue.xml" -i 127.0.0.1 -p "$UE" -m 1 -timeout 20s \
  -timeout_error -trace_msg -message_file "$WORKDIR/ue.msg" "127.0.0.1:$PC_SIP" >/dev/null 2>&1
expect_eq "REGISTER/401/REGISTER/200, then REGISTER (Expires 0)/200" 0 "$?"
wait $SC_PID
rc=$?
expect_eq "the stand-in's subscription ran to its end: SUBSCRIBE/200/NOTIFY/200, un-SUBSCRIBE/200, NOTIFY (terminated)/200" 0 "$rc"
[ "$rc" = 0 ] || sipp_story "$WORKDIR/scscf.msg" pcscf
answers=$(tr -d '\r' <"$WORKDIR/scscf.msg" | grep -E '^SIP/2.0 [0-9]{3}' | sort | uniq -c | tr -s ' ' | tr '\n' ';')
expect_no_match "the P-CSCF answered no NOTIFY with 481" '481' "$answers"
subs=$(http_body "http://127.0.0.1:$PC_API/api/v1/subscriptions")
expect_eq "the P-CSCF holds no subscription afterwards" 0 "$(field .total "$subs")"
expect_eq "... nor the binding" 0 "$(field .total "$(http_body "http://127.0.0.1:$PC_API/api/v1/registrations")")"

stop_prog pcscf
expect_eq "pcscf exits 0" 0 "$LAST_EXIT"
expect_clean_log "pcscf: no sanitizer report" pcscf
finish
