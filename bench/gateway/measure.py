"""Runs the same closed-loop load against several OpenAI-compatible gateways, interleaved and
repeated, and reports medians and each one's overhead over the first target (the upstream, direct).

    PYTHONPATH=bench python -m gateway.measure \\
        --target 'direct|http://127.0.0.1:18080/v1|any-token' \\
        --target 'litellm|http://127.0.0.1:4000/v1|sk-bench-master-key' \\
        --pid direct=$UPSTREAM_PID --pid litellm=$LITELLM_PID --conc 1,8,32 --out DIR

Every cell (mode, concurrency) runs once per rep for every target, one after the other, in
reversed order on odd reps so that drift on this shared machine hits every target alike. Before
measuring, three requests per target and mode must succeed. Writes DIR/runs.json (every run and
the summary, no tokens) and DIR/results.md (the tables). `bench/gateway/run.sh` drives this.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from gateway.loads import Load, Run, measure, run_sse
from gateway.report import Summary, summarize, table
from gateway.targets import Target, parse_header, parse_target, with_headers

SMOKE_REQUESTS = 3


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def smoke(targets: list[Target], model: str) -> bool:
    """Three requests per target and mode; a target that fails them would only measure errors."""
    ok = True
    for target in targets:
        for mode in ("nonstream", "stream"):
            load = Load(mode, conc=1, duration=5, warmup=0, cpus="", model=model)
            run = run_sse(target, load, max_requests=SMOKE_REQUESTS)
            good = run["errors"] == 0 and run["requests"] == SMOKE_REQUESTS
            ok &= good
            why = f"; {run['first_errors'][0]}" if run.get("first_errors") else ""
            _log(
                f"smoke {target.name:>15} {mode:9}: {'ok' if good else 'FAILED'} ({run['requests']} ok{why})"
            )
    return ok


def _progress(started: float, run: Run) -> str:
    ttfb = f" ttfb50={run['ttfb_p50_ms']}" if run["mode"] == "stream" else ""
    cpu = run.get("server_cpu_ms_per_req")
    return (
        f"[{time.monotonic() - started:5.0f}s] rep{run['rep']} {run['mode']:9} c={run['conc']:<3} "
        f"{run['target']:>15}: {run['rps']:9.1f} req/s p50={run['p50_ms']} p99={run['p99_ms']}{ttfb} "
        f"errors={run['errors']} srvcpu/req={'-' if cpu is None else f'{cpu:.3f}'}"
    )


def run_all(targets: list[Target], loads: list[Load], reps: int, pids: dict[str, int]) -> list[Run]:
    runs: list[Run] = []
    started = time.monotonic()
    for rep in range(reps):
        for load in loads:
            for target in targets if rep % 2 == 0 else reversed(targets):
                run = measure(target, load, pids.get(target.name))
                run.update(target=target.name, mode=load.mode, conc=load.conc, rep=rep)
                runs.append(run)
                _log(_progress(started, run))
    return runs


def write(out: Path, meta: dict[str, object], runs: list[Run], summary: Summary, tables: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rows = [
        {"mode": mode, "conc": conc, "target": name, **row} for (mode, conc, name), row in summary.items()
    ]
    document = {"meta": meta, "runs": runs, "summary": rows}
    (out / "runs.json").write_text(json.dumps(document, indent=1))
    (out / "results.md").write_text(f"# Gateway benchmark {meta['time']}\n{tables}\n")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--target", action="append", type=parse_target, required=True, metavar="N|URL|TOKEN[|M]"
    )
    parser.add_argument("--header", action="append", type=parse_header, default=[], metavar="NAME=KEY:VALUE")
    parser.add_argument(
        "--pid", action="append", default=[], metavar="NAME=PID", help="sample this tree's CPU"
    )
    parser.add_argument("--model", default="fake-model", help="for targets that name none")
    parser.add_argument("--conc", default="1,8,32", help="concurrency levels, comma-separated")
    parser.add_argument("--modes", default="nonstream,stream")
    parser.add_argument("--duration", type=int, default=10, help="measured seconds per run")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured seconds before each run")
    parser.add_argument("--reps", type=int, default=3, help="interleaved rounds; tables show medians")
    parser.add_argument("--loadgen-cpus", default="", help="taskset CPU list for the load generator")
    parser.add_argument("--out", type=Path, required=True)
    return parser


def main() -> int:
    args = _parser().parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: run `make bench-setup`")
    targets = with_headers(args.target, args.header)
    pids = {name: int(pid) for name, _, pid in (text.partition("=") for text in args.pid)}
    concs, modes = [int(c) for c in args.conc.split(",")], [m for m in args.modes.split(",") if m]
    loads = [
        Load(m, c, args.duration, args.warmup, args.loadgen_cpus, args.model) for m in modes for c in concs
    ]
    if not smoke(targets, args.model):
        raise SystemExit("smoke test failed; not measuring")
    runs = run_all(targets, loads, args.reps, pids)
    names, baseline = [t.name for t in targets], targets[0].name
    summary = summarize(runs, [(m, c, name) for m in modes for c in concs for name in names])
    tables = "\n".join(table(summary, names, concs, mode, baseline) for mode in modes)
    meta: dict[str, object] = {
        **{k: getattr(args, k) for k in ("conc", "modes", "duration", "warmup", "reps", "loadgen_cpus")},
        "targets": [t.public() for t in targets],
        "baseline": baseline,
        "nproc": os.cpu_count(),
        "loadavg_end": os.getloadavg(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    write(args.out, meta, runs, summary, tables)
    print(tables)
    _log(f"\nevery run: {args.out / 'runs.json'}; tables: {args.out / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
