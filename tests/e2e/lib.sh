# Helpers sourced by every tests/e2e/t_*.sh: free ports, processes started and stopped by PID,
# pass/fail counting. Every wait is bounded in time.
# shellcheck shell=bash

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$E2E_DIR/../.." && pwd)
DATA_DIR="$REPO_DIR/tests/data" # published test data (tests/data/README.md)
WORKDIR=$(mktemp -d "${TMPDIR:-/tmp}/cscf-e2e.XXXXXX")
PASSED=0
FAILED=0
LAST_EXIT=
declare -A PIDS=()
# Under ASan: leaks inside libraries we cannot fix are listed (with the reason) in this file.
export LSAN_OPTIONS="suppressions=$REPO_DIR/tests/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export ASAN_OPTIONS="suppressions=$REPO_DIR/tests/asan.supp${ASAN_OPTIONS:+:$ASAN_OPTIONS}"

# sipsend ARGS...: tests/tools/sipsend, the harness's sender of raw bytes. Its sanitizer build
# checks nothing of ours and costs 80 ms of CPU a start against 15 ms (t_rfc4475 starts it
# about 300 times), so the plain build's is used when there is one (E2E_SIPSEND: another).
sipsend() {
  local t=${E2E_SIPSEND:-$REPO_DIR/build/tools/sipsend}
  [ -x "$t" ] || t=$BUILD/tools/sipsend
  "$t" "$@"
}

pass() {
  PASSED=$((PASSED + 1))
  echo "  ok   $1"
}

fail() {
  FAILED=$((FAILED + 1))
  echo "  FAIL $1${2:+ ($2)}"
}

expect_eq() { # desc expected actual
  if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "expected '$2', got '$3'"; fi
}

# sipp_story FILE [LOGS...]: what a SIPp -trace_msg file shows (the time and first line of each
# message sent and received), then the log lines of the named programs that carry its Call-ID:
# printed when a call fails, since CI keeps no work directory.
sipp_story() {
  local f=$1 cid
  shift
  [ -f "$f" ] || { echo "       (no $f)"; return 0; }
  awk '/^-+ [0-9-]+ [0-9:.]+$/ {t = $3; getline; d = $1 " " $3; getline; getline; print "       " t " " d " " $0}' "$f" |
    tr -d '\r' | head -20
  cid=$(grep -a -m1 -i '^Call-ID:' "$f" | awk '{print $2}' | tr -d '\r')
  [ -n "$cid" ] || return 0
  local n
  for n in "$@"; do
    grep -a -F "$cid" "$WORKDIR/$n.log" 2>/dev/null | cut -c1-220 | head -10 | sed "s/^/       $n: /"
  done
}

expect_match() { # desc extended-regex text (multi-line text is searched line by line)
  if grep -Eq -- "$2" <<<"$3"; then pass "$1"; else fail "$1" "no line matches /$2/"; fi
}

expect_no_match() {
  if grep -Eq -- "$2" <<<"$3"; then fail "$1" "a line matches /$2/"; else pass "$1"; fi
}

# A port free for both TCP and UDP on 127.0.0.1. Ports come from below the kernel's ephemeral
# range (32768+), so client sockets never take them. Each is reserved with an atomic mkdir in
# one folder for the whole machine (PORT_DIR), so scripts running at the same time (run.sh runs
# two) never get the same one, even before its program has bound it. The reservation holds
# the script's PID and is removed by cleanup(); one left by a script that was killed is taken
# back once that PID is gone and the reservation is a minute old.
PORT_DIR="${TMPDIR:-/tmp}/cscf-e2e-ports-$(id -u)"
free_port() {
  local port tries=0 owner
  mkdir -p "$PORT_DIR"
  while [ $tries -lt 200 ]; do
    tries=$((tries + 1))
    port=$((20000 + RANDOM % 12700))
    if ! mkdir "$PORT_DIR/$port" 2>/dev/null; then
      owner=$(cat "$PORT_DIR/$port/pid" 2>/dev/null)
      if [ -z "$owner" ] || [ -d "/proc/$owner" ] ||
        [ -z "$(find "$PORT_DIR/$port" -maxdepth 0 -mmin +1 2>/dev/null)" ] ||
        ! mv "$PORT_DIR/$port" "$PORT_DIR/$port.stale.$$" 2>/dev/null; then
        continue # held, or just taken back by another script
      fi
      rm -rf "$PORT_DIR/$port.stale.$$"
      mkdir "$PORT_DIR/$port" 2>/dev/null || continue
    fi
    echo $$ >"$PORT_DIR/$port/pid" # $$: the script, also inside $(free_port)
    echo "$port" >>"$WORKDIR/ports"
    if ! ss -Hltun 2>/dev/null | awk '{print $5}' | grep -Eq "[:.]$port\$"; then
      echo "$port"
      return 0
    fi
  done
  echo "free_port: no free port found" >&2
  return 1
}

# host_addr: an IPv4 address of this host other than loopback (to call our servers from a
# "remote" source without a second host), or nothing.
host_addr() {
  ip -4 -o addr show scope global 2>/dev/null | awk '{sub(/\/.*/, "", $4); print $4; exit}'
}

http_code() { # URL [curl args...]
  local url=$1
  shift
  curl -s -o /dev/null -w '%{http_code}' -m 3 "$@" "$url"
}

http_body() {
  local url=$1
  shift
  curl -s -m 3 "$@" "$url"
}

# start_prog NAME BIN CONFIG [VAR=VALUE...]: the program's REST must answer /healthz within 5 s.
# The REST port is read from the *_API_LISTEN variable among the VAR=VALUEs.
start_prog() {
  local name=$1 bin=$2 config=$3
  shift 3
  local api
  api=$(printf '%s\n' "$@" | sed -n 's/^[A-Z]*_API_LISTEN=//p' | head -1)
  # E2E_LOG_LEVEL (make test-asan: debug) so the sanitizers also see what debug lines touch.
  local level=()
  if [ -n "${E2E_LOG_LEVEL:-}" ] && ! printf '%s\n' "$@" | grep -q '^[A-Z]*_LOG_LEVEL='; then
    local prefix
    prefix=$(basename "$bin" | tr '[:lower:]' '[:upper:]')
    level=("${prefix}_LOG_LEVEL=$E2E_LOG_LEVEL")
  fi
  env "${level[@]}" "$@" "$bin" -c "$config" 2>>"$WORKDIR/$name.log" &
  PIDS[$name]=$!
  local i
  for i in $(seq 50); do
    if [ -n "$api" ] && [ "$(http_code "http://$api/healthz")" = 200 ]; then
      return 0
    fi
    kill -0 "${PIDS[$name]}" 2>/dev/null || break
    sleep 0.1
  done
  fail "$name starts and answers /healthz" "see $WORKDIR/$name.log"
  tail -5 "$WORKDIR/$name.log" | sed 's/^/       /'
  return 1
}

# wait_http API PATH CODE SECONDS: poll until the path answers CODE; 0 when it did.
wait_http() {
  local api=$1 path=$2 code=$3 i
  for i in $(seq $(($4 * 10))); do
    [ "$(http_code "http://$api$path")" = "$code" ] && return 0
    sleep 0.1
  done
  return 1
}

HSS_ID=hss.ims.mnc001.mcc001.3gppnetwork.org
# start_hss NAME [VAR=VALUE...]: a lab HSS on free ports with config/subscribers.yaml and its
# state in $WORKDIR. Sets HSS_DIAM and HSS_API; scscf_diameter_env then points an scscf at it.
start_hss() {
  local name=$1
  shift
  HSS_DIAM=$(free_port) HSS_API=$(free_port)
  start_prog "$name" "$BUILD/hss" "$REPO_DIR/config/hss.yaml" \
    HSS_DIAMETER_LISTEN="127.0.0.1:$HSS_DIAM" HSS_API_LISTEN="127.0.0.1:$HSS_API" \
    HSS_SUBSCRIBERS_FILE="$REPO_DIR/config/subscribers.yaml" \
    HSS_SUBSCRIBERS_DATABASE="$WORKDIR/$name.db" HSS_AUTH_SIPP_COMPAT=true "$@"
}

# The environment for an scscf whose Cx peer is the last start_hss.
scscf_diameter_env() {
  echo "SCSCF_DIAMETER_LISTEN=127.0.0.1:$(free_port)"
  echo "SCSCF_DIAMETER_PEERS=$HSS_ID@127.0.0.1:$HSS_DIAM"
}

# stop_prog NAME [SIGNAL]: signal, wait up to 10 s, then SIGKILL. Exit status in LAST_EXIT.
stop_prog() {
  local name=$1 sig=${2:-TERM} pid=${PIDS[$1]:-}
  LAST_EXIT=
  [ -n "$pid" ] || return 0
  kill "-$sig" "$pid" 2>/dev/null
  local i
  for i in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null
    fail "$name exits within 10 s of SIG$sig"
  fi
  wait "$pid" 2>/dev/null
  LAST_EXIT=$?
  unset "PIDS[$name]"
}

# wait_exit NAME SECONDS: wait (without signalling) for the process to end; LAST_EXIT is its
# status, or empty when it was still running (it is then killed).
wait_exit() {
  local name=$1 pid=${PIDS[$1]:-} i
  LAST_EXIT=
  [ -n "$pid" ] || return 0
  for i in $(seq $(($2 * 10))); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  else
    wait "$pid" 2>/dev/null
    LAST_EXIT=$?
  fi
  unset "PIDS[$name]"
}

prog_alive() {
  local pid=${PIDS[$1]:-}
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# Sanitizer builds report leaks and errors on stderr, mostly at exit.
expect_clean_log() { # desc NAME
  local log="$WORKDIR/$2.log"
  expect_no_match "$1" 'ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:' "$(cat "$log" 2>/dev/null)"
}

# stop_clean NAME...: stop each program (SIGTERM, as stop_prog) and check it exited 0 with no
# sanitizer report in its log: how a test ends its programs.
stop_clean() {
  local p
  for p in "$@"; do
    stop_prog "$p"
    expect_eq "$p exits 0" 0 "$LAST_EXIT"
    expect_clean_log "$p: no sanitizer report" "$p"
  done
}

cleanup() {
  local name
  for name in "${!PIDS[@]}"; do
    kill -KILL "${PIDS[$name]}" 2>/dev/null
  done
  local port
  if [ -f "$WORKDIR/ports" ]; then
    while read -r port; do
      rm -rf "${PORT_DIR:?}/$port"
    done <"$WORKDIR/ports"
  fi
  if [ "$FAILED" -eq 0 ] && [ -z "${E2E_KEEP:-}" ]; then
    rm -rf "$WORKDIR"
  else
    echo "  (logs kept in $WORKDIR)" # E2E_KEEP=1 keeps them after a pass too
  fi
}
trap cleanup EXIT

# Every test script ends with this: the counts for run.sh, and the exit status.
finish() {
  echo "RESULT $PASSED $FAILED"
  [ "$FAILED" -eq 0 ]
}

# ---- bounded waits on events (instead of fixed sleeps) ----

# wait_for SECONDS COMMAND...: runs COMMAND every 0.1 s until it succeeds (returns 0), or
# returns 1 once SECONDS (whole seconds, wall clock) have passed without success. The event
# waited on is whatever COMMAND tests: a log line, a metric, a REST state, a bound port.
wait_for() {
  local end=$((${EPOCHREALTIME//[!0-9]/} + $1 * 1000000))
  while :; do
    "${@:2}" && return 0
    [ "${EPOCHREALTIME//[!0-9]/}" -lt "$end" ] || return 1
    sleep 0.1
  done
}

# port_bound udp|tcp PORT: a socket is bound (UDP) or listening (TCP) on that port, e.g. a SIPp
# peer started in the background is ready: what is sent to it from now on is queued, not lost.
port_bound() {
  local flag=u
  [ "$1" = tcp ] && flag=t
  ss -Hln$flag "sport = :$2" 2>/dev/null | grep -q .
}
