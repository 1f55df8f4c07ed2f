#!/usr/bin/env bash
# Retransmissions of answered non-INVITE requests over UDP (common/sip/sip_answered.h): nta ends
# such a transaction at its final response, and the pcscf keeps only the answer's bytes for
# 64*T1. A handset's retransmission within that time gets the same answer again and goes no
# further (RFC 3261 17.2.2: the S-CSCF sees one REGISTER, not two, and the challenge keeps its
# nonce); after it, the request is a new one. Over TCP nothing is kept (there are no
# retransmissions). Then the memory this saves: 2,000 answered REGISTERs held for
# retransmissions (64*T1 = 4 s here, so most of them) cost the pcscf about 1 KiB each, not the
# 12 KiB of nta's transactions.
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
DOMAIN=ims.mnc001.mcc001.3gppnetwork.org
ASAN=0
case "$BUILD" in *asan*) ASAN=1 ;; esac

msum() { # PORT SERIES-PREFIX: the sum of the series starting so
  http_body "http://127.0.0.1:$1/metrics" | awk -v s="$2" 'index($1, s) == 1 {v += $2} END {print v + 0}'
}
metric_at_least() { awk -v a="$(msum "$1" "$2")" -v b="$3" 'BEGIN {exit !(a >= b)}'; }

start_hss hss || { finish; exit 1; }
SC_SIP=$(free_port) SC_API=$(free_port) PC_SIP=$(free_port) PC_API=$(free_port)
mapfile -t diam < <(scscf_diameter_env)
start_prog scscf "$BUILD/scscf" "$REPO_DIR/config/scscf.yaml" SCSCF_SIP_LISTEN="127.0.0.1:$SC_SIP" \
  SCSCF_API_LISTEN="127.0.0.1:$SC_API" "${diam[@]}" || { finish; exit 1; }
start_prog pcscf "$BUILD/pcscf" "$REPO_DIR/config/pcscf.yaml" PCSCF_SIP_LISTEN="127.0.0.1:$PC_SIP" \
  PCSCF_API_LISTEN="127.0.0.1:$PC_API" PCSCF_LIMITS_T1X64_MS=4000 \
  PCSCF_PCSCF_REGISTRAR="sip:127.0.0.1:$SC_SIP;transport=tcp;lr" || { finish; exit 1; }
wait_http "127.0.0.1:$SC_API" /readyz 200 10 || fail "scscf ready"

# send.py PORT PROTO WAIT...: one REGISTER (no credentials) from one socket, sent again after
# each WAIT seconds with the same bytes (the same branch: a retransmission); prints each
# final answer's status and nonce, or "none".
cat >"$WORKDIR/send.py" <<'EOF'
import re, socket, sys, time
port, proto, waits = int(sys.argv[1]), sys.argv[2], [float(w) for w in sys.argv[3:]]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
s.connect(("127.0.0.1", port))
lport = s.getsockname()[1]
d = "ims.mnc001.mcc001.3gppnetwork.org"
req = ("REGISTER sip:%s SIP/2.0\r\nVia: SIP/2.0/%s 127.0.0.1:%d;rport;branch=z9hG4bKretx%d\r\n"
       "Max-Forwards: 70\r\nFrom: <sip:alice@%s>;tag=r1\r\nTo: <sip:alice@%s>\r\n"
       "Call-ID: retx%d@127.0.0.1\r\nCSeq: 1 REGISTER\r\nContact: <sip:alice@127.0.0.1:%d>\r\n"
       "Authorization: Digest username=\"alice@%s\", realm=\"%s\", nonce=\"\", uri=\"sip:%s\", response=\"\"\r\n"
       "Expires: 600\r\nContent-Length: 0\r\n\r\n") % (
    d, proto.upper(), lport, lport, d, d, lport, lport, d, d, d)
buf = b""
def final():
    global buf
    end = time.monotonic() + 3
    while time.monotonic() < end:
        m = re.search(rb"^SIP/2.0 (\d+)[^\r]*\r\n(.*?)\r\n\r\n", buf, re.S | re.M)
        if m:
            buf = buf[m.end():]
            if int(m.group(1)) >= 200:
                n = re.search(rb'nonce="([^"]*)"', m.group(2))
                return "%s %s" % (m.group(1).decode(), n.group(1).decode() if n else "-")
            continue
        s.settimeout(max(0.05, end - time.monotonic()))
        try:
            buf += s.recv(65536)
        except socket.timeout:
            pass
    return "none"
for w in [0] + waits:
    time.sleep(w)
    s.send(req.encode())
    print(final(), flush=True)
EOF

echo "-- a REGISTER over UDP, sent again 0.3 s after its answer, and again after 64*T1 (4 s)"
regs0=$(msum "$SC_API" 'cscf_sip_requests_total{program="scscf",method="REGISTER"}')
mapfile -t got < <(timeout 20 python3 "$WORKDIR/send.py" "$PC_SIP" udp 0.3 5.5)
expect_match "the first REGISTER is challenged through the scscf" '^401 [0-9a-zA-Z+/=]{20,}$' "${got[0]:-none}"
expect_eq "the retransmission gets the same answer, the same nonce" "${got[0]:-none}" "${got[1]:-none}"
expect_match "after 64*T1 the same request is a new one: a new challenge" '^401 ' "${got[2]:-none}"
[ "${got[2]:-}" != "${got[0]:-}" ] && pass "... with a new nonce" || fail "... with a new nonce" "${got[2]:-none}"
wait_for 5 metric_at_least "$SC_API" 'cscf_sip_requests_total{program="scscf",method="REGISTER"}' $((regs0 + 2))
expect_eq "the scscf saw two REGISTERs (the retransmission went no further)" $((regs0 + 2)) \
  "$(msum "$SC_API" 'cscf_sip_requests_total{program="scscf",method="REGISTER"}')"
wait_for 5 metric_at_least "$PC_API" 'cscf_sip_retransmissions_answered_total{program="pcscf"}' 1
expect_eq "the pcscf counts one retransmission answered again" 1 \
  "$(msum "$PC_API" 'cscf_sip_retransmissions_answered_total{program="pcscf"}')"

echo "-- the same over TCP: nothing kept, each copy is a request"
regs0=$(msum "$SC_API" 'cscf_sip_requests_total{program="scscf",method="REGISTER"}')
mapfile -t got < <(timeout 20 python3 "$WORKDIR/send.py" "$PC_SIP" tcp 0.3)
expect_match "over TCP the first REGISTER is challenged" '^401 ' "${got[0]:-none}"
expect_match "... and so is its copy" '^401 ' "${got[1]:-none}"
wait_for 5 metric_at_least "$SC_API" 'cscf_sip_requests_total{program="scscf",method="REGISTER"}' $((regs0 + 2))
expect_eq "... both reached the scscf" $((regs0 + 2)) \
  "$(msum "$SC_API" 'cscf_sip_requests_total{program="scscf",method="REGISTER"}')"
expect_eq "... the pcscf answered no retransmission from its table" 1 \
  "$(msum "$PC_API" 'cscf_sip_retransmissions_answered_total{program="pcscf"}')"

echo "-- memory: 2,000 answered REGISTERs kept for retransmissions"
n=2000
[ "$ASAN" = 1 ] && n=300
wait_for 10 eval '[ "$(msum "$PC_API" "cscf_sip_transactions{program=\"pcscf\"")" = 0 ]'
rss0=$(awk '/^VmRSS:/ {print $2}' "/proc/${PIDS[pcscf]}/status")
cat >"$WORKDIR/burst.py" <<'EOF'
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
lport = s.getsockname()[1]
d = "ims.mnc001.mcc001.3gppnetwork.org"
s.settimeout(0.001)
answered = 0
for i in range(n):
    s.sendto(("REGISTER sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;rport;branch=z9hG4bKb%d\r\n"
              "Max-Forwards: 70\r\nFrom: <sip:u%d@%s>;tag=b\r\nTo: <sip:u%d@%s>\r\nCall-ID: b%d@t\r\n"
              "CSeq: 1 REGISTER\r\nContact: <sip:u%d@127.0.0.1:%d>\r\nExpires: 600\r\n"
              "Content-Length: 0\r\n\r\n" % (d, lport, i, i, d, i, d, i, i, lport)).encode(),
             ("127.0.0.1", port))
    if i % 50 == 49:
        time.sleep(0.02)
    try:
        while True:
            s.recv(65536); answered += 1
    except socket.timeout:
        pass
end = time.monotonic() + 10
s.settimeout(0.2)
while answered < n and time.monotonic() < end:
    try:
        s.recv(65536); answered += 1
    except socket.timeout:
        pass
print(answered)
EOF
answered=$(timeout 30 python3 "$WORKDIR/burst.py" "$PC_SIP" "$n")
expect_eq "all $n REGISTERs answered" "$n" "$answered"
held=$(msum "$PC_API" 'cscf_sip_transactions{program="pcscf",side="server"')
awk -v h="$held" -v n="$n" 'BEGIN {exit !(h >= 0.5 * n)}' &&
  pass "the pcscf holds them for retransmissions ($held server transactions)" ||
  fail "the pcscf holds them for retransmissions" "$held of $n"
if [ "$ASAN" = 0 ]; then
  rss1=$(awk '/^VmRSS:/ {print $2}' "/proc/${PIDS[pcscf]}/status")
  per=$(awk -v a="$rss1" -v b="$rss0" -v n="$held" 'BEGIN {printf "%.1f", n ? (a - b) / n : 0}')
  awk -v p="$per" 'BEGIN {exit !(p < 4)}' &&
    pass "... at $per KiB of RSS each (nta's completed transactions: about 12 KiB)" ||
    fail "... at under 4 KiB of RSS each" "$per KiB ($rss0 -> $rss1 KiB for $held)"
fi
wait_for 10 eval '[ "$(msum "$PC_API" "cscf_sip_transactions{program=\"pcscf\",side=\"server\"")" = 0 ]'
expect_eq "after 64*T1 they are gone" 0 "$(msum "$PC_API" 'cscf_sip_transactions{program="pcscf",side="server"')"

stop_clean pcscf scscf hss
finish
