#!/usr/bin/env bash
# `hss vector` against every 3GPP TS 35.208 test set: the operator's check of a SIM's keys.
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
VECTORS="$SHARED_DIR/testdata/milenage_vectors.tsv"

out=$("$BUILD/hss" vector --k 465b5ce8b199b49faa5f0a2ee238a6bc --op cdc202d5123e20f62b6d676ac72cb318 \
  --rand 23553cbe9637a89d218ae64dae47bf35 --sqn ff9bb4d0b607 --amf b9b9)
expect_match "set 1 from OP: AUTN as TS 35.208 gives" '"autn":"55f328b43577b9b94a9ffac354dfafb3"' "$out"

bad=0
n=0
while IFS=$'\t' read -r set k rand sqn amf op opc mac_a mac_s res ck ik ak akstar; do
  [ "$set" = set ] && continue
  n=$((n + 1))
  out=$("$BUILD/hss" vector --k "$k" --opc "$opc" --rand "$rand" --sqn "$sqn" --amf "$amf")
  for want in "\"xres\":\"$res\"" "\"ck\":\"$ck\"" "\"ik\":\"$ik\"" "\"ak\":\"$ak\"" "\"opc\":\"$opc\""; do
    grep -q "$want" <<<"$out" || { bad=1; fail "set $set: $want" "got $out"; }
  done
  # AUTN = (SQN xor AK) || AMF || MAC-A
  autn_tail="${amf}${mac_a}"
  grep -q "\"autn\":\"[0-9a-f]\{12\}$autn_tail\"" <<<"$out" || { bad=1; fail "set $set: AUTN ends with AMF || MAC-A"; }
done <"$VECTORS"
[ "$bad" -eq 0 ] && [ "$n" -eq 20 ] && pass "all $n TS 35.208 sets: XRES, CK, IK, AK, OPc, AUTN"

err=$("$BUILD/hss" vector --k 12 --opc cd63cb71954a9f4e48a5994e37a02baf --rand 23553cbe9637a89d218ae64dae47bf35 --sqn ff9bb4d0b607 2>&1)
expect_eq "short K: exit 2" 2 "$?"
expect_match "... naming --k" '^hss vector: --k: expected 32 hex digits' "$err"
"$BUILD/hss" vector --k 465b5ce8b199b49faa5f0a2ee238a6bc --rand 23553cbe9637a89d218ae64dae47bf35 --sqn ff9bb4d0b607 >/dev/null 2>&1
expect_eq "neither --op nor --opc: exit 2" 2 "$?"
finish
