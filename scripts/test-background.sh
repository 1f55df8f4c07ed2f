#!/usr/bin/env bash
# What make test runs in the background at nice 19 while its plain e2e scripts run
# (scripts/test-plain.sh starts it): the ASan/UBSan build and its unit tests, the fuzz
# harnesses' build, and the harnesses for FUZZ_SECONDS (3) each. The tests leave about a core
# idle, waiting on timers and sockets; this takes it instead of minutes of its own.
# - The ASan unit tests bound no wall-clock time (scripts/run-unit.sh), so running slower at
#   nice 19 changes nothing they check; their cmocka output goes to build/test-asan-unit.log.
# - libFuzzer stops on time, not on a count, so at nice 19 the harnesses run fewer inputs, not
#   longer; their lines go to build/test-fuzz.log.
# Exit status: 2 when a build fails, 1 when only a unit test or a harness failed, else 0.
# The build's output: stdout (test-plain.sh keeps it in build/test-bg-build.log).
set -u
cd "$(dirname "$0")/.." || exit 2
JOBS=${TEST_JOBS:-2}
UNIT_LOG=build/test-asan-unit.log FUZZ_LOG=build/test-fuzz.log
rm -f "$UNIT_LOG" "$FUZZ_LOG"
renice -n 19 $$ >/dev/null
make -j"$JOBS" SAN=1 test-build || exit 2
status=0
make --no-print-directory SAN=1 test-run-unit >"$UNIT_LOG" 2>&1 || status=1
make -j"$JOBS" FUZZ=1 fuzzers || exit 2
FUZZ_SECONDS=${FUZZ_SECONDS:-3} FUZZ_BUILT=1 scripts/fuzz.sh >"$FUZZ_LOG" 2>&1 || status=1
exit "$status"
