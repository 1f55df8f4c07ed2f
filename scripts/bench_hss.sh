#!/usr/bin/env bash
# make bench, HSS part: MAR latency of the lab HSS with 1,000 and with 100,000 provisioned
# subscribers (BENCH_HSS_COUNTS), which must not grow with the count (IMPI/IMPU hash lookups,
# one SQN row written per MAR). The subscribers are written into the seed YAML, so a new
# database is seeded at start (the time it takes is printed too); an scscf sends the MARs
# through its Cx debug route (POST /api/v1/cx/mar), one at a time, for random subscribers.
# Prints, per count: the HSS's own handling time per MAR (its cscf_diameter_request_duration
# histogram: Milenage, lookup, the SQN row's commit), the hss process's CPU time per MAR (less
# disturbed by other load on the machine than wall-clock figures), the scscf's Cx round trip,
# and the HTTP request's p50/p99 around it. Figures only, no pass/fail.
set -u
BUILD=${1:-build}
cd "$(dirname "$0")/.."
. tests/e2e/lib.sh
COUNTS=${BENCH_HSS_COUNTS:-"1000 100000"}
MARS=${BENCH_HSS_MARS:-2000}
DOMAIN=ims.mnc001.mcc001.3gppnetwork.org
TOKEN=bench

# hist_sum_count PORT PROGRAM: "sum count" of the MAR series of cscf_diameter_request_duration_seconds
hist_sum_count() {
  http_body "http://127.0.0.1:$1/metrics" | awk -v p="$2" '
    index($1, "cscf_diameter_request_duration_seconds_sum{program=\"" p "\",command=\"MAR\"") == 1 {s = $2}
    index($1, "cscf_diameter_request_duration_seconds_count{program=\"" p "\",command=\"MAR\"") == 1 {c = $2}
    END {print s + 0, c + 0}'
}

# cpu_ticks NAME: user + system CPU of the process so far, in clock ticks
cpu_ticks() { awk '{print $14 + $15}' "/proc/${PIDS[$1]}/stat"; }
TICK=$(getconf CLK_TCK)

# bench N: seeds N subscribers, measures MARS MARs
bench() {
  local n=$1 yaml="$WORKDIR/subs_$1.yaml" db="$WORKDIR/hss_$1.db" start i
  perl -e 'my ($n, $d) = @ARGV; print "subscribers:\n";
    for my $i (1..$n) {
      printf "  - impi: u%d\@%s\n    impus: [sip:u%d\@%s]\n    k: %032x\n    op: 706f6e6d6c6b6a696867666564636261\n", $i, $d, $i, $d, $i;
    }' "$n" "$DOMAIN" >"$yaml"
  HSS_DIAM=$(free_port) HSS_API=$(free_port)
  start=${EPOCHREALTIME//[!0-9]/}
  env HSS_DIAMETER_LISTEN="127.0.0.1:$HSS_DIAM" HSS_API_LISTEN="127.0.0.1:$HSS_API" \
    HSS_SUBSCRIBERS_FILE="$yaml" HSS_SUBSCRIBERS_DATABASE="$db" HSS_LOG_LEVEL=warning \
    HSS_AUTH_MAX_VECTORS=1 "$BUILD/hss" -c config/hss.yaml 2>>"$WORKDIR/hss_$n.log" &
  PIDS[hss]=$!
  # seeding 100,000 subscribers takes seconds: a longer wait than start_prog's
  wait_http "127.0.0.1:$HSS_API" /healthz 200 120 || { echo "bench: hss with $n subscribers did not start"; tail -3 "$WORKDIR/hss_$n.log"; return 1; }
  local seed_ms=$(((${EPOCHREALTIME//[!0-9]/} - start) / 1000))
  SC_API=$(free_port)
  mapfile -t diam < <(scscf_diameter_env)
  start_prog scscf "$BUILD/scscf" config/scscf.yaml SCSCF_SIP_LISTEN="127.0.0.1:$(free_port)" \
    SCSCF_API_LISTEN="127.0.0.1:$SC_API" SCSCF_API_TOKEN=$TOKEN SCSCF_LOG_LEVEL=warning \
    "${diam[@]}" || return 1
  wait_http "127.0.0.1:$SC_API" /readyz 200 20 || { echo "bench: scscf not ready"; return 1; }
  # The same 1,000 subscribers (spread over the N) in both runs, each given one MAR first: its
  # first MAR also writes its assignment row (AUTH_PENDING); the measured ones then do the same
  # work whatever N is (lookup, vector, one SQN row), so only N differs. One curl process sends
  # the requests in sequence.
  local set=$((n < 1000 ? n : 1000))
  mar_cfg() { # IMPI numbers... -> curl config (six lines a request, no trailing "next")
    local u
    for u in "$@"; do
      printf 'url = "http://127.0.0.1:%s/api/v1/cx/mar"\nheader = "Authorization: Bearer %s"\ndata = "{\\"impi\\":\\"u%d@%s\\",\\"impu\\":\\"sip:u%d@%s\\"}"\noutput = "/dev/null"\nwrite-out = "%%{http_code} %%{time_total}\\n"\nnext\n' \
        "$SC_API" "$TOKEN" "$u" "$DOMAIN" "$u" "$DOMAIN"
    done | sed '$d'
  }
  local cfg="$WORKDIR/mar_$n.curl" ids=()
  for ((i = 0; i < set; i++)); do ids+=($((i * 7919 % n + 1))); done
  mar_cfg "${ids[@]}" >"$cfg.warm"
  local run=()
  for ((i = 0; i < MARS; i++)); do run+=("${ids[RANDOM % set]}"); done
  mar_cfg "${run[@]}" >"$cfg.run"
  curl -s -m 60 -K "$cfg.warm" >/dev/null
  local h0 s0 h1 s1 c0 c1
  h0=$(hist_sum_count "$HSS_API" hss) s0=$(hist_sum_count "$SC_API" scscf) c0=$(cpu_ticks hss)
  curl -s -m 300 -K "$cfg.run" >"$WORKDIR/mar_$n.times"
  h1=$(hist_sum_count "$HSS_API" hss) s1=$(hist_sum_count "$SC_API" scscf) c1=$(cpu_ticks hss)
  local ok lat
  ok=$(grep -c '^200 ' "$WORKDIR/mar_$n.times")
  lat=$(awk '$1 == 200 {print $2 * 1000}' "$WORKDIR/mar_$n.times" | sort -n |
    awk '{a[NR] = $1} END {if (NR) printf "%.2f %.2f", a[int(NR * 0.5) + 1], a[int(NR * 0.99) + 1]; else print "0 0"}')
  read -r p50 p99 <<<"$lat"
  awk -v n="$n" -v ok="$ok" -v m="$MARS" -v seed="$seed_ms" -v h0="$h0" -v h1="$h1" -v s0="$s0" -v s1="$s1" \
    -v p50="$p50" -v p99="$p99" -v size="$(stat -c %s "$db")" -v cpu="$(((c1 - c0) * 1000000 / TICK))" 'BEGIN {
    split(h0, a, " "); split(h1, b, " "); split(s0, c, " "); split(s1, d, " ");
    hc = b[2] - a[2]; sc = d[2] - c[2];
    printf "  %7d subscribers  MAR at the hss %4.0f us (CPU %4.0f us)  Cx round trip %6.2f ms  HTTP p50 %5.2f ms  p99 %5.2f ms  (%d/%d answered; seeded in %.1f s, database %.1f MB)\n",
      n, hc ? 1e6 * (b[1] - a[1]) / hc : 0, hc ? cpu / hc : 0, sc ? 1e3 * (d[1] - c[1]) / sc : 0, p50, p99, ok, m, seed / 1000, size / 1e6}'
  HSS_MAR_US[$n]=$(awk -v a="$h0" -v b="$h1" 'BEGIN {split(a, x, " "); split(b, y, " "); c = y[2] - x[2]; printf "%.0f", c ? 1e6 * (y[1] - x[1]) / c : 0}')
  stop_prog scscf
  stop_prog hss
}

declare -A HSS_MAR_US
echo "bench: HSS MAR latency by provisioned subscribers, $MARS MARs each ($(nproc) cores)"
for n in $COUNTS; do bench "$n" || break; done
first=${COUNTS%% *} last=${COUNTS##* }
if [ -n "${HSS_MAR_US[$first]:-}" ] && [ -n "${HSS_MAR_US[$last]:-}" ]; then
  echo "bench: a MAR at the HSS takes ${HSS_MAR_US[$first]} us with $first subscribers, ${HSS_MAR_US[$last]} us with $last" \
    "($(awk -v a="${HSS_MAR_US[$first]}" -v b="${HSS_MAR_US[$last]}" 'BEGIN {printf "%.2f", a ? b / a : 0}')x)"
fi
PASSED=1
finish >/dev/null
