#!/usr/bin/env bash
# Mutation campaign: tests/tools/sipmutate (seeded, deterministic) mutates valid IMS REGISTER,
# INVITE, SUBSCRIBE and NOTIFY requests (header lines deleted and duplicated, long and binary
# values, bad numbers, truncated bodies, wrong Content-Length, folding, compact forms, odd case,
# UTF-8/overlong/NUL bytes) and sends them over UDP and TCP (several connections, messages back
# to back) to the pcscf and to the scscf while two handsets are registered. Between batches an
# OPTIONS to each node must get 200; afterwards both are alive, the registrations made before
# the campaign are still there and still carry a call, and (sanitizer build) no process reported
# an error or a leak.
#
# Under build/asan each node gets MUT_COUNT messages (default 20,000: half over UDP, half over
# TCP); the plain build sends a quarter of that (same checks). MUT_SEED picks the campaign
# (default: a fixed one, so a failure replays); a failed batch prints the sipmutate line that
# regenerates its messages (-dump FILE writes them).
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
SCEN="$E2E_DIR/scenarios"
DOMAIN=ims.mnc001.mcc001.3gppnetwork.org
SEED=${MUT_SEED:-20261205}
BATCH=2000
COUNT=${MUT_COUNT:-20000}
case "$BUILD" in *asan*) ;; *) COUNT=${MUT_COUNT:-5000} ;; esac
RATE=${MUT_RATE:-1500} # messages/s to each node: a pace both builds hold on two busy cores
field() { jq -r "$1 // empty" <<<"$2"; }
MUT="$BUILD/tools/sipmutate"

echo "-- the generator is deterministic"
"$MUT" -seed "$SEED" -count 400 -dump "$WORKDIR/d1" >/dev/null
"$MUT" -seed "$SEED" -count 400 -dump "$WORKDIR/d2" >/dev/null
"$MUT" -seed $((SEED + 1)) -count 400 -dump "$WORKDIR/d3" >/dev/null
expect_eq "same seed, same 400 messages" "$(sha256sum <"$WORKDIR/d1")" "$(sha256sum <"$WORKDIR/d2")"
expect_no_match "another seed, other messages" "^$(sha256sum <"$WORKDIR/d1" | cut -c1-64)" \
  "$(sha256sum <"$WORKDIR/d3")"
for m in REGISTER INVITE SUBSCRIBE NOTIFY; do
  expect_match "the generator makes $m requests" "^$m sip:" "$(tr -d '\r\000' <"$WORKDIR/d1")"
done

start_hss hss || { finish; exit 1; }
SC_SIP=$(free_port) SC_API=$(free_port) PC_SIP=$(free_port) PC_API=$(free_port)
mapfile -t diam < <(scscf_diameter_env)
start_prog scscf "$BUILD/scscf" "$REPO_DIR/config/scscf.yaml" SCSCF_SIP_LISTEN="127.0.0.1:$SC_SIP" \
  SCSCF_API_LISTEN="127.0.0.1:$SC_API" "${diam[@]}" || { finish; exit 1; }
start_prog pcscf "$BUILD/pcscf" "$REPO_DIR/config/pcscf.yaml" PCSCF_SIP_LISTEN="127.0.0.1:$PC_SIP" \
  PCSCF_API_LISTEN="127.0.0.1:$PC_API" PCSCF_PCSCF_REGISTRAR="sip:127.0.0.1:$SC_SIP;transport=tcp;lr" ||
  { finish; exit 1; }
wait_http "127.0.0.1:$SC_API" /readyz 200 10 || fail "scscf ready"

register() { # NAME USER K OP PORT INSTANCE: AKA registration through the pcscf from PORT
  printf 'SEQUENTIAL\n%s;%s@%s;%s;[authentication username=%s@%s aka_K=%s aka_OP=%s];600;%s\n' \
    "$2" "$2" "$DOMAIN" "$DOMAIN" "$2" "$DOMAIN" "$3" "$4" "$6" >"$WORKDIR/$1.csv"
  timeout 20 sipp -sf "$SCEN/register_aka.xml" -inf "$WORKDIR/$1.csv" -i 127.0.0.1 -p "$5" \
    -t u1 -m 1 -timeout 15s -timeout_error -auth_uri "$DOMAIN" -trace_msg \
    -message_file "$WORKDIR/$1.msg" "127.0.0.1:$PC_SIP" >/dev/null 2>&1
}
A_K=abcdefghijklmnop A_OP=ponmlkjihgfedcba B_K=bobbobbobbobbob1
PA=$(free_port) PB=$(free_port)

echo "-- two handsets register before the campaign"
register rega alice "$A_K" "$A_OP" "$PA" 1
expect_eq "alice registers (AKA)" 0 "$?"
register regb bob "$B_K" "$A_OP" "$PB" 2
expect_eq "bob registers (AKA)" 0 "$?"
expect_eq "the pcscf holds both flows" 2 "$(field .total "$(http_body "http://127.0.0.1:$PC_API/api/v1/registrations")")"
expect_eq "the scscf holds both registrations" 2 "$(field .total "$(http_body "http://127.0.0.1:$SC_API/api/v1/registrations")")"

options_probe() { # port transport -> file with an OPTIONS to the node
  local f="$WORKDIR/options_$1_$2.sip"
  printf 'OPTIONS sip:127.0.0.1:%s SIP/2.0\r\nVia: SIP/2.0/%s 127.0.0.1:9;rport;branch=z9hG4bK-probe%s\r\nMax-Forwards: 70\r\nFrom: <sip:probe@example.org>;tag=p\r\nTo: <sip:127.0.0.1>\r\nCall-ID: probe-%s-%s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' \
    "$1" "$2" "$RANDOM$RANDOM" "$2" "$RANDOM$RANDOM" >"$f"
  echo "$f"
}

# alive_over FLAG PORT TRANSPORT: the first line of the answer to an OPTIONS to the node; a UDP
# probe may be lost while the node works off a backlog of the batch, so up to three probes
# within about 10 s (liveness, not latency).
alive_over() {
  local i got
  for i in 1 2 3; do
    got=$(sipsend "$1" 127.0.0.1 "$2" "$(options_probe "$2" "$3")" 3000 2>&1 | tr -d '\r')
    [ "${got:0:11}" = "SIP/2.0 200" ] && break
  done
  echo "$got"
}

# campaign NAME PORT: COUNT messages to one node in batches of BATCH, UDP and TCP taking turns;
# after each batch an OPTIONS over each transport must get 200 (alive_over). Writes one line per
# batch to $WORKDIR/campaign_NAME ("batch FIRST TRANSPORT: <tally> | options udp X tcp Y").
campaign() {
  local name=$1 port=$2 first=0 k=0 t n out u tc
  while [ "$first" -lt "$COUNT" ]; do
    t=udp
    [ $((k % 2)) = 1 ] && t=tcp
    n=$((COUNT - first < BATCH ? COUNT - first : BATCH))
    out=$("$MUT" -seed "$SEED" -first "$first" -count "$n" -"$t" "127.0.0.1:$port" -conns 4 \
      -rate "$RATE" -route "sip:orig@127.0.0.1:$SC_SIP;lr" -ue "127.0.0.1:$UE" -show500 2>&1)
    grep '^500: ' <<<"$out" >>"$WORKDIR/campaign_${name}_500s"
    grep -c '^500 (Retry-After): ' <<<"$out" >>"$WORKDIR/campaign_${name}_500ra"
    u=$(alive_over -u "$port" UDP)
    tc=$(alive_over -t "$port" TCP)
    echo "batch $first $t: $(tail -1 <<<"$out") | options udp ${u:0:11} tcp ${tc:0:11}" >>"$WORKDIR/campaign_$name"
    first=$((first + BATCH))
    k=$((k + 1))
  done
}

# The handsets: the one the messages name (-ue) and the two registered ones answer every
# request with 486, so what the nodes forward ends with an answer, not a transport error.
UE=$(free_port)
for hp in "$UE" "$PA" "$PB"; do
  "$MUT" -respond "127.0.0.1:$hp" -for 300000 >"$WORKDIR/respond_$hp" 2>&1 &
  PIDS[respond_$hp]=$!
  wait_for 10 port_bound udp "$hp" || fail "a handset answers on $hp"
done

echo "-- $COUNT mutated messages to each of pcscf and scscf (seed $SEED, $RATE/s each)"
started=$EPOCHSECONDS
campaign pcscf "$PC_SIP" &
c1=$!
campaign scscf "$SC_SIP" &
c2=$!
wait "$c1" "$c2"
echo "   (campaign took $((EPOCHSECONDS - started)) s)"
for hp in "$UE" "$PA" "$PB"; do
  stop_prog "respond_$hp"
  echo "   handset 127.0.0.1:$hp: $(cat "$WORKDIR/respond_$hp")"
done

for n in pcscf scscf; do
  sed 's/^/   /' "$WORKDIR/campaign_$n"
  sent=$(awk '{for (i = 1; i < NF; i++) if ($i == "sent") s += $(i + 1)} END {print s + 0}' "$WORKDIR/campaign_$n")
  tcp=$(awk '{for (i = 1; i < NF; i++) if ($i == "tcp" && $(i + 1) ~ /^[0-9]+$/) s += $(i + 1)} END {print s + 0}' "$WORKDIR/campaign_$n")
  expect_eq "$n: $COUNT mutated messages sent" "$COUNT" "$sent"
  [ "$tcp" -gt 0 ] && [ "$tcp" -lt "$sent" ] && pass "$n: over UDP and over TCP ($tcp)" ||
    fail "$n: over UDP and over TCP" "tcp $tcp of $sent"
  bad=$(grep -v 'options udp SIP/2.0 200 tcp SIP/2.0 200' "$WORKDIR/campaign_$n" | cut -d: -f1 | tr '\n' ' ')
  expect_eq "$n: OPTIONS over UDP and TCP answered 200 after every batch of $BATCH" "" "$bad"
  [ -n "$bad" ] && echo "       replay: $MUT -seed $SEED -first FIRST -count $BATCH -dump FILE"
  answers=$(awk '{for (i = 1; i < NF; i++) if ($i == "answers") s += $(i + 1)} END {print s + 0}' "$WORKDIR/campaign_$n")
  [ "$answers" -gt $((COUNT / 20)) ] && pass "$n: answered the campaign ($answers answers)" ||
    fail "$n: answered the campaign" "only $answers answers to $COUNT messages"
  # A 500 is right where a request goes on to a next hop that cannot be reached (a mutated
  # host name or port, a Route to a closed port: RFC 3261 16.7 turns the 503 into 500), wrong
  # as a refusal of malformed input; the answer does not tell them apart, so a few are allowed
  # and the first ones are listed (replay one: sipmutate -first INDEX -count 1 -dump FILE).
  # A 500 with Retry-After is a next hop's 503 passed on (the scscf's authentication back-off
  # for a mutated REGISTER the pcscf relays: RFC 3261 16.7, 20.33): right, counted apart.
  n500=$(wc -l <"$WORKDIR/campaign_${n}_500s" 2>/dev/null || echo 0)
  echo "       500s with Retry-After (a next hop's 503 passed on): $(awk '{s += $1} END {print s + 0}' "$WORKDIR/campaign_${n}_500ra" 2>/dev/null)"
  [ "$n500" -le $((COUNT / 500)) ] && pass "$n: at most two 500s in 1,000 messages ($n500)" ||
    fail "$n: at most two 500s in 1,000 messages" "$n500"
  sed 's/^500: /       500 to /; s/|/ /' "$WORKDIR/campaign_${n}_500s" 2>/dev/null | cut -c1-150 | head -5
  prog_alive "$n" && pass "$n: alive after the campaign" || fail "$n: alive after the campaign" "see $WORKDIR/$n.log"
  expect_clean_log "$n: no sanitizer report during the campaign" "$n"
done
for api in "$PC_API" "$SC_API"; do
  expect_eq "/healthz on 127.0.0.1:$api still 200" 200 "$(http_code "http://127.0.0.1:$api/healthz")"
done

echo "-- the registrations made before are still there and still work"
expect_eq "the pcscf still holds both flows" 2 "$(field .total "$(http_body "http://127.0.0.1:$PC_API/api/v1/registrations")")"
regs=$(http_body "http://127.0.0.1:$SC_API/api/v1/registrations")
expect_eq "the scscf still holds alice and bob (and no user of the campaign)" \
  "alice@$DOMAIN bob@$DOMAIN" "$(jq -r '[.registrations[].impi] | sort | join(" ")' <<<"$regs" 2>/dev/null)"
# The campaign overloads the programs (under ASan admission sheds during it): the call is made
# once both are back under their admission target and refuse no new call, as a handset's
# Retry-After would have it. The lag alone is not enough: the share refused falls back to 0
# over up to a second after it (the integral part, common/sip/admission.h); an INVITE in
# that second is the likely cause of the failed call in two CI runs (f8f37e8, c01747a).
settled() { http_body "http://127.0.0.1:$1/api/v1/admission" |
  jq -e '.lag_seconds < 0.05 and .shed_probability.initial == 0' >/dev/null 2>&1; }
wait_for 15 settled "$PC_API" && wait_for 15 settled "$SC_API" ||
  fail "pcscf and scscf back under their admission target, refusing no new call, within 15 s"
timeout 30 sipp -sf "$SCEN/call_uas.xml" -i 127.0.0.1 -p "$PB" -t u1 -m 1 -timeout 25s -timeout_error \
  -trace_msg -message_file "$WORKDIR/bcall.msg" -d 100 >"$WORKDIR/bcall.out" 2>&1 &
callee=$!
wait_for 10 port_bound udp "$PB" || fail "bob's handset (SIPp) listens on $PB"
printf 'SEQUENTIAL\nalice;sip:bob@%s;%s\n' "$DOMAIN" "$DOMAIN" >"$WORKDIR/acall.csv"
timeout 30 sipp -sf "$SCEN/call_uac.xml" -inf "$WORKDIR/acall.csv" -i 127.0.0.1 -p "$PA" -t u1 -m 1 \
  -timeout 20s -timeout_error -trace_msg -message_file "$WORKDIR/acall.msg" "127.0.0.1:$PC_SIP" >"$WORKDIR/acall.out" 2>&1
caller=$?
expect_eq "alice calls bob after the campaign: INVITE/180/200/ACK/BYE/200" 0 "$caller"
wait "$callee"
callee=$?
expect_eq "bob's side of the call completes" 0 "$callee"
if [ "$caller$callee" != 00 ]; then
  echo "       alice's side:" && sipp_story "$WORKDIR/acall.msg" pcscf scscf
  tail -3 "$WORKDIR/acall.out" | cut -c1-200 | sed 's/^/       /'
  echo "       bob's side:" && sipp_story "$WORKDIR/bcall.msg"
  tail -3 "$WORKDIR/bcall.out" | cut -c1-200 | sed 's/^/       /'
fi
register rega2 alice "$A_K" "$A_OP" "$PA" 1
expect_eq "alice re-registers (AKA) after the campaign" 0 "$?"

stop_clean pcscf scscf hss
echo "   (test took $SECONDS s)"
finish
