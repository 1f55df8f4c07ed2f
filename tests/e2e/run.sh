#!/usr/bin/env bash
# tests/e2e/run.sh [BUILD_DIR [t_NAME...]]
# Run every tests/e2e/t_*.sh (or the ones named) against BUILD_DIR's binaries and print the
# totals as "N passed, N failed" on the last line. Each script's lines come under a header
# with its wall-clock time, "== tests/e2e/t_x.sh (build) 12.3 s", when it ends.
#
# Two scripts run at a time (E2E_JOBS, default 2; E2E_JOBS=1 runs them one after the other):
# every script has its own $WORKDIR and takes its ports from lib.sh's free_port, which reserves
# each port for the whole machine, so two scripts never share one.
#
# A script runs ALONE (nothing else of the suite beside it) when it loads the machine on purpose
# or when a check bounds a wall-clock time that another script's load could break (floods, an
# avalanche, back-off timings, request timeouts measured in ms). Say so by listing it in SERIAL
# below, or by a line "# e2e: alone" near the top of the script itself. When in doubt, alone.
#
# E2E_PART=pool runs only the scripts that may run two at a time, E2E_PART=alone only the
# others (default: both, the alone ones first). make test runs the plain build's pool while the
# ASan and fuzz builds compile at nice 19 on the cores the scripts leave idle, and its alone
# scripts only once those builds have ended (Makefile, test).
#
# E2E_EXCLUDE="t_a t_b" leaves those out (make test runs t_flood before the pool and leaves it
# out of the alone part, scripts/test-plain.sh).
#
# E2E_SKIP_ONCE=1 also leaves out the scripts marked "# e2e: plain": they measure the plain
# build under load (t_flood.sh: a 60 s flood at twice the capacity it measures, and RSS), which a
# sanitizer build several times slower and with its own allocator does not show; run by hand
# against build/asan they still work (a shorter flood, no memory check).
#
# E2E_SKIP_ONCE=1 leaves out the scripts marked "# e2e: once": they read documents and the
# Makefile only (no program of ours runs), so their result cannot differ between builds and
# make test runs them in its plain build only, not again under ASan.
set -u
BUILD=${1:-build}
cd "$(dirname "$0")/../.." || exit 1

SERIAL="t_auth_flood t_avalanche t_cx t_flood t_hss_failover t_limits t_listeners
  t_mutation"
# The longest of the others start first, so the pool does not end on one long script.
START_FIRST="t_ipsec t_openapi t_rfc4475 t_k8s t_register t_icscf t_proxy"

JOBS=${E2E_JOBS:-2}
[[ "$JOBS" =~ ^[1-9][0-9]*$ ]] || JOBS=2
[ "$(nproc 2>/dev/null || echo 1)" -ge 2 ] || JOBS=1
# wait -n -p (bash 5.1) tells which script ended; an older bash runs them one at a time.
((BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1] >= 501)) || JOBS=1
OUT=$(mktemp -d "${TMPDIR:-/tmp}/cscf-e2e-run.XXXXXX")
declare -A RUNNING=() # pid -> script
total_pass=0
total_fail=0
suite_start=$EPOCHREALTIME

in_list() { # NAME WORDS...: 0 when NAME is one of the words
  local w
  for w in "${@:2}"; do [ "$w" = "$1" ] && return 0; done
  return 1
}
alone() { # SCRIPT: 0 when it must run alone
  # shellcheck disable=SC2086 # the lists are words
  in_list "$(basename "$1" .sh)" $SERIAL || head -20 "$1" | grep -q '^# e2e: alone'
}
once() { head -20 "$1" | grep -q '^# e2e: once'; } # SCRIPT: 0 when its result is build-free
plain_only() { head -20 "$1" | grep -q '^# e2e: plain'; } # SCRIPT: 0 when it measures the plain build

# The scripts run in the background, where bash would have them ignore SIGINT (and SIGINT is
# how t_ipsec and t_cx stop tshark): env gives it back its default action.
start() { # SCRIPT
  local name
  name=$(basename "$1" .sh)
  echo "$EPOCHREALTIME" >"$OUT/$name.start"
  env --default-signal=INT,QUIT bash "$1" "$BUILD" >"$OUT/$name.out" 2>&1 </dev/null &
  RUNNING[$!]=$1
}

report() { # SCRIPT EXIT-STATUS: its lines under the header, its counts into the totals
  local t=$1 rc=$2 name counts start
  name=$(basename "$t" .sh)
  start=$(cat "$OUT/$name.start")
  echo "== $t ($BUILD) $(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f s", b - a}')"
  grep -v '^RESULT ' "$OUT/$name.out"
  counts=$(sed -n 's/^RESULT //p' "$OUT/$name.out" | tail -1)
  if [ -z "$counts" ]; then
    echo "  FAIL $t ended without a result (exit $rc)"
    total_fail=$((total_fail + 1))
    return
  fi
  total_pass=$((total_pass + ${counts% *}))
  total_fail=$((total_fail + ${counts#* }))
}

# reap: wait until one running script ends, then report it.
reap() {
  local pid rc
  if [ "$JOBS" -gt 1 ]; then
    wait -n -p pid "${!RUNNING[@]}"
    rc=$?
  else
    pid=${!RUNNING[*]}
    wait "$pid"
    rc=$?
  fi
  report "${RUNNING[$pid]}" "$rc"
  unset "RUNNING[$pid]"
}

stop_all() { # on SIGINT/SIGTERM: the scripts' own EXIT traps stop their programs
  local pid
  for pid in "${!RUNNING[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  wait
  rm -rf "$OUT"
  exit 130
}
trap stop_all INT TERM

solo=() pool=() skipped=()
scripts=(tests/e2e/t_*.sh)
if [ $# -gt 1 ]; then
  scripts=()
  for n in "${@:2}"; do scripts+=("tests/e2e/$(basename "$n" .sh).sh"); done
fi
PART=${E2E_PART:-all}
for t in "${scripts[@]}"; do
  # shellcheck disable=SC2086 # the list is words
  if in_list "$(basename "$t" .sh)" ${E2E_EXCLUDE:-}; then
    continue
  elif [ -n "${E2E_SKIP_ONCE:-}" ] && { once "$t" || plain_only "$t"; }; then
    skipped+=("$(basename "$t" .sh)")
  elif alone "$t"; then
    [ "$PART" = pool ] || solo+=("$t")
  else
    [ "$PART" = alone ] || pool+=("$t")
  fi
done
[ "${#skipped[@]}" -eq 0 ] ||
  echo "e2e ($BUILD): not run again (marked '# e2e: once' or '# e2e: plain'; run in the plain build): ${skipped[*]}"
ordered=()
for n in $START_FIRST; do
  for t in "${pool[@]}"; do [ "$(basename "$t" .sh)" = "$n" ] && ordered+=("$t"); done
done
# shellcheck disable=SC2086 # the list is words
for t in "${pool[@]}"; do in_list "$(basename "$t" .sh)" $START_FIRST || ordered+=("$t"); done

for t in "${solo[@]}"; do
  start "$t"
  reap
done
for t in "${ordered[@]}"; do
  [ "${#RUNNING[@]}" -lt "$JOBS" ] || reap
  start "$t"
done
while [ "${#RUNNING[@]}" -gt 0 ]; do reap; done
rm -rf "$OUT"

wall=$(awk -v a="$suite_start" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.0f s", b - a}')
echo "e2e ($BUILD${E2E_PART:+, $E2E_PART}): $wall wall clock, ${#solo[@]} scripts alone, ${#ordered[@]} up to $JOBS at a time"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
