#!/usr/bin/env bash
# A TCP peer that got ahead of us: requests waiting unread in a connection's socket beyond
# sip.max_message_size (64 KiB) are all answered and the connection stays usable. nta applied
# that limit to each read, which takes the whole socket backlog, and dropped the connection with
# every message on it (the calls bench's "1% of INVITEs without a 180" at 1,100 calls/s over the
# pcscf-scscf TCP link). A single request over the limit still gets 413.
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
MAX=65536

sip=$(free_port) api=$(free_port)
start_prog pcscf "$BUILD/pcscf" "$REPO_DIR/config/pcscf.yaml" PCSCF_SIP_LISTEN="127.0.0.1:$sip" \
  PCSCF_API_LISTEN="127.0.0.1:$api" PCSCF_SIP_MAX_MESSAGE_SIZE=$MAX || { finish; exit 1; }

# 180 OPTIONS of about 570 bytes: 100 KiB, written while the pcscf is stopped
read -r sent answered last < <(/usr/bin/python3 "$E2E_DIR/tcp_backlog.py" pipeline 127.0.0.1 "$sip" \
  "${PIDS[pcscf]}" 180)
if [ "${sent:--1}" -gt "$MAX" ]; then
  pass "the backlog written ($sent bytes) is over sip.max_message_size ($MAX)"
else
  fail "the backlog written is over sip.max_message_size ($MAX)" "sent: ${sent:-nothing}"
fi
expect_eq "every request of the backlog answered 200" 180 "${answered:-0}"
expect_eq "the connection still answers afterwards" 1 "${last:-0}"
expect_match "a request with a body over sip.max_message_size gets 413" '^SIP/2.0 413 ' \
  "$(/usr/bin/python3 "$E2E_DIR/tcp_backlog.py" big 127.0.0.1 "$sip" $((MAX + 1000)))"
expect_eq "pcscf still answers /healthz" 200 "$(http_code "http://127.0.0.1:$api/healthz")"
stop_clean pcscf
finish
