"""``python -m tests.support.provider_sim [--host H] [--port N]``: run the simulator until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import signal

from tests.support.provider_sim.simulator import ProviderSimulator


async def _serve(host: str, port: int) -> None:
    sim = ProviderSimulator(host=host, port=port)
    await sim.start()
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
        print(f"served {len(sim.calls)} calls", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.support.provider_sim", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.host, args.port))


if __name__ == "__main__":
    main()
