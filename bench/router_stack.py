"""NATS, keyvault, the provider simulator and N routers as processes on loopback: what both router
benches start (`make bench-router` plays chat-api against them; `make bench-revocation` adds chat-api).

Routers log JSON lines to a pipe that a thread reads; each "credential purged" line is stamped with
`time.perf_counter()` on arrival, so a bench can time a revocation reaching every router.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO

from processes import BIN, BenchError, Processes, grpc_serving, http_ok, wait_until
from procstats import free_port  # bench/ is on sys.path: it is the script's folder

from keyvault.keys import generate_key
from switchyard_common.mtls import TLSFiles
from switchyard_dev.pki import ensure_dev_pki

__all__ = [
    "Purge",
    "RouterStack",
    "RouterWatch",
    "dev_tls",
    "service_env",
    "start_routers",
    "start_services",
    "tls_env",
]

CAUGHT_UP = "revocation feed caught up"  # router log line: the key cache is in use from here on
PURGED = "credential purged"
OPENAI_COMPATIBLE = ("openai", "mistral", "groq", "deepseek", "xai", "together", "openrouter")


@dataclass(frozen=True)
class Purge:
    """One "credential purged" line: when this process read it, and the router's own log time."""

    received: float  # perf_counter seconds, stamped by the reader thread
    logged_wall: float  # the line's "time" field (millisecond resolution) as a Unix timestamp


def _log_time(value: str) -> float:
    # python-json-logger's default asctime: local time, "YYYY-MM-DD HH:MM:SS,mmm".
    return datetime.strptime(value, "%Y-%m-%d %H:%M:%S,%f").timestamp()


class RouterWatch:
    """Reads one router's log lines on a thread: readiness, purges by credential id, warnings."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.caught_up = threading.Event()
        self.purges: dict[str, Purge] = {}
        self.warnings: list[str] = []
        self.tail: deque[str] = deque(maxlen=30)
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[bytes]) -> None:
        for raw in stream:
            received = time.perf_counter()
            line = raw.decode("utf-8", "replace").rstrip()
            self.tail.append(line)
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if not isinstance(record, dict):
                continue
            message = record.get("message", "")
            if message == PURGED:
                self.purges[record["credential_id"]] = Purge(received, _log_time(record["time"]))
            elif message.startswith(CAUGHT_UP):
                self.caught_up.set()
            if record.get("level") in ("WARNING", "ERROR", "CRITICAL"):
                self.warnings.append(line)


def service_env(**values: str) -> dict[str, str]:
    """This environment without any service's settings, plus `values`."""
    prefixes = ("ROUTER_", "KEYVAULT_", "CHAT_API_")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)} | values


def dev_tls(pki: Path, identity: str) -> TLSFiles:
    """The dev PKI's CA with `identity`'s certificate and key."""
    return TLSFiles(ca=pki / "ca.pem", cert=pki / f"{identity}.pem", key=pki / f"{identity}-key.pem")


def tls_env(prefix: str, pki: Path, identity: str) -> dict[str, str]:
    """`prefix`_TLS_{CA,CERT,KEY}_FILE settings for `identity` in the dev PKI."""
    tls = dev_tls(pki, identity)
    return {
        f"{prefix}_TLS_CA_FILE": str(tls.ca),
        f"{prefix}_TLS_CERT_FILE": str(tls.cert),
        f"{prefix}_TLS_KEY_FILE": str(tls.key),
    }


def _provider_urls(sim_url: str) -> dict[str, str]:
    urls = {f"ROUTER_{name.upper()}_BASE_URL": f"{sim_url}/{name}/v1" for name in OPENAI_COMPATIBLE}
    return urls | {
        "ROUTER_ANTHROPIC_BASE_URL": f"{sim_url}/anthropic",
        "ROUTER_GOOGLE_BASE_URL": f"{sim_url}/google",
    }


@dataclass
class RouterStack:
    """The running services and how to reach them; `start_routers` fills in the routers."""

    pki: Path
    nats_url: str
    keyvault_port: int
    sim_url: str
    audit: Path  # keyvault's audit sink, one JSON line per operation
    pids: dict[str, int]  # "nats", "keyvault", "simulator", "router 1", …: for CPU and RSS accounting
    router_ports: list[int] = field(default_factory=list)
    watches: list[RouterWatch] = field(default_factory=list)

    @property
    def chat_api_tls(self) -> TLSFiles:
        """chat-api's identity: the benches call routers as chat-api does."""
        return dev_tls(self.pki, "chat-api")


def start_services(procs: Processes, work: Path, *, bits: int) -> RouterStack:
    """The dev PKI and a keyvault key in `work`; NATS, keyvault and the simulator started and ready."""
    pki = work / "pki"
    ensure_dev_pki(pki)
    generate_key(work / "keys", bits=bits)
    nats_port, keyvault_port, keyvault_health, sim_port = free_port(), free_port(), free_port(), free_port()
    stack = RouterStack(
        pki=pki,
        nats_url=f"nats://127.0.0.1:{nats_port}",
        keyvault_port=keyvault_port,
        sim_url=f"http://127.0.0.1:{sim_port}",
        audit=work / "audit.jsonl",
        pids={},
    )
    nats_server = procs.start(
        "nats-server",
        [str(BIN / "nats-server"), "-a", "127.0.0.1", "-p", str(nats_port), "-js", "-sd", str(work / "nats")],
        stderr=subprocess.DEVNULL,
    )
    keyvault = procs.start(
        "keyvault",
        [str(BIN / "python"), "-m", "keyvault"],
        env=service_env(
            KEYVAULT_PORT=str(keyvault_port),
            KEYVAULT_HEALTH_PORT=str(keyvault_health),
            KEYVAULT_KEYS_DIR=str(work / "keys"),
            KEYVAULT_NATS_URL=stack.nats_url,
            **tls_env("KEYVAULT", pki, "keyvault"),
            KEYVAULT_AUDIT_SINK=str(stack.audit),
            KEYVAULT_LOG_LEVEL="WARNING",
        ),
    )
    # The simulator's output goes to a file: an interrupted run makes it log every dropped request.
    sim_log = work / "simulator.log"
    with sim_log.open("wb") as sim_out:
        sim = procs.start(
            "provider simulator",
            [str(BIN / "python"), "-m", "switchyard_dev.provider_sim", "--port", str(sim_port)],
            stdout=sim_out,
            stderr=subprocess.STDOUT,
        )
    wait_until("keyvault", lambda: grpc_serving(keyvault_health), keyvault, timeout=60)
    wait_until(
        "provider simulator", lambda: http_ok(f"{stack.sim_url}/_sim/calls"), sim, timeout=60, log=sim_log
    )
    stack.pids |= {"nats": nats_server.pid, "keyvault": keyvault.pid, "simulator": sim.pid}
    return stack


def _router_env(stack: RouterStack, port: int) -> dict[str, str]:
    return service_env(
        ROUTER_HOST="127.0.0.1",
        ROUTER_PORT=str(port),
        ROUTER_HEALTH_PORT="0",
        ROUTER_KEYVAULT_ADDRESS=f"localhost:{stack.keyvault_port}",
        ROUTER_NATS_URL=stack.nats_url,
        **tls_env("ROUTER", stack.pki, "router"),
        # "caught up" and "credential purged" are INFO; per-request lines only on failure.
        ROUTER_LOG_LEVEL="INFO",
        ROUTER_SHUTDOWN_GRACE_SECONDS="0",
        **_provider_urls(stack.sim_url),  # no platform keys: every chat must use the user's key
    )


def start_routers(procs: Processes, stack: RouterStack, count: int) -> None:
    """`count` routers on `stack`'s services, each waited for until its revocation feed caught up."""
    stack.router_ports = [free_port() for _ in range(count)]
    children: list[subprocess.Popen[bytes]] = []
    for number, port in enumerate(stack.router_ports, start=1):
        child = procs.start(
            f"router {number}",
            [str(BIN / "python"), "-m", "router"],
            env=_router_env(stack, port),
            stderr=subprocess.PIPE,
        )
        assert child.stderr is not None
        stack.watches.append(RouterWatch(child.stderr))
        children.append(child)
        stack.pids[f"router {number}"] = child.pid
    for number, (child, watch) in enumerate(zip(children, stack.watches, strict=True), start=1):
        try:
            wait_until(f"router {number}", watch.caught_up.is_set, child, timeout=60)
        except BenchError:
            print("\n".join(watch.tail), file=sys.stderr)
            raise
