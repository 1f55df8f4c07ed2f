#!/usr/bin/env bash
# Where a registration's CPU goes (not part of make bench; docs/BENCHMARKS.md, eleventh run):
# PROFILE_RATE (500) AKA registrations/s for PROFILE_SECONDS (20) through pcscf -> scscf -> hss,
# then per program and per registration: CPU of the SIP loop thread and of the others
# (freeDiameter's, REST) from /proc/PID/task/*/stat, and the system calls by name with the
# context switches (perf stat tracepoints, which cost a little CPU themselves).
#   scripts/profile_register.sh [BUILD]
set -u
BUILD=${1:-build}
cd "$(dirname "$0")/.." || exit 2
. tests/e2e/lib.sh
. scripts/bench_lib.sh
N=10000
RATE=${PROFILE_RATE:-500}
SECS=${PROFILE_SECONDS:-20}
CALLS="epoll_wait recvfrom recvmsg sendmsg sendto ioctl getpid getsockopt setsockopt futex write
  writev read pread64 fcntl pwrite64"

subscribers "$N" 600
start_hss hss HSS_API_TOKEN=$TOKEN HSS_SUBSCRIBERS_FILE="$WORKDIR/empty.yaml" \
  HSS_SUBSCRIBERS_DATABASE="$WORKDIR/bench.db" HSS_LOG_LEVEL=warning HSS_AUTH_MAX_VECTORS=1 || exit 1
provision
start_core || exit 1
reg_scenarios
(cd "$WORKDIR" && SECONDS_PER_STEP=5 reg_step "$WORKDIR/register_rtd.xml" "$PC_SIP" "$RATE") >/dev/null # warm-up
echo "profile: waited $(settle) s for the warm-up's transactions to expire ($(machine))"

# "loop others": clock ticks of the main thread (the SIP loop) and of all the others
threads() {
  local pid=${PIDS[$1]} m=0 o=0 t v
  for t in /proc/"$pid"/task/*; do
    v=$(awk '{print $14 + $15}' "$t/stat" 2>/dev/null || echo 0)
    if [ "${t##*/}" = "$pid" ]; then m=$((m + v)); else o=$((o + v)); fi
  done
  echo "$m $o"
}
events=$(for c in $CALLS; do printf 'syscalls:sys_enter_%s,' "$c"; done)raw_syscalls:sys_enter,context-switches
declare -A m0 o0
stats=()
for p in hss scscf pcscf; do
  read -r m0[$p] o0[$p] < <(threads $p)
  perf stat -e "$events" -p "${PIDS[$p]}" -o "$WORKDIR/$p.stat" -- sleep "$SECS" >/dev/null 2>&1 &
  stats+=($!)
done
SECONDS_PER_STEP=$SECS
read -r got ok failed p50 p99 < <(cd "$WORKDIR" && reg_step "$WORKDIR/register_rtd.xml" "$PC_SIP" "$RATE")
wait "${stats[@]}" 2>/dev/null
hz=$(getconf CLK_TCK)
echo "profile: $RATE/s offered, $(printf '%.0f' "$got")/s achieved, $ok ok, $failed failed, p50 $p50 ms, p99 $p99 ms; per registration:"
for p in hss scscf pcscf; do
  read -r m o < <(threads $p)
  awk -v p="$p" -v m=$((m - m0[$p])) -v o=$((o - o0[$p])) -v n="$ok" -v hz="$hz" 'BEGIN {
    if (n) printf "  %-6s CPU: SIP loop %.3f ms, other threads %.3f ms\n", p, 1000 * m / hz / n, 1000 * o / hz / n }'
  awk -v p="$p" -v n="$ok" '/sys_enter|context-switches/ {
      gsub(",", "", $1); name = $2; sub(/^.*sys_enter_?/, "", name); if (name == "") name = "all system calls"
      if (n && $1 / n >= 0.5) line = line sprintf("%s %.1f, ", name, $1 / n) }
    END { sub(/, $/, "", line); printf "  %-6s %s\n", p, line }' "$WORKDIR/$p.stat"
done
for p in pcscf scscf hss; do stop_prog "$p"; done >/dev/null 2>&1
