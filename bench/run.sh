#!/usr/bin/env bash
# Gateway overhead benchmark: loadgen -> mock upstream (DIRECT) versus
# loadgen -> modelgate -> mock upstream (GATEWAY), scenario by scenario, in one run.
#
# Usage:  bench/run.sh
# Knobs (environment):
#   BENCH_DURATION        measured seconds per run                  (default 10)
#   BENCH_WARMUP          warm-up seconds per run, not counted      (default 2)
#   BENCH_MOCK_THREADS    mock upstream tokio worker threads        (default 1)
#   BENCH_LOADGEN_THREADS load generator tokio worker threads       (default 1)
#   BENCH_UPSTREAMS       number of mock upstream ports/providers   (default 1; 1 or 3)
#   BENCH_RATE            open-loop rate for scenario (e), req/s    (default 1000)
#   BENCH_SKIP_BUILD      set to 1 to skip `cargo build --release`  (default unset)
# Output: a markdown report on stdout and in bench/results/latest.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

BENCH_DURATION="${BENCH_DURATION:-10}"
BENCH_WARMUP="${BENCH_WARMUP:-2}"
BENCH_MOCK_THREADS="${BENCH_MOCK_THREADS:-1}"
BENCH_LOADGEN_THREADS="${BENCH_LOADGEN_THREADS:-1}"
BENCH_UPSTREAMS="${BENCH_UPSTREAMS:-1}"
BENCH_RATE="${BENCH_RATE:-1000}"

COMMAND_LINE="BENCH_DURATION=$BENCH_DURATION BENCH_WARMUP=$BENCH_WARMUP BENCH_MOCK_THREADS=$BENCH_MOCK_THREADS BENCH_LOADGEN_THREADS=$BENCH_LOADGEN_THREADS BENCH_UPSTREAMS=$BENCH_UPSTREAMS BENCH_RATE=$BENCH_RATE bench/run.sh${*:+ $*}"

case "$BENCH_UPSTREAMS" in
  1 | 3) ;;
  *) echo "BENCH_UPSTREAMS must be 1 or 3 (got $BENCH_UPSTREAMS)" >&2; exit 2 ;;
esac
command -v curl >/dev/null || { echo "curl is required" >&2; exit 2; }
command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 2; }

log() { echo "[bench] $*" >&2; }

TMP="$(mktemp -d "${TMPDIR:-/tmp}/modelgate-bench.XXXXXX")"
MOCK_PID=""
GW_PID=""

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for pid in "$GW_PID" "$MOCK_PID"; do
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
    fi
  done
  for pid in "$GW_PID" "$MOCK_PID"; do
    if [[ -n "$pid" ]]; then
      # Give it 5 s to exit on SIGTERM, then SIGKILL.
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  if [[ $rc -ne 0 && -f "$TMP/gateway.log" ]]; then
    echo "---- last 40 lines of the gateway log ----" >&2
    tail -n 40 "$TMP/gateway.log" >&2 || true
  fi
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- 1. build -------------------------------------------------------------------------------
if [[ "${BENCH_SKIP_BUILD:-}" != "1" ]]; then
  log "building release binaries"
  cargo build --release -p modelgate-server -p modelgate-bench >&2
fi
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
GATEWAY_BIN="$TARGET_DIR/release/modelgate"
MOCK_BIN="$TARGET_DIR/release/mock_upstream"
LOADGEN_BIN="$TARGET_DIR/release/loadgen"
for b in "$GATEWAY_BIN" "$MOCK_BIN" "$LOADGEN_BIN"; do
  [[ -x "$b" ]] || { echo "missing binary $b" >&2; exit 1; }
done

# --- 2. mock upstream -------------------------------------------------------------------------
MOCK_ARGS=(--threads "$BENCH_MOCK_THREADS")
for _ in $(seq "$BENCH_UPSTREAMS"); do MOCK_ARGS+=(--port 0); done
"$MOCK_BIN" "${MOCK_ARGS[@]}" >"$TMP/mock.out" 2>"$TMP/mock.err" &
MOCK_PID=$!
for _ in $(seq 100); do
  [[ "$(grep -c '^listening ' "$TMP/mock.out" 2>/dev/null || true)" -ge "$BENCH_UPSTREAMS" ]] && break
  kill -0 "$MOCK_PID" 2>/dev/null || { cat "$TMP/mock.err" >&2; echo "mock upstream died" >&2; exit 1; }
  sleep 0.05
done
mapfile -t MOCK_PORTS < <(sed -n 's/^listening .*:\([0-9][0-9]*\)$/\1/p' "$TMP/mock.out")
[[ "${#MOCK_PORTS[@]}" -eq "$BENCH_UPSTREAMS" ]] || { echo "mock upstream did not start" >&2; exit 1; }
MOCK_PORT="${MOCK_PORTS[0]}"
log "mock upstream pid $MOCK_PID on port(s) ${MOCK_PORTS[*]}"

# --- 3. gateway -----------------------------------------------------------------------------
GW_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
mkdir -p "$TMP/data"
MODELGATE_ADMIN_KEY=bench-admin-key MODELGATE_SECRET_KEY=bench-secret LOG_LEVEL=warn \
  "$GATEWAY_BIN" serve --host 127.0.0.1 --port "$GW_PORT" --data-dir "$TMP/data" \
  >"$TMP/gateway.log" 2>&1 &
GW_PID=$!
GW="http://127.0.0.1:$GW_PORT"
log "gateway pid $GW_PID on port $GW_PORT, data dir $TMP/data"

deadline=$((SECONDS + 30))
until [[ "$(curl -s -o /dev/null -w '%{http_code}' "$GW/health" || true)" == "200" ]]; do
  kill -0 "$GW_PID" 2>/dev/null || { echo "gateway exited during start-up" >&2; exit 1; }
  if ((SECONDS >= deadline)); then echo "gateway /health not 200 after 30 s" >&2; exit 1; fi
  sleep 0.2
done
log "gateway healthy"

ADMIN_AUTH="Authorization: Bearer bench-admin-key"
# admin_post PATH JSON EXPECTED_STATUS -> response body on stdout
admin_post() {
  local path="$1" body="$2" want="$3" code
  code="$(curl -s -o "$TMP/resp.json" -w '%{http_code}' -X POST "$GW$path" \
    -H "$ADMIN_AUTH" -H 'Content-Type: application/json' --data "$body")" || true
  if [[ "$code" != "$want" ]]; then
    echo "POST $path: expected $want, got $code: $(cat "$TMP/resp.json" 2>/dev/null)" >&2
    exit 1
  fi
  cat "$TMP/resp.json"
}

if [[ "$BENCH_UPSTREAMS" == "1" ]]; then
  admin_post /providers "{\"name\":\"mock\",\"kind\":\"openai_compatible\",\"base_url\":\"http://127.0.0.1:$MOCK_PORT/v1\",\"api_keys\":[{\"alias\":\"k1\",\"key\":\"sk-mock-upstream\"}]}" 201 >/dev/null
  admin_post /providers/mock/models '{"model_id":"bench-model","provider_model_id":"mock-model"}' 201 >/dev/null
else
  # ---------------------------------------------------------------------------------------
  # Three providers mock1..mock3, one per mock port, each with a model implementation
  # `mock-model`, and ONE logical model "bench-model" over the three (strategy from
  # BENCH_STRATEGY, default weighted_random), so the gateway resolves, scores and balances
  # across all three on every request.
  ups=""
  for i in 1 2 3; do
    port="${MOCK_PORTS[$((i - 1))]}"
    admin_post /providers "{\"name\":\"mock$i\",\"kind\":\"openai_compatible\",\"base_url\":\"http://127.0.0.1:$port/v1\",\"api_keys\":[{\"alias\":\"k1\",\"key\":\"sk-mock-upstream\"}]}" 201 >/dev/null
    admin_post "/providers/mock$i/models" '{"model_id":"mock-model","provider_model_id":"mock-model"}' 201 >/dev/null
    ups="$ups${ups:+,}{\"provider\":\"mock$i\",\"model\":\"mock-model\",\"weight\":1}"
  done
  admin_post /logical-models "{\"name\":\"bench-model\",\"strategy\":\"${BENCH_STRATEGY:-weighted_random}\",\"upstreams\":[$ups]}" 201 >/dev/null
  # END ROUTING HOOK
fi
VKEY="$(admin_post /admin/api-keys '{"name":"bench"}' 201 |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')"
[[ "$VKEY" == mg-* ]] || { echo "unexpected virtual key format: ${VKEY:0:6}..." >&2; exit 1; }
log "configured provider(s) and virtual key"

# Sanity check: one request through the gateway (non-stream and stream) must succeed.
for body in '{"model":"bench-model","messages":[{"role":"user","content":"hi"}]}' \
  '{"model":"bench-model","messages":[{"role":"user","content":"hi"}],"stream":true}'; do
  code="$(curl -s -o "$TMP/resp.txt" -w '%{http_code}' "$GW/v1/chat/completions" \
    -H "Authorization: Bearer $VKEY" -H 'Content-Type: application/json' --data "$body")" || true
  if [[ "$code" != "200" ]] || ! grep -q 'Hello' "$TMP/resp.txt"; then
    echo "sanity request through the gateway failed ($code): $(head -c 500 "$TMP/resp.txt")" >&2
    exit 1
  fi
done

rss_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
sleep 1
IDLE_RSS_KB="$(rss_kb "$GW_PID" VmRSS)"
log "gateway idle RSS ${IDLE_RSS_KB} kB"

# --- 4. scenarios ---------------------------------------------------------------------------
DIRECT_URL="http://127.0.0.1:$MOCK_PORT/v1/chat/completions"
GATEWAY_URL="$GW/v1/chat/completions"
COMMON=(--duration "$BENCH_DURATION" --warmup "$BENCH_WARMUP" --threads "$BENCH_LOADGEN_THREADS" --json)

SCENARIOS=(
  "a|c=1 non-stream|--concurrency 1"
  "b|c=1 stream|--concurrency 1 --stream"
  "c|c=64 non-stream|--concurrency 64"
  "d|c=64 stream|--concurrency 64 --stream"
  "e|${BENCH_RATE} req/s non-stream (open loop)|--rate $BENCH_RATE"
)
: >"$TMP/commands.txt"
for sc in "${SCENARIOS[@]}"; do
  IFS='|' read -r id name args <<<"$sc"
  read -r -a extra <<<"$args"
  for side in direct gateway; do
    if [[ "$side" == direct ]]; then
      url="$DIRECT_URL"; auth="Authorization: Bearer sk-mock-upstream"
    else
      url="$GATEWAY_URL"; auth="Authorization: Bearer $VKEY"
    fi
    log "scenario $id ($name): $side"
    echo "$id $side: loadgen --url $url --header 'Authorization: Bearer <${side} key>' ${extra[*]} ${COMMON[*]}" >>"$TMP/commands.txt"
    "$LOADGEN_BIN" --url "$url" --header "$auth" "${extra[@]}" "${COMMON[@]}" >"$TMP/$id.$side.json"
  done
  echo "$id|$name" >>"$TMP/scenarios.txt"
done

PEAK_RSS_KB="$(rss_kb "$GW_PID" VmHWM)"
kill -0 "$GW_PID" 2>/dev/null || { echo "gateway died during the run" >&2; exit 1; }

# --- 5. report ------------------------------------------------------------------------------
COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ "$COMMIT" != unknown ]] && [[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
  COMMIT="$COMMIT (dirty)"
fi
mkdir -p "$ROOT/bench/results"
REPORT="$ROOT/bench/results/latest.md"

BENCH_TMP="$TMP" COMMIT="$COMMIT" DATE="$(date -u '+%Y-%m-%dT%H:%M:%SZ')" NPROC="$(nproc)" \
  KERNEL="$(uname -sr)" CPU="$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || true)" \
  IDLE_RSS_KB="$IDLE_RSS_KB" PEAK_RSS_KB="$PEAK_RSS_KB" COMMAND_LINE="$COMMAND_LINE" \
  BENCH_UPSTREAMS="$BENCH_UPSTREAMS" BENCH_MOCK_THREADS="$BENCH_MOCK_THREADS" \
  BENCH_LOADGEN_THREADS="$BENCH_LOADGEN_THREADS" BENCH_DURATION="$BENCH_DURATION" \
  BENCH_WARMUP="$BENCH_WARMUP" \
  python3 - >"$REPORT" <<'PY'
import json, os

tmp = os.environ["BENCH_TMP"]
E = os.environ

def load(sid, side):
    with open(f"{tmp}/{sid}.{side}.json") as f:
        return json.load(f)

def ms(v):
    return "-" if v is None else f"{v:.3f}"

def trio(r, key):
    s = r.get(key) or {}
    return " / ".join(ms(s.get(p)) for p in ("p50", "p90", "p99"))

def get(r, key, p):
    s = r.get(key) or {}
    return s.get(p)

def diff(g, d):
    return "-" if g is None or d is None else f"{g - d:+.3f}"

def errs(r):
    if not r["errors"]:
        return "0"
    return str(r["errors"]) + " (" + ", ".join(f"{k}: {v}" for k, v in r["errors_by_kind"].items()) + ")"

rows = []
details = []
with open(f"{tmp}/scenarios.txt") as f:
    scenarios = [line.rstrip("\n").split("|", 1) for line in f if line.strip()]
for sid, name in scenarios:
    d, g = load(sid, "direct"), load(sid, "gateway")
    ratio = f"{g['rps'] / d['rps']:.2f}" if d["rps"] else "-"
    stream = d["stream"]
    rows.append(
        "| {id}) {name} | {drps:.0f} | {grps:.0f} | {ratio} | {dlat} | {glat} | {a50} | {a99} | {dt} | {gt} | {de} / {ge} |".format(
            id=sid, name=name, drps=d["rps"], grps=g["rps"], ratio=ratio,
            dlat=trio(d, "latency_ms"), glat=trio(g, "latency_ms"),
            a50=diff(get(g, "latency_ms", "p50"), get(d, "latency_ms", "p50")),
            a99=diff(get(g, "latency_ms", "p99"), get(d, "latency_ms", "p99")),
            dt=trio(d, "ttfb_ms") if stream else "-",
            gt=trio(g, "ttfb_ms") if stream else "-",
            de=errs(d), ge=errs(g),
        )
    )
    for side, r in (("direct", d), ("gateway", g)):
        extra = f", in-flight cap waits {r['inflight_cap_waits']}" if r["mode"] == "open" else ""
        details.append(
            f"- {sid}) {side}: {r['requests']} requests, {r['ok']} ok, max latency "
            f"{ms(get(r, 'latency_ms', 'max'))} ms, mean {ms(get(r, 'latency_ms', 'mean'))} ms{extra}"
        )

def mib(kb):
    try:
        return f"{int(kb) / 1024:.1f} MiB"
    except (TypeError, ValueError):
        return "n/a"

with open(f"{tmp}/commands.txt") as f:
    commands = f.read().rstrip("\n")

print(f"""# modelgate gateway overhead benchmark

- commit: `{E['COMMIT']}`
- date (UTC): {E['DATE']}
- nproc: {E['NPROC']} ({E.get('CPU') or 'unknown CPU'}; {E['KERNEL']})
- command: `{E['COMMAND_LINE']}`
- per run: {E['BENCH_DURATION']} s measured after {E['BENCH_WARMUP']} s warm-up; mock threads {E['BENCH_MOCK_THREADS']}, loadgen threads {E['BENCH_LOADGEN_THREADS']}, upstreams {E['BENCH_UPSTREAMS']}
- generator, mock upstream and gateway all share the same {E['NPROC']} cores: absolute numbers are a lower bound, compare DIRECT and GATEWAY columns

| Scenario | Direct req/s | Gateway req/s | Ratio G/D | Direct p50 / p90 / p99 ms | Gateway p50 / p90 / p99 ms | Added p50 ms | Added p99 ms | Direct TTFB p50 / p90 / p99 ms | Gateway TTFB p50 / p90 / p99 ms | Errors D / G |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|
""" + "\n".join(rows) + f"""

Gateway memory: idle RSS {mib(E['IDLE_RSS_KB'])} (VmRSS after setup, before load), peak RSS {mib(E['PEAK_RSS_KB'])} (VmHWM at the end of the run).

Latency is until the last body byte; TTFB is until the first body byte (streams only).
Closed-loop req/s is throughput at that concurrency; for the open-loop scenario req/s is the
offered rate when the target keeps up, and latency is measured from the scheduled send time.

<details><summary>Per-run details and loadgen commands</summary>

""" + "\n".join(details) + """

```
""" + commands + """
```

</details>""")
PY

cat "$REPORT"
log "report written to $REPORT"
