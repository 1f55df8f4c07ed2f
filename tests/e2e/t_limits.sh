#!/usr/bin/env bash
# Bounded memory (issue 17): every table has a cap (limits.*, registrar.max_registrations) shown
# as cscf_table_{entries,capacity,refused_total}{table}; at the cap new work gets 503 with
# Retry-After, one warning per episode, and the table never grows past it. OPTIONS to the node
# hold no transaction. After a burst of transactions the pcscf's RSS comes back to within 20%
# of its level before.
# Under build/asan RSS says little (ASan's allocator keeps freed blocks in quarantine and its
# shadow memory): the same steps with smaller bursts, checked on the table metrics instead.
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
SCEN="$E2E_DIR/scenarios"
DOMAIN=ims.mnc001.mcc001.3gppnetwork.org
ASAN=0
case "$BUILD" in *asan*) ASAN=1 ;; esac

metric() { # PORT SERIES: its value, 0 when absent
  http_body "http://127.0.0.1:$1/metrics" | awk -v s="$2" '$1 == s {v = $2} END {print v + 0}'
}
metric_is() { [ "$(metric "$1" "$2")" = "$3" ]; } # PORT SERIES VALUE, for wait_for
metric_at_least() { awk -v a="$(metric "$1" "$2")" -v b="$3" 'BEGIN {exit !(a >= b)}'; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
table() { echo "cscf_table_$1{program=\"$2\",table=\"$3\"}"; } # KIND PROGRAM TABLE

# raw REGISTER without credentials through sipsend, which prints the whole answer
raw_register() { # USER
  local f="$WORKDIR/raw_$RANDOM.sip"
  printf 'REGISTER sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK%s\r\nMax-Forwards: 70\r\nFrom: <sip:%s@%s>;tag=1\r\nTo: <sip:%s@%s>\r\nCall-ID: %s@test\r\nCSeq: 1 REGISTER\r\nContact: <sip:%s@127.0.0.1:9>\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n' \
    "$DOMAIN" "$RANDOM$RANDOM" "$1" "$DOMAIN" "$1" "$DOMAIN" "$RANDOM$RANDOM" "$1" >"$f"
  SIPSEND_WHOLE=1 sipsend -u 127.0.0.1 "$SC_SIP" "$f" 5000 | tr -d '\r'
}

# sipp_load NAME SCENARIO PORT RATE COUNT: SIPp's exit status (0: every call as the scenario
# says) in $?
sipp_load() {
  local lport
  lport=$(free_port)
  timeout 120 sipp -sf "$SCEN/$2" -i 127.0.0.1 -p "$lport" -t u1 -r "$4" -m "$5" \
    -timeout 60s -timeout_error -trace_err -error_file "$WORKDIR/$1.err" \
    "127.0.0.1:$3" >/dev/null 2>&1
}

echo "-- scscf: registrar.max_registrations 1, limits.challenges 1"
start_hss hss || { finish; exit 1; }
SC_SIP=$(free_port) SC_API=$(free_port)
mapfile -t diam < <(scscf_diameter_env)
start_prog scscf "$BUILD/scscf" "$REPO_DIR/config/scscf.yaml" SCSCF_SIP_LISTEN="127.0.0.1:$SC_SIP" \
  SCSCF_API_LISTEN="127.0.0.1:$SC_API" SCSCF_REGISTRAR_MAX_REGISTRATIONS=1 \
  SCSCF_LIMITS_CHALLENGES=1 SCSCF_LIMITS_RETRY_AFTER_SECONDS=7 "${diam[@]}" || { finish; exit 1; }
wait_http "127.0.0.1:$SC_API" /readyz 200 10 || fail "scscf ready"
printf 'SEQUENTIAL\nalice;alice@%s;%s;[authentication username=alice@%s aka_K=abcdefghijklmnop aka_OP=ponmlkjihgfedcba];600;1\n' \
  "$DOMAIN" "$DOMAIN" "$DOMAIN" >"$WORKDIR/alice.csv"
port=$(free_port)
timeout 20 sipp -sf "$SCEN/register_aka.xml" -inf "$WORKDIR/alice.csv" -i 127.0.0.1 -p "$port" \
  -t u1 -m 1 -timeout 15s -timeout_error -auth_uri "$DOMAIN" "127.0.0.1:$SC_SIP" >/dev/null 2>&1
expect_eq "alice registers (the one registration the cap allows)" 0 "$?"
mars=$(metric "$SC_API" 'cscf_diameter_request_duration_seconds_count{program="scscf",command="MAR"}')
out=$(raw_register bob)
expect_match "bob's first REGISTER at the registrations cap gets 503" '^SIP/2.0 503 ' "$out"
expect_match "... with the configured Retry-After" '^Retry-After: 7$' "$out"
out=$(raw_register carol)
expect_match "an unknown IMPI at the cap gets 503 too" '^SIP/2.0 503 ' "$out"
expect_eq "... refused before any MAR (HSS untouched)" "$mars" \
  "$(metric "$SC_API" 'cscf_diameter_request_duration_seconds_count{program="scscf",command="MAR"}')"
out=$(raw_register alice)
expect_match "a registered IMPI is still challenged (401): the challenge fills limits.challenges" \
  '^SIP/2.0 401 ' "$out"
out=$(raw_register alice)
expect_match "the next challenge at limits.challenges 1 gets 503" '^SIP/2.0 503 ' "$out"
wait_for 5 metric_is "$SC_API" "$(table refused_total scscf registrations)" 2 ||
  true # the expect below reports the value
expect_eq "cscf_table_refused_total{registrations} counts both refusals" 2 \
  "$(metric "$SC_API" "$(table refused_total scscf registrations)")"
expect_eq "cscf_table_refused_total{challenges} counts one" 1 \
  "$(metric "$SC_API" "$(table refused_total scscf challenges)")"
expect_eq "cscf_table_capacity{registrations} is the cap" 1 \
  "$(metric "$SC_API" "$(table capacity scscf registrations)")"
expect_eq "cscf_table_entries{registrations}: nothing grew past it" 1 \
  "$(metric "$SC_API" "$(table entries scscf registrations)")"
expect_eq "the registrations cap warned once for the episode (two refusals)" 1 \
  "$(grep -c 'limits: registrations full' "$WORKDIR/scscf.log")"
stop_clean scscf hss

echo "-- pcscf: limits.transactions 100 (a temp config)"
cp "$REPO_DIR/config/pcscf.yaml" "$WORKDIR/pcscf.yaml"
printf 'limits:\n  transactions: 100\n  retry_after_seconds: 3\n' >>"$WORKDIR/pcscf.yaml"
PC_SIP=$(free_port) PC_API=$(free_port)
start_prog pcscf "$BUILD/pcscf" "$WORKDIR/pcscf.yaml" PCSCF_SIP_LISTEN="127.0.0.1:$PC_SIP" \
  PCSCF_API_LISTEN="127.0.0.1:$PC_API" PCSCF_LOG_LEVEL=warning || { finish; exit 1; }
n=300
[ "$ASAN" = 1 ] && n=200
# The answers kept as bytes (a MESSAGE's 403 over UDP, sip_answered.h) are a table of their own
# (at most limits.transactions, the oldest dropped first): they do not fill the cap.
sipp_load kept limits_message.xml "$PC_SIP" 200 300
expect_eq "300 MESSAGEs answered (403 kept as bytes, none refused)" "0 0" \
  "$? $(metric "$PC_API" "$(table refused_total pcscf transactions)")"
# INVITEs never ACKed: nta holds each 403's transaction for Timer H (the cap counts nta's
# transactions; a MESSAGE's 403 would be kept as bytes only, sip_answered.h).
sipp_load flood limits_invite.xml "$PC_SIP" 200 "$n" &
sp=$!
most=0
while kill -0 "$sp" 2>/dev/null; do # the gauge while the flood runs, not only after it
  v=$(metric "$PC_API" "$(table entries pcscf transactions)")
  [ "${v%.*}" -gt "$most" ] && most=${v%.*}
  sleep 0.2
done
wait "$sp"
expect_eq "every INVITE got 403 (its transaction held for Timer H) or 503 with Retry-After (SIPp)" 0 "$?"
v=$(metric "$PC_API" "$(table entries pcscf transactions)")
[ "${v%.*}" -gt "$most" ] && most=${v%.*}
expect_eq "nta's transactions never passed limits.transactions (cscf_table_entries, most seen <= 100)" 1 \
  "$([ "$most" -le 100 ] && [ "$most" -ge 90 ] && echo 1 || echo "0 (most $most)")"
metric_at_least "$PC_API" "$(table refused_total pcscf transactions)" $((n - 100))
expect_eq "cscf_table_refused_total{transactions} >= $((n - 100))" 0 "$?"
expect_eq "cscf_table_capacity{transactions} is 100" 100 \
  "$(metric "$PC_API" "$(table capacity pcscf transactions)")"
expect_eq "the transactions cap warned once" 1 \
  "$(grep -c 'limits: transactions full' "$WORKDIR/pcscf.log")"
sipp_load options options_200.xml "$PC_SIP" 10 3
expect_eq "OPTIONS to the node is answered 200 at the cap (no transaction needed)" 0 "$?"
stop_clean pcscf

echo "-- pcscf: limits.relays 10, a registrar that never answers"
SILENT=$(free_port)
python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
time.sleep(120)' "$SILENT" &
SILENT_PID=$!
wait_for 5 port_bound udp "$SILENT" || fail "the silent registrar listens on $SILENT"
PC_SIP=$(free_port) PC_API=$(free_port)
start_prog pcscf_relays "$BUILD/pcscf" "$REPO_DIR/config/pcscf.yaml" \
  PCSCF_SIP_LISTEN="127.0.0.1:$PC_SIP" PCSCF_API_LISTEN="127.0.0.1:$PC_API" \
  PCSCF_PCSCF_REGISTRAR="sip:127.0.0.1:$SILENT;transport=udp;lr" PCSCF_LIMITS_RELAYS=10 \
  PCSCF_LIMITS_T1X64_MS=4000 PCSCF_LOG_LEVEL=warning || { finish; exit 1; }
lport=$(free_port)
timeout 120 sipp -sf "$SCEN/limits_register.xml" -i 127.0.0.1 -p "$lport" -t u1 -r 50 -m 25 \
  -timeout 60s -trace_err -error_file "$WORKDIR/relays.err" -trace_screen \
  -screen_file "$WORKDIR/relays.screen" "127.0.0.1:$PC_SIP" >/dev/null 2>&1
# SIPp counts a call whose 503 never came (ontimeout) as failed: those are the relayed ones.
calls() { awk -F'|' -v k="$1" 'index($1, k) {v = $3} END {gsub(/[^0-9]/, "", v); print v + 0}' \
  "$WORKDIR/relays.screen"; }
expect_eq "REGISTERs past the cap got 503 with Retry-After at once (SIPp: 15 calls)" 15 "$(calls 'Successful call')"
expect_eq "... the 10 relayed up to the cap got no answer in 7 s (RFC 4320: no 408 to a non-INVITE)" \
  "10 10" "$(calls 'Failed call') $(grep -o 'receive timeout on message' "$WORKDIR/relays.err" | wc -l)"
expect_eq "... and nothing else (no unexpected message)" 0 \
  "$(grep -c -E 'Unexpected|Aborting' "$WORKDIR/relays.err")"
expect_eq "... the pcscf counted no 408 (nta sends none to a non-INVITE)" 0 \
  "$(metric "$PC_API" 'cscf_sip_responses_total{program="pcscf",code="408"}')"
expect_eq "cscf_table_capacity{relays} is 10" 10 "$(metric "$PC_API" "$(table capacity pcscf relays)")"
metric_at_least "$PC_API" "$(table refused_total pcscf relays)" 10
expect_eq "cscf_table_refused_total{relays} >= 10" 0 "$?"
expect_eq "the relays cap warned once" 1 "$(grep -c 'limits: relays full' "$WORKDIR/pcscf_relays.log")"
stop_clean pcscf_relays
kill "$SILENT_PID" 2>/dev/null
wait "$SILENT_PID" 2>/dev/null

echo "-- pcscf: RSS after bursts (limits.t1x64_ms 4000)"
cp "$REPO_DIR/config/pcscf.yaml" "$WORKDIR/pcscf2.yaml"
printf 'limits:\n  t1x64_ms: 4000\n' >>"$WORKDIR/pcscf2.yaml"
PC_SIP=$(free_port) PC_API=$(free_port)
start_prog pcscf2 "$BUILD/pcscf" "$WORKDIR/pcscf2.yaml" PCSCF_SIP_LISTEN="127.0.0.1:$PC_SIP" \
  PCSCF_API_LISTEN="127.0.0.1:$PC_API" PCSCF_LOG_LEVEL=warning || { finish; exit 1; }
pid=${PIDS[pcscf2]}
held='cscf_sip_transactions{program="pcscf",side="server"}'
trims='cscf_heap_trims_total{program="pcscf"}'
# ASan: more slowly, and enough held (> 2,000) for the trim (sip_core.c trim_check) to act
burst=10000 rate=2000
[ "$ASAN" = 1 ] && burst=4000 rate=800
# warm-up: every code path and the first heap arenas in use; the baseline is taken after it
sipp_load warm limits_message.xml "$PC_SIP" 200 200
expect_eq "warm-up MESSAGEs answered" 0 "$?"
wait_for 30 metric_is "$PC_API" "$held" 0
expect_eq "the warm-up's transactions end after Timer J (limits.t1x64_ms 4 s)" 0 "$?"
base=$(rss_kib "$pid")
sipp_load options options_bench.xml "$PC_SIP" "$rate" "$burst"
expect_eq "$burst OPTIONS to the node answered" 0 "$?"
after=$(rss_kib "$pid")
echo "  (RSS ${base} KiB before, ${after} KiB after $burst OPTIONS)"
if [ "$ASAN" = 1 ]; then
  expect_eq "OPTIONS left no server transaction" 0 "$(metric "$PC_API" "$held")"
else
  expect_eq "OPTIONS hold no state: RSS within 20% of before" 1 \
    "$(awk -v a="$after" -v b="$base" 'BEGIN {print (a <= 1.2 * b) ? 1 : 0}')"
fi
t0=$(metric "$PC_API" "$trims")
sipp_load burst limits_message.xml "$PC_SIP" "$rate" "$burst" &
sp=$!
peak=0
while kill -0 "$sp" 2>/dev/null; do
  r=$(rss_kib "$pid") && [ "$r" -gt "$peak" ] && peak=$r
  sleep 0.2
done
wait "$sp"
expect_eq "$burst MESSAGEs answered (403)" 0 "$?"
echo "  (RSS peak ${peak} KiB during the burst)"
back_within() { # 20% of the baseline, or (ASan) every transaction gone and the heap trimmed
  if [ "$ASAN" = 1 ]; then
    metric_is "$PC_API" "$held" 0 && metric_at_least "$PC_API" "$trims" $((${t0%.*} + 1))
  else
    [ "$(rss_kib "$pid")" -le $((base * 12 / 10)) ]
  fi
}
wait_for 40 back_within
expect_eq "after the burst RSS returns to within 20% of before (ASan: transactions 0, heap trimmed) within 40 s" \
  0 "$?"
echo "  (RSS $(rss_kib "$pid") KiB at the end)"
# cscf_heap_bytes: the allocator's own counts beside RSS (jemalloc in the plain build: also the
# pages it keeps and its metadata; glibc under ASan: allocated only).
heap() { metric "$PC_API" "cscf_heap_bytes{program=\"pcscf\",kind=\"$1\"}"; }
alloc=$(heap allocated)
[ "${alloc%.*}" -gt 0 ] && [ "${alloc%.*}" -lt $(($(rss_kib "$pid") * 1024)) ] &&
  pass "cscf_heap_bytes{allocated} is reported, under RSS (${alloc%.*} bytes)" ||
  fail "cscf_heap_bytes{allocated} is reported, under RSS" "${alloc:-none}"
if [ "$ASAN" = 0 ]; then
  meta=$(heap metadata) res=$(heap resident)
  [ "${meta%.*}" -gt 0 ] && [ "${res%.*}" -ge "${alloc%.*}" ] &&
    pass "jemalloc's metadata (${meta%.*}) and resident (${res%.*}) bytes are reported" ||
    fail "jemalloc's metadata and resident bytes are reported" "metadata ${meta:-none}, resident ${res:-none}"
fi
expect_eq "pcscf2 still answers OPTIONS" 0 "$(sipp_load end options_200.xml "$PC_SIP" 10 1; echo $?)"
stop_clean pcscf2

finish
