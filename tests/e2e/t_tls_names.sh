#!/usr/bin/env bash
# Names in TLS certificates (sip.tls.verify_peer_names, sip.tls.allowed_subjects) and
# certificate chains. A lab root CA signs an intermediate CA, which signs the scscf's
# certificate; the scscf's certificate file holds it and then the intermediate, and its peers
# trust the root alone. The pcscf reaches the scscf over TLS (pcscf.registrar names
# transport=tls): with a certificate naming 127.0.0.1 in subjectAltName IP (its DNS entry and CN
# say scscf) a REGISTER reaches the scscf (401); with one naming only wrong.example the pcscf
# refuses the connection (nta's 503, relayed to the UE as 500 at once; logged once, counted);
# with verify_peer_names false the same certificate passes (so the names were the reason). An scscf with allowed_subjects takes a client certificate naming one of them and
# refuses another of the same CA.
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
DOMAIN=ims.mnc001.mcc001.3gppnetwork.org
LAB="$WORKDIR/lab"
mkdir -p "$LAB"

# EC P-256 keys: quick to make on a loaded machine.
newkey() { openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$LAB/$1.key" -out "$LAB/$1.csr" -subj "/CN=$2" 2>/dev/null; }
# sign NAME ISSUER EXTENSIONS
sign() {
  openssl x509 -req -in "$LAB/$1.csr" -CA "$LAB/$2.crt" -CAkey "$LAB/$2.key" -CAcreateserial \
    -extfile <(printf '%s\n' "$3") -out "$LAB/$1.crt" -days 2 2>/dev/null
}
if openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$LAB/root.key" \
  -out "$LAB/root.crt" -days 2 -subj "/CN=lab-root" 2>/dev/null &&
  newkey inter lab-intermediate && sign inter root 'basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign' &&
  newkey scscf scscf && sign scscf inter 'subjectAltName=IP:127.0.0.1,DNS:scscf' &&
  newkey wrong wrong.example && sign wrong root 'subjectAltName=DNS:wrong.example' &&
  newkey pcscf pcscf && sign pcscf root 'subjectAltName=IP:127.0.0.1,DNS:pcscf' &&
  newkey ue ue && sign ue root 'subjectAltName=IP:127.0.0.1,DNS:ue'; then
  cat "$LAB/scscf.crt" "$LAB/inter.crt" >"$LAB/scscf-chain.crt"
  pass "lab root CA, intermediate CA and certificates made with openssl"
else
  fail "lab root CA, intermediate CA and certificates made with openssl"
  finish
  exit 1
fi
expect_match "the scscf's certificate does not verify against the root alone (the intermediate is needed)" \
  'error' "$(openssl verify -CAfile "$LAB/root.crt" "$LAB/scscf.crt" 2>&1)"

echo "-- the configuration is checked"
out=$(env PCSCF_SIP_TLS_LISTEN="127.0.0.1:$(free_port)" PCSCF_SIP_TLS_CERTIFICATE="$LAB/pcscf.crt" \
  PCSCF_SIP_TLS_PRIVATE_KEY="$LAB/pcscf.key" PCSCF_SIP_TLS_CA_FILE="$LAB/root.crt" \
  PCSCF_SIP_TLS_VERIFY_PEER=outgoing PCSCF_SIP_TLS_ALLOWED_SUBJECTS=ue \
  "$BUILD/pcscf" -c "$REPO_DIR/config/pcscf.yaml" --check 2>&1)
expect_eq "allowed_subjects without verifying incoming connections: --check exits 2" 2 "$?"
expect_match "... saying so" "sip.tls.allowed_subjects needs sip.tls.verify_peer incoming or both" "$out"

TOKEN=s3cret
start_hss hss HSS_API_TOKEN=$TOKEN || { finish; exit 1; }
mapfile -t diam < <(scscf_diameter_env)
SLOW_UNWIND="ASAN_OPTIONS=$ASAN_OPTIONS:fast_unwind_on_malloc=0"
SC_SIP=$(free_port) SC_TLS=$(free_port) SC_API=$(free_port)
# scscf NAME CERTFILE KEY [VAR=VALUE...]: an scscf on the same ports each time.
scscf() {
  local name=$1 cert=$2 key=$3
  shift 3
  start_prog "$name" "$BUILD/scscf" "$REPO_DIR/config/scscf.yaml" "$SLOW_UNWIND" SCSCF_SIP_LISTEN="127.0.0.1:$SC_SIP" \
    SCSCF_API_LISTEN="127.0.0.1:$SC_API" "${diam[@]}" SCSCF_SIP_TLS_LISTEN="127.0.0.1:$SC_TLS" \
    SCSCF_SIP_TLS_CERTIFICATE="$cert" SCSCF_SIP_TLS_PRIVATE_KEY="$key" \
    SCSCF_SIP_TLS_CA_FILE="$LAB/root.crt" "$@" && wait_http "127.0.0.1:$SC_API" /readyz 200 10
}
PC_SIP=$(free_port) PC_TLS=$(free_port) PC_API=$(free_port)
pcscf() { # NAME [VAR=VALUE...]: a pcscf whose registrar is the scscf's TLS listener
  local name=$1
  shift
  start_prog "$name" "$BUILD/pcscf" "$REPO_DIR/config/pcscf.yaml" "$SLOW_UNWIND" PCSCF_SIP_LISTEN="127.0.0.1:$PC_SIP" \
    PCSCF_API_LISTEN="127.0.0.1:$PC_API" PCSCF_SIP_TLS_LISTEN="127.0.0.1:$PC_TLS" \
    PCSCF_SIP_TLS_CERTIFICATE="$LAB/pcscf.crt" PCSCF_SIP_TLS_PRIVATE_KEY="$LAB/pcscf.key" \
    PCSCF_SIP_TLS_CA_FILE="$LAB/root.crt" PCSCF_SIP_TLS_VERIFY_PEER=outgoing \
    PCSCF_PCSCF_REGISTRAR="sip:127.0.0.1:$SC_TLS;transport=tls;lr" "$@"
}
# register USER: a REGISTER over UDP to the pcscf; prints the final status code it gets (the
# scscf's 401 when the pcscf could reach it, the pcscf's own answer otherwise), or "none".
register() {
  python3 - "$PC_SIP" "$1" "$DOMAIN" <<'EOF'
import socket, sys, random
port, user, dom = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
me = s.getsockname()[1]
tag = random.randrange(1 << 30)
req = (f"REGISTER sip:{dom} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{me};rport;branch=z9hG4bK-n{tag}\r\n"
       f"Max-Forwards: 70\r\nFrom: <sip:{user}@{dom}>;tag=t{tag}\r\nTo: <sip:{user}@{dom}>\r\n"
       f"Call-ID: names-{tag}@127.0.0.1\r\nCSeq: 1 REGISTER\r\nContact: <sip:{user}@127.0.0.1:{me}>\r\n"
       f"Authorization: Digest username=\"{user}@{dom}\", realm=\"{dom}\", uri=\"sip:{dom}\", nonce=\"\", response=\"\"\r\n"
       f"Expires: 600\r\nContent-Length: 0\r\n\r\n").encode()
s.sendto(req, ("127.0.0.1", port))
s.settimeout(45)
try:
    while True:
        code = s.recv(65535).decode(errors="replace").split(" ", 2)[1]
        if not code.startswith("1"):
            print(code)
            break
except socket.timeout:
    print("none")
EOF
}
metric() { # API NAME [LABEL]: the value of the line with both, 0 when absent
  local v
  v=$(http_body "http://$1/metrics" | grep -F "$2{" | grep -F "${3:-}" | awk '{print $2}' | head -1)
  echo "${v:-0}"
}

echo "-- the scscf sends its intermediate; its certificate names 127.0.0.1, the host dialled"
scscf scscf "$LAB/scscf-chain.crt" "$LAB/scscf.key" SCSCF_SIP_TLS_VERIFY_PEER=outgoing || { finish; exit 1; }
expect_match "the scscf logs the intermediate it sends" \
  "sip.tls: $LAB/scscf-chain.crt holds 1 intermediate CA certificate\\(s\\): sent after it" "$(cat "$WORKDIR/scscf.log")"
timeout 10 openssl s_client -connect "127.0.0.1:$SC_TLS" -CAfile "$LAB/root.crt" -verify_return_error \
  -showcerts </dev/null >"$WORKDIR/sc_chain" 2>&1
expect_match "s_client trusting the root alone verifies the scscf's certificate" '^Verify return code: 0 \(ok\)' \
  "$(cat "$WORKDIR/sc_chain")"
expect_match "... the chain it got: the scscf, issued by the intermediate" '^ 1 s:CN ?= ?lab-intermediate' \
  "$(cat "$WORKDIR/sc_chain")"
pcscf pcscf || { finish; exit 1; }
expect_match "the pcscf logs that it checks the names of the servers it dials" \
  "sip: listening on sips:127.0.0.1:$PC_TLS;transport=tls \\(certificate $LAB/pcscf.crt, peers verified: outgoing, names checked: servers dialled, TLS 1.2 or later\\)" \
  "$(cat "$WORKDIR/pcscf.log")"
expect_eq "a REGISTER through the pcscf reaches the scscf over TLS (its 401)" 401 "$(register alice)"
expect_eq "... no certificate refused for its name" 0 \
  "$(metric "127.0.0.1:$PC_API" cscf_tls_name_mismatch_total)"

echo "-- an scscf whose certificate names only wrong.example"
stop_prog scscf
scscf scscf2 "$LAB/wrong.crt" "$LAB/wrong.key" SCSCF_SIP_TLS_VERIFY_PEER=outgoing || { finish; exit 1; }
# nta's 503 for the refused connection, relayed as 500 (RFC 3261 16.7), at once: no timer.
expect_eq "the REGISTER gets 500 from the pcscf at once (the connection refused)" 500 "$(register alice)"
expect_eq "... and a second one too" 500 "$(register bob)"
expect_match "the pcscf counts the refusals (outgoing)" '^[2-9]' \
  "$(metric "127.0.0.1:$PC_API" cscf_tls_name_mismatch_total 'direction="outgoing"')"
expect_eq "... and logs the first one only, naming the host" 1 \
  "$(grep -c 'sip: TLS connection to 127.0.0.1 refused: its certificate does not name 127.0.0.1' "$WORKDIR/pcscf.log")"

echo "-- the same scscf, names not checked (verify_peer_names false)"
stop_prog pcscf
pcscf pcscf2 PCSCF_SIP_TLS_VERIFY_PEER_NAMES=false || { finish; exit 1; }
expect_match "the pcscf logs that it checks no names" "peers verified: outgoing, names checked: none," \
  "$(cat "$WORKDIR/pcscf2.log")"
expect_eq "the REGISTER reaches the scscf (401): the chain verifies, only the name was wrong" 401 \
  "$(register alice)"
stop_prog pcscf2
stop_prog scscf2

echo "-- an scscf taking clients named pcscf only (allowed_subjects, verify_peer both)"
scscf scscf3 "$LAB/scscf-chain.crt" "$LAB/scscf.key" SCSCF_SIP_TLS_VERIFY_PEER=both \
  SCSCF_SIP_TLS_ALLOWED_SUBJECTS=pcscf || { finish; exit 1; }
expect_match "the scscf logs that it checks its clients' names" "peers verified: both, names checked: servers dialled, clients," \
  "$(cat "$WORKDIR/scscf3.log")"
pcscf pcscf3 || { finish; exit 1; }
expect_eq "the pcscf (its certificate names pcscf) reaches it: 401" 401 "$(register alice)"
# s_client_options CERT KEY: an OPTIONS over TLS to the scscf; the status line, or s_client's error
s_client_options() {
  local out="$WORKDIR/opt.$RANDOM" fd pid
  mkfifo "$out.in"
  timeout 10 openssl s_client -quiet -connect "127.0.0.1:$SC_TLS" -CAfile "$LAB/root.crt" \
    -cert "$1" -key "$2" <"$out.in" >"$out" 2>&1 &
  pid=$!
  exec {fd}>"$out.in"
  printf 'OPTIONS sip:127.0.0.1:%s SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:9;rport;branch=z9hG4bK-o%s\r\nMax-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=p%s\r\nTo: <sip:127.0.0.1:%s>\r\nCall-ID: probe-%s@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' \
    "$SC_TLS" "$RANDOM" "$RANDOM" "$SC_TLS" "$RANDOM$RANDOM" >&"$fd" 2>/dev/null
  wait_for 10 answered_or_gone "$out" "$pid"
  exec {fd}>&-
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  tr -d '\r' <"$out" | grep -E '^SIP/2.0' | head -1
}
answered_or_gone() { grep -q '^SIP/2.0' "$1" || ! kill -0 "$2" 2>/dev/null; }
expect_match "an OPTIONS with the pcscf's certificate is answered" '^SIP/2.0 200' \
  "$(s_client_options "$LAB/pcscf.crt" "$LAB/pcscf.key")"
expect_eq "... one with a certificate of the same CA naming ue is not" "" \
  "$(s_client_options "$LAB/ue.crt" "$LAB/ue.key")"
expect_match "the scscf counts it (incoming)" '^[1-9]' \
  "$(metric "127.0.0.1:$SC_API" cscf_tls_name_mismatch_total 'direction="incoming"')"
expect_eq "... and logs it once" 1 \
  "$(grep -c 'sip: TLS connection from a client refused: its certificate names none of sip.tls.allowed_subjects' "$WORKDIR/scscf3.log")"

stop_prog pcscf3
expect_eq "pcscf exits 0" 0 "$LAST_EXIT"
expect_clean_log "pcscf: no sanitizer report" pcscf3
stop_prog scscf3
expect_eq "scscf exits 0" 0 "$LAST_EXIT"
expect_clean_log "scscf: no sanitizer report" scscf3
stop_clean hss
finish
