#!/usr/bin/env bash
# The userspace IPsec datapath against the real kernel (needs root: network namespaces, a TUN
# device, a raw ESP socket, policy rules). Two namespaces joined by a veth pair, core 10.X.Y.1
# and UE 10.X.Y.2 (X.Y per run); tests/tools/espdp opens the datapath in the core namespace with
# one SA set and echoes UDP on port_ps; tests/e2e/espdp_ue.py (scapy's ESP, not ours) is the UE:
#   - a protected datagram from port_uc comes back protected with spi_uc, also at 4000 bytes
#     (outer ESP fragmented by the kernel both ways, inner never);
#   - the other pair: a datagram we send from port_pc reaches the UE's port_us protected with
#     spi_us, and the UE's protected answer (spi_pc) reaches our port_pc socket;
#   - a plain datagram to port_ps is refused by the kernel (the socket is bound to the TUN
#     device) and never reaches the echo server;
#   - TCP: a connection port_uc -> port_ps through the SAs echoes; a plain SYN gets a reset;
#   - a packet with a broken ICV and a replayed one are dropped and counted by reason;
#   - the rules, route and device exist while it runs, a previous run's leftover rule is
#     removed at open, and all of it is gone after it closes; after a SIGKILL the next run
#     starts over the rules left behind;
#   - without CAP_NET_ADMIN (or CAP_NET_RAW), open fails, says so, and leaves nothing behind.
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
ESPDP="$REPO_DIR/$BUILD/tools/espdp"
[ -x "$ESPDP" ] || ESPDP="$BUILD/tools/espdp"

if [ "$(id -u)" != 0 ] || ! ip netns list >/dev/null 2>&1 || [ ! -e /dev/net/tun ]; then
  echo "  skip the ESP datapath test: needs root, ip netns and /dev/net/tun"
  finish
  exit $?
fi
if ! /usr/bin/python3 -c 'import scapy.layers.ipsec' 2>/dev/null; then
  fail "scapy is installed (apt-get install python3-scapy)"
  finish
  exit $?
fi

TAG="$$-$RANDOM"
CORE="espdp-core-$TAG"
UE="espdp-ue-$TAG"
NET="10.$((100 + RANDOM % 100)).$((RANDOM % 256))"
CORE_IP="$NET.1" UE_IP="$NET.2"
PORT_PC=5062 PORT_PS=5063 PORT_UC=5080 PORT_US=5081
SPI_PC=1111 SPI_PS=2222 SPI_UC=3333 SPI_US=4444
TABLE=215 PREF=215 TUN=cscf-esp0
# TS 35.208 test set 1's CK and IK; Annex I: the SHA-1 key is IK and 32 zero bits, AES's is CK.
CK=b40ba9a3c58b2a05bbf0d987b21bf8cb IK=f769bcd751044604127672711c6d3441

netns_cleanup() {
  cleanup
  ip netns del "$CORE" 2>/dev/null
  ip netns del "$UE" 2>/dev/null
}
trap netns_cleanup EXIT

in_core() { ip netns exec "$CORE" "$@"; }
ip netns add "$CORE" && ip netns add "$UE" &&
  ip -n "$CORE" link add veth0 type veth peer name veth1 netns "$UE" &&
  ip -n "$CORE" addr add "$CORE_IP/24" dev veth0 && ip -n "$UE" addr add "$UE_IP/24" dev veth1 &&
  ip -n "$CORE" link set veth0 up && ip -n "$UE" link set veth1 up &&
  ip -n "$CORE" link set lo up && ip -n "$UE" link set lo up
expect_eq "the two namespaces are joined by a veth pair" 0 "$?"

start_espdp() { # NAME [extra args]: espdp in the core namespace, output in $WORKDIR/NAME.out
  local name=$1
  shift
  # ip netns exec execs espdp: $! is espdp itself (through a shell function it would not be).
  ip netns exec "$CORE" "$ESPDP" --local "$CORE_IP" --ue "$UE_IP" --port-pc $PORT_PC --port-ps $PORT_PS \
    --port-uc $PORT_UC --port-us $PORT_US --spi-pc $SPI_PC --spi-ps $SPI_PS --spi-uc $SPI_UC \
    --spi-us $SPI_US --ck $CK --ik $IK --tun $TUN --table $TABLE --pref $PREF \
    --stats "$WORKDIR/$name.stats" "$@" >"$WORKDIR/$name.out" 2>"$WORKDIR/$name.log" &
  PIDS[$name]=$!
}
out_has() { grep -q -- "$2" "$WORKDIR/$1.out" 2>/dev/null; }
stat_has() { grep -qF -- "$2" "$WORKDIR/$1.stats" 2>/dev/null; }
our_rules() { ip -n "$CORE" rule show pref $PREF; }

echo "-- without CAP_NET_ADMIN the datapath does not open, and says why"
nocap=$(in_core setpriv --bounding-set -net_admin --inh-caps -net_admin "$ESPDP" --local "$CORE_IP" \
  --ue "$UE_IP" --port-pc $PORT_PC --port-ps $PORT_PS --port-uc $PORT_UC --port-us $PORT_US \
  --spi-pc $SPI_PC --spi-ps $SPI_PS --spi-uc $SPI_UC --spi-us $SPI_US --ck $CK --ik $IK \
  --tun $TUN --stats "$WORKDIR/nocap.stats" 2>&1)
expect_match "open fails naming CAP_NET_ADMIN" 'CAP_NET_ADMIN is needed' "$nocap"
# Without NET_RAW the device, route and rules are made before the raw socket fails: the
# failed open must take them all down again.
noraw=$(in_core setpriv --bounding-set -net_raw --inh-caps -net_raw "$ESPDP" --local "$CORE_IP" \
  --ue "$UE_IP" --port-pc $PORT_PC --port-ps $PORT_PS --port-uc $PORT_UC --port-us $PORT_US \
  --spi-pc $SPI_PC --spi-ps $SPI_PS --spi-uc $SPI_UC --spi-us $SPI_US --ck $CK --ik $IK \
  --tun $TUN --table $TABLE --pref $PREF --stats "$WORKDIR/noraw.stats" 2>&1)
expect_match "open fails naming CAP_NET_RAW for the raw socket" \
  'CAP_NET_RAW is needed to open the raw ESP socket' "$noraw"
expect_eq "the failed open left no rule, route or device" "::1" \
  "$(our_rules):$(ip -n "$CORE" route show table $TABLE 2>/dev/null):$(
    ip -n "$CORE" link show $TUN >/dev/null 2>&1
    echo $?
  )"

echo "-- open: a previous run's leftover rule goes, ours and the device are in place"
ip -n "$CORE" rule add from 192.0.2.9 lookup $TABLE pref $PREF
start_espdp dp
if wait_for 15 out_has dp '^ready'; then pass "espdp opens the datapath and installs the set"; else
  fail "espdp opens the datapath and installs the set" "$(tail -3 "$WORKDIR/dp.log")"
fi
rules=$(our_rules)
expect_no_match "the leftover rule was removed" '192\.0\.2\.9' "$rules"
expect_match "rule: from us sport port_pc -> our table" "from $CORE_IP sport $PORT_PC lookup $TABLE" "$rules"
expect_match "rule: from us sport port_ps -> our table" "from $CORE_IP sport $PORT_PS lookup $TABLE" "$rules"
expect_eq "exactly our two rules at our priority" 2 "$(grep -c . <<<"$rules")"
expect_match "route: default dev $TUN in our table" "^default dev $TUN" "$(ip -n "$CORE" route show table $TABLE)"
expect_match "$TUN is up with MTU 65000" "mtu 65000 .*state (UP|UNKNOWN)" "$(ip -n "$CORE" link show $TUN)"
expect_eq "$TUN has rp_filter 2 (loose)" 2 "$(in_core cat /proc/sys/net/ipv4/conf/$TUN/rp_filter)"

echo "-- ESP both ways with scapy's ESP as the UE"
ue=$(timeout 120 ip netns exec "$UE" /usr/bin/python3 "$E2E_DIR/espdp_ue.py" --ue "$UE_IP" \
  --core "$CORE_IP" --port-uc $PORT_UC --port-us $PORT_US --port-pc $PORT_PC --port-ps $PORT_PS \
  --spi-ps $SPI_PS --spi-uc $SPI_UC --spi-pc $SPI_PC --spi-us $SPI_US \
  --auth-key "${IK}00000000" --enc-key "$CK" 2>&1)
expect_match "a protected datagram echoes back with spi_uc, port_ps -> port_uc" \
  "^echo ok $SPI_UC $PORT_PS $PORT_UC 15\$" "$ue"
expect_match "4000 bytes echo back (outer ESP fragmented both ways)" \
  "^large ok $SPI_UC $PORT_PS $PORT_UC 4000\$" "$ue"
expect_match "a plain datagram to port_ps is refused by the kernel (ICMP port unreachable)" \
  '^plain refused$' "$ue"
expect_match "after a bad ICV and a replay the SA still carries an echo" \
  "^again ok $SPI_UC $PORT_PS $PORT_UC 15\$" "$ue"
expect_match "our request from port_pc reaches the UE's port_us protected with spi_us" \
  "^request ok $SPI_US $PORT_PC $PORT_US 15\$" "$ue"
expect_match "a TCP connection port_uc -> port_ps through the SAs echoes (listener guarded, accepted socket inherits)" \
  "^tcp ok $SPI_UC $PORT_PS $PORT_UC 19\$" "$ue"
expect_match "a plain TCP SYN to port_ps gets a reset, never a SYN-ACK" '^plaintcp reset$' "$ue"
if wait_for 10 out_has dp "^pc got 16 bytes from $UE_IP:$PORT_US: response-from-us\$"; then
  pass "the UE's response on spi_pc reaches our port_pc socket"
else
  fail "the UE's response on spi_pc reaches our port_pc socket" "$(grep '^pc got' "$WORKDIR/dp.out")"
fi
echo "$ue" | grep -v ' ok \|^sent \|^plain refused\|^plaintcp reset' | sed 's/^/       ue: /'
expect_no_match "the plain datagram never reached the echo server" 'plain-unprotected' \
  "$(cat "$WORKDIR/dp.out")"
expect_eq "the echo server saw exactly the four protected datagrams" 4 \
  "$(grep -c '^echo .* from '"$UE_IP:$PORT_UC" "$WORKDIR/dp.out")"

if wait_for 10 stat_has dp 'ipsec_esp_dropped_total{reason="icv"} 2'; then
  pass "the two bad-ICV packets are dropped and counted (reason icv)"
else
  fail "the two bad-ICV packets are dropped and counted (reason icv)" "$(grep dropped "$WORKDIR/dp.stats")"
fi
if wait_for 10 stat_has dp 'ipsec_esp_dropped_total{reason="replay"} 1'; then
  pass "the replayed packet is dropped and counted (reason replay)"
else
  fail "the replayed packet is dropped and counted (reason replay)" "$(grep dropped "$WORKDIR/dp.stats")"
fi
# In: 5 UDP datagrams and 3 TCP segments (SYN, data, RST) from the UE. Out: one packet more or
# less (the kernel's TCP may send a bare ACK before the echo), so counted against each other:
# all on spi_uc but our one request on spi_us.
# The UE has had every answer, but its last ESP packet (the RST) and the plain SYN's reset take
# different ways through the core: wait for the snapshot that has all 8 in.
wait_for 10 stat_has dp 'sa packets_in=8 '
stats=$(cat "$WORKDIR/dp.stats")
expect_match "metrics: 8 packets in" 'ipsec_esp_packets_total\{dir="in"\} 8$' "$stats"
# Bytes are the ESP packets' (header to ICV), the same in the metric and the set's counters.
bytes_in=$(sed -n 's/^sa .*bytes_in=\([0-9]*\) .*/\1/p' <<<"$stats")
expect_match "metrics: the bytes in are the set's bytes in (${bytes_in:-none})" \
  "^ipsec_esp_bytes_total\{dir=\"in\"\} ${bytes_in:-none}\$" "$stats"
out_metric=$(sed -n 's/^ipsec_esp_packets_total{dir="out"} //p' <<<"$stats")
out_set=$(sed -n 's/^sa .*packets_out=\([0-9]*\) .*/\1/p' <<<"$stats")
expect_eq "metrics: packets out are the set's packets out" "${out_set:-none}" "${out_metric:-missing}"
expect_match "the set's counters: 8 in, one request on spi_us, the rest on spi_uc" \
  "^sa packets_in=8 .*packets_out=${out_set:-x} .*seq_out_uc=$((${out_set:-0} - 1)) seq_out_us=1\$" "$stats"
expect_eq "a refusal kind is logged once per set, not per packet (icv, replay)" "1 1" \
  "$(grep -c 'SA set of .* dropped: icv' "$WORKDIR/dp.log") $(grep -c 'SA set of .* dropped: replay' "$WORKDIR/dp.log")"

echo "-- close: rules, route and device are gone"
stop_prog dp
expect_eq "espdp exits 0 on SIGTERM" 0 "$LAST_EXIT"
expect_clean_log "espdp: no sanitizer report" dp
expect_eq "no rule left at our priority" "" "$(our_rules)"
expect_eq "no route left in our table" "" "$(ip -n "$CORE" route show table $TABLE 2>/dev/null)"
ip -n "$CORE" link show $TUN >/dev/null 2>&1
expect_eq "$TUN is gone" 1 "$?"

echo "-- a run killed with SIGKILL leaves its rules; the next one starts anyway"
start_espdp killed
wait_for 15 out_has killed '^ready'
kill -KILL "${PIDS[killed]}" 2>/dev/null
wait "${PIDS[killed]}" 2>/dev/null
unset "PIDS[killed]"
expect_eq "the killed run's two rules are left behind" 2 "$(our_rules | grep -c "from $CORE_IP sport")"
start_espdp restarted
if wait_for 15 out_has restarted '^ready'; then pass "a new run opens over the leftovers"; else
  fail "a new run opens over the leftovers" "$(tail -3 "$WORKDIR/restarted.log")"
fi
expect_eq "it has exactly its two rules" 2 "$(our_rules | grep -c .)"
stop_prog restarted
expect_eq "and removes them when it stops" "0:" "$LAST_EXIT:$(our_rules)"

finish
