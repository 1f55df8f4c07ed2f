#!/usr/bin/env bash
# Two HSS peers (diameter/README.md, "HSS failover"): the scscf pins the SAR of a registration
# to the HSS that answered its MAR (Destination-Host from the MAA's Origin-Host); when an HSS
# is killed, registrations go on through the other within the request timeout; a SAR pinned to
# the dead one is sent by realm; a hung HSS costs one timeout, then the request goes to the
# other; an HSS that comes back is used again. Each HSS keeps its own SQLite database (two
# cannot share one: the second refuses it), seeded from the same subscriber file.
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
SCEN="$E2E_DIR/scenarios"
DOMAIN=ims.mnc001.mcc001.3gppnetwork.org
TOKEN=s3cret
HSS1=hss1.$DOMAIN
HSS2=hss2.$DOMAIN
# diameter.request_timeout_ms: a request waits at most this long for one HSS, then once more
# for the other; a registration is two Cx requests (MAR, SAR).
TIMEOUT_MS=1000
REG_BOUND_MS=$((2 * 2 * TIMEOUT_MS + 3000))
PINNED_REGS=8 # 2^-8 that unpinned SARs all land on their MAR's HSS by chance
field() { jq -r "$1 // empty" <<<"$2"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

declare -A DIAM API
start_hss_at() { # NAME IDENTITY: (again) on the ports it was given first
  local name=$1
  DIAM[$name]=${DIAM[$name]:-$(free_port)} API[$name]=${API[$name]:-$(free_port)}
  start_prog "$name" "$BUILD/hss" "$REPO_DIR/config/hss.yaml" HSS_DIAMETER_IDENTITY="$2" \
    HSS_DIAMETER_LISTEN="127.0.0.1:${DIAM[$name]}" HSS_API_LISTEN="127.0.0.1:${API[$name]}" \
    HSS_SUBSCRIBERS_FILE="$REPO_DIR/config/subscribers.yaml" \
    HSS_SUBSCRIBERS_DATABASE="$WORKDIR/$name.db" HSS_AUTH_SIPP_COMPAT=true
}
# hss_count NAME CMD: the Cx requests of that command the HSS answered (any result).
hss_count() {
  http_body "http://127.0.0.1:${API[$1]}/metrics" |
    awk -v p="cscf_diameter_requests_total{program=\"hss\",command=\"$2\"" 'index($1, p) == 1 {s += $2} END {print s + 0}'
}
# sc_metric PREFIX: the sum of the scscf's series starting with PREFIX.
sc_metric() {
  http_body "http://127.0.0.1:$SC_API/metrics" | awk -v p="$1" 'index($1, p) == 1 {s += $2} END {print s + 0}'
}
peer_state() { # IDENTITY: the scscf's view of that peer
  field ".peers[] | select(.identity == \"$1\") | .state" "$(http_body "http://127.0.0.1:$SC_API/api/v1/diameter/peers")"
}
peer_is() { [ "$(peer_state "$1")" = "$2" ]; } # IDENTITY STATE, for wait_for
peer_not_open() { [ "$(peer_state "$1")" != STATE_OPEN ]; }
cx() { # command json -> the scscf's answer JSON (REST debug route)
  curl -s -m 10 -H "Authorization: Bearer $TOKEN" -X POST "http://127.0.0.1:$SC_API/api/v1/cx/$1" -d "$2"
}

csv() { # NAME USER K OP: a SIPp injection file for register_aka.xml
  printf 'SEQUENTIAL\n%s;%s;%s;[authentication username=%s aka_K=%s aka_OP=%s];600;1\n' \
    "$2" "$2@$DOMAIN" "$DOMAIN" "$2@$DOMAIN" "$3" "$4" >"$WORKDIR/$1.csv"
}
# register USER: one AKA registration through SIPp; its verdict in $?, its duration in REG_MS.
register() {
  local t0 rc
  t0=$(now_ms)
  timeout 30 sipp -sf "$SCEN/register_aka.xml" -inf "$WORKDIR/$1.csv" -i 127.0.0.1 -p "$(free_port)" \
    -t u1 -m 1 -timeout 20s -timeout_error -auth_uri "$DOMAIN" -trace_err \
    -error_file "$WORKDIR/sipp_$1.err" "127.0.0.1:$SC_SIP" >/dev/null 2>&1
  rc=$?
  REG_MS=$(($(now_ms) - t0))
  return $rc
}
# registers_within DESC USER: a registration succeeds, within REG_BOUND_MS.
registers_within() {
  register "$2"
  local rc=$?
  expect_eq "$1 succeeds" 0 "$rc"
  if [ "$REG_MS" -le "$REG_BOUND_MS" ]; then pass "... within ${REG_BOUND_MS} ms (${REG_MS} ms)"
  else fail "... within ${REG_BOUND_MS} ms" "${REG_MS} ms"; fi
}
# which_hss CMD BEFORE1 BEFORE2: "hss1", "hss2", or "none"/"both" from the counts' changes.
which_hss() {
  local d1=$(($(hss_count hss1 "$1") - $2)) d2=$(($(hss_count hss2 "$1") - $3))
  if [ "$d1" -gt 0 ] && [ "$d2" -eq 0 ]; then echo hss1
  elif [ "$d2" -gt 0 ] && [ "$d1" -eq 0 ]; then echo hss2
  elif [ "$d1" -eq 0 ]; then echo none
  else echo both; fi
}

echo "-- two HSS, one database each"
start_hss_at hss1 "$HSS1" || { finish; exit 1; }
start_hss_at hss2 "$HSS2" || { finish; exit 1; }
out=$(HSS_DIAMETER_LISTEN="127.0.0.1:$(free_port)" HSS_API_LISTEN="127.0.0.1:$(free_port)" \
  HSS_SUBSCRIBERS_FILE="$REPO_DIR/config/subscribers.yaml" HSS_SUBSCRIBERS_DATABASE="$WORKDIR/hss1.db" \
  timeout 10 "$BUILD/hss" -c "$REPO_DIR/config/hss.yaml" 2>&1)
rc=$?
if [ "$rc" -ne 0 ] && grep -q 'in use by another hss' <<<"$out"; then
  pass "a third HSS on hss1's database refuses it (SQNs would repeat)"
else fail "a third HSS on hss1's database refuses it" "exit $rc: $(tail -1 <<<"$out")"; fi

SC_SIP=$(free_port) SC_API=$(free_port)
start_prog scscf "$BUILD/scscf" "$REPO_DIR/config/scscf.yaml" SCSCF_SIP_LISTEN="127.0.0.1:$SC_SIP" \
  SCSCF_API_LISTEN="127.0.0.1:$SC_API" SCSCF_API_TOKEN=$TOKEN \
  SCSCF_DIAMETER_LISTEN="127.0.0.1:$(free_port)" SCSCF_DIAMETER_RECONNECT_SECONDS=1 \
  SCSCF_DIAMETER_PEERS="$HSS1@127.0.0.1:${DIAM[hss1]}, $HSS2@127.0.0.1:${DIAM[hss2]}" \
  SCSCF_DIAMETER_REQUEST_TIMEOUT_MS=$TIMEOUT_MS || { finish; exit 1; }
if wait_for 10 peer_is "$HSS1" STATE_OPEN && wait_for 10 peer_is "$HSS2" STATE_OPEN; then
  pass "the scscf has both HSS peers open"
else fail "the scscf has both HSS peers open" "$(http_body "http://127.0.0.1:$SC_API/api/v1/diameter/peers")"; fi
csv alice alice abcdefghijklmnop ponmlkjihgfedcba
csv bob bob bobbobbobbobbob1 ponmlkjihgfedcba

echo "-- the SAR goes to the HSS that answered the MAR ($PINNED_REGS registrations)"
mismatch=0 failed=0 used=
for _ in $(seq $PINNED_REGS); do
  m1=$(hss_count hss1 MAR) m2=$(hss_count hss2 MAR) s1=$(hss_count hss1 SAR) s2=$(hss_count hss2 SAR)
  register alice || failed=$((failed + 1))
  mar=$(which_hss MAR "$m1" "$m2") sar=$(which_hss SAR "$s1" "$s2")
  used="$used $mar/$sar"
  [ "$mar" = "$sar" ] && [ "$mar" != none ] && [ "$mar" != both ] || mismatch=$((mismatch + 1))
done
expect_eq "all $PINNED_REGS registrations succeed" 0 "$failed"
expect_eq "each one's SAR reached the HSS that answered its MAR (MAR/SAR:$used)" 0 "$mismatch"
LAST=${used##* } LAST=${LAST%%/*} # the HSS holding alice's registration now
[ "$LAST" = hss1 ] && OTHER=hss2 || OTHER=hss1
declare -A ID=([hss1]=$HSS1 [hss2]=$HSS2)

echo "-- kill -9 $LAST (alice's HSS)"
kill -KILL "${PIDS[$LAST]}"
wait "${PIDS[$LAST]}" 2>/dev/null
unset "PIDS[$LAST]"
if wait_for 10 peer_not_open "${ID[$LAST]}"; then pass "the scscf sees $LAST's connection close"
else fail "the scscf sees $LAST's connection close" "$(peer_state "${ID[$LAST]}")"; fi
unpinned=$(sc_metric "cscf_diameter_peer_failovers_total{program=\"scscf\",peer=\"${ID[$LAST]}\",reason=\"unreachable\"}")
t0=$(now_ms)
a=$(cx sar "{\"impi\":\"alice@$DOMAIN\",\"impu\":\"sip:alice@$DOMAIN\",\"assignment_type\":\"re_registration\",\"user_data_already_available\":true,\"destination_host\":\"${ID[$LAST]}\"}")
ms=$(($(now_ms) - t0))
expect_eq "a SAR pinned to the dead $LAST is answered by $OTHER" "2001 ${ID[$OTHER]}" \
  "$(field '"\(.answer.result_code) \(.answer.origin_host)"' "$a")"
if [ "$ms" -lt "$TIMEOUT_MS" ]; then pass "... at once, sent by realm (${ms} ms)"
else fail "... at once, sent by realm" "${ms} ms"; fi
expect_eq "... counted as cscf_diameter_peer_failovers_total{peer=$LAST,reason=unreachable}" \
  $((unpinned + 1)) "$(sc_metric "cscf_diameter_peer_failovers_total{program=\"scscf\",peer=\"${ID[$LAST]}\",reason=\"unreachable\"}")"
o1=$(hss_count "$OTHER" MAR)
registers_within "a re-registration of alice through $OTHER" alice
registers_within "a new registration of bob through $OTHER" bob
expect_eq "... both authenticated by $OTHER" 2 $(($(hss_count "$OTHER" MAR) - o1))

echo "-- $LAST comes back"
start_hss_at "$LAST" "${ID[$LAST]}" || { finish; exit 1; }
if wait_for 10 peer_is "${ID[$LAST]}" STATE_OPEN; then pass "the scscf reconnects to $LAST"
else fail "the scscf reconnects to $LAST" "$(peer_state "${ID[$LAST]}")"; fi
a=$(cx mar "{\"impi\":\"alice@$DOMAIN\",\"impu\":\"sip:alice@$DOMAIN\",\"destination_host\":\"${ID[$LAST]}\"}")
expect_eq "a MAR pinned to $LAST is answered by $LAST again" "2001 ${ID[$LAST]}" \
  "$(field '"\(.answer.result_code) \(.answer.origin_host)"' "$a")"
back=0
for _ in $(seq 10); do # realm routing picks either HSS at random: 2^-10 that it never picks this one
  b=$(hss_count "$LAST" MAR)
  register alice || break
  [ "$(hss_count "$LAST" MAR)" -gt "$b" ] && { back=1; break; }
done
expect_eq "registrations reach $LAST again (routed by realm)" 1 "$back"

echo "-- $OTHER hangs (SIGSTOP): one timeout, then the other HSS"
kill -STOP "${PIDS[$OTHER]}"
timeouts=$(sc_metric "cscf_diameter_peer_failovers_total{program=\"scscf\",peer=\"${ID[$OTHER]}\",reason=\"timeout\"}")
t0=$(now_ms)
a=$(cx mar "{\"impi\":\"bob@$DOMAIN\",\"impu\":\"sip:bob@$DOMAIN\",\"destination_host\":\"${ID[$OTHER]}\"}")
ms=$(($(now_ms) - t0))
expect_eq "a MAR pinned to the hung $OTHER is answered by $LAST" "2001 ${ID[$LAST]}" \
  "$(field '"\(.answer.result_code) \(.answer.origin_host)"' "$a")"
if [ "$ms" -ge $((TIMEOUT_MS - 100)) ] && [ "$ms" -le $((2 * TIMEOUT_MS + 2000)) ]; then
  pass "... after one request timeout (${ms} ms)"
else fail "... after one request timeout (${TIMEOUT_MS} ms)" "${ms} ms"; fi
expect_eq "... counted as cscf_diameter_peer_failovers_total{peer=$OTHER,reason=timeout}" \
  $((timeouts + 1)) "$(sc_metric "cscf_diameter_peer_failovers_total{program=\"scscf\",peer=\"${ID[$OTHER]}\",reason=\"timeout\"}")"
registers_within "a registration while $OTHER hangs" alice
kill -CONT "${PIDS[$OTHER]}"
expect_match "per-peer request counts in /metrics" \
  "^cscf_diameter_peer_requests_total\\{program=\"scscf\",peer=\"${ID[$LAST]}\"\\} [1-9]" \
  "$(http_body "http://127.0.0.1:$SC_API/metrics")"

stop_clean scscf hss1 hss2
finish
