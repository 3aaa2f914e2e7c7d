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
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from switchyard_dev.pki import ensure_dev_pki
from switchyard_dev.postgres import EmbeddedPostgres, PostgresError
from switchyard_dev.provider_sim.demo import demo_environment

ROOT = Path(__file__).resolve().parents[4]
BIN = Path(sys.executable).parent
STARTUP_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class Port:
    setting: str
    default: int

    def value(self, env: Mapping[str, str]) -> int:
        return int(env.get(self.setting, self.default))


POSTGRES = Port("SWITCHYARD_POSTGRES_PORT", 17340)
NATS = Port("SWITCHYARD_NATS_PORT", 14222)
KEYVAULT = Port("KEYVAULT_PORT", 17310)
KEYVAULT_HEALTH = Port("KEYVAULT_HEALTH_PORT", 17311)
ROUTER = Port("ROUTER_PORT", 17320)
ROUTER_HEALTH = Port("ROUTER_HEALTH_PORT", 17321)
CHAT_API = Port("CHAT_API_PORT", 8000)
DEMO = Port("SWITCHYARD_DEMO_PORT", 17330)
DATABASE = "switchyard"


@dataclass
class Process:
    name: str
    argv: list[str]
    ports: list[Port]
    ready: Callable[[Mapping[str, str]], bool]
    describe: Callable[[Mapping[str, str]], str]
    env: dict[str, str] = field(default_factory=dict)
    # Run once the process is ready (e.g. create chat-api's database).
    on_ready: Callable[[], None] | None = None
    # Why it exited, in one line, from its own log where it has one.
    exit_reason: Callable[[int | None], str] | None = None
    # Where its output goes (None: this terminal); PostgreSQL's would drown the others'.
    output: Path | None = None
    # PostgreSQL's "fast shutdown" is SIGINT (its SIGTERM waits for every client to leave).
    stop_signal: int = signal.SIGTERM
    popen: subprocess.Popen[bytes] | None = None

    def exited(self) -> str:
        assert self.popen is not None
        code = self.popen.returncode
        return self.exit_reason(code) if self.exit_reason else f"{self.name} exited with code {code}"


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


def ports_in_use(stack: list[Process], env: Mapping[str, str]) -> list[str]:
    problems = []
    for process in stack:
        for port in process.ports:
            number = port.value(env)
            with socket.socket() as sock:
                # As every server of the stack binds: connections of the last run still in TIME_WAIT
                # do not hold the port (without it, `make dev` right after Ctrl-C says "in use").
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind(("127.0.0.1", number))
                except OSError:
                    problems.append(
                        f"port {number} ({port.setting}, for {process.name}) is already in use: "
                        f"stop what uses it or run `{port.setting}=<free port> make dev`"
                    )
    return problems


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


def _start(process: Process, env: dict[str, str]) -> None:
    argv = [part.format(bin=BIN, **env) for part in process.argv]
    # A new process group: Ctrl-C reaches this supervisor only, which then stops each child in order.
    if process.output is None:
        process.popen = subprocess.Popen(argv, env=env, start_new_session=True)
        return
    process.output.parent.mkdir(parents=True, exist_ok=True)
    with process.output.open("ab") as output:
        process.popen = subprocess.Popen(
            argv, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )


def _wait_ready(process: Process, env: Mapping[str, str]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        assert process.popen is not None
        if process.popen.poll() is not None:
            raise RuntimeError(process.exited())
        if process.ready(env):
            if process.on_ready is not None:
                process.on_ready()
            return
        time.sleep(0.1)
    raise RuntimeError(f"{process.name} was not ready after {STARTUP_TIMEOUT_SECONDS:.0f}s")


def _stop_all(stack: list[Process]) -> None:
    for process in reversed(stack):
        if process.popen is not None and process.popen.poll() is None:
            process.popen.send_signal(process.stop_signal)
            try:
                process.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.popen.kill()
                process.popen.wait()


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
    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        for process in stack:
            _start(process, full_env)
            _wait_ready(process, full_env)
        print("\nSwitchyard dev stack is up (Ctrl-C stops everything):")
        for process in stack:
            print(f"  {process.name:<10} {process.describe(full_env)}")
        print(f"  state in {dev_dir}", flush=True)
        while not stopping:
            for process in stack:
                assert process.popen is not None
                if process.popen.poll() is not None:
                    raise RuntimeError(process.exited())
            time.sleep(0.2)
        print("\nstopping…", flush=True)
        return 0
    except (RuntimeError, PostgresError) as exc:
        print(f"make dev: {exc}", file=sys.stderr)
        return 1
    finally:
        _stop_all(stack)
        print("stopped", flush=True)


def main() -> int:
    dev_dir = Path(os.environ.get("SWITCHYARD_DEV_DIR", ROOT / ".dev")).resolve()
    return run(dev_dir, os.environ)


if __name__ == "__main__":
    sys.exit(main())
