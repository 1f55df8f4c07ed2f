#!/usr/bin/env bash
# make bench, MESSAGE part: page-mode MESSAGEs (RFC 3428) from a registered handset to another
# through pcscf -> scscf -> pcscf at rising SIPp rates. Prints the highest rate with < 1%
# failures, p50/p99 (MESSAGE sent -> 200 received) at that rate, then one step offered at twice
# that rate (is the best still achieved, and is the excess refused at once with 503 rather than
# timed out?), and the same UAC straight to a SIPp UAS (the harness ceiling), measured in the
# same run. Figures only.
#
# As in bench_call.sh, the sender is registered from the port the SIPp UAC then sends from and
# the recipient from the port the SIPp UAS listens on (the pcscf delivers to the flow a UE
# registered from); BENCH_MESSAGE_SUBSCRIBERS others are registered first.
#
# The step at twice the best lasts BENCH_MESSAGE_OVER_SECONDS (30): its first seconds are the
# admission controller settling, and what an operator lives with is the overload that lasts.
#
# Environment: BENCH_MESSAGE_SUBSCRIBERS (default 2000), BENCH_MESSAGE_SECONDS (per step, 5),
# BENCH_MESSAGE_OVER_SECONDS (the step at twice the best, 30),
# BENCH_MESSAGE_RATES, BENCH_MESSAGE_CEILING_RATES (an empty list skips the ceiling),
# BENCH_MESSAGE_PERF_RATE (a rate of the ramp, or "over" for the step at twice the best: perf on
# pcscf and scscf, reports in build/perf-message-<prog>.txt), BENCH_CORE_TRANSPORT (pcscf -> scscf,
# tcp by default).
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
. tests/e2e/lib.sh
trap 'set +e; cleanup' EXIT
. scripts/bench_lib.sh
N=${BENCH_MESSAGE_SUBSCRIBERS:-2000}
SECONDS_PER_STEP=${BENCH_MESSAGE_SECONDS:-5}
OVER_SECONDS=${BENCH_MESSAGE_OVER_SECONDS:-30}
RATES=${BENCH_MESSAGE_RATES:-"500 1000 1500 2000 2500 3000 4000 5000 6000 8000"}
CEILING_RATES=${BENCH_MESSAGE_CEILING_RATES-"2000 4000 6000 8000 10000 12000 15000"}
PERF_AT=${BENCH_MESSAGE_PERF_RATE:-} # a rate, or "over": perf on scscf and pcscf during that step
PERF_NAME=message-                   # reports in $BUILD/perf-message-{scscf,pcscf}.txt

subscribers "$N" 3600 sender recipient
printf 'SEQUENTIAL\nsender;sip:recipient@%s;%s;text/plain;bench\n' "$DOMAIN" "$DOMAIN" >"$WORKDIR/message.csv"
# A 503 is an unexpected message to this scenario: SIPp ends that call as failed.
sed -e 's/<send retrans="500">/<send retrans="500" start_rtd="msg">/' \
  -e 's|<recv response="200"/>|<recv response="200" rtd="msg"/>|' \
  "$SCEN/message_uac.xml" >"$WORKDIR/message_rtd.xml"
start_hss hss HSS_API_TOKEN=$TOKEN HSS_SUBSCRIBERS_FILE="$WORKDIR/empty.yaml" \
  HSS_SUBSCRIBERS_DATABASE= HSS_LOG_LEVEL=warning HSS_AUTH_MAX_VECTORS=1 || exit 1
provision
start_core || exit 1
UAC_PORT=$(free_port) UAS_PORT=$(free_port)
bg=$(register "$WORKDIR/users.csv" "$(free_port)" t1 500 "$N")
[ "$(register "$WORKDIR/sender.csv" "$UAC_PORT" u1 1 1)" = 1 ] ||
  { echo "bench: the sender could not register from 127.0.0.1:$UAC_PORT"; exit 1; }
[ "$(register "$WORKDIR/recipient.csv" "$UAS_PORT" u1 1 1)" = 1 ] ||
  { echo "bench: the recipient could not register from 127.0.0.1:$UAS_PORT"; exit 1; }
echo "bench: MESSAGE through pcscf -> scscf -> pcscf, ${SECONDS_PER_STEP} s per step; $bg of $N" \
  "background subscribers registered ($(machine))"
echo "bench: waited $(settle) s for the registrations' transactions to expire"

# msg_step TARGET RATE -> "achieved ok failed p50 p99": a SIPp UAS on UAS_PORT takes the step's
# MESSAGEs; the UAC sends them from UAC_PORT to TARGET. Failed = sent - answered 200.
msg_step() {
  local target=$1 rate=$2 n=$(($2 * SECONDS_PER_STEP)) tag="$WORKDIR/m_$1_$2" i rtt lat="0 0"
  timeout $((SECONDS_PER_STEP + 60)) sipp -sf "$SCEN/message_uas.xml" -i 127.0.0.1 -p "$UAS_PORT" \
    -t u1 -buff_size 4194304 -timeout $((SECONDS_PER_STEP + 50))s >/dev/null 2>&1 </dev/null &
  PIDS[uas]=$!
  wait_for 3 port_bound udp "$UAS_PORT" || true
  timeout $((SECONDS_PER_STEP + 50)) sipp -sf "$WORKDIR/message_rtd.xml" -inf "$WORKDIR/message.csv" \
    -i 127.0.0.1 -p "$UAC_PORT" -t u1 -buff_size 4194304 -r "$rate" -m "$n" -l $((rate * 4 + 100)) \
    -recv_timeout 10s -timeout $((SECONDS_PER_STEP + 40))s -trace_screen -screen_file "$tag.screen" \
    -trace_rtt -rtt_freq 1 "127.0.0.1:$target" >/dev/null 2>&1 </dev/null || true
  kill -TERM "${PIDS[uas]}" 2>/dev/null || true
  wait "${PIDS[uas]}" 2>/dev/null || true
  unset "PIDS[uas]"
  rtt=$(ls "$WORKDIR"/*_rtt.csv 2>/dev/null | head -1 || true)
  if [ -n "$rtt" ]; then
    lat=$(awk -F';' 'NR > 1 {print $2}' "$rtt" | percentiles)
    rm -f "$WORKDIR"/*_rtt.csv
  fi
  local got ok
  read -r got ok _ < <(screen_counts "$tag.screen")
  echo "$got $ok $((n - ok)) $lat"
}

# msg_ramp NAME TARGET RATES: a line per step; BEST as bench_lib's ramps (< 1% failed).
msg_ramp() {
  local name=$1 target=$2 rate got ok failed p50 p99 cpu0
  BEST=0 BEST_P50=0 BEST_P99=0
  for rate in $3; do
    PERF_PIDS=()
    [ "$name" = ims ] && [ "$rate" = "${PERF_AT:-}" ] && profile
    cpu0=$(cpu_snap)
    read -r got ok failed p50 p99 < <(cd "$WORKDIR" && msg_step "$target" "$rate")
    [ ${#PERF_PIDS[@]} -eq 0 ] || wait "${PERF_PIDS[@]}" 2>/dev/null || true
    printf '  %-10s target %5d/s  achieved %7.0f/s  ok %6d  failed %5d  p50 %6s ms  p99 %6s ms  %s\n' \
      "$name" "$rate" "$got" "$ok" "$failed" "$p50" "$p99" "$(cpu_use "$cpu0" "$(cpu_snap)")"
    [ "$ok" -gt 0 ] && [ $((failed * 100)) -lt "$ok" ] || break
    ramp_best "$rate" "$got" "$p50" "$p99" || break
  done
}

msg_ramp ims "$PC_SIP" "$RATES"
ours=$BEST p50=$BEST_P50 p99=$BEST_P99
over=""
if [ "$ours" -gt 0 ]; then
  echo "bench: waited $(settle) s for the transactions of the ramp to expire"
  PERF_PIDS=()
  [ "${PERF_AT:-}" = over ] && profile
  r0=$(refused_503) cpu0=$(cpu_snap)
  read -r got ok failed op50 op99 < <(cd "$WORKDIR" && SECONDS_PER_STEP=$OVER_SECONDS msg_step "$PC_SIP" $((ours * 2)))
  [ ${#PERF_PIDS[@]} -eq 0 ] || wait "${PERF_PIDS[@]}" 2>/dev/null || true
  r1=$(refused_503)
  printf '  %-10s target %5d/s  achieved %7.0f/s  ok %6d  failed %5d  p50 %6s ms  p99 %6s ms  %s (twice the best)\n' \
    ims $((ours * 2)) "$got" "$ok" "$failed" "$op50" "$op99" "$(cpu_use "$cpu0" "$(cpu_snap)") ($OVER_SECONDS s)"
  over=$(beyond_peak "$ours" "$got" "$ok" "$failed" $((r1 - r0)))
fi
echo "bench: pcscf RSS $(rss pcscf) KiB after the MESSAGEs (peak $(hwm pcscf) KiB); scscf $(rss scscf) KiB (peak $(hwm scscf) KiB)"
stop_prog pcscf || true
stop_prog scscf || true
stop_prog hss || true

ceiling=0
if [ -n "$CEILING_RATES" ]; then
  msg_ramp sipp-uas "$UAS_PORT" "$CEILING_RATES"
  ceiling=$BEST
fi
echo "bench: ${ours} MESSAGE/s with < 1% failures (p50 ${p50} ms, p99 ${p99} ms); the SIPp UAC -> UAS" \
  "ceiling is ${ceiling}/s ($(awk -v a="$ours" -v b="$ceiling" 'BEGIN {printf "%.0f", b ? 100 * a / b : 0}')% of it)"
[ -z "$over" ] || echo "bench: MESSAGE beyond the peak: $over"
PASSED=1
finish >/dev/null || true
