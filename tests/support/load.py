"""Load-test helpers: a service process's footprint read from /proc, the open-files limit many
concurrent connections need, an HTTP client sized for them, and OpenAI-style streamed completions
read chunk by chunk.

Figures from /proc are Linux's own accounting of the process: VmRSS is resident memory, /proc/<pid>/fd
holds one entry per open file or socket.
"""

from __future__ import annotations

import json
import os
import resource
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.chat_api import User
from tests.support.service_processes import ServiceProcess

__all__ = [
    "CompletionStream",
    "Footprint",
    "cpu_seconds",
    "footprint",
    "load_client",
    "open_files_limit",
    "raise_open_files_limit",
    "stream_completion",
]


@dataclass(frozen=True)
class Footprint:
    """A process's resident memory (KiB) and open file descriptors at one moment."""

    rss_kib: int
    fds: int


def _pid(service: ServiceProcess) -> int:
    assert service.process is not None, f"{service.module} is not running"
    assert service.running, f"{service.module} has exited"
    return service.process.pid


def footprint(service: ServiceProcess) -> Footprint:
    pid = _pid(service)
    status = Path(f"/proc/{pid}/status").read_text()
    rss = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
    return Footprint(rss_kib=int(rss.split()[1]), fds=len(list(Path(f"/proc/{pid}/fd").iterdir())))


def cpu_seconds(service: ServiceProcess) -> float:
    """User plus system CPU time the service process has used so far."""
    fields = Path(f"/proc/{_pid(service)}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_files_limit(service: ServiceProcess) -> int:
    """The service process's soft RLIMIT_NOFILE, as the kernel applies it to that process."""
    limits = Path(f"/proc/{_pid(service)}/limits").read_text()
    line = next(line for line in limits.splitlines() if line.startswith("Max open files"))
    soft = line.removeprefix("Max open files").split()[0]
    return resource.RLIM_INFINITY if soft == "unlimited" else int(soft)


def raise_open_files_limit() -> int:
    """Raise this process's soft open-files limit to its hard limit; processes started later inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def load_client(base_url: str, *, connections: int, timeout: float) -> httpx.AsyncClient:
    """An HTTP client that may hold `connections` requests open at once (httpx's default is 100)."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout)


@dataclass
class CompletionStream:
    """One streamed `/v1/chat/completions` answer as the client saw it."""

    status: int
    key_source: str = ""
    text: str = ""
    finish_reason: str | None = None
    done: bool = False  # `data: [DONE]` arrived
    errors: list[object] = field(default_factory=list)  # error objects sent inside the stream
    body: str = ""  # a response that was not a stream

    @property
    def complete(self) -> bool:
        return self.status == 200 and self.done and self.finish_reason == "stop" and not self.errors


async def stream_completion(
    http: httpx.AsyncClient,
    user: User,
    model: str,
    prompt: str,
    *,
    on_first_text: Callable[[], None] | None = None,
) -> CompletionStream:
    """POST a streamed chat completion and read it to its end; `on_first_text` runs at the first text."""
    body = {"model": model, "messages": [{"role": "user", "content": prompt}], "stream": True}
    async with http.stream("POST", "/v1/chat/completions", json=body, headers=user.headers) as response:
        answer = CompletionStream(
            status=response.status_code, key_source=response.headers.get("x-switchyard-key-source", "")
        )
        if response.status_code != 200:
            answer.body = (await response.aread()).decode(errors="replace")
            return answer
        parts: list[str] = []
        async for line in response.aiter_lines():
            data = line.removeprefix("data: ")
            if data == line:
                continue  # blank separators (and any other SSE field)
            if data == "[DONE]":
                answer.done = True
                continue
            chunk = json.loads(data)
            if "error" in chunk:
                answer.errors.append(chunk["error"])
                continue
            for choice in chunk["choices"]:
                if text := choice["delta"].get("content"):
                    if not parts and on_first_text is not None:
                        on_first_text()
                    parts.append(text)
                answer.finish_reason = choice["finish_reason"] or answer.finish_reason
        answer.text = "".join(parts)
    return answer
