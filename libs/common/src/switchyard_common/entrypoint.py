"""`python -m <service>`: start-up failures become one clear line and exit code 2, never a traceback;
no process of a service ever dumps core."""

from __future__ import annotations

import asyncio
import resource
import signal
import sys
from collections.abc import Callable

from pydantic import ValidationError

from switchyard_common.grpc_server import PortInUse

__all__ = ["forbid_core_dumps", "run_service", "wait_for_shutdown_signal"]


def run_service(
    service: str, env_prefix: str, run: Callable[[], None], *, clean_errors: tuple[type[Exception], ...] = ()
) -> int:
    """Run `run()`; configuration errors print `<service>: <what to fix>` to stderr."""
    forbid_core_dumps()
    handled: tuple[type[Exception], ...] = (PortInUse, *clean_errors)
    try:
        run()
    except ValidationError as exc:
        fields = ", ".join(env_prefix + str(err["loc"][0]).upper() for err in exc.errors())
        print(f"{service}: missing or invalid settings: {fields}", file=sys.stderr)
        return 2
    except handled as exc:
        print(f"{service}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        # A configured file (TLS, passphrase, audit log) that cannot be read or created.
        detail = f"{exc.strerror}: {exc.filename}" if exc.filename else str(exc)
        print(f"{service}: cannot start: {detail}", file=sys.stderr)
        return 2
    return 0


def forbid_core_dumps() -> None:
    """A crash must not write this process's memory to disk: it holds provider keys in plaintext
    (router, keyvault while it decrypts, chat-api while it seals), keyvault its RSA private keys."""
    # 1 byte, not 0: below a page the kernel writes no core file, and for a core_pattern pipe a limit
    # of exactly 1 makes it abort before the memory reaches the handler at all (with 0 it still pipes
    # the dump and trusts the handler to drop it). Soft and hard, so nothing in the process raises it;
    # a hard limit of 0 already set stays (raising it back to 1 would need a privilege).
    _, hard = resource.getrlimit(resource.RLIMIT_CORE)
    limit = 0 if hard == 0 else 1
    resource.setrlimit(resource.RLIMIT_CORE, (limit, limit))


async def wait_for_shutdown_signal(*, on_reload: Callable[[], None] | None = None) -> None:
    """Return on SIGTERM or SIGINT; call `on_reload` on SIGHUP."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if on_reload is not None:
        loop.add_signal_handler(signal.SIGHUP, on_reload)
    await stop.wait()
