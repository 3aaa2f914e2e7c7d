"""Reads measure.py's runs.json and prints chat-api's targets as ratios against the peer
gateways measured in the same run (issue 4's benchmark targets)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

Summary = dict[tuple[str, int, str], dict[str, Any]]


def load(path: Path) -> tuple[Summary, str]:
    data = json.loads(path.read_text())
    summary = {(s["mode"], s["conc"], s["target"]): s for s in data["summary"]}
    return summary, str(data["meta"]["baseline"])


def delta(summary: Summary, mode: str, conc: int, target: str, baseline: str, metric: str) -> float | None:
    ours, base = summary.get((mode, conc, target)), summary.get((mode, conc, baseline))
    if not ours or not base or ours.get(metric) is None or base.get(metric) is None:
        return None
    return float(ours[metric]) - float(base[metric])


def metric(summary: Summary, mode: str, conc: int, target: str, name: str) -> float | None:
    row = summary.get((mode, conc, target))
    return None if row is None or row.get(name) is None else float(row[name])


def shown(value: float | None, spec: str) -> str:
    """A measured value, or "-" for a cell this run did not measure (e.g. CONC=1 alone)."""
    return "-" if value is None else format(value, spec)


def ratio(ours: float | None, peer: float | None) -> str:
    if ours is None or peer is None or peer == 0:
        return "-"
    return f"{ours / peer:.2f}"


def checks(summary: Summary, baseline: str, ours: str) -> list[tuple[str, str, str, str]]:
    """(what, ours, peer, ratio and goal) rows."""
    rows = []
    for conc in (1, 8, 32):
        cpu, peer = (
            metric(summary, "nonstream", conc, t, "server_cpu_ms_per_req") for t in (ours, "portkey")
        )
        rows.append(
            (
                f"CPU ms/request, non-stream c={conc}",
                shown(cpu, ".2f"),
                f"portkey {shown(peer, '.2f')}",
                f"{ratio(cpu, peer)} (goal ≤ 1)",
            )
        )
    added, peer = (delta(summary, "nonstream", 1, t, baseline, "p50_ms") for t in (ours, "portkey"))
    rows.append(
        (
            "added p50 ms, non-stream c=1",
            shown(added, "+.2f"),
            f"portkey {shown(peer, '+.2f')}",
            f"{ratio(added, peer)} (goal ≤ 1)",
        )
    )
    ttfb = delta(summary, "stream", 1, ours, baseline, "ttfb_p50_ms")
    for peer_name, goal in (("portkey", 0.25), ("litellm", 0.5)):
        peer = delta(summary, "stream", 1, peer_name, baseline, "ttfb_p50_ms")
        rows.append(
            (
                "added TTFB p50 ms, stream c=1",
                shown(ttfb, "+.2f"),
                f"{peer_name} {shown(peer, '+.2f')}",
                f"{ratio(ttfb, peer)} (goal ≤ {goal})",
            )
        )
    rps, peer = (metric(summary, "nonstream", 32, t, "rps") for t in (ours, "portkey"))
    rows.append(
        (
            "req/s, non-stream c=32",
            shown(rps, ".0f"),
            f"portkey {shown(peer, '.0f')}",
            f"{ratio(rps, peer)} (goal ≥ 1)",
        )
    )
    return rows


def main() -> int:
    path = Path(sys.argv[1])
    targets = sys.argv[2:] or ["switchyard"]
    summary, baseline = load(path)
    for ours in targets:
        print(f"\n#### {ours} vs the peers measured in the same run ({path})\n")
        print("| measure | ours | peer | ratio (goal) |\n|---|---|---|---|")
        for row in checks(summary, baseline, ours):
            print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
