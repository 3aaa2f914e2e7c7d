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
import psycopg
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
        SWITCHYARD_POSTGRES_PORT=str(free_port()),
        SWITCHYARD_DEMO_PORT=str(free_port()),
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


def _start_devstack(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`make dev`'s supervisor with `env`, its output (services' included) on one pipe."""
    return subprocess.Popen(
        [sys.executable, "-m", "switchyard_dev.devstack"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _ports_closed(env: dict[str, str], settings: list[str]) -> list[str]:
    still_open = []
    for setting in settings:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", int(env[setting]))) == 0:
                still_open.append(setting)
    return still_open


STACK_PORTS = [
    "SWITCHYARD_POSTGRES_PORT",
    "SWITCHYARD_DEMO_PORT",
    "SWITCHYARD_NATS_PORT",
    "KEYVAULT_PORT",
    "KEYVAULT_HEALTH_PORT",
    "ROUTER_PORT",
    "ROUTER_HEALTH_PORT",
    "CHAT_API_PORT",
]


@pytest.fixture
def simulator_url() -> Iterator[str]:
    """The provider simulator in its own process, as a developer would run it beside `make dev`."""
    port = free_port()
    sim = subprocess.Popen(
        [sys.executable, "-m", "switchyard_dev.provider_sim", "--port", str(port)],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, pid=sim.pid)
        yield f"http://127.0.0.1:{port}"
    finally:
        sim.terminate()
        sim.wait(timeout=10)


def _chat_through_router(
    env: dict[str, str], pki: Path, model: str = "openai/gpt-5.4-mini"
) -> list[router_pb2.ChatEvent]:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=(pki / "ca.pem").read_bytes(),
        private_key=(pki / "chat-api-key.pem").read_bytes(),
        certificate_chain=(pki / "chat-api.pem").read_bytes(),
    )
    request = router_pb2.ChatRequest(
        request_id="dev-1",
        user_id="u1",
        model=model,
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
    process = _start_devstack(env)
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

        # OpenAI has the caller's own base URL and platform key; the demo serves the other two.
        assert "PLATFORM_KEY: anthropic, google, openai)" in output
        demo_port = env["SWITCHYARD_DEMO_PORT"]
        assert f"127.0.0.1:{demo_port} (demo provider, platform access for: anthropic, google;" in output
        events = _chat_through_router(env, pki)
        assert events[0].route.key_source == router_pb2.KEY_SOURCE_PLATFORM
        assert events[0].route.demo is False, "a real base URL and platform key override the demo"
        assert "".join(e.text_delta for e in events) == "echo: hi dev"
        assert events[-1].HasField("finish")
        demo = _chat_through_router(env, pki, "anthropic/claude-haiku-4-5")
        assert (demo[0].route.key_source, demo[0].route.demo) == (router_pb2.KEY_SOURCE_PLATFORM, True)
        assert "".join(e.text_delta for e in demo) == "echo: hi dev"
        assert [e for e in demo if e.HasField("error")] == []

        chat_api = f"http://127.0.0.1:{env['CHAT_API_PORT']}"
        assert chat_api in output
        registered = httpx.post(
            f"{chat_api}/v1/auth/register", json={"email": "dev@example.com", "password": "long enough pw"}
        )
        assert registered.status_code == 201, registered.text
        assert (dev_dir / "postgres" / "PG_VERSION").is_file(), (
            "the embedded PostgreSQL keeps its data in .dev"
        )
        assert f"postgresql://127.0.0.1:{env['SWITCHYARD_POSTGRES_PORT']}/switchyard" in output
        # Loopback is open to every user of the machine: the database asks for a password, kept in
        # .dev alone (0600) and never printed.
        password_file = dev_dir / "postgres.password"
        assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
        password = password_file.read_text().strip()
        assert len(password) >= 24
        assert password not in output
        database = f"127.0.0.1:{env['SWITCHYARD_POSTGRES_PORT']}/switchyard"
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(f"postgresql://postgres@{database}", connect_timeout=5).close()
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(f"postgresql://postgres:wrong@{database}", connect_timeout=5).close()
        with psycopg.connect(f"postgresql://postgres:{password}@{database}", connect_timeout=5) as conn:
            assert conn.execute("SELECT count(*) FROM users").fetchone() == (1,)
    finally:
        process.send_signal(signal.SIGINT)
        rest = process.communicate(timeout=30)[0].decode()
    assert process.returncode == 0, rest
    assert rest.rstrip().endswith("stopped")
    assert _ports_closed(env, STACK_PORTS) == []


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
    from switchyard_dev.devstack import (
        CHAT_API,
        DEMO,
        KEYVAULT,
        KEYVAULT_HEALTH,
        NATS,
        POSTGRES,
        ROUTER,
        ROUTER_HEALTH,
    )

    common = {4222, 5432, 6379, 5672, 1883, 3306, 8080, 50051, 8222, 6222, 7422}
    stack = (POSTGRES, NATS, DEMO, KEYVAULT, KEYVAULT_HEALTH, ROUTER, ROUTER_HEALTH, CHAT_API)
    defaults = [port.default for port in stack]
    assert len(set(defaults)) == len(defaults)
    assert set(defaults).isdisjoint(common)


@pytest.mark.slow
def test_a_dying_postgres_stops_the_whole_stack_with_a_message(tmp_path: Path) -> None:
    dev_dir = tmp_path / "dev"
    env = _dev_env(dev_dir)
    process = _start_devstack(env)
    try:
        _read_until(process, "state in", timeout=90)
        postmaster = int((dev_dir / "postgres" / "postmaster.pid").read_text().split()[0])
        os.kill(postmaster, signal.SIGKILL)
        rest = process.communicate(timeout=60)[0].decode()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 1, rest
    [line] = [line for line in rest.splitlines() if line.startswith("make dev:")]
    assert f"PostgreSQL ({dev_dir / 'postgres'}) exited with code -9" in line
    # The services' own JSON log records may carry the error they met (chat-api's relay logs its lost
    # connection with exc_info); the supervisor's lines never show a stack trace.
    supervisor = [line for line in rest.splitlines() if not line.startswith('{"time"')]
    assert not [line for line in supervisor if "Traceback" in line], supervisor
    assert rest.rstrip().endswith("stopped")
    assert _ports_closed(env, STACK_PORTS) == []
    assert (dev_dir / "postgres" / "PG_VERSION").is_file(), "the data is kept"


def test_a_cluster_of_another_version_stops_make_dev_in_one_line(tmp_path: Path) -> None:
    dev_dir = tmp_path / "dev"
    (dev_dir / "postgres").mkdir(parents=True)
    (dev_dir / "postgres" / "PG_VERSION").write_text("15\n")
    result = subprocess.run(
        [sys.executable, "-m", "switchyard_dev.devstack"],
        env=_dev_env(dev_dir),
        text=True,
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    [line] = result.stderr.splitlines()
    assert line.startswith(f"make dev: {dev_dir / 'postgres'} holds a PostgreSQL 15 cluster")
    assert (dev_dir / "postgres" / "PG_VERSION").read_text() == "15\n"


def test_an_external_database_url_runs_no_embedded_postgres(tmp_path: Path) -> None:
    from switchyard_dev.devstack import dev_environment, processes

    dev_dir = tmp_path / "dev"
    external = {"CHAT_API_DATABASE_URL": "postgresql+psycopg://app:secret@db.internal:5432/switchyard"}
    assert "postgres" not in [p.name for p in processes(dev_dir, external)]
    assert dev_environment(dev_dir, external)["CHAT_API_DATABASE_URL"] == external["CHAT_API_DATABASE_URL"]

    embedded = processes(dev_dir, {})
    assert embedded[0].name == "postgres", "the database starts first and stops last"
    assert dev_environment(dev_dir, {})["CHAT_API_DATABASE_URL"] == (
        "postgresql+psycopg://postgres@127.0.0.1:17340/switchyard"
    )


def test_connections_of_the_last_run_in_time_wait_do_not_hold_a_port() -> None:
    """`make dev` right after Ctrl-C: the old server closed its connections first (TIME_WAIT)."""
    from switchyard_dev.supervisor import Port, Process, ports_in_use

    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = int(listener.getsockname()[1])
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _ = listener.accept()
            accepted.close()  # the server side closes first, so the port keeps a TIME_WAIT entry
            client.recv(1)
    stack = [Process("server", [], [Port("SERVER_PORT", port)], lambda env: True, lambda env: "")]
    assert ports_in_use(stack, {}) == []
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", port))
        holder.listen()
        assert ports_in_use(stack, {}) == [
            f"port {port} (SERVER_PORT, for server) is already in use: "
            f"stop what uses it or run `SERVER_PORT=<free port> make dev`"
        ]
