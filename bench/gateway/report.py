"""The gateway benchmark's table: per (mode, concurrency, target), the median over reps of every
metric, and each target's difference from the baseline target measured in the same cells."""

from __future__ import annotations

import statistics
from typing import Any

from gateway.loads import Run

__all__ = ["METRICS", "Summary", "summarize", "table"]

METRICS = (
    "rps",
    "p50_ms",
    "p99_ms",
    "ttfb_p50_ms",
    "ttfb_p99_ms",
    "server_cpu_ms_per_req",
    "server_cpu_util",
    "loadgen_cpu_util",
    "errors",
)
Cell = tuple[str, int, str]  # (mode, concurrency, target)
Summary = dict[Cell, dict[str, Any]]


def _median(values: list[Any]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def summarize(runs: list[Run], cells: list[Cell]) -> Summary:
    summary: Summary = {}
    for cell in cells:
        mine = [run for run in runs if (run["mode"], run["conc"], run["target"]) == cell]
        row: dict[str, Any] = {metric: _median([run.get(metric) for run in mine]) for metric in METRICS}
        row.update(n=len(mine), errors_total=sum(run.get("errors") or 0 for run in mine))
        summary[cell] = row
    return summary


def _number(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _row(ours: dict[str, Any], base: dict[str, Any], is_base: bool, stream: bool) -> list[str]:
    def diff(metric: str) -> str:
        if is_base or ours[metric] is None or base[metric] is None:
            return "-"
        return f"{ours[metric] - base[metric]:+.2f}"

    ratio = "-" if is_base or not base["rps"] or ours["rps"] is None else f"{ours['rps'] / base['rps']:.3f}"
    row = [_number(ours["rps"], 0), ratio, _number(ours["p50_ms"], 3), _number(ours["p99_ms"], 3)]
    row += [diff("p50_ms"), diff("p99_ms")]
    if stream:
        row += [_number(ours["ttfb_p50_ms"], 3), _number(ours["ttfb_p99_ms"], 3)]
        row += [diff("ttfb_p50_ms"), diff("ttfb_p99_ms")]
    return [*row, _number(ours["server_cpu_ms_per_req"], 3), _number(ours["server_cpu_util"])]


def _header(stream: bool) -> list[str]:
    header = ["target", "conc", "req/s", "rps ratio", "p50 ms", "p99 ms", "Δp50 ms", "Δp99 ms"]
    if stream:
        header += ["TTFB p50", "TTFB p99", "ΔTTFB p50", "ΔTTFB p99"]
    return [*header, "srv CPU ms/req", "srv CPU util", "errors"]


def table(summary: Summary, names: list[str], concs: list[int], mode: str, baseline: str) -> str:
    """One markdown table for one mode; Δ = target - baseline, rps ratio = target ÷ baseline."""
    stream = mode == "stream"
    reps = max((summary[mode, conc, name]["n"] for conc in concs for name in names), default=0)
    header = _header(stream)
    lines = [
        f"\n### {'Streaming (SSE)' if stream else 'Non-streaming'} — medians of {reps} runs; "
        f"overhead = target - {baseline}\n",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for conc in concs:
        base = summary[mode, conc, baseline]
        for name in names:
            ours = summary[mode, conc, name]
            cells = [name, str(conc), *_row(ours, base, name == baseline, stream), str(ours["errors_total"])]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
