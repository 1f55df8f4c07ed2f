#!/usr/bin/env bash
# SIP over TLS (sip.tls.*): a lab CA made here with openssl signs the pcscf's, the scscf's and
# the handsets' certificates. Both CSCFs listen for TLS besides UDP/TCP and verify their peers'
# certificates both ways; the pcscf reaches the scscf over TLS (pcscf.registrar names
# transport=tls). openssl s_client checks the listener: the configured certificate, an OPTIONS
# answered over TLS, a client certificate of another CA or none refused, the scscf's
# min_version 1.3 refusing TLS 1.2. Then two handsets (SIPp over tls_bridge.py: Debian's SIPp
# has no TLS) register over TLS and alice calls bob: the INVITE reaches bob on the TLS
# connection he registered on, and every hop, Path, Service-Route and Record-Route says TLS.
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
SCEN="$E2E_DIR/scenarios"
DOMAIN=ims.mnc001.mcc001.3gppnetwork.org
field() { jq -r "$1 // empty" <<<"$2"; }

# make_ca DIR; make_cert DIR NAME: the name (CN) and subjectAltName IP:127.0.0.1, the address
# the lab dials (tls_bridge.py checks it; sofia checks the chain only). EC P-256 keys: quick to
# make on a loaded machine.
make_ca() {
  mkdir -p "$1"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$1/ca.key" -out "$1/ca.crt" -days 2 \
    -subj "/CN=lab-ca-$(basename "$1")" 2>/dev/null
}
make_cert() {
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$1/$2.key" -out "$1/$2.csr" -subj "/CN=$2" 2>/dev/null &&
    openssl x509 -req -in "$1/$2.csr" -CA "$1/ca.crt" -CAkey "$1/ca.key" -CAcreateserial \
      -extfile <(printf 'subjectAltName=IP:127.0.0.1,DNS:%s\n' "$2") -out "$1/$2.crt" -days 2 2>/dev/null
}
tls_env() { # PREFIX PORT NAME VERIFY MIN_VERSION
  echo "$1_SIP_TLS_LISTEN=127.0.0.1:$2"
  echo "$1_SIP_TLS_CERTIFICATE=$LAB/$3.crt"
  echo "$1_SIP_TLS_PRIVATE_KEY=$LAB/$3.key"
  echo "$1_SIP_TLS_CA_FILE=$LAB/ca.crt"
  echo "$1_SIP_TLS_VERIFY_PEER=$4"
  echo "$1_SIP_TLS_MIN_VERSION=$5"
}
fingerprint() { openssl x509 -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr 'A-F' 'a-f'; }

LAB="$WORKDIR/lab" OTHER="$WORKDIR/other"
if make_ca "$LAB" && make_cert "$LAB" pcscf && make_cert "$LAB" scscf && make_cert "$LAB" ue &&
  make_ca "$OTHER" && make_cert "$OTHER" ue; then
  pass "lab CA and certificates made with openssl"
else
  fail "lab CA and certificates made with openssl"
  finish
  exit 1
fi

echo "-- the configuration is checked before anything listens"
mapfile -t bad < <(tls_env PCSCF "$(free_port)" pcscf both 1.2)
out=$(env "${bad[@]}" PCSCF_SIP_TLS_PRIVATE_KEY="$LAB/scscf.key" "$BUILD/pcscf" -c "$REPO_DIR/config/pcscf.yaml" --check 2>&1)
expect_eq "a key of another certificate: --check exits 2" 2 "$?"
expect_match "... naming both files" "sip.tls.private_key: '$LAB/scscf.key' is not the key of '$LAB/pcscf.crt'" "$out"
out=$(env "${bad[@]}" PCSCF_SIP_TLS_CA_FILE= "$BUILD/pcscf" -c "$REPO_DIR/config/pcscf.yaml" --check 2>&1)
expect_eq "verify_peer both without a CA file: exits 2" 2 "$?"
expect_match "... saying ca_file is needed" "sip.tls.verify_peer other than none needs sip.tls.ca_file" "$out"

# Under ASan, full stacks for what is allocated inside OpenSSL (it has no frame pointers), so
# that tests/lsan.supp can name sofia's TLS leak by its function.
SLOW_UNWIND="ASAN_OPTIONS=$ASAN_OPTIONS:fast_unwind_on_malloc=0"
TOKEN=s3cret
start_hss hss HSS_API_TOKEN=$TOKEN || { finish; exit 1; }
SC_SIP=$(free_port) SC_TLS=$(free_port) SC_API=$(free_port)
PC_SIP=$(free_port) PC_TLS=$(free_port) PC_API=$(free_port)
mapfile -t diam < <(scscf_diameter_env)
mapfile -t sc_tls < <(tls_env SCSCF "$SC_TLS" scscf both 1.3)
mapfile -t pc_tls < <(tls_env PCSCF "$PC_TLS" pcscf both 1.2)
start_prog scscf "$BUILD/scscf" "$REPO_DIR/config/scscf.yaml" "$SLOW_UNWIND" SCSCF_SIP_LISTEN="127.0.0.1:$SC_SIP" \
  SCSCF_API_LISTEN="127.0.0.1:$SC_API" SCSCF_API_TOKEN=$TOKEN "${diam[@]}" "${sc_tls[@]}" || { finish; exit 1; }
mkdir -p "$WORKDIR/pcscf.tmp"
start_prog pcscf "$BUILD/pcscf" "$REPO_DIR/config/pcscf.yaml" "$SLOW_UNWIND" TMPDIR="$WORKDIR/pcscf.tmp" PCSCF_SIP_LISTEN="127.0.0.1:$PC_SIP" \
  PCSCF_API_LISTEN="127.0.0.1:$PC_API" PCSCF_API_TOKEN=$TOKEN PCSCF_LOG_LEVEL=debug \
  PCSCF_PCSCF_REGISTRAR="sip:127.0.0.1:$SC_TLS;transport=tls;lr" "${pc_tls[@]}" || { finish; exit 1; }
wait_http "127.0.0.1:$SC_API" /readyz 200 10 || fail "scscf ready"
expect_match "the pcscf logs its TLS listener" \
  "sip: listening on sips:127.0.0.1:$PC_TLS;transport=tls \\(certificate $LAB/pcscf.crt, peers verified: both, names checked: servers dialled, TLS 1.2 or later\\)" \
  "$(cat "$WORKDIR/pcscf.log")"
expect_eq "... and removed the agent.pem it assembled for sofia (in its TMPDIR)" "" \
  "$(find "$WORKDIR/pcscf.tmp" -mindepth 1 2>/dev/null)"

echo "-- the listener, seen by openssl s_client"
# s_client NAME PORT [args]: a handshake only (stdin closed at once); its output in $WORKDIR/NAME.
s_client() {
  local name=$1 port=$2
  shift 2
  timeout 10 openssl s_client -connect "127.0.0.1:$port" -CAfile "$LAB/ca.crt" -verify_return_error \
    "$@" </dev/null >"$WORKDIR/$name" 2>&1
}
# tls_options PORT CERT KEY [args]: an OPTIONS to the node over TLS through s_client; prints
# the status line answered, or what s_client said when the handshake failed. Waits for the
# answer or for s_client's exit (its stdin stays open until then: a FIFO held here).
tls_options() {
  local port=$1 cert=$2 key=$3 out="$WORKDIR/options.$RANDOM" fd pid
  shift 3
  mkfifo "$out.in"
  timeout 10 openssl s_client -quiet -connect "127.0.0.1:$port" -CAfile "$LAB/ca.crt" \
    -verify_return_error -cert "$cert" -key "$key" "$@" <"$out.in" >"$out" 2>&1 &
  pid=$!
  exec {fd}>"$out.in"
  printf 'OPTIONS sip:127.0.0.1:%s SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:9;rport;branch=z9hG4bK-o%s\r\nMax-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=p%s\r\nTo: <sip:127.0.0.1:%s>\r\nCall-ID: probe-%s@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' \
    "$port" "$RANDOM" "$RANDOM" "$port" "$RANDOM$RANDOM" >&"$fd" 2>/dev/null
  wait_for 10 answered_or_gone "$out" "$pid"
  exec {fd}>&-
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  tr -d '\r' <"$out" | grep -E '^SIP/2.0|alert|error' | head -3
}
answered_or_gone() { grep -q '^SIP/2.0' "$1" || ! kill -0 "$2" 2>/dev/null; }

s_client pc_tls "$PC_TLS" -cert "$LAB/ue.crt" -key "$LAB/ue.key" -showcerts
expect_match "the pcscf's TLS port completes a handshake, its certificate verified by the lab CA" \
  '^Verify return code: 0 \(ok\)' "$(cat "$WORKDIR/pc_tls")"
expect_eq "... and the certificate it presents is sip.tls.certificate" "$(fingerprint <"$LAB/pcscf.crt")" \
  "$(sed -n '/BEGIN CERT/,/END CERT/p' "$WORKDIR/pc_tls" | awk '/END CERT/{print; exit} {print}' | fingerprint)"
expect_match "OPTIONS over TLS to the pcscf is answered" '^SIP/2.0 200 ' \
  "$(tls_options "$PC_TLS" "$LAB/ue.crt" "$LAB/ue.key")"
expect_match "... also with TLS 1.2 (sip.tls.min_version 1.2)" '^SIP/2.0 200 ' \
  "$(tls_options "$PC_TLS" "$LAB/ue.crt" "$LAB/ue.key" -tls1_2)"
r=$(tls_options "$PC_TLS" "$OTHER/ue.crt" "$OTHER/ue.key")
expect_no_match "a client certificate from another CA (verify_peer both): no answer" '^SIP/2.0' "$r"
expect_match "... the pcscf refuses it in the handshake (unknown CA)" 'alert unknown ca' "$r"
s_client pc_nocert "$PC_TLS" -tls1_2
expect_match "no client certificate at all: the handshake fails" 'alert handshake failure|certificate required|handshake failure' \
  "$(cat "$WORKDIR/pc_nocert")"
s_client sc_tls12 "$SC_TLS" -cert "$LAB/ue.crt" -key "$LAB/ue.key" -tls1_2
expect_match "the scscf (sip.tls.min_version 1.3) refuses TLS 1.2" 'alert protocol version|unsupported protocol|no protocols available' \
  "$(cat "$WORKDIR/sc_tls12")"
expect_match "... and answers an OPTIONS over TLS 1.3" '^SIP/2.0 200 ' \
  "$(tls_options "$SC_TLS" "$LAB/ue.crt" "$LAB/ue.key" -tls1_3)"

echo "-- two handsets register over TLS; alice calls bob"
A_K=abcdefghijklmnop A_OP=ponmlkjihgfedcba B_K=bobbobbobbobbob1
CID="tls-$RANDOM$RANDOM@127.0.0.1"
# handset NAME USER K INSTANCE SCENARIO [callee]: SIPp over TCP to its bridge, the bridge over
# TLS (the lab's ue certificate) from 127.0.0.1:TP to the pcscf, the handset's Contacts naming
# that address; both in the background (SIPP_PID, TP).
handset() {
  local name=$1 user=$2 k=$3 inst=$4 scen=$5 callee=${6:-} br sp
  br=$(free_port) sp=$(free_port) TP=$(free_port)
  python3 "$E2E_DIR/tls_bridge.py" --listen "$br" --connect "127.0.0.1:$PC_TLS" --ca "$LAB/ca.crt" \
    --cert "$LAB/ue.crt" --key "$LAB/ue.key" --bind-port "$TP" --timeout 30 >"$WORKDIR/$name.bridge" 2>&1 &
  wait_for 20 port_bound tcp "$br" || fail "$name: the TLS bridge listens on $br"
  printf 'SEQUENTIAL\n%s;%s@%s;%s;[authentication username=%s@%s aka_K=%s aka_OP=%s];600;%s;127.0.0.1:%s;%s\n' \
    "$user" "$user" "$DOMAIN" "$DOMAIN" "$user" "$DOMAIN" "$k" "$A_OP" "$inst" "$TP" "$callee" >"$WORKDIR/$name.csv"
  timeout 40 sipp -sf "$SCEN/$scen" -inf "$WORKDIR/$name.csv" -i 127.0.0.1 -p "$sp" -t t1 -m 1 \
    -timeout 35s -timeout_error -auth_uri "$DOMAIN" -trace_msg -message_file "$WORKDIR/$name.msg" \
    -cid_str "$CID" -d 100 "127.0.0.1:$br" >/dev/null 2>&1 &
  SIPP_PID=$!
}
binding() { # USER: the pcscf's binding of that user
  jq -c ".registrations[] | select(.impu == \"sip:$1@$DOMAIN\")" <<<"$(http_body "http://127.0.0.1:$PC_API/api/v1/registrations")"
}
registered() { [ -n "$(binding "$1")" ]; }

expect_eq "bob traced at the pcscf (to see the reg-event NOTIFYs it gets)" 200 \
  "$(http_code "http://127.0.0.1:$PC_API/api/v1/trace" -X POST -H "Authorization: Bearer $TOKEN" -d '{"impu":"sip:bob@'$DOMAIN'","seconds":120}')"
handset bob bob "$B_K" 2 tls_ue_call_uas.xml
BOB_PID=$SIPP_PID BOB_TP=$TP
if wait_for 15 registered bob; then pass "bob registers over TLS (AKA)"; else fail "bob registers over TLS (AKA)"; fi
b=$(binding bob)
expect_eq "... the pcscf's binding is his TLS flow" "tls:127.0.0.1:$BOB_TP" "$(field .flow "$b")"
expect_eq "... and terminating requests go over it (outbound)" "sip:127.0.0.1:$BOB_TP;transport=tls" "$(field .target "$b")"
expect_match "the bridge's handshake verified the pcscf's certificate (CN=pcscf)" \
  "^tls TLSv1\\.3 subject=pcscf sha256=$(fingerprint <"$LAB/pcscf.crt")\$" "$(cat "$WORKDIR/bob.bridge")"
sc_reg=$(http_body "http://127.0.0.1:$SC_API/api/v1/registrations/sip:bob@$DOMAIN")
expect_match "the scscf got the pcscf's Path on its TLS listener" \
  "term\\.[^@]*@127\\.0\\.0\\.1:$PC_TLS;lr;transport=tls;ob>" \
  "$(jq -r '.contacts[0].path' <<<"$sc_reg")"

# The pcscf's 200s to the NOTIFYs of its own reg subscription for bob, as its trace logged them
# sent: their Via is the NOTIFY's, so it says where the NOTIFY came from.
pc_notify_oks() { awk '/trace sip:bob@[^ ]*: sent$/{p=1; next} p && /^$/{p=0} p' "$WORKDIR/pcscf.log" | tr -d '\r' | grep -B6 -A3 '^CSeq: [0-9]* NOTIFY$'; }
notified() { pc_notify_oks | grep -q NOTIFY; }
if wait_for 15 notified; then pass "the pcscf takes a reg-event NOTIFY for bob (its subscription)"; else fail "the pcscf takes a reg-event NOTIFY for bob (its subscription)"; fi
nt=$(pc_notify_oks)
expect_match "... sent by the scscf from its TLS listener (the NOTIFY's Via)" "^Via: SIP/2\\.0/TLS 127\\.0\\.0\\.1:$SC_TLS;" "$nt"
expect_no_match "... none from its plain listener" "^Via: SIP/2\\.0/(UDP|TCP) " "$nt"
expect_match "... to the pcscf's TLS identity, the one its Path names (else the scscf refuses it: 403)" \
  "^To: <sip:pcscf@127\\.0\\.0\\.1:$PC_TLS;transport=tls>;tag=" "$nt"
expect_eq "the scscf holds the pcscf's subscription" 1 \
  "$(grep -c "regevent: sip:bob@$DOMAIN: 127.0.0.1:$PC_TLS subscribed" "$WORKDIR/scscf.log")"

handset alice alice "$A_K" 1 tls_ue_call_uac.xml "sip:bob@$DOMAIN"
wait "$SIPP_PID"
expect_eq "alice registers and calls over TLS: INVITE/180/200/ACK/BYE/200" 0 "$?"
wait "$BOB_PID"
expect_eq "bob takes the call on the TLS connection he registered on" 0 "$?"
amsg=$(tr -d '\r' <"$WORKDIR/alice.msg")
expect_match "alice's 200 to REGISTER has the scscf's TLS Service-Route" \
  "^Service-Route: <sip:orig@127\\.0\\.0\\.1:$SC_TLS;lr;transport=tls>\$" "$amsg"
inv=$(sed -n '/^INVITE /,/^\r\?$/p' "$WORKDIR/bob.msg" | tr -d '\r')
expect_match "bob's INVITE came from the pcscf's TLS listener" "^Via: SIP/2.0/TLS 127\\.0\\.0\\.1:$PC_TLS;" "$inv"
expect_match "... through the scscf over TLS" "^Via: SIP/2.0/TLS 127\\.0\\.0\\.1:$SC_TLS;" "$inv"
expect_eq "... every proxy hop over TLS (pcscf, scscf, pcscf) after alice's" 3 \
  "$(grep -c "^Via: SIP/2.0/TLS 127\\.0\\.0\\.1:\\($PC_TLS\\|$SC_TLS\\);" <<<"$inv")"
# the pcscf's entries carry the UEs' flow tokens (outbound over TLS, RFC 5626 5.3)
expect_match "Record-Route: the TLS listeners, with transport=tls, the pcscf's with flow tokens" \
  "^Record-Route: <sip:flow\\.[0-9a-f]+@127\\.0\\.0\\.1:$PC_TLS;transport=tls;lr>, ?<sip:127\\.0\\.0\\.1:$SC_TLS;transport=tls;lr>, ?<sip:flow\\.[0-9a-f]+@127\\.0\\.0\\.1:$PC_TLS;transport=tls;lr>\$" \
  "$(grep '^Record-Route' <<<"$inv" | paste -sd, - | sed 's/, *Record-Route: */, /g')"
expect_match "bob's BYE came along the route set" '^BYE sip:callee@' "$(tr -d '\r' <"$WORKDIR/bob.msg")"
expect_match "the pcscf delivered the INVITE over bob's TLS flow" \
  "pcscf: INVITE to sip:127\\.0\\.0\\.1:$BOB_TP;transport=tls, outbound flow of tls:127\\.0\\.0\\.1:$BOB_TP " \
  "$(cat "$WORKDIR/pcscf.log")"

stop_prog pcscf
expect_eq "pcscf exits 0" 0 "$LAST_EXIT"
stop_prog scscf
expect_eq "scscf exits 0" 0 "$LAST_EXIT"
finish
