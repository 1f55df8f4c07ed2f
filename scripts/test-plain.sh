#!/usr/bin/env bash
# make test's plain half, once `make test-build` has built build/: the unit tests and the e2e
# scripts against build/, while the ASan/UBSan build (make SAN=1 test-build) and the fuzz
# harnesses' build (make FUZZ=1 fuzzers) compile in the background at nice 19, and then the
# harnesses run (make test's short fuzz). The tests wait on timers and sockets most of the time
# and leave about a core idle; the builds take that instead of a few minutes of their own. What
# the builds print: build/test-bg-build.log; the fuzz runs: build/test-fuzz.log.
#
# The scripts that may run two at a time (tests/e2e/run.sh E2E_PART=pool) run beside the
# builds; the ones that must run alone (E2E_PART=alone) start once the builds have ended, so
# nothing at all runs beside them.
set -u
cd "$(dirname "$0")/.." || exit 1
JOBS=${TEST_JOBS:-2}
LOG=build/test-bg-build.log

# Its own process group (setsid), so an interrupted make test stops the whole build.
# The fuzz harnesses then run there too, a few seconds each (FUZZ_SECONDS): libFuzzer stops on
# time, not on a count, so at nice 19 they run fewer inputs, not longer; what they print goes
# to FUZZ_LOG and is shown below once they are done.
FUZZ_LOG=build/test-fuzz.log
rm -f "$FUZZ_LOG"
setsid bash -c "nice -n 19 make -j$JOBS SAN=1 test-build && nice -n 19 make -j$JOBS FUZZ=1 fuzzers &&
  { FUZZ_SECONDS=${FUZZ_SECONDS:-3} FUZZ_BUILT=1 nice -n 19 scripts/fuzz.sh >$FUZZ_LOG 2>&1 || echo fuzz-failed >>$LOG; }" \
  >"$LOG" 2>&1 </dev/null &
bg=$!
trap 'kill -TERM -- -"$bg" 2>/dev/null' EXIT
trap 'exit 130' INT TERM

# As make would: no e2e script after a failed unit test.
make --no-print-directory test-run-unit || exit 1
status=0
E2E_PART=pool tests/e2e/run.sh build || status=1
start=$EPOCHREALTIME
wait "$bg"
rc=$?
trap - EXIT
echo "make test: the ASan and fuzz builds and the fuzz runs (nice 19, beside the tests) exit $rc;" \
  "$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.0f s", b - a}') waited for them after the pool"
if [ "$rc" -ne 0 ]; then
  tail -30 "$LOG"
  echo "make test: the ASan or fuzz build failed; see $LOG"
  exit 1
fi
cat "$FUZZ_LOG"
if grep -qx fuzz-failed "$LOG"; then
  echo "make test: a fuzz harness failed (above)"
  status=1
fi
E2E_PART=alone tests/e2e/run.sh build || status=1
exit "$status"
