#!/usr/bin/env bash
# e2e: plain (make test runs it first, alone beside the nice-19 background: scripts/test-plain.sh)
# Overload: admission control (common/sip/admission.h) at the pcscf under a call flood.
# A handset (alice) calls another (bob) through pcscf -> scscf -> pcscf (TCP between the CSCFs):
# INVITE, 180, 200, ACK, BYE, 200 (SIPp; tests/e2e/scenarios/flood_call_uac.xml logs each call
# as completed, refused, or lost with its Call-ID and the answer it waited for).
# 1. capacity, measured in this run: 3 s steps at rising rates up to the first one with a
#    refused or failed call; then the last clean rate again for 8 s, one step lower each time
#    it is not served cleanly: C is the highest rate served cleanly for 8 s (a 3 s step is
#    partly carried by the sockets' buffers: 1,600/s passed for 3 s and not for 8 s);
# 2. a flood at 2 x C for FLOOD_SECONDS (60 s; 20 s under build/asan): the calls admission lets
#    in complete (> 99%), the refused ones get 503 with a Retry-After, at least half of C is still
#    served (no collapse), OPTIONS to the node and /healthz keep answering throughout, no
#    process dies, RSS stays under a cap and levels off, neither CSCF loses a message on a full
#    connection send queue; per hop, the datagrams the kernel
#    dropped (alice, pcscf, bob) and the malformed messages counted are printed;
# 3. then normal load (C / 8 for 12 s): the lag is back under the target within 10 s, no admitted call
#    fails and calls started 10 s after the flood are served (>= 80%: the machine's other load
#    may still stall the pcscf now and then);
# 4. a per-flow limit set by a reload: one flow sending too fast is held to its bucket (503 with
#    Retry-After), another flow from the same address is not, and the REST view names the flow;
# 5. memory: within 60 s of the flood's end the pcscf's RSS is back within 20% of its level
#    just before the flood, read after 35 s at the flood's rate once their transactions have
#    expired (nta keeps an answered INVITE's server transaction 5 s, T4, a UDP BYE's answer is
#    kept 32 s, then the heap is trimmed). That is the level of a process that has seen a peak: the allocator's metadata
#    for the pages a peak maps stays (jemalloc: about 2% of the peak) and so does some of its
#    fragmentation, so the level before any load is printed beside it but is not the
#    reference. Plain build only (ASan's allocator keeps freed memory in its quarantine).
# FLOOD_PCAP=N captures the flood's first N s on loopback (by hand, to follow lost calls).
# Bounded: every SIPp run has -timeout/-recv_timeout and a timeout(1) around it.
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
SCEN="$E2E_DIR/scenarios"
DOMAIN=ims.mnc001.mcc001.3gppnetwork.org
TOKEN=flood-$RANDOM
case $BUILD in
*asan*) ASAN=1 ;;
*) ASAN=0 ;;
esac
# Sanitizer builds are several times slower: a shorter flood and a lower probe, the same checks.
FLOOD_SECONDS=${FLOOD_SECONDS:-$([ $ASAN = 1 ] && echo 20 || echo 60)}
PROBE_SECONDS=3
HOLD_SECONDS=${FLOOD_HOLD_SECONDS:-8}
PROBE_RATES=${FLOOD_PROBE_RATES:-$([ $ASAN = 1 ] && echo "40 60 90 135 200 300 450" || echo "300 600 1000 1300 1600 2000")}
MAX_RATE=${FLOOD_MAX_RATE:-3000}  # what one SIPp UAC offers at most
RSS_CAP_MB=${FLOOD_RSS_CAP_MB:-1536} # per process, during the flood
# Normal load: C / 8 for 12 s (calls from 10 s after the flood on are checked). Each call leaves
# its BYE's answer kept for retransmissions for 64*T1 (32 s), a few KiB of heap with the pages
# it pins: at C / 4 for 15 s the memory check below passed only once those expired, 48-55 s
# after the flood, close to its 60 s.
NORMAL_SECONDS=12
# at the flood's rate, before the level the memory check compares with: long enough for the
# heap to reach the flood's own plateau, which the UDP BYEs' answers kept 64*T1 (32 s) set; a
# 6 s warm-up (nta's T4) left the peak of a flood at 2,000 calls/s admitted 3 times higher
# (900 MiB), and jemalloc's metadata for it (9 -> 14 MiB) alone put a 24 MiB process 25% over
WARMUP_SECONDS=$([ $ASAN = 1 ] && echo 6 || echo 35) # under ASan RSS is not checked (below)
TARGET_MS=100 # admission.target_ms: the default
field() { jq -r "$1 // empty" <<<"$2"; }

# heap_line: the pcscf's RSS and heap by kind (cscf_heap_bytes, MiB) and what it holds, from one
# read of its metrics: sampler.log, memory.log (by hand: how the memory comes back) and the
# memory check's lines.
heap_line() {
  http_body "$PC/metrics" | awk -v t=$SECONDS -v rss="$(rss_mb pcscf)" '
    /^cscf_heap_bytes/ {k = $1; sub(/.*kind="/, "", k); sub(/".*/, "", k); h = h " " k " " int($NF / 1048576)}
    /^cscf_sip_transactions\{/ {x += $NF} /^cscf_dialogs_active/ {d = $NF}
    /^cscf_table_entries.*"relays"/ {r = $NF} /^cscf_table_entries.*"transactions"/ {n = $NF}
    END {print "heap", t, "rss", rss h, "transactions", x + 0, "(nta", n + 0, "kept answers", x - n ")", "dialogs", d + 0, "relays", r + 0}'
}
# Logs at info: at debug (E2E_LOG_LEVEL) a flood writes gigabytes.
cp "$REPO_DIR/config/pcscf.yaml" "$WORKDIR/pcscf.yaml"
start_hss hss HSS_LOG_LEVEL=info || { finish; exit 1; }
SC_SIP=$(free_port) SC_API=$(free_port) PC_SIP=$(free_port) PC_API=$(free_port)
mapfile -t diam < <(scscf_diameter_env)
start_prog scscf "$BUILD/scscf" "$REPO_DIR/config/scscf.yaml" SCSCF_SIP_LISTEN="127.0.0.1:$SC_SIP" \
  SCSCF_API_LISTEN="127.0.0.1:$SC_API" SCSCF_LOG_LEVEL=info "${diam[@]}" || { finish; exit 1; }
start_prog pcscf "$BUILD/pcscf" "$WORKDIR/pcscf.yaml" PCSCF_SIP_LISTEN="127.0.0.1:$PC_SIP" \
  PCSCF_API_LISTEN="127.0.0.1:$PC_API" PCSCF_API_TOKEN=$TOKEN PCSCF_LOG_LEVEL=info \
  PCSCF_PCSCF_REGISTRAR="sip:127.0.0.1:$SC_SIP;transport=tcp;lr" || { finish; exit 1; }
wait_http "127.0.0.1:$SC_API" /readyz 200 10 || fail "scscf ready"
PC="http://127.0.0.1:$PC_API"

# register USER K PORT INSTANCE: AKA registration through the pcscf from PORT.
register() {
  printf 'SEQUENTIAL\n%s;%s@%s;%s;[authentication username=%s@%s aka_K=%s aka_OP=ponmlkjihgfedcba];600;%s\n' \
    "$1" "$1" "$DOMAIN" "$DOMAIN" "$1" "$DOMAIN" "$2" "$4" >"$WORKDIR/reg_$1.csv"
  timeout 20 sipp -sf "$SCEN/register_aka.xml" -inf "$WORKDIR/reg_$1.csv" -i 127.0.0.1 -p "$3" \
    -t u1 -m 1 -timeout 15s -timeout_error -auth_uri "$DOMAIN" "127.0.0.1:$PC_SIP" >"$WORKDIR/reg_$1.out" 2>&1
}
PA=$(free_port) PB=$(free_port) PO=$(free_port) PX=$(free_port) PY=$(free_port)
echo "-- alice and bob register"
register alice abcdefghijklmnop "$PA" 1
expect_eq "alice registers (AKA) from 127.0.0.1:$PA" 0 "$?"
register bob bobbobbobbobbob1 "$PB" 2
expect_eq "bob registers (AKA) from 127.0.0.1:$PB" 0 "$?"
# Admission's classes for REGISTER (common/sip/admission.h): a new UE's first REGISTER is an
# initial one, its answer to the 401 is admitted work (the challenge's MAR is spent), and a
# registered UE's REGISTER from its own flow is a known UE's; in each CSCF.
admitted() { # API: "initial_register known admitted" as admitted so far
  http_body "http://127.0.0.1:$1/api/v1/admission" |
    jq -r '.classes | "\(.initial_register.admitted) \(.known.admitted) \(.admitted.admitted)"'
}
expect_eq "pcscf: two initial REGISTERs, two answers to a challenge admitted" "2 0 2" "$(admitted "$PC_API")"
# (the scscf also admits the pcscf's reg-event SUBSCRIBEs as admitted work: not counted here)
expect_eq "scscf: two initial REGISTERs" "2 0" "$(admitted "$SC_API" | cut -d' ' -f1,2)"
register alice abcdefghijklmnop "$PA" 1
expect_eq "alice registers again from 127.0.0.1:$PA" 0 "$?"
expect_eq "pcscf: her REGISTER from her flow is a known UE's, her answer admitted work" "2 1 3" "$(admitted "$PC_API")"
expect_eq "scscf: her REGISTER is a known IMPI's" "2 1" "$(admitted "$SC_API" | cut -d' ' -f1,2)"
printf 'SEQUENTIAL\nalice;sip:bob@%s;%s\n' "$DOMAIN" "$DOMAIN" >"$WORKDIR/call.csv"

# bob answers every call for the whole test (killed at the end).
(cd "$WORKDIR" && exec timeout 600 sipp -sf "$SCEN/bench_call_uas.xml" -i 127.0.0.1 -p "$PB" -t u1 \
  -buff_size 4194304 -timeout 590s -trace_stat -fd 1 -stf "$WORKDIR/bob_stat.csv" >/dev/null 2>&1 </dev/null) &
PIDS[uas]=$!
wait_for 10 port_bound udp "$PB" || fail "bob's handset (SIPp) listens on $PB"

# calls NAME RATE SECONDS: alice calls bob at RATE/s for SECONDS (from her registered flow). Sets
# OK REFUSED (lines in the log), BAD_RA (refusals without a Retry-After) and LOST (planned
# calls neither completed nor refused: another answer, or none within 10 s).
calls() {
  local name=$1 rate=$2 secs=$3 dir="$WORKDIR/$1" planned=$(($2 * $3))
  mkdir -p "$dir"
  local d0
  d0=$(hop_drops)
  (cd "$dir" && timeout $((secs + 60)) sipp -sf "$SCEN/flood_call_uac.xml" -inf "$WORKDIR/call.csv" \
    -i 127.0.0.1 -p "$PA" -t u1 -buff_size 4194304 -r "$rate" -m "$planned" -l $((rate * 4 + 100)) \
    -recv_timeout 10s -timeout $((secs + 40))s -trace_logs -trace_err -trace_screen -screen_file "$dir/screen" \
    "127.0.0.1:$PC_SIP" >/dev/null 2>&1 </dev/null)
  cat "$dir"/flood_call_uac_*_logs.log >"$dir/calls.log" 2>/dev/null
  OK=$(grep -c '^ok ' "$dir/calls.log")
  REFUSED=$(grep -c '^refused ' "$dir/calls.log")
  BAD_RA=$(grep '^refused ' "$dir/calls.log" | grep -cvE 'ra=[0-9]+$')
  LOST=$((planned - OK - REFUSED))
  echo "   $name: $rate/s for $secs s: $OK completed, $REFUSED refused, $LOST failed"
  local a b c x y z
  read -r a b c <<<"$d0"
  read -r x y z <<<"$(hop_drops)"
  DROPS="alice $((x - a)), pcscf $((y - b)), bob $((z - c))"
  [ "$LOST" = 0 ] || echo "     lost calls by stage: $(awk '$1 == "lost" {n[$5 ~ /=1/ ? "ringing" : $3]++} END {for (k in n) printf "%s %d ", k, n[k]}' "$dir/calls.log"); UDP receive drops: $DROPS"
}
adm() { http_body "$PC/api/v1/admission" "$@"; }
# udp_drops PORT: datagrams the kernel dropped on full receive buffers of the UDP sockets bound
# to PORT (/proc/net/udp's last column); hop_drops: those of alice's, the pcscf's and bob's.
udp_drops() {
  awk -v p="$(printf '%04X' "$1")" 'NR > 1 {split($2, a, ":"); if (a[2] == p) n += $NF} END {print n + 0}' /proc/net/udp
}
hop_drops() { echo "$(udp_drops "$PA") $(udp_drops "$PC_SIP") $(udp_drops "$PB")"; }
metric() { # NAME-AND-LABELS-REGEX [API]: sum of the pcscf's (or API's) matching series
  http_body "${2:-$PC}/metrics" | awk -v re="^$1" '$0 ~ re {n += $NF} END {print n + 0}'
}
rss_mb() { # NAME [FIELD]: VmRSS (or RssAnon, RssFile) in MiB
  awk -v f="${2:-VmRSS}:" '$1 == f {printf "%d", $2 / 1024}' "/proc/${PIDS[$1]}/status" 2>/dev/null || echo 0
}

RSS0=$(rss_mb pcscf) ANON0=$(rss_mb pcscf RssAnon) FILE0=$(rss_mb pcscf RssFile)
echo "-- capacity: rising rates, $PROBE_SECONDS s each, up to the first step admission refuses calls in"
clean() { [ "$REFUSED" -eq 0 ] && [ "$LOST" -eq 0 ]; }
CAP=0
read -ra rates <<<"$PROBE_RATES"
last=-1
for ((i = 0; i < ${#rates[@]}; i++)); do
  calls "probe_${rates[i]}" "${rates[i]}" "$PROBE_SECONDS"
  clean || break
  last=$i
done
echo "-- capacity held: the last clean rate again for $HOLD_SECONDS s, one step lower until it is served cleanly"
for ((i = last; i >= 0 && i > last - 3; i--)); do
  calls "hold_${rates[i]}" "${rates[i]}" "$HOLD_SECONDS"
  clean && CAP=$((OK / HOLD_SECONDS)) && break
done
[ "$CAP" -ge 20 ] && pass "capacity measured: $CAP calls/s" ||
  fail "capacity measured" "only $CAP calls/s completed"
[ "$CAP" -ge 20 ] || CAP=20
FLOOD=$((CAP * 2))
[ "$FLOOD" -le "$MAX_RATE" ] || FLOOD=$MAX_RATE
# The level before the flood is that of a process which has seen such a peak: WARMUP_SECONDS at
# the flood's rate first, long enough for the heap to fill to the flood's own level (nta holds
# the answered INVITEs' transactions T4, 5 s, and the UDP BYEs' answers are kept 32 s: 126,000
# transactions, 890 MiB, at 2,300 calls/s admitted); what those calls do is not checked. jemalloc keeps its metadata for the pages
# a peak mapped (4 -> 8 MiB at 380 MiB) and part of the slabs it spread objects over (2 -> 4-5
# MiB active for 2-3 MiB allocated): measured against a process that had carried only a lighter
# probe, that fixed residue alone was 26-33% of an 18 MiB process (a CI probe of 600 calls/s;
# the flood then served 1,200/s), and a 3 s step left half of it. What the check below still
# catches is memory that grows with the flood's length: the flood is ten times longer.
calls warmup "$FLOOD" "$WARMUP_SECONDS"
# The probe measures a process that has not carried such a load yet (its heap growing, its pages
# faulting in): on a fast host a warm one then served twice that capacity without refusing a
# call (a clean clone of fda95cd: capacity 1,000, then 120,000 of 120,000 at 2,000/s), and a
# flood that refuses nothing tests no overload. So when 3 s at the flood's rate after the
# warm-up refuse none, the rate goes up by half (at most MAX_RATE) and the warm-up runs again at
# it, once.
calls warm_check "$FLOOD" 3
if [ "$REFUSED" -eq 0 ] && [ "$FLOOD" -lt "$MAX_RATE" ]; then
  FLOOD=$((FLOOD * 3 / 2))
  [ "$FLOOD" -le "$MAX_RATE" ] || FLOOD=$MAX_RATE
  echo "   the warm process served it all: the flood's rate raised to $FLOOD calls/s"
  calls warmup_2 "$FLOOD" "$WARMUP_SECONDS"
fi
# Then once the transactions have expired (bounded) and the heap has been trimmed after them
# (sip_core's trim_check, every second).
drained() { [ "$(metric cscf_sip_transactions)" -lt 100 ]; }
wait_for 45 drained || true
sleep 2
RSS1=$(rss_mb pcscf)
HEAP1=$(heap_line)
echo "   pcscf RSS before the flood: $RSS1 MiB ($RSS0 MiB before any load)"
shed0=$(metric 'cscf_admission_shed_total\{.*class="initial"')
capped0=$(metric cscf_table_refused_total)
queue_full() { metric 'cscf_sip_send_failures_total\{.*queue_full' "$@"; }
qfull0="$(queue_full) $(queue_full "http://127.0.0.1:$SC_API")"

echo "-- flood: $FLOOD calls/s (capacity $CAP) for $FLOOD_SECONDS s"
# Alongside: OPTIONS pings to the pcscf from another port (5/s) and a sampler (every second:
# RSS of pcscf and scscf, /healthz of both, the processes alive).
(cd "$WORKDIR" && timeout $((FLOOD_SECONDS + 40)) sipp -sf "$SCEN/options_any.xml" -i 127.0.0.1 -p "$PO" \
  -t u1 -r 5 -m $((FLOOD_SECONDS * 5)) -recv_timeout 5s -timeout $((FLOOD_SECONDS + 30))s \
  -trace_logs "127.0.0.1:$PC_SIP" >/dev/null 2>&1 </dev/null) &
PINGS=$!
(
  end=$((SECONDS + FLOOD_SECONDS + 5))
  while [ $SECONDS -lt $end ]; do
    echo "rss $SECONDS $(rss_mb pcscf) $(rss_mb scscf)"
    echo "lag $SECONDS $(adm | jq -c '[.lag_seconds, .shed_ratio]')"
    heap_line
    # the TCP legs between the CSCFs: bytes waiting unread (Recv-Q) per connection
    ss -Htn state established "( sport = :$SC_SIP or sport = :$PC_SIP or dport = :$SC_SIP or dport = :$PC_SIP )" |
      awk -v t=$SECONDS '{print "tcp", t, $1, $2, $3, $4}'
    for api in "$PC_API" "$SC_API"; do
      echo "healthz $api $(curl -s -o /dev/null -w '%{http_code}' -m 2 "http://127.0.0.1:$api/healthz")"
    done
    sleep 1
  done
) >"$WORKDIR/sampler.log" 2>&1 &
SAMPLER=$!
# FLOOD_PCAP=N (by hand, to follow lost calls hop by hop): the flood's first N s on loopback.
if [ -n "${FLOOD_PCAP:-}" ]; then
  dumpcap -q -i lo -s 0 -B 256 -a "duration:$FLOOD_PCAP" -w "$WORKDIR/flood.pcapng" \
    -f "udp port $PA or udp port $PB or port $PC_SIP or port $SC_SIP" >/dev/null 2>&1 &
fi
calls flood "$FLOOD" "$FLOOD_SECONDS"
FLOOD_END=$(date +%s)
# memory.log: from the flood's end to the memory check's (bounded: 70 s)
(end=$((SECONDS + 70)); while [ $SECONDS -lt $end ]; do heap_line; sleep 2; done) >"$WORKDIR/memory.log" 2>&1 &
MEMLOG=$!
wait "$PINGS" 2>/dev/null
kill "$SAMPLER" 2>/dev/null
wait "$SAMPLER" 2>/dev/null
admitted=$((OK + LOST))
echo "   pcscf: $(adm | jq -c '{lag_seconds, udp_drops, shed: (.classes | map_values(.shed | add))}')"
echo "   scscf: $(http_body "http://127.0.0.1:$SC_API/api/v1/admission" | jq -c '{lag_seconds, shed: (.classes | map_values(.shed | add))}')"
echo "   per hop: UDP receive drops: $DROPS; malformed (too large) messages: pcscf $(metric cscf_sip_bad_messages_total), scscf $(metric cscf_sip_bad_messages_total "http://127.0.0.1:$SC_API")"
# Messages a CSCF could not send because its connection's queue was full are lost with nobody
# told (sip_send_errors.c): relayed answers, ACKs, BYEs of admitted calls. Each CSCF reads the
# core leg before its handsets' datagrams can starve it (sip_stream_read.c), so none in the flood.
qfull1="$(queue_full) $(queue_full "http://127.0.0.1:$SC_API")"
expect_eq "flood: no message lost on a full send queue (pcscf scscf; before the flood: $qfull0)" \
  "$qfull0" "$qfull1"
if [ "$admitted" -gt 0 ] && [ $((OK * 1000)) -ge $((admitted * 990)) ]; then
  pass "flood: admitted calls complete (> 99%): $OK of $admitted"
else
  fail "flood: admitted calls complete (> 99%)" "$OK of $admitted completed"
fi
[ "$REFUSED" -gt 0 ] && pass "flood: admission refused calls ($REFUSED of $((FLOOD * FLOOD_SECONDS)))" ||
  fail "flood: admission refused calls" "none refused at $FLOOD/s"
expect_eq "flood: every refusal is a 503 with a Retry-After" 0 "$BAD_RA"
if [ $((OK / FLOOD_SECONDS * 2)) -ge "$CAP" ]; then
  pass "flood: still serves at least half the capacity ($((OK / FLOOD_SECONDS))/s of $CAP/s)"
else
  fail "flood: still serves at least half the capacity" "$((OK / FLOOD_SECONDS))/s of $CAP/s"
fi
# A call is refused for lag (admission) or, when a table is full, at its cap (limits).
shed=$(($(metric 'cscf_admission_shed_total\{.*class="initial"') - shed0))
capped=$(($(metric cscf_table_refused_total) - capped0))
[ $((shed + capped)) -ge "$REFUSED" ] && [ "$shed" -gt 0 ] &&
  pass "metrics: cscf_admission_shed_total{initial} and cscf_table_refused_total counted the refusals ($shed + $capped)" ||
  fail "metrics: cscf_admission_shed_total{initial} and cscf_table_refused_total counted the refusals" "$shed + $capped < $REFUSED"
[ "$(metric 'cscf_admission_admitted_total\{.*class="in_dialog"')" -gt 0 ] &&
  [ "$(metric 'cscf_loop_lag_seconds_count')" -gt 0 ] &&
  pass "metrics: in-dialog requests admitted, loop lag observed" ||
  fail "metrics: in-dialog requests admitted, loop lag observed"
pings=$(cat "$WORKDIR"/options_any_*_logs.log 2>/dev/null)
n200=$(grep -c '^200$' <<<"$pings")
[ "$n200" -ge $((FLOOD_SECONDS * 5 * 95 / 100)) ] && [ "$(grep -c '^503' <<<"$pings")" = 0 ] &&
  pass "flood: OPTIONS to the pcscf answered 200 throughout ($n200 of $((FLOOD_SECONDS * 5)))" ||
  fail "flood: OPTIONS to the pcscf answered 200 throughout" "$n200 of $((FLOOD_SECONDS * 5)), $(grep -c '^503' <<<"$pings") refused"
probes=$(grep -c '^healthz' "$WORKDIR/sampler.log")
bad=$(grep '^healthz' "$WORKDIR/sampler.log" | grep -vc ' 200$')
[ "$probes" -gt 0 ] && [ "$bad" = 0 ] && pass "flood: /healthz of pcscf and scscf answered 200 throughout ($probes probes)" ||
  fail "flood: /healthz of pcscf and scscf answered 200 throughout" "$bad of $probes did not"
for p in hss scscf pcscf; do
  prog_alive "$p" && pass "flood: $p is alive" || fail "flood: $p is alive" "see $WORKDIR/$p.log"
done
peak=$(awk '/^rss/ {m = $3 > m ? $3 : m; m = $4 > m ? $4 : m} END {print m + 0}' "$WORKDIR/sampler.log")
[ "$peak" -gt 0 ] && [ "$peak" -le "$RSS_CAP_MB" ] && pass "flood: RSS stays under $RSS_CAP_MB MiB (peak $peak MiB)" ||
  fail "flood: RSS stays under $RSS_CAP_MB MiB" "peak $peak MiB"
# Levels off: what the pcscf holds for a call lives at most 64*T1 + T4 (37 s: the BYE's answer
# kept for retransmissions, the answered INVITE); after that no new high by more than half of
# the highest RSS before it (when the flood lasts long enough). Only a runaway is judged here:
# RSS swings by a sixth from one second to the next and by a third over ten seconds as
# admission lets bursts in and their transactions expire together (ten quiet runs: the highest
# RSS after 37 s at 0.91-1.23 times the highest before; CI on c227052 and b41b927 failed a 25%
# check of single samples, then of 20 s peaks). A leak that grows with the flood's length is
# what the memory check after the flood catches: the RSS must come back within 20%.
if [ "$FLOOD_SECONDS" -ge 50 ]; then
  read -r rss_early rss_late < <(awk -v d="$FLOOD_SECONDS" '/^rss/ {if (!s) s = $2; t = $2 - s
      if (t < 37 && $3 > e) e = $3; if (t >= 37 && t <= d && $3 > l) l = $3}
      END {print e + 0, l + 0}' "$WORKDIR/sampler.log")
  [ "$rss_early" -gt 0 ] && [ "$rss_late" -le $((rss_early * 3 / 2)) ] &&
    pass "flood: pcscf RSS levels off (highest $rss_early MiB in the first 37 s, $rss_late MiB after)" ||
    fail "flood: pcscf RSS levels off" "highest $rss_early MiB in the first 37 s, $rss_late MiB after"
fi

NORMAL_RATE=$((CAP / 8 > 5 ? CAP / 8 : 5))
echo "-- after the flood: normal load ($NORMAL_RATE calls/s for $NORMAL_SECONDS s)"
lag_ok() { [ "$(jq -r --argjson t "$TARGET_MS" '.lag_seconds * 1000 < $t' <<<"$(adm)")" = true ]; }
wait_for 10 lag_ok && pass "the pcscf's lag is back under the target within 10 s" ||
  fail "the pcscf's lag is back under the target within 10 s" "$(adm | jq -c '{lag_seconds, shed_ratio}')"
calls normal "$NORMAL_RATE" "$NORMAL_SECONDS"
# From 10 s after the flood: no admitted call fails, and most are admitted: a stall of the
# pcscf for other reasons (other processes on a shared machine) still refuses calls for about a
# second, so this asks for 80%; a node that does not recover refuses (nearly) all.
late=$(awk -v t="$((FLOOD_END + 10))" '$2 >= t' "$WORKDIR/normal/calls.log")
late_ok=$(grep -c '^ok ' <<<"$late") late_all=$(grep -c . <<<"$late")
expect_eq "normal load: no admitted call fails" 0 "$LOST"
[ "$late_ok" -gt 0 ] && [ $((late_ok * 100)) -ge $((late_all * 80)) ] &&
  pass "normal load: from 10 s after the flood, calls are served again ($late_ok of $late_all)" ||
  fail "normal load: from 10 s after the flood, calls are served again (>= 80%)" "$late_ok of $late_all"

echo "-- a per-flow limit (reload): one flow sending too fast is held, another flow is not"
printf 'admission:\n  flow_rate: 2\n  flow_burst: 5\n' >>"$WORKDIR/pcscf.yaml"
# The loop may still be busy expiring the flood's transactions (nta keeps them 32 s): retried.
reloaded() {
  out=$(curl -s -m 5 -X POST -H "Authorization: Bearer $TOKEN" "$PC/api/v1/reload")
  jq -e '.applied | index("admission.flow_rate")' <<<"$out" >/dev/null 2>&1
}
wait_for 20 reloaded && pass "reload applies admission.flow_rate" ||
  fail "reload applies admission.flow_rate" "$out"
mkdir -p "$WORKDIR/fx" "$WORKDIR/fy"
(cd "$WORKDIR/fx" && timeout 30 sipp -sf "$SCEN/options_any.xml" -i 127.0.0.1 -p "$PX" -t u1 -r 200 -m 40 \
  -recv_timeout 5s -timeout 20s -trace_logs "127.0.0.1:$PC_SIP" >/dev/null 2>&1 </dev/null) &
fx=$!
(cd "$WORKDIR/fy" && timeout 30 sipp -sf "$SCEN/options_any.xml" -i 127.0.0.1 -p "$PY" -t u1 -r 10 -m 3 \
  -recv_timeout 5s -timeout 20s -trace_logs "127.0.0.1:$PC_SIP" >/dev/null 2>&1 </dev/null)
wait "$fx"
x=$(cat "$WORKDIR"/fx/options_any_*_logs.log 2>/dev/null)
x200=$(grep -c '^200$' <<<"$x") x503=$(grep -c '^503 ra=[0-9]' <<<"$x")
[ "$x200" -ge 5 ] && [ "$x200" -le 12 ] && [ $((x200 + x503)) = 40 ] &&
  pass "the fast flow gets its burst and then 503 with Retry-After ($x200 answered, $x503 refused)" ||
  fail "the fast flow gets its burst and then 503 with Retry-After" "$x200 answered, $x503 refused of 40"
expect_eq "another flow from the same address is not held" 3 "$(grep -c '^200$' "$WORKDIR"/fy/options_any_*_logs.log 2>/dev/null)"
view=$(adm)
expect_eq "GET /api/v1/admission names the flow refused most" "udp:127.0.0.1:$PX" \
  "$(field '.flows.top_refused[0].key' "$view")"
n=$(field '.flows.top_refused[0].refused' "$view")
[ "${n:-0}" -ge "$x503" ] && pass "... with its refusals ($n)" || fail "... with its refusals" "$n < $x503"

echo "-- memory: the pcscf's RSS back within 20% of its level before the flood, within 60 s of it"
# nta keeps an answered INVITE's server transaction, and a request it sent over UDP, for T4 (5 s;
# an INVITE branch over UDP is not nta's after its first provisional, sip_proxy.c); then
# sip_core trims the heap.
# Not under ASan: its allocator keeps freed memory in a quarantine of up to 256 MiB and does not
# give it back, so RSS there says nothing about our heap (433 MiB after a 20 s flood).
if [ $ASAN = 0 ]; then
  rss_back() { [ "$(rss_mb pcscf)" -le $((RSS1 * 6 / 5)) ]; }
  left=$((FLOOD_END + 60 - $(date +%s)))
  echo "   before the flood: RSS $RSS1 MiB (before any load: $RSS0 MiB, anon $ANON0, file $FILE0); now $(rss_mb pcscf) (anon $(rss_mb pcscf RssAnon), file $(rss_mb pcscf RssFile))"
  echo "   before the flood: $HEAP1"
  if wait_for $((left > 0 ? left : 0)) rss_back; then
    pass "pcscf RSS back to $(rss_mb pcscf) MiB (before the flood: $RSS1 MiB) $(($(date +%s) - FLOOD_END)) s after the flood"
  else
    fail "pcscf RSS back within 20% of $RSS1 MiB within 60 s of the flood" "$(rss_mb pcscf) MiB; \
$(metric cscf_sip_transactions) transactions held, $(metric cscf_dialogs_active) dialogs, \
$(metric cscf_heap_trims_total) heap trims"
  fi
  echo "   now: $(heap_line)"
else
  echo "   (not checked under ASan: RSS $(rss_mb pcscf) MiB, before $RSS0 MiB)"
fi

kill "$MEMLOG" 2>/dev/null
wait "$MEMLOG" 2>/dev/null
kill "${PIDS[uas]}" 2>/dev/null
wait "${PIDS[uas]}" 2>/dev/null
unset "PIDS[uas]"
stop_clean pcscf scscf hss
echo "   ($SECONDS s)"
finish
