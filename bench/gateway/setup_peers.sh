#!/usr/bin/env bash
# Installs what `make bench-gateway` needs besides the project's venv: the load generator and the
# fake upstream's server (wrk, nginx with Lua, from apt), and the two peer gateways it compares us
# with (LiteLLM's proxy in its own venv, Portkey's gateway as an npm project), outside the repository.
# Portkey's two hono pins are those of its own package-lock.json: with the newer @hono/node-server a
# plain install resolves, every streaming request fails with HTTP 500 (Portkey-AI/gateway#1389).
# Idempotent: a second run installs nothing new. SKIP_PEERS=1 installs the tools only.
set -euo pipefail
LITELLM_VENV="${LITELLM_VENV:-/tmp/litellm-venv}"
PORTKEY_DIR="${PORTKEY_DIR:-/tmp/portkey}"
PYTHON="${PYTHON:-python3}"

if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null || [ ! -e /usr/lib/nginx/modules/ngx_http_lua_module.so ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk nginx libnginx-mod-http-lua curl >/dev/null
fi
if [ "${SKIP_PEERS:-0}" = 1 ]; then exit 0; fi
if [ ! -x "$LITELLM_VENV/bin/litellm" ]; then
  "$PYTHON" -m venv "$LITELLM_VENV"
  "$LITELLM_VENV/bin/pip" install -q 'litellm[proxy]==1.108.7'
fi
if [ ! -d "$PORTKEY_DIR/node_modules/@portkey-ai/gateway" ]; then
  mkdir -p "$PORTKEY_DIR"
  (cd "$PORTKEY_DIR" && npm init -y >/dev/null &&
    npm pkg set 'overrides.@hono/node-server=1.13.5' 'overrides.hono=4.9.7' &&
    npm install --ignore-scripts --no-audit --no-fund @portkey-ai/gateway@1.15.2 >/dev/null)
fi
echo "bench peers ready: wrk, nginx+lua, LiteLLM in $LITELLM_VENV, Portkey in $PORTKEY_DIR"
