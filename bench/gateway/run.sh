#!/usr/bin/env bash
# `make bench`: the shared gateway harness (../shared/bench/gateway) drives /v1/chat/completions
# directly against its fake upstream, through Switchyard (chat-api + router + keyvault + NATS +
# PostgreSQL, platform access and a user's own key), through LiteLLM's proxy and through Portkey's
# gateway, interleaved in one bench.py run; then prints our targets as ratios to the peers.
#   CONC=1,8,32 DURATION=10 WARMUP=2 REPS=3 OUT=test-output/bench-gateway bench/gateway/run.sh
# FLOOR=1 adds bench/gateway/floor.py: the bare hops of our architecture (a lower bound for us) and
# the edge alone without the gRPC hop (floor-direct);
# STACK=0 leaves the Switchyard stack out, LITELLM=0 LiteLLM; MODES=nonstream measures non-streaming only.
# Needs `make bench-setup` once (wrk, nginx+lua, LiteLLM and Portkey outside the repo).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
HARNESS="${HARNESS:-$ROOT/../shared/bench/gateway}"
PY="$ROOT/.venv/bin/python"
CONC="${CONC:-1,8,32}"; DURATION="${DURATION:-10}"; WARMUP="${WARMUP:-2}"; REPS="${REPS:-3}"
OUT="${OUT:-$ROOT/test-output/bench-gateway}"
LITELLM_VENV="${LITELLM_VENV:-/tmp/litellm-venv}"; PORTKEY_DIR="${PORTKEY_DIR:-/tmp/portkey}"
MODEL="${MODEL:-openai/gpt-5.4-mini}"; MODES="${MODES:-nonstream,stream}"
FLOOR="${FLOOR:-0}"; STACK="${STACK:-1}"; LITELLM="${LITELLM:-1}"
MASTER_KEY=sk-bench-master-key; UPSTREAM_KEY=fake-upstream-key

[ -d "$HARNESS" ] || { echo "bench: the shared harness is not at $HARNESS" >&2; exit 2; }
command -v wrk >/dev/null && command -v nginx >/dev/null || { echo "bench: run 'make bench-setup' first" >&2; exit 2; }

PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do for _ in $(seq 1 80); do kill -0 "$p" 2>/dev/null || break; sleep 0.25; done; done
}
trap cleanup EXIT INT TERM

UP=$(PORT=18080 CPUS=0 DELAY_MS=0 "$HARNESS/upstream/start_upstream.sh"); PIDS+=("$UP")
TARGETS=(--target "direct|http://127.0.0.1:18080/v1|any-token")
PIDARGS=(--pid "direct=$UP")

# Each tree of ours (database included) on CPU 1, as each peer gets CPU 1.
start_tree() {  # start_tree SCRIPT ARGS... → LINE = the JSON line it prints when ready
  mkdir -p "$(dirname "$OUT")"; rm -f "$OUT.fifo"; mkfifo "$OUT.fifo"
  taskset -c 1 "$PY" "$@" >"$OUT.fifo" &
  TREE=$!; PIDS=("$TREE" "${PIDS[@]}")
  read -r LINE <"$OUT.fifo"; rm -f "$OUT.fifo"
}
field() { "$PY" -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$LINE" "$1"; }
COMPARE=()
if [ "$STACK" = 1 ]; then
  start_tree "$ROOT/bench/gateway/stack.py" --upstream http://127.0.0.1:18080/v1
  BASE="$(field base_url)/v1"
  TARGETS+=(--target "switchyard|$BASE|$(field platform_token)|$MODEL" --target "switchyard-byok|$BASE|$(field byok_token)|$MODEL")
  PIDARGS+=(--pid "switchyard=$TREE" --pid "switchyard-byok=$TREE"); COMPARE+=(switchyard switchyard-byok)
fi
if [ "$FLOOR" = 1 ]; then
  start_tree "$ROOT/bench/gateway/floor.py" --upstream http://127.0.0.1:18080/v1
  TARGETS+=(--target "floor|$(field base_url)/v1|$UPSTREAM_KEY|$MODEL"); PIDARGS+=(--pid "floor=$TREE"); COMPARE+=(floor)
  start_tree "$ROOT/bench/gateway/floor.py" --upstream http://127.0.0.1:18080/v1 --direct
  TARGETS+=(--target "floor-direct|$(field base_url)/v1|$UPSTREAM_KEY|$MODEL"); PIDARGS+=(--pid "floor-direct=$TREE"); COMPARE+=(floor-direct)
fi

if [ "$LITELLM" = 0 ]; then :
elif [ -x "$LITELLM_VENV/bin/litellm" ]; then
  LL=$(VENV="$LITELLM_VENV" PORT=4000 CPUS=1 MASTER_KEY="$MASTER_KEY" UPSTREAM_KEY="$UPSTREAM_KEY" \
       UPSTREAM=http://127.0.0.1:18080/v1 UPSTREAM_PACED=http://127.0.0.1:18080/v1 "$HARNESS/litellm/start_litellm.sh")
  PIDS+=("$LL"); TARGETS+=(--target "litellm|http://127.0.0.1:4000/v1|$MASTER_KEY"); PIDARGS+=(--pid "litellm=$LL")
else echo "bench: LiteLLM not installed (make bench-setup); measuring without it" >&2; fi
if [ -d "$PORTKEY_DIR/node_modules/@portkey-ai/gateway" ]; then
  PK=$(PORTKEY_DIR="$PORTKEY_DIR" PORT=8787 CPUS=1 "$HARNESS/portkey/start_portkey.sh"); PIDS+=("$PK")
  TARGETS+=(--target "portkey|http://127.0.0.1:8787/v1|$UPSTREAM_KEY" --header "portkey=x-portkey-provider:openai"
            --header "portkey=x-portkey-custom-host:http://127.0.0.1:18080/v1"); PIDARGS+=(--pid "portkey=$PK")
else echo "bench: Portkey not installed (make bench-setup); measuring without it" >&2; fi

"$PY" "$HARNESS/bench.py" --conc "$CONC" --duration "$DURATION" --warmup "$WARMUP" --reps "$REPS" \
  --modes "$MODES" --loadgen-cpus 0 --out "$OUT" "${TARGETS[@]}" "${PIDARGS[@]}"
"$PY" "$ROOT/bench/gateway/compare.py" "$OUT/runs.json" "${COMPARE[@]}" | tee "$OUT/targets.md"
