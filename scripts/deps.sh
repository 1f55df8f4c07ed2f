#!/usr/bin/env bash
# Install the Debian packages the build, the lab and the tests need.
# As root: apt-get installs what is missing. Otherwise: print the exact line and fail.
set -euo pipefail

PACKAGES=(
  gcc make libc6-dev pkg-config git
  libsofia-sip-ua-dev libmicrohttpd-dev libjansson-dev libyaml-dev libssl-dev libxml2-dev
  libmnl-dev libsqlite3-dev sqlite3 libhiredis-dev redis-server
  libfreediameter-dev freediameterd freediameter-extensions
  libnghttp2-dev libjemalloc-dev
  libcmocka-dev
  sip-tester tshark curl jq openssl procps iproute2
  python3-scapy python3-h2 python3-jsonschema
)
# Commands the k8s test (tests/e2e/t_k8s.sh) needs, from these packages only when the command
# is missing: a kubectl or node installed otherwise (another vendor's package) is used as it is,
# and installing Debian's over it would conflict.
#   kubectl: kubernetes-client (1.20, with kustomize v2.0.3; the manifests are written for it)
#   node, npm: nodejs, npm (offline validation: npm kubernetes-models for t_k8s, swagger-parser for t_openapi)
command -v kubectl >/dev/null 2>&1 || PACKAGES+=(kubernetes-client)
command -v node >/dev/null 2>&1 || PACKAGES+=(nodejs)
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)
# `deps.sh fuzz`: what make fuzz needs on top (clang's libFuzzer)
[ "${1:-}" = fuzz ] && PACKAGES=(clang libclang-rt-14-dev libyaml-dev libssl-dev)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

line="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing Debian packages; run as root:" >&2
  echo "  apt-get update && $line" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
