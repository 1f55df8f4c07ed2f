#!/usr/bin/env bash
# Run every tests/e2e/t_*.sh against BUILD_DIR's binaries and print the totals as
# "N passed, N failed" on the last line.
set -u
BUILD=${1:-build}
cd "$(dirname "$0")/../.."
total_pass=0
total_fail=0
for t in tests/e2e/t_*.sh; do
  echo "== $t ($BUILD)"
  out=$(bash "$t" "$BUILD" 2>&1)
  rc=$?
  echo "$out" | grep -v '^RESULT '
  counts=$(echo "$out" | sed -n 's/^RESULT //p' | tail -1)
  if [ -z "$counts" ]; then
    echo "  FAIL $t ended without a result (exit $rc)"
    total_fail=$((total_fail + 1))
    continue
  fi
  total_pass=$((total_pass + ${counts% *}))
  total_fail=$((total_fail + ${counts#* }))
done
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
