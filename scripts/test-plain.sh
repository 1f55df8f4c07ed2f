#!/usr/bin/env bash
# make test's plain half, once `make test-build` has built build/: the unit tests and the e2e
# scripts against build/, while scripts/test-background.sh builds the ASan/UBSan tree and runs
# its unit tests, then builds and runs the fuzz harnesses, at nice 19. The tests wait on timers
# and sockets most of the time and leave about a core idle; the background takes that instead of
# minutes of its own. What the builds print: build/test-bg-build.log.
#
# The scripts that may run two at a time (tests/e2e/run.sh E2E_PART=pool) run beside the
# background; the ones that must run alone (E2E_PART=alone) start once it has ended, so nothing
# at all runs beside them, except t_flood, which runs first (below).
set -u
cd "$(dirname "$0")/.." || exit 1
LOG=build/test-bg-build.log

# Its own process group (setsid), so an interrupted make test stops the whole build.
setsid scripts/test-background.sh >"$LOG" 2>&1 </dev/null &
bg=$!
trap 'kill -TERM -- -"$bg" 2>/dev/null' EXIT
trap 'exit 130' INT TERM

# As make would: no e2e script after a failed unit test.
make --no-print-directory test-run-unit || exit 1
status=0
# t_flood first, with nothing beside it but the background at nice 19: a task at nice 19 gets
# about 1.5% of a core that a task at nice 0 wants (CFS weights 15 and 1024), so the flood has
# the machine, and the background takes what the flood's probes and waits leave idle (most of
# its three minutes). It measures the capacity it floods at in the same conditions.
tests/e2e/run.sh build t_flood || status=1
E2E_PART=pool tests/e2e/run.sh build || status=1
start=$EPOCHREALTIME
wait "$bg"
rc=$?
trap - EXIT
echo "make test: the ASan build and unit tests, the fuzz build and runs (nice 19, beside the" \
  "tests) exit $rc; $(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.0f s", b - a}') waited for them after the pool"
if [ "$rc" -ge 2 ]; then
  tail -30 "$LOG"
  echo "make test: the ASan or fuzz build failed; see $LOG"
  exit 1
fi
echo "-- the ASan/UBSan unit tests (beside the plain e2e scripts)"
cat build/test-asan-unit.log
echo "-- the fuzz harnesses, ${FUZZ_SECONDS:-3} s each (beside the plain e2e scripts)"
cat build/test-fuzz.log
[ "$rc" -eq 0 ] || { echo "make test: an ASan unit test or a fuzz harness failed (above)"; status=1; }
E2E_EXCLUDE=t_flood E2E_PART=alone tests/e2e/run.sh build || status=1
exit "$status"
