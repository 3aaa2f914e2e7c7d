"""The whole Switchyard hot path as one process tree, for the gateway benchmark's CPU sampling.

Starts `make dev`'s supervisor (its embedded PostgreSQL, NATS, keyvault, router, chat-api) as a
child of this process, with the router's OpenAI base URL pointed at the benchmark's fake
upstream, registers two users (one on platform access, one with their own OpenAI key), prints one
JSON line `{"pid", "base_url", "platform_token", "byok_token"}` and runs until SIGTERM/SIGINT. The
benchmark samples the CPU of this PID and all its descendants: chat-api, router, keyvault, NATS
and the database backends, everything a chat request touches.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


def wait_ready(base_url: str, devstack: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if devstack.poll() is not None:
            raise SystemExit("bench: the dev stack exited during start-up")
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit("bench: chat-api not ready after 120 s")


def register(base_url: str) -> str:
    body = {"email": f"bench-{uuid.uuid4().hex[:8]}@example.com", "password": "bench password 123"}
    response = httpx.post(f"{base_url}/v1/auth/register", json=body, timeout=30)
    response.raise_for_status()
    return str(response.json()["access_token"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--upstream", default="http://127.0.0.1:18080/v1")
    parser.add_argument("--chat-api-port", type=int, default=18000)
    parser.add_argument("--pg-port", type=int, default=15432)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="switchyard-bench-"))
    children: list[subprocess.Popen[bytes]] = []

    def stop(*_: object) -> None:
        for child in reversed(children):
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
                try:
                    child.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    child.kill()
        shutil.rmtree(workdir, ignore_errors=True)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    env = {
        **os.environ,
        "SWITCHYARD_DEV_DIR": str(workdir / "dev"),
        "SWITCHYARD_POSTGRES_PORT": str(args.pg_port),
        "SWITCHYARD_NATS_PORT": "24222",
        "SWITCHYARD_DEMO_PORT": "27330",
        "KEYVAULT_PORT": "27310",
        "KEYVAULT_HEALTH_PORT": "27311",
        "ROUTER_PORT": "27320",
        "ROUTER_HEALTH_PORT": "27321",
        "CHAT_API_PORT": str(args.chat_api_port),
        # The benchmark measures the gateway, not the per-user limit (one user sends everything).
        "CHAT_API_CHAT_RATE_PER_MINUTE": "0",
        "CHAT_API_KEY_CHECK_RATE_PER_MINUTE": "0",
        "ROUTER_OPENAI_BASE_URL": args.upstream,
        "ROUTER_OPENAI_PLATFORM_KEY": "fake-upstream-platform-key",
    }
    devstack = subprocess.Popen(
        [PYTHON, "-m", "switchyard_dev.devstack"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL
    )
    children.append(devstack)
    base_url = f"http://127.0.0.1:{args.chat_api_port}"
    wait_ready(base_url, devstack)
    platform_token, byok_token = register(base_url), register(base_url)
    key = {"provider": "openai", "api_key": "sk-proj-bench" + uuid.uuid4().hex * 2}
    httpx.post(
        f"{base_url}/v1/keys", json=key, headers={"Authorization": f"Bearer {byok_token}"}, timeout=30
    ).raise_for_status()
    line = {
        "pid": os.getpid(),
        "base_url": base_url,
        "platform_token": platform_token,
        "byok_token": byok_token,
    }
    print(json.dumps(line), flush=True)
    while devstack.poll() is None:
        time.sleep(0.5)
    stop()
    return 1


if __name__ == "__main__":
    sys.exit(main())
