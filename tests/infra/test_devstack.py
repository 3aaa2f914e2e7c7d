"""`make dev`'s supervisor, run for real: it prepares .dev, serves, and stops cleanly."""

from __future__ import annotations

import os
import select
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from switchyard.keyvault.v1 import keyvault_pb2, keyvault_pb2_grpc
from switchyard.router.v1 import router_pb2, router_pb2_grpc
from switchyard_common.envelope import Binding, OwnerType, seal
from tests.support.ports import free_port, wait_for_port
from tests.support.processes import REPO_ROOT


def _dev_env(dev_dir: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KEYVAULT_", "ROUTER_", "CHAT_API_", "SWITCHYARD_"))
    }
    env.update(
        SWITCHYARD_DEV_DIR=str(dev_dir),
        SWITCHYARD_NATS_PORT=str(free_port()),
        KEYVAULT_PORT=str(free_port()),
        KEYVAULT_HEALTH_PORT=str(free_port()),
        ROUTER_PORT=str(free_port()),
        ROUTER_HEALTH_PORT=str(free_port()),
        CHAT_API_PORT=str(free_port()),
    )
    return env


def _read_until(process: subprocess.Popen[bytes], marker: str, timeout: float) -> str:
    """Read the raw pipe (a buffered reader would hide lines from select)."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    seen = b""
    deadline = time.monotonic() + timeout
    while marker.encode() not in seen:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or process.poll() is not None:
            raise AssertionError(f"{marker!r} not printed; output so far:\n{seen.decode()}")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            seen += os.read(fd, 65536)
    return seen.decode()


@pytest.fixture
def simulator_url() -> Iterator[str]:
    """The provider simulator in its own process, as a developer would run it beside `make dev`."""
    port = free_port()
    sim = subprocess.Popen(
        [sys.executable, "-m", "tests.support.provider_sim", "--port", str(port)],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        sim.terminate()
        sim.wait(timeout=10)


def _chat_through_router(env: dict[str, str], pki: Path) -> list[router_pb2.ChatEvent]:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=(pki / "ca.pem").read_bytes(),
        private_key=(pki / "chat-api-key.pem").read_bytes(),
        certificate_chain=(pki / "chat-api.pem").read_bytes(),
    )
    request = router_pb2.ChatRequest(
        request_id="dev-1",
        user_id="u1",
        model="openai/gpt-5.4-mini",
        messages=[
            router_pb2.Message(role=router_pb2.ROLE_USER, parts=[router_pb2.ContentPart(text="hi dev")])
        ],
    )
    with grpc.secure_channel(f"localhost:{env['ROUTER_PORT']}", credentials) as channel:
        return list(router_pb2_grpc.RouterStub(channel).Chat(request, timeout=10))


@pytest.mark.slow
def test_dev_stack_serves_keyvault_and_router_and_stops_cleanly(tmp_path: Path, simulator_url: str) -> None:
    dev_dir = tmp_path / "dev"
    env = _dev_env(dev_dir)
    # What a user would give `make dev`: a provider base URL and a platform key.
    env["ROUTER_OPENAI_BASE_URL"] = f"{simulator_url}/openai/v1"
    env["ROUTER_OPENAI_PLATFORM_KEY"] = "sk-dev-platform-key-123456"
    process = subprocess.Popen(
        [sys.executable, "-m", "switchyard_dev.devstack"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        output = _read_until(process, "state in", timeout=60)
        assert f"grpcs://localhost:{env['KEYVAULT_PORT']}" in output
        assert f"nats://127.0.0.1:{env['SWITCHYARD_NATS_PORT']}" in output

        for private in [*(dev_dir / "pki").glob("*-key.pem"), *(dev_dir / "keys").glob("*.pem")]:
            assert stat.S_IMODE(private.stat().st_mode) == 0o600, private

        pki = dev_dir / "pki"
        credentials = grpc.ssl_channel_credentials(
            root_certificates=(pki / "ca.pem").read_bytes(),
            private_key=(pki / "router-key.pem").read_bytes(),
            certificate_chain=(pki / "router.pem").read_bytes(),
        )
        with grpc.secure_channel(f"localhost:{env['KEYVAULT_PORT']}", credentials) as channel:
            vault = keyvault_pb2_grpc.KeyVaultStub(channel)
            public = vault.GetPublicKey(keyvault_pb2.GetPublicKeyRequest(), timeout=5)
            key = serialization.load_pem_public_key(public.public_key_pem.encode())
            assert isinstance(key, rsa.RSAPublicKey)
            assert key.key_size == 3072
            binding = Binding("c1", OwnerType.USER, "u1", "openai")
            envelope = seal(b"sk-dev", public_key=key, kid=public.kid, binding=binding)
            reply = vault.Decrypt(
                keyvault_pb2.DecryptRequest(
                    envelope=envelope,
                    binding=keyvault_pb2.Binding(
                        credential_id="c1",
                        owner_type=keyvault_pb2.OWNER_TYPE_USER,
                        owner_id="u1",
                        provider="openai",
                    ),
                ),
                timeout=5,
            )
        assert reply.secret == b"sk-dev"
        assert (dev_dir / "audit" / "keyvault.jsonl").read_text().count('"outcome":"ok"') == 1

        assert "PLATFORM_KEY: openai)" in output
        events = _chat_through_router(env, pki)
        assert events[0].route.key_source == router_pb2.KEY_SOURCE_PLATFORM
        assert "".join(e.text_delta for e in events) == "echo: hi dev"
        assert events[-1].HasField("finish")

        chat_api = f"http://127.0.0.1:{env['CHAT_API_PORT']}"
        assert chat_api in output
        registered = httpx.post(
            f"{chat_api}/v1/auth/register", json={"email": "dev@example.com", "password": "long enough pw"}
        )
        assert registered.status_code == 201, registered.text
        assert (dev_dir / "chat-api.db").exists(), "the embedded default database is a SQLite file in .dev"
    finally:
        process.send_signal(signal.SIGINT)
        rest = process.communicate(timeout=30)[0].decode()
    assert process.returncode == 0, rest
    assert rest.rstrip().endswith("stopped")
    for setting in (
        "SWITCHYARD_NATS_PORT",
        "KEYVAULT_PORT",
        "KEYVAULT_HEALTH_PORT",
        "ROUTER_PORT",
        "ROUTER_HEALTH_PORT",
        "CHAT_API_PORT",
    ):
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", int(env[setting]))) != 0, f"{setting} still open"


def test_port_in_use_is_a_clear_message(tmp_path: Path) -> None:
    env = _dev_env(tmp_path / "dev")
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", int(env["KEYVAULT_PORT"])))
        blocker.listen()
        result = subprocess.run(
            [sys.executable, "-m", "switchyard_dev.devstack"],
            env=env,
            text=True,
            capture_output=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert f"port {env['KEYVAULT_PORT']} (KEYVAULT_PORT, for keyvault) is already in use" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "dev").exists(), "nothing is prepared or started when a port is taken"


def test_default_ports_avoid_common_local_services() -> None:
    from switchyard_dev.devstack import CHAT_API, KEYVAULT, KEYVAULT_HEALTH, NATS, ROUTER, ROUTER_HEALTH

    common = {4222, 5432, 6379, 5672, 1883, 3306, 8080, 50051, 8222, 6222, 7422}
    defaults = [port.default for port in (NATS, KEYVAULT, KEYVAULT_HEALTH, ROUTER, ROUTER_HEALTH, CHAT_API)]
    assert len(set(defaults)) == len(defaults)
    assert set(defaults).isdisjoint(common)
