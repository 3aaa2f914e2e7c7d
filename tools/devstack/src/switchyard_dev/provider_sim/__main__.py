"""``python -m switchyard_dev.provider_sim [--host H] [--port N] [--demo]``: run the simulator until Ctrl-C.

``--demo`` is `make dev`'s demo provider: keys of the wrong shape get the provider's real auth error,
and only the most recent calls are kept in memory.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from switchyard_dev.provider_sim import demo
from switchyard_dev.provider_sim.simulator import ProviderSimulator


async def _serve(host: str, port: int, *, demo_mode: bool) -> None:
    if demo_mode:
        sim = ProviderSimulator(
            host=host, port=port, accepts_key=demo.accepts_key, keep_calls=demo.KEEP_CALLS
        )
    else:
        sim = ProviderSimulator(host=host, port=port)
    await sim.start()
    if demo_mode:
        print(f"demo provider listening on {sim.url}", flush=True)
    else:
        print(f"provider simulator listening on {sim.url}", flush=True)
        for name, value in sim.router_env().items():
            print(f"export {name}={value}", flush=True)
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, done.set)
    try:
        await done.wait()
    finally:
        await sim.stop()
        if not demo_mode:
            print(f"served {len(sim.calls)} calls", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m switchyard_dev.provider_sim", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--demo", action="store_true", help="accept only keys of the provider's shape")
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.host, args.port, demo_mode=args.demo))


if __name__ == "__main__":
    main()
