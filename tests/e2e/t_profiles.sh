#!/usr/bin/env bash
# Handset profiles (pcscf.profiles, README "Handsets") and the quirks of real phones they cover,
# through hss, scscf and pcscf with SIPp handsets: a folded Authorization registers (default
# behaviour, not a switch); a profile matched by User-Agent (samsung) and one by IMEI TAC (vivo)
# show in GET /api/v1/profiles, the registrations view and the log; vivo's strip_qop: its 401
# has no qop and it registers with the RFC 2069 answer; vivo's expires_max clamps its expiry;
# the UE's Supported reaches the scscf kept and extended with path; a call with a tel: From is
# asserted as the registered IMPU and samsung's rewrite_tel_from makes the From that IMPU too,
# while the responses back to her carry the tel: From she sent.
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
SCEN="$E2E_DIR/scenarios"
DOMAIN=ims.mnc001.mcc001.3gppnetwork.org
TOKEN=s3cret-$RANDOM
field() { jq -r "$1 // empty" <<<"$2"; }

# The lab config with three profiles, the YAML form (a list of mappings).
CONF="$WORKDIR/pcscf.yaml"
cat "$REPO_DIR/config/pcscf.yaml" - >"$CONF" <<'EOF'
pcscf:
  profiles:
    - {name: samsung, user_agent: "*SM-*", rewrite_tel_from: true}
    - {name: vivo, tac: "8691", strip_qop: true, expires_max: 300}
    - {name: unused, user_agent: "NoSuchPhone", tac: "1", force_transport: tcp, keepalive_seconds: 30}
    - {name: strict, user_agent: "Strict*", tolerate_auth_spacing: false}
EOF

start_hss hss || { finish; exit 1; }
SC_SIP=$(free_port) SC_API=$(free_port) PC_SIP=$(free_port) PC_API=$(free_port)
mapfile -t diam < <(scscf_diameter_env)
start_prog scscf "$BUILD/scscf" "$REPO_DIR/config/scscf.yaml" SCSCF_SIP_LISTEN="127.0.0.1:$SC_SIP" \
  SCSCF_API_LISTEN="127.0.0.1:$SC_API" SCSCF_API_TOKEN="$TOKEN" "${diam[@]}" || { finish; exit 1; }
start_prog pcscf "$BUILD/pcscf" "$CONF" PCSCF_SIP_LISTEN="127.0.0.1:$PC_SIP" \
  PCSCF_API_LISTEN="127.0.0.1:$PC_API" PCSCF_PCSCF_REGISTRAR="sip:127.0.0.1:$SC_SIP;transport=tcp;lr" ||
  { finish; exit 1; }
wait_http "127.0.0.1:$SC_API" /readyz 200 10 || fail "scscf ready"

# register NAME USER K IMEI USER-AGENT SUPPORTED PORT [RUN-ON]: AKA registration through the
# pcscf with a folded Authorization (profile_register.xml; a tab starts each continuation line);
# RUN-ON: what the answer's continuation line carries (default opaque="folded").
register() {
  printf 'SEQUENTIAL\n%s;%s@%s;%s;[authentication username=%s@%s aka_K=%s aka_OP=%s];600;%s;%s;%s;\t;%s\n' \
    "$2" "$2" "$DOMAIN" "$DOMAIN" "$2" "$DOMAIN" "$3" ponmlkjihgfedcba "$4" "$5" "$6" \
    "${8:-opaque=\"folded\"}" >"$WORKDIR/$1.csv"
  timeout 20 sipp -sf "$SCEN/profile_register.xml" -inf "$WORKDIR/$1.csv" -i 127.0.0.1 -p "$7" \
    -t u1 -m 1 -timeout 15s -timeout_error -auth_uri "$DOMAIN" -trace_msg \
    -message_file "$WORKDIR/$1.msg" "127.0.0.1:$PC_SIP" >/dev/null 2>&1
}
# The first 401 / REGISTER a handset's trace holds, headers only.
first() { sed -n "\\|^$2|,/^\r\?\$/p" "$WORKDIR/$1.msg" | tr -d '\r' | sed '/^$/q'; }
PA=$(free_port) PB=$(free_port)

echo "-- GET /api/v1/profiles"
profiles=$(http_body "http://127.0.0.1:$PC_API/api/v1/profiles")
expect_eq "five profiles in matching order, the built-in default last" "samsung vivo unused strict default" \
  "$(jq -r '[.profiles[].name] | join(" ")' <<<"$profiles")"
expect_eq "samsung: matched by User-Agent, rewrite_tel_from on" '*SM-*|true|false' \
  "$(jq -r '.profiles[0] | "\(.match.user_agent)|\(.switches.rewrite_tel_from)|\(.switches.strip_qop)"' <<<"$profiles")"
expect_eq "vivo: matched by TAC, strip_qop on, expires_max 300, the rest the default's" '8691|true|300|true|path' \
  "$(jq -r '.profiles[1] | "\(.match.tac)|\(.switches.strip_qop)|\(.switches.expires_max)|\(.switches.strip_ck_ik)|\(.switches.supported_add)"' <<<"$profiles")"
expect_eq "unused: force_transport and keepalive_seconds as configured" 'tcp|30' \
  "$(jq -r '.profiles[2].switches | "\(.force_transport)|\(.keepalive_seconds)"' <<<"$profiles")"
expect_eq "default: built in, no match keys, the documented defaults" 'true|null|true|true|false|false|0|none' \
  "$(jq -r '.profiles[4] | "\(.builtin)|\(.match.user_agent)|\(.switches.tolerate_auth_spacing)|\(.switches.strip_ck_ik)|\(.switches.strip_qop)|\(.switches.rewrite_tel_from)|\(.switches.max_udp_size)|\(.switches.force_transport)"' <<<"$profiles")"

echo "-- alice (a Samsung by User-Agent) registers with a folded Authorization"
sc_trace="http://127.0.0.1:$SC_API/api/v1/trace"
expect_eq "the scscf traces alice (to see her REGISTER as it arrives)" 200 \
  "$(http_code "$sc_trace" -X POST -H "Authorization: Bearer $TOKEN" -d '{"impu":"sip:alice@'$DOMAIN'","seconds":120}')"
register rega alice abcdefghijklmnop 35290611-000000-1 "Samsung IMS 6.0 SM-S911B" "gruu, sec-agree" "$PA"
expect_eq "alice registers: REGISTER/401/REGISTER/200 with the Authorization over three lines" 0 "$?"
expect_match "... the REGISTER she sent was folded (CRLF, tab)" $'^\t,response=""' "$(first rega 'REGISTER sip')"
expect_match "... and her answer's last parameter came on a line of its own, no comma before it" \
  $'^\topaque="folded"' "$(sed -n '/^CSeq: 2 REGISTER/,/^\r\?$/p' "$WORKDIR/rega.msg" | tr -d '\r')"
a401=$(first rega 'SIP/2.0 401')
expect_match "her 401 keeps qop (default profile switch strip_qop off)" '^WWW-Authenticate: Digest .*qop="auth"' "$a401"
expect_no_match "... and has no ck/ik (strip_ck_ik on)" '[ ,](ck|ik)="' "$a401"
# The scscf logs a traced message in full: the last REGISTER received is alice's answer.
sc_reg=$(tr -d '\r' <"$WORKDIR/scscf.log" | awk '/trace sip:alice@.*: received/{hdr=1; next}
  hdr{hdr=0; keep=/^REGISTER /; if (keep) buf=""} keep{if ($0 == "") keep=0; else buf=buf $0 "\n"}
  END{printf "%s", buf}')
expect_match "at the scscf her Supported keeps gruu and sec-agree ..." '^Supported: .*gruu.*sec-agree' "$sc_reg"
expect_match "... and has path added" '^Supported: (.*[ ,])?path(,|$)' "$sc_reg"
expect_no_match "... her Authorization arrives as one line" $'^[ \t]' \
  "$(sed -n '/^Authorization:/,/^[A-Z]/p' <<<"$sc_reg" | sed '1d;$d')"
sc_auth=$(grep '^Authorization:' <<<"$sc_reg")
expect_match "... the parameter she ran on without a comma split off as one of its own" \
  '^Authorization: Digest .*[^ ], ?opaque="folded"' "$sc_auth"
expect_eq "... and one integrity-protected, the pcscf's" 'integrity-protected="no"' \
  "$(grep -o 'integrity-protected=[^,]*' <<<"$sc_auth" | paste -sd' ')"
regs=$(http_body "http://127.0.0.1:$PC_API/api/v1/registrations?impu=sip:alice@$DOMAIN")
expect_eq "the registrations view names her profile: samsung" samsung "$(field '.registrations[0].profile' "$regs")"
expect_match "the registration's log line names it" "registered alice@$DOMAIN for [0-9]+ s \\(profile samsung\\)" \
  "$(cat "$WORKDIR/pcscf.log")"

echo "-- the same REGISTERs from a phone whose profile does not tolerate_auth_spacing"
register regs alice abcdefghijklmnop 35290611-000000-9 "Strict phone" "path" "$(free_port)"
expect_eq "it does not register" 1 "$(($? != 0))"
expect_match "... its answer (parameters run together) gets 400 from the pcscf" \
  '^SIP/2.0 400 Malformed Authorization' "$(tr -d '\r' <"$WORKDIR/regs.msg")"
expect_match "... whose log says why" 'profile strict\): Authorization parameters run together' \
  "$(cat "$WORKDIR/pcscf.log")"

echo "-- bob (a vivo by IMEI TAC) registers: strip_qop and expires_max"
expect_eq "the scscf traces bob" 200 \
  "$(http_code "$sc_trace" -X POST -H "Authorization: Bearer $TOKEN" -d '{"impu":"sip:bob@'$DOMAIN'","seconds":120}')"
# His answer claims integrity protection twice, once hidden in a run-on parameter.
register regb bob bobbobbobbobbob1 86910000-123456-2 "SIPp handset" "path" "$PB" \
  'integrity-protected="yes", integrity-protected="yes"'
expect_eq "bob registers (his answer without qop, nc, cnonce is taken)" 0 "$?"
sc_auth=$(tr -d '\r' <"$WORKDIR/scscf.log" | awk '/trace sip:bob@.*: received/{hdr=1; next}
  hdr{hdr=0; keep=/^REGISTER /} keep && /^Authorization:/{a=$0} /^$/{keep=0} END{print a}')
expect_eq "at the scscf his answer has one integrity-protected, the pcscf's \"no\"" 'integrity-protected="no"' \
  "$(grep -o 'integrity-protected=[^,]*' <<<"$sc_auth" | paste -sd' ')"
b401=$(first regb 'SIP/2.0 401')
expect_match "his 401 is an AKA challenge ..." '^WWW-Authenticate: Digest .*algorithm=AKAv1-MD5' "$b401"
expect_no_match "... without qop" 'qop' "$b401"
expect_no_match "... and he answered without qop" 'qop=' "$(sed -n '/^REGISTER sip/,/^\r\?$/p' "$WORKDIR/regb.msg" | tail -20)"
regs=$(http_body "http://127.0.0.1:$PC_API/api/v1/registrations?impu=sip:bob@$DOMAIN")
expect_eq "the registrations view names his profile: vivo" vivo "$(field '.registrations[0].profile' "$regs")"
exp=$(field '.registrations[0].expires' "$regs")
expect_match "his 600 s asked became at most 300 (expires_max)" '^(2[0-9][0-9]|300)$' "$exp"

echo "-- alice calls bob with a tel: From"
timeout 30 sipp -sf "$SCEN/call_uas.xml" -i 127.0.0.1 -p "$PB" -t u1 -m 1 -timeout 25s \
  -timeout_error -trace_msg -message_file "$WORKDIR/bcall.msg" >/dev/null 2>&1 &
CALLEE=$!
wait_for 10 port_bound udp "$PB" || fail "bob's handset (SIPp) listens on $PB"
printf 'SEQUENTIAL\n%s;%s;%s\n' "tel:+15550001" "sip:bob@$DOMAIN" "$DOMAIN" >"$WORKDIR/acall.csv"
timeout 30 sipp -sf "$SCEN/profile_call_tel.xml" -inf "$WORKDIR/acall.csv" -i 127.0.0.1 -p "$PA" -t u1 \
  -m 1 -timeout 20s -timeout_error -trace_msg -message_file "$WORKDIR/acall.msg" \
  "127.0.0.1:$PC_SIP" >/dev/null 2>&1
expect_eq "the call completes: INVITE/180/200/ACK/BYE/200" 0 "$?"
wait "$CALLEE"
expect_eq "bob's side completes" 0 "$?"
inv=$(first bcall INVITE)
expect_match "bob sees P-Asserted-Identity: alice's registered IMPU" "^P-Asserted-Identity: <sip:alice@$DOMAIN>\$" "$inv"
expect_match "... and a From rewritten to it (rewrite_tel_from), her tag kept" \
  "^From: <sip:alice@$DOMAIN>;tag=[0-9]+SIPpTag00" "$inv"
# The From of alice's trace's responses to her INVITE with status CODE.
resp_from() {
  tr -d '\r' <"$WORKDIR/acall.msg" | awk -v code="$1" '$0 ~ "^SIP/2.0 " code " " {on = 1; f = ""; inv = 0}
    on && /^From:/ {f = $0} on && /^CSeq: [0-9]+ INVITE/ {inv = 1}
    on && /^$/ {if (inv && f != "") print f; on = 0}' | head -1
}
for code in 180 200; do
  expect_match "... and the $code alice gets carries her own tel: From again, her tag" \
    "^From: <tel:\+15550001>;tag=[0-9]+SIPpTag00" "$(resp_from "$code")"
done

stop_prog pcscf
expect_eq "pcscf exits 0" 0 "$LAST_EXIT"
expect_clean_log "pcscf: no sanitizer report" pcscf
stop_clean scscf
stop_clean hss
finish
