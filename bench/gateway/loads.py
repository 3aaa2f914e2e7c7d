"""One measured run against one target: wrk for JSON replies, loadgen/sse_load.py for streams,
and the CPU the target's process tree spent meanwhile."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.targets import Target
from procstats import tree_cpu_seconds

__all__ = ["Load", "Run", "measure", "run_sse"]

HERE = Path(__file__).resolve().parent
WRK_SCRIPT = HERE / "loadgen" / "post.lua"
SSE_LOAD = HERE / "loadgen" / "sse_load.py"
# Room beyond a run's own length before a load generator counts as hung.
GRACE_SECONDS = 60

Run = dict[str, Any]


@dataclass(frozen=True)
class Load:
    mode: str  # "nonstream" or "stream"
    conc: int
    duration: int
    warmup: int
    cpus: str  # taskset CPU list for the load generator; "" = unpinned
    model: str  # for targets that name none

    @property
    def stream(self) -> bool:
        return self.mode == "stream"

    def pin(self) -> list[str]:
        return ["taskset", "-c", self.cpus] if self.cpus else []

    def threads(self) -> int:
        """wrk threads: one per load-generator CPU, at most one per connection."""
        count = sum(_cpu_count(part) for part in self.cpus.split(",") if part)
        return max(1, min(self.conc, count or os.cpu_count() or 1))


def _cpu_count(part: str) -> int:
    first, _, last = part.partition("-")
    return int(last) - int(first) + 1 if last else 1


def _env(target: Target, load: Load) -> dict[str, str]:
    # The token and headers go through the environment, so runs.json's command lines never show them.
    return {
        **os.environ,
        "BENCH_TOKEN": target.token,
        "BENCH_MODEL": target.model or load.model,
        "BENCH_STREAM": "1" if load.stream else "0",
        "BENCH_HEADERS": target.headers_env(),
    }


def _wrk(target: Target, load: Load, seconds: int, latency: bool) -> subprocess.CompletedProcess[str]:
    argv = [*load.pin(), "wrk", f"-t{load.threads()}", f"-c{load.conc}", f"-d{seconds}s", "--timeout", "30s"]
    argv += [*(["--latency"] if latency else []), "-s", str(WRK_SCRIPT), target.url]
    return subprocess.run(
        argv, env=_env(target, load), capture_output=True, text=True, timeout=seconds + GRACE_SECONDS
    )


def run_wrk(target: Target, load: Load) -> Run:
    if load.warmup > 0:  # on connections of its own, unmeasured
        _wrk(target, load, load.warmup, latency=False)
    done = _wrk(target, load, load.duration, latency=True)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed: {done.stdout}\n{done.stderr}")
    return {"tool": "wrk", **json.loads(line.removeprefix("WRK_JSON ")), "cmd": " ".join(done.args)}


def run_sse(target: Target, load: Load, max_requests: int | None = None) -> Run:
    argv = [*load.pin(), sys.executable, str(SSE_LOAD), "--url", target.url, "-c", str(load.conc)]
    argv += ["--model", target.model or load.model, "-d", str(load.duration), "--warmup", str(load.warmup)]
    argv += ["--stream"] if load.stream else []
    argv += ["--max-requests", str(max_requests)] if max_requests else []
    done = subprocess.run(
        argv,
        env=_env(target, load),
        capture_output=True,
        text=True,
        timeout=load.duration + load.warmup + GRACE_SECONDS,
    )
    try:
        result: Run = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise RuntimeError(f"sse_load failed: {done.stdout}\n{done.stderr}") from None
    totals = {f"p{p}_ms": result[f"total_p{p}_ms"] for p in (50, 90, 99)}
    return {"tool": "sse_load", **result, **totals, "cmd": " ".join(argv)}


def measure(target: Target, load: Load, pid: int | None) -> Run:
    """Streams through sse_load.py, JSON through wrk; with `pid`, the CPU its tree spent per request."""
    before, loadgen_before = (tree_cpu_seconds(pid) if pid else None), os.times()
    run = run_sse(target, load) if load.stream else run_wrk(target, load)
    after, loadgen_after = (tree_cpu_seconds(pid) if pid else None), os.times()
    seconds = load.duration + load.warmup
    if before is not None and after is not None and run["requests"]:
        # The CPU window includes the warm-up, so count its requests at the measured rate.
        run["server_cpu_ms_per_req"] = (after - before) * 1000 / (run["requests"] * seconds / load.duration)
        run["server_cpu_util"] = (after - before) / seconds
    loadgen = (loadgen_after.children_user + loadgen_after.children_system) - (
        loadgen_before.children_user + loadgen_before.children_system
    )
    run["loadgen_cpu_util"] = loadgen / seconds
    return run
