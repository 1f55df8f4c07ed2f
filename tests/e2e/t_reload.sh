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
printf 'registrar:\n  min_expires: 60\n  max_expires: 1800\n  max_registrations: 5000\n' >>"$CONF"
out=$(reload)
expect_match "log.level is applied" '"log.level"' "$(jq -c .applied <<<"$out")"
expect_match "registrar.max_expires is applied" '"registrar.max_expires"' "$(jq -c .applied <<<"$out")"
expect_eq "... and in effect" debug "$(level)"
expect_match "sip.domain needs a restart" '"sip.domain"' "$(jq -c .restart_required <<<"$out")"
expect_match "registrar.max_registrations (it sizes the store) needs a restart" \
  '"registrar.max_registrations"' "$(jq -c .restart_required <<<"$out")"

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

echo "-- registrar.max_contacts changed by a reload applies to the next REGISTER"
DOMAIN=ims.mnc001.mcc001.3gppnetwork.org
start_hss hss || { finish; exit 1; }
CONF2="$WORKDIR/scscf-contacts.yaml"
cp "$REPO_DIR/config/scscf.yaml" "$CONF2"
printf 'registrar:\n  max_contacts: 1\n' >>"$CONF2"
SC_SIP=$(free_port) SC_API=$(free_port)
mapfile -t diam < <(scscf_diameter_env)
start_prog scscf2 "$BUILD/scscf" "$CONF2" SCSCF_SIP_LISTEN="127.0.0.1:$SC_SIP" \
  SCSCF_API_LISTEN="127.0.0.1:$SC_API" SCSCF_API_TOKEN=$TOKEN "${diam[@]}" || { finish; exit 1; }
API="http://127.0.0.1:$SC_API"
wait_http "127.0.0.1:$SC_API" /readyz 200 10 || fail "scscf2 ready (Cx peer open)"
# register NAME INSTANCE PORT: alice's device INSTANCE registers (AKA) straight at the scscf
# from PORT (its contact); SIPp's verdict in $?, the messages in NAME.msg.
register() {
  printf 'SEQUENTIAL\nalice;alice@%s;%s;[authentication username=alice@%s aka_K=abcdefghijklmnop aka_OP=ponmlkjihgfedcba];600;%s\n' \
    "$DOMAIN" "$DOMAIN" "$DOMAIN" "$2" >"$WORKDIR/$1.csv"
  timeout 20 sipp -sf "$E2E_DIR/scenarios/register_aka.xml" -inf "$WORKDIR/$1.csv" -i 127.0.0.1 \
    -p "$3" -t u1 -m 1 -timeout 15s -timeout_error -auth_uri "$DOMAIN" -trace_msg \
    -message_file "$WORKDIR/$1.msg" "127.0.0.1:$SC_SIP" >/dev/null 2>&1
}
final() { tr -d '\r' <"$WORKDIR/$1.msg" | grep -E '^SIP/2.0 [2-6][0-9][0-9]' | tail -1; }
sars() { # SARs the scscf sent that the HSS answered 2001
  http_body "$API/metrics" | sed -n 's/^cscf_diameter_requests_total{program="scscf",command="SAR",result="2001"} //p'
}
contacts() { jq -r '[.registrations[] | select(.impi == "alice@'$DOMAIN'") | .contacts[]] | length' <<<"$(http_body "$API/api/v1/registrations")"; }
P1=$(free_port) P2=$(free_port) P3=$(free_port)
register dev1 1 "$P1"
expect_eq "max_contacts 1: alice's first device registers" "SIP/2.0 200 OK" "$(final dev1)"
sar_before=$(sars)
register dev2 2 "$P2"
expect_eq "... her second device is refused: 403 Too Many Contacts" "SIP/2.0 403 Too Many Contacts" "$(final dev2)"
expect_eq "... before any SAR went to the HSS" "$sar_before" "$(sars)"
expect_eq "... and one contact stays bound" 1 "$(contacts)"

sed -i 's/^  max_contacts: 1$/  max_contacts: 2/' "$CONF2"
out=$(reload)
expect_match "a reload with max_contacts 2 reports it applied" '"registrar.max_contacts"' "$(jq -c .applied <<<"$out")"
register dev2b 2 "$P2"
expect_eq "... and the second device now registers" "SIP/2.0 200 OK" "$(final dev2b)"
expect_eq "GET /api/v1/registrations: alice has 2 contacts" 2 "$(contacts)"
expect_eq "... the 200 lists both" 2 "$(sed -n '/^SIP\/2.0 200/,/^\r\?$/p' "$WORKDIR/dev2b.msg" | grep -c '^Contact:')"

sed -i 's/^  max_contacts: 2$/  max_contacts: 1/' "$CONF2"
kill -HUP "${PIDS[scscf2]}"
for _ in $(seq 50); do
  grep -q 'reload: registrar.max_contacts applied' "$WORKDIR/scscf2.log" 2>/dev/null && break
  sleep 0.1
done
expect_match "SIGHUP lowers it back to 1" 'reload: registrar.max_contacts applied' "$(cat "$WORKDIR/scscf2.log")"
register dev1r 1 "$P1"
expect_eq "... a bound device still refreshes: 200" "SIP/2.0 200 OK" "$(final dev1r)"
expect_eq "... the contacts already bound stay (2)" 2 "$(contacts)"
register dev3 3 "$P3"
expect_eq "... a third device is refused: 403 Too Many Contacts" "SIP/2.0 403 Too Many Contacts" "$(final dev3)"
expect_eq "... still 2 contacts" 2 "$(contacts)"

stop_clean scscf2 hss
finish
