#!/usr/bin/env bash
# Run every cmocka unit test binary; fail if any fails. Each prints cmocka's summary.
set -u
fail=0
for t in "$@"; do
  echo "== $t"
  "$t" || fail=1
done
exit $fail
