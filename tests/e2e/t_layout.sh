#!/usr/bin/env bash
# The layout's include rule (scripts/check-includes.sh, run by every `make all`): the tree obeys
# it, and the check refuses what it is there to refuse, on a copy of the tree with one bad
# include each: an upward include, a cycle between two folders, an internal header of common
# used outside its folder, a folder the layer table does not know.
# e2e: once (no program of ours runs: the result is the same in every build)
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
CHECK="$REPO_DIR/scripts/check-includes.sh"

out=$(bash "$CHECK" "$REPO_DIR" 2>&1)
expect_eq "the tree obeys the include rule" "0:" "$?:$out"

# copy_tree: the sources the check reads, in a scratch git repository (it lists files with git).
copy_tree() {
  rm -rf "$WORKDIR/tree"
  mkdir -p "$WORKDIR/tree"
  (cd "$REPO_DIR" && git ls-files common diameter cscf | tar -cf - -T -) | tar -xf - -C "$WORKDIR/tree"
  git -C "$WORKDIR/tree" init -q && git -C "$WORKDIR/tree" add -A
}

# refused DESC FILE LINE EXPECTED_REGEX: add LINE at the top of FILE in a fresh copy; the check
# must fail and name it.
refused() {
  copy_tree
  local f="$WORKDIR/tree/$2"
  mkdir -p "$(dirname "$f")"
  { echo "$3"; if [ -f "$f" ]; then cat "$f"; fi; } >"$f.new"
  mv "$f.new" "$f"
  git -C "$WORKDIR/tree" add -A
  out=$(bash "$CHECK" "$WORKDIR/tree" 2>&1)
  local rc=$?
  if [ $rc -ne 0 ] && grep -Eq -- "$4" <<<"$out"; then pass "$1"; else fail "$1" "exit $rc: $out"; fi
}

refused "an upward include (common -> cscf) is refused" common/util/log.c \
  '#include "cscf/scscf/routing/route.h"' 'common/util/log.c:1: common/util may not include cscf/scscf/routing/route.h'
refused "a layer including the one above it (sip -> program) is refused" common/sip/sip_hdr.c \
  '#include "common/program/program.h"' 'common/sip may not include common/program/program.h'
refused "a cycle between two folders (diameter -> cscf/scscf -> diameter) is refused" \
  diameter/cx_client.c '#include "cscf/scscf/routing/route.h"' 'diameter may not include cscf/scscf/routing/route.h'
refused "the scscf's registration layer calling up into routing is refused" \
  cscf/scscf/registration/bindings.c '#include "cscf/scscf/routing/thirdparty.h"' \
  'cscf/scscf/registration may not include cscf/scscf/routing/thirdparty.h'
refused "the scscf's core including the top's header is refused" cscf/scscf/core/auth.c \
  '#include "cscf/scscf/scscf.h"' 'cscf/scscf/core may not include cscf/scscf/scscf.h'
refused "two scscf modules including each other (route <-> isc) are refused" \
  cscf/scscf/routing/isc.c '#include "cscf/scscf/routing/route.h"' \
  'modules in cscf include each other in a cycle: .*cscf/scscf/routing/(isc|route)'
refused "two common modules including each other (sip_hdr <-> sip_trace) are refused" \
  common/sip/sip_hdr.c '#include "common/sip/sip_trace.h"' \
  'modules in common include each other in a cycle: .*common/sip/sip_(hdr|trace)'
refused "common's internal header outside its folder is refused" cscf/pcscf/flows.c \
  '#include "common/sip/sip_core_internal.h"' 'may not include common/sip/sip_core_internal.h'
refused "a folder the layer table does not know is refused" common/extra/x.c \
  '#include "common/util/log.h"' 'folder common/extra is not in the layer table'
refused "an include of a header that does not exist is refused" cscf/pcscf/flows.c \
  '#include "common/util/nothere.h"' 'common/util/nothere.h, which does not exist'

# make all runs the check: a bad include stops the build before anything is compiled.
copy_tree
cp "$REPO_DIR/Makefile" "$WORKDIR/tree/" && mkdir -p "$WORKDIR/tree/scripts" &&
  cp "$CHECK" "$WORKDIR/tree/scripts/"
sed -i '1i #include "cscf/scscf/routing/route.h"' "$WORKDIR/tree/common/util/log.c"
git -C "$WORKDIR/tree" add -A
out=$(make -C "$WORKDIR/tree" -n all BUILD="$WORKDIR/tree/build" 2>&1)
rc=$?
if [ $rc -ne 0 ] && grep -q 'may not include cscf/scscf/routing/route.h' <<<"$out"; then
  pass "make all fails on the bad include"
else
  fail "make all fails on the bad include" "exit $rc"
fi

finish
