#!/usr/bin/env bash
# The gateway's user-space instructions per request, counted by valgrind's callgrind: a
# measure that does not move with the machine's load, for comparing two builds of the hot
# path (docs/PERFORMANCE.md, "Instructions per request"). CPU time per request (bench/run.sh)
# is what users pay; it varies ±10% from run to run on a shared 2-core box, which hides
# changes of a few per cent. This counts what the gateway's own code executes: no kernel
# time, no waiting, and valgrind runs the gateway on one thread at a time.
#
# It starts the mock upstream and a release gateway under callgrind (instrumentation off
# while it starts and is configured like bench/run.sh: one provider `mock`, model
# `bench-model`, one plain virtual key), warms up for 3 s, then counts over 6 s of loadgen
# at concurrency 4, request log and access log on (LOG_LEVEL=info), and prints the
# instructions per request with the functions that take the most (inclusive).
#
# Usage: bench/instructions.sh [--stream] [TOP]   (CARGO_TARGET_DIR as for cargo; needs
#        valgrind and the release binaries of modelgate-server and modelgate-bench)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/release"
STREAM=""
if [[ "${1:-}" == "--stream" ]]; then
  STREAM=',"stream":true'
  shift
fi
TOP="${1:-30}"
for b in modelgate mock_upstream loadgen; do
  [[ -x "$BIN_DIR/$b" ]] || { echo "missing $BIN_DIR/$b (cargo build --release -p modelgate-server; cargo build --release -p modelgate-bench)" >&2; exit 2; }
done
command -v valgrind >/dev/null || { echo "valgrind is required (apt-get install -y valgrind)" >&2; exit 2; }

TMP="$(mktemp -d)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

"$BIN_DIR/mock_upstream" --threads 1 --port 0 >"$TMP/mock.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do grep -q '^listening ' "$TMP/mock.out" && break; sleep 0.05; done
MOCK_PORT="$(sed -n 's/^listening .*:\([0-9][0-9]*\)$/\1/p' "$TMP/mock.out")"
[[ -n "$MOCK_PORT" ]] || { echo "mock upstream did not start" >&2; exit 1; }

PORT="$(free_port)"
GW="http://127.0.0.1:$PORT"
# The MIMALLOC_* variables spare the gateway its allocator re-exec (src/main.rs), which
# would leave valgrind behind.
env MIMALLOC_ARENA_EAGER_COMMIT=0 MIMALLOC_PURGE_DELAY=10 \
  MODELGATE_ADMIN_KEY=instr-admin-key MODELGATE_SECRET_KEY=instr-secret LOG_LEVEL=info \
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$TMP/callgrind.out" \
  "$BIN_DIR/modelgate" serve --host 127.0.0.1 --port "$PORT" --data-dir "$TMP/data" >"$TMP/gw.log" 2>&1 &
GW_PID=$!
PIDS+=("$GW_PID")
for _ in $(seq 600); do
  [[ "$(curl -s -o /dev/null -w '%{http_code}' "$GW/health" || true)" == 200 ]] && break
  sleep 0.1
done
A="Authorization: Bearer instr-admin-key"
curl -sf -X POST "$GW/providers" -H "$A" -H 'Content-Type: application/json' \
  --data "{\"name\":\"mock\",\"kind\":\"openai_compatible\",\"base_url\":\"http://127.0.0.1:$MOCK_PORT/v1\",\"api_keys\":[{\"alias\":\"k1\",\"key\":\"sk-mock-upstream\"}]}" >/dev/null
curl -sf -X POST "$GW/providers/mock/models" -H "$A" -H 'Content-Type: application/json' \
  --data '{"model_id":"bench-model","provider_model_id":"mock-model"}' >/dev/null
VKEY="$(curl -sf -X POST "$GW/admin/api-keys" -H "$A" -H 'Content-Type: application/json' \
  --data '{"name":"instr"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')"

BODY="{\"model\":\"bench-model\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]$STREAM}"
load() {
  "$BIN_DIR/loadgen" --url "$GW/v1/chat/completions" --header "Authorization: Bearer $VKEY" \
    --body "$BODY" --concurrency 4 --duration "$1" --warmup 0 ${STREAM:+--stream}
}
load 3 >/dev/null
callgrind_control -i on "$GW_PID" >/dev/null 2>&1
load 6 >"$TMP/load.txt"
sleep 0.5 # the request-log writer's tick: its rows are counted with their requests
callgrind_control -d "$GW_PID" >/dev/null 2>&1
N="$(sed -n 's/^requests: *\([0-9][0-9]*\).*/\1/p' "$TMP/load.txt")"
[[ -n "$N" && "$N" -gt 0 ]] || { cat "$TMP/load.txt" >&2; echo "no requests counted" >&2; exit 1; }
DUMP="$(ls "$TMP"/callgrind.out.* 2>/dev/null | sort | tail -n 1 || true)"
[[ -n "$DUMP" ]] || { echo "callgrind wrote no dump" >&2; exit 1; }

echo "requests: $N (${STREAM:+streamed, }concurrency 4, under callgrind)"
callgrind_annotate "$DUMP" 2>/dev/null | awk -v n="$N" '/PROGRAM TOTALS/ {
  x = $1; gsub(",", "", x); printf "instructions per request: %.0f\n", x / n }'
echo "inclusive, per request:"
callgrind_annotate --inclusive=yes "$DUMP" 2>/dev/null | awk -v n="$N" -v top="$TOP" '
  /file:function/ { f = 1; next }
  f && $1 ~ /^[0-9,]+$/ {
    x = $1; gsub(",", "", x)
    s = $0; sub(/^ *[0-9,]+ *\([^)]*\) */, "", s); sub(/^\?\?\?:/, "", s); sub(/ \[.*$/, "", s)
    printf "%9.0f  %s\n", x / n, substr(s, 1, 120)
    if (++k >= top) exit
  }'
