#!/usr/bin/env bash
# make bench: OPTIONS transactions per second that a pcscf answers over UDP, at rising SIPp rates,
# beside the same load against a SIPp UAS that answers at once (the harness ceiling), plus the
# pcscf's memory; then the registration bench (scripts/bench_register.sh), the calls bench
# (scripts/bench_call.sh), the MESSAGE bench (scripts/bench_message.sh) and the HSS's MAR
# latency by subscriber count (scripts/bench_hss.sh).
# Prints figures; pass/fail is not its business.
set -u
BUILD=${1:-build}
cd "$(dirname "$0")/.."
. tests/e2e/lib.sh
SCEN=tests/e2e/scenarios
SECONDS_PER_STEP=${BENCH_SECONDS:-4}
RATES=${BENCH_RATES:-"1000 2000 4000 6000 8000 10000 12000"}

# step TARGET_PORT RATE -> "achieved_cps successful failed"
step() {
  local port=$1 rate=$2 screen="$WORKDIR/screen_$1_$2.txt" lport
  lport=$(free_port)
  timeout $((SECONDS_PER_STEP + 20)) sipp -sf "$SCEN/options_bench.xml" -i 127.0.0.1 -p "$lport" \
    -t u1 -r "$rate" -m $((rate * SECONDS_PER_STEP)) -timeout $((SECONDS_PER_STEP + 15))s \
    -trace_screen -screen_file "$screen" "127.0.0.1:$port" >/dev/null 2>&1
  awk -F'|' '/Call Rate/ {r=$3} /Successful call/ {s=$3} /Failed call/ {f=$3}
    END {gsub(/[^0-9.]/, "", r); gsub(/[^0-9]/, "", s); gsub(/[^0-9]/, "", f); print r+0, s+0, f+0}' "$screen"
}

# ramp NAME PORT: prints a line per rate; BEST gets the highest rate with < 1% failures
ramp() {
  local name=$1 port=$2 rate got ok failed
  BEST=0
  for rate in $RATES; do
    read -r got ok failed < <(step "$port" "$rate")
    printf '  %-8s target %6d/s  achieved %8.0f/s  ok %7d  failed %6d\n' "$name" "$rate" "$got" "$ok" "$failed"
    if [ "$ok" -eq 0 ] || [ $((failed * 100)) -ge "$ok" ]; then break; fi
    BEST=$(awk -v g="$got" -v b="$BEST" 'BEGIN {printf "%.0f", (g > b ? g : b)}')
    # the harness no longer keeps up with the target: higher targets say nothing more
    awk -v g="$got" -v r="$rate" 'BEGIN {exit !(g < 0.9 * r)}' && break
  done
}

echo "bench: OPTIONS over UDP, ${SECONDS_PER_STEP} s per step ($(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'))"
uas_port=$(free_port)
timeout 600 sipp -sf "$SCEN/options_uas.xml" -i 127.0.0.1 -p "$uas_port" -t u1 -bg >/dev/null 2>&1
sleep 0.5
ramp "sipp-uas" "$uas_port"
ceiling=$BEST
pkill -f "options_uas.xml -i 127.0.0.1 -p $uas_port" 2>/dev/null

sip=$(free_port)
api=$(free_port)
start_prog pcscf "$BUILD/pcscf" config/pcscf.yaml PCSCF_SIP_LISTEN="127.0.0.1:$sip" \
  PCSCF_API_LISTEN="127.0.0.1:$api" PCSCF_LOG_LEVEL=warning || exit 1
rss_before=$(awk '/VmRSS/ {print $2}' "/proc/${PIDS[pcscf]}/status")
ramp "pcscf" "$sip"
ours=$BEST
rss_after=$(awk '/VmRSS/ {print $2}' "/proc/${PIDS[pcscf]}/status")
stop_prog pcscf

echo "bench: pcscf answers ${ours} OPTIONS/s with < 1% failures; the SIPp UAS ceiling is ${ceiling}/s" \
  "($(awk -v a="$ours" -v b="$ceiling" 'BEGIN {printf "%.0f", b ? 100 * a / b : 0}')% of it)"
echo "bench: pcscf RSS ${rss_before} KiB idle, ${rss_after} KiB after the ramp"
PASSED=1
finish >/dev/null
echo
scripts/bench_register.sh "$BUILD"
echo
scripts/bench_call.sh "$BUILD"
echo
scripts/bench_message.sh "$BUILD"
echo
scripts/bench_hss.sh "$BUILD"
