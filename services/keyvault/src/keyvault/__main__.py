"""`python -m keyvault`: serve until SIGTERM/SIGINT."""

from __future__ import annotations

import sys

from pydantic import ValidationError

from keyvault.keyring import KeyRingError
from keyvault.server import PortInUse, run


def main() -> int:
    try:
        run()
    except ValidationError as exc:
        fields = ", ".join("KEYVAULT_" + str(err["loc"][0]).upper() for err in exc.errors())
        print(f"keyvault: missing or invalid settings: {fields}", file=sys.stderr)
        return 2
    except (PortInUse, KeyRingError) as exc:
        print(f"keyvault: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        # A configured file (TLS, passphrase, audit log) that cannot be read or created.
        detail = f"{exc.strerror}: {exc.filename}" if exc.filename else str(exc)
        print(f"keyvault: cannot start: {detail}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
