#!/usr/bin/env bash
# make bench, calls part: SIPp calls (INVITE, 180, 200, ACK, BYE, 200) through
# pcscf -> scscf -> pcscf at rising rates. Prints the highest calls/s with < 0.1% failed calls,
# p50/p99 setup time (INVITE sent to 200 received, timed by the UAC scenario in microseconds) at
# that rate and at half of it, what completes offered twice that rate, RSS of pcscf and scscf
# after the calls, and the same scenarios from a SIPp UAC
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
. scripts/bench_lib.sh
N=${BENCH_CALL_SUBSCRIBERS:-5000}
REG_RATE=${BENCH_CALL_REG_RATE:-500}
SECONDS_PER_STEP=${BENCH_CALL_SECONDS:-5}
RATES=${BENCH_CALL_RATES:-"100 200 300 400 500 600 700 800 900 1000 1200 1500 2000 2500 3000"}
CEILING_RATES=${BENCH_CALL_CEILING_RATES-"500 1000 2000 3000 4000 5000 6000 8000 10000"}
HOLD_MS=${BENCH_CALL_HOLD_MS:-0}
MAX_P99=${BENCH_CALL_MAX_P99_MS:-1000}
PERF_AT=${BENCH_CALL_PERF_RATE:-}
PERF_NAME=call- # reports in $BUILD/perf-call-{scscf,pcscf}.txt
EXPIRES=3600

# Subscribers: u1..uN in the background plus "caller" and "callee".
subscribers "$N" "$EXPIRES" caller callee
call_csv caller callee
start_hss hss HSS_API_TOKEN=$TOKEN HSS_SUBSCRIBERS_FILE="$WORKDIR/empty.yaml" \
  HSS_SUBSCRIBERS_DATABASE= HSS_LOG_LEVEL=warning HSS_AUTH_MAX_VECTORS=1 || exit 1
provision
start_core || exit 1

UAC_PORT=$(free_port) UAS_PORT=$(free_port)
start=$(date +%s)
# The background registers over TCP: over UDP the pcscf would keep each REGISTER transaction for
# Timer J (32 s), and their expiry (and the malloc_trim after it) would land in the first steps.
bg=$(register "$WORKDIR/users.csv" "$(free_port)" t1 "$REG_RATE" "$N")
echo "bench: calls through pcscf -> scscf -> pcscf; $bg of $N background subscribers provisioned" \
  "and registered with AKA in $(($(date +%s) - start)) s (expires $EXPIRES)"
[ "$(register "$WORKDIR/caller.csv" "$UAC_PORT" u1 1 1)" = 1 ] ||
  { echo "bench: the caller could not register from 127.0.0.1:$UAC_PORT"; exit 1; }
[ "$(register "$WORKDIR/callee.csv" "$UAS_PORT" u1 1 1)" = 1 ] ||
  { echo "bench: the callee could not register from 127.0.0.1:$UAS_PORT"; exit 1; }

echo "bench: calls, ${SECONDS_PER_STEP} s per step, hold ${HOLD_MS} ms ($(machine))"
echo "bench: waited $(settle) s for the registrations' transactions to expire"
declare -A before
for p in scscf pcscf; do before[$p]=$(rss $p); done
call_ramp ims "$PC_SIP" "$UAC_PORT" "$RATES"
ours=$BEST p50=$BEST_P50 p99=$BEST_P99
half=$((ours / 2)) half_p50=0 half_p99=0
if [ "$half" -gt 0 ]; then
  echo "bench: waited $(settle) s for the transactions of the last step to expire"
  cpu0=$(cpu_snap)
  read -r got ok half_failed half_p50 half_p99 < <(cd "$WORKDIR" && call_step "$PC_SIP" "$UAC_PORT" "$half")
  printf '  %-10s target %5d/s  achieved %7.0f/s  ok %6d  failed %5d  p50 %6s ms  p99 %6s ms  %s (half the best)\n' \
    ims "$half" "$got" "$ok" "$half_failed" "$half_p50" "$half_p99" "$(cpu_use "$cpu0" "$(cpu_snap)")"
fi
# Beyond the peak: one step offered at twice the best rate (what still completes, and how the
# excess went: refused with 503 at once, or left to time out).
over=""
if [ "$ours" -gt 0 ]; then
  echo "bench: waited $(settle) s for the transactions of the last step to expire"
  r0=$(refused_503) cpu0=$(cpu_snap)
  read -r got ok over_failed op50 op99 < <(cd "$WORKDIR" && call_step "$PC_SIP" "$UAC_PORT" $((ours * 2)))
  printf '  %-10s target %5d/s  achieved %7.0f/s  ok %6d  failed %5d  p50 %6s ms  p99 %6s ms  %s (twice the best)\n' \
    ims $((ours * 2)) "$got" "$ok" "$over_failed" "$op50" "$op99" "$(cpu_use "$cpu0" "$(cpu_snap)")"
  over=$(beyond_peak "$ours" "$got" "$ok" "$over_failed" $(($(refused_503) - r0)))
fi
for p in scscf pcscf; do
  echo "bench: $p RSS ${before[$p]} KiB before the calls, $(rss $p) KiB after (peak $(hwm $p) KiB)"
done
echo "bench: scscf counted $(metric "127.0.0.1:$SC_API" cscf_calls_answered_total) answered calls;" \
  "dialogs still active at the scscf: $(metric "127.0.0.1:$SC_API" cscf_dialogs_active)"
stop_prog pcscf || true
stop_prog scscf || true
stop_prog hss || true

call_ramp sipp-uas "$UAS_PORT" "$(free_port)" "$CEILING_RATES"
ceiling=$BEST

echo "bench: ${ours} calls/s with < 0.1% failures (setup p50 ${p50} ms, p99 ${p99} ms; at ${half}/s" \
  "p50 ${half_p50} ms, p99 ${half_p99} ms); the SIPp UAC -> UAS ceiling is ${ceiling} calls/s" \
  "($(awk -v a="$ours" -v b="$ceiling" 'BEGIN {printf "%.0f", b ? 100 * a / b : 0}')% of it)"
[ -z "$over" ] || echo "bench: calls beyond the peak: $over"
PASSED=1
finish >/dev/null || true
