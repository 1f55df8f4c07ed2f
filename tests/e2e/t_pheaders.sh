#!/usr/bin/env bash
# The P-headers of RFC 7315 at the P-CSCF (TS 24.229 5.2.2, 5.2.6, 5.2.7; common/sip/charging.h)
# between a SIPp handset (127.0.0.1, outside the trust domain) and a SIPp S-CSCF stand-in
# (127.0.0.2, the only trust.peers entry):
#   - REGISTER reaches the S-CSCF with the UE's P-Access-Network-Info, our P-Visited-Network-ID
#     (the UE's own dropped), a P-Charging-Vector with a new icid-value and our orig-ioi
#     (charging.ioi), and P-Charging-Function-Addresses (charging.ccf/ecf);
#   - an originating MESSAGE the same way;
#   - the UE sees none of the network's charging headers: not in the 200 to its REGISTER, not in
#     the 200 to its MESSAGE, and a MESSAGE to it loses P-Access-Network-Info and the charging
#     headers (its P-Asserted-Identity stays).
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
SCEN="$E2E_DIR/scenarios"
DOMAIN=ims.mnc001.mcc001.3gppnetwork.org

PC_SIP=$(free_port) PC_API=$(free_port) SC=$(free_port) UE=$(free_port)
timeout 30 sipp -sf "$SCEN/pheaders_scscf.xml" -i 127.0.0.2 -p "$SC" -m 1 -key ueport "$UE" -timeout 25s \
  -timeout_error -trace_msg -message_file "$WORKDIR/scscf.msg" -trace_err -error_file "$WORKDIR/scscf.err" \
  >/dev/null 2>&1 &
SC_PID=$!
start_prog pcscf "$BUILD/pcscf" "$REPO_DIR/config/pcscf.yaml" PCSCF_SIP_LISTEN="127.0.0.1:$PC_SIP" \
  PCSCF_API_LISTEN="127.0.0.1:$PC_API" PCSCF_PCSCF_REGISTRAR="sip:127.0.0.2:$SC;lr" \
  PCSCF_TRUST_PEERS=127.0.0.2 PCSCF_CHARGING_IOI=pcscf-net.example \
  PCSCF_CHARGING_CCF=ccf1.example,192.0.2.10 PCSCF_CHARGING_ECF=ecf1.example || { finish; exit 1; }
wait_for 5 port_bound udp "$SC" || fail "the S-CSCF stand-in listens on 127.0.0.2:$SC"

echo "-- the handset registers, sends a MESSAGE and takes one"
timeout 30 sipp -sf "$SCEN/pheaders_ue.xml" -i 127.0.0.1 -p "$UE" -m 1 -timeout 25s -timeout_error \
  -trace_msg -message_file "$WORKDIR/ue.msg" -trace_err -error_file "$WORKDIR/ue.err" \
  "127.0.0.1:$PC_SIP" >/dev/null 2>&1
expect_eq "the handset's scenario completes (REGISTER x2, MESSAGE out, MESSAGE in)" 0 "$?"
wait "$SC_PID"
expect_eq "the S-CSCF stand-in's completes (it found the Path it sends to)" 0 "$?"

# got FILE START-REGEX CSEQ: the headers of the first message in a SIPp trace whose first line
# matches START-REGEX and whose CSeq is CSEQ
got() {
  tr -d '\r' <"$WORKDIR/$1" 2>/dev/null | awk -v re="$2" -v cs="$3" '
    $0 ~ re { on = 1; buf = "" }
    on && /^$/ { if (index(buf "\n", "\nCSeq: " cs "\n")) { print substr(buf, 2); exit } on = 0 }
    on { buf = buf "\n" $0 }'
}

echo "-- what reached the S-CSCF"
reg=$(got scscf.msg '^REGISTER ' '2 REGISTER')
expect_match "REGISTER: the UE's P-Access-Network-Info passed on" \
  '^P-Access-Network-Info: 3GPP-E-UTRAN-FDD; utran-cell-id-3gpp=00101ALICE00001$' "$reg"
expect_eq "... one P-Visited-Network-ID, ours (the UE's dropped)" "P-Visited-Network-ID: \"$DOMAIN\"" \
  "$(grep -i '^P-Visited-Network-ID:' <<<"$reg")"
expect_match "... a P-Charging-Vector with a new icid-value and our orig-ioi" \
  '^P-Charging-Vector: icid-value=[0-9a-f]{32};icid-generated-at=127\.0\.0\.1;orig-ioi=pcscf-net\.example$' "$reg"
expect_eq "... only that one (not the UE's)" 1 "$(grep -ci '^P-Charging-Vector:' <<<"$reg")"
expect_eq "... P-Charging-Function-Addresses from charging.ccf/ecf (not the UE's)" \
  "P-Charging-Function-Addresses: ccf=ccf1.example;ccf=192.0.2.10;ecf=ecf1.example" \
  "$(grep -i '^P-Charging-Function-Addresses:' <<<"$reg")"
msg=$(got scscf.msg '^MESSAGE sip:bob' '3 MESSAGE')
expect_match "MESSAGE (originating): the UE's P-Access-Network-Info passed on" \
  '^P-Access-Network-Info: 3GPP-E-UTRAN-FDD; utran-cell-id-3gpp=00101ALICE00001$' "$msg"
expect_match "... P-Charging-Vector with a new icid-value and our orig-ioi" \
  '^P-Charging-Vector: icid-value=[0-9a-f]{32};icid-generated-at=127\.0\.0\.1;orig-ioi=pcscf-net\.example$' "$msg"
expect_eq "... P-Charging-Function-Addresses ours" \
  "P-Charging-Function-Addresses: ccf=ccf1.example;ccf=192.0.2.10;ecf=ecf1.example" \
  "$(grep -i '^P-Charging-Function-Addresses:' <<<"$msg")"
expect_no_match "... nothing of the UE's making (uemade, evil)" 'uemade|evil' "$reg$msg"

echo "-- what reached the handset"
ok=$(got ue.msg '^SIP/2.0 200' '2 REGISTER')
expect_match "the 200 to its REGISTER arrived" '^CSeq: 2 REGISTER' "$ok"
expect_no_match "... without the S-CSCF's P-Charging-Vector or P-Charging-Function-Addresses" \
  '^P-Charging-' "$ok"
ok=$(got ue.msg '^SIP/2.0 200' '3 MESSAGE')
expect_match "the 200 to its MESSAGE arrived" '^CSeq: 3 MESSAGE' "$ok"
expect_no_match "... without charging headers or the far end's P-Access-Network-Info" \
  '^P-(Charging-|Access-Network-Info)' "$ok"
in=$(got ue.msg '^MESSAGE sip:alice' '10 MESSAGE')
expect_match "the MESSAGE to it arrived, asserted as bob" "^P-Asserted-Identity: <sip:bob@$DOMAIN>" "$in"
expect_no_match "... without P-Access-Network-Info, P-Charging-Vector, P-Charging-Function-Addresses" \
  '^P-(Charging-|Access-Network-Info)' "$in"

stop_clean pcscf
finish
