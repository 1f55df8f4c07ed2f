# Shared by make bench's scripts (bench_register.sh, bench_call.sh) and make soak (soak.sh):
# subscribers provisioned over the HSS's REST API, pcscf and scscf started on free ports, SIPp
# registration and call steps and ramps, and per-process figures from /proc and /metrics.
# Sourced after tests/e2e/lib.sh (free_port, start_prog, PIDS, WORKDIR, BUILD). Every function
# also works under `set -euo pipefail`.
# shellcheck shell=bash

SCEN="$E2E_DIR/scenarios"
DOMAIN=ims.mnc001.mcc001.3gppnetwork.org
TOKEN=bench

# machine: "N cores, MODEL, load A B C" for the first line of a report
machine() {
  echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')," \
    "load $(cut -d' ' -f1-3 /proc/loadavg)"
}

# subscribers N EXPIRES [NAME...]: u1..uN (K = "bench" + 11 digits: 16 characters, as SIPp wants
# them) and each NAME (K = NAME padded with 0s to 16; registering for NAMED_EXPIRES seconds when
# set, else EXPIRES), OP shared. Writes $WORKDIR/users.csv (the
# u's, SIPp injection file: user;IMPI;domain;[authentication ...];expires;instance),
# $WORKDIR/NAME.csv for each NAME, and $WORKDIR/batch_*.json for provision().
subscribers() {
  perl -e '
    my ($n, $d, $w, $exp, $nexp, @names) = @ARGV;
    my @subs = map { ["u$_", sprintf("bench%011d", $_), $_] } 1..$n;
    my $i = $n;
    push @subs, [$_, substr($_ . "0" x 16, 0, 16), ++$i] for @names;
    my ($c, $j);
    open($c, ">", "$w/users.csv"); print $c "SEQUENTIAL\n";
    for my $i (0..$#subs) {
      my ($u, $k, $inst) = @{$subs[$i]};
      if ($i % 250 == 0) {   # bulk POSTs of 250 stay under the 64 KiB body limit
        if ($j) { print $j "]\n"; close $j; }
        open($j, ">", sprintf("%s/batch_%05d.json", $w, $i)); print $j "[";
      } else { print $j ","; }
      printf $j "{\"impi\":\"%s\@%s\",\"impus\":[\"sip:%s\@%s\"],\"k\":\"%s\",\"op\":\"%s\",\"amf\":\"0000\"}",
        $u, $d, $u, $d, unpack("H*", $k), unpack("H*", "ponmlkjihgfedcba");
      my $line = sprintf("%s;%s\@%s;%s;[authentication username=%s\@%s aka_K=%s aka_OP=ponmlkjihgfedcba];%d;%d\n",
        $u, $u, $d, $d, $u, $d, $k, $inst <= $n ? $exp : $nexp, $inst);
      if ($inst <= $n) { print $c $line; }
      else { open(my $o, ">", "$w/$u.csv"); print $o "SEQUENTIAL\n$line"; close $o; }
    }
    print $j "]\n"; close $j; close $c;' "$1" "$DOMAIN" "$WORKDIR" "$2" "${NAMED_EXPIRES:-$2}" "${@:3}"
  printf 'subscribers: []\n' >"$WORKDIR/empty.yaml"
}

# provision: POST every batch subscribers() wrote to the HSS started last (start_hss, HSS_API).
provision() {
  local f
  for f in "$WORKDIR"/batch_*.json; do
    curl -s -o /dev/null -m 60 -H "Authorization: Bearer $TOKEN" -X POST \
      "http://127.0.0.1:$HSS_API/api/v1/subscribers" --data-binary "@$f" || true
  done
}

# start_core [SCSCF_...=VALUE...]: scscf and pcscf on new ports (SC_SIP, SC_API, PC_SIP, PC_API),
# the scscf's Cx peer the last start_hss, the extra settings passed to the scscf (e.g. its store);
# pcscf -> scscf over BENCH_CORE_TRANSPORT (tcp by default). 0 once the scscf is ready.
start_core() {
  local diam
  SC_SIP=$(free_port) SC_API=$(free_port) PC_SIP=$(free_port) PC_API=$(free_port)
  mapfile -t diam < <(scscf_diameter_env)
  start_prog scscf "$BUILD/scscf" config/scscf.yaml SCSCF_SIP_LISTEN="127.0.0.1:$SC_SIP" \
    SCSCF_API_LISTEN="127.0.0.1:$SC_API" SCSCF_LOG_LEVEL=warning "${diam[@]}" "$@" || return 1
  start_prog pcscf "$BUILD/pcscf" config/pcscf.yaml PCSCF_SIP_LISTEN="127.0.0.1:$PC_SIP" \
    PCSCF_API_LISTEN="127.0.0.1:$PC_API" PCSCF_LOG_LEVEL=warning \
    PCSCF_PCSCF_REGISTRAR="sip:127.0.0.1:$SC_SIP;transport=${BENCH_CORE_TRANSPORT:-tcp};lr" || return 1
  wait_http "127.0.0.1:$SC_API" /readyz 200 10 || { echo "bench: scscf not ready"; return 1; }
}

rss() { awk '/VmRSS/ {print $2}' "/proc/${PIDS[$1]}/status" 2>/dev/null || echo 0; }
hwm() { awk '/VmHWM/ {print $2}' "/proc/${PIDS[$1]}/status" 2>/dev/null || echo 0; }
fds() { find "/proc/${PIDS[$1]}/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
metric() { # API NAME: a metric's value (0 when absent)
  http_body "http://$1/metrics" | awk -v m="$2" '{k = $1; sub(/\{.*/, "", k)} k == m {v=$2} END {print v+0}'
}

# refused_503: the 503s pcscf and scscf (PC_API, SC_API) answered so far, admission's and the caps'
refused_503() {
  local n=0 api
  for api in "$PC_API" "$SC_API"; do
    n=$((n + $(http_body "http://127.0.0.1:$api/metrics" |
      awk '/^cscf_sip_responses_total\{.*code="503"/ {v += $2} END {printf "%d", v}')))
  done
  echo "$n"
}

# beyond_peak BEST ACHIEVED OK FAILED REFUSED: the line for a step offered at twice the best rate:
# the rate that succeeded (SIPp's achieved rate times the share that succeeded: the step may run
# longer than planned) against the best, and how the rest went: requests refused with 503 at once
# (a registration is two requests), and failed attempts left over (timed out or lost)
beyond_peak() {
  local ach pct lost
  ach=$(awk -v g="$2" -v o="$3" -v f="$4" 'BEGIN {printf "%.0f", o + f ? g * o / (o + f) : 0}')
  pct=$(awk -v a="$ach" -v b="$1" 'BEGIN {printf "%.0f", b ? 100 * a / b : 0}')
  lost=$(($4 - $5 > 0 ? $4 - $5 : 0))
  echo "offered $(($1 * 2))/s: ${ach}/s succeeded (${pct}% of the best); $4 failed, $5 requests refused with 503, at least $lost attempts not refused (timed out or lost)"
}

# settle: wait (up to 45 s) until pcscf and scscf hold almost no SIP transactions, i.e. those kept
# for retransmissions (Timer J/L/M, 32 s over UDP) after the last burst are gone, so their expiry
# does not land in the next measurement. Prints the seconds waited.
settle() {
  local i held
  for i in $(seq 90); do
    held=$( (http_body "http://127.0.0.1:$PC_API/metrics"; http_body "http://127.0.0.1:$SC_API/metrics") |
      awk '/^cscf_sip_transactions[{ ]/ {n += $2} END {print n+0}')
    [ "$held" -lt 100 ] && break
    sleep 0.5
  done
  echo $((i / 2))
}

# prog_ticks NAME...: CPU time (user + system, clock ticks) the named programs used so far
prog_ticks() {
  local p n=0
  for p in "$@"; do
    [ -n "${PIDS[$p]:-}" ] && n=$((n + $(awk '{print $14 + $15}' "/proc/${PIDS[$p]}/stat" 2>/dev/null || echo 0)))
  done
  echo "$n"
}

# cpu_snap -> "pcscf_ticks scscf_ticks machine_idle_ticks machine_total_ticks udp_rcvbuf_errors
# steal_ticks" (0 for a program not running); cpu_use BEFORE AFTER -> each program's CPU in % of
# one core, the machine's idle share, the share the hypervisor gave to other guests (steal: on a
# shared host our loops wait for a CPU that no process here holds), and the UDP datagrams
# dropped on full receive buffers (whole machine)
cpu_snap() {
  printf '%d %d ' "$(prog_ticks pcscf)" "$(prog_ticks scscf)"
  awk '/^cpu / {t = 0; for (i = 2; i <= NF; i++) t += $i; printf "%d %d ", $5 + $6, t}' /proc/stat
  awk '/^Udp:/ {n++; if (n == 1) for (i = 1; i <= NF; i++) if ($i == "RcvbufErrors") c = i; if (n == 2) printf "%d ", $c + 0}' /proc/net/snmp
  awk '/^cpu / {print $9 + 0}' /proc/stat
}
cpu_use() {
  awk -v a="$1" -v b="$2" -v n="$(nproc)" 'BEGIN {
    split(a, x, " "); split(b, y, " "); t = (y[4] - x[4]) / n; if (t <= 0) t = 1
    if (y[1] > 0) printf "cpu pcscf %3.0f%% scscf %3.0f%%, ", 100 * (y[1] - x[1]) / t, 100 * (y[2] - x[2]) / t
    printf "machine idle %3.0f%%, steal %2.0f%%, udp drops %d", 100 * (y[3] - x[3]) / (y[4] - x[4]),
      100 * (y[6] - x[6]) / (y[4] - x[4]), y[5] - x[5] }'
}

# udp_drops PID...: datagrams the kernel dropped so far on those processes' own UDP sockets
# (full receive buffer; /proc/net/udp "drops" by socket inode), unlike cpu_use's whole machine
udp_drops() {
  local pid
  for pid in "$@"; do find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 -lname 'socket:*' -printf '%l\n' 2>/dev/null; done |
    tr -dc '0-9\n' | awk 'NR == FNR {own[$1] = 1; next} FNR > 1 && ($10 in own) {d += $13} END {print d + 0}' - /proc/net/udp /proc/net/udp6 2>/dev/null ||
    echo 0
}

# percentiles: numbers on stdin (one a line) -> "p50 p99" divided by $1 (1 when not given), one
# decimal; "0 0" for none
percentiles() {
  sort -n | awk -v d="${1:-1}" '{a[NR] = $1}
    END {if (NR) printf "%.1f %.1f\n", a[int(NR * 0.5) + 1] / d, a[int(NR * 0.99) + 1] / d; else print "0 0"}'
}

# screen_counts FILE -> "achieved_rate successful failed" from a SIPp -trace_screen file
screen_counts() {
  awk -F'|' '/Call Rate/ {r=$3} /Successful call/ {s=$3} /Failed call/ {f=$3}
    END {gsub(/[^0-9.]/, "", r); gsub(/[^0-9]/, "", s); gsub(/[^0-9]/, "", f); print r+0, s+0, f+0}' "$1" 2>/dev/null ||
    echo "0 0 0"
}

# register CSV PORT TRANSPORT RATE COUNT -> the number of successful registrations (SIPp's count),
# from 127.0.0.1:PORT to the pcscf (register_aka.xml)
register() {
  local csv=$1 port=$2 transport=$3 rate=$4 count=$5 screen="$WORKDIR/reg_$2.screen"
  timeout $((count / rate + 60)) sipp -sf "$SCEN/register_aka.xml" -inf "$csv" -i 127.0.0.1 \
    -p "$port" -t "$transport" -r "$rate" -m "$count" -auth_uri "$DOMAIN" -timeout $((count / rate + 50))s \
    -trace_screen -screen_file "$screen" "127.0.0.1:$PC_SIP" >/dev/null 2>&1 </dev/null || true
  screen_counts "$screen" | cut -d' ' -f2
}

# ---- registration steps (register_aka.xml with response-time marks) ----

# reg_scenarios: $WORKDIR/register_rtd.xml, register_aka.xml timing first REGISTER -> 200
reg_scenarios() {
  sed -e '0,/<send retrans="500">/s//<send retrans="500" start_rtd="reg">/' \
    -e 's|<recv response="200"/>|<recv response="200" rtd="reg"/>|' \
    "$SCEN/register_aka.xml" >"$WORKDIR/register_rtd.xml"
}

# reg_step SCENARIO PORT RATE -> "achieved_rate ok failed p50_ms p99_ms": SECONDS_PER_STEP of
# registrations (users.csv) at RATE to 127.0.0.1:PORT. Run from $WORKDIR (SIPp's rtt file).
reg_step() {
  local scen=$1 port=$2 rate=$3 tag="$WORKDIR/s_$2_$3" lport rtt lat="0 0"
  lport=$(free_port)
  timeout $((SECONDS_PER_STEP + 40)) sipp -sf "$scen" -inf "${REG_USERS:-$WORKDIR/users.csv}" -i 127.0.0.1 \
    -p "$lport" -t u1 -r "$rate" -m $((rate * SECONDS_PER_STEP)) -auth_uri "$DOMAIN" \
    -timeout $((SECONDS_PER_STEP + 30))s -trace_screen -screen_file "$tag.screen" \
    -trace_rtt -rtt_freq 1 "127.0.0.1:$port" >/dev/null 2>&1 </dev/null || true
  rtt=$(ls "$WORKDIR"/*_rtt.csv 2>/dev/null | head -1 || true)
  if [ -n "$rtt" ]; then
    lat=$(awk -F';' 'NR > 1 {print $2}' "$rtt" | percentiles)
    rm -f "$WORKDIR"/*_rtt.csv
  fi
  echo "$(screen_counts "$tag.screen") $lat"
}

# reg_ramp NAME SCENARIO PORT RATES: a line per step; BEST (with BEST_P50/BEST_P99) is the highest
# achieved rate of a step with < 1% failures and achieved >= 90% of the target (ramp_best); the
# ramp ends at the first step that misses one of these. profile() runs during the step at PERF_AT (name ims).
reg_ramp() {
  local name=$1 scen=$2 port=$3 rate got ok failed p50 p99
  BEST=0 BEST_P50=0 BEST_P99=0
  for rate in $4; do
    PERF_PIDS=()
    [ "$name" = ims ] && [ "$rate" = "${PERF_AT:-}" ] && profile
    read -r got ok failed p50 p99 < <(cd "$WORKDIR" && reg_step "$scen" "$port" "$rate")
    [ ${#PERF_PIDS[@]} -eq 0 ] || wait "${PERF_PIDS[@]}" 2>/dev/null || true
    printf '  %-10s target %5d/s  achieved %7.0f/s  ok %6d  failed %5d  p50 %6s ms  p99 %6s ms\n' \
      "$name" "$rate" "$got" "$ok" "$failed" "$p50" "$p99"
    [ "$ok" -gt 0 ] && [ $((failed * 100)) -lt "$ok" ] || break
    ramp_best "$rate" "$got" "$p50" "$p99" || break
  done
}

# ramp_best TARGET ACHIEVED P50 P99: a step without too many failures (the caller checked) counts
# towards BEST when it achieved >= 90% of its target; 1 (end the ramp) when it did not. With
# RAMP_COUNT_SLOW set, such a step's achieved rate counts too (make soak on a busy machine, where
# the harness itself may not get the CPU for the first target).
ramp_best() {
  local slow=0
  awk -v g="$2" -v r="$1" 'BEGIN {exit !(g < 0.9 * r)}' && slow=1
  if [ "$slow" = 0 ] || [ -n "${RAMP_COUNT_SLOW:-}" ]; then
    if awk -v g="$2" -v b="$BEST" 'BEGIN {exit !(g > b)}'; then
      BEST=$(awk -v g="$2" 'BEGIN {printf "%.0f", g}')
      BEST_P50=$3 BEST_P99=$4
    fi
  fi
  [ "$slow" = 0 ]
}

# ---- call steps (bench_call_uac.xml -> ... -> bench_call_uas.xml) ----
# The caller is registered from UAC_PORT and the callee from UAS_PORT (the pcscf sends a
# terminating request to the flow the callee registered from); $WORKDIR/call.csv names them.

# call_csv CALLER CALLEE: the UAC's injection file
call_csv() { printf 'SEQUENTIAL\n%s;sip:%s@%s;%s\n' "$1" "$2" "$DOMAIN" "$DOMAIN" >"$WORKDIR/call.csv"; }

# call_step TARGET LOCAL_PORT RATE -> "achieved_cps ok failed p50_ms p99_ms"
# A SIPp UAS on UAS_PORT for this step's calls; the SIPp UAC from LOCAL_PORT sends them to
# TARGET (the pcscf, or the UAS itself for the ceiling), SECONDS_PER_STEP long, each held
# HOLD_MS. Failed = planned - successful, so calls left unfinished at SIPp's global timeout count
# as failed too. Run from $WORKDIR (SIPp's log file); p50/p99: INVITE sent -> 200 received.
call_step() {
  local target=$1 lport=$2 rate=$3 calls=$(($3 * SECONDS_PER_STEP)) tag="$WORKDIR/c_$1_$3" i
  timeout $((SECONDS_PER_STEP + 60)) sipp -sf "$SCEN/bench_call_uas.xml" -i 127.0.0.1 \
    -p "$UAS_PORT" -t u1 -buff_size 4194304 -m "$calls" -timeout $((SECONDS_PER_STEP + 50))s -trace_screen \
    -screen_file "$tag.uas.screen" >/dev/null 2>&1 </dev/null &
  PIDS[uas]=$!
  wait_for 3 port_bound udp "$UAS_PORT" || true
  timeout $((SECONDS_PER_STEP + 50)) sipp -sf "$SCEN/bench_call_uac.xml" -inf "$WORKDIR/call.csv" \
    -i 127.0.0.1 -p "$lport" -t u1 -buff_size 4194304 -r "$rate" -m "$calls" -l $((rate * 4 + 100)) -d "${HOLD_MS:-0}" \
    -recv_timeout 10s -timeout $((SECONDS_PER_STEP + 40))s -trace_screen \
    -screen_file "$tag.screen" -trace_logs "127.0.0.1:$target" >/dev/null 2>&1 </dev/null || true
  # the UAS ends by itself once it has seen every call; give stragglers 5 s
  for i in $(seq 50); do
    kill -0 "${PIDS[uas]}" 2>/dev/null || break
    sleep 0.1
  done
  kill -TERM "${PIDS[uas]}" 2>/dev/null || true
  wait "${PIDS[uas]}" 2>/dev/null || true
  unset "PIDS[uas]"
  # setup times in microseconds, one per answered call (see bench_call_uac.xml)
  local log lat="0 0"
  log=$(ls "$WORKDIR"/bench_call_uac_*_logs.log 2>/dev/null | head -1 || true)
  if [ -n "$log" ]; then
    lat=$(cut -d' ' -f1 "$log" | percentiles 1000)
    rm -f "$WORKDIR"/bench_call_uac_*_logs.log
  fi
  local got ok
  read -r got ok _ < <(screen_counts "$tag.screen")
  echo "$got $ok $((calls - ok)) $lat"
}

# call_ramp NAME TARGET LOCAL_PORT RATES: a line per step; BEST (with BEST_P50/BEST_P99) is the
# highest achieved rate of a step with < 0.1% failed calls, p99 <= MAX_P99 (ms) and achieved
# >= 90% of the target (ramp_best); the ramp ends at the first step that misses one of these.
# profile() runs during the step at PERF_AT (name ims).
call_ramp() {
  local name=$1 target=$2 lport=$3 rate got ok failed p50 p99 cpu0
  BEST=0 BEST_P50=0 BEST_P99=0
  for rate in $4; do
    PERF_PIDS=()
    [ "$name" = ims ] && [ "$rate" = "${PERF_AT:-}" ] && profile
    cpu0=$(cpu_snap)
    read -r got ok failed p50 p99 < <(cd "$WORKDIR" && call_step "$target" "$lport" "$rate")
    [ ${#PERF_PIDS[@]} -eq 0 ] || wait "${PERF_PIDS[@]}" 2>/dev/null || true
    printf '  %-10s target %5d/s  achieved %7.0f/s  ok %6d  failed %5d  p50 %6s ms  p99 %6s ms  %s\n' \
      "$name" "$rate" "$got" "$ok" "$failed" "$p50" "$p99" "$(cpu_use "$cpu0" "$(cpu_snap)")"
    [ "$ok" -gt 0 ] && [ $((failed * 1000)) -lt "$ok" ] || break
    awk -v p="$p99" -v m="${MAX_P99:-1000}" 'BEGIN {exit !(p > m)}' && break
    ramp_best "$rate" "$got" "$p50" "$p99" || break
  done
}

# profile: perf on scscf and pcscf for one step, in the background (their PIDs in PERF_PIDS).
# Reports in $BUILD/perf-$PERF_NAME<prog>.txt (kept: the bench removes WORKDIR).
profile() {
  local p
  for p in scscf pcscf; do
    (perf record -F 499 -g -p "${PIDS[$p]}" -o "$WORKDIR/$p.perf" -- sleep "$SECONDS_PER_STEP" >/dev/null 2>&1 &&
      perf report -i "$WORKDIR/$p.perf" --no-children --percent-limit 2 --stdio 2>/dev/null |
      grep -E '^ +[0-9]' >"$BUILD/perf-${PERF_NAME:-}$p.txt") </dev/null >/dev/null 2>&1 &
    PERF_PIDS+=($!)
  done
}
