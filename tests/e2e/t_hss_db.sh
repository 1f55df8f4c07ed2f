#!/usr/bin/env bash
# The lab HSS's SQLite database (subscribers.database): a MAR writes one row (the IMPI's SQN
# row, read with the sqlite3 CLI beside the running HSS), the HSS killed with SIGKILL and started
# again on the same file keeps the SQN (a USIM that accepted the last SQN registers without a
# resynchronisation), the S-CSCF assignment, and REST changes; a database that cannot be written
# gives DIAMETER_UNABLE_TO_COMPLY (the REGISTER fails, no vector leaves), logged once, and
# registrations work again once it can be written; an old JSON state file is imported once.
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
SCEN="$E2E_DIR/scenarios"
DOMAIN=ims.mnc001.mcc001.3gppnetwork.org
ALICE=alice@$DOMAIN
ALICE_IMPU=sip:alice@$DOMAIN
ALICE_K=6162636465666768696a6b6c6d6e6f70
ALICE_OP=706f6e6d6c6b6a696867666564636261
BOB=bob@$DOMAIN
TOKEN=s3cret
DB="$WORKDIR/hss.db"
AUTH=(-H "Authorization: Bearer $TOKEN")
field() { jq -r "$1 // empty" <<<"$2"; }
sub_json() { http_body "http://127.0.0.1:$HSS_API/api/v1/subscribers/$1"; }
# every row with its writes counter, one line each (the CLI reads beside the running HSS: WAL)
rows() {
  sqlite3 "$DB" "SELECT 'sqn', impi, sqn, writes FROM sqn UNION ALL
    SELECT 'assignment', impi, state || ' ' || coalesce(server_name, '-'), writes FROM assignment
    UNION ALL SELECT 'subscriber', impi, origin, writes FROM subscribers ORDER BY 1, 2"
}
register() { # NAME: alice registers with SIPp (its own AKA); SIPp's verdict in $?
  printf 'SEQUENTIAL\nalice;%s;%s;[authentication username=%s aka_K=abcdefghijklmnop aka_OP=ponmlkjihgfedcba];600;1\n' \
    "$ALICE" "$DOMAIN" "$ALICE" >"$WORKDIR/$1.csv"
  timeout 20 sipp -sf "$SCEN/register_aka.xml" -inf "$WORKDIR/$1.csv" -i 127.0.0.1 -p "$(free_port)" \
    -t u1 -m 1 -timeout 15s -timeout_error -auth_uri "$DOMAIN" "127.0.0.1:$SC_SIP" >/dev/null 2>&1
}
raw_register() { # a REGISTER without credentials: one MAR, the 401 (or the error) printed
  local f="$WORKDIR/raw_$RANDOM.sip"
  printf 'REGISTER sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK%s\r\nMax-Forwards: 70\r\nFrom: <%s>;tag=1\r\nTo: <%s>\r\nCall-ID: %s@test\r\nCSeq: 1 REGISTER\r\nContact: <sip:alice@127.0.0.1:9>\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n' \
    "$DOMAIN" "$RANDOM$RANDOM" "$ALICE_IMPU" "$ALICE_IMPU" "$RANDOM$RANDOM" >"$f"
  SIPSEND_WHOLE=1 sipsend -u 127.0.0.1 "$SC_SIP" "$f" 8000 | tr -d '\r' | head -1
}
hss_log_has() { grep -q -- "$1" "$WORKDIR/hss.log"; }
restart_hss() {
  start_prog hss "$BUILD/hss" "$REPO_DIR/config/hss.yaml" HSS_DIAMETER_LISTEN="127.0.0.1:$HSS_DIAM" \
    HSS_API_LISTEN="127.0.0.1:$HSS_API" HSS_SUBSCRIBERS_FILE="$REPO_DIR/config/subscribers.yaml" \
    HSS_SUBSCRIBERS_DATABASE="$DB" HSS_API_TOKEN=$TOKEN HSS_AUTH_SIPP_COMPAT=true
}

start_hss hss HSS_API_TOKEN=$TOKEN || { finish; exit 1; }
SC_SIP=$(free_port) SC_API=$(free_port)
mapfile -t diam < <(scscf_diameter_env)
start_prog scscf "$BUILD/scscf" "$REPO_DIR/config/scscf.yaml" SCSCF_SIP_LISTEN="127.0.0.1:$SC_SIP" \
  SCSCF_API_LISTEN="127.0.0.1:$SC_API" SCSCF_API_TOKEN=$TOKEN SCSCF_DIAMETER_REQUEST_TIMEOUT_MS=4000 \
  "${diam[@]}" || { finish; exit 1; }
wait_http "127.0.0.1:$SC_API" /readyz 200 10 || fail "scscf ready"

echo "-- a new database, seeded from the subscriber file"
expect_eq "the database file exists" yes "$([ -s "$DB" ] && echo yes || echo no)"
expect_eq "... mode 0600 (it holds the keys)" 600 "$(stat -c %a "$DB")"
expect_eq "... in WAL mode" wal "$(sqlite3 "$DB" 'PRAGMA journal_mode')"
expect_eq "... with the file's subscribers" "$(grep -c '^  - impi:' "$REPO_DIR/config/subscribers.yaml")" \
  "$(sqlite3 "$DB" "SELECT count(*) FROM subscribers WHERE origin = 'file'")"

echo "-- registration, then one MAR writes one row"
register reg1
expect_eq "alice registers (SIPp, AKAv1-MD5)" 0 "$?"
expect_eq "her SQN row is the SQN the REST API shows" "$((16#$(field .sqn "$(sub_json "$ALICE")")))" \
  "$(sqlite3 "$DB" "SELECT sqn FROM sqn WHERE impi = '$ALICE'")"
expect_eq "her assignment row: registered at this scscf" "registered|sip:127.0.0.1:$SC_SIP" \
  "$(sqlite3 "$DB" "SELECT state, server_name FROM assignment WHERE impi = '$ALICE'")"
rows >"$WORKDIR/rows1"
out=$(raw_register)
expect_match "a REGISTER without credentials: 401 (the scscf sent a MAR)" '^SIP/2.0 401' "$out"
rows >"$WORKDIR/rows2"
changed=$(diff "$WORKDIR/rows1" "$WORKDIR/rows2" | grep -c '^>')
expect_eq "... the MAR changed exactly one row" 1 "$changed"
expect_match "... alice's SQN row" "^sqn\\|$ALICE\\|" "$(diff "$WORKDIR/rows1" "$WORKDIR/rows2" | sed -n 's/^> //p')"
old_writes=$(sed -n "s/^sqn|$ALICE|[0-9]*|//p" "$WORKDIR/rows1")
new_writes=$(sed -n "s/^sqn|$ALICE|[0-9]*|//p" "$WORKDIR/rows2")
expect_eq "... its writes counter went up by one" "$((old_writes + 1))" "$new_writes"

echo "-- REST changes are rows too"
carol='{"impi":"carol@'$DOMAIN'","impus":["sip:carol@'$DOMAIN'"],"k":"000102030405060708090a0b0c0d0e0f","opc":"00112233445566778899aabbccddeeff"}'
code=$(curl -s -o /dev/null -w '%{http_code}' -m 5 "${AUTH[@]}" -X POST "http://127.0.0.1:$HSS_API/api/v1/subscribers" -d "$carol")
expect_eq "POST carol: 201" 201 "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' -m 5 "${AUTH[@]}" -X DELETE "http://127.0.0.1:$HSS_API/api/v1/subscribers/$BOB")
expect_eq "DELETE bob (a file subscriber): 200" 200 "$code"
expect_eq "carol's row (api) and bob's tombstone (deleted)" "api deleted" \
  "$(sqlite3 "$DB" "SELECT origin FROM subscribers WHERE impi IN ('carol@$DOMAIN', '$BOB') ORDER BY impi DESC" | paste -sd' ')"

echo "-- SIGKILL, start again on the same database"
sqn=$(field .sqn "$(sub_json "$ALICE")")
stop_prog hss KILL
restart_hss || { finish; exit 1; }
wait_http "127.0.0.1:$SC_API" /readyz 200 20 || fail "scscf ready again"
st=$(sub_json "$ALICE")
expect_eq "the restarted HSS has alice's last SQN" "$sqn" "$(field .sqn "$st")"
expect_eq "... her assignment, listed over REST: registered" registered "$(field .state.registration "$st")"
expect_eq "... at this scscf" "sip:127.0.0.1:$SC_SIP" "$(field .state.scscf "$st")"
expect_eq "... carol, made over REST, is there" 200 "$(http_code "http://127.0.0.1:$HSS_API/api/v1/subscribers/carol@$DOMAIN")"
expect_eq "... bob, deleted over REST, stays deleted (the subscriber file has him)" 404 \
  "$(http_code "http://127.0.0.1:$HSS_API/api/v1/subscribers/$BOB")"
# A USIM that accepted SQN $sqn (the last one the HSS handed out) refuses any SQN at or below
# it with auts=: a HSS that forgot its SQN would be resynchronised here.
out=$("$BUILD/tools/akaue" 127.0.0.1 "$SC_SIP" --impi "$ALICE" --impu "$ALICE_IMPU" --k "$ALICE_K" \
  --op "$ALICE_OP" --sqn-ms "$sqn" 2>&1)
expect_eq "alice (USIM at SQN $sqn) registers again" 0 "$?"
expect_no_match "... without a sync failure (no auts sent)" '^SYNC FAILURE' "$out"
expect_eq "... two status lines: 401, 200" "SIP/2.0 401 Unauthorized,SIP/2.0 200 OK" \
  "$(grep '^SIP/2.0' <<<"$out" | tr -d '\r' | paste -sd,)"
register reg2
expect_eq "... and with SIPp" 0 "$?"
if hss_log_has resynchronised; then fail "the HSS resynchronised no one" "$(grep resynchronised "$WORKDIR/hss.log")"
else pass "the HSS resynchronised no one"; fi
expect_eq "the HSS counted no MAR with AUTS rejected" 0 \
  "$(http_body "http://127.0.0.1:$HSS_API/metrics" | grep -c 'command="MAR",result="5003"')"

echo "-- a database that cannot be written"
rm -f "$WORKDIR/held"
touch "$WORKDIR/hold"
# Another writer holds the database until the hold file goes (bounded: 30 s).
(printf 'BEGIN IMMEDIATE;\n.shell touch %s; n=0; while [ -e %s ] && [ $n -lt 300 ]; do sleep 0.1; n=$((n+1)); done\nROLLBACK;\n' \
  "$WORKDIR/held" "$WORKDIR/hold" | sqlite3 "$DB" >/dev/null 2>&1) &
HOLDER=$!
wait_for 10 test -e "$WORKDIR/held" || fail "the sqlite3 CLI holds the write lock"
before=$(sqlite3 "$DB" "SELECT sqn || ' ' || writes FROM sqn WHERE impi = '$ALICE'")
out=$(raw_register)
# (the scscf answers a MAR's 5012 with 403, as any 5xxx Result-Code)
expect_match "REGISTER while the HSS cannot write the SQN: refused, no challenge" '^SIP/2.0 (403|5[0-9][0-9]) ' "$out"
out2=$(raw_register)
expect_match "... again" '^SIP/2.0 (403|5[0-9][0-9]) ' "$out2"
expect_match "the HSS answered DIAMETER_UNABLE_TO_COMPLY (its MAR counter)" \
  'cscf_diameter_requests_total\{program="hss",command="MAR",result="(5012|DIAMETER_UNABLE_TO_COMPLY)"\} [1-9]' \
  "$(http_body "http://127.0.0.1:$HSS_API/metrics")"
expect_eq "... logged once (error level) for the two failures" 1 "$(grep -c 'cannot write the SQN.*until it can' "$WORKDIR/hss.log")"
rm -f "$WORKDIR/hold"
wait "$HOLDER" 2>/dev/null
expect_eq "... the SQN row was not changed meanwhile" "$before" \
  "$(sqlite3 "$DB" "SELECT sqn || ' ' || writes FROM sqn WHERE impi = '$ALICE'")"
register reg3
expect_eq "once the lock is gone alice registers" 0 "$?"
wait_for 5 hss_log_has 'is written again'
expect_match "... and the HSS says it writes again" 'is written again' "$(cat "$WORKDIR/hss.log")"

echo "-- one HSS per database"
out=$(timeout 10 env HSS_DIAMETER_LISTEN="127.0.0.1:$(free_port)" HSS_API_LISTEN="127.0.0.1:$(free_port)" \
  HSS_SUBSCRIBERS_DATABASE="$DB" "$BUILD/hss" -c "$REPO_DIR/config/hss.yaml" 2>&1)
expect_match "a second hss on the same file refuses to start" 'in use by another hss' "$out"
out=$(HSS_SUBSCRIBERS_DATABASE="$DB" "$BUILD/hss" -c "$REPO_DIR/config/hss.yaml" --check 2>&1)
expect_eq "... while --check reads it beside the running one" 0 "$?"

echo "-- a garbage file as database"
head -c 4096 /dev/urandom >"$WORKDIR/garbage.db"
out=$(timeout 10 env HSS_DIAMETER_LISTEN="127.0.0.1:$(free_port)" HSS_API_LISTEN="127.0.0.1:$(free_port)" \
  HSS_SUBSCRIBERS_DATABASE="$WORKDIR/garbage.db" "$BUILD/hss" -c "$REPO_DIR/config/hss.yaml" 2>&1)
rc=$?
expect_eq "hss exits 2 (a configuration error), no crash" 2 "$rc"
expect_match "... naming the file" 'garbage.db: not a usable SQLite database' "$out"
expect_no_match "... no sanitizer report" 'AddressSanitizer|runtime error' "$out"

stop_prog scscf
expect_eq "scscf exits 0" 0 "$LAST_EXIT"
stop_prog hss
expect_eq "hss exits 0" 0 "$LAST_EXIT"

echo "-- an old JSON state file, imported once into a new database"
cat >"$WORKDIR/old-state.json" <<JSON
{"version": 1,
 "subscribers": {"$ALICE": {"sqn": "0000000abc01", "server_name": "sip:old-scscf:6060",
   "scscf_host": "old-scscf.$DOMAIN", "scscf_realm": "$DOMAIN", "state": "registered"}},
 "api_subscribers": {"dave@$DOMAIN": {"impi": "dave@$DOMAIN", "impus": ["sip:dave@$DOMAIN"],
   "k": "000102030405060708090a0b0c0d0e0f", "opc": "00112233445566778899aabbccddeeff"}},
 "api_deleted": ["$BOB"]}
JSON
start_imp() {
  start_prog imp "$BUILD/hss" "$REPO_DIR/config/hss.yaml" HSS_DIAMETER_LISTEN="127.0.0.1:$HSS_DIAM" \
    HSS_API_LISTEN="127.0.0.1:$HSS_API" HSS_SUBSCRIBERS_FILE="$REPO_DIR/config/subscribers.yaml" \
    HSS_SUBSCRIBERS_DATABASE="$WORKDIR/imp.db" HSS_SUBSCRIBERS_STATE_FILE="$WORKDIR/old-state.json" \
    HSS_API_TOKEN=$TOKEN
}
start_imp || { finish; exit 1; }
expect_match "the hss logs the import" 'imported the state file .*old-state.json' "$(cat "$WORKDIR/imp.log")"
st=$(sub_json "$ALICE")
expect_eq "... alice's SQN" 0000000abc01 "$(field .sqn "$st")"
expect_eq "... her assignment" "registered sip:old-scscf:6060" \
  "$(field '.state.registration + " " + .state.scscf' "$st")"
expect_eq "... dave (made over REST back then)" 200 \
  "$(http_code "http://127.0.0.1:$HSS_API/api/v1/subscribers/dave@$DOMAIN")"
expect_eq "... bob (deleted over REST back then)" 404 \
  "$(http_code "http://127.0.0.1:$HSS_API/api/v1/subscribers/$BOB")"
code=$(curl -s -o /dev/null -w '%{http_code}' -m 5 "${AUTH[@]}" -X DELETE "http://127.0.0.1:$HSS_API/api/v1/subscribers/dave@$DOMAIN")
expect_eq "DELETE dave now: 200" 200 "$code"
stop_prog imp
sed -i 's/0000000abc01/000000000001/' "$WORKDIR/old-state.json"
start_imp || { finish; exit 1; }
expect_eq "the next start does not import again (the file's lower SQN is not taken)" 0000000abc01 \
  "$(field .sqn "$(sub_json "$ALICE")")"
expect_eq "... dave, in the file's api_subscribers, stays deleted" 404 \
  "$(http_code "http://127.0.0.1:$HSS_API/api/v1/subscribers/dave@$DOMAIN")"
expect_eq "... and says the file is not read" 1 "$(grep -c 'is not read: the database' "$WORKDIR/imp.log")"
stop_prog imp
expect_eq "hss exits 0" 0 "$LAST_EXIT"
for p in scscf hss imp; do expect_clean_log "$p: no sanitizer report" "$p"; done
finish
