"""`python -m router` as an operator runs it: start-up problems are one clear line, never a traceback."""

from __future__ import annotations

import socket

from tests.support.keyvault import TestPki
from tests.support.ports import free_port
from tests.support.processes import environ_without, run_python


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
