"""Looking for a secret everywhere it must not be: a canary's encodings, a recorder of every HTTP
exchange a test makes, and readers for the places a service can leave text behind (database tables,
files it writes, core dumps).

A leak rarely shows the whole key verbatim: a log line may hold its base64, a bytea column its hex,
a provider's "masked" echo a long slice of it. `Canary.forms` and `Canary.fragments` are every shape
the sweep looks for.
"""

from __future__ import annotations

import base64
import contextlib
import glob
import itertools
import os
import re
import resource
import urllib.parse
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

__all__ = [
    "FRAGMENT",
    "Canary",
    "Exchange",
    "RecordingTransport",
    "core_dumps_allowed",
    "core_files",
    "core_limit",
    "dump_every_table",
    "files_under",
    "hits_in",
]

# Characters of a key that count as a leak of it: 48 random bits for the test's hex keys, so no
# chance match in a few megabytes of logs and dumps, yet far shorter than any key.
FRAGMENT = 12
_CORE_NAME = re.compile(r"core(\.\d+)?")


@dataclass(frozen=True)
class Canary:
    """A provider key that exists only to be looked for; `prefix` is its provider's public prefix."""

    name: str
    value: str
    prefix: str = ""

    def forms(self) -> dict[str, bytes]:
        """Every encoding of the whole key the sweep counts as a leak, by name."""
        raw = self.value.encode()
        forms = {
            "verbatim": raw,
            "hex": raw.hex().encode(),
            "HEX": raw.hex().upper().encode(),
            "url-encoded": urllib.parse.quote(self.value, safe="").encode(),
        }
        for shift in range(3):
            forms[f"base64@{shift}"] = _base64_core(raw, shift, base64.b64encode)
            forms[f"urlsafe-base64@{shift}"] = _base64_core(raw, shift, base64.urlsafe_b64encode)
        # A form that is the same bytes as an earlier one (a key with nothing to URL-encode) once only.
        unique: dict[bytes, str] = {}
        for form, needle in forms.items():
            unique.setdefault(needle, form)
        return {form: needle for needle, form in unique.items()}

    def fragments(self) -> list[bytes]:
        """Every run of `FRAGMENT` characters of the key's secret part (after its public prefix):
        a "masked" or truncated echo still gives one away. The last 4 characters alone (the hint
        chat-api shows) are not a leak."""
        body = self.value.removeprefix(self.prefix).encode()
        return [body[start : start + FRAGMENT] for start in range(len(body) - FRAGMENT + 1)]


def _base64_core(raw: bytes, shift: int, encode: Callable[[bytes], bytes]) -> bytes:
    """The characters of `raw`'s base64 that do not depend on its neighbours, at one alignment."""
    encoded = encode(b"\0" * shift + raw)
    # The first group mixes in the neighbours before the key, the last one those after it.
    return encoded[4:-4]


def hits_in(data: bytes, canaries: Iterable[Canary]) -> list[str]:
    """`<canary> (<form>)` for every form of every canary found in `data`; one fragment at most each."""
    hits: list[str] = []
    for canary in canaries:
        hits += [f"{canary.name} ({form})" for form, needle in canary.forms().items() if needle in data]
        fragment = next((f for f in canary.fragments() if f in data), None)
        if fragment is not None:
            hits.append(f"{canary.name} (the fragment {fragment.decode()!r})")
    return hits


@dataclass
class Exchange:
    """One HTTP request as the test made it and its response as the test received it, every byte."""

    request_id: str
    method: str
    url: str
    status: int
    headers: str
    body: bytearray = field(default_factory=bytearray)

    def text(self) -> bytes:
        head = f"{self.method} {self.url} -> {self.status}\n{self.headers}\n".encode()
        return head + bytes(self.body)


class _Tee(httpx.AsyncByteStream):
    """A response stream that keeps a copy of what the client reads (SSE events as they come)."""

    def __init__(self, inner: httpx.AsyncByteStream, sink: bytearray) -> None:
        self._inner = inner
        self._sink = sink

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            self._sink.extend(chunk)
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class RecordingTransport(httpx.AsyncBaseTransport):
    """httpx's transport, tagging every request with its own X-Request-ID and recording the reply."""

    def __init__(self, id_prefix: str) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._ids = itertools.count(1)
        self._prefix = id_prefix
        self.exchanges: list[Exchange] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request_id = f"{self._prefix}-{next(self._ids):04d}"
        request.headers["X-Request-ID"] = request_id
        request.headers["Accept-Encoding"] = "identity"  # bytes as sent, not compressed
        response = await self._inner.handle_async_request(request)
        headers = "\n".join(f"{name}: {value}" for name, value in response.headers.multi_items())
        exchange = Exchange(request_id, request.method, str(request.url), response.status_code, headers)
        self.exchanges.append(exchange)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_Tee(response.stream, exchange.body),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


def dump_every_table(conninfo: str) -> dict[str, bytes]:
    """Every row of every table outside the system schemas, as PostgreSQL's text form, by table."""
    dump: dict[str, bytes] = {}
    with psycopg.connect(conninfo, connect_timeout=5) as db:
        tables = db.execute(
            "SELECT schemaname, tablename FROM pg_tables"
            " WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
        ).fetchall()
        for schema, table in tables:
            query = sql.SQL("SELECT t::text FROM {}.{} AS t").format(
                sql.Identifier(schema), sql.Identifier(table)
            )
            rows = db.execute(query).fetchall()
            dump[f"{schema}.{table}"] = "\n".join(str(row[0]) for row in rows).encode()
    return dump


def log_every_statement(conninfo: str) -> None:
    """Make the server log every statement on this database with its bound parameters (sessions
    opened from now on): a key sent in any SQL, even one that stores nothing, then shows in its log."""
    with psycopg.connect(conninfo, autocommit=True) as db:
        name = sql.Identifier(db.info.dbname)
        db.execute(sql.SQL("ALTER DATABASE {} SET log_statement = 'all'").format(name))
        db.execute(sql.SQL("ALTER DATABASE {} SET log_parameter_max_length = -1").format(name))


class LogTails:
    """What is appended to some log files from now on (files that cannot be read are left out)."""

    def __init__(self, pattern: str) -> None:
        self._offsets: dict[Path, int] = {}
        for path in map(Path, glob.glob(pattern)):
            try:
                with path.open("rb") as log:
                    self._offsets[path] = log.seek(0, os.SEEK_END)
            except OSError:
                continue

    @property
    def files(self) -> list[Path]:
        return list(self._offsets)

    def appended(self) -> dict[Path, bytes]:
        added: dict[Path, bytes] = {}
        for path, offset in self._offsets.items():
            with path.open("rb") as log:
                log.seek(offset)
                added[path] = log.read()
        return added


def files_under(root: Path) -> Iterator[Path]:
    """Every regular file below `root` (sockets, fifos and the like skipped)."""
    for directory, _, names in os.walk(root):
        for name in names:
            path = Path(directory, name)
            if path.is_file() and not path.is_symlink():
                yield path


def core_files(cwds: Iterable[Path], *, since: float) -> list[Path]:
    """Core dumps the kernel may have written: `core`/`core.<pid>` in each process's cwd (the default
    core_pattern), and anything new in core_pattern's directory when that is an absolute path."""
    found = [path for directory in cwds for path in _files_in(directory) if _CORE_NAME.fullmatch(path.name)]
    pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
    if pattern.startswith("/"):  # a plain path; "|..." pipes the dump to a program instead
        directory = Path(pattern).parent
        if "%" not in str(directory):
            found += [path for path in _files_in(directory) if path.stat().st_mtime >= since]
    return found


def _files_in(directory: Path) -> list[Path]:
    try:
        return [path for path in directory.iterdir() if path.is_file() and not path.is_symlink()]
    except OSError:  # no such directory, or not ours to read
        return []


@contextlib.contextmanager
def core_dumps_allowed() -> Iterator[bool]:
    """Processes started inside inherit a soft RLIMIT_CORE as high as the hard one, so that a crash
    dumps core unless the process itself forbids it. Yields False when the hard limit forbids dumps."""
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
    try:
        yield hard != 0
    finally:
        resource.setrlimit(resource.RLIMIT_CORE, (soft, hard))


def core_limit(pid: int) -> tuple[str, str]:
    """A running process's (soft, hard) core file size limit, as /proc/<pid>/limits shows it."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max core file size"):
            soft, hard = line.removeprefix("Max core file size").split()[:2]
            return soft, hard
    raise AssertionError(f"/proc/{pid}/limits has no core file size")
