"""keyvault as operators run it: `python -m keyvault` configured by KEYVAULT_* variables.

A real subprocess, real mTLS, a real nats-server. Checks what an operator sees: it becomes
SERVING, secrets never reach its output or audit trail, SIGTERM is graceful, and start-up
mistakes end in one clear line instead of a traceback.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc import aio
from grpc_health.v1 import health_pb2

from keyvault.keys import generate_key
from keyvault.unwrap import UNIFORM_MESSAGE
from switchyard.keyvault.v1 import keyvault_pb2
from switchyard_common.envelope import Binding, OwnerType
from tests.support.keyvault import KeyVaultClient, decrypt_request, dial, probe_health, status_or_code, stub
from tests.support.keyvault import TestPki as Pki
from tests.support.nats_server import NatsServer
from tests.support.ports import free_port, listening_pids
from tests.support.processes import REPO_ROOT, environ_without, run_python

START_TIMEOUT_SECONDS = 20.0
EXIT_TIMEOUT_SECONDS = 10.0
KEY_BITS = 2048  # allowed, and generated much faster than 3072
SMALL_PIPE_BYTES = 4096
BINDING = Binding("cred-canary", OwnerType.USER, "user-1", "openai")


def keyvault_env(pki: Pki, keys_dir: Path, nats_url: str, **settings: object) -> dict[str, str]:
    """The parent's environment without any KEYVAULT_* of its own, plus these settings."""
    env = environ_without("KEYVAULT_")
    files = pki.files["keyvault"]
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": free_port(),
        "health_port": free_port(),
        "tls_ca_file": files.ca,
        "tls_cert_file": files.cert,
        "tls_key_file": files.key,
        "keys_dir": keys_dir,
        "nats_url": nats_url,
        "shutdown_grace_seconds": 10,
    }
    values.update(settings)
    env.update({f"KEYVAULT_{name.upper()}": str(value) for name, value in values.items()})
    return env


def run_to_exit(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run keyvault expecting it to give up on its own."""
    return run_python("-m", "keyvault", env=env, cwd=REPO_ROOT, timeout=30)


@dataclass
class KeyVaultProcess:
    process: subprocess.Popen[bytes]
    env: dict[str, str]
    stdout_path: Path
    stderr_path: Path

    @property
    def port(self) -> int:
        return int(self.env["KEYVAULT_PORT"])

    @property
    def health_port(self) -> int:
        return int(self.env["KEYVAULT_HEALTH_PORT"])

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    async def health(self) -> int | str:
        """The plaintext probe port's answer, or the gRPC error code while it gives none."""
        return await status_or_code(probe_health(self.health_port, timeout=2))

    async def wait_serving(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        status: int | str = "not asked"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"keyvault exited with {self.process.returncode}:\n{self.stderr()}")
            status = await self.health()
            if status == health_pb2.HealthCheckResponse.SERVING:
                # SERVING from this process, not from a stranger on a port it was told to use.
                for port in (self.port, self.health_port):
                    assert self.process.pid in listening_pids(port), f"pid {listening_pids(port)} on {port}"
                return
            await asyncio.sleep(0.05)
        pytest.fail(f"keyvault not SERVING after {START_TIMEOUT_SECONDS}s (last: {status}):\n{self.stderr()}")

    async def wait_exit(self) -> int:
        deadline = time.monotonic() + EXIT_TIMEOUT_SECONDS
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                pytest.fail(f"keyvault still running {EXIT_TIMEOUT_SECONDS}s after SIGTERM")
            await asyncio.sleep(0.02)
        return self.process.returncode


Spawn = Callable[[dict[str, str]], KeyVaultProcess]


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """Start `python -m keyvault` subprocesses; any still running at the end are killed."""
    started: list[KeyVaultProcess] = []

    def start(env: dict[str, str]) -> KeyVaultProcess:
        index = len(started)
        stdout_path = tmp_path / f"keyvault-{index}.stdout"
        stderr_path = tmp_path / f"keyvault-{index}.stderr"
        with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
            process = subprocess.Popen(
                [sys.executable, "-m", "keyvault"], env=env, cwd=REPO_ROOT, stdout=out, stderr=err
            )
        started.append(KeyVaultProcess(process, env, stdout_path, stderr_path))
        return started[-1]

    yield start
    for running in started:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait()


async def seal_through(kv: KeyVaultProcess, pki: Pki, secret: bytes, binding: Binding = BINDING) -> bytes:
    return await KeyVaultClient(kv.port, pki, binding=binding, timeout=5).seal(secret=secret)


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def assert_clean_failure(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    """Exited non-zero with one `keyvault: ...` line naming `expected`, and no traceback."""
    assert result.returncode != 0, result.stderr
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    ours = [line for line in result.stderr.splitlines() if line.startswith("keyvault:")]
    assert len(ours) == 1, result.stderr
    assert result.stderr.rstrip().splitlines()[-1] == ours[0]  # the last word is ours
    for text in expected:
        assert text in ours[0], ours[0]
    return ours[0]


@pytest.fixture
def passphrase_keys(tmp_path: Path) -> tuple[Path, Path, str]:
    """A key directory whose key is encrypted; returns (keys_dir, passphrase_file, passphrase)."""
    passphrase = "pp-" + secrets.token_hex(16)
    passphrase_file = tmp_path / "passphrase"
    passphrase_file.write_text(passphrase + "\n")
    keys_dir = tmp_path / "protected-keys"
    generate_key(keys_dir, bits=KEY_BITS, passphrase_file=passphrase_file)
    assert b"ENCRYPTED PRIVATE KEY" in (keys_dir / "kid-1.pem").read_bytes()
    return keys_dir, passphrase_file, passphrase


async def test_serves_and_never_writes_secrets_anywhere(
    spawn: Spawn,
    test_pki: Pki,
    nats_server: NatsServer,
    passphrase_keys: tuple[Path, Path, str],
    tmp_path: Path,
) -> None:
    keys_dir, passphrase_file, passphrase = passphrase_keys
    audit_path = tmp_path / "audit.jsonl"
    env = keyvault_env(
        test_pki,
        keys_dir,
        nats_server.url,
        key_passphrase_file=passphrase_file,
        audit_sink=audit_path,
    )
    kv = spawn(env)
    await kv.wait_serving()

    canary = ("sk-canary-" + secrets.token_hex(16)).encode()
    envelope = await seal_through(kv, test_pki, canary)
    async with dial(kv.port, test_pki.files["router"]) as channel:
        reply = await stub(channel).Decrypt(decrypt_request(envelope, BINDING), timeout=5)
        assert reply.secret == canary
        # Sealed for another owner: refused, uniformly.
        other_owner = Binding(BINDING.credential_id, OwnerType.USER, "user-2", BINDING.provider)
        with pytest.raises(aio.AioRpcError) as refused:
            await stub(channel).Decrypt(decrypt_request(envelope, other_owner), timeout=5)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert refused.value.details() == UNIFORM_MESSAGE
    async with dial(kv.port, test_pki.files["chat-api"]) as channel:
        with pytest.raises(aio.AioRpcError) as denied:
            await stub(channel).Decrypt(decrypt_request(envelope, BINDING), timeout=5)
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED

    kv.process.send_signal(signal.SIGTERM)
    assert await kv.wait_exit() == 0
    logs = json_lines(kv.stderr())
    assert any(record["message"] == "keyvault stopped" for record in logs)

    audit = json_lines(audit_path.read_text())
    outcomes = [(record["caller"], record["outcome"]) for record in audit]
    assert ("spiffe://switchyard/router", "ok") in outcomes
    assert ("spiffe://switchyard/router", "refused") in outcomes
    assert all(record["credential_id"] == BINDING.credential_id for record in audit)
    for name, text in {"stdout": kv.stdout(), "stderr": kv.stderr(), "audit": audit_path.read_text()}.items():
        assert canary.decode() not in text, f"the canary secret leaked into {name}"
        assert passphrase not in text, f"the key passphrase leaked into {name}"


def pipe_bytes_pending(fd: int) -> int:
    return int.from_bytes(fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"), sys.byteorder)


def signal_pending(pid: int, signum: int) -> bool:
    """Whether `signum` is still pending for the process (not yet taken by any of its threads)."""
    bit = 1 << (signum - 1)
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("SigPnd:", "ShdPnd:")) and int(line.split()[1], 16) & bit:
            return True
    return False


async def test_sigterm_lets_an_in_flight_call_finish(
    spawn: Spawn, test_pki: Pki, keys_dir: Path, nats_server: NatsServer, tmp_path: Path
) -> None:
    # The audit log is a FIFO we stop reading: once its (shrunk) buffer is full the next audit
    # write blocks inside Decrypt, which holds that call in flight for as long as we like.
    fifo = tmp_path / "audit.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    audit = bytearray()
    try:
        fcntl.fcntl(reader, fcntl.F_SETPIPE_SZ, SMALL_PIPE_BYTES)
        kv = spawn(keyvault_env(test_pki, keys_dir, nats_server.url, audit_sink=fifo))
        await kv.wait_serving()
        secret = b"sk-in-flight"
        envelope = await seal_through(kv, test_pki, secret)

        async with dial(kv.port, test_pki.files["router"]) as channel:
            completed = 0
            in_flight: asyncio.Task[keyvault_pb2.DecryptResponse] | None = None
            for _ in range(200):
                call = asyncio.ensure_future(
                    stub(channel).Decrypt(decrypt_request(envelope, BINDING), timeout=30)
                )
                done, _pending = await asyncio.wait({call}, timeout=1.0)
                if not done:
                    in_flight = call
                    break
                assert call.result().secret == secret
                completed += 1
            assert in_flight is not None, "the audit pipe never filled up"
            # It is blocked on audit, not merely slow: the pipe holds no room for another record.
            assert pipe_bytes_pending(reader) > SMALL_PIPE_BYTES - 512

            kv.process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 5
            while signal_pending(kv.process.pid, signal.SIGTERM):
                assert time.monotonic() < deadline, "SIGTERM never delivered"
                await asyncio.sleep(0.01)
            assert not in_flight.done()

            async def drain_until_exit() -> None:
                while kv.process.poll() is None:
                    try:
                        audit.extend(os.read(reader, 65536))
                    except BlockingIOError:
                        await asyncio.sleep(0.01)

            draining = asyncio.ensure_future(drain_until_exit())
            reply = await asyncio.wait_for(in_flight, timeout=EXIT_TIMEOUT_SECONDS)
            assert reply.secret == secret
            assert await kv.wait_exit() == 0
            await draining
        while chunk := os.read(reader, 65536):
            audit.extend(chunk)
    finally:
        os.close(reader)

    messages = [record["message"] for record in json_lines(kv.stderr())]
    assert "shutting down" in messages
    assert messages[-1] == "keyvault stopped"
    # The in-flight call was audited like every other one.
    ok = [record for record in json_lines(audit.decode()) if record["outcome"] == "ok"]
    assert len(ok) == completed + 1


@pytest.mark.parametrize(
    ("setting", "reuseport"),
    [("KEYVAULT_PORT", False), ("KEYVAULT_PORT", True), ("KEYVAULT_HEALTH_PORT", True)],
    ids=["port", "port-shared-reuseport", "health-port"],
)
def test_port_in_use_is_one_clear_line(
    test_pki: Pki, keys_dir: Path, tmp_path: Path, setting: str, reuseport: bool
) -> None:
    with socket.socket() as squatter:
        # With SO_REUSEPORT the squatter looks like another gRPC server: keyvault must still
        # refuse to share the port rather than silently splitting its traffic.
        if reuseport:
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        env = keyvault_env(
            test_pki, keys_dir, f"nats://127.0.0.1:{free_port()}", audit_sink=tmp_path / "audit.jsonl"
        )
        env[setting] = str(taken)
        result = run_to_exit(env)
    assert_clean_failure(result, setting, str(taken), "in use")


def test_missing_settings_are_named(tmp_path: Path) -> None:
    env = environ_without("KEYVAULT_")
    env["KEYVAULT_PORT"] = "not-a-port"
    line = assert_clean_failure(run_to_exit(env), "missing or invalid settings")
    named = {field.strip() for field in line.split(":", 2)[-1].split(",")}
    assert named == {
        "KEYVAULT_KEYS_DIR",
        "KEYVAULT_TLS_CA_FILE",
        "KEYVAULT_TLS_CERT_FILE",
        "KEYVAULT_TLS_KEY_FILE",
        "KEYVAULT_PORT",
    }
    assert "not-a-port" not in line


@pytest.mark.parametrize("case", ["wrong", "not-configured", "file-missing"])
def test_bad_passphrase_is_a_clear_error_that_never_echoes_it(
    test_pki: Pki, passphrase_keys: tuple[Path, Path, str], tmp_path: Path, case: str
) -> None:
    keys_dir, _, passphrase = passphrase_keys
    wrong = "wrong-" + secrets.token_hex(16)
    env = keyvault_env(
        test_pki, keys_dir, f"nats://127.0.0.1:{free_port()}", audit_sink=tmp_path / "audit.jsonl"
    )
    expected: tuple[str, ...]
    if case == "wrong":
        (tmp_path / "wrong-passphrase").write_text(wrong)
        env["KEYVAULT_KEY_PASSPHRASE_FILE"] = str(tmp_path / "wrong-passphrase")
        expected = ("kid-1.pem", "passphrase")
    elif case == "file-missing":
        env["KEYVAULT_KEY_PASSPHRASE_FILE"] = str(tmp_path / "no-such-file")
        expected = ("no-such-file",)
    else:
        expected = ("kid-1.pem", "passphrase")
    result = run_to_exit(env)
    assert_clean_failure(result, *expected)
    for text in (result.stdout, result.stderr):
        assert passphrase not in text
        assert wrong not in text


def test_unreadable_tls_file_is_a_clear_error(test_pki: Pki, keys_dir: Path, tmp_path: Path) -> None:
    env = keyvault_env(
        test_pki,
        keys_dir,
        f"nats://127.0.0.1:{free_port()}",
        audit_sink=tmp_path / "audit.jsonl",
        tls_cert_file=tmp_path / "missing-cert.pem",
    )
    assert_clean_failure(run_to_exit(env), "missing-cert.pem")
