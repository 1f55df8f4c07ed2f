#!/usr/bin/env bash
# docs/openapi.yaml against what the programs serve: the file validates as OpenAPI 3.1
# (swagger-parser, installed once from tests/openapi/package-lock.json into a cache, offline
# afterwards); each program's `--routes` equals the operations documented for it (with the token
# requirement); then hss, scscf and pcscf run (alice and bob registered with AKA through the
# pcscf) and every documented operation is called: reads answer 200 with the documented type and
# required fields; mutating calls without or with a wrong token 401, with no token configured
# 403, bad JSON 400, a huge body 413 (all problem+json), then with the token the documented
# success; every documented path with another method 405 with the documented Allow; unknown
# paths 404.
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
SPEC="$REPO_DIR/docs/openapi.yaml"
OA_DIR="$REPO_DIR/tests/openapi"
TOKEN=s3cret-$RANDOM
DOMAIN=ims.mnc001.mcc001.3gppnetwork.org
field() { jq -r "$1 // empty" <<<"$2"; }

# The npm packages, keyed by the lock file so a change installs afresh; later runs need no network.
npm_modules() {
  local key dir
  key=$(sha256sum "$OA_DIR/package-lock.json" | cut -c1-16)
  dir=${CSCF_NPM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cscf-openapi}/$key
  if [ ! -d "$dir/node_modules/@apidevtools/swagger-parser" ]; then
    mkdir -p "$dir"
    cp "$OA_DIR/package.json" "$OA_DIR/package-lock.json" "$dir/"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error --cache "$dir/.npm") >"$WORKDIR/npm.log" 2>&1 ||
      { rm -rf "$dir/node_modules"; return 1; }
  fi
  echo "$dir/node_modules"
}
spec() { node "$OA_DIR/spec.cjs" "$@" "$SPEC" "${PROG:-}"; }

echo "-- the description validates"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  fail "node and npm are installed" "run scripts/deps.sh"
  finish
  exit 1
fi
OA_MODULES=$(npm_modules) || { fail "npm ci of tests/openapi" "$(tail -3 "$WORKDIR/npm.log")"; finish; exit 1; }
export OA_MODULES
out=$(PROG= spec validate 2>&1)
expect_eq "docs/openapi.yaml is valid OpenAPI 3.1 (swagger-parser)" 0 "$?"
[ "$(grep -c . <<<"$out")" -le 1 ] || echo "$out" | sed 's/^/       /'

echo "-- what is served is what is documented (--routes)"
for PROG in pcscf scscf hss; do
  U=${PROG^^}
  served=$(env "${U}_SIP_LISTEN=127.0.0.1:$(free_port)" "${U}_API_LISTEN=127.0.0.1:$(free_port)" \
    "${U}_DIAMETER_LISTEN=127.0.0.1:$(free_port)" "${U}_DIAMETER_PEERS=$HSS_ID@127.0.0.1:$(free_port)" \
    HSS_SUBSCRIBERS_FILE="$REPO_DIR/config/subscribers.yaml" HSS_DIAMETER_PEERS= \
    HSS_SUBSCRIBERS_DATABASE="$WORKDIR/routes.db" "${U}_LOG_LEVEL=error" \
    timeout 20 "$BUILD/$PROG" -c "$REPO_DIR/config/$PROG.yaml" --routes 2>>"$WORKDIR/routes.log" | sort)
  documented=$(spec routes)
  expect_eq "$PROG: served routes = documented (x-programs, bearerAuth = token)" "$documented" "$served"
  if [ "$served" != "$documented" ]; then
    diff <(echo "$documented") <(echo "$served") | sed -n 's/^[<>]/       &/p'
  fi
done
expect_clean_log "--routes runs clean under sanitizers" routes

echo "-- the lab: hss, scscf, pcscf; alice and bob register through the pcscf"
start_hss hss HSS_API_TOKEN=$TOKEN || { finish; exit 1; }
SC_SIP=$(free_port) SC_API=$(free_port) PC_SIP=$(free_port) PC_API=$(free_port)
mapfile -t diam < <(scscf_diameter_env)
start_prog scscf "$BUILD/scscf" "$REPO_DIR/config/scscf.yaml" SCSCF_SIP_LISTEN="127.0.0.1:$SC_SIP" \
  SCSCF_API_LISTEN="127.0.0.1:$SC_API" SCSCF_API_TOKEN=$TOKEN "${diam[@]}" || { finish; exit 1; }
start_prog pcscf "$BUILD/pcscf" "$REPO_DIR/config/pcscf.yaml" PCSCF_SIP_LISTEN="127.0.0.1:$PC_SIP" \
  PCSCF_API_LISTEN="127.0.0.1:$PC_API" PCSCF_API_TOKEN=$TOKEN \
  PCSCF_PCSCF_REGISTRAR="sip:127.0.0.1:$SC_SIP;transport=tcp;lr" || { finish; exit 1; }
wait_http "127.0.0.1:$SC_API" /readyz 200 10 || fail "scscf ready"

register() { # NAME USER K OP
  local port
  port=$(free_port)
  printf 'SEQUENTIAL\n%s;%s@%s;%s;[authentication username=%s@%s aka_K=%s aka_OP=%s];600;1\n' \
    "$2" "$2" "$DOMAIN" "$DOMAIN" "$2" "$DOMAIN" "$3" "$4" >"$WORKDIR/$1.csv"
  timeout 20 sipp -sf "$E2E_DIR/scenarios/register_aka.xml" -inf "$WORKDIR/$1.csv" -i 127.0.0.1 \
    -p "$port" -t u1 -m 1 -timeout 15s -timeout_error -auth_uri "$DOMAIN" \
    "127.0.0.1:$PC_SIP" >/dev/null 2>&1
}
register alice alice abcdefghijklmnop ponmlkjihgfedcba
expect_eq "alice registers (AKA)" 0 "$?"
register bob bob bobbobbobbobbob1 ponmlkjihgfedcba
expect_eq "bob registers (AKA)" 0 "$?"
for _ in $(seq 100); do # the pcscf's reg event subscriptions become active (10 s at most)
  [ "$(field '[.subscriptions[] | select(.state == "active")] | length' \
    "$(http_body "http://127.0.0.1:$PC_API/api/v1/subscriptions")")" = 2 ] && break
  sleep 0.1
done

# call METHOD URL [curl args]: sets CODE, CTYPE, BODY and HDRS (response headers).
call() {
  local method=$1 url=$2
  shift 2
  CODE=$(curl -s -m 10 -X "$method" -D "$WORKDIR/hdrs" -o "$WORKDIR/body" -w '%{http_code}' "$@" "$url")
  # bash itself reads and parses the answer: some 1,000 calls, and a tr, sed and cat each
  # cost seconds of process starts in all
  HDRS=$(<"$WORKDIR/hdrs")
  HDRS=${HDRS//$'\r'/}
  CTYPE=
  local line
  while IFS= read -r line; do # the last Content-Type header, as sed | tail -1 gave it
    [[ "$line" =~ ^[Cc]ontent-[Tt]ype:\ *(.*)$ ]] && CTYPE=${BASH_REMATCH[1]}
  done <<<"$HDRS"
  BODY=$(<"$WORKDIR/body")
}
in_list() { [[ ",$2," == *",$1,"* ]]; }

# expect_problem DESC CODE: the last call answered CODE as RFC 7807 problem+json.
expect_problem() {
  if [ "$CODE" = "$2" ] && [ "$CTYPE" = application/problem+json ] &&
    [ "$(jq -r '"\(.status) \(.type) \(.title | type)"' <<<"$BODY" 2>/dev/null)" = "$2 about:blank string" ]; then
    pass "$1"
  else
    fail "$1" "got $CODE $CTYPE $(head -c 200 <<<"$BODY")"
  fi
  record "$1"
}

# record DESC: keeps the answer of an operation (CUR_METHOD CUR_PATH) for the schema check:
# its body in a file, the rest in REC_META; answers_ndjson makes them one JSON line each, with
# one jq for all (one jq per answer cost seconds of process starts).
REC_META=()
mkdir -p "$WORKDIR/rec"
record() {
  [ -n "${CUR_PATH:-}" ] || return 0
  local i=$((${#REC_META[@]} / 4))
  printf '%s' "$BODY" >"$WORKDIR/rec/$i"
  REC_META+=("$1" "$CUR_METHOD" "$CUR_PATH" "$CODE")
}
answers_ndjson() {
  local i files=()
  for ((i = 0; i < ${#REC_META[@]} / 4; i++)); do files+=(--rawfile "b$i" "$WORKDIR/rec/$i"); done
  jq -nc "${files[@]}" '$ARGS.positional as $m | range(0; $m | length / 4) as $i
    | {desc: $m[4 * $i], method: $m[4 * $i + 1], path: $m[4 * $i + 2],
       status: ($m[4 * $i + 3] | tonumber), body: $ARGS.named["b\($i)"]}' --args "${REC_META[@]}"
}

# expect_documented DESC CODES SUCCESS CTYPE REQUIRED: the answer is a success of the documented
# type with the documented required fields (or, for a documented error, problem+json).
expect_documented() {
  local desc=$1 codes=$2 success=$3 ctype=$4 required=$5 missing=
  if ! in_list "$CODE" "$success"; then
    fail "$desc" "answered $CODE (documented success: $success) $(head -c 200 <<<"$BODY")"
    return
  fi
  if [[ "$CTYPE" != "$ctype"* ]]; then
    fail "$desc" "Content-Type '$CTYPE', documented $ctype"
    return
  fi
  if [ "$ctype" = application/json ] && [ "$required" != - ]; then
    missing=$(jq -r --arg r "$required" '. as $b | $r | split(",") | map(select(. as $f | $b | has($f) | not)) | join(",")' <<<"$BODY" 2>&1)
  fi
  if [ -n "$missing" ]; then fail "$desc" "missing required fields: $missing"; else pass "$desc"; fi
  [ "$ctype" != application/json ] || record "$desc"
}

BIG="$WORKDIR/big.json"
{ printf '{"level":"'; head -c 70000 /dev/zero | tr '\0' a; printf '"}'; } >"$BIG"

check_program() { # PROG API
  local api=$2 method path url token codes success ctype required hasbody example
  echo "-- $PROG: every documented operation"
  spec plan >"$WORKDIR/plan-$PROG.tsv" || fail "$PROG: plan from the description"
  while IFS=$'\t' read -r method path url token codes success ctype required hasbody example; do
    url="http://$api$url" CUR_METHOD=$method CUR_PATH=$path
    if [ "$token" = 0 ]; then
      call "$method" "$url"
      expect_documented "$PROG: $method $path" "$codes" "$success" "$ctype" "$required"
      continue
    fi
    call "$method" "$url" -H 'Content-Type: application/json' -d "${example/#-/}"
    expect_problem "$PROG: $method $path without a token: 401" 401
    expect_match "... WWW-Authenticate: Bearer" '^[Ww][Ww][Ww]-[Aa]uthenticate: Bearer' "$HDRS"
    call "$method" "$url" -H "Authorization: Bearer x$TOKEN" -H 'Content-Type: application/json' -d "${example/#-/}"
    expect_problem "$PROG: $method $path with a wrong token: 401" 401
    call "$method" "$url" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' --data-binary "@$BIG"
    expect_problem "$PROG: $method $path with a 70 kB body: 413" 413
    if [ "$hasbody" = 1 ]; then
      call "$method" "$url" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"level": bad'
      expect_problem "$PROG: $method $path with bad JSON: 400" 400
      call "$method" "$url" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '[1,'
      expect_problem "$PROG: $method $path with truncated JSON: 400" 400
    fi
    if [ "$example" = - ]; then
      call "$method" "$url" -H "Authorization: Bearer $TOKEN"
    else
      call "$method" "$url" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d "$example"
    fi
    expect_documented "$PROG: $method $path with the token" "$codes" "$success" "$ctype" "$required"
  done <"$WORKDIR/plan-$PROG.tsv"

  echo "-- $PROG: other methods, unknown paths"
  CUR_PATH= # 404 and 405 are the router's, not an operation's
  local p allow documented
  for p in $(cut -f2 "$WORKDIR/plan-$PROG.tsv" | sort -u); do
    url=$(awk -F'\t' -v p="$p" '$2 == p {print $3; exit}' "$WORKDIR/plan-$PROG.tsv")
    call PATCH "http://$api$url" -H "Authorization: Bearer $TOKEN"
    expect_problem "$PROG: PATCH $p: 405" 405
    allow=$(sed -n 's/^[Aa]llow: *//p' <<<"$HDRS" | tr -d ' ' | tr ',' '\n' | sort | paste -sd,)
    documented=$(awk -F'\t' -v p="$p" '$2 == p {print $1}' "$WORKDIR/plan-$PROG.tsv" | sort | paste -sd,)
    expect_eq "... Allow lists the documented methods" "$documented" "$allow"
  done
  for p in /api/v1/nothing /api/v1/status/extra /api/v2/status /api/v1/ / \
    "/$(head -c 3000 /dev/zero | tr '\0' x)"; do
    call GET "http://$api$p"
    expect_problem "$PROG: GET ${p:0:40}: 404" 404
  done
  call GET "http://$api/api/v1/%00" # a control character is refused before routing
  expect_problem "$PROG: GET /api/v1/%00: 400" 400
}

PROG=pcscf check_program pcscf "127.0.0.1:$PC_API"
PROG=scscf check_program scscf "127.0.0.1:$SC_API"
PROG=hss check_program hss "127.0.0.1:$HSS_API"

echo "-- a program without a token refuses every change (403), reads stay open"
HSS2_API=$(free_port)
start_prog hss2 "$BUILD/hss" "$REPO_DIR/config/hss.yaml" HSS_API_LISTEN="0.0.0.0:$HSS2_API" \
  HSS_DIAMETER_LISTEN="127.0.0.1:$(free_port)" HSS_SUBSCRIBERS_FILE="$REPO_DIR/config/subscribers.yaml" \
  HSS_SUBSCRIBERS_DATABASE="$WORKDIR/hss2.db" HSS_API_TOKEN= || { finish; exit 1; }
while IFS=$'\t' read -r method path url token _ _ _ _ _ example; do
  [ "$token" = 1 ] || continue
  CUR_METHOD=$method CUR_PATH=$path
  call "$method" "http://127.0.0.1:$HSS2_API$url" -H "Authorization: Bearer $TOKEN" -d "${example/#-/}"
  expect_problem "hss without a token: $method $path: 403" 403
done <"$WORKDIR/plan-hss.tsv"
CUR_PATH=
expect_eq "... GET /api/v1/subscribers still 200" 200 "$(http_code "http://127.0.0.1:$HSS2_API/api/v1/subscribers")"

echo "-- from another address: reads need the token, probes and /metrics stay open"
REMOTE=$(host_addr)
HSS3_API=$(free_port)
start_prog hss3 "$BUILD/hss" "$REPO_DIR/config/hss.yaml" HSS_API_LISTEN="0.0.0.0:$HSS3_API" \
  HSS_DIAMETER_LISTEN="127.0.0.1:$(free_port)" HSS_SUBSCRIBERS_FILE="$REPO_DIR/config/subscribers.yaml" \
  HSS_SUBSCRIBERS_DATABASE="$WORKDIR/hss3.db" HSS_API_TOKEN=$TOKEN || { finish; exit 1; }
if [ -z "$REMOTE" ]; then
  fail "a non-loopback address of this host to call from" "ip -4 addr shows none with scope global"
else
  from_remote() { call GET "http://$REMOTE:$1$2" --interface "$REMOTE" "${@:3}"; }
  CUR_METHOD=GET CUR_PATH=/api/v1/subscribers
  from_remote "$HSS3_API" /api/v1/subscribers
  expect_problem "from $REMOTE, token configured: GET /api/v1/subscribers without it: 401" 401
  expect_match "... with WWW-Authenticate: Bearer" '^[Ww][Ww][Ww]-[Aa]uthenticate: Bearer' "$HDRS"
  from_remote "$HSS3_API" /api/v1/subscribers -H "Authorization: Bearer wrong"
  expect_problem "... with a wrong token: 401" 401
  from_remote "$HSS3_API" /api/v1/subscribers -H "Authorization: Bearer $TOKEN"
  expect_eq "... with the token: 200" 200 "$CODE"
  record "from $REMOTE with the token"
  expect_eq "... from 127.0.0.1 without a token: 200" 200 "$(http_code "http://127.0.0.1:$HSS3_API/api/v1/subscribers")"
  from_remote "$HSS2_API" /api/v1/subscribers -H "Authorization: Bearer $TOKEN"
  expect_problem "from $REMOTE, no token configured: GET /api/v1/subscribers: 403" 403
  CUR_PATH=/api/v1/status
  from_remote "$HSS2_API" /api/v1/status
  expect_problem "... GET /api/v1/status: 403" 403
  CUR_PATH=
  expect_eq "... GET /api/v1/subscribers from 127.0.0.1: 200" 200 "$(http_code "http://127.0.0.1:$HSS2_API/api/v1/subscribers")"
  for port in "$HSS2_API" "$HSS3_API"; do
    expect_eq "from $REMOTE without a token: /healthz 200 (port $port)" 200 "$(http_code "http://$REMOTE:$port/healthz" --interface "$REMOTE")"
    expect_eq "... /metrics 200" 200 "$(http_code "http://$REMOTE:$port/metrics" --interface "$REMOTE")"
    expect_match "... /readyz answers, neither 401 nor 403" '^(200|503)$' "$(http_code "http://$REMOTE:$port/readyz" --interface "$REMOTE")"
  done
fi

echo "-- every answer above: its status documented for the operation, its body valid against the schema"
answers_ndjson >"$WORKDIR/answers.ndjson"
expect_eq "every answer kept for the schema check" "${#REC_META[@]}" "$(($(wc -l <"$WORKDIR/answers.ndjson") * 4))"
PROG= spec check <"$WORKDIR/answers.ndjson" >"$WORKDIR/check.out" 2>&1
while IFS=$'\t' read -r verdict desc why; do
  case $verdict in
  ok) pass "schema: $desc" ;;
  FAIL) fail "schema: $desc" "$why" ;;
  *) fail "spec.cjs check" "$verdict $desc" ;;
  esac
done <"$WORKDIR/check.out"

echo "-- after all that"
for p in pcscf scscf hss hss2 hss3; do
  prog_alive "$p" && pass "$p still running" || fail "$p still running"
done
for p in pcscf scscf hss hss2 hss3; do
  stop_prog "$p"
  expect_eq "$p exits 0 on SIGTERM" 0 "$LAST_EXIT"
  expect_clean_log "$p: no sanitizer report" "$p"
done
finish
