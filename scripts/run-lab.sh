#!/usr/bin/env bash
# make run: start the lab (HSS, S-CSCF, then P-CSCF) on 127.0.0.1 with config/*.yaml, in the
# foreground. Logs go to run/<program>.log and are followed here; Ctrl-C stops everything.
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
mkdir -p run
pids=()
stop() {
  trap - INT TERM EXIT
  echo "lab: stopping"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop INT TERM EXIT

start() { # name, REST port
  "$BUILD/$1" -c "config/$1.yaml" 2>>"run/$1.log" &
  pids+=($!)
  for _ in $(seq 50); do
    curl -fsS -m 1 "http://127.0.0.1:$2/healthz" >/dev/null 2>&1 && { echo "lab: $1 up (pid $!, REST :$2)"; return 0; }
    kill -0 "$!" 2>/dev/null || { echo "lab: $1 failed to start; see run/$1.log" >&2; tail -5 "run/$1.log" >&2; exit 1; }
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
     REST/metrics: http://127.0.0.1:8081 (pcscf), http://127.0.0.1:8082 (scscf),
                   http://127.0.0.1:8083 (hss)
     logs: run/*.log  (Ctrl-C stops the lab)
TXT
tail -n +1 -F run/hss.log run/scscf.log run/pcscf.log &
pids+=($!)
wait "${pids[0]}" "${pids[1]}" "${pids[2]}"
