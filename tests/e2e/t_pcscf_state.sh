#!/usr/bin/env bash
# pcscf.state_file: the P-CSCF's bindings survive a crash (ipsec.mode off). alice and bob
# register through the pcscf, whose state file then holds both (mode 0600); the pcscf is killed
# with SIGKILL and started again on the same file and port; without registering again, bob's
# MESSAGE reaches alice: bob's restored binding makes it originating, and the S-CSCF's request
# back comes on alice's Path token, which only the restored binding resolves (the pcscf's debug
# line names her flow). GET /api/v1/registrations shows the restored bindings. Then: a binding
# expired in the file is left out at start; a truncated file is moved aside to <file>.bad with
# one clear log line, and the pcscf starts empty and keeps running.
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
SCEN="$E2E_DIR/scenarios"
DOMAIN=ims.mnc001.mcc001.3gppnetwork.org
OP=ponmlkjihgfedcba
STATE="$WORKDIR/state/pcscf-state.json"
field() { jq -r "$1 // empty" <<<"$2"; }

start_hss hss || { finish; exit 1; }
SC_SIP=$(free_port) SC_API=$(free_port) PC_SIP=$(free_port) PC_API=$(free_port)
mapfile -t diam < <(scscf_diameter_env)
start_prog scscf "$BUILD/scscf" "$REPO_DIR/config/scscf.yaml" SCSCF_SIP_LISTEN="127.0.0.1:$SC_SIP" \
  SCSCF_API_LISTEN="127.0.0.1:$SC_API" "${diam[@]}" || { finish; exit 1; }
# start_pcscf LOGNAME: the pcscf on the same ports and state file every time.
start_pcscf() {
  start_prog "$1" "$BUILD/pcscf" "$REPO_DIR/config/pcscf.yaml" PCSCF_SIP_LISTEN="127.0.0.1:$PC_SIP" \
    PCSCF_API_LISTEN="127.0.0.1:$PC_API" PCSCF_LOG_LEVEL=debug PCSCF_PCSCF_STATE_FILE="$STATE" \
    PCSCF_PCSCF_REGISTRAR="sip:127.0.0.1:$SC_SIP;transport=tcp;lr"
}
start_pcscf pcscf || { finish; exit 1; }
wait_http "127.0.0.1:$SC_API" /readyz 200 10 || fail "scscf ready"

register() { # USER K PORT: AKA registration from PORT; SIPp's verdict in $?
  printf 'SEQUENTIAL\n%s;%s@%s;%s;[authentication username=%s@%s aka_K=%s aka_OP=%s];600;1\n' \
    "$1" "$1" "$DOMAIN" "$DOMAIN" "$1" "$DOMAIN" "$2" "$OP" >"$WORKDIR/$1.csv"
  timeout 20 sipp -sf "$SCEN/register_aka.xml" -inf "$WORKDIR/$1.csv" -i 127.0.0.1 -p "$3" -t u1 \
    -m 1 -timeout 15s -timeout_error -auth_uri "$DOMAIN" "127.0.0.1:$PC_SIP" >/dev/null 2>&1
}
regs() { http_body "http://127.0.0.1:$PC_API/api/v1/registrations$1"; }
file_bindings() { jq -r '[.bindings[].impi] | sort | join(",")' "$STATE" 2>/dev/null; }
file_has() { [ "$(file_bindings)" = "$1" ]; }
in_log() { grep -q -- "$2" "$WORKDIR/$1.log"; }

echo "-- alice and bob register; the state file follows"
PA=$(free_port) PB=$(free_port)
register alice abcdefghijklmnop "$PA"
expect_eq "alice registers (AKA) through the pcscf" 0 "$?"
register bob bobbobbobbobbob1 "$PB"
expect_eq "bob registers" 0 "$?"
BOTH="alice@$DOMAIN,bob@$DOMAIN"
wait_for 5 file_has "$BOTH"
expect_eq "the state file holds both bindings" "$BOTH" "$(file_bindings)"
expect_eq "... with mode 0600 (it would hold SA keys)" 600 "$(stat -c %a "$STATE" 2>/dev/null)"
expect_eq "... and no temporary file left" "" "$(ls "$STATE.tmp" 2>/dev/null)"
a=$(regs "?impu=sip:alice@$DOMAIN")
expect_eq "GET /api/v1/registrations?impu=alice: her binding only" "1 udp:127.0.0.1:$PA" \
  "$(jq -r '"\(.total) \(.registrations[0].flow)"' <<<"$a")"
expect_eq "... an unprotected UE has no SA sets" 0 "$(jq -r '.registrations[0].sa | length' <<<"$a")"
expect_eq "GET /api/v1/registrations?impu=tel:+15550001 (an associated URI): alice's" "alice@$DOMAIN" \
  "$(field '.registrations[0].impi' "$(regs '?impu=tel:%2B15550001')")"
expect_eq "... impu and prefix both apply (alice's IMPU, bob's prefix: none)" 0 \
  "$(field .total "$(regs "?impu=sip:alice@$DOMAIN&prefix=bob")")"

echo "-- SIGKILL, then a restart on the same state file"
TOKEN_A=$(jq -r ".bindings[] | select(.impi == \"alice@$DOMAIN\") | .token" "$STATE")
kill -KILL "${PIDS[pcscf]}"
wait_exit pcscf 10
start_pcscf pcscf2 || { finish; exit 1; }
expect_match "the log says both bindings came back" "2 bindings restored from $STATE" "$(cat "$WORKDIR/pcscf2.log")"
b=$(regs "")
expect_eq "GET /api/v1/registrations shows both again (ordered by flow)" \
  "2 $(printf 'udp:127.0.0.1:%s\n' "$PA" "$PB" | sort | paste -sd' ')" \
  "$(jq -r '"\(.total) \([.registrations[].flow] | join(" "))"' <<<"$b")"
expect_match "... alice's registration has most of its 600 s left" '^(5[0-9][0-9]|600)$' \
  "$(jq -r ".registrations[] | select(.flow == \"udp:127.0.0.1:$PA\") | .expires" <<<"$b")"

echo "-- bob's MESSAGE reaches alice, neither registering again"
timeout 30 sipp -sf "$SCEN/message_uas.xml" -i 127.0.0.1 -p "$PA" -t u1 -m 1 -timeout 20s \
  -timeout_error -trace_msg -message_file "$WORKDIR/alice_msg.msg" >/dev/null 2>&1 &
UAS=$!
wait_for 5 port_bound udp "$PA" || fail "alice's handset listens on $PA"
printf 'SEQUENTIAL\nbob;sip:alice@%s;%s;text/plain;after the crash\n' "$DOMAIN" "$DOMAIN" >"$WORKDIR/msg.csv"
timeout 30 sipp -sf "$SCEN/message_uac.xml" -inf "$WORKDIR/msg.csv" -i 127.0.0.1 -p "$PB" -t u1 -m 1 \
  -timeout 20s -timeout_error "127.0.0.1:$PC_SIP" >/dev/null 2>&1
expect_eq "bob's MESSAGE gets its 200" 0 "$?"
wait "$UAS"
expect_eq "alice's handset got the MESSAGE and answered" 0 "$?"
expect_match "... with bob's text" '^after the crash' "$(cat "$WORKDIR/alice_msg.msg" 2>/dev/null)"
expect_match "the pcscf routed it on alice's restored Path token to her flow" \
  "pcscf: MESSAGE to sip:127.0.0.1:$PA;transport=udp, .+ of udp:127.0.0.1:$PA \(alice@" \
  "$(cat "$WORKDIR/pcscf2.log")"
expect_match "... the Path the S-CSCF holds for alice names the token the file kept" "<sip:term\\.$TOKEN_A@" \
  "$(jq -r '.contacts[].path' <<<"$(http_body "http://127.0.0.1:$SC_API/api/v1/registrations/sip:alice@$DOMAIN")")"

echo "-- a binding expired in the file is left out at start"
stop_prog pcscf2
expect_eq "pcscf exits 0 on SIGTERM" 0 "$LAST_EXIT"
jq --arg bob "bob@$DOMAIN" '(.bindings[] | select(.impi == $bob) | .expires_at) = 1' "$STATE" >"$STATE.edit" &&
  mv "$STATE.edit" "$STATE"
start_pcscf pcscf3 || { finish; exit 1; }
expect_match "the log counts it" "1 bindings restored from $STATE \(1 expired left out\)" "$(cat "$WORKDIR/pcscf3.log")"
expect_eq "only alice is back" "1 alice@$DOMAIN" "$(jq -r '"\(.total) \(.registrations[0].impi)"' <<<"$(regs "")")"

echo "-- a truncated state file goes aside, the pcscf starts empty"
stop_prog pcscf3
head -c 200 "$STATE" >"$WORKDIR/truncated.json"
cp "$WORKDIR/truncated.json" "$STATE"
start_pcscf pcscf4 || { finish; exit 1; }
expect_match "one clear log line" "error: pcscf: the state file $STATE is unusable \(line [0-9]+: .*\); moved aside to $STATE.bad, starting with no bindings" \
  "$(cat "$WORKDIR/pcscf4.log")"
expect_eq "the bad file is kept as <file>.bad, unchanged" "$(sha256sum <"$WORKDIR/truncated.json")" \
  "$(sha256sum <"$STATE.bad" 2>/dev/null)"
expect_eq "no bindings" 0 "$(jq -r .total <<<"$(regs "")")"
register alice abcdefghijklmnop "$PA"
expect_eq "alice registers again" 0 "$?"
wait_for 5 file_has "alice@$DOMAIN"
expect_eq "a new state file is written" "alice@$DOMAIN" "$(file_bindings)"

stop_clean pcscf4 scscf hss
finish
