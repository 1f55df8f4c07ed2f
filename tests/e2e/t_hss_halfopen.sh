#!/usr/bin/env bash
# The HSS's Diameter listener against half-open connections (diameter/README.md): 200
# connections to its Diameter port that never finish a CER (half send nothing, half a partial
# Diameter header) must not keep a starting scscf out. freeDiameter gives each incoming
# connection to one of diameter.accept_workers threads for up to 20 s; with its own default of
# 5, ten such connections stopped the listener taking anyone for 20 s at a time. Checks: the
# scscf connects and registers within a bound far below those 20 s, twice (first start and a
# restart) while the 200 are held; the HSS closes the 200 itself when their CER is overdue.
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
SCEN="$E2E_DIR/scenarios"
DOMAIN=ims.mnc001.mcc001.3gppnetwork.org
ALICE=alice@$DOMAIN
HALF_OPEN=200
# How soon the scscf must have its HSS peer open: well below freeDiameter's 20 s CER timeout,
# so a listener whose workers are all taken cannot pass by waiting for one to give up.
CONNECT_BOUND=10

csv() { # NAME USER IMPI K OP EXPIRES INSTANCE: a SIPp injection file for register_aka.xml
  printf 'SEQUENTIAL\n%s;%s;%s;[authentication username=%s aka_K=%s aka_OP=%s];%s;%s\n' \
    "$2" "$3" "$DOMAIN" "$3" "$4" "$5" "$6" "$7" >"$WORKDIR/$1.csv"
}
register() { # NAME: one AKA registration of alice; SIPp's verdict in $?
  timeout 20 sipp -sf "$SCEN/register_aka.xml" -inf "$WORKDIR/alice.csv" -i 127.0.0.1 \
    -p "$(free_port)" -t u1 -m 1 -timeout 15s -timeout_error -auth_uri "$DOMAIN" \
    -trace_err -error_file "$WORKDIR/$1.err" "127.0.0.1:$SC_SIP" >/dev/null 2>&1
}
holder_says() { grep -q "^$1" "$WORKDIR/holder.out"; } # PREFIX, for wait_for
last_closed() { sed -n 's/^closed //p' "$WORKDIR/holder.out" | tail -1; }
all_closed() { [ "$(last_closed)" = "$HALF_OPEN" ]; }
scscf_ready() { [ "$(http_code "http://127.0.0.1:$SC_API/readyz" -m 1)" = 200 ]; }

start_scscf() {
  start_prog scscf "$BUILD/scscf" "$REPO_DIR/config/scscf.yaml" SCSCF_SIP_LISTEN="127.0.0.1:$SC_SIP" \
    SCSCF_API_LISTEN="127.0.0.1:$SC_API" SCSCF_DIAMETER_REQUEST_TIMEOUT_MS=3000 "${diam[@]}"
}

# connects_and_registers WHAT: the scscf started just now has its HSS peer open within the
# bound, and a registration through it succeeds.
connects_and_registers() {
  local t0=$SECONDS
  if wait_for $CONNECT_BOUND scscf_ready; then
    pass "$1: the scscf's HSS peer opens within ${CONNECT_BOUND} s ($((SECONDS - t0)) s) despite $HALF_OPEN half-open connections"
  else
    fail "$1: the scscf's HSS peer opens within ${CONNECT_BOUND} s despite $HALF_OPEN half-open connections" \
      "$(http_body "http://127.0.0.1:$SC_API/readyz")"
  fi
  register "$1"
  expect_eq "$1: a registration through it succeeds" 0 "$?"
}

start_hss hss || { finish; exit 1; }
SC_SIP=$(free_port) SC_API=$(free_port)
mapfile -t diam < <(scscf_diameter_env)
csv alice alice "$ALICE" abcdefghijklmnop ponmlkjihgfedcba 600 1

echo "-- $HALF_OPEN half-open connections to the HSS's Diameter port"
/usr/bin/python3 "$E2E_DIR/halfopen.py" 127.0.0.1 "$HSS_DIAM" $HALF_OPEN --max-seconds 60 \
  >"$WORKDIR/holder.out" 2>&1 &
PIDS[holder]=$!
if wait_for 10 holder_says connected; then
  expect_eq "all $HALF_OPEN connect (the kernel completes them)" "connected $HALF_OPEN" \
    "$(grep '^connected' "$WORKDIR/holder.out")"
else
  fail "the half-open connections are made" "$(cat "$WORKDIR/holder.out")"
fi
HELD_AT=$SECONDS

echo "-- the scscf starts while they are held"
start_scscf || { finish; exit 1; }
connects_and_registers "first start"

echo "-- the scscf restarts while they are held"
stop_prog scscf
expect_eq "scscf exits 0" 0 "$LAST_EXIT"
start_scscf || { finish; exit 1; }
connects_and_registers "restart"
if [ -z "$(last_closed)" ]; then
  pass "... all that while the $HALF_OPEN were still open ($((SECONDS - HELD_AT)) s)"
else
  fail "... all that while the $HALF_OPEN were still open" "$(last_closed) closed after $((SECONDS - HELD_AT)) s"
fi

echo "-- the HSS closes them when their CER is overdue"
# freeDiameter waits 20 s for a CER; all 200 wait at once, so all go at about the same time.
if wait_for 40 all_closed; then
  pass "the HSS closed all $HALF_OPEN ($((SECONDS - HELD_AT)) s after they connected)"
else
  fail "the HSS closed all $HALF_OPEN within 40 s" "closed: $(last_closed)"
fi
expect_eq "the HSS still serves (/healthz)" 200 "$(http_code "http://127.0.0.1:$HSS_API/healthz")"
register after
expect_eq "and a registration still succeeds" 0 "$?"

stop_prog holder
stop_clean scscf hss
finish
