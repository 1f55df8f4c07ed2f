#!/usr/bin/env bash
# The S-CSCF is no MAR amplifier (core/auth_guard.c): hss and scscf, handsets straight at the
# scscf (akaue, SIPp, sipsend).
#   (1) a guesser trying 51 times to answer wrong for alice: its failures back off (doubling up to
#       registrar.auth_backoff_max_ms), REGISTERs during the back-off get 503 with Retry-After
#       and no MAR, the HSS sees only the MARs the back-off schedule allows; afterwards the
#       real alice registers, and her right answer clears the failures;
#   (2) a real UE that holds a challenge registers while a guesser keeps its IMPI in back-off;
#       the back-off 503 reaches a UE through a pcscf as 500 with its Retry-After;
#   (3) a burst of REGISTERs without credentials for four IMPIs: MARs bounded per IMPI
#       (registrar.auth_challenge_burst, then one per auth_challenge_interval_ms);
#   (4) the same for hundreds of invented IMPIs: MARs bounded by registrar.max_mar_rate, the
#       rest 503 with Retry-After;
#   (5) the HSS frozen (SIGSTOP) under a burst of invented IMPIs: no more than
#       registrar.max_mars_in_flight MARs wait for it, the rest get 503 at once (hss_busy), and
#       once it runs again new challenges go to it again.
# Every bound asserted is computed from the configured keys and the measured duration.
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
SCEN="$E2E_DIR/scenarios"
DOMAIN=ims.mnc001.mcc001.3gppnetwork.org
TOKEN=fl00d
ALICE=alice@$DOMAIN
ALICE_K=6162636465666768696a6b6c6d6e6f70
OP_HEX=706f6e6d6c6b6a696867666564636261
# The policy under test (short back-offs so the test waits little).
BASE=1000 CAP=4000 FREE=1 BURST=3 INTERVAL=1000 RATE=20
# Under ASan the bursts are smaller (same checks).
FLOOD_N=2000 FLOOD_R=600 INVENT_N=400 INVENT_R=200
case "$BUILD" in *asan*) FLOOD_N=800 FLOOD_R=300 INVENT_N=200 INVENT_R=100 ;; esac

field() { jq -r "$1 // empty" <<<"$2"; }
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
now_ms() { echo $((${EPOCHREALTIME//[!0-9]/} / 1000)); }
# msum PORT PREFIX: the sum of the /metrics series whose text starts with PREFIX (0 for none).
msum() { http_body "http://127.0.0.1:$1/metrics" | awk -v p="$2" 'index($1, p) == 1 {s += $2} END {print s + 0}'; }
mars() { msum "$HSS_API" 'cscf_diameter_requests_total{program="hss",command="MAR",'; }
refused() { msum "$SC_API" "cscf_auth_refused_total{program=\"scscf\",reason=\"$1\"}"; }
failures() { msum "$SC_API" "cscf_auth_failures_total{program=\"scscf\",reason=\"$1\"}"; }
challenged() { msum "$SC_API" 'cscf_auth_total{program="scscf",scheme="AKAv1-MD5",outcome="challenged"}'; }
hss() { # METHOD PATH [BODY]: an authorised call to the HSS's REST API
  curl -s -m 10 -H "Authorization: Bearer $TOKEN" -X "$1" "http://127.0.0.1:$HSS_API$2" ${3:+-d "$3"}
}
# raw_register USER [PORT]: a first REGISTER without credentials straight to the scscf (or to
# PORT, the pcscf's); the whole answer.
raw_register() {
  local f="$WORKDIR/raw_$RANDOM$RANDOM.sip"
  printf 'REGISTER sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK%s\r\nMax-Forwards: 70\r\nFrom: <sip:%s@%s>;tag=1\r\nTo: <sip:%s@%s>\r\nCall-ID: %s@flood\r\nCSeq: 1 REGISTER\r\nContact: <sip:%s@127.0.0.1:9>\r\nAuthorization: Digest username="%s@%s", realm="%s", nonce="", uri="sip:%s", response=""\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n' \
    "$DOMAIN" "$RANDOM$RANDOM" "$1" "$DOMAIN" "$1" "$DOMAIN" "$RANDOM$RANDOM" "$1" "$1" "$DOMAIN" \
    "$DOMAIN" "$DOMAIN" >"$f"
  SIPSEND_WHOLE=1 sipsend -u 127.0.0.1 "${2:-$SC_SIP}" "$f" 5000 | tr -d '\r'
}
retry_after() { sed -n 's/^Retry-After: *\([0-9]*\).*/\1/p' <<<"$1" | head -1; }
# backoff_ms N: the back-off after N failed authentications in a row (the rule of auth_guard.c).
backoff_ms() {
  local over=$(($1 - FREE)) ms=$BASE i
  [ "$over" -gt 0 ] || { echo 0; return; }
  for ((i = 1; i < over && ms < CAP; i++)); do ms=$((ms * 2)); done
  echo $((ms < CAP ? ms : CAP))
}
# max_challenges MS: the most challenges (so MARs) a guesser answering each one wrong can get
# within MS: FREE+1 at once, then one after each back-off.
max_challenges() {
  local n=$((FREE + 1)) t=0
  while :; do
    t=$((t + $(backoff_ms "$n")))
    [ "$t" -le "$1" ] || break
    n=$((n + 1))
  done
  echo "$n"
}

CONF="$WORKDIR/scscf.yaml"
cp "$REPO_DIR/config/scscf.yaml" "$CONF"
registrar_conf() { # BASE_MS CAP_MS MAX_MAR_RATE
  sed -i '/^registrar:/,$d' "$CONF"
  printf 'registrar:\n  auth_backoff_base_ms: %s\n  auth_backoff_max_ms: %s\n  auth_backoff_free_failures: %s\n  auth_challenge_burst: %s\n  auth_challenge_interval_ms: %s\n  max_mar_rate: %s\n' \
    "$1" "$2" "$FREE" "$BURST" "$INTERVAL" "$3" >>"$CONF"
}
impis_csv() { # FILE PREFIX FIRST LAST: a SIPp injection file of invented IMPIs PREFIX<n>
  { printf 'SEQUENTIAL\n'; for i in $(seq "$3" "$4"); do printf '%s%s;%s%s@%s;%s\n' "$2" "$i" "$2" "$i" "$DOMAIN" "$DOMAIN"; done; } >"$1"
}
reload() { # KEY: the reload applied it
  local out
  out=$(curl -s -m 5 -X POST -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$SC_API/api/v1/reload")
  expect_match "the reload applies $1" "\"$1\"" "$(jq -c .applied <<<"$out")"
}
registrar_conf "$BASE" "$CAP" 2000

start_hss hss HSS_API_TOKEN=$TOKEN || { finish; exit 1; }
SC_SIP=$(free_port) SC_API=$(free_port)
mapfile -t diam < <(scscf_diameter_env)
start_prog scscf "$BUILD/scscf" "$CONF" SCSCF_SIP_LISTEN="127.0.0.1:$SC_SIP" \
  SCSCF_API_LISTEN="127.0.0.1:$SC_API" SCSCF_API_TOKEN=$TOKEN "${diam[@]}" || { finish; exit 1; }
wait_http "127.0.0.1:$SC_API" /readyz 200 10 || fail "scscf ready"
# A pcscf in front of the scscf, for the back-off seen through it (part 2).
PC_SIP=$(free_port)
start_prog pcscf "$BUILD/pcscf" "$REPO_DIR/config/pcscf.yaml" PCSCF_SIP_LISTEN="127.0.0.1:$PC_SIP" \
  PCSCF_API_LISTEN="127.0.0.1:$(free_port)" PCSCF_PCSCF_REGISTRAR="sip:127.0.0.1:$SC_SIP;transport=udp;lr" ||
  { finish; exit 1; }
# The handset tool is not what is tested: the plain build's starts several times faster than the
# ASan one on a loaded machine, and the 51 tries start it 51 times.
AKAUE="$REPO_DIR/build/tools/akaue"
[ -x "$AKAUE" ] || AKAUE="$BUILD/tools/akaue"
UE=("$AKAUE" 127.0.0.1 "$SC_SIP" --impi "$ALICE" --impu "sip:$ALICE" --k "$ALICE_K" --op "$OP_HEX")

echo "-- (1) a guesser: 51 wrong answers asked for alice"
m0=$(mars) r0=$(refused backoff)
expect_match "(the HSS counts MARs: /metrics answers)" '^[0-9]+$' "$m0"
wrong=0 held=0 other=0
t0=$(now_ms)
for i in $(seq 51); do
  out=$("${UE[@]}" --wrong 2>&1)
  case "${out%%$'\n'*}" in # the first status line (no process started for it)
  "SIP/2.0 401"*) [ "${out##*$'\n'}" = "SIP/2.0 403 Forbidden" ] && wrong=$((wrong + 1)) || other=$((other + 1)) ;;
  "SIP/2.0 503"*) held=$((held + 1)) ;;
  *) other=$((other + 1)) ;;
  esac
done
elapsed=$(($(now_ms) - t0))
bound=$(max_challenges "$elapsed")
m1=$(mars)
echo "     (51 tries in ${elapsed} ms: $wrong wrong answers delivered, $held refused; the back-off allows at most $bound challenges)"
expect_eq "every try got 401-then-403 or 503" 0 "$other"
[ $((m1 - m0)) -le "$bound" ] && pass "the HSS saw $((m1 - m0)) MARs for 51 tries (<= $bound the back-off allows in ${elapsed} ms)" ||
  fail "the HSS saw at most $bound MARs for 51 tries" "$((m1 - m0))"
expect_eq "... one per wrong answer delivered, none for the refused tries" "$wrong" "$((m1 - m0))"
expect_eq "the refused tries are counted (cscf_auth_refused_total{reason=\"backoff\"})" "$held" "$(($(refused backoff) - r0))"
expect_eq "the wrong answers are counted (cscf_auth_failures_total{reason=\"wrong_response\"})" "$wrong" "$(failures wrong_response)"
echo "-- (1) after the back-off the real alice registers; her right answer clears the failures"
right() { "${UE[@]}" >/dev/null 2>&1; }
t0=$(now_ms)
wait_for $((CAP / 1000 + 5)) right && pass "alice registers (AKA) once the back-off is over ($(($(now_ms) - t0)) ms)" ||
  fail "alice registers once the back-off is over"
expect_eq "... REST shows her registration" "$ALICE" "$(field .impi "$(http_body "http://127.0.0.1:$SC_API/api/v1/registrations/sip:$ALICE")")"
out=$("${UE[@]}" --wrong 2>&1)
expect_eq "a wrong answer after it: 403" "SIP/2.0 403 Forbidden" "$(tail -1 <<<"$out")"
expect_match "... the first of a new run costs no back-off: the next REGISTER is challenged" '^SIP/2.0 401' "$(raw_register alice)"

echo "-- (1) a guesser that waits out each back-off: it doubles up to the cap"
# Tries (each refused without a MAR) until the back-off lets a challenge through and answers it
# wrong; a REGISTER right after that wrong answer shows the new back-off in its Retry-After:
# the back-off less the time that exchange took, rounded up.
next_wrong() {
  local out
  T_TRY=$(now_ms)
  out=$("${UE[@]}" --wrong 2>&1)
  [ "${out%%$'\n'*}" != "SIP/2.0 503 Authentication Back-Off" ]
}
n=$((FREE + 1)) # alice's right answer reset her failures; the wrong one above was the first
seen='' outside='' late=0 slowest=0
m1=$(mars)
for k in 0 1 2; do
  wait_for $((CAP / 1000 + 5)) next_wrong || fail "a challenge after back-off $k" "still refused"
  t0=$(now_ms)
  out=$(raw_register alice)
  t1=$(now_ms)
  [ $((t1 - t0)) -gt "$slowest" ] && slowest=$((t1 - t0))
  status=$(head -1 <<<"$out") ra=$(retry_after "$out") b=$(backoff_ms $((n + k)))
  lo=$(((b - (t1 - T_TRY) + 999) / 1000)) hi=$(((b + 999) / 1000))
  [ "$lo" -ge 1 ] || lo=1
  if [ "$status" = "SIP/2.0 503 Authentication Back-Off" ] && [ -n "$ra" ] && [ "$ra" -ge "$lo" ] && [ "$ra" -le "$hi" ]; then
    seen="$seen $ra"
  elif [ $((t1 - T_TRY)) -ge "$b" ] && [ "$status" = "SIP/2.0 401 Unauthorized" ]; then
    late=$((late + 1)) seen="$seen late" # a loaded machine: the back-off was over when it came
  else
    outside="$outside failure $((n + k)): '$status' Retry-After '$ra' (want 503, $lo..$hi);"
  fi
done
[ -z "$outside" ] && pass "after each wrong answer a REGISTER gets 503 Authentication Back-Off, Retry-After$seen: back-offs $(backoff_ms $n) $(backoff_ms $((n + 1))) $(backoff_ms $((n + 2))) ms, doubling up to the cap" ||
  fail "after each wrong answer a REGISTER gets 503 with Retry-After from the back-offs $(backoff_ms $n) $(backoff_ms $((n + 1))) $(backoff_ms $((n + 2))) ms" "$outside"
[ "$late" -lt 3 ] && pass "... ($late of them came after the back-off had ended)" || fail "... at least one came within the back-off" "all $late late"
[ "$slowest" -lt 2000 ] && pass "... answered at once (slowest ${slowest} ms)" || fail "... answered at once" "${slowest} ms"
expect_eq "three MARs for those three challenges (and one per late REGISTER), whatever the tries in between" $((3 + late)) "$(($(mars) - m1))"
echo "     ($(($(refused backoff) - r0)) REGISTERs refused without a MAR so far)"

echo "-- (2) a real UE holding its challenge registers while a guesser keeps its IMPI in back-off"
registrar_conf 10000 10000 2000 # long enough for this part on a loaded machine
reload registrar.auth_backoff_base_ms
BOB=bob@$DOMAIN BOB_K=bobbobbobbobbob1
PB=$(free_port)
HOLD=hold-$RANDOM$RANDOM CID=$HOLD-1@flood # SIPp's -cid_str: %u is the call number, 1
printf 'SEQUENTIAL\nbob;%s;%s;[authentication username=%s aka_K=%s aka_OP=ponmlkjihgfedcba];600;1\n' \
  "$BOB" "$DOMAIN" "$BOB" "$BOB_K" >"$WORKDIR/hold.csv"
c0=$(challenged)
timeout 40 sipp -sf "$SCEN/auth_hold_register.xml" -inf "$WORKDIR/hold.csv" -i 127.0.0.1 -p "$PB" \
  -t u1 -m 1 -timeout 35s -timeout_error -auth_uri "$DOMAIN" -cid_str "$HOLD-%u@flood" -trace_msg \
  -message_file "$WORKDIR/hold.msg" "127.0.0.1:$SC_SIP" >/dev/null 2>&1 &
hold_pid=$!
got_challenge() { [ "$(challenged)" -gt "$c0" ]; }
wait_for 10 got_challenge || fail "bob's handset is challenged"
BOB_UE=("$AKAUE" 127.0.0.1 "$SC_SIP" --impi "$BOB" --impu "sip:$BOB" --k "$(hex "$BOB_K")" --op "$OP_HEX")
guess() { "${BOB_UE[@]}" --wrong 2>&1 | tail -1; }
for g in $(seq $((FREE + 1))); do
  expect_eq "a guesser's wrong answer $g for bob: 403" "SIP/2.0 403 Forbidden" "$(guess)"
done
expect_match "bob's IMPI is in back-off: a new REGISTER gets 503" '^SIP/2.0 503 Authentication Back-Off' "$(raw_register bob)"
# RFC 3261 16.7: a proxy makes a next hop's 503 a 500, and keeps its Retry-After (20.33), so the
# UE waits out the back-off instead of retrying at once.
out=$(raw_register bob "$PC_SIP")
expect_match "... the same REGISTER through the pcscf: 500" '^SIP/2.0 500 ' "$(head -1 <<<"$out")"
ra=$(retry_after "$out")
[ -n "$ra" ] && [ "$ra" -ge 1 ] && [ "$ra" -le 10 ] && pass "... with the scscf's Retry-After ($ra s of the 10 s back-off)" ||
  fail "... with the scscf's Retry-After (1..10 s)" "'$ra'"
printf 'OPTIONS sip:bob@127.0.0.1:%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKgo%s\r\nMax-Forwards: 70\r\nFrom: <sip:test@%s>;tag=go\r\nTo: <sip:bob@%s>\r\nCall-ID: %s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' \
  "$PB" "$RANDOM" "$DOMAIN" "$DOMAIN" "$CID" >"$WORKDIR/go.sip"
# (SIPp answers the go towards the scscf, the remote end of its call: nobody waits for it.)
sipsend -u 127.0.0.1 "$PB" "$WORKDIR/go.sip" 200 >/dev/null
wait "$hold_pid"
expect_eq "... then answers the challenge it held: 200, in the middle of the back-off" 0 "$?"
expect_eq "... registered" "$BOB" "$(field .impi "$(http_body "http://127.0.0.1:$SC_API/api/v1/registrations/sip:$BOB")")"
expect_match "... and his right answer ended the back-off: a new REGISTER is challenged" '^SIP/2.0 401' "$(raw_register bob)"

echo "-- (3) a burst of REGISTERs without credentials for four IMPIs"
SUBS=
for u in flood1 flood2 flood3 flood4; do
  SUBS="$SUBS${SUBS:+,}{\"impi\":\"$u@$DOMAIN\",\"impus\":[\"sip:$u@$DOMAIN\"],\"k\":\"$(hex "${u}xxxxxxxxxx")\",\"op\":\"$OP_HEX\",\"amf\":\"0000\"}"
done
hss POST /api/v1/subscribers "[$SUBS]" >/dev/null
expect_eq "the HSS holds the four flood subscribers" flood4@$DOMAIN "$(field .impi "$(http_body "http://127.0.0.1:$HSS_API/api/v1/subscribers/flood4@$DOMAIN")")"
printf 'SEQUENTIAL\n' >"$WORKDIR/four.csv"
for u in flood1 flood2 flood3 flood4; do printf '%s;%s@%s;%s\n' "$u" "$u" "$DOMAIN" "$DOMAIN" >>"$WORKDIR/four.csv"; done
m0=$(mars) c0=$(challenged) q0=$(($(refused impi_rate) + $(refused mar_in_flight)))
t0=$(now_ms)
timeout 60 sipp -sf "$SCEN/auth_flood_register.xml" -inf "$WORKDIR/four.csv" -i 127.0.0.1 -p "$(free_port)" \
  -t u1 -m "$FLOOD_N" -r "$FLOOD_R" -l 500 -timeout 50s -timeout_error "127.0.0.1:$SC_SIP" >/dev/null 2>&1
rc=$?
elapsed=$(($(now_ms) - t0))
expect_eq "SIPp sent $FLOOD_N REGISTERs and every one got 401 or 503" 0 "$rc"
per_impi=$((BURST + elapsed / INTERVAL + 1))
dm=$(($(mars) - m0)) dc=$(($(challenged) - c0)) dq=$(($(refused impi_rate) + $(refused mar_in_flight) - q0))
echo "     ($FLOOD_N REGISTERs in ${elapsed} ms: $dm MARs, $dq refused)"
[ "$dm" -le $((4 * per_impi)) ] && pass "the HSS saw $dm MARs (<= 4 IMPIs x (burst $BURST + one per ${INTERVAL} ms of ${elapsed} ms + 1) = $((4 * per_impi)))" ||
  fail "the HSS saw at most $((4 * per_impi)) MARs" "$dm"
expect_eq "... each one a challenge (401)" "$dm" "$dc"
expect_eq "... the other REGISTERs refused without a MAR, counted (impi_rate, mar_in_flight)" "$FLOOD_N" "$((dc + dq))"

echo "-- (4) hundreds of invented IMPIs: the MARs per second of all IMPIs"
registrar_conf "$BASE" "$CAP" "$RATE"
reload registrar.max_mar_rate
impis_csv "$WORKDIR/invented.csv" nobody 1 "$INVENT_N"
m0=$(mars) b0=$(refused mar_budget) h0=$(failures hss_rejected)
t0=$(now_ms)
timeout 60 sipp -sf "$SCEN/auth_flood_register.xml" -inf "$WORKDIR/invented.csv" -i 127.0.0.1 -p "$(free_port)" \
  -t u1 -m "$INVENT_N" -r "$INVENT_R" -l 500 -timeout 50s -timeout_error -trace_msg \
  -message_file "$WORKDIR/invented.msg" "127.0.0.1:$SC_SIP" >/dev/null 2>&1
rc=$?
elapsed=$(($(now_ms) - t0))
expect_eq "SIPp sent $INVENT_N REGISTERs for invented IMPIs, each got 403 or 503" 0 "$rc"
dm=$(($(mars) - m0)) db=$(($(refused mar_budget) - b0))
budget=$((RATE + RATE * (elapsed + 999) / 1000))
echo "     ($INVENT_N REGISTERs in ${elapsed} ms: $dm MARs, $db refused by the budget)"
[ "$dm" -le "$budget" ] && pass "the HSS saw $dm MARs (<= a second's worth $RATE + $RATE/s over ${elapsed} ms = $budget)" ||
  fail "the HSS saw at most $budget MARs" "$dm"
expect_eq "... the rest refused by the budget, counted (mar_budget)" "$INVENT_N" "$((dm + db))"
expect_eq "... the HSS's 403s counted as failed authentications (hss_rejected)" "$dm" "$(($(failures hss_rejected) - h0))"
r503=$(tr -d '\r' <"$WORKDIR/invented.msg" | sed -n '/^SIP\/2.0 503/,/^$/p')
expect_match "... a refused one: 503 Too Many Challenges" '^SIP/2.0 503 Too Many Challenges' "$r503"
expect_match "... with Retry-After" '^Retry-After: [1-9]' "$r503"

echo "-- (5) a frozen HSS: no more than registrar.max_mars_in_flight MARs wait for it"
# Quick enough to be checked within diameter.request_timeout_ms (2 s), after which the waiting
# MARs time out and make room again.
INFL=20 FROZEN_N=60
registrar_conf "$BASE" "$CAP" 0
printf '  max_mars_in_flight: %s\n' "$INFL" >>"$CONF"
reload registrar.max_mars_in_flight
impis_csv "$WORKDIR/frozen.csv" frozen 1 "$FROZEN_N"
sent() { msum "$SC_API" 'cscf_diameter_peer_requests_total{program="scscf",'; }
s0=$(sent) h0=$(refused hss_busy)
kill -STOP "${PIDS[hss]}"
timeout 60 sipp -sf "$SCEN/auth_flood_register.xml" -inf "$WORKDIR/frozen.csv" -i 127.0.0.1 -p "$(free_port)" \
  -t u1 -m "$FROZEN_N" -r 1000 -l 500 -timeout 50s -timeout_error -trace_msg \
  -message_file "$WORKDIR/frozen.msg" "127.0.0.1:$SC_SIP" >/dev/null 2>&1 &
flood=$!
refused_all() { [ $(($(refused hss_busy) - h0)) -ge $((FROZEN_N - INFL)) ]; }
wait_for 2 refused_all
ds=$(($(sent) - s0)) dh=$(($(refused hss_busy) - h0))
kill -CONT "${PIDS[hss]}"
echo "     ($FROZEN_N REGISTERs for new IMPIs while the HSS was stopped: $ds MARs sent, $dh refused)"
expect_eq "the scscf sent $INFL MARs to the stopped HSS, no more" "$INFL" "$ds"
expect_eq "... and refused the other $((FROZEN_N - INFL)) at once (hss_busy)" "$((FROZEN_N - INFL))" "$dh"
wait "$flood"
expect_eq "once the HSS ran again, every REGISTER had its 403 (the HSS's answer) or 503" 0 "$?"
r503=$(tr -d '\r' <"$WORKDIR/frozen.msg" | sed -n '/^SIP\/2.0 503/,/^$/p')
expect_match "... a refused one: 503 Too Many Challenges with Retry-After" '^Retry-After: [1-9]' "$r503"
s1=$(sent)
impis_csv "$WORKDIR/after.csv" after 1 5
timeout 30 sipp -sf "$SCEN/auth_flood_register.xml" -inf "$WORKDIR/after.csv" -i 127.0.0.1 -p "$(free_port)" \
  -t u1 -m 5 -r 100 -timeout 20s -timeout_error "127.0.0.1:$SC_SIP" >/dev/null 2>&1
expect_eq "afterwards new challenges go to the HSS again: 5 REGISTERs, 5 MARs, none refused" \
  "5 $((FROZEN_N - INFL))" "$(($(sent) - s1)) $(($(refused hss_busy) - h0))"

stop_clean pcscf scscf hss
finish
