#!/usr/bin/env bash
# Regenerate (or with --check, verify) the README's config tables from each program's
# --config-reference, so the documentation cannot drift from the schema in the code.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
mode=${1:-write}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
cp README.md "$out"
for prog in pcscf scscf hss; do
  ref=$("$BUILD/$prog" --config-reference)
  awk -v prog="$prog" -v ref="$ref" '
    $0 == "<!-- config:" prog " -->" { print; print ref; skip = 1; next }
    $0 == "<!-- /config:" prog " -->" { skip = 0 }
    !skip { print }' "$out" >"$out.new"
  mv "$out.new" "$out"
done
if [ "$mode" = --check ]; then
  diff -u README.md "$out" >&2 || { echo "README config tables are stale: run scripts/readme-config.sh" >&2; exit 1; }
else
  cp "$out" README.md
fi
