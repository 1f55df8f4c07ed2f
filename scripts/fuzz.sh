#!/usr/bin/env bash
# make fuzz (and, for a few seconds each, make test): build every tests/fuzz/fuzz_*.c with clang's
# libFuzzer (+ ASan/UBSan) against the whole tree built the same way (make FUZZ=1 fuzzers, in
# build/fuzz), then run each for FUZZ_SECONDS (default 60), seeded with the example configs and
# tests/fuzz/seeds/*. A crash, a sanitizer report, a leak or an input that runs past 20 s fails
# the run and leaves the input in build/fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${FUZZ_SECONDS:-60}
OUT=build/fuzz
mkdir -p "$OUT"
if ! make -j2 FUZZ=1 fuzzers >"$OUT/build.log" 2>&1; then
  tail -20 "$OUT/build.log" >&2
  echo "fuzz: the harnesses do not build; see $OUT/build.log" >&2
  exit 1
fi
status=0
for h in tests/fuzz/fuzz_*.c; do
  name=$(basename "$h" .c)
  corpus="$OUT/${name}_corpus"
  mkdir -p "$corpus"
  cp config/*.yaml tests/fuzz/seeds/* "$corpus/" 2>/dev/null || true
  echo "fuzz: $name for ${SECONDS_EACH} s"
  if ! "$OUT/fuzzers/$name" -max_total_time="$SECONDS_EACH" -max_len=4096 -timeout=20 \
    -print_final_stats=1 -artifact_prefix="$OUT/${name}-" "$corpus" 2>"$OUT/$name.log"; then
    echo "fuzz: $name FAILED; see $OUT/$name.log and $OUT/${name}-*" >&2
    grep -m3 -E 'ERROR|SUMMARY' "$OUT/$name.log" | sed 's/^/  /' >&2 || true
    status=1
  fi
  grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "$OUT/$name.log" | sed 's/^/  /' || true
done
exit $status
