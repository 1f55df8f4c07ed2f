#!/usr/bin/env bash
# make fuzz (and, for a few seconds each, make test): build every tests/fuzz/fuzz_*.c with clang's
# libFuzzer (+ ASan/UBSan) against the whole tree built the same way (make FUZZ=1 fuzzers, in
# build/fuzz), then run each for FUZZ_SECONDS (default 60), seeded with the example configs and
# tests/fuzz/seeds/*. A crash, a sanitizer report, a leak or an input that runs past 20 s fails
# the run and leaves the input in build/fuzz/.
#
# Two harnesses at a time (FUZZ_JOBS, default 2: each is one process on one core, and each
# still gets its FUZZ_SECONDS); their lines are printed in order. FUZZ_BUILT=1 (make test,
# which built them beside its plain e2e scripts) skips the build: a make that builds anything
# makes version.o anew and links every harness again.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${FUZZ_SECONDS:-60}
JOBS=${FUZZ_JOBS:-2}
[[ "$JOBS" =~ ^[1-9][0-9]*$ ]] || JOBS=2
OUT=build/fuzz
mkdir -p "$OUT"
if [ -z "${FUZZ_BUILT:-}" ] && ! make -j2 FUZZ=1 fuzzers >"$OUT/build.log" 2>&1; then
  tail -20 "$OUT/build.log" >&2
  echo "fuzz: the harnesses do not build; see $OUT/build.log" >&2
  exit 1
fi
# run NAME: one harness on its corpus; its lines in $OUT/NAME.out and .err, its status as exit status
run() {
  local name=$1 corpus="$OUT/${1}_corpus"
  mkdir -p "$corpus"
  cp config/*.yaml tests/fuzz/seeds/* "$corpus/" 2>/dev/null || true
  echo "fuzz: $name for ${SECONDS_EACH} s" >"$OUT/$name.out"
  : >"$OUT/$name.err"
  local rc=0
  "$OUT/fuzzers/$name" -max_total_time="$SECONDS_EACH" -max_len=4096 -timeout=20 \
    -print_final_stats=1 -artifact_prefix="$OUT/${name}-" "$corpus" 2>"$OUT/$name.log" || rc=1
  if [ "$rc" -ne 0 ]; then
    echo "fuzz: $name FAILED; see $OUT/$name.log and $OUT/${name}-*" >>"$OUT/$name.err"
    grep -m3 -E 'ERROR|SUMMARY' "$OUT/$name.log" | sed 's/^/  /' >>"$OUT/$name.err" || true
  fi
  grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "$OUT/$name.log" | sed 's/^/  /' >>"$OUT/$name.out" || true
  return "$rc"
}
status=0
names=()
for h in tests/fuzz/fuzz_*.c; do names+=("$(basename "$h" .c)"); done
# In batches of JOBS (every harness runs the same time, so a batch ends together).
for ((i = 0; i < ${#names[@]}; i += JOBS)); do
  pids=()
  for name in "${names[@]:i:JOBS}"; do
    run "$name" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || status=1; done
  for name in "${names[@]:i:JOBS}"; do
    cat "$OUT/$name.out"
    cat "$OUT/$name.err" >&2
  done
done
exit $status
