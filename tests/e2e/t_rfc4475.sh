#!/usr/bin/env bash
# RFC 4475 torture messages (tests/data/rfc4475), byte-exact, to pcscf and scscf over UDP and
# over TCP. Each answer must be the one tests/e2e/rfc4475_expect.tsv gives for that program and
# transport (what the RFC says, narrowed to what our design answers); neither process may crash,
# stop answering OPTIONS, or (sanitizer build) report an error or a leak.
#
# Responses follow the top Via's transport (RFC 3261 18.2.2): a message whose Via says TCP but
# that arrives over UDP is answered over TCP to the Via's address, which this test cannot see.
# So when the Via names another transport, silence is also correct for the byte-exact copy, and a
# copy with only that Via transport token rewritten checks the answer itself.
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
TORTURE="$DATA_DIR/rfc4475"
TABLE="$E2E_DIR/rfc4475_expect.tsv"
TIMEOUT_MS=400

if [ ! -f "$TORTURE/EXPECTED.tsv" ]; then
  fail "RFC 4475 messages found" "no $TORTURE/EXPECTED.tsv"
  finish
  exit 1
fi

# The messages as published (a checkout that changed a byte would test something else), and a
# row of expectations for every one of them.
bad_sha=$(tail -n +2 "$TORTURE/EXPECTED.tsv" | awk -F'\t' -v d="$TORTURE" '{print $6 "  " d "/" $1 ".sip"}' |
  sha256sum --check --quiet 2>&1 | grep -o '[^/]*: FAILED.*' | tr '\n' ' ')
expect_eq "every RFC 4475 message byte-exact (SHA-256 as EXPECTED.tsv)" "" "$bad_sha"
rows=$(comm -3 <(tail -n +2 "$TORTURE/EXPECTED.tsv" | cut -f1 | sort) <(grep -v '^#' "$TABLE" | cut -f1 | sort) |
  sed 's/^\t/(no such message) /; s/^\([^(]\)/(no row) \1/' | tr '\n' ' ')
expect_eq "a row in rfc4475_expect.tsv for every message, and no other" "" "$rows"

# The transport named by the first Via header (folded lines joined), upper case, or "" for a
# response or a message without one.
via_transport() {
  head -c 65536 "$1" | tr -d '\000' | awk '
    NR == 1 && /^SIP\/2\.0/ { exit }
    /^\r?$/ { exit }
    /^[ \t]/ { line = line $0; next }
    { if (line != "") lines[n++] = line; line = $0 }
    END {
      if (line != "") lines[n++] = line
      for (i = 0; i < n; i++) {
        l = lines[i]; gsub(/\r/, "", l)
        if (tolower(l) ~ /^(via|v)[ \t]*:/) {
          sub(/^[^:]*:[ \t]*/, "", l)
          gsub(/[ \t]*\/[ \t]*/, "/", l)   # "SIP / 2.0 / UDP" -> "SIP/2.0/UDP"
          split(l, words, /[ \t]+/)
          split(words[1], parts, "/")
          print toupper(parts[3]); exit
        }
      }
    }' | sed 's/[^A-Z].*//'
}

outcome() { # "SIP/2.0 400 Bad Request" -> 400; NO RESPONSE -> NO; CLOSED -> CLOSED
  local _ code
  case "$1" in
    SIP/2.0\ *) read -r _ code _ <<<"$1" && echo "$code" ;;
    "NO RESPONSE") echo NO ;;
    *) echo "$1" ;;
  esac
}

allowed() { # outcome alternatives
  local o=$1 alt
  IFS='|' read -ra alt <<<"$2"
  for a in "${alt[@]}"; do [ "$o" = "$a" ] && return 0; done
  return 1
}

options_probe() { # port -> file with an OPTIONS to the node
  local f="$WORKDIR/options_$1.sip"
  printf 'OPTIONS sip:127.0.0.1:%s SIP/2.0\r\nVia: SIP/2.0/%s 127.0.0.1:9;branch=z9hG4bK-probe%s\r\nMax-Forwards: 70\r\nFrom: <sip:probe@example.org>;tag=p\r\nTo: <sip:127.0.0.1>\r\nCall-ID: probe-%s-%s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' \
    "$1" "$2" "$RANDOM" "$2" "$RANDOM" >"$f"
  echo "$f"
}

# start_instance NAME PROG: a fresh process, so no message is ever a retransmission to it.
start_instance() {
  local name=$1 prog=$2 up=${2^^}
  local sip api
  sip=$(free_port)
  api=$(free_port)
  local extra=()
  # The scscf also runs Diameter; no HSS is needed to answer these messages.
  # The scscf's REGISTERs go to the HSS (MAR): one lab HSS serves every instance.
  # (each with its own Diameter identity: one identity, one connection)
  [ "$prog" = scscf ] && mapfile -t extra < <(scscf_diameter_env) &&
    extra+=("SCSCF_DIAMETER_IDENTITY=${name//_/-}.ims.mnc001.mcc001.3gppnetwork.org")
  # The pcscf's REGISTERs go to a registrar port nobody listens on (never a lab scscf that
  # happens to run on the default 6060): the connection fails at once, 500 (see the table).
  [ "$prog" = pcscf ] && extra=("PCSCF_PCSCF_REGISTRAR=sip:127.0.0.1:$DEAD_PORT;transport=tcp;lr")
  start_prog "$name" "$BUILD/$prog" "$REPO_DIR/config/$prog.yaml" \
    "${up}_SIP_LISTEN=127.0.0.1:$sip" "${up}_API_LISTEN=127.0.0.1:$api" "${extra[@]}" || return 1
  SIP_PORT[$name]=$sip
  API_PORT[$name]=$api
  wait_http "127.0.0.1:$api" /readyz 200 10 || fail "$name: ready (its HSS peer open)"
}
declare -A SIP_PORT=() API_PORT=()

# tab_fields LINE: its tab-separated fields into the caller's array f, empty ones kept (as cut -f
# gives them; read -a would merge two tabs, a tab being IFS white space).
tab_fields() {
  local rest=$1
  f=()
  while [[ "$rest" == *$'\t'* ]]; do
    f+=("${rest%%$'\t'*}")
    rest=${rest#*$'\t'}
  done
  f+=("$rest")
}

send() { # instance flag file allowed -> outcome
  # Answers come within milliseconds; only the wait for an expected silence costs time.
  local wait=2000
  allowed NO "$4" && wait=$TIMEOUT_MS
  outcome "$(sipsend "$2" 127.0.0.1 "${SIP_PORT[$1]}" "$3" "$wait")"
}

# torture_transport PROG T: the byte-exact messages to one instance over T, and the copies
# with the Via transport rewritten to T to another.
torture_transport() {
  local prog=$1 t=$2 flag=-u col
  [ "$t" = TCP ] && flag=-t
  case "$prog/$t" in # the table's column for this program and transport
    pcscf/UDP) col=2 ;; pcscf/TCP) col=3 ;; scscf/UDP) col=4 ;; scscf/TCP) col=5 ;;
  esac
  local exact="${prog}_${t}_exact" variant="${prog}_${t}_via"
  start_instance "$exact" "$prog" && start_instance "$variant" "$prog" || return
  local bad=0 checked=0 name want why native got
  local -a f
  while IFS= read -r line; do
    tab_fields "$line"
    name=${f[0]} want=${f[col - 1]:-} why=${f[5]:-}
    [[ "$want" =~ ^(NO|CLOSED|[1-6][0-9][0-9])(\|(NO|CLOSED|[1-6][0-9][0-9]))*$ ]] ||
      { bad=$((bad + 1)); fail "$prog: $name row's $t cell is outcomes" "got '$want'"; continue; }
    local file="$TORTURE/$name.sip"
    [ -f "$file" ] || { bad=$((bad + 1)); fail "$prog: $name.sip exists"; continue; }
    native=${NATIVE[$name]:-}
    got=$(send "$exact" "$flag" "$file" "$want|NO")
    echo "$prog $t $name exact $got" >>"$WORKDIR/answers" # every answer, for a failed run's logs
    checked=$((checked + 1))
    if [ -n "$native" ] && [ "$native" != "$t" ]; then
      allowed "$got" "$want|NO" ||
        { bad=$((bad + 1)); fail "$prog: $name over $t (Via $native) answered $got" "table allows $want, or silence as the answer goes along the Via: $why"; }
      # first sent-protocol only; LWS and folding allowed around the slashes (wsinv)
      perl -0pe "s{(SIP\\s*/\\s*2\\.0\\s*/\\s*)$native}{\\1$t}i" "$file" >"$WORKDIR/${prog}_${name}_via_$t.sip"
      got=$(send "$variant" "$flag" "$WORKDIR/${prog}_${name}_via_$t.sip" "$want")
      echo "$prog $t $name via $got" >>"$WORKDIR/answers"
      checked=$((checked + 1))
    fi
    allowed "$got" "$want" || { bad=$((bad + 1)); fail "$prog: $name over $t answered $got" "table allows $want: $why"; }
    prog_alive "$exact" && prog_alive "$variant" || { fail "$prog: still running after $name over $t"; return; }
  done < <(grep -v '^#' "$TABLE")
  [ "$bad" -eq 0 ] && pass "$prog over $t: $checked torture sends answered as rfc4475_expect.tsv says"

  expect_match "$exact: malformed requests show in /metrics" '^cscf_sip_bad_messages_total\{program="[a-z]+",kind="request"\} [1-9]' \
    "$(http_body "http://127.0.0.1:${API_PORT[$exact]}/metrics")"
  local inst
  for inst in "$exact" "$variant"; do
    expect_match "$inst: OPTIONS over $t still answered 200 afterwards" '^SIP/2.0 200' \
      "$(sipsend "$flag" 127.0.0.1 "${SIP_PORT[$inst]}" "$(options_probe "${SIP_PORT[$inst]}" "$t")" 2000)"
    expect_eq "$inst: /healthz still 200" 200 "$(http_code "http://127.0.0.1:${API_PORT[$inst]}/healthz")"
    stop_prog "$inst"
    expect_eq "$inst: exits 0 on SIGTERM" 0 "$LAST_EXIT"
    expect_clean_log "$inst: no sanitizer error or leak" "$inst"
  done
}

# The first Via's transport of each message, once here for the four runs below (each row costs
# process starts; this script is bound by them, not by the programs).
declare -A NATIVE=()
for m in "$TORTURE"/*.sip; do
  NATIVE[$(basename "$m" .sip)]=$(via_transport "$m")
done

start_hss hss || { finish; exit 1; }
DEAD_PORT=$(free_port) # reserved, never listened on

# Every program and transport runs at once, each on its own instances; the counts come back
# through files since the subshells cannot touch ours.
runs=() subshells=()
for prog in pcscf scscf; do
  for t in UDP TCP; do
    runs+=("${prog}_$t")
    (
      unset "PIDS[hss]" # shared by every run: only the main shell stops it
      trap 'for n in "${!PIDS[@]}"; do kill -KILL "${PIDS[$n]}" 2>/dev/null; done' EXIT
      PASSED=0 FAILED=0
      torture_transport "$prog" "$t"
      echo "$PASSED $FAILED" >"$WORKDIR/counts_${prog}_$t"
    ) >"$WORKDIR/out_${prog}_$t" 2>&1 &
    subshells+=($!)
  done
done
wait "${subshells[@]}" # not a bare wait: the shared hss is our child too
for r in "${runs[@]}"; do
  cat "$WORKDIR/out_$r"
  counts=$(cat "$WORKDIR/counts_$r" 2>/dev/null || echo "0 1")
  PASSED=$((PASSED + ${counts% *}))
  FAILED=$((FAILED + ${counts#* }))
done
stop_prog hss
expect_clean_log "hss: no sanitizer report" hss
grep -v '^#' "$TABLE" | awk -F'\t' '$6 ~ /DEVIATION/ {sub(/.*DEVIATION:? */, "", $6); print "  note known deviation, " $1 ": " $6}'
finish
