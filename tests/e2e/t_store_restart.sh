#!/usr/bin/env bash
# The S-CSCF's registrations survive kill -9 (issue 16), with the store backend given as the
# second argument: memory (with its journal file, the default) or redis (a real redis-server
# started here; t_store_restart_redis.sh). hss, scscf and pcscf run; alice and bob register
# through the pcscf and alice subscribes to her reg event there (her handset's own
# subscription; the pcscf has its own for each UE too); carol registers straight at the scscf
# for 10 s and subscribes, dave for 25 s. The scscf is killed with SIGKILL and kept down past
# carol's expiry, then started again with the same configuration. Then: carol's registration is
# removed at start-up with a SAR to the HSS and a NOTIFY terminated to her subscriber; alice, bob
# and dave are still listed; bob's call to alice connects; when alice registers again her
# handset's subscription gets the next NOTIFY in the same dialog (Call-ID, tag, higher CSeq and
# version), and so does the pcscf's; dave expires on time (SAR) while the new process runs.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/store_lib.sh"

BUILD=${1:-build}
BACKEND=${2:-memory}
TOKEN=s3cret
A_K=abcdefghijklmnop B_K=bobbobbobbobbob1 C_K=carolcarolcarol1 D_K=davedavedavedav1
C_EXPIRES=10 D_EXPIRES=25

start_hss hss HSS_API_TOKEN=$TOKEN || { finish; exit 1; }
case $BACKEND in
memory)
  mkdir -p "$WORKDIR/state"
  JOURNAL="$WORKDIR/state/scscf.journal"
  store_env=(SCSCF_STORE_BACKEND=memory "SCSCF_STORE_JOURNAL=$JOURNAL")
  stored() { cat "$JOURNAL" 2>/dev/null; }
  ;;
redis)
  start_redis redis || { finish; exit 1; }
  PREFIX="t$RANDOM:"
  store_env=(SCSCF_STORE_BACKEND=redis "SCSCF_STORE_REDIS_ADDRESS=127.0.0.1:$REDIS_PORT" "SCSCF_STORE_REDIS_PREFIX=$PREFIX")
  stored() {
    local k
    for k in $(timeout 3 redis-cli -p "$REDIS_PORT" --scan --pattern "${PREFIX}reg:*"); do
      redis_record "$REDIS_PORT" "$k"
    done
  }
  ;;
*) fail "backend memory or redis" "got '$BACKEND'"; finish; exit 1 ;;
esac
echo "-- store.backend $BACKEND"
SC_SIP=$(free_port) SC_API=$(free_port) PC_SIP=$(free_port) PC_API=$(free_port)
mapfile -t diam < <(scscf_diameter_env)
# start_scscf LOGNAME: the same ports, Cx identity and store every time.
start_scscf() {
  start_prog "$1" "$BUILD/scscf" "$REPO_DIR/config/scscf.yaml" SCSCF_SIP_LISTEN="127.0.0.1:$SC_SIP" \
    SCSCF_API_LISTEN="127.0.0.1:$SC_API" SCSCF_API_TOKEN=$TOKEN SCSCF_REGISTRAR_MIN_EXPIRES=5 \
    "${store_env[@]}" "${diam[@]}"
}
start_scscf scscf || { finish; exit 1; }
start_prog pcscf "$BUILD/pcscf" "$REPO_DIR/config/pcscf.yaml" PCSCF_SIP_LISTEN="127.0.0.1:$PC_SIP" \
  PCSCF_API_LISTEN="127.0.0.1:$PC_API" PCSCF_PCSCF_REGISTRAR="sip:127.0.0.1:$SC_SIP;transport=tcp;lr" ||
  { finish; exit 1; }
wait_http "127.0.0.1:$SC_API" /readyz 200 10 || fail "scscf ready"
sc() { http_body "http://127.0.0.1:$SC_API$1"; }
pc() { http_body "http://127.0.0.1:$PC_API$1"; }
hss_sars() {
  http_body "http://127.0.0.1:$HSS_API/metrics" |
    awk '/^cscf_diameter_requests_total\{/ && /command="SAR"/ && /result="2001"/ {n += $NF} END {print n + 0}'
}
hss_state() { field .state.registration "$(http_body "http://127.0.0.1:$HSS_API/api/v1/subscribers/$1@$DOMAIN" -H "Authorization: Bearer $TOKEN")"; }
pc_sub() { pc /api/v1/subscriptions | jq -r --arg u "sip:$1@$DOMAIN" "[.subscriptions[] | select(.impu == \$u)][0] | $2 // empty"; }
sc_sub_ids() { sc /api/v1/subscriptions | jq -r '[.subscriptions[].dialog.call_id] | sort | join(" ")'; }

echo "-- alice and bob register through the pcscf; alice's handset subscribes to her reg event"
PA=$(free_port) PB=$(free_port) PC=$(free_port)
CTAG="regev$RANDOM$RANDOM" CID=${CTAG}-1@store
ue_csv areg alice "$A_K" 600 1
sipp_ue register_aka.xml areg "$PA" "127.0.0.1:$PC_SIP" areg
expect_eq "alice registers (AKA)" 0 "$?"
ue_csv breg bob "$B_K" 600 2
sipp_ue register_aka.xml breg "$PB" "127.0.0.1:$PC_SIP" breg
expect_eq "bob registers (AKA)" 0 "$?"
ue_csv asub alice "$A_K" 600 1
sipp_ue regevent_sub.xml asub "$PA" "127.0.0.1:$PC_SIP" asub -cid_str "$(cid_str "$CTAG")"
expect_eq "alice's handset: SUBSCRIBE/200, NOTIFY (full state)/200 through the pcscf" 0 "$?"
n1=$(msg_nth asub NOTIFY 1)
expect_match "... version 0, alice active" "version=\"0\" state=\"full\"" "$n1"
pc_subs_active() { [ "$(pc_sub alice .state)/$(pc_sub bob .state)" = active/active ]; }
wait_for 10 pc_subs_active || fail "the pcscf's subscriptions for alice and bob become active" "$(pc /api/v1/subscriptions | head -c 300)"
PC_V1=$(pc_sub alice .version)

echo "-- dave registers straight at the scscf for ${D_EXPIRES} s, carol for ${C_EXPIRES} s and subscribes"
expect_match "dave is provisioned at the HSS (REST PUT: 200/201)" '^20[01]$' "$(provision dave "$D_K")"
ue_csv dreg dave "$D_K" "$D_EXPIRES" 1
D_FROM=$(($(date +%s) + D_EXPIRES)) # his expiry lies between these two
sipp_ue register_aka.xml dreg "$(free_port)" "127.0.0.1:$SC_SIP" dreg
expect_eq "dave registers straight at the scscf (Expires ${D_EXPIRES}: he expires after the restart)" 0 "$?"
D_UNTIL=$(($(date +%s) + D_EXPIRES + 1))
expect_match "carol is provisioned at the HSS (REST PUT: 200/201)" '^20[01]$' "$(provision carol "$C_K")"
ue_csv creg carol "$C_K" "$C_EXPIRES" 1
sipp_ue register_aka.xml creg "$PC" "127.0.0.1:$SC_SIP" creg
expect_eq "carol registers (Expires ${C_EXPIRES})" 0 "$?"
C_UNTIL=$(($(date +%s) + C_EXPIRES))
CCTAG="cregev$RANDOM$RANDOM" CCID=${CCTAG}-1@store
ue_csv csub carol "$C_K" 600 1
sipp_ue regevent_sub.xml csub "$PC" "127.0.0.1:$SC_SIP" csub -cid_str "$(cid_str "$CCTAG")"
expect_eq "carol's handset subscribes to her reg event" 0 "$?"
expect_eq "the HSS has carol registered" registered "$(hss_state carol)"
listener cend notify_uas.xml "$PC" 60
CEND_PID=$LISTENER_PID

# What the store holds (journal file or Redis) before the kill: every write that the 200s
# announced, the subscriptions' dialogs included.
stored_all() { local s; s=$(stored); grep -q "$CID" <<<"$s" && grep -q "$CCID" <<<"$s" && grep -q "carol@$DOMAIN" <<<"$s"; }
wait_for 5 stored_all
expect_eq "the store ($BACKEND) holds carol's registration and both handsets' subscriptions" 0 "$?"
SUBS_BEFORE=$(sc_sub_ids)
expect_eq "the scscf lists 4 subscriptions (alice's and carol's handsets, the pcscf's two)" 4 "$(wc -w <<<"$SUBS_BEFORE")"
SARS_BEFORE=$(hss_sars)
expect_eq "carol is still registered before the kill (else this machine was too slow for ${C_EXPIRES} s)" 200 \
  "$(http_code "http://127.0.0.1:$SC_API/api/v1/registrations/sip:carol@$DOMAIN")"

echo "-- kill -9 the scscf, keep it down past carol's expiry, start it again"
kill -KILL "${PIDS[scscf]}"
wait_exit scscf 10
expect_eq "the scscf died of SIGKILL" 137 "$LAST_EXIT"
past_expiry() { [ "$(date +%s)" -gt "$C_UNTIL" ]; }
wait_for $((C_EXPIRES + 5)) past_expiry
start_scscf scscf2 || { finish; exit 1; }
wait_http "127.0.0.1:$SC_API" /readyz 200 15 || fail "the scscf is ready again" "$(sc /readyz)"

echo "-- carol expired while it was down: removed at start-up, SAR, NOTIFY terminated"
c_gone() { [ "$(http_code "http://127.0.0.1:$SC_API/api/v1/registrations/sip:carol@$DOMAIN")" = 404 ]; }
wait_for 5 c_gone
expect_eq "GET /api/v1/registrations/sip:carol: 404 soon after the start" 404 \
  "$(http_code "http://127.0.0.1:$SC_API/api/v1/registrations/sip:carol@$DOMAIN")"
hss_unreg() { [ "$(hss_state carol)" = not_registered ]; }
wait_for 5 hss_unreg
expect_eq "the HSS has carol not_registered (the scscf's SAR)" not_registered "$(hss_state carol)"
expect_eq "... one SAR more answered by the HSS" $((SARS_BEFORE + 1)) "$(hss_sars)"
wait "$CEND_PID"
expect_eq "carol's handset got a NOTIFY and answered it" 0 "$?"
nend=$(msg_nth cend NOTIFY 1)
expect_match "... Subscription-State terminated (timeout: it was granted the registration's 10 s)" \
  '^Subscription-State: terminated;reason=(timeout|noresource|deactivated)$' "$nend"
expect_eq "... in her subscription's dialog (Call-ID)" "$CCID" "$(hdr Call-ID <<<"$nend")"
if grep -q '<reginfo' <<<"$nend"; then
  expect_match "... its reginfo has carol's registration terminated" "aor=\"sip:carol@$DOMAIN\" state=\"terminated\"" "$nend"
fi

echo "-- alice, bob and dave are still registered"
expect_eq "GET /api/v1/registrations/sip:dave: 200 (his ${D_EXPIRES} s are not over)" 200 \
  "$(http_code "http://127.0.0.1:$SC_API/api/v1/registrations/sip:dave@$DOMAIN")"
a=$(sc "/api/v1/registrations/sip:alice@$DOMAIN")
expect_match "GET /api/v1/registrations/sip:alice: her contact on $PA" "^sip:alice@127.0.0.1:$PA;" "$(field '.contacts[].uri' "$a")"
expect_match "... with most of her 600 s left" '^(5[0-9][0-9]|600)$' "$(field '.contacts[0].expires' "$a")"
expect_eq "GET /api/v1/registrations lists alice, bob and dave" "alice@$DOMAIN bob@$DOMAIN dave@$DOMAIN" \
  "$(sc /api/v1/registrations | jq -r '[.registrations[].impi] | sort | join(" ")')"
SUBS_AFTER=$(sc_sub_ids)
expect_eq "the scscf lists alice's and bob's subscriptions, same dialogs" \
  "$(tr ' ' '\n' <<<"$SUBS_BEFORE" | grep -v "$CCID" | paste -sd' ')" "$SUBS_AFTER"

echo "-- bob calls alice"
listener acall call_uas.xml "$PA" 25 -d 100
caller bcall call_uac.xml "$PB" "127.0.0.1:$PC_SIP" "bob;sip:alice@$DOMAIN;$DOMAIN"
expect_eq "bob's call connects: INVITE/180/200/ACK/BYE/200" 0 "$?"
wait "$LISTENER_PID"
expect_eq "alice's handset took INVITE, ACK and BYE" 0 "$?"

echo "-- alice registers again: her subscriptions get the next NOTIFY in their dialogs"
sipp_ue regevent_rereg.xml asub "$PA" "127.0.0.1:$PC_SIP" arereg -cid_str "$(cid_str "$CTAG")"
expect_eq "alice's REGISTER/401/REGISTER/200, then a NOTIFY in her subscription's dialog/200" 0 "$?"
n2=$(msg_nth arereg NOTIFY 1)
expect_eq "... the NOTIFY's Call-ID is the subscription's" "$CID" "$(hdr Call-ID <<<"$n2")"
expect_eq "... the same notifier tag (From)" "$(hdr From <<<"$n1" | sed -n 's/.*;tag=//p')" "$(hdr From <<<"$n2" | sed -n 's/.*;tag=//p')"
c1=$(hdr CSeq <<<"$n1" | cut -d' ' -f1) c2=$(hdr CSeq <<<"$n2" | cut -d' ' -f1)
[ -n "$c1" ] && [ -n "$c2" ] && [ "$c2" -gt "$c1" ] && pass "... CSeq goes on ($c1 -> $c2)" || fail "... CSeq goes on" "$c1 -> $c2"
v1=$(reginfo_version <<<"$n1") v2=$(reginfo_version <<<"$n2")
[ -n "$v2" ] && [ "$v2" -gt "${v1:-0}" ] && pass "... reginfo version goes on ($v1 -> $v2)" || fail "... reginfo version goes on" "$v1 -> $v2"
expect_match "... alice's contact still active in it" "aor=\"sip:alice@$DOMAIN\" state=\"active\"" "$n2"
pc_v_up() { [ "$(pc_sub alice .version)" -gt "$PC_V1" ] 2>/dev/null; }
wait_for 10 pc_v_up
expect_eq "the pcscf's subscription for alice took a NOTIFY in its dialog (version > $PC_V1)" 0 "$?"
expect_eq "... and it is still active" active "$(pc_sub alice .state)"

echo "-- dave expires on time while the restarted scscf runs"
d_gone() { [ "$(http_code "http://127.0.0.1:$SC_API/api/v1/registrations/sip:dave@$DOMAIN")" = 404 ]; }
wait_for $((D_UNTIL - $(date +%s) + 5)) d_gone
expect_eq "GET /api/v1/registrations/sip:dave: 404 by ${D_EXPIRES} s (+5) after his REGISTER" 404 \
  "$(http_code "http://127.0.0.1:$SC_API/api/v1/registrations/sip:dave@$DOMAIN")"
[ "$(date +%s)" -ge "$D_FROM" ] && pass "... and not before his expiry" || fail "... and not before his expiry" "$((D_FROM - $(date +%s))) s early"
d_unreg() { [ "$(hss_state dave)" = not_registered ]; }
wait_for 5 d_unreg
expect_eq "... the HSS has dave not_registered (SAR)" not_registered "$(hss_state dave)"

stop_clean pcscf scscf2 hss
[ "$BACKEND" = redis ] && stop_prog redis
finish
