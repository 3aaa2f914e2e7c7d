"""`make dev`: run the whole stack on embedded defaults, in the foreground, until Ctrl-C.

Creates what is missing under .dev/ (dev CA and certificates, a dev RSA key, a PostgreSQL
cluster), checks every port first (a port in use gets a clear message), starts an embedded
PostgreSQL (unless CHAT_API_DATABASE_URL names another server), nats-server with JetStream and
every service, waits until each is healthy, prints where each listens, and on Ctrl-C (or when any
process dies) stops everything cleanly. The caller's environment reaches every service and
overrides the defaults below. Data under .dev/ (accounts, keys, conversations) survives a restart.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from switchyard_dev.pki import ensure_dev_pki
from switchyard_dev.postgres import EmbeddedPostgres, PostgresError
from switchyard_dev.provider_sim.demo import demo_environment
from switchyard_dev.supervisor import BIN, Port, Process, ports_in_use, supervise

ROOT = Path(__file__).resolve().parents[4]


POSTGRES = Port("SWITCHYARD_POSTGRES_PORT", 17340)
NATS = Port("SWITCHYARD_NATS_PORT", 14222)
KEYVAULT = Port("KEYVAULT_PORT", 17310)
KEYVAULT_HEALTH = Port("KEYVAULT_HEALTH_PORT", 17311)
ROUTER = Port("ROUTER_PORT", 17320)
ROUTER_HEALTH = Port("ROUTER_HEALTH_PORT", 17321)
CHAT_API = Port("CHAT_API_PORT", 8000)
DEMO = Port("SWITCHYARD_DEMO_PORT", 17330)
DATABASE = "switchyard"


def _tcp_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _grpc_serving(port: int) -> bool:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=1
            )
        except grpc.RpcError:
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def _http_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - our own local URL
            return bool(response.status == 200)
    except OSError:
        return False


def dev_environment(dev_dir: Path, env: Mapping[str, str]) -> dict[str, str]:
    """Embedded defaults for every service; anything already in `env` wins."""
    pki = dev_dir / "pki"
    nats_port = NATS.value(env)
    defaults = {
        "SWITCHYARD_NATS_PORT": str(nats_port),
        "KEYVAULT_NATS_URL": f"nats://127.0.0.1:{nats_port}",
        "KEYVAULT_KEYS_DIR": str(dev_dir / "keys"),
        "KEYVAULT_TLS_CA_FILE": str(pki / "ca.pem"),
        "KEYVAULT_TLS_CERT_FILE": str(pki / "keyvault.pem"),
        "KEYVAULT_TLS_KEY_FILE": str(pki / "keyvault-key.pem"),
        "KEYVAULT_AUDIT_SINK": str(dev_dir / "audit" / "keyvault.jsonl"),
        "ROUTER_NATS_URL": f"nats://127.0.0.1:{nats_port}",
        "ROUTER_KEYVAULT_ADDRESS": f"localhost:{KEYVAULT.value(env)}",
        "ROUTER_TLS_CA_FILE": str(pki / "ca.pem"),
        "ROUTER_TLS_CERT_FILE": str(pki / "router.pem"),
        "ROUTER_TLS_KEY_FILE": str(pki / "router-key.pem"),
        "CHAT_API_DATABASE_URL": embedded_postgres(dev_dir, env).sqlalchemy_url(DATABASE),
        "CHAT_API_NATS_URL": f"nats://127.0.0.1:{nats_port}",
        "CHAT_API_ROUTER_ADDRESS": f"localhost:{ROUTER.value(env)}",
        "CHAT_API_TLS_CA_FILE": str(pki / "ca.pem"),
        "CHAT_API_TLS_CERT_FILE": str(pki / "chat-api.pem"),
        "CHAT_API_TLS_KEY_FILE": str(pki / "chat-api-key.pem"),
        # Below the supervisor's 15 s stop timeout, so open streams finish before it kills chat-api.
        "CHAT_API_SHUTDOWN_GRACE_SECONDS": "10",
    }
    # The demo provider stands in only where the caller gave no base URL or platform key of their own.
    return {**defaults, **env, **demo_environment(env, DEMO.value(env))}


def embedded_postgres(dev_dir: Path, env: Mapping[str, str]) -> EmbeddedPostgres:
    return EmbeddedPostgres(
        data_dir=dev_dir / "postgres",
        port=POSTGRES.value(env),
        log_file=dev_dir / "postgres.log",
        port_setting=POSTGRES.setting,
        password_file=dev_dir / "postgres.password",
    )


def uses_embedded_postgres(env: Mapping[str, str]) -> bool:
    """False when the caller's CHAT_API_DATABASE_URL names a server of their own."""
    return "CHAT_API_DATABASE_URL" not in env


def postgres_process(dev_dir: Path, env: Mapping[str, str]) -> Process:
    server = embedded_postgres(dev_dir, env)
    return Process(
        name="postgres",
        argv=server.command(),
        ports=[POSTGRES],
        ready=lambda _env: server.ready(),
        describe=lambda _env: (
            f"postgresql://127.0.0.1:{server.port}/{DATABASE} (embedded; data {server.data_dir}, "
            f"log {server.log_file})"
        ),
        on_ready=lambda: server.ensure_database(DATABASE),
        exit_reason=server.exit_reason,
        output=server.log_file,
        stop_signal=signal.SIGINT,
    )


def processes(dev_dir: Path, env: Mapping[str, str]) -> list[Process]:
    database = [postgres_process(dev_dir, env)] if uses_embedded_postgres(env) else []
    return [
        *database,
        Process(
            name="nats",
            argv=[
                "{bin}/nats-server",
                "-a",
                "127.0.0.1",
                "-p",
                "{SWITCHYARD_NATS_PORT}",
                "-js",
                "-sd",
                str(dev_dir / "nats"),
                "-l",
                str(dev_dir / "nats.log"),
            ],
            ports=[NATS],
            ready=lambda env: _tcp_open(NATS.value(env)),
            describe=lambda env: (
                f"nats://127.0.0.1:{NATS.value(env)} (JetStream; log {dev_dir / 'nats.log'})"
            ),
        ),
        Process(
            name="demo",
            argv=[
                "{bin}/python",
                "-m",
                "switchyard_dev.provider_sim",
                "--demo",
                "--port",
                "{SWITCHYARD_DEMO_PORT}",
            ],
            ports=[DEMO],
            ready=lambda env: _tcp_open(DEMO.value(env)),
            describe=lambda env: (
                f"http://127.0.0.1:{DEMO.value(env)} (demo provider, platform access for: "
                f"{env['ROUTER_DEMO_PROVIDERS'].replace(',', ', ') or 'none, real ones configured'}; "
                "any key of the right shape)"
            ),
        ),
        Process(
            name="keyvault",
            argv=["{bin}/python", "-m", "keyvault"],
            ports=[KEYVAULT, KEYVAULT_HEALTH],
            ready=lambda env: _grpc_serving(KEYVAULT_HEALTH.value(env)),
            describe=lambda env: (
                f"grpcs://localhost:{KEYVAULT.value(env)} (mTLS), "
                f"health grpc://127.0.0.1:{KEYVAULT_HEALTH.value(env)}"
            ),
        ),
        Process(
            name="router",
            argv=["{bin}/python", "-m", "router"],
            ports=[ROUTER, ROUTER_HEALTH],
            ready=lambda env: _grpc_serving(ROUTER_HEALTH.value(env)),
            describe=lambda env: (
                f"grpcs://localhost:{ROUTER.value(env)} (mTLS; providers with a "
                f"ROUTER_<PROVIDER>_PLATFORM_KEY: {_platform_providers(env) or 'none, BYOK only'}), "
                f"health grpc://127.0.0.1:{ROUTER_HEALTH.value(env)}"
            ),
        ),
        Process(
            name="chat-api",
            argv=["{bin}/python", "-m", "chat_api"],
            ports=[CHAT_API],
            ready=lambda env: _http_ready(f"http://127.0.0.1:{CHAT_API.value(env)}/readyz"),
            describe=lambda env: (
                f"http://127.0.0.1:{CHAT_API.value(env)} (REST; web app at /app/; OpenAPI at /docs)"
            ),
        ),
    ]


def _platform_providers(env: Mapping[str, str]) -> str:
    suffix = "_PLATFORM_KEY"
    return ", ".join(
        sorted(
            k.removeprefix("ROUTER_").removesuffix(suffix).lower()
            for k, v in env.items()
            if k.startswith("ROUTER_") and k.endswith(suffix) and v
        )
    )


def prepare(dev_dir: Path, env: Mapping[str, str], *, embedded_database: bool) -> None:
    ensure_dev_pki(dev_dir / "pki")
    if embedded_database:
        embedded_postgres(dev_dir, env).initialize()
    (dev_dir / "audit").mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [str(BIN / "python"), "-m", "keyvault.keys", "generate", "--if-empty"],
        env=dict(env),
        check=True,
    )


def run(dev_dir: Path, env: Mapping[str, str]) -> int:
    full_env = dev_environment(dev_dir, env)
    stack = processes(dev_dir, env)
    problems = ports_in_use(stack, full_env)
    if problems:
        print("make dev: cannot start:", *problems, sep="\n  ", file=sys.stderr)
        return 2
    try:
        prepare(dev_dir, full_env, embedded_database=uses_embedded_postgres(env))
    except PostgresError as exc:
        print(f"make dev: {exc}", file=sys.stderr)
        return 1
    # Again, now that .dev holds the database's password (chat-api's URL carries it).
    full_env, stack = dev_environment(dev_dir, env), processes(dev_dir, env)
    return supervise(stack, full_env, state=dev_dir)


def main() -> int:
    dev_dir = Path(os.environ.get("SWITCHYARD_DEV_DIR", ROOT / ".dev")).resolve()
    return run(dev_dir, os.environ)


if __name__ == "__main__":
    sys.exit(main())
