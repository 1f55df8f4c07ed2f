#!/usr/bin/env bash
# A registration avalanche: N subscribers (provisioned over the HSS's REST API) register with AKA
# through pcscf -> scscf; the scscf, whose store is memory with a journal (store.journal), is
# restarted and keeps them; then all N register again at once (within 0.1 s), as handsets do
# after an outage. Admission control may push back with 503 + Retry-After (the handsets,
# tests/e2e/scenarios/register_aka_retry.xml, try again after it): every one must succeed
# within a bounded time, none is lost (the scscf's registration count before and after), and
# every refusal carries a Retry-After.
# The handsets share one SIPp socket, i.e. one flow at the pcscf; a per-flow limit set for
# this test (admission.flow_rate) makes sure the avalanche is pushed back, so the retry path
# is exercised whatever the machine's speed.
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
SCEN="$E2E_DIR/scenarios"
DOMAIN=ims.mnc001.mcc001.3gppnetwork.org
TOKEN=avalanche-$RANDOM
case $BUILD in
*asan*) N=${AVALANCHE_UES:-150} REG_RATE=20 ;;
*) N=${AVALANCHE_UES:-300} REG_RATE=40 ;;
esac
BOUND=45 # seconds the avalanche may take, refusals and retries included
FLOW_RATE=$((N / 3)) FLOW_BURST=$((N / 3))

# Subscriber i: IMPI u<i>@domain, K = "aval" + 12 digits (16 characters, as SIPp wants them).
perl -e '
  my ($n, $d, $w) = @ARGV;
  open(my $c, ">", "$w/ues.csv"); print $c "SEQUENTIAL\n";
  my $j;
  for my $i (1..$n) {
    my $k = sprintf("aval%012d", $i);
    if (($i - 1) % 250 == 0) {
      if ($j) { print $j "]\n"; close $j; }
      open($j, ">", sprintf("%s/batch_%05d.json", $w, $i)); print $j "[";
    } else { print $j ","; }
    printf $j "{\"impi\":\"u%d\@%s\",\"impus\":[\"sip:u%d\@%s\"],\"k\":\"%s\",\"op\":\"%s\",\"amf\":\"0000\"}",
      $i, $d, $i, $d, unpack("H*", $k), unpack("H*", "ponmlkjihgfedcba");
    printf $c "u%d;u%d\@%s;%s;[authentication username=u%d\@%s aka_K=%s aka_OP=ponmlkjihgfedcba];3600;%d\n",
      $i, $i, $d, $d, $i, $d, $k, $i;
  }
  print $j "]\n"; close $j;' "$N" "$DOMAIN" "$WORKDIR"
printf 'subscribers: []\n' >"$WORKDIR/empty.yaml"

start_hss hss HSS_API_TOKEN=$TOKEN HSS_SUBSCRIBERS_FILE="$WORKDIR/empty.yaml" HSS_LOG_LEVEL=info ||
  { finish; exit 1; }
posted=0
for f in "$WORKDIR"/batch_*.json; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -m 30 -H "Authorization: Bearer $TOKEN" -X POST \
    "http://127.0.0.1:$HSS_API/api/v1/subscribers" --data-binary "@$f")
  [[ $code == 20? ]] && posted=$((posted + 1))
done
expect_eq "$N subscribers provisioned over the HSS's REST API" "$(ls "$WORKDIR"/batch_*.json | wc -l)" "$posted"

SC_SIP=$(free_port) SC_API=$(free_port) PC_SIP=$(free_port) PC_API=$(free_port)
mapfile -t diam < <(scscf_diameter_env)
scscf_env=(SCSCF_SIP_LISTEN="127.0.0.1:$SC_SIP" SCSCF_API_LISTEN="127.0.0.1:$SC_API" SCSCF_LOG_LEVEL=info
  SCSCF_STORE_BACKEND=memory SCSCF_STORE_JOURNAL="$WORKDIR/scscf-store.journal" "${diam[@]}")
start_prog scscf "$BUILD/scscf" "$REPO_DIR/config/scscf.yaml" "${scscf_env[@]}" || { finish; exit 1; }
start_prog pcscf "$BUILD/pcscf" "$REPO_DIR/config/pcscf.yaml" PCSCF_SIP_LISTEN="127.0.0.1:$PC_SIP" \
  PCSCF_API_LISTEN="127.0.0.1:$PC_API" PCSCF_LOG_LEVEL=info \
  PCSCF_ADMISSION_FLOW_RATE=$FLOW_RATE PCSCF_ADMISSION_FLOW_BURST=$FLOW_BURST PCSCF_ADMISSION_RETRY_AFTER=1 \
  PCSCF_PCSCF_REGISTRAR="sip:127.0.0.1:$SC_SIP;transport=tcp;lr" || { finish; exit 1; }
wait_http "127.0.0.1:$SC_API" /readyz 200 10 || fail "scscf ready"
registrations() { http_body "http://127.0.0.1:$SC_API/api/v1/registrations?limit=1" | jq -r '.total // empty'; }

# ues NAME RATE RATE_PERIOD_MS: all N handsets register from one socket, RATE per period;
# ELAPSED (s), OK, RETRIES, BAD_RA (refusals without a Retry-After) from its log.
UE_PORT=$(free_port)
ues() {
  local dir="$WORKDIR/$1" t0=$EPOCHREALTIME
  mkdir -p "$dir"
  (cd "$dir" && timeout $((BOUND + 30)) sipp -sf "$SCEN/register_aka_retry.xml" -inf "$WORKDIR/ues.csv" \
    -i 127.0.0.1 -p "$UE_PORT" -t u1 -buff_size 4194304 -r "$2" -rp "$3" -m "$N" -l "$N" \
    -auth_uri "$DOMAIN" -recv_timeout 10s -timeout "${BOUND}s" -trace_logs -trace_err -error_file "$dir/err.log" \
    "127.0.0.1:$PC_SIP" >/dev/null 2>&1 </dev/null)
  ELAPSED=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%d", b - a + 0.999}')
  cat "$dir"/register_aka_retry_*_logs.log >"$dir/ues.log" 2>/dev/null
  OK=$(grep -c '^ok$' "$dir/ues.log")
  RETRIES=$(grep -c '^retry ' "$dir/ues.log")
  BAD_RA=$(grep '^retry ' "$dir/ues.log" | grep -cvE 'ra=[0-9]+$')
  echo "   $1: $OK of $N registered in $ELAPSED s, $RETRIES refusals (503) and" \
    "$(grep -c '^retry500' "$dir/ues.log") 500s from the pcscf (the scscf refused) retried"
}

echo "-- $N handsets register ($REG_RATE/s)"
ues first "$REG_RATE" 1000
expect_eq "all $N register" "$N" "$OK"
expect_eq "the scscf holds $N registrations" "$N" "$(registrations)"

echo "-- the scscf restarts; its journal keeps the registrations"
stop_prog scscf
expect_eq "scscf exits 0" 0 "$LAST_EXIT"
start_prog scscf "$BUILD/scscf" "$REPO_DIR/config/scscf.yaml" "${scscf_env[@]}" || { finish; exit 1; }
wait_http "127.0.0.1:$SC_API" /readyz 200 15 || fail "scscf ready again"
expect_eq "after the restart the scscf holds $N registrations" "$N" "$(registrations)"

echo "-- all $N register again at once"
ues avalanche "$N" 100
expect_eq "every handset registers again" "$N" "$OK"
[ "$ELAPSED" -le "$BOUND" ] && pass "within $BOUND s ($ELAPSED s)" || fail "within $BOUND s" "$ELAPSED s"
[ "$RETRIES" -gt 0 ] && pass "admission pushed back ($RETRIES refusals) and the handsets retried" ||
  fail "admission pushed back and the handsets retried" "no 503 at all"
expect_eq "every refusal is a 503 with a Retry-After" 0 "$BAD_RA"
expect_eq "none is lost: the scscf holds $N registrations" "$N" "$(registrations)"
shed=$(http_body "http://127.0.0.1:$PC_API/api/v1/admission" | jq '[.classes[].shed | add] | add')
[ "${shed:-0}" -ge "$RETRIES" ] && pass "the pcscf's admission view counted the refusals ($shed)" ||
  fail "the pcscf's admission view counted the refusals" "${shed:-none} < $RETRIES"
echo "   scscf admission: $(http_body "http://127.0.0.1:$SC_API/api/v1/admission" | jq -c '{lag_seconds, shed: (.classes | map_values(.shed | add) | with_entries(select(.value > 0)))}')"

stop_clean pcscf scscf hss
finish
