# Helpers for the store tests (t_store_*.sh), sourced after lib.sh: a real redis-server on a
# free port, AKA handsets (SIPp) and lab subscribers provisioned over the HSS's REST API.
# shellcheck shell=bash

DOMAIN=ims.mnc001.mcc001.3gppnetwork.org
SCEN="$E2E_DIR/scenarios"
OP_RAW=ponmlkjihgfedcba # SIPp takes K and OP as 16 raw characters (config/subscribers.yaml)
field() { jq -r "$1 // empty" <<<"$2"; }

# start_redis NAME: redis-server on a free port, no persistence (the tests want the server's
# memory only), in the foreground so that it is ours by PID; waits (5 s) for PONG.
# Sets REDIS_PORT.
start_redis() {
  local name=$1
  REDIS_PORT=$(free_port) || return 1
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$WORKDIR" --daemonize no >>"$WORKDIR/$name.log" 2>&1 &
  PIDS[$name]=$!
  if ! wait_for 5 redis_ping "$REDIS_PORT"; then
    fail "$name: redis-server answers PING on $REDIS_PORT" "see $WORKDIR/$name.log"
    return 1
  fi
}
redis_ping() { [ "$(timeout 2 redis-cli -p "$1" ping 2>/dev/null)" = PONG ]; }
# restart_redis NAME PORT: a new (empty) redis-server on the same port (after a kill).
restart_redis() {
  local name=$1
  redis-server --port "$2" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$WORKDIR" --daemonize no >>"$WORKDIR/$name.log" 2>&1 &
  PIDS[$name]=$!
  wait_for 5 redis_ping "$2"
}
# redis_record PORT KEY: the value of a key whatever its type (string, or hash fields).
redis_record() {
  case $(timeout 3 redis-cli -p "$1" type "$2" 2>/dev/null) in
  string) timeout 3 redis-cli -p "$1" get "$2" ;;
  hash) timeout 3 redis-cli -p "$1" hgetall "$2" ;;
  *) return 1 ;;
  esac
}

# provision USER K16: a subscriber USER@DOMAIN (IMPU sip:USER@DOMAIN, AKAv1-MD5) created over
# the HSS's REST (needs HSS_API_TOKEN=$TOKEN on start_hss).
provision() {
  local k op body
  k=$(printf %s "$2" | od -An -tx1 | tr -d ' \n')
  op=$(printf %s "$OP_RAW" | od -An -tx1 | tr -d ' \n')
  body='{"impus":["sip:'$1@$DOMAIN'"],"k":"'$k'","op":"'$op'","amf":"0000","auth_schemes":["AKAv1-MD5"]}'
  curl -s -o /dev/null -w '%{http_code}' -m 10 -H "Authorization: Bearer $TOKEN" -X PUT \
    "http://127.0.0.1:$HSS_API/api/v1/subscribers/$1@$DOMAIN" -d "$body"
}

# ue_csv NAME USER K16 EXPIRES INSTANCE: the injection file of register_aka.xml and the
# regevent_* scenarios.
ue_csv() {
  printf 'SEQUENTIAL\n%s;%s@%s;%s;[authentication username=%s@%s aka_K=%s aka_OP=%s];%s;%s\n' \
    "$2" "$2" "$DOMAIN" "$DOMAIN" "$2" "$DOMAIN" "$3" "$OP_RAW" "$4" "$5" >"$WORKDIR/$1.csv"
}
# A SIPp run with -cid_str "$(cid_str TAG)" uses the Call-ID "TAG-1@store" (its first call, -m 1):
# two runs with the same TAG share a dialog's Call-ID.
cid_str() { echo "$1-%u@store"; }
# sipp_ue SCENARIO CSV PORT TARGET LOG [SIPp args]: one SIPp run from PORT; its verdict in $?.
sipp_ue() {
  local scen=$1 csv=$2 port=$3 target=$4 log=$5
  shift 5
  timeout 40 sipp -sf "$SCEN/$scen" -inf "$WORKDIR/$csv.csv" -i 127.0.0.1 -p "$port" -t u1 -m 1 \
    -timeout 20s -timeout_error -auth_uri "$DOMAIN" -trace_msg -message_file "$WORKDIR/$log.msg" \
    -trace_err -error_file "$WORKDIR/$log.err" "$@" "$target" >/dev/null 2>&1
}
# listener NAME SCENARIO PORT SECONDS [SIPp args]: a handset waiting (in the background) for one
# request; its PID in LISTENER_PID, once its port is bound.
listener() {
  local name=$1 scen=$2 port=$3 secs=$4
  shift 4
  timeout $((secs + 10)) sipp -sf "$SCEN/$scen" -i 127.0.0.1 -p "$port" -t u1 -m 1 \
    -timeout "${secs}s" -timeout_error -trace_msg -message_file "$WORKDIR/$name.msg" "$@" >/dev/null 2>&1 &
  LISTENER_PID=$!
  wait_for 10 port_bound udp "$port" || fail "$name: the handset (SIPp) listens on $port"
}
# caller NAME SCENARIO PORT TARGET FIELDS: one request (call_uac.xml etc.) from PORT.
caller() {
  printf 'SEQUENTIAL\n%s\n' "$5" >"$WORKDIR/$1.csv"
  timeout 30 sipp -sf "$SCEN/$2" -inf "$WORKDIR/$1.csv" -i 127.0.0.1 -p "$3" -t u1 -m 1 \
    -timeout 20s -timeout_error -trace_msg -message_file "$WORKDIR/$1.msg" "$4" >/dev/null 2>&1
}
# msg_nth FILE METHOD N: the Nth request of that method in a SIPp message file (headers, body).
msg_nth() {
  tr -d '\r' <"$WORKDIR/$1.msg" | awk -v m="^$2 sip" -v n="$3" '$0 ~ m {k++} k==n && /^-{20}/ {exit} k==n {print}'
}
hdr() { grep -m1 -i "^$1:" | sed 's/^[^:]*: *//'; } # header value from stdin
reginfo_version() { grep -o 'version="[0-9]*"' | head -1 | tr -dc 0-9; }
