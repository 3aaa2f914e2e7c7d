"""`python -m router` as an operator runs it: start-up problems are one clear line, never a traceback."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

from grpc import aio

from switchyard.router.v1 import router_pb2_grpc
from switchyard_common.mtls import channel_credentials
from switchyard_dev.provider_sim import ProviderSimulator
from tests.support.keyvault import TestPki
from tests.support.ports import free_port, wait_for_port
from tests.support.processes import environ_without, run_python
from tests.support.router import PLATFORM_KEYS, chat_request


def test_missing_settings_are_named() -> None:
    result = run_python("-m", "router", env=environ_without("ROUTER_"), timeout=60)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("router: missing or invalid settings:")
    for setting in ("ROUTER_TLS_CA_FILE", "ROUTER_TLS_CERT_FILE", "ROUTER_TLS_KEY_FILE"):
        assert setting in line


def test_port_in_use_names_the_setting(test_pki: TestPki) -> None:
    files = test_pki.files["router"]
    port = free_port()
    env = environ_without("ROUTER_") | {
        "ROUTER_PORT": str(port),
        "ROUTER_HEALTH_PORT": "0",
        "ROUTER_TLS_CA_FILE": str(files.ca),
        "ROUTER_TLS_CERT_FILE": str(files.cert),
        "ROUTER_TLS_KEY_FILE": str(files.key),
        "ROUTER_NATS_URL": "nats://127.0.0.1:1",
    }
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        result = run_python("-m", "router", env=env, timeout=60)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"router: cannot listen on 127.0.0.1:{port}: the port is in use; set ROUTER_PORT" in result.stderr


def test_missing_certificate_file_is_named() -> None:
    env = environ_without("ROUTER_") | {
        "ROUTER_PORT": "0",
        "ROUTER_HEALTH_PORT": "0",
        "ROUTER_TLS_CA_FILE": "/nonexistent/ca.pem",
        "ROUTER_TLS_CERT_FILE": "/nonexistent/router.pem",
        "ROUTER_TLS_KEY_FILE": "/nonexistent/router-key.pem",
        "ROUTER_NATS_URL": "nats://127.0.0.1:1",
    }
    result = run_python("-m", "router", env=env, timeout=60)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "router: cannot start: No such file or directory: /nonexistent/" in result.stderr


async def test_sigterm_lets_an_open_stream_finish(test_pki: TestPki, provider_sim: ProviderSimulator) -> None:
    files, port, health = test_pki.files["router"], free_port(), free_port()
    caller = test_pki.files["chat-api"]
    env = (
        environ_without("ROUTER_")
        | provider_sim.router_env()
        | {
            "ROUTER_PORT": str(port),
            "ROUTER_HEALTH_PORT": str(health),
            "ROUTER_TLS_CA_FILE": str(files.ca),
            "ROUTER_TLS_CERT_FILE": str(files.cert),
            "ROUTER_TLS_KEY_FILE": str(files.key),
            "ROUTER_NATS_URL": "nats://127.0.0.1:1",  # no NATS: platform access needs none
            "ROUTER_OPENAI_PLATFORM_KEY": PLATFORM_KEYS["openai"],
            "ROUTER_SHUTDOWN_GRACE_SECONDS": "10",
        }
    )
    process = subprocess.Popen([sys.executable, "-m", "router"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_port(port, timeout=30, pid=process.pid)
        # ~20 events 100 ms apart: the stream is still open when SIGTERM arrives.
        provider_sim.fail_next("openai", paced_stream_interval=0.1)
        request = chat_request("openai/gpt-5.4-mini", " ".join(f"w{i}" for i in range(18)))
        events = []
        async with aio.secure_channel(f"localhost:{port}", channel_credentials(caller)) as channel:
            stream = router_pb2_grpc.RouterStub(channel).Chat(request, timeout=30)
            async for event in stream:
                events.append(event)
                if len(events) == 3:
                    process.send_signal(signal.SIGTERM)
        assert events[-1].HasField("finish"), events[-1]
        assert "".join(e.text_delta for e in events) == "echo: " + " ".join(f"w{i}" for i in range(18))
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
        stderr = process.communicate()[1]
    assert "router stopped" in stderr
