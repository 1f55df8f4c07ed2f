#!/usr/bin/env bash
# make bench, calls part: SIPp calls (INVITE, 180, 200, ACK, BYE, 200) through
# pcscf -> scscf -> pcscf at rising rates. Prints the highest calls/s with < 0.1% failed calls,
# p50/p99 setup time (INVITE sent to 200 received, timed by the UAC scenario in microseconds) at
# that rate and at half of it, RSS of pcscf and scscf after the calls, and the same scenarios from a SIPp UAC
# straight to a SIPp UAS (the harness ceiling), measured in the same run. Figures only.
#
# Not "N pairs": the pcscf ties a binding to the flow it came from (source ip:port/transport of
# the REGISTER) and sends a terminating request to that flow, so callees cannot share one SIPp
# port. One caller identity is registered from the port the SIPp UAC then calls from, one callee
# identity from the port the SIPp UAS then listens on; every call is between these two (each
# with its own Call-ID, many at once). BENCH_CALL_SUBSCRIBERS other subscribers are registered
# from another port first, so the stores the calls look up are not near-empty.
#
# Each step line also shows the CPU pcscf and scscf used (% of one core), the machine's idle share
# and UDP datagrams the kernel dropped on full receive buffers during the step (whole machine, so
# another user's load shows too). SIPp's sockets get 4 MiB buffers (-buff_size).
#
# Environment: BENCH_CALL_SUBSCRIBERS (background registrations, default 5000),
# BENCH_CALL_REG_RATE (their registration rate), BENCH_CALL_SECONDS (per step),
# BENCH_CALL_RATES / BENCH_CALL_CEILING_RATES (calls/s steps; an empty ceiling list skips it),
# BENCH_CALL_HOLD_MS (time between ACK and BYE), BENCH_CALL_MAX_P99_MS (a step with a worse p99 ends the ramp),
# BENCH_CALL_PERF_RATE (profile pcscf and scscf with perf during that step; reports in
# build/perf-call-<prog>.txt), BENCH_CORE_TRANSPORT (pcscf -> scscf, tcp by default).
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
. tests/e2e/lib.sh
trap 'set +e; cleanup' EXIT # lib.sh's cleanup, without -e (a process may be gone already)
SCEN="$E2E_DIR/scenarios"
N=${BENCH_CALL_SUBSCRIBERS:-5000}
REG_RATE=${BENCH_CALL_REG_RATE:-500}
SECONDS_PER_STEP=${BENCH_CALL_SECONDS:-5}
RATES=${BENCH_CALL_RATES:-"100 200 300 400 500 600 700 800 900 1000 1200 1500 2000"}
CEILING_RATES=${BENCH_CALL_CEILING_RATES-"500 1000 2000 3000 4000 5000 6000 8000 10000"}
HOLD_MS=${BENCH_CALL_HOLD_MS:-0}
MAX_P99=${BENCH_CALL_MAX_P99_MS:-1000}
PERF_AT=${BENCH_CALL_PERF_RATE:-}
DOMAIN=ims.mnc001.mcc001.3gppnetwork.org
TOKEN=bench
EXPIRES=3600

# Subscribers: u1..uN in the background (K = "bench" + 11 digits, 16 characters as SIPp wants
# them), plus "caller" and "callee"; OP shared. Bulk POSTs of 250 (under the 64 KiB body limit).
perl -e '
  my ($n, $d, $w, $exp) = @ARGV;
  my @subs = map { ["u$_", sprintf("bench%011d", $_), $_] } 1..$n;
  push @subs, ["caller", "caller0000000000", $n + 1], ["callee", "callee0000000000", $n + 2];
  my ($c, $j);
  open($c, ">", "$w/background.csv"); print $c "SEQUENTIAL\n";
  for my $i (0..$#subs) {
    my ($u, $k, $inst) = @{$subs[$i]};
    if ($i % 250 == 0) {
      if ($j) { print $j "]\n"; close $j; }
      open($j, ">", sprintf("%s/batch_%05d.json", $w, $i)); print $j "[";
    } else { print $j ","; }
    printf $j "{\"impi\":\"%s\@%s\",\"impus\":[\"sip:%s\@%s\"],\"k\":\"%s\",\"op\":\"%s\",\"amf\":\"0000\"}",
      $u, $d, $u, $d, unpack("H*", $k), unpack("H*", "ponmlkjihgfedcba");
    my $line = sprintf("%s;%s\@%s;%s;[authentication username=%s\@%s aka_K=%s aka_OP=ponmlkjihgfedcba];%d;%d\n",
      $u, $u, $d, $d, $u, $d, $k, $exp, $inst);
    if ($u =~ /^u/) { print $c $line; }
    else { open(my $o, ">", "$w/$u.csv"); print $o "SEQUENTIAL\n$line"; close $o; }
  }
  print $j "]\n"; close $j; close $c;' "$N" "$DOMAIN" "$WORKDIR" "$EXPIRES"
printf 'SEQUENTIAL\ncaller;sip:callee@%s;%s\n' "$DOMAIN" "$DOMAIN" >"$WORKDIR/call.csv"
printf 'subscribers: []\n' >"$WORKDIR/empty.yaml"

start_hss hss HSS_API_TOKEN=$TOKEN HSS_SUBSCRIBERS_FILE="$WORKDIR/empty.yaml" \
  HSS_SUBSCRIBERS_DATABASE= HSS_LOG_LEVEL=warning HSS_AUTH_MAX_VECTORS=1 || exit 1
for f in "$WORKDIR"/batch_*.json; do
  curl -s -o /dev/null -m 60 -H "Authorization: Bearer $TOKEN" -X POST \
    "http://127.0.0.1:$HSS_API/api/v1/subscribers" --data-binary "@$f" || true
done

SC_SIP=$(free_port) SC_API=$(free_port) PC_SIP=$(free_port) PC_API=$(free_port)
mapfile -t diam < <(scscf_diameter_env)
start_prog scscf "$BUILD/scscf" config/scscf.yaml SCSCF_SIP_LISTEN="127.0.0.1:$SC_SIP" \
  SCSCF_API_LISTEN="127.0.0.1:$SC_API" SCSCF_LOG_LEVEL=warning "${diam[@]}" || exit 1
start_prog pcscf "$BUILD/pcscf" config/pcscf.yaml PCSCF_SIP_LISTEN="127.0.0.1:$PC_SIP" \
  PCSCF_API_LISTEN="127.0.0.1:$PC_API" PCSCF_LOG_LEVEL=warning \
  PCSCF_PCSCF_REGISTRAR="sip:127.0.0.1:$SC_SIP;transport=${BENCH_CORE_TRANSPORT:-tcp};lr" || exit 1
wait_http "127.0.0.1:$SC_API" /readyz 200 10 || { echo "bench: scscf not ready"; exit 1; }

# register CSV PORT TRANSPORT RATE COUNT -> the number of successful registrations (SIPp's count)
register() {
  local csv=$1 port=$2 transport=$3 rate=$4 count=$5 screen="$WORKDIR/reg_$2.screen"
  timeout $((count / rate + 60)) sipp -sf "$SCEN/register_aka.xml" -inf "$csv" -i 127.0.0.1 \
    -p "$port" -t "$transport" -r "$rate" -m "$count" -auth_uri "$DOMAIN" -timeout $((count / rate + 50))s \
    -trace_screen -screen_file "$screen" "127.0.0.1:$PC_SIP" >/dev/null 2>&1 || true
  awk -F'|' '/Successful call/ {s=$3} END {gsub(/[^0-9]/, "", s); print s+0}' "$screen" 2>/dev/null || echo 0
}

UAC_PORT=$(free_port) UAS_PORT=$(free_port)
start=$(date +%s)
# The background registers over TCP: over UDP the pcscf would keep each REGISTER transaction for
# Timer J (32 s), and their expiry (and the malloc_trim after it) would land in the first steps.
bg=$(register "$WORKDIR/background.csv" "$(free_port)" t1 "$REG_RATE" "$N")
echo "bench: calls through pcscf -> scscf -> pcscf; $bg of $N background subscribers provisioned" \
  "and registered with AKA in $(($(date +%s) - start)) s (expires $EXPIRES)"
[ "$(register "$WORKDIR/caller.csv" "$UAC_PORT" u1 1 1)" = 1 ] ||
  { echo "bench: the caller could not register from 127.0.0.1:$UAC_PORT"; exit 1; }
[ "$(register "$WORKDIR/callee.csv" "$UAS_PORT" u1 1 1)" = 1 ] ||
  { echo "bench: the callee could not register from 127.0.0.1:$UAS_PORT"; exit 1; }

# settle: wait (up to 45 s) until pcscf and scscf hold almost no SIP transactions, i.e. those kept
# for retransmissions (Timer J/L/M, 32 s over UDP) after the last burst are gone, so their expiry
# does not land in the next measurement. Prints the seconds waited.
settle() {
  local i held
  for i in $(seq 90); do
    held=$( (http_body "http://127.0.0.1:$PC_API/metrics"; http_body "http://127.0.0.1:$SC_API/metrics") |
      awk '/^cscf_sip_transactions[{ ]/ {n += $2} END {print n+0}')
    [ "$held" -lt 100 ] && break
    sleep 0.5
  done
  echo $((i / 2))
}

# udp_bound PORT: wait (up to 3 s) until a process listens on the UDP port.
udp_bound() {
  local i
  for i in $(seq 30); do
    ss -Hlun "sport = :$1" 2>/dev/null | grep -q . && return 0
    sleep 0.1
  done
  return 1
}

# step TARGET LOCAL_PORT RATE -> "achieved_cps ok failed p50_ms p99_ms"
# A SIPp UAS on UAS_PORT for this step's calls; the SIPp UAC from LOCAL_PORT sends them to
# TARGET (the pcscf, or the UAS itself for the ceiling). Failed = planned - successful, so calls
# left unfinished at SIPp's global timeout count as failed too.
step() {
  local target=$1 lport=$2 rate=$3 calls=$(($3 * SECONDS_PER_STEP)) tag="$WORKDIR/c_$1_$3" i
  timeout $((SECONDS_PER_STEP + 60)) sipp -sf "$SCEN/bench_call_uas.xml" -i 127.0.0.1 \
    -p "$UAS_PORT" -t u1 -buff_size 4194304 -m "$calls" -timeout $((SECONDS_PER_STEP + 50))s -trace_screen \
    -screen_file "$tag.uas.screen" >/dev/null 2>&1 </dev/null &
  PIDS[uas]=$!
  udp_bound "$UAS_PORT" || true
  timeout $((SECONDS_PER_STEP + 50)) sipp -sf "$SCEN/bench_call_uac.xml" -inf "$WORKDIR/call.csv" \
    -i 127.0.0.1 -p "$lport" -t u1 -buff_size 4194304 -r "$rate" -m "$calls" -l $((rate * 4 + 100)) -d "$HOLD_MS" \
    -recv_timeout 10s -timeout $((SECONDS_PER_STEP + 40))s -trace_screen \
    -screen_file "$tag.screen" -trace_logs "127.0.0.1:$target" >/dev/null 2>&1 </dev/null || true
  # the UAS ends by itself once it has seen every call; give stragglers 5 s
  for i in $(seq 50); do
    kill -0 "${PIDS[uas]}" 2>/dev/null || break
    sleep 0.1
  done
  kill -TERM "${PIDS[uas]}" 2>/dev/null || true
  wait "${PIDS[uas]}" 2>/dev/null || true
  unset "PIDS[uas]"
  # setup times in microseconds, one per answered call (see bench_call_uac.xml)
  local log lat="0 0"
  log=$(ls "$WORKDIR"/bench_call_uac_*_logs.log 2>/dev/null | head -1 || true)
  if [ -n "$log" ]; then
    lat=$(cut -d' ' -f1 "$log" | sort -n | awk '{a[NR] = $1} END {if (NR) printf "%.1f %.1f", a[int(NR * 0.5) + 1] / 1000, a[int(NR * 0.99) + 1] / 1000; else print "0 0"}')
    rm -f "$WORKDIR"/bench_call_uac_*_logs.log
  fi
  awk -F'|' -v planned="$calls" '/Call Rate/ {r=$3} /Successful call/ {s=$3}
    END {gsub(/[^0-9.]/, "", r); gsub(/[^0-9]/, "", s); printf "%s %d %d ", r+0, s+0, planned - s}' \
    "$tag.screen" 2>/dev/null || printf '0 0 %d ' "$calls"
  echo "$lat"
}

# ramp NAME TARGET LOCAL_PORT RATES: a line per step; BEST (with BEST_P50/BEST_P99) is the
# highest achieved rate of a step with < 0.1% failed calls, achieved >= 90% of the target and
# p99 <= MAX_P99; the ramp ends at the first step that misses one of these.
ramp() {
  local name=$1 target=$2 lport=$3 rate got ok failed p50 p99 cpu0
  BEST=0 BEST_P50=0 BEST_P99=0
  for rate in $4; do
    PERF_PIDS=()
    [ "$name" = ims ] && [ "$rate" = "$PERF_AT" ] && profile
    cpu0=$(cpu_snap)
    read -r got ok failed p50 p99 < <(cd "$WORKDIR" && step "$target" "$lport" "$rate")
    [ ${#PERF_PIDS[@]} -eq 0 ] || wait "${PERF_PIDS[@]}" 2>/dev/null || true
    printf '  %-10s target %5d/s  achieved %7.0f/s  ok %6d  failed %5d  p50 %6s ms  p99 %6s ms  %s\n' \
      "$name" "$rate" "$got" "$ok" "$failed" "$p50" "$p99" "$(cpu_use "$cpu0" "$(cpu_snap)")"
    [ "$ok" -gt 0 ] && [ $((failed * 1000)) -lt "$ok" ] || break
    awk -v g="$got" -v r="$rate" 'BEGIN {exit !(g < 0.9 * r)}' && break
    awk -v p="$p99" -v m="$MAX_P99" 'BEGIN {exit !(p > m)}' && break
    BEST=$(awk -v g="$got" 'BEGIN {printf "%.0f", g}')
    BEST_P50=$p50 BEST_P99=$p99
  done
}

# profile: perf on scscf and pcscf for one step, in the background (their PIDs in PERF_PIDS).
# Reports in build/perf-call-<prog>.txt (kept: the bench removes WORKDIR).
profile() {
  local p
  for p in scscf pcscf; do
    (perf record -F 499 -g -p "${PIDS[$p]}" -o "$WORKDIR/$p.perf" -- sleep "$SECONDS_PER_STEP" >/dev/null 2>&1 &&
      perf report -i "$WORKDIR/$p.perf" --no-children --percent-limit 2 --stdio 2>/dev/null |
      grep -E '^ +[0-9]' >"$BUILD/perf-call-$p.txt") </dev/null >/dev/null 2>&1 &
    PERF_PIDS+=($!)
  done
}
# cpu_snap -> "pcscf_ticks scscf_ticks machine_idle_ticks machine_total_ticks udp_rcvbuf_errors"
# (0 for a program not running); cpu_use BEFORE AFTER -> each program's CPU in % of one core, the
# machine's idle share and the UDP datagrams dropped on full receive buffers (whole machine)
cpu_snap() {
  local p
  for p in pcscf scscf; do
    if [ -n "${PIDS[$p]:-}" ]; then awk '{printf "%d ", $14 + $15}' "/proc/${PIDS[$p]}/stat"; else printf '0 '; fi
  done
  awk '/^cpu / {t = 0; for (i = 2; i <= NF; i++) t += $i; printf "%d %d ", $5 + $6, t}' /proc/stat
  awk '/^Udp:/ {n++; if (n == 1) for (i = 1; i <= NF; i++) if ($i == "RcvbufErrors") c = i; if (n == 2) print $c + 0}' /proc/net/snmp
}
cpu_use() {
  awk -v a="$1" -v b="$2" -v n="$(nproc)" 'BEGIN {
    split(a, x, " "); split(b, y, " "); t = (y[4] - x[4]) / n; if (t <= 0) t = 1
    if (y[1] > 0) printf "cpu pcscf %3.0f%% scscf %3.0f%%, ", 100 * (y[1] - x[1]) / t, 100 * (y[2] - x[2]) / t
    printf "machine idle %3.0f%%, udp drops %d", 100 * (y[3] - x[3]) / (y[4] - x[4]), y[5] - x[5] }'
}
rss() { awk '/VmRSS/ {print $2}' "/proc/${PIDS[$1]}/status"; }
hwm() { awk '/VmHWM/ {print $2}' "/proc/${PIDS[$1]}/status"; }
metric() { # API NAME: a metric's value (0 when absent)
  http_body "http://$1/metrics" | awk -v m="$2" '{k = $1; sub(/\{.*/, "", k)} k == m {v=$2} END {print v+0}'
}

echo "bench: calls, ${SECONDS_PER_STEP} s per step, hold ${HOLD_MS} ms ($(nproc) cores," \
  "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load $(cut -d' ' -f1-3 /proc/loadavg))"
echo "bench: waited $(settle) s for the registrations' transactions to expire"
declare -A before
for p in scscf pcscf; do before[$p]=$(rss $p); done
ramp ims "$PC_SIP" "$UAC_PORT" "$RATES"
ours=$BEST p50=$BEST_P50 p99=$BEST_P99
half=$((ours / 2)) half_p50=0 half_p99=0
if [ "$half" -gt 0 ]; then
  echo "bench: waited $(settle) s for the transactions of the last step to expire"
  cpu0=$(cpu_snap)
  read -r got ok half_failed half_p50 half_p99 < <(cd "$WORKDIR" && step "$PC_SIP" "$UAC_PORT" "$half")
  printf '  %-10s target %5d/s  achieved %7.0f/s  ok %6d  failed %5d  p50 %6s ms  p99 %6s ms  %s (half the best)\n' \
    ims "$half" "$got" "$ok" "$half_failed" "$half_p50" "$half_p99" "$(cpu_use "$cpu0" "$(cpu_snap)")"
fi
for p in scscf pcscf; do
  echo "bench: $p RSS ${before[$p]} KiB before the calls, $(rss $p) KiB after (peak $(hwm $p) KiB)"
done
echo "bench: scscf counted $(metric "127.0.0.1:$SC_API" cscf_calls_answered_total) answered calls;" \
  "dialogs still active at the scscf: $(metric "127.0.0.1:$SC_API" cscf_dialogs_active)"
stop_prog pcscf || true
stop_prog scscf || true
stop_prog hss || true

ramp sipp-uas "$UAS_PORT" "$(free_port)" "$CEILING_RATES"
ceiling=$BEST

echo "bench: ${ours} calls/s with < 0.1% failures (setup p50 ${p50} ms, p99 ${p99} ms; at ${half}/s" \
  "p50 ${half_p50} ms, p99 ${half_p99} ms); the SIPp UAC -> UAS ceiling is ${ceiling} calls/s" \
  "($(awk -v a="$ours" -v b="$ceiling" 'BEGIN {printf "%.0f", b ? 100 * a / b : 0}')% of it)"
PASSED=1
finish >/dev/null || true
