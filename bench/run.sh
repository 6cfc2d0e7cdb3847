#!/usr/bin/env bash
# Gateway overhead benchmark. Scenario by scenario, in one run, the same load goes
#   DIRECT   loadgen -> mock upstream
#   NGINX    loadgen -> nginx (bare reverse proxy, the reference) -> mock upstream
#   GATEWAY  loadgen -> modelgate -> mock upstream
# and the CPU time of each target's processes over the measured window is divided by the
# requests served in it. Optional rows: the access log's cost (gateway at LOG_LEVEL=warn),
# an Anthropic Messages client through the gateway (cross-dialect), and a virtual key with
# limits, balance and a provider free credit (governance), also against a Redis-backed gateway.
#
# Usage:  bench/run.sh
# Knobs (environment):
#   BENCH_DURATION        measured seconds per run                           (default 10)
#   BENCH_WARMUP          warm-up seconds per run, not counted               (default 2)
#   BENCH_MOCK_THREADS    mock upstream tokio worker threads                 (default 1)
#   BENCH_LOADGEN_THREADS load generator tokio worker threads                (default 1)
#   BENCH_UPSTREAMS       number of mock upstream ports/providers            (default 1; 1 or 3)
#   BENCH_STRATEGY        strategy of the logical model with 3 upstreams     (default weighted_random)
#   BENCH_RATE            open-loop rate for scenario (e), req/s             (default 1000)
#   BENCH_LOG_LEVEL       LOG_LEVEL of the measured gateway                  (default info, its default)
#   BENCH_WARN_PASS       1: rerun scenario (c) on a gateway at warn; 0: no  (default 1)
#   BENCH_NGINX           1: NGINX rows (installs nginx-light if missing); 0: no (default 1)
#   BENCH_NGINX_WORKERS   nginx worker_processes                             (default nproc)
#   BENCH_CROSS_DIALECT   1: Anthropic Messages client rows; 0: no           (default 1)
#   BENCH_GOVERNANCE      1: governance key rows; 0: no                      (default 1)
#   BENCH_REDIS_URL       if set, governance rows again on a gateway with REDIS_URL=this
#   BENCH_SKIP_BUILD      set to 1 to skip `cargo build --release`           (default unset)
#   CARGO_TARGET_DIR      where the release binaries are                     (default ./target)
# Output: a markdown report on stdout and in bench/results/latest.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

BENCH_DURATION="${BENCH_DURATION:-10}"
BENCH_WARMUP="${BENCH_WARMUP:-2}"
BENCH_MOCK_THREADS="${BENCH_MOCK_THREADS:-1}"
BENCH_LOADGEN_THREADS="${BENCH_LOADGEN_THREADS:-1}"
BENCH_UPSTREAMS="${BENCH_UPSTREAMS:-1}"
BENCH_STRATEGY="${BENCH_STRATEGY:-weighted_random}"
BENCH_RATE="${BENCH_RATE:-1000}"
BENCH_LOG_LEVEL="${BENCH_LOG_LEVEL:-info}"
BENCH_WARN_PASS="${BENCH_WARN_PASS:-1}"
BENCH_NGINX="${BENCH_NGINX:-1}"
BENCH_NGINX_WORKERS="${BENCH_NGINX_WORKERS:-$(nproc)}"
BENCH_CROSS_DIALECT="${BENCH_CROSS_DIALECT:-1}"
BENCH_GOVERNANCE="${BENCH_GOVERNANCE:-1}"
BENCH_REDIS_URL="${BENCH_REDIS_URL:-}"

COMMAND_LINE="BENCH_DURATION=$BENCH_DURATION BENCH_WARMUP=$BENCH_WARMUP BENCH_MOCK_THREADS=$BENCH_MOCK_THREADS BENCH_LOADGEN_THREADS=$BENCH_LOADGEN_THREADS BENCH_UPSTREAMS=$BENCH_UPSTREAMS BENCH_RATE=$BENCH_RATE BENCH_LOG_LEVEL=$BENCH_LOG_LEVEL BENCH_WARN_PASS=$BENCH_WARN_PASS BENCH_NGINX=$BENCH_NGINX BENCH_NGINX_WORKERS=$BENCH_NGINX_WORKERS BENCH_CROSS_DIALECT=$BENCH_CROSS_DIALECT BENCH_GOVERNANCE=$BENCH_GOVERNANCE${BENCH_REDIS_URL:+ BENCH_REDIS_URL=<set>} bench/run.sh${*:+ $*}"

case "$BENCH_UPSTREAMS" in
  1 | 3) ;;
  *) echo "BENCH_UPSTREAMS must be 1 or 3 (got $BENCH_UPSTREAMS)" >&2; exit 2 ;;
esac
command -v curl >/dev/null || { echo "curl is required" >&2; exit 2; }
command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 2; }

log() { echo "[bench] $*" >&2; }

TMP="$(mktemp -d "${TMPDIR:-/tmp}/modelgate-bench.XXXXXX")"
mkdir -p "$TMP/runs"

# Every child we start is registered here (pid, a name, its log file) and stopped on exit.
CHILD_PIDS=()
declare -A CHILD_NAME=()
declare -A CHILD_LOG=()
track() { CHILD_PIDS+=("$1"); CHILD_NAME[$1]="$2"; CHILD_LOG[$1]="$3"; }
untrack() {
  local keep=() p
  for p in "${CHILD_PIDS[@]}"; do [[ "$p" == "$1" ]] || keep+=("$p"); done
  CHILD_PIDS=("${keep[@]}")
}

# stop_pids PID... : SIGTERM, up to 5 s to exit, then SIGKILL.
stop_pids() {
  local pid
  for pid in "$@"; do kill "$pid" 2>/dev/null || true; done
  for pid in "$@"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}

show_logs() {
  local pid f seen=" "
  for pid in "${CHILD_PIDS[@]}"; do
    f="${CHILD_LOG[$pid]}"
    [[ "$seen" != *" $f "* ]] || continue
    seen+="$f "
    if [[ -s "$f" ]]; then
      echo "---- last 10 lines of $f (${CHILD_NAME[$pid]}) ----" >&2
      tail -n 10 "$f" >&2 || true
    fi
  done
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # Not after Ctrl-C or SIGTERM: only when something failed.
  if [[ $rc -ne 0 && $rc -ne 130 && $rc -ne 143 ]]; then show_logs; fi
  if ((${#CHILD_PIDS[@]})); then stop_pids "${CHILD_PIDS[@]}"; fi
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

die() { echo "error: $*" >&2; exit 1; }

# check_alive WHEN : every tracked child must still run.
check_alive() {
  local pid
  for pid in "${CHILD_PIDS[@]}"; do
    kill -0 "$pid" 2>/dev/null || die "${CHILD_NAME[$pid]} (pid $pid) died $1; its log: ${CHILD_LOG[$pid]}"
  done
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# children_of PID : pids whose parent is PID.
children_of() {
  local f line rest ppid
  for f in /proc/[0-9]*/stat; do
    { read -r line <"$f"; } 2>/dev/null || continue
    rest="${line##*) }"
    read -r _ ppid _ <<<"$rest"
    if [[ "$ppid" == "$1" ]]; then f="${f#/proc/}"; echo "${f%/stat}"; fi
  done
}

rss_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# --- 1. build -------------------------------------------------------------------------------
if [[ "${BENCH_SKIP_BUILD:-}" != "1" ]]; then
  log "building release binaries"
  # Two builds, not one: cargo unifies the features of the packages built together, which
  # would give the gateway's crates other symbol hashes than `cargo build --release -p
  # modelgate-server` (README, Dockerfile) and defeat its link order (symbol-order.txt).
  cargo build --release -p modelgate-server >&2
  cargo build --release -p modelgate-bench >&2
fi
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
GATEWAY_BIN="$TARGET_DIR/release/modelgate"
MOCK_BIN="$TARGET_DIR/release/mock_upstream"
LOADGEN_BIN="$TARGET_DIR/release/loadgen"
for b in "$GATEWAY_BIN" "$MOCK_BIN" "$LOADGEN_BIN"; do
  [[ -x "$b" ]] || die "missing binary $b"
done
CLK_TCK="$(getconf CLK_TCK 2>/dev/null || echo 100)"

# --- 2. nginx (installed if missing) --------------------------------------------------------
NGINX_BIN=""
NGINX_SKIP=""
find_nginx() { command -v nginx 2>/dev/null || { [[ -x /usr/sbin/nginx ]] && echo /usr/sbin/nginx; } || true; }
if [[ "$BENCH_NGINX" != "1" ]]; then
  NGINX_SKIP="disabled by BENCH_NGINX=$BENCH_NGINX"
else
  NGINX_BIN="$(find_nginx)"
  if [[ -z "$NGINX_BIN" ]]; then
    if [[ "$(id -u)" != "0" ]]; then
      NGINX_SKIP="nginx is not installed and we are not root (run: apt-get install -y nginx-light)"
    elif ! command -v apt-get >/dev/null; then
      NGINX_SKIP="nginx is not installed and there is no apt-get"
    else
      log "installing nginx-light"
      if ! DEBIAN_FRONTEND=noninteractive apt-get install -y nginx-light >"$TMP/apt.log" 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get update >>"$TMP/apt.log" 2>&1 || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y nginx-light >>"$TMP/apt.log" 2>&1 || true
      fi
      NGINX_BIN="$(find_nginx)"
      [[ -n "$NGINX_BIN" ]] ||
        NGINX_SKIP="apt-get install -y nginx-light failed: $(tail -n 1 "$TMP/apt.log" | tr '|' '/')"
    fi
  fi
fi
[[ -z "$NGINX_SKIP" ]] || log "NGINX rows skipped: $NGINX_SKIP"

# --- 3. mock upstream -------------------------------------------------------------------------
MOCK_ARGS=(--threads "$BENCH_MOCK_THREADS")
for _ in $(seq "$BENCH_UPSTREAMS"); do MOCK_ARGS+=(--port 0); done
"$MOCK_BIN" "${MOCK_ARGS[@]}" >"$TMP/mock.out" 2>"$TMP/mock.err" &
MOCK_PID=$!
track "$MOCK_PID" "mock upstream" "$TMP/mock.err"
for _ in $(seq 100); do
  [[ "$(grep -c '^listening ' "$TMP/mock.out" 2>/dev/null || true)" -ge "$BENCH_UPSTREAMS" ]] && break
  check_alive "during start-up"
  sleep 0.05
done
mapfile -t MOCK_PORTS < <(sed -n 's/^listening .*:\([0-9][0-9]*\)$/\1/p' "$TMP/mock.out")
[[ "${#MOCK_PORTS[@]}" -eq "$BENCH_UPSTREAMS" ]] || die "mock upstream did not start"
MOCK_PORT="${MOCK_PORTS[0]}"
log "mock upstream pid $MOCK_PID on port(s) ${MOCK_PORTS[*]}"

# --- 4. nginx -------------------------------------------------------------------------------
NGINX_PID=""
NGINX_PIDS=""
NGINX_URL=""
if [[ -z "$NGINX_SKIP" ]]; then
  ND="$TMP/nginx"
  mkdir -p "$ND"
  NGINX_PORT="$(free_port)"
  servers=""
  for p in "${MOCK_PORTS[@]}"; do servers+="        server 127.0.0.1:$p;"$'\n'; done
  NGINX_SERVERS="${servers%$'\n'}" ND="$ND" NGINX_PORT="$NGINX_PORT" \
    NGINX_USER="$(id -un)" NGINX_WORKERS="$BENCH_NGINX_WORKERS" python3 - \
    "$ROOT/bench/nginx/nginx.conf.in" "$ND/nginx.conf" <<'PY'
import os, sys
text = open(sys.argv[1]).read()
for key, env in (("@DIR@", "ND"), ("@PORT@", "NGINX_PORT"), ("@USER@", "NGINX_USER"),
                 ("@WORKERS@", "NGINX_WORKERS"), ("@UPSTREAM_SERVERS@", "NGINX_SERVERS")):
    text = text.replace(key, os.environ[env])
open(sys.argv[2], "w").write(text)
PY
  "$NGINX_BIN" -t -q -p "$ND" -e "$ND/error.log" -c "$ND/nginx.conf" >"$ND/test.log" 2>&1 ||
    die "nginx rejected $ND/nginx.conf: $(cat "$ND/test.log")"
  "$NGINX_BIN" -p "$ND" -e "$ND/error.log" -c "$ND/nginx.conf" >"$ND/stdout.log" 2>&1 &
  NGINX_PID=$!
  track "$NGINX_PID" "nginx master" "$ND/error.log"
  NGINX_URL="http://127.0.0.1:$NGINX_PORT"
  deadline=$((SECONDS + 10))
  until [[ "$(curl -s -o /dev/null -w '%{http_code}' "$NGINX_URL/v1/models" || true)" == "200" ]]; do
    check_alive "during start-up"
    ((SECONDS < deadline)) || die "nginx does not answer on $NGINX_URL after 10 s"
    sleep 0.1
  done
  for _ in $(seq 50); do
    mapfile -t workers < <(children_of "$NGINX_PID")
    [[ "${#workers[@]}" -lt "$BENCH_NGINX_WORKERS" ]] || break
    sleep 0.1
  done
  [[ "${#workers[@]}" -eq "$BENCH_NGINX_WORKERS" ]] ||
    die "nginx master $NGINX_PID has ${#workers[@]} worker processes, expected $BENCH_NGINX_WORKERS"
  for w in "${workers[@]}"; do track "$w" "nginx worker" "$ND/error.log"; done
  NGINX_PIDS="$(IFS=,; echo "$NGINX_PID,${workers[*]}")"
  log "nginx $("$NGINX_BIN" -v 2>&1 | sed 's/^nginx version: //') pid $NGINX_PID (workers ${workers[*]}) on port $NGINX_PORT"
fi

# --- 5. gateway -----------------------------------------------------------------------------
ADMIN_AUTH="Authorization: Bearer bench-admin-key"

# start_gateway TAG LOG_LEVEL [NAME=VALUE...] : sets GW_PID and GW (base URL). Returns 1 with
# START_ERR set if it does not become healthy within 30 s.
start_gateway() {
  local tag="$1" level="$2" port
  shift 2
  port="$(free_port)"
  mkdir -p "$TMP/$tag-data"
  env MODELGATE_ADMIN_KEY=bench-admin-key MODELGATE_SECRET_KEY=bench-secret LOG_LEVEL="$level" "$@" \
    "$GATEWAY_BIN" serve --host 127.0.0.1 --port "$port" --data-dir "$TMP/$tag-data" \
    >"$TMP/$tag.log" 2>&1 &
  GW_PID=$!
  track "$GW_PID" "gateway ($tag)" "$TMP/$tag.log"
  GW="http://127.0.0.1:$port"
  GW_LOG="$TMP/$tag.log"
  local deadline=$((SECONDS + 30))
  until [[ "$(curl -s -o /dev/null -w '%{http_code}' "$GW/health" || true)" == "200" ]]; do
    if ! kill -0 "$GW_PID" 2>/dev/null; then
      START_ERR="gateway ($tag) exited during start-up: $(tail -n 3 "$GW_LOG" | tr '\n|' ' /')"
      untrack "$GW_PID"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      START_ERR="gateway ($tag) /health not 200 after 30 s"
      stop_gateway
      return 1
    fi
    sleep 0.2
  done
  log "gateway ($tag, LOG_LEVEL=$level) pid $GW_PID on port ${GW##*:}"
}

stop_gateway() {
  stop_pids "$GW_PID"
  untrack "$GW_PID"
}

# admin_try PATH JSON : sets ADMIN_CODE; the response body is in $TMP/resp.json.
admin_try() {
  ADMIN_CODE="$(curl -s -o "$TMP/resp.json" -w '%{http_code}' -X POST "$GW$1" \
    -H "$ADMIN_AUTH" -H 'Content-Type: application/json' --data "$2")" || ADMIN_CODE="000"
}
# admin_post PATH JSON EXPECTED_STATUS -> response body on stdout; exits on any other status.
admin_post() {
  admin_try "$1" "$2"
  [[ "$ADMIN_CODE" == "$3" ]] || die "POST $1: expected $3, got $ADMIN_CODE: $(cat "$TMP/resp.json" 2>/dev/null)"
  cat "$TMP/resp.json"
}
json_key() { python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])'; }

# Providers, the model `bench-model` and a plain virtual key; sets VKEY.
configure_gateway() {
  if [[ "$BENCH_UPSTREAMS" == "1" ]]; then
    admin_post /providers "{\"name\":\"mock\",\"kind\":\"openai_compatible\",\"base_url\":\"http://127.0.0.1:$MOCK_PORT/v1\",\"api_keys\":[{\"alias\":\"k1\",\"key\":\"sk-mock-upstream\"}]}" 201 >/dev/null
    admin_post /providers/mock/models '{"model_id":"bench-model","provider_model_id":"mock-model"}' 201 >/dev/null
  else
    # Three providers mock1..mock3, one per mock port, each with a model implementation
    # `mock-model`, and ONE logical model "bench-model" over the three, so the gateway
    # resolves, scores and balances across all three on every request.
    local ups="" i port
    for i in 1 2 3; do
      port="${MOCK_PORTS[$((i - 1))]}"
      admin_post /providers "{\"name\":\"mock$i\",\"kind\":\"openai_compatible\",\"base_url\":\"http://127.0.0.1:$port/v1\",\"api_keys\":[{\"alias\":\"k1\",\"key\":\"sk-mock-upstream\"}]}" 201 >/dev/null
      admin_post "/providers/mock$i/models" '{"model_id":"mock-model","provider_model_id":"mock-model"}' 201 >/dev/null
      ups="$ups${ups:+,}{\"provider\":\"mock$i\",\"model\":\"mock-model\",\"weight\":1}"
    done
    admin_post /logical-models "{\"name\":\"bench-model\",\"strategy\":\"$BENCH_STRATEGY\",\"upstreams\":[$ups]}" 201 >/dev/null
  fi
  VKEY="$(admin_post /admin/api-keys '{"name":"bench"}' 201 | json_key)"
  [[ "$VKEY" == mg-* ]] || die "unexpected virtual key format: ${VKEY:0:6}..."
}

# sanity URL BODY HEADER... : one request must answer 200; sets SANITY_CODE.
sanity() {
  local url="$1" body="$2" args=() h
  shift 2
  for h in "$@"; do args+=(-H "$h"); done
  SANITY_CODE="$(curl -s -o "$TMP/resp.txt" -w '%{http_code}' "$url" "${args[@]}" \
    -H 'Content-Type: application/json' --data "$body")" || SANITY_CODE="000"
  [[ "$SANITY_CODE" == "200" ]]
}
sanity_reason() { echo "$1 answered $SANITY_CODE: $(head -c 200 "$TMP/resp.txt" | tr '\n|' ' /')"; }

CHAT='{"model":"bench-model","messages":[{"role":"user","content":"hi"}]}'
CHAT_STREAM='{"model":"bench-model","messages":[{"role":"user","content":"hi"}],"stream":true}'
# Sanity check of the plain chat path; exits on failure.
sanity_chat() {
  local body
  for body in "$CHAT" "$CHAT_STREAM"; do
    if ! sanity "$GW/v1/chat/completions" "$body" "Authorization: Bearer $VKEY" || ! grep -q Hello "$TMP/resp.txt"; then
      die "$(sanity_reason "sanity request through the gateway")"
    fi
  done
}

# Governance: a provider `mockgov` with a free credit serving `bench-gov-model`, and a virtual
# key with rpm/tpm limits far above the load and a balance. Sets GOV_VKEY, or GOV_SKIP.
GOV_BODY='{"model":"bench-gov-model","messages":[{"role":"user","content":"Say hello"}],"max_tokens":16}'
configure_governance() {
  GOV_SKIP=""
  GOV_VKEY=""
  admin_try /providers "{\"name\":\"mockgov\",\"kind\":\"openai_compatible\",\"base_url\":\"http://127.0.0.1:$MOCK_PORT/v1\",\"api_keys\":[{\"alias\":\"k1\",\"key\":\"sk-mock-upstream\"}],\"free_credit\":{\"type\":\"money\",\"amount\":\"5.00\"}}"
  if [[ "$ADMIN_CODE" != 201 ]]; then
    GOV_SKIP="POST /providers with free_credit answered $ADMIN_CODE: $(head -c 200 "$TMP/resp.json" | tr '\n|' ' /')"
    return
  fi
  admin_post /providers/mockgov/models '{"model_id":"bench-gov-model","provider_model_id":"mock-model"}' 201 >/dev/null
  admin_try /admin/api-keys '{"name":"bench-governed","rpm":100000000,"tpm":1000000000,"balance":"1000000.00"}'
  if [[ "$ADMIN_CODE" != 201 ]]; then
    GOV_SKIP="POST /admin/api-keys with rpm, tpm, balance answered $ADMIN_CODE: $(head -c 200 "$TMP/resp.json" | tr '\n|' ' /')"
    return
  fi
  GOV_VKEY="$(json_key <"$TMP/resp.json")"
  local body
  for body in "$GOV_BODY" "${GOV_BODY%\}},\"stream\":true}"; do
    if ! sanity "$GW/v1/chat/completions" "$body" "Authorization: Bearer $GOV_VKEY"; then
      GOV_SKIP="$(sanity_reason "chat with the governed key")"
      return
    fi
  done
}

if ! start_gateway main "$BENCH_LOG_LEVEL"; then die "$START_ERR"; fi
MAIN_GW="$GW"
MAIN_GW_PID="$GW_PID"
MAIN_GW_LOG="$GW_LOG"
configure_gateway
sanity_chat
log "configured provider(s) and virtual key"

if [[ -n "$NGINX_URL" ]]; then
  for body in "$CHAT" "$CHAT_STREAM"; do
    sanity "$NGINX_URL/v1/chat/completions" "$body" "Authorization: Bearer sk-mock-upstream" ||
      die "$(sanity_reason "sanity request through nginx")"
  done
fi

# Cross-dialect: an Anthropic Messages client through the gateway to the OpenAI mock.
ANTHROPIC_BODY='{"model":"bench-model","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}'
echo "$ANTHROPIC_BODY" >"$TMP/anthropic.json"
CROSS_SKIP=""
if [[ "$BENCH_CROSS_DIALECT" != "1" ]]; then
  CROSS_SKIP="disabled by BENCH_CROSS_DIALECT=$BENCH_CROSS_DIALECT"
else
  for body in "$ANTHROPIC_BODY" "${ANTHROPIC_BODY%\}},\"stream\":true}"; do
    if ! sanity "$GW/v1/messages" "$body" "x-api-key: $VKEY" "anthropic-version: 2023-06-01"; then
      CROSS_SKIP="$(sanity_reason "POST /v1/messages")"
      break
    fi
  done
fi
[[ -z "$CROSS_SKIP" ]] || log "cross-dialect rows skipped: $CROSS_SKIP"

if [[ "$BENCH_GOVERNANCE" != "1" ]]; then
  GOV_SKIP="disabled by BENCH_GOVERNANCE=$BENCH_GOVERNANCE"
else
  configure_governance
fi
[[ -z "$GOV_SKIP" ]] || log "governance rows skipped: $GOV_SKIP"

sleep 1
IDLE_RSS_KB="$(rss_kb "$GW_PID" VmRSS)"
log "gateway idle RSS ${IDLE_RSS_KB} kB"

# --- 6. scenarios ---------------------------------------------------------------------------
COMMON=(--duration "$BENCH_DURATION" --warmup "$BENCH_WARMUP" --threads "$BENCH_LOADGEN_THREADS" --json --clk-tck "$CLK_TCK")
: >"$TMP/runs.txt"
: >"$TMP/commands.txt"

# run_load GROUP ID NAME TARGET PROXY_PIDS URL LOG ARGS... : one loadgen run, recorded in
# runs.txt. PROXY_PIDS (comma list, may be empty) and the mock are CPU-probed; LOG (may be
# empty) is the proxy's log file, whose growth over the run is recorded.
run_load() {
  local group="$1" id="$2" name="$3" target="$4" pids="$5" url="$6" logf="$7"
  shift 7
  local out="$TMP/runs/$group.$id.$target.json" cpu=(--cpu "mock=$MOCK_PID") before=0 after=0
  [[ -z "$pids" ]] || cpu+=(--cpu "proxy=$pids")
  [[ -z "$logf" ]] || before="$(stat -c %s "$logf")"
  log "$group $id ($name): $target"
  echo "$group $id $target: loadgen --url $url $(printf '%q ' "$@" "${COMMON[@]}")" |
    sed 's/mg-[A-Za-z0-9_-]*/<vkey>/g' >>"$TMP/commands.txt"
  if ! RUST_BACKTRACE=0 "$LOADGEN_BIN" --url "$url" "$@" "${COMMON[@]}" "${cpu[@]}" >"$out" 2>"$out.err"; then
    cat "$out.err" >&2
    check_alive "during $group $id ($name) against $target"
    die "loadgen failed in $group $id ($name) against $target"
  fi
  check_alive "during $group $id ($name) against $target"
  [[ -z "$logf" ]] || after="$(stat -c %s "$logf")"
  echo "run|$group|$id|$name|$target|$out|$((after - before))" >>"$TMP/runs.txt"
}
skip_group() { echo "skip|$1|$(printf '%s' "$2" | tr '|\n' '/ ')" >>"$TMP/runs.txt"; }

DIRECT_URL="http://127.0.0.1:$MOCK_PORT/v1/chat/completions"
DIRECT_AUTH=(--header "Authorization: Bearer sk-mock-upstream")
SCENARIOS=(
  "a|c=1 non-stream|--concurrency 1"
  "b|c=1 stream|--concurrency 1 --stream"
  "c|c=64 non-stream|--concurrency 64"
  "d|c=64 stream|--concurrency 64 --stream"
  "e|${BENCH_RATE} req/s non-stream (open loop)|--rate $BENCH_RATE"
)
scenario_args() {
  local sc
  for sc in "${SCENARIOS[@]}"; do
    IFS='|' read -r SC_ID SC_NAME SC_ARGS <<<"$sc"
    [[ "$SC_ID" == "$1" ]] && return 0
  done
  return 1
}

[[ -z "$NGINX_SKIP" ]] || skip_group nginx "$NGINX_SKIP"
for sc in "${SCENARIOS[@]}"; do
  IFS='|' read -r id name args <<<"$sc"
  read -r -a extra <<<"$args"
  run_load main "$id" "$name" direct "" "$DIRECT_URL" "" "${DIRECT_AUTH[@]}" "${extra[@]}"
  if [[ -n "$NGINX_URL" ]]; then
    run_load main "$id" "$name" nginx "$NGINX_PIDS" "$NGINX_URL/v1/chat/completions" "" \
      "${DIRECT_AUTH[@]}" "${extra[@]}"
  fi
  run_load main "$id" "$name" gateway "$GW_PID" "$MAIN_GW/v1/chat/completions" "$MAIN_GW_LOG" \
    --header "Authorization: Bearer $VKEY" "${extra[@]}"
done
PEAK_RSS_KB="$(rss_kb "$GW_PID" VmHWM)"
NGINX_PEAK_KB=0
if [[ -n "$NGINX_PIDS" ]]; then
  for p in ${NGINX_PIDS//,/ }; do NGINX_PEAK_KB=$((NGINX_PEAK_KB + $(rss_kb "$p" VmHWM))); done
fi

if [[ -z "$CROSS_SKIP" ]]; then
  for id in a b c; do
    scenario_args "$id"
    read -r -a extra <<<"$SC_ARGS"
    run_load cross "$id" "$SC_NAME" gateway "$GW_PID" "$MAIN_GW/v1/messages" "$MAIN_GW_LOG" \
      --header "x-api-key: $VKEY" --header "anthropic-version: 2023-06-01" \
      --body-file "$TMP/anthropic.json" "${extra[@]}"
  done
else
  skip_group cross "$CROSS_SKIP"
fi

run_governance() {
  local group="$1" id
  for id in a b c d; do
    scenario_args "$id"
    read -r -a extra <<<"$SC_ARGS"
    run_load "$group" "$id" "$SC_NAME" gateway "$GW_PID" "$GW/v1/chat/completions" "$GW_LOG" \
      --header "Authorization: Bearer $GOV_VKEY" --body "$GOV_BODY" "${extra[@]}"
  done
}
if [[ -z "$GOV_SKIP" ]]; then run_governance gov; else skip_group gov "$GOV_SKIP"; fi
END_PEAK_RSS_KB="$(rss_kb "$GW_PID" VmHWM)"
stop_gateway

# The access log's cost: scenario (c) again on a fresh gateway at warn.
if [[ "$BENCH_WARN_PASS" == "1" && "$BENCH_LOG_LEVEL" != "warn" ]]; then
  if ! start_gateway warn warn; then die "$START_ERR"; fi
  configure_gateway
  sanity_chat
  scenario_args c
  read -r -a extra <<<"$SC_ARGS"
  run_load warn c "$SC_NAME" gateway "$GW_PID" "$GW/v1/chat/completions" "$GW_LOG" \
    --header "Authorization: Bearer $VKEY" "${extra[@]}"
  stop_gateway
fi

# redis_reachable URL : succeeds if a TCP connection to the URL's host and port opens within
# 2 s; otherwise prints why and fails.
redis_reachable() {
  python3 - "$1" <<'PY'
import socket, sys
from urllib.parse import urlsplit
u = urlsplit(sys.argv[1])
try:
    host, port = u.hostname, u.port or 6379
    if u.scheme not in ("redis", "rediss") or not host:
        raise ValueError("not a redis:// URL")
    socket.create_connection((host, port), timeout=2).close()
except (OSError, ValueError) as e:
    print(f"cannot reach BENCH_REDIS_URL ({u.scheme}://{u.hostname}:{u.port or 6379}): {e}")
    sys.exit(1)
PY
}

# Governance against a gateway that keeps its counters in Redis.
if [[ -n "$BENCH_REDIS_URL" ]]; then
  if [[ "$BENCH_GOVERNANCE" != "1" ]]; then
    skip_group gov-redis "disabled by BENCH_GOVERNANCE=$BENCH_GOVERNANCE"
  elif ! redis_err="$(redis_reachable "$BENCH_REDIS_URL")"; then
    skip_group gov-redis "$redis_err"
  elif ! start_gateway redis "$BENCH_LOG_LEVEL" REDIS_URL="$BENCH_REDIS_URL"; then
    skip_group gov-redis "$START_ERR"
  else
    configure_gateway
    sanity_chat
    configure_governance
    if [[ -z "$GOV_SKIP" ]]; then run_governance gov-redis; else skip_group gov-redis "$GOV_SKIP"; fi
    stop_gateway
  fi
fi

# --- 7. report ------------------------------------------------------------------------------
COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ "$COMMIT" != unknown ]] && [[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
  COMMIT="$COMMIT (dirty)"
fi
mkdir -p "$ROOT/bench/results"
REPORT="$ROOT/bench/results/latest.md"
NGINX_VERSION=""
[[ -z "$NGINX_BIN" ]] || NGINX_VERSION="$("$NGINX_BIN" -v 2>&1 | sed 's/^nginx version: //')"

# How much of the link order (crates/server/symbol-order.txt) the measured binary still has:
# idle RSS depends on it.
LINK_ORDER="$("$ROOT/scripts/symbol-order" --check "$GATEWAY_BIN" 2>&1 || true)"

BENCH_TMP="$TMP" COMMIT="$COMMIT" DATE="$(date -u '+%Y-%m-%dT%H:%M:%SZ')" NPROC="$(nproc)" \
  KERNEL="$(uname -sr)" CPU="$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || true)" \
  IDLE_RSS_KB="$IDLE_RSS_KB" PEAK_RSS_KB="$PEAK_RSS_KB" END_PEAK_RSS_KB="$END_PEAK_RSS_KB" \
  NGINX_PEAK_KB="$NGINX_PEAK_KB" NGINX_VERSION="$NGINX_VERSION" COMMAND_LINE="$COMMAND_LINE" \
  BENCH_UPSTREAMS="$BENCH_UPSTREAMS" BENCH_MOCK_THREADS="$BENCH_MOCK_THREADS" \
  BENCH_LOADGEN_THREADS="$BENCH_LOADGEN_THREADS" BENCH_DURATION="$BENCH_DURATION" \
  BENCH_WARMUP="$BENCH_WARMUP" BENCH_LOG_LEVEL="$BENCH_LOG_LEVEL" \
  BENCH_NGINX_WORKERS="$BENCH_NGINX_WORKERS" CLK_TCK="$CLK_TCK" LINK_ORDER="$LINK_ORDER" \
  python3 - >"$REPORT" <<'PY'
import json, os

E = os.environ
tmp = E["BENCH_TMP"]

runs = {}      # (group, id, target) -> result dict (with "log_bytes")
order = {}     # group -> [(id, name)] in run order
skips = {}     # group -> reason
with open(f"{tmp}/runs.txt") as f:
    for line in f:
        parts = line.rstrip("\n").split("|")
        if parts[0] == "skip":
            skips[parts[1]] = parts[2]
            continue
        _, group, sid, name, target, path, log_bytes = parts
        with open(path) as jf:
            r = json.load(jf)
        r["log_bytes"] = int(log_bytes)
        runs[(group, sid, target)] = r
        ids = order.setdefault(group, [])
        if (sid, name) not in ids:
            ids.append((sid, name))

def ms(v):
    return "-" if v is None else f"{v:.3f}"

def get(r, key, p="p50"):
    if r is None:
        return None
    return (r.get(key) or {}).get(p)

def trio(r, key):
    return " / ".join(ms(get(r, key, p)) for p in ("p50", "p90", "p99"))

def diff(a, b):
    return None if a is None or b is None else a - b

def signed(v):
    return "-" if v is None else f"{v:+.3f}"

def cpu(r, label="proxy"):
    if r is None:
        return None
    return ((r.get("cpu") or {}).get(label) or {}).get("us_per_req")

def us(v):
    return "-" if v is None else f"{v:.1f}"

def ratio(a, b):
    return None if a is None or not b else a / b

def x(v):
    return "-" if v is None else f"{v:.2f}×"

def errs(r):
    if not r["errors"]:
        return "0"
    return str(r["errors"]) + " (" + ", ".join(f"{k}: {v}" for k, v in r["errors_by_kind"].items()) + ")"

def mib(kb):
    try:
        return f"{int(kb) / 1024:.1f} MiB"
    except (TypeError, ValueError):
        return "n/a"

out = []
p = out.append
p("# modelgate gateway overhead benchmark")
p("")
p(f"- commit: `{E['COMMIT']}`")
p(f"- date (UTC): {E['DATE']}")
p(f"- nproc: {E['NPROC']} ({E.get('CPU') or 'unknown CPU'}; {E['KERNEL']})")
p(f"- command: `{E['COMMAND_LINE']}`")
p(f"- per run: {E['BENCH_DURATION']} s measured after {E['BENCH_WARMUP']} s warm-up; mock threads "
  f"{E['BENCH_MOCK_THREADS']}, loadgen threads {E['BENCH_LOADGEN_THREADS']}, upstreams {E['BENCH_UPSTREAMS']}; "
  f"gateway LOG_LEVEL={E['BENCH_LOG_LEVEL']}")
if "nginx" in skips:
    p(f"- nginx: **skipped: {skips['nginx']}**")
else:
    p(f"- nginx: {E['NGINX_VERSION']}, {E['BENCH_NGINX_WORKERS']} workers, bare reverse proxy (bench/nginx/nginx.conf.in)")
p(f"- CPU: utime + stime from /proc/<pid>/stat (all threads; nginx: master + workers) over the measured window, "
  f"divided by the successful requests of that window; resolution 1/{E['CLK_TCK']} s per process")
p(f"- generator, mock upstream and the proxy all share the same {E['NPROC']} cores: compare rows of one report, not absolute numbers")
p(f"- link order of the gateway's functions (scripts/symbol-order --check): {E.get('LINK_ORDER') or 'n/a'}")
p("")

# --- main table
p("## Scenarios")
p("")
p("| Scenario | Target | req/s | req/s × nginx | p50 / p90 / p99 ms | Added p50 / p99 ms | TTFB p50 / p90 / p99 ms | Added TTFB p50 ms | Proxy CPU µs/req | CPU × nginx | Mock CPU µs/req | Errors |")
p("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
for sid, name in order.get("main", []):
    d = runs.get(("main", sid, "direct"))
    n = runs.get(("main", sid, "nginx"))
    for target in ("direct", "nginx", "gateway"):
        r = runs.get(("main", sid, target))
        if r is None:
            continue
        stream = r["stream"]
        is_d = target == "direct"
        vs_n = target == "gateway" and n is not None
        p("| {sc} | {t} | {rps:.0f} | {rx} | {lat} | {add} | {tt} | {att} | {pc} | {cx} | {mc} | {e} |".format(
            sc=f"{sid}) {name}", t=target.upper(), rps=r["rps"],
            rx=x(ratio(r["rps"], n["rps"])) if vs_n else "-",
            lat=trio(r, "latency_ms"),
            add="-" if is_d else signed(diff(get(r, "latency_ms"), get(d, "latency_ms"))) + " / " +
                signed(diff(get(r, "latency_ms", "p99"), get(d, "latency_ms", "p99"))),
            tt=trio(r, "ttfb_ms") if stream else "-",
            att=signed(diff(get(r, "ttfb_ms"), get(d, "ttfb_ms"))) if stream and not is_d else "-",
            pc="-" if is_d else us(cpu(r)),
            cx=x(ratio(cpu(r), cpu(n))) if vs_n else "-",
            mc=us(cpu(r, "mock")), e=errs(r)))
p("")

def m(group, sid, target="gateway"):
    return runs.get((group, sid, target))

# --- targets
idle, peak = E.get("IDLE_RSS_KB"), E.get("PEAK_RSS_KB")
def verdict(v, ok):
    return "n/a" if v is None else ("yes" if ok(v) else "**no**")
rows = []
for sid, label in (("c", "c=64 non-stream"), ("d", "c=64 stream")):
    g, n = m("main", sid), m("main", sid, "nginx")
    if g is None:
        continue
    t = ratio(g["rps"], n["rps"]) if n else None
    rows.append((f"throughput {label} ≥ 60% of nginx", "-" if t is None else f"{t:.0%} ({g['rps']:.0f} vs {n['rps']:.0f} req/s)", verdict(t, lambda v: v >= 0.6)))
    c = ratio(cpu(g), cpu(n)) if n else None
    rows.append((f"CPU per request {label} ≤ 2× nginx", "-" if c is None else f"{c:.2f}× ({us(cpu(g))} vs {us(cpu(n))} µs)", verdict(c, lambda v: v <= 2.0)))
g, d = m("main", "a"), m("main", "a", "direct")
if g is not None and d is not None:
    a = diff(get(g, "latency_ms"), get(d, "latency_ms"))
    rows.append(("added p50 at c=1 non-stream ≤ 0.1 ms over direct", signed(a) + " ms", verdict(a, lambda v: v <= 0.1)))
g, d = m("main", "b"), m("main", "b", "direct")
if g is not None and d is not None:
    a = diff(get(g, "ttfb_ms"), get(d, "ttfb_ms"))
    rows.append(("streamed TTFB added (c=1, p50) ≤ 0.2 ms", signed(a) + " ms", verdict(a, lambda v: v <= 0.2)))
try:
    rows.append(("idle RSS ≤ 20 MiB", mib(idle), verdict(int(idle) / 1024, lambda v: v <= 20)))
    rows.append(("peak RSS under that load ≤ 64 MiB", mib(peak) + " (VmHWM after the scenarios above)", verdict(int(peak) / 1024, lambda v: v <= 64)))
except (TypeError, ValueError):
    pass
p(f"## Against the targets (one run, LOG_LEVEL={E['BENCH_LOG_LEVEL']})")
p("")
p("| Target | Measured | Met? |")
p("|---|---|---|")
for r in rows:
    p("| " + " | ".join(r) + " |")
p("")

# --- access log
p("## Access log cost (scenario c, c=64 non-stream)")
p("")
gi, gw = m("main", "c"), m("warn", "c")
if gw is None or gi is None:
    p(f"Not measured (BENCH_WARN_PASS=0, or BENCH_LOG_LEVEL is already warn).")
else:
    p("| Gateway | req/s | p50 / p90 / p99 ms | Proxy CPU µs/req | Log bytes/request | Errors |")
    p("|---|---:|---:|---:|---:|---|")
    for lvl, r in ((E["BENCH_LOG_LEVEL"], gi), ("warn", gw)):
        lb = r["log_bytes"] / r["sent_total"] if r.get("sent_total") else None
        p(f"| LOG_LEVEL={lvl} | {r['rps']:.0f} | {trio(r, 'latency_ms')} | {us(cpu(r))} | {'-' if lb is None else f'{lb:.0f}'} | {errs(r)} |")
    t = ratio(gi["rps"], gw["rps"])
    dc = diff(cpu(gi), cpu(gw))
    p("")
    p(f"At LOG_LEVEL={E['BENCH_LOG_LEVEL']} the gateway serves {'-' if t is None else f'{t:.0%}'} of its warn throughput "
      f"and uses {'-' if dc is None else f'{dc:+.1f}'} µs CPU per request more (the warn gateway is a second, "
      f"fresh process run later in the same report).")
p("")

# --- cross-dialect and governance
def variant_table(group, title, desc, base_label):
    p(f"## {title}")
    p("")
    p(desc)
    p("")
    if group in skips:
        p(f"skipped: {skips[group]}")
        p("")
        return
    if group not in order:
        p("not run")
        p("")
        return
    p(f"| Scenario | req/s | req/s × {base_label} | p50 / p90 / p99 ms | Added p50 ms vs direct | TTFB p50 / p90 / p99 ms | Added TTFB p50 ms vs direct | Proxy CPU µs/req | Δ CPU µs/req vs {base_label} | Mock CPU µs/req | Errors |")
    p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for sid, name in order[group]:
        r, base, d = m(group, sid), m("main", sid), m("main", sid, "direct")
        stream = r["stream"]
        dc = diff(cpu(r), cpu(base))
        p("| {sc} | {rps:.0f} | {rx} | {lat} | {add} | {tt} | {att} | {pc} | {dc} | {mc} | {e} |".format(
            sc=f"{sid}) {name}", rps=r["rps"], rx=x(ratio(r["rps"], base["rps"] if base else None)),
            lat=trio(r, "latency_ms"), add=signed(diff(get(r, "latency_ms"), get(d, "latency_ms"))),
            tt=trio(r, "ttfb_ms") if stream else "-",
            att=signed(diff(get(r, "ttfb_ms"), get(d, "ttfb_ms"))) if stream else "-",
            pc=us(cpu(r)), dc="-" if dc is None else f"{dc:+.1f}", mc=us(cpu(r, "mock")), e=errs(r)))
    p("")

variant_table("cross", "Cross-dialect: Anthropic Messages client → OpenAI mock",
              "`POST /v1/messages` with `x-api-key` and `anthropic-version: 2023-06-01` through the gateway; "
              "compared with the same-dialect GATEWAY row and with the OpenAI DIRECT row of the same scenario.",
              "same-dialect")
variant_table("gov", "Governance: key with rpm/tpm limits, a balance, provider free credit",
              "Virtual key with rpm and tpm far above the load and `balance` 1000000.00, on provider `mockgov` "
              "(same mock) with a 5.00 money free credit; compared with the plain GATEWAY row.", "plain key")
if "gov-redis" in order or "gov-redis" in skips:
    variant_table("gov-redis", "Governance with REDIS_URL set",
                  "The governance rows again, on a fresh gateway started with `REDIS_URL`.", "plain key")

p(f"Gateway memory: idle RSS {mib(idle)} (VmRSS after setup, before load), peak RSS {mib(peak)} "
  f"(VmHWM after the scenarios table), {mib(E.get('END_PEAK_RSS_KB'))} after the cross-dialect and governance rows."
  + ("" if "nginx" in skips else f" nginx peak RSS (sum of VmHWM of master and workers): {mib(E.get('NGINX_PEAK_KB'))}."))
p("")
p("Latency is until the last body byte; TTFB is until the first body byte (streams only). Added = this row minus "
  "DIRECT for the same scenario. Closed-loop req/s is throughput at that concurrency; for the open-loop scenario "
  "req/s is the offered rate when the target keeps up, and latency is measured from the scheduled send time.")
p("")
p("<details><summary>Per-run details and loadgen commands</summary>")
p("")
for (group, sid, target), r in runs.items():
    extra = f", in-flight cap waits {r['inflight_cap_waits']}" if r["mode"] == "open" else ""
    cpus = ", ".join(f"{k} {v['cpu_s']:.2f} s ({v['ticks']} ticks)" for k, v in (r.get("cpu") or {}).items())
    p(f"- {group} {sid}) {target}: {r['requests']} requests, {r['ok']} ok, {r.get('sent_total', '-')} sent with warm-up, "
      f"max latency {ms(get(r, 'latency_ms', 'max'))} ms, mean {ms(get(r, 'latency_ms', 'mean'))} ms{extra}; CPU {cpus}")
p("")
p("```")
with open(f"{tmp}/commands.txt") as f:
    p(f.read().rstrip("\n"))
p("```")
p("")
p("</details>")
print("\n".join(out))
PY

cat "$REPORT"
log "report written to $REPORT"
