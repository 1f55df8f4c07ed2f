# Helpers for the flow tests (t_flows.sh, t_profile_flows.sh), sourced after lib.sh once the
# script has set DOMAIN, OP, SCEN and PC_SIP: SIPp handsets registering through the pcscf with
# register_flow*.xml.
# shellcheck shell=bash

# csv NAME USER K INSTANCE CONTACT EXPIRES SUPPORTED: an injection file for register_flow*.xml.
csv() {
  printf 'SEQUENTIAL\n%s;%s@%s;%s;[authentication username=%s@%s aka_K=%s aka_OP=%s];%s;%s;%s;%s\n' \
    "$2" "$2" "$DOMAIN" "$DOMAIN" "$2" "$DOMAIN" "$3" "$OP" "$6" "$4" "$5" "$7" >"$WORKDIR/$1.csv"
}
# register NAME SCENARIO TRANSPORT PORT [SIPp args]: in the foreground; SIPp's verdict in $?.
register() {
  local name=$1 scen=$2 t=$3 port=$4
  shift 4
  timeout 40 sipp -sf "$SCEN/$scen.xml" -inf "$WORKDIR/$name.csv" -i 127.0.0.1 -p "$port" -t "$t" \
    -m 1 -timeout 35s -timeout_error -auth_uri "$DOMAIN" -trace_msg \
    -message_file "$WORKDIR/$name.msg" "$@" "127.0.0.1:$PC_SIP" >/dev/null 2>&1
}
