#!/usr/bin/env bash
# `make bench-gateway`: drives /v1/chat/completions directly against the fake upstream
# (upstream/: nginx + Lua), through Switchyard (chat-api + router + keyvault + NATS + PostgreSQL,
# platform access and a user's own key), through LiteLLM's proxy and through Portkey's gateway,
# interleaved in one measure.py run; then prints our targets as ratios to the peers (compare.py).
#   CONC=1,8,32 DURATION=10 WARMUP=2 REPS=3 OUT=test-output/bench-gateway bench/gateway/run.sh
# FLOOR=1 adds floor.py: the bare hops of our architecture (a lower bound for us) and the edge
# alone without the gRPC hop (floor-direct); STACK=0 leaves the Switchyard stack out, LITELLM=0
# LiteLLM, PORTKEY=0 Portkey; MODES=nonstream measures non-streaming only.
# Needs `make bench-setup` once (wrk, nginx + Lua; LiteLLM and Portkey outside the repository).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PY="$ROOT/.venv/bin/python"
CONC="${CONC:-1,8,32}"; DURATION="${DURATION:-10}"; WARMUP="${WARMUP:-2}"; REPS="${REPS:-3}"
OUT="${OUT:-$ROOT/test-output/bench-gateway}"
LITELLM_VENV="${LITELLM_VENV:-/tmp/litellm-venv}"; PORTKEY_DIR="${PORTKEY_DIR:-/tmp/portkey}"
MODEL="${MODEL:-openai/gpt-5.4-mini}"; MODES="${MODES:-nonstream,stream}"
FLOOR="${FLOOR:-0}"; STACK="${STACK:-1}"; LITELLM="${LITELLM:-1}"; PORTKEY="${PORTKEY:-1}"
MASTER_KEY=sk-bench-master-key; UPSTREAM_KEY=fake-upstream-key
UPSTREAM_PORT=18080; UPSTREAM="http://127.0.0.1:$UPSTREAM_PORT/v1"
PORTKEY_ENTRY="$PORTKEY_DIR/node_modules/@portkey-ai/gateway/build/start-server.js"  # the package's bin

command -v wrk >/dev/null && command -v nginx >/dev/null || { echo "bench: run 'make bench-setup' first" >&2; exit 2; }
mkdir -p "$OUT"; rm -f "$OUT/trees.log"  # our trees' logs, appended by start_tree

PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do for _ in $(seq 1 80); do kill -0 "$p" 2>/dev/null || break; sleep 0.25; done; done
}
trap cleanup EXIT INT TERM
fail() {  # fail WHAT LOG: says WHAT did not start, shows the end of its LOG and stops everything
  echo "bench: $1 did not start; the end of $2:" >&2; tail -40 "$2" >&2; exit 1
}

# serve NAME URL PATTERN CMD...: starts CMD in the background (output in $OUT/NAME.log), waits up to
# 60 s for URL to answer with PATTERN in its body, and sets STARTED to its PID.
serve() {
  local name=$1 url=$2 pattern=$3; shift 3
  "$@" >"$OUT/$name.log" 2>&1 </dev/null &
  STARTED=$!; PIDS+=("$STARTED")
  for _ in $(seq 1 240); do
    curl -fsS "$url" 2>/dev/null | grep -q "$pattern" && return 0
    kill -0 "$STARTED" 2>/dev/null || break
    sleep 0.25
  done
  fail "$name" "$OUT/$name.log"
}

# The fake upstream and the load generator share CPU 0; every gateway gets CPU 1.
RUN="$OUT/upstream"; mkdir -p "$RUN"
sed -e "s#@RUN@#$RUN#g" -e "s#@DIR@#$HERE/upstream#g" -e "s#@PORT@#$UPSTREAM_PORT#g" \
  "$HERE/upstream/nginx.conf.in" >"$RUN/nginx.conf"
serve upstream "http://127.0.0.1:$UPSTREAM_PORT/health" ok taskset -c 0 nginx -p "$RUN" -c "$RUN/nginx.conf" -g 'daemon off;'
TARGETS=(--target "direct|$UPSTREAM|any-token"); PIDARGS=(--pid "direct=$STARTED")

# Each tree of ours (database included) on CPU 1, as each peer gets CPU 1.
start_tree() {  # start_tree SCRIPT ARGS... → LINE = the JSON line it prints when ready
  rm -f "$OUT/tree.fifo"; mkfifo "$OUT/tree.fifo"
  taskset -c 1 "$PY" "$@" >"$OUT/tree.fifo" 2>>"$OUT/trees.log" &
  TREE=$!; PIDS=("$TREE" "${PIDS[@]}")
  read -r LINE <"$OUT/tree.fifo" || fail "$1" "$OUT/trees.log"
  rm -f "$OUT/tree.fifo"
}
field() { "$PY" -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$LINE" "$1"; }
COMPARE=()
if [ "$STACK" = 1 ]; then
  start_tree "$HERE/stack.py" --upstream "$UPSTREAM"
  BASE="$(field base_url)/v1"
  TARGETS+=(--target "switchyard|$BASE|$(field platform_token)|$MODEL" --target "switchyard-byok|$BASE|$(field byok_token)|$MODEL")
  PIDARGS+=(--pid "switchyard=$TREE" --pid "switchyard-byok=$TREE"); COMPARE+=(switchyard switchyard-byok)
fi
if [ "$FLOOR" = 1 ]; then
  start_tree "$HERE/floor.py" --upstream "$UPSTREAM"
  TARGETS+=(--target "floor|$(field base_url)/v1|$UPSTREAM_KEY|$MODEL"); PIDARGS+=(--pid "floor=$TREE"); COMPARE+=(floor)
  start_tree "$HERE/floor.py" --upstream "$UPSTREAM" --direct
  TARGETS+=(--target "floor-direct|$(field base_url)/v1|$UPSTREAM_KEY|$MODEL"); PIDARGS+=(--pid "floor-direct=$TREE"); COMPARE+=(floor-direct)
fi

if [ "$LITELLM" = 0 ]; then :
elif [ -x "$LITELLM_VENV/bin/litellm" ]; then
  # No database, and no fetches at start-up (cost map, blog posts…): only loopback is used.
  serve litellm http://127.0.0.1:4000/health/liveliness . env -u DATABASE_URL \
    BENCH_UPSTREAM_API_BASE="$UPSTREAM" BENCH_UPSTREAM_API_KEY="$UPSTREAM_KEY" LITELLM_MASTER_KEY="$MASTER_KEY" \
    LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_LOCAL_BLOG_POSTS=True LITELLM_LOCAL_POLICY_TEMPLATES=True \
    LITELLM_LOCAL_AUTOROUTER_PRESETS=True LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS=True \
    taskset -c 1 "$LITELLM_VENV/bin/litellm" --config "$HERE/peers/litellm.yaml" --host 127.0.0.1 --port 4000
  TARGETS+=(--target "litellm|http://127.0.0.1:4000/v1|$MASTER_KEY"); PIDARGS+=(--pid "litellm=$STARTED")
else echo "bench: LiteLLM not installed (make bench-setup); measuring without it" >&2; fi

if [ "$PORTKEY" = 0 ]; then :
elif [ -f "$PORTKEY_ENTRY" ]; then
  # Portkey listens on every interface and has no host option: listen_loopback.cjs binds it to
  # loopback, and ss proves it. --headless: no web console. It has no model config: each request
  # names its upstream in headers and passes its bearer token on as the provider key.
  serve portkey http://127.0.0.1:8787/ "AI Gateway" env -u HTTP_PROXY -u HTTPS_PROXY -u http_proxy -u https_proxy \
    BIND_HOST=127.0.0.1 taskset -c 1 node --require "$HERE/peers/listen_loopback.cjs" "$PORTKEY_ENTRY" --port=8787 --headless
  if ss -Hltnp | grep "pid=$STARTED," | awk '{print $4}' | grep -v '^127\.0\.0\.1:' >&2; then
    echo "bench: Portkey listens beyond loopback (above); stopping" >&2; exit 1
  fi
  TARGETS+=(--target "portkey|http://127.0.0.1:8787/v1|$UPSTREAM_KEY" --header "portkey=x-portkey-provider:openai"
            --header "portkey=x-portkey-custom-host:$UPSTREAM"); PIDARGS+=(--pid "portkey=$STARTED")
else echo "bench: Portkey not installed (make bench-setup); measuring without it" >&2; fi

PYTHONPATH="$ROOT/bench" "$PY" -m gateway.measure --conc "$CONC" --duration "$DURATION" --warmup "$WARMUP" \
  --reps "$REPS" --modes "$MODES" --loadgen-cpus 0 --out "$OUT" "${TARGETS[@]}" "${PIDARGS[@]}"
"$PY" "$HERE/compare.py" "$OUT/runs.json" "${COMPARE[@]}" | tee "$OUT/targets.md"
