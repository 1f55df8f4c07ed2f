#!/usr/bin/env bash
# IPsec sec-agree at the P-CSCF end to end (RFC 3329, TS 33.203, TS 24.229 5.2.2), on the
# userspace ESP datapath, with a handset that is not our code: tests/e2e/esp_ue.py (its own
# Milenage, scapy's ESP, raw IPPROTO_ESP sockets).
#
# Two network namespaces per run joined by a veth pair "gm0": the core (10.X.Y.1: hss, scscf
# and pcscf; hss/scscf and a second, unprotected SIPp handset on 127.0.0.1) and the UE
# (10.X.Y.2: esp_ue.py, ports 5080/5081). tshark captures gm0 in the core namespace.
# Asserted: the 401 carries Security-Server and no ck/ik; the 200 comes back over ESP; the
# scscf sees integrity-protected="yes"; a MESSAGE and a call reach the UE over ESP from
# port_pc to port_us and its answers go back over spi_pc; a bad ICV and a replayed packet are
# dropped and counted; plain UDP to port_ps is ignored; a re-registration moves to a new SA
# set and the old one goes after the grace period; a pcscf restart keeps the UE reachable;
# de-registration's 200 goes over ESP, then the SAs are deleted; every alg/ealg pair
# registers and tshark opens the ESP with the keys.
# Needs root (network namespaces, raw sockets, the pcscf's TUN device; skipped without),
# python3-scapy and tshark.
set -u

# ---- outside: the namespaces, then this script again inside the core namespace ----
if [ -z "${IPSEC_INNER:-}" ]; then
  ns_fail() {
    echo "  FAIL $1"
    echo "RESULT 0 1"
    exit 1
  }
  if [ "$(id -u)" != 0 ] || ! ip netns list >/dev/null 2>&1 || [ ! -e /dev/net/tun ]; then
    echo "  skip the IPsec end-to-end test: needs root, ip netns and /dev/net/tun"
    echo "RESULT 0 0"
    exit 0
  fi
  tag="$$-$RANDOM"
  CORE_NS="cscf-core-$tag" UE_NS="cscf-ue-$tag"
  # 10.X.Y.0/24 per run, so parallel runs (and their captures) never mix.
  NET="10.$((100 + $$ % 150)).$((RANDOM % 250 + 1))"
  teardown() {
    local ns pid
    for ns in "$CORE_NS" "$UE_NS"; do
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
      ip netns del "$ns" 2>/dev/null
    done
  }
  trap teardown EXIT
  ip netns add "$CORE_NS" && ip netns add "$UE_NS" || ns_fail "ip netns add (root, iproute2)"
  ip link add gm0 netns "$CORE_NS" type veth peer name gm0 netns "$UE_NS" ||
    ns_fail "a veth pair between the namespaces"
  for ns in "$CORE_NS:1" "$UE_NS:2"; do
    ip -n "${ns%:*}" link set lo up
    ip -n "${ns%:*}" addr add "$NET.${ns#*:}/24" dev gm0
    ip -n "${ns%:*}" link set gm0 up
  done
  IPSEC_INNER=1 IPSEC_UE_NS="$UE_NS" IPSEC_NET="$NET" ip netns exec "$CORE_NS" bash "$0" "$@"
  exit $?
fi

# ---- inside the core namespace ----
. "$(dirname "$0")/lib.sh"
BUILD=${1:-build}
SCEN="$E2E_DIR/scenarios"
DOMAIN=ims.mnc001.mcc001.3gppnetwork.org
TOKEN=esp5ecret
CORE="$IPSEC_NET.1" UEADDR="$IPSEC_NET.2"
PORT_UC=5080 PORT_US=5081
field() { jq -r "$1 // empty" <<<"$2"; }
ESPUE=espue
ESP_IMPI="$ESPUE@$DOMAIN" ESP_IMPU="sip:$ESPUE@$DOMAIN"
# The ESP handset's subscription: real 128-bit K/OP and AMF 8000 (SIPp could not use them).
ESP_K=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n') ESP_OP=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')

# ue STATE SUBCOMMAND [ARGS]: a step of esp_ue.py in the UE namespace; its JSON line on stdout.
ue() {
  local state=$1
  shift
  ip netns exec "$IPSEC_UE_NS" /usr/bin/python3 "$E2E_DIR/esp_ue.py" --state "$WORKDIR/$state.json" "$@" \
    2>>"$WORKDIR/esp_ue.log"
}
# events STATE JQ-FILTER: the UE's event log, filtered (one JSON value a line).
events() { jq -c "$2" "$WORKDIR/$1.json.events" 2>/dev/null; }
pc_api() { http_body "http://127.0.0.1:$PC_API$1"; }
metric_sum() { # REGEX of a metric line without its value: the sum of the matching values
  pc_api /metrics | grep -E "^$1 " | awk '{s += $NF} END {print s + 0}'
}
dropped() { metric_sum "[a-z_]*ipsec_esp_dropped_total\\{[^}]*reason=\"$1\"[^}]*\\}"; }
# The SPIs of the SA sets the pcscf's REST shows (GET /api/v1/registrations), one a line; fails
# (status 5) when the list or a binding's sa is missing, so "no SA" never passes on a broken list.
pc_spis() {
  pc_api /api/v1/registrations | jq -r '.registrations | if type == "array" and all(has("sa"))
    then .[].sa[] | .spi_uc, .spi_us, .spi_pc, .spi_ps else error("no sa list") end' 2>/dev/null
}
pc_set() { # SPI_PS: that SA set as the REST shows it
  pc_api /api/v1/registrations | jq -c ".registrations[]?.sa[]? | select(.spi_ps == $1)" 2>/dev/null
}
has_spi() { pc_spis | grep -qx "$1"; }
no_spi() { local l; l=$(pc_spis) && ! grep -qx "$1" <<<"$l"; }
no_sets() { local l; l=$(pc_spis) && [ -z "$l" ]; }
first_msg() { # STATE CMD DIR SELECTOR: the first matching event's SIP text
  events "$1" "select(.cmd == \"$2\" and .dir == \"$3\" and ($4)) | .text" | head -1 | jq -r .
}

echo "-- set-up: namespaces $CORE / $UEADDR, hss, scscf, pcscf (ipsec.mode optional, userspace)"
/usr/bin/python3 -c 'import scapy.layers.ipsec' 2>/dev/null || fail "python3-scapy is installed"
command -v tshark >/dev/null || fail "tshark is installed"
start_hss hss HSS_API_TOKEN=$TOKEN || { finish; exit 1; }
body=$(printf '{"impi":"%s","impus":["%s"],"k":"%s","op":"%s","amf":"8000","auth_schemes":["AKAv1-MD5"]}' \
  "$ESP_IMPI" "$ESP_IMPU" "$ESP_K" "$ESP_OP")
expect_eq "the HSS takes the ESP handset's subscription" 201 \
  "$(http_code "http://127.0.0.1:$HSS_API/api/v1/subscribers" -X POST -H "Authorization: Bearer $TOKEN" -d "$body")"
SC_SIP=$(free_port) SC_API=$(free_port) PC_API=$(free_port)
mapfile -t diam < <(scscf_diameter_env)
# The pcscf's first listen address is $CORE: its core-side connections leave from there, and
# the scscf's come back to it, so both trust it (trust.peers) besides 127.0.0.1.
start_prog scscf "$BUILD/scscf" "$REPO_DIR/config/scscf.yaml" SCSCF_SIP_LISTEN="127.0.0.1:$SC_SIP" \
  SCSCF_API_LISTEN="127.0.0.1:$SC_API" SCSCF_API_TOKEN=$TOKEN SCSCF_TRUST_PEERS="127.0.0.1,$CORE" \
  "${diam[@]}" || { finish; exit 1; }
wait_http "127.0.0.1:$SC_API" /readyz 200 10 || fail "scscf ready"

HAVE_IPSEC=1
"$BUILD/pcscf" --config-reference 2>/dev/null | grep -q '`ipsec.mode`' || HAVE_IPSEC=
[ -n "$HAVE_IPSEC" ] && pass "the pcscf has ipsec.* config keys" ||
  fail "the pcscf has ipsec.* config keys" "not in --config-reference: only the unprotected path is tried"
PCONF="$WORKDIR/pcscf.yaml"
cp "$REPO_DIR/config/pcscf.yaml" "$PCONF"
if [ -n "$HAVE_IPSEC" ]; then
  cat >>"$PCONF" <<EOF
ipsec:
  mode: optional
  datapath: userspace
  allow_null: true
  algorithms: [hmac-sha-1-96/aes-cbc, hmac-sha-1-96/des-ede3-cbc, hmac-sha-1-96/null, hmac-md5-96/aes-cbc, hmac-md5-96/des-ede3-cbc, hmac-md5-96/null]
  grace: 2
EOF
  if "$BUILD/pcscf" --config-reference 2>/dev/null | grep -q '`pcscf.state_file`'; then
    printf 'pcscf:\n  state_file: %s\n' "$WORKDIR/pcscf-state.json" >>"$PCONF"
  fi
fi
PC_ENV=(PCSCF_SIP_LISTEN="$CORE:5060,127.0.0.1:5060" PCSCF_API_LISTEN="127.0.0.1:$PC_API"
  PCSCF_API_TOKEN="$TOKEN" PCSCF_LOG_LEVEL=debug PCSCF_PCSCF_REGISTRAR="sip:127.0.0.1:$SC_SIP;transport=tcp;lr"
  PCSCF_TRUST_PEERS="127.0.0.1,$CORE")
start_prog pcscf "$BUILD/pcscf" "$PCONF" "${PC_ENV[@]}" || { finish; exit 1; }

# tshark on the veth, from before the first REGISTER (dumpcap says when it captures).
tshark -i gm0 -w "$WORKDIR/gm0.pcap" >/dev/null 2>"$WORKDIR/tshark.log" &
# shellcheck disable=SC2034 # lib.sh's table: cleanup kills it, stop_prog stops it
PIDS["tshark"]=$!
wait_for 30 grep -q "Capturing on" "$WORKDIR/tshark.log" || fail "tshark captures on gm0" "$(tail -2 "$WORKDIR/tshark.log")"

# alice: an unprotected SIPp handset on 127.0.0.1 (the core namespace) through the pcscf.
PA=$(free_port)
printf 'SEQUENTIAL\nalice;alice@%s;%s;[authentication username=alice@%s aka_K=abcdefghijklmnop aka_OP=ponmlkjihgfedcba];600;1\n' \
  "$DOMAIN" "$DOMAIN" "$DOMAIN" >"$WORKDIR/alice.csv"
timeout 20 sipp -sf "$SCEN/register_aka.xml" -inf "$WORKDIR/alice.csv" -i 127.0.0.1 -p "$PA" -t u1 \
  -m 1 -timeout 15s -timeout_error -auth_uri "$DOMAIN" -trace_msg -message_file "$WORKDIR/alice.msg" \
  "127.0.0.1:5060" >/dev/null 2>&1
expect_eq "alice (SIPp, no sec-agree) registers unprotected through the pcscf (mode optional)" 0 "$?"
# alice_sends NAME SCENARIO FIELDS: one request from alice's port; SIPp's verdict in $?.
alice_sends() {
  printf 'SEQUENTIAL\n%s\n' "$3" >"$WORKDIR/$1.csv"
  timeout 40 sipp -sf "$SCEN/$2" -inf "$WORKDIR/$1.csv" -i 127.0.0.1 -p "$PA" -t u1 -m 1 \
    -timeout 30s -timeout_error -trace_msg -message_file "$WORKDIR/$1.msg" "127.0.0.1:5060" >/dev/null 2>&1
}
# serve STATE NAME EXPECT: the ESP handset answers in the background until it saw EXPECT.
serve() {
  rm -f "$WORKDIR/$2.ready"
  ue "$1" serve --seconds 45 --expect "$3" --ready "$WORKDIR/$2.ready" >/dev/null &
  SERVE_PID=$!
  wait_for 15 test -e "$WORKDIR/$2.ready" || fail "$2: the ESP handset's sockets are open"
}
ue_init() { # STATE
  ue "$1" init --impi "$ESP_IMPI" --impu "$ESP_IMPU" --domain "$DOMAIN" --k "$ESP_K" --op "$ESP_OP" \
    --ue "$UEADDR" --pcscf "$CORE"
}

echo "-- the ESP handset's AKA (its own Milenage) against the lab HSS, unprotected"
ue_init plain
out=$(ue plain register --plain)
expect_eq "REGISTER/401/REGISTER/200 without sec-agree (RES from its Milenage accepted)" 200 "$(field .status "$out")"
expect_eq "... the 200 came as plain UDP (nothing was agreed)" plain "$(field .via "$out")"
expect_match "the scscf holds the handset's contact at its protected server port" "@$UEADDR:$PORT_US" \
  "$(http_body "http://127.0.0.1:$SC_API/api/v1/registrations/$ESP_IMPU")"

if [ -z "$HAVE_IPSEC" ]; then
  stop_clean pcscf scscf hss
  finish
  exit $?
fi

echo "-- sec-agree registration: Security-Client, 401 with Security-Server, REGISTER and 200 over ESP"
expect_eq "the scscf traces the handset (to see how its REGISTER arrives)" 200 \
  "$(http_code "http://127.0.0.1:$SC_API/api/v1/trace" -X POST -H "Authorization: Bearer $TOKEN" -d '{"impu":"'"$ESP_IMPU"'"}')"
ue_init ue
out=$(ue ue register)
expect_eq "the protected registration completes (200)" 200 "$(field .status "$out")"
SPI_UC=$(field .spi_uc "$out")
keys=$(ue ue keys)
SPI_US=$(field .spi_us "$keys") SPI_PC=$(field .spi_pc "$keys") SPI_PS=$(field .spi_ps "$keys")
PORT_PC=$(field .port_pc "$keys") PORT_PS=$(field .port_ps "$keys")
r401=$(first_msg ue register in '.status == 401')
expect_match "the first REGISTER gets 401 with an AKA challenge" '^WWW-Authenticate: Digest .*algorithm=AKAv1-MD5' "$r401"
expect_match "... and Security-Server: ipsec-3gpp with the pcscf's SPIs and ports" \
  '^Security-Server: ipsec-3gpp;.*spi-c=[0-9]+.*port-s=[0-9]+' "$r401"
expect_no_match "... without ck or ik" '[ ,;](ck|ik)=' "$r401"
expect_eq "... it came plain from the pcscf's 5060 (no SA yet)" "plain 5060 $PORT_UC" \
  "$(events ue 'select(.cmd == "register" and .dir == "in" and .status == 401) | "\(.via) \(.sport) \(.dport)"' | head -1 | jq -r .)"
expect_eq "the protected REGISTER went over ESP (spi_ps) from port_uc to port_ps" "esp $SPI_PS $PORT_UC $PORT_PS" \
  "$(events ue 'select(.cmd == "register" and .dir == "out" and .method == "REGISTER" and .via == "esp") | "\(.via) \(.spi) \(.sport) \(.dport)"' | head -1 | jq -r .)"
expect_eq "the 200 came over ESP on spi_uc, from port_ps to port_uc" "esp $SPI_UC $PORT_PS $PORT_UC" \
  "$(events ue 'select(.cmd == "register" and .dir == "in" and .status == 200) | "\(.via) \(.spi) \(.sport) \(.dport)"' | head -1 | jq -r .)"
# The Authorization lines of the REGISTERs the scscf received for the handset (its trace).
sc_auth() { tr -d '\r' <"$WORKDIR/scscf.log" | sed -n "/trace $ESP_IMPU: received/,/^\$/p" | grep -i '^Authorization'; }
expect_match "the scscf got the protected REGISTER (with the AKA answer) marked integrity-protected=\"yes\"" \
  'response="[0-9a-f]{32}".*integrity-protected="yes"|integrity-protected="yes".*response="[0-9a-f]{32}"' "$(sc_auth)"
expect_no_match "... and no answered REGISTER of it marked \"no\"" \
  'integrity-protected="no".*response="[0-9a-f]|response="[0-9a-f][^,]*,.*integrity-protected="no"' "$(sc_auth)"
set1=$(pc_set "$SPI_PS")
expect_eq "the pcscf's REST shows the set active, with its algorithms, SPIs and ports" \
  "active $(field .alg "$keys") $(field .ealg "$keys") $SPI_UC $SPI_US $SPI_PC $PORT_UC $PORT_US $PORT_PC $PORT_PS" \
  "$(jq -r '"\(.state) \(.alg) \(.ealg) \(.spi_uc) \(.spi_us) \(.spi_pc) \(.port_uc) \(.port_us) \(.port_pc) \(.port_ps)"' <<<"$set1")"
ik16=$(field .integ_key "$keys" | cut -c1-16)
expect_eq "... in the handset's binding, whose target is port_us through the SA" "$ESP_IMPI sip:$UEADDR:$PORT_US;transport=udp" \
  "$(pc_api "/api/v1/registrations?impu=$ESP_IMPU" | jq -r ".registrations[] | select(any(.sa[]; .spi_ps == $SPI_PS)) | \"\(.impi) \(.target)\"" 2>/dev/null)"
expect_no_match "... and never a key" "_key\"|\"(ck|ik)\"${ik16:+|$ik16}" "$(pc_api /api/v1/registrations)"

echo "-- a MESSAGE and a call from alice reach the handset over ESP (port_pc -> port_us)"
serve ue srv1 MESSAGE,INVITE,ACK,BYE
alice_sends amsg message_uac.xml "alice;$ESP_IMPU;$DOMAIN;text/plain;hello over ESP"
expect_eq "alice's MESSAGE to the ESP handset gets its 200" 0 "$?"
alice_sends acall call_uac.xml "alice;$ESP_IMPU;$DOMAIN"
expect_eq "alice's call to the ESP handset: INVITE/180/200/ACK/BYE/200" 0 "$?"
wait "$SERVE_PID"
expect_eq "the handset got MESSAGE, INVITE, ACK and BYE" 0 "$?"
for m in MESSAGE INVITE ACK BYE; do
  expect_eq "... the $m over ESP on spi_us, from port_pc to port_us" "esp $SPI_US $PORT_PC $PORT_US" \
    "$(events ue "select(.cmd == \"serve\" and .dir == \"in\" and .method == \"$m\") | \"\(.via) \(.spi) \(.sport) \(.dport)\"" | head -1 | jq -r .)"
done
expect_match "... the MESSAGE's text arrived" 'hello over ESP' "$(first_msg ue serve in '.method == "MESSAGE"')"
answers=$(events ue 'select(.cmd == "serve" and .dir == "out") | "\(.status) \(.cseq_method) \(.via) \(.spi) \(.sport) \(.dport)"' | jq -r .)
expect_eq "its answers (200 MESSAGE, 180/200 INVITE, 200 BYE) went back over ESP, spi_pc, port_us -> port_pc" \
  "200 MESSAGE 180 INVITE 200 INVITE 200 BYE" "$(grep " esp $SPI_PC $PORT_US $PORT_PC\$" <<<"$answers" | awk '{print $1, $2}' | uniq | paste -sd' ')"
expect_eq "... and none otherwise" "" "$(grep -v " esp $SPI_PC $PORT_US $PORT_PC\$" <<<"$answers")"
expect_eq "nothing reached the handset as plain UDP" 0 "$(events ue 'select(.dir == "in" and .via == "plain" and .status != 401)' | wc -l)"

echo "-- the handset's own MESSAGE to alice over ESP"
timeout 30 sipp -sf "$SCEN/message_uas.xml" -i 127.0.0.1 -p "$PA" -t u1 -m 1 -timeout 25s -timeout_error \
  -trace_msg -message_file "$WORKDIR/alice_in.msg" >/dev/null 2>&1 &
ALICE_UAS=$!
wait_for 10 port_bound udp "$PA" || fail "alice's SIPp listens on $PA"
out=$(ue ue message --to "sip:alice@$DOMAIN" --text "from the ESP handset")
expect_eq "its 200 comes back over ESP on spi_uc" "200 esp $SPI_UC" "$(jq -r '"\(.status) \(.via) \(.spi)"' <<<"$out")"
wait "$ALICE_UAS"
expect_eq "alice got it" 0 "$?"
expect_match "... with the handset's asserted identity" "^P-Asserted-Identity: <$ESP_IMPU>" \
  "$(tr -d '\r' <"$WORKDIR/alice_in.msg")"

echo "-- the handset subscribes to its reg event: the NOTIFY comes over ESP"
out=$(ue ue subscribe)
expect_eq "SUBSCRIBE (Event: reg) over the SA: 200 over ESP on spi_uc" "200 esp $SPI_UC" "$(jq -r '"\(.status) \(.via) \(.spi)"' <<<"$out")"
expect_eq "... the NOTIFY over ESP on spi_us, port_pc -> port_us" "esp $SPI_US $PORT_PC $PORT_US" \
  "$(events ue 'select(.cmd == "subscribe" and .dir == "in" and .method == "NOTIFY") | "\(.via) \(.spi) \(.sport) \(.dport)"' | head -1 | jq -r .)"
expect_match "... with the handset's registration in it" "aor=\"$ESP_IMPU\"" "$(first_msg ue subscribe in '.method == "NOTIFY"')"
expect_eq "... answered over spi_pc" "200 NOTIFY esp $SPI_PC" \
  "$(events ue 'select(.cmd == "subscribe" and .dir == "out" and .cseq_method == "NOTIFY") | "\(.status) \(.cseq_method) \(.via) \(.spi)"' | head -1 | jq -r .)"

echo "-- a bad ICV, a replay and plain UDP to port_ps: dropped"
# An answer comes within milliseconds; the silence is waited for 1 s, and the drop counter
# (the event: the packet was taken and refused, so it will never be answered) proves the rest.
icv0=$(dropped icv) rep0=$(dropped replay)
out=$(ue ue --timeout 1 bad-icv)
expect_eq "an OPTIONS with a broken ICV gets no answer" false "$(jq -r .answered <<<"$out")"
wait_for 10 test "$(dropped icv)" -gt "$icv0" && pass "... and is counted (reason=\"icv\")" ||
  fail "... and is counted (reason=\"icv\")" "ipsec_esp_dropped_total icv $icv0 -> $(dropped icv)"
out=$(ue ue replay --wait 1)
expect_eq "the OPTIONS is answered over ESP, its replay is not" "200 false" "$(jq -r '"\(.first) \(.replay_answered)"' <<<"$out")"
wait_for 10 test "$(dropped replay)" -gt "$rep0" && pass "... and the replay is counted (reason=\"replay\")" ||
  fail "... and the replay is counted (reason=\"replay\")" "ipsec_esp_dropped_total replay $rep0 -> $(dropped replay)"
out=$(ue ue send-plain)
expect_eq "a plain UDP REGISTER to port_ps gets nothing" false "$(jq -r .answered <<<"$out")"
out=$(ue ue options)
expect_eq "the SA still works after all that (OPTIONS answered over spi_uc)" "esp $SPI_UC" "$(jq -r '"\(.via) \(.spi)"' <<<"$out")"

echo "-- a re-REGISTER whose Security-Verify differs from the Security-Server: 494"
out=$(ue ue reregister --tamper-verify)
expect_eq "494 Security Agreement Required, over ESP on spi_uc" "494 esp $SPI_UC" "$(jq -r '"\(.status) \(.via) \(.spi)"' <<<"$out")"

echo "-- re-registration over the SA moves to a new SA set"
out=$(ue ue reregister)
expect_eq "REGISTER over the old SA / 401 / REGISTER over the new one / 200" "200 true" "$(jq -r '"\(.status) \(.challenged)"' <<<"$out")"
N_UC=$(field .spi_uc "$out") N_US=$(field .spi_us "$out") N_PC=$(field .spi_pc "$out") N_PS=$(field .spi_ps "$out")
expect_eq "the scscf saw the handset's REGISTERs marked no (the first, plain) then yes (over an SA) only" \
  "no yes yes yes" "$(sc_auth | sed -n 's/.*integrity-protected="\([a-z-]*\)".*/\1/p' | paste -sd' ')"
expect_eq "... the 401 came over the old SA (spi_uc)" "esp $SPI_UC" \
  "$(events ue 'select(.cmd == "reregister" and .dir == "in" and .status == 401) | "\(.via) \(.spi)"' | head -1 | jq -r .)"
expect_eq "... the 200 over the new one" "esp $N_UC" "$(jq -r '"\(.via) \(.spi)"' <<<"$out")"
expect_no_match "... new SPIs from the pcscf" "^($SPI_PC|$SPI_PS)\$" "$(printf '%s\n' "$N_PC" "$N_PS")"
serve ue srv2 MESSAGE
alice_sends amsg2 message_uac.xml "alice;$ESP_IMPU;$DOMAIN;text/plain;after the re-registration"
expect_eq "alice's MESSAGE gets its 200" 0 "$?"
wait "$SERVE_PID"
expect_eq "... it reached the handset over the new spi_us, answered over the new spi_pc" "$N_US $N_PC" \
  "$(events ue 'select(.cmd == "serve")' | jq -rs "[(map(select(.dir == \"in\" and .method == \"MESSAGE\"))[-1].spi), (map(select(.dir == \"out\" and .status == 200))[-1].spi)] | map(tostring) | join(\" \")")"
out=$(ue ue options)
expect_eq "the handset's OPTIONS is answered over the new spi_uc" "esp $N_UC" "$(jq -r '"\(.via) \(.spi)"' <<<"$out")"
wait_for 20 no_spi "$SPI_PS" && pass "the old SA set leaves the pcscf's REST after the grace period (ipsec.grace 2 s)" ||
  fail "the old SA set leaves the pcscf's REST after the grace period (ipsec.grace 2 s)" "spi_ps $SPI_PS still listed"
expect_eq "... the new one is the active one" active "$(field .state "$(pc_set "$N_PS")")"
nosa0=$(dropped no_sa)
out=$(ue ue --timeout 1 options --set "$SPI_PS")
expect_eq "an OPTIONS over the old set after the grace period gets no answer (the datapath dropped it)" \
  null "$(jq -r .status <<<"$out")"
wait_for 10 test "$(dropped no_sa)" -gt "$nosa0" && pass "... counted as dropped (reason=\"no_sa\")" ||
  fail "... counted as dropped (reason=\"no_sa\")" "ipsec_esp_dropped_total no_sa $nosa0 -> $(dropped no_sa)"
SPI_UC=$N_UC SPI_US=$N_US SPI_PC=$N_PC SPI_PS=$N_PS

echo "-- a pcscf restart keeps the handset reachable over its SAs without re-registering"
T_RESTART=$(date +%s.%N)
stop_prog pcscf KILL
start_prog pcscf "$BUILD/pcscf" "$PCONF" "${PC_ENV[@]}" || { finish; exit 1; }
expect_eq "the restarted pcscf has the handset's SA set active and installed again" "active true" \
  "$(jq -r '"\(.state) \(.installed)"' <<<"$(pc_set "$SPI_PS")")"
serve ue srv3 MESSAGE
alice_sends amsg3 message_uac.xml "alice;$ESP_IMPU;$DOMAIN;text/plain;after the restart"
expect_eq "alice's MESSAGE after the restart gets its 200" 0 "$?"
wait "$SERVE_PID"
expect_eq "... it reached the handset over spi_us" "$SPI_US" \
  "$(events ue 'select(.cmd == "serve" and .dir == "in" and .method == "MESSAGE")' | jq -rs '.[-1].spi')"
out=$(ue ue options)
expect_eq "the handset's OPTIONS is answered over spi_uc (its sequence numbers go on)" "esp $SPI_UC" "$(jq -r '"\(.via) \(.spi)"' <<<"$out")"
for spi in "$SPI_US" "$SPI_UC"; do # RFC 4303 3.3.3: a sequence number is never sent twice on an SA
  before=$(events ue "select(.dir == \"in\" and .spi == $spi and .t < $T_RESTART) | .seq" | sort -n | tail -1)
  after=$(events ue "select(.dir == \"in\" and .spi == $spi and .t > $T_RESTART) | .seq" | sort -n | head -1)
  [ -n "$before" ] && [ -n "$after" ] && [ "$after" -gt "$before" ] &&
    pass "the pcscf's sequence numbers on $spi went on above those sent before the restart" ||
    fail "the pcscf's sequence numbers on $spi went on above those sent before the restart" "last before $before, first after $after"
done

echo "-- de-registration: the 200 over ESP, then the SAs are deleted"
out=$(ue ue deregister)
expect_eq "REGISTER Expires: 0 gets its 200 over ESP" "200 esp" "$(jq -r '"\(.status) \(.via)"' <<<"$out")"
wait_for 20 no_sets && pass "then the pcscf holds no SA of the handset" ||
  fail "then the pcscf holds no SA of the handset" "still listed: $(pc_spis | paste -sd' ')"
# unanswered STATE OPTIONS-ARGS...: an OPTIONS over that set gets no answer within 2 s.
unanswered() { [ "$(ue "$1" --timeout 2 options "${@:2}" | jq -r .status)" = null ]; }
# The pcscf deletes them shortly after the 200 went out: each try takes 2 s or more.
wait_for 20 unanswered ue --set "$SPI_PS" && pass "an OPTIONS over the set that was active gets no answer" ||
  fail "an OPTIONS over the set that was active gets no answer" "still answered after 20 s"
expect_eq "... nor over the set the de-registration's 401 made" ok "$(unanswered ue --latest && echo ok)"

expect_eq "over the whole story nothing but the first 401 reached the handset as plain UDP" "" \
  "$(events ue 'select(.dir == "in" and .via == "plain" and .status != 401) | .first')"

echo "-- every alg/ealg pair registers; tshark opens its ESP with the keys"
uat=()
declare -A PAIR_SPI=()
for alg in hmac-sha-1-96 hmac-md5-96; do
  for ealg in null aes-cbc des-ede3-cbc; do
    st="p-$alg-$ealg"
    ue_init "$st"
    out=$(ue "$st" register --offer "$alg/$ealg")
    expect_eq "$alg/$ealg: registered, the 200 over ESP" "200 esp $alg $ealg" \
      "$(jq -r '"\(.status) \(.via) \(.alg) \(.ealg)"' <<<"$out")"
    k=$(ue "$st" keys)
    PAIR_SPI[$alg/$ealg]="$(field .spi_ps "$k") $(field .spi_uc "$k")"
    case $ealg in null) e=NULL ;; aes-cbc) e="AES-CBC [RFC3602]" ;; *) e="TripleDES-CBC [RFC2451]" ;; esac
    case $alg in hmac-sha-1-96) a="HMAC-SHA-1-96 [RFC2404]" ;; *) a="HMAC-MD5-96 [RFC2403]" ;; esac
    ek=$(field .enc_key "$k")
    uat+=(-o "uat:esp_sa:\"IPv4\",\"$UEADDR\",\"$CORE\",\"$(printf '0x%08x' "$(field .spi_ps "$k")")\",\"$e\",\"${ek:+0x$ek}\",\"$a\",\"0x$(field .integ_key "$k")\"")
    uat+=(-o "uat:esp_sa:\"IPv4\",\"$CORE\",\"$UEADDR\",\"$(printf '0x%08x' "$(field .spi_uc "$k")")\",\"$e\",\"${ek:+0x$ek}\",\"$a\",\"0x$(field .integ_key "$k")\"")
    ue "$st" deregister >/dev/null
  done
done
stop_prog tshark INT
# The capture decoded once with every pair's keys: "SPI<TAB>request-line<TAB>status-line" for
# each SIP message tshark opens inside ESP (one tshark run instead of one per SPI).
esp_sip=$(tshark -r "$WORKDIR/gm0.pcap" -o esp.enable_encryption_decode:TRUE "${uat[@]}" \
  -Y "esp && sip" -T fields -e esp.spi -e sip.Request-Line -e sip.Status-Line 2>/dev/null)
sip_in_esp() { # SPI: SIP lines tshark decoded inside ESP packets of that SPI
  # esp.spi prints as hex (BASE_HEX_DEC) or decimal depending on tshark's version: match either
  awk -F'\t' -v d="$1" -v h="$(printf '0x%08x' "$1")" 'tolower($1) == h || $1 == d {print $2 "\t" $3}' <<<"$esp_sip"
}
for pair in "${!PAIR_SPI[@]}"; do
  read -r sps suc <<<"${PAIR_SPI[$pair]}"
  expect_match "tshark: $pair's REGISTER inside ESP (spi_ps)" '^REGISTER sip:' "$(sip_in_esp "$sps")"
  expect_match "tshark: $pair's 200 inside ESP (spi_uc)" 'SIP/2.0 200' "$(sip_in_esp "$suc")"
done
expect_eq "tshark sees no plain SIP to the handset's ports after the 401s" "" \
  "$(tshark -r "$WORKDIR/gm0.pcap" -Y "udp.dstport == $PORT_US && sip" -T fields -e sip.Request-Line 2>/dev/null)"


echo "-- SIP over TCP through the SAs: the UE's own kernel TCP behind its ESP engine (espdp --engine)"
# scapy has no TCP stack: esp_ue.py's tcp step registers plain over UDP with Security-Client,
# gives the agreed set to the project's userspace datapath in the UE namespace (seen from the
# UE), connects from port_uc to port_ps over it and sends the protected REGISTER; alice's
# MESSAGE must come back on that connection. Independent checks: scapy opens the ESP the UE
# receives (inner TCP ports), tshark opens the capture with the keys, the scscf's trace.
ESPDP="$REPO_DIR/$BUILD/tools/espdp"
[ -x "$ESPDP" ] || ESPDP="$BUILD/tools/espdp"
TCP_IMPI="esptcp@$DOMAIN" TCP_IMPU="sip:esptcp@$DOMAIN"
body=$(printf '{"impi":"%s","impus":["%s"],"k":"%s","op":"%s","amf":"8000","auth_schemes":["AKAv1-MD5"]}' \
  "$TCP_IMPI" "$TCP_IMPU" "$ESP_K" "$ESP_OP")
expect_eq "the HSS takes the TCP handset's subscription" 201 \
  "$(http_code "http://127.0.0.1:$HSS_API/api/v1/subscribers" -X POST -H "Authorization: Bearer $TOKEN" -d "$body")"
expect_eq "the scscf traces the TCP handset" 200 \
  "$(http_code "http://127.0.0.1:$SC_API/api/v1/trace" -X POST -H "Authorization: Bearer $TOKEN" -d '{"impu":"'"$TCP_IMPU"'"}')"
tshark -i gm0 -w "$WORKDIR/gm0-tcp.pcap" >/dev/null 2>"$WORKDIR/tshark-tcp.log" &
# shellcheck disable=SC2034 # lib.sh's table: cleanup kills it, stop_prog stops it
PIDS["tshark_tcp"]=$!
wait_for 30 grep -q "Capturing on" "$WORKDIR/tshark-tcp.log" || fail "tshark captures gm0 (TCP)" "$(tail -2 "$WORKDIR/tshark-tcp.log")"
ue tcp init --impi "$TCP_IMPI" --impu "$TCP_IMPU" --domain "$DOMAIN" --k "$ESP_K" --op "$ESP_OP" \
  --ue "$UEADDR" --pcscf "$CORE"
ue tcp tcp --engine "$ESPDP" --offer hmac-sha-1-96/aes-cbc --expect MESSAGE --seconds 40 \
  --ready "$WORKDIR/tcp.ready" >"$WORKDIR/tcp.out" &
TCP_UE=$!
wait_for 20 test -s "$WORKDIR/tcp.ready"
out=$(cat "$WORKDIR/tcp.ready" 2>/dev/null)
expect_eq "the REGISTER over TCP through the SAs gets its 200 on that connection" 200 "$(field .status "$out")"
T_UC=$(field .spi_uc "$out") T_PS=$(field .spi_ps "$out")
T_PORT_PS=$(field .port_ps "$out")
alice_sends tmsg message_uac.xml "alice;$TCP_IMPU;$DOMAIN;text/plain;hello over TCP in ESP"
expect_eq "alice's MESSAGE to the TCP handset gets its 200" 0 "$?"
wait "$TCP_UE"
expect_eq "the TCP handset got the MESSAGE on its connection and answered it" 0 "$?"
out=$(cat "$WORKDIR/tcp.out")
tcp_ev() { events tcp "select(.cmd == \"tcp\" and $1) | $2" | head -1 | jq -r .; }
expect_eq "the protected REGISTER went on the TCP connection from port_uc to port_ps" "$PORT_UC $T_PORT_PS" \
  "$(tcp_ev '.dir == "out" and .via == "tcp" and .method == "REGISTER"' '"\(.sport) \(.dport)"')"
expect_eq "... its 200 came back on it" "200 $T_PORT_PS $PORT_UC" \
  "$(tcp_ev '.dir == "in" and .via == "tcp" and .cseq_method == "REGISTER"' '"\(.status) \(.sport) \(.dport)"')"
expect_match "the MESSAGE arrived on the same connection (port_ps -> port_uc), with its text" \
  "^$T_PORT_PS $PORT_UC .*hello over TCP in ESP" \
  "$(tcp_ev '.dir == "in" and .via == "tcp" and .method == "MESSAGE"' '"\(.sport) \(.dport) \(.text)"' | tr '\r\n' '  ')"
expect_eq "scapy opened the ESP the UE got: the 200 and the MESSAGE inside spi_uc as TCP port_ps -> port_uc" \
  "$T_UC $T_PORT_PS $PORT_UC SIP/2.0 200 OK|$T_UC $T_PORT_PS $PORT_UC MESSAGE" \
  "$(tcp_ev '.via == "esp" and .proto == "tcp" and (.first // "" | startswith("SIP/2.0 200"))' '"\(.spi) \(.sport) \(.dport) \(.first)"')|$(
    tcp_ev '.via == "esp" and .proto == "tcp" and (.first // "" | startswith("MESSAGE"))' '"\(.spi) \(.sport) \(.dport) \(.first)"' | cut -d' ' -f1-4)"
expect_match "the UE's ESP engine carried packets both ways" '"packets_in": *[1-9].*"packets_out": *[1-9]' \
  "$(jq -c '.engine' <<<"$out" | sed 's/,/, /g')"
tcp_auth() { tr -d '\r' <"$WORKDIR/scscf.log" | sed -n "/trace $TCP_IMPU: received/,/^\$/p" | grep -i '^Authorization'; }
expect_eq "the scscf saw the TCP handset's REGISTERs marked no (the first, plain) then yes (over TCP in ESP)" \
  "no yes" "$(tcp_auth | sed -n 's/.*integrity-protected="\([a-z-]*\)".*/\1/p' | paste -sd' ')"
# dumpcap takes packets from the kernel a block at a time (up to a second later), and a stop
# loses the block not yet taken: wait (bounded) until the file holds the 200 and the MESSAGE
# towards the UE and the UE's REGISTER and 200 (ESP over 300 bytes each way).
esp_big() { tshark -r "$WORKDIR/gm0-tcp.pcap" -Y "esp.spi == $1 && frame.len > 300" 2>/dev/null | wc -l; }
captured() { [ "$(esp_big "$T_UC")" -ge 2 ] && [ "$(esp_big "$T_PS")" -ge 2 ]; }
wait_for 10 captured || true
stop_prog tshark_tcp INT
k=$(ue tcp keys)
tuat=(-o esp.enable_encryption_decode:TRUE
  -o "uat:esp_sa:\"IPv4\",\"$UEADDR\",\"$CORE\",\"$(printf '0x%08x' "$T_PS")\",\"AES-CBC [RFC3602]\",\"0x$(field .enc_key "$k")\",\"HMAC-SHA-1-96 [RFC2404]\",\"0x$(field .integ_key "$k")\""
  -o "uat:esp_sa:\"IPv4\",\"$CORE\",\"$UEADDR\",\"$(printf '0x%08x' "$T_UC")\",\"AES-CBC [RFC3602]\",\"0x$(field .enc_key "$k")\",\"HMAC-SHA-1-96 [RFC2404]\",\"0x$(field .integ_key "$k")\"")
tcp_sip() { # FILTER: "SPI SRCPORT DSTPORT request-or-status line" of SIP over TCP in ESP
  tshark -r "$WORKDIR/gm0-tcp.pcap" "${tuat[@]}" -d "tcp.port==$T_PORT_PS,sip" -Y "esp && tcp && sip && ($1)" \
    -T fields -e esp.spi -e tcp.srcport -e tcp.dstport -e sip.Request-Line -e sip.Status-Line 2>/dev/null |
    awk -F'\t' '{printf "%d %s %s %s%s\n", $1, $2, $3, $4, $5}'
}
expect_match "tshark: the REGISTER inside ESP (spi_ps) over TCP port_uc -> port_ps" \
  "^$T_PS $PORT_UC $T_PORT_PS REGISTER sip:" "$(tcp_sip 'sip.Method == "REGISTER"')"
expect_match "tshark: the MESSAGE inside ESP (spi_uc) over TCP port_ps -> port_uc" \
  "^$T_UC $T_PORT_PS $PORT_UC MESSAGE sip:" "$(tcp_sip 'sip.Method == "MESSAGE"')"
expect_match "tshark: its 200 inside ESP (spi_ps) on the same connection" \
  "^$T_PS $PORT_UC $T_PORT_PS SIP/2.0 200" "$(tcp_sip 'sip.CSeq.method == "MESSAGE"')"
expect_eq "tshark: no plain SIP to the UE's ports but the 401" "SIP/2.0 401 Unauthorized" \
  "$(tshark -r "$WORKDIR/gm0-tcp.pcap" -Y "!esp && sip && ip.dst == $UEADDR" -T fields -e sip.Request-Line \
    -e sip.Status-Line 2>/dev/null | tr -d '\t' | paste -sd'|')"

stop_clean pcscf scscf hss
finish
