#!/usr/bin/env bash
# The P-CSCF's part of registration (TS 24.229 5.2.2) against a SIPp registrar stand-in that
# shows what arrives: Path with a flow token, Require: path, P-Visited-Network-ID,
# P-Charging-Vector, integrity-protected="no"; ck/ik removed from the 401 on its way to the UE;
# the 200 stored as the UE's binding; requests from unregistered flows refused.
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
SCEN="$E2E_DIR/scenarios"
field() { jq -r "$1 // empty" <<<"$2"; }

PC_SIP=$(free_port) PC_API=$(free_port) UAS=$(free_port) UE=$(free_port)
timeout 20 sipp -sf "$SCEN/register_uas.xml" -i 127.0.0.1 -p "$UAS" -m 1 -timeout 15s -timeout_error \
  -trace_msg -message_file "$WORKDIR/uas.msg" -trace_err -error_file "$WORKDIR/uas.err" >/dev/null 2>&1 &
UAS_PID=$!
start_prog pcscf "$BUILD/pcscf" "$REPO_DIR/config/pcscf.yaml" PCSCF_SIP_LISTEN="127.0.0.1:$PC_SIP" \
  PCSCF_API_LISTEN="127.0.0.1:$PC_API" PCSCF_PCSCF_REGISTRAR="sip:127.0.0.1:$UAS;lr" || { finish; exit 1; }

echo "-- REGISTER through the P-CSCF"
timeout 20 sipp -sf "$SCEN/register_ue_plain.xml" -i 127.0.0.1 -p "$UE" -m 1 -timeout 15s \
  -timeout_error -trace_msg -message_file "$WORKDIR/ue.msg" "127.0.0.1:$PC_SIP" >/dev/null 2>&1
expect_eq "the handset's REGISTER/401/REGISTER/200 completes" 0 "$?"
wait $UAS_PID
expect_eq "the registrar stand-in saw Path, Require: path and integrity-protected=\"no\"" 0 "$?"
fwd=$(sed -n '/^REGISTER sip/,/^$/p' "$WORKDIR/uas.msg" | tr -d '\r' | head -25)
expect_match "Path names the P-CSCF with lr and a flow token" "^Path: <sip:term\\.[0-9a-f]{16}@127.0.0.1:$PC_SIP;lr>" "$fwd"
expect_match "Require: path (the UE supports path)" '^Require: path' "$fwd"
expect_match "P-Visited-Network-ID" '^P-Visited-Network-ID: "ims.mnc001.mcc001.3gppnetwork.org"' "$fwd"
expect_match "P-Charging-Vector with an icid" '^P-Charging-Vector: icid-value=[0-9a-f]{32};icid-generated-at=127.0.0.1' "$fwd"
expect_match "Authorization marked integrity-protected=\"no\"" '^Authorization: Digest .*integrity-protected="no"' "$fwd"
expect_match "the P-CSCF's Via on top, Max-Forwards decremented" "^Via: SIP/2.0/UDP 127.0.0.1:$PC_SIP" "$fwd"
expect_match "... Max-Forwards 69" '^Max-Forwards: 69' "$fwd"
icids=$(grep -o 'icid-value=[0-9a-f]*' "$WORKDIR/uas.msg" | sort -u | wc -l)
expect_eq "each REGISTER gets its own icid" 2 "$icids"
c401=$(sed -n '/^SIP\/2.0 401/,/^$/p' "$WORKDIR/ue.msg" | tr -d '\r')
expect_match "the UE gets the 401 with its AKA nonce" '^WWW-Authenticate: Digest .*algorithm=AKAv1-MD5' "$c401"
expect_no_match "... without ck or ik" '[ ,](ck|ik)="' "$c401"
regs=$(http_body "http://127.0.0.1:$PC_API/api/v1/registrations")
expect_eq "the P-CSCF stored one binding" 1 "$(field .total "$regs")"
expect_eq "... for the UE's flow" "udp:127.0.0.1:$UE" "$(field '.registrations[0].flow' "$regs")"
expect_eq "... with the Service-Route" "<sip:orig@127.0.0.1:6060;lr>" "$(field '.registrations[0].service_route' "$regs")"
expect_match "... the P-Associated-URI" 'tel:\+15550001' "$(field '.registrations[0].associated_uris' "$regs")"
expect_match "... and the expiry" '^(59[0-9]|600)$' "$(field '.registrations[0].expires' "$regs")"

echo "-- requests from flows that are not registered"
f="$WORKDIR/message.sip"
printf 'MESSAGE sip:bob@ims.mnc001.mcc001.3gppnetwork.org SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK%s\r\nMax-Forwards: 70\r\nFrom: <sip:mallory@ims.mnc001.mcc001.3gppnetwork.org>;tag=1\r\nTo: <sip:bob@ims.mnc001.mcc001.3gppnetwork.org>\r\nCall-ID: %s@t\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n' "$RANDOM$RANDOM" "$RANDOM" >"$f"
expect_eq "a MESSAGE from an unregistered flow: 403" "SIP/2.0 403 Not Registered" "$(sipsend -u 127.0.0.1 "$PC_SIP" "$f" 3000 | tr -d '\r')"

echo "-- ipsec.mode off (the default): a handset that requires sec-agree is told so"
f="$WORKDIR/register_secagree.sip"
printf 'REGISTER sip:ims.mnc001.mcc001.3gppnetwork.org SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK%s\r\nMax-Forwards: 70\r\nFrom: <sip:alice@ims.mnc001.mcc001.3gppnetwork.org>;tag=1\r\nTo: <sip:alice@ims.mnc001.mcc001.3gppnetwork.org>\r\nCall-ID: %s@sa\r\nCSeq: 1 REGISTER\r\nContact: <sip:alice@127.0.0.1:9>\r\nSecurity-Client: ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;spi-c=1;spi-s=2;port-c=5080;port-s=5081\r\nRequire: sec-agree\r\nContent-Length: 0\r\n\r\n' "$RANDOM$RANDOM" "$RANDOM" >"$f"
r420=$(SIPSEND_WHOLE=1 sipsend -u 127.0.0.1 "$PC_SIP" "$f" 3000 | tr -d '\r')
expect_match "REGISTER with Require: sec-agree: 420 from the pcscf" '^SIP/2.0 420 ' "$r420"
expect_match "... naming sec-agree unsupported" '^Unsupported: sec-agree$' "$r420"

stop_prog pcscf
expect_eq "pcscf exits 0" 0 "$LAST_EXIT"
expect_clean_log "pcscf: no sanitizer report" pcscf
finish
