#!/usr/bin/env bash
# Diameter Cx over TLS (diameter.tls): hss and scscf with certificates from a lab CA made here
# with openssl; the peer opens over TLS and answers; an scscf whose certificate another CA
# signed dials the HSS, fails the TLS handshake (both ends log it) and never gets an open peer.
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
DOMAIN=ims.mnc001.mcc001.3gppnetwork.org

# make_ca DIR; make_cert DIR NAME: CN = the Diameter identity, as freeDiameter checks it.
make_ca() {
  mkdir -p "$1"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1/ca.key" -out "$1/ca.crt" -days 2 \
    -subj "/CN=lab-ca-$(basename "$1")" 2>/dev/null
}
make_cert() {
  openssl req -newkey rsa:2048 -nodes -keyout "$1/$2.key" -out "$1/$2.csr" -subj "/CN=$2.$DOMAIN" 2>/dev/null &&
    openssl x509 -req -in "$1/$2.csr" -CA "$1/ca.crt" -CAkey "$1/ca.key" -CAcreateserial \
      -out "$1/$2.crt" -days 2 2>/dev/null
}
tls_env() { # PREFIX DIR NAME
  echo "$1_DIAMETER_TLS=true"
  echo "$1_DIAMETER_TLS_CERT=$2/$3.crt"
  echo "$1_DIAMETER_TLS_KEY=$2/$3.key"
  echo "$1_DIAMETER_TLS_CA=$2/ca.crt"
}

LAB="$WORKDIR/lab" OTHER="$WORKDIR/other"
if make_ca "$LAB" && make_cert "$LAB" hss && make_cert "$LAB" scscf && make_ca "$OTHER" &&
  make_cert "$OTHER" scscf; then
  pass "lab CA and certificates made with openssl"
else
  fail "lab CA and certificates made with openssl"
  finish
  exit 1
fi

mapfile -t hss_tls < <(tls_env HSS "$LAB" hss)
start_hss hss "${hss_tls[@]}" || { finish; exit 1; }

start_scscf() { # NAME CERTDIR
  local api sip
  api=$(free_port) sip=$(free_port)
  mapfile -t diam < <(scscf_diameter_env)
  mapfile -t tls < <(tls_env SCSCF "$2" scscf)
  SC_API=$api
  start_prog "$1" "$BUILD/scscf" "$REPO_DIR/config/scscf.yaml" SCSCF_SIP_LISTEN="127.0.0.1:$sip" \
    SCSCF_API_LISTEN="127.0.0.1:$api" SCSCF_API_TOKEN=t "${diam[@]}" "${tls[@]}"
}

echo "-- TLS with certificates from the lab CA"
if start_scscf scscf "$LAB"; then
  if wait_http "127.0.0.1:$SC_API" /readyz 200 10; then pass "the Cx peer opens over TLS"
  else fail "the Cx peer opens over TLS" "$(http_body "http://127.0.0.1:$SC_API/readyz")"; fi
  expect_match "... freeDiameter says TLS" "Connected to '$HSS_ID' \\(TCP,TLS" "$(cat "$WORKDIR/scscf.log")"
  a=$(curl -s -m 10 -H 'Authorization: Bearer t' -X POST "http://127.0.0.1:$SC_API/api/v1/cx/lir" -d '{"impu":"tel:+15550002"}')
  expect_match "... and a LIR is answered over it" '"status":"answered"' "$a"
  stop_prog scscf
  expect_eq "scscf exits 0" 0 "$LAST_EXIT"
fi

echo "-- a certificate from another CA"
HANDSHAKE_ERR="TLS ERROR: in 'ret = gnutls_handshake"
handshake_errs() { grep -cF "$HANDSHAKE_ERR" "$WORKDIR/$1.log" 2>/dev/null; }
hss_errs=$(handshake_errs hss)
more_errs() { [ "$(handshake_errs "$1")" -gt "$2" ]; } # NAME COUNT
if start_scscf scscf_other "$OTHER"; then
  # freeDiameter logs the failed handshake at both ends: the event to wait for.
  if wait_for 15 more_errs scscf_other 0; then pass "the scscf dials the HSS and its TLS handshake fails"
  else fail "the scscf dials the HSS and its TLS handshake fails" "no \"$HANDSHAKE_ERR\" in scscf_other.log within 15 s"; fi
  log=$(cat "$WORKDIR/scscf_other.log")
  expect_match "... on the HSS's certificate, from an issuer it does not know" \
    "TLS: Remote certificate invalid .*Connection: .*127\\.0\\.0\\.1\\($HSS_DIAM\\)" "$log"
  expect_match "... (no known issuer)" "The certificate hasn't got a known issuer" "$log"
  if wait_for 10 more_errs hss "$hss_errs"; then pass "... and the HSS logs the failed handshake too"
  else fail "... and the HSS logs the failed handshake too" "no new \"$HANDSHAKE_ERR\" in hss.log within 10 s"; fi
  expect_no_match "... so the peer never connects" "Connected to '$HSS_ID'" "$(cat "$WORKDIR/scscf_other.log")"
  expect_eq "... and the scscf is not ready" 503 "$(http_code "http://127.0.0.1:$SC_API/readyz")"
  stop_prog scscf_other
fi
stop_prog hss
expect_eq "hss exits 0" 0 "$LAST_EXIT"
for p in scscf scscf_other hss; do expect_clean_log "$p: no sanitizer report" "$p"; done
finish
