#!/usr/bin/env bash
# make bench, registration part: N subscribers provisioned over the HSS's REST API register with
# full AKA (two REGISTER transactions, MAR and SAR each) through pcscf -> scscf -> hss at rising
# SIPp rates. Prints the highest rate with < 1% failures, p50/p99 register latency at that rate,
# RSS per process per 10,000 registrations, and the same load against a SIPp UAS that answers
# with a valid AKA challenge (the harness ceiling: scenarios/register_bench_aka_uas.xml, so the
# SIPp UAC does the same work, ramped on past our rates until it stops rising); the CPU that
# pcscf + scscf + hss spend per registration at a fixed BENCH_CPU_RATE (500/s), from /proc;
# then the same ramp with the scscf's store on a journal and on Redis (BENCH_STORES, default
# "journal redis"; from half the memory store's best rate up), and with the core leg over UDP
# instead of TCP (BENCH_CORE_LEGS, default "udp"). Figures only, no pass/fail.
set -u
BUILD=${1:-build}
cd "$(dirname "$0")/.."
. tests/e2e/lib.sh
. scripts/bench_lib.sh
N=${BENCH_SUBSCRIBERS:-10000}
SECONDS_PER_STEP=${BENCH_SECONDS:-5}
RATES=${BENCH_REG_RATES:-"100 200 400 600 800 1000 1200 1500 2000 2500 3000 4000"}
CEIL_RATES=${BENCH_CEIL_RATES:-"$RATES 5000 6000 8000 10000 12000 15000"}
CPU_RATE=${BENCH_CPU_RATE:-500}
PERF_AT=${BENCH_PERF_RATE:-} # a rate: profile the scscf and pcscf (perf) during that step
PERF_NAME=                   # reports in $BUILD/perf-{scscf,pcscf}.txt

subscribers "$N" 600
start_hss hss HSS_API_TOKEN=$TOKEN HSS_SUBSCRIBERS_FILE="$WORKDIR/empty.yaml" \
  HSS_SUBSCRIBERS_DATABASE="$WORKDIR/bench.db" HSS_LOG_LEVEL=warning HSS_AUTH_MAX_VECTORS=1 || exit 1
start=$(date +%s)
provision
echo "bench: $(jq -r .count <(http_body "http://127.0.0.1:$HSS_API/api/v1/subscribers?limit=1")) subscribers provisioned over REST in $(($(date +%s) - start)) s"

start_core || exit 1
reg_scenarios

echo "bench: AKA registrations through pcscf -> scscf -> hss, ${SECONDS_PER_STEP} s per step ($(machine))"
declare -A before
# the scscf's live heap objects (cscf_heap_bytes{kind="allocated"}), bytes
heap_allocated() {
  http_body "http://127.0.0.1:$SC_API/metrics" | awk '/^cscf_heap_bytes\{.*kind="allocated"/ {v = $2} END {printf "%d", v}'
}
# What a registration keeps: the same figure once the ramp's transactions are gone (they are
# held 32 s for retransmissions, and freed memory goes back to the kernel a few seconds after).
kept() {
  local n after heap
  n=$(jq -r .total <(http_body "http://127.0.0.1:$SC_API/api/v1/registrations?limit=1"))
  after=$(rss scscf) heap=$(heap_allocated)
  echo "bench: scscf RSS ${after} KiB with $n registrations once the ramp's transactions expired:" \
    "$(awk -v a="$after" -v b="${before[scscf]}" -v n="$n" 'BEGIN {printf "%.2f", n ? (a - b) / n : 0}') KiB kept per registration;" \
    "its heap's live objects $(awk -v a="$heap" -v b="$heap0" -v n="$n" 'BEGIN {printf "%.2f", n ? (a - b) / n / 1024 : 0}') KiB per registration"
}
for p in hss scscf pcscf; do before[$p]=$(rss $p); done
heap0=$(heap_allocated)
reg_ramp ims "$WORKDIR/register_rtd.xml" "$PC_SIP" "$RATES"
ours=$BEST p50=$BEST_P50 p99=$BEST_P99
regs=$(jq -r .total <(http_body "http://127.0.0.1:$SC_API/api/v1/registrations?limit=1"))
for p in hss scscf pcscf; do
  after=$(rss $p)
  echo "bench: $p RSS ${before[$p]} KiB before, ${after} KiB with $regs registrations:" \
    "$(awk -v a="$after" -v b="${before[$p]}" -v n="$regs" 'BEGIN {printf "%.0f", n ? (a - b) * 10000 / n : 0}') KiB per 10,000;" \
    "peak $(($(hwm $p) / 1024)) MiB during the ramp"
done

# Beyond the peak: one step offered at twice the best rate.
over=""
if [ "$ours" -gt 0 ]; then
  echo "bench: waited $(settle) s for the ramp's transactions to expire"
  sleep 12 # jemalloc returns freed pages after 10 s (dirty_decay_ms)
  kept
  r0=$(refused_503) cpu0=$(cpu_snap)
  read -r got ok failed op50 op99 < <(cd "$WORKDIR" && reg_step "$WORKDIR/register_rtd.xml" "$PC_SIP" $((ours * 2)))
  printf '  %-10s target %5d/s  achieved %7.0f/s  ok %6d  failed %5d  p50 %6s ms  p99 %6s ms  %s (twice the best)\n' \
    ims $((ours * 2)) "$got" "$ok" "$failed" "$op50" "$op99" "$(cpu_use "$cpu0" "$(cpu_snap)")"
  over=$(beyond_peak "$ours" "$got" "$ok" "$failed" $(($(refused_503) - r0)))
fi

# CPU per registration at a fixed rate: one step at CPU_RATE once the ramp's transactions are gone,
# and again until this step's are gone too (their expiry costs CPU 32 s later), less what the
# three programs spend idle over the same time (timers, admission's sampling).
echo "bench: waited $(settle) s for the ramp's transactions to expire"
i0=$(prog_ticks hss scscf pcscf) s0=$SECONDS
sleep 5
idle_per_s=$(awk -v t="$(($(prog_ticks hss scscf pcscf) - i0))" -v s="$((SECONDS - s0))" 'BEGIN {print s ? t / s : 0}')
c0=$(prog_ticks hss scscf pcscf) s0=$SECONDS
read -r got ok failed cp50 cp99 < <(cd "$WORKDIR" && reg_step "$WORKDIR/register_rtd.xml" "$PC_SIP" "$CPU_RATE")
c1=$(prog_ticks hss scscf pcscf) s1=$SECONDS
waited=$(settle)
c2=$(prog_ticks hss scscf pcscf) s2=$SECONDS
hz=$(getconf CLK_TCK)
cpu_step=$(awk -v t="$((c1 - c0))" -v n="$ok" -v hz="$hz" 'BEGIN {printf "%.2f", n ? 1000 * t / hz / n : 0}')
cpu_all=$(awk -v t="$((c2 - c0))" -v i="$idle_per_s" -v s="$((s2 - s0))" -v n="$ok" -v hz="$hz" \
  'BEGIN {x = t - i * s; if (x < 0) x = 0; printf "%.2f", n ? 1000 * x / hz / n : 0}')
echo "bench: at $CPU_RATE/s (achieved $(printf '%.0f' "$got")/s, $ok ok, $failed failed, p50 $cp50 ms, p99 $cp99 ms):" \
  "pcscf + scscf + hss spent ${cpu_step} ms of CPU per AKA registration during the step," \
  "${cpu_all} ms with the expiry of its transactions ($waited s later), idle cost subtracted"
stop_prog pcscf
stop_prog scscf

# The same ramp with the scscf's other stores (issue 16): the memory store with its journal
# (every change appended to a file), and Redis (a redis-server started here, no persistence, as
# the scscf replicas would share it). BENCH_STORES chooses ("" skips them). Then the memory store
# with the core leg over UDP instead of TCP (BENCH_CORE_LEGS, default "udp"; "" skips it).
declare -A store_best store_p50 store_p99
# Short: their ramps start at half the memory store's best rate.
ALL_RATES=$RATES
RATES=$(for r in $ALL_RATES; do [ $((r * 2)) -ge "$ours" ] && echo "$r"; done | paste -sd' ')
[ -n "$RATES" ] || RATES=$ALL_RATES
VARIANTS="${BENCH_STORES-journal redis} ${BENCH_CORE_LEGS-udp}"
for st in $VARIANTS; do
  case $st in
  udp | tcp) BENCH_CORE_TRANSPORT=$st start_core ;;
  journal) start_core SCSCF_STORE_BACKEND=memory SCSCF_STORE_JOURNAL="$WORKDIR/scscf-store.journal" ;;
  redis)
    rport=$(free_port)
    redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORKDIR" \
      --daemonize no >"$WORKDIR/redis.log" 2>&1 &
    PIDS[redis]=$!
    wait_for 5 eval '[ "$(redis-cli -p "$rport" ping 2>/dev/null)" = PONG ]' &&
      start_core SCSCF_STORE_BACKEND=redis SCSCF_STORE_REDIS_ADDRESS="127.0.0.1:$rport"
    ;;
  *) false ;;
  esac
  if [ $? -ne 0 ]; then
    echo "bench: the scscf with store $st did not start; skipped"
    for p in pcscf scscf redis; do stop_prog $p; done
    continue
  fi
  reg_ramp "ims-$st" "$WORKDIR/register_rtd.xml" "$PC_SIP" "$RATES"
  store_best[$st]=$BEST store_p50[$st]=$BEST_P50 store_p99[$st]=$BEST_P99
  stop_prog pcscf
  stop_prog scscf
  [ "$st" = redis ] && stop_prog redis
done
stop_prog hss
RATES=$ALL_RATES

# The ceiling: the same UAC (AKA, the same two transactions) against a SIPp UAS that challenges
# with a valid AKA nonce at once. Its handsets all have the K that nonce was made for.
uas=$(free_port)
sed -E 's/aka_K=[^ ]+/aka_K=abcdefghijklmnop/' "$WORKDIR/users.csv" >"$WORKDIR/users_ceiling.csv"
timeout 900 sipp -sf "$SCEN/register_bench_aka_uas.xml" -i 127.0.0.1 -p "$uas" -t u1 -bg >/dev/null 2>&1
sleep 0.5
REG_USERS="$WORKDIR/users_ceiling.csv" reg_ramp sipp-aka-uas "$WORKDIR/register_rtd.xml" "$uas" "$CEIL_RATES"
ceiling=$BEST
pkill -f "register_bench_aka_uas.xml -i 127.0.0.1 -p $uas" 2>/dev/null

echo "bench: ${ours} AKA registrations/s with < 1% failures (p50 ${p50} ms, p99 ${p99} ms);" \
  "the SIPp ceiling (a UAS answering with a valid AKA challenge) is ${ceiling}/s" \
  "($(awk -v a="$ours" -v b="$ceiling" 'BEGIN {printf "%.0f", b ? 100 * a / b : 0}')% of it)"
[ -z "$over" ] || echo "bench: AKA registrations beyond the peak: $over"
for st in $VARIANTS; do
  [ -n "${store_best[$st]:-}" ] || continue
  case $st in
  journal) what="store.backend memory with store.journal" ;;
  udp | tcp) what="the core leg over $st" ;;
  *) what="store.backend $st" ;;
  esac
  echo "bench: ${store_best[$st]} AKA registrations/s with $what (p50 ${store_p50[$st]} ms, p99 ${store_p99[$st]} ms)" \
    "beside ${ours}/s with store.backend memory and the core leg over ${BENCH_CORE_TRANSPORT:-tcp}"
done
PASSED=1
finish >/dev/null
