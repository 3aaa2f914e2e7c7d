"""`python -m router`: serve until SIGTERM/SIGINT."""

from __future__ import annotations

import sys

from router.server import run
from switchyard_common.entrypoint import run_service


def main() -> int:
    return run_service("router", "ROUTER_", run)


if __name__ == "__main__":
    sys.exit(main())
