#!/usr/bin/env bash
# Config reload: POST /api/v1/reload and SIGHUP read the YAML again; keys that can change at run
# time do (log.level, the scscf's registrar limits and next hop), others are reported as needing
# a restart, and a bad file keeps the running configuration and says why.
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
unset E2E_LOG_LEVEL # its environment override would pin the log.level this test reloads
TOKEN=r3load
CONF="$WORKDIR/scscf.yaml"
cp "$REPO_DIR/config/scscf.yaml" "$CONF"
SC_SIP=$(free_port) SC_API=$(free_port)
start_prog scscf "$BUILD/scscf" "$CONF" SCSCF_SIP_LISTEN="127.0.0.1:$SC_SIP" \
  SCSCF_API_LISTEN="127.0.0.1:$SC_API" SCSCF_API_TOKEN=$TOKEN \
  SCSCF_DIAMETER_LISTEN="127.0.0.1:$(free_port)" || { finish; exit 1; }
API="http://127.0.0.1:$SC_API"
reload() { curl -s -m 5 -X POST -H "Authorization: Bearer $TOKEN" "$API/api/v1/reload"; }
level() { jq -r .level <<<"$(http_body "$API/api/v1/log")"; }

expect_eq "POST /api/v1/reload without the token: 401" 401 "$(http_code "$API/api/v1/reload" -X POST)"
out=$(reload)
expect_eq "an unchanged file: nothing applied, nothing to restart" "0 0" \
  "$(jq -r '"\(.applied | length) \(.restart_required | length)"' <<<"$out")"

sed -i -e 's/^  level: info/  level: debug/' -e 's/^  domain: .*/  domain: other.example/' "$CONF"
printf 'registrar:\n  min_expires: 60\n  max_expires: 1800\n' >>"$CONF"
out=$(reload)
expect_match "log.level is applied" '"log.level"' "$(jq -c .applied <<<"$out")"
expect_match "registrar.max_expires is applied" '"registrar.max_expires"' "$(jq -c .applied <<<"$out")"
expect_eq "... and in effect" debug "$(level)"
expect_match "sip.domain needs a restart" '"sip.domain"' "$(jq -c .restart_required <<<"$out")"

cp "$CONF" "$WORKDIR/good.yaml"
sed -i -e 's/^  min_expires: 60/  min_expires: 900/' -e 's/^  max_expires: 1800/  max_expires: 600/' "$CONF"
out=$(curl -s -m 5 -X POST -H "Authorization: Bearer $TOKEN" -w '\n%{http_code}' "$API/api/v1/reload")
expect_eq "a file that does not check: 400" 400 "$(tail -1 <<<"$out")"
expect_match "... problem+json saying why" '"status":400' "$(head -1 <<<"$out")"
expect_eq "... and the running config is kept" debug "$(level)"

cp "$WORKDIR/good.yaml" "$CONF"
sed -i 's/^  level: debug/  level: warning/' "$CONF"
kill -HUP "${PIDS[scscf]}"
lv=
for _ in $(seq 30); do
  lv=$(level)
  [ "$lv" = warning ] && break
  sleep 0.1
done
expect_eq "SIGHUP reloads too" warning "$lv"
expect_eq "the scscf is still up" 200 "$(http_code "$API/healthz")"

stop_prog scscf
expect_eq "scscf exits 0" 0 "$LAST_EXIT"
expect_clean_log "scscf: no sanitizer report" scscf
finish
