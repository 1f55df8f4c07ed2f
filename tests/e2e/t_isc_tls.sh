#!/usr/bin/env bash
# ISC towards an AS over TLS (issue 19 "TLS for trunks towards ASs"). A REGISTER iFC naming an AS
# with ;transport=tls: its third-party REGISTER goes over TLS from the scscf's TLS listener. An
# INVITE iFC whose Server-Name says ;transport=tls makes the scscf reach that AS over TLS, with
# its TLS listener in the Via,
# the Record-Route and the odi Route entry the AS comes back on; the caller's side keeps the
# scscf's plain Record-Route entry. The AS is SIPp (no TLS in Debian's build) behind
# tls_bridge.py --serve, with a lab CA made here (the scscf verifies the AS's certificate).
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
SCEN="$E2E_DIR/scenarios"
DOMAIN=ims.mnc001.mcc001.3gppnetwork.org
LAB="$WORKDIR/lab"
mkdir -p "$LAB"
make_cert() { # NAME: EC P-256, CN NAME, subjectAltName IP:127.0.0.1, signed by the lab CA
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$LAB/$1.key" -out "$LAB/$1.csr" -subj "/CN=$1" 2>/dev/null &&
    openssl x509 -req -in "$LAB/$1.csr" -CA "$LAB/ca.crt" -CAkey "$LAB/ca.key" -CAcreateserial \
      -extfile <(printf 'subjectAltName=IP:127.0.0.1,DNS:%s\n' "$1") -out "$LAB/$1.crt" -days 2 2>/dev/null
}
if openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$LAB/ca.key" \
  -out "$LAB/ca.crt" -days 2 -subj "/CN=lab-ca" 2>/dev/null && make_cert scscf && make_cert as; then
  pass "lab CA and certificates made with openssl"
else
  fail "lab CA and certificates made with openssl"
  finish
  exit 1
fi

TOKEN=s3cret
start_hss hss HSS_API_TOKEN=$TOKEN || { finish; exit 1; }
SC_SIP=$(free_port) SC_TLS=$(free_port) SC_API=$(free_port) PC_SIP=$(free_port) PC_API=$(free_port)
AS_TLS=$(free_port) AS_TCP=$(free_port) PA=$(free_port) REG_TLS=$(free_port) REG_TCP=$(free_port)
mapfile -t diam < <(scscf_diameter_env)
# Full stacks for what OpenSSL allocates under ASan (tests/lsan.supp names sofia's TLS leak).
SLOW_UNWIND="ASAN_OPTIONS=$ASAN_OPTIONS:fast_unwind_on_malloc=0"
start_prog scscf "$BUILD/scscf" "$REPO_DIR/config/scscf.yaml" "$SLOW_UNWIND" SCSCF_SIP_LISTEN="127.0.0.1:$SC_SIP" \
  SCSCF_API_LISTEN="127.0.0.1:$SC_API" "${diam[@]}" SCSCF_SIP_TLS_LISTEN="127.0.0.1:$SC_TLS" \
  SCSCF_SIP_TLS_CERTIFICATE="$LAB/scscf.crt" SCSCF_SIP_TLS_PRIVATE_KEY="$LAB/scscf.key" \
  SCSCF_SIP_TLS_CA_FILE="$LAB/ca.crt" SCSCF_SIP_TLS_VERIFY_PEER=outgoing || { finish; exit 1; }
start_prog pcscf "$BUILD/pcscf" "$REPO_DIR/config/pcscf.yaml" PCSCF_SIP_LISTEN="127.0.0.1:$PC_SIP" \
  PCSCF_API_LISTEN="127.0.0.1:$PC_API" PCSCF_PCSCF_REGISTRAR="sip:127.0.0.1:$SC_SIP;transport=tcp;lr" ||
  { finish; exit 1; }
wait_http "127.0.0.1:$SC_API" /readyz 200 10 || fail "scscf ready"

ALICE_IFC='[
 {"priority":5,"condition":"cnf","as":"sip:127.0.0.1:'$REG_TLS';transport=tls",
  "triggers":[{"group":0,"method":"REGISTER"}]},
 {"priority":10,"condition":"cnf","as":"sip:127.0.0.1:'$AS_TLS';transport=tls",
  "triggers":[{"group":0,"method":"INVITE"},{"group":1,"session_case":"originating"}]}]'
code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -X PUT \
  "http://127.0.0.1:$HSS_API/api/v1/subscribers/alice@$DOMAIN" \
  -d '{"impus":["sip:alice@'$DOMAIN'","tel:+15550001"],"k":"6162636465666768696a6b6c6d6e6f70","op":"706f6e6d6c6b6a696867666564636261","amf":"0000","auth_schemes":["AKAv1-MD5"],"ifc":'"$ALICE_IFC"'}')
expect_eq "alice's iFC (an AS with ;transport=tls) is provisioned over REST" 200 "$code"

# as_tls NAME SCENARIO TCP TLS: an AS (SIPp over TCP on TCP) behind tls_bridge.py --serve on TLS
# (the lab's as certificate); SIPp's pid in AS_PID.
as_tls() {
  timeout 30 sipp -sf "$SCEN/$2" -i 127.0.0.1 -p "$3" -t t1 -m 1 -timeout 25s \
    -timeout_error -trace_msg -message_file "$WORKDIR/$1.msg" >/dev/null 2>&1 &
  AS_PID=$!
  wait_for 10 port_bound tcp "$3" || fail "$1 (SIPp) listens on $3"
  python3 "$E2E_DIR/tls_bridge.py" --serve --listen "$4" --connect "127.0.0.1:$3" \
    --ca "$LAB/ca.crt" --cert "$LAB/as.crt" --key "$LAB/as.key" --timeout 30 >"$WORKDIR/$1.bridge" 2>&1 &
  wait_for 20 port_bound tcp "$4" || fail "$1's TLS bridge listens on $4"
}
echo "-- alice registers: her REGISTER iFC names an AS with ;transport=tls"
as_tls asreg as_register_uas.xml "$REG_TCP" "$REG_TLS"
REG_PID=$AS_PID
printf 'SEQUENTIAL\nalice;alice@%s;%s;[authentication username=alice@%s aka_K=abcdefghijklmnop aka_OP=ponmlkjihgfedcba];600;1\n' \
  "$DOMAIN" "$DOMAIN" "$DOMAIN" >"$WORKDIR/alice.csv"
timeout 20 sipp -sf "$SCEN/register_aka.xml" -inf "$WORKDIR/alice.csv" -i 127.0.0.1 -p "$PA" -t u1 \
  -m 1 -timeout 15s -timeout_error -auth_uri "$DOMAIN" -trace_msg -message_file "$WORKDIR/alice.msg" \
  "127.0.0.1:$PC_SIP" >/dev/null 2>&1
expect_eq "alice registers" 0 "$?"
wait "$REG_PID"
expect_eq "the AS gets the third-party REGISTER and answers 200" 0 "$?"
expect_match "... over TLS (its bridge's handshake)" '^tls TLSv1\.[23]$' "$(cat "$WORKDIR/asreg.bridge")"
tpr=$(sed -n '/^REGISTER /,/^\r\?$/p' "$WORKDIR/asreg.msg" | tr -d '\r')
expect_match "... to the AS's URI" "^REGISTER sip:127\\.0\\.0\\.1:$REG_TLS;transport=tls SIP/2\\.0" "$tpr"
expect_match "... from the scscf's TLS listener (its Via)" "^Via: SIP/2\\.0/TLS 127\\.0\\.0\\.1:$SC_TLS;" "$tpr"
expect_no_match "... not its plain one" "^Via: SIP/2\\.0/(UDP|TCP) " "$tpr"
expect_eq "the scscf counts it a success" 1 \
  "$(http_body "http://127.0.0.1:$SC_API/metrics" | awk '$1 ~ /^cscf_third_party_registers_total\{.*outcome="success"/ {print $2}')"

echo "-- alice's INVITE: her originating iFC sends it to the AS over TLS; the AS rings, then 486"
as_tls as dialog_uas_reject.xml "$AS_TCP" "$AS_TLS"
printf 'SEQUENTIAL\nalice;sip:bob@%s;%s\n' "$DOMAIN" "$DOMAIN" >"$WORKDIR/acall.csv"
timeout 30 sipp -sf "$SCEN/dialog_uac_reject.xml" -inf "$WORKDIR/acall.csv" -i 127.0.0.1 -p "$PA" -t u1 \
  -m 1 -timeout 20s -timeout_error -trace_msg -message_file "$WORKDIR/acall.msg" "127.0.0.1:$PC_SIP" \
  >/dev/null 2>&1
expect_eq "alice's call gets the AS's 486 (and she ACKs it)" 0 "$?"
wait "$AS_PID"
expect_eq "the AS took the INVITE and the ACK to its 486" 0 "$?"
expect_match "the AS's connection is TLS (its bridge's handshake)" '^tls TLSv1\.[23]$' "$(cat "$WORKDIR/as.bridge")"
inv=$(sed -n '/^INVITE /,/^\r\?$/p' "$WORKDIR/as.msg" | tr -d '\r')
expect_match "the INVITE's top Via is the scscf's TLS listener" "^Via: SIP/2.0/TLS 127\\.0\\.0\\.1:$SC_TLS;" \
  "$(grep -m1 '^Via:' <<<"$inv")"
expect_match "... its Record-Route the scscf's TLS listener" "<sip:127\\.0\\.0\\.1:$SC_TLS;transport=tls;lr>" \
  "$(grep '^Record-Route:' <<<"$inv")"
expect_no_match "... not its plain one" "<sip:127\\.0\\.0\\.1:$SC_SIP[;>]" "$(grep '^Record-Route:' <<<"$inv")"
expect_match "... and the AS comes back on an odi Route entry on the TLS listener" \
  "<sip:odi\\.[0-9a-f]+@127\\.0\\.0\\.1:$SC_TLS;transport=tls;lr>" "$(grep '^Route:' <<<"$inv")"
r180=$(sed -n '/^SIP\/2.0 180/,/^\r\?$/p' "$WORKDIR/acall.msg" | tr -d '\r')
expect_match "alice's 180 carries the scscf's plain Record-Route entry" "<sip:127\\.0\\.0\\.1:$SC_SIP;" \
  "$(grep '^Record-Route:' <<<"$r180")"
expect_no_match "... not its TLS one" "127\\.0\\.0\\.1:$SC_TLS" "$(grep '^Record-Route:' <<<"$r180")"

stop_prog pcscf
expect_eq "pcscf exits 0" 0 "$LAST_EXIT"
expect_clean_log "pcscf: no sanitizer report" pcscf
stop_prog scscf
expect_eq "scscf exits 0" 0 "$LAST_EXIT"
expect_clean_log "scscf: no sanitizer report" scscf
stop_clean hss
finish
