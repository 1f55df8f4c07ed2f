#!/usr/bin/env bash
# Kubernetes, without a cluster: every overlay in k8s/overlays renders with `kubectl kustomize`,
# every object passes its Kubernetes schema (npm kubernetes-models, offline once installed), and
# the manifests agree with config/*.yaml, the README and the programs: ports, probes, peers,
# secrets, drain time, security context, the scscf's store (memory with a journal on a volume;
# the scale overlay: two replicas on Redis). The Grafana dashboard uses documented metrics only; the
# Dockerfile's packages exist, cover the programs' libraries, and its build stage builds.
set -u
. "$(dirname "$0")/lib.sh"

BUILD=${1:-build}
K8S="$REPO_DIR/k8s"
NODE_DIR="$REPO_DIR/tests/k8s"
KUBECTL=${KUBECTL:-kubectl}
PROGRAMS="pcscf scscf hss"

# --- tools: kubectl (Debian's kubernetes-client), node + npm, the npm packages --------------
for tool in "$KUBECTL" node npm; do
  command -v "$tool" >/dev/null 2>&1 || "$REPO_DIR/scripts/deps.sh" >&2
done
for tool in "$KUBECTL" node npm; do
  command -v "$tool" >/dev/null 2>&1 || { fail "$tool installed" "run scripts/deps.sh as root"; finish; exit 1; }
done
lock_sum=$(sha256sum "$NODE_DIR/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$NODE_DIR/node_modules/.lock-sha256" 2>/dev/null)" != "$lock_sum" ]; then
  echo "  (npm ci in tests/k8s: once, then offline)"
  if (cd "$NODE_DIR" && timeout 300 npm ci --no-audit --no-fund --loglevel=error >"$WORKDIR/npm.log" 2>&1); then
    echo "$lock_sum" >"$NODE_DIR/node_modules/.lock-sha256"
  else
    fail "npm ci in tests/k8s" "$(tail -3 "$WORKDIR/npm.log")"
    finish
    exit 1
  fi
fi
validate() { timeout 60 node "$NODE_DIR/validate.js" "$@"; }

# --- config/*.yaml and their copies under k8s/ ---------------------------------------------
port_of() { echo "${1##*:}"; } # host:port -> port
declare -A SIP_PORT API_PORT DIAM_PORT
for p in $PROGRAMS; do
  validate json "$REPO_DIR/config/$p.yaml" >"$WORKDIR/cfg-$p.json"
  API_PORT[$p]=$(port_of "$(jq -r '.api.listen' "$WORKDIR/cfg-$p.json")")
  SIP_PORT[$p]=$(port_of "$(jq -r '.sip.listen[0] // ""' "$WORKDIR/cfg-$p.json")")
  DIAM_PORT[$p]=$(port_of "$(jq -r '.diameter.listen // ""' "$WORKDIR/cfg-$p.json")")
  cmp -s "$REPO_DIR/config/$p.yaml" "$K8S/base/config/$p.yaml" &&
    pass "k8s/base/config/$p.yaml is config/$p.yaml" ||
    fail "k8s/base/config/$p.yaml is config/$p.yaml" "run make k8s-config"
done
cmp -s "$REPO_DIR/config/subscribers.yaml" "$K8S/overlays/lab/subscribers.yaml" &&
  pass "k8s/overlays/lab/subscribers.yaml is config/subscribers.yaml" ||
  fail "k8s/overlays/lab/subscribers.yaml is config/subscribers.yaml" "run make k8s-config"
DEFAULT_GRACE=$(sed -n 's/^| `shutdown.grace_seconds` | [^|]* | `\([0-9]*\)`.*/\1/p' "$REPO_DIR/README.md" | head -1)

# --- every overlay ---------------------------------------------------------------------------
# jq over the rendered objects; $p is the program (= container name).
W='.objects[] | select(.kind == "Deployment" or .kind == "StatefulSet")'
C="$W | .spec.template.spec.containers[] | select(.name == \$p)"
jqo() { jq -r "$@" "$JSON"; }
env_of() { jqo --arg p "$1" --arg n "$2" "$C | .env[]? | select(.name == \$n) | .value"; }
# The Secret or ConfigMap key behind a file path inside program $1's container: "Kind/name/key".
# (kustomize's hash suffix is in the name; the key must exist in the rendered object.)
file_source() {
  jqo --arg p "$1" --arg f "$2" '
    .objects as $all
    | ($f | sub("/[^/]*$"; "")) as $dir | ($f | sub(".*/"; "")) as $key
    | [ '"$W"' | .spec.template.spec as $s | $s.containers[] | select(.name == $p)
        | .volumeMounts[]? | select(.mountPath == $dir) | .name as $v
        | $s.volumes[] | select(.name == $v)
        | if .secret then ["Secret", .secret.secretName] elif .configMap then ["ConfigMap", .configMap.name] else empty end
        | . as [$kind, $name]
        | $all[] | select(.kind == $kind and .metadata.name == $name and ((.data // {}) | has($key)))
        | "\($kind)/\($name)/\($key)" ] | first // ""'
}

for overlay_dir in "$K8S"/overlays/*/; do
  o=$(basename "$overlay_dir")
  echo "  -- overlay $o"
  YAML="$WORKDIR/$o.yaml" JSON="$WORKDIR/$o.json"
  timeout 60 "$KUBECTL" kustomize "$overlay_dir" >"$YAML" 2>"$WORKDIR/$o.err"
  expect_eq "$o: kubectl kustomize renders it" 0 "$?"
  validate objects "$YAML" >"$JSON" 2>"$WORKDIR/$o.invalid"
  rc=$?
  n=$(jq '.objects | length' "$JSON" 2>/dev/null || echo 0)
  expect_eq "$o: all $n objects valid against the Kubernetes schemas" "0" "$rc$(sed 's/^/; /' "$WORKDIR/$o.invalid" | tr -d '\n')"
  [ "$n" -gt 0 ] || continue

  for p in $PROGRAMS; do
    P=${p^^}
    found=$(jqo --arg p "$p" "[$C] | length")
    expect_eq "$o/$p: one container" 1 "$found"
    [ "$found" = 1 ] || continue
    cport() { jqo --arg p "$p" --arg n "$1" --arg pr "$2" "$C | .ports[] | select(.name == \$n and (.protocol // \"TCP\") == \$pr) | .containerPort"; }
    expect_eq "$o/$p: container port api = api.listen's" "${API_PORT[$p]}" "$(cport api TCP)"
    expect_eq "$o/$p: ${P}_API_LISTEN on every address, config's port" "0.0.0.0:${API_PORT[$p]}" "$(env_of "$p" "${P}_API_LISTEN")"
    if [ -n "${SIP_PORT[$p]}" ]; then
      expect_eq "$o/$p: container ports sip-udp/sip-tcp = sip.listen's" "${SIP_PORT[$p]}/${SIP_PORT[$p]}" "$(cport sip-udp UDP)/$(cport sip-tcp TCP)"
      expect_eq "$o/$p: ${P}_SIP_LISTEN on every address, config's port" "0.0.0.0:${SIP_PORT[$p]}" "$(env_of "$p" "${P}_SIP_LISTEN")"
    fi
    if [ -n "${DIAM_PORT[$p]}" ]; then
      expect_eq "$o/$p: container port diameter = diameter.listen's" "${DIAM_PORT[$p]}" "$(cport diameter TCP)"
      expect_eq "$o/$p: ${P}_DIAMETER_LISTEN on every address, config's port" "0.0.0.0:${DIAM_PORT[$p]}" "$(env_of "$p" "${P}_DIAMETER_LISTEN")"
    fi
    # Probes: the programs' endpoints on the API port (named or numbered).
    for pr in liveness:/healthz readiness:/readyz; do
      kind=${pr%%:*} path=${pr#*:}
      got=$(jqo --arg p "$p" "$C | .${kind}Probe.httpGet as \$g | (\$g.port) as \$port
        | [ .ports[] | select(.name == \$port or .containerPort == \$port) | .containerPort ][0] as \$n
        | \"\(\$g.path) \(\$n)\"")
      expect_eq "$o/$p: ${kind}Probe GET $path on the API port" "$path ${API_PORT[$p]}" "$got"
    done
    got=$(jqo --arg p "$p" "$W | select(any(.spec.template.spec.containers[]; .name == \$p)) | .spec.template.metadata.annotations
      | \"\(.[\"prometheus.io/scrape\"]) \(.[\"prometheus.io/port\"]) \(.[\"prometheus.io/path\"])\"")
    expect_eq "$o/$p: Prometheus scrape annotations: /metrics on the API port" "true ${API_PORT[$p]} /metrics" "$got"
    # The program reads the file named after -c: a key of a mounted ConfigMap.
    cfg_file=$(jqo --arg p "$p" "$C | .command as \$c | [range(0; \$c | length) | select(\$c[.] == \"-c\") | \$c[. + 1]][0] // \"\"")
    src=$(file_source "$p" "$cfg_file")
    expect_match "$o/$p: -c $cfg_file is $p.yaml of a mounted ConfigMap" "^ConfigMap/.*/$p\.yaml$" "$src"
    # Drain: terminationGracePeriodSeconds > preStop sleep + shutdown.grace_seconds, where the
    # grace comes from the environment, else the ConfigMap's file, else the default.
    cm_key=$(echo "$src" | cut -d/ -f2-)
    grace=$(env_of "$p" "${P}_SHUTDOWN_GRACE_SECONDS")
    [ -n "$grace" ] || grace=$(jqo --arg k "$cm_key" '.configData[$k].shutdown.grace_seconds // empty')
    [ -n "$grace" ] || grace=$DEFAULT_GRACE
    sleep_s=$(jqo --arg p "$p" "$C | .lifecycle.preStop.exec.command | select(.[0] == \"sleep\") | .[1]")
    tgps=$(jqo --arg p "$p" "$W | select(any(.spec.template.spec.containers[]; .name == \$p)) | .spec.template.spec.terminationGracePeriodSeconds")
    if [ -n "$sleep_s" ] && [ -n "$tgps" ] && [ -n "$grace" ] && [ "$tgps" -gt $((sleep_s + grace)) ]; then
      pass "$o/$p: terminationGracePeriodSeconds $tgps > preStop sleep $sleep_s + shutdown.grace_seconds $grace"
    else
      fail "$o/$p: terminationGracePeriodSeconds > preStop sleep + shutdown.grace_seconds" "tgps '$tgps', sleep '$sleep_s', grace '$grace'"
    fi
    # The trust domain (trust.peers): the CSCFs get the pod network, in a form the program takes.
    if [ "$p" != hss ]; then
      tp=$(env_of "$p" "${P}_TRUST_PEERS")
      expect_match "$o/$p: ${P}_TRUST_PEERS names the trusted networks" '^[0-9a-fA-F.:/,]+$' "$tp"
      expect_eq "$o/$p: $p --check takes ${P}_TRUST_PEERS=$tp" "$p: configuration OK" \
        "$(env "${P}_TRUST_PEERS=$tp" "$BUILD/$p" -c "$REPO_DIR/config/$p.yaml" --check 2>&1)"
    fi
    # Security: non-root, no privilege escalation, read-only root, every capability dropped. One
    # exception, the pcscf of the ipsec overlay: root with only NET_ADMIN and NET_RAW (a non-root
    # container gets no ambient capabilities) and the node's /dev/net/tun, for the ESP datapath.
    ipsec_pcscf=0
    [ "$o/$p" = ipsec/pcscf ] && ipsec_pcscf=1
    got=$(jqo --arg p "$p" "$W | .spec.template.spec as \$s | \$s.containers[] | select(.name == \$p)
      | [(.securityContext.runAsNonRoot // \$s.securityContext.runAsNonRoot // false),
         (.securityContext.allowPrivilegeEscalation == false), (.securityContext.readOnlyRootFilesystem == true),
         ((.securityContext.capabilities.drop // []) | index(\"ALL\") != null),
         (\$s.hostPID // false | not), (.securityContext.privileged // false | not)] | map(tostring) | join(\" \")")
    if [ $ipsec_pcscf = 1 ]; then
      expect_eq "$o/$p: root for its capabilities; no escalation, read-only root, drop ALL, not privileged" "false true true true true true" "$got"
    else
      expect_eq "$o/$p: runAsNonRoot, no escalation, read-only root, drop ALL, not privileged" "true true true true true true" "$got"
    fi
    added=$(jqo --arg p "$p" "$C | (.securityContext.capabilities.add // []) | sort | join(\",\")")
    if [ $ipsec_pcscf = 1 ]; then allowed='^NET_ADMIN,NET_RAW$'; else allowed='^$'; fi
    expect_match "$o/$p: capabilities added: ${added:-none} (NET_ADMIN and NET_RAW on the ipsec overlay's pcscf only)" "$allowed" "$added"
    if [ $ipsec_pcscf = 1 ]; then
      got=$(jqo --arg p "$p" "$W | .spec.template.spec as \$s | \$s.containers[] | select(.name == \$p)
        | [.volumeMounts[]? | select(.mountPath == \"/dev/net/tun\") | .name as \$v
           | \$s.volumes[] | select(.name == \$v) | .hostPath | \"\\(.path) \\(.type)\"][0] // \"\"")
      expect_eq "$o/$p: /dev/net/tun is the node's character device" "/dev/net/tun CharDevice" "$got"
      expect_match "$o/$p: PCSCF_IPSEC_MODE turns sec-agree on" '^(optional|required)$' "$(env_of "$p" PCSCF_IPSEC_MODE)"
    fi
    got=$(jqo --arg p "$p" "$C | [.resources.requests.cpu, .resources.requests.memory, .resources.limits.memory] | map(. != null) | all")
    expect_eq "$o/$p: resources: cpu and memory requests, memory limit" true "$got"
    # Secrets: the API token file is a key of a mounted Secret.
    tf=$(env_of "$p" "${P}_API_TOKEN_FILE")
    expect_match "$o/$p: ${P}_API_TOKEN_FILE ($tf) is a key of a mounted Secret" '^Secret/' "$(file_source "$p" "$tf")"
  done
  sf=$(env_of hss HSS_SUBSCRIBERS_FILE)
  expect_match "$o/hss: HSS_SUBSCRIBERS_FILE ($sf) is a key of a mounted Secret" '^Secret/.*/subscribers.yaml$' "$(file_source hss "$sf")"

  # Services: each selects one workload, and each port is the container port it targets.
  bad=$(jqo "[$W] as \$w | .objects[] | select(.kind == \"Service\") | . as \$s
    | [\$w[] | select(.spec.template.metadata.labels as \$l | \$s.spec.selector | to_entries | all(.value == \$l[.key]))] as \$d
    | if (\$d | length) != 1 then \"\(\$s.metadata.name): selects \(\$d | length) workloads\" else
      \$s.spec.ports[] | . as \$sp
      | [\$d[0].spec.template.spec.containers[].ports[] | select((.name == \$sp.targetPort or .containerPort == \$sp.targetPort)
          and (.protocol // \"TCP\") == (\$sp.protocol // \"TCP\")) | .containerPort][0] as \$cp
      | select(\$cp != \$sp.port) | \"\(\$s.metadata.name)/\(\$sp.name): port \(\$sp.port), container port \(\$cp)\" end")
  expect_eq "$o: every Service selects one workload and keeps its container ports" "" "$bad"
  for proto in UDP TCP; do
    got=$(jqo --arg pr "$proto" '[.objects[] | select(.kind == "Service" and .spec.selector["app.kubernetes.io/name"] == "pcscf"
      and (.spec.type == "LoadBalancer" or .spec.type == "NodePort") and .spec.externalTrafficPolicy == "Local")
      | .spec.ports[] | select(.protocol == $pr) | .port] | map(tostring) | join(",")')
    expect_eq "$o: a pcscf SIP Service for $proto with externalTrafficPolicy Local" "${SIP_PORT[pcscf]}" "$got"
  done
  got=$(jqo '[.objects[] | select(.kind == "Service" and .spec.selector["app.kubernetes.io/name"] == "hss")
    | .spec.ports[] | select(.name == "diameter" and (.protocol // "TCP") == "TCP") | .port] | map(tostring) | join(",")')
  expect_eq "$o: a Diameter Service for the hss" "${DIAM_PORT[hss]}" "$got"

  # Peers by Service name: the pcscf's registrar and the scscf's Cx peer are Services whose
  # port is the target's configured one; the peer identity is the hss's.
  reg=$(env_of pcscf PCSCF_PCSCF_REGISTRAR)
  svc=$(sed -n 's/^sip:\([a-z0-9-]*\)\.\$(POD_NAMESPACE)\.svc\.\$(CLUSTER_DOMAIN):\([0-9]*\);.*/\1 \2/p' <<<"$reg")
  got=$(jqo --arg n "${svc% *}" '.objects[] | select(.kind == "Service" and .metadata.name == $n)
    | "\(.spec.selector["app.kubernetes.io/name"]) \([.spec.ports[] | select(.protocol == "TCP" and (.name | startswith("sip"))) | .port][0])"')
  expect_eq "$o: pcscf.registrar ($reg) is the scscf Service on scscf's SIP port" "scscf ${SIP_PORT[scscf]} ${SIP_PORT[scscf]}" "$got ${svc#* }"
  peer=$(env_of scscf SCSCF_DIAMETER_PEERS)
  hss_id=$(jq -r '.diameter.identity' "$WORKDIR/cfg-hss.json")
  svc=$(sed -n 's/^\([^@]*\)@\([a-z0-9-]*\)\.\$(POD_NAMESPACE)\.svc\.\$(CLUSTER_DOMAIN):\([0-9]*\)$/\1 \2 \3/p' <<<"$peer")
  read -r pid pname pport <<<"$svc"
  got=$(jqo --arg n "${pname:-}" '.objects[] | select(.kind == "Service" and .metadata.name == $n) | .spec.selector["app.kubernetes.io/name"]')
  expect_eq "$o: diameter.peers ($peer) is the hss Service, identity and port" "$hss_id hss ${DIAM_PORT[hss]}" "${pid:-} $got ${pport:-}"
  # The scscf's own address: its pod's name in the StatefulSet's headless Service, which the
  # hss offers as Server-Name.
  adv=$(env_of scscf SCSCF_SIP_ADVERTISE)
  sts=$(jqo '.objects[] | select(.kind == "StatefulSet" and any(.spec.template.spec.containers[]; .name == "scscf"))
    | "\(.metadata.name) \(.spec.serviceName)"')
  read -r sts_name sts_svc <<<"$sts"
  expect_eq "$o: SCSCF_SIP_ADVERTISE is the pod's name under the StatefulSet's Service" \
    "\$(POD_NAME).${sts_svc:-}.\$(POD_NAMESPACE).svc.\$(CLUSTER_DOMAIN):${SIP_PORT[scscf]}" "$adv"
  got=$(jqo --arg n "${sts_svc:-}" '.objects[] | select(.kind == "Service" and .metadata.name == $n) | .spec.clusterIP')
  expect_eq "$o: the StatefulSet's Service is headless" None "$got"
  replicas=$(jqo '.objects[] | select(.kind == "StatefulSet" and .metadata.name == "scscf") | .spec.replicas')
  # The hss offers the scscf's Server-Name: scscf.server_name when set (replicas share one, the
  # scscf Service), else the first pod's own address.
  sname=$(env_of scscf SCSCF_SCSCF_SERVER_NAME)
  expect_eq "$o: HSS_ASSIGNMENT_SCSCF_NAMES is the scscf's Server-Name" \
    "${sname:-sip:${adv//\$(POD_NAME)/${sts_name:-}-0}}" "$(env_of hss HSS_ASSIGNMENT_SCSCF_NAMES)"

  # The store (issue 16): where the scscf keeps registrations, and what that needs.
  sc_key=$(file_source scscf "$(jqo --arg p scscf "$C | .command as \$c | [range(0; \$c | length) | select(\$c[.] == \"-c\") | \$c[. + 1]][0] // \"\"")" | cut -d/ -f2-)
  backend=$(env_of scscf SCSCF_STORE_BACKEND)
  [ -n "$backend" ] || backend=$(jqo --arg k "$sc_key" '.configData[$k].store.backend // "memory"')
  journal=$(jqo --arg p scscf --arg k "$sc_key" "[$C | .env[]? | select(.name == \"SCSCF_STORE_JOURNAL\") | .value // \"\"][0] // (.configData[\$k].store.journal // \"\")")
  # The program itself judges the store settings of the manifest (scscf --check, with the
  # pod's store.* and server_name variables, references filled in as a pod would see them).
  if [ -x "$BUILD/scscf" ]; then
    mapfile -t senv < <(jqo --arg p scscf "$C | .env[]? | select((.name | startswith(\"SCSCF_STORE_\")) or .name == \"SCSCF_SCSCF_SERVER_NAME\")
      | \"\(.name)=\(.value // \"\")\"" | sed -e 's/\$(POD_NAME)/scscf-0/g' -e 's/\$(POD_NAMESPACE)/ims/g' -e 's/\$(CLUSTER_DOMAIN)/cluster.local/g')
    expect_eq "$o/scscf: scscf --check accepts its store settings (${#senv[@]} variables)" "scscf: configuration OK" \
      "$(env "${senv[@]}" "$BUILD/scscf" -c "$REPO_DIR/config/scscf.yaml" --check 2>&1)"
  fi
  [ "$o" = scale ] && want=redis || want=memory
  expect_eq "$o/scscf: store.backend $want" "$want" "$backend"
  if [ "$backend" = memory ]; then
    # One process's memory: one replica, and its journal on a writable volume of the pod.
    expect_eq "$o/scscf: one replica (the memory store is the process's own)" 1 "$replicas"
    got=$(jqo --arg p scscf --arg d "${journal%/*}" "$W | .spec.template.spec as \$s | \$s.containers[] | select(.name == \$p)
      | [.volumeMounts[]? | select(.mountPath == \$d and (.readOnly // false | not)) | .name as \$v
         | \$s.volumes[] | select(.name == \$v) | keys[] | select(. != \"name\")][0] // \"\"")
    expect_match "$o/scscf: store.journal ($journal) on a writable mounted volume ($got)" '^(emptyDir|persistentVolumeClaim|hostPath)$' "$got"
  else
    expect_eq "$o/scscf: two replicas share the store" 2 "$replicas"
    expect_eq "$o/scscf: the replicas share one Server-Name, the scscf Service's SIP address" \
      "sip:scscf.\$(POD_NAMESPACE).svc.\$(CLUSTER_DOMAIN):${SIP_PORT[scscf]}" "$sname"
    expect_eq "$o/scscf: no store.journal with redis" "" "$journal"
    addr=$(env_of scscf SCSCF_STORE_REDIS_ADDRESS)
    svc=$(sed -n 's/^\([a-z0-9-]*\)\.\$(POD_NAMESPACE)\.svc\.\$(CLUSTER_DOMAIN):\([0-9]*\)$/\1 \2/p' <<<"$addr")
    read -r rname rport <<<"$svc"
    # The Service, the workload it selects, and that workload's container on the port.
    got=$(jqo --arg n "${rname:-}" --argjson port "${rport:-0}" '.objects as $all | $all[] | select(.kind == "Service" and .metadata.name == $n) | . as $svc
      | ($svc.spec.ports[] | select(.port == $port) | .targetPort) as $tp
      | $all[] | select((.kind == "StatefulSet" or .kind == "Deployment") and (.spec.template.metadata.labels as $l | $svc.spec.selector | to_entries | all(.value == $l[.key])))
      | .spec.template.spec.containers[] | select(any(.ports[]; .name == $tp or .containerPort == $tp)) | .name')
    expect_eq "$o/scscf: store.redis.address ($addr) is a Service on the redis container's port" redis "$got"
    redis=$(jqo '[.objects[] | select(.kind == "StatefulSet" and any(.spec.template.spec.containers[]; .name == "redis"))][0]')
    args=$(jq -r '.spec.template.spec.containers[] | select(.name == "redis") | .command | join(" ")' <<<"$redis")
    expect_match "$o/redis: redis-server with the append-only file" '^redis-server .*--appendonly yes' "$args"
    dir=$(sed -n 's/.*--dir \([^ ]*\).*/\1/p' <<<"$args")
    got=$(jq -r --arg d "$dir" '.spec as $s | [$s.template.spec.containers[] | select(.name == "redis") | .volumeMounts[] | select(.mountPath == $d) | .name] as $m
      | [$s.volumeClaimTemplates[]?.metadata.name] as $c | [$m[] | select(. as $x | $c | index($x))] | length' <<<"$redis")
    expect_eq "$o/redis: a StatefulSet whose --dir ($dir) is a PersistentVolumeClaim" 1 "$got"
    got=$(jq -r '.spec.template.spec as $s | $s.containers[] | select(.name == "redis")
      | [($s.securityContext.runAsNonRoot // false), (.securityContext.allowPrivilegeEscalation == false),
         (.securityContext.readOnlyRootFilesystem == true), ((.securityContext.capabilities.drop // []) | index("ALL") != null)] | map(tostring) | join(" ")' <<<"$redis")
    expect_eq "$o/redis: runAsNonRoot, no escalation, read-only root, drop ALL" "true true true true" "$got"
    got=$(jqo --argjson port "${rport:-0}" '[.objects[] | select(.kind == "NetworkPolicy" and .spec.podSelector.matchLabels["app.kubernetes.io/name"] == "redis")
      | .spec.ingress[] | select(any(.ports[]; .port == $port)) | .from[].podSelector.matchLabels["app.kubernetes.io/name"]] | unique | join(",")')
    expect_eq "$o/redis: a NetworkPolicy lets only the scscf pods in (no password)" scscf "$got"
  fi
done

# --- Grafana dashboard -----------------------------------------------------------------------
DASH="$K8S/grafana-dashboard.json"
jq -e '.panels | length > 0' "$DASH" >/dev/null 2>&1
expect_eq "grafana-dashboard.json is JSON with panels" 0 "$?"
documented=$(grep -oE '^\| `(cscf|process)_[a-z0-9_]+`' "$REPO_DIR/README.md" | tr -d '|` ' | sort -u)
used=$(jq -r '.. | strings' "$DASH" | grep -oE '\b(cscf|process)_[a-z0-9_]+' | sort -u)
undocumented=
for m in $used; do
  base=$(sed -E 's/_(bucket|sum|count)$//' <<<"$m")
  grep -qx "$m" <<<"$documented" || grep -qx "$base" <<<"$documented" || undocumented+="$m "
done
expect_eq "dashboard: every metric it uses ($(wc -w <<<"$used")) is in README's Metrics table" "" "$undocumented"
expect_eq "dashboard: every query selects on the program label (pcscf and scscf both count calls)" "" \
  "$(jq -r '.. | objects | .expr? // empty' "$DASH" | grep -v 'program=~"\$program"' | head -3)"

# --- Dockerfile (no container engine needed) --------------------------------------------------
DF="$REPO_DIR/Dockerfile"
expect_eq "Dockerfile: both stages FROM debian:bookworm-slim" "debian:bookworm-slim debian:bookworm-slim" \
  "$(awk '/^FROM /{print $2}' "$DF" | tr '\n' ' ' | sed 's/ $//')"
user=$(awk '/^USER /{u=$2} END{print u}' "$DF")
expect_match "Dockerfile: the image runs as a non-root user ($user)" '^[1-9][0-9]*(:[0-9]+)?$' "$user"
missing=
for src in $(awk '/^COPY / && !/--from/ {for (i = 2; i < NF; i++) print $i}' "$DF"); do
  [ -e "$REPO_DIR/$src" ] || missing+="$src "
done
expect_eq "Dockerfile: every COPY source exists" "" "$missing"
# Packages per stage: the words after `apt-get install ... --no-install-recommends`.
stage_pkgs() { # stage number (1 build, 2 runtime)
  awk -v want="$1" '/^FROM /{s++} s == want' "$DF" | sed ':a;/\\$/N;s/\\\n//;ta' |
    grep -o 'apt-get install[^&]*' | tr ' ' '\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' | grep -vxE 'apt-get|install'
}
if apt-cache show gcc >/dev/null 2>&1; then
  wanted=$(printf '%s\n' $(stage_pkgs 1) $(stage_pkgs 2) | sort -u)
  known=$(apt-cache show --no-all-versions $wanted 2>/dev/null | sed -n 's/^Package: //p' | sort -u)
  expect_eq "Dockerfile: every package it installs is a Debian package" "" "$(comm -23 <(echo "$wanted") <(echo "$known") | tr '\n' ' ')"
else
  echo "  skip Dockerfile package names: no apt lists here (apt-get update)"
fi
# The image holds the plain build (never the sanitizer one): the libraries those binaries load
# must come from the runtime stage's packages (or the base image's libc6, libgcc-s1).
runtime=" $(stage_pkgs 2 | tr '\n' ' ') libc6 libgcc-s1 "
if [ -x "$REPO_DIR/build/pcscf" ] && [ -x "$REPO_DIR/build/scscf" ] && [ -x "$REPO_DIR/build/hss" ]; then
  sonames=$(for b in pcscf scscf hss; do readelf -d "$REPO_DIR/build/$b"; done |
    sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | sort -u)
  owners=$(dpkg -S $(sed 's|^|*/|' <<<"$sonames") 2>/dev/null)
  uncovered=
  for so in $sonames; do
    ok=
    for pkg in $(grep "/$so\$" <<<"$owners" | cut -d: -f1 | tr ',' ' '); do
      [[ "$runtime" == *" $pkg "* ]] && ok=1
    done
    [ -n "$ok" ] || uncovered+="$so "
  done
  expect_eq "Dockerfile: the runtime stage's packages hold every library the programs load" "" "$uncovered"
else
  echo "  skip the runtime library check: no plain build in build/"
fi
# The build stage, emulated: only what it COPYs, and its make command.
if [ "$BUILD" = build ]; then
  ctx="$WORKDIR/image-build"
  mkdir -p "$ctx"
  for src in $(awk '/^FROM /{s++} s == 1 && /^COPY / {for (i = 2; i < NF; i++) print $i}' "$DF"); do
    cp -rp "$REPO_DIR/$src" "$ctx/"
  done
  targets=$(awk '/^FROM /{s++} s == 1 && /^RUN make /' "$DF" | grep -oE 'build/[a-z]+' | tr '\n' ' ')
  # Seeded with the plain build's objects and .d files (sources and objects copied with their
  # times, so make sees what the plain build would: a source or header changed since is
  # compiled again), make compiles only what they do not cover instead of the whole tree a
  # second time (a clean build of this Makefile is make test's own, on a clean clone). A
  # source the context lacks has no rule and fails as before; a header it lacks would not
  # (the Makefile's .SECONDARY: makes -MP's phony header targets intermediate, never out of
  # date), so the files each seeded object was compiled from are checked here: all there, for
  # every source there.
  lacking=
  if [ -d "$REPO_DIR/build/obj" ]; then
    mkdir -p "$ctx/build"
    cp -rp "$REPO_DIR/build/obj" "$ctx/build/"
    lacking=$(cd "$ctx" && find build/obj -name '*.d' | while read -r d; do
      mapfile -t files < <(tr -s ' \\\n' '\n' <"$d" | grep -v -e ':$' -e '^$')
      [ "${#files[@]}" -gt 0 ] && [ -f "${files[0]}" ] || continue # its source is not copied
      for f in "${files[@]}"; do [ -e "$f" ] || echo "$f (for ${files[0]})"; done
    done | sort -u | tr '\n' ' ')
  fi
  expect_eq "Dockerfile: its build stage has every file the programs' objects are compiled from" "" "$lacking"
  (cd "$ctx" && timeout 300 nice make -j2 VERSION=0.0.0-test $targets >"$WORKDIR/image-build.log" 2>&1)
  expect_eq "Dockerfile: its build stage's files and make targets build ($targets)" 0 "$?"
  rm -rf "$ctx"
else
  echo "  skip the Dockerfile build-stage emulation (done in the plain build's run)"
fi

finish
