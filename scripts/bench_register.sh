#!/usr/bin/env bash
# make bench, registration part: N subscribers provisioned over the HSS's REST API register with
# full AKA (two REGISTER transactions, MAR and SAR each) through pcscf -> scscf -> hss at rising
# SIPp rates. Prints the highest rate with < 1% failures, p50/p99 register latency at that rate,
# RSS per process per 10,000 registrations, and the same load against a SIPp UAS that answers
# at once (the harness ceiling); then the same ramp with the scscf's store on a journal and on
# Redis (BENCH_STORES, default "journal redis"; from half the memory store's best rate up).
# Figures only, no pass/fail.
set -u
BUILD=${1:-build}
cd "$(dirname "$0")/.."
. tests/e2e/lib.sh
SCEN=tests/e2e/scenarios
N=${BENCH_SUBSCRIBERS:-10000}
SECONDS_PER_STEP=${BENCH_SECONDS:-5}
RATES=${BENCH_REG_RATES:-"100 200 400 600 800 1000 1200 1500 2000 2500 3000 4000"}
PERF_AT=${BENCH_PERF_RATE:-} # a rate: profile the scscf and pcscf (perf) during that step
DOMAIN=ims.mnc001.mcc001.3gppnetwork.org
TOKEN=bench

# Subscriber i: K = "bench" + 11 digits (16 characters, as SIPp wants them), OP shared.
perl -e '
  my ($n, $d) = @ARGV;
  open(my $c, ">", "'"$WORKDIR"'/users.csv");
  print $c "SEQUENTIAL\n";
  my $j;
  for my $i (1..$n) {
    my $k = sprintf("bench%011d", $i);
    if (($i - 1) % 250 == 0) {   # bulk POSTs of 250 stay under the 64 KiB body limit
      if ($j) { print $j "]\n"; close $j; }
      open($j, ">", sprintf("'"$WORKDIR"'/batch_%05d.json", $i)); print $j "[";
    } else { print $j ","; }
    printf $j "{\"impi\":\"u%d\@%s\",\"impus\":[\"sip:u%d\@%s\"],\"k\":\"%s\",\"op\":\"%s\",\"amf\":\"0000\"}",
      $i, $d, $i, $d, unpack("H*", $k), unpack("H*", "ponmlkjihgfedcba");
    printf $c "u%d;u%d\@%s;%s;[authentication username=u%d\@%s aka_K=%s aka_OP=ponmlkjihgfedcba];600;%d\n",
      $i, $i, $d, $d, $i, $d, $k, $i;
  }
  print $j "]\n"; close $j;' "$N" "$DOMAIN"
printf 'subscribers: []\n' >"$WORKDIR/empty.yaml"

start_hss hss HSS_API_TOKEN=$TOKEN HSS_SUBSCRIBERS_FILE="$WORKDIR/empty.yaml" \
  HSS_SUBSCRIBERS_DATABASE="$WORKDIR/bench.db" HSS_LOG_LEVEL=warning HSS_AUTH_MAX_VECTORS=1 || exit 1
start=$(date +%s)
for f in "$WORKDIR"/batch_*.json; do
  curl -s -o /dev/null -m 60 -H "Authorization: Bearer $TOKEN" -X POST \
    "http://127.0.0.1:$HSS_API/api/v1/subscribers" --data-binary "@$f"
done
echo "bench: $(jq -r .count <(http_body "http://127.0.0.1:$HSS_API/api/v1/subscribers?limit=1")) subscribers provisioned over REST in $(($(date +%s) - start)) s"

# start_core [SCSCF_STORE_...=VALUE...]: scscf and pcscf on new ports, the scscf with that store
# (the config's, memory, when none is given).
start_core() {
  SC_SIP=$(free_port) SC_API=$(free_port) PC_SIP=$(free_port) PC_API=$(free_port)
  mapfile -t diam < <(scscf_diameter_env)
  start_prog scscf "$BUILD/scscf" config/scscf.yaml SCSCF_SIP_LISTEN="127.0.0.1:$SC_SIP" \
    SCSCF_API_LISTEN="127.0.0.1:$SC_API" SCSCF_LOG_LEVEL=warning "${diam[@]}" "$@" || return 1
  start_prog pcscf "$BUILD/pcscf" config/pcscf.yaml PCSCF_SIP_LISTEN="127.0.0.1:$PC_SIP" \
    PCSCF_API_LISTEN="127.0.0.1:$PC_API" PCSCF_LOG_LEVEL=warning \
    PCSCF_PCSCF_REGISTRAR="sip:127.0.0.1:$SC_SIP;transport=${BENCH_CORE_TRANSPORT:-tcp};lr" || return 1
  wait_http "127.0.0.1:$SC_API" /readyz 200 10 || { echo "bench: scscf not ready"; return 1; }
}
start_core || exit 1

# The AKA scenario with response-time marks on the first REGISTER and the 200.
sed -e '0,/<send retrans="500">/s//<send retrans="500" start_rtd="reg">/' \
  -e 's|<recv response="200"/>|<recv response="200" rtd="reg"/>|' \
  "$SCEN/register_aka.xml" >"$WORKDIR/register_rtd.xml"
# The ceiling's handset: the same two REGISTERs without computing AKA (the UAS checks nothing).
sed -e '0,/<send retrans="500">/s//<send retrans="500" start_rtd="reg">/' \
  -e 's|<recv response="200"/>|<recv response="200" rtd="reg"/>|' \
  "$SCEN/register_ue_plain.xml" >"$WORKDIR/register_plain_rtd.xml"

# step SCENARIO PORT RATE -> "achieved_rate ok failed p50_ms p99_ms"
step() {
  local scen=$1 port=$2 rate=$3 tag="$WORKDIR/s_$2_$3" lport
  lport=$(free_port)
  timeout $((SECONDS_PER_STEP + 40)) sipp -sf "$scen" -inf "$WORKDIR/users.csv" -i 127.0.0.1 \
    -p "$lport" -t u1 -r "$rate" -m $((rate * SECONDS_PER_STEP)) -auth_uri "$DOMAIN" \
    -timeout $((SECONDS_PER_STEP + 30))s -trace_screen -screen_file "$tag.screen" \
    -trace_rtt -rtt_freq 1 "127.0.0.1:$port" >/dev/null 2>&1
  local rtt
  rtt=$(ls "$WORKDIR"/*_rtt.csv 2>/dev/null | head -1)
  local lat="0 0"
  if [ -n "$rtt" ]; then
    lat=$(awk -F';' 'NR > 1 {print $2}' "$rtt" | sort -n |
      awk '{a[NR] = $1} END {if (NR) printf "%.1f %.1f", a[int(NR * 0.5) + 1], a[int(NR * 0.99) + 1]; else print "0 0"}')
    rm -f "$WORKDIR"/*_rtt.csv
  fi
  awk -F'|' '/Call Rate/ {r=$3} /Successful call/ {s=$3} /Failed call/ {f=$3}
    END {gsub(/[^0-9.]/, "", r); gsub(/[^0-9]/, "", s); gsub(/[^0-9]/, "", f); printf "%s %d %d ", r+0, s+0, f+0}' "$tag.screen"
  echo "$lat"
}

ramp() { # NAME SCENARIO PORT
  local name=$1 scen=$2 port=$3 rate got ok failed p50 p99
  BEST=0 BEST_P50=0 BEST_P99=0
  for rate in $RATES; do
    [ "$name" = ims ] && [ "$rate" = "$PERF_AT" ] && profile
    read -r got ok failed p50 p99 < <(cd "$WORKDIR" && step "$scen" "$port" "$rate")
    printf '  %-10s target %5d/s  achieved %7.0f/s  ok %6d  failed %5d  p50 %6s ms  p99 %6s ms\n' \
      "$name" "$rate" "$got" "$ok" "$failed" "$p50" "$p99"
    if [ "$ok" -eq 0 ] || [ $((failed * 100)) -ge "$ok" ]; then break; fi
    # a step the system could not keep up with (achieved < 90% of the target) does not count
    awk -v g="$got" -v r="$rate" 'BEGIN {exit !(g < 0.9 * r)}' && break
    BEST=$(awk -v g="$got" 'BEGIN {printf "%.0f", g}')
    BEST_P50=$p50 BEST_P99=$p99
  done
}

# perf over the next step, reports in $WORKDIR/../perf-<prog>.txt (kept: the bench cleans WORKDIR)
profile() {
  local p
  for p in scscf pcscf; do
    (perf record -F 499 -g -p "${PIDS[$p]}" -o "$WORKDIR/$p.perf" -- sleep "$SECONDS_PER_STEP" >/dev/null 2>&1 &&
      perf report -i "$WORKDIR/$p.perf" --no-children --percent-limit 2 --stdio 2>/dev/null |
      grep -E '^ +[0-9]' >"build/perf-$p.txt") &
  done
}
rss() { awk '/VmRSS/ {print $2}' "/proc/${PIDS[$1]}/status"; }
echo "bench: AKA registrations through pcscf -> scscf -> hss, ${SECONDS_PER_STEP} s per step ($(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'))"
declare -A before
for p in hss scscf pcscf; do before[$p]=$(rss $p); done
ramp "ims" "$WORKDIR/register_rtd.xml" "$PC_SIP"
ours=$BEST p50=$BEST_P50 p99=$BEST_P99
regs=$(jq -r .total <(http_body "http://127.0.0.1:$SC_API/api/v1/registrations?limit=1"))
for p in hss scscf pcscf; do
  after=$(rss $p)
  echo "bench: $p RSS ${before[$p]} KiB before, ${after} KiB with $regs registrations:" \
    "$(awk -v a="$after" -v b="${before[$p]}" -v n="$regs" 'BEGIN {printf "%.0f", n ? (a - b) * 10000 / n : 0}') KiB per 10,000"
done
stop_prog pcscf
stop_prog scscf

# The same ramp with the scscf's other stores (issue 16): the memory store with its journal
# (every change appended to a file), and Redis (a redis-server started here, no persistence, as
# the scscf replicas would share it). BENCH_STORES chooses ("" skips them).
declare -A store_best store_p50 store_p99
# Short: their ramps start at half the memory store's best rate.
ALL_RATES=$RATES
RATES=$(for r in $ALL_RATES; do [ $((r * 2)) -ge "$ours" ] && echo "$r"; done | paste -sd' ')
[ -n "$RATES" ] || RATES=$ALL_RATES
for st in ${BENCH_STORES-journal redis}; do
  case $st in
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
  ramp "ims-$st" "$WORKDIR/register_rtd.xml" "$PC_SIP"
  store_best[$st]=$BEST store_p50[$st]=$BEST_P50 store_p99[$st]=$BEST_P99
  stop_prog pcscf
  stop_prog scscf
  [ "$st" = redis ] && stop_prog redis
done
stop_prog hss
RATES=$ALL_RATES

uas=$(free_port)
timeout 900 sipp -sf "$SCEN/register_bench_uas.xml" -i 127.0.0.1 -p "$uas" -t u1 -bg >/dev/null 2>&1
sleep 0.5
ramp "sipp-uas" "$WORKDIR/register_plain_rtd.xml" "$uas"
ceiling=$BEST
pkill -f "register_bench_uas.xml -i 127.0.0.1 -p $uas" 2>/dev/null

echo "bench: ${ours} AKA registrations/s with < 1% failures (p50 ${p50} ms, p99 ${p99} ms);" \
  "the SIPp UAS ceiling for the same two-transaction flow is ${ceiling}/s" \
  "($(awk -v a="$ours" -v b="$ceiling" 'BEGIN {printf "%.0f", b ? 100 * a / b : 0}')% of it)"
for st in ${BENCH_STORES-journal redis}; do
  [ -n "${store_best[$st]:-}" ] || continue
  case $st in journal) what="store.backend memory with store.journal" ;; *) what="store.backend $st" ;; esac
  echo "bench: ${store_best[$st]} AKA registrations/s with $what (p50 ${store_p50[$st]} ms, p99 ${store_p99[$st]} ms)" \
    "beside ${ours}/s with store.backend memory"
done
PASSED=1
finish >/dev/null
