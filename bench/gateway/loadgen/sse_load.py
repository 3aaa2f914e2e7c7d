"""Closed-loop load on one chat completions URL that times each reply's first SSE event.

wrk cannot see when the first event of a stream arrives, so the gateway benchmark streams with
this: N keep-alive HTTP/1.1 connections, one request in flight on each, for --warmup + --duration
seconds (and at most --max-requests requests). Per request it records the time to the response
headers, to the first body bytes holding `data:` (for JSON replies: to the first body bytes) and
to the end. A reply counts only if it is HTTP 200 and holds `data: [DONE]` (streams) or
`"choices"` (JSON). The token and extra headers come from BENCH_TOKEN and BENCH_HEADERS (one
`Name: value` a line), never from the command line. Prints one JSON object. Standard library and
uvloop only, so that it costs little CPU beside the upstream it shares a core with.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import sys
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import uvloop

READ_SIZE = 65536
Result = dict[str, Any]


class BadResponse(Exception):
    """A reply that must not count: wrong status, no [DONE], no choices, cut short."""


@dataclass(frozen=True)
class Request:
    host: str
    port: int
    tls: bool
    payload: bytes
    stream: bool


@dataclass
class Samples:
    """(headers, first event, total) seconds of each request that began after the warm-up."""

    timings: list[tuple[float, float, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    attempts: int = 0


def parse_headers(lines: list[str]) -> list[tuple[str, str]]:
    """'Name: value' lines → pairs; refuses anything that could split the request."""
    pairs = []
    for line in filter(str.strip, lines):
        name, sep, value = (part.strip() for part in line.partition(":"))
        if not sep or not name or " " in name or any(c in name + value for c in "\r\n\0"):
            raise SystemExit(f"bad header {line!r}: expected 'Name: value'")
        pairs.append((name, value))
    return pairs


def _body(model: str, stream: bool) -> bytes:
    request: dict[str, Any] = {
        "model": model,
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Say hello in one short sentence."},
        ],
        "max_tokens": 32,
    }
    if stream:
        request["stream"] = True
    return json.dumps(request, separators=(",", ":")).encode()


def build_request(url: str, token: str, model: str, stream: bool, extra: list[tuple[str, str]]) -> Request:
    parts = urlsplit(url)
    tls = parts.scheme == "https"
    host, port = parts.hostname or "127.0.0.1", parts.port or (443 if tls else 80)
    body = _body(model, stream)
    headers = {
        "host": ("Host", host if parts.port is None else f"{host}:{port}"),
        "authorization": ("Authorization", f"Bearer {token}"),
        "content-type": ("Content-Type", "application/json"),
        "accept": ("Accept", "text/event-stream" if stream else "application/json"),
    }
    headers.update({name.lower(): (name, value) for name, value in extra})
    headers["content-length"] = ("Content-Length", str(len(body)))
    headers["connection"] = ("Connection", "keep-alive")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    head = f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.values())
    return Request(host, port, tls, (head + "\r\n").encode() + body, stream)


class Body:
    """A reply's body as it arrives, with the moment the first event (or JSON byte) came."""

    def __init__(self, stream: bool) -> None:
        self.data = bytearray()
        self.first: float | None = None
        self._marker = b"data:" if stream else b""

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        if self.first is None and self._marker in self.data:
            self.first = time.perf_counter()


async def _read_chunked(reader: asyncio.StreamReader, body: Body) -> None:
    while size := int((await reader.readuntil(b"\r\n")).split(b";", 1)[0].strip(), 16):
        body.add((await reader.readexactly(size + 2))[:-2])
    while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, normally none
        pass


async def _read_sized(reader: asyncio.StreamReader, body: Body, remaining: int) -> None:
    while remaining > 0:
        data = await reader.read(min(remaining, READ_SIZE))
        if not data:
            raise BadResponse("connection closed mid-body")
        remaining -= len(data)
        body.add(data)


async def _read_to_eof(reader: asyncio.StreamReader, body: Body) -> None:
    while data := await reader.read(READ_SIZE):
        body.add(data)


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(lines[0].split(" ", 2)[1]), headers


def _check(status: int, body: bytes, stream: bool) -> None:
    if status != 200:
        raise BadResponse(f"HTTP {status}: {body[:200]!r}")
    if stream and b"data: [DONE]" not in body and b"data:[DONE]" not in body:
        raise BadResponse(f"stream without [DONE]: {body[-200:]!r}")
    if not stream and b'"choices"' not in body:
        raise BadResponse(f"no choices in body: {body[:200]!r}")


async def one_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: Request
) -> tuple[tuple[float, float, float], bool]:
    """Send one request on an open connection: ((headers, first event, total), keep-alive)."""
    start = time.perf_counter()
    writer.write(request.payload)
    status, headers = _parse_head(await reader.readuntil(b"\r\n\r\n"))
    got_headers = time.perf_counter()
    body = Body(request.stream)
    keep_alive = headers.get("connection", "").lower() != "close"
    if headers.get("transfer-encoding", "").lower() == "chunked":
        await _read_chunked(reader, body)
    elif "content-length" in headers:
        await _read_sized(reader, body, int(headers["content-length"]))
    else:
        keep_alive = False
        await _read_to_eof(reader, body)
    end = time.perf_counter()
    _check(status, bytes(body.data), request.stream)
    return (got_headers - start, (body.first or end) - start, end - start), keep_alive


@dataclass(frozen=True)
class Window:
    measure_from: float
    stop_at: float
    max_requests: int
    timeout: float


async def worker(request: Request, window: Window, samples: Samples) -> None:
    """One connection's closed loop; reconnects after an error or a closed connection."""
    tls = ssl.create_default_context() if request.tls else None
    writer: asyncio.StreamWriter | None = None
    while time.perf_counter() < window.stop_at and samples.attempts < window.max_requests:
        began = time.perf_counter()
        samples.attempts += 1  # failed attempts count towards --max-requests too
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(
                    request.host, request.port, ssl=tls, limit=1 << 20
                )
            timing, keep_alive = await asyncio.wait_for(one_request(reader, writer, request), window.timeout)
        except Exception as exc:  # count it, reconnect and go on, as wrk does
            if time.perf_counter() >= window.measure_from:
                samples.errors.append(f"{type(exc).__name__}: {exc}"[:300])
            keep_alive = False
            await asyncio.sleep(0.01)
        else:
            if began >= window.measure_from:
                samples.timings.append(timing)
        if not keep_alive and writer is not None:
            writer.close()
            writer = None
    if writer is not None:
        writer.close()


def percentile(ordered: list[float], p: float) -> float | None:
    """Linear interpolation between the closest ranks, as numpy's default does."""
    if not ordered:
        return None
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(samples: Samples, args: argparse.Namespace) -> Result:
    # Requests that began in the window, over the window's length: those still in flight at its end
    # finish and count, as with wrk.
    result: Result = {
        "requests": len(samples.timings),
        "errors": len(samples.errors),
        "rps": len(samples.timings) / args.duration,
        "concurrency": args.concurrency,
        "stream": args.stream,
    }
    for index, name in enumerate(("hdr", "ttfb", "total")):
        ordered = sorted(timing[index] * 1000 for timing in samples.timings)
        for p in (50, 90, 99):
            value = percentile(ordered, p)
            result[f"{name}_p{p}_ms"] = None if value is None else round(value, 4)
    if samples.errors:
        result["first_errors"] = sorted(set(samples.errors))[:5]
    return result


async def run(args: argparse.Namespace) -> Result:
    extra = parse_headers(os.environ.get("BENCH_HEADERS", "").splitlines())
    token = os.environ.get("BENCH_TOKEN", "x")
    request = build_request(args.url, token, args.model, args.stream, extra)
    measure_from = time.perf_counter() + args.warmup
    window = Window(measure_from, measure_from + args.duration, args.max_requests, args.timeout)
    samples = Samples()
    await asyncio.gather(*(worker(request, window, samples) for _ in range(args.concurrency)))
    return summarize(samples, args)


def _run_loop(main: Coroutine[Any, Any, Result], use_uvloop: bool) -> Result:
    return uvloop.run(main) if use_uvloop else asyncio.run(main)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the chat completions endpoint's full URL")
    parser.add_argument("--model", default="fake-model")
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("-c", "--concurrency", type=int, default=1)
    parser.add_argument("-d", "--duration", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds first")
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request timeout, seconds")
    parser.add_argument("--max-requests", type=int, default=2_000_000)
    parser.add_argument("--no-uvloop", action="store_true")
    args = parser.parse_args()
    result = _run_loop(run(args), not args.no_uvloop)
    result["loop"] = "asyncio" if args.no_uvloop else "uvloop"
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
