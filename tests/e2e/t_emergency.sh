#!/usr/bin/env bash
# Emergency calls at the P-CSCF (TS 24.229 5.2.10, RFC 5031; cscf/pcscf/emergency.h): an
# emergency INVITE (urn:service:sos, and a dialled 112 as tel:112) from a registered UE and from an
# unregistered one reaches the E-CSCF (a SIPp stand-in) while the pcscf sheds load: admission
# refuses the ordinary INVITEs queued with them (503), never the emergency ones.
# Load is made cheaply: the pcscf is stopped (SIGSTOP) while ordinary INVITEs and then the
# emergency calls queue on its UDP socket, then let run 5 ms in every 100 ms for half a second
# (SIGCONT, SIGSTOP: as a CPU quota throttles a container) and continued. The age of the queue
# is its loop lag (admission.h), and it stays far over admission.target_ms from one run to the
# next (a standing queue, not one stall that drains at once), so new ordinary requests are
# shed. Not longer: the E-CSCF's answers queue behind the backlog too, and a pcscf throttled
# for 2 s (under ASan, in CI) sent the INVITEs again (Timer A), which the SIPp E-CSCF takes
# for a new call after its 200.
# Then the 380 Alternative Service answers (TS 24.229 7.6 XML body) through config reloads:
# emergency.allow_unregistered false, then no emergency.ecscf_uri.
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
SCEN="$E2E_DIR/scenarios"
DOMAIN=ims.mnc001.mcc001.3gppnetwork.org
TOKEN=em3rg
NORMAL=600 # ordinary INVITEs queued ahead of the emergency calls

PC_SIP=$(free_port) PC_API=$(free_port) REG=$(free_port) ECSCF=$(free_port) PA=$(free_port) PU=$(free_port)
PC="http://127.0.0.1:$PC_API"
metric() { # NAME-AND-LABELS-REGEX: sum of the pcscf's matching series
  http_body "$PC/metrics" | awk -v re="^$1" '$0 ~ re {n += $NF} END {print n + 0}'
}
reload() { curl -s -m 5 -X POST -H "Authorization: Bearer $TOKEN" "$PC/api/v1/reload"; }
CONF="$WORKDIR/pcscf.yaml"
conf() { # ECSCF_URI ALLOW_UNREGISTERED: the pcscf's config file with these emergency keys
  cp "$REPO_DIR/config/pcscf.yaml" "$CONF"
  printf 'emergency:\n  ecscf_uri: "%s"\n  allow_unregistered: %s\n  numbers: ["112", "911", "110=police"]\n' \
    "$1" "$2" >>"$CONF"
}
conf "sip:127.0.0.1:$ECSCF" true

timeout 20 sipp -sf "$SCEN/register_uas.xml" -i 127.0.0.1 -p "$REG" -m 1 -timeout 15s -timeout_error \
  >/dev/null 2>&1 &
REG_PID=$!
timeout 40 sipp -sf "$SCEN/call_uas.xml" -i 127.0.0.1 -p "$ECSCF" -m 4 -timeout 35s -timeout_error \
  -trace_msg -message_file "$WORKDIR/ecscf.msg" -trace_err -error_file "$WORKDIR/ecscf.err" >/dev/null 2>&1 &
ECSCF_PID=$!
start_prog pcscf "$BUILD/pcscf" "$CONF" PCSCF_SIP_LISTEN="127.0.0.1:$PC_SIP" PCSCF_API_LISTEN="127.0.0.1:$PC_API" \
  PCSCF_API_TOKEN=$TOKEN PCSCF_PCSCF_REGISTRAR="sip:127.0.0.1:$REG;lr" PCSCF_ADMISSION_TARGET_MS=20 ||
  { finish; exit 1; }
wait_for 5 port_bound udp "$ECSCF" || fail "the E-CSCF stand-in listens on $ECSCF"

echo "-- alice registers (a registrar stand-in); the other UE does not"
timeout 20 sipp -sf "$SCEN/register_ue_plain.xml" -i 127.0.0.1 -p "$PA" -m 1 -timeout 15s \
  -timeout_error "127.0.0.1:$PC_SIP" >/dev/null 2>&1
expect_eq "alice registers through the pcscf" 0 "$?"
wait "$REG_PID"
expect_eq "... one binding at the pcscf" "udp:127.0.0.1:$PA" \
  "$(http_body "$PC/api/v1/registrations" | jq -r '.registrations[0].flow // empty')"

# The ordinary INVITEs: from one socket of an unregistered UE, each final answer ACKed and
# counted by status; SENT appears in the output once all are sent.
cat >"$WORKDIR/flood.py" <<'EOF'
import socket, sys, time
host, port, n, domain = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
lp = s.getsockname()[1]
def invite(i):
    return ("INVITE sip:bob@%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKfl%d\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:carol@%s>;tag=f%d\r\nTo: <sip:bob@%s>\r\n"
            "Call-ID: flood%d@em\r\nCSeq: 1 INVITE\r\nContact: <sip:carol@127.0.0.1:%d>\r\n"
            "Content-Length: 0\r\n\r\n" % (domain, lp, i, domain, i, domain, i, lp)).encode()
for i in range(n):
    s.sendto(invite(i), (host, port))
print("SENT", flush=True)
codes, done, end = {}, set(), time.time() + 25
s.settimeout(0.5)
while len(done) < n and time.time() < end:
    try:
        data = s.recv(65535).decode(errors="replace")
    except socket.timeout:
        continue
    head, _, _ = data.partition("\r\n\r\n")
    lines = head.split("\r\n")
    code = int(lines[0].split()[1])
    h = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        h.setdefault(k.strip().lower(), v.strip())
    if code < 200:
        continue
    ack = ("ACK sip:bob@%s SIP/2.0\r\nVia: %s\r\nMax-Forwards: 70\r\nFrom: %s\r\nTo: %s\r\n"
           "Call-ID: %s\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
           % (domain, h["via"], h["from"], h["to"], h["call-id"])).encode()
    s.sendto(ack, (host, port))
    if h["call-id"] not in done:
        done.add(h["call-id"])
        codes[code] = codes.get(code, 0) + 1
for c in sorted(codes):
    print(c, codes[c], flush=True)
EOF
# emergency_calls NAME PORT: two calls from that port, to urn:service:sos and to tel:112
# (call_uac.xml; field 0 the caller, 1 the Request-URI), in the background (PID in $!).
emergency_calls() {
  printf 'SEQUENTIAL\nalice;urn:service:sos;%s\nalice;tel:112;%s\n' "$DOMAIN" "$DOMAIN" >"$WORKDIR/$1.csv"
  timeout 40 sipp -sf "$SCEN/call_uac.xml" -inf "$WORKDIR/$1.csv" -i 127.0.0.1 -p "$2" -m 2 -l 2 -r 100 \
    -timeout 35s -timeout_error -trace_msg -message_file "$WORKDIR/$1.msg" \
    -trace_err -error_file "$WORKDIR/$1.err" "127.0.0.1:$PC_SIP" >/dev/null 2>&1 &
}
invites_sent() {
  local n
  n=$(grep -c '^INVITE ' "$WORKDIR/$1.msg" 2>/dev/null)
  [ "${n:-0}" -ge 2 ]
}

echo "-- the pcscf stalls while $NORMAL ordinary INVITEs and then 4 emergency calls queue up, then runs throttled"
shed0=$(metric 'cscf_admission_shed_total\{.*class="initial",reason="lag"')
kill -STOP "${PIDS[pcscf]}"
/usr/bin/python3 "$WORKDIR/flood.py" 127.0.0.1 "$PC_SIP" "$NORMAL" "$DOMAIN" >"$WORKDIR/flood.out" 2>&1 &
FLOOD_PID=$!
wait_for 10 grep -q SENT "$WORKDIR/flood.out" || fail "the ordinary INVITEs are sent"
emergency_calls reg "$PA"
REG_CALLS=$!
emergency_calls unreg "$PU"
UNREG_CALLS=$!
wait_for 10 invites_sent reg && wait_for 10 invites_sent unreg ||
  fail "the emergency INVITEs are sent" "$(grep -c '^INVITE ' "$WORKDIR"/{reg,unreg}.msg 2>/dev/null | tr '\n' ' ')"
for i in $(seq 5); do
  kill -CONT "${PIDS[pcscf]}"
  sleep 0.005
  kill -STOP "${PIDS[pcscf]}"
  sleep 0.1
done
kill -CONT "${PIDS[pcscf]}"

wait "$REG_CALLS"
expect_eq "alice (registered): her urn:service:sos and tel:112 calls are answered and ended (200, ACK, BYE)" 0 "$?"
wait "$UNREG_CALLS"
expect_eq "an unregistered UE: the same two calls complete" 0 "$?"
wait "$FLOOD_PID"
refused=$(awk '$1 == 503 {print $2}' "$WORKDIR/flood.out")
[ "${refused:-0}" -gt 0 ] && pass "meanwhile the pcscf shed ordinary INVITEs: ${refused} of $NORMAL got 503" ||
  fail "meanwhile the pcscf shed ordinary INVITEs (503)" "$(tr '\n' ' ' <"$WORKDIR/flood.out")"
shed=$(($(metric 'cscf_admission_shed_total\{.*class="initial",reason="lag"') - shed0))
[ "$shed" -gt 0 ] && pass "... counted as shed for lag (cscf_admission_shed_total{initial,lag} +$shed)" ||
  fail "... counted as shed for lag" "+$shed"
n=$(metric 'cscf_admission_admitted_total\{.*class="emergency"')
[ "$n" -ge 4 ] && pass "admission classed the 4 emergency INVITEs as emergency and admitted them ($n)" ||
  fail "admission classed the 4 emergency INVITEs as emergency and admitted them" "$n"
wait "$ECSCF_PID"
expect_eq "the E-CSCF stand-in took all 4 calls" 0 "$?"

echo "-- what reached the E-CSCF"
invites=$(tr -d '\r' <"$WORKDIR/ecscf.msg" | sed -n '/^INVITE /,/^$/p')
expect_eq "4 INVITEs, each to urn:service:sos (tel:112 rewritten to the service URN)" 4 \
  "$(grep -c '^INVITE urn:service:sos SIP/2.0$' <<<"$invites")"
expect_eq "... each with Resource-Priority: esnet.1 (RFC 7135)" 4 "$(grep -c '^Resource-Priority: esnet\.1$' <<<"$invites")"
expect_eq "... each with a P-Charging-Vector" 4 "$(grep -Ec '^P-Charging-Vector: icid-value=[0-9a-f]{32}' <<<"$invites")"
expect_eq "... the E-CSCF as the only Route, and the pcscf's Record-Route" "4 4 4" \
  "$(grep -c "^Route: <sip:127.0.0.1:$ECSCF;lr>\$" <<<"$invites") $(grep -c '^Route:' <<<"$invites") $(grep -c "^Record-Route: <sip:127.0.0.1:$PC_SIP;lr>" <<<"$invites")"
expect_eq "alice's two are asserted as her (her own P-Asserted-Identity dropped), the others not at all" \
  "2 0" "$(grep -c "^P-Asserted-Identity: <sip:alice@$DOMAIN>$" <<<"$invites") $(grep -c 'mallory' <<<"$invites")"
expect_eq "metrics: 2 routed from a registered UE, 2 from an unregistered one" "2 2" \
  "$(metric 'cscf_emergency_requests_total\{.*result="routed_registered"') $(metric 'cscf_emergency_requests_total\{.*result="routed_unregistered"')"

echo "-- 380 Alternative Service (TS 24.229 5.2.10, 7.6)"
invite_112() { # a lone emergency INVITE from an unregistered port: the whole answer
  local f="$WORKDIR/e$RANDOM.sip"
  printf 'INVITE tel:112 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK%s\r\nMax-Forwards: 70\r\nFrom: <sip:anonymous@anonymous.invalid>;tag=%s\r\nTo: <tel:112>\r\nCall-ID: %s@em\r\nCSeq: 1 INVITE\r\nContact: <sip:u@127.0.0.1:9>\r\nContent-Length: 0\r\n\r\n' \
    "$RANDOM$RANDOM" "$RANDOM" "$RANDOM$RANDOM" >"$f"
  SIPSEND_WHOLE=1 sipsend -u 127.0.0.1 "$PC_SIP" "$f" 3000 | tr -d '\r'
}
conf "sip:127.0.0.1:$ECSCF" false
expect_match "a reload applies emergency.allow_unregistered" '"emergency.allow_unregistered"' "$(reload | jq -c .applied)"
ans=$(invite_112)
expect_match "allow_unregistered false: an unregistered UE's 112 gets 380" '^SIP/2.0 380 ' "$ans"
expect_match "... with the 3GPP IM CN subsystem XML body" '^Content-Type: application/3gpp-ims\+xml' "$ans"
expect_match "... type emergency" '<type>emergency</type>' "$ans"
expect_match "... action emergency-registration" '<action>emergency-registration</action>' "$ans"
conf "" true
expect_match "a reload applies an empty emergency.ecscf_uri" '"emergency.ecscf_uri"' "$(reload | jq -c .applied)"
ans=$(invite_112)
expect_match "no E-CSCF: 380" '^SIP/2.0 380 ' "$ans"
expect_match "... type emergency" '<type>emergency</type>' "$ans"
expect_no_match "... and no action (the UE tries another domain)" '<action>' "$ans"
expect_eq "metrics: the two 380s" 2 "$(metric 'cscf_emergency_requests_total\{.*result="alternative_service"')"

stop_clean pcscf
finish
