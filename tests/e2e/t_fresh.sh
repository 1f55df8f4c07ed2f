#!/usr/bin/env bash
# The first command on a fresh machine: `make run`, `make test` and `make bench` must install the
# Debian packages before anything asks pkg-config for their flags (before the fix, the first
# `make run` on a new Debian 12 failed with "sofia-sip/msg.h: No such file or directory" and a
# second one worked).
#
# Without a new machine: make -n runs each target with a recorder in place of the install step
# (DEPS_SCRIPT) and a pkg-config that writes to the same log before answering. The log must
# start with the install, and the compile lines make prints must still carry the packages'
# flags (the new make evaluated them after the install).
# e2e: once (make -n only, no program of ours runs: the result is the same in every build)
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
cd "$REPO_DIR" || exit 1

fake="$WORKDIR/bin"
mkdir -p "$fake"
real_pkg_config=$(command -v pkg-config)
cat >"$fake/pkg-config" <<EOF
#!/bin/sh
echo "pkg-config \$*" >>"$WORKDIR/order.log"
exec "$real_pkg_config" "\$@"
EOF
cat >"$WORKDIR/deps.sh" <<EOF
#!/bin/sh
echo "deps \$*" >>"$WORKDIR/order.log"
EOF
chmod +x "$fake/pkg-config" "$WORKDIR/deps.sh"

# dry_run TARGET: what `make TARGET` would do on a machine where nothing is built yet.
dry_run() {
  rm -f "$WORKDIR/order.log"
  PATH="$fake:$PATH" make -n "$1" DEPS_SCRIPT="$WORKDIR/deps.sh" BUILD="$WORKDIR/build-$1" \
    >"$WORKDIR/make-$1.out" 2>&1
}

for target in run test bench; do
  dry_run "$target"
  expect_eq "make $target: exit 0 (dry run)" 0 "$?"
  log=$(cat "$WORKDIR/order.log" 2>/dev/null)
  expect_eq "make $target: the install runs before anything else is evaluated" "deps " \
    "$(head -n 1 <<<"$log")"
  expect_match "make $target: pkg-config is asked after the install" '^pkg-config --cflags ' \
    "$(tail -n +2 <<<"$log")"
  expect_match "make $target: the pcscf's compile line carries sofia-sip's include directory" \
    '-isystem [^ ]*sofia-sip' "$(grep -F -- '/obj/cscf/pcscf/main.o' "$WORKDIR/make-$target.out")"
done

# A plain `make` (no install) still builds in one go: the flags are evaluated once, not per object.
rm -f "$WORKDIR/order.log"
PATH="$fake:$PATH" make -n all BUILD="$WORKDIR/build-all" >"$WORKDIR/make-all.out" 2>&1
expect_eq "make all: pkg-config asked once for the flags and once for the libraries" 2 \
  "$(grep -c '^pkg-config' "$WORKDIR/order.log" 2>/dev/null)"

# A clone stands on its own: no file reads or cites the steering folder beside the checkout
# (test data lives in tests/data/, the architecture in docs/ARCHITECTURE.md).
outside=$(git -C "$REPO_DIR" grep -nE '\.\./shared|SHARED_DIR|DESIGN\.md' -- . ':!tests/e2e/t_fresh.sh' 2>/dev/null)
expect_eq "no tracked file refers to the steering folder beside the checkout (shared/, DESIGN.md)" "" "$outside"

finish
