#!/usr/bin/env bash
# make run: start the lab (HSS, S-CSCF, then P-CSCF) on 127.0.0.1 with config/*.yaml, in the
# foreground. Logs go to run/<program>.log and are followed here; Ctrl-C stops everything.
#
# The REST calls that change state need a token: CSCF_API_TOKEN when set, else a new random one,
# written to run/api-token for curl (a <PROGRAM>_API_TOKEN already set wins for that program).
# Every config key can be overridden as usual (<PROGRAM>_<SECTION>_<KEY>); LAB_DIR moves run/
# (tests/e2e/t_lab.sh runs this script on free ports that way).
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
RUN=${LAB_DIR:-run}
mkdir -p "$RUN"
pids=()
stop() {
  trap - INT TERM EXIT
  echo "lab: stopping"
  # Last started first (log follower, pcscf, scscf, hss), each waited for: the scscf then says
  # goodbye (DPR) to an HSS still there. Stopped together, each side's freeDiameter waited up
  # to 16 s for the other's DPA.
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  rm -f "$RUN"/*.pid
}
trap stop INT TERM EXIT

token=${CSCF_API_TOKEN:-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')}
(umask 077 && printf '%s\n' "$token" >"$RUN/api-token")
for p in PCSCF SCSCF HSS; do
  v=${p}_API_TOKEN
  export "$v=${!v:-$token}"
done
# The pcscf keeps its bindings (and SA sets) next to the logs, so a restarted lab pcscf still
# reaches the UEs registered through it (a PCSCF_PCSCF_STATE_FILE already set wins; "" keeps none).
export PCSCF_PCSCF_STATE_FILE=${PCSCF_PCSCF_STATE_FILE-$RUN/pcscf-state.json}
# The same for the scscf's registrations: the memory store with its journal next to the logs
# (a SCSCF_STORE_JOURNAL already set wins; "" keeps none). Not in config/scscf.yaml, which the
# e2e tests start many scscfs with: a path there would be one journal shared by all of them.
export SCSCF_STORE_JOURNAL=${SCSCF_STORE_JOURNAL-$RUN/scscf-store.journal}

api_of() { # program default-port: where its REST listens (its <PROGRAM>_API_LISTEN or the default)
  local v=${1^^}_API_LISTEN
  echo "${!v:-127.0.0.1:$2}"
}

start() { # name, default REST port
  local api
  api=$(api_of "$1" "$2")
  "$BUILD/$1" -c "config/$1.yaml" 2>>"$RUN/$1.log" &
  pids+=($!)
  echo "$!" >"$RUN/$1.pid"
  for _ in $(seq 50); do
    curl -fsS -m 1 "http://$api/healthz" >/dev/null 2>&1 && { echo "lab: $1 up (pid $!, REST $api)"; return 0; }
    kill -0 "$!" 2>/dev/null || { echo "lab: $1 failed to start; see $RUN/$1.log" >&2; tail -5 "$RUN/$1.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "lab: $1 did not answer /healthz within 5 s" >&2
  exit 1
}

start hss 8083
start scscf 8082
start pcscf 8081
cat <<TXT
lab: running. SIP: pcscf 127.0.0.1:5060, scscf 127.0.0.1:6060 (UDP and TCP)
     Diameter Cx: hss 3868, scscf 3869 (subscribers: config/subscribers.yaml)
     REST/metrics: http://$(api_of pcscf 8081) (pcscf), http://$(api_of scscf 8082) (scscf),
                   http://$(api_of hss 8083) (hss)
     REST token (calls that change state): $RUN/api-token, e.g.
       curl -H "Authorization: Bearer \$(cat $RUN/api-token)" -X PUT -d '{"level":"debug"}' http://$(api_of scscf 8082)/api/v1/log
     logs: $RUN/*.log  (Ctrl-C stops the lab)
TXT
tail -n +1 -F "$RUN/hss.log" "$RUN/scscf.log" "$RUN/pcscf.log" &
pids+=($!)
wait "${pids[0]}" "${pids[1]}" "${pids[2]}"
