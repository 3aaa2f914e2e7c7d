"""The append-only audit trail: one JSON line per Decrypt/Rewrap decision.

Never the secret, never the envelope body. A record that cannot be written makes the caller
refuse the operation (AuditUnavailable), so no decryption happens unaudited.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

__all__ = ["AuditRecord", "AuditSink", "AuditUnavailable", "FileAuditSink", "StdoutAuditSink", "open_sink"]


class AuditUnavailable(Exception):
    """The audit record could not be written."""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    operation: str
    caller: str
    outcome: str
    reason: str = ""
    credential_id: str = ""
    owner_type: str = ""
    owner_id: str = ""
    provider: str = ""
    kid: int | None = None

    def with_outcome(self, outcome: str, reason: str = "", *, kid: int | None = None) -> AuditRecord:
        return replace(self, outcome=outcome, reason=reason, kid=kid)

    def to_line(self) -> bytes:
        record = {"time": datetime.now(UTC).isoformat(), "audit": "keyvault", **asdict(self)}
        return json.dumps(record, separators=(",", ":")).encode() + b"\n"


class AuditSink(Protocol):
    def write(self, record: AuditRecord) -> None: ...
    def close(self) -> None: ...


class FileAuditSink:
    """O_APPEND with one write() per record: lines from concurrent writers never interleave."""

    def __init__(self, path: Path, *, fsync: bool = False) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._fsync = fsync

    def write(self, record: AuditRecord) -> None:
        line = record.to_line()
        try:
            if os.write(self._fd, line) != len(line):
                raise AuditUnavailable("short write to the audit log")
            if self._fsync:
                os.fsync(self._fd)
        except OSError as exc:
            raise AuditUnavailable(f"audit log write failed: {exc.strerror}") from None

    def close(self) -> None:
        os.close(self._fd)


class StdoutAuditSink:
    def write(self, record: AuditRecord) -> None:
        try:
            sys.stdout.buffer.write(record.to_line())
            sys.stdout.buffer.flush()
        except (OSError, ValueError) as exc:
            raise AuditUnavailable(f"audit stdout write failed: {exc}") from None

    def close(self) -> None:
        return None


def open_sink(target: str, *, fsync: bool = False) -> AuditSink:
    if target == "stdout":
        return StdoutAuditSink()
    return FileAuditSink(Path(target), fsync=fsync)
