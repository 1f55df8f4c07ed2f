#!/usr/bin/env bash
# Run every cmocka unit test binary; fail if any fails. Each prints cmocka's summary under a
# line "== BINARY", once it has ended.
#
# Two at a time (UNIT_JOBS, default 2; 1 runs them one after the other): each binary takes its
# ports from test_port.h (seeded per process) and its files from mkstemp/its own names, and
# none bounds a wall-clock time that a neighbour could break. The slowest start first.
set -u
JOBS=${UNIT_JOBS:-2}
[[ "$JOBS" =~ ^[1-9][0-9]*$ ]] || JOBS=2
((BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1] >= 501)) || JOBS=1 # wait -n -p
FIRST="test_store_contract test_store_redis test_regevent test_store_codec test_hss_db test_api"
OUT=$(mktemp -d "${TMPDIR:-/tmp}/cscf-unit.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
declare -A RUNNING=() # pid -> binary
fail=0

ordered=()
for n in $FIRST; do
  for t in "$@"; do [ "$(basename "$t")" = "$n" ] && ordered+=("$t"); done
done
for t in "$@"; do [[ " $FIRST " == *" $(basename "$t") "* ]] || ordered+=("$t"); done

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
  echo "== ${RUNNING[$pid]}"
  cat "$OUT/$(basename "${RUNNING[$pid]}").out"
  [ "$rc" -eq 0 ] || fail=1
  unset "RUNNING[$pid]"
}

for t in "${ordered[@]}"; do
  [ "${#RUNNING[@]}" -lt "$JOBS" ] || reap
  "$t" >"$OUT/$(basename "$t").out" 2>&1 &
  RUNNING[$!]=$t
done
while [ "${#RUNNING[@]}" -gt 0 ]; do reap; done
exit $fail
