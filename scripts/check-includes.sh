#!/usr/bin/env bash
# The include rule, checked on every build (make all) and by tests/e2e/t_layout.sh:
#   a file may include its own folder, the folders its layer lists below, and, from outside
#   common/, only the public headers of common/ (never a *_internal.h).
# Inside common/, diameter/ and cscf/, also no include cycle between two modules (a module is
# x.c with x.h and its x_internal.h; see ACYCLIC below).
# The layers are the table below: folder -> folders it may include. The table must be a DAG
# (checked), so no include cycle can run between two folders. A file whose folder is not in
# the table fails: a new folder takes its place in the design first.
#
#   scripts/check-includes.sh [ROOT]    exit 0, or 1 with one line per offending include
set -u
ROOT=${1:-.}
cd "$ROOT" || exit 2

# folder: folders below it (besides itself). "common" stands for common's public headers.
LAYERS='
common/util:
common/ops: common/util
common/auth: common/util
common/ipsec: common/ops common/util
common/store: common/ops common/util
common/sip: common/auth common/ops common/store common/util
common/program: common/sip common/ops common/store common/auth common/util
diameter: common
diameter/hss: diameter common
cscf/pcscf/policy: diameter common
cscf/pcscf: cscf/pcscf/policy diameter common
cscf/scscf/core: diameter common
cscf/scscf/registration: cscf/scscf/core diameter common
cscf/scscf/routing: cscf/scscf/registration cscf/scscf/core diameter common
cscf/scscf: cscf/scscf/routing cscf/scscf/registration cscf/scscf/core diameter common
'

declare -A below=()
while IFS=: read -r dir deps; do
  [ -n "$dir" ] && below[$dir]="$deps"
done <<<"$LAYERS"

bad=0
report() {
  echo "check-includes: $*"
  bad=1
}

# The table is a DAG: following "below" from any folder never comes back to it.
# SEEN (" a b ") holds the folders already followed, so a cycle elsewhere in the table (one
# that does not pass through TARGET) ends the walk instead of recursing without end.
reaches() { # FROM TARGET SEEN
  local from=$1 target=$2 seen=${3:- } d
  for d in ${below[$from]:-}; do
    [ "$d" = "$target" ] && return 0
    [ "$d" = common ] && continue
    case $seen in *" $d "*) continue ;; esac
    seen="$seen$d "
    reaches "$d" "$target" "$seen" && return 0
  done
  return 1
}
for dir in "${!below[@]}"; do
  reaches "$dir" "$dir" && report "the layer table has a cycle through $dir"
done

# One awk over every file: FOLDER<TAB>FILE:LINE:HEADER lines in, offending ones out.
files=$(git ls-files 'common/*.[ch]' 'diameter/*.[ch]' 'cscf/*.[ch]' 2>/dev/null) ||
  files=$(find common diameter cscf -name '*.[ch]')
# shellcheck disable=SC2086
out=$(grep -Hn '^#include "' $files | awk -v layers="$LAYERS" '
  BEGIN {
    n = split(layers, rows, "\n")
    for (i = 1; i <= n; i++) {
      if (rows[i] == "") continue
      split(rows[i], kv, ":")
      known[kv[1]] = 1
      below[kv[1]] = " " kv[1] " " kv[2] " "
    }
  }
  function dirname(p) { sub(/\/[^\/]*$/, "", p); return p }
  {
    # FILE:LINE:#include "HEADER"...
    split($0, f, ":")
    file = f[1]; line = f[2]
    hdr = $0; sub(/^[^"]*"/, "", hdr); sub(/".*$/, "", hdr)
    dir = dirname(file)
    if (!(dir in known)) { if (!(dir in told)) print file ": folder " dir " is not in the layer table"; told[dir] = 1; next }
    if (hdr !~ /\//) hdr = dir "/" hdr
    hdir = dirname(hdr)
    if (index(below[dir], " " hdir " ")) next
    if (index(below[dir], " common ") && hdr ~ /^common\/[a-z_]+\/[a-z_]+\.h$/ && hdr !~ /_internal\.h$/) next
    print file ":" line ": " dir " may not include " hdr
  }')
if [ -n "$out" ]; then
  echo "$out" | sed 's/^/check-includes: /'
  bad=1
fi
# Inside the folders of ACYCLIC no two modules (x.c with x.h) include each other, directly or
# through others: each module has its own header and the calls between modules run one way (a
# lower module reports upward through a callback or a result). tsort names a loop's members.
ACYCLIC='common diameter cscf'
for top in $ACYCLIC; do
  # shellcheck disable=SC2046,SC2086
  loop=$(grep -Ho '^#include "[^"]*/[^"]*\.h"' $(printf '%s\n' $files | grep "^$top/") |
    sed -E 's#^(.*)\.[ch]:\#include "(.*)\.h"$#\1 \2#; s#_internal( |$)#\1#g' | awk -v top="$top/" '$1 != $2 && index($2, top) == 1' |
    tsort 2>&1 >/dev/null | grep -v 'input contains a loop' | sed 's/^tsort: //' | tr '\n' ' ')
  [ -n "$loop" ] && report "modules in $top include each other in a cycle: $loop"
done
# A header that does not exist would make the check above meaningless for it.
for h in $(grep -ho '^#include "[^"]*/[^"]*"' $files | sed 's/#include "//;s/"$//' | sort -u); do
  [ -f "$h" ] || report "an include names $h, which does not exist"
done

exit $bad
