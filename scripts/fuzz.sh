#!/usr/bin/env bash
# make fuzz: build every tests/fuzz/fuzz_*.c with clang's libFuzzer (+ ASan/UBSan) and run each
# for FUZZ_SECONDS (default 60), seeded with the example configs and tests/fuzz/seeds/*. A crash
# fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${FUZZ_SECONDS:-60}
OUT=build/fuzz
mkdir -p "$OUT"
CFLAGS="-std=c11 -D_GNU_SOURCE -g -O1 -I. $(pkg-config --cflags sofia-sip-ua libxml-2.0)
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"
SRC="common/ops/config.c common/auth/aka.c common/auth/milenage.c common/util/hex.c common/util/log.c diameter/fd_conf.c
     diameter/hss/subscriber.c diameter/hss/subscriber_file.c diameter/hss/user_data.c
     common/sip/reginfo.c common/store/store_reg.c common/store/store_codec.c common/sip/sip_hdr.c cscf/scscf/routing/ifc.c common/ops/api.c"
LIBS="-lmicrohttpd -lyaml -ljansson -lcrypto -lpthread $(pkg-config --libs sofia-sip-ua libxml-2.0)"
status=0
for h in tests/fuzz/fuzz_*.c; do
  name=$(basename "$h" .c)
  clang $CFLAGS -o "$OUT/$name" "$h" $SRC $LIBS
  corpus="$OUT/${name}_corpus"
  mkdir -p "$corpus"
  cp config/*.yaml tests/fuzz/seeds/* "$corpus/" 2>/dev/null || true
  echo "fuzz: $name for ${SECONDS_EACH} s"
  if ! "$OUT/$name" -max_total_time="$SECONDS_EACH" -max_len=4096 -print_final_stats=1 \
    -artifact_prefix="$OUT/${name}-" "$corpus" 2>"$OUT/$name.log"; then
    echo "fuzz: $name FAILED; see $OUT/$name.log and $OUT/${name}-*" >&2
    status=1
  fi
  grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "$OUT/$name.log" | sed 's/^/  /'
done
exit $status
