"""`python -m keyvault`: serve until SIGTERM/SIGINT."""

from __future__ import annotations

import sys

from keyvault.keyring import KeyRingError
from keyvault.server import run
from switchyard_common.entrypoint import run_service


def main() -> int:
    return run_service("keyvault", "KEYVAULT_", run, clean_errors=(KeyRingError,))


if __name__ == "__main__":
    sys.exit(main())
